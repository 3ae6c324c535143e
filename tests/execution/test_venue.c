/* execution/exec_venue.c, the Binance venue actor, in a real graph: an actor system, the HTTP
 * client service, the local journal in memory with its journal actor (the real ledger applies
 * every event), the Binance mock (tools/binance_mock.py, reset before each case), a spy actor in
 * the strategies group that copies every commit to the test's port, and the venue actor itself.
 * The test proposes events as a strategy would, each with LED_PROPOSE_NOTIFY_IDLE; what the
 * venue proposes comes later (after the mock answered), so each case waits for it, bounded.
 * Cases: a market order sent once and settled (acked, filled at the mock's price with its fee,
 * closed in the ledger); an answer lost after the mock took the order, found by a query, never
 * sent twice; a 503 the venue did not act on, queried and then sent again; reconciliation at
 * start (an order at the venue the ledger has not heard back about, one that never reached the
 * venue, one at the venue the ledger lacks) with nothing new sent; a resting limit order
 * cancelled at the venue, also when the venue first turns the cancel away (429); and a venue
 * refusal with Binance's code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "clu.h"
#include "net.h"

#include "exec.h"
#include "exec_tests.h"
#include "tk_test.h"
#include "tk_test_spy.h"

#define WAIT_MS   8000u /* anything awaited arrives within this, or the test fails */
#define SETTLE_MS 400u  /* after the awaited: a few polls, in which nothing more may happen */
#define SEEN_MAX  512u
#define OPEN_MAX  16u
#define E8        ((int64_t)LED_SCALE)
#define MARK      "60000"
#define ASK_E8    (60000 * E8 + E8 / 100) /* the mock's ask: the mark + 0.01 */

static tk_test_mock mock; /* one mock for the group, reset before each case */

/* ---- The graph --------------------------------------------------------------------------------
 */

typedef struct fx {
    act_system *sys;
    clu_journal *journal;
    net_http *http;
    act_port *driver; /* proposes; receives IDLE and the spy's copies */
    act_port *web;    /* the test's own requests to the mock */
    act_ref venue;
    bool venue_up;
    act_named to_journal;
    exec_binance_venue creds;
    uint32_t seen_count;
    led_commit seen_log[SEEN_MAX];
} fx;

static int group_setup(void **unused)
{
    (void)unused;
    return tk_test_mock_start(TK_SOURCE_DIR, &mock) ? 0 : -1;
}

static int group_teardown(void **unused)
{
    (void)unused;
    tk_test_mock_stop(&mock);
    return 0;
}

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL) return -1;
    *state = f;
    return 0;
}

/* The venue actor goes first (it borrows the HTTP service), then the service, the ports, the
 * system and the journal. */
static int fx_teardown(void **state)
{
    fx *f = *state;
    if (f->venue_up) {
        act_reason kill = act_reason_of(ACT_REASON_KILL);
        if (act_exit(f->sys, act_port_ref(f->driver), f->venue, &kill) == TK_OK) {
            act_reason reason;
            tk_err err = act_port_wait_exit(f->driver, f->venue, WAIT_MS, &reason);
            if (err != TK_OK) print_error("the venue actor did not exit: %s\n", tk_err_name(err));
        }
    }
    act_port_close(f->web);
    act_port_close(f->driver);
    net_http_close(f->http);
    act_system_close(f->sys);
    clu_journal_close(f->journal);
    free(f);
    return 0;
}

/* ---- The test's own requests to the mock ------------------------------------------------------
 */

static int64_t wall_ms(void)
{
    return tk_clock_wall_ns(tk_clock_system()) / 1000000;
}

/* Send req (malloc'd, moved in) and take the response (the caller frees it). */
static net_response *exchange(fx *f, net_request *req)
{
    assert_int_equal(net_http_send(f->http, act_port_ref(f->web), req), TK_OK);
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(f->web, 15000, &msg), TK_OK);
    assert_int_equal(msg->type, NET_MSG_RESPONSE);
    net_response *resp = msg->ptr;
    msg->ptr = NULL;
    act_msg_free(f->sys, msg);
    assert_non_null(resp);
    return resp;
}

static net_request *blank(void)
{
    net_request *req = malloc(sizeof(*req));
    assert_non_null(req);
    net_request_init(req);
    return req;
}

static void mock_post(fx *f, const char *path, const char *body)
{
    net_request *req = blank();
    snprintf(req->url, sizeof(req->url), "%s%s", mock.url, path);
    req->method = NET_POST;
    req->body = strdup(body);
    assert_non_null(req->body);
    req->body_size = strlen(body);
    req->content_type = "application/json";
    net_response *resp = exchange(f, req);
    if (resp->status != 200) fail_msg("%s: HTTP %ld: %s", path, resp->status, resp->body);
    net_response_free(resp);
}

/* GET path from the mock, as JSON (the caller's). */
static json_t *mock_get(fx *f, const char *path)
{
    net_request *req = blank();
    snprintf(req->url, sizeof(req->url), "%s%s", mock.url, path);
    net_response *resp = exchange(f, req);
    assert_int_equal(resp->status, 200);
    json_error_t jerr;
    json_t *doc = json_loadb(resp->body, resp->body_size, 0, &jerr);
    net_response_free(resp);
    assert_non_null(doc);
    return doc;
}

/* How many API requests of "METHOD path" the mock has had since its reset. */
static int64_t mock_requests(fx *f, const char *what)
{
    json_t *doc = mock_get(f, "/mock/requests");
    json_t *n = json_object_get(doc, what);
    int64_t count = json_is_integer(n) ? (int64_t)json_integer_value(n) : 0;
    json_decref(doc);
    return count;
}

/* The orders the mock holds with client order id cid: how many, and the last one's status,
 * venue order id and first trade id (when out pointers are given). */
static uint32_t mock_orders_with(fx *f, const char *cid, char *status, char *order_id,
                                 char *trade_id)
{
    json_t *doc = mock_get(f, "/mock/orders");
    assert_true(json_is_array(doc));
    uint32_t count = 0;
    size_t i;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        const char *id = json_string_value(json_object_get(o, "clientOrderId"));
        if (id == NULL || strcmp(id, cid) != 0) continue;
        count++;
        if (status != NULL)
            snprintf(status, 16, "%s", json_string_value(json_object_get(o, "status")));
        if (order_id != NULL)
            snprintf(order_id, LED_ID_BYTES, "%lld",
                     (long long)json_integer_value(json_object_get(o, "orderId")));
        json_t *fills = json_object_get(o, "fills");
        if (trade_id != NULL && json_array_size(fills) > 0)
            snprintf(
                trade_id, LED_ID_BYTES, "%lld",
                (long long)json_integer_value(json_object_get(json_array_get(fills, 0), "id")));
    }
    json_decref(doc);
    return count;
}

static uint32_t mock_order_count(fx *f)
{
    json_t *doc = mock_get(f, "/mock/orders");
    uint32_t count = (uint32_t)json_array_size(doc);
    json_decref(doc);
    return count;
}

/* Place an order at the mock directly, as an earlier leader would have: signed, client order
 * id cid. The mock must take it; its status. */
static exec_binance_status mock_place(fx *f, const char *cid, led_side side, led_order_kind kind,
                                      int64_t qty_e8, int64_t price_e8)
{
    exec_binance_order_args a = {.symbol = "BTCUSDT",
                                 .client_order_id = cid,
                                 .side = side,
                                 .kind = kind,
                                 .qty_e8 = qty_e8,
                                 .price_e8 = price_e8};
    net_request *req = blank();
    char why[160];
    assert_int_equal(exec_binance_new_order(&f->creds, &a, wall_ms(), req, why, sizeof(why)),
                     TK_OK);
    net_response *resp = exchange(f, req);
    exec_binance_order o;
    exec_binance_error e = {0};
    tk_err err = exec_binance_parse_order(resp, &o, &e);
    net_response_free(resp);
    if (err != TK_OK) fail_msg("mock refused %s: %lld %s", cid, (long long)e.code, e.msg);
    assert_string_equal(o.client_order_id, cid);
    return o.status;
}

/* ---- Commits, as the spy copies them ----------------------------------------------------------
 */

/* Record msg if it is a spy's copy (then free it and return true). */
static bool seen_take(fx *f, act_msg *msg)
{
    if (msg->type != TK_TEST_MSG_SEEN) return false;
    assert_true(f->seen_count < SEEN_MAX);
    f->seen_log[f->seen_count++] = *(const led_commit *)msg->ptr;
    act_msg_free(f->sys, msg);
    return true;
}

/* Take copied commits for up to timeout_ms (bounded: returns at the deadline). */
static void seen_drain(fx *f, uint32_t timeout_ms)
{
    uint64_t deadline = tk_clock_mono_ns(tk_clock_system()) + timeout_ms * 1000000ull;
    for (uint32_t i = 0; i < SEEN_MAX; i++) {
        uint64_t now = tk_clock_mono_ns(tk_clock_system());
        if (now >= deadline) return;
        act_msg *msg = NULL;
        uint32_t left_ms = (uint32_t)((deadline - now) / 1000000u) + 1u;
        if (act_port_receive(f->driver, left_ms, &msg) != TK_OK) return;
        if (!seen_take(f, msg)) fail_msg("unexpected message type %u", msg->type);
    }
}

static bool names_order(const led_commit *c, uint64_t order_index)
{
    return order_index == 0 || led_event_order_index(&c->ev) == order_index;
}

/* Commits of type about order_index (0: any) seen so far. */
static uint32_t seen_count_of(const fx *f, led_event_type type, uint64_t order_index)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->seen_count; i++) {
        const led_commit *c = &f->seen_log[i];
        if (c->ev.type == type && names_order(c, order_index)) n++;
    }
    return n;
}

static const led_commit *seen_find(const fx *f, led_event_type type, uint64_t order_index)
{
    for (uint32_t i = 0; i < f->seen_count; i++) {
        const led_commit *c = &f->seen_log[i];
        if (c->ev.type == type && names_order(c, order_index)) return c;
    }
    return NULL;
}

static const led_commit *seen_index(const fx *f, uint64_t index)
{
    for (uint32_t i = 0; i < f->seen_count; i++)
        if (f->seen_log[i].index == index) return &f->seen_log[i];
    fail_msg("no commit with index %llu", (unsigned long long)index);
    abort(); /* not reached: fail_msg leaves the test */
}

static void seen_print(const fx *f)
{
    for (uint32_t i = 0; i < f->seen_count; i++) {
        const led_commit *c = &f->seen_log[i];
        print_message("  commit %llu %s (order %llu): %s %s\n", (unsigned long long)c->index,
                      led_event_type_name(c->ev.type),
                      (unsigned long long)led_event_order_index(&c->ev),
                      led_result_name(c->outcome.result), c->outcome.detail);
    }
}

/* Wait (bounded) for a commit of type about order_index (0: any), applied by the ledger. */
static const led_commit *seen_await_at(fx *f, led_event_type type, uint64_t order_index, int line)
{
    uint64_t deadline = tk_clock_mono_ns(tk_clock_system()) + WAIT_MS * 1000000ull;
    while (seen_find(f, type, order_index) == NULL &&
           tk_clock_mono_ns(tk_clock_system()) < deadline)
        seen_drain(f, 20);
    const led_commit *c = seen_find(f, type, order_index);
    if (c == NULL) {
        seen_print(f);
        fail_msg("line %d: no %s for order %llu within %u ms", line, led_event_type_name(type),
                 (unsigned long long)order_index, WAIT_MS);
        abort(); /* not reached: fail_msg leaves the test */
    }
    if (c->outcome.result != LED_APPLIED) {
        seen_print(f);
        fail_msg("line %d: %s of order %llu: %s: %s", line, led_event_type_name(type),
                 (unsigned long long)order_index, led_result_name(c->outcome.result),
                 c->outcome.detail);
    }
    return c;
}

#define seen_await(f, type, order_index) seen_await_at((f), (type), (order_index), __LINE__)

/* ---- Proposals --------------------------------------------------------------------------------
 */

static led_event ev_new(led_event_type type)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.version = 1;
    ev.ts_ns = tk_clock_wall_ns(tk_clock_system());
    return ev;
}

/* Propose ev as a strategy would; once the graph is idle, its ledger index (every copy it
 * caused so far is taken). */
static uint64_t drive(fx *f, const led_event *ev)
{
    assert_int_equal(led_event_check(ev, NULL), TK_OK);
    led_propose_flags flags = LED_PROPOSE_NOTIFY_IDLE;
    assert_int_equal(act_send_named_copy(f->sys, &f->to_journal, act_port_ref(f->driver),
                                         LED_MSG_PROPOSE, &flags, sizeof(flags), ev, sizeof(*ev)),
                     TK_OK);
    act_msg *msg = NULL;
    for (uint32_t i = 0; i < SEEN_MAX; i++) { /* copies, then IDLE */
        assert_int_equal(act_port_receive(f->driver, WAIT_MS, &msg), TK_OK);
        if (!seen_take(f, msg)) break;
        msg = NULL;
    }
    assert_non_null(msg);
    assert_int_equal(msg->type, LED_MSG_IDLE);
    uint64_t index = 0;
    memcpy(&index, msg->data, sizeof(index));
    act_msg_free(f->sys, msg);
    assert_true(index > 0);
    return index;
}

static uint64_t drive_applied(fx *f, const led_event *ev)
{
    uint64_t index = drive(f, ev);
    const led_commit *c = seen_index(f, index);
    if (c->outcome.result != LED_APPLIED)
        fail_msg("event %llu (%s): %s: %s", (unsigned long long)index,
                 led_event_type_name(ev->type), led_result_name(c->outcome.result),
                 c->outcome.detail);
    return index;
}

/* BTCUSDT as Binance's exchangeInfo has it, wide limits, 10,000,000 USDT, and a bar at the
 * mark (the gate needs a mark). */
static void setup_ledger(fx *f)
{
    led_event ev = ev_new(LED_EV_INSTRUMENT_DEFINED);
    struct led_ev_instrument_defined *d = &ev.u.instrument_defined;
    strcpy(d->symbol, "BTCUSDT");
    strcpy(d->base, "BTC");
    strcpy(d->quote, "USDT");
    d->tick_e8 = E8 / 100;
    d->lot_e8 = E8 / 100000;
    d->min_notional_e8 = 10 * E8;
    (void)drive_applied(f, &ev);
    ev = ev_new(LED_EV_RISK_LIMITS_SET);
    struct led_ev_risk_limits_set *l = &ev.u.risk_limits_set;
    l->max_order_notional_e8 = 100000000 * E8;
    l->max_position_notional_e8 = 100000000 * E8;
    l->max_position_equity_bps = 10000;
    l->max_gross_exposure_e8 = 100000000 * E8;
    l->max_open_orders = 100;
    l->price_band_bps = 10000;
    l->daily_loss_bps = 10000;
    l->max_drawdown_bps = 10000;
    (void)drive_applied(f, &ev);
    ev = ev_new(LED_EV_BALANCE_ADJUSTED);
    strcpy(ev.u.balance_adjusted.asset, "USDT");
    ev.u.balance_adjusted.delta_e8 = 10000000 * E8;
    strcpy(ev.u.balance_adjusted.reason, "deposit");
    (void)drive_applied(f, &ev);
    ev = ev_new(LED_EV_BAR_CLOSED);
    struct led_ev_bar_closed *b = &ev.u.bar_closed;
    strcpy(b->symbol, "BTCUSDT");
    b->open_ts_ns = ev.ts_ns - 60 * 1000000000LL;
    b->interval_s = 60;
    b->open_e8 = b->high_e8 = b->low_e8 = b->close_e8 = 60000 * E8;
    b->volume_e8 = 10 * E8;
    (void)drive_applied(f, &ev);
}

/* An order the gate must accept: its ledger index. */
static uint64_t order(fx *f, led_side side, led_order_kind kind, int64_t qty_e8, int64_t price_e8)
{
    led_event ev = ev_new(LED_EV_ORDER_REQUESTED);
    struct led_ev_order_requested *o = &ev.u.order_requested;
    strcpy(o->symbol, "BTCUSDT");
    strcpy(o->strategy, "test");
    o->side = side;
    o->kind = kind;
    o->qty_e8 = qty_e8;
    o->price_e8 = price_e8;
    return drive_applied(f, &ev);
}

/* The graph of the header comment, without the venue actor; the mock reset and marked. */
static void fx_start(fx *f)
{
    clu_local_opts jo = {
        .store = NULL, .batch_events_max = 64, .checkpoint_every = 0, .deliver_on_apply = true};
    es_error why = {{0}};
    assert_int_equal(clu_local_open(&jo, &f->journal, &why), TK_OK);
    act_system_opts so = {.threads = 2,
                          .actors_max = 32,
                          .msgs_max = 8192,
                          .spin_us = 0,
                          .turn_deadline_ms = 0,
                          .stuck_deadline_ms = 0,
                          .clock = tk_clock_system()};
    assert_int_equal(act_system_open(&so, &f->sys), TK_OK);
    assert_int_equal(net_http_open(f->sys, NULL, &f->http), TK_OK);
    assert_int_equal(act_port_open(f->sys, 64, &f->web), TK_OK);
    act_ref journal_ref;
    assert_int_equal(clu_journal_actor_spawn(f->sys, f->journal, 1024, &journal_ref), TK_OK);
    assert_int_equal(act_port_open(f->sys, 2u * SEEN_MAX, &f->driver), TK_OK);
    act_ref seen_ref = act_port_ref(f->driver);
    act_ref spy_ref;
    assert_int_equal(tk_test_spy_spawn(f->sys, seen_ref, &spy_ref), TK_OK);
    f->to_journal = ACT_NAMED(LED_JOURNAL_NAME);
    f->creds = (exec_binance_venue){.recv_window_ms = 5000, .time_offset_ms = 0};
    snprintf(f->creds.base_url, sizeof(f->creds.base_url), "%s", mock.url);
    snprintf(f->creds.api_key, sizeof(f->creds.api_key), "mock-api-key");
    snprintf(f->creds.secret, sizeof(f->creds.secret), "mock-api-secret");
    mock_post(f, "/mock/reset", "{}");
    mock_post(f, "/mock/mark", "{\"symbol\": \"BTCUSDT\", \"price\": \"" MARK "\"}");
    setup_ledger(f);
}

/* Spawn the venue actor against the mock, with the ledger's open orders open (borrowed). */
static void venue_start(fx *f, const led_order *open, uint32_t open_count)
{
    exec_venue_opts o;
    memset(&o, 0, sizeof(o));
    o.venue = f->creds;
    o.http = f->http;
    o.clock = tk_clock_system();
    snprintf(o.prefix, sizeof(o.prefix), "tk");
    o.open = open;
    o.open_count = open_count;
    o.reconcile_delay_ms = 50;
    o.poll_ms = 100;
    o.leading = NULL;
    o.mailbox_capacity = 256;
    o.link_to = ACT_REF_NONE;
    assert_int_equal(exec_venue_spawn(f->sys, &o, &f->venue), TK_OK);
    f->venue_up = true;
}

/* The venue actor is still running (it did not fail). */
static void assert_venue_alive(fx *f)
{
    act_reason reason;
    tk_err err = act_port_wait_exit(f->driver, f->venue, 1, &reason);
    if (err != TK_ETIMEDOUT)
        fail_msg("the venue actor exited: %s %s: %s", act_reason_kind_name(reason.kind),
                 tk_err_name(reason.err), reason.detail);
}

static void cid_of(uint64_t index, char out[LED_ID_BYTES])
{
    snprintf(out, LED_ID_BYTES, "tk-%llu", (unsigned long long)index);
}

/* The fill of a market buy of 0.1 BTC at the mock's ask: price, quantity, 0.1% USDT fee,
 * fill id "b<trade id>". */
static void assert_market_fill(fx *f, uint64_t index, const char *trade_id)
{
    const led_commit *fill = seen_await(f, LED_EV_ORDER_FILLED, index);
    const struct led_ev_order_filled *e = &fill->ev.u.order_filled;
    char want[LED_ID_BYTES];
    snprintf(want, sizeof(want), "b%s", trade_id);
    assert_string_equal(e->fill_id, want);
    assert_int_equal(e->qty_e8, E8 / 10);
    assert_int_equal(e->price_e8, ASK_E8);
    assert_int_equal(e->fee_e8, 600000100); /* 0.1% of 6,000.001 USDT */
    assert_string_equal(e->fee_asset, "USDT");
    assert_false(e->maker);
    assert_false(fill->order_open); /* filled in full */
}

/* ---- Cases ------------------------------------------------------------------------------------
 */

/* An accepted market order goes to the venue once; the answer becomes OrderAcked (the venue's
 * order id) and OrderFilled; the ledger no longer holds the order open. */
static void test_market_order_sent_once(void **state)
{
    fx *f = *state;
    fx_start(f);
    venue_start(f, NULL, 0);
    uint64_t index = order(f, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 10, 0);
    const led_commit *ack = seen_await(f, LED_EV_ORDER_ACKED, index);
    char acked_id[LED_ID_BYTES];
    snprintf(acked_id, sizeof(acked_id), "%s", ack->ev.u.order_acked.venue_order_id);
    (void)seen_await(f, LED_EV_ORDER_FILLED, index);
    seen_drain(f, SETTLE_MS);

    char cid[LED_ID_BYTES], status[16] = "", venue_id[LED_ID_BYTES] = "", trade[LED_ID_BYTES] = "";
    cid_of(index, cid);
    assert_int_equal(mock_orders_with(f, cid, status, venue_id, trade), 1);
    assert_int_equal(mock_order_count(f), 1);
    assert_string_equal(status, "FILLED");
    assert_string_equal(acked_id, venue_id);
    assert_market_fill(f, index, trade);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, index), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_FILLED, index), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_REJECTED_BY_VENUE, 0), 0);

    /* idle now (the order is settled: nothing more is proposed); the state agrees */
    led_event ev = ev_new(LED_EV_FEED_HEALTH);
    strcpy(ev.u.feed_health.feed, "binance");
    strcpy(ev.u.feed_health.symbol, "BTCUSDT");
    ev.u.feed_health.status = LED_FEED_OK;
    strcpy(ev.u.feed_health.detail, "ok");
    (void)drive_applied(f, &ev);
    led_order o;
    EXPECT_ERR(led_state_order_find(clu_journal_state(f->journal), index, &o), TK_ENOENT);
    assert_venue_alive(f);
}

/* The mock takes the order and drops its answer: the actor queries by client order id and
 * settles it from what the venue says; the order is never sent a second time. */
static void test_lost_answer_queried(void **state)
{
    fx *f = *state;
    fx_start(f);
    venue_start(f, NULL, 0);
    mock_post(f, "/mock/fault",
              "{\"kind\": \"drop_after_accept\", \"path\": \"/api/v3/order\", \"method\": "
              "\"POST\"}");
    uint64_t index = order(f, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 10, 0);
    const led_commit *ack = seen_await(f, LED_EV_ORDER_ACKED, index);
    char acked_id[LED_ID_BYTES];
    snprintf(acked_id, sizeof(acked_id), "%s", ack->ev.u.order_acked.venue_order_id);
    (void)seen_await(f, LED_EV_ORDER_FILLED, index);
    seen_drain(f, SETTLE_MS);

    char cid[LED_ID_BYTES], status[16] = "", venue_id[LED_ID_BYTES] = "", trade[LED_ID_BYTES] = "";
    cid_of(index, cid);
    assert_int_equal(mock_orders_with(f, cid, status, venue_id, trade), 1);
    assert_int_equal(mock_order_count(f), 1);
    assert_string_equal(status, "FILLED");
    assert_string_equal(acked_id, venue_id);
    assert_market_fill(f, index, trade);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 1); /* never sent twice */
    assert_true(mock_requests(f, "GET /api/v3/order") >= 1);     /* it asked instead */
    json_t *log = mock_get(f, "/mock/log");
    bool dropped = false;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *fault = json_string_value(json_object_get(r, "fault"));
        if (fault != NULL && strcmp(fault, "drop_after_accept") == 0) dropped = true;
    }
    json_decref(log);
    assert_true(dropped); /* the fault did happen */
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, index), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_FILLED, index), 1);
    assert_venue_alive(f);
}

/* The venue answers the new order with a 503 and does not take it: the outcome is unknown, so
 * the actor queries first; the venue has no such order, so it is sent again, once. */
static void test_unknown_outcome_not_taken_is_resent(void **state)
{
    fx *f = *state;
    fx_start(f);
    venue_start(f, NULL, 0);
    mock_post(f, "/mock/fault",
              "{\"kind\": \"5xx\", \"path\": \"/api/v3/order\", \"method\": \"POST\"}");
    uint64_t index = order(f, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 10, 0);
    (void)seen_await(f, LED_EV_ORDER_ACKED, index);
    (void)seen_await(f, LED_EV_ORDER_FILLED, index);
    seen_drain(f, SETTLE_MS);
    char cid[LED_ID_BYTES], status[16] = "", trade[LED_ID_BYTES] = "";
    cid_of(index, cid);
    assert_int_equal(mock_orders_with(f, cid, status, NULL, trade), 1);
    assert_string_equal(status, "FILLED");
    assert_market_fill(f, index, trade);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 2); /* refused, then taken */
    assert_true(mock_requests(f, "GET /api/v3/order") >= 1);     /* asked in between */
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, index), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_FILLED, index), 1);
    assert_venue_alive(f);
}

/* The ledger's open orders into open (OPEN_MAX), read while the journal actor is idle: what a
 * new leader's venue actor starts from. Returns how many. */
static uint32_t ledger_open_orders(fx *f, led_order open[OPEN_MAX])
{
    uint32_t count = 0;
    const led_state *ledger = clu_journal_state(f->journal);
    uint64_t after = 0;
    while (count < OPEN_MAX && led_state_order_next(ledger, after, &open[count]) == TK_OK)
        after = open[count++].index;
    return count;
}

/* A new leader's venue actor reconciles before it sends anything: an order the venue took and
 * filled while the ledger never heard back is acked and filled; an order that never reached
 * the venue is rejected (-2013), not sent late; an order at the venue under the prefix that
 * the ledger lacks is adopted. Nothing new goes to the venue. */
static void test_reconcile_at_start(void **state)
{
    fx *f = *state;
    fx_start(f);
    uint64_t sent = order(f, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 10, 0);
    char sent_cid[LED_ID_BYTES];
    cid_of(sent, sent_cid);
    /* the old leader sent it, and went away before the answer was committed */
    assert_int_equal(mock_place(f, sent_cid, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 10, 0),
                     EXEC_BINANCE_FILLED);
    uint64_t unsent = order(f, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 20, 0);
    /* an order under the prefix the ledger has no record of, resting far below the market */
    assert_int_equal(mock_place(f, "tk-999999", LED_SIDE_BUY, LED_ORDER_LIMIT, E8 / 5, 50000 * E8),
                     EXEC_BINANCE_NEW);

    /* the ledger's open orders, read while the journal actor is idle (nothing proposes) */
    led_order open[OPEN_MAX];
    uint32_t open_count = ledger_open_orders(f, open);
    assert_int_equal(open_count, 2);
    assert_int_equal(open[0].index, sent);
    assert_int_equal(open[1].index, unsent);
    assert_string_equal(open[0].venue_order_id, "");

    venue_start(f, open, open_count);
    const led_commit *ack = seen_await(f, LED_EV_ORDER_ACKED, sent);
    char acked_id[LED_ID_BYTES];
    snprintf(acked_id, sizeof(acked_id), "%s", ack->ev.u.order_acked.venue_order_id);
    (void)seen_await(f, LED_EV_ORDER_FILLED, sent);
    const led_commit *rej = seen_await(f, LED_EV_ORDER_REJECTED_BY_VENUE, unsent);
    assert_int_equal(rej->ev.u.order_rejected_by_venue.code, -2013);
    assert_false(rej->order_open);
    const led_commit *adopted = seen_await(f, LED_EV_EXTERNAL_ORDER_ADOPTED, 0);
    const struct led_ev_external_order_adopted *x = &adopted->ev.u.external_order_adopted;
    assert_string_equal(x->client_order_id, "tk-999999");
    assert_string_equal(x->symbol, "BTCUSDT");
    assert_int_equal(x->side, LED_SIDE_BUY);
    assert_int_equal(x->kind, LED_ORDER_LIMIT);
    assert_int_equal(x->qty_e8, E8 / 5);
    assert_int_equal(x->price_e8, 50000 * E8);
    assert_int_equal(x->filled_qty_e8, 0);
    seen_drain(f, SETTLE_MS);

    char status[16] = "", venue_id[LED_ID_BYTES] = "", trade[LED_ID_BYTES] = "";
    assert_int_equal(mock_orders_with(f, sent_cid, status, venue_id, trade), 1);
    assert_string_equal(acked_id, venue_id);
    assert_market_fill(f, sent, trade);
    char unsent_cid[LED_ID_BYTES];
    cid_of(unsent, unsent_cid);
    assert_int_equal(mock_orders_with(f, unsent_cid, NULL, NULL, NULL), 0); /* not sent late */
    assert_int_equal(mock_order_count(f), 2);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 2); /* the test's two only */
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, sent), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_FILLED, sent), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_REJECTED_BY_VENUE, 0), 1);
    assert_int_equal(seen_count_of(f, LED_EV_EXTERNAL_ORDER_ADOPTED, 0), 1);
    assert_venue_alive(f);
}

/* Two stops the last leader held: it fired the first (a market order at the venue) before it
 * stepped down, not the second; the ledger still has both open and unacked, and the second's
 * cancel is committed before the fence ends. The new leader must find the first by its client
 * order id and record its fill, and cancel the second as never sent; it sends nothing itself.
 * (The chaos harness found a leader resumed from SIGSTOP firing a stop that the new leader had
 * recorded as cancelled unsent: a fill the ledger never saw.) */
static void test_held_stops_reconciled(void **state)
{
    fx *f = *state;
    fx_start(f);
    uint64_t fired = order(f, LED_SIDE_BUY, LED_ORDER_STOP, E8 / 10, 61000 * E8);
    uint64_t held = order(f, LED_SIDE_BUY, LED_ORDER_STOP, E8 / 20, 61000 * E8);
    char fired_cid[LED_ID_BYTES];
    cid_of(fired, fired_cid);
    assert_int_equal(mock_place(f, fired_cid, LED_SIDE_BUY, LED_ORDER_MARKET, E8 / 10, 0),
                     EXEC_BINANCE_FILLED);
    led_order open[OPEN_MAX];
    uint32_t open_count = ledger_open_orders(f, open);
    assert_int_equal(open_count, 2);

    venue_start(f, open, open_count);
    led_event ev = ev_new(LED_EV_ORDER_CANCEL_REQUESTED);
    ev.u.order_cancel_requested.order_index = held;
    (void)drive_applied(f, &ev); /* inside the fence: the held stop is not known unsent yet */
    (void)seen_await(f, LED_EV_ORDER_ACKED, fired);
    (void)seen_await(f, LED_EV_ORDER_FILLED, fired);
    const led_commit *cancelled = seen_await(f, LED_EV_ORDER_CANCELLED, held);
    assert_string_equal(cancelled->ev.u.order_cancelled.reason, "cancelled before it was sent");
    seen_drain(f, SETTLE_MS);
    char trade[LED_ID_BYTES] = "";
    assert_int_equal(mock_orders_with(f, fired_cid, NULL, NULL, trade), 1);
    assert_market_fill(f, fired, trade);
    char held_cid[LED_ID_BYTES];
    cid_of(held, held_cid);
    assert_int_equal(mock_orders_with(f, held_cid, NULL, NULL, NULL), 0);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 1); /* the old leader's only */
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_FILLED, fired), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_CANCELLED, held), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_CANCELLED, fired), 0);
    assert_venue_alive(f);
}

/* A limit order below the market rests at the venue (acked, not filled); a committed
 * OrderCancelRequested cancels it there, and the answer becomes OrderCancelled. */
static void test_resting_limit_cancelled(void **state)
{
    fx *f = *state;
    fx_start(f);
    venue_start(f, NULL, 0);
    uint64_t index = order(f, LED_SIDE_BUY, LED_ORDER_LIMIT, E8 / 10, 50000 * E8);
    const led_commit *ack = seen_await(f, LED_EV_ORDER_ACKED, index);
    assert_true(ack->order_open);
    char acked_id[LED_ID_BYTES];
    snprintf(acked_id, sizeof(acked_id), "%s", ack->ev.u.order_acked.venue_order_id);
    seen_drain(f, SETTLE_MS); /* polled a few times: nothing changes */
    char cid[LED_ID_BYTES], status[16] = "", venue_id[LED_ID_BYTES] = "";
    cid_of(index, cid);
    assert_int_equal(mock_orders_with(f, cid, status, venue_id, NULL), 1);
    assert_string_equal(status, "NEW");
    assert_string_equal(acked_id, venue_id);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, index), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_FILLED, index), 0);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_CANCELLED, index), 0);

    led_event ev = ev_new(LED_EV_ORDER_CANCEL_REQUESTED);
    ev.u.order_cancel_requested.order_index = index;
    (void)drive_applied(f, &ev);
    const led_commit *cancelled = seen_await(f, LED_EV_ORDER_CANCELLED, index);
    assert_false(cancelled->order_open);
    seen_drain(f, SETTLE_MS);
    assert_int_equal(mock_orders_with(f, cid, status, NULL, NULL), 1);
    assert_string_equal(status, "CANCELED");
    assert_int_equal(mock_requests(f, "DELETE /api/v3/order"), 1);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_CANCELLED, index), 1);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, index), 1);
    assert_venue_alive(f);
}

/* The venue turns the cancel away for now (HTTP 429, which the HTTP service leaves to the
 * caller): the order stays open at the venue, so the actor must cancel it again (after the
 * query that tells it so) rather than forget the committed cancel. */
static void test_cancel_turned_away_is_retried(void **state)
{
    fx *f = *state;
    fx_start(f);
    venue_start(f, NULL, 0);
    uint64_t index = order(f, LED_SIDE_BUY, LED_ORDER_LIMIT, E8 / 10, 50000 * E8);
    (void)seen_await(f, LED_EV_ORDER_ACKED, index);
    mock_post(f, "/mock/fault",
              "{\"kind\": \"429\", \"path\": \"/api/v3/order\", \"method\": \"DELETE\", "
              "\"retry_after\": 0}");
    led_event ev = ev_new(LED_EV_ORDER_CANCEL_REQUESTED);
    ev.u.order_cancel_requested.order_index = index;
    (void)drive_applied(f, &ev);
    const led_commit *cancelled = seen_await(f, LED_EV_ORDER_CANCELLED, index);
    assert_false(cancelled->order_open);
    char cid[LED_ID_BYTES], status[16] = "";
    cid_of(index, cid);
    assert_int_equal(mock_orders_with(f, cid, status, NULL, NULL), 1);
    assert_string_equal(status, "CANCELED");
    assert_int_equal(mock_requests(f, "DELETE /api/v3/order"), 2); /* turned away, then taken */
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_CANCELLED, index), 1);
    assert_venue_alive(f);
}

/* The venue refuses the order (the mock's account holds 1,000,000 USDT, the ledger's 10,000,000:
 * 20 BTC at 60,000 is more than the venue's): OrderRejectedByVenue with Binance's code and
 * message, sent once, no ack. */
static void test_venue_refusal(void **state)
{
    fx *f = *state;
    fx_start(f);
    venue_start(f, NULL, 0);
    uint64_t index = order(f, LED_SIDE_BUY, LED_ORDER_MARKET, 20 * E8, 0);
    const led_commit *rej = seen_await(f, LED_EV_ORDER_REJECTED_BY_VENUE, index);
    assert_int_equal(rej->ev.u.order_rejected_by_venue.code, -2010);
    assert_string_equal(rej->ev.u.order_rejected_by_venue.message,
                        "Account has insufficient balance for requested action.");
    assert_false(rej->order_open);
    seen_drain(f, SETTLE_MS);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_ACKED, index), 0);
    assert_int_equal(seen_count_of(f, LED_EV_ORDER_REJECTED_BY_VENUE, index), 1);
    assert_int_equal(mock_requests(f, "POST /api/v3/order"), 1);
    assert_int_equal(mock_order_count(f), 0);
    assert_venue_alive(f);
}

int exec_test_venue(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_market_order_sent_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lost_answer_queried, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_outcome_not_taken_is_resent, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_at_start, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_held_stops_reconciled, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_resting_limit_cancelled, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_turned_away_is_retried, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_venue_refusal, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("execution/venue", tests, group_setup, group_teardown);
}
