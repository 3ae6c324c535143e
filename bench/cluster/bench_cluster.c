/* bench_cluster: events/s and commit latency of a running troika cluster, through its client
 * API (docs/api.md), at a fixed number of requests in flight (bench/cluster/README.md).
 *
 *   bench_cluster --node URL --token T [--prefix P] [--inflight 1,16,256]
 *                 [--duration-ms 5000] [--warmup-ms 1000]
 *
 * One nng req0 socket dialed to the node (the leader: a follower's status names it and the
 * driver follows), with one context and one aio per request in flight, so that N requests are
 * outstanding at once on one connection without a thread each. Every request is the "strategy"
 * write (StrategyEnabled: one event, one Raft proposal) with its own idempotency key
 * "<P>-<N>-<slot>-<seq>"; a request counts only when the reply is a msgpack map with ok: true,
 * i.e. the event committed (a majority fsynced it in Raft's log) and the leader applied it.
 * Latency is from the send call to the reply. 32 strategy names are used in turn (the ledger
 * holds at most 64), each 30 characters, so that an event is about 90 bytes as the ledger
 * encodes it (printed at start).
 *
 * Output: bench_common.h's line and JSON object per concurrency. Exit 1 when a concurrency had
 * no successful request.
 * This is a client, not a module: it includes nng and msgpack directly (STYLE.md section 1
 * applies to the engine's modules). Context: the aio callbacks run on nng's threads; each slot
 * is touched by one callback at a time (one operation outstanding per aio). */
#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "led.h"
#include "tk.h"

#define NAMES            32u   /* strategy names used in turn (LED_STRATEGIES_MAX is 64) */
#define REQUEST_TIMEOUT  10000 /* ms: a reply later than this is an error */
#define DRAIN_TIMEOUT_NS 30000000000u
#define URL_BYTES        128u

typedef struct cfg {
    char url[URL_BYTES];
    const char *token;
    const char *prefix;
    bc_opts common;
} cfg;

typedef enum slot_phase { SLOT_SEND, SLOT_RECV } slot_phase;

typedef struct run run;

/* One request in flight, cycling send -> receive -> send until the window ends. */
typedef struct slot {
    run *run; /* borrowed: owns the slot */
    uint32_t index;
    nng_ctx ctx;
    nng_aio *aio; /* owned */
    slot_phase phase;
    uint64_t seq;
    uint64_t sent_ns;
    msgpack_sbuffer sb;     /* owned: the request being built */
    msgpack_unpacked reply; /* owned: the last reply decoded */
    bc_samples samples;     /* owned */
    uint64_t errors;
} slot;

struct run {
    const cfg *cfg; /* borrowed */
    nng_socket sock;
    uint32_t inflight;
    uint64_t window_start_ns, window_end_ns;
    atomic_uint active;   /* slots still cycling */
    pthread_mutex_t lock; /* guards first_error */
    char first_error[160];
    slot *slots; /* owned: inflight of them */
};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_cluster: %s: %s\n", what, detail);
    exit(1);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str_with_body(pk, s, len);
}

/* The value of key in map o, or NULL. */
static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
    if (o->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != len) continue;
        if (memcmp(kv->key.via.str.ptr, key, len) == 0) return &kv->val;
    }
    return NULL;
}

/* A string value of map o into out ("" when absent or not a string). */
static void map_str(const msgpack_object *o, const char *key, char *out, size_t out_size)
{
    TK_ASSERT(out_size > 0);
    const msgpack_object *v = map_get(o, key);
    out[0] = '\0';
    if (v == NULL || v->type != MSGPACK_OBJECT_STR) return;
    size_t n = v->via.str.size < out_size - 1u ? v->via.str.size : out_size - 1u;
    memcpy(out, v->via.str.ptr, n);
    out[n] = '\0';
}

/* The reply's map, or NULL if body is not exactly one msgpack map (u keeps it alive). */
static const msgpack_object *reply_map(msgpack_unpacked *u, const void *body, size_t size)
{
    size_t off = 0;
    if (msgpack_unpack_next(u, body, size, &off) != MSGPACK_UNPACK_SUCCESS) return NULL;
    if (off != size || u->data.type != MSGPACK_OBJECT_MAP) return NULL;
    return &u->data;
}

/* True when the reply says ok: true; else why says what it said. */
static bool reply_ok(slot *s, const void *body, size_t size, char *why, size_t why_size)
{
    const msgpack_object *m = reply_map(&s->reply, body, size);
    if (m == NULL) {
        snprintf(why, why_size, "the reply is not a msgpack map");
        return false;
    }
    const msgpack_object *ok = map_get(m, "ok");
    if (ok != NULL && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) return true;
    char error[32], detail[96];
    map_str(m, "error", error, sizeof(error));
    map_str(m, "detail", detail, sizeof(detail));
    snprintf(why, why_size, "%s: %s", error, detail);
    return false;
}

static void strategy_name(uint32_t n, char *out, size_t out_size)
{
    snprintf(out, out_size, "bench-cluster-strategy-slot-%02u", n % NAMES);
}

/* The next request of s as an nng message, or NULL without memory. */
static nng_msg *request_build(slot *s)
{
    const cfg *c = s->run->cfg;
    char name[LED_NAME_BYTES], key[64];
    strategy_name(s->index, name, sizeof(name));
    snprintf(key, sizeof(key), "%s-%u-%u-%llu", c->prefix, s->run->inflight, s->index,
             (unsigned long long)s->seq);
    msgpack_sbuffer_clear(&s->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_str(&pk, "token");
    pack_str(&pk, c->token);
    pack_str(&pk, "op");
    pack_str(&pk, "strategy");
    pack_str(&pk, "name");
    pack_str(&pk, name);
    pack_str(&pk, "enabled");
    if (s->seq % 2u == 0)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_str(&pk, "key");
    pack_str(&pk, key);
    nng_msg *msg = NULL;
    if (nng_msg_alloc(&msg, 0) != 0) return NULL;
    if (nng_msg_append(msg, s->sb.data, s->sb.size) != 0) {
        nng_msg_free(msg);
        return NULL;
    }
    return msg;
}

static void slot_failed(slot *s, const char *why)
{
    s->errors++;
    pthread_mutex_lock(&s->run->lock);
    if (s->run->first_error[0] == '\0')
        snprintf(s->run->first_error, sizeof(s->run->first_error), "%s", why);
    pthread_mutex_unlock(&s->run->lock);
}

static void slot_retire(slot *s)
{
    /* release: the slot's samples and counts are complete before run_wait sees it retire */
    unsigned before = atomic_fetch_sub_explicit(&s->run->active, 1u, memory_order_release);
    TK_ASSERT(before >= 1u);
}

/* Send the slot's next request, or retire it once the window has ended. */
static void slot_next(slot *s)
{
    uint64_t now = bc_now_ns();
    if (now >= s->run->window_end_ns) {
        slot_retire(s);
        return;
    }
    s->seq++;
    nng_msg *msg = request_build(s);
    if (msg == NULL) {
        slot_failed(s, "out of memory");
        slot_retire(s);
        return;
    }
    s->phase = SLOT_SEND;
    s->sent_ns = bc_now_ns();
    nng_aio_set_msg(s->aio, msg);
    nng_ctx_send(s->ctx, s->aio);
}

/* The aio callback: a send finished (receive the reply) or a reply arrived (count it). */
static void slot_done(void *arg)
{
    slot *s = arg;
    int rv = nng_aio_result(s->aio);
    if (s->phase == SLOT_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(s->aio));
            slot_failed(s, nng_strerror(rv));
            slot_next(s);
            return;
        }
        s->phase = SLOT_RECV;
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    uint64_t now = bc_now_ns();
    if (rv != 0) {
        slot_failed(s, nng_strerror(rv));
        slot_next(s);
        return;
    }
    nng_msg *msg = nng_aio_get_msg(s->aio);
    char why[160];
    bool ok = reply_ok(s, nng_msg_body(msg), nng_msg_len(msg), why, sizeof(why));
    nng_msg_free(msg);
    if (!ok) {
        slot_failed(s, why);
    } else if (now >= s->run->window_start_ns && now <= s->run->window_end_ns) {
        bc_samples_add(&s->samples, now - s->sent_ns);
    }
    slot_next(s);
}

static void slots_open(run *r)
{
    r->slots = calloc(r->inflight, sizeof(*r->slots));
    if (r->slots == NULL) die("slots", "out of memory");
    for (uint32_t i = 0; i < r->inflight; i++) {
        slot *s = &r->slots[i];
        s->run = r;
        s->index = i;
        int rv = nng_ctx_open(&s->ctx, r->sock);
        if (rv == 0) rv = nng_aio_alloc(&s->aio, slot_done, s);
        if (rv != 0) die("nng context", nng_strerror(rv));
        nng_aio_set_timeout(s->aio, REQUEST_TIMEOUT);
        msgpack_sbuffer_init(&s->sb);
        msgpack_unpacked_init(&s->reply);
    }
}

/* Stop every slot's aio: no callback runs after this returns. */
static void slots_stop(run *r)
{
    for (uint32_t i = 0; i < r->inflight; i++)
        nng_aio_stop(r->slots[i].aio);
}

static void slots_close(run *r)
{
    for (uint32_t i = 0; i < r->inflight; i++) {
        slot *s = &r->slots[i];
        nng_aio_free(s->aio);
        nng_ctx_close(s->ctx);
        msgpack_sbuffer_destroy(&s->sb);
        msgpack_unpacked_destroy(&s->reply);
        bc_samples_fini(&s->samples);
    }
    free(r->slots);
    r->slots = NULL;
}

/* Wait until every slot has retired (or DRAIN_TIMEOUT_NS after the window), polling: the
 * main thread only waits, so a 20 ms poll costs the measurement nothing. */
static void run_wait(run *r)
{
    /* acquire: pairs with slot_retire's release */
    while (atomic_load_explicit(&r->active, memory_order_acquire) > 0) {
        if (bc_now_ns() > r->window_end_ns + DRAIN_TIMEOUT_NS) {
            fprintf(stderr, "bench_cluster: %u requests still unanswered; giving up on them\n",
                    atomic_load_explicit(&r->active, memory_order_relaxed));
            break;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 20000000};
        nanosleep(&pause, NULL);
    }
}

/* One concurrency: open a socket, keep inflight requests going, collect the figures. */
static bool run_one(const cfg *c, uint32_t inflight)
{
    TK_ASSERT(inflight >= 1 && inflight <= BC_INFLIGHT_MAX);
    run r = {.cfg = c, .inflight = inflight};
    pthread_mutex_init(&r.lock, NULL);
    int rv = nng_req0_open(&r.sock);
    if (rv == 0) rv = nng_socket_set_ms(r.sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0) rv = nng_dial(r.sock, c->url, NULL, 0);
    if (rv != 0) die(c->url, nng_strerror(rv));
    slots_open(&r);
    uint64_t start = bc_now_ns();
    r.window_start_ns = start + c->common.warmup_ms * 1000000u;
    r.window_end_ns = r.window_start_ns + c->common.duration_ms * 1000000u;
    atomic_store_explicit(&r.active, inflight, memory_order_relaxed); /* before any callback */
    for (uint32_t i = 0; i < inflight; i++)
        slot_next(&r.slots[i]);
    run_wait(&r);
    nng_close(r.sock); /* fails what is still outstanding; its callbacks then retire */
    slots_stop(&r);
    bc_result res = {
        .system = "troika", .inflight = inflight, .seconds = (double)c->common.duration_ms / 1e3};
    for (uint32_t i = 0; i < inflight; i++)
        res.errors += r.slots[i].errors;
    bc_samples all = {0};
    for (uint32_t i = 0; i < inflight; i++)
        bc_samples_merge(&all, &r.slots[i].samples);
    bc_result_compute(&res, &all);
    bc_samples_fini(&all);
    if (r.first_error[0] != '\0')
        fprintf(stderr, "bench_cluster: first error: %s\n", r.first_error);
    bc_report(&res);
    slots_close(&r);
    pthread_mutex_destroy(&r.lock);
    return res.ok > 0;
}

/* One synchronous "status" request to url: its role and leader_api. False without an answer. */
static bool probe(const cfg *c, const char *url, char *role, char *leader_api, size_t size)
{
    nng_socket sock;
    int rv = nng_req0_open(&sock);
    if (rv != 0) return false;
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 2000);
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 2000);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "token");
    pack_str(&pk, c->token);
    pack_str(&pk, "op");
    pack_str(&pk, "status");
    void *answer = NULL;
    size_t answer_size = 0;
    rv = nng_dial(sock, url, NULL, 0);
    if (rv == 0) rv = nng_send(sock, sb.data, sb.size, 0);
    if (rv == 0) rv = nng_recv(sock, &answer, &answer_size, NNG_FLAG_ALLOC);
    msgpack_sbuffer_destroy(&sb);
    nng_close(sock);
    if (rv != 0) return false;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const msgpack_object *m = reply_map(&u, answer, answer_size);
    if (m != NULL) {
        map_str(m, "role", role, size);
        map_str(m, "leader_api", leader_api, size);
    }
    msgpack_unpacked_destroy(&u);
    nng_free(answer, answer_size);
    return m != NULL;
}

/* Point c->url at the leader: a follower's status names it. */
static void find_leader(cfg *c)
{
    char role[32], leader[URL_BYTES];
    if (!probe(c, c->url, role, leader, sizeof(leader))) die(c->url, "no answer to status");
    if (strcmp(role, "leader") == 0) return;
    if (leader[0] == '\0') die(c->url, "not the leader, and it knows no leader");
    fprintf(stderr, "bench_cluster: %s is a %s; the leader is %s\n", c->url, role, leader);
    snprintf(c->url, sizeof(c->url), "%s", leader);
}

/* The size of one request's event as the ledger encodes it (its time field as now). */
static size_t event_bytes(void)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_STRATEGY_ENABLED;
    ev.version = 1;
    ev.ts_ns = tk_clock_wall_ns(tk_clock_system());
    strategy_name(0, ev.u.strategy_enabled.strategy, sizeof(ev.u.strategy_enabled.strategy));
    ev.u.strategy_enabled.enabled = true;
    uint8_t buf[LED_EVENT_BYTES_MAX];
    size_t size = 0;
    TK_ASSERT(led_event_encode(&ev, buf, sizeof(buf), &size) == TK_OK);
    TK_ASSERT(size > 0);
    return size;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cluster --node URL --token T [--prefix P] "
                    "[--inflight 1,16,256] [--duration-ms N] [--warmup-ms N]\n");
    exit(2);
}

static void parse(int argc, char **argv, cfg *c)
{
    const char *node = NULL;
    for (int i = 1; i < argc; i++) {
        if (bc_parse_common(argc, argv, &i, &c->common)) continue;
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--node") == 0)
            node = argv[++i];
        else if (strcmp(argv[i], "--token") == 0)
            c->token = argv[++i];
        else if (strcmp(argv[i], "--prefix") == 0)
            c->prefix = argv[++i];
        else
            usage();
    }
    if (node == NULL || c->token == NULL || strlen(node) >= sizeof(c->url)) usage();
    if (strlen(c->prefix) > 24) die("--prefix", "at most 24 characters (keys are 1..63 bytes)");
    snprintf(c->url, sizeof(c->url), "%s", node);
}

int main(int argc, char **argv)
{
    cfg c = {.prefix = "bench", .token = NULL};
    bc_opts_default(&c.common);
    parse(argc, argv, &c);
    find_leader(&c);
    printf("note=troika client API at %s, one req0 socket with one context per request in "
           "flight, event %zu bytes (StrategyEnabled) + 2 bytes of entry framing, "
           "warm-up %llu ms, window %llu ms\n",
           c.url, event_bytes(), (unsigned long long)c.common.warmup_ms,
           (unsigned long long)c.common.duration_ms);
    bool all = true;
    for (uint32_t i = 0; i < c.common.inflight_count; i++)
        all = run_one(&c, c.common.inflight[i]) && all;
    nng_fini();
    return all ? 0 : 1;
}
