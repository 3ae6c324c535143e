/* The runtime's intrusive MPSC queue: one atomic exchange per push, wait-free for producers;
 * the single consumer follows next links from the oldest node. The stub node lets the queue
 * hand out its last real node: the consumer re-inserts the stub behind it first. */
#include "act_internal.h"

void act__mpsc_init(act__mpsc *q)
{
    TK_ASSERT(q != NULL);
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    atomic_init(&q->tail, &q->stub);
}

void act__mpsc_push(act__mpsc *q, act__qnode *node)
{
    TK_ASSERT(q != NULL);
    TK_ASSERT(node != NULL);
    atomic_store_explicit(&node->next, NULL, memory_order_relaxed);
    /* seq_cst (acq_rel would do for the queue itself): the scheduler's park/wake handshake
     * relies on this exchange being in the single total order (act_system.c, wake_one). On
     * x86 it is the same locked instruction either way. */
    act__qnode *prev = atomic_exchange_explicit(&q->head, node, memory_order_seq_cst);
    /* release: the consumer's acquire load of next sees the node's contents */
    atomic_store_explicit(&prev->next, node, memory_order_release);
}

act__qnode *act__mpsc_pop(act__mpsc *q)
{
    TK_ASSERT(q != NULL);
    /* relaxed on tail: the consumer alone writes it; others only peek (act__mpsc_looks_empty) */
    act__qnode *tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    act__qnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (next == NULL) return NULL; /* empty, or a first push in transit */
        atomic_store_explicit(&q->tail, next, memory_order_relaxed); /* step over the stub */
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next != NULL) {
        atomic_store_explicit(&q->tail, next, memory_order_relaxed);
        return tail;
    }
    /* tail is the last linked node. If a producer has swapped in after it but not linked yet,
     * come back later. */
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire)) return NULL;
    /* Put the stub behind tail so that tail can be handed out with a successor. */
    act__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next == NULL) return NULL; /* a producer got in between: its link is in transit */
    atomic_store_explicit(&q->tail, next, memory_order_relaxed);
    return tail;
}

bool act__mpsc_looks_empty(act__mpsc *q)
{
    TK_ASSERT(q != NULL);
    /* Both ends at the stub: nothing was pushed after it and nothing before it is left. A
     * head equal to the stub alone is not enough: the consumer may have re-inserted the stub
     * behind a producer whose link is still in transit. */
    if (atomic_load_explicit(&q->head, memory_order_acquire) != &q->stub) return false;
    return atomic_load_explicit(&q->tail, memory_order_relaxed) == &q->stub;
}
