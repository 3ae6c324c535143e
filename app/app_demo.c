/* `troika demo`: the most complete end-to-end path built so far. Seeded orders flow from this
 * thread through a risk actor to an execution actor, both under a one_for_one supervisor; the
 * execution actor crashes once on purpose (a simulated venue fault) and is restarted. The
 * report counts every order: accepted, rejected by the risk check, filled, and lost with the
 * crashed actor's mailbox, which is the loss the event-sourced ledger removes. Before that, the
 * backtest: the ema_cross strategy over real candles through the live actor graph, its report,
 * and the audit of its ledger; then a local three-node cluster through a leader's failover. */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "act.h"
#include "app.h"
#include "sup.h"

enum { MSG_ORDER = ACT_MSG_USER, MSG_REPORT, MSG_REPORT_REPLY };

#define DEMO_ORDERS       200000u
#define DEMO_NOTIONAL_MAX (50000ll * 100000000ll) /* risk limit: 50,000 quote units, 1e-8 */
#define DEMO_WAIT_MS      10000u
#define DEMO_CRASH_EVERY  50000u /* the execution actor fails on this order id, once */
#define DEMO_DATA_FILE    "ohlcv/coinbase_BTC-USD_4h_20160518-20251028.csv"

typedef struct demo_order {
    uint64_t client_order_id;
    int64_t price;    /* 1e-8 quote units */
    int64_t quantity; /* 1e-8 base units */
} demo_order;

typedef struct demo_counts {
    uint64_t handled;     /* orders that reached this actor */
    uint64_t passed;      /* risk: forwarded; execution: filled */
    uint64_t rejected;    /* risk: refused by the pre-trade check */
    uint64_t unreachable; /* risk: execution was restarting or full */
} demo_counts;

static _Atomic bool demo_crashed;   /* the fault fires once per process */
static _Atomic uint64_t demo_fills; /* the venue's side: fills that happened, across restarts */

static tk_err counts_reply(act_ctx *ctx, const act_msg *request, const demo_counts *counts)
{
    act_system *sys = act_ctx_system(ctx);
    act_msg *reply = act_msg_alloc(sys);
    if (reply == NULL) return TK_EFULL;
    reply->type = MSG_REPORT_REPLY;
    reply->size_bytes = sizeof(*counts);
    memcpy(reply->data, counts, sizeof(*counts));
    tk_err err = act_reply(sys, request, reply);
    if (err != TK_OK) act_msg_free(sys, reply);
    return err;
}

static tk_err execution_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)state;
    (void)arg;
    return act_register(act_ctx_system(ctx), "execution", act_self(ctx));
}

static tk_err execution_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    demo_counts *counts = state;
    if (msg->type == MSG_REPORT) return counts_reply(ctx, msg, counts);
    demo_order order;
    memcpy(&order, msg->data, sizeof(order));
    counts->handled++;
    if (order.client_order_id % DEMO_CRASH_EVERY == 0 && !atomic_exchange(&demo_crashed, true)) {
        return act_fail(ctx, TK_EIO, "simulated venue fault on order %" PRIu64,
                        order.client_order_id);
    }
    counts->passed++;
    atomic_fetch_add_explicit(&demo_fills, 1, memory_order_relaxed);
    return TK_OK;
}

static const act_behaviour execution_behaviour = {
    .name = "execution", .init = execution_init, .handle = execution_handle};

static tk_err risk_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    demo_counts *counts = state;
    act_system *sys = act_ctx_system(ctx);
    if (msg->type == MSG_REPORT) return counts_reply(ctx, msg, counts);
    demo_order order;
    memcpy(&order, msg->data, sizeof(order));
    counts->handled++;
    __extension__ __int128 notional = (__int128)order.price * order.quantity / 100000000;
    if (notional > DEMO_NOTIONAL_MAX) { /* the pre-trade check: max order notional */
        counts->rejected++;
        return TK_OK;
    }
    act_ref execution;
    tk_err err = act_whereis(sys, "execution", &execution);
    if (err == TK_OK) err = act_send(sys, execution, msg); /* moves the order on */
    if (err == TK_OK) {
        counts->passed++;
    } else {
        counts->unreachable++; /* execution is restarting, or full: no ledger to retry from */
    }
    return TK_OK;
}

static tk_err risk_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)state;
    (void)arg;
    return act_register(act_ctx_system(ctx), "risk", act_self(ctx));
}

static const act_behaviour risk_behaviour = {
    .name = "risk", .init = risk_init, .handle = risk_handle};

static tk_err start_worker(act_system *sys, act_ref sup, const void *arg, act_ref *out_child)
{
    act_spawn_opts opts = {.behaviour = arg,
                           .state_size_bytes = sizeof(demo_counts),
                           .mailbox_capacity = 4096,
                           .link_to = sup};
    return act_spawn(sys, &opts, out_child);
}

/* Send one seeded order to risk, waiting out a full mailbox (bounded: the demo is small). */
static tk_err send_order(act_system *sys, act_ref risk, const demo_order *order)
{
    for (uint32_t tries = 0; tries < 1000000u; tries++) {
        tk_err err = act_send_data(sys, risk, ACT_REF_NONE, MSG_ORDER, order, sizeof(*order));
        if (err != TK_EFULL) return err;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 10000};
        nanosleep(&pause, NULL);
    }
    return TK_EFULL;
}

static tk_err ask_counts(act_port *port, const char *name, demo_counts *out)
{
    act_system *sys = act_port_system(port);
    act_ref ref;
    tk_err err = act_whereis(sys, name, &ref);
    if (err != TK_OK) return err;
    act_msg *ask = act_msg_alloc(sys);
    if (ask == NULL) return TK_EFULL;
    ask->type = MSG_REPORT;
    act_msg *reply = NULL;
    /* The actor may still be working through a full mailbox of orders: ask again then. */
    for (uint32_t tries = 0; tries < 100000u; tries++) {
        err = act_call(port, ref, ask, DEMO_WAIT_MS, &reply);
        if (err != TK_EFULL) break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000};
        nanosleep(&pause, NULL);
    }
    if (err != TK_OK && err != TK_ETIMEDOUT) act_msg_free(sys, ask);
    if (err != TK_OK) return err;
    memcpy(out, reply->data, sizeof(*out));
    act_msg_free(sys, reply);
    return TK_OK;
}

static tk_err demo_flow(act_system *sys, uint64_t *out_sent, uint64_t seed)
{
    act_ref risk;
    tk_err err = act_whereis(sys, "risk", &risk);
    if (err != TK_OK) return err;
    tk_rng rng;
    tk_rng_init(&rng, seed);
    for (uint64_t id = 1; id <= DEMO_ORDERS; id++) {
        demo_order order = {
            .client_order_id = id,
            .price = (int64_t)(tk_rng_below(&rng, 90000u) + 10000u) * 100000000, /* 1e4-1e5 */
            .quantity = (int64_t)(tk_rng_below(&rng, 100u) + 1u) * 1000000,      /* 0.01-1 */
        };
        err = send_order(sys, risk, &order);
        if (err != TK_OK) return err;
        *out_sent = id;
    }
    return TK_OK;
}

static void demo_print(uint64_t sent, const demo_counts *risk, const demo_counts *exec)
{
    sup_stats stats;
    sup_stats_read(&stats);
    uint64_t fills = atomic_load_explicit(&demo_fills, memory_order_relaxed);
    printf("%" PRIu64 " seeded orders, this thread -> risk -> execution, both "
           "actors under a one_for_one supervisor\n",
           sent);
    printf("  rejected by the risk check (max order notional): %8" PRIu64 "\n", risk->rejected);
    printf("  forwarded to execution:                          %8" PRIu64 "\n", risk->passed);
    printf("  not forwarded (execution restarting, or full):   %8" PRIu64 "\n", risk->unreachable);
    printf("  filled (the venue's count):                      %8" PRIu64 "\n", fills);
    printf("  lost with the crashed execution actor's mailbox: %8" PRIu64 "\n",
           risk->passed - fills);
    printf("  supervisor restarts: %" PRIu64 "; execution's own fill count after its restart: "
           "%" PRIu64 " (the rest died with it)\n",
           stats.restarts, exec->passed);
    printf("These orders are lost because this path does not write them down; the backtest's\n"
           "actors above propose through the journal, which commits each event before it has\n"
           "any effect, so a restart replays it instead.\n");
}

/* Start the desk (execution, then risk, under one supervisor), run the flow, report. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* The backtest part: ema_cross over the real Coinbase BTC-USD 4h candles through the live
 * actor graph on the local journal into RocksDB, the report, and the audit of the store. The
 * demo owns out_dir: its store from an earlier run is removed first. */
static int demo_backtest(const char *data_dir, const char *out_dir)
{
    char data[1024], store[1024];
    snprintf(data, sizeof(data), "%s/%s", data_dir, DEMO_DATA_FILE);
    snprintf(store, sizeof(store), "%s/store", out_dir);
    if (access(data, R_OK) != 0) {
        printf("No market data at %s.\n"
               "The demo replays %s: Coinbase BTC-USD 4-hour candles, 2016-2025, from the\n"
               "examples of ta4j (github.com/ta4j/ta4j, MIT). Put the shared data folder beside\n"
               "the checkout (../shared/data), or set TROIKA_DATA to a folder holding\n"
               "%s, or run `troika backtest --data FILE --strategy ema_cross` on\n"
               "any candle CSV of the same shape (time, open, high, low, close, volume).\n",
               data, DEMO_DATA_FILE, DEMO_DATA_FILE);
        return 1;
    }
    (void)nftw(store, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* the last demo's ledger */
    printf("Backtest: ema_cross over %s\n", data);
    char *argv[] = {"backtest", "--data",        data, "--strategy", "ema_cross",
                    "--out",    (char *)out_dir, NULL};
    int rc = app_backtest_main(7, argv);
    if (rc != 0) return rc;
    printf("\nAudit of the backtest's ledger (troika audit verify --data-dir %s):\n", store);
    return app_audit_verify(store);
}

/* The status of node n (1..3) of the demo cluster as JSON, or NULL without an answer. */
static json_t *demo_status(const app_node_config *cfg)
{
    char *reply = NULL, why[256];
    if (clu_api_call(app_node_self(cfg)->api, cfg->token, "{\"op\": \"status\"}", 1000, &reply, why,
                     sizeof(why)) != TK_OK)
        return NULL;
    json_t *r = json_loads(reply, 0, NULL);
    free(reply);
    return r;
}

/* The node (1..3) that leads with its LeaderChanged committed, waiting up to max_ms; 0 if none.
 * skip (0: none) is not asked: it was just killed. */
static uint32_t demo_leader(const app_node_config cfgs[3], uint32_t skip, uint32_t max_ms)
{
    for (uint32_t waited = 0; waited <= max_ms; waited += 50) {
        for (uint32_t n = 1; n <= 3; n++) {
            json_t *r = n == skip ? NULL : demo_status(&cfgs[n - 1]);
            bool leading = json_is_true(json_object_get(r, "leading"));
            json_decref(r);
            if (leading) return n;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50000000};
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* Wait up to max_ms until the three nodes answer at the same ledger index. */
static void demo_settle(const app_node_config cfgs[3], uint32_t max_ms)
{
    for (uint32_t waited = 0; waited <= max_ms; waited += 100) {
        long long index[3] = {-1, -2, -3};
        for (uint32_t n = 0; n < 3; n++) {
            json_t *r = demo_status(&cfgs[n]);
            if (json_is_true(json_object_get(r, "ok")))
                index[n] = (long long)json_integer_value(json_object_get(r, "ledger_index"));
            json_decref(r);
        }
        if (index[0] == index[1] && index[1] == index[2]) return;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000000};
        nanosleep(&pause, NULL);
    }
}

/* `troika kill-switch on|off --reason demo --config <node's config> --key KEY`: through that
 * node, following it to the leader. */
static bool demo_kill_switch(const char *config, bool on, const char *key)
{
    char *argv[] = {"kill-switch",  on ? "on" : "off", "--reason",  "demo", "--config",
                    (char *)config, "--key",           (char *)key, NULL};
    printf("  troika kill-switch %s through %s: ", on ? "on" : "off", config);
    fflush(stdout);
    return app_client_main(8, argv) == 0;
}

/* A base port P with P+1..P+3, P+101..P+103, P+201..P+203 and P+301..P+303 free on loopback
 * (the ports `troika cluster up --base-port P` gives the nodes), below the kernel's ephemeral
 * range (32768 and up) so that no outgoing connection takes one later; 0 if none is found. */
static uint32_t demo_free_base_port(void)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t base = 20000u + 10u * (uint32_t)(rand() % 1200); /* at most 32303 */
        bool free_all = true;
        for (uint32_t k = 0; k < 4 && free_all; k++) {
            for (uint32_t n = 1; n <= 3 && free_all; n++) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = {.sin_family = AF_INET,
                                        .sin_port = htons((uint16_t)(base + 100u * k + n)),
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                free_all = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
                if (fd >= 0) close(fd);
            }
        }
        if (free_all) return base;
    }
    return 0;
}

/* The cluster part: `troika cluster up` in out_dir/cluster (three node processes and their
 * monitor), a write through a follower, SIGKILL of the leader, a write on the new leader, the
 * restarted node catching up, `troika cluster status`, `troika cluster down`. */
static int demo_cluster(const char *out_dir)
{
    char dir[1024], port[16], path[1100];
    snprintf(dir, sizeof(dir), "%s/cluster", out_dir);
    (void)nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* the last demo's cluster */
    uint32_t base = demo_free_base_port();
    if (base == 0) {
        printf("\nCluster: no free loopback ports found; skipped\n");
        return 1;
    }
    snprintf(port, sizeof(port), "%u", base);
    printf("\nCluster: three `troika node` processes on loopback (troika cluster up --dir %s)\n",
           dir);
    fflush(stdout); /* cluster up forks its monitor: nothing buffered may be written twice */
    char *up[] = {"cluster", "up", "--dir", dir, "--base-port", port, NULL};
    if (app_cluster_main(6, up) != 0) return 1;
    app_node_config cfgs[3];
    for (uint32_t n = 1; n <= 3; n++) {
        char why[512];
        snprintf(path, sizeof(path), "%s/node%u.yaml", dir, n);
        if (app_node_config_load(path, &cfgs[n - 1], why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "demo: %s\n", why);
            return 1;
        }
    }
    int rc = 1;
    uint32_t leader = demo_leader(cfgs, 0, 10000);
    if (leader == 0) {
        printf("  no leader within 10 s\n");
    } else {
        printf("  node %u leads\n", leader);
        uint32_t follower = leader % 3 + 1;
        snprintf(path, sizeof(path), "%s/node%u.yaml", dir, follower);
        bool ok = demo_kill_switch(path, true, "demo-on");
        snprintf(path, sizeof(path), "%s/node%u.pid", dir, leader);
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (f != NULL && fscanf(f, "%ld", &pid) == 1 && pid > 0) {
            kill((pid_t)pid, SIGKILL);
            printf("  SIGKILL to the leader, node %u (pid %ld)\n", leader, pid);
        }
        if (f != NULL) fclose(f);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint32_t next = demo_leader(cfgs, leader, 10000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (next != 0) {
            printf("  node %u leads %.0f ms later\n", next,
                   (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
            snprintf(path, sizeof(path), "%s/node%u.yaml", dir, next);
            ok = demo_kill_switch(path, false, "demo-off") && ok;
        }
        demo_settle(cfgs, 15000); /* the monitor restarts the killed node; it catches up */
        printf("  troika cluster status --dir %s:\n", dir);
        char *status[] = {"cluster", "status", "--dir", dir, NULL};
        int status_rc = app_cluster_main(4, status);
        rc = ok && next != 0 && status_rc == 0 ? 0 : 1;
    }
    char *down[] = {"cluster", "down", "--dir", dir, NULL};
    if (app_cluster_main(4, down) != 0) rc = 1;
    fflush(stdout);
    return rc;
}

int app_demo_run(uint64_t seed, const char *data_dir, const char *out_dir)
{
    int rc = demo_backtest(data_dir, out_dir);
    if (rc != 0) return rc;
    rc = demo_cluster(out_dir);
    if (rc != 0) return rc;
    printf("\nSupervision: ");
    act_system_opts opts = {.threads = 0,
                            .actors_max = 1024,
                            .msgs_max = 1u << 16,
                            .spin_us = 50,
                            .turn_deadline_ms = 1000,
                            .stuck_deadline_ms = 0,
                            .clock = tk_clock_system()};
    act_system *sys;
    act_port *port;
    if (act_system_open(&opts, &sys) != TK_OK) return 1;
    if (act_port_open(sys, 64, &port) != TK_OK) goto fail_sys;
    sup_child_spec children[] = {
        {.id = "execution",
         .start = start_worker,
         .arg = &execution_behaviour,
         .restart = SUP_PERMANENT,
         .shutdown = SUP_SHUTDOWN_TIMEOUT,
         .shutdown_timeout_ms = 1000,
         .type = SUP_WORKER},
        {.id = "risk",
         .start = start_worker,
         .arg = &risk_behaviour,
         .restart = SUP_PERMANENT,
         .shutdown = SUP_SHUTDOWN_TIMEOUT,
         .shutdown_timeout_ms = 1000,
         .type = SUP_WORKER},
    };
    sup_spec spec = {
        .name = "desk",
        .flags = {.strategy = SUP_ONE_FOR_ONE, .intensity = 3, .period_ms = 5000, .seed = seed},
        .children = children,
        .child_count = 2,
        .children_max = 2,
        .mailbox_capacity = 64};
    act_ref sup = ACT_REF_NONE;
    tk_err err = sup_start(sys, &spec, ACT_REF_NONE, &sup);
    uint64_t sent = 0;
    demo_counts risk = {0};
    demo_counts exec = {0};
    if (err == TK_OK) err = demo_flow(sys, &sent, seed);
    if (err == TK_OK) err = ask_counts(port, "risk", &risk);
    if (err == TK_OK) err = ask_counts(port, "execution", &exec);
    if (err == TK_OK) demo_print(sent, &risk, &exec);
    if (err != TK_OK) TK_LOG(TK_LOG_ERROR, "demo", "demo failed", TK_LOG_ERR("err", err));
    if (!act_ref_is_none(sup) && sup_stop(sys, port, sup, DEMO_WAIT_MS) != TK_OK) {
        tk_log_emit(TK_LOG_WARN, "demo", "supervisor did not stop in time", NULL, 0);
    }
    act_port_close(port);
    act_system_close(sys);
    return err == TK_OK ? 0 : 1;
fail_sys:
    act_system_close(sys);
    return 1;
}
