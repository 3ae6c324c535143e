/* The base module's test groups, one per source file of base/, and the helper they share
 * for checking that a programmer error ends the process. */
#ifndef TK_TESTS_BASE_BASE_TESTS_H
#define TK_TESTS_BASE_BASE_TESTS_H

#include <stdbool.h>
#include <stddef.h>

#include "tk_test.h"

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

/* True when the child died of SIGABRT after tk_panic printed its report. */
bool base_child_panicked(const tk_test_child *child);

#endif /* TK_TESTS_BASE_BASE_TESTS_H */
