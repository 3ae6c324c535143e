/* Restart types, restart intensity (one level and escalation through two), failed restarts
 * and failed starts, backoff, and the log lines restarts leave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sup_tests.h"

static const tw_cfg cfg_p = {.name = "p", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_tr = {.name = "tr", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_tm = {.name = "tm", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_a = {.name = "a", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_b = {.name = "b", .on_shutdown = TW_EXITS};
static const tw_cfg cfg_crasher = {
    .name = "crasher", .on_shutdown = TW_EXITS, .crash_on_start = true};

static void test_restart_types(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("p", &cfg_p, SUP_PERMANENT),
                                 tw_child("tr", &cfg_tr, SUP_TRANSIENT),
                                 tw_child("tm", &cfg_tm, SUP_TEMPORARY)};
    sup_spec spec = test_spec("types", SUP_ONE_FOR_ONE, children, 3);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    /* permanent: restarted even after a normal exit. */
    tw_send(f, rec_ref("p"), TW_EXIT_NORMAL);
    assert_true(rec_wait(REC_START, "p", 2, SUP_TEST_WAIT_MS));
    /* transient: a normal exit is the end; the spec stays. */
    tw_send(f, rec_ref("tr"), TW_EXIT_NORMAL);
    sup_counts counts = wait_active(f, sup, 2);
    EXPECT_U64(counts.specs, 3);
    sup_child_info tr = child_info(f, sup, "tr");
    EXPECT_U64(tr.status, SUP_CHILD_STOPPED);
    assert_true(act_ref_is_none(tr.ref));
    act_ref ref;
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "tr", SUP_TEST_WAIT_MS, &ref), TK_OK);
    /* transient: SHUTDOWN is normal too; an error is not. */
    tw_send(f, ref, TW_EXIT_SHUTDOWN);
    wait_active(f, sup, 2);
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "tr", SUP_TEST_WAIT_MS, &ref), TK_OK);
    tw_send(f, ref, TW_CRASH);
    assert_true(rec_wait(REC_START, "tr", 4, SUP_TEST_WAIT_MS));
    wait_active(f, sup, 3);
    /* temporary: never restarted, and its spec is dropped. */
    tw_send(f, rec_ref("tm"), TW_CRASH);
    counts = wait_active(f, sup, 2);
    EXPECT_U64(counts.specs, 2);
    EXPECT_U64(rec_count(REC_START, "tm"), 1);
    EXPECT_U64(rec_count(REC_START, "p"), 2);
    EXPECT_U64(rec_count(REC_START, "tr"), 4);
    EXPECT_U64(stats_delta(f).restarts, 2); /* p once, tr once */
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* Past MaxR restarts in MaxT the supervisor stops its children and exits with an error. */
static void test_intensity(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("crasher", &cfg_crasher, SUP_PERMANENT)};
    sup_spec spec = test_spec("fragile", SUP_ONE_FOR_ONE, children, 2);
    spec.flags.intensity = 2;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EOVERFLOW);
    assert_string_equal(reason.detail, "reached_max_restart_intensity");
    EXPECT_U64(rec_count(REC_START, "crasher"), 3); /* the start and MaxR = 2 restarts */
    EXPECT_KIND(rec_term_kind("a", 0), ACT_REASON_SHUTDOWN);
    sup_stats delta = stats_delta(f);
    EXPECT_U64(delta.restarts, 2);
    EXPECT_U64(delta.intensity_exceeded, 1);
}

/* MaxR 0: the first failure is too many. */
static void test_intensity_zero(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT)};
    sup_spec spec = test_spec("strict", SUP_ONE_FOR_ONE, children, 1);
    spec.flags.intensity = 0;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    tw_send(f, rec_ref("a"), TW_CRASH);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EOVERFLOW);
    EXPECT_U64(rec_count(REC_START, "a"), 1);
    EXPECT_U64(stats_delta(f).restarts, 0);
}

/* Restarts older than MaxT no longer count. */
static void test_intensity_window(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT)};
    sup_spec spec = test_spec("window", SUP_ONE_FOR_ONE, children, 1);
    spec.flags.intensity = 1;
    spec.flags.period_ms = 150;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    tw_send(f, rec_ref("a"), TW_CRASH);
    assert_true(rec_wait(REC_START, "a", 2, SUP_TEST_WAIT_MS));
    sleep_ms(250); /* the first restart falls out of the window */
    tw_send(f, rec_ref("a"), TW_CRASH);
    assert_true(rec_wait(REC_START, "a", 3, SUP_TEST_WAIT_MS));
    tw_send(f, rec_ref("a"), TW_CRASH); /* within 150 ms of the last restart: too many */
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EOVERFLOW);
    EXPECT_U64(rec_count(REC_START, "a"), 3);
    EXPECT_U64(stats_delta(f).intensity_exceeded, 1);
}

/* root (one_for_one, MaxR 1) -> mid (one_for_one, MaxR 2) -> crasher, which fails as soon as
 * it starts. mid gives up after 2 restarts; root restarts mid once; mid gives up again; root
 * gives up too. */
static const sup_child_spec mid_children[] = {
    {.id = "crasher",
     .start = tw_start,
     .arg = &cfg_crasher,
     .restart = SUP_PERMANENT,
     .shutdown = SUP_SHUTDOWN_TIMEOUT,
     .shutdown_timeout_ms = 1000,
     .type = SUP_WORKER},
};
static const sup_spec mid_spec = {
    .name = "mid",
    .flags = {.strategy = SUP_ONE_FOR_ONE, .intensity = 2, .period_ms = 10000, .seed = 1},
    .children = mid_children,
    .child_count = 1,
    .children_max = 1,
    .mailbox_capacity = 64,
};

static void test_escalation_two_levels(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 sup_child_supervisor("mid", &mid_spec, SUP_PERMANENT)};
    sup_spec spec = test_spec("root", SUP_ONE_FOR_ONE, children, 2);
    spec.flags.intensity = 1;
    act_ref root;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &root), TK_OK);
    act_reason reason = wait_linked_exit(f, root);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EOVERFLOW);
    assert_string_equal(reason.detail, "reached_max_restart_intensity");
    EXPECT_U64(rec_count(REC_START, "crasher"), 6); /* 3 per life of mid, 2 lives */
    EXPECT_U64(rec_count(REC_START, "a"), 1);       /* one_for_one: a never restarted */
    EXPECT_KIND(rec_term_kind("a", 0), ACT_REASON_SHUTDOWN);
    sup_stats delta = stats_delta(f);
    EXPECT_U64(delta.intensity_exceeded, 3); /* mid twice, root once */
    EXPECT_U64(delta.restarts, 5);           /* mid 2 + 2, root 1 */
}

/* A restart whose start fails is retried (counting against the intensity) until it works. */
static void test_restart_start_fails(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT)};
    sup_spec spec = test_spec("retry", SUP_ONE_FOR_ONE, children, 1);
    spec.flags.intensity = 5;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    rec_fail_starts("a", 2);
    tw_send(f, rec_ref("a"), TW_CRASH);
    assert_true(rec_wait(REC_START, "a", 2, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a T:a F:a F:a S:a");
    sup_stats delta = stats_delta(f);
    EXPECT_U64(delta.child_start_failures, 2);
    EXPECT_U64(delta.restarts, 3);
    wait_active(f, sup, 1);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* ... and gives up past the intensity. */
static void test_restart_start_fails_gives_up(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("b", &cfg_b, SUP_PERMANENT)};
    sup_spec spec = test_spec("retry", SUP_ONE_FOR_ALL, children, 2);
    spec.flags.intensity = 2;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    rec_fail_starts("b", 100);
    tw_send(f, rec_ref("a"), TW_CRASH);
    act_reason reason = wait_linked_exit(f, sup);
    EXPECT_ERR(reason.err, TK_EOVERFLOW);
    /* Each try starts a, fails b; the next try stops a again. */
    EXPECT_TRACE("S:a S:b T:a T:b S:a F:b T:a S:a F:b T:a");
    sup_stats delta = stats_delta(f);
    EXPECT_U64(delta.restarts, 2);
    EXPECT_U64(delta.child_start_failures, 2);
    EXPECT_U64(delta.intensity_exceeded, 1);
}

/* A child that fails to start fails sup_start; the ones started before it are shut down in
 * reverse order, each by its shutdown spec (g ignores SHUTDOWN: killed after its timeout). */
static const tw_cfg cfg_g = {.name = "g", .on_shutdown = TW_IGNORES};

static void test_start_fails(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {
        tw_child("a", &cfg_a, SUP_PERMANENT), tw_child("g", &cfg_g, SUP_PERMANENT),
        tw_child("b", &cfg_b, SUP_PERMANENT), tw_child("p", &cfg_p, SUP_PERMANENT)};
    children[1].shutdown_timeout_ms = 30;
    sup_spec spec = test_spec("doomed", SUP_ONE_FOR_ONE, children, 4);
    rec_fail_starts("b", 1);
    act_ref sup = ACT_REF_NONE;
    uint64_t t0 = now_ns();
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_EIO);
    assert_true(act_ref_is_none(sup));
    assert_true(rec_wait(REC_TERM, "a", 1, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a S:g F:b T:a"); /* g killed (no terminate), p never started */
    EXPECT_KIND(rec_term_kind("a", 0), ACT_REASON_SHUTDOWN);
    uint64_t waited_ms = (rec_time_ns(REC_TERM, "a", 0) - t0) / 1000000u;
    if (waited_ms < 25)
        fail_msg("a stopped after %llu ms, before g's 30 ms timeout",
                 (unsigned long long)waited_ms);
    sup_stats delta = stats_delta(f);
    EXPECT_U64(delta.child_start_failures, 1);
    EXPECT_U64(delta.shutdown_kills, 1);
    EXPECT_U64(delta.restarts, 0);
}

/* Backoff: the n-th consecutive restart waits min * 2^n (capped at max, plus up to 10%
 * jitter); after the child ran reset_after_ms the delay starts over. */
static const tw_cfg cfg_slow = {.name = "slow", .on_shutdown = TW_EXITS};

/* Crash slow and return how long its restart took, in ms. */
static uint64_t crash_and_time_restart(const sup_fixture *f, uint32_t starts_before)
{
    uint64_t t0 = now_ns();
    tw_send(f, rec_ref("slow"), TW_CRASH);
    assert_true(rec_wait(REC_START, "slow", starts_before + 1u, SUP_TEST_WAIT_MS));
    return (rec_time_ns(REC_START, "slow", starts_before) - t0) / 1000000u;
}

static void test_backoff(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("slow", &cfg_slow, SUP_PERMANENT)};
    children[0].backoff =
        (sup_backoff){.min_ms = 16, .max_ms = 64, .reset_after_ms = 150, .jitter_pct = 10};
    sup_spec spec = test_spec("backoff", SUP_ONE_FOR_ONE, children, 1);
    spec.flags.intensity = 100;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    const uint64_t base_ms[] = {16, 32, 64, 64};
    uint64_t took_ms[4];
    for (uint32_t i = 0; i < 4; i++) {
        took_ms[i] = crash_and_time_restart(f, i + 1u);
        if (took_ms[i] + 2u < base_ms[i]) {
            fail_msg("restart %u took %llu ms, want >= %llu", i, (unsigned long long)took_ms[i],
                     (unsigned long long)base_ms[i]);
        }
    }
    assert_true(took_ms[1] > took_ms[0]);
    assert_true(took_ms[2] > took_ms[1]);
    /* While it waits, which_children says RESTARTING. */
    tw_send(f, rec_ref("slow"), TW_CRASH);
    sleep_ms(20);
    EXPECT_U64(child_info(f, sup, "slow").status, SUP_CHILD_RESTARTING);
    assert_true(rec_wait(REC_START, "slow", 6, SUP_TEST_WAIT_MS));
    sleep_ms(200); /* up longer than reset_after_ms: the next restart waits min_ms again */
    uint64_t reset_ms = crash_and_time_restart(f, 6);
    if (reset_ms + 2u < 16u || reset_ms >= 60u) {
        fail_msg("restart after reset took %llu ms, want about 16", (unsigned long long)reset_ms);
    }
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* A restart waiting for its backoff cannot be restarted or deleted by request, but
 * terminate_child cancels it. */
static void test_backoff_cancelled(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("slow", &cfg_slow, SUP_PERMANENT)};
    children[0].backoff =
        (sup_backoff){.min_ms = 150, .max_ms = 150, .reset_after_ms = 0, .jitter_pct = 0};
    sup_spec spec = test_spec("backoff", SUP_ONE_FOR_ONE, children, 1);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    act_ref slow = rec_ref("slow");
    tw_send(f, slow, TW_CRASH);
    wait_exit(f, slow);
    sleep_ms(5); /* the EXIT is handled: the restart waits 150 ms */
    act_ref ref;
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "slow", SUP_TEST_WAIT_MS, &ref), TK_EAGAIN);
    EXPECT_ERR(sup_delete_child(f->sys, f->port, sup, "slow", SUP_TEST_WAIT_MS), TK_EAGAIN);
    EXPECT_ERR(sup_terminate_child(f->sys, f->port, sup, "slow", ACT_REF_NONE, SUP_TEST_WAIT_MS),
               TK_OK);
    EXPECT_U64(child_info(f, sup, "slow").status, SUP_CHILD_STOPPED);
    sleep_ms(200);
    EXPECT_U64(rec_count(REC_START, "slow"), 1); /* the cancelled restart never happened */
    EXPECT_ERR(sup_restart_child(f->sys, f->port, sup, "slow", SUP_TEST_WAIT_MS, &ref), TK_OK);
    EXPECT_U64(stats_delta(f).restarts, 1);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
    EXPECT_TRACE("S:slow T:slow S:slow T:slow");
}

/* In rest_for_one the failed child's backoff delays its group's start, not its stop. */
static const tw_cfg cfg_c = {.name = "c", .on_shutdown = TW_EXITS};

static void test_backoff_group(void **state)
{
    const sup_fixture *f = *state;
    sup_child_spec children[] = {tw_child("a", &cfg_a, SUP_PERMANENT),
                                 tw_child("slow", &cfg_slow, SUP_PERMANENT),
                                 tw_child("c", &cfg_c, SUP_PERMANENT)};
    children[1].backoff =
        (sup_backoff){.min_ms = 40, .max_ms = 40, .reset_after_ms = 0, .jitter_pct = 0};
    sup_spec spec = test_spec("backoff", SUP_REST_FOR_ONE, children, 3);
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    tw_send(f, rec_ref("slow"), TW_CRASH);
    assert_true(rec_wait(REC_START, "c", 2, SUP_TEST_WAIT_MS));
    EXPECT_TRACE("S:a S:slow S:c T:slow T:c S:slow S:c");
    uint64_t waited_ms =
        (rec_time_ns(REC_START, "slow", 1) - rec_time_ns(REC_TERM, "slow", 0)) / 1000000u;
    if (waited_ms < 38u) fail_msg("group started after %llu ms", (unsigned long long)waited_ms);
    uint64_t stop_ms =
        (rec_time_ns(REC_TERM, "c", 0) - rec_time_ns(REC_TERM, "slow", 0)) / 1000000u;
    if (stop_ms >= 38u) fail_msg("c stopped after %llu ms", (unsigned long long)stop_ms);
    EXPECT_ERR(sup_stop(f->sys, f->port, sup, SUP_TEST_WAIT_MS), TK_OK);
}

/* A restart, an escalation and a start failure each leave a JSON log line naming the
 * supervisor, the child and the reason. */
static void test_log_lines(void **state)
{
    const sup_fixture *f = *state;
    char path[] = "/tmp/troika_sup_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    tk_log_opts opts = {.path = path, .clock = tk_clock_system(), .level = TK_LOG_INFO};
    EXPECT_ERR(tk_log_open(&opts), TK_OK);
    sup_child_spec children[] = {tw_child("crasher", &cfg_crasher, SUP_PERMANENT)};
    sup_spec spec = test_spec("logged", SUP_ONE_FOR_ONE, children, 1);
    spec.flags.intensity = 1;
    act_ref sup;
    EXPECT_ERR(sup_start(f->sys, &spec, f->port_ref, &sup), TK_OK);
    wait_linked_exit(f, sup);
    tk_log_close();
    EXPECT_ERR(tk_log_set_levels("info,sup=off", NULL, 0), TK_OK);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char text[16384];
    size_t size = fread(text, 1, sizeof(text) - 1u, file);
    fclose(file);
    unlink(path);
    text[size] = '\0';
    const char *want[] = {
        "\"module\":\"sup\"",
        "\"msg\":\"restarting child\"",
        "\"supervisor\":\"logged\"",
        "\"child\":\"crasher\"",
        "\"reason\":\"error\"",
        "\"msg\":\"reached_max_restart_intensity\"",
        "\"detail\":\"crash requested\"",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(text, want[i]) == NULL) fail_msg("log lacks %s:\n%s", want[i], text);
    }
}

int sup_test_restarts(void)
{
    const struct CMUnitTest tests[] = {
        SUP_TEST(test_restart_types),
        SUP_TEST(test_intensity),
        SUP_TEST(test_intensity_zero),
        SUP_TEST(test_intensity_window),
        SUP_TEST(test_escalation_two_levels),
        SUP_TEST(test_restart_start_fails),
        SUP_TEST(test_restart_start_fails_gives_up),
        SUP_TEST(test_start_fails),
        SUP_TEST(test_backoff),
        SUP_TEST(test_backoff_cancelled),
        SUP_TEST(test_backoff_group),
        SUP_TEST(test_log_lines),
    };
    return cmocka_run_group_tests_name("supervisor/restarts", tests, NULL, NULL);
}
