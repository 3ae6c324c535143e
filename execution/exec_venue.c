/* The Binance venue actor (exec.h; docs/venues.md, "The venue actor"): the leader's link to
 * the venue. It sends each order the ledger accepted, under the client order id derived from
 * its ledger index, and proposes what the venue answers. An answer that did not arrive (the
 * outcome is unknown) is followed by a query by client order id, never by a blind resend. On
 * start it reconciles: every order the ledger holds open is queried and brought in line, and
 * orders the venue holds under troika's prefix that the ledger does not know are adopted. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"

#define VENUE_ORDERS_MAX 256u /* orders tracked at once */
#define TICK_MS          100u
#define RETRY_MS         500u /* after a failed query or cancel */
#define SENDS_MAX        3u   /* a new order not at the venue is sent at most this often */
#define OPEN_ORDERS_MAX  256u /* the venue's open orders read at reconciliation */

enum { MSG_TICK = EXEC_MSG_BASE + 1u, MSG_RECONCILE };

/* What a request was for, in the low bits of its tag (the order's slot above them). */
enum { REQ_NEW, REQ_QUERY, REQ_TRADES, REQ_CANCEL, REQ_OPEN_ORDERS, REQ_TIME, REQ_KINDS };

typedef enum step {
    STEP_FREE = 0,
    STEP_RECONCILE, /* open in the ledger at start: to be queried */
    STEP_WAIT,      /* accepted, to be sent once reconciliation is done */
    STEP_STOP,      /* a stop order: held here until a bar reaches its trigger */
    STEP_SENDING,   /* new order request in flight */
    STEP_QUERYING,  /* query (or trades) in flight, or due at retry_at */
    STEP_OPEN,      /* at the venue, not terminal: polled */
    STEP_CANCELLING /* cancel in flight */
} step;

typedef struct tracked {
    step step;
    led_order o; /* the ledger's view, kept up to date from commits */
    char cid[LED_ID_BYTES];
    uint32_t sends;     /* new order requests made */
    bool lost;          /* a new order's outcome is unknown: a query that finds nothing resends */
    bool cancel_wanted; /* a cancel committed while a request was in flight */
    /* A stop the last leader held (open, never acked at this leader's start): that leader may
     * have fired it before it stepped down, so it is queried like any other order before it is
     * held here again, cancelled or sent (found by the chaos harness: a leader paused past the
     * election fired a stop the new leader had already recorded as cancelled unsent). */
    bool held_stop;
    bool triggered;           /* a bar reached its trigger while it was being reconciled */
    bool busy;                /* a request is in flight */
    uint64_t retry_at;        /* mono ns: when to query again (STEP_QUERYING without busy) */
    exec_binance_order venue; /* the last order answer, for the trades that complete it */
} tracked;

/* What the actor counts, for its log lines. */
typedef struct venue_counts {
    uint64_t sent, queries, fills, rejected, unknown_outcomes, mismatches, adopted, ticks;
    int64_t time_sent_ms; /* when the server time was asked */
} venue_counts;

#define EXTERNAL_MAX 64u /* adopted orders open at start, whose ids are not adopted again */

typedef struct venue_state {
    act_named journal;
    exec_venue_opts opts;
    act_system *sys;
    act_ref self;
    tracked orders[VENUE_ORDERS_MAX];
    bool reconciled; /* the start's queries are all answered and the open orders adopted */
    bool adopting;   /* the open orders request is in flight */
    venue_counts stats;
    char external[EXTERNAL_MAX][LED_ID_BYTES]; /* client order ids of adopted orders */
    uint32_t external_count;
} venue_state;

static int64_t wall_ms(const venue_state *s)
{
    return tk_clock_wall_ns(s->opts.clock) / 1000000;
}

static uint64_t mono_ns(const venue_state *s)
{
    return tk_clock_mono_ns(s->opts.clock);
}

static tk_err propose(venue_state *s, led_event *ev, const char *key)
{
    snprintf(ev->key, sizeof(ev->key), "%s", key);
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    return act_send_named_copy(s->sys, &s->journal, s->self, LED_MSG_PROPOSE, &flags, sizeof(flags),
                               ev, sizeof(*ev));
}

/* Each event keyed by what it is about: the same key on whichever leader proposes it. */
static tk_err propose_all(venue_state *s, led_event *events, size_t count)
{
    tk_err err = TK_OK;
    for (size_t i = 0; i < count && err == TK_OK; i++) {
        led_event *ev = &events[i];
        char key[LED_KEY_BYTES];
        uint64_t order = led_event_order_index(ev);
        if (ev->type == LED_EV_ORDER_ACKED) {
            snprintf(key, sizeof(key), "ack:%llu", (unsigned long long)order);
        } else if (ev->type == LED_EV_ORDER_FILLED) {
            snprintf(key, sizeof(key), "fill:%s", ev->u.order_filled.fill_id);
            s->stats.fills++;
        } else if (ev->type == LED_EV_ORDER_CANCELLED) {
            snprintf(key, sizeof(key), "cancel:%llu", (unsigned long long)order);
        } else {
            TK_ASSERT(ev->type == LED_EV_ORDER_REJECTED_BY_VENUE); /* the planner's four */
            snprintf(key, sizeof(key), "vreject:%llu", (unsigned long long)order);
            s->stats.rejected++;
        }
        err = propose(s, ev, key);
    }
    return err;
}

static tracked *find(venue_state *s, uint64_t order_index)
{
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX; i++)
        if (s->orders[i].step != STEP_FREE && s->orders[i].o.index == order_index)
            return &s->orders[i];
    return NULL;
}

static tracked *track(venue_state *s, const led_order *o, step st)
{
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX; i++) {
        tracked *t = &s->orders[i];
        if (t->step != STEP_FREE) continue;
        memset(t, 0, sizeof(*t));
        t->step = st;
        t->o = *o;
        if (exec_client_order_id(s->opts.prefix, o->index, t->cid) != TK_OK) return NULL;
        return t;
    }
    return NULL;
}

static uint64_t tag_of(const venue_state *s, const tracked *t, unsigned kind)
{
    uint64_t slot = t != NULL ? (uint64_t)(t - s->orders) + 1u : 0u;
    return slot * REQ_KINDS + kind;
}

/* A zeroed request on the heap: the HTTP service takes requests by pointer and frees them. */
static net_request *request_new(void)
{
    return calloc(1, sizeof(net_request));
}

/* Hand req (moved in) to the HTTP service; the answer comes back as NET_MSG_RESPONSE. */
static tk_err send_request(venue_state *s, tracked *t, unsigned kind, net_request *req)
{
    if (req == NULL) return TK_ENOMEM;
    req->tag = tag_of(s, t, kind);
    if (t != NULL) t->busy = true;
    tk_err err = net_http_send(s->opts.http, s->self, req);
    if (err != TK_OK && t != NULL) t->busy = false;
    return err;
}

/* The order went wrong in a way troika cannot send it: OrderRejectedByVenue with why. */
static tk_err reject(venue_state *s, tracked *t, int64_t code, const char *why)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_ORDER_REJECTED_BY_VENUE;
    ev.version = 1;
    ev.ts_ns = tk_clock_wall_ns(s->opts.clock);
    ev.u.order_rejected_by_venue.order_index = t->o.index;
    ev.u.order_rejected_by_venue.code = code;
    snprintf(ev.u.order_rejected_by_venue.message, LED_TEXT_BYTES, "%.*s", (int)LED_TEXT_BYTES - 1,
             why);
    t->step = STEP_FREE;
    return propose_all(s, &ev, 1);
}

/* Only the leader may send anything to the venue (docs/venues.md, "Fencing"). */
static bool may_send(const venue_state *s)
{
    return s->opts.leading == NULL || atomic_load_explicit(s->opts.leading, memory_order_acquire);
}

static tk_err send_new(venue_state *s, tracked *t)
{
    if (!may_send(s)) return TK_OK;
    if (t->sends >= SENDS_MAX)
        return reject(s, t, -1, "the venue did not take the order after 3 sends");
    exec_binance_order_args a = {.symbol = t->o.symbol,
                                 .client_order_id = t->cid,
                                 .side = t->o.side,
                                 .kind = t->o.kind == LED_ORDER_LIMIT ? LED_ORDER_LIMIT
                                                                      : LED_ORDER_MARKET,
                                 .qty_e8 = t->o.qty_e8 - t->o.filled_qty_e8,
                                 .price_e8 = t->o.kind == LED_ORDER_LIMIT ? t->o.price_e8 : 0};
    net_request *req = request_new();
    char why[160];
    if (req == NULL) return TK_ENOMEM;
    if (exec_binance_new_order(&s->opts.venue, &a, wall_ms(s), req, why, sizeof(why)) != TK_OK) {
        net_request_free(req);
        return reject(s, t, -1, why);
    }
    t->sends++;
    t->step = STEP_SENDING;
    s->stats.sent++;
    return send_request(s, t, REQ_NEW, req);
}

static tk_err send_query(venue_state *s, tracked *t)
{
    if (!may_send(s)) return TK_OK;
    net_request *req = request_new();
    char why[160];
    if (req == NULL) return TK_ENOMEM;
    tk_err err =
        exec_binance_query(&s->opts.venue, t->o.symbol, t->cid, wall_ms(s), req, why, sizeof(why));
    if (err != TK_OK) {
        net_request_free(req);
        return reject(s, t, -1, why);
    }
    s->stats.queries++;
    return send_request(s, t, REQ_QUERY, req);
}

static tk_err send_cancel(venue_state *s, tracked *t)
{
    if (!may_send(s)) return TK_OK;
    net_request *req = request_new();
    char why[160];
    if (req == NULL) return TK_ENOMEM;
    tk_err err =
        exec_binance_cancel(&s->opts.venue, t->o.symbol, t->cid, wall_ms(s), req, why, sizeof(why));
    if (err != TK_OK) {
        net_request_free(req);
        return reject(s, t, -1, why);
    }
    t->step = STEP_CANCELLING;
    return send_request(s, t, REQ_CANCEL, req);
}

/* Query again after RETRY_MS. */
static void query_later(venue_state *s, tracked *t)
{
    t->step = STEP_QUERYING;
    t->retry_at = mono_ns(s) + (uint64_t)RETRY_MS * 1000000u;
}

/* The venue's word on t (venue NULL: it has no such order): the planner's events, then what
 * is left to do. */
static tk_err settle_order(venue_state *s, tracked *t, const exec_binance_order *venue)
{
    led_event events[EXEC_RECONCILE_EVENTS_MAX];
    size_t count = 0;
    char why[LED_TEXT_BYTES];
    tk_err err = exec_reconcile_order(&t->o, venue, tk_clock_wall_ns(s->opts.clock), events, &count,
                                      why, sizeof(why));
    if (err != TK_OK) { /* the venue's order does not fit the ledger's: a person decides */
        TK_LOG(TK_LOG_ERROR, "venue", "order does not reconcile; left for a person",
               TK_LOG_STR("why", why));
        s->stats.mismatches++;
        t->step = STEP_FREE;
        return TK_OK;
    }
    err = propose_all(s, events, count);
    bool terminal = venue == NULL || venue->status == EXEC_BINANCE_FILLED ||
                    venue->status == EXEC_BINANCE_CANCELED ||
                    venue->status == EXEC_BINANCE_EXPIRED || venue->status == EXEC_BINANCE_REJECTED;
    int64_t listed = 0;
    for (uint32_t i = 0; venue != NULL && i < venue->fill_count; i++)
        listed += venue->fills[i].qty_e8;
    if (terminal && venue != NULL && listed < venue->executed_qty_e8) {
        query_later(s, t); /* myTrades lags the order's status: the missing fills come later */
        return err;
    }
    if (terminal) {
        t->step = STEP_FREE;
    } else {
        t->step = STEP_OPEN;
        snprintf(t->o.venue_order_id, LED_ID_BYTES, "%s", venue->venue_order_id);
        if (t->cancel_wanted && err == TK_OK) err = send_cancel(s, t);
    }
    return err;
}

/* An order answer: complete its fills from myTrades when the answer lists fewer than were
 * executed (a query lists none), else settle. */
static tk_err on_order(venue_state *s, tracked *t, const exec_binance_order *venue)
{
    int64_t listed = 0;
    for (uint32_t i = 0; i < venue->fill_count; i++)
        listed += venue->fills[i].qty_e8;
    if (listed < venue->executed_qty_e8 && may_send(s)) {
        t->venue = *venue;
        net_request *req = request_new();
        char why[160];
        if (req == NULL) return TK_ENOMEM;
        tk_err err = exec_binance_trades(&s->opts.venue, venue->symbol, venue->venue_order_id,
                                         wall_ms(s), req, why, sizeof(why));
        if (err == TK_OK) return send_request(s, t, REQ_TRADES, req);
        net_request_free(req);
    }
    return settle_order(s, t, venue);
}

static void log_venue_error(const char *what, tk_err err, const exec_binance_error *e)
{
    TK_LOG(TK_LOG_WARN, "venue", what, TK_LOG_ERR("err", err), TK_LOG_I64("status", e->status),
           TK_LOG_I64("code", e->code), TK_LOG_STR("msg", e->msg));
}

static tk_err on_new_answer(venue_state *s, tracked *t, const net_response *resp)
{
    exec_binance_order venue;
    exec_binance_error e = {0};
    tk_err err = exec_binance_parse_order(resp, &venue, &e);
    if (err == TK_OK) return on_order(s, t, &venue);
    if (err == TK_EPERM) return reject(s, t, e.code, e.msg);
    /* the outcome is unknown (no answer, 5xx, a duplicate id, a wait): ask before anything */
    log_venue_error("new order: outcome unknown; querying", err, &e);
    s->stats.unknown_outcomes++;
    t->lost = err != TK_EEXIST;
    if (err == TK_EAGAIN) {
        query_later(s, t);
        return TK_OK;
    }
    t->step = STEP_QUERYING;
    return send_query(s, t);
}

/* OrderCancelled for an order that never left this actor. */
static tk_err cancel_unsent(venue_state *s, tracked *t, int64_t ts_ns)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_ORDER_CANCELLED;
    ev.version = 1;
    ev.ts_ns = ts_ns;
    ev.u.order_cancelled.order_index = t->o.index;
    snprintf(ev.u.order_cancelled.reason, LED_TEXT_BYTES, "cancelled before it was sent");
    t->step = STEP_FREE;
    return propose_all(s, &ev, 1);
}

/* A stop the last leader held is not at the venue: it was never fired. Held here from now on,
 * or cancelled, or sent (at the next tick, once reconciled) if a bar reached it meanwhile. */
static tk_err stop_unsent(venue_state *s, tracked *t)
{
    t->held_stop = false;
    if (t->cancel_wanted) return cancel_unsent(s, t, tk_clock_wall_ns(s->opts.clock));
    t->step = t->triggered ? STEP_WAIT : STEP_STOP;
    return TK_OK;
}

static tk_err on_query_answer(venue_state *s, tracked *t, const net_response *resp)
{
    exec_binance_order venue;
    exec_binance_error e = {0};
    tk_err err = exec_binance_parse_order(resp, &venue, &e);
    if (err == TK_OK) return on_order(s, t, &venue);
    if (err == TK_ENOENT && t->step == STEP_RECONCILE && t->held_stop) return stop_unsent(s, t);
    if (err == TK_ENOENT && t->step == STEP_RECONCILE) return settle_order(s, t, NULL);
    if (err == TK_ENOENT && t->lost) return send_new(s, t); /* it never reached the venue */
    if (err == TK_ENOENT) return settle_order(s, t, NULL);
    log_venue_error("query failed; again later", err, &e);
    query_later(s, t);
    return TK_OK;
}

static tk_err on_trades_answer(venue_state *s, tracked *t, const net_response *resp)
{
    exec_binance_error e = {0};
    tk_err err = exec_binance_parse_trades(resp, &t->venue, &e);
    if (err == TK_OK) return settle_order(s, t, &t->venue);
    log_venue_error("trades failed; querying again later", err, &e);
    query_later(s, t);
    return TK_OK;
}

static tk_err on_cancel_answer(venue_state *s, tracked *t, const net_response *resp)
{
    exec_binance_order venue;
    exec_binance_error e = {0};
    tk_err err = exec_binance_parse_order(resp, &venue, &e);
    t->cancel_wanted = err != TK_OK; /* not answered: cancel again if the query finds it open */
    if (err == TK_OK) return on_order(s, t, &venue);
    log_venue_error("cancel: querying the order", err, &e);
    if (err == TK_EAGAIN) { /* the venue asked to wait */
        query_later(s, t);
        return TK_OK;
    }
    t->step = STEP_QUERYING;
    return send_query(s, t); /* filled meanwhile, or the answer was lost */
}

static bool is_external(const venue_state *s, const char *client_order_id)
{
    for (uint32_t i = 0; i < s->external_count; i++)
        if (strcmp(s->external[i], client_order_id) == 0) return true;
    return false;
}

/* Orders the venue holds under our prefix that nothing here tracks: adopted (reported). */
static tk_err on_open_orders(venue_state *s, const net_response *resp)
{
    s->adopting = false;
    exec_binance_order *open = malloc(OPEN_ORDERS_MAX * sizeof(*open)); /* once a leadership */
    if (open == NULL) return TK_ENOMEM;
    size_t count = 0;
    exec_binance_error e = {0};
    tk_err got = exec_binance_parse_open_orders(resp, open, OPEN_ORDERS_MAX, &count, &e);
    if (got != TK_OK && got != TK_EFULL) {
        free(open);
        log_venue_error("open orders: no answer; asking again", got, &e);
        return TK_OK; /* the tick asks again */
    }
    if (got == TK_EFULL) log_venue_error("open orders: the first ones only", got, &e);
    tk_err err = TK_OK;
    for (size_t i = 0; i < count && err == TK_OK; i++) {
        const exec_binance_order *venue = &open[i];
        uint64_t index = 0;
        led_event ev;
        if (!exec_client_order_index(s->opts.prefix, venue->client_order_id, &index) ||
            find(s, index) != NULL || is_external(s, venue->client_order_id) ||
            exec_reconcile_adopt(venue, tk_clock_wall_ns(s->opts.clock), &ev) != TK_OK)
            continue; /* not ours, tracked, adopted before, or not an order the ledger holds */
        char key[LED_KEY_BYTES];
        snprintf(key, sizeof(key), "adopt:%s", venue->client_order_id);
        TK_LOG(TK_LOG_WARN, "venue", "an order at the venue the ledger lacks: adopted",
               TK_LOG_STR("client_order_id", venue->client_order_id),
               TK_LOG_STR("symbol", venue->symbol));
        s->stats.adopted++;
        err = propose(s, &ev, key);
    }
    free(open);
    if (err == TK_OK) {
        s->reconciled = true;
        TK_LOG(TK_LOG_INFO, "venue", "reconciled", TK_LOG_U64("adopted", s->stats.adopted));
    }
    return err;
}

static tk_err on_time(venue_state *s, const net_response *resp)
{
    int64_t offset = 0;
    int64_t now = wall_ms(s);
    if (exec_binance_time_offset(resp, s->stats.time_sent_ms, now, &offset) == TK_OK) {
        s->opts.venue.time_offset_ms = offset;
        TK_LOG(TK_LOG_INFO, "venue", "server time offset", TK_LOG_I64("offset_ms", offset));
    }
    return TK_OK;
}

static tk_err on_response(venue_state *s, act_msg *msg)
{
    const net_response *resp = msg->ptr;
    if (resp == NULL) return TK_EINVAL;
    uint64_t slot = resp->tag / REQ_KINDS;
    unsigned kind = (unsigned)(resp->tag % REQ_KINDS);
    if (kind == REQ_TIME) return on_time(s, resp);
    if (kind == REQ_OPEN_ORDERS) return on_open_orders(s, resp);
    if (slot == 0 || slot > VENUE_ORDERS_MAX) return TK_OK; /* not ours: dropped */
    tracked *t = &s->orders[slot - 1u];
    if (t->step == STEP_FREE) return TK_OK;
    t->busy = false;
    switch (kind) {
    case REQ_NEW:
        return on_new_answer(s, t, resp);
    case REQ_QUERY:
        return on_query_answer(s, t, resp);
    case REQ_TRADES:
        return on_trades_answer(s, t, resp);
    case REQ_CANCEL:
        return on_cancel_answer(s, t, resp);
    default:
        return TK_OK;
    }
}

/* Reconciliation's second half, once every start order is answered: the open orders. */
static tk_err maybe_adopt(venue_state *s)
{
    if (s->reconciled || s->adopting || !may_send(s)) return TK_OK;
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX; i++)
        if (s->orders[i].step == STEP_RECONCILE) return TK_OK;
    net_request *req = request_new();
    char why[160];
    if (req == NULL) return TK_ENOMEM;
    tk_err err = exec_binance_open_orders(&s->opts.venue, NULL, wall_ms(s), req, why, sizeof(why));
    if (err != TK_OK) {
        net_request_free(req);
        return err;
    }
    s->adopting = true;
    return send_request(s, NULL, REQ_OPEN_ORDERS, req);
}

static tk_err on_tick(venue_state *s)
{
    uint64_t now = mono_ns(s);
    tk_err err = TK_OK;
    bool poll = s->stats.ticks++ % ((s->opts.poll_ms + TICK_MS - 1u) / TICK_MS) == 0;
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX && err == TK_OK; i++) {
        tracked *t = &s->orders[i];
        if (t->busy) continue;
        if (t->step == STEP_QUERYING && now >= t->retry_at)
            err = send_query(s, t);
        else if (t->step == STEP_OPEN && poll)
            err = send_query(s, t);
        else if (t->step == STEP_WAIT && s->reconciled)
            err = send_new(s, t);
    }
    if (err == TK_OK) err = maybe_adopt(s);
    if (err != TK_OK) return err;
    act_msg *msg = act_msg_alloc(s->sys);
    if (msg == NULL) return TK_EFULL;
    msg->type = MSG_TICK;
    msg->sender = s->self;
    err = act_send_after(s->sys, TICK_MS, s->self, msg, NULL);
    if (err != TK_OK) act_msg_free(s->sys, msg);
    return err;
}

/* The fence's delay is over: query every order the ledger held open at start. */
static tk_err on_reconcile(venue_state *s)
{
    tk_err err = TK_OK;
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX && err == TK_OK; i++)
        if (s->orders[i].step == STEP_RECONCILE) err = send_query(s, &s->orders[i]);
    if (err == TK_OK) err = maybe_adopt(s);
    return err == TK_OK ? on_tick(s) : err;
}

/* ---- Commits -------------------------------------------------------------------------------- */

static tk_err on_accepted(venue_state *s, const led_commit *c)
{
    const struct led_ev_order_requested *r = &c->ev.u.order_requested;
    if (find(s, c->index) != NULL) return TK_OK; /* seeded from the state already */
    led_order o;
    memset(&o, 0, sizeof(o));
    o.index = c->index;
    o.ts_ns = c->ev.ts_ns;
    memcpy(o.symbol, r->symbol, sizeof(o.symbol));
    o.side = r->side;
    o.kind = r->kind;
    o.qty_e8 = r->qty_e8;
    o.price_e8 = r->price_e8;
    tracked *t = track(s, &o, r->kind == LED_ORDER_STOP ? STEP_STOP : STEP_WAIT);
    if (t == NULL) {
        TK_LOG(TK_LOG_ERROR, "venue", "too many orders in flight: this one is rejected",
               TK_LOG_U64("order", c->index));
        tracked tmp = {.o = o};
        return reject(s, &tmp, -1, "the venue actor tracks too many orders");
    }
    if (t->step == STEP_WAIT && s->reconciled) return send_new(s, t);
    return TK_OK;
}

/* A bar: stop orders it reaches go to the venue as market orders (Binance spot has no plain
 * stop order; docs/venues.md, "Stops"). */
static tk_err on_bar(venue_state *s, const led_commit *c)
{
    const struct led_ev_bar_closed *b = &c->ev.u.bar_closed;
    tk_err err = TK_OK;
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX && err == TK_OK; i++) {
        tracked *t = &s->orders[i];
        bool held = t->step == STEP_STOP || (t->held_stop && t->step == STEP_RECONCILE);
        if (!held || strcmp(t->o.symbol, b->symbol) != 0) continue;
        bool hit =
            t->o.side == LED_SIDE_SELL ? b->low_e8 <= t->o.price_e8 : b->high_e8 >= t->o.price_e8;
        if (!hit) continue;
        if (t->step == STEP_RECONCILE) { /* the query decides first */
            t->triggered = true;
            continue;
        }
        t->step = STEP_WAIT;
        if (s->reconciled) err = send_new(s, t);
    }
    return err;
}

static tk_err on_cancel_requested(venue_state *s, const led_commit *c)
{
    tracked *t = find(s, c->ev.u.order_cancel_requested.order_index);
    if (t == NULL) return TK_OK;
    if (t->step == STEP_STOP || t->step == STEP_WAIT) /* never sent: cancelled here */
        return cancel_unsent(s, t, c->ev.ts_ns);
    if (t->step == STEP_OPEN && !t->busy) return send_cancel(s, t);
    t->cancel_wanted = true; /* after the request in flight */
    return TK_OK;
}

/* Keep the ledger's view of a tracked order current; forget it once it is terminal. */
static void on_order_event(venue_state *s, const led_commit *c)
{
    tracked *t = find(s, led_event_order_index(&c->ev));
    if (t == NULL || c->outcome.result != LED_APPLIED) return;
    if (c->ev.type == LED_EV_ORDER_FILLED) t->o.filled_qty_e8 += c->ev.u.order_filled.qty_e8;
    if (c->ev.type == LED_EV_ORDER_ACKED)
        snprintf(t->o.venue_order_id, LED_ID_BYTES, "%s", c->ev.u.order_acked.venue_order_id);
    if (!c->order_open && !t->busy) t->step = STEP_FREE;
}

static tk_err on_commit(venue_state *s, const led_commit *c)
{
    bool applied = c->outcome.result == LED_APPLIED;
    led_event_type type = c->ev.type;
    if (type == LED_EV_ORDER_REQUESTED) return applied ? on_accepted(s, c) : TK_OK;
    if (type == LED_EV_BAR_CLOSED) return applied ? on_bar(s, c) : TK_OK;
    if (type == LED_EV_ORDER_CANCEL_REQUESTED) return applied ? on_cancel_requested(s, c) : TK_OK;
    if (type == LED_EV_ORDER_ACKED || type == LED_EV_ORDER_FILLED ||
        type == LED_EV_ORDER_REJECTED_BY_VENUE || type == LED_EV_ORDER_CANCELLED)
        on_order_event(s, c);
    return TK_OK; /* nothing else concerns the venue */
}

static bool holds_stops(const venue_state *s)
{
    for (uint32_t i = 0; i < VENUE_ORDERS_MAX; i++)
        if (s->orders[i].step == STEP_STOP || s->orders[i].held_stop) return true;
    return false;
}

/* ---- The actor ------------------------------------------------------------------------------ */

static tk_err venue_init(act_ctx *ctx, void *state, const void *arg)
{
    venue_state *s = state;
    s->opts = *(const exec_venue_opts *)arg;
    s->sys = act_ctx_system(ctx);
    s->self = act_self(ctx);
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    for (uint32_t i = 0; i < s->opts.open_count; i++) {
        const led_order *o = &s->opts.open[i];
        if (o->external) { /* adopted: not ours to send or settle, nor to adopt again */
            if (s->external_count < EXTERNAL_MAX)
                memcpy(s->external[s->external_count++], o->client_order_id, LED_ID_BYTES);
            continue;
        }
        tracked *t = track(s, o, STEP_RECONCILE);
        if (t == NULL) return TK_EFULL;
        t->held_stop = o->kind == LED_ORDER_STOP && o->venue_order_id[0] == '\0';
    }
    s->opts.open = NULL; /* borrowed for the spawn only */
    s->opts.open_count = 0;
    net_request *req = request_new();
    if (req == NULL) return TK_ENOMEM;
    net_request_init(req);
    int n = snprintf(req->url, sizeof(req->url), "%s/api/v3/time", s->opts.venue.base_url);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(req->url)); /* checked by exec_venue_spawn */
    req->idempotent = true;
    s->stats.time_sent_ms = wall_ms(s);
    tk_err err = send_request(s, NULL, REQ_TIME, req);
    if (err == TK_OK) err = act_group_join(s->sys, LED_GROUP_EXECUTION, s->self);
    act_msg *msg = err == TK_OK ? act_msg_alloc(s->sys) : NULL;
    if (err == TK_OK && msg == NULL) err = TK_EFULL;
    if (err != TK_OK) return err;
    msg->type = MSG_RECONCILE;
    msg->sender = s->self;
    err = act_send_after(s->sys, s->opts.reconcile_delay_ms, s->self, msg, NULL);
    if (err != TK_OK) act_msg_free(s->sys, msg);
    return err;
}

static tk_err venue_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    venue_state *s = state;
    tk_err err = TK_OK;
    switch (msg->type) {
    case LED_MSG_COMMITTED: {
        const led_commit *c = msg->ptr;
        if (c == NULL) return act_fail(ctx, TK_EINVAL, "a commit without its event");
        err = on_commit(s, c);
        if (err != TK_OK) return act_fail(ctx, err, "order %llu", (unsigned long long)c->index);
        led_ack ack = {.index = c->index, .flags = holds_stops(s) ? 0u : LED_ACK_BARS_OFF};
        return act_send_named(s->sys, &s->journal, s->self, LED_MSG_ACK, &ack, sizeof(ack), NULL,
                              NULL);
    }
    case NET_MSG_RESPONSE:
        err = on_response(s, msg);
        break;
    case MSG_TICK:
        err = on_tick(s);
        break;
    case MSG_RECONCILE:
        err = on_reconcile(s);
        break;
    default:
        return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
    }
    if (err != TK_OK) return act_fail(ctx, err, "venue");
    return TK_OK;
}

static const act_behaviour venue_behaviour = {
    .name = "venue",
    .init = venue_init,
    .handle = venue_handle,
    .terminate = NULL,
};

tk_err exec_venue_spawn(act_system *sys, const exec_venue_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && opts != NULL && out_ref != NULL);
    char probe[LED_ID_BYTES];
    if (opts->http == NULL || opts->clock == NULL || opts->mailbox_capacity < 2u ||
        opts->venue.base_url[0] == '\0' || strlen(opts->venue.base_url) > 200u ||
        exec_client_order_id(opts->prefix, 1, probe) != TK_OK || opts->poll_ms < TICK_MS ||
        (opts->open_count > 0 && opts->open == NULL))
        return TK_EINVAL;
    act_spawn_opts spawn = {.behaviour = &venue_behaviour,
                            .state_size_bytes = sizeof(venue_state),
                            .arg = opts,
                            .mailbox_capacity = opts->mailbox_capacity,
                            .link_to = opts->link_to,
                            .trap_exit = false};
    return act_spawn(sys, &spawn, out_ref);
}
