/* The fixture cluster of ledger FSMs: see raft_harness.h. */
#include "raft_harness.h"

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

bool harness_open(harness *h, unsigned n, uint64_t seed, unsigned snapshot_threshold,
                  unsigned snapshot_trailing)
{
    memset(h, 0, sizeof(*h)); /* raft_fixture_initialize leaves fields unset */
    if (n < 1 || n > HARNESS_SERVERS_MAX) return false;
    h->n = n;
    if (raft_fixture_initialize(&h->fixture) != 0 || led_gen_open(seed, &h->gen) != TK_OK) {
        fprintf(stderr, "harness: cannot initialize the fixture\n");
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        harness_replica *rep = &h->replicas[i];
        if (clu_fsm_open(&rep->fsm) != TK_OK) return false;
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
        raft_set_snapshot_threshold(rep->raft, snapshot_threshold);
        raft_set_snapshot_trailing(rep->raft, snapshot_trailing);
        h->fixture.servers[i].io.truncate = truncate_noop;
    }
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
    if (leader >= h->n || count < 1 || count > HARNESS_ENTRY_EVENTS_MAX) return false;
    harness_replica *rep = &h->replicas[leader];
    const led_state *state = clu_fsm_state(rep->fsm);
    clu_fsm_stats stats;
    clu_fsm_stats_get(rep->fsm, &stats);
    led_event events[HARNESS_ENTRY_EVENTS_MAX];
    for (uint32_t i = 0; i < count; i++)
        led_gen_next(h->gen, state, stats.ledger_index + 1 + i, &events[i]);
    size_t cap = CLU_ENTRY_HEADER_BYTES + count * (2u + LED_EVENT_BYTES_MAX);
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

void harness_close(harness *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        clu_fsm_close(h->replicas[i].fsm);
        free(h->replicas[i].records);
    }
    led_gen_close(h->gen);
}
