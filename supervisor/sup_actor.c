/* The supervisor behaviour (init, handle, terminate), sup_start, and the reaper that shuts
 * down the children of a supervisor whose start failed part way. */
#include <string.h>

#include "sup_internal.h"

static tk_err sup_init(act_ctx *ctx, void *state, const void *arg);
static tk_err sup_handle(act_ctx *ctx, void *state, act_msg *msg);
static void sup_terminate(act_ctx *ctx, void *state, const act_reason *reason);

static const act_behaviour sup_behaviour = {
    .name = "supervisor",
    .init = sup_init,
    .handle = sup_handle,
    .terminate = sup_terminate,
};

/* ---- Starting -------------------------------------------------------------------------------- */

tk_err sup_start(act_system *sys, const sup_spec *spec, act_ref link_to, act_ref *out_sup)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(spec != NULL && out_sup != NULL);
    if (sup__spec_check(spec) != TK_OK) return TK_EINVAL;
    sup__init_arg arg = {.spec = spec, .parent = link_to, .reap_from = NULL, .reap_count = 0};
    act_spawn_opts opts = {
        .behaviour = &sup_behaviour,
        .state_size_bytes = sup__state_size(spec->children_max, spec->flags.intensity),
        .arg = &arg,
        .mailbox_capacity = spec->mailbox_capacity,
        .link_to = link_to,
        .trap_exit = true,
    };
    act_ref ref;
    tk_err err = act_spawn(sys, &opts, &ref);
    if (err != TK_OK) return err;
    *out_sup = ref;
    return TK_OK;
}

tk_err sup_start_as_child(act_system *sys, act_ref sup, const void *arg, act_ref *out_child)
{
    TK_ASSERT(arg != NULL);
    TK_ASSERT(!act_ref_is_none(sup));
    return sup_start(sys, (const sup_spec *)arg, sup, out_child);
}

sup_child_spec sup_child_supervisor(const char *id, const sup_spec *spec, sup_restart restart)
{
    TK_ASSERT(id != NULL && spec != NULL);
    size_t size = strnlen(id, SUP_ID_BYTES);
    TK_ASSERT(size >= 1u && size < SUP_ID_BYTES);
    sup_child_spec child = {
        .start = sup_start_as_child,
        .arg = spec,
        .restart = restart,
        .shutdown = SUP_SHUTDOWN_INFINITY,
        .shutdown_timeout_ms = 0,
        .type = SUP_SUPERVISOR,
        .significant = false,
        .backoff = {.min_ms = 0, .max_ms = 0, .reset_after_ms = 0, .jitter_pct = 0},
    };
    memcpy(child.id, id, size + 1u);
    return child;
}

/* ---- init ------------------------------------------------------------------------------------ */

/* Point the children table and the restart ring into the state's tail. */
static void state_layout(sup__state *s, uint32_t children_max, uint32_t intensity)
{
    TK_ASSERT(children_max <= SUP_CHILDREN_MAX);
    TK_ASSERT(intensity <= SUP_INTENSITY_MAX);
    s->children_max = children_max;
    s->children = (sup__child *)(void *)s->tail;
    s->restarts_ns = (uint64_t *)(void *)(s->children + children_max);
    s->flags.intensity = intensity;
}

/* Start failed at child `started`: hand the children started before it to a reaper. */
static void init_abort(sup__state *s, uint32_t started)
{
    TK_ASSERT(started <= s->children_count);
    TK_ASSERT(s->mode == SUP__IDLE);
    for (uint32_t i = 0; i < started; i++) {
        /* The failed init's exit must not reach them: the reaper stops them instead. */
        act_unlink(s->sys, s->self, s->children[i].ref);
    }
    if (started == 0) return;
    sup__init_arg arg = {
        .spec = NULL, .parent = ACT_REF_NONE, .reap_from = s, .reap_count = started};
    act_spawn_opts opts = {
        .behaviour = &sup_behaviour,
        .state_size_bytes = sup__state_size(started, 0),
        .arg = &arg,
        .mailbox_capacity = 2u * started + 8u,
        .link_to = ACT_REF_NONE,
        .trap_exit = true,
    };
    act_ref reaper;
    tk_err err = act_spawn(s->sys, &opts, &reaper);
    if (err == TK_OK) return;
    TK_LOG(TK_LOG_ERROR, "sup", "no reaper: killing the started children",
           TK_LOG_STR("supervisor", s->name), TK_LOG_ERR("err", err));
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    for (uint32_t i = started; i > 0; i--) {
        err = act_exit(s->sys, s->self, s->children[i - 1u].ref, &kill);
        TK_ASSERT(err == TK_OK || err == TK_ESTALE || err == TK_ENOMEM); /* ESTALE: gone */
    }
}

static tk_err init_supervisor(sup__state *s, const sup_spec *spec)
{
    TK_ASSERT(spec != NULL);
    TK_ASSERT(sup__spec_check(spec) == TK_OK);
    memcpy(s->name, spec->name, sizeof(s->name));
    s->flags = spec->flags;
    tk_rng_init(&s->rng, spec->flags.seed);
    state_layout(s, spec->children_max, spec->flags.intensity);
    if (spec->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE) {
        s->template_spec = spec->children[0];
    } else {
        for (uint32_t i = 0; i < spec->child_count; i++) {
            sup__child_init(s, &s->children[i], &spec->children[i], spec->children[i].arg);
        }
        s->children_count = spec->child_count;
    }
    for (uint32_t i = 0; i < s->children_count; i++) {
        tk_err err = sup__child_start(s, &s->children[i]);
        if (err != TK_OK) {
            TK_LOG(TK_LOG_ERROR, "sup", "supervisor start failed",
                   TK_LOG_STR("supervisor", s->name), TK_LOG_STR("child", spec->children[i].id),
                   TK_LOG_ERR("err", err));
            init_abort(s, i);
            return err;
        }
    }
    TK_LOG(TK_LOG_INFO, "sup", "supervisor started", TK_LOG_STR("supervisor", s->name),
           TK_LOG_U64("children", s->children_count));
    return TK_OK;
}

/* A reaper adopts the running children of a supervisor whose init failed and shuts them
 * down in reverse order, with the same machinery as a supervisor's shutdown. */
static tk_err init_reaper(act_ctx *ctx, sup__state *s, const sup__init_arg *arg)
{
    const sup__state *from = arg->reap_from;
    TK_ASSERT(from != NULL);
    TK_ASSERT(arg->reap_count >= 1u && arg->reap_count <= from->children_count);
    memcpy(s->name, from->name, sizeof(s->name));
    s->flags = from->flags;
    s->reaper = true;
    state_layout(s, arg->reap_count, 0);
    for (uint32_t i = 0; i < arg->reap_count; i++) {
        TK_ASSERT(from->children[i].state == SUP__RUNNING);
        s->children[i] = from->children[i];
    }
    s->children_count = arg->reap_count;
    s->next_key = from->next_key;
    act_reason normal = act_reason_of(ACT_REASON_NORMAL);
    sup__shutdown_begin(s, &normal);
    if (s->done) act_stop(ctx, ACT_REASON_NORMAL); /* nothing to wait for */
    return TK_OK;
}

static tk_err sup_init(act_ctx *ctx, void *state, const void *arg)
{
    sup__state *s = state;
    const sup__init_arg *init_arg = arg;
    TK_ASSERT(s != NULL && init_arg != NULL);
    TK_ASSERT((init_arg->spec == NULL) != (init_arg->reap_from == NULL));
    s->sys = act_ctx_system(ctx);
    s->self = act_self(ctx);
    s->parent = init_arg->parent;
    s->mode = SUP__IDLE;
    tk_err err = init_arg->reap_from != NULL ? init_reaper(ctx, s, init_arg)
                                             : init_supervisor(s, init_arg->spec);
    if (err == TK_OK) sup__invariants(s);
    return err;
}

/* ---- handle ---------------------------------------------------------------------------------- */

static void on_exit_msg(sup__state *s, const act_msg *msg)
{
    TK_ASSERT(msg->type == ACT_MSG_EXIT);
    TK_ASSERT(msg->size_bytes == sizeof(act_exit_info));
    act_exit_info info;
    memcpy(&info, msg->data, sizeof(info));
    if (act_ref_is_none(info.from)) return;
    if (!act_ref_is_none(s->parent) && act_ref_eq(info.from, s->parent)) {
        /* The parent is going (or tells us to): children first, then us, same reason. */
        sup__shutdown_begin(s, &info.reason);
        return;
    }
    uint32_t index = sup__child_find_ref(s, info.from);
    if (index == UINT32_MAX) return; /* an earlier life of a child, or a stranger: as OTP */
    sup__on_child_exit(s, index, &info.reason);
}

static void on_down_msg(sup__state *s, const act_msg *msg)
{
    TK_ASSERT(msg->type == ACT_MSG_DOWN);
    TK_ASSERT(msg->size_bytes == sizeof(act_exit_info));
    act_exit_info info;
    memcpy(&info, msg->data, sizeof(info));
    sup__on_down(s, msg->correlation, &info.reason);
}

static void on_private_msg(sup__state *s, const act_msg *msg)
{
    TK_ASSERT(msg->type >= SUP_MSG_PRIVATE_FIRST && msg->type <= SUP_MSG_LAST);
    if (!act_ref_eq(msg->sender, s->self)) return; /* only the supervisor sends these */
    if (msg->type == SUP__MSG_KICK) return;        /* sup__drain runs after every message */
    if (msg->size_bytes != sizeof(sup__timer_data)) return;
    sup__timer_data data;
    memcpy(&data, msg->data, sizeof(data));
    uint32_t index = data.key != 0 ? sup__child_find_key(s, data.key) : UINT32_MAX;
    if (index == UINT32_MAX || data.seq == 0) return; /* the child is gone: stale */
    sup__child *child = &s->children[index];
    if (msg->type == SUP__MSG_KILL_TIMER) {
        sup__child_kill_timer(s, child, data.seq);
    } else if (msg->type == SUP__MSG_BACKOFF_TIMER) {
        sup__child_backoff_fired(s, child, data.seq);
    }
}

/* Exit once the shutdown is over, with the reason it was begun for. */
static tk_err sup_exit(act_ctx *ctx, sup__state *s)
{
    TK_ASSERT(s->done);
    TK_ASSERT(s->mode == SUP__SHUTTING_DOWN);
    const act_reason *reason = &s->exit_reason;
    TK_LOG(TK_LOG_INFO, "sup", "supervisor exiting", TK_LOG_STR("supervisor", s->name),
           TK_LOG_STR("reason", act_reason_kind_name(reason->kind)),
           TK_LOG_BOOL("reaper", s->reaper));
    switch (reason->kind) {
    case ACT_REASON_NORMAL:
        act_stop(ctx, ACT_REASON_NORMAL);
        return TK_OK;
    case ACT_REASON_SHUTDOWN:
    case ACT_REASON_KILL:   /* never an EXIT's reason (a kill arrives as KILLED) */
    case ACT_REASON_NOPROC: /* only in a DOWN */
        act_stop(ctx, ACT_REASON_SHUTDOWN);
        return TK_OK;
    case ACT_REASON_KILLED:
        act_stop(ctx, ACT_REASON_KILLED);
        return TK_OK;
    case ACT_REASON_ERROR:
        break;
    }
    tk_err err = reason->err != TK_OK ? reason->err : TK_EIO;
    return act_fail(ctx, err, "%s", reason->detail);
}

static tk_err sup_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    sup__state *s = state;
    TK_ASSERT(s != NULL && msg != NULL);
    TK_ASSERT(act_ref_eq(s->self, act_self(ctx)));
    uint32_t type = msg->type;
    if (type == ACT_MSG_EXIT) {
        on_exit_msg(s, msg);
    } else if (type == ACT_MSG_DOWN) {
        on_down_msg(s, msg);
    } else if (type >= SUP_MSG_START_CHILD && type <= SUP_MSG_STOP) {
        sup__request_arrived(s, msg);
    } else if (type >= SUP_MSG_PRIVATE_FIRST && type <= SUP_MSG_LAST) {
        on_private_msg(s, msg);
    } else if (tk_log_enabled(TK_LOG_DEBUG, "sup")) {
        TK_LOG(TK_LOG_DEBUG, "sup", "unexpected message ignored", TK_LOG_STR("supervisor", s->name),
               TK_LOG_U64("type", type));
    }
    sup__drain(s);
    sup__invariants(s);
    if (s->done) return sup_exit(ctx, s);
    return TK_OK;
}

/* ---- terminate ------------------------------------------------------------------------------- */

static void sup_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    sup__state *s = state;
    TK_ASSERT(s != NULL && reason != NULL);
    TK_ASSERT(act_ref_eq(s->self, act_self(ctx)));
    if (s->op_request != NULL) {
        sup__reply_err(s, s->op_request, TK_ESTALE);
        act_msg_free(s->sys, s->op_request);
        s->op_request = NULL;
    }
    sup__deferred_refuse_all(s);
    if (!s->done) {
        /* Ended from outside (system close, watchdog): the links tell the children. */
        tk_log_level level = reason->kind == ACT_REASON_SHUTDOWN ? TK_LOG_INFO : TK_LOG_WARN;
        TK_LOG(level, "sup", "supervisor ended before its children",
               TK_LOG_STR("supervisor", s->name),
               TK_LOG_STR("reason", act_reason_kind_name(reason->kind)),
               TK_LOG_U64("children", s->children_count));
    }
}
