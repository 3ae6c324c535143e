/* raft_bare: the limit for the cluster benchmark (bench/cluster/README.md): three libraft 0.15
 * servers in one process, each on its own thread and libuv loop, over raft_uv (TCP on
 * loopback, log segments on disk, fsynced per write by libraft), with an FSM that only counts,
 * driven with troika's batching.
 *
 *   raft_bare [--dir D] [--base-port P] [--event-bytes 100] [--inflight 1,16,256]
 *             [--duration-ms 5000] [--warmup-ms 1000]
 *
 * Batching as troika's node does it (cluster/clu_raft.c): proposals waiting when the loop
 * wakes are packed into entries of up to 256 events, each entry a 4-byte magic, a 4-byte count,
 * per event a 2-byte length and its bytes, and zero padding to a multiple of 8 bytes (raft_uv
 * reads segments back assuming 8-byte multiples: docs/cluster.md, "Entries"). Every entry is
 * its own raft_apply, with no limit on entries in flight. A "proposal" is one event of
 * --event-bytes (default 100); N of them are kept in flight: when an entry is applied on the
 * leader, each of its proposals is answered and the next one is queued at once, and the loop
 * wakes itself (uv_async_send, as troika's proposers do) to pack what is queued. Latency is
 * from queueing to the apply callback. What this leaves out, compared with troika: the client
 * API (a network round trip, msgpack, the idempotency table), the ledger's apply and its
 * RocksDB write, and the process boundary between the nodes.
 *
 * Settings as `troika cluster up` writes them: election 500 ms, heartbeat 50 ms, pre-vote on,
 * snapshot threshold 8192 entries, trailing 2048, auto-recovery off. Raft directories go
 * under D (default $TMPDIR, else /tmp) and are removed at exit. Output: bench_common.h's line
 * and JSON object per concurrency, plus a note with entries and events per entry.
 * Context: every raft_* call runs on its server's loop thread (the main thread hands work over
 * with uv_async_send); the main thread only starts, waits and reports. */
#define _XOPEN_SOURCE 700 /* mkdtemp */

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "bench_common.h"
#include "tk.h"

#define NODES             3u
#define ENTRY_EVENTS_MAX  256u /* CLU_ENTRY_EVENTS_MAX */
#define ENTRY_HEADER      8u
#define EVENT_BYTES_MAX   512u
#define LEADER_TIMEOUT_NS 20000000000u
#define DRAIN_TIMEOUT_NS  30000000000u
#define DIR_BYTES         256u

static const uint8_t entry_magic[4] = {'B', 'A', 'R', 'E'};

typedef struct load load;
typedef struct node node;

/* The benchmark: three servers and the run in progress. */
typedef struct bare {
    char dir[DIR_BYTES];
    uint32_t base_port;
    uint32_t event_bytes;
    bc_opts common;
    node *nodes[NODES];
    pthread_mutex_t lock; /* guards the fields marked "shared" below and in node and load */
    pthread_cond_t cond;
} bare;

struct node {
    bare *b; /* borrowed */
    uint32_t index;
    char dir[DIR_BYTES + 16u]; /* b->dir + "/nodeN" */
    char address[32];
    uv_loop_t loop;
    uv_async_t wake; /* commands from the main thread; self-wake to pack proposals */
    uv_timer_t tick; /* leadership */
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft raft;
    struct raft_fsm fsm;
    pthread_t thread;
    /* loop thread only */
    bool was_leader;
    uint64_t applied_events;
    load *running; /* the run this node drives as leader */
    /* shared */
    bool started;
    int start_rv;
    bool ready; /* leads, and its barrier has committed */
    bool stop;
    load *start; /* a run handed over by the main thread */
};

/* One concurrency's run on the leader's loop thread. */
struct load {
    uint32_t inflight;
    uint64_t window_start_ns, window_end_ns;
    uint64_t *queued_ns; /* owned: per slot, when its proposal was queued */
    uint32_t *pending;   /* owned: slots waiting to be packed (a stack) */
    uint32_t pending_count;
    uint32_t active; /* slots not retired */
    bc_samples *samples;
    uint64_t errors, entries, events;
    uint8_t *event; /* owned: the event bytes every proposal carries */
    bool done;      /* shared */
};

/* One entry in flight: which slots it carries. */
typedef struct entry_req {
    struct raft_apply req; /* req.data: this */
    node *n;
    uint32_t count;
    uint32_t slots[ENTRY_EVENTS_MAX];
} entry_req;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "raft_bare: %s: %s\n", what, detail);
    exit(1);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- The FSM: counts events, keeps nothing else --------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    node *n = fsm->data;
    *result = NULL;
    const uint8_t *p = buf->base;
    /* Only this program proposes: a malformed entry is a bug here, not input to refuse. */
    TK_ASSERT(buf->len >= ENTRY_HEADER && buf->len % 8u == 0);
    TK_ASSERT(memcmp(p, entry_magic, sizeof(entry_magic)) == 0);
    uint32_t count = get_u32(p + 4);
    TK_ASSERT(count >= 1 && count <= ENTRY_EVENTS_MAX);
    n->applied_events += count;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    node *n = fsm->data;
    *bufs = raft_malloc(sizeof(**bufs));
    if (*bufs == NULL) return RAFT_NOMEM;
    (*bufs)[0].base = raft_malloc(8);
    if ((*bufs)[0].base == NULL) {
        raft_free(*bufs);
        return RAFT_NOMEM;
    }
    (*bufs)[0].len = 8;
    uint8_t *p = (*bufs)[0].base;
    put_u32(p, (uint32_t)(n->applied_events >> 32));
    put_u32(p + 4, (uint32_t)n->applied_events);
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    TK_ASSERT(*n_bufs == 1);
    raft_free((*bufs)[0].base);
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    node *n = fsm->data;
    TK_ASSERT(buf->len == 8);
    const uint8_t *p = buf->base;
    n->applied_events = (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
    raft_free(buf->base);
    return 0;
}

/* ---- Proposals, packed as troika packs them ---------------------------------------------------
 */

static size_t entry_bytes(uint32_t count, uint32_t event_bytes)
{
    size_t size = ENTRY_HEADER + (size_t)count * (2u + event_bytes);
    return (size + 7u) & ~(size_t)7u;
}

static void load_retire(node *n, load *l)
{
    TK_ASSERT(l->active >= 1);
    l->active--;
    if (l->active > 0) return;
    n->running = NULL;
    pthread_mutex_lock(&n->b->lock);
    l->done = true;
    pthread_cond_broadcast(&n->b->cond);
    pthread_mutex_unlock(&n->b->lock);
}

/* A slot's proposal ended at now (committed or not): count it, queue the next or retire. */
static void slot_answered(node *n, load *l, uint32_t slot, bool ok, uint64_t now)
{
    if (!ok)
        l->errors++;
    else if (now >= l->window_start_ns && now <= l->window_end_ns)
        bc_samples_add(&l->samples[slot], now - l->queued_ns[slot]);
    if (ok && now < l->window_end_ns) {
        l->queued_ns[slot] = now;
        l->pending[l->pending_count++] = slot;
        TK_ASSERT(l->pending_count <= l->inflight);
    } else {
        load_retire(n, l);
    }
}

static void entry_done(struct raft_apply *req, int status, void *result)
{
    (void)result;
    entry_req *e = req->data;
    node *n = e->n;
    load *l = n->running;
    TK_ASSERT(l != NULL);
    uint64_t now = bc_now_ns();
    for (uint32_t i = 0; i < e->count; i++)
        slot_answered(n, l, e->slots[i], status == 0, now);
    free(e);
    if (n->running != NULL && l->pending_count > 0) uv_async_send(&n->wake);
}

/* Pack what waits into entries of up to ENTRY_EVENTS_MAX events and propose them. */
static void drain(node *n, load *l)
{
    while (n->running == l && l->pending_count > 0) { /* l is gone once it retired */
        uint32_t count = l->pending_count < ENTRY_EVENTS_MAX ? l->pending_count : ENTRY_EVENTS_MAX;
        entry_req *e = malloc(sizeof(*e));
        size_t size = entry_bytes(count, n->b->event_bytes);
        struct raft_buffer buf = {.base = raft_malloc(size), .len = size};
        if (e == NULL || buf.base == NULL) die("propose", "out of memory");
        uint8_t *p = buf.base;
        memset(p, 0, size);
        memcpy(p, entry_magic, sizeof(entry_magic));
        put_u32(p + 4, count);
        size_t at = ENTRY_HEADER;
        e->n = n;
        e->count = count;
        for (uint32_t i = 0; i < count; i++) {
            e->slots[i] = l->pending[--l->pending_count];
            p[at] = (uint8_t)(n->b->event_bytes >> 8);
            p[at + 1] = (uint8_t)n->b->event_bytes;
            memcpy(p + at + 2, l->event, n->b->event_bytes);
            at += 2u + n->b->event_bytes;
        }
        e->req.data = e;
        l->entries++;
        l->events += count;
        int rv = raft_apply(&n->raft, &e->req, &buf, 1, entry_done);
        if (rv != 0) {
            raft_free(buf.base);
            entry_done(&e->req, rv, NULL);
        }
    }
}

/* ---- A server's loop ----------------------------------------------------------------------------
 */

static void barrier_done(struct raft_barrier *req, int status)
{
    node *n = req->data;
    free(req);
    if (status != 0 || raft_state(&n->raft) != RAFT_LEADER) return;
    pthread_mutex_lock(&n->b->lock);
    n->ready = true;
    pthread_cond_broadcast(&n->b->cond);
    pthread_mutex_unlock(&n->b->lock);
}

/* Leadership: a new leader's barrier (libraft 0.15 appends nothing of its own on election). */
static void on_tick(uv_timer_t *timer)
{
    node *n = timer->data;
    bool leader = raft_state(&n->raft) == RAFT_LEADER;
    if (leader && !n->was_leader) {
        struct raft_barrier *req = malloc(sizeof(*req));
        if (req == NULL) die("barrier", "out of memory");
        req->data = n;
        if (raft_barrier(&n->raft, req, barrier_done) != 0) free(req);
    }
    if (!leader && n->was_leader) {
        pthread_mutex_lock(&n->b->lock);
        n->ready = false;
        pthread_mutex_unlock(&n->b->lock);
    }
    n->was_leader = leader;
}

static void on_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void on_raft_closed(struct raft *raft)
{
    node *n = raft->data;
    raft_uv_close(&n->io);
    raft_uv_tcp_close(&n->transport);
    uv_close((uv_handle_t *)&n->wake, on_closed);
}

static void on_wake(uv_async_t *handle)
{
    node *n = handle->data;
    pthread_mutex_lock(&n->b->lock);
    bool stop = n->stop;
    load *start = n->start;
    n->start = NULL;
    pthread_mutex_unlock(&n->b->lock);
    if (start != NULL) {
        TK_ASSERT(n->running == NULL);
        uint64_t now = bc_now_ns();
        for (uint32_t i = 0; i < start->inflight; i++)
            start->queued_ns[i] = now;
        n->running = start;
    }
    if (n->running != NULL) drain(n, n->running);
    if (stop && !uv_is_closing((uv_handle_t *)&n->tick)) {
        uv_close((uv_handle_t *)&n->tick, on_closed);
        raft_close(&n->raft, on_raft_closed);
    }
}

/* Set up libraft on this thread's loop: transport, io, FSM, options, bootstrap, start. */
static int node_raft_start(node *n)
{
    int rv = raft_uv_tcp_init(&n->transport, &n->loop);
    if (rv != 0) return rv;
    rv = raft_uv_init(&n->io, &n->loop, n->dir, &n->transport);
    if (rv != 0) return rv;
    raft_uv_set_auto_recovery(&n->io, false);
    n->fsm = (struct raft_fsm){.version = 2,
                               .data = n,
                               .apply = fsm_apply,
                               .snapshot = fsm_snapshot,
                               .restore = fsm_restore,
                               .snapshot_finalize = fsm_snapshot_finalize};
    rv = raft_init(&n->raft, &n->io, &n->fsm, n->index + 1u, n->address);
    if (rv != 0) return rv;
    n->raft.data = n;
    raft_set_pre_vote(&n->raft, true);
    raft_set_election_timeout(&n->raft, 500);
    raft_set_heartbeat_timeout(&n->raft, 50);
    raft_set_snapshot_threshold(&n->raft, 8192);
    raft_set_snapshot_trailing(&n->raft, 2048);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (uint32_t i = 0; i < NODES && rv == 0; i++)
        rv = raft_configuration_add(&conf, i + 1u, n->b->nodes[i]->address, RAFT_VOTER);
    if (rv == 0) rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) rv = 0;
    if (rv == 0) rv = raft_start(&n->raft);
    return rv;
}

static void *node_thread(void *arg)
{
    node *n = arg;
    int rv = node_raft_start(n);
    if (rv == 0) uv_timer_start(&n->tick, on_tick, 0, 5);
    pthread_mutex_lock(&n->b->lock);
    n->started = true;
    n->start_rv = rv;
    pthread_cond_broadcast(&n->b->cond);
    pthread_mutex_unlock(&n->b->lock);
    if (rv != 0) return NULL; /* the process exits: nothing to close */
    uv_run(&n->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void node_start(bare *b, uint32_t index)
{
    node *n = calloc(1, sizeof(*n));
    if (n == NULL) die("node", "out of memory");
    n->b = b;
    n->index = index;
    snprintf(n->dir, sizeof(n->dir), "%s/node%u", b->dir, index + 1u);
    snprintf(n->address, sizeof(n->address), "127.0.0.1:%u", b->base_port + index + 1u);
    if (mkdir(n->dir, 0700) != 0) die("mkdir", n->dir);
    if (uv_loop_init(&n->loop) != 0) die("uv_loop_init", "failed");
    uv_async_init(&n->loop, &n->wake, on_wake);
    n->wake.data = n;
    uv_timer_init(&n->loop, &n->tick);
    n->tick.data = n;
    b->nodes[index] = n;
}

/* Wait (b->lock held) until pred or deadline; false on timeout. */
static bool wait_until(bare *b, bool (*pred)(bare *b, void *arg), void *arg, uint64_t deadline)
{
    while (!pred(b, arg)) {
        if (bc_now_ns() > deadline) return false;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&b->cond, &b->lock, &until);
    }
    return true;
}

static bool all_started(bare *b, void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < NODES; i++)
        if (!b->nodes[i]->started) return false;
    return true;
}

static bool some_ready(bare *b, void *arg)
{
    node **out = arg;
    for (uint32_t i = 0; i < NODES; i++) {
        if (b->nodes[i]->ready) {
            *out = b->nodes[i];
            return true;
        }
    }
    return false;
}

static bool load_done(bare *b, void *arg)
{
    (void)b;
    return ((load *)arg)->done;
}

/* Start the three servers and wait for a leader whose barrier committed. */
static node *cluster_start(bare *b)
{
    for (uint32_t i = 0; i < NODES; i++)
        node_start(b, i);
    for (uint32_t i = 0; i < NODES; i++)
        if (pthread_create(&b->nodes[i]->thread, NULL, node_thread, b->nodes[i]) != 0)
            die("pthread_create", "failed");
    node *leader = NULL;
    pthread_mutex_lock(&b->lock);
    bool started = wait_until(b, all_started, NULL, bc_now_ns() + LEADER_TIMEOUT_NS);
    for (uint32_t i = 0; i < NODES && started; i++)
        if (b->nodes[i]->start_rv != 0) die("raft start", raft_strerror(b->nodes[i]->start_rv));
    bool led = started && wait_until(b, some_ready, &leader, bc_now_ns() + LEADER_TIMEOUT_NS);
    pthread_mutex_unlock(&b->lock);
    if (!led) die("cluster", "no leader within 20 s");
    return leader;
}

static void cluster_stop(bare *b)
{
    for (uint32_t i = 0; i < NODES; i++) {
        node *n = b->nodes[i];
        pthread_mutex_lock(&b->lock);
        n->stop = true;
        pthread_mutex_unlock(&b->lock);
        uv_async_send(&n->wake);
    }
    for (uint32_t i = 0; i < NODES; i++) {
        node *n = b->nodes[i];
        pthread_join(n->thread, NULL);
        uv_loop_close(&n->loop);
        free(n);
        b->nodes[i] = NULL;
    }
}

static load *load_new(bare *b, uint32_t inflight)
{
    load *l = calloc(1, sizeof(*l));
    if (l == NULL) die("load", "out of memory");
    l->inflight = inflight;
    l->queued_ns = calloc(inflight, sizeof(*l->queued_ns));
    l->pending = calloc(inflight, sizeof(*l->pending));
    l->samples = calloc(inflight, sizeof(*l->samples));
    l->event = malloc(b->event_bytes);
    if (l->queued_ns == NULL || l->pending == NULL || l->samples == NULL || l->event == NULL)
        die("load", "out of memory");
    for (uint32_t i = 0; i < b->event_bytes; i++)
        l->event[i] = (uint8_t)('a' + i % 26u);
    for (uint32_t i = 0; i < inflight; i++)
        l->pending[i] = inflight - 1u - i; /* slot 0 on top */
    l->pending_count = inflight;
    l->active = inflight;
    return l;
}

static void load_free(load *l)
{
    for (uint32_t i = 0; i < l->inflight; i++)
        bc_samples_fini(&l->samples[i]);
    free(l->samples);
    free(l->queued_ns);
    free(l->pending);
    free(l->event);
    free(l);
}

/* One concurrency on the current leader; the figures. */
static bool run_one(bare *b, uint32_t inflight)
{
    TK_ASSERT(inflight >= 1 && inflight <= BC_INFLIGHT_MAX);
    node *leader = NULL;
    load *l = load_new(b, inflight);
    pthread_mutex_lock(&b->lock);
    if (!wait_until(b, some_ready, &leader, bc_now_ns() + LEADER_TIMEOUT_NS))
        die("cluster", "no leader within 20 s");
    l->window_start_ns = bc_now_ns() + b->common.warmup_ms * 1000000u;
    l->window_end_ns = l->window_start_ns + b->common.duration_ms * 1000000u;
    leader->start = l;
    pthread_mutex_unlock(&b->lock);
    uv_async_send(&leader->wake);
    pthread_mutex_lock(&b->lock);
    bool done = wait_until(b, load_done, l, l->window_end_ns + DRAIN_TIMEOUT_NS);
    pthread_mutex_unlock(&b->lock);
    if (!done) die("run", "proposals still unanswered 30 s after the window");
    bc_result res = {.system = "raft_bare",
                     .inflight = inflight,
                     .errors = l->errors,
                     .seconds = (double)b->common.duration_ms / 1e3};
    bc_samples all = {0};
    for (uint32_t i = 0; i < inflight; i++)
        bc_samples_merge(&all, &l->samples[i]);
    bc_result_compute(&res, &all);
    bc_samples_fini(&all);
    printf("note=raft_bare inflight=%u entries=%llu events_per_entry=%.1f (whole run)\n", inflight,
           (unsigned long long)l->entries,
           l->entries > 0 ? (double)l->events / (double)l->entries : 0.0);
    bc_report(&res);
    load_free(l);
    return res.ok > 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: raft_bare [--dir D] [--base-port P] [--event-bytes N] "
                    "[--inflight 1,16,256] [--duration-ms N] [--warmup-ms N]\n");
    exit(2);
}

static void parse(int argc, char **argv, bare *b, const char **parent)
{
    for (int i = 1; i < argc; i++) {
        if (bc_parse_common(argc, argv, &i, &b->common)) continue;
        if (i + 1 >= argc) usage();
        const char *arg = argv[i], *value = argv[++i];
        long v = strtol(value, NULL, 10);
        if (strcmp(arg, "--dir") == 0) {
            *parent = value;
        } else if (strcmp(arg, "--base-port") == 0) {
            if (v < 1024 || v > 65000) die("--base-port", "1024..65000");
            b->base_port = (uint32_t)v;
        } else if (strcmp(arg, "--event-bytes") == 0) {
            if (v < 1 || v > (long)EVENT_BYTES_MAX) die("--event-bytes", "1..512");
            b->event_bytes = (uint32_t)v;
        } else {
            usage();
        }
    }
}

int main(int argc, char **argv)
{
    static bare b = {.base_port = 9700, .event_bytes = 100};
    bc_opts_default(&b.common);
    const char *parent = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    parse(argc, argv, &b, &parent);
    snprintf(b.dir, sizeof(b.dir), "%s/troika-bench-raft-XXXXXX", parent);
    if (mkdtemp(b.dir) == NULL) die("mkdtemp", b.dir);
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    cluster_start(&b);
    printf("note=raft_bare: 3 libraft %s servers on 127.0.0.1:%u..%u, logs in %s, event %u "
           "bytes, entries of up to %u events, warm-up %llu ms, window %llu ms\n",
           "0.15", b.base_port + 1u, b.base_port + NODES, b.dir, b.event_bytes, ENTRY_EVENTS_MAX,
           (unsigned long long)b.common.warmup_ms, (unsigned long long)b.common.duration_ms);
    bool all = true;
    for (uint32_t i = 0; i < b.common.inflight_count; i++)
        all = run_one(&b, b.common.inflight[i]) && all;
    cluster_stop(&b);
    bc_remove_tree(b.dir);
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
    return all ? 0 : 1;
}
