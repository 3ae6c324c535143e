/* Power-of-two ring of fixed-size elements: free-running 32-bit head and tail, masked on
 * access, so that a full ring (tail - head == capacity) and an empty one (tail == head) are
 * told apart without a spare slot or a stored count. */
#include <string.h>

#include "tk.h"

static void ring_invariants(const tk_ring *ring)
{
    TK_ASSERT(tk_is_pow2(ring->capacity));
    TK_ASSERT(ring->mask == ring->capacity - 1u);
    TK_ASSERT((uint32_t)(ring->tail - ring->head) <= ring->capacity);
}

tk_err tk_ring_init(tk_ring *ring, size_t elem_size_bytes, uint32_t capacity, const tk_mem *mem)
{
    TK_ASSERT(ring != NULL);
    TK_ASSERT(mem != NULL);
    if (!tk_is_pow2(capacity) || capacity > TK_RING_CAPACITY_MAX) return TK_EINVAL;
    if (elem_size_bytes == 0 || elem_size_bytes > SIZE_MAX / TK_RING_CAPACITY_MAX) {
        return TK_EINVAL;
    }
    unsigned char *buf = tk_alloc(mem, elem_size_bytes * capacity);
    if (buf == NULL) return TK_ENOMEM;
    *ring = (tk_ring){
        .mem = mem,
        .buf = buf,
        .elem_size_bytes = elem_size_bytes,
        .capacity = capacity,
        .mask = capacity - 1u,
        .head = 0,
        .tail = 0,
    };
    ring_invariants(ring);
    return TK_OK;
}

void tk_ring_fini(tk_ring *ring)
{
    if (ring == NULL) return;
    ring_invariants(ring);
    tk_free(ring->mem, ring->buf, ring->elem_size_bytes * ring->capacity);
    *ring = (tk_ring){0};
}

static unsigned char *ring_slot(const tk_ring *ring, uint32_t position)
{
    return ring->buf + (size_t)(position & ring->mask) * ring->elem_size_bytes;
}

tk_err tk_ring_push(tk_ring *ring, const void *elem)
{
    TK_ASSERT(ring != NULL);
    TK_ASSERT(elem != NULL);
    if ((uint32_t)(ring->tail - ring->head) == ring->capacity) return TK_EFULL;
    memcpy(ring_slot(ring, ring->tail), elem, ring->elem_size_bytes);
    ring->tail++;
    ring_invariants(ring);
    return TK_OK;
}

tk_err tk_ring_pop(tk_ring *ring, void *out_elem)
{
    TK_ASSERT(ring != NULL);
    TK_ASSERT(out_elem != NULL);
    if (ring->tail == ring->head) return TK_EEMPTY;
    memcpy(out_elem, ring_slot(ring, ring->head), ring->elem_size_bytes);
    ring->head++;
    ring_invariants(ring);
    return TK_OK;
}

const void *tk_ring_peek(const tk_ring *ring)
{
    TK_ASSERT(ring != NULL);
    if (ring->tail == ring->head) return NULL;
    return ring_slot(ring, ring->head);
}

uint32_t tk_ring_count(const tk_ring *ring)
{
    TK_ASSERT(ring != NULL);
    ring_invariants(ring);
    return ring->tail - ring->head;
}

uint32_t tk_ring_capacity(const tk_ring *ring)
{
    TK_ASSERT(ring != NULL);
    return ring->capacity;
}
