/* troika actor runtime (prefix act_): lightweight actors with OTP's process semantics.
 *
 * An actor is a behaviour {init, handle, terminate} plus per-actor state, run by one of N
 * scheduler threads one turn at a time (at most ACT_TURN_MSGS_MAX messages per turn). Actors
 * share nothing and talk by messages: typed envelopes whose payload is moved into the
 * receiver's bounded MPSC mailbox. Links, monitors and trap_exit follow Erlang/OTP's
 * exit-signal rules (an exit signal that kills acts before waiting messages are handled; a
 * trapped one queues behind them); a registry names actors; process groups broadcast; timers and
 * arbitrary libuv work run on one I/O loop thread that the runtime owns. The runtime knows nothing
 * of trading. docs/actors.md describes the model; this header is the API.
 *
 * Threads: every function here may be called from any thread (scheduler, loop, or an
 * outside thread such as main) unless it says otherwise. Functions that take an act_ctx may
 * be called only from inside that actor's own callbacks. Nothing here blocks a scheduler
 * thread except act_port_receive and act_call, which are for outside threads only. */
#ifndef TK_ACTORS_ACT_H
#define TK_ACTORS_ACT_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tk.h"

struct uv_loop_s; /* libuv's loop; only act_loop_run hands one out */

/* ---- Limits (overridable at build time, like base/tk_limits.h) ------------------------------ */

#ifndef ACT_TURN_MSGS_MAX
#define ACT_TURN_MSGS_MAX 64u /* messages one actor handles per turn before yielding */
#endif
#ifndef ACT_MAILBOX_DEPTH_MAX
#define ACT_MAILBOX_DEPTH_MAX (1u << 20) /* largest mailbox capacity a spawn may ask for */
#endif
#ifndef ACT_THREADS_MAX
#define ACT_THREADS_MAX 64u
#endif
#ifndef ACT_ACTORS_MAX
#define ACT_ACTORS_MAX (1u << 24) /* largest actors_max a system may be opened with */
#endif
#ifndef ACT_NAME_BYTES_MAX
#define ACT_NAME_BYTES_MAX 47u /* registered names and group names, without the NUL */
#endif
#ifndef ACT_REASON_DETAIL_BYTES
#define ACT_REASON_DETAIL_BYTES 56u /* exit reason detail text, with its NUL */
#endif
#ifndef ACT_MSG_INLINE_BYTES
#define ACT_MSG_INLINE_BYTES 80u /* payload bytes carried inside the envelope */
#endif
_Static_assert(ACT_TURN_MSGS_MAX >= 1u, "a turn handles at least one message");
_Static_assert(ACT_MAILBOX_DEPTH_MAX < (1u << 30), "mailbox count shares a word with flags");
_Static_assert(ACT_ACTORS_MAX <= (1u << 30), "slot indices leave room for a tag");

/* ---- References ------------------------------------------------------------------------------ */

/* An actor's identity: a slot in the system's actor table and the generation of the actor
 * that holds it. A restart or a reuse of the slot bumps the generation, so an old ref gets
 * TK_ESTALE and never reaches the new actor or freed memory. Pass by value; compare with
 * act_ref_eq. gen 0 is never a live actor: ACT_REF_NONE means "no actor". */
typedef struct act_ref {
    uint32_t slot;
    uint32_t gen;
} act_ref;

#define ACT_REF_NONE ((act_ref){.slot = 0, .gen = 0})

static inline bool act_ref_eq(act_ref a, act_ref b)
{
    return a.slot == b.slot && a.gen == b.gen;
}

static inline bool act_ref_is_none(act_ref ref)
{
    return ref.gen == 0;
}

/* ---- Exit reasons (OTP's) -------------------------------------------------------------------- */

typedef enum act_reason_kind {
    ACT_REASON_NORMAL,   /* finished its work; links ignore it unless they trap exits */
    ACT_REASON_SHUTDOWN, /* told to stop (by a supervisor); not an error */
    ACT_REASON_KILL,     /* as a signal only: untrappable; the victim exits with KILLED */
    ACT_REASON_KILLED,   /* exited because of a kill signal */
    ACT_REASON_ERROR,    /* failed: err and detail say why */
    ACT_REASON_NOPROC,   /* in a DOWN for a monitor of an actor that was already dead */
} act_reason_kind;

typedef struct act_reason {
    act_reason_kind kind;
    tk_err err;                           /* ERROR: the failing code; TK_OK otherwise */
    char detail[ACT_REASON_DETAIL_BYTES]; /* NUL-terminated, may be empty */
} act_reason;

/* The reason's kind name ("normal", "shutdown", "kill", "killed", "error", "noproc"). */
const char *act_reason_kind_name(act_reason_kind kind);

/* A reason of kind with no error and no detail. */
act_reason act_reason_of(act_reason_kind kind);

/* ---- Messages -------------------------------------------------------------------------------- */

/* System message types, delivered to actors like any other; user types start at ACT_MSG_USER.
 *   EXIT    a linked actor exited and this one traps exits: payload act_exit_info.
 *   DOWN    a monitored actor exited: payload act_exit_info; correlation is the monitor id.
 *   TIMEOUT a request made with act_request got no reply in time; correlation is its id. */
enum {
    ACT_MSG_EXIT = 1,
    ACT_MSG_DOWN = 2,
    ACT_MSG_TIMEOUT = 3,
    ACT_MSG_USER = 1024,
};

/* The envelope. Allocated from the system's message pool (act_msg_alloc), filled by the
 * sender, moved into the receiver's mailbox by act_send, handed to the receiver's handle
 * (borrowed for the call) and returned to the pool by the runtime afterwards.
 * Payload: up to ACT_MSG_INLINE_BYTES inline in data (size_bytes of them used), and/or one
 * moved pointer ptr that the runtime frees with ptr_free when the message is freed, unless a
 * receiver took it (set ptr to NULL). */
/* Private: the link of the runtime's intrusive queues (mailboxes, run queues). */
typedef struct act__qnode {
    _Atomic(struct act__qnode *) next;
} act__qnode;

typedef struct act_msg {
    act__qnode node;             /* private: mailbox link */
    uint32_t type;               /* ACT_MSG_* or a user type >= ACT_MSG_USER */
    uint32_t size_bytes;         /* inline payload bytes used in data */
    act_ref sender;              /* who sent it (ACT_REF_NONE from outside threads) */
    uint64_t correlation;        /* request id, monitor id, or 0 */
    void *ptr;                   /* moved payload, or NULL */
    void (*ptr_free)(void *ptr); /* frees ptr (NULL: ptr is not freed) */
    alignas(8) unsigned char data[ACT_MSG_INLINE_BYTES];
} act_msg;

_Static_assert(sizeof(act_msg) == 128, "two cache lines per envelope");

/* What EXIT and DOWN messages carry in data. */
typedef struct act_exit_info {
    act_ref from; /* the actor that exited (or the target of a noproc monitor) */
    act_reason reason;
} act_exit_info;

_Static_assert(sizeof(act_exit_info) <= ACT_MSG_INLINE_BYTES, "fits inline");

/* ---- The system ------------------------------------------------------------------------------ */

typedef struct act_system act_system;

typedef struct act_system_opts {
    uint32_t threads;           /* scheduler threads, 1 to ACT_THREADS_MAX; 0: online CPUs */
    uint32_t actors_max;        /* live actors at once, 1 to ACT_ACTORS_MAX (memory is touched
                                   only as slots are used) */
    uint32_t msgs_max;          /* envelopes in flight at once across the system: the pool
                                   grows in slabs up to exactly this; exit signals, EXIT and
                                   DOWN may use a reserve of 16 * 1024 more, so as never to
                                   be lost */
    uint32_t spin_us;           /* an idle scheduler spins this long before parking */
    uint32_t turn_deadline_ms;  /* a handler running longer is logged, counted, and its actor
                                   exited once it returns; 0: no deadline */
    uint32_t stuck_deadline_ms; /* a turn running longer aborts the process; 0: never */
    const tk_clock *clock;      /* borrowed, outlives the system: timers' and the watchdog's time
                                   source is the loop, this is what actors read via act_now_ns */
} act_system_opts;

/* Start a system: its scheduler threads, its libuv loop thread and its watchdog.
 * Errors: TK_EINVAL (an option out of range; nothing started), TK_ENOMEM, TK_EAGAIN (a thread
 * could not be created). Everything started is stopped again on error. */
TK_MUST_USE tk_err act_system_open(const act_system_opts *opts, act_system **out_sys);

/* Stop the system: every live actor is exited with reason shutdown (its terminate runs), the
 * threads are joined and all memory is released. Must not be called from a scheduler or loop
 * thread. NULL is a no-op. */
void act_system_close(act_system *sys);

/* Counters, readable at any time (each is read atomically; together they are a snapshot only
 * approximately). For /metrics. */
typedef struct act_stats {
    uint64_t spawned;
    uint64_t exited;
    uint64_t live;
    uint64_t messages_sent;
    uint64_t sends_full;        /* act_send refused with TK_EFULL */
    uint64_t sends_stale;       /* deliveries to a dead actor: act_send, exit signals, DOWN */
    uint64_t watchdog_overruns; /* handlers that ran past turn_deadline_ms */
    uint64_t steals;            /* actors taken from another scheduler's run queue */
    uint64_t parks;             /* times a scheduler thread went to sleep */
    uint64_t msgs_pooled;       /* envelopes the pool holds, free or in flight */
} act_stats;

void act_stats_read(act_system *sys, act_stats *out_stats);

/* The system's clock reading, in monotonic nanoseconds. */
uint64_t act_now_ns(const act_system *sys);

/* ---- Behaviours and spawning ----------------------------------------------------------------- */

typedef struct act_ctx act_ctx; /* handed to a behaviour's callbacks; valid only during them */

/* What an actor does. state is the actor's own zero-initialised block of state_size_bytes
 * (NULL when 0), owned by the runtime and freed after terminate.
 *   init: runs once, synchronously inside act_spawn on the spawning thread, before any
 *     message; arg is the spawn's arg (borrowed for the call). An error fails the spawn with
 *     that code: the actor exits with reason ERROR, without terminate, and as in OTP its
 *     links (link_to included) receive that exit signal, so a non-trapping parent spawning a
 *     linked child whose init fails exits too. Calling act_stop in init ends the actor the
 *     same way (no terminate) while the spawn returns TK_OK.
 *   handle: one message; msg is borrowed for the call (re-sending it with act_send moves it
 *     on). Returning an error ends the actor with reason ERROR and that code; act_fail sets
 *     the detail text.
 *   terminate (may be NULL): runs once when the actor exits for any reason but kill, on a
 *     scheduler thread, before links and monitors are told. It cannot stop the exit. */
typedef struct act_behaviour {
    const char *name; /* for logs; static */
    tk_err (*init)(act_ctx *ctx, void *state, const void *arg);
    tk_err (*handle)(act_ctx *ctx, void *state, act_msg *msg);
    void (*terminate)(act_ctx *ctx, void *state, const act_reason *reason);
} act_behaviour;

typedef struct act_spawn_opts {
    const act_behaviour *behaviour; /* borrowed, static */
    size_t state_size_bytes;        /* 0 for none */
    const void *arg;                /* passed to init, borrowed for the spawn only */
    uint32_t mailbox_capacity;      /* 1 to ACT_MAILBOX_DEPTH_MAX messages; no memory is
                                       reserved for it up front. A message counts until its
                                       handler has returned; handled ones are released in
                                       batches of max(1, min(capacity / 4, 16)) within a
                                       turn, the rest when it ends. So at capacity 1 nothing,
                                       not even a self-send, fits while a message is handled:
                                       an actor that continues itself needs 2 or more */
    act_ref link_to;                /* link atomically with this actor (spawn_link), or NONE */
    bool trap_exit;                 /* start with trap_exit on (can change later) */
} act_spawn_opts;

/* Spawn an actor: take a slot, allocate its state, link it, run init, then let it run.
 * Messages sent to it during init wait until init returns. out_ref is written only on TK_OK.
 * Errors: TK_EINVAL (bad options), TK_EFULL (actors_max live actors), TK_ENOMEM, TK_ESTALE
 * (link_to is dead, or the system is closing), or init's error. */
TK_MUST_USE tk_err act_spawn(act_system *sys, const act_spawn_opts *opts, act_ref *out_ref);

/* Inside callbacks: the actor itself, its system, and exit control. */
act_ref act_self(const act_ctx *ctx);
act_system *act_ctx_system(const act_ctx *ctx);

/* End this actor after the current callback returns, with reason kind (NORMAL or SHUTDOWN
 * usually). Later messages are not handled. */
void act_stop(act_ctx *ctx, act_reason_kind kind);

/* Record why the current handler fails: call, then return err from handle. The detail is
 * formatted (printf-style) and truncated to ACT_REASON_DETAIL_BYTES - 1 bytes. Returns err. */
tk_err act_fail(act_ctx *ctx, tk_err err, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

/* End this actor's turn when the current handler returns, even if messages are waiting, so
 * that other actors on its scheduler run first (erlang:yield/0). A message an actor sends to
 * itself is otherwise handled in the same turn; send one and yield to loop cooperatively. */
void act_yield(act_ctx *ctx);

/* Turn trapping of exit signals on or off for this actor (process_flag(trap_exit, on)). */
void act_trap_exit(act_ctx *ctx, bool on);

/* ---- Sending --------------------------------------------------------------------------------- */

/* Take an envelope from the pool, type 0, size 0, no sender, no pointer payload. NULL when
 * msgs_max envelopes are in flight: the caller sheds, backs off or escalates (TK_EFULL).
 * O(1) from the calling thread's cache on a scheduler thread. */
TK_MUST_USE act_msg *act_msg_alloc(act_system *sys);

/* Return an envelope that was not sent (frees its pointer payload). NULL is a no-op. */
void act_msg_free(act_system *sys, act_msg *msg);

/* Move msg into to's mailbox and schedule to if it was idle. Lock-free: one CAS on the
 * mailbox word and one exchange on its queue. msg is moved on TK_OK; on error the caller
 * still owns it. Errors: TK_ESTALE (to is dead, or a later generation holds its slot),
 * TK_EFULL (to's mailbox holds mailbox_capacity messages: apply a policy). */
TK_MUST_USE tk_err act_send(act_system *sys, act_ref to, act_msg *msg);

/* Allocate, fill (type, sender, size_bytes of data copied inline) and send. On error nothing
 * is left allocated. Errors: those of act_send, TK_EINVAL (size_bytes >
 * ACT_MSG_INLINE_BYTES), TK_EFULL (no envelope free). */
TK_MUST_USE tk_err act_send_data(act_system *sys, act_ref to, act_ref sender, uint32_t type,
                                 const void *data, uint32_t size_bytes);

/* A registered name and the ref it was last found at: act_send_named looks the name up only
 * when the ref is unknown or stale, so that sending by name costs a send. Initialise with
 * ACT_NAMED(name); owned by one actor (not shared across threads). */
typedef struct act_named {
    const char *name; /* borrowed, static */
    act_ref ref;      /* ACT_REF_NONE until first looked up */
} act_named;

#define ACT_NAMED(n) ((act_named){.name = (n), .ref = ACT_REF_NONE})

/* Send to the actor registered as to->name (Erlang's Name ! Msg): type, sender, size_bytes of
 * data copied inline, and ptr moved as the pointer payload with ptr_free (both may be NULL).
 * The name is looked up again when its cached ref is stale (the holder exited and another
 * registered). ptr is moved in every case: on an error it has been freed with ptr_free.
 * Errors: TK_ENOENT (no such name), TK_EINVAL (size_bytes > ACT_MSG_INLINE_BYTES), TK_EFULL
 * (no envelope, or the mailbox is full), TK_ESTALE. */
TK_MUST_USE tk_err act_send_named(act_system *sys, act_named *to, act_ref sender, uint32_t type,
                                  const void *data, uint32_t size_bytes, void *ptr,
                                  void (*ptr_free)(void *ptr));

/* act_send_named with a heap copy of payload_bytes of payload as the pointer payload (freed
 * with free by whoever ends up with the message): for payloads larger than the envelope.
 * Errors: TK_ENOMEM, and those of act_send_named. */
TK_MUST_USE tk_err act_send_named_copy(act_system *sys, act_named *to, act_ref sender,
                                       uint32_t type, const void *data, uint32_t size_bytes,
                                       const void *payload, size_t payload_bytes);

/* Send a request and expect one reply (with act_reply) within timeout_ms: msg->sender must be
 * the requester and its correlation is set to a fresh request id (written to out_request_id).
 * If no reply arrives in time, the requester receives ACT_MSG_TIMEOUT with that correlation
 * and a reply arriving later is dropped. Errors: those of act_send (nothing armed). */
TK_MUST_USE tk_err act_request(act_system *sys, act_ref to, act_msg *msg, uint32_t timeout_ms,
                               uint64_t *out_request_id);

/* Answer request (the message being handled, which must have come through act_request or
 * act_call: a correlation of 0 is a programmer error) with reply: sets reply's correlation
 * and sends it to the requester, past its mailbox capacity (it waits for exactly one answer).
 * reply is moved on TK_OK. A reply to a request already timed out is freed and reported as
 * TK_OK (the requester has moved on). Errors: TK_ESTALE (the requester is gone). */
TK_MUST_USE tk_err act_reply(act_system *sys, const act_msg *request, act_msg *reply);

/* ---- Exit signals, links, monitors ----------------------------------------------------------- */

/* Send an exit signal from `from` to `to` (erlang:exit/2): KILL always ends to (reason
 * KILLED); otherwise a trapping actor receives ACT_MSG_EXIT, and one not trapping ignores
 * NORMAL and exits with any other reason. Errors: TK_ESTALE (to is already dead). */
TK_MUST_USE tk_err act_exit(act_system *sys, act_ref from, act_ref to, const act_reason *reason);

/* Link a and b (bidirectional; linking twice is one link): when one exits, the other gets an
 * exit signal with the same reason. Errors: TK_ESTALE (either is dead; nothing linked). */
TK_MUST_USE tk_err act_link(act_system *sys, act_ref a, act_ref b);

/* Remove the link between a and b, if any. Signals already sent are not recalled. */
void act_unlink(act_system *sys, act_ref a, act_ref b);

/* watcher monitors target: when target exits, watcher receives ACT_MSG_DOWN with the monitor
 * id as correlation. If target is already dead, the DOWN (reason NOPROC) is sent at once.
 * out_monitor_id is always written on TK_OK. Errors: TK_ESTALE (watcher is dead),
 * TK_ENOMEM. */
TK_MUST_USE tk_err act_monitor(act_system *sys, act_ref watcher, act_ref target,
                               uint64_t *out_monitor_id);

/* Remove a monitor; a DOWN already sent is not recalled. Unknown ids are ignored. */
void act_demonitor(act_system *sys, act_ref watcher, uint64_t monitor_id);

/* ---- Registry and process groups ------------------------------------------------------------- */

/* Register name (1 to ACT_NAME_BYTES_MAX bytes) for ref; the name is dropped when ref exits.
 * Errors: TK_EINVAL (bad name), TK_EEXIST (name taken, or ref already has a name),
 * TK_ESTALE (ref is dead). */
TK_MUST_USE tk_err act_register(act_system *sys, const char *name, act_ref ref);

/* Drop a registered name. Errors: TK_ENOENT. */
TK_MUST_USE tk_err act_unregister(act_system *sys, const char *name);

/* Look up a name. Errors: TK_ENOENT (not registered; out_ref untouched). */
TK_MUST_USE tk_err act_whereis(act_system *sys, const char *name, act_ref *out_ref);

/* The names registered now (Erlang's registered()), for a caller that shows or picks one: up to
 * max of them, sorted bytewise, into out (each NUL-terminated); returns how many are registered,
 * which may exceed max (out then holds the first max in that order). A snapshot: names come and
 * go with their actors. O(names x max) under the registry's lock: for a debug or admin path, not
 * a hot one. */
uint32_t act_registered(act_system *sys, char (*out)[ACT_NAME_BYTES_MAX + 1u], uint32_t max);

/* Join ref to group (created on first join; 1 to ACT_NAME_BYTES_MAX bytes). Joining twice is
 * one membership. Members leave when they exit. Errors: TK_EINVAL, TK_ESTALE, TK_ENOMEM. */
TK_MUST_USE tk_err act_group_join(act_system *sys, const char *group, act_ref ref);

/* Leave group. Errors: TK_ENOENT (ref is not a member). */
TK_MUST_USE tk_err act_group_leave(act_system *sys, const char *group, act_ref ref);

/* Send a copy of (type, sender, inline data) to every member of group. Members whose
 * mailbox is full or who died meanwhile are skipped and counted in out_skipped (may be NULL).
 * out_delivered (may be NULL) counts the copies sent. Errors: TK_EINVAL (size), TK_EFULL
 * (the message pool ran dry part way; the counts say how far it got). An unknown or empty
 * group delivers nothing and is TK_OK. */
TK_MUST_USE tk_err act_group_broadcast(act_system *sys, const char *group, act_ref sender,
                                       uint32_t type, const void *data, uint32_t size_bytes,
                                       uint32_t *out_delivered, uint32_t *out_skipped);

/* A number that changes whenever any group gains or loses a member: a caller that keeps a copy
 * of act_group_members may reuse it while this stays the same (the journal does, per
 * publication). Lock-free. */
uint64_t act_groups_generation(act_system *sys);

/* Copy up to capacity member refs of group into members; out_count gets the group's size
 * (which may exceed capacity). An unknown group has 0 members. */
void act_group_members(act_system *sys, const char *group, act_ref *members, uint32_t capacity,
                       uint32_t *out_count);

/* ---- Timers and the I/O loop ----------------------------------------------------------------- */

/* A timer's identity, for act_timer_cancel. */
typedef struct act_timer {
    uint64_t id;
} act_timer;

/* Send msg to `to` after delay_ms (0: on the loop's next turn). msg is moved on TK_OK (a
 * timer whose target is gone when it fires frees it). out_timer may be NULL.
 * Errors: TK_ENOMEM. */
TK_MUST_USE tk_err act_send_after(act_system *sys, uint32_t delay_ms, act_ref to, act_msg *msg,
                                  act_timer *out_timer);

/* Send (type, sender, inline data) to `to` every period_ms (>= 1) until cancelled or until a
 * send finds `to` dead. A tick that finds the mailbox full is skipped. Errors: TK_EINVAL,
 * TK_ENOMEM. */
TK_MUST_USE tk_err act_send_interval(act_system *sys, uint32_t period_ms, act_ref to,
                                     act_ref sender, uint32_t type, const void *data,
                                     uint32_t size_bytes, act_timer *out_timer);

/* Cancel a timer. TK_OK if it was still pending (its message will not be sent; for an
 * interval, no further ticks); TK_ENOENT if it already fired (one-shot) or was cancelled. */
TK_MUST_USE tk_err act_timer_cancel(act_system *sys, act_timer timer);

/* Run fn(arg, loop) on the system's libuv loop thread, soon and in submission order. This is
 * how libuv- and libcurl-based services put work on the loop; fn must not block.
 * Errors: TK_ENOMEM, TK_ESTALE (the system is closing). */
TK_MUST_USE tk_err act_loop_run(act_system *sys, void (*fn)(void *arg, struct uv_loop_s *loop),
                                void *arg);

/* ---- Ports: mailboxes for outside threads ---------------------------------------------------- */

/* A port gives a thread that is not an actor (main, a test, a service thread) an act_ref
 * with a mailbox, so that it can be sent to, link, monitor and call actors. Messages wait in
 * the port until received. A port is an actor slot (it counts toward actors_max) that traps
 * exits, so exit signals reach its thread as ACT_MSG_EXIT; a kill or the system's close ends
 * it, after which receives time out. One thread uses a port at a time. */
typedef struct act_port act_port;

/* Errors: TK_EFULL (actors_max), TK_ENOMEM. mailbox_capacity as for spawn. */
TK_MUST_USE tk_err act_port_open(act_system *sys, uint32_t mailbox_capacity, act_port **out_port);

/* Close the port (exit reason normal: links and monitors are told); messages still waiting
 * are freed. Every port must be closed before act_system_close. NULL is a no-op. */
void act_port_close(act_port *port);

/* The port's ref, for senders and as the sender of what this thread sends. */
act_ref act_port_ref(const act_port *port);

/* The system the port belongs to. */
act_system *act_port_system(const act_port *port);

/* Wait up to timeout_ms for the next message; *out_msg is then the caller's (free it with
 * act_msg_free). The thread spins for up to 50 us before it sleeps, so that a quick answer
 * does not pay a thread wake-up. Errors: TK_ETIMEDOUT. Context: the port's thread; blocks
 * (never call it on a scheduler thread). */
TK_MUST_USE tk_err act_port_receive(act_port *port, uint32_t timeout_ms, act_msg **out_msg);

/* Request/reply from an outside thread: sends msg from the port as a request and waits up to
 * timeout_ms for its reply, which is returned in *out_reply (the caller's). msg is moved once
 * sent: on TK_OK and on TK_ETIMEDOUT; on the errors of act_send the caller keeps it. Other
 * messages that arrive meanwhile are kept for act_port_receive. */
TK_MUST_USE tk_err act_call(act_port *port, act_ref to, act_msg *msg, uint32_t timeout_ms,
                            act_msg **out_reply);

/* Block until ref has exited (monitoring it through the port), up to timeout_ms; the exit
 * reason is written to out_reason (may be NULL). An already dead ref returns at once with
 * NOPROC. The DOWN is sent after ref's links were signalled, but they may not have handled
 * the signal yet: to act on what a linked supervisor did, wait on that supervisor's reply.
 * Errors: TK_ETIMEDOUT. */
TK_MUST_USE tk_err act_port_wait_exit(act_port *port, act_ref ref, uint32_t timeout_ms,
                                      act_reason *out_reason);

#endif /* TK_ACTORS_ACT_H */
