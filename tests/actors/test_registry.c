/* The name registry: register, whereis, unregister; one name per actor and one actor per
 * name; names go with their actor; name length bounds; the list of names (act_registered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdio.h>
#include <string.h>

#include "actors_tests.h"

static void test_register_whereis_unregister(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    act_ref b = probe_start(f);
    act_ref got = {.slot = 9, .gen = 9};
    EXPECT_ERR(act_whereis(f->sys, "alpha", &got), TK_ENOENT);
    EXPECT_REF_EQ(got, ((act_ref){.slot = 9, .gen = 9})); /* untouched */
    EXPECT_ERR(act_register(f->sys, "alpha", a), TK_OK);
    EXPECT_ERR(act_register(f->sys, "beta", b), TK_OK);
    EXPECT_ERR(act_whereis(f->sys, "alpha", &got), TK_OK);
    EXPECT_REF_EQ(got, a);
    EXPECT_ERR(act_whereis(f->sys, "beta", &got), TK_OK);
    EXPECT_REF_EQ(got, b);
    EXPECT_ERR(act_whereis(f->sys, "alph", &got), TK_ENOENT); /* exact names only */
    EXPECT_ERR(act_whereis(f->sys, "alphaa", &got), TK_ENOENT);
    EXPECT_ERR(act_whereis(f->sys, "Alpha", &got), TK_ENOENT);
    /* A looked-up ref is an ordinary ref. */
    EXPECT_ERR(act_whereis(f->sys, "alpha", &got), TK_OK);
    probe_cmd_u32(f, got, PROBE_PING, 1);
    (void)expect_msg(f, a, PROBE_PING);
    /* Taken names, and a second name for the same actor. */
    EXPECT_ERR(act_register(f->sys, "alpha", b), TK_EEXIST);
    EXPECT_ERR(act_register(f->sys, "alpha", a), TK_EEXIST);
    EXPECT_ERR(act_register(f->sys, "gamma", a), TK_EEXIST);
    EXPECT_ERR(act_whereis(f->sys, "gamma", &got), TK_ENOENT);
    EXPECT_ERR(act_whereis(f->sys, "alpha", &got), TK_OK);
    EXPECT_REF_EQ(got, a);
    /* Unregister frees both the name and the actor's one name. */
    EXPECT_ERR(act_unregister(f->sys, "alpha"), TK_OK);
    EXPECT_ERR(act_unregister(f->sys, "alpha"), TK_ENOENT);
    EXPECT_ERR(act_whereis(f->sys, "alpha", &got), TK_ENOENT);
    EXPECT_ERR(act_register(f->sys, "gamma", a), TK_OK);
    EXPECT_ERR(act_register(f->sys, "alpha", b), TK_EEXIST); /* b still has "beta" */
    EXPECT_ERR(act_unregister(f->sys, "beta"), TK_OK);
    EXPECT_ERR(act_register(f->sys, "alpha", b), TK_OK);
    EXPECT_ERR(act_whereis(f->sys, "alpha", &got), TK_OK);
    EXPECT_REF_EQ(got, b);
    EXPECT_ERR(act_unregister(f->sys, "never-registered"), TK_ENOENT);
}

static void test_name_dropped_on_exit(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    EXPECT_ERR(act_register(f->sys, "worker", a), TK_OK);
    uint64_t down = port_monitor(f, a);
    probe_cmd_u32(f, a, PROBE_FAIL, TK_EIO);
    (void)expect_msg(f, a, PROBE_FAIL);
    (void)expect_term(f, a, ACT_REASON_ERROR);
    (void)expect_down(f, down, a); /* the name is gone before monitors are told */
    act_ref got;
    EXPECT_ERR(act_whereis(f->sys, "worker", &got), TK_ENOENT);
    EXPECT_ERR(act_unregister(f->sys, "worker"), TK_ENOENT);
    EXPECT_ERR(act_register(f->sys, "worker", a), TK_ESTALE);
    /* The name is free for a successor (here one that registers itself in init). */
    probe_cfg cfg = probe_cfg_for(f);
    cfg.init_name = "worker";
    act_ref b = probe_spawn(f->sys, &cfg, 8, ACT_REF_NONE, false);
    (void)expect_init(f, b);
    EXPECT_ERR(act_whereis(f->sys, "worker", &got), TK_OK);
    EXPECT_REF_EQ(got, b);
    /* Killed actors lose their names too. */
    down = port_monitor(f, b);
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, b, &kill), TK_OK);
    (void)expect_down(f, down, b);
    EXPECT_ERR(act_whereis(f->sys, "worker", &got), TK_ENOENT);
}

static void test_name_bounds(void **state)
{
    act_fixture *f = *state;
    act_ref a = probe_start(f);
    char longest[ACT_NAME_BYTES_MAX + 1u];
    memset(longest, 'n', ACT_NAME_BYTES_MAX);
    longest[ACT_NAME_BYTES_MAX] = '\0';
    char too_long[ACT_NAME_BYTES_MAX + 2u];
    memset(too_long, 'n', ACT_NAME_BYTES_MAX + 1u);
    too_long[ACT_NAME_BYTES_MAX + 1u] = '\0';
    act_ref got = {.slot = 9, .gen = 9};
    EXPECT_ERR(act_register(f->sys, "", a), TK_EINVAL);
    EXPECT_ERR(act_register(f->sys, NULL, a), TK_EINVAL);
    EXPECT_ERR(act_register(f->sys, too_long, a), TK_EINVAL);
    EXPECT_ERR(act_whereis(f->sys, too_long, &got), TK_ENOENT);
    EXPECT_ERR(act_whereis(f->sys, "", &got), TK_ENOENT);
    EXPECT_ERR(act_unregister(f->sys, too_long), TK_ENOENT);
    EXPECT_ERR(act_unregister(f->sys, ""), TK_ENOENT);
    EXPECT_REF_EQ(got, ((act_ref){.slot = 9, .gen = 9}));
    EXPECT_ERR(act_register(f->sys, "x", a), TK_OK); /* 1 byte */
    EXPECT_ERR(act_unregister(f->sys, "x"), TK_OK);
    EXPECT_ERR(act_register(f->sys, longest, a), TK_OK); /* ACT_NAME_BYTES_MAX bytes */
    EXPECT_ERR(act_whereis(f->sys, longest, &got), TK_OK);
    EXPECT_REF_EQ(got, a);
    EXPECT_ERR(act_unregister(f->sys, longest), TK_OK);
}

static void test_many_names(void **state)
{
    act_fixture *f = *state;
    enum { COUNT = 600 }; /* more names than hash buckets: chains */
    probe_cfg cfg = probe_cfg_for(f);
    cfg.quiet = true;
    act_ref refs[COUNT];
    char name[32];
    for (int i = 0; i < COUNT; i++) {
        refs[i] = probe_spawn(f->sys, &cfg, 4, ACT_REF_NONE, false);
        snprintf(name, sizeof(name), "n%d", i);
        EXPECT_ERR(act_register(f->sys, name, refs[i]), TK_OK);
    }
    for (int i = 0; i < COUNT; i++) {
        act_ref got;
        snprintf(name, sizeof(name), "n%d", i);
        EXPECT_ERR(act_whereis(f->sys, name, &got), TK_OK);
        EXPECT_REF_EQ(got, refs[i]);
    }
    for (int i = 0; i < COUNT; i += 2) { /* every other one, from the middle of chains */
        snprintf(name, sizeof(name), "n%d", i);
        EXPECT_ERR(act_unregister(f->sys, name), TK_OK);
    }
    for (int i = 0; i < COUNT; i++) {
        act_ref got;
        snprintf(name, sizeof(name), "n%d", i);
        EXPECT_ERR(act_whereis(f->sys, name, &got), i % 2 == 0 ? TK_ENOENT : TK_OK);
        if (i % 2 != 0) EXPECT_REF_EQ(got, refs[i]);
    }
    char first[2][ACT_NAME_BYTES_MAX + 1u]; /* sorted across every chain: bytewise */
    assert_int_equal(act_registered(f->sys, first, 2), COUNT / 2);
    assert_string_equal(first[0], "n1");
    assert_string_equal(first[1], "n101");
}

static void test_registered_lists_names(void **state)
{
    act_fixture *f = *state;
    char names[4][ACT_NAME_BYTES_MAX + 1u];
    memset(names, 0, sizeof(names));
    assert_int_equal(act_registered(f->sys, names, 4), 0); /* none yet */
    assert_int_equal(act_registered(f->sys, NULL, 0), 0);
    act_ref a = probe_start(f), b = probe_start(f), c = probe_start(f);
    EXPECT_ERR(act_register(f->sys, "gamma", c), TK_OK);
    EXPECT_ERR(act_register(f->sys, "alpha", a), TK_OK);
    EXPECT_ERR(act_register(f->sys, "beta", b), TK_OK);
    assert_int_equal(act_registered(f->sys, NULL, 0), 3);  /* the count alone */
    assert_int_equal(act_registered(f->sys, names, 2), 3); /* the first two, sorted */
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "beta");
    assert_string_equal(names[2], ""); /* nothing past max */
    assert_int_equal(act_registered(f->sys, names, 4), 3);
    assert_string_equal(names[2], "gamma");
    EXPECT_ERR(act_unregister(f->sys, "beta"), TK_OK);
    uint64_t down = port_monitor(f, c); /* a name goes with its actor */
    act_reason kill = act_reason_of(ACT_REASON_KILL);
    EXPECT_ERR(act_exit(f->sys, f->port_ref, c, &kill), TK_OK);
    (void)expect_down(f, down, c);
    memset(names, 0, sizeof(names));
    assert_int_equal(act_registered(f->sys, names, 4), 1);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "");
}

int act_test_registry(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST(test_register_whereis_unregister),
        ACT_TEST_THREADS(test_name_dropped_on_exit),
        ACT_TEST(test_name_bounds),
        ACT_TEST(test_many_names),
        ACT_TEST(test_registered_lists_names),
    };
    return cmocka_run_group_tests_name("actors/registry", tests, NULL, NULL);
}
