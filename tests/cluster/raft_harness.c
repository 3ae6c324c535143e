/* The fixture cluster of ledger FSMs: see raft_harness.h. */
#include "raft_harness.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool record(harness_replica *rep, uint64_t raft_index)
{
    if (raft_index >= rep->records_cap) {
        uint64_t cap = rep->records_cap == 0 ? 1024 : rep->records_cap;
        while (cap <= raft_index)
            cap *= 2;
        harness_record *grown = realloc(rep->records, cap * sizeof(*grown));
        if (grown == NULL) return false;
        memset(grown + rep->records_cap, 0, (cap - rep->records_cap) * sizeof(*grown));
        rep->records = grown;
        rep->records_cap = cap;
    }
    harness_record now = {.set = true};
    clu_fsm_stats stats;
    clu_fsm_stats_get(rep->fsm, &stats);
    now.ledger_index = stats.ledger_index;
    clu_fsm_chain_hash(rep->fsm, now.chain_hash);
    harness_record *slot = &rep->records[raft_index];
    if (slot->set && (slot->ledger_index != now.ledger_index ||
                      memcmp(slot->chain_hash, now.chain_hash, LED_HASH_BYTES) != 0))
        rep->reapplied_differently++;
    *slot = now;
    return true;
}

static int wrap_apply(struct raft_fsm *wrapper, const struct raft_buffer *buf, void **result)
{
    harness_replica *rep = wrapper->data;
    uint64_t raft_index = raft_last_applied(rep->raft) + 1;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    int rv = inner->apply(inner, buf, result);
    if (rv == 0 && !record(rep, raft_index)) return RAFT_NOMEM;
    return rv;
}

static int wrap_snapshot(struct raft_fsm *wrapper, struct raft_buffer *bufs[], unsigned *n)
{
    harness_replica *rep = wrapper->data;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    return inner->snapshot(inner, bufs, n);
}

static int wrap_finalize(struct raft_fsm *wrapper, struct raft_buffer *bufs[], unsigned *n)
{
    harness_replica *rep = wrapper->data;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    return inner->snapshot_finalize(inner, bufs, n);
}

static int wrap_restore(struct raft_fsm *wrapper, struct raft_buffer *buf)
{
    harness_replica *rep = wrapper->data;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    return inner->restore(inner, buf);
}

/* The fixture's io truncate of 0.15 can read past its buffer after a snapshot install; the
 * array it truncates is only read back at start, so a no-op changes nothing the test sees
 * (docs/cluster.md, "libraft 0.15"). */
static int truncate_noop(struct raft_io *io, raft_index index)
{
    (void)io;
    (void)index;
    return 0;
}

/* The replica whose raft instance owns io (raft_init points io->data at the instance, whose
 * fsm is the harness's wrapper). */
static harness_replica *replica_of_io(struct raft_io *io)
{
    struct raft *raft = io->data;
    TK_ASSERT(raft != NULL);
    harness_replica *rep = raft->fsm->data;
    TK_ASSERT(rep->raft == raft);
    return rep;
}

/* Give the disk request server rep is about to make its completion time: not before the base
 * latency, not before the previous request (a disk completes in order), not before a stall
 * ends. The fixture reads the latency when the request is made, so set it just before. */
static void disk_schedule(harness_replica *rep)
{
    harness *h = rep->owner;
    raft_time now = raft_fixture_time(&h->fixture);
    raft_time due = now + h->disk_latency_ms;
    if (due < rep->disk_due_last) due = rep->disk_due_last;
    if (due < rep->disk_stall_until) due = rep->disk_stall_until;
    TK_ASSERT(due >= now);
    TK_ASSERT(due - now <= UINT32_MAX);
    raft_fixture_set_disk_latency(&h->fixture, (unsigned)(rep - h->replicas),
                                  (unsigned)(due - now));
    rep->disk_due_last = due;
}

static int ordered_append(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    harness_replica *rep = replica_of_io(io);
    disk_schedule(rep);
    return rep->fixture_append(io, req, entries, n, cb);
}

static int ordered_snapshot_put(struct raft_io *io, unsigned trailing,
                                struct raft_io_snapshot_put *req,
                                const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    harness_replica *rep = replica_of_io(io);
    disk_schedule(rep);
    return rep->fixture_snapshot_put(io, trailing, req, snapshot, cb);
}

static int ordered_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                                raft_io_snapshot_get_cb cb)
{
    harness_replica *rep = replica_of_io(io);
    disk_schedule(rep);
    return rep->fixture_snapshot_get(io, req, cb);
}

static void barrier_done(struct raft_barrier *req, int status);

/* Once per leader: count it, and give it its barrier when the harness asks for one. */
static void note_leaders(harness *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        struct raft *raft = h->replicas[i].raft;
        if (!raft_fixture_alive(&h->fixture, i) || raft_state(raft) != RAFT_LEADER) continue;
        if (raft->current_term <= h->leader_term_max) continue;
        h->leader_term_max = raft->current_term;
        h->elections++;
        if (!h->barrier_on_election) continue;
        struct raft_barrier *req = malloc(sizeof(*req));
        if (req == NULL) continue; /* a test run: a missed barrier only weakens the run */
        if (raft_barrier(raft, req, barrier_done) != 0) {
            free(req);
            continue;
        }
        h->barriers++;
    }
}

/* After every fixture step: network latency follows the stalls (a message sent during a stall
 * arrives when it ends; the fixture reads the latency when it flushes the send, which happens
 * at the fixture time of the send, so this keeps each sender's messages in order), and
 * leaders are noted. */
static void step_hook(struct raft_fixture *f, struct raft_fixture_event *event)
{
    (void)event;
    harness *h = (harness *)(void *)f; /* the fixture is the harness's first member */
    raft_time now = raft_fixture_time(f);
    for (unsigned i = 0; i < h->n; i++) {
        raft_time until = h->replicas[i].net_stall_until;
        raft_time latency = h->net_latency_ms;
        if (until > now && until - now > latency) latency = until - now;
        TK_ASSERT(latency <= UINT32_MAX);
        raft_fixture_set_network_latency(f, i, (unsigned)latency);
    }
    note_leaders(h);
}

_Static_assert(offsetof(harness, fixture) == 0, "step_hook finds the harness from its fixture");

static bool replica_open(harness *h, unsigned i, const harness_opts *opts)
{
    harness_replica *rep = &h->replicas[i];
    if (clu_fsm_open(&rep->fsm) != TK_OK) return false;
    rep->owner = h;
    rep->wrapper = (struct raft_fsm){.version = 2,
                                     .data = rep,
                                     .apply = wrap_apply,
                                     .snapshot = wrap_snapshot,
                                     .snapshot_finalize = wrap_finalize,
                                     .restore = wrap_restore};
    if (raft_fixture_grow(&h->fixture, &rep->wrapper) != 0) return false;
    rep->raft = raft_fixture_get(&h->fixture, i);
    clu_fsm_attach(rep->fsm, rep->raft);
    raft_set_pre_vote(rep->raft, true);
    raft_set_snapshot_threshold(rep->raft, opts->snapshot_threshold);
    raft_set_snapshot_trailing(rep->raft, opts->snapshot_trailing);
    raft_set_election_timeout(rep->raft, opts->election_timeout_ms);
    raft_set_heartbeat_timeout(rep->raft, opts->heartbeat_timeout_ms);
    struct raft_io *io = &h->fixture.servers[i].io;
    io->truncate = truncate_noop;
    if (opts->faults) {
        TK_ASSERT(io->data == rep->raft); /* what replica_of_io relies on */
        rep->fixture_append = io->append;
        rep->fixture_snapshot_put = io->snapshot_put;
        rep->fixture_snapshot_get = io->snapshot_get;
        io->append = ordered_append;
        io->snapshot_put = ordered_snapshot_put;
        io->snapshot_get = ordered_snapshot_get;
    }
    return true;
}

bool harness_open_opts(harness *h, const harness_opts *opts)
{
    memset(h, 0, sizeof(*h)); /* raft_fixture_initialize leaves fields unset */
    unsigned n = opts->servers;
    if (n < 1 || n > HARNESS_SERVERS_MAX) return false;
    if (opts->barrier_on_election && !opts->faults) return false;
    h->n = n;
    h->faults = opts->faults;
    h->barrier_on_election = opts->barrier_on_election;
    h->disk_latency_ms = 10; /* the fixture's defaults */
    h->net_latency_ms = 15;
    if (raft_fixture_initialize(&h->fixture) != 0 || led_gen_open(opts->seed, &h->gen) != TK_OK) {
        fprintf(stderr, "harness: cannot initialize the fixture\n");
        return false;
    }
    for (unsigned i = 0; i < n; i++)
        if (!replica_open(h, i, opts)) return false;
    if (opts->faults) raft_fixture_hook(&h->fixture, step_hook);
    struct raft_configuration conf;
    if (raft_fixture_configuration(&h->fixture, n, &conf) != 0) return false;
    int rv = raft_fixture_bootstrap(&h->fixture, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 || raft_fixture_start(&h->fixture) != 0) {
        fprintf(stderr, "harness: cannot bootstrap or start\n");
        return false;
    }
    return true;
}

bool harness_open(harness *h, unsigned n, uint64_t seed, unsigned snapshot_threshold,
                  unsigned snapshot_trailing)
{
    harness_opts opts = {.servers = n,
                         .seed = seed,
                         .snapshot_threshold = snapshot_threshold,
                         .snapshot_trailing = snapshot_trailing,
                         .election_timeout_ms = 1000, /* the fixture's defaults */
                         .heartbeat_timeout_ms = 100,
                         .faults = false,
                         .barrier_on_election = false};
    return harness_open_opts(h, &opts);
}

void harness_disk_stall(harness *h, unsigned i, raft_time until_ms)
{
    TK_ASSERT(h->faults);
    TK_ASSERT(i < h->n);
    if (until_ms > h->replicas[i].disk_stall_until) h->replicas[i].disk_stall_until = until_ms;
}

void harness_net_stall(harness *h, unsigned i, raft_time until_ms)
{
    TK_ASSERT(h->faults);
    TK_ASSERT(i < h->n);
    if (until_ms > h->replicas[i].net_stall_until) h->replicas[i].net_stall_until = until_ms;
    step_hook(&h->fixture, NULL); /* from the next send on */
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
    (void)result;
    harness *h = req->data;
    if (status != 0) h->apply_failed++;
    free(req);
}

/* The live server that believes it leads, at the highest term; h->n if none. This is what a
 * client finds by asking (the fixture's own leader_index also wants every connected server to
 * agree, which a cut-off follower never does). */
static unsigned believed_leader(harness *h)
{
    unsigned leader = h->n;
    for (unsigned i = 0; i < h->n; i++) {
        if (!raft_fixture_alive(&h->fixture, i) || raft_state(h->replicas[i].raft) != RAFT_LEADER)
            continue;
        if (leader == h->n ||
            h->replicas[i].raft->current_term > h->replicas[leader].raft->current_term)
            leader = i;
    }
    return leader;
}

bool harness_propose(harness *h, uint32_t count)
{
    unsigned leader = believed_leader(h);
    if (leader >= h->n) return false;
    return harness_propose_on(h, leader, count);
}

bool harness_propose_on(harness *h, unsigned i, uint32_t count)
{
    if (i >= h->n || count < 1 || count > HARNESS_ENTRY_EVENTS_MAX) return false;
    harness_replica *rep = &h->replicas[i];
    if (!raft_fixture_alive(&h->fixture, i) || raft_state(rep->raft) != RAFT_LEADER) return false;
    const led_state *state = clu_fsm_state(rep->fsm);
    clu_fsm_stats stats;
    clu_fsm_stats_get(rep->fsm, &stats);
    led_event events[HARNESS_ENTRY_EVENTS_MAX];
    for (uint32_t e = 0; e < count; e++)
        led_gen_next(h->gen, state, stats.ledger_index + 1 + e, &events[e]);
    size_t cap = CLU_ENTRY_BYTES(count);
    struct raft_buffer buf = {.base = raft_malloc(cap)};
    struct raft_apply *req = malloc(sizeof(*req));
    if (buf.base == NULL || req == NULL ||
        clu_entry_encode(events, count, buf.base, cap, &buf.len) != TK_OK) {
        raft_free(buf.base);
        free(req);
        return false;
    }
    req->data = h;
    if (raft_apply(rep->raft, req, &buf, 1, apply_done) != 0) {
        raft_free(buf.base);
        free(req);
        return false;
    }
    h->proposed++;
    return true;
}

static void barrier_done(struct raft_barrier *req, int status)
{
    (void)status;
    free(req);
}

bool harness_heal(harness *h, unsigned max_msecs)
{
    struct raft_fixture *f = &h->fixture;
    for (unsigned i = 0; i < h->n; i++) {
        if (!raft_fixture_alive(f, i)) raft_fixture_revive(f, i);
        for (unsigned j = 0; j < h->n; j++) {
            if (i == j) continue;
            raft_fixture_reconnect(f, i, j);
            raft_fixture_desaturate(f, i, j);
        }
    }
    for (unsigned attempt = 0; attempt < 5; attempt++) {
        if (!raft_fixture_step_until_has_leader(f, max_msecs)) continue;
        unsigned leader = raft_fixture_leader_index(f);
        struct raft_barrier *req = malloc(sizeof(*req));
        if (req == NULL) return false;
        if (raft_barrier(h->replicas[leader].raft, req, barrier_done) != 0) {
            free(req);
            raft_fixture_step_until_elapsed(f, 100);
            continue;
        }
        raft_index target = raft_last_index(h->replicas[leader].raft);
        if (raft_fixture_step_until_applied(f, h->n, target, max_msecs)) return true;
    }
    return false;
}

void harness_compare(harness *h, harness_verdict *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t applied0 = raft_last_applied(h->replicas[0].raft);
    out->converged = true;
    for (unsigned i = 1; i < h->n; i++)
        if (raft_last_applied(h->replicas[i].raft) != applied0) out->converged = false;
    for (unsigned i = 0; i < h->n; i++) {
        if (h->replicas[i].reapplied_differently > 0 && out->first_diverged == 0)
            out->first_diverged = 1;
        for (unsigned j = i + 1; j < h->n; j++) {
            const harness_replica *a = &h->replicas[i];
            const harness_replica *b = &h->replicas[j];
            uint64_t top = a->records_cap < b->records_cap ? a->records_cap : b->records_cap;
            for (uint64_t k = 1; k < top; k++) {
                if (!a->records[k].set || !b->records[k].set) continue;
                out->compared++;
                bool same =
                    a->records[k].ledger_index == b->records[k].ledger_index &&
                    memcmp(a->records[k].chain_hash, b->records[k].chain_hash, LED_HASH_BYTES) == 0;
                if (!same && (out->first_diverged == 0 || k < out->first_diverged))
                    out->first_diverged = k;
            }
            clu_fsm_stats sa, sb;
            clu_fsm_stats_get(a->fsm, &sa);
            clu_fsm_stats_get(b->fsm, &sb);
            if (sa.raft_index != sb.raft_index) continue;
            uint8_t ha[LED_HASH_BYTES], hb[LED_HASH_BYTES];
            led_state_hash(clu_fsm_state(a->fsm), ha);
            led_state_hash(clu_fsm_state(b->fsm), hb);
            if (memcmp(ha, hb, LED_HASH_BYTES) != 0) out->state_hash_differs = true;
        }
    }
}

/* One recorded point of a replica, for sorting by ledger index. */
typedef struct ledger_point {
    uint64_t ledger_index;
    const uint8_t *chain_hash; /* borrowed from the replica's records */
} ledger_point;

static int ledger_point_cmp(const void *a, const void *b)
{
    const ledger_point *pa = a;
    const ledger_point *pb = b;
    if (pa->ledger_index != pb->ledger_index) return pa->ledger_index < pb->ledger_index ? -1 : 1;
    return memcmp(pa->chain_hash, pb->chain_hash, LED_HASH_BYTES);
}

/* The replica's recorded points sorted by ledger index; *out_count of them. NULL: none or no
 * memory (the caller then finds no conflict, and says nothing false). */
static ledger_point *ledger_points(const harness_replica *rep, uint64_t *out_count)
{
    uint64_t count = 0;
    for (uint64_t k = 1; k < rep->records_cap; k++)
        count += rep->records[k].set ? 1u : 0u;
    *out_count = 0;
    if (count == 0) return NULL;
    ledger_point *points = malloc(count * sizeof(*points));
    if (points == NULL) return NULL;
    uint64_t at = 0;
    for (uint64_t k = 1; k < rep->records_cap; k++) {
        if (!rep->records[k].set) continue;
        points[at].ledger_index = rep->records[k].ledger_index;
        points[at].chain_hash = rep->records[k].chain_hash;
        at++;
    }
    TK_ASSERT(at == count);
    qsort(points, count, sizeof(*points), ledger_point_cmp);
    *out_count = count;
    return points;
}

/* The lowest ledger index at which a and b hold a point with different chain hashes; 0. */
static uint64_t points_conflict(const ledger_point *a, uint64_t na, const ledger_point *b,
                                uint64_t nb)
{
    uint64_t i = 0, j = 0;
    while (i < na && j < nb) {
        uint64_t ledger = a[i].ledger_index;
        if (ledger < b[j].ledger_index) {
            i++;
            continue;
        }
        if (ledger > b[j].ledger_index) {
            j++;
            continue;
        }
        uint64_t i_end = i, j_end = j;
        while (i_end < na && a[i_end].ledger_index == ledger)
            i_end++;
        while (j_end < nb && b[j_end].ledger_index == ledger)
            j_end++;
        for (uint64_t x = i; x < i_end; x++)
            for (uint64_t y = j; y < j_end; y++)
                if (memcmp(a[x].chain_hash, b[y].chain_hash, LED_HASH_BYTES) != 0) return ledger;
        i = i_end;
        j = j_end;
    }
    return 0;
}

uint64_t harness_ledger_conflict(const harness *h)
{
    ledger_point *points[HARNESS_SERVERS_MAX] = {NULL};
    uint64_t counts[HARNESS_SERVERS_MAX] = {0};
    for (unsigned i = 0; i < h->n; i++)
        points[i] = ledger_points(&h->replicas[i], &counts[i]);
    uint64_t lowest = 0;
    for (unsigned i = 0; i < h->n; i++) {
        for (unsigned j = i + 1; j < h->n; j++) {
            uint64_t at = points_conflict(points[i], counts[i], points[j], counts[j]);
            if (at != 0 && (lowest == 0 || at < lowest)) lowest = at;
        }
    }
    for (unsigned i = 0; i < h->n; i++)
        free(points[i]);
    return lowest;
}

void harness_close(harness *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        clu_fsm_close(h->replicas[i].fsm);
        free(h->replicas[i].records);
    }
    led_gen_close(h->gen);
}
