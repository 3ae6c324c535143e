/* The backtest's YAML configuration, read with libyaml's event parser (the only file of app/
 * that includes yaml.h): a mapping of sections, each a mapping of scalar keys to scalar values,
 * checked against one table of keys. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "app_config.h"

typedef enum key_kind { K_STR, K_U32, K_INT, K_DBL, K_DEC } key_kind;

typedef struct key_desc {
    const char *section, *key;
    key_kind kind;
    size_t offset, size; /* K_STR: the array's bytes */
    int64_t min, max;    /* K_U32, K_INT, K_DEC (in 1e-8), K_DBL (whole bounds) */
} key_desc;

#define AT(f)  offsetof(app_config, f)
#define SZ(f)  sizeof(((app_config *)0)->f)
#define BPS    0, 10000
#define POS_E8 1, INT64_MAX
#define STR(s, k, f)                    \
    {                                   \
        s, k, K_STR, AT(f), SZ(f), 0, 0 \
    }
#define NUM(s, k, kind, f, ...)           \
    {                                     \
        s, k, kind, AT(f), 0, __VA_ARGS__ \
    }

static const key_desc keys[] = {
    STR("strategy", "name", strategy),
    NUM("strategy", "fast", K_U32, ema_cross.fast, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "slow", K_U32, ema_cross.slow, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "rsi_period", K_U32, rsi_reversion.rsi_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "oversold", K_DBL, rsi_reversion.oversold, 0, 100),
    NUM("strategy", "exit_level", K_DBL, rsi_reversion.exit_level, 0, 100),
    NUM("strategy", "entry_period", K_U32, donchian_breakout.entry_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "exit_period", K_U32, donchian_breakout.exit_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "atr_period", K_U32, trade.atr_period, 1, STRAT_PERIOD_MAX),
    NUM("strategy", "stop_atr", K_DBL, trade.stop_atr, 0, 100),
    NUM("strategy", "trail_atr", K_DBL, trade.trail_atr, -1, 100),
    NUM("strategy", "risk_bps", K_INT, trade.risk_bps, 1, 10000),
    NUM("strategy", "max_position_bps", K_INT, trade.max_position_bps, 1, 10000),
    STR("instrument", "symbol", symbol),
    STR("instrument", "base", base),
    STR("instrument", "quote", quote),
    NUM("instrument", "tick", K_DEC, tick_e8, POS_E8),
    NUM("instrument", "lot", K_DEC, lot_e8, POS_E8),
    NUM("instrument", "min_notional", K_DEC, min_notional_e8, 0, INT64_MAX),
    NUM("account", "initial_equity", K_DEC, initial_equity_e8, POS_E8),
    NUM("venue", "taker_bps", K_INT, venue.taker_bps, BPS),
    NUM("venue", "maker_bps", K_INT, venue.maker_bps, BPS),
    NUM("venue", "slippage_bps", K_INT, venue.slippage_bps, BPS),
    NUM("venue", "participation_bps", K_INT, venue.participation_bps, BPS),
    NUM("risk", "max_order_notional", K_DEC, risk.max_order_notional_e8, POS_E8),
    NUM("risk", "max_position_notional", K_DEC, risk.max_position_notional_e8, POS_E8),
    NUM("risk", "max_position_equity_bps", K_INT, risk.max_position_equity_bps, 1, 10000),
    NUM("risk", "max_gross_exposure", K_DEC, risk.max_gross_exposure_e8, POS_E8),
    NUM("risk", "max_open_orders", K_INT, risk.max_open_orders, 1, LED_ORDERS_OPEN_MAX),
    NUM("risk", "price_band_bps", K_INT, risk.price_band_bps, 1, 10000),
    NUM("risk", "daily_loss_bps", K_INT, risk.daily_loss_bps, 1, 10000),
    NUM("risk", "max_drawdown_bps", K_INT, risk.max_drawdown_bps, 1, 10000),
};

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

typedef struct reader {
    yaml_parser_t parser;
    const char *path;
    char *why;
    size_t why_size;
} reader;

static tk_err bad(reader *r, size_t line, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

static tk_err bad(reader *r, size_t line, const char *fmt, ...)
{
    int n = snprintf(r->why, r->why_size, "%s:%zu: ", r->path, line + 1u);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < r->why_size) vsnprintf(r->why + n, r->why_size - (size_t)n, fmt, ap);
    va_end(ap);
    return TK_EINVAL;
}

/* The next event, of the wanted type (YAML_NO_EVENT: any); the caller deletes it. */
static tk_err next_event(reader *r, yaml_event_t *ev, yaml_event_type_t want, const char *what)
{
    if (!yaml_parser_parse(&r->parser, ev))
        return bad(r, r->parser.problem_mark.line, "not YAML: %s",
                   r->parser.problem != NULL ? r->parser.problem : "syntax error");
    if (want != YAML_NO_EVENT && ev->type != want) {
        size_t line = ev->start_mark.line;
        yaml_event_delete(ev);
        return bad(r, line, "expected %s", what);
    }
    return TK_OK;
}

static tk_err set_value(reader *r, app_config *cfg, const key_desc *k, const char *text,
                        size_t line)
{
    unsigned char *at = (unsigned char *)cfg + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->kind) {
    case K_STR:
        if (text[0] == '\0' || strlen(text) >= k->size)
            return bad(r, line, "key '%s' in '%s': empty or longer than %zu bytes", k->key,
                       k->section, k->size - 1u);
        snprintf((char *)at, k->size, "%s", text);
        return TK_OK;
    case K_U32:
    case K_INT: {
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || v < k->min || v > k->max)
            return bad(r, line, "key '%s' in '%s': not an integer from %lld to %lld: \"%s\"",
                       k->key, k->section, (long long)k->min, (long long)k->max, text);
        if (k->kind == K_U32) *(uint32_t *)(void *)at = (uint32_t)v;
        if (k->kind == K_INT) *(int64_t *)(void *)at = (int64_t)v;
        return TK_OK;
    }
    case K_DBL: {
        double v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v <= (double)k->min ||
            v > (double)k->max)
            return bad(r, line, "key '%s' in '%s': not a number above %lld, at most %lld: \"%s\"",
                       k->key, k->section, (long long)k->min, (long long)k->max, text);
        *(double *)(void *)at = v;
        return TK_OK;
    }
    case K_DEC: {
        int64_t v = 0;
        led_parse_error pe = {0, NULL};
        if (led_parse(text, strlen(text), &v, &pe) != TK_OK || v < k->min || v > k->max)
            return bad(r, line, "key '%s' in '%s': not a decimal in range (%s): \"%s\"", k->key,
                       k->section, pe.reason != NULL ? pe.reason : "out of range", text);
        *(int64_t *)(void *)at = v;
        return TK_OK;
    }
    }
    TK_ASSERT(false); /* kind outside the enum */
    return TK_EINVAL;
}

/* One section's mapping: scalar keys to scalar values. */
static tk_err read_section(reader *r, app_config *cfg, const char *section)
{
    yaml_event_t ev;
    tk_err err = next_event(r, &ev, YAML_MAPPING_START_EVENT, "a mapping of keys to values");
    if (err != TK_OK) return err;
    yaml_event_delete(&ev);
    for (;;) { /* bounded by the document: each turn consumes a key and its value, or ends */
        if ((err = next_event(r, &ev, YAML_NO_EVENT, "")) != TK_OK) return err;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return TK_OK;
        }
        size_t line = ev.start_mark.line;
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            return bad(r, line, "in '%s': expected a key", section);
        }
        const key_desc *k = NULL;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && k == NULL; i++) {
            if (strcmp(keys[i].section, section) == 0 &&
                strcmp(keys[i].key, (const char *)ev.data.scalar.value) == 0)
                k = &keys[i];
        }
        if (k == NULL) {
            err = bad(r, line, "key '%s' in '%s': unknown", (const char *)ev.data.scalar.value,
                      section);
            yaml_event_delete(&ev);
            return err;
        }
        yaml_event_delete(&ev);
        if ((err = next_event(r, &ev, YAML_SCALAR_EVENT, "a value")) != TK_OK) return err;
        err = set_value(r, cfg, k, (const char *)ev.data.scalar.value, ev.start_mark.line);
        yaml_event_delete(&ev);
        if (err != TK_OK) return err;
    }
}

static bool section_known(const char *name)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i].section, name) == 0) return true;
    }
    return false;
}

static tk_err read_document(reader *r, app_config *cfg)
{
    static const yaml_event_type_t head[] = {YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT,
                                             YAML_MAPPING_START_EVENT};
    yaml_event_t ev;
    tk_err err = TK_OK;
    for (size_t i = 0; i < 3 && err == TK_OK; i++) {
        err = next_event(r, &ev, head[i], "a mapping of sections");
        if (err == TK_OK) yaml_event_delete(&ev);
    }
    while (err == TK_OK) { /* bounded by the document */
        if ((err = next_event(r, &ev, YAML_NO_EVENT, "")) != TK_OK) break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return TK_OK;
        }
        size_t line = ev.start_mark.line;
        char section[32] = "";
        if (ev.type == YAML_SCALAR_EVENT)
            snprintf(section, sizeof(section), "%s", (const char *)ev.data.scalar.value);
        bool scalar = ev.type == YAML_SCALAR_EVENT;
        yaml_event_delete(&ev);
        if (!scalar || !section_known(section))
            return bad(r, line,
                       "section '%s': unknown (strategy, instrument, account, venue, "
                       "risk)",
                       section);
        err = read_section(r, cfg, section);
    }
    return err;
}

tk_err app_config_load(const char *path, app_config *cfg, char *why, size_t why_size)
{
    TK_ASSERT(path != NULL && cfg != NULL && why != NULL && why_size > 0);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(why, why_size, "%s: cannot open: %s", path, strerror(e));
        return tk_err_from_errno(e);
    }
    reader r = {.path = path, .why = why, .why_size = why_size};
    if (!yaml_parser_initialize(&r.parser)) {
        fclose(f);
        snprintf(why, why_size, "%s: out of memory for the YAML parser", path);
        return TK_ENOMEM;
    }
    yaml_parser_set_input_file(&r.parser, f);
    tk_err err = read_document(&r, cfg);
    yaml_parser_delete(&r.parser);
    fclose(f);
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
