/* ledger/led_apply.c: the effect of every event type on the state (docs/ledger.md, "Apply"):
 * fills with their balances, fees, reservations and average-cost positions; the order state
 * machine with every illegal transition refused and nothing changed; external orders;
 * instruments, bars, balances, strategies, leaders; idempotence by index; the UTC day, peak and
 * start-of-day equity; valuation. Also the ledger driver and event builders that test_gate.c and
 * test_state.c share (ledger_tests.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "led.h"
#include "ledger_tests.h"
#include "tk_test.h"

/* ---- Shared driver and builders (ledger_tests.h) ------------------------------------------- */

/* What a test holds, so that a failing test (cmocka longjmps out of it) leaks nothing. */
#define TRACKED_MAX 16u
static led_state *tracked_states[TRACKED_MAX];
static void *tracked_blocks[TRACKED_MAX];

static void track(void **slots, void *p)
{
    for (unsigned i = 0; i < TRACKED_MAX; i++) {
        if (slots[i] == NULL) {
            slots[i] = p;
            return;
        }
    }
    fail_msg("test bug: more than %u states or blocks held at once", TRACKED_MAX);
}

static void untrack(void **slots, const void *p)
{
    for (unsigned i = 0; i < TRACKED_MAX; i++) {
        if (slots[i] == p) {
            slots[i] = NULL;
            return;
        }
    }
    fail_msg("test bug: releasing what is not held");
}

void lt_open(lt_ledger *l)
{
    memset(l, 0, sizeof(*l));
    assert_int_equal(led_state_open(&l->state), TK_OK);
    track((void **)tracked_states, l->state);
    l->ts_ns = LT_T0_NS;
}

void lt_close(lt_ledger *l)
{
    untrack((void **)tracked_states, l->state);
    led_state_close(l->state);
    l->state = NULL;
}

void *lt_malloc(size_t size)
{
    void *block = malloc(size);
    assert_non_null(block);
    track(tracked_blocks, block);
    return block;
}

void lt_free(void *block)
{
    untrack(tracked_blocks, block);
    free(block);
}

int lt_teardown(void **unused)
{
    (void)unused;
    for (unsigned i = 0; i < TRACKED_MAX; i++) {
        led_state_close(tracked_states[i]);
        tracked_states[i] = NULL;
        free(tracked_blocks[i]);
        tracked_blocks[i] = NULL;
    }
    return 0;
}

led_result lt_apply(lt_ledger *l, led_event ev)
{
    ev.ts_ns = l->ts_ns;
    led_event_error why = {{0}, NULL};
    if (led_event_check(&ev, &why) != TK_OK) {
        fail_msg("test bug: invalid %s event: %s: %s", led_event_type_name(ev.type), why.field,
                 why.reason);
    }
    l->index++;
    led_apply(l->state, l->index, &ev, &l->out);
    l->ts_ns += 1000000; /* 1 ms */
    return l->out.result;
}

void lt_apply_ok(lt_ledger *l, led_event ev)
{
    led_result result = lt_apply(l, ev);
    if (result != LED_APPLIED) {
        fail_msg("event %llu (%s): %s (%s): %s", (unsigned long long)l->index,
                 led_event_type_name(ev.type), led_result_name(result), led_rule_id(l->out.rule),
                 l->out.detail);
    }
}

led_account lt_account(const lt_ledger *l)
{
    led_account a;
    led_state_account(l->state, &a);
    return a;
}

led_instrument lt_instrument(const lt_ledger *l, const char *symbol)
{
    led_account a = lt_account(l);
    led_instrument ins;
    memset(&ins, 0, sizeof(ins));
    for (uint32_t i = 0; i < a.instrument_count; i++) {
        led_state_instrument_at(l->state, i, &ins);
        if (strcmp(ins.symbol, symbol) == 0) return ins;
    }
    fail_msg("no instrument %s", symbol);
    return ins;
}

led_balance lt_balance(const lt_ledger *l, const char *asset)
{
    led_account a = lt_account(l);
    led_balance bal;
    memset(&bal, 0, sizeof(bal));
    for (uint32_t i = 0; i < a.asset_count; i++) {
        led_state_balance_at(l->state, i, &bal);
        if (strcmp(bal.asset, asset) == 0) return bal;
    }
    fail_msg("no balance %s", asset);
    return bal;
}

led_order lt_order(const lt_ledger *l, uint64_t order_index)
{
    led_order o;
    memset(&o, 0, sizeof(o));
    tk_err err = led_state_order_find(l->state, order_index, &o);
    if (err != TK_OK) fail_msg("order %llu is not open", (unsigned long long)order_index);
    return o;
}

bool lt_order_is_open(const lt_ledger *l, uint64_t order_index)
{
    led_order o;
    return led_state_order_find(l->state, order_index, &o) == TK_OK;
}

int64_t lt_dec(const char *text)
{
    int64_t value = 0;
    led_parse_error why = {0, NULL};
    if (led_parse(text, strlen(text), &value, &why) != TK_OK) {
        fail_msg("test bug: \"%s\" is not a decimal: %s", text, why.reason);
    }
    return value;
}

led_limits lt_limits_loose(void)
{
    return (led_limits){
        .max_order_notional_e8 = INT64_MAX,
        .max_position_notional_e8 = INT64_MAX,
        .max_position_equity_bps = 10000,
        .max_gross_exposure_e8 = INT64_MAX,
        .max_open_orders = LED_ORDERS_OPEN_MAX,
        .price_band_bps = 10000,
        .daily_loss_bps = 10000,
        .max_drawdown_bps = 10000,
    };
}

static led_event ev_new(led_event_type type)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.version = 1;
    ev.ts_ns = LT_T0_NS;
    return ev;
}

static void set_text(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len >= size) fail_msg("test bug: \"%s\" does not fit %zu bytes", src, size);
    memcpy(dst, src, len + 1u);
}

#define SET_TEXT(dst, src) set_text((dst), sizeof(dst), (src))

led_event lt_ev_instrument(const char *symbol, const char *base, const char *quote, int64_t tick_e8,
                           int64_t lot_e8, int64_t min_notional_e8)
{
    led_event ev = ev_new(LED_EV_INSTRUMENT_DEFINED);
    SET_TEXT(ev.u.instrument_defined.symbol, symbol);
    SET_TEXT(ev.u.instrument_defined.base, base);
    SET_TEXT(ev.u.instrument_defined.quote, quote);
    ev.u.instrument_defined.tick_e8 = tick_e8;
    ev.u.instrument_defined.lot_e8 = lot_e8;
    ev.u.instrument_defined.min_notional_e8 = min_notional_e8;
    return ev;
}

led_event lt_ev_bar(const char *symbol, int64_t close_e8)
{
    led_event ev = ev_new(LED_EV_BAR_CLOSED);
    SET_TEXT(ev.u.bar_closed.symbol, symbol);
    ev.u.bar_closed.open_ts_ns = LT_T0_NS - 60000000000LL;
    ev.u.bar_closed.interval_s = 60;
    ev.u.bar_closed.open_e8 = close_e8;
    ev.u.bar_closed.high_e8 = close_e8;
    ev.u.bar_closed.low_e8 = close_e8;
    ev.u.bar_closed.close_e8 = close_e8;
    ev.u.bar_closed.volume_e8 = LED_SCALE;
    return ev;
}

led_event lt_ev_order(const char *symbol, led_side side, led_order_kind kind, int64_t qty_e8,
                      int64_t price_e8)
{
    led_event ev = ev_new(LED_EV_ORDER_REQUESTED);
    SET_TEXT(ev.u.order_requested.symbol, symbol);
    SET_TEXT(ev.u.order_requested.strategy, "s1");
    ev.u.order_requested.side = side;
    ev.u.order_requested.kind = kind;
    ev.u.order_requested.qty_e8 = qty_e8;
    ev.u.order_requested.price_e8 = price_e8;
    return ev;
}

led_event lt_ev_ack(uint64_t order_index, const char *venue_order_id)
{
    led_event ev = ev_new(LED_EV_ORDER_ACKED);
    ev.u.order_acked.order_index = order_index;
    SET_TEXT(ev.u.order_acked.venue_order_id, venue_order_id);
    return ev;
}

led_event lt_ev_fill(uint64_t order_index, int64_t qty_e8, int64_t price_e8, int64_t fee_e8,
                     const char *fee_asset)
{
    led_event ev = ev_new(LED_EV_ORDER_FILLED);
    ev.u.order_filled.order_index = order_index;
    snprintf(ev.u.order_filled.fill_id, sizeof(ev.u.order_filled.fill_id), "f%llu",
             (unsigned long long)order_index);
    ev.u.order_filled.qty_e8 = qty_e8;
    ev.u.order_filled.price_e8 = price_e8;
    ev.u.order_filled.fee_e8 = fee_e8;
    SET_TEXT(ev.u.order_filled.fee_asset, fee_asset);
    return ev;
}

led_event lt_ev_venue_reject(uint64_t order_index)
{
    led_event ev = ev_new(LED_EV_ORDER_REJECTED_BY_VENUE);
    ev.u.order_rejected_by_venue.order_index = order_index;
    ev.u.order_rejected_by_venue.code = -2010;
    SET_TEXT(ev.u.order_rejected_by_venue.message, "insufficient margin");
    return ev;
}

led_event lt_ev_cancel_request(uint64_t order_index)
{
    led_event ev = ev_new(LED_EV_ORDER_CANCEL_REQUESTED);
    ev.u.order_cancel_requested.order_index = order_index;
    return ev;
}

led_event lt_ev_cancelled(uint64_t order_index)
{
    led_event ev = ev_new(LED_EV_ORDER_CANCELLED);
    ev.u.order_cancelled.order_index = order_index;
    SET_TEXT(ev.u.order_cancelled.reason, "user");
    return ev;
}

led_event lt_ev_external(const char *client_order_id, const char *symbol, led_side side,
                         led_order_kind kind, int64_t qty_e8, int64_t price_e8,
                         int64_t filled_qty_e8)
{
    led_event ev = ev_new(LED_EV_EXTERNAL_ORDER_ADOPTED);
    SET_TEXT(ev.u.external_order_adopted.client_order_id, client_order_id);
    SET_TEXT(ev.u.external_order_adopted.symbol, symbol);
    ev.u.external_order_adopted.side = side;
    ev.u.external_order_adopted.kind = kind;
    ev.u.external_order_adopted.qty_e8 = qty_e8;
    ev.u.external_order_adopted.price_e8 = price_e8;
    ev.u.external_order_adopted.filled_qty_e8 = filled_qty_e8;
    return ev;
}

led_event lt_ev_limits(const led_limits *limits)
{
    led_event ev = ev_new(LED_EV_RISK_LIMITS_SET);
    ev.u.risk_limits_set = (struct led_ev_risk_limits_set){
        .max_order_notional_e8 = limits->max_order_notional_e8,
        .max_position_notional_e8 = limits->max_position_notional_e8,
        .max_position_equity_bps = limits->max_position_equity_bps,
        .max_gross_exposure_e8 = limits->max_gross_exposure_e8,
        .max_open_orders = limits->max_open_orders,
        .price_band_bps = limits->price_band_bps,
        .daily_loss_bps = limits->daily_loss_bps,
        .max_drawdown_bps = limits->max_drawdown_bps,
    };
    return ev;
}

led_event lt_ev_kill(bool on, const char *reason)
{
    led_event ev = ev_new(LED_EV_KILL_SWITCH_SET);
    ev.u.kill_switch_set.on = on;
    SET_TEXT(ev.u.kill_switch_set.reason, reason);
    return ev;
}

led_event lt_ev_breaker(const char *symbol, bool tripped)
{
    led_event ev = ev_new(LED_EV_CIRCUIT_BREAKER_SET);
    SET_TEXT(ev.u.circuit_breaker_set.symbol, symbol);
    ev.u.circuit_breaker_set.tripped = tripped;
    SET_TEXT(ev.u.circuit_breaker_set.reason, tripped ? "halted" : "");
    return ev;
}

led_event lt_ev_feed(const char *symbol, led_feed_status status)
{
    led_event ev = ev_new(LED_EV_FEED_HEALTH);
    SET_TEXT(ev.u.feed_health.feed, "binance");
    SET_TEXT(ev.u.feed_health.symbol, symbol);
    ev.u.feed_health.status = status;
    return ev;
}

led_event lt_ev_strategy(const char *name, bool enabled)
{
    led_event ev = ev_new(LED_EV_STRATEGY_ENABLED);
    SET_TEXT(ev.u.strategy_enabled.strategy, name);
    ev.u.strategy_enabled.enabled = enabled;
    return ev;
}

led_event lt_ev_balance(const char *asset, int64_t delta_e8)
{
    led_event ev = ev_new(LED_EV_BALANCE_ADJUSTED);
    SET_TEXT(ev.u.balance_adjusted.asset, asset);
    ev.u.balance_adjusted.delta_e8 = delta_e8;
    SET_TEXT(ev.u.balance_adjusted.reason, delta_e8 > 0 ? "deposit" : "withdrawal");
    return ev;
}

led_event lt_ev_leader(uint64_t term, const char *node)
{
    led_event ev = ev_new(LED_EV_LEADER_CHANGED);
    ev.u.leader_changed.term = term;
    SET_TEXT(ev.u.leader_changed.node, node);
    return ev;
}

void lt_market_btc(lt_ledger *l, int64_t usdt_e8)
{
    lt_apply_ok(l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", lt_dec("0.01"), lt_dec("0.001"),
                                    lt_dec("10")));
    if (usdt_e8 != 0) lt_apply_ok(l, lt_ev_balance("USDT", usdt_e8));
    lt_apply_ok(l, lt_ev_bar("BTCUSDT", lt_dec("50000")));
}

/* ---- This file's helpers --------------------------------------------------------------------- */

#define D(text) lt_dec(text)

/* Fail unless got == want, printing both as decimals and the caller's line. */
#define EXPECT_DEC(got, want) expect_dec((got), (want), #got, __LINE__)

static void expect_dec(int64_t got, int64_t want, const char *what, int line)
{
    if (got == want) return;
    char g[LED_DECIMAL_BYTES_MAX];
    char w[LED_DECIMAL_BYTES_MAX];
    (void)led_format(got, g, sizeof(g));
    (void)led_format(want, w, sizeof(w));
    fail_msg("line %d: %s is %s, want %s", line, what, g, w);
}

/* A market in BTCUSDT at 50000 with 1,000,000 USDT, 1 BTC, and limits that bind nothing. */
static void btc_loose(lt_ledger *l)
{
    lt_market_btc(l, D("1000000"));
    lt_apply_ok(l, lt_ev_balance("BTC", D("1")));
    led_limits loose = lt_limits_loose();
    lt_apply_ok(l, lt_ev_limits(&loose));
}

/* Request an order that must be accepted; its index. */
static uint64_t place(lt_ledger *l, led_side side, led_order_kind kind, const char *qty,
                      const char *price)
{
    lt_apply_ok(l, lt_ev_order("BTCUSDT", side, kind, D(qty), price == NULL ? 0 : D(price)));
    if (l->out.rule != LED_RULE_NONE) fail_msg("order rejected: %s", l->out.detail);
    return l->index;
}

static void hash_of(const lt_ledger *l, uint8_t out[LED_HASH_BYTES])
{
    led_state_hash(l->state, out);
}

/* ---- Fills ----------------------------------------------------------------------------------- */

static void test_fill_buy_partial_then_full(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    uint64_t o = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "50000");
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("5000"));
    lt_apply_ok(&l, lt_ev_fill(o, D("0.04"), D("49000"), D("0.5"), "USDT"));
    led_balance usdt = lt_balance(&l, "USDT");
    EXPECT_DEC(usdt.total_e8, D("998039.5")); /* 1,000,000 - 1960 - 0.5 fee */
    EXPECT_DEC(usdt.reserved_e8, D("3000"));  /* shrunk to 0.06 at the limit */
    EXPECT_DEC(usdt.fees_e8, D("0.5"));
    EXPECT_DEC(lt_balance(&l, "BTC").total_e8, D("1.04"));
    led_order order = lt_order(&l, o);
    assert_int_equal(order.state, LED_ORDER_PARTIALLY_FILLED);
    EXPECT_DEC(order.filled_qty_e8, D("0.04"));
    EXPECT_DEC(order.reserved_e8, D("3000"));
    led_instrument ins = lt_instrument(&l, "BTCUSDT");
    EXPECT_DEC(ins.open_buy_e8, D("0.06"));
    EXPECT_DEC(ins.position_e8, D("0.04"));
    EXPECT_DEC(ins.avg_entry_e8, D("49000"));
    EXPECT_DEC(ins.realized_pnl_e8, 0);

    lt_apply_ok(&l, lt_ev_fill(o, D("0.06"), D("50000"), D("0.0001"), "BTC"));
    usdt = lt_balance(&l, "USDT");
    EXPECT_DEC(usdt.total_e8, D("995039.5"));
    EXPECT_DEC(usdt.reserved_e8, 0); /* released with the order */
    EXPECT_DEC(usdt.fees_e8, D("0.5"));
    led_balance btc = lt_balance(&l, "BTC");
    EXPECT_DEC(btc.total_e8, D("1.0999")); /* + 0.06 - 0.0001 fee */
    EXPECT_DEC(btc.fees_e8, D("0.0001"));
    assert_false(lt_order_is_open(&l, o));
    ins = lt_instrument(&l, "BTCUSDT");
    EXPECT_DEC(ins.open_buy_e8, 0);
    EXPECT_DEC(ins.position_e8, D("0.1"));
    EXPECT_DEC(ins.avg_entry_e8, D("49600")); /* (0.04 * 49000 + 0.06 * 50000) / 0.1 */
    led_account a = lt_account(&l);
    assert_int_equal(a.open_order_count, 0);
    EXPECT_DEC(a.equity_e8, D("1050034.5")); /* 995039.5 + 1.0999 * 50000 */
    lt_close(&l);
}

/* A fill's quote amount is price * qty rounded half-even (ties to the even neighbour). */
static void test_fill_rounds_half_even(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    uint64_t o = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.003", "50000");
    int64_t before = lt_balance(&l, "USDT").total_e8;
    lt_apply_ok(&l, lt_ev_fill(o, D("0.001"), D("12345.678915"), 0, "USDT")); /* ...891.5 */
    EXPECT_DEC(lt_balance(&l, "USDT").total_e8, before - D("12.34567892"));
    before = lt_balance(&l, "USDT").total_e8;
    lt_apply_ok(&l, lt_ev_fill(o, D("0.001"), D("12345.678925"), 0, "USDT")); /* ...892.5 */
    EXPECT_DEC(lt_balance(&l, "USDT").total_e8, before - D("12.34567892"));
    before = lt_balance(&l, "USDT").total_e8;
    lt_apply_ok(&l, lt_ev_fill(o, D("0.001"), D("12345.678935"), 0, "USDT")); /* ...893.5 */
    EXPECT_DEC(lt_balance(&l, "USDT").total_e8, before - D("12.34567894"));
    lt_close(&l);
}

/* Long 0.1 at an average 49600, built by two fills. */
static void long_at_49600(lt_ledger *l)
{
    btc_loose(l);
    uint64_t o = place(l, LED_SIDE_BUY, LED_ORDER_MARKET, "0.1", NULL);
    lt_apply_ok(l, lt_ev_fill(o, D("0.04"), D("49000"), 0, "USDT"));
    lt_apply_ok(l, lt_ev_fill(o, D("0.06"), D("50000"), 0, "USDT"));
}

#define EXPECT_POSITION(l, pos, entry, pnl)                  \
    do {                                                     \
        led_instrument ins_ = lt_instrument((l), "BTCUSDT"); \
        EXPECT_DEC(ins_.position_e8, D(pos));                \
        EXPECT_DEC(ins_.avg_entry_e8, D(entry));             \
        EXPECT_DEC(ins_.realized_pnl_e8, D(pnl));            \
    } while (0)

static void test_fill_sell_reserves_and_realizes(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    long_at_49600(&l);
    EXPECT_POSITION(&l, "0.1", "49600", "0");
    int64_t usdt = lt_balance(&l, "USDT").total_e8;
    uint64_t o = place(&l, LED_SIDE_SELL, LED_ORDER_LIMIT, "0.08", "51000");
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, D("0.08")); /* a sell holds base */
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_sell_e8, D("0.08"));
    lt_apply_ok(&l, lt_ev_fill(o, D("0.05"), D("51000"), D("0.2"), "USDT"));
    EXPECT_DEC(lt_balance(&l, "USDT").total_e8, usdt + D("2550") - D("0.2"));
    EXPECT_DEC(lt_balance(&l, "BTC").total_e8, D("1.05"));
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, D("0.03"));
    EXPECT_DEC(lt_order(&l, o).reserved_e8, D("0.03"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_sell_e8, D("0.03"));
    /* (51000 - 49600) * 0.05 realized, fees excluded; the entry stays */
    EXPECT_POSITION(&l, "0.05", "49600", "70");
    lt_apply_ok(&l, lt_ev_cancelled(o));
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, 0);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_sell_e8, 0);
    lt_close(&l);
}

/* Through flat into a short, the short's PnL sign, back to flat, and open again from flat. */
static void test_fill_flip_through_flat_and_short(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    long_at_49600(&l);
    uint64_t o = place(&l, LED_SIDE_SELL, LED_ORDER_MARKET, "0.2", NULL);
    lt_apply_ok(&l, lt_ev_fill(o, D("0.15"), D("52000"), 0, "USDT"));
    /* 0.1 closed at +2400 each, the other 0.05 opens a short at the fill price */
    EXPECT_POSITION(&l, "-0.05", "52000", "240");
    lt_apply_ok(&l, lt_ev_fill(o, D("0.05"), D("52100"), 0, "USDT"));
    EXPECT_POSITION(&l, "-0.1", "52050", "240"); /* averaged into the short */
    o = place(&l, LED_SIDE_BUY, LED_ORDER_MARKET, "0.1", NULL);
    lt_apply_ok(&l, lt_ev_fill(o, D("0.04"), D("51050"), 0, "USDT"));
    EXPECT_POSITION(&l, "-0.06", "52050", "280"); /* a short gains as the price falls */
    lt_apply_ok(&l, lt_ev_fill(o, D("0.06"), D("53050"), 0, "USDT"));
    EXPECT_POSITION(&l, "0", "0", "220"); /* and loses as it rises: flat, no entry */
    o = place(&l, LED_SIDE_BUY, LED_ORDER_MARKET, "0.02", NULL);
    lt_apply_ok(&l, lt_ev_fill(o, D("0.02"), D("50000"), 0, "USDT"));
    EXPECT_POSITION(&l, "0.02", "50000", "220");
    o = place(&l, LED_SIDE_SELL, LED_ORDER_MARKET, "0.05", NULL);
    lt_apply_ok(&l, lt_ev_fill(o, D("0.05"), D("49000"), 0, "USDT")); /* flip long -> short */
    EXPECT_POSITION(&l, "-0.03", "49000", "200");
    lt_close(&l);
}

/* ---- Refusals change nothing ----------------------------------------------------------------- */

/* Prefixes: a market and one order (whose index they return) in some state. */
static uint64_t p_accepted(lt_ledger *l)
{
    btc_loose(l);
    return place(l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "50000");
}

static uint64_t p_acked(lt_ledger *l)
{
    uint64_t o = p_accepted(l);
    lt_apply_ok(l, lt_ev_ack(o, "V-1"));
    return o;
}

static uint64_t p_partial(lt_ledger *l)
{
    uint64_t o = p_acked(l);
    lt_apply_ok(l, lt_ev_fill(o, D("0.04"), D("50000"), D("0.1"), "USDT"));
    return o;
}

static uint64_t p_filled(lt_ledger *l)
{
    uint64_t o = p_partial(l);
    lt_apply_ok(l, lt_ev_fill(o, D("0.06"), D("50000"), D("0.1"), "USDT"));
    return o;
}

static uint64_t p_cancelled(lt_ledger *l)
{
    uint64_t o = p_acked(l);
    lt_apply_ok(l, lt_ev_cancel_request(o));
    lt_apply_ok(l, lt_ev_cancelled(o));
    return o;
}

static uint64_t p_venue_rejected(lt_ledger *l)
{
    uint64_t o = p_accepted(l);
    lt_apply_ok(l, lt_ev_venue_reject(o));
    return o;
}

static uint64_t p_gate_rejected(lt_ledger *l)
{
    btc_loose(l);
    assert_int_equal(lt_apply(l, lt_ev_order("BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.1"),
                                             D("50000.001"))),
                     LED_REJECTED);
    return l->index;
}

static uint64_t p_usdt_max(lt_ledger *l)
{
    lt_apply_ok(l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", 1, 1, 0));
    lt_apply_ok(l, lt_ev_balance("USDT", INT64_MAX));
    lt_apply_ok(l, lt_ev_bar("BTCUSDT", D("50000")));
    return 0;
}

static uint64_t p_strategies_full(lt_ledger *l)
{
    btc_loose(l);
    for (unsigned i = 0; i < LED_STRATEGIES_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "st%u", i);
        lt_apply_ok(l, lt_ev_strategy(name, i % 2u == 0));
    }
    return 0;
}

static uint64_t p_leader_5(lt_ledger *l)
{
    btc_loose(l);
    lt_apply_ok(l, lt_ev_leader(5, "node-a"));
    return 0;
}

static uint64_t p_external(lt_ledger *l)
{
    btc_loose(l);
    lt_apply_ok(l, lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.2"),
                                  D("48000"), 0));
    return l->index;
}

/* The bad events, for the order a prefix returned. */
static led_event b_ack(uint64_t o)
{
    return lt_ev_ack(o, "V-2");
}

static led_event b_fill(uint64_t o)
{
    return lt_ev_fill(o, D("0.001"), D("50000"), 0, "USDT");
}

static led_event b_fill_above(uint64_t o)
{
    return lt_ev_fill(o, D("0.06000001"), D("50000"), 0, "USDT");
}

static led_event b_fill_above_all(uint64_t o)
{
    return lt_ev_fill(o, D("0.10000001"), D("50000"), 0, "USDT");
}

static led_event b_venue_reject(uint64_t o)
{
    return lt_ev_venue_reject(o);
}

static led_event b_cancel_request(uint64_t o)
{
    return lt_ev_cancel_request(o);
}

static led_event b_cancelled(uint64_t o)
{
    return lt_ev_cancelled(o);
}

static led_event b_bar_unknown(uint64_t o)
{
    (void)o;
    return lt_ev_bar("ETHUSDT", D("2500"));
}

static led_event b_breaker_unknown(uint64_t o)
{
    (void)o;
    return lt_ev_breaker("ETHUSDT", true);
}

static led_event b_feed_unknown(uint64_t o)
{
    (void)o;
    return lt_ev_feed("ETHUSDT", LED_FEED_GAP);
}

static led_event b_redefine_other_quote(uint64_t o)
{
    (void)o;
    return lt_ev_instrument("BTCUSDT", "BTC", "USDC", 1, 1, 0);
}

static led_event b_redefine_other_base(uint64_t o)
{
    (void)o;
    return lt_ev_instrument("BTCUSDT", "XBT", "USDT", 1, 1, 0);
}

static led_event b_usdt_plus_1(uint64_t o)
{
    (void)o;
    return lt_ev_balance("USDT", 1);
}

static led_event b_btc_deposit(uint64_t o)
{
    (void)o;
    return lt_ev_balance("BTC", D("1"));
}

static led_event b_new_strategy(uint64_t o)
{
    (void)o;
    return lt_ev_strategy("one-too-many", true);
}

static led_event b_leader_4(uint64_t o)
{
    (void)o;
    return lt_ev_leader(4, "node-b");
}

static led_event b_external_again(uint64_t o)
{
    (void)o;
    return lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_SELL, LED_ORDER_MARKET, D("0.1"), 0, 0);
}

static led_event b_external_unknown(uint64_t o)
{
    (void)o;
    return lt_ev_external("ext-2", "ETHUSDT", LED_SIDE_BUY, LED_ORDER_MARKET, D("0.1"), 0, 0);
}

static led_event b_limits_above_capacity(uint64_t o)
{
    (void)o;
    led_limits limits = lt_limits_loose();
    limits.max_open_orders = (int64_t)LED_ORDERS_OPEN_MAX + 1;
    return lt_ev_limits(&limits);
}

typedef struct refusal {
    uint64_t (*prefix)(lt_ledger *l);
    led_event (*bad)(uint64_t order_index);
    const char *why; /* a part of the detail */
} refusal;

static const refusal refusals[] = {
    {p_acked, b_ack, "acked already"},
    {p_partial, b_venue_reject, "the venue already filled part"},
    {p_partial, b_fill_above, "above the 6000000 remaining"},
    {p_accepted, b_fill_above_all, "a fill of 10000001"},
    {p_filled, b_ack, "is not open"},
    {p_filled, b_fill, "is not open"},
    {p_filled, b_venue_reject, "is not open"},
    {p_filled, b_cancel_request, "is not open"},
    {p_filled, b_cancelled, "is not open"},
    {p_cancelled, b_ack, "is not open"},
    {p_cancelled, b_fill, "is not open"},
    {p_cancelled, b_venue_reject, "is not open"},
    {p_cancelled, b_cancel_request, "is not open"},
    {p_cancelled, b_cancelled, "is not open"},
    {p_venue_rejected, b_ack, "is not open"},
    {p_venue_rejected, b_fill, "is not open"},
    {p_venue_rejected, b_venue_reject, "is not open"},
    {p_venue_rejected, b_cancel_request, "is not open"},
    {p_venue_rejected, b_cancelled, "is not open"},
    {p_gate_rejected, b_ack, "is not open"},
    {p_gate_rejected, b_fill, "is not open"},
    {p_gate_rejected, b_venue_reject, "is not open"},
    {p_gate_rejected, b_cancel_request, "is not open"},
    {p_gate_rejected, b_cancelled, "is not open"},
    {p_accepted, b_bar_unknown, "ETHUSDT"},
    {p_accepted, b_breaker_unknown, "ETHUSDT"},
    {p_accepted, b_feed_unknown, "ETHUSDT"},
    {p_accepted, b_redefine_other_quote, "BTC/USDT"},
    {p_accepted, b_redefine_other_base, "BTC/USDT"},
    {p_usdt_max, b_usdt_plus_1, "USDT balance overflows"},
    {p_usdt_max, b_btc_deposit, "equity overflows"},
    {p_strategies_full, b_new_strategy, "64"},
    {p_leader_5, b_leader_4, "term 4 is older than the current 5"},
    {p_external, b_external_again, "ext-1"},
    {p_external, b_external_unknown, "ETHUSDT"},
    {p_accepted, b_limits_above_capacity, "4097"},
};

/* Each refusal, applied after its prefix, is refused with a detail that says why, and leaves a
 * state that hashes like the same prefix followed by a refusal that has nothing to change (a
 * cancel request for an order that never existed): nothing moved but the last index, the event
 * time and the refusal count. */
static void test_refusals_change_nothing(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        lt_ledger bad;
        lt_ledger control;
        lt_open(&bad);
        lt_open(&control);
        uint64_t o = refusals[i].prefix(&bad);
        (void)refusals[i].prefix(&control);
        led_account before = lt_account(&bad);
        led_event ev = refusals[i].bad(o);
        if (lt_apply(&bad, ev) != LED_REFUSED) {
            fail_msg("refusal %zu (%s): %s: %s", i, led_event_type_name(ev.type),
                     led_result_name(bad.out.result), bad.out.detail);
        }
        assert_int_equal(bad.out.rule, LED_RULE_NONE);
        if (strstr(bad.out.detail, refusals[i].why) == NULL)
            fail_msg("refusal %zu: detail \"%s\" lacks \"%s\"", i, bad.out.detail, refusals[i].why);
        assert_int_equal(lt_apply(&control, lt_ev_cancel_request(999999)), LED_REFUSED);
        uint8_t h_bad[LED_HASH_BYTES];
        uint8_t h_control[LED_HASH_BYTES];
        hash_of(&bad, h_bad);
        hash_of(&control, h_control);
        if (memcmp(h_bad, h_control, LED_HASH_BYTES) != 0)
            fail_msg("refusal %zu (%s) changed the state", i, bad.out.detail);
        led_account after = lt_account(&bad);
        assert_int_equal(after.events_refused, before.events_refused + 1u);
        assert_int_equal(after.events_applied, before.events_applied);
        assert_int_equal(after.last_index, bad.index);
        assert_int_equal(after.last_ts_ns, bad.ts_ns - 1000000);
        lt_close(&bad);
        lt_close(&control);
    }
}

/* ---- Idempotency keys --------------------------------------------------------------------------
 */

static led_event with_key(led_event ev, const char *key)
{
    snprintf(ev.key, sizeof(ev.key), "%s", key);
    return ev;
}

/* A repeated key is refused with the first event's index and decision, changes nothing else
 * (the same hash as a control that saw an unkeyed refusal), and the first decision stands
 * whatever it was: applied, rejected or refused. */
static void test_key_repeat_refused_with_first_decision(void **unused)
{
    (void)unused;
    lt_ledger l, control;
    lt_open(&l);
    lt_open(&control);
    btc_loose(&l);
    btc_loose(&control);
    led_event buy = lt_ev_order("BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.1"), D("50000"));
    lt_apply_ok(&l, with_key(buy, "ord-1"));
    lt_apply_ok(&control, with_key(buy, "ord-1"));
    uint64_t first = l.index;
    led_event bad_tick =
        lt_ev_order("BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.1"), D("50000.001"));
    assert_int_equal(lt_apply(&l, with_key(bad_tick, "ord-2")), LED_REJECTED);
    assert_int_equal(lt_apply(&control, with_key(bad_tick, "ord-2")), LED_REJECTED);
    assert_int_equal(lt_apply(&l, with_key(lt_ev_cancel_request(999999), "ord-3")), LED_REFUSED);
    assert_int_equal(lt_apply(&control, with_key(lt_ev_cancel_request(999999), "ord-3")),
                     LED_REFUSED);
    const struct {
        const char *key;
        uint64_t index;
        led_result result;
        led_rule rule;
    } firsts[] = {{"ord-1", first, LED_APPLIED, LED_RULE_NONE},
                  {"ord-2", first + 1u, LED_REJECTED, LED_RULE_TICK_SIZE},
                  {"ord-3", first + 2u, LED_REFUSED, LED_RULE_NONE}};
    for (size_t i = 0; i < 3; i++) {
        led_account before = lt_account(&l);
        /* the retry carries other fields: the key alone decides */
        assert_int_equal(lt_apply(&l, with_key(buy, firsts[i].key)), LED_REFUSED);
        assert_int_equal(l.out.duplicate_of, firsts[i].index);
        assert_int_equal(l.out.original_result, firsts[i].result);
        assert_int_equal(l.out.original_rule, firsts[i].rule);
        assert_int_equal(l.out.rule, LED_RULE_NONE);
        assert_non_null(strstr(l.out.detail, firsts[i].key));
        led_account after = lt_account(&l);
        assert_int_equal(after.open_order_count, before.open_order_count);
        assert_int_equal(after.events_refused, before.events_refused + 1u);
        assert_int_equal(lt_apply(&control, lt_ev_cancel_request(999999)), LED_REFUSED);
        assert_int_equal(control.out.duplicate_of, 0);
        uint8_t h[LED_HASH_BYTES], h_control[LED_HASH_BYTES];
        hash_of(&l, h);
        hash_of(&control, h_control);
        assert_memory_equal(h, h_control, LED_HASH_BYTES);
    }
    lt_close(&l);
    lt_close(&control);
}

/* The ledger remembers the last LED_KEYS_MAX keys: the oldest is forgotten (a retry of it
 * applies again), every younger one is still refused, and the ring encodes and decodes to the
 * same hash at every fill level on the way, wrap-around included. */
static void test_keys_forget_the_oldest(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    led_state *copy = NULL;
    assert_int_equal(led_state_open(&copy), TK_OK);
    uint8_t *bytes = lt_malloc(led_state_encoded_size_max());
    char key[LED_KEY_BYTES];
    for (uint32_t i = 0; i < LED_KEYS_MAX + 5u; i++) {
        snprintf(key, sizeof(key), "k-%u", i);
        lt_apply_ok(&l, with_key(lt_ev_kill(false, "drill"), key));
        if (i % 97u == 0 || i >= LED_KEYS_MAX - 2u) {
            size_t size = 0;
            assert_int_equal(led_state_encode(l.state, bytes, led_state_encoded_size_max(), &size),
                             TK_OK);
            assert_int_equal(led_state_decode(copy, bytes, size, NULL), TK_OK);
            uint8_t h[LED_HASH_BYTES], h_copy[LED_HASH_BYTES];
            led_state_hash(l.state, h);
            led_state_hash(copy, h_copy);
            assert_memory_equal(h, h_copy, LED_HASH_BYTES);
        }
    }
    for (uint32_t i = 0; i < 5u; i++) { /* forgotten: they apply again */
        snprintf(key, sizeof(key), "k-%u", i);
        lt_apply_ok(&l, with_key(lt_ev_kill(false, "drill"), key));
    }
    for (uint32_t i = 10u; i < LED_KEYS_MAX + 5u; i += 37u) { /* remembered: refused */
        snprintf(key, sizeof(key), "k-%u", i);
        assert_int_equal(lt_apply(&l, with_key(lt_ev_kill(false, "drill"), key)), LED_REFUSED);
        assert_int_equal(l.out.duplicate_of, i + 1u);
    }
    for (uint32_t i = 0; i < 5u; i++) { /* and the re-applied ones are remembered anew */
        snprintf(key, sizeof(key), "k-%u", i);
        assert_int_equal(lt_apply(&l, with_key(lt_ev_kill(false, "drill"), key)), LED_REFUSED);
    }
    lt_free(bytes);
    led_state_close(copy);
    lt_close(&l);
}

/* ---- The order life cycle -------------------------------------------------------------------- */

static void test_late_ack_and_fill_before_ack(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    uint64_t o = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "50000");
    assert_int_equal(lt_order(&l, o).state, LED_ORDER_ACCEPTED);
    lt_apply_ok(&l, lt_ev_fill(o, D("0.04"), D("50000"), 0, "USDT")); /* before any ack */
    assert_int_equal(lt_order(&l, o).state, LED_ORDER_PARTIALLY_FILLED);
    lt_apply_ok(&l, lt_ev_ack(o, "V-77")); /* late: the id only */
    led_order order = lt_order(&l, o);
    assert_int_equal(order.state, LED_ORDER_PARTIALLY_FILLED);
    assert_string_equal(order.venue_order_id, "V-77");
    lt_apply_ok(&l, lt_ev_fill(o, D("0.06"), D("50000"), 0, "USDT"));
    assert_false(lt_order_is_open(&l, o));
    uint64_t p = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "50000");
    lt_apply_ok(&l, lt_ev_fill(p, D("0.1"), D("50000"), 0, "USDT")); /* accepted -> filled */
    assert_false(lt_order_is_open(&l, p));
    uint64_t q = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "50000");
    lt_apply_ok(&l, lt_ev_ack(q, "V-78"));
    order = lt_order(&l, q);
    assert_int_equal(order.state, LED_ORDER_ACKED);
    assert_string_equal(order.venue_order_id, "V-78");
    assert_int_equal(lt_account(&l).open_order_count, 1);
    lt_close(&l);
}

static void test_cancel_request_and_cancel(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    uint64_t o = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "50000");
    lt_apply_ok(&l, lt_ev_ack(o, "V-1"));
    lt_apply_ok(&l, lt_ev_cancel_request(o));
    led_order order = lt_order(&l, o);
    assert_true(order.cancel_requested);
    assert_int_equal(order.state, LED_ORDER_ACKED); /* still open, still reserved */
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("5000"));
    lt_apply_ok(&l, lt_ev_cancel_request(o)); /* asking twice is harmless */
    lt_apply_ok(&l, lt_ev_cancelled(o));
    assert_false(lt_order_is_open(&l, o));
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, 0);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_buy_e8, 0);
    /* a partially filled order releases what its rest holds */
    uint64_t p = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "49000");
    uint64_t q = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.2", "48000");
    lt_apply_ok(&l, lt_ev_fill(p, D("0.03"), D("49000"), 0, "USDT"));
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("3430") + D("9600"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_buy_e8, D("0.27"));
    lt_apply_ok(&l, lt_ev_cancelled(p));
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("9600"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_buy_e8, D("0.2"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").position_e8, D("0.03"));
    assert_true(lt_order_is_open(&l, q));
    assert_int_equal(lt_account(&l).open_order_count, 1);
    lt_close(&l);
}

static void test_venue_rejection_releases(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    uint64_t o = place(&l, LED_SIDE_SELL, LED_ORDER_LIMIT, "0.2", "50000");
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, D("0.2"));
    lt_apply_ok(&l, lt_ev_venue_reject(o)); /* accepted -> rejected_by_venue */
    assert_false(lt_order_is_open(&l, o));
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, 0);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_sell_e8, 0);
    uint64_t p = place(&l, LED_SIDE_BUY, LED_ORDER_MARKET, "0.1", NULL);
    lt_apply_ok(&l, lt_ev_ack(p, "V-9"));
    lt_apply_ok(&l, lt_ev_venue_reject(p)); /* acked -> rejected_by_venue */
    assert_false(lt_order_is_open(&l, p));
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, 0);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_buy_e8, 0);
    led_account a = lt_account(&l);
    assert_int_equal(a.open_order_count, 0);
    assert_int_equal(a.orders_accepted, 2);
    lt_close(&l);
}

static void test_external_adopted(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    lt_apply_ok(&l, lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.2"),
                                   D("48000"), 0));
    uint64_t e1 = l.index;
    led_order o = lt_order(&l, e1);
    assert_int_equal(o.state, LED_ORDER_ACKED);
    assert_true(o.external);
    assert_string_equal(o.client_order_id, "ext-1");
    assert_string_equal(o.strategy, "");
    EXPECT_DEC(o.reserved_e8, D("9600"));
    EXPECT_DEC(o.ref_price_e8, D("48000"));
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("9600"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_buy_e8, D("0.2"));
    lt_apply_ok(&l, lt_ev_external("ext-2", "BTCUSDT", LED_SIDE_SELL, LED_ORDER_LIMIT, D("0.3"),
                                   D("52000"), D("0.1")));
    uint64_t e2 = l.index;
    o = lt_order(&l, e2);
    assert_int_equal(o.state, LED_ORDER_PARTIALLY_FILLED);
    EXPECT_DEC(o.filled_qty_e8, D("0.1"));
    EXPECT_DEC(o.reserved_e8, D("0.2")); /* what the rest holds */
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, D("0.2"));
    EXPECT_DEC(lt_balance(&l, "BTC").total_e8, D("1")); /* earlier fills are not replayed */
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_sell_e8, D("0.2"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").position_e8, 0);
    /* done at the venue: nothing stays open, nothing is held */
    lt_apply_ok(&l, lt_ev_external("ext-3", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_MARKET, D("0.5"), 0,
                                   D("0.5")));
    assert_false(lt_order_is_open(&l, l.index));
    assert_int_equal(lt_account(&l).open_order_count, 2);
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("9600"));
    /* a market order is held at the mark */
    lt_apply_ok(&l,
                lt_ev_external("ext-4", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_MARKET, D("0.1"), 0, 0));
    EXPECT_DEC(lt_order(&l, l.index).ref_price_e8, D("50000"));
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("14600"));
    /* its client order id may be adopted again once the first is closed */
    assert_int_equal(lt_apply(&l, lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT,
                                                 D("0.2"), D("48000"), 0)),
                     LED_REFUSED);
    lt_apply_ok(&l, lt_ev_cancelled(e1));
    lt_apply_ok(&l, lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.1"),
                                   D("48000"), 0));
    assert_string_equal(lt_order(&l, l.index).client_order_id, "ext-1");
    /* an adopted order fills like ours */
    lt_apply_ok(&l, lt_ev_fill(e2, D("0.2"), D("52000"), 0, "USDT"));
    assert_false(lt_order_is_open(&l, e2));
    EXPECT_DEC(lt_balance(&l, "BTC").total_e8, D("0.8"));
    EXPECT_DEC(lt_balance(&l, "BTC").reserved_e8, 0);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").position_e8, D("-0.2"));
    lt_close(&l);
}

/* ---- Reference data and controls ------------------------------------------------------------- */

static void test_instrument_definition(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    assert_string_equal(lt_account(&l).valuation_asset, "");
    lt_market_btc(&l, 0);
    lt_apply_ok(&l, lt_ev_instrument("ETHBTC", "ETH", "BTC", 1000, 100000, 0));
    led_account a = lt_account(&l);
    assert_string_equal(a.valuation_asset, "USDT"); /* the first instrument's quote */
    assert_int_equal(a.instrument_count, 2);
    assert_int_equal(a.asset_count, 3);
    led_balance bal;
    const char *order[] = {"BTC", "USDT", "ETH"}; /* by first use */
    for (uint32_t i = 0; i < 3; i++) {
        led_state_balance_at(l.state, i, &bal);
        assert_string_equal(bal.asset, order[i]);
        assert_int_equal(bal.total_e8, 0);
    }
    /* a repeat with the same assets updates tick, lot and min notional, nothing else */
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.01"), D("5")));
    led_instrument ins = lt_instrument(&l, "BTCUSDT");
    EXPECT_DEC(ins.tick_e8, D("0.1"));
    EXPECT_DEC(ins.lot_e8, D("0.01"));
    EXPECT_DEC(ins.min_notional_e8, D("5"));
    EXPECT_DEC(ins.mark_e8, D("50000"));
    a = lt_account(&l);
    assert_int_equal(a.instrument_count, 2);
    assert_int_equal(a.asset_count, 3);
    /* other assets: refused, and the asset is not added */
    assert_int_equal(lt_apply(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDC", 1, 1, 0)),
                     LED_REFUSED);
    assert_int_equal(lt_account(&l).asset_count, 3);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").tick_e8, D("0.1"));
    led_state_instrument_at(l.state, 1, &ins);
    assert_string_equal(ins.symbol, "ETHBTC");
    lt_close(&l);
}

static void test_bar_and_controls(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    lt_market_btc(&l, D("100"));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("51234.5")));
    led_instrument ins = lt_instrument(&l, "BTCUSDT");
    EXPECT_DEC(ins.mark_e8, D("51234.5"));
    assert_int_equal(ins.mark_ts_ns, l.ts_ns - 1000000);
    lt_apply_ok(&l, lt_ev_breaker("BTCUSDT", true));
    assert_true(lt_instrument(&l, "BTCUSDT").breaker_tripped);
    lt_apply_ok(&l, lt_ev_breaker("BTCUSDT", false));
    assert_false(lt_instrument(&l, "BTCUSDT").breaker_tripped);
    lt_apply_ok(&l, lt_ev_feed("BTCUSDT", LED_FEED_STALE));
    assert_int_equal(lt_instrument(&l, "BTCUSDT").feed, LED_FEED_STALE);
    lt_apply_ok(&l, lt_ev_kill(true, "operator drill"));
    led_account a = lt_account(&l);
    assert_true(a.kill_switch);
    assert_string_equal(a.kill_reason, "operator drill");
    lt_apply_ok(&l, lt_ev_kill(false, "over"));
    assert_false(lt_account(&l).kill_switch);
    lt_apply_ok(&l, lt_ev_strategy("trend", false));
    lt_apply_ok(&l, lt_ev_strategy("carry", true));
    lt_apply_ok(&l, lt_ev_strategy("trend", true));
    led_strategy st;
    assert_int_equal(lt_account(&l).strategy_count, 2);
    led_state_strategy_at(l.state, 0, &st);
    assert_string_equal(st.name, "trend");
    assert_true(st.enabled);
    led_state_strategy_at(l.state, 1, &st);
    assert_string_equal(st.name, "carry");
    lt_close(&l);
}

static void test_limits_set(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    led_limits got = lt_account(&l).limits; /* the defaults of docs/ledger.md */
    assert_int_equal(got.max_order_notional_e8, INT64_MAX);
    assert_int_equal(got.max_position_notional_e8, INT64_MAX);
    assert_int_equal(got.max_gross_exposure_e8, INT64_MAX);
    assert_int_equal(got.max_position_equity_bps, 200);
    assert_int_equal(got.daily_loss_bps, 500);
    assert_int_equal(got.max_drawdown_bps, 1000);
    assert_int_equal(got.price_band_bps, 500);
    assert_int_equal(got.max_open_orders, 100);
    led_limits want = {D("1000"), D("2000"), 300, D("3000"), LED_ORDERS_OPEN_MAX, 7, 8, 9};
    lt_apply_ok(&l, lt_ev_limits(&want));
    got = lt_account(&l).limits;
    assert_memory_equal(&got, &want, sizeof(want));
    want.max_open_orders = LED_ORDERS_OPEN_MAX + 1;
    assert_int_equal(lt_apply(&l, lt_ev_limits(&want)), LED_REFUSED);
    assert_int_equal(lt_account(&l).limits.max_open_orders, LED_ORDERS_OPEN_MAX);
    lt_close(&l);
}

static void test_strategy_table_full(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    (void)p_strategies_full(&l);
    assert_int_equal(lt_account(&l).strategy_count, LED_STRATEGIES_MAX);
    assert_int_equal(lt_apply(&l, lt_ev_strategy("one-too-many", false)), LED_REFUSED);
    assert_int_equal(lt_account(&l).strategy_count, LED_STRATEGIES_MAX);
    char last[16];
    snprintf(last, sizeof(last), "st%u", LED_STRATEGIES_MAX - 1u);
    lt_apply_ok(&l, lt_ev_strategy(last, true)); /* a known name still switches */
    led_strategy st;
    led_state_strategy_at(l.state, LED_STRATEGIES_MAX - 1u, &st);
    assert_string_equal(st.name, last);
    assert_true(st.enabled);
    lt_close(&l);
}

static void test_leader_terms(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    lt_apply_ok(&l, lt_ev_leader(3, "node-a"));
    lt_apply_ok(&l, lt_ev_leader(5, "node-b"));
    assert_int_equal(lt_apply(&l, lt_ev_leader(4, "node-c")), LED_REFUSED);
    led_account a = lt_account(&l);
    assert_int_equal(a.leader_term, 5);
    assert_string_equal(a.leader_node, "node-b");
    lt_apply_ok(&l, lt_ev_leader(5, "node-c")); /* the same term is not older */
    assert_string_equal(lt_account(&l).leader_node, "node-c");
    lt_close(&l);
}

/* ---- Idempotence, time and equity ------------------------------------------------------------ */

static void test_idempotence_by_index(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    (void)p_partial(&l);
    uint8_t before[LED_HASH_BYTES];
    uint8_t after[LED_HASH_BYTES];
    hash_of(&l, before);
    led_account a = lt_account(&l);
    const uint64_t replays[] = {1, 2, l.index - 1u, l.index};
    for (size_t i = 0; i < sizeof(replays) / sizeof(replays[0]); i++) {
        led_event ev = lt_ev_balance("USDT", D("5"));
        ev.ts_ns = l.ts_ns;
        led_outcome out;
        memset(&out, 0x5a, sizeof(out));
        led_apply(l.state, replays[i], &ev, &out);
        assert_int_equal(out.result, LED_SKIPPED);
        assert_int_equal(out.rule, LED_RULE_NONE);
        assert_string_equal(out.detail, "");
        hash_of(&l, after);
        assert_memory_equal(before, after, LED_HASH_BYTES);
    }
    led_account b = lt_account(&l);
    assert_int_equal(b.last_index, a.last_index);
    assert_int_equal(b.events_applied, a.events_applied);
    lt_apply_ok(&l, lt_ev_balance("USDT", D("5"))); /* the next index still applies */
    assert_int_equal(lt_account(&l).last_index, a.last_index + 1u);
    assert_string_equal(led_result_name(LED_SKIPPED), "skipped");
    lt_close(&l);
}

/* Long 1 BTC bought at 50000 with 100,000 USDT deposited: equity 100,000 at mark 50000. */
static void long_one_btc(lt_ledger *l)
{
    lt_market_btc(l, D("100000"));
    led_limits loose = lt_limits_loose();
    lt_apply_ok(l, lt_ev_limits(&loose));
    uint64_t o = place(l, LED_SIDE_BUY, LED_ORDER_MARKET, "1", NULL);
    lt_apply_ok(l, lt_ev_fill(o, D("1"), D("50000"), 0, "USDT"));
}

#define EXPECT_EQUITY(l, eq, peak, sod)         \
    do {                                        \
        led_account a_ = lt_account(l);         \
        EXPECT_DEC(a_.equity_e8, D(eq));        \
        EXPECT_DEC(a_.peak_equity_e8, D(peak)); \
        EXPECT_DEC(a_.sod_equity_e8, D(sod));   \
    } while (0)

static void test_day_rollover(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    long_one_btc(&l);
    EXPECT_EQUITY(&l, "100000", "100000", "100000");
    assert_int_equal(lt_account(&l).day, LT_T0_NS / LT_DAY_NS);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49000")));
    EXPECT_EQUITY(&l, "99000", "100000", "100000");
    l.ts_ns = (LT_T0_NS / LT_DAY_NS + 1) * LT_DAY_NS; /* 00:00:00 UTC the next day */
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("48000")));
    /* the first event of the day takes the equity before it as start of day */
    EXPECT_EQUITY(&l, "98000", "100000", "99000");
    assert_int_equal(lt_account(&l).day, LT_T0_NS / LT_DAY_NS + 1);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("51000")));
    EXPECT_EQUITY(&l, "101000", "101000", "99000"); /* a new peak; same day */
    l.ts_ns += 3 * LT_DAY_NS;                       /* days without events */
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("50500")));
    EXPECT_EQUITY(&l, "100500", "101000", "101000");
    assert_int_equal(lt_account(&l).day, LT_T0_NS / LT_DAY_NS + 4);
    lt_close(&l);
}

/* docs/ledger.md: a refused event changes "nothing but the last index, the event time and the
 * refusal count". Here the first event of a new UTC day is refused: the day and the start-of-day
 * equity stay as they were, and the first applied event of the day rolls them. */
static void test_refused_event_does_not_roll_the_day(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    long_one_btc(&l);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49000")));
    EXPECT_EQUITY(&l, "99000", "100000", "100000");
    l.ts_ns = (LT_T0_NS / LT_DAY_NS + 1) * LT_DAY_NS;
    assert_int_equal(lt_apply(&l, lt_ev_bar("ETHUSDT", D("2500"))), LED_REFUSED);
    assert_int_equal(lt_account(&l).day, LT_T0_NS / LT_DAY_NS);
    EXPECT_EQUITY(&l, "99000", "100000", "100000");
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("48000")));
    EXPECT_EQUITY(&l, "98000", "100000", "99000");
    assert_int_equal(lt_account(&l).day, LT_T0_NS / LT_DAY_NS + 1);
    lt_close(&l);
}

static void test_deposits_are_not_pnl(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    long_one_btc(&l);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49000")));
    EXPECT_EQUITY(&l, "99000", "100000", "100000");
    lt_apply_ok(&l, lt_ev_balance("USDT", D("1000")));
    EXPECT_EQUITY(&l, "100000", "101000", "101000");
    lt_apply_ok(&l, lt_ev_balance("USDT", D("-2000")));
    EXPECT_EQUITY(&l, "98000", "99000", "99000");
    lt_apply_ok(&l, lt_ev_balance("BTC", D("0.5"))); /* valued at the mark on arrival */
    EXPECT_EQUITY(&l, "122500", "123500", "123500");
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").realized_pnl_e8, 0);
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").position_e8, D("1")); /* not a trade */
    lt_close(&l);
}

/* docs/ledger.md: "the first valuation of an asset move[s] start-of-day and peak equity by the
 * same amount as equity, so that money moved in or out never reads as profit or loss". BTC
 * deposited before BTCUSDT has a mark counts 0; the first bar values it. */
static void test_first_valuation_is_not_pnl(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", 1, 1, 0));
    lt_apply_ok(&l, lt_ev_balance("USDT", D("100000")));
    lt_apply_ok(&l, lt_ev_balance("BTC", D("1")));
    EXPECT_EQUITY(&l, "100000", "100000", "100000"); /* no mark yet: BTC counts 0 */
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("50000")));
    EXPECT_EQUITY(&l, "150000", "150000", "150000");
    lt_close(&l);
}

static void test_equity_valuation(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", 1, 1, 0));
    lt_apply_ok(&l, lt_ev_instrument("ETHBTC", "ETH", "BTC", 1, 1, 0));
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT.P", "BTC", "USDT", 1, 1, 0));
    lt_apply_ok(&l, lt_ev_balance("USDT", D("1000")));
    lt_apply_ok(&l, lt_ev_balance("BTC", D("2")));
    lt_apply_ok(&l, lt_ev_balance("ETH", D("3")));
    lt_apply_ok(&l, lt_ev_balance("DOGE", D("4")));
    EXPECT_DEC(lt_account(&l).equity_e8, D("1000"));
    lt_apply_ok(&l, lt_ev_bar("ETHBTC", D("0.05"))); /* not quoted in USDT: ETH counts 0 */
    EXPECT_DEC(lt_account(&l).equity_e8, D("1000"));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT.P", D("60000"))); /* not the first BTC/USDT */
    EXPECT_DEC(lt_account(&l).equity_e8, D("1000"));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("50000")));
    EXPECT_DEC(lt_account(&l).equity_e8, D("101000"));
    lt_apply_ok(&l, lt_ev_balance("BTC", D("0.00000001")));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("0.5"))); /* 2.00000001 * 0.5 = 1.000000005 */
    EXPECT_DEC(lt_account(&l).equity_e8, D("1001")); /* half-even: ...00.5 -> ...00 */
    lt_apply_ok(&l, lt_ev_balance("BTC", D("0.00000002")));
    EXPECT_DEC(lt_account(&l).equity_e8, D("1001.00000002")); /* 1.000000015 -> ...02 */
    lt_close(&l);
}

/* ---- Readers and names ----------------------------------------------------------------------- */

static void test_order_next_in_index_order(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    led_order o;
    assert_int_equal(led_state_order_next(l.state, 0, &o), TK_ENOENT);
    uint64_t a = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "49000");
    uint64_t b = place(&l, LED_SIDE_SELL, LED_ORDER_LIMIT, "0.1", "51000");
    uint64_t c = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.1", "49500");
    lt_apply_ok(
        &l, lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_SELL, LED_ORDER_MARKET, D("0.1"), 0, 0));
    uint64_t d = l.index;
    lt_apply_ok(&l, lt_ev_cancelled(b));
    lt_apply_ok(&l, lt_ev_fill(c, D("0.1"), D("49500"), 0, "USDT"));
    /* every open order exactly once, by index; closed ones skipped */
    const uint64_t want[] = {a, d};
    uint64_t after = 0;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(led_state_order_next(l.state, after, &o), TK_OK);
        assert_int_equal(o.index, want[i]);
        after = o.index;
    }
    assert_int_equal(led_state_order_next(l.state, after, &o), TK_ENOENT);
    assert_int_equal(led_state_order_next(l.state, a - 1u, &o), TK_OK);
    assert_int_equal(o.index, a);
    assert_int_equal(led_state_order_next(l.state, a, &o), TK_OK);
    assert_int_equal(o.index, d); /* b and c are closed */
    assert_int_equal(led_state_order_find(l.state, b, &o), TK_ENOENT);
    assert_int_equal(led_state_order_find(l.state, c, &o), TK_ENOENT);
    assert_int_equal(led_state_order_find(l.state, 999, &o), TK_ENOENT);
    lt_close(&l);
}

/* More orders come and go than the slot array holds, so closed ones are compacted away while
 * two stay open across it. */
static void test_order_slots_compact(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    btc_loose(&l);
    uint64_t first = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.001", "49000");
    for (unsigned i = 0; i < 2u * LED_ORDERS_OPEN_MAX + 10u; i++) {
        uint64_t o = place(&l, LED_SIDE_BUY, LED_ORDER_LIMIT, "0.001", "49000");
        lt_apply_ok(&l, lt_ev_cancelled(o));
    }
    uint64_t last = place(&l, LED_SIDE_SELL, LED_ORDER_LIMIT, "0.001", "51000");
    led_order o;
    assert_int_equal(led_state_order_next(l.state, 0, &o), TK_OK);
    assert_int_equal(o.index, first);
    assert_int_equal(led_state_order_next(l.state, first, &o), TK_OK);
    assert_int_equal(o.index, last);
    assert_int_equal(led_state_order_next(l.state, last, &o), TK_ENOENT);
    assert_int_equal(lt_account(&l).open_order_count, 2);
    EXPECT_DEC(lt_balance(&l, "USDT").reserved_e8, D("49"));
    EXPECT_DEC(lt_instrument(&l, "BTCUSDT").open_buy_e8, D("0.001"));
    lt_apply_ok(&l, lt_ev_fill(first, D("0.001"), D("49000"), 0, "USDT"));
    assert_false(lt_order_is_open(&l, first));
    lt_close(&l);
}

static void test_names(void **unused)
{
    (void)unused;
    static const char *const ids[] = {
        "none",
        "kill_switch",
        "unknown_instrument",
        "circuit_breaker",
        "strategy_disabled",
        "tick_size",
        "lot_step",
        "price_band",
        "min_notional",
        "max_order_notional",
        "reduce_only",
        "daily_loss",
        "max_drawdown",
        "max_open_orders",
        "max_position_notional",
        "max_position_equity",
        "max_gross_exposure",
        "insufficient_balance",
        "overflow",
    };
    assert_int_equal(sizeof(ids) / sizeof(ids[0]), LED_RULE_OVERFLOW + 1);
    for (unsigned r = 0; r <= LED_RULE_OVERFLOW; r++)
        assert_string_equal(led_rule_id((led_rule)r), ids[r]);
    assert_null(led_rule_id((led_rule)(LED_RULE_OVERFLOW + 1)));
    assert_null(led_rule_id((led_rule)-1));
    assert_string_equal(led_result_name(LED_APPLIED), "applied");
    assert_string_equal(led_result_name(LED_SKIPPED), "skipped");
    assert_string_equal(led_result_name(LED_REFUSED), "refused");
    assert_string_equal(led_result_name(LED_REJECTED), "rejected");
    assert_null(led_result_name((led_result)(LED_REJECTED + 1)));
    assert_null(led_result_name((led_result)-1));
}

int led_test_apply(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_key_repeat_refused_with_first_decision, lt_teardown),
        cmocka_unit_test_teardown(test_keys_forget_the_oldest, lt_teardown),
        cmocka_unit_test_teardown(test_fill_buy_partial_then_full, lt_teardown),
        cmocka_unit_test_teardown(test_fill_rounds_half_even, lt_teardown),
        cmocka_unit_test_teardown(test_fill_sell_reserves_and_realizes, lt_teardown),
        cmocka_unit_test_teardown(test_fill_flip_through_flat_and_short, lt_teardown),
        cmocka_unit_test_teardown(test_refusals_change_nothing, lt_teardown),
        cmocka_unit_test_teardown(test_late_ack_and_fill_before_ack, lt_teardown),
        cmocka_unit_test_teardown(test_cancel_request_and_cancel, lt_teardown),
        cmocka_unit_test_teardown(test_venue_rejection_releases, lt_teardown),
        cmocka_unit_test_teardown(test_external_adopted, lt_teardown),
        cmocka_unit_test_teardown(test_instrument_definition, lt_teardown),
        cmocka_unit_test_teardown(test_bar_and_controls, lt_teardown),
        cmocka_unit_test_teardown(test_limits_set, lt_teardown),
        cmocka_unit_test_teardown(test_strategy_table_full, lt_teardown),
        cmocka_unit_test_teardown(test_leader_terms, lt_teardown),
        cmocka_unit_test_teardown(test_idempotence_by_index, lt_teardown),
        cmocka_unit_test_teardown(test_day_rollover, lt_teardown),
        cmocka_unit_test_teardown(test_refused_event_does_not_roll_the_day, lt_teardown),
        cmocka_unit_test_teardown(test_deposits_are_not_pnl, lt_teardown),
        cmocka_unit_test_teardown(test_first_valuation_is_not_pnl, lt_teardown),
        cmocka_unit_test_teardown(test_equity_valuation, lt_teardown),
        cmocka_unit_test_teardown(test_order_next_in_index_order, lt_teardown),
        cmocka_unit_test_teardown(test_order_slots_compact, lt_teardown),
        cmocka_unit_test_teardown(test_names, lt_teardown),
    };
    return cmocka_run_group_tests_name("ledger/apply", tests, NULL, NULL);
}
