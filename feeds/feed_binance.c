/* Binance spot REST klines (feed.h): the request and the parse of its answer. The rows are
 * checked by the same reader as kline files (feed_file_open_stream over the body). */
#define _POSIX_C_SOURCE 200809L /* fmemopen */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

int64_t feed_binance_interval_ms(const char *interval)
{
    static const struct {
        const char *name;
        int64_t ms;
    } intervals[] = {{"1m", 60000},     {"3m", 180000},   {"5m", 300000},    {"15m", 900000},
                     {"30m", 1800000},  {"1h", 3600000},  {"2h", 7200000},   {"4h", 14400000},
                     {"6h", 21600000},  {"8h", 28800000}, {"12h", 43200000}, {"1d", 86400000},
                     {"3d", 259200000}, {"1w", 604800000}};
    if (interval == NULL) return 0;
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
        if (strcmp(interval, intervals[i].name) == 0) return intervals[i].ms;
    return 0;
}

static tk_err fail(feed_error *why, tk_err err, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

static tk_err fail(feed_error *why, tk_err err, const char *fmt, ...)
{
    if (why != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why->text, sizeof(why->text), fmt, ap);
        va_end(ap);
    }
    return err;
}

tk_err feed_binance_klines_request(net_request *req, const char *base_url, const char *symbol,
                                   const char *interval, int64_t start_ms, int64_t end_ms,
                                   uint32_t limit, feed_error *why)
{
    TK_ASSERT(req != NULL && base_url != NULL && symbol != NULL);
    size_t len = strlen(symbol);
    bool symbol_ok = len >= 1 && len <= 20;
    for (size_t i = 0; i < len && symbol_ok; i++)
        symbol_ok =
            (symbol[i] >= 'A' && symbol[i] <= 'Z') || (symbol[i] >= '0' && symbol[i] <= '9');
    if (!symbol_ok)
        return fail(why, TK_EINVAL, "symbol '%s': 1 to 20 of A-Z and 0-9 (BTCUSDT)", symbol);
    if (feed_binance_interval_ms(interval) == 0)
        return fail(why, TK_EINVAL,
                    "interval '%s': one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w",
                    interval != NULL ? interval : "");
    if (start_ms < 0 || end_ms < start_ms)
        return fail(why, TK_EINVAL, "%s", "times: 0 <= from <= to");
    if (limit < 1 || limit > FEED_BINANCE_KLINES_MAX)
        return fail(why, TK_EINVAL, "%s", "limit: 1 to 1000");
    net_request_init(req);
    int n = snprintf(req->url, sizeof(req->url),
                     "%s/api/v3/klines?symbol=%s&interval=%s&startTime=%lld&endTime=%lld&limit=%u",
                     base_url, symbol, interval, (long long)start_ms, (long long)end_ms, limit);
    if (n < 0 || (size_t)n >= sizeof(req->url))
        return fail(why, TK_EINVAL, "%s", "base url: too long");
    req->idempotent = true;
    return TK_OK;
}

/* "HTTP 400: code -1121: Invalid symbol." from a Binance error body, or the body's start. */
static void status_text(const net_response *resp, feed_error *why)
{
    if (why == NULL) return;
    json_t *body = resp->body != NULL ? json_loadb(resp->body, resp->body_size, 0, NULL) : NULL;
    json_t *code = json_object_get(body, "code"), *msg = json_object_get(body, "msg");
    if (json_is_integer(code) && json_is_string(msg))
        snprintf(why->text, sizeof(why->text), "HTTP %ld: code %lld: %s", resp->status,
                 (long long)json_integer_value(code), json_string_value(msg));
    else
        snprintf(why->text, sizeof(why->text), "HTTP %ld: %.80s", resp->status,
                 resp->body != NULL ? resp->body : "");
    json_decref(body);
}

tk_err feed_binance_klines_parse(const net_response *resp, feed_bar *out, size_t max,
                                 size_t *out_count, feed_error *why)
{
    TK_ASSERT(resp != NULL && out_count != NULL);
    *out_count = 0;
    if (resp->err != TK_OK)
        return fail(why, TK_EIO, "%s",
                    resp->error[0] != '\0' ? resp->error : tk_err_str(resp->err));
    if (resp->status == 429 || resp->status == 418) {
        status_text(resp, why);
        return TK_EAGAIN;
    }
    if (resp->status != 200) {
        status_text(resp, why);
        return TK_EIO;
    }
    FILE *stream = fmemopen(resp->body, resp->body_size, "r");
    if (stream == NULL) return fail(why, TK_ENOMEM, "%s", "cannot read the body");
    feed_file *file = NULL;
    tk_err err = feed_file_open_stream(stream, "binance klines", tk_mem_system(), &file, why);
    if (err == TK_OK && strcmp(feed_file_format(file), "binance-klines-json") != 0)
        err = fail(why, TK_EINVAL, "%s", "binance klines: not a kline array");
    while (err == TK_OK) {
        feed_bar bar;
        err = feed_file_next(file, &bar, why);
        if (err != TK_OK) break;
        if (*out_count == max) {
            err = fail(why, TK_EFULL, "%s", "binance klines: more rows than asked for");
            break;
        }
        out[(*out_count)++] = bar;
    }
    feed_file_close(file);
    fclose(stream);
    return err == TK_ENOENT ? TK_OK : err;
}
