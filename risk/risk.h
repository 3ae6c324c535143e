/* troika risk monitor (prefix risk_): the actor that watches committed events on the Raft leader
 * (DESIGN.md, principle 5) and proposes KillSwitchSet when the account's drawdown or daily loss
 * reaches its limit, and CircuitBreakerSet when a symbol's venue rejects too many orders or its
 * feed goes stale (and again, untripped, once the feed is fresh). Every committed KillSwitchSet
 * and CircuitBreakerSet, whoever proposed it, is sent as an alert to a webhook (Telegram Bot API
 * style) through the HTTP client service of net/. docs/risk.md states the rules and formulas.
 *
 * Three layers, each tested on its own: pure helpers (the loss measures, the alert's text and
 * JSON body); the watch (risk_watch_*), a pure state machine that folds commits and clock ticks
 * into the events to propose; and the actor (risk_monitor_spawn), which feeds the watch from
 * the journal, proposes what it asks for, acknowledges every commit and sends the alerts. */
#ifndef TK_RISK_RISK_H
#define TK_RISK_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "led.h"
#include "net.h"
#include "tk.h"

/* ---- Limits (overridable at build time, like base/tk_limits.h; kept here because only this
 * module uses them) --------------------------------------------------------------------------- */

/* Symbols the monitor watches: one per ledger instrument. */
#define RISK_SYMBOLS_MAX LED_INSTRUMENTS_MAX
/* Largest venue_error_window (outcomes remembered per symbol). */
#ifndef RISK_VENUE_WINDOW_MAX
#define RISK_VENUE_WINDOW_MAX 1024u
#endif
/* Orders the monitor maps to their symbol at once (the ledger's open orders). */
#define RISK_ORDERS_MAX LED_ORDERS_OPEN_MAX
/* Alerts in flight to the webhook at once; an alert past this is dropped and logged. */
#ifndef RISK_ALERTS_INFLIGHT_MAX
#define RISK_ALERTS_INFLIGHT_MAX 32u
#endif
/* Events one commit or one tick may make the watch propose: a kill switch and one breaker per
 * symbol at most. */
#define RISK_ACTIONS_MAX (RISK_SYMBOLS_MAX + 1u)
/* An alert's text, with its NUL. */
#define RISK_ALERT_TEXT_BYTES 320u
_Static_assert(RISK_VENUE_WINDOW_MAX >= 1u && RISK_VENUE_WINDOW_MAX <= (1u << 16),
               "a window's counts are uint32_t and its memory is inline");
_Static_assert(RISK_ALERTS_INFLIGHT_MAX >= 1u, "at least one alert may be in flight");

/* The message types of the monitor (its own timer). */
#define RISK_MSG_BASE 0x5200u /* 'R' << 8 */
#define RISK_MSG_TICK (RISK_MSG_BASE + 1u)
_Static_assert(RISK_MSG_BASE >= ACT_MSG_USER, "the monitor's messages are user messages");

/* ---- Pure helpers (risk_alert.c) ------------------------------------------------------------ */

/* The drawdown from the peak, in basis points of the peak: floor((peak - equity) * 10000 /
 * peak), the usual definition of drawdown (M. Magdon-Ismail, A. Atiya, "Maximum drawdown",
 * Risk 17(10), 2004), measured as the ledger's gate measures it (ledger/led_gate.c, check_loss;
 * docs/ledger.md). Rounding down means floor(x) >= L exactly when x >= L for an integer limit L,
 * so comparing the result with a limit in bps is exact. Both amounts in 1e-8 units of the
 * valuation asset. 0 when peak_e8 <= 0 (nothing to lose) or equity_e8 >= peak_e8; can exceed
 * 10000 when equity is negative; INT64_MAX when the result does not fit. Pure. */
int64_t risk_drawdown_bps(int64_t peak_e8, int64_t equity_e8);

/* The day's loss, in basis points of the start-of-day equity: floor((sod - equity) * 10000 /
 * sod), the same measure as risk_drawdown_bps with the start-of-day equity in place of the
 * peak (the ledger's daily loss rule, ledger/led_gate.c). 0 when sod_e8 <= 0 or equity_e8 >=
 * sod_e8; INT64_MAX when the result does not fit. Pure. */
int64_t risk_daily_loss_bps(int64_t sod_e8, int64_t equity_e8);

/* The JSON body of a Telegram Bot API sendMessage call (https://core.telegram.org/bots/api
 * #sendmessage): {"chat_id":"<chat_id>","text":"<text>"}, compact, encoded by jansson (which
 * escapes and checks UTF-8). chat_id and text are borrowed NUL-terminated strings; *out_json is
 * malloc'd, NUL-terminated and the caller's (free it with free), written only on TK_OK.
 * Errors: TK_EINVAL (chat_id or text is not valid UTF-8), TK_ENOMEM. */
TK_MUST_USE tk_err risk_webhook_body(const char *chat_id, const char *text, char **out_json);

/* The alert text for a commit, into out (out_size >= 64, else TK_ASSERT; cut to fit): for an
 * applied KillSwitchSet "troika: KillSwitchSet on at ledger index 42: <reason>", for an applied
 * CircuitBreakerSet "troika: CircuitBreakerSet BTCUSDT tripped at ledger index 43: <reason>"
 * ("reset" when untripped). Bytes of the reason outside printable ASCII become '?', so the text
 * is always valid UTF-8. Returns false (out untouched) for any other commit, or one the ledger
 * did not apply: those raise no alert. Pure. */
bool risk_alert_text(const led_commit *c, char *out, size_t out_size);

/* ---- The watch (risk_watch.c): the monitor's rules as a pure state machine --------------------
 */

/* What the monitor knows of one instrument when it starts (the spawner reads it from the
 * state; risk_watch_opts_seed does). */
typedef struct risk_symbol_seed {
    char symbol[LED_SYMBOL_BYTES];
    bool breaker_tripped; /* led_instrument.breaker_tripped */
    bool marked;          /* it has a mark (led_instrument.mark_e8 != 0): its next bar is not
                             its first, whose valuation the ledger counts as an external flow */
} risk_symbol_seed;

/* The rules' settings and the seed; every field set by the caller. */
typedef struct risk_watch_opts {
    /* The ledger's account as it stood when the monitor starts: equity_e8, peak_equity_e8,
     * sod_equity_e8, day, kill_switch, last_ts_ns and limits (max_drawdown_bps, daily_loss_bps
     * are the limits enforced; committed RiskLimitsSet events update them). */
    led_account account;
    uint32_t symbol_count; /* 0 to RISK_SYMBOLS_MAX */
    risk_symbol_seed symbols[RISK_SYMBOLS_MAX];
    /* Venue errors: the last venue_error_window outcomes per symbol (an OrderAcked, the first
     * OrderFilled of an order not acked before, an OrderRejectedByVenue) are remembered; when
     * venue_error_max or more of them are rejections the symbol's breaker is tripped. 0: off;
     * else 1 to RISK_VENUE_WINDOW_MAX, and venue_error_max 1 to venue_error_window. */
    uint32_t venue_error_window;
    uint32_t venue_error_max;
    /* Feed staleness: no BarClosed for a symbol committed for this long (monotonic time from
     * when the monitor saw the last one, or from its start or the symbol's definition) trips the
     * symbol's breaker; the next bar resets it. 0: off (backtests: a replay is not wall time).
     * A committed FeedHealth with status stale trips the breaker whatever this is. */
    uint32_t feed_stale_ms;
} risk_watch_opts;

/* Fill opts->account and opts->symbols from state (borrowed for the call); the other fields
 * are left as they are. Pure; the caller owns state's thread for the call. */
void risk_watch_opts_seed(const led_state *state, risk_watch_opts *opts);

/* Check opts: TK_OK or TK_EINVAL with *why (may be NULL) set to a static description. */
TK_MUST_USE tk_err risk_watch_opts_check(const risk_watch_opts *opts, const char **why);

/* Events the watch asks to be proposed, in order (each passes led_event_check). */
typedef struct risk_actions {
    uint32_t count;
    led_event events[RISK_ACTIONS_MAX];
} risk_actions;

/* Counters, for tests and logs. */
typedef struct risk_watch_stats {
    int64_t equity_e8, peak_equity_e8, sod_equity_e8; /* as the watch tracks them */
    int64_t day;
    bool kill_on, kill_pending;
    uint64_t kills_proposed, breakers_proposed, venue_outcomes, orders_untracked;
} risk_watch_stats;

typedef struct risk_watch risk_watch;

/* Allocate a watch from opts (copied; must pass risk_watch_opts_check, else TK_ASSERT), its
 * staleness clocks starting at now_mono_ns (monotonic ns). Errors: TK_ENOMEM. *out on TK_OK. */
TK_MUST_USE tk_err risk_watch_open(const risk_watch_opts *opts, uint64_t now_mono_ns,
                                   risk_watch **out);

/* NULL is a no-op. */
void risk_watch_close(risk_watch *watch);

/* Fold one committed event (c borrowed, in the order the journal delivers them) at monotonic
 * time now_mono_ns, and write to out the events it calls for (count 0: none), stamped with the
 * commit's own ts_ns. Never fails: an event the watch cannot place (an unknown symbol or order,
 * a full order table) is counted and skipped. Rules, once per cause until the cause's own event
 * is seen committed (docs/risk.md):
 *   drawdown_bps >= max_drawdown_bps, else daily_loss_bps >= daily_loss_bps -> KillSwitchSet
 *     {on, "drawdown 1234 bps >= limit 1000 bps"}, unless the kill switch is on or proposed;
 *   venue rejections in the window >= venue_error_max -> CircuitBreakerSet{symbol, tripped,
 *     "venue errors: 5 of the last 20 orders rejected"};
 *   FeedHealth stale -> CircuitBreakerSet{symbol, tripped, "feed stale: <detail>"};
 *   a bar (or a healthy window) after a trip of the monitor's own -> CircuitBreakerSet{symbol,
 *     untripped, "feed fresh: ..."/"venue errors cleared: ..."}. */
void risk_watch_commit(risk_watch *watch, const led_commit *c, uint64_t now_mono_ns,
                       risk_actions *out);

/* The periodic check: symbols without a bar for feed_stale_ms at now_mono_ns become stale;
 * what that calls for goes to out, stamped now_wall_ns (ns since the epoch; a proposal of the
 * clock's own, with no commit to take a time from). Nothing when feed_stale_ms is 0. */
void risk_watch_tick(risk_watch *watch, uint64_t now_mono_ns, int64_t now_wall_ns,
                     risk_actions *out);

/* The kill rules on the seed alone, before any commit (an account that starts past a limit
 * with the switch off): what they call for goes to out, stamped with account.last_ts_ns. */
void risk_watch_start(risk_watch *watch, risk_actions *out);

/* The watch's figures and counters into out (written in full). Pure; for tests and logs. */
void risk_watch_stats_read(const risk_watch *watch, risk_watch_stats *out);

/* ---- The monitor actor (risk_actor.c) ------------------------------------------------------- */

typedef struct risk_monitor_opts {
    risk_watch_opts watch; /* rules and seed, as above */
    const tk_clock *clock; /* borrowed, outlives the actor: staleness (monotonic) and the time
                              stamp of what a tick proposes (wall) */
    /* NULL or "": no alerts. Otherwise the URL POSTed to, Telegram style
     * ("https://api.telegram.org/bot<token>/sendMessage"; shorter than NET_URL_BYTES). It may
     * hold a secret: the monitor never logs it. */
    const char *webhook_url;
    const char *webhook_chat_id; /* borrowed for the spawn (copied); needed with webhook_url */
    net_http *http;              /* borrowed, outlives the actor; needed with webhook_url */
    uint32_t mailbox_capacity;   /* >= 4 */
    act_ref link_to;             /* its supervisor (ACT_REF_NONE: none) */
} risk_monitor_opts;

/* Spawn the risk monitor: it joins LED_GROUP_STRATEGIES (not execution, whose members hold
 * every bar until they acknowledge), and answers every LED_MSG_COMMITTED with LED_MSG_ACK after
 * proposing to LED_JOURNAL_NAME what the watch asks for; with feed_stale_ms it checks
 * staleness every min(max(feed_stale_ms / 4, 10), 1000) ms on an act_send_after timer; every
 * applied KillSwitchSet and CircuitBreakerSet it sees goes to the webhook as one idempotent
 * POST (application/json, risk_webhook_body, tag: the ledger index), whose NET_MSG_RESPONSE is
 * logged when it failed (transport error or a non-2xx status) and otherwise ignored. opts and
 * what it points to are borrowed for the call, but clock and http, which must outlive the
 * actor. Unexpected messages end the actor through act_fail (its supervisor restarts it).
 * Errors: TK_EINVAL (opts fail risk_watch_opts_check, mailbox_capacity < 4, a webhook_url
 * without chat id or http, or too long), TK_ENOMEM, and those of act_spawn / act_group_join.
 * Context: any thread but the actor's own. */
TK_MUST_USE tk_err risk_monitor_spawn(act_system *sys, const risk_monitor_opts *opts,
                                      act_ref *out_ref);

#endif /* TK_RISK_RISK_H */
