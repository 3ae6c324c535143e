/* bench_journal: troika's replicated journal as the actors use it (bench/cluster/README.md):
 * three troika Raft nodes (cluster/clu_raft.c: libraft 0.15 over raft_uv, the ledger FSM, a
 * RocksDB store each) in one process, each on its own thread and libuv loop, with proposals
 * made in process through clu_node_propose, the path the journal actor and every leader-only
 * actor take. It is raft_bare's structure with troika's node in place of the counting FSM, so
 * that the two compare like with like: what this adds over raft_bare is exactly troika's node
 * (the ledger's risk gate and apply, one RocksDB write batch per entry, the chain hash, the
 * status tick, the hash points of the divergence check).
 *
 *   bench_journal [--dir D] [--base-port P] [--unguarded] [--inflight 1,16,256]
 *                 [--duration-ms 5000] [--warmup-ms 1000]
 *
 * A proposal is one StrategyEnabled event (89 bytes encoded, 32 strategy names in turn, as
 * bench_cluster sends); N are kept in flight: when one is answered (committed by a majority,
 * applied by the leader), its slot proposes the next at once, from the leader's loop thread.
 * Latency is from clu_node_propose to the answer. Settings as `troika cluster up` writes them:
 * election 500 ms, heartbeat 50 ms, snapshots every 8192 entries with 2048 trailing, checkpoints
 * every 100000 events, state hash points every 1000 events, the store without fsync (the Raft log
 * is the durable commit: docs/operations.md). Directories go under D (default $TMPDIR, else /tmp)
 * and are removed at exit. --unguarded runs the nodes without the protocol guard around their
 * raft_io (clu_guard_attach), to measure what it costs. Output: bench_common.h's line and JSON
 * object per concurrency (system "troika_journal", or "troika_journal_unguarded"), plus a note
 * with entries and events per entry.
 * Context: the main thread starts, waits and reports; proposals and their answers run on the
 * leader's loop thread, which owns each slot's samples. */
#define _XOPEN_SOURCE 700 /* mkdtemp */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_common.h"
#include "clu.h"
#include "tk.h"

#define NODES             3u
#define LEADER_TIMEOUT_NS 20000000000u
#define DRAIN_TIMEOUT_NS  30000000000u
#define DIR_BYTES         256u
#define NAMES             32u /* strategy names used in turn, as bench_cluster (LED_STRATEGIES_MAX 64) */

typedef struct run run;

/* One request slot: its event and the time its proposal left. */
typedef struct slot {
    run *r;
    uint32_t index;
    led_event event;
    uint64_t sent_ns;
    bc_samples samples; /* the leader's loop thread */
} slot;

/* One concurrency on the leader. */
struct run {
    clu_node *leader;
    slot *slots; /* owned: inflight */
    uint32_t inflight;
    uint64_t window_start_ns, window_end_ns;
    pthread_mutex_t lock; /* guards active, errors */
    pthread_cond_t cond;
    uint32_t active; /* slots still proposing */
    uint64_t errors;
};

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_journal: %s: %s\n", what, why);
    exit(1);
}

static void slot_finish(run *r, bool failed)
{
    pthread_mutex_lock(&r->lock);
    r->errors += failed ? 1u : 0u;
    r->active--;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void slot_propose(slot *s);

/* A proposal's answer (the leader's loop thread): count it, then the slot's next one. */
static void answered(void *arg, tk_err err, uint64_t first_index, const led_outcome *outcomes,
                     uint32_t count)
{
    (void)first_index;
    slot *s = arg;
    run *r = s->r;
    uint64_t now = bc_now_ns();
    if (err != TK_OK || count != 1 || outcomes[0].result == LED_REJECTED) {
        slot_finish(r, true);
        return;
    }
    if (now >= r->window_start_ns && now <= r->window_end_ns)
        bc_samples_add(&s->samples, now - s->sent_ns);
    if (now >= r->window_end_ns) {
        slot_finish(r, false);
        return;
    }
    slot_propose(s);
}

static void slot_propose(slot *s)
{
    s->event.u.strategy_enabled.enabled = !s->event.u.strategy_enabled.enabled;
    s->event.ts_ns = (int64_t)bc_now_ns();
    s->sent_ns = bc_now_ns();
    if (clu_node_propose(s->r->leader, &s->event, 1, answered, s) != TK_OK) slot_finish(s->r, true);
}

/* Every node's directories, store and node. */
typedef struct cluster {
    char dir[DIR_BYTES];
    uint32_t base_port;
    bool unguarded;
    es_store *stores[NODES];
    clu_node *nodes[NODES];
} cluster;

static void cluster_start(cluster *c)
{
    for (uint32_t i = 0; i < NODES; i++) {
        char node_dir[DIR_BYTES + 16], store_dir[DIR_BYTES + 32], raft_dir[DIR_BYTES + 32];
        snprintf(node_dir, sizeof(node_dir), "%s/node%u", c->dir, i + 1u);
        snprintf(store_dir, sizeof(store_dir), "%s/store", node_dir);
        snprintf(raft_dir, sizeof(raft_dir), "%s/raft", node_dir);
        if (mkdir(node_dir, 0700) != 0 || mkdir(raft_dir, 0700) != 0) die("mkdir", node_dir);
        es_opts so = {.path = store_dir, .create_if_missing = true, .sync = false};
        es_error why = {{0}};
        if (es_open(&so, &c->stores[i], &why) != TK_OK) die("es_open", why.text);
        clu_node_opts no = {.id = i + 1u,
                            .raft_dir = raft_dir,
                            .store = c->stores[i],
                            .peer_count = NODES,
                            .election_timeout_ms = 500,
                            .heartbeat_timeout_ms = 50,
                            .snapshot_threshold = 8192,
                            .snapshot_trailing = 2048,
                            .install_snapshot_timeout_ms = 2000,
                            .checkpoint_every = 100000,
                            .hash_every = 1000,
                            .unguarded = c->unguarded};
        snprintf(no.name, sizeof(no.name), "node%u", i + 1u);
        for (uint32_t p = 0; p < NODES; p++) {
            no.peers[p].id = p + 1u;
            snprintf(no.peers[p].raft_address, sizeof(no.peers[p].raft_address), "127.0.0.1:%u",
                     c->base_port + p + 1u);
        }
        if (clu_node_start(&no, &c->nodes[i], &why) != TK_OK) die("clu_node_start", why.text);
    }
}

/* The node whose LeaderChanged committed; dies after LEADER_TIMEOUT_NS without one. */
static clu_node *cluster_leader(cluster *c)
{
    uint64_t deadline = bc_now_ns() + LEADER_TIMEOUT_NS;
    while (bc_now_ns() < deadline) {
        for (uint32_t i = 0; i < NODES; i++) {
            clu_status st;
            clu_node_status(c->nodes[i], &st);
            if (st.leading) return c->nodes[i];
        }
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    die("cluster", "no leader within 20 s");
    return NULL;
}

static void cluster_stop(cluster *c)
{
    for (uint32_t i = 0; i < NODES; i++) {
        clu_node_stop(c->nodes[i]);
        es_close(c->stores[i]);
    }
}

static uint64_t leader_entries(clu_node *leader, uint64_t *events)
{
    clu_metrics m;
    clu_node_metrics(leader, &m);
    *events = m.events_applied_total;
    return m.entries_applied_total;
}

/* One concurrency on the current leader: its figures; false when nothing was answered. */
static bool run_one(cluster *c, const bc_opts *common, uint32_t inflight)
{
    TK_ASSERT(inflight >= 1 && inflight <= BC_INFLIGHT_MAX);
    run r = {.leader = cluster_leader(c), .inflight = inflight, .active = inflight};
    r.slots = calloc(inflight, sizeof(*r.slots));
    if (r.slots == NULL) die("run", "out of memory");
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    uint64_t events_before = 0, entries_before = leader_entries(r.leader, &events_before);
    r.window_start_ns = bc_now_ns() + common->warmup_ms * 1000000u;
    r.window_end_ns = r.window_start_ns + common->duration_ms * 1000000u;
    for (uint32_t i = 0; i < inflight; i++) {
        slot *s = &r.slots[i];
        *s = (slot){.r = &r, .index = i};
        s->event = (led_event){.type = LED_EV_STRATEGY_ENABLED, .version = 1};
        snprintf(s->event.u.strategy_enabled.strategy, sizeof(s->event.u.strategy_enabled.strategy),
                 "bench-cluster-strategy-slot-%02u", i % NAMES);
    }
    for (uint32_t i = 0; i < inflight; i++)
        slot_propose(&r.slots[i]);
    pthread_mutex_lock(&r.lock);
    while (r.active > 0) {
        if (bc_now_ns() > r.window_end_ns + DRAIN_TIMEOUT_NS)
            die("run", "proposals still unanswered 30 s after the window");
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&r.cond, &r.lock, &until);
    }
    pthread_mutex_unlock(&r.lock);
    uint64_t events_after = 0, entries_after = leader_entries(r.leader, &events_after);
    bc_result res = {.system = c->unguarded ? "troika_journal_unguarded" : "troika_journal",
                     .inflight = inflight,
                     .errors = r.errors,
                     .seconds = (double)common->duration_ms / 1e3};
    bc_samples all = {0};
    for (uint32_t i = 0; i < inflight; i++) {
        bc_samples_merge(&all, &r.slots[i].samples);
        bc_samples_fini(&r.slots[i].samples);
    }
    bc_result_compute(&res, &all);
    bc_samples_fini(&all);
    uint64_t entries = entries_after - entries_before, events = events_after - events_before;
    printf("note=%s inflight=%u entries=%llu events_per_entry=%.1f (whole run)\n", res.system,
           inflight, (unsigned long long)entries,
           entries > 0 ? (double)events / (double)entries : 0.0);
    bc_report(&res);
    free(r.slots);
    pthread_mutex_destroy(&r.lock);
    pthread_cond_destroy(&r.cond);
    return res.ok > 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_journal [--dir D] [--base-port P] [--unguarded] "
                    "[--inflight 1,16,256] [--duration-ms N] [--warmup-ms N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static cluster c = {.base_port = 9800};
    bc_opts common;
    bc_opts_default(&common);
    const char *parent = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (bc_parse_common(argc, argv, &i, &common)) continue;
        if (strcmp(argv[i], "--unguarded") == 0) {
            c.unguarded = true;
            continue;
        }
        if (i + 1 >= argc) usage();
        const char *arg = argv[i], *value = argv[++i];
        if (strcmp(arg, "--dir") == 0) {
            parent = value;
        } else if (strcmp(arg, "--base-port") == 0) {
            long v = strtol(value, NULL, 10);
            if (v < 1024 || v > 65000) die("--base-port", "1024..65000");
            c.base_port = (uint32_t)v;
        } else {
            usage();
        }
    }
    snprintf(c.dir, sizeof(c.dir), "%s/troika-bench-journal-XXXXXX", parent);
    if (mkdtemp(c.dir) == NULL) die("mkdtemp", c.dir);
    if (tk_log_set_level(NULL, TK_LOG_WARN) != TK_OK) die("log", "cannot set the level");
    cluster_start(&c);
    printf("note=troika_journal: 3 troika nodes on 127.0.0.1:%u..%u in one process, data in %s, "
           "proposals through clu_node_propose, protocol guard %s, warm-up %llu ms, window %llu "
           "ms\n",
           c.base_port + 1u, c.base_port + NODES, c.dir, c.unguarded ? "off" : "on",
           (unsigned long long)common.warmup_ms, (unsigned long long)common.duration_ms);
    bool all = true;
    for (uint32_t i = 0; i < common.inflight_count; i++)
        all = run_one(&c, &common, common.inflight[i]) && all;
    cluster_stop(&c);
    bc_remove_tree(c.dir);
    return all ? 0 : 1;
}
