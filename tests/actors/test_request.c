/* Request/reply: act_request and act_reply between actors (reply, timeout, a late reply that
 * is dropped), and act_call from an outside thread through a port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <string.h>

#include "actors_tests.h"

/* requester asks `to` (message type, timeout) and reports the request's id. */
static uint64_t start_request(const act_fixture *f, act_ref requester, act_ref to, uint32_t type,
                              uint32_t timeout_ms)
{
    probe_request req = {.to = to, .type = type, .timeout_ms = timeout_ms};
    probe_cmd(f, requester, PROBE_REQUEST, &req, sizeof(req));
    (void)expect_msg(f, requester, PROBE_REQUEST);
    probe_event ev = expect_result(f, requester, PROBE_REQUEST);
    EXPECT_ERR(ev.err, TK_OK);
    assert_true(ev.value != 0);
    return ev.value;
}

static void test_request_reply(void **state)
{
    act_fixture *f = *state;
    act_ref requester = probe_start(f);
    act_ref server = probe_start(f);
    uint64_t id = start_request(f, requester, server, PROBE_ASK, 5000);
    probe_event ev = expect_msg(f, server, PROBE_ASK);
    assert_int_equal(ev.correlation, id);
    EXPECT_REF_EQ(ev.sender, requester);
    ev = expect_result(f, server, PROBE_ASK);
    EXPECT_ERR(ev.err, TK_OK);
    ev = expect_msg(f, requester, PROBE_ANSWER);
    assert_int_equal(ev.correlation, id);
    EXPECT_REF_EQ(ev.sender, server);
    /* A second request gets a fresh id; its timeout is cancelled by the reply, so nothing
     * but the sentinel below follows. */
    uint64_t id2 = start_request(f, requester, server, PROBE_ASK, 250);
    assert_true(id2 != id);
    (void)expect_msg(f, server, PROBE_ASK);
    (void)expect_result(f, server, PROBE_ASK);
    ev = expect_msg(f, requester, PROBE_ANSWER);
    assert_int_equal(ev.correlation, id2);
    /* A sentinel timer due after the second request's timeout would have fired. */
    act_msg *late = act_msg_alloc(f->sys);
    assert_non_null(late);
    late->type = PROBE_PING;
    EXPECT_ERR(act_send_after(f->sys, 400, requester, late, NULL), TK_OK);
    (void)expect_msg(f, requester, PROBE_PING); /* and no ACT_MSG_TIMEOUT before it */
}

static void test_request_timeout(void **state)
{
    act_fixture *f = *state;
    act_ref requester = probe_start(f);
    act_ref server = probe_start(f);
    uint64_t t0 = test_now_ns();
    uint64_t id = start_request(f, requester, server, PROBE_HOLD, 40);
    probe_event ev = expect_msg(f, server, PROBE_HOLD); /* held, never answered */
    assert_int_equal(ev.correlation, id);
    ev = expect_msg(f, requester, ACT_MSG_TIMEOUT);
    assert_int_equal(ev.correlation, id);
    EXPECT_REF_EQ(ev.sender, server);
    uint64_t elapsed_ms = (test_now_ns() - t0) / 1000000u;
    assert_true(elapsed_ms + 1u >= 40u);
    /* The answer comes late: act_reply says TK_OK and drops it. */
    probe_cmd(f, server, PROBE_ANSWER_HELD, NULL, 0);
    (void)expect_msg(f, server, PROBE_ANSWER_HELD);
    ev = expect_result(f, server, PROBE_ANSWER_HELD);
    EXPECT_ERR(ev.err, TK_OK);
    assert_int_equal(ev.value, id);
    /* Had the reply been delivered, it would be in the requester's mailbox before this. */
    probe_cmd_u32(f, requester, PROBE_PING, 1);
    (void)expect_msg(f, requester, PROBE_PING);
    expect_port_quiet(f, 20);
}

static void test_request_to_dead(void **state)
{
    act_fixture *f = *state;
    act_ref requester = probe_start(f);
    act_ref server = probe_start(f);
    probe_cmd_u32(f, server, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, server, PROBE_STOP);
    (void)expect_term(f, server, ACT_REASON_NORMAL);
    (void)wait_exit(f, server);
    probe_request req = {.to = server, .type = PROBE_ASK, .timeout_ms = 20};
    probe_cmd(f, requester, PROBE_REQUEST, &req, sizeof(req));
    (void)expect_msg(f, requester, PROBE_REQUEST);
    probe_event ev = expect_result(f, requester, PROBE_REQUEST);
    EXPECT_ERR(ev.err, TK_ESTALE);
    /* Nothing was armed: no TIMEOUT before a later timer's message. */
    act_msg *sentinel = act_msg_alloc(f->sys);
    assert_non_null(sentinel);
    sentinel->type = PROBE_PING;
    EXPECT_ERR(act_send_after(f->sys, 100, requester, sentinel, NULL), TK_OK);
    (void)expect_msg(f, requester, PROBE_PING);
}

/* ---- act_call from an outside thread -----------------------------------------------------------
 */

static void test_call(void **state)
{
    act_fixture *f = *state;
    act_ref server = probe_start(f);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_ASK;
    msg->size_bytes = 5;
    memcpy(msg->data, "quote", 5);
    act_msg *reply = NULL;
    EXPECT_ERR(act_call(f->port, server, msg, ACT_TEST_WAIT_MS, &reply), TK_OK);
    assert_non_null(reply);
    assert_int_equal(reply->type, PROBE_ANSWER);
    EXPECT_REF_EQ(reply->sender, server);
    assert_int_equal(reply->size_bytes, 5);
    assert_memory_equal(reply->data, "quote", 5);
    uint64_t id = reply->correlation;
    assert_true(id != 0);
    act_msg_free(f->sys, reply);
    /* The server's reports, sent before its reply, were kept for act_port_receive. */
    probe_event ev = expect_msg(f, server, PROBE_ASK);
    assert_int_equal(ev.correlation, id);
    EXPECT_REF_EQ(ev.sender, f->port_ref);
    ev = expect_result(f, server, PROBE_ASK);
    EXPECT_ERR(ev.err, TK_OK);
    expect_port_quiet(f, 0);
}

static void test_call_timeout(void **state)
{
    act_fixture *f = *state;
    act_ref server = probe_start(f);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_HOLD;
    act_msg *reply = NULL;
    uint64_t t0 = test_now_ns();
    EXPECT_ERR(act_call(f->port, server, msg, 60, &reply), TK_ETIMEDOUT);
    uint64_t elapsed_ms = (test_now_ns() - t0) / 1000000u;
    assert_null(reply);
    assert_true(elapsed_ms + 1u >= 60u);
    assert_true(elapsed_ms < 60u + 3000u);
    probe_event ev = expect_msg(f, server, PROBE_HOLD);
    uint64_t id = ev.correlation;
    /* The late answer is dropped: neither the reply nor the TIMEOUT is left on the port. */
    probe_cmd(f, server, PROBE_ANSWER_HELD, NULL, 0);
    (void)expect_msg(f, server, PROBE_ANSWER_HELD);
    ev = expect_result(f, server, PROBE_ANSWER_HELD);
    EXPECT_ERR(ev.err, TK_OK);
    assert_int_equal(ev.value, id);
    probe_cmd_u32(f, server, PROBE_PING, 3); /* the server reports it after the reply */
    (void)expect_msg(f, server, PROBE_PING);
    expect_port_quiet(f, 20);
}

static void test_call_errors(void **state)
{
    act_fixture *f = *state;
    act_ref server = probe_start(f);
    probe_cmd_u32(f, server, PROBE_STOP, ACT_REASON_NORMAL);
    (void)expect_msg(f, server, PROBE_STOP);
    (void)expect_term(f, server, ACT_REASON_NORMAL);
    (void)wait_exit(f, server);
    act_msg *msg = act_msg_alloc(f->sys);
    assert_non_null(msg);
    msg->type = PROBE_ASK;
    act_msg *reply = NULL;
    EXPECT_ERR(act_call(f->port, server, msg, 30, &reply), TK_ESTALE);
    assert_null(reply);
    assert_int_equal(msg->type, PROBE_ASK); /* still ours */
    act_msg_free(f->sys, msg);
    /* Nothing armed: no TIMEOUT shows up on the port later. */
    EXPECT_ERR(act_send_after(f->sys, 100, f->port_ref, act_msg_alloc(f->sys), NULL), TK_OK);
    act_msg *next = port_next(f, ACT_TEST_WAIT_MS);
    assert_int_equal(next->type, 0); /* the sentinel (type 0), not a TIMEOUT */
    act_msg_free(f->sys, next);
}

/* Many calls in a row, each answered while other messages arrive on the port. */
static void test_call_many(void **state)
{
    act_fixture *f = *state;
    act_ref server = probe_start(f);
    for (uint32_t i = 0; i < 100; i++) {
        act_msg *msg = act_msg_alloc(f->sys);
        assert_non_null(msg);
        msg->type = PROBE_ASK;
        msg->size_bytes = sizeof(i);
        memcpy(msg->data, &i, sizeof(i));
        act_msg *reply = NULL;
        EXPECT_ERR(act_call(f->port, server, msg, ACT_TEST_WAIT_MS, &reply), TK_OK);
        uint32_t echoed;
        memcpy(&echoed, reply->data, sizeof(echoed));
        assert_int_equal(echoed, i);
        act_msg_free(f->sys, reply);
    }
    for (uint32_t i = 0; i < 100; i++) { /* the reports, in order */
        probe_event ev = expect_msg(f, server, PROBE_ASK);
        uint32_t seq;
        memcpy(&seq, ev.data, sizeof(seq));
        assert_int_equal(seq, i);
        (void)expect_result(f, server, PROBE_ASK);
    }
}

int act_test_request(void)
{
    const struct CMUnitTest tests[] = {
        ACT_TEST_THREADS(test_request_reply), ACT_TEST(test_request_timeout),
        ACT_TEST(test_request_to_dead),       ACT_TEST(test_call),
        ACT_TEST(test_call_timeout),          ACT_TEST(test_call_errors),
        ACT_TEST_THREADS(test_call_many),
    };
    return cmocka_run_group_tests_name("actors/request", tests, NULL, NULL);
}
