/* Spawn/exit churn: 100,000 actors in waves of 10,000 live, each wave ended four ways (stop,
 * shutdown signal, kill, handler error), some pairs linked. The live count returns to its
 * baseline after every wave, slots are reused (actors_max is below the total), and
 * LeakSanitizer checks at exit that nothing was left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdlib.h>
#include <string.h>

#include "actors_tests.h"

#define CHURN_WAVE       10000u
#define CHURN_WAVES      10u
#define CHURN_ACTORS_MAX (CHURN_WAVE + CHURN_WAVE / 2u) /* below the total spawned */

#define CHURN_STOP (ACT_MSG_USER + 900)
#define CHURN_FAIL (ACT_MSG_USER + 901)

typedef struct churn_shared {
    _Atomic uint32_t inits;
    _Atomic uint32_t terminates;
    _Atomic uint32_t slot_max;
} churn_shared;

typedef struct churn_state {
    churn_shared *shared;
    uint64_t payload[2]; /* some state to allocate and free */
} churn_state;

static tk_err churn_init(act_ctx *ctx, void *state, const void *arg)
{
    churn_state *st = state;
    st->shared = (churn_shared *)(uintptr_t)arg;
    atomic_fetch_add_explicit(&st->shared->inits, 1, memory_order_relaxed);
    uint32_t slot = act_self(ctx).slot;
    uint32_t max = atomic_load_explicit(&st->shared->slot_max, memory_order_relaxed);
    while (slot > max && !atomic_compare_exchange_weak(&st->shared->slot_max, &max, slot)) {
    }
    return TK_OK;
}

static tk_err churn_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    if (msg->type == CHURN_STOP) act_stop(ctx, ACT_REASON_NORMAL);
    if (msg->type == CHURN_FAIL) return act_fail(ctx, TK_EIO, "churn");
    return TK_OK;
}

static void churn_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    (void)reason;
    churn_state *st = state;
    atomic_fetch_add_explicit(&st->shared->terminates, 1, memory_order_relaxed);
}

static const act_behaviour churn_behaviour = {
    .name = "churn", .init = churn_init, .handle = churn_handle, .terminate = churn_terminate};

/* End actor i of a wave: i % 4 picks the way. Actors 4k+1 are linked to 4k (see spawn): the
 * stop of 4k is NORMAL and does not reach them; a link never carries a kill here. */
static void churn_end(act_system *sys, act_ref ref, uint32_t i)
{
    act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    tk_err err = TK_OK;
    switch (i % 4u) {
    case 0:
        err = act_send_data(sys, ref, ACT_REF_NONE, CHURN_STOP, NULL, 0);
        break;
    case 1:
        err = act_exit(sys, ACT_REF_NONE, ref, &shutdown);
        break;
    case 2:
        err = act_exit(sys, ACT_REF_NONE, ref, &kill);
        break;
    default:
        err = act_send_data(sys, ref, ACT_REF_NONE, CHURN_FAIL, NULL, 0);
        break;
    }
    if (err != TK_OK) fail_msg("ending actor %u: %s", i, tk_err_name(err));
}

static void test_churn(void **state)
{
    act_fixture *f = *state;
    (void)f;
    act_system_opts opts = act_test_opts(f->threads);
    opts.actors_max = CHURN_ACTORS_MAX;
    act_system *sys = act_test_open(&opts);
    churn_shared shared = {0};
    act_ref *refs = calloc(CHURN_WAVE, sizeof(*refs));
    assert_non_null(refs);
    act_stats base;
    act_stats_read(sys, &base);
    uint64_t t0 = test_now_ns();
    for (uint32_t wave = 0; wave < CHURN_WAVES; wave++) {
        for (uint32_t i = 0; i < CHURN_WAVE; i++) {
            act_spawn_opts spawn = {.behaviour = &churn_behaviour,
                                    .state_size_bytes = sizeof(churn_state),
                                    .arg = &shared,
                                    .mailbox_capacity = 4,
                                    .link_to = i % 4u == 1u ? refs[i - 1u] : ACT_REF_NONE};
            tk_err err = act_spawn(sys, &spawn, &refs[i]);
            if (err != TK_OK) fail_msg("wave %u, spawn %u: %s", wave, i, tk_err_name(err));
        }
        act_stats stats;
        act_stats_read(sys, &stats);
        assert_int_equal(stats.live, base.live + CHURN_WAVE);
        for (uint32_t i = 0; i < CHURN_WAVE; i++) {
            churn_end(sys, refs[i], i);
        }
        if (!wait_live(sys, base.live, 20000)) {
            act_stats_read(sys, &stats);
            fail_msg("wave %u: %llu actors still live", wave,
                     (unsigned long long)(stats.live - base.live));
        }
    }
    uint64_t took_ms = (test_now_ns() - t0) / 1000000u;
    act_stats stats;
    act_stats_read(sys, &stats);
    uint32_t total = CHURN_WAVE * CHURN_WAVES;
    assert_int_equal(stats.spawned - base.spawned, total);
    assert_int_equal(stats.exited - base.exited, total);
    assert_int_equal(stats.live, base.live);
    assert_int_equal(atomic_load(&shared.inits), total);
    assert_int_equal(atomic_load(&shared.terminates), total - total / 4u); /* all but kills */
    assert_true(atomic_load(&shared.slot_max) < CHURN_ACTORS_MAX);         /* slots were reused */
    assert_true(total > CHURN_ACTORS_MAX);
    print_message("churn: %u actors on %u thread(s) in %llu ms\n", total, f->threads,
                  (unsigned long long)took_ms);
    free(refs);
    act_system_close(sys);
}

/* An actor that spawns children which exit at once, linked to it: spawn and exit from
 * scheduler threads, with the EXIT signals of every child coming back to the spawner. */
#define SPAWNER_GO   (ACT_MSG_USER + 910)
#define SPAWNER_DONE (ACT_MSG_USER + 911)

#define SPAWNER_CHILDREN 20000u

typedef struct spawner {
    act_ref report;
    uint32_t spawned;
    uint32_t exits;
} spawner;

static tk_err child_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)state;
    (void)arg;
    act_stop(ctx, ACT_REASON_SHUTDOWN); /* gone as soon as it is born */
    return TK_OK;
}

static tk_err child_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)ctx;
    (void)state;
    (void)msg;
    return TK_OK;
}

static const act_behaviour child_behaviour = {
    .name = "child", .init = child_init, .handle = child_handle};

static tk_err spawner_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((spawner *)state)->report = *(const act_ref *)arg;
    return TK_OK;
}

static tk_err spawner_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    spawner *st = state;
    act_system *sys = act_ctx_system(ctx);
    if (msg->type == ACT_MSG_EXIT) {
        st->exits++;
    } else if (msg->type == SPAWNER_GO) {
        for (uint32_t n = 0; n < 100u && st->spawned < SPAWNER_CHILDREN; n++) {
            act_spawn_opts opts = {.behaviour = &child_behaviour,
                                   .state_size_bytes = 16,
                                   .mailbox_capacity = 2,
                                   .link_to = act_self(ctx)};
            act_ref child;
            tk_err err = act_spawn(sys, &opts, &child);
            if (err != TK_OK) return act_fail(ctx, err, "spawn %u", st->spawned);
            st->spawned++;
        }
        if (st->spawned < SPAWNER_CHILDREN) {
            tk_err err = act_send_data(sys, act_self(ctx), act_self(ctx), SPAWNER_GO, NULL, 0);
            if (err != TK_OK) return act_fail(ctx, err, "go on");
            act_yield(ctx); /* the next turn takes the children's EXITs before going on */
        }
    }
    if (st->exits == SPAWNER_CHILDREN) {
        tk_err err = act_send_data(sys, st->report, act_self(ctx), SPAWNER_DONE, &st->spawned,
                                   sizeof(st->spawned));
        if (err != TK_OK) return act_fail(ctx, err, "report");
    }
    return TK_OK;
}

static const act_behaviour spawner_behaviour = {
    .name = "spawner", .init = spawner_init, .handle = spawner_handle};

static void test_churn_from_actor(void **state)
{
    act_fixture *f = *state;
    act_stats base;
    act_stats_read(f->sys, &base);
    act_spawn_opts opts = {.behaviour = &spawner_behaviour,
                           .state_size_bytes = sizeof(spawner),
                           .arg = &f->port_ref,
                           .mailbox_capacity = 1024, /* 100 EXITs pending at most */
                           .trap_exit = true};
    act_ref ref;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
    EXPECT_ERR(act_send_data(f->sys, ref, ACT_REF_NONE, SPAWNER_GO, NULL, 0), TK_OK);
    act_msg *msg = NULL;
    EXPECT_ERR(act_port_receive(f->port, 30000, &msg), TK_OK);
    assert_int_equal(msg->type, SPAWNER_DONE);
    uint32_t spawned;
    memcpy(&spawned, msg->data, sizeof(spawned));
    act_msg_free(f->sys, msg);
    assert_int_equal(spawned, SPAWNER_CHILDREN);
    assert_true(wait_live(f->sys, base.live + 1u, ACT_TEST_WAIT_MS)); /* the spawner */
    assert_true(SPAWNER_CHILDREN > 1024u); /* the fixture's actors_max: slots were reused */
}

int act_test_churn(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST_THREADS(test_churn),
        ACT_TEST_THREADS(test_churn_from_actor),
    };
    return cmocka_run_group_tests_name("actors/churn", tests, NULL, NULL);
}
