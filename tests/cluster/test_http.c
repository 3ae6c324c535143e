/* cluster/clu_metrics.c and clu_http.c: histograms count an observation equal to a bound in
 * that bound's bucket; the Prometheus exposition carries the values it was given, every family
 * with HELP and TYPE, every sample labelled node, and never writes past a buffer that is too
 * small; the HTTP server serves /healthz (200 or 503 with the status as JSON) and /metrics
 * (accepted by promtool), 404 and 405 otherwise, and refuses a bad url or a busy address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h> /* after the four above, which it needs */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clu.h"
#include "tk_test.h"

#define RENDER_BYTES       (64u * 1024u)
#define FETCH_TIMEOUT_S    10
#define RESPONSE_BYTES_MAX (1024u * 1024u)
#define METRICS_TYPE       "text/plain; version=0.0.4; charset=utf-8"
#define SLOW_SOURCE_NS     100000000L /* 100 ms inside the source, for the stop test */

/* Every family clu_metrics_render writes, with its type. */
static const struct {
    const char *name;
    const char *type;
} FAMILIES[] = {
    {"role", "gauge"},
    {"term", "gauge"},
    {"commit_index", "gauge"},
    {"applied_index", "gauge"},
    {"ledger_index", "gauge"},
    {"apply_lag", "gauge"},
    {"kill_switch", "gauge"},
    {"diverged", "gauge"},
    {"proposals_total", "counter"},
    {"proposals_failed_total", "counter"},
    {"entries_applied_total", "counter"},
    {"events_applied_total", "counter"},
    {"batch_events", "histogram"},
    {"commit_latency_seconds", "histogram"},
    {"orders", "gauge"},
    {"risk_rejections_total", "counter"},
    {"equity", "gauge"},
    {"realized_pnl", "gauge"},
    {"actor_restarts_total", "counter"},
    {"mailbox_depth_max", "gauge"},
    {"snapshots_total", "counter"},
    {"restores_total", "counter"},
    {"guard_follower_results_total", "counter"},
    {"guard_follower_results_clamped_total", "counter"},
    {"guard_leader_results_total", "counter"},
    {"guard_leader_clamped_to_sent_total", "counter"},
    {"guard_leader_lowered_earlier_term_total", "counter"},
    {"guard_barriers_total", "counter"},
};
#define FAMILY_COUNT (sizeof(FAMILIES) / sizeof(FAMILIES[0]))

/* A response as the test client read it. */
typedef struct reply {
    uint16_t status;
    char content_type[96];
    char *body; /* owned, NUL-terminated */
    size_t size;
} reply;

/* The fake node behind the server: its source callbacks run on nng's threads. */
typedef struct fixture {
    pthread_mutex_t lock; /* guards every field below but base and http */
    clu_metrics metrics;  /* what /metrics reports; its status is what /healthz reports */
    bool status_up;       /* false: the status callback says the node is shutting down */
    bool metrics_up;
    bool slow;   /* the status callback sleeps SLOW_SOURCE_NS */
    bool inside; /* a status callback is running */
    uint32_t status_calls;
    uint16_t port;
    char base[64]; /* "http://127.0.0.1:<port>" */
    clu_http *http;
} fixture;

static void fill_metrics(clu_metrics *m)
{
    memset(m, 0, sizeof(*m));
    m->status = (clu_status){.node_id = 2,
                             .role = CLU_ROLE_LEADER,
                             .term = 7,
                             .commit_index = 120,
                             .applied_index = 100,
                             .ledger_index = 950,
                             .leader_id = 2,
                             .kill_switch = false,
                             .diverged = false};
    snprintf(m->status.leader_api, sizeof(m->status.leader_api), "http://127.0.0.1:7202");
    for (uint32_t i = 0; i < LED_HASH_BYTES; i++)
        m->status.state_hash[i] = (uint8_t)(i * 37u + 5u);
    m->proposals_total = 40;
    m->proposals_failed_total = 3;
    m->entries_applied_total = 100;
    m->events_applied_total = 950;
    static const double batch_bounds[] = {1, 4, 16, 64, 256};
    clu_histogram_init(&m->batch_events, batch_bounds, 5);
    static const double batches[] = {1, 1, 3, 16, 17, 300};
    for (size_t i = 0; i < 6; i++)
        clu_histogram_observe(&m->batch_events, batches[i]);
    static const double latency_bounds[] = {0.001, 0.01, 0.1, 1};
    clu_histogram_init(&m->commit_latency_seconds, latency_bounds, 4);
    clu_histogram_observe(&m->commit_latency_seconds, 0.0005);
    clu_histogram_observe(&m->commit_latency_seconds, 0.01);
    clu_histogram_observe(&m->commit_latency_seconds, 0.25);
    m->orders_by_state[LED_ORDER_ACKED] = 4;
    m->orders_by_state[LED_ORDER_PARTIALLY_FILLED] = 2;
    m->rejections_by_rule[LED_RULE_NONE] = 99; /* never rendered */
    m->rejections_by_rule[LED_RULE_MAX_DRAWDOWN] = 3;
    m->rejections_by_rule[LED_RULE_OVERFLOW] = 1;
    m->equity_e8 = 12345678901;
    m->realized_pnl_e8 = -250000000;
    m->actor_restarts_total = 1;
    m->mailbox_depth_max = 17;
    m->snapshots_total = 2;
    m->restores_total = 1;
    m->guard = (clu_guard_counters){.follower_results_seen = 900,
                                    .follower_results_clamped = 3,
                                    .leader_results_seen = 800,
                                    .leader_clamped_to_sent = 2,
                                    .leader_lowered_earlier_term = 5,
                                    .barriers = 4};
}

/* Render m into a fresh heap buffer (the caller frees it). */
static char *render(const clu_metrics *m, size_t *out_size)
{
    char *text = malloc(RENDER_BYTES);
    assert_non_null(text);
    EXPECT_ERR(clu_metrics_render(m, text, RENDER_BYTES, out_size), TK_OK);
    assert_int_equal(strlen(text), *out_size);
    return text;
}

/* The value of the one sample line of text named series (name and labels), copied to out;
 * fails the test unless exactly one line has it. */
static void sample(const char *text, const char *series, char *out, size_t out_size)
{
    size_t series_len = strlen(series);
    uint32_t found = 0;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        if (strncmp(line, series, series_len) == 0 && line[series_len] == ' ') {
            size_t value_len = (size_t)(end - line) - series_len - 1u;
            assert_true(value_len < out_size);
            memcpy(out, line + series_len + 1u, value_len);
            out[value_len] = '\0';
            found++;
        }
        line = end + 1;
    }
    if (found != 1) fail_msg("%s: %u sample lines, want 1", series, found);
}

static void expect_sample(const char *text, const char *series, const char *want)
{
    char got[64];
    sample(text, series, got, sizeof(got));
    if (strcmp(got, want) != 0) fail_msg("%s: got %s, want %s", series, got, want);
}

static double sample_double(const char *text, const char *series)
{
    char got[64];
    sample(text, series, got, sizeof(got));
    char *end = NULL;
    double value = strtod(got, &end);
    if (*end != '\0') fail_msg("%s: %s is not a number", series, got);
    return value;
}

/* Whether line is a sample of the family named name (histograms: its _bucket, _sum, _count),
 * with node="2" as its first label. */
static bool sample_of(const char *line, const char *name, const char *type)
{
    static const char *const histogram_suffixes[] = {"_bucket{", "_sum{", "_count{"};
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "troika_%s{node=\"2\"", name);
    if (strncmp(line, prefix, strlen(prefix)) == 0) return strcmp(type, "histogram") != 0;
    if (strcmp(type, "histogram") != 0) return false;
    for (size_t i = 0; i < 3; i++) {
        snprintf(prefix, sizeof(prefix), "troika_%s%snode=\"2\"", name, histogram_suffixes[i]);
        if (strncmp(line, prefix, strlen(prefix)) == 0) return true;
    }
    return false;
}

/* Check the structure of the whole exposition: each family in FAMILIES order with its HELP and
 * TYPE lines, then only its own samples, each ending in a number; as many samples as fill_metrics
 * gives. */
static void check_exposition(const char *text)
{
    size_t family = 0;
    uint32_t samples = 0;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        if (line[0] == '#') {
            assert_true(family < FAMILY_COUNT);
            char want[160];
            snprintf(want, sizeof(want), "# HELP troika_%s ", FAMILIES[family].name);
            if (strncmp(line, want, strlen(want)) != 0) fail_msg("want %s at %.60s", want, line);
            line = end + 1;
            end = strchr(line, '\n');
            assert_non_null(end);
            snprintf(want, sizeof(want), "# TYPE troika_%s %s\n", FAMILIES[family].name,
                     FAMILIES[family].type);
            if (strncmp(line, want, strlen(want)) != 0) fail_msg("want %s at %.60s", want, line);
            family++;
        } else {
            assert_true(family > 0);
            if (!sample_of(line, FAMILIES[family - 1].name, FAMILIES[family - 1].type)) {
                fail_msg("not a sample of troika_%s: %.80s", FAMILIES[family - 1].name, line);
            }
            const char *value = strstr(line, "} ");
            assert_true(value != NULL && value < end);
            char *value_end = NULL;
            strtod(value + 2, &value_end);
            if (value_end != end) fail_msg("bad value: %.80s", line);
            samples++;
        }
        line = end + 1;
    }
    assert_int_equal(family, FAMILY_COUNT);
    /* roles, status gauges, counters, the two histograms, orders, rules, amounts, runtime,
     * guard */
    uint32_t want = 4u + 7u + 4u + (5u + 3u) + (4u + 3u) + LED_ORDER_STATE_COUNT;
    want += LED_RULE_OVERFLOW + 2u + 4u + 6u;
    assert_int_equal(samples, want);
}

/* Check a histogram's buckets against want (cumulative), then +Inf and _count against count. */
static void check_histogram(const char *text, const char *name, const char *const *les,
                            const char *const *want, size_t bound_count, const char *count)
{
    char series[160];
    for (size_t i = 0; i < bound_count; i++) {
        snprintf(series, sizeof(series), "troika_%s_bucket{node=\"2\",le=\"%s\"}", name, les[i]);
        expect_sample(text, series, want[i]);
    }
    snprintf(series, sizeof(series), "troika_%s_bucket{node=\"2\",le=\"+Inf\"}", name);
    expect_sample(text, series, count);
    snprintf(series, sizeof(series), "troika_%s_count{node=\"2\"}", name);
    expect_sample(text, series, count);
}

static void test_role_name(void **vstate)
{
    (void)vstate;
    assert_string_equal(clu_role_name(CLU_ROLE_UNAVAILABLE), "unavailable");
    assert_string_equal(clu_role_name(CLU_ROLE_FOLLOWER), "follower");
    assert_string_equal(clu_role_name(CLU_ROLE_CANDIDATE), "candidate");
    assert_string_equal(clu_role_name(CLU_ROLE_LEADER), "leader");
    assert_null(clu_role_name((clu_role)(CLU_ROLE_LEADER + 1)));
}

static void test_histogram_bounds(void **vstate)
{
    (void)vstate;
    clu_histogram h;
    memset(&h, 0xab, sizeof(h)); /* init must zero what it does not set */
    static const double bounds[] = {1, 2, 5};
    clu_histogram_init(&h, bounds, 3);
    assert_int_equal(h.bound_count, 3);
    assert_int_equal(h.count, 0);
    assert_true(h.sum == 0.0);
    for (uint32_t i = 0; i < CLU_HISTOGRAM_BOUNDS_MAX; i++)
        assert_int_equal(h.buckets[i], 0);
    clu_histogram_observe(&h, 1.0); /* == the first bound: counts in its bucket */
    assert_int_equal(h.buckets[0], 1);
    assert_int_equal(h.buckets[1], 1);
    assert_int_equal(h.buckets[2], 1);
    clu_histogram_observe(&h, 2.0);
    assert_int_equal(h.buckets[0], 1);
    assert_int_equal(h.buckets[1], 2);
    clu_histogram_observe(&h, 5.0); /* == the last bound */
    assert_int_equal(h.buckets[2], 3);
    clu_histogram_observe(&h, nextafter(5.0, INFINITY)); /* just above: +Inf only */
    assert_int_equal(h.buckets[2], 3);
    assert_int_equal(h.count, 4);
    clu_histogram_observe(&h, -3.0); /* below every bound: in every bucket */
    assert_int_equal(h.buckets[0], 2);
    assert_int_equal(h.buckets[1], 3);
    assert_int_equal(h.buckets[2], 4);
    assert_int_equal(h.count, 5);
    assert_true(h.sum == 1.0 + 2.0 + 5.0 + nextafter(5.0, INFINITY) - 3.0);
    double many[CLU_HISTOGRAM_BOUNDS_MAX];
    for (uint32_t i = 0; i < CLU_HISTOGRAM_BOUNDS_MAX; i++)
        many[i] = (double)i;
    clu_histogram_init(&h, many, CLU_HISTOGRAM_BOUNDS_MAX); /* max bounds is fine */
    clu_histogram_observe(&h, 15.0);
    assert_int_equal(h.buckets[CLU_HISTOGRAM_BOUNDS_MAX - 1u], 1);
    assert_int_equal(h.buckets[CLU_HISTOGRAM_BOUNDS_MAX - 2u], 0);
}

static void histogram_init_count(void *arg)
{
    static const double bounds[CLU_HISTOGRAM_BOUNDS_MAX + 1u] = {0};
    clu_histogram h;
    clu_histogram_init(&h, bounds, *(const uint32_t *)arg);
}

/* 0 and CLU_HISTOGRAM_BOUNDS_MAX + 1 bounds are bugs: TK_ASSERT ends the process. */
static void test_histogram_bad_count(void **vstate)
{
    (void)vstate;
    static const uint32_t counts[] = {0, CLU_HISTOGRAM_BOUNDS_MAX + 1u};
    for (size_t i = 0; i < 2; i++) {
        tk_test_child child;
        assert_true(tk_test_child_run(histogram_init_count, (void *)&counts[i], 10, &child));
        assert_true(child.signaled);
        assert_non_null(strstr(child.output, "assertion failed: count"));
    }
}

static void test_render_values(void **vstate)
{
    (void)vstate;
    clu_metrics m;
    fill_metrics(&m);
    size_t size = 0;
    char *text = render(&m, &size);
    check_exposition(text);
    expect_sample(text, "troika_term{node=\"2\"}", "7");
    expect_sample(text, "troika_commit_index{node=\"2\"}", "120");
    expect_sample(text, "troika_applied_index{node=\"2\"}", "100");
    expect_sample(text, "troika_ledger_index{node=\"2\"}", "950");
    expect_sample(text, "troika_apply_lag{node=\"2\"}", "20");
    expect_sample(text, "troika_role{node=\"2\",role=\"leader\"}", "1");
    expect_sample(text, "troika_role{node=\"2\",role=\"follower\"}", "0");
    expect_sample(text, "troika_role{node=\"2\",role=\"candidate\"}", "0");
    expect_sample(text, "troika_role{node=\"2\",role=\"unavailable\"}", "0");
    expect_sample(text, "troika_kill_switch{node=\"2\"}", "0");
    expect_sample(text, "troika_diverged{node=\"2\"}", "0");
    expect_sample(text, "troika_proposals_total{node=\"2\"}", "40");
    expect_sample(text, "troika_proposals_failed_total{node=\"2\"}", "3");
    expect_sample(text, "troika_entries_applied_total{node=\"2\"}", "100");
    expect_sample(text, "troika_events_applied_total{node=\"2\"}", "950");
    static const char *const batch_les[] = {"1", "4", "16", "64", "256"};
    static const char *const batch_want[] = {"2", "3", "4", "5", "5"};
    check_histogram(text, "batch_events", batch_les, batch_want, 5, "6");
    expect_sample(text, "troika_batch_events_sum{node=\"2\"}", "338");
    static const char *const latency_les[] = {"0.001", "0.01", "0.1", "1"};
    static const char *const latency_want[] = {"1", "2", "2", "3"};
    check_histogram(text, "commit_latency_seconds", latency_les, latency_want, 4, "3");
    double latency_sum = sample_double(text, "troika_commit_latency_seconds_sum{node=\"2\"}");
    assert_true(latency_sum == m.commit_latency_seconds.sum);
    expect_sample(text, "troika_orders{node=\"2\",state=\"acked\"}", "4");
    expect_sample(text, "troika_orders{node=\"2\",state=\"partially_filled\"}", "2");
    expect_sample(text, "troika_orders{node=\"2\",state=\"requested\"}", "0");
    expect_sample(text, "troika_risk_rejections_total{node=\"2\",rule=\"max_drawdown\"}", "3");
    expect_sample(text, "troika_risk_rejections_total{node=\"2\",rule=\"overflow\"}", "1");
    expect_sample(text, "troika_risk_rejections_total{node=\"2\",rule=\"kill_switch\"}", "0");
    assert_null(strstr(text, "rule=\"none\""));
    expect_sample(text, "troika_equity{node=\"2\"}", "123.45678901");
    assert_true(sample_double(text, "troika_equity{node=\"2\"}") == 12345678901 / 1e8);
    expect_sample(text, "troika_realized_pnl{node=\"2\"}", "-2.5");
    expect_sample(text, "troika_actor_restarts_total{node=\"2\"}", "1");
    expect_sample(text, "troika_mailbox_depth_max{node=\"2\"}", "17");
    expect_sample(text, "troika_snapshots_total{node=\"2\"}", "2");
    expect_sample(text, "troika_restores_total{node=\"2\"}", "1");
    expect_sample(text, "troika_guard_follower_results_total{node=\"2\"}", "900");
    expect_sample(text, "troika_guard_follower_results_clamped_total{node=\"2\"}", "3");
    expect_sample(text, "troika_guard_leader_results_total{node=\"2\"}", "800");
    expect_sample(text, "troika_guard_leader_clamped_to_sent_total{node=\"2\"}", "2");
    expect_sample(text, "troika_guard_leader_lowered_earlier_term_total{node=\"2\"}", "5");
    expect_sample(text, "troika_guard_barriers_total{node=\"2\"}", "4");
    free(text);
}

/* Bounds and sums read back exactly, in their shortest form; an infinite sum is +Inf. */
static void test_render_doubles(void **vstate)
{
    (void)vstate;
    clu_metrics m;
    fill_metrics(&m);
    const double bounds[] = {1e-9, 0.1, 1.0 / 3.0, 2.5e10};
    clu_histogram_init(&m.commit_latency_seconds, bounds, 4);
    clu_histogram_observe(&m.commit_latency_seconds, INFINITY);
    size_t size = 0;
    char *text = render(&m, &size);
    check_exposition(text);
    expect_sample(text, "troika_commit_latency_seconds_bucket{node=\"2\",le=\"1e-09\"}", "0");
    expect_sample(text, "troika_commit_latency_seconds_bucket{node=\"2\",le=\"0.1\"}", "0");
    expect_sample(text, "troika_commit_latency_seconds_bucket{node=\"2\",le=\"25000000000\"}", "0");
    expect_sample(text, "troika_commit_latency_seconds_sum{node=\"2\"}", "+Inf");
    expect_sample(text, "troika_commit_latency_seconds_count{node=\"2\"}", "1");
    const char *third = strstr(text, "le=\"0.333");
    assert_non_null(third);
    assert_true(strtod(third + 4, NULL) == 1.0 / 3.0);
    free(text);
}

/* Every buffer size below what the text needs with its NUL gives TK_EFULL and writes nothing
 * outside the buffer (each is exactly that big on the heap, so ASan sees an overflow). */
static void test_render_full(void **vstate)
{
    (void)vstate;
    clu_metrics m;
    fill_metrics(&m);
    size_t need = 0;
    char *want = render(&m, &need);
    for (size_t size = 0; size <= need; size++) {
        char *buf = malloc(size > 0 ? size : 1u);
        assert_non_null(buf);
        buf[0] = 'x';
        size_t out = 12345;
        EXPECT_ERR(clu_metrics_render(&m, buf, size, &out), TK_EFULL);
        assert_int_equal(out, 12345); /* written only on TK_OK */
        if (size == 0) assert_int_equal(buf[0], 'x');
        free(buf);
    }
    char *buf = malloc(need + 1u);
    assert_non_null(buf);
    size_t out = 0;
    EXPECT_ERR(clu_metrics_render(&m, buf, need + 1u, &out), TK_OK);
    assert_int_equal(out, need);
    assert_string_equal(buf, want);
    free(buf);
    free(want);
}

/* The fake source runs on nng's threads, where a cmocka assertion cannot fail the test: a
 * failure to lock is a crash (TK_ASSERT) instead. */
static void fixture_lock(fixture *f)
{
    int rc = pthread_mutex_lock(&f->lock);
    TK_ASSERT(rc == 0);
}

static void fixture_unlock(fixture *f)
{
    int rc = pthread_mutex_unlock(&f->lock);
    TK_ASSERT(rc == 0);
}

static bool fake_status(void *arg, clu_status *out)
{
    fixture *f = arg;
    fixture_lock(f);
    bool up = f->status_up;
    bool slow = f->slow;
    *out = f->metrics.status;
    f->status_calls++;
    f->inside = true;
    fixture_unlock(f);
    if (slow) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = SLOW_SOURCE_NS};
        nanosleep(&pause, NULL);
    }
    fixture_lock(f);
    f->inside = false;
    fixture_unlock(f);
    return up;
}

static bool fake_metrics(void *arg, clu_metrics *out)
{
    fixture *f = arg;
    fixture_lock(f);
    bool up = f->metrics_up;
    *out = f->metrics;
    fixture_unlock(f);
    return up;
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
    assert_int_equal(close(fd), 0);
    return ntohs(addr.sin_port);
}

static int setup(void **vstate)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(pthread_mutex_init(&f->lock, NULL), 0);
    fill_metrics(&f->metrics);
    f->status_up = true;
    f->metrics_up = true;
    f->port = free_port();
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", (unsigned)f->port);
    clu_http_source source = {.arg = f, .status = fake_status, .metrics = fake_metrics};
    EXPECT_ERR(clu_http_start(f->base, &source, &f->http), TK_OK);
    *vstate = f;
    return 0;
}

static int teardown(void **vstate)
{
    fixture *f = *vstate;
    clu_http_stop(f->http);
    assert_int_equal(pthread_mutex_destroy(&f->lock), 0);
    free(f);
    return 0;
}

static void fixture_set_metrics(fixture *f, const clu_metrics *m)
{
    fixture_lock(f);
    f->metrics = *m;
    fixture_unlock(f);
}

/* Send method path to the fixture's server over a plain socket, as HTTP/1.0 so that the server
 * closes the connection after its response; http_read reads that. The client shares nothing
 * with the server's nng. */
static int http_send(const fixture *f, const char *method, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = FETCH_TIMEOUT_S, .tv_usec = 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    char request[256];
    int len = snprintf(request, sizeof(request), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
                       method, path);
    assert_true(len > 0 && (size_t)len < sizeof(request));
    assert_int_equal(write(fd, request, (size_t)len), len); /* a few bytes: one write */
    return fd;
}

/* Read what the server sends until it closes the connection, then close fd. The text is the
 * caller's to free; *out_size excludes its NUL. */
static char *http_read(int fd, size_t *out_size)
{
    size_t size = 0;
    char *text = malloc(RESPONSE_BYTES_MAX + 1u);
    assert_non_null(text);
    bool closed = false;
    for (size_t pass = 0; pass < RESPONSE_BYTES_MAX && !closed; pass++) { /* >= 1 byte a pass */
        ssize_t n = read(fd, text + size, RESPONSE_BYTES_MAX - size);
        if (n < 0) fail_msg("read: %s", strerror(errno));
        closed = n == 0;
        size += (size_t)n;
        assert_true(size < RESPONSE_BYTES_MAX);
    }
    assert_true(closed);
    assert_int_equal(close(fd), 0);
    text[size] = '\0';
    *out_size = size;
    return text;
}

/* The value of header name in the head of a response (up to its blank line), or "". */
static void header_value(const char *head, const char *name, char *out, size_t out_size)
{
    out[0] = '\0';
    size_t name_len = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncmp(line, "\r\n", 2) == 0) return;
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *value = line + name_len + 1;
            value += strspn(value, " ");
            snprintf(out, out_size, "%.*s", (int)strcspn(value, "\r"), value);
        }
    }
}

/* One request, answered in full: its status, Content-Type and body (which must be as long as
 * Content-Length says). The reply's body is the caller's to free. */
static void fetch(const fixture *f, const char *method, const char *path, reply *out)
{
    size_t size = 0;
    char *text = http_read(http_send(f, method, path), &size);
    unsigned status = 0;
    if (sscanf(text, "HTTP/1.%*u %u ", &status) != 1) fail_msg("%s %s: %s", method, path, text);
    out->status = (uint16_t)status;
    char *body = strstr(text, "\r\n\r\n");
    if (body == NULL) fail_msg("%s %s: no end of headers in %s", method, path, text);
    body += 4;
    header_value(text, "Content-Type", out->content_type, sizeof(out->content_type));
    char length[32];
    header_value(text, "Content-Length", length, sizeof(length));
    out->size = size - (size_t)(body - text);
    assert_int_equal(strtoull(length, NULL, 10), out->size);
    out->body = malloc(out->size + 1u);
    assert_non_null(out->body);
    memcpy(out->body, body, out->size + 1u); /* with text's NUL */
    free(text);
}

/* Send method path and check the status code of the reply. */
static void expect_status(const fixture *f, const char *method, const char *path, uint16_t want)
{
    reply r;
    fetch(f, method, path, &r);
    if (r.status != want) fail_msg("%s %s: got %u, want %u", method, path, r.status, want);
    free(r.body);
}

/* GET /healthz, check the status code, and check every JSON field against s. */
static void expect_healthz(const fixture *f, const clu_status *s, uint16_t want_code)
{
    reply r;
    fetch(f, "GET", "/healthz", &r);
    if (r.status != want_code) fail_msg("/healthz: got %u, want %u", r.status, want_code);
    assert_string_equal(r.content_type, "application/json");
    json_error_t error;
    json_t *doc = json_loadb(r.body, r.size, 0, &error);
    if (doc == NULL) fail_msg("/healthz: %s in %s", error.text, r.body);
    json_int_t node_id = 0, term = 0, commit = 0, applied = 0, ledger = 0, lag = 0, leader = 0;
    const char *role = NULL, *leader_api = NULL, *hash = NULL;
    int kill_switch = -1, diverged = -1;
    int rc = json_unpack_ex(
        doc, &error, JSON_STRICT, "{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:b}",
        "node_id", &node_id, "role", &role, "term", &term, "commit_index", &commit, "applied_index",
        &applied, "ledger_index", &ledger, "lag", &lag, "leader_id", &leader, "leader_api",
        &leader_api, "state_hash", &hash, "kill_switch", &kill_switch, "diverged", &diverged);
    if (rc != 0) fail_msg("/healthz: %s in %s", error.text, r.body);
    assert_int_equal(node_id, s->node_id);
    assert_string_equal(role, clu_role_name(s->role));
    assert_int_equal(term, s->term);
    assert_int_equal(commit, s->commit_index);
    assert_int_equal(applied, s->applied_index);
    assert_int_equal(ledger, s->ledger_index);
    assert_int_equal(lag, s->commit_index - s->applied_index);
    assert_int_equal(leader, s->leader_id);
    assert_string_equal(leader_api, s->leader_api);
    char want_hash[2u * LED_HASH_BYTES + 1u];
    for (uint32_t i = 0; i < LED_HASH_BYTES; i++) {
        snprintf(want_hash + 2u * i, 3, "%02x", s->state_hash[i]);
    }
    assert_string_equal(hash, want_hash);
    assert_int_equal(kill_switch, s->kill_switch);
    assert_int_equal(diverged, s->diverged);
    json_decref(doc);
    free(r.body);
}

static void test_healthz(void **vstate)
{
    fixture *f = *vstate;
    expect_healthz(f, &f->metrics.status, 200);
    clu_metrics m = f->metrics;
    m.status.role = CLU_ROLE_FOLLOWER;
    m.status.leader_id = 3;
    m.status.kill_switch = true; /* the kill switch is reported, and is not unhealthy */
    fixture_set_metrics(f, &m);
    expect_healthz(f, &m.status, 200);
}

static void test_healthz_unavailable(void **vstate)
{
    fixture *f = *vstate;
    clu_metrics m = f->metrics;
    m.status.role = CLU_ROLE_UNAVAILABLE;
    m.status.leader_id = 0;
    m.status.leader_api[0] = '\0';
    fixture_set_metrics(f, &m);
    expect_healthz(f, &m.status, 503);
}

static void test_healthz_diverged(void **vstate)
{
    fixture *f = *vstate;
    clu_metrics m = f->metrics;
    m.status.diverged = true;
    fixture_set_metrics(f, &m);
    expect_healthz(f, &m.status, 503);
}

/* A source that says the node is shutting down gives 503 on its path only. */
static void test_source_down(void **vstate)
{
    fixture *f = *vstate;
    fixture_lock(f);
    f->status_up = false;
    fixture_unlock(f);
    expect_status(f, "GET", "/healthz", 503);
    expect_status(f, "GET", "/metrics", 200);
    fixture_lock(f);
    f->status_up = true;
    f->metrics_up = false;
    fixture_unlock(f);
    expect_status(f, "GET", "/metrics", 503);
    expect_status(f, "GET", "/healthz", 200);
}

static void test_not_found_and_method(void **vstate)
{
    fixture *f = *vstate;
    expect_status(f, "GET", "/nope", 404);
    expect_status(f, "GET", "/healthz/x", 404);
    expect_status(f, "POST", "/healthz", 405);
    expect_status(f, "DELETE", "/metrics", 405);
}

/* Run a shell command with stdout and stderr captured; returns its wait status. */
static int run_captured(const char *command, char *out, size_t out_size)
{
    char path[] = "/tmp/troika-promtool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char line[512];
    snprintf(line, sizeof(line), "%s > %s 2>&1", command, path);
    int status = system(line);
    ssize_t n = read(fd, out, out_size - 1u);
    assert_true(n >= 0);
    out[n] = '\0';
    assert_int_equal(close(fd), 0);
    assert_int_equal(unlink(path), 0);
    return status;
}

/* Run promtool check metrics on text; returns its wait status, its output in out. */
static int promtool_check(const char *text, size_t size, char *out, size_t out_size)
{
    if (system("command -v promtool > /dev/null 2>&1") != 0) {
        fail_msg("promtool not found: install the Debian package prometheus "
                 "(deploy/install-deps.sh installs it)");
    }
    char path[] = "/tmp/troika-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, size), (ssize_t)size);
    assert_int_equal(close(fd), 0);
    char command[128];
    snprintf(command, sizeof(command), "promtool check metrics < %s", path);
    int status = run_captured(command, out, out_size);
    assert_int_equal(unlink(path), 0);
    return status;
}

/* /metrics over HTTP is clu_metrics_render of the source's metrics, and promtool finds
 * nothing to say about it (while it does complain of a counter without _total). */
static void test_metrics_promtool(void **vstate)
{
    fixture *f = *vstate;
    reply r;
    fetch(f, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, METRICS_TYPE);
    size_t size = 0;
    char *want = render(&f->metrics, &size);
    assert_int_equal(r.size, size);
    assert_string_equal(r.body, want);
    free(want);
    char output[4096];
    int status = promtool_check(r.body, r.size, output, sizeof(output));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || output[0] != '\0') {
        fail_msg("promtool check metrics: status %d: %s", status, output);
    }
    free(r.body);
    static const char bad[] = "# HELP troika_x X.\n# TYPE troika_x counter\ntroika_x 1\n";
    status = promtool_check(bad, sizeof(bad) - 1u, output, sizeof(output));
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(output, "_total"));
}

static void test_start_errors(void **vstate)
{
    fixture *f = *vstate;
    clu_http_source source = {.arg = f, .status = fake_status, .metrics = fake_metrics};
    clu_http *http = NULL;
    tk_test_mark(&http, sizeof(http));
    EXPECT_ERR(clu_http_start("not a url", &source, &http), TK_EINVAL);
    EXPECT_ERR(clu_http_start("tcp://127.0.0.1:7301", &source, &http), TK_EINVAL);
    EXPECT_ERR(clu_http_start(f->base, &source, &http), TK_EEXIST); /* served by f->http */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    char busy[64];
    snprintf(busy, sizeof(busy), "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    EXPECT_ERR(clu_http_start(busy, &source, &http), TK_EEXIST); /* another socket's */
    assert_int_equal(close(fd), 0);
    assert_true(tk_test_is_marked(&http, sizeof(http)));
    expect_status(f, "GET", "/healthz", 200); /* the failed starts left f->http serving */
    clu_http_stop(NULL);
}

/* clu_http_stop waits for a callback inside the source before it returns, so that the caller
 * may then free what the source points to. */
static void test_stop_waits(void **vstate)
{
    fixture *f = *vstate;
    fixture_lock(f);
    f->slow = true;
    fixture_unlock(f);
    int fd = http_send(f, "GET", "/healthz");
    bool entered = false;
    for (uint32_t i = 0; i < 1000 && !entered; i++) { /* up to 10 s */
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 10000000L};
        nanosleep(&pause, NULL);
        fixture_lock(f);
        entered = f->status_calls > 0;
        fixture_unlock(f);
    }
    assert_true(entered);
    clu_http_stop(f->http);
    f->http = NULL;
    fixture_lock(f);
    bool inside = f->inside;
    uint32_t calls = f->status_calls;
    fixture_unlock(f);
    assert_false(inside);
    assert_int_equal(calls, 1);
    char drain[4096]; /* a response, or none (or a reset): the server stopped under it */
    for (int i = 0; i < 1000 && read(fd, drain, sizeof(drain)) > 0; i++)
        continue;
    assert_int_equal(close(fd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_name),
        cmocka_unit_test(test_histogram_bounds),
        cmocka_unit_test(test_histogram_bad_count),
        cmocka_unit_test(test_render_values),
        cmocka_unit_test(test_render_doubles),
        cmocka_unit_test(test_render_full),
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_diverged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_promtool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("cluster/http", tests, NULL, NULL);
    return failed == 0 ? 0 : 1;
}
