/* ledger internals shared by its files (led_state.c, led_apply.c, led_gate.c, led_gen.c):
 * the layout of led_state and the helpers that find things in it. Not for other modules. */
#ifndef TK_LEDGER_LED_INTERNAL_H
#define TK_LEDGER_LED_INTERNAL_H

#include <string.h>

#include "led.h"

/* Copy the text src into dst of dst_size bytes, cut to fit, always NUL-terminated: the ledger's
 * texts are bounded arrays, and apply copies them without formatting. */
static inline void led__text_copy(char *dst, size_t dst_size, const char *src)
{
    TK_ASSERT(dst_size > 0);
    size_t len = strnlen(src, dst_size - 1u);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Order slots: open orders sit sorted by index in an array twice the open capacity; an order
 * that reaches a terminal state stays as a tombstone until the array is full, when the live
 * ones are moved down (led__orders_compact). Orders only ever arrive with the highest index
 * yet (their own event's), so appending keeps the array sorted and lookups are binary. */
#define LED__ORDER_SLOTS (2u * LED_ORDERS_OPEN_MAX)

/* Recent idempotency keys: a ring of the last LED_KEYS_MAX keys, oldest first from key_oldest,
 * each with the decision on the event that first carried it, and an index over it: linear
 * probing in twice as many slots, each 0 (empty) or a ring position + 1, the home slot taken
 * from the key's SHA-256. Only the ring is encoded; the index is rebuilt. */
_Static_assert((LED_KEYS_MAX & (LED_KEYS_MAX - 1u)) == 0 && LED_KEYS_MAX < 32768u,
               "a power of two whose positions + 1 fit the index's uint16_t slots");
#define LED__KEY_SLOTS (2u * LED_KEYS_MAX)

typedef struct led__key {
    char key[LED_KEY_BYTES];
    uint64_t index;    /* the event that first carried it */
    led_result result; /* what apply decided on that event */
    led_rule rule;     /* its rule, for a rejection */
    uint32_t home;     /* derived: its home slot in the index */
} led__key;

struct led_state {
    led_account acct;
    led_instrument instruments[LED_INSTRUMENTS_MAX];
    led_balance balances[LED_ASSETS_MAX];
    led_strategy strategies[LED_STRATEGIES_MAX];
    /* Derived, not encoded: for each asset, the instrument whose mark values it (its base,
     * quoted in the valuation asset), -1 for none, or -2 for the valuation asset itself. */
    int32_t valuer[LED_ASSETS_MAX];
    led_order *orders;    /* owned: LED__ORDER_SLOTS slots */
    uint32_t order_slots; /* slots in use, tombstones included */
    uint8_t *scratch;     /* owned: led_state_encoded_size_max() bytes, for the hash */
    led__key *keys;       /* owned: LED_KEYS_MAX, the ring of recent idempotency keys */
    uint16_t *key_slots;  /* owned: LED__KEY_SLOTS, the index over it */
    uint32_t key_count, key_oldest;
};

#define LED__VALUER_NONE (-1)
#define LED__VALUER_SELF (-2)

/* Position of the instrument, asset or strategy with that name, or -1. */
int32_t led__instrument_find(const led_state *state, const char *symbol);
int32_t led__asset_find(const led_state *state, const char *asset);
int32_t led__strategy_find(const led_state *state, const char *name);

/* The recent key equal to key (non-empty), or NULL. */
const led__key *led__key_find(const led_state *state, const char *key);

/* Remember key (non-empty, not recent) with its event's decision, forgetting the oldest key
 * when LED_KEYS_MAX are remembered. */
void led__key_add(led_state *state, const char *key, uint64_t index, led_result result,
                  led_rule rule);

/* The i-th oldest recent key (i < key_count). */
static inline const led__key *led__key_at(const led_state *state, uint32_t i)
{
    return &state->keys[(state->key_oldest + i) & (LED_KEYS_MAX - 1u)];
}

/* The slot of the open order with that index, or NULL. */
led_order *led__order_slot(led_state *state, uint64_t order_index);

/* Append an open order (its index above every other; a free slot ensured by compaction).
 * The caller has checked open_order_count < LED_ORDERS_OPEN_MAX. */
led_order *led__order_append(led_state *state, uint64_t order_index);

/* What an order of that side, reference price and remaining quantity holds of its balance:
 * the notional rounded up for a buy (in quote), the quantity for a sell (in base). Errors:
 * TK_EOVERFLOW. */
tk_err led__reservation(led_side side, int64_t ref_price_e8, int64_t remaining_e8, int64_t *out_e8);

/* Recompute the derived valuer table from instruments, assets and the valuation asset. */
void led__valuers_update(led_state *state);

/* Equity from balances and marks, in valuation units. Errors: TK_EOVERFLOW. */
tk_err led__equity(const led_state *state, int64_t *out_equity_e8);

/* The value of qty_e8 of asset at position a, in valuation units (0 without a valuer).
 * Errors: TK_EOVERFLOW. */
tk_err led__asset_value(const led_state *state, int32_t a, int64_t qty_e8, int64_t *out_e8);

/* The risk gate (led_gate.c): decide an OrderRequested at index against the state. On accept
 * returns LED_RULE_NONE and sets *out_ref_price_e8 and *out_reserved_e8 (what the order holds
 * of its balance); on reject, the rule, with detail written. Reads the state only. */
led_rule led__gate(const led_state *state, const led_event *ev, int64_t *out_ref_price_e8,
                   int64_t *out_reserved_e8, char detail[LED_TEXT_BYTES]);

/* The limits in force before the first RiskLimitsSet. */
void led__limits_default(led_limits *out);

#endif /* TK_LEDGER_LED_INTERNAL_H */
