/* The actor system: slots, spawn, send, the scheduler workers (run queue per thread, O(1)
 * steal, spin-then-park) and an actor's turn and exit. */
#define _GNU_SOURCE /* syscall(SYS_futex) for parking; sysconf for the CPU count */

#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "act_internal.h"

#define CAS_TRIES_MAX     (1u << 24) /* lock-free retry loops: far past any real contention */
#define RELEASE_BATCH_MAX 16u        /* handled messages released from the count at once */
#define LIFO_RUNS_MAX     32u        /* next-slot turns in a row before the run queue gets a turn */
#define STEAL_PATIENCE    8u  /* looks at a victim stuck in one handler before taking its slot */
#define SLOT_LOOK_EVERY   64u /* searches per look at the victims' next slots */

_Thread_local act__worker *act__tls_worker;

static act__actor *actor_of_run_node(act__qnode *node)
{
    return (act__actor *)(void *)((char *)node - offsetof(act__actor, run_node));
}

void act__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- Parking ----------------------------------------------------------------------------------
 */

void act__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
    struct timespec timeout = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                               .tv_nsec = (long)(timeout_ns % 1000000000u)};
    /* Returns on a wake, a changed word (EAGAIN), a signal or the timeout: callers re-check.
     * The kernel compares the word with expected atomically, so a wake cannot be lost. */
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected,
                  timeout_ns > 0 ? &timeout : NULL, NULL, 0);
}

void act__futex_wake(_Atomic uint32_t *word)
{
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Wake one parked worker, unless one is already searching for work (it will find it).
 * Called right after a push to a run queue, whose exchange is seq_cst: with these seq_cst
 * loads and the parker's seq_cst increment and head loads (Dekker's pattern), either we see
 * the parker counted or it sees our push. No fence is needed on this, the hot side. */
void act__wake_one(act_system *sys)
{
    if (atomic_load_explicit(&sys->searching, memory_order_seq_cst) > 0) return;
    if (atomic_load_explicit(&sys->sleepers, memory_order_seq_cst) == 0) return;
    for (uint32_t i = 0; i < sys->threads; i++) {
        act__worker *w = &sys->workers[i];
        uint32_t expected = 1;
        if (atomic_compare_exchange_strong_explicit(&w->parked, &expected, 0, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_fetch_sub_explicit(&sys->sleepers, 1, memory_order_relaxed);
            act__futex_wake(&w->parked);
            return;
        }
    }
}

/* Put an actor on a run queue: this worker's own when called on a scheduler thread of this
 * system, else one chosen round robin. */
static void runq_push(act_system *sys, act__worker *w, act__actor *actor)
{
    if (w == NULL || w->sys != sys) {
        uint32_t next = atomic_fetch_add_explicit(&sys->inject_next, 1, memory_order_relaxed);
        w = &sys->workers[next % sys->threads];
    }
    act__mpsc_push(&w->runq, &actor->run_node);
    if (sys->threads > 1 || w != act__tls_worker) act__wake_one(sys); /* else: we are its worker */
}

/* Schedule an actor whose count just went from 0 to 1. On a scheduler thread it takes the
 * worker's next slot (the actor just sent a message runs next, on this core, as in tokio's
 * LIFO slot), pushing the slot's previous occupant to the run queue where others may steal
 * it. Thieves leave the slot alone unless its owner is stuck in a long handler, so filling it
 * wakes nobody. */
static void schedule(act_system *sys, act__actor *actor)
{
    act__worker *w = act__tls_worker;
    if (w != NULL && w->sys == sys) {
        /* acq_rel: publishes the actor to a thief's exchange; takes back a displaced one */
        act__actor *displaced =
            atomic_exchange_explicit(&w->next_actor, actor, memory_order_acq_rel);
        if (displaced == NULL) return;
        actor = displaced;
    }
    runq_push(sys, w, actor);
}

/* ---- Slots ------------------------------------------------------------------------------------
 */

act__actor *act__slot(act_system *sys, act_ref ref)
{
    TK_ASSERT(sys != NULL);
    if (ref.gen == 0) return NULL;
    if (ref.slot >= atomic_load_explicit(&sys->slots_used, memory_order_acquire)) return NULL;
    return &sys->slots[ref.slot];
}

/* Take a free slot (free list first, then never-used ones). NULL when actors_max are live. */
static act__actor *slot_take(act_system *sys, uint32_t *out_index)
{
    uint64_t head = atomic_load_explicit(&sys->free_head, memory_order_acquire);
    for (uint32_t tries = 0; (uint32_t)head != 0; tries++) {
        TK_ASSERT(tries < CAS_TRIES_MAX);
        uint32_t index = (uint32_t)head - 1u;
        uint32_t next = atomic_load_explicit(&sys->slots[index].free_next, memory_order_relaxed);
        /* The tag in the high half makes a head that was popped and pushed back differ (ABA). */
        uint64_t new_head = ((head >> 32) + 1u) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&sys->free_head, &head, new_head,
                                                  memory_order_acq_rel, memory_order_acquire)) {
            *out_index = index;
            return &sys->slots[index];
        }
    }
    uint32_t index = atomic_load_explicit(&sys->slots_used, memory_order_relaxed);
    for (uint32_t tries = 0; index < sys->opts.actors_max; tries++) {
        TK_ASSERT(tries < CAS_TRIES_MAX);
        if (atomic_compare_exchange_weak_explicit(&sys->slots_used, &index, index + 1u,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            *out_index = index;
            return &sys->slots[index];
        }
    }
    return NULL;
}

static void slot_release(act_system *sys, uint32_t index)
{
    act__actor *slot = &sys->slots[index];
    uint64_t head = atomic_load_explicit(&sys->free_head, memory_order_relaxed);
    for (uint32_t tries = 0;; tries++) {
        TK_ASSERT(tries < CAS_TRIES_MAX);
        atomic_store_explicit(&slot->free_next, (uint32_t)head, memory_order_relaxed);
        uint64_t new_head = ((head >> 32) + 1u) << 32 | (uint64_t)(index + 1u);
        /* release: the slot's reset is visible to the next taker */
        if (atomic_compare_exchange_weak_explicit(&sys->free_head, &head, new_head,
                                                  memory_order_release, memory_order_relaxed)) {
            return;
        }
    }
}

/* ---- Sending ----------------------------------------------------------------------------------
 */

tk_err act__deliver(act_system *sys, act_ref to, act_msg *msg, bool signal, bool force)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(msg != NULL);
    act__actor *actor = act__slot(sys, to);
    if (actor == NULL) goto stale;
    uint64_t word = atomic_load_explicit(&actor->word, memory_order_relaxed);
    for (uint32_t tries = 0;; tries++) {
        TK_ASSERT(tries < CAS_TRIES_MAX);
        if (act__word_gen(word) != to.gen || (word & ACT__WORD_CLOSED) != 0) goto stale;
        uint32_t count = act__word_count(word);
        if (!force && count >= atomic_load_explicit(&actor->capacity, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&sys->sends_full, 1, memory_order_relaxed);
            return TK_EFULL;
        }
        TK_ASSERT(count < ACT__WORD_COUNT_MASK);
        if (atomic_compare_exchange_weak_explicit(&actor->word, &word, word + 1u,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            break;
        }
    }
    act__mpsc_push(signal ? &actor->signals : &actor->mailbox, &msg->node);
    if (act__word_count(word) == 0) schedule(sys, actor);
    act__worker *w = act__tls_worker;
    if (w != NULL && w->sys == sys) {
        atomic_store_explicit(&w->sent, atomic_load_explicit(&w->sent, memory_order_relaxed) + 1u,
                              memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&sys->sent_outside, 1, memory_order_relaxed);
    }
    return TK_OK;
stale:
    atomic_fetch_add_explicit(&sys->sends_stale, 1, memory_order_relaxed);
    return TK_ESTALE;
}

tk_err act_send(act_system *sys, act_ref to, act_msg *msg)
{
    TK_ASSERT(msg != NULL);
    TK_ASSERT(msg->type >= ACT_MSG_USER || msg->type <= ACT_MSG_TIMEOUT);
    tk_err err = act__deliver(sys, to, msg, false, false);
    if (err != TK_OK) return err;
    act__worker *w = act__tls_worker;
    if (w != NULL && w->ctx.current_msg == msg) w->ctx.current_msg = NULL; /* moved on */
    return TK_OK;
}

tk_err act_send_data(act_system *sys, act_ref to, act_ref sender, uint32_t type, const void *data,
                     uint32_t size_bytes)
{
    TK_ASSERT(sys != NULL);
    if (size_bytes > ACT_MSG_INLINE_BYTES) return TK_EINVAL;
    if (size_bytes > 0) TK_ASSERT(data != NULL);
    act_msg *msg = act_msg_alloc(sys);
    if (msg == NULL) return TK_EFULL;
    msg->type = type;
    msg->sender = sender;
    msg->size_bytes = size_bytes;
    if (size_bytes > 0) memcpy(msg->data, data, size_bytes);
    tk_err err = act_send(sys, to, msg);
    if (err != TK_OK) act_msg_free(sys, msg);
    return err;
}

tk_err act_send_named(act_system *sys, act_named *to, act_ref sender, uint32_t type,
                      const void *data, uint32_t size_bytes, void *ptr, void (*ptr_free)(void *))
{
    TK_ASSERT(sys != NULL && to != NULL && to->name != NULL);
    if (size_bytes > 0) TK_ASSERT(data != NULL);
    act_msg *msg = size_bytes <= ACT_MSG_INLINE_BYTES ? act_msg_alloc(sys) : NULL;
    if (msg == NULL) {
        if (ptr != NULL && ptr_free != NULL) ptr_free(ptr); /* not sent: not moved */
        return size_bytes > ACT_MSG_INLINE_BYTES ? TK_EINVAL : TK_EFULL;
    }
    msg->type = type;
    msg->sender = sender;
    msg->size_bytes = size_bytes;
    if (size_bytes > 0) memcpy(msg->data, data, size_bytes);
    msg->ptr = ptr;
    msg->ptr_free = ptr_free;
    tk_err err = act_ref_is_none(to->ref) ? TK_ESTALE : act_send(sys, to->ref, msg);
    if (err == TK_ESTALE) { /* never looked up, or the name's holder was replaced: look again */
        err = act_whereis(sys, to->name, &to->ref);
        if (err == TK_OK) err = act_send(sys, to->ref, msg);
    }
    if (err != TK_OK) act_msg_free(sys, msg); /* frees ptr with ptr_free */
    return err;
}

tk_err act_send_named_copy(act_system *sys, act_named *to, act_ref sender, uint32_t type,
                           const void *data, uint32_t size_bytes, const void *payload,
                           size_t payload_bytes)
{
    TK_ASSERT(payload != NULL && payload_bytes > 0);
    void *copy = malloc(payload_bytes);
    if (copy == NULL) return TK_ENOMEM;
    memcpy(copy, payload, payload_bytes);
    return act_send_named(sys, to, sender, type, data, size_bytes, copy, free);
}

tk_err act_exit(act_system *sys, act_ref from, act_ref to, const act_reason *reason)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(reason != NULL);
    act_msg *msg = act__msg_alloc_must(sys);
    if (msg == NULL) return TK_ENOMEM;
    msg->type = ACT__SIG_EXIT;
    msg->sender = from;
    act_exit_info info = {.from = from, .reason = *reason};
    info.reason.detail[ACT_REASON_DETAIL_BYTES - 1u] = '\0';
    memcpy(msg->data, &info, sizeof(info));
    msg->size_bytes = sizeof(info);
    tk_err err = act__deliver(sys, to, msg, true, true);
    if (err != TK_OK) act_msg_free(sys, msg);
    return err;
}

/* ---- Reasons and context ----------------------------------------------------------------------
 */

const char *act_reason_kind_name(act_reason_kind kind)
{
    switch (kind) {
    case ACT_REASON_NORMAL:
        return "normal";
    case ACT_REASON_SHUTDOWN:
        return "shutdown";
    case ACT_REASON_KILL:
        return "kill";
    case ACT_REASON_KILLED:
        return "killed";
    case ACT_REASON_ERROR:
        return "error";
    case ACT_REASON_NOPROC:
        return "noproc";
    }
    return "?";
}

act_reason act_reason_of(act_reason_kind kind)
{
    return (act_reason){.kind = kind, .err = TK_OK, .detail = ""};
}

act_ref act_self(const act_ctx *ctx)
{
    TK_ASSERT(ctx != NULL);
    return ctx->self;
}

act_system *act_ctx_system(const act_ctx *ctx)
{
    TK_ASSERT(ctx != NULL);
    return ctx->sys;
}

/* Record that the actor ends when its callback returns; the first reason given wins. */
static void ctx_exit(act_ctx *ctx, const act_reason *reason)
{
    if (ctx->exit_pending) return;
    ctx->exit_pending = true;
    ctx->reason = *reason;
}

void act_stop(act_ctx *ctx, act_reason_kind kind)
{
    TK_ASSERT(ctx != NULL);
    TK_ASSERT(kind != ACT_REASON_KILL && kind != ACT_REASON_NOPROC);
    act_reason reason = act_reason_of(kind);
    ctx_exit(ctx, &reason);
}

tk_err act_fail(act_ctx *ctx, tk_err err, const char *fmt, ...)
{
    TK_ASSERT(ctx != NULL);
    TK_ASSERT(fmt != NULL);
    va_list args;
    va_start(args, fmt);
    vsnprintf(ctx->fail_detail, sizeof(ctx->fail_detail), fmt, args);
    va_end(args);
    ctx->fail_set = true;
    return err;
}

void act_yield(act_ctx *ctx)
{
    TK_ASSERT(ctx != NULL);
    TK_ASSERT(ctx->actor != NULL);
    ctx->yield = true;
}

void act_trap_exit(act_ctx *ctx, bool on)
{
    TK_ASSERT(ctx != NULL);
    TK_ASSERT(ctx->actor != NULL);
    ctx->actor->trap_exit = on;
}

uint64_t act__next_id(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    /* relaxed: uniqueness is all that is needed, and an RMW gives it */
    return atomic_fetch_add_explicit(&sys->next_id, 1, memory_order_relaxed) + 1u;
}

uint64_t act_now_ns(const act_system *sys)
{
    TK_ASSERT(sys != NULL);
    return tk_clock_mono_ns(sys->opts.clock);
}

/* ---- Spawn and exit ---------------------------------------------------------------------------
 */

static tk_err spawn_check(const act_system *sys, const act_spawn_opts *opts)
{
    if (opts->behaviour == NULL || opts->behaviour->handle == NULL) return TK_EINVAL;
    if (opts->mailbox_capacity == 0 || opts->mailbox_capacity > ACT_MAILBOX_DEPTH_MAX) {
        return TK_EINVAL;
    }
    if (atomic_load_explicit(&sys->closing, memory_order_acquire)) return TK_ESTALE;
    return TK_OK;
}

/* Reset a slot for a new actor, its mailbox held by one count (the init in progress) so that
 * messages sent during init queue up without scheduling it. */
static act_ref slot_prepare(act__actor *actor, uint32_t index, const act_spawn_opts *opts,
                            void *state)
{
    uint32_t gen = act__word_gen(atomic_load_explicit(&actor->word, memory_order_relaxed));
    if (gen == 0) gen = 1; /* a never-used slot */
    act__mpsc_init(&actor->mailbox);
    act__mpsc_init(&actor->signals);
    atomic_store_explicit(&actor->capacity, opts->mailbox_capacity, memory_order_relaxed);
    uint32_t batch = opts->mailbox_capacity / 4u;
    actor->release_batch = batch < 1u ? 1u : batch > RELEASE_BATCH_MAX ? RELEASE_BATCH_MAX : batch;
    actor->behaviour = opts->behaviour;
    actor->state = state;
    actor->state_size_bytes = opts->state_size_bytes;
    actor->trap_exit = opts->trap_exit;
    atomic_store_explicit(&actor->has_ctl, false, memory_order_relaxed);
    /* release: everything above is visible to whoever admits a message (acquire CAS) */
    atomic_store_explicit(&actor->word, (uint64_t)gen << ACT__WORD_GEN_SHIFT | 1u,
                          memory_order_release);
    return (act_ref){.slot = index, .gen = gen};
}

static void ctx_begin(act_ctx *ctx, act_system *sys, act__actor *actor, act_ref self)
{
    ctx->sys = sys;
    ctx->actor = actor;
    ctx->self = self;
    ctx->current_msg = NULL;
    ctx->exit_pending = false;
    ctx->yield = false;
    ctx->fail_set = false;
}

/* The reason for a callback that returned err. */
static void ctx_fail(act_ctx *ctx, tk_err err)
{
    act_reason reason = {.kind = ACT_REASON_ERROR, .err = err};
    const char *detail = ctx->fail_set ? ctx->fail_detail : tk_err_str(err);
    snprintf(reason.detail, sizeof(reason.detail), "%s", detail);
    ctx->fail_set = false;
    ctx_exit(ctx, &reason);
}

tk_err act_spawn(act_system *sys, const act_spawn_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(opts != NULL && out_ref != NULL);
    tk_err err = spawn_check(sys, opts);
    if (err != TK_OK) return err;
    void *state = NULL;
    if (opts->state_size_bytes > 0) {
        state = calloc(1, opts->state_size_bytes);
        if (state == NULL) return TK_ENOMEM;
    }
    uint32_t index;
    act__actor *actor = slot_take(sys, &index);
    if (actor == NULL) {
        free(state);
        return TK_EFULL;
    }
    act_ref ref = slot_prepare(actor, index, opts, state);
    atomic_fetch_add_explicit(&sys->spawned, 1, memory_order_relaxed);
    act_ctx ctx;
    ctx_begin(&ctx, sys, actor, ref);
    if (!act_ref_is_none(opts->link_to)) err = act_link(sys, ref, opts->link_to);
    if (err == TK_OK && opts->behaviour->init != NULL) {
        err = opts->behaviour->init(&ctx, state, opts->arg);
    }
    if (err != TK_OK) {
        /* The actor exits without terminate (init did not complete); links see the error. */
        ctx_fail(&ctx, err);
        act__actor_exit(sys, &ctx, 1, false);
        return err;
    }
    if (ctx.exit_pending) {
        act__actor_exit(sys, &ctx, 1, false); /* init asked to stop: no terminate either */
    } else {
        /* Release the init hold; messages that arrived meanwhile get the actor scheduled. */
        uint64_t old = atomic_fetch_sub_explicit(&actor->word, 1, memory_order_acq_rel);
        if (act__word_count(old) > 1u) schedule(sys, actor);
    }
    *out_ref = ref;
    return TK_OK;
}

/* Drop the messages and signals still counted in the mailbox word: `remaining` of them,
 * some possibly still in transit from a sender between its CAS and its push. */
static void mailbox_drain(act_system *sys, act__actor *actor, uint32_t remaining)
{
    for (uint64_t spins = 0; remaining > 0; spins++) {
        TK_ASSERT(spins < (1ull << 40)); /* a sender stalled mid-push for hours */
        act__qnode *node = act__mpsc_pop(&actor->signals);
        if (node == NULL) node = act__mpsc_pop(&actor->mailbox);
        if (node == NULL) {
            if ((spins & 63u) == 63u) sched_yield(); /* let the stalled sender finish */
            act__cpu_relax();
            continue;
        }
        act_msg_free(sys, (act_msg *)(void *)node);
        remaining--;
    }
}

void act__actor_exit(act_system *sys, act_ctx *ctx, uint32_t finished, bool run_terminate)
{
    act__actor *actor = ctx->actor;
    TK_ASSERT(ctx->exit_pending);
    TK_ASSERT(actor != NULL);
    const act_reason reason = ctx->reason;
    if (reason.kind == ACT_REASON_ERROR) { /* OTP's crash report */
        TK_LOG(TK_LOG_WARN, "actors", "actor exited with an error",
               TK_LOG_STR("behaviour", actor->behaviour->name), TK_LOG_U64("slot", ctx->self.slot),
               TK_LOG_ERR("err", reason.err), TK_LOG_STR("detail", reason.detail));
    }
    if (run_terminate && reason.kind != ACT_REASON_KILLED && actor->behaviour->terminate != NULL) {
        ctx->current_msg = NULL;
        actor->behaviour->terminate(ctx, actor->state, &reason);
    }
    /* seq_cst: the control tables' handshake (act_ctl.c, live_locked) */
    uint64_t old = atomic_fetch_or_explicit(&actor->word, ACT__WORD_CLOSED, memory_order_seq_cst);
    TK_ASSERT((old & ACT__WORD_CLOSED) == 0);
    TK_ASSERT(act__word_count(old) >= finished);
    act__ctl_actor_exit(sys, ctx->self, actor, &reason);
    mailbox_drain(sys, actor, act__word_count(old) - finished);
    free(actor->state);
    actor->state = NULL;
    uint32_t gen = act__word_gen(old) + 1u;
    if (gen == 0) gen = 1; /* after 2^32 - 1 lives, skip the "no actor" generation */
    atomic_store_explicit(&actor->word, (uint64_t)gen << ACT__WORD_GEN_SHIFT | ACT__WORD_CLOSED,
                          memory_order_release);
    slot_release(sys, ctx->self.slot);
    act__worker *w = act__tls_worker;
    if (w != NULL && w->sys == sys) { /* a worker's own counter: no line shared with others */
        uint64_t exited = atomic_load_explicit(&w->exited, memory_order_relaxed);
        atomic_store_explicit(&w->exited, exited + 1u, memory_order_release);
    } else {
        atomic_fetch_add_explicit(&sys->exited, 1, memory_order_release);
    }
    ctx->actor = NULL;
}

/* ---- Turns ------------------------------------------------------------------------------------
 */

#define SIGNALS_PER_TURN_MAX 1024u

/* Hand one message to the behaviour. The worker's handling counter is odd while a handler
 * runs: the watchdog reads it without a clock read on this path. */
static void turn_handle(act__worker *w, act_ctx *ctx, act_msg *msg)
{
    act__actor *actor = ctx->actor;
    ctx->current_msg = msg;
    ctx->fail_set = false; /* act_fail's detail belongs to this handler only */
    uint64_t seq = atomic_load_explicit(&w->handling, memory_order_relaxed);
    atomic_store_explicit(&w->handling, seq + 1u, memory_order_relaxed); /* odd: busy */
    tk_err err = actor->behaviour->handle(ctx, actor->state, msg);
    atomic_store_explicit(&w->handling, seq + 2u, memory_order_relaxed); /* even: idle */
    if (ctx->current_msg != NULL) act_msg_free(ctx->sys, ctx->current_msg);
    ctx->current_msg = NULL;
    if (err != TK_OK) ctx_fail(ctx, err);
    if (atomic_load_explicit(&w->overrun_seq, memory_order_relaxed) == seq + 1u) {
        act_reason reason = {.kind = ACT_REASON_ERROR, .err = TK_ETIMEDOUT};
        snprintf(reason.detail, sizeof(reason.detail), "watchdog: handler overran %u ms",
                 ctx->sys->opts.turn_deadline_ms);
        ctx_exit(ctx, &reason);
    }
}

/* Apply one exit signal with OTP's rules. Returns true when the signal is consumed (freed),
 * false when it became an EXIT message at the back of the mailbox (trap_exit): there it keeps
 * its place after the messages that arrived before it, as OTP orders signals between a pair
 * of processes, and it still counts in the mailbox word. */
static bool turn_signal(act_ctx *ctx, act_msg *sig)
{
    if (sig->type == ACT__SIG_SHUTDOWN) {
        act_reason reason = act_reason_of(ACT_REASON_SHUTDOWN);
        ctx_exit(ctx, &reason);
        act_msg_free(ctx->sys, sig);
        return true;
    }
    TK_ASSERT(sig->type == ACT__SIG_EXIT);
    act_exit_info info;
    memcpy(&info, sig->data, sizeof(info));
    if (info.reason.kind == ACT_REASON_KILL) {
        act_reason killed = act_reason_of(ACT_REASON_KILLED);
        ctx_exit(ctx, &killed);
        act_msg_free(ctx->sys, sig);
    } else if (ctx->actor->trap_exit) {
        sig->type = ACT_MSG_EXIT; /* trapped: becomes a message, behind those before it */
        act__mpsc_push(&ctx->actor->mailbox, &sig->node);
        return false;
    } else if (info.reason.kind == ACT_REASON_NORMAL) {
        act_msg_free(ctx->sys, sig); /* a normal exit does not take down a non-trapping link */
    } else {
        ctx_exit(ctx, &info.reason);
        act_msg_free(ctx->sys, sig);
    }
    return true;
}

/* Handled messages stop counting toward the capacity in batches during a turn, so that an
 * actor sending to itself, or one draining a full mailbox, sees room again before its turn
 * ends. One handled message is always kept as the turn's hold: the count must not reach
 * zero while the actor runs, or a sender would schedule it a second time. */
static uint32_t turn_release(act__actor *actor, uint32_t finished)
{
    if (finished <= actor->release_batch) return finished;
    uint64_t old = atomic_fetch_sub_explicit(&actor->word, finished - 1u, memory_order_acq_rel);
    TK_ASSERT(act__word_count(old) >= finished);
    return 1;
}

static void run_turn(act__worker *w, act__actor *actor)
{
    act_system *sys = w->sys;
    act_ctx *ctx = &w->ctx;
    uint64_t word = atomic_load_explicit(&actor->word, memory_order_acquire);
    uint32_t index = (uint32_t)(actor - sys->slots);
    ctx_begin(ctx, sys, actor, (act_ref){.slot = index, .gen = act__word_gen(word)});
    atomic_store_explicit(&w->turn_slot, index, memory_order_relaxed);
    uint32_t finished = 0; /* handled and still counted in the word */
    for (uint32_t n = 0; n < SIGNALS_PER_TURN_MAX && !ctx->exit_pending; n++) {
        act__qnode *node = act__mpsc_pop(&actor->signals);
        if (node == NULL) break;
        if (turn_signal(ctx, (act_msg *)(void *)node)) {
            finished = turn_release(actor, finished + 1u);
        }
    }
    for (uint32_t n = 0; n < ACT_TURN_MSGS_MAX && !ctx->exit_pending && !ctx->yield; n++) {
        act__qnode *node = act__mpsc_pop(&actor->mailbox);
        if (node == NULL) break;
        finished = turn_release(actor, finished + 1u);
        turn_handle(w, ctx, (act_msg *)(void *)node);
    }
    if (ctx->exit_pending) {
        act__actor_exit(sys, ctx, finished, true);
        return;
    }
    uint64_t old = atomic_fetch_sub_explicit(&actor->word, finished, memory_order_acq_rel);
    TK_ASSERT(act__word_count(old) >= finished);
    if (act__word_count(old) > finished) { /* more waiting: to the back of the queue */
        runq_push(sys, w, actor);
    }
}

/* ---- Workers ----------------------------------------------------------------------------------
 */

/* Pop one actor from victim's run queue under its consumer lock; NULL if the lock is taken or
 * the queue is empty (or in transit). O(1): a steal takes the oldest actor, walks nothing. */
static act__actor *runq_pop(act__worker *victim)
{
    /* Look before taking the consumer lock, so that a spinning worker reads the lines instead
     * of bouncing one between cores with a CAS. */
    if (act__mpsc_looks_empty(&victim->runq)) return NULL;
    uint32_t expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&victim->runq_lock, &expected, 1,
                                                 memory_order_acquire, memory_order_relaxed)) {
        return NULL;
    }
    act__qnode *node = act__mpsc_pop(&victim->runq);
    atomic_store_explicit(&victim->runq_lock, 0, memory_order_release);
    return node != NULL ? actor_of_run_node(node) : NULL;
}

/* True when victim has been inside the same handler for STEAL_PATIENCE of our looks: then
 * the actor waiting in its next slot may be taken, so that it does not wait for the long
 * handler to end while this worker idles. Called on one search in SLOT_LOOK_EVERY only: each
 * look reads lines the victim writes on its hot path. */
static bool slot_stealable(act__worker *w, act__worker *victim)
{
    uint64_t handling = atomic_load_explicit(&victim->handling, memory_order_relaxed);
    if ((handling & 1u) == 0 || handling != w->victim_handling[victim->index]) {
        w->victim_handling[victim->index] = handling;
        w->victim_looks[victim->index] = 0;
        return false;
    }
    if (++w->victim_looks[victim->index] < STEAL_PATIENCE) return false;
    return atomic_load_explicit(&victim->next_actor, memory_order_relaxed) != NULL;
}

static act__actor *find_work(act__worker *w)
{
    act__actor *actor = runq_pop(w);
    if (actor != NULL || w->sys->threads == 1) return actor;
    uint32_t start = (uint32_t)tk_rng_below(&w->rng, w->sys->threads);
    bool look_slots = (++w->searches % SLOT_LOOK_EVERY) == 0;
    for (uint32_t i = 0; i < w->sys->threads; i++) {
        act__worker *victim = &w->sys->workers[(start + i) % w->sys->threads];
        if (victim == w) continue;
        actor = runq_pop(victim);
        if (actor == NULL && look_slots && slot_stealable(w, victim)) {
            actor = atomic_exchange_explicit(&victim->next_actor, NULL, memory_order_acq_rel);
        }
        if (actor != NULL) {
            atomic_fetch_add_explicit(&w->steals, 1, memory_order_relaxed);
            return actor;
        }
    }
    return NULL;
}

/* Spin for up to spin_us looking for work, counted as searching so that senders need not
 * wake a parked worker meanwhile. */
static act__actor *spin_for_work(act__worker *w)
{
    act_system *sys = w->sys;
    atomic_fetch_add_explicit(&sys->searching, 1, memory_order_seq_cst);
    uint64_t deadline = tk_clock_mono_ns(tk_clock_system()) + (uint64_t)sys->opts.spin_us * 1000u;
    act__actor *actor = NULL;
    for (uint32_t i = 1; actor == NULL; i++) {
        actor = find_work(w);
        if (actor != NULL || atomic_load_explicit(&sys->stopping, memory_order_relaxed)) break;
        act__cpu_relax();
        if ((i & 63u) == 0 && tk_clock_mono_ns(tk_clock_system()) >= deadline) break;
    }
    atomic_fetch_sub_explicit(&sys->searching, 1, memory_order_seq_cst);
    return actor;
}

/* True when every run queue is drained, checked under each queue's consumer lock (a queue
 * whose lock is taken counts as busy). Its seq_cst load of each head, after the sleeper
 * count's seq_cst increment, is the parker's half of wake_one's handshake. */
static bool runqs_drained(act_system *sys)
{
    for (uint32_t i = 0; i < sys->threads; i++) {
        act__worker *w = &sys->workers[i];
        uint32_t expected = 0;
        if (!atomic_compare_exchange_strong_explicit(&w->runq_lock, &expected, 1,
                                                     memory_order_acquire, memory_order_relaxed)) {
            return false;
        }
        bool empty = atomic_load_explicit(&w->runq.head, memory_order_seq_cst) == &w->runq.stub &&
                     act__mpsc_looks_empty(&w->runq) &&
                     atomic_load_explicit(&w->runq.stub.next, memory_order_acquire) == NULL;
        atomic_store_explicit(&w->runq_lock, 0, memory_order_release);
        if (!empty) return false;
    }
    return true;
}

/* Sleep until woken. Announces itself first, then looks once more, so that a sender either
 * sees it asleep (and wakes it) or its work is seen here. Returns work found on the way. */
static act__actor *park(act__worker *w)
{
    act_system *sys = w->sys;
    atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&sys->sleepers, 1, memory_order_seq_cst);
    act__actor *actor = find_work(w);
    bool idle = actor == NULL && runqs_drained(sys);
    if (idle && !atomic_load_explicit(&sys->stopping, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&w->parks, 1, memory_order_relaxed);
        while (atomic_load_explicit(&w->parked, memory_order_acquire) == 1) {
            act__futex_wait(&w->parked, 1, 0);
        }
        return NULL;
    }
    uint32_t expected = 1;
    if (atomic_compare_exchange_strong_explicit(&w->parked, &expected, 0, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        atomic_fetch_sub_explicit(&sys->sleepers, 1, memory_order_relaxed);
    } /* else a waker cleared it and took us off the sleeper count */
    return actor;
}

/* The next slot's actor, unless LIFO_RUNS_MAX of them ran in a row: then it goes to the back
 * of the run queue, so that a chain of actors messaging each other cannot starve the rest. */
static act__actor *next_slot_take(act__worker *w)
{
    if (atomic_load_explicit(&w->next_actor, memory_order_relaxed) == NULL) return NULL;
    act__actor *actor = atomic_exchange_explicit(&w->next_actor, NULL, memory_order_acq_rel);
    if (actor == NULL) return NULL; /* a thief took it */
    if (w->lifo_runs < LIFO_RUNS_MAX) {
        w->lifo_runs++;
        return actor;
    }
    w->lifo_runs = 0;
    runq_push(w->sys, w, actor);
    return NULL;
}

static void *worker_main(void *arg)
{
    act__worker *w = arg;
    act__tls_worker = w;
    for (;;) { /* the scheduler's main loop: ends when the system stops */
        if (atomic_load_explicit(&w->sys->stopping, memory_order_acquire)) break;
        act__actor *actor = next_slot_take(w);
        if (actor != NULL) {
            run_turn(w, actor);
            continue;
        }
        actor = find_work(w);
        if (actor == NULL) actor = spin_for_work(w);
        if (actor == NULL) actor = park(w);
        if (actor != NULL) run_turn(w, actor);
    }
    act__msg_cache_flush(w->sys, &w->cache);
    act__tls_worker = NULL;
    return NULL;
}

/* ---- Open and close ---------------------------------------------------------------------------
 */

static tk_err opts_check(const act_system_opts *opts, act_system_opts *out)
{
    *out = *opts;
    if (out->threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        out->threads = cpus > 0 ? (uint32_t)cpus : 1u;
        if (out->threads > ACT_THREADS_MAX) out->threads = ACT_THREADS_MAX;
    }
    if (out->threads > ACT_THREADS_MAX) return TK_EINVAL;
    if (out->actors_max == 0 || out->actors_max > ACT_ACTORS_MAX) return TK_EINVAL;
    if (out->msgs_max == 0 || out->clock == NULL) return TK_EINVAL;
    if (out->stuck_deadline_ms > 0 && out->stuck_deadline_ms < out->turn_deadline_ms) {
        return TK_EINVAL;
    }
    return TK_OK;
}

static void system_free(act_system *sys)
{
    act__ctl_fini(sys);
    act__msg_pool_fini(sys);
    free(sys->workers);
    free(sys->slots);
    free(sys);
}

/* Start threads [0, count); on failure stop the ones started. */
static tk_err workers_start(act_system *sys)
{
    for (uint32_t i = 0; i < sys->threads; i++) {
        if (pthread_create(&sys->workers[i].thread, NULL, worker_main, &sys->workers[i]) != 0) {
            atomic_store_explicit(&sys->stopping, true, memory_order_release);
            for (uint32_t j = 0; j < i; j++) {
                atomic_store_explicit(&sys->workers[j].parked, 0, memory_order_release);
                act__futex_wake(&sys->workers[j].parked);
                pthread_join(sys->workers[j].thread, NULL);
            }
            return TK_EAGAIN;
        }
    }
    return TK_OK;
}

static tk_err system_alloc(const act_system_opts *opts, act_system **out_sys)
{
    act_system *sys = calloc(1, sizeof(*sys));
    if (sys == NULL) return TK_ENOMEM;
    static _Atomic uint64_t systems_opened;
    sys->id = atomic_fetch_add_explicit(&systems_opened, 1, memory_order_relaxed) + 1u;
    sys->opts = *opts;
    sys->threads = opts->threads;
    /* calloc of a large table maps zero pages: only slots in use cost memory */
    sys->slots = calloc(opts->actors_max, sizeof(act__actor));
    sys->workers = aligned_alloc(ACT__CACHE_LINE, sizeof(act__worker) * opts->threads);
    if (sys->slots == NULL || sys->workers == NULL) goto fail;
    memset(sys->workers, 0, sizeof(act__worker) * opts->threads);
    if (act__msg_pool_init(sys) != 0) goto fail;
    if (act__ctl_init(sys) != TK_OK) {
        act__msg_pool_fini(sys);
        goto fail;
    }
    for (uint32_t i = 0; i < sys->threads; i++) {
        act__worker *w = &sys->workers[i];
        act__mpsc_init(&w->runq);
        w->sys = sys;
        w->index = i;
        tk_rng_init(&w->rng, 0x9e3779b97f4a7c15u * (i + 1u));
    }
    *out_sys = sys;
    return TK_OK;
fail:
    free(sys->workers);
    free(sys->slots);
    free(sys);
    return TK_ENOMEM;
}

tk_err act_system_open(const act_system_opts *opts, act_system **out_sys)
{
    TK_ASSERT(opts != NULL);
    TK_ASSERT(out_sys != NULL);
    act_system_opts checked;
    tk_err err = opts_check(opts, &checked);
    if (err != TK_OK) return err;
    act_system *sys;
    err = system_alloc(&checked, &sys);
    if (err != TK_OK) return err;
    err = workers_start(sys);
    if (err != TK_OK) {
        system_free(sys);
        return err;
    }
    err = act__loop_start(sys);
    if (err != TK_OK) {
        atomic_store_explicit(&sys->closing, true, memory_order_release);
        act_system_close(sys);
        return err;
    }
    *out_sys = sys;
    return TK_OK;
}

/* Exits counted by the workers and by other threads (a spawn whose init failed). */
static uint64_t exited_count(const act_system *sys)
{
    uint64_t exited = atomic_load_explicit(&sys->exited, memory_order_acquire);
    for (uint32_t i = 0; i < sys->threads; i++) {
        exited += atomic_load_explicit(&sys->workers[i].exited, memory_order_acquire);
    }
    return exited;
}

static uint64_t live_count(const act_system *sys)
{
    uint64_t exited = exited_count(sys);
    uint64_t spawned = atomic_load_explicit(&sys->spawned, memory_order_acquire);
    return spawned - exited;
}

/* Send every live actor the shutdown signal (trap_exit or not, it exits with SHUTDOWN). */
static void shutdown_all(act_system *sys)
{
    uint32_t used = atomic_load_explicit(&sys->slots_used, memory_order_acquire);
    for (uint32_t i = 0; i < used; i++) {
        uint64_t word = atomic_load_explicit(&sys->slots[i].word, memory_order_acquire);
        if ((word & ACT__WORD_CLOSED) != 0 || act__word_gen(word) == 0) continue;
        act_msg *msg = act__msg_alloc_must(sys);
        if (msg == NULL) return; /* retried on the next round */
        msg->type = ACT__SIG_SHUTDOWN;
        act_ref ref = {.slot = i, .gen = act__word_gen(word)};
        if (act__deliver(sys, ref, msg, true, true) != TK_OK) act_msg_free(sys, msg);
    }
}

#define CLOSE_ROUND_MS    100u   /* shutdown signals are re-sent this often */
#define CLOSE_WAIT_MS_MAX 30000u /* an actor that will not exit by then is a bug: abort */

void act_system_close(act_system *sys)
{
    if (sys == NULL) return;
    TK_ASSERT(act__tls_worker == NULL); /* not from a scheduler thread: it would wait for itself */
    atomic_store_explicit(&sys->closing, true, memory_order_release);
    for (uint32_t waited_ms = 0; live_count(sys) > 0; waited_ms++) {
        if (waited_ms % CLOSE_ROUND_MS == 0) shutdown_all(sys);
        if (waited_ms == CLOSE_WAIT_MS_MAX) {
            TK_LOG(TK_LOG_ERROR, "actors", "actors did not exit at system close",
                   TK_LOG_U64("live", live_count(sys)));
            TK_ASSERT(live_count(sys) == 0);
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&pause, NULL);
    }
    atomic_store_explicit(&sys->stopping, true, memory_order_seq_cst);
    for (uint32_t i = 0; i < sys->threads; i++) {
        atomic_store_explicit(&sys->workers[i].parked, 0, memory_order_seq_cst);
        act__futex_wake(&sys->workers[i].parked);
    }
    for (uint32_t i = 0; i < sys->threads; i++) {
        pthread_join(sys->workers[i].thread, NULL);
    }
    act__loop_stop(sys);
    system_free(sys);
}

void act_stats_read(act_system *sys, act_stats *out_stats)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(out_stats != NULL);
    act_stats stats = {
        .spawned = atomic_load_explicit(&sys->spawned, memory_order_relaxed),
        .exited = exited_count(sys),
        .sends_full = atomic_load_explicit(&sys->sends_full, memory_order_relaxed),
        .sends_stale = atomic_load_explicit(&sys->sends_stale, memory_order_relaxed),
        .watchdog_overruns = atomic_load_explicit(&sys->watchdog_overruns, memory_order_relaxed),
        .messages_sent = atomic_load_explicit(&sys->sent_outside, memory_order_relaxed),
    };
    stats.live = stats.spawned >= stats.exited ? stats.spawned - stats.exited : 0;
    for (uint32_t i = 0; i < sys->threads; i++) {
        const act__worker *w = &sys->workers[i];
        stats.messages_sent += atomic_load_explicit(&w->sent, memory_order_relaxed);
        stats.steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
        stats.parks += atomic_load_explicit(&w->parks, memory_order_relaxed);
    }
    pthread_mutex_lock(&sys->msg_lock);
    stats.msgs_pooled = sys->msg_carved;
    pthread_mutex_unlock(&sys->msg_lock);
    *out_stats = stats;
}
