/* System options, spawn options and an actor's life: init, handle, terminate, act_stop,
 * handler errors with act_fail's detail, init errors and the exit reasons they produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdio.h>
#include <string.h>

#include "actors_tests.h"

/* ---- System options ----------------------------------------------------------------------------
 */

static void expect_open_invalid(const act_system_opts *opts, const char *what)
{
    act_system *sys = (act_system *)(uintptr_t)0x1; /* must stay untouched */
    tk_err err = act_system_open(opts, &sys);
    if (err != TK_EINVAL) fail_msg("open with %s: got %s, want TK_EINVAL", what, tk_err_name(err));
    assert_ptr_equal(sys, (act_system *)(uintptr_t)0x1);
}

static void test_system_open_invalid(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(1);
    opts.threads = ACT_THREADS_MAX + 1u;
    expect_open_invalid(&opts, "threads > ACT_THREADS_MAX");
    opts = act_test_opts(1);
    opts.actors_max = 0;
    expect_open_invalid(&opts, "actors_max 0");
    opts = act_test_opts(1);
    opts.actors_max = ACT_ACTORS_MAX + 1u;
    expect_open_invalid(&opts, "actors_max > ACT_ACTORS_MAX");
    opts = act_test_opts(1);
    opts.msgs_max = 0;
    expect_open_invalid(&opts, "msgs_max 0");
    opts = act_test_opts(1);
    opts.clock = NULL;
    expect_open_invalid(&opts, "no clock");
    opts = act_test_opts(1);
    opts.turn_deadline_ms = 100;
    opts.stuck_deadline_ms = 50;
    expect_open_invalid(&opts, "stuck deadline below the turn deadline");
}

static void test_system_open_limits(void **state)
{
    (void)state;
    act_system_close(NULL);                  /* a no-op */
    act_system_opts opts = act_test_opts(0); /* 0: online CPUs */
    opts.actors_max = 1;
    opts.msgs_max = 1;
    act_system *sys = act_test_open(&opts);
    act_stats stats;
    act_stats_read(sys, &stats);
    assert_int_equal(stats.live, 0);
    assert_int_equal(stats.spawned, 0);
    assert_true(act_now_ns(sys) > 0);
    act_system_close(sys);
    opts = act_test_opts(ACT_THREADS_MAX > 4u ? 4u : ACT_THREADS_MAX);
    opts.actors_max = 1u << 20; /* a large table: touched only as used */
    sys = act_test_open(&opts);
    act_system_close(sys);
}

/* ---- Spawn options -----------------------------------------------------------------------------
 */

static tk_err noop_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)ctx;
    (void)state;
    (void)msg;
    return TK_OK;
}

static const act_behaviour no_handle_behaviour = {.name = "no-handle"};
static const act_behaviour noop_behaviour = {.name = "noop", .handle = noop_handle};

static void expect_spawn_invalid(act_system *sys, const act_spawn_opts *opts, const char *what)
{
    act_ref ref = {.slot = 77, .gen = 77};
    tk_err err = act_spawn(sys, opts, &ref);
    if (err != TK_EINVAL) fail_msg("spawn with %s: got %s, want TK_EINVAL", what, tk_err_name(err));
    EXPECT_REF_EQ(ref, ((act_ref){.slot = 77, .gen = 77}));
}

static void test_spawn_invalid_opts(void **state)
{
    act_fixture *f = *state;
    act_stats before;
    act_stats_read(f->sys, &before);
    act_spawn_opts opts = {.behaviour = NULL, .mailbox_capacity = 8, .link_to = ACT_REF_NONE};
    expect_spawn_invalid(f->sys, &opts, "no behaviour");
    opts.behaviour = &no_handle_behaviour;
    expect_spawn_invalid(f->sys, &opts, "no handle");
    opts.behaviour = &noop_behaviour;
    opts.mailbox_capacity = 0;
    expect_spawn_invalid(f->sys, &opts, "capacity 0");
    opts.mailbox_capacity = ACT_MAILBOX_DEPTH_MAX + 1u;
    expect_spawn_invalid(f->sys, &opts, "capacity past ACT_MAILBOX_DEPTH_MAX");
    act_stats after;
    act_stats_read(f->sys, &after);
    assert_int_equal(after.spawned, before.spawned);
    assert_int_equal(after.live, before.live);
    /* The bounds themselves are accepted; no state and no init is fine. */
    act_ref ref;
    opts.mailbox_capacity = ACT_MAILBOX_DEPTH_MAX;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
    opts.mailbox_capacity = 1;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
    act_stats_read(f->sys, &after);
    assert_int_equal(after.live, before.live + 2u);
}

static void test_spawn_actors_max(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(2);
    opts.actors_max = 3;
    act_fixture f;
    act_fixture_open(&f, &opts);
    probe_cfg cfg = probe_cfg_for(&f);
    cfg.quiet = true;
    act_ref a = probe_spawn(f.sys, &cfg, 8, ACT_REF_NONE, false);
    act_ref b = probe_spawn(f.sys, &cfg, 8, ACT_REF_NONE, false);
    act_spawn_opts spawn = {.behaviour = &probe_behaviour,
                            .state_size_bytes = 64,
                            .arg = &cfg,
                            .mailbox_capacity = 8,
                            .link_to = ACT_REF_NONE};
    act_ref ref = {.slot = 9, .gen = 9};
    EXPECT_ERR(act_spawn(f.sys, &spawn, &ref), TK_EFULL); /* port + a + b = actors_max */
    EXPECT_REF_EQ(ref, ((act_ref){.slot = 9, .gen = 9}));
    act_port *port2 = NULL;
    EXPECT_ERR(act_port_open(f.sys, 8, &port2), TK_EFULL); /* a port is a slot too */
    probe_cmd_u32(&f, a, PROBE_STOP, ACT_REASON_NORMAL);
    (void)wait_exit(&f, a);
    assert_true(wait_live(f.sys, 2, ACT_TEST_WAIT_MS)); /* a's slot is free once it is reaped */
    EXPECT_ERR(act_spawn(f.sys, &spawn, &ref), TK_OK);
    assert_false(act_ref_eq(ref, a)); /* a new generation, even if a's slot */
    assert_false(act_ref_eq(ref, b));
    act_fixture_close(&f);
}

/* ---- Lifecycle ---------------------------------------------------------------------------------
 */

static void test_lifecycle(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_ref ref = probe_spawn(f->sys, &cfg, 16, ACT_REF_NONE, false);
    /* init ran synchronously, on this thread, before act_spawn returned */
    assert_int_equal(atomic_load(&shared.inits), 1);
    probe_event ev = expect_init(f, ref);
    assert_true(pthread_equal(ev.thread, pthread_self()));
    for (uint32_t i = 0; i < 3; i++) {
        probe_cmd_u32(f, ref, PROBE_PING, i);
    }
    for (uint32_t i = 0; i < 3; i++) {
        ev = expect_msg(f, ref, PROBE_PING);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, i);
        assert_int_equal(ev.size_bytes, sizeof(seq));
        EXPECT_REF_EQ(ev.sender, f->port_ref);
        assert_int_equal(ev.correlation, 0);
        assert_false(pthread_equal(ev.thread, pthread_self())); /* on a scheduler thread */
    }
    assert_int_equal(atomic_load(&shared.terminates), 0);
    uint64_t down = port_monitor(f, ref);
    probe_cmd_u32(f, ref, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, ref, PROBE_STOP);
    ev = expect_term(f, ref, ACT_REASON_NORMAL);
    assert_int_equal(ev.reason.err, TK_OK);
    assert_string_equal(ev.reason.detail, "");
    assert_false(pthread_equal(ev.thread, pthread_self()));
    act_reason reason = expect_down(f, down, ref);
    EXPECT_KIND(reason.kind, ACT_REASON_NORMAL);
    assert_int_equal(atomic_load(&shared.terminates), 1);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, NULL, 0), TK_ESTALE);
    expect_port_quiet(f, 0);
}

typedef struct state_probe {
    unsigned char bytes[4096];
} state_probe;

typedef struct init_seen {
    _Atomic uint32_t calls;
    _Atomic uint32_t state_zeroed;
    _Atomic uint32_t state_null;
    _Atomic uint32_t arg_ok;
    _Atomic uint32_t sys_ok;
    act_system *sys;
} init_seen;

static init_seen seen;

static tk_err seen_init(act_ctx *ctx, void *state, const void *arg)
{
    atomic_fetch_add(&seen.calls, 1);
    if (act_ctx_system(ctx) == seen.sys) atomic_fetch_add(&seen.sys_ok, 1);
    if (arg == &seen) atomic_fetch_add(&seen.arg_ok, 1);
    if (state == NULL) {
        atomic_fetch_add(&seen.state_null, 1);
        return TK_OK;
    }
    const state_probe *sp = state;
    bool zero = true;
    for (size_t i = 0; i < sizeof(sp->bytes); i++) {
        if (sp->bytes[i] != 0) zero = false;
    }
    if (zero) atomic_fetch_add(&seen.state_zeroed, 1);
    memset(state, 0x5A, sizeof(state_probe)); /* dirty it: the next actor must not see this */
    return TK_OK;
}

static tk_err seen_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    (void)msg;
    act_stop(ctx, ACT_REASON_NORMAL);
    return TK_OK;
}

static const act_behaviour seen_behaviour = {
    .name = "seen", .init = seen_init, .handle = seen_handle};

static void test_state_and_arg(void **state)
{
    act_fixture *f = *state;
    memset(&seen, 0, sizeof(seen));
    seen.sys = f->sys;
    act_spawn_opts opts = {.behaviour = &seen_behaviour,
                           .state_size_bytes = sizeof(state_probe),
                           .arg = &seen,
                           .mailbox_capacity = 4,
                           .link_to = ACT_REF_NONE};
    for (int i = 0; i < 8; i++) { /* exits and respawns reuse slots and maybe state memory */
        act_ref ref;
        EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
        EXPECT_ERR(act_send_data(f->sys, ref, ACT_REF_NONE, PROBE_PING, NULL, 0), TK_OK);
        (void)wait_exit(f, ref);
    }
    opts.state_size_bytes = 0;
    act_ref ref;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
    assert_int_equal(atomic_load(&seen.calls), 9);
    assert_int_equal(atomic_load(&seen.state_zeroed), 8);
    assert_int_equal(atomic_load(&seen.state_null), 1);
    assert_int_equal(atomic_load(&seen.arg_ok), 9);
    assert_int_equal(atomic_load(&seen.sys_ok), 9);
}

static void test_init_messages_wait_for_init(void **state)
{
    act_fixture *f = *state;
    probe_cfg cfg = probe_cfg_for(f);
    cfg.init_self_msgs = 5; /* sent during init: handled after it, in order */
    act_ref ref = probe_spawn(f->sys, &cfg, 16, ACT_REF_NONE, false);
    (void)expect_init(f, ref);
    for (uint32_t i = 0; i < 5; i++) {
        probe_event ev = expect_msg(f, ref, PROBE_PING);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, i);
        EXPECT_REF_EQ(ev.sender, ref);
    }
}

/* ---- Init errors -------------------------------------------------------------------------------
 */

static void expect_exit_msg(const act_fixture *f, act_reason_kind kind, tk_err err,
                            act_exit_info *out_info)
{
    act_msg *msg = next_non_event(f);
    uint32_t type = msg->type;
    act_exit_info info = exit_info_of(msg->data);
    uint32_t size = msg->size_bytes;
    act_ref sender = msg->sender;
    act_msg_free(f->sys, msg);
    if (type != ACT_MSG_EXIT) fail_msg("want ACT_MSG_EXIT on the port, got type %u", type);
    assert_int_equal(size, sizeof(act_exit_info));
    EXPECT_REF_EQ(sender, info.from);
    EXPECT_KIND(info.reason.kind, kind);
    EXPECT_ERR(info.reason.err, err);
    if (out_info != NULL) *out_info = info;
}

static void test_init_error(void **state)
{
    act_fixture *f = *state;
    act_stats before;
    act_stats_read(f->sys, &before);
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    cfg.init_err = TK_EIO;
    cfg.init_fail_detail = true;
    cfg.init_name = "doomed"; /* registered by init: must go with the failed actor */
    act_spawn_opts opts = {.behaviour = &probe_behaviour,
                           .state_size_bytes = 256,
                           .arg = &cfg,
                           .mailbox_capacity = 8,
                           .link_to = f->port_ref, /* the port traps exits */
                           .trap_exit = false};
    act_ref ref = {.slot = 5, .gen = 5};
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_EIO);   /* init's own error */
    EXPECT_REF_EQ(ref, ((act_ref){.slot = 5, .gen = 5})); /* out_ref untouched */
    act_exit_info info;
    expect_exit_msg(f, ACT_REASON_ERROR, TK_EIO, &info); /* the link saw the exit */
    (void)expect_init(f, info.from);
    assert_string_equal(info.reason.detail, "init refused");
    EXPECT_ERR(act_send_data(f->sys, info.from, f->port_ref, PROBE_PING, NULL, 0), TK_ESTALE);
    act_ref named;
    EXPECT_ERR(act_whereis(f->sys, "doomed", &named), TK_ENOENT);
    assert_int_equal(atomic_load(&shared.terminates), 0); /* no terminate */
    assert_true(wait_live(f->sys, before.live, ACT_TEST_WAIT_MS));
    /* Without act_fail and without a link: the same error, nobody told. */
    cfg.init_fail_detail = false;
    cfg.init_name = NULL;
    cfg.init_err = TK_EPERM;
    opts.link_to = ACT_REF_NONE;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_EPERM);
    (void)expect_event(f, PROBE_EV_INIT);
    expect_port_quiet(f, 20);
    assert_int_equal(atomic_load(&shared.terminates), 0);
    assert_true(wait_live(f->sys, before.live, ACT_TEST_WAIT_MS));
}

static void test_init_stop(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    cfg.init_stop = true;
    cfg.init_self_msgs = 2; /* queued during init, dropped with the actor */
    act_ref ref = probe_spawn(f->sys, &cfg, 8, f->port_ref, false);
    act_exit_info info;
    expect_exit_msg(f, ACT_REASON_NORMAL, TK_OK, &info);
    EXPECT_REF_EQ(info.from, ref);
    (void)expect_init(f, ref);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, NULL, 0), TK_ESTALE);
    act_reason reason = wait_exit(f, ref);
    EXPECT_KIND(reason.kind, ACT_REASON_NOPROC);
    assert_int_equal(atomic_load(&shared.terminates), 0);
    expect_port_quiet(f, 20); /* the two pings were never handled */
}

/* ---- Stop and errors ---------------------------------------------------------------------------
 */

static void test_stop_reasons(void **state)
{
    act_fixture *f = *state;
    const act_reason_kind kinds[] = {ACT_REASON_NORMAL, ACT_REASON_SHUTDOWN};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        act_ref ref = probe_start(f);
        uint64_t down = port_monitor(f, ref);
        probe_cmd_u32(f, ref, PROBE_STOP, kinds[i]);
        (void)expect_msg(f, ref, PROBE_STOP);
        probe_event ev = expect_term(f, ref, kinds[i]);
        assert_int_equal(ev.reason.err, TK_OK);
        act_reason reason = expect_down(f, down, ref);
        EXPECT_KIND(reason.kind, kinds[i]);
        EXPECT_ERR(reason.err, TK_OK);
        assert_string_equal(reason.detail, "");
    }
}

static void test_stop_drops_later_messages(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_ref ref = probe_spawn(f->sys, &cfg, 64, ACT_REF_NONE, false);
    (void)expect_init(f, ref);
    /* Queue STOP and pings behind a gate so that they are all in the mailbox at once. */
    probe_cmd(f, ref, PROBE_GATE, NULL, 0);
    wait_gate_entered(&shared, 1);
    probe_cmd_u32(f, ref, PROBE_STOP, ACT_REASON_SHUTDOWN);
    for (uint32_t i = 0; i < 10; i++) {
        probe_cmd_u32(f, ref, PROBE_PING, i);
    }
    atomic_store(&shared.gate, 1);
    (void)expect_msg(f, ref, PROBE_STOP);
    (void)expect_term(f, ref, ACT_REASON_SHUTDOWN);
    (void)wait_exit(f, ref);
    expect_port_quiet(f, 0); /* no ping was handled after the stop */
    assert_int_equal(atomic_load(&shared.terminates), 1);
}

static void test_handler_error(void **state)
{
    act_fixture *f = *state;
    act_ref ref = probe_start(f);
    uint64_t down = port_monitor(f, ref);
    probe_cmd_u32(f, ref, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, ref, PROBE_FAIL);
    probe_event ev = expect_term(f, ref, ACT_REASON_ERROR);
    EXPECT_ERR(ev.reason.err, TK_EIO);
    char want[ACT_REASON_DETAIL_BYTES];
    snprintf(want, sizeof(want), "probe failed %u", (unsigned)TK_EIO);
    assert_string_equal(ev.reason.detail, want);
    act_reason reason = expect_down(f, down, ref);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EIO);
    assert_string_equal(reason.detail, want);
    /* Without act_fail: the code alone (the detail is still a terminated string). */
    ref = probe_start(f);
    probe_cmd_u32(f, ref, PROBE_FAIL_BARE, TK_EPERM);
    (void)expect_msg(f, ref, PROBE_FAIL_BARE);
    ev = expect_term(f, ref, ACT_REASON_ERROR);
    EXPECT_ERR(ev.reason.err, TK_EPERM);
    assert_true(memchr(ev.reason.detail, '\0', sizeof(ev.reason.detail)) != NULL);
    assert_null(strstr(ev.reason.detail, "probe failed"));
}

static const char long_detail[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-the-end";
static _Atomic uint32_t fail_returned_err;

static tk_err long_fail_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    (void)msg;
    tk_err err = act_fail(ctx, TK_ECORRUPT, "%s", long_detail);
    if (err == TK_ECORRUPT) atomic_store(&fail_returned_err, 1);
    return err;
}

static const act_behaviour long_fail_behaviour = {.name = "long-fail", .handle = long_fail_handle};

static void test_fail_detail_truncated(void **state)
{
    act_fixture *f = *state;
    _Static_assert(sizeof(long_detail) > ACT_REASON_DETAIL_BYTES, "the text must be cut");
    atomic_store(&fail_returned_err, 0);
    act_spawn_opts opts = {
        .behaviour = &long_fail_behaviour, .mailbox_capacity = 4, .link_to = ACT_REF_NONE};
    act_ref ref;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
    uint64_t down = port_monitor(f, ref);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, NULL, 0), TK_OK);
    act_reason reason = expect_down(f, down, ref);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_ECORRUPT);
    assert_int_equal(strlen(reason.detail), ACT_REASON_DETAIL_BYTES - 1u);
    assert_memory_equal(reason.detail, long_detail, ACT_REASON_DETAIL_BYTES - 1u);
    assert_int_equal(atomic_load(&fail_returned_err), 1); /* act_fail returns err */
}

static void test_terminate_once_and_not_for_kill(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    cfg.quiet = true;
    /* Killed: no terminate, reason KILLED. */
    act_ref ref = probe_spawn(f->sys, &cfg, 8, ACT_REF_NONE, false);
    uint64_t down = port_monitor(f, ref);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, ref, &kill), TK_OK);
    act_reason reason = expect_down(f, down, ref);
    EXPECT_KIND(reason.kind, ACT_REASON_KILLED);
    assert_int_equal(atomic_load(&shared.terminates), 0);
    /* Several causes at once (a stop, an error, exit signals): terminate runs once. */
    ref = probe_spawn(f->sys, &cfg, 64, ACT_REF_NONE, false);
    down = port_monitor(f, ref);
    probe_cmd(f, ref, PROBE_GATE, NULL, 0);
    probe_cmd_u32(f, ref, PROBE_STOP, ACT_REASON_SHUTDOWN);
    probe_cmd_u32(f, ref, PROBE_FAIL, TK_EIO);
    act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, ref, &shutdown), TK_OK);
    atomic_store(&shared.gate, 1);
    reason = expect_down(f, down, ref);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    assert_int_equal(atomic_load(&shared.terminates), 1);
    assert_int_equal(atomic_load(&shared.term_kinds[ACT_REASON_SHUTDOWN]), 1);
}

static void test_terminate_before_links_and_monitors(void **state)
{
    act_fixture *f = *state;
    probe_cfg cfg = probe_cfg_for(f);
    act_ref ref = probe_spawn(f->sys, &cfg, 8, f->port_ref, false);
    (void)expect_init(f, ref);
    uint64_t monitor_id = 0;
    EXPECT_ERR(act_monitor(f->sys, f->port_ref, ref, &monitor_id), TK_OK);
    probe_cmd_u32(f, ref, PROBE_FAIL, TK_ENOSPC);
    (void)expect_msg(f, ref, PROBE_FAIL);
    (void)expect_term(f, ref, ACT_REASON_ERROR); /* first: terminate ran before the others */
    bool got_exit = false;
    bool got_down = false;
    for (int i = 0; i < 2; i++) {
        act_msg *msg = next_non_event(f);
        act_exit_info info = exit_info_of(msg->data);
        EXPECT_REF_EQ(info.from, ref);
        EXPECT_KIND(info.reason.kind, ACT_REASON_ERROR);
        EXPECT_ERR(info.reason.err, TK_ENOSPC);
        if (msg->type == ACT_MSG_EXIT) got_exit = true;
        if (msg->type == ACT_MSG_DOWN && msg->correlation == monitor_id) got_down = true;
        act_msg_free(f->sys, msg);
    }
    assert_true(got_exit);
    assert_true(got_down);
}

/* act_fail's detail belongs to the handler that set it: a handler that calls act_fail but
 * returns TK_OK does not arm it for a later handler of the same turn that fails without it. */
static void test_fail_detail_does_not_leak(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    cfg.quiet = true;
    act_ref ref = probe_spawn(f->sys, &cfg, 16, ACT_REF_NONE, false);
    uint64_t down = port_monitor(f, ref);
    probe_cmd(f, ref, PROBE_GATE, NULL, 0);
    probe_cmd(f, ref, PROBE_FAIL_NOTE, NULL, 0); /* act_fail, then success */
    probe_cmd_u32(f, ref, PROBE_FAIL_BARE, TK_EINVAL);
    atomic_store(&shared.gate, 1); /* all three in one turn */
    act_reason reason = expect_down(f, down, ref);
    EXPECT_ERR(reason.err, TK_EINVAL);
    if (strcmp(reason.detail, "stale note") == 0) {
        fail_msg("the TK_EINVAL exit carries the detail of an earlier, successful handler");
    }
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(act_reason_kind_name(ACT_REASON_NORMAL), "normal");
    assert_string_equal(act_reason_kind_name(ACT_REASON_SHUTDOWN), "shutdown");
    assert_string_equal(act_reason_kind_name(ACT_REASON_KILL), "kill");
    assert_string_equal(act_reason_kind_name(ACT_REASON_KILLED), "killed");
    assert_string_equal(act_reason_kind_name(ACT_REASON_ERROR), "error");
    assert_string_equal(act_reason_kind_name(ACT_REASON_NOPROC), "noproc");
    act_reason reason = act_reason_of(ACT_REASON_SHUTDOWN);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    EXPECT_ERR(reason.err, TK_OK);
    assert_string_equal(reason.detail, "");
}

int act_test_spawn(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_open_invalid),
        cmocka_unit_test(test_system_open_limits),
        cmocka_unit_test(test_reason_names),
        ACT_TEST(test_spawn_invalid_opts),
        cmocka_unit_test(test_spawn_actors_max),
        ACT_TEST_THREADS(test_lifecycle),
        ACT_TEST(test_state_and_arg),
        ACT_TEST(test_init_messages_wait_for_init),
        ACT_TEST(test_init_error),
        ACT_TEST(test_init_stop),
        ACT_TEST(test_stop_reasons),
        ACT_TEST(test_stop_drops_later_messages),
        ACT_TEST(test_handler_error),
        ACT_TEST(test_fail_detail_truncated),
        ACT_TEST_THREADS(test_terminate_once_and_not_for_kill),
        ACT_TEST(test_terminate_before_links_and_monitors),
        ACT_TEST(test_fail_detail_does_not_leak),
    };
    return cmocka_run_group_tests_name("actors/spawn", tests, NULL, NULL);
}
