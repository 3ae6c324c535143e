/* feeds/feed_json.c: Binance kline replies, the module's only user of jansson (STYLE.md
 * section 1). The document is parsed whole, up to FEED_JSON_BYTES_MAX bytes; each kline is then
 * handed out as a row of borrowed texts, checked and converted by feed_file.c like a CSV row. */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "feed_internal.h"

#define KLINE_VALUES     12u /* Binance's kline array */
#define KLINE_CLOSE_TIME 6u  /* position of the close time in it */

/* Where jansson's reads come from, and what went wrong underneath it. */
typedef struct load_source {
    feed__lines *lines; /* borrowed */
    size_t total_bytes;
    tk_err err;
    bool too_big;
} load_source;

static size_t load_more(void *buffer, size_t size, void *data)
{
    load_source *src = data;
    TK_ASSERT(src != NULL && buffer != NULL);
    size_t got = feed__lines_read(src->lines, buffer, size, &src->err);
    if (src->err != TK_OK) return (size_t)-1;
    src->total_bytes += got;
    if (src->total_bytes > FEED_JSON_BYTES_MAX) {
        src->too_big = true;
        return (size_t)-1; /* jansson stops with an error */
    }
    TK_ASSERT(got <= size);
    return got;
}

static const char *type_name(const json_t *value)
{
    TK_ASSERT(value != NULL);
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    TK_ASSERT(false && "jansson has no other type");
    return "?";
}

/* A top-level value that is not an array: say what it is, with a venue error's "msg". */
static void describe_not_array(const json_t *doc, char *detail, size_t detail_size)
{
    TK_ASSERT(doc != NULL && detail != NULL);
    const json_t *msg = json_is_object(doc) ? json_object_get(doc, "msg") : NULL;
    if (json_is_string(msg)) {
        char show[FEED__SHOW_BYTES];
        snprintf(detail, detail_size,
                 "not a JSON array of klines but an object with msg '%s' (a venue error reply?)",
                 feed__show(json_string_value(msg), json_string_length(msg), show));
        return;
    }
    snprintf(detail, detail_size, "not a JSON array of klines but %s", type_name(doc));
    TK_ASSERT(detail[0] != '\0');
}

tk_err feed__json_load(feed__lines *lines, json_t **out_doc, char *detail, size_t detail_size,
                       uint64_t *out_line)
{
    TK_ASSERT(lines != NULL && out_doc != NULL);
    TK_ASSERT(detail != NULL && out_line != NULL);
    load_source src = {.lines = lines, .total_bytes = 0, .err = TK_OK, .too_big = false};
    json_error_t jerr;
    json_t *doc = json_load_callback(load_more, &src, 0, &jerr);
    *out_line = 0;
    if (doc == NULL) {
        if (src.err != TK_OK) {
            snprintf(detail, detail_size, "read failed");
            return src.err;
        }
        if (src.too_big) {
            snprintf(detail, detail_size,
                     "JSON larger than %u bytes (read whole): convert it to CSV",
                     (unsigned)FEED_JSON_BYTES_MAX);
            return TK_EINVAL;
        }
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            snprintf(detail, detail_size, "out of memory parsing JSON");
            return TK_ENOMEM;
        }
        char text[sizeof(jerr.text)];
        size_t len = strnlen(jerr.text, sizeof(jerr.text) - 1u);
        for (size_t i = 0; i < len; i++) { /* it may quote bytes of the input */
            text[i] = (jerr.text[i] >= ' ' && jerr.text[i] <= '~') ? jerr.text[i] : '?';
        }
        text[len] = '\0';
        *out_line = jerr.line > 0 ? (uint64_t)jerr.line : 0;
        snprintf(detail, detail_size, "JSON: %s (column %d)", text, jerr.column);
        return TK_EINVAL;
    }
    if (!json_is_array(doc)) {
        describe_not_array(doc, detail, detail_size);
        json_decref(doc);
        return TK_EINVAL;
    }
    *out_doc = doc;
    return TK_OK;
}

size_t feed__json_count(const json_t *doc)
{
    TK_ASSERT(doc != NULL);
    TK_ASSERT(json_is_array(doc));
    return json_array_size(doc);
}

/* The open time (position 0) and the close time (position 6), both integers, close after open. */
static tk_err kline_times(const json_t *kline, feed__row *row, char *detail, size_t detail_size)
{
    TK_ASSERT(json_is_array(kline));
    TK_ASSERT(json_array_size(kline) == KLINE_VALUES);
    const json_t *open_time = json_array_get(kline, 0);
    if (!json_is_integer(open_time) || json_integer_value(open_time) < 0) {
        snprintf(detail, detail_size, "field 'time' (value 1): not a whole number of ms (%s)",
                 json_is_integer(open_time) ? "negative" : type_name(open_time));
        return TK_EINVAL;
    }
    json_int_t open_ms = json_integer_value(open_time);
    const json_t *close_time = json_array_get(kline, KLINE_CLOSE_TIME);
    if (!json_is_integer(close_time) || json_integer_value(close_time) <= open_ms) {
        snprintf(detail, detail_size,
                 "field 'close_time' (value 7): not a whole number of ms after the open time "
                 "(%s)",
                 json_is_integer(close_time) ? "not after it" : type_name(close_time));
        return TK_EINVAL;
    }
    int len = snprintf(row->time_buf, sizeof(row->time_buf), "%" PRId64, (int64_t)open_ms);
    TK_ASSERT(len > 0 && (size_t)len < sizeof(row->time_buf));
    row->text[0] = row->time_buf;
    row->size[0] = (size_t)len;
    return TK_OK;
}

tk_err feed__json_row(const json_t *doc, size_t index, feed__row *row, char *detail,
                      size_t detail_size)
{
    TK_ASSERT(index < feed__json_count(doc));
    TK_ASSERT(row != NULL && detail != NULL);
    row->line = (uint64_t)index + 1u;
    const json_t *kline = json_array_get(doc, index);
    if (!json_is_array(kline)) {
        snprintf(detail, detail_size, "not a kline array but %s", type_name(kline));
        return TK_EINVAL;
    }
    if (json_array_size(kline) != KLINE_VALUES) {
        snprintf(detail, detail_size, "the kline has %zu values, expected %u",
                 json_array_size(kline), KLINE_VALUES);
        return TK_EINVAL;
    }
    tk_err err = kline_times(kline, row, detail, detail_size);
    if (err != TK_OK) return err;
    for (size_t i = 1; i < FEED__FIELDS; i++) {
        const json_t *value = json_array_get(kline, i);
        if (!json_is_string(value)) {
            snprintf(detail, detail_size, "field '%s' (value %zu): not a decimal string but %s",
                     feed__field_names[i], i + 1, type_name(value));
            return TK_EINVAL;
        }
        row->text[i] = json_string_value(value);
        row->size[i] = json_string_length(value);
    }
    return TK_OK;
}

void feed__json_free(json_t *doc)
{
    if (doc == NULL) return;
    TK_ASSERT(doc->refcount == 1); /* the reader holds the only reference */
    json_decref(doc);
}
