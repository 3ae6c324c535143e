/* The backtest's YAML configuration: its schema (one table of keys) for app_yaml_load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_config.h"
#include "app_yaml.h"

#define AT(f)  offsetof(app_config, f)
#define SZ(f)  sizeof(((app_config *)0)->f)
#define BPS    0, 10000
#define POS_E8 1, INT64_MAX
#define STR(s, k, f)                                 \
    {                                                \
        s, k, APP_KEY_STR, AT(f), SZ(f), 0, 0, false \
    }
#define NUM(s, k, kind, f, ...)                  \
    {                                            \
        s, k, kind, AT(f), 0, __VA_ARGS__, false \
    }

static const app_key keys[] = {
    STR("strategy", "name", strategy),
    NUM("strategy", "fast", APP_KEY_U32, ema_cross.fast, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "slow", APP_KEY_U32, ema_cross.slow, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "rsi_period", APP_KEY_U32, rsi_reversion.rsi_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "oversold", APP_KEY_DBL, rsi_reversion.oversold, 0, 100),
    NUM("strategy", "exit_level", APP_KEY_DBL, rsi_reversion.exit_level, 0, 100),
    NUM("strategy", "entry_period", APP_KEY_U32, donchian_breakout.entry_period, 1,
        STRAT_PERIOD_MAX),
    NUM("strategy", "exit_period", APP_KEY_U32, donchian_breakout.exit_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "atr_period", APP_KEY_U32, trade.atr_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "stop_atr", APP_KEY_DBL, trade.stop_atr, 0, 100),
    NUM("strategy", "trail_atr", APP_KEY_DBL, trade.trail_atr, -1, 100),
    NUM("strategy", "risk_bps", APP_KEY_INT, trade.risk_bps, 1, 10000),
    NUM("strategy", "max_position_bps", APP_KEY_INT, trade.max_position_bps, 1, 10000),
    STR("instrument", "symbol", symbol),
    STR("instrument", "base", base),
    STR("instrument", "quote", quote),
    NUM("instrument", "tick", APP_KEY_DEC, tick_e8, POS_E8),
    NUM("instrument", "lot", APP_KEY_DEC, lot_e8, POS_E8),
    NUM("instrument", "min_notional", APP_KEY_DEC, min_notional_e8, 0, INT64_MAX),
    NUM("account", "initial_equity", APP_KEY_DEC, initial_equity_e8, POS_E8),
    NUM("venue", "taker_bps", APP_KEY_INT, venue.taker_bps, BPS),
    NUM("venue", "maker_bps", APP_KEY_INT, venue.maker_bps, BPS),
    NUM("venue", "slippage_bps", APP_KEY_INT, venue.slippage_bps, BPS),
    NUM("venue", "participation_bps", APP_KEY_INT, venue.participation_bps, BPS),
    NUM("risk", "max_order_notional", APP_KEY_DEC, risk.max_order_notional_e8, POS_E8),
    NUM("risk", "max_position_notional", APP_KEY_DEC, risk.max_position_notional_e8, POS_E8),
    NUM("risk", "max_position_equity_bps", APP_KEY_INT, risk.max_position_equity_bps, 1, 10000),
    NUM("risk", "max_gross_exposure", APP_KEY_DEC, risk.max_gross_exposure_e8, POS_E8),
    NUM("risk", "max_open_orders", APP_KEY_INT, risk.max_open_orders, 1, LED_ORDERS_OPEN_MAX),
    NUM("risk", "price_band_bps", APP_KEY_INT, risk.price_band_bps, 1, 10000),
    NUM("risk", "daily_loss_bps", APP_KEY_INT, risk.daily_loss_bps, 1, 10000),
    NUM("risk", "max_drawdown_bps", APP_KEY_INT, risk.max_drawdown_bps, 1, 10000),
};

static const app_section sections[] = {
    {.name = "strategy"}, {.name = "instrument"}, {.name = "account"},
    {.name = "venue"},    {.name = "risk"},
};

static const app_schema schema = {.sections = sections,
                                  .section_count = sizeof(sections) / sizeof(sections[0]),
                                  .keys = keys,
                                  .key_count = sizeof(keys) / sizeof(keys[0])};

/* Split "<venue>_<BASE>-<QUOTE>_..." out of a data file's name into symbol, base and quote. */
static void names_from_file(app_config *cfg, const char *path)
{
    const char *name = path != NULL ? strrchr(path, '/') : NULL;
    name = name != NULL ? name + 1 : (path != NULL ? path : "");
    const char *start = strchr(name, '_');
    const char *end = start != NULL ? strchr(start + 1, '_') : NULL;
    const char *dash = start != NULL ? strchr(start + 1, '-') : NULL;
    size_t len = end != NULL ? (size_t)(end - start - 1) : 0;
    if (dash == NULL || end == NULL || dash > end || len >= sizeof(cfg->symbol) ||
        (size_t)(dash - start - 1) >= sizeof(cfg->base) ||
        (size_t)(end - dash - 1) >= sizeof(cfg->quote))
        return; /* keep ASSET-QUOTE */
    snprintf(cfg->symbol, sizeof(cfg->symbol), "%.*s", (int)len, start + 1);
    snprintf(cfg->base, sizeof(cfg->base), "%.*s", (int)(dash - start - 1), start + 1);
    snprintf(cfg->quote, sizeof(cfg->quote), "%.*s", (int)(end - dash - 1), dash + 1);
}

void app_config_defaults(app_config *cfg, const char *first_data_file)
{
    TK_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->strategy, sizeof(cfg->strategy), "ema_cross");
    strat_trade_defaults(&cfg->trade);
    strat_ema_cross_defaults(&cfg->ema_cross);
    strat_rsi_reversion_defaults(&cfg->rsi_reversion);
    strat_donchian_defaults(&cfg->donchian_breakout);
    snprintf(cfg->symbol, sizeof(cfg->symbol), "ASSET-QUOTE");
    snprintf(cfg->base, sizeof(cfg->base), "ASSET");
    snprintf(cfg->quote, sizeof(cfg->quote), "QUOTE");
    names_from_file(cfg, first_data_file);
    cfg->tick_e8 = 1000000; /* 0.01 */
    cfg->lot_e8 = 1;        /* 0.00000001 */
    cfg->min_notional_e8 = 0;
    cfg->initial_equity_e8 = 100000 * (int64_t)LED_SCALE;
    cfg->venue = (exec_paper_opts){
        .taker_bps = 10, .maker_bps = 5, .slippage_bps = 5, .participation_bps = 0};
    /* A backtest leaves risk to the strategy unless told: caps wide open (docs/backtest.md). */
    cfg->risk = (struct led_ev_risk_limits_set){.max_order_notional_e8 = INT64_MAX,
                                                .max_position_notional_e8 = INT64_MAX,
                                                .max_position_equity_bps = 10000,
                                                .max_gross_exposure_e8 = INT64_MAX,
                                                .max_open_orders = 100,
                                                .price_band_bps = 10000,
                                                .daily_loss_bps = 10000,
                                                .max_drawdown_bps = 10000};
}

tk_err app_config_load(const char *path, app_config *cfg, char *why, size_t why_size)
{
    TK_ASSERT(path != NULL && cfg != NULL && why != NULL && why_size > 0);
    tk_err err = app_yaml_load(path, &schema, cfg, why, why_size);
    if (err != TK_OK) return err;
    const strat_engine *engine = NULL;
    const void *params = NULL;
    char detail[256];
    err = app_config_strategy(cfg, &engine, &params, detail, sizeof(detail));
    if (err != TK_OK) snprintf(why, why_size, "%s: section 'strategy': %s", path, detail);
    return err;
}

tk_err app_config_strategy(app_config *cfg, const strat_engine **out_engine,
                           const void **out_params, char *why, size_t why_size)
{
    TK_ASSERT(cfg != NULL && out_engine != NULL && out_params != NULL && why != NULL);
    const char *rule = NULL;
    tk_err err = TK_EINVAL;
    cfg->ema_cross.trade = cfg->rsi_reversion.trade = cfg->donchian_breakout.trade = cfg->trade;
    if (strcmp(cfg->strategy, "ema_cross") == 0) {
        *out_engine = &strat_ema_cross;
        *out_params = &cfg->ema_cross;
        err = strat_ema_cross_check(&cfg->ema_cross, &rule);
    } else if (strcmp(cfg->strategy, "rsi_reversion") == 0) {
        *out_engine = &strat_rsi_reversion;
        *out_params = &cfg->rsi_reversion;
        err = strat_rsi_reversion_check(&cfg->rsi_reversion, &rule);
    } else if (strcmp(cfg->strategy, "donchian_breakout") == 0) {
        *out_engine = &strat_donchian_breakout;
        *out_params = &cfg->donchian_breakout;
        err = strat_donchian_check(&cfg->donchian_breakout, &rule);
    } else {
        snprintf(why, why_size,
                 "unknown strategy '%s' (ema_cross, rsi_reversion, donchian_breakout)",
                 cfg->strategy);
        return TK_EINVAL;
    }
    if (err != TK_OK) snprintf(why, why_size, "strategy %s: %s", cfg->strategy, rule);
    return err;
}

void app_config_bootstrap(const app_config *cfg, int64_t ts_ns, const char *reason,
                          led_event out[APP_BOOTSTRAP_EVENTS])
{
    TK_ASSERT(cfg != NULL && reason != NULL && out != NULL);
    memset(out, 0, APP_BOOTSTRAP_EVENTS * sizeof(out[0]));
    for (uint32_t i = 0; i < APP_BOOTSTRAP_EVENTS; i++) {
        out[i].version = 1;
        out[i].ts_ns = ts_ns;
    }
    out[0].type = LED_EV_INSTRUMENT_DEFINED;
    struct led_ev_instrument_defined *ins = &out[0].u.instrument_defined;
    memcpy(ins->symbol, cfg->symbol, sizeof(ins->symbol));
    memcpy(ins->base, cfg->base, sizeof(ins->base));
    memcpy(ins->quote, cfg->quote, sizeof(ins->quote));
    ins->tick_e8 = cfg->tick_e8;
    ins->lot_e8 = cfg->lot_e8;
    ins->min_notional_e8 = cfg->min_notional_e8;
    out[1].type = LED_EV_BALANCE_ADJUSTED;
    memcpy(out[1].u.balance_adjusted.asset, cfg->quote, sizeof(out[1].u.balance_adjusted.asset));
    out[1].u.balance_adjusted.delta_e8 = cfg->initial_equity_e8;
    snprintf(out[1].u.balance_adjusted.reason, LED_TEXT_BYTES, "%s", reason);
    out[2].type = LED_EV_RISK_LIMITS_SET;
    out[2].u.risk_limits_set = cfg->risk;
    out[3].type = LED_EV_STRATEGY_ENABLED;
    memcpy(out[3].u.strategy_enabled.strategy, cfg->strategy, LED_NAME_BYTES);
    out[3].u.strategy_enabled.enabled = true;
}
