/* risk/risk_actor.c in a real graph: an actor system, the local journal in memory and its
 * journal actor, the real ledger (the journal applies every event), the HTTP client service, and
 * a webhook receiver on nng's HTTP server in this process. The test proposes events as a feed,
 * a strategy and a venue would, each with LED_PROPOSE_NOTIFY_IDLE, so that when the journal
 * answers IDLE the monitor has handled the event, proposed what it caused and acknowledged it; a
 * spy actor in the strategies group copies every commit to the test's port. Cases: a
 * drawdown past the limit (one KillSwitchSet, its alert POSTed as JSON), a daily loss, a burst of
 * venue rejections, a feed gone stale and back (a manual clock), a webhook that answers 400
 * (logged, the monitor goes on), bad messages and bad options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h> /* after the four above, which it needs */
#include <jansson.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clu.h"
#include "risk.h"
#include "risk_tests.h"
#include "tk_test.h"
#include "tk_test_spy.h"

#define WAIT_MS         5000u /* anything awaited arrives within this, or the test fails */
#define SEEN_MAX        256u
#define HOOK_BODIES_MAX 16u
#define HOOK_BODY_BYTES 1024u
#define E8              ((int64_t)LED_SCALE)
#define DAY_NS          86400000000000LL
#define DAY0            20000 /* 2024-10-04, UTC */
#define CHAT_ID         "-1001234567890"

/* ---- The webhook receiver: nng's HTTP server, POST /hook ------------------------------------- */

typedef struct hook {
    nng_http_server *server;
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    uint16_t status; /* what it answers */
    uint32_t count;  /* POSTs received */
    char bodies[HOOK_BODIES_MAX][HOOK_BODY_BYTES];
    char content_types[HOOK_BODIES_MAX][64];
    char url[96]; /* "http://127.0.0.1:PORT/hook" */
} hook;

static void hook_handle(nng_aio *aio)
{
    nng_http_req *req = nng_aio_get_input(aio, 0);
    nng_http_handler *handler = nng_aio_get_input(aio, 1);
    hook *h = nng_http_handler_get_data(handler);
    void *data = NULL;
    size_t size = 0;
    nng_http_req_get_data(req, &data, &size);
    const char *type = nng_http_req_get_header(req, "Content-Type");
    pthread_mutex_lock(&h->lock);
    if (h->count < HOOK_BODIES_MAX) {
        size_t n = size < HOOK_BODY_BYTES - 1u ? size : HOOK_BODY_BYTES - 1u;
        memcpy(h->bodies[h->count], data, n);
        h->bodies[h->count][n] = '\0';
        snprintf(h->content_types[h->count], sizeof(h->content_types[0]), "%s",
                 type != NULL ? type : "");
    }
    h->count++;
    uint16_t status = h->status;
    pthread_cond_broadcast(&h->arrived);
    pthread_mutex_unlock(&h->lock);
    nng_http_res *res = NULL;
    int rv = nng_http_res_alloc(&res);
    if (rv == 0) rv = nng_http_res_set_status(res, status);
    if (rv == 0) rv = nng_http_res_copy_data(res, "{\"ok\":true}", 11);
    if (rv == 0) rv = nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, rv);
}

/* A port on 127.0.0.1 that nothing listens on now. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void hook_start(hook *h, uint16_t status)
{
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->arrived, NULL);
    h->status = status;
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)free_port());
    snprintf(h->url, sizeof(h->url), "%s/hook", base);
    nng_url *url = NULL;
    assert_int_equal(nng_url_parse(&url, base), 0);
    assert_int_equal(nng_http_server_hold(&h->server, url), 0);
    nng_url_free(url);
    nng_http_handler *handler = NULL;
    assert_int_equal(nng_http_handler_alloc(&handler, "/hook", hook_handle), 0);
    assert_int_equal(nng_http_handler_set_method(handler, "POST"), 0);
    assert_int_equal(nng_http_handler_collect_body(handler, true, 64u * 1024u), 0);
    assert_int_equal(nng_http_handler_set_data(handler, h, NULL), 0);
    assert_int_equal(nng_http_server_add_handler(h->server, handler), 0);
    assert_int_equal(nng_http_server_start(h->server), 0);
}

static void hook_stop(hook *h)
{
    if (h->server == NULL) return;
    nng_http_server_stop(h->server);
    nng_http_server_release(h->server);
    h->server = NULL;
    pthread_cond_destroy(&h->arrived);
    pthread_mutex_destroy(&h->lock);
}

/* Wait until the receiver has had count POSTs; returns how many it has. */
static uint32_t hook_wait(hook *h, uint32_t count, uint32_t timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000u;
    deadline.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->lock);
    while (h->count < count) /* bounded by the deadline */
        if (pthread_cond_timedwait(&h->arrived, &h->lock, &deadline) != 0) break;
    uint32_t got = h->count;
    pthread_mutex_unlock(&h->lock);
    return got;
}

/* ---- The graph --------------------------------------------------------------------------------
 */

typedef enum hook_mode { HOOK_NONE, HOOK_OK, HOOK_BAD_REQUEST } hook_mode;

typedef struct fx {
    act_system *sys;
    clu_journal *journal;
    net_http *http;
    act_port *driver; /* proposes; receives IDLE and the spy's copies, in that causal order */
    act_ref monitor;
    act_named to_journal;
    tk_clock_manual clock; /* the monitor's */
    hook hook;
    int64_t ts_ns;
    uint32_t seen_count;
    led_commit seen_log[SEEN_MAX];
    char log_path[64]; /* "" unless the test logs to a file */
} fx;

typedef struct fx_opts {
    uint32_t venue_error_window, venue_error_max, feed_stale_ms;
    hook_mode hook;
} fx_opts;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL) return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    act_port_close(f->driver);
    net_http_close(f->http); /* before the system; in-flight alerts are cancelled */
    act_system_close(f->sys);
    clu_journal_close(f->journal);
    hook_stop(&f->hook);
    if (f->log_path[0] != '\0') {
        tk_log_close();
        unlink(f->log_path);
    }
    free(f);
    return 0;
}

/* The monitor's options over the journal's state as it stands. */
static void monitor_opts(fx *f, const fx_opts *o, risk_monitor_opts *out)
{
    memset(out, 0, sizeof(*out));
    risk_watch_opts_seed(clu_journal_state(f->journal), &out->watch);
    out->watch.venue_error_window = o->venue_error_window;
    out->watch.venue_error_max = o->venue_error_max;
    out->watch.feed_stale_ms = o->feed_stale_ms;
    out->clock = &f->clock.clock;
    out->webhook_url = o->hook != HOOK_NONE ? f->hook.url : NULL;
    out->webhook_chat_id = CHAT_ID;
    out->http = f->http;
    out->mailbox_capacity = 256;
}

static void fx_start(fx *f, const fx_opts *o)
{
    clu_local_opts jo = {
        .store = NULL, .batch_events_max = 64, .checkpoint_every = 0, .deliver_on_apply = true};
    es_error why = {{0}};
    assert_int_equal(clu_local_open(&jo, &f->journal, &why), TK_OK);
    tk_clock_manual_init(&f->clock, 1000000000ull, DAY0 * DAY_NS + 7);
    act_system_opts so = {.threads = 2,
                          .actors_max = 32,
                          .msgs_max = 8192,
                          .spin_us = 0,
                          .turn_deadline_ms = 0,
                          .stuck_deadline_ms = 0,
                          .clock = tk_clock_system()};
    assert_int_equal(act_system_open(&so, &f->sys), TK_OK);
    if (o->hook != HOOK_NONE) {
        hook_start(&f->hook, o->hook == HOOK_OK ? 200 : 400);
        assert_int_equal(net_http_open(f->sys, NULL, &f->http), TK_OK);
    }
    risk_monitor_opts mo;
    monitor_opts(f, o, &mo); /* read the state before the journal actor owns it */
    act_ref journal_ref;
    assert_int_equal(clu_journal_actor_spawn(f->sys, f->journal, 1024, &journal_ref), TK_OK);
    /* One port for IDLE and the spy's copies: a port is an actor whose mailbox keeps each
     * sender's order, and the spy sends a copy before it acknowledges, which the journal needs
     * before it sends IDLE; so every copy an event caused is ahead of its IDLE. */
    assert_int_equal(act_port_open(f->sys, 2u * SEEN_MAX, &f->driver), TK_OK);
    act_ref seen_ref = act_port_ref(f->driver);
    act_ref spy_ref;
    assert_int_equal(tk_test_spy_spawn(f->sys, seen_ref, &spy_ref), TK_OK);
    assert_int_equal(risk_monitor_spawn(f->sys, &mo, &f->monitor), TK_OK);
    f->to_journal = ACT_NAMED(LED_JOURNAL_NAME);
    f->ts_ns = DAY0 * DAY_NS + 3600 * 1000000000LL;
}

/* Record msg if it is a spy's copy (then free it and return true). */
static bool seen_take(fx *f, act_msg *msg)
{
    if (msg->type != TK_TEST_MSG_SEEN) return false;
    assert_true(f->seen_count < SEEN_MAX);
    f->seen_log[f->seen_count++] = *(const led_commit *)msg->ptr;
    act_msg_free(f->sys, msg);
    return true;
}

/* Take every copied commit waiting on the port (waiting up to timeout_ms for the first). */
static void seen_drain(fx *f, uint32_t timeout_ms)
{
    for (uint32_t i = 0; i < SEEN_MAX; i++) {
        act_msg *msg = NULL;
        if (act_port_receive(f->driver, i == 0 ? timeout_ms : 0, &msg) != TK_OK) return;
        if (!seen_take(f, msg)) fail_msg("unexpected message type %u", msg->type);
    }
}

static uint32_t seen_count_of(const fx *f, led_event_type type)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->seen_count; i++)
        n += f->seen_log[i].ev.type == type ? 1u : 0u;
    return n;
}

/* The nth (0-based) commit of type seen, which must exist. */
static const led_commit *seen_nth(const fx *f, led_event_type type, uint32_t nth)
{
    for (uint32_t i = 0; i < f->seen_count; i++)
        if (f->seen_log[i].ev.type == type && nth-- == 0) return &f->seen_log[i];
    fail_msg("no commit #%u of type %s", nth, led_event_type_name(type));
    abort(); /* not reached: fail_msg leaves the test */
}

static const led_commit *seen_index(const fx *f, uint64_t index)
{
    for (uint32_t i = 0; i < f->seen_count; i++)
        if (f->seen_log[i].index == index) return &f->seen_log[i];
    fail_msg("no commit with index %llu", (unsigned long long)index);
    abort(); /* not reached: fail_msg leaves the test */
}

/* Wait (bounded) until count commits of type were seen. */
static void seen_wait(fx *f, led_event_type type, uint32_t count)
{
    uint64_t deadline = tk_clock_mono_ns(tk_clock_system()) + WAIT_MS * 1000000ull;
    while (seen_count_of(f, type) < count && tk_clock_mono_ns(tk_clock_system()) < deadline)
        seen_drain(f, 20);
    assert_int_equal(seen_count_of(f, type), count);
}

/* Propose ev as the test's feed, strategy or venue; once the graph is idle, its ledger index
 * (every commit it caused is then on the seen port, and taken). */
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

/* Drive ev and check the ledger applied it. */
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

/* ---- Events -----------------------------------------------------------------------------------
 */

static led_event ev_new(fx *f, led_event_type type)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.version = 1;
    ev.ts_ns = f->ts_ns += 60 * 1000000000LL;
    return ev;
}

/* BTCUSDT, limits (a drawdown and a daily loss limit, the rest wide), and a deposit. */
static void setup_account(fx *f, int64_t max_drawdown_bps, int64_t daily_loss_bps,
                          int64_t deposit_e8)
{
    led_event ev = ev_new(f, LED_EV_INSTRUMENT_DEFINED);
    struct led_ev_instrument_defined *d = &ev.u.instrument_defined;
    strcpy(d->symbol, "BTCUSDT");
    strcpy(d->base, "BTC");
    strcpy(d->quote, "USDT");
    d->tick_e8 = E8 / 100;
    d->lot_e8 = E8 / 100000;
    d->min_notional_e8 = 0;
    (void)drive_applied(f, &ev);
    ev = ev_new(f, LED_EV_RISK_LIMITS_SET);
    struct led_ev_risk_limits_set *l = &ev.u.risk_limits_set;
    l->max_order_notional_e8 = 1000000 * E8;
    l->max_position_notional_e8 = 1000000 * E8;
    l->max_position_equity_bps = 10000;
    l->max_gross_exposure_e8 = 1000000 * E8;
    l->max_open_orders = 100;
    l->price_band_bps = 10000;
    l->daily_loss_bps = daily_loss_bps;
    l->max_drawdown_bps = max_drawdown_bps;
    (void)drive_applied(f, &ev);
    ev = ev_new(f, LED_EV_BALANCE_ADJUSTED);
    strcpy(ev.u.balance_adjusted.asset, "USDT");
    ev.u.balance_adjusted.delta_e8 = deposit_e8;
    strcpy(ev.u.balance_adjusted.reason, "deposit");
    (void)drive_applied(f, &ev);
}

static uint64_t bar(fx *f, int64_t close_e8)
{
    led_event ev = ev_new(f, LED_EV_BAR_CLOSED);
    struct led_ev_bar_closed *b = &ev.u.bar_closed;
    strcpy(b->symbol, "BTCUSDT");
    b->open_ts_ns = ev.ts_ns - 60 * 1000000000LL;
    b->interval_s = 60;
    b->open_e8 = b->high_e8 = b->low_e8 = b->close_e8 = close_e8;
    b->volume_e8 = 10 * E8;
    return drive_applied(f, &ev);
}

static led_event buy_event(fx *f, int64_t qty_e8)
{
    led_event ev = ev_new(f, LED_EV_ORDER_REQUESTED);
    struct led_ev_order_requested *o = &ev.u.order_requested;
    strcpy(o->symbol, "BTCUSDT");
    strcpy(o->strategy, "test");
    o->side = LED_SIDE_BUY;
    o->kind = LED_ORDER_MARKET;
    o->qty_e8 = qty_e8;
    return ev;
}

/* A market buy of qty_e8 BTC, which the gate must accept: its ledger index. */
static uint64_t buy(fx *f, int64_t qty_e8)
{
    led_event ev = buy_event(f, qty_e8);
    return drive_applied(f, &ev);
}

/* A market buy the gate must reject by rule. */
static void buy_rejected(fx *f, int64_t qty_e8, led_rule rule)
{
    led_event ev = buy_event(f, qty_e8);
    const led_commit *c = seen_index(f, drive(f, &ev));
    assert_int_equal(c->outcome.result, LED_REJECTED);
    assert_string_equal(led_rule_id(c->outcome.rule), led_rule_id(rule));
}

static void fill(fx *f, uint64_t order_index, int64_t qty_e8, int64_t price_e8)
{
    led_event ev = ev_new(f, LED_EV_ORDER_FILLED);
    struct led_ev_order_filled *o = &ev.u.order_filled;
    o->order_index = order_index;
    snprintf(o->fill_id, sizeof(o->fill_id), "f%llu", (unsigned long long)order_index);
    o->qty_e8 = qty_e8;
    o->price_e8 = price_e8;
    o->fee_e8 = 0;
    strcpy(o->fee_asset, "USDT");
    (void)drive_applied(f, &ev);
}

static void venue_answer(fx *f, uint64_t order_index, bool reject)
{
    led_event ev = ev_new(f, reject ? LED_EV_ORDER_REJECTED_BY_VENUE : LED_EV_ORDER_ACKED);
    if (reject) {
        ev.u.order_rejected_by_venue.order_index = order_index;
        ev.u.order_rejected_by_venue.code = -2010;
        strcpy(ev.u.order_rejected_by_venue.message, "Account has insufficient balance");
    } else {
        ev.u.order_acked.order_index = order_index;
        snprintf(ev.u.order_acked.venue_order_id, LED_ID_BYTES, "v%llu",
                 (unsigned long long)order_index);
    }
    (void)drive_applied(f, &ev);
}

/* ---- Cases ------------------------------------------------------------------------------------
 */

/* Equity falls 15% from its peak: exactly one KillSwitchSet, with the reason, and its alert
 * POSTed once to the webhook as JSON naming the chat, the event, the reason and the index. */
static void test_drawdown_kill_and_alert(void **state)
{
    fx *f = *state;
    fx_opts o = {.hook = HOOK_OK};
    fx_start(f, &o);
    setup_account(f, 1000, 10000, 10000 * E8);
    (void)bar(f, 10000 * E8); /* the first mark */
    uint64_t order = buy(f, E8 / 2);
    fill(f, order, E8 / 2, 10000 * E8); /* 5,000 USDT and 0.5 BTC: equity 10,000 */
    (void)bar(f, 9000 * E8);            /* 9,500: 500 bps */
    assert_int_equal(seen_count_of(f, LED_EV_KILL_SWITCH_SET), 0);
    uint64_t crash = bar(f, 7000 * E8); /* 8,500: 1,500 bps */
    assert_int_equal(seen_index(f, crash)->equity_e8, 8500 * E8);
    assert_int_equal(seen_count_of(f, LED_EV_KILL_SWITCH_SET), 1);
    const led_commit *k = seen_nth(f, LED_EV_KILL_SWITCH_SET, 0);
    assert_int_equal(k->outcome.result, LED_APPLIED);
    assert_true(k->ev.u.kill_switch_set.on);
    assert_string_equal(k->ev.u.kill_switch_set.reason, "drawdown 1500 bps >= limit 1000 bps");
    assert_true(k->index > crash);
    assert_int_equal(k->ev.ts_ns, seen_index(f, crash)->ev.ts_ns); /* stamped with its cause */
    uint64_t kill_index = k->index;
    (void)bar(f, 6000 * E8); /* further down, the switch on: nothing more */
    (void)bar(f, 5000 * E8);
    assert_int_equal(seen_count_of(f, LED_EV_KILL_SWITCH_SET), 1);

    assert_int_equal(hook_wait(&f->hook, 1, WAIT_MS), 1);
    assert_string_equal(f->hook.content_types[0], "application/json");
    json_error_t error;
    json_t *doc = json_loads(f->hook.bodies[0], JSON_REJECT_DUPLICATES, &error);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "chat_id")), CHAT_ID);
    const char *text = json_string_value(json_object_get(doc, "text"));
    assert_non_null(text);
    char want[128];
    snprintf(want, sizeof(want), "KillSwitchSet on at ledger index %llu",
             (unsigned long long)kill_index);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "drawdown 1500 bps >= limit 1000 bps"));
    json_decref(doc);
    (void)bar(f, 5000 * E8);
    assert_int_equal(hook_wait(&f->hook, 2, 100), 1); /* one alert per event, no repeats */
}

/* Up 5% on day 0, then down 5.71% from the next day's start: daily loss, not drawdown. */
static void test_daily_loss_kill(void **state)
{
    fx *f = *state;
    fx_opts o = {.hook = HOOK_NONE};
    fx_start(f, &o);
    setup_account(f, 10000, 500, 10000 * E8);
    (void)bar(f, 10000 * E8);
    uint64_t order = buy(f, E8 / 2);
    fill(f, order, E8 / 2, 10000 * E8);
    (void)bar(f, 11000 * E8); /* 10,500, the day's last */
    f->ts_ns = (DAY0 + 1) * DAY_NS;
    (void)bar(f, 10600 * E8); /* 10,300: 190 bps of the day's start, 10,500 */
    (void)bar(f, 9960 * E8);  /* 9,980: 495 bps */
    assert_int_equal(seen_count_of(f, LED_EV_KILL_SWITCH_SET), 0);
    (void)bar(f, 9800 * E8); /* 9,900: 571 bps */
    assert_int_equal(seen_count_of(f, LED_EV_KILL_SWITCH_SET), 1);
    const led_commit *k = seen_nth(f, LED_EV_KILL_SWITCH_SET, 0);
    assert_int_equal(k->outcome.result, LED_APPLIED);
    assert_string_equal(k->ev.u.kill_switch_set.reason, "daily loss 571 bps >= limit 500 bps");
    buy_rejected(f, E8 / 100, LED_RULE_KILL_SWITCH); /* the ledger opens nothing more */
    assert_int_equal(seen_count_of(f, LED_EV_KILL_SWITCH_SET), 1);
}

/* Three of the last four orders rejected by the venue: the symbol's breaker trips once, and
 * the ledger's gate then rejects the symbol's orders. */
static void test_venue_rejections_trip_breaker(void **state)
{
    fx *f = *state;
    fx_opts o = {.venue_error_window = 4, .venue_error_max = 3, .hook = HOOK_NONE};
    fx_start(f, &o);
    setup_account(f, 1000, 500, 10000 * E8);
    (void)bar(f, 10000 * E8);
    uint64_t orders[5];
    for (uint32_t i = 0; i < 5; i++)
        orders[i] = buy(f, E8 / 1000);
    venue_answer(f, orders[0], false);
    venue_answer(f, orders[1], true);
    venue_answer(f, orders[2], true);
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 0);
    venue_answer(f, orders[3], true);
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 1);
    const led_commit *b = seen_nth(f, LED_EV_CIRCUIT_BREAKER_SET, 0);
    assert_int_equal(b->outcome.result, LED_APPLIED);
    assert_string_equal(b->ev.u.circuit_breaker_set.symbol, "BTCUSDT");
    assert_true(b->ev.u.circuit_breaker_set.tripped);
    assert_string_equal(b->ev.u.circuit_breaker_set.reason,
                        "venue errors: 3 of the last 4 orders rejected");
    venue_answer(f, orders[4], true); /* tripped already: once per trip */
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 1);
    buy_rejected(f, E8 / 1000, LED_RULE_CIRCUIT_BREAKER);
}

/* With the monitor's clock held, no staleness; past feed_stale_ms without a bar, the breaker
 * trips (once); the next bar resets it; a FeedHealth stale trips it again. */
static void test_feed_stale_and_fresh(void **state)
{
    fx *f = *state;
    fx_opts o = {.feed_stale_ms = 40, .hook = HOOK_NONE}; /* ticks every 10 ms */
    fx_start(f, &o);
    setup_account(f, 1000, 500, 10000 * E8);
    (void)bar(f, 10000 * E8);
    tk_clock_manual_advance(&f->clock, 39 * 1000000ull);
    seen_drain(f, 60); /* several ticks: nothing is stale yet */
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 0);
    tk_clock_manual_advance(&f->clock, 1 * 1000000ull);
    seen_wait(f, LED_EV_CIRCUIT_BREAKER_SET, 1);
    const led_commit *b = seen_nth(f, LED_EV_CIRCUIT_BREAKER_SET, 0);
    assert_int_equal(b->outcome.result, LED_APPLIED);
    assert_true(b->ev.u.circuit_breaker_set.tripped);
    assert_string_equal(b->ev.u.circuit_breaker_set.reason,
                        "feed stale: no bar for 40 ms (limit 40 ms)");
    assert_int_equal(b->ev.ts_ns, DAY0 * DAY_NS + 7 + 40 * 1000000LL); /* the monitor's wall */
    tk_clock_manual_advance(&f->clock, 1000 * 1000000ull);
    seen_drain(f, 40); /* still stale, tripped: once per trip */
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 1);
    (void)bar(f, 10100 * E8); /* fresh: the reset is proposed before the bar is acknowledged */
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 2);
    b = seen_nth(f, LED_EV_CIRCUIT_BREAKER_SET, 1);
    assert_int_equal(b->outcome.result, LED_APPLIED);
    assert_false(b->ev.u.circuit_breaker_set.tripped);
    assert_string_equal(b->ev.u.circuit_breaker_set.reason,
                        "feed fresh: a bar committed after the trip");

    led_event ev = ev_new(f, LED_EV_FEED_HEALTH);
    strcpy(ev.u.feed_health.feed, "binance");
    strcpy(ev.u.feed_health.symbol, "BTCUSDT");
    ev.u.feed_health.status = LED_FEED_STALE;
    strcpy(ev.u.feed_health.detail, "no kline for 90 s");
    (void)drive_applied(f, &ev);
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 3);
    b = seen_nth(f, LED_EV_CIRCUIT_BREAKER_SET, 2);
    assert_true(b->ev.u.circuit_breaker_set.tripped);
    assert_string_equal(b->ev.u.circuit_breaker_set.reason,
                        "feed stale: binance: no kline for 90 s");
    (void)bar(f, 10100 * E8);
    assert_int_equal(seen_count_of(f, LED_EV_CIRCUIT_BREAKER_SET), 4);
    assert_false(seen_nth(f, LED_EV_CIRCUIT_BREAKER_SET, 3)->ev.u.circuit_breaker_set.tripped);
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) return false;
    static char buf[1u << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1u, file);
    fclose(file);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* A webhook that answers 400: the failure is logged and the monitor goes on (it still
 * acknowledges, proposes and alerts). An operator's breaker trip is alerted too. */
static void test_webhook_failure_is_logged(void **state)
{
    fx *f = *state;
    snprintf(f->log_path, sizeof(f->log_path), "/tmp/risk_test_%d.log", (int)getpid());
    unlink(f->log_path);
    tk_log_opts lo = {.path = f->log_path, .clock = tk_clock_system(), .level = TK_LOG_INFO};
    assert_int_equal(tk_log_open(&lo), TK_OK);
    fx_opts o = {.hook = HOOK_BAD_REQUEST};
    fx_start(f, &o);
    setup_account(f, 1000, 500, 10000 * E8);
    led_event ev = ev_new(f, LED_EV_CIRCUIT_BREAKER_SET);
    strcpy(ev.u.circuit_breaker_set.symbol, "BTCUSDT");
    ev.u.circuit_breaker_set.tripped = true;
    strcpy(ev.u.circuit_breaker_set.reason, "operator: maintenance");
    uint64_t index = drive_applied(f, &ev);
    assert_int_equal(hook_wait(&f->hook, 1, WAIT_MS), 1);
    assert_non_null(strstr(f->hook.bodies[0], "operator: maintenance"));
    uint64_t deadline = tk_clock_mono_ns(tk_clock_system()) + WAIT_MS * 1000000ull;
    bool logged = false;
    while (!logged && tk_clock_mono_ns(tk_clock_system()) < deadline) {
        logged = file_contains(f->log_path, "webhook alert failed");
        if (!logged) seen_drain(f, 10); /* a short, bounded pause */
    }
    assert_true(logged);
    assert_true(file_contains(f->log_path, "\"status\":400"));
    assert_false(file_contains(f->log_path, f->hook.url)); /* the URL may hold a token */
    (void)index;
    (void)bar(f, 10000 * E8); /* alive: IDLE needs its acknowledgement */
    act_reason reason;
    EXPECT_ERR(act_port_wait_exit(f->driver, f->monitor, 20, &reason), TK_ETIMEDOUT);
}

/* Bad input ends the monitor through act_fail (its supervisor would restart it); the process
 * goes on. */
/* Watch ref from the driver port and wait for its DOWN: the reason it exited with. */
static act_reason down_of(fx *f, act_ref ref, uint64_t monitor_id)
{
    for (uint32_t i = 0; i < SEEN_MAX; i++) {
        act_msg *msg = NULL;
        assert_int_equal(act_port_receive(f->driver, WAIT_MS, &msg), TK_OK);
        if (seen_take(f, msg)) continue;
        assert_int_equal(msg->type, ACT_MSG_DOWN);
        assert_int_equal(msg->correlation, monitor_id);
        act_exit_info info;
        memcpy(&info, msg->data, sizeof(info));
        act_msg_free(f->sys, msg);
        assert_true(act_ref_eq(info.from, ref));
        return info.reason;
    }
    fail_msg("no DOWN");
    return act_reason_of(ACT_REASON_NORMAL);
}

/* Bad input ends the monitor through act_fail (its supervisor would restart it); the process
 * goes on. */
static void test_bad_messages_end_the_actor(void **state)
{
    fx *f = *state;
    fx_opts o = {.hook = HOOK_NONE};
    fx_start(f, &o);
    uint64_t id = 0;
    assert_int_equal(act_monitor(f->sys, act_port_ref(f->driver), f->monitor, &id), TK_OK);
    uint32_t junk = 7;
    assert_int_equal(act_send_data(f->sys, f->monitor, ACT_REF_NONE, ACT_MSG_USER + 0x7777u, &junk,
                                   sizeof(junk)),
                     TK_OK);
    act_reason reason = down_of(f, f->monitor, id);
    assert_int_equal(reason.kind, ACT_REASON_ERROR);
    assert_int_equal(reason.err, TK_EINVAL);
    assert_non_null(strstr(reason.detail, "unexpected message type"));

    risk_monitor_opts mo;
    monitor_opts(f, &o, &mo);
    act_ref ref;
    assert_int_equal(risk_monitor_spawn(f->sys, &mo, &ref), TK_OK);
    assert_int_equal(act_monitor(f->sys, act_port_ref(f->driver), ref, &id), TK_OK);
    assert_int_equal(act_send_data(f->sys, ref, ACT_REF_NONE, LED_MSG_COMMITTED, &junk, 0), TK_OK);
    reason = down_of(f, ref, id);
    assert_int_equal(reason.kind, ACT_REASON_ERROR);
    assert_non_null(strstr(reason.detail, "a commit without its event"));
}

static void test_spawn_refuses_bad_options(void **state)
{
    fx *f = *state;
    fx_opts o = {.hook = HOOK_NONE};
    fx_start(f, &o);
    risk_monitor_opts mo;
    act_ref ref;
    monitor_opts(f, &o, &mo);
    mo.mailbox_capacity = 3;
    EXPECT_ERR(risk_monitor_spawn(f->sys, &mo, &ref), TK_EINVAL);
    monitor_opts(f, &o, &mo);
    mo.clock = NULL;
    EXPECT_ERR(risk_monitor_spawn(f->sys, &mo, &ref), TK_EINVAL);
    monitor_opts(f, &o, &mo);
    mo.watch.venue_error_window = 2;
    mo.watch.venue_error_max = 3;
    EXPECT_ERR(risk_monitor_spawn(f->sys, &mo, &ref), TK_EINVAL);
    monitor_opts(f, &o, &mo);
    mo.webhook_url = "http://127.0.0.1:9/hook"; /* no HTTP service */
    mo.http = NULL;
    EXPECT_ERR(risk_monitor_spawn(f->sys, &mo, &ref), TK_EINVAL);
    static char long_url[NET_URL_BYTES + 8u];
    memset(long_url, 'a', sizeof(long_url) - 1u);
    mo.http = (net_http *)1; /* never used: the URL is refused first */
    mo.webhook_url = long_url;
    EXPECT_ERR(risk_monitor_spawn(f->sys, &mo, &ref), TK_EINVAL);
    mo.webhook_url = "http://127.0.0.1:9/hook";
    mo.webhook_chat_id = "";
    EXPECT_ERR(risk_monitor_spawn(f->sys, &mo, &ref), TK_EINVAL);
}

int risk_test_monitor(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drawdown_kill_and_alert, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_daily_loss_kill, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_venue_rejections_trip_breaker, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_feed_stale_and_fresh, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_failure_is_logged, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_messages_end_the_actor, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_refuses_bad_options, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("risk/monitor", tests, NULL, NULL);
}
