/* The watchdog: a handler past turn_deadline_ms is counted and its actor exited with ERROR
 * TK_ETIMEDOUT once it returns; one past stuck_deadline_ms aborts the process (checked in a
 * forked child). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "actors_tests.h"

static void test_watchdog_exits_overrunning_actor(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(2);
    opts.turn_deadline_ms = 50;
    act_fixture f;
    act_fixture_open(&f, &opts);
    act_ref slow = probe_start(&f);
    act_ref quick = probe_start(&f);
    act_ref linked = probe_spawn(f.sys, &(probe_cfg){.report = f.port_ref}, 8, slow, true);
    (void)expect_init(&f, linked);
    uint64_t down = port_monitor(&f, slow);
    /* Under the deadline: nothing happens. */
    probe_cmd_u32(&f, quick, PROBE_BUSY, 5);
    (void)expect_msg(&f, quick, PROBE_BUSY);
    probe_cmd_u32(&f, quick, PROBE_PING, 1);
    (void)expect_msg(&f, quick, PROBE_PING);
    /* Three times over: exited once the handler returns (it is not interrupted). */
    act_stats before;
    act_stats_read(f.sys, &before);
    probe_cmd_u32(&f, slow, PROBE_BUSY, 150);
    probe_cmd_u32(&f, slow, PROBE_PING, 2); /* queued behind: never handled */
    (void)expect_msg(&f, slow, PROBE_BUSY);
    probe_event term = expect_term(&f, slow, ACT_REASON_ERROR);
    EXPECT_ERR(term.reason.err, TK_ETIMEDOUT);
    assert_true(strlen(term.reason.detail) > 0);
    act_reason reason = expect_down(&f, down, slow);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_ETIMEDOUT);
    act_stats after;
    act_stats_read(f.sys, &after);
    assert_true(after.watchdog_overruns - before.watchdog_overruns >= 1u);
    /* Its link is told like for any error. */
    probe_event ev = expect_msg(&f, linked, ACT_MSG_EXIT);
    act_exit_info info = exit_info_of(ev.data);
    EXPECT_REF_EQ(info.from, slow);
    EXPECT_ERR(info.reason.err, TK_ETIMEDOUT);
    /* The scheduler thread is back: the quick actor still answers. */
    probe_cmd_u32(&f, quick, PROBE_PING, 3);
    (void)expect_msg(&f, quick, PROBE_PING);
    expect_port_quiet(&f, 20);
    act_fixture_close(&f);
}

static void child_stuck(void *arg)
{
    (void)arg;
    act_system_opts opts = act_test_opts(1);
    opts.turn_deadline_ms = 20;
    opts.stuck_deadline_ms = 100;
    act_system *sys = NULL;
    if (act_system_open(&opts, &sys) != TK_OK) _exit(10);
    probe_cfg cfg = {.report = ACT_REF_NONE, .quiet = true};
    act_spawn_opts spawn = {
        .behaviour = &probe_behaviour, .state_size_bytes = 256, .arg = &cfg, .mailbox_capacity = 4};
    act_ref ref;
    if (act_spawn(sys, &spawn, &ref) != TK_OK) _exit(11);
    uint32_t ms = 4000;
    if (act_send_data(sys, ref, ACT_REF_NONE, PROBE_BUSY, &ms, sizeof(ms)) != TK_OK) _exit(12);
    act_port *port = NULL;
    if (act_port_open(sys, 4, &port) != TK_OK) _exit(13);
    act_reason reason;
    if (act_port_wait_exit(port, ref, 3000, &reason) != TK_OK) _exit(21); /* abort first */
    _exit(20);
}

static void test_watchdog_stuck_aborts(void **state)
{
    (void)state;
    tk_test_child res;
    assert_true(tk_test_child_run(child_stuck, NULL, 10, &res));
    if (!res.signaled) fail_msg("a stuck scheduler thread did not abort (exit %d)", res.exit_code);
    assert_int_equal(res.signal, SIGABRT);
}

/* An actor scheduled from inside a handler takes that scheduler thread's next slot; while the
 * handler runs long (here 300 ms, in a system without deadlines) the idle thread steals it
 * from the slot. The probe sends its report before it starts to busy-wait: with a thread idle
 * the report reaches the port at once. */
static void test_ready_actor_not_held_by_long_handler(void **state)
{
    act_fixture *f = *state;
    act_ref busy = probe_start(f);
    uint64_t t0 = test_now_ns();
    probe_cmd_u32(f, busy, PROBE_BUSY, 300);
    (void)expect_msg(f, busy, PROBE_BUSY);
    uint64_t took_ms = (test_now_ns() - t0) / 1000000u;
    if (took_ms >= 250u) {
        fail_msg("a report sent before a 300 ms handler reached the port after %llu ms, with "
                 "the other scheduler thread idle",
                 (unsigned long long)took_ms);
    }
}

int act_test_watchdog(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watchdog_exits_overrunning_actor),
        cmocka_unit_test(test_watchdog_stuck_aborts),
        ACT_TEST(test_ready_actor_not_held_by_long_handler),
    };
    return cmocka_run_group_tests_name("actors/watchdog", tests, NULL, NULL);
}
