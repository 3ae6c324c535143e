/* etcd_client: the cluster benchmark's workload against etcd 3.4, through its HTTP/JSON gRPC
 * gateway (bench/cluster/README.md).
 *
 *   etcd_client --endpoint URL [--prefix P] [--value-bytes 100] [--inflight 1,16,256]
 *               [--duration-ms 5000] [--warmup-ms 1000]
 *
 * N requests in flight, one HTTP/1.1 keep-alive connection each, all driven by one libcurl
 * multi handle on this thread. Every request is POST URL/v3/kv/put with the JSON body
 * {"key": base64, "value": base64}: a unique key "bench/<P>/<N>/<slot>/<seq>" and a value of
 * --value-bytes (default 100, about a troika event). etcd answers once the put committed: its
 * Raft log entry is in a majority's WAL, which etcd fsyncs by default. A request counts when
 * the answer is HTTP 200 with a "header" and no "error". Latency is from handing the request
 * to libcurl to the answer. Output: bench_common.h's line and JSON object per concurrency.
 * Exit 1 when a concurrency had no successful request.
 * This is a client, not a module: it calls libcurl directly. Context: one thread. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "tk.h"

#define URL_BYTES        256u
#define VALUE_BYTES_MAX  1024u
#define ANSWER_BYTES     2048u
#define BODY_BYTES       (2u * VALUE_BYTES_MAX)
#define REQUEST_TIMEOUT  10000L /* ms */
#define DRAIN_TIMEOUT_NS 30000000000u

typedef struct cfg {
    char url[URL_BYTES]; /* endpoint + /v3/kv/put */
    const char *prefix;
    uint32_t value_bytes;
    bc_opts common;
} cfg;

typedef struct etcd etcd;

/* One request in flight: its easy handle keeps a connection alive between requests. */
typedef struct slot {
    etcd *e; /* borrowed: owns the slot */
    uint32_t index;
    CURL *easy; /* owned */
    uint64_t seq;
    uint64_t sent_ns;
    bool active;
    char body[BODY_BYTES];
    char answer[ANSWER_BYTES];
    size_t answer_len;
    bc_samples samples; /* owned */
    uint64_t errors;
} slot;

struct etcd {
    const cfg *cfg; /* borrowed */
    CURLM *multi;   /* owned */
    struct curl_slist *headers;
    uint32_t inflight;
    uint32_t active;
    uint64_t window_start_ns, window_end_ns;
    char first_error[200];
    slot *slots; /* owned: inflight of them */
};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "etcd_client: %s: %s\n", what, detail);
    exit(1);
}

static size_t on_answer(char *data, size_t size, size_t count, void *arg)
{
    slot *s = arg;
    size_t n = size * count;
    size_t room = sizeof(s->answer) - 1u - s->answer_len;
    size_t keep = n < room ? n : room; /* a longer answer is cut: only its start is read */
    memcpy(s->answer + s->answer_len, data, keep);
    s->answer_len += keep;
    s->answer[s->answer_len] = '\0';
    return n;
}

/* The JSON body of s's next put into s->body. */
static void body_build(slot *s)
{
    const cfg *c = s->e->cfg;
    char key[96], key64[132], value[VALUE_BYTES_MAX], value64[4u * VALUE_BYTES_MAX / 3u + 8u];
    int klen = snprintf(key, sizeof(key), "bench/%s/%u/%u/%llu", c->prefix, s->e->inflight,
                        s->index, (unsigned long long)s->seq);
    TK_ASSERT(klen > 0 && (size_t)klen < sizeof(key));
    TK_ASSERT(c->value_bytes <= sizeof(value));
    for (uint32_t i = 0; i < c->value_bytes; i++) /* printable, varies with slot and seq */
        value[i] = (char)('a' + (i + s->index + s->seq) % 26u);
    bc_base64((const uint8_t *)key, (size_t)klen, key64, sizeof(key64));
    bc_base64((const uint8_t *)value, c->value_bytes, value64, sizeof(value64));
    int n =
        snprintf(s->body, sizeof(s->body), "{\"key\": \"%s\", \"value\": \"%s\"}", key64, value64);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(s->body));
}

static void slot_failed(slot *s, const char *why)
{
    s->errors++;
    etcd *e = s->e;
    if (e->first_error[0] == '\0') snprintf(e->first_error, sizeof(e->first_error), "%s", why);
}

/* Start s's next request, or retire s once the window has ended. */
static void slot_next(slot *s)
{
    etcd *e = s->e;
    TK_ASSERT(!s->active);
    if (bc_now_ns() >= e->window_end_ns) {
        TK_ASSERT(e->active >= 1u);
        e->active--;
        return;
    }
    s->seq++;
    body_build(s);
    s->answer_len = 0;
    s->answer[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
    s->sent_ns = bc_now_ns();
    CURLMcode mc = curl_multi_add_handle(e->multi, s->easy);
    if (mc != CURLM_OK) die("curl_multi_add_handle", curl_multi_strerror(mc));
    s->active = true;
}

/* One finished transfer: check the answer, record the latency, start the next. */
static void slot_finished(slot *s, CURLcode result)
{
    uint64_t now = bc_now_ns();
    etcd *e = s->e;
    curl_multi_remove_handle(e->multi, s->easy);
    s->active = false;
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[200];
    if (result != CURLE_OK) {
        slot_failed(s, curl_easy_strerror(result));
    } else if (status != 200 || strstr(s->answer, "\"header\"") == NULL ||
               strstr(s->answer, "\"error\"") != NULL) {
        snprintf(why, sizeof(why), "HTTP %ld: %.160s", status, s->answer);
        slot_failed(s, why);
    } else if (now >= e->window_start_ns && now <= e->window_end_ns) {
        bc_samples_add(&s->samples, now - s->sent_ns);
    }
    slot_next(s);
}

static void slots_open(etcd *e)
{
    e->slots = calloc(e->inflight, sizeof(*e->slots));
    if (e->slots == NULL) die("slots", "out of memory");
    for (uint32_t i = 0; i < e->inflight; i++) {
        slot *s = &e->slots[i];
        s->e = e;
        s->index = i;
        s->easy = curl_easy_init();
        if (s->easy == NULL) die("curl_easy_init", "failed");
        curl_easy_setopt(s->easy, CURLOPT_URL, e->cfg->url);
        curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, e->headers);
        curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_answer);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT);
    }
}

static void slots_close(etcd *e)
{
    for (uint32_t i = 0; i < e->inflight; i++) {
        slot *s = &e->slots[i];
        if (s->active) curl_multi_remove_handle(e->multi, s->easy);
        curl_easy_cleanup(s->easy);
        bc_samples_fini(&s->samples);
    }
    free(e->slots);
    e->slots = NULL;
}

/* Drive the transfers until every slot has retired (or DRAIN_TIMEOUT_NS after the window). */
static void run_loop(etcd *e)
{
    while (e->active > 0 && bc_now_ns() < e->window_end_ns + DRAIN_TIMEOUT_NS) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(e->multi, &running);
        if (mc != CURLM_OK) die("curl_multi_perform", curl_multi_strerror(mc));
        int queued = 0;
        for (CURLMsg *m = curl_multi_info_read(e->multi, &queued); m != NULL;
             m = curl_multi_info_read(e->multi, &queued)) {
            if (m->msg != CURLMSG_DONE) continue;
            slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            TK_ASSERT(s != NULL && s->active);
            slot_finished(s, m->data.result);
        }
        if (e->active == 0) break;
        mc = curl_multi_poll(e->multi, NULL, 0, 50, NULL);
        if (mc != CURLM_OK) die("curl_multi_poll", curl_multi_strerror(mc));
    }
    if (e->active > 0) fprintf(stderr, "etcd_client: %u requests unanswered\n", e->active);
}

/* One concurrency: inflight connections kept busy for the window; the figures. */
static bool run_one(const cfg *c, uint32_t inflight)
{
    TK_ASSERT(inflight >= 1 && inflight <= BC_INFLIGHT_MAX);
    etcd e = {.cfg = c, .inflight = inflight};
    e.multi = curl_multi_init();
    if (e.multi == NULL) die("curl_multi_init", "failed");
    curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, (long)inflight + 8L);
    curl_multi_setopt(e.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    e.headers = curl_slist_append(NULL, "Content-Type: application/json");
    e.headers = curl_slist_append(e.headers, "Expect:"); /* no 100-continue round trip */
    if (e.headers == NULL) die("headers", "out of memory");
    slots_open(&e);
    e.window_start_ns = bc_now_ns() + c->common.warmup_ms * 1000000u;
    e.window_end_ns = e.window_start_ns + c->common.duration_ms * 1000000u;
    e.active = inflight;
    for (uint32_t i = 0; i < inflight; i++)
        slot_next(&e.slots[i]);
    run_loop(&e);
    bc_result res = {
        .system = "etcd", .inflight = inflight, .seconds = (double)c->common.duration_ms / 1e3};
    for (uint32_t i = 0; i < inflight; i++)
        res.errors += e.slots[i].errors;
    bc_samples all = {0};
    for (uint32_t i = 0; i < inflight; i++)
        bc_samples_merge(&all, &e.slots[i].samples);
    bc_result_compute(&res, &all);
    bc_samples_fini(&all);
    if (e.first_error[0] != '\0') fprintf(stderr, "etcd_client: first error: %s\n", e.first_error);
    bc_report(&res);
    slots_close(&e);
    curl_multi_cleanup(e.multi);
    curl_slist_free_all(e.headers);
    return res.ok > 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: etcd_client --endpoint URL [--prefix P] [--value-bytes N] "
                    "[--inflight 1,16,256] [--duration-ms N] [--warmup-ms N]\n");
    exit(2);
}

static void parse(int argc, char **argv, cfg *c)
{
    const char *endpoint = NULL;
    for (int i = 1; i < argc; i++) {
        if (bc_parse_common(argc, argv, &i, &c->common)) continue;
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--endpoint") == 0) {
            endpoint = argv[++i];
        } else if (strcmp(argv[i], "--prefix") == 0) {
            c->prefix = argv[++i];
        } else if (strcmp(argv[i], "--value-bytes") == 0) {
            long v = strtol(argv[++i], NULL, 10);
            if (v < 1 || v > (long)VALUE_BYTES_MAX) die("--value-bytes", "1..1024");
            c->value_bytes = (uint32_t)v;
        } else {
            usage();
        }
    }
    if (endpoint == NULL || strlen(c->prefix) > 24) usage();
    int n = snprintf(c->url, sizeof(c->url), "%s/v3/kv/put", endpoint);
    if (n < 0 || (size_t)n >= sizeof(c->url)) die("--endpoint", "too long");
}

int main(int argc, char **argv)
{
    cfg c = {.prefix = "bench", .value_bytes = 100};
    bc_opts_default(&c.common);
    parse(argc, argv, &c);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init", "failed");
    printf("note=etcd HTTP/JSON gateway at %s, one keep-alive connection per request in flight, "
           "value %u bytes, warm-up %llu ms, window %llu ms\n",
           c.url, c.value_bytes, (unsigned long long)c.common.warmup_ms,
           (unsigned long long)c.common.duration_ms);
    bool all = true;
    for (uint32_t i = 0; i < c.common.inflight_count; i++)
        all = run_one(&c, c.common.inflight[i]) && all;
    curl_global_cleanup();
    return all ? 0 : 1;
}
