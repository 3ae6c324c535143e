/* The local journal: in-process commit through storage, for backtests and single-node runs.
 * Propose applies at once and queues the encoded event; a flush writes the batch (events,
 * chain hashes, meta, and a checkpoint when due) as one atomic storage write, then delivers
 * the batch to subscribers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clu.h"

typedef struct subscriber {
    clu_commit_fn *fn;
    void *arg;
} subscriber;

typedef struct pending {
    uint64_t index;
    size_t size;
    uint8_t chain_hash[LED_HASH_BYTES];
    led_event ev;
    led_outcome outcome;
} pending;

struct clu_journal {
    es_store *store; /* borrowed */
    uint32_t batch_events_max;
    uint64_t checkpoint_every;
    bool deliver_on_apply;
    bool failed;      /* a storage write failed: the state is ahead of the store */
    led_state *state; /* owned */
    es_meta meta;     /* as stored by the last successful write */
    uint8_t chain_hash[LED_HASH_BYTES]; /* h[last proposed index] */
    pending *queue;                     /* owned: batch_events_max entries */
    uint8_t *bytes;     /* owned: batch_events_max * LED_EVENT_BYTES_MAX, the encoded events */
    es_record *records; /* owned: batch_events_max entries */
    uint8_t *state_buf; /* owned: led_state_encoded_size_max() bytes, for checkpoints */
    uint32_t queued;
    bool delivering; /* subscribers run: they must not propose (the queue is being read) */
    subscriber subs[CLU_SUBSCRIBERS_MAX];
    uint32_t sub_count;
};

static tk_err journal_alloc(const clu_local_opts *opts, clu_journal **out)
{
    clu_journal *j = calloc(1, sizeof(*j));
    if (j == NULL) return TK_ENOMEM;
    j->store = opts->store;
    j->batch_events_max = opts->batch_events_max;
    j->checkpoint_every = opts->checkpoint_every;
    j->deliver_on_apply = opts->deliver_on_apply;
    j->queue = calloc(opts->batch_events_max, sizeof(*j->queue));
    j->bytes = malloc((size_t)opts->batch_events_max * LED_EVENT_BYTES_MAX);
    j->records = calloc(opts->batch_events_max, sizeof(*j->records));
    j->state_buf = malloc(led_state_encoded_size_max());
    tk_err err = TK_ENOMEM;
    if (j->queue != NULL && j->bytes != NULL && j->records != NULL && j->state_buf != NULL)
        err = led_state_open(&j->state);
    if (err != TK_OK) {
        clu_journal_close(j);
        return err;
    }
    *out = j;
    return TK_OK;
}

tk_err clu_local_open(const clu_local_opts *opts, clu_journal **out, es_error *why)
{
    TK_ASSERT(opts != NULL && out != NULL);
    if (opts->batch_events_max == 0 || opts->batch_events_max > CLU_BATCH_EVENTS_MAX) {
        if (why != NULL)
            snprintf(why->text, sizeof(why->text), "batch_events_max %u is outside 1..%u",
                     opts->batch_events_max, CLU_BATCH_EVENTS_MAX);
        return TK_EINVAL;
    }
    clu_journal *j = NULL;
    tk_err err = journal_alloc(opts, &j);
    if (err != TK_OK) return err;
    if (j->store == NULL) { /* in memory: genesis, nothing to recover */
        *out = j;
        return TK_OK;
    }
    err = es_meta_read(j->store, &j->meta, why);
    es_replay_opts replay = {.from_checkpoint = true,
                             .until_index = UINT64_MAX,
                             .until_ts_ns = INT64_MAX,
                             .visit = NULL,
                             .arg = NULL};
    es_replay_result res;
    if (err == TK_OK) err = es_replay(j->store, j->state, &replay, &res, why);
    if (err != TK_OK) {
        clu_journal_close(j);
        return err;
    }
    TK_ASSERT(res.last_index == j->meta.last_index); /* es_replay checked the end */
    memcpy(j->chain_hash, res.chain_hash, LED_HASH_BYTES);
    *out = j;
    return TK_OK;
}

void clu_journal_close(clu_journal *journal)
{
    if (journal == NULL) return;
    led_state_close(journal->state);
    free(journal->state_buf);
    free(journal->records);
    free(journal->bytes);
    free(journal->queue);
    free(journal);
}

tk_err clu_journal_subscribe(clu_journal *journal, clu_commit_fn *fn, void *arg)
{
    TK_ASSERT(journal != NULL && fn != NULL);
    if (journal->sub_count == CLU_SUBSCRIBERS_MAX) return TK_EFULL;
    journal->subs[journal->sub_count++] = (subscriber){.fn = fn, .arg = arg};
    return TK_OK;
}

const led_state *clu_journal_state(const clu_journal *journal)
{
    TK_ASSERT(journal != NULL);
    return journal->state;
}

bool clu_journal_delivers_on_apply(const clu_journal *journal)
{
    TK_ASSERT(journal != NULL);
    return journal->deliver_on_apply;
}

uint64_t clu_journal_committed_index(const clu_journal *journal)
{
    TK_ASSERT(journal != NULL);
    return journal->meta.last_index;
}

static tk_err failed(es_error *why)
{
    if (why != NULL)
        snprintf(why->text, sizeof(why->text),
                 "the journal failed on an earlier storage error: reopen it to recover");
    return TK_EIO;
}

/* Write the queued events, meta and (when with_checkpoint) the state as one batch. */
static tk_err write_batch(clu_journal *j, bool with_checkpoint, es_error *why)
{
    es_meta meta = j->meta;
    for (uint32_t i = 0; i < j->queued; i++) {
        const pending *p = &j->queue[i];
        j->records[i] = (es_record){.index = p->index,
                                    .event = j->bytes + (size_t)i * LED_EVENT_BYTES_MAX,
                                    .event_size = p->size,
                                    .chain_hash = p->chain_hash};
    }
    if (j->queued > 0) {
        meta.last_index = j->queue[j->queued - 1u].index;
        memcpy(meta.chain_hash, j->queue[j->queued - 1u].chain_hash, LED_HASH_BYTES);
    }
    if (j->store == NULL) { /* in memory: committed once applied */
        j->meta = meta;
        return TK_OK;
    }
    es_checkpoint cp = {.index = meta.last_index, .state = j->state_buf, .state_size = 0};
    if (with_checkpoint) {
        tk_err err =
            led_state_encode(j->state, j->state_buf, led_state_encoded_size_max(), &cp.state_size);
        TK_ASSERT(err == TK_OK); /* the buffer holds any state */
        meta.checkpoint_index = meta.last_index;
    }
    tk_err err =
        es_write(j->store, j->records, j->queued, &meta, with_checkpoint ? &cp : NULL, why);
    if (err != TK_OK) {
        j->failed = true;
        return err;
    }
    j->meta = meta;
    return TK_OK;
}

/* Hand one event to every subscriber. */
static void deliver(clu_journal *j, uint64_t index, const led_event *ev, const led_outcome *out)
{
    j->delivering = true;
    for (uint32_t s = 0; s < j->sub_count; s++)
        j->subs[s].fn(j->subs[s].arg, index, ev, out);
    j->delivering = false;
}

static tk_err flush(clu_journal *j, bool force_checkpoint, es_error *why)
{
    TK_ASSERT(!j->delivering); /* not from a subscriber's callback */
    if (j->failed) return failed(why);
    uint64_t last = j->queued > 0 ? j->queue[j->queued - 1u].index : j->meta.last_index;
    bool due = j->checkpoint_every > 0 && last - j->meta.checkpoint_index >= j->checkpoint_every;
    bool checkpoint = force_checkpoint ? last != j->meta.checkpoint_index : due;
    if (j->queued == 0 && !checkpoint) return TK_OK;
    tk_err err = write_batch(j, checkpoint, why);
    if (err != TK_OK) return err;
    for (uint32_t i = 0; i < j->queued && !j->deliver_on_apply; i++)
        deliver(j, j->queue[i].index, &j->queue[i].ev, &j->queue[i].outcome);
    j->queued = 0;
    return TK_OK;
}

tk_err clu_journal_flush(clu_journal *journal, es_error *why)
{
    TK_ASSERT(journal != NULL);
    return flush(journal, false, why);
}

tk_err clu_journal_checkpoint(clu_journal *journal, es_error *why)
{
    TK_ASSERT(journal != NULL);
    return flush(journal, true, why);
}

tk_err clu_journal_propose(clu_journal *journal, const led_event *ev, uint64_t *out_index,
                           es_error *why)
{
    TK_ASSERT(journal != NULL && ev != NULL);
    clu_journal *j = journal;
    TK_ASSERT(!j->delivering); /* a subscriber proposes by message, never from its callback */
    if (j->failed) return failed(why);
    led_event_error bad = {{0}, NULL};
    if (led_event_check(ev, &bad) != TK_OK) {
        if (why != NULL)
            snprintf(why->text, sizeof(why->text), "invalid %s event: %s: %s",
                     led_event_type_name(ev->type) != NULL ? led_event_type_name(ev->type) : "?",
                     bad.field, bad.reason);
        return TK_EINVAL;
    }
    TK_ASSERT(j->queued < j->batch_events_max); /* a full batch is flushed below */
    pending *p = &j->queue[j->queued];
    p->index = led_state_last_index(j->state) + 1u;
    if (!j->deliver_on_apply) p->ev = *ev; /* kept for the delivery after the write */
    if (j->store != NULL) { /* in memory nothing is stored, so nothing is encoded or chained */
        uint8_t *bytes = j->bytes + (size_t)j->queued * LED_EVENT_BYTES_MAX;
        tk_err err = led_event_encode(ev, bytes, LED_EVENT_BYTES_MAX, &p->size);
        TK_ASSERT(err == TK_OK); /* LED_EVENT_BYTES_MAX holds any valid event */
        led_chain_next(j->chain_hash, p->index, bytes, p->size, p->chain_hash);
        memcpy(j->chain_hash, p->chain_hash, LED_HASH_BYTES);
    }
    led_apply(j->state, p->index, ev, &p->outcome);
    j->queued++;
    if (j->deliver_on_apply) deliver(j, p->index, ev, &p->outcome);
    if (out_index != NULL) *out_index = p->index;
    if (j->queued == j->batch_events_max) return flush(j, false, why);
    return TK_OK;
}
