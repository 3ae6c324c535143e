/* Spec validation, child administration requests (start_child with a spec, terminate,
 * restart, delete, which, count) and their errors, requests queued while the supervisor
 * waits for a child, and requests sent without a reply address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "sup_tests.h"

static const tw_cfg cfg_a = {.name = "a", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_b = {.name = "b", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_x = {.name = "x", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_y = {.name = "y", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_l = {.name = "l", .on_shutdown = TW_LINGERS, .linger_ms = 50};

/* sup_start of spec must fail with TK_EINVAL and start nothing. */
static void expect_invalid(const sup_fixture *f, const sup_spec *spec, const char *what)
{
    act_ref sup = ACT_REF_NONE;
    tk_err err = sup_start(f->sys, spec, ACT_REF_NONE, &sup);
    if (err != TK_EINVAL) fail_msg("%s: got %s, want TK_EINVAL", what, tk_err_name(err));
    assert_true(act_ref_is_none(sup));
}

static void test_spec_invalid(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec two[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                            tw_child("b", &cfg_b, SUP_PERMANENT)};
    sup_spec spec = test_spec("s", SUP_ONE_FOR_ONE, two, 2);
    sup_spec bad = spec;
    bad.name[0] = '\0';
    expect_invalid(f, &bad, "empty name");
    bad = spec;
    memset(bad.name, 'n', sizeof(bad.name)); /* no NUL */
    expect_invalid(f, &bad, "unterminated name");
    bad = spec;
    bad.flags.period_ms = 0;
    expect_invalid(f, &bad, "period 0");
    bad = spec;
    bad.flags.intensity = SUP_INTENSITY_MAX + 1u;
    expect_invalid(f, &bad, "intensity too large");
    bad = spec;
    bad.flags.strategy = (sup_strategy)99;
    expect_invalid(f, &bad, "strategy");
    bad = spec;
    bad.children_max = 1;
    expect_invalid(f, &bad, "children_max < child_count");
    bad = spec;
    bad.children_max = SUP_CHILDREN_MAX + 1u;
    expect_invalid(f, &bad, "children_max too large");
    bad = spec;
    bad.mailbox_capacity = 0;
    expect_invalid(f, &bad, "mailbox 0");
    bad = test_spec("s", SUP_SIMPLE_ONE_FOR_ONE, two, 2);
    expect_invalid(f, &bad, "simple with two specs");
    sup_child_spec dup[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                            tw_child("a", &cfg_b, SUP_PERMANENT)};
    bad = test_spec("s", SUP_ONE_FOR_ONE, dup, 2);
    expect_invalid(f, &bad, "duplicate ids");
    EXPECT_TRACE(""); /* nothing was started */
}

/* Each way a child spec can be wrong. */
static void test_child_spec_invalid(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec child = tw_child("a", &cfg_a, SUP_TRANSIENT);
    sup_spec spec = test_spec("s", SUP_ONE_FOR_ONE, &child, 1);
    sup_child_spec keep = child;
    child.id[0] = '\0';
    expect_invalid(f, &spec, "empty id");
    child = keep;
    child.start = NULL;
    expect_invalid(f, &spec, "no start");
    child = keep;
    child.shutdown_timeout_ms = 0;
    expect_invalid(f, &spec, "timeout 0");
    child = keep;
    child.shutdown = SUP_SHUTDOWN_BRUTAL_KILL;
    expect_invalid(f, &spec, "brutal_kill with a timeout");
    child = keep;
    child.restart = (sup_restart)7;
    expect_invalid(f, &spec, "restart");
    child = keep;
    child.backoff = (sup_backoff){.min_ms = 10, .max_ms = 5};
    expect_invalid(f, &spec, "backoff max < min");
    child = keep;
    child.backoff = (sup_backoff){.min_ms = 10, .max_ms = 50, .jitter_pct = 101};
    expect_invalid(f, &spec, "jitter > 100");
    child = keep;
    child.significant = true;
    expect_invalid(f, &spec, "significant with auto_shutdown never");
    spec.flags.auto_shutdown = SUP_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
    child.restart = SUP_PERMANENT;
    expect_invalid(f, &spec, "significant and permanent");
    EXPECT_TRACE("");
}

/* Children added, terminated, restarted and deleted by request. */
static void test_child_admin(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT)};
    sup_spec spec = test_spec("admin", SUP_ONE_FOR_ONE, children, 1);
    spec.children_max = 2;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    sup_child_spec x = tw_child("x", &cfg_x, SUP_PERMANENT);
    act_ref ref;
    EXPECT_ERR(sup_start_child_spec(f->sys, f->port, sup, &x, SUP_TEST_WAIT_MS, &ref), TK_OK);
    assert_true(act_ref_eq(ref, rec_ref("x")));
    EXPECT_ERR(sup_start_child_spec(f->sys, f->port, sup, &x, SUP_TEST_WAIT_MS, &ref), TK_EEXIST);
    sup_child_spec y = tw_child("y", &cfg_y, SUP_PERMANENT);
    EXPECT_ERR(sup_start_child_spec(f->sys, f->port, sup, &y, SUP_TEST_WAIT_MS, &ref), TK_EFULL);
    /* terminate keeps the spec; restart starts it again; running children cannot be deleted */
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, "x", ACT_REF_NONE, SUP_TEST_WAIT_MS),
               TK_OK);
    EXPECT_KIND(rec_term_kind("x", 0), ACT_REASON_SHUTDOWN);
    EXPECT_U64(child_info(f, sup, "x").status, SUP_CHILD_STOPPED);
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, "x", ACT_REF_NONE, SUP_TEST_WAIT_MS),
               TK_OK); /* already stopped: nothing to do */
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "x", SUP_TEST_WAIT_MS, &ref), TK_OK);
    assert_true(act_ref_eq(ref, rec_ref("x")));
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "x", SUP_TEST_WAIT_MS, &ref), TK_EEXIST);
    EXPECT_ERR(sup_delete_child(f->sys, f->port, sup, "x", SUP_TEST_WAIT_MS), TK_EPERM);
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, NULL, rec_ref("x"), SUP_TEST_WAIT_MS),
               TK_OK);
    EXPECT_ERR(sup_delete_child(f->sys, f->port, sup, "x", SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_ERR(sup_delete_child(f->sys, f->port, sup, "x", SUP_TEST_WAIT_MS), TK_ENOENT);
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "x", SUP_TEST_WAIT_MS, &ref), TK_ENOENT);
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, "zz", ACT_REF_NONE, SUP_TEST_WAIT_MS),
               TK_ENOENT);
    /* A spec whose start fails is dropped; a bad spec is refused. */
    rec_fail_starts("y", 1);
    EXPECT_ERR(sup_start_child_spec(f->sys, f->port, sup, &y, SUP_TEST_WAIT_MS, &ref), TK_EIO);
    y.shutdown_timeout_ms = 0;
    EXPECT_ERR(sup_start_child_spec(f->sys, f->port, sup, &y, SUP_TEST_WAIT_MS, &ref), TK_EINVAL);
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, "a-very-long-id-that-does-not-fit-at-all",
                                   ACT_REF_NONE, SUP_TEST_WAIT_MS),
               TK_EINVAL);
    sup_counts counts;
    EXPECT_ERR(sup_count_children(f->sys, f->port, sup, SUP_TEST_WAIT_MS, &counts), TK_OK);
    EXPECT_U64(counts.specs, 1);
    EXPECT_U64(counts.active, 1);
    EXPECT_U64(stats_delta(f).child_start_failures, 1);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a S:x T:x S:x T:x F:y T:a");
}

/* While a one_for_all restart waits for l (50 ms to go), a request is queued and answered
 * after the restart, with the restarted children in the answer. */
static void test_requests_wait_for_restart(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("l", &cfg_l, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_PERMANENT)};
    sup_spec spec = test_spec("busy", SUP_ONE_FOR_ALL, children, 2);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_ref b = rec_ref("b");
    tw_send(f, b, TW_CRASH);
    wait_exit(f, b);
    sleep_ms(5); /* the EXIT is handled: the supervisor is stopping l now */
    sup_child_info infos[4];
    uint32_t count = 0;
    EXPECT_ERR(sup_which_children(f->sys, f->port, sup, infos, 4, &count, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_U64(rec_count(REC_START, "b"), 2); /* answered only after the restart */
    EXPECT_U64(count, 2);
    EXPECT_U64(infos[0].status, SUP_CHILD_RUNNING);
    EXPECT_U64(infos[1].status, SUP_CHILD_RUNNING);
    assert_true(act_ref_eq(infos[1].ref, rec_ref("b")));
    EXPECT_TRACE("S:l S:b T:b T:l S:l S:b");
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* STOP while a restart waits for a child: the shutdown takes over (nothing is started
 * again) and a request queued meanwhile is answered TK_ESTALE. */
static void test_stop_during_restart(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("l", &cfg_l, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_PERMANENT)};
    sup_spec spec = test_spec("busy", SUP_ONE_FOR_ALL, children, 2);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_ref b = rec_ref("b");
    tw_send(f, b, TW_CRASH);
    wait_exit(f, b);
    sleep_ms(5); /* the supervisor is stopping l (50 ms) */
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = SUP_MSG_COUNT_CHILDREN;
    msg->sender = f->port_ref;
    uint64_t id = 0;
    EXPECT_ERR(act_request(f->sys, sup, msg, SUP_TEST_WAIT_MS, &id), TK_OK);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    act_msg *reply = NULL;
    EXPECT_ERR(act_port_receive(f->port, SUP_TEST_WAIT_MS, &reply), TK_OK);
    EXPECT_U64(reply->type, SUP_MSG_REPLY);
    EXPECT_U64(reply->correlation, id);
    sup_reply body;
    memcpy(&body, reply->data, sizeof(body));
    EXPECT_ERR(body.err, TK_ESTALE);
    act_msg_free(f->sys, reply);
    EXPECT_TRACE("S:l S:b T:b T:l");
    EXPECT_U64(stats_delta(f).restarts, 1);
}

/* A request sent with act_send (no correlation id) is carried out, and not answered. */
static void test_request_without_reply(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT)};
    sup_spec spec = test_spec("fire_and_forget", SUP_ONE_FOR_ONE, children, 1);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    EXPECT_ERR(act_send_data(f->sys, sup, f->port_ref, SUP_MSG_COUNT_CHILDREN, NULL, 0), TK_OK);
    EXPECT_ERR(act_send_data(f->sys, sup, f->port_ref, SUP_MSG_STOP, NULL, 0), TK_OK);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    EXPECT_TRACE("S:a T:a");
    act_msg *msg = NULL;
    EXPECT_ERR(act_port_receive(f->port, 20, &msg), TK_ETIMEDOUT); /* no answer came */
}

/* A malformed request is refused; an unknown message and a forged timer are ignored. */
static void test_bad_messages(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT)};
    sup_spec spec = test_spec("robust", SUP_ONE_FOR_ONE, children, 1);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = SUP_MSG_TERMINATE_CHILD;
    msg->size_bytes = 3; /* not a sup_request */
    act_msg *reply = NULL;
    EXPECT_ERR(act_call(f->port, sup, msg, SUP_TEST_WAIT_MS, &reply), TK_OK);
    sup_reply body;
    memcpy(&body, reply->data, sizeof(body));
    EXPECT_ERR(body.err, TK_EINVAL);
    act_msg_free(f->sys, reply);
    EXPECT_ERR(act_send_data(f->sys, sup, f->port_ref, ACT_MSG_USER + 7, NULL, 0), TK_OK);
    uint64_t forged[2] = {1, 1}; /* child key 1, sequence 1, but not from the supervisor */
    EXPECT_ERR(
        act_send_data(f->sys, sup, f->port_ref, SUP_MSG_PRIVATE_FIRST, forged, sizeof(forged)),
        TK_OK);
    sup_counts counts = wait_active(f, sup, 1);
    EXPECT_U64(counts.specs, 1);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a T:a");
}

int sup_test_api(void)
{
    const struct CMUnitTest tests[] = {
        SUP_TEST(test_spec_invalid),        SUP_TEST(test_child_spec_invalid),
        SUP_TEST(test_child_admin),         SUP_TEST(test_requests_wait_for_restart),
        SUP_TEST(test_stop_during_restart), SUP_TEST(test_request_without_reply),
        SUP_TEST(test_bad_messages),
    };
    return cmocka_run_group_tests_name("supervisor/api", tests, NULL, NULL);
}
