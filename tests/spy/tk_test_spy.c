/* The commit spy (tk_test_spy.h). */
#include <stdlib.h>

#include "tk_test_spy.h"

typedef struct spy_state {
    act_ref to;
    act_named journal;
} spy_state;

static tk_err spy_init(act_ctx *ctx, void *state, const void *arg)
{
    spy_state *s = state;
    s->to = *(const act_ref *)arg;
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    return act_group_join(act_ctx_system(ctx), LED_GROUP_STRATEGIES, act_self(ctx));
}

static tk_err spy_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    spy_state *s = state;
    act_system *sys = act_ctx_system(ctx);
    if (msg->type != LED_MSG_COMMITTED || msg->ptr == NULL)
        return act_fail(ctx, TK_EINVAL, "spy: unexpected message %u", msg->type);
    const led_commit *c = msg->ptr;
    led_commit *copy = malloc(sizeof(*copy));
    act_msg *out = act_msg_alloc(sys);
    if (copy == NULL || out == NULL) {
        free(copy);
        act_msg_free(sys, out);
        return act_fail(ctx, TK_ENOMEM, "spy: no memory");
    }
    *copy = *c;
    out->type = TK_TEST_MSG_SEEN;
    out->ptr = copy;
    out->ptr_free = free;
    tk_err err = act_send(sys, s->to, out);
    if (err != TK_OK) {
        act_msg_free(sys, out);
        return act_fail(ctx, err, "spy: the test's port");
    }
    led_ack ack = {.index = c->index, .flags = 0}; /* after the copy: IDLE comes after it */
    return act_send_named(sys, &s->journal, act_self(ctx), LED_MSG_ACK, &ack, sizeof(ack), NULL,
                          NULL);
}

static const act_behaviour spy_behaviour = {
    .name = "test_spy", .init = spy_init, .handle = spy_handle, .terminate = NULL};

tk_err tk_test_spy_spawn(act_system *sys, act_ref to, act_ref *out_ref)
{
    act_spawn_opts spy = {.behaviour = &spy_behaviour,
                          .state_size_bytes = sizeof(spy_state),
                          .arg = &to,
                          .mailbox_capacity = 256,
                          .link_to = ACT_REF_NONE,
                          .trap_exit = false};
    return act_spawn(sys, &spy, out_ref);
}
