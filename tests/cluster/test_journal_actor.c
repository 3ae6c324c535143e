/* cluster/clu_actor.c: the journal actor's protocol (ledger/led.h) with ports standing in for
 * execution and a strategy, driven step by step from the test thread: a bar reaches execution
 * first and the strategies only after execution acknowledged it, with execution's proposals
 * before it; LED_MSG_IDLE once every publication is acknowledged; LED_ACK_BARS_OFF; a paced
 * batch committed one event at a time as the graph settles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdlib.h>
#include <string.h>

#include "clu.h"
#include "cluster_tests.h"

#define WAIT_MS  2000u
#define QUIET_MS 50u

typedef struct graph {
    act_system *sys;
    clu_journal *journal;
    act_port *exec, *strat, *driver;
    act_named to_journal;
    int64_t ts;
} graph;

static led_event event(graph *g, led_event_type type)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.version = 1;
    ev.ts_ns = g->ts += 60 * 1000000000LL;
    if (type == LED_EV_BAR_CLOSED) {
        struct led_ev_bar_closed *b = &ev.u.bar_closed;
        strcpy(b->symbol, "BTCUSDT");
        b->interval_s = 60;
        b->open_e8 = b->high_e8 = b->low_e8 = b->close_e8 = 100 * (int64_t)LED_SCALE;
    } else { /* a stand-in for what execution proposes: any committed event will do */
        TK_ASSERT(type == LED_EV_FEED_HEALTH);
        strcpy(ev.u.feed_health.feed, "test");
        strcpy(ev.u.feed_health.symbol, "BTCUSDT");
    }
    return ev;
}

static int setup(void **state)
{
    graph *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    clu_local_opts jo = {
        .store = NULL, .batch_events_max = 64, .checkpoint_every = 0, .deliver_on_apply = true};
    es_error why = {{0}};
    assert_int_equal(clu_local_open(&jo, &g->journal, &why), TK_OK);
    led_event def;
    memset(&def, 0, sizeof(def));
    def.type = LED_EV_INSTRUMENT_DEFINED;
    def.version = 1;
    strcpy(def.u.instrument_defined.symbol, "BTCUSDT");
    strcpy(def.u.instrument_defined.base, "BTC");
    strcpy(def.u.instrument_defined.quote, "USDT");
    def.u.instrument_defined.tick_e8 = def.u.instrument_defined.lot_e8 = 1;
    assert_int_equal(clu_journal_propose(g->journal, &def, NULL, &why), TK_OK);
    act_system_opts so = {.threads = 1,
                          .actors_max = 16,
                          .msgs_max = 1024,
                          .spin_us = 0,
                          .turn_deadline_ms = 0,
                          .stuck_deadline_ms = 0,
                          .clock = tk_clock_system()};
    assert_int_equal(act_system_open(&so, &g->sys), TK_OK);
    act_ref ref;
    assert_int_equal(clu_journal_actor_spawn(g->sys, g->journal, 64, &ref), TK_OK);
    assert_int_equal(act_port_open(g->sys, 64, &g->exec), TK_OK);
    assert_int_equal(act_port_open(g->sys, 64, &g->strat), TK_OK);
    assert_int_equal(act_port_open(g->sys, 64, &g->driver), TK_OK);
    assert_int_equal(act_group_join(g->sys, LED_GROUP_EXECUTION, act_port_ref(g->exec)), TK_OK);
    assert_int_equal(act_group_join(g->sys, LED_GROUP_STRATEGIES, act_port_ref(g->strat)), TK_OK);
    g->to_journal = ACT_NAMED(LED_JOURNAL_NAME);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    graph *g = *state;
    act_port_close(g->exec);
    act_port_close(g->strat);
    act_port_close(g->driver);
    act_system_close(g->sys);
    clu_journal_close(g->journal);
    free(g);
    return 0;
}

static void propose(graph *g, act_port *from, const led_event *ev, led_propose_flags flags)
{
    assert_int_equal(act_send_named_copy(g->sys, &g->to_journal, act_port_ref(from),
                                         LED_MSG_PROPOSE, &flags, sizeof(flags), ev, sizeof(*ev)),
                     TK_OK);
}

static void ack(graph *g, act_port *from, uint64_t index, uint32_t flags)
{
    led_ack a = {.index = index, .flags = flags};
    assert_int_equal(act_send_named(g->sys, &g->to_journal, act_port_ref(from), LED_MSG_ACK, &a,
                                    sizeof(a), NULL, NULL),
                     TK_OK);
}

/* The next publication on port: its event type (the commit's index into *out_index). */
static led_event_type next_commit(act_port *port, uint64_t *out_index)
{
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(port, WAIT_MS, &msg), TK_OK);
    assert_int_equal(msg->type, LED_MSG_COMMITTED);
    const led_commit *c = msg->ptr;
    led_event_type type = c->ev.type;
    *out_index = c->index;
    act_msg_free(act_port_system(port), msg);
    return type;
}

static void expect_quiet(act_port *port)
{
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(port, QUIET_MS, &msg), TK_ETIMEDOUT);
}

static void expect_idle(act_port *driver)
{
    act_msg *msg = NULL;
    assert_int_equal(act_port_receive(driver, WAIT_MS, &msg), TK_OK);
    assert_int_equal(msg->type, LED_MSG_IDLE);
    act_msg_free(act_port_system(driver), msg);
}

/* A bar goes to execution first; what execution proposes before acknowledging reaches the
 * strategies before the bar; IDLE once the strategies acknowledged both. */
static void test_bar_order(void **state)
{
    graph *g = *state;
    led_event bar = event(g, LED_EV_BAR_CLOSED);
    propose(g, g->driver, &bar, LED_PROPOSE_NOTIFY_IDLE);
    uint64_t bar_index, fill_index, i;
    assert_int_equal(next_commit(g->exec, &bar_index), LED_EV_BAR_CLOSED);
    expect_quiet(g->strat); /* held until execution is done with it */
    led_event fill = event(g, LED_EV_FEED_HEALTH);
    propose(g, g->exec, &fill, LED_PROPOSE_PLAIN);
    ack(g, g->exec, bar_index, 0);
    assert_int_equal(next_commit(g->strat, &fill_index), LED_EV_FEED_HEALTH);
    assert_int_equal(next_commit(g->exec, &i), LED_EV_FEED_HEALTH); /* execution sees it too */
    ack(g, g->exec, i, 0);
    assert_int_equal(next_commit(g->strat, &i), LED_EV_BAR_CLOSED);
    assert_int_equal(i, bar_index);
    expect_quiet(g->driver); /* the strategy has not acknowledged */
    ack(g, g->strat, fill_index, 0);
    ack(g, g->strat, bar_index, 0);
    expect_idle(g->driver);
}

/* An execution that says LED_ACK_BARS_OFF gets no bars until it is sent another event. */
static void test_bars_off(void **state)
{
    graph *g = *state;
    uint64_t i;
    led_event bar = event(g, LED_EV_BAR_CLOSED);
    propose(g, g->driver, &bar, LED_PROPOSE_NOTIFY_IDLE);
    assert_int_equal(next_commit(g->exec, &i), LED_EV_BAR_CLOSED);
    ack(g, g->exec, i, LED_ACK_BARS_OFF);
    assert_int_equal(next_commit(g->strat, &i), LED_EV_BAR_CLOSED);
    ack(g, g->strat, i, 0);
    expect_idle(g->driver);
    bar = event(g, LED_EV_BAR_CLOSED); /* straight to the strategies */
    propose(g, g->driver, &bar, LED_PROPOSE_NOTIFY_IDLE);
    assert_int_equal(next_commit(g->strat, &i), LED_EV_BAR_CLOSED);
    expect_quiet(g->exec);
    ack(g, g->strat, i, 0);
    expect_idle(g->driver);
    led_event other = event(g, LED_EV_FEED_HEALTH); /* execution hears of it, and asks again */
    propose(g, g->driver, &other, LED_PROPOSE_NOTIFY_IDLE);
    assert_int_equal(next_commit(g->exec, &i), LED_EV_FEED_HEALTH);
    ack(g, g->exec, i, 0);
    assert_int_equal(next_commit(g->strat, &i), LED_EV_FEED_HEALTH);
    ack(g, g->strat, i, 0);
    expect_idle(g->driver);
    bar = event(g, LED_EV_BAR_CLOSED);
    propose(g, g->driver, &bar, LED_PROPOSE_PLAIN);
    assert_int_equal(next_commit(g->exec, &i), LED_EV_BAR_CLOSED);
}

/* A paced batch of three bars: each committed only when the one before has settled; IDLE after
 * the last. */
static void test_paced_batch(void **state)
{
    graph *g = *state;
    led_paced_batch batch = {.count = 3};
    for (uint32_t k = 0; k < 3; k++)
        batch.events[k] = event(g, LED_EV_BAR_CLOSED);
    size_t bytes = offsetof(led_paced_batch, events) + 3u * sizeof(led_event);
    assert_int_equal(act_send_named_copy(g->sys, &g->to_journal, act_port_ref(g->driver),
                                         LED_MSG_PROPOSE_PACED, NULL, 0, &batch, bytes),
                     TK_OK);
    uint64_t last = 0;
    for (uint32_t k = 0; k < 3; k++) {
        uint64_t i, j;
        assert_int_equal(next_commit(g->exec, &i), LED_EV_BAR_CLOSED);
        assert_true(i > last);
        expect_quiet(g->exec); /* the next bar waits */
        ack(g, g->exec, i, 0);
        assert_int_equal(next_commit(g->strat, &j), LED_EV_BAR_CLOSED);
        assert_int_equal(j, i);
        if (k < 2) expect_quiet(g->driver);
        ack(g, g->strat, j, 0);
        last = i;
    }
    expect_idle(g->driver);
}

static void send_paced(graph *g, act_port *from, uint32_t count)
{
    led_paced_batch batch = {.count = count};
    for (uint32_t k = 0; k < count; k++)
        batch.events[k] = event(g, LED_EV_BAR_CLOSED);
    size_t bytes = offsetof(led_paced_batch, events) + count * sizeof(led_event);
    assert_int_equal(act_send_named_copy(g->sys, &g->to_journal, act_port_ref(from),
                                         LED_MSG_PROPOSE_PACED, NULL, 0, &batch, bytes),
                     TK_OK);
}

/* A new pacing proposer while another's batch waits (a feed its supervisor restarted, found by
 * the chaos harness to crash the node on an assertion): the waiting batch is dropped after the
 * bar in flight, the new one is committed, and only the new proposer hears IDLE. */
static void test_new_pacer_supersedes(void **state)
{
    graph *g = *state;
    act_port *second = NULL;
    assert_int_equal(act_port_open(g->sys, 64, &second), TK_OK);
    send_paced(g, g->driver, 3);
    uint64_t i, j;
    assert_int_equal(next_commit(g->exec, &i), LED_EV_BAR_CLOSED);
    send_paced(g, second, 2); /* while the first batch's first bar is in flight */
    ack(g, g->exec, i, 0);
    assert_int_equal(next_commit(g->strat, &j), LED_EV_BAR_CLOSED);
    ack(g, g->strat, j, 0);
    for (uint32_t k = 0; k < 2; k++) { /* the second batch's two bars, not the first's rest */
        assert_int_equal(next_commit(g->exec, &i), LED_EV_BAR_CLOSED);
        ack(g, g->exec, i, 0);
        assert_int_equal(next_commit(g->strat, &j), LED_EV_BAR_CLOSED);
        ack(g, g->strat, j, 0);
    }
    expect_idle(second);
    expect_quiet(g->exec);
    expect_quiet(g->driver);
    act_port_close(second);
}

int clu_test_journal_actor(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bar_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bars_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paced_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_pacer_supersedes, setup, teardown),
    };
    return cmocka_run_group_tests_name("cluster/journal_actor", tests, NULL, NULL);
}
