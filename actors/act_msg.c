/* The envelope pool: slabs of ACT__MSG_SLAB_COUNT envelopes allocated on demand up to
 * msgs_max, a global free list under a mutex, and a per-worker cache so that the hot path
 * (alloc on one worker, free on another) touches the lock once per ACT__MSG_CACHE_BATCH.
 * Exit signals, EXIT and DOWN messages must never be lost to a dry pool: they may grow it by
 * up to ACT__MSG_RESERVE_SLABS slabs past msgs_max. */
#include <stdlib.h>
#include <string.h>

#include "act_internal.h"

/* The process's open systems, for outside threads' caches (see cache_of_thread). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER; /* lock order: before msg_lock */
static act_system *live_head;                                 /* open systems, by live_next */

static act_msg *msg_next(const act_msg *msg)
{
    /* relaxed: free envelopes are private to one cache or to the pool's lock */
    return (act_msg *)atomic_load_explicit(&msg->node.next, memory_order_relaxed);
}

static void msg_set_next(act_msg *msg, act_msg *next)
{
    atomic_store_explicit(&msg->node.next, next != NULL ? &next->node : NULL, memory_order_relaxed);
}

int act__msg_pool_init(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(sys->opts.msgs_max > 0);
    sys->msg_slabs_max = (sys->opts.msgs_max + ACT__MSG_SLAB_COUNT - 1u) / ACT__MSG_SLAB_COUNT;
    sys->msg_slabs = calloc(sys->msg_slabs_max + ACT__MSG_RESERVE_SLABS, sizeof(void *));
    if (sys->msg_slabs == NULL) return -1;
    if (pthread_mutex_init(&sys->msg_lock, NULL) != 0) {
        free(sys->msg_slabs);
        sys->msg_slabs = NULL;
        return -1;
    }
    pthread_mutex_lock(&live_lock);
    sys->live_next = live_head;
    live_head = sys;
    pthread_mutex_unlock(&live_lock);
    return 0;
}

void act__msg_pool_fini(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    pthread_mutex_lock(&live_lock);
    for (act_system **at = &live_head; *at != NULL; at = &(*at)->live_next) {
        if (*at == sys) {
            *at = sys->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
    for (uint32_t i = 0; i < sys->msg_slab_count; i++) {
        free(sys->msg_slabs[i]);
    }
    free(sys->msg_slabs);
    sys->msg_slabs = NULL;
    pthread_mutex_destroy(&sys->msg_lock);
}

/* Add one slab's envelopes to the free list, no more than the limit leaves room for: msgs_max,
 * plus the reserve's ACT__MSG_RESERVE_SLABS slabs when reserve is set. Caller holds msg_lock.
 * False when the limit is reached or the heap is exhausted. */
static bool pool_grow_locked(act_system *sys, bool reserve)
{
    uint64_t limit = (uint64_t)sys->opts.msgs_max +
                     (reserve ? (uint64_t)ACT__MSG_RESERVE_SLABS * ACT__MSG_SLAB_COUNT : 0u);
    if (sys->msg_carved >= limit) return false;
    if (sys->msg_slab_count == sys->msg_slabs_max + ACT__MSG_RESERVE_SLABS) return false;
    uint64_t room = limit - sys->msg_carved;
    uint32_t carve = room < ACT__MSG_SLAB_COUNT ? (uint32_t)room : ACT__MSG_SLAB_COUNT;
    act_msg *slab = aligned_alloc(ACT__CACHE_LINE, sizeof(act_msg) * ACT__MSG_SLAB_COUNT);
    if (slab == NULL) return false;
    sys->msg_slabs[sys->msg_slab_count++] = slab;
    for (uint32_t i = 0; i < carve; i++) {
        msg_set_next(&slab[i], sys->msg_free);
        sys->msg_free = &slab[i];
    }
    sys->msg_free_count += carve;
    sys->msg_carved += carve;
    return true;
}

/* Move up to want envelopes from the pool to cache. Returns how many moved. */
static uint32_t pool_take(act_system *sys, act__msg_cache *cache, uint32_t want, bool reserve)
{
    pthread_mutex_lock(&sys->msg_lock);
    if (sys->msg_free_count < want) (void)pool_grow_locked(sys, reserve);
    uint32_t moved = 0;
    while (moved < want && sys->msg_free != NULL) {
        act_msg *msg = sys->msg_free;
        sys->msg_free = msg_next(msg);
        sys->msg_free_count--;
        msg_set_next(msg, cache->head);
        cache->head = msg;
        moved++;
    }
    pthread_mutex_unlock(&sys->msg_lock);
    cache->count += moved;
    return moved;
}

/* Move up to count envelopes from cache back to the pool. */
static void pool_give(act_system *sys, act__msg_cache *cache, uint32_t count)
{
    pthread_mutex_lock(&sys->msg_lock);
    for (uint32_t i = 0; i < count && cache->head != NULL; i++) {
        act_msg *msg = cache->head;
        cache->head = msg_next(msg);
        cache->count--;
        msg_set_next(msg, sys->msg_free);
        sys->msg_free = msg;
        sys->msg_free_count++;
    }
    pthread_mutex_unlock(&sys->msg_lock);
}

void act__msg_cache_flush(act_system *sys, act__msg_cache *cache)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(cache != NULL);
    pool_give(sys, cache, cache->count);
    TK_ASSERT(cache->count == 0);
}

static void msg_reset(act_msg *msg)
{
    msg->type = 0;
    msg->size_bytes = 0;
    msg->sender = ACT_REF_NONE;
    msg->correlation = 0;
    msg->ptr = NULL;
    msg->ptr_free = NULL;
}

/* An outside thread's cache (main, a port's thread, the loop thread), tagged with the id of
 * the system it belongs to (ids are never reused). When the thread turns to another system,
 * or exits, its envelopes go back to their system's pool if that system is still open (the
 * live list, under live_lock, which act_system_close leaves before freeing the pool), and are
 * dropped untouched if it closed (its slabs went with it). */
typedef struct outside_cache {
    uint64_t sys_id;
    act__msg_cache cache;
} outside_cache;

static _Thread_local outside_cache tls_outside;
static pthread_key_t outside_key; /* runs outside_flush at exit */
static pthread_once_t outside_key_once = PTHREAD_ONCE_INIT;

static void outside_flush(outside_cache *outside)
{
    if (outside->cache.count > 0) {
        pthread_mutex_lock(&live_lock);
        for (act_system *sys = live_head; sys != NULL; sys = sys->live_next) {
            if (sys->id == outside->sys_id) {
                pool_give(sys, &outside->cache, outside->cache.count);
                break;
            }
        }
        pthread_mutex_unlock(&live_lock);
    }
    *outside = (outside_cache){0};
}

static void outside_thread_exit(void *arg)
{
    outside_flush(arg);
}

static void outside_key_create(void)
{
    int rc = pthread_key_create(&outside_key, outside_thread_exit);
    TK_ASSERT(rc == 0); /* fails only past PTHREAD_KEYS_MAX keys in the process */
}

static act__msg_cache *cache_of_thread(act_system *sys)
{
    act__worker *worker = act__current_worker();
    if (worker != NULL && worker->sys == sys) return &worker->cache;
    if (tls_outside.sys_id != sys->id) {
        outside_flush(&tls_outside);
        tls_outside.sys_id = sys->id;
        pthread_once(&outside_key_once, outside_key_create);
        int rc = pthread_setspecific(outside_key, &tls_outside);
        TK_ASSERT(rc == 0);
    }
    return &tls_outside.cache;
}

static act_msg *msg_alloc(act_system *sys, bool reserve)
{
    TK_ASSERT(sys != NULL);
    act__msg_cache *cache = cache_of_thread(sys);
    if (cache->head == NULL) {
        if (pool_take(sys, cache, ACT__MSG_CACHE_BATCH, reserve) == 0) return NULL;
    }
    act_msg *msg = cache->head;
    TK_ASSERT(msg != NULL && cache->count > 0);
    cache->head = msg_next(msg);
    cache->count--;
    msg_reset(msg);
    return msg;
}

act_msg *act_msg_alloc(act_system *sys)
{
    return msg_alloc(sys, false);
}

act_msg *act__msg_alloc_must(act_system *sys)
{
    return msg_alloc(sys, true);
}

void act_msg_free(act_system *sys, act_msg *msg)
{
    TK_ASSERT(sys != NULL);
    if (msg == NULL) return;
    if (msg->ptr != NULL && msg->ptr_free != NULL) msg->ptr_free(msg->ptr);
    msg->ptr = NULL;
    act__msg_cache *cache = cache_of_thread(sys);
    msg_set_next(msg, cache->head);
    cache->head = msg;
    cache->count++;
    if (cache->count > 2u * ACT__MSG_CACHE_BATCH) pool_give(sys, cache, ACT__MSG_CACHE_BATCH);
}
