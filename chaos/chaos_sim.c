/* `troika chaos sim` (chaos.h, docs/chaos.md): the ledger FSM (clu_fsm) on three libraft 0.15
 * servers of raft/fixture.h (its in-memory, deterministic network and disk) under random
 * partitions, freezes, disk and network stalls, kills and election timeouts, with proposals on
 * whoever believes it leads, for a range of seeds. After each run the cluster is healed
 * (revive, reconnect, a barrier applied everywhere) and the replicas are compared: what each
 * applied at every Raft index, every event's chain hash by ledger index, and the state hashes
 * at equal applied indices.
 *
 * Each seed runs in a forked child, because libraft 0.15 and its fixture can crash or corrupt
 * memory (../shared/notes/raft-0.15.md, point 6; docs/cluster.md); the child writes its report
 * to a pipe and the parent classifies it:
 *   agree                 converged, and no two replicas applied anything differently;
 *   diverged-detected     replicas applied different entries at one Raft index, and it shows in
 *                         what troika publishes: the state hashes differ at an equal applied
 *                         index, or two replicas computed different chain hashes for one ledger
 *                         index. troika's divergence check (docs/cluster.md) compares state
 *                         hash points every hash_every events and sets the kill switch; a
 *                         divergence that a snapshot install overwrote between two points is
 *                         caught here but not by that check (a gap, docs/cluster.md). libraft
 *                         0.15's bugs 1 and 2;
 *   diverged-undetected   replicas applied different entries and nothing published shows it:
 *                         a troika failure;
 *   not-converged         healing did not bring every replica to the barrier in time (liveness,
 *                         libraft 0.15's bug 7); troika's stall watchdog restarts the node;
 *   crashed-stale-append  the child died just after the harness saw an AppendEntries from index
 *                         1 reach a server that had compacted its log: libraft 0.15 then
 *                         appends the entries at the wrong index and crashes (a bug of libraft,
 *                         not of its fixture); the node process dies and is restarted;
 *   crashed               any other death (a signal, an ASan report, the wall-clock limit): a
 *                         troika failure until shown otherwise.
 * With the protocol guard (cluster/clu_guard.c, docs/cluster.md) on every server's io, which is
 * the default, a divergence of either kind is a safety violation. The exit status is 1 if any
 * seed is diverged-undetected or crashed, or diverged at all with the guard on, or if
 * --expect-violations was given and none diverged; 2 on a usage error.
 * The harness also counts bugs 1 and 2 at work (chaos_harness in chaos.h), printed per failing
 * seed and summed, with leader changes, snapshot installs and faults, to show that the faults
 * bite.
 *
 * The fixture-bug workarounds are the harness's (chaos_harness.c): the fixture struct zeroed,
 * its io truncate a no-op, the fixture never closed. Faults keep each server's disk writes and
 * each sender's messages in order, as a real disk and a TCP connection do.
 *
 * Usage (sim_usage below): troika chaos sim --seeds A..B [--steps N] [--jobs J] [--guard MODE]
 *                   [--variant MIX] [--barrier] [--expect-violations] [--quiet]
 *   --seeds A..B   the seeds to run, both included (required);
 *   --steps N      fixture steps of chaos per seed (3000);
 *   --jobs J       children at once (1); a seed's run depends on its seed and options alone;
 *   --guard MODE   on (the default), off (libraft 0.15 alone), observe (attached, counting
 *                  what it would lower, changing nothing);
 *   --variant MIX  the fault mix: mixed (the default: every fault), links (one-way cuts,
 *                  isolations, reconnects), crashes (kills, two servers dead at once), slow
 *                  (freezes, disk and network stalls);
 *   --barrier      a new leader runs raft_barrier at once, as troika's node (clu_node) does
 *                  (the guard proposes one per term itself);
 *   --expect-violations  fail unless some seed diverges: with --guard off, on seeds known to
 *                  diverge, it shows that the test bites;
 *   --quiet        print only troika's failures and the summary.
 * A range of one seed (--seeds N..N) prints that seed's faults and final state: the first line
 * printed, and the line of each failing seed, give that command. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos_internal.h"
#include "tk.h"

/* Under AddressSanitizer, the fixture's memory is still held at exit (chaos_harness_close), as
 * tests/lsan.supp says for CTest. The same suppression is built in here so that a seed replayed
 * by hand, without LSAN_OPTIONS, is not reported as crashed. It is linked into the troika
 * binary, so it holds for every subcommand: it hides only leaks allocated inside libraft.so,
 * which no other subcommand leaves (a node closes its raft instance). The name is the
 * sanitizer runtime's documented hook, hence the reserved identifier. */
#if defined(__SANITIZE_ADDRESS__)
#define SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_ASAN 1
#endif
#endif
#ifdef SIM_ASAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libraft.so\n";
}
#endif

#define SERVERS           3u
#define HEAL_MSECS        15000u /* fixture time per phase of chaos_harness_heal */
#define SEED_WALL_LIMIT_S 300u   /* a child still running after this is killed (SIGALRM) */
#define JOBS_MAX          64u
#define SEED_MAX          (UINT64_MAX / 2u) /* highest seed --seeds takes */
#define STEPS_MAX         10000000u
#define REPORT_MAGIC      0x54434841u /* the final report */
#define NOTE_MAGIC        0x54434e53u /* a note: a stale append is about to be delivered */

_Static_assert(SERVERS <= CHAOS_HARNESS_SERVERS_MAX, "the harness holds every server");

typedef enum seed_class {
    CLASS_AGREE = 0,
    CLASS_DETECTED,
    CLASS_UNDETECTED,
    CLASS_NOT_CONVERGED,
    CLASS_CRASHED_STALE_APPEND,
    CLASS_CRASHED,
    CLASS_COUNT,
} seed_class;

static const char *const class_names[CLASS_COUNT] = {
    "agree",         "diverged-detected",    "diverged-undetected",
    "not-converged", "crashed-stale-append", "crashed"};

/* What the child reports through its pipe: at most one note (NOTE_MAGIC, only server set),
 * written before the event that may crash it, then the final report (REPORT_MAGIC). */
typedef struct seed_report {
    uint32_t magic;
    uint32_t klass;           /* seed_class, below CLASS_CRASHED_STALE_APPEND */
    uint32_t server;          /* a note: the server about to receive the stale append */
    uint64_t first_diverged;  /* first Raft index applied differently; 0 */
    uint64_t ledger_conflict; /* lowest ledger index with differing chain hashes; 0 */
    uint8_t healed, converged, state_hash_differs;
    uint64_t elections, restores, snapshots, proposed, apply_failed, refused_entries;
    uint64_t applied_index, compared, fixture_ms;
    uint64_t partitions, isolations, freezes, stalls, kills;
    uint64_t stale_appends;                                       /* the harness's stale_appends */
    uint64_t old_term_commits, unverified_commits, false_matches; /* the harness's counters */
    uint64_t unavailable;     /* replicas libraft shut down (RAFT_UNAVAILABLE) by the end */
    clu_guard_counters guard; /* summed over the replicas */
} seed_report;

typedef enum guard_mode { GUARD_ON, GUARD_OFF, GUARD_OBSERVE } guard_mode;

static const char *const guard_names[] = {"on", "off", "observe"};

/* The fault mixes (--variant): weights of partition, reconnect, freeze, stall, kill and
 * election-timeout faults, and how many servers may be dead at once (0: one, or two in a
 * quarter of the seeds). */
#define VARIANTS 4u
static const struct {
    const char *name;
    unsigned weight[6];
    unsigned dead_max;
} variants[VARIANTS] = {
    {"mixed", {3, 3, 2, 2, 1, 1}, 0},   /* every fault */
    {"links", {3, 3, 0, 0, 0, 2}, 0},   /* one-way cuts, isolations and reconnects only */
    {"crashes", {3, 3, 0, 0, 4, 2}, 2}, /* kills and revivals, two servers dead at once */
    {"slow", {2, 3, 3, 3, 0, 1}, 0},    /* freezes and disk and network stalls */
};

typedef struct sim_opts {
    uint64_t from; /* the first seed */
    uint64_t to;   /* the last seed, included: from <= to */
    unsigned steps;
    unsigned jobs;
    unsigned variant;
    guard_mode guard;
    bool barrier;
    bool quiet;
    bool expect_violations; /* a run that must show libraft 0.15's bugs (with --guard off) */
} sim_opts;

/* One seed's run, in the child. */
typedef struct seed_run {
    chaos_harness h; /* first member: on_stale_append finds the run from it */
    tk_rng rng;
    bool detail;
    unsigned election_ms;
    unsigned dead_max;            /* servers dead at once, 1 or 2 */
    unsigned variant;             /* the fault mix, an index of variants */
    unsigned propose_ms;          /* mean fixture time between proposals */
    unsigned fault_ms;            /* mean fixture time between faults */
    raft_time propose_at;         /* next proposal, fixture time */
    raft_time fault_at;           /* next fault, fixture time */
    raft_time revive_at[SERVERS]; /* 0: alive */
    raft_time thaw_at[SERVERS];   /* 0: not frozen */
    int fd;                       /* the pipe to the parent */
    bool noted;                   /* a note was written */
    seed_report report;
} seed_run;

static uint64_t below(seed_run *c, uint64_t bound)
{
    return tk_rng_below(&c->rng, bound);
}

static raft_time now_ms(seed_run *c)
{
    return raft_fixture_time(&c->h.fixture);
}

static void trace(seed_run *c, const char *what, unsigned i, unsigned j)
{
    if (!c->detail) return;
    printf("  t=%6llu ms  %-22s %u", (unsigned long long)now_ms(c), what, i);
    if (j < SERVERS) printf(" %u", j);
    printf("\n");
}

static bool alive(seed_run *c, unsigned i)
{
    return raft_fixture_alive(&c->h.fixture, i);
}

static unsigned dead_count(seed_run *c)
{
    unsigned dead = 0;
    for (unsigned i = 0; i < SERVERS; i++)
        dead += alive(c, i) ? 0u : 1u;
    return dead;
}

/* The live server that believes it leads at the highest term (what a client finds); SERVERS
 * if none. With stale set, any live server that believes it leads, at random. */
static unsigned pick_leader(seed_run *c, bool stale)
{
    if (!stale) return chaos_harness_leader(&c->h);
    unsigned found[SERVERS];
    unsigned count = 0;
    for (unsigned i = 0; i < SERVERS; i++)
        if (alive(c, i) && raft_state(c->h.replicas[i].raft) == RAFT_LEADER) found[count++] = i;
    if (count == 0) return SERVERS;
    return found[below(c, count)];
}

/* A server to hurt: the leader half of the time (leader changes with entries in flight are
 * what libraft 0.15 gets wrong), else any. */
static unsigned pick_victim(seed_run *c)
{
    if (below(c, 2) == 0) {
        unsigned leader = pick_leader(c, false);
        if (leader < SERVERS) return leader;
    }
    return (unsigned)below(c, SERVERS);
}

static void propose(seed_run *c)
{
    unsigned leader = pick_leader(c, below(c, 4) == 0);
    if (leader >= SERVERS) return;
    uint32_t count = 1u + (uint32_t)below(c, 8);
    (void)chaos_harness_propose_on(&c->h, leader, count); /* refused: not leader any more, fine */
}

/* Cut server i off from j both ways (never touching a dead server: kill disconnected it, and
 * the fixture would deliver to a dead server that is reconnected). */
static void cut(seed_run *c, unsigned i, unsigned j)
{
    if (i == j || !alive(c, i) || !alive(c, j)) return;
    raft_fixture_disconnect(&c->h.fixture, i, j);
}

static void join(seed_run *c, unsigned i, unsigned j)
{
    if (i == j || !alive(c, i) || !alive(c, j)) return;
    raft_fixture_reconnect(&c->h.fixture, i, j);
}

static void fault_partition(seed_run *c)
{
    unsigned i = pick_victim(c);
    if (below(c, 2) == 0) {
        unsigned j = (i + 1u + (unsigned)below(c, SERVERS - 1)) % SERVERS;
        cut(c, i, j);
        c->report.partitions++;
        trace(c, "disconnect", i, j);
        return;
    }
    for (unsigned j = 0; j < SERVERS; j++)
        cut(c, i, j);
    c->report.isolations++;
    trace(c, "isolate", i, SERVERS);
}

static void fault_reconnect(seed_run *c)
{
    if (below(c, 2) == 0) {
        for (unsigned i = 0; i < SERVERS; i++)
            for (unsigned j = i + 1; j < SERVERS; j++)
                join(c, i, j);
        trace(c, "reconnect all", SERVERS, SERVERS);
        return;
    }
    unsigned i = (unsigned)below(c, SERVERS);
    unsigned j = (i + 1u + (unsigned)below(c, SERVERS - 1)) % SERVERS;
    join(c, i, j);
    trace(c, "reconnect", i, j);
}

/* Freeze: what server i sends and what is sent to it is dropped silently, while it runs on. */
static void fault_freeze(seed_run *c)
{
    unsigned i = pick_victim(c);
    for (unsigned j = 0; j < SERVERS; j++) {
        if (j == i) continue;
        raft_fixture_saturate(&c->h.fixture, i, j);
        raft_fixture_saturate(&c->h.fixture, j, i);
    }
    raft_time until = now_ms(c) + 100u + below(c, 2500);
    if (until > c->thaw_at[i]) c->thaw_at[i] = until;
    c->report.freezes++;
    trace(c, "freeze", i, SERVERS);
}

static void thaw(seed_run *c, unsigned i)
{
    for (unsigned j = 0; j < SERVERS; j++) {
        if (j == i) continue;
        raft_fixture_desaturate(&c->h.fixture, i, j);
        raft_fixture_desaturate(&c->h.fixture, j, i);
    }
    c->thaw_at[i] = 0;
    trace(c, "thaw", i, SERVERS);
}

static void fault_stall(seed_run *c)
{
    unsigned i = pick_victim(c);
    raft_time until = now_ms(c) + 50u + below(c, 2000);
    if (below(c, 2) == 0) {
        chaos_harness_disk_stall(&c->h, i, until);
        trace(c, "disk stall", i, SERVERS);
    } else {
        chaos_harness_net_stall(&c->h, i, until);
        trace(c, "network stall", i, SERVERS);
    }
    c->report.stalls++;
}

/* Kill: the fixture's kill cuts server i off and stops it; in 0.15 it keeps its memory, so a
 * revive is a long pause ended, not a restart. */
static void fault_kill(seed_run *c)
{
    unsigned i = pick_victim(c);
    if (!alive(c, i) || dead_count(c) >= c->dead_max) return;
    raft_fixture_kill(&c->h.fixture, i);
    c->revive_at[i] = now_ms(c) + 200u + below(c, 4000);
    c->report.kills++;
    trace(c, "kill", i, SERVERS);
}

/* The randomized election timeout the fixture hands server i next (in [E, 2E)); now and then
 * every server the same, for split votes. */
static void fault_timeouts(seed_run *c)
{
    unsigned e = c->election_ms;
    if (below(c, 4) == 0) {
        unsigned same = e + (unsigned)below(c, e);
        for (unsigned i = 0; i < SERVERS; i++)
            raft_fixture_set_randomized_election_timeout(&c->h.fixture, i, same);
        trace(c, "same election timeout", same, SERVERS);
        return;
    }
    unsigned i = (unsigned)below(c, SERVERS);
    raft_fixture_set_randomized_election_timeout(&c->h.fixture, i, e + (unsigned)below(c, e));
    trace(c, "election timeout", i, SERVERS);
}

static void fault(seed_run *c)
{
    const unsigned *w = variants[c->variant].weight;
    unsigned total = 0;
    for (unsigned k = 0; k < 6u; k++)
        total += w[k];
    unsigned pick = (unsigned)below(c, total);
    unsigned k = 0;
    while (pick >= w[k]) {
        pick -= w[k];
        k++;
    }
    switch (k) {
    case 0:
        fault_partition(c);
        break;
    case 1:
        fault_reconnect(c);
        break;
    case 2:
        fault_freeze(c);
        break;
    case 3:
        fault_stall(c);
        break;
    case 4:
        fault_kill(c);
        break;
    default:
        fault_timeouts(c);
        break;
    }
}

/* Revive the dead and thaw the frozen whose time has come. revive reconnects server i to
 * every other, which ends the partitions it was in. */
static void expire(seed_run *c)
{
    raft_time now = now_ms(c);
    for (unsigned i = 0; i < SERVERS; i++) {
        if (c->revive_at[i] != 0 && now >= c->revive_at[i]) {
            raft_fixture_revive(&c->h.fixture, i);
            c->revive_at[i] = 0;
            trace(c, "revive", i, SERVERS);
        }
        if (c->thaw_at[i] != 0 && now >= c->thaw_at[i]) thaw(c, i);
    }
}

/* Just before libraft 0.15 receives an AppendEntries from index 1 on a compacted log (a bug
 * of its own that crashes or corrupts the follower, chaos_harness.stale_appends), tell the
 * parent,
 * so that a crash that follows is put down to it. Once per seed is enough. */
static void note_stale_append(chaos_harness *h, unsigned server)
{
    seed_run *c = (seed_run *)(void *)h; /* the harness is the run's first member */
    trace(c, "stale append to", server, SERVERS);
    if (c->noted) return;
    seed_report note = {.magic = NOTE_MAGIC, .server = server};
    c->noted = write(c->fd, &note, sizeof(note)) == (ssize_t)sizeof(note);
}

_Static_assert(offsetof(seed_run, h) == 0, "note_stale_append finds the run from its harness");

static bool seed_open(seed_run *c, uint64_t seed, const sim_opts *opts, bool detail, int fd)
{
    memset(c, 0, sizeof(*c));
    c->detail = detail;
    c->fd = fd;
    tk_rng_init(&c->rng, seed);
    c->election_ms = 300u + (unsigned)below(c, 500);
    chaos_harness_opts hopts = {.servers = SERVERS,
                                .seed = seed,
                                .snapshot_threshold = 16u + (unsigned)below(c, 49),
                                .snapshot_trailing = 8u + (unsigned)below(c, 9),
                                .election_timeout_ms = c->election_ms,
                                .heartbeat_timeout_ms =
                                    c->election_ms / (3u + (unsigned)below(c, 6)),
                                .faults = true,
                                .barrier_on_election = opts->barrier,
                                .unique_events = true,
                                .guard = opts->guard != GUARD_OFF,
                                .guard_rules = opts->guard == GUARD_ON ? CLU_GUARD_ALL : 0u};
    if (!chaos_harness_open_opts(&c->h, &hopts)) return false;
    c->h.on_stale_append = note_stale_append;
    for (unsigned i = 0; i < SERVERS; i++)
        raft_fixture_set_randomized_election_timeout(
            &c->h.fixture, i, c->election_ms + (unsigned)below(c, c->election_ms));
    c->variant = opts->variant;
    c->dead_max = variants[c->variant].dead_max != 0 ? variants[c->variant].dead_max
                  : below(c, 4) == 0                 ? 2u
                                                     : 1u;
    c->propose_ms = 4u + (unsigned)below(c, 60);
    c->fault_ms = 100u + (unsigned)below(c, 700);
    if (c->detail)
        printf("seed %llu: election %u ms, heartbeat %u ms, snapshot threshold %u trailing %u, "
               "up to %u dead, a proposal every %u ms, a fault every %u ms (means)\n",
               (unsigned long long)seed, c->election_ms, hopts.heartbeat_timeout_ms,
               hopts.snapshot_threshold, hopts.snapshot_trailing, c->dead_max, c->propose_ms,
               c->fault_ms);
    return true;
}

/* End the chaos: distinct election timeouts (identical ones could split votes for ever),
 * then chaos_harness_heal: revive, reconnect, desaturate, barrier, every replica applies it. Stalls
 * end by themselves, at most a few seconds on. */
static bool heal(seed_run *c)
{
    for (unsigned i = 0; i < SERVERS; i++) {
        raft_fixture_set_randomized_election_timeout(&c->h.fixture, i,
                                                     c->election_ms + i * c->election_ms / 3u);
        c->revive_at[i] = 0;
        c->thaw_at[i] = 0;
    }
    trace(c, "heal", SERVERS, SERVERS);
    return chaos_harness_heal(&c->h, HEAL_MSECS);
}

static void classify(seed_run *c, bool healed)
{
    chaos_harness_verdict v;
    chaos_harness_compare(&c->h, &v);
    seed_report *r = &c->report;
    r->healed = healed;
    r->converged = v.converged;
    r->first_diverged = v.first_diverged;
    r->state_hash_differs = v.state_hash_differs;
    r->compared = v.compared;
    r->ledger_conflict = chaos_harness_ledger_conflict(&c->h);
    bool detected = v.state_hash_differs || r->ledger_conflict != 0;
    if (v.first_diverged != 0 || detected)
        r->klass = detected ? CLASS_DETECTED : CLASS_UNDETECTED;
    else if (!healed || !v.converged)
        r->klass = CLASS_NOT_CONVERGED;
    else
        r->klass = CLASS_AGREE;
    TK_ASSERT(r->klass < CLASS_CRASHED_STALE_APPEND);
}

/* Add the guard counters g to sum, rule by rule. */
static void guard_add(clu_guard_counters *sum, const clu_guard_counters *g)
{
    sum->follower_results_seen += g->follower_results_seen;
    sum->follower_results_clamped += g->follower_results_clamped;
    sum->leader_results_seen += g->leader_results_seen;
    sum->leader_clamped_to_sent += g->leader_clamped_to_sent;
    sum->leader_lowered_earlier_term += g->leader_lowered_earlier_term;
    sum->barriers += g->barriers;
}

static void gather(seed_run *c)
{
    seed_report *r = &c->report;
    r->elections = c->h.elections;
    r->proposed = c->h.proposed;
    r->apply_failed = c->h.apply_failed;
    r->fixture_ms = now_ms(c);
    r->stale_appends = c->h.stale_appends;
    r->old_term_commits = c->h.old_term_commits;
    r->unverified_commits = c->h.unverified_commits;
    r->false_matches = c->h.false_matches;
    r->applied_index = 0;
    for (unsigned i = 0; i < SERVERS; i++) {
        clu_fsm_stats s;
        clu_fsm_stats_get(c->h.replicas[i].fsm, &s);
        r->restores += s.restores;
        r->snapshots += s.snapshots;
        r->refused_entries += s.refused_entries;
        r->unavailable += raft_state(c->h.replicas[i].raft) == RAFT_UNAVAILABLE ? 1u : 0u;
        raft_index applied = raft_last_applied(c->h.replicas[i].raft);
        if (applied > r->applied_index) r->applied_index = applied;
        if (c->h.replicas[i].guard == NULL) continue;
        clu_guard_counters g;
        clu_guard_counters_get(c->h.replicas[i].guard, &g);
        guard_add(&r->guard, &g);
    }
}

static const char *role_name(int state)
{
    static const char *const names[] = {"unavailable", "follower", "candidate", "leader"};
    return state >= 0 && state < 4 ? names[state] : "?";
}

static void print_detail(seed_run *c)
{
    const seed_report *r = &c->report;
    for (unsigned i = 0; i < SERVERS; i++) {
        struct raft *raft = c->h.replicas[i].raft;
        clu_fsm_stats s;
        clu_fsm_stats_get(c->h.replicas[i].fsm, &s);
        uint8_t hash[LED_HASH_BYTES];
        led_state_hash(clu_fsm_state(c->h.replicas[i].fsm), hash);
        printf("  server %u: %-9s term %llu applied %llu ledger %llu snapshots %llu restores "
               "%llu state hash %02x%02x%02x%02x\n",
               i, role_name(raft_state(raft)), (unsigned long long)raft->current_term,
               (unsigned long long)raft_last_applied(raft), (unsigned long long)s.ledger_index,
               (unsigned long long)s.snapshots, (unsigned long long)s.restores, hash[0], hash[1],
               hash[2], hash[3]);
    }
    printf("  healed %s, converged %s, first diverged Raft index %llu, chain hash conflict at "
           "ledger index %llu, state hash differs %s, %llu points compared\n",
           r->healed ? "yes" : "no", r->converged ? "yes" : "no",
           (unsigned long long)r->first_diverged, (unsigned long long)r->ledger_conflict,
           r->state_hash_differs ? "yes" : "no", (unsigned long long)r->compared);
    printf("  %llu elections, %llu entries proposed (%llu callbacks failed, mostly "
           "RAFT_LEADERSHIPLOST: outcome unknown), %llu refused entries, "
           "%llu ms of fixture time\n",
           (unsigned long long)r->elections, (unsigned long long)r->proposed,
           (unsigned long long)r->apply_failed, (unsigned long long)r->refused_entries,
           (unsigned long long)r->fixture_ms);
}

/* The child's whole life: run the seed, report through fd, exit. */
static int run_seed(uint64_t seed, const sim_opts *opts, bool detail, int fd)
{
    static seed_run c; /* static: the fixture is large, and LSan sees it as reachable */
    if (!seed_open(&c, seed, opts, detail, fd)) return 3;
    c.report.magic = REPORT_MAGIC;
    for (unsigned step = 0; step < opts->steps; step++) {
        expire(&c);
        raft_time now = now_ms(&c);
        if (now >= c.propose_at) {
            propose(&c);
            c.propose_at = now + below(&c, 2u * c.propose_ms + 1u);
        }
        if (now >= c.fault_at) {
            fault(&c);
            c.fault_at = now + below(&c, 2u * c.fault_ms + 1u);
        }
        raft_fixture_step(&c.h.fixture);
    }
    bool healed = heal(&c);
    gather(&c);
    classify(&c, healed);
    if (detail) print_detail(&c);
    fflush(stdout);
    ssize_t n = write(fd, &c.report, sizeof(c.report));
    chaos_harness_close(&c.h);
    return n == (ssize_t)sizeof(c.report) ? 0 : 4;
}

/* ---- The parent: one child per seed, J at once -------------------------------------------- */

typedef struct slot {
    pid_t pid; /* 0: free */
    uint64_t seed;
    int fd; /* read end of the child's pipe */
} slot;

typedef struct totals {
    uint64_t by_class[CLASS_COUNT];
    uint64_t elections, restores, snapshots, proposed, apply_failed, kills, partitions, freezes,
        stalls;
    uint64_t stale_seeds; /* seeds in which a stale append was delivered */
    /* Seeds in which the harness saw bug 1, bug 2 (follower side), bug 2 (leader side) at
     * work: [0] all seeds, [1] diverged seeds. */
    uint64_t bug1_seeds[2], bug2f_seeds[2], bug2l_seeds[2];
    uint64_t by_state_hash;   /* diverged seeds whose final state hashes differ */
    uint64_t shut_down[2];    /* seeds in which libraft shut a replica down: all, diverged */
    uint64_t stuck;           /* not-converged seeds with every replica still running (bug 7) */
    clu_guard_counters guard; /* summed over every seed */
    uint64_t guard_bit_seeds; /* seeds in which the guard lowered (or, observing, would have
                                 lowered) at least one result */
} totals;

static bool spawn(slot *s, uint64_t seed, const sim_opts *opts, bool detail)
{
    int fds[2];
    if (pipe(fds) != 0) return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(SEED_WALL_LIMIT_S);
        exit(run_seed(seed, opts, detail, fds[1]));
    }
    close(fds[1]);
    s->pid = pid;
    s->seed = seed;
    s->fd = fds[0];
    return true;
}

static const char *troika_action(seed_class k)
{
    switch (k) {
    case CLASS_AGREE:
        return "nothing to do";
    case CLASS_DETECTED:
        return "state hash mismatch: DIVERGENCE alert, kill switch; with the guard on, a "
               "SAFETY VIOLATION";
    case CLASS_UNDETECTED:
        return "nothing sees it: TROIKA FAILURE";
    case CLASS_NOT_CONVERGED:
        return "applied index stops: stall watchdog aborts, node restarts";
    case CLASS_CRASHED_STALE_APPEND:
        return "libraft kills the node process (SIGSEGV); it restarts";
    case CLASS_CRASHED:
        return "TROIKA FAILURE until shown otherwise";
    case CLASS_COUNT:
        break;
    }
    return "?";
}

/* The options after --seeds that replay a seed of this run exactly (into buf, of size bytes). */
static void replay_args(const sim_opts *opts, char *buf, size_t size)
{
    snprintf(buf, size, "--steps %u --variant %s --guard %s%s", opts->steps,
             variants[opts->variant].name, guard_names[opts->guard],
             opts->barrier ? " --barrier" : "");
}

/* The command that replays one seed, with its fault trace, on a line of its own. */
static void print_replay(uint64_t seed, const sim_opts *opts)
{
    char args[128];
    replay_args(opts, args, sizeof(args));
    printf("  replay: troika chaos sim --seeds %llu..%llu %s\n", (unsigned long long)seed,
           (unsigned long long)seed, args);
}

static void print_crash(uint64_t seed, int status, seed_class k, const sim_opts *opts)
{
    const char *name = class_names[k];
    if (WIFSIGNALED(status))
        printf("seed %llu: %s (signal %d, %s)\n", (unsigned long long)seed, name, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        printf("seed %llu: %s (exit status %d)\n", (unsigned long long)seed, name,
               WEXITSTATUS(status));
    else
        printf("seed %llu: %s (no report)\n", (unsigned long long)seed, name);
    print_replay(seed, opts);
}

/* Read what the child wrote: its final report (*out, true) and whether it wrote a note. */
static bool read_report(int fd, seed_report *out, bool *out_noted)
{
    bool whole = false;
    *out_noted = false;
    for (unsigned records = 0; records < 2; records++) {
        seed_report r;
        memset(&r, 0, sizeof(r));
        ssize_t n = read(fd, &r, sizeof(r)); /* a record is below PIPE_BUF: written whole */
        if (n != (ssize_t)sizeof(r)) break;
        if (r.magic == NOTE_MAGIC) *out_noted = true;
        if (r.magic == REPORT_MAGIC && r.klass < CLASS_CRASHED_STALE_APPEND) {
            *out = r;
            whole = true;
        }
    }
    return whole;
}

static void add_up(totals *t, const seed_report *r)
{
    t->by_class[r->klass]++;
    t->elections += r->elections;
    t->restores += r->restores;
    t->snapshots += r->snapshots;
    t->proposed += r->proposed;
    t->apply_failed += r->apply_failed;
    t->kills += r->kills;
    t->partitions += r->partitions + r->isolations;
    t->freezes += r->freezes;
    t->stalls += r->stalls;
    t->stale_seeds += r->stale_appends > 0 ? 1u : 0u;
    for (unsigned d = 0; d < 2; d++) {
        if (d == 1 && r->klass != CLASS_DETECTED && r->klass != CLASS_UNDETECTED) break;
        t->bug1_seeds[d] += r->old_term_commits > 0 ? 1u : 0u;
        t->bug2f_seeds[d] += r->unverified_commits > 0 ? 1u : 0u;
        t->bug2l_seeds[d] += r->false_matches > 0 ? 1u : 0u;
        t->shut_down[d] += r->unavailable > 0 ? 1u : 0u;
    }
    t->by_state_hash += r->state_hash_differs ? 1u : 0u;
    guard_add(&t->guard, &r->guard);
    t->guard_bit_seeds += r->guard.follower_results_clamped + r->guard.leader_clamped_to_sent +
                                      r->guard.leader_lowered_earlier_term >
                                  0
                              ? 1u
                              : 0u;
    if (r->klass == CLASS_NOT_CONVERGED && r->unavailable == 0) t->stuck++;
}

/* Classify one finished child, print its lines if it failed, add it up. */
static void collect(slot *s, int status, const sim_opts *opts, totals *t)
{
    seed_report r;
    memset(&r, 0, sizeof(r));
    bool noted = false;
    bool whole = read_report(s->fd, &r, &noted);
    close(s->fd);
    s->pid = 0;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!whole || !clean) {
        seed_class k = noted ? CLASS_CRASHED_STALE_APPEND : CLASS_CRASHED;
        t->by_class[k]++;
        t->stale_seeds += noted ? 1u : 0u;
        if (k == CLASS_CRASHED || !opts->quiet) print_crash(s->seed, status, k, opts);
        return;
    }
    add_up(t, &r);
    /* troika's failures, printed whatever --quiet says: a divergence nothing published shows;
     * with the guard on, any divergence, and a leader committing an earlier term's entry even
     * when nothing diverged (worth a look) */
    bool guard_miss = opts->guard == GUARD_ON && r.old_term_commits > 0;
    bool failure = r.klass == CLASS_UNDETECTED || guard_miss ||
                   (opts->guard == GUARD_ON && r.klass == CLASS_DETECTED);
    if (!failure && (r.klass == CLASS_AGREE || opts->quiet)) return;
    printf("seed %llu: %s, first diverged Raft index %llu (chain hashes differ from ledger "
           "index %llu, final state hashes differ %s, healed %s, replicas shut down %llu; "
           "seen: bug 1 x%llu, bug 2 follower x%llu leader x%llu, stale appends x%llu)\n",
           (unsigned long long)s->seed, class_names[r.klass], (unsigned long long)r.first_diverged,
           (unsigned long long)r.ledger_conflict, r.state_hash_differs ? "yes" : "no",
           r.healed ? "yes" : "no", (unsigned long long)r.unavailable,
           (unsigned long long)r.old_term_commits, (unsigned long long)r.unverified_commits,
           (unsigned long long)r.false_matches, (unsigned long long)r.stale_appends);
    print_replay(s->seed, opts);
}
/* How many seeds opts asks for (from..to, both included). */
static uint64_t seed_count(const sim_opts *opts)
{
    TK_ASSERT(opts->from <= opts->to);
    TK_ASSERT(opts->to <= SEED_MAX);
    return opts->to - opts->from + 1u;
}

static void print_summary(const sim_opts *opts, const totals *t, double seconds)
{
    uint64_t count = seed_count(opts);
    printf("troika chaos sim: %llu seeds (%llu..%llu), %u steps each, faults '%s', guard %s%s, "
           "in %.1f s (%.1f seeds/s)\n",
           (unsigned long long)count, (unsigned long long)opts->from, (unsigned long long)opts->to,
           opts->steps, variants[opts->variant].name, guard_names[opts->guard],
           opts->barrier ? ", barrier on election" : "", seconds,
           seconds > 0 ? (double)count / seconds : 0.0);
    for (unsigned k = 0; k < CLASS_COUNT; k++)
        printf("  %-20s %8llu   troika: %s\n", class_names[k], (unsigned long long)t->by_class[k],
               troika_action((seed_class)k));
    printf("  faults: %llu partitions, %llu freezes, %llu stalls, %llu kills; %llu elections "
           "(leader changes), %llu entries proposed, %llu apply callbacks failed (mostly "
           "RAFT_LEADERSHIPLOST, outcome unknown); "
           "%llu snapshots, %llu snapshot installs (restores)\n",
           (unsigned long long)t->partitions, (unsigned long long)t->freezes,
           (unsigned long long)t->stalls, (unsigned long long)t->kills,
           (unsigned long long)t->elections, (unsigned long long)t->proposed,
           (unsigned long long)t->apply_failed, (unsigned long long)t->snapshots,
           (unsigned long long)t->restores);
    printf("  seen at work (seeds, of which diverged): bug 1 (commit of an earlier term's "
           "entry) %llu/%llu; bug 2 follower side (commit over unmatched entries) %llu/%llu; "
           "bug 2 leader side (false match) %llu/%llu; stale appends %llu\n",
           (unsigned long long)t->bug1_seeds[0], (unsigned long long)t->bug1_seeds[1],
           (unsigned long long)t->bug2f_seeds[0], (unsigned long long)t->bug2f_seeds[1],
           (unsigned long long)t->bug2l_seeds[0], (unsigned long long)t->bug2l_seeds[1],
           (unsigned long long)t->stale_seeds);
    uint64_t diverged = t->by_class[CLASS_DETECTED] + t->by_class[CLASS_UNDETECTED];
    printf("  of %llu diverged seeds, %llu still differ in their final state hash (the rest show "
           "only in the (ledger index, chain hash) history); in %llu libraft shut a replica down "
           "itself (%llu seeds in all)\n",
           (unsigned long long)diverged, (unsigned long long)t->by_state_hash,
           (unsigned long long)t->shut_down[1], (unsigned long long)t->shut_down[0]);
    printf("  of %llu not-converged seeds, %llu had every replica running but one left behind "
           "(bug 7); in the others libraft had shut a replica down\n",
           (unsigned long long)t->by_class[CLASS_NOT_CONVERGED], (unsigned long long)t->stuck);
    if (opts->guard != GUARD_OFF)
        printf("  guard%s: followers sent %llu successful results, %llu claimed more than they "
               "had verified; leaders received %llu, %llu above what they had sent, %llu on an "
               "earlier term's entry above the commit index; %llu barriers; it bit in %llu seeds\n",
               opts->guard == GUARD_OBSERVE ? " (observing: nothing lowered)" : "",
               (unsigned long long)t->guard.follower_results_seen,
               (unsigned long long)t->guard.follower_results_clamped,
               (unsigned long long)t->guard.leader_results_seen,
               (unsigned long long)t->guard.leader_clamped_to_sent,
               (unsigned long long)t->guard.leader_lowered_earlier_term,
               (unsigned long long)t->guard.barriers, (unsigned long long)t->guard_bit_seeds);
    printf("  safety violations (replicas applied different entries): %llu\n",
           (unsigned long long)(t->by_class[CLASS_DETECTED] + t->by_class[CLASS_UNDETECTED]));
}

static bool run_all(const sim_opts *opts, totals *t)
{
    slot slots[JOBS_MAX];
    memset(slots, 0, sizeof(slots));
    uint64_t count = seed_count(opts);
    bool detail = count == 1;
    uint64_t next = 0;
    unsigned running = 0;
    while (next < count || running > 0) {
        for (unsigned i = 0; i < opts->jobs && next < count; i++) {
            if (slots[i].pid != 0) continue;
            if (!spawn(&slots[i], opts->from + next, opts, detail)) {
                fprintf(stderr, "troika chaos sim: cannot fork: %s\n", strerror(errno));
                return false;
            }
            next++;
            running++;
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            fprintf(stderr, "troika chaos sim: waitpid: %s\n", strerror(errno));
            return false;
        }
        for (unsigned i = 0; i < opts->jobs; i++) {
            if (slots[i].pid != pid) continue;
            collect(&slots[i], status, opts, t);
            running--;
        }
        if (!opts->quiet && count >= 2000 && (next - running) % 1000 == 0)
            fprintf(stderr, "troika chaos sim: %llu seeds done\n",
                    (unsigned long long)(next - running));
    }
    return true;
}

static void sim_usage(FILE *out)
{
    fprintf(out,
            "usage: troika chaos sim --seeds A..B [--steps N] [--jobs J] [--guard on|off|observe]\n"
            "                        [--variant mixed|links|crashes|slow] [--barrier]\n"
            "                        [--expect-violations] [--quiet]\n"
            "Run the ledger FSM on three libraft servers of its in-memory fixture under random\n"
            "faults, one forked process per seed, heal, compare the replicas, and classify each\n"
            "seed (docs/chaos.md). Exit status: 0 when no seed failed, 1 otherwise, 2 on a\n"
            "usage error.\n"
            "  --seeds A..B         the seeds to run, A and B included (A <= B)\n"
            "  --steps N            fixture steps of faults per seed (default 3000)\n"
            "  --jobs J             seeds at once, 1..%u (default 1)\n"
            "  --guard MODE         the protocol guard: on (default), off (libraft alone),\n"
            "                       observe (counts what it would lower, changes nothing)\n"
            "  --variant MIX        faults: mixed (default), links, crashes, slow\n"
            "  --barrier            a new leader runs a barrier at once, as a node does\n"
            "  --expect-violations  fail unless some seed diverges (with --guard off: the\n"
            "                       test bites)\n"
            "  --quiet              print only troika's failures and the summary\n"
            "A single seed (--seeds N..N) prints its faults and final state.\n",
            JOBS_MAX);
}

/* A usage error: name the option and the value, and say what was wanted. */
static bool bad_value(const char *option, const char *value, const char *want)
{
    fprintf(stderr, "troika chaos sim: bad value for %s: '%s' (%s); see --help\n", option, value,
            want);
    return false;
}

static bool parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || text[0] == '+') return false;
    if (v < min || v > max) return false;
    *out = v;
    return true;
}

/* --seeds A..B: two seed numbers, A <= B <= SEED_MAX. */
static bool parse_seeds(const char *text, sim_opts *opts)
{
    const char *want = "want A..B, two seed numbers with A <= B, as in 1..500";
    const char *dots = strstr(text, "..");
    char first[32];
    if (dots == NULL || (size_t)(dots - text) >= sizeof(first))
        return bad_value("--seeds", text, want);
    memcpy(first, text, (size_t)(dots - text));
    first[dots - text] = '\0';
    uint64_t from = 0, to = 0;
    if (!parse_u64(first, 0, SEED_MAX, &from) || !parse_u64(dots + 2, 0, SEED_MAX, &to))
        return bad_value("--seeds", text, want);
    if (from > to) return bad_value("--seeds", text, "A is above B: want A <= B");
    opts->from = from;
    opts->to = to;
    return true;
}

/* One option (getopt's ch, its value optarg) into opts; false (said on stderr) if bad. */
static bool parse_option(int ch, const char *arg, sim_opts *opts)
{
    uint64_t v = 0;
    char want[32];
    switch (ch) {
    case 'n':
        return parse_seeds(arg, opts);
    case 's':
        snprintf(want, sizeof(want), "1..%u", STEPS_MAX);
        if (!parse_u64(arg, 1, STEPS_MAX, &v)) return bad_value("--steps", arg, want);
        opts->steps = (unsigned)v;
        return true;
    case 'j':
        snprintf(want, sizeof(want), "1..%u", JOBS_MAX);
        if (!parse_u64(arg, 1, JOBS_MAX, &v)) return bad_value("--jobs", arg, want);
        opts->jobs = (unsigned)v;
        return true;
    case 'g':
        for (unsigned m = 0; m < 3u; m++) {
            if (strcmp(arg, guard_names[m]) != 0) continue;
            opts->guard = (guard_mode)m;
            return true;
        }
        return bad_value("--guard", arg, "on, off or observe");
    case 'v':
        for (unsigned m = 0; m < VARIANTS; m++) {
            if (strcmp(arg, variants[m].name) != 0) continue;
            opts->variant = m;
            return true;
        }
        return bad_value("--variant", arg, "mixed, links, crashes or slow");
    case 'b':
        opts->barrier = true;
        return true;
    case 'q':
        opts->quiet = true;
        return true;
    case 'x':
        opts->expect_violations = true;
        return true;
    default:
        TK_ASSERT(false && "an option in longs without a case");
        return false;
    }
}

typedef enum parse_result { PARSE_RUN, PARSE_HELP, PARSE_BAD } parse_result;

static parse_result parse_args(int argc, char **argv, sim_opts *opts)
{
    static const struct option longs[] = {{"seeds", required_argument, NULL, 'n'},
                                          {"steps", required_argument, NULL, 's'},
                                          {"jobs", required_argument, NULL, 'j'},
                                          {"barrier", no_argument, NULL, 'b'},
                                          {"guard", required_argument, NULL, 'g'},
                                          {"variant", required_argument, NULL, 'v'},
                                          {"expect-violations", no_argument, NULL, 'x'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    *opts = (sim_opts){.steps = 3000, .jobs = 1};
    bool seeds = false;
    int ch;
    optind = 1;
    opterr = 0; /* the messages below name the option themselves */
    while ((ch = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
        if (ch == 'h') return PARSE_HELP;
        if (ch == ':' || ch == '?') {
            fprintf(stderr, "troika chaos sim: %s: '%s'; see --help\n",
                    ch == ':' ? "this option needs a value" : "unknown option", argv[optind - 1]);
            return PARSE_BAD;
        }
        if (!parse_option(ch, optarg, opts)) return PARSE_BAD;
        seeds = seeds || ch == 'n';
    }
    if (optind < argc) {
        fprintf(stderr, "troika chaos sim: unexpected argument '%s'; see --help\n", argv[optind]);
        return PARSE_BAD;
    }
    if (!seeds) {
        fprintf(stderr, "troika chaos sim: --seeds A..B is required; see --help\n");
        return PARSE_BAD;
    }
    return PARSE_RUN;
}

int chaos__sim_main(int argc, char **argv)
{
    sim_opts opts;
    parse_result parsed = parse_args(argc, argv, &opts);
    if (parsed == PARSE_HELP) {
        sim_usage(stdout);
        return 0;
    }
    if (parsed == PARSE_BAD) return 2;
    char args[128];
    replay_args(&opts, args, sizeof(args));
    printf("troika chaos sim: seeds %llu..%llu, %u steps each, %u at once, faults '%s', guard "
           "%s%s (replay one: troika chaos sim --seeds S..S %s)\n",
           (unsigned long long)opts.from, (unsigned long long)opts.to, opts.steps, opts.jobs,
           variants[opts.variant].name, guard_names[opts.guard],
           opts.barrier ? ", barrier on election" : "", args);
    const tk_clock *clock = tk_clock_system();
    uint64_t start_ns = tk_clock_mono_ns(clock);
    totals t;
    memset(&t, 0, sizeof(t));
    if (!run_all(&opts, &t)) return 3;
    double seconds = (double)(tk_clock_mono_ns(clock) - start_ns) / 1e9;
    print_summary(&opts, &t, seconds);
    uint64_t failures = t.by_class[CLASS_UNDETECTED] + t.by_class[CLASS_CRASHED];
    uint64_t violations = t.by_class[CLASS_DETECTED] + t.by_class[CLASS_UNDETECTED];
    if (opts.guard == GUARD_ON) failures += t.by_class[CLASS_DETECTED]; /* the guard's job */
    if (opts.expect_violations && violations == 0) {
        printf("troika chaos sim: no violation in these seeds, where one was expected: the test "
               "does not bite\n");
        failures++;
    }
    return failures > 0 ? 1 : 0;
}
