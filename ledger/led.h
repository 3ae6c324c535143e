/* troika ledger (prefix led_): event-sourced trading state. Pure: no I/O, no clock, no actors,
 * no storage. This first part is fixed-point money; the event catalogue, state, apply and the
 * pre-trade risk gate follow (docs/ledger.md tracks what exists).
 *
 * Money is integers (DESIGN.md, principle 3): prices, quantities, notionals and fees are
 * int64_t in units of 1e-8 (LED_SCALE per whole unit), named with an `_e8` suffix. Every
 * operation that can leave that range reports TK_EOVERFLOW instead of wrapping, so that an
 * event whose arithmetic overflows is refused, never applied with a wrong value. Rounding is
 * always explicit. All functions are pure and thread-safe. */
#ifndef TK_LEDGER_LED_H
#define TK_LEDGER_LED_H

#include <stddef.h>
#include <stdint.h>

#include "tk.h"

#define LED_SCALE        100000000 /* units of 1e-8 in one whole unit */
#define LED_SCALE_DIGITS 8         /* decimal places carried */

/* Longest text led_format writes: "-92233720368.54775808" and its NUL. */
#define LED_DECIMAL_BYTES_MAX 22u

/* How a result that falls between two representable values is rounded.
 *   DOWN       toward negative infinity (floor).
 *   UP         toward positive infinity (ceiling).
 *   TOWARD_ZERO truncation.
 *   HALF_EVEN  to the nearest, ties to the even neighbour (banker's rounding, IEEE 754's
 *              default), which has no bias over many operations. */
typedef enum led_round {
    LED_ROUND_DOWN,
    LED_ROUND_UP,
    LED_ROUND_TOWARD_ZERO,
    LED_ROUND_HALF_EVEN,
} led_round;

/* a + b into *out_sum. Errors: TK_EOVERFLOW (outside int64_t; *out_sum untouched). */
TK_MUST_USE tk_err led_add(int64_t a, int64_t b, int64_t *out_sum);

/* a - b into *out_diff. Errors: TK_EOVERFLOW. */
TK_MUST_USE tk_err led_sub(int64_t a, int64_t b, int64_t *out_diff);

/* value * num / den, exact in 128-bit arithmetic, rounded by mode: the one primitive behind
 * notionals, fees in bps and percentages. den must not be 0 (TK_ASSERT).
 * Errors: TK_EOVERFLOW (the rounded result is outside int64_t; *out untouched). */
TK_MUST_USE tk_err led_mul_div(int64_t value, int64_t num, int64_t den, led_round mode,
                               int64_t *out);

/* price_e8 * qty_e8 in 1e-8 units: a notional (price in quote per base unit, quantity in base
 * units), rounded by mode. Errors: TK_EOVERFLOW. */
TK_MUST_USE tk_err led_notional(int64_t price_e8, int64_t qty_e8, led_round mode,
                                int64_t *out_notional_e8);

/* value_e8 * bps / 10000 (a basis point is 1/10000), rounded by mode: fees in bps, price bands.
 * Errors: TK_EOVERFLOW. */
TK_MUST_USE tk_err led_bps(int64_t value_e8, int64_t bps, led_round mode, int64_t *out_e8);

/* value rounded to a multiple of step (> 0, else TK_ASSERT) by mode: prices to the tick size,
 * quantities to the lot step. Errors: TK_EOVERFLOW (the multiple is outside int64_t). */
TK_MUST_USE tk_err led_round_to_step(int64_t value, int64_t step, led_round mode, int64_t *out);

/* Why led_parse refused a text: the byte offset of the first bad byte (or of the end) and a
 * static description. */
typedef struct led_parse_error {
    size_t offset;
    const char *reason;
} led_parse_error;

/* Parse a plain decimal ("123", "-0.5", ".25", "7.") of size_bytes bytes (no NUL needed) into
 * 1e-8 units, exactly: an optional '-', digits with at most one '.', at least one digit. Digits
 * past the 8th decimal place must all be 0 (a value that cannot be represented is refused, never
 * rounded). Nothing else is accepted: no '+', spaces, exponents, or thousands separators.
 * Errors: TK_EINVAL (malformed), TK_EOVERFLOW (outside int64_t); why (may be NULL) then says
 * where and what. */
TK_MUST_USE tk_err led_parse(const char *text, size_t size_bytes, int64_t *out_e8,
                             led_parse_error *why);

/* Write value_e8 as the shortest plain decimal that led_parse reads back to the same value
 * ("1", "0.5", "-0.00000001"): no trailing zeros, no trailing '.'. buf must hold at least
 * LED_DECIMAL_BYTES_MAX bytes (TK_ASSERT). Returns the length written, without the NUL. */
size_t led_format(int64_t value_e8, char *buf, size_t buf_size);

#endif /* TK_LEDGER_LED_H */
