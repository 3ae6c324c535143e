/* cluster/clu_http.c: a node's /healthz and /metrics on nng's HTTP server (the one file that
 * includes nng's HTTP API). Each path has its own nng handler whose data is a route: a copy of
 * the source plus the count of callbacks inside it, so that clu_http_stop can wait for them
 * and turn later ones away before the caller frees what source->arg points to. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "clu.h"

#define ROUTE_COUNT 2u
/* The first /metrics render buffer, doubled on TK_EFULL up to METRICS_RENDER_TRIES times. A
 * render of clu_metrics is about 5 KiB (its families and labels are fixed), so one try is
 * enough; the others guard against the families growing. */
#define METRICS_BUF_BYTES    (64u * 1024u)
#define METRICS_RENDER_TRIES 4u
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HEALTHZ_CONTENT_TYPE "application/json"

/* One served path. Owned by its nng handler (route_free is the handler's data destructor), so
 * it lives as long as any connection still holds the handler, even after clu_http_stop. */
typedef struct route {
    clu_http_source source; /* copied */
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when inflight drops to 0 */
    uint32_t inflight;   /* callbacks inside source (under lock) */
    bool stopping;       /* clu_http_stop has begun: source is not called again (under lock) */
} route;

struct clu_http {
    nng_http_server *server;                 /* owned: our hold on nng's server */
    nng_http_handler *handlers[ROUTE_COUNT]; /* owned: registered on server; NULL if not */
    route *routes[ROUTE_COUNT];              /* borrowed: owned by handlers[i] */
};

static void healthz_handle(nng_aio *aio);
static void metrics_handle(nng_aio *aio);

static const struct {
    const char *path;
    void (*handle)(nng_aio *aio);
} ROUTES[ROUTE_COUNT] = {{"/healthz", healthz_handle}, {"/metrics", metrics_handle}};

static tk_err err_from_nng(int rv)
{
    TK_ASSERT(rv != 0);
    if (rv == NNG_EINVAL || rv == NNG_EADDRINVAL) return TK_EINVAL;
    if (rv == NNG_EADDRINUSE) return TK_EEXIST;
    if (rv == NNG_ENOMEM) return TK_ENOMEM;
    return TK_EIO;
}

/* The route of the handler nng is calling (the aio's input 1). */
static route *route_of(nng_aio *aio)
{
    nng_http_handler *handler = nng_aio_get_input(aio, 1);
    TK_ASSERT(handler != NULL);
    route *r = nng_http_handler_get_data(handler);
    TK_ASSERT(r != NULL);
    return r;
}

/* pthread's lock and unlock fail only on misuse (an invalid or unowned mutex). */
static void route_lock(route *r)
{
    int rc = pthread_mutex_lock(&r->lock);
    TK_ASSERT(rc == 0);
}

static void route_unlock(route *r)
{
    int rc = pthread_mutex_unlock(&r->lock);
    TK_ASSERT(rc == 0);
}

/* Enter the source unless clu_http_stop has begun; route_leave when done with it. */
static bool route_enter(route *r)
{
    route_lock(r);
    bool open = !r->stopping;
    if (open) r->inflight++;
    route_unlock(r);
    return open;
}

static void route_leave(route *r)
{
    route_lock(r);
    TK_ASSERT(r->inflight > 0);
    r->inflight--;
    if (r->inflight == 0) {
        int rc = pthread_cond_broadcast(&r->idle);
        TK_ASSERT(rc == 0);
    }
    route_unlock(r);
}

/* Turn later callbacks away and wait for those inside the source to leave it. */
static void route_quiesce(route *r)
{
    route_lock(r);
    r->stopping = true;
    /* Bounded by the callbacks already inside the source: no new one enters. */
    while (r->inflight > 0) {
        int rc = pthread_cond_wait(&r->idle, &r->lock);
        TK_ASSERT(rc == 0);
    }
    route_unlock(r);
}

/* The handler's data destructor: nng calls it when the handler's last reference drops. */
static void route_free(void *arg)
{
    route *r = arg;
    /* Taking the lock orders this after route_quiesce's unlock for ThreadSanitizer, which does
     * not see the ordering that nng's (uninstrumented) handler reference count gives. */
    route_lock(r);
    TK_ASSERT(r->inflight == 0);
    route_unlock(r);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static route *route_new(const clu_http_source *source)
{
    route *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->source = *source;
    if (pthread_mutex_init(&r->lock, NULL) != 0) goto fail_route;
    if (pthread_cond_init(&r->idle, NULL) != 0) goto fail_lock;
    return r;
fail_lock:
    pthread_mutex_destroy(&r->lock);
fail_route:
    free(r);
    return NULL;
}

/* A response with status code and a copy of the size bytes at body. */
static int response_new(uint16_t code, const char *content_type, const char *body, size_t size,
                        nng_http_res **out)
{
    nng_http_res *res = NULL;
    int rv = nng_http_res_alloc(&res);
    if (rv != 0) return rv;
    rv = nng_http_res_set_status(res, code);
    if (rv == 0) rv = nng_http_res_set_header(res, "Content-Type", content_type);
    if (rv == 0) rv = nng_http_res_copy_data(res, body, size);
    if (rv != 0) {
        nng_http_res_free(res);
        return rv;
    }
    *out = res;
    return 0;
}

/* Complete the handler's aio: send res on rv == 0; else nng drops the connection. */
static void reply(nng_aio *aio, int rv, nng_http_res *res)
{
    if (rv != 0) {
        nng_aio_finish(aio, rv);
        return;
    }
    TK_ASSERT(res != NULL);
    rv = nng_aio_set_output(aio, 0, res); /* fails only for an index out of range */
    TK_ASSERT(rv == 0);
    nng_aio_finish(aio, 0);
}

static void hash_hex(const uint8_t hash[LED_HASH_BYTES], char out[2u * LED_HASH_BYTES + 1u])
{
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < LED_HASH_BYTES; i++) {
        out[2u * i] = digits[hash[i] >> 4];
        out[2u * i + 1u] = digits[hash[i] & 0x0fu];
    }
    out[2u * LED_HASH_BYTES] = '\0';
}

/* The /healthz response for status: 200, or 503 when the role is unavailable or diverged.
 * Indices are u64; json_int_t is signed 64-bit, which no term or index comes near. */
static int healthz_response(const clu_status *s, nng_http_res **out)
{
    const char *role = clu_role_name(s->role);
    TK_ASSERT(role != NULL);
    char hash[2u * LED_HASH_BYTES + 1u];
    hash_hex(s->state_hash, hash);
    uint64_t lag = s->commit_index >= s->applied_index ? s->commit_index - s->applied_index : 0;
    json_t *doc = json_pack(
        "{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s%, s:s, s:b, s:b}", "node_id",
        (json_int_t)s->node_id, "role", role, "term", (json_int_t)s->term, "commit_index",
        (json_int_t)s->commit_index, "applied_index", (json_int_t)s->applied_index, "ledger_index",
        (json_int_t)s->ledger_index, "lag", (json_int_t)lag, "leader_id", (json_int_t)s->leader_id,
        "leader_api", s->leader_api, strnlen(s->leader_api, sizeof(s->leader_api)), "state_hash",
        hash, "kill_switch", s->kill_switch ? 1 : 0, "diverged", s->diverged ? 1 : 0);
    if (doc == NULL) return NNG_ENOMEM;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL) return NNG_ENOMEM;
    bool healthy = s->role != CLU_ROLE_UNAVAILABLE && !s->diverged;
    uint16_t code = healthy ? NNG_HTTP_STATUS_OK : NNG_HTTP_STATUS_SERVICE_UNAVAILABLE;
    int rv = response_new(code, HEALTHZ_CONTENT_TYPE, text, strlen(text), out);
    free(text);
    return rv;
}

/* The /metrics response: m rendered into a buffer that grows until it fits. */
static int metrics_response(const clu_metrics *m, nng_http_res **out)
{
    size_t size = METRICS_BUF_BYTES;
    for (uint32_t attempt = 0; attempt < METRICS_RENDER_TRIES; attempt++) {
        char *buf = malloc(size);
        if (buf == NULL) return NNG_ENOMEM;
        size_t len = 0;
        tk_err err = clu_metrics_render(m, buf, size, &len);
        TK_ASSERT(err == TK_OK || err == TK_EFULL);
        int rv = 0;
        if (err == TK_OK) {
            rv = response_new(NNG_HTTP_STATUS_OK, METRICS_CONTENT_TYPE, buf, len, out);
        }
        free(buf);
        if (err == TK_OK) return rv;
        size *= 2u;
    }
    return NNG_EMSGSIZE;
}

static void healthz_handle(nng_aio *aio)
{
    route *r = route_of(aio);
    clu_status status;
    bool up = false;
    if (route_enter(r)) {
        up = r->source.status(r->source.arg, &status);
        route_leave(r);
    }
    nng_http_res *res = NULL;
    int rv = up ? healthz_response(&status, &res)
                : nng_http_res_alloc_error(&res, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
    reply(aio, rv, res);
}

static void metrics_handle(nng_aio *aio)
{
    route *r = route_of(aio);
    clu_metrics metrics;
    bool up = false;
    if (route_enter(r)) {
        up = r->source.metrics(r->source.arg, &metrics);
        route_leave(r);
    }
    nng_http_res *res = NULL;
    int rv = up ? metrics_response(&metrics, &res)
                : nng_http_res_alloc_error(&res, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
    reply(aio, rv, res);
}

/* Register ROUTES[i] on http->server: a route owned by a new handler for its path. */
static int route_add(clu_http *http, uint32_t i, const clu_http_source *source)
{
    TK_ASSERT(i < ROUTE_COUNT);
    TK_ASSERT(http->handlers[i] == NULL);
    route *r = route_new(source);
    if (r == NULL) return NNG_ENOMEM;
    nng_http_handler *handler = NULL;
    int rv = nng_http_handler_alloc(&handler, ROUTES[i].path, ROUTES[i].handle);
    if (rv != 0) {
        route_free(r);
        return rv;
    }
    /* Fails only on a registered handler (NNG_EBUSY). From here the handler owns r. */
    rv = nng_http_handler_set_data(handler, r, route_free);
    TK_ASSERT(rv == 0);
    rv = nng_http_server_add_handler(http->server, handler);
    if (rv != 0) {
        nng_http_handler_free(handler);
        return rv;
    }
    http->handlers[i] = handler;
    http->routes[i] = r;
    return 0;
}

/* Unregister and release the handlers that route_add registered. */
static void routes_remove(clu_http *http)
{
    for (uint32_t i = 0; i < ROUTE_COUNT; i++) {
        if (http->handlers[i] == NULL) continue;
        int rv = nng_http_server_del_handler(http->server, http->handlers[i]);
        TK_ASSERT(rv == 0);                       /* NNG_ENOENT: it was not registered */
        nng_http_handler_free(http->handlers[i]); /* route_free once no connection holds it */
        http->handlers[i] = NULL;
        http->routes[i] = NULL;
    }
}

tk_err clu_http_start(const char *url, const clu_http_source *source, clu_http **out)
{
    TK_ASSERT(url != NULL);
    TK_ASSERT(source != NULL);
    TK_ASSERT(source->status != NULL);
    TK_ASSERT(source->metrics != NULL);
    TK_ASSERT(out != NULL);
    nng_url *parsed = NULL;
    int rv = nng_url_parse(&parsed, url);
    if (rv != 0) return rv == NNG_ENOMEM ? TK_ENOMEM : TK_EINVAL;
    tk_err err = TK_ENOMEM;
    clu_http *http = calloc(1, sizeof(*http));
    if (http == NULL) goto fail_url;
    rv = nng_http_server_hold(&http->server, parsed);
    if (rv != 0) goto fail_http;
    for (uint32_t i = 0; i < ROUTE_COUNT && rv == 0; i++)
        rv = route_add(http, i, source);
    if (rv == 0) rv = nng_http_server_start(http->server);
    if (rv != 0) goto fail_routes;
    nng_url_free(parsed);
    *out = http;
    return TK_OK;
fail_routes:
    routes_remove(http);
    nng_http_server_release(http->server);
fail_http:
    err = err_from_nng(rv);
    free(http);
fail_url:
    nng_url_free(parsed);
    return err;
}

void clu_http_stop(clu_http *http)
{
    if (http == NULL) return;
    TK_ASSERT(http->server != NULL);
    for (uint32_t i = 0; i < ROUTE_COUNT; i++) {
        TK_ASSERT(http->routes[i] != NULL);
        route_quiesce(http->routes[i]);
    }
    routes_remove(http);
    nng_http_server_stop(http->server);
    nng_http_server_release(http->server);
    free(http);
}
