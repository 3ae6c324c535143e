/* The paper execution actor: the venue side of a backtest or a paper run. It keeps a paper
 * book of the orders the ledger accepted, matches them against every committed bar, and
 * proposes what the venue would report (fills, cancels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

#define FILLS_PER_BAR_MAX EXEC_BOOK_MAX

typedef struct exec_state {
    act_named journal; /* the journal, looked up by name when needed */
    exec_actor_opts opts;
    exec_book book;
    exec_fill fills[FILLS_PER_BAR_MAX];
} exec_state;

/* Propose ev to the journal (a heap copy moves with the message). */
static tk_err propose(act_ctx *ctx, exec_state *s, const led_event *ev)
{
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    return act_send_named_copy(act_ctx_system(ctx), &s->journal, act_self(ctx), LED_MSG_PROPOSE,
                               &flags, sizeof(flags), ev, sizeof(*ev));
}

static tk_err on_bar(act_ctx *ctx, exec_state *s, const led_commit *c)
{
    const struct led_ev_bar_closed *b = &c->ev.u.bar_closed;
    exec_bar bar = {.open_e8 = b->open_e8,
                    .high_e8 = b->high_e8,
                    .low_e8 = b->low_e8,
                    .close_e8 = b->close_e8,
                    .volume_e8 = b->volume_e8};
    memcpy(bar.symbol, b->symbol, sizeof(bar.symbol));
    uint32_t n = exec_paper_match(&s->opts.venue, &s->book, &bar, s->fills, FILLS_PER_BAR_MAX);
    tk_err err = TK_OK;
    for (uint32_t i = 0; i < n && err == TK_OK; i++) {
        const exec_fill *f = &s->fills[i];
        led_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = LED_EV_ORDER_FILLED;
        ev.version = 1;
        ev.ts_ns = c->ev.ts_ns;
        struct led_ev_order_filled *o = &ev.u.order_filled;
        o->order_index = f->order_index;
        /* one fill per order and bar: the ids (and keys) are the same whichever leader's venue
         * proposes them, so that the ledger takes a fill once */
        snprintf(o->fill_id, sizeof(o->fill_id), "p%llu-%llu", (unsigned long long)f->order_index,
                 (unsigned long long)c->index);
        snprintf(ev.key, sizeof(ev.key), "fill:%s", o->fill_id);
        o->qty_e8 = f->qty_e8;
        o->price_e8 = f->price_e8;
        o->fee_e8 = f->fee_e8;
        memcpy(o->fee_asset, s->opts.fee_asset, sizeof(o->fee_asset));
        o->maker = f->maker;
        err = propose(ctx, s, &ev);
    }
    return err;
}

static tk_err on_accepted(exec_state *s, const led_commit *c)
{
    const struct led_ev_order_requested *r = &c->ev.u.order_requested;
    exec_order o = {.order_index = c->index,
                    .side = r->side,
                    .kind = r->kind,
                    .remaining_e8 = r->qty_e8,
                    .price_e8 = r->price_e8};
    memcpy(o.symbol, r->symbol, sizeof(o.symbol));
    for (uint32_t i = 0; i < s->book.count; i++)
        if (s->book.orders[i].order_index == c->index) return TK_OK; /* seeded from the state */
    return exec_book_add(&s->book, &o); /* EFULL: more resting orders than the paper book holds */
}

/* OrderCancelled for an order taken off the book, stamped ts_ns. */
static tk_err propose_cancelled(act_ctx *ctx, exec_state *s, uint64_t order_index, int64_t ts_ns)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_ORDER_CANCELLED;
    ev.version = 1;
    ev.ts_ns = ts_ns;
    ev.u.order_cancelled.order_index = order_index;
    snprintf(ev.u.order_cancelled.reason, sizeof(ev.u.order_cancelled.reason),
             "cancelled at the paper venue");
    snprintf(ev.key, sizeof(ev.key), "cancel:%llu", (unsigned long long)order_index);
    return propose(ctx, s, &ev);
}

static tk_err on_cancel_requested(act_ctx *ctx, exec_state *s, const led_commit *c)
{
    uint64_t order_index = c->ev.u.order_cancel_requested.order_index;
    if (!exec_book_remove(&s->book, order_index)) return TK_OK; /* filled meanwhile */
    return propose_cancelled(ctx, s, order_index, c->ev.ts_ns);
}

static tk_err on_commit(act_ctx *ctx, exec_state *s, const led_commit *c)
{
    bool applied = c->outcome.result == LED_APPLIED;
    switch (c->ev.type) {
    case LED_EV_BAR_CLOSED:
        return applied ? on_bar(ctx, s, c) : TK_OK;
    case LED_EV_ORDER_REQUESTED:
        return applied ? on_accepted(s, c) : TK_OK;
    case LED_EV_ORDER_CANCEL_REQUESTED:
        return applied ? on_cancel_requested(ctx, s, c) : TK_OK;
    case LED_EV_INSTRUMENT_DEFINED:
    case LED_EV_ORDER_ACKED:
    case LED_EV_ORDER_FILLED:
    case LED_EV_ORDER_REJECTED_BY_VENUE:
    case LED_EV_ORDER_CANCELLED:
    case LED_EV_EXTERNAL_ORDER_ADOPTED:
    case LED_EV_RISK_LIMITS_SET:
    case LED_EV_KILL_SWITCH_SET:
    case LED_EV_CIRCUIT_BREAKER_SET:
    case LED_EV_FEED_HEALTH:
    case LED_EV_STRATEGY_ENABLED:
    case LED_EV_BALANCE_ADJUSTED:
    case LED_EV_LEADER_CHANGED:
        return TK_OK; /* nothing for the paper venue to do */
    }
    return TK_OK;
}

static tk_err exec_init(act_ctx *ctx, void *state, const void *arg)
{
    exec_state *s = state;
    s->opts = *(const exec_actor_opts *)arg;
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    exec_book_init(&s->book);
    TK_ASSERT(s->opts.fee_asset[0] != '\0');
    for (uint32_t i = 0; i < s->opts.resting_count; i++) { /* a new leader's open orders */
        const exec_order *o = &s->opts.resting[i];
        tk_err err = o->cancel_requested ? propose_cancelled(ctx, s, o->order_index, o->ts_ns)
                                         : exec_book_add(&s->book, o);
        if (err != TK_OK) return err;
    }
    s->opts.resting = NULL; /* borrowed for the spawn only */
    s->opts.resting_count = 0;
    return act_group_join(act_ctx_system(ctx), LED_GROUP_EXECUTION, act_self(ctx));
}

static tk_err exec_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    exec_state *s = state;
    if (msg->type != LED_MSG_COMMITTED || msg->ptr == NULL)
        return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
    const led_commit *c = msg->ptr;
    tk_err err = on_commit(ctx, s, c);
    if (err != TK_OK) return act_fail(ctx, err, "order %llu", (unsigned long long)c->index);
    /* after the proposals the event caused, so that the journal has them first */
    led_ack ack = {.index = c->index, .flags = s->book.count == 0 ? LED_ACK_BARS_OFF : 0u};
    return act_send_named(act_ctx_system(ctx), &s->journal, act_self(ctx), LED_MSG_ACK, &ack,
                          sizeof(ack), NULL, NULL);
}

static const act_behaviour exec_behaviour = {
    .name = "execution",
    .init = exec_init,
    .handle = exec_handle,
    .terminate = NULL,
};

tk_err exec_actor_spawn(act_system *sys, const exec_actor_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && opts != NULL && out_ref != NULL);
    const char *why = NULL;
    if (exec_paper_opts_check(&opts->venue, &why) != TK_OK) return TK_EINVAL;
    if (opts->mailbox_capacity < 2u || opts->fee_asset[0] == '\0') return TK_EINVAL;
    act_spawn_opts spawn = {.behaviour = &exec_behaviour,
                            .state_size_bytes = sizeof(exec_state),
                            .arg = opts,
                            .mailbox_capacity = opts->mailbox_capacity,
                            .link_to = opts->link_to,
                            .trap_exit = false};
    return act_spawn(sys, &spawn, out_ref);
}

uint32_t exec_book_from_state(const led_state *state, exec_order *out, uint32_t max)
{
    TK_ASSERT(state != NULL && (out != NULL || max == 0));
    uint32_t count = 0;
    led_order o;
    for (uint64_t after = 0; led_state_order_next(state, after, &o) == TK_OK; after = o.index) {
        if (o.external) continue;
        if (count < max) {
            exec_order *e = &out[count];
            memset(e, 0, sizeof(*e));
            e->order_index = o.index;
            memcpy(e->symbol, o.symbol, sizeof(e->symbol));
            e->side = o.side;
            e->kind = o.kind;
            e->remaining_e8 = o.qty_e8 - o.filled_qty_e8;
            e->price_e8 = o.price_e8;
            e->cancel_requested = o.cancel_requested;
            e->ts_ns = o.ts_ns;
        }
        count++;
    }
    return count;
}
