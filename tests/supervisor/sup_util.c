/* Shared by the supervisor test groups: the fixture, the test worker, the recorder and the
 * wait helpers. */
#ifndef _POSIX_C_SOURCE /* the build defines it too (cmake/troika.cmake) */
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sup_tests.h"

/* ---- Fixture ----------------------------------------------------------------------------------
 */

int sup_setup(void **state)
{
    sup_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL) return -1;
    act_system_opts opts = {
        .threads = 2,
        .actors_max = 4096,
        .msgs_max = 65536,
        .spin_us = 20,
        .turn_deadline_ms = 0,
        .stuck_deadline_ms = 0,
        .clock = tk_clock_system(),
    };
    if (act_system_open(&opts, &f->sys) != TK_OK) {
        free(f);
        return -1;
    }
    if (act_port_open(f->sys, 4096, &f->port) != TK_OK) {
        act_system_close(f->sys);
        free(f);
        return -1;
    }
    f->port_ref = act_port_ref(f->port);
    rec_reset();
    sup_stats_read(&f->stats0);
    *state = f;
    return 0;
}

int sup_teardown(void **state)
{
    sup_fixture *f = *state;
    if (f == NULL) return 0;
    act_port_close(f->port);
    act_system_close(f->sys);
    free(f);
    *state = NULL;
    return 0;
}

sup_stats stats_delta(const sup_fixture *f)
{
    sup_stats now;
    sup_stats_read(&now);
    return (sup_stats){
        .restarts = now.restarts - f->stats0.restarts,
        .intensity_exceeded = now.intensity_exceeded - f->stats0.intensity_exceeded,
        .child_start_failures = now.child_start_failures - f->stats0.child_start_failures,
        .shutdown_kills = now.shutdown_kills - f->stats0.shutdown_kills,
    };
}

/* ---- The recorder -----------------------------------------------------------------------------
 */

#define REC_EVENTS_MAX 4096u
#define REC_FAILS_MAX  16u

typedef struct rec_event {
    rec_kind kind;
    const char *name; /* static: a tw_cfg's name */
    act_ref ref;
    act_reason_kind reason;
    uint64_t t_ns;
} rec_event;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    rec_event events[REC_EVENTS_MAX];
    uint32_t count;
    const char *fail_names[REC_FAILS_MAX];
    uint32_t fail_left[REC_FAILS_MAX];
} rec = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

void rec_reset(void)
{
    pthread_mutex_lock(&rec.lock);
    rec.count = 0;
    memset(rec.fail_names, 0, sizeof(rec.fail_names));
    memset(rec.fail_left, 0, sizeof(rec.fail_left));
    pthread_mutex_unlock(&rec.lock);
}

void rec_fail_starts(const char *name, uint32_t count)
{
    pthread_mutex_lock(&rec.lock);
    for (uint32_t i = 0; i < REC_FAILS_MAX; i++) {
        if (rec.fail_names[i] == NULL || strcmp(rec.fail_names[i], name) == 0) {
            rec.fail_names[i] = name;
            rec.fail_left[i] = count;
            break;
        }
    }
    pthread_mutex_unlock(&rec.lock);
}

/* True (and one failure used up) when name's start must fail. */
static bool rec_take_failure(const char *name)
{
    bool fail = false;
    pthread_mutex_lock(&rec.lock);
    for (uint32_t i = 0; i < REC_FAILS_MAX && rec.fail_names[i] != NULL; i++) {
        if (strcmp(rec.fail_names[i], name) == 0 && rec.fail_left[i] > 0) {
            rec.fail_left[i]--;
            fail = true;
            break;
        }
    }
    pthread_mutex_unlock(&rec.lock);
    return fail;
}

static void rec_add(rec_kind kind, const char *name, act_ref ref, act_reason_kind reason)
{
    pthread_mutex_lock(&rec.lock);
    TK_ASSERT(rec.count < REC_EVENTS_MAX);
    rec.events[rec.count++] =
        (rec_event){.kind = kind, .name = name, .ref = ref, .reason = reason, .t_ns = now_ns()};
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static uint32_t count_locked(rec_kind kind, const char *name)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < rec.count; i++) {
        if (rec.events[i].kind == kind && strcmp(rec.events[i].name, name) == 0) n++;
    }
    return n;
}

uint32_t rec_count(rec_kind kind, const char *name)
{
    pthread_mutex_lock(&rec.lock);
    uint32_t n = count_locked(kind, name);
    pthread_mutex_unlock(&rec.lock);
    return n;
}

bool rec_wait(rec_kind kind, const char *name, uint32_t count, uint32_t timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000u);
    deadline.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rec.lock);
    bool ok = true;
    while (count_locked(kind, name) < count) {
        if (pthread_cond_timedwait(&rec.cond, &rec.lock, &deadline) != 0) {
            ok = count_locked(kind, name) >= count;
            break;
        }
    }
    pthread_mutex_unlock(&rec.lock);
    return ok;
}

/* The nth event of kind for name (copied), false when there is none. */
static bool rec_nth(rec_kind kind, const char *name, uint32_t nth, rec_event *out)
{
    bool found = false;
    pthread_mutex_lock(&rec.lock);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < rec.count; i++) {
        if (rec.events[i].kind != kind || strcmp(rec.events[i].name, name) != 0) continue;
        if (seen++ == nth) {
            *out = rec.events[i];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&rec.lock);
    return found;
}

act_ref rec_ref(const char *name)
{
    act_ref ref = ACT_REF_NONE;
    pthread_mutex_lock(&rec.lock);
    for (uint32_t i = 0; i < rec.count; i++) {
        if (rec.events[i].kind == REC_START && strcmp(rec.events[i].name, name) == 0) {
            ref = rec.events[i].ref;
        }
    }
    pthread_mutex_unlock(&rec.lock);
    return ref;
}

uint64_t rec_time_ns(rec_kind kind, const char *name, uint32_t nth)
{
    rec_event ev = {0};
    if (!rec_nth(kind, name, nth, &ev)) fail_msg("no event %d #%u for %s", kind, nth, name);
    return ev.t_ns;
}

act_reason_kind rec_term_kind(const char *name, uint32_t nth)
{
    rec_event ev = {0};
    if (!rec_nth(REC_TERM, name, nth, &ev)) fail_msg("no terminate #%u for %s", nth, name);
    return ev.reason;
}

void rec_trace(char *out, size_t size)
{
    TK_ASSERT(size > 0);
    out[0] = '\0';
    size_t used = 0;
    pthread_mutex_lock(&rec.lock);
    for (uint32_t i = 0; i < rec.count && used < size; i++) {
        const char *tag = rec.events[i].kind == REC_START  ? "S"
                          : rec.events[i].kind == REC_TERM ? "T"
                                                           : "F";
        int n = snprintf(out + used, size - used, "%s%s:%s", used > 0 ? " " : "", tag,
                         rec.events[i].name);
        if (n < 0) break;
        used += (size_t)n;
    }
    pthread_mutex_unlock(&rec.lock);
}

/* ---- The test worker --------------------------------------------------------------------------
 */

typedef struct tw_state {
    const tw_cfg *cfg;
    act_ref self;
    bool lingering;
} tw_state;

static tk_err tw_init(act_ctx *ctx, void *state, const void *arg)
{
    tw_state *st = state;
    TK_ASSERT(arg != NULL);
    st->cfg = arg;
    st->self = act_self(ctx);
    return TK_OK;
}

/* A trapped EXIT (the supervisor's shutdown signal, or a link's). */
static void tw_on_exit(act_ctx *ctx, tw_state *st)
{
    switch (st->cfg->on_shutdown) {
    case TW_EXITS: /* trap_exit is off: no EXIT reaches it */
        act_stop(ctx, ACT_REASON_SHUTDOWN);
        return;
    case TW_IGNORES:
        return;
    case TW_LINGERS:
        break;
    }
    if (st->lingering) return;
    st->lingering = true;
    act_system *sys = act_ctx_system(ctx);
    act_msg *msg = act_msg_alloc(sys);
    TK_ASSERT(msg != NULL);
    msg->type = TW_LINGER_DONE;
    msg->sender = st->self;
    tk_err err = act_send_after(sys, st->cfg->linger_ms, st->self, msg, NULL);
    TK_ASSERT(err == TK_OK);
}

static tk_err tw_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    tw_state *st = state;
    switch (msg->type) {
    case TW_CRASH:
        return act_fail(ctx, TK_EIO, "crash requested");
    case TW_EXIT_NORMAL:
        act_stop(ctx, ACT_REASON_NORMAL);
        break;
    case TW_EXIT_SHUTDOWN:
    case TW_LINGER_DONE:
        act_stop(ctx, ACT_REASON_SHUTDOWN);
        break;
    case ACT_MSG_EXIT:
        tw_on_exit(ctx, st);
        break;
    default:
        break;
    }
    return TK_OK;
}

static void tw_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    tw_state *st = state;
    rec_add(REC_TERM, st->cfg->name, st->self, reason->kind);
}

static const act_behaviour tw_behaviour = {
    .name = "test_worker", .init = tw_init, .handle = tw_handle, .terminate = tw_terminate};

tk_err tw_start(act_system *sys, act_ref sup, const void *arg, act_ref *out_child)
{
    const tw_cfg *cfg = arg;
    TK_ASSERT(cfg != NULL && out_child != NULL);
    if (rec_take_failure(cfg->name)) {
        rec_add(REC_START_FAIL, cfg->name, ACT_REF_NONE, ACT_REASON_ERROR);
        return TK_EIO;
    }
    act_spawn_opts opts = {.behaviour = &tw_behaviour,
                           .state_size_bytes = sizeof(tw_state),
                           .arg = cfg,
                           .mailbox_capacity = 64,
                           .link_to = sup,
                           .trap_exit = cfg->on_shutdown != TW_EXITS};
    act_ref ref;
    tk_err err = act_spawn(sys, &opts, &ref);
    if (err != TK_OK) return err;
    rec_add(REC_START, cfg->name, ref, ACT_REASON_NORMAL);
    if (cfg->crash_on_start) {
        err = act_send_data(sys, ref, ACT_REF_NONE, TW_CRASH, NULL, 0);
        TK_ASSERT(err == TK_OK);
    }
    *out_child = ref;
    return TK_OK;
}

sup_child_spec tw_child(const char *id, const tw_cfg *cfg, sup_restart restart)
{
    sup_child_spec child = {
        .start = tw_start,
        .arg = cfg,
        .restart = restart,
        .shutdown = SUP_SHUTDOWN_TIMEOUT,
        .shutdown_timeout_ms = 1000,
        .type = SUP_WORKER,
        .significant = false,
        .backoff = {.min_ms = 0, .max_ms = 0, .reset_after_ms = 0, .jitter_pct = 0},
    };
    snprintf(child.id, sizeof(child.id), "%s", id);
    return child;
}

sup_spec test_spec(const char *name, sup_strategy strategy, const sup_child_spec *children,
                   uint32_t count)
{
    bool simple = strategy == SUP_SIMPLE_ONE_FOR_ONE;
    sup_spec spec = {
        .flags = {.strategy = strategy,
                  .intensity = 10,
                  .period_ms = 10000,
                  .auto_shutdown = SUP_AUTO_SHUTDOWN_NEVER,
                  .seed = 42},
        .children = children,
        .child_count = count,
        .children_max = simple ? 64u : count + 8u,
        .mailbox_capacity = 256,
    };
    snprintf(spec.name, sizeof(spec.name), "%s", name);
    return spec;
}

void tw_send(const sup_fixture *f, act_ref to, uint32_t type)
{
    EXPECT_ERR(act_send_data(f->sys, to, f->port_ref, type, NULL, 0), TK_OK);
}

/* ---- Waiting ----------------------------------------------------------------------------------
 */

uint64_t now_ns(void)
{
    return tk_clock_mono_ns(tk_clock_system());
}

void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};
    for (uint32_t tries = 0; tries < 1000u && nanosleep(&ts, &ts) != 0; tries++) {
        /* EINTR: sleep what is left */
    }
}

act_reason wait_exit(const sup_fixture *f, act_ref ref)
{
    act_reason reason = act_reason_of(ACT_REASON_NOPROC);
    EXPECT_ERR(act_port_wait_exit(f->port, ref, SUP_TEST_WAIT_MS, &reason), TK_OK);
    return reason;
}

act_reason wait_linked_exit(const sup_fixture *f, act_ref ref)
{
    for (uint32_t n = 0; n < 1000u; n++) {
        act_msg *msg = NULL;
        EXPECT_ERR(act_port_receive(f->port, SUP_TEST_WAIT_MS, &msg), TK_OK);
        bool found = false;
        act_exit_info info;
        if (msg->type == ACT_MSG_EXIT && msg->size_bytes == sizeof(info)) {
            memcpy(&info, msg->data, sizeof(info));
            found = act_ref_eq(info.from, ref);
        }
        act_msg_free(f->sys, msg);
        if (found) return info.reason;
    }
    fail_msg("no EXIT from {slot %u, gen %u}", ref.slot, ref.gen);
    return act_reason_of(ACT_REASON_NOPROC); /* not reached */
}

sup_counts wait_active(const sup_fixture *f, act_ref sup, uint32_t active)
{
    sup_counts counts = {0};
    for (uint32_t waited_ms = 0; waited_ms < SUP_TEST_WAIT_MS; waited_ms++) {
        EXPECT_ERR(sup_count_children(f->sys, f->port, sup, SUP_TEST_WAIT_MS, &counts), TK_OK);
        if (counts.active == active) return counts;
        sleep_ms(1);
    }
    fail_msg("active children: got %u, want %u", counts.active, active);
    return counts; /* not reached */
}

sup_child_info child_info(const sup_fixture *f, act_ref sup, const char *id)
{
    sup_child_info infos[16];
    uint32_t count = 0;
    EXPECT_ERR(sup_which_children(f->sys, f->port, sup, infos, 16, &count, SUP_TEST_WAIT_MS),
               TK_OK);
    for (uint32_t i = 0; i < count && i < 16; i++) {
        if (strcmp(infos[i].id, id) == 0) return infos[i];
    }
    fail_msg("no child %s", id);
    return infos[0]; /* not reached */
}
