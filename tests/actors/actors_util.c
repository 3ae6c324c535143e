/* Shared by the actor test groups: the fixture, the probe actor, event helpers and polling
 * (forked children are run by tk_test_child_run, in tests/support). */
#ifndef _POSIX_C_SOURCE /* the build defines it too (cmake/troika.cmake) */
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors_tests.h"

/* ---- Fixture -----------------------------------------------------------------------------------
 */

act_system_opts act_test_opts(uint32_t threads)
{
    return (act_system_opts){
        .threads = threads,
        .actors_max = 1024,
        .msgs_max = 65536,
        .spin_us = 20,
        .turn_deadline_ms = 0,
        .stuck_deadline_ms = 0,
        .clock = tk_clock_system(),
    };
}

act_system *act_test_open(const act_system_opts *opts)
{
    act_system *sys = NULL;
    EXPECT_ERR(act_system_open(opts, &sys), TK_OK);
    assert_non_null(sys);
    return sys;
}

#define STASH_EVENTS_MAX 1024u
#define STASH_MSGS_MAX   256u

struct act_event_stash {
    probe_event events[STASH_EVENTS_MAX];
    size_t count;
    act_msg *msgs[STASH_MSGS_MAX]; /* other messages that arrived while waiting for events */
    size_t msg_count;
};

void act_fixture_open(act_fixture *f, const act_system_opts *opts)
{
    memset(f, 0, sizeof(*f));
    f->threads = opts->threads;
    f->stash = calloc(1, sizeof(*f->stash));
    assert_non_null(f->stash);
    f->sys = act_test_open(opts);
    EXPECT_ERR(act_port_open(f->sys, 4096, &f->port), TK_OK);
    f->port_ref = act_port_ref(f->port);
}

void act_fixture_close(act_fixture *f)
{
    for (size_t i = 0; i < f->stash->msg_count; i++) {
        act_msg_free(f->sys, f->stash->msgs[i]);
    }
    act_port_close(f->port);
    act_system_close(f->sys);
    free(f->stash);
    memset(f, 0, sizeof(*f));
}

static int setup_threads(void **state, uint32_t threads)
{
    act_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL) return -1;
    *state = f;
    act_system_opts opts = act_test_opts(threads);
    act_fixture_open(f, &opts);
    return 0;
}

int act_setup_1(void **state)
{
    return setup_threads(state, 1);
}

int act_setup_2(void **state)
{
    return setup_threads(state, 2);
}

int act_teardown(void **state)
{
    act_fixture *f = *state;
    if (f == NULL) return 0;
    if (f->sys != NULL) act_fixture_close(f);
    free(f);
    *state = NULL;
    return 0;
}

/* ---- The probe ---------------------------------------------------------------------------------
 */

typedef struct probe_state {
    probe_cfg cfg;
    act_ref self;
    uint64_t held_correlation; /* PROBE_HOLD */
    act_ref held_sender;
} probe_state;

static probe_event *event_new(act_ctx *ctx, probe_ev_kind kind)
{
    probe_event *ev = calloc(1, sizeof(*ev));
    TK_ASSERT(ev != NULL);
    ev->kind = kind;
    ev->self = act_self(ctx);
    ev->thread = pthread_self();
    return ev;
}

/* Send ev to the report ref. A report to a port already closed (teardown order) is dropped;
 * anything else is a broken test. */
static void event_send(act_ctx *ctx, const probe_state *st, probe_event *ev)
{
    act_system *sys = act_ctx_system(ctx);
    if (act_ref_is_none(st->cfg.report)) {
        free(ev);
        return;
    }
    act_msg *msg = act_msg_alloc(sys);
    TK_ASSERT(msg != NULL);
    msg->type = PROBE_EVENT;
    msg->sender = act_self(ctx);
    msg->ptr = ev;
    msg->ptr_free = free;
    tk_err err = act_send(sys, st->cfg.report, msg);
    TK_ASSERT(err == TK_OK || err == TK_ESTALE);
    if (err != TK_OK) act_msg_free(sys, msg);
}

static void report_result(act_ctx *ctx, const probe_state *st, uint32_t cmd, tk_err err,
                          uint64_t value)
{
    probe_event *ev = event_new(ctx, PROBE_EV_RESULT);
    ev->cmd = cmd;
    ev->err = err;
    ev->value = value;
    event_send(ctx, st, ev);
}

static tk_err probe_init(act_ctx *ctx, void *state, const void *arg)
{
    probe_state *st = state;
    TK_ASSERT(arg != NULL);
    st->cfg = *(const probe_cfg *)arg;
    st->self = act_self(ctx);
    if (st->cfg.shared != NULL) atomic_fetch_add(&st->cfg.shared->inits, 1);
    if (!st->cfg.quiet) event_send(ctx, st, event_new(ctx, PROBE_EV_INIT));
    if (st->cfg.init_name != NULL) {
        tk_err err = act_register(act_ctx_system(ctx), st->cfg.init_name, st->self);
        TK_ASSERT(err == TK_OK);
    }
    for (uint32_t i = 0; i < st->cfg.init_self_msgs; i++) {
        tk_err err =
            act_send_data(act_ctx_system(ctx), st->self, st->self, PROBE_PING, &i, sizeof(i));
        TK_ASSERT(err == TK_OK);
    }
    if (st->cfg.init_stop) act_stop(ctx, ACT_REASON_NORMAL);
    if (st->cfg.init_err != TK_OK && st->cfg.init_fail_detail) {
        return act_fail(ctx, st->cfg.init_err, "init refused");
    }
    return st->cfg.init_err;
}

/* PROBE_SEND: a burst of messages; refused ones must still be ours and unchanged. */
static void probe_do_send(act_ctx *ctx, probe_state *st, const act_msg *msg)
{
    act_system *sys = act_ctx_system(ctx);
    probe_send req;
    memcpy(&req, msg->data, sizeof(req));
    probe_event *ev = event_new(ctx, PROBE_EV_RESULT);
    ev->cmd = PROBE_SEND;
    ev->kept_intact = true;
    for (uint32_t i = 0; i < req.count; i++) {
        act_msg *out = act_msg_alloc(sys);
        TK_ASSERT(out != NULL);
        uint32_t seq = req.first_seq + i;
        out->type = req.type;
        out->sender = st->self;
        out->size_bytes = sizeof(seq);
        memcpy(out->data, &seq, sizeof(seq));
        tk_err err = act_send(sys, req.to, out);
        if (err == TK_OK) {
            ev->sent_ok++;
            continue;
        }
        uint32_t kept;
        memcpy(&kept, out->data, sizeof(kept));
        if (out->type != req.type || kept != seq) ev->kept_intact = false;
        if (err == TK_EFULL) ev->sent_full++;
        if (err == TK_ESTALE) ev->sent_stale++;
        if (ev->err == TK_OK) ev->err = err;
        act_msg_free(sys, out);
    }
    event_send(ctx, st, ev);
}

static void probe_do_request(act_ctx *ctx, probe_state *st, const act_msg *msg)
{
    act_system *sys = act_ctx_system(ctx);
    probe_request req;
    memcpy(&req, msg->data, sizeof(req));
    act_msg *out = act_msg_alloc(sys);
    TK_ASSERT(out != NULL);
    out->type = req.type;
    out->sender = st->self;
    uint64_t id = 0;
    tk_err err = act_request(sys, req.to, out, req.timeout_ms, &id);
    if (err != TK_OK) act_msg_free(sys, out);
    report_result(ctx, st, PROBE_REQUEST, err, id);
}

static void probe_answer(act_ctx *ctx, probe_state *st, const act_msg *request, uint32_t cmd)
{
    act_system *sys = act_ctx_system(ctx);
    act_msg *reply = act_msg_alloc(sys);
    TK_ASSERT(reply != NULL);
    reply->type = PROBE_ANSWER;
    reply->sender = st->self;
    reply->size_bytes = request->size_bytes;
    memcpy(reply->data, request->data, request->size_bytes);
    tk_err err = act_reply(sys, request, reply);
    if (err != TK_OK) act_msg_free(sys, reply);
    report_result(ctx, st, cmd, err, request->correlation);
}

static void probe_do_spawn(act_ctx *ctx, probe_state *st, const act_msg *msg)
{
    probe_spawn_req req;
    memcpy(&req, msg->data, sizeof(req));
    act_spawn_opts opts = {.behaviour = &probe_behaviour,
                           .state_size_bytes = sizeof(probe_state),
                           .arg = &st->cfg,
                           .mailbox_capacity = 64,
                           .link_to = req.link_to,
                           .trap_exit = req.trap_exit};
    act_ref child = ACT_REF_NONE;
    probe_event *ev = event_new(ctx, PROBE_EV_RESULT);
    ev->cmd = PROBE_SPAWN;
    ev->err = act_spawn(act_ctx_system(ctx), &opts, &child);
    ev->ref = child;
    event_send(ctx, st, ev);
}

/* The commands that only need the message's inline data. */
static tk_err probe_simple_cmd(act_ctx *ctx, probe_state *st, const act_msg *msg)
{
    act_system *sys = act_ctx_system(ctx);
    uint32_t u32 = 0;
    if (msg->size_bytes >= sizeof(u32)) memcpy(&u32, msg->data, sizeof(u32));
    act_ref ref = ACT_REF_NONE;
    if (msg->size_bytes >= sizeof(ref)) memcpy(&ref, msg->data, sizeof(ref));
    switch (msg->type) {
    case PROBE_STOP:
        act_stop(ctx, (act_reason_kind)u32);
        return TK_OK;
    case PROBE_FAIL:
        return act_fail(ctx, (tk_err)u32, "probe failed %u", u32);
    case PROBE_FAIL_BARE:
        return (tk_err)u32;
    case PROBE_FAIL_NOTE:
        (void)act_fail(ctx, TK_EIO, "stale note");
        return TK_OK;
    case PROBE_TRAP:
        act_trap_exit(ctx, u32 != 0);
        return TK_OK;
    case PROBE_LINK:
        report_result(ctx, st, PROBE_LINK, act_link(sys, st->self, ref), 0);
        return TK_OK;
    case PROBE_MONITOR: {
        uint64_t id = 0;
        tk_err err = act_monitor(sys, st->self, ref, &id);
        report_result(ctx, st, PROBE_MONITOR, err, id);
        return TK_OK;
    }
    case PROBE_BUSY:
        busy_wait_ms(u32);
        return TK_OK;
    default:
        return TK_OK;
    }
}

static tk_err probe_gate(probe_state *st)
{
    TK_ASSERT(st->cfg.shared != NULL);
    atomic_fetch_add(&st->cfg.shared->gate_entered, 1);
    uint64_t deadline = test_now_ns() + 10ull * 1000000000u;
    while (atomic_load(&st->cfg.shared->gate) == 0) {
        if (test_now_ns() > deadline) return TK_ETIMEDOUT; /* the test forgot to open it */
        sched_yield();
    }
    return TK_OK;
}

static tk_err probe_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    probe_state *st = state;
    if (!st->cfg.quiet && msg->type != PROBE_GATE) {
        probe_event *ev = event_new(ctx, PROBE_EV_MSG);
        ev->type = msg->type;
        ev->size_bytes = msg->size_bytes;
        ev->sender = msg->sender;
        ev->correlation = msg->correlation;
        memcpy(ev->data, msg->data, sizeof(ev->data));
        event_send(ctx, st, ev);
    }
    switch (msg->type) {
    case PROBE_SEND:
        probe_do_send(ctx, st, msg);
        return TK_OK;
    case PROBE_REQUEST:
        probe_do_request(ctx, st, msg);
        return TK_OK;
    case PROBE_ASK:
        probe_answer(ctx, st, msg, PROBE_ASK);
        return TK_OK;
    case PROBE_HOLD:
        st->held_correlation = msg->correlation;
        st->held_sender = msg->sender;
        return TK_OK;
    case PROBE_ANSWER_HELD: {
        act_msg held;
        memset(&held, 0, sizeof(held));
        held.type = PROBE_HOLD;
        held.sender = st->held_sender;
        held.correlation = st->held_correlation;
        probe_answer(ctx, st, &held, PROBE_ANSWER_HELD);
        return TK_OK;
    }
    case PROBE_SPAWN:
        probe_do_spawn(ctx, st, msg);
        return TK_OK;
    case PROBE_GATE:
        return probe_gate(st);
    default:
        return probe_simple_cmd(ctx, st, msg);
    }
}

static void probe_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    probe_state *st = state;
    probe_shared *shared = st->cfg.shared;
    if (shared != NULL) {
        atomic_fetch_add(&shared->terminates, 1);
        if ((unsigned)reason->kind <= ACT_REASON_NOPROC) {
            atomic_fetch_add(&shared->term_kinds[reason->kind], 1);
        }
        if (st->cfg.terminate_spawns) {
            probe_cfg cfg = {.report = ACT_REF_NONE, .quiet = true};
            act_spawn_opts opts = {.behaviour = &probe_behaviour,
                                   .state_size_bytes = sizeof(probe_state),
                                   .arg = &cfg,
                                   .mailbox_capacity = 4,
                                   .link_to = ACT_REF_NONE};
            act_ref child = ACT_REF_NONE;
            tk_err err = act_spawn(act_ctx_system(ctx), &opts, &child);
            atomic_store(&shared->spawn_in_terminate, 1u + (uint32_t)err);
        }
    }
    if (st->cfg.quiet) return;
    probe_event *ev = event_new(ctx, PROBE_EV_TERM);
    ev->reason = *reason;
    event_send(ctx, st, ev);
}

const act_behaviour probe_behaviour = {
    .name = "probe", .init = probe_init, .handle = probe_handle, .terminate = probe_terminate};

probe_cfg probe_cfg_for(const act_fixture *f)
{
    return (probe_cfg){.report = f->port_ref};
}

act_ref probe_spawn(act_system *sys, const probe_cfg *cfg, uint32_t capacity, act_ref link_to,
                    bool trap_exit)
{
    act_spawn_opts opts = {.behaviour = &probe_behaviour,
                           .state_size_bytes = sizeof(probe_state),
                           .arg = cfg,
                           .mailbox_capacity = capacity,
                           .link_to = link_to,
                           .trap_exit = trap_exit};
    act_ref ref = ACT_REF_NONE;
    EXPECT_ERR(act_spawn(sys, &opts, &ref), TK_OK);
    assert_false(act_ref_is_none(ref));
    return ref;
}

act_ref probe_start(const act_fixture *f)
{
    probe_cfg cfg = probe_cfg_for(f);
    act_ref ref = probe_spawn(f->sys, &cfg, 64, ACT_REF_NONE, false);
    (void)expect_init(f, ref);
    return ref;
}

void probe_cmd(const act_fixture *f, act_ref to, uint32_t type, const void *data,
               uint32_t size_bytes)
{
    EXPECT_ERR(act_send_data(f->sys, to, f->port_ref, type, data, size_bytes), TK_OK);
}

void probe_cmd_u32(const act_fixture *f, act_ref to, uint32_t type, uint32_t value)
{
    probe_cmd(f, to, type, &value, sizeof(value));
}

act_msg *port_next(const act_fixture *f, uint32_t timeout_ms)
{
    act_msg *msg = NULL;
    tk_err err = act_port_receive(f->port, timeout_ms, &msg);
    if (err != TK_OK)
        fail_msg("no message on the port within %u ms: %s", timeout_ms, tk_err_name(err));
    assert_non_null(msg);
    return msg;
}

static const char *ev_kind_name(uint32_t kind)
{
    switch (kind) {
    case PROBE_EV_INIT:
        return "INIT";
    case PROBE_EV_MSG:
        return "MSG";
    case PROBE_EV_TERM:
        return "TERM";
    case PROBE_EV_RESULT:
        return "RESULT";
    default:
        return "?";
    }
}

static void stash_push(const act_fixture *f, const probe_event *ev)
{
    act_event_stash *stash = f->stash;
    if (stash->count == STASH_EVENTS_MAX) fail_msg("more than %u events stashed", STASH_EVENTS_MAX);
    stash->events[stash->count++] = *ev;
}

/* Take the oldest stashed event from self (any actor when self is NONE). */
static bool stash_take(const act_fixture *f, act_ref self, probe_event *out)
{
    act_event_stash *stash = f->stash;
    for (size_t i = 0; i < stash->count; i++) {
        if (!act_ref_is_none(self) && !act_ref_eq(stash->events[i].self, self)) continue;
        *out = stash->events[i];
        memmove(&stash->events[i], &stash->events[i + 1],
                (stash->count - i - 1u) * sizeof(stash->events[0]));
        stash->count--;
        return true;
    }
    return false;
}

/* Copy a probe event out of msg and free msg; false (msg kept) when it is not an event. */
static bool event_of(const act_fixture *f, act_msg *msg, probe_event *out)
{
    if (msg->type != PROBE_EVENT || msg->ptr == NULL) return false;
    *out = *(const probe_event *)msg->ptr;
    act_msg_free(f->sys, msg);
    return true;
}

static void stash_push_msg(const act_fixture *f, act_msg *msg)
{
    act_event_stash *stash = f->stash;
    if (stash->msg_count == STASH_MSGS_MAX) {
        act_msg_free(f->sys, msg);
        fail_msg("more than %u messages stashed", STASH_MSGS_MAX);
    }
    stash->msgs[stash->msg_count++] = msg;
}

/* The oldest stashed message that is not an event, or NULL. */
static act_msg *stash_take_msg(const act_fixture *f)
{
    act_event_stash *stash = f->stash;
    if (stash->msg_count == 0) return NULL;
    act_msg *msg = stash->msgs[0];
    memmove(&stash->msgs[0], &stash->msgs[1], (stash->msg_count - 1u) * sizeof(stash->msgs[0]));
    stash->msg_count--;
    return msg;
}

probe_event next_event_from(const act_fixture *f, act_ref self)
{
    probe_event ev;
    if (stash_take(f, self, &ev)) return ev;
    for (;;) { /* bounded by port_next's wait */
        act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
        if (!event_of(f, msg, &ev)) {
            stash_push_msg(f, msg); /* e.g. an EXIT that overtook events: test_links.c */
            continue;
        }
        if (act_ref_is_none(self) || act_ref_eq(ev.self, self)) return ev;
        stash_push(f, &ev);
    }
}

act_msg *next_non_event(const act_fixture *f)
{
    act_msg *msg = stash_take_msg(f);
    if (msg != NULL) return msg;
    for (;;) { /* bounded by port_next's wait */
        msg = port_next(f, ACT_TEST_WAIT_MS);
        probe_event ev;
        if (!event_of(f, msg, &ev)) return msg;
        stash_push(f, &ev);
    }
}

probe_event expect_event(const act_fixture *f, probe_ev_kind kind)
{
    probe_event ev = next_event_from(f, ACT_REF_NONE);
    if (ev.kind != kind) {
        fail_msg("want a probe %s event, got %s (type %u, slot %u)", ev_kind_name(kind),
                 ev_kind_name(ev.kind), ev.type, ev.self.slot);
    }
    return ev;
}

static probe_event expect_from(const act_fixture *f, act_ref self, probe_ev_kind kind)
{
    probe_event ev = next_event_from(f, self);
    if (ev.kind != kind) {
        fail_msg("want a probe %s event from slot %u, got %s (type %u)", ev_kind_name(kind),
                 self.slot, ev_kind_name(ev.kind), ev.type);
    }
    return ev;
}

probe_event expect_init(const act_fixture *f, act_ref self)
{
    return expect_from(f, self, PROBE_EV_INIT);
}

probe_event expect_msg(const act_fixture *f, act_ref self, uint32_t type)
{
    probe_event ev = expect_from(f, self, PROBE_EV_MSG);
    if (ev.type != type) fail_msg("slot %u handled type %u, want %u", self.slot, ev.type, type);
    return ev;
}

probe_event expect_term(const act_fixture *f, act_ref self, act_reason_kind kind)
{
    probe_event ev = expect_from(f, self, PROBE_EV_TERM);
    EXPECT_KIND(ev.reason.kind, kind);
    return ev;
}

probe_event expect_result(const act_fixture *f, act_ref self, uint32_t cmd)
{
    probe_event ev = expect_from(f, self, PROBE_EV_RESULT);
    assert_int_equal(ev.cmd, cmd);
    return ev;
}

void expect_port_quiet(const act_fixture *f, uint32_t wait_ms)
{
    probe_event ev;
    if (stash_take(f, ACT_REF_NONE, &ev)) {
        fail_msg("unexpected probe %s event (type %u) from slot %u", ev_kind_name(ev.kind), ev.type,
                 ev.self.slot);
    }
    act_msg *msg = stash_take_msg(f);
    if (msg != NULL) {
        uint32_t type = msg->type;
        act_msg_free(f->sys, msg);
        fail_msg("unexpected message (type %u) stashed from the port", type);
    }
    tk_err err = act_port_receive(f->port, wait_ms, &msg);
    if (err == TK_OK) {
        uint32_t type = msg->type;
        uint32_t kind = 0;
        if (type == PROBE_EVENT) kind = ((const probe_event *)msg->ptr)->kind;
        act_msg_free(f->sys, msg);
        fail_msg("unexpected message on the port: type %u (event %s)", type, ev_kind_name(kind));
    }
    EXPECT_ERR(err, TK_ETIMEDOUT);
}

act_reason wait_exit(const act_fixture *f, act_ref ref)
{
    act_reason reason;
    memset(&reason, 0, sizeof(reason));
    EXPECT_ERR(act_port_wait_exit(f->port, ref, ACT_TEST_WAIT_MS, &reason), TK_OK);
    return reason;
}

uint64_t port_monitor(const act_fixture *f, act_ref ref)
{
    uint64_t id = 0;
    EXPECT_ERR(act_monitor(f->sys, f->port_ref, ref, &id), TK_OK);
    assert_true(id != 0);
    return id;
}

act_reason expect_down(const act_fixture *f, uint64_t id, act_ref from)
{
    act_msg *msg = next_non_event(f);
    uint32_t type = msg->type;
    uint64_t correlation = msg->correlation;
    act_ref sender = msg->sender;
    uint32_t size = msg->size_bytes;
    act_exit_info info = exit_info_of(msg->data);
    act_msg_free(f->sys, msg);
    if (type != ACT_MSG_DOWN) fail_msg("want ACT_MSG_DOWN, got type %u", type);
    assert_int_equal(correlation, id);
    assert_int_equal(size, sizeof(act_exit_info));
    EXPECT_REF_EQ(info.from, from);
    EXPECT_REF_EQ(sender, from);
    return info.reason;
}

/* Does item want match a DOWN on the port (ev NULL) or the probe event ev? */
static bool expect_matches(const port_expect *want, const act_msg *msg, const probe_event *ev)
{
    act_exit_info info;
    if (ev == NULL) {
        if (!act_ref_is_none(want->self)) return false;
        if (msg->type != ACT_MSG_DOWN || msg->correlation != want->id) return false;
        info = exit_info_of(msg->data);
    } else {
        if (act_ref_is_none(want->self)) return false;
        if (ev->kind != PROBE_EV_MSG || !act_ref_eq(ev->self, want->self)) return false;
        if (ev->type != (want->is_down ? (uint32_t)ACT_MSG_DOWN : (uint32_t)ACT_MSG_EXIT)) {
            return false;
        }
        if (want->is_down && ev->correlation != want->id) return false;
        info = exit_info_of(ev->data);
    }
    return act_ref_eq(info.from, want->from) && info.reason.kind == want->kind;
}

/* Mark the first unmatched item that matches; false when none does. */
static bool expect_mark(const port_expect *items, bool *matched, size_t count, const act_msg *msg,
                        const probe_event *ev)
{
    for (size_t i = 0; i < count; i++) {
        if (!matched[i] && expect_matches(&items[i], msg, ev)) {
            matched[i] = true;
            return true;
        }
    }
    return false;
}

void expect_unordered(const act_fixture *f, const port_expect *items, size_t count)
{
    bool matched[16] = {false};
    assert_true(count <= 16);
    size_t left = count;
    act_event_stash *stash = f->stash;
    for (size_t i = 0; i < stash->count && left > 0;) { /* events already stashed */
        if (expect_mark(items, matched, count, NULL, &stash->events[i])) {
            memmove(&stash->events[i], &stash->events[i + 1],
                    (stash->count - i - 1u) * sizeof(stash->events[0]));
            stash->count--;
            left--;
        } else {
            i++;
        }
    }
    size_t stashed_msgs = stash->msg_count; /* messages stashed before: looked at first */
    while (left > 0) {                      /* bounded by port_next's wait */
        bool from_stash = stashed_msgs > 0;
        act_msg *msg = from_stash ? stash_take_msg(f) : port_next(f, ACT_TEST_WAIT_MS);
        if (from_stash) stashed_msgs--;
        probe_event ev;
        if (event_of(f, msg, &ev)) {
            if (expect_mark(items, matched, count, NULL, &ev)) {
                left--;
            } else {
                stash_push(f, &ev);
            }
            continue;
        }
        bool ok = expect_mark(items, matched, count, msg, NULL);
        if (!ok && from_stash) { /* not ours: back to the stash */
            stash_push_msg(f, msg);
            continue;
        }
        uint32_t type = msg->type;
        act_msg_free(f->sys, msg);
        if (!ok) fail_msg("a message of type %u matches nothing expected", type);
        left--;
    }
}

act_exit_info exit_info_of(const unsigned char *data)
{
    act_exit_info info;
    memcpy(&info, data, sizeof(info));
    return info;
}

/* ---- Misc -------------------------------------------------------------------------------------
 */

uint64_t test_now_ns(void)
{
    return tk_clock_mono_ns(tk_clock_system());
}

void busy_wait_ms(uint32_t ms)
{
    uint64_t until = test_now_ns() + (uint64_t)ms * 1000000u;
    while (test_now_ns() < until) {
        /* spin on the clock: the point is to hold the scheduler thread */
    }
}

bool wait_until(bool (*cond)(void *arg), void *arg, uint32_t timeout_ms)
{
    for (uint32_t waited = 0; waited <= timeout_ms; waited++) {
        if (cond(arg)) return true;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&pause, NULL);
    }
    return cond(arg);
}

typedef struct gate_wait {
    probe_shared *shared;
    uint32_t count;
} gate_wait;

static bool gate_is_entered(void *arg)
{
    const gate_wait *w = arg;
    return atomic_load(&w->shared->gate_entered) >= w->count;
}

void wait_gate_entered(probe_shared *shared, uint32_t count)
{
    gate_wait w = {.shared = shared, .count = count};
    if (!wait_until(gate_is_entered, &w, ACT_TEST_WAIT_MS)) fail_msg("no probe entered its gate");
}

typedef struct live_wait {
    act_system *sys;
    uint64_t live;
} live_wait;

static bool live_is(void *arg)
{
    const live_wait *w = arg;
    act_stats stats;
    act_stats_read(w->sys, &stats);
    return stats.live == w->live;
}

bool wait_live(act_system *sys, uint64_t live, uint32_t timeout_ms)
{
    live_wait w = {.sys = sys, .live = live};
    return wait_until(live_is, &w, timeout_ms);
}
