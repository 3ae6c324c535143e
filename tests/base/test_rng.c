/* base/tk_rng.c: xoshiro256** seeded by SplitMix64 against independent known answers,
 * determinism, and the bounded and unit draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <inttypes.h>

#include "base_tests.h"
#include "tk.h"

#define KAT_COUNT 8u

/* Known answers: the first KAT_COUNT outputs of tk_rng_next per seed, and of tk_rng_below for
 * seed 1, produced by tests/base/rng_reference.py (an independent Python implementation of
 * SplitMix64 seeding, xoshiro256** 1.0 and Lemire's method, written from the papers). */
typedef struct rng_kat {
    uint64_t seed;
    uint64_t next[KAT_COUNT];
} rng_kat;

static const rng_kat kats[] = {
    {0x0u,
     {0x99ec5f36cb75f2b4u, 0xbf6e1f784956452au, 0x1a5f849d4933e6e0u, 0x6aa594f1262d2d2cu,
      0xbba5ad4a1f842e59u, 0xffef8375d9ebcacau, 0x6c160deed2f54c98u, 0x8920ad648fc30a3fu}},
    {0x1u,
     {0xb3f2af6d0fc710c5u, 0x853b559647364ceau, 0x92f89756082a4514u, 0x642e1c7bc266a3a7u,
      0xb27a48e29a233673u, 0x24c123126ffda722u, 0x123004ef8df510e6u, 0x61954dcc47b1e89du}},
    {0xdeadbeefu,
     {0xc5555444a74d7e83u, 0x65c30d37b4b16e38u, 0x54f773200a4efa23u, 0x429aed75fb958af7u,
      0xfb0e1dd69c255b2eu, 0x9d6d02ec58814a27u, 0xf4199b9da2e4b2a3u, 0x54bc5b2c11a4540au}},
};

/* Seed 1: tk_rng_below(1000) and tk_rng_below(2^63 + 1), the latter rejecting about half of
 * the draws, so it checks the rejection path too (same script). */
static const uint64_t below_1000_seed1[KAT_COUNT] = {702u, 520u, 574u, 391u, 697u, 143u, 71u, 381u};
static const uint64_t below_2p63p1_seed1[KAT_COUNT] = {
    4800180567299270261u, 5295190459760845450u, 3609369285294772691u, 3515805966490203214u,
    5088625326638160104u, 8828779273611113555u, 742075105987018307u,  4531995491836664855u,
};

#define TWO_63 (UINT64_C(1) << 63)

static void test_rng_known_answers(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(kats) / sizeof(kats[0]); k++) {
        tk_rng rng;
        tk_rng_init(&rng, kats[k].seed);
        for (size_t i = 0; i < KAT_COUNT; i++) {
            uint64_t got = tk_rng_next(&rng);
            if (got != kats[k].next[i]) {
                fail_msg("seed 0x%" PRIx64 " output %zu: got 0x%016" PRIx64 ", want 0x%016" PRIx64,
                         kats[k].seed, i, got, kats[k].next[i]);
            }
        }
    }
}

static void test_rng_below_known_answers(void **state)
{
    (void)state;
    tk_rng rng;
    tk_rng_init(&rng, 1);
    for (size_t i = 0; i < KAT_COUNT; i++) {
        assert_int_equal(tk_rng_below(&rng, 1000), below_1000_seed1[i]);
    }
    tk_rng_init(&rng, 1);
    for (size_t i = 0; i < KAT_COUNT; i++) {
        assert_int_equal(tk_rng_below(&rng, TWO_63 + 1u), below_2p63p1_seed1[i]);
    }
}

static void test_rng_unit_known_answers(void **state)
{
    (void)state;
    tk_rng rng;
    tk_rng_init(&rng, 0xdeadbeefu);
    for (size_t i = 0; i < KAT_COUNT; i++) {
        double want = (double)(kats[2].next[i] >> 11) * 0x1.0p-53; /* the header's recipe */
        double got = tk_rng_unit(&rng);
        if (got != want) fail_msg("unit %zu: got %.17g, want %.17g", i, got, want);
    }
}

static void test_rng_same_seed_same_sequence(void **state)
{
    (void)state;
    const uint64_t seeds[] = {0, 1, 42, UINT64_MAX};
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        tk_rng a;
        tk_rng b;
        tk_rng_init(&a, seeds[s]);
        tk_rng_init(&b, seeds[s]);
        for (int i = 0; i < 1000; i++) {
            assert_int_equal(tk_rng_next(&a), tk_rng_next(&b));
        }
        tk_rng_init(&b, seeds[s]); /* re-seeding restarts the sequence */
        tk_rng_init(&a, seeds[s]);
        for (int i = 0; i < 10; i++) {
            assert_int_equal(tk_rng_next(&a), tk_rng_next(&b));
        }
    }
}

static void test_rng_different_seeds_differ(void **state)
{
    (void)state;
    const uint64_t seeds[] = {0, 1, 2, 0xdeadbeefu, UINT64_MAX};
    const size_t count = sizeof(seeds) / sizeof(seeds[0]);
    for (size_t x = 0; x < count; x++) {
        for (size_t y = x + 1; y < count; y++) {
            tk_rng a;
            tk_rng b;
            tk_rng_init(&a, seeds[x]);
            tk_rng_init(&b, seeds[y]);
            int same = 0;
            for (int i = 0; i < 1000; i++) {
                same += tk_rng_next(&a) == tk_rng_next(&b);
            }
            assert_int_equal(same, 0);
        }
    }
}

/* Seed 0 (and the others) give a live generator: every bit of the output takes both values. */
static void test_rng_seed_zero_is_live(void **state)
{
    (void)state;
    const uint64_t seeds[] = {0, UINT64_MAX};
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        tk_rng rng;
        tk_rng_init(&rng, seeds[s]);
        uint64_t any_one = 0;
        uint64_t all_one = UINT64_MAX;
        int zeros = 0;
        for (int i = 0; i < 1000; i++) {
            uint64_t v = tk_rng_next(&rng);
            any_one |= v;
            all_one &= v;
            zeros += v == 0;
        }
        assert_int_equal(zeros, 0);
        assert_int_equal(any_one, UINT64_MAX);
        assert_int_equal(all_one, 0);
    }
}

static void test_rng_below_in_range(void **state)
{
    (void)state;
    const uint64_t bounds[] = {1, 2, 3, 7, 1000, TWO_63 + 1u, UINT64_MAX};
    tk_rng rng;
    tk_rng_init(&rng, 7);
    for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
        uint64_t bound = bounds[b];
        uint64_t seen_mask = 0; /* for small bounds: which values came up */
        uint64_t high_half = 0; /* draws in the upper half of [0, bound) */
        for (int i = 0; i < 10000; i++) {
            uint64_t v = tk_rng_below(&rng, bound);
            if (v >= bound) fail_msg("below(%" PRIu64 ") gave %" PRIu64, bound, v);
            if (bound < 64) seen_mask |= UINT64_C(1) << v;
            high_half += v >= bound / 2u;
        }
        if (bound == 1) assert_int_equal(seen_mask, 1); /* always 0 */
        if (bound > 1 && bound < 64) assert_int_equal(seen_mask, (UINT64_C(1) << bound) - 1u);
        if (bound >= 1000) assert_in_range(high_half, 4500, 5500);
    }
}

static void test_rng_below_uniform(void **state)
{
    (void)state;
    tk_rng rng;
    tk_rng_init(&rng, 12345);
    uint32_t buckets[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t v = tk_rng_below(&rng, 10);
        assert_true(v < 10);
        buckets[v]++;
    }
    for (int b = 0; b < 10; b++) {
        if (buckets[b] < 9500 || buckets[b] > 10500) {
            fail_msg("bucket %d has %u of 100000 draws, want 9500..10500", b, buckets[b]);
        }
    }
}

static void child_below_zero(void *arg)
{
    (void)arg;
    tk_rng rng;
    tk_rng_init(&rng, 1);
    (void)tk_rng_below(&rng, 0);
}

static tk_test_child child; /* large: one per process, not on the stack */

static void test_rng_below_zero_panics(void **state)
{
    (void)state;
    assert_true(tk_test_child_run(child_below_zero, NULL, 0, &child));
    assert_true(base_child_panicked(&child));
}

static void test_rng_unit_range_and_mean(void **state)
{
    (void)state;
    tk_rng rng;
    tk_rng_init(&rng, 99);
    double sum = 0.0;
    double low = 1.0;
    double high = 0.0;
    for (int i = 0; i < 100000; i++) {
        double u = tk_rng_unit(&rng);
        if (!(u >= 0.0 && u < 1.0)) fail_msg("draw %d: %.17g outside [0, 1)", i, u);
        sum += u;
        low = u < low ? u : low;
        high = u > high ? u : high;
    }
    double mean = sum / 100000.0;
    if (mean < 0.49 || mean > 0.51) fail_msg("mean %.6f, want 0.5 +- 0.01", mean);
    assert_true(low < 0.001);
    assert_true(high > 0.999);
}

int tk_test_rng(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_known_answers),
        cmocka_unit_test(test_rng_below_known_answers),
        cmocka_unit_test(test_rng_unit_known_answers),
        cmocka_unit_test(test_rng_same_seed_same_sequence),
        cmocka_unit_test(test_rng_different_seeds_differ),
        cmocka_unit_test(test_rng_seed_zero_is_live),
        cmocka_unit_test(test_rng_below_in_range),
        cmocka_unit_test(test_rng_below_uniform),
        cmocka_unit_test(test_rng_below_zero_panics),
        cmocka_unit_test(test_rng_unit_range_and_mean),
    };
    return cmocka_run_group_tests_name("base/rng", tests, NULL, NULL);
}
