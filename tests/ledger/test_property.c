/* The ledger's seeded property test: for random valid event streams (led_gen), applying all
 * events gives the same state hash as snapshotting at k (led_state_encode), restoring into a
 * fresh state (led_state_decode) and applying the rest, for many k; and every event and every
 * state snapshot survives its codec byte for byte. The seed is printed; TK_SEED=N replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "led.h"
#include "ledger_tests.h"

enum { EVENTS = 20000, CUTS = 24, STREAMS = 3 };

typedef struct stream {
    uint8_t (*bytes)[LED_EVENT_BYTES_MAX];
    size_t *sizes;
    uint64_t cut[CUTS];
    uint8_t *snap[CUTS];
    size_t snap_size[CUTS];
    uint8_t final_hash[LED_HASH_BYTES];
    uint64_t results[4];
    uint64_t rules[LED_RULE_OVERFLOW + 1];
} stream;

static uint64_t seed_base(void)
{
    const char *env = getenv("TK_SEED");
    if (env != NULL) return strtoull(env, NULL, 10);
    return (uint64_t)time(NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Generate and apply a stream, keeping its encoded events and snapshots at the cuts. */
static void run_stream(uint64_t seed, led_codec *codec, stream *st)
{
    led_state *state = NULL;
    led_gen *gen = NULL;
    assert_int_equal(led_state_open(&state), TK_OK);
    assert_int_equal(led_gen_open(seed, &gen), TK_OK);
    tk_rng rng;
    tk_rng_init(&rng, seed ^ 0x9e3779b97f4a7c15u);
    for (unsigned c = 0; c < CUTS; c++)
        st->cut[c] = tk_rng_below(&rng, EVENTS + 1u); /* 0 (genesis) to EVENTS */
    st->cut[0] = 0;
    st->cut[1] = EVENTS;
    qsort(st->cut, CUTS, sizeof(st->cut[0]), cmp_u64);
    unsigned next_cut = 0;
    size_t max = led_state_encoded_size_max();
    for (uint64_t index = 1; index <= EVENTS + 1u; index++) {
        while (next_cut < CUTS && st->cut[next_cut] == index - 1u) {
            st->snap[next_cut] = malloc(max);
            assert_non_null(st->snap[next_cut]);
            assert_int_equal(
                led_state_encode(state, st->snap[next_cut], max, &st->snap_size[next_cut]), TK_OK);
            next_cut++;
        }
        if (index > EVENTS) break;
        led_event ev, back;
        led_gen_next(gen, state, index, &ev);
        size_t size = 0;
        assert_int_equal(led_event_encode(&ev, st->bytes[index - 1], LED_EVENT_BYTES_MAX, &size),
                         TK_OK);
        st->sizes[index - 1] = size;
        /* encode(decode(x)) == x */
        assert_int_equal(led_event_decode(codec, st->bytes[index - 1], size, &back, NULL), TK_OK);
        uint8_t again[LED_EVENT_BYTES_MAX];
        size_t again_size = 0;
        assert_int_equal(led_event_encode(&back, again, sizeof(again), &again_size), TK_OK);
        assert_int_equal(again_size, size);
        assert_memory_equal(again, st->bytes[index - 1], size);
        led_outcome out;
        led_apply(state, index, &back, &out);
        st->results[out.result]++;
        if (out.result == LED_REJECTED) st->rules[out.rule]++;
    }
    led_state_hash(state, st->final_hash);
    led_gen_close(gen);
    led_state_close(state);
}

/* Restore each snapshot into a fresh state, check its codec round trip, apply the rest. */
static void check_cuts(led_codec *codec, stream *st)
{
    led_state *state = NULL;
    assert_int_equal(led_state_open(&state), TK_OK);
    size_t max = led_state_encoded_size_max();
    uint8_t *again = malloc(max);
    assert_non_null(again);
    for (unsigned c = 0; c < CUTS; c++) {
        led_event_error why = {{0}, NULL};
        assert_int_equal(led_state_decode(state, st->snap[c], st->snap_size[c], &why), TK_OK);
        size_t again_size = 0;
        assert_int_equal(led_state_encode(state, again, max, &again_size), TK_OK);
        assert_int_equal(again_size, st->snap_size[c]);
        assert_memory_equal(again, st->snap[c], again_size);
        led_account acct;
        led_state_account(state, &acct);
        assert_int_equal(acct.last_index, st->cut[c]);
        for (uint64_t index = st->cut[c] + 1u; index <= EVENTS; index++) {
            led_event ev;
            led_outcome out;
            assert_int_equal(
                led_event_decode(codec, st->bytes[index - 1], st->sizes[index - 1], &ev, NULL),
                TK_OK);
            led_apply(state, index, &ev, &out);
        }
        uint8_t hash[LED_HASH_BYTES];
        led_state_hash(state, hash);
        assert_memory_equal(hash, st->final_hash, LED_HASH_BYTES);
    }
    free(again);
    led_state_close(state);
}

static void test_snapshot_restore_replay(void **unused)
{
    (void)unused;
    uint64_t base = seed_base();
    printf("ledger/property: seed %llu (TK_SEED=%llu replays it)\n", (unsigned long long)base,
           (unsigned long long)base);
    led_codec *codec = NULL;
    assert_int_equal(led_codec_open(&codec), TK_OK);
    for (unsigned k = 0; k < STREAMS; k++) {
        stream st;
        memset(&st, 0, sizeof(st));
        st.bytes = malloc(EVENTS * sizeof(*st.bytes));
        st.sizes = malloc(EVENTS * sizeof(*st.sizes));
        assert_true(st.bytes != NULL && st.sizes != NULL);
        run_stream(base + k, codec, &st);
        check_cuts(codec, &st);
        /* The stream must exercise the gate, not just pass through it. */
        assert_true(st.results[LED_APPLIED] > EVENTS / 2);
        assert_true(st.results[LED_REJECTED] > 0);
        unsigned rules_seen = 0;
        for (unsigned r = 0; r <= LED_RULE_OVERFLOW; r++)
            rules_seen += st.rules[r] > 0;
        printf("ledger/property: stream %llu: applied %llu, rejected %llu (%u rules), refused "
               "%llu\n",
               (unsigned long long)(base + k), (unsigned long long)st.results[LED_APPLIED],
               (unsigned long long)st.results[LED_REJECTED], rules_seen,
               (unsigned long long)st.results[LED_REFUSED]);
        assert_true(rules_seen >= 3);
        for (unsigned c = 0; c < CUTS; c++)
            free(st.snap[c]);
        free(st.bytes);
        free(st.sizes);
    }
    led_codec_close(codec);
}

int led_test_property(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_restore_replay),
    };
    return cmocka_run_group_tests_name("ledger/property", tests, NULL, NULL);
}
