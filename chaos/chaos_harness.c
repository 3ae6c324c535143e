/* The deterministic tier's harness: a fixture cluster of ledger FSMs (chaos.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"

static bool record(chaos_harness_replica *rep, uint64_t raft_index)
{
    if (raft_index >= rep->records_cap) {
        uint64_t cap = rep->records_cap == 0 ? 1024 : rep->records_cap;
        while (cap <= raft_index)
            cap *= 2;
        chaos_harness_record *grown = realloc(rep->records, cap * sizeof(*grown));
        if (grown == NULL) return false;
        memset(grown + rep->records_cap, 0, (cap - rep->records_cap) * sizeof(*grown));
        rep->records = grown;
        rep->records_cap = cap;
    }
    chaos_harness_record now = {.set = true};
    clu_fsm_stats stats;
    clu_fsm_stats_get(rep->fsm, &stats);
    now.ledger_index = stats.ledger_index;
    clu_fsm_chain_hash(rep->fsm, now.chain_hash);
    chaos_harness_record *slot = &rep->records[raft_index];
    if (slot->set && (slot->ledger_index != now.ledger_index ||
                      memcmp(slot->chain_hash, now.chain_hash, LED_HASH_BYTES) != 0))
        rep->reapplied_differently++;
    *slot = now;
    return true;
}

static bool chain_reserve(chaos_harness_replica *rep, uint64_t ledger_index)
{
    if (ledger_index < rep->chain_cap) return true;
    uint64_t cap = rep->chain_cap == 0 ? 4096 : rep->chain_cap;
    while (cap <= ledger_index)
        cap *= 2;
    chaos_harness_chain *grown = realloc(rep->chain, cap * sizeof(*grown));
    if (grown == NULL) return false;
    memset(grown + rep->chain_cap, 0, (cap - rep->chain_cap) * sizeof(*grown));
    rep->chain = grown;
    rep->chain_cap = cap;
    return true;
}

static bool chain_record(chaos_harness_replica *rep, uint64_t ledger_index,
                         const uint8_t hash[LED_HASH_BYTES])
{
    if (!chain_reserve(rep, ledger_index)) return false;
    chaos_harness_chain *slot = &rep->chain[ledger_index];
    if (!slot->set) memcpy(slot->first, hash, LED_HASH_BYTES);
    memcpy(slot->last, hash, LED_HASH_BYTES);
    slot->set = true;
    return true;
}

/* The chain hash of every event the FSM just folded from buf, from prev (the FSM's chain hash
 * before the entry) over the entry's framing (docs/cluster.md); the last must be the FSM's. */
static bool record_events(chaos_harness_replica *rep, const struct raft_buffer *buf,
                          uint64_t before, const uint8_t prev[LED_HASH_BYTES])
{
    clu_fsm_stats stats;
    clu_fsm_stats_get(rep->fsm, &stats);
    if (stats.ledger_index == before) return true; /* skipped, or refused: no event */
    TK_ASSERT(stats.ledger_index > before);
    uint8_t hash[LED_HASH_BYTES];
    memcpy(hash, prev, LED_HASH_BYTES);
    const uint8_t *at = (const uint8_t *)buf->base + CLU_ENTRY_HEADER_BYTES;
    const uint8_t *end = (const uint8_t *)buf->base + buf->len;
    for (uint64_t index = before + 1; index <= stats.ledger_index; index++) {
        TK_ASSERT(at + 2 <= end);
        size_t size = (size_t)at[0] << 8 | at[1];
        TK_ASSERT(at + 2 + size <= end);
        led_chain_next(hash, index, at + 2, size, hash);
        if (!chain_record(rep, index, hash)) return false;
        at += 2 + size;
    }
    uint8_t fsm_hash[LED_HASH_BYTES];
    clu_fsm_chain_hash(rep->fsm, fsm_hash);
    TK_ASSERT(memcmp(hash, fsm_hash, LED_HASH_BYTES) == 0);
    return true;
}

static int wrap_apply(struct raft_fsm *wrapper, const struct raft_buffer *buf, void **result)
{
    chaos_harness_replica *rep = wrapper->data;
    uint64_t raft_index = raft_last_applied(rep->raft) + 1;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    clu_fsm_stats before;
    clu_fsm_stats_get(rep->fsm, &before);
    uint8_t prev[LED_HASH_BYTES];
    clu_fsm_chain_hash(rep->fsm, prev);
    int rv = inner->apply(inner, buf, result);
    if (rv != 0) return rv;
    if (!record(rep, raft_index)) return RAFT_NOMEM;
    if (!record_events(rep, buf, before.ledger_index, prev)) return RAFT_NOMEM;
    return 0;
}

static int wrap_snapshot(struct raft_fsm *wrapper, struct raft_buffer *bufs[], unsigned *n)
{
    chaos_harness_replica *rep = wrapper->data;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    return inner->snapshot(inner, bufs, n);
}

static int wrap_finalize(struct raft_fsm *wrapper, struct raft_buffer *bufs[], unsigned *n)
{
    chaos_harness_replica *rep = wrapper->data;
    struct raft_fsm *inner = clu_fsm_raft(rep->fsm);
    return inner->snapshot_finalize(inner, bufs, n);
}

static int wrap_restore(struct raft_fsm *wrapper, struct raft_buffer *buf)
{
    chaos_harness_replica *rep = wrapper->data;
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
static chaos_harness_replica *replica_of_io(struct raft_io *io)
{
    struct raft *raft = io->data;
    TK_ASSERT(raft != NULL);
    chaos_harness_replica *rep = raft->fsm->data;
    TK_ASSERT(rep->raft == raft);
    return rep;
}

/* Give the disk request server rep is about to make its completion time: not before the base
 * latency, not before the previous request (a disk completes in order), not before a stall
 * ends. The fixture reads the latency when the request is made, so set it just before. */
static void disk_schedule(chaos_harness_replica *rep)
{
    chaos_harness *h = rep->owner;
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
    chaos_harness_replica *rep = replica_of_io(io);
    disk_schedule(rep);
    return rep->fixture_append(io, req, entries, n, cb);
}

static int ordered_snapshot_put(struct raft_io *io, unsigned trailing,
                                struct raft_io_snapshot_put *req,
                                const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    chaos_harness_replica *rep = replica_of_io(io);
    disk_schedule(rep);
    return rep->fixture_snapshot_put(io, trailing, req, snapshot, cb);
}

static int ordered_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                                raft_io_snapshot_get_cb cb)
{
    chaos_harness_replica *rep = replica_of_io(io);
    disk_schedule(rep);
    return rep->fixture_snapshot_get(io, req, cb);
}

/* The term of the entry at index in a server's in-memory log, or of its snapshot's last
 * entry; 0 if it has neither (struct raft_log is public in libraft 0.15's raft.h). */
static raft_term term_of(const struct raft *raft, raft_index index)
{
    bool known = false;
    return clu_guard_log_term(&raft->log, index, &known); /* 0 where the log does not hold it */
}

static raft_index last_index_of(const struct raft *raft)
{
    return raft_last_index((struct raft *)raft); /* libraft 0.15 takes no const */
}

/* Whether a and b hold entries of different terms (or one lacks one) in (from, to]. Indices
 * neither holds any more (compacted) are not compared. */
static bool logs_differ(const struct raft *a, const struct raft *b, raft_index from, raft_index to)
{
    for (raft_index index = from + 1; index <= to; index++) {
        raft_term ta = term_of(a, index);
        raft_term tb = term_of(b, index);
        if (ta == 0 && tb == 0) continue;
        if (ta != tb) return true;
    }
    return false;
}

/* An AppendEntries to rep from sender, before delivery: the stale append that libraft 0.15
 * mishandles, and bug 2 on the follower's side (its commit index becomes min(leader commit,
 * its last index), over entries past the ones matched). */
static void observe_append(chaos_harness_replica *rep, const struct raft *sender,
                           const struct raft_append_entries *ae)
{
    chaos_harness *h = rep->owner;
    const struct raft *raft = rep->raft;
    if (ae->term < raft->current_term) return; /* refused */
    if (ae->prev_log_index == 0 && ae->n_entries > 0 && raft->log.offset > 0) {
        h->stale_appends++;
        if (h->on_stale_append != NULL) h->on_stale_append(h, (unsigned)(rep - h->replicas));
    }
    if (ae->prev_log_index != 0 && term_of(raft, ae->prev_log_index) != ae->prev_log_term)
        return; /* refused: no match at prev */
    raft_index matched = ae->prev_log_index + ae->n_entries;
    raft_index commit = ae->leader_commit;
    if (last_index_of(raft) < commit) commit = last_index_of(raft);
    if (commit <= raft->commit_index || commit <= matched) return;
    if (logs_differ(raft, sender, matched, commit)) h->unverified_commits++;
}

/* A successful AppendEntries result to a leader: bug 2 on the leader's side. */
static void observe_result(chaos_harness_replica *rep, const struct raft *sender,
                           const struct raft_append_entries_result *result)
{
    const struct raft *raft = rep->raft;
    if (raft_state((struct raft *)raft) != RAFT_LEADER || result->rejected != 0) return;
    if (result->term != raft->current_term) return;
    raft_index from = raft->commit_index;
    if (result->last_log_index > from && logs_differ(raft, sender, from, result->last_log_index))
        rep->owner->false_matches++;
}

/* Watch what server rep receives, and deliver it unchanged: see chaos_harness.stale_appends and
 * the bug counters. */
static void observe_recv(struct raft_io *io, struct raft_message *message)
{
    chaos_harness_replica *rep = replica_of_io(io);
    chaos_harness *h = rep->owner;
    raft_id from = message->server_id; /* the fixture sets the sender's id before delivery */
    if (from >= 1 && from <= h->n) {
        const struct raft *sender = h->replicas[from - 1].raft;
        if (message->type == RAFT_IO_APPEND_ENTRIES)
            observe_append(rep, sender, &message->append_entries);
        if (message->type == RAFT_IO_APPEND_ENTRIES_RESULT)
            observe_result(rep, sender, &message->append_entries_result);
    }
    /* a lost message: its buffers stay with libraft's fixture, held to the end of the run */
    if (h->drop != NULL && h->drop(h, (unsigned)(rep - h->replicas), message)) return;
    rep->fixture_recv(io, message);
}

static int observed_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                          raft_io_recv_cb recv)
{
    chaos_harness_replica *rep = replica_of_io(io);
    rep->fixture_recv = recv;
    return rep->fixture_start(io, msecs, tick, observe_recv);
}

static void barrier_done(struct raft_barrier *req, int status);

/* Once per leader: count it, and give it its barrier when the harness asks for one. */
static void note_election(chaos_harness *h, struct raft *raft)
{
    h->leader_term_max = raft->current_term;
    h->elections++;
    if (!h->barrier_on_election) return;
    struct raft_barrier *req = malloc(sizeof(*req));
    if (req == NULL) return; /* a test run: a missed barrier only weakens the run */
    if (raft_barrier(raft, req, barrier_done) != 0) {
        free(req);
        return;
    }
    h->barriers++;
}

/* Leaders: new ones, and bug 1 (a leader's commit index moving onto an earlier term's entry;
 * Raft moves it only onto entries of the leader's own term). */
static void note_leaders(chaos_harness *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        chaos_harness_replica *rep = &h->replicas[i];
        struct raft *raft = rep->raft;
        if (!raft_fixture_alive(&h->fixture, i) || raft_state(raft) != RAFT_LEADER) continue;
        if (raft->current_term > h->leader_term_max) note_election(h, raft);
        /* a commit index landing on the snapshot's last index came from an install that
         * completed after the election (libraft sets it then), not from counting replicas */
        if (rep->led_term == raft->current_term && raft->commit_index > rep->led_commit &&
            term_of(raft, raft->commit_index) < raft->current_term &&
            raft->commit_index != raft->log.snapshot.last_index)
            h->old_term_commits++;
        rep->led_term = raft->current_term;
        rep->led_commit = raft->commit_index;
    }
}

/* After every fixture step: network latency follows the stalls (a message sent during a stall
 * arrives when it ends; the fixture reads the latency when it flushes the send, which happens
 * at the fixture time of the send, so this keeps each sender's messages in order), and
 * leaders are noted. */
static void step_hook(struct raft_fixture *f, struct raft_fixture_event *event)
{
    (void)event;
    chaos_harness *h = (chaos_harness *)(void *)f; /* the fixture is the harness's first member */
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

_Static_assert(offsetof(chaos_harness, fixture) == 0,
               "step_hook finds the harness from its fixture");

static bool replica_open(chaos_harness *h, unsigned i, const chaos_harness_opts *opts)
{
    chaos_harness_replica *rep = &h->replicas[i];
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
        rep->fixture_start = io->start;
        io->start = observed_start;
    }
    if (opts->guard && clu_guard_attach(io, opts->guard_rules, &rep->guard) != TK_OK) {
        fprintf(stderr, "chaos harness: cannot attach the guard\n");
        return false;
    }
    return true;
}

bool chaos_harness_open_opts(chaos_harness *h, const chaos_harness_opts *opts)
{
    memset(h, 0, sizeof(*h)); /* raft_fixture_initialize leaves fields unset */
    unsigned n = opts->servers;
    if (n < 1 || n > CHAOS_HARNESS_SERVERS_MAX) return false;
    if (opts->barrier_on_election && !opts->faults) return false;
    h->n = n;
    h->faults = opts->faults;
    h->barrier_on_election = opts->barrier_on_election;
    h->unique_events = opts->unique_events;
    h->disk_latency_ms = 10; /* the fixture's defaults */
    h->net_latency_ms = 15;
    if (raft_fixture_initialize(&h->fixture) != 0 || led_gen_open(opts->seed, &h->gen) != TK_OK) {
        fprintf(stderr, "chaos harness: cannot initialize the fixture\n");
        return false;
    }
    for (unsigned i = 0; i < n; i++)
        if (!replica_open(h, i, opts)) return false;
    if (opts->faults) raft_fixture_hook(&h->fixture, step_hook);
    struct raft_configuration conf;
    if (raft_fixture_configuration(&h->fixture, n, &conf) != 0) return false;
    int rv = raft_fixture_bootstrap(&h->fixture, &conf);
    raft_configuration_close(&conf);
    if (rv == 0 && opts->before_start != NULL) opts->before_start(h, opts->before_start_arg);
    if (rv != 0 || raft_fixture_start(&h->fixture) != 0) {
        fprintf(stderr, "chaos harness: cannot bootstrap or start\n");
        return false;
    }
    return true;
}

bool chaos_harness_open(chaos_harness *h, unsigned n, uint64_t seed, unsigned snapshot_threshold,
                        unsigned snapshot_trailing)
{
    chaos_harness_opts opts = {.servers = n,
                               .seed = seed,
                               .snapshot_threshold = snapshot_threshold,
                               .snapshot_trailing = snapshot_trailing,
                               .election_timeout_ms = 1000, /* the fixture's defaults */
                               .heartbeat_timeout_ms = 100,
                               .faults = false,
                               .barrier_on_election = false,
                               .unique_events = false};
    return chaos_harness_open_opts(h, &opts);
}

void chaos_harness_disk_stall(chaos_harness *h, unsigned i, raft_time until_ms)
{
    TK_ASSERT(h->faults);
    TK_ASSERT(i < h->n);
    if (until_ms > h->replicas[i].disk_stall_until) h->replicas[i].disk_stall_until = until_ms;
}

void chaos_harness_net_stall(chaos_harness *h, unsigned i, raft_time until_ms)
{
    TK_ASSERT(h->faults);
    TK_ASSERT(i < h->n);
    if (until_ms > h->replicas[i].net_stall_until) h->replicas[i].net_stall_until = until_ms;
    step_hook(&h->fixture, NULL); /* from the next send on */
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
    (void)result;
    chaos_harness *h = req->data;
    if (status != 0) h->apply_failed++;
    for (size_t i = 0; i < h->pending_count; i++) {
        if (h->pending[i] != req) continue;
        h->pending[i] = h->pending[--h->pending_count];
        break;
    }
    free(req);
}

unsigned chaos_harness_leader(chaos_harness *h)
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

bool chaos_harness_propose(chaos_harness *h, uint32_t count)
{
    unsigned leader = chaos_harness_leader(h);
    if (leader >= h->n) return false;
    return chaos_harness_propose_on(h, leader, count);
}

bool chaos_harness_propose_on(chaos_harness *h, unsigned i, uint32_t count)
{
    if (i >= h->n || count < 1 || count > CHAOS_HARNESS_ENTRY_EVENTS_MAX) return false;
    chaos_harness_replica *rep = &h->replicas[i];
    if (!raft_fixture_alive(&h->fixture, i) || raft_state(rep->raft) != RAFT_LEADER) return false;
    const led_state *state = clu_fsm_state(rep->fsm);
    clu_fsm_stats stats;
    clu_fsm_stats_get(rep->fsm, &stats);
    uint64_t first = stats.ledger_index + 1;
    if (h->unique_events && first < h->gen_next) first = h->gen_next;
    led_event events[CHAOS_HARNESS_ENTRY_EVENTS_MAX];
    for (uint32_t e = 0; e < count; e++)
        led_gen_next(h->gen, state, first + e, &events[e]);
    if (h->unique_events) h->gen_next = first + count;
    size_t cap = CLU_ENTRY_BYTES(count);
    struct raft_buffer buf = {.base = raft_malloc(cap)};
    struct raft_apply *req = malloc(sizeof(*req));
    if (h->pending_count == h->pending_cap) { /* kept until answered, or chaos_harness_close */
        size_t cap_new = h->pending_cap == 0 ? 64 : 2 * h->pending_cap;
        struct raft_apply **grown = realloc(h->pending, cap_new * sizeof(*grown));
        if (grown == NULL) {
            free(req);
            req = NULL;
        } else {
            h->pending = grown;
            h->pending_cap = cap_new;
        }
    }
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
    h->pending[h->pending_count++] = req;
    h->proposed++;
    return true;
}

static void barrier_done(struct raft_barrier *req, int status)
{
    (void)status;
    free(req);
}

bool chaos_harness_heal(chaos_harness *h, unsigned max_msecs)
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
        if (!raft_fixture_step_until_applied(f, h->n, target, max_msecs)) continue;
        /* entries the leader appended meanwhile (the guard's barrier of its term) too, so that
         * the replicas end at one applied index */
        raft_index last = raft_last_index(h->replicas[leader].raft);
        if (last == target || raft_fixture_step_until_applied(f, h->n, last, max_msecs))
            return true;
    }
    return false;
}

void chaos_harness_compare(const chaos_harness *h, chaos_harness_verdict *out)
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
            const chaos_harness_replica *a = &h->replicas[i];
            const chaos_harness_replica *b = &h->replicas[j];
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

/* Whether the hashes recorded for one ledger index, by all replicas, are not all the same. */
static bool chain_disagrees(const chaos_harness *h, uint64_t ledger_index)
{
    const uint8_t *seen = NULL;
    for (unsigned i = 0; i < h->n; i++) {
        const chaos_harness_replica *rep = &h->replicas[i];
        if (ledger_index >= rep->chain_cap || !rep->chain[ledger_index].set) continue;
        const chaos_harness_chain *slot = &rep->chain[ledger_index];
        if (seen == NULL) seen = slot->first;
        if (memcmp(seen, slot->first, LED_HASH_BYTES) != 0) return true;
        if (memcmp(seen, slot->last, LED_HASH_BYTES) != 0) return true;
    }
    return false;
}

uint64_t chaos_harness_ledger_conflict(const chaos_harness *h)
{
    uint64_t top = 0;
    for (unsigned i = 0; i < h->n; i++)
        if (h->replicas[i].chain_cap > top) top = h->replicas[i].chain_cap;
    for (uint64_t index = 1; index < top; index++)
        if (chain_disagrees(h, index)) return index;
    return 0;
}

void chaos_harness_close(chaos_harness *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        clu_guard_detach(h->replicas[i].guard); /* nothing runs the fixture after this */
        clu_fsm_close(h->replicas[i].fsm);
        free(h->replicas[i].records);
        free(h->replicas[i].chain);
    }
    for (size_t i = 0; i < h->pending_count; i++) /* never answered: the fixture stays open */
        free(h->pending[i]);
    free(h->pending);
    led_gen_close(h->gen);
}
