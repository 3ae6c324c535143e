/* The late-heartbeat-reply schedule on libraft's fixture (docs/cluster.md, "The protocol
 * guard"): a lost pipelined append, then a late reply to an older heartbeat. It breaks libraft
 * 0.15 alone and the guard's leader-side rules alone; only the follower-side rule stops it.
 *
 * Three servers, the ledger FSM on each. Before they start, all are in term 2 with entry 1
 * (the configuration); B also holds four entries of term 2 (2..5) that no one else has, as a
 * term-2 leader would leave them had it crashed before replicating. Then:
 *   1. A is elected in term 3 with C's vote (B's log is longer: it refuses). A's first
 *      heartbeat (prev 1) reaches B and C; their answers put them in pipeline mode at match 1.
 *   2. A is cut off from C both ways, B's messages start taking 60 ms, and every AppendEntries
 *      carrying entries to B is lost from now on (heartbeats still arrive).
 *   3. The next heartbeat to B (prev 1) arrives; B answers it. libraft 0.15 answers with its
 *      last index, 5, though only entry 1 was checked against A's log (bug 2).
 *   4. Meanwhile A proposes two ledger entries (3 and 4, after the guard's barrier at 2 when the
 *      barrier rule is on) and pipelines them to B: lost, but sent.
 *   5. The late answer (last index 5) reaches A. Counted, it gives A a majority (A and B) for
 *      entries up to 4, of A's own term, all sent to B: A commits and applies its entries 3
 *      and 4, which B does not have.
 *   6. A dies. B, whose log is at least as up to date as C's, is elected, and with an entry of
 *      its own term commits its entries 2..5 on B and C.
 * A applied other events at 3 and 4 than B and C: a divergence. With the follower-side rule, B
 * claims only what it verified in term 3 (entry 1), A commits nothing, and the replicas agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <raft.h>
#include <raft/fixture.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "cluster_tests.h"
#include "tk_test.h"

enum { A = 0, B = 1, C = 2, STALE_ENTRIES = 4, LATE_MS = 60 };

/* What the schedule's loss rule sees. */
typedef struct schedule {
    bool losing;              /* step 2 on: AppendEntries with entries to B are lost */
    unsigned heartbeats_to_b; /* heartbeats B received since */
} schedule;

static bool lose_appends_to_b(chaos_harness *h, unsigned to, const struct raft_message *m)
{
    schedule *s = h->drop_arg;
    if (!s->losing || to != B || m->type != RAFT_IO_APPEND_ENTRIES) return false;
    if (m->append_entries.n_entries == 0) {
        s->heartbeats_to_b++;
        return false;
    }
    return true;
}

/* Before start: every server in term 2; B with STALE_ENTRIES entries of term 2 after entry 1,
 * each a valid ledger entry of one StrategyEnabled no proposal of the run can equal. */
static void stale_log(chaos_harness *h, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < 3; i++)
        raft_fixture_set_term(&h->fixture, i, 2);
    for (unsigned k = 0; k < STALE_ENTRIES; k++) {
        led_event ev = {.type = LED_EV_STRATEGY_ENABLED, .version = 1, .ts_ns = 1};
        snprintf(ev.u.strategy_enabled.strategy, sizeof(ev.u.strategy_enabled.strategy), "stale-%u",
                 k);
        size_t cap = CLU_ENTRY_BYTES(1), size = 0;
        void *buf = raft_malloc(cap);
        assert_non_null(buf);
        assert_int_equal(clu_entry_encode(&ev, 1, buf, cap, &size), TK_OK);
        struct raft_entry entry = {.term = 2, .type = RAFT_COMMAND, .buf = {buf, size}};
        raft_fixture_add_entry(&h->fixture, B, &entry);
    }
}

static bool step_until(chaos_harness *h, bool (*done)(chaos_harness *h), unsigned max_ms)
{
    raft_time until = raft_fixture_time(&h->fixture) + max_ms;
    while (!done(h)) {
        if (raft_fixture_time(&h->fixture) > until) return false;
        raft_fixture_step(&h->fixture);
    }
    return true;
}

static unsigned results_at_a;

static bool a_heard_both(chaos_harness *h)
{
    return raft_fixture_n_recv(&h->fixture, A, RAFT_IO_APPEND_ENTRIES_RESULT) >= 2;
}

static bool heartbeat_reached_b(chaos_harness *h)
{
    return ((schedule *)h->drop_arg)->heartbeats_to_b > 0;
}

static bool a_heard_late_answer(chaos_harness *h)
{
    return raft_fixture_n_recv(&h->fixture, A, RAFT_IO_APPEND_ENTRIES_RESULT) > results_at_a;
}

static bool b_leads(chaos_harness *h)
{
    return raft_state(h->replicas[B].raft) == RAFT_LEADER;
}

static bool b_and_c_applied_all(chaos_harness *h)
{
    raft_index last = raft_last_index(h->replicas[B].raft);
    return raft_last_applied(h->replicas[B].raft) == last &&
           raft_last_applied(h->replicas[C].raft) == last;
}

/* Run the schedule with the guard's rules (guarded false: no guard at all); whether the
 * replicas diverged. */
static bool run_schedule(bool guarded, unsigned rules)
{
    schedule s = {0};
    chaos_harness h;
    chaos_harness_opts opts = {.servers = 3,
                               .seed = 7,
                               .snapshot_threshold = 1024,
                               .snapshot_trailing = 128,
                               .election_timeout_ms = 1000,
                               .heartbeat_timeout_ms = 100,
                               .faults = true,
                               .unique_events = true,
                               .guard = guarded,
                               .guard_rules = rules,
                               .before_start = stale_log};
    assert_true(chaos_harness_open_opts(&h, &opts));
    h.drop = lose_appends_to_b;
    h.drop_arg = &s;
    /* 1. The steps below wait with a limit and go on regardless: with the follower-side rule
     * (or the barrier rule) the schedule takes another course, and only the end counts. */
    raft_fixture_elect(&h.fixture, A);
    assert_int_equal(raft_state(h.replicas[A].raft), RAFT_LEADER);
    (void)step_until(&h, a_heard_both, 500);
    /* 2 */
    raft_fixture_disconnect(&h.fixture, A, C);
    raft_fixture_disconnect(&h.fixture, C, A);
    raft_fixture_set_network_latency(&h.fixture, B, LATE_MS);
    s.losing = true;
    /* 3: a heartbeat reaches B, whose answer is now on its way for LATE_MS */
    (void)step_until(&h, heartbeat_reached_b, 500);
    results_at_a = raft_fixture_n_recv(&h.fixture, A, RAFT_IO_APPEND_ENTRIES_RESULT);
    /* 4 */
    (void)chaos_harness_propose_on(&h, A, 1);
    (void)chaos_harness_propose_on(&h, A, 1);
    /* 5 */
    (void)step_until(&h, a_heard_late_answer, 2u * LATE_MS);
    raft_fixture_step_until_elapsed(&h.fixture, 30); /* A's disk and apply, if it commits */
    /* 6 */
    s.losing = false;
    raft_fixture_kill(&h.fixture, A);
    raft_fixture_set_network_latency(&h.fixture, B, 15);
    raft_fixture_set_randomized_election_timeout(&h.fixture, B, 1000);
    raft_fixture_set_randomized_election_timeout(&h.fixture, C, 3000);
    assert_true(step_until(&h, b_leads, 10000));
    /* an entry of B's term, which commits the earlier ones under every rule set (the barrier
     * rule would have proposed one already) */
    assert_true(chaos_harness_propose_on(&h, B, 1));
    assert_true(step_until(&h, b_and_c_applied_all, 10000));
    if (guarded && (rules & CLU_GUARD_FOLLOWER) != 0) { /* B's claim of step 3 was lowered */
        clu_guard_counters c;
        clu_guard_counters_get(h.replicas[B].guard, &c);
        assert_true(c.follower_results_clamped > 0);
    }
    chaos_harness_verdict v;
    chaos_harness_compare(&h, &v);
    chaos_harness_close(&h);
    return v.first_diverged != 0;
}

static void test_late_heartbeat_reply(void **unused)
{
    (void)unused;
    assert_true(run_schedule(false, 0)); /* libraft 0.15 alone: it diverges */
    assert_true(run_schedule(true, 0));  /* the guard observing only: the same */
    assert_true(run_schedule(true, CLU_GUARD_EARLIER_TERM | CLU_GUARD_SENT));
    assert_false(run_schedule(true, CLU_GUARD_FOLLOWER));
    assert_false(run_schedule(true, CLU_GUARD_ALL));
}

int clu_test_guard_schedule(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_heartbeat_reply),
    };
    return cmocka_run_group_tests_name("cluster/guard_schedule", tests, NULL, NULL);
}
