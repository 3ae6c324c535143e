/* troika's HTTP client service (prefix net_): libcurl's multi interface driven by the actor
 * runtime's libuv loop (act_loop_run), so that no scheduler thread ever waits on the network
 * (DESIGN.md principle 4). An actor hands a request over with net_http_send and receives the
 * response as a message (NET_MSG_RESPONSE) in its own mailbox. Timeouts per request; retries
 * with exponential backoff and jitter, for requests the caller marks idempotent only;
 * connections kept and reused across requests (the multi handle's connection cache); TLS peer
 * and host verification always on. Feeds, venues and the risk monitor's webhook use it
 * (docs/venues.md).
 *
 * Threads: net_http_open and net_http_close from a thread that is not the runtime's loop
 * thread (main, a test, a supervisor's start); net_http_send from any thread. Responses are
 * delivered by act_send from the loop thread. */
#ifndef TK_NET_NET_H
#define TK_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "tk.h"

#define NET_MSG_BASE     0x4e00u /* 'N' << 8: the service's message types */
#define NET_MSG_RESPONSE (NET_MSG_BASE + 1u)
_Static_assert(NET_MSG_BASE >= ACT_MSG_USER, "the service's messages are user messages");

#define NET_URL_BYTES      2048u       /* a URL, with its NUL */
#define NET_HEADERS_MAX    8u          /* extra request headers */
#define NET_HEADER_BYTES   512u        /* one "Name: value" request header, with its NUL */
#define NET_BODY_BYTES_MAX (16u << 20) /* largest response body accepted */
#define NET_ERROR_BYTES    256u        /* the text of a transport error */

typedef enum net_method { NET_GET, NET_POST, NET_PUT, NET_DELETE } net_method;

/* A request, filled by the caller (net_request_init gives the defaults) and moved into
 * net_http_send. */
typedef struct net_request {
    net_method method;
    char url[NET_URL_BYTES];
    char headers[NET_HEADERS_MAX][NET_HEADER_BYTES]; /* "Name: value"; "" for none */
    const char *content_type; /* of body; NULL: application/x-www-form-urlencoded */
    char *body;               /* owned (malloc), body_size bytes; NULL for none */
    size_t body_size;
    uint32_t timeout_ms; /* the whole exchange, per attempt (default 10,000) */
    /* Retries (only when idempotent: sending twice must be harmless, as for a GET or a query
     * by client order id): a transport error or an HTTP 5xx is tried again up to retries_max
     * more times, after a backoff drawn uniformly from [d/2, d], d = min(backoff_max_ms,
     * backoff_ms * 2^(attempt - 1)) ("equal jitter": AWS Architecture Blog, "Exponential
     * Backoff And Jitter", 2015). HTTP 429 and 418 are never retried here: they carry the
     * venue's Retry-After, which the caller honours. */
    bool idempotent;
    uint32_t retries_max;    /* default 3 */
    uint32_t backoff_ms;     /* default 100 */
    uint32_t backoff_max_ms; /* default 2,000 */
    uint64_t tag; /* the caller's, echoed as the response message's correlation and in tag */
} net_request;

/* What came back, owned by the response message (its ptr; freed with the message, or by the
 * receiver with net_response_free after taking it). */
typedef struct net_response {
    uint64_t tag;
    /* TK_OK: an HTTP response arrived (any status: look at status); TK_ETIMEDOUT: no answer
     * within timeout_ms; TK_EIO: the connection failed or closed without a response (error
     * says how), TLS verification failed included; TK_ECANCELED: the service closed first;
     * TK_ENOMEM; TK_EFULL: the body exceeded NET_BODY_BYTES_MAX. */
    tk_err err;
    long status; /* HTTP status, 0 without a response */
    char *body;  /* owned, NUL-terminated (body_size bytes before the NUL) */
    size_t body_size;
    char *headers;     /* owned: the final response's header lines as received, NUL-terminated */
    uint32_t attempts; /* 1 + the retries made */
    uint32_t new_connections;    /* connections opened for the last attempt (0: one was reused) */
    char error[NET_ERROR_BYTES]; /* a transport error's text; "" otherwise */
} net_response;

/* Defaults: GET, no headers, no body, timeout 10,000 ms, not idempotent, 3 retries, backoff
 * 100 ms doubling up to 2,000 ms, tag 0; url empty. */
void net_request_init(net_request *req);

/* Free a request that was not sent (its body too). NULL is a no-op. */
void net_request_free(net_request *req);

/* Free a response taken from its message (set msg->ptr to NULL first). NULL is a no-op. */
void net_response_free(net_response *resp);

/* The value of the response header `name` (case-insensitive), trimmed, into out (cut to
 * out_size - 1 bytes); false when absent. */
bool net_response_header(const net_response *resp, const char *name, char *out, size_t out_size);

/* Seconds the venue asked to wait (the Retry-After header in seconds, RFC 9110 section
 * 10.2.3), or -1 when absent or not a number of seconds. */
int64_t net_response_retry_after_s(const net_response *resp);

typedef struct net_http net_http;

typedef struct net_http_opts {
    uint32_t max_connections; /* connections kept for reuse (default 16 when 0) */
    const char *ca_file;      /* a CA bundle to trust instead of the system's; NULL: system's */
    const char *user_agent;   /* NULL: "troika" */
} net_http_opts;

/* Start the service on sys's loop. Errors: TK_ENOMEM, TK_EIO (libcurl would not start),
 * TK_ESTALE (sys is closing). *out written on TK_OK only. */
TK_MUST_USE tk_err net_http_open(act_system *sys, const net_http_opts *opts, net_http **out);

/* Stop: transfers in flight end with TK_ECANCELED responses (sent to whoever asked, if it
 * lives), connections close. Returns once the loop has let go of everything. NULL is a no-op.
 * Before act_system_close. */
void net_http_close(net_http *http);

/* Send req (malloc'd, moved in: the service owns it from here, on every return, and frees it
 * with net_request_free) and deliver the
 * response to reply_to as a NET_MSG_RESPONSE message (correlation: req->tag, ptr: the
 * net_response, sender: ACT_REF_NONE). A response whose receiver is gone or whose mailbox is
 * full is dropped. Errors (no response will come): TK_EINVAL (empty url), TK_ENOMEM,
 * TK_ESTALE (the service is closing). */
TK_MUST_USE tk_err net_http_send(net_http *http, act_ref reply_to, net_request *req);

#endif /* TK_NET_NET_H */
