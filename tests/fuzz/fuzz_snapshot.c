/* libFuzzer target: the snapshot blob decoder, which reads snapshots that storage imports and
 * Raft will ship between replicas. Any input is either refused (naming a key and a reason) or
 * decoded to a snapshot whose state lies inside the input, and which encodes and decodes back
 * to the same fields and state bytes. Any broken property aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "led.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_snapshot(const led_snapshot *a, const led_snapshot *b)
{
    return a->index == b->index && a->raft_index == b->raft_index &&
           memcmp(a->chain_hash, b->chain_hash, LED_HASH_BYTES) == 0 &&
           strcmp(a->cluster_id, b->cluster_id) == 0 && a->state_size == b->state_size &&
           memcmp(a->state, b->state, a->state_size) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static led_codec *codec;
    if (codec == NULL && led_codec_open(&codec) != TK_OK) abort();
    led_snapshot snap;
    led_event_error why = {{0}, NULL};
    tk_err err = led_snapshot_decode(codec, data, size, &snap, &why);
    if (err != TK_OK) {
        if (err != TK_EINVAL && err != TK_ENOMEM) abort();
        if (why.reason == NULL || why.field[0] == '\0') abort();
        return 0;
    }
    if (snap.state_size == 0 || snap.state < data || snap.state_size > size ||
        snap.state + snap.state_size > data + size) {
        abort(); /* the state is borrowed from the input */
    }
    if (strnlen(snap.cluster_id, sizeof(snap.cluster_id)) == sizeof(snap.cluster_id)) abort();
    size_t cap = snap.state_size + LED_SNAPSHOT_OVERHEAD_BYTES;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) abort();
    size_t n = 0;
    if (led_snapshot_encode(&snap, buf, cap, &n) != TK_OK) abort();
    led_snapshot back;
    if (led_snapshot_decode(codec, buf, n, &back, NULL) != TK_OK) abort();
    if (!same_snapshot(&snap, &back)) abort();
    if (back.state < buf || back.state + back.state_size > buf + n) abort();
    free(buf);
    return 0;
}
