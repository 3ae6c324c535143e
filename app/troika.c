/* The troika binary: command-line entry point. Subcommands land here as their modules do;
 * docs/ARCHITECTURE.md lists what each issue adds. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define DEMO_ORDERS       1000000u
#define DEMO_INFLIGHT_MAX 1024u /* orders between "strategy" and "execution" at once */

/* A stand-in order record, the size of the ledger's: moved through the pool and ring. */
typedef struct demo_order {
    uint64_t client_order_id;
    int64_t price;    /* 1e-8 units */
    int64_t quantity; /* 1e-8 units */
    uint64_t pad[5];
} demo_order;

typedef struct demo_result {
    uint64_t checksum;
    uint64_t elapsed_ns;
} demo_result;

static void usage(FILE *out)
{
    fprintf(out, "usage: troika <command> [options]\n"
                 "commands:\n"
                 "  demo [--seed N] [--log SPEC]  run the most complete end-to-end path built\n"
                 "  version                       print the version\n"
                 "SPEC is a log level spec such as \"info\" or \"warn,demo=debug\".\n");
}

/* One deterministic pass: seeded orders drawn from a pool, queued through a ring, consumed
 * and returned, with a checksum over everything consumed. */
static tk_err demo_pass(uint64_t seed, demo_result *out_result)
{
    tk_pool pool;
    tk_ring queue;
    tk_err err = tk_pool_init(&pool, sizeof(demo_order), DEMO_INFLIGHT_MAX, tk_mem_system());
    if (err != TK_OK) return err;
    err = tk_ring_init(&queue, sizeof(demo_order *), DEMO_INFLIGHT_MAX, tk_mem_system());
    if (err != TK_OK) goto fail_pool;

    tk_rng rng;
    tk_rng_init(&rng, seed);
    uint64_t checksum = 0;
    uint64_t start_ns = tk_clock_mono_ns(tk_clock_system());
    for (uint64_t id = 1; id <= DEMO_ORDERS; id++) {
        demo_order *order = tk_pool_get(&pool);
        TK_ASSERT(order != NULL); /* the consumer below keeps at most half the pool out */
        *order = (demo_order){.client_order_id = id,
                              .price = (int64_t)(tk_rng_below(&rng, 100000u) + 1u) * 1000000,
                              .quantity = (int64_t)(tk_rng_below(&rng, 1000u) + 1u) * 100000};
        tk_err pushed = tk_ring_push(&queue, &order);
        TK_ASSERT(pushed == TK_OK);
        if (tk_ring_count(&queue) < DEMO_INFLIGHT_MAX / 2 && id < DEMO_ORDERS) continue;
        demo_order *done;
        while (tk_ring_pop(&queue, &done) == TK_OK) {
            checksum =
                checksum * 31u + done->client_order_id + (uint64_t)(done->price ^ done->quantity);
            tk_pool_put(&pool, done);
        }
    }
    out_result->elapsed_ns = tk_clock_mono_ns(tk_clock_system()) - start_ns;
    out_result->checksum = checksum;
    TK_ASSERT(tk_pool_used(&pool) == 0);
    tk_ring_fini(&queue);
fail_pool:
    tk_pool_fini(&pool);
    return err;
}

/* What the demo will run once each piece lands, and the issue that brings it. */
static const char *const demo_missing[] = {
    "actor runtime and OTP supervision (issue 3)",
    "ledger, RocksDB storage, pre-trade risk gate and audit replay (issue 4)",
    "backtest over ../shared/data with feeds, strategies and the paper venue (issue 5)",
    "three-node Raft cluster with client API and failover (issues 6 and 7)",
    "live Binance feed and venue with reconciliation (issue 8)",
    "chaos harness (issue 9)",
};

static int demo_run(uint64_t seed)
{
    TK_LOG(TK_LOG_INFO, "demo", "demo starting", TK_LOG_U64("seed", seed),
           TK_LOG_U64("orders", DEMO_ORDERS));
    demo_result first;
    demo_result second;
    tk_err err = demo_pass(seed, &first);
    if (err == TK_OK) err = demo_pass(seed, &second);
    if (err != TK_OK) {
        TK_LOG(TK_LOG_ERROR, "demo", "demo pass failed", TK_LOG_ERR("err", err));
        return 1;
    }
    bool replayed = first.checksum == second.checksum;
    double rate = (double)DEMO_ORDERS * 1e9 / (double)(first.elapsed_ns + 1u);
    TK_LOG(TK_LOG_INFO, "demo", "orders moved through pool and ring",
           TK_LOG_U64("checksum", first.checksum), TK_LOG_BOOL("replay_matches", replayed),
           TK_LOG_F64("orders_per_s", rate));
    printf("troika demo: %u seeded orders moved through the base pool and ring at %.1f M/s;\n"
           "  a second pass from seed %" PRIu64 " %s (checksum %" PRIu64 ").\n",
           DEMO_ORDERS, rate / 1e6, seed, replayed ? "replayed it exactly" : "DIVERGED",
           first.checksum);
    printf("Only the foundation (base/) exists yet. Still missing from the end-to-end path:\n");
    for (size_t i = 0; i < sizeof(demo_missing) / sizeof(demo_missing[0]); i++) {
        printf("  - %s\n", demo_missing[i]);
    }
    return replayed ? 0 : 1;
}

/* Parse "--seed N" and "--log SPEC" after "demo"; 0 on success, 2 on bad usage. */
static int demo_main(int argc, char **argv)
{
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--seed") == 0 && has_value) {
            char *end = NULL;
            seed = strtoull(argv[++i], &end, 0);
            if (end == argv[i] || *end != '\0') {
                fprintf(stderr, "troika demo: --seed: not an integer: \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--log") == 0 && has_value) {
            char why[160];
            if (tk_log_set_levels(argv[++i], why, sizeof(why)) != TK_OK) {
                fprintf(stderr, "troika demo: --log: %s\n", why);
                return 2;
            }
        } else {
            fprintf(stderr, "troika demo: unknown or incomplete option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return demo_run(seed);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "demo") == 0) return demo_main(argc, argv);
    if (strcmp(argv[1], "version") == 0) {
        printf("troika %s\n", TK_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "troika: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
