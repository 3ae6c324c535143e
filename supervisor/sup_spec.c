/* Spec validation, the state's size, the process-wide counters and the log helper. */
#include <stdatomic.h>
#include <string.h>

#include "sup_internal.h"

/* ---- Validation ------------------------------------------------------------------------------ */

bool sup__id_is_valid(const char id[SUP_ID_BYTES])
{
    TK_ASSERT(id != NULL);
    size_t size = strnlen(id, SUP_ID_BYTES);
    return size >= 1u && size < SUP_ID_BYTES;
}

static bool restart_is_valid(sup_restart restart)
{
    switch (restart) {
    case SUP_PERMANENT:
    case SUP_TRANSIENT:
    case SUP_TEMPORARY:
        return true;
    }
    return false;
}

static bool shutdown_is_valid(sup_shutdown shutdown, uint32_t timeout_ms)
{
    switch (shutdown) {
    case SUP_SHUTDOWN_BRUTAL_KILL:
    case SUP_SHUTDOWN_INFINITY:
        return timeout_ms == 0;
    case SUP_SHUTDOWN_TIMEOUT:
        return timeout_ms >= 1u;
    }
    return false;
}

static bool type_is_valid(sup_child_type type)
{
    switch (type) {
    case SUP_WORKER:
    case SUP_SUPERVISOR:
        return true;
    }
    return false;
}

static bool backoff_is_valid(const sup_backoff *backoff)
{
    TK_ASSERT(backoff != NULL);
    if (backoff->min_ms == 0) return true; /* off: the other fields are not used */
    if (backoff->max_ms < backoff->min_ms) return false;
    return backoff->jitter_pct <= 100u;
}

tk_err sup__child_spec_check(const sup_flags *flags, const sup_child_spec *child)
{
    TK_ASSERT(flags != NULL);
    TK_ASSERT(child != NULL);
    if (!sup__id_is_valid(child->id) || child->start == NULL) return TK_EINVAL;
    if (!restart_is_valid(child->restart) || !type_is_valid(child->type)) return TK_EINVAL;
    if (!shutdown_is_valid(child->shutdown, child->shutdown_timeout_ms)) return TK_EINVAL;
    if (!backoff_is_valid(&child->backoff)) return TK_EINVAL;
    if (child->significant) {
        /* OTP 24: significant children need auto_shutdown, and cannot be permanent. */
        if (flags->auto_shutdown == SUP_AUTO_SHUTDOWN_NEVER) return TK_EINVAL;
        if (child->restart == SUP_PERMANENT) return TK_EINVAL;
    }
    return TK_OK;
}

static tk_err flags_check(const sup_flags *flags)
{
    TK_ASSERT(flags != NULL);
    bool strategy_ok = false;
    switch (flags->strategy) {
    case SUP_ONE_FOR_ONE:
    case SUP_ONE_FOR_ALL:
    case SUP_REST_FOR_ONE:
    case SUP_SIMPLE_ONE_FOR_ONE:
        strategy_ok = true;
        break;
    }
    bool auto_ok = false;
    switch (flags->auto_shutdown) {
    case SUP_AUTO_SHUTDOWN_NEVER:
    case SUP_AUTO_SHUTDOWN_ANY_SIGNIFICANT:
    case SUP_AUTO_SHUTDOWN_ALL_SIGNIFICANT:
        auto_ok = true;
        break;
    }
    if (!strategy_ok || !auto_ok) return TK_EINVAL;
    if (flags->intensity > SUP_INTENSITY_MAX || flags->period_ms == 0) return TK_EINVAL;
    return TK_OK;
}

/* No two children share an id. Quadratic, at start only (children_max bounds it). */
static bool ids_are_unique(const sup_child_spec *children, uint32_t count)
{
    if (count > 0) TK_ASSERT(children != NULL);
    TK_ASSERT(count <= SUP_CHILDREN_MAX);
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t j = i + 1u; j < count; j++) {
            if (strncmp(children[i].id, children[j].id, SUP_ID_BYTES) == 0) return false;
        }
    }
    return true;
}

tk_err sup__spec_check(const sup_spec *spec)
{
    TK_ASSERT(spec != NULL);
    if (!sup__id_is_valid(spec->name)) return TK_EINVAL;
    if (flags_check(&spec->flags) != TK_OK) return TK_EINVAL;
    if (spec->mailbox_capacity == 0 || spec->mailbox_capacity > ACT_MAILBOX_DEPTH_MAX) {
        return TK_EINVAL;
    }
    if (spec->child_count > 0 && spec->children == NULL) return TK_EINVAL;
    if (spec->children_max == 0 || spec->children_max > SUP_CHILDREN_MAX) return TK_EINVAL;
    bool simple = spec->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE;
    if (simple && spec->child_count != 1u) return TK_EINVAL;
    if (!simple && spec->child_count > spec->children_max) return TK_EINVAL;
    for (uint32_t i = 0; i < spec->child_count; i++) {
        if (sup__child_spec_check(&spec->flags, &spec->children[i]) != TK_OK) return TK_EINVAL;
    }
    if (!ids_are_unique(spec->children, spec->child_count)) return TK_EINVAL;
    return TK_OK;
}

size_t sup__state_size(uint32_t children_max, uint32_t intensity)
{
    TK_ASSERT(children_max <= SUP_CHILDREN_MAX);
    TK_ASSERT(intensity <= SUP_INTENSITY_MAX);
    _Static_assert(sizeof(sup__child) % sizeof(uint64_t) == 0, "restarts_ns stays aligned");
    return sizeof(sup__state) + (size_t)children_max * sizeof(sup__child) +
           (size_t)intensity * sizeof(uint64_t);
}

/* ---- Counters -------------------------------------------------------------------------------- */

/* Each counter is written by whichever scheduler thread runs a supervisor. Relaxed: they are
 * independent tallies for /metrics; nothing is published through them. */
static _Atomic uint64_t stat_restarts;
static _Atomic uint64_t stat_intensity_exceeded;
static _Atomic uint64_t stat_child_start_failures;
static _Atomic uint64_t stat_shutdown_kills;

void sup__stat_add(sup__stat stat)
{
    _Atomic uint64_t *counter = NULL;
    switch (stat) {
    case SUP__STAT_RESTARTS:
        counter = &stat_restarts;
        break;
    case SUP__STAT_INTENSITY_EXCEEDED:
        counter = &stat_intensity_exceeded;
        break;
    case SUP__STAT_CHILD_START_FAILURES:
        counter = &stat_child_start_failures;
        break;
    case SUP__STAT_SHUTDOWN_KILLS:
        counter = &stat_shutdown_kills;
        break;
    }
    TK_ASSERT(counter != NULL);
    uint64_t old = atomic_fetch_add_explicit(counter, 1u, memory_order_relaxed);
    TK_ASSERT(old < UINT64_MAX);
}

void sup_stats_read(sup_stats *out_stats)
{
    TK_ASSERT(out_stats != NULL);
    out_stats->restarts = atomic_load_explicit(&stat_restarts, memory_order_relaxed);
    out_stats->intensity_exceeded =
        atomic_load_explicit(&stat_intensity_exceeded, memory_order_relaxed);
    out_stats->child_start_failures =
        atomic_load_explicit(&stat_child_start_failures, memory_order_relaxed);
    out_stats->shutdown_kills = atomic_load_explicit(&stat_shutdown_kills, memory_order_relaxed);
}

/* ---- Logging --------------------------------------------------------------------------------- */

void sup__log_child(tk_log_level level, const sup__state *s, const sup__child *child,
                    const char *msg, const act_reason *reason)
{
    TK_ASSERT(s != NULL && child != NULL);
    TK_ASSERT(msg != NULL);
    if (!tk_log_enabled(level, "sup")) return;
    if (reason == NULL) {
        TK_LOG(level, "sup", msg, TK_LOG_STR("supervisor", s->name),
               TK_LOG_STR("child", child->spec.id), TK_LOG_U64("child_slot", child->ref.slot));
        return;
    }
    TK_LOG(level, "sup", msg, TK_LOG_STR("supervisor", s->name),
           TK_LOG_STR("child", child->spec.id), TK_LOG_U64("child_slot", child->ref.slot),
           TK_LOG_STR("reason", act_reason_kind_name(reason->kind)), TK_LOG_ERR("err", reason->err),
           TK_LOG_STR("detail", reason->detail));
}
