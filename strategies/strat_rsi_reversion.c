/* rsi_reversion: long when Wilder's RSI falls through the oversold level, out when it rises
 * above the exit level; traded by the shared long-only trader (docs/strategies.md). */
#include "strat_internal.h"

typedef struct rsi_reversion {
    strat__long trader; /* first: the shared callbacks take the state as the trader */
    strat_rsi rsi;
    double oversold, exit_level;
    bool have_prev;
    double prev_rsi;
} rsi_reversion;

void strat_rsi_reversion_defaults(strat_rsi_reversion_params *out)
{
    TK_ASSERT(out != NULL);
    out->rsi_period = 14;
    out->oversold = 30.0;
    out->exit_level = 50.0;
    strat_trade_defaults(&out->trade);
}

tk_err strat_rsi_reversion_check(const strat_rsi_reversion_params *p, const char **why)
{
    TK_ASSERT(p != NULL && why != NULL);
    if (strat_trade_check(&p->trade, why) != TK_OK) return TK_EINVAL;
    if (!strat__period_is_valid(p->rsi_period)) *why = "rsi_period: 1 to STRAT_PERIOD_MAX";
    if (!(p->oversold > 0.0 && p->oversold < p->exit_level && p->exit_level < 100.0))
        *why = "oversold and exit_level: 0 < oversold < exit_level < 100";
    return *why == NULL ? TK_OK : TK_EINVAL;
}

static tk_err rr_init(void *state, const void *params, const strat_instrument *ins)
{
    rsi_reversion *s = state;
    const strat_rsi_reversion_params *p = params;
    const char *why = NULL;
    if (strat_rsi_reversion_check(p, &why) != TK_OK) return TK_EINVAL;
    s->oversold = p->oversold;
    s->exit_level = p->exit_level;
    tk_err err = strat_rsi_init(&s->rsi, p->rsi_period);
    if (err == TK_OK) err = strat__long_init(&s->trader, &p->trade, ins);
    return err;
}

/* Enter when RSI crosses down through oversold; exit when it is above the exit level. */
static void rr_on_bar(void *state, const strat_bar *bar, int64_t equity_e8, strat_out *out)
{
    rsi_reversion *s = state;
    bool rsi_ready = strat_rsi_update(&s->rsi, (double)bar->close_e8);
    bool atr_ready = strat__long_atr(&s->trader, bar);
    if (!rsi_ready) return;
    double rsi = s->rsi.value;
    bool enter = s->have_prev && s->prev_rsi >= s->oversold && rsi < s->oversold;
    bool exit = rsi > s->exit_level;
    s->prev_rsi = rsi;
    s->have_prev = true;
    if (!atr_ready) return;
    strat__signal signal = enter ? STRAT__ENTER : exit ? STRAT__EXIT : STRAT__NONE;
    strat__long_decide(&s->trader, bar, equity_e8, signal, out);
}

const strat_engine strat_rsi_reversion = {
    .name = "rsi_reversion",
    .state_size = sizeof(rsi_reversion),
    .init = rr_init,
    .on_bar = rr_on_bar,
    .on_accepted = strat__long_on_accepted,
    .on_rejected = strat__long_on_rejected,
    .on_fill = strat__long_on_fill,
    .on_cancelled = strat__long_on_cancelled,
};
