/* base/tk_mem.c: tk_alloc and tk_free through an injected allocator, and the system one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdlib.h>
#include <string.h>

#include "base_tests.h"
#include "tk.h"
#include "tk_test.h"

static void test_mem_counts_live_bytes(void **state)
{
    tk_test_mem *tm = *state;
    unsigned char *a = tk_alloc(&tm->mem, 100);
    assert_non_null(a);
    assert_int_equal(tm->live_bytes, 100);
    unsigned char *b = tk_alloc(&tm->mem, 28);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(tm->live_bytes, 128);
    assert_int_equal(tm->allocs, 2);
    memset(a, 0x11, 100); /* the whole block is usable (ASan checks the bounds) */
    memset(b, 0x22, 28);
    assert_int_equal(a[99], 0x11);
    tk_free(&tm->mem, a, 100);
    assert_int_equal(tm->live_bytes, 28);
    assert_int_equal(b[27], 0x22);
    tk_free(&tm->mem, b, 28);
    assert_int_equal(tm->live_bytes, 0);
    assert_int_equal(tm->frees, 2);
}

static void test_mem_failed_alloc_returns_null(void **state)
{
    tk_test_mem *tm = *state;
    tk_test_mem_fail(tm, 1, 1); /* the second attempt from now fails */
    void *a = tk_alloc(&tm->mem, 10);
    void *b = tk_alloc(&tm->mem, 20);
    void *c = tk_alloc(&tm->mem, 30);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    assert_int_equal(tm->attempts, 3);
    assert_int_equal(tm->allocs, 2);
    assert_int_equal(tm->live_bytes, 40);
    tk_free(&tm->mem, a, 10);
    tk_free(&tm->mem, c, 30);

    tk_test_mem_fail(tm, 0, UINT64_MAX); /* every attempt from now on */
    for (int i = 0; i < 5; i++) {
        assert_null(tk_alloc(&tm->mem, 64));
    }
    assert_int_equal(tm->live_bytes, 0);
}

static void test_mem_free_null_is_noop(void **state)
{
    tk_test_mem *tm = *state;
    tk_free(&tm->mem, NULL, 16);
    tk_free(&tm->mem, NULL, 0);
    tk_free(tk_mem_system(), NULL, 8);
    assert_int_equal(tm->frees, 0);
    assert_int_equal(tm->live_bytes, 0);
}

static void test_mem_system(void **state)
{
    (void)state;
    const tk_mem *sys = tk_mem_system();
    assert_non_null(sys);
    assert_ptr_equal(sys, tk_mem_system());
    assert_non_null(sys->alloc);
    assert_non_null(sys->free);
    const size_t sizes[] = {1, 3, 16, 100, 4096, 1u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *block = tk_alloc(sys, sizes[i]);
        assert_non_null(block);
        assert_int_equal((uintptr_t)block % _Alignof(max_align_t), 0);
        memset(block, 0x5A, sizes[i]);
        assert_int_equal(block[sizes[i] - 1u], 0x5A);
        tk_free(sys, block, sizes[i]);
    }
}

/* An allocator that records what tk_alloc and tk_free hand it, to check the contract of
 * tk_mem (ctx and sizes passed through) and the debug fills. */
typedef struct spy_mem {
    tk_mem mem;
    tk_test_mem *inner;
    void *last_ctx;
    size_t last_alloc_size;
    size_t last_free_size;
    void *last_free_ptr;
    bool freed_block_all_dd; /* every byte was 0xDD when free was called */
} spy_mem;

static void *spy_alloc(void *ctx, size_t size_bytes)
{
    spy_mem *spy = ctx;
    spy->last_ctx = ctx;
    spy->last_alloc_size = size_bytes;
    void *ptr = spy->inner->mem.alloc(spy->inner->mem.ctx, size_bytes);
    if (ptr != NULL) memset(ptr, 0, size_bytes); /* so a fill by tk_alloc shows */
    return ptr;
}

static void spy_free(void *ctx, void *ptr, size_t size_bytes)
{
    spy_mem *spy = ctx;
    spy->last_ctx = ctx;
    spy->last_free_ptr = ptr;
    spy->last_free_size = size_bytes;
    const unsigned char *bytes = ptr;
    spy->freed_block_all_dd = true;
    for (size_t i = 0; i < size_bytes; i++) {
        if (bytes[i] != 0xDD) spy->freed_block_all_dd = false;
    }
    spy->inner->mem.free(spy->inner->mem.ctx, ptr, size_bytes);
}

static void test_mem_passes_ctx_and_sizes(void **state)
{
    spy_mem spy = {.mem = {.alloc = spy_alloc, .free = spy_free}, .inner = *state};
    spy.mem.ctx = &spy;
    unsigned char *block = tk_alloc(&spy.mem, 77);
    assert_non_null(block);
    assert_ptr_equal(spy.last_ctx, &spy);
    assert_int_equal(spy.last_alloc_size, 77);
    spy.last_ctx = NULL;
    tk_free(&spy.mem, block, 77);
    assert_ptr_equal(spy.last_ctx, &spy);
    assert_ptr_equal(spy.last_free_ptr, block);
    assert_int_equal(spy.last_free_size, 77);
}

static void test_mem_debug_fills(void **state)
{
#ifdef TK_DEBUG
    spy_mem spy = {.mem = {.alloc = spy_alloc, .free = spy_free}, .inner = *state};
    spy.mem.ctx = &spy;
    unsigned char *block = tk_alloc(&spy.mem, 45);
    assert_non_null(block);
    for (size_t i = 0; i < 45; i++) {
        assert_int_equal(block[i], 0xAA); /* the allocator gave zeros: tk_alloc filled it */
    }
    memset(block, 0x01, 45);
    tk_free(&spy.mem, block, 45);
    assert_true(spy.freed_block_all_dd);
#else
    (void)state;
    skip(); /* the fills are a debug-build feature */
#endif
}

/* tk_array_reserve: 1024 items at first, doubled when full, unchanged while there is room,
 * and false (the array untouched) when the size would overflow. */
static void test_array_reserve(void **state)
{
    (void)state;
    uint64_t *items = NULL;
    size_t cap = 0;
    assert_true(tk_array_reserve((void **)&items, &cap, 0, sizeof(uint64_t)));
    assert_non_null(items);
    assert_int_equal(cap, 1024);
    items[1023] = 7;
    assert_true(tk_array_reserve((void **)&items, &cap, 1000, sizeof(uint64_t)));
    assert_int_equal(cap, 1024);
    assert_true(tk_array_reserve((void **)&items, &cap, 1024, sizeof(uint64_t)));
    assert_int_equal(cap, 2048);
    assert_int_equal(items[1023], 7); /* kept across the move */
    uint64_t *before = items;
    size_t huge = SIZE_MAX / 2u + 1u;
    assert_false(tk_array_reserve((void **)&items, &huge, huge, sizeof(uint64_t)));
    assert_ptr_equal(items, before);
    assert_int_equal(huge, SIZE_MAX / 2u + 1u);
    free(items);
}

/* A test with a fresh tk_test_mem in *state and a leak check after it. */
#define MEM_TEST(fn) cmocka_unit_test_setup_teardown(fn, tk_test_mem_setup, tk_test_mem_teardown)

int tk_test_memory(void)
{
    const struct CMUnitTest tests[] = {
        MEM_TEST(test_mem_counts_live_bytes),    MEM_TEST(test_mem_failed_alloc_returns_null),
        MEM_TEST(test_mem_free_null_is_noop),    MEM_TEST(test_mem_system),
        MEM_TEST(test_mem_passes_ctx_and_sizes), MEM_TEST(test_mem_debug_fills),
        cmocka_unit_test(test_array_reserve),
    };
    return cmocka_run_group_tests_name("base/mem", tests, NULL, NULL);
}
