/* feeds/feed_text.c: the text of one field into a number: decimals (with rounding past the 8th
 * place and exponents), whole numbers, and ISO 8601 UTC times. Pure functions; no allocation. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed_internal.h"
#include "led.h"

#define NS_PER_S           ((int64_t)1000000000)
#define EXPONENT_ABS_MAX   100000 /* larger exponents are clamped: the result is 0 or overflows */
#define INT_DIGITS_MAX     20     /* more integer digits than this cannot fit in 1e-8 units */
#define DECIMAL_TEXT_BYTES 40u    /* '-', INT_DIGITS_MAX digits, '.', 8 digits */

_Static_assert(DECIMAL_TEXT_BYTES >= 1u + INT_DIGITS_MAX + 1u + LED_SCALE_DIGITS, "fits");

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t digits_at(const char *text, size_t size, size_t at)
{
    TK_ASSERT(at <= size);
    size_t count = 0;
    while (at + count < size && is_digit(text[at + count]))
        count++;
    TK_ASSERT(at + count <= size);
    return count;
}

/* A decimal as its digits: value = 0.D * 10^point, D = int digits then fraction digits. */
typedef struct decimal {
    bool negative;
    const char *int_digits;
    size_t int_count;
    const char *frac_digits;
    size_t frac_count;
    int64_t point; /* position of the decimal point within D, after the exponent */
    bool has_exponent;
} decimal;

/* Digit i of D ('0' outside it: leading and trailing zeros are implied). */
static int digit_at(const decimal *d, int64_t i)
{
    TK_ASSERT(d->int_count + d->frac_count > 0);
    if (i < 0) return 0;
    size_t index = (size_t)i;
    if (index < d->int_count) return d->int_digits[index] - '0';
    index -= d->int_count;
    if (index < d->frac_count) return d->frac_digits[index] - '0';
    return 0;
}

/* The exponent after 'e' or 'E' at text[at]; clamped to +-EXPONENT_ABS_MAX. */
static tk_err exponent_parse(const char *text, size_t size, size_t at, int64_t *out,
                             const char **reason)
{
    TK_ASSERT(at < size);
    TK_ASSERT(text[at] == 'e' || text[at] == 'E');
    at++;
    bool negative = false;
    if (at < size && (text[at] == '-' || text[at] == '+')) {
        negative = text[at] == '-';
        at++;
    }
    size_t count = digits_at(text, size, at);
    if (count == 0 || at + count != size) {
        *reason = "not a decimal number (bad exponent)";
        return TK_EINVAL;
    }
    int64_t value = 0;
    for (size_t i = 0; i < count; i++) {
        value = value * 10 + (text[at + i] - '0');
        if (value > EXPONENT_ABS_MAX) value = EXPONENT_ABS_MAX;
    }
    *out = negative ? -value : value;
    return TK_OK;
}

static tk_err decimal_split(const char *text, size_t size, decimal *out, const char **reason)
{
    TK_ASSERT(text != NULL);
    decimal d = {0};
    size_t at = 0;
    if (at < size && text[at] == '-') {
        d.negative = true;
        at++;
    }
    d.int_digits = text + at;
    d.int_count = digits_at(text, size, at);
    at += d.int_count;
    if (at < size && text[at] == '.') {
        at++;
        d.frac_digits = text + at;
        d.frac_count = digits_at(text, size, at);
        at += d.frac_count;
    }
    if (d.int_count + d.frac_count == 0) {
        *reason = "not a decimal number";
        return TK_EINVAL;
    }
    int64_t exponent = 0;
    if (at < size && (text[at] == 'e' || text[at] == 'E')) {
        tk_err err = exponent_parse(text, size, at, &exponent, reason);
        if (err != TK_OK) return err;
        d.has_exponent = true;
        at = size;
    }
    if (at != size) {
        *reason = "not a decimal number";
        return TK_EINVAL;
    }
    TK_ASSERT(d.int_count + d.frac_count <= size);
    TK_ASSERT(exponent >= -EXPONENT_ABS_MAX && exponent <= EXPONENT_ABS_MAX);
    d.point = (int64_t)d.int_count + exponent;
    *out = d;
    return TK_OK;
}

/* Whether the digits dropped below the 8th decimal place round the kept part away from 0:
 * half to even. first is the index of the first dropped digit, within D or past it. */
static bool round_away(const decimal *d, int64_t first)
{
    int64_t count = (int64_t)(d->int_count + d->frac_count);
    TK_ASSERT(count > 0);
    if (first < 0 || first >= count) return false; /* dropped digits are all zero */
    int dropped = digit_at(d, first);
    if (dropped != 5) return dropped > 5;
    for (int64_t i = first + 1; i < count; i++) {
        if (digit_at(d, i) != 0) return true; /* above the half */
    }
    TK_ASSERT(dropped == 5);
    return digit_at(d, first - 1) % 2 == 1; /* a tie: to the even neighbour */
}

tk_err feed__decimal_parse(const char *text, size_t size, int64_t *out_e8, const char **reason)
{
    TK_ASSERT(out_e8 != NULL);
    TK_ASSERT(reason != NULL);
    /* The common case first, in one pass: a plain decimal of at most 8 places is exactly what
     * led_parse accepts. Anything else (an exponent, more places, a bad text) takes the path
     * below, which also says what is wrong. */
    if (led_parse(text, size, out_e8, NULL) == TK_OK) return TK_OK;
    decimal d;
    tk_err err = decimal_split(text, size, &d, reason);
    if (err != TK_OK) return err;
    if (!d.has_exponent && d.frac_count <= LED_SCALE_DIGITS) {
        err = led_parse(text, size, out_e8, NULL); /* the common case: exact as written */
        TK_ASSERT(err == TK_OK || err == TK_EOVERFLOW);
        if (err != TK_OK) *reason = "too large";
        return err;
    }
    int64_t lead = 0; /* leading zeros of D: they only move the point */
    int64_t count = (int64_t)(d.int_count + d.frac_count);
    while (lead < count && digit_at(&d, lead) == 0)
        lead++;
    if (lead == count) {
        *out_e8 = 0; /* every digit is 0, whatever the exponent */
        return TK_OK;
    }
    if (d.point - lead > INT_DIGITS_MAX) {
        *reason = "too large";
        return TK_EOVERFLOW;
    }
    /* Write the value cut after the 8th decimal place as plain text, for led_parse. */
    char buf[DECIMAL_TEXT_BYTES];
    size_t len = 0;
    if (d.negative) buf[len++] = '-';
    int64_t int_first = d.point > lead ? lead : d.point; /* the first integer digit, or none */
    for (int64_t i = int_first; i < d.point; i++)
        buf[len++] = (char)('0' + digit_at(&d, i));
    buf[len++] = '.';
    for (int64_t i = 0; i < LED_SCALE_DIGITS; i++) {
        buf[len++] = (char)('0' + digit_at(&d, d.point + i));
    }
    TK_ASSERT(len <= sizeof(buf));
    int64_t value = 0;
    err = led_parse(buf, len, &value, NULL);
    if (err == TK_OK && round_away(&d, d.point + LED_SCALE_DIGITS)) {
        err = d.negative ? led_sub(value, 1, &value) : led_add(value, 1, &value);
    }
    if (err != TK_OK) {
        TK_ASSERT(err == TK_EOVERFLOW); /* the text written above is always well formed */
        *reason = "too large";
        return err;
    }
    *out_e8 = value;
    return TK_OK;
}

tk_err feed__count_parse(const char *text, size_t size, int64_t *out, const char **reason)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(reason != NULL);
    if (size == 0 || digits_at(text, size, 0) != size) {
        *reason = "not a whole number";
        return TK_EINVAL;
    }
    int64_t value = 0;
    for (size_t i = 0; i < size; i++) {
        int digit = text[i] - '0';
        if (value > (INT64_MAX - digit) / 10) {
            *reason = "too large";
            return TK_EOVERFLOW;
        }
        value = value * 10 + digit;
    }
    *out = value;
    return TK_OK;
}

/* The number in text[at, at + width), all digits (else -1). */
static int fixed_number(const char *text, size_t size, size_t at, size_t width)
{
    TK_ASSERT(width > 0 && width <= 4);
    if (at + width > size || digits_at(text, size, at) < width) return -1;
    int value = 0;
    for (size_t i = 0; i < width; i++)
        value = value * 10 + (text[at + i] - '0');
    TK_ASSERT(value >= 0);
    return value;
}

static bool is_leap(int64_t year)
{
    TK_ASSERT(year > 0);
    TK_ASSERT(year <= 9999); /* four digits */
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int month_days(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    TK_ASSERT(month >= 1 && month <= 12);
    return days[month - 1] + (month == 2 && is_leap(year) ? 1 : 0);
}

/* Days from 1970-01-01 to year-month-day (a valid date from 1970 on). */
static int64_t days_since_epoch(int64_t year, int month, int day)
{
    static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    TK_ASSERT(year >= 1970);
    TK_ASSERT(month >= 1 && month <= 12);
    int64_t prior = year - 1; /* leap years in [1, year) minus those in [1, 1970) */
    int64_t leaps = prior / 4 - prior / 100 + prior / 400 - (1969 / 4 - 1969 / 100 + 1969 / 400);
    int64_t days = 365 * (year - 1970) + leaps + before_month[month - 1];
    if (month > 2 && is_leap(year)) days++;
    return days + day - 1;
}

bool feed__looks_iso(const char *text, size_t size)
{
    TK_ASSERT(text != NULL || size == 0);
    return size >= 5 && digits_at(text, size, 0) == 4 && text[4] == '-';
}

/* "YYYY-MM-DD" at text[0, 10) into days since the epoch. */
static tk_err iso_date(const char *text, size_t size, int64_t *out_days, const char **reason)
{
    TK_ASSERT(out_days != NULL);
    int year = fixed_number(text, size, 0, 4);
    int month = fixed_number(text, size, 5, 2);
    int day = fixed_number(text, size, 8, 2);
    if (year < 0 || month < 0 || day < 0 || text[4] != '-' || text[7] != '-') {
        *reason = "not an ISO date (YYYY-MM-DD[ HH:MM:SS[.fff]][Z])";
        return TK_EINVAL;
    }
    if (year < 1970) {
        *reason = "before 1970";
        return TK_EINVAL;
    }
    if (month < 1 || month > 12) {
        *reason = "month out of range";
        return TK_EINVAL;
    }
    if (day < 1 || day > month_days(year, month)) {
        *reason = "day out of range";
        return TK_EINVAL;
    }
    *out_days = days_since_epoch(year, month, day);
    TK_ASSERT(*out_days >= 0);
    return TK_OK;
}

/* "HH:MM:SS" at text[at, at + 8) into seconds of the day. */
static tk_err iso_clock(const char *text, size_t size, size_t at, int64_t *out_s,
                        const char **reason)
{
    TK_ASSERT(out_s != NULL);
    int hour = fixed_number(text, size, at, 2);
    int minute = fixed_number(text, size, at + 3, 2);
    int second = fixed_number(text, size, at + 6, 2);
    if (hour < 0 || minute < 0 || second < 0 || text[at + 2] != ':' || text[at + 5] != ':') {
        *reason = "not an ISO time (HH:MM:SS after the date)";
        return TK_EINVAL;
    }
    if (hour > 23 || minute > 59 || second > 59) {
        *reason = "hour, minute or second out of range";
        return TK_EINVAL;
    }
    *out_s = hour * 3600 + minute * 60 + second;
    TK_ASSERT(*out_s < 86400);
    return TK_OK;
}

/* An optional ".fff" (1 to 9 digits) at text[*at] into ns, then an optional "Z" or "+00:00",
 * then the end. */
static tk_err iso_tail(const char *text, size_t size, size_t at, int64_t *out_ns,
                       const char **reason)
{
    TK_ASSERT(at <= size);
    int64_t ns = 0;
    if (at < size && text[at] == '.') {
        size_t count = digits_at(text, size, at + 1);
        if (count == 0 || count > 9) {
            *reason = "fraction of a second must have 1 to 9 digits";
            return TK_EINVAL;
        }
        for (size_t i = 0; i < 9; i++)
            ns = ns * 10 + (i < count ? text[at + 1 + i] - '0' : 0);
        at += 1 + count;
    }
    size_t rest = size - at;
    bool utc = rest == 0 || (rest == 1 && text[at] == 'Z');
    if (rest == 6 && text[at] == '+') {
        utc = fixed_number(text, size, at + 1, 2) == 0 && text[at + 3] == ':' &&
              fixed_number(text, size, at + 4, 2) == 0;
    }
    if (!utc) {
        *reason = "only UTC times are accepted (nothing, Z or +00:00 after the time)";
        return TK_EINVAL;
    }
    TK_ASSERT(ns >= 0 && ns < NS_PER_S);
    *out_ns = ns;
    return TK_OK;
}

tk_err feed__iso_parse(const char *text, size_t size, int64_t *out_ns, const char **reason)
{
    TK_ASSERT(out_ns != NULL);
    TK_ASSERT(reason != NULL);
    int64_t days = 0;
    tk_err err = iso_date(text, size, &days, reason);
    if (err != TK_OK) return err;
    int64_t clock_s = 0;
    int64_t fraction_ns = 0;
    if (size > 10) {
        if (text[10] != ' ' && text[10] != 'T') {
            *reason = "not an ISO date and time (a ' ' or 'T' must follow the date)";
            return TK_EINVAL;
        }
        err = iso_clock(text, size, 11, &clock_s, reason);
        if (err == TK_OK) err = iso_tail(text, size, 19, &fraction_ns, reason);
        if (err != TK_OK) return err;
    }
    int64_t seconds = days * 86400 + clock_s;
    if (seconds > INT64_MAX / NS_PER_S || seconds * NS_PER_S > INT64_MAX - fraction_ns) {
        *reason = "too late (after 2262-04-11)";
        return TK_EOVERFLOW;
    }
    *out_ns = seconds * NS_PER_S + fraction_ns;
    return TK_OK;
}
