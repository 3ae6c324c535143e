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

/* What one replica applied at one Raft index: the ledger index and chain hash after it. */
typedef struct harness_record {
    uint64_t ledger_index;
    uint8_t chain_hash[LED_HASH_BYTES];
    bool set;
} harness_record;

typedef struct harness_replica {
    struct raft_fsm wrapper; /* forwards to the clu_fsm and records each apply */
    clu_fsm *fsm;
    struct raft *raft;
    harness_record *records; /* by Raft index */
    uint64_t records_cap;
    uint64_t reapplied_differently; /* an index applied twice with different results */
} harness_replica;

typedef struct harness {
    struct raft_fixture fixture;
    unsigned n;
    harness_replica replicas[HARNESS_SERVERS_MAX];
    led_gen *gen;
    uint64_t proposed;     /* entries handed to raft_apply */
    uint64_t apply_failed; /* raft_apply callbacks with a non-zero status */
} harness;

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

/* Most events harness_propose puts in one entry. */
#define HARNESS_ENTRY_EVENTS_MAX 16u

/* Propose one entry of count (1..HARNESS_ENTRY_EVENTS_MAX) events, each generated against
 * the leader's current state, on the leader. false when count is out of range, there is no
 * leader, or raft_apply refused it. */
bool harness_propose(harness *h, uint32_t count);

/* Revive every server, reconnect every pair, then step until a leader exists, run a barrier
 * on it and step until every replica has applied it (max_msecs of fixture time per step).
 * false if that does not happen. */
bool harness_heal(harness *h, unsigned max_msecs);

/* Compare every pair of replicas at every Raft index both applied, and the state hashes of
 * replicas at the same applied index. */
void harness_compare(harness *h, harness_verdict *out);

/* Release what the harness owns, leaving the fixture open: libraft 0.15's raft_fixture_close
 * frees a pointer it never allocated once a server has been elected (docs/cluster.md), so the
 * fixture's memory stays allocated until the process ends (tests/lsan.supp). */
void harness_close(harness *h);

#endif /* TK_TESTS_CLUSTER_RAFT_HARNESS_H */
