/* troika ledger (prefix led_): event-sourced trading state. Pure: no I/O, no clock, no actors,
 * no storage. Built so far: fixed-point money, the event catalogue with its strict msgpack codec,
 * the order state machine and the chain hash; state, apply and the pre-trade risk gate follow
 * (docs/ledger.md tracks what exists).
 *
 * Money is integers (DESIGN.md, principle 3): prices, quantities, notionals and fees are
 * int64_t in units of 1e-8 (LED_SCALE per whole unit), named with an `_e8` suffix. Every
 * operation that can leave that range reports TK_EOVERFLOW instead of wrapping, so that an
 * event whose arithmetic overflows is refused, never applied with a wrong value. Rounding is
 * always explicit. All functions are pure and thread-safe. */
#ifndef TK_LEDGER_LED_H
#define TK_LEDGER_LED_H

#include <stdbool.h>
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

/* ---- Events ---------------------------------------------------------------------------------- */

/* Text fields are NUL-terminated arrays; their limits include the NUL. */
#define LED_SYMBOL_BYTES 24u /* "BTCUSDT" */
#define LED_ASSET_BYTES  12u /* "USDT" */
#define LED_NAME_BYTES   32u /* strategy, feed and node names */
#define LED_ID_BYTES     48u /* client order ids, venue order ids, fill ids */
#define LED_TEXT_BYTES   96u /* reasons and venue messages */

/* The catalogue of DESIGN.md. The numbers are stable: they are not written to the wire (the
 * type is written by name) but code switches on them. */
typedef enum led_event_type {
    LED_EV_INSTRUMENT_DEFINED = 1,
    LED_EV_BAR_CLOSED,
    LED_EV_ORDER_REQUESTED,
    LED_EV_ORDER_ACKED,
    LED_EV_ORDER_FILLED,
    LED_EV_ORDER_REJECTED_BY_VENUE,
    LED_EV_ORDER_CANCEL_REQUESTED,
    LED_EV_ORDER_CANCELLED,
    LED_EV_EXTERNAL_ORDER_ADOPTED,
    LED_EV_RISK_LIMITS_SET,
    LED_EV_KILL_SWITCH_SET,
    LED_EV_CIRCUIT_BREAKER_SET,
    LED_EV_FEED_HEALTH,
    LED_EV_STRATEGY_ENABLED,
    LED_EV_BALANCE_ADJUSTED,
    LED_EV_LEADER_CHANGED,
} led_event_type;

#define LED_EV_TYPE_COUNT 16u

typedef enum led_side { LED_SIDE_BUY, LED_SIDE_SELL } led_side;
typedef enum led_order_kind { LED_ORDER_MARKET, LED_ORDER_LIMIT, LED_ORDER_STOP } led_order_kind;
typedef enum led_feed_status { LED_FEED_OK, LED_FEED_STALE, LED_FEED_GAP } led_feed_status;

/* One event. ts_ns is the event's own time (ns since the Unix epoch, UTC): time enters the
 * ledger only as a field. Orders are named by the ledger index of their OrderRequested
 * (order_index); the client order id sent to a venue is derived from it. */
typedef struct led_event {
    led_event_type type;
    uint32_t version; /* schema version of this type; 1 for every type so far */
    int64_t ts_ns;
    union {
        struct {
            char symbol[LED_SYMBOL_BYTES];
            char base[LED_ASSET_BYTES];
            char quote[LED_ASSET_BYTES];
            int64_t tick_e8;         /* > 0 */
            int64_t lot_e8;          /* > 0 */
            int64_t min_notional_e8; /* >= 0 */
        } instrument_defined;
        struct {
            char symbol[LED_SYMBOL_BYTES];
            int64_t open_ts_ns;
            int64_t interval_s;                         /* > 0 */
            int64_t open_e8, high_e8, low_e8, close_e8; /* > 0 */
            int64_t volume_e8;                          /* >= 0 */
        } bar_closed;
        struct {
            char symbol[LED_SYMBOL_BYTES];
            char strategy[LED_NAME_BYTES];
            led_side side;
            led_order_kind kind;
            int64_t qty_e8;   /* > 0 */
            int64_t price_e8; /* LIMIT: the limit > 0; STOP: the trigger > 0; MARKET: 0 */
            bool reduce_only;
        } order_requested;
        struct {
            uint64_t order_index;
            char venue_order_id[LED_ID_BYTES];
        } order_acked;
        struct {
            uint64_t order_index;
            char fill_id[LED_ID_BYTES];
            int64_t qty_e8;   /* > 0 */
            int64_t price_e8; /* > 0 */
            int64_t fee_e8;   /* >= 0 */
            char fee_asset[LED_ASSET_BYTES];
            bool maker;
        } order_filled;
        struct {
            uint64_t order_index;
            int64_t code; /* the venue's error code */
            char message[LED_TEXT_BYTES];
        } order_rejected_by_venue;
        struct {
            uint64_t order_index;
        } order_cancel_requested;
        struct {
            uint64_t order_index;
            char reason[LED_TEXT_BYTES];
        } order_cancelled;
        struct {
            char client_order_id[LED_ID_BYTES];
            char symbol[LED_SYMBOL_BYTES];
            led_side side;
            led_order_kind kind;
            int64_t qty_e8;        /* > 0 */
            int64_t price_e8;      /* as in order_requested */
            int64_t filled_qty_e8; /* 0 to qty_e8 */
        } external_order_adopted;
        struct {
            int64_t max_order_notional_e8;    /* > 0 */
            int64_t max_position_notional_e8; /* > 0, per symbol */
            int64_t max_position_equity_bps;  /* 1 to 10000 (default 200, 2%) */
            int64_t max_gross_exposure_e8;    /* > 0 */
            int64_t max_open_orders;          /* >= 1 */
            int64_t price_band_bps;           /* 1 to 10000 */
            int64_t daily_loss_bps;           /* 1 to 10000 of start-of-day equity (500) */
            int64_t max_drawdown_bps;         /* 1 to 10000 of peak equity (1000) */
        } risk_limits_set;
        struct {
            bool on;
            char reason[LED_TEXT_BYTES];
        } kill_switch_set;
        struct {
            char symbol[LED_SYMBOL_BYTES];
            bool tripped;
            char reason[LED_TEXT_BYTES];
        } circuit_breaker_set;
        struct {
            char feed[LED_NAME_BYTES];
            char symbol[LED_SYMBOL_BYTES];
            led_feed_status status;
            char detail[LED_TEXT_BYTES];
        } feed_health;
        struct {
            char strategy[LED_NAME_BYTES];
            bool enabled;
        } strategy_enabled;
        struct {
            char asset[LED_ASSET_BYTES];
            int64_t delta_e8; /* != 0 */
            char reason[LED_TEXT_BYTES];
        } balance_adjusted;
        struct {
            uint64_t term; /* >= 1 */
            char node[LED_NAME_BYTES];
        } leader_changed;
    } u;
} led_event;

/* The wire name of a type ("OrderFilled"), or NULL for a value outside the enum. */
const char *led_event_type_name(led_event_type type);

/* Largest encoded event (every text field full). */
#define LED_EVENT_BYTES_MAX 512u

/* Encode ev as a msgpack map {"type": name, "v": version, "ts_ns": ..., field: value...} with
 * the fields in a fixed order, so that equal events encode to equal bytes (the chain hash and
 * replicas depend on it). ev must be valid (led_event_check == TK_OK; else TK_ASSERT).
 * Errors: TK_EFULL (buf_size too small; nothing meaningful in buf). */
TK_MUST_USE tk_err led_event_encode(const led_event *ev, uint8_t *buf, size_t buf_size,
                                    size_t *out_size);

/* Why a decode or check refused an event: the field (or "type", "v", "(event)") and what. */
typedef struct led_event_error {
    char field[32];
    const char *reason; /* static */
} led_event_error;

/* Check every field of ev against its type's rules (ranges, text lengths, enums).
 * Errors: TK_EINVAL (why, may be NULL, names the field). */
TK_MUST_USE tk_err led_event_check(const led_event *ev, led_event_error *why);

/* A decoder: holds the msgpack zone that decoding works in, so that decoding allocates nothing
 * once warm. Owned by one thread at a time. */
typedef struct led_codec led_codec;

/* Errors: TK_ENOMEM. */
TK_MUST_USE tk_err led_codec_open(led_codec **out_codec);

/* NULL is a no-op. */
void led_codec_close(led_codec *codec);

/* Decode exactly one event from size_bytes of buf, strictly: the input must be one msgpack map
 * and nothing after it; the type must be known and its version supported; every field of the
 * type must be present once, of its msgpack type, in range, and no other key may appear.
 * Nothing is guessed or defaulted. *out is written only on TK_OK (then led_event_check holds).
 * Errors: TK_EINVAL (malformed or refused; why names the field), TK_EOVERFLOW (an integer out
 * of range), TK_ENOMEM. */
TK_MUST_USE tk_err led_event_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes,
                                    led_event *out, led_event_error *why);

/* ---- Order state machine --------------------------------------------------------------------- */

/*   REQUESTED -> ACCEPTED | REJECTED                      (the pre-trade risk gate, in apply)
 *   ACCEPTED  -> ACKED | PARTIALLY_FILLED | FILLED | CANCELLED | REJECTED_BY_VENUE
 *   ACKED     -> PARTIALLY_FILLED | FILLED | CANCELLED | REJECTED_BY_VENUE
 *   PARTIALLY_FILLED -> PARTIALLY_FILLED | FILLED | CANCELLED
 * A venue may report a fill before its ack, hence ACCEPTED -> *_FILLED. REJECTED, FILLED,
 * CANCELLED and REJECTED_BY_VENUE are terminal. An event asking for any other edge is refused
 * by apply with the reason led_order_edge_check gives; it never crashes the ledger. */
typedef enum led_order_state {
    LED_ORDER_REQUESTED,
    LED_ORDER_ACCEPTED,
    LED_ORDER_REJECTED,
    LED_ORDER_ACKED,
    LED_ORDER_PARTIALLY_FILLED,
    LED_ORDER_FILLED,
    LED_ORDER_CANCELLED,
    LED_ORDER_REJECTED_BY_VENUE,
} led_order_state;

#define LED_ORDER_STATE_COUNT 8u

/* The state's name ("partially_filled"), or NULL for a value outside the enum. */
const char *led_order_state_name(led_order_state state);

/* True for the states no event may leave. */
bool led_order_state_is_terminal(led_order_state state);

/* Whether from -> to is an edge of the machine above. NULL when it is; otherwise a static
 * reason naming both states' situation ("the order is already filled"), for the refusal. */
const char *led_order_edge_check(led_order_state from, led_order_state to);

/* ---- Chain hash ------------------------------------------------------------------------------ */

#define LED_HASH_BYTES 32u /* SHA-256 */

/* The chain hash of the log (DESIGN.md, storage): h[i] = SHA-256(h[i-1] || index || event),
 * where index is the event's ledger index as 8 bytes big-endian and event its encoded bytes;
 * h[0], before the first event, is 32 zero bytes. Any change to any stored event changes every
 * later hash, which is what makes the history tamper-evident. prev and out may be the same
 * buffer. SHA-256 is FIPS 180-4, computed by OpenSSL. */
void led_chain_next(const uint8_t prev[LED_HASH_BYTES], uint64_t index, const uint8_t *event,
                    size_t event_size, uint8_t out[LED_HASH_BYTES]);

#endif /* TK_LEDGER_LED_H */
