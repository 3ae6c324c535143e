/* Fixed-point money in 1e-8 units: checked add and subtract, value * num / den in 128-bit
 * arithmetic with explicit rounding, step rounding, and exact decimal text in and out. */
#include <string.h>

#include "led.h"

__extension__ typedef __int128 i128; /* GCC and clang; products of two int64_t fit */

static bool fits_i64(i128 value)
{
    return value >= (i128)INT64_MIN && value <= (i128)INT64_MAX;
}

tk_err led_add(int64_t a, int64_t b, int64_t *out_sum)
{
    TK_ASSERT(out_sum != NULL);
    i128 sum = (i128)a + b;
    if (!fits_i64(sum)) return TK_EOVERFLOW;
    *out_sum = (int64_t)sum;
    return TK_OK;
}

tk_err led_sub(int64_t a, int64_t b, int64_t *out_diff)
{
    TK_ASSERT(out_diff != NULL);
    i128 diff = (i128)a - b;
    if (!fits_i64(diff)) return TK_EOVERFLOW;
    *out_diff = (int64_t)diff;
    return TK_OK;
}

/* p / den rounded by mode, in 128 bits. C's division truncates toward zero and the remainder
 * takes the dividend's sign, so the exact quotient is negative when r and den differ in sign. */
static i128 div_round(i128 p, i128 den, led_round mode)
{
    TK_ASSERT(den != 0);
    i128 q = p / den;
    i128 r = p % den;
    if (r == 0) return q;
    bool negative = (r < 0) != (den < 0);
    i128 away = negative ? -1 : 1; /* one step away from zero */
    switch (mode) {
    case LED_ROUND_TOWARD_ZERO:
        return q;
    case LED_ROUND_DOWN:
        return negative ? q - 1 : q;
    case LED_ROUND_UP:
        return negative ? q : q + 1;
    case LED_ROUND_HALF_EVEN: {
        i128 twice_r = r < 0 ? -2 * r : 2 * r;
        i128 abs_den = den < 0 ? -den : den;
        if (twice_r > abs_den) return q + away;
        if (twice_r < abs_den) return q;
        return (q % 2 == 0) ? q : q + away; /* a tie: to the even neighbour */
    }
    }
    TK_ASSERT(false); /* mode outside the enum */
    return q;
}

tk_err led_mul_div(int64_t value, int64_t num, int64_t den, led_round mode, int64_t *out)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(den != 0);
    i128 result = div_round((i128)value * num, den, mode);
    if (!fits_i64(result)) return TK_EOVERFLOW;
    *out = (int64_t)result;
    return TK_OK;
}

tk_err led_notional(int64_t price_e8, int64_t qty_e8, led_round mode, int64_t *out_notional_e8)
{
    return led_mul_div(price_e8, qty_e8, LED_SCALE, mode, out_notional_e8);
}

tk_err led_bps(int64_t value_e8, int64_t bps, led_round mode, int64_t *out_e8)
{
    return led_mul_div(value_e8, bps, 10000, mode, out_e8);
}

tk_err led_round_to_step(int64_t value, int64_t step, led_round mode, int64_t *out)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(step > 0);
    i128 multiple = div_round(value, step, mode) * step;
    if (!fits_i64(multiple)) return TK_EOVERFLOW;
    *out = (int64_t)multiple;
    return TK_OK;
}

static tk_err parse_fail(led_parse_error *why, size_t offset, const char *reason, tk_err err)
{
    if (why != NULL) *why = (led_parse_error){.offset = offset, .reason = reason};
    return err;
}

/* The digits at text[*at..size) appended to *value; *over is set when the value passes what
 * 64 bits hold (it is then meaningless). Advances *at; returns how many digits were read. */
static uint32_t read_digits(const char *text, size_t size, size_t *at, uint64_t *value, bool *over)
{
    /* Locals, not *at and *value: text is a char pointer, which may alias them, so the
     * compiler would otherwise reload and store them on every digit. */
    size_t i = *at;
    uint64_t v = *value;
    bool o = *over;
    while (i < size && (unsigned char)(text[i] - '0') <= 9u) {
        uint64_t digit = (uint64_t)(text[i] - '0');
        o |= v > (UINT64_MAX - 9u) / 10u; /* v * 10 + digit could wrap: far past int64 */
        v = v * 10u + digit;
        i++;
    }
    uint32_t n = (uint32_t)(i - *at);
    *at = i;
    *value = v;
    *over = o;
    return n;
}

static const uint64_t pow10_u64[LED_SCALE_DIGITS + 1] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u};

tk_err led_parse(const char *text, size_t size_bytes, int64_t *out_e8, led_parse_error *why)
{
    TK_ASSERT(out_e8 != NULL);
    if (size_bytes > 0) TK_ASSERT(text != NULL);
    /* The whole part and the first 8 decimal places, each read in one 64-bit pass (a feed
     * parses five of these per bar), then combined with overflow checks. */
    size_t at = 0;
    bool negative = size_bytes > 0 && text[0] == '-';
    if (negative) at++;
    uint64_t whole = 0, frac = 0;
    bool over = false;
    uint32_t whole_digits = read_digits(text, size_bytes, &at, &whole, &over);
    uint32_t frac_digits = 0;
    if (at < size_bytes && text[at] == '.') {
        at++;
        size_t frac_end = at + LED_SCALE_DIGITS < size_bytes ? at + LED_SCALE_DIGITS : size_bytes;
        frac_digits = read_digits(text, frac_end, &at, &frac, &over);
        for (; at < size_bytes && text[at] == '0'; at++)
            frac_digits++; /* zeros past the 8th place change nothing */
        if (at < size_bytes && text[at] >= '1' && text[at] <= '9')
            return parse_fail(why, at, "more than 8 decimal places", TK_EINVAL);
        if (at < size_bytes && text[at] == '.')
            return parse_fail(why, at, "a second '.'", TK_EINVAL);
    }
    if (at < size_bytes) return parse_fail(why, at, "not a digit or '.'", TK_EINVAL);
    if (whole_digits + frac_digits == 0) return parse_fail(why, at, "no digits", TK_EINVAL);
    uint32_t places = frac_digits < LED_SCALE_DIGITS ? frac_digits : LED_SCALE_DIGITS;
    const uint64_t limit = (uint64_t)INT64_MAX + 1u; /* |INT64_MIN|: reached only negative */
    uint64_t magnitude = 0;
    if (over || whole > limit / LED_SCALE)
        over = true;
    else
        magnitude = whole * LED_SCALE + frac * pow10_u64[LED_SCALE_DIGITS - places];
    if (over || magnitude > limit || (!negative && magnitude == limit))
        return parse_fail(why, 0, "out of the int64 range of 1e-8 units", TK_EOVERFLOW);
    *out_e8 = negative ? (int64_t)(0u - magnitude) : (int64_t)magnitude;
    return TK_OK;
}

size_t led_format(int64_t value_e8, char *buf, size_t buf_size)
{
    TK_ASSERT(buf != NULL);
    TK_ASSERT(buf_size >= LED_DECIMAL_BYTES_MAX);
    /* The magnitude as unsigned: -INT64_MIN does not fit in int64_t. */
    uint64_t magnitude = value_e8 < 0 ? (uint64_t)0 - (uint64_t)value_e8 : (uint64_t)value_e8;
    uint64_t whole = magnitude / LED_SCALE;
    uint64_t frac = magnitude % LED_SCALE;
    char digits[24];
    size_t n = 0;
    do { /* whole part, least significant digit first; at most 20 digits */
        digits[n++] = (char)('0' + whole % 10u);
        whole /= 10u;
    } while (whole > 0);
    size_t len = 0;
    if (value_e8 < 0) buf[len++] = '-';
    while (n > 0)
        buf[len++] = digits[--n];
    if (frac > 0) {
        buf[len++] = '.';
        uint64_t div = LED_SCALE / 10;
        for (uint32_t place = 0; place < LED_SCALE_DIGITS && frac > 0; place++) {
            buf[len++] = (char)('0' + frac / div);
            frac %= div;
            div /= 10u;
        }
    }
    TK_ASSERT(len < buf_size);
    buf[len] = '\0';
    return len;
}
