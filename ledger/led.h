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
#define LED_KEY_BYTES    64u /* client idempotency keys */

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
 * (order_index); the client order id sent to a venue is derived from it. key is the client's
 * idempotency key of a write made through the API (1..63 printable ASCII bytes), or "" for
 * none: the ledger applies the first event with a key and refuses any later one that repeats
 * it while the key is among the last LED_KEYS_MAX (docs/ledger.md, "Idempotency keys"). */
typedef struct led_event {
    led_event_type type;
    uint32_t version; /* schema version of this type; 1 for every type so far */
    int64_t ts_ns;
    char key[LED_KEY_BYTES];
    union {
        struct led_ev_instrument_defined {
            char symbol[LED_SYMBOL_BYTES];
            char base[LED_ASSET_BYTES];
            char quote[LED_ASSET_BYTES];
            int64_t tick_e8;         /* > 0 */
            int64_t lot_e8;          /* > 0 */
            int64_t min_notional_e8; /* >= 0 */
        } instrument_defined;
        struct led_ev_bar_closed {
            char symbol[LED_SYMBOL_BYTES];
            int64_t open_ts_ns;
            int64_t interval_s;                         /* > 0 */
            int64_t open_e8, high_e8, low_e8, close_e8; /* > 0 */
            int64_t volume_e8;                          /* >= 0 */
        } bar_closed;
        struct led_ev_order_requested {
            char symbol[LED_SYMBOL_BYTES];
            char strategy[LED_NAME_BYTES];
            led_side side;
            led_order_kind kind;
            int64_t qty_e8;   /* > 0 */
            int64_t price_e8; /* LIMIT: the limit > 0; STOP: the trigger > 0; MARKET: 0 */
            bool reduce_only;
        } order_requested;
        struct led_ev_order_acked {
            uint64_t order_index;
            char venue_order_id[LED_ID_BYTES];
        } order_acked;
        struct led_ev_order_filled {
            uint64_t order_index;
            char fill_id[LED_ID_BYTES];
            int64_t qty_e8;   /* > 0 */
            int64_t price_e8; /* > 0 */
            int64_t fee_e8;   /* >= 0 */
            char fee_asset[LED_ASSET_BYTES];
            bool maker;
        } order_filled;
        struct led_ev_order_rejected_by_venue {
            uint64_t order_index;
            int64_t code; /* the venue's error code */
            char message[LED_TEXT_BYTES];
        } order_rejected_by_venue;
        struct led_ev_order_cancel_requested {
            uint64_t order_index;
        } order_cancel_requested;
        struct led_ev_order_cancelled {
            uint64_t order_index;
            char reason[LED_TEXT_BYTES];
        } order_cancelled;
        struct led_ev_external_order_adopted {
            char client_order_id[LED_ID_BYTES];
            char symbol[LED_SYMBOL_BYTES];
            led_side side;
            led_order_kind kind;
            int64_t qty_e8;        /* > 0 */
            int64_t price_e8;      /* as in order_requested */
            int64_t filled_qty_e8; /* 0 to qty_e8 */
        } external_order_adopted;
        struct led_ev_risk_limits_set {
            int64_t max_order_notional_e8;    /* > 0 */
            int64_t max_position_notional_e8; /* > 0, per symbol */
            int64_t max_position_equity_bps;  /* 1 to 10000 (default 200, 2%) */
            int64_t max_gross_exposure_e8;    /* > 0 */
            int64_t max_open_orders;          /* >= 1 */
            int64_t price_band_bps;           /* 1 to 10000 */
            int64_t daily_loss_bps;           /* 1 to 10000 of start-of-day equity (500) */
            int64_t max_drawdown_bps;         /* 1 to 10000 of peak equity (1000) */
        } risk_limits_set;
        struct led_ev_kill_switch_set {
            bool on;
            char reason[LED_TEXT_BYTES];
        } kill_switch_set;
        struct led_ev_circuit_breaker_set {
            char symbol[LED_SYMBOL_BYTES];
            bool tripped;
            char reason[LED_TEXT_BYTES];
        } circuit_breaker_set;
        struct led_ev_feed_health {
            char feed[LED_NAME_BYTES];
            char symbol[LED_SYMBOL_BYTES];
            led_feed_status status;
            char detail[LED_TEXT_BYTES];
        } feed_health;
        struct led_ev_strategy_enabled {
            char strategy[LED_NAME_BYTES];
            bool enabled;
        } strategy_enabled;
        struct led_ev_balance_adjusted {
            char asset[LED_ASSET_BYTES];
            int64_t delta_e8; /* != 0 */
            char reason[LED_TEXT_BYTES];
        } balance_adjusted;
        struct led_ev_leader_changed {
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

/* One field of an event as text, for people and exports: money as a plain decimal
 * (led_format), other integers in base 10, bools as true/false, enums by their wire names. */
typedef enum led_field_kind {
    LED_FIELD_TEXT,
    LED_FIELD_DECIMAL,
    LED_FIELD_INTEGER,
    LED_FIELD_BOOL,
} led_field_kind;

typedef struct led_field_text {
    const char *key; /* static: the wire key ("qty") */
    led_field_kind kind;
    char text[LED_TEXT_BYTES];
} led_field_text;

/* The order an event names (OrderAcked, OrderFilled, OrderRejectedByVenue,
 * OrderCancelRequested, OrderCancelled), or 0. */
uint64_t led_event_order_index(const led_event *ev);

/* How many fields a type has after type, v and ts_ns (type must be known: TK_ASSERT). */
uint32_t led_event_field_count(led_event_type type);

/* Field i (0..count-1, in wire order) of ev into out. ev must be valid (TK_ASSERT on i). */
void led_event_field_text(const led_event *ev, uint32_t i, led_field_text *out);

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

/* ---- State ----------------------------------------------------------------------------------- */

/* The trading state every replica folds from the log. Allocated once by led_state_open at the
 * capacities of tk_limits.h (LED_*_MAX), so led_apply never allocates. Owned by one thread at a
 * time; the read functions below may run on that thread between applies.
 *
 * Valuation: equity is counted in the valuation asset, the quote asset of the first instrument
 * defined. An asset is worth its balance times the last mark of the first instrument that has
 * it as base and the valuation asset as quote; an asset without such a mark counts 0. */
typedef struct led_state led_state;

/* The rules of the pre-trade risk gate, in the order they are checked. The ids (names) are
 * stable: logs, reports and tests name rules by them. */
#define LED_RULE_LIST(X)                                       \
    X(LED_RULE_NONE, "none")                                   \
    X(LED_RULE_KILL_SWITCH, "kill_switch")                     \
    X(LED_RULE_UNKNOWN_INSTRUMENT, "unknown_instrument")       \
    X(LED_RULE_CIRCUIT_BREAKER, "circuit_breaker")             \
    X(LED_RULE_STRATEGY_DISABLED, "strategy_disabled")         \
    X(LED_RULE_TICK_SIZE, "tick_size")                         \
    X(LED_RULE_LOT_STEP, "lot_step")                           \
    X(LED_RULE_PRICE_BAND, "price_band")                       \
    X(LED_RULE_MIN_NOTIONAL, "min_notional")                   \
    X(LED_RULE_MAX_ORDER_NOTIONAL, "max_order_notional")       \
    X(LED_RULE_REDUCE_ONLY, "reduce_only")                     \
    X(LED_RULE_DAILY_LOSS, "daily_loss")                       \
    X(LED_RULE_MAX_DRAWDOWN, "max_drawdown")                   \
    X(LED_RULE_MAX_OPEN_ORDERS, "max_open_orders")             \
    X(LED_RULE_MAX_POSITION_NOTIONAL, "max_position_notional") \
    X(LED_RULE_MAX_POSITION_EQUITY, "max_position_equity")     \
    X(LED_RULE_MAX_GROSS_EXPOSURE, "max_gross_exposure")       \
    X(LED_RULE_INSUFFICIENT_BALANCE, "insufficient_balance")   \
    X(LED_RULE_OVERFLOW, "overflow")

typedef enum led_rule {
#define X(code, id) code,
    LED_RULE_LIST(X)
#undef X
} led_rule;

/* The stable id of a rule ("max_drawdown"), or NULL outside the enum. */
const char *led_rule_id(led_rule rule);

/* What led_apply did with one event.
 *   APPLIED   the state changed as the event says (an OrderRequested: the gate accepted it).
 *   SKIPPED   the index was at or below the last applied one: nothing changed (idempotence).
 *   REFUSED   the event does not fit the state (an illegal order transition, an unknown order
 *             or instrument, a full table, an overflow) or repeats a recent idempotency key:
 *             nothing changed but the last index (and the recent keys, for a first key);
 *             detail says why.
 *   REJECTED  an OrderRequested the risk gate refused: the order is recorded as rejected, with
 *             rule and detail. */
typedef enum led_result { LED_APPLIED, LED_SKIPPED, LED_REFUSED, LED_REJECTED } led_result;

typedef struct led_outcome {
    led_result result;
    led_rule rule; /* LED_REJECTED only; else LED_RULE_NONE */
    char detail[LED_TEXT_BYTES];
    /* A REFUSED repeat of an idempotency key: the index of the event that first carried it,
     * with that event's result and rule; else 0. */
    uint64_t duplicate_of;
    led_result original_result;
    led_rule original_rule;
} led_outcome;

/* The name of a result ("rejected"), or NULL outside the enum. */
const char *led_result_name(led_result result);

/* Risk limits, as RiskLimitsSet sets them (see led_event). Until the first RiskLimitsSet the
 * defaults of docs/ledger.md hold: 2% of equity per position, 5% daily loss, 10% drawdown,
 * 500 bps price band, 100 open orders, and no absolute notional caps (INT64_MAX). */
typedef struct led_limits {
    int64_t max_order_notional_e8;
    int64_t max_position_notional_e8;
    int64_t max_position_equity_bps;
    int64_t max_gross_exposure_e8;
    int64_t max_open_orders;
    int64_t price_band_bps;
    int64_t daily_loss_bps;
    int64_t max_drawdown_bps;
} led_limits;

/* Account-wide figures. Equity, peaks and PnL are in the valuation asset's 1e-8 units. */
typedef struct led_account {
    uint64_t last_index; /* last ledger index applied (skipped ones excluded); 0 at genesis */
    int64_t last_ts_ns;  /* ts_ns of the last applied event */
    char valuation_asset[LED_ASSET_BYTES]; /* "" until the first InstrumentDefined */
    int64_t equity_e8;
    int64_t peak_equity_e8;
    int64_t sod_equity_e8; /* at the start of the current UTC day of event time */
    int64_t day;           /* current UTC day: ts_ns / 86400e9 */
    bool kill_switch;
    char kill_reason[LED_TEXT_BYTES];
    uint64_t leader_term;
    char leader_node[LED_NAME_BYTES];
    led_limits limits;
    uint64_t events_applied, events_refused, orders_accepted, orders_rejected;
    uint32_t instrument_count, asset_count, strategy_count, open_order_count;
    /* The gate's last decision: the OrderRequested index, and its rule (NONE: accepted). */
    uint64_t last_decision_index;
    led_rule last_decision_rule;
    char last_decision_detail[LED_TEXT_BYTES];
} led_account;

/* An instrument with its market data and the position held in it. */
typedef struct led_instrument {
    char symbol[LED_SYMBOL_BYTES];
    char base[LED_ASSET_BYTES];
    char quote[LED_ASSET_BYTES];
    int64_t tick_e8, lot_e8, min_notional_e8;
    int64_t mark_e8; /* close of the last BarClosed; 0 before the first */
    int64_t mark_ts_ns;
    bool breaker_tripped;
    led_feed_status feed;
    /* Position: signed quantity in base units, average entry price (average-cost method) and
     * realized PnL in quote units, fees excluded. */
    int64_t position_e8, avg_entry_e8, realized_pnl_e8;
    /* Remaining quantity of open orders, per side. */
    int64_t open_buy_e8, open_sell_e8;
} led_instrument;

/* A balance: total held, the part reserved by open orders, and fees paid in this asset. */
typedef struct led_balance {
    char asset[LED_ASSET_BYTES];
    int64_t total_e8, reserved_e8, fees_e8;
} led_balance;

/* An open (non-terminal) order. Terminal orders leave the state; the log keeps them. */
typedef struct led_order {
    uint64_t index; /* ledger index of its OrderRequested or ExternalOrderAdopted */
    int64_t ts_ns;
    char symbol[LED_SYMBOL_BYTES];
    char strategy[LED_NAME_BYTES];      /* "" for an adopted external order */
    char client_order_id[LED_ID_BYTES]; /* external orders only; ours derive from index */
    char venue_order_id[LED_ID_BYTES];  /* "" until acked */
    led_side side;
    led_order_kind kind;
    led_order_state state;
    bool reduce_only, cancel_requested, external;
    int64_t qty_e8, price_e8, filled_qty_e8;
    int64_t ref_price_e8; /* the price the gate valued it at: limit or stop price, or the mark */
    int64_t reserved_e8;  /* what it holds of a balance: quote for a buy, base for a sell */
} led_order;

/* A strategy's switch, as StrategyEnabled set it. Strategies never named are enabled. */
typedef struct led_strategy {
    char name[LED_NAME_BYTES];
    bool enabled;
} led_strategy;

/* Allocate a state at genesis. Errors: TK_ENOMEM. */
TK_MUST_USE tk_err led_state_open(led_state **out_state);

/* NULL is a no-op. */
void led_state_close(led_state *state);

/* Back to genesis (index 0, empty tables, default limits). */
void led_state_reset(led_state *state);

/* Fold one committed event into the state: the pure function of DESIGN.md, principle 2. The
 * same state, index and event give the same state and outcome on every machine. index must be
 * last_index + 1 (applied) or at most last_index (skipped: idempotence by index); a gap is a
 * journal bug (TK_ASSERT). ev must pass led_event_check (TK_ASSERT). A refused event changes
 * nothing but the last index and the refusal count. OrderRequested runs the pre-trade risk
 * gate (docs/ledger.md lists its rules). Never allocates. */
void led_apply(led_state *state, uint64_t index, const led_event *ev, led_outcome *out);

/* The account's equity (valuation asset, 1e-8), without copying the account. */
int64_t led_state_equity(const led_state *state);

/* The position (base units, 1e-8) in the instrument at position 0..instrument_count-1
 * (TK_ASSERT), without copying the instrument. */
int64_t led_state_position_at(const led_state *state, uint32_t instrument);

/* The last ledger index applied (0 at genesis): the journal's next index is this + 1. */
uint64_t led_state_last_index(const led_state *state);

/* Readers. The _at functions take a position 0..count-1 (TK_ASSERT) in the table's stable
 * order: instruments and strategies in order of definition, assets in order of first use,
 * orders by index. */
void led_state_account(const led_state *state, led_account *out);
void led_state_instrument_at(const led_state *state, uint32_t position, led_instrument *out);
void led_state_balance_at(const led_state *state, uint32_t position, led_balance *out);
void led_state_strategy_at(const led_state *state, uint32_t position, led_strategy *out);

/* The open order with ledger index order_index. Errors: TK_ENOENT (unknown or terminal). */
TK_MUST_USE tk_err led_state_order_find(const led_state *state, uint64_t order_index,
                                        led_order *out);

/* The open order with the smallest index above after_index (0: the first). Iterates all open
 * orders in index order in O(log n) per call. Errors: TK_ENOENT (none left). */
TK_MUST_USE tk_err led_state_order_next(const led_state *state, uint64_t after_index,
                                        led_order *out);

/* Largest encoded state, for buffers. */
size_t led_state_encoded_size_max(void);

/* The state's canonical encoding: a versioned, big-endian binary layout (docs/ledger.md) in
 * which equal states are equal bytes. The state hash is SHA-256 of these bytes, a storage
 * checkpoint stores them, and a snapshot carries them. Errors: TK_EFULL (buf too small). */
TK_MUST_USE tk_err led_state_encode(const led_state *state, uint8_t *buf, size_t buf_size,
                                    size_t *out_size);

/* Replace the state with the one encoded in buf, strictly: a wrong magic or version, a count
 * above a capacity, a truncated or overlong text, an enum out of range, orders not in
 * increasing index order, or bytes after the end are refused. On error the state is left at
 * genesis (never half-decoded). Errors: TK_EINVAL (why->field names the part, why->reason
 * what; why may be NULL). */
TK_MUST_USE tk_err led_state_decode(led_state *state, const uint8_t *buf, size_t size_bytes,
                                    led_event_error *why);

/* SHA-256 of the canonical encoding, into out. Encodes into the state's own scratch buffer
 * (not the state itself), so it must not run concurrently with another call on the state. */
void led_state_hash(const led_state *state, uint8_t out[LED_HASH_BYTES]);

/* SHA-256 of size bytes (FIPS 180-4, by OpenSSL). */
void led_sha256(const uint8_t *bytes, size_t size, uint8_t out[LED_HASH_BYTES]);

/* ---- Event generator ---------------------------------------------------------------------- */

/* A seeded generator of valid, realistic event streams (instruments, a deposit, risk limits,
 * bars on a random walk, orders, and acks, fills, cancels and venue rejections of the orders
 * the gate accepted, now and then a kill switch), for drills, tests and benchmarks. Pure: the
 * same seed and the same state give the same events. */
typedef struct led_gen led_gen;

/* Errors: TK_ENOMEM. */
TK_MUST_USE tk_err led_gen_open(uint64_t seed, led_gen **out_gen);

/* NULL is a no-op. */
void led_gen_close(led_gen *gen);

/* The next event, for ledger index index, given the state with every earlier event applied
 * (the generator reads open orders and marks from it). The event passes led_event_check. */
void led_gen_next(led_gen *gen, const led_state *state, uint64_t index, led_event *out);

/* ---- The journal protocol ---------------------------------------------------------------- */

/* How trading actors and the journal actor talk (DESIGN.md: actors propose by sending to the
 * actor registered as "journal" and learn of commits from it). The message types are numbers
 * of the actor runtime's user range (cluster/ checks LED_MSG_BASE >= ACT_MSG_USER); the
 * payloads are plain structs, so that feeds, strategies and execution need only this header.
 *
 *   LED_MSG_PROPOSE  to the journal. ptr: a led_event the sender malloc'd, moved to the journal
 *                    (ptr_free = free). Inline data: a led_propose_flags word.
 *   LED_MSG_COMMITTED from the journal, once per committed event, to each subscriber. ptr: a
 *                    shared, read-only led_commit (the message's ptr_free releases it). Every
 *                    COMMITTED is answered with LED_MSG_ACK once handled, after any proposal
 *                    it caused, so that the journal knows when the graph is idle.
 *   LED_MSG_ACK      to the journal. Inline data: a led_ack (the commit's index; flags).
 *   LED_MSG_IDLE     from the journal to a proposer that asked (LED_PROPOSE_NOTIFY_IDLE, or a
 *                    paced batch): every publication since was acknowledged and nothing is
 *                    pending. Inline data: the index of the last event proposed (uint64_t).
 *   LED_MSG_PROPOSE_PACED to the journal. ptr: a led_paced_batch the sender malloc'd (moved,
 *                    ptr_free = free): the journal commits its events one at a time, each once
 *                    the graph is idle after the one before, then answers LED_MSG_IDLE. A
 *                    replay feed hands over bars this way, a batch per message rather than a
 *                    message and an answer per bar.
 *
 * Publication order (docs/strategies.md, "How one bar flows"): a committed BarClosed goes to
 * the "execution" group first; once every execution member acknowledged it, to the
 * "strategies" group. Other events go to both groups as they commit. */
#define LED_MSG_BASE          0x4c00u /* 'L' << 8 */
#define LED_MSG_PROPOSE       (LED_MSG_BASE + 1u)
#define LED_MSG_COMMITTED     (LED_MSG_BASE + 2u)
#define LED_MSG_ACK           (LED_MSG_BASE + 3u)
#define LED_MSG_IDLE          (LED_MSG_BASE + 4u)
#define LED_MSG_PROPOSE_PACED (LED_MSG_BASE + 5u)

/* Events one paced batch carries. */
#define LED_PACED_EVENTS_MAX 64u

typedef struct led_paced_batch {
    uint32_t count; /* 1 to LED_PACED_EVENTS_MAX */
    led_event events[LED_PACED_EVENTS_MAX];
} led_paced_batch;

#define LED_GROUP_EXECUTION  "execution"
#define LED_GROUP_STRATEGIES "strategies"
#define LED_JOURNAL_NAME     "journal"

/* What an acknowledgement says. LED_ACK_BARS_OFF: the subscriber needs no bar until it has
 * been sent some other event (an execution actor with nothing resting has nothing to match),
 * so the journal skips it for bars meanwhile: two messages fewer per bar. */
typedef struct led_ack {
    uint64_t index; /* the acknowledged commit */
    uint32_t flags; /* LED_ACK_* */
} led_ack;

#define LED_ACK_BARS_OFF 1u

typedef enum led_propose_flags {
    LED_PROPOSE_PLAIN = 0,
    LED_PROPOSE_NOTIFY_IDLE = 1, /* send LED_MSG_IDLE to the proposer once the graph is idle */
} led_propose_flags;

/* One committed event as the journal publishes it, with what subscribers need to act on it
 * without reading the state: its outcome, and the account's equity after it. */
typedef struct led_commit {
    uint64_t index;
    led_event ev;
    led_outcome outcome;
    int64_t equity_e8; /* account equity after the event (for a bar reaching the strategies:
                          after the bar's fills too) */
    bool order_open;   /* for an event naming an order: it is still open after the event */
} led_commit;

/* ---- Snapshot blob -----------------------------------------------------------------------------
 */

/* A snapshot as it travels (storage exports it, Raft will ship it): the ledger position it was
 * taken at and the encoded state (led_state_encode) at that position, as one msgpack map
 * {"v": 1, "index": u64, "chain_hash": bin 32, "raft_index": u64, "cluster_id": str,
 *  "state": bin}. */
typedef struct led_snapshot {
    uint64_t index;                     /* ledger index of the last event folded into state */
    uint8_t chain_hash[LED_HASH_BYTES]; /* h[index]; 32 zero bytes for index 0 */
    uint64_t raft_index;                /* last Raft entry applied; 0 for a local journal */
    char cluster_id[LED_NAME_BYTES];    /* may be empty */
    const uint8_t *state;               /* borrowed: the encoded state */
    size_t state_size;
} led_snapshot;

/* Bytes led_snapshot_encode needs around the state. */
#define LED_SNAPSHOT_OVERHEAD_BYTES 160u

/* Encode snap into buf (at least snap->state_size + LED_SNAPSHOT_OVERHEAD_BYTES bytes, else
 * TK_EFULL). cluster_id must be NUL-terminated within its array (TK_ASSERT). */
TK_MUST_USE tk_err led_snapshot_encode(const led_snapshot *snap, uint8_t *buf, size_t buf_size,
                                       size_t *out_size);

/* Decode a snapshot blob strictly (every key once, of its type, no other key, nothing after the
 * map). out->state then points into buf (borrowed from the caller's buffer); the state bytes
 * themselves are checked later, by led_state_decode.
 * Errors: TK_EINVAL (why names the key and what is wrong), TK_ENOMEM. */
TK_MUST_USE tk_err led_snapshot_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes,
                                       led_snapshot *out, led_event_error *why);

#endif /* TK_LEDGER_LED_H */
