/* ledger/led_event.c: every event type round-trips (struct -> bytes -> struct, and bytes ->
 * struct -> the same bytes) over seeded random valid events, and the decoder refuses, naming
 * the field, every kind of bad input. Bad inputs are made by editing a valid event's msgpack
 * object tree and packing it again with msgpack-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "led.h"
#include "ledger_tests.h"
#include "tk_test.h"

#define EVENT_SEED 20261121u

static led_codec *codec;

static int event_setup(void **state)
{
    (void)state;
    return led_codec_open(&codec) == TK_OK ? 0 : -1;
}

static int event_teardown(void **state)
{
    (void)state;
    led_codec_close(codec);
    codec = NULL;
    return 0;
}

/* Random text of 1 to size - 1 bytes (or 0 when empty_ok and the draw says so). */
static void random_text(tk_rng *rng, char *out, size_t size, bool empty_ok)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    size_t len = 1u + (size_t)tk_rng_below(rng, size - 1u);
    if (empty_ok && tk_rng_below(rng, 8) == 0) len = 0;
    for (size_t i = 0; i < len; i++) {
        out[i] = alphabet[tk_rng_below(rng, sizeof(alphabet) - 1u)];
    }
    out[len] = '\0';
}

static int64_t random_pos(tk_rng *rng)
{
    return 1 + (int64_t)tk_rng_below(rng, (uint64_t)INT64_MAX);
}

static int64_t random_bps(tk_rng *rng)
{
    return 1 + (int64_t)tk_rng_below(rng, 10000);
}

static void random_order_shape(tk_rng *rng, led_side *side, led_order_kind *kind, int64_t *price)
{
    *side = (led_side)tk_rng_below(rng, 2);
    *kind = (led_order_kind)tk_rng_below(rng, 3);
    *price = *kind == LED_ORDER_MARKET ? 0 : random_pos(rng);
}

static void random_bar(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.bar_closed.symbol, LED_SYMBOL_BYTES, false);
    ev->u.bar_closed.open_ts_ns = (int64_t)tk_rng_below(rng, (uint64_t)INT64_MAX);
    ev->u.bar_closed.interval_s = random_pos(rng);
    int64_t a = random_pos(rng);
    int64_t b = random_pos(rng);
    ev->u.bar_closed.open_e8 = a;
    ev->u.bar_closed.close_e8 = b;
    int64_t top = a > b ? a : b;
    ev->u.bar_closed.high_e8 = top <= INT64_MAX - 10 ? top + (int64_t)tk_rng_below(rng, 10) : top;
    ev->u.bar_closed.low_e8 = 1 + (int64_t)tk_rng_below(rng, (uint64_t)(a < b ? a : b));
    ev->u.bar_closed.volume_e8 = (int64_t)tk_rng_below(rng, (uint64_t)INT64_MAX);
}

static uint64_t random_index(tk_rng *rng)
{
    return 1u + tk_rng_below(rng, (uint64_t)INT64_MAX);
}

static void fill_instrument(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.instrument_defined.symbol, LED_SYMBOL_BYTES, false);
    random_text(rng, ev->u.instrument_defined.base, LED_ASSET_BYTES, false);
    random_text(rng, ev->u.instrument_defined.quote, LED_ASSET_BYTES, false);
    ev->u.instrument_defined.tick_e8 = random_pos(rng);
    ev->u.instrument_defined.lot_e8 = random_pos(rng);
    ev->u.instrument_defined.min_notional_e8 = random_pos(rng) - 1;
}

static void fill_order_requested(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.order_requested.symbol, LED_SYMBOL_BYTES, false);
    random_text(rng, ev->u.order_requested.strategy, LED_NAME_BYTES, false);
    random_order_shape(rng, &ev->u.order_requested.side, &ev->u.order_requested.kind,
                       &ev->u.order_requested.price_e8);
    ev->u.order_requested.qty_e8 = random_pos(rng);
    ev->u.order_requested.reduce_only = tk_rng_below(rng, 2) == 1;
}

static void fill_order_acked(tk_rng *rng, led_event *ev)
{
    ev->u.order_acked.order_index = random_index(rng);
    random_text(rng, ev->u.order_acked.venue_order_id, LED_ID_BYTES, false);
}

static void fill_order_filled(tk_rng *rng, led_event *ev)
{
    ev->u.order_filled.order_index = random_index(rng);
    random_text(rng, ev->u.order_filled.fill_id, LED_ID_BYTES, false);
    ev->u.order_filled.qty_e8 = random_pos(rng);
    ev->u.order_filled.price_e8 = random_pos(rng);
    ev->u.order_filled.fee_e8 = random_pos(rng) - 1;
    random_text(rng, ev->u.order_filled.fee_asset, LED_ASSET_BYTES, false);
    ev->u.order_filled.maker = tk_rng_below(rng, 2) == 1;
}

static void fill_order_rejected(tk_rng *rng, led_event *ev)
{
    ev->u.order_rejected_by_venue.order_index = random_index(rng);
    ev->u.order_rejected_by_venue.code = (int64_t)tk_rng_next(rng);
    random_text(rng, ev->u.order_rejected_by_venue.message, LED_TEXT_BYTES, true);
}

static void fill_cancel_requested(tk_rng *rng, led_event *ev)
{
    ev->u.order_cancel_requested.order_index = random_index(rng);
}

static void fill_cancelled(tk_rng *rng, led_event *ev)
{
    ev->u.order_cancelled.order_index = random_index(rng);
    random_text(rng, ev->u.order_cancelled.reason, LED_TEXT_BYTES, true);
}

static void fill_external(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.external_order_adopted.client_order_id, LED_ID_BYTES, false);
    random_text(rng, ev->u.external_order_adopted.symbol, LED_SYMBOL_BYTES, false);
    random_order_shape(rng, &ev->u.external_order_adopted.side, &ev->u.external_order_adopted.kind,
                       &ev->u.external_order_adopted.price_e8);
    ev->u.external_order_adopted.qty_e8 = random_pos(rng);
    ev->u.external_order_adopted.filled_qty_e8 =
        (int64_t)tk_rng_below(rng, (uint64_t)ev->u.external_order_adopted.qty_e8 + 1u);
}

static void fill_risk_limits(tk_rng *rng, led_event *ev)
{
    ev->u.risk_limits_set.max_order_notional_e8 = random_pos(rng);
    ev->u.risk_limits_set.max_position_notional_e8 = random_pos(rng);
    ev->u.risk_limits_set.max_position_equity_bps = random_bps(rng);
    ev->u.risk_limits_set.max_gross_exposure_e8 = random_pos(rng);
    ev->u.risk_limits_set.max_open_orders = random_pos(rng);
    ev->u.risk_limits_set.price_band_bps = random_bps(rng);
    ev->u.risk_limits_set.daily_loss_bps = random_bps(rng);
    ev->u.risk_limits_set.max_drawdown_bps = random_bps(rng);
}

static void fill_kill_switch(tk_rng *rng, led_event *ev)
{
    ev->u.kill_switch_set.on = tk_rng_below(rng, 2) == 1;
    random_text(rng, ev->u.kill_switch_set.reason, LED_TEXT_BYTES, true);
}

static void fill_circuit_breaker(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.circuit_breaker_set.symbol, LED_SYMBOL_BYTES, false);
    ev->u.circuit_breaker_set.tripped = tk_rng_below(rng, 2) == 1;
    random_text(rng, ev->u.circuit_breaker_set.reason, LED_TEXT_BYTES, true);
}

static void fill_feed_health(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.feed_health.feed, LED_NAME_BYTES, false);
    random_text(rng, ev->u.feed_health.symbol, LED_SYMBOL_BYTES, false);
    ev->u.feed_health.status = (led_feed_status)tk_rng_below(rng, 3);
    random_text(rng, ev->u.feed_health.detail, LED_TEXT_BYTES, true);
}

static void fill_strategy_enabled(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.strategy_enabled.strategy, LED_NAME_BYTES, false);
    ev->u.strategy_enabled.enabled = tk_rng_below(rng, 2) == 1;
}

static void fill_balance_adjusted(tk_rng *rng, led_event *ev)
{
    random_text(rng, ev->u.balance_adjusted.asset, LED_ASSET_BYTES, false);
    ev->u.balance_adjusted.delta_e8 = (int64_t)(tk_rng_next(rng) | 1u); /* never 0 */
    random_text(rng, ev->u.balance_adjusted.reason, LED_TEXT_BYTES, true);
}

static void fill_leader_changed(tk_rng *rng, led_event *ev)
{
    ev->u.leader_changed.term = random_index(rng);
    random_text(rng, ev->u.leader_changed.node, LED_NAME_BYTES, false);
}

typedef void (*event_filler)(tk_rng *rng, led_event *ev);

static const event_filler fillers[LED_EV_TYPE_COUNT + 1u] = {
    [LED_EV_INSTRUMENT_DEFINED] = fill_instrument,
    [LED_EV_BAR_CLOSED] = random_bar,
    [LED_EV_ORDER_REQUESTED] = fill_order_requested,
    [LED_EV_ORDER_ACKED] = fill_order_acked,
    [LED_EV_ORDER_FILLED] = fill_order_filled,
    [LED_EV_ORDER_REJECTED_BY_VENUE] = fill_order_rejected,
    [LED_EV_ORDER_CANCEL_REQUESTED] = fill_cancel_requested,
    [LED_EV_ORDER_CANCELLED] = fill_cancelled,
    [LED_EV_EXTERNAL_ORDER_ADOPTED] = fill_external,
    [LED_EV_RISK_LIMITS_SET] = fill_risk_limits,
    [LED_EV_KILL_SWITCH_SET] = fill_kill_switch,
    [LED_EV_CIRCUIT_BREAKER_SET] = fill_circuit_breaker,
    [LED_EV_FEED_HEALTH] = fill_feed_health,
    [LED_EV_STRATEGY_ENABLED] = fill_strategy_enabled,
    [LED_EV_BALANCE_ADJUSTED] = fill_balance_adjusted,
    [LED_EV_LEADER_CHANGED] = fill_leader_changed,
};

/* A random valid event of type (zeroed first, so that equal events compare equal bytewise). */
static void random_event(tk_rng *rng, led_event_type type, led_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->version = 1;
    ev->ts_ns = (int64_t)tk_rng_below(rng, (uint64_t)INT64_MAX);
    fillers[type](rng, ev);
}

/* encode -> decode gives the same struct; decode -> encode gives the same bytes. */
static void test_round_trip_every_type(void **state)
{
    (void)state;
    print_message("event seed %u\n", EVENT_SEED);
    tk_rng rng;
    tk_rng_init(&rng, EVENT_SEED);
    for (uint32_t t = 1; t <= LED_EV_TYPE_COUNT; t++) {
        for (uint32_t i = 0; i < 2000u; i++) {
            led_event ev;
            random_event(&rng, (led_event_type)t, &ev);
            led_event_error why = {{0}, NULL};
            if (led_event_check(&ev, &why) != TK_OK) {
                fail_msg("type %u: random event invalid: %s %s", t, why.field, why.reason);
            }
            uint8_t bytes[LED_EVENT_BYTES_MAX];
            size_t size = 0;
            EXPECT_ERR(led_event_encode(&ev, bytes, sizeof(bytes), &size), TK_OK);
            led_event back;
            tk_err err = led_event_decode(codec, bytes, size, &back, &why);
            if (err != TK_OK) fail_msg("type %u: %s %s", t, why.field, why.reason);
            assert_memory_equal(&ev, &back, sizeof(ev));
            uint8_t again[LED_EVENT_BYTES_MAX];
            size_t again_size = 0;
            EXPECT_ERR(led_event_encode(&back, again, sizeof(again), &again_size), TK_OK);
            assert_int_equal(again_size, size);
            assert_memory_equal(again, bytes, size);
        }
    }
}

/* The largest of many random events of each type fits LED_EVENT_BYTES_MAX (the limits of the
 * text fields make the worst case about 320 bytes); one byte less than an encoding is
 * TK_EFULL. */
static void test_encode_sizes(void **state)
{
    (void)state;
    tk_rng rng;
    tk_rng_init(&rng, EVENT_SEED + 1u);
    for (uint32_t t = 1; t <= LED_EV_TYPE_COUNT; t++) {
        size_t largest = 0;
        for (uint32_t i = 0; i < 300u; i++) {
            led_event ev;
            random_event(&rng, (led_event_type)t, &ev);
            uint8_t bytes[LED_EVENT_BYTES_MAX];
            size_t size = 0;
            EXPECT_ERR(led_event_encode(&ev, bytes, sizeof(bytes), &size), TK_OK);
            if (size > largest) largest = size;
            size_t unchanged = 12345;
            EXPECT_ERR(led_event_encode(&ev, bytes, size - 1u, &unchanged), TK_EFULL);
            assert_int_equal(unchanged, 12345);
        }
        assert_true(largest <= LED_EVENT_BYTES_MAX);
    }
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(led_event_type_name(LED_EV_ORDER_FILLED), "OrderFilled");
    assert_string_equal(led_event_type_name(LED_EV_LEADER_CHANGED), "LeaderChanged");
    assert_null(led_event_type_name((led_event_type)0));
    assert_null(led_event_type_name((led_event_type)(LED_EV_TYPE_COUNT + 1u)));
}

/* ---- Strict decoding ------------------------------------------------------------------------ */

/* A valid OrderRequested (limit buy 0.5 at 60,000.12) as a msgpack object tree to edit. */
typedef struct edit {
    msgpack_zone zone;
    msgpack_object obj;
    uint8_t bytes[LED_EVENT_BYTES_MAX];
    msgpack_sbuffer out;
} edit;

static void edit_begin(edit *e)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_ORDER_REQUESTED;
    ev.version = 1;
    ev.ts_ns = 1795273200000000000;
    snprintf(ev.u.order_requested.symbol, LED_SYMBOL_BYTES, "BTCUSDT");
    snprintf(ev.u.order_requested.strategy, LED_NAME_BYTES, "ema_cross");
    ev.u.order_requested.side = LED_SIDE_BUY;
    ev.u.order_requested.kind = LED_ORDER_LIMIT;
    ev.u.order_requested.qty_e8 = 50000000;
    ev.u.order_requested.price_e8 = 6000012000000;
    size_t size = 0;
    EXPECT_ERR(led_event_encode(&ev, e->bytes, sizeof(e->bytes), &size), TK_OK);
    assert_true(msgpack_zone_init(&e->zone, 2048));
    size_t off = 0;
    assert_int_equal(msgpack_unpack((const char *)e->bytes, size, &off, &e->zone, &e->obj),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_init(&e->out);
}

/* The value of key in the edited map (it must be there). */
static msgpack_object *edit_value(edit *e, const char *key)
{
    for (uint32_t i = 0; i < e->obj.via.map.size; i++) {
        msgpack_object *k = &e->obj.via.map.ptr[i].key;
        if (k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            return &e->obj.via.map.ptr[i].val;
        }
    }
    tk_panic(__FILE__, __LINE__, key); /* the fixture has no such key: a bug in this test */
}

/* Pack the edited tree and decode it: expect err and the field named. */
static void edit_expect(edit *e, tk_err want, const char *field)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &e->out, msgpack_sbuffer_write);
    assert_int_equal(msgpack_pack_object(&pk, e->obj), 0);
    led_event out;
    tk_test_mark(&out, sizeof(out));
    led_event_error why = {{0}, NULL};
    tk_err err = led_event_decode(codec, (const uint8_t *)e->out.data, e->out.size, &out, &why);
    if (err != want)
        fail_msg("got %s, want %s (%s: %s)", tk_err_name(err), tk_err_name(want), why.field,
                 why.reason);
    if (want != TK_OK) {
        if (strcmp(why.field, field) != 0) {
            fail_msg("field: got \"%s\" (%s), want \"%s\"", why.field, why.reason, field);
        }
        if (!tk_test_is_marked(&out, sizeof(out))) fail_msg("out written on error");
    }
    msgpack_sbuffer_destroy(&e->out);
    msgpack_zone_destroy(&e->zone);
}

static msgpack_object text_obj(const char *text)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_STR,
                            .via.str = {.size = (uint32_t)strlen(text), .ptr = text}};
}

static void test_decode_valid_edit(void **state)
{
    (void)state;
    edit e;
    edit_begin(&e);
    edit_expect(&e, TK_OK, ""); /* unedited: the fixture itself is valid */
}

static void test_decode_refuses_header(void **state)
{
    (void)state;
    edit e;
    edit_begin(&e);
    *edit_value(&e, "type") = text_obj("OrderTeleported");
    edit_expect(&e, TK_EINVAL, "type");
    edit_begin(&e);
    edit_value(&e, "v")->via.u64 = 2;
    edit_expect(&e, TK_EINVAL, "v");
    edit_begin(&e);
    *edit_value(&e, "ts_ns") = text_obj("yesterday");
    edit_expect(&e, TK_EINVAL, "ts_ns");
    edit_begin(&e);
    e.obj.via.map.ptr[0].key = text_obj("kind_of"); /* "type" renamed: the type is missing */
    edit_expect(&e, TK_EINVAL, "type");
    edit_begin(&e);
    e.obj.via.map.ptr[7].key = text_obj("ts_ns"); /* "qty" renamed: ts_ns twice */
    edit_expect(&e, TK_EINVAL, "ts_ns");
}

/* An idempotency key travels as an optional "key" header: written only when set (events
 * without one keep their bytes), decoded back exactly, and refused when it is not 1..63
 * printable ASCII bytes of text, or appears twice. */
static void test_key_header(void **state)
{
    (void)state;
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_KILL_SWITCH_SET;
    ev.version = 1;
    snprintf(ev.u.kill_switch_set.reason, LED_TEXT_BYTES, "drill");
    uint8_t plain[LED_EVENT_BYTES_MAX], keyed[LED_EVENT_BYTES_MAX], again[LED_EVENT_BYTES_MAX];
    size_t plain_size = 0, keyed_size = 0, again_size = 0;
    EXPECT_ERR(led_event_encode(&ev, plain, sizeof(plain), &plain_size), TK_OK);
    snprintf(ev.key, sizeof(ev.key), "retry-7 ~!");
    EXPECT_ERR(led_event_encode(&ev, keyed, sizeof(keyed), &keyed_size), TK_OK);
    assert_int_equal(keyed_size, plain_size + 4u + 11u); /* "key" and "retry-7 ~!" as fixstr */
    led_event out;
    EXPECT_ERR(led_event_decode(codec, keyed, keyed_size, &out, NULL), TK_OK);
    assert_string_equal(out.key, "retry-7 ~!");
    EXPECT_ERR(led_event_encode(&out, again, sizeof(again), &again_size), TK_OK);
    assert_memory_equal(again, keyed, keyed_size);
    EXPECT_ERR(led_event_decode(codec, plain, plain_size, &out, NULL), TK_OK);
    assert_string_equal(out.key, "");
    led_event_error why = {{0}, NULL};
    ev.key[0] = 0x7f;
    EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
    assert_string_equal(why.field, "key");
    memset(ev.key, 'a', sizeof(ev.key)); /* not terminated */
    EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
    assert_string_equal(why.field, "key");

    char long_key[LED_KEY_BYTES + 1];
    memset(long_key, 'k', LED_KEY_BYTES);
    long_key[LED_KEY_BYTES] = '\0';
    const msgpack_object bad[] = {text_obj(""),
                                  text_obj("\x01"),
                                  text_obj("caf\xc3\xa9"),
                                  text_obj(long_key),
                                  {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 5}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        edit e;
        edit_begin(&e);
        e.obj.via.map.ptr[9].key = text_obj("key");
        e.obj.via.map.ptr[9].val = bad[i];
        edit_expect(&e, TK_EINVAL, "key");
    }
    edit e;
    edit_begin(&e);
    for (uint32_t i = 8; i < 10; i++) {
        e.obj.via.map.ptr[i].key = text_obj("key");
        e.obj.via.map.ptr[i].val = text_obj("k");
    }
    edit_expect(&e, TK_EINVAL, "key"); /* twice */
}

static void test_decode_refuses_fields(void **state)
{
    (void)state;
    edit e;
    edit_begin(&e);
    e.obj.via.map.ptr[7] = e.obj.via.map.ptr[--e.obj.via.map.size]; /* drop "qty" */
    edit_expect(&e, TK_EINVAL, "qty");
    edit_begin(&e);
    e.obj.via.map.ptr[8].key = text_obj("qty"); /* "price" renamed: qty twice */
    edit_expect(&e, TK_EINVAL, "qty");
    edit_begin(&e);
    e.obj.via.map.ptr[9].key = text_obj("leverage"); /* an unknown key, named as it is */
    edit_expect(&e, TK_EINVAL, "leverage");
    edit_begin(&e);
    e.obj.via.map.ptr[9].key =
        (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {.size = 3, .ptr = "\0x\n"}};
    edit_expect(&e, TK_EINVAL, "?x?"); /* named printably */
    edit_begin(&e);
    e.obj.via.map.ptr[9].key = text_obj("");
    edit_expect(&e, TK_EINVAL, "(empty key)");
    edit_begin(&e);
    *edit_value(&e, "qty") = text_obj("0.5");
    edit_expect(&e, TK_EINVAL, "qty");
    edit_begin(&e);
    edit_value(&e, "qty")->via.u64 = 0;
    edit_expect(&e, TK_EINVAL, "qty");
    edit_begin(&e);
    edit_value(&e, "qty")->via.u64 = (uint64_t)INT64_MAX + 1u;
    edit_expect(&e, TK_EOVERFLOW, "qty");
    edit_begin(&e);
    *edit_value(&e, "qty") =
        (msgpack_object){.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = -5};
    edit_expect(&e, TK_EINVAL, "qty");
    edit_begin(&e);
    *edit_value(&e, "symbol") = text_obj("ABCDEFGHIJKLMNOPQRSTUVWX"); /* 24 bytes: one too many */
    edit_expect(&e, TK_EINVAL, "symbol");
    edit_begin(&e);
    *edit_value(&e, "symbol") = text_obj("");
    edit_expect(&e, TK_EINVAL, "symbol");
    edit_begin(&e);
    *edit_value(&e, "symbol") =
        (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {.size = 3, .ptr = "B\0C"}};
    edit_expect(&e, TK_EINVAL, "symbol");
    edit_begin(&e);
    *edit_value(&e, "side") = text_obj("hold");
    edit_expect(&e, TK_EINVAL, "side");
    edit_begin(&e);
    *edit_value(&e, "reduce_only") = text_obj("no");
    edit_expect(&e, TK_EINVAL, "reduce_only");
    edit_begin(&e);
    *edit_value(&e, "kind") = text_obj("market"); /* a market order with a price */
    edit_expect(&e, TK_EINVAL, "price");
    edit_begin(&e);
    e.obj.via.map.ptr[3].key =
        (msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 7};
    edit_expect(&e, TK_EINVAL, "(key)");
}

static void test_decode_refuses_framing(void **state)
{
    (void)state;
    edit e;
    edit_begin(&e);
    e.obj.type = MSGPACK_OBJECT_ARRAY; /* the same pairs' count, as an array of nils */
    e.obj.via.array = (msgpack_object_array){.size = 0, .ptr = NULL};
    edit_expect(&e, TK_EINVAL, "(event)");
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_KILL_SWITCH_SET;
    ev.version = 1;
    ev.u.kill_switch_set.on = true;
    uint8_t bytes[LED_EVENT_BYTES_MAX + 1u];
    size_t size = 0;
    EXPECT_ERR(led_event_encode(&ev, bytes, LED_EVENT_BYTES_MAX, &size), TK_OK);
    led_event out;
    led_event_error why = {{0}, NULL};
    bytes[size] = 0xc0; /* a trailing nil */
    EXPECT_ERR(led_event_decode(codec, bytes, size + 1u, &out, &why), TK_EINVAL);
    assert_string_equal(why.field, "(event)");
    for (size_t cut = 0; cut < size; cut++) { /* every truncation */
        EXPECT_ERR(led_event_decode(codec, bytes, cut, &out, &why), TK_EINVAL);
        assert_string_equal(why.field, "(event)");
    }
    EXPECT_ERR(led_event_decode(codec, bytes, size, &out, NULL), TK_OK); /* why may be NULL */
    assert_true(out.u.kill_switch_set.on);
    /* Declared sizes are checked before anything is allocated for them: a map claiming 4
     * billion pairs, and a nested array claiming as many elements, are refused at once. */
    const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    EXPECT_ERR(led_event_decode(codec, huge_map, sizeof(huge_map), &out, &why), TK_EINVAL);
    assert_string_equal(why.field, "(event)");
    const uint8_t nested[] = {0x81, 0xa1, 'a', 0xdd, 0xff, 0xff, 0xff, 0xff};
    EXPECT_ERR(led_event_decode(codec, nested, sizeof(nested), &out, &why), TK_EINVAL);
    assert_string_equal(why.field, "(event)");
    const uint8_t long_str[] = {0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}; /* 4 GB of key */
    EXPECT_ERR(led_event_decode(codec, long_str, sizeof(long_str), &out, &why), TK_EINVAL);
    assert_string_equal(why.field, "(event)");
}

static void test_check_names_fields(void **state)
{
    (void)state;
    tk_rng rng;
    tk_rng_init(&rng, EVENT_SEED + 2u);
    led_event ev;
    led_event_error why = {{0}, NULL};
    random_event(&rng, LED_EV_BAR_CLOSED, &ev);
    ev.u.bar_closed.high_e8 = ev.u.bar_closed.open_e8 - 1;
    if (ev.u.bar_closed.high_e8 >= 1) {
        EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
        assert_string_equal(why.field, "high");
    }
    random_event(&rng, LED_EV_EXTERNAL_ORDER_ADOPTED, &ev);
    ev.u.external_order_adopted.filled_qty_e8 = ev.u.external_order_adopted.qty_e8;
    EXPECT_ERR(led_event_check(&ev, &why), TK_OK); /* fully filled is fine */
    ev.u.external_order_adopted.qty_e8 -= 1;
    if (ev.u.external_order_adopted.qty_e8 >= 1) {
        EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
        assert_string_equal(why.field, "filled_qty");
    }
    random_event(&rng, LED_EV_BALANCE_ADJUSTED, &ev);
    ev.u.balance_adjusted.delta_e8 = 0;
    EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
    assert_string_equal(why.field, "delta");
    random_event(&rng, LED_EV_RISK_LIMITS_SET, &ev);
    ev.u.risk_limits_set.price_band_bps = 10001;
    EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
    assert_string_equal(why.field, "price_band_bps");
    random_event(&rng, LED_EV_LEADER_CHANGED, &ev);
    ev.ts_ns = -1;
    EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
    assert_string_equal(why.field, "ts_ns");
    ev.ts_ns = 0;
    ev.type = (led_event_type)99;
    EXPECT_ERR(led_event_check(&ev, &why), TK_EINVAL);
    assert_string_equal(why.field, "type");
}

int led_test_event(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_encode_sizes),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_decode_valid_edit),
        cmocka_unit_test(test_decode_refuses_header),
        cmocka_unit_test(test_key_header),
        cmocka_unit_test(test_decode_refuses_fields),
        cmocka_unit_test(test_decode_refuses_framing),
        cmocka_unit_test(test_check_names_fields),
    };
    return cmocka_run_group_tests_name("ledger/event", tests, event_setup, event_teardown);
}
