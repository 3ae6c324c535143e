/* ledger/led_state_codec.c and the snapshot blob of led_event.c: the canonical state encoding
 * round-trips byte for byte, the state hash follows every table, and both decoders refuse every
 * kind of bad input, naming the part, without leaving anything half-decoded. Bad state encodings
 * are made by patching a valid one at offsets found by walking its layout (docs/ledger.md);
 * bad snapshot blobs are packed with msgpack-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "led.h"
#include "ledger_tests.h"
#include "tk_test.h"

#define D(text) lt_dec(text)

static led_state *dec;                  /* the state decodes go into */
static led_codec *codec;                /* for snapshots */
static uint8_t genesis[LED_HASH_BYTES]; /* the hash of a fresh state */

static int state_setup(void **unused)
{
    (void)unused;
    if (led_state_open(&dec) != TK_OK) return -1;
    if (led_codec_open(&codec) != TK_OK) return -1;
    led_state_hash(dec, genesis);
    return 0;
}

static int state_teardown(void **unused)
{
    (void)unused;
    led_state_close(dec);
    led_codec_close(codec);
    dec = NULL;
    codec = NULL;
    return 0;
}

static uint64_t req(lt_ledger *l, const char *symbol, led_side side, const char *qty,
                    const char *price, bool reduce_only)
{
    led_event ev = lt_ev_order(symbol, side, price == NULL ? LED_ORDER_MARKET : LED_ORDER_LIMIT,
                               D(qty), price == NULL ? 0 : D(price));
    ev.u.order_requested.reduce_only = reduce_only;
    lt_apply_ok(l, ev);
    assert_int_equal(l->out.rule, LED_RULE_NONE);
    return l->index;
}

/* A state with something in every table and every kind of open order: two instruments (one
 * tripped, one stale feed, positions), four assets (fees in three), two strategies, five open
 * orders (accepted and cancel requested; partially filled and acked; acked; reduce-only;
 * external), a leader, a kill reason, limits, three idempotency keys (of an applied, a refused
 * and a rejected event) and a rejection as the last decision. */
static void build_rich(lt_ledger *l)
{
    lt_open(l);
    lt_market_btc(l, D("1000000"));
    lt_apply_ok(l, lt_ev_instrument("ETHUSDT", "ETH", "USDT", D("0.01"), D("0.001"), D("5")));
    lt_apply_ok(l, lt_ev_bar("ETHUSDT", D("2500")));
    lt_apply_ok(l, lt_ev_balance("BTC", D("2")));
    lt_apply_ok(l, lt_ev_balance("BNB", D("3")));
    led_limits limits = lt_limits_loose();
    limits.max_open_orders = 50;
    limits.price_band_bps = 800;
    lt_apply_ok(l, lt_ev_limits(&limits));
    lt_apply_ok(l, lt_ev_strategy("s1", true));
    lt_apply_ok(l, lt_ev_strategy("s2", false));
    lt_apply_ok(l, lt_ev_leader(3, "node-b"));
    lt_apply_ok(l, lt_ev_kill(true, "drill"));
    lt_apply_ok(l, lt_ev_kill(false, "drill over"));
    lt_apply_ok(l, lt_ev_feed("ETHUSDT", LED_FEED_STALE));
    uint64_t o = req(l, "BTCUSDT", LED_SIDE_BUY, "0.1", "49000", false);
    lt_apply_ok(l, lt_ev_cancel_request(o));
    o = req(l, "BTCUSDT", LED_SIDE_SELL, "0.5", "51000", false);
    lt_apply_ok(l, lt_ev_ack(o, "V-2"));
    lt_apply_ok(l, lt_ev_fill(o, D("0.2"), D("51000"), D("0.1"), "BNB"));
    o = req(l, "ETHUSDT", LED_SIDE_BUY, "1", NULL, false);
    lt_apply_ok(l, lt_ev_fill(o, D("1"), D("2510"), D("0.001"), "ETH"));
    o = req(l, "ETHUSDT", LED_SIDE_BUY, "2", "2450", false);
    lt_apply_ok(l, lt_ev_ack(o, "V-4"));
    (void)req(l, "ETHUSDT", LED_SIDE_SELL, "0.5", NULL, true);
    lt_apply_ok(l, lt_ev_external("ext-9", "BTCUSDT", LED_SIDE_SELL, LED_ORDER_LIMIT, D("0.3"),
                                  D("52000"), D("0.1")));
    led_event keyed = lt_ev_kill(false, "keyed");
    snprintf(keyed.key, sizeof(keyed.key), "req-1");
    lt_apply_ok(l, keyed); /* an applied event's key */
    led_event unknown = lt_ev_cancel_request(99999);
    snprintf(unknown.key, sizeof(unknown.key), "req-2");
    assert_int_equal(lt_apply(l, unknown), LED_REFUSED); /* a refused one's */
    assert_int_equal(lt_apply(l, keyed), LED_REFUSED);   /* a repeat: not remembered again */
    led_event off_tick =
        lt_ev_order("BTCUSDT", LED_SIDE_BUY, LED_ORDER_LIMIT, D("0.1"), D("49000.001"));
    snprintf(off_tick.key, sizeof(off_tick.key), "req-3");
    assert_int_equal(lt_apply(l, off_tick), LED_REJECTED); /* a rejection's, with its rule */
    lt_apply_ok(l, lt_ev_breaker("ETHUSDT", true));
    lt_apply_ok(l, lt_ev_bar("BTCUSDT", D("50500")));
    led_account a = lt_account(l);
    assert_int_equal(a.instrument_count, 2);
    assert_int_equal(a.asset_count, 4);
    assert_int_equal(a.strategy_count, 2);
    assert_int_equal(a.open_order_count, 5);
}

/* The encoding of a state, in a buffer of its own with one spare byte (lt_malloc). */
typedef struct encoded {
    uint8_t *bytes;
    size_t size;
} encoded;

static encoded encode(led_state *state)
{
    encoded e = {lt_malloc(led_state_encoded_size_max() + 1u), 0};
    assert_int_equal(led_state_encode(state, e.bytes, led_state_encoded_size_max(), &e.size),
                     TK_OK);
    return e;
}

static encoded rich_encoding(void)
{
    lt_ledger l;
    build_rich(&l);
    encoded e = encode(l.state);
    lt_close(&l);
    return e;
}

/* ---- The layout of docs/ledger.md, walked independently of the decoder ------------------------
 */

typedef struct layout {
    size_t valuation, kill_switch, max_open_orders, decision_rule; /* in the account */
    size_t instruments, instrument[2];                             /* counts, then records */
    size_t balances, balance[4];
    size_t strategies, strategy[2];
    size_t orders, order[5];
    size_t keys, key[3];
    size_t end;
} layout;

static size_t skip_text(const uint8_t *b, size_t at)
{
    return at + 1u + b[at];
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be(uint8_t *b, uint64_t value, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(value >> (8u * (bytes - 1u - i)));
}

static size_t walk_table(const uint8_t *b, size_t at, size_t *count_at, size_t *starts,
                         size_t starts_max, size_t (*skip_record)(const uint8_t *, size_t))
{
    *count_at = at;
    uint32_t n = be32(b + at);
    at += 4u;
    for (uint32_t i = 0; i < n; i++) {
        if (i < starts_max) starts[i] = at;
        at = skip_record(b, at);
    }
    return at;
}

static size_t skip_instrument(const uint8_t *b, size_t at)
{
    at = skip_text(b, skip_text(b, skip_text(b, at)));
    return at + 5u * 8u + 2u + 5u * 8u;
}

static size_t skip_balance(const uint8_t *b, size_t at)
{
    return skip_text(b, at) + 3u * 8u;
}

static size_t skip_strategy(const uint8_t *b, size_t at)
{
    return skip_text(b, at) + 1u;
}

/* Where the side byte of an order record is (state is 2 further, flags 3). */
static size_t order_side(const uint8_t *b, size_t at)
{
    at += 16u; /* index, time */
    for (unsigned i = 0; i < 4u; i++)
        at = skip_text(b, at); /* symbol, strategy, client and venue order ids */
    return at;
}

static size_t skip_order(const uint8_t *b, size_t at)
{
    return order_side(b, at) + 4u + 5u * 8u;
}

/* A key record: its text, then index (8 bytes), result and rule (1 each). */
static size_t skip_key(const uint8_t *b, size_t at)
{
    return skip_text(b, at) + 8u + 2u;
}

static layout layout_of(const encoded *e)
{
    const uint8_t *b = e->bytes;
    layout lay;
    memset(&lay, 0, sizeof(lay));
    size_t at = 8u + 16u; /* magic, version; last index, last time */
    lay.valuation = at;
    at = skip_text(b, at) + 4u * 8u; /* equity, peak, start of day, day */
    lay.kill_switch = at;
    at = skip_text(b, at + 1u) + 8u; /* reason; leader term */
    at = skip_text(b, at);           /* leader node */
    lay.max_open_orders = at + 4u * 8u;
    at += 8u * 8u + 5u * 8u; /* limits; counts; decision index */
    lay.decision_rule = at;
    at = skip_text(b, at + 1u);
    at = walk_table(b, at, &lay.instruments, lay.instrument, 2, skip_instrument);
    at = walk_table(b, at, &lay.balances, lay.balance, 4, skip_balance);
    at = walk_table(b, at, &lay.strategies, lay.strategy, 2, skip_strategy);
    at = walk_table(b, at, &lay.orders, lay.order, 5, skip_order);
    at = walk_table(b, at, &lay.keys, lay.key, 3, skip_key);
    lay.end = at;
    assert_int_equal(lay.end, e->size);
    return lay;
}

/* ---- Round trip and hash --------------------------------------------------------------------- */

static void expect_genesis(int line)
{
    uint8_t h[LED_HASH_BYTES];
    led_state_hash(dec, h);
    if (memcmp(h, genesis, sizeof(h)) != 0) fail_msg("line %d: the state is not at genesis", line);
    led_account a;
    led_state_account(dec, &a);
    if (a.last_index != 0 || a.open_order_count != 0 || a.instrument_count != 0)
        fail_msg("line %d: the account is not at genesis", line);
}

static void test_round_trip(void **unused)
{
    (void)unused;
    lt_ledger l;
    build_rich(&l);
    encoded a = encode(l.state);
    led_event_error why = {{0}, NULL};
    assert_int_equal(led_state_decode(dec, a.bytes, a.size, &why), TK_OK);
    encoded b = encode(dec);
    assert_int_equal(b.size, a.size);
    assert_memory_equal(b.bytes, a.bytes, a.size);
    uint8_t h1[LED_HASH_BYTES];
    uint8_t h2[LED_HASH_BYTES];
    uint8_t h3[LED_HASH_BYTES];
    led_state_hash(l.state, h1);
    led_state_hash(dec, h2);
    led_sha256(a.bytes, a.size, h3);
    assert_memory_equal(h1, h2, sizeof(h1));
    assert_memory_equal(h1, h3, sizeof(h1)); /* the hash is SHA-256 of the encoding */
    /* what the readers see survives too, and the decoded state applies alike */
    led_order want;
    led_order got;
    assert_int_equal(led_state_order_next(l.state, 0, &want), TK_OK);
    assert_int_equal(led_state_order_next(dec, 0, &got), TK_OK);
    assert_int_equal(got.index, want.index);
    assert_true(got.cancel_requested);
    led_event ev = lt_ev_bar("ETHUSDT", D("2600"));
    ev.ts_ns = l.ts_ns;
    led_outcome out;
    led_apply(dec, l.index + 1u, &ev, &out);
    assert_int_equal(lt_apply(&l, lt_ev_bar("ETHUSDT", D("2600"))), out.result);
    led_state_hash(l.state, h1);
    led_state_hash(dec, h2);
    assert_memory_equal(h1, h2, sizeof(h1));
    lt_free(a.bytes);
    lt_free(b.bytes);
    lt_close(&l);
}

/* Two copies of the rich state, one more event each: a changes the state in one table only, b
 * changes nothing (or, with same, the same event). */
static void expect_hashes(led_event a, led_event b, bool same, const char *what)
{
    lt_ledger x;
    lt_ledger y;
    build_rich(&x);
    build_rich(&y);
    lt_apply_ok(&x, a);
    lt_apply_ok(&y, b);
    uint8_t hx[LED_HASH_BYTES];
    uint8_t hy[LED_HASH_BYTES];
    led_state_hash(x.state, hx);
    led_state_hash(y.state, hy);
    if ((memcmp(hx, hy, sizeof(hx)) == 0) != same)
        fail_msg("%s: the hashes are %s", what, same ? "different" : "equal");
    lt_close(&x);
    lt_close(&y);
}

static void test_hash_follows_every_table(void **unused)
{
    (void)unused;
    led_event feed_ok = lt_ev_feed("BTCUSDT", LED_FEED_OK); /* no change */
    expect_hashes(feed_ok, feed_ok, true, "the same events");
    expect_hashes(feed_ok, lt_ev_strategy("s1", true), true, "two events that change nothing");
    expect_hashes(lt_ev_kill(false, "a"), lt_ev_kill(false, "b"), false, "account");
    expect_hashes(lt_ev_feed("BTCUSDT", LED_FEED_GAP), feed_ok, false, "instruments");
    expect_hashes(lt_ev_balance("BNB", 1), lt_ev_balance("BNB", 2), false, "balances");
    expect_hashes(lt_ev_strategy("s1", false), feed_ok, false, "strategies");
    uint64_t acked = 0; /* the ETH buy acked as V-4: the third open order */
    lt_ledger l;
    build_rich(&l);
    led_order o;
    for (unsigned i = 0; i < 3u; i++) {
        assert_int_equal(led_state_order_next(l.state, acked, &o), TK_OK);
        acked = o.index;
    }
    assert_string_equal(o.venue_order_id, "V-4");
    lt_close(&l);
    expect_hashes(lt_ev_cancel_request(acked), feed_ok, false, "orders");
}

/* ---- The state decoder refuses ----------------------------------------------------------------
 */

#define REFUSES(bytes, size, part, reason) refuses((bytes), (size), (part), (reason), __LINE__)

/* Decode a valid state first, so that refusing must also undo it; then the bad bytes must be
 * refused with a reason containing reason, leave genesis, and name the part. */
static void refuses(const uint8_t *bytes, size_t size, const char *part, const char *reason,
                    int line)
{
    encoded good = rich_encoding();
    assert_int_equal(led_state_decode(dec, good.bytes, good.size, NULL), TK_OK);
    lt_free(good.bytes);
    led_event_error why = {{0}, NULL};
    tk_err err = led_state_decode(dec, bytes, size, &why);
    if (err != TK_EINVAL) fail_msg("line %d: got %s, want TK_EINVAL", line, tk_err_name(err));
    expect_genesis(line);
    if (why.reason == NULL || strstr(why.reason, reason) == NULL)
        fail_msg("line %d: reason \"%s\", want \"%s\"", line, why.reason, reason);
    if (strcmp(why.field, part) != 0) {
        fail_msg("line %d: why->field is \"%s\", want \"%s\" (reason: %s)", line, why.field, part,
                 why.reason);
    }
}

static void test_decode_refuses_header_and_end(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    e.bytes[0] ^= 0xffu;
    REFUSES(e.bytes, e.size, "header", "magic");
    e.bytes[0] ^= 0xffu;
    e.bytes[7] = 3; /* version 3 */
    REFUSES(e.bytes, e.size, "header", "version");
    e.bytes[7] = 1; /* version 1 had no keys */
    REFUSES(e.bytes, e.size, "header", "version");
    e.bytes[7] = 0;
    REFUSES(e.bytes, e.size, "header", "version");
    e.bytes[7] = 2;
    e.bytes[e.size] = 0; /* one trailing byte */
    REFUSES(e.bytes, e.size + 1u, "(end)", "bytes after the state");
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

static void test_decode_refuses_every_truncation(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    for (size_t cut = 0; cut < e.size; cut++) {
        led_event_error why = {{0}, NULL};
        tk_err err = led_state_decode(dec, e.bytes, cut, &why);
        if (err != TK_EINVAL) fail_msg("cut at %zu of %zu: %s", cut, e.size, tk_err_name(err));
        if (why.reason == NULL || why.field[0] == '\0') fail_msg("cut at %zu: no reason", cut);
        expect_genesis(__LINE__);
    }
    /* the genesis encoding is the shortest state; it is complete */
    encoded g = encode(dec);
    assert_int_equal(led_state_decode(dec, g.bytes, g.size, NULL), TK_OK);
    assert_int_equal(led_state_decode(dec, g.bytes, g.size - 1u, NULL), TK_EINVAL);
    lt_free(g.bytes);
    lt_free(e.bytes);
}

static void test_decode_refuses_counts_above_capacity(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    const struct {
        size_t at;
        uint32_t capacity;
        const char *part;
    } tables[] = {
        {lay.instruments, LED_INSTRUMENTS_MAX, "instrument"},
        {lay.balances, LED_ASSETS_MAX, "balance"},
        {lay.strategies, LED_STRATEGIES_MAX, "strategy"},
        {lay.orders, LED_ORDERS_OPEN_MAX, "order"},
        {lay.keys, LED_KEYS_MAX, "key"},
    };
    for (size_t t = 0; t < 5; t++) {
        uint8_t saved[4];
        memcpy(saved, e.bytes + tables[t].at, 4);
        put_be(e.bytes + tables[t].at, tables[t].capacity + 1u, 4);
        REFUSES(e.bytes, e.size, tables[t].part, "more entries than the capacity");
        put_be(e.bytes + tables[t].at, UINT32_MAX, 4);
        REFUSES(e.bytes, e.size, tables[t].part, "more entries than the capacity");
        put_be(e.bytes + tables[t].at, tables[t].capacity, 4); /* at capacity: not that */
        led_event_error why = {{0}, NULL};
        assert_int_equal(led_state_decode(dec, e.bytes, e.size, &why), TK_EINVAL);
        assert_string_not_equal(why.reason, "more entries than the capacity");
        memcpy(e.bytes + tables[t].at, saved, 4);
    }
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

static void test_decode_refuses_texts(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    uint8_t saved = e.bytes[lay.valuation];
    e.bytes[lay.valuation] = LED_ASSET_BYTES; /* no room for its NUL */
    REFUSES(e.bytes, e.size, "account", "longer than its field");
    e.bytes[lay.valuation] = 0xff;
    REFUSES(e.bytes, e.size, "account", "longer than its field");
    e.bytes[lay.valuation] = saved;
    e.bytes[lay.valuation + 2u] = 0; /* "U\0DT" */
    REFUSES(e.bytes, e.size, "account", "NUL");
    e.bytes[lay.valuation + 2u] = 'S';
    e.bytes[lay.instrument[1] + 1u] = 0; /* "\0THUSDT" */
    REFUSES(e.bytes, e.size, "instrument", "NUL");
    e.bytes[lay.instrument[1] + 1u] = 'E';
    saved = e.bytes[lay.instrument[0]];
    e.bytes[lay.instrument[0]] = LED_SYMBOL_BYTES;
    REFUSES(e.bytes, e.size, "instrument", "longer than its field");
    e.bytes[lay.instrument[0]] = saved;
    e.bytes[lay.balance[3] + 1u] = 0; /* "\0NB" */
    REFUSES(e.bytes, e.size, "balance", "NUL");
    e.bytes[lay.balance[3] + 1u] = 'B';
    e.bytes[lay.strategy[1]] = LED_NAME_BYTES;
    REFUSES(e.bytes, e.size, "strategy", "longer than its field");
    e.bytes[lay.strategy[1]] = 2;
    size_t venue_id =
        skip_text(e.bytes, skip_text(e.bytes, skip_text(e.bytes, lay.order[1] + 16u)));
    e.bytes[venue_id] = LED_ID_BYTES;
    REFUSES(e.bytes, e.size, "order", "longer than its field");
    e.bytes[venue_id] = 3; /* "V-2" */
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

/* Set one byte, expect a refusal, put it back. */
static void byte_refused(encoded *e, size_t at, uint8_t value, const char *part, const char *reason,
                         int line)
{
    uint8_t saved = e->bytes[at];
    e->bytes[at] = value;
    refuses(e->bytes, e->size, part, reason, line);
    e->bytes[at] = saved;
}

#define BYTE_REFUSED(e, at, value, part, reason) \
    byte_refused((e), (at), (value), (part), (reason), __LINE__)

static void test_decode_refuses_enums(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    const char *range = "out of range";
    BYTE_REFUSED(&e, lay.kill_switch, 2, "account", range);
    BYTE_REFUSED(&e, lay.decision_rule, LED_RULE_OVERFLOW + 1, "account", range);
    size_t breaker = skip_instrument(e.bytes, lay.instrument[1]) - 5u * 8u - 2u;
    BYTE_REFUSED(&e, breaker, 2, "instrument", range);
    BYTE_REFUSED(&e, breaker + 1u, 3, "instrument", range); /* feed */
    size_t enabled = skip_strategy(e.bytes, lay.strategy[0]) - 1u;
    BYTE_REFUSED(&e, enabled, 2, "strategy", range);
    size_t side = order_side(e.bytes, lay.order[0]);
    BYTE_REFUSED(&e, side, 2, "order", range);
    BYTE_REFUSED(&e, side + 1u, 3, "order", range);                     /* kind */
    BYTE_REFUSED(&e, side + 2u, LED_ORDER_STATE_COUNT, "order", range); /* state */
    BYTE_REFUSED(&e, side + 3u, 8, "order", range);                     /* flags */
    BYTE_REFUSED(&e, side + 2u, LED_ORDER_FILLED, "order", "not open");
    BYTE_REFUSED(&e, side + 2u, LED_ORDER_CANCELLED, "order", "not open");
    BYTE_REFUSED(&e, side + 2u, LED_ORDER_REJECTED, "order", "not open");
    BYTE_REFUSED(&e, side + 2u, LED_ORDER_REQUESTED, "order", "not open");
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

static void test_decode_refuses_orders_and_names(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    uint8_t saved[8];
    memcpy(saved, e.bytes + lay.order[2], 8);
    memcpy(e.bytes + lay.order[2], e.bytes + lay.order[1], 8); /* the same index twice */
    REFUSES(e.bytes, e.size, "order", "not increasing");
    memcpy(e.bytes + lay.order[2], e.bytes + lay.order[0], 8); /* going back */
    REFUSES(e.bytes, e.size, "order", "not increasing");
    memcpy(e.bytes + lay.order[2], saved, 8);
    memcpy(saved, e.bytes + lay.order[0], 8);
    put_be(e.bytes + lay.order[0], 0, 8);
    REFUSES(e.bytes, e.size, "order", "index out of range");
    memcpy(e.bytes + lay.order[0], saved, 8);
    memcpy(saved, e.bytes + lay.order[4], 8);
    put_be(e.bytes + lay.order[4], be32(e.bytes + 12) + 1u, 8); /* above the last index */
    REFUSES(e.bytes, e.size, "order", "index out of range");
    memcpy(e.bytes + lay.order[4], saved, 8);
    BYTE_REFUSED(&e, lay.order[0] + 17u, 'X', "order", "unknown symbol"); /* "XTCUSDT" */
    memcpy(saved, e.bytes + lay.instrument[1] + 1u, 3);
    memcpy(e.bytes + lay.instrument[1] + 1u, "BTC", 3); /* BTCUSDT twice */
    REFUSES(e.bytes, e.size, "instrument", "twice");
    memcpy(e.bytes + lay.instrument[1] + 1u, saved, 3);
    memcpy(saved, e.bytes + lay.balance[2] + 1u, 3);
    memcpy(e.bytes + lay.balance[2] + 1u, "BTC", 3); /* ETH -> BTC */
    REFUSES(e.bytes, e.size, "balance", "twice");
    memcpy(e.bytes + lay.balance[2] + 1u, saved, 3);
    BYTE_REFUSED(&e, lay.strategy[1] + 2u, '1', "strategy", "twice"); /* s2 -> s1 */
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

/* The recent keys: printable, unique, in index order below the state's, each with a decision
 * apply can make. rich_encoding's keys: req-1 (applied), req-2 (refused), req-3 (rejected). */
static void test_decode_refuses_keys(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    assert_int_equal(be32(e.bytes + lay.keys), 3);
    assert_memory_equal(e.bytes + lay.key[2], "\x05req-3", 6);
    BYTE_REFUSED(&e, lay.key[0] + 1u, 0x01, "key", "not printable");
    BYTE_REFUSED(&e, lay.key[0] + 1u, 0x80, "key", "not printable");
    BYTE_REFUSED(&e, lay.key[1] + 5u, '1', "key", "twice"); /* req-2 -> req-1 */
    size_t index_at[3], result_at[3];
    for (unsigned k = 0; k < 3u; k++) {
        index_at[k] = skip_text(e.bytes, lay.key[k]);
        result_at[k] = index_at[k] + 8u;
    }
    uint8_t saved[8];
    memcpy(saved, e.bytes + index_at[1], 8);
    memcpy(e.bytes + index_at[1], e.bytes + index_at[0], 8); /* the same index twice */
    REFUSES(e.bytes, e.size, "key", "out of order");
    put_be(e.bytes + index_at[1], 0, 8);
    REFUSES(e.bytes, e.size, "key", "out of order");
    memcpy(e.bytes + index_at[1], saved, 8);
    memcpy(saved, e.bytes + index_at[2], 8);
    put_be(e.bytes + index_at[2], be32(e.bytes + 12) + 1u, 8); /* above the last index */
    REFUSES(e.bytes, e.size, "key", "out of order");
    memcpy(e.bytes + index_at[2], saved, 8);
    BYTE_REFUSED(&e, result_at[0], LED_SKIPPED, "key", "skipped");
    BYTE_REFUSED(&e, result_at[0], LED_REJECTED + 1u, "key", "out of range");
    BYTE_REFUSED(&e, result_at[0] + 1u, LED_RULE_TICK_SIZE, "key", "rule off a rejection");
    BYTE_REFUSED(&e, result_at[2] + 1u, LED_RULE_NONE, "key", "rule off a rejection");
    BYTE_REFUSED(&e, result_at[2] + 1u, LED_RULE_OVERFLOW + 1u, "key", "out of range");
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

/* Add delta to the big-endian int64 at b (two's complement). */
static void add_be64(uint8_t *b, int64_t delta)
{
    uint64_t value = 0;
    for (unsigned i = 0; i < 8u; i++)
        value = value << 8 | b[i];
    put_be(b, value + (uint64_t)delta, 8);
}

/* What apply relies on when it releases an order (the sums over open orders, each order's
 * reservation) and the limits' ranges are checked, so that a damaged checkpoint or snapshot is
 * refused rather than crash a later apply. */
static void test_decode_refuses_broken_sums(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    size_t open_buy = skip_instrument(e.bytes, lay.instrument[0]) - 16u;
    size_t reserved = skip_balance(e.bytes, lay.balance[0]) - 16u;
    size_t order_reserved = skip_order(e.bytes, lay.order[0]) - 8u;
    size_t band = lay.max_open_orders + 8u; /* price_band_bps follows max_open_orders */
    const struct {
        size_t at;
        int64_t delta;
        const char *part, *reason;
    } cases[] = {
        {open_buy, 1, "instrument", "disagree with the open orders"},
        {reserved, 1, "balance", "disagrees with the open orders"},
        {order_reserved, 1, "order", "not what the order needs"},
        {band, 20000, "account", "outside 1..10000"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        add_be64(e.bytes + cases[i].at, cases[i].delta);
        refuses(e.bytes, e.size, cases[i].part, cases[i].reason, __LINE__ + (int)i);
        add_be64(e.bytes + cases[i].at, -cases[i].delta);
    }
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

static void test_decode_refuses_values(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    layout lay = layout_of(&e);
    uint8_t saved[8];
    memcpy(saved, e.bytes + lay.max_open_orders, 8);
    put_be(e.bytes + lay.max_open_orders, 0, 8);
    REFUSES(e.bytes, e.size, "account", "max_open_orders");
    put_be(e.bytes + lay.max_open_orders, LED_ORDERS_OPEN_MAX + 1u, 8);
    REFUSES(e.bytes, e.size, "account", "max_open_orders");
    put_be(e.bytes + lay.max_open_orders, LED_ORDERS_OPEN_MAX, 8);
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    memcpy(e.bytes + lay.max_open_orders, saved, 8);
    size_t max_order_notional = lay.max_open_orders - 4u * 8u;
    memcpy(saved, e.bytes + max_order_notional, 8);
    put_be(e.bytes + max_order_notional, 0, 8);
    REFUSES(e.bytes, e.size, "account", "notional limit");
    memcpy(e.bytes + max_order_notional, saved, 8);
    size_t tick = skip_text(e.bytes, skip_text(e.bytes, skip_text(e.bytes, lay.instrument[0])));
    memcpy(saved, e.bytes + tick, 8);
    put_be(e.bytes + tick, 0, 8);
    REFUSES(e.bytes, e.size, "instrument", "tick");
    memcpy(e.bytes + tick, saved, 8);
    size_t qty = order_side(e.bytes, lay.order[1]) + 4u;
    memcpy(saved, e.bytes + qty, 8);
    put_be(e.bytes + qty, 0, 8);
    REFUSES(e.bytes, e.size, "order", "quantities");
    put_be(e.bytes + qty, (uint64_t)D("0.1"), 8); /* below its filled 0.2 */
    REFUSES(e.bytes, e.size, "order", "quantities");
    memcpy(e.bytes + qty, saved, 8);
    memcpy(saved, e.bytes + qty + 32u, 8);
    put_be(e.bytes + qty + 32u, UINT64_MAX, 8); /* reservation -1e-8 */
    REFUSES(e.bytes, e.size, "order", "negative");
    memcpy(e.bytes + qty + 32u, saved, 8);
    assert_int_equal(led_state_decode(dec, e.bytes, e.size, NULL), TK_OK);
    lt_free(e.bytes);
}

/* ---- Snapshot blob --------------------------------------------------------------------------- */

enum { K_V, K_INDEX, K_HASH, K_RAFT, K_CLUSTER, K_STATE, K_COUNT };

static const char *const snapshot_keys[K_COUNT] = {"v",          "index",      "chain_hash",
                                                   "raft_index", "cluster_id", "state"};

/* How to pack a snapshot map: all keys in the encoder's order unless told otherwise. */
typedef struct snap_spec {
    int omit;         /* a key left out, or -1 */
    int twice;        /* a key written twice, or -1 */
    int wrong;        /* a key whose value has another msgpack type, or -1 */
    bool extra;       /* an unknown key "extra" at the end */
    uint64_t version; /* the value of "v" */
} snap_spec;

static const snap_spec valid_spec = {-1, -1, -1, false, 1};

static void pack_str(msgpack_packer *pk, const char *text, size_t len)
{
    assert_int_equal(msgpack_pack_str(pk, len), 0);
    assert_int_equal(msgpack_pack_str_body(pk, text, len), 0);
}

static void pack_bin(msgpack_packer *pk, const void *bytes, size_t len)
{
    assert_int_equal(msgpack_pack_bin(pk, len), 0);
    assert_int_equal(msgpack_pack_bin_body(pk, bytes, len), 0);
}

static void pack_value(msgpack_packer *pk, int k, bool wrong, const led_snapshot *s,
                       uint64_t version)
{
    switch (k) {
    case K_V:
        wrong ? pack_str(pk, "1", 1) : (void)msgpack_pack_uint64(pk, version);
        return;
    case K_INDEX:
        (void)(wrong ? msgpack_pack_int64(pk, -1) : msgpack_pack_uint64(pk, s->index));
        return;
    case K_HASH:
        wrong ? pack_str(pk, (const char *)s->chain_hash, LED_HASH_BYTES)
              : pack_bin(pk, s->chain_hash, LED_HASH_BYTES);
        return;
    case K_RAFT:
        (void)(wrong ? msgpack_pack_true(pk) : msgpack_pack_uint64(pk, s->raft_index));
        return;
    case K_CLUSTER:
        wrong ? pack_bin(pk, s->cluster_id, strlen(s->cluster_id))
              : pack_str(pk, s->cluster_id, strlen(s->cluster_id));
        return;
    default:
        wrong ? pack_str(pk, (const char *)s->state, s->state_size)
              : pack_bin(pk, s->state, s->state_size);
        return;
    }
}

static void pack_snapshot(const snap_spec *spec, const led_snapshot *s, msgpack_sbuffer *out)
{
    msgpack_sbuffer_init(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    uint32_t pairs = K_COUNT;
    if (spec->omit >= 0) pairs--;
    if (spec->twice >= 0) pairs++;
    if (spec->extra) pairs++;
    assert_int_equal(msgpack_pack_map(&pk, pairs), 0);
    for (int k = 0; k < K_COUNT; k++) {
        if (k == spec->omit) continue;
        for (int n = 0; n < (k == spec->twice ? 2 : 1); n++) {
            pack_str(&pk, snapshot_keys[k], strlen(snapshot_keys[k]));
            pack_value(&pk, k, k == spec->wrong, s, spec->version);
        }
    }
    if (spec->extra) {
        pack_str(&pk, "extra", 5);
        (void)msgpack_pack_uint64(&pk, 7);
    }
}

/* A snapshot of the rich state; its state bytes are e's (borrowed). */
static led_snapshot rich_snapshot(const encoded *e)
{
    led_snapshot s;
    memset(&s, 0, sizeof(s));
    s.index = 4242;
    for (unsigned i = 0; i < LED_HASH_BYTES; i++)
        s.chain_hash[i] = (uint8_t)(0xa0u + i);
    s.raft_index = 99;
    snprintf(s.cluster_id, sizeof(s.cluster_id), "%s", "troika-prod");
    s.state = e->bytes;
    s.state_size = e->size;
    return s;
}

static void expect_same_snapshot(const led_snapshot *got, const led_snapshot *want)
{
    assert_int_equal(got->index, want->index);
    assert_memory_equal(got->chain_hash, want->chain_hash, LED_HASH_BYTES);
    assert_int_equal(got->raft_index, want->raft_index);
    assert_string_equal(got->cluster_id, want->cluster_id);
    assert_int_equal(got->state_size, want->state_size);
    assert_memory_equal(got->state, want->state, want->state_size);
}

static void test_snapshot_round_trip(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    led_snapshot s = rich_snapshot(&e);
    size_t cap = e.size + LED_SNAPSHOT_OVERHEAD_BYTES;
    uint8_t *buf = lt_malloc(cap);
    size_t size = 0;
    assert_int_equal(led_snapshot_encode(&s, buf, cap, &size), TK_OK);
    msgpack_sbuffer sb;
    pack_snapshot(&valid_spec, &s, &sb); /* this file's packer agrees with the encoder */
    assert_int_equal(sb.size, size);
    assert_memory_equal(sb.data, buf, size);
    msgpack_sbuffer_destroy(&sb);
    led_snapshot got;
    led_event_error why = {{0}, NULL};
    assert_int_equal(led_snapshot_decode(codec, buf, size, &got, &why), TK_OK);
    expect_same_snapshot(&got, &s);
    assert_true(got.state >= buf && got.state + got.state_size <= buf + size); /* borrowed */
    assert_int_equal(led_state_decode(dec, got.state, got.state_size, NULL), TK_OK);
    encoded again = encode(dec);
    assert_memory_equal(again.bytes, e.bytes, e.size);
    s.index = 0; /* genesis, a local journal, no cluster */
    memset(s.chain_hash, 0, LED_HASH_BYTES);
    s.raft_index = 0;
    s.cluster_id[0] = '\0';
    s.state = again.bytes;
    s.state_size = again.size;
    assert_int_equal(led_snapshot_encode(&s, buf, cap, &size), TK_OK);
    assert_int_equal(led_snapshot_decode(codec, buf, size, &got, &why), TK_OK);
    expect_same_snapshot(&got, &s);
    lt_free(again.bytes);
    lt_free(buf);
    lt_free(e.bytes);
}

#define SNAP_REFUSED(spec, s, field, reason) snap_refused((spec), (s), (field), (reason), __LINE__)

static void snap_refused(const snap_spec *spec, const led_snapshot *s, const char *field,
                         const char *reason, int line)
{
    msgpack_sbuffer sb;
    pack_snapshot(spec, s, &sb);
    led_snapshot out;
    tk_test_mark(&out, sizeof(out));
    led_event_error why = {{0}, NULL};
    tk_err err = led_snapshot_decode(codec, (const uint8_t *)sb.data, sb.size, &out, &why);
    msgpack_sbuffer_destroy(&sb);
    if (err != TK_EINVAL) fail_msg("line %d: got %s, want TK_EINVAL", line, tk_err_name(err));
    if (strcmp(why.field, field) != 0 || why.reason == NULL || strstr(why.reason, reason) == NULL)
        fail_msg("line %d: refused as %s: %s; want %s: %s", line, why.field, why.reason, field,
                 reason);
    if (!tk_test_is_marked(&out, sizeof(out))) fail_msg("line %d: out was written", line);
}

static void test_snapshot_refuses_keys(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    led_snapshot s = rich_snapshot(&e);
    static const char *const wrong_type[K_COUNT] = {
        "not an unsigned integer",
        "not an unsigned integer",
        "not 32 bytes of binary",
        "not an unsigned integer",
        "not text",
        "not binary",
    };
    for (int k = 0; k < K_COUNT; k++) {
        snap_spec spec = valid_spec;
        spec.omit = k;
        SNAP_REFUSED(&spec, &s, snapshot_keys[k], "missing");
        spec = valid_spec;
        spec.twice = k;
        SNAP_REFUSED(&spec, &s, snapshot_keys[k], "twice");
        spec = valid_spec;
        spec.wrong = k;
        SNAP_REFUSED(&spec, &s, snapshot_keys[k], wrong_type[k]);
    }
    snap_spec spec = valid_spec;
    spec.extra = true;
    SNAP_REFUSED(&spec, &s, "extra", "unknown");
    spec = valid_spec;
    spec.version = 2;
    SNAP_REFUSED(&spec, &s, "v", "version");
    spec.version = 0;
    SNAP_REFUSED(&spec, &s, "v", "version");
    led_snapshot bad = s;
    bad.state_size = 0;
    SNAP_REFUSED(&valid_spec, &bad, "state", "empty");
    lt_free(e.bytes);
}

static void test_snapshot_refuses_values(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    led_snapshot s = rich_snapshot(&e);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    (void)msgpack_pack_map(&pk, 6);
    const int order[K_COUNT] = {K_STATE, K_CLUSTER, K_RAFT, K_HASH, K_INDEX, K_V};
    for (int i = 0; i < K_COUNT; i++) { /* any key order is the same snapshot */
        pack_str(&pk, snapshot_keys[order[i]], strlen(snapshot_keys[order[i]]));
        pack_value(&pk, order[i], false, &s, 1);
    }
    led_snapshot got;
    assert_int_equal(led_snapshot_decode(codec, (uint8_t *)sb.data, sb.size, &got, NULL), TK_OK);
    expect_same_snapshot(&got, &s);
    msgpack_sbuffer_destroy(&sb);
    /* cluster ids: 31 bytes fit, 32 do not, nor a NUL inside */
    memset(s.cluster_id, 'c', LED_NAME_BYTES - 1u);
    s.cluster_id[LED_NAME_BYTES - 1u] = '\0';
    pack_snapshot(&valid_spec, &s, &sb);
    assert_int_equal(led_snapshot_decode(codec, (uint8_t *)sb.data, sb.size, &got, NULL), TK_OK);
    assert_string_equal(got.cluster_id, s.cluster_id);
    msgpack_sbuffer_destroy(&sb);
    char longer[LED_NAME_BYTES + 1u];
    memset(longer, 'c', LED_NAME_BYTES);
    longer[LED_NAME_BYTES] = '\0';
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    (void)msgpack_pack_map(&pk, 1);
    pack_str(&pk, "cluster_id", 10);
    pack_str(&pk, longer, LED_NAME_BYTES);
    led_event_error why = {{0}, NULL};
    assert_int_equal(led_snapshot_decode(codec, (uint8_t *)sb.data, sb.size, &got, &why),
                     TK_EINVAL);
    assert_string_equal(why.field, "cluster_id");
    assert_string_equal(why.reason, "too long");
    msgpack_sbuffer_destroy(&sb);
    s.cluster_id[3] = '\0'; /* "ccc\0ccc...": packed with its full length below */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    (void)msgpack_pack_map(&pk, 1);
    pack_str(&pk, "cluster_id", 10);
    pack_str(&pk, s.cluster_id, 8);
    assert_int_equal(led_snapshot_decode(codec, (uint8_t *)sb.data, sb.size, &got, &why),
                     TK_EINVAL);
    assert_string_equal(why.field, "cluster_id");
    assert_non_null(strstr(why.reason, "NUL"));
    msgpack_sbuffer_destroy(&sb);
    lt_free(e.bytes);
}

static void test_snapshot_refuses_framing(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    led_snapshot s = rich_snapshot(&e);
    size_t cap = e.size + LED_SNAPSHOT_OVERHEAD_BYTES + 1u;
    uint8_t *buf = lt_malloc(cap);
    size_t size = 0;
    assert_int_equal(led_snapshot_encode(&s, buf, cap, &size), TK_OK);
    led_snapshot got;
    for (size_t cut = 0; cut < size; cut++) {
        led_event_error why = {{0}, NULL};
        tk_err err = led_snapshot_decode(codec, buf, cut, &got, &why);
        if (err != TK_EINVAL) fail_msg("cut at %zu of %zu: %s", cut, size, tk_err_name(err));
        if (why.reason == NULL || why.field[0] == '\0') fail_msg("cut at %zu: no reason", cut);
    }
    buf[size] = 0xc0; /* a trailing nil */
    assert_int_equal(led_snapshot_decode(codec, buf, size + 1u, &got, NULL), TK_EINVAL);
    const uint8_t not_a_map[] = {0x93, 0x01, 0x02, 0x03};
    assert_int_equal(led_snapshot_decode(codec, not_a_map, sizeof(not_a_map), &got, NULL),
                     TK_EINVAL);
    const uint8_t int_key[] = {0x81, 0x01, 0x01};
    led_event_error why = {{0}, NULL};
    assert_int_equal(led_snapshot_decode(codec, int_key, sizeof(int_key), &got, &why), TK_EINVAL);
    assert_string_equal(why.field, "(key)");
    lt_free(buf);
    lt_free(e.bytes);
}

static void test_snapshot_encode_full(void **unused)
{
    (void)unused;
    encoded e = rich_encoding();
    led_snapshot s = rich_snapshot(&e);
    memset(s.cluster_id, 'c', LED_NAME_BYTES - 1u); /* the longest snapshot of this state */
    s.cluster_id[LED_NAME_BYTES - 1u] = '\0';
    s.index = UINT64_MAX;
    s.raft_index = UINT64_MAX;
    size_t cap = e.size + LED_SNAPSHOT_OVERHEAD_BYTES;
    uint8_t *buf = lt_malloc(cap);
    size_t size = 0;
    assert_int_equal(led_snapshot_encode(&s, buf, cap, &size), TK_OK);
    assert_true(size <= cap);
    for (size_t small = 0; small < size; small++) {
        size_t out = 12345;
        assert_int_equal(led_snapshot_encode(&s, buf, small, &out), TK_EFULL);
        assert_int_equal(out, 12345); /* written only on success */
    }
    assert_int_equal(led_snapshot_encode(&s, buf, size, &size), TK_OK);
    led_snapshot got;
    assert_int_equal(led_snapshot_decode(codec, buf, size, &got, NULL), TK_OK);
    expect_same_snapshot(&got, &s);
    /* the state encoder reports a small buffer the same way */
    size_t out = 12345;
    assert_int_equal(led_state_encode(dec, buf, 7, &out), TK_EFULL);
    assert_int_equal(out, 12345);
    lt_free(buf);
    lt_free(e.bytes);
}

int led_test_state(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_round_trip, lt_teardown),
        cmocka_unit_test_teardown(test_hash_follows_every_table, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_header_and_end, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_every_truncation, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_counts_above_capacity, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_texts, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_enums, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_orders_and_names, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_keys, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_values, lt_teardown),
        cmocka_unit_test_teardown(test_decode_refuses_broken_sums, lt_teardown),
        cmocka_unit_test_teardown(test_snapshot_round_trip, lt_teardown),
        cmocka_unit_test_teardown(test_snapshot_refuses_keys, lt_teardown),
        cmocka_unit_test_teardown(test_snapshot_refuses_values, lt_teardown),
        cmocka_unit_test_teardown(test_snapshot_refuses_framing, lt_teardown),
        cmocka_unit_test_teardown(test_snapshot_encode_full, lt_teardown),
    };
    return cmocka_run_group_tests_name("ledger/state", tests, state_setup, state_teardown);
}
