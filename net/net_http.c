/* The HTTP client service (net.h): libcurl's multi-socket interface on the runtime's libuv
 * loop. libcurl says which sockets to watch (CURLMOPT_SOCKETFUNCTION: a uv_poll each) and
 * when to call back (CURLMOPT_TIMERFUNCTION: one uv_timer); the loop tells it what happened
 * (curl_multi_socket_action). Everything below that touches libcurl or libuv runs on the loop
 * thread; the only shared field is `closing`, read under `lock`. */
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <uv.h>

#include "net.h"

struct net_http;

/* One request in flight: its easy handle between attempts too (reused for the retry). */
typedef struct transfer {
    struct net_http *http;
    CURL *easy;
    struct curl_slist *header_list;
    act_ref reply_to;
    net_request *req;   /* owned */
    net_response *resp; /* owned until delivered */
    size_t body_cap;
    size_t headers_size, headers_cap;
    uv_timer_t backoff; /* between attempts; data: this */
    bool in_multi;      /* added to the multi handle now */
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next; /* the live list */
} transfer;

/* A socket libcurl asked the loop to watch. */
typedef struct watched {
    uv_poll_t poll; /* data: this */
    struct net_http *http;
    curl_socket_t fd;
    struct watched *prev, *next; /* the watched list */
} watched;

struct net_http {
    act_system *sys;
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t timer;
    transfer *live;
    watched *sockets; /* the sockets libcurl asked to watch */
    tk_rng rng;       /* the backoff's jitter */
    uint32_t max_connections;
    char *ca_file;    /* owned, or NULL */
    char *user_agent; /* owned */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool started, start_failed, closing, closed;
    uint32_t handles_open; /* uv handles not yet closed (the timer, polls, backoff timers) */
    uint32_t sends_queued; /* net_http_send calls whose loop work has not run yet */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_global(void)
{
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void net_request_init(net_request *req)
{
    TK_ASSERT(req != NULL);
    memset(req, 0, sizeof(*req));
    req->method = NET_GET;
    req->timeout_ms = 10000;
    req->retries_max = 3;
    req->backoff_ms = 100;
    req->backoff_max_ms = 2000;
}

void net_request_free(net_request *req)
{
    if (req == NULL) return;
    free(req->body);
    free(req);
}

void net_response_free(net_response *resp)
{
    if (resp == NULL) return;
    free(resp->body);
    free(resp->headers);
    free(resp);
}

static void response_free_any(void *resp)
{
    net_response_free(resp);
}

bool net_response_header(const net_response *resp, const char *name, char *out, size_t out_size)
{
    TK_ASSERT(resp != NULL && name != NULL && out != NULL && out_size > 0);
    size_t name_len = strlen(name);
    const char *line = resp->headers;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > name_len && line[name_len] == ':' && strncasecmp(line, name, name_len) == 0) {
            const char *v = line + name_len + 1;
            const char *v_end = line + len;
            while (v < v_end && (*v == ' ' || *v == '\t'))
                v++;
            while (v_end > v && isspace((unsigned char)v_end[-1]))
                v_end--;
            size_t n = (size_t)(v_end - v) < out_size - 1 ? (size_t)(v_end - v) : out_size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return false;
}

int64_t net_response_retry_after_s(const net_response *resp)
{
    char value[32];
    if (!net_response_header(resp, "Retry-After", value, sizeof(value)) || value[0] == '\0')
        return -1;
    int64_t s = 0;
    for (const char *c = value; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || s > INT64_MAX / 10 - 9) return -1; /* an HTTP date: not here */
        s = s * 10 + (*c - '0');
    }
    return s;
}

/* ---- Closing uv handles ------------------------------------------------------------------ */

/* With lock held: once closing and nothing is left on the loop, net_http_close may go on. */
static void closed_check(struct net_http *http)
{
    if (http->closing && http->handles_open == 0 && http->sends_queued == 0 && !http->closed) {
        http->closed = true;
        pthread_cond_broadcast(&http->cond);
    }
}

/* One uv handle fewer on the loop. */
static void handle_gone(struct net_http *http)
{
    pthread_mutex_lock(&http->lock);
    http->handles_open--;
    closed_check(http);
    pthread_mutex_unlock(&http->lock);
}

/* Close callbacks: each handle's data is its owner (the service, a watched socket, a
 * transfer), freed once libuv is done with the handle. */
static void timer_closed(uv_handle_t *handle)
{
    handle_gone(handle->data);
}

static void poll_closed(uv_handle_t *handle)
{
    watched *w = handle->data;
    struct net_http *http = w->http;
    free(w);
    handle_gone(http);
}

static void backoff_closed(uv_handle_t *handle)
{
    transfer *t = handle->data;
    struct net_http *http = t->http;
    free(t);
    handle_gone(http);
}

/* ---- Delivering --------------------------------------------------------------------------- */

static void transfer_unlink(transfer *t)
{
    struct net_http *http = t->http;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        http->live = t->next;
    if (t->next != NULL) t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* Send the response to whoever asked and free the transfer (its backoff timer's close frees
 * the memory). */
static void transfer_finish(transfer *t, tk_err err)
{
    struct net_http *http = t->http;
    if (t->in_multi) curl_multi_remove_handle(http->multi, t->easy);
    t->in_multi = false;
    net_response *resp = t->resp;
    resp->err = err;
    if (resp->body != NULL) resp->body[resp->body_size] = '\0';
    act_msg *msg = act_msg_alloc(http->sys);
    if (msg != NULL) {
        msg->type = NET_MSG_RESPONSE;
        msg->correlation = t->req->tag;
        msg->ptr = resp;
        msg->ptr_free = response_free_any;
        if (act_send(http->sys, t->reply_to, msg) != TK_OK)
            act_msg_free(http->sys, msg); /* the receiver is gone or full: dropped */
    } else {
        net_response_free(resp);
    }
    t->resp = NULL;
    transfer_unlink(t);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->header_list);
    net_request_free(t->req);
    t->easy = NULL;
    t->header_list = NULL;
    t->req = NULL;
    uv_close((uv_handle_t *)&t->backoff, backoff_closed);
}

/* ---- Attempts ------------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
    transfer *t = arg;
    net_response *resp = t->resp;
    size_t n = size * count;
    if (resp->body_size + n > NET_BODY_BYTES_MAX) return 0; /* aborts: CURLE_WRITE_ERROR */
    if (resp->body_size + n + 1 > t->body_cap) {
        size_t cap = t->body_cap == 0 ? 4096 : t->body_cap;
        while (cap < resp->body_size + n + 1)
            cap *= 2;
        char *grown = realloc(resp->body, cap);
        if (grown == NULL) return 0;
        resp->body = grown;
        t->body_cap = cap;
    }
    memcpy(resp->body + resp->body_size, data, n);
    resp->body_size += n;
    return n;
}

static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
    transfer *t = arg;
    net_response *resp = t->resp;
    size_t n = size * count;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) t->headers_size = 0; /* a new response */
    if (t->headers_size + n + 1 > t->headers_cap) {
        size_t cap = t->headers_cap == 0 ? 1024 : t->headers_cap;
        while (cap < t->headers_size + n + 1)
            cap *= 2;
        if (cap > 1u << 20) return 0;
        char *grown = realloc(resp->headers, cap);
        if (grown == NULL) return 0;
        resp->headers = grown;
        t->headers_cap = cap;
    }
    memcpy(resp->headers + t->headers_size, data, n);
    t->headers_size += n;
    resp->headers[t->headers_size] = '\0';
    return n;
}

/* (Re)start an attempt: the body so far is dropped, the easy handle goes back in. */
static void attempt_start(transfer *t)
{
    net_response *resp = t->resp;
    resp->body_size = 0;
    resp->status = 0;
    resp->error[0] = '\0';
    t->headers_size = 0;
    if (resp->headers != NULL) resp->headers[0] = '\0';
    t->errbuf[0] = '\0';
    resp->attempts++;
    CURLMcode mc = curl_multi_add_handle(t->http->multi, t->easy);
    if (mc != CURLM_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", curl_multi_strerror(mc));
        transfer_finish(t, TK_ENOMEM);
        return;
    }
    t->in_multi = true;
}

static void on_backoff(uv_timer_t *timer)
{
    attempt_start(timer->data);
}

static tk_err err_of_curl(CURLcode code)
{
    if (code == CURLE_OK) return TK_OK;
    if (code == CURLE_OPERATION_TIMEDOUT) return TK_ETIMEDOUT;
    if (code == CURLE_OUT_OF_MEMORY) return TK_ENOMEM;
    if (code == CURLE_WRITE_ERROR) return TK_EFULL; /* on_body refused: too large, or no memory */
    return TK_EIO;
}

/* An attempt ended: deliver, or wait and try again. */
static void attempt_done(transfer *t, CURLcode code)
{
    struct net_http *http = t->http;
    curl_multi_remove_handle(http->multi, t->easy);
    t->in_multi = false;
    net_response *resp = t->resp;
    long status = 0;
    if (code == CURLE_OK) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    long connects = 0;
    curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
    resp->status = status;
    resp->new_connections = connects > 0 ? (uint32_t)connects : 0;
    if (code != CURLE_OK)
        snprintf(resp->error, sizeof(resp->error), "%s",
                 t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code));
    bool transient =
        (code != CURLE_OK && code != CURLE_WRITE_ERROR && code != CURLE_OUT_OF_MEMORY &&
         code != CURLE_PEER_FAILED_VERIFICATION && code != CURLE_SSL_CACERT_BADFILE) ||
        (code == CURLE_OK && status >= 500 && status <= 599);
    const net_request *req = t->req;
    if (transient && req->idempotent && resp->attempts <= req->retries_max) {
        uint64_t d = req->backoff_ms;
        for (uint32_t i = 1; i < resp->attempts && d < req->backoff_max_ms; i++)
            d *= 2;
        if (d > req->backoff_max_ms) d = req->backoff_max_ms;
        uint64_t wait = d / 2 + tk_rng_below(&http->rng, d / 2 + 1);
        uv_timer_start(&t->backoff, on_backoff, wait, 0);
        return;
    }
    transfer_finish(t, err_of_curl(code));
}

static void check_done(struct net_http *http)
{
    int pending = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(http->multi, &pending)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        attempt_done(t, m->data.result);
    }
}

/* ---- libcurl's sockets and timer on the loop ------------------------------------------------- */

static void on_poll(uv_poll_t *poll, int status, int events)
{
    watched *w = poll->data;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
    if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
    int running = 0;
    curl_multi_socket_action(w->http->multi, w->fd, flags, &running);
    check_done(w->http);
}

/* Stop watching w and close its handle (the close frees it). */
static void unwatch(watched *w)
{
    struct net_http *http = w->http;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        http->sockets = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, poll_closed);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *socket_arg)
{
    (void)easy;
    struct net_http *http = arg;
    watched *w = socket_arg;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            curl_multi_assign(http->multi, fd, NULL);
            unwatch(w);
        }
        return 0;
    }
    if (w == NULL) {
        w = calloc(1, sizeof(*w));
        if (w == NULL) return -1; /* libcurl fails the transfer */
        w->http = http;
        w->fd = fd;
        if (uv_poll_init_socket(http->loop, &w->poll, fd) != 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        pthread_mutex_lock(&http->lock);
        http->handles_open++;
        pthread_mutex_unlock(&http->lock);
        w->next = http->sockets;
        if (http->sockets != NULL) http->sockets->prev = w;
        http->sockets = w;
        curl_multi_assign(http->multi, fd, w);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
    uv_poll_start(&w->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *timer)
{
    struct net_http *http = timer->data;
    int running = 0;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    struct net_http *http = arg;
    if (timeout_ms < 0)
        uv_timer_stop(&http->timer);
    else
        uv_timer_start(&http->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- Start, stop, send --------------------------------------------------------------------- */

static void start_on_loop(void *arg, uv_loop_t *loop)
{
    struct net_http *http = arg;
    http->loop = loop;
    http->multi = curl_multi_init();
    bool ok = http->multi != NULL && uv_timer_init(loop, &http->timer) == 0;
    if (ok) {
        http->timer.data = http;
        http->handles_open = 1;
        curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
        curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
        curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
        curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)http->max_connections);
    } else if (http->multi != NULL) {
        curl_multi_cleanup(http->multi);
        http->multi = NULL;
    }
    pthread_mutex_lock(&http->lock);
    http->started = true;
    http->start_failed = !ok;
    pthread_cond_broadcast(&http->cond);
    pthread_mutex_unlock(&http->lock);
}

static void http_free(struct net_http *http)
{
    pthread_mutex_destroy(&http->lock);
    pthread_cond_destroy(&http->cond);
    free(http->ca_file);
    free(http->user_agent);
    free(http);
}

tk_err net_http_open(act_system *sys, const net_http_opts *opts, net_http **out)
{
    TK_ASSERT(sys != NULL && out != NULL);
    pthread_once(&curl_once, curl_global);
    if (!curl_ready) return TK_EIO;
    struct net_http *http = calloc(1, sizeof(*http));
    if (http == NULL) return TK_ENOMEM;
    http->sys = sys;
    http->max_connections = opts != NULL && opts->max_connections > 0 ? opts->max_connections : 16u;
    http->user_agent =
        strdup(opts != NULL && opts->user_agent != NULL ? opts->user_agent : "troika");
    http->ca_file = opts != NULL && opts->ca_file != NULL ? strdup(opts->ca_file) : NULL;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (uint64_t)(uintptr_t)http;
    tk_rng_init(&http->rng, seed);
    pthread_mutex_init(&http->lock, NULL);
    pthread_cond_init(&http->cond, NULL);
    if (http->user_agent == NULL ||
        (opts != NULL && opts->ca_file != NULL && http->ca_file == NULL)) {
        http_free(http);
        return TK_ENOMEM;
    }
    tk_err err = act_loop_run(sys, start_on_loop, http);
    if (err != TK_OK) {
        http_free(http);
        return err;
    }
    pthread_mutex_lock(&http->lock);
    while (!http->started)
        pthread_cond_wait(&http->cond, &http->lock);
    bool failed = http->start_failed;
    pthread_mutex_unlock(&http->lock);
    if (failed) {
        http_free(http);
        return TK_EIO;
    }
    *out = http;
    return TK_OK;
}

static void close_on_loop(void *arg, uv_loop_t *loop)
{
    (void)loop;
    struct net_http *http = arg;
    while (http->live != NULL) {
        transfer *t = http->live;
        uv_timer_stop(&t->backoff);
        snprintf(t->resp->error, sizeof(t->resp->error), "the HTTP service closed");
        transfer_finish(t, TK_ECANCELED);
    }
    curl_multi_cleanup(http->multi); /* closes the kept connections */
    http->multi = NULL;
    while (http->sockets != NULL) /* any libcurl did not say REMOVE for while cleaning up */
        unwatch(http->sockets);
    uv_timer_stop(&http->timer);
    uv_close((uv_handle_t *)&http->timer, timer_closed);
}

void net_http_close(net_http *http)
{
    if (http == NULL) return;
    pthread_mutex_lock(&http->lock);
    http->closing = true;
    pthread_mutex_unlock(&http->lock);
    if (act_loop_run(http->sys, close_on_loop, http) == TK_OK) {
        pthread_mutex_lock(&http->lock);
        while (!http->closed)
            pthread_cond_wait(&http->cond, &http->lock);
        pthread_mutex_unlock(&http->lock);
    }
    http_free(http);
}

static const char *method_name(net_method m)
{
    switch (m) {
    case NET_POST:
        return "POST";
    case NET_PUT:
        return "PUT";
    case NET_DELETE:
        return "DELETE";
    case NET_GET:
        break;
    }
    return "GET";
}

/* Build the easy handle for t's request; false without memory. */
static bool easy_setup(transfer *t)
{
    struct net_http *http = t->http;
    const net_request *req = t->req;
    CURL *e = curl_easy_init();
    if (e == NULL) return false;
    t->easy = e;
    char type[NET_HEADER_BYTES];
    snprintf(type, sizeof(type), "Content-Type: %s",
             req->content_type != NULL ? req->content_type : "application/x-www-form-urlencoded");
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < NET_HEADERS_MAX; i++) {
        if (req->headers[i][0] == '\0') continue;
        struct curl_slist *more = curl_slist_append(list, req->headers[i]);
        if (more == NULL) goto nomem;
        list = more;
    }
    if (req->method != NET_GET) {
        struct curl_slist *more = curl_slist_append(list, type);
        if (more == NULL) goto nomem;
        list = more;
    }
    t->header_list = list;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (http->ca_file != NULL) curl_easy_setopt(e, CURLOPT_CAINFO, http->ca_file);
    curl_easy_setopt(e, CURLOPT_USERAGENT, http->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    /* libcurl sends a request again on a fresh connection, by itself, when a reused one closes
     * before any byte of the response: harmless for an idle connection the server had dropped,
     * a second order when the server had taken the first (a response lost after acceptance).
     * A request that is not idempotent therefore never rides a reused connection. */
    if (!req->idempotent) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    if (req->method != NET_GET) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method_name(req->method));
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_size);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
    }
    return true;
nomem:
    curl_slist_free_all(list);
    return false;
}

static void send_on_loop(void *arg, uv_loop_t *loop)
{
    transfer *t = arg;
    struct net_http *http = t->http;
    if (uv_timer_init(loop, &t->backoff) != 0) { /* cannot happen with a live loop */
        net_request_free(t->req);
        net_response_free(t->resp);
        free(t);
        return;
    }
    t->backoff.data = t;
    pthread_mutex_lock(&http->lock);
    http->handles_open++;
    http->sends_queued--;
    bool closing = http->closing;
    pthread_mutex_unlock(&http->lock);
    t->next = http->live;
    if (http->live != NULL) http->live->prev = t;
    http->live = t;
    if (closing || !easy_setup(t)) {
        snprintf(t->resp->error, sizeof(t->resp->error), "%s",
                 closing ? "the HTTP service closed" : "out of memory");
        transfer_finish(t, closing ? TK_ECANCELED : TK_ENOMEM);
        return;
    }
    attempt_start(t);
}

tk_err net_http_send(net_http *http, act_ref reply_to, net_request *req)
{
    TK_ASSERT(http != NULL && req != NULL);
    if (req->url[0] == '\0') {
        net_request_free(req);
        return TK_EINVAL;
    }
    transfer *t = calloc(1, sizeof(*t));
    net_response *resp = calloc(1, sizeof(*resp));
    pthread_mutex_lock(&http->lock);
    bool closing = http->closing;
    if (!closing && t != NULL && resp != NULL) http->sends_queued++;
    pthread_mutex_unlock(&http->lock);
    if (closing || t == NULL || resp == NULL) {
        free(t);
        free(resp);
        net_request_free(req);
        return closing ? TK_ESTALE : TK_ENOMEM;
    }
    resp->tag = req->tag;
    *t = (transfer){.http = http, .reply_to = reply_to, .req = req, .resp = resp};
    tk_err err = act_loop_run(http->sys, send_on_loop, t);
    if (err != TK_OK) {
        free(t);
        free(resp);
        net_request_free(req);
        pthread_mutex_lock(&http->lock);
        http->sends_queued--;
        closed_check(http);
        pthread_mutex_unlock(&http->lock);
    }
    return err;
}
