/* The protocol guard around a raft_io (docs/cluster.md, "The protocol guard"): libraft 0.15
 * lets replicas apply different entries at the same index (../shared/notes/raft-0.15.md, bugs
 * 1 and 2). The guard sees every message a server sends and receives, at the io boundary,
 * without touching the library: it swaps the io's start and send methods in place, and so
 * interposes on the receive and tick callbacks raft hands to start. Every rule only ever lowers
 * the last log index a successful AppendEntries result reports, so the guard can withhold a
 * commit but never create one.
 *
 *   follower  a node claims only what it verified: the highest index at which its log is known
 *             to match the current leader's in the current term (Log Matching, Raft paper 5.3),
 *             from each AppendEntries of that term (before raft processes it, since a heartbeat
 *             is answered synchronously, and after) and each InstallSnapshot of that term.
 *   leader    an entry of an earlier term is never committed by counting replicas (Raft paper
 *             5.4.2, figure 8): a result above the commit index counts only up to the commit
 *             index unless both its index and the leader's own last stored entry hold the
 *             current term (libraft commits at its last stored index); and no follower is
 *             counted above what this leader sent it in this term.
 *   liveness  a new leader proposes a barrier once per term, so that an entry of its own term
 *             exists to carry the earlier ones.
 *
 * This file and clu_raft.c are the only ones that include raft.h. Context: every callback runs
 * on the server's loop thread; attach and detach run on it too, or before it runs. */
#include <pthread.h>
#include <raft.h>
#include <stdlib.h>
#include <string.h>

#include "clu.h"

#define GUARDS_MAX 64u /* guards attached at once in one process */
#define PEERS_MAX  16u /* followers a leader tracks */

/* What a leader sent one follower in the current term. */
typedef struct sent_to {
    raft_id id;
    raft_index index; /* prev index + entries of an AppendEntries, or a snapshot's last index */
} sent_to;

struct clu_guard {
    struct raft_io *io;
    struct raft *raft;
    unsigned rules; /* CLU_GUARD_* enforced; every rule counts what it would lower */
    int (*io_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv);
    int (*io_send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                   raft_io_send_cb cb);
    raft_io_tick_cb raft_tick;
    raft_io_recv_cb raft_recv;
    /* follower */
    raft_term verified_term;
    raft_index verified_index;
    raft_term *terms; /* owned: the terms of the entries of the message being received */
    size_t terms_cap;
    /* leader */
    raft_term sent_term;
    sent_to sent[PEERS_MAX];
    uint32_t sent_count;
    raft_term barrier_term; /* the term this guard last proposed a barrier in */
    clu_guard_counters counters;
};

/* io -> guard, for the methods and callbacks, which get only the io. */
static struct {
    pthread_mutex_t lock;
    struct {
        struct raft_io *io;
        clu_guard *guard;
    } at[GUARDS_MAX];
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER};

static clu_guard *guard_of(const struct raft_io *io)
{
    clu_guard *g = NULL;
    pthread_mutex_lock(&registry.lock);
    for (uint32_t i = 0; i < GUARDS_MAX && g == NULL; i++)
        if (registry.at[i].io == io) g = registry.at[i].guard;
    pthread_mutex_unlock(&registry.lock);
    TK_ASSERT(g != NULL); /* only attached ios have these methods */
    return g;
}

/* ---- The log, as raft_log lays it out in 0.15 ------------------------------------------------ */

/* The term of the entry at index in log: from the circular buffer (the entry at index
 * offset + 1 sits at slot front, the buffer wraps at size), or the snapshot's last term at its
 * last index. *known is false for an index the log does not hold (compacted below the snapshot,
 * or past the end). */
static raft_term log_term(const struct raft_log *log, raft_index index, bool *known)
{
    size_t count = log->size == 0            ? 0
                   : log->back >= log->front ? log->back - log->front
                                             : log->size - log->front + log->back;
    *known = true;
    if (index > log->offset && index - log->offset <= count) {
        size_t slot = (log->front + (size_t)(index - log->offset - 1u)) % log->size;
        return log->entries[slot].term;
    }
    if (index != 0 && index == log->snapshot.last_index) return log->snapshot.last_term;
    *known = false;
    return 0;
}

unsigned long long clu_guard_log_term(const struct raft_log *log, unsigned long long index,
                                      bool *known)
{
    TK_ASSERT(log != NULL && known != NULL);
    return log_term(log, index, known);
}

/* ---- Follower: what this server may claim ------------------------------------------------------
 */

/* The highest index at which this server's log is known to match the log of the leader that
 * sent an AppendEntries of prev_index/prev_term carrying entries of the n terms given, or 0:
 * matching at prev (by term, or inside this server's snapshot, which holds committed entries
 * only) extends through each carried entry this log holds with the same term. */
static raft_index verified_by(const struct raft *r, raft_index prev_index, raft_term prev_term,
                              const raft_term *terms, unsigned n)
{
    bool known = false;
    if (prev_index > r->log.snapshot.last_index) {
        raft_term t = log_term(&r->log, prev_index, &known);
        if (!known || t != prev_term) return 0;
    }
    raft_index at = prev_index;
    for (unsigned i = 0; i < n; i++) {
        raft_index next = prev_index + 1u + i;
        if (next > r->log.snapshot.last_index) {
            raft_term t = log_term(&r->log, next, &known);
            if (!known || t != terms[i]) break;
        }
        at = next;
    }
    return at;
}

/* A message of term: a later term starts over with nothing verified. */
static void follower_term(clu_guard *g, raft_term term)
{
    if (term > g->verified_term) {
        g->verified_term = term;
        g->verified_index = 0;
    }
}

static void follower_verified(clu_guard *g, raft_term term, raft_index index)
{
    if (term == g->verified_term && index > g->verified_index) g->verified_index = index;
}

/* Keep the carried entries' terms (raft may free the entries while it processes them). False
 * without memory: the message then verifies nothing beyond its prev index. */
static bool keep_terms(clu_guard *g, const struct raft_append_entries *ae)
{
    if (ae->n_entries > g->terms_cap) {
        raft_term *grown = realloc(g->terms, ae->n_entries * sizeof(*grown));
        if (grown == NULL) return false;
        g->terms = grown;
        g->terms_cap = ae->n_entries;
    }
    for (unsigned i = 0; i < ae->n_entries; i++)
        g->terms[i] = ae->entries[i].term;
    return true;
}

/* ---- Leader: what this server may count ---------------------------------------------------- */

static sent_to *sent_slot(clu_guard *g, raft_id id, bool add)
{
    for (uint32_t i = 0; i < g->sent_count; i++)
        if (g->sent[i].id == id) return &g->sent[i];
    if (!add || g->sent_count == PEERS_MAX) return NULL;
    g->sent[g->sent_count] = (sent_to){.id = id};
    return &g->sent[g->sent_count++];
}

/* Record what this leader sends a follower in its current term. */
static void leader_sent(clu_guard *g, const struct raft_message *m)
{
    const struct raft *r = g->raft;
    raft_index index = 0;
    raft_term term = 0;
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        term = m->append_entries.term;
        index = m->append_entries.prev_log_index + m->append_entries.n_entries;
    } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        term = m->install_snapshot.term;
        index = m->install_snapshot.last_index;
    } else {
        return;
    }
    if (term != r->current_term) return;
    if (g->sent_term != term) {
        g->sent_term = term;
        g->sent_count = 0;
    }
    sent_to *s = sent_slot(g, m->server_id, true);
    if (s != NULL && index > s->index) s->index = index;
}

/* The last log index a leader may count for a successful result from a follower. */
static raft_index leader_countable(clu_guard *g, raft_id from, raft_index claimed)
{
    const struct raft *r = g->raft;
    raft_index index = claimed;
    sent_to *s = g->sent_term == r->current_term ? sent_slot(g, from, false) : NULL;
    raft_index sent = s != NULL ? s->index : 0;
    if (index > sent) {
        g->counters.leader_clamped_to_sent++;
        if ((g->rules & CLU_GUARD_SENT) != 0) index = sent;
    }
    /* libraft 0.15 commits at its own last durable index once a majority's match reaches it
     * (its quorum check). So a count is safe only when both the follower's index and the
     * leader's own last stored entry are of the current term: counting a follower at a
     * current-term index while the leader's own write of that term is still pending would let
     * libraft commit the earlier-term entry the leader last stored. */
    bool known = false;
    if (index > r->commit_index && (log_term(&r->log, index, &known) != r->current_term ||
                                    log_term(&r->log, r->last_stored, &known) != r->current_term)) {
        g->counters.leader_lowered_earlier_term++;
        if ((g->rules & CLU_GUARD_EARLIER_TERM) != 0) index = r->commit_index;
    }
    return index;
}

/* ---- The io methods and callbacks --------------------------------------------------------------
 */

static void guard_recv(struct raft_io *io, struct raft_message *m)
{
    clu_guard *g = guard_of(io);
    struct raft *r = g->raft;
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        const struct raft_append_entries *ae = &m->append_entries;
        raft_term term = ae->term;
        raft_index prev = ae->prev_log_index;
        raft_term prev_term = ae->prev_log_term;
        unsigned n = keep_terms(g, ae) ? ae->n_entries : 0;
        if (term >= r->current_term && ae->leader_commit > g->counters.leader_commit_seen)
            g->counters.leader_commit_seen = ae->leader_commit;
        if (term >= r->current_term) {
            follower_term(g, term);
            follower_verified(g, term, verified_by(r, prev, prev_term, g->terms, n));
        }
        g->raft_recv(io, m); /* m and its entries are raft's from here */
        if (r->current_term == term)
            follower_verified(g, term, verified_by(r, prev, prev_term, g->terms, n));
        return;
    }
    if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        raft_term term = m->install_snapshot.term;
        raft_index last = m->install_snapshot.last_index;
        if (term >= r->current_term) follower_term(g, term);
        g->raft_recv(io, m);
        /* the leader's snapshot is a prefix of its log: once installed, this log matches it
         * there; the result is sent only after the install */
        if (r->current_term == term) follower_verified(g, term, last);
        return;
    }
    if (m->type == RAFT_IO_APPEND_ENTRIES_RESULT && m->append_entries_result.rejected == 0 &&
        r->state == RAFT_LEADER && m->append_entries_result.term == r->current_term) {
        g->counters.leader_results_seen++;
        m->append_entries_result.last_log_index =
            leader_countable(g, m->server_id, m->append_entries_result.last_log_index);
    }
    g->raft_recv(io, m);
}

static int guard_send(struct raft_io *io, struct raft_io_send *req,
                      const struct raft_message *message, raft_io_send_cb cb)
{
    clu_guard *g = guard_of(io);
    if (g->raft->state == RAFT_LEADER) leader_sent(g, message);
    if (message->type != RAFT_IO_APPEND_ENTRIES_RESULT ||
        message->append_entries_result.rejected != 0)
        return g->io_send(io, req, message, cb);
    /* a successful result: claim at most what was verified in its term */
    g->counters.follower_results_seen++;
    struct raft_message copy = *message; /* scalars only: raft's message stays as it was */
    raft_index verified =
        copy.append_entries_result.term == g->verified_term ? g->verified_index : 0;
    if (copy.append_entries_result.last_log_index > verified) {
        g->counters.follower_results_clamped++;
        if ((g->rules & CLU_GUARD_FOLLOWER) != 0)
            copy.append_entries_result.last_log_index = verified;
    }
    return g->io_send(io, req, &copy, cb);
}

static void barrier_done(struct raft_barrier *req, int status)
{
    (void)status; /* a lost barrier is proposed again by the next leader's guard */
    free(req);
}

/* After raft's tick: a leader without a barrier in its term proposes one. */
static void guard_tick(struct raft_io *io)
{
    clu_guard *g = guard_of(io);
    g->raft_tick(io);
    struct raft *r = g->raft;
    if ((g->rules & CLU_GUARD_BARRIER) == 0 || r->state != RAFT_LEADER ||
        g->barrier_term == r->current_term)
        return;
    struct raft_barrier *req = malloc(sizeof(*req));
    if (req == NULL) return; /* tried again at the next tick */
    req->data = g;
    if (raft_barrier(r, req, barrier_done) != 0) {
        free(req);
        return;
    }
    g->barrier_term = r->current_term;
    g->counters.barriers++;
}

static int guard_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                       raft_io_recv_cb recv)
{
    clu_guard *g = guard_of(io);
    g->raft_tick = tick;
    g->raft_recv = recv;
    return g->io_start(io, msecs, guard_tick, guard_recv);
}

/* ---- Attach and detach ---------------------------------------------------------------------- */

tk_err clu_guard_attach(struct raft_io *io, unsigned rules, clu_guard **out)
{
    TK_ASSERT(io != NULL && out != NULL);
    TK_ASSERT(io->data != NULL); /* raft_init set it to the raft instance */
    TK_ASSERT((rules & ~(unsigned)CLU_GUARD_ALL) == 0);
    clu_guard *g = calloc(1, sizeof(*g));
    if (g == NULL) return TK_ENOMEM;
    *g = (clu_guard){.io = io, .raft = io->data, .rules = rules};
    pthread_mutex_lock(&registry.lock);
    uint32_t free_at = GUARDS_MAX;
    for (uint32_t i = 0; i < GUARDS_MAX && free_at == GUARDS_MAX; i++)
        if (registry.at[i].io == NULL) free_at = i;
    if (free_at < GUARDS_MAX) {
        registry.at[free_at].io = io;
        registry.at[free_at].guard = g;
    }
    pthread_mutex_unlock(&registry.lock);
    if (free_at == GUARDS_MAX) {
        free(g);
        return TK_EFULL;
    }
    g->io_start = io->start;
    g->io_send = io->send;
    io->start = guard_start;
    io->send = guard_send;
    *out = g;
    return TK_OK;
}

void clu_guard_detach(clu_guard *g)
{
    if (g == NULL) return;
    g->io->start = g->io_start;
    g->io->send = g->io_send;
    pthread_mutex_lock(&registry.lock);
    for (uint32_t i = 0; i < GUARDS_MAX; i++) {
        if (registry.at[i].guard == g) {
            registry.at[i].io = NULL;
            registry.at[i].guard = NULL;
        }
    }
    pthread_mutex_unlock(&registry.lock);
    free(g->terms);
    free(g);
}

void clu_guard_counters_get(const clu_guard *g, clu_guard_counters *out)
{
    TK_ASSERT(g != NULL && out != NULL);
    *out = g->counters;
}
