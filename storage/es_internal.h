/* storage module internals (prefix es__), shared by the files of storage/ only.
 *
 * The store logic (es_store.c, es_snapshot.c) reaches the key-value database only through the
 * es__kv_ops function table, so that a simulator can stand in for RocksDB (STYLE.md section 1).
 * es_rocks.c implements the table over RocksDB and is the only file that includes its header. */
#ifndef TK_STORAGE_ES_INTERNAL_H
#define TK_STORAGE_ES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "es.h"

/* ---- Families and keys ---------------------------------------------------------------------- */

/* The column families of a store, in the order a backend opens them. */
typedef enum es__family {
    ES__FAMILY_EVENTS,
    ES__FAMILY_STATE,
    ES__FAMILY_META,
} es__family;

#define ES__FAMILY_COUNT 3u

/* The family's on-disk name ("events", "state", "meta"). */
const char *es__family_name(es__family family);

#define ES__KEY_INDEX_BYTES 8u /* an events key: the ledger index, big-endian */

/* The one key of the state family. */
#define ES__STATE_KEY "state"
/* The state family's key for the state a store was restored from (es_base_read). */
#define ES__BASE_KEY "base"

/* Shortest events value: one byte of event and the chain hash. */
#define ES__EVENT_VALUE_BYTES_MIN (1u + LED_HASH_BYTES)

/* Bytes borrowed from elsewhere. */
typedef struct es__slice {
    const uint8_t *data; /* borrowed; may be NULL when size is 0 */
    size_t size;
} es__slice;

static inline void es__be64_put(uint64_t value, uint8_t out[8])
{
    for (unsigned i = 0; i < 8u; i++) {
        out[i] = (uint8_t)(value >> (56u - 8u * i));
    }
}

static inline uint64_t es__be64_get(const uint8_t in[8])
{
    uint64_t value = 0;
    for (unsigned i = 0; i < 8u; i++) {
        value = (value << 8u) | in[i];
    }
    return value;
}

/* ---- Errors --------------------------------------------------------------------------------- */

/* Format a message into why (NULL: nothing) and return err, which must not be TK_OK. */
tk_err es__fail(es_error *why, tk_err err, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

/* Put a context in front of the message already in why ("context: old message") and return
 * err, which must not be TK_OK. why may be NULL. */
tk_err es__fail_wrap(es_error *why, tk_err err, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

/* ---- The key-value backend ------------------------------------------------------------------ */

typedef struct es__kv es__kv;             /* an open database */
typedef struct es__kv_batch es__kv_batch; /* an atomic write batch being built */
typedef struct es__kv_iter es__kv_iter;   /* an iterator over one family */

typedef struct es__kv_opts {
    const char *path;       /* borrowed for the call */
    bool create_if_missing; /* create the database and its families when there is none */
    bool sync;              /* every batch is durable before batch_commit returns */
} es__kv_opts;

/* Where an iterator starts and how it reads. */
typedef struct es__kv_iter_opts {
    es__slice from; /* first key >= from, ascending (ignored when last is set) */
    bool last;      /* start at the last key and go backwards instead */
    bool scan;      /* a long sequential read: readahead on, block cache untouched */
} es__kv_iter_opts;

/* Every function reports failures as a tk_err and a text in why (which may be NULL) that names
 * the path, the operation and the family, and carries the backend's own message. */
typedef struct es__kv_ops {
    /* Open the database at opts->path with exactly the families of es__family (and whatever
     * the backend needs for itself). Errors: TK_ENOENT (no database, !create_if_missing),
     * TK_ECORRUPT (damaged; or foreign: other families), TK_EIO, TK_ENOMEM. */
    tk_err (*open)(const es__kv_opts *opts, es__kv **out_kv, es_error *why);
    /* Release everything. NULL is a no-op. Every batch and iterator must be closed. */
    void (*close)(es__kv *kv);
    /* A copy of key's value into *out_value (caller frees it with es_blob_free).
     * Returns TK_ENOENT when the key is absent (why untouched: the caller says what it wanted).
     * Errors: TK_ECORRUPT, TK_EIO, TK_ENOMEM. */
    tk_err (*get)(es__kv *kv, es__family family, es__slice key, es_blob *out_value, es_error *why);
    /* Start an empty batch. Errors: TK_ENOMEM. */
    tk_err (*batch_open)(es__kv *kv, es__kv_batch **out_batch, es_error *why);
    /* Add key -> the concatenation of part_count parts (1 or 2); the bytes are copied. */
    void (*batch_put)(es__kv_batch *batch, es__family family, es__slice key, const es__slice *parts,
                      size_t part_count);
    /* Add the deletion of every key in [begin, end). */
    void (*batch_delete_range)(es__kv_batch *batch, es__family family, es__slice begin,
                               es__slice end);
    /* Apply the whole batch atomically; nothing is applied on error. The batch stays open.
     * Errors: TK_ENOSPC, TK_EIO, TK_ECORRUPT. */
    tk_err (*batch_commit)(es__kv *kv, es__kv_batch *batch, es_error *why);
    /* Release a batch. NULL is a no-op. */
    void (*batch_close)(es__kv_batch *batch);
    /* Open an iterator over family. Errors: TK_ENOMEM. */
    tk_err (*iter_open)(es__kv *kv, es__family family, const es__kv_iter_opts *opts,
                        es__kv_iter **out_iter, es_error *why);
    /* The next pair (the first call gives the starting one). Key and value are borrowed until
     * the next call or close. Returns TK_ENOENT at the end (why untouched); the iterator must
     * not be used after TK_ENOENT or an error. Errors: TK_ECORRUPT, TK_EIO. */
    tk_err (*iter_next)(es__kv_iter *iter, es__slice *out_key, es__slice *out_value, es_error *why);
    /* Release an iterator. NULL is a no-op. */
    void (*iter_close)(es__kv_iter *iter);
} es__kv_ops;

/* The RocksDB backend (es_rocks.c). Static and immutable. */
const es__kv_ops *es__rocks_ops(void);

/* ---- The store ------------------------------------------------------------------------------ */

struct es_store {
    const es__kv_ops *ops;           /* borrowed: a static table */
    es__kv *kv;                      /* owned: closed by es_close */
    char *path;                      /* owned: copy of es_opts.path, for messages */
    char cluster_id[LED_NAME_BYTES]; /* NUL-terminated, possibly empty */
    es_meta meta;                    /* equals the meta family after every call */
    uint32_t cursors_open;           /* es_close and es_snapshot_restore need 0 */
};

/* Write the fields of meta that differ from old (every field when old is NULL) into the meta
 * family through batch. old must be what the family holds. */
void es__meta_put(es_store *store, es__kv_batch *batch, const es_meta *meta, const es_meta *old);

/* Put the cluster id into the meta family through batch. */
void es__cluster_id_put(es_store *store, es__kv_batch *batch, const char *cluster_id);

/* Structural checks of the cached metadata that must hold whenever the store is open. */
void es__store_invariants(const es_store *store);

#endif /* TK_STORAGE_ES_INTERNAL_H */
