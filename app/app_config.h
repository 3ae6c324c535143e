/* Private to app/: the backtest's configuration, read from YAML (libyaml) strictly: an unknown
 * section or key, a value of the wrong type or out of range is an error naming the file, the
 * line and the key (docs/backtest.md lists every key and its default). */
#ifndef TK_APP_APP_CONFIG_H
#define TK_APP_APP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "led.h"
#include "strat.h"

typedef struct app_config {
    char strategy[LED_NAME_BYTES]; /* the engine: ema_cross, rsi_reversion, donchian_breakout */
    strat_trade_params trade;      /* the keys every strategy shares */
    strat_ema_cross_params ema_cross;
    strat_rsi_reversion_params rsi_reversion;
    strat_donchian_params donchian_breakout;
    char symbol[LED_SYMBOL_BYTES], base[LED_ASSET_BYTES], quote[LED_ASSET_BYTES];
    int64_t tick_e8, lot_e8, min_notional_e8;
    int64_t initial_equity_e8;
    exec_paper_opts venue;
    struct led_ev_risk_limits_set risk;
} app_config;

/* The defaults of docs/backtest.md; the instrument's names come from the first data file's
 * name when it reads <venue>_<BASE>-<QUOTE>_... (e.g. coinbase_BTC-USD_4h_....csv), else
 * ASSET-QUOTE. */
void app_config_defaults(app_config *cfg, const char *first_data_file);

/* Read path over the defaults in cfg. Errors: TK_EINVAL (why: "FILE:LINE: key 'k' in
 * 'section': what"), TK_ENOENT / TK_EPERM (the file cannot be opened; why says so). */
TK_MUST_USE tk_err app_config_load(const char *path, app_config *cfg, char *why, size_t why_size);

/* The engine cfg->strategy names and its parameters (with cfg->trade in them), checked.
 * Errors: TK_EINVAL (an unknown strategy, or parameters its check refuses; why says which). */
TK_MUST_USE tk_err app_config_strategy(app_config *cfg, const strat_engine **out_engine,
                                       const void **out_params, char *why, size_t why_size);

#define APP_BOOTSTRAP_EVENTS 4u

/* The events a ledger needs before the first bar, stamped ts_ns, into out: InstrumentDefined
 * (cfg's symbol, assets, tick, lot, min notional), BalanceAdjusted (initial equity in the quote
 * asset, with reason), RiskLimitsSet (cfg->risk) and StrategyEnabled (cfg->strategy). Keys are
 * left empty for the caller. */
void app_config_bootstrap(const app_config *cfg, int64_t ts_ns, const char *reason,
                          led_event out[APP_BOOTSTRAP_EVENTS]);

#endif /* TK_APP_APP_CONFIG_H */
