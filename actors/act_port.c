/* Request/reply, and ports: mailboxes for threads that are not actors. A port is an actor
 * (trapping exits) whose handler pushes each message into the port's inbox, an MPSC queue
 * that the owning thread alone pops, waiting by spinning and then on a futex. The owning
 * thread moves what it pops into a private stash, from which act_call and
 * act_port_wait_exit pick their answer by correlation id, leaving the rest. */
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

/* ---- Ports ---------------------------------------------------------------------------------- */

/* Owned by the port's thread; its actor borrows it until its mailbox closes (after its last
 * handler), which act_port_close waits for before it frees the port. */
struct act_port {
    act_system *sys;
    act_ref ref;
    act__mpsc inbox;           /* pushed by the port's actor, popped by the port's thread */
    _Atomic uint32_t arrivals; /* futex word: bumped after each push */
    _Atomic uint32_t sleeping; /* the port's thread is in (or entering) futex_wait */
    act_msg *stash_head;       /* port's thread only: popped, not yet taken */
    act_msg *stash_tail;
};

static act_msg *list_next(const act_msg *msg)
{
    return (act_msg *)atomic_load_explicit(&msg->node.next, memory_order_relaxed);
}

/* True once the port's actor is gone (its mailbox closed, or its slot reused): it will never
 * touch the port again. acquire: its last pushes to the inbox are visible after this. */
static bool port_gone(const act_port *port)
{
    const act__actor *actor = act__slot(port->sys, port->ref);
    TK_ASSERT(actor != NULL);
    uint64_t word = atomic_load_explicit(&actor->word, memory_order_acquire);
    return act__word_gen(word) != port->ref.gen || (word & ACT__WORD_CLOSED) != 0;
}

/* Tell the port's thread a message arrived. */
static void port_notify(act_port *port)
{
    /* seq_cst, then the seq_cst load of sleeping: either the thread sees the new count before
     * it sleeps, or we see it sleeping and wake it (and futex_wait re-checks the count). */
    atomic_fetch_add_explicit(&port->arrivals, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&port->sleeping, memory_order_seq_cst) != 0) {
        act__futex_wake(&port->arrivals);
    }
}

static tk_err port_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    act_port *port = (act_port *)(uintptr_t)arg; /* borrowed until the mailbox closes */
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
    act__mpsc_push(&port->inbox, &msg->node);
    port_notify(port);
    return TK_OK;
}

static const act_behaviour port_behaviour = {
    .name = "port", .init = port_init, .handle = port_handle, .terminate = NULL};

tk_err act_port_open(act_system *sys, uint32_t mailbox_capacity, act_port **out_port)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(out_port != NULL);
    act_port *port = calloc(1, sizeof(*port));
    if (port == NULL) return TK_ENOMEM;
    port->sys = sys;
    act__mpsc_init(&port->inbox);
    act_spawn_opts opts = {.behaviour = &port_behaviour,
                           .state_size_bytes = sizeof(act_port *),
                           .arg = port,
                           .mailbox_capacity = mailbox_capacity,
                           .link_to = ACT_REF_NONE,
                           .trap_exit = true};
    tk_err err = act_spawn(sys, &opts, &port->ref);
    if (err != TK_OK) {
        free(port); /* a failed spawn runs no handler that could still use it */
        return err;
    }
    *out_port = port;
    return TK_OK;
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

/* Move everything the inbox holds now to the end of the stash. */
static void stash_fill(act_port *port)
{
    for (act__qnode *node = act__mpsc_pop(&port->inbox); node != NULL;
         node = act__mpsc_pop(&port->inbox)) {
        act_msg *msg = (act_msg *)(void *)node;
        atomic_store_explicit(&msg->node.next, NULL, memory_order_relaxed);
        if (port->stash_tail != NULL) {
            atomic_store_explicit(&port->stash_tail->node.next, &msg->node, memory_order_relaxed);
        } else {
            port->stash_head = msg;
        }
        port->stash_tail = msg;
    }
}

/* Unlink and return the first stashed message for which wanted(msg, key) holds, or NULL. */
static act_msg *stash_take(act_port *port, bool (*wanted)(const act_msg *, uint64_t), uint64_t key)
{
    act_msg *prev = NULL;
    for (act_msg *msg = port->stash_head; msg != NULL; prev = msg, msg = list_next(msg)) {
        if (!wanted(msg, key)) continue;
        act_msg *next = list_next(msg);
        if (prev != NULL) {
            atomic_store_explicit(&prev->node.next, next != NULL ? &next->node : NULL,
                                  memory_order_relaxed);
        } else {
            port->stash_head = next;
        }
        if (port->stash_tail == msg) port->stash_tail = prev;
        return msg;
    }
    return NULL;
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

/* Take the first message for which wanted(msg, key) holds, waiting up to timeout_ms: spin for
 * PORT_SPIN_NS first (an answer often comes within microseconds, and a thread wake-up costs
 * tens of them on this kind of machine), then sleep. NULL on timeout, or when the port's actor
 * is gone and nothing matches. */
static act_msg *port_take(act_port *port, bool (*wanted)(const act_msg *, uint64_t), uint64_t key,
                          uint32_t timeout_ms)
{
    TK_ASSERT(act__current_worker() == NULL); /* blocking: never on a scheduler thread */
    uint64_t start_ns = tk_clock_mono_ns(tk_clock_system());
    uint64_t deadline_ns = start_ns + (uint64_t)timeout_ms * 1000000u;
    uint32_t seen = atomic_load_explicit(&port->arrivals, memory_order_seq_cst) - 1u;
    for (uint64_t round = 0;; round++) { /* a wait: ends by a match, the deadline, or the end */
        uint32_t arrivals = atomic_load_explicit(&port->arrivals, memory_order_seq_cst);
        if (arrivals != seen) { /* something came (or the close): look */
            seen = arrivals;
            stash_fill(port);
            act_msg *msg = stash_take(port, wanted, key);
            if (msg != NULL) return msg;
        }
        act__cpu_relax();
        if ((round & 15u) != 15u) continue; /* read the clock every 16 rounds only */
        uint64_t now_ns = tk_clock_mono_ns(tk_clock_system());
        if (now_ns >= deadline_ns) return NULL;
        if (port_gone(port)) { /* killed or closed: what it pushed is in the stash by now */
            stash_fill(port);
            return stash_take(port, wanted, key);
        }
        if (now_ns - start_ns < PORT_SPIN_NS) continue;
        atomic_store_explicit(&port->sleeping, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&port->arrivals, memory_order_seq_cst) == seen) {
            act__futex_wait(&port->arrivals, seen, deadline_ns - now_ns);
        }
        atomic_store_explicit(&port->sleeping, 0, memory_order_relaxed);
    }
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
    TK_ASSERT(close != NULL); /* without it the port's actor would never exit */
    close->type = ACT__MSG_PORT_CLOSE;
    if (act__deliver(port->sys, port->ref, close, false, true) != TK_OK) {
        act_msg_free(port->sys, close); /* already gone */
    }
    for (uint64_t waits = 0; !port_gone(port); waits++) {
        TK_ASSERT(waits < (1ull << 32)); /* microseconds away, unless the runtime is broken */
        act_msg_free(port->sys, port_take(port, wanted_any, 0, 1)); /* drop what arrives */
    }
    stash_fill(port);
    for (act_msg *msg = port->stash_head; msg != NULL;) {
        act_msg *next = list_next(msg);
        act_msg_free(port->sys, msg);
        msg = next;
    }
    free(port);
}
