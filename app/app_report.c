/* The backtest report: metrics from the equity curve and the fills (one pass over each), and
 * the three files report.json (jansson), trades.csv and report.html (inline SVG charts).
 * docs/backtest.md defines every metric and cites its source. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app_report.h"

#ifndef PATH_MAX
#define PATH_MAX 4096 /* Linux's value, for a libc that does not define it */
#endif

__extension__ typedef __int128 i128; /* GCC and clang: sums of products of two int64_t */

#define NS_PER_S      1000000000LL
#define YEAR_S        (365.25 * 86400.0) /* a Julian year: crypto trades every day */
#define TIME_BYTES    40u
#define ROWS_MAX      40u
#define ROW_VALUE_MAX 96u

/* ---- Arithmetic ------------------------------------------------------------------------------ */

static int64_t clamp64(i128 value)
{
    if (value > (i128)INT64_MAX) return INT64_MAX;
    if (value < (i128)INT64_MIN) return INT64_MIN;
    return (int64_t)value;
}

/* num / den (den > 0) rounded to the nearest integer, ties to the even one. */
static i128 div_half_even(i128 num, i128 den)
{
    TK_ASSERT(den > 0);
    i128 q = num / den;
    i128 r = num % den;
    if (r < 0) { /* make it a floor division: num = q * den + r with 0 <= r < den */
        q -= 1;
        r += den;
    }
    TK_ASSERT(r >= 0 && r < den);
    i128 twice = 2 * r;
    if (twice > den) return q + 1;
    if (twice == den && (q & 1) != 0) return q + 1;
    return q;
}

/* ---- Text helpers ---------------------------------------------------------------------------- */

/* Split ts_ns into whole seconds (floor) and nanoseconds 0..1e9-1. */
static void split_ns(int64_t ts_ns, int64_t *out_s, int64_t *out_ns)
{
    int64_t s = ts_ns / NS_PER_S;
    int64_t ns = ts_ns % NS_PER_S;
    if (ns < 0) {
        ns += NS_PER_S;
        s--;
    }
    *out_s = s;
    *out_ns = ns;
}

/* The time formats of the report (strftime's formats stay literals, so they are checked). */
typedef enum utc_style {
    UTC_SECONDS,  /* 2024-01-31T13:45:00 */
    UTC_DATE,     /* 2024-01-31 */
    UTC_DAY_TIME, /* 01-31 13:45 */
} utc_style;

/* ts_ns in UTC, in style, into out (size bytes); returns the length (0 and "" on failure). */
static size_t utc_format(int64_t ts_ns, utc_style style, char *out, size_t size)
{
    TK_ASSERT(size > 0);
    int64_t s, ns;
    split_ns(ts_ns, &s, &ns);
    time_t t = (time_t)s;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&t, &tm) != NULL) {
        switch (style) {
        case UTC_SECONDS:
            n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
            break;
        case UTC_DATE:
            n = strftime(out, size, "%Y-%m-%d", &tm);
            break;
        case UTC_DAY_TIME:
            n = strftime(out, size, "%m-%d %H:%M", &tm);
            break;
        }
    }
    if (n == 0) out[0] = '\0';
    return n;
}

/* ISO 8601 UTC: "2024-01-01T00:00:00Z", with ".nnnnnnnnn" before the Z when ns is not 0. */
static void iso_time(int64_t ts_ns, char out[TIME_BYTES])
{
    int64_t s, ns;
    split_ns(ts_ns, &s, &ns);
    size_t n = utc_format(ts_ns, UTC_SECONDS, out, TIME_BYTES);
    TK_ASSERT(n > 0 && n < TIME_BYTES - 12u);
    if (ns == 0) {
        snprintf(out + n, TIME_BYTES - n, "Z");
    } else {
        snprintf(out + n, TIME_BYTES - n, ".%09lldZ", (long long)ns);
    }
}

static void why_set(char *why, size_t why_size, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

static void why_set(char *why, size_t why_size, const char *fmt, ...)
{
    if (why == NULL || why_size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

/* ---- Trades by position netting -------------------------------------------------------------- */

/* A round trip in progress or just closed. Notionals are kept exact, as sums of price_e8 *
 * qty_e8 (1e-16 units), so a trade's PnL is rounded once. */
typedef struct trade {
    int64_t entry_ts_ns, exit_ts_ns;
    int sign;       /* +1 long, -1 short */
    i128 qty_e8;    /* total bought into the position (equals the total taken out once closed) */
    i128 entry_e16; /* sum of price * qty of the fills that grew the position */
    i128 exit_e16;  /* sum of price * qty of the fills that shrank it */
    i128 entry_e8;  /* cash those fills moved: each fill's notional rounded half-even, as the
                       ledger books it, so that trades reconcile with the account exactly */
    i128 exit_e8;
    i128 fees_e8; /* fees of those fills, a flipping fill's split by quantity */
} trade;

/* A fill's notional as the ledger books it: price * qty / 1e8, half-even. */
static i128 cash_e8(int64_t price_e8, i128 qty_e8)
{
    return div_half_even((i128)price_e8 * qty_e8, LED_SCALE);
}

/* A closed trade in report units. */
typedef struct trade_result {
    int64_t entry_ts_ns, exit_ts_ns;
    int sign;
    int64_t qty_e8, entry_price_e8, exit_price_e8, fees_e8;
    i128 pnl_e8; /* net of fees */
    double ret;  /* pnl / entry notional */
} trade_result;

typedef struct walker {
    i128 position_e8; /* signed */
    int64_t last_ts_ns;
    trade open; /* meaningful while position_e8 != 0 */
} walker;

static void trade_start(trade *t, const app_fill *f, int sign, i128 qty_e8, i128 fee_e8)
{
    TK_ASSERT(qty_e8 > 0);
    TK_ASSERT(fee_e8 >= 0);
    t->entry_ts_ns = f->ts_ns;
    t->exit_ts_ns = f->ts_ns;
    t->sign = sign;
    t->qty_e8 = qty_e8;
    t->entry_e16 = (i128)f->price_e8 * qty_e8;
    t->exit_e16 = 0;
    t->entry_e8 = cash_e8(f->price_e8, qty_e8);
    t->exit_e8 = 0;
    t->fees_e8 = fee_e8;
}

/* Fold one fill into the position. Returns true, with the trade in *closed, when the fill
 * brought the position back to 0 or through it (a flip: the rest opens the next trade). */
static bool walker_fill(walker *w, const app_fill *f, trade *closed)
{
    TK_ASSERT(f->qty_e8 > 0 && f->price_e8 > 0 && f->fee_e8 >= 0);
    TK_ASSERT(f->ts_ns >= w->last_ts_ns); /* fills come in time order */
    w->last_ts_ns = f->ts_ns;
    int sign = f->side == LED_SIDE_BUY ? 1 : -1;
    i128 qty = f->qty_e8;
    if (w->position_e8 == 0) {
        trade_start(&w->open, f, sign, qty, f->fee_e8);
        w->position_e8 = sign * qty;
        return false;
    }
    trade *t = &w->open;
    if (sign == t->sign) { /* the position grows */
        t->qty_e8 += qty;
        t->entry_e16 += (i128)f->price_e8 * qty;
        t->entry_e8 += cash_e8(f->price_e8, qty);
        t->fees_e8 += f->fee_e8;
        w->position_e8 += sign * qty;
        return false;
    }
    i128 held = w->position_e8 * t->sign;
    TK_ASSERT(held > 0);
    if (qty < held) { /* it shrinks */
        t->exit_e16 += (i128)f->price_e8 * qty;
        t->exit_e8 += cash_e8(f->price_e8, qty);
        t->fees_e8 += f->fee_e8;
        w->position_e8 += sign * qty;
        return false;
    }
    /* it closes, and flips when qty > held: the fee is split by quantity, half-even */
    i128 close_fee = qty == held ? f->fee_e8 : div_half_even((i128)f->fee_e8 * held, qty);
    t->exit_e16 += (i128)f->price_e8 * held;
    t->exit_e8 += cash_e8(f->price_e8, held);
    t->fees_e8 += close_fee;
    t->exit_ts_ns = f->ts_ns;
    *closed = *t;
    i128 rest = qty - held;
    w->position_e8 = sign * rest;
    if (rest > 0) trade_start(&w->open, f, sign, rest, f->fee_e8 - close_fee);
    return true;
}

static void trade_settle(const trade *t, trade_result *out)
{
    TK_ASSERT(t->qty_e8 > 0);
    TK_ASSERT(t->entry_e16 > 0);
    out->entry_ts_ns = t->entry_ts_ns;
    out->exit_ts_ns = t->exit_ts_ns;
    out->sign = t->sign;
    out->qty_e8 = clamp64(t->qty_e8);
    out->entry_price_e8 = clamp64(div_half_even(t->entry_e16, t->qty_e8));
    out->exit_price_e8 = clamp64(div_half_even(t->exit_e16, t->qty_e8));
    out->fees_e8 = clamp64(t->fees_e8);
    i128 gross_e8 = t->sign * (t->exit_e8 - t->entry_e8);
    out->pnl_e8 = gross_e8 - t->fees_e8;
    out->ret = (double)out->pnl_e8 * (double)LED_SCALE / (double)t->entry_e16;
}

/* ---- Metrics --------------------------------------------------------------------------------- */

/* One pass over the equity points. mean and m2 follow B. P. Welford, "Note on a method for
 * calculating corrected sums of squares and products", Technometrics 4(3), 1962. */
typedef struct equity_acc {
    int64_t prev_e8;
    uint64_t returns;
    double mean, m2, down_sq;
    int64_t peak_e8, peak_ts_ns;
    bool underwater;
    uint64_t exposed;
} equity_acc;

static void acc_return(equity_acc *a, int64_t equity_e8)
{
    if (a->prev_e8 <= 0) return; /* no return from an account at or below zero */
    double r = (double)(equity_e8 - a->prev_e8) / (double)a->prev_e8;
    a->returns++;
    double delta = r - a->mean;
    a->mean += delta / (double)a->returns;
    a->m2 += delta * (r - a->mean);
    if (r < 0) a->down_sq += r * r;
}

static void acc_drawdown(equity_acc *a, const app_equity_point *p, app_report_metrics *m)
{
    if (p->equity_e8 >= a->peak_e8) { /* a new peak, or the old one regained */
        if (a->underwater) {
            int64_t dur_s = (p->ts_ns - a->peak_ts_ns) / NS_PER_S;
            if (dur_s > m->max_drawdown_duration_s) m->max_drawdown_duration_s = dur_s;
        }
        a->peak_e8 = p->equity_e8;
        a->peak_ts_ns = p->ts_ns;
        a->underwater = false;
        return;
    }
    a->underwater = true;
    TK_ASSERT(a->peak_e8 > 0);
    double dd = (double)(a->peak_e8 - p->equity_e8) / (double)a->peak_e8;
    if (dd > m->max_drawdown) {
        m->max_drawdown = dd;
        m->max_drawdown_peak_ts_ns = a->peak_ts_ns;
        m->max_drawdown_trough_ts_ns = p->ts_ns;
    }
}

static void equity_pass(const app_report_input *in, app_report_metrics *m, equity_acc *a)
{
    a->prev_e8 = in->initial_equity_e8;
    a->peak_e8 = in->initial_equity_e8;
    a->peak_ts_ns = in->point_count > 0 ? in->points[0].ts_ns : 0;
    for (size_t i = 0; i < in->point_count; i++) {
        const app_equity_point *p = &in->points[i];
        if (i > 0) TK_ASSERT(p->ts_ns >= in->points[i - 1].ts_ns); /* points in time order */
        acc_return(a, p->equity_e8);
        acc_drawdown(a, p, m);
        if (p->position_e8 != 0) a->exposed++;
        a->prev_e8 = p->equity_e8;
    }
    m->bars = (uint64_t)in->point_count;
    if (in->point_count == 0) return;
    m->start_ts_ns = in->points[0].ts_ns;
    m->end_ts_ns = in->points[in->point_count - 1].ts_ns;
    m->final_equity_e8 = in->points[in->point_count - 1].equity_e8;
    if (a->underwater) { /* the last drawdown lasts until the end */
        int64_t dur_s = (m->end_ts_ns - a->peak_ts_ns) / NS_PER_S;
        if (dur_s > m->max_drawdown_duration_s) m->max_drawdown_duration_s = dur_s;
    }
}

static void equity_ratios(const app_report_input *in, app_report_metrics *m, const equity_acc *a)
{
    double per_year = YEAR_S / (double)in->interval_s;
    double root = sqrt(per_year);
    m->total_return =
        (double)(m->final_equity_e8 - m->initial_equity_e8) / (double)m->initial_equity_e8;
    double years = (double)(m->end_ts_ns - m->start_ts_ns) / ((double)NS_PER_S * YEAR_S);
    m->cagr = NAN;
    if (years > 0) {
        double growth = (double)m->final_equity_e8 / (double)m->initial_equity_e8;
        m->cagr = growth > 0 ? pow(growth, 1.0 / years) - 1.0 : -1.0;
    }
    m->volatility = NAN;
    m->sharpe = NAN;
    if (a->returns >= 2) {
        double sd = sqrt(a->m2 / (double)(a->returns - 1));
        m->volatility = sd * root;
        if (sd > 0) m->sharpe = a->mean / sd * root;
    }
    m->sortino = NAN;
    if (a->returns >= 1) {
        double down = sqrt(a->down_sq / (double)a->returns);
        if (down > 0) m->sortino = a->mean / down * root;
    }
    m->calmar = NAN;
    if (m->max_drawdown > 0 && isfinite(m->cagr)) m->calmar = m->cagr / m->max_drawdown;
    m->exposure = m->bars > 0 ? (double)a->exposed / (double)m->bars : NAN;
}

typedef struct trade_acc {
    i128 pnl_sum, profit, loss;
    double ret_sum, hold_s_sum;
} trade_acc;

static void trade_count(const trade_result *t, app_report_metrics *m, trade_acc *a)
{
    int64_t pnl = clamp64(t->pnl_e8);
    if (m->trades == 0 || pnl > m->best_trade_e8) m->best_trade_e8 = pnl;
    if (m->trades == 0 || pnl < m->worst_trade_e8) m->worst_trade_e8 = pnl;
    m->trades++;
    if (t->sign > 0) {
        m->long_trades++;
    } else {
        m->short_trades++;
    }
    if (t->pnl_e8 > 0) {
        m->winning_trades++;
        a->profit += t->pnl_e8;
    } else if (t->pnl_e8 < 0) {
        m->losing_trades++;
        a->loss -= t->pnl_e8;
    }
    a->pnl_sum += t->pnl_e8;
    a->ret_sum += t->ret;
    a->hold_s_sum += (double)(t->exit_ts_ns - t->entry_ts_ns) / (double)NS_PER_S;
}

static void trade_pass(const app_report_input *in, app_report_metrics *m)
{
    walker w = {.position_e8 = 0, .last_ts_ns = INT64_MIN};
    trade_acc a = {0};
    i128 fees = 0;
    for (size_t i = 0; i < in->fill_count; i++) {
        fees += in->fills[i].fee_e8;
        trade closed;
        if (!walker_fill(&w, &in->fills[i], &closed)) continue;
        trade_result t;
        trade_settle(&closed, &t);
        trade_count(&t, m, &a);
    }
    m->fills = (uint64_t)in->fill_count;
    m->fees_e8 = clamp64(fees);
    m->open_position_e8 = clamp64(w.position_e8);
    m->gross_profit_e8 = clamp64(a.profit);
    m->gross_loss_e8 = clamp64(a.loss);
    m->win_rate = NAN;
    m->avg_trade_return = NAN;
    m->avg_holding_s = NAN;
    if (m->trades > 0) {
        m->win_rate = (double)m->winning_trades / (double)m->trades;
        m->avg_trade_e8 = clamp64(div_half_even(a.pnl_sum, (i128)m->trades));
        m->avg_trade_return = a.ret_sum / (double)m->trades;
        m->avg_holding_s = a.hold_s_sum / (double)m->trades;
    }
    m->profit_factor = NAN;
    if (a.loss > 0) m->profit_factor = (double)a.profit / (double)a.loss;
}

void app_report_compute(const app_report_input *in, app_report_metrics *out)
{
    TK_ASSERT(in != NULL && out != NULL);
    TK_ASSERT(in->initial_equity_e8 > 0);
    TK_ASSERT(in->interval_s > 0);
    if (in->point_count > 0) TK_ASSERT(in->points != NULL);
    if (in->fill_count > 0) TK_ASSERT(in->fills != NULL);
    if (in->data_file_count > 0) TK_ASSERT(in->data_files != NULL);
    memset(out, 0, sizeof(*out));
    out->interval_s = in->interval_s;
    out->initial_equity_e8 = in->initial_equity_e8;
    out->final_equity_e8 = in->initial_equity_e8;
    equity_acc acc = {0};
    equity_pass(in, out, &acc);
    out->net_pnl_e8 = clamp64((i128)out->final_equity_e8 - out->initial_equity_e8);
    equity_ratios(in, out, &acc);
    trade_pass(in, out);
    if (in->state_hash_hex != NULL) {
        snprintf(out->state_hash_hex, sizeof(out->state_hash_hex), "%s", in->state_hash_hex);
    }
    out->events = in->events;
    TK_ASSERT(out->max_drawdown >= 0);
    TK_ASSERT(out->winning_trades + out->losing_trades <= out->trades);
}

/* ---- The table (app_report_print and report.html) -------------------------------------------- */

typedef struct row {
    const char *label;
    char value[ROW_VALUE_MAX];
} row;

typedef struct rows {
    row r[ROWS_MAX];
    size_t count;
} rows;

static void row_add(rows *t, const char *label, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

static void row_add(rows *t, const char *label, const char *fmt, ...)
{
    TK_ASSERT(t->count < ROWS_MAX);
    row *r = &t->r[t->count++];
    r->label = label;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->value, sizeof(r->value), fmt, ap);
    va_end(ap);
}

static void row_money(rows *t, const char *label, int64_t value_e8)
{
    char text[LED_DECIMAL_BYTES_MAX];
    (void)led_format(value_e8, text, sizeof(text));
    row_add(t, label, "%s", text);
}

/* A fraction as a percentage with two decimals; "-" when undefined. */
static void row_pct(rows *t, const char *label, double value)
{
    if (isfinite(value)) {
        row_add(t, label, "%.2f%%", value * 100.0);
    } else {
        row_add(t, label, "-");
    }
}

static void row_ratio(rows *t, const char *label, double value)
{
    if (isfinite(value)) {
        row_add(t, label, "%.3f", value);
    } else {
        row_add(t, label, "-");
    }
}

/* Seconds as "3d 04:05:06". */
static void row_duration(rows *t, const char *label, double seconds)
{
    if (!isfinite(seconds)) {
        row_add(t, label, "-");
        return;
    }
    long long s = llround(seconds);
    row_add(t, label, "%lldd %02lld:%02lld:%02lld", s / 86400, s % 86400 / 3600, s % 3600 / 60,
            s % 60);
}

static void row_time(rows *t, const char *label, int64_t ts_ns, bool known)
{
    char text[TIME_BYTES];
    if (known) {
        iso_time(ts_ns, text);
        row_add(t, label, "%s", text);
    } else {
        row_add(t, label, "-");
    }
}

static void rows_run(const app_report_metrics *m, rows *t)
{
    row_time(t, "Start", m->start_ts_ns, m->bars > 0);
    row_time(t, "End", m->end_ts_ns, m->bars > 0);
    row_add(t, "Bars", "%llu", (unsigned long long)m->bars);
    row_money(t, "Initial equity", m->initial_equity_e8);
    row_money(t, "Final equity", m->final_equity_e8);
    row_money(t, "Net PnL", m->net_pnl_e8);
    row_pct(t, "Total return", m->total_return);
    row_pct(t, "CAGR", m->cagr);
    row_pct(t, "Volatility (annualised)", m->volatility);
    row_ratio(t, "Sharpe ratio", m->sharpe);
    row_ratio(t, "Sortino ratio", m->sortino);
    row_ratio(t, "Calmar ratio", m->calmar);
    row_pct(t, "Max drawdown", m->max_drawdown);
    row_time(t, "Max drawdown peak", m->max_drawdown_peak_ts_ns, m->max_drawdown > 0);
    row_time(t, "Max drawdown trough", m->max_drawdown_trough_ts_ns, m->max_drawdown > 0);
    row_duration(t, "Max drawdown duration", (double)m->max_drawdown_duration_s);
    row_pct(t, "Exposure", m->exposure);
}

static void rows_trades(const app_report_metrics *m, rows *t)
{
    row_add(t, "Trades", "%llu (%llu long, %llu short)", (unsigned long long)m->trades,
            (unsigned long long)m->long_trades, (unsigned long long)m->short_trades);
    row_add(t, "Winning / losing trades", "%llu / %llu", (unsigned long long)m->winning_trades,
            (unsigned long long)m->losing_trades);
    row_pct(t, "Win rate", m->win_rate);
    row_ratio(t, "Profit factor", m->profit_factor);
    row_money(t, "Gross profit", m->gross_profit_e8);
    row_money(t, "Gross loss", m->gross_loss_e8);
    if (m->trades > 0) {
        row_money(t, "Average trade", m->avg_trade_e8);
        row_money(t, "Best trade", m->best_trade_e8);
        row_money(t, "Worst trade", m->worst_trade_e8);
    } else {
        row_add(t, "Average trade", "-");
        row_add(t, "Best trade", "-");
        row_add(t, "Worst trade", "-");
    }
    row_pct(t, "Average trade return", m->avg_trade_return);
    row_duration(t, "Average holding time", m->avg_holding_s);
    row_money(t, "Fees", m->fees_e8);
    row_add(t, "Fills", "%llu", (unsigned long long)m->fills);
    row_money(t, "Open position", m->open_position_e8);
    row_add(t, "Ledger events", "%llu", (unsigned long long)m->events);
    row_add(t, "State hash", "%s", m->state_hash_hex[0] != '\0' ? m->state_hash_hex : "-");
}

static void rows_all(const app_report_metrics *m, rows *t)
{
    t->count = 0;
    rows_run(m, t);
    rows_trades(m, t);
    TK_ASSERT(t->count <= ROWS_MAX);
}

void app_report_print(const app_report_metrics *m, FILE *out)
{
    TK_ASSERT(m != NULL);
    TK_ASSERT(out != NULL);
    rows t;
    rows_all(m, &t);
    for (size_t i = 0; i < t.count; i++) {
        fprintf(out, "%-26s %s\n", t.r[i].label, t.r[i].value);
    }
}

/* ---- report.json ----------------------------------------------------------------------------- */

/* An object under construction; ok turns false when any value or insertion failed (OOM). */
typedef struct jobj {
    json_t *obj;
    bool ok;
} jobj;

/* Insert value (moved: released on failure too, as json_object_set_new does). */
static void jput(jobj *o, const char *key, json_t *value)
{
    if (o->obj == NULL) {
        json_decref(value);
        o->ok = false;
        return;
    }
    if (json_object_set_new(o->obj, key, value) != 0) o->ok = false;
}

/* A JSON string of text (NULL: ""). Text that is not valid UTF-8 is written with each byte
 * outside ASCII replaced by '?', as the log does. NULL when out of memory. */
static json_t *jtext(const char *text)
{
    if (text == NULL) text = "";
    json_t *value = json_string(text);
    if (value != NULL) return value;
    size_t len = strlen(text);
    char *copy = malloc(len + 1u);
    if (copy == NULL) return NULL;
    for (size_t i = 0; i <= len; i++) {
        copy[i] = (unsigned char)text[i] < 0x80u ? text[i] : '?';
    }
    value = json_string(copy);
    free(copy);
    return value;
}

static void jstr(jobj *o, const char *key, const char *text)
{
    jput(o, key, jtext(text));
}

static void jint(jobj *o, const char *key, int64_t value)
{
    jput(o, key, json_integer((json_int_t)value));
}

static void jcount(jobj *o, const char *key, uint64_t value)
{
    jint(o, key, value > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)value);
}

/* A ratio: null when undefined (jansson refuses non-finite reals anyway). */
static void jreal(jobj *o, const char *key, double value)
{
    jput(o, key, isfinite(value) ? json_real(value) : json_null());
}

/* Money as an exact decimal string ("1234.5"), as `troika replay` writes it. */
static void jmoney(jobj *o, const char *key, int64_t value_e8)
{
    char text[LED_DECIMAL_BYTES_MAX];
    (void)led_format(value_e8, text, sizeof(text));
    jstr(o, key, text);
}

static void jtime(jobj *o, const char *key, int64_t ts_ns, bool known)
{
    char text[TIME_BYTES];
    if (!known) {
        jput(o, key, json_null());
        return;
    }
    iso_time(ts_ns, text);
    jstr(o, key, text);
}

static json_t *json_run(const app_report_input *in, const app_report_metrics *m, bool *ok)
{
    jobj o = {json_object(), true};
    jstr(&o, "strategy", in->strategy);
    jstr(&o, "symbol", in->symbol);
    jstr(&o, "quote", in->quote);
    json_t *files = json_array();
    for (size_t i = 0; i < in->data_file_count && files != NULL; i++) {
        if (json_array_append_new(files, jtext(in->data_files[i])) != 0) o.ok = false;
    }
    jput(&o, "data_files", files);
    jint(&o, "interval_s", m->interval_s);
    jcount(&o, "bars", m->bars);
    jtime(&o, "start", m->start_ts_ns, m->bars > 0);
    jtime(&o, "end", m->end_ts_ns, m->bars > 0);
    jint(&o, "start_ts_ns", m->start_ts_ns);
    jint(&o, "end_ts_ns", m->end_ts_ns);
    jmoney(&o, "initial_equity", m->initial_equity_e8);
    jmoney(&o, "final_equity", m->final_equity_e8);
    jmoney(&o, "net_pnl", m->net_pnl_e8);
    jmoney(&o, "fees", m->fees_e8);
    jcount(&o, "fills", m->fills);
    jmoney(&o, "open_position", m->open_position_e8);
    if (!o.ok) *ok = false;
    return o.obj;
}

static json_t *json_returns(const app_report_metrics *m, bool *ok)
{
    jobj o = {json_object(), true};
    jreal(&o, "total_return", m->total_return);
    jreal(&o, "cagr", m->cagr);
    jreal(&o, "volatility", m->volatility);
    jreal(&o, "sharpe", m->sharpe);
    jreal(&o, "sortino", m->sortino);
    jreal(&o, "calmar", m->calmar);
    jreal(&o, "max_drawdown", m->max_drawdown);
    jtime(&o, "max_drawdown_peak", m->max_drawdown_peak_ts_ns, m->max_drawdown > 0);
    jtime(&o, "max_drawdown_trough", m->max_drawdown_trough_ts_ns, m->max_drawdown > 0);
    jint(&o, "max_drawdown_duration_s", m->max_drawdown_duration_s);
    jreal(&o, "exposure", m->exposure);
    if (!o.ok) *ok = false;
    return o.obj;
}

static json_t *json_trades(const app_report_metrics *m, bool *ok)
{
    jobj o = {json_object(), true};
    bool any = m->trades > 0;
    jcount(&o, "trades", m->trades);
    jcount(&o, "winning_trades", m->winning_trades);
    jcount(&o, "losing_trades", m->losing_trades);
    jcount(&o, "long_trades", m->long_trades);
    jcount(&o, "short_trades", m->short_trades);
    jreal(&o, "win_rate", m->win_rate);
    jreal(&o, "profit_factor", m->profit_factor);
    jmoney(&o, "gross_profit", m->gross_profit_e8);
    jmoney(&o, "gross_loss", m->gross_loss_e8);
    if (any) {
        jmoney(&o, "avg_trade", m->avg_trade_e8);
        jmoney(&o, "best_trade", m->best_trade_e8);
        jmoney(&o, "worst_trade", m->worst_trade_e8);
    } else {
        jput(&o, "avg_trade", json_null());
        jput(&o, "best_trade", json_null());
        jput(&o, "worst_trade", json_null());
    }
    jreal(&o, "avg_trade_return", m->avg_trade_return);
    jreal(&o, "avg_holding_s", m->avg_holding_s);
    if (!o.ok) *ok = false;
    return o.obj;
}

/* The whole document; NULL when out of memory. */
static json_t *json_report(const app_report_input *in, const app_report_metrics *m)
{
    jobj root = {json_object(), true};
    jstr(&root, "report", "troika backtest");
    jint(&root, "version", 1);
    /* The summary a reader looks for first, at the top level under these names (issue 5);
     * the sections after it hold every figure. */
    jcount(&root, "trades", m->trades);
    jreal(&root, "total_return", m->total_return);
    jreal(&root, "cagr", m->cagr);
    jreal(&root, "sharpe", m->sharpe);
    jreal(&root, "sortino", m->sortino);
    jreal(&root, "max_drawdown", m->max_drawdown);
    jint(&root, "max_drawdown_duration", m->max_drawdown_duration_s);
    jreal(&root, "win_rate", m->win_rate);
    jreal(&root, "profit_factor", m->profit_factor);
    jreal(&root, "exposure", m->exposure);
    jmoney(&root, "fees", m->fees_e8);
    jmoney(&root, "final_equity", m->final_equity_e8);
    jstr(&root, "state_hash", m->state_hash_hex);
    jput(&root, "run", json_run(in, m, &root.ok));
    jput(&root, "returns", json_returns(m, &root.ok));
    jput(&root, "trade_stats", json_trades(m, &root.ok));
    jobj ledger = {json_object(), true};
    jstr(&ledger, "state_hash", m->state_hash_hex);
    jcount(&ledger, "events", m->events);
    if (!ledger.ok) root.ok = false;
    jput(&root, "ledger", ledger.obj);
    if (root.ok) return root.obj;
    json_decref(root.obj);
    return NULL;
}

static tk_err write_json(FILE *f, const app_report_input *in, const app_report_metrics *m)
{
    json_t *root = json_report(in, m);
    if (root == NULL) return TK_ENOMEM;
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (text == NULL) return TK_ENOMEM;
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return TK_OK;
}

/* ---- trades.csv ------------------------------------------------------------------------------ */

static void csv_money(FILE *f, int64_t value_e8, char sep)
{
    char text[LED_DECIMAL_BYTES_MAX];
    (void)led_format(value_e8, text, sizeof(text));
    fputs(text, f);
    fputc(sep, f);
}

static void csv_trade(FILE *f, const trade_result *t)
{
    char entry[TIME_BYTES], exit_time[TIME_BYTES];
    iso_time(t->entry_ts_ns, entry);
    iso_time(t->exit_ts_ns, exit_time);
    fprintf(f, "%s,%s,%s,", entry, exit_time, t->sign > 0 ? "long" : "short");
    csv_money(f, t->qty_e8, ',');
    csv_money(f, t->entry_price_e8, ',');
    csv_money(f, t->exit_price_e8, ',');
    csv_money(f, clamp64(t->pnl_e8), ',');
    csv_money(f, t->fees_e8, ',');
    fprintf(f, "%.8f\n", t->ret);
}

static tk_err write_csv(FILE *f, const app_report_input *in, const app_report_metrics *m)
{
    TK_ASSERT(m != NULL);
    fputs("entry_time,exit_time,side,qty,entry_price,exit_price,pnl,fees,return\n", f);
    walker w = {.position_e8 = 0, .last_ts_ns = INT64_MIN};
    uint64_t written = 0;
    for (size_t i = 0; i < in->fill_count; i++) {
        trade closed;
        if (!walker_fill(&w, &in->fills[i], &closed)) continue;
        trade_result t;
        trade_settle(&closed, &t);
        csv_trade(f, &t);
        written++;
    }
    TK_ASSERT(written == m->trades); /* m came from the same input */
    return TK_OK;
}

/* ---- report.html ----------------------------------------------------------------------------- */

/* Text for HTML content and attribute values: the five characters with a meaning escaped. */
static void html_text(FILE *f, const char *text)
{
    for (const char *p = text != NULL ? text : ""; *p != '\0'; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*p, f);
            break;
        }
    }
}

/* A chart's points after downsampling: y in display units (quote units, or percent). */
typedef struct chart_pt {
    int64_t ts_ns;
    double y;
} chart_pt;

typedef struct chart_series {
    chart_pt *pts; /* borrowed: APP_REPORT_CHART_POINTS_MAX slots */
    size_t count;
} chart_series;

/* The lowest and highest point of one slice of the bars, with their indices. */
typedef struct bucket {
    bool used;
    size_t lo_i, hi_i;
    chart_pt lo, hi;
} bucket;

static void bucket_add(bucket *b, size_t i, int64_t ts_ns, double y)
{
    chart_pt p = {ts_ns, y};
    if (!b->used || y < b->lo.y) {
        b->lo = p;
        b->lo_i = i;
    }
    if (!b->used || y > b->hi.y) {
        b->hi = p;
        b->hi_i = i;
    }
    b->used = true;
}

/* Emit the slice's low and high in bar order (once when they are the same bar). */
static void bucket_flush(bucket *b, chart_series *s)
{
    if (!b->used) return;
    TK_ASSERT(s->count + 2u <= APP_REPORT_CHART_POINTS_MAX);
    if (b->lo_i == b->hi_i) {
        s->pts[s->count++] = b->lo;
    } else if (b->lo_i < b->hi_i) {
        s->pts[s->count++] = b->lo;
        s->pts[s->count++] = b->hi;
    } else {
        s->pts[s->count++] = b->hi;
        s->pts[s->count++] = b->lo;
    }
    b->used = false;
}

/* One pass: the equity curve and the drawdown (percent below the running peak, <= 0), each cut
 * to at most APP_REPORT_CHART_POINTS_MAX points by keeping each slice's extremes. */
static void chart_sample(const app_report_input *in, chart_series *equity, chart_series *dd)
{
    size_t n = in->point_count;
    size_t slices = n < APP_REPORT_CHART_POINTS_MAX / 2u ? n : APP_REPORT_CHART_POINTS_MAX / 2u;
    bucket be = {0}, bd = {0};
    size_t current = 0;
    int64_t peak_e8 = in->initial_equity_e8;
    for (size_t i = 0; i < n; i++) {
        size_t slice = (size_t)((uint64_t)i * (uint64_t)slices / (uint64_t)n);
        if (slice != current) {
            bucket_flush(&be, equity);
            bucket_flush(&bd, dd);
            current = slice;
        }
        const app_equity_point *p = &in->points[i];
        if (p->equity_e8 > peak_e8) peak_e8 = p->equity_e8;
        double down = -100.0 * (double)(peak_e8 - p->equity_e8) / (double)peak_e8;
        bucket_add(&be, i, p->ts_ns, (double)p->equity_e8 / (double)LED_SCALE);
        bucket_add(&bd, i, p->ts_ns, down);
    }
    bucket_flush(&be, equity);
    bucket_flush(&bd, dd);
    TK_ASSERT(equity->count <= APP_REPORT_CHART_POINTS_MAX);
    TK_ASSERT(dd->count <= APP_REPORT_CHART_POINTS_MAX);
}

/* Geometry of every chart, in SVG user units. */
enum { SVG_W = 960, SVG_H = 320, PAD_L = 96, PAD_R = 24, PAD_T = 40, PAD_B = 44 };
#define PLOT_W ((double)(SVG_W - PAD_L - PAD_R))
#define PLOT_H ((double)(SVG_H - PAD_T - PAD_B))

typedef struct chart_style {
    const char *title; /* static */
    const char *unit;  /* y axis unit shown in the title, escaped (the quote asset) */
    const char *color; /* static */
    bool area;         /* fill between the curve and 0 (drawdown) */
    bool percent;      /* tick labels with a % sign */
} chart_style;

/* The y range rounded out to a "nice" tick step (1, 2, 2.5 or 5 times a power of ten). */
typedef struct axis {
    double lo, hi, step;
    int ticks;    /* tick count - 1: ticks at lo + k * step, k = 0..ticks */
    int decimals; /* for the labels */
} axis;

static void axis_fit(double y_min, double y_max, axis *a)
{
    double range = y_max - y_min;
    if (!(range > 0)) range = fabs(y_max) > 0 ? fabs(y_max) * 0.1 : 1.0;
    double raw = range / 5.0;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double mult = norm <= 1.0   ? 1.0
                  : norm <= 2.0 ? 2.0
                  : norm <= 2.5 ? 2.5
                  : norm <= 5.0 ? 5.0
                                : 10.0;
    a->step = mult * mag;
    a->lo = floor(y_min / a->step) * a->step;
    a->hi = ceil(y_max / a->step) * a->step;
    if (!(a->hi > a->lo)) a->hi = a->lo + a->step;
    a->ticks = (int)llround((a->hi - a->lo) / a->step);
    TK_ASSERT(a->ticks >= 1 && a->ticks <= 16);
    a->decimals = 0;
    double scaled = a->step;
    while (a->decimals < 8 && fabs(scaled - round(scaled)) > 1e-6 * scaled) {
        scaled *= 10.0;
        a->decimals++;
    }
}

static double px_x(int64_t ts_ns, int64_t t0, int64_t t1)
{
    if (t1 <= t0) return PAD_L + PLOT_W / 2.0;
    return PAD_L + (double)(ts_ns - t0) / (double)(t1 - t0) * PLOT_W;
}

static double px_y(double y, const axis *a)
{
    return PAD_T + (a->hi - y) / (a->hi - a->lo) * PLOT_H;
}

static void svg_y_axis(FILE *f, const axis *a, const chart_style *st)
{
    for (int k = 0; k <= a->ticks; k++) {
        double v = a->lo + (double)k * a->step + 0.0; /* + 0.0 turns -0 into 0 */
        if (fabs(v) < a->step * 1e-9) v = 0.0;
        double y = px_y(v, a);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                PAD_L, y, SVG_W - PAD_R, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.*f%s</text>\n", PAD_L - 6,
                y + 4.0, a->decimals, v, st->percent ? "%" : "");
    }
}

static void svg_x_axis(FILE *f, int64_t t0, int64_t t1)
{
    bool days = t1 - t0 >= 2 * 86400 * NS_PER_S;
    int last = t1 > t0 ? 4 : 0; /* one bar: one tick, in the middle */
    for (int k = 0; k <= last; k++) {
        int64_t ts = t0 + (int64_t)((double)(t1 - t0) * (double)k / 4.0);
        double x = px_x(ts, t0, t1);
        char label[TIME_BYTES];
        (void)utc_format(ts, days ? UTC_DATE : UTC_DAY_TIME, label, sizeof(label));
        const char *anchor = (k == 0 && last > 0) ? "start" : (k == 4 ? "end" : "middle");
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/>\n", x,
                SVG_H - PAD_B, x, SVG_H - PAD_B + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x,
                SVG_H - PAD_B + 20, anchor, label);
    }
}

static void svg_curve(FILE *f, const chart_series *s, const axis *a, const chart_style *st)
{
    int64_t t0 = s->pts[0].ts_ns, t1 = s->pts[s->count - 1].ts_ns;
    if (st->area) {
        fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.35\" stroke=\"none\" points=\"%.1f,%.1f",
                st->color, px_x(t0, t0, t1), px_y(0.0, a));
    } else {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                st->color);
    }
    for (size_t i = 0; i < s->count; i++) {
        fprintf(f, "%s%.1f,%.1f", (i == 0 && !st->area) ? "" : " ", px_x(s->pts[i].ts_ns, t0, t1),
                px_y(s->pts[i].y, a));
    }
    if (st->area) fprintf(f, " %.1f,%.1f", px_x(t1, t0, t1), px_y(0.0, a));
    fputs("\"/>\n", f);
}

/* One chart as inline SVG: title, grid, labelled y ticks, dated x ticks, the curve. */
static void svg_chart(FILE *f, const chart_series *s, const chart_style *st)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" role=\"img\" aria-label=\"%s\">\n",
            SVG_W, SVG_H, SVG_W, SVG_H, st->title);
    fprintf(f, "<title>%s</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", st->title,
            SVG_W, SVG_H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s", PAD_L,
            st->title);
    if (st->unit != NULL && st->unit[0] != '\0') {
        fputs(" (", f);
        html_text(f, st->unit);
        fputc(')', f);
    }
    fputs("</text>\n<g font-size=\"11\" fill=\"#333\">\n", f);
    if (s->count == 0) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">no bars</text>\n</g>\n</svg>\n", PAD_L, SVG_H / 2);
        return;
    }
    double y_min = s->pts[0].y, y_max = s->pts[0].y;
    for (size_t i = 1; i < s->count; i++) {
        y_min = fmin(y_min, s->pts[i].y);
        y_max = fmax(y_max, s->pts[i].y);
    }
    if (st->area) y_max = 0.0; /* the drawdown axis always shows 0 at the top */
    axis a;
    axis_fit(y_min, y_max, &a);
    svg_y_axis(f, &a, st);
    svg_x_axis(f, s->pts[0].ts_ns, s->pts[s->count - 1].ts_ns);
    fputs("</g>\n", f);
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            PAD_L, PAD_T, PLOT_W, PLOT_H);
    svg_curve(f, s, &a, st);
    fputs("</svg>\n", f);
}

static void html_head(FILE *f, const app_report_input *in)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    fputs("troika backtest: ", f);
    html_text(f, in->strategy);
    fputs(" on ", f);
    html_text(f, in->symbol);
    fputs("</title>\n<style>\n"
          "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}\n"
          "table{border-collapse:collapse;margin:8px 0}\n"
          "th,td{padding:3px 12px;border-bottom:1px solid #e3e3e3}\n"
          "th{text-align:left;font-weight:normal;color:#555}\n"
          "td{text-align:right;font-family:ui-monospace,monospace}\n"
          "svg{display:block;margin:12px 0;font-family:system-ui,sans-serif}\n"
          ".note{color:#666;font-size:13px}\n"
          "</style>\n</head>\n<body>\n",
          f);
}

static void html_intro(FILE *f, const app_report_input *in, const app_report_metrics *m)
{
    fputs("<h1>Backtest: ", f);
    html_text(f, in->strategy);
    fputs(" on ", f);
    html_text(f, in->symbol);
    fputs("</h1>\n<p class=\"note\">", f);
    fprintf(f, "%llu bars of %llds, money in ", (unsigned long long)m->bars,
            (long long)m->interval_s);
    html_text(f, in->quote);
    fputs(". Data:", f);
    for (size_t i = 0; i < in->data_file_count; i++) {
        fputs(i == 0 ? " " : ", ", f);
        html_text(f, in->data_files[i]);
    }
    if (in->data_file_count == 0) fputs(" -", f);
    fputs(".</p>\n", f);
}

static tk_err write_html(FILE *f, const app_report_input *in, const app_report_metrics *m)
{
    chart_pt *pts = malloc(2u * APP_REPORT_CHART_POINTS_MAX * sizeof(chart_pt));
    if (pts == NULL) return TK_ENOMEM;
    chart_series equity = {pts, 0};
    chart_series dd = {pts + APP_REPORT_CHART_POINTS_MAX, 0};
    chart_sample(in, &equity, &dd);
    html_head(f, in);
    html_intro(f, in, m);
    rows t;
    rows_all(m, &t);
    fputs("<h2>Summary</h2>\n<table>\n", f);
    for (size_t i = 0; i < t.count; i++) {
        fputs("<tr><th>", f);
        html_text(f, t.r[i].label);
        fputs("</th><td>", f);
        html_text(f, t.r[i].value);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<h2>Equity and drawdown</h2>\n", f);
    chart_style eq_style = {"Equity", in->quote, "#1f5fa8", false, false};
    chart_style dd_style = {"Drawdown from peak", "%", "#c0392b", true, true};
    svg_chart(f, &equity, &eq_style);
    svg_chart(f, &dd, &dd_style);
    fprintf(f,
            "<p class=\"note\">Charts show at most %u points: longer runs keep the lowest "
            "and highest bar of each of %u equal slices.</p>\n</body>\n</html>\n",
            APP_REPORT_CHART_POINTS_MAX, APP_REPORT_CHART_POINTS_MAX / 2u);
    free(pts);
    return TK_OK;
}

/* ---- Files ----------------------------------------------------------------------------------- */

typedef tk_err (*file_writer)(FILE *f, const app_report_input *in, const app_report_metrics *m);

/* mkdir -p out_dir (mode 0755), then check that it is a directory. */
static tk_err make_dirs(const char *dir, char *why, size_t why_size)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path)) {
        why_set(why, why_size, "bad output directory \"%s\": empty or too long", dir);
        return TK_EINVAL;
    }
    memcpy(path, dir, len + 1u);
    for (size_t i = 1; i <= len; i++) { /* each prefix ending before a '/', then the whole */
        if (path[i] != '/' && path[i] != '\0') continue;
        if (path[i - 1] == '/') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            why_set(why, why_size, "cannot create directory %s: %s", path, strerror(e));
            return tk_err_from_errno(e);
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        why_set(why, why_size, "cannot use %s as the output directory: not a directory", dir);
        return TK_EIO;
    }
    return TK_OK;
}

static tk_err write_file(const char *dir, const char *name, file_writer fn,
                         const app_report_input *in, const app_report_metrics *m, char *why,
                         size_t why_size)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        why_set(why, why_size, "output path too long: %s/%s", dir, name);
        return TK_EINVAL;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        int e = errno;
        why_set(why, why_size, "cannot create %s: %s", path, strerror(e));
        return tk_err_from_errno(e);
    }
    tk_err err = fn(f, in, m);
    if (err != TK_OK) why_set(why, why_size, "cannot write %s: %s", path, tk_err_str(err));
    errno = 0;
    if (err == TK_OK && (fflush(f) != 0 || ferror(f))) {
        int e = errno;
        why_set(why, why_size, "cannot write %s: %s", path, strerror(e));
        err = e != 0 ? tk_err_from_errno(e) : TK_EIO;
    }
    if (fclose(f) != 0 && err == TK_OK) {
        int e = errno;
        why_set(why, why_size, "cannot close %s: %s", path, strerror(e));
        err = tk_err_from_errno(e);
    }
    return err;
}

tk_err app_report_write(const app_report_input *in, const app_report_metrics *m,
                        const char *out_dir, char *why, size_t why_size)
{
    TK_ASSERT(in != NULL && m != NULL && out_dir != NULL);
    TK_ASSERT(m->bars == (uint64_t)in->point_count); /* m belongs to in */
    TK_ASSERT(m->fills == (uint64_t)in->fill_count);
    if (why != NULL && why_size > 0) why[0] = '\0';
    tk_err err = make_dirs(out_dir, why, why_size);
    if (err != TK_OK) return err;
    err = write_file(out_dir, "report.json", write_json, in, m, why, why_size);
    if (err != TK_OK) return err;
    err = write_file(out_dir, "trades.csv", write_csv, in, m, why, why_size);
    if (err != TK_OK) return err;
    return write_file(out_dir, "report.html", write_html, in, m, why, why_size);
}
