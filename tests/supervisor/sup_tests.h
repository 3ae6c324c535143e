/* The supervisor's test groups and what they share: a fixture (a system and a port for the
 * test thread), the test worker (a child whose behaviour on shutdown is scripted), a recorder
 * of starts and terminates in the order they happened, and wait helpers.
 *
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h>, <stdint.h> and <cmocka.h>. */
#ifndef TK_TESTS_SUPERVISOR_SUP_TESTS_H
#define TK_TESTS_SUPERVISOR_SUP_TESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "sup.h"
#include "tk.h"
#include "tk_test.h"

/* Each runs the cmocka group "supervisor/<area>" and returns the number of failed tests. */
int sup_test_strategies(void);
int sup_test_restarts(void);
int sup_test_shutdown(void);
int sup_test_api(void);

#define SUP_TEST_WAIT_MS 5000u /* generous wait for an event that must come */

/* ---- Assertions that print both sides ------------------------------------------------------- */
/* EXPECT_ERR comes from tk_test.h. */

#define EXPECT_KIND(got, want)                                                     \
    do {                                                                           \
        act_reason_kind got_kind_ = (got);                                         \
        act_reason_kind want_kind_ = (want);                                       \
        if (got_kind_ != want_kind_) {                                             \
            fail_msg("%s: got %s, want %s", #got, act_reason_kind_name(got_kind_), \
                     act_reason_kind_name(want_kind_));                            \
        }                                                                          \
    } while (0)

#define EXPECT_U64(got, want)                                                     \
    do {                                                                          \
        uint64_t got_u_ = (uint64_t)(got);                                        \
        uint64_t want_u_ = (uint64_t)(want);                                      \
        if (got_u_ != want_u_) {                                                  \
            fail_msg("%s: got %llu, want %llu", #got, (unsigned long long)got_u_, \
                     (unsigned long long)want_u_);                                \
        }                                                                         \
    } while (0)

#define EXPECT_TRACE(want)                                                  \
    do {                                                                    \
        char got_trace_[1024];                                              \
        rec_trace(got_trace_, sizeof(got_trace_));                          \
        if (strcmp(got_trace_, (want)) != 0) {                              \
            fail_msg("trace: got \"%s\", want \"%s\"", got_trace_, (want)); \
        }                                                                   \
    } while (0)

/* ---- Fixture ----------------------------------------------------------------------------------
 */

typedef struct sup_fixture {
    act_system *sys;
    act_port *port;
    act_ref port_ref;
    sup_stats stats0; /* the counters when the test began */
} sup_fixture;

int sup_setup(void **state);
int sup_teardown(void **state);

#define SUP_TEST(fn) cmocka_unit_test_setup_teardown(fn, sup_setup, sup_teardown)

/* The counters' change since the test began. */
sup_stats stats_delta(const sup_fixture *f);

/* ---- The test worker --------------------------------------------------------------------------
 */

/* What a worker does with the supervisor's SHUTDOWN exit signal. */
typedef enum tw_on_shutdown {
    TW_EXITS,   /* does not trap exits: it exits at once (its terminate runs) */
    TW_IGNORES, /* traps exits and ignores them: only a kill ends it */
    TW_LINGERS, /* traps exits; exits with SHUTDOWN linger_ms after the first EXIT */
} tw_on_shutdown;

/* A worker's script (its start arg; static, outlives the test). */
typedef struct tw_cfg {
    const char *name; /* recorded with its events */
    tw_on_shutdown on_shutdown;
    uint32_t linger_ms;
    bool crash_on_start; /* the start function sends it TW_CRASH right after spawning it */
} tw_cfg;

/* Commands a worker obeys. */
enum {
    TW_CRASH = ACT_MSG_USER + 1, /* fail with TK_EIO, detail "crash requested" */
    TW_EXIT_NORMAL,              /* act_stop(NORMAL) */
    TW_EXIT_SHUTDOWN,            /* act_stop(SHUTDOWN) */
    TW_LINGER_DONE,              /* (to itself) act_stop(SHUTDOWN) */
};

/* The start function of every test child: arg is a const tw_cfg *. Fails with TK_EIO while
 * rec_fail_starts has failures left for its name. */
tk_err tw_start(act_system *sys, act_ref sup, const void *arg, act_ref *out_child);

/* A worker child spec: shutdown TIMEOUT 1000 ms, not significant, no backoff. */
sup_child_spec tw_child(const char *id, const tw_cfg *cfg, sup_restart restart);

/* A supervisor spec: intensity 10 in 10 s, auto_shutdown never, seed 42, children_max
 * count + 8 (64 for simple_one_for_one), mailbox 256. */
sup_spec test_spec(const char *name, sup_strategy strategy, const sup_child_spec *children,
                   uint32_t count);

/* Send a worker one command from the test's port (asserting TK_OK). */
void tw_send(const sup_fixture *f, act_ref to, uint32_t type);

/* ---- The recorder -----------------------------------------------------------------------------
 */

typedef enum rec_kind {
    REC_START,      /* a start function spawned its child */
    REC_START_FAIL, /* a start function failed (rec_fail_starts) */
    REC_TERM,       /* a worker's terminate ran */
} rec_kind;

/* Forget every event and planned failure. */
void rec_reset(void);

/* The next count starts of name fail with TK_EIO. */
void rec_fail_starts(const char *name, uint32_t count);

/* Events of kind for name so far. */
uint32_t rec_count(rec_kind kind, const char *name);

/* Wait until there are at least count events of kind for name; false after timeout_ms. */
bool rec_wait(rec_kind kind, const char *name, uint32_t count, uint32_t timeout_ms);

/* The ref of name's latest start (ACT_REF_NONE if none). */
act_ref rec_ref(const char *name);

/* The monotonic time (ns) and the reason kind of name's nth (0-based) event of kind; the test
 * fails when there is no such event. */
uint64_t rec_time_ns(rec_kind kind, const char *name, uint32_t nth);
act_reason_kind rec_term_kind(const char *name, uint32_t nth);

/* Every START ("S:name"), START_FAIL ("F:name") and TERM ("T:name") so far, in order,
 * separated by spaces. */
void rec_trace(char *out, size_t size);

/* ---- Waiting ----------------------------------------------------------------------------------
 */

/* Monotonic nanoseconds (the system clock). */
uint64_t now_ns(void);

/* Sleep ms milliseconds. */
void sleep_ms(uint32_t ms);

/* Block until ref exits and return why (failing the test after SUP_TEST_WAIT_MS). */
act_reason wait_exit(const sup_fixture *f, act_ref ref);

/* Wait for the EXIT that a supervisor linked to the test's port (started with link_to =
 * f->port_ref) sends it when it exits, and return the reason. Unlike wait_exit this cannot
 * race with an exit that happened already. Other messages on the port are dropped. */
act_reason wait_linked_exit(const sup_fixture *f, act_ref ref);

/* Poll count_children until `active` children run (failing the test after SUP_TEST_WAIT_MS);
 * returns the counts then. */
sup_counts wait_active(const sup_fixture *f, act_ref sup, uint32_t active);

/* The status of the child with id (the first with it), from which_children. */
sup_child_info child_info(const sup_fixture *f, act_ref sup, const char *id);

#endif /* TK_TESTS_SUPERVISOR_SUP_TESTS_H */
