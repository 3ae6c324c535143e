/* ledger/led_hash.c: the chain hash against known answers from an independent implementation
 * (tests/ledger/chain_reference.py, Python's hashlib), and its tamper evidence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <string.h>

#include "led.h"
#include "ledger_tests.h"

static void hex_of(const uint8_t hash[LED_HASH_BYTES], char out[2u * LED_HASH_BYTES + 1u])
{
    for (unsigned i = 0; i < LED_HASH_BYTES; i++) {
        snprintf(out + 2u * i, 3, "%02x", hash[i]);
    }
}

static void test_known_answers(void **state)
{
    (void)state;
    static const char *const want[] = {
        "8667e7fc9a5b7da59e4765472e9a1c9c889c29c8b119630bb0b16eb8dab04991",
        "64743ea523694ef0bad66c10c379720fd213fec12b71930c0e8c9fb80aa9fc1a",
        "7aabeed1dd1dda34b38a236dc0d3c2091580418f1af65735ec699fcf38270ccd",
    };
    uint8_t third[200];
    for (unsigned i = 0; i < sizeof(third); i++) {
        third[i] = (uint8_t)i;
    }
    const struct {
        const uint8_t *bytes;
        size_t size;
    } events[] = {{(const uint8_t *)"first", 5}, {NULL, 0}, {third, sizeof(third)}};
    uint8_t hash[LED_HASH_BYTES] = {0};
    for (unsigned i = 0; i < 3; i++) {
        led_chain_next(hash, i + 1u, events[i].bytes, events[i].size, hash); /* in place */
        char hex[2u * LED_HASH_BYTES + 1u];
        hex_of(hash, hex);
        assert_string_equal(hex, want[i]);
    }
}

/* Changing one byte of one event, or an index, changes that hash and every later one. */
static void test_tamper_evident(void **state)
{
    (void)state;
    enum { EVENTS = 50 };
    uint8_t log[EVENTS][16];
    for (unsigned i = 0; i < EVENTS; i++) {
        memset(log[i], (int)i, sizeof(log[i]));
    }
    uint8_t clean[EVENTS][LED_HASH_BYTES];
    uint8_t prev[LED_HASH_BYTES] = {0};
    for (unsigned i = 0; i < EVENTS; i++) {
        led_chain_next(prev, i + 1u, log[i], sizeof(log[i]), clean[i]);
        memcpy(prev, clean[i], LED_HASH_BYTES);
    }
    log[20][7] ^= 1u; /* one bit of event 21 */
    memset(prev, 0, sizeof(prev));
    for (unsigned i = 0; i < EVENTS; i++) {
        uint8_t h[LED_HASH_BYTES];
        led_chain_next(prev, i + 1u, log[i], sizeof(log[i]), h);
        bool same = memcmp(h, clean[i], LED_HASH_BYTES) == 0;
        if (i < 20) assert_true(same);
        if (i >= 20) assert_false(same);
        memcpy(prev, h, LED_HASH_BYTES);
    }
    uint8_t zero[LED_HASH_BYTES] = {0};
    uint8_t a[LED_HASH_BYTES];
    uint8_t b[LED_HASH_BYTES];
    led_chain_next(zero, 1, log[0], sizeof(log[0]), a);
    led_chain_next(zero, 2, log[0], sizeof(log[0]), b); /* same bytes, another index */
    assert_memory_not_equal(a, b, LED_HASH_BYTES);
}

int led_test_hash(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_tamper_evident),
    };
    return cmocka_run_group_tests_name("ledger/hash", tests, NULL, NULL);
}
