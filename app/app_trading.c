/* A node's trading actors (DESIGN.md, "A node's supervision tree"; docs/operations.md,
 * "Trading on a node"): under the supervisor `trading` (rest_for_one), the journal actor over
 * the Raft node and the `strategies` supervisor with the strategy, which runs on every node
 * (warm at failover; only the leader's proposals reach the log); and the leader-only `active`
 * supervisor (the execution actor, the risk monitor and the feed), which the journal actor
 * starts when the node leads, with what the ledger held at that moment, and stops when it no
 * longer leads. Every worker is registered under a name (docs/operations.md), by which the
 * debug API's "crash" finds it. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_config.h"
#include "feed.h"
#include "net.h"
#include "risk.h"
#include "sup.h"

#define VENUE_RECV_WINDOW_MS 1000u /* Binance's recvWindow for the venue actor's requests */
#define TRADING_MAILBOX      4096u
#define JOURNAL_MAILBOX      (1u << 16)
#define LEADER_CHILDREN      3u

_Static_assert(LED_NAME_BYTES <= SUP_ID_BYTES, "a strategy's name is its child id");

/* The leader's actors: their child ids in `active`, and the names they are registered under. */
static const char *const leader_names[LEADER_CHILDREN] = {"execution", "risk_monitor", "feed"};

/* What a new leader's actors start from: read on the node's loop thread as it starts leading
 * (clu_leader_hooks.capture), consistent with every event published before. */
typedef struct app_trading app_trading;

typedef struct leader_view {
    const app_trading *t;    /* whose: the children's start functions get the view */
    bool instrument_defined; /* the ledger knows the configured symbol */
    int64_t resume_after_ns; /* close of its last bar (0: none) */
    bool feed_stale;         /* the ledger last heard the feed was stale */
    uint32_t resting_count;  /* open orders, for the paper venue's book */
    exec_order resting[EXEC_BOOK_MAX];
    uint32_t open_count; /* the same, as the ledger has them, for a venue's reconciliation */
    led_order open[EXEC_BOOK_MAX];
    risk_watch_opts watch; /* the risk monitor's seed: the account and the instruments */
    /* The venue actor's fence for this leadership only: cleared when it ends, and never set
     * again, so that an actor of an earlier leadership still shutting down cannot send once the
     * next one has started (found by the chaos harness: a journal restart gave two venue
     * actors, both sending). */
    _Atomic bool leading;
} leader_view;

struct app_trading {
    act_system *sys;
    clu_node *node;         /* borrowed: the journal actor's */
    clu_leader_hooks hooks; /* the journal actor's: start and stop the leader's actors */
    app_config cfg;
    const strat_engine *engine;
    const void *params;
    char data[256];
    const char *files[1];
    double speed;
    bool binance;                /* the venue: Binance (the venue actor), else the paper venue */
    bool live_feed;              /* the feed: Binance's klines, else a replay of trading_data */
    feed_binance_opts feed_opts; /* for the live feed: all but where it starts */
    exec_venue_opts venue_opts;  /* for Binance: all but the open orders */
    net_http *http;              /* for Binance and the risk monitor's alerts */
    risk_monitor_opts risk_opts; /* all but the seed */
    strat_actor_opts strategy;   /* all but the supervisor */
    char strategy_name[ACT_NAME_BYTES_MAX + 1u]; /* registered as "strategy.<name>" */
    act_ref root;                                /* the supervisor `trading` */
    sup_child_spec root_children[2], strategy_children[1];
    sup_spec root_spec, strategies_spec;
    char webhook_url[NET_URL_BYTES], webhook_chat_id[64];
    /* the journal actor's thread only */
    leader_view *view;    /* the current leadership's, owned; NULL when following */
    leader_view *retired; /* the last one's, kept while its supervisor may still be ending */
    act_ref active;       /* the leader's supervisor; ACT_REF_NONE when following */
    sup_child_spec children[LEADER_CHILDREN];
    sup_spec active_spec;
};

/* Register ref, a child its start function has just spawned, as name. On an error the child is
 * killed (its supervisor ignores the exit of a child it never started) and the error returned:
 * TK_EEXIST when another actor holds the name. */
static tk_err child_register(act_system *sys, const char *name, act_ref ref)
{
    TK_ASSERT(name != NULL && name[0] != '\0');
    TK_ASSERT(!act_ref_is_none(ref));
    tk_err err = act_register(sys, name, ref);
    if (err == TK_OK) return TK_OK;
    act_reason kill = {.kind = ACT_REASON_KILL};
    tk_err killed = act_exit(sys, ACT_REF_NONE, ref, &kill); /* TK_ESTALE: gone already */
    TK_LOG(TK_LOG_ERROR, "trading", "a child cannot take its name", TK_LOG_STR("name", name),
           TK_LOG_ERR("err", err), TK_LOG_ERR("kill", killed));
    return err;
}

/* ---- The leader's actors -------------------------------------------------------------------- */

static tk_err start_execution(act_system *sys, act_ref sup, const void *arg, act_ref *out)
{
    const leader_view *view = arg;
    const app_trading *t = view->t;
    act_ref ref;
    tk_err err;
    if (t->binance) {
        exec_venue_opts o = t->venue_opts;
        o.open = view->open;
        o.open_count = view->open_count;
        o.leading = &view->leading;
        o.link_to = sup;
        err = exec_venue_spawn(sys, &o, &ref);
    } else {
        exec_actor_opts o = {.venue = t->cfg.venue,
                             .mailbox_capacity = TRADING_MAILBOX,
                             .resting = view->resting,
                             .resting_count = view->resting_count,
                             .link_to = sup};
        memcpy(o.fee_asset, t->cfg.quote, sizeof(o.fee_asset));
        err = exec_actor_spawn(sys, &o, &ref);
    }
    if (err == TK_OK) err = child_register(sys, leader_names[0], ref);
    if (err == TK_OK) *out = ref;
    return err;
}

static tk_err start_feed(act_system *sys, act_ref sup, const void *arg, act_ref *out)
{
    const leader_view *view = arg;
    const app_trading *t = view->t;
    act_ref ref;
    tk_err err;
    if (t->live_feed) { /* Binance's klines, from the bar after the ledger's last */
        feed_binance_opts b = t->feed_opts;
        b.start_ms = view->resume_after_ns / 1000000;
        b.stale_at_start = view->feed_stale;
        b.link_to = sup;
        err = feed_binance_spawn(sys, &b, &ref);
    } else {
        feed_actor_opts o = {.files = t->files,
                             .file_count = 1,
                             .speed = t->speed,
                             .report_to = ACT_REF_NONE,
                             .progress = NULL,
                             .resume_after_ns = view->resume_after_ns,
                             .link_to = sup};
        memcpy(o.symbol, t->cfg.symbol, sizeof(o.symbol));
        err = feed_actor_spawn(sys, &o, &ref);
    }
    if (err == TK_OK) err = child_register(sys, leader_names[2], ref);
    if (err == TK_OK) *out = ref;
    return err;
}

static tk_err start_risk(act_system *sys, act_ref sup, const void *arg, act_ref *out)
{
    const leader_view *view = arg;
    const app_trading *t = view->t;
    risk_monitor_opts o = t->risk_opts;
    o.watch = view->watch; /* the seed, with the rules' settings copied in below */
    o.watch.venue_error_window = t->risk_opts.watch.venue_error_window;
    o.watch.venue_error_max = t->risk_opts.watch.venue_error_max;
    o.watch.feed_stale_ms = t->risk_opts.watch.feed_stale_ms;
    o.link_to = sup;
    act_ref ref;
    tk_err err = risk_monitor_spawn(sys, &o, &ref);
    if (err == TK_OK) err = child_register(sys, leader_names[1], ref);
    if (err == TK_OK) *out = ref;
    return err;
}

static void *capture(void *arg, const led_state *state)
{
    const app_trading *t = arg;
    leader_view *v = calloc(1, sizeof(*v));
    if (v == NULL) return NULL; /* start refuses to run without it */
    v->t = t;
    led_account acct;
    led_state_account(state, &acct);
    for (uint32_t i = 0; i < acct.instrument_count; i++) {
        led_instrument ins;
        led_state_instrument_at(state, i, &ins);
        if (strcmp(ins.symbol, t->cfg.symbol) != 0) continue;
        v->instrument_defined = true;
        v->resume_after_ns = ins.mark_ts_ns;
        v->feed_stale = ins.feed == LED_FEED_STALE;
    }
    uint32_t n = exec_book_from_state(state, v->resting, EXEC_BOOK_MAX);
    v->resting_count = n < EXEC_BOOK_MAX ? n : EXEC_BOOK_MAX; /* more: the book refuses them */
    led_order o;
    for (uint64_t after = 0;
         v->open_count < EXEC_BOOK_MAX && led_state_order_next(state, after, &o) == TK_OK;
         after = o.index)
        v->open[v->open_count++] = o;
    risk_watch_opts_seed(state, &v->watch);
    return v;
}

static void release(void *arg, void *view)
{
    (void)arg;
    free(view);
}

/* A ledger without the instrument: the instrument, the deposit, the risk limits and the
 * strategy's switch, proposed once by the first leader (a later leader finds the instrument;
 * the keys make a lost-and-repeated proposal harmless). */
static tk_err bootstrap(act_system *sys, const app_trading *t)
{
    led_event ev[APP_BOOTSTRAP_EVENTS];
    int64_t ts_ns = t->live_feed ? tk_clock_wall_ns(tk_clock_system()) : app_first_bar_ns(t->data);
    app_config_bootstrap(&t->cfg, ts_ns, "initial equity", ev);
    for (uint32_t i = 0; i < APP_BOOTSTRAP_EVENTS; i++)
        snprintf(ev[i].key, sizeof(ev[i].key), "bootstrap:%s:%u", t->cfg.symbol, i);
    act_named journal = ACT_NAMED(LED_JOURNAL_NAME);
    led_propose_flags flags = LED_PROPOSE_PLAIN;
    tk_err err = TK_OK;
    for (uint32_t i = 0; i < APP_BOOTSTRAP_EVENTS && err == TK_OK; i++)
        err = act_send_named_copy(sys, &journal, ACT_REF_NONE, LED_MSG_PROPOSE, &flags,
                                  sizeof(flags), &ev[i], sizeof(ev[i]));
    return err;
}

static tk_err start(void *arg, act_system *sys, void *view)
{
    app_trading *t = arg;
    if (view == NULL) return TK_ENOMEM;
    TK_ASSERT(t->view == NULL && act_ref_is_none(t->active));
    t->view = view;
    for (uint32_t i = 0; i < t->active_spec.child_count; i++) /* each restart reads it */
        t->children[i].arg = view;
    atomic_store_explicit(&t->view->leading, true, memory_order_release);
    tk_err err = t->view->instrument_defined ? TK_OK : bootstrap(sys, t);
    if (err == TK_OK) err = sup_start(sys, &t->active_spec, ACT_REF_NONE, &t->active);
    TK_LOG(err == TK_OK ? TK_LOG_INFO : TK_LOG_ERROR, "trading", "leader's actors started",
           TK_LOG_ERR("err", err), TK_LOG_U64("resting_orders", t->view->resting_count),
           TK_LOG_BOOL("bootstrap", !t->view->instrument_defined));
    return err;
}

static void stop(void *arg, act_system *sys)
{
    app_trading *t = arg;
    if (t->view != NULL) /* nothing more is sent by this leadership's actors */
        atomic_store_explicit(&t->view->leading, false, memory_order_release);
    /* The names go now, not when the actors have shut down: a journal actor restarted while the
     * node leads starts the next leadership's at once. */
    for (uint32_t i = 0; i < LEADER_CHILDREN; i++) {
        tk_err err = act_unregister(sys, leader_names[i]);
        TK_ASSERT(err == TK_OK || err == TK_ENOENT); /* TK_ENOENT: not running (a feed done) */
    }
    if (!act_ref_is_none(t->active)) {
        /* KILL, as OTP's brutal_kill: a supervisor ignores a SHUTDOWN exit signal from anyone
         * but its parent, and `active` has none, so the leader's actors went on running after
         * the leadership ended (found by the chaos harness). The kill ends the supervisor and,
         * through their links, its children; nothing of theirs needs a graceful end (the next
         * leader reconciles with the venue). */
        act_reason reason = {.kind = ACT_REASON_KILL};
        tk_err err = act_exit(sys, ACT_REF_NONE, t->active, &reason); /* ESTALE: gone already */
        TK_LOG(TK_LOG_INFO, "trading", "leader's actors stopped", TK_LOG_ERR("err", err));
    }
    t->active = ACT_REF_NONE;
    free(t->retired); /* two leaderships ago: its supervisor has long ended */
    t->retired = t->view;
    t->view = NULL;
}

/* ---- Start and stop ------------------------------------------------------------------------- */

static void active_spec_init(app_trading *t)
{
    sup_child_spec worker = {.restart = SUP_TRANSIENT,
                             .shutdown = SUP_SHUTDOWN_TIMEOUT,
                             .shutdown_timeout_ms = 1000,
                             .type = SUP_WORKER,
                             .arg = NULL}; /* the leadership's view, set by start */
    static const sup_start_fn starts[LEADER_CHILDREN] = {start_execution, start_risk, start_feed};
    for (uint32_t i = 0; i < LEADER_CHILDREN; i++) {
        t->children[i] = worker;
        snprintf(t->children[i].id, SUP_ID_BYTES, "%s", leader_names[i]);
        t->children[i].start = starts[i];
    }
    /* rest_for_one: the monitor and the feed depend on the venue (a bar must not pass a venue
     * that is down), the feed on the monitor (DESIGN.md, "A node's supervision tree") */
    t->active_spec = (sup_spec){
        .name = "active",
        .flags = {.strategy = SUP_REST_FOR_ONE, .intensity = 5, .period_ms = 10000, .seed = 1},
        .children = t->children,
        .child_count = LEADER_CHILDREN,
        .children_max = LEADER_CHILDREN,
        .mailbox_capacity = 64};
}

/* ---- The node's supervisors ----------------------------------------------------------------- */

static tk_err start_journal(act_system *sys, act_ref sup, const void *arg, act_ref *out)
{
    const app_trading *t = arg; /* the actor registers itself as LED_JOURNAL_NAME */
    TK_ASSERT(t->node != NULL && t->hooks.arg == t);
    return clu_raft_journal_actor_spawn(sys, t->node, &t->hooks, JOURNAL_MAILBOX, sup, out);
}

static tk_err start_strategy(act_system *sys, act_ref sup, const void *arg, act_ref *out)
{
    const app_trading *t = arg;
    TK_ASSERT(t->strategy.engine != NULL && t->strategy_name[0] != '\0');
    strat_actor_opts o = t->strategy;
    o.link_to = sup;
    act_ref ref;
    tk_err err = strat_actor_spawn(sys, &o, &ref);
    if (err == TK_OK) err = child_register(sys, t->strategy_name, ref);
    if (err == TK_OK) *out = ref;
    return err;
}

/* `trading` (rest_for_one: the strategies depend on the journal actor, whose restart may have
 * missed events) over the journal actor and `strategies` (one_for_one, one child per configured
 * strategy). Transient children: a crash restarts them, the system's shutdown does not. */
static void root_spec_init(app_trading *t)
{
    t->strategy_children[0] = (sup_child_spec){.start = start_strategy,
                                               .arg = t,
                                               .restart = SUP_TRANSIENT,
                                               .shutdown = SUP_SHUTDOWN_TIMEOUT,
                                               .shutdown_timeout_ms = 1000,
                                               .type = SUP_WORKER};
    memcpy(t->strategy_children[0].id, t->cfg.strategy, sizeof(t->cfg.strategy));
    t->strategies_spec = (sup_spec){
        .name = "strategies",
        .flags = {.strategy = SUP_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000, .seed = 2},
        .children = t->strategy_children,
        .child_count = 1,
        .children_max = 1,
        .mailbox_capacity = 64};
    t->root_children[0] = (sup_child_spec){.id = "journal",
                                           .start = start_journal,
                                           .arg = t,
                                           .restart = SUP_TRANSIENT,
                                           .shutdown = SUP_SHUTDOWN_TIMEOUT,
                                           .shutdown_timeout_ms = 5000,
                                           .type = SUP_WORKER};
    t->root_children[1] = sup_child_supervisor("strategies", &t->strategies_spec, SUP_TRANSIENT);
    t->root_spec = (sup_spec){
        .name = "trading",
        .flags = {.strategy = SUP_REST_FOR_ONE, .intensity = 5, .period_ms = 10000, .seed = 3},
        .children = t->root_children,
        .child_count = 2,
        .children_max = 2,
        .mailbox_capacity = 64};
}

tk_err app_trading_start(const app_node_config *cfg, clu_node *node, app_trading **out, char *why,
                         size_t why_size)
{
    TK_ASSERT(cfg != NULL && node != NULL && out != NULL);
    app_trading *t = calloc(1, sizeof(*t));
    if (t == NULL) return TK_ENOMEM;
    snprintf(t->data, sizeof(t->data), "%s", cfg->trading_data);
    t->files[0] = t->data;
    t->speed = cfg->trading_speed;
    t->active = ACT_REF_NONE;
    app_config_defaults(&t->cfg, t->data);
    tk_err err = cfg->trading_config[0] != '\0'
                     ? app_config_load(cfg->trading_config, &t->cfg, why, why_size)
                     : TK_OK;
    if (err == TK_OK) err = app_config_strategy(&t->cfg, &t->engine, &t->params, why, why_size);
    if (err != TK_OK) {
        free(t);
        return err;
    }
    t->binance = strcmp(cfg->trading_venue, "binance") == 0;
    if (!t->binance && cfg->trading_venue[0] != '\0' && strcmp(cfg->trading_venue, "paper") != 0) {
        snprintf(why, why_size, "trading.venue: '%s' is neither paper nor binance",
                 cfg->trading_venue);
        free(t);
        return TK_EINVAL;
    }
    if (t->binance) {
        exec_venue_opts *v = &t->venue_opts;
        snprintf(v->venue.base_url, sizeof(v->venue.base_url), "%s", cfg->binance_url);
        /* Binance refuses a signed request that arrives later than recvWindow after its
         * timestamp (Binance spot API, "Timing security"): a venue-side fence for requests an
         * old leader built before it stepped down. Short, so that the new leader's wait below
         * stays short. */
        v->venue.recv_window_ms = VENUE_RECV_WINDOW_MS;
        err = exec_binance_keys_load(
            &v->venue, cfg->binance_key_file[0] != '\0' ? cfg->binance_key_file : NULL, why,
            why_size);
        if (err == TK_OK && cfg->binance_url[0] == '\0') {
            snprintf(why, why_size, "trading.binance_url is required with venue binance");
            err = TK_EINVAL;
        }
        const char *prefix = cfg->order_prefix[0] != '\0' ? cfg->order_prefix : cfg->cluster_id;
        if (strlen(prefix) < sizeof(v->prefix)) memcpy(v->prefix, prefix, strlen(prefix) + 1u);
        v->clock = tk_clock_system();
        /* the fence (docs/venues.md, "Fencing"): an old leader has stepped down within two
         * election timeouts, and what it sent before then is refused by the venue once
         * recvWindow has passed; after both, what the venue holds is all it will ever take
         * from the old leader (the chaos harness found an order handed to the HTTP service just
         * before a leadership transfer reach the venue 2 s later, after the new leader had
         * reconciled it as never sent) */
        v->reconcile_delay_ms = 2u * cfg->election_timeout_ms + VENUE_RECV_WINDOW_MS;
        v->poll_ms = 1000;
        v->leading = NULL; /* each leadership's own (start_execution) */
        v->mailbox_capacity = TRADING_MAILBOX;
        char probe[LED_ID_BYTES];
        if (err == TK_OK && exec_client_order_id(v->prefix, 1, probe) != TK_OK) {
            snprintf(why, why_size,
                     "trading.prefix (or cluster.id) '%s': 1 to 15 of A-Z a-z 0-9 for client "
                     "order ids",
                     v->prefix);
            err = TK_EINVAL;
        }
        if (err != TK_OK) {
            free(t);
            return err;
        }
    }
    t->live_feed = strcmp(cfg->trading_feed, "binance") == 0;
    if (!t->live_feed && cfg->trading_feed[0] != '\0' && strcmp(cfg->trading_feed, "replay") != 0) {
        snprintf(why, why_size, "trading.feed: '%s' is neither replay nor binance",
                 cfg->trading_feed);
        free(t);
        return TK_EINVAL;
    }
    if (t->live_feed) {
        feed_binance_opts *f = &t->feed_opts;
        snprintf(f->base_url, sizeof(f->base_url), "%s", cfg->binance_url);
        memcpy(f->symbol, t->cfg.symbol, sizeof(f->symbol));
        snprintf(f->interval, sizeof(f->interval), "%s",
                 cfg->trading_interval[0] != '\0' ? cfg->trading_interval : "1m");
        f->poll_ms = 1000;
        f->stale_after_ms = cfg->risk_feed_stale_ms > 0 ? cfg->risk_feed_stale_ms : 30000;
        f->weight_limit_1m = 1000;
        f->clock = tk_clock_system();
        f->mailbox_capacity = 64;
        if (cfg->binance_url[0] == '\0' || feed_binance_interval_ms(f->interval) == 0) {
            snprintf(why, why_size,
                     "trading: the binance feed needs binance_url and an interval Binance knows "
                     "('%s')",
                     f->interval);
            free(t);
            return TK_EINVAL;
        }
    }
    risk_monitor_opts *ro = &t->risk_opts;
    ro->watch.venue_error_window = cfg->risk_venue_error_window;
    ro->watch.venue_error_max = cfg->risk_venue_error_max;
    ro->watch.feed_stale_ms = cfg->risk_feed_stale_ms;
    ro->clock = tk_clock_system();
    ro->mailbox_capacity = TRADING_MAILBOX;
    snprintf(t->webhook_url, sizeof(t->webhook_url), "%s", cfg->webhook_url);
    snprintf(t->webhook_chat_id, sizeof(t->webhook_chat_id), "%s", cfg->webhook_chat_id);
    ro->webhook_url = t->webhook_url[0] != '\0' ? t->webhook_url : NULL;
    ro->webhook_chat_id = t->webhook_chat_id;
    const char *risk_why = NULL;
    if (risk_watch_opts_check(&ro->watch, &risk_why) != TK_OK ||
        (ro->webhook_url != NULL && t->webhook_chat_id[0] == '\0')) {
        snprintf(why, why_size, "trading: the risk monitor's settings: %s",
                 risk_why != NULL ? risk_why : "webhook_chat_id is required with webhook_url");
        free(t);
        return TK_EINVAL;
    }
    active_spec_init(t);
    act_system_opts so = {.threads = 1,
                          .actors_max = 256,
                          .msgs_max = 1u << 16,
                          .spin_us = 50,
                          .turn_deadline_ms = 1000,
                          .stuck_deadline_ms = 0,
                          .clock = tk_clock_system()};
    err = act_system_open(&so, &t->sys);
    if (err != TK_OK) {
        snprintf(why, why_size, "trading: cannot start the actor runtime: %s", tk_err_str(err));
        free(t);
        return err;
    }
    if (t->binance || t->live_feed || ro->webhook_url != NULL) {
        err = net_http_open(t->sys, NULL, &t->http);
        t->venue_opts.http = t->http;
        t->feed_opts.http = t->http;
        ro->http = t->http;
        if (err != TK_OK) {
            snprintf(why, why_size, "trading: cannot start the HTTP client: %s", tk_err_str(err));
            act_system_close(t->sys);
            free(t);
            return err;
        }
    }
    t->strategy =
        (strat_actor_opts){.engine = t->engine,
                           .params = t->params,
                           .instrument = {.tick_e8 = t->cfg.tick_e8, .lot_e8 = t->cfg.lot_e8},
                           .mailbox_capacity = TRADING_MAILBOX,
                           .link_to = ACT_REF_NONE}; /* each start links it to `strategies` */
    memcpy(t->strategy.name, t->cfg.strategy, sizeof(t->strategy.name));
    memcpy(t->strategy.symbol, t->cfg.symbol, sizeof(t->strategy.symbol));
    snprintf(t->strategy_name, sizeof(t->strategy_name), "strategy.%s", t->cfg.strategy);
    t->node = node;
    t->hooks = (clu_leader_hooks){
        .arg = t, .capture = capture, .start = start, .stop = stop, .release = release};
    root_spec_init(t);
    err = sup_start(t->sys, &t->root_spec, ACT_REF_NONE, &t->root);
    if (err != TK_OK) {
        snprintf(why, why_size, "trading: cannot start the actors: %s", tk_err_str(err));
        net_http_close(t->http);
        act_system_close(t->sys);
        free(t);
        return err;
    }
    *out = t;
    return TK_OK;
}

act_system *app_trading_actors(const app_trading *t)
{
    return t != NULL ? t->sys : NULL;
}

void app_trading_stop(app_trading *t)
{
    if (t == NULL) return;
    if (t->view != NULL) atomic_store_explicit(&t->view->leading, false, memory_order_release);
    net_http_close(t->http);  /* requests in flight end; nothing new leaves */
    act_system_close(t->sys); /* the journal actor's terminate stops the leader's actors */
    free(t->view);
    free(t->retired);
    free(t);
}
