/* Private to app/: the backtest report. From the equity curve (one point per bar) and the fills
 * of a backtest run it computes the metrics a trader reads first (return, CAGR, Sharpe, Sortino,
 * drawdown, trade statistics), prints them as a table and writes them as report.json,
 * trades.csv and a self-contained report.html with an equity and a drawdown chart.
 * docs/backtest.md defines every metric and cites its source.
 *
 * Money in the input is int64_t in 1e-8 units (ledger convention, `_e8`); money in the metrics
 * derives from those integers exactly (128-bit intermediates, half-even rounding where a
 * quotient is taken). Ratios are doubles (DESIGN.md: doubles live in reports). A ratio that is
 * undefined for the input (a Sharpe ratio without variance, a profit factor without a losing
 * trade) is NAN, written as JSON null and as "-" in the table.
 *
 * Cost: app_report_compute is one pass over the points and one over the fills, O(1) memory;
 * app_report_write adds one more pass of each and O(APP_REPORT_CHART_POINTS_MAX) memory, so a
 * run of ten million bars is fine. All functions are deterministic: the same input gives the
 * same metrics and byte-identical files. Context: any thread; nothing is shared. */
#ifndef TK_APP_APP_REPORT_H
#define TK_APP_APP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "led.h"
#include "tk.h"

/* At most this many points per chart of report.html: longer runs are downsampled to the
 * minimum and maximum of each of APP_REPORT_CHART_POINTS_MAX / 2 equal slices of the bars, so
 * that no peak or trough disappears from the picture. */
#define APP_REPORT_CHART_POINTS_MAX 2000u

/* The state hash in lower-case hex with its NUL. */
#define APP_REPORT_HASH_HEX_BYTES (2u * LED_HASH_BYTES + 1u)

/* One fill of the backtest, in time order. qty_e8 > 0 in base units, price_e8 > 0 in quote
 * per base unit, fee_e8 >= 0 in quote units; ts_ns is the fill's time (ns since the epoch). */
typedef struct app_fill {
    int64_t ts_ns;
    led_side side;
    int64_t qty_e8, price_e8, fee_e8;
} app_fill;

/* The account after one bar, once per bar in time order: ts_ns the bar's time, equity_e8 the
 * equity in quote units (cash plus position at the bar's close), position_e8 the signed
 * position in base units. */
typedef struct app_equity_point {
    int64_t ts_ns;
    int64_t equity_e8;
    int64_t position_e8;
} app_equity_point;

/* Everything the report is made from. Every pointer is borrowed for the call only. The texts
 * may be NULL (written as empty); data_files may be NULL when data_file_count is 0; points and
 * fills may be NULL when their count is 0. initial_equity_e8 > 0 and interval_s > 0. */
typedef struct app_report_input {
    const char *strategy, *symbol, *quote; /* names for the report */
    const char *const *data_files;         /* the market data the run replayed */
    size_t data_file_count;
    int64_t initial_equity_e8; /* the account before the first bar */
    int64_t interval_s;        /* bar interval, seconds */
    const app_equity_point *points;
    size_t point_count;
    const app_fill *fills;
    size_t fill_count;
    const char *state_hash_hex; /* the ledger's final state hash */
    uint64_t events;            /* ledger events committed */
} app_report_input;

/* The metrics, as docs/backtest.md defines them. Notation: E_0 = initial_equity_e8, E_1..E_n
 * the points' equity (n = bars); r_i = E_i / E_{i-1} - 1 for i = 1..n (a bar whose E_{i-1} is
 * not positive has no return and is left out); bars per year B = 365.25 * 86400 / interval_s.
 * Trades are round trips found by position netting of the fills (docs/backtest.md). */
typedef struct app_report_metrics {
    /* the run */
    uint64_t bars;             /* n */
    int64_t start_ts_ns;       /* ts of the first point (0 without points) */
    int64_t end_ts_ns;         /* ts of the last point (0 without points) */
    int64_t interval_s;        /* from the input */
    int64_t initial_equity_e8; /* E_0 */
    int64_t final_equity_e8;   /* E_n (E_0 without points) */
    int64_t net_pnl_e8;        /* E_n - E_0 */
    int64_t fees_e8;           /* sum of every fill's fee, closed trades or not */
    uint64_t fills;            /* fill_count */
    int64_t open_position_e8;  /* position left by the fills (not part of any trade) */
    /* returns and risk */
    double total_return; /* E_n / E_0 - 1 */
    double cagr;         /* (E_n / E_0)^(1 / years) - 1, years = (end - start) / 365.25 d */
    double volatility;   /* sample standard deviation of r, times sqrt(B) */
    double sharpe;       /* mean(r) / sample sd(r) * sqrt(B), risk-free 0 */
    double sortino;      /* mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(B), target 0 */
    double calmar;       /* cagr / max_drawdown */
    double max_drawdown; /* max over i of 1 - E_i / max(E_0..E_i), a fraction */
    int64_t max_drawdown_peak_ts_ns;   /* when the peak of that drawdown was set */
    int64_t max_drawdown_trough_ts_ns; /* its lowest point */
    int64_t max_drawdown_duration_s;   /* longest time from a peak until it is regained */
    double exposure;                   /* fraction of bars with position_e8 != 0 */
    /* trades */
    uint64_t trades; /* closed round trips */
    uint64_t winning_trades, losing_trades, long_trades, short_trades;
    double win_rate;         /* winning_trades / trades */
    double profit_factor;    /* gross_profit / gross_loss; NAN without a losing trade */
    int64_t gross_profit_e8; /* sum of net PnL of winning trades */
    int64_t gross_loss_e8;   /* minus the sum of net PnL of losing trades (>= 0) */
    int64_t avg_trade_e8;    /* mean net PnL per trade, half-even (0 without trades) */
    int64_t best_trade_e8;   /* largest net PnL of a trade (0 without trades) */
    int64_t worst_trade_e8;  /* smallest net PnL of a trade (0 without trades) */
    double avg_trade_return; /* mean of each trade's net PnL / its entry notional */
    double avg_holding_s;    /* mean of exit time - entry time, seconds */
    /* the ledger */
    char state_hash_hex[APP_REPORT_HASH_HEX_BYTES]; /* copied from the input, cut to fit */
    uint64_t events;
} app_report_metrics;

/* Compute every metric of in into *out (written in full). in and its arrays are borrowed.
 * The input must be well formed (TK_ASSERT): initial_equity_e8 > 0, interval_s > 0, points and
 * fills each in non-decreasing time order, fills with qty_e8 > 0, price_e8 > 0 and
 * fee_e8 >= 0, a non-NULL array for a non-zero count. Money beyond int64_t (not reachable
 * with ledger-valid runs) is clamped to INT64_MIN or INT64_MAX.
 * Cost: O(point_count + fill_count) time, O(1) memory; never allocates. */
void app_report_compute(const app_report_input *in, app_report_metrics *out);

/* Write report.json, trades.csv and report.html for in and m (from app_report_compute on the
 * same input) into the directory out_dir, which is created (with its parents, mode 0755) when
 * missing; existing files of those names are replaced. Everything is borrowed.
 * report.json: the run, the metrics and the ledger's hash, keys in a fixed order, money as exact
 * decimal strings, ratios with 12 significant digits, undefined ratios as null; a name that is
 * not UTF-8 is written with each byte outside ASCII replaced by '?'.
 * trades.csv: one row per closed trade (entry time, exit time, side, qty, entry price, exit
 * price, pnl, fees, return), money as exact decimals.
 * report.html: one page with no external resource and no script: the metrics table, the
 * equity curve and the drawdown curve as inline SVG.
 * Errors: TK_EINVAL (a path longer than PATH_MAX), the mapped errno of the failing mkdir, open
 * or write (TK_EPERM, TK_ENOENT, TK_EIO, TK_ENOSPC, ...), TK_ENOMEM. why (why_size bytes,
 * may be NULL) then says what failed, naming the file. Files written before the failure stay.
 * Context: the calling thread; blocking file I/O. */
TK_MUST_USE tk_err app_report_write(const app_report_input *in, const app_report_metrics *m,
                                    const char *out_dir, char *why, size_t why_size);

/* Print the metrics as a two-column table (the same rows as report.html) to out (borrowed).
 * Write errors are left to the caller (ferror(out)). */
void app_report_print(const app_report_metrics *m, FILE *out);

#endif /* TK_APP_APP_REPORT_H */
