/* The journal actor: the one place trading actors propose to, and the one that tells them what
 * committed (DESIGN.md, "Modules"; the protocol is in ledger/led.h). It owns a clu_journal
 * while it runs, commits each proposal at once, and publishes every committed event to the
 * "execution" and "strategies" groups, a BarClosed to execution first (docs/strategies.md,
 * "How one bar flows"). It counts publications until they are acknowledged, so that it knows
 * when the whole graph is idle: a proposer may ask to be told, and a paced batch (a backtest's
 * bars) has its next event committed only then. */
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

typedef struct journal_actor {
    clu_journal *journal; /* borrowed from the spawner for the actor's life */
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
    atomic_init(&box->refs, 1u); /* the actor's own, dropped below */
    uint32_t waiting = publish(a, &a->execution, box);
    bool bar = ev->type == LED_EV_BAR_CLOSED;
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

/* Bars execution is done with, oldest first, go to the strategies, who see the account as it
 * is now (after the bar's fills; execution let go of the box: it acknowledged). */
static void release_bars(journal_actor *a)
{
    while (a->held_count > 0 && a->held[a->held_head].waiting == 0) {
        commit_box *box = a->held[a->held_head].box;
        a->held_head = (a->held_head + 1u) % HELD_BARS_MAX;
        a->held_count--;
        box->commit.equity_e8 = led_state_equity(clu_journal_state(a->journal));
        (void)publish(a, &a->strategies, box);
        box_release(box);
    }
}

static bool graph_idle(const journal_actor *a)
{
    return a->outstanding == 0 && a->held_count == 0;
}

/* Commit one event and publish it; *out_index gets its ledger index. An invalid event (the
 * proposer's bug, not the journal's) is logged and refused, and the actor goes on. */
static tk_err commit_one(act_ctx *ctx, journal_actor *a, const led_event *ev, uint64_t *out_index)
{
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
        TK_ASSERT(!a->idle_wanted); /* one pacing proposer at a time */
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
    TK_ASSERT(!a->idle_wanted); /* one pacing proposer at a time */
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

static tk_err journal_init(act_ctx *ctx, void *state, const void *arg)
{
    journal_actor *a = state;
    a->journal = (clu_journal *)arg; /* the spawner lends it for the actor's life */
    a->sys = act_ctx_system(ctx);
    a->self = act_self(ctx);
    a->execution.generation = a->strategies.generation = UINT64_MAX; /* never looked up */
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
    act_spawn_opts opts = {.behaviour = &journal_behaviour,
                           .state_size_bytes = sizeof(journal_actor),
                           .arg = journal,
                           .mailbox_capacity = mailbox_capacity,
                           .link_to = ACT_REF_NONE,
                           .trap_exit = false};
    return act_spawn(sys, &opts, out_ref);
}
