/* libFuzzer target: the event decoder, which reads every event from the log, from replicas and
 * from snapshots. Any input is either refused (with a field named) or decoded to a valid event
 * that encodes and decodes back to the same event. */
#include <stdint.h>
#include <string.h>

#include "led.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static led_codec *codec;
    if (codec == NULL) TK_ASSERT(led_codec_open(&codec) == TK_OK);
    led_event ev;
    led_event_error why = {{0}, NULL};
    tk_err err = led_event_decode(codec, data, size, &ev, &why);
    if (err != TK_OK) {
        TK_ASSERT(err == TK_EINVAL || err == TK_EOVERFLOW || err == TK_ENOMEM);
        TK_ASSERT(why.reason != NULL);
        TK_ASSERT(why.field[0] != '\0');
        return 0;
    }
    TK_ASSERT(led_event_check(&ev, NULL) == TK_OK);
    uint8_t bytes[LED_EVENT_BYTES_MAX];
    size_t len = 0;
    TK_ASSERT(led_event_encode(&ev, bytes, sizeof(bytes), &len) == TK_OK);
    led_event back;
    TK_ASSERT(led_event_decode(codec, bytes, len, &back, NULL) == TK_OK);
    TK_ASSERT(memcmp(&ev, &back, sizeof(ev)) == 0);
    return 0;
}
