/* One child: its state machine (sup_internal.h draws it), its start, its asynchronous stop,
 * its timers and backoff, and the children table. */
#include <string.h>

#include "sup_internal.h"

#define NS_PER_MS 1000000u

/* ---- State machine --------------------------------------------------------------------------- */

static bool edge_is_legal(sup__cstate from, sup__cstate to)
{
    switch (from) {
    case SUP__STOPPED:
        return to == SUP__STARTING || to == SUP__BACKOFF;
    case SUP__STARTING:
        return to == SUP__RUNNING || to == SUP__STOPPED;
    case SUP__RUNNING:
        return to == SUP__STOPPING || to == SUP__EXITED || to == SUP__STOPPED;
    case SUP__STOPPING:
        return to == SUP__STOPPED;
    case SUP__EXITED:
        return to == SUP__STOPPED;
    case SUP__BACKOFF:
        return to == SUP__STARTING || to == SUP__STOPPED;
    }
    return false;
}

void sup__child_set_state(sup__child *child, sup__cstate next)
{
    TK_ASSERT(child != NULL);
    TK_ASSERT(edge_is_legal(child->state, next));
    child->state = next;
}

void sup__child_check(const sup__child *child)
{
    TK_ASSERT(child != NULL);
    bool none = act_ref_is_none(child->ref);
    switch (child->state) {
    case SUP__STOPPED:
    case SUP__STARTING:
        TK_ASSERT(none);
        TK_ASSERT(!child->timer_armed);
        break;
    case SUP__RUNNING:
    case SUP__EXITED:
        TK_ASSERT(!none);
        TK_ASSERT(!child->timer_armed);
        break;
    case SUP__STOPPING:
        TK_ASSERT(!none);
        TK_ASSERT(child->monitor_id != 0);
        if (child->timer_armed) TK_ASSERT(child->spec.shutdown == SUP_SHUTDOWN_TIMEOUT);
        break;
    case SUP__BACKOFF:
        TK_ASSERT(none);
        TK_ASSERT(child->timer_armed || child->start_due);
        break;
    }
    if (child->start_due) TK_ASSERT(child->state == SUP__BACKOFF);
}

void sup__child_init(sup__state *s, sup__child *child, const sup_child_spec *spec, const void *arg)
{
    TK_ASSERT(s != NULL && child != NULL);
    TK_ASSERT(spec != NULL);
    memset(child, 0, sizeof(*child));
    child->spec = *spec;
    child->spec.arg = arg;
    child->ref = ACT_REF_NONE;
    child->key = ++s->next_key;
    child->state = SUP__STOPPED;
}

/* ---- Start ----------------------------------------------------------------------------------- */

tk_err sup__child_start(sup__state *s, sup__child *child)
{
    TK_ASSERT(child->state == SUP__STOPPED || child->state == SUP__BACKOFF);
    TK_ASSERT(!child->timer_armed);
    child->start_due = false;
    sup__child_set_state(child, SUP__STARTING);
    act_ref ref = ACT_REF_NONE;
    tk_err err = child->spec.start(s->sys, s->self, child->spec.arg, &ref);
    if (err != TK_OK) {
        sup__child_set_state(child, SUP__STOPPED);
        sup__stat_add(SUP__STAT_CHILD_START_FAILURES);
        act_reason why = {.kind = ACT_REASON_ERROR, .err = err, .detail = "start failed"};
        sup__log_child(TK_LOG_ERROR, s, child, "child start failed", &why);
        return err;
    }
    TK_ASSERT(!act_ref_is_none(ref)); /* a start function writes the child's ref on TK_OK */
    child->ref = ref;
    child->started_ns = act_now_ns(s->sys);
    sup__child_set_state(child, SUP__RUNNING);
    sup__log_child(TK_LOG_DEBUG, s, child, "child started", NULL);
    return TK_OK;
}

/* ---- Timers ---------------------------------------------------------------------------------- */

/* Arm a one-shot timer message of type for child after delay_ms. False when no envelope or
 * no timer was available (nothing armed). */
static bool timer_arm(sup__state *s, sup__child *child, uint32_t type, uint32_t delay_ms)
{
    TK_ASSERT(!child->timer_armed);
    TK_ASSERT(type == SUP__MSG_KILL_TIMER || type == SUP__MSG_BACKOFF_TIMER);
    act_msg *msg = act_msg_alloc(s->sys);
    if (msg == NULL) return false;
    sup__timer_data data = {.key = child->key, .seq = ++s->next_seq};
    msg->type = type;
    msg->sender = s->self;
    memcpy(msg->data, &data, sizeof(data));
    msg->size_bytes = sizeof(data);
    tk_err err = act_send_after(s->sys, delay_ms, s->self, msg, &child->timer);
    if (err != TK_OK) {
        act_msg_free(s->sys, msg);
        return false;
    }
    child->timer_seq = data.seq;
    child->timer_armed = true;
    return true;
}

static void timer_cancel(sup__state *s, sup__child *child)
{
    TK_ASSERT(s != NULL && child != NULL);
    if (!child->timer_armed) return;
    tk_err err = act_timer_cancel(s->sys, child->timer);
    TK_ASSERT(err == TK_OK || err == TK_ENOENT); /* ENOENT: it fired; its message is stale */
    child->timer_armed = false;
    child->timer_seq = 0; /* sequence numbers start at 1: a late fire matches nothing */
}

/* ---- Stop ------------------------------------------------------------------------------------ */

/* Send child an exit signal of kind from the supervisor. */
static void exit_signal(sup__state *s, sup__child *child, act_reason_kind kind)
{
    TK_ASSERT(!act_ref_is_none(child->ref));
    TK_ASSERT(kind == ACT_REASON_KILL || kind == ACT_REASON_SHUTDOWN);
    act_reason reason = act_reason_of(kind);
    tk_err err = act_exit(s->sys, s->self, child->ref, &reason);
    if (err == TK_OK || err == TK_ESTALE) return; /* ESTALE: gone already; its DOWN is sent */
    act_reason why = {.kind = ACT_REASON_ERROR, .err = err, .detail = "exit signal not sent"};
    sup__log_child(TK_LOG_ERROR, s, child, "child exit signal lost", &why);
}

bool sup__child_stop_begin(sup__state *s, sup__child *child)
{
    TK_ASSERT(child->state == SUP__RUNNING);
    TK_ASSERT(!s->stop_waiting);
    act_unlink(s->sys, s->self, child->ref); /* its exit now comes as a DOWN only */
    uint64_t monitor_id = 0;
    tk_err err = act_monitor(s->sys, s->self, child->ref, &monitor_id);
    if (err != TK_OK) {
        /* Cannot watch it go: kill it and count it gone, rather than wait forever. */
        act_reason why = {.kind = ACT_REASON_ERROR, .err = err, .detail = "cannot monitor"};
        sup__log_child(TK_LOG_ERROR, s, child, "child killed unobserved", &why);
        exit_signal(s, child, ACT_REASON_KILL);
        child->ref = ACT_REF_NONE;
        sup__child_set_state(child, SUP__STOPPED);
        return false;
    }
    child->monitor_id = monitor_id;
    sup__child_set_state(child, SUP__STOPPING);
    s->stop_waiting = true;
    switch (child->spec.shutdown) {
    case SUP_SHUTDOWN_BRUTAL_KILL:
        exit_signal(s, child, ACT_REASON_KILL);
        break;
    case SUP_SHUTDOWN_TIMEOUT:
        exit_signal(s, child, ACT_REASON_SHUTDOWN);
        if (!timer_arm(s, child, SUP__MSG_KILL_TIMER, child->spec.shutdown_timeout_ms)) {
            sup__log_child(TK_LOG_ERROR, s, child, "no kill timer: killed at once", NULL);
            exit_signal(s, child, ACT_REASON_KILL);
        }
        break;
    case SUP_SHUTDOWN_INFINITY:
        exit_signal(s, child, ACT_REASON_SHUTDOWN);
        break;
    }
    sup__log_child(TK_LOG_DEBUG, s, child, "child stopping", NULL);
    return true;
}

void sup__child_stopped(sup__state *s, sup__child *child, const act_reason *reason)
{
    TK_ASSERT(child->state == SUP__STOPPING);
    TK_ASSERT(s->stop_waiting);
    timer_cancel(s, child);
    sup__log_child(TK_LOG_DEBUG, s, child, "child stopped", reason);
    child->ref = ACT_REF_NONE;
    child->monitor_id = 0;
    sup__child_set_state(child, SUP__STOPPED);
    s->stop_waiting = false;
}

void sup__child_kill_timer(sup__state *s, sup__child *child, uint64_t seq)
{
    TK_ASSERT(s != NULL && child != NULL);
    TK_ASSERT(seq != 0);
    if (child->state != SUP__STOPPING || !child->timer_armed || child->timer_seq != seq) return;
    child->timer_armed = false;
    child->timer_seq = 0;
    sup__stat_add(SUP__STAT_SHUTDOWN_KILLS);
    sup__log_child(TK_LOG_WARN, s, child, "child shutdown timed out: killed", NULL);
    exit_signal(s, child, ACT_REASON_KILL);
}

/* ---- Backoff --------------------------------------------------------------------------------- */

bool sup__child_backoff_arm(sup__state *s, sup__child *child, uint32_t delay_ms)
{
    TK_ASSERT(child->state == SUP__STOPPED);
    TK_ASSERT(delay_ms > 0);
    if (!timer_arm(s, child, SUP__MSG_BACKOFF_TIMER, delay_ms)) return false;
    sup__child_set_state(child, SUP__BACKOFF);
    if (tk_log_enabled(TK_LOG_INFO, "sup")) {
        TK_LOG(TK_LOG_INFO, "sup", "child restart delayed", TK_LOG_STR("supervisor", s->name),
               TK_LOG_STR("child", child->spec.id), TK_LOG_U64("delay_ms", delay_ms),
               TK_LOG_U64("backoff_count", child->backoff_count));
    }
    return true;
}

void sup__child_backoff_fired(sup__state *s, sup__child *child, uint64_t seq)
{
    TK_ASSERT(s != NULL && child != NULL);
    TK_ASSERT(seq != 0);
    if (child->state != SUP__BACKOFF || !child->timer_armed || child->timer_seq != seq) return;
    child->timer_armed = false;
    child->timer_seq = 0;
    child->start_due = true;
    s->work_hint = true; /* sup__drain starts it once the supervisor is idle */
}

void sup__child_backoff_cancel(sup__state *s, sup__child *child)
{
    TK_ASSERT(child->state == SUP__BACKOFF);
    TK_ASSERT(act_ref_is_none(child->ref));
    timer_cancel(s, child);
    child->start_due = false;
    sup__child_set_state(child, SUP__STOPPED);
}

uint32_t sup__child_backoff_next(sup__state *s, sup__child *child, uint64_t now_ns)
{
    TK_ASSERT(s != NULL && child != NULL);
    const sup_backoff *b = &child->spec.backoff;
    if (b->min_ms == 0) return 0;
    TK_ASSERT(b->max_ms >= b->min_ms);
    if (b->reset_after_ms > 0 && child->started_ns != 0 && now_ns >= child->started_ns &&
        now_ns - child->started_ns >= (uint64_t)b->reset_after_ms * NS_PER_MS) {
        child->backoff_count = 0; /* it ran long enough: a fresh failure */
    }
    child->started_ns = 0; /* a retry without a new start must not reset it again */
    uint64_t base = b->min_ms;
    for (uint32_t n = 0; n < child->backoff_count && base < b->max_ms; n++) {
        base *= 2u; /* at most 32 doublings reach any uint32_t max_ms */
    }
    if (base > b->max_ms) base = b->max_ms;
    uint64_t spread = base * b->jitter_pct / 100u;
    if (spread > 0) base += tk_rng_below(&s->rng, spread + 1u);
    if (child->backoff_count < UINT32_MAX) child->backoff_count++;
    TK_ASSERT(base >= b->min_ms);
    return base > UINT32_MAX ? UINT32_MAX : (uint32_t)base;
}

/* ---- The table ------------------------------------------------------------------------------- */

uint32_t sup__child_find_ref(const sup__state *s, act_ref ref)
{
    TK_ASSERT(s != NULL);
    TK_ASSERT(!act_ref_is_none(ref));
    for (uint32_t i = 0; i < s->children_count; i++) {
        if (act_ref_eq(s->children[i].ref, ref)) return i;
    }
    return UINT32_MAX;
}

uint32_t sup__child_find_key(const sup__state *s, uint64_t key)
{
    TK_ASSERT(s != NULL);
    TK_ASSERT(key != 0);
    for (uint32_t i = 0; i < s->children_count; i++) {
        if (s->children[i].key == key) return i;
    }
    return UINT32_MAX;
}

uint32_t sup__child_find_id(const sup__state *s, const char *id)
{
    TK_ASSERT(s != NULL);
    TK_ASSERT(id != NULL);
    for (uint32_t i = 0; i < s->children_count; i++) {
        if (strncmp(s->children[i].spec.id, id, SUP_ID_BYTES) == 0) return i;
    }
    return UINT32_MAX;
}

uint32_t sup__child_find_monitor(const sup__state *s, uint64_t monitor_id)
{
    TK_ASSERT(s != NULL);
    TK_ASSERT(monitor_id != 0);
    for (uint32_t i = 0; i < s->children_count; i++) {
        const sup__child *child = &s->children[i];
        if (child->state == SUP__STOPPING && child->monitor_id == monitor_id) return i;
    }
    return UINT32_MAX;
}

void sup__child_remove(sup__state *s, uint32_t index)
{
    TK_ASSERT(index < s->children_count);
    TK_ASSERT(s->children[index].state == SUP__STOPPED);
    TK_ASSERT(!s->children[index].timer_armed);
    uint32_t after = s->children_count - index - 1u;
    if (after > 0) {
        memmove(&s->children[index], &s->children[index + 1u], (size_t)after * sizeof(sup__child));
    }
    s->children_count--;
    memset(&s->children[s->children_count], 0, sizeof(sup__child));
}
