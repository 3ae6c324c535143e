/* The Binance spot venue (exec.h): keys, signed requests, and the answers parsed into what the
 * ledger needs. Binance Spot REST API v3: "SIGNED (TRADE, USER_DATA) Endpoint security" for
 * timestamp, recvWindow and signature; "New order", "Query order", "Cancel order", "Current
 * open orders" and "Account trade list" for the endpoints; "Error codes" for -2010, -2011,
 * -2013. jansson reads the answers; decimals go through led_parse, never a float. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_internal.h"

tk_err exec_binance_sign(const char *secret, size_t secret_size, const char *payload,
                         size_t payload_size, char out[EXEC_BINANCE_SIGNATURE_BYTES])
{
    TK_ASSERT(secret != NULL && out != NULL);
    TK_ASSERT(payload != NULL || payload_size == 0);
    TK_ASSERT(secret_size <= (size_t)INT32_MAX);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    if (HMAC(EVP_sha256(), secret, (int)secret_size, (const unsigned char *)payload, payload_size,
             mac, &mac_size) == NULL ||
        mac_size != 32u)
        return TK_EIO;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32u; i++) {
        out[2u * i] = hex[mac[i] >> 4];
        out[2u * i + 1u] = hex[mac[i] & 0x0fu];
    }
    out[64] = '\0';
    return TK_OK;
}

tk_err exec__fail(char *why, size_t why_size, tk_err err, const char *fmt, ...)
{
    if (why != NULL && why_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* ---- Keys ---------------------------------------------------------------------------------- */

static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n >= EXEC_BINANCE_KEY_BYTES) return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= 0x20 || k[i] > 0x7e) return false;
    return true;
}

/* One line of f into out (the newline dropped); false at the end or when too long. */
static bool key_line(FILE *f, char *out)
{
    char line[EXEC_BINANCE_KEY_BYTES + 2];
    if (fgets(line, sizeof(line), f) == NULL) return false;
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = strlen(line);
    if (n >= EXEC_BINANCE_KEY_BYTES) return false;
    memcpy(out, line, n + 1);
    return true;
}

tk_err exec_binance_keys_load(exec_binance_venue *v, const char *key_file, char *why,
                              size_t why_size)
{
    TK_ASSERT(v != NULL);
    if (key_file == NULL) {
        const char *key = getenv("TROIKA_BINANCE_API_KEY");
        const char *secret = getenv("TROIKA_BINANCE_API_SECRET");
        if (key == NULL || secret == NULL)
            return exec__fail(why, why_size, TK_ENOENT, "%s is not set",
                              key == NULL ? "TROIKA_BINANCE_API_KEY" : "TROIKA_BINANCE_API_SECRET");
        if (!key_ok(key) || !key_ok(secret))
            return exec__fail(
                why, why_size, TK_EINVAL, "%s: empty, too long or not printable ASCII",
                !key_ok(key) ? "TROIKA_BINANCE_API_KEY" : "TROIKA_BINANCE_API_SECRET");
        snprintf(v->api_key, sizeof(v->api_key), "%s", key);
        snprintf(v->secret, sizeof(v->secret), "%s", secret);
        return TK_OK;
    }
    struct stat st;
    if (stat(key_file, &st) != 0)
        return exec__fail(why, why_size, errno == ENOENT ? TK_ENOENT : TK_EPERM, "%s: %s", key_file,
                          strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0)
        return exec__fail(why, why_size, TK_EPERM,
                          "%s: must be a regular file of yours that only you can read (chmod 600), "
                          "found mode %03o",
                          key_file, (unsigned)(st.st_mode & 0777));
    FILE *f = fopen(key_file, "r");
    if (f == NULL) return exec__fail(why, why_size, TK_EPERM, "%s: %s", key_file, strerror(errno));
    char key[EXEC_BINANCE_KEY_BYTES], secret[EXEC_BINANCE_KEY_BYTES];
    bool ok = key_line(f, key) && key_line(f, secret) && key_ok(key) && key_ok(secret);
    fclose(f);
    if (!ok)
        return exec__fail(why, why_size, TK_EINVAL,
                          "%s: two lines, the API key then the secret, each 1 to %u printable "
                          "characters",
                          key_file, EXEC_BINANCE_KEY_BYTES - 1u);
    memcpy(v->api_key, key, sizeof(key));
    memcpy(v->secret, secret, sizeof(secret));
    return TK_OK;
}

/* ---- Requests ----------------------------------------------------------------------------- */

static bool symbol_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n >= LED_SYMBOL_BYTES) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) return false;
    return true;
}

/* Binance's client order id rule: ^[.A-Z:/a-z0-9_-]{1,36}$ */
static bool client_id_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 36) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == ':' || c == '/' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Finish a signed request: params (the total parameter string, without timestamp) gets
 * recvWindow, timestamp and signature, and goes in the query string; the key goes in a
 * header. */
static tk_err signed_request(const exec_binance_venue *v, net_method method, const char *path,
                             const char *params, int64_t local_ms, net_request *req, char *why,
                             size_t why_size)
{
    net_request_init(req);
    req->method = method;
    char total[1024];
    int n = snprintf(total, sizeof(total), "%s%srecvWindow=%u&timestamp=%lld", params,
                     params[0] != '\0' ? "&" : "", v->recv_window_ms,
                     (long long)(local_ms + v->time_offset_ms));
    if (n < 0 || (size_t)n >= sizeof(total))
        return exec__fail(why, why_size, TK_EINVAL, "%s", "parameters: too long");
    char sig[EXEC_BINANCE_SIGNATURE_BYTES];
    if (exec_binance_sign(v->secret, strlen(v->secret), total, (size_t)n, sig) != TK_OK)
        return exec__fail(why, why_size, TK_EIO, "%s", "the signature could not be computed");
    n = snprintf(req->url, sizeof(req->url), "%s%s?%s&signature=%s", v->base_url, path, total, sig);
    if (n < 0 || (size_t)n >= sizeof(req->url))
        return exec__fail(why, why_size, TK_EINVAL, "%s", "base url: too long");
    snprintf(req->headers[0], sizeof(req->headers[0]), "X-MBX-APIKEY: %s", v->api_key);
    req->idempotent = method != NET_POST;
    return TK_OK;
}

tk_err exec_binance_new_order(const exec_binance_venue *v, const exec_binance_order_args *a,
                              int64_t local_ms, net_request *req, char *why, size_t why_size)
{
    TK_ASSERT(v != NULL && a != NULL && req != NULL);
    if (!symbol_ok(a->symbol)) return exec__fail(why, why_size, TK_EINVAL, "%s", "symbol");
    if (!client_id_ok(a->client_order_id))
        return exec__fail(why, why_size, TK_EINVAL, "%s",
                          "client order id (1 to 36 of A-Z a-z 0-9 .:/_-)");
    if (a->kind != LED_ORDER_MARKET && a->kind != LED_ORDER_LIMIT)
        return exec__fail(why, why_size, TK_EINVAL, "%s", "kind: market or limit");
    if (a->qty_e8 <= 0 || (a->kind == LED_ORDER_LIMIT && a->price_e8 <= 0))
        return exec__fail(why, why_size, TK_EINVAL, "%s", "quantity and limit price: above 0");
    char qty[LED_DECIMAL_BYTES_MAX], price[LED_DECIMAL_BYTES_MAX];
    led_format(a->qty_e8, qty, sizeof(qty));
    led_format(a->price_e8, price, sizeof(price));
    char params[512];
    if (a->kind == LED_ORDER_MARKET)
        snprintf(params, sizeof(params),
                 "symbol=%s&side=%s&type=MARKET&quantity=%s&newClientOrderId=%s&"
                 "newOrderRespType=FULL",
                 a->symbol, a->side == LED_SIDE_BUY ? "BUY" : "SELL", qty, a->client_order_id);
    else
        snprintf(params, sizeof(params),
                 "symbol=%s&side=%s&type=LIMIT&timeInForce=GTC&quantity=%s&price=%s&"
                 "newClientOrderId=%s&newOrderRespType=FULL",
                 a->symbol, a->side == LED_SIDE_BUY ? "BUY" : "SELL", qty, price,
                 a->client_order_id);
    return signed_request(v, NET_POST, "/api/v3/order", params, local_ms, req, why, why_size);
}

static tk_err by_client_id(const exec_binance_venue *v, net_method method, const char *symbol,
                           const char *client_order_id, int64_t local_ms, net_request *req,
                           char *why, size_t why_size)
{
    if (!symbol_ok(symbol)) return exec__fail(why, why_size, TK_EINVAL, "%s", "symbol");
    if (!client_id_ok(client_order_id))
        return exec__fail(why, why_size, TK_EINVAL, "%s", "client order id");
    char params[128];
    snprintf(params, sizeof(params), "symbol=%s&origClientOrderId=%s", symbol, client_order_id);
    return signed_request(v, method, "/api/v3/order", params, local_ms, req, why, why_size);
}

tk_err exec_binance_query(const exec_binance_venue *v, const char *symbol,
                          const char *client_order_id, int64_t local_ms, net_request *req,
                          char *why, size_t why_size)
{
    TK_ASSERT(v != NULL && req != NULL);
    return by_client_id(v, NET_GET, symbol, client_order_id, local_ms, req, why, why_size);
}

tk_err exec_binance_cancel(const exec_binance_venue *v, const char *symbol,
                           const char *client_order_id, int64_t local_ms, net_request *req,
                           char *why, size_t why_size)
{
    TK_ASSERT(v != NULL && req != NULL);
    return by_client_id(v, NET_DELETE, symbol, client_order_id, local_ms, req, why, why_size);
}

tk_err exec_binance_open_orders(const exec_binance_venue *v, const char *symbol, int64_t local_ms,
                                net_request *req, char *why, size_t why_size)
{
    TK_ASSERT(v != NULL && req != NULL);
    if (symbol != NULL && !symbol_ok(symbol))
        return exec__fail(why, why_size, TK_EINVAL, "%s", "symbol");
    char params[64] = "";
    if (symbol != NULL) snprintf(params, sizeof(params), "symbol=%s", symbol);
    return signed_request(v, NET_GET, "/api/v3/openOrders", params, local_ms, req, why, why_size);
}

tk_err exec_binance_trades(const exec_binance_venue *v, const char *symbol,
                           const char *venue_order_id, int64_t local_ms, net_request *req,
                           char *why, size_t why_size)
{
    TK_ASSERT(v != NULL && req != NULL && venue_order_id != NULL);
    if (!symbol_ok(symbol)) return exec__fail(why, why_size, TK_EINVAL, "%s", "symbol");
    size_t n = strlen(venue_order_id);
    bool digits = n >= 1 && n <= 20;
    for (size_t i = 0; i < n && digits; i++)
        digits = venue_order_id[i] >= '0' && venue_order_id[i] <= '9';
    if (!digits) return exec__fail(why, why_size, TK_EINVAL, "%s", "venue order id: digits");
    char params[128];
    snprintf(params, sizeof(params), "symbol=%s&orderId=%s", symbol, venue_order_id);
    return signed_request(v, NET_GET, "/api/v3/myTrades", params, local_ms, req, why, why_size);
}

/* ---- Answers ------------------------------------------------------------------------------ */

/* The venue's verdict on resp before its body is read; TK_OK for a 200 whose body parsed into
 * *out_body (a new reference). */
static tk_err verdict(const net_response *resp, json_t **out_body, exec_binance_error *err)
{
    *out_body = NULL;
    memset(err, 0, sizeof(*err));
    err->status = resp->status;
    if (resp->err != TK_OK) {
        snprintf(err->msg, sizeof(err->msg), "%.*s", (int)sizeof(err->msg) - 1,
                 resp->error[0] != '\0' ? resp->error : tk_err_str(resp->err));
        return TK_EIO;
    }
    json_t *body = json_loadb(resp->body != NULL ? resp->body : "", resp->body_size, 0, NULL);
    if (resp->status == 200) {
        if (body == NULL) {
            snprintf(err->msg, sizeof(err->msg), "%s", "an answer that is not JSON");
            return TK_EIO;
        }
        *out_body = body;
        return TK_OK;
    }
    json_t *code = json_object_get(body, "code"), *msg = json_object_get(body, "msg");
    bool has_code = json_is_integer(code);
    err->code = has_code ? (int64_t)json_integer_value(code) : 0;
    snprintf(err->msg, sizeof(err->msg), "%s",
             json_is_string(msg) ? json_string_value(msg) : "no message");
    json_decref(body);
    if (resp->status == 429 || resp->status == 418) return TK_EAGAIN;
    if (resp->status >= 500 || !has_code) return TK_EIO;
    if (err->code == -2013 || err->code == -2011) return TK_ENOENT;
    if (err->code == -2010 && strstr(err->msg, "Duplicate") != NULL) return TK_EEXIST;
    return TK_EPERM;
}

static bool text_field(const json_t *obj, const char *key, char *out, size_t out_size)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        snprintf(out, out_size, "%lld", (long long)json_integer_value(v));
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= out_size)
        return false;
    snprintf(out, out_size, "%s", json_string_value(v));
    return true;
}

static bool decimal_field(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    led_parse_error pe;
    return json_is_string(v) &&
           led_parse(json_string_value(v), json_string_length(v), out, &pe) == TK_OK;
}

static bool status_of(const char *text, exec_binance_status *out)
{
    static const char *const names[] = {
        "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL", "REJECTED", "EXPIRED"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (exec_binance_status)i;
            return true;
        }
    }
    return false;
}

/* One fill, from a FULL answer's fills[] (tradeId, price, qty, commission) or myTrades. */
static bool fill_of(const json_t *f, exec_binance_fill *out)
{
    memset(out, 0, sizeof(*out));
    bool ok =
        (text_field(f, "tradeId", out->trade_id, sizeof(out->trade_id)) ||
         text_field(f, "id", out->trade_id, sizeof(out->trade_id))) &&
        decimal_field(f, "price", &out->price_e8) && decimal_field(f, "qty", &out->qty_e8) &&
        decimal_field(f, "commission", &out->commission_e8) &&
        text_field(f, "commissionAsset", out->commission_asset, sizeof(out->commission_asset));
    out->maker = json_is_true(json_object_get(f, "isMaker"));
    return ok && out->price_e8 > 0 && out->qty_e8 > 0 && out->commission_e8 >= 0;
}

/* An array of fills into out->fills (replacing them); false for anything else or too many. */
static bool fills_of(const json_t *array, exec_binance_order *out)
{
    out->fill_count = 0;
    if (!json_is_array(array) || json_array_size(array) > EXEC_BINANCE_FILLS_MAX) return false;
    size_t i;
    const json_t *f;
    json_array_foreach(array, i, f)
    {
        if (!fill_of(f, &out->fills[out->fill_count])) return false;
        out->fill_count++;
    }
    return true;
}

/* One order object of Binance's (an answer to new order, query or cancel, or an item of
 * openOrders) into *out; false when a field troika needs is missing. */
static bool order_of(const json_t *body, exec_binance_order *out)
{
    memset(out, 0, sizeof(*out));
    char status[32], side[8], type[16];
    bool ok =
        json_is_object(body) && text_field(body, "symbol", out->symbol, sizeof(out->symbol)) &&
        text_field(body, "clientOrderId", out->client_order_id, sizeof(out->client_order_id)) &&
        text_field(body, "orderId", out->venue_order_id, sizeof(out->venue_order_id)) &&
        text_field(body, "status", status, sizeof(status)) && status_of(status, &out->status) &&
        text_field(body, "side", side, sizeof(side)) &&
        text_field(body, "type", type, sizeof(type)) &&
        decimal_field(body, "origQty", &out->qty_e8) &&
        decimal_field(body, "price", &out->price_e8) &&
        decimal_field(body, "executedQty", &out->executed_qty_e8);
    if (!ok) return false;
    out->side = strcmp(side, "SELL") == 0 ? LED_SIDE_SELL : LED_SIDE_BUY;
    out->kind = strcmp(type, "MARKET") == 0 ? LED_ORDER_MARKET : LED_ORDER_LIMIT;
    const json_t *fills = json_object_get(body, "fills");
    return fills == NULL || fills_of(fills, out);
}

tk_err exec_binance_parse_order(const net_response *resp, exec_binance_order *out,
                                exec_binance_error *err)
{
    TK_ASSERT(resp != NULL && out != NULL && err != NULL);
    json_t *body = NULL;
    tk_err v = verdict(resp, &body, err);
    if (v != TK_OK) return v;
    bool ok = order_of(body, out);
    json_decref(body);
    if (!ok) {
        snprintf(err->msg, sizeof(err->msg), "%s", "an order answer missing a field");
        return TK_EINVAL;
    }
    return TK_OK;
}

tk_err exec_binance_parse_open_orders(const net_response *resp, exec_binance_order *out, size_t max,
                                      size_t *out_count, exec_binance_error *err)
{
    TK_ASSERT(resp != NULL && (out != NULL || max == 0) && out_count != NULL && err != NULL);
    *out_count = 0;
    json_t *body = NULL;
    tk_err v = verdict(resp, &body, err);
    if (v != TK_OK) return v;
    size_t i;
    json_t *item;
    bool ok = json_is_array(body);
    json_array_foreach(body, i, item)
    {
        if (!ok || *out_count == max) break;
        exec_binance_order o;
        if (order_of(item, &o)) out[(*out_count)++] = o; /* one not understood is left out */
    }
    bool full = ok && json_array_size(body) > max;
    json_decref(body);
    if (!ok) {
        snprintf(err->msg, sizeof(err->msg), "%s", "an open orders answer that is not a list");
        return TK_EINVAL;
    }
    if (full) {
        snprintf(err->msg, sizeof(err->msg), "more than %zu open orders", max);
        return TK_EFULL;
    }
    return TK_OK;
}

tk_err exec_binance_parse_trades(const net_response *resp, exec_binance_order *out,
                                 exec_binance_error *err)
{
    TK_ASSERT(resp != NULL && out != NULL && err != NULL);
    json_t *body = NULL;
    tk_err v = verdict(resp, &body, err);
    if (v != TK_OK) return v;
    bool ok = fills_of(body, out);
    json_decref(body);
    if (!ok) {
        snprintf(err->msg, sizeof(err->msg), "%s", "a trade list missing a field");
        return TK_EINVAL;
    }
    return TK_OK;
}

tk_err exec_binance_time_offset(const net_response *resp, int64_t sent_ms, int64_t received_ms,
                                int64_t *out_offset_ms)
{
    TK_ASSERT(resp != NULL && out_offset_ms != NULL);
    exec_binance_error err;
    json_t *body = NULL;
    if (verdict(resp, &body, &err) != TK_OK) return TK_EIO;
    const json_t *t = json_object_get(body, "serverTime");
    bool ok = json_is_integer(t);
    if (ok) *out_offset_ms = (int64_t)json_integer_value(t) - (sent_ms + received_ms) / 2;
    json_decref(body);
    return ok ? TK_OK : TK_EIO;
}
