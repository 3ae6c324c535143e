/* The injectable allocator and its system implementation. */
#include <stdlib.h>
#include <string.h>

#include "tk.h"

static void *system_alloc(void *ctx, size_t size_bytes)
{
    (void)ctx;
    return malloc(size_bytes);
}

static void system_free(void *ctx, void *ptr, size_t size_bytes)
{
    (void)ctx;
    (void)size_bytes;
    free(ptr);
}

static const tk_mem mem_system = {.alloc = system_alloc, .free = system_free, .ctx = NULL};

const tk_mem *tk_mem_system(void)
{
    return &mem_system;
}

void *tk_alloc(const tk_mem *mem, size_t size_bytes)
{
    TK_ASSERT(mem != NULL);
    TK_ASSERT(size_bytes > 0);
    void *ptr = mem->alloc(mem->ctx, size_bytes);
    if (ptr == NULL) return NULL;
#ifdef TK_DEBUG
    memset(ptr, 0xAA, size_bytes); /* uninitialised reads show up as 0xAAAA... */
#endif
    return ptr;
}

void tk_free(const tk_mem *mem, void *ptr, size_t size_bytes)
{
    TK_ASSERT(mem != NULL);
    if (ptr == NULL) return;
    TK_ASSERT(size_bytes > 0);
#ifdef TK_DEBUG
    memset(ptr, 0xDD, size_bytes); /* use-after-free reads show up as 0xDDDD... */
#endif
    mem->free(mem->ctx, ptr, size_bytes);
}

bool tk_array_reserve(void **items, size_t *cap, size_t count, size_t item_size)
{
    TK_ASSERT(items != NULL && cap != NULL && count <= *cap && item_size > 0);
    if (count < *cap) return true;
    size_t next = *cap == 0 ? 1024u : *cap * 2u;
    if (next < *cap || next > SIZE_MAX / item_size) return false;
    void *p = realloc(*items, next * item_size);
    if (p == NULL) return false;
    *items = p;
    *cap = next;
    return true;
}
