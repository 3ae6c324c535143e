/* The ledger module's test groups, one per source file of ledger/. */
#ifndef TK_TESTS_LEDGER_LEDGER_TESTS_H
#define TK_TESTS_LEDGER_LEDGER_TESTS_H

/* Each runs the cmocka group "ledger/<file>" and returns the number of failed tests. */
int led_test_money(void);
int led_test_event(void);
int led_test_order(void);
int led_test_hash(void);
int led_test_property(void);
int led_test_gate(void);
int led_test_apply(void);
int led_test_state(void);

/* ---- A ledger driver and event builders, shared by test_gate.c, test_apply.c and test_state.c
 * (defined in test_apply.c). They fail the running cmocka test on misuse. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "led.h"

#define LT_DAY_NS 86400000000000LL
/* Event time of a fresh lt_ledger: 01:00 UTC on day 20400 of the epoch (2025-11-08). */
#define LT_T0_NS (20400LL * LT_DAY_NS + 3600000000000LL)

/* A state with the index and event time of the next event to apply. */
typedef struct lt_ledger {
    led_state *state; /* owned: lt_close releases it */
    uint64_t index;   /* last index applied (0 at genesis) */
    int64_t ts_ns;    /* event time given to the next event; lt_apply adds 1 ms */
    led_outcome out;  /* of the last lt_apply */
} lt_ledger;

/* Open a state at genesis, time LT_T0_NS. The state is tracked until lt_close, so that a test
 * that fails half-way leaks nothing: lt_teardown releases whatever is still open. */
void lt_open(lt_ledger *l);
void lt_close(lt_ledger *l);

/* malloc and free for test buffers, tracked like states (fails the test when out of memory). */
void *lt_malloc(size_t size);
void lt_free(void *block);

/* cmocka teardown for every test of these groups: closes tracked states, frees tracked blocks. */
int lt_teardown(void **unused);

/* Stamp ev with the ledger's time, check it (led_event_check), apply it at the next index and
 * return the result (also in l->out). */
led_result lt_apply(lt_ledger *l, led_event ev);

/* lt_apply that fails the test unless the result is LED_APPLIED. */
void lt_apply_ok(lt_ledger *l, led_event ev);

/* Readers by name; fail the test when the name is not in the state. */
led_account lt_account(const lt_ledger *l);
led_instrument lt_instrument(const lt_ledger *l, const char *symbol);
led_balance lt_balance(const lt_ledger *l, const char *asset);
led_order lt_order(const lt_ledger *l, uint64_t order_index);
bool lt_order_is_open(const lt_ledger *l, uint64_t order_index);

/* A decimal in 1e-8 units, from its text ("49999.99"); fails the test on a bad text. */
int64_t lt_dec(const char *text);

/* Limits that bind nothing: caps at INT64_MAX, every bps at 10000, the open order capacity. */
led_limits lt_limits_loose(void);

/* Event builders: each returns an event that passes led_event_check (ts_ns is set by lt_apply).
 * Orders are for strategy "s1" and not reduce-only; fills are taker fills with id "f<index>". */
led_event lt_ev_instrument(const char *symbol, const char *base, const char *quote, int64_t tick_e8,
                           int64_t lot_e8, int64_t min_notional_e8);
led_event lt_ev_bar(const char *symbol, int64_t close_e8);
led_event lt_ev_order(const char *symbol, led_side side, led_order_kind kind, int64_t qty_e8,
                      int64_t price_e8);
led_event lt_ev_ack(uint64_t order_index, const char *venue_order_id);
led_event lt_ev_fill(uint64_t order_index, int64_t qty_e8, int64_t price_e8, int64_t fee_e8,
                     const char *fee_asset);
led_event lt_ev_venue_reject(uint64_t order_index);
led_event lt_ev_cancel_request(uint64_t order_index);
led_event lt_ev_cancelled(uint64_t order_index);
led_event lt_ev_external(const char *client_order_id, const char *symbol, led_side side,
                         led_order_kind kind, int64_t qty_e8, int64_t price_e8,
                         int64_t filled_qty_e8);
led_event lt_ev_limits(const led_limits *limits);
led_event lt_ev_kill(bool on, const char *reason);
led_event lt_ev_breaker(const char *symbol, bool tripped);
led_event lt_ev_feed(const char *symbol, led_feed_status status);
led_event lt_ev_strategy(const char *name, bool enabled);
led_event lt_ev_balance(const char *asset, int64_t delta_e8);
led_event lt_ev_leader(uint64_t term, const char *node);

/* BTCUSDT (BTC/USDT, tick 0.01, lot 0.001, min notional 10), a deposit of usdt_e8 USDT when it
 * is not 0, and a bar closing at 50000 (the mark). */
void lt_market_btc(lt_ledger *l, int64_t usdt_e8);

#endif /* TK_TESTS_LEDGER_LEDGER_TESTS_H */
