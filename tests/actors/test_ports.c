/* Ports: mailboxes for outside threads. Receive with a timeout, port-to-port messages,
 * act_port_wait_exit for live and dead refs, and close (links and monitors are told, queued
 * messages freed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "actors_tests.h"

#define PORT_MSG (ACT_MSG_USER + 800)

static void test_receive_timeout(void **state)
{
    act_fixture *f = *state;
    const uint32_t timeouts_ms[] = {0, 1, 40};
    for (size_t i = 0; i < sizeof(timeouts_ms) / sizeof(timeouts_ms[0]); i++) {
        act_msg *msg = (act_msg *)(uintptr_t)0x1;
        uint64_t t0 = test_now_ns();
        EXPECT_ERR(act_port_receive(f->port, timeouts_ms[i], &msg), TK_ETIMEDOUT);
        uint64_t elapsed_ns = test_now_ns() - t0;
        assert_ptr_equal(msg, (act_msg *)(uintptr_t)0x1); /* untouched */
        if (elapsed_ns < (uint64_t)timeouts_ms[i] * 1000000u) {
            fail_msg("a %u ms receive gave up after %llu ns", timeouts_ms[i],
                     (unsigned long long)elapsed_ns);
        }
        assert_true(elapsed_ns < ((uint64_t)timeouts_ms[i] + 2000u) * 1000000u);
    }
    /* A message that arrives during the wait ends it. */
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PORT_MSG;
    EXPECT_ERR(act_send_after(f->sys, 30, f->port_ref, msg, NULL), TK_OK);
    act_msg *got = NULL;
    EXPECT_ERR(act_port_receive(f->port, ACT_TEST_WAIT_MS, &got), TK_OK);
    assert_int_equal(got->type, PORT_MSG);
    act_msg_free(f->sys, got);
}

static void test_port_to_port(void **state)
{
    act_fixture *f = *state;
    act_port *other = NULL;
    EXPECT_ERR(act_port_open(f->sys, 8, &other), TK_OK);
    act_ref other_ref = act_port_ref(other);
    assert_false(act_ref_eq(other_ref, f->port_ref));
    enum { COUNT = 100 }; /* more than the capacity: messages wait in the port, not the box */
    for (uint32_t i = 0; i < COUNT; i++) {
        tk_err err;
        uint32_t tries = 0;
        do { /* the port's actor moves messages out of its mailbox as they come */
            err = act_send_data(f->sys, other_ref, f->port_ref, PORT_MSG, &i, sizeof(i));
        } while (err == TK_EFULL && ++tries < 10000000u && (sched_yield(), true));
        EXPECT_ERR(err, TK_OK);
    }
    for (uint32_t i = 0; i < COUNT; i++) {
        act_msg *msg = NULL;
        EXPECT_ERR(act_port_receive(other, ACT_TEST_WAIT_MS, &msg), TK_OK);
        assert_int_equal(msg->type, PORT_MSG);
        EXPECT_REF_EQ(msg->sender, f->port_ref);
        uint32_t seq;
        memcpy(&seq, msg->data, sizeof(seq));
        assert_int_equal(seq, i);
        act_msg_free(f->sys, msg);
    }
    /* And back, to the port's ref. */
    EXPECT_ERR(act_send_data(f->sys, f->port_ref, other_ref, PORT_MSG, "hi", 2), TK_OK);
    act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
    EXPECT_REF_EQ(msg->sender, other_ref);
    assert_memory_equal(msg->data, "hi", 2);
    act_msg_free(f->sys, msg);
    act_port_close(other);
    act_port_close(NULL); /* a no-op */
    EXPECT_ERR(act_send_data(f->sys, other_ref, f->port_ref, PORT_MSG, NULL, 0), TK_ESTALE);
}

static void test_port_open_errors(void **state)
{
    act_fixture *f = *state;
    act_port *port = (act_port *)(uintptr_t)0x1;
    EXPECT_ERR(act_port_open(f->sys, 0, &port), TK_EINVAL);
    EXPECT_ERR(act_port_open(f->sys, ACT_MAILBOX_DEPTH_MAX + 1u, &port), TK_EINVAL);
    assert_ptr_equal(port, (act_port *)(uintptr_t)0x1);
}

static void test_wait_exit(void **state)
{
    act_fixture *f = *state;
    /* Live: ends when the actor does (stopped by a timer while we wait). */
    act_ref a = probe_start(f);
    act_msg *stop = act_msg_alloc(f->sys);
    assert_non_null(stop);
    stop->type = PROBE_STOP;
    uint32_t kind = ACT_REASON_SHUTDOWN;
    stop->size_bytes = sizeof(kind);
    memcpy(stop->data, &kind, sizeof(kind));
    EXPECT_ERR(act_send_after(f->sys, 30, a, stop, NULL), TK_OK);
    act_reason reason;
    EXPECT_ERR(act_port_wait_exit(f->port, a, ACT_TEST_WAIT_MS, &reason), TK_OK);
    EXPECT_KIND(reason.kind, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, a, PROBE_STOP); /* its reports were left for us */
    (void)expect_term(f, a, ACT_REASON_SHUTDOWN);
    /* Dead: at once, NOPROC; out_reason may be NULL. */
    uint64_t t0 = test_now_ns();
    EXPECT_ERR(act_port_wait_exit(f->port, a, ACT_TEST_WAIT_MS, &reason), TK_OK);
    EXPECT_KIND(reason.kind, ACT_REASON_NOPROC);
    EXPECT_ERR(act_port_wait_exit(f->port, a, ACT_TEST_WAIT_MS, NULL), TK_OK);
    assert_true(test_now_ns() - t0 < 2000ull * 1000000u);
    /* Timeout on a live actor; its monitor is dropped so no DOWN turns up later. */
    act_ref b = probe_start(f);
    t0 = test_now_ns();
    EXPECT_ERR(act_port_wait_exit(f->port, b, 30, &reason), TK_ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= 30ull * 1000000u);
    uint64_t down = port_monitor(f, b);
    probe_cmd_u32(f, b, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, b, PROBE_FAIL);
    (void)expect_term(f, b, ACT_REASON_ERROR);
    reason = expect_down(f, down, b);
    EXPECT_KIND(reason.kind, ACT_REASON_ERROR);
    expect_port_quiet(f, 20); /* no second DOWN from the timed-out wait */
    /* Other messages waiting on the port stay there. */
    EXPECT_ERR(act_send_data(f->sys, f->port_ref, f->port_ref, PORT_MSG, "k", 1), TK_OK);
    EXPECT_ERR(act_port_wait_exit(f->port, b, ACT_TEST_WAIT_MS, NULL), TK_OK);
    act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
    assert_int_equal(msg->type, PORT_MSG);
    act_msg_free(f->sys, msg);
}

static void test_port_close_tells_links(void **state)
{
    act_fixture *f = *state;
    act_port *other = NULL;
    EXPECT_ERR(act_port_open(f->sys, 16, &other), TK_OK);
    act_ref other_ref = act_port_ref(other);
    probe_cfg cfg = probe_cfg_for(f);
    act_ref trapper = probe_spawn(f->sys, &cfg, 16, other_ref, true);
    (void)expect_init(f, trapper);
    act_ref plain = probe_spawn(f->sys, &cfg, 16, other_ref, false);
    (void)expect_init(f, plain);
    uint64_t down = port_monitor(f, other_ref);
    for (uint32_t i = 0; i < 5; i++) { /* left unreceived: freed by close */
        EXPECT_ERR(act_send_data(f->sys, other_ref, f->port_ref, PORT_MSG, &i, sizeof(i)), TK_OK);
    }
    act_port_close(other);
    const port_expect want[] = {
        {.is_down = true, .id = down, .from = other_ref, .kind = ACT_REASON_NORMAL},
        {.self = trapper, .from = other_ref, .kind = ACT_REASON_NORMAL},
    };
    expect_unordered(f, want, 2);
    probe_cmd_u32(f, plain, PROBE_PING, 0); /* normal: ignored by a non-trapping link */
    (void)expect_msg(f, plain, PROBE_PING);
    EXPECT_ERR(act_send_data(f->sys, other_ref, f->port_ref, PORT_MSG, NULL, 0), TK_ESTALE);
}

static void test_port_traps_exits(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    EXPECT_ERR(act_link(f->sys, f->port_ref, a), TK_OK);
    act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
    EXPECT_ERR(act_exit(f->sys, a, f->port_ref, &shutdown), TK_OK); /* to the port itself */
    act_msg *msg = next_non_event(f);
    assert_int_equal(msg->type, ACT_MSG_EXIT);
    act_exit_info info = exit_info_of(msg->data);
    EXPECT_REF_EQ(info.from, a);
    EXPECT_KIND(info.reason.kind, ACT_REASON_SHUTDOWN);
    act_msg_free(f->sys, msg);
    probe_cmd_u32(f, a, PROBE_FAIL, TK_EIO); /* the port lives, and hears of a's exit */
    (void)expect_msg(f, a, PROBE_FAIL);
    (void)expect_term(f, a, ACT_REASON_ERROR);
    msg = next_non_event(f);
    assert_int_equal(msg->type, ACT_MSG_EXIT);
    info = exit_info_of(msg->data);
    EXPECT_REF_EQ(info.from, a);
    EXPECT_KIND(info.reason.kind, ACT_REASON_ERROR);
    act_msg_free(f->sys, msg);
}

/* A port whose actor was killed (kill skips terminate for actors, but a port must still learn
 * that it is closed) is closed without hanging. Run in a child, killed by SIGALRM if it hangs:
 * this was a hang before commit 4bd5650. */
static void child_close_killed_port(void *arg)
{
    (void)arg;
    act_system_opts opts = act_test_opts(2);
    act_system *sys = NULL;
    if (act_system_open(&opts, &sys) != TK_OK) _exit(10);
    act_port *port = NULL;
    act_port *watcher = NULL;
    if (act_port_open(sys, 8, &port) != TK_OK) _exit(11);
    if (act_port_open(sys, 8, &watcher) != TK_OK) _exit(12);
    act_ref ref = act_port_ref(port);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    if (act_exit(sys, ACT_REF_NONE, ref, &kill) != TK_OK) _exit(13);
    act_reason reason;
    if (act_port_wait_exit(watcher, ref, 5000, &reason) != TK_OK) _exit(14);
    act_port_close(port); /* hangs with the bug */
    act_port_close(watcher);
    act_system_close(sys);
}

static void test_close_killed_port(void **state)
{
    (void)state;
    tk_test_child res;
    assert_true(tk_test_child_run(child_close_killed_port, NULL, 5, &res));
    if (res.signaled)
        fail_msg("act_port_close of a killed port: child died of signal %d%s", res.signal,
                 res.signal == SIGALRM ? " (SIGALRM: it hung)" : "");
    assert_int_equal(res.exit_code, 0);
}

int act_test_ports(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST(test_receive_timeout),           ACT_TEST_THREADS(test_port_to_port),
        ACT_TEST(test_port_open_errors),          ACT_TEST(test_wait_exit),
        ACT_TEST(test_port_close_tells_links),    ACT_TEST(test_port_traps_exits),
        cmocka_unit_test(test_close_killed_port),
    };
    return cmocka_run_group_tests_name("actors/ports", tests, NULL, NULL);
}
