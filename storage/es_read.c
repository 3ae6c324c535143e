/* Reading a store: one event, the state checkpoint, and cursors over the events family. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_internal.h"

struct es_cursor {
    es_store *store;   /* borrowed: outlives the cursor (es_close asserts it) */
    es__kv_iter *iter; /* owned */
    tk_err ended;      /* TK_OK while running; then TK_ENOENT or the error that stopped it */
    es_error failure;  /* the text of that error, repeated by later calls */
};

void es_blob_free(es_blob *blob)
{
    if (blob == NULL) return;
    if (blob->data == NULL) TK_ASSERT(blob->size == 0);
    if (blob->size == 0) TK_ASSERT(blob->data == NULL); /* storage never hands out {p, 0} */
    free(blob->data);
    blob->data = NULL;
    blob->size = 0;
}

/* Hex of up to 16 bytes of key into out (33 bytes), for messages about a malformed key. */
static void key_hex(const uint8_t *key, size_t size, char out[33])
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(key != NULL || size == 0);
    size_t n = size < 16u ? size : 16u;
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(out + 2u * i, 3, "%02x", key[i]);
    }
    out[2u * n] = '\0';
}

tk_err es_event_read(es_store *store, uint64_t index, uint8_t *buf, size_t buf_size,
                     size_t *out_event_size, uint8_t out_chain_hash[LED_HASH_BYTES], es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(buf != NULL || buf_size == 0);
    TK_ASSERT(out_event_size != NULL && out_chain_hash != NULL);
    uint8_t key[ES__KEY_INDEX_BYTES];
    es__be64_put(index, key);
    es_blob value = {NULL, 0};
    tk_err err =
        store->ops->get(store->kv, ES__FAMILY_EVENTS, (es__slice){key, sizeof(key)}, &value, why);
    if (err == TK_ENOENT) {
        return es__fail(why, err, "%s: no event %llu (stored: %llu..%llu)", store->path,
                        (unsigned long long)index, (unsigned long long)store->meta.base_index + 1u,
                        (unsigned long long)store->meta.last_index);
    }
    if (err != TK_OK) return es__fail_wrap(why, err, "event %llu", (unsigned long long)index);
    size_t event_size = value.size >= LED_HASH_BYTES ? value.size - LED_HASH_BYTES : 0;
    if (value.size < ES__EVENT_VALUE_BYTES_MIN) {
        err =
            es__fail(why, TK_ECORRUPT, "%s: event %llu: value of %zu bytes, want at least %u",
                     store->path, (unsigned long long)index, value.size, ES__EVENT_VALUE_BYTES_MIN);
    } else if (event_size > buf_size) {
        err = es__fail(why, TK_EFULL, "%s: event %llu is %zu bytes, the buffer %zu", store->path,
                       (unsigned long long)index, event_size, buf_size);
    } else {
        memcpy(buf, value.data, event_size);
        memcpy(out_chain_hash, value.data + event_size, LED_HASH_BYTES);
        *out_event_size = event_size;
    }
    es_blob_free(&value);
    return err;
}

tk_err es_checkpoint_read(es_store *store, uint64_t *out_index, es_blob *out_state, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(out_index != NULL && out_state != NULL);
    es__slice key = {.data = (const uint8_t *)ES__STATE_KEY, .size = strlen(ES__STATE_KEY)};
    es_blob value = {NULL, 0};
    tk_err err = store->ops->get(store->kv, ES__FAMILY_STATE, key, &value, why);
    uint64_t index = store->meta.checkpoint_index;
    if (err == TK_ENOENT && index != 0) {
        return es__fail(why, TK_ECORRUPT,
                        "%s: meta says a checkpoint is stored at index %llu, the state family "
                        "has none",
                        store->path, (unsigned long long)index);
    }
    if (err == TK_ENOENT) return es__fail(why, err, "%s: no checkpoint stored", store->path);
    if (err != TK_OK) return es__fail_wrap(why, err, "state checkpoint");
    if (value.size == 0) {
        return es__fail(why, TK_ECORRUPT, "%s: the state checkpoint is empty", store->path);
    }
    *out_index = index;
    *out_state = value; /* moved to the caller */
    return TK_OK;
}

tk_err es_base_read(es_store *store, es_blob *out, es_error *why)
{
    TK_ASSERT(store != NULL && out != NULL);
    es__slice key = {.data = (const uint8_t *)ES__BASE_KEY, .size = strlen(ES__BASE_KEY)};
    es_blob value = {NULL, 0};
    tk_err err = store->ops->get(store->kv, ES__FAMILY_STATE, key, &value, why);
    if (err == TK_ENOENT && store->meta.base_index != 0) {
        return es__fail(why, TK_ECORRUPT,
                        "%s: the store starts at index %llu but the state it was restored from "
                        "is missing",
                        store->path, (unsigned long long)store->meta.base_index);
    }
    if (err == TK_ENOENT)
        return es__fail(why, err, "%s: never restored from a snapshot", store->path);
    if (err != TK_OK) return es__fail_wrap(why, err, "base state");
    if (value.size == 0) {
        es_blob_free(&value);
        return es__fail(why, TK_ECORRUPT, "%s: the base state is empty", store->path);
    }
    *out = value; /* moved to the caller */
    return TK_OK;
}

tk_err es_cursor_open(es_store *store, uint64_t from_index, es_cursor **out, es_error *why)
{
    TK_ASSERT(store != NULL);
    TK_ASSERT(out != NULL);
    es_cursor *cur = malloc(sizeof(*cur));
    if (cur == NULL) return es__fail(why, TK_ENOMEM, "%s: cursor: out of memory", store->path);
    uint8_t from[ES__KEY_INDEX_BYTES];
    es__be64_put(from_index, from);
    es__kv_iter_opts opts = {.from = {from, sizeof(from)}, .last = false, .scan = true};
    tk_err err = store->ops->iter_open(store->kv, ES__FAMILY_EVENTS, &opts, &cur->iter, why);
    if (err != TK_OK) {
        free(cur);
        return es__fail_wrap(why, err, "cursor from event %llu", (unsigned long long)from_index);
    }
    cur->store = store;
    cur->ended = TK_OK;
    memset(&cur->failure, 0, sizeof(cur->failure));
    store->cursors_open++;
    *out = cur;
    return TK_OK;
}

/* Check the framing of one events pair and fill *out from it. */
static tk_err record_from(const es_cursor *cur, es__slice key, es__slice value, es_record *out,
                          es_error *why)
{
    TK_ASSERT(key.data != NULL || key.size == 0);
    TK_ASSERT(out != NULL);
    if (key.size != ES__KEY_INDEX_BYTES) {
        char hex[33];
        key_hex(key.data, key.size, hex);
        return es__fail(why, TK_ECORRUPT, "%s: events key of %zu bytes (%s%s), want 8",
                        cur->store->path, key.size, hex, key.size > 16u ? "..." : "");
    }
    uint64_t index = es__be64_get(key.data);
    if (value.size < ES__EVENT_VALUE_BYTES_MIN) {
        return es__fail(why, TK_ECORRUPT, "%s: event %llu: value of %zu bytes, want at least %u",
                        cur->store->path, (unsigned long long)index, value.size,
                        ES__EVENT_VALUE_BYTES_MIN);
    }
    size_t event_size = value.size - LED_HASH_BYTES;
    out->index = index;
    out->event = value.data;
    out->event_size = event_size;
    out->chain_hash = value.data + event_size;
    return TK_OK;
}

tk_err es_cursor_next(es_cursor *cur, es_record *out, es_error *why)
{
    TK_ASSERT(cur != NULL);
    TK_ASSERT(out != NULL);
    if (cur->ended != TK_OK) {
        if (cur->ended != TK_ENOENT && why != NULL) *why = cur->failure;
        return cur->ended;
    }
    es__slice key;
    es__slice value;
    es_error failure;
    tk_err err = cur->store->ops->iter_next(cur->iter, &key, &value, &failure);
    if (err == TK_ENOENT) {
        cur->ended = TK_ENOENT;
        return TK_ENOENT;
    }
    if (err == TK_OK) err = record_from(cur, key, value, out, &failure);
    if (err != TK_OK) {
        cur->ended = err;
        cur->failure = failure;
        if (why != NULL) *why = failure;
    }
    return err;
}

void es_cursor_close(es_cursor *cur)
{
    if (cur == NULL) return;
    TK_ASSERT(cur->iter != NULL);
    TK_ASSERT(cur->store->cursors_open > 0);
    cur->store->ops->iter_close(cur->iter);
    cur->store->cursors_open--;
    free(cur);
}
