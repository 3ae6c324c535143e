/* chaos's private declarations: the subcommands chaos_main dispatches to, and the checker that
 * `troika chaos run` hands its stores, acknowledgements and venue to. */
#ifndef TK_CHAOS_CHAOS_INTERNAL_H
#define TK_CHAOS_CHAOS_INTERNAL_H

#include <jansson.h>

#include "chaos.h"
#include "led.h"

/* `troika chaos run ...` (chaos_run.c); argv[0] is "run". Exit codes as chaos_main. */
int chaos__run_main(int argc, char **argv);

/* `troika chaos sim ...` (chaos_sim.c); argv[0] is "sim". Exit codes as chaos_main. */
int chaos__sim_main(int argc, char **argv);

/* One write the cluster acknowledged to a workload client: its idempotency key, the ledger
 * index the reply named (for a repeat, the first write's), and when the successful attempt
 * started and was answered (ms since the run began). */
typedef struct chaos_ack {
    char key[LED_KEY_BYTES];
    char op[16];
    uint64_t index;
    bool duplicate; /* the reply said the key was a repeat */
    uint64_t attempt_ms, ack_ms;
} chaos_ack;

/* What the checker reads: the stopped nodes' stores, the acknowledged writes, the venue. */
typedef struct chaos_check_in {
    const char *store_dir[CHAOS_NODES]; /* each node's data_dir/store */
    const char *troika;                 /* the troika binary, for `troika audit verify` */
    const chaos_ack *acks;
    size_t ack_count;
    const char *venue_url;    /* the Binance mock's base URL; NULL: no venue checks */
    const char *order_prefix; /* client order ids are "<prefix>-<ledger index>" */
    const char *out_dir;      /* where the venue's orders are saved (venue_orders.json) */
} chaos_check_in;

/* Check the invariants of docs/chaos.md ("The checker") over in: every acknowledged write
 * carried exactly once by every store that holds its index, at the index acknowledged; no
 * idempotency key carried twice; the stores at one last index with one chain hash and state
 * hash; `troika audit verify` passing on each; each client order id at the venue once, each
 * with an accepted OrderRequested (or an adoption) behind it, and the ledger's fills equal to
 * the venue's; every accepted order ended or resting at the venue, acked; positions and balances
 * equal to an independent fold of deposits and fills. Returns a new
 * JSON object {"invariants": {NAME: {"ok", "detail"}...}, "nodes": [...], "counts": {...}}
 * (the caller owns it) and sets *ok when every invariant held; NULL when out of memory. */
json_t *chaos__check(const chaos_check_in *in, bool *ok);

#endif /* TK_CHAOS_CHAOS_INTERNAL_H */
