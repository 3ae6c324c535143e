/* ema_cross: a long-only fast/slow EMA crossover with an ATR stop and an ATR trailing stop,
 * sized by fixed fractional risk (docs/strategies.md, "ema_cross", states it exactly; the
 * python3 re-implementation in tests/reference/ema_cross.py must agree to 1e-8). */
#include <math.h>
#include <string.h>

#include "strat.h"

enum { TAG_ENTRY = 1, TAG_STOP = 2, TAG_EXIT = 3 };

typedef enum phase { FLAT, ENTERING, LONG, EXITING } phase;

typedef struct ema_cross {
    strat_ema_cross_params p;
    strat_instrument ins;
    strat_ema fast, slow;
    strat_atr atr;
    bool have_prev; /* prev_* hold the last bar's EMAs */
    double prev_fast, prev_slow;
    phase phase;
    int64_t qty_e8;       /* the position this strategy holds */
    uint64_t entry_order; /* ledger indices of its live orders; 0: none */
    uint64_t stop_order;
    uint64_t exit_order;
    int64_t stop_e8;      /* the resting (or requested) stop's price */
    int64_t next_stop_e8; /* the trailing stop to place once the cancel is confirmed */
    bool stop_pending;    /* requested, acceptance not yet published */
    bool stop_cancelling; /* cancel requested, not yet confirmed */
    bool exit_on_cancel;  /* the cancel is for an exit: sell once it is confirmed */
} ema_cross;

void strat_ema_cross_defaults(strat_ema_cross_params *out)
{
    TK_ASSERT(out != NULL);
    *out = (strat_ema_cross_params){.fast = 12,
                                    .slow = 26,
                                    .atr_period = 14,
                                    .stop_atr = 2.0,
                                    .trail_atr = 3.0,
                                    .risk_bps = 100,
                                    .max_position_bps = 5000};
}

tk_err strat_ema_cross_check(const strat_ema_cross_params *p, const char **why)
{
    TK_ASSERT(p != NULL && why != NULL);
    *why = NULL;
    if (p->fast < 1 || p->fast > STRAT_PERIOD_MAX) *why = "fast: 1 to STRAT_PERIOD_MAX";
    if (p->slow <= p->fast || p->slow > STRAT_PERIOD_MAX) *why = "slow: above fast";
    if (p->atr_period < 1 || p->atr_period > STRAT_PERIOD_MAX) *why = "atr_period: 1 or more";
    if (!(p->stop_atr > 0.0 && p->stop_atr <= 100.0)) *why = "stop_atr: above 0, at most 100";
    if (!(p->trail_atr > 0.0 && p->trail_atr <= 100.0)) *why = "trail_atr: above 0, at most 100";
    if (p->risk_bps < 1 || p->risk_bps > 10000) *why = "risk_bps: 1 to 10000";
    if (p->max_position_bps < 1 || p->max_position_bps > 10000)
        *why = "max_position_bps: 1 to 10000";
    return *why == NULL ? TK_OK : TK_EINVAL;
}

static tk_err ec_init(void *state, const void *params, const strat_instrument *ins)
{
    ema_cross *s = state;
    const char *why = NULL;
    s->p = *(const strat_ema_cross_params *)params;
    s->ins = *ins;
    if (strat_ema_cross_check(&s->p, &why) != TK_OK) return TK_EINVAL;
    if (ins->tick_e8 <= 0 || ins->lot_e8 <= 0) return TK_EINVAL;
    tk_err err = strat_ema_init(&s->fast, s->p.fast);
    if (err == TK_OK) err = strat_ema_init(&s->slow, s->p.slow);
    if (err == TK_OK) err = strat_atr_init(&s->atr, s->p.atr_period);
    s->phase = FLAT;
    return err;
}

static void emit(strat_out *out, strat_intent intent)
{
    TK_ASSERT(out->count < STRAT_INTENTS_MAX);
    out->items[out->count++] = intent;
}

/* floor(mult * atr) in price units, the stop distance; 0 when it does not fit. */
static int64_t atr_distance(double mult, double atr)
{
    double d = floor(mult * atr);
    return d > 0.0 && d < 9.0e18 ? (int64_t)d : 0;
}

/* price rounded down to the tick; 0 when not positive. */
static int64_t to_tick(const ema_cross *s, int64_t price_e8)
{
    int64_t out = 0;
    if (price_e8 <= 0 || led_round_to_step(price_e8, s->ins.tick_e8, LED_ROUND_DOWN, &out) != TK_OK)
        return 0;
    return out;
}

/* Fixed fractional sizing: risk_bps of equity lost at the stop distance, capped at
 * max_position_bps of equity in notional at the close, rounded down to the lot; 0: skip. */
static int64_t entry_size(const ema_cross *s, int64_t equity_e8, int64_t close_e8, double atr)
{
    int64_t d = atr_distance(s->p.stop_atr, atr);
    if (d <= 0 || equity_e8 <= 0) return 0;
    int64_t risk, qty, cap, qty_cap, lots;
    if (led_mul_div(equity_e8, s->p.risk_bps, 10000, LED_ROUND_DOWN, &risk) != TK_OK ||
        led_mul_div(risk, LED_SCALE, d, LED_ROUND_DOWN, &qty) != TK_OK ||
        led_mul_div(equity_e8, s->p.max_position_bps, 10000, LED_ROUND_DOWN, &cap) != TK_OK ||
        led_mul_div(cap, LED_SCALE, close_e8, LED_ROUND_DOWN, &qty_cap) != TK_OK)
        return 0;
    if (qty_cap < qty) qty = qty_cap;
    if (led_round_to_step(qty, s->ins.lot_e8, LED_ROUND_DOWN, &lots) != TK_OK) return 0;
    return lots > 0 ? lots : 0;
}

static void place_stop(ema_cross *s, int64_t price_e8, strat_out *out)
{
    s->stop_e8 = price_e8;
    s->stop_pending = true;
    emit(out,
         (strat_intent){
             .kind = STRAT_SELL_STOP, .tag = TAG_STOP, .qty_e8 = s->qty_e8, .price_e8 = price_e8});
}

static void cancel_stop(ema_cross *s, strat_out *out)
{
    s->stop_cancelling = true;
    emit(out, (strat_intent){.kind = STRAT_CANCEL, .order_index = s->stop_order});
}

static void sell_all(ema_cross *s, strat_out *out)
{
    s->phase = EXITING;
    emit(out, (strat_intent){.kind = STRAT_SELL_MARKET, .tag = TAG_EXIT, .qty_e8 = s->qty_e8});
}

/* LONG at a bar's close: exit on a cross down, else trail the stop. */
static void long_bar(ema_cross *s, const strat_bar *bar, bool cross_down, double atr,
                     strat_out *out)
{
    if (s->stop_pending || s->stop_cancelling) return; /* a stop change is in flight */
    if (cross_down) {
        if (s->stop_order == 0) {
            sell_all(s, out); /* no stop rests: sell now */
            return;
        }
        s->exit_on_cancel = true; /* the stop holds the quantity: free it first */
        cancel_stop(s, out);
        return;
    }
    if (s->stop_order == 0) return;
    int64_t next = to_tick(s, bar->close_e8 - atr_distance(s->p.trail_atr, atr));
    if (next <= s->stop_e8) return;
    s->next_stop_e8 = next;
    cancel_stop(s, out);
}

static void ec_on_bar(void *state, const strat_bar *bar, int64_t equity_e8, strat_out *out)
{
    ema_cross *s = state;
    double close = (double)bar->close_e8;
    bool fast_ready = strat_ema_update(&s->fast, close);
    bool slow_ready = strat_ema_update(&s->slow, close);
    bool atr_ready = strat_atr_update(&s->atr, (double)bar->high_e8, (double)bar->low_e8, close);
    if (!fast_ready || !slow_ready) return;
    double fast = s->fast.value;
    double slow = s->slow.value;
    bool cross_up = s->have_prev && s->prev_fast <= s->prev_slow && fast > slow;
    bool cross_down = s->have_prev && s->prev_fast >= s->prev_slow && fast < slow;
    s->prev_fast = fast;
    s->prev_slow = slow;
    s->have_prev = true;
    if (!atr_ready) return;
    if (s->phase == FLAT && cross_up) {
        int64_t qty = entry_size(s, equity_e8, bar->close_e8, s->atr.value);
        if (qty == 0) return;
        s->phase = ENTERING;
        emit(out, (strat_intent){.kind = STRAT_BUY_MARKET, .tag = TAG_ENTRY, .qty_e8 = qty});
        return;
    }
    if (s->phase == LONG) long_bar(s, bar, cross_down, s->atr.value, out);
}

static void ec_on_accepted(void *state, uint32_t tag, uint64_t order_index, strat_out *out)
{
    (void)out;
    ema_cross *s = state;
    TK_ASSERT(order_index > 0);
    if (tag == TAG_ENTRY) s->entry_order = order_index;
    if (tag == TAG_EXIT) s->exit_order = order_index;
    if (tag == TAG_STOP) {
        s->stop_order = order_index;
        s->stop_pending = false;
    }
}

/* The gate refused: an entry leaves the strategy flat, a stop leaves the position without one
 * (the next cross down sells it), an exit leaves it long to try again at the next cross. */
static void ec_on_rejected(void *state, uint32_t tag, strat_out *out)
{
    (void)out;
    ema_cross *s = state;
    if (tag == TAG_ENTRY) s->phase = FLAT;
    if (tag == TAG_STOP) s->stop_pending = false;
    if (tag == TAG_EXIT) s->phase = LONG;
}

static void flat(ema_cross *s)
{
    s->phase = FLAT;
    s->qty_e8 = 0;
    s->entry_order = s->stop_order = s->exit_order = 0;
    s->stop_pending = s->stop_cancelling = s->exit_on_cancel = false;
}

static void ec_on_fill(void *state, uint64_t order_index, int64_t qty_e8, int64_t price_e8,
                       bool done, strat_out *out)
{
    ema_cross *s = state;
    if (order_index == s->entry_order && s->phase == ENTERING) {
        s->qty_e8 += qty_e8;
        if (!done) return;
        s->phase = LONG;
        s->entry_order = 0;
        int64_t stop = to_tick(s, price_e8 - atr_distance(s->p.stop_atr, s->atr.value));
        if (stop > 0) place_stop(s, stop, out); /* none when the stop would be at or below 0 */
        return;
    }
    bool stop = order_index == s->stop_order && order_index != 0;
    bool exit = order_index == s->exit_order && order_index != 0;
    if (!stop && !exit) return; /* not this strategy's */
    s->qty_e8 -= qty_e8;
    if (done || s->qty_e8 <= 0) flat(s);
}

static void ec_on_cancelled(void *state, uint64_t order_index, strat_out *out)
{
    ema_cross *s = state;
    if (order_index != s->stop_order || order_index == 0) return;
    s->stop_order = 0;
    s->stop_cancelling = false;
    if (s->exit_on_cancel) {
        s->exit_on_cancel = false;
        sell_all(s, out);
        return;
    }
    place_stop(s, s->next_stop_e8, out);
}

const strat_engine strat_ema_cross = {
    .name = "ema_cross",
    .state_size = sizeof(ema_cross),
    .init = ec_init,
    .on_bar = ec_on_bar,
    .on_accepted = ec_on_accepted,
    .on_rejected = ec_on_rejected,
    .on_fill = ec_on_fill,
    .on_cancelled = ec_on_cancelled,
};
