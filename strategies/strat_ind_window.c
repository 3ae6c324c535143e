/* strategies/strat_ind_window.c: the windowed indicators (SMA, Bollinger bands, Donchian channel,
 * rolling VWAP). Windows live inline in the caller's struct. Running sums are rebuilt every
 * `period` updates from a fresh in-order sum, so their rounding error stays bounded over any
 * length of series (strat.h, "Windowed sums"). */
#include <math.h>
#include <string.h>

#include "strat.h"
#include "strat_internal.h"

/* ---- Window and running sums -------------------------------------------------------------- */

static void window_init(strat__window *w, uint32_t period)
{
    TK_ASSERT(w != NULL);
    TK_ASSERT(strat__period_is_valid(period));
    w->period = period;
    w->count = 0u;
    w->next = 0u;
}

static bool window_is_full(const strat__window *w)
{
    TK_ASSERT(w->count <= w->period);
    TK_ASSERT(w->next < w->period);
    return w->count == w->period;
}

/* The value the next push evicts; only when the window is full. */
static double window_oldest(const strat__window *w)
{
    TK_ASSERT(window_is_full(w));
    TK_ASSERT(isfinite(w->values[w->next]));
    return w->values[w->next];
}

/* Append value; when the window was full, the oldest value is overwritten. */
static void window_push(strat__window *w, double value)
{
    TK_ASSERT(isfinite(value));
    if (!window_is_full(w)) w->count++;
    w->values[w->next] = value;
    w->next = (w->next + 1u == w->period) ? 0u : w->next + 1u;
    TK_ASSERT(w->count >= 1u);
}

/* sum = sum + added - removed (removed only when evicting), and the fresh sum takes over once it
 * holds exactly the last period values. */
static void wsum_push(strat__wsum *s, uint32_t period, double added, bool evicting, double removed)
{
    TK_ASSERT(s->fresh_count < period);
    TK_ASSERT(isfinite(added));
    s->sum = s->sum + added;
    if (evicting) s->sum = s->sum - removed;
    s->fresh = s->fresh + added;
    s->fresh_count++;
    if (s->fresh_count == period) {
        s->sum = s->fresh;
        s->fresh = 0.0;
        s->fresh_count = 0u;
    }
}

/* As wsum_push, for the deviations from a reference (strat__wdev). window_was_empty: added is the
 * first value of the window, which becomes the reference. */
static void wdev_push(strat__wdev *d, uint32_t period, double added, bool window_was_empty,
                      bool evicting, double removed)
{
    TK_ASSERT(d->fresh_count < period);
    if (window_was_empty) TK_ASSERT(!evicting);
    if (window_was_empty) d->ref = added;
    if (d->fresh_count == 0u) d->fresh_ref = added;
    const double dev = added - d->ref;
    d->sum = d->sum + dev;
    d->sum_sq = d->sum_sq + dev * dev;
    if (evicting) {
        const double old = removed - d->ref;
        d->sum = d->sum - old;
        d->sum_sq = d->sum_sq - old * old;
    }
    const double fresh_dev = added - d->fresh_ref;
    d->fresh_sum = d->fresh_sum + fresh_dev;
    d->fresh_sum_sq = d->fresh_sum_sq + fresh_dev * fresh_dev;
    d->fresh_count++;
    if (d->fresh_count == period) {
        d->ref = d->fresh_ref;
        d->sum = d->fresh_sum;
        d->sum_sq = d->fresh_sum_sq;
        d->fresh_sum = 0.0;
        d->fresh_sum_sq = 0.0;
        d->fresh_count = 0u;
    }
}

/* Population variance of a full window: sum_sq / n - (sum / n)^2, floored at 0 (rounding). */
static double wdev_variance(const strat__wdev *d, uint32_t period)
{
    TK_ASSERT(period >= 1u);
    TK_ASSERT(isfinite(d->sum_sq));
    const double n = (double)period;
    const double mean_dev = d->sum / n;
    const double variance = d->sum_sq / n - mean_dev * mean_dev;
    return variance > 0.0 ? variance : 0.0;
}

/* ---- SMA ---------------------------------------------------------------------------------- */

static void sma_invariants(const strat_sma *sma)
{
    TK_ASSERT(strat__period_is_valid(sma->window.period));
    TK_ASSERT(sma->ready == window_is_full(&sma->window));
    TK_ASSERT(sma->sum.fresh_count < sma->window.period);
}

tk_err strat_sma_init(strat_sma *sma, uint32_t period)
{
    TK_ASSERT(sma != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    memset(sma, 0, sizeof(*sma));
    window_init(&sma->window, period);
    sma_invariants(sma);
    return TK_OK;
}

bool strat_sma_update(strat_sma *sma, double value)
{
    TK_ASSERT(sma != NULL);
    TK_ASSERT(isfinite(value));
    const bool evicting = window_is_full(&sma->window);
    const double removed = evicting ? window_oldest(&sma->window) : 0.0;
    window_push(&sma->window, value);
    wsum_push(&sma->sum, sma->window.period, value, evicting, removed);
    sma->ready = window_is_full(&sma->window);
    if (sma->ready) sma->value = sma->sum.sum / (double)sma->window.period;
    sma_invariants(sma);
    return sma->ready;
}

/* ---- Bollinger bands ---------------------------------------------------------------------- */

static void bollinger_invariants(const strat_bollinger *bb)
{
    sma_invariants(&bb->sma);
    TK_ASSERT(bb->ready == bb->sma.ready);
    TK_ASSERT(bb->dev.fresh_count == bb->sma.sum.fresh_count); /* rebuilt in step */
    TK_ASSERT(bb->stddev >= 0.0);
    TK_ASSERT(bb->lower <= bb->upper);
}

tk_err strat_bollinger_init(strat_bollinger *bb, uint32_t period, double band_sd)
{
    TK_ASSERT(bb != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    if (!isfinite(band_sd)) return TK_EINVAL;
    if (!(band_sd > 0.0)) return TK_EINVAL;
    memset(bb, 0, sizeof(*bb));
    const tk_err err = strat_sma_init(&bb->sma, period);
    TK_ASSERT(err == TK_OK); /* the period was checked above */
    bb->band_sd = band_sd;
    bollinger_invariants(bb);
    return TK_OK;
}

bool strat_bollinger_update(strat_bollinger *bb, double value)
{
    TK_ASSERT(bb != NULL);
    TK_ASSERT(isfinite(value));
    const strat__window *w = &bb->sma.window;
    const bool evicting = window_is_full(w);
    const double removed = evicting ? window_oldest(w) : 0.0;
    wdev_push(&bb->dev, w->period, value, w->count == 0u, evicting, removed);
    if (strat_sma_update(&bb->sma, value)) {
        bb->middle = bb->sma.value;
        bb->stddev = sqrt(wdev_variance(&bb->dev, w->period));
        const double band = bb->band_sd * bb->stddev;
        bb->upper = bb->middle + band;
        bb->lower = bb->middle - band;
        bb->ready = true;
    }
    bollinger_invariants(bb);
    return bb->ready;
}

/* ---- Donchian channel --------------------------------------------------------------------- */

#define DEQUE_MASK (STRAT_PERIOD_MAX - 1u)

static uint32_t deque_slot(const strat__deque *dq, uint32_t offset)
{
    TK_ASSERT(offset < STRAT_PERIOD_MAX);
    TK_ASSERT(dq->head < STRAT_PERIOD_MAX);
    return (dq->head + offset) & DEQUE_MASK;
}

/* Drop the entries that left the window: those with seq + period <= the new bar's seq. */
static void deque_expire(strat__deque *dq, uint32_t period, uint64_t seq)
{
    TK_ASSERT(dq->count <= period);
    while (dq->count > 0u) { /* at most count iterations */
        if (dq->seqs[dq->head] + period > seq) break;
        dq->head = deque_slot(dq, 1u);
        dq->count--;
    }
    TK_ASSERT(dq->count < period);
}

/* Append (value, seq) after dropping from the back every entry it dominates (keep_max: values
 * <= value; else values >= value), which can never again be the window's extreme. */
static void deque_push(strat__deque *dq, uint32_t period, uint64_t seq, double value, bool keep_max)
{
    deque_expire(dq, period, seq);
    while (dq->count > 0u) { /* at most count iterations */
        const double back = dq->values[deque_slot(dq, dq->count - 1u)];
        const bool dominated = keep_max ? back <= value : back >= value;
        if (!dominated) break;
        dq->count--;
    }
    const uint32_t slot = deque_slot(dq, dq->count);
    dq->values[slot] = value;
    dq->seqs[slot] = seq;
    dq->count++;
    TK_ASSERT(dq->count <= period);
    TK_ASSERT(dq->seqs[deque_slot(dq, 0u)] + period > seq); /* the front is in the window */
}

static void donchian_invariants(const strat_donchian *dc)
{
    TK_ASSERT(strat__period_is_valid(dc->period));
    TK_ASSERT(dc->ready == (dc->seen >= dc->period));
    if (dc->seen > 0u) {
        TK_ASSERT(dc->highs.count >= 1u);
        TK_ASSERT(dc->lows.count >= 1u);
    }
    if (dc->ready) TK_ASSERT(dc->lower <= dc->upper);
}

tk_err strat_donchian_init(strat_donchian *dc, uint32_t period)
{
    TK_ASSERT(dc != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    memset(dc, 0, sizeof(*dc));
    dc->period = period;
    donchian_invariants(dc);
    return TK_OK;
}

bool strat_donchian_update(strat_donchian *dc, double high, double low)
{
    TK_ASSERT(dc != NULL);
    TK_ASSERT(isfinite(high));
    TK_ASSERT(isfinite(low));
    TK_ASSERT(low <= high);
    const uint64_t seq = dc->seen;
    deque_push(&dc->highs, dc->period, seq, high, true);
    deque_push(&dc->lows, dc->period, seq, low, false);
    dc->seen = seq + 1u;
    if (dc->seen >= dc->period) {
        dc->upper = dc->highs.values[dc->highs.head];
        dc->lower = dc->lows.values[dc->lows.head];
        dc->ready = true;
    }
    donchian_invariants(dc);
    return dc->ready;
}

/* ---- Rolling VWAP ------------------------------------------------------------------------- */

static void vwap_invariants(const strat_vwap *vwap)
{
    TK_ASSERT(vwap->pvs.period == vwap->volumes.period);
    TK_ASSERT(vwap->pvs.count == vwap->volumes.count); /* pushed in step */
    TK_ASSERT(vwap->traded_count <= vwap->volumes.count);
    if (vwap->ready) TK_ASSERT(vwap->traded_count > 0u);
}

tk_err strat_vwap_init(strat_vwap *vwap, uint32_t period)
{
    TK_ASSERT(vwap != NULL);
    if (!strat__period_is_valid(period)) return TK_EINVAL;
    memset(vwap, 0, sizeof(*vwap));
    window_init(&vwap->pvs, period);
    window_init(&vwap->volumes, period);
    vwap_invariants(vwap);
    return TK_OK;
}

bool strat_vwap_update(strat_vwap *vwap, double high, double low, double close, double volume)
{
    TK_ASSERT(vwap != NULL);
    strat__assert_bar(high, low, close);
    TK_ASSERT(isfinite(volume));
    TK_ASSERT(volume >= 0.0);
    const double pv = (high + low + close) / 3.0 * volume;
    const uint32_t period = vwap->volumes.period;
    const bool evicting = window_is_full(&vwap->volumes);
    const double removed_pv = evicting ? window_oldest(&vwap->pvs) : 0.0;
    const double removed_volume = evicting ? window_oldest(&vwap->volumes) : 0.0;
    window_push(&vwap->pvs, pv);
    window_push(&vwap->volumes, volume);
    wsum_push(&vwap->pv_sum, period, pv, evicting, removed_pv);
    wsum_push(&vwap->volume_sum, period, volume, evicting, removed_volume);
    if (volume > 0.0) vwap->traded_count++;
    if (removed_volume > 0.0) vwap->traded_count--;
    if (vwap->traded_count == 0u) {
        /* Every volume in the window is 0: so are the true sums, whatever rounding left in the
         * running ones (the fresh sums only hold values of this window, all 0 already). */
        vwap->pv_sum.sum = 0.0;
        vwap->volume_sum.sum = 0.0;
    }
    /* A window with volume whose running sum rounded to <= 0 (after volumes some 1e16 times
     * larger left it) is treated as having none, until the next rebuild. */
    vwap->ready = window_is_full(&vwap->volumes) && vwap->volume_sum.sum > 0.0;
    if (vwap->ready) vwap->value = vwap->pv_sum.sum / vwap->volume_sum.sum;
    vwap_invariants(vwap);
    return vwap->ready;
}
