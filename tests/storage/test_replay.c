/* storage/es_replay.c: rebuild the ledger from a store, checking contiguity, decoding, every
 * chain hash, the checkpoint and the end; stop at an index or a time; start from a checkpoint
 * or from the snapshot a store was restored from. The stores are written with es_write from
 * a seeded led_gen stream, so each test controls exactly what is stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_tests.h"
#include "tk_test.h"

enum { EVENTS = 3000, SEED = 11 };

/* A stream with its encoded events, chain hashes and the state hash after each prefix that a
 * test asks for. */
typedef struct stream {
    uint8_t bytes[EVENTS][LED_EVENT_BYTES_MAX];
    size_t sizes[EVENTS];
    uint8_t chain[EVENTS + 1][LED_HASH_BYTES]; /* chain[i] = h[i] */
    int64_t ts[EVENTS];
    uint8_t final_state_hash[LED_HASH_BYTES];
} stream;

static stream *stream_make(void)
{
    stream *st = calloc(1, sizeof(*st));
    assert_non_null(st);
    led_state *state = NULL;
    led_gen *gen = NULL;
    assert_int_equal(led_state_open(&state), TK_OK);
    assert_int_equal(led_gen_open(SEED, &gen), TK_OK);
    for (uint64_t i = 1; i <= EVENTS; i++) {
        led_event ev;
        led_outcome out;
        led_gen_next(gen, state, i, &ev);
        assert_int_equal(
            led_event_encode(&ev, st->bytes[i - 1], LED_EVENT_BYTES_MAX, &st->sizes[i - 1]), TK_OK);
        led_chain_next(st->chain[i - 1], i, st->bytes[i - 1], st->sizes[i - 1], st->chain[i]);
        st->ts[i - 1] = ev.ts_ns;
        led_apply(state, i, &ev, &out);
    }
    led_state_hash(state, st->final_state_hash);
    led_gen_close(gen);
    led_state_close(state);
    return st;
}

/* Write events from..to (1-based) as stored, in one batch; a checkpoint when cp_state. */
static void write_range(es_store *store, const stream *st, uint64_t from, uint64_t to,
                        const uint8_t *cp_state, size_t cp_size)
{
    es_record *recs = calloc(to - from + 1u, sizeof(*recs));
    assert_non_null(recs);
    for (uint64_t i = from; i <= to; i++) {
        recs[i - from] = (es_record){.index = i,
                                     .event = st->bytes[i - 1],
                                     .event_size = st->sizes[i - 1],
                                     .chain_hash = st->chain[i]};
    }
    es_meta meta;
    es_error why = {{0}};
    assert_int_equal(es_meta_read(store, &meta, &why), TK_OK);
    meta.last_index = to;
    memcpy(meta.chain_hash, st->chain[to], LED_HASH_BYTES);
    es_checkpoint cp = {.index = to, .state = cp_state, .state_size = cp_size};
    if (cp_state != NULL) meta.checkpoint_index = to;
    tk_err err = es_write(store, recs, to - from + 1u, &meta, cp_state != NULL ? &cp : NULL, &why);
    if (err != TK_OK) fail_msg("es_write: %s", why.text);
    free(recs);
}

/* The encoded state after applying events 1..count of st. */
static uint8_t *state_after(const stream *st, uint64_t count, size_t *out_size)
{
    led_state *state = NULL;
    led_codec *codec = NULL;
    assert_int_equal(led_state_open(&state), TK_OK);
    assert_int_equal(led_codec_open(&codec), TK_OK);
    for (uint64_t i = 1; i <= count; i++) {
        led_event ev;
        led_outcome out;
        assert_int_equal(led_event_decode(codec, st->bytes[i - 1], st->sizes[i - 1], &ev, NULL),
                         TK_OK);
        led_apply(state, i, &ev, &out);
    }
    uint8_t *buf = malloc(led_state_encoded_size_max());
    assert_non_null(buf);
    assert_int_equal(led_state_encode(state, buf, led_state_encoded_size_max(), out_size), TK_OK);
    led_codec_close(codec);
    led_state_close(state);
    return buf;
}

typedef struct fixture {
    char *dir;
    char *path;
    es_store *store;
    stream *st;
    led_state *state;
} fixture;

static int setup(void **vstate)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = st_tmpdir();
    f->path = st_db_path(f->dir);
    f->store = st_open(f->path, true, NULL);
    f->st = stream_make();
    assert_int_equal(led_state_open(&f->state), TK_OK);
    *vstate = f;
    return 0;
}

static int teardown(void **vstate)
{
    fixture *f = *vstate;
    es_close(f->store);
    st_tmpdir_remove(f->dir);
    free(f->path);
    free(f->st);
    led_state_close(f->state);
    free(f);
    return 0;
}

static tk_err replay(fixture *f, bool from_checkpoint, uint64_t until_index, int64_t until_ts,
                     es_replay_result *res, es_error *why)
{
    es_replay_opts opts = {.from_checkpoint = from_checkpoint,
                           .until_index = until_index,
                           .until_ts_ns = until_ts,
                           .visit = NULL,
                           .arg = NULL};
    return es_replay(f->store, f->state, &opts, res, why);
}

static void expect_state_hash(fixture *f, const uint8_t want[LED_HASH_BYTES])
{
    uint8_t hash[LED_HASH_BYTES];
    led_state_hash(f->state, hash);
    assert_memory_equal(hash, want, LED_HASH_BYTES);
}

/* A clean store in three batches with a checkpoint at 2000: replay from genesis checks the
 * checkpoint and reaches the stream's state; recovery from the checkpoint replays only the
 * rest and reaches the same state. */
static void test_clean_store(void **vstate)
{
    fixture *f = *vstate;
    size_t cp_size = 0;
    uint8_t *cp = state_after(f->st, 2000, &cp_size);
    write_range(f->store, f->st, 1, 1000, NULL, 0);
    write_range(f->store, f->st, 1001, 2000, cp, cp_size);
    write_range(f->store, f->st, 2001, EVENTS, NULL, 0);
    es_replay_result res;
    es_error why = {{0}};
    assert_int_equal(replay(f, false, UINT64_MAX, INT64_MAX, &res, &why), TK_OK);
    assert_int_equal(res.events, EVENTS);
    assert_int_equal(res.last_index, EVENTS);
    assert_true(res.checkpoint_checked);
    assert_memory_equal(res.chain_hash, f->st->chain[EVENTS], LED_HASH_BYTES);
    expect_state_hash(f, f->st->final_state_hash);
    assert_int_equal(replay(f, true, UINT64_MAX, INT64_MAX, &res, &why), TK_OK);
    assert_int_equal(res.events, EVENTS - 2000);
    expect_state_hash(f, f->st->final_state_hash);
    free(cp);
}

static void test_empty_store(void **vstate)
{
    fixture *f = *vstate;
    es_replay_result res;
    es_error why = {{0}};
    assert_int_equal(replay(f, false, UINT64_MAX, INT64_MAX, &res, &why), TK_OK);
    assert_int_equal(res.events, 0);
    assert_int_equal(res.last_index, 0);
    assert_false(res.checkpoint_checked);
}

/* --until as an index and as a time: the state as of that point, nothing after it. */
static void test_until(void **vstate)
{
    fixture *f = *vstate;
    write_range(f->store, f->st, 1, EVENTS, NULL, 0);
    size_t size = 0;
    uint8_t *want = state_after(f->st, 1234, &size);
    uint8_t want_hash[LED_HASH_BYTES];
    led_sha256(want, size, want_hash);
    es_replay_result res;
    es_error why = {{0}};
    assert_int_equal(replay(f, false, 1234, INT64_MAX, &res, &why), TK_OK);
    assert_int_equal(res.last_index, 1234);
    assert_int_equal(res.events, 1234);
    expect_state_hash(f, want_hash);
    /* the time of event 1234: every event at or before it, which is 1..1234 (times increase) */
    assert_int_equal(replay(f, false, UINT64_MAX, f->st->ts[1233], &res, &why), TK_OK);
    assert_int_equal(res.last_index, 1234);
    expect_state_hash(f, want_hash);
    assert_int_equal(replay(f, false, 0, INT64_MAX, &res, &why), TK_OK);
    assert_int_equal(res.last_index, 0);
    free(want);
}

/* Replay from genesis must be stopped by the first bad index, whatever is wrong with it; the
 * state is left at want_last. */
static void expect_bad(fixture *f, uint64_t index, uint64_t want_last, const char *needle)
{
    es_replay_result res;
    es_error why = {{0}};
    assert_int_equal(replay(f, false, UINT64_MAX, INT64_MAX, &res, &why), TK_ECORRUPT);
    assert_int_equal(res.bad_index, index);
    assert_int_equal(res.last_index, want_last);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "index %llu: ", (unsigned long long)index);
    st_expect_text(why.text, prefix);
    st_expect_text(why.text, needle);
}

/* One byte of event 1500 changed after its hash was taken (what ldb can do): the chain hash
 * stored with it no longer matches. */
static void test_tampered_event(void **vstate)
{
    fixture *f = *vstate;
    write_range(f->store, f->st, 1, 1499, NULL, 0);
    f->st->bytes[1499][f->st->sizes[1499] - 1u] ^= 0x01u; /* still a valid msgpack scalar */
    write_range(f->store, f->st, 1500, EVENTS, NULL, 0);
    expect_bad(f, 1500, 1499, "chain hash differs");
}

/* The hash stored with event 700 is wrong, the event itself intact. */
static void test_tampered_hash(void **vstate)
{
    fixture *f = *vstate;
    f->st->chain[700][0] ^= 0x80u;
    write_range(f->store, f->st, 1, EVENTS, NULL, 0);
    expect_bad(f, 700, 699, "chain hash differs");
}

/* An event that is not one, with a chain hash that covers it: decoding refuses it. */
static void test_undecodable_event(void **vstate)
{
    fixture *f = *vstate;
    memcpy(f->st->bytes[41], "\xc1garbage", 8);
    f->st->sizes[41] = 8;
    for (uint64_t i = 42; i <= EVENTS; i++)
        led_chain_next(f->st->chain[i - 1], i, f->st->bytes[i - 1], f->st->sizes[i - 1],
                       f->st->chain[i]);
    write_range(f->store, f->st, 1, EVENTS, NULL, 0);
    expect_bad(f, 42, 41, "does not decode");
}

/* Event 50 deleted behind storage's back: the gap is named. */
static void test_gap(void **vstate)
{
    fixture *f = *vstate;
    write_range(f->store, f->st, 1, 100, NULL, 0);
    es_close(f->store);
    raw_db raw;
    raw_open_store(&raw, f->path);
    uint8_t key[8];
    st_be64(50, key);
    raw_delete(&raw, RAW_EVENTS, key, sizeof(key));
    raw_close(&raw);
    f->store = st_open(f->path, false, NULL);
    expect_bad(f, 50, 49, "missing (the next stored event is 51)");
}

/* A checkpoint that is not the state at its index: the audit says so at that index. */
static void test_checkpoint_mismatch(void **vstate)
{
    fixture *f = *vstate;
    size_t size = 0;
    uint8_t *wrong = state_after(f->st, 999, &size); /* the state one event early */
    write_range(f->store, f->st, 1, 1000, wrong, size);
    write_range(f->store, f->st, 1001, EVENTS, NULL, 0);
    expect_bad(f, 1000, 1000, "differs from the stored checkpoint");
    free(wrong);
}

/* A store restored from a snapshot at 2000 audits from that snapshot: the events after it
 * replay onto the base state to the same final state as from genesis. */
static void test_restored_store(void **vstate)
{
    fixture *f = *vstate;
    size_t size = 0;
    uint8_t *cp = state_after(f->st, 2000, &size);
    led_snapshot snap = {.index = 2000, .raft_index = 0, .state = cp, .state_size = size};
    memcpy(snap.chain_hash, f->st->chain[2000], LED_HASH_BYTES);
    uint8_t *blob = malloc(size + LED_SNAPSHOT_OVERHEAD_BYTES);
    assert_non_null(blob);
    size_t blob_size = 0;
    assert_int_equal(
        led_snapshot_encode(&snap, blob, size + LED_SNAPSHOT_OVERHEAD_BYTES, &blob_size), TK_OK);
    es_error why = {{0}};
    assert_int_equal(es_snapshot_restore(f->store, blob, blob_size, &why), TK_OK);
    write_range(f->store, f->st, 2001, EVENTS, NULL, 0);
    es_replay_result res;
    assert_int_equal(replay(f, false, UINT64_MAX, INT64_MAX, &res, &why), TK_OK);
    assert_int_equal(res.events, EVENTS - 2000);
    assert_int_equal(res.last_index, EVENTS);
    expect_state_hash(f, f->st->final_state_hash);
    free(blob);
    free(cp);
}

int es_test_replay(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_until, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undecodable_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_store, setup, teardown),
    };
    return cmocka_run_group_tests_name("storage/replay", tests, NULL, NULL);
}
