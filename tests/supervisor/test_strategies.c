/* The four strategies: who is stopped (in which order) and who is started again when one
 * child fails; simple_one_for_one's dynamic children. */
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
static const tw_cfg cfg_t = {.name = "t", .on_shutdown = TW_EXITS};

/* Start a supervisor of strategy over the children (asserting success). */
static act_ref start_sup(const sup_fixture *f, sup_strategy strategy,
                         const sup_child_spec *children, uint32_t count)
{
    sup_spec spec = test_spec("sup", strategy, children, count);
    act_ref sup = ACT_REF_NONE;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    assert_false(act_ref_is_none(sup));
    return sup;
}

static void test_one_for_one(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_PERMANENT),
                                 tw_child("c", &cfg_c, SUP_PERMANENT)};
    act_ref sup = start_sup(f, SUP_ONE_FOR_ONE, children, 3);
    EXPECT_TRACE("S:a S:b S:c"); /* started in order, before sup_start returned */
    act_ref a0 = rec_ref("a");
    act_ref b0 = rec_ref("b");
    act_ref c0 = rec_ref("c");
    tw_send(f, b0, TW_CRASH);
    assert_true(rec_wait(REC_START, "b", 2, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a S:b S:c T:b S:b");
    EXPECT_KIND(rec_term_kind("b", 0), ACT_REASON_ERROR);
    assert_true(act_ref_eq(child_info(f, sup, "a").ref, a0));
    assert_true(act_ref_eq(child_info(f, sup, "c").ref, c0));
    sup_child_info b = child_info(f, sup, "b");
    assert_true(act_ref_eq(b.ref, rec_ref("b")));
    assert_false(act_ref_eq(b.ref, b0));
    EXPECT_U64(b.status, SUP_CHILD_RUNNING);
    /* The old ref is stale: nothing reaches the new child through it. */
    EXPECT_ERR(act_send_data(f->sys, b0, f->port_ref, TW_CRASH, NULL, 0), TK_ESTALE);
    EXPECT_U64(stats_delta(f).restarts, 1);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:a S:b S:c T:b S:b T:c T:b T:a");
}

static void test_one_for_all(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_PERMANENT),
                                 tw_child("c", &cfg_c, SUP_PERMANENT)};
    act_ref sup = start_sup(f, SUP_ONE_FOR_ALL, children, 3);
    tw_send(f, rec_ref("b"), TW_CRASH);
    assert_true(rec_wait(REC_START, "c", 2, SUP_TEST_WAIT_MS));
    /* b failed; the others went in reverse order; all started again in order. */
    EXPECT_TRACE("S:a S:b S:c T:b T:c T:a S:a S:b S:c");
    EXPECT_KIND(rec_term_kind("a", 0), ACT_REASON_SHUTDOWN);
    EXPECT_KIND(rec_term_kind("c", 0), ACT_REASON_SHUTDOWN);
    EXPECT_U64(stats_delta(f).restarts, 1); /* one restart of the group */
    sup_counts counts = wait_active(f, sup, 3);
    EXPECT_U64(counts.specs, 3);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

static void test_rest_for_one(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {
        tw_child("a", &cfg_a, SUP_PERMANENT), tw_child("b", &cfg_b, SUP_PERMANENT),
        tw_child("c", &cfg_c, SUP_PERMANENT), tw_child("d", &cfg_d, SUP_PERMANENT)};
    act_ref sup = start_sup(f, SUP_REST_FOR_ONE, children, 4);
    act_ref a0 = rec_ref("a");
    tw_send(f, rec_ref("b"), TW_CRASH);
    assert_true(rec_wait(REC_START, "d", 2, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a S:b S:c S:d T:b T:d T:c S:b S:c S:d");
    assert_true(act_ref_eq(child_info(f, sup, "a").ref, a0)); /* before b: untouched */
    /* The last child failing restarts it alone. */
    tw_send(f, rec_ref("d"), TW_CRASH);
    assert_true(rec_wait(REC_START, "d", 3, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a S:b S:c S:d T:b T:d T:c S:b S:c S:d T:d S:d");
    EXPECT_U64(stats_delta(f).restarts, 2);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* A temporary sibling in a one_for_all group is stopped and dropped, not started again. */
static void test_one_for_all_temporary_sibling(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("t", &cfg_t, SUP_TEMPORARY),
                                 tw_child("c", &cfg_c, SUP_PERMANENT)};
    act_ref sup = start_sup(f, SUP_ONE_FOR_ALL, children, 3);
    tw_send(f, rec_ref("a"), TW_CRASH);
    assert_true(rec_wait(REC_START, "c", 2, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a S:t S:c T:a T:c T:t S:a S:c");
    sup_counts counts = wait_active(f, sup, 2);
    EXPECT_U64(counts.specs, 2);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

static const tw_cfg cfg_w1 = {.name = "w1", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_w2 = {.name = "w2", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_w3 = {.name = "w3", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_w4 = {.name = "w4", .on_shutdown = TW_EXITS};

static void test_simple_one_for_one(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec template_spec = tw_child("w", &cfg_w1, SUP_PERMANENT);
    sup_spec spec = test_spec("pool", SUP_SIMPLE_ONE_FOR_ONE, &template_spec, 1);
    spec.children_max = 3;
    act_ref sup = ACT_REF_NONE;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    EXPECT_TRACE(""); /* a simple_one_for_one starts nothing by itself */
    act_ref w[3];
    const tw_cfg *cfgs[3] = {&cfg_w1, &cfg_w2, &cfg_w3};
    for (uint32_t i = 0; i < 3; i++) {
        EXPECT_ERR(sup_start_child(f->sys, f->port, sup, cfgs[i], SUP_TEST_WAIT_MS, &w[i]), TK_OK);
        assert_true(act_ref_eq(w[i], rec_ref(cfgs[i]->name)));
    }
    act_ref extra;
    EXPECT_ERR(sup_start_child(f->sys, f->port, sup, &cfg_w4, SUP_TEST_WAIT_MS, &extra), TK_EFULL);
    sup_counts counts;
    EXPECT_ERR(sup_count_children(f->sys, f->port, sup, SUP_TEST_WAIT_MS, &counts), TK_OK);
    EXPECT_U64(counts.specs, 3);
    EXPECT_U64(counts.active, 3);
    EXPECT_U64(counts.workers, 3);
    EXPECT_U64(counts.supervisors, 0);
    sup_child_info infos[4];
    uint32_t count = 0;
    EXPECT_ERR(sup_which_children(f->sys, f->port, sup, infos, 4, &count, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_U64(count, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_string_equal(infos[i].id, "w"); /* the template's id */
        assert_true(act_ref_eq(infos[i].ref, w[i]));
        EXPECT_U64(infos[i].status, SUP_CHILD_RUNNING);
    }
    /* terminate_child by ref: stopped and forgotten. */
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, NULL, w[1], SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_KIND(rec_term_kind("w2", 0), ACT_REASON_SHUTDOWN);
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, NULL, w[1], SUP_TEST_WAIT_MS), TK_ENOENT);
    /* A permanent dynamic child that fails is restarted with its own arg. */
    tw_send(f, w[0], TW_CRASH);
    assert_true(rec_wait(REC_START, "w1", 2, SUP_TEST_WAIT_MS));
    counts = wait_active(f, sup, 2);
    EXPECT_U64(counts.specs, 2);
    /* Static-child requests do not apply. */
    act_ref ref;
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "w", SUP_TEST_WAIT_MS, &ref), TK_EINVAL);
    EXPECT_ERR(sup_delete_child(f->sys, f->port, sup, "w", SUP_TEST_WAIT_MS), TK_EINVAL);
    sup_child_spec other = tw_child("x", &cfg_w4, SUP_PERMANENT);
    EXPECT_ERR(sup_start_child_spec(f->sys, f->port, sup, &other, SUP_TEST_WAIT_MS, &ref),
               TK_EINVAL);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:w1 S:w2 S:w3 T:w2 T:w1 S:w1 T:w3 T:w1");
}

/* Temporary and transient dynamic children go away when they end. */
static void test_simple_one_for_one_restart_types(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec template_spec = tw_child("w", &cfg_w1, SUP_TEMPORARY);
    sup_spec spec = test_spec("pool", SUP_SIMPLE_ONE_FOR_ONE, &template_spec, 1);
    act_ref sup = ACT_REF_NONE;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_ref w1;
    act_ref w2;
    EXPECT_ERR(sup_start_child(f->sys, f->port, sup, &cfg_w1, SUP_TEST_WAIT_MS, &w1), TK_OK);
    EXPECT_ERR(sup_start_child(f->sys, f->port, sup, &cfg_w2, SUP_TEST_WAIT_MS, &w2), TK_OK);
    tw_send(f, w1, TW_CRASH);
    sup_counts counts = wait_active(f, sup, 1);
    EXPECT_U64(counts.specs, 1);
    tw_send(f, w2, TW_EXIT_NORMAL);
    counts = wait_active(f, sup, 0);
    EXPECT_U64(counts.specs, 0);
    EXPECT_U64(rec_count(REC_START, "w1"), 1);
    EXPECT_U64(stats_delta(f).restarts, 0);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

int sup_test_strategies(void)
{
    const struct CMUnitTest tests[] = {
        SUP_TEST(test_one_for_one),        SUP_TEST(test_one_for_all),
        SUP_TEST(test_rest_for_one),       SUP_TEST(test_one_for_all_temporary_sibling),
        SUP_TEST(test_simple_one_for_one), SUP_TEST(test_simple_one_for_one_restart_types),
    };
    return cmocka_run_group_tests_name("supervisor/strategies", tests, NULL, NULL);
}
