/* The order state machine: its legal edges as one table, so that apply and the docs agree. */
#include "led.h"

static const char *const state_names[LED_ORDER_STATE_COUNT] = {
    [LED_ORDER_REQUESTED] = "requested",
    [LED_ORDER_ACCEPTED] = "accepted",
    [LED_ORDER_REJECTED] = "rejected",
    [LED_ORDER_ACKED] = "acked",
    [LED_ORDER_PARTIALLY_FILLED] = "partially_filled",
    [LED_ORDER_FILLED] = "filled",
    [LED_ORDER_CANCELLED] = "cancelled",
    [LED_ORDER_REJECTED_BY_VENUE] = "rejected_by_venue",
};

/* legal[from] has bit `to` set for each edge from -> to. */
#define TO(state) (1u << (state))
static const uint32_t legal[LED_ORDER_STATE_COUNT] = {
    [LED_ORDER_REQUESTED] = TO(LED_ORDER_ACCEPTED) | TO(LED_ORDER_REJECTED),
    [LED_ORDER_ACCEPTED] = TO(LED_ORDER_ACKED) | TO(LED_ORDER_PARTIALLY_FILLED) |
                           TO(LED_ORDER_FILLED) | TO(LED_ORDER_CANCELLED) |
                           TO(LED_ORDER_REJECTED_BY_VENUE),
    [LED_ORDER_ACKED] = TO(LED_ORDER_PARTIALLY_FILLED) | TO(LED_ORDER_FILLED) |
                        TO(LED_ORDER_CANCELLED) | TO(LED_ORDER_REJECTED_BY_VENUE),
    [LED_ORDER_PARTIALLY_FILLED] =
        TO(LED_ORDER_PARTIALLY_FILLED) | TO(LED_ORDER_FILLED) | TO(LED_ORDER_CANCELLED),
    [LED_ORDER_REJECTED] = 0,
    [LED_ORDER_FILLED] = 0,
    [LED_ORDER_CANCELLED] = 0,
    [LED_ORDER_REJECTED_BY_VENUE] = 0,
};

static bool state_is_valid(led_order_state state)
{
    return (unsigned)state < LED_ORDER_STATE_COUNT;
}

const char *led_order_state_name(led_order_state state)
{
    return state_is_valid(state) ? state_names[state] : NULL;
}

bool led_order_state_is_terminal(led_order_state state)
{
    TK_ASSERT(state_is_valid(state));
    return legal[state] == 0;
}

const char *led_order_edge_check(led_order_state from, led_order_state to)
{
    if (!state_is_valid(from) || !state_is_valid(to)) return "not an order state";
    if ((legal[from] & TO(to)) != 0) return NULL;
    switch (from) {
    case LED_ORDER_REJECTED:
        return "the order was rejected by the risk gate";
    case LED_ORDER_FILLED:
        return "the order is already filled";
    case LED_ORDER_CANCELLED:
        return "the order is already cancelled";
    case LED_ORDER_REJECTED_BY_VENUE:
        return "the order was rejected by the venue";
    case LED_ORDER_REQUESTED:
        return "the order has not passed the risk gate";
    case LED_ORDER_ACCEPTED:
    case LED_ORDER_ACKED:
    case LED_ORDER_PARTIALLY_FILLED:
        break;
    }
    if (to == LED_ORDER_ACKED) return "the order was acked already";
    if (to == LED_ORDER_REJECTED_BY_VENUE) return "the venue already filled part of the order";
    return "not an edge of the order state machine";
}

uint64_t led_event_order_index(const led_event *ev)
{
    TK_ASSERT(ev != NULL);
    switch (ev->type) {
    case LED_EV_ORDER_ACKED:
        return ev->u.order_acked.order_index;
    case LED_EV_ORDER_FILLED:
        return ev->u.order_filled.order_index;
    case LED_EV_ORDER_REJECTED_BY_VENUE:
        return ev->u.order_rejected_by_venue.order_index;
    case LED_EV_ORDER_CANCEL_REQUESTED:
        return ev->u.order_cancel_requested.order_index;
    case LED_EV_ORDER_CANCELLED:
        return ev->u.order_cancelled.order_index;
    case LED_EV_INSTRUMENT_DEFINED:
    case LED_EV_BAR_CLOSED:
    case LED_EV_ORDER_REQUESTED:
    case LED_EV_EXTERNAL_ORDER_ADOPTED:
    case LED_EV_RISK_LIMITS_SET:
    case LED_EV_KILL_SWITCH_SET:
    case LED_EV_CIRCUIT_BREAKER_SET:
    case LED_EV_FEED_HEALTH:
    case LED_EV_STRATEGY_ENABLED:
    case LED_EV_BALANCE_ADJUSTED:
    case LED_EV_LEADER_CHANGED:
        return 0;
    }
    return 0;
}
