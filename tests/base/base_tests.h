/* The base module's test groups, one per source file of base/, and the helper they share
 * for checking that a programmer error ends the process. */
#ifndef TK_TESTS_BASE_BASE_TESTS_H
#define TK_TESTS_BASE_BASE_TESTS_H

#include <stdbool.h>
#include <stddef.h>

/* Each runs the cmocka group "base/<file>" and returns the number of failed tests.
 * test_mem.c's is tk_test_memory, not tk_test_mem: tests/support/tk_test.h already names its
 * allocator type tk_test_mem, and C gives types and functions one namespace, so a file that
 * uses that allocator cannot also see a function of the same name. */
int tk_test_err(void);
int tk_test_assert(void);
int tk_test_memory(void);
int tk_test_pool(void);
int tk_test_ring(void);
int tk_test_clock(void);
int tk_test_rng(void);
int tk_test_log(void);

#define BASE_CHILD_OUTPUT_BYTES_MAX 32768u

/* How a child process ended and what it wrote to stderr. */
typedef struct base_child {
    bool signaled; /* ended by a signal (then signal is set), or exited (then exit_code) */
    int signal;
    int exit_code;
    size_t output_size_bytes;                 /* bytes kept in output, without the NUL */
    char output[BASE_CHILD_OUTPUT_BYTES_MAX]; /* stderr, NUL-terminated, cut to fit */
} base_child;

/* Run fn(arg) in a forked child with stderr captured and core dumps off; a child whose fn
 * returns exits with status 0. out is written in full. Returns false when pipe, fork or
 * waitpid failed. Defined in test_assert.c. */
bool base_child_run(void (*fn)(void *arg), void *arg, base_child *out);

/* True when the child died of SIGABRT after tk_panic printed its report. */
bool base_child_panicked(const base_child *child);

#endif /* TK_TESTS_BASE_BASE_TESTS_H */
