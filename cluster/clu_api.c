/* The client API (clu.h, "The client API"): an nng rep socket served by contexts, each with its
 * own aio and no thread: a request is answered from the aio's callback, or, for a write, from
 * the proposal's callback once it commits, so that hundreds of writes can wait for their
 * commit together and share Raft entries. Payloads are msgpack maps on the wire; inside,
 * requests and replies are jansson values, converted at the edges. */
#include <errno.h>
#include <jansson.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clu.h"

#define CONTEXTS_MAX      1024u
#define EVENT_QUEUE_DEPTH 8192 /* events queued per subscriber before the stream drops */

/* ---- msgpack <-> JSON ---------------------------------------------------------------------- */

/* Nesting deeper than this is refused: input from outside never exhausts the stack. */
#define DEPTH_MAX 16

static void pack_json(msgpack_packer *pk, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(v));
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
        {
            msgpack_pack_str_with_body(pk, key, strlen(key));
            pack_json(pk, item);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(v));
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) pack_json(pk, item);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        break;
    }
}

/* A msgpack object as a new JSON value; NULL for what JSON cannot hold (a non-string map key,
 * bin, ext, an integer beyond int64) or nesting beyond DEPTH_MAX. */
static json_t *unpack_json(const msgpack_object *o, int depth)
{
    if (depth > DEPTH_MAX) return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 > (uint64_t)INT64_MAX ? NULL : json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; a != NULL && i < o->via.array.size; i++) {
            json_t *item = unpack_json(&o->via.array.ptr[i], depth + 1);
            if (item == NULL || json_array_append_new(a, item) != 0) {
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; m != NULL && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            json_t *item = NULL;
            if (kv->key.type == MSGPACK_OBJECT_STR) item = unpack_json(&kv->val, depth + 1);
            if (item == NULL ||
                json_object_setn_new(m, kv->key.via.str.ptr, kv->key.via.str.size, item) != 0) {
                json_decref(m);
                m = NULL;
            }
        }
        return m;
    }
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        return NULL;
    }
    return NULL;
}

/* v as a new nng message. NULL when out of memory. */
static nng_msg *message_of(const json_t *v)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_json(&pk, v);
    nng_msg *msg = NULL;
    if (sb.data != NULL && nng_msg_alloc(&msg, 0) == 0 &&
        nng_msg_append(msg, sb.data, sb.size) != 0) {
        nng_msg_free(msg);
        msg = NULL;
    }
    msgpack_sbuffer_destroy(&sb);
    return msg;
}

/* The message's body as a JSON object, or NULL if it is not exactly one msgpack map. */
static json_t *object_of(const void *body, size_t size)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    json_t *v = NULL;
    if (msgpack_unpack_next(&u, body, size, &off) == MSGPACK_UNPACK_SUCCESS && off == size &&
        u.data.type == MSGPACK_OBJECT_MAP)
        v = unpack_json(&u.data, 0);
    msgpack_unpacked_destroy(&u);
    return v;
}

/* ---- The server ------------------------------------------------------------------------------ */

struct clu_api {
    nng_socket sock;
    nng_socket pub; /* the event stream; id 0 when there is none */
    clu_node *node;
    act_system *actors; /* borrowed; NULL: none */
    bool debug;         /* op "crash" is served */
    uint64_t (*restarts)(void *arg);
    void *restarts_arg;
    char token[128];
    char peers[CLU_NODES_MAX][CLU_ADDRESS_BYTES];
    uint32_t peer_count, check_interval_ms;
    pthread_t checker;
    bool checking, stopping; /* the checker runs; stop asked (guarded by lock) */
    uint8_t token_hash[LED_HASH_BYTES];
    struct api_ctx *contexts; /* owned: context_count */
    uint32_t context_count;
    uint32_t pending_writes;  /* writes and transfers not yet answered (guarded by lock) */
    pthread_mutex_t lock;     /* guards pending_writes, stopping, sync writes */
    pthread_cond_t cond;      /* a sync write answered; the last write answered after stop */
    pthread_cond_t stop_cond; /* stop asked (wakes the checker between its rounds) */
};

static json_t *fail(const char *code, const char *detail)
{
    return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", code, "detail", detail);
}

/* "not_leader", naming the leader this node knows of ("" if none). */
static json_t *not_leader(clu_api *api, const char *detail)
{
    clu_status st;
    clu_node_status(api->node, &st);
    json_t *reply = fail("not_leader", detail);
    if (reply != NULL) json_object_set_new(reply, "leader_api", json_string(st.leader_api));
    return reply;
}

/* Where a write's reply goes (reply owned by the callee; NULL when out of memory). */
typedef void write_done_fn(void *arg, json_t *reply);

/* A write proposed and waiting for its commit, or a leadership transfer under way. */
typedef struct pending_write {
    clu_api *api;
    write_done_fn *done;
    void *arg;
    uint64_t to; /* a transfer's target (0: libraft picks) */
} pending_write;

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A money field given as a decimal string ("0.5"). */
static bool money(const json_t *req, const char *field, int64_t *out, char *detail, size_t size)
{
    const json_t *v = json_object_get(req, field);
    led_parse_error pe = {0, NULL};
    if (!json_is_string(v) ||
        led_parse(json_string_value(v), json_string_length(v), out, &pe) != TK_OK) {
        snprintf(detail, size, "field '%s': a decimal string is required%s%s", field,
                 pe.reason != NULL ? ": " : "", pe.reason != NULL ? pe.reason : "");
        return false;
    }
    return true;
}

static bool text(const json_t *req, const char *field, char *out, size_t out_size, bool required,
                 char *detail, size_t size)
{
    const json_t *v = json_object_get(req, field);
    if (v == NULL && !required) return true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= out_size) {
        snprintf(detail, size, "field '%s': a string of 1 to %zu bytes is required", field,
                 out_size - 1);
        return false;
    }
    snprintf(out, out_size, "%s", json_string_value(v));
    return true;
}

static bool flag(const json_t *req, const char *field, bool *out, char *detail, size_t size)
{
    const json_t *v = json_object_get(req, field);
    if (!json_is_boolean(v)) {
        snprintf(detail, size, "field '%s': true or false is required", field);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* The event a write op asks for, into ev; false with detail naming the field. */
static bool event_of(const char *op, const json_t *req, led_event *ev, char *detail, size_t size)
{
    memset(ev, 0, sizeof(*ev));
    ev->version = 1;
    ev->ts_ns = wall_ns();
    if (strcmp(op, "kill_switch") == 0) {
        ev->type = LED_EV_KILL_SWITCH_SET;
        struct led_ev_kill_switch_set *k = &ev->u.kill_switch_set;
        return flag(req, "on", &k->on, detail, size) &&
               text(req, "reason", k->reason, sizeof(k->reason), true, detail, size);
    }
    if (strcmp(op, "strategy") == 0) {
        ev->type = LED_EV_STRATEGY_ENABLED;
        struct led_ev_strategy_enabled *s = &ev->u.strategy_enabled;
        return text(req, "name", s->strategy, sizeof(s->strategy), true, detail, size) &&
               flag(req, "enabled", &s->enabled, detail, size);
    }
    if (strcmp(op, "risk_limits") == 0) {
        ev->type = LED_EV_RISK_LIMITS_SET;
        struct led_ev_risk_limits_set *r = &ev->u.risk_limits_set;
        static const struct {
            const char *name;
            size_t offset;
        } ints[] = {
            {"max_position_equity_bps",
             offsetof(struct led_ev_risk_limits_set, max_position_equity_bps)},
            {"max_open_orders", offsetof(struct led_ev_risk_limits_set, max_open_orders)},
            {"price_band_bps", offsetof(struct led_ev_risk_limits_set, price_band_bps)},
            {"daily_loss_bps", offsetof(struct led_ev_risk_limits_set, daily_loss_bps)},
            {"max_drawdown_bps", offsetof(struct led_ev_risk_limits_set, max_drawdown_bps)},
        };
        if (!money(req, "max_order_notional", &r->max_order_notional_e8, detail, size) ||
            !money(req, "max_position_notional", &r->max_position_notional_e8, detail, size) ||
            !money(req, "max_gross_exposure", &r->max_gross_exposure_e8, detail, size))
            return false;
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
            const json_t *v = json_object_get(req, ints[i].name);
            if (!json_is_integer(v)) {
                snprintf(detail, size, "field '%s': an integer is required", ints[i].name);
                return false;
            }
            *(int64_t *)(void *)((unsigned char *)r + ints[i].offset) =
                (int64_t)json_integer_value(v);
        }
        return true;
    }
    if (strcmp(op, "order") == 0) {
        ev->type = LED_EV_ORDER_REQUESTED;
        struct led_ev_order_requested *o = &ev->u.order_requested;
        char side[8] = "", kind[8] = "";
        snprintf(o->strategy, sizeof(o->strategy), "manual");
        if (!text(req, "symbol", o->symbol, sizeof(o->symbol), true, detail, size) ||
            !text(req, "side", side, sizeof(side), true, detail, size) ||
            !text(req, "kind", kind, sizeof(kind), true, detail, size) ||
            !money(req, "qty", &o->qty_e8, detail, size))
            return false;
        if (strcmp(side, "buy") != 0 && strcmp(side, "sell") != 0) {
            snprintf(detail, size, "field 'side': buy or sell");
            return false;
        }
        o->side = strcmp(side, "buy") == 0 ? LED_SIDE_BUY : LED_SIDE_SELL;
        if (strcmp(kind, "market") == 0) {
            o->kind = LED_ORDER_MARKET;
        } else if (strcmp(kind, "limit") == 0 || strcmp(kind, "stop") == 0) {
            o->kind = strcmp(kind, "limit") == 0 ? LED_ORDER_LIMIT : LED_ORDER_STOP;
            if (!money(req, "price", &o->price_e8, detail, size)) return false;
        } else {
            snprintf(detail, size, "field 'kind': market, limit or stop");
            return false;
        }
        const json_t *ro = json_object_get(req, "reduce_only");
        o->reduce_only = json_is_true(ro);
        return true;
    }
    if (strcmp(op, "cancel") == 0) {
        ev->type = LED_EV_ORDER_CANCEL_REQUESTED;
        const json_t *v = json_object_get(req, "order_index");
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            snprintf(detail, size, "field 'order_index': a ledger index >= 1 is required");
            return false;
        }
        ev->u.order_cancel_requested.order_index = (uint64_t)json_integer_value(v);
        return true;
    }
    snprintf(detail, size, "op '%s': unknown", op);
    return false;
}

/* The reply to a write that was proposed, once its outcome is known. A repeat of a key the
 * ledger remembers is answered with the first write's index and decision, marked duplicate. */
static json_t *write_reply(clu_api *api, tk_err err, uint64_t index, const led_outcome *outcome)
{
    json_t *reply = NULL;
    if (err == TK_OK && outcome != NULL) {
        bool repeat = outcome->duplicate_of != 0;
        led_result result = repeat ? outcome->original_result : outcome->result;
        led_rule rule = repeat ? outcome->original_rule : outcome->rule;
        reply = json_pack("{s:b, s:I, s:s}", "ok", 1, "index",
                          (json_int_t)(repeat ? outcome->duplicate_of : index), "result",
                          led_result_name(result));
        if (reply != NULL && result == LED_REJECTED) {
            json_object_set_new(reply, "rule", json_string(led_rule_id(rule)));
            if (!repeat) json_object_set_new(reply, "rule_detail", json_string(outcome->detail));
        }
        if (reply != NULL && repeat) json_object_set_new(reply, "duplicate", json_true());
        return reply;
    }
    if (err == TK_EPERM) return not_leader(api, "leadership moved before the write was proposed");
    return fail(err == TK_EAGAIN ? "unknown" : "failed",
                err == TK_EAGAIN ? "leadership was lost: the write may or may not have committed; "
                                   "retry with the same key"
                : err == TK_OK   ? "the entry was refused"
                                 : tk_err_str(err));
}

/* Count w as pending until pending_finish answers it. */
static pending_write *pending_begin(clu_api *api, write_done_fn *done, void *arg)
{
    TK_ASSERT(api != NULL && done != NULL);
    pending_write *w = calloc(1, sizeof(*w));
    if (w == NULL) return NULL;
    *w = (pending_write){.api = api, .done = done, .arg = arg};
    pthread_mutex_lock(&api->lock);
    api->pending_writes++;
    pthread_mutex_unlock(&api->lock);
    return w;
}

/* The reply (consumed) goes to whoever asked; w is freed. */
static void pending_finish(pending_write *w, json_t *reply)
{
    clu_api *api = w->api;
    w->done(w->arg, reply);
    free(w);
    pthread_mutex_lock(&api->lock);
    TK_ASSERT(api->pending_writes > 0);
    api->pending_writes--;
    if (api->pending_writes == 0 && api->stopping) pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->lock);
}

/* The proposal's answer (the node's loop thread). */
static void written(void *arg, tk_err err, uint64_t first_index, const led_outcome *outcomes,
                    uint32_t count)
{
    pending_write *w = arg;
    pending_finish(w, write_reply(w->api, err, first_index, count > 0 ? &outcomes[0] : NULL));
}

/* Start a write: a reply at once when there is nothing to propose (not the leader, a bad
 * request, a repeated key), else NULL: the event is proposed and done(arg, reply) follows, once,
 * on the node's loop thread (or on this one, when the node refuses it at once). */
static json_t *write_begin(clu_api *api, const char *op, const json_t *req, write_done_fn *done,
                           void *arg)
{
    clu_status st;
    clu_node_status(api->node, &st);
    if (st.role != CLU_ROLE_LEADER) return not_leader(api, "writes go to the leader");
    char detail[160];
    led_event ev;
    if (!event_of(op, req, &ev, detail, sizeof(detail)) ||
        !text(req, "key", ev.key, sizeof(ev.key), true, detail, sizeof(detail)))
        return fail("bad_request", detail);
    led_event_error why = {0};
    if (led_event_check(&ev, &why) != TK_OK) {
        snprintf(detail, sizeof(detail), "field '%s': %s", why.field, why.reason);
        return fail("bad_request", detail);
    }
    pending_write *w = pending_begin(api, done, arg);
    if (w == NULL) return fail("failed", "out of memory");
    tk_err err = clu_node_propose(api->node, &ev, 1, written, w);
    if (err != TK_OK) written(w, err, 0, NULL, 0); /* refused before it was proposed */
    return NULL;
}

/* A write answered on the calling thread (the divergence check's kill switch). */
typedef struct sync_write {
    clu_api *api;
    bool done;
    json_t *reply;
} sync_write;

static void sync_done(void *arg, json_t *reply)
{
    sync_write *w = arg;
    pthread_mutex_lock(&w->api->lock);
    w->reply = reply;
    w->done = true;
    pthread_cond_broadcast(&w->api->cond);
    pthread_mutex_unlock(&w->api->lock);
}

static json_t *do_write(clu_api *api, const char *op, const json_t *req)
{
    sync_write w = {.api = api};
    json_t *reply = write_begin(api, op, req, sync_done, &w);
    if (reply != NULL) return reply;
    pthread_mutex_lock(&api->lock);
    while (!w.done)
        pthread_cond_wait(&api->cond, &api->lock);
    pthread_mutex_unlock(&api->lock);
    return w.reply;
}

/* ---- Leadership transfer and the debug API ------------------------------------------------ */

/* The transfer's answer (the node's loop thread, which refreshed the status first). */
static void transferred(void *arg, tk_err err, uint64_t leader_id)
{
    pending_write *w = arg;
    clu_api *api = w->api;
    TK_ASSERT(api != NULL);
    if (err == TK_OK) TK_ASSERT(leader_id != 0);
    clu_status st;
    clu_node_status(api->node, &st);
    char detail[200];
    json_t *reply = NULL;
    if (err == TK_OK) {
        reply = json_pack("{s:b, s:I, s:s}", "ok", 1, "leader_id", (json_int_t)leader_id,
                          "leader_api", st.leader_api);
    } else if (err == TK_EPERM) {
        reply = not_leader(api, "transfers go to the leader");
    } else if (err == TK_EINVAL) {
        snprintf(detail, sizeof(detail),
                 "field 'to': %llu is not the id of another voter of this cluster",
                 (unsigned long long)w->to);
        reply = fail("bad_request", detail);
    } else {
        if (err == TK_ETIMEDOUT)
            snprintf(detail, sizeof(detail),
                     "leadership did not move within the election timeout; leader now: %llu "
                     "(0: none known)",
                     (unsigned long long)leader_id);
        else
            snprintf(detail, sizeof(detail), "%s",
                     err == TK_ENOENT      ? "there is no other voter to hand leadership to"
                     : err == TK_EEXIST    ? "a leadership transfer is already under way"
                     : err == TK_ECANCELED ? "the node stopped before the transfer ended"
                                           : tk_err_str(err));
        reply = fail("failed", detail);
        if (reply != NULL) json_object_set_new(reply, "leader_api", json_string(st.leader_api));
    }
    pending_finish(w, reply);
}

/* Start a transfer: a reply at once when there is nothing to ask (a bad "to", not the leader),
 * else NULL: done(arg, reply) follows, once, on the node's loop thread. */
static json_t *transfer_begin(clu_api *api, const json_t *req, write_done_fn *done, void *arg)
{
    TK_ASSERT(api != NULL && done != NULL);
    TK_ASSERT(json_is_object(req));
    const json_t *to = json_object_get(req, "to");
    if (to != NULL && (!json_is_integer(to) || json_integer_value(to) < 0))
        return fail("bad_request", "field 'to': a node id, or 0 for any other voter, is required");
    clu_status st;
    clu_node_status(api->node, &st);
    if (st.role != CLU_ROLE_LEADER) return not_leader(api, "transfers go to the leader");
    pending_write *w = pending_begin(api, done, arg);
    if (w == NULL) return fail("failed", "out of memory");
    w->to = to != NULL ? (uint64_t)json_integer_value(to) : 0u;
    if (clu_node_transfer(api->node, w->to, transferred, w) != TK_OK)
        pending_finish(w, fail("failed", "out of memory"));
    return NULL;
}

#define ACTORS_LISTED 64u /* names an unknown-actor answer lists at most */

/* "bad_request" for an actor name that is not registered (NULL: none given), listing in
 * "actors" (and in the detail) the names that are. */
static json_t *unknown_actor(clu_api *api, const char *name)
{
    TK_ASSERT(api->actors != NULL);
    char names[ACTORS_LISTED][ACT_NAME_BYTES_MAX + 1u];
    uint32_t count = act_registered(api->actors, names, ACTORS_LISTED);
    char detail[1024];
    int n = name == NULL
                ? snprintf(detail, sizeof(detail),
                           "field 'actor': a registered actor's name is required")
                : snprintf(detail, sizeof(detail),
                           "field 'actor': '%.64s' is not a registered actor of this node", name);
    size_t at = n > 0 ? (size_t)n : 0u;
    json_t *list = json_array();
    for (uint32_t i = 0; i < count && i < ACTORS_LISTED; i++) {
        json_array_append_new(list, json_string(names[i]));
        if (at >= sizeof(detail)) continue; /* the detail is full; the list is not */
        n = snprintf(detail + at, sizeof(detail) - at, "%s%s", i == 0 ? "; registered: " : ", ",
                     names[i]);
        at += n > 0 ? (size_t)n : 0u;
    }
    json_t *reply = fail("bad_request", detail);
    if (reply != NULL && list != NULL) json_object_set(reply, "actors", list);
    json_decref(list);
    return reply;
}

/* Op "crash": the actor registered under "actor" exits with an error, as if its handler had
 * failed, so that its supervisor restarts it per its child spec. */
static json_t *do_crash(clu_api *api, const json_t *req)
{
    TK_ASSERT(json_is_object(req));
    if (!api->debug)
        return fail("forbidden", "the debug API is off on this node (node.debug_api: false)");
    if (api->actors == NULL)
        return fail("failed", "this node runs no actors (its configuration has no trading)");
    const char *name = json_string_value(json_object_get(req, "actor"));
    act_ref ref;
    if (name == NULL || act_whereis(api->actors, name, &ref) != TK_OK)
        return unknown_actor(api, name);
    act_reason reason = {.kind = ACT_REASON_ERROR, .err = TK_ECANCELED};
    snprintf(reason.detail, sizeof(reason.detail), "crashed on purpose through the debug API");
    if (act_exit(api->actors, ACT_REF_NONE, ref, &reason) != TK_OK)
        return unknown_actor(api, name); /* it exited meanwhile */
    TK_LOG(TK_LOG_WARN, "cluster", "actor crashed through the debug API",
           TK_LOG_STR("actor", name));
    return json_pack("{s:b, s:s}", "ok", 1, "actor", name);
}

static json_t *money_json(int64_t v_e8)
{
    char buf[LED_DECIMAL_BYTES_MAX];
    led_format(v_e8, buf, sizeof(buf));
    return json_string(buf);
}

typedef struct read_ctx {
    const char *op;
    json_t *items;
} read_ctx;

/* On the node's loop thread: the open orders, positions or balances as a JSON array. */
static void read_state(void *arg, const led_state *state)
{
    read_ctx *rc = arg;
    rc->items = json_array();
    led_account acct;
    led_state_account(state, &acct);
    if (strcmp(rc->op, "orders") == 0) {
        led_order o;
        for (uint64_t after = 0; led_state_order_next(state, after, &o) == TK_OK; after = o.index)
            json_array_append_new(
                rc->items,
                json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b}", "index",
                          (json_int_t)o.index, "symbol", o.symbol, "strategy", o.strategy, "side",
                          o.side == LED_SIDE_BUY ? "buy" : "sell", "kind",
                          o.kind == LED_ORDER_MARKET  ? "market"
                          : o.kind == LED_ORDER_LIMIT ? "limit"
                                                      : "stop",
                          "state", led_order_state_name(o.state), "qty", money_json(o.qty_e8),
                          "price", money_json(o.price_e8), "filled", money_json(o.filled_qty_e8),
                          "reduce_only", o.reduce_only));
    } else if (strcmp(rc->op, "positions") == 0) {
        for (uint32_t i = 0; i < acct.instrument_count; i++) {
            led_instrument in;
            led_state_instrument_at(state, i, &in);
            json_array_append_new(rc->items,
                                  json_pack("{s:s, s:o, s:o, s:o, s:o}", "symbol", in.symbol, "qty",
                                            money_json(in.position_e8), "avg_entry",
                                            money_json(in.avg_entry_e8), "realized_pnl",
                                            money_json(in.realized_pnl_e8), "mark",
                                            money_json(in.mark_e8)));
        }
    } else {
        for (uint32_t i = 0; i < acct.asset_count; i++) {
            led_balance b;
            led_state_balance_at(state, i, &b);
            json_array_append_new(rc->items, json_pack("{s:s, s:o, s:o, s:o}", "asset", b.asset,
                                                       "total", money_json(b.total_e8), "reserved",
                                                       money_json(b.reserved_e8), "fees",
                                                       money_json(b.fees_e8)));
        }
    }
}

static json_t *do_status(clu_api *api)
{
    clu_status st;
    clu_node_status(api->node, &st);
    uint64_t restarts = api->restarts != NULL ? api->restarts(api->restarts_arg) : 0u;
    char hash[2 * LED_HASH_BYTES + 1];
    for (unsigned i = 0; i < LED_HASH_BYTES; i++)
        snprintf(hash + 2 * i, 3, "%02x", st.state_hash[i]);
    return json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:b, s:b, s:I}", "ok", 1,
                     "role", clu_role_name(st.role), "term", (json_int_t)st.term, "commit_index",
                     (json_int_t)st.commit_index, "ledger_index", (json_int_t)st.ledger_index,
                     "leader_id", (json_int_t)st.leader_id, "leader_api", st.leader_api,
                     "state_hash", hash, "kill_switch", st.kill_switch, "leading", st.leading,
                     "diverged", st.diverged, "restarts", (json_int_t)restarts);
}

static void hex(const uint8_t *bytes, size_t size, char *out)
{
    for (size_t i = 0; i < size; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

static json_t *do_hashes(clu_api *api)
{
    clu_hash_point points[CLU_HASH_POINTS];
    uint32_t n = clu_node_hash_points(api->node, points, CLU_HASH_POINTS);
    json_t *list = json_array();
    for (uint32_t i = 0; i < n; i++) {
        char h[2 * LED_HASH_BYTES + 1];
        hex(points[i].state_hash, LED_HASH_BYTES, h);
        json_array_append_new(
            list, json_pack("{s:I, s:s}", "index", (json_int_t)points[i].ledger_index, "hash", h));
    }
    return json_pack("{s:b, s:o}", "ok", 1, "points", list);
}

static bool token_ok(const clu_api *api, const json_t *req)
{
    const json_t *t = json_object_get(req, "token");
    if (!json_is_string(t)) return false;
    uint8_t h[LED_HASH_BYTES];
    led_sha256((const uint8_t *)json_string_value(t), json_string_length(t), h);
    return CRYPTO_memcmp(h, api->token_hash, LED_HASH_BYTES) == 0;
}

/* One context: a request at a time, received, answered, then the next. */
typedef struct api_ctx {
    clu_api *api;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending; /* the aio carries a reply (else a receive) */
} api_ctx;

/* Send reply (consumed) on c, stamped with this node's id and applied index. */
static void ctx_send(api_ctx *c, json_t *reply)
{
    if (reply == NULL) reply = fail("failed", "out of memory");
    clu_status st;
    clu_node_status(c->api->node, &st);
    nng_msg *out = NULL;
    if (reply != NULL) {
        json_object_set_new(reply, "node_id", json_integer((json_int_t)st.node_id));
        json_object_set_new(reply, "applied_index", json_integer((json_int_t)st.applied_index));
        out = message_of(reply);
        json_decref(reply);
    }
    if (out == NULL) { /* nothing to send: take the next request */
        c->sending = false;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->sending = true;
    nng_aio_set_msg(c->aio, out);
    nng_ctx_send(c->ctx, c->aio);
}

static void ctx_write_done(void *arg, json_t *reply)
{
    ctx_send(arg, reply);
}

/* Answer one request (a JSON object, or NULL if it was not a msgpack map): the reply, or NULL
 * when a write was proposed and its reply will follow on c. */
static json_t *handle(api_ctx *c, const json_t *req)
{
    clu_api *api = c->api;
    if (req == NULL) return fail("bad_request", "the request is not a msgpack map");
    if (!token_ok(api, req)) return fail("unauthorized", "a valid token is required");
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op == NULL) return fail("bad_request", "field 'op': a string is required");
    if (strcmp(op, "status") == 0) return do_status(api);
    if (strcmp(op, "hashes") == 0) return do_hashes(api);
    if (strcmp(op, "transfer") == 0) return transfer_begin(api, req, ctx_write_done, c);
    if (strcmp(op, "crash") == 0) return do_crash(api, req);
    if (strcmp(op, "orders") == 0 || strcmp(op, "positions") == 0 || strcmp(op, "balances") == 0) {
        read_ctx rc = {.op = op};
        clu_node_read(api->node, read_state, &rc);
        return rc.items == NULL ? fail("failed", "out of memory")
                                : json_pack("{s:b, s:o}", "ok", 1, op, rc.items);
    }
    return write_begin(api, op, req, ctx_write_done, c);
}

/* The aio's callback: a reply went out (take the next request), or a request came in. */
static void ctx_done(void *arg)
{
    api_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->sending) {
        c->sending = false;
        if (rv != 0) nng_msg_free(nng_aio_get_msg(c->aio));
        if (rv != NNG_ECLOSED) nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (rv != 0) { /* closed: the API stops; anything else: a lost request, take the next */
        if (rv != NNG_ECLOSED) nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    nng_msg *msg = nng_aio_get_msg(c->aio);
    json_t *req = object_of(nng_msg_body(msg), nng_msg_len(msg));
    nng_msg_free(msg);
    json_t *reply = handle(c, req);
    json_decref(req);
    if (reply != NULL) ctx_send(c, reply);
}

/* ---- The event stream ------------------------------------------------------------------------ */

/* Publish one committed event (loop thread): {"index", "result", "rule", "event": raw map}. A
 * subscriber too slow to take it loses it (NNG_FLAG_NONBLOCK): the loop never waits. */
static void publish(void *arg, uint64_t index, const led_event *ev, const uint8_t *event,
                    size_t size, const led_outcome *outcome, const led_state *state)
{
    (void)ev; /* the stream carries the bytes as they travelled */
    (void)state;
    clu_api *api = arg;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *result = led_result_name(outcome->result);
    const char *rule = outcome->result == LED_REJECTED ? led_rule_id(outcome->rule) : "";
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "index", 5);
    msgpack_pack_uint64(&pk, index);
    msgpack_pack_str_with_body(&pk, "result", 6);
    msgpack_pack_str_with_body(&pk, result, strlen(result));
    msgpack_pack_str_with_body(&pk, "rule", 4);
    msgpack_pack_str_with_body(&pk, rule, strlen(rule));
    msgpack_pack_str_with_body(&pk, "event", 5);
    nng_msg *msg = NULL;
    if (sb.data != NULL && nng_msg_alloc(&msg, 0) == 0 &&
        (nng_msg_append(msg, sb.data, sb.size) != 0 || nng_msg_append(msg, event, size) != 0 ||
         nng_sendmsg(api->pub, msg, NNG_FLAG_NONBLOCK) != 0))
        nng_msg_free(msg);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- The divergence check ---------------------------------------------------------------- */

/* A peer's hash points from its "hashes" answer; how many, or 0 if it did not answer. */
static uint32_t peer_points(clu_api *api, const char *url, clu_hash_point *out)
{
    char *reply = NULL, why[256];
    if (clu_api_call(url, api->token, "{\"op\": \"hashes\"}", 1000, &reply, why, sizeof(why)) !=
        TK_OK)
        return 0;
    json_t *r = json_loads(reply, 0, NULL);
    free(reply);
    uint32_t n = 0;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(r, "points"), i, p)
    {
        const char *h = json_string_value(json_object_get(p, "hash"));
        json_int_t index = json_integer_value(json_object_get(p, "index"));
        if (n == CLU_HASH_POINTS || h == NULL || strlen(h) != 2 * LED_HASH_BYTES || index < 1)
            break;
        out[n].ledger_index = (uint64_t)index;
        bool ok = true;
        for (unsigned b = 0; b < LED_HASH_BYTES && ok; b++)
            ok = sscanf(h + 2 * b, "%2hhx", &out[n].state_hash[b]) == 1;
        if (ok) n++;
    }
    json_decref(r);
    return n;
}

static json_t *do_write(clu_api *api, const char *op, const json_t *req);

/* Set the kill switch through the leader: this node's own write path when it leads, else the
 * leader its status names, over the API. */
static void halt_trading(clu_api *api, uint64_t index, const char *peer)
{
    clu_status st;
    clu_node_status(api->node, &st);
    if (st.kill_switch) return;
    char key[LED_KEY_BYTES], reason[LED_TEXT_BYTES];
    snprintf(key, sizeof(key), "divergence-%llu-%llu", (unsigned long long)st.node_id,
             (unsigned long long)index);
    snprintf(reason, sizeof(reason), "replicas diverged at ledger index %llu (node %llu, %s)",
             (unsigned long long)index, (unsigned long long)st.node_id, peer);
    json_t *req = json_pack("{s:s, s:b, s:s, s:s}", "op", "kill_switch", "on", 1, "key", key,
                            "reason", reason);
    json_t *reply = NULL;
    char *text = NULL, why[256] = "";
    if (st.role == CLU_ROLE_LEADER) {
        reply = do_write(api, "kill_switch", req);
    } else if (st.leader_api[0] != '\0' && (text = json_dumps(req, JSON_COMPACT)) != NULL) {
        char *answer = NULL;
        if (clu_api_call(st.leader_api, api->token, text, 5000, &answer, why, sizeof(why)) == TK_OK)
            reply = json_loads(answer, 0, NULL);
        free(answer);
    }
    free(text);
    json_decref(req);
    char *shown = reply != NULL ? json_dumps(reply, JSON_COMPACT) : NULL;
    TK_LOG(TK_LOG_ERROR, "cluster", "kill switch requested after a divergence",
           TK_LOG_STR("leader", st.role == CLU_ROLE_LEADER ? "(this node)" : st.leader_api),
           TK_LOG_STR("reply", shown != NULL ? shown : (why[0] != '\0' ? why : "no leader")));
    free(shown);
    json_decref(reply);
}

static void *checker(void *arg)
{
    clu_api *api = arg;
    uint64_t diverged_at = 0;
    char diverged_peer[CLU_ADDRESS_BYTES] = "";
    pthread_mutex_lock(&api->lock);
    while (!api->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)api->check_interval_ms * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        /* one round per interval, whatever else wakes the condition */
        while (!api->stopping &&
               pthread_cond_timedwait(&api->stop_cond, &api->lock, &until) != ETIMEDOUT) {
        }
        if (api->stopping) break;
        pthread_mutex_unlock(&api->lock);
        clu_hash_point mine[CLU_HASH_POINTS], theirs[CLU_HASH_POINTS];
        uint32_t n = clu_node_hash_points(api->node, mine, CLU_HASH_POINTS);
        for (uint32_t i = 0; i < api->peer_count && diverged_at == 0; i++) {
            uint32_t m = peer_points(api, api->peers[i], theirs);
            uint64_t at = clu_hash_points_diverge(mine, n, theirs, m);
            if (at == 0) continue;
            diverged_at = at;
            snprintf(diverged_peer, sizeof(diverged_peer), "%s", api->peers[i]);
            TK_LOG(TK_LOG_ERROR, "cluster",
                   "DIVERGENCE: a replica has a different state at the same ledger index; "
                   "halting trading",
                   TK_LOG_U64("ledger_index", at), TK_LOG_STR("peer", diverged_peer));
            clu_node_set_diverged(api->node);
        }
        if (diverged_at != 0) halt_trading(api, diverged_at, diverged_peer);
        pthread_mutex_lock(&api->lock);
    }
    pthread_mutex_unlock(&api->lock);
    return NULL;
}

tk_err clu_api_start(const clu_api_opts *opts, clu_api **out, char *why, size_t why_size)
{
    TK_ASSERT(opts != NULL && out != NULL && why != NULL);
    if (opts->url == NULL || opts->token == NULL || opts->token[0] == '\0' ||
        strlen(opts->token) >= sizeof(((clu_api *)0)->token) || opts->node == NULL ||
        opts->workers < 1 || opts->workers > CONTEXTS_MAX) {
        snprintf(why, why_size,
                 "api: url, token (1..127 bytes), node and 1..%u workers are required",
                 CONTEXTS_MAX);
        return TK_EINVAL;
    }
    clu_api *api = calloc(1, sizeof(*api));
    if (api == NULL) return TK_ENOMEM;
    api->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
    api->pub = (nng_socket)NNG_SOCKET_INITIALIZER;
    api->node = opts->node;
    api->actors = opts->actors;
    api->debug = opts->debug;
    api->restarts = opts->restarts;
    api->restarts_arg = opts->restarts_arg;
    snprintf(api->token, sizeof(api->token), "%s", opts->token);
    api->peer_count = opts->peer_count < CLU_NODES_MAX ? opts->peer_count : CLU_NODES_MAX;
    memcpy(api->peers, opts->peer_apis, sizeof(api->peers));
    api->check_interval_ms = opts->check_interval_ms;
    led_sha256((const uint8_t *)opts->token, strlen(opts->token), api->token_hash);
    pthread_mutex_init(&api->lock, NULL);
    pthread_cond_init(&api->cond, NULL);
    pthread_cond_init(&api->stop_cond, NULL);
    int rv = nng_rep0_open(&api->sock);
    if (rv == 0) rv = nng_listen(api->sock, opts->url, NULL, 0);
    if (rv != 0) {
        snprintf(why, why_size, "api: cannot listen on %s: %s", opts->url, nng_strerror(rv));
        if (nng_socket_id(api->sock) > 0) nng_close(api->sock);
        pthread_mutex_destroy(&api->lock);
        pthread_cond_destroy(&api->cond);
        pthread_cond_destroy(&api->stop_cond);
        free(api);
        return rv == NNG_EADDRINUSE                                            ? TK_EEXIST
               : rv == NNG_EADDRINVAL || rv == NNG_EINVAL || rv == NNG_ENOTSUP ? TK_EINVAL
                                                                               : TK_EIO;
    }
    if (opts->events_url != NULL) {
        rv = nng_pub0_open(&api->pub);
        /* pub/sub drops what a subscriber's queue cannot hold: give each one a deep queue */
        if (rv == 0) rv = nng_socket_set_int(api->pub, NNG_OPT_SENDBUF, EVENT_QUEUE_DEPTH);
        if (rv == 0) rv = nng_listen(api->pub, opts->events_url, NULL, 0);
        if (rv != 0) {
            snprintf(why, why_size, "api: cannot publish events on %s: %s", opts->events_url,
                     nng_strerror(rv));
            clu_api_stop(api);
            return rv == NNG_EADDRINUSE ? TK_EEXIST : TK_EIO;
        }
        clu_listener listener = {.committed = publish, .leading = NULL, .arg = api};
        if (clu_node_listen(api->node, &listener) != TK_OK) {
            snprintf(why, why_size, "api: the node has no room for another listener");
            clu_api_stop(api);
            return TK_EFULL;
        }
    }
    api->contexts = calloc(opts->workers, sizeof(*api->contexts));
    if (api->contexts == NULL) {
        clu_api_stop(api);
        return TK_ENOMEM;
    }
    for (; api->context_count < opts->workers; api->context_count++) {
        api_ctx *c = &api->contexts[api->context_count];
        c->api = api;
        if (nng_ctx_open(&c->ctx, api->sock) != 0) break;
        if (nng_aio_alloc(&c->aio, ctx_done, c) != 0) {
            nng_ctx_close(c->ctx);
            break;
        }
    }
    if (api->check_interval_ms > 0 && api->peer_count > 0)
        api->checking = pthread_create(&api->checker, NULL, checker, api) == 0;
    if (api->context_count < opts->workers ||
        (api->check_interval_ms > 0 && api->peer_count > 0 && !api->checking)) {
        clu_api_stop(api);
        return TK_ENOMEM;
    }
    for (uint32_t i = 0; i < api->context_count; i++) /* serve */
        nng_ctx_recv(api->contexts[i].ctx, api->contexts[i].aio);
    *out = api;
    return TK_OK;
}

void clu_api_stop(clu_api *api)
{
    if (api == NULL) return;
    pthread_mutex_lock(&api->lock);
    api->stopping = true;
    pthread_cond_broadcast(&api->stop_cond);
    pthread_mutex_unlock(&api->lock);
    if (api->checking) pthread_join(api->checker, NULL);
    if (nng_socket_id(api->pub) > 0) {
        clu_node_unlisten(api->node, api); /* no publish after this */
        nng_close(api->pub);
    }
    nng_close(api->sock);           /* every context's receive and send fail: no new request */
    pthread_mutex_lock(&api->lock); /* writes in flight answer into closed contexts */
    while (api->pending_writes > 0)
        pthread_cond_wait(&api->cond, &api->lock);
    pthread_mutex_unlock(&api->lock);
    for (uint32_t i = 0; i < api->context_count; i++) {
        nng_aio_stop(api->contexts[i].aio); /* waits for its callback */
        nng_aio_free(api->contexts[i].aio);
        nng_ctx_close(api->contexts[i].ctx);
    }
    free(api->contexts);
    pthread_mutex_destroy(&api->lock);
    pthread_cond_destroy(&api->cond);
    pthread_cond_destroy(&api->stop_cond);
    free(api);
}

/* ---- The client ------------------------------------------------------------------------------ */

tk_err clu_api_call(const char *url, const char *token, const char *request_json,
                    uint32_t timeout_ms, char **out_json, char *why, size_t why_size)
{
    TK_ASSERT(url != NULL && token != NULL && request_json != NULL && out_json != NULL);
    json_error_t jerr;
    json_t *req = json_loads(request_json, 0, &jerr);
    if (!json_is_object(req)) {
        snprintf(why, why_size, "the request is not a JSON object: %s", jerr.text);
        json_decref(req);
        return TK_EINVAL;
    }
    json_object_set_new(req, "token", json_string(token));
    nng_msg *msg = message_of(req);
    json_decref(req);
    if (msg == NULL) return TK_ENOMEM;
    nng_socket sock = NNG_SOCKET_INITIALIZER;
    int rv = nng_req0_open(&sock);
    if (rv == 0) {
        nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
        nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
        rv = nng_dial(sock, url, NULL, 0);
    }
    if (rv == 0) rv = nng_sendmsg(sock, msg, 0);
    if (rv != 0) nng_msg_free(msg);
    nng_msg *reply = NULL;
    if (rv == 0) rv = nng_recvmsg(sock, &reply, 0);
    if (nng_socket_id(sock) > 0) nng_close(sock);
    if (rv != 0) {
        snprintf(why, why_size, "%s: %s", url, nng_strerror(rv));
        return rv == NNG_ETIMEDOUT                        ? TK_ETIMEDOUT
               : rv == NNG_EADDRINVAL || rv == NNG_EINVAL ? TK_EINVAL
                                                          : TK_EIO;
    }
    json_t *obj = object_of(nng_msg_body(reply), nng_msg_len(reply));
    nng_msg_free(reply);
    if (obj == NULL) {
        snprintf(why, why_size, "%s: the reply is not a msgpack map", url);
        return TK_EIO;
    }
    *out_json = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(obj);
    return *out_json == NULL ? TK_ENOMEM : TK_OK;
}
