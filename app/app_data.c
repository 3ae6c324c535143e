/* troika data download: Binance spot klines over the HTTP client service (net/) and the feed's
 * kline parser (feed_binance_*), written as the replay feed's CSV (docs/feeds.md), resumable.
 * The main thread is the client: it sends each page through the service and waits for the
 * answer on an actor port. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "act.h"
#include "app.h"
#include "feed.h"
#include "net.h"

#define CSV_HEADER      "open_time_ms,open,high,low,close,volume"
#define WAIT_MS         60000u /* longest wait for one page, retries included */
#define WEIGHT_LIMIT_1M 1200   /* Binance's request weight per minute per IP (spot, default) */
#define WEIGHT_PAUSE_AT 1000   /* used weight at which the download waits for the next minute */
#define PAGE_ATTEMPTS   20u    /* pages asked for at most per page, rate-limit waits included */

static void data_usage(FILE *out)
{
    fprintf(out,
            "usage: troika data download --venue binance --symbol S --interval I --from T --to T\n"
            "                            --out FILE.csv [--base-url URL]\n"
            "Fetch the venue's candles from T to T (open times, inclusive; ISO 8601 UTC such as\n"
            "2022-01-01 or 2022-01-01T12:00:00Z, or unix ms) into FILE.csv in the replay feed's\n"
            "CSV format (open_time_ms,open,high,low,close,volume). An existing FILE.csv is\n"
            "continued after its last row: an interrupted download resumes where it stopped.\n"
            "Honours the venue's Retry-After (HTTP 429 and 418) and its request-weight header.\n"
            "  --venue V      binance (spot)\n"
            "  --symbol S     BTCUSDT\n"
            "  --interval I   1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w\n"
            "  --base-url U   the venue's REST root (default https://api.binance.com)\n"
            "  --help         this text\n");
}

/* ISO 8601 UTC or unix milliseconds, into ms. */
static bool parse_ms(const char *text, int64_t *out)
{
    uint64_t ms = 0;
    int64_t ns = 0;
    if (app_parse_u64(text, &ms) && ms <= (uint64_t)INT64_MAX / 1000000u) {
        *out = (int64_t)ms;
        return true;
    }
    if (!app_parse_time(text, &ns)) return false;
    *out = ns / 1000000;
    return true;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The last open time in an existing CSV (resume point), or -1 when the file is absent, empty
 * or only a header. false (message printed) when it exists and is not ours to continue. */
static bool last_row_ms(const char *path, int64_t *out)
{
    *out = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL) return true;
    char line[512];
    bool header = fgets(line, sizeof(line), f) != NULL;
    if (header && strncmp(line, CSV_HEADER, strlen(CSV_HEADER)) != 0) {
        fprintf(stderr,
                "troika data download: %s: not a file this command wrote (header '%.40s')\n", path,
                line);
        fclose(f);
        return false;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *end = NULL;
        long long t = strtoll(line, &end, 10);
        if (end == line || *end != ',') {
            fprintf(stderr, "troika data download: %s: a row that does not start with a time\n",
                    path);
            fclose(f);
            return false;
        }
        *out = t;
    }
    fclose(f);
    return true;
}

typedef struct download {
    act_system *sys;
    act_port *port;
    net_http *http;
    FILE *out;
    const char *base_url, *symbol, *interval;
    int64_t interval_ms;
    uint64_t rows, pages, waits;
} download;

/* One page from start_ms: its bars written; *next_ms is the open time after the last one (or
 * past end_ms when the venue has nothing more). 0 on success, else an exit code. */
static int page(download *d, int64_t start_ms, int64_t end_ms, int64_t *next_ms)
{
    static feed_bar bars[FEED_BINANCE_KLINES_MAX];
    for (unsigned attempt = 0; attempt < PAGE_ATTEMPTS; attempt++) {
        net_request *req = malloc(sizeof(*req));
        feed_error why = {{0}};
        if (req == NULL) return APP_EXIT_FAIL;
        if (feed_binance_klines_request(req, d->base_url, d->symbol, d->interval, start_ms, end_ms,
                                        FEED_BINANCE_KLINES_MAX, &why) != TK_OK) {
            free(req);
            fprintf(stderr, "troika data download: %s\n", why.text);
            return APP_EXIT_USAGE;
        }
        tk_err err = net_http_send(d->http, act_port_ref(d->port), req);
        act_msg *msg = NULL;
        if (err == TK_OK) err = act_port_receive(d->port, WAIT_MS, &msg);
        if (err != TK_OK) {
            fprintf(stderr, "troika data download: no answer: %s\n", tk_err_str(err));
            return APP_EXIT_FAIL;
        }
        net_response *resp = msg->ptr;
        size_t count = 0;
        err = feed_binance_klines_parse(resp, bars, FEED_BINANCE_KLINES_MAX, &count, &why);
        feed_binance_pace pace; /* the feed's rule: Retry-After, else the minute's weight */
        feed_binance_pace_of(resp, (int64_t)time(NULL) * 1000, WEIGHT_PAUSE_AT, &pace);
        act_msg_free(d->sys, msg);
        d->pages++;
        if (err == TK_EAGAIN) { /* the venue asks to wait */
            d->waits++;
            fprintf(stderr, "troika data download: %s; waiting %lld s as asked\n", why.text,
                    (long long)((pace.wait_ms + 999) / 1000));
            sleep_ms(pace.wait_ms);
            continue;
        }
        if (err != TK_OK) {
            fprintf(stderr, "troika data download: %s\n", why.text);
            return APP_EXIT_FAIL;
        }
        for (size_t i = 0; i < count; i++) {
            char o[LED_DECIMAL_BYTES_MAX], h[LED_DECIMAL_BYTES_MAX], l[LED_DECIMAL_BYTES_MAX],
                c[LED_DECIMAL_BYTES_MAX], v[LED_DECIMAL_BYTES_MAX];
            led_format(bars[i].open_e8, o, sizeof(o));
            led_format(bars[i].high_e8, h, sizeof(h));
            led_format(bars[i].low_e8, l, sizeof(l));
            led_format(bars[i].close_e8, c, sizeof(c));
            led_format(bars[i].volume_e8, v, sizeof(v));
            fprintf(d->out, "%lld,%s,%s,%s,%s,%s\n", (long long)(bars[i].open_ts_ns / 1000000), o,
                    h, l, c, v);
        }
        if (fflush(d->out) != 0) {
            fprintf(stderr, "troika data download: cannot write the output\n");
            return APP_EXIT_FAIL;
        }
        d->rows += count;
        /* fewer rows than asked for: the venue has no more up to end_ms */
        *next_ms = count == FEED_BINANCE_KLINES_MAX
                       ? bars[count - 1].open_ts_ns / 1000000 + d->interval_ms
                       : end_ms + 1;
        if (pace.wait_ms > 0) { /* close to the minute's limit: wait for the next one */
            d->waits++;
            sleep_ms(pace.wait_ms);
        }
        return 0;
    }
    fprintf(stderr, "troika data download: the venue kept asking to wait (%u times)\n",
            PAGE_ATTEMPTS);
    return APP_EXIT_FAIL;
}

static int download_run(download *d, int64_t from_ms, int64_t to_ms, const char *path)
{
    int64_t last = -1;
    if (!last_row_ms(path, &last)) return APP_EXIT_FAIL;
    int64_t start = last >= 0 ? last + d->interval_ms : from_ms;
    if (start < from_ms) start = from_ms;
    d->out = fopen(path, last >= 0 ? "a" : "w");
    if (d->out == NULL) {
        fprintf(stderr, "troika data download: cannot write %s\n", path);
        return APP_EXIT_FAIL;
    }
    if (last < 0) fprintf(d->out, CSV_HEADER "\n");
    if (last >= 0)
        fprintf(stderr, "troika data download: %s has rows up to %lld: continuing from %lld\n",
                path, (long long)last, (long long)start);
    int rc = 0;
    while (rc == 0 && start <= to_ms)
        rc = page(d, start, to_ms, &start);
    if (fclose(d->out) != 0 && rc == 0) {
        fprintf(stderr, "troika data download: cannot write %s\n", path);
        rc = APP_EXIT_FAIL;
    }
    if (rc == 0)
        printf("troika data download: %s: %llu rows written in %llu requests (%llu waits asked "
               "by the venue)\n",
               path, (unsigned long long)d->rows, (unsigned long long)d->pages,
               (unsigned long long)d->waits);
    return rc;
}

static int data_download_main(int argc, char **argv)
{
    static const struct option longs[] = {{"venue", required_argument, NULL, 'v'},
                                          {"symbol", required_argument, NULL, 's'},
                                          {"interval", required_argument, NULL, 'i'},
                                          {"from", required_argument, NULL, 'f'},
                                          {"to", required_argument, NULL, 't'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"base-url", required_argument, NULL, 'b'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *venue = NULL, *from = NULL, *to = NULL, *out = NULL;
    download d = {.base_url = "https://api.binance.com"};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (ch == 'v')
            venue = optarg;
        else if (ch == 's')
            d.symbol = optarg;
        else if (ch == 'i')
            d.interval = optarg;
        else if (ch == 'f')
            from = optarg;
        else if (ch == 't')
            to = optarg;
        else if (ch == 'o')
            out = optarg;
        else if (ch == 'b')
            d.base_url = optarg;
        else if (ch == 'h') {
            data_usage(stdout);
            return 0;
        } else {
            data_usage(stderr);
            return APP_EXIT_USAGE;
        }
    }
    int64_t from_ms = 0, to_ms = 0;
    const char *bad = venue == NULL || strcmp(venue, "binance") != 0 ? "--venue binance"
                      : d.symbol == NULL                             ? "--symbol"
                      : (d.interval_ms = feed_binance_interval_ms(d.interval)) == 0
                          ? "--interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w)"
                      : from == NULL || !parse_ms(from, &from_ms)
                          ? "--from (ISO 8601 UTC or unix ms)"
                      : to == NULL || !parse_ms(to, &to_ms) || to_ms < from_ms
                          ? "--to (ISO 8601 UTC or unix ms, not before --from)"
                      : out == NULL ? "--out"
                                    : NULL;
    if (bad != NULL || optind < argc) {
        fprintf(stderr, "troika data download: %s is required\n",
                bad != NULL ? bad : "nothing else");
        return APP_EXIT_USAGE;
    }
    act_system_opts so = {
        .threads = 1, .actors_max = 16, .msgs_max = 1024, .clock = tk_clock_system()};
    if (act_system_open(&so, &d.sys) != TK_OK || act_port_open(d.sys, 16, &d.port) != TK_OK ||
        net_http_open(d.sys, NULL, &d.http) != TK_OK) {
        fprintf(stderr, "troika data download: cannot start the HTTP client\n");
        act_port_close(d.port);
        act_system_close(d.sys);
        return APP_EXIT_FAIL;
    }
    int rc = download_run(&d, from_ms, to_ms, out);
    net_http_close(d.http);
    act_port_close(d.port);
    act_system_close(d.sys);
    return rc;
}

int app_data_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "download") == 0)
        return data_download_main(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        data_usage(stdout);
        return 0;
    }
    data_usage(stderr);
    return APP_EXIT_USAGE;
}
