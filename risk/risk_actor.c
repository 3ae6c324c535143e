/* The risk monitor actor: feeds the watch (risk_watch.c) with what the journal commits and with
 * its own clock ticks, proposes what the watch asks for, acknowledges every commit, and sends
 * every committed KillSwitchSet and CircuitBreakerSet to the webhook. It runs on the Raft
 * leader only (DESIGN.md, principle 5); a restart starts it again from the state. */
#include <stdlib.h>
#include <string.h>

#include "risk.h"

#define LOG_MODULE        "risk"
#define CHAT_ID_BYTES     128u /* a Telegram chat id ("-1001234567890" or "@channel"), NUL */
#define TICK_MS_MIN       10u
#define TICK_MS_MAX       1000u
#define MAILBOX_MIN       4u
#define JSON_CONTENT_TYPE "application/json"

typedef struct risk_state {
    act_named journal;           /* the journal, looked up by name when needed */
    risk_watch *watch;           /* owned */
    const tk_clock *clock;       /* borrowed: outlives the actor */
    net_http *http;              /* borrowed: outlives the actor; NULL without a webhook */
    char url[NET_URL_BYTES];     /* "" without a webhook; never logged (it may hold a token) */
    char chat_id[CHAT_ID_BYTES]; /* copied */
    uint32_t tick_ms;            /* 0: no staleness timer */
    uint32_t alerts_inflight;    /* POSTs sent whose response has not come back */
    uint64_t alerts_sent, alerts_failed, alerts_dropped;
    risk_actions actions; /* scratch: what the watch asks for */
} risk_state;

/* Propose every event of s->actions to the journal (a heap copy moves with each message). */
static tk_err propose_actions(act_ctx *ctx, risk_state *s)
{
    TK_ASSERT(s->actions.count <= RISK_ACTIONS_MAX);
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    for (uint32_t i = 0; i < s->actions.count; i++) {
        const led_event *ev = &s->actions.events[i];
        TK_ASSERT(ev->type == LED_EV_KILL_SWITCH_SET || ev->type == LED_EV_CIRCUIT_BREAKER_SET);
        const char *reason = ev->type == LED_EV_KILL_SWITCH_SET ? ev->u.kill_switch_set.reason
                                                                : ev->u.circuit_breaker_set.reason;
        TK_LOG(TK_LOG_WARN, LOG_MODULE, "proposing",
               TK_LOG_STR("event", led_event_type_name(ev->type)), TK_LOG_STR("reason", reason));
        tk_err err = act_send_named_copy(act_ctx_system(ctx), &s->journal, act_self(ctx),
                                         LED_MSG_PROPOSE, &flags, sizeof(flags), ev, sizeof(*ev));
        if (err != TK_OK)
            return act_fail(ctx, err, "proposing %s to the journal", led_event_type_name(ev->type));
    }
    return TK_OK;
}

/* Send the alert for c, if it raises one. Never fails the actor: an alert that cannot go is
 * logged and dropped (the ledger has the event; the alert is a courtesy). */
static void alert_send(act_ctx *ctx, risk_state *s, const led_commit *c)
{
    if (s->url[0] == '\0') return;
    char text[RISK_ALERT_TEXT_BYTES];
    if (!risk_alert_text(c, text, sizeof(text))) return;
    TK_ASSERT(s->http != NULL);
    if (s->alerts_inflight >= RISK_ALERTS_INFLIGHT_MAX) {
        s->alerts_dropped++;
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "alert dropped: too many in flight",
               TK_LOG_U64("index", c->index), TK_LOG_STR("text", text));
        return;
    }
    char *body = NULL;
    tk_err err = risk_webhook_body(s->chat_id, text, &body);
    net_request *req = err == TK_OK ? malloc(sizeof(*req)) : NULL;
    if (req == NULL) {
        free(body);
        s->alerts_dropped++;
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "alert dropped: no memory for the request",
               TK_LOG_U64("index", c->index), TK_LOG_STR("err", tk_err_name(err)));
        return;
    }
    net_request_init(req);
    req->method = NET_POST;
    memcpy(req->url, s->url, sizeof(req->url));
    req->content_type = JSON_CONTENT_TYPE;
    req->body = body; /* moved into the request */
    req->body_size = strlen(body);
    req->idempotent = true; /* a repeated alert is harmless */
    req->tag = c->index;
    err = net_http_send(s->http, act_self(ctx), req); /* req moved in, on every return */
    if (err != TK_OK) {
        s->alerts_dropped++;
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "alert dropped: the HTTP service refused it",
               TK_LOG_U64("index", c->index), TK_LOG_STR("err", tk_err_name(err)));
        return;
    }
    s->alerts_inflight++;
    s->alerts_sent++;
    TK_LOG(TK_LOG_INFO, LOG_MODULE, "alert sent", TK_LOG_U64("index", c->index),
           TK_LOG_STR("text", text));
}

static tk_err on_commit(act_ctx *ctx, risk_state *s, const act_msg *msg)
{
    const led_commit *c = msg->ptr;
    if (c == NULL) return act_fail(ctx, TK_EINVAL, "a commit without its event");
    risk_watch_commit(s->watch, c, tk_clock_mono_ns(s->clock), &s->actions);
    tk_err err = propose_actions(ctx, s);
    if (err != TK_OK) return err;
    alert_send(ctx, s, c);
    /* after the proposals it caused, so that the journal has them first */
    led_ack ack = {.index = c->index, .flags = 0}; /* the monitor watches every bar */
    err = act_send_named(act_ctx_system(ctx), &s->journal, act_self(ctx), LED_MSG_ACK, &ack,
                         sizeof(ack), NULL, NULL);
    if (err != TK_OK) return act_fail(ctx, err, "acknowledging %llu", (unsigned long long)c->index);
    return TK_OK;
}

/* Arm the next staleness check (one timer at a time: each tick arms the next). */
static tk_err tick_arm(act_ctx *ctx, risk_state *s)
{
    TK_ASSERT(s->tick_ms >= TICK_MS_MIN && s->tick_ms <= TICK_MS_MAX);
    act_system *sys = act_ctx_system(ctx);
    act_msg *msg = act_msg_alloc(sys);
    if (msg == NULL) return TK_EFULL;
    msg->type = RISK_MSG_TICK;
    msg->sender = act_self(ctx);
    tk_err err = act_send_after(sys, s->tick_ms, act_self(ctx), msg, NULL);
    if (err != TK_OK) act_msg_free(sys, msg);
    return err;
}

static tk_err on_tick(act_ctx *ctx, risk_state *s)
{
    /* monotonic time first, then the wall that stamps what it decides (the order the manual
     * clock publishes them in: tk_clock_manual_advance) */
    uint64_t mono = tk_clock_mono_ns(s->clock);
    int64_t wall = tk_clock_wall_ns(s->clock);
    risk_watch_tick(s->watch, mono, wall, &s->actions);
    tk_err err = propose_actions(ctx, s);
    if (err != TK_OK) return err;
    err = tick_arm(ctx, s);
    if (err != TK_OK) return act_fail(ctx, err, "arming the staleness timer");
    return TK_OK;
}

/* A webhook's answer: logged when it failed, never fatal. */
static void on_response(risk_state *s, const act_msg *msg)
{
    if (s->alerts_inflight > 0) s->alerts_inflight--;
    const net_response *resp = msg->ptr;
    if (resp == NULL) {
        s->alerts_failed++;
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "webhook: a response without its body",
               TK_LOG_U64("index", msg->correlation));
        return;
    }
    bool ok = resp->err == TK_OK && resp->status >= 200 && resp->status < 300;
    if (ok) return;
    s->alerts_failed++;
    TK_LOG(TK_LOG_ERROR, LOG_MODULE, "webhook alert failed", TK_LOG_U64("index", resp->tag),
           TK_LOG_STR("err", tk_err_name(resp->err)), TK_LOG_I64("status", (int64_t)resp->status),
           TK_LOG_U64("attempts", resp->attempts), TK_LOG_STR("error", resp->error));
}

static tk_err risk_init(act_ctx *ctx, void *state, const void *arg)
{
    risk_state *s = state;
    const risk_monitor_opts *opts = arg;
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    s->clock = opts->clock;
    bool webhook = opts->webhook_url != NULL && opts->webhook_url[0] != '\0';
    if (webhook) {
        s->http = opts->http;
        memcpy(s->url, opts->webhook_url, strlen(opts->webhook_url) + 1u); /* length checked */
        memcpy(s->chat_id, opts->webhook_chat_id, strlen(opts->webhook_chat_id) + 1u);
    }
    uint32_t stale_ms = opts->watch.feed_stale_ms;
    if (stale_ms > 0) {
        uint32_t tick = stale_ms / 4u;
        s->tick_ms = tick < TICK_MS_MIN ? TICK_MS_MIN : tick > TICK_MS_MAX ? TICK_MS_MAX : tick;
    }
    tk_err err = risk_watch_open(&opts->watch, tk_clock_mono_ns(s->clock), &s->watch);
    if (err != TK_OK) return err;
    err = act_group_join(act_ctx_system(ctx), LED_GROUP_STRATEGIES, act_self(ctx));
    if (err == TK_OK && s->tick_ms > 0) err = tick_arm(ctx, s);
    if (err == TK_OK) {
        risk_watch_start(s->watch, &s->actions); /* an account already past a limit */
        err = propose_actions(ctx, s);
    }
    if (err != TK_OK) { /* terminate does not run after a failed init */
        risk_watch_close(s->watch);
        s->watch = NULL;
    }
    return err;
}

static tk_err risk_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    risk_state *s = state;
    TK_ASSERT(s->watch != NULL);
    switch (msg->type) {
    case LED_MSG_COMMITTED:
        return on_commit(ctx, s, msg);
    case RISK_MSG_TICK:
        if (s->tick_ms == 0) return act_fail(ctx, TK_EINVAL, "a tick without a timer");
        return on_tick(ctx, s);
    case NET_MSG_RESPONSE:
        on_response(s, msg);
        return TK_OK;
    default:
        break;
    }
    return act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
}

static void risk_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    risk_state *s = state;
    TK_LOG(TK_LOG_INFO, LOG_MODULE, "risk monitor stopped",
           TK_LOG_STR("reason", act_reason_kind_name(reason->kind)),
           TK_LOG_U64("alerts_sent", s->alerts_sent), TK_LOG_U64("alerts_failed", s->alerts_failed),
           TK_LOG_U64("alerts_dropped", s->alerts_dropped));
    risk_watch_close(s->watch);
    s->watch = NULL;
}

static const act_behaviour risk_behaviour = {
    .name = "risk_monitor",
    .init = risk_init,
    .handle = risk_handle,
    .terminate = risk_terminate,
};

tk_err risk_monitor_spawn(act_system *sys, const risk_monitor_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && opts != NULL && out_ref != NULL);
    if (risk_watch_opts_check(&opts->watch, NULL) != TK_OK) return TK_EINVAL;
    if (opts->clock == NULL || opts->mailbox_capacity < MAILBOX_MIN) return TK_EINVAL;
    if (opts->webhook_url != NULL && opts->webhook_url[0] != '\0') {
        if (strnlen(opts->webhook_url, NET_URL_BYTES) == NET_URL_BYTES) return TK_EINVAL;
        if (opts->http == NULL || opts->webhook_chat_id == NULL) return TK_EINVAL;
        size_t id_len = strnlen(opts->webhook_chat_id, CHAT_ID_BYTES);
        if (id_len == 0 || id_len == CHAT_ID_BYTES) return TK_EINVAL;
    }
    act_spawn_opts spawn = {.behaviour = &risk_behaviour,
                            .state_size_bytes = sizeof(risk_state),
                            .arg = opts,
                            .mailbox_capacity = opts->mailbox_capacity,
                            .link_to = opts->link_to,
                            .trap_exit = false};
    return act_spawn(sys, &spawn, out_ref);
}
