/* A seeded generator of valid event streams (led_gen_*): three USDT spot instruments on random
 * walks, a deposit, risk limits, then bars, orders and the venue's answers to the orders the
 * gate accepted, with now and then a kill switch, a circuit breaker, a feed-health report, a
 * strategy switch, a deposit or a leader change. Every event passes led_event_check; what the
 * gate and apply then do with it is theirs to decide (some orders are rejected, as in life).
 * Prices move by integer arithmetic on tk_rng draws only, so a seed means the same stream on
 * every machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "led_internal.h"

#define GEN_START_NS   1767225600000000000LL /* 2026-01-01T00:00:00Z */
#define GEN_STEP_NS    250000000LL           /* event time advances 250 ms per event */
#define GEN_SYMBOLS    3u
#define GEN_CANDIDATES 1024u              /* orders the generator may still answer for */
#define GEN_SETUP      (GEN_SYMBOLS + 3u) /* instruments, deposit, limits, strategy */

typedef struct gen_symbol {
    const char *symbol, *base;
    int64_t tick_e8, lot_e8, start_e8;
} gen_symbol;

static const gen_symbol symbols[GEN_SYMBOLS] = {
    {"BTCUSDT", "BTC", 1000000, 1000, 6000000000000},
    {"ETHUSDT", "ETH", 1000000, 10000, 300000000000},
    {"SOLUSDT", "SOL", 1000000, 1000000, 15000000000},
};

struct led_gen {
    tk_rng rng;
    int64_t close_e8[GEN_SYMBOLS];
    uint64_t candidates[GEN_CANDIDATES];
    uint32_t candidate_count;
};

tk_err led_gen_open(uint64_t seed, led_gen **out_gen)
{
    TK_ASSERT(out_gen != NULL);
    led_gen *gen = calloc(1, sizeof(*gen));
    if (gen == NULL) return TK_ENOMEM;
    tk_rng_init(&gen->rng, seed);
    for (uint32_t i = 0; i < GEN_SYMBOLS; i++)
        gen->close_e8[i] = symbols[i].start_e8;
    *out_gen = gen;
    return TK_OK;
}

void led_gen_close(led_gen *gen)
{
    free(gen);
}

static int64_t draw(led_gen *gen, int64_t lo, int64_t hi) /* uniform in [lo, hi] */
{
    TK_ASSERT(lo <= hi);
    return lo + (int64_t)tk_rng_below(&gen->rng, (uint64_t)(hi - lo) + 1u);
}

static int64_t to_step(int64_t value, int64_t step)
{
    int64_t out;
    if (led_round_to_step(value, step, LED_ROUND_HALF_EVEN, &out) != TK_OK || out < step)
        return step;
    return out;
}

static void setup_event(led_gen *gen, uint64_t index, led_event *ev)
{
    (void)gen;
    if (index <= GEN_SYMBOLS) {
        const gen_symbol *g = &symbols[index - 1u];
        ev->type = LED_EV_INSTRUMENT_DEFINED;
        snprintf(ev->u.instrument_defined.symbol, LED_SYMBOL_BYTES, "%s", g->symbol);
        snprintf(ev->u.instrument_defined.base, LED_ASSET_BYTES, "%s", g->base);
        snprintf(ev->u.instrument_defined.quote, LED_ASSET_BYTES, "USDT");
        ev->u.instrument_defined.tick_e8 = g->tick_e8;
        ev->u.instrument_defined.lot_e8 = g->lot_e8;
        ev->u.instrument_defined.min_notional_e8 = 5 * LED_SCALE;
    } else if (index == GEN_SYMBOLS + 1u) {
        ev->type = LED_EV_BALANCE_ADJUSTED;
        snprintf(ev->u.balance_adjusted.asset, LED_ASSET_BYTES, "USDT");
        ev->u.balance_adjusted.delta_e8 = 1000000 * (int64_t)LED_SCALE;
        snprintf(ev->u.balance_adjusted.reason, LED_TEXT_BYTES, "initial deposit");
    } else if (index == GEN_SYMBOLS + 2u) {
        ev->type = LED_EV_RISK_LIMITS_SET;
        ev->u.risk_limits_set = (struct led_ev_risk_limits_set){
            .max_order_notional_e8 = 50000 * (int64_t)LED_SCALE,
            .max_position_notional_e8 = 200000 * (int64_t)LED_SCALE,
            .max_position_equity_bps = 2000,
            .max_gross_exposure_e8 = 500000 * (int64_t)LED_SCALE,
            .max_open_orders = 200,
            .price_band_bps = 100,
            .daily_loss_bps = 500,
            .max_drawdown_bps = 1000,
        };
    } else {
        ev->type = LED_EV_STRATEGY_ENABLED;
        snprintf(ev->u.strategy_enabled.strategy, LED_NAME_BYTES, "gen");
        ev->u.strategy_enabled.enabled = true;
    }
}

/* A bar on a random walk: the close moves up to 0.4% from the last, the range a little past. */
static void bar_event(led_gen *gen, uint32_t k, led_event *ev)
{
    TK_ASSERT(k < GEN_SYMBOLS);
    const gen_symbol *g = &symbols[k];
    int64_t open = gen->close_e8[k];
    int64_t close = to_step(open + open / 10000 * draw(gen, -40, 40), g->tick_e8);
    int64_t top = open > close ? open : close;
    int64_t bottom = open < close ? open : close;
    ev->type = LED_EV_BAR_CLOSED;
    struct led_ev_bar_closed *b = &ev->u.bar_closed;
    snprintf(b->symbol, LED_SYMBOL_BYTES, "%s", g->symbol);
    b->interval_s = 60;
    b->open_ts_ns = ev->ts_ns - 60 * 1000000000LL;
    b->open_e8 = open;
    b->close_e8 = close;
    b->high_e8 = to_step(top + top / 10000 * draw(gen, 0, 10), g->tick_e8);
    b->low_e8 = to_step(bottom - bottom / 10000 * draw(gen, 0, 10), g->tick_e8);
    if (b->low_e8 > bottom) b->low_e8 = bottom;
    if (b->high_e8 < top) b->high_e8 = top;
    b->volume_e8 = draw(gen, 0, 1000) * LED_SCALE;
    gen->close_e8[k] = close;
}

/* An order of 10 to 15,000 USDT, market or limit within 0.5% of the last close. */
static void order_event(led_gen *gen, uint64_t index, led_event *ev)
{
    uint32_t k = (uint32_t)tk_rng_below(&gen->rng, GEN_SYMBOLS);
    const gen_symbol *g = &symbols[k];
    int64_t price = gen->close_e8[k];
    ev->type = LED_EV_ORDER_REQUESTED;
    struct led_ev_order_requested *o = &ev->u.order_requested;
    snprintf(o->symbol, LED_SYMBOL_BYTES, "%s", g->symbol);
    snprintf(o->strategy, LED_NAME_BYTES, "gen");
    o->side = tk_rng_below(&gen->rng, 2) == 0 ? LED_SIDE_BUY : LED_SIDE_SELL;
    o->kind = tk_rng_below(&gen->rng, 5) < 2 ? LED_ORDER_MARKET : LED_ORDER_LIMIT;
    if (o->kind == LED_ORDER_LIMIT)
        o->price_e8 = to_step(price + price / 10000 * draw(gen, -50, 50), g->tick_e8);
    int64_t notional_e8 = draw(gen, 10, 15000) * LED_SCALE;
    int64_t qty;
    if (led_mul_div(notional_e8, LED_SCALE, price, LED_ROUND_DOWN, &qty) != TK_OK) qty = 0;
    o->qty_e8 = to_step(qty, g->lot_e8);
    o->reduce_only = tk_rng_below(&gen->rng, 20) == 0;
    if (gen->candidate_count < GEN_CANDIDATES) gen->candidates[gen->candidate_count++] = index;
}

static uint32_t symbol_of(const char *symbol)
{
    for (uint32_t k = 0; k < GEN_SYMBOLS; k++) {
        if (strcmp(symbols[k].symbol, symbol) == 0) return k;
    }
    TK_ASSERT(false); /* the generator answers only for its own orders */
    return 0;
}

static void fill_event(led_gen *gen, uint64_t index, const led_order *o, led_event *ev)
{
    uint32_t k = symbol_of(o->symbol);
    int64_t remaining = o->qty_e8 - o->filled_qty_e8;
    int64_t qty = remaining;
    if (tk_rng_below(&gen->rng, 5) < 2 && remaining >= 2 * symbols[k].lot_e8)
        qty = to_step(remaining / 2, symbols[k].lot_e8);
    if (qty > remaining) qty = remaining;
    ev->type = LED_EV_ORDER_FILLED;
    struct led_ev_order_filled *f = &ev->u.order_filled;
    f->order_index = o->index;
    snprintf(f->fill_id, LED_ID_BYTES, "f%llu", (unsigned long long)index);
    f->qty_e8 = qty;
    f->price_e8 = o->kind == LED_ORDER_MARKET ? gen->close_e8[k] : o->price_e8;
    int64_t notional = 0;
    if (led_notional(f->price_e8, qty, LED_ROUND_HALF_EVEN, &notional) != TK_OK) notional = 0;
    if (led_bps(notional, 1, LED_ROUND_DOWN, &f->fee_e8) != TK_OK) f->fee_e8 = 0;
    snprintf(f->fee_asset, LED_ASSET_BYTES, "USDT");
    f->maker = o->kind == LED_ORDER_LIMIT;
}

static void cancel_event(const led_order *o, led_event *ev)
{
    if (!o->cancel_requested) {
        ev->type = LED_EV_ORDER_CANCEL_REQUESTED;
        ev->u.order_cancel_requested.order_index = o->index;
        return;
    }
    ev->type = LED_EV_ORDER_CANCELLED;
    ev->u.order_cancelled.order_index = o->index;
    snprintf(ev->u.order_cancelled.reason, LED_TEXT_BYTES, "cancelled by the strategy");
}

/* The venue's next answer for one open order the generator requested; false when none of its
 * candidates is open any more. */
static bool lifecycle_event(led_gen *gen, const led_state *state, uint64_t index, led_event *ev)
{
    led_order o;
    while (gen->candidate_count > 0) {
        uint32_t pick = (uint32_t)tk_rng_below(&gen->rng, gen->candidate_count);
        if (led_state_order_find(state, gen->candidates[pick], &o) == TK_OK) break;
        gen->candidates[pick] = gen->candidates[--gen->candidate_count]; /* closed: forget */
    }
    if (gen->candidate_count == 0) return false;
    uint64_t roll = tk_rng_below(&gen->rng, 100);
    if (o.state == LED_ORDER_ACCEPTED && roll < 45) {
        ev->type = LED_EV_ORDER_ACKED;
        ev->u.order_acked.order_index = o.index;
        snprintf(ev->u.order_acked.venue_order_id, LED_ID_BYTES, "v%llu",
                 (unsigned long long)o.index);
    } else if (o.state == LED_ORDER_ACCEPTED && roll >= 95) {
        ev->type = LED_EV_ORDER_REJECTED_BY_VENUE;
        ev->u.order_rejected_by_venue.order_index = o.index;
        ev->u.order_rejected_by_venue.code = -2010;
        snprintf(ev->u.order_rejected_by_venue.message, LED_TEXT_BYTES,
                 "Account has insufficient balance for requested action.");
    } else if (roll < 80 || (o.kind == LED_ORDER_MARKET && !o.cancel_requested)) {
        fill_event(gen, index, &o, ev);
    } else {
        cancel_event(&o, ev);
    }
    return true;
}

/* Undo a drill still in force (kill switch on, a breaker tripped, the strategy disabled), so
 * that drills stay short; false when there is none. */
static bool repair_event(const led_state *state, led_event *ev)
{
    led_account acct;
    led_state_account(state, &acct);
    if (acct.kill_switch) {
        ev->type = LED_EV_KILL_SWITCH_SET;
        snprintf(ev->u.kill_switch_set.reason, LED_TEXT_BYTES, "drill over");
        return true;
    }
    for (uint32_t i = 0; i < acct.instrument_count; i++) {
        led_instrument ins;
        led_state_instrument_at(state, i, &ins);
        if (!ins.breaker_tripped) continue;
        ev->type = LED_EV_CIRCUIT_BREAKER_SET;
        snprintf(ev->u.circuit_breaker_set.symbol, LED_SYMBOL_BYTES, "%s", ins.symbol);
        snprintf(ev->u.circuit_breaker_set.reason, LED_TEXT_BYTES, "drill over");
        return true;
    }
    for (uint32_t i = 0; i < acct.strategy_count; i++) {
        led_strategy strat;
        led_state_strategy_at(state, i, &strat);
        if (strat.enabled) continue;
        ev->type = LED_EV_STRATEGY_ENABLED;
        snprintf(ev->u.strategy_enabled.strategy, LED_NAME_BYTES, "%s", strat.name);
        ev->u.strategy_enabled.enabled = true;
        return true;
    }
    return false;
}

/* A rare event: a kill switch, breaker or strategy drill, feed health, a deposit or a new
 * leader term. */
static void rare_event(led_gen *gen, const led_state *state, led_event *ev)
{
    uint64_t roll = tk_rng_below(&gen->rng, 6);
    const char *symbol = symbols[tk_rng_below(&gen->rng, GEN_SYMBOLS)].symbol;
    if (roll == 0) {
        ev->type = LED_EV_KILL_SWITCH_SET;
        ev->u.kill_switch_set.on = true;
        snprintf(ev->u.kill_switch_set.reason, LED_TEXT_BYTES, "drill");
    } else if (roll == 1) {
        ev->type = LED_EV_CIRCUIT_BREAKER_SET;
        snprintf(ev->u.circuit_breaker_set.symbol, LED_SYMBOL_BYTES, "%s", symbol);
        ev->u.circuit_breaker_set.tripped = true;
        snprintf(ev->u.circuit_breaker_set.reason, LED_TEXT_BYTES, "volatility drill");
    } else if (roll == 2) {
        ev->type = LED_EV_FEED_HEALTH;
        snprintf(ev->u.feed_health.feed, LED_NAME_BYTES, "replay");
        snprintf(ev->u.feed_health.symbol, LED_SYMBOL_BYTES, "%s", symbol);
        ev->u.feed_health.status = (led_feed_status)tk_rng_below(&gen->rng, 3);
    } else if (roll == 3) {
        ev->type = LED_EV_STRATEGY_ENABLED;
        snprintf(ev->u.strategy_enabled.strategy, LED_NAME_BYTES, "gen");
        ev->u.strategy_enabled.enabled = false;
    } else if (roll == 4) {
        ev->type = LED_EV_BALANCE_ADJUSTED;
        snprintf(ev->u.balance_adjusted.asset, LED_ASSET_BYTES, "USDT");
        ev->u.balance_adjusted.delta_e8 = draw(gen, 1, 10000) * LED_SCALE;
        snprintf(ev->u.balance_adjusted.reason, LED_TEXT_BYTES, "deposit");
    } else {
        led_account acct;
        led_state_account(state, &acct);
        ev->type = LED_EV_LEADER_CHANGED;
        ev->u.leader_changed.term = acct.leader_term + 1u;
        snprintf(ev->u.leader_changed.node, LED_NAME_BYTES, "n%u",
                 (unsigned)tk_rng_below(&gen->rng, 3) + 1u);
    }
}

void led_gen_next(led_gen *gen, const led_state *state, uint64_t index, led_event *out)
{
    TK_ASSERT(gen != NULL && state != NULL && out != NULL);
    TK_ASSERT(index > 0);
    memset(out, 0, sizeof(*out));
    out->version = 1;
    out->ts_ns = GEN_START_NS + (int64_t)index * GEN_STEP_NS;
    uint64_t roll = tk_rng_below(&gen->rng, 1000);
    if (index <= GEN_SETUP) {
        setup_event(gen, index, out);
    } else if (index <= GEN_SETUP + GEN_SYMBOLS) {
        bar_event(gen, (uint32_t)(index - GEN_SETUP - 1u), out); /* a first mark for each */
    } else if (roll < 300) {
        bar_event(gen, (uint32_t)tk_rng_below(&gen->rng, GEN_SYMBOLS), out);
    } else if (roll < 950 && (roll < 550 || !lifecycle_event(gen, state, index, out))) {
        order_event(gen, index, out);
    } else if (roll >= 950 && roll < 995 && !repair_event(state, out)) {
        bar_event(gen, (uint32_t)tk_rng_below(&gen->rng, GEN_SYMBOLS), out);
    } else if (roll >= 995) {
        rare_event(gen, state, out);
    }
    /* One event in 20 past the setup carries an idempotency key from a pool of 3 * LED_KEYS_MAX,
     * so that streams repeat recent keys (refused) and reuse forgotten ones (applied). */
    if (index > GEN_SETUP + GEN_SYMBOLS && tk_rng_below(&gen->rng, 20) == 0)
        snprintf(out->key, sizeof(out->key), "gen-%llu",
                 (unsigned long long)tk_rng_below(&gen->rng, 3u * LED_KEYS_MAX));
    TK_ASSERT(led_event_check(out, NULL) == TK_OK);
}
