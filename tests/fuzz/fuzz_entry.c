/* libFuzzer target: the Raft entry decoder (clu_entry_decode), which reads what the leader
 * replicated. Any input is either refused (naming the part and a reason) or decoded to events
 * that encode to an entry (padded to 8 bytes) which decodes back to the same events. Any broken
 * property aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static led_codec *codec;
    static led_event events[CLU_ENTRY_EVENTS_MAX];
    static led_event back[CLU_ENTRY_EVENTS_MAX];
    static uint8_t again[CLU_ENTRY_BYTES_MAX];
    if (codec == NULL && led_codec_open(&codec) != TK_OK) abort();
    uint32_t count = 0;
    led_event_error why = {{0}, NULL};
    tk_err err = clu_entry_decode(codec, data, size, events, &count, &why);
    if (err != TK_OK) {
        if (err != TK_EINVAL && err != TK_EOVERFLOW && err != TK_ENOMEM) abort();
        if (why.reason == NULL || why.field[0] == '\0') abort();
        return 0;
    }
    if (count < 1 || count > CLU_ENTRY_EVENTS_MAX) abort();
    size_t again_size = 0;
    if (clu_entry_encode(events, count, again, sizeof(again), &again_size) != TK_OK) abort();
    if (again_size % 8 != 0) abort();
    uint32_t back_count = 0;
    if (clu_entry_decode(codec, again, again_size, back, &back_count, &why) != TK_OK) abort();
    if (back_count != count || memcmp(back, events, count * sizeof(events[0])) != 0) abort();
    return 0;
}
