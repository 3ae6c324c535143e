/* The journal actor: the one place trading actors propose to, and the one that tells them what
 * committed (DESIGN.md, "Modules"; the protocol is in ledger/led.h). Over a local journal it
 * owns a clu_journal while it runs and commits each proposal at once; over a Raft node it
 * proposes through clu_node_propose and learns of commits, proposal results and leadership
 * from the node's loop thread through a queue (docs/cluster.md, "Actors on a node"). Either
 * way it publishes every committed event to the
 * "execution" and "strategies" groups, a BarClosed to execution first (docs/strategies.md,
 * "How one bar flows"). It counts publications until they are acknowledged, so that it knows
 * when the whole graph is idle: a proposer may ask to be told, and a paced batch (a backtest's
 * bars) has its next event committed only then. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clu.h"

_Static_assert(LED_MSG_BASE >= ACT_MSG_USER, "the ledger's messages are user messages");
_Static_assert(sizeof(led_ack) <= ACT_MSG_INLINE_BYTES, "an acknowledgement fits inline");

#define GROUP_MEMBERS_MAX 64u /* subscribers per group one publication reaches */

/* A publication shared by every message that carries it: freed with the last one. */
typedef struct commit_box {
    led_commit commit; /* first: msg->ptr points at the box */
    _Atomic uint32_t refs;
} commit_box;

/* One group's members as last looked up, and when. */
typedef struct member_cache {
    act_ref members[GROUP_MEMBERS_MAX];
    uint32_t count;
    uint64_t generation; /* act_groups_generation at the lookup; UINT64_MAX: never */
} member_cache;

/* Bars that may wait for execution at once. A backtest holds one; a live feed that outruns
 * execution could hold more, and past this many a bar goes to the strategies unordered. */
#define HELD_BARS_MAX 16u

/* A BarClosed published to execution and waiting for its acknowledgements before it goes to the
 * strategies. */
typedef struct held_bar {
    commit_box *box;  /* the actor's reference */
    uint32_t waiting; /* acknowledgements still expected */
} held_bar;

/* What the node's loop thread tells the actor, in order. */
typedef enum bridge_kind {
    ITEM_COMMIT,    /* box: a committed event */
    ITEM_PROPOSED,  /* err, first_index: how one of the actor's proposals ended */
    ITEM_LEADING,   /* view: this node leads; what the hooks captured */
    ITEM_FOLLOWING, /* this node no longer leads */
} bridge_kind;

typedef struct bridge_item {
    struct bridge_item *next;
    bridge_kind kind;
    commit_box *box;
    tk_err err;
    uint64_t first_index;
    void *view;
} bridge_item;

/* Shared by the actor, the node's listener and every proposal in flight: the queue from the
 * loop thread to the actor. Freed with its last reference. */
typedef struct raft_bridge {
    pthread_mutex_t lock;
    act_system *sys;
    act_ref actor;
    clu_leader_hooks hooks;
    bridge_item *head, *tail;
    bool wake_sent; /* a CLU_MSG_DRAIN is on its way and the actor has not drained since */
    bool closed;    /* the actor is gone: items are dropped */
    uint32_t refs;
} raft_bridge;

enum { CLU_MSG_DRAIN = ACT_MSG_USER + 0x4300u, CLU_MSG_TICK };

/* Proposals a follower keeps, for when it leads (docs/cluster.md, "Actors on a node"): at most
 * this many, none older than HELD_AGE_MAX keyed commits (well inside the ledger's window of
 * LED_KEYS_MAX keys, so that a copy that did commit is always refused as a repeat), and none
 * whose key committed among the last RECENT_KEYS_MAX keyed commits (its copy arrived after the
 * leader's had committed). */
#define HELD_PROPOSALS_MAX 256u
#define HELD_AGE_MAX       1024u
#define RECENT_KEYS_MAX    1024u
#define TICK_MS            50u
_Static_assert(HELD_AGE_MAX < LED_KEYS_MAX, "a held copy is re-proposed inside the key window");

typedef struct held_proposal {
    led_event ev;
    uint64_t at; /* keyed commits seen when it was held */
} held_proposal;

typedef struct journal_actor {
    clu_journal *journal;          /* local: borrowed from the spawner for the actor's life */
    clu_node *node;                /* Raft: borrowed; NULL over a local journal */
    raft_bridge *bridge;           /* Raft: the actor's reference */
    bool leading;                  /* Raft: proposals go to the node (else keyed ones are held) */
    uint64_t inflight;             /* Raft: proposals sent and not yet answered */
    held_proposal *held_proposals; /* Raft: HELD_PROPOSALS_MAX, a follower's keyed proposals */
    uint32_t held_proposal_count;
    char (*recent_keys)[LED_KEY_BYTES]; /* Raft: ring of RECENT_KEYS_MAX committed keys */
    uint64_t keyed_commits;             /* Raft: keyed events seen committed */
    act_system *sys;
    act_ref self;
    uint64_t outstanding;         /* COMMITTED messages sent and not yet acknowledged */
    held_bar held[HELD_BARS_MAX]; /* bars waiting for execution, oldest at held_head */
    uint32_t held_head, held_count;
    bool idle_wanted; /* a proposer asked for LED_MSG_IDLE */
    act_ref idle_waiter;
    uint64_t idle_index;
    member_cache execution, strategies;  /* the two groups' members, looked up when changed */
    act_ref bars_off[GROUP_MEMBERS_MAX]; /* subscribers that asked for no bars for now */
    uint32_t bars_off_count;
    led_paced_batch paced; /* a paced batch being committed (count 0: none) */
    uint32_t paced_next;   /* the next of its events to commit */
    tk_err failure;        /* set by the commit callback, which cannot fail the actor itself */
} journal_actor;

static void box_release(void *ptr)
{
    commit_box *box = ptr;
    /* acq_rel: the last holder sees every write made before the others let go */
    if (atomic_fetch_sub_explicit(&box->refs, 1u, memory_order_acq_rel) == 1u) free(box);
}

/* Whether member asked for no bars (LED_ACK_BARS_OFF); with forget, it is asked again. */
static bool bars_off(journal_actor *a, act_ref member, bool forget)
{
    for (uint32_t i = 0; i < a->bars_off_count; i++) {
        if (!act_ref_eq(a->bars_off[i], member)) continue;
        if (forget) a->bars_off[i] = a->bars_off[--a->bars_off_count];
        return true;
    }
    return false;
}

/* The members of group c caches, from the cache unless a group changed since. */
static const member_cache *members_of(journal_actor *a, member_cache *c)
{
    const char *group = c == &a->execution ? LED_GROUP_EXECUTION : LED_GROUP_STRATEGIES;
    uint64_t now = act_groups_generation(a->sys);
    if (c->generation == now) return c;
    act_group_members(a->sys, group, c->members, GROUP_MEMBERS_MAX, &c->count);
    TK_ASSERT(c->count <= GROUP_MEMBERS_MAX); /* more subscribers than a journal serves */
    c->generation = now;
    return c;
}

/* Send box to every member of the group c caches; returns how many copies went out. A member
 * whose mailbox is full or who died is skipped (it recovers from the state, not the stream). */
static uint32_t publish(journal_actor *a, member_cache *c, commit_box *box)
{
    const member_cache *cache = members_of(a, c);
    const act_ref *members = cache->members;
    uint32_t count = cache->count;
    uint32_t sent = 0;
    bool bar = box->commit.ev.type == LED_EV_BAR_CLOSED;
    for (uint32_t i = 0; i < count; i++) {
        if (bars_off(a, members[i], !bar) && bar) continue; /* it has nothing to do with bars */
        act_msg *msg = act_msg_alloc(a->sys);
        if (msg == NULL) {
            a->failure = TK_EFULL;
            break;
        }
        atomic_fetch_add_explicit(&box->refs, 1u, memory_order_relaxed); /* before it is seen */
        msg->type = LED_MSG_COMMITTED;
        msg->sender = a->self;
        msg->ptr = box;
        msg->ptr_free = box_release;
        if (act_send(a->sys, members[i], msg) != TK_OK) {
            act_msg_free(a->sys, msg); /* releases the box's reference */
            continue;
        }
        sent++;
    }
    a->outstanding += sent;
    return sent;
}

/* Publish box (the caller's reference, moved in): to execution, then (a bar: once execution
 * acknowledged it) to the strategies. */
static void publish_commit(journal_actor *a, commit_box *box)
{
    uint64_t index = box->commit.index;
    uint32_t waiting = publish(a, &a->execution, box);
    bool bar = box->commit.ev.type == LED_EV_BAR_CLOSED;
    if (bar && (waiting > 0 || a->held_count > 0) && a->held_count < HELD_BARS_MAX) {
        /* in order behind any bar still held; keeps the actor's reference */
        a->held[(a->held_head + a->held_count++) % HELD_BARS_MAX] =
            (held_bar){.box = box, .waiting = waiting};
        return;
    }
    if (bar && waiting > 0)
        TK_LOG(TK_LOG_WARN, "journal", "bars outrun execution: one goes to strategies unordered",
               TK_LOG_U64("index", index));
    (void)publish(a, &a->strategies, box);
    box_release(box);
}

/* clu_journal's commit callback: wrap the event and publish it. */
static void on_commit(void *arg, uint64_t index, const led_event *ev, const led_outcome *outcome)
{
    journal_actor *a = arg;
    commit_box *box = malloc(sizeof(*box));
    if (box == NULL) {
        a->failure = TK_ENOMEM;
        return;
    }
    const led_state *state = clu_journal_state(a->journal);
    box->commit = (led_commit){.index = index, .ev = *ev, .outcome = *outcome};
    box->commit.equity_e8 = led_state_equity(state);
    led_order order;
    uint64_t order_index = led_event_order_index(ev);
    box->commit.order_open =
        order_index != 0 && led_state_order_find(state, order_index, &order) == TK_OK;
    atomic_init(&box->refs, 1u); /* the actor's own, moved to publish_commit */
    publish_commit(a, box);
}

/* Bars execution is done with, oldest first, go to the strategies, who see the account as it
 * is now (after the bar's fills; execution let go of the box: it acknowledged). */
static void release_bars(journal_actor *a)
{
    while (a->held_count > 0 && a->held[a->held_head].waiting == 0) {
        commit_box *box = a->held[a->held_head].box;
        a->held_head = (a->held_head + 1u) % HELD_BARS_MAX;
        a->held_count--;
        if (a->journal != NULL) /* over Raft the box keeps the equity after the bar's entry */
            box->commit.equity_e8 = led_state_equity(clu_journal_state(a->journal));
        (void)publish(a, &a->strategies, box);
        box_release(box);
    }
}

static bool graph_idle(const journal_actor *a)
{
    return a->outstanding == 0 && a->held_count == 0 && a->inflight == 0;
}

/* ---- The Raft node's side: the bridge ------------------------------------------------------ */

static void bridge_release(raft_bridge *b)
{
    pthread_mutex_lock(&b->lock);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->lock);
    if (!last) return;
    for (bridge_item *it = b->head; it != NULL;) {
        bridge_item *next = it->next;
        if (it->box != NULL) box_release(it->box);
        if (it->view != NULL && b->hooks.release != NULL) b->hooks.release(b->hooks.arg, it->view);
        free(it);
        it = next;
    }
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Queue item (moved in) for the actor and wake it unless a wake is already on its way. On any
 * thread. A wake that cannot be sent (a full mailbox) is retried with the next item, and the
 * actor drains on its tick too, so nothing waits for ever. */
static void bridge_push(raft_bridge *b, bridge_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->closed) {
        pthread_mutex_unlock(&b->lock);
        if (item->box != NULL) box_release(item->box);
        if (item->view != NULL && b->hooks.release != NULL)
            b->hooks.release(b->hooks.arg, item->view);
        free(item);
        return;
    }
    if (b->tail != NULL)
        b->tail->next = item;
    else
        b->head = item;
    b->tail = item;
    bool wake = !b->wake_sent;
    if (wake)
        b->wake_sent =
            act_send_data(b->sys, b->actor, ACT_REF_NONE, CLU_MSG_DRAIN, NULL, 0) == TK_OK;
    pthread_mutex_unlock(&b->lock);
}

static bridge_item *item_new(bridge_kind kind)
{
    bridge_item *it = calloc(1, sizeof(*it));
    if (it == NULL) tk_panic(__FILE__, __LINE__, "out of memory for a committed event");
    it->kind = kind;
    return it;
}

/* The node's listener, on its loop thread: each committed event, boxed with what subscribers
 * read of the state. Running out of memory here would lose a publication: it ends the process,
 * whose restart recovers from the store. */
static void bridge_committed(void *arg, uint64_t index, const led_event *ev, const uint8_t *event,
                             size_t size, const led_outcome *outcome, const led_state *state)
{
    (void)event;
    (void)size;
    raft_bridge *b = arg;
    commit_box *box = malloc(sizeof(*box));
    if (box == NULL) tk_panic(__FILE__, __LINE__, "out of memory for a committed event");
    box->commit.ev = *ev;
    box->commit.index = index;
    box->commit.outcome = *outcome;
    box->commit.equity_e8 = led_state_equity(state);
    led_order order;
    uint64_t order_index = led_event_order_index(&box->commit.ev);
    box->commit.order_open =
        order_index != 0 && led_state_order_find(state, order_index, &order) == TK_OK;
    atomic_init(&box->refs, 1u); /* the item's */
    bridge_item *it = item_new(ITEM_COMMIT);
    it->box = box;
    bridge_push(b, it);
}

static void bridge_leading(void *arg, bool leading, uint64_t term, const led_state *state)
{
    raft_bridge *b = arg;
    bridge_item *it = item_new(leading ? ITEM_LEADING : ITEM_FOLLOWING);
    it->first_index = term;
    if (leading && b->hooks.capture != NULL) it->view = b->hooks.capture(b->hooks.arg, state);
    bridge_push(b, it);
}

static void bridge_proposed(void *arg, tk_err err, uint64_t first_index,
                            const led_outcome *outcomes, uint32_t count)
{
    (void)outcomes;
    (void)count;
    raft_bridge *b = arg;
    bridge_item *it = item_new(ITEM_PROPOSED);
    it->err = err;
    it->first_index = first_index;
    bridge_push(b, it);
    bridge_release(b); /* the proposal's reference */
}

/* Send ev to the Raft node; its result comes back as an ITEM_PROPOSED. */
static tk_err raft_propose(journal_actor *a, const led_event *ev)
{
    pthread_mutex_lock(&a->bridge->lock);
    a->bridge->refs++; /* the proposal's, dropped by bridge_proposed */
    pthread_mutex_unlock(&a->bridge->lock);
    tk_err err = clu_node_propose(a->node, ev, 1, bridge_proposed, a->bridge);
    if (err != TK_OK) {
        bridge_release(a->bridge);
        TK_LOG(TK_LOG_ERROR, "journal", "proposal refused by the node", TK_LOG_ERR("err", err),
               TK_LOG_STR("event", led_event_type_name(ev->type)));
        return TK_OK; /* an invalid event is the proposer's bug; the actor goes on */
    }
    a->inflight++;
    return TK_OK;
}

/* A follower keeps a keyed proposal (the leader's copy of the same deterministic proposal is
 * expected to commit; if the leader fails first, this node proposes it when it leads and the
 * ledger refuses whichever copy comes second). Unkeyed proposals are dropped. */
static void hold_proposal(journal_actor *a, const led_event *ev)
{
    if (ev->key[0] == '\0') {
        TK_LOG(TK_LOG_DEBUG, "journal", "not leading: proposal dropped",
               TK_LOG_STR("event", led_event_type_name(ev->type)));
        return;
    }
    uint64_t recent = a->keyed_commits < RECENT_KEYS_MAX ? a->keyed_commits : RECENT_KEYS_MAX;
    for (uint64_t i = 0; i < recent; i++)
        if (strcmp(a->recent_keys[i], ev->key) == 0) return; /* the leader's copy committed */
    if (a->held_proposal_count == HELD_PROPOSALS_MAX) {      /* the oldest goes */
        memmove(&a->held_proposals[0], &a->held_proposals[1],
                (HELD_PROPOSALS_MAX - 1u) * sizeof(held_proposal));
        a->held_proposal_count--;
    }
    a->held_proposals[a->held_proposal_count++] =
        (held_proposal){.ev = *ev, .at = a->keyed_commits};
}

/* A keyed event committed on a follower: it forgets its own copy and remembers the key. */
static void forget_held(journal_actor *a, const led_event *ev)
{
    if (ev->key[0] == '\0') return;
    memcpy(a->recent_keys[a->keyed_commits++ % RECENT_KEYS_MAX], ev->key, LED_KEY_BYTES);
    for (uint32_t i = 0; i < a->held_proposal_count; i++) {
        if (strcmp(a->held_proposals[i].ev.key, ev->key) != 0) continue;
        memmove(&a->held_proposals[i], &a->held_proposals[i + 1],
                (a->held_proposal_count - i - 1u) * sizeof(held_proposal));
        a->held_proposal_count--;
        return;
    }
}

/* Commit one event and publish it; *out_index gets its ledger index. An invalid event (the
 * proposer's bug, not the journal's) is logged and refused, and the actor goes on. */
static tk_err commit_one(act_ctx *ctx, journal_actor *a, const led_event *ev, uint64_t *out_index)
{
    if (a->node != NULL) { /* the index comes with the result (ITEM_PROPOSED) */
        if (!a->leading) {
            hold_proposal(a, ev);
            return TK_OK;
        }
        return raft_propose(a, ev);
    }
    es_error why = {{0}};
    tk_err err = clu_journal_propose(a->journal, ev, out_index, &why);
    if (err == TK_EINVAL) {
        TK_LOG(TK_LOG_ERROR, "journal", "invalid proposal refused", TK_LOG_STR("why", why.text));
        return TK_OK;
    }
    if (err == TK_OK && !clu_journal_delivers_on_apply(a->journal))
        err = clu_journal_flush(a->journal, &why);
    if (err == TK_OK) err = a->failure;
    if (err != TK_OK) return act_fail(ctx, err, "%s", why.text);
    return TK_OK;
}

/* While the graph is idle: the next event of a paced batch; then, with nothing in flight and no
 * batch left, tell the waiting proposer. */
static tk_err settle(act_ctx *ctx, journal_actor *a)
{
    tk_err err = TK_OK;
    while (err == TK_OK && graph_idle(a) && a->paced_next < a->paced.count)
        err = commit_one(ctx, a, &a->paced.events[a->paced_next++], &a->idle_index);
    if (err != TK_OK || !a->idle_wanted || !graph_idle(a) || a->paced_next < a->paced.count)
        return err;
    a->idle_wanted = false;
    a->paced.count = a->paced_next = 0;
    return act_send_data(a->sys, a->idle_waiter, a->self, LED_MSG_IDLE, &a->idle_index,
                         sizeof(a->idle_index));
}

/* One pacing proposer at a time. A new one while another waits supersedes it: the old one is
 * a feed that its supervisor restarted, or one of an earlier leadership, and its batch is not
 * proposed further (the new feed resumes after the ledger's last bar). The same proposer asking
 * twice breaks the protocol: the journal fails with that reason. (Found by the chaos harness: a
 * feed restarted while its paced batch waited crashed the node on an assertion.) */
static tk_err pacer_take(act_ctx *ctx, journal_actor *a, act_ref sender)
{
    if (!a->idle_wanted) return TK_OK;
    if (act_ref_eq(a->idle_waiter, sender))
        return act_fail(ctx, TK_EINVAL, "a pacing proposer asked again before its idle");
    TK_LOG(TK_LOG_WARN, "journal", "a new pacing proposer supersedes the waiting one",
           TK_LOG_U64("unproposed", a->paced.count - a->paced_next));
    a->paced.count = a->paced_next = 0;
    a->idle_wanted = false;
    return TK_OK;
}

static tk_err on_propose(act_ctx *ctx, journal_actor *a, act_msg *msg)
{
    const led_event *ev = msg->ptr;
    if (ev == NULL) return act_fail(ctx, TK_EINVAL, "a proposal without an event");
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    if (msg->size_bytes == sizeof(flags)) memcpy(&flags, msg->data, sizeof(flags));
    uint64_t index = 0;
    tk_err err = commit_one(ctx, a, ev, &index);
    if (err != TK_OK) return err;
    if ((flags & LED_PROPOSE_NOTIFY_IDLE) != 0) {
        err = pacer_take(ctx, a, msg->sender);
        if (err != TK_OK) return err;
        a->idle_wanted = true;
        a->idle_waiter = msg->sender;
        a->idle_index = index;
    }
    return settle(ctx, a);
}

static tk_err on_propose_paced(act_ctx *ctx, journal_actor *a, act_msg *msg)
{
    const led_paced_batch *batch = msg->ptr;
    if (batch == NULL || batch->count == 0 || batch->count > LED_PACED_EVENTS_MAX)
        return act_fail(ctx, TK_EINVAL, "a paced batch without 1 to %u events",
                        LED_PACED_EVENTS_MAX);
    tk_err err = pacer_take(ctx, a, msg->sender);
    if (err != TK_OK) return err;
    a->paced.count = batch->count;
    memcpy(a->paced.events, batch->events, batch->count * sizeof(batch->events[0]));
    a->paced_next = 0;
    a->idle_wanted = true;
    a->idle_waiter = msg->sender;
    return settle(ctx, a);
}

static tk_err on_ack(act_ctx *ctx, journal_actor *a, const act_msg *msg)
{
    TK_ASSERT(a->outstanding > 0); /* every ACK answers a COMMITTED */
    a->outstanding--;
    led_ack ack = {.index = 0, .flags = 0};
    if (msg->size_bytes == sizeof(ack)) memcpy(&ack, msg->data, sizeof(ack));
    /* The last acknowledgement says what the subscriber wants now: a bar is published only
     * when every acknowledgement is in. */
    bool off = (ack.flags & LED_ACK_BARS_OFF) != 0;
    if (bars_off(a, msg->sender, !off) != off && off) {
        TK_ASSERT(a->bars_off_count < GROUP_MEMBERS_MAX);
        a->bars_off[a->bars_off_count++] = msg->sender;
    }
    for (uint32_t i = 0; i < a->held_count; i++) {
        held_bar *h = &a->held[(a->held_head + i) % HELD_BARS_MAX];
        if (h->box->commit.index != ack.index) continue;
        TK_ASSERT(h->waiting > 0); /* an execution member acknowledges a bar once */
        h->waiting--;
        break;
    }
    release_bars(a);
    if (a->failure != TK_OK) return a->failure;
    return settle(ctx, a);
}

/* This node leads: start the leader-only actors with what was captured, then propose what a
 * follower held. */
static tk_err on_leading(act_ctx *ctx, journal_actor *a, bridge_item *it)
{
    a->leading = true;
    if (a->bridge->hooks.start != NULL) {
        void *view = it->view;
        it->view = NULL; /* the hook owns it now */
        tk_err err = a->bridge->hooks.start(a->bridge->hooks.arg, a->sys, view);
        if (err != TK_OK) return act_fail(ctx, err, "starting the leader's actors");
    }
    uint32_t count = a->held_proposal_count, proposed = 0;
    a->held_proposal_count = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (a->keyed_commits - a->held_proposals[i].at >= HELD_AGE_MAX) continue; /* too old */
        tk_err err = raft_propose(a, &a->held_proposals[i].ev);
        if (err != TK_OK) return err;
        proposed++;
    }
    TK_LOG(TK_LOG_INFO, "journal", "leading: held proposals proposed",
           TK_LOG_U64("term", it->first_index), TK_LOG_U64("held", count),
           TK_LOG_U64("proposed", proposed));
    return TK_OK;
}

static void on_following(journal_actor *a)
{
    if (!a->leading) return;
    a->leading = false;
    if (a->bridge->hooks.stop != NULL) a->bridge->hooks.stop(a->bridge->hooks.arg, a->sys);
    /* the rest of a paced batch is not proposed, and its proposer, one of the leader's actors,
     * is gone: nobody waits for the graph to go idle */
    a->paced.count = a->paced_next = 0;
    a->idle_wanted = false;
}

/* Everything the loop thread queued, in order. */
static tk_err drain(act_ctx *ctx, journal_actor *a)
{
    raft_bridge *b = a->bridge;
    pthread_mutex_lock(&b->lock);
    bridge_item *list = b->head;
    b->head = b->tail = NULL;
    b->wake_sent = false;
    pthread_mutex_unlock(&b->lock);
    tk_err err = TK_OK;
    while (list != NULL) {
        bridge_item *it = list;
        list = it->next;
        if (err == TK_OK) {
            switch (it->kind) {
            case ITEM_COMMIT:
                if (!a->leading) forget_held(a, &it->box->commit.ev);
                publish_commit(a, it->box);
                it->box = NULL;
                break;
            case ITEM_PROPOSED:
                TK_ASSERT(a->inflight > 0);
                a->inflight--;
                if (it->err == TK_OK) a->idle_index = it->first_index;
                if (it->err != TK_OK)
                    TK_LOG(TK_LOG_WARN, "journal", "a proposal did not commit here",
                           TK_LOG_ERR("err", it->err));
                break;
            case ITEM_LEADING:
                err = on_leading(ctx, a, it);
                break;
            case ITEM_FOLLOWING:
                on_following(a);
                break;
            }
            if (err == TK_OK) err = a->failure;
        }
        if (it->box != NULL) box_release(it->box);
        if (it->view != NULL && b->hooks.release != NULL) b->hooks.release(b->hooks.arg, it->view);
        free(it);
    }
    if (err != TK_OK) return err;
    return settle(ctx, a);
}

static tk_err schedule_tick(journal_actor *a)
{
    act_msg *msg = act_msg_alloc(a->sys);
    if (msg == NULL) return TK_EFULL;
    msg->type = CLU_MSG_TICK;
    msg->sender = a->self;
    tk_err err = act_send_after(a->sys, TICK_MS, a->self, msg, NULL);
    if (err != TK_OK) act_msg_free(a->sys, msg);
    return err;
}

/* What the spawn functions hand to init: a local journal, or a node and its hooks. */
typedef struct journal_arg {
    clu_journal *journal;
    clu_node *node;
    const clu_leader_hooks *hooks;
} journal_arg;

static tk_err raft_init(act_ctx *ctx, journal_actor *a, const journal_arg *arg)
{
    a->node = arg->node;
    a->held_proposals = malloc(HELD_PROPOSALS_MAX * sizeof(held_proposal));
    a->recent_keys = calloc(RECENT_KEYS_MAX, LED_KEY_BYTES);
    raft_bridge *b = calloc(1, sizeof(*b));
    if (a->held_proposals == NULL || a->recent_keys == NULL || b == NULL) {
        free(b);
        return TK_ENOMEM;
    }
    pthread_mutex_init(&b->lock, NULL);
    b->sys = a->sys;
    b->actor = a->self;
    b->refs = 1; /* the actor's */
    if (arg->hooks != NULL) b->hooks = *arg->hooks;
    a->bridge = b;
    tk_err err = act_register(a->sys, LED_JOURNAL_NAME, a->self);
    if (err == TK_OK) err = schedule_tick(a);
    clu_listener listener = {.committed = bridge_committed, .leading = bridge_leading, .arg = b};
    if (err == TK_OK) err = clu_node_listen(a->node, &listener);
    (void)ctx;
    return err;
}

static tk_err journal_init(act_ctx *ctx, void *state, const void *arg)
{
    journal_actor *a = state;
    a->sys = act_ctx_system(ctx);
    a->self = act_self(ctx);
    a->execution.generation = a->strategies.generation = UINT64_MAX; /* never looked up */
    const journal_arg *ja = arg;
    if (ja->node != NULL) return raft_init(ctx, a, ja);
    a->journal = ja->journal; /* the spawner lends it for the actor's life */
    TK_ASSERT(a->journal != NULL);
    tk_err err = clu_journal_subscribe(a->journal, on_commit, a);
    if (err == TK_OK) err = act_register(a->sys, LED_JOURNAL_NAME, a->self);
    return err;
}

static tk_err journal_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    journal_actor *a = state;
    switch (msg->type) {
    case LED_MSG_PROPOSE:
        return on_propose(ctx, a, msg);
    case LED_MSG_PROPOSE_PACED:
        return on_propose_paced(ctx, a, msg);
    case LED_MSG_ACK:
        return on_ack(ctx, a, msg);
    case CLU_MSG_DRAIN:
        if (a->bridge != NULL) return drain(ctx, a);
        return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
    case CLU_MSG_TICK: {
        if (a->bridge == NULL)
            return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
        tk_err err = drain(ctx, a);
        return err == TK_OK ? schedule_tick(a) : err;
    }
    default: /* a message type, not an enum: anything else is a sender's bug */
        return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
    }
}

static void journal_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    (void)reason;
    journal_actor *a = state;
    for (; a->held_count > 0; a->held_count--) {
        box_release(a->held[a->held_head].box);
        a->held_head = (a->held_head + 1u) % HELD_BARS_MAX;
    }
    if (a->bridge != NULL) {
        clu_node_unlisten(a->node, a->bridge); /* the loop thread lets go of the bridge */
        on_following(a);                       /* the leader's actors go with the journal */
        pthread_mutex_lock(&a->bridge->lock);
        a->bridge->closed = true;
        pthread_mutex_unlock(&a->bridge->lock);
        bridge_release(a->bridge);
        a->bridge = NULL;
    }
    free(a->held_proposals);
    a->held_proposals = NULL;
    free(a->recent_keys);
    a->recent_keys = NULL;
}

static const act_behaviour journal_behaviour = {
    .name = "journal",
    .init = journal_init,
    .handle = journal_handle,
    .terminate = journal_terminate,
};

tk_err clu_journal_actor_spawn(act_system *sys, clu_journal *journal, uint32_t mailbox_capacity,
                               act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && journal != NULL && out_ref != NULL);
    TK_ASSERT(mailbox_capacity >= 2u);
    journal_arg arg = {.journal = journal, .node = NULL, .hooks = NULL};
    act_spawn_opts opts = {.behaviour = &journal_behaviour,
                           .state_size_bytes = sizeof(journal_actor),
                           .arg = &arg,
                           .mailbox_capacity = mailbox_capacity,
                           .link_to = ACT_REF_NONE,
                           .trap_exit = false};
    return act_spawn(sys, &opts, out_ref);
}

tk_err clu_raft_journal_actor_spawn(act_system *sys, clu_node *node, const clu_leader_hooks *hooks,
                                    uint32_t mailbox_capacity, act_ref link_to, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && node != NULL && out_ref != NULL);
    TK_ASSERT(mailbox_capacity >= 2u);
    journal_arg arg = {.journal = NULL, .node = node, .hooks = hooks};
    act_spawn_opts opts = {.behaviour = &journal_behaviour,
                           .state_size_bytes = sizeof(journal_actor),
                           .arg = &arg,
                           .mailbox_capacity = mailbox_capacity,
                           .link_to = link_to,
                           .trap_exit = false};
    return act_spawn(sys, &opts, out_ref);
}
