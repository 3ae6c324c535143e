/* The long-only trader the built-in strategies share (docs/strategies.md, "ema_cross" states
 * it exactly): fixed fractional sizing at an ATR stop distance, a stop order placed on the
 * entry's fill, an ATR trailing stop, and exits that cancel the stop before selling (the stop
 * holds the quantity). Each strategy supplies its signals; this file runs the orders. */
#include <math.h>
#include <string.h>

#include "strat_internal.h"

enum { TAG_ENTRY = 1, TAG_STOP = 2, TAG_EXIT = 3 };

void strat_trade_defaults(strat_trade_params *out)
{
    TK_ASSERT(out != NULL);
    *out = (strat_trade_params){.atr_period = 14,
                                .stop_atr = 2.0,
                                .trail_atr = 3.0,
                                .risk_bps = 100,
                                .max_position_bps = 5000};
}

tk_err strat_trade_check(const strat_trade_params *p, const char **why)
{
    TK_ASSERT(p != NULL && why != NULL);
    *why = NULL;
    if (!strat__period_is_valid(p->atr_period)) *why = "atr_period: 1 to STRAT_PERIOD_MAX";
    if (!(p->stop_atr > 0.0 && p->stop_atr <= 100.0)) *why = "stop_atr: above 0, at most 100";
    if (!(p->trail_atr >= 0.0 && p->trail_atr <= 100.0)) *why = "trail_atr: 0 (off) to 100";
    if (p->risk_bps < 1 || p->risk_bps > 10000) *why = "risk_bps: 1 to 10000";
    if (p->max_position_bps < 1 || p->max_position_bps > 10000)
        *why = "max_position_bps: 1 to 10000";
    return *why == NULL ? TK_OK : TK_EINVAL;
}

tk_err strat__long_init(strat__long *l, const strat_trade_params *p, const strat_instrument *ins)
{
    TK_ASSERT(l != NULL && p != NULL && ins != NULL);
    const char *why = NULL;
    memset(l, 0, sizeof(*l));
    l->p = *p;
    l->ins = *ins;
    if (strat_trade_check(p, &why) != TK_OK) return TK_EINVAL;
    if (ins->tick_e8 <= 0 || ins->lot_e8 <= 0) return TK_EINVAL;
    l->phase = STRAT__FLAT;
    return strat_atr_init(&l->atr, p->atr_period);
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
static int64_t to_tick(const strat__long *l, int64_t price_e8)
{
    int64_t out = 0;
    if (price_e8 <= 0 || led_round_to_step(price_e8, l->ins.tick_e8, LED_ROUND_DOWN, &out) != TK_OK)
        return 0;
    return out;
}

/* Fixed fractional sizing: risk_bps of equity lost at the stop distance, capped at
 * max_position_bps of equity in notional at the close, rounded down to the lot; 0: skip. */
static int64_t entry_size(const strat__long *l, int64_t equity_e8, int64_t close_e8, double atr)
{
    int64_t d = atr_distance(l->p.stop_atr, atr);
    if (d <= 0 || equity_e8 <= 0) return 0;
    int64_t risk, qty, cap, qty_cap, lots;
    if (led_mul_div(equity_e8, l->p.risk_bps, 10000, LED_ROUND_DOWN, &risk) != TK_OK ||
        led_mul_div(risk, LED_SCALE, d, LED_ROUND_DOWN, &qty) != TK_OK ||
        led_mul_div(equity_e8, l->p.max_position_bps, 10000, LED_ROUND_DOWN, &cap) != TK_OK ||
        led_mul_div(cap, LED_SCALE, close_e8, LED_ROUND_DOWN, &qty_cap) != TK_OK)
        return 0;
    if (qty_cap < qty) qty = qty_cap;
    if (led_round_to_step(qty, l->ins.lot_e8, LED_ROUND_DOWN, &lots) != TK_OK) return 0;
    return lots > 0 ? lots : 0;
}

static void place_stop(strat__long *l, int64_t price_e8, strat_out *out)
{
    l->stop_e8 = price_e8;
    l->stop_pending = true;
    emit(out,
         (strat_intent){
             .kind = STRAT_SELL_STOP, .tag = TAG_STOP, .qty_e8 = l->qty_e8, .price_e8 = price_e8});
}

static void cancel_stop(strat__long *l, strat_out *out)
{
    l->stop_cancelling = true;
    emit(out, (strat_intent){.kind = STRAT_CANCEL, .order_index = l->stop_order});
}

static void sell_all(strat__long *l, strat_out *out)
{
    l->phase = STRAT__EXITING;
    emit(out, (strat_intent){.kind = STRAT_SELL_MARKET, .tag = TAG_EXIT, .qty_e8 = l->qty_e8});
}

/* LONG at a bar's close: exit on the signal, else trail the stop. */
static void long_bar(strat__long *l, const strat_bar *bar, bool exit, strat_out *out)
{
    if (l->stop_pending || l->stop_cancelling) return; /* a stop change is in flight */
    if (exit) {
        if (l->stop_order == 0) {
            sell_all(l, out); /* no stop rests: sell now */
            return;
        }
        l->exit_on_cancel = true; /* the stop holds the quantity: free it first */
        cancel_stop(l, out);
        return;
    }
    if (l->stop_order == 0 || l->p.trail_atr <= 0.0) return;
    int64_t next = to_tick(l, bar->close_e8 - atr_distance(l->p.trail_atr, l->atr.value));
    if (next <= l->stop_e8) return;
    l->next_stop_e8 = next;
    cancel_stop(l, out);
}

bool strat__long_atr(strat__long *l, const strat_bar *bar)
{
    TK_ASSERT(l != NULL && bar != NULL);
    return strat_atr_update(&l->atr, (double)bar->high_e8, (double)bar->low_e8,
                            (double)bar->close_e8);
}

void strat__long_decide(strat__long *l, const strat_bar *bar, int64_t equity_e8,
                        strat__signal signal, strat_out *out)
{
    TK_ASSERT(l != NULL && bar != NULL && out != NULL);
    if (l->phase == STRAT__FLAT && signal == STRAT__ENTER) {
        int64_t qty = entry_size(l, equity_e8, bar->close_e8, l->atr.value);
        if (qty == 0) return;
        l->phase = STRAT__ENTERING;
        emit(out, (strat_intent){.kind = STRAT_BUY_MARKET, .tag = TAG_ENTRY, .qty_e8 = qty});
        return;
    }
    if (l->phase == STRAT__LONG) long_bar(l, bar, signal == STRAT__EXIT, out);
}

void strat__long_on_accepted(void *state, uint32_t tag, uint64_t order_index, strat_out *out)
{
    (void)out;
    strat__long *l = state;
    TK_ASSERT(l != NULL && order_index > 0);
    if (tag == TAG_ENTRY) l->entry_order = order_index;
    if (tag == TAG_EXIT) l->exit_order = order_index;
    if (tag == TAG_STOP) {
        l->stop_order = order_index;
        l->stop_pending = false;
    }
}

/* The gate refused: an entry leaves the strategy flat, a stop leaves the position without one
 * (the next exit signal sells it), an exit leaves it long to try again at the next signal. */
void strat__long_on_rejected(void *state, uint32_t tag, strat_out *out)
{
    (void)out;
    strat__long *l = state;
    TK_ASSERT(l != NULL);
    if (tag == TAG_ENTRY) l->phase = STRAT__FLAT;
    if (tag == TAG_STOP) l->stop_pending = false;
    if (tag == TAG_EXIT) l->phase = STRAT__LONG;
}

static void flat(strat__long *l)
{
    l->phase = STRAT__FLAT;
    l->qty_e8 = 0;
    l->entry_order = l->stop_order = l->exit_order = 0;
    l->stop_pending = l->stop_cancelling = l->exit_on_cancel = false;
}

void strat__long_on_fill(void *state, uint64_t order_index, int64_t qty_e8, int64_t price_e8,
                         bool done, strat_out *out)
{
    strat__long *l = state;
    TK_ASSERT(l != NULL && out != NULL);
    if (order_index == l->entry_order && l->phase == STRAT__ENTERING) {
        l->qty_e8 += qty_e8;
        if (!done) return;
        l->phase = STRAT__LONG;
        l->entry_order = 0;
        int64_t stop = to_tick(l, price_e8 - atr_distance(l->p.stop_atr, l->atr.value));
        if (stop > 0) place_stop(l, stop, out); /* none when the stop would be at or below 0 */
        return;
    }
    bool stop = order_index == l->stop_order && order_index != 0;
    bool exit = order_index == l->exit_order && order_index != 0;
    if (!stop && !exit) return; /* not this strategy's */
    l->qty_e8 -= qty_e8;
    if (done || l->qty_e8 <= 0) flat(l);
}

void strat__long_on_cancelled(void *state, uint64_t order_index, strat_out *out)
{
    strat__long *l = state;
    TK_ASSERT(l != NULL && out != NULL);
    if (order_index != l->stop_order || order_index == 0) return;
    l->stop_order = 0;
    l->stop_cancelling = false;
    if (l->exit_on_cancel) {
        l->exit_on_cancel = false;
        sell_all(l, out);
        return;
    }
    place_stop(l, l->next_stop_e8, out);
}
