/* The runtime's libuv loop thread: commands from any thread (run a function, start or cancel a
 * timer) arrive through a mutex-guarded list and one uv_async; timers are uv_timers; the
 * watchdog is a uv_timer that samples each worker's handler counter. The only file of actors/
 * that includes uv.h. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "act_internal.h"

#define TIMER_BUCKETS   1024u
#define BALANCE_TICK_MS 2u /* how often the loop looks for workers stuck with actors waiting */

enum { TIMER_PENDING, TIMER_FIRED, TIMER_CANCELLED };

typedef struct act__timer {
    uv_timer_t handle;
    uint64_t id;
    _Atomic int state; /* PENDING until fired (one-shot) or cancelled: one CAS decides */
    act_system *sys;
    act_ref to;
    act_msg *msg; /* one-shot: the message to send, owned until sent */
    uint32_t delay_ms;
    uint32_t period_ms; /* interval: > 0 */
    act_ref sender;     /* interval: the template of each tick's message */
    uint32_t type;
    uint32_t size_bytes;
    unsigned char data[ACT_MSG_INLINE_BYTES];
    struct act__timer *next; /* bucket chain, under the loop lock */
} act__timer;

typedef enum { CMD_RUN, CMD_TIMER_START, CMD_TIMER_CANCEL, CMD_STOP } cmd_kind;

typedef struct loop_cmd {
    cmd_kind kind;
    void (*fn)(void *arg, struct uv_loop_s *loop);
    void *arg;
    uint64_t timer_id;
    struct loop_cmd *next;
} loop_cmd;

typedef struct worker_watch {
    uint64_t seq;      /* the worker's handling counter when last sampled */
    uint64_t since_ns; /* when that odd value was first seen */
    bool flagged;
} worker_watch;

struct act__loop {
    uv_loop_t uv;
    uv_async_t wake;
    uv_timer_t watchdog;
    pthread_t thread;
    act_system *sys;
    pthread_mutex_t lock; /* the command list and the timer table */
    loop_cmd *cmd_head;
    loop_cmd *cmd_tail;
    bool stopping; /* under lock: no more commands */
    act__timer *timers[TIMER_BUCKETS];
    worker_watch *watches; /* loop thread only: one per worker */
};

/* ---- Commands ---------------------------------------------------------------------------------
 */

/* Queue cmd for the loop thread (cmd moved on TK_OK). last: the STOP command, after which
 * nothing more is accepted. Errors: TK_ESTALE (the loop is stopping). */
static tk_err loop_post(act__loop *loop, loop_cmd *cmd, bool last)
{
    pthread_mutex_lock(&loop->lock);
    if (loop->stopping) {
        pthread_mutex_unlock(&loop->lock);
        return TK_ESTALE;
    }
    loop->stopping = last;
    cmd->next = NULL;
    if (loop->cmd_tail != NULL) {
        loop->cmd_tail->next = cmd;
    } else {
        loop->cmd_head = cmd;
    }
    loop->cmd_tail = cmd;
    pthread_mutex_unlock(&loop->lock);
    /* uv_async_send coalesces: many posts, one wake-up. It fails only on a closed handle,
     * which cannot happen before stopping is set above. */
    int rc = uv_async_send(&loop->wake);
    TK_ASSERT(rc == 0);
    return TK_OK;
}

static act__timer **timer_find_locked(act__loop *loop, uint64_t id)
{
    act__timer **at = &loop->timers[id % TIMER_BUCKETS];
    for (; *at != NULL; at = &(*at)->next) {
        if ((*at)->id == id) return at;
    }
    return at;
}

static void timer_closed(uv_handle_t *handle)
{
    act__timer *timer = handle->data;
    act__loop *loop = timer->sys->loop;
    pthread_mutex_lock(&loop->lock);
    act__timer **at = timer_find_locked(loop, timer->id);
    TK_ASSERT(*at == timer);
    *at = timer->next;
    pthread_mutex_unlock(&loop->lock);
    act_msg_free(timer->sys, timer->msg); /* a cancelled one-shot's message */
    free(timer);
}

static void timer_close(act__timer *timer)
{
    if (uv_is_closing((uv_handle_t *)&timer->handle)) return;
    uv_close((uv_handle_t *)&timer->handle, timer_closed);
}

static void timer_fired(uv_timer_t *handle)
{
    act__timer *timer = handle->data;
    act_system *sys = timer->sys;
    if (timer->period_ms == 0) {
        int expected = TIMER_PENDING;
        if (atomic_compare_exchange_strong_explicit(&timer->state, &expected, TIMER_FIRED,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            /* Forced past the capacity: a timer's message is never dropped for a full mailbox
             * (pending timers bound how many there can be). A dead target drops it. */
            if (act__deliver(sys, timer->to, timer->msg, false, true) == TK_OK) timer->msg = NULL;
        }
        timer_close(timer);
        return;
    }
    if (atomic_load_explicit(&timer->state, memory_order_acquire) != TIMER_PENDING) {
        timer_close(timer);
        return;
    }
    tk_err err =
        act_send_data(sys, timer->to, timer->sender, timer->type, timer->data, timer->size_bytes);
    if (err == TK_ESTALE) { /* the target is gone: the interval ends */
        atomic_store_explicit(&timer->state, TIMER_CANCELLED, memory_order_release);
        timer_close(timer);
    } /* TK_EFULL: this tick is skipped */
}

static void cmd_timer_start(act__loop *loop, uint64_t id)
{
    pthread_mutex_lock(&loop->lock);
    act__timer *timer = *timer_find_locked(loop, id);
    pthread_mutex_unlock(&loop->lock);
    TK_ASSERT(timer != NULL); /* only the loop removes timers, after starting them */
    int rc = uv_timer_init(&loop->uv, &timer->handle);
    TK_ASSERT(rc == 0); /* cannot fail on a live loop */
    timer->handle.data = timer;
    if (atomic_load_explicit(&timer->state, memory_order_acquire) == TIMER_CANCELLED) {
        timer_close(timer);
        return;
    }
    rc = uv_timer_start(&timer->handle, timer_fired, timer->delay_ms, timer->period_ms);
    TK_ASSERT(rc == 0);
}

static void cmd_timer_cancel(act__loop *loop, uint64_t id)
{
    pthread_mutex_lock(&loop->lock);
    act__timer *timer = *timer_find_locked(loop, id);
    pthread_mutex_unlock(&loop->lock);
    if (timer != NULL && timer->handle.data == timer) timer_close(timer);
}

static void stop_walk(uv_handle_t *handle, void *arg)
{
    act__loop *loop = arg;
    if (uv_is_closing(handle)) return;
    if (handle == (uv_handle_t *)&loop->wake || handle == (uv_handle_t *)&loop->watchdog) {
        uv_close(handle, NULL); /* they live in the loop struct */
        return;
    }
    timer_close(handle->data); /* one of ours: frees itself once closed */
}

static void loop_woken(uv_async_t *async)
{
    act__loop *loop = async->data;
    pthread_mutex_lock(&loop->lock);
    loop_cmd *cmd = loop->cmd_head;
    loop->cmd_head = NULL;
    loop->cmd_tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    while (cmd != NULL) {
        loop_cmd *next = cmd->next;
        switch (cmd->kind) {
        case CMD_RUN:
            cmd->fn(cmd->arg, &loop->uv);
            break;
        case CMD_TIMER_START:
            cmd_timer_start(loop, cmd->timer_id);
            break;
        case CMD_TIMER_CANCEL:
            cmd_timer_cancel(loop, cmd->timer_id);
            break;
        case CMD_STOP:
            uv_walk(&loop->uv, stop_walk, loop);
            break;
        }
        free(cmd);
        cmd = next;
    }
}

/* ---- Watchdog and balancer
 * ---------------------------------------------------------------------------------
 */

static void watchdog_check(act__loop *loop, uint32_t index, uint64_t now_ns)
{
    act_system *sys = loop->sys;
    act__worker *w = &sys->workers[index];
    worker_watch *watch = &loop->watches[index];
    uint64_t seq = atomic_load_explicit(&w->handling, memory_order_relaxed);
    if ((seq & 1u) == 0 || seq != watch->seq) { /* idle, or a new handler since last time */
        *watch = (worker_watch){.seq = seq, .since_ns = now_ns, .flagged = false};
        return;
    }
    uint64_t ran_ms = (now_ns - watch->since_ns) / 1000000u;
    uint32_t slot = atomic_load_explicit(&w->turn_slot, memory_order_relaxed);
    if (sys->opts.stuck_deadline_ms > 0 && ran_ms >= sys->opts.stuck_deadline_ms) {
        TK_LOG(TK_LOG_ERROR, "actors", "scheduler thread stuck: aborting",
               TK_LOG_U64("worker", index), TK_LOG_U64("slot", slot), TK_LOG_U64("ran_ms", ran_ms));
        abort(); /* the node's own supervisor (systemd, the cluster) takes over */
    }
    if (sys->opts.turn_deadline_ms > 0 && ran_ms >= sys->opts.turn_deadline_ms && !watch->flagged) {
        watch->flagged = true;
        atomic_fetch_add_explicit(&sys->watchdog_overruns, 1, memory_order_relaxed);
        atomic_store_explicit(&w->overrun_seq, seq, memory_order_relaxed); /* read after */
        TK_LOG(TK_LOG_WARN, "actors", "handler overran its deadline", TK_LOG_U64("worker", index),
               TK_LOG_U64("slot", slot), TK_LOG_U64("ran_ms", ran_ms));
    }
}

/* A worker inside one handler since the last tick, with actors waiting on it (in its next
 * slot, which only a searching worker may take, or its run queue), gets help: one parked
 * worker is woken to search. Runs before watchdog_check updates the sample. */
static void balance_check(act__loop *loop, uint32_t index)
{
    act__worker *w = &loop->sys->workers[index];
    uint64_t seq = atomic_load_explicit(&w->handling, memory_order_relaxed);
    bool stalled = (seq & 1u) != 0 && seq == loop->watches[index].seq;
    if (!stalled) return;
    bool waiting = atomic_load_explicit(&w->next_actor, memory_order_relaxed) != NULL ||
                   !act__mpsc_looks_empty(&w->runq);
    if (waiting) act__wake_one(loop->sys);
}

static void watchdog_tick(uv_timer_t *timer)
{
    act__loop *loop = timer->data;
    uint64_t now_ns = tk_clock_mono_ns(tk_clock_system()); /* real time: stuck is stuck */
    for (uint32_t i = 0; i < loop->sys->threads; i++) {
        if (loop->sys->threads > 1) balance_check(loop, i);
        watchdog_check(loop, i, now_ns);
    }
}

/* ---- The loop thread --------------------------------------------------------------------------
 */

static void *loop_main(void *arg)
{
    act__loop *loop = arg;
    /* Runs until CMD_STOP has closed every handle. */
    int rc = uv_run(&loop->uv, UV_RUN_DEFAULT);
    (void)rc; /* non-zero only if handles remain, which CMD_STOP rules out */
    return NULL;
}

static tk_err loop_handles_init(act__loop *loop)
{
    if (uv_loop_init(&loop->uv) != 0) return TK_ENOMEM;
    if (uv_async_init(&loop->uv, &loop->wake, loop_woken) != 0) goto fail;
    loop->wake.data = loop;
    if (uv_timer_init(&loop->uv, &loop->watchdog) != 0) goto fail;
    loop->watchdog.data = loop;
    const act_system_opts *opts = &loop->sys->opts;
    uint32_t deadline_ms =
        opts->turn_deadline_ms > 0 ? opts->turn_deadline_ms : opts->stuck_deadline_ms;
    uint32_t tick_ms = BALANCE_TICK_MS; /* the balancer ticks even without deadlines */
    if (deadline_ms > 0 && deadline_ms / 4u < tick_ms) tick_ms = deadline_ms / 4u;
    if (tick_ms == 0) tick_ms = 1;
    if (loop->sys->threads > 1 || deadline_ms > 0) {
        if (uv_timer_start(&loop->watchdog, watchdog_tick, tick_ms, tick_ms) != 0) goto fail;
    }
    return TK_OK;
fail:
    uv_walk(&loop->uv, stop_walk, loop);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    uv_loop_close(&loop->uv);
    return TK_ENOMEM;
}

tk_err act__loop_start(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(sys->loop == NULL);
    act__loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) return TK_ENOMEM;
    loop->sys = sys;
    loop->watches = calloc(sys->threads, sizeof(worker_watch));
    if (loop->watches == NULL || pthread_mutex_init(&loop->lock, NULL) != 0) goto fail;
    if (loop_handles_init(loop) != TK_OK) goto fail_lock;
    sys->loop = loop;
    if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0) {
        sys->loop = NULL;
        uv_walk(&loop->uv, stop_walk, loop);
        uv_run(&loop->uv, UV_RUN_DEFAULT);
        uv_loop_close(&loop->uv);
        goto fail_lock;
    }
    return TK_OK;
fail_lock:
    pthread_mutex_destroy(&loop->lock);
fail:
    free(loop->watches);
    free(loop);
    return TK_EAGAIN;
}

void act__loop_stop(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    act__loop *loop = sys->loop;
    if (loop == NULL) return;
    loop_cmd *stop = calloc(1, sizeof(*stop));
    TK_ASSERT(stop != NULL); /* shutdown cannot proceed without it; a few bytes */
    stop->kind = CMD_STOP;
    tk_err err = loop_post(loop, stop, true);
    TK_ASSERT(err == TK_OK);
    pthread_join(loop->thread, NULL);
    int rc = uv_loop_close(&loop->uv);
    TK_ASSERT(rc == 0); /* every handle was closed by CMD_STOP */
    for (uint32_t i = 0; i < TIMER_BUCKETS; i++) {
        TK_ASSERT(loop->timers[i] == NULL);
    }
    pthread_mutex_destroy(&loop->lock);
    free(loop->watches);
    free(loop);
    sys->loop = NULL;
}

/* ---- Timers and loop work ---------------------------------------------------------------------
 */

/* Register timer (its fields set) under a fresh id and ask the loop to start it. The timer
 * is moved on TK_OK. Errors: TK_ENOMEM, TK_ESTALE (the loop is stopping). */
static tk_err timer_submit(act_system *sys, act__timer *timer, bool correlate, uint64_t *out_id)
{
    act__loop *loop = sys->loop;
    loop_cmd *cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL) return TK_ENOMEM;
    timer->sys = sys;
    atomic_init(&timer->state, TIMER_PENDING);
    pthread_mutex_lock(&loop->lock);
    timer->id = act__next_id(sys);
    if (correlate) timer->msg->correlation = timer->id;
    act__timer **at = timer_find_locked(loop, timer->id);
    TK_ASSERT(*at == NULL);
    timer->next = NULL;
    *at = timer;
    pthread_mutex_unlock(&loop->lock);
    uint64_t id = timer->id; /* once posted, the loop may fire and free the timer */
    *cmd = (loop_cmd){.kind = CMD_TIMER_START, .timer_id = id};
    tk_err err = loop_post(loop, cmd, false);
    if (err != TK_OK) {
        pthread_mutex_lock(&loop->lock);
        at = timer_find_locked(loop, id);
        *at = timer->next;
        pthread_mutex_unlock(&loop->lock);
        free(cmd);
        return err;
    }
    *out_id = id;
    return TK_OK;
}

tk_err act__timer_start(act_system *sys, uint32_t delay_ms, act_ref to, act_msg *msg,
                        bool correlate, uint64_t *out_id)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(msg != NULL && out_id != NULL);
    act__timer *timer = calloc(1, sizeof(*timer));
    if (timer == NULL) return TK_ENOMEM;
    timer->to = to;
    timer->msg = msg;
    timer->delay_ms = delay_ms;
    tk_err err = timer_submit(sys, timer, correlate, out_id);
    if (err != TK_OK) free(timer); /* msg stays the caller's */
    return err;
}

tk_err act_send_after(act_system *sys, uint32_t delay_ms, act_ref to, act_msg *msg,
                      act_timer *out_timer)
{
    uint64_t id;
    tk_err err = act__timer_start(sys, delay_ms, to, msg, false, &id);
    if (err == TK_OK && out_timer != NULL) out_timer->id = id;
    return err;
}

tk_err act_send_interval(act_system *sys, uint32_t period_ms, act_ref to, act_ref sender,
                         uint32_t type, const void *data, uint32_t size_bytes, act_timer *out_timer)
{
    TK_ASSERT(sys != NULL);
    if (period_ms == 0 || size_bytes > ACT_MSG_INLINE_BYTES) return TK_EINVAL;
    if (size_bytes > 0) TK_ASSERT(data != NULL);
    act__timer *timer = calloc(1, sizeof(*timer));
    if (timer == NULL) return TK_ENOMEM;
    timer->to = to;
    timer->delay_ms = period_ms;
    timer->period_ms = period_ms;
    timer->sender = sender;
    timer->type = type;
    timer->size_bytes = size_bytes;
    if (size_bytes > 0) memcpy(timer->data, data, size_bytes);
    uint64_t id;
    tk_err err = timer_submit(sys, timer, false, &id);
    if (err != TK_OK) {
        free(timer);
        return err;
    }
    if (out_timer != NULL) out_timer->id = id;
    return TK_OK;
}

bool act__timer_claim(act_system *sys, uint64_t timer_id)
{
    TK_ASSERT(sys != NULL);
    act__loop *loop = sys->loop;
    loop_cmd *cmd = calloc(1, sizeof(*cmd));
    pthread_mutex_lock(&loop->lock);
    act__timer *timer = *timer_find_locked(loop, timer_id);
    int expected = TIMER_PENDING;
    bool claimed = timer != NULL && atomic_compare_exchange_strong_explicit(
                                        &timer->state, &expected, TIMER_CANCELLED,
                                        memory_order_acq_rel, memory_order_acquire);
    pthread_mutex_unlock(&loop->lock);
    if (claimed && cmd != NULL) {
        *cmd = (loop_cmd){.kind = CMD_TIMER_CANCEL, .timer_id = timer_id};
        if (loop_post(loop, cmd, false) == TK_OK) cmd = NULL;
    }
    /* Without the command (out of memory, or stopping) a one-shot still cannot fire: it is
     * CANCELLED, and the loop frees it when it fires or when the loop stops. */
    free(cmd);
    return claimed;
}

tk_err act_timer_cancel(act_system *sys, act_timer timer)
{
    return act__timer_claim(sys, timer.id) ? TK_OK : TK_ENOENT;
}

tk_err act_loop_run(act_system *sys, void (*fn)(void *arg, struct uv_loop_s *loop), void *arg)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(fn != NULL);
    loop_cmd *cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL) return TK_ENOMEM;
    *cmd = (loop_cmd){.kind = CMD_RUN, .fn = fn, .arg = arg};
    tk_err err = loop_post(sys->loop, cmd, false);
    if (err != TK_OK) free(cmd);
    return err;
}
