/* Test support shared by every module's tests (not linked into the engine): an allocator that
 * fails on demand and counts what is live, for the OOM sweeps of STYLE.md section 14, and
 * assertion helpers. */
#ifndef TK_TESTS_SUPPORT_TK_TEST_H
#define TK_TESTS_SUPPORT_TK_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tk.h"

/* A tk_mem over malloc that fails allocations on a countdown, refuses blocks above a size cap
 * (so that a size computation that overflowed shows up as a refused allocation rather than a
 * huge malloc), and tracks live bytes.
 * Caller-owned; use &test_mem->mem wherever a tk_mem is wanted. Not thread-safe. */
typedef struct tk_test_mem {
    tk_mem mem;
    uint64_t allocs;     /* successful allocations so far */
    uint64_t frees;      /* frees of non-NULL blocks so far */
    size_t live_bytes;   /* bytes allocated and not yet freed */
    uint64_t fail_at;    /* the allocation number (0-based, counting attempts) to fail first */
    uint64_t fail_count; /* how many attempts to fail from fail_at on (0: fail none) */
    uint64_t attempts;   /* allocation attempts so far, failed ones included */
    size_t cap_bytes;    /* attempts larger than this fail (0: no cap) */
} tk_test_mem;

/* Start with no faults and nothing live. */
void tk_test_mem_init(tk_test_mem *test_mem);

/* Fail fail_count allocation attempts, starting with attempt number fail_at (0-based, counted
 * from now). fail_count UINT64_MAX fails every attempt from fail_at on. */
void tk_test_mem_fail(tk_test_mem *test_mem, uint64_t fail_at, uint64_t fail_count);

/* Fail the current cmocka test unless expr (a tk_err) equals want, naming both codes. For
 * files that include <cmocka.h>. */
#define EXPECT_ERR(expr, want)                                                                     \
    do {                                                                                           \
        tk_err got_err_ = (expr);                                                                  \
        tk_err want_err_ = (want);                                                                 \
        if (got_err_ != want_err_) {                                                               \
            fail_msg("%s: got %s, want %s", #expr, tk_err_name(got_err_), tk_err_name(want_err_)); \
        }                                                                                          \
    } while (0)

/* Fail every allocation attempt larger than cap_bytes (0 removes the cap). */
void tk_test_mem_cap(tk_test_mem *test_mem, size_t cap_bytes);

/* cmocka fixtures: setup hands the test a fresh tk_test_mem in *state; teardown fails the test
 * if any byte allocated from it is still live (a leak on some path). */
int tk_test_mem_setup(void **state);
int tk_test_mem_teardown(void **state);

/* Fill size bytes at p with a marker, and tell whether they still hold it: to check that a
 * failing call wrote nothing to its out parameter. */
void tk_test_mark(void *p, size_t size);
bool tk_test_is_marked(const void *p, size_t size);

#define TK_TEST_CHILD_OUTPUT_BYTES_MAX 32768u

/* How a forked child ended and what it wrote to stderr. */
typedef struct tk_test_child {
    bool signaled; /* ended by a signal (then signal is set), or exited (then exit_code) */
    int signal;
    int exit_code;
    size_t output_size_bytes;                    /* bytes kept in output, without the NUL */
    char output[TK_TEST_CHILD_OUTPUT_BYTES_MAX]; /* stderr, NUL-terminated, cut to fit */
} tk_test_child;

/* Run fn(arg) in a forked child, for tests of what must end a process (a panic, the watchdog's
 * abort): stderr is captured into out, no core file is written, the fatal signals cmocka
 * catches are reset to kill, and with alarm_s > 0 the child is killed by SIGALRM after that
 * many seconds. A child whose fn returns exits 0. out is written in full. Returns false when
 * pipe, fork or waitpid failed. */
bool tk_test_child_run(void (*fn)(void *arg), void *arg, unsigned alarm_s, tk_test_child *out);

/* A running Binance mock (tools/binance_mock.py, python3), for the tests of what talks to a
 * venue over HTTP. */
typedef struct tk_test_mock {
    int pid;
    unsigned port;
    char dir[64]; /* its temporary directory (the port file) */
    char url[64]; /* "http://127.0.0.1:PORT" */
} tk_test_mock;

/* Start the mock of the checkout at source_dir on a free port and wait (up to 10 s) for it
 * to listen. Returns false when it did not. */
bool tk_test_mock_start(const char *source_dir, tk_test_mock *out);

/* Stop it (SIGTERM, wait) and remove its directory. */
void tk_test_mock_stop(tk_test_mock *mock);

#endif /* TK_TESTS_SUPPORT_TK_TEST_H */
