/* troika cluster (prefix clu_): the journal, the one way events become committed (DESIGN.md,
 * "Modules"). A journal takes proposed events, gives each the next ledger index, folds it into
 * the ledger state (led_apply), makes it durable in storage with its chain hash, and then
 * delivers it, committed, to its subscribers in index order. Two implementations share this
 * interface: the local one here (in-process, for backtests and single-node runs) and the Raft
 * journal (issue 6).
 *
 * Context: a journal belongs to one thread at a time (the journal actor); its calls block on
 * storage. Trading actors never call it directly: they send to the actor registered as
 * "journal" and learn of commits through process groups. */
#ifndef TK_CLUSTER_CLU_H
#define TK_CLUSTER_CLU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "es.h"
#include "led.h"
#include "tk.h"

/* Most events one local write batch carries, and most subscribers of one journal. */
#define CLU_BATCH_EVENTS_MAX 4096u
#define CLU_SUBSCRIBERS_MAX  8u

typedef struct clu_journal clu_journal;
typedef struct clu_node clu_node; /* the Raft node (below) */

/* Called once per committed event, in index order, on the journal's thread, after the batch
 * holding it is durable. ev and outcome are borrowed for the call. */
typedef void clu_commit_fn(void *arg, uint64_t index, const led_event *ev,
                           const led_outcome *outcome);

/* The local journal's settings; every field set by the caller. */
typedef struct clu_local_opts {
    es_store *store;           /* borrowed: opened by the caller, outlives the journal; NULL:
                                  in memory (backtests with --store memory): events are
                                  committed once applied, nothing is encoded or stored, and
                                  nothing survives the journal */
    uint32_t batch_events_max; /* events per write batch, 1..CLU_BATCH_EVENTS_MAX */
    /* Write a state checkpoint with the first batch that ends this many events or more past
     * the last one (recovery replays at most about this many); 0: only on clu_journal_checkpoint.
     */
    uint64_t checkpoint_every;
    /* false (nodes): subscribers see an event once the batch holding it is durable. true
     * (backtests only): they see it as soon as it is applied, and batches are written when
     * full or flushed; nothing leaves the process in a backtest, and a crash loses only the
     * unwritten tail of a run that is rerun from its inputs. */
    bool deliver_on_apply;
} clu_local_opts;

/* Open a local journal over opts->store and recover: the state checkpoint is decoded and the
 * events after it replayed and checked against their chain hashes (es_replay). *out is
 * written only on TK_OK; release with clu_journal_close.
 * Errors: TK_EINVAL (opts out of range), TK_ECORRUPT (the store does not replay: why names the
 * index and what differs), TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err clu_local_open(const clu_local_opts *opts, clu_journal **out, es_error *why);

/* Release the journal. Events proposed but not yet flushed were never committed: they are
 * dropped (they are in no store and no subscriber saw them). NULL is a no-op. */
void clu_journal_close(clu_journal *journal);

/* Add a subscriber (fn with arg). Errors: TK_EFULL (CLU_SUBSCRIBERS_MAX already). */
TK_MUST_USE tk_err clu_journal_subscribe(clu_journal *journal, clu_commit_fn *fn, void *arg);

/* Propose one event. The local journal applies it at once (the state, seen through
 * clu_journal_state, includes it) and commits it with the batch it belongs to: when the batch
 * holds batch_events_max events, or on clu_journal_flush. *out_index (may be NULL) gets its
 * ledger index on TK_OK; its outcome reaches subscribers at commit (at once, with
 * deliver_on_apply).
 * Errors: TK_EINVAL (ev fails led_event_check: why names the field), and the errors of
 * clu_journal_flush when the batch filled. After a storage error the journal is failed: the
 * state holds events that are not durable, so every later call returns TK_EIO until the
 * journal is closed and reopened, which recovers from the store. */
TK_MUST_USE tk_err clu_journal_propose(clu_journal *journal, const led_event *ev,
                                       uint64_t *out_index, es_error *why);

/* Commit the pending batch: one atomic write (events, their chain hashes, meta and, when due,
 * a checkpoint), then delivery to subscribers. No pending events: nothing to do.
 * Errors: TK_ENOSPC, TK_EIO, TK_ECORRUPT (storage's; the journal is then failed). */
TK_MUST_USE tk_err clu_journal_flush(clu_journal *journal, es_error *why);

/* Flush, then write a state checkpoint at the last index (before es_snapshot_export).
 * Errors: as clu_journal_flush. */
TK_MUST_USE tk_err clu_journal_checkpoint(clu_journal *journal, es_error *why);

/* The ledger state with every proposed event applied: borrowed, valid until the next call. */
const led_state *clu_journal_state(const clu_journal *journal);

/* Whether subscribers hear of events as they are applied (clu_local_opts.deliver_on_apply). */
bool clu_journal_delivers_on_apply(const clu_journal *journal);

/* The last committed (durable) ledger index and its chain hash. */
uint64_t clu_journal_committed_index(const clu_journal *journal);

/* ---- The journal actor (clu_actor.c) ----------------------------------------------------- */

/* Spawn the journal actor over journal and register it as LED_JOURNAL_NAME. It speaks the
 * protocol of ledger/led.h: it commits each LED_MSG_PROPOSE at once (propose + flush; with a
 * journal that delivers on apply, batches are written when full and the owner flushes the
 * rest), and
 * publishes each committed event as LED_MSG_COMMITTED to the members of LED_GROUP_EXECUTION
 * and LED_GROUP_STRATEGIES (a BarClosed to execution first, to strategies once every
 * execution member has acknowledged it); it answers a proposal flagged
 * LED_PROPOSE_NOTIFY_IDLE with LED_MSG_IDLE once every publication has been acknowledged.
 * journal is lent to the actor until it exits: nothing else may use it meanwhile (the app
 * reads it after the actor is gone or idle). An invalid proposal is logged and dropped; a
 * storage error ends the actor (its supervisor restarts it, and the journal recovers).
 * Errors: those of act_spawn, act_register (TK_EEXIST: a journal is already registered). */
TK_MUST_USE tk_err clu_journal_actor_spawn(act_system *sys, clu_journal *journal,
                                           uint32_t mailbox_capacity, act_ref *out_ref);

/* What a node's application does when the node starts or stops leading (DESIGN.md, "A node's
 * supervision tree": the leader-only actors). Every field may be NULL. */
typedef struct clu_leader_hooks {
    void *arg;
    /* On the node's loop thread, as it starts leading: copy what the leader's actors need of
     * the state (open orders, marks, the account), which is consistent with every event
     * published before; returns the copy (NULL allowed). It must not block. */
    void *(*capture)(void *arg, const led_state *state);
    /* In the journal actor, in order with the publications: start the leader's actors with the
     * copy (theirs: start frees it or keeps it), before any later event is published, so that
     * they miss nothing after the copy. An error ends the journal actor. */
    tk_err (*start)(void *arg, act_system *sys, void *view);
    /* In the journal actor: the node no longer leads (or the actor ends): stop them. */
    void (*stop)(void *arg, act_system *sys);
    /* Free a copy start never got (the actor ended first). */
    void (*release)(void *arg, void *view);
} clu_leader_hooks;

/* Spawn the journal actor over a running Raft node and register it as LED_JOURNAL_NAME: the same
 * protocol and publication order as clu_journal_actor_spawn, with these differences
 * (docs/cluster.md, "Actors on a node"):
 *   - a proposal goes to clu_node_propose while this node leads; its index is known when it
 *     commits (a NOTIFY_IDLE proposal is answered once it committed and the graph settled);
 *   - a follower drops unkeyed proposals and keeps the last 256 keyed ones, forgetting each
 *     when the same key commits; when it starts leading it proposes those left, so that a
 *     deterministic proposal lost with a failed leader still commits once (the ledger refuses
 *     the second copy of a key);
 *   - every committed event (whoever proposed it) is published on every node;
 *   - hooks (copied; may be NULL) start and stop the leader-only actors, in order with the
 *     publications; the actor's terminate stops them too, so a journal actor restarted while
 *     the node leads (told so as its listener is added) starts them again.
 * link_to (a supervisor: sup_start_fn's sup; ACT_REF_NONE: none) is linked at spawn, before the
 * actor runs. The node must outlive the actor. Errors: those of act_spawn and act_register
 * (TK_EEXIST), TK_EFULL (the node has CLU_LISTENERS_MAX listeners), TK_ENOMEM. */
TK_MUST_USE tk_err clu_raft_journal_actor_spawn(act_system *sys, clu_node *node,
                                                const clu_leader_hooks *hooks,
                                                uint32_t mailbox_capacity, act_ref link_to,
                                                act_ref *out_ref);

/* ---- The protocol guard (clu_guard.c, which also includes raft.h) ----------------------------
 * Around any struct raft_io (raft_uv, or raft/fixture.h's): the rules of docs/cluster.md, "The
 * protocol guard", that keep libraft 0.15's bugs 1 and 2 from committing divergent entries. */

struct raft_io;
struct raft_log;

/* What the guard saw and did, per rule (the server's loop thread writes them). */
typedef struct clu_guard_counters {
    uint64_t follower_results_seen;       /* successful AppendEntries results this server sent */
    uint64_t follower_results_clamped;    /* of which claimed more than it had verified */
    uint64_t leader_results_seen;         /* successful results received while leading */
    uint64_t leader_clamped_to_sent;      /* of which claimed more than this leader had sent */
    uint64_t leader_lowered_earlier_term; /* of which pointed at an earlier term's entry above
                                             the commit index: counted only up to it */
    uint64_t barriers;                    /* barriers proposed, one per term led */
    /* Not a rule: the highest commit index a current leader's AppendEntries carried. The stall
     * watchdog compares it with the applied index: a follower whose log writes failed takes no
     * more entries, so its own commit index stops too, and only this shows it is behind. */
    uint64_t leader_commit_seen;
} clu_guard_counters;

typedef struct clu_guard clu_guard;

/* The rules a guard enforces (docs/cluster.md): nodes run with all of them. */
enum {
    CLU_GUARD_FOLLOWER = 1u << 0,     /* a follower claims only what it verified in the term */
    CLU_GUARD_EARLIER_TERM = 1u << 1, /* a leader counts no earlier term's entry */
    CLU_GUARD_SENT = 1u << 2,         /* a leader counts nothing above what it sent */
    CLU_GUARD_BARRIER = 1u << 3,      /* a new leader proposes a barrier once per term */
    CLU_GUARD_ALL = 0xfu,
};

/* Attach a guard to io: after raft_init (io->data is the raft instance), before raft_start. It
 * replaces io's start and send methods in place and keeps the originals. rules: CLU_GUARD_*
 * enforced (CLU_GUARD_ALL for a node); a rule left out still counts what it would have
 * lowered, for tests that show what gets through without it (0: observe only). Errors:
 * TK_ENOMEM, TK_EFULL (64 guards attached in the process). *out written on TK_OK only. */
TK_MUST_USE tk_err clu_guard_attach(struct raft_io *io, unsigned rules, clu_guard **out);

/* Put io's methods back and free the guard: only once raft_close has completed and the io can
 * no longer call back (the node detaches after its loop has ended). NULL is a no-op. */
void clu_guard_detach(clu_guard *guard);

/* A copy of the counters; on the server's loop thread (or once it has stopped). */
void clu_guard_counters_get(const clu_guard *guard, clu_guard_counters *out);

/* The term of the entry at index in a libraft 0.15 log (a circular buffer whose slot front
 * holds index offset + 1; the snapshot's last index and term below it); *known false, and 0,
 * for an index the log does not hold. Exposed for its unit tests. */
unsigned long long clu_guard_log_term(const struct raft_log *log, unsigned long long index,
                                      bool *known);

/* ---- A node's status and metrics (shared by the Raft node, the HTTP server, the API) ---- */

typedef enum clu_role {
    CLU_ROLE_UNAVAILABLE = 0,
    CLU_ROLE_FOLLOWER,
    CLU_ROLE_CANDIDATE,
    CLU_ROLE_LEADER,
} clu_role;

/* "unavailable", "follower", "candidate", "leader"; NULL outside the enum. */
const char *clu_role_name(clu_role role);

#define CLU_ADDRESS_BYTES 128u /* "127.0.0.1:7101", "tcp://127.0.0.1:7201" */

/* What a node says of itself; a copy, taken under the node's lock. */
typedef struct clu_status {
    uint64_t node_id; /* Raft server id, 1.. */
    clu_role role;
    uint64_t term;                      /* Raft current term */
    uint64_t commit_index;              /* Raft commit index this node knows */
    uint64_t applied_index;             /* last Raft entry applied here */
    uint64_t ledger_index;              /* last ledger index applied here */
    uint64_t leader_id;                 /* 0: none known */
    char leader_api[CLU_ADDRESS_BYTES]; /* the leader's client API url; "" if none known */
    uint8_t state_hash[LED_HASH_BYTES]; /* led_state_hash at ledger_index */
    bool kill_switch;                   /* the ledger's kill switch */
    bool leading;  /* leader, and its LeaderChanged for this term has committed: the leader-only
                      actors run (DESIGN.md, "A node's supervision tree") */
    bool diverged; /* a replica published a different state hash at the same index */
} clu_status;

/* A Prometheus histogram with fixed upper bounds (the +Inf bucket is count). */
#define CLU_HISTOGRAM_BOUNDS_MAX 16u
typedef struct clu_histogram {
    uint32_t bound_count;                       /* 1..CLU_HISTOGRAM_BOUNDS_MAX */
    double bounds[CLU_HISTOGRAM_BOUNDS_MAX];    /* increasing upper bounds ("le") */
    uint64_t buckets[CLU_HISTOGRAM_BOUNDS_MAX]; /* observations <= bounds[i] (cumulative) */
    uint64_t count;
    double sum;
} clu_histogram;

/* Set the bounds (count of them, increasing) and zero the counts. TK_ASSERT on a bad count. */
void clu_histogram_init(clu_histogram *h, const double *bounds, uint32_t count);

/* Count one observation. Not thread-safe: the owner serialises. */
void clu_histogram_observe(clu_histogram *h, double value);

/* Everything /metrics reports, gathered by the node on its loop thread. */
typedef struct clu_metrics {
    clu_status status;
    uint64_t proposals_total;        /* entries proposed by this node as leader */
    uint64_t proposals_failed_total; /* of which libraft refused or lost */
    uint64_t entries_applied_total;
    uint64_t events_applied_total;
    clu_histogram batch_events;                         /* events per applied entry */
    clu_histogram commit_latency_seconds;               /* propose to apply, on the leader */
    uint64_t orders_by_state[LED_ORDER_STATE_COUNT];    /* open orders now, by state */
    uint64_t rejections_by_rule[LED_RULE_OVERFLOW + 1]; /* since start, by led_rule */
    int64_t equity_e8;
    int64_t realized_pnl_e8; /* summed over instruments */
    uint64_t actor_restarts_total;
    uint64_t mailbox_depth_max; /* deepest actor mailbox now */
    uint64_t snapshots_total, restores_total;
    clu_guard_counters guard; /* the protocol guard's, per rule */
} clu_metrics;

/* Render m in the Prometheus text exposition format (version 0.0.4) into buf, NUL-terminated:
 * every metric with # HELP and # TYPE, names prefixed troika_, labels node, rule, state.
 * Errors: TK_EFULL (buf_size too small; buf then holds nothing meaningful). */
TK_MUST_USE tk_err clu_metrics_render(const clu_metrics *m, char *buf, size_t buf_size,
                                      size_t *out_size);

/* Where the HTTP server gets what it serves: called from nng's threads, so each must be
 * thread-safe. Both return false if the node is shutting down (503). */
typedef struct clu_http_source {
    void *arg;
    bool (*status)(void *arg, clu_status *out);
    bool (*metrics)(void *arg, clu_metrics *out);
} clu_http_source;

typedef struct clu_http clu_http;

/* Serve, on nng's HTTP server at url ("http://127.0.0.1:7301"):
 *   GET /healthz  200, JSON {"node_id", "role", "term", "commit_index", "applied_index",
 *                 "ledger_index", "lag" (commit - applied), "leader_id", "leader_api",
 *                 "state_hash" (hex), "kill_switch", "diverged"}; 503 with the same body
 *                 when the role is unavailable or the node diverged;
 *   GET /metrics  200, text/plain; version=0.0.4, clu_metrics_render of source->metrics.
 * source is copied. Errors: TK_EINVAL (a bad url), TK_EEXIST (address in use), TK_EIO,
 * TK_ENOMEM. Stop waits for a request in progress: never call it holding a lock the source
 * callbacks take. */
TK_MUST_USE tk_err clu_http_start(const char *url, const clu_http_source *source, clu_http **out);

/* Stop serving and release. NULL is a no-op. */
void clu_http_stop(clu_http *http);

/* ---- Raft entries and the ledger FSM (clu_raft.c, with clu_guard.c the files that include
 * raft.h) ---------------------------------------------------------------------------------- */

/* A Raft entry carries a batch of events, framed (docs/cluster.md): the magic "TKRE", a
 * version byte (1), a big-endian u32 count (1..CLU_ENTRY_EVENTS_MAX), then per event a
 * big-endian u16 length and that many bytes of led_event_encode, then 0..7 zero bytes so that
 * the entry is a multiple of 8 bytes long (libraft 0.15's raft_uv writes entry data unpadded
 * and reads it back padded: an entry of another length corrupts the segment it lands in). */
#define CLU_ENTRY_EVENTS_MAX   256u
#define CLU_ENTRY_HEADER_BYTES 9u
/* Room clu_entry_encode may need for count events. */
#define CLU_ENTRY_BYTES(count) \
    (CLU_ENTRY_HEADER_BYTES + (size_t)(count) * (2u + LED_EVENT_BYTES_MAX) + 7u)
#define CLU_ENTRY_BYTES_MAX CLU_ENTRY_BYTES(CLU_ENTRY_EVENTS_MAX)

/* Encode count events (1..CLU_ENTRY_EVENTS_MAX, each valid per led_event_check, else
 * TK_ASSERT) as one entry into buf. Errors: TK_EFULL (buf_size too small). */
TK_MUST_USE tk_err clu_entry_encode(const led_event *events, uint32_t count, uint8_t *buf,
                                    size_t buf_size, size_t *out_size);

/* Decode an entry strictly: magic, version, count in range, every length within the entry,
 * every event per led_event_decode, nothing after the last event but the zero padding to a
 * multiple of 8 bytes. out (room for
 * CLU_ENTRY_EVENTS_MAX events) and *out_count are meaningful only on TK_OK.
 * Errors: TK_EINVAL (why->field names the part: "magic", "version", "count", "length", or the
 * event's field prefixed by its position, as "event 3: qty"), TK_EOVERFLOW, TK_ENOMEM. */
TK_MUST_USE tk_err clu_entry_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes,
                                    led_event *out, uint32_t *out_count, led_event_error *why);

struct raft;
struct raft_fsm;

/* The ledger as a Raft state machine: apply folds each event of an entry into the ledger state
 * at the next ledger index (led_apply) and extends the chain hash; with a store, it then writes
 * the entry's events, the new meta (with the entry's Raft index) and, every checkpoint_every
 * events, a state checkpoint as ONE storage write batch. Snapshots are the snapshot blob
 * (led_snapshot_encode): with a store, exported from a checkpoint in the state family, and
 * restored into the store unless it already holds that history (libraft restores its last
 * snapshot at every start).
 *
 * Apply never fails for a business reason (a refused event is an outcome) and never returns
 * non-zero: libraft 0.15 retries a failed apply forever on the leader. An entry that does not
 * decode (a bug: only troika proposes) changes nothing but is counted
 * (clu_fsm_stats.refused_entries), the same on every replica. An entry at or below the last
 * applied Raft index is skipped. A storage error under apply, snapshot or restore ends the
 * process (tk_panic, logged): the state would be ahead of the store, and a restart recovers
 * from the store and the Raft log. */
typedef struct clu_fsm clu_fsm;

/* What the FSM has applied. */
typedef struct clu_fsm_stats {
    uint64_t raft_index;      /* last Raft entry folded (or restored) */
    uint64_t ledger_index;    /* last ledger index */
    uint64_t entries;         /* entries applied since open */
    uint64_t refused_entries; /* entries that did not decode (should stay 0) */
    uint64_t snapshots;       /* snapshots taken */
    uint64_t restores;        /* snapshots restored */
} clu_fsm_stats;

/* The outcomes of the entry last applied, as apply hands them to raft_apply's callback
 * (*result): borrowed from the FSM until its next apply. */
typedef struct clu_applied {
    uint64_t first_index; /* ledger index of the entry's first event */
    uint32_t count;       /* 0 for a refused entry */
    led_outcome outcomes[CLU_ENTRY_EVENTS_MAX];
} clu_applied;

/* Open an FSM at genesis, in memory (tests on libraft's fixture). *out written on TK_OK only.
 * Errors: TK_ENOMEM. */
TK_MUST_USE tk_err clu_fsm_open(clu_fsm **out);

/* Open an FSM over store (borrowed, outlives the FSM) and recover its state: the checkpoint,
 * then the events after it, checked (es_replay). checkpoint_every: events between state
 * checkpoints (0: only for snapshots). *out written on TK_OK only.
 * Errors: those of es_meta_read and es_replay (TK_ECORRUPT with why naming the index),
 * TK_ENOMEM. */
TK_MUST_USE tk_err clu_fsm_open_store(es_store *store, uint64_t checkpoint_every, clu_fsm **out,
                                      es_error *why);

/* NULL is a no-op. The raft instance must be closed first. */
void clu_fsm_close(clu_fsm *fsm);

/* The struct raft_fsm (version 2) to pass to raft_init; owned by fsm. */
struct raft_fsm *clu_fsm_raft(clu_fsm *fsm);

/* Tell the FSM which raft instance drives it (apply reads raft_last_applied to know its
 * entry's index). Call after raft_init, before raft_start. */
void clu_fsm_attach(clu_fsm *fsm, struct raft *raft);

/* The ledger state: borrowed; read it on the loop thread, between callbacks. */
const led_state *clu_fsm_state(const clu_fsm *fsm);

/* h[ledger index]: the chain hash after the last event applied. */
void clu_fsm_chain_hash(const clu_fsm *fsm, uint8_t out[LED_HASH_BYTES]);

void clu_fsm_stats_get(const clu_fsm *fsm, clu_fsm_stats *out);

/* ---- The Raft node (clu_raft.c) ------------------------------------------------------------ */

#define CLU_NODES_MAX 5u

/* One voter of the cluster. */
typedef struct clu_peer {
    uint64_t id;                          /* Raft server id, >= 1, unique */
    char raft_address[CLU_ADDRESS_BYTES]; /* "127.0.0.1:7101": Raft's TCP transport */
    char api[CLU_ADDRESS_BYTES];          /* its client API url, for redirects */
} clu_peer;

/* A node's settings; every field set by the caller. */
typedef struct clu_node_opts {
    uint64_t id;                   /* this node: one of peers[].id */
    char name[LED_NAME_BYTES];     /* for LeaderChanged.node ("node1") */
    const char *raft_dir;          /* libraft's directory (log segments, snapshots); must exist */
    es_store *store;               /* borrowed: the ledger store, outlives the node */
    clu_peer peers[CLU_NODES_MAX]; /* every voter, this node included */
    uint32_t peer_count;           /* 1..CLU_NODES_MAX */
    uint32_t election_timeout_ms;  /* libraft's default is 1000 */
    uint32_t heartbeat_timeout_ms; /* < election_timeout_ms */
    uint32_t snapshot_threshold;   /* entries between snapshots */
    uint32_t snapshot_trailing;    /* entries kept behind a snapshot */
    /* How long a leader waits for a follower to acknowledge a snapshot before sending it again
     * (libraft's default is 30 s: one snapshot lost while the follower was reconnecting then
     * leaves it behind for 30 s). */
    uint32_t install_snapshot_timeout_ms;
    uint64_t checkpoint_every; /* events between state checkpoints in the store */
    /* Stall watchdog: abort when the applied index has not moved for this long while the
     * commit index is ahead of it (libraft 0.15 can wedge after one log write error), or when
     * the node has been unavailable for this long. 0: off. */
    uint32_t stall_timeout_ms;
    /* Divergence check: the node keeps its state hash at every ledger index that is a multiple
     * of this (clu_node_hash_points); 0: none. */
    uint64_t hash_every;
    /* Leave libraft 0.15 without the protocol guard (clu_guard_attach): for benchmarks that
     * measure the guard's cost, and for chaos runs that show what libraft does without it
     * (node config raft.guard: false). Nodes run with it. */
    bool unguarded;
} clu_node_opts;

typedef struct clu_node clu_node;

/* Start a node: a thread running a libuv loop that owns libraft (raft_uv over TCP, pre-vote
 * on, auto-recovery off: a damaged log tail is an error, not a silent truncation). The FSM
 * recovers from the store first. On first start the node bootstraps with every peer as voter.
 * Once it leads, it issues a barrier, then proposes LeaderChanged (term, name). The process
 * ignores SIGPIPE from then on (a peer that dies closes the sockets raft_uv writes to).
 * Errors: TK_EINVAL (opts: why names the field), TK_EIO (libraft refused to start: why has its
 * message), errors of clu_fsm_open_store, TK_ENOMEM. *out written on TK_OK only. */
TK_MUST_USE tk_err clu_node_start(const clu_node_opts *opts, clu_node **out, es_error *why);

/* Stop the node (closes libraft, joins the thread). Proposals not yet answered are answered
 * TK_EAGAIN. NULL is a no-op. Must not be called from the node's own callbacks. */
void clu_node_stop(clu_node *node);

/* How a proposal ended, on the node's loop thread. err: TK_OK (committed and applied: first
 * index and count outcomes, borrowed for the call), TK_EPERM (this node is not the leader:
 * clu_node_status names it; nothing was proposed), TK_EAGAIN (leadership was lost or the node
 * stopped: the outcome is unknown, the events may still commit; retry with the same
 * idempotency key), TK_ENOMEM. */
typedef void clu_proposal_fn(void *arg, tk_err err, uint64_t first_index,
                             const led_outcome *outcomes, uint32_t count);

/* Propose count (1..CLU_ENTRY_EVENTS_MAX) events, copied; fn is called once, later, on the
 * loop thread. Proposals waiting together are packed into entries of up to
 * CLU_ENTRY_EVENTS_MAX events. Thread-safe.
 * Errors (fn is then not called): TK_EINVAL (an event fails led_event_check, or count out of
 * range), TK_ENOMEM. */
TK_MUST_USE tk_err clu_node_propose(clu_node *node, const led_event *events, uint32_t count,
                                    clu_proposal_fn *fn, void *arg);

/* How a leadership transfer ended, on the node's loop thread. err: TK_OK (leader_id, the node
 * asked for or the one libraft picked, now leads: this node has heard from it as leader),
 * TK_EPERM (this node is not the leader: clu_node_status names it; nothing was asked),
 * TK_EINVAL (to is neither 0 nor another voter of the cluster), TK_ENOENT (to was 0 and there is
 * no other voter), TK_EEXIST (a transfer is already under way), TK_ETIMEDOUT (leadership did not
 * move to the target within the election timeout, or libraft could not reach it: leader_id is
 * whoever leads now as far as this node knows, 0 if none), TK_ECANCELED (the node stopped),
 * TK_ENOMEM. The node's status is refreshed before fn is called. */
typedef void clu_transfer_fn(void *arg, tk_err err, uint64_t leader_id);

/* Hand this leader's role to node to (0: libraft picks a voter, one whose log is up to date if
 * there is one), as libraft's raft_transfer does: the leader brings to's log up to date, sends
 * it TimeoutNow, and to starts an election at once, which it wins. Meanwhile the leader takes
 * no proposal (they are answered TK_EPERM). fn is called once, later, on the loop thread; one
 * transfer at a time. Thread-safe. Errors (fn is then not called): TK_ENOMEM. */
TK_MUST_USE tk_err clu_node_transfer(clu_node *node, uint64_t to, clu_transfer_fn *fn, void *arg);

/* The node's status, refreshed on its loop thread every few milliseconds. Thread-safe. */
void clu_node_status(clu_node *node, clu_status *out);

/* Everything /metrics reports: the node's counters, and the ledger's open orders by state,
 * equity and realized PnL read on the loop thread (clu_node_read). Thread-safe; not from the
 * loop thread. actor_restarts_total and mailbox_depth_max stay 0: the node knows no actors (the
 * application fills in what it has). */
void clu_node_metrics(clu_node *node, clu_metrics *out);

/* A replica's state hash at a ledger index, as the divergence check compares them. */
typedef struct clu_hash_point {
    uint64_t ledger_index;
    uint8_t state_hash[LED_HASH_BYTES];
} clu_hash_point;

#define CLU_HASH_POINTS 64u /* points a node keeps */

/* The node's latest hash points (at most max, at most CLU_HASH_POINTS), oldest first, into out;
 * returns how many. Thread-safe. */
uint32_t clu_node_hash_points(clu_node *node, clu_hash_point *out, uint32_t max);

/* Mark the node diverged: status.diverged turns true (and /healthz answers 503) for the rest of
 * the process's life. Thread-safe. */
void clu_node_set_diverged(clu_node *node);

/* The lowest ledger index at which a and b both have a point with different state hashes; 0
 * when they agree wherever both have one. */
uint64_t clu_hash_points_diverge(const clu_hash_point *a, uint32_t a_count, const clu_hash_point *b,
                                 uint32_t b_count);

/* Run fn(arg, state) on the loop thread, between applies, and wait for it: a consistent read of
 * the ledger as this node has applied it (stamped by status.applied_index). Thread-safe; must
 * not be called from the loop thread. */
void clu_node_read(clu_node *node, void (*fn)(void *arg, const led_state *state), void *arg);

/* Called on the loop thread for each committed event, in index order, once its entry is stored:
 * its ledger index, the event as the FSM decoded it, its bytes (led_event_encode, as they
 * travelled), its outcome and the ledger state after its entry (an entry may carry several
 * events), all borrowed for the call. It must not block: it runs between applies. */
typedef void clu_committed_fn(void *arg, uint64_t index, const led_event *ev, const uint8_t *event,
                              size_t size, const led_outcome *outcome, const led_state *state);

/* Called on the loop thread when this node starts leading (its LeaderChanged of the current term
 * is applied: every entry of earlier terms is committed and was delivered before this call) and
 * when it stops (it lost the role or the term moved on), once per change, in order with the
 * committed events; state is the ledger as applied so far, borrowed for the call. */
typedef void clu_leading_fn(void *arg, bool leading, uint64_t term, const led_state *state);

/* A listener: either callback may be NULL; arg identifies it. */
typedef struct clu_listener {
    clu_committed_fn *committed;
    clu_leading_fn *leading;
    void *arg;
} clu_listener;

#define CLU_LISTENERS_MAX 4u

/* Add a listener (copied). Returns once the loop thread uses it; if the node leads at that
 * moment, the listener is told so first (its leading callback, once), so that one added late
 * (a restarted journal actor, a one-node cluster that led before its actors started) misses
 * nothing. Thread-safe; not from the loop thread. Errors: TK_EFULL (CLU_LISTENERS_MAX already). */
TK_MUST_USE tk_err clu_node_listen(clu_node *node, const clu_listener *listener);

/* Remove the listener whose arg is arg (none: no-op). Returns once the loop thread has let go of
 * it: it is never called again. Thread-safe; not from the loop thread. */
void clu_node_unlisten(clu_node *node, void *arg);

/* ---- The client API (clu_api.c): nng req/rep, msgpack payloads ------------------------------- */

/* A request is a msgpack map {"token": str, "op": str, ...arguments}; a reply is a msgpack map
 * {"ok": bool, "node_id": u64, "applied_index": u64 (the Raft index the answer reflects), ...}
 * with, when ok is false, "error" (a code: "unauthorized", "bad_request", "not_leader",
 * "unknown", "forbidden", "failed") and "detail" (text), and with "not_leader" the leader's
 * "leader_api" ("" if unknown). docs/api.md lists every op and field:
 *   reads (any node):  status (with "restarts"), orders, positions, balances, hashes
 *   events (pub):      every committed event, on clu_api_opts.events_url
 *   writes (leader):   kill_switch {on, reason}, risk_limits {...}, strategy {name, enabled},
 *                      order {symbol, side, kind, qty, price, reduce_only}, cancel {order_index}
 *   leadership:        transfer {to} (leader: answered once the role has moved)
 *   debug (opt-in):    crash {actor} (clu_api_opts.debug; "forbidden" otherwise)
 * Every write carries "key", the client's idempotency key, which travels in the event: the
 * ledger refuses a repeat of a recent key on every replica, and the reply to a repeat is the
 * first write's index and decision with "duplicate": true (docs/api.md, "Idempotency"). */

typedef struct clu_api clu_api;

typedef struct clu_api_opts {
    const char *url;   /* rep socket: "tcp://127.0.0.1:7201" */
    const char *token; /* required on every request; compared in constant time */
    clu_node *node;    /* borrowed: outlives the API */
    uint32_t workers;  /* requests served at once (nng contexts, no thread each), 1..1024 */
    /* The divergence check: every check_interval_ms (0: never), ask each peer for its state
     * hash points (op "hashes") and compare them with this node's. A mismatch at the same
     * ledger index is logged as an error, marks the node diverged (clu_node_set_diverged) and
     * sets the kill switch through the leader, which halts trading. */
    char peer_apis[CLU_NODES_MAX][CLU_ADDRESS_BYTES]; /* the other nodes' API urls */
    uint32_t peer_count;
    uint32_t check_interval_ms;
    /* The event stream: a pub socket at this url ("tcp://127.0.0.1:7401"; NULL: none) on which
     * every committed event is published as a msgpack map {"index": u64, "result": str,
     * "rule": str, "event": <the event's map as led_event_encode wrote it>}. Subscribers see
     * events from when they connect; pub/sub drops what a slow subscriber cannot take, so a
     * client that must miss nothing reads the log (troika export) from its last index. */
    const char *events_url;
    /* The node's actor runtime (borrowed: it outlives the API; NULL: the node runs no actors),
     * for op "crash", which ends one of its registered actors as if it had failed. */
    act_system *actors;
    /* Serve op "crash" (node.debug_api); false: it is refused with "forbidden". */
    bool debug;
    /* Restarts carried out by the node's supervisors so far, for status's "restarts"; NULL: 0.
     * The application provides it (this module does not know the supervisors); it is called
     * from nng's threads, so it must be thread-safe. */
    uint64_t (*restarts)(void *arg);
    void *restarts_arg;
} clu_api_opts;

/* Listen on opts->url and serve. Errors: TK_EINVAL (a bad url or option: why says which),
 * TK_EEXIST (address in use), TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err clu_api_start(const clu_api_opts *opts, clu_api **out, char *why,
                                 size_t why_size);

/* Stop serving (requests in progress are answered or dropped) and release. NULL: no-op. */
void clu_api_stop(clu_api *api);

/* One request from a client: request_json is a JSON object text (the token is added); the reply
 * comes back as JSON object text in *out_json (malloc'd; the caller frees it). The wire is
 * msgpack both ways; timeout_ms bounds the whole exchange.
 * Errors: TK_EINVAL (request_json is not a JSON object, or a bad url: why says so),
 * TK_ETIMEDOUT (no answer in time), TK_EIO (cannot connect, or a reply that is not a msgpack
 * map), TK_ENOMEM. */
TK_MUST_USE tk_err clu_api_call(const char *url, const char *token, const char *request_json,
                                uint32_t timeout_ms, char **out_json, char *why, size_t why_size);

#endif /* TK_CLUSTER_CLU_H */
