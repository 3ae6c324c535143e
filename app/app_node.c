/* `troika node --config F`: one cluster node in the foreground. It opens its store, starts the
 * Raft node, the client API and the HTTP server (/healthz, /metrics), and runs until SIGTERM or
 * SIGINT, then stops them in reverse order. Also the node configuration's schema and checks. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "app_yaml.h"
#include "sup.h"

#define AT(f)  offsetof(app_node_config, f)
#define SZ(f)  sizeof(((app_node_config *)0)->f)
#define PAT(f) offsetof(app_node_peer, f)
#define PSZ(f) sizeof(((app_node_peer *)0)->f)
#define STR(s, k, f, req)                          \
    {                                              \
        s, k, APP_KEY_STR, AT(f), SZ(f), 0, 0, req \
    }
#define NUM(s, k, kind, f, lo, hi)          \
    {                                       \
        s, k, kind, AT(f), 0, lo, hi, false \
    }
#define PEER(k, f)                                          \
    {                                                       \
        "peers", k, APP_KEY_STR, PAT(f), PSZ(f), 0, 0, true \
    }

static const app_key node_keys[] = {
    {"node", "id", APP_KEY_U64, AT(id), 0, 1, 1000000, true},
    STR("node", "name", name, true),
    STR("node", "data_dir", data_dir, true),
    STR("node", "token", token, true),
    NUM("node", "debug_api", APP_KEY_BOOL, debug_api, 0, 0),
    STR("cluster", "id", cluster_id, true),
    NUM("cluster", "hash_every", APP_KEY_U64, hash_every, 1, 100000000),
    NUM("cluster", "check_interval_ms", APP_KEY_U32, check_interval_ms, 0, 3600000),
    NUM("raft", "election_timeout_ms", APP_KEY_U32, election_timeout_ms, 50, 60000),
    NUM("raft", "heartbeat_timeout_ms", APP_KEY_U32, heartbeat_timeout_ms, 10, 30000),
    NUM("raft", "snapshot_threshold", APP_KEY_U32, snapshot_threshold, 1, 100000000),
    NUM("raft", "snapshot_trailing", APP_KEY_U32, snapshot_trailing, 0, 100000000),
    NUM("raft", "install_snapshot_timeout_ms", APP_KEY_U32, install_snapshot_timeout_ms, 100,
        600000),
    NUM("raft", "stall_timeout_ms", APP_KEY_U32, stall_timeout_ms, 0, 3600000),
    NUM("raft", "guard", APP_KEY_BOOL, raft_guard, 0, 0),
    NUM("storage", "checkpoint_every", APP_KEY_U64, checkpoint_every, 0, INT64_MAX),
    NUM("storage", "sync", APP_KEY_BOOL, sync, 0, 0),
    STR("trading", "config", trading_config, false),
    STR("trading", "data", trading_data, false),
    {"trading", "speed", APP_KEY_DBL, AT(trading_speed), 0, -1, 1000000000, false},
    STR("trading", "venue", trading_venue, false),
    STR("trading", "feed", trading_feed, false),
    STR("trading", "interval", trading_interval, false),
    STR("trading", "binance_url", binance_url, false),
    STR("trading", "key_file", binance_key_file, false),
    STR("trading", "prefix", order_prefix, false),
    NUM("trading", "venue_error_window", APP_KEY_U32, risk_venue_error_window, 0, 1024),
    NUM("trading", "venue_error_max", APP_KEY_U32, risk_venue_error_max, 0, 1024),
    NUM("trading", "feed_stale_ms", APP_KEY_U32, risk_feed_stale_ms, 0, 86400000),
    STR("trading", "webhook_url", webhook_url, false),
    STR("trading", "webhook_chat_id", webhook_chat_id, false),
    {"peers", "id", APP_KEY_U64, PAT(id), 0, 1, 1000000, true},
    PEER("raft", raft),
    PEER("api", api),
    PEER("http", http),
    PEER("events", events),
};

static const app_section node_sections[] = {
    {.name = "node", .required = true},
    {.name = "cluster", .required = true},
    {.name = "raft"},
    {.name = "storage"},
    {.name = "trading"},
    {.name = "peers",
     .required = true,
     .list = true,
     .list_max = CLU_NODES_MAX,
     .offset = AT(peers),
     .stride = sizeof(app_node_peer),
     .count_offset = AT(peer_count)},
};

static const app_schema node_schema = {.sections = node_sections,
                                       .section_count =
                                           sizeof(node_sections) / sizeof(node_sections[0]),
                                       .keys = node_keys,
                                       .key_count = sizeof(node_keys) / sizeof(node_keys[0])};

tk_err app_node_config_load(const char *path, app_node_config *cfg, char *why, size_t why_size)
{
    TK_ASSERT(path != NULL && cfg != NULL && why != NULL);
    *cfg = (app_node_config){.hash_every = 1000,
                             .check_interval_ms = 1000,
                             .election_timeout_ms = 1000,
                             .heartbeat_timeout_ms = 100,
                             .snapshot_threshold = 8192,
                             .snapshot_trailing = 2048,
                             .install_snapshot_timeout_ms = 2000,
                             .stall_timeout_ms = 10000,
                             .raft_guard = true,
                             .checkpoint_every = 100000,
                             .risk_venue_error_window = 20,
                             .risk_venue_error_max = 10,
                             .sync = false};
    tk_err err = app_yaml_load(path, &node_schema, cfg, why, why_size);
    if (err != TK_OK) return err;
    const char *bad = NULL;
    bool self = false;
    for (uint32_t i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].id == cfg->id) self = true;
        for (uint32_t j = 0; j < i; j++)
            if (cfg->peers[j].id == cfg->peers[i].id) bad = "two peers have the same id";
    }
    if (!self) bad = "node.id is not the id of any entry of peers";
    bool trading = cfg->trading_config[0] != '\0' || cfg->trading_venue[0] != '\0' ||
                   cfg->binance_url[0] != '\0' || cfg->binance_key_file[0] != '\0' ||
                   cfg->order_prefix[0] != '\0' || cfg->webhook_url[0] != '\0' ||
                   cfg->trading_speed != 0.0;
    bool live = strcmp(cfg->trading_feed, "binance") == 0;
    if ((trading || cfg->trading_interval[0] != '\0') && !live && cfg->trading_data[0] == '\0')
        bad = "trading.data is required in a trading section without feed: binance (the candles "
              "the leader's feed replays)";
    if (cfg->heartbeat_timeout_ms >= cfg->election_timeout_ms)
        bad = "raft.heartbeat_timeout_ms must be below raft.election_timeout_ms";
    if (bad == NULL) return TK_OK;
    snprintf(why, why_size, "%s: %s", path, bad);
    return TK_EINVAL;
}

const app_node_peer *app_node_self(const app_node_config *cfg)
{
    for (uint32_t i = 0; i < cfg->peer_count; i++)
        if (cfg->peers[i].id == cfg->id) return &cfg->peers[i];
    TK_ASSERT(false); /* app_node_config_load checked it */
    return NULL;
}

/* ---- Running a node ------------------------------------------------------------------------ */

static bool http_status(void *arg, clu_status *out)
{
    clu_node_status(arg, out);
    return true;
}

/* Restarts carried out by the supervisors of this process, which is one node: its trading
 * supervisors, the leader's `active` of every leadership included (sup_stats counts them all). */
static uint64_t restarts(void *arg)
{
    (void)arg;
    sup_stats stats;
    sup_stats_read(&stats);
    return stats.restarts;
}

static bool http_metrics(void *arg, clu_metrics *out)
{
    clu_node_metrics(arg, out);
    out->actor_restarts_total = restarts(NULL);
    return true;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "troika node: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

/* Start everything of cfg; block until SIGTERM or SIGINT; stop. Returns the exit code. */
static int node_run(const app_node_config *cfg)
{
    const app_node_peer *self = app_node_self(cfg);
    char store_dir[300], raft_dir[300];
    snprintf(store_dir, sizeof(store_dir), "%s/store", cfg->data_dir);
    snprintf(raft_dir, sizeof(raft_dir), "%s/raft", cfg->data_dir);
    if (make_dir(cfg->data_dir) != 0 || make_dir(raft_dir) != 0) return APP_EXIT_FAIL;

    /* Block the stop signals before any thread starts, so that every thread inherits the mask
     * and sigwait below is the one place they arrive. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    es_opts so = {.path = store_dir,
                  .create_if_missing = true,
                  .sync = cfg->sync,
                  .cluster_id = cfg->cluster_id};
    es_error why = {{0}};
    es_store *store = NULL;
    if (es_open(&so, &store, &why) != TK_OK) {
        fprintf(stderr, "troika node: cannot open the store %s: %s\n", store_dir, why.text);
        return APP_EXIT_FAIL;
    }
    clu_node_opts no = {.id = cfg->id,
                        .raft_dir = raft_dir,
                        .store = store,
                        .peer_count = cfg->peer_count,
                        .election_timeout_ms = cfg->election_timeout_ms,
                        .heartbeat_timeout_ms = cfg->heartbeat_timeout_ms,
                        .snapshot_threshold = cfg->snapshot_threshold,
                        .snapshot_trailing = cfg->snapshot_trailing,
                        .install_snapshot_timeout_ms = cfg->install_snapshot_timeout_ms,
                        .checkpoint_every = cfg->checkpoint_every,
                        .stall_timeout_ms = cfg->stall_timeout_ms,
                        .unguarded = !cfg->raft_guard,
                        .hash_every = cfg->hash_every};
    snprintf(no.name, sizeof(no.name), "%s", cfg->name);
    for (uint32_t i = 0; i < cfg->peer_count; i++) {
        no.peers[i].id = cfg->peers[i].id;
        snprintf(no.peers[i].raft_address, sizeof(no.peers[i].raft_address), "%s",
                 cfg->peers[i].raft);
        snprintf(no.peers[i].api, sizeof(no.peers[i].api), "%s", cfg->peers[i].api);
    }
    clu_node *node = NULL;
    tk_err err = clu_node_start(&no, &node, &why);
    if (err != TK_OK) {
        fprintf(stderr, "troika node: cannot start the Raft node: %s\n", why.text);
        es_close(store);
        return APP_EXIT_FAIL;
    }
    clu_http_source source = {.arg = node, .status = http_status, .metrics = http_metrics};
    clu_http *http = NULL;
    clu_api *api = NULL;
    char text[256] = "";
    err = clu_http_start(self->http, &source, &http);
    if (err != TK_OK) snprintf(text, sizeof(text), "http on %s: %s", self->http, tk_err_str(err));
    app_trading *trading = NULL; /* before the API, which borrows its actors */
    if (err == TK_OK && (cfg->trading_data[0] != '\0' || strcmp(cfg->trading_feed, "binance") == 0))
        err = app_trading_start(cfg, node, &trading, text, sizeof(text));
    clu_api_opts ao = {.url = self->api,
                       .token = cfg->token,
                       .node = node,
                       .workers = 512,
                       .check_interval_ms = cfg->check_interval_ms,
                       .events_url = self->events,
                       .actors = app_trading_actors(trading),
                       .debug = cfg->debug_api,
                       .restarts = restarts,
                       .restarts_arg = NULL};
    for (uint32_t i = 0; i < cfg->peer_count; i++)
        if (cfg->peers[i].id != cfg->id)
            snprintf(ao.peer_apis[ao.peer_count++], CLU_ADDRESS_BYTES, "%s", cfg->peers[i].api);
    if (err == TK_OK) err = clu_api_start(&ao, &api, text, sizeof(text));
    int rc = APP_EXIT_OK;
    if (err != TK_OK) {
        fprintf(stderr, "troika node: cannot serve: %s\n", text);
        rc = APP_EXIT_FAIL;
    } else {
        TK_LOG(TK_LOG_INFO, "node", "serving", TK_LOG_U64("id", cfg->id),
               TK_LOG_STR("raft", self->raft), TK_LOG_STR("api", self->api),
               TK_LOG_STR("http", self->http));
        int sig = 0;
        sigwait(&stop, &sig);
        TK_LOG(TK_LOG_INFO, "node", "stopping", TK_LOG_STR("signal", strsignal(sig)));
    }
    clu_api_stop(api);
    app_trading_stop(trading);
    clu_http_stop(http);
    clu_node_stop(node);
    es_close(store);
    return rc;
}

int app_node_main(int argc, char **argv)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"log", required_argument, NULL, 'l'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *config = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char why[160];
        if (c == 'h') {
            printf("usage: troika node --config FILE [--log SPEC]\n"
                   "Run one cluster node in the foreground until SIGTERM or SIGINT: its ledger\n"
                   "store, Raft, the client API and /healthz, /metrics (docs/operations.md).\n");
            return APP_EXIT_OK;
        } else if (c == 'c') {
            config = optarg;
        } else if (c == 'l' && tk_log_set_levels(optarg, why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "troika node: --log: %s\n", why);
            return APP_EXIT_USAGE;
        } else if (c != 'l') {
            fprintf(stderr, "usage: troika node --config FILE [--log SPEC]\n");
            return APP_EXIT_USAGE;
        }
    }
    if (config == NULL || optind < argc) {
        fprintf(stderr, "troika node: --config FILE is required%s%s\n",
                optind < argc ? "; unexpected argument " : "", optind < argc ? argv[optind] : "");
        return APP_EXIT_USAGE;
    }
    app_node_config cfg;
    char why[512];
    if (app_node_config_load(config, &cfg, why, sizeof(why)) != TK_OK) {
        fprintf(stderr, "troika node: %s\n", why);
        return APP_EXIT_USAGE;
    }
    return node_run(&cfg);
}
