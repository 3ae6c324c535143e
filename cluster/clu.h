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

/* ---- Raft entries and the ledger FSM (clu_raft.c, the one file that includes raft.h) ------ */

/* A Raft entry carries a batch of events, framed (docs/cluster.md): the magic "TKRE", a
 * version byte (1), a big-endian u32 count (1..CLU_ENTRY_EVENTS_MAX), then per event a
 * big-endian u16 length and that many bytes of led_event_encode. */
#define CLU_ENTRY_EVENTS_MAX   256u
#define CLU_ENTRY_HEADER_BYTES 9u
#define CLU_ENTRY_BYTES_MAX \
    (CLU_ENTRY_HEADER_BYTES + CLU_ENTRY_EVENTS_MAX * (2u + LED_EVENT_BYTES_MAX))

/* Encode count events (1..CLU_ENTRY_EVENTS_MAX, each valid per led_event_check, else
 * TK_ASSERT) as one entry into buf. Errors: TK_EFULL (buf_size too small). */
TK_MUST_USE tk_err clu_entry_encode(const led_event *events, uint32_t count, uint8_t *buf,
                                    size_t buf_size, size_t *out_size);

/* Decode an entry strictly: magic, version, count in range, every length within the entry,
 * every event per led_event_decode, nothing after the last event. out (room for
 * CLU_ENTRY_EVENTS_MAX events) and *out_count are meaningful only on TK_OK.
 * Errors: TK_EINVAL (why->field names the part: "magic", "version", "count", "length", or the
 * event's field prefixed by its position, as "event 3: qty"), TK_EOVERFLOW, TK_ENOMEM. */
TK_MUST_USE tk_err clu_entry_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes,
                                    led_event *out, uint32_t *out_count, led_event_error *why);

struct raft;
struct raft_fsm;

/* The ledger as a Raft state machine: apply folds each event of an entry into the ledger state
 * at the next ledger index (led_apply) and extends the chain hash; snapshot and restore carry
 * the state as a snapshot blob (led_snapshot_encode). For now the state lives in memory; the
 * Raft journal adds the storage write batch per entry.
 *
 * Apply never fails for a business reason (a refused event is an outcome) and never returns
 * non-zero: libraft 0.15 retries a failed apply forever on the leader. An entry that does not
 * decode (a bug: only troika proposes) changes nothing but is counted
 * (clu_fsm_stats.refused_entries), the same on every replica. An entry at or below the last
 * applied Raft index is skipped. */
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

/* Open an FSM at genesis. *out written on TK_OK only. Errors: TK_ENOMEM. */
TK_MUST_USE tk_err clu_fsm_open(clu_fsm **out);

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

#endif /* TK_CLUSTER_CLU_H */
