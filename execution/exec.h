/* troika execution (prefix exec_): the paper venue's fill model, the execution actor, and the
 * Binance spot venue's requests and answers (docs/venues.md).
 *
 * The fill model (exec_paper_*) is pure: a book of resting orders matched against one bar at
 * a time, deterministically, by the rules of docs/strategies.md ("Paper venue fill model"):
 * market orders at the open moved by the slippage, limit orders when the bar trades through,
 * stops when the bar reaches them, maker and taker fees in bps, an optional participation cap
 * giving partial fills. Prices and quantities are int64 in 1e-8 units, as in the ledger.
 *
 * The execution actor takes accepted orders from the journal's publications, matches them
 * against each committed bar with the fill model, and proposes OrderFilled and
 * OrderCancelled; it never decides whether an order may trade (the ledger's risk gate did). */
#ifndef TK_EXECUTION_EXEC_H
#define TK_EXECUTION_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "led.h"
#include "net.h"
#include "tk.h"

/* Orders one paper book holds at once. */
#define EXEC_BOOK_MAX 256u

/* The venue's terms, in basis points (1/10000). */
typedef struct exec_paper_opts {
    int64_t taker_bps;         /* fee of market and stop fills, 0 to 10000 */
    int64_t maker_bps;         /* fee of limit fills, 0 to 10000 */
    int64_t slippage_bps;      /* market and stop fills move this much against the taker */
    int64_t participation_bps; /* a bar fills at most this share of its volume; 0: no cap */
} exec_paper_opts;

/* One resting order: what is left of it. */
typedef struct exec_order {
    uint64_t order_index; /* the ledger index of its OrderRequested */
    char symbol[LED_SYMBOL_BYTES];
    led_side side;
    led_order_kind kind;
    int64_t remaining_e8;  /* > 0 */
    int64_t price_e8;      /* limit price or stop trigger; 0 for market */
    bool cancel_requested; /* from the state: its cancel was asked for, not yet answered */
    int64_t ts_ns;         /* from the state: when it was requested */
} exec_order;

/* Resting orders in the order they were accepted. Caller-owned (exec_book_init). */
typedef struct exec_book {
    exec_order orders[EXEC_BOOK_MAX];
    uint32_t count;
} exec_book;

/* A bar as the fill model sees it. */
typedef struct exec_bar {
    char symbol[LED_SYMBOL_BYTES];
    int64_t open_e8, high_e8, low_e8, close_e8, volume_e8;
} exec_bar;

/* One fill the model made. done: the order is filled in full and left the book. */
typedef struct exec_fill {
    uint64_t order_index;
    int64_t qty_e8, price_e8, fee_e8;
    bool maker;
    bool done;
} exec_fill;

/* Check the venue's terms. Errors: TK_EINVAL (a value outside 0..10000; why names it). */
TK_MUST_USE tk_err exec_paper_opts_check(const exec_paper_opts *opts, const char **why);

void exec_book_init(exec_book *book);

/* Add an order at the end. Errors: TK_EFULL (EXEC_BOOK_MAX resting), TK_EINVAL (remaining <= 0,
 * or a limit or stop without a price). */
TK_MUST_USE tk_err exec_book_add(exec_book *book, const exec_order *order);

/* Remove the order with that index; false when it is not resting. */
bool exec_book_remove(exec_book *book, uint64_t order_index);

/* Match the book's orders on bar->symbol against bar: market orders first, then stops and
 * limits, each in the order they were accepted. Fills go to fills (at most fills_max; the rest
 * wait for the next bar), filled orders leave the book, partly filled ones keep what is left.
 * Returns the number of fills. Arithmetic that would overflow leaves the order resting.
 * Formulas: docs/strategies.md, "Paper venue fill model". */
uint32_t exec_paper_match(const exec_paper_opts *opts, exec_book *book, const exec_bar *bar,
                          exec_fill *fills, uint32_t fills_max);

/* ---- The execution actor (exec_actor.c) ------------------------------------------------------ */

typedef struct exec_actor_opts {
    exec_paper_opts venue;
    char fee_asset[LED_ASSET_BYTES]; /* the asset fees are paid in (the quote asset) */
    uint32_t mailbox_capacity;       /* >= 2 */
    /* Orders resting at the start (a new leader's open orders, exec_book_from_state), borrowed
     * for the spawn only; NULL and 0 for none. One whose cancel was requested is answered at
     * once with OrderCancelled (the request committed before this venue started). */
    const exec_order *resting;
    uint32_t resting_count;
    act_ref link_to; /* its supervisor (ACT_REF_NONE: none) */
} exec_actor_opts;

/* The open orders of state a paper venue would hold (what is left of each, in index order),
 * into out (up to max); returns how many there are (may exceed max: the rest did not fit).
 * External (adopted) orders are not the paper venue's and are left out. */
uint32_t exec_book_from_state(const led_state *state, exec_order *out, uint32_t max);

/* Spawn the paper execution actor and join it to LED_GROUP_EXECUTION. It answers every
 * LED_MSG_COMMITTED with LED_MSG_ACK after proposing what the event caused: an accepted
 * OrderRequested enters its book; an OrderCancelRequested for a resting order is answered
 * with OrderCancelled (key "cancel:<order>"); a BarClosed is matched (exec_paper_match) and each
 * fill proposed as OrderFilled (fill id "p<order>-<bar's index>", key "fill:<fill id>", time the
 * bar's): the same ids on whichever node runs it, so that the ledger takes each once. opts is
 * copied. Errors: also TK_EFULL (more resting orders than EXEC_BOOK_MAX).
 * Errors: TK_EINVAL (bad venue terms), those of act_spawn and act_group_join. */
TK_MUST_USE tk_err exec_actor_spawn(act_system *sys, const exec_actor_opts *opts, act_ref *out_ref);

/* ---- The Binance spot venue (exec_binance.c) ------------------------------------------------ */

#define EXEC_BINANCE_SIGNATURE_BYTES 65u /* 64 lowercase hex digits and the NUL */

/* Binance's request signature for SIGNED endpoints: HMAC-SHA256 keyed with the API secret over
 * the total parameter string (the query string, then the request body, as sent, without the
 * signature parameter), in lowercase hex (Binance Spot API documentation, "SIGNED (TRADE,
 * USER_DATA, AND MARGIN) Endpoint security"; HMAC: RFC 2104; SHA-256: FIPS 180-4). secret is
 * secret_size bytes, payload payload_size bytes; out gets the hex and its NUL. Uses OpenSSL's
 * HMAC. Never logs either input. Errors: TK_EIO (OpenSSL refused). */
TK_MUST_USE tk_err exec_binance_sign(const char *secret, size_t secret_size, const char *payload,
                                     size_t payload_size, char out[EXEC_BINANCE_SIGNATURE_BYTES]);

#define EXEC_BINANCE_KEY_BYTES 128u /* an API key or secret, with its NUL */
#define EXEC_BINANCE_FILLS_MAX 64u  /* fills one order answer may list */

/* How to reach one Binance account. The key and secret are never logged, printed or put in an
 * error text. */
typedef struct exec_binance_venue {
    char base_url[256]; /* "https://api.binance.com", or a mock's "http://127.0.0.1:PORT" */
    char api_key[EXEC_BINANCE_KEY_BYTES];
    char secret[EXEC_BINANCE_KEY_BYTES];
    uint32_t recv_window_ms; /* how long after its timestamp Binance accepts a request (5000) */
    int64_t time_offset_ms;  /* Binance's clock minus ours (exec_binance_time_offset) */
} exec_binance_venue;

/* Read the API key and secret into v: from the environment (TROIKA_BINANCE_API_KEY and
 * TROIKA_BINANCE_API_SECRET) when key_file is NULL, else from key_file, two lines "key" and
 * "secret", which must be a regular file of mode 0600 (or 0400), owned by the caller: keys
 * anyone else can read are refused. Errors (why names the variable or file and the reason,
 * never a key): TK_ENOENT (missing), TK_EPERM (the file's mode or owner), TK_EINVAL (empty,
 * too long, or not printable ASCII). */
TK_MUST_USE tk_err exec_binance_keys_load(exec_binance_venue *v, const char *key_file, char *why,
                                          size_t why_size);

/* What an order request asks for. client_order_id is troika's (1..36 of A-Z a-z 0-9 . : / _ -,
 * Binance's rule); kind LED_ORDER_MARKET or LED_ORDER_LIMIT (GTC); quantities and prices in
 * 1e-8 units. */
typedef struct exec_binance_order_args {
    const char *symbol;
    const char *client_order_id;
    led_side side;
    led_order_kind kind;
    int64_t qty_e8;
    int64_t price_e8;
} exec_binance_order_args;

/* Fill req (net_request_init'd here) for one SIGNED request, timestamped local_ms plus the
 * venue's offset, with v's recvWindow and signature (exec_binance_sign), the key in
 * X-MBX-APIKEY:
 *   new_order   POST /api/v3/order, newOrderRespType FULL (not idempotent: a resend is
 *               refused by Binance as a duplicate client order id, and must be preceded by a
 *               query)
 *   query       GET /api/v3/order by origClientOrderId (idempotent)
 *   cancel      DELETE /api/v3/order by origClientOrderId (idempotent)
 *   open_orders GET /api/v3/openOrders (symbol NULL: every symbol) (idempotent)
 *   trades      GET /api/v3/myTrades of one venue order id (idempotent): an order's fills
 * Errors (why says which argument): TK_EINVAL (a symbol, client order id, kind or amount
 * Binance would refuse, or a URL too long). */
TK_MUST_USE tk_err exec_binance_new_order(const exec_binance_venue *v,
                                          const exec_binance_order_args *a, int64_t local_ms,
                                          net_request *req, char *why, size_t why_size);
TK_MUST_USE tk_err exec_binance_query(const exec_binance_venue *v, const char *symbol,
                                      const char *client_order_id, int64_t local_ms,
                                      net_request *req, char *why, size_t why_size);
TK_MUST_USE tk_err exec_binance_cancel(const exec_binance_venue *v, const char *symbol,
                                       const char *client_order_id, int64_t local_ms,
                                       net_request *req, char *why, size_t why_size);
TK_MUST_USE tk_err exec_binance_open_orders(const exec_binance_venue *v, const char *symbol,
                                            int64_t local_ms, net_request *req, char *why,
                                            size_t why_size);
TK_MUST_USE tk_err exec_binance_trades(const exec_binance_venue *v, const char *symbol,
                                       const char *venue_order_id, int64_t local_ms,
                                       net_request *req, char *why, size_t why_size);

/* Binance's order statuses. */
typedef enum exec_binance_status {
    EXEC_BINANCE_NEW,
    EXEC_BINANCE_PARTIALLY_FILLED,
    EXEC_BINANCE_FILLED,
    EXEC_BINANCE_CANCELED,
    EXEC_BINANCE_PENDING_CANCEL,
    EXEC_BINANCE_REJECTED,
    EXEC_BINANCE_EXPIRED,
} exec_binance_status;

typedef struct exec_binance_fill {
    char trade_id[LED_ID_BYTES]; /* Binance's trade id, as text */
    int64_t price_e8, qty_e8, commission_e8;
    char commission_asset[LED_ASSET_BYTES];
    bool maker;
} exec_binance_fill;

/* An order as Binance reports it (new order, query, cancel, or one of openOrders). */
typedef struct exec_binance_order {
    char symbol[LED_SYMBOL_BYTES];
    char client_order_id[LED_ID_BYTES];
    char venue_order_id[LED_ID_BYTES]; /* Binance's orderId, as text */
    exec_binance_status status;
    led_side side;
    led_order_kind kind;
    int64_t qty_e8, price_e8, executed_qty_e8;
    exec_binance_fill fills[EXEC_BINANCE_FILLS_MAX]; /* a FULL new-order answer's, or myTrades' */
    uint32_t fill_count;
} exec_binance_order;

/* A refusal by the venue: HTTP status and Binance's code and msg. */
typedef struct exec_binance_error {
    long status;
    int64_t code;
    char msg[LED_TEXT_BYTES];
} exec_binance_error;

/* The order in resp (an answer to new_order, query or cancel) into *out. Errors (*err says
 * what the venue said): TK_EPERM (the venue refused: code and msg, for OrderRejectedByVenue),
 * TK_EEXIST (code -2010 "Duplicate order sent.": the client order id is taken; query it),
 * TK_ENOENT (code -2013 or -2011: no such order), TK_EAGAIN (HTTP 429 or 418: wait
 * net_response_retry_after_s), TK_EIO (no answer, a 5xx, or a body that is not Binance's:
 * the outcome is unknown), TK_EINVAL (an answer missing a field troika needs). */
TK_MUST_USE tk_err exec_binance_parse_order(const net_response *resp, exec_binance_order *out,
                                            exec_binance_error *err);

/* The orders of an openOrders answer into out (up to max; *out_count written), each checked
 * as exec_binance_parse_order checks one; an item missing a field is left out. Errors: as
 * exec_binance_parse_order (TK_EINVAL: not a list), TK_EFULL (more than max: the first max are
 * in out). */
TK_MUST_USE tk_err exec_binance_parse_open_orders(const net_response *resp, exec_binance_order *out,
                                                  size_t max, size_t *out_count,
                                                  exec_binance_error *err);

/* The fills of an order from a myTrades answer into out->fills (replacing them); errors as
 * exec_binance_parse_order. */
TK_MUST_USE tk_err exec_binance_parse_trades(const net_response *resp, exec_binance_order *out,
                                             exec_binance_error *err);

/* Binance's clock minus ours, from a GET /api/v3/time answered between sent_ms and
 * received_ms (our clock): serverTime - (sent_ms + received_ms) / 2, the midpoint estimate of
 * NTP's offset (RFC 5905, section 8). Errors: TK_EIO (no answer or not a time). */
TK_MUST_USE tk_err exec_binance_time_offset(const net_response *resp, int64_t sent_ms,
                                            int64_t received_ms, int64_t *out_offset_ms);

/* ---- Reconciliation with a venue (exec_reconcile.c) ------------------------------------------ */

#define EXEC_PREFIX_BYTES 16u /* a client order id prefix, with its NUL */

/* The client order id of troika's order order_index under prefix (1..15 of A-Z a-z 0-9; the
 * cluster's name, say): "<prefix>-<order_index>", within Binance's 36 characters. Errors:
 * TK_EINVAL (a bad prefix). */
TK_MUST_USE tk_err exec_client_order_id(const char *prefix, uint64_t order_index,
                                        char out[LED_ID_BYTES]);

/* The order index a client order id under prefix names; false for any other id (another
 * prefix, or no index after it). */
bool exec_client_order_index(const char *prefix, const char *client_order_id, uint64_t *out_index);

#define EXEC_RECONCILE_EVENTS_MAX (EXEC_BINANCE_FILLS_MAX + 2u)

/* The events that bring the ledger's order o (not terminal) in line with what the venue says
 * of it (venue, with its fills from myTrades; NULL when the venue has no order with its client
 * order id), stamped ts_ns, into out (*count of them, up to EXEC_RECONCILE_EVENTS_MAX):
 *   not at the venue           OrderRejectedByVenue, code -2013: it was never sent (the leader
 *                              changed first); it is not sent late
 *   at the venue, not acked    OrderAcked with the venue's order id
 *   fills the ledger lacks     OrderFilled for each venue fill past the quantity the ledger
 *                              has (fills taken in the venue's order; fill id "b<trade id>")
 *   cancelled or expired       OrderCancelled; rejected: OrderRejectedByVenue
 * Nothing when the ledger already agrees. Errors (why says what): TK_EINVAL (the venue's order
 * is not this one: another symbol, side or quantity; or its fills do not line up with the
 * ledger's filled quantity, which needs a person). */
TK_MUST_USE tk_err exec_reconcile_order(const led_order *o, const exec_binance_order *venue,
                                        int64_t ts_ns, led_event *out, size_t *count, char *why,
                                        size_t why_size);

/* ExternalOrderAdopted for an order the venue holds under troika's prefix that the ledger
 * lacks (placed by hand or by another deployment with the same prefix, or left from before a
 * ledger was restored from an older backup: troika sends an order only once its OrderRequested
 * has committed): it enters the ledger, reserved like ours, and is reported. Errors: TK_EINVAL (not
 * an order the ledger can hold: kind, quantities). */
TK_MUST_USE tk_err exec_reconcile_adopt(const exec_binance_order *venue, int64_t ts_ns,
                                        led_event *out);

/* ---- The Binance venue actor (exec_venue.c) -------------------------------------------------- */

#define EXEC_MSG_BASE 0x4500u /* 'E' << 8: the execution actors' own message types */

typedef struct exec_venue_opts {
    exec_binance_venue venue;       /* where and as whom (keys loaded); copied */
    net_http *http;                 /* borrowed: the HTTP service, outlives the actor */
    const tk_clock *clock;          /* borrowed: request timestamps, retries */
    char prefix[EXEC_PREFIX_BYTES]; /* client order ids are "<prefix>-<order index>" */
    /* The ledger's open orders when this leader started (led_state_order_next), borrowed for
     * the spawn only: each is queried and reconciled (external ones are left alone). */
    const led_order *open;
    uint32_t open_count;
    uint32_t reconcile_delay_ms; /* wait this long before reconciling and sending (the fence:
                                    at least the election timeout, so that an old leader has
                                    stepped down; docs/venues.md, "Fencing") */
    uint32_t poll_ms;            /* query each order resting at the venue this often (>= 100) */
    const _Atomic bool *leading; /* NULL, or false once this node no longer leads: nothing is
                                    sent to the venue from then on */
    uint32_t mailbox_capacity;   /* >= 2 */
    act_ref link_to;             /* its supervisor (ACT_REF_NONE: none) */
} exec_venue_opts;

/* Spawn the venue actor and join it to LED_GROUP_EXECUTION (docs/venues.md, "The venue
 * actor"). After reconcile_delay_ms it queries every order of opts->open by client order id
 * and proposes what brings each in line (exec_reconcile_order), then adopts the orders the
 * venue holds open under the prefix that the ledger lacks (ExternalOrderAdopted, logged as a
 * warning). From then on each accepted OrderRequested is sent as a new order (MARKET, or LIMIT
 * GTC; a STOP is held and sent as MARKET when a committed bar reaches its trigger); the answer
 * becomes OrderAcked and OrderFilled (the venue's fills, fill id "b<trade id>"), or
 * OrderRejectedByVenue (Binance's code and message). An answer that did not come (transport
 * error, timeout, 5xx, a duplicate client order id) is followed by a query by client order id:
 * found, it is settled as above; not found, the order is sent again (at most 3 sends). Orders
 * resting at the venue are queried every poll_ms, and a committed OrderCancelRequested cancels
 * at the venue. Every proposal is keyed ("ack:<order>", "fill:<fill id>", "cancel:<order>",
 * "vreject:<order>", "adopt:<client order id>") so that the ledger takes it once, whichever
 * leader proposes it. Errors: TK_EINVAL (opts: no http or clock, a bad prefix or URL, poll_ms
 * below 100), TK_EFULL (more open orders than it tracks, 256), those of act_spawn. */
TK_MUST_USE tk_err exec_venue_spawn(act_system *sys, const exec_venue_opts *opts, act_ref *out_ref);

#endif /* TK_EXECUTION_EXEC_H */
