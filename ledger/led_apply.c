/* led_apply: the fold of one committed event into the state (DESIGN.md, principle 2). Every
 * handler first computes what would change, with checked arithmetic, and only then writes, so
 * a refused event leaves the state as it was. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "led_internal.h"

#define NS_PER_DAY 86400000000000LL

static bool refuse(led_outcome *out, const char *fmt, ...) TK_PRINTF_LIKE(2, 3);

/* Record why the event is refused; returns false for the caller to return. */
static bool refuse(led_outcome *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
    va_end(ap);
    out->result = LED_REFUSED;
    return false;
}

/* The position of asset in the balance table, adding it (zero balance) if new; -1 when full. */
static int32_t asset_ensure(led_state *s, const char *asset)
{
    int32_t a = led__asset_find(s, asset);
    if (a >= 0) return a;
    if (s->acct.asset_count == LED_ASSETS_MAX) return -1;
    a = (int32_t)s->acct.asset_count++;
    memset(&s->balances[a], 0, sizeof(s->balances[a]));
    led__text_copy(s->balances[a].asset, sizeof(s->balances[a].asset), asset);
    led__valuers_update(s);
    return a;
}

/* Take the new equity; external flows (deposits, withdrawals, a new valuation) move the
 * start-of-day and peak equity with it, so that they never read as profit or loss. */
static void equity_take(led_state *s, int64_t equity_e8, bool external)
{
    led_account *a = &s->acct;
    if (external) {
        int64_t delta = equity_e8 - a->equity_e8; /* both in range; checked by the caller */
        if (led_add(a->sod_equity_e8, delta, &a->sod_equity_e8) != TK_OK) a->sod_equity_e8 = 0;
        if (led_add(a->peak_equity_e8, delta, &a->peak_equity_e8) != TK_OK)
            a->peak_equity_e8 = equity_e8;
    }
    a->equity_e8 = equity_e8;
    if (a->equity_e8 > a->peak_equity_e8) a->peak_equity_e8 = a->equity_e8;
}

/* ---- Market and reference data --------------------------------------------------------------- */

static bool apply_instrument(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_instrument_defined *e = &ev->u.instrument_defined;
    int32_t i = led__instrument_find(s, e->symbol);
    if (i >= 0) {
        led_instrument *ins = &s->instruments[i];
        if (strcmp(ins->base, e->base) != 0 || strcmp(ins->quote, e->quote) != 0)
            return refuse(out, "%s is already defined as %s/%s", e->symbol, ins->base, ins->quote);
        ins->tick_e8 = e->tick_e8;
        ins->lot_e8 = e->lot_e8;
        ins->min_notional_e8 = e->min_notional_e8;
        return true;
    }
    if (s->acct.instrument_count == LED_INSTRUMENTS_MAX)
        return refuse(out, "the instrument table is full (%u)", LED_INSTRUMENTS_MAX);
    uint32_t new_assets = 0;
    if (led__asset_find(s, e->base) < 0) new_assets++;
    if (led__asset_find(s, e->quote) < 0) new_assets++;
    if (s->acct.asset_count + new_assets > LED_ASSETS_MAX)
        return refuse(out, "the asset table is full (%u)", LED_ASSETS_MAX);
    led_instrument *ins = &s->instruments[s->acct.instrument_count++];
    memset(ins, 0, sizeof(*ins));
    led__text_copy(ins->symbol, sizeof(ins->symbol), e->symbol);
    led__text_copy(ins->base, sizeof(ins->base), e->base);
    led__text_copy(ins->quote, sizeof(ins->quote), e->quote);
    ins->tick_e8 = e->tick_e8;
    ins->lot_e8 = e->lot_e8;
    ins->min_notional_e8 = e->min_notional_e8;
    if (s->acct.valuation_asset[0] == '\0')
        led__text_copy(s->acct.valuation_asset, sizeof(s->acct.valuation_asset), e->quote);
    int32_t base = asset_ensure(s, e->base);
    int32_t quote = asset_ensure(s, e->quote);
    TK_ASSERT(base >= 0 && quote >= 0); /* room was checked above */
    led__valuers_update(s);
    int64_t equity;
    if (led__equity(s, &equity) != TK_OK) equity = s->acct.equity_e8; /* marks are still 0 */
    equity_take(s, equity, true);
    return true;
}

static bool apply_bar(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_bar_closed *e = &ev->u.bar_closed;
    int32_t i = led__instrument_find(s, e->symbol);
    if (i < 0) return refuse(out, "no instrument %s", e->symbol);
    led_instrument *ins = &s->instruments[i];
    int64_t old_mark = ins->mark_e8;
    ins->mark_e8 = e->close_e8;
    int64_t equity;
    if (led__equity(s, &equity) != TK_OK) {
        ins->mark_e8 = old_mark;
        return refuse(out, "equity overflows at mark %lld", (long long)e->close_e8);
    }
    ins->mark_ts_ns = ev->ts_ns;
    /* The first mark values what was held at no value before: not profit, an external flow. */
    equity_take(s, equity, old_mark == 0);
    return true;
}

static bool apply_balance(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_balance_adjusted *e = &ev->u.balance_adjusted;
    int32_t a = led__asset_find(s, e->asset);
    if (a < 0 && s->acct.asset_count == LED_ASSETS_MAX)
        return refuse(out, "the asset table is full (%u)", LED_ASSETS_MAX);
    int64_t total = a >= 0 ? s->balances[a].total_e8 : 0;
    if (led_add(total, e->delta_e8, &total) != TK_OK)
        return refuse(out, "the %s balance overflows", e->asset);
    a = asset_ensure(s, e->asset);
    TK_ASSERT(a >= 0);
    int64_t old_total = s->balances[a].total_e8;
    s->balances[a].total_e8 = total;
    int64_t equity;
    if (led__equity(s, &equity) != TK_OK) {
        s->balances[a].total_e8 = old_total;
        return refuse(out, "equity overflows");
    }
    equity_take(s, equity, true);
    return true;
}

/* ---- Orders ---------------------------------------------------------------------------------- */

/* The balance an order of that side holds its reservation in: quote for a buy, base for a
 * sell. */
static int32_t side_asset(const led_state *s, const led_instrument *ins, led_side side)
{
    int32_t a = led__asset_find(s, side == LED_SIDE_BUY ? ins->quote : ins->base);
    TK_ASSERT(a >= 0); /* an instrument's assets are added with it */
    return a;
}

/* The instrument an open order trades. */
static led_instrument *order_instrument(led_state *s, const led_order *o)
{
    int32_t i = led__instrument_find(s, o->symbol);
    TK_ASSERT(i >= 0); /* orders are only created for known instruments */
    return &s->instruments[i];
}

static int64_t *open_side(led_instrument *ins, led_side side)
{
    return side == LED_SIDE_BUY ? &ins->open_buy_e8 : &ins->open_sell_e8;
}

/* Move an open order to a terminal state, releasing what it still holds. */
static void order_close(led_state *s, led_order *o, led_order_state terminal)
{
    TK_ASSERT(led_order_state_is_terminal(terminal));
    TK_ASSERT(s->acct.open_order_count > 0);
    led_instrument *ins = order_instrument(s, o);
    *open_side(ins, o->side) -= o->qty_e8 - o->filled_qty_e8;
    s->balances[side_asset(s, ins, o->side)].reserved_e8 -= o->reserved_e8;
    TK_ASSERT(*open_side(ins, o->side) >= 0);
    o->reserved_e8 = 0;
    o->state = terminal;
    s->acct.open_order_count--;
}

/* The open order an event names, or NULL with the event refused. */
static led_order *order_for(led_state *s, uint64_t order_index, led_order_state to,
                            led_outcome *out)
{
    led_order *o = led__order_slot(s, order_index);
    if (o == NULL) {
        (void)refuse(out, "order %llu is not open", (unsigned long long)order_index);
        return NULL;
    }
    const char *why = led_order_edge_check(o->state, to);
    if (why != NULL) {
        (void)refuse(out, "order %llu: %s", (unsigned long long)order_index, why);
        return NULL;
    }
    return o;
}

static void decision(led_state *s, uint64_t index, led_rule rule, const char *detail)
{
    s->acct.last_decision_index = index;
    s->acct.last_decision_rule = rule;
    led__text_copy(s->acct.last_decision_detail, sizeof(s->acct.last_decision_detail), detail);
}

static bool reject(led_state *s, uint64_t index, led_rule rule, led_outcome *out)
{
    out->result = LED_REJECTED;
    out->rule = rule;
    s->acct.orders_rejected++;
    decision(s, index, rule, out->detail);
    return true; /* a rejection is the event applied: the order is recorded as rejected */
}

static bool apply_order_requested(led_state *s, uint64_t index, const led_event *ev,
                                  led_outcome *out)
{
    const struct led_ev_order_requested *e = &ev->u.order_requested;
    int64_t ref_price = 0;
    int64_t reserved = 0;
    led_rule rule = led__gate(s, ev, &ref_price, &reserved, out->detail);
    if (rule != LED_RULE_NONE) return reject(s, index, rule, out);
    led_instrument *ins = &s->instruments[led__instrument_find(s, e->symbol)];
    led_balance *bal = &s->balances[side_asset(s, ins, e->side)];
    int64_t open_total;
    int64_t reserved_total;
    if (led_add(*open_side(ins, e->side), e->qty_e8, &open_total) != TK_OK ||
        led_add(bal->reserved_e8, reserved, &reserved_total) != TK_OK) {
        snprintf(out->detail, sizeof(out->detail), "open quantity or reservation overflows");
        return reject(s, index, LED_RULE_OVERFLOW, out);
    }
    led_order *o = led__order_append(s, index);
    o->ts_ns = ev->ts_ns;
    led__text_copy(o->symbol, sizeof(o->symbol), e->symbol);
    led__text_copy(o->strategy, sizeof(o->strategy), e->strategy);
    o->side = e->side;
    o->kind = e->kind;
    o->state = LED_ORDER_ACCEPTED;
    o->reduce_only = e->reduce_only;
    o->qty_e8 = e->qty_e8;
    o->price_e8 = e->price_e8;
    o->ref_price_e8 = ref_price;
    o->reserved_e8 = reserved;
    *open_side(ins, e->side) = open_total;
    bal->reserved_e8 = reserved_total;
    s->acct.orders_accepted++;
    decision(s, index, LED_RULE_NONE, "accepted");
    return true;
}

static bool apply_acked(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_order_acked *e = &ev->u.order_acked;
    led_order *late = led__order_slot(s, e->order_index);
    if (late != NULL && late->state == LED_ORDER_PARTIALLY_FILLED) { /* the ack came late */
        led__text_copy(late->venue_order_id, sizeof(late->venue_order_id), e->venue_order_id);
        return true;
    }
    led_order *o = order_for(s, e->order_index, LED_ORDER_ACKED, out);
    if (o == NULL) return false;
    o->state = LED_ORDER_ACKED;
    led__text_copy(o->venue_order_id, sizeof(o->venue_order_id), e->venue_order_id);
    return true;
}

static bool apply_venue_rejected(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_order_rejected_by_venue *e = &ev->u.order_rejected_by_venue;
    led_order *o = order_for(s, e->order_index, LED_ORDER_REJECTED_BY_VENUE, out);
    if (o == NULL) return false;
    order_close(s, o, LED_ORDER_REJECTED_BY_VENUE);
    return true;
}

static bool apply_cancel_requested(led_state *s, const led_event *ev, led_outcome *out)
{
    uint64_t order_index = ev->u.order_cancel_requested.order_index;
    led_order *o = led__order_slot(s, order_index);
    if (o == NULL) return refuse(out, "order %llu is not open", (unsigned long long)order_index);
    o->cancel_requested = true;
    return true;
}

static bool apply_cancelled(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_order_cancelled *e = &ev->u.order_cancelled;
    led_order *o = order_for(s, e->order_index, LED_ORDER_CANCELLED, out);
    if (o == NULL) return false;
    order_close(s, o, LED_ORDER_CANCELLED);
    return true;
}

/* A fill's effects, computed before any is written. */
typedef struct fill_plan {
    int64_t base_total, quote_total, fee_total, fee_paid; /* new balances; fee_total last */
    int64_t reserved, reserved_balance;                   /* the order's and its balance's */
    int64_t position, avg_entry, realized_pnl;
    int32_t base, quote, fee; /* asset positions */
} fill_plan;

/* Average-cost position accounting: a fill in the position's direction moves the average entry
 * to the quantity-weighted mean; against it, the closed part realizes (price - entry) per unit,
 * and a fill past flat opens the rest at the fill price. */
static tk_err plan_position(const led_instrument *ins, led_side side, int64_t qty, int64_t price,
                            fill_plan *p)
{
    int64_t pos = ins->position_e8;
    int64_t signed_qty = side == LED_SIDE_BUY ? qty : -qty;
    tk_err err = led_add(pos, signed_qty, &p->position);
    p->realized_pnl = ins->realized_pnl_e8;
    p->avg_entry = ins->avg_entry_e8;
    if (err != TK_OK) return err;
    if (p->position == INT64_MIN) return TK_EOVERFLOW; /* its size, -INT64_MIN, is not an int64 */
    if (pos == 0 || (pos > 0) == (signed_qty > 0)) {
        int64_t held_cost, fill_cost, total_cost;
        int64_t held = pos < 0 ? -pos : pos;
        int64_t after = p->position < 0 ? -p->position : p->position;
        if ((err = led_notional(ins->avg_entry_e8, held, LED_ROUND_HALF_EVEN, &held_cost)) ||
            (err = led_notional(price, qty, LED_ROUND_HALF_EVEN, &fill_cost)) ||
            (err = led_add(held_cost, fill_cost, &total_cost))) {
            return err;
        }
        return led_mul_div(total_cost, LED_SCALE, after, LED_ROUND_HALF_EVEN, &p->avg_entry);
    }
    int64_t held = pos < 0 ? -pos : pos;
    int64_t closed = qty < held ? qty : held;
    int64_t per_unit, pnl;
    if ((err = led_sub(price, ins->avg_entry_e8, &per_unit))) return err;
    if (pos < 0) per_unit = -per_unit; /* a short gains when the price falls */
    if ((err = led_notional(per_unit, closed, LED_ROUND_HALF_EVEN, &pnl)) ||
        (err = led_add(p->realized_pnl, pnl, &p->realized_pnl))) {
        return err;
    }
    if (p->position == 0) p->avg_entry = 0;
    if (qty > held) p->avg_entry = price; /* flipped: the rest opened at the fill price */
    return TK_OK;
}

static tk_err plan_fill(const led_state *s, const led_order *o, const led_instrument *ins,
                        const struct led_ev_order_filled *e, fill_plan *p)
{
    p->base = led__asset_find(s, ins->base);
    p->quote = led__asset_find(s, ins->quote);
    p->fee = led__asset_find(s, e->fee_asset);
    TK_ASSERT(p->base >= 0 && p->quote >= 0 && p->fee >= 0);
    int64_t notional, remaining;
    tk_err err = led_notional(e->price_e8, e->qty_e8, LED_ROUND_HALF_EVEN, &notional);
    if (err != TK_OK) return err;
    const led_balance *base = &s->balances[p->base];
    const led_balance *quote = &s->balances[p->quote];
    if (o->side == LED_SIDE_BUY) {
        if ((err = led_add(base->total_e8, e->qty_e8, &p->base_total)) ||
            (err = led_sub(quote->total_e8, notional, &p->quote_total))) {
            return err;
        }
    } else if ((err = led_sub(base->total_e8, e->qty_e8, &p->base_total)) ||
               (err = led_add(quote->total_e8, notional, &p->quote_total))) {
        return err;
    }
    remaining = o->qty_e8 - o->filled_qty_e8 - e->qty_e8;
    if ((err = led__reservation(o->side, o->ref_price_e8, remaining, &p->reserved))) return err;
    int32_t held_in = o->side == LED_SIDE_BUY ? p->quote : p->base;
    p->reserved_balance = s->balances[held_in].reserved_e8 - (o->reserved_e8 - p->reserved);
    int64_t fee_from = s->balances[p->fee].total_e8; /* the fee asset may be base or quote */
    if (p->fee == p->base) fee_from = p->base_total;
    if (p->fee == p->quote) fee_from = p->quote_total;
    if ((err = led_sub(fee_from, e->fee_e8, &p->fee_total)) ||
        (err = led_add(s->balances[p->fee].fees_e8, e->fee_e8, &p->fee_paid))) {
        return err;
    }
    return plan_position(ins, o->side, e->qty_e8, e->price_e8, p);
}

/* Write a planned fill: balances (the fee last, as it may be the base or quote asset). */
static void commit_fill(led_state *s, led_order *o, led_instrument *ins, int64_t qty_e8,
                        const fill_plan *p)
{
    s->balances[p->base].total_e8 = p->base_total;
    s->balances[p->quote].total_e8 = p->quote_total;
    s->balances[p->fee].total_e8 = p->fee_total;
    s->balances[p->fee].fees_e8 = p->fee_paid;
    s->balances[o->side == LED_SIDE_BUY ? p->quote : p->base].reserved_e8 = p->reserved_balance;
    o->reserved_e8 = p->reserved;
    o->filled_qty_e8 += qty_e8;
    *open_side(ins, o->side) -= qty_e8;
    ins->position_e8 = p->position;
    ins->avg_entry_e8 = p->avg_entry;
    ins->realized_pnl_e8 = p->realized_pnl;
}

static bool apply_filled(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_order_filled *e = &ev->u.order_filled;
    led_order *o = led__order_slot(s, e->order_index);
    if (o == NULL) return refuse(out, "order %llu is not open", (unsigned long long)e->order_index);
    int64_t remaining = o->qty_e8 - o->filled_qty_e8;
    if (e->qty_e8 > remaining)
        return refuse(out, "order %llu: a fill of %lld above the %lld remaining",
                      (unsigned long long)e->order_index, (long long)e->qty_e8,
                      (long long)remaining);
    led_order_state to = e->qty_e8 == remaining ? LED_ORDER_FILLED : LED_ORDER_PARTIALLY_FILLED;
    if (order_for(s, e->order_index, to, out) == NULL) return false;
    if (asset_ensure(s, e->fee_asset) < 0) /* a new, empty asset is harmless if refused */
        return refuse(out, "the asset table is full (%u)", LED_ASSETS_MAX);
    led_instrument *ins = order_instrument(s, o);
    fill_plan plan;
    if (plan_fill(s, o, ins, e, &plan) != TK_OK)
        return refuse(out, "order %llu: the fill overflows", (unsigned long long)e->order_index);
    /* Equity is checked on the new values; what the fill touches is saved to undo. */
    const led_balance saved[3] = {s->balances[plan.base], s->balances[plan.quote],
                                  s->balances[plan.fee]};
    const led_order saved_order = *o;
    const led_instrument saved_ins = *ins;
    commit_fill(s, o, ins, e->qty_e8, &plan);
    int64_t equity;
    if (led__equity(s, &equity) != TK_OK) {
        s->balances[plan.fee] = saved[2];
        s->balances[plan.quote] = saved[1];
        s->balances[plan.base] = saved[0];
        *o = saved_order;
        *ins = saved_ins;
        return refuse(out, "order %llu: equity overflows", (unsigned long long)e->order_index);
    }
    equity_take(s, equity, false);
    if (to == LED_ORDER_FILLED) {
        order_close(s, o, LED_ORDER_FILLED);
    } else {
        o->state = LED_ORDER_PARTIALLY_FILLED;
    }
    return true;
}

static bool apply_external(led_state *s, uint64_t index, const led_event *ev, led_outcome *out)
{
    const struct led_ev_external_order_adopted *e = &ev->u.external_order_adopted;
    int32_t i = led__instrument_find(s, e->symbol);
    if (i < 0) return refuse(out, "no instrument %s", e->symbol);
    for (uint32_t at = 0; at < s->order_slots; at++) {
        const led_order *o = &s->orders[at];
        if (!led_order_state_is_terminal(o->state) && o->external &&
            strcmp(o->client_order_id, e->client_order_id) == 0)
            return refuse(out, "%s is already adopted as order %llu", e->client_order_id,
                          (unsigned long long)o->index);
    }
    if (e->filled_qty_e8 == e->qty_e8) return true; /* done at the venue: nothing stays open */
    if (s->acct.open_order_count == LED_ORDERS_OPEN_MAX)
        return refuse(out, "the open order table is full (%u)", LED_ORDERS_OPEN_MAX);
    led_instrument *ins = &s->instruments[i];
    led_balance *bal = &s->balances[side_asset(s, ins, e->side)];
    int64_t ref_price = e->kind == LED_ORDER_MARKET ? ins->mark_e8 : e->price_e8;
    int64_t remaining = e->qty_e8 - e->filled_qty_e8;
    int64_t reserved, reserved_total, open_total;
    if (led__reservation(e->side, ref_price, remaining, &reserved) != TK_OK ||
        led_add(bal->reserved_e8, reserved, &reserved_total) != TK_OK ||
        led_add(*open_side(ins, e->side), remaining, &open_total) != TK_OK)
        return refuse(out, "%s: the reservation overflows", e->client_order_id);
    led_order *o = led__order_append(s, index);
    o->ts_ns = ev->ts_ns;
    led__text_copy(o->symbol, sizeof(o->symbol), e->symbol);
    led__text_copy(o->client_order_id, sizeof(o->client_order_id), e->client_order_id);
    o->side = e->side;
    o->kind = e->kind;
    o->state = e->filled_qty_e8 > 0 ? LED_ORDER_PARTIALLY_FILLED : LED_ORDER_ACKED;
    o->external = true;
    o->qty_e8 = e->qty_e8;
    o->price_e8 = e->price_e8;
    o->filled_qty_e8 = e->filled_qty_e8;
    o->ref_price_e8 = ref_price;
    o->reserved_e8 = reserved;
    bal->reserved_e8 = reserved_total;
    *open_side(ins, e->side) = open_total;
    return true;
}

/* ---- Controls -------------------------------------------------------------------------------- */

static bool apply_limits(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_risk_limits_set *e = &ev->u.risk_limits_set;
    if (e->max_open_orders > (int64_t)LED_ORDERS_OPEN_MAX)
        return refuse(out, "max_open_orders %lld is above the capacity %u",
                      (long long)e->max_open_orders, LED_ORDERS_OPEN_MAX);
    s->acct.limits = (led_limits){
        .max_order_notional_e8 = e->max_order_notional_e8,
        .max_position_notional_e8 = e->max_position_notional_e8,
        .max_position_equity_bps = e->max_position_equity_bps,
        .max_gross_exposure_e8 = e->max_gross_exposure_e8,
        .max_open_orders = e->max_open_orders,
        .price_band_bps = e->price_band_bps,
        .daily_loss_bps = e->daily_loss_bps,
        .max_drawdown_bps = e->max_drawdown_bps,
    };
    return true;
}

static bool apply_kill_switch(led_state *s, const led_event *ev)
{
    s->acct.kill_switch = ev->u.kill_switch_set.on;
    led__text_copy(s->acct.kill_reason, sizeof(s->acct.kill_reason), ev->u.kill_switch_set.reason);
    return true;
}

static bool apply_breaker(led_state *s, const led_event *ev, led_outcome *out)
{
    int32_t i = led__instrument_find(s, ev->u.circuit_breaker_set.symbol);
    if (i < 0) return refuse(out, "no instrument %s", ev->u.circuit_breaker_set.symbol);
    s->instruments[i].breaker_tripped = ev->u.circuit_breaker_set.tripped;
    return true;
}

static bool apply_feed_health(led_state *s, const led_event *ev, led_outcome *out)
{
    int32_t i = led__instrument_find(s, ev->u.feed_health.symbol);
    if (i < 0) return refuse(out, "no instrument %s", ev->u.feed_health.symbol);
    s->instruments[i].feed = ev->u.feed_health.status;
    return true;
}

static bool apply_strategy(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_strategy_enabled *e = &ev->u.strategy_enabled;
    int32_t i = led__strategy_find(s, e->strategy);
    if (i < 0) {
        if (s->acct.strategy_count == LED_STRATEGIES_MAX)
            return refuse(out, "the strategy table is full (%u)", LED_STRATEGIES_MAX);
        i = (int32_t)s->acct.strategy_count++;
        led__text_copy(s->strategies[i].name, sizeof(s->strategies[i].name), e->strategy);
    }
    s->strategies[i].enabled = e->enabled;
    return true;
}

static bool apply_leader(led_state *s, const led_event *ev, led_outcome *out)
{
    const struct led_ev_leader_changed *e = &ev->u.leader_changed;
    if (e->term < s->acct.leader_term)
        return refuse(out, "term %llu is older than the current %llu", (unsigned long long)e->term,
                      (unsigned long long)s->acct.leader_term);
    s->acct.leader_term = e->term;
    led__text_copy(s->acct.leader_node, sizeof(s->acct.leader_node), e->node);
    return true;
}

/* ---- Dispatch -------------------------------------------------------------------------------- */

static bool dispatch(led_state *s, uint64_t index, const led_event *ev, led_outcome *out)
{
    switch (ev->type) {
    case LED_EV_INSTRUMENT_DEFINED:
        return apply_instrument(s, ev, out);
    case LED_EV_BAR_CLOSED:
        return apply_bar(s, ev, out);
    case LED_EV_ORDER_REQUESTED:
        return apply_order_requested(s, index, ev, out);
    case LED_EV_ORDER_ACKED:
        return apply_acked(s, ev, out);
    case LED_EV_ORDER_FILLED:
        return apply_filled(s, ev, out);
    case LED_EV_ORDER_REJECTED_BY_VENUE:
        return apply_venue_rejected(s, ev, out);
    case LED_EV_ORDER_CANCEL_REQUESTED:
        return apply_cancel_requested(s, ev, out);
    case LED_EV_ORDER_CANCELLED:
        return apply_cancelled(s, ev, out);
    case LED_EV_EXTERNAL_ORDER_ADOPTED:
        return apply_external(s, index, ev, out);
    case LED_EV_RISK_LIMITS_SET:
        return apply_limits(s, ev, out);
    case LED_EV_KILL_SWITCH_SET:
        return apply_kill_switch(s, ev);
    case LED_EV_CIRCUIT_BREAKER_SET:
        return apply_breaker(s, ev, out);
    case LED_EV_FEED_HEALTH:
        return apply_feed_health(s, ev, out);
    case LED_EV_STRATEGY_ENABLED:
        return apply_strategy(s, ev, out);
    case LED_EV_BALANCE_ADJUSTED:
        return apply_balance(s, ev, out);
    case LED_EV_LEADER_CHANGED:
        return apply_leader(s, ev, out);
    }
    TK_ASSERT(false); /* led_event_check passed: the type is known */
    return false;
}

void led_apply(led_state *state, uint64_t index, const led_event *ev, led_outcome *out)
{
    TK_ASSERT(state != NULL && ev != NULL && out != NULL);
    TK_ASSERT(index > 0);
    memset(out, 0, sizeof(*out));
    led_account *a = &state->acct;
    if (index <= a->last_index) {
        out->result = LED_SKIPPED;
        return;
    }
    TK_ASSERT(index == a->last_index + 1u); /* the journal hands out indices without gaps */
    /* Every caller decoded ev strictly or checked it (the journal does before proposing), so
     * the full check runs in debug builds only: it is a fifth of apply's cost. */
    TK_DASSERT(led_event_check(ev, NULL) == TK_OK);
    const int64_t day_before = a->day;
    const int64_t sod_before = a->sod_equity_e8;
    int64_t day = ev->ts_ns / NS_PER_DAY;
    if (day > a->day) { /* event time entered a new UTC day: the event sees the new one */
        a->day = day;
        a->sod_equity_e8 = a->equity_e8;
    }
    out->result = LED_APPLIED;
    const led__key *seen = ev->key[0] != '\0' ? led__key_find(state, ev->key) : NULL;
    if (seen != NULL) { /* a retried write: the first one decided (docs/ledger.md) */
        out->duplicate_of = seen->index;
        out->original_result = seen->result;
        out->original_rule = seen->rule;
        (void)refuse(out, "idempotency key '%s' already used by ledger index %llu", ev->key,
                     (unsigned long long)seen->index);
    }
    if (seen == NULL && dispatch(state, index, ev, out)) {
        a->events_applied++;
    } else {
        TK_ASSERT(out->result == LED_REFUSED);
        a->day = day_before; /* a refused event changes nothing but what follows */
        a->sod_equity_e8 = sod_before;
        a->events_refused++;
    }
    if (ev->key[0] != '\0' && seen == NULL)
        led__key_add(state, ev->key, index, out->result, out->rule);
    a->last_index = index;
    a->last_ts_ns = ev->ts_ns;
    TK_DASSERT(a->open_order_count <= LED_ORDERS_OPEN_MAX);
}
