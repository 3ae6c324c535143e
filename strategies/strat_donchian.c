/* donchian_breakout: long when the close breaks above the highest high of the bars before it,
 * out when it falls below the lowest low of the (shorter) exit window before it; traded by the
 * shared long-only trader (docs/strategies.md). The channels are read before the bar enters
 * them, so that a bar is compared with the ones before it. */
#include "strat_internal.h"

typedef struct donchian {
    strat__long trader; /* first: the shared callbacks take the state as the trader */
    strat_donchian entry, exit;
} donchian;

void strat_donchian_defaults(strat_donchian_params *out)
{
    TK_ASSERT(out != NULL);
    out->entry_period = 20;
    out->exit_period = 10;
    strat_trade_defaults(&out->trade);
}

tk_err strat_donchian_check(const strat_donchian_params *p, const char **why)
{
    TK_ASSERT(p != NULL && why != NULL);
    if (strat_trade_check(&p->trade, why) != TK_OK) return TK_EINVAL;
    if (!strat__period_is_valid(p->entry_period)) *why = "entry_period: 1 to STRAT_PERIOD_MAX";
    if (!strat__period_is_valid(p->exit_period)) *why = "exit_period: 1 to STRAT_PERIOD_MAX";
    return *why == NULL ? TK_OK : TK_EINVAL;
}

static tk_err dc_init(void *state, const void *params, const strat_instrument *ins)
{
    donchian *s = state;
    const strat_donchian_params *p = params;
    const char *why = NULL;
    if (strat_donchian_check(p, &why) != TK_OK) return TK_EINVAL;
    tk_err err = strat_donchian_init(&s->entry, p->entry_period);
    if (err == TK_OK) err = strat_donchian_init(&s->exit, p->exit_period);
    if (err == TK_OK) err = strat__long_init(&s->trader, &p->trade, ins);
    return err;
}

static void dc_on_bar(void *state, const strat_bar *bar, int64_t equity_e8, strat_out *out)
{
    donchian *s = state;
    double close = (double)bar->close_e8;
    bool entry_ready = s->entry.ready; /* the channels of the bars before this one */
    bool exit_ready = s->exit.ready;
    bool enter = entry_ready && close > s->entry.upper;
    bool exit = exit_ready && close < s->exit.lower;
    (void)strat_donchian_update(&s->entry, (double)bar->high_e8, (double)bar->low_e8);
    (void)strat_donchian_update(&s->exit, (double)bar->high_e8, (double)bar->low_e8);
    bool atr_ready = strat__long_atr(&s->trader, bar);
    if (!entry_ready || !atr_ready) return;
    strat__signal signal = enter ? STRAT__ENTER : exit ? STRAT__EXIT : STRAT__NONE;
    strat__long_decide(&s->trader, bar, equity_e8, signal, out);
}

const strat_engine strat_donchian_breakout = {
    .name = "donchian_breakout",
    .state_size = sizeof(donchian),
    .init = dc_init,
    .on_bar = dc_on_bar,
    .on_accepted = strat__long_on_accepted,
    .on_rejected = strat__long_on_rejected,
    .on_fill = strat__long_on_fill,
    .on_cancelled = strat__long_on_cancelled,
};
