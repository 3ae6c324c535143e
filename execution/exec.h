/* troika execution (prefix exec_): the paper venue's fill model, the execution actor, and the
 * Binance spot venue's request signing.
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
    int64_t remaining_e8; /* > 0 */
    int64_t price_e8;     /* limit price or stop trigger; 0 for market */
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
} exec_actor_opts;

/* Spawn the paper execution actor and join it to LED_GROUP_EXECUTION. It answers every
 * LED_MSG_COMMITTED with LED_MSG_ACK after proposing what the event caused: an accepted
 * OrderRequested enters its book; an OrderCancelRequested for a resting order is answered
 * with OrderCancelled; a BarClosed is matched (exec_paper_match) and each fill proposed as
 * OrderFilled (fill id "p<order>-<n>", time the bar's). opts is copied.
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

#endif /* TK_EXECUTION_EXEC_H */
