/* The state's canonical encoding (docs/ledger.md, "State encoding"): big-endian integers and
 * length-prefixed texts in a fixed order, tables in their stable order, open orders by index.
 * Equal states give equal bytes; the state hash, checkpoints and snapshots are these bytes. */
#include <stdio.h>
#include <string.h>

#include "led_internal.h"

#define STATE_MAGIC   0x544b4c53u /* "TKLS" */
#define STATE_VERSION 2u          /* 2: the recent idempotency keys */

/* Upper bounds per record: a text is its length byte and at most its array's bytes. */
#define ACCOUNT_BYTES_MAX    1024u
#define INSTRUMENT_BYTES_MAX (LED_SYMBOL_BYTES + 2u * LED_ASSET_BYTES + 3u + 12u * 8u)
#define BALANCE_BYTES_MAX    (LED_ASSET_BYTES + 1u + 3u * 8u)
#define STRATEGY_BYTES_MAX   (LED_NAME_BYTES + 2u)
#define ORDER_BYTES_MAX      (LED_SYMBOL_BYTES + LED_NAME_BYTES + 2u * LED_ID_BYTES + 4u + 4u + 7u * 8u)
#define KEY_BYTES_MAX        (LED_KEY_BYTES + 8u + 2u)

size_t led_state_encoded_size_max(void)
{
    return 8u + ACCOUNT_BYTES_MAX + 4u * 4u + LED_INSTRUMENTS_MAX * INSTRUMENT_BYTES_MAX +
           LED_ASSETS_MAX * BALANCE_BYTES_MAX + LED_STRATEGIES_MAX * STRATEGY_BYTES_MAX +
           LED_ORDERS_OPEN_MAX * ORDER_BYTES_MAX + 4u + LED_KEYS_MAX * KEY_BYTES_MAX;
}

/* ---- Writing --------------------------------------------------------------------------------- */

typedef struct writer {
    uint8_t *buf;
    size_t size;
    size_t used;
    bool full;
} writer;

static void put_bytes(writer *w, const void *bytes, size_t n)
{
    if (w->full || n > w->size - w->used) {
        w->full = true;
        return;
    }
    memcpy(w->buf + w->used, bytes, n);
    w->used += n;
}

static void put_u64(writer *w, uint64_t value)
{
    uint8_t be[8];
    for (unsigned i = 0; i < 8u; i++)
        be[i] = (uint8_t)(value >> (56u - 8u * i));
    put_bytes(w, be, sizeof(be));
}

static void put_i64(writer *w, int64_t value)
{
    put_u64(w, (uint64_t)value); /* two's complement, as the reader undoes */
}

static void put_u32(writer *w, uint32_t value)
{
    uint8_t be[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8),
                     (uint8_t)value};
    put_bytes(w, be, sizeof(be));
}

static void put_u8(writer *w, unsigned value)
{
    TK_ASSERT(value <= 0xffu);
    uint8_t byte = (uint8_t)value;
    put_bytes(w, &byte, 1);
}

static void put_text(writer *w, const char *text, size_t array_size)
{
    size_t len = strnlen(text, array_size);
    TK_ASSERT(len < array_size && len <= 0xffu);
    put_u8(w, (unsigned)len);
    put_bytes(w, text, len);
}

static void put_limits(writer *w, const led_limits *l)
{
    put_i64(w, l->max_order_notional_e8);
    put_i64(w, l->max_position_notional_e8);
    put_i64(w, l->max_position_equity_bps);
    put_i64(w, l->max_gross_exposure_e8);
    put_i64(w, l->max_open_orders);
    put_i64(w, l->price_band_bps);
    put_i64(w, l->daily_loss_bps);
    put_i64(w, l->max_drawdown_bps);
}

static void put_account(writer *w, const led_account *a)
{
    put_u64(w, a->last_index);
    put_i64(w, a->last_ts_ns);
    put_text(w, a->valuation_asset, sizeof(a->valuation_asset));
    put_i64(w, a->equity_e8);
    put_i64(w, a->peak_equity_e8);
    put_i64(w, a->sod_equity_e8);
    put_i64(w, a->day);
    put_u8(w, a->kill_switch ? 1u : 0u);
    put_text(w, a->kill_reason, sizeof(a->kill_reason));
    put_u64(w, a->leader_term);
    put_text(w, a->leader_node, sizeof(a->leader_node));
    put_limits(w, &a->limits);
    put_u64(w, a->events_applied);
    put_u64(w, a->events_refused);
    put_u64(w, a->orders_accepted);
    put_u64(w, a->orders_rejected);
    put_u64(w, a->last_decision_index);
    put_u8(w, (unsigned)a->last_decision_rule);
    put_text(w, a->last_decision_detail, sizeof(a->last_decision_detail));
}

static void put_instrument(writer *w, const led_instrument *ins)
{
    put_text(w, ins->symbol, sizeof(ins->symbol));
    put_text(w, ins->base, sizeof(ins->base));
    put_text(w, ins->quote, sizeof(ins->quote));
    put_i64(w, ins->tick_e8);
    put_i64(w, ins->lot_e8);
    put_i64(w, ins->min_notional_e8);
    put_i64(w, ins->mark_e8);
    put_i64(w, ins->mark_ts_ns);
    put_u8(w, ins->breaker_tripped ? 1u : 0u);
    put_u8(w, (unsigned)ins->feed);
    put_i64(w, ins->position_e8);
    put_i64(w, ins->avg_entry_e8);
    put_i64(w, ins->realized_pnl_e8);
    put_i64(w, ins->open_buy_e8);
    put_i64(w, ins->open_sell_e8);
}

#define ORDER_REDUCE_ONLY      1u
#define ORDER_CANCEL_REQUESTED 2u
#define ORDER_EXTERNAL         4u

static void put_order(writer *w, const led_order *o)
{
    put_u64(w, o->index);
    put_i64(w, o->ts_ns);
    put_text(w, o->symbol, sizeof(o->symbol));
    put_text(w, o->strategy, sizeof(o->strategy));
    put_text(w, o->client_order_id, sizeof(o->client_order_id));
    put_text(w, o->venue_order_id, sizeof(o->venue_order_id));
    put_u8(w, (unsigned)o->side);
    put_u8(w, (unsigned)o->kind);
    put_u8(w, (unsigned)o->state);
    put_u8(w, (o->reduce_only ? ORDER_REDUCE_ONLY : 0u) |
                  (o->cancel_requested ? ORDER_CANCEL_REQUESTED : 0u) |
                  (o->external ? ORDER_EXTERNAL : 0u));
    put_i64(w, o->qty_e8);
    put_i64(w, o->price_e8);
    put_i64(w, o->filled_qty_e8);
    put_i64(w, o->ref_price_e8);
    put_i64(w, o->reserved_e8);
}

tk_err led_state_encode(const led_state *state, uint8_t *buf, size_t buf_size, size_t *out_size)
{
    TK_ASSERT(state != NULL && buf != NULL && out_size != NULL);
    writer w = {.buf = buf, .size = buf_size};
    put_u32(&w, STATE_MAGIC);
    put_u32(&w, STATE_VERSION);
    put_account(&w, &state->acct);
    put_u32(&w, state->acct.instrument_count);
    for (uint32_t i = 0; i < state->acct.instrument_count; i++)
        put_instrument(&w, &state->instruments[i]);
    put_u32(&w, state->acct.asset_count);
    for (uint32_t i = 0; i < state->acct.asset_count; i++) {
        const led_balance *b = &state->balances[i];
        put_text(&w, b->asset, sizeof(b->asset));
        put_i64(&w, b->total_e8);
        put_i64(&w, b->reserved_e8);
        put_i64(&w, b->fees_e8);
    }
    put_u32(&w, state->acct.strategy_count);
    for (uint32_t i = 0; i < state->acct.strategy_count; i++) {
        put_text(&w, state->strategies[i].name, sizeof(state->strategies[i].name));
        put_u8(&w, state->strategies[i].enabled ? 1u : 0u);
    }
    put_u32(&w, state->acct.open_order_count);
    uint32_t written = 0;
    for (uint32_t i = 0; i < state->order_slots; i++) {
        if (led_order_state_is_terminal(state->orders[i].state)) continue;
        put_order(&w, &state->orders[i]);
        written++;
    }
    TK_ASSERT(written == state->acct.open_order_count);
    put_u32(&w, state->key_count); /* oldest first: the same keys give the same bytes */
    for (uint32_t i = 0; i < state->key_count; i++) {
        const led__key *k = led__key_at(state, i);
        put_text(&w, k->key, sizeof(k->key));
        put_u64(&w, k->index);
        put_u8(&w, (unsigned)k->result);
        put_u8(&w, (unsigned)k->rule);
    }
    if (w.full) return TK_EFULL;
    *out_size = w.used;
    return TK_OK;
}

void led_state_hash(const led_state *state, uint8_t out[LED_HASH_BYTES])
{
    TK_ASSERT(state != NULL && out != NULL);
    size_t size = 0;
    tk_err err = led_state_encode(state, state->scratch, led_state_encoded_size_max(), &size);
    TK_ASSERT(err == TK_OK); /* the scratch buffer holds the largest state */
    led_sha256(state->scratch, size, out);
}

/* ---- Reading --------------------------------------------------------------------------------- */

/* A strict cursor: the first failure sticks (field and reason), later reads return zeros. */
typedef struct reader {
    const uint8_t *buf;
    size_t size;
    size_t at;
    const char *part;     /* what is being read */
    const char *reason;   /* the first failure, or NULL */
    const char *bad_part; /* the part being read when it happened */
} reader;

static void bad(reader *r, const char *reason)
{
    if (r->reason != NULL) return; /* the first failure sticks */
    r->reason = reason;
    r->bad_part = r->part;
}

static bool take(reader *r, void *out, size_t n)
{
    if (r->reason == NULL && n > r->size - r->at) bad(r, "truncated");
    if (r->reason != NULL) {
        memset(out, 0, n);
        return false;
    }
    memcpy(out, r->buf + r->at, n);
    r->at += n;
    return true;
}

static uint64_t get_u64(reader *r)
{
    uint8_t be[8];
    (void)take(r, be, sizeof(be));
    uint64_t value = 0;
    for (unsigned i = 0; i < 8u; i++)
        value = value << 8 | be[i];
    return value;
}

static int64_t get_i64(reader *r)
{
    uint64_t bits = get_u64(r);
    int64_t value;
    memcpy(&value, &bits, sizeof(value)); /* two's complement, as put_i64 wrote it */
    return value;
}

static uint32_t get_u32(reader *r)
{
    uint8_t be[4];
    (void)take(r, be, sizeof(be));
    return (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 | (uint32_t)be[2] << 8 | be[3];
}

static unsigned get_u8(reader *r)
{
    uint8_t byte;
    (void)take(r, &byte, 1);
    return byte;
}

/* A value below limit, else the error. */
static unsigned get_enum(reader *r, unsigned limit)
{
    unsigned value = get_u8(r);
    if (value >= limit) bad(r, "a value out of range");
    return value < limit ? value : 0;
}

static bool get_bool(reader *r)
{
    return get_enum(r, 2) == 1u;
}

static void get_text(reader *r, char *out, size_t array_size)
{
    unsigned len = get_u8(r);
    memset(out, 0, array_size);
    if (len >= array_size) {
        bad(r, "a text longer than its field");
        return;
    }
    if (!take(r, out, len)) return;
    if (memchr(out, '\0', len) != NULL) bad(r, "a text with a NUL byte");
}

static void get_limits(reader *r, led_limits *l)
{
    l->max_order_notional_e8 = get_i64(r);
    l->max_position_notional_e8 = get_i64(r);
    l->max_position_equity_bps = get_i64(r);
    l->max_gross_exposure_e8 = get_i64(r);
    l->max_open_orders = get_i64(r);
    l->price_band_bps = get_i64(r);
    l->daily_loss_bps = get_i64(r);
    l->max_drawdown_bps = get_i64(r);
    if (l->max_order_notional_e8 <= 0 || l->max_position_notional_e8 <= 0 ||
        l->max_gross_exposure_e8 <= 0) {
        bad(r, "a notional limit not above 0");
    }
    if (l->max_open_orders < 1 || l->max_open_orders > (int64_t)LED_ORDERS_OPEN_MAX)
        bad(r, "max_open_orders out of range");
    const int64_t bps[] = {l->max_position_equity_bps, l->price_band_bps, l->daily_loss_bps,
                           l->max_drawdown_bps};
    for (unsigned i = 0; i < sizeof(bps) / sizeof(bps[0]); i++) {
        if (bps[i] < 1 || bps[i] > 10000) bad(r, "a limit in bps outside 1..10000");
    }
}

static void get_account(reader *r, led_account *a)
{
    r->part = "account";
    a->last_index = get_u64(r);
    a->last_ts_ns = get_i64(r);
    get_text(r, a->valuation_asset, sizeof(a->valuation_asset));
    a->equity_e8 = get_i64(r);
    a->peak_equity_e8 = get_i64(r);
    a->sod_equity_e8 = get_i64(r);
    a->day = get_i64(r);
    a->kill_switch = get_bool(r);
    get_text(r, a->kill_reason, sizeof(a->kill_reason));
    a->leader_term = get_u64(r);
    get_text(r, a->leader_node, sizeof(a->leader_node));
    get_limits(r, &a->limits);
    a->events_applied = get_u64(r);
    a->events_refused = get_u64(r);
    a->orders_accepted = get_u64(r);
    a->orders_rejected = get_u64(r);
    a->last_decision_index = get_u64(r);
    a->last_decision_rule = (led_rule)get_enum(r, (unsigned)LED_RULE_OVERFLOW + 1u);
    get_text(r, a->last_decision_detail, sizeof(a->last_decision_detail));
}

static void get_instrument(reader *r, led_instrument *ins)
{
    get_text(r, ins->symbol, sizeof(ins->symbol));
    get_text(r, ins->base, sizeof(ins->base));
    get_text(r, ins->quote, sizeof(ins->quote));
    ins->tick_e8 = get_i64(r);
    ins->lot_e8 = get_i64(r);
    ins->min_notional_e8 = get_i64(r);
    ins->mark_e8 = get_i64(r);
    ins->mark_ts_ns = get_i64(r);
    ins->breaker_tripped = get_bool(r);
    ins->feed = (led_feed_status)get_enum(r, 3);
    ins->position_e8 = get_i64(r);
    ins->avg_entry_e8 = get_i64(r);
    ins->realized_pnl_e8 = get_i64(r);
    ins->open_buy_e8 = get_i64(r);
    ins->open_sell_e8 = get_i64(r);
    if (ins->symbol[0] == '\0' || ins->base[0] == '\0' || ins->quote[0] == '\0')
        bad(r, "an empty name");
    if (ins->tick_e8 <= 0 || ins->lot_e8 <= 0 || ins->min_notional_e8 < 0 || ins->mark_e8 < 0)
        bad(r, "a tick, lot, min notional or mark out of range");
    if (ins->open_buy_e8 < 0 || ins->open_sell_e8 < 0) bad(r, "negative open quantity");
    if (ins->position_e8 == INT64_MIN) bad(r, "a position at the edge of int64"); /* -x wraps */
}

static void get_order(reader *r, led_order *o)
{
    o->index = get_u64(r);
    o->ts_ns = get_i64(r);
    get_text(r, o->symbol, sizeof(o->symbol));
    get_text(r, o->strategy, sizeof(o->strategy));
    get_text(r, o->client_order_id, sizeof(o->client_order_id));
    get_text(r, o->venue_order_id, sizeof(o->venue_order_id));
    o->side = (led_side)get_enum(r, 2);
    o->kind = (led_order_kind)get_enum(r, 3);
    o->state = (led_order_state)get_enum(r, LED_ORDER_STATE_COUNT);
    unsigned flags = get_enum(r, 8);
    o->reduce_only = (flags & ORDER_REDUCE_ONLY) != 0;
    o->cancel_requested = (flags & ORDER_CANCEL_REQUESTED) != 0;
    o->external = (flags & ORDER_EXTERNAL) != 0;
    o->qty_e8 = get_i64(r);
    o->price_e8 = get_i64(r);
    o->filled_qty_e8 = get_i64(r);
    o->ref_price_e8 = get_i64(r);
    o->reserved_e8 = get_i64(r);
    if (led_order_state_is_terminal(o->state) || o->state == LED_ORDER_REQUESTED)
        bad(r, "an order state that is not open");
    if (o->qty_e8 <= 0 || o->filled_qty_e8 < 0 || o->filled_qty_e8 > o->qty_e8)
        bad(r, "quantities out of range");
    if (o->price_e8 < 0 || o->ref_price_e8 < 0 || o->reserved_e8 < 0)
        bad(r, "a negative price or reservation");
}

/* Count of a table, at most max. */
static uint32_t get_count(reader *r, const char *part, uint32_t max)
{
    r->part = part;
    uint32_t count = get_u32(r);
    if (count > max) bad(r, "more entries than the capacity");
    return count <= max ? count : 0;
}

/* Names in a table must be unique (replicas look them up by name), and every instrument's
 * assets must have a balance (apply reserves and settles in them). */
static void check_tables(reader *r, led_state *s)
{
    for (uint32_t i = 0; i < s->acct.instrument_count; i++) {
        r->part = "instrument";
        if (led__instrument_find(s, s->instruments[i].symbol) != (int32_t)i)
            bad(r, "a symbol defined twice");
    }
    for (uint32_t i = 0; i < s->acct.asset_count; i++) {
        r->part = "balance";
        if (led__asset_find(s, s->balances[i].asset) != (int32_t)i) bad(r, "an asset twice");
    }
    for (uint32_t i = 0; i < s->acct.strategy_count; i++) {
        r->part = "strategy";
        if (led__strategy_find(s, s->strategies[i].name) != (int32_t)i) bad(r, "a strategy twice");
    }
    for (uint32_t i = 0; i < s->acct.instrument_count; i++) {
        r->part = "instrument";
        if (led__asset_find(s, s->instruments[i].base) < 0 ||
            led__asset_find(s, s->instruments[i].quote) < 0)
            bad(r, "an asset without a balance");
    }
}

static void get_orders(reader *r, led_state *s)
{
    uint32_t count = get_count(r, "order", LED_ORDERS_OPEN_MAX);
    uint32_t i = 0;
    for (; i < count && r->reason == NULL; i++) {
        led_order *o = &s->orders[i];
        get_order(r, o);
        if (o->index == 0 || o->index > s->acct.last_index) bad(r, "an index out of range");
        if (i > 0 && o->index <= s->orders[i - 1].index) bad(r, "indices not increasing");
        if (led__instrument_find(s, o->symbol) < 0) bad(r, "an unknown symbol");
    }
    s->order_slots = i; /* the slots written: a failed decode's reset clears them */
    s->acct.open_order_count = i;
}

/* The recent idempotency keys, oldest first: each printable, unique, with an index below the
 * state's that grows along the ring, and a decision apply can make (a rule for a rejection
 * only), since a retry is answered with it. */
static void get_keys(reader *r, led_state *s)
{
    uint32_t count = get_count(r, "key", LED_KEYS_MAX);
    uint64_t last = 0;
    for (uint32_t i = 0; i < count && r->reason == NULL; i++) {
        char key[LED_KEY_BYTES];
        get_text(r, key, sizeof(key));
        uint64_t index = get_u64(r);
        led_result result = (led_result)get_enum(r, (unsigned)LED_REJECTED + 1u);
        led_rule rule = (led_rule)get_enum(r, (unsigned)LED_RULE_OVERFLOW + 1u);
        if (r->reason != NULL) break;
        bool printable = key[0] != '\0';
        for (size_t c = 0; key[c] != '\0' && printable; c++)
            printable = key[c] >= 0x20 && key[c] <= 0x7e;
        if (!printable)
            bad(r, "a key that is empty or not printable ASCII");
        else if (index <= last || index > s->acct.last_index)
            bad(r, "an index out of order");
        else if (result == LED_SKIPPED)
            bad(r, "a skipped event's key");
        else if ((rule != LED_RULE_NONE) != (result == LED_REJECTED))
            bad(r, "a rule off a rejection");
        else if (led__key_find(s, key) != NULL)
            bad(r, "a key twice");
        else
            led__key_add(s, key, index, result, rule);
        last = index;
    }
}

/* The instruments' open quantities and the balances' reservations are sums over the open
 * orders, and each order holds what its remaining quantity needs: apply relies on both (it
 * releases what an order holds), so a state that breaks them is refused. */
static void check_sums(reader *r, led_state *s)
{
    int64_t open[LED_INSTRUMENTS_MAX][2] = {{0}};
    int64_t reserved[LED_ASSETS_MAX] = {0};
    r->part = "order";
    for (uint32_t k = 0; k < s->order_slots && r->reason == NULL; k++) {
        const led_order *o = &s->orders[k];
        const led_instrument *ins = &s->instruments[led__instrument_find(s, o->symbol)];
        int32_t a = led__asset_find(s, o->side == LED_SIDE_BUY ? ins->quote : ins->base);
        int64_t *side = &open[led__instrument_find(s, o->symbol)][o->side];
        int64_t need = 0;
        if (led__reservation(o->side, o->ref_price_e8, o->qty_e8 - o->filled_qty_e8, &need) !=
                TK_OK ||
            need != o->reserved_e8)
            bad(r, "a reservation that is not what the order needs");
        if (led_add(*side, o->qty_e8 - o->filled_qty_e8, side) != TK_OK ||
            led_add(reserved[a], o->reserved_e8, &reserved[a]) != TK_OK)
            bad(r, "open quantities that overflow");
    }
    for (uint32_t i = 0; i < s->acct.instrument_count && r->reason == NULL; i++) {
        r->part = "instrument";
        if (open[i][LED_SIDE_BUY] != s->instruments[i].open_buy_e8 ||
            open[i][LED_SIDE_SELL] != s->instruments[i].open_sell_e8)
            bad(r, "open quantities that disagree with the open orders");
    }
    for (uint32_t i = 0; i < s->acct.asset_count && r->reason == NULL; i++) {
        r->part = "balance";
        if (reserved[i] != s->balances[i].reserved_e8)
            bad(r, "a reservation that disagrees with the open orders");
    }
}

tk_err led_state_decode(led_state *state, const uint8_t *buf, size_t size_bytes,
                        led_event_error *why)
{
    TK_ASSERT(state != NULL);
    if (size_bytes > 0) TK_ASSERT(buf != NULL);
    led_state_reset(state);
    reader r = {.buf = buf, .size = size_bytes, .part = "header"};
    if (get_u32(&r) != STATE_MAGIC) bad(&r, "not a troika state (magic)");
    if (get_u32(&r) != STATE_VERSION) bad(&r, "unsupported version");
    get_account(&r, &state->acct);
    led_account *a = &state->acct;
    a->instrument_count = get_count(&r, "instrument", LED_INSTRUMENTS_MAX);
    for (uint32_t i = 0; i < a->instrument_count; i++)
        get_instrument(&r, &state->instruments[i]);
    a->asset_count = get_count(&r, "balance", LED_ASSETS_MAX);
    for (uint32_t i = 0; i < a->asset_count; i++) {
        led_balance *b = &state->balances[i];
        get_text(&r, b->asset, sizeof(b->asset));
        b->total_e8 = get_i64(&r);
        b->reserved_e8 = get_i64(&r);
        b->fees_e8 = get_i64(&r);
        if (b->asset[0] == '\0' || b->reserved_e8 < 0) bad(&r, "an empty name or reservation");
    }
    a->strategy_count = get_count(&r, "strategy", LED_STRATEGIES_MAX);
    for (uint32_t i = 0; i < a->strategy_count; i++) {
        get_text(&r, state->strategies[i].name, sizeof(state->strategies[i].name));
        state->strategies[i].enabled = get_bool(&r);
    }
    check_tables(&r, state);
    get_orders(&r, state);
    if (r.reason == NULL) check_sums(&r, state);
    if (r.reason == NULL) get_keys(&r, state);
    r.part = "(end)";
    if (r.reason == NULL && r.at != r.size) bad(&r, "bytes after the state");
    if (r.reason != NULL) {
        if (why != NULL) {
            snprintf(why->field, sizeof(why->field), "%s", r.bad_part);
            why->reason = r.reason;
        }
        led_state_reset(state);
        return TK_EINVAL;
    }
    led__valuers_update(state);
    return TK_OK;
}
