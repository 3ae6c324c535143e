/* Test support: the fault-injecting allocator. */
#include "tk_test.h"

#include <stdlib.h>

static void *test_alloc(void *ctx, size_t size_bytes)
{
    tk_test_mem *test_mem = ctx;
    TK_ASSERT(test_mem != NULL);
    TK_ASSERT(size_bytes > 0);
    uint64_t attempt = test_mem->attempts++;
    if (test_mem->cap_bytes > 0 && size_bytes > test_mem->cap_bytes) return NULL;
    if (test_mem->fail_count > 0 && attempt >= test_mem->fail_at) {
        if (attempt - test_mem->fail_at < test_mem->fail_count) return NULL;
    }
    void *ptr = malloc(size_bytes);
    if (ptr == NULL) return NULL;
    test_mem->allocs++;
    test_mem->live_bytes += size_bytes;
    return ptr;
}

static void test_free(void *ctx, void *ptr, size_t size_bytes)
{
    tk_test_mem *test_mem = ctx;
    TK_ASSERT(test_mem != NULL);
    if (ptr == NULL) return;
    TK_ASSERT(test_mem->live_bytes >= size_bytes);
    test_mem->live_bytes -= size_bytes;
    test_mem->frees++;
    free(ptr);
}

void tk_test_mem_init(tk_test_mem *test_mem)
{
    TK_ASSERT(test_mem != NULL);
    *test_mem = (tk_test_mem){
        .mem = {.alloc = test_alloc, .free = test_free, .ctx = test_mem},
    };
}

void tk_test_mem_fail(tk_test_mem *test_mem, uint64_t fail_at, uint64_t fail_count)
{
    TK_ASSERT(test_mem != NULL);
    test_mem->fail_at = test_mem->attempts + fail_at;
    test_mem->fail_count = fail_count;
}

void tk_test_mem_cap(tk_test_mem *test_mem, size_t cap_bytes)
{
    TK_ASSERT(test_mem != NULL);
    test_mem->cap_bytes = cap_bytes;
}
