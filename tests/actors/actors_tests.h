/* The actor runtime's test groups, one per area of act.h, and what they share: a fixture (a
 * system and a port for the test thread), the probe (a scripted actor that reports what
 * happens to it to the port) and event helpers.
 *
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h>, <stdint.h> and <cmocka.h>. */
#ifndef TK_TESTS_ACTORS_ACTORS_TESTS_H
#define TK_TESTS_ACTORS_ACTORS_TESTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "tk.h"
#include "tk_test.h"

/* Each runs the cmocka group "actors/<area>" and returns the number of failed tests. */
int act_test_spawn(void);
int act_test_refs(void);
int act_test_mailbox(void);
int act_test_links(void);
int act_test_monitors(void);
int act_test_registry(void);
int act_test_groups(void);
int act_test_timers(void);
int act_test_request(void);
int act_test_ports(void);
int act_test_watchdog(void);
int act_test_close(void);
int act_test_churn(void);

#define ACT_TEST_WAIT_MS 5000u /* generous wait for an event that must come */

/* ---- Assertions that print both sides ------------------------------------------------------- */
/* EXPECT_ERR comes from tk_test.h. */

#define EXPECT_REF_EQ(got, want)                                                               \
    do {                                                                                       \
        act_ref got_ref_ = (got);                                                              \
        act_ref want_ref_ = (want);                                                            \
        if (!act_ref_eq(got_ref_, want_ref_)) {                                                \
            fail_msg("%s: got {slot %u, gen %u}, want {slot %u, gen %u}", #got, got_ref_.slot, \
                     got_ref_.gen, want_ref_.slot, want_ref_.gen);                             \
        }                                                                                      \
    } while (0)

#define EXPECT_KIND(got, want)                                                     \
    do {                                                                           \
        act_reason_kind got_kind_ = (got);                                         \
        act_reason_kind want_kind_ = (want);                                       \
        if (got_kind_ != want_kind_) {                                             \
            fail_msg("%s: got %s, want %s", #got, act_reason_kind_name(got_kind_), \
                     act_reason_kind_name(want_kind_));                            \
        }                                                                          \
    } while (0)

/* ---- Fixture -----------------------------------------------------------------------------------
 */

typedef struct act_event_stash act_event_stash;

/* A system and a port for the test thread (the probes' report target). Events that arrive
 * while the test waits for another actor's are stashed, so that each actor's events are
 * checked in that actor's order whatever the interleaving between actors. */
typedef struct act_fixture {
    act_system *sys;
    act_port *port;
    act_ref port_ref;
    uint32_t threads;
    act_event_stash *stash; /* owned */
} act_fixture;

/* Open a system with opts and a port (capacity 4096) on it; asserts success. */
void act_fixture_open(act_fixture *f, const act_system_opts *opts);

/* Close the port, then the system (live actors get SHUTDOWN), and free the stash. */
void act_fixture_close(act_fixture *f);

/* Options every test system starts from: threads, 1024 actors, 64k envelopes, a short spin,
 * no watchdog, the system clock. */
act_system_opts act_test_opts(uint32_t threads);

/* Open a system (asserting success). */
act_system *act_test_open(const act_system_opts *opts);

/* Fixture setups with 1 and 2 scheduler threads, and the teardown that closes everything. */
int act_setup_1(void **state);
int act_setup_2(void **state);
int act_teardown(void **state);

/* A test run once with the 2-thread fixture, and one run with 1 and with 2 threads. */
#define ACT_TEST(fn) cmocka_unit_test_setup_teardown(fn, act_setup_2, act_teardown)
#define ACT_TEST_THREADS(fn)                                                  \
    {.name = #fn "/threads=1",                                                \
     .test_func = fn,                                                         \
     .setup_func = act_setup_1,                                               \
     .teardown_func = act_teardown,                                           \
     .initial_state = NULL},                                                  \
    {                                                                         \
        .name = #fn "/threads=2", .test_func = fn, .setup_func = act_setup_2, \
        .teardown_func = act_teardown, .initial_state = NULL                  \
    }

/* ---- The probe ---------------------------------------------------------------------------------
 */

/* Message types the probe obeys. Every message it handles (these, system messages and any
 * other) is first reported to its report ref as a PROBE_EV_MSG event, unless quiet. */
enum {
    PROBE_PING = ACT_MSG_USER + 1, /* nothing beyond the report */
    PROBE_STOP,                    /* data: uint32_t act_reason_kind: act_stop */
    PROBE_FAIL,                    /* data: tk_err: act_fail(err, "probe failed %d", err) */
    PROBE_FAIL_BARE,               /* data: tk_err: returned without act_fail */
    PROBE_FAIL_NOTE,               /* act_fail(TK_EIO, "stale note") but return TK_OK */
    PROBE_TRAP,                    /* data: uint32_t on: act_trap_exit */
    PROBE_SEND,                    /* data: probe_send: a burst; RESULT: its outcome */
    PROBE_MONITOR,                 /* data: act_ref target: act_monitor; RESULT: err, id */
    PROBE_LINK,                    /* data: act_ref peer: act_link(self, peer); RESULT: err */
    PROBE_GATE,                    /* count gate_entered, then wait until gate is set (no
                                      MSG report: see wait_gate_entered) */
    PROBE_BUSY,                    /* data: uint32_t ms: busy-wait on the clock that long */
    PROBE_REQUEST,                 /* data: probe_request: act_request; RESULT: err, id */
    PROBE_ASK,                     /* a request: answered with PROBE_ANSWER (same data) */
    PROBE_ANSWER,                  /* a reply */
    PROBE_HOLD,                    /* a request kept unanswered (correlation saved) */
    PROBE_ANSWER_HELD,             /* answer the held request now; RESULT: act_reply's err */
    PROBE_SPAWN,                   /* spawn a probe child (same report); RESULT: err, ref */
    PROBE_USER_MAX,
    /* Event types (sent to the report ref; ptr holds a probe_event). */
    PROBE_EVENT = ACT_MSG_USER + 100,
};

typedef enum probe_ev_kind {
    PROBE_EV_INIT = 1, /* init ran */
    PROBE_EV_MSG,      /* a message was handled: its copy is in the event */
    PROBE_EV_TERM,     /* terminate ran: reason */
    PROBE_EV_RESULT,   /* a command's outcome: err, value, counts */
} probe_ev_kind;

/* What a probe reports. Carried by pointer (ptr, freed with free). */
typedef struct probe_event {
    probe_ev_kind kind;
    act_ref self;
    pthread_t thread; /* the thread the callback ran on */
    /* MSG: the message handled */
    uint32_t type;
    uint32_t size_bytes;
    act_ref sender;
    uint64_t correlation;
    unsigned char data[ACT_MSG_INLINE_BYTES];
    /* TERM */
    act_reason reason;
    /* RESULT */
    uint32_t cmd;
    tk_err err;
    uint64_t value;
    act_ref ref;
    uint32_t sent_ok;
    uint32_t sent_full;
    uint32_t sent_stale;
    bool kept_intact; /* PROBE_SEND: messages refused were still the sender's, unchanged */
} probe_event;

/* State shared with the test, outliving the probes that use it. */
typedef struct probe_shared {
    _Atomic uint32_t gate;         /* PROBE_GATE handlers wait until non-zero */
    _Atomic uint32_t gate_entered; /* PROBE_GATE handlers started */
    _Atomic uint32_t inits;
    _Atomic uint32_t terminates;
    _Atomic uint32_t term_kinds[ACT_REASON_NOPROC + 1]; /* terminates by reason kind */
    _Atomic uint32_t spawn_in_terminate;                /* 1 + err of a spawn tried there */
} probe_shared;

/* How a probe starts (the spawn arg; copied by init). */
typedef struct probe_cfg {
    act_ref report;          /* where events go, or NONE */
    probe_shared *shared;    /* borrowed, outlives the probe; may be NULL */
    tk_err init_err;         /* init fails with this (TK_OK: it does not) */
    bool init_fail_detail;   /* with init_err: through act_fail("init refused") */
    bool init_stop;          /* init calls act_stop(NORMAL) */
    const char *init_name;   /* init registers this name (NULL: none) */
    uint32_t init_self_msgs; /* init sends itself this many PROBE_PING */
    bool quiet;              /* report RESULT events only (no INIT, MSG, TERM) */
    bool terminate_spawns;   /* terminate tries act_spawn and records it in shared */
} probe_cfg;

/* PROBE_SEND's payload: send count messages of type to `to`, data uint32_t first_seq + i. */
typedef struct probe_send {
    act_ref to;
    uint32_t type;
    uint32_t count;
    uint32_t first_seq;
} probe_send;

/* PROBE_REQUEST's payload. */
typedef struct probe_request {
    act_ref to;
    uint32_t type;
    uint32_t timeout_ms;
} probe_request;

/* PROBE_SPAWN's payload: the child's link_to and trap flag. */
typedef struct probe_spawn_req {
    act_ref link_to;
    bool trap_exit;
} probe_spawn_req;

extern const act_behaviour probe_behaviour;

/* A cfg reporting to the fixture's port, with nothing else set. */
probe_cfg probe_cfg_for(const act_fixture *f);

/* Spawn a probe (asserting success). */
act_ref probe_spawn(act_system *sys, const probe_cfg *cfg, uint32_t capacity, act_ref link_to,
                    bool trap_exit);

/* Spawn a default probe of the fixture (capacity 64, reports to the port). */
act_ref probe_start(const act_fixture *f);

/* Send a command (type, inline data) from the port; asserts TK_OK. */
void probe_cmd(const act_fixture *f, act_ref to, uint32_t type, const void *data,
               uint32_t size_bytes);
void probe_cmd_u32(const act_fixture *f, act_ref to, uint32_t type, uint32_t value);

/* Receive the next message on the fixture's port (failing the test after the wait). The
 * caller frees it. */
act_msg *port_next(const act_fixture *f, uint32_t timeout_ms);

/* The oldest event not yet taken (stashed or on the port), which must be of kind. */
probe_event expect_event(const act_fixture *f, probe_ev_kind kind);

/* The oldest event from self not yet taken; other actors' events are stashed meanwhile. */
probe_event next_event_from(const act_fixture *f, act_ref self);

/* The next event from self must be INIT. */
probe_event expect_init(const act_fixture *f, act_ref self);

/* The next message on the port that is not a probe event (events are stashed). */
act_msg *next_non_event(const act_fixture *f);

/* The next event must be MSG from `self` with that type. */
probe_event expect_msg(const act_fixture *f, act_ref self, uint32_t type);

/* The next event must be TERM from `self` with that reason kind. */
probe_event expect_term(const act_fixture *f, act_ref self, act_reason_kind kind);

/* The next event must be RESULT from `self` for cmd. */
probe_event expect_result(const act_fixture *f, act_ref self, uint32_t cmd);

/* Nothing is stashed or waiting on the port (and nothing arrives within wait_ms). */
void expect_port_quiet(const act_fixture *f, uint32_t wait_ms);

/* Block until ref exits and return why (asserting it does within ACT_TEST_WAIT_MS). */
act_reason wait_exit(const act_fixture *f, act_ref ref);

/* Monitor ref from the port; returns the monitor id. */
uint64_t port_monitor(const act_fixture *f, act_ref ref);

/* The next message must be the DOWN of monitor id about `from`: returns its reason. */
act_reason expect_down(const act_fixture *f, uint64_t id, act_ref from);

/* One of several messages expected in any order, about `from` exiting with kind: with self
 * NONE, a DOWN of monitor id on the port; otherwise a probe event of self handling a DOWN
 * of monitor id (is_down) or an ACT_MSG_EXIT. */
typedef struct port_expect {
    bool is_down;
    uint64_t id;
    act_ref self;
    act_ref from;
    act_reason_kind kind;
} port_expect;

/* Receive count messages matching items one to one, in any order (other probe events are
 * stashed; other messages fail the test). */
void expect_unordered(const act_fixture *f, const port_expect *items, size_t count);

/* The exit info of an EXIT or DOWN message (or of an event copying one). */
act_exit_info exit_info_of(const unsigned char *data);

/* ---- Misc -------------------------------------------------------------------------------------
 */

/* Monotonic nanoseconds (the system clock). */
uint64_t test_now_ns(void);

/* Busy-wait ms milliseconds on the clock. */
void busy_wait_ms(uint32_t ms);

/* Poll until cond(arg) holds or timeout_ms pass; true when it held. Waits for a state the
 * runtime reaches after its last observable message (e.g. the exited counter), in 1 ms steps. */
bool wait_until(bool (*cond)(void *arg), void *arg, uint32_t timeout_ms);

/* Wait until count PROBE_GATE handlers have started (asserting it within ACT_TEST_WAIT_MS).
 * A gated probe reports nothing before it blocks: a message sent from a handler goes to its
 * scheduler thread's next slot, which no other thread may take (test_watchdog.c), so a report
 * sent just before blocking would wait for the gate to open. */
void wait_gate_entered(probe_shared *shared, uint32_t count);

/* Wait until act_stats live equals live (bounded by timeout_ms). */
bool wait_live(act_system *sys, uint64_t live, uint32_t timeout_ms);

#endif /* TK_TESTS_ACTORS_ACTORS_TESTS_H */
