/* The live Binance spot REST feed (feed.h, feed_binance_spawn): an actor that polls GET
 * /api/v3/klines through the HTTP client service and proposes each closed bar to the journal
 * once, in order, with FeedHealth events for holes in the venue's data and for bars that stop
 * coming. docs/feeds.md, "The live Binance feed", describes it.
 *
 * One request at a time. Its answer (a page of up to 1000 klines) is kept in the state and
 * proposed bar by bar from page_at on; a proposal the journal refuses (its mailbox full, or no
 * journal registered while it restarts) stops the page there, to go on after KICK_MS, so that
 * next_open_ms only ever moves past a bar the journal took. A periodic tick (poll_ms) asks for
 * new bars, judges staleness, and gives up an answer that never came. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.h"

enum {
    MSG_TICK = FEED_MSG_BASE + 20u, /* the poll timer, and the first poll at spawn */
    MSG_KICK = FEED_MSG_BASE + 21u, /* go on with a page after the journal refused a bar */
};

#define LOG_MODULE     "feeds"
#define KICK_MS        20u   /* pause before proposing again after the journal refused */
#define LOST_MARGIN_MS 5000u /* past a request's timeouts and backoffs, its answer is lost */
#define NS_PER_MS      1000000LL

/* IDLE -> ASKING (a request sent) -> IDLE (its answer handled, or given up);
 * ASKING -> PROPOSING (the journal refused a bar of the page) -> PROPOSING (refused again)
 *        -> IDLE (the page is done).
 * IDLE: no request in flight, the page is empty. ASKING: one request in flight, tagged tag.
 * PROPOSING: page_at < page_count, a kick is due. */
typedef enum live_phase { LIVE_IDLE, LIVE_ASKING, LIVE_PROPOSING } live_phase;

typedef struct live_state {
    feed_binance_opts opts; /* a copy; opts.http and opts.stats borrowed */
    act_named journal;
    act_timer poll_timer;
    int64_t interval_ms;
    live_phase phase;
    bool started;             /* next_open_ms is known (start_ms, or the first answer) */
    int64_t next_open_ms;     /* open time of the next bar to propose */
    int64_t spawned_ms;       /* wall time at spawn: staleness before the start is known */
    int64_t gap_told_ms;      /* open time of a bar whose gap event the journal took, the bar
                                 itself not yet; -1 for none */
    bool stale;               /* a FeedHealth stale was proposed and no bar since */
    bool answered;            /* an answer (or its loss) was handled since the spawn */
    bool paging;              /* the last page was full: more closed bars wait at the venue */
    bool kick_pending;        /* a MSG_KICK is on its way */
    uint64_t tag;             /* the request in flight's */
    uint64_t lost_at_ns;      /* system clock: the answer in flight is given up after this */
    uint64_t resume_at_ns;    /* system clock: no request before this (Retry-After, weight) */
    uint64_t refused_in_row;  /* proposals refused in a row: logged at the first, every 256th */
    uint64_t failures_in_row; /* answers without bars in a row: logged at powers of two */
    size_t page_count, page_at;
    bool page_full;
    feed_bar page[FEED_BINANCE_KLINES_MAX];
    feed_error why;
} live_state;

/* ---- Small helpers ------------------------------------------------------------------------- */

#define STAT_ADD(s, field)                                                                \
    do {                                                                                  \
        if ((s)->opts.stats != NULL)                                                      \
            atomic_fetch_add_explicit(&(s)->opts.stats->field, 1u, memory_order_relaxed); \
    } while (0)

static int64_t wall_ms(const live_state *s)
{
    TK_ASSERT(s->opts.clock != NULL);
    return tk_clock_wall_ns(s->opts.clock) / NS_PER_MS;
}

static uint64_t mono_ns(act_ctx *ctx)
{
    return act_now_ns(act_ctx_system(ctx));
}

/* "2021-10-22T23:05:00Z" for ms since the epoch. */
static void format_time(int64_t ms, char *buf, size_t size)
{
    TK_ASSERT(buf != NULL && size >= 24u);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%lld ms", (long long)ms);
        return;
    }
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void set_phase(live_state *s, live_phase next)
{
    switch (s->phase) {
    case LIVE_IDLE:
        TK_ASSERT(next == LIVE_ASKING);
        break;
    case LIVE_ASKING:
        TK_ASSERT(next == LIVE_IDLE || next == LIVE_PROPOSING);
        break;
    case LIVE_PROPOSING:
        TK_ASSERT(next == LIVE_IDLE || next == LIVE_PROPOSING);
        break;
    }
    s->phase = next;
}

static void live_invariants(const live_state *s)
{
    TK_ASSERT(s->page_at <= s->page_count);
    TK_ASSERT(s->page_count <= FEED_BINANCE_KLINES_MAX);
    if (s->phase == LIVE_PROPOSING) TK_ASSERT(s->page_at < s->page_count);
    if (s->phase == LIVE_IDLE) TK_ASSERT(s->page_count == 0);
    if (s->started) TK_ASSERT(s->next_open_ms >= 0);
    if (s->opts.stats != NULL)
        atomic_store_explicit(&s->opts.stats->next_open_ms, s->started ? s->next_open_ms : 0,
                              memory_order_relaxed);
}

/* ---- Proposals ------------------------------------------------------------------------------ */

static tk_err propose(act_ctx *ctx, live_state *s, const led_event *ev)
{
    TK_ASSERT(ev->type == LED_EV_BAR_CLOSED || ev->type == LED_EV_FEED_HEALTH);
    TK_DASSERT(led_event_check(ev, NULL) == TK_OK);
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    return act_send_named_copy(act_ctx_system(ctx), &s->journal, act_self(ctx), LED_MSG_PROPOSE,
                               &flags, sizeof(flags), ev, sizeof(*ev));
}

static void health_event(const live_state *s, led_feed_status status, int64_t ts_ms,
                         const char *detail, led_event *ev)
{
    TK_ASSERT(ts_ms >= 0 && detail != NULL);
    memset(ev, 0, sizeof(*ev));
    ev->type = LED_EV_FEED_HEALTH;
    ev->version = 1;
    ev->ts_ns = ts_ms * NS_PER_MS;
    struct led_ev_feed_health *h = &ev->u.feed_health;
    snprintf(h->feed, sizeof(h->feed), "%s", FEED_BINANCE_NAME);
    memcpy(h->symbol, s->opts.symbol, sizeof(h->symbol));
    h->status = status;
    snprintf(h->detail, sizeof(h->detail), "%s", detail);
}

/* As the replay feed's bar_event (feed_actor.c): time is the bar's close. */
static void bar_event(const live_state *s, const feed_bar *bar, led_event *ev)
{
    TK_ASSERT(bar->open_ts_ns >= 0 && s->interval_ms > 0);
    memset(ev, 0, sizeof(*ev));
    ev->type = LED_EV_BAR_CLOSED;
    ev->version = 1;
    ev->ts_ns = bar->open_ts_ns + s->interval_ms * NS_PER_MS;
    struct led_ev_bar_closed *b = &ev->u.bar_closed;
    memcpy(b->symbol, s->opts.symbol, sizeof(b->symbol));
    b->open_ts_ns = bar->open_ts_ns;
    b->interval_s = s->interval_ms / 1000;
    b->open_e8 = bar->open_e8;
    b->high_e8 = bar->high_e8;
    b->low_e8 = bar->low_e8;
    b->close_e8 = bar->close_e8;
    b->volume_e8 = bar->volume_e8;
}

/* Propose the bar at open_ms, preceded by FeedHealth ok (after a stale episode) and FeedHealth
 * gap (when the venue skipped open times before it). Each event is proposed once: on an error
 * the events the journal took are remembered and not proposed again. */
static tk_err propose_bar(act_ctx *ctx, live_state *s, const feed_bar *bar, int64_t open_ms)
{
    TK_ASSERT(open_ms >= s->next_open_ms);
    TK_ASSERT((open_ms - s->next_open_ms) % s->interval_ms == 0);
    led_event ev;
    if (s->stale) {
        health_event(s, LED_FEED_OK, wall_ms(s), "bars are coming again", &ev);
        tk_err err = propose(ctx, s, &ev);
        if (err != TK_OK) return err;
        s->stale = false;
        TK_LOG(TK_LOG_INFO, LOG_MODULE, "binance feed: bars are coming again",
               TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_I64("open_ms", open_ms));
    }
    int64_t missing = (open_ms - s->next_open_ms) / s->interval_ms;
    if (missing > 0 && s->gap_told_ms != open_ms) {
        char when[32], detail[LED_TEXT_BYTES];
        format_time(open_ms, when, sizeof(when));
        snprintf(detail, sizeof(detail), "%lld bars missing before %s", (long long)missing, when);
        health_event(s, LED_FEED_GAP, open_ms, detail, &ev);
        tk_err err = propose(ctx, s, &ev);
        if (err != TK_OK) return err;
        s->gap_told_ms = open_ms;
        STAT_ADD(s, gaps);
        TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: a hole in the venue's data",
               TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_STR("detail", detail));
    }
    bar_event(s, bar, &ev);
    tk_err err = propose(ctx, s, &ev);
    if (err != TK_OK) return err;
    s->gap_told_ms = -1;
    STAT_ADD(s, bars);
    return TK_OK;
}

/* FeedHealth stale, once per episode, when the next bar is due (its close + stale_after_ms)
 * and has not come. Judged once an answer was handled (not at spawn, before the first request
 * could answer) and not while paging through full pages (bars are coming). */
static void check_stale(act_ctx *ctx, live_state *s)
{
    TK_ASSERT(s->interval_ms > 0);
    if (s->stale || !s->answered || s->paging) return;
    int64_t now = wall_ms(s);
    int64_t open_ms = s->started ? s->next_open_ms : s->spawned_ms;
    int64_t due_ms = open_ms + s->interval_ms + (int64_t)s->opts.stale_after_ms;
    if (now < due_ms) return;
    char when[32], detail[LED_TEXT_BYTES];
    format_time(open_ms, when, sizeof(when));
    if (s->started)
        snprintf(detail, sizeof(detail), "the bar of %s not received %lld s after its close", when,
                 (long long)((now - open_ms - s->interval_ms) / 1000));
    else
        snprintf(detail, sizeof(detail), "no closed bar received since the start at %s", when);
    led_event ev;
    health_event(s, LED_FEED_STALE, now, detail, &ev);
    if (propose(ctx, s, &ev) != TK_OK) return; /* judged again at the next tick */
    s->stale = true;
    STAT_ADD(s, stale);
    TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: stale", TK_LOG_STR("symbol", s->opts.symbol),
           TK_LOG_STR("detail", detail));
}

/* ---- The page ------------------------------------------------------------------------------- */

/* With no start given: the latest closed bar of the page is the first one proposed. */
static void choose_start(live_state *s)
{
    TK_ASSERT(!s->started);
    int64_t now = wall_ms(s);
    for (size_t i = s->page_count; i > 0; i--) {
        int64_t open_ms = s->page[i - 1].open_ts_ns / NS_PER_MS;
        if (open_ms + s->interval_ms <= now) {
            s->next_open_ms = open_ms;
            s->started = true;
            break;
        }
    }
    if (!s->started) s->page_count = 0; /* nothing closed yet: ask again at the next poll */
    TK_ASSERT(s->page_at == 0);
}

static void bad_page(live_state *s, const char *what, int64_t open_ms)
{
    char when[32];
    format_time(open_ms, when, sizeof(when));
    STAT_ADD(s, failures);
    TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: a bad klines answer, asked again later",
           TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_STR("what", what),
           TK_LOG_STR("open_time", when), TK_LOG_I64("next_open_ms", s->next_open_ms));
}

/* Propose the page's bars from page_at on, in order, up to the first one still forming. false
 * when the journal refused a proposal: page_at is the bar to go on with. */
static bool drain(act_ctx *ctx, live_state *s)
{
    TK_ASSERT(s->started || s->page_count == 0);
    int64_t now = wall_ms(s);
    while (s->page_at < s->page_count) { /* bounded: page_count <= FEED_BINANCE_KLINES_MAX */
        const feed_bar *bar = &s->page[s->page_at];
        int64_t open_ms = bar->open_ts_ns / NS_PER_MS;
        if (open_ms + s->interval_ms > now) { /* still forming, and nothing after it closed */
            s->page_full = false;
            break;
        }
        if (open_ms < s->next_open_ms) { /* proposed already (an overlapping answer) */
            s->page_at++;
            continue;
        }
        if (bar->open_ts_ns % NS_PER_MS != 0 || (open_ms - s->next_open_ms) % s->interval_ms) {
            bad_page(s, "an open time off the interval's grid", open_ms);
            s->page_full = false;
            break;
        }
        tk_err err = propose_bar(ctx, s, bar, open_ms);
        if (err != TK_OK) {
            STAT_ADD(s, refused);
            if (s->refused_in_row++ % 256u == 0)
                TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: the journal refused a bar, retrying",
                       TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_STR("err", tk_err_name(err)),
                       TK_LOG_I64("open_ms", open_ms));
            return false;
        }
        s->refused_in_row = 0;
        s->next_open_ms = open_ms + s->interval_ms;
        s->page_at++;
    }
    s->page_at = s->page_count = 0;
    return true;
}

static tk_err schedule_kick(act_ctx *ctx, live_state *s)
{
    TK_ASSERT(s->phase == LIVE_PROPOSING);
    if (s->kick_pending) return TK_OK;
    act_system *sys = act_ctx_system(ctx);
    act_msg *msg = act_msg_alloc(sys);
    if (msg == NULL) return TK_OK; /* the next tick goes on with the page */
    msg->type = MSG_KICK;
    msg->sender = act_self(ctx);
    if (act_send_after(sys, KICK_MS, act_self(ctx), msg, NULL) != TK_OK) {
        act_msg_free(sys, msg);
        return TK_OK;
    }
    s->kick_pending = true;
    return TK_OK;
}

static void maybe_ask(act_ctx *ctx, live_state *s);

/* Propose what the page holds; then, when the page was full of closed bars, ask for the next
 * one at once. */
static tk_err go_on(act_ctx *ctx, live_state *s)
{
    TK_ASSERT(s->phase == LIVE_ASKING || s->phase == LIVE_PROPOSING);
    if (!drain(ctx, s)) {
        set_phase(s, LIVE_PROPOSING);
        return schedule_kick(ctx, s);
    }
    set_phase(s, LIVE_IDLE);
    s->paging = s->page_full;
    s->page_full = false;
    check_stale(ctx, s);
    if (s->paging) maybe_ask(ctx, s);
    live_invariants(s);
    return TK_OK;
}

/* ---- Requests and answers ------------------------------------------------------------------- */

/* Ask for the next page unless a request is in flight, the page is not done, the venue asked
 * to wait, or no new bar can have closed yet. */
static void maybe_ask(act_ctx *ctx, live_state *s)
{
    TK_ASSERT(s->interval_ms > 0);
    if (s->phase != LIVE_IDLE || mono_ns(ctx) < s->resume_at_ns) return;
    int64_t now = wall_ms(s);
    if (now < 0) return; /* a wall clock before 1970: nothing to ask for */
    if (s->started && s->next_open_ms + s->interval_ms > now) return;
    int64_t start_ms = s->next_open_ms;
    if (!s->started) start_ms = now > 2 * s->interval_ms ? now - 2 * s->interval_ms : 0;
    net_request *req = malloc(sizeof(*req));
    if (req == NULL) return; /* asked again at the next tick */
    tk_err err =
        feed_binance_klines_request(req, s->opts.base_url, s->opts.symbol, s->opts.interval,
                                    start_ms, now, FEED_BINANCE_KLINES_MAX, &s->why);
    TK_ASSERT(err == TK_OK); /* the arguments were checked at the spawn; start_ms <= now */
    req->tag = ++s->tag;
    uint64_t lost_after_ms = (uint64_t)req->timeout_ms * (req->retries_max + 1u) +
                             (uint64_t)req->backoff_max_ms * req->retries_max + LOST_MARGIN_MS;
    err = net_http_send(s->opts.http, act_self(ctx), req); /* req moved on every return */
    if (err != TK_OK) {
        STAT_ADD(s, failures);
        TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: cannot send, asking again later",
               TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_STR("err", tk_err_name(err)));
        return;
    }
    s->lost_at_ns = mono_ns(ctx) + lost_after_ms * (uint64_t)NS_PER_MS;
    set_phase(s, LIVE_ASKING);
    STAT_ADD(s, requests);
}

/* The venue's pacing: no request before its wait has passed. */
static void note_pace(act_ctx *ctx, live_state *s, const net_response *resp)
{
    feed_binance_pace pace;
    feed_binance_pace_of(resp, wall_ms(s), s->opts.weight_limit_1m, &pace);
    TK_ASSERT(pace.wait_ms >= 0);
    if (pace.wait_ms == 0) return;
    s->resume_at_ns = mono_ns(ctx) + (uint64_t)pace.wait_ms * (uint64_t)NS_PER_MS;
    STAT_ADD(s, waits);
    TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: the venue asks to wait",
           TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_I64("status", resp->status),
           TK_LOG_I64("retry_after_s", pace.retry_after_s),
           TK_LOG_I64("used_weight_1m", pace.used_weight_1m), TK_LOG_I64("wait_ms", pace.wait_ms));
}

static tk_err on_response(act_ctx *ctx, live_state *s, act_msg *msg)
{
    const net_response *resp = msg->ptr;
    if (resp == NULL || s->phase != LIVE_ASKING || msg->correlation != s->tag) {
        TK_LOG(TK_LOG_INFO, LOG_MODULE, "binance feed: a late answer dropped",
               TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_U64("tag", msg->correlation));
        return TK_OK;
    }
    TK_ASSERT(s->page_count == 0 && s->page_at == 0);
    s->answered = true;
    note_pace(ctx, s, resp);
    size_t count = 0;
    tk_err err = feed_binance_klines_parse(resp, s->page, FEED_BINANCE_KLINES_MAX, &count, &s->why);
    if (err != TK_OK) {
        STAT_ADD(s, failures);
        s->failures_in_row++;
        if ((s->failures_in_row & (s->failures_in_row - 1u)) == 0) /* 1, 2, 4, 8...: no flood */
            TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: no bars from this answer, asking again",
                   TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_STR("err", tk_err_name(err)),
                   TK_LOG_STR("why", s->why.text), TK_LOG_U64("attempts", resp->attempts),
                   TK_LOG_U64("failures_in_row", s->failures_in_row));
        set_phase(s, LIVE_IDLE);
        s->paging = false;
        check_stale(ctx, s);
        return TK_OK;
    }
    s->failures_in_row = 0;
    s->page_count = count;
    s->page_full = count == FEED_BINANCE_KLINES_MAX;
    if (!s->started) choose_start(s);
    return go_on(ctx, s);
}

/* The poll: give up an answer that never came, judge staleness, ask for new bars. */
static tk_err on_tick(act_ctx *ctx, live_state *s)
{
    TK_ASSERT(s->interval_ms > 0);
    if (s->phase == LIVE_ASKING && mono_ns(ctx) >= s->lost_at_ns) {
        STAT_ADD(s, failures);
        TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: no answer came, asking again",
               TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_U64("tag", s->tag));
        s->tag++; /* the answer, should it still come, is dropped as late */
        s->answered = true;
        s->paging = false;
        set_phase(s, LIVE_IDLE);
    }
    if (s->phase == LIVE_PROPOSING) return go_on(ctx, s);
    check_stale(ctx, s);
    maybe_ask(ctx, s);
    live_invariants(s);
    return TK_OK;
}

/* ---- The behaviour -------------------------------------------------------------------------- */

static tk_err live_init(act_ctx *ctx, void *state, const void *arg)
{
    live_state *s = state;
    s->opts = *(const feed_binance_opts *)arg;
    if (s->opts.clock == NULL) s->opts.clock = tk_clock_system();
    s->journal = ACT_NAMED(LED_JOURNAL_NAME);
    s->interval_ms = feed_binance_interval_ms(s->opts.interval);
    TK_ASSERT(s->interval_ms > 0 && s->opts.start_ms >= 0);
    s->started = s->opts.start_ms > 0;
    s->next_open_ms = s->opts.start_ms;
    s->spawned_ms = wall_ms(s);
    s->gap_told_ms = -1;
    s->stale = s->opts.stale_at_start;
    act_system *sys = act_ctx_system(ctx);
    tk_err err = act_send_interval(sys, s->opts.poll_ms, act_self(ctx), act_self(ctx), MSG_TICK,
                                   NULL, 0, &s->poll_timer);
    if (err != TK_OK) return err;
    err = act_send_data(sys, act_self(ctx), act_self(ctx), MSG_TICK, NULL, 0); /* ask now */
    if (err != TK_OK) {
        tk_err cancelled = act_timer_cancel(sys, s->poll_timer);
        TK_ASSERT(cancelled == TK_OK || cancelled == TK_ENOENT);
        return err;
    }
    live_invariants(s);
    return TK_OK;
}

static tk_err live_handle(act_ctx *ctx, void *state, act_msg *msg)
{
    live_state *s = state;
    TK_ASSERT(msg != NULL);
    tk_err err = TK_OK;
    if (msg->type == MSG_TICK) {
        err = on_tick(ctx, s);
    } else if (msg->type == NET_MSG_RESPONSE) {
        err = on_response(ctx, s, msg);
    } else if (msg->type == MSG_KICK) {
        s->kick_pending = false;
        if (s->phase == LIVE_PROPOSING) err = go_on(ctx, s);
    } else { /* not ours: say so, and go on */
        TK_LOG(TK_LOG_WARN, LOG_MODULE, "binance feed: an unexpected message dropped",
               TK_LOG_STR("symbol", s->opts.symbol), TK_LOG_U64("type", msg->type),
               TK_LOG_U64("sender_slot", msg->sender.slot));
    }
    live_invariants(s);
    return err;
}

static void live_terminate(act_ctx *ctx, void *state, const act_reason *reason)
{
    (void)reason;
    live_state *s = state;
    tk_err err = act_timer_cancel(act_ctx_system(ctx), s->poll_timer);
    TK_ASSERT(err == TK_OK || err == TK_ENOENT); /* ENOENT: the timer found the actor gone */
}

static const act_behaviour live_behaviour = {
    .name = "binance_feed",
    .init = live_init,
    .handle = live_handle,
    .terminate = live_terminate,
};

void feed_binance_pace_of(const net_response *resp, int64_t now_ms, uint32_t weight_limit_1m,
                          feed_binance_pace *out)
{
    TK_ASSERT(resp != NULL && out != NULL);
    TK_ASSERT(now_ms >= 0);
    char text[32] = "";
    char *end = NULL;
    out->retry_after_s = net_response_retry_after_s(resp);
    out->used_weight_1m = -1;
    if (net_response_header(resp, "X-MBX-USED-WEIGHT-1M", text, sizeof(text))) {
        long long used = strtoll(text, &end, 10);
        if (end != text && *end == '\0' && used >= 0) out->used_weight_1m = used;
    }
    out->wait_ms = 0;
    if (resp->err == TK_OK && (resp->status == 429 || resp->status == 418))
        out->wait_ms = 1000 * (out->retry_after_s > 0 ? out->retry_after_s : 1);
    else if (weight_limit_1m > 0 && out->used_weight_1m >= (int64_t)weight_limit_1m)
        out->wait_ms = 60000 - now_ms % 60000 + 100; /* Binance's minute is the UTC minute */
}

tk_err feed_binance_spawn(act_system *sys, const feed_binance_opts *opts, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL && opts != NULL && out_ref != NULL);
    if (opts->http == NULL || opts->start_ms < 0 || opts->poll_ms == 0) return TK_EINVAL;
    if (opts->weight_limit_1m == 0) return TK_EINVAL;
    if (opts->mailbox_capacity < 4 || opts->mailbox_capacity > ACT_MAILBOX_DEPTH_MAX)
        return TK_EINVAL;
    if (memchr(opts->base_url, '\0', sizeof(opts->base_url)) == NULL) return TK_EINVAL;
    if (memchr(opts->symbol, '\0', sizeof(opts->symbol)) == NULL) return TK_EINVAL;
    if (memchr(opts->interval, '\0', sizeof(opts->interval)) == NULL) return TK_EINVAL;
    net_request *probe = calloc(1, sizeof(*probe)); /* the arguments as the request checks them */
    if (probe == NULL) return TK_ENOMEM;
    tk_err err = feed_binance_klines_request(probe, opts->base_url, opts->symbol, opts->interval, 0,
                                             0, 1, NULL);
    net_request_free(probe);
    if (err != TK_OK) return TK_EINVAL;
    act_spawn_opts spawn = {.behaviour = &live_behaviour,
                            .state_size_bytes = sizeof(live_state),
                            .arg = opts,
                            .mailbox_capacity = opts->mailbox_capacity,
                            .link_to = opts->link_to,
                            .trap_exit = false};
    return act_spawn(sys, &spawn, out_ref);
}
