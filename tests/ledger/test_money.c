/* ledger/led_money.c: checked arithmetic at the int64 edges, every rounding mode on both signs
 * and on ties, step rounding, and decimal text both ways (exact, strict, round-tripping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "led.h"
#include "ledger_tests.h"
#include "tk_test.h"

static void test_add_sub_edges(void **state)
{
    (void)state;
    int64_t out = 7;
    EXPECT_ERR(led_add(INT64_MAX - 1, 1, &out), TK_OK);
    assert_true(out == INT64_MAX);
    out = 7;
    EXPECT_ERR(led_add(INT64_MAX, 1, &out), TK_EOVERFLOW);
    assert_int_equal(out, 7); /* untouched on error */
    EXPECT_ERR(led_add(INT64_MIN, -1, &out), TK_EOVERFLOW);
    EXPECT_ERR(led_add(INT64_MIN, INT64_MAX, &out), TK_OK);
    assert_int_equal(out, -1);
    EXPECT_ERR(led_sub(INT64_MIN + 1, 1, &out), TK_OK);
    assert_true(out == INT64_MIN);
    EXPECT_ERR(led_sub(INT64_MIN, 1, &out), TK_EOVERFLOW);
    EXPECT_ERR(led_sub(0, INT64_MIN, &out), TK_EOVERFLOW); /* -INT64_MIN does not fit */
    EXPECT_ERR(led_sub(-1, INT64_MIN, &out), TK_OK);
    assert_true(out == INT64_MAX);
}

typedef struct round_case {
    int64_t value;
    int64_t num;
    int64_t den;
    int64_t down, up, toward_zero, half_even;
} round_case;

static void test_mul_div_rounding(void **state)
{
    (void)state;
    /* value * num / den: 7/2 = 3.5, -7/2 = -3.5, 5/2 = 2.5, 10/4 = 2.5, 7/3 = 2.33, 8/3 = 2.67 */
    const round_case cases[] = {
        {7, 1, 2, 3, 4, 3, 4},        {-7, 1, 2, -4, -3, -3, -4}, {5, 1, 2, 2, 3, 2, 2},
        {-5, 1, 2, -3, -2, -2, -2},   {10, 1, 4, 2, 3, 2, 2},     {7, 1, 3, 2, 3, 2, 2},
        {8, 1, 3, 2, 3, 2, 3},        {-8, 1, 3, -3, -2, -2, -3}, {7, 1, -2, -4, -3, -3, -4},
        {-7, -1, -2, -4, -3, -3, -4}, {6, 1, 3, 2, 2, 2, 2},      {0, 5, 7, 0, 0, 0, 0},
    };
    const led_round modes[] = {LED_ROUND_DOWN, LED_ROUND_UP, LED_ROUND_TOWARD_ZERO,
                               LED_ROUND_HALF_EVEN};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const round_case *c = &cases[i];
        const int64_t want[] = {c->down, c->up, c->toward_zero, c->half_even};
        for (size_t m = 0; m < 4; m++) {
            int64_t got = 0;
            EXPECT_ERR(led_mul_div(c->value, c->num, c->den, modes[m], &got), TK_OK);
            if (got != want[m]) {
                fail_msg("%" PRId64 " * %" PRId64 " / %" PRId64 " mode %zu: got %" PRId64
                         ", want %" PRId64,
                         c->value, c->num, c->den, m, got, want[m]);
            }
        }
    }
}

static void test_mul_div_range(void **state)
{
    (void)state;
    int64_t out = 0;
    /* the 128-bit product does not overflow on the way: INT64_MAX * INT64_MAX / INT64_MAX */
    EXPECT_ERR(led_mul_div(INT64_MAX, INT64_MAX, INT64_MAX, LED_ROUND_DOWN, &out), TK_OK);
    assert_true(out == INT64_MAX);
    EXPECT_ERR(led_mul_div(INT64_MIN, 1, -1, LED_ROUND_DOWN, &out), TK_EOVERFLOW);
    EXPECT_ERR(led_mul_div(INT64_MIN, 1, 1, LED_ROUND_DOWN, &out), TK_OK);
    assert_true(out == INT64_MIN);
    EXPECT_ERR(led_mul_div(INT64_MAX, 2, 1, LED_ROUND_DOWN, &out), TK_EOVERFLOW);
    /* a product past int64 that divides back into it is exact in 128 bits */
    EXPECT_ERR(led_mul_div(INT64_MAX, 2, 2, LED_ROUND_UP, &out), TK_OK);
    assert_true(out == INT64_MAX);
}

static void test_notional_and_bps(void **state)
{
    (void)state;
    int64_t out = 0;
    /* 0.5 BTC at 60,000.12345678 USDT = 30,000.06172839, exactly */
    EXPECT_ERR(led_notional(6000012345678, 50000000, LED_ROUND_HALF_EVEN, &out), TK_OK);
    assert_int_equal(out, 3000006172839);
    /* 1e-8 * 1e-8 is below one unit: rounds to 0 or 1 by mode */
    EXPECT_ERR(led_notional(1, 1, LED_ROUND_DOWN, &out), TK_OK);
    assert_int_equal(out, 0);
    EXPECT_ERR(led_notional(1, 1, LED_ROUND_UP, &out), TK_OK);
    assert_int_equal(out, 1);
    /* 92 billion at a price of 2 overflows the range (92,233,720,368 max) */
    EXPECT_ERR(led_notional(200000000, INT64_MAX / 2 + 1, LED_ROUND_DOWN, &out), TK_EOVERFLOW);
    /* 10 bps of 1,000.00 = 1.00; 7.5 bps of 1 = 0.00075 */
    EXPECT_ERR(led_bps(100000000000, 10, LED_ROUND_HALF_EVEN, &out), TK_OK);
    assert_int_equal(out, 100000000);
    EXPECT_ERR(led_mul_div(100000000, 75, 100000, LED_ROUND_HALF_EVEN, &out), TK_OK);
    assert_int_equal(out, 75000);
}

static void test_round_to_step(void **state)
{
    (void)state;
    int64_t out = 0;
    /* tick 0.01 (1,000,000 units): 123.456 -> 123.45 down, 123.46 up and half even */
    EXPECT_ERR(led_round_to_step(12345600000, 1000000, LED_ROUND_DOWN, &out), TK_OK);
    assert_int_equal(out, 12345000000);
    EXPECT_ERR(led_round_to_step(12345600000, 1000000, LED_ROUND_UP, &out), TK_OK);
    assert_int_equal(out, 12346000000);
    EXPECT_ERR(led_round_to_step(12345600000, 1000000, LED_ROUND_HALF_EVEN, &out), TK_OK);
    assert_int_equal(out, 12346000000);
    /* negative values round toward -inf with DOWN */
    EXPECT_ERR(led_round_to_step(-15, 10, LED_ROUND_DOWN, &out), TK_OK);
    assert_int_equal(out, -20);
    EXPECT_ERR(led_round_to_step(-15, 10, LED_ROUND_TOWARD_ZERO, &out), TK_OK);
    assert_int_equal(out, -10);
    EXPECT_ERR(led_round_to_step(-15, 10, LED_ROUND_HALF_EVEN, &out), TK_OK);
    assert_int_equal(out, -20);
    /* already a multiple: unchanged in every mode */
    EXPECT_ERR(led_round_to_step(300, 100, LED_ROUND_UP, &out), TK_OK);
    assert_int_equal(out, 300);
    /* the multiple above INT64_MAX does not exist */
    EXPECT_ERR(led_round_to_step(INT64_MAX, 10, LED_ROUND_UP, &out), TK_EOVERFLOW);
    EXPECT_ERR(led_round_to_step(INT64_MAX, 10, LED_ROUND_DOWN, &out), TK_OK);
    assert_true(out == INT64_MAX / 10 * 10);
}

typedef struct parse_case {
    const char *text;
    tk_err err;
    int64_t value; /* when err is TK_OK */
    size_t offset; /* when err is not */
} parse_case;

static void test_parse(void **state)
{
    (void)state;
    const parse_case cases[] = {
        {"0", TK_OK, 0, 0},
        {"-0", TK_OK, 0, 0},
        {"1", TK_OK, 100000000, 0},
        {"123.45", TK_OK, 12345000000, 0},
        {"-0.00000001", TK_OK, -1, 0},
        {".5", TK_OK, 50000000, 0},
        {"7.", TK_OK, 700000000, 0},
        {"0.00141342", TK_OK, 141342, 0},
        {"561.88098307", TK_OK, 56188098307, 0},
        {"1.123456780000", TK_OK, 112345678, 0},       /* zeros past the 8th place are exact */
        {"92233720368.54775807", TK_OK, INT64_MAX, 0}, /* the largest value */
        {"-92233720368.54775808", TK_OK, INT64_MIN, 0},
        {"000000000000000000000000001", TK_OK, 100000000, 0}, /* leading zeros */
        {"92233720368.54775808", TK_EOVERFLOW, 0, 0},
        {"100000000000", TK_EOVERFLOW, 0, 0},
        {"99999999999999999999999999999999", TK_EOVERFLOW, 0, 0},
        {"1.123456789", TK_EINVAL, 0, 10}, /* a 9th place that is not 0 */
        {"", TK_EINVAL, 0, 0},
        {"-", TK_EINVAL, 0, 1},
        {".", TK_EINVAL, 0, 1},
        {"1.2.3", TK_EINVAL, 0, 3},
        {"+1", TK_EINVAL, 0, 0},
        {" 1", TK_EINVAL, 0, 0},
        {"1 ", TK_EINVAL, 0, 1},
        {"1e5", TK_EINVAL, 0, 1},
        {"1,000", TK_EINVAL, 0, 1},
        {"--1", TK_EINVAL, 0, 1},
        {"NaN", TK_EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const parse_case *c = &cases[i];
        int64_t got = 42;
        led_parse_error why = {.offset = 999, .reason = NULL};
        tk_err err = led_parse(c->text, strlen(c->text), &got, &why);
        if (err != c->err) {
            fail_msg("\"%s\": got %s, want %s", c->text, tk_err_name(err), tk_err_name(c->err));
        }
        if (err == TK_OK && got != c->value) {
            fail_msg("\"%s\": got %" PRId64 ", want %" PRId64, c->text, got, c->value);
        }
        if (err != TK_OK) {
            assert_int_equal(got, 42); /* untouched */
            assert_non_null(why.reason);
            if (why.offset != c->offset) {
                fail_msg("\"%s\": error at %zu (%s), want %zu", c->text, why.offset, why.reason,
                         c->offset);
            }
        }
    }
}

static void test_parse_not_terminated(void **state)
{
    (void)state;
    const char text[] = {'1', '2', '.', '5', 'x'}; /* no NUL: only size_bytes is read */
    int64_t got = 0;
    EXPECT_ERR(led_parse(text, 4, &got, NULL), TK_OK);
    assert_int_equal(got, 1250000000);
    EXPECT_ERR(led_parse(text, 5, &got, NULL), TK_EINVAL); /* why may be NULL */
    EXPECT_ERR(led_parse(NULL, 0, &got, NULL), TK_EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    const struct {
        int64_t value;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "0.00000001"},
        {-1, "-0.00000001"},
        {100000000, "1"},
        {-150000000, "-1.5"},
        {12345000000, "123.45"},
        {INT64_MAX, "92233720368.54775807"},
        {INT64_MIN, "-92233720368.54775808"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[LED_DECIMAL_BYTES_MAX];
        size_t len = led_format(cases[i].value, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(len, strlen(cases[i].text));
    }
}

/* Every value formats to text that parses back to it; seeded, and the seed is printed. */
static void test_format_parse_round_trip(void **state)
{
    (void)state;
    const uint64_t seed = 20261121;
    print_message("round trip seed %" PRIu64 "\n", seed);
    tk_rng rng;
    tk_rng_init(&rng, seed);
    for (uint32_t i = 0; i < 200000u; i++) {
        uint64_t bits = tk_rng_next(&rng);
        /* a mix of full-range values and small ones with few decimals */
        int64_t value = (i % 2 == 0) ? (int64_t)bits : (int64_t)(bits % 2000001u) - 1000000;
        if (i % 3 == 0) value = (value / 1000000) * 1000000;
        char buf[LED_DECIMAL_BYTES_MAX];
        size_t len = led_format(value, buf, sizeof(buf));
        int64_t back = 0;
        EXPECT_ERR(led_parse(buf, len, &back, NULL), TK_OK);
        if (back != value) fail_msg("seed %" PRIu64 ": %s read back as %" PRId64, seed, buf, back);
    }
}

int led_test_money(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_sub_edges),           cmocka_unit_test(test_mul_div_rounding),
        cmocka_unit_test(test_mul_div_range),           cmocka_unit_test(test_notional_and_bps),
        cmocka_unit_test(test_round_to_step),           cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_not_terminated),    cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_parse_round_trip),
    };
    return cmocka_run_group_tests_name("ledger/money", tests, NULL, NULL);
}
