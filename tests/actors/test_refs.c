/* Actor refs: a dead ref, a ref whose slot a later actor holds, ACT_REF_NONE and refs outside
 * the table are all TK_ESTALE (or NOPROC for monitors), never someone else's actor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "actors_tests.h"

static void test_send_to_dead_ref(void **state)
{
    act_fixture *f = *state;
    act_ref ref = probe_start(f);
    probe_cmd_u32(f, ref, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, ref, PROBE_STOP);
    (void)expect_term(f, ref, ACT_REASON_NORMAL);
    (void)wait_exit(f, ref);
    act_stats before;
    act_stats_read(f->sys, &before);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_PING;
    msg->size_bytes = 3;
    memcpy(msg->data, "abc", 3);
    EXPECT_ERR(act_send(f->sys, ref, msg), TK_ESTALE);
    /* still the caller's, unchanged */
    assert_int_equal(msg->type, PROBE_PING);
    assert_memory_equal(msg->data, "abc", 3);
    EXPECT_ERR(act_send(f->sys, ref, msg), TK_ESTALE);
    act_msg_free(f->sys, msg);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, "x", 1), TK_ESTALE);
    act_stats after;
    act_stats_read(f->sys, &after);
    assert_int_equal(after.sends_stale - before.sends_stale, 3);
    expect_port_quiet(f, 0);
}

/* The ref must reach neither the new occupant of its slot nor any of its tables. */
static void expect_stale_everywhere(const act_fixture *f, act_ref stale)
{
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_PING;
    EXPECT_ERR(act_send(f->sys, stale, msg), TK_ESTALE);
    act_msg_free(f->sys, msg);
    EXPECT_ERR(act_send_data(f->sys, stale, f->port_ref, PROBE_PING, NULL, 0), TK_ESTALE);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, stale, &kill), TK_ESTALE);
    EXPECT_ERR(act_link(f->sys, f->port_ref, stale), TK_ESTALE);
    EXPECT_ERR(act_link(f->sys, stale, f->port_ref), TK_ESTALE);
    act_unlink(f->sys, f->port_ref, stale); /* no-op */
    EXPECT_ERR(act_register(f->sys, "stale-name", stale), TK_ESTALE);
    EXPECT_ERR(act_group_join(f->sys, "stale-group", stale), TK_ESTALE);
    EXPECT_ERR(act_group_leave(f->sys, "stale-group", stale), TK_ENOENT);
    uint64_t id = 0;
    EXPECT_ERR(act_monitor(f->sys, stale, f->port_ref, &id), TK_ESTALE); /* dead watcher */
    act_demonitor(f->sys, stale, 12345);                                 /* no-op */
    /* Monitoring the stale ref gives NOPROC at once, not a monitor on the slot's occupant. */
    act_reason reason;
    EXPECT_ERR(act_port_wait_exit(f->port, stale, ACT_TEST_WAIT_MS, &reason), TK_OK);
    EXPECT_KIND(reason.kind, ACT_REASON_NOPROC);
    act_msg *reply = NULL;
    msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_ASK;
    EXPECT_ERR(act_call(f->port, stale, msg, 1000, &reply), TK_ESTALE);
    assert_null(reply);
    act_msg_free(f->sys, msg); /* act_call failed: still ours */
}

static void test_stale_after_slot_reuse(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(2);
    opts.actors_max = 9; /* the port and 8 actors: reuse is forced */
    act_fixture f;
    act_fixture_open(&f, &opts);
    act_ref old = probe_start(&f);
    probe_cmd_u32(&f, old, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(&f, old, PROBE_STOP);
    (void)expect_term(&f, old, ACT_REASON_NORMAL);
    (void)wait_exit(&f, old);
    assert_true(wait_live(f.sys, 1, ACT_TEST_WAIT_MS)); /* its slot is free again */
    act_ref fresh[8];
    uint32_t spawned = 0;
    act_ref heir = ACT_REF_NONE;
    for (; spawned < opts.actors_max - 1u && act_ref_is_none(heir); spawned++) {
        fresh[spawned] = probe_start(&f);
        if (fresh[spawned].slot == old.slot) heir = fresh[spawned];
    }
    if (act_ref_is_none(heir)) fail_msg("slot %u was not reused by %u spawns", old.slot, spawned);
    assert_true(heir.gen != old.gen);
    assert_false(act_ref_eq(heir, old));
    expect_stale_everywhere(&f, old);
    /* The heir received nothing meant for the old ref: its first message is this ping. */
    probe_cmd_u32(&f, heir, PROBE_PING, 42);
    probe_event ev = expect_msg(&f, heir, PROBE_PING);
    uint32_t seq;
    memcpy(&seq, ev.data, sizeof(seq));
    assert_int_equal(seq, 42);
    act_ref named;
    EXPECT_ERR(act_whereis(f.sys, "stale-name", &named), TK_ENOENT);
    uint32_t members = 99;
    act_group_members(f.sys, "stale-group", NULL, 0, &members);
    assert_int_equal(members, 0);
    expect_port_quiet(&f, 0);
    act_fixture_close(&f);
}

static void test_ref_none(void **state)
{
    act_fixture *f = *state;
    assert_true(act_ref_is_none(ACT_REF_NONE));
    assert_true(act_ref_eq(ACT_REF_NONE, ACT_REF_NONE));
    assert_false(act_ref_is_none(f->port_ref));
    assert_false(act_ref_eq(f->port_ref, ACT_REF_NONE));
    assert_true(act_ref_is_none((act_ref){.slot = 5, .gen = 0})); /* gen 0 is never an actor */
    expect_stale_everywhere(f, ACT_REF_NONE);
    expect_stale_everywhere(f, (act_ref){.slot = f->port_ref.slot, .gen = 0});
}

static void test_ref_out_of_range(void **state)
{
    act_fixture *f = *state;
    act_ref live = probe_start(f);
    const act_ref bad[] = {
        {.slot = UINT32_MAX, .gen = 1},
        {.slot = UINT32_MAX, .gen = live.gen},
        {.slot = 1024, .gen = 1}, /* actors_max: one past the table */
        {.slot = 1000, .gen = 1}, /* in the table, never used */
        {.slot = live.slot, .gen = live.gen + 1u},
        {.slot = live.slot, .gen = UINT32_MAX},
        {.slot = live.slot + 1u, .gen = live.gen},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_stale_everywhere(f, bad[i]);
    }
    /* The live actor in the probed slot was not touched. */
    probe_cmd_u32(f, live, PROBE_PING, 7);
    (void)expect_msg(f, live, PROBE_PING);
    expect_port_quiet(f, 0);
}

int act_test_refs(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST(test_send_to_dead_ref),
        cmocka_unit_test(test_stale_after_slot_reuse),
        ACT_TEST(test_ref_none),
        ACT_TEST(test_ref_out_of_range),
    };
    return cmocka_run_group_tests_name("actors/refs", tests, NULL, NULL);
}
