/* Private to actors/: the system, actor slots, scheduler workers and the shared helpers of the
 * runtime's files. Nothing outside actors/ includes this. */
#ifndef TK_ACTORS_ACT_INTERNAL_H
#define TK_ACTORS_ACT_INTERNAL_H

#include <pthread.h>

#include "act.h"

#define ACT__CACHE_LINE 64

/* ---- Intrusive MPSC queue (act_mpsc.c) -------------------------------------------------------
 * D. Vyukov's non-intrusive-free MPSC node queue ("Intrusive MPSC node-based queue",
 * 1024cores.net): producers swap themselves in at the head with one atomic exchange; the one
 * consumer walks from the tail. A pop may find the queue momentarily "in transit" (a producer
 * between its exchange and its link store) and return NULL: callers treat that as "try again
 * later", never as empty for good. */
typedef struct act__mpsc {
    _Atomic(act__qnode *) head; /* producers: the newest node */
    _Atomic(act__qnode *) tail; /* consumer: the oldest node (others may only peek) */
    act__qnode stub;
} act__mpsc;

void act__mpsc_init(act__mpsc *q);
void act__mpsc_push(act__mpsc *q, act__qnode *node); /* any thread */
act__qnode *act__mpsc_pop(act__mpsc *q);             /* the one consumer only */
/* A hint from any thread: true when the queue looked empty at some instant of the call (a
 * push racing it may be missed; the pusher then wakes or schedules as it must). Exact for
 * the consumer, or under the consumer's lock, when no push is in flight. */
bool act__mpsc_looks_empty(act__mpsc *q);

/* ---- Actor slots -----------------------------------------------------------------------------
 * The mailbox word packs, so that one CAS admits a message: the generation of the actor in
 * the slot (high 32 bits), a CLOSED bit (the actor is exiting or the slot is free) and the
 * count of admitted, not yet finished messages and signals. The actor is queued or running
 * exactly while that count is above zero: the sender that moves it from 0 to 1 schedules it,
 * and the worker that ends a turn with messages left requeues it. */
#define ACT__WORD_GEN_SHIFT  32u
#define ACT__WORD_CLOSED     (1ull << 31)
#define ACT__WORD_COUNT_MASK ((1ull << 31) - 1u)

static inline uint32_t act__word_gen(uint64_t word)
{
    return (uint32_t)(word >> ACT__WORD_GEN_SHIFT);
}

static inline uint32_t act__word_count(uint64_t word)
{
    return (uint32_t)(word & ACT__WORD_COUNT_MASK);
}

typedef struct act__link act__link;       /* act_ctl.c */
typedef struct act__monitor act__monitor; /* act_ctl.c */
typedef struct act__member act__member;   /* act_ctl.c */
typedef struct act__name act__name;       /* act_ctl.c */

typedef struct act__actor {
    /* Touched by senders on any thread. */
    _Atomic uint64_t word;
    act__mpsc mailbox;
    act__mpsc signals; /* exit signals, handled before messages */
    act__qnode run_node;
    _Atomic uint32_t capacity; /* read by senders; rewritten only while the slot is free */
    /* The running worker's, between turns handed over through the run queues. */
    const act_behaviour *behaviour;
    void *state;
    size_t state_size_bytes;
    uint32_t release_batch; /* handled messages released from the count at once in a turn */
    bool trap_exit;
    /* Set (seq_cst, under ctl_lock) before any entry below is made for this actor, and
     * cleared when its slot is reused: an exit that finds it clear skips ctl_lock. */
    _Atomic bool has_ctl;
    /* Under sys->ctl_lock; all empty again once the actor has exited. An actor is live for
     * them while its word has its generation and no CLOSED bit. */
    act__link *links;
    act__monitor *monitored_by; /* monitors whose target is this actor */
    act__monitor *monitoring;   /* monitors this actor holds */
    act__name *name;
    act__member *groups;
    /* Free list. */
    _Atomic uint32_t free_next; /* index + 1 of the next free slot; 0 ends the list */
} act__actor;

/* ---- Message pool (act_msg.c) ---------------------------------------------------------------- */

#define ACT__MSG_SLAB_COUNT    1024u /* envelopes per slab */
#define ACT__MSG_CACHE_BATCH   64u   /* envelopes moved between a cache and the pool at once */
#define ACT__MSG_RESERVE_SLABS 16u   /* slabs past msgs_max for signals, EXIT and DOWN */

/* A thread's private stack of free envelopes (scheduler workers have one each). */
typedef struct act__msg_cache {
    act_msg *head;
    uint32_t count;
} act__msg_cache;

/* Internal message types, never seen by behaviours. */
enum {
    ACT__SIG_EXIT = 16,      /* exit signal (data: act_exit_info) */
    ACT__SIG_SHUTDOWN = 17,  /* system close: exit with SHUTDOWN even when trapping */
    ACT__MSG_PORT_CLOSE = 18 /* act_port_close to its own port actor */
};

/* ---- Workers and the system ------------------------------------------------------------------ */

/* The context handed to callbacks; one per worker (and one on the stack of a spawn's init).
 * Only the thread running the callback touches it. */
struct act_ctx {
    act_system *sys;
    act__actor *actor;
    act_ref self;
    act_msg *current_msg; /* the message being handled; NULL once re-sent (moved) */
    bool exit_pending;    /* the actor ends when the callback returns */
    bool yield;           /* the turn ends when the handler returns */
    act_reason reason;    /* why, when exit_pending */
    bool fail_set;        /* act_fail recorded a detail for the error about to be returned */
    char fail_detail[ACT_REASON_DETAIL_BYTES];
};

typedef struct act__worker {
    alignas(ACT__CACHE_LINE) act__mpsc runq;
    _Atomic uint32_t runq_lock; /* consumer lock: the owner and thieves pop under it */
    alignas(ACT__CACHE_LINE) _Atomic uint32_t parked; /* futex word: 1 while asleep */
    _Atomic uint64_t handling;    /* handlers started and ended: odd while one runs (watchdog) */
    _Atomic uint32_t turn_slot;   /* the slot of the actor in its turn, for the watchdog's log */
    _Atomic uint64_t overrun_seq; /* the watchdog's verdict: the handling value that overran */
    alignas(ACT__CACHE_LINE) act_system *sys;
    uint32_t index;
    pthread_t thread;
    act__msg_cache cache;
    /* Runs next (the LIFO slot). Only the owner puts an actor here; a thief takes it only
     * when the owner has been inside one handler for a while (act_system.c, slot_stealable). */
    _Atomic(act__actor *) next_actor;
    uint32_t lifo_runs; /* next-slot turns run in a row */
    uint32_t searches;  /* find_work calls, to look at victims' next slots now and then */
    /* Thief's view of each victim: the handler counter last seen and for how many looks. */
    uint64_t victim_handling[ACT_THREADS_MAX];
    uint32_t victim_looks[ACT_THREADS_MAX];
    act_ctx ctx;
    tk_rng rng; /* victim choice */
    _Atomic uint64_t steals;
    _Atomic uint64_t parks;
    _Atomic uint64_t sent;
    _Atomic uint64_t exited; /* actors that exited on this worker (owner writes) */
} act__worker;

typedef struct act__loop act__loop; /* act_loop.c */

struct act_system {
    act_system_opts opts;
    uint64_t id;           /* unique in the process, never reused: tags outside threads' caches */
    act_system *live_next; /* the process's list of open systems (act_msg.c) */
    act__actor *slots;     /* owned: opts.actors_max slots, touched as used */
    act__worker *workers;  /* owned: opts.threads */
    uint32_t threads;
    /* One cache line per group of fields written by different threads, so that a sender's
     * round-robin counter, a worker's slot release and the parking counters do not slow each
     * other down (false sharing). */
    alignas(ACT__CACHE_LINE) _Atomic uint64_t free_head;   /* tag << 32 | slot index + 1 */
    _Atomic uint32_t slots_used;                           /* bump allocator high-water mark */
    alignas(ACT__CACHE_LINE) _Atomic uint32_t sleepers;    /* workers parked */
    _Atomic uint32_t searching;                            /* workers spinning for work */
    _Atomic bool stopping;                                 /* workers leave their loop */
    _Atomic bool closing;                                  /* no new spawns */
    alignas(ACT__CACHE_LINE) _Atomic uint32_t inject_next; /* round robin for outside threads */
    _Atomic uint64_t sent_outside;
    alignas(ACT__CACHE_LINE) _Atomic uint64_t spawned;
    alignas(ACT__CACHE_LINE) _Atomic uint64_t exited;
    _Atomic uint64_t sends_full;
    _Atomic uint64_t sends_stale;
    _Atomic uint64_t watchdog_overruns;
    _Atomic uint64_t next_id; /* monitor ids, timer ids and request ids: one space */
    /* Message pool. */
    pthread_mutex_t msg_lock;
    act_msg *msg_free; /* under msg_lock */
    uint32_t msg_free_count;
    void **msg_slabs; /* owned: up to msgs_max / ACT__MSG_SLAB_COUNT + 1 */
    uint32_t msg_slab_count;
    uint64_t msg_carved; /* envelopes put into the pool so far (at most msgs_max + reserve) */
    uint32_t msg_slabs_max;
    /* Links, monitors, registry, groups. */
    pthread_mutex_t ctl_lock;
    _Atomic uint64_t groups_generation; /* bumped by every change of a group's members */
    struct act__ctl_tables *tables;
    act__loop *loop;
};

/* Sleep while *word == expected (Linux futex), up to timeout_ns (0: no limit); may return
 * early. Wake one sleeper on word. */
void act__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns);
void act__futex_wake(_Atomic uint32_t *word);

/* Wake one parked worker, unless one is searching for work already. */
void act__wake_one(act_system *sys);

/* A spin-wait hint to the CPU (pause on x86). */
void act__cpu_relax(void);

/* The worker running on this thread, or NULL outside scheduler threads. */
extern _Thread_local act__worker *act__tls_worker;

static inline act__worker *act__current_worker(void)
{
    return act__tls_worker;
}

/* Slot of ref if ref names a slot of this system (bounds only; the generation is checked by
 * whoever uses it). NULL for refs out of range. */
act__actor *act__slot(act_system *sys, act_ref ref);

/* Exit ctx's actor now with ctx->reason, on the thread that owns it: terminate (when
 * run_terminate and the reason is not KILLED), close the mailbox, tell links and monitors,
 * drop what is left in the mailbox (all but the `finished` counts the caller has handled or
 * holds), free the state and the slot. */
void act__actor_exit(act_system *sys, act_ctx *ctx, uint32_t finished, bool run_terminate);

/* Admit msg into to's signal queue (signal true) or mailbox, bypassing the capacity for
 * signals and system messages (force true). Same contract as act_send otherwise. */
tk_err act__deliver(act_system *sys, act_ref to, act_msg *msg, bool signal, bool force);

/* Envelopes that must not be lost (exit signals, DOWN, EXIT): may grow the pool into its
 * reserve. NULL only when the reserve or the heap is exhausted too. */
act_msg *act__msg_alloc_must(act_system *sys);

int act__msg_pool_init(act_system *sys);
void act__msg_pool_fini(act_system *sys);
void act__msg_cache_flush(act_system *sys, act__msg_cache *cache);

/* act_ctl.c: control tables and an actor's departure from them. */
tk_err act__ctl_init(act_system *sys);
void act__ctl_fini(act_system *sys);
/* Unhook an exiting actor (its word already CLOSED) from every link, monitor, name and group,
 * and send the exit signals and DOWN messages its exit owes. Called once, by its owner. */
void act__ctl_actor_exit(act_system *sys, act_ref self, act__actor *actor,
                         const act_reason *reason);

/* act_loop.c: the loop thread, timers, watchdog. */
tk_err act__loop_start(act_system *sys);
void act__loop_stop(act_system *sys);
/* Try to cancel a request's timeout timer: true if it was still pending (the reply wins). */
bool act__timer_claim(act_system *sys, uint64_t timer_id);
/* Arm a one-shot timer that sends msg (moved on TK_OK) to `to`; when correlate is set, msg's
 * correlation is set to the timer's id before the timer can fire. */
tk_err act__timer_start(act_system *sys, uint32_t delay_ms, act_ref to, act_msg *msg,
                        bool correlate, uint64_t *out_id);

/* A fresh id for monitors, timers and requests (never 0). */
uint64_t act__next_id(act_system *sys);

#endif /* TK_ACTORS_ACT_INTERNAL_H */
