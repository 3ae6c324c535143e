/* strategies/strat_ind*.c: every indicator against known answers computed independently in Python
 * over real bars (ind_vectors.h, from ind_reference.py), periods 1 and STRAT_PERIOD_MAX against
 * plain recomputation, refused periods, readiness, and the edge cases each definition has: RSI
 * with no losses, a flat series for Bollinger, extremes leaving the Donchian window, VWAP over
 * zero volume, running sums over long series and after a change of scale, and the bars that must
 * crash. Indicators live in static storage: some are tens of KiB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ind_vectors.h"
#include "strat.h"
#include "strategies_tests.h"
#include "tk_test.h"

#define REL_TOL 1e-9 /* for the outputs not fixed bit for bit by their formula's order */
#define E8      100000000.0

static double high_at(size_t t)
{
    return (double)iv_bars[t].high_e8;
}

static double low_at(size_t t)
{
    return (double)iv_bars[t].low_e8;
}

static double close_at(size_t t)
{
    return (double)iv_bars[t].close_e8;
}

static double volume_at(size_t t)
{
    return (double)iv_bars[t].volume_e8;
}

static uint64_t bits_of(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    return bits;
}

/* Fail unless got is want (rel_tol 0: the same bits) or within rel_tol of the larger magnitude. */
static void expect_close(const char *what, size_t t, double got, double want, double rel_tol)
{
    if (rel_tol == 0.0) {
        if (bits_of(got) != bits_of(want)) {
            fail_msg("%s at %zu: got %a (%.17g), want %a (%.17g)", what, t, got, got, want, want);
        }
        return;
    }
    const double scale = fmax(fabs(got), fabs(want));
    if (fabs(got - want) > rel_tol * scale) {
        fail_msg("%s at %zu: got %.17g, want %.17g (relative error %.3g)", what, t, got, want,
                 fabs(got - want) / scale);
    }
}

/* One output at bar t against the reference: readiness, then the value (0 while not ready). */
static void expect_point(const char *what, size_t t, bool ready, double got, const iv_value *want,
                         double rel_tol)
{
    if (ready != (want[t].ready != 0)) {
        fail_msg("%s at %zu: ready %d, want %d", what, t, ready, want[t].ready);
    }
    expect_close(what, t, got, want[t].value, want[t].ready ? rel_tol : 0.0);
}

/* ---- Known answers over real bars ------------------------------------------------------------ */

static void test_sma_reference(void **state)
{
    (void)state;
    static strat_sma sma;
    EXPECT_ERR(strat_sma_init(&sma, IV_SMA_PERIOD), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready = strat_sma_update(&sma, close_at(t));
        assert_true(ready == sma.ready);
        /* Exact, not just within REL_TOL: integer closes whose sums stay below 2^53 (strat.h). */
        expect_point("sma", t, ready, sma.value, iv_sma, 0.0);
    }
}

static void test_ema_reference(void **state)
{
    (void)state;
    strat_ema fast, slow;
    EXPECT_ERR(strat_ema_init(&fast, IV_EMA_FAST), TK_OK);
    EXPECT_ERR(strat_ema_init(&slow, IV_EMA_SLOW), TK_OK);
    assert_true(fast.alpha == 2.0 / 13.0);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool fast_ready = strat_ema_update(&fast, close_at(t));
        const bool slow_ready = strat_ema_update(&slow, close_at(t));
        assert_true(fast_ready == fast.ready);
        expect_point("ema fast", t, fast_ready, fast.value, iv_ema_fast, 0.0);
        expect_point("ema slow", t, slow_ready, slow.value, iv_ema_slow, 0.0);
    }
}

static void test_rsi_reference(void **state)
{
    (void)state;
    strat_rsi rsi, rsi_short;
    EXPECT_ERR(strat_rsi_init(&rsi, IV_RSI_PERIOD), TK_OK);
    EXPECT_ERR(strat_rsi_init(&rsi_short, IV_RSI_SHORT), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready = strat_rsi_update(&rsi, close_at(t));
        assert_true(ready == rsi.ready);
        expect_point("rsi", t, ready, rsi.value, iv_rsi, 0.0);
        const bool short_ready = strat_rsi_update(&rsi_short, close_at(t));
        expect_point("rsi short", t, short_ready, rsi_short.value, iv_rsi_short, 0.0);
    }
}

static void test_macd_reference(void **state)
{
    (void)state;
    strat_macd macd;
    EXPECT_ERR(strat_macd_init(&macd, IV_EMA_FAST, IV_EMA_SLOW, IV_MACD_SIGNAL), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready = strat_macd_update(&macd, close_at(t));
        assert_true(ready == macd.ready);
        expect_point("macd line", t, macd.line_ready, macd.line, iv_macd_line, 0.0);
        expect_point("macd signal", t, ready, macd.signal, iv_macd_signal, 0.0);
        expect_point("macd histogram", t, ready, macd.histogram, iv_macd_histogram, 0.0);
    }
}

static void test_atr_reference(void **state)
{
    (void)state;
    strat_atr atr, atr_short;
    EXPECT_ERR(strat_atr_init(&atr, IV_ATR_PERIOD), TK_OK);
    EXPECT_ERR(strat_atr_init(&atr_short, IV_ATR_SHORT), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready = strat_atr_update(&atr, high_at(t), low_at(t), close_at(t));
        assert_true(ready == atr.ready);
        expect_point("atr", t, ready, atr.value, iv_atr, 0.0);
        assert_true(atr.true_range >= high_at(t) - low_at(t));
        const bool short_ready = strat_atr_update(&atr_short, high_at(t), low_at(t), close_at(t));
        expect_point("atr short", t, short_ready, atr_short.value, iv_atr_short, 0.0);
    }
}

static void test_bollinger_reference(void **state)
{
    (void)state;
    static strat_bollinger bb;
    EXPECT_ERR(strat_bollinger_init(&bb, IV_BB_PERIOD, IV_BB_BAND_SD), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready = strat_bollinger_update(&bb, close_at(t));
        assert_true(ready == bb.ready);
        expect_point("bollinger middle", t, ready, bb.middle, iv_bb_middle, 0.0); /* an SMA */
        expect_point("bollinger upper", t, ready, bb.upper, iv_bb_upper, REL_TOL);
        expect_point("bollinger lower", t, ready, bb.lower, iv_bb_lower, REL_TOL);
        expect_point("bollinger stddev", t, ready, bb.stddev, iv_bb_stddev, REL_TOL);
    }
}

static void test_donchian_reference(void **state)
{
    (void)state;
    static strat_donchian dc;
    EXPECT_ERR(strat_donchian_init(&dc, IV_DC_PERIOD), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready = strat_donchian_update(&dc, high_at(t), low_at(t));
        assert_true(ready == dc.ready);
        expect_point("donchian upper", t, ready, dc.upper, iv_dc_upper, 0.0);
        expect_point("donchian lower", t, ready, dc.lower, iv_dc_lower, 0.0);
    }
}

static void test_vwap_reference(void **state)
{
    (void)state;
    static strat_vwap vwap;
    EXPECT_ERR(strat_vwap_init(&vwap, IV_VWAP_PERIOD), TK_OK);
    for (size_t t = 0; t < IV_BAR_COUNT; t++) {
        const bool ready =
            strat_vwap_update(&vwap, high_at(t), low_at(t), close_at(t), volume_at(t));
        assert_true(ready == vwap.ready);
        expect_point("vwap", t, ready, vwap.value, iv_vwap, REL_TOL);
    }
}

/* ---- Periods accepted and refused ------------------------------------------------------------ */

static strat_sma g_sma;
static strat_ema g_ema;
static strat_rsi g_rsi;
static strat_macd g_macd;
static strat_atr g_atr;
static strat_bollinger g_bb;
static strat_donchian g_dc;
static strat_vwap g_vwap;

/* Every init with one period, and whether each left its struct untouched (marked). */
static void init_all(uint32_t period, tk_err want)
{
    tk_test_mark(&g_sma, sizeof(g_sma));
    tk_test_mark(&g_ema, sizeof(g_ema));
    tk_test_mark(&g_rsi, sizeof(g_rsi));
    tk_test_mark(&g_atr, sizeof(g_atr));
    tk_test_mark(&g_bb, sizeof(g_bb));
    tk_test_mark(&g_dc, sizeof(g_dc));
    tk_test_mark(&g_vwap, sizeof(g_vwap));
    EXPECT_ERR(strat_sma_init(&g_sma, period), want);
    EXPECT_ERR(strat_ema_init(&g_ema, period), want);
    EXPECT_ERR(strat_rsi_init(&g_rsi, period), want);
    EXPECT_ERR(strat_atr_init(&g_atr, period), want);
    EXPECT_ERR(strat_bollinger_init(&g_bb, period, 2.0), want);
    EXPECT_ERR(strat_donchian_init(&g_dc, period), want);
    EXPECT_ERR(strat_vwap_init(&g_vwap, period), want);
    const bool untouched = want != TK_OK;
    assert_true(tk_test_is_marked(&g_sma, sizeof(g_sma)) == untouched);
    assert_true(tk_test_is_marked(&g_ema, sizeof(g_ema)) == untouched);
    assert_true(tk_test_is_marked(&g_rsi, sizeof(g_rsi)) == untouched);
    assert_true(tk_test_is_marked(&g_atr, sizeof(g_atr)) == untouched);
    assert_true(tk_test_is_marked(&g_bb, sizeof(g_bb)) == untouched);
    assert_true(tk_test_is_marked(&g_dc, sizeof(g_dc)) == untouched);
    assert_true(tk_test_is_marked(&g_vwap, sizeof(g_vwap)) == untouched);
}

static void test_periods(void **state)
{
    (void)state;
    init_all(0u, TK_EINVAL);
    init_all(STRAT_PERIOD_MAX + 1u, TK_EINVAL);
    init_all(UINT32_MAX, TK_EINVAL);
    init_all(1u, TK_OK);
    init_all(STRAT_PERIOD_MAX - 1u, TK_OK);
    init_all(STRAT_PERIOD_MAX, TK_OK);
    assert_false(g_sma.ready);
    assert_true(g_ema.value == 0.0);
}

static void test_macd_and_bollinger_params(void **state)
{
    (void)state;
    const uint32_t max = STRAT_PERIOD_MAX;
    const uint32_t bad[][3] = {{0, 26, 9},      {12, 0, 9},       {12, 26, 0},
                               {26, 26, 9},     {27, 26, 9},      {max + 1, 2, 1},
                               {1, max + 1, 1}, {1, 2, max + 1u}, {max, max, max}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tk_test_mark(&g_macd, sizeof(g_macd));
        EXPECT_ERR(strat_macd_init(&g_macd, bad[i][0], bad[i][1], bad[i][2]), TK_EINVAL);
        if (!tk_test_is_marked(&g_macd, sizeof(g_macd))) fail_msg("case %zu: written", i);
    }
    EXPECT_ERR(strat_macd_init(&g_macd, 1u, 2u, 1u), TK_OK);
    EXPECT_ERR(strat_macd_init(&g_macd, max - 1u, max, max), TK_OK);
    assert_false(g_macd.line_ready);
    const double bad_sd[] = {0.0, -0.0, -2.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(bad_sd) / sizeof(bad_sd[0]); i++) {
        tk_test_mark(&g_bb, sizeof(g_bb));
        EXPECT_ERR(strat_bollinger_init(&g_bb, 20u, bad_sd[i]), TK_EINVAL);
        assert_true(tk_test_is_marked(&g_bb, sizeof(g_bb)));
    }
    EXPECT_ERR(strat_bollinger_init(&g_bb, 20u, 1e-300), TK_OK);
    assert_true(g_bb.band_sd == 1e-300);
}

/* ---- Readiness ---------------------------------------------------------------------------------
 */

static void test_not_ready_before_enough(void **state)
{
    (void)state;
    EXPECT_ERR(strat_sma_init(&g_sma, 5u), TK_OK);
    EXPECT_ERR(strat_ema_init(&g_ema, 5u), TK_OK);
    EXPECT_ERR(strat_rsi_init(&g_rsi, 5u), TK_OK);
    EXPECT_ERR(strat_macd_init(&g_macd, 3u, 5u, 2u), TK_OK);
    EXPECT_ERR(strat_atr_init(&g_atr, 5u), TK_OK);
    EXPECT_ERR(strat_bollinger_init(&g_bb, 5u, 2.0), TK_OK);
    EXPECT_ERR(strat_donchian_init(&g_dc, 5u), TK_OK);
    EXPECT_ERR(strat_vwap_init(&g_vwap, 5u), TK_OK);
    for (size_t t = 0; t < 7; t++) {
        const double h = high_at(t), l = low_at(t), c = close_at(t), v = volume_at(t);
        const bool enough = t + 1 >= 5; /* the 5th value is at t = 4 */
        assert_true(strat_sma_update(&g_sma, c) == enough);
        assert_true(strat_ema_update(&g_ema, c) == enough);
        assert_true(strat_rsi_update(&g_rsi, c) == (t + 1 >= 6));   /* 5 changes need 6 values */
        assert_true(strat_macd_update(&g_macd, c) == (t + 1 >= 6)); /* 5 + 2 - 1 */
        assert_true(g_macd.line_ready == enough);
        assert_true(strat_atr_update(&g_atr, h, l, c) == enough);
        assert_true(strat_bollinger_update(&g_bb, c) == enough);
        assert_true(strat_donchian_update(&g_dc, h, l) == enough);
        assert_true(strat_vwap_update(&g_vwap, h, l, c, v) == enough);
        if (!enough) {
            assert_true(g_sma.value == 0.0);
            assert_true(g_ema.value == 0.0);
            assert_true(g_atr.value == 0.0);
            assert_true(g_bb.upper == 0.0);
            assert_true(g_dc.upper == 0.0);
            assert_true(g_vwap.value == 0.0);
        }
        if (!g_rsi.ready) assert_true(g_rsi.value == 0.0);
        if (!g_macd.ready) assert_true(g_macd.signal == 0.0);
    }
}

/* ---- Period 1 -----------------------------------------------------------------------------------
 */

typedef struct hlcv {
    double high, low, close, volume;
} hlcv;

/* Whole units, scaled to 1e-8 units by the test. */
static const hlcv one_bars[] = {
    {110, 90, 100, 5}, {120, 95, 115, 0}, {118, 100, 105, 7},
    {105, 80, 85, 3},  {90, 85, 85, 2},   {130, 88, 125, 1},
};

static void test_period_one(void **state)
{
    (void)state;
    init_all(1u, TK_OK);
    EXPECT_ERR(strat_macd_init(&g_macd, 1u, 2u, 1u), TK_OK);
    double prev_close = 0.0;
    double last_vwap = 0.0;
    for (size_t t = 0; t < sizeof(one_bars) / sizeof(one_bars[0]); t++) {
        const double h = one_bars[t].high * E8, l = one_bars[t].low * E8;
        const double c = one_bars[t].close * E8, v = one_bars[t].volume * E8;
        assert_true(strat_sma_update(&g_sma, c));
        expect_close("sma(1)", t, g_sma.value, c, 0.0);
        assert_true(strat_ema_update(&g_ema, c));
        expect_close("ema(1)", t, g_ema.value, c, 0.0);
        assert_true(strat_rsi_update(&g_rsi, c) == (t > 0));
        if (t > 0) expect_close("rsi(1)", t, g_rsi.value, c >= prev_close ? 100.0 : 0.0, 0.0);
        assert_true(strat_atr_update(&g_atr, h, l, c));
        double tr = h - l;
        if (t > 0) tr = fmax(tr, fmax(fabs(h - prev_close), fabs(l - prev_close)));
        expect_close("atr(1)", t, g_atr.value, tr, 0.0);
        assert_true(strat_bollinger_update(&g_bb, c));
        expect_close("bollinger(1) stddev", t, g_bb.stddev, 0.0, 0.0);
        expect_close("bollinger(1) upper", t, g_bb.upper, c, 0.0);
        expect_close("bollinger(1) lower", t, g_bb.lower, c, 0.0);
        assert_true(strat_donchian_update(&g_dc, h, l));
        expect_close("donchian(1) upper", t, g_dc.upper, h, 0.0);
        expect_close("donchian(1) lower", t, g_dc.lower, l, 0.0);
        assert_true(strat_vwap_update(&g_vwap, h, l, c, v) == (v > 0.0));
        if (v > 0.0) last_vwap = (h + l + c) / 3.0;
        expect_close("vwap(1)", t, g_vwap.value, last_vwap, 1e-15); /* kept over volume 0 */
        assert_true(strat_macd_update(&g_macd, c) == (t > 0));
        if (t > 0) { /* signal = EMA(1) of the line: the line, give or take its rounding */
            assert_true(fabs(g_macd.histogram) <= 1e-15 * c);
            assert_true(fabs(g_macd.signal - g_macd.line) <= 1e-15 * c);
        }
        prev_close = c;
    }
}

/* ---- Period STRAT_PERIOD_MAX against plain recomputation --------------------------------------
 */

#define LONG_BARS (STRAT_PERIOD_MAX + 64u)

static hlcv long_bars[LONG_BARS];

/* A random walk of integer prices in 1e-8 units near 30000 (3e12), steps up to 50 units. */
static void make_walk(uint64_t seed, hlcv *bars, size_t count)
{
    print_message("walk seed %" PRIu64 "\n", seed);
    tk_rng rng;
    tk_rng_init(&rng, seed);
    double close = 3e12;
    for (size_t t = 0; t < count; t++) {
        close += (double)tk_rng_below(&rng, 10000000001u) - 5e9;
        bars[t].close = close;
        bars[t].high = close + (double)tk_rng_below(&rng, 3000000000u);
        bars[t].low = close - (double)tk_rng_below(&rng, 3000000000u);
        bars[t].volume = (double)tk_rng_below(&rng, 100000000000u); /* 0 to 1000 units */
    }
}

static void check_max_window(size_t t, uint32_t n)
{
    const size_t first = t + 1 - n;
    double sum = 0.0, high = -INFINITY, low = INFINITY, pv = 0.0, volume = 0.0;
    for (size_t i = first; i <= t; i++) {
        sum += long_bars[i].close;
        high = fmax(high, long_bars[i].high);
        low = fmin(low, long_bars[i].low);
        const hlcv *b = &long_bars[i];
        pv += (b->high + b->low + b->close) / 3.0 * b->volume;
        volume += b->volume;
    }
    const double mean = sum / (double)n;
    double sq = 0.0;
    for (size_t i = first; i <= t; i++)
        sq += (long_bars[i].close - mean) * (long_bars[i].close - mean);
    expect_close("sma(max)", t, g_sma.value, mean, 0.0); /* integer sums below 2^53: exact */
    expect_close("bollinger(max) middle", t, g_bb.middle, mean, 0.0);
    expect_close("bollinger(max) stddev", t, g_bb.stddev, sqrt(sq / (double)n), REL_TOL);
    expect_close("donchian(max) upper", t, g_dc.upper, high, 0.0);
    expect_close("donchian(max) lower", t, g_dc.lower, low, 0.0);
    expect_close("vwap(max)", t, g_vwap.value, pv / volume, 1e-12);
}

static void test_period_max(void **state)
{
    (void)state;
    const uint32_t n = STRAT_PERIOD_MAX;
    make_walk(20261121u, long_bars, LONG_BARS);
    init_all(n, TK_OK);
    double ema = 0.0, atr = 0.0, seed_sum = 0.0, tr_sum = 0.0;
    const double alpha = 2.0 / (double)(n + 1u);
    for (size_t t = 0; t < LONG_BARS; t++) {
        const hlcv *b = &long_bars[t];
        const bool ready = t + 1 >= n;
        assert_true(strat_sma_update(&g_sma, b->close) == ready);
        assert_true(strat_ema_update(&g_ema, b->close) == ready);
        assert_true(strat_rsi_update(&g_rsi, b->close) == (t + 1 >= n + 1u));
        assert_true(strat_atr_update(&g_atr, b->high, b->low, b->close) == ready);
        assert_true(strat_bollinger_update(&g_bb, b->close) == ready);
        assert_true(strat_donchian_update(&g_dc, b->high, b->low) == ready);
        assert_true(strat_vwap_update(&g_vwap, b->high, b->low, b->close, b->volume) == ready);
        double tr = b->high - b->low;
        if (t > 0) {
            const double pc = long_bars[t - 1].close;
            tr = fmax(tr, fmax(fabs(b->high - pc), fabs(b->low - pc)));
        }
        if (t + 1 < n) {
            seed_sum = seed_sum + b->close;
            tr_sum = tr_sum + tr;
        } else if (t + 1 == n) {
            ema = (seed_sum + b->close) / (double)n;
            atr = (tr_sum + tr) / (double)n;
        } else {
            ema = ema + alpha * (b->close - ema);
            atr = (atr * (double)(n - 1u) + tr) / (double)n;
        }
        if (!ready) continue;
        expect_close("ema(max)", t, g_ema.value, ema, 0.0);
        expect_close("atr(max)", t, g_atr.value, atr, 0.0);
        check_max_window(t, n);
    }
    assert_true(g_rsi.value > 0.0);
    assert_true(g_rsi.value < 100.0);
}

/* ---- RSI without losses
 * -------------------------------------------------------------------------- */

static void test_rsi_no_losses(void **state)
{
    (void)state;
    EXPECT_ERR(strat_rsi_init(&g_rsi, 14u), TK_OK);
    for (size_t t = 0; t < 40; t++) { /* rising only: 100 */
        if (strat_rsi_update(&g_rsi, (double)(1000 + 10 * t) * E8)) {
            expect_close("rsi rising", t, g_rsi.value, 100.0, 0.0);
            assert_true(g_rsi.avg_loss == 0.0);
        }
    }
    assert_true(g_rsi.ready);
    for (size_t t = 0; t < 40; t++) { /* flat after rising: still no loss, still 100 */
        assert_true(strat_rsi_update(&g_rsi, 1390.0 * E8));
        expect_close("rsi flat", t, g_rsi.value, 100.0, 0.0);
    }
    assert_true(strat_rsi_update(&g_rsi, 1389.0 * E8)); /* one loss */
    assert_true(g_rsi.value < 100.0);
    assert_true(g_rsi.value > 0.0);

    EXPECT_ERR(strat_rsi_init(&g_rsi, 14u), TK_OK);
    for (size_t t = 0; t < 40; t++) { /* falling only: no gain, 0 */
        if (strat_rsi_update(&g_rsi, (double)(1000 - 10 * t) * E8)) {
            expect_close("rsi falling", t, g_rsi.value, 0.0, 0.0);
        }
    }
    EXPECT_ERR(strat_rsi_init(&g_rsi, 3u), TK_OK); /* flat from the start: docs say 100 */
    for (size_t t = 0; t < 4; t++)
        (void)strat_rsi_update(&g_rsi, 5.0 * E8);
    assert_true(g_rsi.ready);
    expect_close("rsi flat only", 0, g_rsi.value, 100.0, 0.0);
}

/* ---- Bollinger over a flat series
 * ----------------------------------------------------------------- */

static void test_bollinger_flat(void **state)
{
    (void)state;
    const double flat = 45602000000.0;
    EXPECT_ERR(strat_bollinger_init(&g_bb, 20u, 2.0), TK_OK);
    for (size_t t = 0; t < 100; t++) {
        if (!strat_bollinger_update(&g_bb, flat)) continue;
        expect_close("flat stddev", t, g_bb.stddev, 0.0, 0.0);
        expect_close("flat middle", t, g_bb.middle, flat, 0.0);
        expect_close("flat upper", t, g_bb.upper, flat, 0.0);
        expect_close("flat lower", t, g_bb.lower, flat, 0.0);
    }
    /* Flat after a volatile stretch of non-integers: width exactly 0 at the latest 2n - 1 values
     * after the values became equal (strat.h), and tiny before. */
    tk_rng rng;
    tk_rng_init(&rng, 7u);
    for (size_t t = 0; t < 1000; t++) {
        (void)strat_bollinger_update(&g_bb, flat * (0.5 + tk_rng_unit(&rng)) + 0.3);
    }
    for (size_t k = 0; k < 2 * 20 + 100; k++) { /* k: flat values before this one */
        assert_true(strat_bollinger_update(&g_bb, flat));
        if (k >= 2 * 20 - 2) {
            expect_close("flat again stddev", k, g_bb.stddev, 0.0, 0.0);
            expect_close("flat again width", k, g_bb.upper - g_bb.lower, 0.0, 0.0);
        } else if (k >= 20 - 1 && g_bb.stddev > 1e-6 * flat) { /* the window is flat */
            fail_msg("stddev %.17g after %zu flat values", g_bb.stddev, k + 1);
        }
    }
}

/* ---- Donchian: extremes leave the window --------------------------------------------------------
 */

static void test_donchian_window(void **state)
{
    (void)state;
    const double highs[] = {10, 50, 20, 30, 25, 15, 5, 5, 5};
    const double lows[] = {9, 1, 8, 7, 20, 12, 3, 4, 5};
    const double want_upper[] = {0, 0, 50, 50, 30, 30, 25, 15, 5};
    const double want_lower[] = {0, 0, 1, 1, 7, 7, 3, 3, 3};
    EXPECT_ERR(strat_donchian_init(&g_dc, 3u), TK_OK);
    for (size_t t = 0; t < sizeof(highs) / sizeof(highs[0]); t++) {
        assert_true(strat_donchian_update(&g_dc, highs[t], fmin(lows[t], highs[t])) == (t >= 2));
        expect_close("donchian upper", t, g_dc.upper, want_upper[t], 0.0);
        expect_close("donchian lower", t, g_dc.lower, want_lower[t], 0.0);
    }
}

/* Random bars with runs that rise (the max deque empties at each bar), fall (it fills to n)
 * and stay flat (ties), against the plain window scan, for several periods. */
static void test_donchian_random(void **state)
{
    (void)state;
    const uint64_t seed = 424242u;
    print_message("donchian seed %" PRIu64 "\n", seed);
    static double highs[4000], lows[4000];
    tk_rng rng;
    tk_rng_init(&rng, seed);
    double mid = 1e6;
    for (size_t t = 0; t < 4000; t++) {
        const size_t phase = (t / 300) % 4;
        if (phase == 0) mid += 3.0;
        if (phase == 1) mid -= 3.0;
        if (phase == 3) mid += (double)tk_rng_below(&rng, 21u) - 10.0;
        highs[t] = mid + (double)tk_rng_below(&rng, 3u);
        lows[t] = mid - (double)tk_rng_below(&rng, 3u);
    }
    const uint32_t periods[] = {1u, 2u, 3u, 7u, 64u, 300u, STRAT_PERIOD_MAX};
    for (size_t p = 0; p < sizeof(periods) / sizeof(periods[0]); p++) {
        const uint32_t n = periods[p];
        EXPECT_ERR(strat_donchian_init(&g_dc, n), TK_OK);
        for (size_t t = 0; t < 4000; t++) {
            if (!strat_donchian_update(&g_dc, highs[t], lows[t])) continue;
            double high = -INFINITY, low = INFINITY;
            for (size_t i = t + 1 - n; i <= t; i++) {
                high = fmax(high, highs[i]);
                low = fmin(low, lows[i]);
            }
            if (g_dc.upper != high || g_dc.lower != low) {
                fail_msg("period %" PRIu32 " at %zu: got %g..%g, want %g..%g", n, t, g_dc.lower,
                         g_dc.upper, low, high);
            }
        }
    }
}

/* ---- VWAP with zero volume ----------------------------------------------------------------------
 */

static void test_vwap_zero_volume(void **state)
{
    (void)state;
    EXPECT_ERR(strat_vwap_init(&g_vwap, 3u), TK_OK);
    const double h = 103.0 * E8, l = 97.0 * E8, c = 99.0 * E8; /* typical price 99.666... */
    const double tp = (h + l + c) / 3.0;
    for (size_t t = 0; t < 5; t++) { /* no volume yet: never ready, value 0 */
        assert_false(strat_vwap_update(&g_vwap, h, l, c, 0.0));
        assert_true(g_vwap.value == 0.0);
    }
    assert_true(strat_vwap_update(&g_vwap, h, l, c, 2.0 * E8)); /* one bar with volume */
    expect_close("vwap", 0, g_vwap.value, tp, 1e-15);
    assert_true(strat_vwap_update(&g_vwap, 2 * h, 2 * l, 2 * c, 0.0)); /* weight 0 */
    assert_true(strat_vwap_update(&g_vwap, 2 * h, 2 * l, 2 * c, 0.0));
    expect_close("vwap", 1, g_vwap.value, tp, 1e-15);
    /* The bar with volume leaves: no VWAP, the last one kept. */
    assert_false(strat_vwap_update(&g_vwap, 2 * h, 2 * l, 2 * c, 0.0));
    assert_false(g_vwap.ready);
    expect_close("vwap kept", 2, g_vwap.value, tp, 1e-15);
    assert_true(strat_vwap_update(&g_vwap, 2 * h, 2 * l, 2 * c, 1.0 * E8)); /* ready again */
    expect_close("vwap", 3, g_vwap.value, 2 * tp, 1e-15);
    assert_true(strat_vwap_update(&g_vwap, h, l, c, 3.0 * E8)); /* (2tp * 1 + tp * 3) / 4 */
    expect_close("vwap mixed", 4, g_vwap.value, (2 * tp * E8 + tp * 3.0 * E8) / (4.0 * E8), 1e-15);
}

/* A volume 1e17 times larger than the next swallows it in the running sums (1e17 + 3 rounds to
 * 1e17): the window with only the small volume left is treated as having none until the next
 * rebuild (strat_vwap_update), and once no bar with volume is left the sums restart from exactly
 * 0, so the residue (-3) cannot corrupt the next VWAP. */
static void test_vwap_rounding_residue(void **state)
{
    (void)state;
    EXPECT_ERR(strat_vwap_init(&g_vwap, 4u), TK_OK); /* rebuilds after the 4th, 8th, ... bar */
    const double volumes[] = {1e17, 3.0, 0.0, 0.0, 0.0, 0.0, 5.0};
    const double prices[] = {100.0, 200.0, 100.0, 100.0, 100.0, 100.0, 100.0};
    const bool want_ready[] = {false, false, false, true, false, false, true};
    for (size_t t = 0; t < sizeof(volumes) / sizeof(volumes[0]); t++) {
        const double p = prices[t];
        if (strat_vwap_update(&g_vwap, p, p, p, volumes[t]) != want_ready[t]) {
            fail_msg("bar %zu: ready %d, want %d", t, g_vwap.ready, want_ready[t]);
        }
    }
    expect_close("vwap after residue", 6, g_vwap.value, 100.0, 0.0);
}

/* ---- Running sums over long series
 * --------------------------------------------------------------- */

static void check_drift(size_t t, const double *xs, const hlcv *bars, uint32_t n, double sma_tol)
{
    double sum = 0.0, pv = 0.0, volume = 0.0;
    for (size_t i = t + 1 - n; i <= t; i++) {
        sum += xs[i];
        pv += (bars[i].high + bars[i].low + bars[i].close) / 3.0 * bars[i].volume;
        volume += bars[i].volume;
    }
    const double mean = sum / (double)n;
    double sq = 0.0;
    for (size_t i = t + 1 - n; i <= t; i++)
        sq += (xs[i] - mean) * (xs[i] - mean);
    expect_close("drift sma", t, g_sma.value, mean, sma_tol);
    expect_close("drift bollinger stddev", t, g_bb.stddev, sqrt(sq / (double)n), 1e-7);
    expect_close("drift vwap", t, g_vwap.value, pv / volume, sma_tol);
}

/* 200000 non-integer values (sums are rounded): huge ones first, then a million times smaller.
 * Running sums that were never rebuilt would carry the rounding of the huge values into the
 * small ones' window (wrong by about 1e-9 relative for the SMA, and entirely for the stddev);
 * rebuilt ones are as good as a fresh sum. */
static void test_running_sums_do_not_drift(void **state)
{
    (void)state;
    enum { COUNT = 200000, N = 50 };
    static double xs[COUNT];
    static hlcv bars[COUNT];
    const uint64_t seed = 99u;
    print_message("drift seed %" PRIu64 "\n", seed);
    tk_rng rng;
    tk_rng_init(&rng, seed);
    for (size_t t = 0; t < COUNT; t++) {
        const double scale = t < COUNT / 2 ? 1e15 : 1e9;
        xs[t] = scale * (1.0 + 0.01 * tk_rng_unit(&rng)) + tk_rng_unit(&rng);
        bars[t].close = xs[t];
        bars[t].high = xs[t] + scale * 0.001 * tk_rng_unit(&rng);
        bars[t].low = xs[t] - scale * 0.001 * tk_rng_unit(&rng);
        bars[t].volume = (t < COUNT / 2 ? 1e12 : 1e3) * (1.0 + tk_rng_unit(&rng)) + 0.5;
    }
    EXPECT_ERR(strat_sma_init(&g_sma, N), TK_OK);
    EXPECT_ERR(strat_bollinger_init(&g_bb, N, 2.0), TK_OK);
    EXPECT_ERR(strat_vwap_init(&g_vwap, N), TK_OK);
    for (size_t t = 0; t < COUNT; t++) {
        const hlcv *b = &bars[t];
        (void)strat_sma_update(&g_sma, xs[t]);
        (void)strat_bollinger_update(&g_bb, xs[t]);
        (void)strat_vwap_update(&g_vwap, b->high, b->low, b->close, b->volume);
        const bool settled = t >= COUNT / 2 + 2 * N; /* a rebuild since the change of scale */
        if (t + 1 >= N && (t % 997 == 0 || (settled && t < COUNT / 2 + 3 * N))) {
            check_drift(t, xs, bars, N, 1e-13);
        }
    }
}

/* ---- Bars that must crash
 * ------------------------------------------------------------------------ */

static tk_test_child g_child;

static void child_low_above_high(void *arg)
{
    (void)arg;
    if (strat_atr_init(&g_atr, 3u) != TK_OK) return; /* the child then exits 0: the test fails */
    (void)strat_atr_update(&g_atr, 100.0, 101.0, 100.5);
}

static void child_nan_value(void *arg)
{
    (void)arg;
    if (strat_sma_init(&g_sma, 3u) != TK_OK) return; /* the child then exits 0: the test fails */
    (void)strat_sma_update(&g_sma, NAN);
}

static void child_negative_volume(void *arg)
{
    (void)arg;
    if (strat_vwap_init(&g_vwap, 3u) != TK_OK) return; /* the child then exits 0: the test fails */
    (void)strat_vwap_update(&g_vwap, 101.0, 99.0, 100.0, -1.0);
}

static void child_close_outside_bar(void *arg)
{
    (void)arg;
    if (strat_vwap_init(&g_vwap, 3u) != TK_OK) return; /* the child then exits 0: the test fails */
    (void)strat_vwap_update(&g_vwap, 101.0, 99.0, 102.0, 1.0);
}

static void expect_panic(void (*fn)(void *arg), const char *expr)
{
    assert_true(tk_test_child_run(fn, NULL, 10, &g_child));
    if (!g_child.signaled || g_child.signal != SIGABRT) {
        fail_msg("child: signaled %d, signal %d, exit %d, stderr:\n%s", g_child.signaled,
                 g_child.signal, g_child.exit_code, g_child.output);
    }
    if (strstr(g_child.output, expr) == NULL) fail_msg("no \"%s\" in:\n%s", expr, g_child.output);
}

static void test_bad_bars_panic(void **state)
{
    (void)state;
    expect_panic(child_low_above_high, "assertion failed: low <= high");
    expect_panic(child_nan_value, "assertion failed: isfinite(value)");
    expect_panic(child_negative_volume, "assertion failed: volume >= 0.0");
    expect_panic(child_close_outside_bar, "assertion failed: close <= high");
}

int strat_test_ind(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sma_reference),
        cmocka_unit_test(test_ema_reference),
        cmocka_unit_test(test_rsi_reference),
        cmocka_unit_test(test_macd_reference),
        cmocka_unit_test(test_atr_reference),
        cmocka_unit_test(test_bollinger_reference),
        cmocka_unit_test(test_donchian_reference),
        cmocka_unit_test(test_vwap_reference),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_macd_and_bollinger_params),
        cmocka_unit_test(test_not_ready_before_enough),
        cmocka_unit_test(test_period_one),
        cmocka_unit_test(test_period_max),
        cmocka_unit_test(test_rsi_no_losses),
        cmocka_unit_test(test_bollinger_flat),
        cmocka_unit_test(test_donchian_window),
        cmocka_unit_test(test_donchian_random),
        cmocka_unit_test(test_vwap_zero_volume),
        cmocka_unit_test(test_vwap_rounding_residue),
        cmocka_unit_test(test_running_sums_do_not_drift),
        cmocka_unit_test(test_bad_bars_panic),
    };
    return cmocka_run_group_tests_name("strategies/ind", tests, NULL, NULL);
}
