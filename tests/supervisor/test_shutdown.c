/* Shutdown: reverse order, each child's shutdown spec (timeout then kill, brutal_kill,
 * infinity), a parent's EXIT, nested trees, and auto_shutdown on significant children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "sup_tests.h"

static const tw_cfg cfg_a = {.name = "a", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_b = {.name = "b", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_c = {.name = "c", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_d = {.name = "d", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_g = {.name = "g", .on_shutdown = TW_IGNORES};
static const tw_cfg cfg_l = {.name = "l", .on_shutdown = TW_LINGERS, .linger_ms = 40};

static uint64_t ms_since(uint64_t t0_ns)
{
    return (now_ns() - t0_ns) / 1000000u;
}

static void test_shutdown_order(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_TRANSIENT),
                                 tw_child("c", &cfg_c, SUP_TEMPORARY)};
    sup_spec spec = test_spec("ordered", SUP_ONE_FOR_ONE, children, 3);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a S:b S:c T:c T:b T:a");
    EXPECT_KIND(rec_term_kind("a", 0), ACT_REASON_SHUTDOWN);
    EXPECT_KIND(rec_term_kind("b", 0), ACT_REASON_SHUTDOWN);
    EXPECT_KIND(rec_term_kind("c", 0), ACT_REASON_SHUTDOWN);
    EXPECT_U64(stats_delta(f).restarts, 0);
    /* A dead supervisor answers nothing. */
    sup_counts counts;
    EXPECT_ERR(sup_count_children(f->sys, f->port, sup, 100, &counts), TK_ESTALE);
}

/* g ignores SHUTDOWN: killed after its 30 ms; a, before it, goes only after that. */
static void test_shutdown_timeout_kills(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("g", &cfg_g, SUP_PERMANENT),
                                 tw_child("c", &cfg_c, SUP_PERMANENT)};
    children[1].shutdown_timeout_ms = 30;
    sup_spec spec = test_spec("stubborn", SUP_ONE_FOR_ONE, children, 3);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_ref g = rec_ref("g");
    uint64_t t0 = now_ns();
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    uint64_t took_ms = ms_since(t0);
    EXPECT_TRACE("S:a S:g S:c T:c T:a"); /* killed: g's terminate does not run */
    EXPECT_ERR(act_send_data(f->sys, g, f->port_ref, TW_CRASH, NULL, 0), TK_ESTALE);
    uint64_t gap_ms = (rec_time_ns(REC_TERM, "a", 0) - rec_time_ns(REC_TERM, "c", 0)) / 1000000u;
    if (gap_ms < 25u || took_ms < 25u) {
        fail_msg("a went %llu ms after c (stop took %llu ms): want >= 30",
                 (unsigned long long)gap_ms, (unsigned long long)took_ms);
    }
    EXPECT_U64(stats_delta(f).shutdown_kills, 1);
}

static void test_shutdown_brutal_kill(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("g", &cfg_g, SUP_PERMANENT)};
    children[0].shutdown = SUP_SHUTDOWN_BRUTAL_KILL;
    children[0].shutdown_timeout_ms = 0;
    children[1].shutdown = SUP_SHUTDOWN_BRUTAL_KILL;
    children[1].shutdown_timeout_ms = 0;
    sup_spec spec = test_spec("brutal", SUP_ONE_FOR_ONE, children, 2);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_ref a = rec_ref("a");
    act_ref g = rec_ref("g");
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a S:g"); /* neither terminate ran: both killed */
    EXPECT_ERR(act_send_data(f->sys, a, f->port_ref, TW_CRASH, NULL, 0), TK_ESTALE);
    EXPECT_ERR(act_send_data(f->sys, g, f->port_ref, TW_CRASH, NULL, 0), TK_ESTALE);
    EXPECT_U64(stats_delta(f).shutdown_kills, 0); /* brutal_kill is no timeout */
}

/* infinity: l takes 40 ms to go after SHUTDOWN and is waited for, never killed. */
static void test_shutdown_infinity(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("l", &cfg_l, SUP_PERMANENT)};
    children[1].shutdown = SUP_SHUTDOWN_INFINITY;
    children[1].shutdown_timeout_ms = 0;
    sup_spec spec = test_spec("patient", SUP_ONE_FOR_ONE, children, 2);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    uint64_t t0 = now_ns();
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a S:l T:l T:a");
    EXPECT_KIND(rec_term_kind("l", 0), ACT_REASON_SHUTDOWN);
    uint64_t waited_ms = (rec_time_ns(REC_TERM, "a", 0) - t0) / 1000000u;
    if (waited_ms < 35u) fail_msg("a went %llu ms after the stop", (unsigned long long)waited_ms);
    EXPECT_U64(stats_delta(f).shutdown_kills, 0);
}

/* A child that takes less than its timeout is not killed. */
static void test_shutdown_within_timeout(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("l", &cfg_l, SUP_PERMANENT)};
    sup_spec spec = test_spec("graceful", SUP_ONE_FOR_ONE, children, 1);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:l T:l");
    EXPECT_U64(stats_delta(f).shutdown_kills, 0);
}

/* An EXIT from the parent (link_to) shuts the children down; the supervisor exits with the
 * parent's reason. */
static void test_parent_exit(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_PERMANENT)};
    sup_spec spec = test_spec("child_of_port", SUP_ONE_FOR_ONE, children, 2);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    act_reason why = {.kind = ACT_REASON_ERROR, .err = TK_EIO, .detail = "parent failed"};
    EXPECT_ERR(act_exit(f->sys, f->port_ref, sup, &why), TK_OK);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EIO);
    assert_string_equal(reason.detail, "parent failed");
    EXPECT_TRACE("S:a S:b T:b T:a");
    /* An EXIT from a stranger is ignored, as in OTP. */
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, sup, &why), TK_OK);
    sup_counts counts = wait_active(f, sup, 2);
    EXPECT_U64(counts.specs, 2);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* A nested supervisor shuts its own children down before the parent goes on. */
static const sup_child_spec inner_children[] = {
    {.id = "b",
     .start = tw_start,
     .arg = &cfg_b,
     .restart = SUP_PERMANENT,
     .shutdown = SUP_SHUTDOWN_TIMEOUT,
     .shutdown_timeout_ms = 1000,
     .type = SUP_WORKER},
    {.id = "c",
     .start = tw_start,
     .arg = &cfg_c,
     .restart = SUP_PERMANENT,
     .shutdown = SUP_SHUTDOWN_TIMEOUT,
     .shutdown_timeout_ms = 1000,
     .type = SUP_WORKER},
};
static const sup_spec inner_spec = {
    .name = "inner",
    .flags = {.strategy = SUP_ONE_FOR_ONE, .intensity = 3, .period_ms = 5000, .seed = 7},
    .children = inner_children,
    .child_count = 2,
    .children_max = 2,
    .mailbox_capacity = 64,
};

static void test_nested_shutdown_order(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 sup_child_supervisor("inner", &inner_spec, SUP_PERMANENT),
                                 tw_child("d", &cfg_d, SUP_PERMANENT)};
    sup_spec spec = test_spec("outer", SUP_ONE_FOR_ONE, children, 3);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    EXPECT_TRACE("S:a S:b S:c S:d");
    sup_counts counts;
    EXPECT_ERR(sup_count_children(f->sys, f->port, sup, SUP_TEST_WAIT_MS, &counts), TK_OK);
    EXPECT_U64(counts.supervisors, 1);
    EXPECT_U64(counts.workers, 2);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a S:b S:c S:d T:d T:c T:b T:a");
}

static const tw_cfg cfg_s = {.name = "s", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_s1 = {.name = "s1", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_s2 = {.name = "s2", .on_shutdown = TW_EXITS};

/* any_significant: a significant transient child ending normally ends the supervisor; its
 * abnormal exit is restarted; the supervisor terminating it does not count. */
static void test_auto_shutdown_any(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("s", &cfg_s, SUP_TRANSIENT)};
    children[1].significant = true;
    sup_spec spec = test_spec("unit", SUP_ONE_FOR_ONE, children, 2);
    spec.flags.auto_shutdown = SUP_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    tw_send(f, rec_ref("s"), TW_CRASH);
    assert_true(rec_wait(REC_START, "s", 2, SUP_TEST_WAIT_MS));
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, "s", ACT_REF_NONE, SUP_TEST_WAIT_MS),
               TK_OK);
    act_ref s;
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "s", SUP_TEST_WAIT_MS, &s), TK_OK);
    tw_send(f, s, TW_EXIT_NORMAL);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    EXPECT_TRACE("S:a S:s T:s S:s T:s S:s T:s T:a");
}

/* all_significant: only when the last significant child has ended. */
static void test_auto_shutdown_all(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("s1", &cfg_s1, SUP_TEMPORARY),
                                 tw_child("s2", &cfg_s2, SUP_TEMPORARY)};
    children[1].significant = true;
    children[2].significant = true;
    sup_spec spec = test_spec("unit", SUP_REST_FOR_ONE, children, 3);
    spec.flags.auto_shutdown = SUP_AUTO_SHUTDOWN_ALL_SIGNIFICANT;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    tw_send(f, rec_ref("s1"), TW_EXIT_NORMAL);
    sup_counts counts = wait_active(f, sup, 2);
    EXPECT_U64(counts.specs, 2); /* s1 was temporary: gone */
    tw_send(f, rec_ref("s2"), TW_CRASH);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    EXPECT_TRACE("S:a S:s1 S:s2 T:s1 T:s2 T:a");
    EXPECT_U64(stats_delta(f).restarts, 0);
}

int sup_test_shutdown(void)
{
    const struct CMUnitTest tests[] = {
        SUP_TEST(test_shutdown_order),          SUP_TEST(test_shutdown_timeout_kills),
        SUP_TEST(test_shutdown_brutal_kill),    SUP_TEST(test_shutdown_infinity),
        SUP_TEST(test_shutdown_within_timeout), SUP_TEST(test_parent_exit),
        SUP_TEST(test_nested_shutdown_order),   SUP_TEST(test_auto_shutdown_any),
        SUP_TEST(test_auto_shutdown_all),
    };
    return cmocka_run_group_tests_name("supervisor/shutdown", tests, NULL, NULL);
}
