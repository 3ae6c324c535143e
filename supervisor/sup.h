/* troika supervisor (prefix sup_): OTP supervision trees on the actor runtime.
 *
 * A supervisor is an actor (trap_exit on) that starts its children in order, watches them
 * through links, restarts them by its strategy (one_for_one, one_for_all, rest_for_one,
 * simple_one_for_one) and each child's restart type (permanent, transient, temporary), gives
 * up past a restart intensity (MaxR restarts in MaxT) by shutting its children down and
 * exiting with an error that its own parent sees, and shuts children down in reverse start
 * order honouring each one's shutdown spec (brutal_kill, a timeout, or infinity). Beyond OTP:
 * an optional per-child restart backoff (exponential with jitter, as Akka's
 * BackoffSupervisor) and OTP 24's auto_shutdown on significant children. docs/supervision.md
 * gives the semantics and a worked tree; this header is the API.
 *
 * The supervisor never blocks or sleeps in a callback: a shutdown is an asynchronous state
 * machine (unlink and monitor the child, send the exit signal, arm a kill timer, go on with the
 * next child on its DOWN). While it waits, requests are queued (up to SUP_DEFERRED_MAX, then
 * refused with TK_EAGAIN) and answered in arrival order once it is idle again.
 *
 * Threads: sup_start may be called from any thread, including an actor's callbacks (a parent
 * supervisor starting a child supervisor). The sup_* request wrappers block their caller and
 * are for outside threads (ports) only; actors send the same requests with act_request and
 * the payloads documented below. sup_stats_read may be called from any thread. */
#ifndef TK_SUPERVISOR_SUP_H
#define TK_SUPERVISOR_SUP_H

#include <stdbool.h>
#include <stdint.h>

#include "act.h"
#include "tk.h"

/* ---- Limits (overridable at build time, like base/tk_limits.h) ------------------------------ */

#ifndef SUP_ID_BYTES
#define SUP_ID_BYTES 32u /* child ids and supervisor names, with their NUL */
#endif
#ifndef SUP_CHILDREN_MAX
#define SUP_CHILDREN_MAX (1u << 16) /* largest children_max a supervisor may be started with */
#endif
#ifndef SUP_INTENSITY_MAX
#define SUP_INTENSITY_MAX 4096u /* largest MaxR (the ring holds one time per restart) */
#endif
#ifndef SUP_DEFERRED_MAX
#define SUP_DEFERRED_MAX 64u /* requests queued while the supervisor waits for a child */
#endif
#ifndef SUP_DRAIN_STEPS_MAX
#define SUP_DRAIN_STEPS_MAX 64u /* queued work items one callback handles before yielding */
#endif
_Static_assert(SUP_ID_BYTES >= 8u, "ids are short names, but not that short");
_Static_assert(SUP_CHILDREN_MAX <= (1u << 24), "child indices stay far from UINT32_MAX");
_Static_assert((SUP_DEFERRED_MAX & (SUP_DEFERRED_MAX - 1u)) == 0, "power of two");
_Static_assert(SUP_DRAIN_STEPS_MAX >= 1u, "a callback makes progress");

/* ---- Child specs ----------------------------------------------------------------------------- */

/* When a child that exited is restarted (OTP's restart types).
 *   PERMANENT  always.
 *   TRANSIENT  only when its exit reason is not NORMAL or SHUTDOWN (KILLED and ERROR are
 *              abnormal).
 *   TEMPORARY  never; its spec is removed when it exits or is terminated. */
typedef enum sup_restart {
    SUP_PERMANENT,
    SUP_TRANSIENT,
    SUP_TEMPORARY,
} sup_restart;

/* How a child is shut down (OTP's shutdown values).
 *   BRUTAL_KILL  exit signal KILL at once (the child's terminate does not run).
 *   TIMEOUT      exit signal SHUTDOWN, then KILL if no DOWN came within shutdown_timeout_ms.
 *   INFINITY     exit signal SHUTDOWN, then wait for the DOWN however long it takes (meant for
 *                child supervisors, which shut their own children down first). */
typedef enum sup_shutdown {
    SUP_SHUTDOWN_BRUTAL_KILL,
    SUP_SHUTDOWN_TIMEOUT,
    SUP_SHUTDOWN_INFINITY,
} sup_shutdown;

typedef enum sup_child_type {
    SUP_WORKER,
    SUP_SUPERVISOR,
} sup_child_type;

/* Start one child. It must spawn the child with act_spawn_opts.link_to = sup, so that the
 * link exists before the child runs, write the child's ref to out_child and return TK_OK; or
 * return an error and leave nothing running. arg is the spec's arg (for a simple_one_for_one
 * child, the arg given to start_child), borrowed. Context: the supervisor's own callbacks (or
 * the thread calling sup_start, for the first start); it must not block, and must not call the
 * supervisor synchronously. */
typedef tk_err (*sup_start_fn)(act_system *sys, act_ref sup, const void *arg, act_ref *out_child);

/* Per-child restart backoff, as Akka's BackoffSupervisor: the n-th consecutive restart (n from
 * 0) of this child waits min(max_ms, min_ms * 2^n) ms plus a jitter drawn uniformly from
 * [0, that * jitter_pct / 100] (so a delay may pass max_ms by up to jitter_pct percent, as in
 * Akka). n goes back to 0 when the child exits after having run for at least reset_after_ms.
 * min_ms 0 turns backoff off (the restart is immediate, as in OTP); reset_after_ms 0 never
 * resets n. A delayed restart still counts toward the restart intensity when it is decided
 * (at the child's exit). */
typedef struct sup_backoff {
    uint32_t min_ms;         /* 0: no backoff; else 1 to max_ms */
    uint32_t max_ms;         /* >= min_ms when min_ms > 0 */
    uint32_t reset_after_ms; /* 0: never reset */
    uint32_t jitter_pct;     /* 0 to 100 */
} sup_backoff;

/* One child. Copied by the supervisor (sup_start, start_child), so the struct itself may be
 * temporary; arg is borrowed and must stay valid for as long as the supervisor may (re)start
 * the child, which for a static child is the supervisor's whole life. */
typedef struct sup_child_spec {
    char id[SUP_ID_BYTES]; /* 1 to SUP_ID_BYTES - 1 bytes, unique among the supervisor's ids */
    sup_start_fn start;
    const void *arg; /* borrowed: handed to start */
    sup_restart restart;
    sup_shutdown shutdown;
    uint32_t shutdown_timeout_ms; /* TIMEOUT: 1 or more; otherwise 0 */
    sup_child_type type;
    bool significant; /* auto_shutdown: TRANSIENT or TEMPORARY children only */
    sup_backoff backoff;
} sup_child_spec;

/* ---- Supervisor flags and specs -------------------------------------------------------------- */

/* OTP's restart strategies.
 *   ONE_FOR_ONE         restart the child that exited.
 *   ONE_FOR_ALL         shut the others down (reverse order), then start all (in order).
 *   REST_FOR_ONE        shut down the children started after it (reverse order), then start
 *                       it and them (in order).
 *   SIMPLE_ONE_FOR_ONE  one_for_one over dynamic children made from one template spec
 *                       (children[0]); none is started by sup_start. */
typedef enum sup_strategy {
    SUP_ONE_FOR_ONE,
    SUP_ONE_FOR_ALL,
    SUP_REST_FOR_ONE,
    SUP_SIMPLE_ONE_FOR_ONE,
} sup_strategy;

/* OTP 24's automatic shutdown: the supervisor shuts its children down and exits with reason
 * SHUTDOWN when significant children terminate by themselves and are not restarted (a
 * transient one exiting NORMAL or SHUTDOWN, a temporary one for any reason); terminations the
 * supervisor causes (terminate_child, a restart, its own shutdown) never trigger it.
 *   NEVER            off; no child may be significant.
 *   ANY_SIGNIFICANT  when any significant child terminates so.
 *   ALL_SIGNIFICANT  when the last running significant child terminates so. */
typedef enum sup_auto_shutdown {
    SUP_AUTO_SHUTDOWN_NEVER,
    SUP_AUTO_SHUTDOWN_ANY_SIGNIFICANT,
    SUP_AUTO_SHUTDOWN_ALL_SIGNIFICANT,
} sup_auto_shutdown;

typedef struct sup_flags {
    sup_strategy strategy;
    uint32_t intensity; /* MaxR: 0 to SUP_INTENSITY_MAX restarts allowed within period_ms */
    uint32_t period_ms; /* MaxT: 1 or more */
    sup_auto_shutdown auto_shutdown;
    uint64_t seed; /* seeds the tk_rng that draws backoff jitter (replayable) */
} sup_flags;

/* A supervisor: its name (for logs), flags and children. children is borrowed for sup_start
 * only (the specs are copied); each child's arg must outlive the supervisor. */
typedef struct sup_spec {
    char name[SUP_ID_BYTES]; /* 1 to SUP_ID_BYTES - 1 bytes */
    sup_flags flags;
    const sup_child_spec *children; /* child_count specs, started in this order */
    uint32_t child_count;           /* SIMPLE_ONE_FOR_ONE: exactly 1 (the template) */
    /* Room for children, static and added later by start_child: child_count (0 for
     * SIMPLE_ONE_FOR_ONE) to SUP_CHILDREN_MAX, and at least 1. It is part of the
     * supervisor's state, allocated once at start. */
    uint32_t children_max;
    /* Requests that may wait in the mailbox. EXIT, DOWN and timer messages are never refused
     * (the runtime forces them past the capacity). */
    uint32_t mailbox_capacity;
} sup_spec;

/* Start a supervisor and, synchronously inside its init, each child in order, so that when
 * sup_start returns TK_OK every child has started (a simple_one_for_one starts none). The
 * supervisor traps exits and is linked to link_to when that is not ACT_REF_NONE: an EXIT from
 * link_to (its parent) makes it shut its children down and exit with the same reason.
 * spec is borrowed for the call. out_sup is written only on TK_OK.
 * Errors: TK_EINVAL (spec invalid: nothing started), act_spawn's errors (TK_EFULL, TK_ENOMEM,
 * TK_ESTALE when link_to is dead), or the error of the first child whose start failed: the
 * children started before it are unlinked and handed to a short-lived reaper actor that shuts
 * them down in reverse order honouring their shutdown specs, asynchronously (sup_start does
 * not wait for them; if the reaper cannot be spawned they are killed at once).
 * Context: any thread, including an actor's callbacks; runs the children's start functions on
 * the calling thread. Allocates the supervisor's state (children_max children) once. */
TK_MUST_USE tk_err sup_start(act_system *sys, const sup_spec *spec, act_ref link_to,
                             act_ref *out_sup);

/* A sup_start_fn that starts a child supervisor: arg is a const sup_spec * (borrowed; it must
 * outlive the parent, which restarts the child from it), linked to sup. */
TK_MUST_USE tk_err sup_start_as_child(act_system *sys, act_ref sup, const void *arg,
                                      act_ref *out_child);

/* A child spec for a nested supervisor: id (1 to SUP_ID_BYTES - 1 bytes, else TK_ASSERT),
 * start sup_start_as_child, arg spec (borrowed, must outlive the parent), type SUPERVISOR,
 * shutdown INFINITY (OTP's advice for supervisors: they shut their own children down first),
 * not significant, no backoff. restart as given. */
sup_child_spec sup_child_supervisor(const char *id, const sup_spec *spec, sup_restart restart);

/* ---- Requests (messages) --------------------------------------------------------------------- */

/* Message types a supervisor answers. Each is a request: send it with act_request (actors) or
 * act_call (ports), inline payload a sup_request unless said otherwise; the supervisor answers
 * each with one SUP_MSG_REPLY whose inline payload is a sup_reply. A request sent without a
 * correlation id (plain act_send) is carried out but not answered.
 *   START_CHILD      simple_one_for_one: request.arg is the new child's start arg (borrowed,
 *                    must outlive that child), ptr NULL. Other strategies: ptr points to a
 *                    sup_child_spec that stays valid until the message is freed (the
 *                    supervisor copies it; set ptr_free to free it) and it is appended after
 *                    the existing children. Reply: err, child. Errors: TK_EINVAL (bad spec or
 *                    payload), TK_EEXIST (id taken), TK_EFULL (children_max reached), or the
 *                    start function's error (the spec is then dropped, as in OTP).
 *   TERMINATE_CHILD  by request.id, or with id empty by request.child (the ref). Shuts the
 *                    child down per its shutdown spec and answers once it is gone; the spec is
 *                    kept (restart_child can start it again) unless the child is temporary or
 *                    dynamic. A pending restart of it is cancelled. Errors: TK_ENOENT.
 *   RESTART_CHILD    request.id: start a stopped child again. Reply: err, child. Errors:
 *                    TK_ENOENT, TK_EEXIST (running), TK_EAGAIN (a restart is pending),
 *                    TK_EINVAL (simple_one_for_one), or the start function's error.
 *   DELETE_CHILD     request.id: drop a stopped child's spec. Errors: TK_ENOENT, TK_EPERM
 *                    (running), TK_EAGAIN (a restart is pending), TK_EINVAL (simple).
 *   WHICH_CHILDREN   no payload. Reply: counts.specs, and ptr a sup_child_list (owned by the
 *                    reply: freed with it).
 *   COUNT_CHILDREN   no payload. Reply: counts.
 *   STOP             no payload: shut every child down in reverse order and exit with reason
 *                    SHUTDOWN. Answered (TK_OK) when the shutdown begins, in any state.
 * While the supervisor waits for a child to go (a restart or terminate in progress), requests
 * are queued and answered in order afterwards; past SUP_DEFERRED_MAX queued the answer is
 * TK_EAGAIN. Once it is shutting down every request but STOP is answered TK_ESTALE. */
#define SUP_MSG_BASE (ACT_MSG_USER + 0x5300u)
enum {
    SUP_MSG_START_CHILD = SUP_MSG_BASE,
    SUP_MSG_TERMINATE_CHILD,
    SUP_MSG_RESTART_CHILD,
    SUP_MSG_DELETE_CHILD,
    SUP_MSG_WHICH_CHILDREN,
    SUP_MSG_COUNT_CHILDREN,
    SUP_MSG_STOP,
    SUP_MSG_REPLY,
    /* SUP_MSG_BASE + 0x40 to + 0x7f: the supervisor's own timer and wake-up messages, accepted
     * only from itself. Nothing else should use types in [SUP_MSG_BASE, SUP_MSG_LAST]. */
    SUP_MSG_PRIVATE_FIRST = SUP_MSG_BASE + 0x40u,
    SUP_MSG_LAST = SUP_MSG_BASE + 0x7fu,
};

/* The inline payload of every request that has one. */
typedef struct sup_request {
    char id[SUP_ID_BYTES]; /* NUL-terminated; empty when the request names a ref */
    act_ref child;         /* TERMINATE_CHILD with id empty */
    const void *arg;       /* START_CHILD (simple_one_for_one) */
} sup_request;

/* OTP's count_children. */
typedef struct sup_counts {
    uint32_t specs;       /* children known (running or not; dynamic ones for simple) */
    uint32_t active;      /* children running */
    uint32_t supervisors; /* children of type SUPERVISOR, running or not */
    uint32_t workers;     /* children of type WORKER, running or not */
} sup_counts;

/* The inline payload of every SUP_MSG_REPLY. */
typedef struct sup_reply {
    tk_err err;
    act_ref child;     /* START_CHILD, RESTART_CHILD on TK_OK */
    sup_counts counts; /* COUNT_CHILDREN, WHICH_CHILDREN */
} sup_reply;

_Static_assert(sizeof(sup_request) <= ACT_MSG_INLINE_BYTES, "fits inline");
_Static_assert(sizeof(sup_reply) <= ACT_MSG_INLINE_BYTES, "fits inline");

/* What a child is doing, as which_children reports it. */
typedef enum sup_child_status {
    SUP_CHILD_RUNNING,    /* started and not yet seen to exit */
    SUP_CHILD_RESTARTING, /* exited; a restart waits for its backoff or a retry */
    SUP_CHILD_STOPPED,    /* not running and no restart pending (terminated, transient done) */
} sup_child_status;

typedef struct sup_child_info {
    char id[SUP_ID_BYTES];
    act_ref ref; /* RUNNING: the child; ACT_REF_NONE otherwise */
    sup_child_type type;
    sup_restart restart;
    sup_child_status status;
} sup_child_info;

/* WHICH_CHILDREN's reply payload (ptr): count entries in start order. */
typedef struct sup_child_list {
    uint32_t count;
    uint32_t size_bytes; /* of this whole block */
    sup_child_info items[];
} sup_child_list;

/* ---- Synchronous wrappers for outside threads ------------------------------------------------ */

/* Each sends one request from port (whose system is sys) to sup with act_call and waits up to
 * timeout_ms for the answer. out_ parameters are written only on TK_OK. Besides the reply's
 * own errors (above), each may return TK_ESTALE (sup is dead), TK_EFULL (sup's mailbox or
 * the message pool is full), TK_ENOMEM, or TK_ETIMEDOUT (no answer in time: the request may
 * still be carried out). Context: an outside thread that owns port; blocks. */

/* START_CHILD for a simple_one_for_one supervisor: arg is the new child's start arg
 * (borrowed, must outlive the child). */
TK_MUST_USE tk_err sup_start_child(act_system *sys, act_port *port, act_ref sup, const void *arg,
                                   uint32_t timeout_ms, act_ref *out_child);

/* START_CHILD for the other strategies: spec is copied (borrowed for the call). */
TK_MUST_USE tk_err sup_start_child_spec(act_system *sys, act_port *port, act_ref sup,
                                        const sup_child_spec *spec, uint32_t timeout_ms,
                                        act_ref *out_child);

/* TERMINATE_CHILD by id (non-NULL; child ignored) or, with id NULL, by the child's ref. */
TK_MUST_USE tk_err sup_terminate_child(act_system *sys, act_port *port, act_ref sup, const char *id,
                                       act_ref child, uint32_t timeout_ms);

/* RESTART_CHILD: out_child gets the new ref. */
TK_MUST_USE tk_err sup_restart_child(act_system *sys, act_port *port, act_ref sup, const char *id,
                                     uint32_t timeout_ms, act_ref *out_child);

/* DELETE_CHILD. */
TK_MUST_USE tk_err sup_delete_child(act_system *sys, act_port *port, act_ref sup, const char *id,
                                    uint32_t timeout_ms);

/* WHICH_CHILDREN: copies up to capacity entries (in start order) into out_children and the
 * number of children (which may exceed capacity) into out_count. */
TK_MUST_USE tk_err sup_which_children(act_system *sys, act_port *port, act_ref sup,
                                      sup_child_info *out_children, uint32_t capacity,
                                      uint32_t *out_count, uint32_t timeout_ms);

/* COUNT_CHILDREN. */
TK_MUST_USE tk_err sup_count_children(act_system *sys, act_port *port, act_ref sup,
                                      uint32_t timeout_ms, sup_counts *out_counts);

/* STOP, then wait for sup to exit, all within timeout_ms. TK_OK once it has exited (its
 * children are gone before it); TK_ETIMEDOUT if it takes longer (the shutdown goes on). */
TK_MUST_USE tk_err sup_stop(act_system *sys, act_port *port, act_ref sup, uint32_t timeout_ms);

/* ---- Counters -------------------------------------------------------------------------------- */

/* Process-wide counters over every supervisor, for /metrics. Each is read atomically. */
typedef struct sup_stats {
    uint64_t restarts;             /* restart decisions carried out (one per intensity entry:
                                      a one_for_all restart of n children counts 1) */
    uint64_t intensity_exceeded;   /* supervisors that gave up: reached_max_restart_intensity */
    uint64_t child_start_failures; /* start functions that returned an error */
    uint64_t shutdown_kills;       /* TIMEOUT shutdowns that ended in a kill */
} sup_stats;

void sup_stats_read(sup_stats *out_stats);

#endif /* TK_SUPERVISOR_SUP_H */
