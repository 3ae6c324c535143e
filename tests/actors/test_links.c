/* Links and exit signals with OTP's rules: normal is ignored unless trapping, other reasons
 * propagate, kill is untrappable and becomes killed, trapping turns signals into
 * ACT_MSG_EXIT; chains die together; unlink stops propagation; spawn with link_to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdio.h>
#include <string.h>

#include "actors_tests.h"

static act_ref spawn_probe(const act_fixture *f, bool trap_exit, act_ref link_to)
{
    probe_cfg cfg = probe_cfg_for(f);
    act_ref ref = probe_spawn(f->sys, &cfg, 64, link_to, trap_exit);
    (void)expect_init(f, ref);
    return ref;
}

/* ref is alive and well: it handles a ping (and reports it next). */
static void expect_alive(const act_fixture *f, act_ref ref)
{
    probe_cmd_u32(f, ref, PROBE_PING, 0);
    (void)expect_msg(f, ref, PROBE_PING);
}

static void expect_reason(const act_reason *got, const act_reason *want)
{
    EXPECT_KIND(got->kind, want->kind);
    EXPECT_ERR(got->err, want->err);
    assert_string_equal(got->detail, want->detail);
}

/* The next event is ref handling an ACT_MSG_EXIT about `from` with that reason kind. */
static act_exit_info expect_exit_event(const act_fixture *f, act_ref ref, act_ref from,
                                       act_reason_kind kind)
{
    probe_event ev = expect_msg(f, ref, ACT_MSG_EXIT);
    act_exit_info info = exit_info_of(ev.data);
    assert_int_equal(ev.size_bytes, sizeof(act_exit_info));
    EXPECT_REF_EQ(info.from, from);
    EXPECT_REF_EQ(ev.sender, from);
    EXPECT_KIND(info.reason.kind, kind);
    return info;
}

static void test_link_normal_ignored(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref b = spawn_probe(f, false, ACT_REF_NONE);
    EXPECT_ERR(act_link(f->sys, a, b), TK_OK);
    probe_cmd_u32(f, a, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, a, PROBE_STOP);
    (void)expect_term(f, a, ACT_REASON_NORMAL);
    (void)wait_exit(f, a);
    expect_alive(f, b); /* a TERM from b would come first */
    /* A trapping peer is told about the normal exit. */
    act_ref c = spawn_probe(f, true, b);
    probe_cmd_u32(f, b, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, b, PROBE_STOP);
    (void)expect_term(f, b, ACT_REASON_NORMAL);
    (void)expect_exit_event(f, c, b, ACT_REASON_NORMAL);
    expect_alive(f, c);
}

static void test_link_propagates_reason(void **state)
{
    act_fixture *f = *state;
    /* SHUTDOWN */
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref b = spawn_probe(f, false, a);
    probe_cmd_u32(f, a, PROBE_STOP, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, a, PROBE_STOP);
    (void)expect_term(f, a, ACT_REASON_SHUTDOWN);
    (void)expect_term(f, b, ACT_REASON_SHUTDOWN);
    /* ERROR, with its code and detail, in both directions of the link */
    a = spawn_probe(f, false, ACT_REF_NONE);
    b = spawn_probe(f, false, ACT_REF_NONE);
    EXPECT_ERR(act_link(f->sys, a, b), TK_OK);
    probe_cmd_u32(f, b, PROBE_FAIL, TK_ECORRUPT);
    (void)expect_msg(f, b, PROBE_FAIL);
    probe_event term_b = expect_term(f, b, ACT_REASON_ERROR);
    probe_event term_a = expect_term(f, a, ACT_REASON_ERROR);
    expect_reason(&term_a.reason, &term_b.reason);
    EXPECT_ERR(term_a.reason.err, TK_ECORRUPT);
}

static void test_link_kill(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref b = spawn_probe(f, false, a); /* not trapping */
    act_ref c = spawn_probe(f, true, a);  /* trapping */
    act_ref d = spawn_probe(f, true, b);  /* trapping, watches b */
    uint64_t down_a = port_monitor(f, a);
    uint64_t down_b = port_monitor(f, b);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, a, &kill), TK_OK);
    /* a exits KILLED; killed propagates as killed to b; c and d trap it and live. No
     * terminate runs for a or b (a TERM event would not match). */
    const port_expect want[] = {
        {.is_down = true, .id = down_a, .from = a, .kind = ACT_REASON_KILLED},
        {.is_down = true, .id = down_b, .from = b, .kind = ACT_REASON_KILLED},
        {.self = c, .from = a, .kind = ACT_REASON_KILLED},
        {.self = d, .from = b, .kind = ACT_REASON_KILLED},
    };
    expect_unordered(f, want, sizeof(want) / sizeof(want[0]));
    expect_alive(f, c);
    expect_alive(f, d);
    expect_port_quiet(f, 0);
}

static void test_trap_exit(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref t = spawn_probe(f, true, a);
    probe_cmd_u32(f, a, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, a, PROBE_FAIL);
    probe_event term = expect_term(f, a, ACT_REASON_ERROR);
    act_exit_info info = expect_exit_event(f, t, a, ACT_REASON_ERROR);
    expect_reason(&info.reason, &term.reason);
    expect_alive(f, t);
    /* Trapping turned off at run time: the next linked error takes t down. */
    act_ref d = spawn_probe(f, false, t);
    probe_cmd_u32(f, t, PROBE_TRAP, 0);
    (void)expect_msg(f, t, PROBE_TRAP);
    probe_cmd_u32(f, d, PROBE_FAIL, TK_EPERM);
    (void)expect_msg(f, d, PROBE_FAIL);
    (void)expect_term(f, d, ACT_REASON_ERROR);
    probe_event t_term = expect_term(f, t, ACT_REASON_ERROR);
    EXPECT_ERR(t_term.reason.err, TK_EPERM);
    /* And turned on at run time. */
    act_ref e = spawn_probe(f, false, ACT_REF_NONE);
    act_ref g = spawn_probe(f, false, e);
    probe_cmd_u32(f, g, PROBE_TRAP, 1);
    (void)expect_msg(f, g, PROBE_TRAP);
    probe_cmd_u32(f, e, PROBE_STOP, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, e, PROBE_STOP);
    (void)expect_term(f, e, ACT_REASON_SHUTDOWN);
    (void)expect_exit_event(f, g, e, ACT_REASON_SHUTDOWN);
    expect_alive(f, g);
}

static void test_exit_signal(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref t = spawn_probe(f, true, ACT_REF_NONE);
    /* NORMAL to a non-trapping actor: ignored. To a trapping one: a message. */
    act_reason normal = act_reason_of(ACT_REASON_NORMAL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, a, &normal), TK_OK);
    expect_alive(f, a);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, t, &normal), TK_OK);
    (void)expect_exit_event(f, t, f->port_ref, ACT_REASON_NORMAL);
    /* ERROR with a detail: a trapping actor sees it whole; a non-trapping one exits with it. */
    act_reason error = {.kind = ACT_REASON_ERROR, .err = TK_ENOSPC};
    snprintf(error.detail, sizeof(error.detail), "disk %d full", 3);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, t, &error), TK_OK);
    act_exit_info info = expect_exit_event(f, t, f->port_ref, ACT_REASON_ERROR);
    expect_reason(&info.reason, &error);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, a, &error), TK_OK);
    probe_event term = expect_term(f, a, ACT_REASON_ERROR);
    expect_reason(&term.reason, &error);
    /* KILL ends even a trapping actor, without terminate. */
    uint64_t down = port_monitor(f, t);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, t, &kill), TK_OK);
    act_reason reason = expect_down(f, down, t);
    EXPECT_KIND(reason.kind, ACT_REASON_KILLED);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, t, &kill), TK_ESTALE); /* already dead */
    expect_port_quiet(f, 0);
}

static void test_link_chain(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref b = spawn_probe(f, false, a);
    act_ref c = spawn_probe(f, false, b);
    act_ref watcher = spawn_probe(f, true, c);
    probe_cmd_u32(f, a, PROBE_FAIL, TK_EOVERFLOW);
    (void)expect_msg(f, a, PROBE_FAIL);
    probe_event term_a = expect_term(f, a, ACT_REASON_ERROR);
    probe_event term_b = expect_term(f, b, ACT_REASON_ERROR);
    probe_event term_c = expect_term(f, c, ACT_REASON_ERROR);
    expect_reason(&term_b.reason, &term_a.reason);
    expect_reason(&term_c.reason, &term_a.reason);
    act_exit_info info = expect_exit_event(f, watcher, c, ACT_REASON_ERROR);
    expect_reason(&info.reason, &term_a.reason);
    act_ref refs[] = {a, b, c};
    for (size_t i = 0; i < 3; i++) {
        act_reason reason = wait_exit(f, refs[i]);
        EXPECT_KIND(reason.kind, ACT_REASON_NOPROC); /* all gone already */
    }
    expect_alive(f, watcher);
}

static void test_long_chain(void **state)
{
    act_fixture *f = *state;
    enum { CHAIN = 200 };
    probe_cfg cfg = probe_cfg_for(f);
    cfg.quiet = true;
    act_ref refs[CHAIN];
    refs[0] = probe_spawn(f->sys, &cfg, 8, ACT_REF_NONE, false);
    for (size_t i = 1; i < CHAIN; i++) {
        refs[i] = probe_spawn(f->sys, &cfg, 8, refs[i - 1], false);
    }
    act_ref watcher = spawn_probe(f, true, refs[CHAIN - 1]);
    probe_cmd_u32(f, refs[CHAIN / 2], PROBE_FAIL, TK_EAGAIN); /* from the middle out */
    act_exit_info info = expect_exit_event(f, watcher, refs[CHAIN - 1], ACT_REASON_ERROR);
    EXPECT_ERR(info.reason.err, TK_EAGAIN);
    for (size_t i = 0; i < CHAIN; i++) {
        act_reason reason = wait_exit(f, refs[i]);
        if (reason.kind != ACT_REASON_NOPROC && reason.kind != ACT_REASON_ERROR) {
            fail_msg("chain[%zu] exited with %s", i, act_reason_kind_name(reason.kind));
        }
    }
    expect_alive(f, watcher);
}

static void test_unlink(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref b = spawn_probe(f, false, ACT_REF_NONE);
    EXPECT_ERR(act_link(f->sys, a, b), TK_OK);
    EXPECT_ERR(act_link(f->sys, b, a), TK_OK); /* linking twice is one link */
    act_unlink(f->sys, b, a);                  /* ... so one unlink removes it */
    act_unlink(f->sys, a, b);                  /* no link left: a no-op */
    probe_cmd_u32(f, a, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, a, PROBE_FAIL);
    (void)expect_term(f, a, ACT_REASON_ERROR);
    (void)wait_exit(f, a);
    expect_alive(f, b);
    /* Unlinking a pair never linked, or with a dead side, is harmless. */
    act_ref c = spawn_probe(f, false, ACT_REF_NONE);
    act_unlink(f->sys, b, c);
    act_unlink(f->sys, a, c);
    EXPECT_ERR(act_link(f->sys, b, c), TK_OK);
    act_unlink(f->sys, b, c);
    probe_cmd_u32(f, c, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, c, PROBE_FAIL);
    (void)expect_term(f, c, ACT_REASON_ERROR);
    (void)wait_exit(f, c);
    expect_alive(f, b);
}

static void test_link_dead_or_self(void **state)
{
    act_fixture *f = *state;
    act_ref a = spawn_probe(f, false, ACT_REF_NONE);
    act_ref dead = spawn_probe(f, false, ACT_REF_NONE);
    probe_cmd_u32(f, dead, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, dead, PROBE_STOP);
    (void)expect_term(f, dead, ACT_REASON_NORMAL);
    (void)wait_exit(f, dead);
    EXPECT_ERR(act_link(f->sys, a, dead), TK_ESTALE);
    EXPECT_ERR(act_link(f->sys, dead, a), TK_ESTALE);
    probe_cmd(f, a, PROBE_LINK, &dead, sizeof(dead)); /* from inside, too */
    (void)expect_msg(f, a, PROBE_LINK);
    probe_event ev = expect_result(f, a, PROBE_LINK);
    EXPECT_ERR(ev.err, TK_ESTALE);
    /* A link with itself is accepted and changes nothing. */
    EXPECT_ERR(act_link(f->sys, a, a), TK_OK);
    act_unlink(f->sys, a, a);
    EXPECT_ERR(act_link(f->sys, a, a), TK_OK);
    probe_cmd_u32(f, a, PROBE_STOP, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, a, PROBE_STOP);
    (void)expect_term(f, a, ACT_REASON_SHUTDOWN);
    (void)wait_exit(f, a);
    expect_port_quiet(f, 0);
}

static void test_spawn_link(void **state)
{
    act_fixture *f = *state;
    act_stats before;
    act_stats_read(f->sys, &before);
    /* link_to: the child's error takes the non-trapping parent down. */
    act_ref parent = spawn_probe(f, false, ACT_REF_NONE);
    act_ref child = spawn_probe(f, false, parent);
    probe_cmd_u32(f, child, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, child, PROBE_FAIL);
    (void)expect_term(f, child, ACT_REASON_ERROR);
    (void)expect_term(f, parent, ACT_REASON_ERROR);
    (void)wait_exit(f, parent); /* past its terminate: closed */
    /* link_to a dead actor: TK_ESTALE, no init ran, nothing left behind. */
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_spawn_opts opts = {.behaviour = &probe_behaviour,
                           .state_size_bytes = 128,
                           .arg = &cfg,
                           .mailbox_capacity = 8,
                           .link_to = parent};
    act_ref ref = {.slot = 3, .gen = 3};
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_ESTALE);
    EXPECT_REF_EQ(ref, ((act_ref){.slot = 3, .gen = 3}));
    assert_int_equal(atomic_load(&shared.inits), 0);
    assert_int_equal(atomic_load(&shared.terminates), 0);
    assert_true(wait_live(f->sys, before.live, ACT_TEST_WAIT_MS));
    /* Spawned from inside an actor, linked to it: the trapping parent hears of the exit. */
    act_ref hub = spawn_probe(f, true, ACT_REF_NONE);
    probe_spawn_req req = {.link_to = hub, .trap_exit = false};
    probe_cmd(f, hub, PROBE_SPAWN, &req, sizeof(req));
    (void)expect_msg(f, hub, PROBE_SPAWN);
    probe_event ev = expect_result(f, hub, PROBE_SPAWN);
    EXPECT_ERR(ev.err, TK_OK);
    probe_event init = expect_init(f, ev.ref); /* the child's init, run in the handler */
    assert_false(pthread_equal(init.thread, pthread_self()));
    probe_cmd_u32(f, ev.ref, PROBE_STOP, ACT_REASON_SHUTDOWN);
    (void)expect_msg(f, ev.ref, PROBE_STOP);
    (void)expect_term(f, ev.ref, ACT_REASON_SHUTDOWN);
    (void)expect_exit_event(f, hub, ev.ref, ACT_REASON_SHUTDOWN);
    expect_alive(f, hub);
}

/* Many linked actors failing at once, on every scheduler thread: one EXIT each. */
static void test_many_exits_to_one_trapper(void **state)
{
    act_fixture *f = *state;
    enum { CHILDREN = 300 };
    act_ref hub = spawn_probe(f, true, ACT_REF_NONE);
    probe_cfg cfg = probe_cfg_for(f);
    cfg.quiet = true;
    act_ref children[CHILDREN];
    for (size_t i = 0; i < CHILDREN; i++) {
        children[i] = probe_spawn(f->sys, &cfg, 8, hub, false);
    }
    for (size_t i = 0; i < CHILDREN; i++) {
        probe_cmd_u32(f, children[i], PROBE_FAIL, TK_EIO);
    }
    bool seen[CHILDREN] = {false};
    for (size_t n = 0; n < CHILDREN; n++) {
        probe_event ev = expect_msg(f, hub, ACT_MSG_EXIT);
        act_exit_info info = exit_info_of(ev.data);
        EXPECT_KIND(info.reason.kind, ACT_REASON_ERROR);
        size_t i = 0;
        while (i < CHILDREN && !act_ref_eq(children[i], info.from))
            i++;
        if (i == CHILDREN) fail_msg("EXIT from an unknown actor (slot %u)", info.from.slot);
        if (seen[i]) fail_msg("two EXITs from child %zu", i);
        seen[i] = true;
    }
    expect_alive(f, hub);
}

/* A trapped exit signal does not overtake the messages its sender sent before it: OTP orders
 * all signals (messages, EXITs) between a pair of processes. One scheduler thread makes it
 * deterministic: the receiver's turn starts with both queued. */
static void test_exit_after_earlier_messages(void **state)
{
    act_fixture *f = *state;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_ref sender = probe_spawn(f->sys, &cfg, 16, ACT_REF_NONE, false);
    (void)expect_init(f, sender);
    act_ref trapper = spawn_probe(f, true, sender);
    probe_cmd(f, sender, PROBE_GATE, NULL, 0);
    probe_send last = {.to = trapper, .type = PROBE_PING, .count = 1, .first_seq = 77};
    probe_cmd(f, sender, PROBE_SEND, &last, sizeof(last)); /* its last message, then ... */
    probe_cmd_u32(f, sender, PROBE_FAIL, TK_EIO);          /* ... its exit */
    atomic_store(&shared.gate, 1);
    probe_event ev = next_event_from(f, trapper);
    if (ev.type == ACT_MSG_EXIT) {
        fail_msg("the trapping peer got the EXIT before the message sent ahead of it");
    }
    assert_int_equal(ev.type, PROBE_PING);
    (void)expect_exit_event(f, trapper, sender, ACT_REASON_ERROR);
}

int act_test_links(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST_THREADS(test_link_normal_ignored),
        ACT_TEST_THREADS(test_link_propagates_reason),
        ACT_TEST_THREADS(test_link_kill),
        ACT_TEST_THREADS(test_trap_exit),
        ACT_TEST_THREADS(test_exit_signal),
        ACT_TEST_THREADS(test_link_chain),
        ACT_TEST_THREADS(test_long_chain),
        ACT_TEST_THREADS(test_unlink),
        ACT_TEST_THREADS(test_link_dead_or_self),
        ACT_TEST_THREADS(test_spawn_link),
        ACT_TEST_THREADS(test_many_exits_to_one_trapper),
        cmocka_unit_test_setup_teardown(test_exit_after_earlier_messages, act_setup_1,
                                        act_teardown),
    };
    return cmocka_run_group_tests_name("actors/links", tests, NULL, NULL);
}
