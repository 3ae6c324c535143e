/* The runtime's intrusive MPSC queue: one atomic exchange per push, wait-free for producers;
 * the single consumer follows next links from the oldest node. The stub node lets the queue
 * hand out its last real node: the consumer re-inserts the stub behind it first. */
#include "act_internal.h"

void act__mpsc_init(act__mpsc *q)
{
    TK_ASSERT(q != NULL);
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    q->tail = &q->stub;
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
    act__qnode *tail = q->tail;
    act__qnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (next == NULL) return NULL; /* empty, or a first push in transit */
        q->tail = next;                /* step over the stub */
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    /* tail is the last linked node. If a producer has swapped in after it but not linked yet,
     * come back later. */
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire)) return NULL;
    /* Put the stub behind tail so that tail can be handed out with a successor. */
    act__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next == NULL) return NULL; /* a producer got in between: its link is in transit */
    q->tail = next;
    return tail;
}
