/* chaos: the chaos harness (docs/chaos.md). Two tiers:
 *   - real processes: `troika chaos run` starts a three-node cluster of `troika node` processes
 *     (each in its own network namespace where the machine allows it), drives a workload of
 *     clients through the client API, injects faults from a schedule derived from a seed, heals,
 *     and checks the invariants into DIR/result.json;
 *   - deterministic: `troika chaos sim` runs the ledger FSM on libraft's in-memory fixture
 *     (raft/fixture.h) under random faults for many seeds and classifies each.
 * This header also gives the nemeses' building blocks (network namespaces and partitions, disk
 * and fsync faults), which the nemesis tests drive one by one. */
#ifndef TK_CHAOS_CHAOS_H
#define TK_CHAOS_CHAOS_H

#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clu.h"
#include "tk.h"

/* ---- Entry points (the troika binary's `chaos` subcommand) ------------------------------------
 */

/* `troika chaos run|sim ...` (docs/chaos.md); argv[0] is "chaos". Returns the process exit
 * code: 0 when every invariant held, 1 on a violation (run: DIR/result.json says which; sim: a
 * line per failing seed), 2 on a usage error, 3 when a run could not be set up. */
int chaos_main(int argc, char **argv);

/* ---- Network: namespaces, partitions ----------------------------------------------------------
 */

#define CHAOS_NODES 3u

/* Where the cluster's nodes live on the network. With namespaces, node i (0-based) has its own
 * namespace ns[i] with address node_ip[i] on a veth pair whose other end is on a bridge in the
 * caller's namespace, which has host_ip; without them every address is 127.0.0.1. */
typedef struct chaos_net {
    bool netns;                    /* namespaces are in use (else loopback) */
    char tag[16];                  /* unique per run: prefixes the namespaces' and links' names */
    char ns[CHAOS_NODES][32];      /* namespace names; "" on loopback */
    char host_ip[16];              /* how the nodes reach the host (the venue mock, say) */
    char node_ip[CHAOS_NODES][16]; /* how the host and the other nodes reach node i */
} chaos_net;

/* Set up the network for CHAOS_NODES nodes into *net. With want_netns, try namespaces (needs
 * root and iproute2); when they cannot be made, fall back to loopback and write why into why
 * (a sentence; "" when namespaces are in use or were not wanted). Errors: none besides the
 * fallback, which is not an error (TK_OK). Undo with chaos_net_down. */
tk_err chaos_net_up(chaos_net *net, bool want_netns, char *why, size_t why_size);

/* Remove what chaos_net_up made (namespaces, links, bridge, their filter rules). Idempotent. */
void chaos_net_down(chaos_net *net);

/* Whether partitions can be made (namespaces in use and iptables present). */
bool chaos_net_can_partition(const chaos_net *net);

/* Drop every packet node `to` receives from node `from` (0-based, distinct): a one-way cut.
 * Traffic between the host and the nodes (clients, the venue) is never dropped. Errors:
 * TK_EINVAL without partitions (loopback: chaos_net_can_partition is false), TK_EIO when
 * iptables failed (its output in why). */
tk_err chaos_net_drop(chaos_net *net, unsigned from, unsigned to, char *why, size_t why_size);

/* Cut node (0-based) off from every other node, both ways. Errors: as chaos_net_drop. */
tk_err chaos_net_isolate(chaos_net *net, unsigned node, char *why, size_t why_size);

/* Remove every cut. Errors: as chaos_net_drop. */
tk_err chaos_net_heal(chaos_net *net, char *why, size_t why_size);

/* The argv prefix that runs a command inside node's namespace ("ip", "netns", "exec", ns) into
 * argv; returns how many entries it wrote (0 on loopback). argv needs 4 entries; the strings
 * are borrowed from net. */
unsigned chaos_net_exec_prefix(const chaos_net *net, unsigned node, const char *argv[4]);

/* Run the program argv[0] (looked up in PATH, never through a shell) with the arguments argv
 * (NULL-terminated), stdin on /dev/null, and wait for it: the nemeses' iproute2, iptables and
 * fiu-ctrl calls. What it wrote to stdout and stderr goes into output (NUL-terminated, cut to
 * fit; output may be NULL): on TK_OK that text alone, on an error the command line and how it
 * ended, then that text. Errors: TK_ENOENT (no such program), TK_EIO (it exited non-zero or
 * was killed, or could not be started), TK_ENOMEM. Context: blocks until the program ends. */
tk_err chaos_command_run(const char *const argv[], char *output, size_t output_size);

/* ---- Disk and fsync faults --------------------------------------------------------------------
 */

/* The environment variable naming the control file of the Raft write shim (libtk_chaos_eio.so,
 * an LD_PRELOAD library): while that file exists, every io_submit the process makes (raft_uv's
 * log writes, through syscall(2); glibc has no io_submit wrapper) fails with EIO, except that
 * one asking not to block (RWF_NOWAIT) fails with EAGAIN, so that raft_uv submits it again from
 * its thread pool, where the EIO reaches the append's callback as RAFT_IOERR (an EIO on the
 * first attempt would wedge libraft 0.15 instead: docs/cluster.md, its bug 3). Create the file
 * only once raft_uv's io is initialised: its init probes the directory with an io_submit of
 * its own and fails. The variable is read once, when the shim loads. The build defines
 * CHAOS_EIO_PATH (for tk_chaos and its users) as the shim's path in the build tree. A process
 * built with AddressSanitizer needs ASAN_OPTIONS=verify_asan_link_order=0 to run with the
 * shim preloaded. */
#define CHAOS_EIO_ENV "TK_CHAOS_EIO_FILE"

/* libfiu's failure points that fail RocksDB's syncs (fiu-run's POSIX preload). */
#define CHAOS_FIU_FSYNC     "posix/io/sync/fsync"
#define CHAOS_FIU_FDATASYNC "posix/io/sync/fdatasync"

/* Turn libfiu's failure point name on (enable) or off in process pid, which was started under
 * `fiu-run -x`, with fiu-ctrl. Errors: TK_EIO (fiu-ctrl failed; its output in why), TK_ENOENT
 * (fiu-ctrl is not installed). */
tk_err chaos_fiu_set(pid_t pid, const char *name, bool enable, char *why, size_t why_size);

/* Mount a tmpfs of mib MiB on dir (which must exist), for a disk that fills up. Errors:
 * TK_EPERM (not allowed: not root), TK_EIO (mount failed; why says how). */
tk_err chaos_disk_mount(const char *dir, unsigned mib, char *why, size_t why_size);

/* Unmount what chaos_disk_mount mounted on dir (lazily, so open files do not block it). */
void chaos_disk_umount(const char *dir);

/* Fill the file system holding dir: write a ballast file there until the disk is full.
 * Errors: TK_EIO when the ballast cannot be created. */
tk_err chaos_disk_fill(const char *dir, char *why, size_t why_size);

/* Remove the ballast chaos_disk_fill wrote in dir. Idempotent. */
void chaos_disk_unfill(const char *dir);

/* ---- The deterministic tier (raft/fixture.h) ------------------------------------------------- */

/* A cluster of ledger FSMs (clu_fsm) on libraft's in-memory fixture (raft/fixture.h): seeded
 * proposals, faults, healing, and a replica-by-replica comparison of what each applied at
 * every Raft index. `troika chaos sim` (chaos_sim.c) runs it for many seeds; the cluster tests
 * (tests/cluster) run hand-made schedules on it. Single-threaded: everything here runs on the
 * thread that steps the fixture. The structs are open because schedules drive the fixture and
 * the replicas' raft instances directly. */

#define CHAOS_HARNESS_SERVERS_MAX 5u

typedef struct chaos_harness chaos_harness;

/* What one replica applied at one Raft index: the ledger index and chain hash after it. */
typedef struct chaos_harness_record {
    uint64_t ledger_index;
    uint8_t chain_hash[LED_HASH_BYTES];
    bool set;
} chaos_harness_record;

/* The chain hash(es) one replica computed for one ledger index: the first, and the last if a
 * later apply (after a snapshot install took the replica back, or on another history) gave a
 * different one. */
typedef struct chaos_harness_chain {
    uint8_t first[LED_HASH_BYTES];
    uint8_t last[LED_HASH_BYTES];
    bool set;
} chaos_harness_chain;

typedef struct chaos_harness_replica {
    struct raft_fsm wrapper;       /* forwards to the clu_fsm and records each apply */
    clu_fsm *fsm;                  /* owned: closed by chaos_harness_close */
    struct raft *raft;             /* borrowed: the fixture's server */
    chaos_harness_record *records; /* owned: by Raft index */
    uint64_t records_cap;
    uint64_t reapplied_differently; /* an index applied twice with different results */
    chaos_harness_chain *chain;     /* owned: by ledger index, every event's chain hash, as
                                       apply extended it */
    uint64_t chain_cap;
    /* Faults (chaos_harness_open_opts with faults): the fixture's own io methods, which the
     * harness wraps: disk requests complete in the order they were made, and what the server
     * receives is observed (then delivered unchanged). */
    chaos_harness *owner; /* borrowed: the harness holding this replica */
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
    clu_guard *guard;             /* owned: chaos_harness_opts.guard, the protocol guard on its
                                     io; NULL without */
    raft_term led_term;           /* the term it last led in, seen by the step hook */
    raft_index led_commit;        /* its commit index then */
} chaos_harness_replica;

struct chaos_harness {
    struct raft_fixture fixture; /* first member: the step hook finds the harness from it */
    unsigned n;
    chaos_harness_replica replicas[CHAOS_HARNESS_SERVERS_MAX];
    led_gen *gen;                /* owned: the event generator */
    uint64_t proposed;           /* entries handed to raft_apply */
    struct raft_apply **pending; /* owned: requests raft has not answered yet */
    size_t pending_count, pending_cap;
    uint64_t apply_failed; /* raft_apply callbacks with a non-zero status */
    /* Set by chaos_harness_open_opts with faults, counted by its step hook. */
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
    void (*on_stale_append)(chaos_harness *h, unsigned server); /* NULL: none */
    /* With faults: a message the fixture delivers to server `to` is lost instead when this
     * returns true (a schedule test's hand-picked losses); NULL: none. */
    bool (*drop)(chaos_harness *h, unsigned to, const struct raft_message *message);
    void *drop_arg; /* borrowed: for drop */
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
typedef struct chaos_harness_verdict {
    bool converged;          /* every replica reached the leader's last index after healing */
    uint64_t compared;       /* (replica pair, Raft index) points compared */
    uint64_t first_diverged; /* first Raft index where two replicas applied differently; 0 */
    bool state_hash_differs; /* at an equal applied index, state hashes differ (what troika's
                                divergence check publishes and compares) */
} chaos_harness_verdict;

/* Build n (1..CHAOS_HARNESS_SERVERS_MAX) voters into the caller's *h with the given snapshot
 * threshold and trailing (entries), pre-vote on, bootstrapped and started; seed seeds the event
 * generator. Returns false (with a message on stderr) on error; then, as on success, release
 * with chaos_harness_close. */
bool chaos_harness_open(chaos_harness *h, unsigned n, uint64_t seed, unsigned snapshot_threshold,
                        unsigned snapshot_trailing);

/* How chaos_harness_open_opts builds the cluster; every field set by the caller. */
typedef struct chaos_harness_opts {
    unsigned servers; /* voters, 1..CHAOS_HARNESS_SERVERS_MAX */
    uint64_t seed;    /* seeds the event generator */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned election_timeout_ms;  /* raft_set_election_timeout (the fixture's default: 1000) */
    unsigned heartbeat_timeout_ms; /* raft_set_heartbeat_timeout, also the fixture's tick
                                      interval (the fixture's default: 100) */
    /* Install the fault machinery: the step hook (counts elections, ends network stalls,
     * runs barrier_on_election) and the ordered disk (each server's disk requests complete in
     * the order made, as on a real disk, even across latency changes). Needed by
     * chaos_harness_disk_stall and chaos_harness_net_stall. */
    bool faults;
    bool barrier_on_election; /* needs faults */
    /* chaos_harness_propose* generate each event for a ledger index no earlier proposal used
     * (the next one past every event generated so far, or past the leader's state if that is
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
    void (*before_start)(chaos_harness *h, void *arg);
    void *before_start_arg; /* borrowed: for before_start */
} chaos_harness_opts;

/* As chaos_harness_open, with every setting chosen (opts is borrowed for the call).
 * chaos_harness_open(h, n, seed, t, tr) is chaos_harness_open_opts with election 1000 ms,
 * heartbeat 100 ms (the fixture's defaults) and no faults. Returns false (with a message on
 * stderr) on error, or when opts are out of range. */
bool chaos_harness_open_opts(chaos_harness *h, const chaos_harness_opts *opts);

/* Most events chaos_harness_propose puts in one entry. */
#define CHAOS_HARNESS_ENTRY_EVENTS_MAX 16u

/* The live server that believes it leads, at the highest term (0-based); h->n if none. This is
 * what a client finds by asking (the fixture's own leader_index also wants every connected
 * server to agree, which a cut-off follower never does). */
unsigned chaos_harness_leader(chaos_harness *h);

/* Propose one entry of count (1..CHAOS_HARNESS_ENTRY_EVENTS_MAX) events, each generated
 * against the leader's current state, on chaos_harness_leader. false when count is out of
 * range, there is no leader, raft_apply refused it, or memory ran out. */
bool chaos_harness_propose(chaos_harness *h, uint32_t count);

/* Propose one entry of count (1..CHAOS_HARNESS_ENTRY_EVENTS_MAX) events on server i, which
 * must be alive and believe it leads (a stale leader cut off from the others included), each
 * event generated against that server's state. The entry's buffer goes to raft; the request
 * is held until raft answers it (or chaos_harness_close). false when i does not lead, count is
 * out of range, raft_apply refused the entry, or memory ran out. */
bool chaos_harness_propose_on(chaos_harness *h, unsigned i, uint32_t count);

/* Stall server i's disk until fixture time until_ms: every disk request it makes before then
 * completes at until_ms or later, in the order made. Needs opts.faults (asserted). */
void chaos_harness_disk_stall(chaos_harness *h, unsigned i, raft_time until_ms);

/* Stall what server i sends until fixture time until_ms: every message it sends before then
 * arrives (if the link still delivers) at until_ms or later, in the order sent. Needs
 * opts.faults (asserted). */
void chaos_harness_net_stall(chaos_harness *h, unsigned i, raft_time until_ms);

/* The lowest ledger index for which two replicas computed different chain hashes (or one
 * replica two different ones, over time); 0: none. Every event's chain hash is recorded as
 * apply extends it, so this is what comparing the (ledger index, chain hash) pairs that nodes
 * publish finds, even after a snapshot install replaced a diverged state. */
uint64_t chaos_harness_ledger_conflict(const chaos_harness *h);

/* Revive every server, reconnect every pair, then step until a leader exists, run a barrier
 * on it and step until every replica has applied it and whatever the leader appended
 * meanwhile (the guard's own barrier) (max_msecs of fixture time per step, up to 5 attempts).
 * false if that does not happen, or memory ran out. */
bool chaos_harness_heal(chaos_harness *h, unsigned max_msecs);

/* Compare every pair of replicas at every Raft index both applied, and the state hashes of
 * replicas at the same applied index, into *out. */
void chaos_harness_compare(const chaos_harness *h, chaos_harness_verdict *out);

/* Release what the harness owns, leaving the fixture open: libraft 0.15's raft_fixture_close
 * frees a pointer it never allocated once a server has been elected (docs/cluster.md), so the
 * fixture's memory stays allocated until the process ends (tests/lsan.supp, and the LSan hook
 * of chaos_sim.c). Nothing may step the fixture afterwards. */
void chaos_harness_close(chaos_harness *h);

#endif /* TK_CHAOS_CHAOS_H */
