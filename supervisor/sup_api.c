/* Requests: how the supervisor actor carries them out (or queues them while busy), and the
 * synchronous wrappers that outside threads call through a port. sup.h documents the
 * payloads. */
#include <string.h>

#include "sup_internal.h"

#define NS_PER_MS 1000000u

/* ---- Replies --------------------------------------------------------------------------------- */

static void child_list_free(void *ptr)
{
    sup_child_list *list = ptr;
    TK_ASSERT(list != NULL);
    TK_ASSERT(list->size_bytes >= sizeof(sup_child_list));
    tk_free(tk_mem_system(), list, list->size_bytes);
}

/* Answer request (borrowed) with body and, for WHICH_CHILDREN, list (moved: freed here when
 * the answer cannot be sent). A message sent without a correlation id is not answered. */
static void reply_send(sup__state *s, const act_msg *request, const sup_reply *body,
                       sup_child_list *list)
{
    TK_ASSERT(request != NULL && body != NULL);
    TK_ASSERT(request->type >= SUP_MSG_START_CHILD && request->type <= SUP_MSG_STOP);
    if (request->correlation == 0) {
        if (list != NULL) child_list_free(list);
        return;
    }
    act_msg *reply = act_msg_alloc(s->sys);
    if (reply == NULL) {
        if (list != NULL) child_list_free(list);
        TK_LOG(TK_LOG_ERROR, "sup", "reply lost: no envelope", TK_LOG_STR("supervisor", s->name),
               TK_LOG_U64("type", request->type));
        return;
    }
    reply->type = SUP_MSG_REPLY;
    reply->sender = s->self;
    memcpy(reply->data, body, sizeof(*body));
    reply->size_bytes = sizeof(*body);
    if (list != NULL) {
        reply->ptr = list;
        reply->ptr_free = child_list_free;
    }
    tk_err err = act_reply(s->sys, request, reply);
    if (err != TK_OK) act_msg_free(s->sys, reply); /* the requester is gone */
}

void sup__reply_err(sup__state *s, const act_msg *request, tk_err err)
{
    TK_ASSERT(s != NULL && request != NULL);
    sup_reply body = {.err = err, .child = ACT_REF_NONE};
    reply_send(s, request, &body, NULL);
}

static void reply_child(sup__state *s, const act_msg *request, tk_err err, act_ref child)
{
    TK_ASSERT(s != NULL && request != NULL);
    if (err == TK_OK) TK_ASSERT(!act_ref_is_none(child));
    sup_reply body = {.err = err, .child = child};
    reply_send(s, request, &body, NULL);
}

/* ---- The queue of requests that arrived while busy ------------------------------------------- */

act_msg *sup__msg_copy(sup__state *s, act_msg *msg)
{
    TK_ASSERT(s != NULL && msg != NULL);
    TK_ASSERT(msg->size_bytes <= ACT_MSG_INLINE_BYTES);
    act_msg *copy = act_msg_alloc(s->sys);
    if (copy == NULL) return NULL;
    copy->type = msg->type;
    copy->size_bytes = msg->size_bytes;
    copy->sender = msg->sender;
    copy->correlation = msg->correlation;
    memcpy(copy->data, msg->data, msg->size_bytes);
    copy->ptr = msg->ptr; /* taken: the runtime will not free it with msg */
    copy->ptr_free = msg->ptr_free;
    msg->ptr = NULL;
    msg->ptr_free = NULL;
    return copy;
}

static void deferred_push(sup__state *s, act_msg *msg)
{
    TK_ASSERT(msg != NULL);
    TK_ASSERT(s->deferred_count < SUP_DEFERRED_MAX);
    uint32_t at = (s->deferred_head + s->deferred_count) & (SUP_DEFERRED_MAX - 1u);
    s->deferred[at] = msg;
    s->deferred_count++;
}

act_msg *sup__deferred_pop(sup__state *s)
{
    TK_ASSERT(s != NULL);
    TK_ASSERT(s->deferred_count <= SUP_DEFERRED_MAX);
    if (s->deferred_count == 0) return NULL;
    act_msg *msg = s->deferred[s->deferred_head];
    s->deferred[s->deferred_head] = NULL;
    s->deferred_head = (s->deferred_head + 1u) & (SUP_DEFERRED_MAX - 1u);
    s->deferred_count--;
    return msg;
}

void sup__deferred_refuse_all(sup__state *s)
{
    TK_ASSERT(s != NULL);
    for (uint32_t n = 0; n < SUP_DEFERRED_MAX; n++) {
        act_msg *msg = sup__deferred_pop(s);
        if (msg == NULL) break;
        sup__reply_err(s, msg, TK_ESTALE);
        act_msg_free(s->sys, msg);
    }
    TK_ASSERT(s->deferred_count == 0);
}

void sup__request_arrived(sup__state *s, act_msg *msg)
{
    TK_ASSERT(s != NULL && msg != NULL);
    TK_ASSERT(msg->type >= SUP_MSG_START_CHILD && msg->type <= SUP_MSG_STOP);
    if (msg->type == SUP_MSG_STOP) {
        sup__reply_err(s, msg, TK_OK);
        act_reason shutdown = act_reason_of(ACT_REASON_SHUTDOWN);
        sup__shutdown_begin(s, &shutdown);
        return;
    }
    switch (s->mode) {
    case SUP__SHUTTING_DOWN:
        sup__reply_err(s, msg, TK_ESTALE);
        return;
    case SUP__IDLE:
        if (!s->work_hint && s->deferred_count == 0) {
            sup__request_handle(s, msg);
            return;
        }
        break; /* queued work goes first: keep the arrival order */
    case SUP__RESTARTING:
    case SUP__TERMINATING:
        break;
    }
    if (s->deferred_count == SUP_DEFERRED_MAX) {
        sup__reply_err(s, msg, TK_EAGAIN);
        return;
    }
    act_msg *copy = sup__msg_copy(s, msg);
    if (copy == NULL) {
        sup__reply_err(s, msg, TK_EAGAIN);
        return;
    }
    deferred_push(s, copy);
}

/* ---- Carrying requests out ------------------------------------------------------------------- */

/* The request payload: a sup_request, or nothing (all empty). False when malformed. */
static bool request_decode(const act_msg *msg, sup_request *out)
{
    TK_ASSERT(msg != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    out->child = ACT_REF_NONE;
    if (msg->size_bytes == 0) return true;
    if (msg->size_bytes != sizeof(*out)) return false;
    memcpy(out, msg->data, sizeof(*out));
    return memchr(out->id, '\0', sizeof(out->id)) != NULL;
}

static bool is_simple(const sup__state *s)
{
    TK_ASSERT(s != NULL);
    return s->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE;
}

/* A restart of the child is pending (its backoff, a group start or a retry). */
static bool restart_pending(const sup__child *child)
{
    TK_ASSERT(child != NULL);
    if (child->state == SUP__BACKOFF) return true;
    return child->pending_start || child->retry_due;
}

static void req_start_child(sup__state *s, act_msg *msg, const sup_request *req)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    TK_ASSERT(msg->type == SUP_MSG_START_CHILD);
    const sup_child_spec *spec = &s->template_spec;
    const void *arg = req->arg;
    if (is_simple(s)) {
        if (msg->ptr != NULL) goto invalid;
    } else {
        if (msg->ptr == NULL) goto invalid;
        spec = msg->ptr;
        if (sup__child_spec_check(&s->flags, spec) != TK_OK) goto invalid;
        if (sup__child_find_id(s, spec->id) != UINT32_MAX) {
            reply_child(s, msg, TK_EEXIST, ACT_REF_NONE);
            return;
        }
        arg = spec->arg;
    }
    if (s->children_count == s->children_max) {
        reply_child(s, msg, TK_EFULL, ACT_REF_NONE);
        return;
    }
    uint32_t index = s->children_count++;
    sup__child *child = &s->children[index];
    sup__child_init(s, child, spec, arg);
    tk_err err = sup__child_start(s, child);
    if (err != TK_OK) {
        sup__child_remove(s, index); /* as OTP: a spec that fails to start is dropped */
        reply_child(s, msg, err, ACT_REF_NONE);
        return;
    }
    reply_child(s, msg, TK_OK, child->ref);
    return;
invalid:
    reply_child(s, msg, TK_EINVAL, ACT_REF_NONE);
}

static void req_terminate_child(sup__state *s, act_msg *msg, const sup_request *req)
{
    uint32_t index = UINT32_MAX;
    if (req->id[0] != '\0') {
        index = sup__child_find_id(s, req->id);
    } else if (!act_ref_is_none(req->child)) {
        index = sup__child_find_ref(s, req->child);
    }
    if (index == UINT32_MAX) {
        sup__reply_err(s, msg, TK_ENOENT);
        return;
    }
    sup__child *child = &s->children[index];
    child->pending_start = false; /* an explicit terminate cancels a pending restart */
    child->retry_due = false;
    if (child->state == SUP__RUNNING) {
        act_msg *copy = NULL;
        if (msg->correlation != 0) {
            copy = sup__msg_copy(s, msg);
            if (copy == NULL) sup__log_child(TK_LOG_ERROR, s, child, "terminate: no reply", NULL);
        }
        sup__terminate_begin(s, index, copy); /* answered when the child is gone */
        return;
    }
    if (child->state == SUP__BACKOFF) sup__child_backoff_cancel(s, child);
    TK_ASSERT(child->state == SUP__STOPPED); /* IDLE with no queued work: nothing else */
    if (is_simple(s) || child->spec.restart == SUP_TEMPORARY) sup__child_remove(s, index);
    sup__reply_err(s, msg, TK_OK);
}

static void req_restart_child(sup__state *s, act_msg *msg, const sup_request *req)
{
    TK_ASSERT(s != NULL && req != NULL);
    if (is_simple(s)) {
        reply_child(s, msg, TK_EINVAL, ACT_REF_NONE);
        return;
    }
    uint32_t index = sup__child_find_id(s, req->id);
    if (index == UINT32_MAX) {
        reply_child(s, msg, TK_ENOENT, ACT_REF_NONE);
        return;
    }
    sup__child *child = &s->children[index];
    if (restart_pending(child)) {
        reply_child(s, msg, TK_EAGAIN, ACT_REF_NONE);
        return;
    }
    if (child->state != SUP__STOPPED) {
        reply_child(s, msg, TK_EEXIST, ACT_REF_NONE);
        return;
    }
    tk_err err = sup__child_start(s, child);
    reply_child(s, msg, err, err == TK_OK ? child->ref : ACT_REF_NONE);
}

static void req_delete_child(sup__state *s, act_msg *msg, const sup_request *req)
{
    TK_ASSERT(s != NULL && req != NULL);
    if (is_simple(s)) {
        sup__reply_err(s, msg, TK_EINVAL);
        return;
    }
    uint32_t index = sup__child_find_id(s, req->id);
    tk_err err = TK_OK;
    if (index == UINT32_MAX) {
        err = TK_ENOENT;
    } else if (restart_pending(&s->children[index])) {
        err = TK_EAGAIN;
    } else if (s->children[index].state != SUP__STOPPED) {
        err = TK_EPERM;
    } else {
        sup__child_remove(s, index);
    }
    sup__reply_err(s, msg, err);
}

static sup_counts counts_of(const sup__state *s)
{
    TK_ASSERT(s != NULL);
    sup_counts counts = {.specs = s->children_count};
    for (uint32_t i = 0; i < s->children_count; i++) {
        const sup__child *child = &s->children[i];
        if (child->state == SUP__RUNNING) counts.active++;
        if (child->spec.type == SUP_SUPERVISOR) {
            counts.supervisors++;
        } else {
            counts.workers++;
        }
    }
    TK_ASSERT(counts.supervisors + counts.workers == counts.specs);
    return counts;
}

static sup_child_status status_of(const sup__child *child)
{
    TK_ASSERT(child != NULL);
    if (restart_pending(child)) return SUP_CHILD_RESTARTING;
    if (child->state == SUP__RUNNING) return SUP_CHILD_RUNNING;
    return SUP_CHILD_STOPPED;
}

static void req_which_children(sup__state *s, act_msg *msg)
{
    TK_ASSERT(s != NULL && msg != NULL);
    size_t size = sizeof(sup_child_list) + (size_t)s->children_count * sizeof(sup_child_info);
    TK_ASSERT(size <= UINT32_MAX);
    sup_child_list *list = tk_alloc(tk_mem_system(), size);
    if (list == NULL) {
        sup__reply_err(s, msg, TK_ENOMEM);
        return;
    }
    list->count = s->children_count;
    list->size_bytes = (uint32_t)size;
    for (uint32_t i = 0; i < s->children_count; i++) {
        const sup__child *child = &s->children[i];
        sup_child_info *info = &list->items[i];
        memset(info, 0, sizeof(*info));
        memcpy(info->id, child->spec.id, sizeof(info->id));
        info->ref = child->state == SUP__RUNNING ? child->ref : ACT_REF_NONE;
        info->type = child->spec.type;
        info->restart = child->spec.restart;
        info->status = status_of(child);
    }
    sup_reply body = {.err = TK_OK, .child = ACT_REF_NONE, .counts = counts_of(s)};
    reply_send(s, msg, &body, list);
}

void sup__request_handle(sup__state *s, act_msg *msg)
{
    TK_ASSERT(s->mode == SUP__IDLE);
    TK_ASSERT(msg != NULL);
    sup_request req;
    if (!request_decode(msg, &req)) {
        sup__reply_err(s, msg, TK_EINVAL);
        return;
    }
    switch (msg->type) {
    case SUP_MSG_START_CHILD:
        req_start_child(s, msg, &req);
        return;
    case SUP_MSG_TERMINATE_CHILD:
        req_terminate_child(s, msg, &req);
        return;
    case SUP_MSG_RESTART_CHILD:
        req_restart_child(s, msg, &req);
        return;
    case SUP_MSG_DELETE_CHILD:
        req_delete_child(s, msg, &req);
        return;
    case SUP_MSG_WHICH_CHILDREN:
        req_which_children(s, msg);
        return;
    case SUP_MSG_COUNT_CHILDREN: {
        sup_reply body = {.err = TK_OK, .child = ACT_REF_NONE, .counts = counts_of(s)};
        reply_send(s, msg, &body, NULL);
        return;
    }
    default: /* msg->type is a uint32_t, not an enum: STOP never gets here */
        break;
    }
    sup__reply_err(s, msg, TK_EINVAL);
}

/* ---- Wrappers for outside threads ------------------------------------------------------------ */

static void spec_copy_free(void *ptr)
{
    TK_ASSERT(ptr != NULL);
    tk_free(tk_mem_system(), ptr, sizeof(sup_child_spec));
}

/* Send one request (req may be NULL: no payload; spec_copy is moved, may be NULL) and wait
 * for the supervisor's answer, whose sup_reply is copied to out_body; the reply envelope is
 * returned in out_reply when that is not NULL (else freed). */
static tk_err call(act_system *sys, act_port *port, act_ref sup, uint32_t type,
                   const sup_request *req, sup_child_spec *spec_copy, uint32_t timeout_ms,
                   sup_reply *out_body, act_msg **out_reply)
{
    TK_ASSERT(sys != NULL && port != NULL);
    TK_ASSERT(out_body != NULL);
    act_msg *msg = act_msg_alloc(sys);
    if (msg == NULL) {
        if (spec_copy != NULL) spec_copy_free(spec_copy);
        return TK_EFULL;
    }
    msg->type = type;
    msg->sender = act_port_ref(port);
    if (req != NULL) {
        memcpy(msg->data, req, sizeof(*req));
        msg->size_bytes = sizeof(*req);
    }
    msg->ptr = spec_copy;
    msg->ptr_free = spec_copy != NULL ? spec_copy_free : NULL;
    act_msg *reply = NULL;
    tk_err err = act_call(port, sup, msg, timeout_ms, &reply);
    if (err != TK_OK) {
        /* act_call moves msg once sent; TK_ETIMEDOUT comes only after the send. */
        if (err != TK_ETIMEDOUT) act_msg_free(sys, msg);
        return err;
    }
    if (reply->type != SUP_MSG_REPLY || reply->size_bytes != sizeof(sup_reply)) {
        act_msg_free(sys, reply); /* sup is not a supervisor */
        return TK_EINVAL;
    }
    memcpy(out_body, reply->data, sizeof(*out_body));
    if (out_reply != NULL) {
        *out_reply = reply;
    } else {
        act_msg_free(sys, reply);
    }
    return TK_OK;
}

tk_err sup_start_child(act_system *sys, act_port *port, act_ref sup, const void *arg,
                       uint32_t timeout_ms, act_ref *out_child)
{
    TK_ASSERT(out_child != NULL);
    sup_request req = {.child = ACT_REF_NONE, .arg = arg};
    sup_reply body;
    tk_err err = call(sys, port, sup, SUP_MSG_START_CHILD, &req, NULL, timeout_ms, &body, NULL);
    if (err != TK_OK) return err;
    if (body.err != TK_OK) return body.err;
    TK_ASSERT(!act_ref_is_none(body.child));
    *out_child = body.child;
    return TK_OK;
}

tk_err sup_start_child_spec(act_system *sys, act_port *port, act_ref sup,
                            const sup_child_spec *spec, uint32_t timeout_ms, act_ref *out_child)
{
    TK_ASSERT(spec != NULL);
    TK_ASSERT(out_child != NULL);
    sup_child_spec *copy = tk_alloc(tk_mem_system(), sizeof(*copy));
    if (copy == NULL) return TK_ENOMEM;
    *copy = *spec;
    sup_request req = {.child = ACT_REF_NONE};
    sup_reply body;
    tk_err err = call(sys, port, sup, SUP_MSG_START_CHILD, &req, copy, timeout_ms, &body, NULL);
    if (err != TK_OK) return err;
    if (body.err != TK_OK) return body.err;
    TK_ASSERT(!act_ref_is_none(body.child));
    *out_child = body.child;
    return TK_OK;
}

/* A request naming a child by id (NULL: by ref). TK_EINVAL when id does not fit. */
static tk_err request_by_id(const char *id, act_ref child, sup_request *out)
{
    TK_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    out->child = child;
    if (id == NULL) return TK_OK;
    size_t size = strnlen(id, SUP_ID_BYTES);
    if (size == 0 || size >= SUP_ID_BYTES) return TK_EINVAL;
    memcpy(out->id, id, size + 1u);
    return TK_OK;
}

/* A request naming a child, answered with an error code only (or a ref). */
static tk_err call_by_id(act_system *sys, act_port *port, act_ref sup, uint32_t type,
                         const char *id, act_ref child, uint32_t timeout_ms, act_ref *out_child)
{
    TK_ASSERT(type >= SUP_MSG_START_CHILD && type <= SUP_MSG_STOP);
    sup_request req;
    tk_err err = request_by_id(id, child, &req);
    if (err != TK_OK) return err;
    sup_reply body;
    err = call(sys, port, sup, type, &req, NULL, timeout_ms, &body, NULL);
    if (err != TK_OK) return err;
    if (body.err != TK_OK) return body.err;
    if (out_child != NULL) *out_child = body.child;
    return TK_OK;
}

tk_err sup_terminate_child(act_system *sys, act_port *port, act_ref sup, const char *id,
                           act_ref child, uint32_t timeout_ms)
{
    if (id == NULL) TK_ASSERT(!act_ref_is_none(child));
    TK_ASSERT(sys != NULL);
    return call_by_id(sys, port, sup, SUP_MSG_TERMINATE_CHILD, id, child, timeout_ms, NULL);
}

tk_err sup_restart_child(act_system *sys, act_port *port, act_ref sup, const char *id,
                         uint32_t timeout_ms, act_ref *out_child)
{
    TK_ASSERT(id != NULL);
    TK_ASSERT(out_child != NULL);
    return call_by_id(sys, port, sup, SUP_MSG_RESTART_CHILD, id, ACT_REF_NONE, timeout_ms,
                      out_child);
}

tk_err sup_delete_child(act_system *sys, act_port *port, act_ref sup, const char *id,
                        uint32_t timeout_ms)
{
    TK_ASSERT(id != NULL);
    TK_ASSERT(sys != NULL);
    return call_by_id(sys, port, sup, SUP_MSG_DELETE_CHILD, id, ACT_REF_NONE, timeout_ms, NULL);
}

tk_err sup_which_children(act_system *sys, act_port *port, act_ref sup,
                          sup_child_info *out_children, uint32_t capacity, uint32_t *out_count,
                          uint32_t timeout_ms)
{
    TK_ASSERT(out_count != NULL);
    if (capacity > 0) TK_ASSERT(out_children != NULL);
    sup_reply body;
    act_msg *reply = NULL;
    tk_err err =
        call(sys, port, sup, SUP_MSG_WHICH_CHILDREN, NULL, NULL, timeout_ms, &body, &reply);
    if (err != TK_OK) return err;
    if (body.err != TK_OK) {
        act_msg_free(sys, reply);
        return body.err;
    }
    const sup_child_list *list = reply->ptr;
    TK_ASSERT(list != NULL);
    for (uint32_t i = 0; i < list->count && i < capacity; i++) {
        out_children[i] = list->items[i];
    }
    *out_count = list->count;
    act_msg_free(sys, reply); /* frees the list */
    return TK_OK;
}

tk_err sup_count_children(act_system *sys, act_port *port, act_ref sup, uint32_t timeout_ms,
                          sup_counts *out_counts)
{
    TK_ASSERT(out_counts != NULL);
    TK_ASSERT(sys != NULL);
    sup_reply body;
    tk_err err = call(sys, port, sup, SUP_MSG_COUNT_CHILDREN, NULL, NULL, timeout_ms, &body, NULL);
    if (err != TK_OK) return err;
    if (body.err != TK_OK) return body.err;
    *out_counts = body.counts;
    return TK_OK;
}

tk_err sup_stop(act_system *sys, act_port *port, act_ref sup, uint32_t timeout_ms)
{
    TK_ASSERT(sys != NULL && port != NULL);
    TK_ASSERT(!act_ref_is_none(sup));
    uint64_t start_ns = act_now_ns(sys);
    sup_reply body;
    tk_err err = call(sys, port, sup, SUP_MSG_STOP, NULL, NULL, timeout_ms, &body, NULL);
    if (err != TK_OK) return err;
    TK_ASSERT(body.err == TK_OK); /* STOP is always accepted */
    uint64_t spent_ms = (act_now_ns(sys) - start_ns) / NS_PER_MS;
    uint32_t left_ms = spent_ms < timeout_ms ? timeout_ms - (uint32_t)spent_ms : 0;
    return act_port_wait_exit(port, sup, left_ms, NULL);
}
