/* ledger/led_gate.c: the pre-trade risk gate, rule by rule (docs/ledger.md's table): for each, an
 * order that passes, one it rejects (with its id, a detail naming the figures, and the account's
 * last decision and rejection count moved), and the boundary: a value exactly at the limit
 * passes, one unit (1e-8, a tick or a lot) beyond is rejected. States are built by applying
 * events, as a replica would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <string.h>

#include "led.h"
#include "ledger_tests.h"

#define D(text) lt_dec(text)

/* An order for BTCUSDT from strategy s1; price NULL: a market order. */
static led_event btc_order(led_side side, const char *qty, const char *price)
{
    return lt_ev_order("BTCUSDT", side, price == NULL ? LED_ORDER_MARKET : LED_ORDER_LIMIT, D(qty),
                       price == NULL ? 0 : D(price));
}

#define BUY(qty, price)  btc_order(LED_SIDE_BUY, (qty), (price))
#define SELL(qty, price) btc_order(LED_SIDE_SELL, (qty), (price))

static led_event stop(led_side side, const char *qty, const char *trigger)
{
    return lt_ev_order("BTCUSDT", side, LED_ORDER_STOP, D(qty), D(trigger));
}

static led_event reduce_only(led_event ev)
{
    ev.u.order_requested.reduce_only = true;
    return ev;
}

static led_event on(const char *symbol, led_event ev)
{
    snprintf(ev.u.order_requested.symbol, sizeof(ev.u.order_requested.symbol), "%s", symbol);
    return ev;
}

static led_event by(const char *strategy, led_event ev)
{
    snprintf(ev.u.order_requested.strategy, sizeof(ev.u.order_requested.strategy), "%s", strategy);
    return ev;
}

#define ACCEPTS(l, ev)                   gate_accepts((l), (ev), __LINE__)
#define REJECTS(l, ev, rule, fig1, fig2) gate_rejects((l), (ev), (rule), (fig1), (fig2), __LINE__)

/* Apply an OrderRequested the gate must accept: applied, recorded as the last decision, open
 * as accepted. Returns its index. */
static uint64_t gate_accepts(lt_ledger *l, led_event ev, int line)
{
    led_account before = lt_account(l);
    led_result result = lt_apply(l, ev);
    if (result != LED_APPLIED) {
        fail_msg("line %d: want accepted, got %s by %s: %s", line, led_result_name(result),
                 led_rule_id(l->out.rule), l->out.detail);
    }
    led_account after = lt_account(l);
    if (l->out.rule != LED_RULE_NONE || after.last_decision_rule != LED_RULE_NONE ||
        after.last_decision_index != l->index ||
        after.orders_accepted != before.orders_accepted + 1u ||
        after.orders_rejected != before.orders_rejected ||
        after.open_order_count != before.open_order_count + 1u) {
        fail_msg("line %d: accepted, but the account does not say so", line);
    }
    if (!lt_order_is_open(l, l->index) || lt_order(l, l->index).state != LED_ORDER_ACCEPTED)
        fail_msg("line %d: the accepted order is not open as accepted", line);
    return l->index;
}

static void gate_rejects(lt_ledger *l, led_event ev, led_rule rule, const char *fig1,
                         const char *fig2, int line)
{
    led_account before = lt_account(l);
    led_result result = lt_apply(l, ev);
    if (result != LED_REJECTED || l->out.rule != rule) {
        fail_msg("line %d: want rejected by %s, got %s by %s: %s", line, led_rule_id(rule),
                 led_result_name(result), led_rule_id(l->out.rule), l->out.detail);
    }
    if (l->out.detail[0] == '\0') fail_msg("line %d: no detail", line);
    if (strstr(l->out.detail, fig1) == NULL ||
        (fig2 != NULL && strstr(l->out.detail, fig2) == NULL))
        fail_msg("line %d: detail \"%s\" lacks \"%s\" or \"%s\"", line, l->out.detail, fig1, fig2);
    led_account after = lt_account(l);
    if (after.last_decision_rule != rule || after.last_decision_index != l->index ||
        strcmp(after.last_decision_detail, l->out.detail) != 0) {
        fail_msg("line %d: the last decision is %s at %llu", line,
                 led_rule_id(after.last_decision_rule),
                 (unsigned long long)after.last_decision_index);
    }
    if (after.orders_rejected != before.orders_rejected + 1u ||
        after.orders_accepted != before.orders_accepted ||
        after.open_order_count != before.open_order_count ||
        after.events_applied != before.events_applied + 1u) {
        fail_msg("line %d: the counts did not move as a rejection's", line);
    }
    if (lt_order_is_open(l, l->index)) fail_msg("line %d: a rejected order is open", line);
}

/* BTCUSDT at 50000, 1,000,000 USDT, default limits. */
static void btc(lt_ledger *l)
{
    lt_open(l);
    lt_market_btc(l, D("1000000"));
}

static void set_limits(lt_ledger *l, const led_limits *limits)
{
    lt_apply_ok(l, lt_ev_limits(limits));
}

static void eth(lt_ledger *l)
{
    lt_apply_ok(l, lt_ev_instrument("ETHUSDT", "ETH", "USDT", D("0.01"), D("0.001"), D("10")));
    lt_apply_ok(l, lt_ev_bar("ETHUSDT", D("2500")));
}

/* ---- Switches and reference data ------------------------------------------------------------- */

static void test_kill_switch(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    lt_apply_ok(&l, lt_ev_kill(true, "drill 7"));
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_KILL_SWITCH, "drill 7", NULL);
    REJECTS(&l, on("NOPE", BUY("0.001", "50000")), LED_RULE_KILL_SWITCH, "drill 7", NULL);
    lt_apply_ok(&l, lt_ev_kill(false, ""));
    ACCEPTS(&l, BUY("0.001", "50000"));
    lt_close(&l);
}

static void test_unknown_instrument(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    REJECTS(&l, on("ETHUSDT", BUY("0.01", "2500")), LED_RULE_UNKNOWN_INSTRUMENT, "ETHUSDT", NULL);
    REJECTS(&l, on("BTCUSD", BUY("0.001", "50000")), LED_RULE_UNKNOWN_INSTRUMENT, "BTCUSD", NULL);
    REJECTS(&l, on("btcusdt", BUY("0.001", "50000")), LED_RULE_UNKNOWN_INSTRUMENT, "btcusdt", NULL);
    ACCEPTS(&l, BUY("0.001", "50000"));
    eth(&l);
    ACCEPTS(&l, on("ETHUSDT", BUY("0.01", "2500")));
    lt_close(&l);
}

static void test_circuit_breaker(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    eth(&l);
    lt_apply_ok(&l, lt_ev_breaker("ETHUSDT", true));
    ACCEPTS(&l, BUY("0.001", "50000")); /* another instrument's breaker */
    REJECTS(&l, on("ETHUSDT", BUY("0.01", "2500")), LED_RULE_CIRCUIT_BREAKER, "ETHUSDT", NULL);
    /* checked before the tick size */
    REJECTS(&l, on("ETHUSDT", BUY("0.01", "2500.001")), LED_RULE_CIRCUIT_BREAKER, "ETHUSDT", NULL);
    lt_apply_ok(&l, lt_ev_breaker("ETHUSDT", false));
    ACCEPTS(&l, on("ETHUSDT", BUY("0.01", "2500")));
    lt_close(&l);
}

static void test_strategy_disabled(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    lt_apply_ok(&l, lt_ev_strategy("s1", false));
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_STRATEGY_DISABLED, "s1", NULL);
    ACCEPTS(&l, by("s2", BUY("0.001", "50000"))); /* never named: enabled */
    ACCEPTS(&l, by("s10", BUY("0.001", "50000")));
    lt_apply_ok(&l, lt_ev_strategy("s3", true));
    ACCEPTS(&l, by("s3", BUY("0.001", "50000")));
    lt_apply_ok(&l, lt_ev_strategy("s1", true));
    ACCEPTS(&l, BUY("0.001", "50000"));
    lt_close(&l);
}

static void test_tick_size(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    ACCEPTS(&l, BUY("0.001", "50000.01"));
    REJECTS(&l, BUY("0.001", "50000.00000001"), LED_RULE_TICK_SIZE, "50000.00000001", "0.01");
    REJECTS(&l, BUY("0.001", "49999.999"), LED_RULE_TICK_SIZE, "49999.999", "0.01");
    REJECTS(&l, stop(LED_SIDE_BUY, "0.001", "52000.005"), LED_RULE_TICK_SIZE, "52000.005", NULL);
    ACCEPTS(&l, stop(LED_SIDE_BUY, "0.001", "52000.01"));
    ACCEPTS(&l, BUY("0.001", NULL)); /* a market order has no price to check */
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.001"), D("10")));
    REJECTS(&l, BUY("0.001", "50000.01"), LED_RULE_TICK_SIZE, "50000.01", "0.1");
    ACCEPTS(&l, BUY("0.001", "50000.1"));
    lt_close(&l);
}

static void test_lot_step(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    ACCEPTS(&l, BUY("0.002", "50000"));
    REJECTS(&l, BUY("0.00200001", "50000"), LED_RULE_LOT_STEP, "0.00200001", "0.001");
    REJECTS(&l, BUY("0.0005", "50000"), LED_RULE_LOT_STEP, "0.0005", "0.001");
    REJECTS(&l, SELL("0.0019999", NULL), LED_RULE_LOT_STEP, "0.0019999", NULL);
    ACCEPTS(&l, BUY("0.001", NULL));
    lt_close(&l);
}

/* ---- Prices and notionals -------------------------------------------------------------------- */

static void test_price_band_no_mark(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.001"), D("10")));
    lt_apply_ok(&l, lt_ev_balance("USDT", D("1000000")));
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_PRICE_BAND, "no mark", "BTCUSDT");
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_PRICE_BAND, "no mark", "BTCUSDT");
    REJECTS(&l, stop(LED_SIDE_BUY, "0.001", "60000"), LED_RULE_PRICE_BAND, "no mark", NULL);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("50000")));
    ACCEPTS(&l, BUY("0.001", NULL));
    lt_close(&l);
}

static void test_price_band(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l); /* the default band: 500 bps of 50000, 2500 */
    ACCEPTS(&l, BUY("0.001", "52500"));
    REJECTS(&l, BUY("0.001", "52500.01"), LED_RULE_PRICE_BAND, "52500.01", "500 bps");
    ACCEPTS(&l, BUY("0.001", "47500"));
    REJECTS(&l, BUY("0.001", "47499.99"), LED_RULE_PRICE_BAND, "47499.99", "50000");
    ACCEPTS(&l, stop(LED_SIDE_BUY, "0.001", "60000")); /* a trigger is meant to be away */
    ACCEPTS(&l, BUY("0.001", NULL));                   /* a market order trades at the mark */
    led_limits limits = lt_limits_loose();
    limits.price_band_bps = 1;
    set_limits(&l, &limits);
    ACCEPTS(&l, BUY("0.001", "50005"));
    REJECTS(&l, BUY("0.001", "50005.01"), LED_RULE_PRICE_BAND, "50005.01", "1 bps");
    ACCEPTS(&l, BUY("0.001", "49995"));
    REJECTS(&l, BUY("0.001", "49994.99"), LED_RULE_PRICE_BAND, "49994.99", "1 bps");
    lt_close(&l);
}

static void test_min_notional(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    lt_apply_ok(&l, lt_ev_instrument("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.001"), D("50")));
    ACCEPTS(&l, BUY("0.001", "50000")); /* 50 */
    REJECTS(&l, BUY("0.001", "49999.99"), LED_RULE_MIN_NOTIONAL, "49.99999", "50");
    ACCEPTS(&l, BUY("0.001", NULL)); /* at the mark: 50 */
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49999.99")));
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_MIN_NOTIONAL, "49.99999", "50");
    lt_close(&l);
}

static void test_max_order_notional(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    led_limits limits = lt_limits_loose();
    limits.max_order_notional_e8 = D("5000");
    set_limits(&l, &limits);
    ACCEPTS(&l, BUY("0.1", "50000"));
    REJECTS(&l, BUY("0.1", "50000.01"), LED_RULE_MAX_ORDER_NOTIONAL, "5000.001", "5000");
    REJECTS(&l, BUY("0.101", NULL), LED_RULE_MAX_ORDER_NOTIONAL, "5050", "5000");
    limits.max_order_notional_e8 = D("4999.99999999");
    set_limits(&l, &limits);
    REJECTS(&l, BUY("0.1", "50000"), LED_RULE_MAX_ORDER_NOTIONAL, "5000", "4999.99999999");
    ACCEPTS(&l, BUY("0.099", "50000"));
    lt_close(&l);
}

/* ---- Reduce-only and losses ------------------------------------------------------------------ */

/* Buy qty at the mark and fill it there. */
static void bought(lt_ledger *l, const char *qty, const char *price)
{
    lt_apply_ok(l, BUY(qty, NULL));
    lt_apply_ok(l, lt_ev_fill(l->index, D(qty), D(price), 0, "USDT"));
}

static void test_reduce_only_long(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    led_limits limits = lt_limits_loose();
    set_limits(&l, &limits);
    REJECTS(&l, reduce_only(SELL("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", "position 0");
    bought(&l, "0.1", "50000");
    REJECTS(&l, reduce_only(BUY("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", "0.1");
    REJECTS(&l, reduce_only(SELL("0.101", NULL)), LED_RULE_REDUCE_ONLY, "0.101", "0.1");
    uint64_t o = ACCEPTS(&l, reduce_only(SELL("0.1", NULL)));
    lt_apply_ok(&l, lt_ev_cancelled(o));
    ACCEPTS(&l, SELL("0.06", "50000")); /* open sells count, reduce-only or not */
    REJECTS(&l, reduce_only(SELL("0.041", NULL)), LED_RULE_REDUCE_ONLY, "0.041", "0.1");
    ACCEPTS(&l, reduce_only(SELL("0.04", "50000")));
    REJECTS(&l, reduce_only(SELL("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", NULL);
    lt_close(&l);
}

static void test_reduce_only_short(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    led_limits limits = lt_limits_loose();
    set_limits(&l, &limits);
    lt_apply_ok(&l, lt_ev_balance("BTC", D("1"))); /* a holding, not a position */
    REJECTS(&l, reduce_only(BUY("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", "position 0");
    lt_apply_ok(&l, SELL("0.1", NULL));
    lt_apply_ok(&l, lt_ev_fill(l.index, D("0.1"), D("50000"), 0, "USDT"));
    assert_int_equal(lt_instrument(&l, "BTCUSDT").position_e8, -D("0.1"));
    REJECTS(&l, reduce_only(SELL("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", "-0.1");
    REJECTS(&l, reduce_only(BUY("0.101", NULL)), LED_RULE_REDUCE_ONLY, "0.101", "-0.1");
    ACCEPTS(&l, reduce_only(BUY("0.1", NULL)));
    REJECTS(&l, reduce_only(BUY("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", NULL);
    lt_close(&l);
}

/* 100,000 USDT, long 1 BTC from 50000: equity 100,000, the day's start and the peak too. */
static void long_one(lt_ledger *l, const led_limits *limits)
{
    lt_open(l);
    lt_market_btc(l, D("100000"));
    set_limits(l, limits);
    bought(l, "1", "50000");
    led_account a = lt_account(l);
    assert_int_equal(a.equity_e8, D("100000"));
    assert_int_equal(a.sod_equity_e8, D("100000"));
    assert_int_equal(a.peak_equity_e8, D("100000"));
}

static void test_daily_loss(void **unused)
{
    (void)unused;
    lt_ledger l;
    led_limits limits = lt_limits_loose();
    limits.daily_loss_bps = 100; /* 1%: 1000 */
    long_one(&l, &limits);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49000"))); /* equity 99000: exactly 1% down */
    ACCEPTS(&l, BUY("0.001", NULL));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("48999.99999999")));
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_DAILY_LOSS, "98999.99999999", "100 bps");
    REJECTS(&l, SELL("0.001", NULL), LED_RULE_DAILY_LOSS, "100000", NULL);
    ACCEPTS(&l, reduce_only(SELL("0.5", NULL))); /* reduce-only orders pass */
    /* the next day starts from the equity before its first event */
    l.ts_ns = (LT_T0_NS / LT_DAY_NS + 1) * LT_DAY_NS;
    ACCEPTS(&l, BUY("0.001", NULL));
    lt_close(&l);
}

static void test_max_drawdown(void **unused)
{
    (void)unused;
    lt_ledger l;
    led_limits limits = lt_limits_loose();
    limits.daily_loss_bps = 500;
    limits.max_drawdown_bps = 100; /* 1% of the peak 100000: 1000 */
    long_one(&l, &limits);
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49000")));
    ACCEPTS(&l, BUY("0.001", NULL));
    l.ts_ns = (LT_T0_NS / LT_DAY_NS + 1) * LT_DAY_NS; /* a new day: the daily loss resets */
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("48999.99999999")));
    assert_int_equal(lt_account(&l).sod_equity_e8, D("99000"));
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_MAX_DRAWDOWN, "98999.99999999", "100000");
    REJECTS(&l, SELL("0.001", NULL), LED_RULE_MAX_DRAWDOWN, "100 bps", NULL);
    ACCEPTS(&l, reduce_only(SELL("0.5", NULL)));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("49000")));
    ACCEPTS(&l, BUY("0.001", NULL));
    lt_close(&l);
}

/* ---- Counts and exposure --------------------------------------------------------------------- */

static void test_max_open_orders(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    led_limits limits = lt_limits_loose();
    limits.max_open_orders = 2;
    set_limits(&l, &limits);
    uint64_t first = ACCEPTS(&l, BUY("0.001", "49000"));
    ACCEPTS(&l, BUY("0.001", "49000")); /* one open: below the limit */
    REJECTS(&l, BUY("0.001", "49000"), LED_RULE_MAX_OPEN_ORDERS, "2 orders", "limit is 2");
    lt_apply_ok(&l, lt_ev_cancelled(first));
    ACCEPTS(&l, BUY("0.001", "49000"));
    lt_apply_ok(&l, lt_ev_external("ext-1", "BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.001"),
                                   D("49000"), 0)); /* adopted: counted */
    REJECTS(&l, reduce_only(SELL("0.001", NULL)), LED_RULE_REDUCE_ONLY, "0.001", NULL);
    REJECTS(&l, BUY("0.001", "49000"), LED_RULE_MAX_OPEN_ORDERS, "3 orders", "limit is 2");
    limits.max_open_orders = 4;
    set_limits(&l, &limits);
    ACCEPTS(&l, BUY("0.001", "49000"));
    REJECTS(&l, BUY("0.001", "49000"), LED_RULE_MAX_OPEN_ORDERS, "4 orders", "limit is 4");
    lt_close(&l);
}

static void test_max_position_notional(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    led_limits limits = lt_limits_loose();
    limits.max_position_notional_e8 = D("5000");
    set_limits(&l, &limits);
    ACCEPTS(&l, BUY("0.1", "49000")); /* valued at the mark: 5000 */
    REJECTS(&l, BUY("0.001", "49000"), LED_RULE_MAX_POSITION_NOTIONAL, "5050", "5000");
    lt_apply_ok(&l, lt_ev_balance("BTC", D("1")));
    ACCEPTS(&l, SELL("0.1", "50000")); /* the worst case stays 0.1 long or short */
    REJECTS(&l, SELL("0.001", "50000"), LED_RULE_MAX_POSITION_NOTIONAL, "5050", "5000");
    limits.max_position_notional_e8 = D("5049.99999999");
    set_limits(&l, &limits);
    REJECTS(&l, SELL("0.001", NULL), LED_RULE_MAX_POSITION_NOTIONAL, "5050", "5049.99999999");
    limits.max_position_notional_e8 = D("5050");
    set_limits(&l, &limits);
    ACCEPTS(&l, SELL("0.001", NULL));
    lt_close(&l);
}

static void test_max_position_equity(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l); /* the default 200 bps of 1,000,000: 20000 */
    uint64_t o = ACCEPTS(&l, BUY("0.4", "50000"));
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_MAX_POSITION_EQUITY, "20050", "200 bps");
    lt_apply_ok(&l, lt_ev_cancelled(o));
    REJECTS(&l, BUY("0.401", "50000"), LED_RULE_MAX_POSITION_EQUITY, "20050", "(20000)");
    lt_apply_ok(&l, lt_ev_balance("USDT", -1)); /* equity 999999.99999999 */
    REJECTS(&l, BUY("0.4", "50000"), LED_RULE_MAX_POSITION_EQUITY, "20000", "19999.99999999");
    lt_apply_ok(&l, lt_ev_balance("USDT", 1));
    ACCEPTS(&l, BUY("0.4", "50000"));
    lt_close(&l);
    /* none allowed at zero equity, even before the balance is looked at */
    lt_open(&l);
    lt_market_btc(&l, 0);
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_MAX_POSITION_EQUITY, "equity 0", NULL);
    lt_apply_ok(&l, lt_ev_balance("USDT", -D("5"))); /* negative equity */
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_MAX_POSITION_EQUITY, "equity -5", NULL);
    lt_close(&l);
}

static void test_max_gross_exposure(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    eth(&l);
    led_limits limits = lt_limits_loose();
    limits.max_gross_exposure_e8 = D("10000");
    set_limits(&l, &limits);
    ACCEPTS(&l, BUY("0.1", "50000"));                          /* 5000 */
    uint64_t o = ACCEPTS(&l, on("ETHUSDT", BUY("2", "2500"))); /* 5000 + 5000 */
    REJECTS(&l, on("ETHUSDT", BUY("0.004", "2500")), LED_RULE_MAX_GROSS_EXPOSURE, "10010", "10000");
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_MAX_GROSS_EXPOSURE, "10050", "10000");
    lt_apply_ok(&l, lt_ev_cancelled(o));
    limits.max_gross_exposure_e8 = D("9999.99999999");
    set_limits(&l, &limits);
    REJECTS(&l, on("ETHUSDT", BUY("2", "2500")), LED_RULE_MAX_GROSS_EXPOSURE, "10000",
            "9999.99999999");
    ACCEPTS(&l, on("ETHUSDT", BUY("1.999", "2500")));
    lt_close(&l);
}

/* A position far above every cap: orders that shrink the worst case pass all of them, orders
 * that grow it are rejected. */
static void test_caps_pass_orders_that_reduce(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    led_limits limits = lt_limits_loose();
    set_limits(&l, &limits);
    bought(&l, "1", "50000"); /* 50000 of BTC */
    limits.max_position_notional_e8 = D("5000");
    set_limits(&l, &limits);
    ACCEPTS(&l, SELL("0.5", "50000"));
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_MAX_POSITION_NOTIONAL, "50050", "5000");
    limits = lt_limits_loose();
    limits.max_position_equity_bps = 1;
    set_limits(&l, &limits);
    ACCEPTS(&l, SELL("0.3", NULL));
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_MAX_POSITION_EQUITY, "50050", "1 bps");
    limits = lt_limits_loose();
    limits.max_gross_exposure_e8 = D("5000");
    set_limits(&l, &limits);
    ACCEPTS(&l, SELL("0.1", NULL));
    REJECTS(&l, BUY("0.001", NULL), LED_RULE_MAX_GROSS_EXPOSURE, "50050", "5000");
    lt_close(&l);
}

/* ---- Balances and overflow ------------------------------------------------------------------- */

static void test_insufficient_balance_buy(void **unused)
{
    (void)unused;
    lt_ledger l;
    lt_open(&l);
    lt_market_btc(&l, 0);
    led_limits limits = lt_limits_loose();
    set_limits(&l, &limits);
    lt_apply_ok(&l, lt_ev_balance("BTC", D("1"))); /* equity for the position caps */
    lt_apply_ok(&l, lt_ev_balance("USDT", D("4999.99999999")));
    REJECTS(&l, BUY("0.1", "50000"), LED_RULE_INSUFFICIENT_BALANCE, "needs 5000 USDT",
            "4999.99999999 free");
    lt_apply_ok(&l, lt_ev_balance("USDT", 1));
    uint64_t o = ACCEPTS(&l, BUY("0.1", "50000"));
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_INSUFFICIENT_BALANCE, "needs 50 USDT", "0 free");
    lt_apply_ok(&l, lt_ev_cancelled(o));
    ACCEPTS(&l, BUY("0.1", NULL)); /* a market buy needs its notional at the mark */
    lt_close(&l);
}

static void test_insufficient_balance_sell(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    lt_apply_ok(&l, lt_ev_balance("BTC", D("0.09999999")));
    REJECTS(&l, SELL("0.1", "50000"), LED_RULE_INSUFFICIENT_BALANCE, "needs 0.1 BTC",
            "0.09999999 free");
    REJECTS(&l, SELL("0.1", NULL), LED_RULE_INSUFFICIENT_BALANCE, "needs 0.1 BTC", NULL);
    lt_apply_ok(&l, lt_ev_balance("BTC", 1));
    ACCEPTS(&l, SELL("0.1", "50000"));
    REJECTS(&l, SELL("0.001", "50000"), LED_RULE_INSUFFICIENT_BALANCE, "needs 0.001 BTC", "0 free");
    lt_close(&l);
}

static void test_overflow(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    eth(&l);
    led_limits limits = lt_limits_loose();
    set_limits(&l, &limits);
    /* 1844674.407 * 50000 = 92233720350 fits int64 in 1e-8 units; one lot more does not */
    REJECTS(&l, BUY("1844674.408", "50000"), LED_RULE_OVERFLOW, "valuing the order", NULL);
    REJECTS(&l, BUY("1844674.407", "50000"), LED_RULE_MAX_POSITION_EQUITY, "92233720350", NULL);
    /* an adopted order so large that the worst-case position cannot be valued */
    lt_apply_ok(&l, lt_ev_external("ext-huge", "BTCUSDT", LED_SIDE_SELL, LED_ORDER_LIMIT,
                                   D("90000000000"), D("50000"), 0));
    REJECTS(&l, BUY("0.001", "50000"), LED_RULE_OVERFLOW, "exposure", NULL);
    REJECTS(&l, on("ETHUSDT", BUY("0.01", "2500")), LED_RULE_OVERFLOW, "exposure", NULL);
    lt_close(&l);
}

/* What an accepted order holds: a buy its notional in quote (rounded up), a sell its quantity
 * in base; both add to the instrument's open quantity on their side. */
static void test_accepted_order_reserves(void **unused)
{
    (void)unused;
    lt_ledger l;
    btc(&l);
    lt_apply_ok(&l, lt_ev_balance("BTC", D("1")));
    uint64_t o = ACCEPTS(&l, BUY("0.1", "49000"));
    led_order order = lt_order(&l, o);
    assert_int_equal(order.reserved_e8, D("4900"));
    assert_int_equal(order.ref_price_e8, D("49000"));
    assert_int_equal(lt_balance(&l, "USDT").reserved_e8, D("4900"));
    assert_int_equal(lt_instrument(&l, "BTCUSDT").open_buy_e8, D("0.1"));
    o = ACCEPTS(&l, SELL("0.05", "51000"));
    assert_int_equal(lt_order(&l, o).reserved_e8, D("0.05"));
    assert_int_equal(lt_balance(&l, "BTC").reserved_e8, D("0.05"));
    assert_int_equal(lt_instrument(&l, "BTCUSDT").open_sell_e8, D("0.05"));
    o = ACCEPTS(&l, stop(LED_SIDE_BUY, "0.002", "60000")); /* at its trigger */
    assert_int_equal(lt_order(&l, o).reserved_e8, D("120"));
    assert_int_equal(lt_order(&l, o).ref_price_e8, D("60000"));
    lt_apply_ok(&l, lt_ev_bar("BTCUSDT", D("33333.33333333")));
    o = ACCEPTS(&l, BUY("0.003", NULL)); /* 99.99999999999 at the mark, rounded up */
    assert_int_equal(lt_order(&l, o).reserved_e8, D("100"));
    assert_int_equal(lt_order(&l, o).ref_price_e8, D("33333.33333333"));
    assert_int_equal(lt_balance(&l, "USDT").reserved_e8, D("5120"));
    assert_int_equal(lt_instrument(&l, "BTCUSDT").open_buy_e8, D("0.105"));
    o = ACCEPTS(&l, SELL("0.002", NULL));
    assert_int_equal(lt_balance(&l, "BTC").reserved_e8, D("0.052"));
    assert_int_equal(lt_instrument(&l, "BTCUSDT").open_sell_e8, D("0.052"));
    assert_int_equal(lt_balance(&l, "USDT").total_e8, D("1000000")); /* held, not spent */
    assert_int_equal(lt_account(&l).open_order_count, 5);
    lt_close(&l);
}

int led_test_gate(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_switch, lt_teardown),
        cmocka_unit_test_teardown(test_unknown_instrument, lt_teardown),
        cmocka_unit_test_teardown(test_circuit_breaker, lt_teardown),
        cmocka_unit_test_teardown(test_strategy_disabled, lt_teardown),
        cmocka_unit_test_teardown(test_tick_size, lt_teardown),
        cmocka_unit_test_teardown(test_lot_step, lt_teardown),
        cmocka_unit_test_teardown(test_price_band_no_mark, lt_teardown),
        cmocka_unit_test_teardown(test_price_band, lt_teardown),
        cmocka_unit_test_teardown(test_min_notional, lt_teardown),
        cmocka_unit_test_teardown(test_max_order_notional, lt_teardown),
        cmocka_unit_test_teardown(test_reduce_only_long, lt_teardown),
        cmocka_unit_test_teardown(test_reduce_only_short, lt_teardown),
        cmocka_unit_test_teardown(test_daily_loss, lt_teardown),
        cmocka_unit_test_teardown(test_max_drawdown, lt_teardown),
        cmocka_unit_test_teardown(test_max_open_orders, lt_teardown),
        cmocka_unit_test_teardown(test_max_position_notional, lt_teardown),
        cmocka_unit_test_teardown(test_max_position_equity, lt_teardown),
        cmocka_unit_test_teardown(test_max_gross_exposure, lt_teardown),
        cmocka_unit_test_teardown(test_caps_pass_orders_that_reduce, lt_teardown),
        cmocka_unit_test_teardown(test_insufficient_balance_buy, lt_teardown),
        cmocka_unit_test_teardown(test_insufficient_balance_sell, lt_teardown),
        cmocka_unit_test_teardown(test_overflow, lt_teardown),
        cmocka_unit_test_teardown(test_accepted_order_reserves, lt_teardown),
    };
    return cmocka_run_group_tests_name("ledger/gate", tests, NULL, NULL);
}
