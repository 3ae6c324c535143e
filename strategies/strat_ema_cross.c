/* ema_cross: a long-only fast/slow EMA crossover, traded by the shared long-only trader (an ATR
 * stop, an ATR trailing stop, fixed fractional sizing). docs/strategies.md, "ema_cross", states
 * it exactly; tests/reference/ema_cross.py re-implements it and must agree to 1e-8. */
#include <string.h>

#include "strat_internal.h"

typedef struct ema_cross {
    strat__long trader; /* first: the shared callbacks take the state as the trader */
    strat_ema fast, slow;
    bool have_prev; /* prev_* hold the last bar's EMAs */
    double prev_fast, prev_slow;
} ema_cross;

void strat_ema_cross_defaults(strat_ema_cross_params *out)
{
    TK_ASSERT(out != NULL);
    out->fast = 12;
    out->slow = 26;
    strat_trade_defaults(&out->trade);
}

tk_err strat_ema_cross_check(const strat_ema_cross_params *p, const char **why)
{
    TK_ASSERT(p != NULL && why != NULL);
    if (strat_trade_check(&p->trade, why) != TK_OK) return TK_EINVAL;
    if (!strat__period_is_valid(p->fast)) *why = "fast: 1 to STRAT_PERIOD_MAX";
    if (p->slow <= p->fast || !strat__period_is_valid(p->slow)) *why = "slow: above fast";
    return *why == NULL ? TK_OK : TK_EINVAL;
}

static tk_err ec_init(void *state, const void *params, const strat_instrument *ins)
{
    ema_cross *s = state;
    const strat_ema_cross_params *p = params;
    const char *why = NULL;
    if (strat_ema_cross_check(p, &why) != TK_OK) return TK_EINVAL;
    tk_err err = strat_ema_init(&s->fast, p->fast);
    if (err == TK_OK) err = strat_ema_init(&s->slow, p->slow);
    if (err == TK_OK) err = strat__long_init(&s->trader, &p->trade, ins);
    return err;
}

/* Cross up: enter; cross down: exit; both once the EMAs of this bar and the last are ready. */
static void ec_on_bar(void *state, const strat_bar *bar, int64_t equity_e8, strat_out *out)
{
    ema_cross *s = state;
    double close = (double)bar->close_e8;
    bool fast_ready = strat_ema_update(&s->fast, close);
    bool slow_ready = strat_ema_update(&s->slow, close);
    bool atr_ready = strat__long_atr(&s->trader, bar);
    if (!fast_ready || !slow_ready) return;
    double fast = s->fast.value;
    double slow = s->slow.value;
    bool cross_up = s->have_prev && s->prev_fast <= s->prev_slow && fast > slow;
    bool cross_down = s->have_prev && s->prev_fast >= s->prev_slow && fast < slow;
    s->prev_fast = fast;
    s->prev_slow = slow;
    s->have_prev = true;
    if (!atr_ready) return;
    strat__signal signal = cross_up ? STRAT__ENTER : cross_down ? STRAT__EXIT : STRAT__NONE;
    strat__long_decide(&s->trader, bar, equity_e8, signal, out);
}

const strat_engine strat_ema_cross = {
    .name = "ema_cross",
    .state_size = sizeof(ema_cross),
    .init = ec_init,
    .on_bar = ec_on_bar,
    .on_accepted = strat__long_on_accepted,
    .on_rejected = strat__long_on_rejected,
    .on_fill = strat__long_on_fill,
    .on_cancelled = strat__long_on_cancelled,
};
