/* The Raft side of the journal: the entry framing and the ledger FSM. This is the one file of
 * troika that includes raft.h (docs/cluster.md); libraft 0.15's traps it works around are in
 * that document. */
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "clu.h"

static const uint8_t entry_magic[4] = {'T', 'K', 'R', 'E'};
enum { ENTRY_VERSION = 1 };

tk_err clu_entry_encode(const led_event *events, uint32_t count, uint8_t *buf, size_t buf_size,
                        size_t *out_size)
{
    TK_ASSERT(count >= 1 && count <= CLU_ENTRY_EVENTS_MAX);
    if (buf_size < CLU_ENTRY_HEADER_BYTES) return TK_EFULL;
    memcpy(buf, entry_magic, sizeof(entry_magic));
    buf[4] = ENTRY_VERSION;
    buf[5] = (uint8_t)(count >> 24);
    buf[6] = (uint8_t)(count >> 16);
    buf[7] = (uint8_t)(count >> 8);
    buf[8] = (uint8_t)count;
    size_t at = CLU_ENTRY_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        if (buf_size - at < 2) return TK_EFULL;
        size_t size = 0;
        tk_err err = led_event_encode(&events[i], buf + at + 2, buf_size - at - 2, &size);
        if (err != TK_OK) return err;
        buf[at] = (uint8_t)(size >> 8);
        buf[at + 1] = (uint8_t)size;
        at += 2 + size;
    }
    size_t padded = (at + 7u) & ~(size_t)7u; /* raft_uv needs 8-byte multiples */
    if (padded > buf_size) return TK_EFULL;
    memset(buf + at, 0, padded - at);
    *out_size = padded;
    return TK_OK;
}

static tk_err entry_refuse(led_event_error *why, const char *field, const char *reason)
{
    if (why != NULL) {
        snprintf(why->field, sizeof(why->field), "%s", field);
        why->reason = reason;
    }
    return TK_EINVAL;
}

tk_err clu_entry_decode(led_codec *codec, const uint8_t *buf, size_t size_bytes, led_event *out,
                        uint32_t *out_count, led_event_error *why)
{
    if (size_bytes < CLU_ENTRY_HEADER_BYTES) return entry_refuse(why, "magic", "entry too short");
    if (memcmp(buf, entry_magic, sizeof(entry_magic)) != 0)
        return entry_refuse(why, "magic", "not a troika entry");
    if (buf[4] != ENTRY_VERSION) return entry_refuse(why, "version", "unsupported version");
    uint32_t count =
        (uint32_t)buf[5] << 24 | (uint32_t)buf[6] << 16 | (uint32_t)buf[7] << 8 | (uint32_t)buf[8];
    if (count < 1 || count > CLU_ENTRY_EVENTS_MAX)
        return entry_refuse(why, "count", "out of range 1..256");
    size_t at = CLU_ENTRY_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        if (size_bytes - at < 2) return entry_refuse(why, "length", "entry ends inside a length");
        size_t size = (size_t)buf[at] << 8 | buf[at + 1];
        at += 2;
        if (size > size_bytes - at) return entry_refuse(why, "length", "event runs past the entry");
        led_event_error inner = {0};
        tk_err err = led_event_decode(codec, buf + at, size, &out[i], &inner);
        if (err != TK_OK) {
            if (why != NULL) {
                /* i < 256: "event 255: " leaves 20 bytes of the inner field's name */
                snprintf(why->field, sizeof(why->field), "event %u: %.20s", (unsigned)(uint8_t)i,
                         inner.field);
                why->reason = inner.reason;
            }
            return err;
        }
        at += size;
    }
    if (size_bytes % 8u != 0 || size_bytes - at >= 8u)
        return entry_refuse(why, "length", "bytes after the last event beyond the padding");
    for (; at < size_bytes; at++)
        if (buf[at] != 0) return entry_refuse(why, "length", "padding that is not zero");
    *out_count = count;
    return TK_OK;
}

/* ---- The ledger FSM ------------------------------------------------------------------------ */

struct clu_fsm {
    struct raft_fsm raft_fsm; /* data points back here */
    struct raft *raft;        /* borrowed: set by clu_fsm_attach */
    es_store *store;          /* borrowed; NULL: in memory */
    uint64_t checkpoint_every;
    es_meta meta;     /* as last written (store only) */
    led_state *state; /* owned */
    led_codec *codec; /* owned */
    uint8_t chain_hash[LED_HASH_BYTES];
    clu_fsm_stats stats;
    led_event *events;                 /* owned: CLU_ENTRY_EVENTS_MAX, the entry being applied */
    es_record *records;                /* owned: CLU_ENTRY_EVENTS_MAX (store only) */
    uint8_t (*hashes)[LED_HASH_BYTES]; /* owned: CLU_ENTRY_EVENTS_MAX chain hashes */
    uint8_t *state_buf;                /* owned: led_state_encoded_size_max(), for snapshots */
    clu_applied applied;
    /* the node's hook, called after each entry is folded and stored (NULL: none) */
    void (*on_apply)(void *arg, const clu_applied *applied);
    /* the node's hook, called with the state hash at every ledger index that is a multiple of
     * hash_every (0: never) */
    uint64_t hash_every;
    void (*on_hash_point)(void *arg, const clu_hash_point *point);
    void *on_apply_arg;
    clu_listener listeners[CLU_LISTENERS_MAX]; /* the node's listeners (loop thread only) */
    uint32_t listener_count;
};

/* The store could not take an entry Raft has committed: the state here is ahead of the store,
 * and libraft 0.15 cannot be told to stop applying. End the process: its supervisor restarts
 * it, and it recovers from the store and the Raft log (docs/cluster.md). */
static _Noreturn void store_failed(const char *what, tk_err err, const es_error *why)
{
    TK_LOG(TK_LOG_ERROR, "cluster", "storage failed under the FSM; exiting to recover",
           TK_LOG_STR("during", what), TK_LOG_ERR("err", err), TK_LOG_STR("why", why->text));
    tk_panic(__FILE__, __LINE__, "the ledger store refused a committed entry");
}

/* Write what apply folded (events at records[0..count-1]) with the new meta, and a checkpoint
 * when one is due, as one write batch. */
static void fsm_store_entry(clu_fsm *fsm, uint32_t count)
{
    es_meta meta = fsm->meta;
    meta.last_index = fsm->stats.ledger_index;
    memcpy(meta.chain_hash, fsm->chain_hash, LED_HASH_BYTES);
    meta.raft_index = fsm->stats.raft_index;
    es_checkpoint checkpoint = {0};
    const es_checkpoint *with = NULL;
    if (fsm->checkpoint_every > 0 &&
        meta.last_index - meta.checkpoint_index >= fsm->checkpoint_every) {
        size_t size = 0;
        TK_ASSERT(led_state_encode(fsm->state, fsm->state_buf, led_state_encoded_size_max(),
                                   &size) == TK_OK);
        checkpoint =
            (es_checkpoint){.index = meta.last_index, .state = fsm->state_buf, .state_size = size};
        meta.checkpoint_index = meta.last_index;
        with = &checkpoint;
    }
    es_error why = {{0}};
    tk_err err = es_write(fsm->store, fsm->records, count, &meta, with, &why);
    if (err != TK_OK) store_failed("apply", err, &why);
    fsm->meta = meta;
}

/* Fold one entry: its events at the next ledger indices, the chain hash over each event's
 * bytes as they travelled (every replica hashes the same bytes). */
static int fsm_apply(struct raft_fsm *raft_fsm, const struct raft_buffer *buf, void **result)
{
    clu_fsm *fsm = raft_fsm->data;
    TK_ASSERT(fsm->raft != NULL);
    uint64_t raft_index = raft_last_applied(fsm->raft) + 1;
    fsm->applied.count = 0;
    fsm->applied.first_index = fsm->stats.ledger_index + 1;
    *result = &fsm->applied;
    if (raft_index <= fsm->stats.raft_index) return 0; /* already folded (restored past it) */
    fsm->stats.raft_index = raft_index;
    fsm->stats.entries++;
    uint32_t count = 0;
    led_event_error why = {0};
    if (clu_entry_decode(fsm->codec, buf->base, buf->len, fsm->events, &count, &why) != TK_OK) {
        fsm->stats.refused_entries++;
        if (fsm->store != NULL) fsm_store_entry(fsm, 0); /* the Raft index still moves */
        return 0;
    }
    const uint8_t *at = (const uint8_t *)buf->base + CLU_ENTRY_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        size_t size = (size_t)at[0] << 8 | at[1];
        uint64_t index = fsm->stats.ledger_index + 1;
        led_chain_next(fsm->chain_hash, index, at + 2, size, fsm->chain_hash);
        led_apply(fsm->state, index, &fsm->events[i], &fsm->applied.outcomes[i]);
        if (fsm->store != NULL) {
            memcpy(fsm->hashes[i], fsm->chain_hash, LED_HASH_BYTES);
            fsm->records[i] = (es_record){
                .index = index, .event = at + 2, .event_size = size, .chain_hash = fsm->hashes[i]};
        }
        fsm->stats.ledger_index = index;
        at += 2 + size;
        if (fsm->hash_every > 0 && index % fsm->hash_every == 0 && fsm->on_hash_point != NULL) {
            clu_hash_point point = {.ledger_index = index};
            led_state_hash(fsm->state, point.state_hash);
            fsm->on_hash_point(fsm->on_apply_arg, &point);
        }
    }
    fsm->applied.count = count;
    if (fsm->store != NULL) fsm_store_entry(fsm, count);
    if (fsm->on_apply != NULL) fsm->on_apply(fsm->on_apply_arg, &fsm->applied);
    for (uint32_t l = 0; l < fsm->listener_count; l++) { /* the events, now stored */
        const clu_listener *listener = &fsm->listeners[l];
        if (listener->committed == NULL) continue;
        at = (const uint8_t *)buf->base + CLU_ENTRY_HEADER_BYTES;
        for (uint32_t i = 0; i < count; i++) {
            size_t size = (size_t)at[0] << 8 | at[1];
            listener->committed(listener->arg, fsm->applied.first_index + i, &fsm->events[i],
                                at + 2, size, &fsm->applied.outcomes[i], fsm->state);
            at += 2 + size;
        }
    }
    return 0;
}

/* The snapshot blob (led_snapshot_encode) into a raft_malloc'd buffer, as libraft wants. */
static int snapshot_hand_over(clu_fsm *fsm, const uint8_t *blob, size_t size,
                              struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct raft_buffer *out = raft_malloc(sizeof(*out));
    void *base = raft_malloc(size);
    if (out == NULL || base == NULL) {
        raft_free(out);
        raft_free(base);
        return RAFT_NOMEM;
    }
    memcpy(base, blob, size);
    out->base = base;
    out->len = size;
    *bufs = out;
    *n_bufs = 1;
    fsm->stats.snapshots++;
    return 0;
}

/* With a store: checkpoint the state into the state family (if it is not there already), then
 * export the snapshot from it. In memory: encode the state directly. Same bytes either way. */
static int fsm_snapshot(struct raft_fsm *raft_fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    clu_fsm *fsm = raft_fsm->data;
    size_t state_size = 0;
    if (fsm->store != NULL) {
        es_error why = {{0}};
        if (fsm->meta.checkpoint_index != fsm->meta.last_index || fsm->meta.last_index == 0) {
            TK_ASSERT(led_state_encode(fsm->state, fsm->state_buf, led_state_encoded_size_max(),
                                       &state_size) == TK_OK);
            es_meta meta = fsm->meta;
            meta.checkpoint_index = meta.last_index;
            es_checkpoint checkpoint = {
                .index = meta.last_index, .state = fsm->state_buf, .state_size = state_size};
            tk_err err = es_write(fsm->store, NULL, 0, &meta, &checkpoint, &why);
            if (err != TK_OK) store_failed("snapshot", err, &why);
            fsm->meta = meta;
        }
        es_blob blob = {0};
        tk_err err = es_snapshot_export(fsm->store, &blob, &why);
        if (err != TK_OK) store_failed("snapshot export", err, &why);
        int rv = snapshot_hand_over(fsm, blob.data, blob.size, bufs, n_bufs);
        es_blob_free(&blob);
        return rv;
    }
    if (led_state_encode(fsm->state, fsm->state_buf, led_state_encoded_size_max(), &state_size) !=
        TK_OK)
        return RAFT_NOMEM;
    led_snapshot snap = {.index = fsm->stats.ledger_index,
                         .raft_index = fsm->stats.raft_index,
                         .state = fsm->state_buf,
                         .state_size = state_size};
    memcpy(snap.chain_hash, fsm->chain_hash, LED_HASH_BYTES);
    size_t cap = state_size + LED_SNAPSHOT_OVERHEAD_BYTES;
    uint8_t *blob = malloc(cap);
    size_t size = 0;
    int rv = RAFT_NOMEM;
    if (blob != NULL && led_snapshot_encode(&snap, blob, cap, &size) == TK_OK)
        rv = snapshot_hand_over(fsm, blob, size, bufs, n_bufs);
    free(blob);
    return rv;
}

static int fsm_snapshot_finalize(struct raft_fsm *raft_fsm, struct raft_buffer *bufs[],
                                 unsigned *n_bufs)
{
    (void)raft_fsm;
    for (unsigned i = 0; i < *n_bufs; i++)
        raft_free((*bufs)[i].base);
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* Whether the store already holds the snapshot's history: its Raft index is at or past the
 * snapshot's and its chain hash at the snapshot's ledger index is the snapshot's. libraft
 * restores its last snapshot at every start, usually one the store is already past. */
static bool store_has(clu_fsm *fsm, const led_snapshot *snap)
{
    if (fsm->stats.raft_index < snap->raft_index || fsm->stats.ledger_index < snap->index)
        return false;
    uint8_t hash[LED_HASH_BYTES];
    if (snap->index == fsm->stats.ledger_index) {
        memcpy(hash, fsm->chain_hash, LED_HASH_BYTES);
    } else if (snap->index == fsm->meta.base_index) {
        memcpy(hash, fsm->meta.base_chain_hash, LED_HASH_BYTES);
    } else {
        uint8_t event[LED_EVENT_BYTES_MAX];
        size_t size = 0;
        es_error why = {{0}};
        if (snap->index < fsm->meta.base_index ||
            es_event_read(fsm->store, snap->index, event, sizeof(event), &size, hash, &why) !=
                TK_OK)
            return false;
    }
    return memcmp(hash, snap->chain_hash, LED_HASH_BYTES) == 0;
}

/* Replace the state with a snapshot's, and with a store the store's contents, unless the store
 * already holds that history. libraft hands over buf->base: it is freed here. A snapshot that
 * does not decode fails the restore; a state that does not decode leaves genesis behind, which
 * in memory resets the FSM and with a store ends the process (it recovers from the store). */
static int fsm_restore(struct raft_fsm *raft_fsm, struct raft_buffer *buf)
{
    clu_fsm *fsm = raft_fsm->data;
    led_snapshot snap;
    led_event_error why = {0};
    int rv = 0;
    if (led_snapshot_decode(fsm->codec, buf->base, buf->len, &snap, &why) != TK_OK) {
        TK_LOG(TK_LOG_ERROR, "cluster", "a Raft snapshot does not decode",
               TK_LOG_STR("field", why.field), TK_LOG_STR("reason", why.reason));
        rv = RAFT_CORRUPT;
    } else if (fsm->store != NULL && store_has(fsm, &snap)) {
        /* the store is at or past the snapshot, on the same history: keep it */
    } else if (led_state_decode(fsm->state, snap.state, snap.state_size, &why) != TK_OK) {
        TK_LOG(TK_LOG_ERROR, "cluster", "a Raft snapshot's state does not decode",
               TK_LOG_STR("field", why.field), TK_LOG_STR("reason", why.reason));
        TK_ASSERT(fsm->store == NULL); /* the state no longer matches the store */
        memset(fsm->chain_hash, 0, LED_HASH_BYTES);
        fsm->stats.ledger_index = 0;
        fsm->stats.raft_index = 0;
        rv = RAFT_CORRUPT;
    } else {
        if (fsm->store != NULL) {
            es_error store_why = {{0}};
            tk_err err = es_snapshot_restore(fsm->store, buf->base, buf->len, &store_why);
            if (err == TK_OK) err = es_meta_read(fsm->store, &fsm->meta, &store_why);
            if (err != TK_OK) store_failed("restore", err, &store_why);
        }
        fsm->stats.ledger_index = snap.index;
        fsm->stats.raft_index = snap.raft_index;
        memcpy(fsm->chain_hash, snap.chain_hash, LED_HASH_BYTES);
        fsm->stats.restores++;
    }
    raft_free(buf->base);
    return rv;
}

tk_err clu_fsm_open(clu_fsm **out)
{
    es_error why = {{0}};
    return clu_fsm_open_store(NULL, 0, out, &why);
}

tk_err clu_fsm_open_store(es_store *store, uint64_t checkpoint_every, clu_fsm **out, es_error *why)
{
    clu_fsm *fsm = calloc(1, sizeof(*fsm));
    if (fsm == NULL) return TK_ENOMEM;
    fsm->store = store;
    fsm->checkpoint_every = checkpoint_every;
    fsm->events = calloc(CLU_ENTRY_EVENTS_MAX, sizeof(*fsm->events));
    fsm->records = calloc(CLU_ENTRY_EVENTS_MAX, sizeof(*fsm->records));
    fsm->hashes = calloc(CLU_ENTRY_EVENTS_MAX, sizeof(*fsm->hashes));
    fsm->state_buf = malloc(led_state_encoded_size_max());
    tk_err err = TK_ENOMEM;
    if (fsm->events != NULL && fsm->records != NULL && fsm->hashes != NULL &&
        fsm->state_buf != NULL)
        err = led_state_open(&fsm->state);
    if (err == TK_OK) err = led_codec_open(&fsm->codec);
    if (err == TK_OK && store != NULL) err = es_meta_read(store, &fsm->meta, why);
    if (err == TK_OK && store != NULL) {
        es_replay_opts replay = {
            .from_checkpoint = true, .until_index = UINT64_MAX, .until_ts_ns = INT64_MAX};
        es_replay_result res;
        err = es_replay(store, fsm->state, &replay, &res, why);
        if (err == TK_OK) {
            fsm->stats.ledger_index = res.last_index;
            fsm->stats.raft_index = fsm->meta.raft_index;
            memcpy(fsm->chain_hash, res.chain_hash, LED_HASH_BYTES);
        }
    }
    if (err != TK_OK) {
        clu_fsm_close(fsm);
        return err;
    }
    fsm->raft_fsm.version = 2;
    fsm->raft_fsm.data = fsm;
    fsm->raft_fsm.apply = fsm_apply;
    fsm->raft_fsm.snapshot = fsm_snapshot;
    fsm->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
    fsm->raft_fsm.restore = fsm_restore;
    *out = fsm;
    return TK_OK;
}

void clu_fsm_close(clu_fsm *fsm)
{
    if (fsm == NULL) return;
    led_codec_close(fsm->codec);
    led_state_close(fsm->state);
    free(fsm->state_buf);
    free(fsm->hashes);
    free(fsm->records);
    free(fsm->events);
    free(fsm);
}

struct raft_fsm *clu_fsm_raft(clu_fsm *fsm)
{
    return &fsm->raft_fsm;
}

void clu_fsm_attach(clu_fsm *fsm, struct raft *raft)
{
    fsm->raft = raft;
}

const led_state *clu_fsm_state(const clu_fsm *fsm)
{
    return fsm->state;
}

void clu_fsm_chain_hash(const clu_fsm *fsm, uint8_t out[LED_HASH_BYTES])
{
    memcpy(out, fsm->chain_hash, LED_HASH_BYTES);
}

void clu_fsm_stats_get(const clu_fsm *fsm, clu_fsm_stats *out)
{
    *out = fsm->stats;
}

/* ---- The Raft node ------------------------------------------------------------------------- */

/* A proposal waiting for the loop thread. */
typedef struct proposal {
    led_event *events; /* owned */
    uint32_t count;
    clu_proposal_fn *fn;
    void *arg;
    struct proposal *next;
} proposal;

/* One entry in flight: which proposals it carries, at which offsets. */
typedef struct inflight_part {
    clu_proposal_fn *fn;
    void *arg;
    uint32_t offset, count;
} inflight_part;

typedef struct inflight {
    struct raft_apply req; /* req.data: this */
    struct clu_node *node;
    uint64_t start_ns;
    uint32_t part_count;
    inflight_part parts[CLU_ENTRY_EVENTS_MAX];
} inflight;

/* A leadership transfer waiting for the loop thread. */
typedef struct transfer_wait {
    uint64_t to; /* 0: libraft picks */
    clu_transfer_fn *fn;
    void *arg;
    struct transfer_wait *next;
} transfer_wait;

/* A read waiting for the loop thread. */
typedef struct read_req {
    void (*fn)(void *arg, const led_state *state);
    void *arg;
    bool done;
    struct read_req *next;
} read_req;

struct clu_node {
    clu_node_opts opts;
    uv_loop_t loop;
    uv_async_t wake; /* proposals, reads, stop */
    uv_timer_t tick; /* status, leadership, watchdog */
    struct raft_uv_transport transport;
    int (*tcp_listen)(struct raft_uv_transport *t, raft_uv_accept_cb cb); /* raft_uv_tcp's */
    int (*tcp_connect)(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                       const char *address, raft_uv_connect_cb cb);
    raft_uv_accept_cb raft_accept; /* raft_uv's */
    struct raft_io io;
    struct raft raft;
    clu_guard *guard; /* on io, unless opts.unguarded */
    clu_fsm *fsm;
    pthread_t thread;
    led_event *entry_events; /* owned: CLU_ENTRY_EVENTS_MAX, packing buffer (loop thread) */

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* start result, reads done */
    bool started, stopping;
    int start_rv;
    char start_error[320];
    proposal *queue_head, *queue_tail;
    transfer_wait *transfers; /* owned: waiting for the loop thread */
    read_req *reads;
    clu_status status;
    clu_metrics metrics;
    uint64_t leading_term; /* the term whose LeaderChanged this node committed */
    clu_listener listeners[CLU_LISTENERS_MAX]; /* to install on the loop thread */
    uint32_t listener_count;
    bool listeners_changed;
    clu_hash_point points[CLU_HASH_POINTS]; /* ring: the latest state hash points */
    uint32_t point_count, point_next;

    /* loop thread only */
    clu_role last_role;
    bool leading_notified;              /* the listeners were last told that this node leads */
    uint8_t state_hash[LED_HASH_BYTES]; /* led_state_hash at hashed_ledger_index */
    uint64_t hashed_ledger_index;
    bool hashed;
    uint64_t stall_applied;  /* applied index when the watchdog last saw it move */
    uint64_t stall_since_ns; /* when it last moved (or the node became available) */
    uint64_t unavailable_since_ns;
    /* The transfer under way (transfer_fn not NULL). libraft 0.15 keeps using the request after
     * its callback (the TimeoutNow send it embeds), so it lives in the node, never freed. */
    struct raft_transfer transfer;
    clu_transfer_fn *transfer_fn;
    void *transfer_arg;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static clu_role role_of(int state)
{
    switch (state) {
    case RAFT_FOLLOWER:
        return CLU_ROLE_FOLLOWER;
    case RAFT_CANDIDATE:
        return CLU_ROLE_CANDIDATE;
    case RAFT_LEADER:
        return CLU_ROLE_LEADER;
    default:
        return CLU_ROLE_UNAVAILABLE;
    }
}

static tk_err err_of_raft(int rv)
{
    switch (rv) {
    case RAFT_NOTLEADER:
        return TK_EPERM;
    case RAFT_NOMEM:
        return TK_ENOMEM;
    default:
        return TK_EAGAIN; /* leadership lost, shutting down: outcome unknown */
    }
}

/* Counts kept per applied entry (loop thread), for /metrics. */
static void node_on_apply(void *arg, const clu_applied *applied)
{
    clu_node *node = arg;
    pthread_mutex_lock(&node->lock);
    node->metrics.entries_applied_total++;
    node->metrics.events_applied_total += applied->count;
    clu_histogram_observe(&node->metrics.batch_events, (double)applied->count);
    for (uint32_t i = 0; i < applied->count; i++) {
        if (applied->outcomes[i].result == LED_REJECTED)
            node->metrics.rejections_by_rule[applied->outcomes[i].rule]++;
    }
    pthread_mutex_unlock(&node->lock);
}

/* Keep a state hash point for the divergence check (loop thread). */
static void node_on_hash_point(void *arg, const clu_hash_point *point)
{
    clu_node *node = arg;
    pthread_mutex_lock(&node->lock);
    node->points[node->point_next] = *point;
    node->point_next = (node->point_next + 1) % CLU_HASH_POINTS;
    if (node->point_count < CLU_HASH_POINTS) node->point_count++;
    pthread_mutex_unlock(&node->lock);
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
    inflight *f = req->data;
    clu_node *node = f->node;
    const clu_applied *applied = result;
    double seconds = (double)(now_ns() - f->start_ns) / 1e9;
    pthread_mutex_lock(&node->lock);
    if (status == 0)
        clu_histogram_observe(&node->metrics.commit_latency_seconds, seconds);
    else
        node->metrics.proposals_failed_total++;
    pthread_mutex_unlock(&node->lock);
    for (uint32_t i = 0; i < f->part_count; i++) {
        inflight_part *p = &f->parts[i];
        if (status == 0 && applied != NULL && applied->count > 0)
            p->fn(p->arg, TK_OK, applied->first_index + p->offset, &applied->outcomes[p->offset],
                  p->count);
        else
            p->fn(p->arg, status == 0 ? TK_EAGAIN : err_of_raft(status), 0, NULL, 0);
    }
    free(f);
}

/* Hand one packed entry (node->entry_events[0..count-1], parts) to libraft. */
static void submit_entry(clu_node *node, inflight *f, uint32_t count)
{
    size_t cap = CLU_ENTRY_BYTES(count);
    struct raft_buffer buf = {.base = raft_malloc(cap)};
    int rv = RAFT_NOMEM;
    if (buf.base != NULL) {
        TK_ASSERT(clu_entry_encode(node->entry_events, count, buf.base, cap, &buf.len) == TK_OK);
        f->req.data = f;
        f->start_ns = now_ns();
        rv = raft_apply(&node->raft, &f->req, &buf, 1, apply_done);
        if (rv != 0) raft_free(buf.base);
    }
    pthread_mutex_lock(&node->lock);
    node->metrics.proposals_total++;
    pthread_mutex_unlock(&node->lock);
    if (rv != 0) apply_done(&f->req, rv, NULL);
}

/* Pack waiting proposals into entries of up to CLU_ENTRY_EVENTS_MAX events. */
static void drain_proposals(clu_node *node, proposal *list)
{
    inflight *f = NULL;
    uint32_t packed = 0;
    while (list != NULL) {
        proposal *p = list;
        list = p->next;
        if (f != NULL && packed + p->count > CLU_ENTRY_EVENTS_MAX) {
            submit_entry(node, f, packed);
            f = NULL;
        }
        if (f == NULL) {
            f = calloc(1, sizeof(*f));
            packed = 0;
            if (f == NULL) {
                p->fn(p->arg, TK_ENOMEM, 0, NULL, 0);
                free(p->events);
                free(p);
                continue;
            }
            f->node = node;
        }
        memcpy(&node->entry_events[packed], p->events, p->count * sizeof(*p->events));
        f->parts[f->part_count++] =
            (inflight_part){.fn = p->fn, .arg = p->arg, .offset = packed, .count = p->count};
        packed += p->count;
        free(p->events);
        free(p);
    }
    if (f != NULL) submit_entry(node, f, packed);
}

static void status_refresh(clu_node *node);

/* libraft's transfer callback: the target leads (this node heard from it), the election timeout
 * passed, or the node is closing. The request stays in the node (libraft 0.15 still uses it). */
static void transfer_done(struct raft_transfer *req)
{
    clu_node *node = req->data;
    TK_ASSERT(req == &node->transfer);
    TK_ASSERT(node->transfer_fn != NULL);
    raft_id leader = 0;
    const char *address = NULL;
    raft_leader(&node->raft, &leader, &address);
    tk_err err = leader == req->id                             ? TK_OK
                 : raft_state(&node->raft) == RAFT_UNAVAILABLE ? TK_ECANCELED
                                                               : TK_ETIMEDOUT;
    clu_transfer_fn *fn = node->transfer_fn;
    void *arg = node->transfer_arg;
    node->transfer_fn = NULL;
    node->transfer_arg = NULL;
    status_refresh(node); /* the caller reads who leads now */
    TK_LOG(err == TK_OK ? TK_LOG_INFO : TK_LOG_WARN, "cluster", "leadership transfer ended",
           TK_LOG_U64("node", node->opts.id), TK_LOG_U64("to", req->id),
           TK_LOG_U64("leader", leader), TK_LOG_ERR("err", err));
    fn(arg, err, leader);
}

static tk_err err_of_transfer(int rv)
{
    switch (rv) {
    case RAFT_NOTLEADER:
        return TK_EPERM;
    case RAFT_BADID:
        return TK_EINVAL;
    case RAFT_NOTFOUND:
        return TK_ENOENT;
    case RAFT_NOMEM:
        return TK_ENOMEM;
    default:
        return TK_ETIMEDOUT; /* TimeoutNow could not be sent: the target is out of reach */
    }
}

/* Start one waiting transfer (loop thread); w is freed. */
static void transfer_begin(clu_node *node, transfer_wait *w, bool stopping)
{
    TK_ASSERT(w != NULL && w->fn != NULL);
    if (node->transfer_fn == NULL) TK_ASSERT(node->transfer_arg == NULL);
    tk_err err = TK_OK;
    if (stopping) {
        err = TK_ECANCELED;
    } else if (raft_state(&node->raft) != RAFT_LEADER) {
        err = TK_EPERM;
    } else if (node->transfer_fn != NULL) {
        err = TK_EEXIST;
    } else {
        node->transfer.data = node; /* libraft sets the rest */
        int rv = raft_transfer(&node->raft, &node->transfer, w->to, transfer_done);
        if (rv == 0) {
            node->transfer_fn = w->fn;
            node->transfer_arg = w->arg;
            TK_LOG(TK_LOG_INFO, "cluster", "leadership transfer started",
                   TK_LOG_U64("node", node->opts.id), TK_LOG_U64("to", node->transfer.id));
        } else {
            err = err_of_transfer(rv);
        }
    }
    if (err == TK_OK) TK_ASSERT(node->transfer_fn == w->fn); /* under way: answered later */
    if (err != TK_OK) w->fn(w->arg, err, 0);
    free(w);
}

static void node_close_handles(clu_node *node);

static void on_wake(uv_async_t *handle)
{
    clu_node *node = handle->data;
    pthread_mutex_lock(&node->lock);
    proposal *list = node->queue_head;
    node->queue_head = node->queue_tail = NULL;
    read_req *reads = node->reads;
    node->reads = NULL;
    transfer_wait *transfers = node->transfers;
    node->transfers = NULL;
    bool stopping = node->stopping;
    clu_listener added[CLU_LISTENERS_MAX];
    uint32_t added_count = 0;
    if (node->listeners_changed) {
        for (uint32_t i = 0; i < node->listener_count; i++) { /* the new ones */
            bool known = false;
            for (uint32_t j = 0; j < node->fsm->listener_count && !known; j++)
                known = node->fsm->listeners[j].arg == node->listeners[i].arg;
            if (!known) added[added_count++] = node->listeners[i];
        }
        memcpy(node->fsm->listeners, node->listeners, sizeof(node->listeners));
        node->fsm->listener_count = node->listener_count;
        node->listeners_changed = false;
    }
    pthread_mutex_unlock(&node->lock);
    for (uint32_t i = 0; i < added_count && node->leading_notified; i++) /* it leads already */
        if (added[i].leading != NULL)
            added[i].leading(added[i].arg, true, node->raft.current_term, clu_fsm_state(node->fsm));
    if (list != NULL) {
        if (stopping || raft_state(&node->raft) != RAFT_LEADER) {
            tk_err err = stopping ? TK_EAGAIN : TK_EPERM;
            while (list != NULL) {
                proposal *p = list;
                list = p->next;
                p->fn(p->arg, err, 0, NULL, 0);
                free(p->events);
                free(p);
            }
        } else {
            drain_proposals(node, list);
        }
    }
    while (transfers != NULL) {
        transfer_wait *w = transfers;
        transfers = w->next;
        transfer_begin(node, w, stopping);
    }
    for (read_req *r = reads; r != NULL;) {
        read_req *next = r->next; /* r lives on the reader's stack: read next first */
        r->fn(r->arg, clu_fsm_state(node->fsm));
        pthread_mutex_lock(&node->lock);
        r->done = true;
        pthread_cond_broadcast(&node->cond);
        pthread_mutex_unlock(&node->lock);
        r = next;
    }
    if (stopping) node_close_handles(node);
}

/* Tell the listeners that this node leads (its LeaderChanged of the current term is applied)
 * or no longer does; each change once, in order with the committed events. */
static void leading_notify(clu_node *node, bool leading)
{
    if (leading == node->leading_notified) return;
    node->leading_notified = leading;
    TK_LOG(TK_LOG_INFO, "cluster", leading ? "leading" : "no longer leading",
           TK_LOG_U64("node", node->opts.id), TK_LOG_U64("term", node->raft.current_term));
    const clu_fsm *fsm = node->fsm;
    for (uint32_t l = 0; l < fsm->listener_count; l++)
        if (fsm->listeners[l].leading != NULL)
            fsm->listeners[l].leading(fsm->listeners[l].arg, leading, node->raft.current_term,
                                      fsm->state);
}

/* LeaderChanged, proposed by a new leader once its barrier has committed. */
static void leader_changed_done(void *arg, tk_err err, uint64_t first_index,
                                const led_outcome *outcomes, uint32_t count)
{
    clu_node *node = arg;
    (void)outcomes;
    (void)count;
    if (err == TK_OK && raft_state(&node->raft) == RAFT_LEADER) {
        pthread_mutex_lock(&node->lock);
        node->leading_term = node->raft.current_term;
        pthread_mutex_unlock(&node->lock);
        leading_notify(node, true);
    }
    TK_LOG(err == TK_OK ? TK_LOG_INFO : TK_LOG_WARN, "cluster", "LeaderChanged proposed",
           TK_LOG_U64("node", node->opts.id), TK_LOG_ERR("err", err),
           TK_LOG_U64("index", first_index));
}

static void barrier_done(struct raft_barrier *req, int status)
{
    clu_node *node = req->data;
    uint64_t term = node->raft.current_term;
    free(req);
    if (status != 0 || raft_state(&node->raft) != RAFT_LEADER) return;
    proposal *p = calloc(1, sizeof(*p));
    led_event *ev = calloc(1, sizeof(*ev));
    if (p == NULL || ev == NULL) {
        free(p);
        free(ev);
        return;
    }
    ev->type = LED_EV_LEADER_CHANGED;
    ev->version = 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ev->ts_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    ev->u.leader_changed.term = term;
    snprintf(ev->u.leader_changed.node, sizeof(ev->u.leader_changed.node), "%s", node->opts.name);
    *p = (proposal){.events = ev, .count = 1, .fn = leader_changed_done, .arg = node};
    drain_proposals(node, p);
}

/* Copy what the node says of itself into the status (loop thread). */
static void status_refresh(clu_node *node)
{
    struct raft *r = &node->raft;
    clu_role role = role_of(raft_state(r));
    clu_fsm_stats stats;
    clu_fsm_stats_get(node->fsm, &stats);
    if (!node->hashed || node->hashed_ledger_index != stats.ledger_index) {
        led_state_hash(clu_fsm_state(node->fsm), node->state_hash);
        node->hashed = true;
        node->hashed_ledger_index = stats.ledger_index;
    }
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader(r, &leader_id, &leader_address);
    led_account acct;
    led_state_account(clu_fsm_state(node->fsm), &acct);

    pthread_mutex_lock(&node->lock);
    clu_status *st = &node->status;
    st->role = role;
    st->term = r->current_term;
    st->commit_index = r->commit_index;
    st->applied_index = raft_last_applied(r);
    st->ledger_index = stats.ledger_index;
    st->leader_id = leader_id;
    st->leader_api[0] = '\0';
    for (uint32_t i = 0; i < node->opts.peer_count; i++)
        if (node->opts.peers[i].id == leader_id)
            snprintf(st->leader_api, sizeof(st->leader_api), "%s", node->opts.peers[i].api);
    memcpy(st->state_hash, node->state_hash, LED_HASH_BYTES);
    st->kill_switch = acct.kill_switch;
    st->leading = role == CLU_ROLE_LEADER && node->leading_term == r->current_term;
    if (node->guard != NULL) clu_guard_counters_get(node->guard, &node->metrics.guard);
    node->metrics.snapshots_total = stats.snapshots;
    node->metrics.restores_total = stats.restores;
    pthread_mutex_unlock(&node->lock);
}

/* Refresh the status; on becoming leader, the barrier; the stall watchdog. */
static void on_tick(uv_timer_t *timer)
{
    clu_node *node = timer->data;
    struct raft *r = &node->raft;
    clu_role role = role_of(raft_state(r));
    if (node->leading_notified &&
        (role != CLU_ROLE_LEADER || node->leading_term != r->current_term))
        leading_notify(node, false);
    if (role == CLU_ROLE_LEADER && node->last_role != CLU_ROLE_LEADER) {
        struct raft_barrier *req = malloc(sizeof(*req));
        if (req != NULL) {
            req->data = node;
            if (raft_barrier(r, req, barrier_done) != 0) free(req);
        }
    }
    node->last_role = role;
    status_refresh(node);

    if (node->opts.stall_timeout_ms == 0) return;
    uint64_t now = now_ns(), limit = (uint64_t)node->opts.stall_timeout_ms * 1000000u;
    uint64_t applied = raft_last_applied(r);
    /* what this node knows is committed: its own commit index, or, when its log writes fail
     * and it stops taking entries (libraft 0.15 then leaves it behind for good, a follower or
     * a candidate; found by the chaos harness's eio-raft), the highest a leader's AppendEntries
     * said */
    uint64_t committed = r->commit_index;
    if (node->guard != NULL) {
        clu_guard_counters gc;
        clu_guard_counters_get(node->guard, &gc);
        if (gc.leader_commit_seen > committed) committed = gc.leader_commit_seen;
    }
    if (applied != node->stall_applied || committed <= applied) {
        node->stall_applied = applied;
        node->stall_since_ns = now;
    }
    if (role != CLU_ROLE_UNAVAILABLE) node->unavailable_since_ns = now;
    bool stalled = now - node->stall_since_ns > limit;
    bool unavailable = now - node->unavailable_since_ns > limit;
    if (stalled || unavailable) {
        TK_LOG(TK_LOG_ERROR, "cluster", "stall watchdog: exiting so that the node restarts",
               TK_LOG_BOOL("applied_stopped", stalled), TK_LOG_BOOL("unavailable", unavailable),
               TK_LOG_U64("applied_index", applied), TK_LOG_U64("commit_index", committed));
        abort();
    }
}

/* ---- TCP_NODELAY on Raft's connections -------------------------------------------------------
 * raft_uv_tcp (0.15) leaves Nagle's algorithm on. A follower's small AppendEntries results then
 * wait for the leader's delayed ACK (40 ms on Linux) whenever an earlier result is unacknowledged,
 * and so do the leader's small appends: commit latency jumps from a fraction of a millisecond to
 * tens of them under load. The node replaces the transport's listen and connect methods in place
 * (before raft_uv_init sees the transport) and turns TCP_NODELAY on for every stream they hand to
 * raft_uv. Reference: RFC 896 (Nagle), RFC 1122 section 4.2.3.2 (delayed ACK). */

static void stream_nodelay(struct uv_stream_s *stream)
{
    if (stream != NULL && stream->type == UV_TCP) (void)uv_tcp_nodelay((uv_tcp_t *)stream, 1);
}

static clu_node *node_of_transport(struct raft_uv_transport *t)
{
    return (clu_node *)(void *)((char *)t - offsetof(clu_node, transport));
}

static void nodelay_accept(struct raft_uv_transport *t, raft_id id, const char *address,
                           struct uv_stream_s *stream)
{
    stream_nodelay(stream);
    node_of_transport(t)->raft_accept(t, id, address, stream);
}

static int nodelay_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    clu_node *node = node_of_transport(t);
    node->raft_accept = cb;
    return node->tcp_listen(t, nodelay_accept);
}

/* raft_uv's connect callback. A raft_uv_connect request carries no pointer back to the node (its
 * data is raft_uv's), but raft_uv passes one and the same callback, a function of libraft, on
 * every connect of every instance: one process-wide copy serves all nodes. */
static _Atomic(raft_uv_connect_cb) raft_connect_cb;

static void nodelay_connected(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
    raft_uv_connect_cb cb = atomic_load(&raft_connect_cb);
    if (status == 0) stream_nodelay(stream);
    req->cb = cb;
    cb(req, stream, status);
}

static int nodelay_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                           const char *address, raft_uv_connect_cb cb)
{
    raft_uv_connect_cb expected = NULL;
    if (!atomic_compare_exchange_strong(&raft_connect_cb, &expected, cb))
        TK_ASSERT(expected == cb); /* the one callback the comment above relies on */
    return node_of_transport(t)->tcp_connect(t, req, id, address, nodelay_connected);
}

static void transport_set_nodelay(clu_node *node)
{
    node->tcp_listen = node->transport.listen;
    node->tcp_connect = node->transport.connect;
    node->transport.listen = nodelay_listen;
    node->transport.connect = nodelay_connect;
}

static void on_handle_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void on_raft_closed(struct raft *raft)
{
    clu_node *node = raft->data;
    raft_uv_close(&node->io);
    raft_uv_tcp_close(&node->transport);
    if (!uv_is_closing((uv_handle_t *)&node->wake))
        uv_close((uv_handle_t *)&node->wake, on_handle_closed);
}

/* Stop ticking, close libraft (its callback closes its io and the wake handle). */
static void node_close_handles(clu_node *node)
{
    if (uv_is_closing((uv_handle_t *)&node->tick)) return;
    uv_close((uv_handle_t *)&node->tick, on_handle_closed);
    raft_close(&node->raft, on_raft_closed);
}

static int node_bootstrap_and_start(clu_node *node)
{
    const clu_node_opts *o = &node->opts;
    const char *self = NULL;
    for (uint32_t i = 0; i < o->peer_count; i++)
        if (o->peers[i].id == o->id) self = o->peers[i].raft_address;
    int rv = raft_uv_tcp_init(&node->transport, &node->loop);
    if (rv != 0) return rv;
    transport_set_nodelay(node);
    rv = raft_uv_init(&node->io, &node->loop, o->raft_dir, &node->transport);
    if (rv != 0) {
        snprintf(node->start_error, sizeof(node->start_error), "raft_uv_init: %s", node->io.errmsg);
        raft_uv_tcp_close(&node->transport);
        return rv;
    }
    raft_uv_set_auto_recovery(&node->io, false);
    rv = raft_init(&node->raft, &node->io, clu_fsm_raft(node->fsm), o->id, self);
    if (rv != 0) {
        snprintf(node->start_error, sizeof(node->start_error), "raft_init: %s",
                 raft_errmsg(&node->raft));
        raft_uv_close(&node->io);
        raft_uv_tcp_close(&node->transport);
        return rv;
    }
    node->raft.data = node;
    if (!o->unguarded && clu_guard_attach(&node->io, CLU_GUARD_ALL, &node->guard) != TK_OK) {
        snprintf(node->start_error, sizeof(node->start_error), "the protocol guard: %s",
                 tk_err_str(TK_ENOMEM));
        raft_close(&node->raft, on_raft_closed);
        return RAFT_NOMEM;
    }
    clu_fsm_attach(node->fsm, &node->raft);
    raft_set_pre_vote(&node->raft, true);
    raft_set_election_timeout(&node->raft, o->election_timeout_ms);
    raft_set_heartbeat_timeout(&node->raft, o->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&node->raft, o->snapshot_threshold);
    raft_set_snapshot_trailing(&node->raft, o->snapshot_trailing);
    raft_set_install_snapshot_timeout(&node->raft, o->install_snapshot_timeout_ms);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (uint32_t i = 0; i < o->peer_count && rv == 0; i++)
        rv = raft_configuration_add(&conf, o->peers[i].id, o->peers[i].raft_address, RAFT_VOTER);
    if (rv == 0) rv = raft_bootstrap(&node->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) rv = 0; /* bootstrapped on an earlier start */
    if (rv == 0) rv = raft_start(&node->raft);
    if (rv != 0) {
        snprintf(node->start_error, sizeof(node->start_error), "raft_start: %s (%s)",
                 raft_strerror(rv), raft_errmsg(&node->raft));
        raft_close(&node->raft, on_raft_closed);
    }
    return rv;
}

static void *node_thread(void *arg)
{
    clu_node *node = arg;
    int rv = node_bootstrap_and_start(node);
    if (rv == 0) {
        uv_timer_start(&node->tick, on_tick, 0, 5);
    } else {
        uv_close((uv_handle_t *)&node->tick, on_handle_closed);
        if (!uv_is_closing((uv_handle_t *)&node->wake))
            uv_close((uv_handle_t *)&node->wake, on_handle_closed);
    }
    pthread_mutex_lock(&node->lock);
    node->started = true;
    node->start_rv = rv;
    pthread_cond_broadcast(&node->cond);
    pthread_mutex_unlock(&node->lock);
    uv_run(&node->loop, UV_RUN_DEFAULT);
    return NULL;
}

static tk_err opts_check(const clu_node_opts *o, es_error *why)
{
    const char *bad = NULL;
    bool self = false;
    for (uint32_t i = 0; i < o->peer_count && i < CLU_NODES_MAX; i++) {
        if (o->peers[i].id == o->id) self = true;
        if (o->peers[i].id == 0) bad = "peers[].id (0)";
        for (uint32_t j = 0; j < i; j++)
            if (o->peers[j].id == o->peers[i].id) bad = "peers[].id (duplicate)";
    }
    if (o->peer_count < 1 || o->peer_count > CLU_NODES_MAX)
        bad = "peer_count (1..5)";
    else if (o->id == 0 || !self)
        bad = "id (not among the peers)";
    else if (o->raft_dir == NULL)
        bad = "raft_dir";
    else if (o->store == NULL)
        bad = "store";
    else if (o->heartbeat_timeout_ms == 0 || o->heartbeat_timeout_ms >= o->election_timeout_ms)
        bad = "heartbeat_timeout_ms (1..election_timeout_ms-1)";
    else if (o->snapshot_threshold == 0)
        bad = "snapshot_threshold (>= 1)";
    if (bad == NULL) return TK_OK;
    snprintf(why->text, sizeof(why->text), "bad node option: %s", bad);
    return TK_EINVAL;
}

static void node_free(clu_node *node)
{
    clu_guard_detach(node->guard); /* the loop has ended: nothing calls the io any more */
    clu_fsm_close(node->fsm);
    free(node->entry_events);
    pthread_mutex_destroy(&node->lock);
    pthread_cond_destroy(&node->cond);
    free(node);
}

tk_err clu_node_start(const clu_node_opts *opts, clu_node **out, es_error *why)
{
    TK_ASSERT(opts != NULL && out != NULL && why != NULL);
    tk_err err = opts_check(opts, why);
    if (err != TK_OK) return err;
    /* raft_uv writes to peers' sockets, which a peer that dies closes: a write then raises
     * SIGPIPE, whose default ends the process. A node wants EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    clu_node *node = calloc(1, sizeof(*node));
    if (node == NULL) return TK_ENOMEM;
    node->opts = *opts;
    pthread_mutex_init(&node->lock, NULL);
    pthread_cond_init(&node->cond, NULL);
    node->entry_events = calloc(CLU_ENTRY_EVENTS_MAX, sizeof(*node->entry_events));
    err = node->entry_events == NULL ? TK_ENOMEM : TK_OK;
    if (err == TK_OK)
        err = clu_fsm_open_store(opts->store, opts->checkpoint_every, &node->fsm, why);
    if (err != TK_OK) {
        node_free(node);
        return err;
    }
    node->fsm->on_apply = node_on_apply;
    node->fsm->on_hash_point = node_on_hash_point;
    node->fsm->hash_every = opts->hash_every;
    node->fsm->on_apply_arg = node;
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    static const double latency_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                            0.05,   0.1,   0.25,  0.5,   1,    2.5};
    clu_histogram_init(&node->metrics.batch_events, batch_bounds, 9);
    clu_histogram_init(&node->metrics.commit_latency_seconds, latency_bounds, 12);
    node->status.node_id = opts->id;
    node->unavailable_since_ns = node->stall_since_ns = now_ns();
    if (uv_loop_init(&node->loop) != 0) {
        node_free(node);
        return TK_EIO;
    }
    uv_async_init(&node->loop, &node->wake, on_wake);
    node->wake.data = node;
    uv_timer_init(&node->loop, &node->tick);
    node->tick.data = node;
    if (pthread_create(&node->thread, NULL, node_thread, node) != 0) {
        uv_close((uv_handle_t *)&node->wake, on_handle_closed);
        uv_close((uv_handle_t *)&node->tick, on_handle_closed);
        uv_run(&node->loop, UV_RUN_DEFAULT);
        uv_loop_close(&node->loop);
        node_free(node);
        return TK_ENOMEM;
    }
    pthread_mutex_lock(&node->lock);
    while (!node->started)
        pthread_cond_wait(&node->cond, &node->lock);
    int rv = node->start_rv;
    pthread_mutex_unlock(&node->lock);
    if (rv != 0) {
        pthread_join(node->thread, NULL);
        uv_loop_close(&node->loop);
        snprintf(why->text, sizeof(why->text), "%s", node->start_error);
        node_free(node);
        return TK_EIO;
    }
    *out = node;
    return TK_OK;
}

void clu_node_stop(clu_node *node)
{
    if (node == NULL) return;
    pthread_mutex_lock(&node->lock);
    node->stopping = true;
    pthread_mutex_unlock(&node->lock);
    uv_async_send(&node->wake);
    pthread_join(node->thread, NULL);
    uv_loop_close(&node->loop);
    for (proposal *p = node->queue_head; p != NULL;) { /* arrived after the last wake */
        proposal *next = p->next;
        p->fn(p->arg, TK_EAGAIN, 0, NULL, 0);
        free(p->events);
        free(p);
        p = next;
    }
    while (node->transfers != NULL) { /* the same */
        transfer_wait *w = node->transfers;
        node->transfers = w->next;
        w->fn(w->arg, TK_ECANCELED, 0);
        free(w);
    }
    node_free(node);
}

tk_err clu_node_propose(clu_node *node, const led_event *events, uint32_t count,
                        clu_proposal_fn *fn, void *arg)
{
    TK_ASSERT(node != NULL && fn != NULL);
    if (count < 1 || count > CLU_ENTRY_EVENTS_MAX || events == NULL) return TK_EINVAL;
    for (uint32_t i = 0; i < count; i++)
        if (led_event_check(&events[i], NULL) != TK_OK) return TK_EINVAL;
    proposal *p = calloc(1, sizeof(*p));
    led_event *copy = malloc(count * sizeof(*copy));
    if (p == NULL || copy == NULL) {
        free(p);
        free(copy);
        return TK_ENOMEM;
    }
    memcpy(copy, events, count * sizeof(*copy));
    *p = (proposal){.events = copy, .count = count, .fn = fn, .arg = arg};
    pthread_mutex_lock(&node->lock);
    if (node->queue_tail != NULL)
        node->queue_tail->next = p;
    else
        node->queue_head = p;
    node->queue_tail = p;
    pthread_mutex_unlock(&node->lock);
    uv_async_send(&node->wake);
    return TK_OK;
}

tk_err clu_node_transfer(clu_node *node, uint64_t to, clu_transfer_fn *fn, void *arg)
{
    TK_ASSERT(node != NULL && fn != NULL);
    transfer_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) return TK_ENOMEM;
    *w = (transfer_wait){.to = to, .fn = fn, .arg = arg};
    pthread_mutex_lock(&node->lock);
    w->next = node->transfers; /* at most a few at once: their order does not matter */
    node->transfers = w;
    pthread_mutex_unlock(&node->lock);
    uv_async_send(&node->wake);
    return TK_OK;
}

void clu_node_status(clu_node *node, clu_status *out)
{
    pthread_mutex_lock(&node->lock);
    *out = node->status;
    pthread_mutex_unlock(&node->lock);
}

/* On the loop thread: what /metrics reports of the ledger itself. */
static void ledger_metrics(void *arg, const led_state *state)
{
    clu_metrics *m = arg;
    memset(m->orders_by_state, 0, sizeof(m->orders_by_state));
    led_order o;
    for (uint64_t after = 0; led_state_order_next(state, after, &o) == TK_OK; after = o.index)
        m->orders_by_state[o.state]++;
    led_account acct;
    led_state_account(state, &acct);
    m->equity_e8 = acct.equity_e8;
    m->realized_pnl_e8 = 0;
    for (uint32_t i = 0; i < acct.instrument_count; i++) {
        led_instrument in;
        led_state_instrument_at(state, i, &in);
        int64_t sum = 0;
        if (led_add(m->realized_pnl_e8, in.realized_pnl_e8, &sum) == TK_OK)
            m->realized_pnl_e8 = sum; /* an overflowing sum keeps the last that fit */
    }
}

void clu_node_metrics(clu_node *node, clu_metrics *out)
{
    pthread_mutex_lock(&node->lock);
    *out = node->metrics;
    out->status = node->status;
    pthread_mutex_unlock(&node->lock);
    clu_node_read(node, ledger_metrics, out);
}

void clu_node_read(clu_node *node, void (*fn)(void *arg, const led_state *state), void *arg)
{
    read_req r = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&node->lock);
    r.next = node->reads;
    node->reads = &r;
    pthread_mutex_unlock(&node->lock);
    uv_async_send(&node->wake);
    pthread_mutex_lock(&node->lock);
    while (!r.done)
        pthread_cond_wait(&node->cond, &node->lock);
    pthread_mutex_unlock(&node->lock);
}

uint32_t clu_node_hash_points(clu_node *node, clu_hash_point *out, uint32_t max)
{
    pthread_mutex_lock(&node->lock);
    uint32_t n = node->point_count < max ? node->point_count : max;
    for (uint32_t i = 0; i < n; i++) { /* oldest of the newest n first */
        uint32_t at = (node->point_next + CLU_HASH_POINTS - n + i) % CLU_HASH_POINTS;
        out[i] = node->points[at];
    }
    pthread_mutex_unlock(&node->lock);
    return n;
}

void clu_node_set_diverged(clu_node *node)
{
    pthread_mutex_lock(&node->lock);
    node->status.diverged = true;
    pthread_mutex_unlock(&node->lock);
}

uint64_t clu_hash_points_diverge(const clu_hash_point *a, uint32_t a_count, const clu_hash_point *b,
                                 uint32_t b_count)
{
    uint64_t first = 0;
    for (uint32_t i = 0; i < a_count; i++)
        for (uint32_t j = 0; j < b_count; j++)
            if (a[i].ledger_index == b[j].ledger_index &&
                memcmp(a[i].state_hash, b[j].state_hash, LED_HASH_BYTES) != 0 &&
                (first == 0 || a[i].ledger_index < first))
                first = a[i].ledger_index;
    return first;
}

static void no_read(void *arg, const led_state *state)
{
    (void)arg;
    (void)state;
}

/* Listeners are handed to the loop thread through the wake handle, like every change to what
 * the loop owns; the read after it returns once the loop has taken them. */
tk_err clu_node_listen(clu_node *node, const clu_listener *listener)
{
    TK_ASSERT(node != NULL && listener != NULL);
    pthread_mutex_lock(&node->lock);
    tk_err err = TK_EFULL;
    if (node->listener_count < CLU_LISTENERS_MAX) {
        node->listeners[node->listener_count++] = *listener;
        node->listeners_changed = true;
        err = TK_OK;
    }
    pthread_mutex_unlock(&node->lock);
    if (err == TK_OK) clu_node_read(node, no_read, NULL);
    return err;
}

void clu_node_unlisten(clu_node *node, void *arg)
{
    TK_ASSERT(node != NULL);
    pthread_mutex_lock(&node->lock);
    for (uint32_t i = 0; i < node->listener_count; i++) {
        if (node->listeners[i].arg != arg) continue;
        node->listeners[i] = node->listeners[--node->listener_count];
        node->listeners_changed = true;
        break;
    }
    pthread_mutex_unlock(&node->lock);
    clu_node_read(node, no_read, NULL);
}
