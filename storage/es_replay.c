/* Replay and audit (es_replay): rebuild the ledger state from the events family, checking
 * every stored chain hash and the stored checkpoint on the way. Uses only the store's public
 * functions: it is the ledger's fold over what storage holds.
 *
 * Two threads share the work, as a two-stage pipeline over a ring of stored events: a reader
 * thread walks the events family and checks contiguity and the chain hash (RocksDB and
 * SHA-256), and the calling thread decodes and applies (msgpack-c and the ledger). Each stage
 * costs about half, so a two-core node audits about twice as fast as one thread would. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es.h"

static tk_err corrupt_at(uint64_t *bad_index, es_error *why, uint64_t index, const char *fmt, ...)
    TK_PRINTF_LIKE(4, 5);

/* Report the first index that does not verify, and what differs. */
static tk_err corrupt_at(uint64_t *bad_index, es_error *why, uint64_t index, const char *fmt, ...)
{
    *bad_index = index;
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
        return corrupt_at(&res->bad_index, why, index, "the stored state does not decode: %s: %s",
                          err.field, err.reason);
    led_account acct;
    led_state_account(state, &acct);
    if (acct.last_index != index)
        return corrupt_at(&res->bad_index, why, index, "the stored state says it is at index %llu",
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

/* ---- The pipeline ---------------------------------------------------------------------------- */

#define RING_SLOTS 1024u /* stored events in flight between the two stages */
_Static_assert((RING_SLOTS & (RING_SLOTS - 1u)) == 0, "power of two");

typedef struct ring_slot {
    uint64_t index;
    size_t size;
    uint8_t chain_hash[LED_HASH_BYTES]; /* h[index], recomputed and checked */
    uint8_t bytes[LED_EVENT_BYTES_MAX];
} ring_slot;

/* Fields by writer: the reader owns cur, next_index, chain and end_*; the consumer owns tail;
 * head, stop and ended are the hand-overs. */
typedef struct replay_pipe {
    es_cursor *cur;                /* borrowed by the reader thread while it runs */
    uint64_t next_index;           /* the index the reader expects next */
    uint8_t chain[LED_HASH_BYTES]; /* h[next_index - 1] */
    ring_slot *slots;              /* owned: RING_SLOTS */
    tk_err end_err;                /* valid once ended: TK_ENOENT at the end of the events */
    uint64_t end_bad_index;
    es_error end_why;
    _Alignas(64) _Atomic uint64_t head; /* slots filled: written by the reader */
    _Alignas(64) _Atomic uint64_t tail; /* slots consumed: written by the consumer */
    _Atomic bool stop;                  /* the consumer has all it wants */
    _Atomic bool ended;                 /* the reader has stopped */
} replay_pipe;

/* Reader: the next stored event into dst, contiguous and with a matching chain hash. */
static tk_err read_one(replay_pipe *p, ring_slot *dst)
{
    es_record rec;
    tk_err err = es_cursor_next(p->cur, &rec, &p->end_why);
    if (err != TK_OK) return err;
    if (rec.index != p->next_index)
        return corrupt_at(&p->end_bad_index, &p->end_why, p->next_index,
                          "missing (the next stored event is %llu)", (unsigned long long)rec.index);
    if (rec.event_size > LED_EVENT_BYTES_MAX)
        return corrupt_at(&p->end_bad_index, &p->end_why, rec.index,
                          "the stored event is %zu bytes, more than any event", rec.event_size);
    led_chain_next(p->chain, rec.index, rec.event, rec.event_size, dst->chain_hash);
    if (memcmp(dst->chain_hash, rec.chain_hash, LED_HASH_BYTES) != 0)
        return corrupt_at(&p->end_bad_index, &p->end_why, rec.index,
                          "the chain hash differs from the stored one: the event bytes were "
                          "changed");
    dst->index = rec.index;
    dst->size = rec.event_size;
    memcpy(dst->bytes, rec.event, rec.event_size);
    memcpy(p->chain, dst->chain_hash, LED_HASH_BYTES);
    p->next_index++;
    return TK_OK;
}

/* Slots handed over at once: fewer stores to the shared counters, so the cache line that
 * holds each moves between the cores once per batch rather than once per event. */
#define HANDOFF_SLOTS 32u
_Static_assert(HANDOFF_SLOTS <= RING_SLOTS / 4u, "a batch is a small part of the ring");

static void *reader_main(void *arg)
{
    replay_pipe *p = arg;
    tk_err err = TK_OK;
    uint64_t head = 0;      /* slots filled, published or not */
    uint64_t published = 0; /* the value of p->head */
    uint64_t tail = 0;      /* the last tail seen */
    while (err == TK_OK && !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
        if (head - tail == RING_SLOTS) {
            /* acquire: the consumer is done with a slot before its tail store is seen */
            tail = atomic_load_explicit(&p->tail, memory_order_acquire);
            if (head - tail == RING_SLOTS) sched_yield(); /* full: the consumer is behind */
            continue;
        }
        err = read_one(p, &p->slots[head & (RING_SLOTS - 1u)]);
        if (err == TK_OK) head++;
        if (head - published >= HANDOFF_SLOTS || head - tail == RING_SLOTS) {
            /* release: the slots' bytes are visible before the consumer sees the new head */
            atomic_store_explicit(&p->head, head, memory_order_release);
            published = head;
        }
    }
    atomic_store_explicit(&p->head, head, memory_order_release);
    p->end_err = err;
    /* release: end_* are visible before the consumer sees ended */
    atomic_store_explicit(&p->ended, true, memory_order_release);
    return NULL;
}

/* Consumer: wait until the reader has published slots beyond tail; returns the published
 * count, or tail itself once the reader has ended with nothing more. The wait ends because the
 * reader always ends. */
static uint64_t wait_filled(replay_pipe *p, uint64_t tail)
{
    uint64_t head = atomic_load_explicit(&p->head, memory_order_acquire);
    while (head == tail) {
        bool ended = atomic_load_explicit(&p->ended, memory_order_acquire);
        /* the reader's last head store happened before ended: read it once more */
        head = atomic_load_explicit(&p->head, memory_order_acquire);
        if (ended || head != tail) break;
        sched_yield();
    }
    return head;
}

/* The consumer's side: the fold and what it checks. */
typedef struct consumer {
    led_state *state;
    led_codec *codec; /* owned: opened for the replay */
    const es_replay_opts *opts;
    es_replay_result *res;
    uint64_t checkpoint_index; /* compared when replay reaches it; 0: nothing to compare */
    es_blob checkpoint;        /* owned: the stored checkpoint's bytes */
    uint8_t *scratch;          /* owned: led_state_encoded_size_max() bytes */
    bool stop;                 /* a limit of opts was reached */
} consumer;

static tk_err compare_checkpoint(consumer *c, es_error *why)
{
    size_t size = 0;
    tk_err err = led_state_encode(c->state, c->scratch, led_state_encoded_size_max(), &size);
    TK_ASSERT(err == TK_OK); /* the buffer holds any state */
    if (size != c->checkpoint.size || memcmp(c->scratch, c->checkpoint.data, size) != 0)
        return corrupt_at(&c->res->bad_index, why, c->checkpoint_index,
                          "the replayed state differs from the stored checkpoint");
    c->res->checkpoint_checked = true;
    return TK_OK;
}

/* One checked stored event: decode, the time limit, apply, visit, the checkpoint. */
static tk_err consume(consumer *c, const ring_slot *s, es_error *why)
{
    led_event ev;
    led_event_error bad = {{0}, NULL};
    if (led_event_decode(c->codec, s->bytes, s->size, &ev, &bad) != TK_OK)
        return corrupt_at(&c->res->bad_index, why, s->index,
                          "the stored event does not decode: %s: %s", bad.field, bad.reason);
    if (ev.ts_ns > c->opts->until_ts_ns) {
        c->stop = true;
        return TK_OK;
    }
    led_outcome outcome;
    led_apply(c->state, s->index, &ev, &outcome);
    memcpy(c->res->chain_hash, s->chain_hash, LED_HASH_BYTES);
    c->res->last_index = s->index;
    c->res->events++;
    if (c->opts->visit != NULL) {
        es_replay_step step = {.index = s->index,
                               .ev = &ev,
                               .bytes = s->bytes,
                               .size = s->size,
                               .chain_hash = s->chain_hash,
                               .outcome = &outcome};
        c->opts->visit(c->opts->arg, &step);
    }
    if (s->index == c->opts->until_index) c->stop = true;
    if (s->index == c->checkpoint_index) return compare_checkpoint(c, why);
    return TK_OK;
}

/* At the end of the events: they must reach meta's last index and hash. */
static tk_err check_end(const es_meta *meta, es_replay_result *res, es_error *why)
{
    if (res->last_index != meta->last_index)
        return corrupt_at(&res->bad_index, why, res->last_index + 1u,
                          "missing: the events end at %llu but meta says %llu",
                          (unsigned long long)res->last_index,
                          (unsigned long long)meta->last_index);
    if (memcmp(res->chain_hash, meta->chain_hash, LED_HASH_BYTES) != 0)
        return corrupt_at(&res->bad_index, why, res->last_index,
                          "the chain hash differs from meta's");
    return TK_OK;
}

/* Run both stages from res->last_index + 1; the reader's verdict decides how it ended. */
static tk_err run_pipeline(es_store *store, const es_meta *meta, consumer *c, es_error *why)
{
    replay_pipe *p = calloc(1, sizeof(*p));
    if (p != NULL) p->slots = malloc(RING_SLOTS * sizeof(ring_slot));
    tk_err err = p != NULL && p->slots != NULL ? TK_OK : TK_ENOMEM;
    if (err == TK_OK) err = es_cursor_open(store, c->res->last_index + 1u, &p->cur, why);
    pthread_t reader;
    if (err == TK_OK) {
        p->next_index = c->res->last_index + 1u;
        memcpy(p->chain, c->res->chain_hash, LED_HASH_BYTES);
        if (pthread_create(&reader, NULL, reader_main, p) != 0) err = TK_ENOMEM;
    }
    if (err != TK_OK) goto done;
    bool limit = c->res->last_index >= c->opts->until_index;
    bool drained = false;
    uint64_t tail = 0;
    while (err == TK_OK && !limit && !drained) {
        uint64_t head = wait_filled(p, tail);
        drained = head == tail;
        while (tail < head && err == TK_OK && !limit) {
            err = consume(c, &p->slots[tail & (RING_SLOTS - 1u)], why);
            tail++;
            limit = c->stop;
        }
        /* release: done with the slots before the reader may reuse them */
        atomic_store_explicit(&p->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&p->stop, true, memory_order_relaxed);
    int rc = pthread_join(reader, NULL);
    TK_ASSERT(rc == 0);            /* a joinable thread of ours */
    if (err == TK_OK && drained) { /* the reader says why it ended */
        err = p->end_err == TK_ENOENT ? check_end(meta, c->res, why) : p->end_err;
        if (err == p->end_err) {
            c->res->bad_index = p->end_bad_index;
            if (why != NULL) *why = p->end_why;
        }
    }
done:
    if (p != NULL) es_cursor_close(p->cur);
    if (p != NULL) free(p->slots);
    free(p);
    return err;
}

tk_err es_replay(es_store *store, led_state *state, const es_replay_opts *opts,
                 es_replay_result *out, es_error *why)
{
    TK_ASSERT(store != NULL && state != NULL);
    TK_ASSERT(opts != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    consumer c = {.state = state, .opts = opts, .res = out};
    es_meta meta;
    tk_err err = led_codec_open(&c.codec);
    if (err == TK_OK) err = es_meta_read(store, &meta, why);
    if (err == TK_OK) err = start(store, &meta, state, opts->from_checkpoint, out, why);
    if (err != TK_OK) {
        led_codec_close(c.codec);
        return err;
    }
    if (meta.checkpoint_index == out->last_index && meta.checkpoint_index > meta.base_index)
        out->checkpoint_checked = true;            /* replay starts from it */
    if (meta.checkpoint_index > out->last_index) { /* replay passes it: compare */
        uint64_t index = 0;
        err = es_checkpoint_read(store, &index, &c.checkpoint, why);
        c.checkpoint_index = index;
        c.scratch = err == TK_OK ? malloc(led_state_encoded_size_max()) : NULL;
        if (err == TK_OK && c.scratch == NULL) err = TK_ENOMEM;
    }
    if (err == TK_OK) err = run_pipeline(store, &meta, &c, why);
    free(c.scratch);
    es_blob_free(&c.checkpoint);
    led_codec_close(c.codec);
    return err;
}
