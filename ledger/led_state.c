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
    if (state->orders == NULL || state->scratch == NULL) {
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
