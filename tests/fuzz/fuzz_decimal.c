/* libFuzzer target: led_parse, the reader of prices and quantities from venue replies and
 * data files. Any input is either refused with an offset inside it, or parsed to a value whose
 * led_format text parses back to the same value. */
#include <stdint.h>
#include <string.h>

#include "led.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t value = 0;
    led_parse_error why = {0};
    tk_err err = led_parse((const char *)data, size, &value, &why);
    if (err != TK_OK) {
        TK_ASSERT(err == TK_EINVAL || err == TK_EOVERFLOW);
        TK_ASSERT(why.reason != NULL);
        TK_ASSERT(why.offset <= size);
        return 0;
    }
    char text[LED_DECIMAL_BYTES_MAX];
    size_t len = led_format(value, text, sizeof(text));
    int64_t back = 0;
    err = led_parse(text, len, &back, NULL);
    TK_ASSERT(err == TK_OK);
    TK_ASSERT(back == value);
    return 0;
}
