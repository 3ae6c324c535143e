/* app/app_report.c: every metric on small runs computed by hand (no bars, no trades, one trade,
 * all winners, a flip, partial exits, a fee split on a tie, drawdowns that recover and one that
 * lasts to the end), the three files (they exist, parse and agree with the metrics; text is
 * escaped), byte-identical output for the same input, an unwritable directory, and a run of a
 * million bars (one pass, charts downsampled). */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_report.h"
#include "report_tests.h"
#include "tk_test.h"

#define E8     100000000LL
#define DAY_NS (86400LL * 1000000000LL)
#define T0_NS  (19723LL * DAY_NS) /* 2024-01-01T00:00:00Z */
#define DAILY  86400
#define SQRT_B sqrt(365.25) /* bars per year of daily bars: 365.25 */

/* ---- Builders and checks --------------------------------------------------------------------- */

static const char *const data_files[] = {"data/BTCUSDT-1d.csv"};

static app_report_input input_base(void)
{
    app_report_input in = {
        .strategy = "ema_cross",
        .symbol = "BTCUSDT",
        .quote = "USDT",
        .data_files = data_files,
        .data_file_count = 1,
        .initial_equity_e8 = 100 * E8,
        .interval_s = DAILY,
        .points = NULL,
        .point_count = 0,
        .fills = NULL,
        .fill_count = 0,
        .state_hash_hex = "00ff",
        .events = 7,
    };
    return in;
}

/* Daily points from T0_NS: equity (whole units, at most 8 decimals) and position. */
static void points_set(app_equity_point *p, const double *equity, const int64_t *position_e8,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i].ts_ns = T0_NS + (int64_t)i * DAY_NS;
        p[i].equity_e8 = (int64_t)llround(equity[i] * (double)E8);
        p[i].position_e8 = position_e8 != NULL ? position_e8[i] : 0;
    }
}

static app_fill fill(int64_t day, led_side side, double qty, double price, double fee)
{
    app_fill f = {.ts_ns = T0_NS + day * DAY_NS,
                  .side = side,
                  .qty_e8 = (int64_t)llround(qty * (double)E8),
                  .price_e8 = (int64_t)llround(price * (double)E8),
                  .fee_e8 = (int64_t)llround(fee * (double)E8)};
    return f;
}

static void expect_near(double got, double want, const char *what)
{
    double tol = 1e-12 * fmax(1.0, fabs(want));
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* A ratio read back from report.json, written with 12 significant digits. */
static void expect_json_real(const json_t *value, double want, const char *what)
{
    if (!json_is_real(value)) fail_msg("%s: not a JSON real", what);
    double got = json_real_value(value);
    if (!(fabs(got - want) <= 1e-11 * fabs(want))) {
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
    }
}

static void expect_i64(int64_t got, int64_t want, const char *what)
{
    if (got != want) fail_msg("%s: got %" PRId64 ", want %" PRId64, what, got, want);
}

static void expect_nan(double got, const char *what)
{
    if (!isnan(got)) fail_msg("%s: got %.17g, want undefined (NAN)", what, got);
}

/* ---- Metrics --------------------------------------------------------------------------------- */

static void test_no_bars_no_fills(void **state)
{
    (void)state;
    app_report_input in = input_base();
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.bars, 0);
    expect_i64(m.final_equity_e8, 100 * E8, "final equity = initial");
    expect_i64(m.net_pnl_e8, 0, "net pnl");
    expect_near(m.total_return, 0.0, "total return");
    expect_nan(m.cagr, "cagr");
    expect_nan(m.volatility, "volatility");
    expect_nan(m.sharpe, "sharpe");
    expect_nan(m.sortino, "sortino");
    expect_nan(m.calmar, "calmar");
    expect_near(m.max_drawdown, 0.0, "max drawdown");
    expect_i64(m.max_drawdown_duration_s, 0, "max drawdown duration");
    expect_nan(m.exposure, "exposure");
    assert_int_equal(m.trades, 0);
    expect_nan(m.win_rate, "win rate");
    expect_nan(m.profit_factor, "profit factor");
    expect_nan(m.avg_trade_return, "avg trade return");
    assert_string_equal(m.state_hash_hex, "00ff");
    assert_int_equal(m.events, 7);
}

/* E_0 = 100; E = 110, 99, 99, 118.8: r = 0.1, -0.1, 0, 0.2. */
static void test_returns_and_ratios(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const double equity[] = {110, 99, 99, 118.8};
    const int64_t position[] = {0, E8, -E8, 0};
    app_equity_point p[4];
    points_set(p, equity, position, 4);
    in.points = p;
    in.point_count = 4;
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.bars, 4);
    expect_i64(m.start_ts_ns, T0_NS, "start");
    expect_i64(m.end_ts_ns, T0_NS + 3 * DAY_NS, "end");
    expect_i64(m.final_equity_e8, 11880000000LL, "final equity");
    expect_i64(m.net_pnl_e8, 1880000000LL, "net pnl");
    expect_near(m.total_return, 0.188, "total return");
    /* years = 3 days / 365.25 days */
    expect_near(m.cagr, pow(1.188, 365.25 / 3.0) - 1.0, "cagr");
    /* mean 0.05; squared deviations .0025 + .0225 + .0025 + .0225 = .05; sample var .05 / 3 */
    double sd = sqrt(0.05 / 3.0);
    expect_near(m.volatility, sd * SQRT_B, "volatility");
    expect_near(m.sharpe, 0.05 / sd * SQRT_B, "sharpe");
    /* downside: only -0.1 -> mean of squares 0.01 / 4 = 0.0025 -> 0.05 */
    expect_near(m.sortino, 0.05 / 0.05 * SQRT_B, "sortino");
    /* peak 110 (day 0), trough 99 (day 1): 10%; regained on day 3 */
    expect_near(m.max_drawdown, 0.1, "max drawdown");
    expect_i64(m.max_drawdown_peak_ts_ns, T0_NS, "peak time");
    expect_i64(m.max_drawdown_trough_ts_ns, T0_NS + DAY_NS, "trough time");
    expect_i64(m.max_drawdown_duration_s, 3 * 86400, "max drawdown duration");
    expect_near(m.calmar, (pow(1.188, 365.25 / 3.0) - 1.0) / 0.1, "calmar");
    expect_near(m.exposure, 0.5, "exposure");
    assert_int_equal(m.trades, 0);
}

/* E_0 = 100; E = 100, 120, 90, 100, 110: the 25% drawdown from 120 is never regained. */
static void test_drawdown_to_the_end(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const double equity[] = {100, 120, 90, 100, 110};
    app_equity_point p[5];
    points_set(p, equity, NULL, 5);
    in.points = p;
    in.point_count = 5;
    app_report_metrics m;
    app_report_compute(&in, &m);
    expect_near(m.max_drawdown, 0.25, "max drawdown");
    expect_i64(m.max_drawdown_peak_ts_ns, T0_NS + DAY_NS, "peak time");
    expect_i64(m.max_drawdown_trough_ts_ns, T0_NS + 2 * DAY_NS, "trough time");
    expect_i64(m.max_drawdown_duration_s, 3 * 86400, "from day 1 to the end (day 4)");
    expect_near(m.exposure, 0.0, "exposure");
    expect_near(m.total_return, 0.1, "total return");
    /* r = 0, 0.2, -0.25, 1/9, 0.1: downside mean of squares 0.0625 / 5 */
    expect_near(m.sortino, ((0.2 - 0.25 + 1.0 / 9.0 + 0.1) / 5.0) / sqrt(0.0625 / 5.0) * SQRT_B,
                "sortino");
}

/* The first bar can lose against E_0: E_0 = 100; E = 90, 95, 100, 101, 100. A longer drawdown that
 * recovered beats a shorter one still open at the end. */
static void test_drawdown_from_initial_equity(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const double equity[] = {90, 95, 100, 101, 100};
    app_equity_point p[5];
    points_set(p, equity, NULL, 5);
    in.points = p;
    in.point_count = 5;
    app_report_metrics m;
    app_report_compute(&in, &m);
    expect_near(m.max_drawdown, 0.1, "max drawdown");
    expect_i64(m.max_drawdown_peak_ts_ns, T0_NS, "E_0's peak is dated at the first bar");
    expect_i64(m.max_drawdown_trough_ts_ns, T0_NS, "trough");
    expect_i64(m.max_drawdown_duration_s, 2 * 86400, "day 0 to day 2, not day 3 to 4");
}

/* Buy 2 @ 100 (fee 0.2) on day 1, sell 2 @ 110 (fee 0.22) on day 3: +20 gross, +19.58 net. */
static void test_one_trade(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const app_fill f[] = {fill(1, LED_SIDE_BUY, 2, 100, 0.2), fill(3, LED_SIDE_SELL, 2, 110, 0.22)};
    in.fills = f;
    in.fill_count = 2;
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.fills, 2);
    assert_int_equal(m.trades, 1);
    assert_int_equal(m.long_trades, 1);
    assert_int_equal(m.short_trades, 0);
    assert_int_equal(m.winning_trades, 1);
    assert_int_equal(m.losing_trades, 0);
    expect_i64(m.fees_e8, 42000000, "fees 0.42");
    expect_i64(m.gross_profit_e8, 1958000000, "gross profit 19.58");
    expect_i64(m.gross_loss_e8, 0, "gross loss");
    expect_i64(m.avg_trade_e8, 1958000000, "avg trade");
    expect_i64(m.best_trade_e8, 1958000000, "best trade");
    expect_i64(m.worst_trade_e8, 1958000000, "worst trade");
    expect_near(m.win_rate, 1.0, "win rate");
    expect_nan(m.profit_factor, "profit factor without a losing trade");
    expect_near(m.avg_trade_return, 19.58 / 200.0, "return on the entry notional");
    expect_near(m.avg_holding_s, 2 * 86400.0, "holding time");
    expect_i64(m.open_position_e8, 0, "flat at the end");
}

/* Two winners: profit factor stays undefined; a loser makes it defined. */
static void test_winners_then_a_loser(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const app_fill f[] = {
        fill(0, LED_SIDE_BUY, 1, 100, 0),  fill(1, LED_SIDE_SELL, 1, 110, 0), /* +10 */
        fill(2, LED_SIDE_SELL, 1, 100, 0), fill(3, LED_SIDE_BUY, 1, 95, 0),   /* +5 short */
        fill(4, LED_SIDE_BUY, 2, 100, 0),  fill(5, LED_SIDE_SELL, 2, 98, 0),  /* -4 */
    };
    in.fills = f;
    in.fill_count = 4;
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 2);
    assert_int_equal(m.long_trades, 1);
    assert_int_equal(m.short_trades, 1);
    expect_nan(m.profit_factor, "all winners");
    expect_near(m.win_rate, 1.0, "win rate");
    in.fill_count = 6;
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 3);
    assert_int_equal(m.winning_trades, 2);
    assert_int_equal(m.losing_trades, 1);
    expect_near(m.profit_factor, 15.0 / 4.0, "profit factor");
    expect_near(m.win_rate, 2.0 / 3.0, "win rate");
    expect_i64(m.gross_profit_e8, 15 * E8, "gross profit");
    expect_i64(m.gross_loss_e8, 4 * E8, "gross loss");
    expect_i64(m.avg_trade_e8, 366666667, "11 / 3, half-even");
    expect_i64(m.best_trade_e8, 10 * E8, "best");
    expect_i64(m.worst_trade_e8, -4 * E8, "worst");
    expect_near(m.avg_trade_return, (0.1 + 0.05 - 0.02) / 3.0, "avg trade return");
}

/* Buy 1 @ 100 (fee 0.1); sell 3 @ 110 (fee 0.3: 0.1 closes the long, 0.2 opens a short of 2);
 * buy 2 @ 105 (fee 0.2) closes the short. Long +10 - 0.2; short +10 - 0.4. */
static void test_flip(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const app_fill f[] = {fill(0, LED_SIDE_BUY, 1, 100, 0.1), fill(1, LED_SIDE_SELL, 3, 110, 0.3),
                          fill(4, LED_SIDE_BUY, 2, 105, 0.2)};
    in.fills = f;
    in.fill_count = 3;
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 2);
    assert_int_equal(m.long_trades, 1);
    assert_int_equal(m.short_trades, 1);
    assert_int_equal(m.winning_trades, 2);
    expect_i64(m.fees_e8, 60000000, "fees 0.6");
    expect_i64(m.best_trade_e8, 980000000, "long 9.8");
    expect_i64(m.worst_trade_e8, 960000000, "short 9.6");
    expect_i64(m.gross_profit_e8, 1940000000, "gross profit");
    expect_nan(m.profit_factor, "no losing trade");
    expect_near(m.avg_holding_s, (1 + 3) * 86400.0 / 2.0, "1 day and 3 days");
    expect_near(m.avg_trade_return, (9.8 / 100.0 + 9.6 / 220.0) / 2.0, "returns");
    /* stopping after the flip: one closed trade and a short of 2 still open */
    in.fill_count = 2;
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 1);
    expect_i64(m.open_position_e8, -2 * E8, "open short");
    expect_i64(m.fees_e8, 40000000, "every fill's fee counts");
}

/* A fee of 1e-8 split over a close of 1 and an open of 1 is a tie: half-even gives the close 0.
 * The first trade then makes exactly 0 (neither won nor lost); the second loses 1e-8. */
static void test_fee_split_tie(void **state)
{
    (void)state;
    app_report_input in = input_base();
    app_fill f[] = {fill(0, LED_SIDE_BUY, 1, 100, 0), fill(1, LED_SIDE_SELL, 2, 100, 0),
                    fill(2, LED_SIDE_BUY, 1, 100, 0)};
    f[1].fee_e8 = 1;
    in.fills = f;
    in.fill_count = 3;
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 2);
    assert_int_equal(m.winning_trades, 0);
    assert_int_equal(m.losing_trades, 1);
    expect_i64(m.best_trade_e8, 0, "break-even trade");
    expect_i64(m.worst_trade_e8, -1, "the short paid the fee");
    expect_i64(m.gross_loss_e8, 1, "gross loss");
    expect_near(m.profit_factor, 0.0, "losses only");
    expect_near(m.win_rate, 0.0, "win rate");
    expect_i64(m.avg_trade_e8, 0, "-0.5e-8 rounds half-even to 0");
}

/* Scaling in and out: entries 100 and 102 (VWAP 101), exits 105 and 107 (VWAP 106): +10. */
static void test_partial_fills(void **state)
{
    (void)state;
    app_report_input in = input_base();
    const app_fill f[] = {fill(0, LED_SIDE_BUY, 1, 100, 0), fill(1, LED_SIDE_BUY, 1, 102, 0),
                          fill(2, LED_SIDE_SELL, 1, 105, 0), fill(3, LED_SIDE_SELL, 1, 107, 0)};
    in.fills = f;
    in.fill_count = 4;
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 1);
    expect_i64(m.best_trade_e8, 10 * E8, "pnl");
    expect_near(m.avg_trade_return, 10.0 / 202.0, "return on the entry notional");
    expect_near(m.avg_holding_s, 3 * 86400.0, "first entry to last exit");
    in.fill_count = 3; /* still long 1 */
    app_report_compute(&in, &m);
    assert_int_equal(m.trades, 0);
    expect_i64(m.open_position_e8, E8, "open");
    expect_nan(m.win_rate, "no closed trade");
}

/* ---- Files ----------------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
} fixture;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL) return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/troika_report_XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *fx = *state;
    int rc = nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return rc;
}

static char *path_of(const char *dir, const char *sub, const char *name)
{
    static char path[3][256];
    static int next;
    char *p = path[next++ % 3];
    snprintf(p, sizeof(path[0]), "%s/%s%s%s", dir, sub, sub[0] != '\0' ? "/" : "", name);
    return p;
}

/* The whole file, NUL-terminated (malloc'd); fails the test when it cannot be read. */
static char *slurp(const char *path, size_t *out_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) fail_msg("cannot open %s", path);
    char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) { /* bounded by the file's size */
        if (size + 4096 + 1 > cap) {
            cap = cap * 2 + 8192;
            char *grown = realloc(buf, cap);
            if (grown == NULL) fail_msg("out of memory");
            buf = grown;
        }
        size_t n = fread(buf + size, 1, cap - size - 1, f);
        size += n;
        if (n == 0) break;
    }
    fclose(f);
    buf[size] = '\0';
    if (out_size != NULL) *out_size = size;
    return buf;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Points in the points="..." attribute after the first occurrence of tag. */
static size_t svg_points(const char *html, const char *tag)
{
    const char *p = strstr(html, tag);
    assert_non_null(p);
    p = strstr(p, "points=\"");
    assert_non_null(p);
    p += strlen("points=\"");
    size_t n = 1;
    for (; *p != '"' && *p != '\0'; p++)
        n += *p == ' ';
    return n;
}

/* The run of test_winners_then_a_loser with points, a strategy name that needs escaping. */
static void files_input(app_report_input *in, app_equity_point *p, const app_fill **fills)
{
    static const app_fill f[] = {
        {T0_NS + 1 * DAY_NS, LED_SIDE_BUY, E8, 100 * E8, 0},
        {T0_NS + 2 * DAY_NS, LED_SIDE_BUY, E8, 102 * E8, 0},
        {T0_NS + 3 * DAY_NS, LED_SIDE_SELL, E8, 105 * E8, 0},
        {T0_NS + 4 * DAY_NS, LED_SIDE_SELL, E8, 107 * E8, 10000000},
        {T0_NS + 5 * DAY_NS, LED_SIDE_SELL, 2 * E8, 100 * E8, 0},
        {T0_NS + 6 * DAY_NS, LED_SIDE_BUY, 2 * E8, 103 * E8, 0},
    };
    const double equity[] = {100, 100, 102, 105, 109.9, 109.9, 103.9, 103.9};
    const int64_t position[] = {0, E8, 2 * E8, E8, 0, -2 * E8, 0, 0};
    points_set(p, equity, position, 8);
    *in = input_base();
    in->strategy = "<b>\"fast\" & 'slow'</b>";
    in->points = p;
    in->point_count = 8;
    in->fills = f;
    in->fill_count = 6;
    *fills = f;
}

static void check_json(const char *path, const app_report_metrics *m)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) fail_msg("report.json does not parse: %s (line %d)", jerr.text, jerr.line);
    json_t *run = json_object_get(root, "run");
    json_t *ret = json_object_get(root, "returns");
    json_t *trades = json_object_get(root, "trade_stats");
    assert_int_equal(json_integer_value(json_object_get(root, "trades")), 2); /* the summary */
    assert_int_equal(json_integer_value(json_object_get(run, "bars")), 8);
    assert_string_equal(json_string_value(json_object_get(run, "start")), "2024-01-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(run, "final_equity")), "103.9");
    assert_string_equal(json_string_value(json_object_get(run, "fees")), "0.1");
    assert_string_equal(json_string_value(json_object_get(run, "strategy")),
                        "<b>\"fast\" & 'slow'</b>");
    expect_json_real(json_object_get(ret, "sharpe"), m->sharpe, "sharpe in json");
    expect_json_real(json_object_get(ret, "max_drawdown"), m->max_drawdown, "mdd");
    assert_int_equal(json_integer_value(json_object_get(trades, "trades")), 2);
    assert_string_equal(json_string_value(json_object_get(trades, "best_trade")), "9.9");
    assert_string_equal(json_string_value(json_object_get(trades, "worst_trade")), "-6");
    expect_json_real(json_object_get(trades, "profit_factor"), 9.9 / 6.0, "pf");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "ledger"), "state_hash")), "00ff");
    json_decref(root);
}

static void test_files(void **state)
{
    fixture *fx = *state;
    app_report_input in;
    app_equity_point p[8];
    const app_fill *f;
    files_input(&in, p, &f);
    app_report_metrics m;
    app_report_compute(&in, &m);
    char why[256] = "";
    EXPECT_ERR(app_report_write(&in, &m, path_of(fx->dir, "", "out/a"), why, sizeof(why)), TK_OK);
    check_json(path_of(fx->dir, "out/a", "report.json"), &m);
    char *csv = slurp(path_of(fx->dir, "out/a", "trades.csv"), NULL);
    assert_int_equal(count_of(csv, "\n"), 1 + 2);
    assert_non_null(strstr(csv, "entry_time,exit_time,side,qty,entry_price,exit_price,pnl,fees,"
                                "return\n"));
    assert_non_null(strstr(csv, "2024-01-02T00:00:00Z,2024-01-05T00:00:00Z,long,2,101,106,9.9,"
                                "0.1,0.04900990\n"));
    assert_non_null(strstr(csv, "2024-01-06T00:00:00Z,2024-01-07T00:00:00Z,short,2,100,103,-6,0,"
                                "-0.03000000\n"));
    free(csv);
    char *html = slurp(path_of(fx->dir, "out/a", "report.html"), NULL);
    assert_int_equal(count_of(html, "<svg"), 2);
    assert_non_null(strstr(html, "<th>Sharpe ratio</th>"));
    assert_non_null(strstr(html, "<th>Max drawdown</th><td>5.46%</td>")); /* 6 / 109.9 */
    assert_non_null(strstr(html, "<th>Profit factor</th><td>1.650</td>"));
    assert_non_null(strstr(html, "&lt;b&gt;&quot;fast&quot; &amp; &#39;slow&#39;&lt;/b&gt;"));
    assert_null(strstr(html, "<b>\"fast\""));
    assert_null(strstr(html, "<script"));
    /* no external resource: the only URL is the SVG namespace */
    assert_int_equal(count_of(html, "://"), count_of(html, "http://www.w3.org/2000/svg"));
    assert_int_equal(svg_points(html, "<polyline"), 8);
    assert_int_equal(svg_points(html, "<polygon"), 8 + 2);
    free(html);
}

static void test_no_bars_files(void **state)
{
    fixture *fx = *state;
    app_report_input in = input_base();
    in.data_files = NULL;
    in.data_file_count = 0;
    in.strategy = NULL;
    in.symbol = "BTC\xffUSDT"; /* not UTF-8: written with '?' rather than refused */
    app_report_metrics m;
    app_report_compute(&in, &m);
    char why[256] = "";
    EXPECT_ERR(app_report_write(&in, &m, fx->dir, why, sizeof(why)), TK_OK);
    json_t *root = json_load_file(path_of(fx->dir, "", "report.json"), 0, NULL);
    assert_non_null(root);
    json_t *ret = json_object_get(root, "returns");
    assert_true(json_is_null(json_object_get(ret, "sharpe")));
    assert_true(json_is_null(json_object_get(ret, "cagr")));
    assert_true(json_is_null(json_object_get(json_object_get(root, "trade_stats"), "avg_trade")));
    json_t *run = json_object_get(root, "run");
    assert_true(json_is_null(json_object_get(run, "start")));
    assert_string_equal(json_string_value(json_object_get(run, "strategy")), "");
    assert_string_equal(json_string_value(json_object_get(run, "symbol")), "BTC?USDT");
    json_decref(root);
    char *html = slurp(path_of(fx->dir, "", "report.html"), NULL);
    assert_int_equal(count_of(html, "<svg"), 2);
    assert_non_null(strstr(html, "no bars"));
    free(html);
}

/* A seeded random walk of n daily-ish bars with a fill every 7 bars. */
static void random_run(size_t n, uint64_t seed, app_equity_point *p, app_fill *f,
                       size_t *fill_count)
{
    tk_rng rng;
    tk_rng_init(&rng, seed);
    int64_t equity = 1000000 * E8, position = 0;
    size_t fills = 0;
    for (size_t i = 0; i < n; i++) {
        equity += ((int64_t)tk_rng_below(&rng, 2001) - 1000) * E8 / 10;
        if (equity < E8) equity = E8;
        if (i % 7 == 3) {
            led_side side = tk_rng_below(&rng, 2) == 0 ? LED_SIDE_BUY : LED_SIDE_SELL;
            int64_t qty = (int64_t)(1 + tk_rng_below(&rng, 300)) * E8 / 100;
            f[fills++] = (app_fill){(int64_t)i * 3600 * 1000000000LL + T0_NS, side, qty,
                                    (int64_t)(20000 + tk_rng_below(&rng, 40000)) * E8,
                                    (int64_t)tk_rng_below(&rng, 1000000)};
            position += side == LED_SIDE_BUY ? qty : -qty;
        }
        p[i] = (app_equity_point){T0_NS + (int64_t)i * 3600 * 1000000000LL, equity, position};
    }
    *fill_count = fills;
}

static void test_deterministic(void **state)
{
    fixture *fx = *state;
    enum { N = 5000 };
    app_equity_point *p = malloc(N * sizeof(*p));
    app_fill *f = malloc(N * sizeof(*f));
    assert_non_null(p);
    assert_non_null(f);
    app_report_input in = input_base();
    in.interval_s = 3600;
    in.initial_equity_e8 = 1000000 * E8;
    in.points = p;
    in.point_count = N;
    in.fills = f;
    random_run(N, 20260101, p, f, &in.fill_count);
    app_report_metrics m1, m2;
    app_report_compute(&in, &m1);
    app_report_compute(&in, &m2);
    assert_memory_equal(&m1, &m2, sizeof(m1));
    char why[256] = "";
    EXPECT_ERR(app_report_write(&in, &m1, path_of(fx->dir, "", "one"), why, sizeof(why)), TK_OK);
    EXPECT_ERR(app_report_write(&in, &m2, path_of(fx->dir, "", "two"), why, sizeof(why)), TK_OK);
    const char *names[] = {"report.json", "trades.csv", "report.html"};
    for (size_t i = 0; i < 3; i++) {
        size_t s1, s2;
        char *a = slurp(path_of(fx->dir, "one", names[i]), &s1);
        char *b = slurp(path_of(fx->dir, "two", names[i]), &s2);
        if (s1 != s2 || memcmp(a, b, s1) != 0) fail_msg("%s differs between runs", names[i]);
        assert_true(s1 > 100);
        free(a);
        free(b);
    }
    free(p);
    free(f);
}

static void test_unwritable_dir(void **state)
{
    fixture *fx = *state;
    app_report_input in = input_base();
    app_report_metrics m;
    app_report_compute(&in, &m);
    const char *file = path_of(fx->dir, "", "plain_file");
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    char why[256] = "";
    tk_err err = app_report_write(&in, &m, file, why, sizeof(why)); /* a file, not a directory */
    assert_int_not_equal(err, TK_OK);
    assert_non_null(strstr(why, "plain_file"));
    why[0] = '\0';
    err = app_report_write(&in, &m, path_of(fx->dir, "plain_file", "sub"), why, sizeof(why));
    assert_int_not_equal(err, TK_OK);
    assert_non_null(strstr(why, "cannot create directory"));
    err = app_report_write(&in, &m, "", why, sizeof(why));
    EXPECT_ERR(err, TK_EINVAL);
    err = app_report_write(&in, &m, "/proc/troika_report_test", NULL, 0); /* why may be NULL */
    assert_int_not_equal(err, TK_OK);
}

/* A million bars: one pass each, charts cut to APP_REPORT_CHART_POINTS_MAX points. */
static void test_large_run(void **state)
{
    fixture *fx = *state;
    enum { N = 1000000 };
    app_equity_point *p = malloc(N * sizeof(*p));
    app_fill *f = malloc((N / 7 + 1) * sizeof(*f));
    assert_non_null(p);
    assert_non_null(f);
    app_report_input in = input_base();
    in.interval_s = 3600;
    in.initial_equity_e8 = 1000000 * E8;
    in.points = p;
    in.point_count = N;
    in.fills = f;
    random_run(N, 7, p, f, &in.fill_count);
    p[N / 2].equity_e8 = E8; /* one deep dip, which the drawdown chart must keep */
    app_report_metrics m;
    app_report_compute(&in, &m);
    assert_int_equal(m.bars, N);
    assert_true(m.max_drawdown > 0.99);
    expect_i64(m.max_drawdown_trough_ts_ns, p[N / 2].ts_ns, "the dip");
    char why[256] = "";
    EXPECT_ERR(app_report_write(&in, &m, fx->dir, why, sizeof(why)), TK_OK);
    char *html = slurp(path_of(fx->dir, "", "report.html"), NULL);
    size_t eq = svg_points(html, "<polyline"), dd = svg_points(html, "<polygon");
    assert_true(eq >= APP_REPORT_CHART_POINTS_MAX / 2 && eq <= APP_REPORT_CHART_POINTS_MAX);
    assert_true(dd >= APP_REPORT_CHART_POINTS_MAX / 2 && dd <= APP_REPORT_CHART_POINTS_MAX + 2);
    free(html);
    free(p);
    free(f);
}

static void test_print(void **state)
{
    (void)state;
    app_report_input in;
    app_equity_point p[8];
    const app_fill *f;
    files_input(&in, p, &f);
    app_report_metrics m;
    app_report_compute(&in, &m);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    app_report_print(&m, out);
    fclose(out);
    assert_non_null(strstr(text, "Total return               3.90%\n"));
    assert_non_null(strstr(text, "Trades                     2 (1 long, 1 short)\n"));
    assert_non_null(strstr(text, "Max drawdown duration      2d 00:00:00\n"));
    assert_non_null(strstr(text, "State hash                 00ff\n"));
    free(text);
}

int app_test_report(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_bars_no_fills),
        cmocka_unit_test(test_returns_and_ratios),
        cmocka_unit_test(test_drawdown_to_the_end),
        cmocka_unit_test(test_drawdown_from_initial_equity),
        cmocka_unit_test(test_one_trade),
        cmocka_unit_test(test_winners_then_a_loser),
        cmocka_unit_test(test_flip),
        cmocka_unit_test(test_fee_split_tie),
        cmocka_unit_test(test_partial_fills),
        cmocka_unit_test(test_print),
        cmocka_unit_test_setup_teardown(test_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_bars_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deterministic, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_dir, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_run, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("app/report", tests, NULL, NULL);
}
