/* net/net_http.c against a real HTTP server: the Binance mock (tools/binance_mock.py), started
 * by the test on a free port and told to fail in the ways the service must handle. Each test
 * sends requests through the service and reads the responses as messages on a port, as an
 * actor would: an answer and its headers, a kept connection reused (and never for a request
 * that is not idempotent), retries of idempotent
 * requests only with their attempt count, a timeout, a 429 with its Retry-After left to the
 * caller, a response lost after the request was accepted, a refused connection, TLS towards a
 * plain-HTTP server, and the service closing with a request in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "act.h"
#include "net.h"
#include "tk_test.h"

#define WAIT_MS 15000u /* a response arrives within this, or the test fails */

static struct {
    act_system *sys;
    act_port *port;
    net_http *http;
    tk_test_mock mock;
} g;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static int group_setup(void **unused)
{
    (void)unused;
    act_system_opts opts = {
        .threads = 1, .actors_max = 64, .msgs_max = 4096, .clock = tk_clock_system()};
    if (act_system_open(&opts, &g.sys) != TK_OK) return -1;
    if (act_port_open(g.sys, 256, &g.port) != TK_OK) return -1;
    if (net_http_open(g.sys, NULL, &g.http) != TK_OK) return -1;
    return tk_test_mock_start(TK_SOURCE_DIR, &g.mock) ? 0 : -1;
}

static int group_teardown(void **unused)
{
    (void)unused;
    tk_test_mock_stop(&g.mock);
    net_http_close(g.http);
    act_port_close(g.port);
    act_system_close(g.sys);
    return 0;
}

static net_request *request(net_method method, const char *path)
{
    net_request *req = malloc(sizeof(*req));
    assert_non_null(req);
    net_request_init(req);
    req->method = method;
    snprintf(req->url, sizeof(req->url), "%s%s", strncmp(path, "http", 4) == 0 ? "" : g.mock.url,
             path);
    return req;
}

/* Send req and wait for its response, taken from the message. */
static net_response *exchange(net_request *req)
{
    static uint64_t tags;
    uint64_t tag = req->tag = ++tags;
    assert_int_equal(net_http_send(g.http, act_port_ref(g.port), req), TK_OK);
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(g.port, WAIT_MS, &msg), TK_OK);
    assert_int_equal(msg->type, NET_MSG_RESPONSE);
    assert_int_equal(msg->correlation, tag);
    net_response *resp = msg->ptr;
    msg->ptr = NULL;
    act_msg_free(g.sys, msg);
    assert_int_equal(resp->tag, tag);
    return resp;
}

/* Tell the mock to fail the next count requests to path in one way. */
static void fault(const char *kind, unsigned count, const char *path, const char *extra)
{
    net_request *req = request(NET_POST, "/mock/fault");
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"kind\": \"%s\", \"count\": %u, \"path\": \"%s\"%s}",
                     kind, count, path, extra != NULL ? extra : "");
    req->body = strdup(body);
    req->body_size = (size_t)n;
    req->content_type = "application/json";
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_OK);
    assert_int_equal(resp->status, 200);
    net_response_free(resp);
}

static void reset(void)
{
    net_response *resp = exchange(request(NET_POST, "/mock/reset"));
    assert_int_equal(resp->status, 200);
    net_response_free(resp);
}

static void test_answer_headers_and_reuse(void **unused)
{
    (void)unused;
    reset();
    net_request *req = request(NET_GET, "/api/v3/time");
    req->idempotent = true;
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_OK);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 1);
    assert_non_null(strstr(resp->body, "\"serverTime\""));
    assert_int_equal(resp->body[resp->body_size], '\0');
    char value[64];
    assert_true(net_response_header(resp, "content-type", value, sizeof(value)));
    assert_non_null(strstr(value, "application/json"));
    assert_false(net_response_header(resp, "X-Not-There", value, sizeof(value)));
    assert_int_equal(net_response_retry_after_s(resp), -1);
    net_response_free(resp);
    req = request(NET_GET, "/api/v3/ping");
    req->idempotent = true;
    resp = exchange(req);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->new_connections, 0); /* the first one's connection, kept */
    net_response_free(resp);
    resp = exchange(request(NET_GET, "/api/v3/ping")); /* not idempotent: a connection of its own */
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->new_connections, 1);
    net_response_free(resp);
}

static void test_retries_only_when_idempotent(void **unused)
{
    (void)unused;
    reset();
    fault("5xx", 2, "/api/v3/time", NULL);
    net_request *req = request(NET_GET, "/api/v3/time");
    req->idempotent = true;
    req->backoff_ms = 20;
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_OK);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 3); /* two 503s, then the answer */
    net_response_free(resp);

    fault("5xx", 1, "/api/v3/time", NULL);
    resp = exchange(request(NET_GET, "/api/v3/time")); /* not idempotent: the 503 is the answer */
    assert_int_equal(resp->err, TK_OK);
    assert_int_equal(resp->status, 503);
    assert_int_equal(resp->attempts, 1);
    assert_non_null(strstr(resp->body, "-1001"));
    net_response_free(resp);

    fault("5xx", 5, "/api/v3/time", NULL); /* more failures than retries */
    req = request(NET_GET, "/api/v3/time");
    req->idempotent = true;
    req->retries_max = 2;
    req->backoff_ms = 10;
    resp = exchange(req);
    assert_int_equal(resp->status, 503);
    assert_int_equal(resp->attempts, 3);
    net_response_free(resp);
}

static void test_429_is_left_to_the_caller(void **unused)
{
    (void)unused;
    reset();
    fault("429", 1, "/api/v3/klines", ", \"retry_after\": 7");
    net_request *req = request(NET_GET, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2");
    req->idempotent = true;
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_OK);
    assert_int_equal(resp->status, 429);
    assert_int_equal(resp->attempts, 1);
    assert_int_equal(net_response_retry_after_s(resp), 7);
    net_response_free(resp);
}

static void test_timeout(void **unused)
{
    (void)unused;
    reset();
    fault("timeout", 1, "/api/v3/time", ", \"hold_s\": 2");
    net_request *req = request(NET_GET, "/api/v3/time");
    req->timeout_ms = 300;
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_ETIMEDOUT);
    assert_int_equal(resp->status, 0);
    assert_true(resp->error[0] != '\0');
    net_response_free(resp);
}

/* The order was accepted, the response never came: the caller learns the outcome is unknown
 * (TK_EIO), and a POST is not sent again. */
static void test_response_lost_after_accept(void **unused)
{
    (void)unused;
    reset();
    fault("drop_after_accept", 1, "/api/v3/ping", NULL);
    net_request *req = request(NET_GET, "/api/v3/ping");
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_EIO);
    assert_int_equal(resp->status, 0);
    assert_int_equal(resp->attempts, 1);
    net_response_free(resp);
}

static void test_refused_and_tls(void **unused)
{
    (void)unused;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", 1u); /* nothing listens on port 1 */
    net_request *req = request(NET_GET, url);
    req->idempotent = true;
    req->retries_max = 1;
    req->backoff_ms = 5;
    net_response *resp = exchange(req);
    assert_int_equal(resp->err, TK_EIO);
    assert_int_equal(resp->attempts, 2);
    assert_true(resp->error[0] != '\0');
    net_response_free(resp);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/api/v3/ping", g.mock.port);
    resp = exchange(request(NET_GET, url)); /* TLS to a plain-HTTP server: no session */
    assert_int_equal(resp->err, TK_EIO);
    net_response_free(resp);
    net_request *empty = request(NET_GET, "/");
    empty->url[0] = '\0';
    assert_int_equal(net_http_send(g.http, act_port_ref(g.port), empty), TK_EINVAL);
}

/* Closing the service answers what is in flight with TK_ECANCELED. */
static void test_close_cancels(void **unused)
{
    (void)unused;
    reset();
    net_http *second = NULL;
    assert_int_equal(net_http_open(g.sys, NULL, &second), TK_OK);
    fault("timeout", 1, "/api/v3/time", ", \"hold_s\": 3");
    net_request *req = request(NET_GET, "/api/v3/time");
    req->tag = 99;
    assert_int_equal(net_http_send(second, act_port_ref(g.port), req), TK_OK);
    sleep_ms(200); /* in flight */
    net_http_close(second);
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(g.port, WAIT_MS, &msg), TK_OK);
    assert_int_equal(msg->correlation, 99);
    net_response *resp = msg->ptr;
    assert_int_equal(resp->err, TK_ECANCELED);
    act_msg_free(g.sys, msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_headers_and_reuse),
        cmocka_unit_test(test_retries_only_when_idempotent),
        cmocka_unit_test(test_429_is_left_to_the_caller),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_response_lost_after_accept),
        cmocka_unit_test(test_refused_and_tls),
        cmocka_unit_test(test_close_cancels),
    };
    return cmocka_run_group_tests_name("net/http", tests, group_setup, group_teardown);
}
