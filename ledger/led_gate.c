/* The pre-trade risk gate: run by led_apply on every OrderRequested, so that every replica and
 * every replay decides alike (DESIGN.md, "One bar, one order", step 4). Rules run in the order
 * of LED_RULE_LIST; the first that fails rejects the order with its stable id and a detail.
 * docs/ledger.md states each rule. Reads the state only. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "led_internal.h"

static led_rule fail(char detail[LED_TEXT_BYTES], led_rule rule, const char *fmt, ...)
    TK_PRINTF_LIKE(3, 4);

static led_rule fail(char detail[LED_TEXT_BYTES], led_rule rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, LED_TEXT_BYTES, fmt, ap);
    va_end(ap);
    return rule;
}

static int64_t abs64(int64_t v)
{
    TK_ASSERT(v != INT64_MIN);
    return v < 0 ? -v : v;
}

/* A decimal for a detail: each call formats into its own slot of a small ring. */
typedef struct decimals {
    char text[4][LED_DECIMAL_BYTES_MAX];
    unsigned next;
} decimals;

static const char *dec(decimals *d, int64_t value_e8)
{
    char *slot = d->text[d->next++ % 4u];
    (void)led_format(value_e8, slot, LED_DECIMAL_BYTES_MAX);
    return slot;
}

/* The order as the gate values it. */
typedef struct gate_order {
    const struct led_ev_order_requested *e;
    const led_instrument *ins;
    int64_t ref_price; /* limit or stop price, or the mark for a market order */
    int64_t notional;  /* ref_price * qty, rounded up */
} gate_order;

static led_rule check_static(const led_state *s, const gate_order *g, char *detail)
{
    const struct led_ev_order_requested *e = g->e;
    decimals d = {.next = 0};
    if (g->ins->breaker_tripped)
        return fail(detail, LED_RULE_CIRCUIT_BREAKER, "the circuit breaker of %s is tripped",
                    e->symbol);
    int32_t strat = led__strategy_find(s, e->strategy);
    if (strat >= 0 && !s->strategies[strat].enabled)
        return fail(detail, LED_RULE_STRATEGY_DISABLED, "strategy %s is disabled", e->strategy);
    if (e->kind != LED_ORDER_MARKET && e->price_e8 % g->ins->tick_e8 != 0)
        return fail(detail, LED_RULE_TICK_SIZE, "price %s is not a multiple of the tick %s",
                    dec(&d, e->price_e8), dec(&d, g->ins->tick_e8));
    if (e->qty_e8 % g->ins->lot_e8 != 0)
        return fail(detail, LED_RULE_LOT_STEP, "quantity %s is not a multiple of the lot %s",
                    dec(&d, e->qty_e8), dec(&d, g->ins->lot_e8));
    return LED_RULE_NONE;
}

/* Fat-finger band: a limit order's price may sit at most price_band_bps from the last mark
 * (a market order trades at the mark; a stop's trigger is meant to be away from it). */
static led_rule check_band(const led_state *s, const gate_order *g, char *detail)
{
    const led_instrument *ins = g->ins;
    if (ins->mark_e8 == 0)
        return fail(detail, LED_RULE_PRICE_BAND, "no mark price for %s yet", ins->symbol);
    if (g->e->kind != LED_ORDER_LIMIT) return LED_RULE_NONE;
    int64_t diff = abs64(g->e->price_e8 - ins->mark_e8); /* both in (0, INT64_MAX] */
    int64_t bps;
    if (led_mul_div(diff, 10000, ins->mark_e8, LED_ROUND_UP, &bps) != TK_OK ||
        bps > s->acct.limits.price_band_bps) {
        decimals d = {.next = 0};
        return fail(detail, LED_RULE_PRICE_BAND, "price %s is more than %lld bps from the mark %s",
                    dec(&d, g->e->price_e8), (long long)s->acct.limits.price_band_bps,
                    dec(&d, ins->mark_e8));
    }
    return LED_RULE_NONE;
}

static led_rule check_notional(const led_state *s, const gate_order *g, char *detail)
{
    decimals d = {.next = 0};
    if (g->notional < g->ins->min_notional_e8)
        return fail(detail, LED_RULE_MIN_NOTIONAL, "notional %s is below the minimum %s",
                    dec(&d, g->notional), dec(&d, g->ins->min_notional_e8));
    if (g->notional > s->acct.limits.max_order_notional_e8)
        return fail(detail, LED_RULE_MAX_ORDER_NOTIONAL, "notional %s is above the limit %s",
                    dec(&d, g->notional), dec(&d, s->acct.limits.max_order_notional_e8));
    return LED_RULE_NONE;
}

/* A reduce-only order must shrink the position, counting the open orders on its side. */
static led_rule check_reduce_only(const gate_order *g, char *detail)
{
    if (!g->e->reduce_only) return LED_RULE_NONE;
    const led_instrument *ins = g->ins;
    int64_t pos = ins->position_e8;
    int64_t room; /* what is left to reduce after the open orders of the order's side */
    bool reduces = false;
    if (g->e->side == LED_SIDE_SELL && pos > 0) {
        reduces = led_sub(pos, ins->open_sell_e8, &room) == TK_OK && g->e->qty_e8 <= room;
    }
    if (g->e->side == LED_SIDE_BUY && pos < 0 && pos != INT64_MIN) {
        reduces = led_sub(-pos, ins->open_buy_e8, &room) == TK_OK && g->e->qty_e8 <= room;
    }
    if (reduces) return LED_RULE_NONE;
    decimals d = {.next = 0};
    return fail(detail, LED_RULE_REDUCE_ONLY, "a reduce-only %s of %s would not reduce position %s",
                g->e->side == LED_SIDE_BUY ? "buy" : "sell", dec(&d, g->e->qty_e8), dec(&d, pos));
}

/* Past the daily loss limit or the drawdown limit, only reduce-only orders pass. Losses are
 * measured from start-of-day and peak equity (docs/ledger.md). */
static led_rule check_loss(const led_state *s, const gate_order *g, char *detail)
{
    if (g->e->reduce_only) return LED_RULE_NONE;
    const led_account *a = &s->acct;
    decimals d = {.next = 0};
    int64_t allowed, lost;
    if (a->sod_equity_e8 > 0 &&
        led_bps(a->sod_equity_e8, a->limits.daily_loss_bps, LED_ROUND_DOWN, &allowed) == TK_OK &&
        led_sub(a->sod_equity_e8, a->equity_e8, &lost) == TK_OK && lost > allowed)
        return fail(detail, LED_RULE_DAILY_LOSS,
                    "equity %s is down more than %lld bps from the day's start %s: reduce-only",
                    dec(&d, a->equity_e8), (long long)a->limits.daily_loss_bps,
                    dec(&d, a->sod_equity_e8));
    if (a->peak_equity_e8 > 0 &&
        led_bps(a->peak_equity_e8, a->limits.max_drawdown_bps, LED_ROUND_DOWN, &allowed) == TK_OK &&
        led_sub(a->peak_equity_e8, a->equity_e8, &lost) == TK_OK && lost > allowed)
        return fail(detail, LED_RULE_MAX_DRAWDOWN,
                    "equity %s is down more than %lld bps from the peak %s: reduce-only",
                    dec(&d, a->equity_e8), (long long)a->limits.max_drawdown_bps,
                    dec(&d, a->peak_equity_e8));
    return LED_RULE_NONE;
}

/* The worst-case position of an instrument: the position if every open order on one side
 * filled, whichever side is larger in size. Errors: TK_EOVERFLOW. */
static tk_err worst_position(const led_instrument *ins, int64_t extra_buy, int64_t extra_sell,
                             int64_t *out_abs)
{
    int64_t long_side, short_side, buys, sells;
    tk_err err;
    if ((err = led_add(ins->open_buy_e8, extra_buy, &buys)) ||
        (err = led_add(ins->open_sell_e8, extra_sell, &sells)) ||
        (err = led_add(ins->position_e8, buys, &long_side)) ||
        (err = led_sub(ins->position_e8, sells, &short_side))) {
        return err;
    }
    if (long_side == INT64_MIN || short_side == INT64_MIN) return TK_EOVERFLOW;
    long_side = abs64(long_side);
    short_side = abs64(short_side);
    *out_abs = long_side > short_side ? long_side : short_side;
    return TK_OK;
}

/* Exposure after the order: this instrument's worst-case position and its notional at the
 * mark, and the gross notional over all instruments. */
typedef struct exposure {
    int64_t before_abs, after_abs; /* worst-case |position|, base units */
    int64_t after_notional;        /* after_abs at the mark */
    int64_t gross_before, gross_after;
} exposure;

static tk_err measure(const led_state *s, const gate_order *g, exposure *x)
{
    bool buy = g->e->side == LED_SIDE_BUY;
    tk_err err = worst_position(g->ins, 0, 0, &x->before_abs);
    if (err == TK_OK)
        err = worst_position(g->ins, buy ? g->e->qty_e8 : 0, buy ? 0 : g->e->qty_e8, &x->after_abs);
    if (err == TK_OK)
        err = led_notional(g->ins->mark_e8, x->after_abs, LED_ROUND_UP, &x->after_notional);
    x->gross_before = 0;
    for (uint32_t i = 0; i < s->acct.instrument_count && err == TK_OK; i++) {
        const led_instrument *ins = &s->instruments[i];
        int64_t abs_qty, value;
        if ((err = worst_position(ins, 0, 0, &abs_qty)) ||
            (err = led_notional(ins->mark_e8, abs_qty, LED_ROUND_UP, &value)) ||
            (err = led_add(x->gross_before, value, &x->gross_before))) {
            break;
        }
    }
    int64_t own_before;
    if (err == TK_OK) err = led_notional(g->ins->mark_e8, x->before_abs, LED_ROUND_UP, &own_before);
    if (err == TK_OK) err = led_sub(x->gross_before, own_before, &x->gross_after);
    if (err == TK_OK) err = led_add(x->gross_after, x->after_notional, &x->gross_after);
    return err;
}

/* Position and exposure caps bind only orders that grow the worst-case position. */
static led_rule check_exposure(const led_state *s, const gate_order *g, char *detail)
{
    exposure x;
    if (measure(s, g, &x) != TK_OK)
        return fail(detail, LED_RULE_OVERFLOW, "arithmetic overflow valuing the exposure");
    if (x.after_abs <= x.before_abs) return LED_RULE_NONE;
    const led_limits *l = &s->acct.limits;
    decimals d = {.next = 0};
    if (x.after_notional > l->max_position_notional_e8)
        return fail(detail, LED_RULE_MAX_POSITION_NOTIONAL,
                    "position notional %s would exceed the limit %s", dec(&d, x.after_notional),
                    dec(&d, l->max_position_notional_e8));
    int64_t cap = 0;
    if (s->acct.equity_e8 > 0 &&
        led_bps(s->acct.equity_e8, l->max_position_equity_bps, LED_ROUND_DOWN, &cap) != TK_OK)
        return fail(detail, LED_RULE_OVERFLOW, "arithmetic overflow valuing the equity cap");
    if (x.after_notional > cap)
        return fail(detail, LED_RULE_MAX_POSITION_EQUITY,
                    "position notional %s would exceed %lld bps of equity %s (%s)",
                    dec(&d, x.after_notional), (long long)l->max_position_equity_bps,
                    dec(&d, s->acct.equity_e8), dec(&d, cap));
    if (x.gross_after > l->max_gross_exposure_e8 && x.gross_after > x.gross_before)
        return fail(detail, LED_RULE_MAX_GROSS_EXPOSURE, "gross exposure %s would exceed %s",
                    dec(&d, x.gross_after), dec(&d, l->max_gross_exposure_e8));
    return LED_RULE_NONE;
}

/* Spot: a buy needs its notional in free quote, a sell its quantity in free base. */
static led_rule check_balance(const led_state *s, const gate_order *g, int64_t *out_reserved,
                              char *detail)
{
    bool buy = g->e->side == LED_SIDE_BUY;
    const char *asset = buy ? g->ins->quote : g->ins->base;
    const led_balance *b = &s->balances[led__asset_find(s, asset)];
    int64_t need = buy ? g->notional : g->e->qty_e8;
    int64_t free_e8;
    if (led_sub(b->total_e8, b->reserved_e8, &free_e8) != TK_OK)
        return fail(detail, LED_RULE_OVERFLOW, "arithmetic overflow reading the %s balance", asset);
    if (free_e8 < need) {
        decimals d = {.next = 0};
        return fail(detail, LED_RULE_INSUFFICIENT_BALANCE, "needs %s %s, %s free", dec(&d, need),
                    asset, dec(&d, free_e8));
    }
    *out_reserved = need;
    return LED_RULE_NONE;
}

led_rule led__gate(const led_state *s, const led_event *ev, int64_t *out_ref_price_e8,
                   int64_t *out_reserved_e8, char detail[LED_TEXT_BYTES])
{
    TK_ASSERT(s != NULL && ev != NULL && detail != NULL);
    TK_ASSERT(ev->type == LED_EV_ORDER_REQUESTED);
    const struct led_ev_order_requested *e = &ev->u.order_requested;
    if (s->acct.kill_switch)
        return fail(detail, LED_RULE_KILL_SWITCH, "the kill switch is on: %s", s->acct.kill_reason);
    int32_t i = led__instrument_find(s, e->symbol);
    if (i < 0) return fail(detail, LED_RULE_UNKNOWN_INSTRUMENT, "no instrument %s", e->symbol);
    gate_order g = {.e = e, .ins = &s->instruments[i]};
    led_rule rule = check_static(s, &g, detail);
    if (rule == LED_RULE_NONE) rule = check_band(s, &g, detail);
    if (rule != LED_RULE_NONE) return rule;
    g.ref_price = e->kind == LED_ORDER_MARKET ? g.ins->mark_e8 : e->price_e8;
    if (led_notional(g.ref_price, e->qty_e8, LED_ROUND_UP, &g.notional) != TK_OK)
        return fail(detail, LED_RULE_OVERFLOW, "arithmetic overflow valuing the order");
    rule = check_notional(s, &g, detail);
    if (rule == LED_RULE_NONE) rule = check_reduce_only(&g, detail);
    if (rule == LED_RULE_NONE) rule = check_loss(s, &g, detail);
    if (rule != LED_RULE_NONE) return rule;
    if (s->acct.open_order_count >= (uint64_t)s->acct.limits.max_open_orders)
        return fail(detail, LED_RULE_MAX_OPEN_ORDERS, "%u orders are open, the limit is %lld",
                    s->acct.open_order_count, (long long)s->acct.limits.max_open_orders);
    /* max_open_orders <= LED_ORDERS_OPEN_MAX (apply_limits and the state decoder hold it),
     * so the table has room for the order. */
    TK_ASSERT(s->acct.open_order_count < LED_ORDERS_OPEN_MAX);
    rule = check_exposure(s, &g, detail);
    if (rule == LED_RULE_NONE) rule = check_balance(s, &g, out_reserved_e8, detail);
    if (rule != LED_RULE_NONE) return rule;
    *out_ref_price_e8 = g.ref_price;
    led__text_copy(detail, LED_TEXT_BYTES, "accepted");
    return LED_RULE_NONE;
}
