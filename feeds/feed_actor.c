/* The replay feed: an actor that reads candle files (feed_file) and proposes one BarClosed per
 * bar to the journal, at full speed (the next bar once the journal says the graph is idle, so
 * that every strategy and the venue have settled the last one) or paced at `speed` times real
 * time. Gaps are proposed as FeedHealth events before the bar that ends them, so they are in
 * the log for the auditor. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

enum { MSG_NEXT = FEED_MSG_BASE + 10u };

typedef struct feed_state {
    act_named journal; /* the journal, looked up by name when needed */
    feed_actor_opts opts;
    feed_file *file; /* owned: the file being read */
    uint32_t file_at;
    feed_actor_result result;
    bool waiting;          /* a batch was handed over; the journal's IDLE is due */
    led_paced_batch batch; /* the bars (and gap events) of the next hand-over */
    tk_err end;            /* after the last batch: TK_OK (read to the end) or the failure */
    bool ended;
    feed_error end_why;
} feed_state;

/* Hand the batch to the journal, which commits its events one at a time as the graph settles
 * (a heap copy of the used part moves with the message). */
static tk_err send_batch(act_ctx *ctx, feed_state *s)
{
    TK_ASSERT(s->batch.count > 0 && s->batch.count <= LED_PACED_EVENTS_MAX);
    size_t bytes = offsetof(led_paced_batch, events) + s->batch.count * sizeof(led_event);
    s->waiting = true;
    return act_send_named_copy(act_ctx_system(ctx), &s->journal, act_self(ctx),
                               LED_MSG_PROPOSE_PACED, NULL, 0, &s->batch, bytes);
}

/* Report the end (err TK_OK) or a failure to the waiting port, then stop. */
static tk_err finish(act_ctx *ctx, feed_state *s, tk_err err, const char *text)
{
    s->result.err = err;
    snprintf(s->result.text, sizeof(s->result.text), "%s", text);
    feed_file_close(s->file);
    s->file = NULL;
    act_stop(ctx, ACT_REASON_NORMAL);
    TK_LOG(err == TK_OK ? TK_LOG_INFO : TK_LOG_ERROR, "feed", "replay ended",
           TK_LOG_ERR("err", err), TK_LOG_U64("bars", s->result.bars), TK_LOG_STR("why", text));
    if (act_ref_is_none(s->opts.report_to)) return TK_OK;
    act_system *sys = act_ctx_system(ctx);
    act_msg *msg = act_msg_alloc(sys);
    feed_actor_result *copy = malloc(sizeof(*copy));
    if (msg == NULL || copy == NULL) {
        free(copy);
        act_msg_free(sys, msg);
        return TK_ENOMEM;
    }
    *copy = s->result;
    msg->type = FEED_MSG_DONE;
    msg->sender = act_self(ctx);
    msg->ptr = copy;
    msg->ptr_free = free;
    tk_err sent = act_send(sys, s->opts.report_to, msg);
    if (sent != TK_OK) act_msg_free(sys, msg);
    return sent;
}

static tk_err open_file(feed_state *s, feed_error *why)
{
    TK_ASSERT(s->file == NULL && s->file_at < s->opts.file_count);
    tk_err err = feed_file_open(s->opts.files[s->file_at], tk_mem_system(), &s->file, why);
    if (err == TK_OK && s->file_at == 0) s->result.interval_s = feed_file_interval_s(s->file);
    return err;
}

/* The next bar of the files in turn; TK_ENOENT after the last. */
static tk_err next_bar(feed_state *s, feed_bar *bar, feed_error *why)
{
    for (;;) { /* bounded: each turn opens the next of file_count files or returns */
        if (s->file == NULL) {
            if (s->file_at == s->opts.file_count) return TK_ENOENT;
            tk_err err = open_file(s, why);
            if (err != TK_OK) return err;
        }
        tk_err err = feed_file_next(s->file, bar, why);
        if (err != TK_ENOENT) return err;
        feed_file_close(s->file);
        s->file = NULL;
        s->file_at++;
    }
}

static void bar_event(const feed_state *s, const feed_bar *bar, led_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = LED_EV_BAR_CLOSED;
    ev->version = 1;
    ev->ts_ns = bar->open_ts_ns + s->result.interval_s * 1000000000LL; /* the bar's close */
    struct led_ev_bar_closed *b = &ev->u.bar_closed;
    memcpy(b->symbol, s->opts.symbol, sizeof(b->symbol));
    b->open_ts_ns = bar->open_ts_ns;
    b->interval_s = s->result.interval_s;
    b->open_e8 = bar->open_e8;
    b->high_e8 = bar->high_e8;
    b->low_e8 = bar->low_e8;
    b->close_e8 = bar->close_e8;
    b->volume_e8 = bar->volume_e8;
}

/* A gap before bar, as a FeedHealth event in the log. */
static void gap_event(feed_state *s, const feed_bar *bar, led_event *out)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_FEED_HEALTH;
    ev.version = 1;
    ev.ts_ns = bar->open_ts_ns;
    struct led_ev_feed_health *h = &ev.u.feed_health;
    snprintf(h->feed, sizeof(h->feed), "replay");
    memcpy(h->symbol, s->opts.symbol, sizeof(h->symbol));
    h->status = LED_FEED_GAP;
    snprintf(h->detail, sizeof(h->detail), "%llu bars missing before line %llu of %s",
             (unsigned long long)bar->gap_bars, (unsigned long long)bar->line,
             s->opts.files[s->file_at < s->opts.file_count ? s->file_at : 0]);
    s->result.gaps++;
    *out = ev;
}

/* Read the next bars into the batch: up to a batch's worth at full speed, one when paced.
 * The end of the files or a bad row ends the filling and is kept for after the batch. */
static void fill_batch(feed_state *s)
{
    uint32_t bars_max = s->opts.speed > 0.0 ? 1u : LED_PACED_EVENTS_MAX / 2u;
    TK_ASSERT(s->batch.count == 0);
    for (uint32_t n = 0; n < bars_max;) { /* two events at most per bar: a gap, the bar */
        feed_bar bar;
        tk_err err = next_bar(s, &bar, &s->end_why);
        if (err == TK_OK && s->result.interval_s <= 0) {
            snprintf(s->end_why.text, sizeof(s->end_why.text),
                     "the files hold fewer than two bars: no interval");
            err = TK_EINVAL;
        }
        if (err != TK_OK) {
            s->ended = true;
            s->end = err == TK_ENOENT ? TK_OK : err;
            return;
        }
        if (bar.open_ts_ns + s->result.interval_s * 1000000000LL <= s->opts.resume_after_ns) {
            continue; /* committed under an earlier leader (bounded by the files' length) */
        }
        if (bar.gap_bars > 0) gap_event(s, &bar, &s->batch.events[s->batch.count++]);
        bar_event(s, &bar, &s->batch.events[s->batch.count++]);
        if (s->result.bars == 0) s->result.first_ts_ns = bar.open_ts_ns;
        s->result.last_ts_ns = bar.open_ts_ns;
        s->result.bars++;
        n++;
    }
}

static tk_err on_next(act_ctx *ctx, feed_state *s)
{
    s->batch.count = 0; /* the last batch was handed over (and copied) */
    if (!s->ended) fill_batch(s);
    if (s->opts.progress != NULL)
        atomic_store_explicit(s->opts.progress, s->result.bars, memory_order_relaxed);
    if (s->batch.count > 0) return send_batch(ctx, s);
    TK_ASSERT(s->ended);
    return finish(ctx, s, s->end, s->end == TK_OK ? "" : s->end_why.text);
}

/* The journal is idle: the next bar now, or after interval / speed of real time. */
static tk_err on_idle(act_ctx *ctx, feed_state *s)
{
    TK_ASSERT(s->waiting);
    s->waiting = false;
    act_system *sys = act_ctx_system(ctx);
    if (s->opts.speed <= 0.0 || s->ended) return on_next(ctx, s); /* the next batch now */
    act_msg *msg = act_msg_alloc(sys);
    if (msg == NULL) return TK_EFULL;
    msg->type = MSG_NEXT;
    msg->sender = act_self(ctx);
    double delay_ms = (double)s->result.interval_s * 1000.0 / s->opts.speed;
    tk_err err = act_send_after(sys, delay_ms < 4e9 ? (uint32_t)delay_ms : UINT32_MAX,
                                act_self(ctx), msg, NULL);
    if (err != TK_OK) act_msg_free(sys, msg);
    return err;
}

static tk_err feed_init(act_ctx *ctx, void *state, const void *arg)
{
    feed_state *s = state;
    s->opts = *(const feed_actor_opts *)arg;
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    TK_ASSERT(s->opts.file_count > 0 && s->opts.files != NULL);
    return act_send_data(act_ctx_system(ctx), act_self(ctx), act_self(ctx), MSG_NEXT, NULL, 0);
}

static tk_err feed_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    feed_state *s = state;
    tk_err err = TK_OK;
    if (msg->type == MSG_NEXT)
        err = on_next(ctx, s);
    else if (msg->type == LED_MSG_IDLE)
        err = on_idle(ctx, s);
    else
        err = act_fail(ctx, TK_EINVAL, "unexpected message type %u", msg->type);
    return err;
}

static void feed_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)ctx;
    (void)reason;
    feed_state *s = state;
    feed_file_close(s->file);
    s->file = NULL;
}

static const act_behaviour feed_behaviour = {
    .name = "replay_feed",
    .init = feed_init,
    .handle = feed_handle,
    .terminate = feed_terminate,
};

tk_err feed_actor_spawn(act_system *sys, const feed_actor_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && opts != NULL && out_ref != NULL);
    if (opts->file_count == 0 || opts->symbol[0] == '\0' || opts->speed < 0.0) return TK_EINVAL;
    act_spawn_opts spawn = {.behaviour = &feed_behaviour,
                            .state_size_bytes = sizeof(feed_state),
                            .arg = opts,
                            .mailbox_capacity = 8,
                            .link_to = opts->link_to,
                            .trap_exit = false};
    return act_spawn(sys, &spawn, out_ref);
}
