/* `troika backtest`: the live actor graph (replay feed, journal, paper execution, strategy) on
 * the local journal over real candles, then the report (docs/backtest.md). The actor system
 * runs on one scheduler thread, so the run is a deterministic function of its inputs: the same
 * files and config give the same ledger, state hash and report.json, byte for byte. */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "app_config.h"
#include "app_report.h"
#include "clu.h"
#include "feed.h"

#define BT_DATA_FILES_MAX 16u
#define BT_MAILBOX        4096u
#define BT_PROGRESS_MS    250u
#define BT_CHECKPOINT     100000u
#define BT_BATCH_EVENTS   4096u /* events per write batch: a backtest commits in groups */

typedef struct bt_opts {
    const char *data[BT_DATA_FILES_MAX];
    uint32_t data_count;
    const char *strategy, *config, *out;
    bool memory;
    double speed;
    const strat_engine *engine; /* the strategy and its parameters (app_config_strategy) */
    const void *params;
} bt_opts;

/* What a run keeps for the report, filled by a journal subscriber on the journal's thread. */
typedef struct bt_record {
    app_equity_point *points;
    size_t point_count, point_cap;
    app_fill *fills;
    size_t fill_count, fill_cap;
    uint64_t *order_index; /* orders seen requested, in index order, with their side */
    led_side *order_side;
    size_t order_count, order_cap;
    uint64_t events;
    bool out_of_memory;
    const led_state *state; /* borrowed: the journal's */
} bt_record;

static led_side side_of(const bt_record *r, uint64_t order_index)
{
    size_t lo = 0, hi = r->order_count;
    while (lo < hi) { /* binary search: orders arrive in index order */
        size_t mid = lo + (hi - lo) / 2u;
        if (r->order_index[mid] < order_index)
            lo = mid + 1u;
        else
            hi = mid;
    }
    TK_ASSERT(lo < r->order_count && r->order_index[lo] == order_index); /* a fill's order */
    return r->order_side[lo];
}

static void record_commit(void *arg, uint64_t index, const led_event *ev, const led_outcome *out)
{
    bt_record *r = arg;
    r->events++;
    if (out->result != LED_APPLIED) return;
    if (ev->type == LED_EV_ORDER_REQUESTED) {
        if (!tk_array_reserve((void **)&r->order_index, &r->order_cap, r->order_count,
                              sizeof(uint64_t)) ||
            (r->order_side = realloc(r->order_side, r->order_cap * sizeof(led_side))) == NULL) {
            r->out_of_memory = true;
            return;
        }
        r->order_index[r->order_count] = index;
        r->order_side[r->order_count++] = ev->u.order_requested.side;
    } else if (ev->type == LED_EV_ORDER_FILLED) {
        if (!tk_array_reserve((void **)&r->fills, &r->fill_cap, r->fill_count, sizeof(app_fill))) {
            r->out_of_memory = true;
            return;
        }
        const struct led_ev_order_filled *f = &ev->u.order_filled;
        r->fills[r->fill_count++] = (app_fill){.ts_ns = ev->ts_ns,
                                               .side = side_of(r, f->order_index),
                                               .qty_e8 = f->qty_e8,
                                               .price_e8 = f->price_e8,
                                               .fee_e8 = f->fee_e8};
    } else if (ev->type == LED_EV_BAR_CLOSED) {
        /* The point of the previous bar is final only now (its fills come after it): each
         * BarClosed first completes the last point, then opens its own. */
        if (!tk_array_reserve((void **)&r->points, &r->point_cap, r->point_count,
                              sizeof(app_equity_point))) {
            r->out_of_memory = true;
            return;
        }
        r->points[r->point_count++] = (app_equity_point){.ts_ns = ev->ts_ns};
    }
    if (r->point_count > 0) { /* the open point follows the account until the next bar */
        app_equity_point *p = &r->points[r->point_count - 1u];
        p->equity_e8 = led_state_equity(r->state);
        p->position_e8 = led_state_position_at(r->state, 0); /* one instrument: the first */
    }
}

static void record_free(bt_record *r)
{
    free(r->points);
    free(r->fills);
    free(r->order_index);
    free(r->order_side);
    memset(r, 0, sizeof(*r));
}

/* The events before the first bar: the instrument, the deposit, the risk limits and the
 * strategy's switch, at the time of the first bar. */
static tk_err bootstrap(clu_journal *journal, const app_config *cfg, int64_t ts_ns, es_error *why)
{
    led_event ev[APP_BOOTSTRAP_EVENTS];
    app_config_bootstrap(cfg, ts_ns, "backtest initial equity", ev);
    tk_err err = TK_OK;
    for (uint32_t i = 0; i < APP_BOOTSTRAP_EVENTS && err == TK_OK; i++)
        err = clu_journal_propose(journal, &ev[i], NULL, why);
    if (err == TK_OK) err = clu_journal_flush(journal, why);
    return err;
}

int64_t app_first_bar_ns(const char *path)
{
    feed_file *f = NULL;
    feed_bar bar;
    int64_t ts = 0;
    if (feed_file_open(path, tk_mem_system(), &f, NULL) == TK_OK &&
        feed_file_next(f, &bar, NULL) == TK_OK)
        ts = bar.open_ts_ns;
    feed_file_close(f);
    return ts;
}

/* The actors of one run, on a one-thread system: journal, execution, strategy, feed. */
static tk_err spawn_graph(act_system *sys, clu_journal *journal, const app_config *cfg,
                          const bt_opts *o, act_ref report_to, _Atomic uint64_t *progress)
{
    act_ref ref;
    tk_err err = clu_journal_actor_spawn(sys, journal, BT_MAILBOX, &ref);
    exec_actor_opts exec = {.venue = cfg->venue, .mailbox_capacity = BT_MAILBOX};
    memcpy(exec.fee_asset, cfg->quote, sizeof(exec.fee_asset));
    if (err == TK_OK) err = exec_actor_spawn(sys, &exec, &ref);
    const strat_engine *engine = NULL;
    const void *params = NULL;
    char why[256];
    if (err == TK_OK &&
        app_config_strategy((app_config *)cfg, &engine, &params, why, sizeof(why)) != TK_OK)
        err = TK_EINVAL; /* checked when the options were read: not reached */
    strat_actor_opts strat = {.engine = engine,
                              .params = params,
                              .instrument = {.tick_e8 = cfg->tick_e8, .lot_e8 = cfg->lot_e8},
                              .mailbox_capacity = BT_MAILBOX};
    memcpy(strat.name, cfg->strategy, sizeof(strat.name));
    memcpy(strat.symbol, cfg->symbol, sizeof(strat.symbol));
    if (err == TK_OK) err = strat_actor_spawn(sys, &strat, &ref);
    feed_actor_opts feed = {.files = o->data,
                            .file_count = o->data_count,
                            .speed = o->speed,
                            .report_to = report_to,
                            .progress = progress};
    memcpy(feed.symbol, cfg->symbol, sizeof(feed.symbol));
    if (err == TK_OK) err = feed_actor_spawn(sys, &feed, &ref);
    return err;
}

/* Wait for the feed's end, showing progress on a terminal. *out (the caller's) on TK_OK. */
static tk_err wait_done(act_port *port, _Atomic uint64_t *progress, feed_actor_result *out)
{
    bool tty = isatty(STDERR_FILENO) != 0;
    const tk_clock *clock = tk_clock_system(); /* progress display only: not part of the run */
    uint64_t t0 = tk_clock_mono_ns(clock);
    for (;;) { /* bounded by the feed, which always reports its end */
        act_msg *msg = NULL;
        tk_err err = act_port_receive(port, BT_PROGRESS_MS, &msg);
        if (err == TK_ETIMEDOUT) {
            double s = (double)(tk_clock_mono_ns(clock) - t0) / 1e9;
            uint64_t bars = atomic_load_explicit(progress, memory_order_relaxed);
            if (tty)
                fprintf(stderr, "\rbacktest: %llu bars, %.0f bars/s ", (unsigned long long)bars,
                        s > 0 ? (double)bars / s : 0.0);
            continue;
        }
        if (err != TK_OK) return err;
        bool done = msg->type == FEED_MSG_DONE && msg->ptr != NULL;
        if (done) *out = *(const feed_actor_result *)msg->ptr;
        act_msg_free(act_port_system(port), msg);
        if (tty) fprintf(stderr, "\r%60s\r", "");
        if (done) return TK_OK;
    }
}

/* Run the graph over o's files into journal; feed's result into *out. */
static tk_err run_graph(clu_journal *journal, const app_config *cfg, const bt_opts *o,
                        feed_actor_result *out)
{
    act_system_opts so = {.threads = 1, /* one thread: a deterministic run */
                          .actors_max = 64,
                          .msgs_max = 1u << 16,
                          .spin_us = 50,
                          .turn_deadline_ms = 0,
                          .stuck_deadline_ms = 0,
                          .clock = tk_clock_system()};
    act_system *sys = NULL;
    act_port *port = NULL;
    _Atomic uint64_t progress = 0;
    tk_err err = act_system_open(&so, &sys);
    if (err != TK_OK) return err;
    err = act_port_open(sys, 16, &port);
    if (err == TK_OK) err = spawn_graph(sys, journal, cfg, o, act_port_ref(port), &progress);
    if (err == TK_OK) err = wait_done(port, &progress, out);
    act_port_close(port);
    act_system_close(sys); /* the journal is the app's again from here */
    return err;
}

/* The report: metrics, files, the table. */
static int report(const bt_opts *o, const app_config *cfg, const bt_record *rec,
                  const led_state *state, const feed_actor_result *fr)
{
    char hex[APP_HASH_HEX_BYTES];
    app_state_hash_hex(state, hex);
    app_report_input in = {.strategy = cfg->strategy,
                           .symbol = cfg->symbol,
                           .quote = cfg->quote,
                           .data_files = o->data,
                           .data_file_count = o->data_count,
                           .initial_equity_e8 = cfg->initial_equity_e8,
                           .interval_s = fr->interval_s,
                           .points = rec->points,
                           .point_count = rec->point_count,
                           .fills = rec->fills,
                           .fill_count = rec->fill_count,
                           .state_hash_hex = hex,
                           .events = rec->events};
    app_report_metrics m;
    app_report_compute(&in, &m);
    char why[512] = "";
    if (app_report_write(&in, &m, o->out, why, sizeof(why)) != TK_OK) {
        fprintf(stderr, "troika backtest: %s\n", why);
        return APP_EXIT_FAIL;
    }
    app_report_print(&m, stdout);
    printf("bars: %llu (gaps: %llu)\nreport: %s/report.html, %s/report.json, %s/trades.csv\n",
           (unsigned long long)fr->bars, (unsigned long long)fr->gaps, o->out, o->out, o->out);
    if (!o->memory)
        printf("store: %s/store (troika audit verify --data-dir %s/store)\n", o->out, o->out);
    return APP_EXIT_OK;
}

static void bt_usage(FILE *out)
{
    fprintf(out,
            "usage: troika backtest --data FILE [--data FILE ...] --strategy NAME\n"
            "                       [--config YAML] [--out DIR] [--store rocksdb|memory]\n"
            "                       [--speed N]\n"
            "Run the live actor graph (replay feed, journal, paper execution, strategy) over\n"
            "candle files (CSV in unix seconds, unix ms or ISO times, or Binance kline JSON;\n"
            "several files play one after the other) and write DIR/report.json,\n"
            "DIR/trades.csv and DIR/report.html; print the summary. The same inputs give the\n"
            "same ledger and a byte-identical report.json.\n"
            "  --data FILE      candles (repeat for more files, up to %u)\n"
            "  --strategy NAME  ema_cross, rsi_reversion or donchian_breakout\n"
            "  --config YAML    parameters, instrument, account, venue, risk (docs/backtest.md)\n"
            "  --out DIR        where the report goes (default backtest-out); with rocksdb the\n"
            "                   ledger is DIR/store, which must not exist yet\n"
            "  --store S        rocksdb (default: the ledger on disk, auditable) or memory\n"
            "  --speed N        replay at N times real time (default: as fast as it goes)\n"
            "  --help           this text\n",
            BT_DATA_FILES_MAX);
}

static int bt_options(int argc, char **argv, bt_opts *o)
{
    static const struct option longs[] = {
        {"data", required_argument, NULL, 'd'},   {"strategy", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'}, {"out", required_argument, NULL, 'o'},
        {"store", required_argument, NULL, 'S'},  {"speed", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end = NULL;
        if (c == 'h') {
            bt_usage(stdout);
            return APP_EXIT_HELP;
        } else if (c == 'd' && o->data_count < BT_DATA_FILES_MAX) {
            o->data[o->data_count++] = optarg;
        } else if (c == 's') {
            o->strategy = optarg;
        } else if (c == 'c') {
            o->config = optarg;
        } else if (c == 'o') {
            o->out = optarg;
        } else if (c == 'S' && (strcmp(optarg, "memory") == 0 || strcmp(optarg, "rocksdb") == 0)) {
            o->memory = strcmp(optarg, "memory") == 0;
        } else if (c == 'x' && (o->speed = strtod(optarg, &end)) > 0.0 && *end == '\0') {
            continue;
        } else {
            fprintf(stderr, "troika backtest: bad or repeated option%s%s\n", optarg ? ": " : "",
                    optarg ? optarg : "");
            bt_usage(stderr);
            return APP_EXIT_USAGE;
        }
    }
    if (o->data_count == 0 || o->strategy == NULL || optind < argc) {
        fprintf(stderr, "troika backtest: --data and --strategy are required\n");
        return APP_EXIT_USAGE;
    }
    return APP_EXIT_OK;
}

/* The ledger for the run: DIR/store in RocksDB (which must not exist yet), or none. */
static int open_store(const bt_opts *o, es_store **out, char *path, size_t path_size)
{
    *out = NULL;
    if (o->memory) return APP_EXIT_OK;
    snprintf(path, path_size, "%s/store", o->out);
    struct stat st;
    if (stat(path, &st) == 0) {
        fprintf(stderr,
                "troika backtest: %s exists: a backtest writes a new ledger; remove it "
                "or choose another --out\n",
                path);
        return APP_EXIT_FAIL;
    }
    (void)mkdir(o->out, 0755); /* an error shows up as the store's */
    return app_store_open("backtest", path, true, out);
}

static int bt_run(const bt_opts *o, const app_config *cfg)
{
    char path[1024];
    es_store *store = NULL;
    int rc = open_store(o, &store, path, sizeof(path));
    if (rc != APP_EXIT_OK) return rc;
    clu_local_opts jo = {.store = store,
                         .batch_events_max = BT_BATCH_EVENTS,
                         .checkpoint_every = BT_CHECKPOINT,
                         .deliver_on_apply = true}; /* a backtest: see clu_local_opts */
    clu_journal *journal = NULL;
    es_error why = {{0}};
    bt_record rec = {0};
    feed_actor_result fr = {.err = TK_OK};
    tk_err err = clu_local_open(&jo, &journal, &why);
    if (err == TK_OK) {
        rec.state = clu_journal_state(journal);
        err = clu_journal_subscribe(journal, record_commit, &rec);
    }
    if (err == TK_OK) err = bootstrap(journal, cfg, app_first_bar_ns(o->data[0]), &why);
    if (err == TK_OK) err = run_graph(journal, cfg, o, &fr);
    if (err == TK_OK) err = clu_journal_checkpoint(journal, &why); /* the tail of the run */
    if (err != TK_OK) {
        fprintf(stderr, "troika backtest: %s (%s)\n", why.text, tk_err_name(err));
        rc = APP_EXIT_FAIL;
    } else if (fr.err != TK_OK) {
        fprintf(stderr, "troika backtest: %s\n", fr.text); /* names file, line and field */
        rc = APP_EXIT_FAIL;
    } else if (rec.out_of_memory) {
        fprintf(stderr, "troika backtest: out of memory recording the run\n");
        rc = APP_EXIT_FAIL;
    } else {
        rc = report(o, cfg, &rec, clu_journal_state(journal), &fr);
    }
    clu_journal_close(journal);
    es_close(store);
    record_free(&rec);
    return rc;
}

int app_backtest_main(int argc, char **argv)
{
    bt_opts o = {.out = "backtest-out"};
    int rc = bt_options(argc, argv, &o);
    if (rc == APP_EXIT_HELP) return APP_EXIT_OK;
    if (rc != APP_EXIT_OK) return rc;
    app_config cfg;
    app_config_defaults(&cfg, o.data[0]);
    char why[512];
    snprintf(cfg.strategy, sizeof(cfg.strategy), "%s", o.strategy);
    if (o.config != NULL && app_config_load(o.config, &cfg, why, sizeof(why)) != TK_OK) {
        fprintf(stderr, "troika backtest: %s\n", why);
        return APP_EXIT_USAGE;
    }
    if (strcmp(cfg.strategy, o.strategy) != 0) {
        fprintf(stderr, "troika backtest: %s names strategy '%s', --strategy '%s'\n", o.config,
                cfg.strategy, o.strategy);
        return APP_EXIT_USAGE;
    }
    if (app_config_strategy(&cfg, &o.engine, &o.params, why, sizeof(why)) != TK_OK) {
        fprintf(stderr, "troika backtest: --strategy: %s\n", why);
        return APP_EXIT_USAGE;
    }
    return bt_run(&o, &cfg);
}

/* ---- A report from a store ------------------------------------------------------------------ */

static void record_step(void *arg, const es_replay_step *step)
{
    record_commit(arg, step->index, step->ev, step->outcome);
}

int app_backtest_report_store(const char *store_dir, const char *config, const char *data_file,
                              const char *out_dir)
{
    TK_ASSERT(store_dir != NULL && data_file != NULL && out_dir != NULL);
    app_config cfg;
    app_config_defaults(&cfg, data_file);
    char why[512] = "";
    if (config != NULL && app_config_load(config, &cfg, why, sizeof(why)) != TK_OK) {
        fprintf(stderr, "troika: %s\n", why);
        return APP_EXIT_USAGE;
    }
    feed_file *f = NULL;
    int64_t interval_s = 0;
    if (feed_file_open(data_file, tk_mem_system(), &f, NULL) == TK_OK)
        interval_s = feed_file_interval_s(f);
    feed_file_close(f);
    es_store *store = NULL;
    int rc = app_store_open("report", store_dir, false, &store);
    if (rc != APP_EXIT_OK) return rc;
    bt_record rec;
    memset(&rec, 0, sizeof(rec));
    led_state *state = NULL;
    tk_err err = led_state_open(&state);
    rec.state = state;
    es_replay_opts opts = {.from_checkpoint = false,
                           .until_index = UINT64_MAX,
                           .until_ts_ns = INT64_MAX,
                           .visit = record_step,
                           .arg = &rec};
    es_replay_result res;
    es_error ewhy = {{0}};
    if (err == TK_OK) err = es_replay(store, state, &opts, &res, &ewhy);
    if (err == TK_OK && (rec.out_of_memory || interval_s <= 0)) err = TK_ENOMEM;
    if (err == TK_OK) {
        char hex[APP_HASH_HEX_BYTES];
        app_state_hash_hex(state, hex);
        const char *files[1] = {data_file};
        app_report_input in = {.strategy = cfg.strategy,
                               .symbol = cfg.symbol,
                               .quote = cfg.quote,
                               .data_files = files,
                               .data_file_count = 1,
                               .initial_equity_e8 = cfg.initial_equity_e8,
                               .interval_s = interval_s,
                               .points = rec.points,
                               .point_count = rec.point_count,
                               .fills = rec.fills,
                               .fill_count = rec.fill_count,
                               .state_hash_hex = hex,
                               .events = rec.events};
        app_report_metrics m;
        app_report_compute(&in, &m);
        if (app_report_write(&in, &m, out_dir, why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "troika: %s\n", why);
            rc = APP_EXIT_FAIL;
        } else {
            app_report_print(&m, stdout);
            printf("report: %s/report.html, %s/report.json, %s/trades.csv\n", out_dir, out_dir,
                   out_dir);
        }
    } else {
        fprintf(stderr, "troika: the report of %s: %s\n", store_dir,
                ewhy.text[0] != '\0' ? ewhy.text : tk_err_str(err));
        rc = APP_EXIT_FAIL;
    }
    record_free(&rec);
    led_state_close(state);
    es_close(store);
    return rc;
}
