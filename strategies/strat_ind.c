/* strategies/strat_ind.c: the recursive indicators (EMA, RSI, MACD, ATR), which keep O(1) state
 * and no window. Each formula is written with docs/strategies.md's order of operations, one
 * rounding per operation (-ffp-contract=off in CMakeLists.txt), so that the backtest's Python
 * reference reproduces it bit for bit: do not "simplify" the arithmetic. */
#include <math.h>
#include <string.h>

#include "strat.h"
#include "strat_internal.h"

/* ---- EMA ---------------------------------------------------------------------------------- */

static void ema_invariants(const strat_ema *ema)
{
    TK_ASSERT(strat__period_is_valid(ema->period));
    TK_ASSERT(ema->count <= ema->period);
    TK_ASSERT(ema->ready == (ema->count == ema->period));
    TK_ASSERT(ema->alpha > 0.0);
    TK_ASSERT(ema->alpha <= 1.0);
}

tk_err strat_ema_init(strat_ema *ema, uint32_t period)
{
    TK_ASSERT(ema != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    memset(ema, 0, sizeof(*ema));
    ema->period = period;
    ema->alpha = 2.0 / (double)(period + 1u); /* n + 1 is exact: period <= STRAT_PERIOD_MAX */
    ema_invariants(ema);
    return TK_OK;
}

bool strat_ema_update(strat_ema *ema, double value)
{
    TK_ASSERT(ema != NULL);
    TK_ASSERT(isfinite(value));
    if (ema->ready) {
        ema->value = ema->value + ema->alpha * (value - ema->value);
    } else {
        ema->seed_sum = ema->seed_sum + value; /* in order, from 0 */
        ema->count++;
        if (ema->count == ema->period) {
            ema->value = ema->seed_sum / (double)ema->period;
            ema->ready = true;
        }
    }
    ema_invariants(ema);
    return ema->ready;
}

/* ---- RSI ---------------------------------------------------------------------------------- */

static void rsi_invariants(const strat_rsi *rsi)
{
    TK_ASSERT(strat__period_is_valid(rsi->period));
    TK_ASSERT(rsi->count <= rsi->period + 1u);
    TK_ASSERT(rsi->ready == (rsi->count == rsi->period + 1u));
    if (rsi->ready) {
        TK_ASSERT(rsi->avg_gain >= 0.0);
        TK_ASSERT(rsi->avg_loss >= 0.0);
        TK_ASSERT(rsi->value >= 0.0);
        TK_ASSERT(rsi->value <= 100.0);
    }
}

tk_err strat_rsi_init(strat_rsi *rsi, uint32_t period)
{
    TK_ASSERT(rsi != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    memset(rsi, 0, sizeof(*rsi));
    rsi->period = period;
    rsi_invariants(rsi);
    return TK_OK;
}

/* Wilder's step: (avg * (n - 1) + value) / n, in that order. */
static double wilder_step(double avg, double value, uint32_t period)
{
    TK_ASSERT(period >= 1u);
    TK_ASSERT(isfinite(avg));
    return (avg * (double)(period - 1u) + value) / (double)period;
}

/* 100 - 100 / (1 + avg_gain / avg_loss), and 100 when there is no loss. */
static double rsi_from_averages(double avg_gain, double avg_loss)
{
    TK_ASSERT(avg_gain >= 0.0);
    TK_ASSERT(avg_loss >= 0.0);
    if (avg_loss == 0.0) return 100.0;
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss);
}

bool strat_rsi_update(strat_rsi *rsi, double value)
{
    TK_ASSERT(rsi != NULL);
    TK_ASSERT(isfinite(value));
    if (rsi->count == 0u) { /* the first value: no change yet */
        rsi->prev = value;
        rsi->count = 1u;
        rsi_invariants(rsi);
        return false;
    }
    const double change = value - rsi->prev;
    const double gain = change > 0.0 ? change : 0.0;
    const double loss = change < 0.0 ? -change : 0.0;
    rsi->prev = value;
    if (rsi->ready) {
        rsi->avg_gain = wilder_step(rsi->avg_gain, gain, rsi->period);
        rsi->avg_loss = wilder_step(rsi->avg_loss, loss, rsi->period);
    } else {
        rsi->gain_sum = rsi->gain_sum + gain;
        rsi->loss_sum = rsi->loss_sum + loss;
        rsi->count++;
        if (rsi->count == rsi->period + 1u) {
            rsi->avg_gain = rsi->gain_sum / (double)rsi->period;
            rsi->avg_loss = rsi->loss_sum / (double)rsi->period;
            rsi->ready = true;
        }
    }
    if (rsi->ready) rsi->value = rsi_from_averages(rsi->avg_gain, rsi->avg_loss);
    rsi_invariants(rsi);
    return rsi->ready;
}

/* ---- MACD --------------------------------------------------------------------------------- */

static void macd_invariants(const strat_macd *macd)
{
    TK_ASSERT(macd->fast.period < macd->slow.period);
    TK_ASSERT(macd->line_ready == macd->slow.ready);
    TK_ASSERT(macd->ready == macd->signal_ema.ready);
    if (macd->ready) TK_ASSERT(macd->line_ready);
}

tk_err strat_macd_init(strat_macd *macd, uint32_t fast_period, uint32_t slow_period,
                       uint32_t signal_period)
{
    TK_ASSERT(macd != NULL);
    if (!strat__period_is_valid(fast_period)) return TK_EINVAL;
    if (!strat__period_is_valid(slow_period)) return TK_EINVAL;
    if (!strat__period_is_valid(signal_period)) return TK_EINVAL;
    if (fast_period >= slow_period) return TK_EINVAL;
    memset(macd, 0, sizeof(*macd));
    tk_err err = strat_ema_init(&macd->fast, fast_period);
    TK_ASSERT(err == TK_OK); /* the periods were checked above */
    err = strat_ema_init(&macd->slow, slow_period);
    TK_ASSERT(err == TK_OK);
    err = strat_ema_init(&macd->signal_ema, signal_period);
    TK_ASSERT(err == TK_OK);
    macd_invariants(macd);
    return TK_OK;
}

bool strat_macd_update(strat_macd *macd, double value)
{
    TK_ASSERT(macd != NULL);
    TK_ASSERT(isfinite(value));
    const bool fast_ready = strat_ema_update(&macd->fast, value);
    const bool slow_ready = strat_ema_update(&macd->slow, value);
    if (slow_ready) TK_ASSERT(fast_ready); /* fast_period < slow_period */
    if (slow_ready) {
        macd->line = macd->fast.value - macd->slow.value;
        macd->line_ready = true;
        if (strat_ema_update(&macd->signal_ema, macd->line)) {
            macd->signal = macd->signal_ema.value;
            macd->histogram = macd->line - macd->signal;
            macd->ready = true;
        }
    }
    macd_invariants(macd);
    return macd->ready;
}

/* ---- ATR ---------------------------------------------------------------------------------- */

static void atr_invariants(const strat_atr *atr)
{
    TK_ASSERT(strat__period_is_valid(atr->period));
    TK_ASSERT(atr->count <= atr->period);
    TK_ASSERT(atr->ready == (atr->count == atr->period));
    TK_ASSERT(atr->true_range >= 0.0);
    TK_ASSERT(atr->value >= 0.0);
}

tk_err strat_atr_init(strat_atr *atr, uint32_t period)
{
    TK_ASSERT(atr != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    memset(atr, 0, sizeof(*atr));
    atr->period = period;
    atr_invariants(atr);
    return TK_OK;
}

/* TR = max(high - low, |high - prev_close|, |low - prev_close|); high - low for the first bar. */
static double true_range(double high, double low, bool has_prev, double prev_close)
{
    TK_ASSERT(low <= high);
    double range = high - low;
    if (has_prev) {
        TK_ASSERT(isfinite(prev_close));
        const double up = fabs(high - prev_close);
        const double down = fabs(low - prev_close);
        if (up > range) range = up;
        if (down > range) range = down;
    }
    TK_ASSERT(range >= 0.0);
    return range;
}

bool strat_atr_update(strat_atr *atr, double high, double low, double close)
{
    TK_ASSERT(atr != NULL);
    strat__assert_bar(high, low, close);
    const double tr = true_range(high, low, atr->count > 0u, atr->prev_close);
    atr->true_range = tr;
    atr->prev_close = close;
    if (atr->ready) {
        atr->value = wilder_step(atr->value, tr, atr->period);
    } else {
        atr->seed_sum = atr->seed_sum + tr; /* in order, from 0 */
        atr->count++;
        if (atr->count == atr->period) {
            atr->value = atr->seed_sum / (double)atr->period;
            atr->ready = true;
        }
    }
    atr_invariants(atr);
    return atr->ready;
}
