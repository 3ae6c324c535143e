/* `troika demo` (docs/demo.md): the main job on real data. A local three-node cluster trades
 * ema_cross over a month of 1-minute BTC candles, replayed as fast as the cluster commits, on
 * the paper venue (or on the Binance mock); half way through, the leader is SIGKILLed; the new
 * leader reconciles and carries on. Then the backtest-style report of the cluster's ledger,
 * each node's audit and state hash, the failover time, and the check that no order was lost
 * or doubled. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "app.h"

#define DEMO_DATA_FILE "ohlcv/ftx_BTC-PERP_1m_20211231-20220201.csv"
#define DEMO_FETCHED   "BTCUSDT_1m_20211231-20220201.csv"
#define DEMO_FROM      "2021-12-31T23:00:00Z"
#define DEMO_TO        "2022-02-01T00:00:00Z"
#define DEMO_RUN_MS    (15u * 60u * 1000u) /* the whole replay, at most */
#define OUT_BYTES      512u                /* the output directory, absolute */
#define DIR_BYTES      (OUT_BYTES + 16u)   /* the cluster's, under it */
#define PATH_MAX_BYTES 1100u               /* a file under either */
#define LONG_BYTES     (PATH_MAX + 64u)    /* a path from realpath or readlink, and a suffix */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* The rows of a candle file after its header: its bars. */
static uint64_t count_bars(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    uint64_t lines = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') lines++;
        last = c;
    }
    if (last != '\n') lines++;
    fclose(f);
    return lines > 0 ? lines - 1u : 0;
}

/* ---- The cluster, through its client API ---------------------------------------------------- */

static json_t *node_status(const app_node_config *cfg)
{
    char *reply = NULL, why[256];
    if (clu_api_call(app_node_self(cfg)->api, cfg->token, "{\"op\": \"status\"}", 1000, &reply, why,
                     sizeof(why)) != TK_OK)
        return NULL;
    json_t *r = json_loads(reply, 0, NULL);
    free(reply);
    return r;
}

/* The node (1..3) that leads in a term after after_term with its actors started, waiting up to
 * max_ms; 0 if none. (A killed node restarted by the monitor may be the one.) */
static uint32_t leader_wait(const app_node_config cfgs[3], uint64_t after_term, uint32_t max_ms,
                            uint64_t *out_term)
{
    for (uint64_t end = now_ms() + max_ms;;) {
        for (uint32_t n = 1; n <= 3; n++) {
            json_t *r = node_status(&cfgs[n - 1]);
            bool leading = json_is_true(json_object_get(r, "leading"));
            uint64_t term = (uint64_t)json_integer_value(json_object_get(r, "term"));
            json_decref(r);
            if (leading && term > after_term) {
                if (out_term != NULL) *out_term = term;
                return n;
            }
        }
        if (now_ms() > end) return 0;
        sleep_ms(20);
    }
}

static uint64_t ledger_index(const app_node_config *cfg)
{
    json_t *r = node_status(cfg);
    uint64_t index = (uint64_t)json_integer_value(json_object_get(r, "ledger_index"));
    json_decref(r);
    return index;
}

/* Wait up to max_ms until the three nodes answer at the same ledger index. */
static bool settle(const app_node_config cfgs[3], uint32_t max_ms)
{
    for (uint64_t end = now_ms() + max_ms; now_ms() <= end; sleep_ms(100)) {
        uint64_t a = ledger_index(&cfgs[0]), b = ledger_index(&cfgs[1]), c = ledger_index(&cfgs[2]);
        if (a != 0 && a == b && b == c) return true;
    }
    return false;
}

/* A base port P with P+1..P+3, P+101..P+103, P+201..P+203 and P+301..P+303 free on loopback
 * (the ports `troika cluster up --base-port P` gives the nodes), below the kernel's ephemeral
 * range (32768 and up) so that no outgoing connection takes one later; 0 if none is found. */
static uint32_t free_base_port(void)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t base = 20000u + 10u * (uint32_t)(rand() % 1200); /* at most 32303 */
        bool free_all = true;
        for (uint32_t k = 0; k < 4 && free_all; k++) {
            for (uint32_t n = 1; n <= 3 && free_all; n++) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = {.sin_family = AF_INET,
                                        .sin_port = htons((uint16_t)(base + 100u * k + n)),
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                free_all = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
                if (fd >= 0) close(fd);
            }
        }
        if (free_all) return base;
    }
    return 0;
}

/* ---- The Binance mock (--venue binance-mock) ------------------------------------------------ */

/* tools/binance_mock.py of this checkout: $TROIKA_SOURCE_DIR, else the checkout holding the
 * binary (CHECKOUT/build/release/app/troika). */
static bool mock_script(char out[LONG_BYTES])
{
    const char *src = getenv("TROIKA_SOURCE_DIR");
    if (src != NULL) {
        snprintf(out, LONG_BYTES, "%s/tools/binance_mock.py", src);
        return access(out, R_OK) == 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1u);
    if (n <= 0) return false;
    exe[n] = '\0';
    for (int up = 0; up < 4; up++) { /* troika, app, release, build */
        char *slash = strrchr(exe, '/');
        if (slash == NULL) return false;
        *slash = '\0';
    }
    snprintf(out, LONG_BYTES, "%s/tools/binance_mock.py", exe);
    return access(out, R_OK) == 0;
}

/* Start the mock (keys in key_file), its URL into url; its pid, 0 on failure. */
static pid_t mock_start(const char *out_dir, const char *key_file, char url[256])
{
    char script[LONG_BYTES], port_file[PATH_MAX_BYTES], log[PATH_MAX_BYTES];
    if (!mock_script(script)) {
        printf("  the Binance mock (tools/binance_mock.py) is not found: set TROIKA_SOURCE_DIR\n");
        return 0;
    }
    snprintf(port_file, sizeof(port_file), "%s/mock.port", out_dir);
    snprintf(log, sizeof(log), "%s/mock.log", out_dir);
    unlink(port_file);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        execlp("python3", "python3", script, "--port", "0", "--port-file", port_file, "--quiet",
               "--api-key", "demo-key", "--api-secret", "demo-secret", (char *)NULL);
        _exit(127);
    }
    FILE *k = fopen(key_file, "w");
    if (k != NULL) {
        fprintf(k, "demo-key\ndemo-secret\n");
        fclose(k);
        chmod(key_file, 0600);
    }
    for (int i = 0; pid > 0 && i < 100; i++) {
        FILE *f = fopen(port_file, "r");
        unsigned port = 0;
        bool ok = f != NULL && fscanf(f, "%u", &port) == 1 && port > 0;
        if (f != NULL) fclose(f);
        if (ok) {
            snprintf(url, 256, "http://127.0.0.1:%u", port);
            return pid;
        }
        sleep_ms(100);
    }
    if (pid > 0) kill(pid, SIGTERM);
    printf("  the Binance mock did not start (see %s)\n", log);
    return 0;
}

/* ---- The ledger: nothing lost, nothing doubled ------------------------------------------------
 */

typedef struct ledger_check {
    uint64_t bars, requested, accepted, filled_orders, fills, cancelled, venue_rejected, adopted;
    uint64_t leaders;
    uint64_t keys_twice; /* idempotency keys applied more than once */
    char (*keys)[LED_KEY_BYTES];
    size_t key_count, key_cap;
    bool out_of_memory;
} ledger_check;

static int key_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void check_step(void *arg, const es_replay_step *step)
{
    ledger_check *c = arg;
    const led_event *ev = step->ev;
    bool applied = step->outcome->result == LED_APPLIED;
    if (applied && ev->key[0] != '\0') {
        if (!tk_array_reserve((void **)&c->keys, &c->key_cap, c->key_count, LED_KEY_BYTES)) {
            c->out_of_memory = true;
            return;
        }
        memcpy(c->keys[c->key_count++], ev->key, LED_KEY_BYTES);
    }
    if (ev->type == LED_EV_BAR_CLOSED && applied) c->bars++;
    if (ev->type == LED_EV_ORDER_REQUESTED) {
        c->requested++;
        c->accepted += applied ? 1u : 0u;
    }
    if (ev->type == LED_EV_ORDER_FILLED && applied) c->fills++;
    if (ev->type == LED_EV_ORDER_CANCELLED && applied) c->cancelled++;
    if (ev->type == LED_EV_ORDER_REJECTED_BY_VENUE && applied) c->venue_rejected++;
    if (ev->type == LED_EV_EXTERNAL_ORDER_ADOPTED && applied) c->adopted++;
    if (ev->type == LED_EV_LEADER_CHANGED && applied) c->leaders++;
}

/* Replay node n's store: its audit (chain hashes, checkpoint), its state hash into hex, and
 * (with check) the counts. Returns false (printing why) when the store does not verify. */
static bool node_audit(const char *store_dir, char hex[APP_HASH_HEX_BYTES], ledger_check *check,
                       uint32_t *open_orders, bool *whole_history)
{
    es_store *store = NULL;
    if (app_store_open("demo", store_dir, false, &store) != APP_EXIT_OK) return false;
    led_state *state = NULL;
    es_replay_opts opts = {.from_checkpoint = false,
                           .until_index = UINT64_MAX,
                           .until_ts_ns = INT64_MAX,
                           .visit = check != NULL ? check_step : NULL,
                           .arg = check};
    es_replay_result res;
    es_error why = {{0}};
    tk_err err = led_state_open(&state);
    if (err == TK_OK) err = es_replay(store, state, &opts, &res, &why);
    if (err == TK_OK) {
        app_state_hash_hex(state, hex);
        led_account acct;
        led_state_account(state, &acct);
        *open_orders = acct.open_order_count;
        *whole_history = res.events == res.last_index; /* not restored from a snapshot */
        if (check == NULL)
            printf("    %s: %llu events%s, chain hashes and checkpoint verified, state hash "
                   "%.16s\n",
                   store_dir, (unsigned long long)res.last_index,
                   *whole_history ? "" : " (from a snapshot on)", hex);
    } else {
        printf("    %s: DOES NOT VERIFY: %s\n", store_dir,
               why.text[0] != '\0' ? why.text : tk_err_str(err));
    }
    led_state_close(state);
    es_close(store);
    return err == TK_OK;
}

/* ---- The run -------------------------------------------------------------------------------- */

typedef struct demo_run {
    const char *venue; /* "paper" or "binance-mock" */
    char data[LONG_BYTES];
    char out[OUT_BYTES];
    char dir[DIR_BYTES]; /* the cluster's */
    char config[PATH_MAX_BYTES];
    uint64_t bars_in_file;
    app_node_config cfgs[3];
    uint64_t failover_ms, resumed_ms;
    uint32_t killed, next;
} demo_run;

/* The data: the shared FTX candles, else Binance's for the same span, fetched. */
static bool demo_data(demo_run *r, const char *data_dir)
{
    snprintf(r->data, sizeof(r->data), "%s/%s", data_dir, DEMO_DATA_FILE);
    if (access(r->data, R_OK) == 0) return true;
    snprintf(r->data, sizeof(r->data), "%s/%s", r->out, DEMO_FETCHED);
    printf("No market data at %s/%s (the shared data folder).\n"
           "Fetching Binance BTCUSDT 1-minute candles for the same span instead:\n"
           "  troika data download --venue binance --symbol BTCUSDT --interval 1m --from %s "
           "--to %s --out %s\n",
           data_dir, DEMO_DATA_FILE, DEMO_FROM, DEMO_TO, r->data);
    fflush(stdout);
    char *argv[] = {"data",    "download",      "--venue", "binance", "--symbol",
                    "BTCUSDT", "--interval",    "1m",      "--from",  (char *)DEMO_FROM,
                    "--to",    (char *)DEMO_TO, "--out",   r->data,   NULL};
    if (app_data_main(14, argv) != 0) {
        printf("The download failed (no network?). Put the shared data folder beside the\n"
               "checkout (../shared/data) or set TROIKA_DATA to a folder holding %s.\n",
               DEMO_DATA_FILE);
        return false;
    }
    return true;
}

/* The strategy's config and the nodes' trading section; with the mock, it is started. */
static bool demo_configs(demo_run *r, pid_t *mock_pid)
{
    bool mock = strcmp(r->venue, "binance-mock") == 0;
    bool fetched = strstr(r->data, DEMO_FETCHED) != NULL;
    /* the mock serves BTCUSDT only: the instrument is named as Binance names it */
    const char *symbol = mock || fetched ? "BTCUSDT" : "BTC-PERP";
    const char *quote = mock || fetched ? "USDT" : "USD";
    snprintf(r->config, sizeof(r->config), "%s/strategy.yaml", r->out);
    FILE *f = fopen(r->config, "w");
    if (f == NULL) return false;
    fprintf(f,
            "# ema_cross for the demo (docs/backtest.md lists every key)\n"
            "strategy: {name: ema_cross}\n"
            "instrument: {symbol: %s, base: BTC, quote: %s, tick: \"0.01\", lot: \"0.00001\"}\n"
            "account: {initial_equity: \"100000\"}\n",
            symbol, quote);
    fclose(f);
    char trading[PATH_MAX_BYTES], keys[PATH_MAX_BYTES], url[256] = "";
    snprintf(trading, sizeof(trading), "%s/trading.yaml", r->out);
    snprintf(keys, sizeof(keys), "%s/binance.keys", r->out);
    if (mock) {
        *mock_pid = mock_start(r->out, keys, url);
        if (*mock_pid == 0) return false;
    }
    f = fopen(trading, "w");
    if (f == NULL) return false;
    fprintf(f, "trading:\n  data: %s\n  config: %s\n", r->data, r->config);
    if (mock) fprintf(f, "  venue: binance\n  binance_url: %s\n  key_file: %s\n", url, keys);
    fclose(f);
    return true;
}

static bool load_cfgs(demo_run *r)
{
    for (uint32_t n = 1; n <= 3; n++) {
        char path[PATH_MAX_BYTES], why[512];
        snprintf(path, sizeof(path), "%s/node%u.yaml", r->dir, n);
        if (app_node_config_load(path, &r->cfgs[n - 1], why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "demo: %s\n", why);
            return false;
        }
    }
    return true;
}

static pid_t node_pid(const demo_run *r, uint32_t n)
{
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof(path), "%s/node%u.pid", r->dir, n);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL && fscanf(f, "%ld", &pid) != 1) pid = 0;
    if (f != NULL) fclose(f);
    return (pid_t)pid;
}

/* Half way through the bars, SIGKILL the leader; time until another node leads, and until its
 * ledger moves on. */
static bool demo_failover(demo_run *r, uint32_t leader)
{
    uint64_t half = r->bars_in_file / 2u, last = 0, shown = now_ms();
    for (uint64_t end = now_ms() + DEMO_RUN_MS;;) {
        uint64_t index = ledger_index(&r->cfgs[leader - 1]);
        if (index >= half) break;
        if (now_ms() > end || (index == last && now_ms() - shown > 30000)) {
            printf("  the ledger stopped at index %llu before half way\n",
                   (unsigned long long)index);
            return false;
        }
        if (index != last) shown = now_ms();
        last = index;
        sleep_ms(50);
    }
    pid_t pid = node_pid(r, leader);
    json_t *st = node_status(&r->cfgs[leader - 1]);
    uint64_t before = (uint64_t)json_integer_value(json_object_get(st, "ledger_index"));
    uint64_t term = (uint64_t)json_integer_value(json_object_get(st, "term"));
    json_decref(st);
    if (pid <= 0 || kill(pid, SIGKILL) != 0) {
        printf("  cannot SIGKILL the leader, node %u\n", leader);
        return false;
    }
    uint64_t t0 = now_ms();
    printf("  SIGKILL to the leader, node %u (pid %ld), at ledger index %llu\n", leader, (long)pid,
           (unsigned long long)before);
    fflush(stdout);
    r->killed = leader;
    r->next = leader_wait(r->cfgs, term, 20000, NULL);
    if (r->next == 0) {
        printf("  no new leader within 20 s\n");
        return false;
    }
    r->failover_ms = now_ms() - t0;
    uint64_t at = ledger_index(&r->cfgs[r->next - 1]);
    for (uint64_t end = now_ms() + 20000; now_ms() < end; sleep_ms(5))
        if (ledger_index(&r->cfgs[r->next - 1]) > at) break;
    r->resumed_ms = now_ms() - t0;
    printf("  node %u leads %llu ms after the SIGKILL; its ledger moves on %llu ms after it\n",
           r->next, (unsigned long long)r->failover_ms, (unsigned long long)r->resumed_ms);
    return true;
}

/* Until the new leader's ledger has stood still for 3 s (the feed is done). */
static bool demo_finish(demo_run *r)
{
    uint64_t last = 0, still_since = now_ms();
    for (uint64_t end = now_ms() + DEMO_RUN_MS; now_ms() < end; sleep_ms(200)) {
        uint64_t index = ledger_index(&r->cfgs[r->next - 1]);
        if (index != last) {
            last = index;
            still_since = now_ms();
        } else if (now_ms() - still_since >= 3000) {
            return true;
        }
    }
    printf("  the replay did not finish in time\n");
    return false;
}

/* Every store verified, equal hashes; the ledger's count of bars and orders. */
static bool demo_verify(demo_run *r, ledger_check *check)
{
    printf("\nEach node's audit (troika audit verify) and state hash:\n");
    char hex[3][APP_HASH_HEX_BYTES];
    bool ok = true, whole[3] = {false, false, false};
    uint32_t open_orders = 0, full = 0;
    char store[3][PATH_MAX_BYTES];
    for (uint32_t n = 1; n <= 3; n++) {
        snprintf(store[n - 1], sizeof(store[n - 1]), "%s/node%u/store", r->dir, n);
        ok = node_audit(store[n - 1], hex[n - 1], NULL, &open_orders, &whole[n - 1]) && ok;
        if (whole[n - 1] && (full == 0 || n == r->next)) full = n;
    }
    bool equal = ok && strcmp(hex[0], hex[1]) == 0 && strcmp(hex[1], hex[2]) == 0;
    printf("  state hashes: %s\n", equal ? "all three equal" : "DIFFER");
    if (full == 0) {
        printf("  no node holds the whole history (each was restored from a snapshot)\n");
        return false;
    }
    char full_hex[APP_HASH_HEX_BYTES];
    bool again = false;
    if (!node_audit(store[full - 1], full_hex, check, &open_orders, &again)) return false;
    if (check->out_of_memory) return false;
    qsort(check->keys, check->key_count, LED_KEY_BYTES, key_cmp);
    for (size_t i = 1; i < check->key_count; i++)
        if (strcmp(check->keys[i], check->keys[i - 1]) == 0) check->keys_twice++;
    printf("\nOrders across the failover (from node %u's ledger, its whole history):\n"
           "  bars committed: %llu of the file's %llu (each once)\n"
           "  orders requested %llu, accepted by the risk gate %llu; fills %llu, cancelled "
           "%llu, rejected by the venue %llu, adopted %llu, open at the end %u\n"
           "  idempotency keys applied twice: %llu; leaders: %llu\n",
           full, (unsigned long long)check->bars, (unsigned long long)r->bars_in_file,
           (unsigned long long)check->requested, (unsigned long long)check->accepted,
           (unsigned long long)check->fills, (unsigned long long)check->cancelled,
           (unsigned long long)check->venue_rejected, (unsigned long long)check->adopted,
           open_orders, (unsigned long long)check->keys_twice, (unsigned long long)check->leaders);
    bool counted = check->bars == r->bars_in_file && check->keys_twice == 0;
    printf("  %s\n", counted ? "no lost and no doubled order or bar"
                             : "LOST OR DOUBLED: the counts above do not add up");
    return equal && counted;
}

int app_demo_run(const char *venue, const char *data_dir, const char *out_dir)
{
    static demo_run r; /* static: large */
    memset(&r, 0, sizeof(r));
    r.venue = venue;
    if (mkdir(out_dir, 0750) != 0 && errno != EEXIST) {
        printf("demo: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    char out_abs[PATH_MAX];
    if (realpath(out_dir, out_abs) == NULL || strlen(out_abs) >= OUT_BYTES) {
        printf("demo: %s: not a directory troika can use (at most %u bytes)\n", out_dir,
               OUT_BYTES - 1u);
        return 1;
    }
    memcpy(r.out, out_abs, strlen(out_abs) + 1u);
    if (!demo_data(&r, data_dir)) return 1;
    char data_abs[PATH_MAX];
    if (realpath(r.data, data_abs) != NULL) memcpy(r.data, data_abs, strlen(data_abs) + 1u);
    r.bars_in_file = count_bars(r.data);
    memcpy(r.dir, r.out, strlen(r.out) + 1u);
    strcat(r.dir, "/cluster"); /* fits: DIR_BYTES is OUT_BYTES + 16 */
    (void)nftw(r.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* the last demo's cluster */
    pid_t mock_pid = 0;
    if (!demo_configs(&r, &mock_pid)) return 1;
    uint32_t base = free_base_port();
    if (base == 0) {
        printf("demo: no free loopback ports found\n");
        return 1;
    }
    char port[16], trading[PATH_MAX_BYTES];
    snprintf(port, sizeof(port), "%u", base);
    snprintf(trading, sizeof(trading), "%s/trading.yaml", r.out);
    printf("A three-node cluster trades ema_cross over %llu one-minute bars of %s\n"
           "(%s venue), replayed as fast as the cluster commits; the leader is SIGKILLed half\n"
           "way (troika cluster up --dir %s --trading %s).\n",
           (unsigned long long)r.bars_in_file, r.data, venue, r.dir, trading);
    fflush(stdout); /* cluster up forks its monitor: nothing buffered may be written twice */
    char *up[] = {"cluster", "up", "--dir", r.dir, "--base-port", port, "--trading", trading, NULL};
    int rc = 1;
    if (app_cluster_main(8, up) != 0 || !load_cfgs(&r)) goto out;
    uint64_t t_start = now_ms();
    uint32_t leader = leader_wait(r.cfgs, 0, 15000, NULL);
    if (leader == 0) {
        printf("  no leader within 15 s\n");
    } else {
        printf("  node %u leads\n", leader);
        fflush(stdout);
        bool ok = demo_failover(&r, leader) && demo_finish(&r);
        uint64_t run_ms = now_ms() - t_start;
        ok = ok && settle(r.cfgs, 30000); /* the killed node is restarted and catches up */
        if (ok) {
            uint64_t index = ledger_index(&r.cfgs[0]);
            printf("  done: %llu ledger events in %.1f s (%.0f events/s), the restarted node "
                   "caught up\n",
                   (unsigned long long)index, (double)run_ms / 1e3,
                   run_ms > 0 ? (double)index * 1e3 / (double)run_ms : 0.0);
            char *status[] = {"cluster", "status", "--dir", r.dir, NULL};
            ok = app_cluster_main(4, status) == 0;
        }
        char *down[] = {"cluster", "down", "--dir", r.dir, NULL};
        ok = app_cluster_main(4, down) == 0 && ok;
        ledger_check check;
        memset(&check, 0, sizeof(check));
        ok = ok && demo_verify(&r, &check);
        free(check.keys);
        if (ok) {
            char store[PATH_MAX_BYTES], report[PATH_MAX_BYTES];
            snprintf(store, sizeof(store), "%s/node%u/store", r.dir, r.next);
            snprintf(report, sizeof(report), "%s/report", r.out);
            printf("\nThe run's report, from node %u's ledger:\n", r.next);
            fflush(stdout);
            ok = app_backtest_report_store(store, r.config, r.data, report) == 0;
        }
        if (ok)
            printf("\nFailover: node %u took over %llu ms after node %u was SIGKILLed; trading "
                   "resumed %llu ms after it.\n",
                   r.next, (unsigned long long)r.failover_ms, r.killed,
                   (unsigned long long)r.resumed_ms);
        rc = ok ? 0 : 1;
    }
    if (rc != 0) {
        char *down[] = {"cluster", "down", "--dir", r.dir, NULL};
        (void)app_cluster_main(4, down);
    }
out:
    if (mock_pid > 0) {
        kill(mock_pid, SIGTERM);
        waitpid(mock_pid, NULL, 0);
    }
    fflush(stdout);
    return rc;
}
