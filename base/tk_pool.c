/* Fixed-capacity object pool: one allocation at init, O(1) get and put from a stack of free
 * slot indices, a per-slot flag that turns a double put into a panic. */
#include <stdalign.h>
#include <string.h>

#include "tk.h"

#define POOL_ALIGN_BYTES alignof(max_align_t)

static void pool_invariants(const tk_pool *pool)
{
    TK_ASSERT(pool->free_count <= pool->capacity);
    TK_ASSERT(pool->slot_size_bytes >= pool->obj_size_bytes);
    TK_ASSERT(pool->slot_size_bytes % POOL_ALIGN_BYTES == 0);
}

tk_err tk_pool_init(tk_pool *pool, size_t obj_size_bytes, uint32_t capacity, const tk_mem *mem)
{
    TK_ASSERT(pool != NULL);
    TK_ASSERT(mem != NULL);
    if (capacity == 0 || capacity > TK_POOL_CAPACITY_MAX) return TK_EINVAL;
    if (obj_size_bytes == 0 || obj_size_bytes > SIZE_MAX / 2 / TK_POOL_CAPACITY_MAX) {
        return TK_EINVAL;
    }
    size_t slot_size =
        (obj_size_bytes + POOL_ALIGN_BYTES - 1) / POOL_ALIGN_BYTES * POOL_ALIGN_BYTES;

    unsigned char *slots = tk_alloc(mem, slot_size * capacity);
    if (slots == NULL) return TK_ENOMEM;
    uint32_t *free_stack = tk_alloc(mem, sizeof(uint32_t) * capacity);
    if (free_stack == NULL) goto fail_slots;
    unsigned char *in_use = tk_alloc(mem, capacity);
    if (in_use == NULL) goto fail_free_stack;

    memset(in_use, 0, capacity);
    /* Hand out low indices first: pop takes from the top, so push them in reverse. */
    for (uint32_t i = 0; i < capacity; i++) {
        free_stack[i] = capacity - 1u - i;
    }
    *pool = (tk_pool){
        .mem = mem,
        .slots = slots,
        .free_stack = free_stack,
        .in_use = in_use,
        .obj_size_bytes = obj_size_bytes,
        .slot_size_bytes = slot_size,
        .capacity = capacity,
        .free_count = capacity,
    };
    pool_invariants(pool);
    return TK_OK;

fail_free_stack:
    tk_free(mem, free_stack, sizeof(uint32_t) * capacity);
fail_slots:
    tk_free(mem, slots, slot_size * capacity);
    return TK_ENOMEM;
}

void tk_pool_fini(tk_pool *pool)
{
    if (pool == NULL) return;
    pool_invariants(pool);
    tk_free(pool->mem, pool->in_use, pool->capacity);
    tk_free(pool->mem, pool->free_stack, sizeof(uint32_t) * pool->capacity);
    tk_free(pool->mem, pool->slots, pool->slot_size_bytes * pool->capacity);
    *pool = (tk_pool){0};
}

void *tk_pool_get(tk_pool *pool)
{
    TK_ASSERT(pool != NULL);
    TK_ASSERT(pool->slots != NULL);
    if (pool->free_count == 0) return NULL;
    pool->free_count--;
    uint32_t index = pool->free_stack[pool->free_count];
    TK_ASSERT(index < pool->capacity);
    TK_ASSERT(pool->in_use[index] == 0);
    pool->in_use[index] = 1;
    unsigned char *obj = pool->slots + (size_t)index * pool->slot_size_bytes;
#ifdef TK_DEBUG
    memset(obj, 0xAA, pool->obj_size_bytes);
#endif
    return obj;
}

void tk_pool_put(tk_pool *pool, void *obj)
{
    TK_ASSERT(pool != NULL);
    TK_ASSERT(obj != NULL);
    unsigned char *byte = obj;
    TK_ASSERT(byte >= pool->slots);
    size_t offset = (size_t)(byte - pool->slots);
    TK_ASSERT(offset % pool->slot_size_bytes == 0);
    size_t index = offset / pool->slot_size_bytes;
    TK_ASSERT(index < pool->capacity);
    TK_ASSERT(pool->in_use[index] == 1); /* a second put of the same object */
    TK_ASSERT(pool->free_count < pool->capacity);
#ifdef TK_DEBUG
    memset(obj, 0xDD, pool->obj_size_bytes);
#endif
    pool->in_use[index] = 0;
    pool->free_stack[pool->free_count] = (uint32_t)index;
    pool->free_count++;
}

uint32_t tk_pool_used(const tk_pool *pool)
{
    TK_ASSERT(pool != NULL);
    pool_invariants(pool);
    return pool->capacity - pool->free_count;
}

uint32_t tk_pool_capacity(const tk_pool *pool)
{
    TK_ASSERT(pool != NULL);
    return pool->capacity;
}
