/* Private to supervisor/: the supervisor actor's state, the child state machine and the
 * helpers shared by its files. Nothing outside supervisor/ includes this.
 *
 * Files: sup_spec.c (validation, counters, logging), sup_child.c (one child: its state machine,
 * start, stop, timers, the table), sup_ops.c (the supervisor's operations: exit decisions,
 * restarts, intensity, stop phases, shutdown, the work drain), sup_api.c (requests inside the
 * actor and the wrappers for ports), sup_actor.c (the behaviour and sup_start). */
#ifndef TK_SUPERVISOR_SUP_INTERNAL_H
#define TK_SUPERVISOR_SUP_INTERNAL_H

#include <stddef.h>

#include "sup.h"

/* ---- Child state machine (STYLE.md section 10) -----------------------------------------------
 *
 *   STOPPED --start--> STARTING --ok--> RUNNING --its EXIT, handled later--> EXITED
 *      ^  ^               |               |  |                                  |
 *      |  +---- failed ---+               |  +--stop begun--> STOPPING --DOWN-->+--> STOPPED
 *      |                                  +--its EXIT, or no monitor possible------> STOPPED
 *      +--backoff--> BACKOFF --timer--> STARTING;   BACKOFF --cancelled--> STOPPED
 *
 * Per-state invariants (sup__child_check):
 *   STOPPED   ref NONE, no timer armed.
 *   STARTING  ref NONE, no timer armed (only inside sup__child_start).
 *   RUNNING   ref live, no timer armed.
 *   STOPPING  ref set, monitor_id set; a kill timer armed only for a TIMEOUT shutdown.
 *   EXITED    ref set (its last life), exit_reason set, no timer armed.
 *   BACKOFF   ref NONE; the backoff timer armed, or fired and start_due set. */
typedef enum sup__cstate {
    SUP__STOPPED,
    SUP__STARTING,
    SUP__RUNNING,
    SUP__STOPPING,
    SUP__EXITED,
    SUP__BACKOFF,
} sup__cstate;

typedef struct sup__child {
    sup_child_spec spec; /* owned copy; spec.arg is what start gets (start_child's arg for a
                            dynamic child) */
    act_ref ref;
    uint64_t key;           /* unique in this supervisor: names the child in timer messages */
    uint64_t monitor_id;    /* STOPPING */
    uint64_t started_ns;    /* act_now_ns of its last successful start; 0 never started */
    act_timer timer;        /* STOPPING: the kill timer; BACKOFF: the restart timer */
    uint64_t timer_seq;     /* the armed timer's sequence number (stale fires carry another) */
    act_reason exit_reason; /* EXITED: why it exited */
    uint32_t backoff_count; /* consecutive restarts, for the backoff delay */
    sup__cstate state;
    bool timer_armed;
    bool in_group;      /* in the current stop phase */
    bool pending_start; /* to be started by the pending group restart */
    bool start_due;     /* BACKOFF: its timer fired; start it when idle */
    bool retry_due;     /* a restart failed to start something: retry (OTP's try_again) */
} sup__child;

/* ---- The supervisor's own state machine ------------------------------------------------------
 *
 *   IDLE --restart needs a stop phase--> RESTARTING --phase done--> IDLE
 *   IDLE --terminate_child of a running child--> TERMINATING --its DOWN--> IDLE
 *   any --intensity, auto_shutdown, parent's EXIT, STOP--> SHUTTING_DOWN --all gone--> exit
 *
 * Outside IDLE, requests wait in `deferred` and children's exits wait in their EXITED state;
 * sup__drain handles them, one at a time, whenever the supervisor is IDLE again. */
typedef enum sup__mode {
    SUP__IDLE,
    SUP__RESTARTING,
    SUP__TERMINATING,
    SUP__SHUTTING_DOWN,
} sup__mode;

typedef struct sup__state {
    char name[SUP_ID_BYTES];
    sup_flags flags;
    sup_child_spec template_spec; /* SIMPLE_ONE_FOR_ONE: the template */
    act_system *sys;              /* borrowed: outlives the supervisor */
    act_ref self;
    act_ref parent; /* link_to at start, or NONE */
    tk_rng rng;     /* backoff jitter */
    bool reaper;    /* a reaper: shuts adopted children down, then exits NORMAL */
    sup__mode mode;
    bool done;              /* SHUTTING_DOWN is over: exit when this callback returns */
    bool work_hint;         /* some child may be EXITED, start_due or retry_due */
    bool stop_waiting;      /* a child is STOPPING: its DOWN resumes the stop phase */
    act_reason exit_reason; /* SHUTTING_DOWN: the reason to exit with */
    uint32_t stop_cursor;   /* stop phase: children at index >= cursor are dealt with */
    uint64_t op_child_key;  /* RESTARTING: the child whose exit began it; TERMINATING: the
                               child being terminated */
    uint32_t op_delay_ms;   /* RESTARTING: the backoff before the group starts again */
    act_msg *op_request;    /* owned, TERMINATING: the request to answer, or NULL */
    act_msg *deferred[SUP_DEFERRED_MAX]; /* owned: requests that arrived while busy */
    uint32_t deferred_head;
    uint32_t deferred_count;
    uint64_t next_key;
    uint64_t next_seq;
    uint32_t children_count;
    uint32_t children_max;
    sup__child *children;  /* borrowed: children_max entries in tail, in start order */
    uint64_t *restarts_ns; /* borrowed: flags.intensity entries in tail, a ring */
    uint32_t ring_head;    /* the oldest restart time */
    uint32_t ring_count;
    max_align_t tail[]; /* children, then restarts_ns */
} sup__state;

/* Internal messages (from the supervisor to itself). */
enum {
    SUP__MSG_KILL_TIMER = SUP_MSG_PRIVATE_FIRST, /* data: sup__timer_data */
    SUP__MSG_BACKOFF_TIMER,                      /* data: sup__timer_data */
    SUP__MSG_KICK,                               /* no data: drain more work */
};

typedef struct sup__timer_data {
    uint64_t key;
    uint64_t seq;
} sup__timer_data;

/* What sup_start and the reaper hand to the supervisor's init. */
typedef struct sup__init_arg {
    const sup_spec *spec;        /* borrowed: a supervisor (reap NULL) */
    act_ref parent;              /* link_to */
    const sup__state *reap_from; /* borrowed: a reaper adopts reap_from's first reap_count */
    uint32_t reap_count;
} sup__init_arg;

/* ---- sup_spec.c ------------------------------------------------------------------------------ */

/* TK_OK when spec can start a supervisor, else TK_EINVAL (nothing is logged). */
tk_err sup__spec_check(const sup_spec *spec);

/* TK_OK when child can be a child of a supervisor with flags, else TK_EINVAL. */
tk_err sup__child_spec_check(const sup_flags *flags, const sup_child_spec *child);

/* True when id is a valid id: 1 to SUP_ID_BYTES - 1 bytes and NUL-terminated in the array. */
bool sup__id_is_valid(const char id[SUP_ID_BYTES]);

/* Bytes of state a supervisor with room for children_max children and intensity restart
 * times needs. */
size_t sup__state_size(uint32_t children_max, uint32_t intensity);

/* Process-wide counters. */
typedef enum sup__stat {
    SUP__STAT_RESTARTS,
    SUP__STAT_INTENSITY_EXCEEDED,
    SUP__STAT_CHILD_START_FAILURES,
    SUP__STAT_SHUTDOWN_KILLS,
} sup__stat;

void sup__stat_add(sup__stat stat);

/* Log one child event: fields supervisor, child, reason (kind), err and detail (reason may be
 * NULL: no reason fields). */
void sup__log_child(tk_log_level level, const sup__state *s, const sup__child *child,
                    const char *msg, const act_reason *reason);

/* ---- sup_child.c ----------------------------------------------------------------------------- */

void sup__child_set_state(sup__child *child, sup__cstate next);

/* Assert the per-state invariants of one child (cheap: TK_ASSERT). */
void sup__child_check(const sup__child *child);

/* Initialise table entry child from spec (copied) and arg: STOPPED, a fresh key. */
void sup__child_init(sup__state *s, sup__child *child, const sup_child_spec *spec, const void *arg);

/* Start a STOPPED or BACKOFF child with its start function: RUNNING on TK_OK, STOPPED with
 * the start function's error otherwise (logged and counted). */
TK_MUST_USE tk_err sup__child_start(sup__state *s, sup__child *child);

/* Begin stopping a RUNNING child: unlink, monitor, exit signal per its shutdown spec, kill
 * timer for TIMEOUT. True when it is now STOPPING (its DOWN will come); false when it could
 * not be monitored and was killed and counted STOPPED at once. */
bool sup__child_stop_begin(sup__state *s, sup__child *child);

/* Its DOWN came: STOPPING -> STOPPED, the kill timer cancelled. */
void sup__child_stopped(sup__state *s, sup__child *child, const act_reason *reason);

/* The kill timer with seq fired for child: kill it if it is still STOPPING on that timer. */
void sup__child_kill_timer(sup__state *s, sup__child *child, uint64_t seq);

/* Arm child's backoff timer for delay_ms: STOPPED -> BACKOFF. False when no timer could be
 * armed (the caller starts it at once). */
bool sup__child_backoff_arm(sup__state *s, sup__child *child, uint32_t delay_ms);

/* The backoff timer with seq fired for child: mark its start due if it is still BACKOFF on
 * that timer. */
void sup__child_backoff_fired(sup__state *s, sup__child *child, uint64_t seq);

/* BACKOFF -> STOPPED, its timer cancelled. */
void sup__child_backoff_cancel(sup__state *s, sup__child *child);

/* The backoff delay of child's next restart, in ms (0: no backoff), decided at now_ns;
 * counts the restart toward the next delay. */
uint32_t sup__child_backoff_next(sup__state *s, sup__child *child, uint64_t now_ns);

/* Table lookups: the index, or UINT32_MAX when absent. */
uint32_t sup__child_find_ref(const sup__state *s, act_ref ref);
uint32_t sup__child_find_key(const sup__state *s, uint64_t key);
uint32_t sup__child_find_id(const sup__state *s, const char *id);
uint32_t sup__child_find_monitor(const sup__state *s, uint64_t monitor_id);

/* Remove the STOPPED child at index, keeping the order of the others. */
void sup__child_remove(sup__state *s, uint32_t index);

/* ---- sup_ops.c ------------------------------------------------------------------------------- */

/* A child's exit was seen (EXIT message): record it by mode. */
void sup__on_child_exit(sup__state *s, uint32_t index, const act_reason *reason);

/* A DOWN with monitor id: the STOPPING child it names is gone; resume the stop phase. */
void sup__on_down(sup__state *s, uint64_t monitor_id, const act_reason *reason);

/* Begin shutting every child down (reverse order), then exit with reason. Answers the
 * pending and queued requests TK_ESTALE. A second call keeps the first reason. */
void sup__shutdown_begin(sup__state *s, const act_reason *reason);

/* Begin the one-child stop phase of terminate_child (mode TERMINATING); request (owned) is
 * answered when the child is gone. */
void sup__terminate_begin(sup__state *s, uint32_t index, act_msg *request);

/* Continue the stop phase after a child went. */
void sup__stop_advance(sup__state *s);

/* While IDLE, handle queued work (exits, due restarts, queued requests), at most
 * SUP_DRAIN_STEPS_MAX items; more work left wakes the supervisor again (SUP__MSG_KICK). */
void sup__drain(sup__state *s);

/* Assert the supervisor's invariants (children and mode); TK_DASSERT-heavy. */
void sup__invariants(const sup__state *s);

/* ---- sup_api.c ------------------------------------------------------------------------------- */

/* A request (SUP_MSG_START_CHILD .. SUP_MSG_STOP) arrived: carry it out now or queue it. */
void sup__request_arrived(sup__state *s, act_msg *msg);

/* Carry out a request while IDLE (from the mailbox, or queued). msg stays the caller's,
 * except that TERMINATE_CHILD may take a copy of it. */
void sup__request_handle(sup__state *s, act_msg *msg);

/* Answer request (borrowed) with err and nothing else; no-op without a correlation id. */
void sup__reply_err(sup__state *s, const act_msg *request, tk_err err);

/* The oldest queued request (owned by the caller now), or NULL. */
act_msg *sup__deferred_pop(sup__state *s);

/* Answer every queued request TK_ESTALE and free it. */
void sup__deferred_refuse_all(sup__state *s);

/* Copy msg into a fresh envelope (taking its ptr payload). NULL when the pool is dry. */
act_msg *sup__msg_copy(sup__state *s, act_msg *msg);

#endif /* TK_SUPERVISOR_SUP_INTERNAL_H */
