/* troika storage (prefix es_, "event store"): one RocksDB database per node that holds the
 * ledger's events, a checkpoint of the ledger state and the position metadata, written together
 * in one atomic batch per applied event batch (docs/storage.md describes the layout).
 *
 * Storage treats event bytes and state bytes as opaque: the ledger encodes and decodes them.
 * It does check its own framing (key sizes, value sizes, the format marker, the cluster id,
 * the consistency of the metadata) and reports damage as TK_ECORRUPT with a text that names the
 * place, never as a crash. It does not recompute chain hashes: the audit does.
 *
 * Context: a store belongs to one thread at a time (the storage actor); none of these functions
 * may be called concurrently on the same store. They block on disk I/O. */
#ifndef TK_STORAGE_ES_H
#define TK_STORAGE_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "led.h"
#include "tk.h"

/* The format marker written at creation under the meta key "format". */
#define ES_FORMAT "troika.store.v1"

/* Longest cluster id, without its NUL: it travels in led_snapshot.cluster_id. */
#define ES_CLUSTER_ID_LEN_MAX (LED_NAME_BYTES - 1u)

/* Size of the chain hash stored after each event. */
#define ES_HASH_BYTES LED_HASH_BYTES

typedef struct es_store es_store;

/* Why a call failed: what, and where (path, column family, key or ledger index), followed by
 * RocksDB's own message when RocksDB reported the error. NUL-terminated, cut to fit. Written
 * only when a call returns an error; every why parameter may be NULL. */
typedef struct es_error {
    char text[512]; /* room for RocksDB's messages, which name the path more than once */
} es_error;

/* How to open a store. Every field is read during es_open only (borrowed for the call). */
typedef struct es_opts {
    const char *path;       /* directory of the database; created when missing and allowed */
    bool create_if_missing; /* false: a missing database is TK_ENOENT */
    bool sync;              /* fsync the write-ahead log on every es_write (true for real nodes) */
    /* Written at creation. When opening an existing store and non-empty, it must equal the
     * stored id. NULL means empty. At most ES_CLUSTER_ID_LEN_MAX bytes. */
    const char *cluster_id;
} es_opts;

/* Open the store at opts->path, creating it (directory, column families, format marker,
 * cluster id and zeroed metadata) when it is missing and opts->create_if_missing is set. An
 * existing store is checked before it is handed out: the format marker, the cluster id, the
 * size of every meta value, the consistency of the metadata with itself and with the first and
 * last stored event. *out_store is written only on TK_OK and is released with es_close.
 * Errors: TK_EINVAL (cluster id too long, or the store belongs to another cluster: "store
 *           belongs to cluster X"),
 *         TK_ENOENT (no database at path and !create_if_missing),
 *         TK_ECORRUPT (RocksDB reports corruption, e.g. a damaged SST, MANIFEST or CURRENT, or
 *           RocksDB files without a CURRENT; or a foreign database: other column families, a
 *           missing or different format marker; or meta values of the wrong size or that
 *           contradict each other or the events),
 *         TK_EIO (any other RocksDB error, e.g. the lock is held by another process; the text
 *           says so), TK_ENOMEM.
 * Context: any thread; blocks while RocksDB opens (WAL replay can take seconds). */
TK_MUST_USE tk_err es_open(const es_opts *opts, es_store **out_store, es_error *why);

/* Close the store and release its memory. Nothing needs flushing: every batch es_write returned
 * TK_OK for is already in RocksDB's write-ahead log. Every cursor of the store must be closed
 * first (TK_ASSERT). NULL is a no-op. */
void es_close(es_store *store);

/* The position of the store, as written by the last es_write or es_snapshot_restore. */
typedef struct es_meta {
    uint64_t last_index;                     /* last event stored; 0 when empty */
    uint8_t chain_hash[LED_HASH_BYTES];      /* h[last_index]; zeros for index 0 */
    uint64_t raft_index;                     /* last Raft entry applied; 0 for local journals */
    uint64_t base_index;                     /* events are stored from base_index + 1; 0 unless
                                                restored from a snapshot */
    uint8_t base_chain_hash[LED_HASH_BYTES]; /* h[base_index]; zeros for index 0 */
    uint64_t checkpoint_index;               /* index the stored state checkpoint is at; 0 for
                                                none or a checkpoint of the genesis state */
} es_meta;

/* Read the metadata from the meta family into *out (written only on TK_OK). A fresh store
 * reads all zeros. Errors: TK_ECORRUPT (a meta value is missing or of the wrong size, or
 * RocksDB reports corruption), TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err es_meta_read(es_store *store, es_meta *out, es_error *why);

/* The store's cluster id: NUL-terminated, possibly empty, borrowed until es_close. */
const char *es_cluster_id(const es_store *store);

/* One event to store. Pointers are borrowed for the call: es_write copies the bytes. */
typedef struct es_record {
    uint64_t index;            /* ledger index, >= 1 */
    const uint8_t *event;      /* encoded event, event_size >= 1 bytes */
    size_t event_size;         /* bytes at event */
    const uint8_t *chain_hash; /* LED_HASH_BYTES bytes: h[index] */
} es_record;

/* A state checkpoint to store: the state encoded by led_state_encode at ledger index index.
 * state is borrowed for the call. */
typedef struct es_checkpoint {
    uint64_t index;
    const uint8_t *state; /* state_size >= 1 bytes (an encoded state is never empty) */
    size_t state_size;
} es_checkpoint;

/* Write, in ONE atomic RocksDB write batch (fsynced when opts.sync was set): the count records
 * into the events family, every field of *meta into the meta family and, when checkpoint is
 * not NULL, the state bytes into the state family. Either all of it is on disk or none of it.
 * Programmer errors (TK_ASSERT): records not contiguous; the first index not the stored
 * last_index + 1; meta->last_index not the last record's index (or, for count 0, not the
 * stored last_index); meta->chain_hash not the last record's hash (count 0: not the stored
 * one); meta->base_index or base_chain_hash changed; meta->raft_index going back;
 * meta->checkpoint_index not checkpoint->index (checkpoint NULL: not the stored one);
 * checkpoint->index outside base_index..meta->last_index; an empty event or state.
 * count may be 0 (meta and checkpoint only). records may be NULL when count is 0.
 * Errors: TK_ENOSPC (disk full), TK_EIO (any other RocksDB error), TK_ECORRUPT (RocksDB
 *         reports corruption); the text carries RocksDB's message. Nothing is written on error.
 * Context: the storage actor; blocks for the fsync when sync is set. */
TK_MUST_USE tk_err es_write(es_store *store, const es_record *records, size_t count,
                            const es_meta *meta, const es_checkpoint *checkpoint, es_error *why);

/* An iterator over the events family in index order. Owned by the caller, released with
 * es_cursor_close before the store is closed. It sees the store as it was when opened. */
typedef struct es_cursor es_cursor;

/* Open a cursor at the first stored event with index >= from_index. The cursor reads with
 * readahead and without filling the block cache, for long scans (replay, audit).
 * *out is written only on TK_OK. Errors: TK_ECORRUPT, TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err es_cursor_open(es_store *store, uint64_t from_index, es_cursor **out,
                                  es_error *why);

/* The next event into *out: out->event and out->chain_hash are borrowed and valid until the
 * next es_cursor_next or es_cursor_close. Contiguity and hashes are not checked here: the
 * caller (replay, audit) does.
 * Returns TK_OK with *out filled, TK_ENOENT at the end (and on every later call).
 * Errors: TK_ECORRUPT (a key that is not 8 bytes, or a value shorter than LED_HASH_BYTES + 1
 *         bytes: the text names the key or index; or RocksDB reports corruption), TK_EIO.
 *         After an error, every later call returns the same error and text. */
TK_MUST_USE tk_err es_cursor_next(es_cursor *cur, es_record *out, es_error *why);

/* Release the cursor. NULL is a no-op. */
void es_cursor_close(es_cursor *cur);

/* Read the event at index into buf (buf_size bytes), its size into *out_event_size and its
 * chain hash into out_chain_hash; all three are written only on TK_OK. LED_EVENT_BYTES_MAX
 * bytes hold any valid event.
 * Errors: TK_ENOENT (no event at index), TK_EFULL (the event is larger than buf_size),
 *         TK_ECORRUPT (value shorter than LED_HASH_BYTES + 1 bytes, or RocksDB reports
 *         corruption), TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err es_event_read(es_store *store, uint64_t index, uint8_t *buf, size_t buf_size,
                                 size_t *out_event_size, uint8_t out_chain_hash[LED_HASH_BYTES],
                                 es_error *why);

/* Bytes owned by the caller (malloc'd by storage), released with es_blob_free. */
typedef struct es_blob {
    uint8_t *data; /* owned; NULL when size is 0 */
    size_t size;
} es_blob;

/* Free blob->data and set the blob to {NULL, 0}. NULL or an empty blob is a no-op. */
void es_blob_free(es_blob *blob);

/* Read the stored state checkpoint: its index into *out_index and a copy of its bytes into
 * *out_state (the caller frees it with es_blob_free); both written only on TK_OK.
 * Errors: TK_ENOENT (no checkpoint was ever written),
 *         TK_ECORRUPT (meta names a checkpoint that is missing, the stored state is empty, or
 *         RocksDB reports corruption), TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err es_checkpoint_read(es_store *store, uint64_t *out_index, es_blob *out_state,
                                      es_error *why);

/* Export the state checkpoint and the position as one blob encoded by led_snapshot_encode:
 * index = checkpoint index (= last_index), chain hash h[index], raft_index, and the store's
 * cluster id. The chain hash in meta is cross-checked against the stored event at that index.
 * *out (caller frees with es_blob_free) is written only on TK_OK.
 * Errors: TK_EINVAL (checkpoint_index != last_index: "checkpoint is behind the last event:
 *           checkpoint first"),
 *         TK_ENOENT (no checkpoint was ever written),
 *         TK_ECORRUPT (the stored hash at index differs from meta's, or as es_checkpoint_read),
 *         TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err es_snapshot_export(es_store *store, es_blob *out, es_error *why);

/* Replace the store's contents with a snapshot blob (from es_snapshot_export, possibly of
 * another node). The blob is decoded strictly with led_snapshot_decode; its cluster id must
 * equal the store's when both are non-empty, and a store without one adopts the snapshot's.
 * Then, in ONE write batch: every event is deleted, the state bytes are stored as the
 * checkpoint, and meta becomes last_index = base_index = checkpoint_index = snapshot index,
 * chain_hash = base_chain_hash = snapshot chain hash, raft_index = snapshot raft index. The
 * state bytes are not decoded here: the caller decodes them with led_state_decode. No cursor
 * may be open (TK_ASSERT). blob is borrowed for the call.
 * Errors: TK_EINVAL (bad blob: the text names the key and the reason; or a chain hash that is
 *           not zero at index 0; or another cluster's snapshot),
 *         TK_ENOSPC, TK_EIO, TK_ECORRUPT (RocksDB's), TK_ENOMEM. Nothing changes on error. */
TK_MUST_USE tk_err es_snapshot_restore(es_store *store, const uint8_t *blob, size_t size,
                                       es_error *why);

/* ---- Replay and audit (es_replay.c) ---------------------------------------------------------- */

/* The state the store was restored from (es_snapshot_restore keeps it under the state
 * family's "base" key, so that an audit can start where the store's events start). A copy into
 * *out (caller frees with es_blob_free), written only on TK_OK.
 * Errors: TK_ENOENT (the store was never restored: its events start at genesis), TK_ECORRUPT,
 * TK_EIO, TK_ENOMEM. */
TK_MUST_USE tk_err es_base_read(es_store *store, es_blob *out, es_error *why);

/* What es_replay hands its visitor for each event, after applying it; every pointer is
 * borrowed for the call. */
typedef struct es_replay_step {
    uint64_t index;
    const led_event *ev;
    const uint8_t *bytes; /* the event as stored */
    size_t size;
    const uint8_t *chain_hash; /* h[index], recomputed and equal to the stored one */
    const led_outcome *outcome;
} es_replay_step;

typedef void es_replay_visit_fn(void *arg, const es_replay_step *step);

typedef struct es_replay_opts {
    /* true: start from the state checkpoint (recovery); false: from the store's base, genesis
     * or the snapshot it was restored from, and check the checkpoint on the way (the audit). */
    bool from_checkpoint;
    uint64_t until_index; /* stop after this index; UINT64_MAX: no limit */
    int64_t until_ts_ns;  /* stop before the first event whose ts_ns is later; INT64_MAX: none */
    es_replay_visit_fn *visit; /* NULL, or called per event */
    void *arg;                 /* passed to visit */
} es_replay_opts;

typedef struct es_replay_result {
    uint64_t events;                    /* events applied by this replay */
    uint64_t last_index;                /* the index the state is at */
    uint8_t chain_hash[LED_HASH_BYTES]; /* h[last_index], recomputed */
    bool checkpoint_checked; /* the state matched the stored checkpoint, or started there */
    uint64_t bad_index;      /* on TK_ECORRUPT: the first index that does not verify */
} es_replay_result;

/* Rebuild state from the store (state is reset first) and check
 * it on the way: every event's index follows the last (no gap), every event decodes strictly,
 * every recomputed chain hash h[i] = SHA-256(h[i-1] || i || event) equals the stored one, the
 * state at the checkpoint's index encodes to the stored checkpoint's bytes, and, when the
 * events were read to the end, they end at meta's last index and hash. *out is written on
 * TK_OK and on TK_ECORRUPT (then bad_index and why->text name the first bad index and what
 * differs: "index 42: the chain hash differs from the stored one: ...").
 * Errors: TK_ECORRUPT (as above, or as es_cursor_next), TK_EIO, TK_ENOMEM.
 * Context: as the store; a long scan (about a microsecond per event). */
TK_MUST_USE tk_err es_replay(es_store *store, led_state *state, const es_replay_opts *opts,
                             es_replay_result *out, es_error *why);

#endif /* TK_STORAGE_ES_H */
