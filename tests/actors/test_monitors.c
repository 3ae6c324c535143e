/* Monitors: a DOWN per monitor with its id as correlation and the exit reason; NOPROC at once
 * for a dead target; demonitor; several monitors on one target; a watcher that dies first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "actors_tests.h"

static void test_monitor_down(void **state)
{
    act_fixture *f = *state;
    act_ref target = probe_start(f);
    uint64_t id = port_monitor(f, target);
    uint64_t id2 = port_monitor(f, target); /* a second monitor of the same pair */
    assert_true(id != id2);
    probe_cmd_u32(f, target, PROBE_STOP, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, target, PROBE_STOP);
    (void)expect_term(f, target, ACT_REASON_SHUTDOWN);
    const port_expect want[] = {
        {.is_down = true, .id = id, .from = target, .kind = ACT_REASON_SHUTDOWN},
        {.is_down = true, .id = id2, .from = target, .kind = ACT_REASON_SHUTDOWN},
    };
    expect_unordered(f, want, 2);
    /* An error's code and detail travel in the DOWN. */
    target = probe_start(f);
    id = port_monitor(f, target);
    probe_cmd_u32(f, target, PROBE_FAIL, TK_EAGAIN);
    (void)expect_msg(f, target, PROBE_FAIL);
    probe_event term = expect_term(f, target, ACT_REASON_ERROR);
    act_reason reason = expect_down(f, id, target);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    EXPECT_ERR(reason.err, TK_EAGAIN);
    assert_string_equal(reason.detail, term.reason.detail);
    assert_true(strlen(reason.detail) > 0);
    /* KILLED, without terminate. */
    target = probe_start(f);
    id = port_monitor(f, target);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, target, &kill), TK_OK);
    reason = expect_down(f, id, target);
    EXPECT_KIND(reason.kind, ACT_REASON_KILLED);
    expect_port_quiet(f, 0);
}

static void test_monitor_noproc(void **state)
{
    act_fixture *f = *state;
    act_ref target = probe_start(f);
    uint64_t live_id = port_monitor(f, target);
    probe_cmd_u32(f, target, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, target, PROBE_STOP);
    (void)expect_term(f, target, ACT_REASON_NORMAL);
    act_reason reason = expect_down(f, live_id, target);
    EXPECT_KIND(reason.kind, ACT_REASON_NORMAL);
    /* Now dead: a new monitor gets its DOWN at once, NOPROC, with a fresh id. */
    uint64_t t0 = test_now_ns();
    uint64_t id = port_monitor(f, target);
    assert_true(id != live_id);
    reason = expect_down(f, id, target);
    EXPECT_KIND(reason.kind, ACT_REASON_NOPROC);
    EXPECT_ERR(reason.err, TK_OK);
    assert_true(test_now_ns() - t0 < 2000ull * 1000000u); /* no timer involved */
    id = port_monitor(f, ACT_REF_NONE);
    reason = expect_down(f, id, ACT_REF_NONE);
    EXPECT_KIND(reason.kind, ACT_REASON_NOPROC);
    /* From an actor watcher too. */
    act_ref watcher = probe_start(f);
    probe_cmd(f, watcher, PROBE_MONITOR, &target, sizeof(target));
    (void)expect_msg(f, watcher, PROBE_MONITOR);
    probe_event res = expect_result(f, watcher, PROBE_MONITOR);
    EXPECT_ERR(res.err, TK_OK);
    probe_event ev = expect_msg(f, watcher, ACT_MSG_DOWN);
    assert_int_equal(ev.correlation, res.value);
    act_exit_info info = exit_info_of(ev.data);
    EXPECT_REF_EQ(info.from, target);
    EXPECT_KIND(info.reason.kind, ACT_REASON_NOPROC);
}

static void test_demonitor(void **state)
{
    act_fixture *f = *state;
    act_ref target = probe_start(f);
    uint64_t id1 = port_monitor(f, target);
    uint64_t id2 = port_monitor(f, target);
    uint64_t id3 = port_monitor(f, target);
    act_demonitor(f->sys, f->port_ref, id2);
    act_demonitor(f->sys, f->port_ref, id2);        /* twice: unknown now, ignored */
    act_demonitor(f->sys, f->port_ref, 0xdeadbeef); /* never existed */
    act_demonitor(f->sys, target, id1);             /* not target's monitor: ignored */
    probe_cmd_u32(f, target, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, target, PROBE_STOP);
    (void)expect_term(f, target, ACT_REASON_NORMAL);
    /* The DOWNs of one exit are sent one after another, so had id2's been sent it would be
     * among the first two to arrive, whatever the order. */
    const port_expect want[] = {
        {.is_down = true, .id = id1, .from = target, .kind = ACT_REASON_NORMAL},
        {.is_down = true, .id = id3, .from = target, .kind = ACT_REASON_NORMAL},
    };
    expect_unordered(f, want, 2);
    act_demonitor(f->sys, f->port_ref, id1); /* after its DOWN: ignored */
    expect_port_quiet(f, 20);
}

static void test_several_watchers(void **state)
{
    act_fixture *f = *state;
    act_ref target = probe_start(f);
    act_ref w1 = probe_start(f);
    act_ref w2 = probe_start(f);
    act_ref watchers[] = {w1, w2};
    uint64_t actor_ids[2];
    for (size_t i = 0; i < 2; i++) {
        probe_cmd(f, watchers[i], PROBE_MONITOR, &target, sizeof(target));
        (void)expect_msg(f, watchers[i], PROBE_MONITOR);
        probe_event res = expect_result(f, watchers[i], PROBE_MONITOR);
        EXPECT_ERR(res.err, TK_OK);
        actor_ids[i] = res.value;
    }
    uint64_t port_ids[3];
    for (size_t i = 0; i < 3; i++) {
        port_ids[i] = port_monitor(f, target);
    }
    /* all five ids differ */
    uint64_t all[] = {actor_ids[0], actor_ids[1], port_ids[0], port_ids[1], port_ids[2]};
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = i + 1; j < 5; j++) {
            assert_true(all[i] != all[j]);
        }
    }
    probe_cmd_u32(f, target, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, target, PROBE_FAIL);
    (void)expect_term(f, target, ACT_REASON_ERROR);
    const port_expect want[] = {
        {.is_down = true, .id = port_ids[0], .from = target, .kind = ACT_REASON_ERROR},
        {.is_down = true, .id = port_ids[1], .from = target, .kind = ACT_REASON_ERROR},
        {.is_down = true, .id = port_ids[2], .from = target, .kind = ACT_REASON_ERROR},
        {.is_down = true, .self = w1, .id = actor_ids[0], .from = target, .kind = ACT_REASON_ERROR},
        {.is_down = true, .self = w2, .id = actor_ids[1], .from = target, .kind = ACT_REASON_ERROR},
    };
    expect_unordered(f, want, sizeof(want) / sizeof(want[0]));
    /* A DOWN does not take the watcher down. */
    probe_cmd_u32(f, w1, PROBE_PING, 1);
    (void)expect_msg(f, w1, PROBE_PING);
}

static void test_watcher_dies_first(void **state)
{
    act_fixture *f = *state;
    act_ref target = probe_start(f);
    act_ref watchers[4];
    for (size_t i = 0; i < 4; i++) {
        watchers[i] = probe_start(f);
        for (int n = 0; n < 2; n++) { /* two monitors each */
            probe_cmd(f, watchers[i], PROBE_MONITOR, &target, sizeof(target));
            (void)expect_msg(f, watchers[i], PROBE_MONITOR);
            probe_event res = expect_result(f, watchers[i], PROBE_MONITOR);
            EXPECT_ERR(res.err, TK_OK);
        }
    }
    /* The watchers go, each a different way; their monitors must go with them. */
    uint64_t downs[4];
    for (size_t i = 0; i < 4; i++) {
        downs[i] = port_monitor(f, watchers[i]);
    }
    probe_cmd_u32(f, watchers[0], PROBE_STOP, ACT_REASON_NORMAL);
    probe_cmd_u32(f, watchers[1], PROBE_FAIL, TK_EIO);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, watchers[2], &kill), TK_OK);
    act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, watchers[3], &shutdown), TK_OK);
    for (size_t i = 0; i < 4; i++) { /* skip their MSG and TERM events; wait for the DOWNs */
        for (;;) {
            act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
            bool done = msg->type == ACT_MSG_DOWN;
            if (done) {
                bool known = false;
                for (size_t j = 0; j < 4; j++) {
                    if (msg->correlation == downs[j]) known = true;
                }
                assert_true(known);
            }
            act_msg_free(f->sys, msg);
            if (done) break;
        }
    }
    /* New actors take the watchers' slots; the target's exit must reach none of them. */
    act_ref heirs[4];
    for (size_t i = 0; i < 4; i++) {
        heirs[i] = probe_start(f);
    }
    uint64_t id = port_monitor(f, target);
    probe_cmd_u32(f, target, PROBE_STOP, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, target, PROBE_STOP);
    (void)expect_term(f, target, ACT_REASON_SHUTDOWN);
    act_reason reason = expect_down(f, id, target);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    for (size_t i = 0; i < 4; i++) {
        probe_cmd_u32(f, heirs[i], PROBE_PING, 5);
        (void)expect_msg(f, heirs[i], PROBE_PING); /* a DOWN would have come first */
    }
    expect_port_quiet(f, 0);
}

static void test_monitor_dead_watcher(void **state)
{
    act_fixture *f = *state;
    act_ref target = probe_start(f);
    act_ref watcher = probe_start(f);
    uint64_t down = port_monitor(f, watcher);
    probe_cmd_u32(f, watcher, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, watcher, PROBE_STOP);
    (void)expect_term(f, watcher, ACT_REASON_NORMAL);
    (void)expect_down(f, down, watcher);
    uint64_t id = 77;
    EXPECT_ERR(act_monitor(f->sys, watcher, target, &id), TK_ESTALE);
    assert_int_equal(id, 77);
    act_demonitor(f->sys, watcher, 1); /* ignored */
    probe_cmd_u32(f, target, PROBE_PING, 1);
    (void)expect_msg(f, target, PROBE_PING);
}

int act_test_monitors(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST_THREADS(test_monitor_down),
        ACT_TEST(test_monitor_noproc),
        ACT_TEST(test_demonitor),
        ACT_TEST_THREADS(test_several_watchers),
        ACT_TEST_THREADS(test_watcher_dies_first),
        ACT_TEST(test_monitor_dead_watcher),
    };
    return cmocka_run_group_tests_name("actors/monitors", tests, NULL, NULL);
}
