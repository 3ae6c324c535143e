/* act_system_close with live actors: trapping ones, linked chains, actors with queued
 * messages, pending timers and requests, and actors sending to each other without end. All
 * terminate with SHUTDOWN and close returns; a spawn during close is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "actors_tests.h"

static act_ref quiet_probe(act_system *sys, probe_shared *shared, act_ref link_to, bool trap)
{
    probe_cfg cfg = {.report = ACT_REF_NONE, .shared = shared, .quiet = true};
    return probe_spawn(sys, &cfg, 64, link_to, trap);
}

static void close_live_actors(uint32_t threads)
{
    act_system_opts opts = act_test_opts(threads);
    act_system *sys = act_test_open(&opts);
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    uint32_t count = 0;
    for (int i = 0; i < 5; i++, count++) { /* plain */
        (void)quiet_probe(sys, &shared, ACT_REF_NONE, false);
    }
    for (int i = 0; i < 3; i++, count++) { /* trapping */
        (void)quiet_probe(sys, &shared, ACT_REF_NONE, true);
    }
    act_ref prev = quiet_probe(sys, &shared, ACT_REF_NONE, false); /* a chain of 4 */
    count++;
    for (int i = 0; i < 3; i++, count++) {
        prev = quiet_probe(sys, &shared, prev, false);
    }
    prev = quiet_probe(sys, &shared, ACT_REF_NONE, true); /* a trapping chain of 3 */
    count++;
    for (int i = 0; i < 2; i++, count++) {
        prev = quiet_probe(sys, &shared, prev, true);
    }
    act_ref busy = quiet_probe(sys, &shared, ACT_REF_NONE, false); /* messages queued */
    count++;
    for (uint32_t i = 0; i < 40; i++) {
        EXPECT_ERR(act_send_data(sys, busy, ACT_REF_NONE, PROBE_PING, &i, sizeof(i)), TK_OK);
    }
    act_ref timed = quiet_probe(sys, &shared, ACT_REF_NONE, false); /* timers pending */
    count++;
    act_msg *msg = act_msg_alloc(sys);
    assert_non_null(msg);
    msg->type = PROBE_PING;
    EXPECT_ERR(act_send_after(sys, 60000, timed, msg, NULL), TK_OK);
    EXPECT_ERR(act_send_interval(sys, 1, timed, ACT_REF_NONE, PROBE_PING, NULL, 0, NULL), TK_OK);
    act_ref server = quiet_probe(sys, &shared, ACT_REF_NONE, false); /* a request pending */
    act_ref client = quiet_probe(sys, &shared, ACT_REF_NONE, true);
    count += 2;
    probe_request req = {.to = server, .type = PROBE_HOLD, .timeout_ms = 60000};
    EXPECT_ERR(act_send_data(sys, client, ACT_REF_NONE, PROBE_REQUEST, &req, sizeof(req)), TK_OK);
    act_stats stats;
    act_stats_read(sys, &stats);
    assert_int_equal(stats.live, count);
    uint64_t t0 = test_now_ns();
    act_system_close(sys);
    uint64_t took_ms = (test_now_ns() - t0) / 1000000u;
    assert_int_equal(atomic_load(&shared.inits), count);
    assert_int_equal(atomic_load(&shared.terminates), count);
    assert_int_equal(atomic_load(&shared.term_kinds[ACT_REASON_SHUTDOWN]), count);
    assert_true(took_ms < 5000u);
}

static void test_close_live_actors(void **state)
{
    (void)state;
    close_live_actors(1);
    close_live_actors(2);
}

/* Two actors bouncing messages between them for ever. */
typedef struct bouncer {
    probe_shared *shared;
} bouncer;

static tk_err bouncer_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((bouncer *)state)->shared = (probe_shared *)(uintptr_t)arg;
    return TK_OK;
}

static tk_err bouncer_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    act_ref back = msg->sender;
    msg->sender = act_self(ctx);
    tk_err err = act_send(act_ctx_system(ctx), back, msg); /* moved on */
    if (err == TK_EFULL) return TK_OK;                     /* dropped, freed after return */
    if (err == TK_ESTALE) return TK_OK;
    return err;
}

static void bouncer_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    probe_shared *shared = ((bouncer *)state)->shared;
    atomic_fetch_add(&shared->terminates, 1);
    atomic_fetch_add(&shared->term_kinds[reason->kind], 1);
}

static const act_behaviour bouncer_behaviour = {.name = "bouncer",
                                                .init = bouncer_init,
                                                .handle = bouncer_handle,
                                                .terminate = bouncer_terminate};

static void test_close_while_busy(void **state)
{
    (void)state;
    for (uint32_t threads = 1; threads <= 2; threads++) {
        act_system_opts opts = act_test_opts(threads);
        act_system *sys = act_test_open(&opts);
        static probe_shared shared;
        memset(&shared, 0, sizeof(shared));
        act_spawn_opts spawn = {.behaviour = &bouncer_behaviour,
                                .state_size_bytes = sizeof(bouncer),
                                .arg = &shared,
                                .mailbox_capacity = 32};
        enum { PAIRS = 8 };
        for (int p = 0; p < PAIRS; p++) {
            act_ref a;
            act_ref b;
            EXPECT_ERR(act_spawn(sys, &spawn, &a), TK_OK);
            EXPECT_ERR(act_spawn(sys, &spawn, &b), TK_OK);
            for (int i = 0; i < 16; i++) {
                EXPECT_ERR(act_send_data(sys, a, b, PROBE_PING, NULL, 0), TK_OK);
            }
        }
        act_system_close(sys);
        assert_int_equal(atomic_load(&shared.terminates), 2 * PAIRS);
        assert_int_equal(atomic_load(&shared.term_kinds[ACT_REASON_SHUTDOWN]), 2 * PAIRS);
    }
}

static void test_spawn_refused_during_close(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(2);
    act_system *sys = act_test_open(&opts);
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = {
        .report = ACT_REF_NONE, .shared = &shared, .quiet = true, .terminate_spawns = true};
    (void)probe_spawn(sys, &cfg, 8, ACT_REF_NONE, false);
    act_system_close(sys);
    assert_int_equal(atomic_load(&shared.terminates), 1);
    uint32_t recorded = atomic_load(&shared.spawn_in_terminate);
    assert_true(recorded != 0);
    tk_err err = (tk_err)(recorded - 1u);
    if (err == TK_OK) fail_msg("act_spawn succeeded during act_system_close");
    EXPECT_ERR(err, TK_ESTALE);
}

static void test_close_empty_and_after_churn(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(2);
    act_system *sys = act_test_open(&opts);
    act_system_close(sys); /* nothing ever ran */
    sys = act_test_open(&opts);
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    for (int i = 0; i < 50; i++) {
        act_ref ref = quiet_probe(sys, &shared, ACT_REF_NONE, false);
        if (i % 2 == 0) probe_cmd_u32(&(act_fixture){.sys = sys}, ref, PROBE_STOP, 0);
    }
    act_system_close(sys); /* some exiting on their own as close starts */
    assert_int_equal(atomic_load(&shared.terminates), 50);
}

int act_test_close(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_live_actors),
        cmocka_unit_test(test_close_while_busy),
        cmocka_unit_test(test_spawn_refused_during_close),
        cmocka_unit_test(test_close_empty_and_after_churn),
    };
    return cmocka_run_group_tests_name("actors/close", tests, NULL, NULL);
}
