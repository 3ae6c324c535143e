/* cluster/clu_raft.c: the entry framing (round trip, every truncation, every refusal named)
 * and the ledger FSM under real libraft on its in-memory fixture: one node folds what a plain
 * led_apply folds, a lagging follower catches up by snapshot install, an entry that does not
 * decode is refused alike on every replica. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "cluster_tests.h"
#include "tk_test.h"

static void gen_events(uint64_t seed, led_event *out, uint32_t count)
{
    led_gen *gen = NULL;
    led_state *state = NULL;
    EXPECT_ERR(led_gen_open(seed, &gen), TK_OK);
    EXPECT_ERR(led_state_open(&state), TK_OK);
    for (uint32_t i = 0; i < count; i++) {
        led_gen_next(gen, state, i + 1, &out[i]);
        led_outcome outcome;
        led_apply(state, i + 1, &out[i], &outcome);
    }
    led_state_close(state);
    led_gen_close(gen);
}

static void test_entry_round_trip(void **unused)
{
    (void)unused;
    enum { N = 40 };
    led_event events[N];
    gen_events(7, events, N);
    static uint8_t buf[CLU_ENTRY_BYTES_MAX], again[CLU_ENTRY_BYTES_MAX];
    static led_event decoded[CLU_ENTRY_EVENTS_MAX];
    size_t size = 0, size_again = 0;
    EXPECT_ERR(clu_entry_encode(events, N, buf, sizeof(buf), &size), TK_OK);
    assert_memory_equal(buf, "TKRE\x01\x00\x00\x00\x28", CLU_ENTRY_HEADER_BYTES);
    assert_int_equal(size % 8, 0); /* padded for raft_uv */
    led_codec *codec = NULL;
    EXPECT_ERR(led_codec_open(&codec), TK_OK);
    uint32_t count = 0;
    EXPECT_ERR(clu_entry_decode(codec, buf, size, decoded, &count, NULL), TK_OK);
    assert_int_equal(count, N);
    EXPECT_ERR(clu_entry_encode(decoded, count, again, sizeof(again), &size_again), TK_OK);
    assert_int_equal(size_again, size);
    assert_memory_equal(again, buf, size);
    /* a buffer one byte short of the entry is refused, never overrun */
    EXPECT_ERR(clu_entry_encode(events, N, again, size - 1, &size_again), TK_EFULL);
    led_codec_close(codec);
}

static void test_entry_truncated_everywhere(void **unused)
{
    (void)unused;
    led_event events[3];
    gen_events(11, events, 3);
    uint8_t buf[CLU_ENTRY_BYTES(3)];
    size_t size = 0;
    EXPECT_ERR(clu_entry_encode(events, 3, buf, sizeof(buf), &size), TK_OK);
    led_codec *codec = NULL;
    EXPECT_ERR(led_codec_open(&codec), TK_OK);
    static led_event decoded[CLU_ENTRY_EVENTS_MAX];
    for (size_t cut = 0; cut < size; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exactly cut bytes are readable to ASan below */
        assert_non_null(copy);
        memcpy(copy, buf, cut);
        uint32_t count = 0;
        led_event_error why = {0};
        tk_err err = clu_entry_decode(codec, copy, cut, decoded, &count, &why);
        if (err == TK_OK) fail_msg("a cut at %zu of %zu bytes decoded", cut, size);
        assert_true(why.field[0] != '\0');
        free(copy);
    }
    led_codec_close(codec);
}

static void expect_refused(const uint8_t *buf, size_t size, const char *field)
{
    led_codec *codec = NULL;
    EXPECT_ERR(led_codec_open(&codec), TK_OK);
    static led_event decoded[CLU_ENTRY_EVENTS_MAX];
    uint32_t count = 0;
    led_event_error why = {0};
    EXPECT_ERR(clu_entry_decode(codec, buf, size, decoded, &count, &why), TK_EINVAL);
    assert_string_equal(why.field, field);
    led_codec_close(codec);
}

static void test_entry_refusals_named(void **unused)
{
    (void)unused;
    led_event events[2];
    gen_events(13, events, 2);
    uint8_t buf[CLU_ENTRY_BYTES(2) + 1];
    size_t size = 0;
    EXPECT_ERR(clu_entry_encode(events, 2, buf, sizeof(buf) - 1, &size), TK_OK);
    uint8_t bad[sizeof(buf)];

    memcpy(bad, buf, size);
    bad[0] = 'X';
    expect_refused(bad, size, "magic");
    memcpy(bad, buf, size);
    bad[4] = 2;
    expect_refused(bad, size, "version");
    memcpy(bad, buf, size);
    bad[8] = 0;
    expect_refused(bad, size, "count");
    memcpy(bad, buf, size);
    bad[7] = 1; /* 258 */
    expect_refused(bad, size, "count");
    memcpy(bad, buf, size);
    bad[size] = 0;
    expect_refused(bad, size + 1, "length");
    /* the second event's first byte (its msgpack map header) made a string: named by position */
    memcpy(bad, buf, size);
    size_t first = (size_t)buf[CLU_ENTRY_HEADER_BYTES] << 8 | buf[CLU_ENTRY_HEADER_BYTES + 1];
    size_t second = CLU_ENTRY_HEADER_BYTES + 2 + first + 2;
    bad[second] = 0xa1;
    led_codec *codec = NULL;
    EXPECT_ERR(led_codec_open(&codec), TK_OK);
    static led_event decoded[CLU_ENTRY_EVENTS_MAX];
    uint32_t count = 0;
    led_event_error why = {0};
    assert_int_not_equal(clu_entry_decode(codec, bad, size, decoded, &count, &why), TK_OK);
    assert_memory_equal(why.field, "event 1: ", 9);
    led_codec_close(codec);
}

/* One voter: the FSM's state after 12 entries equals a plain fold of the same events. */
static void test_fsm_single_node_matches_plain_fold(void **unused)
{
    (void)unused;
    chaos_harness h;
    assert_true(chaos_harness_open(&h, 1, 21, 1024, 128));
    raft_fixture_elect(&h.fixture, 0);
    led_gen *gen = NULL;
    led_state *plain = NULL;
    EXPECT_ERR(led_gen_open(21, &gen), TK_OK);
    EXPECT_ERR(led_state_open(&plain), TK_OK);
    uint64_t index = 0;
    for (unsigned e = 0; e < 12; e++) {
        assert_true(chaos_harness_propose(&h, 4));
        raft_index last = raft_last_index(h.replicas[0].raft);
        assert_true(raft_fixture_step_until_applied(&h.fixture, 0, last, 1000));
        led_event batch[4]; /* the harness generates an entry's events against one state */
        for (unsigned i = 0; i < 4; i++)
            led_gen_next(gen, plain, index + 1 + i, &batch[i]);
        for (unsigned i = 0; i < 4; i++) {
            led_outcome outcome;
            led_apply(plain, ++index, &batch[i], &outcome);
        }
    }
    clu_fsm_stats stats;
    clu_fsm_stats_get(h.replicas[0].fsm, &stats);
    assert_int_equal(stats.ledger_index, 48);
    assert_int_equal(stats.entries, 12);
    assert_int_equal(stats.refused_entries, 0);
    uint8_t want[LED_HASH_BYTES], got[LED_HASH_BYTES];
    led_state_hash(plain, want);
    led_state_hash(clu_fsm_state(h.replicas[0].fsm), got);
    assert_memory_equal(got, want, LED_HASH_BYTES);
    assert_int_equal(h.apply_failed, 0);
    led_state_close(plain);
    led_gen_close(gen);
    chaos_harness_close(&h);
}

/* A follower cut off while the leader snapshots twice comes back by snapshot install. */
static void test_fsm_follower_catches_up_by_snapshot(void **unused)
{
    (void)unused;
    chaos_harness h;
    assert_true(chaos_harness_open(&h, 3, 33, 8, 2));
    raft_fixture_elect(&h.fixture, 0);
    raft_fixture_disconnect(&h.fixture, 0, 2);
    raft_fixture_disconnect(&h.fixture, 1, 2);
    for (unsigned e = 0; e < 30; e++) {
        if (!chaos_harness_propose(&h, 3))
            fail_msg("entry %u: leader %u", e, raft_fixture_leader_index(&h.fixture));
        raft_index last = raft_last_index(h.replicas[0].raft);
        assert_true(raft_fixture_step_until_applied(&h.fixture, 1, last, 2000));
    }
    clu_fsm_stats lagging;
    clu_fsm_stats_get(h.replicas[2].fsm, &lagging);
    assert_int_equal(lagging.ledger_index, 0);
    assert_true(chaos_harness_heal(&h, 5000));
    clu_fsm_stats leader, caught_up;
    clu_fsm_stats_get(h.replicas[0].fsm, &leader);
    clu_fsm_stats_get(h.replicas[2].fsm, &caught_up);
    assert_true(leader.snapshots >= 2);
    assert_int_equal(caught_up.restores, 1);
    assert_int_equal(caught_up.ledger_index, 90);
    chaos_harness_verdict v;
    chaos_harness_compare(&h, &v);
    assert_true(v.converged);
    assert_int_equal(v.first_diverged, 0);
    assert_false(v.state_hash_differs);
    assert_true(v.compared > 0);
    chaos_harness_close(&h);
}

static void raw_done(struct raft_apply *req, int status, void *result)
{
    int *out = req->data;
    *out = status == 0 ? (int)((clu_applied *)result)->count : -1;
}

/* Bytes that are not an entry commit as an entry that changes nothing, on every replica. */
static void test_fsm_refuses_undecodable_entry_everywhere(void **unused)
{
    (void)unused;
    chaos_harness h;
    assert_true(chaos_harness_open(&h, 3, 45, 1024, 128));
    raft_fixture_elect(&h.fixture, 0);
    assert_true(chaos_harness_propose(&h, 5));
    struct raft_buffer buf = {.base = raft_malloc(16), .len = 16};
    assert_non_null(buf.base);
    memset(buf.base, 0x5a, buf.len);
    struct raft_apply req;
    int applied_count = -2;
    req.data = &applied_count;
    assert_int_equal(raft_apply(h.replicas[0].raft, &req, &buf, 1, raw_done), 0);
    assert_true(chaos_harness_propose(&h, 5));
    assert_true(chaos_harness_heal(&h, 3000));
    assert_int_equal(applied_count, 0);
    for (unsigned i = 0; i < 3; i++) {
        clu_fsm_stats s;
        clu_fsm_stats_get(h.replicas[i].fsm, &s);
        assert_int_equal(s.refused_entries, 1);
        assert_int_equal(s.ledger_index, 10);
    }
    chaos_harness_verdict v;
    chaos_harness_compare(&h, &v);
    assert_int_equal(v.first_diverged, 0);
    assert_false(v.state_hash_differs);
    chaos_harness_close(&h);
}

int clu_test_raft_fsm(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_round_trip),
        cmocka_unit_test(test_entry_truncated_everywhere),
        cmocka_unit_test(test_entry_refusals_named),
        cmocka_unit_test(test_fsm_single_node_matches_plain_fold),
        cmocka_unit_test(test_fsm_follower_catches_up_by_snapshot),
        cmocka_unit_test(test_fsm_refuses_undecodable_entry_everywhere),
    };
    return cmocka_run_group_tests_name("cluster/raft_fsm", tests, NULL, NULL);
}
