/* cluster/clu_raft.c: three Raft nodes in one process on loopback TCP (raft_uv), each with
 * its own RocksDB store and Raft directory: election and LeaderChanged; 10,000 events
 * replicated with many proposals in flight, equal state hashes; a follower refuses a proposal
 * and names the leader; the leader stops, a new one takes writes, and the old one restarts
 * from its directories and catches up, by snapshot install when it missed enough; leadership
 * handed over through the client API's op "transfer". With one node: the divergence check, the
 * event stream, and the debug API's op "crash" on a supervised actor. */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h> /* after the four above, which it needs */
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "clu.h"
#include "cluster_tests.h"
#include "sup.h"
#include "tk_test.h"

enum { NODES = 3 };

typedef struct cluster {
    char dir[64];
    clu_node_opts opts[NODES];
    char raft_dirs[NODES][128];
    es_store *stores[NODES];
    clu_node *nodes[NODES];
    led_gen *gen;
    led_state *scratch; /* what the proposer believes: every proposed event applied */
    uint64_t scratch_index;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t answered, ok, eperm, eagain, events_ok;
    uint64_t committed_max; /* highest ledger index a proposal was answered with */
} cluster;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void store_open(cluster *c, unsigned i)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/node%u-store", c->dir, i + 1);
    es_opts opts = {.path = path, .create_if_missing = true, .sync = false, .cluster_id = "t"};
    es_error why = {{0}};
    if (es_open(&opts, &c->stores[i], &why) != TK_OK) fail_msg("es_open: %s", why.text);
    c->opts[i].store = c->stores[i];
}

static void node_start(cluster *c, unsigned i)
{
    es_error why = {{0}};
    tk_err err = clu_node_start(&c->opts[i], &c->nodes[i], &why);
    if (err != TK_OK) fail_msg("node %u: %s: %s", i + 1, tk_err_name(err), why.text);
}

static void node_stop(cluster *c, unsigned i)
{
    clu_node_stop(c->nodes[i]);
    c->nodes[i] = NULL;
    es_close(c->stores[i]);
    c->stores[i] = NULL;
}

static void cluster_open(cluster *c, uint32_t snapshot_threshold)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/troika-raft-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    assert_int_equal(led_gen_open(99, &c->gen), TK_OK);
    assert_int_equal(led_state_open(&c->scratch), TK_OK);
    clu_peer peers[NODES];
    for (unsigned i = 0; i < NODES; i++) {
        peers[i] = (clu_peer){.id = i + 1};
        snprintf(peers[i].raft_address, sizeof(peers[i].raft_address), "127.0.0.1:%u",
                 (unsigned)free_port());
        snprintf(peers[i].api, sizeof(peers[i].api), "tcp://127.0.0.1:%u", (unsigned)free_port());
    }
    for (unsigned i = 0; i < NODES; i++) {
        snprintf(c->raft_dirs[i], sizeof(c->raft_dirs[i]), "%s/node%u-raft", c->dir, i + 1);
        assert_int_equal(mkdir(c->raft_dirs[i], 0700), 0);
        clu_node_opts *o = &c->opts[i];
        *o = (clu_node_opts){.id = i + 1,
                             .raft_dir = c->raft_dirs[i],
                             .peer_count = NODES,
                             .election_timeout_ms = 500,
                             .heartbeat_timeout_ms = 50,
                             .snapshot_threshold = snapshot_threshold,
                             .snapshot_trailing = snapshot_threshold / 2,
                             .install_snapshot_timeout_ms = 1000,
                             .checkpoint_every = 1000,
                             .stall_timeout_ms = 0};
        snprintf(o->name, sizeof(o->name), "node%u", i + 1);
        memcpy(o->peers, peers, sizeof(peers));
        store_open(c, i);
    }
    for (unsigned i = 0; i < NODES; i++)
        node_start(c, i);
}

static void cluster_close(cluster *c)
{
    for (unsigned i = 0; i < NODES; i++)
        if (c->nodes[i] != NULL) node_stop(c, i);
    led_state_close(c->scratch);
    led_gen_close(c->gen);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    assert_int_equal(nftw(c->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* The one live node that leads with its LeaderChanged committed, once every live node names
 * the same leader; waits up to max_ms. Returns NODES if none. */
static unsigned wait_leader(cluster *c, unsigned max_ms)
{
    for (unsigned waited = 0; waited <= max_ms; waited += 10) {
        unsigned leader = NODES;
        bool agreed = true;
        uint64_t leader_id = 0;
        for (unsigned i = 0; i < NODES; i++) {
            if (c->nodes[i] == NULL) continue;
            clu_status st;
            clu_node_status(c->nodes[i], &st);
            if (st.role == CLU_ROLE_LEADER && st.leading) leader = i;
            if (leader_id == 0) leader_id = st.leader_id;
            if (st.leader_id == 0 || st.leader_id != leader_id) agreed = false;
        }
        if (leader < NODES && agreed && leader_id == leader + 1) return leader;
        sleep_ms(10);
    }
    return NODES;
}

static void answered(void *arg, tk_err err, uint64_t first_index, const led_outcome *outcomes,
                     uint32_t count)
{
    cluster *c = arg;
    (void)outcomes;
    pthread_mutex_lock(&c->lock);
    c->answered++;
    if (err == TK_OK) {
        c->ok++;
        c->events_ok += count;
        if (first_index + count - 1 > c->committed_max) c->committed_max = first_index + count - 1;
    } else if (err == TK_EPERM) {
        c->eperm++;
    } else {
        c->eagain++;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Propose entries proposals of per events each to node i, without waiting between them; then
 * wait for every answer. */
static void propose_burst(cluster *c, unsigned i, unsigned proposals, uint32_t per)
{
    led_event events[64];
    TK_ASSERT(per <= 64);
    pthread_mutex_lock(&c->lock);
    uint64_t want = c->answered + proposals;
    pthread_mutex_unlock(&c->lock);
    for (unsigned p = 0; p < proposals; p++) {
        for (uint32_t e = 0; e < per; e++) {
            led_gen_next(c->gen, c->scratch, ++c->scratch_index, &events[e]);
            led_outcome outcome;
            led_apply(c->scratch, c->scratch_index, &events[e], &outcome);
        }
        assert_int_equal(clu_node_propose(c->nodes[i], events, per, answered, c), TK_OK);
    }
    pthread_mutex_lock(&c->lock);
    while (c->answered < want)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

/* Wait until every live node has applied, at the same ledger index, at least every event a
 * proposal was answered for, with equal state hashes. */
static void expect_converged(cluster *c, unsigned i, unsigned max_ms)
{
    clu_status want;
    for (unsigned waited = 0;; waited += 10) {
        clu_node_status(c->nodes[i], &want);
        pthread_mutex_lock(&c->lock);
        bool same = want.ledger_index >= c->committed_max;
        pthread_mutex_unlock(&c->lock);
        for (unsigned j = 0; j < NODES; j++) {
            if (c->nodes[j] == NULL) continue;
            clu_status st;
            clu_node_status(c->nodes[j], &st);
            if (st.ledger_index != want.ledger_index ||
                memcmp(st.state_hash, want.state_hash, LED_HASH_BYTES) != 0)
                same = false;
        }
        if (same) return;
        if (waited > max_ms) {
            char seen[512] = "";
            size_t at = 0;
            for (unsigned j = 0; j < NODES && at < sizeof(seen); j++) {
                if (c->nodes[j] == NULL) continue;
                clu_status st;
                clu_node_status(c->nodes[j], &st);
                int n = snprintf(seen + at, sizeof(seen) - at,
                                 " [node %u: %s term %llu commit %llu applied %llu ledger %llu]",
                                 j + 1, clu_role_name(st.role), (unsigned long long)st.term,
                                 (unsigned long long)st.commit_index,
                                 (unsigned long long)st.applied_index,
                                 (unsigned long long)st.ledger_index);
                if (n > 0) at += (size_t)n;
            }
            fail_msg("replicas did not converge in %u ms (want ledger >= %llu):%s", max_ms,
                     (unsigned long long)c->committed_max, seen);
        }
        sleep_ms(10);
    }
}

static void read_account(void *arg, const led_state *state)
{
    led_state_account(state, arg);
}

static void test_replicate_and_redirect(void **unused)
{
    (void)unused;
    cluster c;
    cluster_open(&c, 1024);
    unsigned leader = wait_leader(&c, 5000);
    assert_true(leader < NODES);
    /* 10,000 events: 250 proposals of 40, all in flight together */
    propose_burst(&c, leader, 250, 40);
    assert_int_equal(c.ok, 250);
    assert_int_equal(c.events_ok, 10000);
    expect_converged(&c, leader, 5000);
    clu_status st;
    clu_node_status(c.nodes[leader], &st);
    assert_true(st.ledger_index >= 10001); /* and the LeaderChanged */
    /* many proposals waiting together were packed into fewer entries */
    clu_metrics m;
    clu_node_metrics(c.nodes[leader], &m);
    assert_true(m.proposals_total < 250);
    assert_int_equal(m.events_applied_total, st.ledger_index);
    /* the ledger part of the metrics matches the ledger */
    led_account acct;
    clu_node_read(c.nodes[leader], read_account, &acct);
    uint64_t open = 0;
    for (unsigned k = 0; k < LED_ORDER_STATE_COUNT; k++)
        open += m.orders_by_state[k];
    assert_int_equal(open, acct.open_order_count);
    assert_true(acct.open_order_count > 0); /* the generator leaves orders open */
    assert_int_equal(m.equity_e8, acct.equity_e8);
    /* a follower refuses and names the leader */
    unsigned follower = (leader + 1) % NODES;
    propose_burst(&c, follower, 1, 1);
    assert_int_equal(c.eperm, 1);
    clu_node_status(c.nodes[follower], &st);
    assert_int_equal(st.leader_id, leader + 1);
    assert_string_equal(st.leader_api, c.opts[leader].peers[leader].api);
    cluster_close(&c);
}

static void test_failover_and_catch_up(void **unused)
{
    (void)unused;
    cluster c;
    cluster_open(&c, 64); /* snapshots every 64 entries: a restarted node installs one */
    unsigned old = wait_leader(&c, 5000);
    assert_true(old < NODES);
    propose_burst(&c, old, 50, 20);
    expect_converged(&c, old, 5000);
    node_stop(&c, old);
    unsigned leader = wait_leader(&c, 3000);
    assert_true(leader < NODES);
    assert_int_not_equal(leader, old);
    uint64_t ok_before = c.ok;
    for (unsigned round = 0; round < 200; round++)
        propose_burst(&c, leader, 4, 10);
    assert_int_equal(c.ok - ok_before, 800);
    store_open(&c, old);
    node_start(&c, old);
    expect_converged(&c, leader, 10000);
    clu_metrics m, lm;
    clu_node_metrics(c.nodes[old], &m);
    clu_node_metrics(c.nodes[leader], &lm);
    if (m.restores_total < 1) /* it must have come back by snapshot install */
        fail_msg("no restore: old node applied %llu entries; leader: %llu snapshots, %llu entries, "
                 "raft applied %llu",
                 (unsigned long long)m.entries_applied_total,
                 (unsigned long long)lm.snapshots_total,
                 (unsigned long long)lm.entries_applied_total,
                 (unsigned long long)lm.status.applied_index);
    cluster_close(&c);
}

/* Two single-node clusters, each watching the other through its API as a peer: the
 * divergence check compares their hash points. */
typedef struct pair {
    cluster a, b; /* only nodes[0] of each is used */
    clu_api *api[2];
    char url[2][CLU_ADDRESS_BYTES];
} pair;

static void single_open(cluster *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/troika-div-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    assert_int_equal(led_gen_open(1, &c->gen), TK_OK);
    assert_int_equal(led_state_open(&c->scratch), TK_OK);
    snprintf(c->raft_dirs[0], sizeof(c->raft_dirs[0]), "%s/raft", c->dir);
    assert_int_equal(mkdir(c->raft_dirs[0], 0700), 0);
    clu_node_opts *o = &c->opts[0];
    *o = (clu_node_opts){.id = 1,
                         .raft_dir = c->raft_dirs[0],
                         .peer_count = 1,
                         .election_timeout_ms = 200,
                         .heartbeat_timeout_ms = 20,
                         .snapshot_threshold = 1024,
                         .snapshot_trailing = 512,
                         .install_snapshot_timeout_ms = 1000,
                         .checkpoint_every = 1000,
                         .hash_every = 10};
    snprintf(o->name, sizeof(o->name), "%s", name);
    o->peers[0] = (clu_peer){.id = 1};
    snprintf(o->peers[0].raft_address, sizeof(o->peers[0].raft_address), "127.0.0.1:%u",
             (unsigned)free_port());
    store_open(c, 0);
    node_start(c, 0);
}

/* name_a and name_b go into each one's LeaderChanged: equal names, equal states. */
static void pair_open(pair *p, const char *name_a, const char *name_b)
{
    single_open(&p->a, name_a);
    single_open(&p->b, name_b);
    for (unsigned i = 0; i < 2; i++)
        snprintf(p->url[i], sizeof(p->url[i]), "tcp://127.0.0.1:%u", (unsigned)free_port());
    for (unsigned i = 0; i < 2; i++) {
        clu_api_opts ao = {.url = p->url[i],
                           .token = "t",
                           .node = (i == 0 ? &p->a : &p->b)->nodes[0],
                           .workers = 2,
                           .peer_count = 1,
                           .check_interval_ms = 50};
        snprintf(ao.peer_apis[0], sizeof(ao.peer_apis[0]), "%s", p->url[1 - i]);
        char why[256];
        if (clu_api_start(&ao, &p->api[i], why, sizeof(why)) != TK_OK) fail_msg("%s", why);
    }
    assert_true(wait_leader(&p->a, 5000) == 0 && wait_leader(&p->b, 5000) == 0);
}

static void pair_close(pair *p)
{
    clu_api_stop(p->api[0]);
    clu_api_stop(p->api[1]);
    cluster_close(&p->a);
    cluster_close(&p->b);
}

/* The same 20 StrategyEnabled events (fixed times) into c's node, as one proposal. */
static void propose_same(cluster *c, const char *strategy)
{
    led_event events[20];
    for (unsigned i = 0; i < 20; i++) {
        events[i] = (led_event){.type = LED_EV_STRATEGY_ENABLED,
                                .version = 1,
                                .ts_ns = 1700000000000000000 + (int64_t)i};
        snprintf(events[i].u.strategy_enabled.strategy, LED_NAME_BYTES, "%s", strategy);
        events[i].u.strategy_enabled.enabled = i % 2 == 0;
    }
    pthread_mutex_lock(&c->lock);
    uint64_t want = c->answered + 1;
    pthread_mutex_unlock(&c->lock);
    assert_int_equal(clu_node_propose(c->nodes[0], events, 20, answered, c), TK_OK);
    pthread_mutex_lock(&c->lock);
    while (c->answered < want)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    assert_int_equal(c->ok, 1);
}

/* Replicas that folded the same events agree: no divergence, no kill switch. Each cluster's
 * LeaderChanged (same term, different node names) sits at index 1, so they differ from the
 * start, unless the node names match: both are named "same" here. */
static void test_equal_replicas_agree(void **unused)
{
    (void)unused;
    pair p;
    pair_open(&p, "same", "same");
    propose_same(&p.a, "s");
    propose_same(&p.b, "s");
    clu_hash_point pa[CLU_HASH_POINTS], pb[CLU_HASH_POINTS];
    uint32_t na = 0, nb = 0;
    for (unsigned waited = 0; waited < 2000 && (na < 2 || nb < 2); waited += 10) {
        sleep_ms(10);
        na = clu_node_hash_points(p.a.nodes[0], pa, CLU_HASH_POINTS);
        nb = clu_node_hash_points(p.b.nodes[0], pb, CLU_HASH_POINTS);
    }
    assert_int_equal(na, 2); /* ledger indices 10 and 20 */
    assert_int_equal(pa[0].ledger_index, 10);
    sleep_ms(300); /* several checks */
    clu_status sa, sb;
    clu_node_status(p.a.nodes[0], &sa);
    clu_node_status(p.b.nodes[0], &sb);
    assert_false(sa.diverged);
    assert_false(sb.diverged);
    assert_false(sa.kill_switch);
    assert_int_equal(clu_hash_points_diverge(pa, na, pb, nb), 0);
    pair_close(&p);
}

/* Replicas that folded different events at the same indices: each check finds it, marks its
 * node diverged and sets the kill switch through its leader. */
static void test_divergence_halts_trading(void **unused)
{
    (void)unused;
    pair p;
    pair_open(&p, "a", "b");
    propose_same(&p.a, "s");
    propose_same(&p.b, "s");
    clu_status sa = {0}, sb = {0};
    for (unsigned waited = 0; waited < 5000; waited += 10) {
        clu_node_status(p.a.nodes[0], &sa);
        clu_node_status(p.b.nodes[0], &sb);
        if (sa.diverged && sb.diverged && sa.kill_switch && sb.kill_switch) break;
        sleep_ms(10);
    }
    assert_true(sa.diverged);
    assert_true(sb.diverged);
    assert_true(sa.kill_switch); /* KillSwitchSet committed through each one's leader */
    assert_true(sb.kill_switch);
    clu_hash_point pa[CLU_HASH_POINTS], pb[CLU_HASH_POINTS];
    uint32_t na = clu_node_hash_points(p.a.nodes[0], pa, CLU_HASH_POINTS);
    uint32_t nb = clu_node_hash_points(p.b.nodes[0], pb, CLU_HASH_POINTS);
    assert_int_equal(clu_hash_points_diverge(pa, na, pb, nb), 10); /* the first shared point */
    pair_close(&p);
}

/* A listener added to a node that already leads is told so at once, with the state as applied,
 * and once: a journal actor restarted under a leader starts the leader's actors. */
typedef struct late_listener {
    _Atomic uint32_t told;
    _Atomic uint64_t term;
    _Atomic uint64_t last_index;
} late_listener;

static void late_leading(void *arg, bool leading, uint64_t term, const led_state *state)
{
    late_listener *l = arg;
    if (!leading) return;
    atomic_fetch_add(&l->told, 1u);
    atomic_store(&l->term, term);
    atomic_store(&l->last_index, led_state_last_index(state));
}

static void test_late_listener_told_leading(void **unused)
{
    (void)unused;
    cluster c;
    single_open(&c, "solo");
    clu_status st = {0};
    for (unsigned waited = 0; waited < 5000 && !st.leading; waited += 10) {
        sleep_ms(10);
        clu_node_status(c.nodes[0], &st);
    }
    assert_true(st.leading);
    late_listener l;
    atomic_init(&l.told, 0u);
    atomic_init(&l.term, 0u);
    atomic_init(&l.last_index, 0u);
    clu_listener listener = {.committed = NULL, .leading = late_leading, .arg = &l};
    assert_int_equal(clu_node_listen(c.nodes[0], &listener), TK_OK);
    assert_int_equal(atomic_load(&l.told), 1u); /* before clu_node_listen returned */
    assert_int_equal(atomic_load(&l.term), st.term);
    assert_true(atomic_load(&l.last_index) >= 1u); /* its LeaderChanged is applied */
    sleep_ms(100);
    assert_int_equal(atomic_load(&l.told), 1u); /* once */
    clu_node_unlisten(c.nodes[0], &l);
    cluster_close(&c);
}

/* The event stream: a subscriber sees every committed event, in order, with its outcome. */
static void test_event_stream(void **unused)
{
    (void)unused;
    cluster c;
    single_open(&c, "solo");
    char url[CLU_ADDRESS_BYTES], events[CLU_ADDRESS_BYTES];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", (unsigned)free_port());
    snprintf(events, sizeof(events), "tcp://127.0.0.1:%u", (unsigned)free_port());
    clu_api_opts ao = {
        .url = url, .token = "t", .node = c.nodes[0], .workers = 1, .events_url = events};
    clu_api *api = NULL;
    char why[256];
    if (clu_api_start(&ao, &api, why, sizeof(why)) != TK_OK) fail_msg("%s", why);
    nng_socket sub = NNG_SOCKET_INITIALIZER;
    assert_int_equal(nng_sub0_open(&sub), 0);
    assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
    assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000), 0);
    assert_int_equal(nng_socket_set_int(sub, NNG_OPT_RECVBUF, 1024), 0);
    assert_int_equal(nng_dial(sub, events, NULL, 0), 0);
    assert_true(wait_leader(&c, 5000) == 0);
    sleep_ms(200); /* the subscription reaches the publisher */
    propose_same(&c, "s");
    uint64_t last = 0;
    unsigned strategy_events = 0;
    while (strategy_events < 20) {
        nng_msg *msg = NULL;
        int rv = nng_recvmsg(sub, &msg, 0);
        if (rv != 0)
            fail_msg("event stream: %s after %u events", nng_strerror(rv), strategy_events);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&u, nng_msg_body(msg), nng_msg_len(msg), &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, nng_msg_len(msg)); /* one map, nothing after it */
        assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
        assert_int_equal(u.data.via.map.size, 4);
        const msgpack_object_kv *kv = u.data.via.map.ptr;
        assert_memory_equal(kv[0].key.via.str.ptr, "index", 5);
        uint64_t index = kv[0].val.via.u64;
        if (last != 0) assert_int_equal(index, last + 1); /* in order, no gap */
        last = index;
        assert_memory_equal(kv[1].val.via.str.ptr, "applied", 7);
        const msgpack_object *ev = &kv[3].val;
        assert_int_equal(ev->type, MSGPACK_OBJECT_MAP);
        const msgpack_object *type = &ev->via.map.ptr[0].val;
        if (type->via.str.size == 15 && memcmp(type->via.str.ptr, "StrategyEnabled", 15) == 0)
            strategy_events++;
        msgpack_unpacked_destroy(&u);
        nng_msg_free(msg);
    }
    assert_int_equal(last, 21); /* LeaderChanged at 1, then the 20 */
    nng_close(sub);
    clu_api_stop(api);
    cluster_close(&c);
}

/* ---- The client API's transfer and crash ------------------------------------------------- */

/* One request to url with token "t"; the reply, parsed (the test fails without one). */
static json_t *api_request(const char *url, const char *request)
{
    char *text = NULL, why[256] = "";
    tk_err err = clu_api_call(url, "t", request, 10000, &text, why, sizeof(why));
    if (err != TK_OK) fail_msg("%s: %s: %s", url, tk_err_name(err), why);
    json_t *reply = json_loads(text, 0, NULL);
    if (reply == NULL) fail_msg("%s: not JSON: %s", url, text);
    free(text);
    return reply;
}

static const char *reply_str(const json_t *reply, const char *key)
{
    const char *v = json_string_value(json_object_get(reply, key));
    return v != NULL ? v : "";
}

static long long reply_int(const json_t *reply, const char *key)
{
    return (long long)json_integer_value(json_object_get(reply, key));
}

/* The reply failed with error code (its detail printed when it did not). */
static void expect_error(json_t *reply, const char *code)
{
    if (strcmp(reply_str(reply, "error"), code) != 0)
        fail_msg("want error %s, got ok=%d error '%s': %s", code,
                 json_is_true(json_object_get(reply, "ok")), reply_str(reply, "error"),
                 reply_str(reply, "detail"));
    assert_false(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
}

static void expect_ok(const json_t *reply)
{
    if (!json_is_true(json_object_get(reply, "ok")))
        fail_msg("want ok, got error '%s': %s", reply_str(reply, "error"),
                 reply_str(reply, "detail"));
}

/* The API on every node of c, at the url its peers name. */
static void apis_start(cluster *c, clu_api *apis[NODES])
{
    for (unsigned i = 0; i < NODES; i++) {
        clu_api_opts ao = {
            .url = c->opts[i].peers[i].api, .token = "t", .node = c->nodes[i], .workers = 4};
        char why[256];
        if (clu_api_start(&ao, &apis[i], why, sizeof(why)) != TK_OK) fail_msg("%s", why);
    }
}

/* Leadership moves to the node named, through the leader's API, which answers once it has;
 * writes then go to the new leader and the old one answers "not_leader" naming it; with no
 * node named, libraft picks one. A follower, an unknown node and the leader itself are
 * refused. */
static void test_transfer_leadership(void **unused)
{
    (void)unused;
    cluster c;
    cluster_open(&c, 1024);
    clu_api *apis[NODES];
    apis_start(&c, apis);
    unsigned old = wait_leader(&c, 5000);
    assert_true(old < NODES);
    unsigned to = (old + 1) % NODES, other = (old + 2) % NODES;
    const char *url_old = c.opts[0].peers[old].api, *url_to = c.opts[0].peers[to].api;
    char req[128];
    snprintf(req, sizeof(req), "{\"op\": \"transfer\", \"to\": %u}", to + 1);
    json_t *r = api_request(c.opts[0].peers[other].api, req);
    assert_string_equal(reply_str(r, "leader_api"), url_old);
    expect_error(r, "not_leader");
    expect_error(api_request(url_old, "{\"op\": \"transfer\", \"to\": 9}"), "bad_request");
    snprintf(req, sizeof(req), "{\"op\": \"transfer\", \"to\": %u}", old + 1);
    expect_error(api_request(url_old, req), "bad_request"); /* itself */
    expect_error(api_request(url_old, "{\"op\": \"transfer\", \"to\": \"2\"}"), "bad_request");
    assert_int_equal(wait_leader(&c, 1000), old); /* none of that moved it */

    snprintf(req, sizeof(req), "{\"op\": \"transfer\", \"to\": %u}", to + 1);
    r = api_request(url_old, req);
    expect_ok(r);
    assert_int_equal(reply_int(r, "leader_id"), to + 1);
    assert_string_equal(reply_str(r, "leader_api"), url_to);
    json_decref(r);
    clu_status st;
    clu_node_status(c.nodes[old], &st); /* the old leader knows at once */
    assert_int_not_equal(st.role, CLU_ROLE_LEADER);
    assert_int_equal(st.leader_id, to + 1);
    assert_int_equal(wait_leader(&c, 5000), to);

    r = api_request(url_to, "{\"op\": \"kill_switch\", \"on\": false, \"reason\": \"t\", "
                            "\"key\": \"after-transfer-1\"}");
    expect_ok(r);
    assert_string_equal(reply_str(r, "result"), "applied");
    json_decref(r);
    r = api_request(url_old, "{\"op\": \"kill_switch\", \"on\": false, \"reason\": \"t\", "
                             "\"key\": \"after-transfer-2\"}");
    assert_string_equal(reply_str(r, "leader_api"), url_to);
    expect_error(r, "not_leader");

    r = api_request(url_to, "{\"op\": \"transfer\"}"); /* libraft picks */
    expect_ok(r);
    long long picked = reply_int(r, "leader_id");
    json_decref(r);
    assert_true(picked >= 1 && picked <= NODES);
    assert_int_not_equal(picked, to + 1);
    assert_int_equal(wait_leader(&c, 5000), (unsigned)picked - 1);
    for (unsigned i = 0; i < NODES; i++)
        clu_api_stop(apis[i]);
    cluster_close(&c);
}

/* The supervised actor the crash test ends: it does nothing. */
static tk_err idle_init(act_ctx *ctx, void *state, const void *arg)
{
    (void)ctx;
    (void)state;
    (void)arg;
    return TK_OK;
}

static tk_err idle_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    (void)ctx;
    (void)state;
    (void)msg;
    return TK_OK;
}

static const act_behaviour idle_behaviour = {
    .name = "victim", .init = idle_init, .handle = idle_handle, .terminate = NULL};

/* Spawn it linked to its supervisor and register it as "victim", as a node's start functions
 * do with theirs. */
static tk_err start_victim(act_system *sys, act_ref sup, const void *arg, act_ref *out)
{
    (void)arg;
    act_spawn_opts o = {.behaviour = &idle_behaviour,
                        .state_size_bytes = 0,
                        .arg = NULL,
                        .mailbox_capacity = 8,
                        .link_to = sup,
                        .trap_exit = false};
    act_ref ref;
    tk_err err = act_spawn(sys, &o, &ref);
    if (err == TK_OK) err = act_register(sys, "victim", ref);
    if (err == TK_OK) *out = ref;
    return err;
}

static uint64_t process_restarts(void *arg)
{
    (void)arg;
    sup_stats stats;
    sup_stats_read(&stats);
    return stats.restarts;
}

/* The actor registered as "victim"; ACT_REF_NONE between its exit and its restart. */
static act_ref victim(act_system *sys)
{
    act_ref ref;
    if (act_whereis(sys, "victim", &ref) != TK_OK) return ACT_REF_NONE;
    return ref;
}

/* One node, an actor runtime with a supervisor over "victim", and three APIs on the node: the
 * debug API on (url[0]), off (url[1]), and on without actors (url[2]). */
typedef struct crash_fixture {
    cluster c;
    act_system *sys;
    char url[3][CLU_ADDRESS_BYTES];
    clu_api *api[3];
} crash_fixture;

static void crash_fixture_open(crash_fixture *f)
{
    cluster *c = &f->c;
    single_open(c, "solo");
    act_system_opts so = {.threads = 1,
                          .actors_max = 64,
                          .msgs_max = 1024,
                          .spin_us = 0,
                          .turn_deadline_ms = 0,
                          .stuck_deadline_ms = 0,
                          .clock = tk_clock_system()};
    f->sys = NULL;
    assert_int_equal(act_system_open(&so, &f->sys), TK_OK);
    sup_child_spec child = {.id = "victim",
                            .start = start_victim,
                            .arg = NULL,
                            .restart = SUP_TRANSIENT,
                            .shutdown = SUP_SHUTDOWN_TIMEOUT,
                            .shutdown_timeout_ms = 1000,
                            .type = SUP_WORKER};
    sup_spec spec = {.name = "test",
                     .flags = {.strategy = SUP_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000},
                     .children = &child,
                     .child_count = 1,
                     .children_max = 1,
                     .mailbox_capacity = 16};
    act_ref sup;
    assert_int_equal(sup_start(f->sys, &spec, ACT_REF_NONE, &sup), TK_OK);
    for (unsigned i = 0; i < 3; i++) { /* debug on; off; on without actors */
        snprintf(f->url[i], sizeof(f->url[i]), "tcp://127.0.0.1:%u", (unsigned)free_port());
        clu_api_opts ao = {.url = f->url[i],
                           .token = "t",
                           .node = c->nodes[0],
                           .workers = 2,
                           .actors = i < 2 ? f->sys : NULL,
                           .debug = i != 1,
                           .restarts = process_restarts,
                           .restarts_arg = NULL};
        char why[256];
        if (clu_api_start(&ao, &f->api[i], why, sizeof(why)) != TK_OK) fail_msg("%s", why);
    }
}

static void crash_fixture_close(crash_fixture *f)
{
    for (unsigned i = 0; i < 3; i++)
        clu_api_stop(f->api[i]);
    act_system_close(f->sys);
    cluster_close(&f->c);
}

/* With the debug API on, "crash" ends the actor registered under the name given: its
 * supervisor restarts it (registered again, a new ref) and the status's "restarts" goes up by
 * one. A name not registered is refused with the list of those that are; with the debug API
 * off the op is refused "forbidden" and nothing happens; a node without actors says so. */
static void test_crash_through_the_debug_api(void **unused)
{
    (void)unused;
    crash_fixture f;
    crash_fixture_open(&f);
    act_ref first = victim(f.sys);
    assert_false(act_ref_is_none(first));
    json_t *r = api_request(f.url[0], "{\"op\": \"status\"}");
    long long restarts = reply_int(r, "restarts");
    assert_int_equal(restarts, (long long)process_restarts(NULL));
    json_decref(r);

    /* refused (off; no actors; a name not registered; none), and nothing happens */
    expect_error(api_request(f.url[1], "{\"op\": \"crash\", \"actor\": \"victim\"}"), "forbidden");
    expect_error(api_request(f.url[2], "{\"op\": \"crash\", \"actor\": \"victim\"}"), "failed");
    r = api_request(f.url[0], "{\"op\": \"crash\", \"actor\": \"nobody\"}");
    json_t *names = json_object_get(r, "actors");
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "victim");
    assert_non_null(strstr(reply_str(r, "detail"), "'nobody'"));
    assert_non_null(strstr(reply_str(r, "detail"), "victim"));
    expect_error(r, "bad_request");
    expect_error(api_request(f.url[0], "{\"op\": \"crash\"}"), "bad_request");
    sleep_ms(100);
    assert_true(act_ref_eq(victim(f.sys), first));
    r = api_request(f.url[0], "{\"op\": \"status\"}");
    assert_int_equal(reply_int(r, "restarts"), restarts);
    json_decref(r);

    /* on: the actor ends as if it had failed, and its supervisor restarts it */
    r = api_request(f.url[0], "{\"op\": \"crash\", \"actor\": \"victim\"}");
    expect_ok(r);
    assert_string_equal(reply_str(r, "actor"), "victim");
    json_decref(r);
    act_ref second = ACT_REF_NONE;
    for (unsigned waited = 0; waited < 5000; waited += 10) {
        second = victim(f.sys);
        if (!act_ref_is_none(second) && !act_ref_eq(second, first)) break;
        sleep_ms(10);
    }
    assert_false(act_ref_is_none(second));
    assert_false(act_ref_eq(second, first)); /* registered again: the restarted one */
    r = api_request(f.url[0], "{\"op\": \"status\"}");
    assert_int_equal(reply_int(r, "restarts"), restarts + 1);
    json_decref(r);
    crash_fixture_close(&f);
}

int clu_test_raft_node(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicate_and_redirect),
        cmocka_unit_test(test_failover_and_catch_up),
        cmocka_unit_test(test_equal_replicas_agree),
        cmocka_unit_test(test_divergence_halts_trading),
        cmocka_unit_test(test_event_stream),
        cmocka_unit_test(test_late_listener_told_leading),
        cmocka_unit_test(test_transfer_leadership),
        cmocka_unit_test(test_crash_through_the_debug_api),
    };
    return cmocka_run_group_tests_name("cluster/raft_node", tests, NULL, NULL);
}
