/* base/tk_panic.c and the TK_ASSERT family: a failed assertion ends the process with SIGABRT
 * after a report on stderr; a true one costs one evaluation. Also the child-process helper
 * that the other groups use to check their own panics. */
#ifndef _POSIX_C_SOURCE /* the build defines it too (cmake/troika.cmake) */
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base_tests.h"
#include "tk.h"

bool base_child_panicked(const tk_test_child *child)
{
    if (!child->signaled || child->signal != SIGABRT) {
        print_error("child: signaled %d, signal %d, exit %d, stderr:\n%s\n", child->signaled,
                    child->signal, child->exit_code, child->output);
        return false;
    }
    if (strstr(child->output, "panic: ") == NULL) {
        print_error("child aborted without a panic report; stderr:\n%s\n", child->output);
        return false;
    }
    return true;
}

/* Lines of the report after "backtrace" that look like backtrace_symbols_fd frames. */
static size_t backtrace_frame_lines(const char *output)
{
    const char *line = strstr(output, "backtrace");
    if (line == NULL) return 0;
    size_t frames = 0;
    for (line = strchr(line, '\n'); line != NULL; line = strchr(line + 1, '\n')) {
        const char *end = strchr(line + 1, '\n');
        const char *addr = strstr(line + 1, "[0x");
        if (addr != NULL && (end == NULL || addr < end)) frames++;
    }
    return frames;
}

/* check_line is set, on the same source line as the TK_ASSERT, every time check_value runs:
 * the parent runs it once with a true value to learn the line the child's report names. */
static int check_line;
#define CHECK_AT_LINE(cond) (check_line = __LINE__, TK_ASSERT(cond))

static void check_value(int value)
{
    CHECK_AT_LINE(value == 7);
}

static void child_check_value(void *arg)
{
    const int *value = arg;
    check_value(*value);
}

static void child_panic_direct(void *arg)
{
    (void)arg;
    tk_panic("some/dir/file.c", 4242, "x < y && ok");
}

static tk_test_child child; /* large: one per process, not on the stack */

static void test_assert_false_panics_with_report(void **state)
{
    (void)state;
    check_line = 0;
    check_value(7); /* true: returns, and records the line */
    assert_true(check_line > 0);
    int value = 3;
    assert_true(tk_test_child_run(child_check_value, &value, 0, &child));
    assert_true(base_child_panicked(&child));
    char where[64];
    snprintf(where, sizeof(where), "test_assert.c:%d: ", check_line);
    const char *text = child.output;
    if (strstr(text, where) == NULL) fail_msg("no \"%s\" in:\n%s", where, text);
    assert_non_null(strstr(text, "assertion failed: value == 7"));
    assert_non_null(strstr(text, "backtrace"));
    size_t frames = backtrace_frame_lines(text);
    if (frames < 2) fail_msg("%zu frame lines in:\n%s", frames, text);
}

static void test_panic_direct_format(void **state)
{
    (void)state;
    assert_true(tk_test_child_run(child_panic_direct, NULL, 0, &child));
    assert_true(base_child_panicked(&child));
    const char *want = "panic: some/dir/file.c:4242: assertion failed: x < y && ok\n";
    if (strstr(child.output, want) == NULL) fail_msg("no \"%s\" in:\n%s", want, child.output);
    assert_non_null(strstr(child.output, "backtrace"));
    size_t frames = backtrace_frame_lines(child.output);
    if (frames < 2) fail_msg("%zu frame lines in:\n%s", frames, child.output);
    /* tk_exe exports symbols so that frames are named: tk_panic's own frame at least. */
    assert_non_null(strstr(child.output, "tk_panic"));
}

static void test_assert_true_continues(void **state)
{
    (void)state;
    int evaluations = 0;
    TK_ASSERT(true);
    TK_ASSERT(++evaluations == 1); /* evaluated exactly once */
    assert_int_equal(evaluations, 1);
    TK_ASSERT(evaluations++ > 0);
    assert_int_equal(evaluations, 2);
    const char *text = "x";
    TK_ASSERT(text != NULL);
    TK_ASSERT(strlen(text) == 1u);
}

#ifdef TK_DEBUG
static void child_dassert_false(void *arg)
{
    const int *value = arg;
    TK_DASSERT(*value == 1);
}
#endif

static void test_dassert(void **state)
{
    (void)state;
    int evaluations = 0;
    TK_DASSERT(++evaluations == 1);
#ifdef TK_DEBUG
    assert_int_equal(evaluations, 1); /* debug builds check */
    int value = 2;
    assert_true(tk_test_child_run(child_dassert_false, &value, 0, &child));
    assert_true(base_child_panicked(&child));
    assert_non_null(strstr(child.output, "*value == 1"));
#else
    assert_int_equal(evaluations, 0); /* release builds never evaluate */
#endif
}

static void test_is_pow2(void **state)
{
    (void)state;
    assert_false(tk_is_pow2(0));
    assert_true(tk_is_pow2(1));
    assert_true(tk_is_pow2(2));
    assert_false(tk_is_pow2(3));
    assert_true(tk_is_pow2(4));
    assert_false(tk_is_pow2(6));
    assert_true(tk_is_pow2(UINT64_C(1) << 63));
    assert_false(tk_is_pow2(UINT64_MAX));
    assert_false(tk_is_pow2((UINT64_C(1) << 63) + 1u));
    for (unsigned k = 0; k < 64; k++) {
        uint64_t pow2 = UINT64_C(1) << k;
        assert_true(tk_is_pow2(pow2));
        if (k >= 2) assert_false(tk_is_pow2(pow2 - 1u));
        if (k >= 1) assert_false(tk_is_pow2(pow2 + 1u));
        if (k >= 1) assert_false(tk_is_pow2(pow2 | 1u));
    }
}

int tk_test_assert(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assert_false_panics_with_report),
        cmocka_unit_test(test_panic_direct_format),
        cmocka_unit_test(test_assert_true_continues),
        cmocka_unit_test(test_dassert),
        cmocka_unit_test(test_is_pow2),
    };
    return cmocka_run_group_tests_name("base/assert", tests, NULL, NULL);
}
