/* The event catalogue and its msgpack codec (msgpack-c), driven by one table of fields per
 * event type, so that encoding, strict decoding and checking cannot disagree about a field.
 * The snapshot blob is encoded here too. The only file of ledger/ that includes msgpack.h. */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "led.h"

typedef enum field_kind {
    F_STR,  /* char array: size bytes with its NUL */
    F_I64,  /* int64_t within [min, max] */
    F_U64,  /* uint64_t within [min, max] (both >= 0) */
    F_BOOL, /* bool */
    F_SIDE, /* led_side, written "buy" | "sell" */
    F_KIND, /* led_order_kind, written "market" | "limit" | "stop" */
    F_FEED, /* led_feed_status, written "ok" | "stale" | "gap" */
} field_kind;

typedef struct field_desc {
    const char *key;
    size_t key_len; /* strlen(key), so that decoding compares without strlen */
    field_kind kind;
    bool money; /* F_I64 in 1e-8 units: shown as a decimal (led_event_field_text) */
    size_t offset;
    size_t size; /* F_STR: the array's bytes */
    int64_t min; /* F_I64, F_U64; F_STR: 1 when the text may not be empty */
    int64_t max;
} field_desc;

typedef struct type_desc {
    const char *name;
    size_t name_len;
    const field_desc *fields;
    uint32_t count;
} type_desc;

#define MEMBER(m)      offsetof(led_event, u.m)
#define MEMBER_SIZE(m) sizeof(((led_event *)0)->u.m)
#define FS(key, m, nonempty)                                                                  \
    {                                                                                         \
        key, sizeof(key) - 1u, F_STR, false, MEMBER(m), MEMBER_SIZE(m), (nonempty) ? 1 : 0, 0 \
    }
/* FI and FU take the range as their last arguments: (min, max), or POS, NONNEG or BPS. */
#define FI(key, m, ...)                                                \
    {                                                                  \
        key, sizeof(key) - 1u, F_I64, false, MEMBER(m), 0, __VA_ARGS__ \
    }
/* FM: money, an F_I64 in 1e-8 units. */
#define FM(key, m, ...)                                               \
    {                                                                 \
        key, sizeof(key) - 1u, F_I64, true, MEMBER(m), 0, __VA_ARGS__ \
    }
#define FU(key, m, ...)                                                \
    {                                                                  \
        key, sizeof(key) - 1u, F_U64, false, MEMBER(m), 0, __VA_ARGS__ \
    }
#define FB(key, m)                                               \
    {                                                            \
        key, sizeof(key) - 1u, F_BOOL, false, MEMBER(m), 0, 0, 0 \
    }
#define FE(key, kind, m)                                       \
    {                                                          \
        key, sizeof(key) - 1u, kind, false, MEMBER(m), 0, 0, 0 \
    }
#define POS    1, INT64_MAX
#define NONNEG 0, INT64_MAX
#define BPS    1, 10000

static const field_desc instrument_fields[] = {
    FS("symbol", instrument_defined.symbol, true),
    FS("base", instrument_defined.base, true),
    FS("quote", instrument_defined.quote, true),
    FM("tick", instrument_defined.tick_e8, POS),
    FM("lot", instrument_defined.lot_e8, POS),
    FM("min_notional", instrument_defined.min_notional_e8, NONNEG),
};
static const field_desc bar_fields[] = {
    FS("symbol", bar_closed.symbol, true),        FI("open_ts_ns", bar_closed.open_ts_ns, NONNEG),
    FI("interval_s", bar_closed.interval_s, POS), FM("open", bar_closed.open_e8, POS),
    FM("high", bar_closed.high_e8, POS),          FM("low", bar_closed.low_e8, POS),
    FM("close", bar_closed.close_e8, POS),        FM("volume", bar_closed.volume_e8, NONNEG),
};
static const field_desc order_requested_fields[] = {
    FS("symbol", order_requested.symbol, true),     FS("strategy", order_requested.strategy, true),
    FE("side", F_SIDE, order_requested.side),       FE("kind", F_KIND, order_requested.kind),
    FM("qty", order_requested.qty_e8, POS),         FM("price", order_requested.price_e8, NONNEG),
    FB("reduce_only", order_requested.reduce_only),
};
static const field_desc order_acked_fields[] = {
    FU("order", order_acked.order_index, POS),
    FS("venue_order_id", order_acked.venue_order_id, true),
};
static const field_desc order_filled_fields[] = {
    FU("order", order_filled.order_index, POS),
    FS("fill_id", order_filled.fill_id, true),
    FM("qty", order_filled.qty_e8, POS),
    FM("price", order_filled.price_e8, POS),
    FM("fee", order_filled.fee_e8, NONNEG),
    FS("fee_asset", order_filled.fee_asset, true),
    FB("maker", order_filled.maker),
};
static const field_desc order_rejected_fields[] = {
    FU("order", order_rejected_by_venue.order_index, POS),
    FI("code", order_rejected_by_venue.code, INT64_MIN, INT64_MAX),
    FS("message", order_rejected_by_venue.message, false),
};
static const field_desc order_cancel_requested_fields[] = {
    FU("order", order_cancel_requested.order_index, POS),
};
static const field_desc order_cancelled_fields[] = {
    FU("order", order_cancelled.order_index, POS),
    FS("reason", order_cancelled.reason, false),
};
static const field_desc external_order_fields[] = {
    FS("client_order_id", external_order_adopted.client_order_id, true),
    FS("symbol", external_order_adopted.symbol, true),
    FE("side", F_SIDE, external_order_adopted.side),
    FE("kind", F_KIND, external_order_adopted.kind),
    FM("qty", external_order_adopted.qty_e8, POS),
    FM("price", external_order_adopted.price_e8, NONNEG),
    FM("filled_qty", external_order_adopted.filled_qty_e8, NONNEG),
};
static const field_desc risk_limits_fields[] = {
    FM("max_order_notional", risk_limits_set.max_order_notional_e8, POS),
    FM("max_position_notional", risk_limits_set.max_position_notional_e8, POS),
    FI("max_position_equity_bps", risk_limits_set.max_position_equity_bps, BPS),
    FM("max_gross_exposure", risk_limits_set.max_gross_exposure_e8, POS),
    FI("max_open_orders", risk_limits_set.max_open_orders, POS),
    FI("price_band_bps", risk_limits_set.price_band_bps, BPS),
    FI("daily_loss_bps", risk_limits_set.daily_loss_bps, BPS),
    FI("max_drawdown_bps", risk_limits_set.max_drawdown_bps, BPS),
};
static const field_desc kill_switch_fields[] = {
    FB("on", kill_switch_set.on),
    FS("reason", kill_switch_set.reason, false),
};
static const field_desc circuit_breaker_fields[] = {
    FS("symbol", circuit_breaker_set.symbol, true),
    FB("tripped", circuit_breaker_set.tripped),
    FS("reason", circuit_breaker_set.reason, false),
};
static const field_desc feed_health_fields[] = {
    FS("feed", feed_health.feed, true),
    FS("symbol", feed_health.symbol, true),
    FE("status", F_FEED, feed_health.status),
    FS("detail", feed_health.detail, false),
};
static const field_desc strategy_enabled_fields[] = {
    FS("strategy", strategy_enabled.strategy, true),
    FB("enabled", strategy_enabled.enabled),
};
static const field_desc balance_adjusted_fields[] = {
    FS("asset", balance_adjusted.asset, true),
    FM("delta", balance_adjusted.delta_e8, INT64_MIN, INT64_MAX),
    FS("reason", balance_adjusted.reason, false),
};
static const field_desc leader_changed_fields[] = {
    FU("term", leader_changed.term, POS),
    FS("node", leader_changed.node, true),
};

#define TYPE(name, fields)                                                  \
    {                                                                       \
        name, sizeof(name) - 1u, fields, sizeof(fields) / sizeof(fields[0]) \
    }

/* Indexed by led_event_type; entry 0 is unused. */
static const type_desc types[LED_EV_TYPE_COUNT + 1u] = {
    [LED_EV_INSTRUMENT_DEFINED] = TYPE("InstrumentDefined", instrument_fields),
    [LED_EV_BAR_CLOSED] = TYPE("BarClosed", bar_fields),
    [LED_EV_ORDER_REQUESTED] = TYPE("OrderRequested", order_requested_fields),
    [LED_EV_ORDER_ACKED] = TYPE("OrderAcked", order_acked_fields),
    [LED_EV_ORDER_FILLED] = TYPE("OrderFilled", order_filled_fields),
    [LED_EV_ORDER_REJECTED_BY_VENUE] = TYPE("OrderRejectedByVenue", order_rejected_fields),
    [LED_EV_ORDER_CANCEL_REQUESTED] = TYPE("OrderCancelRequested", order_cancel_requested_fields),
    [LED_EV_ORDER_CANCELLED] = TYPE("OrderCancelled", order_cancelled_fields),
    [LED_EV_EXTERNAL_ORDER_ADOPTED] = TYPE("ExternalOrderAdopted", external_order_fields),
    [LED_EV_RISK_LIMITS_SET] = TYPE("RiskLimitsSet", risk_limits_fields),
    [LED_EV_KILL_SWITCH_SET] = TYPE("KillSwitchSet", kill_switch_fields),
    [LED_EV_CIRCUIT_BREAKER_SET] = TYPE("CircuitBreakerSet", circuit_breaker_fields),
    [LED_EV_FEED_HEALTH] = TYPE("FeedHealth", feed_health_fields),
    [LED_EV_STRATEGY_ENABLED] = TYPE("StrategyEnabled", strategy_enabled_fields),
    [LED_EV_BALANCE_ADJUSTED] = TYPE("BalanceAdjusted", balance_adjusted_fields),
    [LED_EV_LEADER_CHANGED] = TYPE("LeaderChanged", leader_changed_fields),
};

#define VERSION_CURRENT 1u
#define FIELDS_MAX      16u /* per type; the decoder's seen-mask is 32 bits with the header */

static const char *const side_names[] = {[LED_SIDE_BUY] = "buy", [LED_SIDE_SELL] = "sell"};
static const char *const kind_names[] = {
    [LED_ORDER_MARKET] = "market", [LED_ORDER_LIMIT] = "limit", [LED_ORDER_STOP] = "stop"};
static const char *const feed_names[] = {
    [LED_FEED_OK] = "ok", [LED_FEED_STALE] = "stale", [LED_FEED_GAP] = "gap"};

/* The names of an enum kind's values, and how many. */
static const char *const *enum_names(field_kind kind, uint32_t *out_count)
{
    switch (kind) {
    case F_SIDE:
        *out_count = 2;
        return side_names;
    case F_KIND:
        *out_count = 3;
        return kind_names;
    case F_FEED:
        *out_count = 3;
        return feed_names;
    case F_STR:
    case F_I64:
    case F_U64:
    case F_BOOL:
        break;
    }
    TK_ASSERT(false); /* not an enum kind */
    return NULL;
}

static const type_desc *type_of(led_event_type type)
{
    unsigned index = (unsigned)type;
    if (index == 0 || index > LED_EV_TYPE_COUNT) return NULL;
    return &types[index];
}

const char *led_event_type_name(led_event_type type)
{
    const type_desc *desc = type_of(type);
    return desc != NULL ? desc->name : NULL;
}

_Static_assert(sizeof(led_side) == sizeof(int) && sizeof(led_order_kind) == sizeof(int) &&
                   sizeof(led_feed_status) == sizeof(int),
               "enum fields are read and written as int");

static tk_err fail(led_event_error *why, const char *field, const char *reason, tk_err err)
{
    if (why != NULL) {
        snprintf(why->field, sizeof(why->field), "%s", field);
        why->reason = reason;
    }
    return err;
}

/* Field access by table entry. */
static const void *field_at(const led_event *ev, const field_desc *f)
{
    return (const unsigned char *)ev + f->offset;
}

static void *field_at_mut(led_event *ev, const field_desc *f)
{
    return (unsigned char *)ev + f->offset;
}

/* One field against its table entry. */
static tk_err field_check(const led_event *ev, const field_desc *f, led_event_error *why)
{
    const void *at = field_at(ev, f);
    switch (f->kind) {
    case F_STR: {
        size_t len = strnlen(at, f->size);
        if (len == f->size) return fail(why, f->key, "text not terminated", TK_EINVAL);
        if (len == 0 && f->min > 0) return fail(why, f->key, "empty", TK_EINVAL);
        return TK_OK;
    }
    case F_I64: {
        int64_t value;
        memcpy(&value, at, sizeof(value));
        if (value < f->min || value > f->max) return fail(why, f->key, "out of range", TK_EINVAL);
        return TK_OK;
    }
    case F_U64: {
        uint64_t value;
        memcpy(&value, at, sizeof(value));
        if (value < (uint64_t)f->min || value > (uint64_t)f->max) {
            return fail(why, f->key, "out of range", TK_EINVAL);
        }
        return TK_OK;
    }
    case F_BOOL:
        return TK_OK;
    case F_SIDE:
    case F_KIND:
    case F_FEED: {
        int value;
        uint32_t count;
        memcpy(&value, at, sizeof(value));
        (void)enum_names(f->kind, &count);
        if (value < 0 || (uint32_t)value >= count) {
            return fail(why, f->key, "not a known value", TK_EINVAL);
        }
        return TK_OK;
    }
    }
    TK_ASSERT(false); /* kind outside the enum */
    return TK_EINVAL;
}

/* Rules that tie fields together. */
static tk_err price_for_kind(led_order_kind kind, int64_t price_e8, led_event_error *why)
{
    if (kind == LED_ORDER_MARKET && price_e8 != 0) {
        return fail(why, "price", "a market order has no price", TK_EINVAL);
    }
    if (kind != LED_ORDER_MARKET && price_e8 <= 0) {
        return fail(why, "price", "a limit or stop order needs a price above 0", TK_EINVAL);
    }
    return TK_OK;
}

static tk_err cross_check(const led_event *ev, led_event_error *why)
{
    switch (ev->type) {
    case LED_EV_BAR_CLOSED: {
        const int64_t open = ev->u.bar_closed.open_e8;
        const int64_t close = ev->u.bar_closed.close_e8;
        if (ev->u.bar_closed.high_e8 < (open > close ? open : close)) {
            return fail(why, "high", "below open or close", TK_EINVAL);
        }
        if (ev->u.bar_closed.low_e8 > (open < close ? open : close)) {
            return fail(why, "low", "above open or close", TK_EINVAL);
        }
        return TK_OK;
    }
    case LED_EV_ORDER_REQUESTED:
        return price_for_kind(ev->u.order_requested.kind, ev->u.order_requested.price_e8, why);
    case LED_EV_EXTERNAL_ORDER_ADOPTED:
        if (ev->u.external_order_adopted.filled_qty_e8 > ev->u.external_order_adopted.qty_e8) {
            return fail(why, "filled_qty", "above qty", TK_EINVAL);
        }
        return price_for_kind(ev->u.external_order_adopted.kind,
                              ev->u.external_order_adopted.price_e8, why);
    case LED_EV_BALANCE_ADJUSTED:
        if (ev->u.balance_adjusted.delta_e8 == 0) return fail(why, "delta", "zero", TK_EINVAL);
        return TK_OK;
    case LED_EV_INSTRUMENT_DEFINED:
    case LED_EV_ORDER_ACKED:
    case LED_EV_ORDER_FILLED:
    case LED_EV_ORDER_REJECTED_BY_VENUE:
    case LED_EV_ORDER_CANCEL_REQUESTED:
    case LED_EV_ORDER_CANCELLED:
    case LED_EV_RISK_LIMITS_SET:
    case LED_EV_KILL_SWITCH_SET:
    case LED_EV_CIRCUIT_BREAKER_SET:
    case LED_EV_FEED_HEALTH:
    case LED_EV_STRATEGY_ENABLED:
    case LED_EV_LEADER_CHANGED:
        return TK_OK;
    }
    return fail(why, "type", "not a known event type", TK_EINVAL);
}

/* An idempotency key: "" (none) or 1..LED_KEY_BYTES - 1 printable ASCII bytes, so that it logs
 * and travels as JSON text unchanged. */
static tk_err key_check(const char *key, size_t len, led_event_error *why)
{
    if (len >= LED_KEY_BYTES) return fail(why, "key", "too long", TK_EINVAL);
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x20 || key[i] > 0x7e)
            return fail(why, "key", "not printable ASCII", TK_EINVAL);
    }
    return TK_OK;
}

tk_err led_event_check(const led_event *ev, led_event_error *why)
{
    TK_ASSERT(ev != NULL);
    const type_desc *desc = type_of(ev->type);
    if (desc == NULL) return fail(why, "type", "not a known event type", TK_EINVAL);
    if (ev->version != VERSION_CURRENT) return fail(why, "v", "unsupported version", TK_EINVAL);
    if (ev->ts_ns < 0) return fail(why, "ts_ns", "before 1970", TK_EINVAL);
    tk_err key_err = key_check(ev->key, strnlen(ev->key, LED_KEY_BYTES), why);
    if (key_err != TK_OK) return key_err;
    for (uint32_t i = 0; i < desc->count; i++) {
        tk_err err = field_check(ev, &desc->fields[i], why);
        if (err != TK_OK) return err;
    }
    return cross_check(ev, why);
}

/* ---- Encoding ---------------------------------------------------------------------------------
 */

typedef struct out_buf {
    uint8_t *buf;
    size_t size;
    size_t used;
    bool full;
} out_buf;

static int out_write(void *data, const char *bytes, size_t len)
{
    out_buf *out = data;
    if (out->full || len > out->size - out->used) {
        out->full = true;
        return -1;
    }
    memcpy(out->buf + out->used, bytes, len);
    out->used += len;
    return 0;
}

static void pack_text(msgpack_packer *pk, const char *text)
{
    size_t len = strlen(text);
    (void)msgpack_pack_str(pk, len); /* a full buffer is seen once, in out_buf.full */
    (void)msgpack_pack_str_body(pk, text, len);
}

static void pack_field(msgpack_packer *pk, const led_event *ev, const field_desc *f)
{
    pack_text(pk, f->key);
    const void *at = field_at(ev, f);
    int64_t i64;
    uint64_t u64;
    int enum_value;
    uint32_t count;
    switch (f->kind) {
    case F_STR:
        pack_text(pk, at);
        return;
    case F_I64:
        memcpy(&i64, at, sizeof(i64));
        (void)msgpack_pack_int64(pk, i64);
        return;
    case F_U64:
        memcpy(&u64, at, sizeof(u64));
        (void)msgpack_pack_uint64(pk, u64);
        return;
    case F_BOOL:
        if (*(const bool *)at) {
            (void)msgpack_pack_true(pk);
        } else {
            (void)msgpack_pack_false(pk);
        }
        return;
    case F_SIDE:
    case F_KIND:
    case F_FEED:
        memcpy(&enum_value, at, sizeof(enum_value));
        pack_text(pk, enum_names(f->kind, &count)[enum_value]);
        return;
    }
    TK_ASSERT(false); /* kind outside the enum */
}

tk_err led_event_encode(const led_event *ev, uint8_t *buf, size_t buf_size, size_t *out_size)
{
    TK_ASSERT(ev != NULL && buf != NULL && out_size != NULL);
    TK_ASSERT(led_event_check(ev, NULL) == TK_OK); /* only valid events are written */
    const type_desc *desc = type_of(ev->type);
    TK_ASSERT(desc != NULL); /* checked above; said again for the compiler's null analysis */
    out_buf out = {.buf = buf, .size = buf_size};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, out_write);
    bool keyed = ev->key[0] != '\0';
    (void)msgpack_pack_map(&pk, 3u + (keyed ? 1u : 0u) + desc->count);
    pack_text(&pk, "type");
    pack_text(&pk, desc->name);
    pack_text(&pk, "v");
    (void)msgpack_pack_uint32(&pk, ev->version);
    pack_text(&pk, "ts_ns");
    (void)msgpack_pack_int64(&pk, ev->ts_ns);
    if (keyed) { /* written only when set: events without one keep their bytes and hashes */
        pack_text(&pk, "key");
        pack_text(&pk, ev->key);
    }
    for (uint32_t i = 0; i < desc->count; i++) {
        pack_field(&pk, ev, &desc->fields[i]);
    }
    if (out.full) return TK_EFULL;
    *out_size = out.used;
    return TK_OK;
}

/* ---- Decoding ---------------------------------------------------------------------------------
 */

struct led_codec {
    msgpack_zone zone; /* cleared, not freed, between decodes */
};

#define CODEC_ZONE_CHUNK_BYTES 2048u /* holds any one event's objects: no growth once warm */

tk_err led_codec_open(led_codec **out_codec)
{
    TK_ASSERT(out_codec != NULL);
    led_codec *codec = malloc(sizeof(*codec));
    if (codec == NULL) return TK_ENOMEM;
    if (!msgpack_zone_init(&codec->zone, CODEC_ZONE_CHUNK_BYTES)) {
        free(codec);
        return TK_ENOMEM;
    }
    *out_codec = codec;
    return TK_OK;
}

void led_codec_close(led_codec *codec)
{
    if (codec == NULL) return;
    msgpack_zone_destroy(&codec->zone);
    free(codec);
}

/* Whether obj is the text of len bytes. */
static bool text_is_n(const msgpack_object *obj, const char *text, size_t len)
{
    return obj->type == MSGPACK_OBJECT_STR && obj->via.str.size == len &&
           memcmp(obj->via.str.ptr, text, len) == 0;
}

static bool text_is(const msgpack_object *obj, const char *text)
{
    size_t len = strlen(text);
    return obj->type == MSGPACK_OBJECT_STR && obj->via.str.size == len &&
           memcmp(obj->via.str.ptr, text, len) == 0;
}

static tk_err read_i64(const msgpack_object *obj, const char *key, int64_t *out,
                       led_event_error *why)
{
    if (obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = obj->via.i64;
        return TK_OK;
    }
    if (obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return fail(why, key, "not an integer", TK_EINVAL);
    }
    if (obj->via.u64 > (uint64_t)INT64_MAX) return fail(why, key, "above int64", TK_EOVERFLOW);
    *out = (int64_t)obj->via.u64;
    return TK_OK;
}

static tk_err read_field(const msgpack_object *obj, led_event *ev, const field_desc *f,
                         led_event_error *why)
{
    void *at = field_at_mut(ev, f);
    switch (f->kind) {
    case F_STR:
        if (obj->type != MSGPACK_OBJECT_STR) return fail(why, f->key, "not text", TK_EINVAL);
        if (obj->via.str.size >= f->size) return fail(why, f->key, "too long", TK_EINVAL);
        if (memchr(obj->via.str.ptr, '\0', obj->via.str.size) != NULL) {
            return fail(why, f->key, "contains a NUL byte", TK_EINVAL);
        }
        memcpy(at, obj->via.str.ptr, obj->via.str.size);
        ((char *)at)[obj->via.str.size] = '\0';
        return TK_OK;
    case F_I64:
        return read_i64(obj, f->key, at, why);
    case F_U64:
        if (obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return fail(why, f->key, "not an unsigned integer", TK_EINVAL);
        }
        memcpy(at, &obj->via.u64, sizeof(uint64_t));
        return TK_OK;
    case F_BOOL:
        if (obj->type != MSGPACK_OBJECT_BOOLEAN) return fail(why, f->key, "not a bool", TK_EINVAL);
        *(bool *)at = obj->via.boolean;
        return TK_OK;
    case F_SIDE:
    case F_KIND:
    case F_FEED: {
        uint32_t count;
        const char *const *names = enum_names(f->kind, &count);
        for (uint32_t i = 0; i < count; i++) {
            if (!text_is(obj, names[i])) continue;
            int value = (int)i;
            memcpy(at, &value, sizeof(value));
            return TK_OK;
        }
        return fail(why, f->key, "not a known value", TK_EINVAL);
    }
    }
    TK_ASSERT(false); /* kind outside the enum */
    return TK_EINVAL;
}

/* The type named by the map's "type" key, or NULL (why says so). */
static const type_desc *find_type(const msgpack_object_map *map, led_event_type *out_type,
                                  led_event_error *why)
{
    for (uint32_t i = 0; i < map->size; i++) {
        if (!text_is(&map->ptr[i].key, "type")) continue;
        for (uint32_t t = 1; t <= LED_EV_TYPE_COUNT; t++) {
            if (text_is_n(&map->ptr[i].val, types[t].name, types[t].name_len)) {
                *out_type = (led_event_type)t;
                return &types[t];
            }
        }
        (void)fail(why, "type", "not a known event type", TK_EINVAL);
        return NULL;
    }
    (void)fail(why, "type", "missing", TK_EINVAL);
    return NULL;
}

/* Bits of the decoder's seen-mask: the three header keys, then the type's fields. */
#define SEEN_TYPE  (1u << 0)
#define SEEN_V     (1u << 1)
#define SEEN_TS    (1u << 2)
#define SEEN_KEY   (1u << 3)
#define SEEN_FIELD 4u /* bit of field 0 */

_Static_assert(SEEN_FIELD + FIELDS_MAX <= 32u, "the seen-mask is 32 bits");

/* Name an unknown key in why, printable: bytes outside ASCII's printable range become '?',
 * and an empty key is named "(empty key)". */
static void unknown_key_name(const msgpack_object *key, led_event_error *why)
{
    size_t len =
        key->via.str.size < sizeof(why->field) - 1u ? key->via.str.size : sizeof(why->field) - 1u;
    for (size_t i = 0; i < len; i++) {
        char c = key->via.str.ptr[i];
        why->field[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    why->field[len] = '\0';
    if (len == 0) snprintf(why->field, sizeof(why->field), "(empty key)");
    why->reason = "unknown field";
}

/* Decode one key/value pair of the map into ev, marking it in *seen. */
static tk_err decode_pair(const msgpack_object_kv *kv, const type_desc *desc, led_event *ev,
                          uint32_t *seen, led_event_error *why)
{
    const msgpack_object *key = &kv->key;
    if (key->type != MSGPACK_OBJECT_STR) return fail(why, "(key)", "not text", TK_EINVAL);
    uint32_t bit;
    const char *name = NULL; /* a header key's name, for the error if it repeats */
    tk_err err = TK_OK;
    if (text_is(key, "type")) {
        bit = SEEN_TYPE; /* read by find_type */
        name = "type";
    } else if (text_is(key, "v")) {
        bit = SEEN_V;
        name = "v";
        if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return fail(why, "v", "not an unsigned integer", TK_EINVAL);
        }
        if (kv->val.via.u64 != VERSION_CURRENT)
            return fail(why, "v", "unsupported version", TK_EINVAL);
        ev->version = VERSION_CURRENT;
    } else if (text_is(key, "ts_ns")) {
        bit = SEEN_TS;
        name = "ts_ns";
        err = read_i64(&kv->val, "ts_ns", &ev->ts_ns, why);
    } else if (text_is(key, "key")) {
        bit = SEEN_KEY;
        name = "key";
        if (kv->val.type != MSGPACK_OBJECT_STR) return fail(why, "key", "not text", TK_EINVAL);
        /* empty is refused: the canonical encoding leaves the key out instead */
        if (kv->val.via.str.size == 0) return fail(why, "key", "empty", TK_EINVAL);
        err = key_check(kv->val.via.str.ptr, kv->val.via.str.size, why);
        if (err == TK_OK) {
            memcpy(ev->key, kv->val.via.str.ptr, kv->val.via.str.size);
            ev->key[kv->val.via.str.size] = '\0';
        }
    } else {
        uint32_t i = 0;
        while (i < desc->count && !text_is_n(key, desc->fields[i].key, desc->fields[i].key_len))
            i++;
        if (i == desc->count) {
            if (why != NULL) unknown_key_name(key, why);
            return TK_EINVAL;
        }
        bit = 1u << (SEEN_FIELD + i);
        if ((*seen & bit) != 0) return fail(why, desc->fields[i].key, "appears twice", TK_EINVAL);
        err = read_field(&kv->val, ev, &desc->fields[i], why);
    }
    if (err != TK_OK) return err;
    if ((*seen & bit) != 0)
        return fail(why, name != NULL ? name : "(field)", "appears twice", TK_EINVAL);
    *seen |= bit;
    return TK_OK;
}

/* NULL unless every key of the type was seen; else the first missing one. */
static const char *first_missing(const type_desc *desc, uint32_t seen)
{
    if ((seen & SEEN_V) == 0) return "v";
    if ((seen & SEEN_TS) == 0) return "ts_ns";
    for (uint32_t i = 0; i < desc->count; i++) {
        if ((seen & (1u << (SEEN_FIELD + i))) == 0) return desc->fields[i].key;
    }
    return NULL;
}

/* Bytes a msgpack scalar at buf[at] spans (type byte included), by the msgpack spec's format
 * table; 0 for a container (events have none), the unused 0xc1, or a span past size. */
static size_t scalar_span(const uint8_t *buf, size_t size, size_t at)
{
    uint8_t b = buf[at];
    size_t left = size - at;
    size_t head = 1;
    uint64_t body = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        body = 0; /* fixints, nil, bools */
    } else if (b >= 0xa0 && b <= 0xbf) {
        body = b & 0x1fu; /* fixstr */
    } else if (b >= 0xcc && b <= 0xd3) {
        body = 1u << ((b - 0xcc) & 3u); /* uint8..64, int8..64 */
    } else if (b == 0xca || b == 0xcb) {
        body = b == 0xca ? 4u : 8u; /* float32, float64 */
    } else if (b >= 0xd4 && b <= 0xd8) {
        body = 1u + (1u << (b - 0xd4)); /* fixext 1..16: type byte and data */
    } else if (b == 0xd9 || b == 0xc4 || b == 0xc7) {
        head = 2; /* str8, bin8, ext8: a 1-byte length */
    } else if (b == 0xda || b == 0xc5 || b == 0xc8) {
        head = 3; /* 16-bit length */
    } else if (b == 0xdb || b == 0xc6 || b == 0xc9) {
        head = 5; /* 32-bit length */
    } else {
        return 0; /* maps, arrays, 0xc1 */
    }
    if (head > 1) {
        if (left < head) return 0;
        for (size_t i = 1; i < head; i++)
            body = body << 8 | buf[at + i];
        if (b == 0xc7 || b == 0xc8 || b == 0xc9) body += 1u; /* ext's type byte */
    }
    if (body > left - head) return 0;
    return head + (size_t)body;
}

/* The shape every event has: one map of at most 4 + FIELDS_MAX pairs of scalars. Checked
 * before msgpack-c sees the bytes, because its C unpacker allocates a container's declared
 * size before reading it, with no limit: a 5-byte header could demand gigabytes. */
static tk_err shape_check(const uint8_t *buf, size_t size, const char *label, led_event_error *why)
{
    if (size == 0) return fail(why, label, "truncated", TK_EINVAL);
    uint8_t b = buf[0];
    size_t at = 1;
    uint64_t pairs;
    if (b >= 0x80 && b <= 0x8f) {
        pairs = b & 0x0fu;
    } else if (b == 0xde && size >= 3) {
        pairs = (uint64_t)buf[1] << 8 | buf[2];
        at = 3;
    } else if (b == 0xdf && size >= 5) {
        pairs = (uint64_t)buf[1] << 24 | (uint64_t)buf[2] << 16 | (uint64_t)buf[3] << 8 | buf[4];
        at = 5;
    } else {
        return fail(why, label, "not a map", TK_EINVAL);
    }
    if (pairs > 4u + FIELDS_MAX) return fail(why, label, "too many keys", TK_EINVAL);
    for (uint64_t i = 0; i < 2u * pairs; i++) {
        if (at >= size) return fail(why, label, "truncated", TK_EINVAL);
        size_t span = scalar_span(buf, size, at);
        if (span == 0) return fail(why, label, "a nested or cut value", TK_EINVAL);
        at += span;
    }
    return TK_OK;
}

/* Unpack exactly one msgpack map of scalars into *out_map (its pairs live in the codec's zone
 * until the next decode); label ("(event)", "(snapshot)") names the input in errors. */
static tk_err unpack_map(led_codec *codec, const uint8_t *buf, size_t size_bytes, const char *label,
                         msgpack_object_map *out_map, led_event_error *why)
{
    TK_ASSERT(codec != NULL && out_map != NULL);
    if (size_bytes > 0) TK_ASSERT(buf != NULL);
    tk_err err = shape_check(buf, size_bytes, label, why);
    if (err != TK_OK) return err;
    msgpack_zone_clear(&codec->zone);
    size_t off = 0;
    msgpack_object obj;
    msgpack_unpack_return ret =
        msgpack_unpack((const char *)buf, size_bytes, &off, &codec->zone, &obj);
    switch (ret) {
    case MSGPACK_UNPACK_SUCCESS:
        if (obj.type != MSGPACK_OBJECT_MAP) return fail(why, label, "not a map", TK_EINVAL);
        *out_map = obj.via.map;
        return TK_OK;
    case MSGPACK_UNPACK_EXTRA_BYTES:
        return fail(why, label, "bytes after the end", TK_EINVAL);
    case MSGPACK_UNPACK_CONTINUE:
        return fail(why, label, "truncated", TK_EINVAL);
    case MSGPACK_UNPACK_PARSE_ERROR:
        return fail(why, label, "not msgpack", TK_EINVAL);
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return fail(why, label, "out of memory", TK_ENOMEM);
    }
    return fail(why, label, "not msgpack", TK_EINVAL);
}

tk_err led_event_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes, led_event *out,
                        led_event_error *why)
{
    TK_ASSERT(out != NULL);
    msgpack_object_map map;
    tk_err err = unpack_map(codec, buf, size_bytes, "(event)", &map, why);
    if (err != TK_OK) return err;
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    const type_desc *desc = find_type(&map, &ev.type, why);
    if (desc == NULL) return TK_EINVAL;
    TK_ASSERT(desc->count <= FIELDS_MAX);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < map.size; i++) {
        err = decode_pair(&map.ptr[i], desc, &ev, &seen, why);
        if (err != TK_OK) return err;
    }
    const char *missing = first_missing(desc, seen);
    if (missing != NULL) return fail(why, missing, "missing", TK_EINVAL);
    err = led_event_check(&ev, why);
    if (err != TK_OK) return err;
    *out = ev;
    return TK_OK;
}

/* ---- Snapshot blob ----------------------------------------------------------------------------
 */

#define SNAPSHOT_VERSION 1u

static void pack_bin(msgpack_packer *pk, const uint8_t *bytes, size_t size)
{
    (void)msgpack_pack_bin(pk, size);
    (void)msgpack_pack_bin_body(pk, bytes, size);
}

tk_err led_snapshot_encode(const led_snapshot *snap, uint8_t *buf, size_t buf_size,
                           size_t *out_size)
{
    TK_ASSERT(snap != NULL && buf != NULL && out_size != NULL);
    TK_ASSERT(strnlen(snap->cluster_id, sizeof(snap->cluster_id)) < sizeof(snap->cluster_id));
    if (snap->state_size > 0) TK_ASSERT(snap->state != NULL);
    out_buf out = {.buf = buf, .size = buf_size};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, out_write);
    (void)msgpack_pack_map(&pk, 6);
    pack_text(&pk, "v");
    (void)msgpack_pack_uint32(&pk, SNAPSHOT_VERSION);
    pack_text(&pk, "index");
    (void)msgpack_pack_uint64(&pk, snap->index);
    pack_text(&pk, "chain_hash");
    pack_bin(&pk, snap->chain_hash, LED_HASH_BYTES);
    pack_text(&pk, "raft_index");
    (void)msgpack_pack_uint64(&pk, snap->raft_index);
    pack_text(&pk, "cluster_id");
    pack_text(&pk, snap->cluster_id);
    pack_text(&pk, "state");
    pack_bin(&pk, snap->state, snap->state_size);
    if (out.full) return TK_EFULL;
    *out_size = out.used;
    return TK_OK;
}

/* The snapshot's keys, in the order of their seen-mask bits. */
static const char *const snapshot_keys[] = {"v",          "index",      "chain_hash",
                                            "raft_index", "cluster_id", "state"};
#define SNAPSHOT_KEYS 6u

static tk_err snapshot_u64(const msgpack_object *val, const char *key, uint64_t *out,
                           led_event_error *why)
{
    if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return fail(why, key, "not an unsigned integer", TK_EINVAL);
    }
    *out = val->via.u64;
    return TK_OK;
}

/* One key/value pair of a snapshot map, key number k of snapshot_keys, into snap. */
static tk_err snapshot_pair(uint32_t k, const msgpack_object *val, led_snapshot *snap,
                            led_event_error *why)
{
    uint64_t version;
    tk_err err;
    switch (k) {
    case 0:
        err = snapshot_u64(val, "v", &version, why);
        if (err == TK_OK && version != SNAPSHOT_VERSION) {
            return fail(why, "v", "unsupported version", TK_EINVAL);
        }
        return err;
    case 1:
        return snapshot_u64(val, "index", &snap->index, why);
    case 2:
        if (val->type != MSGPACK_OBJECT_BIN || val->via.bin.size != LED_HASH_BYTES) {
            return fail(why, "chain_hash", "not 32 bytes of binary", TK_EINVAL);
        }
        memcpy(snap->chain_hash, val->via.bin.ptr, LED_HASH_BYTES);
        return TK_OK;
    case 3:
        return snapshot_u64(val, "raft_index", &snap->raft_index, why);
    case 4: {
        field_desc f = {"cluster_id", 10, F_STR, false, 0, sizeof(snap->cluster_id), 0, 0};
        if (val->type != MSGPACK_OBJECT_STR) return fail(why, f.key, "not text", TK_EINVAL);
        if (val->via.str.size >= f.size) return fail(why, f.key, "too long", TK_EINVAL);
        if (memchr(val->via.str.ptr, '\0', val->via.str.size) != NULL) {
            return fail(why, f.key, "contains a NUL byte", TK_EINVAL);
        }
        memcpy(snap->cluster_id, val->via.str.ptr, val->via.str.size);
        snap->cluster_id[val->via.str.size] = '\0';
        return TK_OK;
    }
    default: /* k is an index into snapshot_keys, not an enum */
        TK_ASSERT(k == 5);
        if (val->type != MSGPACK_OBJECT_BIN) return fail(why, "state", "not binary", TK_EINVAL);
        snap->state = (const uint8_t *)val->via.bin.ptr;
        snap->state_size = val->via.bin.size;
        return TK_OK;
    }
}

tk_err led_snapshot_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes,
                           led_snapshot *out, led_event_error *why)
{
    TK_ASSERT(out != NULL);
    msgpack_object_map map;
    tk_err err = unpack_map(codec, buf, size_bytes, "(snapshot)", &map, why);
    if (err != TK_OK) return err;
    led_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    uint32_t seen = 0;
    for (uint32_t i = 0; i < map.size; i++) {
        const msgpack_object_kv *kv = &map.ptr[i];
        uint32_t k = 0;
        while (k < SNAPSHOT_KEYS && !text_is(&kv->key, snapshot_keys[k]))
            k++;
        if (k == SNAPSHOT_KEYS) {
            if (kv->key.type != MSGPACK_OBJECT_STR)
                return fail(why, "(key)", "not text", TK_EINVAL);
            if (why != NULL) unknown_key_name(&kv->key, why);
            return TK_EINVAL;
        }
        if ((seen & (1u << k)) != 0) return fail(why, snapshot_keys[k], "appears twice", TK_EINVAL);
        seen |= 1u << k;
        err = snapshot_pair(k, &kv->val, &snap, why);
        if (err != TK_OK) return err;
    }
    for (uint32_t k = 0; k < SNAPSHOT_KEYS; k++) {
        if ((seen & (1u << k)) == 0) return fail(why, snapshot_keys[k], "missing", TK_EINVAL);
    }
    if (snap.state_size == 0) return fail(why, "state", "empty", TK_EINVAL);
    *out = snap;
    return TK_OK;
}

/* ---- Fields as text -------------------------------------------------------------------------- */

uint32_t led_event_field_count(led_event_type type)
{
    const type_desc *desc = type_of(type);
    TK_ASSERT(desc != NULL);
    return desc->count;
}

void led_event_field_text(const led_event *ev, uint32_t i, led_field_text *out)
{
    TK_ASSERT(ev != NULL && out != NULL);
    const type_desc *desc = type_of(ev->type);
    TK_ASSERT(desc != NULL && i < desc->count);
    const field_desc *f = &desc->fields[i];
    const void *at = field_at(ev, f);
    out->key = f->key;
    out->kind = LED_FIELD_TEXT;
    int64_t i64;
    uint64_t u64;
    int enum_value;
    uint32_t count;
    switch (f->kind) {
    case F_STR:
        snprintf(out->text, sizeof(out->text), "%s", (const char *)at);
        return;
    case F_I64:
        memcpy(&i64, at, sizeof(i64));
        out->kind = f->money ? LED_FIELD_DECIMAL : LED_FIELD_INTEGER;
        if (f->money) {
            (void)led_format(i64, out->text, sizeof(out->text));
        } else {
            snprintf(out->text, sizeof(out->text), "%lld", (long long)i64);
        }
        return;
    case F_U64:
        memcpy(&u64, at, sizeof(u64));
        out->kind = LED_FIELD_INTEGER;
        snprintf(out->text, sizeof(out->text), "%llu", (unsigned long long)u64);
        return;
    case F_BOOL:
        out->kind = LED_FIELD_BOOL;
        snprintf(out->text, sizeof(out->text), "%s", *(const bool *)at ? "true" : "false");
        return;
    case F_SIDE:
    case F_KIND:
    case F_FEED:
        memcpy(&enum_value, at, sizeof(enum_value));
        snprintf(out->text, sizeof(out->text), "%s", enum_names(f->kind, &count)[enum_value]);
        return;
    }
    TK_ASSERT(false); /* kind outside the enum */
}
