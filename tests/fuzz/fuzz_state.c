/* libFuzzer target: the state decoder, which reads checkpoints from disk and states out of
 * snapshots from other replicas. Any input is either refused (TK_EINVAL, naming a part and a
 * reason, the state left at genesis) or decoded to a state whose canonical encoding is the
 * input itself, byte for byte, and which decodes and encodes again to the same bytes and hash.
 * Any broken property aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "led.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static led_state *state;
static led_state *again;
static uint8_t *bytes;
static size_t bytes_max;
static uint8_t genesis[LED_HASH_BYTES];

static void fuzz_init(void)
{
    if (led_state_open(&state) != TK_OK || led_state_open(&again) != TK_OK) abort();
    bytes_max = led_state_encoded_size_max();
    bytes = malloc(bytes_max);
    if (bytes == NULL) abort();
    led_state_hash(state, genesis);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (state == NULL) fuzz_init();
    led_event_error why = {{0}, NULL};
    tk_err err = led_state_decode(state, data, size, &why);
    uint8_t h1[LED_HASH_BYTES];
    uint8_t h2[LED_HASH_BYTES];
    if (err != TK_OK) {
        if (err != TK_EINVAL || why.reason == NULL || why.field[0] == '\0') abort();
        led_state_hash(state, h1);
        if (memcmp(h1, genesis, sizeof(h1)) != 0) abort(); /* nothing half-decoded */
        return 0;
    }
    size_t n = 0;
    if (led_state_encode(state, bytes, bytes_max, &n) != TK_OK) abort();
    if (n != size || memcmp(bytes, data, size) != 0) abort(); /* one encoding per state */
    if (led_state_decode(again, bytes, n, NULL) != TK_OK) abort();
    led_state_hash(state, h1);
    led_state_hash(again, h2);
    if (memcmp(h1, h2, sizeof(h1)) != 0) abort();
    size_t n2 = 0;
    if (led_state_encode(again, bytes, bytes_max, &n2) != TK_OK) abort();
    if (n2 != size || memcmp(bytes, data, size) != 0) abort();
    return 0;
}
