/* feeds/feed_live.c, the live Binance feed, end to end: a real actor system, the real local
 * journal in memory (cluster/: clu_local_open with no store, and its journal actor registered
 * as "journal", so that every proposal is checked and applied by the ledger), the HTTP client
 * service (net/) and the Binance mock (tools/binance_mock.py) serving the recorded klines or
 * candles the test loads through /mock/klines. A manual clock's wall time makes the historical
 * candles "live". What the journal committed is recorded by a journal subscriber; what the feed
 * asked is read from the mock's request log (/mock/log).
 *
 * Cases: the recorded real klines give exactly their closed bars (the forming one only once its
 * close has passed); no start gives the latest closed bar only; a start 2,500 bars behind pages
 * through 3 requests without a duplicate or a hole, through a journal whose mailbox refuses
 * most of each page; a hole in the venue's data gives one FeedHealth gap before the bar after
 * it; 429 and 418 are waited out for their Retry-After, measured; a bar overdue gives FeedHealth
 * stale once, then ok once before the bar that ends it; 5xx, error answers, and unexpected
 * messages neither stop the feed nor make it spin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clu.h"
#include "feed.h"
#include "feeds_tests.h"
#include "tk_test.h"

#define WAIT_MS    20000u /* anything awaited happens within this, or the test fails */
#define POLL_MS    50u    /* the feed's poll in these tests */
#define EVENTS_MAX 4096u  /* events one test may commit */
#define MINUTE_MS  60000LL
#define T0_MS      1577836800000LL /* 2020-01-01T00:00:00Z: the loaded candles' first open */
#define NS_PER_MS  1000000LL
/* stale_after_ms for the tests about other things: a start many bars behind whose first answer
 * fails is stale, rightly (the ledger lacks those bars), and would add FeedHealth events */
#define STALE_NEVER_MS 86400000u

/* The recorded real klines (../shared/data/rest/binance_spot_real/http_spot_market_klines.json):
 * 10 one-minute BTCUSDT klines, the last one captured while forming. */
#define REC_FIRST_MS 1634943780000LL
#define REC_LAST_MS  1634944320000LL
#define REC_COUNT    10u

/* Every event the journal committed, in order: written by the journal's thread, read by the
 * test's (count is published with release after the slot is written). */
typedef struct recorder {
    led_event events[EVENTS_MAX];
    led_result results[EVENTS_MAX];
    _Atomic size_t count;
} recorder;

static struct {
    tk_test_mock mock;
    act_system *sys;
    act_port *port; /* the test's: control requests to the mock */
    net_http *http;
    clu_journal *journal;
    tk_clock_manual clock;
    recorder *rec;
    feed_binance_stats stats;
    act_ref feed;
} g;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_mono_ms(void)
{
    return tk_clock_mono_ns(tk_clock_system()) / 1000000u;
}

static void on_commit(void *arg, uint64_t index, const led_event *ev, const led_outcome *outcome)
{
    (void)index;
    recorder *rec = arg;
    size_t n = atomic_load_explicit(&rec->count, memory_order_relaxed);
    TK_ASSERT(n < EVENTS_MAX);
    rec->events[n] = *ev;
    rec->results[n] = outcome->result;
    /* release: the slot is written before the test's acquire load sees the count */
    atomic_store_explicit(&rec->count, n + 1, memory_order_release);
}

static size_t committed(void)
{
    return atomic_load_explicit(&g.rec->count, memory_order_acquire);
}

/* Wait until the journal committed at least n events (the instrument's definition is the
 * first). */
static void wait_committed(size_t n)
{
    uint64_t deadline = now_mono_ms() + WAIT_MS;
    while (committed() < n) {
        if (now_mono_ms() > deadline)
            fail_msg("waited %u ms for %zu events, the journal has %zu", WAIT_MS, n, committed());
        sleep_ms(5);
    }
}

static void set_wall_ms(int64_t ms)
{
    tk_clock_manual_set_wall(&g.clock, ms * NS_PER_MS);
}

/* ---- Talking to the mock -------------------------------------------------------------------- */

static net_response *mock_call(net_method method, const char *path, const char *body)
{
    static uint64_t tags;
    net_request *req = malloc(sizeof(*req));
    assert_non_null(req);
    net_request_init(req);
    req->method = method;
    snprintf(req->url, sizeof(req->url), "%s%s", g.mock.url, path);
    if (body != NULL) {
        req->body = strdup(body);
        assert_non_null(req->body);
        req->body_size = strlen(body);
        req->content_type = "application/json";
    }
    uint64_t tag = req->tag = ++tags;
    assert_int_equal(net_http_send(g.http, act_port_ref(g.port), req), TK_OK);
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(g.port, WAIT_MS, &msg), TK_OK);
    assert_int_equal(msg->type, NET_MSG_RESPONSE);
    assert_int_equal(msg->correlation, tag);
    net_response *resp = msg->ptr;
    msg->ptr = NULL;
    act_msg_free(g.sys, msg);
    assert_int_equal(resp->err, TK_OK);
    if (resp->status != 200) fail_msg("%s: HTTP %ld: %s", path, resp->status, resp->body);
    return resp;
}

static void mock_post(const char *path, const char *body)
{
    net_response_free(mock_call(NET_POST, path, body));
}

static void mock_fault(const char *kind, unsigned retry_after_s)
{
    char body[160];
    snprintf(body, sizeof(body),
             "{\"kind\": \"%s\", \"count\": 1, \"path\": \"/api/v3/klines\", \"retry_after\": %u}",
             kind, retry_after_s);
    mock_post("/mock/fault", body);
}

/* Serve (or append) 1-minute candles at T0 + i minutes for i in [from, to), except the open
 * times in [hole_from, hole_to); candle i's prices are 100 + i. */
static void mock_candles(unsigned from, unsigned to, unsigned hole_from, unsigned hole_to,
                         bool append)
{
    size_t size = 128u + (size_t)(to - from) * 96u;
    char *csv = malloc(size), *body = malloc(size + 64u);
    assert_non_null(csv);
    assert_non_null(body);
    size_t at = (size_t)snprintf(csv, size, "open_time_ms,open,high,low,close,volume\\n");
    for (unsigned i = from; i < to; i++) {
        if (i >= hole_from && i < hole_to) continue;
        at += (size_t)snprintf(csv + at, size - at, "%lld,%u.5,%u,%u,%u.25,%u.125\\n",
                               (long long)(T0_MS + (int64_t)i * MINUTE_MS), 100 + i, 101 + i,
                               99 + i, 100 + i, i % 7);
        assert_true(at < size);
    }
    snprintf(body, size + 64u, "{\"csv\": \"%s\", \"append\": %s}", csv, append ? "true" : "false");
    mock_post("/mock/klines", body);
    free(csv);
    free(body);
}

typedef struct logged {
    double time_ms;
    int64_t start_ms, end_ms;
    char fault[16];
    char interval[8];
} logged;

/* The klines requests the mock saw, oldest first; returns how many (at most max). */
static size_t mock_klines_log(logged *out, size_t max)
{
    net_response *resp = mock_call(NET_GET, "/mock/log", NULL);
    json_error_t jerr;
    json_t *root = json_loads(resp->body, 0, &jerr);
    assert_non_null(root);
    json_t *requests = json_object_get(root, "requests");
    assert_true(json_is_array(requests));
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(requests); i++) {
        json_t *r = json_array_get(requests, i);
        if (strcmp(json_string_value(json_object_get(r, "path")), "/api/v3/klines") != 0) continue;
        assert_true(n < max);
        const char *query = json_string_value(json_object_get(r, "query"));
        const char *start = strstr(query, "startTime="), *end = strstr(query, "endTime=");
        assert_non_null(start);
        assert_non_null(end);
        out[n].time_ms = json_real_value(json_object_get(r, "time_ms"));
        out[n].start_ms = strtoll(start + strlen("startTime="), NULL, 10);
        out[n].end_ms = strtoll(end + strlen("endTime="), NULL, 10);
        const char *interval = strstr(query, "interval=");
        assert_non_null(interval);
        interval += strlen("interval=");
        snprintf(out[n].interval, sizeof(out[n].interval), "%.*s", (int)strcspn(interval, "&"),
                 interval);
        json_t *fault = json_object_get(r, "fault");
        snprintf(out[n].fault, sizeof(out[n].fault), "%s",
                 json_is_string(fault) ? json_string_value(fault) : "");
        n++;
    }
    json_decref(root);
    net_response_free(resp);
    return n;
}

/* ---- Fixture -------------------------------------------------------------------------------- */

static int group_setup(void **unused)
{
    (void)unused;
    return tk_test_mock_start(TK_SOURCE_DIR, &g.mock) ? 0 : -1;
}

static int group_teardown(void **unused)
{
    (void)unused;
    tk_test_mock_stop(&g.mock);
    return 0;
}

/* A system with the journal (BTCUSDT defined) behind a mailbox of journal_mailbox messages. */
static void start(uint32_t journal_mailbox)
{
    g.rec = calloc(1, sizeof(*g.rec));
    assert_non_null(g.rec);
    memset(&g.stats, 0, sizeof(g.stats));
    tk_clock_manual_init(&g.clock, 0, 0);
    clu_local_opts jo = {
        .store = NULL, .batch_events_max = 64, .checkpoint_every = 0, .deliver_on_apply = true};
    es_error why = {{0}};
    assert_int_equal(clu_local_open(&jo, &g.journal, &why), TK_OK);
    assert_int_equal(clu_journal_subscribe(g.journal, on_commit, g.rec), TK_OK);
    led_event def;
    memset(&def, 0, sizeof(def));
    def.type = LED_EV_INSTRUMENT_DEFINED;
    def.version = 1;
    strcpy(def.u.instrument_defined.symbol, "BTCUSDT");
    strcpy(def.u.instrument_defined.base, "BTC");
    strcpy(def.u.instrument_defined.quote, "USDT");
    def.u.instrument_defined.tick_e8 = def.u.instrument_defined.lot_e8 = 1;
    assert_int_equal(clu_journal_propose(g.journal, &def, NULL, &why), TK_OK);
    act_system_opts so = {
        .threads = 1, .actors_max = 64, .msgs_max = 8192, .clock = tk_clock_system()};
    assert_int_equal(act_system_open(&so, &g.sys), TK_OK);
    act_ref ref;
    assert_int_equal(clu_journal_actor_spawn(g.sys, g.journal, journal_mailbox, &ref), TK_OK);
    assert_int_equal(act_port_open(g.sys, 64, &g.port), TK_OK);
    assert_int_equal(net_http_open(g.sys, NULL, &g.http), TK_OK);
    mock_post("/mock/reset", NULL);
    wait_committed(1);
}

static int teardown(void **unused)
{
    (void)unused;
    if (!act_ref_is_none(g.feed)) { /* http is borrowed by the feed: it stops first */
        act_reason stop = act_reason_of(ACT_REASON_SHUTDOWN);
        if (act_exit(g.sys, act_port_ref(g.port), g.feed, &stop) == TK_OK)
            assert_int_equal(act_port_wait_exit(g.port, g.feed, WAIT_MS, NULL), TK_OK);
        g.feed = ACT_REF_NONE;
    }
    net_http_close(g.http);
    act_port_close(g.port);
    act_system_close(g.sys);
    clu_journal_close(g.journal);
    free(g.rec);
    g.sys = NULL;
    g.journal = NULL;
    g.rec = NULL;
    return 0;
}

static feed_binance_opts opts_of(const char *interval, int64_t start_ms, uint32_t stale_after_ms)
{
    feed_binance_opts o;
    memset(&o, 0, sizeof(o));
    o.http = g.http;
    snprintf(o.base_url, sizeof(o.base_url), "%s", g.mock.url);
    snprintf(o.symbol, sizeof(o.symbol), "BTCUSDT");
    snprintf(o.interval, sizeof(o.interval), "%s", interval);
    o.start_ms = start_ms;
    o.poll_ms = POLL_MS;
    o.stale_after_ms = stale_after_ms;
    o.weight_limit_1m = 6000;
    o.clock = &g.clock.clock;
    o.stale_at_start = false;
    o.stats = &g.stats;
    o.mailbox_capacity = 16;
    return o;
}

static void spawn(const feed_binance_opts *o)
{
    assert_int_equal(feed_binance_spawn(g.sys, o, &g.feed), TK_OK);
}

/* ---- Checks --------------------------------------------------------------------------------- */

/* The committed event at i (0 is the instrument's definition), which the ledger applied. */
static const led_event *event_at(size_t i)
{
    assert_true(i < committed());
    if (g.rec->results[i] != LED_APPLIED)
        fail_msg("event %zu (type %d) was not applied: %s", i, (int)g.rec->events[i].type,
                 led_result_name(g.rec->results[i]));
    return &g.rec->events[i];
}

static void expect_bar(size_t i, int64_t open_ms, int64_t open_e8, int64_t high_e8, int64_t low_e8,
                       int64_t close_e8, int64_t volume_e8)
{
    const led_event *ev = event_at(i);
    if (ev->type != LED_EV_BAR_CLOSED)
        fail_msg("event %zu: type %d (detail '%s'), want a BarClosed of %" PRId64, i, (int)ev->type,
                 ev->u.feed_health.detail, open_ms);
    const struct led_ev_bar_closed *b = &ev->u.bar_closed;
    assert_string_equal(b->symbol, "BTCUSDT");
    assert_int_equal(b->open_ts_ns, open_ms * NS_PER_MS);
    assert_int_equal(b->interval_s, 60);
    assert_int_equal(ev->ts_ns, (open_ms + MINUTE_MS) * NS_PER_MS); /* the close */
    assert_int_equal(b->open_e8, open_e8);
    assert_int_equal(b->high_e8, high_e8);
    assert_int_equal(b->low_e8, low_e8);
    assert_int_equal(b->close_e8, close_e8);
    assert_int_equal(b->volume_e8, volume_e8);
}

/* Candle i as mock_candles serves it. */
static void expect_candle(size_t at, unsigned i)
{
    int64_t e8 = LED_SCALE;
    expect_bar(at, T0_MS + (int64_t)i * MINUTE_MS, (100 + i) * e8 + e8 / 2, (101 + i) * e8,
               (99 + i) * e8, (100 + i) * e8 + e8 / 4, (i % 7) * e8 + e8 / 8);
}

static void expect_health(size_t i, led_feed_status status, const char *detail)
{
    const led_event *ev = event_at(i);
    if (ev->type != LED_EV_FEED_HEALTH)
        fail_msg("event %zu: type %d, want a FeedHealth %d", i, (int)ev->type, (int)status);
    const struct led_ev_feed_health *h = &ev->u.feed_health;
    assert_string_equal(h->feed, "binance");
    assert_string_equal(h->symbol, "BTCUSDT");
    assert_int_equal(h->status, status);
    if (detail != NULL) assert_string_equal(h->detail, detail);
}

/* Nothing more is committed for quiet_ms (several polls). */
static void expect_quiet(size_t count, unsigned quiet_ms)
{
    sleep_ms(quiet_ms);
    assert_int_equal(committed(), count);
}

static int64_t e8_of(const char *text)
{
    int64_t v = 0;
    assert_int_equal(led_parse(text, strlen(text), &v, NULL), TK_OK);
    return v;
}

/* The recorded kline i's bar, compared with the committed event at. */
static void expect_recorded(json_t *rows, size_t at, size_t i)
{
    json_t *row = json_array_get(rows, i);
    expect_bar(at, (int64_t)json_integer_value(json_array_get(row, 0)),
               e8_of(json_string_value(json_array_get(row, 1))),
               e8_of(json_string_value(json_array_get(row, 2))),
               e8_of(json_string_value(json_array_get(row, 3))),
               e8_of(json_string_value(json_array_get(row, 4))),
               e8_of(json_string_value(json_array_get(row, 5))));
}

static json_t *recorded_klines(void)
{
    char dir[512], path[640];
    const char *env = getenv("TROIKA_DATA");
    snprintf(dir, sizeof(dir), "%s", env != NULL && env[0] != '\0' ? env : TK_SOURCE_DIR);
    if (env == NULL || env[0] == '\0')
        strncat(dir, "/../shared/data", sizeof(dir) - 1 - strlen(dir));
    snprintf(path, sizeof(path), "%s/rest/binance_spot_real/http_spot_market_klines.json", dir);
    json_error_t jerr;
    json_t *rows = json_load_file(path, 0, &jerr);
    if (rows == NULL) fail_msg("%s: %s", path, jerr.text);
    assert_int_equal(json_array_size(rows), REC_COUNT);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(rows, 0), 0)), REC_FIRST_MS);
    return rows;
}

/* ---- Tests ---------------------------------------------------------------------------------- */

/* The recorded real klines: the 9 closed ones, in order, once each; the forming one only once
 * the clock has passed its close. */
static void test_recorded_klines_closed_only(void **unused)
{
    (void)unused;
    json_t *rows = recorded_klines();
    start(64);
    set_wall_ms(REC_LAST_MS + 30000); /* the last kline is 30 s into its minute: forming */
    feed_binance_opts o = opts_of("1m", REC_FIRST_MS, 120000);
    spawn(&o);
    wait_committed(1 + REC_COUNT - 1);
    expect_quiet(1 + REC_COUNT - 1, 8 * POLL_MS);
    for (size_t i = 0; i + 1 < REC_COUNT; i++)
        expect_recorded(rows, 1 + i, i);
    logged log[8];
    size_t n = mock_klines_log(log, 8);
    assert_true(n >= 1);
    assert_int_equal(log[0].start_ms, REC_FIRST_MS);
    assert_int_equal(log[0].end_ms, REC_LAST_MS + 30000); /* endTime = now: the forming one too */
    set_wall_ms(REC_LAST_MS + MINUTE_MS);                 /* its close: now it is a closed bar */
    wait_committed(1 + REC_COUNT);
    expect_recorded(rows, REC_COUNT, REC_COUNT - 1);
    expect_quiet(1 + REC_COUNT, 8 * POLL_MS);
    assert_int_equal(atomic_load(&g.stats.bars), REC_COUNT);
    assert_int_equal(atomic_load(&g.stats.gaps), 0);
    assert_int_equal(atomic_load(&g.stats.failures), 0);
    assert_int_equal(atomic_load(&g.stats.next_open_ms), REC_LAST_MS + MINUTE_MS);
    json_decref(rows);
}

/* No start: the latest closed bar is the first proposed, nothing before it. */
static void test_no_start_takes_the_latest_closed_bar(void **unused)
{
    (void)unused;
    json_t *rows = recorded_klines();
    start(64);
    set_wall_ms(REC_LAST_MS + 30000);
    feed_binance_opts o = opts_of("1m", 0, 120000);
    spawn(&o);
    wait_committed(2);
    expect_quiet(2, 8 * POLL_MS);
    expect_recorded(rows, 1, REC_COUNT - 2);
    json_decref(rows);
}

/* 2,500 bars behind: 3 pages of up to 1000, every bar once and in order, no FeedHealth, though
 * the journal's mailbox (64) refuses most of each page and the feed goes on after a pause. */
static void test_backfill_pages_without_duplicates_or_holes(void **unused)
{
    (void)unused;
    enum { BARS = 2500 };
    start(64);
    mock_candles(0, BARS, 0, 0, false);
    set_wall_ms(T0_MS + BARS * MINUTE_MS + 30000); /* all closed, the next one forming */
    feed_binance_opts o = opts_of("1m", T0_MS, 120000);
    spawn(&o);
    wait_committed(1 + BARS);
    expect_quiet(1 + BARS, 8 * POLL_MS);
    for (unsigned i = 0; i < BARS; i++)
        expect_candle(1 + i, i);
    logged log[8];
    assert_int_equal(mock_klines_log(log, 8), 3); /* then caught up: the next bar is not due */
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(log[i].start_ms, T0_MS + (int64_t)i * 1000 * MINUTE_MS);
    assert_true(atomic_load(&g.stats.refused) > 0); /* the journal's back-pressure was met */
    assert_int_equal(atomic_load(&g.stats.bars), BARS);
    assert_int_equal(atomic_load(&g.stats.requests), 3);
}

/* Open times 13, 14 and 15 missing at the venue: one FeedHealth gap, right before bar 16. */
static void test_hole_gives_one_gap_before_the_next_bar(void **unused)
{
    (void)unused;
    start(64);
    mock_candles(0, 20, 13, 16, false);
    set_wall_ms(T0_MS + 20 * MINUTE_MS);
    feed_binance_opts o = opts_of("1m", T0_MS, 120000);
    spawn(&o);
    wait_committed(1 + 17 + 1);
    expect_quiet(1 + 17 + 1, 8 * POLL_MS);
    for (unsigned i = 0; i < 13; i++)
        expect_candle(1 + i, i);
    expect_health(14, LED_FEED_GAP, "3 bars missing before 2020-01-01T00:16:00Z");
    assert_int_equal(event_at(14)->ts_ns, (T0_MS + 16 * MINUTE_MS) * NS_PER_MS);
    for (unsigned i = 16; i < 20; i++)
        expect_candle(15 + i - 16, i);
    assert_int_equal(atomic_load(&g.stats.gaps), 1);
}

/* The first request answered 429 with Retry-After 2: no request for 2 s, then the bars. Caught
 * up, the next poll answered 418 with Retry-After 1: no request for 1 s, then the new bar. */
static void test_429_and_418_wait_for_retry_after(void **unused)
{
    (void)unused;
    start(64);
    mock_candles(0, 20, 0, 0, false);
    mock_fault("429", 2);
    set_wall_ms(T0_MS + 20 * MINUTE_MS);
    feed_binance_opts o = opts_of("1m", T0_MS, STALE_NEVER_MS);
    spawn(&o);
    wait_committed(1 + 20);
    logged log[8];
    assert_int_equal(mock_klines_log(log, 8), 2);
    assert_string_equal(log[0].fault, "429");
    assert_string_equal(log[1].fault, "");
    double waited_ms = log[1].time_ms - log[0].time_ms;
    if (waited_ms < 2000.0 || waited_ms > 2000.0 + 1500.0)
        fail_msg("asked again %.0f ms after the 429, want 2000 ms (and within a few polls)",
                 waited_ms);
    mock_candles(20, 21, 0, 0, true);
    mock_fault("418", 1);
    set_wall_ms(T0_MS + 21 * MINUTE_MS);
    wait_committed(1 + 21);
    expect_candle(21, 20);
    assert_int_equal(mock_klines_log(log, 8), 4);
    assert_string_equal(log[2].fault, "418");
    assert_int_equal(log[3].start_ms, T0_MS + 20 * MINUTE_MS);
    waited_ms = log[3].time_ms - log[2].time_ms;
    if (waited_ms < 1000.0 || waited_ms > 1000.0 + 1500.0)
        fail_msg("asked again %.0f ms after the 418, want 1000 ms", waited_ms);
    assert_int_equal(atomic_load(&g.stats.waits), 2);
    expect_quiet(1 + 21, 4 * POLL_MS);
    for (unsigned i = 0; i < 21; i++)
        expect_candle(1 + i, i);
}

/* Bar 10 due at its close + 5 s and the venue has nothing: FeedHealth stale, once. Bar 10
 * then comes: FeedHealth ok, once, then the bar. */
static void test_stale_then_ok(void **unused)
{
    (void)unused;
    start(64);
    mock_candles(0, 10, 0, 0, false);
    set_wall_ms(T0_MS + 10 * MINUTE_MS + 1000);
    feed_binance_opts o = opts_of("1m", T0_MS, 5000);
    spawn(&o);
    wait_committed(1 + 10);
    set_wall_ms(T0_MS + 11 * MINUTE_MS + 4999); /* bar 10 closed, not yet late */
    expect_quiet(1 + 10, 8 * POLL_MS);
    set_wall_ms(T0_MS + 11 * MINUTE_MS + 5000); /* late */
    wait_committed(1 + 11);
    expect_health(11, LED_FEED_STALE,
                  "the bar of 2020-01-01T00:10:00Z not received 5 s after its close");
    assert_int_equal(event_at(11)->ts_ns, (T0_MS + 11 * MINUTE_MS + 5000) * NS_PER_MS);
    set_wall_ms(T0_MS + 11 * MINUTE_MS + 30000); /* later still: no second stale */
    expect_quiet(1 + 11, 8 * POLL_MS);
    mock_candles(10, 11, 0, 0, true);
    wait_committed(1 + 13);
    expect_health(12, LED_FEED_OK, NULL);
    expect_candle(13, 10);
    expect_quiet(1 + 13, 8 * POLL_MS);
    assert_int_equal(atomic_load(&g.stats.stale), 1);
    for (unsigned i = 0; i < 10; i++)
        expect_candle(1 + i, i);
}

/* 5xx beyond the service's retries, an error answer for every request (an interval the venue
 * does not serve), and a message of no known type: the feed logs, keeps polling once a poll
 * (no faster), and proposes the bars once the venue answers. */
static void test_failures_neither_stop_it_nor_make_it_spin(void **unused)
{
    (void)unused;
    start(64);
    mock_candles(0, 5, 0, 0, false);
    set_wall_ms(T0_MS + 30 * MINUTE_MS);
    feed_binance_opts o = opts_of("5m", T0_MS, STALE_NEVER_MS); /* the mock serves 1m: -1120 */
    spawn(&o);
    sleep_ms(20 * POLL_MS);
    uint64_t requests = atomic_load(&g.stats.requests);
    uint64_t failures = atomic_load(&g.stats.failures);
    assert_true(failures >= 5);
    assert_true(failures <= requests);
    if (requests > 20 + 3) fail_msg("%" PRIu64 " requests in 20 polls: spinning", requests);
    assert_int_equal(committed(), 1);
    /* messages of no known type, and an answer with no response in it */
    assert_int_equal(act_send_data(g.sys, g.feed, ACT_REF_NONE, ACT_MSG_USER + 77, "x", 1), TK_OK);
    assert_int_equal(act_send_data(g.sys, g.feed, ACT_REF_NONE, NET_MSG_RESPONSE, NULL, 0), TK_OK);
    sleep_ms(4 * POLL_MS);
    assert_true(atomic_load(&g.stats.requests) > requests); /* still polling */
    uint64_t monitor = 0;
    assert_int_equal(act_monitor(g.sys, act_port_ref(g.port), g.feed, &monitor), TK_OK);
    act_reason stop = act_reason_of(ACT_REASON_SHUTDOWN);
    assert_int_equal(act_exit(g.sys, act_port_ref(g.port), g.feed, &stop), TK_OK); /* alive */
    act_msg *down = NULL;
    assert_int_equal(act_port_receive(g.port, WAIT_MS, &down), TK_OK);
    assert_int_equal(down->type, ACT_MSG_DOWN);
    act_exit_info info;
    memcpy(&info, down->data, sizeof(info));
    act_msg_free(g.sys, down);
    assert_int_equal(info.reason.kind, ACT_REASON_SHUTDOWN); /* stopped by us, not failed */
    sleep_ms(4 * POLL_MS); /* its last request answered: it draws none of the faults below */
    /* a feed on the interval served, behind 5xx answers past the service's retries (4 attempts
     * a request: 2 requests fail) */
    mock_post("/mock/fault", "{\"kind\": \"5xx\", \"count\": 8, \"path\": \"/api/v3/klines\"}");
    memset(&g.stats, 0, sizeof(g.stats));
    o = opts_of("1m", T0_MS, STALE_NEVER_MS);
    spawn(&o);
    wait_committed(1 + 5);
    expect_quiet(1 + 5, 4 * POLL_MS);
    for (unsigned i = 0; i < 5; i++)
        expect_candle(1 + i, i);
    assert_int_equal(atomic_load(&g.stats.failures), 2);
    logged log[256];
    size_t n = mock_klines_log(log, 256), first = 0;
    while (first < n && strcmp(log[first].interval, "1m") != 0)
        first++;
    assert_true(first + 8 < n);
    for (size_t i = first; i < first + 8; i++) /* 8 answers of 5xx, in 2 requests */
        assert_string_equal(log[i].fault, "5xx");
    assert_string_equal(log[first + 8].fault, "");
}

/* Options the feed refuses. */
static void test_spawn_refuses_bad_options(void **unused)
{
    (void)unused;
    start(64);
    act_ref ref;
    feed_binance_opts o = opts_of("1m", 0, 1000);
    o.http = NULL;
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
    o = opts_of("2m", 0, 1000);
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
    o = opts_of("1m", 0, 1000);
    snprintf(o.symbol, sizeof(o.symbol), "btc-usdt");
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
    o = opts_of("1m", -1, 1000);
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
    o = opts_of("1m", 0, 1000);
    o.poll_ms = 0;
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
    o = opts_of("1m", 0, 1000);
    o.mailbox_capacity = 3;
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
    o = opts_of("1m", 0, 1000);
    o.weight_limit_1m = 0;
    assert_int_equal(feed_binance_spawn(g.sys, &o, &ref), TK_EINVAL);
}

/* The pacing both the feed and `troika data download` use. */
static void test_pace(void **unused)
{
    (void)unused;
    net_response resp;
    memset(&resp, 0, sizeof(resp));
    char headers[256];
    resp.headers = headers;
    feed_binance_pace p;
    resp.status = 200;
    snprintf(headers, sizeof(headers), "HTTP/1.1 200 OK\r\nX-MBX-USED-WEIGHT-1M: 999\r\n\r\n");
    feed_binance_pace_of(&resp, T0_MS + 12345, 1000, &p);
    assert_int_equal(p.wait_ms, 0);
    assert_int_equal(p.used_weight_1m, 999);
    assert_int_equal(p.retry_after_s, -1);
    snprintf(headers, sizeof(headers), "HTTP/1.1 200 OK\r\nX-MBX-USED-WEIGHT-1M: 1000\r\n\r\n");
    feed_binance_pace_of(&resp, T0_MS + 12345, 1000, &p);
    assert_int_equal(p.wait_ms, 60000 - 12345 + 100); /* to the next UTC minute */
    feed_binance_pace_of(&resp, T0_MS + 12345, 0, &p);
    assert_int_equal(p.wait_ms, 0); /* no limit */
    resp.status = 429;
    snprintf(headers, sizeof(headers), "HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\n\r\n");
    feed_binance_pace_of(&resp, T0_MS, 1000, &p);
    assert_int_equal(p.wait_ms, 7000);
    assert_int_equal(p.retry_after_s, 7);
    assert_int_equal(p.used_weight_1m, -1);
    resp.status = 418;
    snprintf(headers, sizeof(headers), "HTTP/1.1 418 I'm a teapot\r\n\r\n");
    feed_binance_pace_of(&resp, T0_MS, 1000, &p);
    assert_int_equal(p.wait_ms, 1000); /* no Retry-After: a second */
    resp.status = 200;
    snprintf(headers, sizeof(headers), "HTTP/1.1 200 OK\r\nX-MBX-USED-WEIGHT-1M: 12x\r\n\r\n");
    feed_binance_pace_of(&resp, T0_MS, 1, &p);
    assert_int_equal(p.used_weight_1m, -1);
    assert_int_equal(p.wait_ms, 0);
}

int feed_test_live(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pace),
        cmocka_unit_test_teardown(test_recorded_klines_closed_only, teardown),
        cmocka_unit_test_teardown(test_no_start_takes_the_latest_closed_bar, teardown),
        cmocka_unit_test_teardown(test_backfill_pages_without_duplicates_or_holes, teardown),
        cmocka_unit_test_teardown(test_hole_gives_one_gap_before_the_next_bar, teardown),
        cmocka_unit_test_teardown(test_429_and_418_wait_for_retry_after, teardown),
        cmocka_unit_test_teardown(test_stale_then_ok, teardown),
        cmocka_unit_test_teardown(test_failures_neither_stop_it_nor_make_it_spin, teardown),
        cmocka_unit_test_teardown(test_spawn_refuses_bad_options, teardown),
    };
    return cmocka_run_group_tests_name("feeds/live", tests, group_setup, group_teardown);
}
