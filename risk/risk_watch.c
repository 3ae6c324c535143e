/* The watch: the monitor's rules as a pure state machine (no clock, no I/O, no actors). It
 * tracks what it needs of the account (equity, peak, start of day) the way the ledger does
 * (ledger/led_apply.c), each watched symbol's breaker and the causes the monitor holds against
 * it, and which symbol each open order belongs to, and says what to propose. docs/risk.md.
 *
 * A symbol's breaker, as the watch sees it:
 *   tripped (as last committed) and cause (whose trip: the monitor's feed or venue rule, or
 *   someone else's, read from the committed reason's prefix);
 *   pending: NONE -> TRIP | RESET (proposed) -> NONE (a commit of that direction, or a refusal).
 * Invariants: pending != NONE only while its proposal is unseen; cause == NONE iff !tripped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk.h"

#define NS_PER_DAY 86400000000000LL /* as ledger/led_apply.c: day = ts_ns / NS_PER_DAY */
#define NS_PER_MS  1000000u

#define REASON_STALE "feed stale"   /* prefix of the monitor's staleness trips */
#define REASON_VENUE "venue errors" /* prefix of the monitor's venue trips */

typedef enum trip_cause { CAUSE_NONE, CAUSE_STALE, CAUSE_VENUE, CAUSE_OTHER } trip_cause;
typedef enum pending_kind { PENDING_NONE, PENDING_TRIP, PENDING_RESET } pending_kind;

typedef struct watched {
    char symbol[LED_SYMBOL_BYTES];
    bool marked;
    bool tripped;
    trip_cause cause;
    pending_kind pending;
    bool stale; /* a staleness cause is held: since a tick or a FeedHealth, until a bar */
    char stale_reason[LED_TEXT_BYTES];
    uint64_t last_bar_mono_ns; /* when the monitor saw its last bar (or started watching it) */
    /* The venue window: the last `count` outcomes, oldest at head; 1 = rejected. */
    uint32_t head, count, rejects;
    uint8_t outcomes[RISK_VENUE_WINDOW_MAX];
} watched;

typedef struct order_ref {
    uint64_t index; /* the ledger index of its OrderRequested or ExternalOrderAdopted */
    uint32_t symbol;
    bool answered; /* the venue answered it (acked, filled, adopted): a fill no longer counts */
} order_ref;

struct risk_watch {
    uint32_t venue_window, venue_max;
    uint64_t stale_ns; /* 0: off */
    int64_t equity_e8, peak_e8, sod_e8, day;
    led_limits limits;
    int64_t seed_ts_ns;
    bool kill_on, kill_pending;
    bool armed_drawdown, armed_daily; /* a rule proposes only while armed: an operator's
                                         KillSwitchSet off disarms it until it clears */
    uint64_t kills_proposed, breakers_proposed, venue_outcomes, orders_untracked;
    uint32_t symbol_count;
    watched symbols[RISK_SYMBOLS_MAX];
    uint32_t order_count;
    order_ref orders[RISK_ORDERS_MAX];
};

static void watch_invariants(const risk_watch *w)
{
    TK_ASSERT(w->symbol_count <= RISK_SYMBOLS_MAX);
    TK_ASSERT(w->order_count <= RISK_ORDERS_MAX);
    for (uint32_t i = 0; i < w->symbol_count; i++) {
        const watched *s = &w->symbols[i];
        TK_ASSERT(s->count <= w->venue_window);
        TK_ASSERT(s->rejects <= s->count);
        if (!s->tripped) TK_ASSERT(s->cause == CAUSE_NONE);
    }
}

/* ---- Setup ------------------------------------------------------------------------------- */

void risk_watch_opts_seed(const led_state *state, risk_watch_opts *opts)
{
    TK_ASSERT(state != NULL);
    TK_ASSERT(opts != NULL);
    led_state_account(state, &opts->account);
    uint32_t n = opts->account.instrument_count;
    TK_ASSERT(n <= RISK_SYMBOLS_MAX); /* the ledger's own capacity */
    opts->symbol_count = n;
    for (uint32_t i = 0; i < n; i++) {
        led_instrument ins;
        led_state_instrument_at(state, i, &ins);
        risk_symbol_seed *seed = &opts->symbols[i];
        memset(seed, 0, sizeof(*seed));
        memcpy(seed->symbol, ins.symbol, sizeof(seed->symbol));
        seed->breaker_tripped = ins.breaker_tripped;
        seed->marked = ins.mark_e8 != 0;
    }
}

tk_err risk_watch_opts_check(const risk_watch_opts *opts, const char **why)
{
    TK_ASSERT(opts != NULL);
    const char *bad = NULL;
    if (opts->symbol_count > RISK_SYMBOLS_MAX) bad = "more symbols than RISK_SYMBOLS_MAX";
    if (opts->venue_error_window > RISK_VENUE_WINDOW_MAX)
        bad = "venue_error_window above RISK_VENUE_WINDOW_MAX";
    if (opts->venue_error_window > 0 && opts->venue_error_max == 0)
        bad = "venue_error_max is 0 with a window";
    if (opts->venue_error_max > opts->venue_error_window)
        bad = "venue_error_max above venue_error_window";
    for (uint32_t i = 0; bad == NULL && i < opts->symbol_count; i++) {
        const char *sym = opts->symbols[i].symbol;
        size_t len = strnlen(sym, LED_SYMBOL_BYTES);
        if (len == 0 || len == LED_SYMBOL_BYTES) bad = "a symbol is empty or not terminated";
    }
    if (bad == NULL) return TK_OK;
    if (why != NULL) *why = bad;
    return TK_EINVAL;
}

static watched *symbol_find(risk_watch *w, const char *symbol)
{
    for (uint32_t i = 0; i < w->symbol_count; i++)
        if (strncmp(w->symbols[i].symbol, symbol, LED_SYMBOL_BYTES) == 0) return &w->symbols[i];
    return NULL;
}

/* Start watching symbol (or find it); NULL when the table is full. */
static watched *symbol_add(risk_watch *w, const char *symbol, uint64_t now_mono_ns)
{
    watched *s = symbol_find(w, symbol);
    if (s != NULL) return s;
    if (w->symbol_count == RISK_SYMBOLS_MAX) return NULL;
    s = &w->symbols[w->symbol_count++];
    memset(s, 0, sizeof(*s));
    memcpy(s->symbol, symbol, strnlen(symbol, LED_SYMBOL_BYTES - 1u));
    s->last_bar_mono_ns = now_mono_ns;
    return s;
}

static trip_cause cause_of(const char *reason)
{
    if (strncmp(reason, REASON_STALE, strlen(REASON_STALE)) == 0) return CAUSE_STALE;
    if (strncmp(reason, REASON_VENUE, strlen(REASON_VENUE)) == 0) return CAUSE_VENUE;
    return CAUSE_OTHER;
}

tk_err risk_watch_open(const risk_watch_opts *opts, uint64_t now_mono_ns, risk_watch **out)
{
    TK_ASSERT(opts != NULL && out != NULL);
    TK_ASSERT(risk_watch_opts_check(opts, NULL) == TK_OK);
    risk_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) return TK_ENOMEM;
    const led_account *a = &opts->account;
    w->venue_window = opts->venue_error_window;
    w->venue_max = opts->venue_error_max;
    w->stale_ns = (uint64_t)opts->feed_stale_ms * NS_PER_MS;
    w->equity_e8 = a->equity_e8;
    w->peak_e8 = a->peak_equity_e8;
    w->sod_e8 = a->sod_equity_e8;
    w->day = a->day;
    w->limits = a->limits;
    w->seed_ts_ns = a->last_ts_ns;
    w->kill_on = a->kill_switch;
    w->armed_drawdown = w->armed_daily = true;
    for (uint32_t i = 0; i < opts->symbol_count; i++) {
        watched *s = symbol_add(w, opts->symbols[i].symbol, now_mono_ns);
        TK_ASSERT(s != NULL); /* symbol_count <= RISK_SYMBOLS_MAX was checked */
        s->marked = opts->symbols[i].marked;
        s->tripped = opts->symbols[i].breaker_tripped;
        s->cause = s->tripped ? CAUSE_OTHER : CAUSE_NONE; /* no reason is kept: not ours */
    }
    watch_invariants(w);
    *out = w;
    return TK_OK;
}

void risk_watch_close(risk_watch *watch)
{
    free(watch);
}

void risk_watch_stats_read(const risk_watch *watch, risk_watch_stats *out)
{
    TK_ASSERT(watch != NULL && out != NULL);
    *out = (risk_watch_stats){.equity_e8 = watch->equity_e8,
                              .peak_equity_e8 = watch->peak_e8,
                              .sod_equity_e8 = watch->sod_e8,
                              .day = watch->day,
                              .kill_on = watch->kill_on,
                              .kill_pending = watch->kill_pending,
                              .kills_proposed = watch->kills_proposed,
                              .breakers_proposed = watch->breakers_proposed,
                              .venue_outcomes = watch->venue_outcomes,
                              .orders_untracked = watch->orders_untracked};
}

/* ---- Proposals --------------------------------------------------------------------------- */

static led_event *action_new(risk_actions *out, led_event_type type, int64_t ts_ns)
{
    TK_ASSERT(out->count < RISK_ACTIONS_MAX); /* a kill and one breaker per symbol at most */
    led_event *ev = &out->events[out->count++];
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->version = 1;
    ev->ts_ns = ts_ns < 0 ? 0 : ts_ns;
    return ev;
}

/* The kill rules: drawdown first, then the daily loss; at most one proposal in flight. */
static void kill_evaluate(risk_watch *w, int64_t ts_ns, risk_actions *out)
{
    int64_t dd = risk_drawdown_bps(w->peak_e8, w->equity_e8);
    int64_t dl = risk_daily_loss_bps(w->sod_e8, w->equity_e8);
    bool dd_breach = w->limits.max_drawdown_bps > 0 && dd >= w->limits.max_drawdown_bps;
    bool dl_breach = w->limits.daily_loss_bps > 0 && dl >= w->limits.daily_loss_bps;
    if (!dd_breach) w->armed_drawdown = true;
    if (!dl_breach) w->armed_daily = true;
    if (w->kill_on || w->kill_pending) return;
    bool dd_fire = dd_breach && w->armed_drawdown;
    bool dl_fire = dl_breach && w->armed_daily;
    if (!dd_fire && !dl_fire) return;
    led_event *ev = action_new(out, LED_EV_KILL_SWITCH_SET, ts_ns);
    ev->u.kill_switch_set.on = true;
    char *reason = ev->u.kill_switch_set.reason;
    if (dd_fire) {
        snprintf(reason, LED_TEXT_BYTES, "drawdown %lld bps >= limit %lld bps", (long long)dd,
                 (long long)w->limits.max_drawdown_bps);
    } else {
        snprintf(reason, LED_TEXT_BYTES, "daily loss %lld bps >= limit %lld bps", (long long)dl,
                 (long long)w->limits.daily_loss_bps);
    }
    w->kill_pending = true;
    w->kills_proposed++;
}

static bool venue_bad(const risk_watch *w, const watched *s)
{
    return w->venue_window > 0 && s->rejects >= w->venue_max;
}

/* A symbol's breaker: trip it while the monitor holds a cause, reset a trip of its own once it
 * holds none; at most one proposal in flight. */
static void breaker_evaluate(risk_watch *w, watched *s, int64_t ts_ns, risk_actions *out)
{
    if (s->pending != PENDING_NONE) return;
    bool bad = venue_bad(w, s);
    bool want = s->stale || bad;
    bool ours = s->cause == CAUSE_STALE || s->cause == CAUSE_VENUE;
    if (want == s->tripped) return;
    if (!want && !ours) return; /* someone else's trip: theirs to reset */
    led_event *ev = action_new(out, LED_EV_CIRCUIT_BREAKER_SET, ts_ns);
    struct led_ev_circuit_breaker_set *b = &ev->u.circuit_breaker_set;
    memcpy(b->symbol, s->symbol, sizeof(b->symbol));
    b->tripped = want;
    if (want && s->stale) {
        memcpy(b->reason, s->stale_reason, sizeof(b->reason));
    } else if (want) {
        snprintf(b->reason, sizeof(b->reason), REASON_VENUE ": %u of the last %u orders rejected",
                 s->rejects, s->count);
    } else if (s->cause == CAUSE_STALE) {
        snprintf(b->reason, sizeof(b->reason), "feed fresh: a bar committed after the trip");
    } else {
        snprintf(b->reason, sizeof(b->reason),
                 "venue errors cleared: %u of the last %u orders rejected", s->rejects, s->count);
    }
    s->pending = want ? PENDING_TRIP : PENDING_RESET;
    w->breakers_proposed++;
}

/* ---- Folding commits --------------------------------------------------------------------- */

/* An external flow moves the start-of-day and peak equity with it (as equity_take in
 * ledger/led_apply.c), so that it never reads as a profit or a loss. */
static void equity_shift(risk_watch *w, int64_t equity_e8)
{
    int64_t delta = 0;
    if (led_sub(equity_e8, w->equity_e8, &delta) != TK_OK) {
        w->sod_e8 = 0;
        w->peak_e8 = equity_e8;
        return;
    }
    if (led_add(w->sod_e8, delta, &w->sod_e8) != TK_OK) w->sod_e8 = 0;
    if (led_add(w->peak_e8, delta, &w->peak_e8) != TK_OK) w->peak_e8 = equity_e8;
}

/* The account after a commit the ledger applied (or rejected, which applies too). */
static void account_fold(risk_watch *w, const led_commit *c, uint64_t now_mono_ns)
{
    const led_event *ev = &c->ev;
    int64_t day = ev->ts_ns / NS_PER_DAY;
    if (day > w->day) { /* a new UTC day of event time: it starts at the equity before */
        w->day = day;
        w->sod_e8 = w->equity_e8;
    }
    bool external = false;
    if (c->outcome.result == LED_APPLIED) {
        if (ev->type == LED_EV_INSTRUMENT_DEFINED || ev->type == LED_EV_BALANCE_ADJUSTED)
            external = true;
        if (ev->type == LED_EV_INSTRUMENT_DEFINED)
            (void)symbol_add(w, ev->u.instrument_defined.symbol, now_mono_ns);
        if (ev->type == LED_EV_BAR_CLOSED) {
            watched *s = symbol_find(w, ev->u.bar_closed.symbol);
            external = s != NULL && !s->marked; /* its first mark values what was held at 0 */
            if (s != NULL) s->marked = true;
        }
    }
    if (external) equity_shift(w, c->equity_e8);
    w->equity_e8 = c->equity_e8;
    if (w->equity_e8 > w->peak_e8) w->peak_e8 = w->equity_e8;
}

static order_ref *order_find(risk_watch *w, uint64_t index)
{
    for (uint32_t i = 0; i < w->order_count; i++)
        if (w->orders[i].index == index) return &w->orders[i];
    return NULL;
}

static void order_add(risk_watch *w, uint64_t index, const char *symbol, bool answered)
{
    watched *s = symbol_find(w, symbol);
    if (s == NULL || w->order_count == RISK_ORDERS_MAX) {
        w->orders_untracked++;
        return;
    }
    w->orders[w->order_count++] =
        (order_ref){.index = index, .symbol = (uint32_t)(s - w->symbols), .answered = answered};
}

static void order_remove(risk_watch *w, uint64_t index)
{
    order_ref *o = order_find(w, index);
    if (o != NULL) *o = w->orders[--w->order_count];
}

/* One venue outcome for the order's symbol; the symbol, or NULL for an order not tracked. */
static watched *venue_outcome(risk_watch *w, uint64_t order_index, bool rejected)
{
    order_ref *o = order_find(w, order_index);
    if (o == NULL) {
        w->orders_untracked++;
        return NULL;
    }
    if (!rejected && o->answered) return NULL; /* a later fill: not a venue answer */
    o->answered = true;
    TK_ASSERT(o->symbol < w->symbol_count);
    watched *s = &w->symbols[o->symbol];
    if (w->venue_window == 0) return NULL;
    if (s->count == w->venue_window) { /* the oldest leaves the window */
        s->rejects -= s->outcomes[s->head];
        s->head = (s->head + 1u) % w->venue_window;
        s->count--;
    }
    s->outcomes[(s->head + s->count) % w->venue_window] = rejected ? 1u : 0u;
    s->count++;
    s->rejects += rejected ? 1u : 0u;
    w->venue_outcomes++;
    return s;
}

/* A committed CircuitBreakerSet: the breaker's state, and the end of a proposal of ours. */
static watched *breaker_commit(risk_watch *w, const led_commit *c, uint64_t now_mono_ns)
{
    const struct led_ev_circuit_breaker_set *b = &c->ev.u.circuit_breaker_set;
    watched *s = symbol_find(w, b->symbol);
    if (s == NULL) return NULL;
    bool applied = c->outcome.result == LED_APPLIED;
    if (!applied || (s->pending == PENDING_TRIP) == b->tripped) s->pending = PENDING_NONE;
    if (!applied) return NULL; /* nothing changed: no new evaluation (no proposal loop) */
    s->tripped = b->tripped;
    s->cause = b->tripped ? cause_of(b->reason) : CAUSE_NONE;
    if (!b->tripped) { /* reset (ours or an operator's): the causes start afresh */
        s->stale = false;
        s->last_bar_mono_ns = now_mono_ns;
        s->head = s->count = s->rejects = 0;
    }
    return s;
}

static watched *feed_health_commit(risk_watch *w, const led_commit *c)
{
    const struct led_ev_feed_health *h = &c->ev.u.feed_health;
    if (h->status != LED_FEED_STALE) return NULL;
    watched *s = symbol_find(w, h->symbol);
    if (s == NULL) return NULL;
    s->stale = true;
    snprintf(s->stale_reason, sizeof(s->stale_reason), REASON_STALE ": %.*s: %.*s",
             (int)strnlen(h->feed, sizeof(h->feed)), h->feed,
             (int)strnlen(h->detail, sizeof(h->detail)), h->detail);
    return s;
}

static watched *bar_commit(risk_watch *w, const led_commit *c, uint64_t now_mono_ns)
{
    watched *s = symbol_find(w, c->ev.u.bar_closed.symbol);
    if (s == NULL) return NULL;
    s->last_bar_mono_ns = now_mono_ns;
    s->stale = false;
    return s;
}

/* What an applied event means to the rules: the one symbol whose breaker it concerns. */
static watched *event_fold(risk_watch *w, const led_commit *c, uint64_t now_mono_ns)
{
    const led_event *ev = &c->ev;
    bool applied = c->outcome.result == LED_APPLIED;
    switch (ev->type) {
    case LED_EV_BAR_CLOSED:
        return applied ? bar_commit(w, c, now_mono_ns) : NULL;
    case LED_EV_ORDER_REQUESTED:
        if (applied) order_add(w, c->index, ev->u.order_requested.symbol, false);
        return NULL;
    case LED_EV_EXTERNAL_ORDER_ADOPTED:
        if (applied) order_add(w, c->index, ev->u.external_order_adopted.symbol, true);
        return NULL;
    case LED_EV_ORDER_ACKED:
        return applied ? venue_outcome(w, ev->u.order_acked.order_index, false) : NULL;
    case LED_EV_ORDER_FILLED:
        return applied ? venue_outcome(w, ev->u.order_filled.order_index, false) : NULL;
    case LED_EV_ORDER_REJECTED_BY_VENUE:
        return applied ? venue_outcome(w, ev->u.order_rejected_by_venue.order_index, true) : NULL;
    case LED_EV_RISK_LIMITS_SET: {
        const struct led_ev_risk_limits_set *l = &ev->u.risk_limits_set;
        if (!applied) return NULL;
        w->limits = (led_limits){.max_order_notional_e8 = l->max_order_notional_e8,
                                 .max_position_notional_e8 = l->max_position_notional_e8,
                                 .max_position_equity_bps = l->max_position_equity_bps,
                                 .max_gross_exposure_e8 = l->max_gross_exposure_e8,
                                 .max_open_orders = l->max_open_orders,
                                 .price_band_bps = l->price_band_bps,
                                 .daily_loss_bps = l->daily_loss_bps,
                                 .max_drawdown_bps = l->max_drawdown_bps};
        return NULL;
    }
    case LED_EV_KILL_SWITCH_SET:
        w->kill_pending = false; /* any KillSwitchSet seen ends the wait for ours */
        if (!applied) return NULL;
        w->kill_on = ev->u.kill_switch_set.on;
        if (!w->kill_on) w->armed_drawdown = w->armed_daily = false; /* the operator decided */
        return NULL;
    case LED_EV_CIRCUIT_BREAKER_SET:
        return breaker_commit(w, c, now_mono_ns);
    case LED_EV_FEED_HEALTH:
        return applied ? feed_health_commit(w, c) : NULL;
    case LED_EV_INSTRUMENT_DEFINED:
    case LED_EV_ORDER_CANCEL_REQUESTED:
    case LED_EV_ORDER_CANCELLED:
    case LED_EV_STRATEGY_ENABLED:
    case LED_EV_BALANCE_ADJUSTED:
    case LED_EV_LEADER_CHANGED:
        return NULL;
    }
    return NULL;
}

void risk_watch_commit(risk_watch *watch, const led_commit *c, uint64_t now_mono_ns,
                       risk_actions *out)
{
    TK_ASSERT(watch != NULL && c != NULL && out != NULL);
    out->count = 0;
    led_result result = c->outcome.result;
    if (result == LED_SKIPPED) return; /* nothing changed */
    if (result == LED_REFUSED) {
        /* nothing changed but the end of a proposal of ours; no evaluation, so that a refusal
         * cannot make the monitor propose the same again and again */
        (void)event_fold(watch, c, now_mono_ns);
    } else {
        account_fold(watch, c, now_mono_ns);
        watched *s = event_fold(watch, c, now_mono_ns);
        kill_evaluate(watch, c->ev.ts_ns, out);
        if (s != NULL) breaker_evaluate(watch, s, c->ev.ts_ns, out);
    }
    uint64_t order_index = led_event_order_index(&c->ev);
    if (order_index != 0 && !c->order_open) order_remove(watch, order_index);
    watch_invariants(watch);
}

void risk_watch_tick(risk_watch *watch, uint64_t now_mono_ns, int64_t now_wall_ns,
                     risk_actions *out)
{
    TK_ASSERT(watch != NULL && out != NULL);
    out->count = 0;
    if (watch->stale_ns == 0) return;
    for (uint32_t i = 0; i < watch->symbol_count; i++) {
        watched *s = &watch->symbols[i];
        if (s->stale || now_mono_ns < s->last_bar_mono_ns) continue;
        uint64_t quiet_ns = now_mono_ns - s->last_bar_mono_ns;
        if (quiet_ns < watch->stale_ns) continue;
        s->stale = true;
        snprintf(s->stale_reason, sizeof(s->stale_reason),
                 REASON_STALE ": no bar for %llu ms (limit %llu ms)",
                 (unsigned long long)(quiet_ns / NS_PER_MS),
                 (unsigned long long)(watch->stale_ns / NS_PER_MS));
        breaker_evaluate(watch, s, now_wall_ns, out);
    }
    watch_invariants(watch);
}

void risk_watch_start(risk_watch *watch, risk_actions *out)
{
    TK_ASSERT(watch != NULL && out != NULL);
    out->count = 0;
    kill_evaluate(watch, watch->seed_ts_ns, out);
    watch_invariants(watch);
}
