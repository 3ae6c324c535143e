/* Mailboxes and envelopes: bounded capacity (TK_EFULL, the sender keeps its message), FIFO
 * order per sender under concurrency, pointer payloads, the envelope pool's bound and the
 * send counters. */
#ifndef _POSIX_C_SOURCE /* the build defines it too (cmake/troika.cmake) */
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors_tests.h"

/* ---- Capacity ----------------------------------------------------------------------------------
 */

/* One scheduler thread: the receiver cannot run while the sender's handler sends, so it is
 * idle with an empty mailbox when the burst starts. */
static void test_full_mailbox_from_actor(void **state)
{
    act_fixture *f = *state;
    const uint32_t capacity = 8;
    probe_cfg cfg = probe_cfg_for(f);
    act_ref receiver = probe_spawn(f->sys, &cfg, capacity, ACT_REF_NONE, false);
    (void)expect_init(f, receiver);
    act_ref sender = probe_start(f);
    act_stats before;
    act_stats_read(f->sys, &before);
    probe_send burst = {.to = receiver, .type = PROBE_PING, .count = capacity + 1u};
    probe_cmd(f, sender, PROBE_SEND, &burst, sizeof(burst));
    (void)expect_msg(f, sender, PROBE_SEND);
    probe_event ev = expect_result(f, sender, PROBE_SEND);
    assert_int_equal(ev.sent_ok, capacity);
    assert_int_equal(ev.sent_full, 1); /* the (N+1)th */
    assert_int_equal(ev.sent_stale, 0);
    EXPECT_ERR(ev.err, TK_EFULL);
    assert_true(ev.kept_intact); /* the refused message was still the sender's */
    act_stats after;
    act_stats_read(f->sys, &after);
    assert_int_equal(after.sends_full - before.sends_full, 1);
    for (uint32_t i = 0; i < capacity; i++) {
        ev = expect_msg(f, receiver, PROBE_PING);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, i);
        EXPECT_REF_EQ(ev.sender, sender);
    }
    /* Drained: a full burst fits again. */
    burst.first_seq = 100;
    burst.count = capacity;
    probe_cmd(f, sender, PROBE_SEND, &burst, sizeof(burst));
    (void)expect_msg(f, sender, PROBE_SEND);
    ev = expect_result(f, sender, PROBE_SEND);
    assert_int_equal(ev.sent_ok, capacity);
    assert_int_equal(ev.sent_full, 0);
    for (uint32_t i = 0; i < capacity; i++) {
        ev = expect_msg(f, receiver, PROBE_PING);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, 100u + i);
    }
    act_stats_read(f->sys, &after);
    assert_int_equal(after.sends_full - before.sends_full, 1);
    expect_port_quiet(f, 0);
}

/* From an outside thread, to a receiver held busy by a gate: sends are refused once the
 * mailbox is full, the refused envelope stays the sender's and goes through after a drain. */
static void test_full_mailbox_from_outside(void **state)
{
    act_fixture *f = *state;
    const uint32_t capacity = 4;
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    act_ref receiver = probe_spawn(f->sys, &cfg, capacity, ACT_REF_NONE, false);
    (void)expect_init(f, receiver);
    probe_cmd(f, receiver, PROBE_GATE, NULL, 0);
    wait_gate_entered(&shared, 1); /* it is inside the gate's handler now */
    act_stats before;
    act_stats_read(f->sys, &before);
    uint32_t accepted = 0;
    act_msg *msg = NULL;
    for (uint32_t i = 0; i <= capacity; i++) {
        msg = act_msg_alloc(f->sys);
        assert_non_null(msg);
        msg->type = PROBE_PING;
        msg->sender = f->port_ref;
        msg->size_bytes = sizeof(i);
        memcpy(msg->data, &i, sizeof(i));
        tk_err err = act_send(f->sys, receiver, msg);
        if (err == TK_EFULL) break;
        EXPECT_ERR(err, TK_OK);
        msg = NULL;
        accepted++;
    }
    if (msg == NULL)
        fail_msg("%u sends to a blocked capacity-%u actor all succeeded", accepted, capacity);
    assert_true(accepted >= capacity - 1u); /* the message in hand counts (see below) */
    assert_true(accepted <= capacity);
    act_stats after;
    act_stats_read(f->sys, &after);
    assert_int_equal(after.sends_full - before.sends_full, 1);
    EXPECT_ERR(act_send(f->sys, receiver, msg), TK_EFULL); /* still full, still ours */
    uint32_t kept;
    memcpy(&kept, msg->data, sizeof(kept));
    assert_int_equal(kept, accepted);
    atomic_store(&shared.gate, 1);
    for (uint32_t i = 0; i < accepted; i++) {
        probe_event ev = expect_msg(f, receiver, PROBE_PING);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, i);
    }
    /* The receiver's turn may still be ending: retry the kept envelope until it goes in. */
    tk_err err = TK_EFULL;
    for (uint32_t tries = 0; tries < ACT_TEST_WAIT_MS && err == TK_EFULL; tries++) {
        err = act_send(f->sys, receiver, msg);
        if (err == TK_EFULL) {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
            nanosleep(&pause, NULL);
        }
    }
    EXPECT_ERR(err, TK_OK);
    probe_event ev = expect_msg(f, receiver, PROBE_PING);
    memcpy(&kept, ev.data, sizeof(kept));
    assert_int_equal(kept, accepted);
}

/* act.h: a message counts toward the capacity until its handler has returned, handled ones
 * being released in batches of max(1, min(capacity / 4, 16)) within a turn. So an actor that
 * continues itself by message needs a capacity of 2 or more: at capacity 1 the message in
 * hand fills the mailbox and its self-send is refused with TK_EFULL. */
#define CHAIN_MSG  (ACT_MSG_USER + 650)
#define CHAIN_HOPS 10u

static _Atomic uint32_t chain_hops;
static _Atomic uint32_t chain_err; /* 1 + the first send error */

static tk_err chain_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)state;
    uint32_t hop;
    memcpy(&hop, msg->data, sizeof(hop));
    atomic_store(&chain_hops, hop);
    if (hop == CHAIN_HOPS) {
        act_stop(ctx, ACT_REASON_NORMAL);
        return TK_OK;
    }
    hop++;
    tk_err err = act_send_data(act_ctx_system(ctx), act_self(ctx), act_self(ctx), CHAIN_MSG, &hop,
                               sizeof(hop));
    if (err != TK_OK) {
        atomic_store(&chain_err, 1u + (uint32_t)err);
        act_stop(ctx, ACT_REASON_NORMAL);
    }
    return TK_OK;
}

static const act_behaviour chain_behaviour = {.name = "chain", .handle = chain_handle};

static void run_chain(const act_fixture *f, uint32_t capacity)
{
    atomic_store(&chain_hops, 0);
    atomic_store(&chain_err, 0);
    act_spawn_opts opts = {
        .behaviour = &chain_behaviour, .mailbox_capacity = capacity, .link_to = ACT_REF_NONE};
    act_ref ref;
    EXPECT_ERR(act_spawn(f->sys, &opts, &ref), TK_OK);
    uint32_t hop = 0;
    EXPECT_ERR(act_send_data(f->sys, ref, ACT_REF_NONE, CHAIN_MSG, &hop, sizeof(hop)), TK_OK);
    (void)wait_exit(f, ref);
}

static void test_capacity_counts_message_in_hand(void **state)
{
    act_fixture *f = *state;
    run_chain(f, 4);
    if (atomic_load(&chain_err) != 0) fail_msg("capacity 4: a self-send failed");
    assert_int_equal(atomic_load(&chain_hops), CHAIN_HOPS);
    run_chain(f, 2);
    if (atomic_load(&chain_err) != 0) fail_msg("capacity 2: a self-send failed");
    assert_int_equal(atomic_load(&chain_hops), CHAIN_HOPS);
    run_chain(f, 1); /* the message in hand fills it: the first self-send is refused */
    assert_int_equal(atomic_load(&chain_err), 1u + (uint32_t)TK_EFULL);
    assert_int_equal(atomic_load(&chain_hops), 0);
}

static void test_capacity_one(void **state)
{
    act_fixture *f = *state;
    probe_cfg cfg = probe_cfg_for(f);
    act_ref ref = probe_spawn(f->sys, &cfg, 1, ACT_REF_NONE, false);
    (void)expect_init(f, ref);
    for (uint32_t i = 0; i < 50; i++) { /* one at a time always fits */
        tk_err err;
        uint32_t tries = 0;
        do { /* the previous turn may still be ending */
            err = act_send_data(f->sys, ref, f->port_ref, PROBE_PING, &i, sizeof(i));
        } while (err == TK_EFULL && ++tries < 1000000u && (sched_yield(), true));
        EXPECT_ERR(err, TK_OK);
        probe_event ev = expect_msg(f, ref, PROBE_PING);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, i);
    }
}

/* ---- FIFO per sender ---------------------------------------------------------------------------
 */

#define SEQ_PRODUCERS 4u /* 2 actors and 2 outside threads */
#define SEQ_MSG       (ACT_MSG_USER + 500)
#define SEQ_GO        (ACT_MSG_USER + 501)
#define SEQ_DONE      (ACT_MSG_USER + 502)
#define SEQ_BATCH     32u

#define SEQ_PER_PRODUCER 20000u

typedef struct seq_item {
    uint32_t producer;
    uint32_t seq; /* 1, 2, ... per producer */
} seq_item;

typedef struct seq_done {
    uint32_t received;
    uint32_t violations;
} seq_done;

typedef struct seq_checker_arg {
    act_ref report;
    uint32_t total;
} seq_checker_arg;

typedef struct seq_checker {
    seq_checker_arg arg;
    uint32_t last[SEQ_PRODUCERS];
    seq_done done;
} seq_checker;

static tk_err checker_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    seq_checker *st = state;
    st->arg = *(const seq_checker_arg *)arg;
    return TK_OK;
}

static tk_err checker_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    seq_checker *st = state;
    if (msg->type != SEQ_MSG || msg->size_bytes != sizeof(seq_item)) {
        return act_fail(ctx, TK_EINVAL, "unexpected type %u", msg->type);
    }
    seq_item item;
    memcpy(&item, msg->data, sizeof(item));
    if (item.producer >= SEQ_PRODUCERS) return act_fail(ctx, TK_EINVAL, "bad producer");
    if (item.seq != st->last[item.producer] + 1u) st->done.violations++;
    st->last[item.producer] = item.seq;
    st->done.received++;
    if (st->done.received == st->arg.total) {
        tk_err err = act_send_data(act_ctx_system(ctx), st->arg.report, act_self(ctx), SEQ_DONE,
                                   &st->done, sizeof(st->done));
        if (err != TK_OK) return act_fail(ctx, err, "report");
    }
    return TK_OK;
}

static const act_behaviour checker_behaviour = {
    .name = "seq-checker", .init = checker_init, .handle = checker_handle};

typedef struct seq_producer {
    act_ref to;
    uint32_t index;
    uint32_t next_seq; /* next to send, from 1 */
    uint32_t count;
} seq_producer;

static tk_err producer_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(seq_producer *)state = *(const seq_producer *)arg;
    return TK_OK;
}

static tk_err producer_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    seq_producer *st = state;
    act_system *sys = act_ctx_system(ctx);
    if (msg->type != SEQ_GO) return act_fail(ctx, TK_EINVAL, "unexpected type %u", msg->type);
    for (uint32_t n = 0; n < SEQ_BATCH && st->next_seq <= st->count; n++) {
        seq_item item = {.producer = st->index, .seq = st->next_seq};
        tk_err err = act_send_data(sys, st->to, act_self(ctx), SEQ_MSG, &item, sizeof(item));
        if (err == TK_EFULL) break; /* policy: retry on the next turn */
        if (err != TK_OK) return act_fail(ctx, err, "send seq %u", item.seq);
        st->next_seq++;
    }
    if (st->next_seq > st->count) {
        act_stop(ctx, ACT_REASON_NORMAL);
        return TK_OK;
    }
    tk_err err = act_send_data(sys, act_self(ctx), act_self(ctx), SEQ_GO, NULL, 0);
    if (err != TK_OK) return act_fail(ctx, err, "go on");
    return TK_OK;
}

static const act_behaviour producer_behaviour = {
    .name = "seq-producer", .init = producer_init, .handle = producer_handle};

typedef struct seq_thread {
    act_system *sys;
    act_ref to;
    uint32_t index;
    uint32_t count;
    tk_err err; /* first unexpected error (checked by the test thread after join) */
} seq_thread;

static void *outside_producer(void *arg)
{
    seq_thread *t = arg;
    for (uint32_t seq = 1; seq <= t->count; seq++) {
        seq_item item = {.producer = t->index, .seq = seq};
        for (uint32_t tries = 0;; tries++) {
            tk_err err = act_send_data(t->sys, t->to, ACT_REF_NONE, SEQ_MSG, &item, sizeof(item));
            if (err == TK_OK) break;
            if (err != TK_EFULL || tries > 10000000u) {
                t->err = err != TK_OK && err != TK_EFULL ? err : TK_ETIMEDOUT;
                return NULL;
            }
            if (tries < 16u) {
                sched_yield();
            } else { /* back off: the receiver needs the CPU */
                struct timespec pause = {.tv_sec = 0, .tv_nsec = 50000};
                nanosleep(&pause, NULL);
            }
        }
    }
    return NULL;
}

static void test_fifo_per_sender(void **state)
{
    act_fixture *f = *state;
    seq_checker_arg carg = {.report = f->port_ref, .total = SEQ_PRODUCERS * SEQ_PER_PRODUCER};
    act_spawn_opts opts = {.behaviour = &checker_behaviour,
                           .state_size_bytes = sizeof(seq_checker),
                           .arg = &carg,
                           .mailbox_capacity = 128,
                           .link_to = ACT_REF_NONE};
    act_ref checker;
    EXPECT_ERR(act_spawn(f->sys, &opts, &checker), TK_OK);
    for (uint32_t i = 0; i < 2; i++) {
        seq_producer parg = {.to = checker, .index = i, .next_seq = 1, .count = SEQ_PER_PRODUCER};
        act_spawn_opts popts = {.behaviour = &producer_behaviour,
                                .state_size_bytes = sizeof(seq_producer),
                                .arg = &parg,
                                /* above a turn's message count: see the capacity tests */
                                .mailbox_capacity = 2u * ACT_TURN_MSGS_MAX,
                                .link_to = ACT_REF_NONE};
        act_ref producer;
        EXPECT_ERR(act_spawn(f->sys, &popts, &producer), TK_OK);
        EXPECT_ERR(act_send_data(f->sys, producer, ACT_REF_NONE, SEQ_GO, NULL, 0), TK_OK);
    }
    seq_thread threads[2];
    pthread_t ids[2];
    for (uint32_t i = 0; i < 2; i++) {
        threads[i] =
            (seq_thread){.sys = f->sys, .to = checker, .index = 2u + i, .count = SEQ_PER_PRODUCER};
        assert_int_equal(pthread_create(&ids[i], NULL, outside_producer, &threads[i]), 0);
    }
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(ids[i], NULL), 0);
        EXPECT_ERR(threads[i].err, TK_OK);
    }
    act_msg *msg = NULL;
    EXPECT_ERR(act_port_receive(f->port, 30000, &msg), TK_OK);
    assert_int_equal(msg->type, SEQ_DONE);
    EXPECT_REF_EQ(msg->sender, checker);
    seq_done done;
    memcpy(&done, msg->data, sizeof(done));
    act_msg_free(f->sys, msg);
    assert_int_equal(done.received, SEQ_PRODUCERS * SEQ_PER_PRODUCER);
    assert_int_equal(done.violations, 0);
}

/* ---- Envelopes ---------------------------------------------------------------------------------
 */

static _Atomic uint32_t ptr_frees;

static void counted_free(void *ptr)
{
    atomic_fetch_add(&ptr_frees, 1);
    free(ptr);
}

static act_msg *ptr_msg(act_system *sys, uint32_t type)
{
    act_msg *msg = act_msg_alloc(sys);
    assert_non_null(msg);
    msg->type = type;
    msg->ptr = malloc(32);
    assert_non_null(msg->ptr);
    msg->ptr_free = counted_free;
    return msg;
}

#define TAKE_PTR (ACT_MSG_USER + 600)

static void *taken_ptr;

static tk_err taker_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)ctx;
    (void)state;
    if (msg->type == TAKE_PTR) {
        taken_ptr = msg->ptr; /* the receiver takes the payload */
        msg->ptr = NULL;
    }
    act_stop(ctx, ACT_REASON_NORMAL);
    return TK_OK;
}

static const act_behaviour taker_behaviour = {.name = "taker", .handle = taker_handle};

static bool frees_reach(void *arg)
{
    return atomic_load(&ptr_frees) >= *(const uint32_t *)arg;
}

static void test_ptr_payload(void **state)
{
    act_fixture *f = *state;
    atomic_store(&ptr_frees, 0);
    /* Freed with an unsent envelope. */
    act_msg_free(f->sys, ptr_msg(f->sys, PROBE_PING));
    assert_int_equal(atomic_load(&ptr_frees), 1);
    act_msg_free(f->sys, NULL); /* no-op */
    /* A ptr_free of NULL means "not ours to free". */
    static unsigned char not_heap[8];
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->ptr = not_heap;
    act_msg_free(f->sys, msg);
    /* Handled and not taken: the runtime frees it after the handler. */
    act_ref ref = probe_start(f);
    EXPECT_ERR(act_send(f->sys, ref, ptr_msg(f->sys, PROBE_PING)), TK_OK);
    (void)expect_msg(f, ref, PROBE_PING);
    uint32_t want = 2;
    assert_true(wait_until(frees_reach, &want, ACT_TEST_WAIT_MS));
    /* Taken by the receiver: not freed by the runtime. */
    act_spawn_opts opts = {.behaviour = &taker_behaviour, .mailbox_capacity = 4};
    act_ref taker;
    EXPECT_ERR(act_spawn(f->sys, &opts, &taker), TK_OK);
    taken_ptr = NULL;
    EXPECT_ERR(act_send(f->sys, taker, ptr_msg(f->sys, TAKE_PTR)), TK_OK);
    (void)wait_exit(f, taker);
    assert_non_null(taken_ptr);
    assert_int_equal(atomic_load(&ptr_frees), 2);
    free(taken_ptr);
    /* Refused: still the sender's, payload included. */
    msg = ptr_msg(f->sys, PROBE_PING);
    EXPECT_ERR(act_send(f->sys, taker, msg), TK_ESTALE);
    assert_int_equal(atomic_load(&ptr_frees), 2);
    act_msg_free(f->sys, msg);
    assert_int_equal(atomic_load(&ptr_frees), 3);
}

static void test_unhandled_messages_freed_at_exit(void **state)
{
    act_fixture *f = *state;
    atomic_store(&ptr_frees, 0);
    static probe_shared shared;
    memset(&shared, 0, sizeof(shared));
    probe_cfg cfg = probe_cfg_for(f);
    cfg.shared = &shared;
    cfg.quiet = true;
    act_ref ref = probe_spawn(f->sys, &cfg, 16, ACT_REF_NONE, false);
    probe_cmd(f, ref, PROBE_GATE, NULL, 0);
    probe_cmd_u32(f, ref, PROBE_STOP, ACT_REASON_NORMAL);
    for (int i = 0; i < 5; i++) {
        EXPECT_ERR(act_send(f->sys, ref, ptr_msg(f->sys, PROBE_PING)), TK_OK);
    }
    atomic_store(&shared.gate, 1);
    (void)wait_exit(f, ref);
    uint32_t want = 5;
    assert_true(wait_until(frees_reach, &want, ACT_TEST_WAIT_MS));
    assert_int_equal(atomic_load(&ptr_frees), 5);
}

static void test_msg_alloc_resets(void **state)
{
    act_fixture *f = *state;
    act_msg *msgs[8];
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < 8; i++) {
            act_msg *msg = act_msg_alloc(f->sys);
            assert_non_null(msg);
            assert_int_equal(msg->type, 0);
            assert_int_equal(msg->size_bytes, 0);
            assert_true(act_ref_is_none(msg->sender));
            assert_int_equal(msg->correlation, 0);
            assert_null(msg->ptr);
            assert_null(msg->ptr_free);
            assert_int_equal((uintptr_t)msg->data % 8u, 0);
            /* dirty it for the next round */
            msg->type = 77;
            msg->size_bytes = 5;
            msg->sender = f->port_ref;
            msg->correlation = 99;
            msgs[i] = msg;
        }
        for (size_t i = 0; i < 8; i++) {
            act_msg_free(f->sys, msgs[i]);
        }
    }
}

static void test_send_data_sizes(void **state)
{
    act_fixture *f = *state;
    act_ref ref = probe_start(f);
    unsigned char big[ACT_MSG_INLINE_BYTES + 1u];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (unsigned char)(i * 7u + 1u);
    }
    act_stats before;
    act_stats_read(f->sys, &before);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, big, sizeof(big)), TK_EINVAL);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, big, UINT32_MAX), TK_EINVAL);
    EXPECT_ERR(act_send_data(f->sys, ref, f->port_ref, PROBE_PING, big, ACT_MSG_INLINE_BYTES),
               TK_OK);
    probe_event ev = expect_msg(f, ref, PROBE_PING);
    assert_int_equal(ev.size_bytes, ACT_MSG_INLINE_BYTES);
    assert_memory_equal(ev.data, big, ACT_MSG_INLINE_BYTES);
    EXPECT_ERR(act_send_data(f->sys, ref, ACT_REF_NONE, PROBE_ANSWER, NULL, 0), TK_OK);
    ev = expect_msg(f, ref, PROBE_ANSWER);
    assert_int_equal(ev.size_bytes, 0);
    assert_true(act_ref_is_none(ev.sender));
    act_stats after;
    act_stats_read(f->sys, &after);
    /* the two sends and the two reports (plus nothing for the refused ones) */
    assert_true(after.messages_sent - before.messages_sent >= 4u);
}

static void test_msgs_max(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(1);
    opts.msgs_max = 1024;
    act_system *sys = act_test_open(&opts);
    act_msg **held = calloc(opts.msgs_max + 1u, sizeof(*held));
    assert_non_null(held);
    uint32_t count = 0;
    for (; count <= opts.msgs_max; count++) {
        held[count] = act_msg_alloc(sys);
        if (held[count] == NULL) break;
    }
    assert_int_equal(count, opts.msgs_max); /* NULL once msgs_max are out, not before */
    act_stats stats;
    act_stats_read(sys, &stats);
    assert_true(stats.msgs_pooled >= opts.msgs_max);
    EXPECT_ERR(act_send_data(sys, ACT_REF_NONE, ACT_REF_NONE, PROBE_PING, NULL, 0), TK_EFULL);
    act_msg_free(sys, held[--count]);
    held[count] = act_msg_alloc(sys);
    assert_non_null(held[count]);
    count++;
    for (uint32_t i = 0; i < count; i++) {
        act_msg_free(sys, held[i]);
    }
    free(held);
    act_system_close(sys);
}

/* msgs_max is exact: a system opened with msgs_max 100 hands out 100 envelopes, not a whole
 * slab of 1024. */
static void test_msgs_max_exact(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(1);
    opts.msgs_max = 100;
    act_system *sys = act_test_open(&opts);
    act_msg *held[2048];
    uint32_t count = 0;
    for (; count < 2048u; count++) {
        held[count] = act_msg_alloc(sys);
        if (held[count] == NULL) break;
    }
    for (uint32_t i = 0; i < count; i++) {
        act_msg_free(sys, held[i]);
    }
    act_system_close(sys);
    assert_int_equal(count, 100);
}

/* An outside thread's envelope cache goes back to its system's pool when the thread turns to
 * another system or exits: alternating between two small systems, or using one from many
 * short-lived threads, never runs a pool dry. */
static void alloc_free_some(act_system *sys, uint32_t count)
{
    act_msg *held[16];
    TK_ASSERT(count <= 16u);
    for (uint32_t i = 0; i < count; i++) {
        held[i] = act_msg_alloc(sys);
        assert_non_null(held[i]);
    }
    for (uint32_t i = 0; i < count; i++) {
        act_msg_free(sys, held[i]);
    }
}

static void *outside_thread_main(void *arg)
{
    act_system *sys = arg;
    act_msg *msg = act_msg_alloc(sys);
    if (msg != NULL) act_msg_free(sys, msg);
    return msg != NULL ? sys : NULL;
}

static void test_outside_caches_return(void **state)
{
    (void)state;
    act_system_opts opts = act_test_opts(1);
    opts.msgs_max = 200; /* about three caches' worth: stranding would show within a few rounds */
    act_system *a = act_test_open(&opts);
    act_system *b = act_test_open(&opts);
    for (uint32_t round = 0; round < 1000u; round++) {
        alloc_free_some(a, 16);
        alloc_free_some(b, 16);
    }
    for (uint32_t round = 0; round < 50u; round++) { /* each thread leaves a cache at exit */
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, outside_thread_main, a), 0);
        void *result = NULL;
        assert_int_equal(pthread_join(thread, &result), 0);
        if (result != a) fail_msg("round %u: the pool of a ran dry", round);
    }
    act_system_close(a);
    act_system_close(b);
}

int act_test_mailbox(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_mailbox_from_actor, act_setup_1, act_teardown),
        ACT_TEST(test_full_mailbox_from_outside),
        ACT_TEST(test_capacity_counts_message_in_hand),
        ACT_TEST_THREADS(test_capacity_one),
        ACT_TEST_THREADS(test_fifo_per_sender),
        ACT_TEST(test_ptr_payload),
        ACT_TEST(test_unhandled_messages_freed_at_exit),
        ACT_TEST(test_msg_alloc_resets),
        ACT_TEST(test_send_data_sizes),
        cmocka_unit_test(test_msgs_max),
        cmocka_unit_test(test_msgs_max_exact),
        cmocka_unit_test(test_outside_caches_return),
    };
    return cmocka_run_group_tests_name("actors/mailbox", tests, NULL, NULL);
}
