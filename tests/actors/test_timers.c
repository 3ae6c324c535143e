/* Timers and the I/O loop: send_after (delay, order, cancel), intervals (ticks, cancel, a
 * dead target), and act_loop_run (on the loop thread, in submission order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "actors_tests.h"

#define TIMER_MSG  (ACT_MSG_USER + 700)
#define TIMER_TICK (ACT_MSG_USER + 701)
#define LOOP_DONE  (ACT_MSG_USER + 702)

/* A message for the port, tagged with a number. */
static act_msg *tagged(const act_fixture *f, uint32_t tag)
{
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = TIMER_MSG;
    msg->sender = f->port_ref;
    msg->size_bytes = sizeof(tag);
    memcpy(msg->data, &tag, sizeof(tag));
    return msg;
}

/* The next message on the port must be a TIMER_MSG with this tag. */
static void expect_tag(const act_fixture *f, uint32_t tag)
{
    act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
    uint32_t type = msg->type;
    uint32_t got = 0;
    memcpy(&got, msg->data, sizeof(got));
    act_msg_free(f->sys, msg);
    if (type != TIMER_MSG) fail_msg("want a timer message, got type %u", type);
    if (got != tag) fail_msg("timer message %u arrived, want %u", got, tag);
}

static void test_send_after_delay(void **state)
{
    act_fixture *f = *state;
    const uint32_t delays_ms[] = {0, 1, 30, 120};
    for (size_t i = 0; i < sizeof(delays_ms) / sizeof(delays_ms[0]); i++) {
        uint64_t t0 = test_now_ns();
        act_timer timer = {0};
        EXPECT_ERR(
            act_send_after(f->sys, delays_ms[i], f->port_ref, tagged(f, (uint32_t)i), &timer),
            TK_OK);
        assert_true(timer.id != 0);
        expect_tag(f, (uint32_t)i);
        uint64_t elapsed_ms = (test_now_ns() - t0) / 1000000u;
        /* libuv's timers run on a millisecond clock truncated at the loop's last update, so
         * a timer may fire up to 1 ms before delay_ms of our finer clock has passed. */
        if (elapsed_ms + 1u < delays_ms[i]) {
            fail_msg("a %u ms timer fired after %llu ms", delays_ms[i],
                     (unsigned long long)elapsed_ms);
        }
        if (elapsed_ms > delays_ms[i] + 2000u) {
            fail_msg("a %u ms timer took %llu ms", delays_ms[i], (unsigned long long)elapsed_ms);
        }
    }
    /* out_timer may be NULL */
    EXPECT_ERR(act_send_after(f->sys, 0, f->port_ref, tagged(f, 9), NULL), TK_OK);
    expect_tag(f, 9);
}

static void test_send_after_order(void **state)
{
    act_fixture *f = *state;
    /* armed latest-first: they arrive by deadline, not by arming order */
    EXPECT_ERR(act_send_after(f->sys, 90, f->port_ref, tagged(f, 3), NULL), TK_OK);
    EXPECT_ERR(act_send_after(f->sys, 60, f->port_ref, tagged(f, 2), NULL), TK_OK);
    EXPECT_ERR(act_send_after(f->sys, 30, f->port_ref, tagged(f, 1), NULL), TK_OK);
    expect_tag(f, 1);
    expect_tag(f, 2);
    expect_tag(f, 3);
    /* to an actor */
    act_ref ref = probe_start(f);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_PING;
    msg->sender = f->port_ref;
    EXPECT_ERR(act_send_after(f->sys, 10, ref, msg, NULL), TK_OK);
    probe_event ev = expect_msg(f, ref, PROBE_PING);
    EXPECT_REF_EQ(ev.sender, f->port_ref);
}

static void test_timer_cancel(void **state)
{
    act_fixture *f = *state;
    act_timer timer;
    EXPECT_ERR(act_send_after(f->sys, 200, f->port_ref, tagged(f, 1), &timer), TK_OK);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_OK);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_ENOENT); /* already cancelled */
    /* A later timer as the sentinel: had the first fired, it would arrive before this one. */
    EXPECT_ERR(act_send_after(f->sys, 300, f->port_ref, tagged(f, 2), NULL), TK_OK);
    expect_tag(f, 2);
    /* After it fired: TK_ENOENT. */
    EXPECT_ERR(act_send_after(f->sys, 5, f->port_ref, tagged(f, 3), &timer), TK_OK);
    expect_tag(f, 3);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_ENOENT);
    /* Unknown ids. */
    EXPECT_ERR(act_timer_cancel(f->sys, (act_timer){.id = 0}), TK_ENOENT);
    EXPECT_ERR(act_timer_cancel(f->sys, (act_timer){.id = UINT64_MAX}), TK_ENOENT);
    /* Cancelling at once, many times over: each is either cancelled or delivered, never both,
     * and the cancelled ones' messages are freed (ASan checks the leak). */
    uint32_t cancelled = 0;
    for (uint32_t i = 0; i < 200; i++) {
        EXPECT_ERR(act_send_after(f->sys, 0, f->port_ref, tagged(f, 1000u + i), &timer), TK_OK);
        if (act_timer_cancel(f->sys, timer) == TK_OK) cancelled++;
    }
    EXPECT_ERR(act_send_after(f->sys, 100, f->port_ref, tagged(f, 5000), NULL), TK_OK);
    uint32_t delivered = 0;
    for (;;) {
        act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
        uint32_t tag;
        memcpy(&tag, msg->data, sizeof(tag));
        act_msg_free(f->sys, msg);
        if (tag == 5000) break;
        delivered++;
    }
    assert_int_equal(delivered + cancelled, 200);
}

static void test_timer_to_dead_target(void **state)
{
    act_fixture *f = *state;
    act_ref ref = probe_start(f);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_PING;
    act_timer timer;
    EXPECT_ERR(act_send_after(f->sys, 30, ref, msg, &timer), TK_OK);
    probe_cmd_u32(f, ref, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, ref, PROBE_STOP);
    (void)expect_term(f, ref, ACT_REASON_NORMAL);
    (void)wait_exit(f, ref);
    /* The timer fires into a dead ref: its message is freed (ASan), nothing arrives. */
    EXPECT_ERR(act_send_after(f->sys, 60, f->port_ref, tagged(f, 1), NULL), TK_OK);
    expect_tag(f, 1);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_ENOENT);
}

static void expect_tick(const act_fixture *f, uint32_t tag)
{
    act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
    uint32_t type = msg->type;
    uint32_t got = 0;
    memcpy(&got, msg->data, sizeof(got));
    act_ref sender = msg->sender;
    uint32_t size = msg->size_bytes;
    act_msg_free(f->sys, msg);
    if (type != TIMER_TICK) fail_msg("want a tick, got type %u", type);
    assert_int_equal(got, tag);
    assert_int_equal(size, sizeof(tag));
    EXPECT_REF_EQ(sender, f->port_ref);
}

static void test_interval(void **state)
{
    act_fixture *f = *state;
    uint32_t tag = 0x7171;
    act_timer timer;
    EXPECT_ERR(act_send_interval(f->sys, 0, f->port_ref, f->port_ref, TIMER_TICK, &tag, sizeof(tag),
                                 &timer),
               TK_EINVAL);
    EXPECT_ERR(act_send_interval(f->sys, 5, f->port_ref, f->port_ref, TIMER_TICK, &tag,
                                 ACT_MSG_INLINE_BYTES + 1u, &timer),
               TK_EINVAL);
    uint64_t t0 = test_now_ns();
    EXPECT_ERR(act_send_interval(f->sys, 10, f->port_ref, f->port_ref, TIMER_TICK, &tag,
                                 sizeof(tag), &timer),
               TK_OK);
    for (int i = 0; i < 5; i++) {
        expect_tick(f, tag);
    }
    uint64_t elapsed_ms = (test_now_ns() - t0) / 1000000u;
    assert_true(elapsed_ms + 1u >= 50u); /* five periods at least (1 ms of libuv rounding) */
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_OK);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_ENOENT);
    /* At most one tick already on its way when cancelled; none after the sentinel. */
    EXPECT_ERR(act_send_after(f->sys, 80, f->port_ref, tagged(f, 1), NULL), TK_OK);
    uint32_t late = 0;
    for (;;) {
        act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
        uint32_t type = msg->type;
        act_msg_free(f->sys, msg);
        if (type == TIMER_MSG) break;
        assert_int_equal(type, TIMER_TICK);
        late++;
    }
    assert_true(late <= 1);
    EXPECT_ERR(act_send_after(f->sys, 80, f->port_ref, tagged(f, 2), NULL), TK_OK);
    expect_tag(f, 2);
    /* out_timer may be NULL (the interval then runs until its target dies). */
    act_ref ref = probe_start(f);
    EXPECT_ERR(act_send_interval(f->sys, 5, ref, f->port_ref, PROBE_PING, NULL, 0, NULL), TK_OK);
    (void)expect_msg(f, ref, PROBE_PING);
    (void)expect_msg(f, ref, PROBE_PING);
    uint64_t down = port_monitor(f, ref);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, ref, &kill), TK_OK);
    for (;;) { /* ticks handled before the kill may still be reported */
        act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
        bool down_seen = msg->type == ACT_MSG_DOWN && msg->correlation == down;
        act_msg_free(f->sys, msg);
        if (down_seen) break;
    }
}

static void test_interval_stops_for_dead_target(void **state)
{
    act_fixture *f = *state;
    act_ref ref = probe_start(f);
    act_timer timer;
    EXPECT_ERR(act_send_interval(f->sys, 5, ref, f->port_ref, PROBE_PING, NULL, 0, &timer), TK_OK);
    (void)expect_msg(f, ref, PROBE_PING);
    uint64_t down = port_monitor(f, ref);
    act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, ref, &shutdown), TK_OK);
    for (;;) {
        act_msg *msg = port_next(f, ACT_TEST_WAIT_MS);
        bool down_seen = msg->type == ACT_MSG_DOWN && msg->correlation == down;
        act_msg_free(f->sys, msg);
        if (down_seen) break;
    }
    /* The loop fires timers in deadline order: by the time this 60 ms one fires, the interval
     * has ticked into the dead ref at least once and ended itself. */
    EXPECT_ERR(act_send_after(f->sys, 60, f->port_ref, tagged(f, 1), NULL), TK_OK);
    expect_tag(f, 1);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_ENOENT);
    /* An interval to a ref already dead ends on its first tick. */
    EXPECT_ERR(act_send_interval(f->sys, 5, ref, f->port_ref, PROBE_PING, NULL, 0, &timer), TK_OK);
    EXPECT_ERR(act_send_after(f->sys, 60, f->port_ref, tagged(f, 2), NULL), TK_OK);
    expect_tag(f, 2);
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_ENOENT);
}

static void test_interval_skips_full_ticks(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_ref ref = probe_spawn(f->sys, &cfg, 2, ACT_REF_NONE, false);
    (void)expect_init(f, ref);
    probe_cmd(f, ref, PROBE_GATE, NULL, 0);
    wait_gate_entered(&shared, 1);
    act_stats before;
    act_stats_read(f->sys, &before);
    act_timer timer;
    EXPECT_ERR(act_send_interval(f->sys, 2, ref, f->port_ref, PROBE_PING, NULL, 0, &timer), TK_OK);
    /* Wait on a 100 ms timer: some 50 ticks come due meanwhile, almost all refused. */
    EXPECT_ERR(act_send_after(f->sys, 100, f->port_ref, tagged(f, 1), NULL), TK_OK);
    expect_tag(f, 1);
    act_stats after;
    act_stats_read(f->sys, &after);
    assert_true(after.sends_full - before.sends_full >= 5u);
    atomic_store(&shared.gate, 1);
    (void)expect_msg(f, ref, PROBE_PING); /* the interval lives on past full ticks */
    EXPECT_ERR(act_timer_cancel(f->sys, timer), TK_OK);
}

/* ---- act_loop_run ------------------------------------------------------------------------------
 */

#define LOOP_RUNS 100u

typedef struct loop_log {
    act_system *sys;
    act_ref report;
    uint32_t order[LOOP_RUNS]; /* written on the loop thread, read after LOOP_DONE */
    uint32_t count;
    pthread_t thread[LOOP_RUNS];
    struct uv_loop_s *loop[LOOP_RUNS];
} loop_log;

typedef struct loop_job {
    loop_log *log;
    uint32_t index;
} loop_job;

static void loop_fn(void *arg, struct uv_loop_s *loop)
{
    const loop_job *job = arg;
    loop_log *log = job->log;
    uint32_t n = log->count++;
    log->order[n] = job->index;
    log->thread[n] = pthread_self();
    log->loop[n] = loop;
    if (n + 1u == LOOP_RUNS) {
        tk_err err = act_send_data(log->sys, log->report, ACT_REF_NONE, LOOP_DONE, NULL, 0);
        TK_ASSERT(err == TK_OK);
    }
}

static void test_loop_run(void **state)
{
    act_fixture *f = *state;
    static loop_log log;
    static loop_job jobs[LOOP_RUNS];
    memset(&log, 0, sizeof(log));
    log.sys = f->sys;
    log.report = f->port_ref;
    for (uint32_t i = 0; i < LOOP_RUNS; i++) {
        jobs[i] = (loop_job){.log = &log, .index = i};
        EXPECT_ERR(act_loop_run(f->sys, loop_fn, &jobs[i]), TK_OK);
    }
    act_msg *msg = port_next(f, ACT_TEST_WAIT_MS); /* the message orders what follows */
    assert_int_equal(msg->type, LOOP_DONE);
    act_msg_free(f->sys, msg);
    assert_int_equal(log.count, LOOP_RUNS);
    for (uint32_t i = 0; i < LOOP_RUNS; i++) {
        assert_int_equal(log.order[i], i);                        /* submission order */
        assert_true(pthread_equal(log.thread[i], log.thread[0])); /* one loop thread */
        assert_ptr_equal(log.loop[i], log.loop[0]);
    }
    assert_non_null(log.loop[0]);
    assert_false(pthread_equal(log.thread[0], pthread_self()));
    /* Not a scheduler thread: compare with the threads handlers run on, many turns over. */
    act_ref probes[8];
    for (size_t i = 0; i < 8; i++) {
        probes[i] = probe_start(f);
    }
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < 8; i++) {
            probe_cmd_u32(f, probes[i], PROBE_PING, (uint32_t)round);
        }
        for (size_t i = 0; i < 8; i++) {
            probe_event ev = expect_event(f, PROBE_EV_MSG);
            assert_false(pthread_equal(ev.thread, log.thread[0]));
            assert_false(pthread_equal(ev.thread, pthread_self()));
        }
    }
}

int act_test_timers(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST(test_send_after_delay),
        ACT_TEST(test_send_after_order),
        ACT_TEST(test_timer_cancel),
        ACT_TEST(test_timer_to_dead_target),
        ACT_TEST(test_interval),
        ACT_TEST(test_interval_stops_for_dead_target),
        ACT_TEST(test_interval_skips_full_ticks),
        ACT_TEST_THREADS(test_loop_run),
    };
    return cmocka_run_group_tests_name("actors/timers", tests, NULL, NULL);
}
