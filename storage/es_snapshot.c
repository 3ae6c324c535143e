/* Snapshots: the state checkpoint and the position as one led_snapshot blob, exported from a
 * store and restored into one (possibly on another node). */
#include <stdlib.h>
#include <string.h>

#include "es_internal.h"

/* h[index] for a snapshot at meta's last_index: meta's chain_hash, cross-checked against the
 * hash stored with that event when the event is in the store (it is not at the base). */
static tk_err snapshot_hash(es_store *store, uint8_t out[LED_HASH_BYTES], es_error *why)
{
    const es_meta *meta = &store->meta;
    TK_ASSERT(meta->checkpoint_index == meta->last_index);
    TK_ASSERT(meta->base_index <= meta->last_index);
    if (meta->last_index > meta->base_index) {
        uint8_t key[ES__KEY_INDEX_BYTES];
        es__be64_put(meta->last_index, key);
        es_blob value = {NULL, 0};
        tk_err err = store->ops->get(store->kv, ES__FAMILY_EVENTS, (es__slice){key, sizeof(key)},
                                     &value, why);
        if (err == TK_ENOENT) {
            return es__fail(why, TK_ECORRUPT, "%s: event %llu (the last) is missing", store->path,
                            (unsigned long long)meta->last_index);
        }
        if (err != TK_OK) {
            return es__fail_wrap(why, err, "event %llu", (unsigned long long)meta->last_index);
        }
        bool same =
            value.size >= ES__EVENT_VALUE_BYTES_MIN &&
            memcmp(value.data + value.size - LED_HASH_BYTES, meta->chain_hash, LED_HASH_BYTES) == 0;
        es_blob_free(&value);
        if (!same) {
            return es__fail(why, TK_ECORRUPT,
                            "%s: the chain hash stored with event %llu differs from meta's",
                            store->path, (unsigned long long)meta->last_index);
        }
    }
    memcpy(out, meta->chain_hash, LED_HASH_BYTES);
    return TK_OK;
}

tk_err es_snapshot_export(es_store *store, es_blob *out, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(out != NULL);
    const es_meta *meta = &store->meta;
    if (meta->checkpoint_index != meta->last_index) {
        return es__fail(why, TK_EINVAL,
                        "%s: checkpoint is behind the last event (checkpoint %llu, last event "
                        "%llu): checkpoint first",
                        store->path, (unsigned long long)meta->checkpoint_index,
                        (unsigned long long)meta->last_index);
    }
    led_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    tk_err err = snapshot_hash(store, snap.chain_hash, why);
    if (err != TK_OK) return err;
    es_blob state = {NULL, 0};
    uint64_t index = 0;
    err = es_checkpoint_read(store, &index, &state, why);
    if (err != TK_OK) return err;
    TK_ASSERT(index == meta->last_index);
    snap.index = index;
    snap.raft_index = meta->raft_index;
    memcpy(snap.cluster_id, store->cluster_id, sizeof(snap.cluster_id));
    snap.state = state.data;
    snap.state_size = state.size;
    size_t blob_size = state.size + LED_SNAPSHOT_OVERHEAD_BYTES;
    uint8_t *blob = malloc(blob_size);
    if (blob == NULL) {
        err = es__fail(why, TK_ENOMEM, "%s: snapshot of %zu bytes: out of memory", store->path,
                       blob_size);
        goto done;
    }
    size_t used = 0;
    err = led_snapshot_encode(&snap, blob, blob_size, &used);
    TK_ASSERT(err == TK_OK); /* the buffer has the room led.h promises */
    TK_ASSERT(used <= blob_size);
    out->data = blob;
    out->size = used;
done:
    es_blob_free(&state);
    return err;
}

/* Decode and vet a blob: strict codec, index 0 has the zero hash, same cluster. */
static tk_err snapshot_decode(es_store *store, const uint8_t *blob, size_t size, led_codec *codec,
                              led_snapshot *out, es_error *why)
{
    TK_ASSERT(codec != NULL);
    TK_ASSERT(out != NULL);
    led_event_error bad = {.field = "", .reason = NULL};
    tk_err err = led_snapshot_decode(codec, blob, size, out, &bad);
    if (err == TK_ENOMEM) return es__fail(why, err, "%s: decoding a snapshot", store->path);
    if (err != TK_OK) {
        const char *reason = bad.reason == NULL ? "refused" : bad.reason;
        if (bad.field[0] == '(') { /* not a key: the codec's "(event)", "(key)" and the like */
            return es__fail(why, TK_EINVAL, "%s: bad snapshot blob (%zu bytes): %s", store->path,
                            size, reason);
        }
        return es__fail(why, TK_EINVAL, "%s: bad snapshot blob (%zu bytes): key '%.32s': %s",
                        store->path, size, bad.field, reason);
    }
    static const uint8_t zero[LED_HASH_BYTES];
    if (out->index == 0 && memcmp(out->chain_hash, zero, LED_HASH_BYTES) != 0) {
        return es__fail(why, TK_EINVAL,
                        "%s: bad snapshot blob: key 'chain_hash': not zero at index 0",
                        store->path);
    }
    bool both_named = store->cluster_id[0] != '\0' && out->cluster_id[0] != '\0';
    if (both_named && strcmp(store->cluster_id, out->cluster_id) != 0) {
        return es__fail(why, TK_EINVAL,
                        "%s: the snapshot belongs to cluster '%s', the store to cluster '%s'",
                        store->path, out->cluster_id, store->cluster_id);
    }
    return TK_OK;
}

/* Every events key is 8 bytes, so [empty key, 9 x 0xff) covers them all (and any stray
 * shorter key). */
static const uint8_t events_end_key[ES__KEY_INDEX_BYTES + 1u] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                                                 0xff, 0xff, 0xff, 0xff};

tk_err es_snapshot_restore(es_store *store, const uint8_t *blob, size_t size, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(blob != NULL || size == 0);
    TK_ASSERT(store->cursors_open == 0);
    led_codec *codec = NULL;
    if (led_codec_open(&codec) != TK_OK) {
        return es__fail(why, TK_ENOMEM, "%s: snapshot decoder: out of memory", store->path);
    }
    led_snapshot snap;
    es__kv_batch *batch = NULL;
    tk_err err = snapshot_decode(store, blob, size, codec, &snap, why);
    if (err != TK_OK) goto done;
    err = store->ops->batch_open(store->kv, &batch, why);
    if (err != TK_OK) goto done;
    es__slice begin = {NULL, 0};
    es__slice end = {events_end_key, sizeof(events_end_key)};
    store->ops->batch_delete_range(batch, ES__FAMILY_EVENTS, begin, end);
    es__slice state = {.data = snap.state, .size = snap.state_size};
    es__slice state_key = {.data = (const uint8_t *)ES__STATE_KEY, .size = strlen(ES__STATE_KEY)};
    store->ops->batch_put(batch, ES__FAMILY_STATE, state_key, &state, 1);
    es__slice base_key = {.data = (const uint8_t *)ES__BASE_KEY, .size = strlen(ES__BASE_KEY)};
    store->ops->batch_put(batch, ES__FAMILY_STATE, base_key, &state, 1); /* for the audit */
    es_meta meta = {.last_index = snap.index,
                    .raft_index = snap.raft_index,
                    .base_index = snap.index,
                    .checkpoint_index = snap.index};
    memcpy(meta.chain_hash, snap.chain_hash, LED_HASH_BYTES);
    memcpy(meta.base_chain_hash, snap.chain_hash, LED_HASH_BYTES);
    es__meta_put(store, batch, &meta, NULL);
    bool adopt = store->cluster_id[0] == '\0' && snap.cluster_id[0] != '\0';
    if (adopt) es__cluster_id_put(store, batch, snap.cluster_id);
    err = store->ops->batch_commit(store->kv, batch, why);
    if (err != TK_OK) {
        (void)es__fail_wrap(why, err, "restoring a snapshot at index %llu",
                            (unsigned long long)snap.index);
        goto done;
    }
    store->meta = meta;
    if (adopt) memcpy(store->cluster_id, snap.cluster_id, sizeof(store->cluster_id));
    es__store_invariants(store);
done:
    store->ops->batch_close(batch);
    led_codec_close(codec);
    return err;
}
