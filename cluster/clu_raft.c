/* The Raft side of the journal: the entry framing and the ledger FSM. This is the one file of
 * troika that includes raft.h (docs/cluster.md); libraft 0.15's traps it works around are in
 * that document. */
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    *out_size = at;
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
    if (at != size_bytes) return entry_refuse(why, "length", "bytes after the last event");
    *out_count = count;
    return TK_OK;
}

/* ---- The ledger FSM ------------------------------------------------------------------------ */

struct clu_fsm {
    struct raft_fsm raft_fsm; /* data points back here */
    struct raft *raft;        /* borrowed: set by clu_fsm_attach */
    led_state *state;         /* owned */
    led_codec *codec;         /* owned */
    uint8_t chain_hash[LED_HASH_BYTES];
    clu_fsm_stats stats;
    led_event *events;  /* owned: CLU_ENTRY_EVENTS_MAX, the entry being applied */
    uint8_t *state_buf; /* owned: led_state_encoded_size_max(), for snapshots */
    clu_applied applied;
};

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
        return 0;
    }
    const uint8_t *at = (const uint8_t *)buf->base + CLU_ENTRY_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        size_t size = (size_t)at[0] << 8 | at[1];
        uint64_t index = fsm->stats.ledger_index + 1;
        led_chain_next(fsm->chain_hash, index, at + 2, size, fsm->chain_hash);
        led_apply(fsm->state, index, &fsm->events[i], &fsm->applied.outcomes[i]);
        fsm->stats.ledger_index = index;
        at += 2 + size;
    }
    fsm->applied.count = count;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *raft_fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    clu_fsm *fsm = raft_fsm->data;
    size_t state_size = 0;
    if (led_state_encode(fsm->state, fsm->state_buf, led_state_encoded_size_max(), &state_size) !=
        TK_OK)
        return RAFT_NOMEM;
    led_snapshot snap = {.index = fsm->stats.ledger_index,
                         .raft_index = fsm->stats.raft_index,
                         .state = fsm->state_buf,
                         .state_size = state_size};
    memcpy(snap.chain_hash, fsm->chain_hash, LED_HASH_BYTES);
    size_t cap = state_size + LED_SNAPSHOT_OVERHEAD_BYTES;
    struct raft_buffer *out = raft_malloc(sizeof(*out));
    void *base = raft_malloc(cap);
    size_t size = 0;
    if (out == NULL || base == NULL || led_snapshot_encode(&snap, base, cap, &size) != TK_OK) {
        raft_free(out);
        raft_free(base);
        return RAFT_NOMEM;
    }
    out->base = base;
    out->len = size;
    *bufs = out;
    *n_bufs = 1;
    fsm->stats.snapshots++;
    return 0;
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

/* Replace the state with a snapshot's. libraft hands over buf->base: it is freed here. A
 * snapshot that does not decode leaves the state as it was and fails the restore. */
static int fsm_restore(struct raft_fsm *raft_fsm, struct raft_buffer *buf)
{
    clu_fsm *fsm = raft_fsm->data;
    led_snapshot snap;
    led_event_error why = {0};
    int rv = RAFT_CORRUPT;
    if (led_snapshot_decode(fsm->codec, buf->base, buf->len, &snap, &why) == TK_OK) {
        if (led_state_decode(fsm->state, snap.state, snap.state_size, &why) == TK_OK) {
            fsm->stats.ledger_index = snap.index;
            fsm->stats.raft_index = snap.raft_index;
            memcpy(fsm->chain_hash, snap.chain_hash, LED_HASH_BYTES);
            fsm->stats.restores++;
            rv = 0;
        } else {
            /* led_state_decode left genesis behind: the old state is gone, so is its index */
            memset(fsm->chain_hash, 0, LED_HASH_BYTES);
            fsm->stats.ledger_index = 0;
            fsm->stats.raft_index = 0;
        }
    }
    raft_free(buf->base);
    return rv;
}

tk_err clu_fsm_open(clu_fsm **out)
{
    clu_fsm *fsm = calloc(1, sizeof(*fsm));
    if (fsm == NULL) return TK_ENOMEM;
    fsm->events = calloc(CLU_ENTRY_EVENTS_MAX, sizeof(*fsm->events));
    fsm->state_buf = malloc(led_state_encoded_size_max());
    tk_err err = TK_ENOMEM;
    if (fsm->events != NULL && fsm->state_buf != NULL) err = led_state_open(&fsm->state);
    if (err == TK_OK) err = led_codec_open(&fsm->codec);
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
