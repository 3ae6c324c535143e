/* The supervisor's operations: what a child's exit means (restart types, auto_shutdown), the
 * restart intensity, the strategies' restarts, the asynchronous stop phase shared by
 * restarts, terminate_child and shutdown, and the drain of queued work. sup_internal.h draws
 * the supervisor's modes. */
#include <stdio.h>
#include <string.h>

#include "sup_internal.h"

#define NS_PER_MS 1000000u

static void stop_done(sup__state *s);

/* ---- Restart intensity ----------------------------------------------------------------------- */

/* Record a restart at now_ns in the ring of the last MaxR restart times. False when it would
 * make more than MaxR restarts within MaxT (nothing recorded then). O(1): the ring is full
 * exactly when MaxR restarts are recorded, and then only its oldest entry can fall out. */
static bool intensity_add(sup__state *s, uint64_t now_ns)
{
    uint32_t max = s->flags.intensity;
    TK_ASSERT(s->ring_count <= max);
    if (max == 0) return false;
    uint64_t period_ns = (uint64_t)s->flags.period_ms * NS_PER_MS;
    if (s->ring_count < max) {
        s->restarts_ns[(s->ring_head + s->ring_count) % max] = now_ns;
        s->ring_count++;
        return true;
    }
    uint64_t oldest = s->restarts_ns[s->ring_head];
    TK_ASSERT(now_ns >= oldest); /* monotonic time */
    if (now_ns - oldest <= period_ns) return false;
    s->restarts_ns[s->ring_head] = now_ns;
    s->ring_head = (s->ring_head + 1u) % max;
    return true;
}

/* ---- Exit decisions -------------------------------------------------------------------------- */

static bool reason_is_normal(const act_reason *reason)
{
    TK_ASSERT(reason != NULL);
    return reason->kind == ACT_REASON_NORMAL || reason->kind == ACT_REASON_SHUTDOWN;
}

static bool should_restart(sup_restart restart, const act_reason *reason)
{
    TK_ASSERT(reason != NULL);
    switch (restart) {
    case SUP_PERMANENT:
        return true;
    case SUP_TRANSIENT:
        return !reason_is_normal(reason);
    case SUP_TEMPORARY:
        return false;
    }
    TK_ASSERT(false);
    return false;
}

void sup__on_child_exit(sup__state *s, uint32_t index, const act_reason *reason)
{
    TK_ASSERT(index < s->children_count);
    TK_ASSERT(reason != NULL);
    sup__child *child = &s->children[index];
    if (child->state != SUP__RUNNING) return; /* STOPPING: its DOWN says when it is gone */
    bool absorbed = s->mode == SUP__SHUTTING_DOWN;
    if (s->mode == SUP__RESTARTING && child->in_group) absorbed = true;
    if (absorbed) {
        /* It went by itself while the supervisor was stopping it anyway. */
        sup__log_child(TK_LOG_INFO, s, child, "child exited while being stopped", reason);
        child->ref = ACT_REF_NONE;
        sup__child_set_state(child, SUP__STOPPED);
        return;
    }
    child->exit_reason = *reason;
    sup__child_set_state(child, SUP__EXITED);
    s->work_hint = true; /* decided by sup__drain once the supervisor is idle */
}

/* Significant children that are running or will be restarted. */
static uint32_t significant_active(const sup__state *s)
{
    TK_ASSERT(s != NULL);
    uint32_t count = 0;
    for (uint32_t i = 0; i < s->children_count; i++) {
        const sup__child *child = &s->children[i];
        if (!child->spec.significant) continue;
        bool restarting = child->pending_start || child->retry_due;
        if (child->state != SUP__STOPPED || restarting) count++;
    }
    TK_ASSERT(count <= s->children_count);
    return count;
}

/* A significant child terminated by itself and was not restarted. */
static void auto_shutdown_check(sup__state *s, const sup__child *gone)
{
    TK_ASSERT(gone != NULL);
    TK_ASSERT(s->mode == SUP__IDLE);
    switch (s->flags.auto_shutdown) {
    case SUP_AUTO_SHUTDOWN_NEVER:
        return;
    case SUP_AUTO_SHUTDOWN_ANY_SIGNIFICANT:
        break;
    case SUP_AUTO_SHUTDOWN_ALL_SIGNIFICANT:
        if (significant_active(s) > 0) return;
        break;
    }
    sup__log_child(TK_LOG_INFO, s, gone, "auto_shutdown: significant child terminated", NULL);
    act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
    sup__shutdown_begin(s, &shutdown);
}

/* The supervisor gives up: shut everything down and exit with an error its parent sees. */
static void escalate(sup__state *s, const sup__child *child)
{
    TK_ASSERT(child != NULL);
    TK_ASSERT(s->mode == SUP__IDLE);
    sup__stat_add(SUP__STAT_INTENSITY_EXCEEDED);
    const act_reason *why = &child->exit_reason;
    TK_LOG(TK_LOG_ERROR, "sup", "reached_max_restart_intensity", TK_LOG_STR("supervisor", s->name),
           TK_LOG_STR("child", child->spec.id),
           TK_LOG_STR("reason", act_reason_kind_name(why->kind)), TK_LOG_ERR("err", why->err),
           TK_LOG_STR("detail", why->detail), TK_LOG_U64("intensity", s->flags.intensity),
           TK_LOG_U64("period_ms", s->flags.period_ms));
    act_reason reason = {.kind = ACT_REASON_ERROR, .err = TK_EOVERFLOW};
    snprintf(reason.detail, sizeof(reason.detail), "%s", "reached_max_restart_intensity");
    sup__shutdown_begin(s, &reason);
}

/* Mark the children a restart of the child at index involves, by strategy: all go through the
 * stop phase; all but the temporary ones start again afterwards. */
static void group_mark(sup__state *s, uint32_t index)
{
    TK_ASSERT(index < s->children_count);
    uint32_t first = index;
    uint32_t last = index;
    switch (s->flags.strategy) {
    case SUP_ONE_FOR_ONE:
    case SUP_SIMPLE_ONE_FOR_ONE:
        break;
    case SUP_ONE_FOR_ALL:
        first = 0;
        last = s->children_count - 1u;
        break;
    case SUP_REST_FOR_ONE:
        last = s->children_count - 1u;
        break;
    }
    for (uint32_t i = first; i <= last; i++) {
        sup__child *child = &s->children[i];
        child->in_group = true;
        child->pending_start = child->spec.restart != SUP_TEMPORARY;
    }
    TK_ASSERT(s->children[index].pending_start); /* a temporary child is never restarted */
}

/* Restart the child at index by the strategy (OTP's restart/2): count it against the
 * intensity (escalating past it), then stop its group, then (after its backoff) start it. */
static void restart_begin(sup__state *s, uint32_t index)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    TK_ASSERT(index < s->children_count);
    sup__child *child = &s->children[index];
    TK_ASSERT(child->state == SUP__STOPPED || child->state == SUP__RUNNING);
    uint64_t now_ns = act_now_ns(s->sys);
    if (!intensity_add(s, now_ns)) {
        escalate(s, child);
        return;
    }
    sup__stat_add(SUP__STAT_RESTARTS);
    sup__log_child(TK_LOG_WARN, s, child, "restarting child", &child->exit_reason);
    s->op_delay_ms = sup__child_backoff_next(s, child, now_ns);
    group_mark(s, index);
    s->op_child_key = child->key;
    s->mode = SUP__RESTARTING;
    s->stop_cursor = s->children_count;
    sup__stop_advance(s);
}

/* Decide on the EXITED child at index (OTP's do_restart): restart it, or let it go (a
 * temporary or dynamic child's spec goes with it) and check auto_shutdown. */
static void exit_decide(sup__state *s, uint32_t index)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    sup__child *child = &s->children[index];
    TK_ASSERT(child->state == SUP__EXITED);
    const act_reason *reason = &child->exit_reason;
    bool normal = reason_is_normal(reason);
    sup__log_child(normal ? TK_LOG_INFO : TK_LOG_ERROR, s, child, "child exited", reason);
    child->ref = ACT_REF_NONE;
    sup__child_set_state(child, SUP__STOPPED);
    child->retry_due = false; /* this exit is decided afresh */
    if (should_restart(child->spec.restart, reason)) {
        restart_begin(s, index);
        return;
    }
    if (!normal) sup__log_child(TK_LOG_WARN, s, child, "child not restarted", reason);
    sup__child gone = *child; /* for the checks below, after a possible removal */
    bool dynamic = s->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE;
    if (dynamic || child->spec.restart == SUP_TEMPORARY) sup__child_remove(s, index);
    if (gone.spec.significant) auto_shutdown_check(s, &gone);
}

/* ---- Starting a restarted group -------------------------------------------------------------- */

/* A restart could not start everything: retry it later through the child at index (OTP's
 * try_again_restart), which counts against the intensity again. */
static void retry_mark(sup__state *s, uint32_t index, tk_err err)
{
    TK_ASSERT(index < s->children_count);
    TK_ASSERT(err != TK_OK);
    sup__child *child = &s->children[index];
    child->retry_due = true;
    child->exit_reason = (act_reason){.kind = ACT_REASON_ERROR, .err = err};
    snprintf(child->exit_reason.detail, sizeof(child->exit_reason.detail), "%s", "restart failed");
    s->work_hint = true;
}

/* Start what the restart through the child at index stopped: the child alone (one_for_one,
 * simple_one_for_one), or every child pending a start, in order (one_for_all, rest_for_one).
 * The first failure leaves the rest stopped and schedules a retry. */
static void group_start(sup__state *s, uint32_t index)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    TK_ASSERT(index < s->children_count);
    bool single = s->flags.strategy == SUP_ONE_FOR_ONE;
    if (s->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE) single = true;
    if (single) {
        sup__child *child = &s->children[index];
        child->pending_start = false;
        tk_err err = sup__child_start(s, child);
        if (err != TK_OK) retry_mark(s, index, err);
        return;
    }
    for (uint32_t i = 0; i < s->children_count; i++) {
        sup__child *child = &s->children[i];
        if (!child->pending_start) continue;
        child->pending_start = false;
        tk_err err = sup__child_start(s, child);
        if (err == TK_OK) continue;
        for (uint32_t j = i + 1u; j < s->children_count; j++) {
            s->children[j].pending_start = false;
        }
        retry_mark(s, index, err);
        return;
    }
}

/* The restart's stop phase is over: drop its temporary children, then start the group now
 * or after the backoff. */
static void restart_stopped(sup__state *s)
{
    TK_ASSERT(s->mode == SUP__RESTARTING);
    TK_ASSERT(!s->stop_waiting);
    for (uint32_t i = s->children_count; i > 0; i--) {
        sup__child *child = &s->children[i - 1u];
        bool drop = child->in_group && child->spec.restart == SUP_TEMPORARY;
        child->in_group = false;
        if (drop) sup__child_remove(s, i - 1u);
    }
    s->mode = SUP__IDLE;
    uint32_t index = sup__child_find_key(s, s->op_child_key);
    TK_ASSERT(index != UINT32_MAX); /* the restarted child is not temporary: still there */
    sup__child *child = &s->children[index];
    if (s->op_delay_ms > 0 && sup__child_backoff_arm(s, child, s->op_delay_ms)) return;
    group_start(s, index);
}

/* ---- Stop phases ----------------------------------------------------------------------------- */

/* Deal with one child of the stop phase. True when it is now STOPPING (wait for its DOWN). */
static bool stop_one(sup__state *s, sup__child *child)
{
    TK_ASSERT(child->in_group);
    TK_ASSERT(!s->stop_waiting);
    switch (child->state) {
    case SUP__RUNNING:
        return sup__child_stop_begin(s, child);
    case SUP__EXITED: /* it went by itself: its exit is part of this stop */
        child->ref = ACT_REF_NONE;
        sup__child_set_state(child, SUP__STOPPED);
        return false;
    case SUP__BACKOFF:
        sup__child_backoff_cancel(s, child);
        return false;
    case SUP__STOPPED:
        return false;
    case SUP__STARTING:
    case SUP__STOPPING:
        break;
    }
    TK_ASSERT(false); /* starts are synchronous, and one child is STOPPING at a time */
    return false;
}

void sup__stop_advance(sup__state *s)
{
    TK_ASSERT(s->mode != SUP__IDLE);
    TK_ASSERT(s->stop_cursor <= s->children_count);
    for (uint32_t n = 0; n <= s->children_max && s->stop_cursor > 0; n++) {
        if (s->stop_waiting) return;
        sup__child *child = &s->children[s->stop_cursor - 1u];
        if (child->in_group && stop_one(s, child)) return;
        s->stop_cursor--;
    }
    if (s->stop_waiting) return;
    TK_ASSERT(s->stop_cursor == 0);
    stop_done(s);
}

void sup__on_down(sup__state *s, uint64_t monitor_id, const act_reason *reason)
{
    TK_ASSERT(s != NULL && reason != NULL);
    uint32_t index = monitor_id != 0 ? sup__child_find_monitor(s, monitor_id) : UINT32_MAX;
    if (index == UINT32_MAX) return; /* not a child being stopped: stale */
    TK_ASSERT(s->mode != SUP__IDLE);
    sup__child_stopped(s, &s->children[index], reason);
    sup__stop_advance(s);
}

void sup__terminate_begin(sup__state *s, uint32_t index, act_msg *request)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    TK_ASSERT(index < s->children_count);
    sup__child *child = &s->children[index];
    TK_ASSERT(child->state == SUP__RUNNING);
    s->mode = SUP__TERMINATING;
    s->op_child_key = child->key;
    s->op_request = request;
    child->in_group = true;
    s->stop_cursor = s->children_count;
    sup__stop_advance(s);
}

/* terminate_child's child is gone: drop its spec if temporary or dynamic, and answer. */
static void terminate_stopped(sup__state *s)
{
    TK_ASSERT(s->mode == SUP__TERMINATING);
    uint32_t index = sup__child_find_key(s, s->op_child_key);
    TK_ASSERT(index != UINT32_MAX);
    sup__child *child = &s->children[index];
    TK_ASSERT(child->state == SUP__STOPPED);
    child->in_group = false;
    bool dynamic = s->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE;
    if (dynamic || child->spec.restart == SUP_TEMPORARY) sup__child_remove(s, index);
    act_msg *request = s->op_request;
    s->op_request = NULL;
    s->mode = SUP__IDLE;
    if (request != NULL) {
        sup__reply_err(s, request, TK_OK);
        act_msg_free(s->sys, request);
    }
}

static void stop_done(sup__state *s)
{
    TK_ASSERT(!s->stop_waiting);
    TK_ASSERT(s->stop_cursor == 0);
    switch (s->mode) {
    case SUP__RESTARTING:
        restart_stopped(s);
        return;
    case SUP__TERMINATING:
        terminate_stopped(s);
        return;
    case SUP__SHUTTING_DOWN:
        s->done = true;
        return;
    case SUP__IDLE:
        break;
    }
    TK_ASSERT(false); /* no stop phase runs while IDLE */
}

void sup__shutdown_begin(sup__state *s, const act_reason *reason)
{
    TK_ASSERT(s != NULL && reason != NULL);
    if (s->mode == SUP__SHUTTING_DOWN) return; /* the first reason stands */
    if (s->op_request != NULL) {
        sup__reply_err(s, s->op_request, TK_ESTALE);
        act_msg_free(s->sys, s->op_request);
        s->op_request = NULL;
    }
    sup__deferred_refuse_all(s);
    s->exit_reason = *reason;
    s->mode = SUP__SHUTTING_DOWN;
    for (uint32_t i = 0; i < s->children_count; i++) {
        sup__child *child = &s->children[i];
        child->in_group = true;
        child->pending_start = false;
        child->retry_due = false;
    }
    s->stop_cursor = s->children_count;
    tk_log_level level = reason_is_normal(reason) ? TK_LOG_INFO : TK_LOG_ERROR;
    TK_LOG(level, "sup", "supervisor shutting down", TK_LOG_STR("supervisor", s->name),
           TK_LOG_STR("reason", act_reason_kind_name(reason->kind)), TK_LOG_ERR("err", reason->err),
           TK_LOG_STR("detail", reason->detail), TK_LOG_U64("children", s->children_count));
    sup__stop_advance(s);
}

/* ---- Draining queued work -------------------------------------------------------------------- */

/* The next child with work, by priority: an exit to decide, then a restart whose backoff is
 * over, then a restart to retry. UINT32_MAX when none. */
static uint32_t work_find(const sup__state *s)
{
    TK_ASSERT(s != NULL);
    for (uint32_t i = 0; i < s->children_count; i++) {
        if (s->children[i].state == SUP__EXITED) return i;
    }
    for (uint32_t i = 0; i < s->children_count; i++) {
        if (s->children[i].start_due) return i;
    }
    for (uint32_t i = 0; i < s->children_count; i++) {
        if (s->children[i].retry_due) return i;
    }
    return UINT32_MAX;
}

/* Do one queued item. False when there was nothing to do. */
static bool drain_one(sup__state *s)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    if (s->work_hint) {
        uint32_t index = work_find(s);
        if (index != UINT32_MAX) {
            sup__child *child = &s->children[index];
            if (child->state == SUP__EXITED) {
                exit_decide(s, index);
            } else if (child->start_due) {
                group_start(s, index);
            } else {
                child->retry_due = false;
                restart_begin(s, index);
            }
            return true;
        }
        s->work_hint = false;
    }
    act_msg *request = sup__deferred_pop(s);
    if (request == NULL) return false;
    sup__request_handle(s, request);
    act_msg_free(s->sys, request);
    return true;
}

void sup__drain(sup__state *s)
{
    TK_ASSERT(s != NULL);
    for (uint32_t step = 0; step < SUP_DRAIN_STEPS_MAX; step++) {
        if (s->mode != SUP__IDLE) return;
        if (!drain_one(s)) return;
    }
    if (s->mode != SUP__IDLE) return;
    /* More may be queued: come back in a later turn, so that other messages interleave. */
    tk_err err = act_send_data(s->sys, s->self, s->self, SUP__MSG_KICK, NULL, 0);
    if (err != TK_OK) {
        TK_LOG(TK_LOG_ERROR, "sup", "cannot wake itself: queued work waits for a message",
               TK_LOG_STR("supervisor", s->name), TK_LOG_ERR("err", err));
    }
}

/* ---- Invariants ------------------------------------------------------------------------------ */

void sup__invariants(const sup__state *s)
{
    TK_ASSERT(s->children_count <= s->children_max);
    TK_ASSERT(s->deferred_count <= SUP_DEFERRED_MAX);
    TK_ASSERT(s->ring_count <= s->flags.intensity);
    if (s->mode != SUP__TERMINATING) TK_ASSERT(s->op_request == NULL);
    if (s->mode == SUP__IDLE) TK_ASSERT(!s->stop_waiting);
    if (s->done) TK_ASSERT(s->mode == SUP__SHUTTING_DOWN);
#ifdef TK_DEBUG
    uint32_t stopping = 0;
    for (uint32_t i = 0; i < s->children_count; i++) {
        const sup__child *child = &s->children[i];
        sup__child_check(child);
        TK_ASSERT(child->key != 0);
        if (child->state == SUP__STOPPING) stopping++;
        if (s->mode == SUP__IDLE) TK_ASSERT(!child->in_group);
        if (s->done) TK_ASSERT(child->state == SUP__STOPPED);
    }
    TK_ASSERT(stopping == (s->stop_waiting ? 1u : 0u));
#endif
}
