/* ledger/led_order.c: every one of the 64 (from, to) pairs of the order state machine against
 * the list of legal edges written out here, and the names and terminal states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdbool.h>

#include "led.h"
#include "ledger_tests.h"

typedef struct edge {
    led_order_state from;
    led_order_state to;
} edge;

/* The legal edges, one by one (docs/ledger.md draws them). */
static const edge legal_edges[] = {
    {LED_ORDER_REQUESTED, LED_ORDER_ACCEPTED},
    {LED_ORDER_REQUESTED, LED_ORDER_REJECTED},
    {LED_ORDER_ACCEPTED, LED_ORDER_ACKED},
    {LED_ORDER_ACCEPTED, LED_ORDER_PARTIALLY_FILLED},
    {LED_ORDER_ACCEPTED, LED_ORDER_FILLED},
    {LED_ORDER_ACCEPTED, LED_ORDER_CANCELLED},
    {LED_ORDER_ACCEPTED, LED_ORDER_REJECTED_BY_VENUE},
    {LED_ORDER_ACKED, LED_ORDER_PARTIALLY_FILLED},
    {LED_ORDER_ACKED, LED_ORDER_FILLED},
    {LED_ORDER_ACKED, LED_ORDER_CANCELLED},
    {LED_ORDER_ACKED, LED_ORDER_REJECTED_BY_VENUE},
    {LED_ORDER_PARTIALLY_FILLED, LED_ORDER_PARTIALLY_FILLED},
    {LED_ORDER_PARTIALLY_FILLED, LED_ORDER_FILLED},
    {LED_ORDER_PARTIALLY_FILLED, LED_ORDER_CANCELLED},
};

static bool listed(led_order_state from, led_order_state to)
{
    for (size_t i = 0; i < sizeof(legal_edges) / sizeof(legal_edges[0]); i++) {
        if (legal_edges[i].from == from && legal_edges[i].to == to) return true;
    }
    return false;
}

static void test_every_pair(void **state)
{
    (void)state;
    uint32_t legal_count = 0;
    for (uint32_t from = 0; from < LED_ORDER_STATE_COUNT; from++) {
        for (uint32_t to = 0; to < LED_ORDER_STATE_COUNT; to++) {
            const char *why = led_order_edge_check((led_order_state)from, (led_order_state)to);
            bool want = listed((led_order_state)from, (led_order_state)to);
            if (want && why != NULL) fail_msg("%u -> %u refused: %s", from, to, why);
            if (!want && why == NULL) fail_msg("%u -> %u allowed", from, to);
            legal_count += want ? 1u : 0u;
        }
    }
    assert_int_equal(legal_count, sizeof(legal_edges) / sizeof(legal_edges[0]));
}

static void test_reasons_and_names(void **state)
{
    (void)state;
    assert_string_equal(led_order_edge_check(LED_ORDER_FILLED, LED_ORDER_CANCELLED),
                        "the order is already filled");
    assert_string_equal(led_order_edge_check(LED_ORDER_REQUESTED, LED_ORDER_ACKED),
                        "the order has not passed the risk gate");
    assert_string_equal(led_order_edge_check(LED_ORDER_ACKED, LED_ORDER_ACKED),
                        "the order was acked already");
    assert_string_equal(led_order_edge_check((led_order_state)8, LED_ORDER_FILLED),
                        "not an order state");
    assert_string_equal(led_order_state_name(LED_ORDER_PARTIALLY_FILLED), "partially_filled");
    assert_string_equal(led_order_state_name(LED_ORDER_REJECTED_BY_VENUE), "rejected_by_venue");
    assert_null(led_order_state_name((led_order_state)LED_ORDER_STATE_COUNT));
    const led_order_state terminal[] = {LED_ORDER_REJECTED, LED_ORDER_FILLED, LED_ORDER_CANCELLED,
                                        LED_ORDER_REJECTED_BY_VENUE};
    for (size_t i = 0; i < 4; i++) {
        assert_true(led_order_state_is_terminal(terminal[i]));
    }
    assert_false(led_order_state_is_terminal(LED_ORDER_REQUESTED));
    assert_false(led_order_state_is_terminal(LED_ORDER_PARTIALLY_FILLED));
}

int led_test_order(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_reasons_and_names),
    };
    return cmocka_run_group_tests_name("ledger/order", tests, NULL, NULL);
}
