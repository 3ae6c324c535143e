/* troika strategies (prefix strat_): the technical indicators that strategies are built from,
 * and the strategy actors. docs/strategies.md defines both; where the two differ,
 * that page is right and this code is wrong.
 *
 * The module's one public header. It has one section per part, each between its own
 * "---- ... ----" and "---- end of ... ----" lines; add new parts as new sections. */
#ifndef TK_STRATEGIES_STRAT_H
#define TK_STRATEGIES_STRAT_H

#include <stdbool.h>
#include <stdint.h>

#include "act.h"
#include "led.h"
#include "tk.h"

/* ---- Indicators (strat_ind.c, strat_ind_window.c) ---------------------------------------------
 *
 * Pure: no I/O, clock, randomness or allocation. Each indicator is a caller-owned struct, set up
 * by strat_X_init() and fed one bar (or one value) at a time by strat_X_update(), in O(1) time
 * (amortized O(1) for the Donchian channel). The structs are complete types, against STYLE.md
 * section 3, because their storage (windows of up to STRAT_PERIOD_MAX values) lives inline:
 * a strategy embeds its indicators in its own state and nothing is ever allocated. Read only the
 * fields documented as outputs; the fields marked private belong to strat_ind*.c.
 *
 * Units: inputs are doubles holding the ledger's int64 1e-8 integers unscaled (a close of
 * 456.02 is 45602000000.0; docs/strategies.md, "Numbers"), which doubles hold exactly below 2^53.
 * Every price-like output is in the same units; RSI is a number from 0 to 100. Prices and
 * volumes must be finite (TK_ASSERT), bars must have low <= close <= high and volume >= 0
 * (TK_ASSERT): the ledger refuses a BarClosed that breaks these, so a bar that reaches an
 * indicator breaking them is a bug.
 *
 * Readiness: an indicator is ready once it has seen enough values for its definition; the rule
 * is stated for each, counting values from 1. update returns whether the outputs are now set,
 * and the same flag stays readable as `ready`. Until then the outputs are 0.
 *
 * Exactness: the formulas, and the order of their floating-point operations, are exactly those
 * of docs/strategies.md, section "Indicators", so that an independent program (the backtest's
 * Python reference) reproduces EMA, RSI, MACD and ATR bit for bit. The module is compiled with
 * -ffp-contract=off so that no a * b + c is fused into one rounding.
 *
 * Windowed sums (SMA, Bollinger, VWAP) are kept as running sums, O(1) per update: the value
 * entering the window is added and the one leaving it subtracted. To keep rounding error from
 * accumulating over a long series, each running sum is replaced every n updates by a second sum
 * of just the last n values, added in order since the previous replacement; so the error of an
 * output never exceeds that of about 2n additions, however long the series. When the values are
 * integers (closes, volumes) and every partial sum stays below 2^53, there is no error at all.
 *
 * Context: an indicator belongs to one thread at a time (its strategy actor's). Re-initialising
 * resets it; there is no fini (an indicator owns nothing). */

/* Private: the last `period` values, the oldest overwritten first. */
typedef struct strat__window {
    double values[STRAT_PERIOD_MAX];
    uint32_t period;
    uint32_t count; /* values held, <= period */
    uint32_t next;  /* slot the next value goes to: the oldest value once count == period */
} strat__window;

/* Private: a running sum over a window, rebuilt every `period` updates from `fresh`. */
typedef struct strat__wsum {
    double sum;           /* of the values in the window */
    double fresh;         /* of the fresh_count values added since the last rebuild, in order */
    uint32_t fresh_count; /* < period */
} strat__wsum;

/* Private: sums of the deviations of a window's values from a reference value (one of its recent
 * values), for its variance without cancellation; rebuilt like strat__wsum. */
typedef struct strat__wdev {
    double ref;       /* the reference of sum and sum_sq */
    double sum;       /* of (x - ref) over the window */
    double sum_sq;    /* of (x - ref)^2 over the window */
    double fresh_ref; /* the first value added since the last rebuild */
    double fresh_sum; /* of (x - fresh_ref) for those values */
    double fresh_sum_sq;
    uint32_t fresh_count; /* < period */
} strat__wdev;

/* Private: a monotonic deque of (value, bar sequence number), for a sliding maximum or minimum
 * (the "ascending minima" technique): values strictly decrease (maximum) or increase (minimum)
 * from front to back, so the front is the extreme of the window. Slots are indexed by mask. */
typedef struct strat__deque {
    double values[STRAT_PERIOD_MAX];
    uint64_t seqs[STRAT_PERIOD_MAX];
    uint32_t head;  /* slot of the front entry */
    uint32_t count; /* entries, <= the period */
} strat__deque;

/* Simple moving average SMA(n): the arithmetic mean of the last n values (see e.g. J. J.
 * Murphy, "Technical Analysis of the Financial Markets", New York Institute of Finance, 1999,
 * ch. 9). Computed as (running window sum) / n: see "Windowed sums" above for the error, which
 * is none for integer values whose window sums stay below 2^53 (then the SMA is the correctly
 * rounded mean). Ready from the n-th value on. Size: about 8 * STRAT_PERIOD_MAX bytes. */
typedef struct strat_sma {
    double value;         /* output: the mean */
    bool ready;           /* output */
    strat__window window; /* private */
    strat__wsum sum;      /* private */
} strat_sma;

/* Set up an SMA of period n (1 to STRAT_PERIOD_MAX). sma is borrowed for the call and written
 * only on success. Errors: TK_EINVAL (period 0 or above STRAT_PERIOD_MAX). */
TK_MUST_USE tk_err strat_sma_init(strat_sma *sma, uint32_t period);

/* Add one value (finite, TK_ASSERT). Returns whether the SMA is ready. */
bool strat_sma_update(strat_sma *sma, double value);

/* Exponential moving average EMA(n), with alpha = 2 / (n + 1) (Murphy, op. cit., ch. 9) and
 * docs/strategies.md's seeding: the first EMA, at the n-th value, is the mean of the first n
 * values (added in order, then divided by n); then ema = ema + alpha * (x - ema), in exactly
 * that order. Ready from the n-th value on. */
typedef struct strat_ema {
    double value;    /* output */
    bool ready;      /* output */
    double alpha;    /* output: 2 / (n + 1) */
    double seed_sum; /* private: of the values before ready */
    uint32_t period; /* private */
    uint32_t count;  /* private: values seen, up to period */
} strat_ema;

/* Set up an EMA of period n (1 to STRAT_PERIOD_MAX); written only on success.
 * Errors: TK_EINVAL (period 0 or above STRAT_PERIOD_MAX). */
TK_MUST_USE tk_err strat_ema_init(strat_ema *ema, uint32_t period);

/* Add one value (finite, TK_ASSERT). Returns whether the EMA is ready. */
bool strat_ema_update(strat_ema *ema, double value);

/* Relative strength index RSI(n) with Wilder's smoothing (J. Welles Wilder Jr., "New Concepts in
 * Technical Trading Systems", Trend Research, 1978). Each change d = x_t - x_{t-1} is a gain
 * (d when d > 0, else 0) and a loss (-d when d < 0, else 0). The first averages are the means of
 * the first n gains and of the first n losses (added in order, divided by n); then
 * avg = (avg * (n - 1) + value) / n for each. RSI = 100 - 100 / (1 + avg_gain / avg_loss), and
 * 100 when avg_loss is 0 (a window with no loss; a flat one too, as docs/strategies.md says).
 * Ready from the (n + 1)-th value on: n changes need n + 1 values. */
typedef struct strat_rsi {
    double value;    /* output: 0 to 100 */
    double avg_gain; /* output: Wilder's average gain, in value units */
    double avg_loss; /* output: Wilder's average loss, >= 0 */
    bool ready;      /* output */
    double prev;     /* private: the previous value */
    double gain_sum; /* private: of the gains before ready */
    double loss_sum; /* private: of the losses before ready */
    uint32_t period; /* private */
    uint32_t count;  /* private: values seen, up to period + 1 */
} strat_rsi;

/* Set up an RSI of period n (1 to STRAT_PERIOD_MAX); written only on success.
 * Errors: TK_EINVAL (period 0 or above STRAT_PERIOD_MAX). */
TK_MUST_USE tk_err strat_rsi_init(strat_rsi *rsi, uint32_t period);

/* Add one value (finite, TK_ASSERT). Returns whether the RSI is ready. */
bool strat_rsi_update(strat_rsi *rsi, double value);

/* Moving average convergence/divergence MACD(f, s, k) (Gerald Appel, late 1970s; G. Appel,
 * "Technical Analysis: Power Tools for Active Investors", FT Prentice Hall, 2005):
 * line = EMA(f) - EMA(s) of the values; signal = EMA(k) of the line, seeded as any EMA (the mean
 * of the first k lines); histogram = line - signal. The line is set from the s-th value on
 * (line_ready), signal and histogram from the (s + k - 1)-th on (ready). */
typedef struct strat_macd {
    double line;          /* output */
    double signal;        /* output */
    double histogram;     /* output */
    bool line_ready;      /* output: line is set */
    bool ready;           /* output: all three are set */
    strat_ema fast;       /* private */
    strat_ema slow;       /* private */
    strat_ema signal_ema; /* private */
} strat_macd;

/* Set up MACD(fast_period, slow_period, signal_period): each 1 to STRAT_PERIOD_MAX, and
 * fast_period < slow_period (Appel's definition; the usual one is 12, 26, 9). Written only on
 * success. Errors: TK_EINVAL (a period out of range, or fast_period >= slow_period). */
TK_MUST_USE tk_err strat_macd_init(strat_macd *macd, uint32_t fast_period, uint32_t slow_period,
                                   uint32_t signal_period);

/* Add one value (finite, TK_ASSERT). Returns whether signal and histogram are set. */
bool strat_macd_update(strat_macd *macd, double value);

/* Average true range ATR(n) with Wilder's smoothing (Wilder, op. cit., 1978).
 * TR_0 = high_0 - low_0; TR_t = max(high_t - low_t, |high_t - close_{t-1}|, |low_t - close_{t-1}|).
 * The first ATR, at the n-th bar, is the mean of TR_0..TR_{n-1} (added in order, divided by n);
 * then atr = (atr * (n - 1) + TR_t) / n. Ready from the n-th bar on. Price units. */
typedef struct strat_atr {
    double value;      /* output */
    double true_range; /* output: TR of the last bar (set from the first bar on) */
    bool ready;        /* output */
    double prev_close; /* private */
    double seed_sum;   /* private: of the TRs before ready */
    uint32_t period;   /* private */
    uint32_t count;    /* private: bars seen, up to period */
} strat_atr;

/* Set up an ATR of period n (1 to STRAT_PERIOD_MAX); written only on success.
 * Errors: TK_EINVAL (period 0 or above STRAT_PERIOD_MAX). */
TK_MUST_USE tk_err strat_atr_init(strat_atr *atr, uint32_t period);

/* Add one bar (finite, low <= close <= high; TK_ASSERT). Returns whether the ATR is ready. */
bool strat_atr_update(strat_atr *atr, double high, double low, double close);

/* Bollinger bands (n, k) (John Bollinger, "Bollinger on Bollinger Bands", McGraw-Hill, 2001):
 * middle = SMA(n) of the values; stddev = the population standard deviation of the last n values
 * (dividing by n, as Bollinger specifies); upper = middle + k * stddev, lower = middle - k *
 * stddev. The variance is (sum of squared deviations from a recent value r) / n minus (mean - r)^2,
 * from running sums kept as described under "Windowed sums", floored at 0. A window of equal
 * values gives a stddev of exactly 0 (bands of width 0) once a rebuild has happened within it:
 * always when the series started flat, and otherwise at the latest 2n - 1 values after the
 * values became equal (before that, rounding noise of the earlier values may remain). Ready from
 * the n-th value on. Size: about 8 * STRAT_PERIOD_MAX bytes. */
typedef struct strat_bollinger {
    double middle;   /* output */
    double upper;    /* output */
    double lower;    /* output */
    double stddev;   /* output: in value units, >= 0 */
    bool ready;      /* output */
    double band_sd;  /* output: k, the band's half-width in standard deviations */
    strat_sma sma;   /* private: the middle, and the window */
    strat__wdev dev; /* private */
} strat_bollinger;

/* Set up Bollinger bands of period n (1 to STRAT_PERIOD_MAX) and half-width band_sd standard
 * deviations (finite and > 0; Bollinger's default is 20 and 2.0). Written only on success.
 * Errors: TK_EINVAL (period out of range, band_sd not finite or <= 0). */
TK_MUST_USE tk_err strat_bollinger_init(strat_bollinger *bb, uint32_t period, double band_sd);

/* Add one value (finite, TK_ASSERT). Returns whether the bands are ready. */
bool strat_bollinger_update(strat_bollinger *bb, double value);

/* Donchian channel (n) (Richard D. Donchian's price channel, 1960s): upper = the highest high
 * and lower = the lowest low of the last n bars, including the current one. Kept by two monotonic
 * deques: amortized O(1) per bar (each bar enters and leaves each deque once), at worst O(n).
 * Exact: the outputs are input values. Ready from the n-th bar on.
 * Size: about 32 * STRAT_PERIOD_MAX bytes. */
typedef struct strat_donchian {
    double upper;       /* output */
    double lower;       /* output */
    bool ready;         /* output */
    uint32_t period;    /* private */
    uint64_t seen;      /* private: bars seen (the next bar's sequence number) */
    strat__deque highs; /* private: decreasing values */
    strat__deque lows;  /* private: increasing values */
} strat_donchian;

/* Set up a Donchian channel of period n (1 to STRAT_PERIOD_MAX); written only on success.
 * Errors: TK_EINVAL (period 0 or above STRAT_PERIOD_MAX). */
TK_MUST_USE tk_err strat_donchian_init(strat_donchian *dc, uint32_t period);

/* Add one bar (finite, low <= high; TK_ASSERT). Returns whether the channel is ready. */
bool strat_donchian_update(strat_donchian *dc, double high, double low);

/* Rolling volume-weighted average price VWAP(n) (the VWAP benchmark of S. A. Berkowitz, D. E.
 * Logue, E. A. Noser, "The Total Cost of Transactions on the NYSE", Journal of Finance 43(1),
 * 1988, over a sliding window of bars, each at its typical price): the sum over the last n bars
 * of ((high + low + close) / 3) * volume, divided by the sum of their volumes. Running sums as
 * described under "Windowed sums". Ready from the n-th bar on while the window's volume is
 * positive. A window whose bars all have volume 0 has no VWAP: update returns false, ready is
 * false and value keeps the last VWAP (0 if there was none); the first bar with volume makes it
 * ready again. Price units. Size: about 16 * STRAT_PERIOD_MAX bytes. */
typedef struct strat_vwap {
    double value;           /* output */
    bool ready;             /* output */
    strat__window pvs;      /* private: typical price * volume of each bar */
    strat__window volumes;  /* private */
    strat__wsum pv_sum;     /* private */
    strat__wsum volume_sum; /* private */
    uint32_t traded_count;  /* private: bars in the window with volume > 0 */
} strat_vwap;

/* Set up a rolling VWAP of period n (1 to STRAT_PERIOD_MAX); written only on success.
 * Errors: TK_EINVAL (period 0 or above STRAT_PERIOD_MAX). */
TK_MUST_USE tk_err strat_vwap_init(strat_vwap *vwap, uint32_t period);

/* Add one bar (finite, low <= close <= high, volume >= 0 in 1e-8 units; TK_ASSERT). Returns
 * whether the VWAP is ready. */
bool strat_vwap_update(strat_vwap *vwap, double high, double low, double close, double volume);

/* ---- end of Indicators ------------------------------------------------------------------------
 */

/* ---- Strategies: the engine interface and the strategy actor (strat_actor.c) --------------- */

/* What a strategy asks for; the actor turns each into a proposal. */
typedef enum strat_intent_kind {
    STRAT_BUY_MARKET,  /* OrderRequested buy market qty */
    STRAT_SELL_MARKET, /* OrderRequested sell market qty, reduce-only */
    STRAT_SELL_STOP,   /* OrderRequested sell stop qty at price, reduce-only */
    STRAT_CANCEL,      /* OrderCancelRequested order_index */
} strat_intent_kind;

typedef struct strat_intent {
    strat_intent_kind kind;
    uint32_t tag;         /* the strategy's name for the order, returned by on_accepted */
    int64_t qty_e8;       /* orders */
    int64_t price_e8;     /* stops */
    uint64_t order_index; /* cancels */
} strat_intent;

#define STRAT_INTENTS_MAX 4u

typedef struct strat_out {
    strat_intent items[STRAT_INTENTS_MAX];
    uint32_t count;
} strat_out;

/* A committed bar as a strategy sees it. */
typedef struct strat_bar {
    int64_t ts_ns;
    int64_t open_e8, high_e8, low_e8, close_e8, volume_e8;
} strat_bar;

/* The instrument's terms a strategy sizes and prices with. */
typedef struct strat_instrument {
    int64_t tick_e8, lot_e8;
} strat_instrument;

/* A strategy engine: a pure state machine driven by committed events (docs/strategies.md). The
 * actor calls it in log order; each callback may add intents to out. state is the actor's
 * block of state_size bytes, zeroed before init. */
typedef struct strat_engine {
    const char *name; /* the strategy's kind: "ema_cross" */
    size_t state_size;
    tk_err (*init)(void *state, const void *params, const strat_instrument *ins);
    void (*on_bar)(void *state, const strat_bar *bar, int64_t equity_e8, strat_out *out);
    void (*on_accepted)(void *state, uint32_t tag, uint64_t order_index, strat_out *out);
    void (*on_rejected)(void *state, uint32_t tag, strat_out *out);
    void (*on_fill)(void *state, uint64_t order_index, int64_t qty_e8, int64_t price_e8, bool done,
                    strat_out *out);
    void (*on_cancelled)(void *state, uint64_t order_index, strat_out *out);
} strat_engine;

/* How the built-in long-only strategies trade (docs/strategies.md, "ema_cross"): the ATR
 * period, the stop and trailing distances in ATRs (trail_atr 0: no trailing), the equity
 * risked per trade and the position cap, in bps of equity. */
typedef struct strat_trade_params {
    uint32_t atr_period;
    double stop_atr, trail_atr;
    int64_t risk_bps, max_position_bps;
} strat_trade_params;

/* The defaults of docs/strategies.md: 14, 2.0, 3.0, 100, 5000. */
void strat_trade_defaults(strat_trade_params *out);

/* Check p. Errors: TK_EINVAL (why names the parameter and its rule). */
TK_MUST_USE tk_err strat_trade_check(const strat_trade_params *p, const char **why);

/* ema_cross (docs/strategies.md): long on a fast EMA crossing above the slow one, out on the
 * cross back down. Defaults: fast 12, slow 26. */
typedef struct strat_ema_cross_params {
    uint32_t fast, slow;
    strat_trade_params trade;
} strat_ema_cross_params;

void strat_ema_cross_defaults(strat_ema_cross_params *out);
TK_MUST_USE tk_err strat_ema_cross_check(const strat_ema_cross_params *p, const char **why);
extern const strat_engine strat_ema_cross;

/* rsi_reversion (docs/strategies.md): long when RSI(rsi_period) falls below oversold (a cross
 * down through it), out when it rises above exit_level. Defaults: 14, 30, 50. */
typedef struct strat_rsi_reversion_params {
    uint32_t rsi_period;
    double oversold, exit_level; /* 0 < oversold < exit_level < 100 */
    strat_trade_params trade;
} strat_rsi_reversion_params;

void strat_rsi_reversion_defaults(strat_rsi_reversion_params *out);
TK_MUST_USE tk_err strat_rsi_reversion_check(const strat_rsi_reversion_params *p, const char **why);
extern const strat_engine strat_rsi_reversion;

/* donchian_breakout (docs/strategies.md): long when the close breaks above the highest high of
 * the entry_period bars before it, out when it falls below the lowest low of the exit_period
 * bars before it. Defaults: 20, 10. */
typedef struct strat_donchian_params {
    uint32_t entry_period, exit_period;
    strat_trade_params trade;
} strat_donchian_params;

void strat_donchian_defaults(strat_donchian_params *out);
TK_MUST_USE tk_err strat_donchian_check(const strat_donchian_params *p, const char **why);
extern const strat_engine strat_donchian_breakout;

typedef struct strat_actor_opts {
    const strat_engine *engine;  /* borrowed, static */
    const void *params;          /* the engine's parameters, copied by its init */
    strat_instrument instrument; /* tick and lot */
    char name[LED_NAME_BYTES];   /* the strategy's name in OrderRequested events */
    char symbol[LED_SYMBOL_BYTES];
    uint32_t mailbox_capacity; /* >= 2 */
    act_ref link_to;           /* its supervisor (ACT_REF_NONE: none) */
} strat_actor_opts;

/* Spawn a strategy actor running opts->engine on opts->symbol, and join it to
 * LED_GROUP_STRATEGIES. It feeds the engine the committed events that concern it (its
 * symbol's bars with the equity published with them; its own orders' acceptance or
 * rejection, fills and cancels), proposes what the engine asks for to the journal, and
 * acknowledges every publication after that. Errors: TK_EINVAL (engine's init refused the
 * parameters), those of act_spawn and act_group_join. */
TK_MUST_USE tk_err strat_actor_spawn(act_system *sys, const strat_actor_opts *opts,
                                     act_ref *out_ref);

#endif /* TK_STRATEGIES_STRAT_H */
