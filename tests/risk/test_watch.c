/* risk/risk_alert.c and risk/risk_watch.c, alone: the loss measures at their edges, the alert's
 * text and JSON body, and the watch's rules driven commit by commit and tick by tick (no actors,
 * no clock): a kill switch proposed once and re-armed only after recovery, the day's start,
 * external flows, venue rejections in a window, staleness and its reset, someone else's trip
 * left alone, refusals that must not loop, and the seed read from a real ledger state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "risk.h"
#include "risk_tests.h"
#include "tk_test.h"

#define E8      ((int64_t)LED_SCALE)
#define DAY_NS  86400000000000LL
#define MS_NS   1000000ull
#define DAY0    20000 /* 2024-10-04, UTC */
#define SYM_BTC "BTCUSDT"

/* ---- Loss measures ------------------------------------------------------------------------- */

static void test_drawdown_bps(void **unused)
{
    (void)unused;
    assert_int_equal(risk_drawdown_bps(10000 * E8, 9000 * E8), 1000);
    assert_int_equal(risk_drawdown_bps(10000 * E8, 10000 * E8), 0);
    assert_int_equal(risk_drawdown_bps(10000 * E8, 12000 * E8), 0); /* above the peak */
    assert_int_equal(risk_drawdown_bps(0, -5 * E8), 0);             /* nothing to lose */
    assert_int_equal(risk_drawdown_bps(-10 * E8, -20 * E8), 0);
    assert_int_equal(risk_drawdown_bps(3 * E8, 2 * E8), 3333);            /* 3333.33: down */
    assert_int_equal(risk_drawdown_bps(10000 * E8, 9000 * E8 + 1), 999);  /* just short */
    assert_int_equal(risk_drawdown_bps(10000 * E8, 9000 * E8 - 1), 1000); /* just past */
    assert_int_equal(risk_drawdown_bps(100 * E8, -100 * E8), 20000);      /* below zero */
    assert_int_equal(risk_drawdown_bps(1, INT64_MIN), INT64_MAX);         /* saturates */
    assert_int_equal(risk_drawdown_bps(INT64_MAX, -1), 10000);            /* no overflow */
    assert_int_equal(risk_drawdown_bps(1, -(INT64_MAX / 2)), INT64_MAX);  /* * 10000 */
    assert_int_equal(risk_drawdown_bps(INT64_MAX, INT64_MAX - 1), 0);     /* tiny */
}

static void test_daily_loss_bps(void **unused)
{
    (void)unused;
    assert_int_equal(risk_daily_loss_bps(10500 * E8, 9900 * E8), 571); /* 571.43 */
    assert_int_equal(risk_daily_loss_bps(10000 * E8, 9500 * E8), 500);
    assert_int_equal(risk_daily_loss_bps(10000 * E8, 10001 * E8), 0);
    assert_int_equal(risk_daily_loss_bps(0, 1), 0);
    assert_int_equal(risk_daily_loss_bps(-1, -2), 0);
    assert_int_equal(risk_daily_loss_bps(1, INT64_MIN), INT64_MAX);
}

/* ---- The alert ------------------------------------------------------------------------------ */

static void test_webhook_body(void **unused)
{
    (void)unused;
    char *json = NULL;
    const char *text = "troika: \"quoted\", back\\slash, new\nline, caf\xc3\xa9";
    assert_int_equal(risk_webhook_body("-1001234567890", text, &json), TK_OK);
    assert_non_null(json);
    assert_null(strchr(json, '\n')); /* compact, one line; the newline is escaped */
    json_error_t error;
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &error);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "chat_id")), "-1001234567890");
    assert_string_equal(json_string_value(json_object_get(doc, "text")), text);
    json_decref(doc);
    free(json);

    char *marked = (char *)0x1;
    EXPECT_ERR(risk_webhook_body("1", "bad \xff byte", &marked), TK_EINVAL);
    assert_ptr_equal(marked, (char *)0x1); /* untouched on error */
    EXPECT_ERR(risk_webhook_body("\xc3", "ok", &marked), TK_EINVAL);
    assert_ptr_equal(marked, (char *)0x1);
}

static led_commit commit_of(uint64_t index, led_event_type type, led_result result)
{
    led_commit c;
    memset(&c, 0, sizeof(c));
    c.index = index;
    c.ev.type = type;
    c.ev.version = 1;
    c.ev.ts_ns = DAY0 * DAY_NS;
    c.outcome.result = result;
    return c;
}

static void test_alert_text(void **unused)
{
    (void)unused;
    char text[RISK_ALERT_TEXT_BYTES];
    led_commit c = commit_of(42, LED_EV_KILL_SWITCH_SET, LED_APPLIED);
    c.ev.u.kill_switch_set.on = true;
    strcpy(c.ev.u.kill_switch_set.reason, "drawdown 1500 bps >= limit 1000 bps");
    assert_true(risk_alert_text(&c, text, sizeof(text)));
    assert_string_equal(text, "troika: KillSwitchSet on at ledger index 42: drawdown 1500 bps "
                              ">= limit 1000 bps");

    c = commit_of(7, LED_EV_CIRCUIT_BREAKER_SET, LED_APPLIED);
    strcpy(c.ev.u.circuit_breaker_set.symbol, SYM_BTC);
    strcpy(c.ev.u.circuit_breaker_set.reason, "feed \x01stale\xff");
    assert_true(risk_alert_text(&c, text, sizeof(text)));
    assert_string_equal(text, "troika: CircuitBreakerSet BTCUSDT reset at ledger index 7: feed "
                              "?stale?");
    char *json = NULL; /* whatever the reason held, the text encodes */
    assert_int_equal(risk_webhook_body("1", text, &json), TK_OK);
    free(json);

    char small[64];
    c.ev.u.circuit_breaker_set.tripped = true;
    memset(c.ev.u.circuit_breaker_set.reason, 'x', LED_TEXT_BYTES - 1u);
    assert_true(risk_alert_text(&c, small, sizeof(small))); /* cut to fit */
    assert_int_equal(strlen(small), sizeof(small) - 1u);
    assert_non_null(strstr(small, "tripped"));

    tk_test_mark(text, sizeof(text));
    c.outcome.result = LED_REFUSED; /* changed nothing: no alert */
    assert_false(risk_alert_text(&c, text, sizeof(text)));
    c = commit_of(8, LED_EV_BAR_CLOSED, LED_APPLIED);
    assert_false(risk_alert_text(&c, text, sizeof(text)));
    assert_true(tk_test_is_marked(text, sizeof(text)));
}

/* ---- The watch ------------------------------------------------------------------------------ */

typedef struct wfx {
    risk_watch_opts opts;
    risk_watch *w;
    risk_actions out;
    uint64_t index;
    int64_t ts_ns;
} wfx;

/* An account of 10,000 at its peak and its day's start, BTCUSDT marked, limits as given. */
static void wfx_opts(wfx *f, int64_t max_drawdown_bps, int64_t daily_loss_bps)
{
    memset(f, 0, sizeof(*f));
    led_account *a = &f->opts.account;
    a->equity_e8 = a->peak_equity_e8 = a->sod_equity_e8 = 10000 * E8;
    a->day = DAY0;
    a->last_ts_ns = DAY0 * DAY_NS + 1;
    a->limits.max_drawdown_bps = max_drawdown_bps;
    a->limits.daily_loss_bps = daily_loss_bps;
    f->opts.symbol_count = 1;
    strcpy(f->opts.symbols[0].symbol, SYM_BTC);
    f->opts.symbols[0].marked = true;
    f->index = 100;
    f->ts_ns = DAY0 * DAY_NS + 3600 * 1000000000LL;
}

static void wfx_open(wfx *f, uint64_t now_mono_ns)
{
    assert_int_equal(risk_watch_opts_check(&f->opts, NULL), TK_OK);
    assert_int_equal(risk_watch_open(&f->opts, now_mono_ns, &f->w), TK_OK);
}

static led_commit wfx_commit(wfx *f, led_event_type type, int64_t equity_e8)
{
    led_commit c = commit_of(++f->index, type, LED_APPLIED);
    c.ev.ts_ns = f->ts_ns += 60 * 1000000000LL;
    c.equity_e8 = equity_e8;
    return c;
}

static uint32_t feed(wfx *f, const led_commit *c, uint64_t now_mono_ns)
{
    risk_watch_commit(f->w, c, now_mono_ns, &f->out);
    for (uint32_t i = 0; i < f->out.count; i++)
        assert_int_equal(led_event_check(&f->out.events[i], NULL), TK_OK);
    return f->out.count;
}

static uint32_t bar(wfx *f, const char *symbol, int64_t equity_e8, uint64_t now_mono_ns)
{
    led_commit c = wfx_commit(f, LED_EV_BAR_CLOSED, equity_e8);
    strcpy(c.ev.u.bar_closed.symbol, symbol);
    return feed(f, &c, now_mono_ns);
}

static void kill_commit(wfx *f, bool on, const char *reason, led_result result)
{
    led_commit c = wfx_commit(f, LED_EV_KILL_SWITCH_SET, 0);
    risk_watch_stats st;
    risk_watch_stats_read(f->w, &st);
    c.equity_e8 = st.equity_e8; /* the event itself moves no money */
    c.outcome.result = result;
    c.ev.u.kill_switch_set.on = on;
    strcpy(c.ev.u.kill_switch_set.reason, reason);
    assert_int_equal(feed(f, &c, 0), 0);
}

static const char *kill_reason(const wfx *f)
{
    assert_int_equal(f->out.count, 1);
    assert_int_equal(f->out.events[0].type, LED_EV_KILL_SWITCH_SET);
    assert_true(f->out.events[0].u.kill_switch_set.on);
    return f->out.events[0].u.kill_switch_set.reason;
}

static void test_watch_drawdown(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 10000);
    wfx_open(&f, 0);
    assert_int_equal(bar(&f, SYM_BTC, 9000 * E8 + 1, 0), 0); /* 999 bps */
    assert_int_equal(bar(&f, SYM_BTC, 9000 * E8, 0), 1);
    assert_string_equal(kill_reason(&f), "drawdown 1000 bps >= limit 1000 bps");
    assert_int_equal(f.out.events[0].ts_ns, f.ts_ns);    /* the commit's time */
    assert_int_equal(bar(&f, SYM_BTC, 8000 * E8, 0), 0); /* proposed: once */
    kill_commit(&f, true, "drawdown 1000 bps >= limit 1000 bps", LED_APPLIED);
    assert_int_equal(bar(&f, SYM_BTC, 7000 * E8, 0), 0); /* on: nothing more */
    kill_commit(&f, false, "operator: reviewed", LED_APPLIED);
    assert_int_equal(bar(&f, SYM_BTC, 6900 * E8, 0), 0); /* the operator decided */
    assert_int_equal(bar(&f, SYM_BTC, 9500 * E8, 0), 0); /* recovered: armed again */
    assert_int_equal(bar(&f, SYM_BTC, 8900 * E8, 0), 1);
    assert_string_equal(kill_reason(&f), "drawdown 1100 bps >= limit 1000 bps");
    risk_watch_stats st;
    risk_watch_stats_read(f.w, &st);
    assert_int_equal(st.kills_proposed, 2);
    assert_true(st.kill_pending);
    assert_int_equal(st.peak_equity_e8, 10000 * E8);
    risk_watch_close(f.w);
}

static void test_watch_refusals_do_not_loop(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 10000);
    wfx_open(&f, 0);
    assert_int_equal(bar(&f, SYM_BTC, 8000 * E8, 0), 1);
    kill_commit(&f, true, "drawdown", LED_REFUSED); /* ends the wait, proposes nothing */
    risk_watch_stats st;
    risk_watch_stats_read(f.w, &st);
    assert_false(st.kill_pending);
    assert_false(st.kill_on);
    led_commit skipped = wfx_commit(&f, LED_EV_BAR_CLOSED, 1 * E8); /* a replayed index */
    strcpy(skipped.ev.u.bar_closed.symbol, SYM_BTC);
    skipped.outcome.result = LED_SKIPPED;
    assert_int_equal(feed(&f, &skipped, 0), 0);
    risk_watch_stats_read(f.w, &st);
    assert_int_equal(st.equity_e8, 8000 * E8);           /* skipped: not folded */
    assert_int_equal(bar(&f, SYM_BTC, 8000 * E8, 0), 1); /* the next applied event: again */
    risk_watch_close(f.w);
}

static void test_watch_daily_loss(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 10000, 500);
    wfx_open(&f, 0);
    assert_int_equal(bar(&f, SYM_BTC, 10500 * E8, 0), 0); /* day 0 ends at 10,500 */
    f.ts_ns = (DAY0 + 1) * DAY_NS;                        /* the next bar is on day 1 */
    assert_int_equal(bar(&f, SYM_BTC, 10300 * E8, 0), 0); /* 190 bps */
    risk_watch_stats st;
    risk_watch_stats_read(f.w, &st);
    assert_int_equal(st.day, DAY0 + 1);
    assert_int_equal(st.sod_equity_e8, 10500 * E8); /* the equity before the day's first event */
    assert_int_equal(bar(&f, SYM_BTC, 9976 * E8, 0), 0); /* 499.04 bps */
    assert_int_equal(bar(&f, SYM_BTC, 9900 * E8, 0), 1); /* 571.43 bps */
    assert_string_equal(kill_reason(&f), "daily loss 571 bps >= limit 500 bps");
    kill_commit(&f, false, "operator", LED_APPLIED); /* no kill yet: this ends our wait */
    f.ts_ns = (DAY0 + 2) * DAY_NS;                   /* a new day starts at 9,900: no loss */
    assert_int_equal(bar(&f, SYM_BTC, 9900 * E8, 0), 0);
    assert_int_equal(bar(&f, SYM_BTC, 9400 * E8, 0), 1); /* 505 bps of the new day */
    assert_string_equal(kill_reason(&f), "daily loss 505 bps >= limit 500 bps");
    risk_watch_close(f.w);
}

/* Deposits, withdrawals and a first mark move the peak and the day's start with them. */
static void test_watch_external_flows(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 500);
    wfx_open(&f, 0);
    led_commit c = wfx_commit(&f, LED_EV_BALANCE_ADJUSTED, 5000 * E8); /* withdraw half */
    assert_int_equal(feed(&f, &c, 0), 0);
    risk_watch_stats st;
    risk_watch_stats_read(f.w, &st);
    assert_int_equal(st.peak_equity_e8, 5000 * E8);
    assert_int_equal(st.sod_equity_e8, 5000 * E8);
    c = wfx_commit(&f, LED_EV_INSTRUMENT_DEFINED, 5000 * E8);
    strcpy(c.ev.u.instrument_defined.symbol, "ETHUSDT");
    assert_int_equal(feed(&f, &c, 0), 0);
    assert_int_equal(bar(&f, "ETHUSDT", 4000 * E8, 0), 0); /* its first mark: a valuation */
    risk_watch_stats_read(f.w, &st);
    assert_int_equal(st.peak_equity_e8, 4000 * E8);
    assert_int_equal(bar(&f, "ETHUSDT", 3600 * E8, 0), 1); /* its second: a real 10% loss */
    assert_string_equal(kill_reason(&f), "drawdown 1000 bps >= limit 1000 bps");
    c = wfx_commit(&f, LED_EV_BALANCE_ADJUSTED, 3600 * E8); /* refused: changes nothing */
    c.outcome.result = LED_REFUSED;
    assert_int_equal(feed(&f, &c, 0), 0);
    risk_watch_close(f.w);
}

static void test_watch_start(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 500);
    f.opts.account.equity_e8 = 8000 * E8; /* starts 20% down, switch off */
    wfx_open(&f, 0);
    risk_watch_start(f.w, &f.out);
    assert_string_equal(kill_reason(&f), "drawdown 2000 bps >= limit 1000 bps");
    assert_int_equal(f.out.events[0].ts_ns, f.opts.account.last_ts_ns);
    risk_watch_close(f.w);
    f.opts.account.kill_switch = true; /* already on: nothing to do */
    wfx_open(&f, 0);
    risk_watch_start(f.w, &f.out);
    assert_int_equal(f.out.count, 0);
    assert_int_equal(bar(&f, SYM_BTC, 5000 * E8, 0), 0);
    risk_watch_close(f.w);
}

static uint64_t order(wfx *f, const char *symbol)
{
    led_commit c = wfx_commit(f, LED_EV_ORDER_REQUESTED, 10000 * E8);
    strcpy(c.ev.u.order_requested.symbol, symbol);
    assert_int_equal(feed(f, &c, 0), 0);
    return c.index;
}

static uint32_t venue(wfx *f, led_event_type type, uint64_t order_index, bool open)
{
    led_commit c = wfx_commit(f, type, 10000 * E8);
    c.order_open = open;
    if (type == LED_EV_ORDER_ACKED) c.ev.u.order_acked.order_index = order_index;
    if (type == LED_EV_ORDER_FILLED) c.ev.u.order_filled.order_index = order_index;
    if (type == LED_EV_ORDER_REJECTED_BY_VENUE)
        c.ev.u.order_rejected_by_venue.order_index = order_index;
    return feed(f, &c, 0);
}

static void breaker_commit(wfx *f, const char *symbol, bool tripped, const char *reason,
                           uint64_t now_mono_ns)
{
    led_commit c = wfx_commit(f, LED_EV_CIRCUIT_BREAKER_SET, 10000 * E8);
    strcpy(c.ev.u.circuit_breaker_set.symbol, symbol);
    c.ev.u.circuit_breaker_set.tripped = tripped;
    strcpy(c.ev.u.circuit_breaker_set.reason, reason);
    assert_int_equal(feed(f, &c, now_mono_ns), 0);
}

static const struct led_ev_circuit_breaker_set *breaker_of(const wfx *f)
{
    assert_int_equal(f->out.count, 1);
    assert_int_equal(f->out.events[0].type, LED_EV_CIRCUIT_BREAKER_SET);
    return &f->out.events[0].u.circuit_breaker_set;
}

static void test_watch_venue_errors(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 500);
    f.opts.venue_error_window = 4;
    f.opts.venue_error_max = 2;
    wfx_open(&f, 0);
    uint64_t o[8];
    for (uint32_t i = 0; i < 8; i++)
        o[i] = order(&f, SYM_BTC);
    assert_int_equal(venue(&f, LED_EV_ORDER_ACKED, o[0], true), 0);
    assert_int_equal(venue(&f, LED_EV_ORDER_FILLED, o[0], false), 0); /* after its ack: none */
    assert_int_equal(venue(&f, LED_EV_ORDER_REJECTED_BY_VENUE, o[1], false), 0);  /* 1 of 2 */
    assert_int_equal(venue(&f, LED_EV_ORDER_REJECTED_BY_VENUE, 99999, false), 0); /* unknown */
    assert_int_equal(venue(&f, LED_EV_ORDER_FILLED, o[2], true), 0); /* first answer: ok */
    assert_int_equal(venue(&f, LED_EV_ORDER_REJECTED_BY_VENUE, o[3], false), 1);
    const struct led_ev_circuit_breaker_set *b = breaker_of(&f);
    assert_string_equal(b->symbol, SYM_BTC);
    assert_true(b->tripped);
    assert_string_equal(b->reason, "venue errors: 2 of the last 4 orders rejected");
    char reason[LED_TEXT_BYTES];
    strcpy(reason, b->reason);
    assert_int_equal(venue(&f, LED_EV_ORDER_REJECTED_BY_VENUE, o[4], false), 0); /* pending */
    breaker_commit(&f, SYM_BTC, true, reason, 0);
    /* the window is [rej, ok, rej, rej]: three answers push the rejections below the limit */
    assert_int_equal(venue(&f, LED_EV_ORDER_ACKED, o[5], true), 0); /* [ok, rej, rej, ok] */
    assert_int_equal(venue(&f, LED_EV_ORDER_ACKED, o[6], true), 0); /* [rej, rej, ok, ok] */
    assert_int_equal(venue(&f, LED_EV_ORDER_ACKED, o[7], true), 1); /* [rej, ok, ok, ok] */
    b = breaker_of(&f);
    assert_false(b->tripped);
    assert_string_equal(b->reason, "venue errors cleared: 1 of the last 4 orders rejected");
    risk_watch_stats st;
    risk_watch_stats_read(f.w, &st);
    assert_int_equal(st.venue_outcomes, 8);
    assert_int_equal(st.orders_untracked, 1);
    assert_int_equal(st.breakers_proposed, 2);
    risk_watch_close(f.w);
}

static void test_watch_stale(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 500);
    f.opts.feed_stale_ms = 1000;
    wfx_open(&f, 5 * MS_NS);
    risk_watch_tick(f.w, 1004 * MS_NS, 77, &f.out);
    assert_int_equal(f.out.count, 0);
    risk_watch_tick(f.w, 1005 * MS_NS, 77, &f.out);
    const struct led_ev_circuit_breaker_set *b = breaker_of(&f);
    assert_true(b->tripped);
    assert_string_equal(b->reason, "feed stale: no bar for 1000 ms (limit 1000 ms)");
    assert_int_equal(f.out.events[0].ts_ns, 77); /* the clock's wall time */
    char reason[LED_TEXT_BYTES];
    strcpy(reason, b->reason);
    risk_watch_tick(f.w, 3000 * MS_NS, 78, &f.out); /* stale already: once per trip */
    assert_int_equal(f.out.count, 0);
    breaker_commit(&f, SYM_BTC, true, reason, 3000 * MS_NS);
    assert_int_equal(bar(&f, SYM_BTC, 10000 * E8, 3500 * MS_NS), 1);
    b = breaker_of(&f);
    assert_false(b->tripped);
    assert_string_equal(b->reason, "feed fresh: a bar committed after the trip");
    breaker_commit(&f, SYM_BTC, false, "feed fresh: a bar committed after the trip", 3600 * MS_NS);
    risk_watch_tick(f.w, 4599 * MS_NS, 79, &f.out); /* counted from the reset, 3600 */
    assert_int_equal(f.out.count, 0);
    risk_watch_tick(f.w, 4600 * MS_NS, 79, &f.out);
    assert_true(breaker_of(&f)->tripped);
    risk_watch_close(f.w);
}

/* A breaker someone else tripped is theirs: no second trip, no reset on a fresh bar. A
 * FeedHealth stale trips the breaker even with the staleness timer off. */
static void test_watch_others_trip_and_feed_health(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 500);
    f.opts.symbol_count = 2;
    strcpy(f.opts.symbols[1].symbol, "ETHUSDT");
    f.opts.symbols[1].breaker_tripped = true; /* tripped before the monitor started */
    wfx_open(&f, 0);
    led_commit c = wfx_commit(&f, LED_EV_FEED_HEALTH, 10000 * E8);
    strcpy(c.ev.u.feed_health.feed, "binance");
    strcpy(c.ev.u.feed_health.symbol, "ETHUSDT");
    c.ev.u.feed_health.status = LED_FEED_STALE;
    strcpy(c.ev.u.feed_health.detail, "no kline for 90 s");
    assert_int_equal(feed(&f, &c, 0), 0);                   /* tripped already */
    assert_int_equal(bar(&f, "ETHUSDT", 10000 * E8, 0), 0); /* not ours to reset */
    strcpy(c.ev.u.feed_health.symbol, SYM_BTC);
    c.index = ++f.index;
    assert_int_equal(feed(&f, &c, 0), 1);
    const struct led_ev_circuit_breaker_set *b = breaker_of(&f);
    assert_string_equal(b->symbol, SYM_BTC);
    assert_string_equal(b->reason, "feed stale: binance: no kline for 90 s");
    c.ev.u.feed_health.status = LED_FEED_GAP; /* a gap is news, not staleness */
    c.index = ++f.index;
    assert_int_equal(feed(&f, &c, 0), 0);
    breaker_commit(&f, SYM_BTC, true, "operator: halt", 0); /* someone else's trip wins */
    assert_int_equal(bar(&f, SYM_BTC, 10000 * E8, 0), 0);
    risk_watch_tick(f.w, UINT64_MAX / 2, 1, &f.out); /* staleness off */
    assert_int_equal(f.out.count, 0);
    risk_watch_close(f.w);
}

static void test_watch_opts(void **unused)
{
    (void)unused;
    wfx f;
    wfx_opts(&f, 1000, 500);
    const char *why = NULL;
    f.opts.venue_error_window = RISK_VENUE_WINDOW_MAX + 1u;
    f.opts.venue_error_max = 1;
    EXPECT_ERR(risk_watch_opts_check(&f.opts, &why), TK_EINVAL);
    assert_non_null(why);
    f.opts.venue_error_window = RISK_VENUE_WINDOW_MAX;
    assert_int_equal(risk_watch_opts_check(&f.opts, NULL), TK_OK);
    f.opts.venue_error_max = 0;
    EXPECT_ERR(risk_watch_opts_check(&f.opts, NULL), TK_EINVAL);
    f.opts.venue_error_window = 3;
    f.opts.venue_error_max = 4;
    EXPECT_ERR(risk_watch_opts_check(&f.opts, NULL), TK_EINVAL);
    f.opts.venue_error_window = 0;
    f.opts.venue_error_max = 1;
    EXPECT_ERR(risk_watch_opts_check(&f.opts, NULL), TK_EINVAL);
    f.opts.venue_error_max = 0;
    f.opts.symbol_count = RISK_SYMBOLS_MAX + 1u;
    EXPECT_ERR(risk_watch_opts_check(&f.opts, NULL), TK_EINVAL);
    f.opts.symbol_count = 1;
    f.opts.symbols[0].symbol[0] = '\0';
    EXPECT_ERR(risk_watch_opts_check(&f.opts, NULL), TK_EINVAL);
}

/* The seed, read from a ledger state that real events built. */
static void test_watch_seed_from_state(void **unused)
{
    (void)unused;
    led_state *state = NULL;
    assert_int_equal(led_state_open(&state), TK_OK);
    led_event ev[4];
    memset(ev, 0, sizeof(ev));
    for (uint32_t i = 0; i < 4; i++) {
        ev[i].version = 1;
        ev[i].ts_ns = DAY0 * DAY_NS + (int64_t)i;
    }
    ev[0].type = LED_EV_INSTRUMENT_DEFINED;
    strcpy(ev[0].u.instrument_defined.symbol, SYM_BTC);
    strcpy(ev[0].u.instrument_defined.base, "BTC");
    strcpy(ev[0].u.instrument_defined.quote, "USDT");
    ev[0].u.instrument_defined.tick_e8 = ev[0].u.instrument_defined.lot_e8 = 1;
    ev[1].type = LED_EV_BALANCE_ADJUSTED;
    strcpy(ev[1].u.balance_adjusted.asset, "USDT");
    ev[1].u.balance_adjusted.delta_e8 = 2500 * E8;
    strcpy(ev[1].u.balance_adjusted.reason, "deposit");
    ev[2].type = LED_EV_BAR_CLOSED;
    strcpy(ev[2].u.bar_closed.symbol, SYM_BTC);
    ev[2].u.bar_closed.interval_s = 60;
    ev[2].u.bar_closed.open_e8 = ev[2].u.bar_closed.high_e8 = 100 * E8;
    ev[2].u.bar_closed.low_e8 = ev[2].u.bar_closed.close_e8 = 100 * E8;
    ev[3].type = LED_EV_CIRCUIT_BREAKER_SET;
    strcpy(ev[3].u.circuit_breaker_set.symbol, SYM_BTC);
    ev[3].u.circuit_breaker_set.tripped = true;
    for (uint32_t i = 0; i < 4; i++) {
        led_outcome out;
        led_apply(state, i + 1u, &ev[i], &out);
        assert_int_equal(out.result, LED_APPLIED);
    }
    risk_watch_opts opts;
    memset(&opts, 0xAA, sizeof(opts));
    opts.venue_error_window = opts.venue_error_max = opts.feed_stale_ms = 0;
    risk_watch_opts_seed(state, &opts);
    assert_int_equal(opts.account.equity_e8, 2500 * E8);
    assert_int_equal(opts.account.peak_equity_e8, 2500 * E8);
    assert_int_equal(opts.account.last_index, 4);
    assert_int_equal(opts.symbol_count, 1);
    assert_string_equal(opts.symbols[0].symbol, SYM_BTC);
    assert_true(opts.symbols[0].breaker_tripped);
    assert_true(opts.symbols[0].marked);
    assert_int_equal(risk_watch_opts_check(&opts, NULL), TK_OK);
    led_state_close(state);
}

int risk_test_watch(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drawdown_bps),
        cmocka_unit_test(test_daily_loss_bps),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_alert_text),
        cmocka_unit_test(test_watch_drawdown),
        cmocka_unit_test(test_watch_refusals_do_not_loop),
        cmocka_unit_test(test_watch_daily_loss),
        cmocka_unit_test(test_watch_external_flows),
        cmocka_unit_test(test_watch_start),
        cmocka_unit_test(test_watch_venue_errors),
        cmocka_unit_test(test_watch_stale),
        cmocka_unit_test(test_watch_others_trip_and_feed_health),
        cmocka_unit_test(test_watch_opts),
        cmocka_unit_test(test_watch_seed_from_state),
    };
    return cmocka_run_group_tests_name("risk/watch", tests, NULL, NULL);
}
