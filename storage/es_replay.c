/* Replay and audit (es_replay): rebuild the ledger state from the events family, checking
 * every stored chain hash and the stored checkpoint on the way. Uses only the store's public
 * functions: it is the ledger's fold over what storage holds. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es.h"

static tk_err corrupt(es_replay_result *res, es_error *why, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Report the first index that does not verify, and what differs. */
static tk_err corrupt(es_replay_result *res, es_error *why, uint64_t index, const char *fmt, ...)
{
    res->bad_index = index;
    if (why != NULL) {
        int n = snprintf(why->text, sizeof(why->text), "index %llu: ", (unsigned long long)index);
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof(why->text))
            vsnprintf(why->text + n, sizeof(why->text) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return TK_ECORRUPT;
}

/* Decode stored state bytes into state; a failure is corruption at index. */
static tk_err state_from(led_state *state, const es_blob *blob, uint64_t index,
                         es_replay_result *res, es_error *why)
{
    led_event_error err = {{0}, NULL};
    if (led_state_decode(state, blob->data, blob->size, &err) != TK_OK)
        return corrupt(res, why, index, "the stored state does not decode: %s: %s", err.field,
                       err.reason);
    led_account acct;
    led_state_account(state, &acct);
    if (acct.last_index != index)
        return corrupt(res, why, index, "the stored state says it is at index %llu",
                       (unsigned long long)acct.last_index);
    return TK_OK;
}

/* The chain hash stored with the event at index (the base's for the base index). */
static tk_err stored_hash(es_store *store, const es_meta *meta, uint64_t index,
                          uint8_t out[LED_HASH_BYTES], es_error *why)
{
    if (index == meta->base_index) {
        memcpy(out, meta->base_chain_hash, LED_HASH_BYTES);
        return TK_OK;
    }
    uint8_t buf[LED_EVENT_BYTES_MAX];
    size_t size = 0;
    return es_event_read(store, index, buf, sizeof(buf), &size, out, why);
}

/* Where replay starts: the checkpoint (recovery) or the base (audit: genesis, or the snapshot
 * the store was restored from). Sets the state, res->last_index and res->chain_hash. */
static tk_err start(es_store *store, const es_meta *meta, led_state *state, bool checkpoint,
                    es_replay_result *res, es_error *why)
{
    led_state_reset(state);
    res->last_index = meta->base_index;
    memcpy(res->chain_hash, meta->base_chain_hash, LED_HASH_BYTES);
    es_blob blob = {NULL, 0};
    uint64_t index = 0;
    tk_err err = TK_OK;
    if (checkpoint && meta->checkpoint_index > 0) {
        err = es_checkpoint_read(store, &index, &blob, why);
        if (err == TK_OK) err = stored_hash(store, meta, index, res->chain_hash, why);
    } else if (meta->base_index > 0) {
        err = es_base_read(store, &blob, why);
        index = meta->base_index;
    }
    if (err == TK_OK && blob.data != NULL) {
        err = state_from(state, &blob, index, res, why);
        res->last_index = index;
    }
    es_blob_free(&blob);
    return err;
}

/* Compare the state with the stored checkpoint, when replay passes the checkpoint's index. */
static tk_err check_checkpoint(es_store *store, led_state *state, es_replay_result *res,
                               es_error *why)
{
    uint64_t index = 0;
    es_blob blob = {NULL, 0};
    tk_err err = es_checkpoint_read(store, &index, &blob, why);
    if (err != TK_OK) return err;
    size_t max = led_state_encoded_size_max();
    uint8_t *mine = malloc(max);
    size_t size = 0;
    if (mine == NULL) {
        es_blob_free(&blob);
        return TK_ENOMEM;
    }
    err = led_state_encode(state, mine, max, &size);
    TK_ASSERT(err == TK_OK); /* max holds any state */
    bool same = size == blob.size && memcmp(mine, blob.data, size) == 0;
    free(mine);
    es_blob_free(&blob);
    if (!same)
        return corrupt(res, why, index, "the replayed state differs from the stored checkpoint");
    res->checkpoint_checked = true;
    return TK_OK;
}

/* One stored event: contiguity, decoding, the chain hash, then apply and visit. Sets *stop
 * when opts' time limit is reached (the event is then not applied). */
static tk_err replay_one(led_state *state, led_codec *codec, const es_record *rec,
                         const es_replay_opts *opts, es_replay_result *res, bool *stop,
                         es_error *why)
{
    uint64_t want = res->last_index + 1u;
    if (rec->index != want)
        return corrupt(res, why, want, "missing (the next stored event is %llu)",
                       (unsigned long long)rec->index);
    led_event ev;
    led_event_error err = {{0}, NULL};
    if (led_event_decode(codec, rec->event, rec->event_size, &ev, &err) != TK_OK)
        return corrupt(res, why, want, "the stored event does not decode: %s: %s", err.field,
                       err.reason);
    uint8_t next[LED_HASH_BYTES];
    led_chain_next(res->chain_hash, want, rec->event, rec->event_size, next);
    if (memcmp(next, rec->chain_hash, LED_HASH_BYTES) != 0)
        return corrupt(res, why, want,
                       "the chain hash differs from the stored one: the event bytes were changed");
    if (ev.ts_ns > opts->until_ts_ns) {
        *stop = true;
        return TK_OK;
    }
    led_outcome outcome;
    led_apply(state, want, &ev, &outcome);
    memcpy(res->chain_hash, next, LED_HASH_BYTES);
    res->last_index = want;
    res->events++;
    if (opts->visit != NULL) {
        es_replay_step step = {.index = want,
                               .ev = &ev,
                               .bytes = rec->event,
                               .size = rec->event_size,
                               .chain_hash = next,
                               .outcome = &outcome};
        opts->visit(opts->arg, &step);
    }
    return TK_OK;
}

/* At the end of the events: they must reach meta's last index and hash. */
static tk_err check_end(const es_meta *meta, es_replay_result *res, es_error *why)
{
    if (res->last_index != meta->last_index)
        return corrupt(res, why, res->last_index + 1u,
                       "missing: the events end at %llu but meta says %llu",
                       (unsigned long long)res->last_index, (unsigned long long)meta->last_index);
    if (memcmp(res->chain_hash, meta->chain_hash, LED_HASH_BYTES) != 0)
        return corrupt(res, why, res->last_index, "the chain hash differs from meta's");
    return TK_OK;
}

tk_err es_replay(es_store *store, led_state *state, led_codec *codec, const es_replay_opts *opts,
                 es_replay_result *out, es_error *why)
{
    TK_ASSERT(store != NULL && state != NULL && codec != NULL);
    TK_ASSERT(opts != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    es_meta meta;
    tk_err err = es_meta_read(store, &meta, why);
    if (err == TK_OK) err = start(store, &meta, state, opts->from_checkpoint, out, why);
    if (err != TK_OK) return err;
    if (out->last_index == meta.checkpoint_index && meta.checkpoint_index > meta.base_index)
        out->checkpoint_checked = true; /* started from it */
    es_cursor *cur = NULL;
    err = es_cursor_open(store, out->last_index + 1u, &cur, why);
    if (err != TK_OK) return err;
    bool stop = false;
    while (!stop && out->last_index < opts->until_index) {
        es_record rec;
        err = es_cursor_next(cur, &rec, why);
        if (err == TK_ENOENT) break;
        if (err == TK_OK) err = replay_one(state, codec, &rec, opts, out, &stop, why);
        if (err == TK_OK && out->last_index == meta.checkpoint_index && !out->checkpoint_checked)
            err = check_checkpoint(store, state, out, why);
        if (err != TK_OK) break;
    }
    es_cursor_close(cur);
    if (err == TK_ENOENT) err = check_end(&meta, out, why); /* the whole log was read */
    return err;
}
