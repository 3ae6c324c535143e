/* Opening, checking and writing a store: the format marker, the cluster id, the metadata and
 * the one write batch per applied event batch. Reads and cursors are in es_read.c, snapshots in
 * es_snapshot.c. docs/storage.md describes the layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_internal.h"

/* Meta keys (docs/storage.md). Numbers are 8 bytes big-endian, hashes 32 raw bytes. */
#define META_FORMAT           "format"
#define META_CLUSTER_ID       "cluster_id"
#define META_LAST_INDEX       "last_index"
#define META_CHAIN_HASH       "chain_hash"
#define META_RAFT_INDEX       "raft_index"
#define META_BASE_INDEX       "base_index"
#define META_BASE_CHAIN_HASH  "base_chain_hash"
#define META_CHECKPOINT_INDEX "checkpoint_index"

static es__slice text_slice(const char *text)
{
    TK_ASSERT(text != NULL);
    return (es__slice){.data = (const uint8_t *)text, .size = strlen(text)};
}

static bool hash_is_zero(const uint8_t hash[LED_HASH_BYTES])
{
    static const uint8_t zero[LED_HASH_BYTES];
    return memcmp(hash, zero, LED_HASH_BYTES) == 0;
}

/* Copy up to 48 bytes of possibly binary text into out, printable ASCII kept, others '?'. */
static void printable(const uint8_t *data, size_t size, char out[49])
{
    size_t n = size < 48u ? size : 48u;
    for (size_t i = 0; i < n; i++) {
        out[i] = (data[i] >= 0x20u && data[i] < 0x7fu) ? (char)data[i] : '?';
    }
    out[n] = '\0';
}

void es__store_invariants(const es_store *store)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(store->kv != NULL);
    const es_meta *meta = &store->meta;
    TK_ASSERT(meta->base_index <= meta->last_index);
    TK_ASSERT(meta->base_index <= meta->checkpoint_index);
    TK_ASSERT(meta->checkpoint_index <= meta->last_index);
    TK_ASSERT(memchr(store->cluster_id, '\0', sizeof(store->cluster_id)) != NULL);
}

static void meta_put_u64(es_store *store, es__kv_batch *batch, const char *key, uint64_t value)
{
    TK_ASSERT(batch != NULL);
    TK_ASSERT(key != NULL);
    uint8_t bytes[8];
    es__be64_put(value, bytes);
    es__slice part = {.data = bytes, .size = sizeof(bytes)};
    store->ops->batch_put(batch, ES__FAMILY_META, text_slice(key), &part, 1); /* copied */
}

static void meta_put_hash(es_store *store, es__kv_batch *batch, const char *key,
                          const uint8_t hash[LED_HASH_BYTES])
{
    TK_ASSERT(batch != NULL);
    TK_ASSERT(hash != NULL);
    es__slice part = {.data = hash, .size = LED_HASH_BYTES};
    store->ops->batch_put(batch, ES__FAMILY_META, text_slice(key), &part, 1);
}

void es__meta_put(es_store *store, es__kv_batch *batch, const es_meta *meta, const es_meta *old)
{
    TK_ASSERT(batch != NULL);
    TK_ASSERT(meta->base_index <= meta->last_index);
    /* Only what changed: every key of RocksDB's memtable is another version to skip over, and
     * a batch per event would otherwise write six (four of them the same as before). */
    if (old == NULL || meta->last_index != old->last_index)
        meta_put_u64(store, batch, META_LAST_INDEX, meta->last_index);
    if (old == NULL || memcmp(meta->chain_hash, old->chain_hash, LED_HASH_BYTES) != 0)
        meta_put_hash(store, batch, META_CHAIN_HASH, meta->chain_hash);
    if (old == NULL || meta->raft_index != old->raft_index)
        meta_put_u64(store, batch, META_RAFT_INDEX, meta->raft_index);
    if (old == NULL || meta->base_index != old->base_index)
        meta_put_u64(store, batch, META_BASE_INDEX, meta->base_index);
    if (old == NULL || memcmp(meta->base_chain_hash, old->base_chain_hash, LED_HASH_BYTES) != 0)
        meta_put_hash(store, batch, META_BASE_CHAIN_HASH, meta->base_chain_hash);
    if (old == NULL || meta->checkpoint_index != old->checkpoint_index)
        meta_put_u64(store, batch, META_CHECKPOINT_INDEX, meta->checkpoint_index);
}

void es__cluster_id_put(es_store *store, es__kv_batch *batch, const char *cluster_id)
{
    TK_ASSERT(batch != NULL);
    TK_ASSERT(strlen(cluster_id) <= ES_CLUSTER_ID_LEN_MAX);
    es__slice part = text_slice(cluster_id);
    store->ops->batch_put(batch, ES__FAMILY_META, text_slice(META_CLUSTER_ID), &part, 1);
}

/* The value of a meta key into *out_value (caller frees); a missing key is TK_ECORRUPT. */
static tk_err meta_get(es_store *store, const char *key, es_blob *out_value, es_error *why)
{
    TK_ASSERT(key != NULL);
    TK_ASSERT(out_value != NULL);
    tk_err err = store->ops->get(store->kv, ES__FAMILY_META, text_slice(key), out_value, why);
    if (err == TK_ENOENT) {
        return es__fail(why, TK_ECORRUPT, "%s: meta key '%s' is missing", store->path, key);
    }
    if (err != TK_OK) return es__fail_wrap(why, err, "meta key '%s'", key);
    return TK_OK;
}

/* A meta value of exactly size bytes into out. */
static tk_err meta_get_fixed(es_store *store, const char *key, uint8_t *out, size_t size,
                             es_error *why)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(size == 8u || size == LED_HASH_BYTES);
    es_blob value = {NULL, 0};
    tk_err err = meta_get(store, key, &value, why);
    if (err != TK_OK) return err;
    if (value.size == size) {
        memcpy(out, value.data, size);
    } else {
        err = es__fail(why, TK_ECORRUPT, "%s: meta key '%s' is %zu bytes, want %zu", store->path,
                       key, value.size, size);
    }
    es_blob_free(&value);
    return err;
}

static tk_err meta_get_u64(es_store *store, const char *key, uint64_t *out, es_error *why)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(key != NULL);
    uint8_t bytes[8];
    tk_err err = meta_get_fixed(store, key, bytes, sizeof(bytes), why);
    if (err == TK_OK) *out = es__be64_get(bytes);
    return err;
}

/* Every field of the meta family, each of its exact size; consistency is checked elsewhere. */
static tk_err meta_load(es_store *store, es_meta *out, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(out != NULL);
    es_meta meta;
    tk_err err = meta_get_u64(store, META_LAST_INDEX, &meta.last_index, why);
    if (err == TK_OK) {
        err = meta_get_fixed(store, META_CHAIN_HASH, meta.chain_hash, LED_HASH_BYTES, why);
    }
    if (err == TK_OK) err = meta_get_u64(store, META_RAFT_INDEX, &meta.raft_index, why);
    if (err == TK_OK) err = meta_get_u64(store, META_BASE_INDEX, &meta.base_index, why);
    if (err == TK_OK) {
        err =
            meta_get_fixed(store, META_BASE_CHAIN_HASH, meta.base_chain_hash, LED_HASH_BYTES, why);
    }
    if (err == TK_OK) {
        err = meta_get_u64(store, META_CHECKPOINT_INDEX, &meta.checkpoint_index, why);
    }
    if (err != TK_OK) return err;
    *out = meta;
    return TK_OK;
}

/* The metadata must agree with itself; a store that breaks this was damaged or edited. */
static tk_err meta_check(const es_store *store, const es_meta *m, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(m != NULL);
    const char *problem = NULL;
    if (m->base_index > m->last_index) problem = "base_index is after last_index";
    if (m->checkpoint_index > m->last_index) problem = "checkpoint_index is after last_index";
    if (m->checkpoint_index < m->base_index) problem = "checkpoint_index is before base_index";
    if (m->last_index == 0 && !hash_is_zero(m->chain_hash)) {
        problem = "chain_hash is not zero at index 0";
    }
    if (m->base_index == 0 && !hash_is_zero(m->base_chain_hash)) {
        problem = "base_chain_hash is not zero at index 0";
    }
    if (m->last_index == m->base_index &&
        memcmp(m->chain_hash, m->base_chain_hash, LED_HASH_BYTES) != 0) {
        problem = "chain_hash differs from base_chain_hash with no event after the base";
    }
    if (problem == NULL) return TK_OK;
    return es__fail(why, TK_ECORRUPT,
                    "%s: meta is inconsistent: %s (last_index %llu, base_index %llu, "
                    "checkpoint_index %llu)",
                    store->path, problem, (unsigned long long)m->last_index,
                    (unsigned long long)m->base_index, (unsigned long long)m->checkpoint_index);
}

/* The index and chain hash of the first (with last: the last) stored event. TK_ENOENT when
 * the events family is empty (why untouched). */
static tk_err events_edge(es_store *store, bool last, uint64_t *out_index,
                          uint8_t out_hash[LED_HASH_BYTES], es_error *why)
{
    TK_ASSERT(out_index != NULL);
    TK_ASSERT(out_hash != NULL);
    es__kv_iter_opts opts = {.from = {NULL, 0}, .last = last, .scan = false};
    es__kv_iter *iter = NULL;
    tk_err err = store->ops->iter_open(store->kv, ES__FAMILY_EVENTS, &opts, &iter, why);
    if (err != TK_OK) return err;
    es__slice key;
    es__slice value;
    err = store->ops->iter_next(iter, &key, &value, why);
    if (err == TK_OK && key.size != ES__KEY_INDEX_BYTES) {
        err = es__fail(why, TK_ECORRUPT, "%s: events key of %zu bytes, want 8", store->path,
                       key.size);
    }
    if (err == TK_OK && value.size < ES__EVENT_VALUE_BYTES_MIN) {
        err = es__fail(why, TK_ECORRUPT, "%s: event %llu: value of %zu bytes, want at least %u",
                       store->path, (unsigned long long)es__be64_get(key.data), value.size,
                       ES__EVENT_VALUE_BYTES_MIN);
    }
    if (err == TK_OK) {
        *out_index = es__be64_get(key.data);
        memcpy(out_hash, value.data + value.size - LED_HASH_BYTES, LED_HASH_BYTES);
    }
    store->ops->iter_close(iter);
    return err;
}

/* The events family must run from base_index + 1 to last_index, and the hash stored with the
 * last event must be meta's chain_hash. Only the two ends are read: the audit checks the rest. */
static tk_err events_check(es_store *store, es_error *why)
{
    const es_meta *m = &store->meta;
    TK_ASSERT(m->base_index <= m->last_index);
    uint64_t first = 0;
    uint8_t hash[LED_HASH_BYTES];
    tk_err err = events_edge(store, false, &first, hash, why);
    if (err == TK_ENOENT && m->last_index == m->base_index) return TK_OK;
    if (err == TK_ENOENT) {
        return es__fail(why, TK_ECORRUPT,
                        "%s: meta says events %llu..%llu are stored, the events family is empty",
                        store->path, (unsigned long long)m->base_index + 1u,
                        (unsigned long long)m->last_index);
    }
    if (err != TK_OK) return err;
    if (first != m->base_index + 1u) {
        return es__fail(
            why, TK_ECORRUPT, "%s: the first stored event is %llu, meta says %llu (base_index + 1)",
            store->path, (unsigned long long)first, (unsigned long long)m->base_index + 1u);
    }
    uint64_t last = 0;
    err = events_edge(store, true, &last, hash, why);
    TK_ASSERT(err != TK_ENOENT); /* the family was not empty a moment ago */
    if (err != TK_OK) return err;
    if (last != m->last_index) {
        return es__fail(why, TK_ECORRUPT, "%s: the last stored event is %llu, meta says %llu",
                        store->path, (unsigned long long)last, (unsigned long long)m->last_index);
    }
    if (memcmp(hash, m->chain_hash, LED_HASH_BYTES) != 0) {
        return es__fail(why, TK_ECORRUPT,
                        "%s: the chain hash stored with event %llu differs from meta's chain_hash",
                        store->path, (unsigned long long)last);
    }
    return TK_OK;
}

/* TK_OK when the store carries our format marker, TK_ENOENT when it has none, TK_ECORRUPT
 * when it has another one. */
static tk_err format_check(es_store *store, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(store->kv != NULL);
    es_blob value = {NULL, 0};
    tk_err err = store->ops->get(store->kv, ES__FAMILY_META, text_slice(META_FORMAT), &value, why);
    if (err == TK_ENOENT) return TK_ENOENT;
    if (err != TK_OK) return es__fail_wrap(why, err, "meta key '%s'", META_FORMAT);
    if (value.size != strlen(ES_FORMAT) || memcmp(value.data, ES_FORMAT, value.size) != 0) {
        char shown[49];
        printable(value.data, value.size, shown);
        err = es__fail(why, TK_ECORRUPT,
                       "%s: foreign database: meta key '%s' is '%s' (%zu bytes), want '%s'",
                       store->path, META_FORMAT, shown, value.size, ES_FORMAT);
    }
    es_blob_free(&value);
    return err;
}

/* *out_blank: no family holds any key (a database from an interrupted creation). */
static tk_err store_is_blank(es_store *store, bool *out_blank, es_error *why)
{
    TK_ASSERT(out_blank != NULL);
    TK_ASSERT(store->kv != NULL);
    bool blank = true;
    for (unsigned f = 0; f < ES__FAMILY_COUNT && blank; f++) {
        es__kv_iter_opts opts = {.from = {NULL, 0}, .last = false, .scan = false};
        es__kv_iter *iter = NULL;
        tk_err err = store->ops->iter_open(store->kv, (es__family)f, &opts, &iter, why);
        if (err != TK_OK) return err;
        es__slice key;
        es__slice value;
        err = store->ops->iter_next(iter, &key, &value, why);
        store->ops->iter_close(iter);
        if (err == TK_OK) blank = false;
        if (err != TK_OK && err != TK_ENOENT) return err;
    }
    *out_blank = blank;
    return TK_OK;
}

/* Write the format marker, the cluster id and zeroed metadata to a blank store. */
static tk_err store_create(es_store *store, const char *cluster_id, es_error *why)
{
    TK_ASSERT(cluster_id != NULL);
    TK_ASSERT(strlen(cluster_id) <= ES_CLUSTER_ID_LEN_MAX);
    es__kv_batch *batch = NULL;
    tk_err err = store->ops->batch_open(store->kv, &batch, why);
    if (err != TK_OK) return err;
    es__slice format = text_slice(ES_FORMAT);
    store->ops->batch_put(batch, ES__FAMILY_META, text_slice(META_FORMAT), &format, 1);
    es__cluster_id_put(store, batch, cluster_id);
    es_meta zero;
    memset(&zero, 0, sizeof(zero));
    es__meta_put(store, batch, &zero, NULL);
    err = store->ops->batch_commit(store->kv, batch, why);
    store->ops->batch_close(batch);
    if (err != TK_OK) return es__fail_wrap(why, err, "creating the store");
    memcpy(store->cluster_id, cluster_id, strlen(cluster_id) + 1u);
    store->meta = zero;
    return TK_OK;
}

/* A database with our families and no format marker: finish its creation if it is blank and
 * creation is allowed; refuse it otherwise. */
static tk_err store_adopt_blank(es_store *store, bool create, const char *cluster_id, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(cluster_id != NULL);
    bool blank = false;
    tk_err err = store_is_blank(store, &blank, why);
    if (err != TK_OK) return err;
    if (!blank) {
        return es__fail(why, TK_ECORRUPT,
                        "%s: foreign database: no meta key '%s' and the families hold data",
                        store->path, META_FORMAT);
    }
    if (!create) {
        return es__fail(why, TK_ENOENT,
                        "%s: an empty database without a format marker (its creation was "
                        "interrupted): open with create_if_missing to finish it",
                        store->path);
    }
    return store_create(store, cluster_id, why);
}

static tk_err cluster_id_load(es_store *store, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(store->kv != NULL);
    es_blob value = {NULL, 0};
    tk_err err = meta_get(store, META_CLUSTER_ID, &value, why);
    if (err != TK_OK) return err;
    if (value.size > ES_CLUSTER_ID_LEN_MAX) {
        err = es__fail(why, TK_ECORRUPT, "%s: meta key '%s' is %zu bytes, at most %u", store->path,
                       META_CLUSTER_ID, value.size, ES_CLUSTER_ID_LEN_MAX);
    } else if (value.size > 0 && memchr(value.data, '\0', value.size) != NULL) {
        err = es__fail(why, TK_ECORRUPT, "%s: meta key '%s' holds a NUL byte", store->path,
                       META_CLUSTER_ID);
    } else {
        if (value.size > 0) memcpy(store->cluster_id, value.data, value.size);
        store->cluster_id[value.size] = '\0';
    }
    es_blob_free(&value);
    return err;
}

/* Load and check an existing store: cluster id, metadata, the ends of the events family. */
static tk_err store_load(es_store *store, const char *want_cluster_id, es_error *why)
{
    TK_ASSERT(want_cluster_id != NULL);
    TK_ASSERT(store->kv != NULL);
    tk_err err = cluster_id_load(store, why);
    if (err != TK_OK) return err;
    if (want_cluster_id[0] != '\0' && strcmp(want_cluster_id, store->cluster_id) != 0) {
        return es__fail(why, TK_EINVAL, "%s: store belongs to cluster '%s', not '%s'", store->path,
                        store->cluster_id, want_cluster_id);
    }
    es_meta meta;
    err = meta_load(store, &meta, why);
    if (err != TK_OK) return err;
    err = meta_check(store, &meta, why);
    if (err != TK_OK) return err;
    store->meta = meta;
    return events_check(store, why);
}

tk_err es_open(const es_opts *opts, es_store **out_store, es_error *why)
{
    TK_ASSERT(opts != NULL);
    TK_ASSERT(opts->path != NULL);
    TK_ASSERT(out_store != NULL);
    const char *cluster_id = opts->cluster_id == NULL ? "" : opts->cluster_id;
    if (strlen(cluster_id) > ES_CLUSTER_ID_LEN_MAX) {
        return es__fail(why, TK_EINVAL, "%s: cluster id '%s' is longer than %u bytes", opts->path,
                        cluster_id, ES_CLUSTER_ID_LEN_MAX);
    }
    es_store *store = calloc(1, sizeof(*store));
    if (store == NULL) return es__fail(why, TK_ENOMEM, "%s: out of memory", opts->path);
    store->ops = es__rocks_ops();
    tk_err err = TK_ENOMEM;
    store->path = strdup(opts->path);
    if (store->path == NULL) {
        (void)es__fail(why, err, "%s: out of memory", opts->path);
        goto fail;
    }
    es__kv_opts kv_opts = {
        .path = opts->path, .create_if_missing = opts->create_if_missing, .sync = opts->sync};
    err = store->ops->open(&kv_opts, &store->kv, why);
    if (err != TK_OK) goto fail;
    err = format_check(store, why);
    if (err == TK_ENOENT) {
        err = store_adopt_blank(store, opts->create_if_missing, cluster_id, why);
    } else if (err == TK_OK) {
        err = store_load(store, cluster_id, why);
    }
    if (err != TK_OK) goto fail;
    es__store_invariants(store);
    *out_store = store;
    return TK_OK;
fail:
    es_close(store);
    return err;
}

void es_close(es_store *store)
{
    if (store == NULL) return;
    TK_ASSERT(store->cursors_open == 0); /* every cursor is closed before its store */
    TK_ASSERT(store->ops != NULL);
    store->ops->close(store->kv);
    free(store->path);
    free(store);
}

tk_err es_meta_read(es_store *store, es_meta *out, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(out != NULL);
    es_meta meta;
    tk_err err = meta_load(store, &meta, why);
    if (err != TK_OK) return err;
    /* nothing else writes the database while it is open (RocksDB's lock) */
    TK_ASSERT(meta.last_index == store->meta.last_index);
    TK_ASSERT(meta.checkpoint_index == store->meta.checkpoint_index);
    *out = meta;
    return TK_OK;
}

const char *es_cluster_id(const es_store *store)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(memchr(store->cluster_id, '\0', sizeof(store->cluster_id)) != NULL);
    return store->cluster_id;
}

/* The preconditions of es_write (header comment): broken ones are programmer errors. */
static void write_args_check(const es_store *store, const es_record *records, size_t count,
                             const es_meta *meta, const es_checkpoint *checkpoint)
{
    const es_meta *now = &store->meta;
    TK_ASSERT(meta->base_index == now->base_index);
    TK_ASSERT(memcmp(meta->base_chain_hash, now->base_chain_hash, LED_HASH_BYTES) == 0);
    TK_ASSERT(meta->raft_index >= now->raft_index);
    if (count == 0) {
        TK_ASSERT(meta->last_index == now->last_index);
        TK_ASSERT(memcmp(meta->chain_hash, now->chain_hash, LED_HASH_BYTES) == 0);
    }
    for (size_t i = 0; i < count; i++) {
        TK_ASSERT(records[i].index == now->last_index + 1u + i); /* contiguous, next */
        TK_ASSERT(records[i].event != NULL);
        TK_ASSERT(records[i].event_size >= 1u);
        TK_ASSERT(records[i].chain_hash != NULL);
    }
    if (count > 0) {
        TK_ASSERT(records[count - 1u].index == meta->last_index);
        TK_ASSERT(memcmp(records[count - 1u].chain_hash, meta->chain_hash, LED_HASH_BYTES) == 0);
    }
    if (checkpoint == NULL) {
        TK_ASSERT(meta->checkpoint_index == now->checkpoint_index);
        return;
    }
    TK_ASSERT(checkpoint->index == meta->checkpoint_index);
    TK_ASSERT(checkpoint->index >= meta->base_index);
    TK_ASSERT(checkpoint->index <= meta->last_index);
    TK_ASSERT(checkpoint->state != NULL);
    TK_ASSERT(checkpoint->state_size >= 1u); /* an encoded state is never empty */
}

static void event_put(es_store *store, es__kv_batch *batch, const es_record *record)
{
    TK_ASSERT(record->event_size >= 1u);
    TK_ASSERT(record->chain_hash != NULL);
    uint8_t key[ES__KEY_INDEX_BYTES];
    es__be64_put(record->index, key);
    es__slice parts[2] = {
        {.data = record->event, .size = record->event_size},
        {.data = record->chain_hash, .size = LED_HASH_BYTES},
    };
    store->ops->batch_put(batch, ES__FAMILY_EVENTS, (es__slice){key, sizeof(key)}, parts, 2);
}

tk_err es_write(es_store *store, const es_record *records, size_t count, const es_meta *meta,
                const es_checkpoint *checkpoint, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(meta != NULL);
    if (count > 0) TK_ASSERT(records != NULL);
    write_args_check(store, records, count, meta, checkpoint);
    es__kv_batch *batch = NULL;
    tk_err err = store->ops->batch_open(store->kv, &batch, why);
    if (err != TK_OK) return err;
    for (size_t i = 0; i < count; i++) {
        event_put(store, batch, &records[i]);
    }
    es__meta_put(store, batch, meta, &store->meta); /* the cache equals the family */
    if (checkpoint != NULL) {
        es__slice state = {.data = checkpoint->state, .size = checkpoint->state_size};
        store->ops->batch_put(batch, ES__FAMILY_STATE, text_slice(ES__STATE_KEY), &state, 1);
    }
    err = store->ops->batch_commit(store->kv, batch, why);
    store->ops->batch_close(batch);
    if (err != TK_OK) {
        return es__fail_wrap(why, err, "writing %zu events after %llu%s", count,
                             (unsigned long long)store->meta.last_index,
                             checkpoint != NULL ? " and a checkpoint" : "");
    }
    store->meta = *meta;
    es__store_invariants(store);
    return TK_OK;
}
