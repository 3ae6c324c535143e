/* The ledger state: its tables, lookups, readers, and canonical encoding (the bytes the state
 * hash, checkpoints and snapshots are made of). */
#include <stdlib.h>
#include <string.h>

#include "led_internal.h"

static const char *const rule_ids[] = {
#define X(code, id) [code] = id,
    LED_RULE_LIST(X)
#undef X
};

const char *led_rule_id(led_rule rule)
{
    if ((unsigned)rule >= sizeof(rule_ids) / sizeof(rule_ids[0])) return NULL;
    return rule_ids[rule];
}

const char *led_result_name(led_result result)
{
    switch (result) {
    case LED_APPLIED:
        return "applied";
    case LED_SKIPPED:
        return "skipped";
    case LED_REFUSED:
        return "refused";
    case LED_REJECTED:
        return "rejected";
    }
    return NULL;
}

void led__limits_default(led_limits *out)
{
    TK_ASSERT(out != NULL);
    *out = (led_limits){
        .max_order_notional_e8 = INT64_MAX,
        .max_position_notional_e8 = INT64_MAX,
        .max_position_equity_bps = 200,
        .max_gross_exposure_e8 = INT64_MAX,
        .max_open_orders = 100,
        .price_band_bps = 500,
        .daily_loss_bps = 500,
        .max_drawdown_bps = 1000,
    };
    TK_ASSERT(out->max_open_orders <= (int64_t)LED_ORDERS_OPEN_MAX);
}

tk_err led_state_open(led_state **out_state)
{
    TK_ASSERT(out_state != NULL);
    led_state *state = calloc(1, sizeof(*state));
    if (state == NULL) return TK_ENOMEM;
    state->orders = calloc(LED__ORDER_SLOTS, sizeof(led_order));
    state->scratch = malloc(led_state_encoded_size_max());
    state->keys = malloc(LED_KEYS_MAX * sizeof(led__key));
    state->key_slots = calloc(LED__KEY_SLOTS, sizeof(uint16_t));
    if (state->orders == NULL || state->scratch == NULL || state->keys == NULL ||
        state->key_slots == NULL) {
        led_state_close(state);
        return TK_ENOMEM;
    }
    led_state_reset(state);
    *out_state = state;
    return TK_OK;
}

void led_state_close(led_state *state)
{
    if (state == NULL) return;
    free(state->orders);
    free(state->scratch);
    free(state->keys);
    free(state->key_slots);
    free(state);
}

void led_state_reset(led_state *state)
{
    TK_ASSERT(state != NULL);
    TK_ASSERT(state->orders != NULL);
    memset(&state->acct, 0, sizeof(state->acct));
    memset(state->instruments, 0, sizeof(state->instruments));
    memset(state->balances, 0, sizeof(state->balances));
    memset(state->strategies, 0, sizeof(state->strategies));
    /* Slots past order_slots are never read (appends overwrite a slot whole), so only the used
     * ones are cleared: a reset costs what the state held, not the table's 2 MB. */
    memset(state->orders, 0, state->order_slots * sizeof(led_order));
    state->order_slots = 0;
    memset(state->key_slots, 0, LED__KEY_SLOTS * sizeof(uint16_t)); /* ring entries: overwritten */
    state->key_count = 0;
    state->key_oldest = 0;
    led__limits_default(&state->acct.limits);
    led__valuers_update(state);
}

int32_t led__instrument_find(const led_state *state, const char *symbol)
{
    for (uint32_t i = 0; i < state->acct.instrument_count; i++) {
        if (strcmp(state->instruments[i].symbol, symbol) == 0) return (int32_t)i;
    }
    return -1;
}

int32_t led__asset_find(const led_state *state, const char *asset)
{
    for (uint32_t i = 0; i < state->acct.asset_count; i++) {
        if (strcmp(state->balances[i].asset, asset) == 0) return (int32_t)i;
    }
    return -1;
}

int32_t led__strategy_find(const led_state *state, const char *name)
{
    for (uint32_t i = 0; i < state->acct.strategy_count; i++) {
        if (strcmp(state->strategies[i].name, name) == 0) return (int32_t)i;
    }
    return -1;
}

/* ---- Recent idempotency keys (led_internal.h) ---------------------------------------------- */

#define KEY_SLOT_MASK (LED__KEY_SLOTS - 1u)

static uint32_t key_home(const char *key)
{
    uint8_t digest[LED_HASH_BYTES];
    led_sha256((const uint8_t *)key, strlen(key), digest);
    return ((uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 | (uint32_t)digest[2] << 8 |
            digest[3]) &
           KEY_SLOT_MASK;
}

/* The index slot holding key (its home probed onward), or the empty slot where it would go. */
static uint32_t key_slot_of(const led_state *state, const char *key, uint32_t home)
{
    uint32_t slot = home;
    while (state->key_slots[slot] != 0 &&
           strcmp(state->keys[state->key_slots[slot] - 1u].key, key) != 0)
        slot = (slot + 1u) & KEY_SLOT_MASK; /* never full: twice the ring's size */
    return slot;
}

const led__key *led__key_find(const led_state *state, const char *key)
{
    TK_ASSERT(key[0] != '\0');
    uint32_t slot = key_slot_of(state, key, key_home(key));
    return state->key_slots[slot] != 0 ? &state->keys[state->key_slots[slot] - 1u] : NULL;
}

/* Empty an index slot and move later entries of its probe run back into the gap, so that no
 * lookup stops early (deletion in linear probing: Knuth, TAOCP vol. 3, 6.4, Algorithm R). */
static void key_slot_delete(led_state *state, uint32_t gap)
{
    uint32_t at = gap;
    for (;;) {
        at = (at + 1u) & KEY_SLOT_MASK;
        if (state->key_slots[at] == 0) break;
        uint32_t home = state->keys[state->key_slots[at] - 1u].home;
        /* the entry at `at` may fill the gap unless its home lies cyclically in (gap, at] */
        bool stays = gap <= at ? (gap < home && home <= at) : (gap < home || home <= at);
        if (stays) continue;
        state->key_slots[gap] = state->key_slots[at];
        gap = at;
    }
    state->key_slots[gap] = 0;
}

void led__key_add(led_state *state, const char *key, uint64_t index, led_result result,
                  led_rule rule)
{
    TK_ASSERT(key[0] != '\0');
    uint32_t position = (state->key_oldest + state->key_count) & (LED_KEYS_MAX - 1u);
    if (state->key_count == LED_KEYS_MAX) { /* forget the oldest: position is its place */
        const led__key *old = &state->keys[position];
        key_slot_delete(state, key_slot_of(state, old->key, old->home));
        state->key_oldest = (state->key_oldest + 1u) & (LED_KEYS_MAX - 1u);
        state->key_count--;
    }
    led__key *k = &state->keys[position];
    led__text_copy(k->key, sizeof(k->key), key);
    k->index = index;
    k->result = result;
    k->rule = rule;
    k->home = key_home(key);
    uint32_t slot = key_slot_of(state, key, k->home);
    TK_ASSERT(state->key_slots[slot] == 0); /* the caller found it absent */
    state->key_slots[slot] = (uint16_t)(position + 1u);
    state->key_count++;
}

/* The first slot whose index is >= order_index (order_slots when none). */
static uint32_t order_lower_bound(const led_state *state, uint64_t order_index)
{
    uint32_t lo = 0;
    uint32_t hi = state->order_slots;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (state->orders[mid].index < order_index) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The slot of the open order with that index, or order_slots when there is none. */
static uint32_t order_find(const led_state *state, uint64_t order_index)
{
    uint32_t at = order_lower_bound(state, order_index);
    if (at == state->order_slots) return at;
    const led_order *order = &state->orders[at];
    if (order->index != order_index || led_order_state_is_terminal(order->state)) {
        return state->order_slots;
    }
    return at;
}

led_order *led__order_slot(led_state *state, uint64_t order_index)
{
    uint32_t at = order_find(state, order_index);
    return at < state->order_slots ? &state->orders[at] : NULL;
}

static void orders_compact(led_state *state)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < state->order_slots; i++) {
        if (led_order_state_is_terminal(state->orders[i].state)) continue;
        if (live != i) state->orders[live] = state->orders[i];
        live++;
    }
    TK_ASSERT(live == state->acct.open_order_count);
    memset(&state->orders[live], 0, (state->order_slots - live) * sizeof(led_order));
    state->order_slots = live;
}

led_order *led__order_append(led_state *state, uint64_t order_index)
{
    TK_ASSERT(state->acct.open_order_count < LED_ORDERS_OPEN_MAX);
    if (state->order_slots == LED__ORDER_SLOTS) orders_compact(state);
    TK_ASSERT(state->order_slots < LED__ORDER_SLOTS);
    if (state->order_slots > 0)
        TK_ASSERT(state->orders[state->order_slots - 1].index < order_index);
    led_order *order = &state->orders[state->order_slots++];
    memset(order, 0, sizeof(*order));
    order->index = order_index;
    state->acct.open_order_count++;
    return order;
}

tk_err led__reservation(led_side side, int64_t ref_price_e8, int64_t remaining_e8, int64_t *out_e8)
{
    TK_ASSERT(out_e8 != NULL);
    TK_ASSERT(remaining_e8 >= 0);
    if (side == LED_SIDE_SELL) {
        *out_e8 = remaining_e8;
        return TK_OK;
    }
    return led_notional(ref_price_e8, remaining_e8, LED_ROUND_UP, out_e8);
}

void led__valuers_update(led_state *state)
{
    const char *valuation = state->acct.valuation_asset;
    for (uint32_t a = 0; a < LED_ASSETS_MAX; a++) {
        state->valuer[a] = LED__VALUER_NONE;
        if (a >= state->acct.asset_count) continue;
        const char *asset = state->balances[a].asset;
        if (valuation[0] != '\0' && strcmp(asset, valuation) == 0) {
            state->valuer[a] = LED__VALUER_SELF;
            continue;
        }
        for (uint32_t i = 0; i < state->acct.instrument_count; i++) {
            const led_instrument *ins = &state->instruments[i];
            if (strcmp(ins->base, asset) == 0 && strcmp(ins->quote, valuation) == 0) {
                state->valuer[a] = (int32_t)i;
                break;
            }
        }
    }
}

tk_err led__asset_value(const led_state *state, int32_t a, int64_t qty_e8, int64_t *out_e8)
{
    TK_ASSERT(a >= 0 && (uint32_t)a < state->acct.asset_count);
    int32_t valuer = state->valuer[a];
    if (valuer == LED__VALUER_SELF) {
        *out_e8 = qty_e8;
        return TK_OK;
    }
    if (valuer == LED__VALUER_NONE) {
        *out_e8 = 0;
        return TK_OK;
    }
    return led_notional(state->instruments[valuer].mark_e8, qty_e8, LED_ROUND_HALF_EVEN, out_e8);
}

tk_err led__equity(const led_state *state, int64_t *out_equity_e8)
{
    int64_t equity = 0;
    for (uint32_t a = 0; a < state->acct.asset_count; a++) {
        int64_t value;
        tk_err err = led__asset_value(state, (int32_t)a, state->balances[a].total_e8, &value);
        if (err == TK_OK) err = led_add(equity, value, &equity);
        if (err != TK_OK) return err;
    }
    *out_equity_e8 = equity;
    return TK_OK;
}

/* ---- Readers --------------------------------------------------------------------------------- */

int64_t led_state_equity(const led_state *state)
{
    TK_ASSERT(state != NULL);
    return state->acct.equity_e8;
}

int64_t led_state_position_at(const led_state *state, uint32_t instrument)
{
    TK_ASSERT(state != NULL);
    TK_ASSERT(instrument < state->acct.instrument_count);
    return state->instruments[instrument].position_e8;
}

uint64_t led_state_last_index(const led_state *state)
{
    TK_ASSERT(state != NULL);
    return state->acct.last_index;
}

void led_state_account(const led_state *state, led_account *out)
{
    TK_ASSERT(state != NULL && out != NULL);
    *out = state->acct;
}

void led_state_instrument_at(const led_state *state, uint32_t position, led_instrument *out)
{
    TK_ASSERT(state != NULL && out != NULL);
    TK_ASSERT(position < state->acct.instrument_count);
    *out = state->instruments[position];
}

void led_state_balance_at(const led_state *state, uint32_t position, led_balance *out)
{
    TK_ASSERT(state != NULL && out != NULL);
    TK_ASSERT(position < state->acct.asset_count);
    *out = state->balances[position];
}

void led_state_strategy_at(const led_state *state, uint32_t position, led_strategy *out)
{
    TK_ASSERT(state != NULL && out != NULL);
    TK_ASSERT(position < state->acct.strategy_count);
    *out = state->strategies[position];
}

tk_err led_state_order_find(const led_state *state, uint64_t order_index, led_order *out)
{
    TK_ASSERT(state != NULL && out != NULL);
    uint32_t at = order_find(state, order_index);
    if (at == state->order_slots) return TK_ENOENT;
    *out = state->orders[at];
    return TK_OK;
}

tk_err led_state_order_next(const led_state *state, uint64_t after_index, led_order *out)
{
    TK_ASSERT(state != NULL && out != NULL);
    TK_ASSERT(after_index < UINT64_MAX);
    for (uint32_t at = order_lower_bound(state, after_index + 1u); at < state->order_slots; at++) {
        if (led_order_state_is_terminal(state->orders[at].state)) continue;
        *out = state->orders[at];
        return TK_OK;
    }
    return TK_ENOENT;
}
