/* strategies/: private to strat_*.c. Checks shared by the indicator files. */
#ifndef TK_STRATEGIES_STRAT_INTERNAL_H
#define TK_STRATEGIES_STRAT_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "strat.h"

/* True when an indicator accepts period: 1 to STRAT_PERIOD_MAX. */
static inline bool strat__period_is_valid(uint32_t period)
{
    return period >= 1u && period <= STRAT_PERIOD_MAX;
}

/* Crash on a bar the ledger would have refused (strat.h, "Units"): a bug upstream. */
static inline void strat__assert_bar(double high, double low, double close)
{
    TK_ASSERT(isfinite(high));
    TK_ASSERT(isfinite(low));
    TK_ASSERT(isfinite(close));
    TK_ASSERT(low <= high);
    TK_ASSERT(low <= close);
    TK_ASSERT(close <= high);
}

/* ---- The long-only trader the built-in strategies share (strat_long.c) --------------------- */

typedef enum strat__phase {
    STRAT__FLAT,     /* no position, no entry in flight */
    STRAT__ENTERING, /* entry requested */
    STRAT__LONG,     /* holding, with its stop (pending, resting or being replaced) */
    STRAT__EXITING,  /* exit requested */
} strat__phase;

/* What a strategy's indicators say at a bar's close. */
typedef enum strat__signal { STRAT__NONE, STRAT__ENTER, STRAT__EXIT } strat__signal;

typedef struct strat__long {
    strat_trade_params p;
    strat_instrument ins;
    strat_atr atr;
    strat__phase phase;
    int64_t qty_e8;       /* the position this strategy holds */
    uint64_t entry_order; /* ledger indices of its live orders; 0: none */
    uint64_t stop_order;
    uint64_t exit_order;
    int64_t stop_e8;      /* the resting (or requested) stop's price */
    int64_t next_stop_e8; /* the trailing stop to place once the cancel is confirmed */
    bool stop_pending;    /* requested, acceptance not yet published */
    bool stop_cancelling; /* cancel requested, not yet confirmed */
    bool exit_on_cancel;  /* the cancel is for an exit: sell once it is confirmed */
} strat__long;

/* Errors: TK_EINVAL (bad parameters or instrument). */
tk_err strat__long_init(strat__long *l, const strat_trade_params *p, const strat_instrument *ins);

/* Feed the bar to the trader's ATR, every bar; returns whether the ATR is ready. */
bool strat__long_atr(strat__long *l, const strat_bar *bar);

/* Decide at the bar's close, once the strategy's indicators and the ATR are ready: enter on
 * STRAT__ENTER when flat; exit on STRAT__EXIT when long, else trail the stop. */
void strat__long_decide(strat__long *l, const strat_bar *bar, int64_t equity_e8,
                        strat__signal signal, strat_out *out);

/* The strat_engine callbacks for the trader's orders, for engines whose state begins with
 * their strat__long. */
void strat__long_on_accepted(void *state, uint32_t tag, uint64_t order_index, strat_out *out);
void strat__long_on_rejected(void *state, uint32_t tag, strat_out *out);
void strat__long_on_fill(void *state, uint64_t order_index, int64_t qty_e8, int64_t price_e8,
                         bool done, strat_out *out);
void strat__long_on_cancelled(void *state, uint64_t order_index, strat_out *out);

#endif /* TK_STRATEGIES_STRAT_INTERNAL_H */
