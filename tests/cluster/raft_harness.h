/* A cluster of ledger FSMs (clu_fsm) on libraft's in-memory fixture (raft/fixture.h), for the
 * cluster tests: seeded proposals, faults, healing, and a replica-by-replica comparison of
 * what each applied at every Raft index. Tests only. */
#ifndef TK_TESTS_CLUSTER_RAFT_HARNESS_H
#define TK_TESTS_CLUSTER_RAFT_HARNESS_H

#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stdint.h>

#include "clu.h"

#define HARNESS_SERVERS_MAX 5u

typedef struct harness harness;

/* What one replica applied at one Raft index: the ledger index and chain hash after it. */
typedef struct harness_record {
    uint64_t ledger_index;
    uint8_t chain_hash[LED_HASH_BYTES];
    bool set;
} harness_record;

/* The chain hash(es) one replica computed for one ledger index: the first, and the last if a
 * later apply (after a snapshot install took the replica back, or on another history) gave a
 * different one. */
typedef struct harness_chain {
    uint8_t first[LED_HASH_BYTES];
    uint8_t last[LED_HASH_BYTES];
    bool set;
} harness_chain;

typedef struct harness_replica {
    struct raft_fsm wrapper; /* forwards to the clu_fsm and records each apply */
    clu_fsm *fsm;
    struct raft *raft;
    harness_record *records; /* by Raft index */
    uint64_t records_cap;
    uint64_t reapplied_differently; /* an index applied twice with different results */
    harness_chain *chain; /* by ledger index: every event's chain hash, as apply extended it */
    uint64_t chain_cap;
    /* Faults (harness_open_opts with faults): the fixture's own io methods, which the harness
     * wraps: disk requests complete in the order they were made, and what the server receives
     * is observed (then delivered unchanged). */
    harness *owner; /* borrowed: the harness holding this replica */
    int (*fixture_append)(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
    int (*fixture_snapshot_put)(struct raft_io *io, unsigned trailing,
                                struct raft_io_snapshot_put *req,
                                const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
    int (*fixture_snapshot_get)(struct raft_io *io, struct raft_io_snapshot_get *req,
                                raft_io_snapshot_get_cb cb);
    int (*fixture_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                         raft_io_recv_cb recv);
    raft_time disk_due_last;      /* completion time given to the last disk request, ms */
    raft_time disk_stall_until;   /* disk requests made before this complete at it, ms */
    raft_time net_stall_until;    /* messages sent before this arrive at it, ms */
    raft_io_recv_cb fixture_recv; /* raft's receive callback, which the harness observes */
    clu_guard *guard;             /* harness_opts.guard: the protocol guard on its io */
    raft_term led_term;           /* the term it last led in, seen by the step hook */
    raft_index led_commit;        /* its commit index then */
} harness_replica;

struct harness {
    struct raft_fixture fixture; /* first member: the step hook finds the harness from it */
    unsigned n;
    harness_replica replicas[HARNESS_SERVERS_MAX];
    led_gen *gen;
    uint64_t proposed;           /* entries handed to raft_apply */
    struct raft_apply **pending; /* owned: requests raft has not answered yet */
    size_t pending_count, pending_cap;
    uint64_t apply_failed; /* raft_apply callbacks with a non-zero status */
    /* Set by harness_open_opts with faults, counted by its step hook. */
    bool faults;
    bool barrier_on_election;  /* a new leader runs raft_barrier at once (as troika will) */
    unsigned disk_latency_ms;  /* outside stalls; the fixture's default is 10 */
    unsigned net_latency_ms;   /* outside stalls; the fixture's default is 15 */
    uint64_t elections;        /* times a server became leader in a term higher than any before */
    raft_term leader_term_max; /* highest term any server has led in */
    uint64_t barriers;         /* barriers issued by barrier_on_election */
    bool unique_events;
    uint64_t gen_next; /* with unique_events: the next ledger index to generate an event for */
    /* AppendEntries messages from index 1 (prev_log_index 0) delivered to a server that has
     * compacted its log (offset > 0): libraft 0.15 takes entries below its snapshot for new
     * ones and appends them at the wrong index, then crashes or corrupts its log. Counted (and
     * on_stale_append called) just before delivery, which the harness does not alter. */
    uint64_t stale_appends;
    void (*on_stale_append)(harness *h, unsigned server); /* NULL: none */
    /* With faults: a message the fixture delivers to server `to` is lost instead when this
     * returns true (a schedule test's hand-picked losses); NULL: none. */
    bool (*drop)(harness *h, unsigned to, const struct raft_message *message);
    void *drop_arg;
    /* What the harness sees of libraft 0.15's bugs 1 and 2 at work (docs/cluster.md); each may
     * or may not end in a divergence. */
    uint64_t old_term_commits;   /* bug 1: a leader moved its commit index onto an entry of an
                                    earlier term */
    uint64_t unverified_commits; /* bug 2, follower side: an AppendEntries moved a follower's
                                    commit index over entries past those it matched, and they
                                    differ from the sender's */
    uint64_t false_matches;      /* bug 2, leader side: a follower's success reported a last
                                    index over entries that differ from the leader's */
};

/* How a comparison came out. */
typedef struct harness_verdict {
    bool converged;          /* every replica reached the leader's last index after healing */
    uint64_t compared;       /* (replica pair, Raft index) points compared */
    uint64_t first_diverged; /* first Raft index where two replicas applied differently; 0 */
    bool state_hash_differs; /* at an equal applied index, state hashes differ (what troika's
                                divergence check publishes and compares) */
} harness_verdict;

/* Build n (1..HARNESS_SERVERS_MAX) voters with the given snapshot threshold and trailing,
 * pre-vote on, bootstrapped and started. Returns false (with a message on stderr) on error. */
bool harness_open(harness *h, unsigned n, uint64_t seed, unsigned snapshot_threshold,
                  unsigned snapshot_trailing);

/* How harness_open_opts builds the cluster; every field set by the caller. */
typedef struct harness_opts {
    unsigned servers; /* voters, 1..HARNESS_SERVERS_MAX */
    uint64_t seed;    /* seeds the event generator */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned election_timeout_ms;  /* raft_set_election_timeout (the fixture's default: 1000) */
    unsigned heartbeat_timeout_ms; /* raft_set_heartbeat_timeout, also the fixture's tick
                                      interval (the fixture's default: 100) */
    /* Install the fault machinery: the step hook (counts elections, ends network stalls,
     * runs barrier_on_election) and the ordered disk (each server's disk requests complete in
     * the order made, as on a real disk, even across latency changes). Needed by
     * harness_disk_stall and harness_net_stall. */
    bool faults;
    bool barrier_on_election; /* needs faults */
    /* harness_propose* generate each event for a ledger index no earlier proposal used (the
     * next one past every event generated so far, or past the leader's state if that is
     * further). The generator stamps an event's time from its index, so no two proposals
     * carry the same bytes: otherwise two entries proposed against the same state (one on a
     * stale leader, or two in flight) can start with identical events, and a Raft-level
     * divergence would not show in the ledger. false: at the leader's next index. */
    bool unique_events;
    /* Attach cluster/clu_guard.c to every server's io (outermost: raft talks to the guard,
     * the guard to the fault machinery and the fixture), enforcing guard_rules (CLU_GUARD_*;
     * 0 only observes). */
    bool guard;
    unsigned guard_rules;
    /* Called once the servers are bootstrapped, before they start: a schedule test sets terms
     * and adds entries there (raft_fixture_set_term, raft_fixture_add_entry). NULL: none. */
    void (*before_start)(harness *h, void *arg);
    void *before_start_arg;
} harness_opts;

/* As harness_open, with every setting chosen. harness_open(h, n, seed, t, tr) is
 * harness_open_opts with election 1000 ms, heartbeat 100 ms (the fixture's defaults) and no
 * faults. Returns false (with a message on stderr) on error. */
bool harness_open_opts(harness *h, const harness_opts *opts);

/* Most events harness_propose puts in one entry. */
#define HARNESS_ENTRY_EVENTS_MAX 16u

/* Propose one entry of count (1..HARNESS_ENTRY_EVENTS_MAX) events, each generated against
 * the leader's current state, on the leader. false when count is out of range, there is no
 * leader, or raft_apply refused it. */
bool harness_propose(harness *h, uint32_t count);

/* Stall server i's disk until fixture time until_ms: every disk request it makes before then
 * completes at until_ms or later, in the order made. Needs opts.faults. */
void harness_disk_stall(harness *h, unsigned i, raft_time until_ms);

/* Stall what server i sends until fixture time until_ms: every message it sends before then
 * arrives (if the link still delivers) at until_ms or later, in the order sent. Needs
 * opts.faults. */
void harness_net_stall(harness *h, unsigned i, raft_time until_ms);

/* Propose one entry of count (1..HARNESS_ENTRY_EVENTS_MAX) events on server i, which must be
 * alive and believe it leads (a stale leader cut off from the others included), each event
 * generated against that server's state. false when it does not, count is out of range, or
 * raft_apply refused the entry. */
bool harness_propose_on(harness *h, unsigned i, uint32_t count);

/* The lowest ledger index for which two replicas computed different chain hashes (or one
 * replica two different ones, over time); 0: none. Every event's chain hash is recorded as
 * apply extends it, so this is what comparing the (ledger index, chain hash) pairs that nodes
 * publish finds, even after a snapshot install replaced a diverged state. */
uint64_t harness_ledger_conflict(const harness *h);

/* Revive every server, reconnect every pair, then step until a leader exists, run a barrier
 * on it and step until every replica has applied it and whatever the leader appended
 * meanwhile (the guard's own barrier) (max_msecs of fixture time per step). false if that does
 * not happen. */
bool harness_heal(harness *h, unsigned max_msecs);

/* Compare every pair of replicas at every Raft index both applied, and the state hashes of
 * replicas at the same applied index. */
void harness_compare(harness *h, harness_verdict *out);

/* Release what the harness owns, leaving the fixture open: libraft 0.15's raft_fixture_close
 * frees a pointer it never allocated once a server has been elected (docs/cluster.md), so the
 * fixture's memory stays allocated until the process ends (tests/lsan.supp). */
void harness_close(harness *h);

#endif /* TK_TESTS_CLUSTER_RAFT_HARNESS_H */
