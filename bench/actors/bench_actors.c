/* Savina-style benchmarks of the actor runtime (Imam and Sarkar, "Savina - An Actor Benchmark
 * Suite", AGERE! 2014): ping-pong, counting, thread ring, spawn and exit. Prints one line per
 * figure (plus an OTP supervisor's restart latency), `name=<benchmark>_t<threads> unit=<unit>
 * value=<number>`, which bench/actors/run lines up against the same programs in Erlang/OTP and CAF
 * (bench/peers/). Usage: bench_actors --threads N [--quick] [--only
 * pingpong|counting|ring|spawn|restart|xthread] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "act.h"
#include "sup.h"

enum { MSG_GO = ACT_MSG_USER, MSG_PEER, MSG_DONE, MSG_COUNT, MSG_TOTAL, MSG_MORE, MSG_STOP };

typedef struct bench {
    act_system *sys;
    act_port *port;
    uint32_t threads;
    uint32_t scale;   /* 1, or 10 with --quick */
    const char *only; /* run just this benchmark (--only NAME), or all when NULL */
} bench;

static bool wanted(const bench *b, const char *name)
{
    return b->only == NULL || strcmp(b->only, name) == 0;
}

static uint64_t now_ns(void)
{
    return tk_clock_mono_ns(tk_clock_system());
}

static void report(const bench *b, const char *name, const char *unit, double value)
{
    printf("name=%s_t%u unit=%s value=%.2f\n", name, b->threads, unit, value);
    fflush(stdout);
}

/* The process's peak or current resident set, in bytes, from /proc/self/status. */
static uint64_t proc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    uint64_t kb = 0;
    size_t key_size = strlen(key);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, key_size) == 0) {
            kb = strtoull(line + key_size, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Wait on the port for a message of type (others are dropped). */
static act_msg *wait_for(bench *b, uint32_t type)
{
    for (uint32_t i = 0; i < 1000000u; i++) {
        act_msg *msg;
        tk_err err = act_port_receive(b->port, 120000, &msg);
        if (err != TK_OK)
            fprintf(stderr, "bench_actors: waiting for %u: %s\n", type, tk_err_str(err));
        TK_ASSERT(err == TK_OK);
        if (msg->type == type) return msg;
        act_msg_free(b->sys, msg);
    }
    TK_ASSERT(false);
    return NULL;
}

static act_ref spawn_or_die(bench *b, const act_behaviour *behaviour, size_t state_size,
                            const void *arg, uint32_t capacity)
{
    act_spawn_opts opts = {.behaviour = behaviour,
                           .state_size_bytes = state_size,
                           .arg = arg,
                           .mailbox_capacity = capacity,
                           .link_to = ACT_REF_NONE,
                           .trap_exit = false};
    act_ref ref;
    tk_err err = act_spawn(b->sys, &opts, &ref);
    TK_ASSERT(err == TK_OK);
    return ref;
}

/* ---- Ping-pong --------------------------------------------------------------------------------
 */

#define RTT_SAMPLES_MAX 100000u

typedef struct pingpong {
    act_ref peer;
    act_ref done;
    uint64_t left;    /* bounces still to make (the pinger only) */
    uint64_t sent_ns; /* when the ball left (the pinger, timing round trips) */
    uint64_t *rtt_ns; /* borrowed: samples, NULL when not timing */
    uint32_t rtt_count;
} pingpong;

static tk_err pingpong_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(pingpong *)state = *(const pingpong *)arg;
    return TK_OK;
}

static tk_err pingpong_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    pingpong *pp = state;
    act_system *sys = act_ctx_system(ctx);
    if (msg->type == MSG_PEER) {
        memcpy(&pp->peer, msg->data, sizeof(pp->peer));
        return TK_OK;
    }
    if (pp->rtt_ns != NULL && msg->type == MSG_GO && pp->sent_ns != 0) {
        pp->rtt_ns[pp->rtt_count++] = now_ns() - pp->sent_ns;
    }
    if (pp->rtt_ns != NULL || !act_ref_is_none(pp->done)) {
        if (pp->left == 0) return act_send_data(sys, pp->done, act_self(ctx), MSG_DONE, NULL, 0);
        pp->left--;
        if (pp->rtt_ns != NULL) pp->sent_ns = now_ns();
    }
    msg->sender = act_self(ctx);
    return act_send(sys, pp->peer, msg); /* the same envelope goes back: no allocation */
}

static const act_behaviour pingpong_behaviour = {
    .name = "pingpong", .init = pingpong_init, .handle = pingpong_handle};

/* Bounce one ball between two actors for round_trips round trips (the pinger counts them).
 * Returns the elapsed ns. */
static uint64_t pingpong_run(bench *b, uint64_t round_trips, uint64_t *rtt_ns)
{
    pingpong ponger = {.peer = ACT_REF_NONE, .done = ACT_REF_NONE};
    act_ref pong = spawn_or_die(b, &pingpong_behaviour, sizeof(pingpong), &ponger, 16);
    pingpong pinger = {
        .peer = pong, .done = act_port_ref(b->port), .left = round_trips, .rtt_ns = rtt_ns};
    act_ref ping = spawn_or_die(b, &pingpong_behaviour, sizeof(pingpong), &pinger, 16);
    tk_err err = act_send_data(b->sys, pong, ACT_REF_NONE, MSG_PEER, &ping, sizeof(ping));
    TK_ASSERT(err == TK_OK);
    uint64_t start = now_ns();
    err = act_send_data(b->sys, ping, ACT_REF_NONE, MSG_GO, NULL, 0);
    TK_ASSERT(err == TK_OK);
    act_msg_free(b->sys, wait_for(b, MSG_DONE));
    uint64_t elapsed = now_ns() - start;
    act_reason stop = act_reason_of(ACT_REASON_SHUTDOWN);
    TK_ASSERT(act_exit(b->sys, ACT_REF_NONE, ping, &stop) == TK_OK);
    TK_ASSERT(act_exit(b->sys, ACT_REF_NONE, pong, &stop) == TK_OK);
    TK_ASSERT(act_port_wait_exit(b->port, ping, 10000, NULL) == TK_OK);
    TK_ASSERT(act_port_wait_exit(b->port, pong, 10000, NULL) == TK_OK);
    return elapsed;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x;
    uint64_t c = *(const uint64_t *)y;
    return (a > c) - (a < c);
}

static void bench_pingpong(bench *b)
{
    uint64_t round_trips = 1000000u / b->scale;
    uint64_t elapsed = pingpong_run(b, round_trips, NULL);
    /* each round trip is two messages, one each way */
    report(b, "pingpong_msg", "ns/msg", (double)elapsed / (double)(2u * round_trips));
    uint32_t samples = RTT_SAMPLES_MAX / b->scale;
    uint64_t *rtt = calloc(samples, sizeof(uint64_t));
    TK_ASSERT(rtt != NULL);
    (void)pingpong_run(b, samples, rtt);
    qsort(rtt, samples, sizeof(uint64_t), cmp_u64);
    report(b, "pingpong_rtt_p50", "ns", (double)rtt[samples / 2u]);
    report(b, "pingpong_rtt_p99", "ns", (double)rtt[(uint64_t)samples * 99u / 100u]);
    report(b, "pingpong_rtt_p999", "ns", (double)rtt[(uint64_t)samples * 999u / 1000u]);
    free(rtt);
}

/* ---- Counting ---------------------------------------------------------------------------------
 */

#define COUNT_MAILBOX 4096u
#define COUNT_BATCH   512u

typedef struct counter {
    uint64_t sum;
    uint64_t seen;
} counter;

static tk_err counter_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    counter *c = state;
    if (msg->type == MSG_COUNT) {
        uint64_t value;
        memcpy(&value, msg->data, sizeof(value));
        c->sum += value;
        c->seen++;
        return TK_OK;
    }
    TK_ASSERT(msg->type == MSG_TOTAL);
    act_msg *reply = act_msg_alloc(act_ctx_system(ctx));
    if (reply == NULL) return TK_EFULL;
    reply->type = MSG_TOTAL;
    memcpy(reply->data, &c->sum, sizeof(c->sum));
    memcpy(reply->data + sizeof(c->sum), &c->seen, sizeof(c->seen));
    reply->size_bytes = 2u * sizeof(uint64_t);
    tk_err err = act_send(act_ctx_system(ctx), msg->sender, reply);
    if (err != TK_OK) act_msg_free(act_ctx_system(ctx), reply);
    return err;
}

static const act_behaviour counter_behaviour = {.name = "counter", .handle = counter_handle};

typedef struct producer {
    act_ref counter;
    act_ref done;
    uint64_t next;
    uint64_t total;
} producer;

static tk_err producer_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(producer *)state = *(const producer *)arg;
    return TK_OK;
}

/* Send up to COUNT_BATCH numbers; a full mailbox ends the batch early (bounded mailboxes are
 * the flow control). Then yield with a message to itself, or ask for the total when done. */
static tk_err producer_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    producer *p = state;
    act_system *sys = act_ctx_system(ctx);
    for (uint32_t i = 0; i < COUNT_BATCH && p->next < p->total; i++) {
        act_msg *out = act_msg_alloc(sys);
        if (out == NULL) break;
        out->type = MSG_COUNT;
        memcpy(out->data, &p->next, sizeof(p->next));
        out->size_bytes = sizeof(p->next);
        if (act_send(sys, p->counter, out) != TK_OK) {
            act_msg_free(sys, out);
            break;
        }
        p->next++;
    }
    if (p->next < p->total) {
        msg->sender = act_self(ctx);
        act_yield(ctx); /* the counter runs before the next batch */
        return act_send(sys, act_self(ctx), msg);
    }
    msg->type = MSG_TOTAL;
    msg->sender = p->done;
    tk_err err = act_send(sys, p->counter, msg);
    if (err != TK_EFULL) return err;
    msg->type = MSG_MORE; /* the counter is full: ask again on the next turn */
    msg->sender = act_self(ctx);
    act_yield(ctx);
    return act_send(sys, act_self(ctx), msg);
}

static const act_behaviour producer_behaviour = {
    .name = "producer", .init = producer_init, .handle = producer_handle};

static void bench_counting(bench *b)
{
    uint64_t total = 10000000u / b->scale;
    act_ref count = spawn_or_die(b, &counter_behaviour, sizeof(counter), NULL, COUNT_MAILBOX);
    producer arg = {.counter = count, .done = act_port_ref(b->port), .total = total};
    act_ref produce = spawn_or_die(b, &producer_behaviour, sizeof(producer), &arg, 4);
    uint64_t start = now_ns();
    tk_err err = act_send_data(b->sys, produce, ACT_REF_NONE, MSG_MORE, NULL, 0);
    TK_ASSERT(err == TK_OK);
    act_msg *answer = wait_for(b, MSG_TOTAL);
    uint64_t elapsed = now_ns() - start;
    uint64_t sum;
    uint64_t seen;
    memcpy(&sum, answer->data, sizeof(sum));
    memcpy(&seen, answer->data + sizeof(sum), sizeof(seen));
    act_msg_free(b->sys, answer);
    TK_ASSERT(seen == total);
    TK_ASSERT(sum == total * (total - 1u) / 2u);
    report(b, "counting", "msgs/s", (double)total * 1e9 / (double)elapsed);
    report(b, "counting_rss", "MB", (double)proc_status_kb("VmHWM:") / 1024.0);
    act_reason stop = act_reason_of(ACT_REASON_SHUTDOWN);
    TK_ASSERT(act_exit(b->sys, ACT_REF_NONE, count, &stop) == TK_OK);
    TK_ASSERT(act_exit(b->sys, ACT_REF_NONE, produce, &stop) == TK_OK);
    TK_ASSERT(act_port_wait_exit(b->port, count, 10000, NULL) == TK_OK);
    TK_ASSERT(act_port_wait_exit(b->port, produce, 10000, NULL) == TK_OK);
}

/* ---- Thread ring ------------------------------------------------------------------------------
 */

#define RING_ACTORS 503u

typedef struct ring_node {
    act_ref next;
    act_ref done;
} ring_node;

static tk_err ring_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((ring_node *)state)->done = *(const act_ref *)arg;
    return TK_OK;
}

static tk_err ring_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    ring_node *node = state;
    act_system *sys = act_ctx_system(ctx);
    if (msg->type == MSG_PEER) {
        memcpy(&node->next, msg->data, sizeof(node->next));
        return TK_OK;
    }
    uint64_t hops;
    memcpy(&hops, msg->data, sizeof(hops));
    if (hops == 0) return act_send_data(sys, node->done, act_self(ctx), MSG_DONE, NULL, 0);
    hops--;
    memcpy(msg->data, &hops, sizeof(hops));
    return act_send(sys, node->next, msg);
}

static const act_behaviour ring_behaviour = {
    .name = "ring", .init = ring_init, .handle = ring_handle};

static void bench_ring(bench *b)
{
    act_ref ring[RING_ACTORS];
    act_ref done = act_port_ref(b->port);
    for (uint32_t i = 0; i < RING_ACTORS; i++) {
        ring[i] = spawn_or_die(b, &ring_behaviour, sizeof(ring_node), &done, 4);
    }
    for (uint32_t i = 0; i < RING_ACTORS; i++) {
        act_ref next = ring[(i + 1u) % RING_ACTORS];
        tk_err err = act_send_data(b->sys, ring[i], ACT_REF_NONE, MSG_PEER, &next, sizeof(next));
        TK_ASSERT(err == TK_OK);
    }
    uint64_t hops = 10000000u / b->scale;
    uint64_t start = now_ns();
    tk_err err = act_send_data(b->sys, ring[0], ACT_REF_NONE, MSG_GO, &hops, sizeof(hops));
    TK_ASSERT(err == TK_OK);
    act_msg_free(b->sys, wait_for(b, MSG_DONE));
    uint64_t elapsed = now_ns() - start;
    report(b, "ring", "hops/s", (double)hops * 1e9 / (double)elapsed);
    act_reason stop = act_reason_of(ACT_REASON_SHUTDOWN);
    for (uint32_t i = 0; i < RING_ACTORS; i++) {
        TK_ASSERT(act_exit(b->sys, ACT_REF_NONE, ring[i], &stop) == TK_OK);
    }
    for (uint32_t i = 0; i < RING_ACTORS; i++) {
        TK_ASSERT(act_port_wait_exit(b->port, ring[i], 10000, NULL) == TK_OK);
    }
}

/* ---- Spawn and exit ---------------------------------------------------------------------------
 */

static tk_err idle_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    if (msg->type == MSG_STOP) act_stop(ctx, ACT_REASON_NORMAL);
    return TK_OK;
}

static const act_behaviour idle_behaviour = {.name = "idle", .handle = idle_handle};

static void wait_live(bench *b, uint64_t live)
{
    for (uint64_t spins = 0;; spins++) {
        TK_ASSERT(spins < 100000000u);
        act_stats stats;
        act_stats_read(b->sys, &stats);
        /* <=: an actor that ended just before the baseline was read may still have been
         * counted live then (its DOWN is sent before its exit is counted) */
        if (stats.live <= live) return;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 20000};
        nanosleep(&pause, NULL);
    }
}

/* Spawn count idle actors (8 bytes of state each), then stop them all; returns the ns it took
 * until every one had exited and its slot was free again. */
static uint64_t spawn_and_reap(bench *b, act_ref *refs, uint32_t count, bool report_spawn)
{
    act_stats before;
    act_stats_read(b->sys, &before);
    uint64_t rss_before = proc_status_kb("VmRSS:");
    uint64_t start = now_ns();
    for (uint32_t i = 0; i < count; i++) {
        refs[i] = spawn_or_die(b, &idle_behaviour, sizeof(uint64_t), NULL, 4);
    }
    uint64_t spawned = now_ns();
    uint64_t rss_after = proc_status_kb("VmRSS:");
    if (report_spawn) {
        report(b, "spawn", "ns/actor", (double)(spawned - start) / (double)count);
        double bytes = (double)(rss_after - rss_before) * 1024.0 / (double)count;
        report(b, "spawn_bytes", "bytes/actor", bytes);
    }
    uint64_t stop_start = now_ns();
    for (uint32_t i = 0; i < count; i++) {
        tk_err err = act_send_data(b->sys, refs[i], ACT_REF_NONE, MSG_STOP, NULL, 0);
        TK_ASSERT(err == TK_OK);
    }
    wait_live(b, before.live);
    return now_ns() - stop_start;
}

static void bench_spawn(bench *b)
{
    uint32_t count = 1000000u / b->scale;
    act_ref *refs = calloc(count, sizeof(act_ref));
    TK_ASSERT(refs != NULL);
    uint64_t reap_ns = spawn_and_reap(b, refs, count, true);
    report(b, "spawn_reap", "ms", (double)reap_ns / 1e6);
    reap_ns = spawn_and_reap(b, refs, count / 10u, false);
    report(b, "spawn_reap100k", "ms", (double)reap_ns / 1e6 * 100000.0 / (double)(count / 10u));
    free(refs);
}

/* ---- Cross-thread round trip ------------------------------------------------------------------
 */

static tk_err echo_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    act_ref to = msg->sender;
    msg->sender = act_self(ctx);
    return act_send(act_ctx_system(ctx), to, msg);
}

static const act_behaviour echo_behaviour = {.name = "echo", .handle = echo_handle};

/* Round trips between this (outside) thread, through its port, and an actor on a scheduler
 * thread: two cross-thread hand-offs each, with both sides spinning before they park. */
static void bench_xthread(bench *b)
{
    act_ref echo = spawn_or_die(b, &echo_behaviour, 0, NULL, 16);
    uint32_t samples = RTT_SAMPLES_MAX / b->scale;
    uint64_t *rtt = calloc(samples, sizeof(uint64_t));
    TK_ASSERT(rtt != NULL);
    act_msg *msg = act_msg_alloc(b->sys);
    TK_ASSERT(msg != NULL);
    msg->type = MSG_GO;
    for (uint32_t i = 0; i < samples; i++) {
        msg->sender = act_port_ref(b->port);
        uint64_t start = now_ns();
        TK_ASSERT(act_send(b->sys, echo, msg) == TK_OK);
        TK_ASSERT(act_port_receive(b->port, 10000, &msg) == TK_OK);
        rtt[i] = now_ns() - start;
    }
    act_msg_free(b->sys, msg);
    qsort(rtt, samples, sizeof(uint64_t), cmp_u64);
    report(b, "xthread_rtt_p50", "ns", (double)rtt[samples / 2u]);
    report(b, "xthread_rtt_p99", "ns", (double)rtt[(uint64_t)samples * 99u / 100u]);
    free(rtt);
    act_reason stop = act_reason_of(ACT_REASON_SHUTDOWN);
    TK_ASSERT(act_exit(b->sys, ACT_REF_NONE, echo, &stop) == TK_OK);
    TK_ASSERT(act_port_wait_exit(b->port, echo, 10000, NULL) == TK_OK);
}

/* ---- Supervisor restart -----------------------------------------------------------------------
 */

#define RESTART_SAMPLES 10000u

typedef struct restart_run {
    act_ref done;
    uint64_t crash_ns; /* when the last child crashed; 0 before the first crash */
    uint64_t *samples; /* crash to the new child's init, ns */
    uint32_t count;
    uint32_t wanted;
} restart_run;

/* init of each incarnation: time the restart, then crash again (or report when done). */
static tk_err crasher_init(act_ctx *ctx, void *state, const void *arg)
{
    restart_run *run = (restart_run *)(uintptr_t)arg; /* one supervisor child at a time */
    *(restart_run **)state = run;
    if (run->crash_ns != 0) run->samples[run->count++] = now_ns() - run->crash_ns;
    act_system *sys = act_ctx_system(ctx);
    if (run->count == run->wanted)
        return act_send_data(sys, run->done, act_self(ctx), MSG_DONE, NULL, 0);
    return act_send_data(sys, act_self(ctx), act_self(ctx), MSG_GO, NULL, 0);
}

static tk_err crasher_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)ctx;
    (void)msg;
    restart_run *run = *(restart_run **)state;
    run->crash_ns = now_ns();
    return TK_EIO; /* crash: the supervisor restarts us */
}

static const act_behaviour crasher_behaviour = {
    .name = "crasher", .init = crasher_init, .handle = crasher_handle};

static tk_err crasher_start(act_system *sys, act_ref sup, const void *arg, act_ref *out_child)
{
    act_spawn_opts opts = {.behaviour = &crasher_behaviour,
                           .state_size_bytes = sizeof(restart_run *),
                           .arg = arg,
                           .mailbox_capacity = 4,
                           .link_to = sup,
                           .trap_exit = false};
    return act_spawn(sys, &opts, out_child);
}

static void bench_restart(bench *b)
{
    restart_run run = {.done = act_port_ref(b->port), .wanted = RESTART_SAMPLES / b->scale};
    run.samples = calloc(run.wanted, sizeof(uint64_t));
    TK_ASSERT(run.samples != NULL);
    sup_child_spec child = {.id = "crasher",
                            .start = crasher_start,
                            .arg = &run,
                            .restart = SUP_PERMANENT,
                            .shutdown = SUP_SHUTDOWN_BRUTAL_KILL,
                            .type = SUP_WORKER};
    sup_spec spec = {.name = "bench",
                     .flags = {.strategy = SUP_ONE_FOR_ONE,
                               .intensity = SUP_INTENSITY_MAX,
                               .period_ms = 1,
                               .auto_shutdown = SUP_AUTO_SHUTDOWN_NEVER},
                     .children = &child,
                     .child_count = 1,
                     .children_max = 1,
                     .mailbox_capacity = 64};
    /* Crash reports and restart logs are on the measured path when enabled; the peers are
     * measured without theirs, so this run turns them off. */
    char why[64];
    TK_ASSERT(tk_log_set_levels("error,actors=off,sup=off", why, sizeof(why)) == TK_OK);
    act_ref sup;
    TK_ASSERT(sup_start(b->sys, &spec, ACT_REF_NONE, &sup) == TK_OK);
    act_msg_free(b->sys, wait_for(b, MSG_DONE));
    TK_ASSERT(tk_log_set_levels("info", why, sizeof(why)) == TK_OK);
    qsort(run.samples, run.count, sizeof(uint64_t), cmp_u64);
    report(b, "restart_p50", "ns", (double)run.samples[run.count / 2u]);
    report(b, "restart_p99", "ns", (double)run.samples[(uint64_t)run.count * 99u / 100u]);
    TK_ASSERT(sup_stop(b->sys, b->port, sup, 10000) == TK_OK);
    TK_ASSERT(act_port_wait_exit(b->port, sup, 10000, NULL) == TK_OK);
    free(run.samples);
}

int main(int argc, char **argv)
{
    bench b = {.threads = 1, .scale = 1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            b.threads = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            b.only = argv[++i];
        } else if (strcmp(argv[i], "--quick") == 0) {
            b.scale = 10;
        } else {
            fprintf(stderr, "usage: bench_actors --threads N [--quick] "
                            "[--only pingpong|counting|ring|spawn|restart|xthread]\n");
            return 2;
        }
    }
    if (b.threads == 0 || b.threads > ACT_THREADS_MAX) {
        fprintf(stderr, "bench_actors: --threads must be 1 to %u\n", ACT_THREADS_MAX);
        return 2;
    }
    act_system_opts opts = {.threads = b.threads,
                            .actors_max = 1100000u,
                            .msgs_max = 1u << 20,
                            .spin_us = 100,
                            .turn_deadline_ms = 0,
                            .stuck_deadline_ms = 0,
                            .clock = tk_clock_system()};
    TK_ASSERT(act_system_open(&opts, &b.sys) == TK_OK);
    TK_ASSERT(act_port_open(b.sys, 1024, &b.port) == TK_OK);
    if (wanted(&b, "pingpong")) bench_pingpong(&b);
    if (wanted(&b, "counting")) bench_counting(&b);
    if (wanted(&b, "ring")) bench_ring(&b);
    if (wanted(&b, "spawn")) bench_spawn(&b);
    if (wanted(&b, "restart")) bench_restart(&b);
    if (wanted(&b, "xthread")) bench_xthread(&b);
    act_port_close(b.port);
    act_system_close(b.sys);
    return 0;
}
