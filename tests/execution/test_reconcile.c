/* execution/exec_reconcile.c: client order ids both ways; and, for a ledger order in each
 * state a failover can leave it in, the events reconciliation proposes for each answer the
 * venue can give, applied to a real ledger state: none refused, the order ends where the
 * venue says, and reconciling again proposes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <string.h>

#include "exec.h"
#include "exec_tests.h"
#include "tk_test.h"

#define T0_NS 1700000000000000000LL

/* A ledger with BTCUSDT at 50,000 and 1,000,000 USDT, and its next index. */
typedef struct ledger {
    led_state *state;
    uint64_t index;
} ledger;

static led_result apply(ledger *l, led_event ev)
{
    led_outcome out;
    ev.version = 1;
    ev.ts_ns = T0_NS + (int64_t)l->index;
    assert_int_equal(led_event_check(&ev, NULL), TK_OK);
    led_apply(l->state, ++l->index, &ev, &out);
    return out.result;
}

static void ledger_open(ledger *l)
{
    l->index = 0;
    assert_int_equal(led_state_open(&l->state), TK_OK);
    led_event ev = {.type = LED_EV_INSTRUMENT_DEFINED};
    struct led_ev_instrument_defined *ins = &ev.u.instrument_defined;
    snprintf(ins->symbol, sizeof(ins->symbol), "BTCUSDT");
    snprintf(ins->base, sizeof(ins->base), "BTC");
    snprintf(ins->quote, sizeof(ins->quote), "USDT");
    ins->tick_e8 = 1000000; /* 0.01 */
    ins->lot_e8 = 100000;   /* 0.001 */
    ins->min_notional_e8 = 1000000000;
    assert_int_equal(apply(l, ev), LED_APPLIED);
    ev = (led_event){.type = LED_EV_BALANCE_ADJUSTED};
    snprintf(ev.u.balance_adjusted.asset, sizeof(ev.u.balance_adjusted.asset), "USDT");
    ev.u.balance_adjusted.delta_e8 = 100000000000000; /* 1,000,000 */
    assert_int_equal(apply(l, ev), LED_APPLIED);
    ev = (led_event){.type = LED_EV_BAR_CLOSED};
    struct led_ev_bar_closed *b = &ev.u.bar_closed;
    snprintf(b->symbol, sizeof(b->symbol), "BTCUSDT");
    b->open_ts_ns = T0_NS;
    b->interval_s = 60;
    b->open_e8 = b->high_e8 = b->low_e8 = b->close_e8 = 5000000000000; /* 50,000 */
    assert_int_equal(apply(l, ev), LED_APPLIED);
}

/* An accepted limit buy of 0.3 at 50,000; its order index. */
static uint64_t order(ledger *l)
{
    led_event ev = {.type = LED_EV_ORDER_REQUESTED};
    struct led_ev_order_requested *o = &ev.u.order_requested;
    snprintf(o->symbol, sizeof(o->symbol), "BTCUSDT");
    snprintf(o->strategy, sizeof(o->strategy), "manual");
    o->side = LED_SIDE_BUY;
    o->kind = LED_ORDER_LIMIT;
    o->qty_e8 = 30000000;
    o->price_e8 = 5000000000000;
    assert_int_equal(apply(l, ev), LED_APPLIED);
    return l->index;
}

static led_order order_now(const ledger *l, uint64_t index)
{
    led_order o;
    assert_int_equal(led_state_order_find(l->state, index, &o), TK_OK);
    return o;
}

/* What the venue says: this order, status, and fills of the given quantities (in 0.1). */
static exec_binance_order venue_order(exec_binance_status status, const int *fills_tenths,
                                      unsigned fill_count)
{
    exec_binance_order v;
    memset(&v, 0, sizeof(v));
    snprintf(v.symbol, sizeof(v.symbol), "BTCUSDT");
    snprintf(v.venue_order_id, sizeof(v.venue_order_id), "777");
    v.status = status;
    v.side = LED_SIDE_BUY;
    v.kind = LED_ORDER_LIMIT;
    v.qty_e8 = 30000000;
    v.price_e8 = 5000000000000;
    for (unsigned i = 0; i < fill_count; i++) {
        exec_binance_fill *f = &v.fills[v.fill_count++];
        snprintf(f->trade_id, sizeof(f->trade_id), "%u", 900u + i);
        f->qty_e8 = fills_tenths[i] * 10000000LL;
        f->price_e8 = 5000000000000;
        f->commission_e8 = 100000;
        snprintf(f->commission_asset, sizeof(f->commission_asset), "USDT");
        v.executed_qty_e8 += f->qty_e8;
    }
    return v;
}

/* Reconcile, apply every event (none refused), reconcile again: nothing more. */
static void reconcile_and_apply(ledger *l, uint64_t index, const exec_binance_order *venue,
                                const led_event_type *want, size_t want_count)
{
    led_event events[EXEC_RECONCILE_EVENTS_MAX];
    size_t count = 0;
    char why[160];
    led_order o = order_now(l, index);
    assert_int_equal(exec_reconcile_order(&o, venue, T0_NS, events, &count, why, sizeof(why)),
                     TK_OK);
    assert_int_equal(count, want_count);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(events[i].type, want[i]);
        if (apply(l, events[i]) != LED_APPLIED) fail_msg("event %zu refused", i);
    }
    if (led_state_order_find(l->state, index, &o) == TK_ENOENT) return; /* terminal: closed */
    assert_int_equal(exec_reconcile_order(&o, venue, T0_NS, events, &count, why, sizeof(why)),
                     TK_OK);
    assert_int_equal(count, 0);
}

/* The BTC the ledger holds (what the fills bought). */
static int64_t btc(const ledger *l)
{
    led_account a;
    led_state_account(l->state, &a);
    for (uint32_t i = 0; i < a.asset_count; i++) {
        led_balance b;
        led_state_balance_at(l->state, i, &b);
        if (strcmp(b.asset, "BTC") == 0) return b.total_e8;
    }
    return 0;
}

static bool open_order(const ledger *l, uint64_t index)
{
    led_order o;
    return led_state_order_find(l->state, index, &o) == TK_OK;
}

static void test_client_order_ids(void **unused)
{
    (void)unused;
    char id[LED_ID_BYTES];
    assert_int_equal(exec_client_order_id("tk", 42, id), TK_OK);
    assert_string_equal(id, "tk-42");
    uint64_t index = 0;
    assert_true(exec_client_order_index("tk", id, &index));
    assert_int_equal(index, 42);
    assert_false(exec_client_order_index("tx", id, &index));
    assert_false(exec_client_order_index("t", id, &index));
    assert_false(exec_client_order_index("tk", "tk-", &index));
    assert_false(exec_client_order_index("tk", "tk-0", &index));
    assert_false(exec_client_order_index("tk", "tk-4x", &index));
    assert_int_equal(exec_client_order_id("t-k", 1, id), TK_EINVAL);
    assert_int_equal(exec_client_order_id("", 1, id), TK_EINVAL);
    assert_int_equal(exec_client_order_id("abcdefghijklmnop", 1, id), TK_EINVAL); /* 16 */
    assert_int_equal(exec_client_order_id("abcdefghijklmno", UINT64_MAX, id), TK_OK);
    assert_true(strlen(id) <= 36); /* within Binance's rule */
}

/* The leader died before sending: the order never reached the venue. */
static void test_never_sent(void **unused)
{
    (void)unused;
    ledger l;
    ledger_open(&l);
    uint64_t o = order(&l);
    static const led_event_type want[] = {LED_EV_ORDER_REJECTED_BY_VENUE};
    reconcile_and_apply(&l, o, NULL, want, 1);
    assert_false(open_order(&l, o)); /* closed, nothing bought */
    assert_int_equal(btc(&l), 0);
    led_state_close(l.state);
}

/* Sent, its answer lost, filled at the venue in two fills: acked and filled. */
static void test_filled_unknown_to_the_ledger(void **unused)
{
    (void)unused;
    ledger l;
    ledger_open(&l);
    uint64_t o = order(&l);
    static const int fills[] = {1, 2};
    exec_binance_order v = venue_order(EXEC_BINANCE_FILLED, fills, 2);
    static const led_event_type want[] = {LED_EV_ORDER_ACKED, LED_EV_ORDER_FILLED,
                                          LED_EV_ORDER_FILLED};
    reconcile_and_apply(&l, o, &v, want, 3);
    assert_false(open_order(&l, o)); /* filled */
    assert_int_equal(btc(&l), 30000000);
    led_state_close(l.state);
}

/* Acked and one fill in the ledger; the venue has a second fill and the rest cancelled. */
static void test_partial_then_cancelled(void **unused)
{
    (void)unused;
    ledger l;
    ledger_open(&l);
    uint64_t o = order(&l);
    static const int fills[] = {1, 1};
    exec_binance_order v = venue_order(EXEC_BINANCE_NEW, fills, 1);
    static const led_event_type first[] = {LED_EV_ORDER_ACKED, LED_EV_ORDER_FILLED};
    reconcile_and_apply(&l, o, &v, first, 2); /* the ledger as the old leader left it */
    assert_int_equal(order_now(&l, o).state, LED_ORDER_PARTIALLY_FILLED);
    v = venue_order(EXEC_BINANCE_CANCELED, fills, 2);
    static const led_event_type rest[] = {LED_EV_ORDER_FILLED, LED_EV_ORDER_CANCELLED};
    reconcile_and_apply(&l, o, &v, rest, 2); /* only the fill the ledger lacks */
    assert_false(open_order(&l, o));         /* cancelled */
    assert_int_equal(btc(&l), 20000000);     /* after two fills of 0.1, not three */
    led_state_close(l.state);
}

static void test_in_line_and_mismatches(void **unused)
{
    (void)unused;
    ledger l;
    ledger_open(&l);
    uint64_t o = order(&l);
    exec_binance_order v = venue_order(EXEC_BINANCE_NEW, NULL, 0);
    static const led_event_type acked[] = {LED_EV_ORDER_ACKED};
    reconcile_and_apply(&l, o, &v, acked, 1);
    led_event events[EXEC_RECONCILE_EVENTS_MAX];
    size_t count = 9;
    char why[160];
    led_order now = order_now(&l, o);
    v.side = LED_SIDE_SELL; /* not this order */
    assert_int_equal(exec_reconcile_order(&now, &v, T0_NS, events, &count, why, sizeof(why)),
                     TK_EINVAL);
    assert_non_null(strstr(why, "not it"));
    static const int fills[] = {2, 1};
    v = venue_order(EXEC_BINANCE_FILLED, fills, 2);
    now.filled_qty_e8 = 10000000; /* 0.1 against fills of 0.2 and 0.1: they do not line up */
    assert_int_equal(exec_reconcile_order(&now, &v, T0_NS, events, &count, why, sizeof(why)),
                     TK_EINVAL);
    assert_non_null(strstr(why, "line up"));
    now.filled_qty_e8 = 40000000; /* more than the venue filled */
    assert_int_equal(exec_reconcile_order(&now, &v, T0_NS, events, &count, why, sizeof(why)),
                     TK_EINVAL);
    led_state_close(l.state);
}

/* An order the venue holds under troika's prefix that the ledger lacks: adopted, open. */
static void test_adopt(void **unused)
{
    (void)unused;
    ledger l;
    ledger_open(&l);
    exec_binance_order v = venue_order(EXEC_BINANCE_NEW, NULL, 0);
    snprintf(v.client_order_id, sizeof(v.client_order_id), "tk-99999");
    led_event ev;
    assert_int_equal(exec_reconcile_adopt(&v, T0_NS, &ev), TK_OK);
    assert_int_equal(ev.type, LED_EV_EXTERNAL_ORDER_ADOPTED);
    assert_string_equal(ev.u.external_order_adopted.client_order_id, "tk-99999");
    assert_int_equal(apply(&l, ev), LED_APPLIED);
    led_order o = order_now(&l, l.index);
    assert_true(o.external);
    assert_int_equal(o.qty_e8, 30000000);
    v.executed_qty_e8 = v.qty_e8 + 1;
    assert_int_equal(exec_reconcile_adopt(&v, T0_NS, &ev), TK_EINVAL);
    led_state_close(l.state);
}

int exec_test_reconcile(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_order_ids),
        cmocka_unit_test(test_never_sent),
        cmocka_unit_test(test_filled_unknown_to_the_ledger),
        cmocka_unit_test(test_partial_then_cancelled),
        cmocka_unit_test(test_in_line_and_mismatches),
        cmocka_unit_test(test_adopt),
    };
    return cmocka_run_group_tests_name("execution/reconcile", tests, NULL, NULL);
}
