/* cluster/clu_guard.c on hand-built messages: the term lookup across the raft_log circular
 * buffer's wrap-around and its snapshot boundary, and each rule of the guard (docs/cluster.md,
 * "The protocol guard") on a raft instance whose log, term, role and commit index the test
 * sets, behind a fake io that records what would go on the wire. The fake raft's receive
 * callback plays libraft's part: it appends what an AppendEntries carries and answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <raft.h>
#include <string.h>

#include "clu.h"
#include "cluster_tests.h"
#include "tk_test.h"

#define LOG_SLOTS 16u

/* The fake world: one raft instance, its io, what the io sent and what raft received. */
static struct {
    struct raft raft;
    struct raft_io io;
    struct raft_entry slots[LOG_SLOTS];
    raft_io_recv_cb deliver; /* the guard's receive callback, as the io got it */
    struct raft_message sent;
    unsigned sent_count;
    struct raft_message received; /* what raft's receive callback got, after the guard */
    bool append_on_receive;       /* raft appends an AppendEntries' entries it is given */
    bool answer_on_receive;       /* and answers it at once with its last index */
} w;

static int fake_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                      raft_io_recv_cb recv)
{
    (void)io;
    (void)msecs;
    (void)tick;
    w.deliver = recv;
    return 0;
}

static int fake_send(struct raft_io *io, struct raft_io_send *req,
                     const struct raft_message *message, raft_io_send_cb cb)
{
    (void)io;
    (void)req;
    (void)cb;
    w.sent = *message;
    w.sent_count++;
    return 0;
}

static raft_index log_last(void)
{
    const struct raft_log *l = &w.raft.log;
    size_t n = l->back >= l->front ? l->back - l->front : l->size - l->front + l->back;
    return n > 0 ? l->offset + n : l->snapshot.last_index;
}

/* Append one entry of term at the end of the log (the buffer never fills in these tests). */
static void log_append(raft_term term)
{
    struct raft_log *l = &w.raft.log;
    l->entries[l->back] = (struct raft_entry){.term = term};
    l->back = (l->back + 1u) % l->size;
}

/* A log holding entries first..first+n-1 with these terms, the first at slot front. */
static void log_set(raft_index first, const raft_term *terms, size_t n, size_t front)
{
    struct raft_log *l = &w.raft.log;
    memset(w.slots, 0, sizeof(w.slots));
    *l = (struct raft_log){
        .entries = w.slots, .size = LOG_SLOTS, .front = front, .back = front, .offset = first - 1u};
    for (size_t i = 0; i < n; i++)
        log_append(terms[i]);
}

static void fake_raft_recv(struct raft_io *io, struct raft_message *m)
{
    w.received = *m;
    if (m->type != RAFT_IO_APPEND_ENTRIES) return;
    if (m->append_entries.term > w.raft.current_term) w.raft.current_term = m->append_entries.term;
    if (w.append_on_receive) {
        for (unsigned i = 0; i < m->append_entries.n_entries; i++)
            log_append(m->append_entries.entries[i].term);
        memset(m->append_entries.entries, 0xee, /* raft may free what it was given */
               m->append_entries.n_entries * sizeof(struct raft_entry));
    }
    if (w.answer_on_receive) {
        struct raft_message r = {.type = RAFT_IO_APPEND_ENTRIES_RESULT, .server_id = 1};
        r.append_entries_result = (struct raft_append_entries_result){.term = w.raft.current_term,
                                                                      .last_log_index = log_last()};
        struct raft_io_send req;
        assert_int_equal(io->send(io, &req, &r, NULL), 0);
    }
}

static void fake_tick(struct raft_io *io)
{
    (void)io;
}

static clu_guard *world(unsigned rules, unsigned short state, raft_term term)
{
    memset(&w, 0, sizeof(w));
    w.io = (struct raft_io){.version = 2, .data = &w.raft, .start = fake_start, .send = fake_send};
    w.raft.io = &w.io;
    w.raft.state = state;
    w.raft.current_term = term;
    clu_guard *g = NULL;
    assert_int_equal(clu_guard_attach(&w.io, rules, &g), TK_OK);
    assert_int_equal(w.io.start(&w.io, 100, fake_tick, fake_raft_recv), 0);
    assert_non_null(w.deliver);
    return g;
}

static void deliver_append(raft_term term, raft_index prev, raft_term prev_term,
                           const raft_term *terms, unsigned n)
{
    struct raft_entry entries[8];
    assert_true(n <= 8);
    for (unsigned i = 0; i < n; i++)
        entries[i] = (struct raft_entry){.term = terms[i]};
    struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES, .server_id = 1};
    m.append_entries = (struct raft_append_entries){.term = term,
                                                    .prev_log_index = prev,
                                                    .prev_log_term = prev_term,
                                                    .entries = entries,
                                                    .n_entries = n};
    w.deliver(&w.io, &m);
}

/* Send a successful result claiming last (as raft would); what went on the wire. */
static raft_index send_result(raft_term term, raft_index last, raft_index rejected)
{
    struct raft_message r = {.type = RAFT_IO_APPEND_ENTRIES_RESULT, .server_id = 1};
    r.append_entries_result = (struct raft_append_entries_result){
        .term = term, .rejected = rejected, .last_log_index = last};
    struct raft_io_send req;
    assert_int_equal(w.io.send(&w.io, &req, &r, NULL), 0);
    assert_int_equal(r.append_entries_result.last_log_index, last); /* raft's own, untouched */
    return w.sent.append_entries_result.last_log_index;
}

/* ---- The term lookup ----------------------------------------------------------------------- */

static void test_log_term_wraps_and_snapshot(void **unused)
{
    (void)unused;
    const raft_term terms[] = {2, 2, 3, 3, 4, 4, 4};
    log_set(101, terms, 7, LOG_SLOTS - 3u); /* 101..103 at the end of the buffer, 104.. at 0 */
    w.raft.log.snapshot.last_index = 100;
    w.raft.log.snapshot.last_term = 1;
    bool known = false;
    for (raft_index i = 101; i <= 107; i++) {
        assert_int_equal(clu_guard_log_term(&w.raft.log, i, &known), terms[i - 101]);
        assert_true(known);
    }
    assert_int_equal(clu_guard_log_term(&w.raft.log, 100, &known), 1); /* the snapshot's */
    assert_true(known);
    assert_int_equal(clu_guard_log_term(&w.raft.log, 99, &known), 0); /* compacted */
    assert_false(known);
    assert_int_equal(clu_guard_log_term(&w.raft.log, 108, &known), 0); /* past the end */
    assert_false(known);
    assert_int_equal(clu_guard_log_term(&w.raft.log, 0, &known), 0);
    assert_false(known);
    /* empty buffer, only a snapshot; and a log that has never had anything */
    log_set(51, NULL, 0, 5);
    w.raft.log.snapshot.last_index = 50;
    w.raft.log.snapshot.last_term = 7;
    assert_int_equal(clu_guard_log_term(&w.raft.log, 50, &known), 7);
    assert_true(known);
    assert_int_equal(clu_guard_log_term(&w.raft.log, 51, &known), 0);
    assert_false(known);
    struct raft_log none = {0};
    assert_int_equal(clu_guard_log_term(&none, 1, &known), 0);
    assert_false(known);
}

/* ---- Follower: claim only what was verified ---------------------------------------------------
 */

/* A heartbeat is answered synchronously with the follower's last index: the guard lowers it to
 * the prev index the heartbeat matched, and to nothing on a mismatch. */
static void test_follower_heartbeat(void **unused)
{
    (void)unused;
    clu_guard *g = world(CLU_GUARD_ALL, RAFT_FOLLOWER, 3);
    const raft_term mine[] = {1, 1, 2, 2, 2}; /* 4 and 5 from a term-2 leader, never matched */
    log_set(1, mine, 5, 0);
    w.answer_on_receive = true;
    deliver_append(3, 3, 2, NULL, 0); /* the term-3 leader's log matches at 3 */
    assert_int_equal(w.sent_count, 1);
    assert_int_equal(w.sent.append_entries_result.last_log_index, 3);
    deliver_append(3, 5, 3, NULL, 0); /* its 5 is of term 3: ours is not */
    assert_int_equal(w.sent.append_entries_result.last_log_index, 3);
    w.answer_on_receive = false;
    assert_int_equal(send_result(3, 5, 0), 3); /* a late answer claims no more */
    assert_int_equal(send_result(3, 5, 4), 5); /* rejections pass as they are */
    assert_int_equal(send_result(2, 5, 0), 0); /* nothing verified in another term */
    clu_guard_counters c;
    clu_guard_counters_get(g, &c);
    assert_int_equal(c.follower_results_seen, 4);
    assert_int_equal(c.follower_results_clamped, 4);
    clu_guard_detach(g);
    assert_ptr_equal(w.io.send, fake_send); /* the io's own methods are back */
    assert_ptr_equal(w.io.start, fake_start);
}

/* Entries raft appends are verified after it has them (their terms read before, since raft
 * frees them); a later term starts over from nothing; a snapshot of the term verifies up to
 * its last index; and a log behind a compacted prefix matches inside its snapshot. */
static void test_follower_appends_terms_and_snapshots(void **unused)
{
    (void)unused;
    clu_guard *g = world(CLU_GUARD_ALL, RAFT_FOLLOWER, 3);
    const raft_term mine[] = {1, 1, 3};
    log_set(1, mine, 3, LOG_SLOTS - 1u);
    w.append_on_receive = true;
    const raft_term carried[] = {3, 3};
    deliver_append(3, 3, 3, carried, 2);
    assert_int_equal(log_last(), 5);
    assert_int_equal(send_result(3, 5, 0), 5); /* verified through 5 */
    deliver_append(4, 5, 3, NULL, 0);          /* a term-4 leader, matching at 5 */
    assert_int_equal(send_result(4, 5, 0), 5);
    deliver_append(5, 4, 2, NULL, 0); /* term 5, mismatch at 4: nothing verified yet */
    assert_int_equal(send_result(5, 5, 0), 0);

    struct raft_message snap = {.type = RAFT_IO_INSTALL_SNAPSHOT, .server_id = 1};
    snap.install_snapshot = (struct raft_install_snapshot){.term = 5, .last_index = 40};
    w.deliver(&w.io, &snap);
    assert_int_equal(send_result(5, 40, 0), 40);
    /* compacted: our entries up to 40 are in our snapshot, 41.. in the buffer */
    const raft_term after[] = {5, 5};
    log_set(41, after, 2, 7);
    w.raft.log.snapshot.last_index = 40;
    w.raft.log.snapshot.last_term = 5;
    deliver_append(5, 30, 4, NULL, 0); /* prev inside our snapshot: committed, so it matches */
    assert_int_equal(send_result(5, 42, 0), 40);
    clu_guard_counters c;
    clu_guard_counters_get(g, &c);
    assert_int_equal(c.follower_results_clamped, 2);
    clu_guard_detach(g);
}

/* Without enforcement the guard counts what it would lower and changes nothing. */
static void test_follower_observe_only(void **unused)
{
    (void)unused;
    clu_guard *g = world(0, RAFT_FOLLOWER, 3);
    const raft_term mine[] = {1, 2, 2};
    log_set(1, mine, 3, 0);
    deliver_append(3, 1, 1, NULL, 0);
    assert_int_equal(send_result(3, 3, 0), 3);
    clu_guard_counters c;
    clu_guard_counters_get(g, &c);
    assert_int_equal(c.follower_results_clamped, 1);
    clu_guard_detach(g);
}

/* ---- Leader: count only what may be counted ---------------------------------------------------
 */

static void leader_send_append(raft_id to, raft_term term, raft_index prev, unsigned n)
{
    struct raft_entry entries[8] = {{0}};
    struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES, .server_id = to};
    m.append_entries = (struct raft_append_entries){
        .term = term, .prev_log_index = prev, .entries = entries, .n_entries = n};
    struct raft_io_send req;
    assert_int_equal(w.io.send(&w.io, &req, &m, NULL), 0);
}

/* A term-5 leader's log of 12 entries, the first at slot front: 1..10 of term 2 (committed),
 * 11 of term 4 (an earlier leader's, on a majority), 12 of its own term, all stored. */
static void figure8_log(size_t front)
{
    raft_term terms[12];
    for (unsigned i = 0; i < 12; i++)
        terms[i] = i < 10 ? 2 : (i == 10 ? 4 : 5);
    log_set(1, terms, 12, front);
    w.raft.commit_index = 10;
    w.raft.last_stored = 12; /* its own write done */
}

/* A result as it reaches the leader's raft, from server from claiming last. */
static raft_index leader_receive(raft_id from, raft_term term, raft_index last)
{
    struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES_RESULT, .server_id = from};
    m.append_entries_result =
        (struct raft_append_entries_result){.term = term, .last_log_index = last};
    w.deliver(&w.io, &m);
    assert_int_equal(w.received.type, RAFT_IO_APPEND_ENTRIES_RESULT);
    return w.received.append_entries_result.last_log_index;
}

/* Raft paper figure 8: entry 11 of term 4 sits on a majority, but a term-5 leader may not
 * commit it by counting; it may once 12, of its own term, is counted. And no follower counts
 * above what this leader sent it in this term. */
static void test_leader_rules(void **unused)
{
    (void)unused;
    clu_guard *g = world(CLU_GUARD_ALL, RAFT_LEADER, 5);
    figure8_log(9);                                 /* wraps */
    leader_send_append(2, 5, 10, 2);                /* 11 and 12 to server 2 */
    assert_int_equal(leader_receive(2, 5, 11), 10); /* an earlier term's entry */
    assert_int_equal(leader_receive(2, 5, 12), 12); /* its own term: counted */
    assert_int_equal(leader_receive(2, 5, 14), 12); /* above what was sent */
    assert_int_equal(leader_receive(3, 5, 12), 0);  /* nothing sent to 3 in this term */
    leader_send_append(3, 5, 9, 1);                 /* a probe: 10 */
    assert_int_equal(leader_receive(3, 5, 12), 10);
    assert_int_equal(leader_receive(2, 4, 12), 12); /* another term's result: raft drops it */

    struct raft_message snap = {.type = RAFT_IO_INSTALL_SNAPSHOT, .server_id = 3};
    snap.install_snapshot = (struct raft_install_snapshot){.term = 5, .last_index = 12};
    struct raft_io_send req;
    assert_int_equal(w.io.send(&w.io, &req, &snap, NULL), 0);
    assert_int_equal(leader_receive(3, 5, 12), 12);

    /* the leader's own write of 12 still pending: libraft would commit at what it stored,
     * 11, an earlier term's entry, were the follower counted at 12 */
    w.raft.last_stored = 11;
    assert_int_equal(leader_receive(3, 5, 12), 10);
    w.raft.last_stored = 12;
    assert_int_equal(leader_receive(3, 5, 12), 12);

    w.raft.current_term = 6; /* a new term: nothing sent in it yet */
    assert_int_equal(leader_receive(2, 6, 12), 0);
    clu_guard_counters c;
    clu_guard_counters_get(g, &c);
    assert_int_equal(c.leader_results_seen, 9);
    assert_int_equal(c.leader_lowered_earlier_term, 2);
    assert_int_equal(c.leader_clamped_to_sent, 4);
    clu_guard_detach(g);
}

/* Each leader rule alone: a rule left out counts what it would lower and lowers nothing. */
static void test_leader_rules_one_at_a_time(void **unused)
{
    (void)unused;
    clu_guard *g = world(CLU_GUARD_SENT, RAFT_LEADER, 5);
    figure8_log(0);
    leader_send_append(2, 5, 10, 2);
    assert_int_equal(leader_receive(2, 5, 11), 11); /* the earlier-term rule is off */
    assert_int_equal(leader_receive(2, 5, 14), 12); /* the sent clamp is on */
    clu_guard_counters c;
    clu_guard_counters_get(g, &c);
    assert_int_equal(c.leader_lowered_earlier_term, 1);
    assert_int_equal(c.leader_clamped_to_sent, 1);
    clu_guard_detach(g);

    g = world(CLU_GUARD_EARLIER_TERM, RAFT_LEADER, 5);
    figure8_log(0);
    leader_send_append(2, 5, 10, 2);
    assert_int_equal(leader_receive(2, 5, 11), 10); /* on */
    assert_int_equal(leader_receive(2, 5, 12), 12);
    assert_int_equal(leader_receive(3, 5, 12), 12); /* the sent clamp is off: 3 got nothing */
    clu_guard_counters_get(g, &c);
    assert_int_equal(c.leader_clamped_to_sent, 1);
    clu_guard_detach(g);
}

static int teardown(void **unused)
{
    (void)unused;
    return 0;
}

int clu_test_guard(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_log_term_wraps_and_snapshot, teardown),
        cmocka_unit_test_teardown(test_follower_heartbeat, teardown),
        cmocka_unit_test_teardown(test_follower_appends_terms_and_snapshots, teardown),
        cmocka_unit_test_teardown(test_follower_observe_only, teardown),
        cmocka_unit_test_teardown(test_leader_rules, teardown),
        cmocka_unit_test_teardown(test_leader_rules_one_at_a_time, teardown),
    };
    return cmocka_run_group_tests_name("cluster/guard", tests, NULL, NULL);
}
