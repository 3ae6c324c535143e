/* base/tk_clock.c: the system clock's monotonic and wall time, and the manual clock read
 * through the generic accessors. */
#ifndef _POSIX_C_SOURCE /* the build defines it too (cmake/troika.cmake) */
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <errno.h>
#include <inttypes.h>
#include <time.h>

#include "base_tests.h"
#include "tk.h"

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S  INT64_C(1000000000)

static void test_clock_system_mono_never_decreases(void **state)
{
    (void)state;
    const tk_clock *clock = tk_clock_system();
    assert_non_null(clock);
    assert_ptr_equal(clock, tk_clock_system());
    uint64_t first = tk_clock_mono_ns(clock);
    uint64_t prev = first;
    for (int i = 0; i < 200000; i++) {
        uint64_t now = tk_clock_mono_ns(clock);
        if (now < prev) fail_msg("read %d went back: %" PRIu64 " after %" PRIu64, i, now, prev);
        prev = now;
    }
    assert_true(prev > first); /* 200000 reads take more than a nanosecond */
}

static void sleep_ns(int64_t ns)
{
    struct timespec want = {.tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S)};
    struct timespec left;
    for (int tries = 0; tries < 100; tries++) { /* EINTR restarts with what is left */
        if (nanosleep(&want, &left) == 0) return;
        if (errno != EINTR) fail_msg("nanosleep: errno %d", errno);
        want = left;
    }
}

static void test_clock_system_mono_advances_over_sleep(void **state)
{
    (void)state;
    const tk_clock *clock = tk_clock_system();
    uint64_t before = tk_clock_mono_ns(clock);
    sleep_ns(2 * NS_PER_MS);
    uint64_t after = tk_clock_mono_ns(clock);
    assert_true(after >= before);
    uint64_t elapsed = after - before;
    if (elapsed < (uint64_t)(2 * NS_PER_MS)) fail_msg("slept 2 ms, moved %" PRIu64 " ns", elapsed);
    assert_true(elapsed < (uint64_t)(5 * NS_PER_S)); /* and not absurdly far */
    assert_true(clock->mono_ns(clock) >= after);     /* the table reads the same clock */
}

static void test_clock_system_wall_is_now(void **state)
{
    (void)state;
    const tk_clock *clock = tk_clock_system();
    time_t before = time(NULL);
    int64_t wall = tk_clock_wall_ns(clock);
    time_t after = time(NULL);
    assert_true(wall > 0);
    int64_t low = ((int64_t)before - 2) * NS_PER_S;
    int64_t high = ((int64_t)after + 3) * NS_PER_S;
    if (wall < low || wall > high) {
        fail_msg("wall %lld ns, time() %lld s", (long long)wall, (long long)before);
    }
    int64_t direct = clock->wall_ns(clock);
    assert_true(direct >= wall - NS_PER_S);
    assert_true(direct <= wall + 5 * NS_PER_S);
}

static void test_clock_manual(void **state)
{
    (void)state;
    tk_clock_manual manual;
    const int64_t start_wall = INT64_C(1795273200123456789); /* 2026-11-21T15:00:00.123456789Z */
    tk_clock_manual_init(&manual, 1000, start_wall);
    const tk_clock *clock = &manual.clock;
    assert_int_equal(tk_clock_mono_ns(clock), 1000);
    assert_int_equal(tk_clock_wall_ns(clock), start_wall);
    assert_int_equal(tk_clock_mono_ns(clock), 1000); /* does not move by itself */
    assert_int_equal(tk_clock_wall_ns(clock), start_wall);

    tk_clock_manual_advance(&manual, 500);
    assert_int_equal(tk_clock_mono_ns(clock), 1500);
    assert_int_equal(tk_clock_wall_ns(clock), start_wall + 500);
    tk_clock_manual_advance(&manual, 0);
    assert_int_equal(tk_clock_mono_ns(clock), 1500);
    assert_int_equal(tk_clock_wall_ns(clock), start_wall + 500);

    tk_clock_manual_set_wall(&manual, -5); /* back before the epoch, as NTP may */
    assert_int_equal(tk_clock_wall_ns(clock), -5);
    assert_int_equal(tk_clock_mono_ns(clock), 1500); /* unchanged */
    tk_clock_manual_set_wall(&manual, start_wall + 7 * NS_PER_S);
    assert_int_equal(tk_clock_wall_ns(clock), start_wall + 7 * NS_PER_S);
    assert_int_equal(tk_clock_mono_ns(clock), 1500);

    tk_clock_manual_advance(&manual, (uint64_t)3 * (uint64_t)NS_PER_S);
    assert_int_equal(tk_clock_mono_ns(clock), 1500u + 3u * (uint64_t)NS_PER_S);
    assert_int_equal(tk_clock_wall_ns(clock), start_wall + 10 * NS_PER_S);
}

static void test_clock_manual_two_clocks_are_independent(void **state)
{
    (void)state;
    tk_clock_manual a;
    tk_clock_manual b;
    tk_clock_manual_init(&a, 1, 10);
    tk_clock_manual_init(&b, 2, 20);
    tk_clock_manual_advance(&a, 100);
    assert_int_equal(tk_clock_mono_ns(&a.clock), 101);
    assert_int_equal(tk_clock_wall_ns(&a.clock), 110);
    assert_int_equal(tk_clock_mono_ns(&b.clock), 2);
    assert_int_equal(tk_clock_wall_ns(&b.clock), 20);
}

static void test_clock_manual_reaches_the_top(void **state)
{
    (void)state;
    tk_clock_manual manual;
    tk_clock_manual_init(&manual, UINT64_MAX - 10u, 0);
    tk_clock_manual_advance(&manual, 10); /* exactly to the top: no wrap */
    assert_int_equal(tk_clock_mono_ns(&manual.clock), UINT64_MAX);
    assert_int_equal(tk_clock_wall_ns(&manual.clock), 10);
}

static void child_manual_wrap(void *arg)
{
    (void)arg;
    tk_clock_manual manual;
    tk_clock_manual_init(&manual, UINT64_MAX - 10u, 0);
    tk_clock_manual_advance(&manual, 11); /* would wrap: a programmer error */
}

static tk_test_child child; /* large: one per process, not on the stack */

static void test_clock_manual_wrap_panics(void **state)
{
    (void)state;
    assert_true(tk_test_child_run(child_manual_wrap, NULL, 0, &child));
    assert_true(base_child_panicked(&child));
}

int tk_test_clock(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_system_mono_never_decreases),
        cmocka_unit_test(test_clock_system_mono_advances_over_sleep),
        cmocka_unit_test(test_clock_system_wall_is_now),
        cmocka_unit_test(test_clock_manual),
        cmocka_unit_test(test_clock_manual_two_clocks_are_independent),
        cmocka_unit_test(test_clock_manual_reaches_the_top),
        cmocka_unit_test(test_clock_manual_wrap_panics),
    };
    return cmocka_run_group_tests_name("base/clock", tests, NULL, NULL);
}
