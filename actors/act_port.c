/* Request/reply, and ports: mailboxes for threads that are not actors. A port is an actor
 * (trapping exits) whose handler moves each message into a mutex-guarded list that the
 * owning thread waits on; act_call and act_port_wait_exit pick their answer out of that list
 * by correlation id and leave the rest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "act_internal.h"

#define PORT_WAIT_SLACK_MS 5000u  /* act_call waits this much past its timer before giving up */
#define PORT_SPIN_NS       50000u /* a receiver spins this long before sleeping */

/* ---- Request / reply --------------------------------------------------------------------------
 */

tk_err act_request(act_system *sys, act_ref to, act_msg *msg, uint32_t timeout_ms,
                   uint64_t *out_request_id)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(msg != NULL && out_request_id != NULL);
    TK_ASSERT(!act_ref_is_none(msg->sender)); /* the timeout and the reply go to the sender */
    act_msg *timeout = act__msg_alloc_must(sys);
    if (timeout == NULL) return TK_ENOMEM;
    timeout->type = ACT_MSG_TIMEOUT;
    timeout->sender = to;
    uint64_t id;
    tk_err err = act__timer_start(sys, timeout_ms, msg->sender, timeout, true, &id);
    if (err != TK_OK) {
        act_msg_free(sys, timeout);
        return err;
    }
    msg->correlation = id;
    err = act_send(sys, to, msg);
    if (err != TK_OK) {
        (void)act__timer_claim(sys, id); /* the loop frees the timeout message */
        msg->correlation = 0;
        return err;
    }
    *out_request_id = id;
    return TK_OK;
}

tk_err act_reply(act_system *sys, const act_msg *request, act_msg *reply)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(request != NULL && reply != NULL);
    TK_ASSERT(request->correlation != 0); /* only a request made with act_request has one */
    if (!act__timer_claim(sys, request->correlation)) {
        act_msg_free(sys, reply); /* too late: the requester got its TIMEOUT */
        return TK_OK;
    }
    reply->correlation = request->correlation;
    /* Forced past the capacity: the requester waits for exactly one of reply or timeout, and
     * the timeout is cancelled now. */
    tk_err err = act__deliver(sys, request->sender, reply, false, true);
    if (err != TK_OK) return err;
    act__worker *w = act__current_worker();
    if (w != NULL && w->ctx.current_msg == reply) w->ctx.current_msg = NULL;
    return TK_OK;
}

/* ---- Ports ------------------------------------------------------------------------------------
 */

struct act_port {
    act_system *sys;
    act_ref ref;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    act_msg *head;       /* received, not yet taken: linked through node.next */
    act_msg *tail;
    bool closed;               /* the port's actor has exited */
    _Atomic uint32_t arrivals; /* messages received so far: spinning receivers watch it */
};

static act_msg *list_next(const act_msg *msg)
{
    return (act_msg *)atomic_load_explicit(&msg->node.next, memory_order_relaxed);
}

static tk_err port_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    act_port *port = (act_port *)(uintptr_t)arg; /* the port outlives its actor */
    TK_ASSERT(port != NULL);
    *(act_port **)state = port;
    return TK_OK;
}

static tk_err port_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    act_port *port = *(act_port **)state;
    TK_ASSERT(port != NULL);
    if (msg->type == ACT__MSG_PORT_CLOSE) {
        act_stop(ctx, ACT_REASON_NORMAL);
        return TK_OK;
    }
    ctx->current_msg = NULL; /* taken: the port's thread frees it */
    atomic_store_explicit(&msg->node.next, NULL, memory_order_relaxed);
    pthread_mutex_lock(&port->lock);
    if (port->tail != NULL) {
        atomic_store_explicit(&port->tail->node.next, &msg->node, memory_order_relaxed);
    } else {
        port->head = msg;
    }
    port->tail = msg;
    pthread_cond_broadcast(&port->cond);
    pthread_mutex_unlock(&port->lock);
    /* release: a spinning receiver that sees the new count finds the message under the lock */
    atomic_fetch_add_explicit(&port->arrivals, 1, memory_order_release);
    return TK_OK;
}

static void port_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    (void)reason;
    act_port *port = *(act_port **)state;
    pthread_mutex_lock(&port->lock);
    port->closed = true;
    pthread_cond_broadcast(&port->cond);
    pthread_mutex_unlock(&port->lock);
}

const act_behaviour act__port_behaviour = {
    .name = "port", .init = port_init, .handle = port_handle, .terminate = port_terminate};

tk_err act_port_open(act_system *sys, uint32_t mailbox_capacity, act_port **out_port)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(out_port != NULL);
    act_port *port = calloc(1, sizeof(*port));
    if (port == NULL) return TK_ENOMEM;
    port->sys = sys;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) goto fail;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&port->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) goto fail;
    if (pthread_mutex_init(&port->lock, NULL) != 0) goto fail_cond;
    act_spawn_opts opts = {.behaviour = &act__port_behaviour,
                           .state_size_bytes = sizeof(act_port *),
                           .arg = port,
                           .mailbox_capacity = mailbox_capacity,
                           .link_to = ACT_REF_NONE,
                           .trap_exit = true};
    tk_err err = act_spawn(sys, &opts, &port->ref);
    if (err != TK_OK) {
        pthread_mutex_destroy(&port->lock);
        pthread_cond_destroy(&port->cond);
        free(port);
        return err;
    }
    *out_port = port;
    return TK_OK;
fail_cond:
    pthread_cond_destroy(&port->cond);
fail:
    free(port);
    return TK_ENOMEM;
}

act_ref act_port_ref(const act_port *port)
{
    TK_ASSERT(port != NULL);
    TK_ASSERT(!act_ref_is_none(port->ref));
    return port->ref;
}

act_system *act_port_system(const act_port *port)
{
    TK_ASSERT(port != NULL);
    TK_ASSERT(port->sys != NULL);
    return port->sys;
}

/* A monotonic deadline timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_after(uint32_t timeout_ms)
{
    struct timespec now;
    int rc = clock_gettime(CLOCK_MONOTONIC, &now);
    TK_ASSERT(rc == 0);
    uint64_t ns = (uint64_t)now.tv_nsec + (uint64_t)(timeout_ms % 1000u) * 1000000u;
    now.tv_sec += (time_t)(timeout_ms / 1000u) + (time_t)(ns / 1000000000u);
    now.tv_nsec = (long)(ns % 1000000000u);
    return now;
}

/* Unlink and return the first message for which wanted(msg, key) holds, or NULL. Caller
 * holds the port lock. */
static act_msg *port_scan_locked(act_port *port, bool (*wanted)(const act_msg *, uint64_t),
                                 uint64_t key)
{
    act_msg *prev = NULL;
    for (act_msg *msg = port->head; msg != NULL; prev = msg, msg = list_next(msg)) {
        if (!wanted(msg, key)) continue;
        act_msg *next = list_next(msg);
        if (prev != NULL) {
            atomic_store_explicit(&prev->node.next, next != NULL ? &next->node : NULL,
                                  memory_order_relaxed);
        } else {
            port->head = next;
        }
        if (port->tail == msg) port->tail = prev;
        return msg;
    }
    return NULL;
}

/* Take the first message for which wanted(msg, key) holds, waiting until deadline. Caller
 * holds the port lock. NULL on timeout or when the port's actor is gone and nothing matches. */
static act_msg *port_take_locked(act_port *port, bool (*wanted)(const act_msg *, uint64_t),
                                 uint64_t key, const struct timespec *deadline)
{
    for (;;) { /* each pass scans what arrived; ends by match, timeout or close */
        act_msg *msg = port_scan_locked(port, wanted, key);
        if (msg != NULL) return msg;
        if (port->closed) return NULL;
        int rc = pthread_cond_timedwait(&port->cond, &port->lock, deadline);
        if (rc == ETIMEDOUT) return NULL;
    }
}

static bool wanted_any(const act_msg *msg, uint64_t key)
{
    (void)msg;
    (void)key;
    return true;
}

static bool wanted_correlation(const act_msg *msg, uint64_t key)
{
    return msg->correlation == key;
}

static bool wanted_down(const act_msg *msg, uint64_t key)
{
    return msg->type == ACT_MSG_DOWN && msg->correlation == key;
}

static act_msg *port_take(act_port *port, bool (*wanted)(const act_msg *, uint64_t), uint64_t key,
                          uint32_t timeout_ms)
{
    TK_ASSERT(act__current_worker() == NULL); /* blocking: never on a scheduler thread */
    struct timespec deadline = deadline_after(timeout_ms);
    /* Spin before sleeping: an answer often comes within microseconds, and a condition
     * variable's wake-up costs tens of them on this kind of machine. */
    uint64_t spin_until = tk_clock_mono_ns(tk_clock_system()) + PORT_SPIN_NS;
    uint32_t seen = atomic_load_explicit(&port->arrivals, memory_order_acquire) - 1u;
    for (uint32_t i = 0; timeout_ms > 0; i++) {
        uint32_t arrivals = atomic_load_explicit(&port->arrivals, memory_order_acquire);
        if (arrivals != seen) {
            seen = arrivals;
            pthread_mutex_lock(&port->lock);
            act_msg *msg = port_scan_locked(port, wanted, key);
            pthread_mutex_unlock(&port->lock);
            if (msg != NULL) return msg;
        }
        if ((i & 63u) == 63u && tk_clock_mono_ns(tk_clock_system()) >= spin_until) break;
    }
    pthread_mutex_lock(&port->lock);
    act_msg *msg = port_take_locked(port, wanted, key, &deadline);
    pthread_mutex_unlock(&port->lock);
    return msg;
}

tk_err act_port_receive(act_port *port, uint32_t timeout_ms, act_msg **out_msg)
{
    TK_ASSERT(port != NULL);
    TK_ASSERT(out_msg != NULL);
    act_msg *msg = port_take(port, wanted_any, 0, timeout_ms);
    if (msg == NULL) return TK_ETIMEDOUT;
    *out_msg = msg;
    return TK_OK;
}

tk_err act_call(act_port *port, act_ref to, act_msg *msg, uint32_t timeout_ms, act_msg **out_reply)
{
    TK_ASSERT(port != NULL);
    TK_ASSERT(msg != NULL && out_reply != NULL);
    msg->sender = port->ref;
    uint64_t id;
    tk_err err = act_request(port->sys, to, msg, timeout_ms, &id);
    if (err != TK_OK) return err;
    /* The request's timer answers within timeout_ms; the slack covers a loop stopping. */
    act_msg *answer = port_take(port, wanted_correlation, id, timeout_ms + PORT_WAIT_SLACK_MS);
    if (answer == NULL) return TK_ETIMEDOUT;
    if (answer->type == ACT_MSG_TIMEOUT) {
        act_msg_free(port->sys, answer);
        return TK_ETIMEDOUT;
    }
    *out_reply = answer;
    return TK_OK;
}

tk_err act_port_wait_exit(act_port *port, act_ref ref, uint32_t timeout_ms, act_reason *out_reason)
{
    TK_ASSERT(port != NULL);
    uint64_t id;
    tk_err err = act_monitor(port->sys, port->ref, ref, &id);
    if (err != TK_OK) return err;
    act_msg *down = port_take(port, wanted_down, id, timeout_ms);
    if (down == NULL) {
        act_demonitor(port->sys, port->ref, id);
        /* A DOWN that raced the demonitor is dropped here rather than left for receive. */
        act_msg *late = port_take(port, wanted_down, id, 0);
        act_msg_free(port->sys, late);
        return TK_ETIMEDOUT;
    }
    if (out_reason != NULL) {
        act_exit_info info;
        memcpy(&info, down->data, sizeof(info));
        *out_reason = info.reason;
    }
    act_msg_free(port->sys, down);
    return TK_OK;
}

void act_port_close(act_port *port)
{
    if (port == NULL) return;
    TK_ASSERT(act__current_worker() == NULL);
    act_msg *close = act__msg_alloc_must(port->sys);
    if (close != NULL) {
        close->type = ACT__MSG_PORT_CLOSE;
        if (act__deliver(port->sys, port->ref, close, false, true) != TK_OK) {
            act_msg_free(port->sys, close); /* already gone (system closing) */
        }
    }
    pthread_mutex_lock(&port->lock);
    for (uint64_t waits = 0; !port->closed; waits++) {
        TK_ASSERT(close != NULL || waits < 1); /* without a close message it never ends */
        pthread_cond_wait(&port->cond, &port->lock);
    }
    act_msg *msg = port->head;
    port->head = NULL;
    port->tail = NULL;
    pthread_mutex_unlock(&port->lock);
    while (msg != NULL) {
        act_msg *next = list_next(msg);
        act_msg_free(port->sys, msg);
        msg = next;
    }
    pthread_mutex_destroy(&port->lock);
    pthread_cond_destroy(&port->cond);
    free(port);
}
