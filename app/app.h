/* Private to app/: what the troika binary's files share. */
#ifndef TK_APP_APP_H
#define TK_APP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clu.h"
#include "es.h"

/* Exit codes of every subcommand. */
enum {
    APP_EXIT_OK = 0,
    APP_EXIT_FAIL = 1,  /* the command ran and failed: a bad store, a mismatch, an I/O error */
    APP_EXIT_USAGE = 2, /* bad options: the message names the option */
    APP_EXIT_HELP = -1, /* internal to option parsing: --help was printed, exit 0 */
};

/* `troika demo` (docs/demo.md): a local three-node cluster in out_dir/cluster trades ema_cross
 * over the FTX BTC-PERP 1-minute candles in data_dir (fetched from Binance when missing) on venue
 * "paper" or "binance-mock" (tools/binance_mock.py), the leader SIGKILLed half way; then each
 * node's audit and state hash, the check that no bar or order was lost or doubled, the report in
 * out_dir/report, and the failover time. Prints to stdout. Returns the process exit code. */
int app_demo_run(const char *venue, const char *data_dir, const char *out_dir);

/* The subcommands; argv[0] is the subcommand's name ("gen-events", "verify"). Each parses its
 * options with getopt_long, answers --help, and returns the process exit code. */
int app_gen_events_main(int argc, char **argv);
int app_audit_main(int argc, char **argv);
int app_replay_main(int argc, char **argv);
int app_export_main(int argc, char **argv);
int app_backtest_main(int argc, char **argv);
int app_cluster_main(int argc, char **argv);
int app_node_main(int argc, char **argv);   /* troika node --config F */
int app_data_main(int argc, char **argv);   /* troika data download ... */
int app_client_main(int argc, char **argv); /* status, orders, positions, balances,
                                               kill-switch, order, transfer, crash: argv[0]
                                               names which */

/* ---- A node's configuration (app_node.c; the format is in docs/operations.md) ---- */

typedef struct app_node_peer {
    uint64_t id;
    char raft[CLU_ADDRESS_BYTES];   /* "127.0.0.1:7101" */
    char api[CLU_ADDRESS_BYTES];    /* "tcp://127.0.0.1:7201" */
    char http[CLU_ADDRESS_BYTES];   /* "http://127.0.0.1:7301" */
    char events[CLU_ADDRESS_BYTES]; /* "tcp://127.0.0.1:7401" */
} app_node_peer;

typedef struct app_node_config {
    uint64_t id;
    char name[LED_NAME_BYTES];
    char data_dir[256]; /* the store at data_dir/store, Raft's log at data_dir/raft */
    char token[128];
    bool debug_api; /* the client API's op "crash" (docs/api.md, "Debug") */
    char cluster_id[32];
    uint64_t hash_every;        /* divergence check: a state hash point every this many events */
    uint32_t check_interval_ms; /* and a comparison with every peer this often (0: off) */
    uint32_t election_timeout_ms, heartbeat_timeout_ms;
    uint32_t snapshot_threshold, snapshot_trailing, install_snapshot_timeout_ms;
    uint32_t stall_timeout_ms;
    bool raft_guard; /* the protocol guard on libraft 0.15 (docs/cluster.md); false only to show,
                        in the chaos harness, what libraft does without it */
    uint64_t checkpoint_every;
    bool sync;
    uint32_t peer_count;
    app_node_peer peers[CLU_NODES_MAX];
    /* The optional trading section (docs/operations.md, "Trading on a node"); trading_data ""
     * when absent: the node only replicates the ledger. */
    char trading_config[256];   /* the strategy, instrument, equity, limits and paper venue: a
                                   backtest configuration (docs/backtest.md); "": its defaults */
    char trading_data[256];     /* the candle file the leader's replay feed reads */
    double trading_speed;       /* replay at this many times real time; 0: as fast as it commits */
    char trading_venue[16];     /* "paper" ("": the default) or "binance" */
    char trading_feed[16];      /* "replay" ("": the default; of trading_data) or "binance" */
    char trading_interval[8];   /* the live feed's kline interval ("": 1m) */
    char binance_url[256];      /* the venue's base URL (venue binance) */
    char binance_key_file[256]; /* "": the keys from the environment (docs/venues.md) */
    char order_prefix[16];      /* client order ids' prefix; "": the cluster id */
    /* the risk monitor (docs/risk.md): its rules' settings and its alerts */
    uint32_t risk_venue_error_window, risk_venue_error_max, risk_feed_stale_ms;
    char webhook_url[512]; /* "": no alerts */
    char webhook_chat_id[64];
} app_node_config;

/* Read a node configuration strictly (app_yaml.h) over the defaults, then check it: the id is
 * one of the peers', peer ids are unique, the heartbeat is below the election timeout.
 * Errors: TK_EINVAL (why: "FILE:LINE: key 'k' in 's': what", or "FILE: what"), TK_ENOENT /
 * TK_EPERM (cannot open), TK_ENOMEM. */
TK_MUST_USE tk_err app_node_config_load(const char *path, app_node_config *cfg, char *why,
                                        size_t why_size);

/* This node's own entry among cfg->peers (the config is checked: it is there). */
const app_node_peer *app_node_self(const app_node_config *cfg);

/* A node's trading actors (app_trading.c): an actor runtime with the supervisor `trading` over
 * the journal actor over node and the configured strategy, and the leader-only actors
 * (execution, risk monitor, feed) started whenever node leads; each worker registered under its
 * name (docs/operations.md, "Trading on a node"). cfg->trading_data must be set. Errors (why
 * says what): TK_EINVAL and the errors of app_config_load (the trading configuration),
 * TK_ENOMEM, the runtime's and sup_start's. */
typedef struct app_trading app_trading;
TK_MUST_USE tk_err app_trading_start(const app_node_config *cfg, clu_node *node, app_trading **out,
                                     char *why, size_t why_size);

/* The actor runtime of t (for the client API's op "crash"): borrowed, until app_trading_stop;
 * NULL when t is NULL. */
act_system *app_trading_actors(const app_trading *t);

/* Stop the actors (the leader's first). NULL is a no-op. After clu_api_stop (the API borrows
 * the runtime), before clu_node_stop. */
void app_trading_stop(app_trading *t);

/* The open time of the first bar of a candle file (ns since the epoch), to date the events
 * that come before the bars; 0 if the file cannot be read or has no bar (the feed then reports
 * why). */
int64_t app_first_bar_ns(const char *path);

/* The backtest report (report.json, trades.csv, report.html in out_dir, and the table on stdout)
 * of the ledger in the store at store_dir, replayed and checked from its first event, as a
 * backtest of config (NULL: the defaults) over data_file (which gives the bar interval and,
 * without config, the instrument's names) would report it: for a run on a cluster. Returns the
 * exit code (a message on stderr names what failed). */
int app_backtest_report_store(const char *store_dir, const char *config, const char *data_file,
                              const char *out_dir);

/* `troika gen-events` once its options are parsed: write count events of the generator seeded
 * with seed into the store at dir (created when missing) and print what was written, the state
 * hash and the risk gate's decisions by rule. Returns the exit code. */
int app_gen_events_run(const char *dir, uint64_t count, uint64_t seed);

/* `troika audit verify` once its options are parsed: prints the verdict; returns the exit code
 * (0 verified, 1 a bad index or an unreadable store). */
int app_audit_verify(const char *dir);

/* Open the store at data_dir for command cmd; on failure print why (naming the directory) and
 * return APP_EXIT_USAGE (no --data-dir) or APP_EXIT_FAIL. *out is set on APP_EXIT_OK. */
int app_store_open(const char *cmd, const char *data_dir, bool create, es_store **out);

/* Replay store with opts (es_replay) into a fresh state. On TK_OK, and on TK_ECORRUPT (then the
 * state as far as it verified), *out_state is set and owned by the caller (led_state_close).
 * Errors: as es_replay, with why (not NULL) saying what. */
tk_err app_replay(es_store *store, const es_replay_opts *opts, led_state **out_state,
                  es_replay_result *res, es_error *why);

/* Lower-case hex of size bytes into out (2 * size + 1 bytes). */
void app_hex(const uint8_t *bytes, size_t size, char *out);

#define APP_HASH_HEX_BYTES (2u * LED_HASH_BYTES + 1u)

/* The state hash (led_state_hash) in hex. */
void app_state_hash_hex(const led_state *state, char out[APP_HASH_HEX_BYTES]);

#define APP_TIME_BYTES 40u

/* ts_ns as ISO 8601 UTC with nanoseconds: "2026-01-01T00:00:00.250000000Z". */
void app_time_format(int64_t ts_ns, char out[APP_TIME_BYTES]);

/* A base-10 unsigned integer, the whole text. */
bool app_parse_u64(const char *text, uint64_t *out);

/* An ISO 8601 UTC time: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (at most 9
 * fraction digits), into ns since the Unix epoch; false for anything else or before 1970. */
bool app_parse_time(const char *text, int64_t *out_ts_ns);

#endif /* TK_APP_APP_H */
