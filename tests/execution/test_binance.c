/* execution/exec_binance.c: Binance's request signature against the known answer of Binance's
 * own documentation (Spot API, "SIGNED Endpoint Examples for POST /api/v3/order", HMAC
 * keys), and its properties: any change of the payload or the secret changes it; the keys
 * from the environment or a file only its owner can read; and the requests and answers
 * against the Binance mock (tools/binance_mock.py), through the HTTP client service: a market
 * order filled with its fills, the same client order id refused as a duplicate, a query by
 * client order id, an unknown one, a resting limit order cancelled, open orders, the fills of
 * an order, a wrong key and a stale timestamp refused with Binance's codes, the server time
 * offset, and an order whose answer was lost, found by its client order id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "act.h"
#include "net.h"

#include "exec.h"
#include "exec_tests.h"
#include "tk_test.h"

/* The documented example's secret key, total parameters and signature. */
static const char doc_secret[] = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
static const char doc_params[] = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&"
                                 "price=0.1&recvWindow=5000&timestamp=1499827319559";
static const char doc_signature[] =
    "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

static void test_sign_known_answer(void **unused)
{
    (void)unused;
    char sig[EXEC_BINANCE_SIGNATURE_BYTES];
    assert_int_equal(
        exec_binance_sign(doc_secret, strlen(doc_secret), doc_params, strlen(doc_params), sig),
        TK_OK);
    assert_string_equal(sig, doc_signature);
    /* the query string and the body are one payload: split anywhere, concatenated, the same */
    char joined[sizeof(doc_params)];
    memcpy(joined, doc_params, sizeof(doc_params));
    assert_int_equal(exec_binance_sign(doc_secret, strlen(doc_secret), joined, strlen(joined), sig),
                     TK_OK);
    assert_string_equal(sig, doc_signature);
}

static void test_sign_depends_on_every_byte(void **unused)
{
    (void)unused;
    char sig[EXEC_BINANCE_SIGNATURE_BYTES];
    char params[sizeof(doc_params)];
    memcpy(params, doc_params, sizeof(doc_params));
    for (size_t i = 0; i < strlen(params); i += 7) {
        params[i] ^= 1;
        assert_int_equal(
            exec_binance_sign(doc_secret, strlen(doc_secret), params, strlen(params), sig), TK_OK);
        assert_string_not_equal(sig, doc_signature);
        params[i] ^= 1;
    }
    assert_int_equal(
        exec_binance_sign(doc_secret, strlen(doc_secret) - 1, doc_params, strlen(doc_params), sig),
        TK_OK);
    assert_string_not_equal(sig, doc_signature);
    assert_int_equal(exec_binance_sign(doc_secret, strlen(doc_secret), "", 0, sig), TK_OK);
    assert_int_equal(strlen(sig), 64);
}

static void test_keys(void **unused)
{
    (void)unused;
    exec_binance_venue v = {0};
    char why[256];
    unsetenv("TROIKA_BINANCE_API_KEY");
    setenv("TROIKA_BINANCE_API_SECRET", "s3cret", 1);
    assert_int_equal(exec_binance_keys_load(&v, NULL, why, sizeof(why)), TK_ENOENT);
    assert_non_null(strstr(why, "TROIKA_BINANCE_API_KEY"));
    setenv("TROIKA_BINANCE_API_KEY", "k3y", 1);
    assert_int_equal(exec_binance_keys_load(&v, NULL, why, sizeof(why)), TK_OK);
    assert_string_equal(v.api_key, "k3y");
    assert_string_equal(v.secret, "s3cret");
    unsetenv("TROIKA_BINANCE_API_KEY");
    unsetenv("TROIKA_BINANCE_API_SECRET");

    char path[] = "/tmp/troika-keys-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "file-key\nfile-secret\n", 21), 21);
    close(fd);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(exec_binance_keys_load(&v, path, why, sizeof(why)), TK_EPERM);
    assert_non_null(strstr(why, "chmod 600"));
    assert_null(strstr(why, "file-secret")); /* a key never appears in a message */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(exec_binance_keys_load(&v, path, why, sizeof(why)), TK_OK);
    assert_string_equal(v.api_key, "file-key");
    assert_string_equal(v.secret, "file-secret");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("only-one-line\n", f);
    fclose(f);
    assert_int_equal(exec_binance_keys_load(&v, path, why, sizeof(why)), TK_EINVAL);
    unlink(path);
    assert_int_equal(exec_binance_keys_load(&v, path, why, sizeof(why)), TK_ENOENT);
}

/* ---- Against the mock ----------------------------------------------------------------------- */

static struct {
    act_system *sys;
    act_port *port;
    net_http *http;
    tk_test_mock mock;
    exec_binance_venue venue;
} g;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int venue_setup(void **unused)
{
    (void)unused;
    act_system_opts opts = {
        .threads = 1, .actors_max = 64, .msgs_max = 4096, .clock = tk_clock_system()};
    if (act_system_open(&opts, &g.sys) != TK_OK || act_port_open(g.sys, 64, &g.port) != TK_OK ||
        net_http_open(g.sys, NULL, &g.http) != TK_OK || !tk_test_mock_start(TK_SOURCE_DIR, &g.mock))
        return -1;
    g.venue = (exec_binance_venue){.recv_window_ms = 5000};
    snprintf(g.venue.base_url, sizeof(g.venue.base_url), "%s", g.mock.url);
    snprintf(g.venue.api_key, sizeof(g.venue.api_key), "mock-api-key");
    snprintf(g.venue.secret, sizeof(g.venue.secret), "mock-api-secret");
    return 0;
}

static int venue_teardown(void **unused)
{
    (void)unused;
    tk_test_mock_stop(&g.mock);
    net_http_close(g.http);
    act_port_close(g.port);
    act_system_close(g.sys);
    return 0;
}

/* Send req (built by the caller into a malloc'd request) and take the response. */
static net_response *exchange(net_request *req)
{
    assert_int_equal(net_http_send(g.http, act_port_ref(g.port), req), TK_OK);
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(g.port, 15000, &msg), TK_OK);
    net_response *resp = msg->ptr;
    msg->ptr = NULL;
    act_msg_free(g.sys, msg);
    return resp;
}

static net_request *blank(void)
{
    net_request *req = malloc(sizeof(*req));
    assert_non_null(req);
    net_request_init(req);
    return req;
}

static void mock_control(const char *path, const char *body)
{
    net_request *req = blank();
    snprintf(req->url, sizeof(req->url), "%s%s", g.mock.url, path);
    req->method = NET_POST;
    req->body = strdup(body);
    req->body_size = strlen(body);
    req->content_type = "application/json";
    net_response *resp = exchange(req);
    assert_int_equal(resp->status, 200);
    net_response_free(resp);
}

static tk_err place(const exec_binance_order_args *a, exec_binance_order *out,
                    exec_binance_error *err)
{
    net_request *req = blank();
    char why[128];
    assert_int_equal(exec_binance_new_order(&g.venue, a, now_ms(), req, why, sizeof(why)), TK_OK);
    assert_false(req->idempotent); /* a new order is never sent twice by the service */
    net_response *resp = exchange(req);
    tk_err e = exec_binance_parse_order(resp, out, err);
    net_response_free(resp);
    return e;
}

static tk_err query(const char *client_id, exec_binance_order *out, exec_binance_error *err)
{
    net_request *req = blank();
    char why[128];
    assert_int_equal(
        exec_binance_query(&g.venue, "BTCUSDT", client_id, now_ms(), req, why, sizeof(why)), TK_OK);
    net_response *resp = exchange(req);
    tk_err e = exec_binance_parse_order(resp, out, err);
    net_response_free(resp);
    return e;
}

static void test_market_order_duplicate_and_query(void **unused)
{
    (void)unused;
    mock_control("/mock/reset", "{}");
    mock_control("/mock/mark", "{\"symbol\": \"BTCUSDT\", \"price\": \"60000\"}");
    exec_binance_order_args a = {.symbol = "BTCUSDT",
                                 .client_order_id = "tk-test-42",
                                 .side = LED_SIDE_BUY,
                                 .kind = LED_ORDER_MARKET,
                                 .qty_e8 = 10000000}; /* 0.1 */
    exec_binance_order o;
    exec_binance_error err;
    assert_int_equal(place(&a, &o, &err), TK_OK);
    assert_int_equal(o.status, EXEC_BINANCE_FILLED);
    assert_string_equal(o.client_order_id, "tk-test-42");
    assert_int_equal(o.executed_qty_e8, 10000000);
    assert_int_equal(o.fill_count, 1);
    assert_int_equal(o.fills[0].qty_e8, 10000000);
    assert_int_equal(o.fills[0].price_e8, 6000001000000); /* the ask: mark + 0.01 */
    assert_true(o.fills[0].commission_e8 > 0);
    assert_string_equal(o.fills[0].commission_asset, "USDT");
    char venue_id[LED_ID_BYTES];
    snprintf(venue_id, sizeof(venue_id), "%s", o.venue_order_id);

    /* the same client order id again: refused as a duplicate, no second order */
    assert_int_equal(place(&a, &o, &err), TK_EEXIST);
    assert_int_equal(err.code, -2010);
    /* which is why a resend is preceded by a query, by client order id */
    assert_int_equal(query("tk-test-42", &o, &err), TK_OK);
    assert_int_equal(o.status, EXEC_BINANCE_FILLED);
    assert_string_equal(o.venue_order_id, venue_id);
    assert_int_equal(o.fill_count, 0); /* a query carries no fills: myTrades does */
    net_request *req = blank();
    char why[128];
    assert_int_equal(
        exec_binance_trades(&g.venue, "BTCUSDT", venue_id, now_ms(), req, why, sizeof(why)), TK_OK);
    net_response *resp = exchange(req);
    assert_int_equal(exec_binance_parse_trades(resp, &o, &err), TK_OK);
    net_response_free(resp);
    assert_int_equal(o.fill_count, 1);
    assert_int_equal(o.fills[0].qty_e8, 10000000);
    assert_int_equal(query("tk-never-sent", &o, &err), TK_ENOENT);
    assert_int_equal(err.code, -2013);
}

static void test_limit_rests_and_cancels(void **unused)
{
    (void)unused;
    mock_control("/mock/reset", "{}");
    mock_control("/mock/mark", "{\"symbol\": \"BTCUSDT\", \"price\": \"60000\"}");
    exec_binance_order_args a = {.symbol = "BTCUSDT",
                                 .client_order_id = "tk-test-43",
                                 .side = LED_SIDE_BUY,
                                 .kind = LED_ORDER_LIMIT,
                                 .qty_e8 = 10000000,
                                 .price_e8 = 5000000000000}; /* 50,000: below the book */
    exec_binance_order o;
    exec_binance_error err;
    assert_int_equal(place(&a, &o, &err), TK_OK);
    assert_int_equal(o.status, EXEC_BINANCE_NEW);
    assert_int_equal(o.price_e8, 5000000000000);
    net_request *req = blank();
    char why[128];
    assert_int_equal(exec_binance_open_orders(&g.venue, "BTCUSDT", now_ms(), req, why, sizeof(why)),
                     TK_OK);
    net_response *resp = exchange(req);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->body, "tk-test-43"));
    net_response_free(resp);
    req = blank();
    assert_int_equal(
        exec_binance_cancel(&g.venue, "BTCUSDT", "tk-test-43", now_ms(), req, why, sizeof(why)),
        TK_OK);
    resp = exchange(req);
    assert_int_equal(exec_binance_parse_order(resp, &o, &err), TK_OK);
    net_response_free(resp);
    assert_int_equal(o.status, EXEC_BINANCE_CANCELED);
    req = blank();
    assert_int_equal(
        exec_binance_cancel(&g.venue, "BTCUSDT", "tk-test-43", now_ms(), req, why, sizeof(why)),
        TK_OK);
    resp = exchange(req);
    assert_int_equal(exec_binance_parse_order(resp, &o, &err), TK_ENOENT); /* -2011 */
    net_response_free(resp);
}

static void test_refusals_and_time(void **unused)
{
    (void)unused;
    mock_control("/mock/reset", "{}");
    exec_binance_order_args a = {.symbol = "BTCUSDT",
                                 .client_order_id = "tk-test-44",
                                 .side = LED_SIDE_SELL,
                                 .kind = LED_ORDER_MARKET,
                                 .qty_e8 = 10000000};
    exec_binance_order o;
    exec_binance_error err;
    exec_binance_venue good = g.venue;
    snprintf(g.venue.secret, sizeof(g.venue.secret), "wrong-secret");
    assert_int_equal(place(&a, &o, &err), TK_EPERM);
    assert_int_equal(err.code, -1022);
    g.venue = good;
    g.venue.time_offset_ms = -3600000; /* an hour behind */
    assert_int_equal(place(&a, &o, &err), TK_EPERM);
    assert_int_equal(err.code, -1021);
    g.venue = good;
    /* the offset, measured */
    net_request *req = blank();
    snprintf(req->url, sizeof(req->url), "%s/api/v3/time", g.mock.url);
    int64_t sent = now_ms();
    net_response *resp = exchange(req);
    int64_t offset = 99999;
    assert_int_equal(exec_binance_time_offset(resp, sent, now_ms(), &offset), TK_OK);
    net_response_free(resp);
    assert_true(offset > -1000 && offset < 1000); /* the same machine's clock */
    /* arguments Binance would refuse are refused before anything is sent */
    char why[128];
    req = blank();
    a.client_order_id = "has space";
    assert_int_equal(exec_binance_new_order(&g.venue, &a, now_ms(), req, why, sizeof(why)),
                     TK_EINVAL);
    a.client_order_id = "tk-test-45";
    a.kind = LED_ORDER_STOP;
    assert_int_equal(exec_binance_new_order(&g.venue, &a, now_ms(), req, why, sizeof(why)),
                     TK_EINVAL);
    net_request_free(req);
}

/* The order reached the venue and its answer was lost: the caller cannot tell, the service
 * does not resend it, and a query by client order id finds it; a resend is refused. */
static void test_lost_answer_found_by_query(void **unused)
{
    (void)unused;
    mock_control("/mock/reset", "{}");
    mock_control("/mock/fault", "{\"kind\": \"drop_after_accept\", \"path\": \"/api/v3/order\"}");
    exec_binance_order_args a = {.symbol = "BTCUSDT",
                                 .client_order_id = "tk-test-46",
                                 .side = LED_SIDE_BUY,
                                 .kind = LED_ORDER_MARKET,
                                 .qty_e8 = 10000000};
    exec_binance_order o;
    exec_binance_error err;
    assert_int_equal(place(&a, &o, &err), TK_EIO); /* unknown outcome */
    assert_int_equal(query("tk-test-46", &o, &err), TK_OK);
    assert_int_equal(o.status, EXEC_BINANCE_FILLED);
    assert_int_equal(place(&a, &o, &err), TK_EEXIST);
    net_request *req = blank();
    snprintf(req->url, sizeof(req->url), "%s/mock/orders", g.mock.url);
    net_response *resp = exchange(req);
    const char *first = strstr(resp->body, "tk-test-46");
    assert_non_null(first);
    assert_null(strstr(first + 1, "tk-test-46")); /* exactly one order */
    net_response_free(resp);
}

int exec_test_binance(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_answer),
        cmocka_unit_test(test_sign_depends_on_every_byte),
        cmocka_unit_test(test_keys),
    };
    const struct CMUnitTest venue[] = {
        cmocka_unit_test(test_market_order_duplicate_and_query),
        cmocka_unit_test(test_limit_rests_and_cancels),
        cmocka_unit_test(test_refusals_and_time),
        cmocka_unit_test(test_lost_answer_found_by_query),
    };
    return cmocka_run_group_tests_name("execution/binance", tests, NULL, NULL) +
           cmocka_run_group_tests_name("execution/binance_venue", venue, venue_setup,
                                       venue_teardown);
}
