/* Process groups: join, leave, members, broadcast (one copy per member, full members skipped
 * and counted), members leaving on exit, name bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "actors_tests.h"

static bool members_hold(const act_ref *members, uint32_t count, act_ref ref)
{
    for (uint32_t i = 0; i < count; i++) {
        if (act_ref_eq(members[i], ref)) return true;
    }
    return false;
}

static void test_join_leave_members(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    act_ref b = probe_start(f);
    act_ref members[4];
    uint32_t count = 99;
    act_group_members(f->sys, "g", members, 4, &count);
    assert_int_equal(count, 0); /* unknown group */
    EXPECT_ERR(act_group_join(f->sys, "g", a), TK_OK);
    EXPECT_ERR(act_group_join(f->sys, "g", b), TK_OK);
    EXPECT_ERR(act_group_join(f->sys, "g", a), TK_OK); /* twice: one membership */
    act_group_members(f->sys, "g", members, 4, &count);
    assert_int_equal(count, 2);
    assert_true(members_hold(members, count, a));
    assert_true(members_hold(members, count, b));
    /* capacity below the size: the size is still reported */
    act_ref one[1] = {ACT_REF_NONE};
    act_group_members(f->sys, "g", one, 1, &count);
    assert_int_equal(count, 2);
    assert_true(act_ref_eq(one[0], a) || act_ref_eq(one[0], b));
    act_group_members(f->sys, "g", NULL, 0, &count);
    assert_int_equal(count, 2);
    /* leave */
    EXPECT_ERR(act_group_leave(f->sys, "g", a), TK_OK);
    EXPECT_ERR(act_group_leave(f->sys, "g", a), TK_ENOENT); /* one membership, gone */
    EXPECT_ERR(act_group_leave(f->sys, "other", b), TK_ENOENT);
    act_group_members(f->sys, "g", members, 4, &count);
    assert_int_equal(count, 1);
    EXPECT_REF_EQ(members[0], b);
    EXPECT_ERR(act_group_leave(f->sys, "g", b), TK_OK);
    act_group_members(f->sys, "g", members, 4, &count);
    assert_int_equal(count, 0);
    /* rejoin after the group emptied */
    EXPECT_ERR(act_group_join(f->sys, "g", b), TK_OK);
    act_group_members(f->sys, "g", members, 4, &count);
    assert_int_equal(count, 1);
    /* one actor in several groups */
    EXPECT_ERR(act_group_join(f->sys, "h", b), TK_OK);
    act_group_members(f->sys, "h", members, 4, &count);
    assert_int_equal(count, 1);
    EXPECT_REF_EQ(members[0], b);
}

static void test_group_name_bounds(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    char longest[ACT_NAME_BYTES_MAX + 1u];
    memset(longest, 'g', ACT_NAME_BYTES_MAX);
    longest[ACT_NAME_BYTES_MAX] = '\0';
    char too_long[ACT_NAME_BYTES_MAX + 2u];
    memset(too_long, 'g', ACT_NAME_BYTES_MAX + 1u);
    too_long[ACT_NAME_BYTES_MAX + 1u] = '\0';
    EXPECT_ERR(act_group_join(f->sys, "", a), TK_EINVAL);
    EXPECT_ERR(act_group_join(f->sys, NULL, a), TK_EINVAL);
    EXPECT_ERR(act_group_join(f->sys, too_long, a), TK_EINVAL);
    uint32_t delivered = 7;
    uint32_t skipped = 7;
    EXPECT_ERR(act_group_broadcast(f->sys, too_long, f->port_ref, PROBE_PING, NULL, 0, &delivered,
                                   &skipped),
               TK_EINVAL);
    EXPECT_ERR(act_group_broadcast(f->sys, "", f->port_ref, PROBE_PING, NULL, 0, NULL, NULL),
               TK_EINVAL);
    uint32_t count = 9;
    act_group_members(f->sys, too_long, NULL, 0, &count);
    assert_int_equal(count, 0);
    EXPECT_ERR(act_group_leave(f->sys, too_long, a), TK_ENOENT);
    EXPECT_ERR(act_group_join(f->sys, "x", a), TK_OK);
    EXPECT_ERR(act_group_join(f->sys, longest, a), TK_OK);
    act_group_members(f->sys, longest, NULL, 0, &count);
    assert_int_equal(count, 1);
    EXPECT_ERR(act_group_broadcast(f->sys, longest, f->port_ref, PROBE_PING, NULL, 0, &delivered,
                                   &skipped),
               TK_OK);
    assert_int_equal(delivered, 1);
    assert_int_equal(skipped, 0);
    (void)expect_msg(f, a, PROBE_PING);
}

static void test_broadcast(void **state)
{
    act_fixture *f = *state;
    act_ref refs[3];
    for (size_t i = 0; i < 3; i++) {
        refs[i] = probe_start(f);
        EXPECT_ERR(act_group_join(f->sys, "feed", refs[i]), TK_OK);
    }
    EXPECT_ERR(act_group_join(f->sys, "feed", refs[1]), TK_OK); /* twice: still one copy */
    act_ref outsider = probe_start(f);
    const char payload[] = "tick 42";
    uint32_t delivered = 0;
    uint32_t skipped = 99;
    EXPECT_ERR(act_group_broadcast(f->sys, "feed", f->port_ref, PROBE_PING, payload,
                                   sizeof(payload), &delivered, &skipped),
               TK_OK);
    assert_int_equal(delivered, 3);
    assert_int_equal(skipped, 0);
    bool got[3] = {false};
    for (size_t n = 0; n < 3; n++) {
        probe_event ev = expect_event(f, PROBE_EV_MSG);
        assert_int_equal(ev.type, PROBE_PING);
        EXPECT_REF_EQ(ev.sender, f->port_ref);
        assert_int_equal(ev.size_bytes, sizeof(payload));
        assert_memory_equal(ev.data, payload, sizeof(payload));
        size_t i = 0;
        while (i < 3 && !act_ref_eq(ev.self, refs[i]))
            i++;
        if (i == 3) fail_msg("a copy reached slot %u, not a member", ev.self.slot);
        if (got[i]) fail_msg("member %zu got two copies", i);
        got[i] = true;
    }
    expect_port_quiet(f, 20);
    /* Counts may be NULL; a full inline payload goes; an oversized one does not. */
    unsigned char big[ACT_MSG_INLINE_BYTES + 1u];
    memset(big, 0xB5, sizeof(big));
    EXPECT_ERR(act_group_broadcast(f->sys, "feed", ACT_REF_NONE, PROBE_PING, big,
                                   ACT_MSG_INLINE_BYTES + 1u, NULL, NULL),
               TK_EINVAL);
    EXPECT_ERR(act_group_broadcast(f->sys, "feed", ACT_REF_NONE, PROBE_PING, big,
                                   ACT_MSG_INLINE_BYTES, NULL, NULL),
               TK_OK);
    for (size_t n = 0; n < 3; n++) {
        probe_event ev = expect_event(f, PROBE_EV_MSG);
        assert_int_equal(ev.size_bytes, ACT_MSG_INLINE_BYTES);
        assert_memory_equal(ev.data, big, ACT_MSG_INLINE_BYTES);
        assert_false(act_ref_eq(ev.self, outsider));
    }
    /* Unknown group: nothing, and TK_OK. */
    delivered = 5;
    skipped = 5;
    EXPECT_ERR(act_group_broadcast(f->sys, "nobody", f->port_ref, PROBE_PING, NULL, 0, &delivered,
                                   &skipped),
               TK_OK);
    assert_int_equal(delivered, 0);
    assert_int_equal(skipped, 0);
    expect_port_quiet(f, 20);
}

static void test_broadcast_skips_full(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_ref full = probe_spawn(f->sys, &cfg, 2, ACT_REF_NONE, false);
    (void)expect_init(f, full);
    act_ref ok = probe_start(f);
    EXPECT_ERR(act_group_join(f->sys, "g", full), TK_OK);
    EXPECT_ERR(act_group_join(f->sys, "g", ok), TK_OK);
    /* Hold `full` in a handler and fill its mailbox. */
    probe_cmd(f, full, PROBE_GATE, NULL, 0);
    wait_gate_entered(&shared, 1);
    uint32_t queued = 0;
    for (;; queued++) {
        tk_err err = act_send_data(f->sys, full, f->port_ref, PROBE_PING, &queued, sizeof(queued));
        if (err == TK_EFULL) break;
        EXPECT_ERR(err, TK_OK);
        assert_true(queued < 2);
    }
    act_stats before;
    act_stats_read(f->sys, &before);
    uint32_t delivered = 0;
    uint32_t skipped = 0;
    EXPECT_ERR(
        act_group_broadcast(f->sys, "g", f->port_ref, PROBE_ANSWER, NULL, 0, &delivered, &skipped),
        TK_OK);
    assert_int_equal(delivered, 1);
    assert_int_equal(skipped, 1);
    (void)expect_msg(f, ok, PROBE_ANSWER);
    atomic_store(&shared.gate, 1);
    for (uint32_t i = 0; i < queued; i++) {
        (void)expect_msg(f, full, PROBE_PING); /* and never the skipped broadcast */
    }
    expect_port_quiet(f, 20);
}

static void test_members_leave_on_exit(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    act_ref b = probe_start(f);
    EXPECT_ERR(act_group_join(f->sys, "g1", a), TK_OK);
    EXPECT_ERR(act_group_join(f->sys, "g1", b), TK_OK);
    EXPECT_ERR(act_group_join(f->sys, "g2", a), TK_OK);
    uint64_t down = port_monitor(f, a);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, a, &kill), TK_OK);
    (void)expect_down(f, down, a);
    act_ref members[4];
    uint32_t count = 0;
    act_group_members(f->sys, "g1", members, 4, &count);
    assert_int_equal(count, 1);
    EXPECT_REF_EQ(members[0], b);
    act_group_members(f->sys, "g2", members, 4, &count);
    assert_int_equal(count, 0);
    uint32_t delivered = 9;
    uint32_t skipped = 9;
    EXPECT_ERR(
        act_group_broadcast(f->sys, "g2", f->port_ref, PROBE_PING, NULL, 0, &delivered, &skipped),
        TK_OK);
    assert_int_equal(delivered, 0);
    assert_int_equal(skipped, 0);
    EXPECT_ERR(act_group_leave(f->sys, "g1", a), TK_ENOENT);
    EXPECT_ERR(act_group_join(f->sys, "g1", a), TK_ESTALE);
    /* b goes normally; g1 is then empty. */
    down = port_monitor(f, b);
    probe_cmd_u32(f, b, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, b, PROBE_STOP);
    (void)expect_term(f, b, ACT_REASON_NORMAL);
    (void)expect_down(f, down, b);
    act_group_members(f->sys, "g1", members, 4, &count);
    assert_int_equal(count, 0);
}

static void test_big_group(void **state)
{
    act_fixture *f = *state;
    enum { MEMBERS = 500 };
    probe_cfg cfg = probe_cfg_for(f);
    cfg.quiet = true;
    static act_ref refs[MEMBERS];
    for (size_t i = 0; i < MEMBERS; i++) {
        refs[i] = probe_spawn(f->sys, &cfg, 4, ACT_REF_NONE, false);
        EXPECT_ERR(act_group_join(f->sys, "big", refs[i]), TK_OK);
    }
    uint32_t count = 0;
    static act_ref members[MEMBERS];
    act_group_members(f->sys, "big", members, MEMBERS, &count);
    assert_int_equal(count, MEMBERS);
    for (size_t i = 0; i < MEMBERS; i++) {
        assert_true(members_hold(members, count, refs[i]));
    }
    for (size_t i = 0; i < MEMBERS; i += 2) {
        EXPECT_ERR(act_group_leave(f->sys, "big", refs[i]), TK_OK);
    }
    act_group_members(f->sys, "big", members, MEMBERS, &count);
    assert_int_equal(count, MEMBERS / 2);
    for (size_t i = 0; i < MEMBERS; i++) {
        assert_int_equal(members_hold(members, count, refs[i]), i % 2 != 0);
    }
    uint32_t delivered = 0;
    EXPECT_ERR(
        act_group_broadcast(f->sys, "big", ACT_REF_NONE, PROBE_PING, NULL, 0, &delivered, NULL),
        TK_OK);
    assert_int_equal(delivered, MEMBERS / 2);
}

int act_test_groups(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST(test_join_leave_members),
        ACT_TEST(test_group_name_bounds),
        ACT_TEST_THREADS(test_broadcast),
        ACT_TEST(test_broadcast_skips_full),
        ACT_TEST_THREADS(test_members_leave_on_exit),
        ACT_TEST(test_big_group),
    };
    return cmocka_run_group_tests_name("actors/groups", tests, NULL, NULL);
}
