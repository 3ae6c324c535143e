/* The strategy actor: hosts one strategy engine, feeds it the committed events that concern it
 * in log order, and proposes what it asks for. It never sees a venue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strat.h"

#define TAGS_MAX 64u /* order requests proposed and not yet seen committed */

typedef struct strat_state {
    act_named journal; /* the journal, looked up by name when needed */
    strat_actor_opts opts;
    void *engine_state;      /* owned: engine->state_size bytes */
    uint32_t tags[TAGS_MAX]; /* FIFO: the tags of requests in the order they were proposed */
    uint32_t tag_head, tag_count;
    int64_t now_ns;       /* the time of the last committed event seen: proposals carry it */
    uint64_t cause_index; /* the commit being handled, and the intents it caused so far */
    uint32_t cause_seq;
} strat_state;

/* Propose ev to the journal (a heap copy moves with the message), keyed by the strategy, the
 * commit that caused it and its place among that commit's intents: every node's copy of this
 * strategy proposes the same key for the same intent, so that the ledger applies it once
 * whichever node's copy commits (docs/strategies.md, "On a cluster"). */
static tk_err propose(act_ctx *ctx, strat_state *s, led_event *ev)
{
    int n = snprintf(ev->key, sizeof(ev->key), "%s:%llu:%u", s->opts.name,
                     (unsigned long long)s->cause_index, s->cause_seq++);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(ev->key)); /* a name fits LED_NAME_BYTES */
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    return act_send_named_copy(act_ctx_system(ctx), &s->journal, act_self(ctx), LED_MSG_PROPOSE,
                               &flags, sizeof(flags), ev, sizeof(*ev));
}

/* One intent as a proposal; an order request remembers its tag until it is seen committed. */
static tk_err propose_intent(act_ctx *ctx, strat_state *s, const strat_intent *in)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.version = 1;
    ev.ts_ns = s->now_ns;
    if (in->kind == STRAT_CANCEL) {
        ev.type = LED_EV_ORDER_CANCEL_REQUESTED;
        ev.u.order_cancel_requested.order_index = in->order_index;
        return propose(ctx, s, &ev);
    }
    if (s->tag_count == TAGS_MAX) return TK_EFULL;
    ev.type = LED_EV_ORDER_REQUESTED;
    struct led_ev_order_requested *o = &ev.u.order_requested;
    memcpy(o->symbol, s->opts.symbol, sizeof(o->symbol));
    memcpy(o->strategy, s->opts.name, sizeof(o->strategy));
    o->side = in->kind == STRAT_BUY_MARKET ? LED_SIDE_BUY : LED_SIDE_SELL;
    o->kind = in->kind == STRAT_SELL_STOP ? LED_ORDER_STOP : LED_ORDER_MARKET;
    o->qty_e8 = in->qty_e8;
    o->price_e8 = in->kind == STRAT_SELL_STOP ? in->price_e8 : 0;
    o->reduce_only = in->kind != STRAT_BUY_MARKET;
    tk_err err = propose(ctx, s, &ev);
    if (err != TK_OK) return err;
    s->tags[(s->tag_head + s->tag_count++) % TAGS_MAX] = in->tag;
    return TK_OK;
}

/* Our own OrderRequested, committed: the next tag in line learns its fate. */
static void own_request(strat_state *s, const led_commit *c, strat_out *out)
{
    if (c->outcome.duplicate_of != 0) return; /* another node's copy of one already seen */
    if (s->tag_count == 0) { /* proposed before this actor started (a restarted node) */
        TK_LOG(TK_LOG_INFO, "strategy", "an order request from before this start",
               TK_LOG_STR("strategy", s->opts.name), TK_LOG_U64("index", c->index));
        return;
    }
    uint32_t tag = s->tags[s->tag_head];
    s->tag_head = (s->tag_head + 1u) % TAGS_MAX;
    s->tag_count--;
    const strat_engine *e = s->opts.engine;
    if (c->outcome.result == LED_APPLIED) {
        e->on_accepted(s->engine_state, tag, c->index, out);
    } else {
        e->on_rejected(s->engine_state, tag, out);
    }
}

/* Feed the engine what this commit means to it. */
static void dispatch(strat_state *s, const led_commit *c, strat_out *out)
{
    const strat_engine *e = s->opts.engine;
    const led_event *ev = &c->ev;
    switch (ev->type) {
    case LED_EV_BAR_CLOSED: {
        const struct led_ev_bar_closed *b = &ev->u.bar_closed;
        if (c->outcome.result != LED_APPLIED || strcmp(b->symbol, s->opts.symbol) != 0) return;
        strat_bar bar = {.ts_ns = ev->ts_ns,
                         .open_e8 = b->open_e8,
                         .high_e8 = b->high_e8,
                         .low_e8 = b->low_e8,
                         .close_e8 = b->close_e8,
                         .volume_e8 = b->volume_e8};
        e->on_bar(s->engine_state, &bar, c->equity_e8, out);
        return;
    }
    case LED_EV_ORDER_REQUESTED:
        if (strcmp(ev->u.order_requested.strategy, s->opts.name) == 0) own_request(s, c, out);
        return;
    case LED_EV_ORDER_FILLED:
        if (c->outcome.result != LED_APPLIED) return;
        e->on_fill(s->engine_state, ev->u.order_filled.order_index, ev->u.order_filled.qty_e8,
                   ev->u.order_filled.price_e8, !c->order_open, out);
        return;
    case LED_EV_ORDER_CANCELLED:
        if (c->outcome.result == LED_APPLIED)
            e->on_cancelled(s->engine_state, ev->u.order_cancelled.order_index, out);
        return;
    case LED_EV_INSTRUMENT_DEFINED:
    case LED_EV_ORDER_ACKED:
    case LED_EV_ORDER_REJECTED_BY_VENUE:
    case LED_EV_ORDER_CANCEL_REQUESTED:
    case LED_EV_EXTERNAL_ORDER_ADOPTED:
    case LED_EV_RISK_LIMITS_SET:
    case LED_EV_KILL_SWITCH_SET:
    case LED_EV_CIRCUIT_BREAKER_SET:
    case LED_EV_FEED_HEALTH:
    case LED_EV_STRATEGY_ENABLED:
    case LED_EV_BALANCE_ADJUSTED:
    case LED_EV_LEADER_CHANGED:
        return;
    }
}

static tk_err strat_init(act_ctx *ctx, void *state, const void *arg)
{
    strat_state *s = state;
    s->opts = *(const strat_actor_opts *)arg;
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    const strat_engine *e = s->opts.engine;
    TK_ASSERT(e != NULL && e->state_size > 0);
    s->engine_state = calloc(1, e->state_size);
    if (s->engine_state == NULL) return TK_ENOMEM;
    tk_err err = e->init(s->engine_state, s->opts.params, &s->opts.instrument);
    if (err == TK_OK)
        err = act_group_join(act_ctx_system(ctx), LED_GROUP_STRATEGIES, act_self(ctx));
    if (err != TK_OK) {
        free(s->engine_state);
        s->engine_state = NULL;
    }
    return err;
}

static tk_err strat_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    strat_state *s = state;
    if (msg->type != LED_MSG_COMMITTED || msg->ptr == NULL)
        return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
    const led_commit *c = msg->ptr;
    if (c->ev.ts_ns > s->now_ns) s->now_ns = c->ev.ts_ns;
    s->cause_index = c->index;
    s->cause_seq = 0;
    strat_out out = {.count = 0};
    dispatch(s, c, &out);
    tk_err err = TK_OK;
    for (uint32_t i = 0; i < out.count && err == TK_OK; i++)
        err = propose_intent(ctx, s, &out.items[i]);
    if (err != TK_OK)
        return act_fail(ctx, err, "proposing after event %llu", (unsigned long long)c->index);
    /* after the proposals it caused, so that the journal has them first */
    led_ack ack = {.index = c->index, .flags = 0}; /* a strategy wants every bar */
    return act_send_named(act_ctx_system(ctx), &s->journal, act_self(ctx), LED_MSG_ACK, &ack,
                          sizeof(ack), NULL, NULL);
}

static void strat_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    (void)reason;
    strat_state *s = state;
    free(s->engine_state);
    s->engine_state = NULL;
}

static const act_behaviour strat_behaviour = {
    .name = "strategy",
    .init = strat_init,
    .handle = strat_handle,
    .terminate = strat_terminate,
};

tk_err strat_actor_spawn(act_system *sys, const strat_actor_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && opts != NULL && out_ref != NULL);
    if (opts->engine == NULL || opts->mailbox_capacity < 2u || opts->name[0] == '\0' ||
        opts->symbol[0] == '\0')
        return TK_EINVAL;
    act_spawn_opts spawn = {.behaviour = &strat_behaviour,
                            .state_size_bytes = sizeof(strat_state),
                            .arg = opts,
                            .mailbox_capacity = opts->mailbox_capacity,
                            .link_to = opts->link_to,
                            .trap_exit = false};
    return act_spawn(sys, &spawn, out_ref);
}
