/* strategies/strat_rsi_reversion.c and strat_donchian.c: their entries and exits on short
 * hand-checked series (ATR 2, stop 1 ATR, no trailing, 1% risk of an equity of 1000, tick
 * 0.01). Bars have high = close + 1 and low = close - 1 unless said otherwise.
 *
 * rsi_reversion, RSI(2), oversold 30, exit 50:
 *   closes 10 11 12 11 9 12 -> RSI - - 100 50 16.7 72.2: enter at 9 (50 >= 30 > 16.7), with
 *   ATR 2.5 there (the bar 11 -> 9 has a true range of 3): 1% of 1000 / 2.5 = 4; exit at 12.
 * donchian_breakout, entry 3 bars, exit 2 bars:
 *   closes 10 10 10 12 -> the close 12 breaks the 3-bar high 11: enter (ATR 2.5, 4 units); a
 *   next close of 8 is below the low 9 of the 2 bars before it: exit; a next close of 12 is
 *   not, and a close of 8 after it is below their low 11. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdlib.h>

#include "strat.h"
#include "strategies_tests.h"

#define E8 100000000LL

enum { ENTRY = 1, STOP = 2 }; /* the shared trader's tags */

static strat_trade_params trade(void)
{
    strat_trade_params t;
    strat_trade_defaults(&t);
    t.atr_period = 2;
    t.stop_atr = 1.0;
    t.trail_atr = 0.0;
    t.max_position_bps = 10000;
    return t;
}

static const strat_instrument ins = {.tick_e8 = E8 / 100, .lot_e8 = 1};

static uint32_t bar(const strat_engine *e, void *state, int64_t close, strat_out *out)
{
    strat_bar b = {.open_e8 = close * E8,
                   .high_e8 = (close + 1) * E8,
                   .low_e8 = (close - 1) * E8,
                   .close_e8 = close * E8};
    out->count = 0;
    e->on_bar(state, &b, 1000 * E8, out);
    return out->count;
}

/* After an entry of 4 units: accepted as order 50, filled at fill_e8, its stop accepted as
 * 51; the next bar (close) must exit: cancel the stop. */
static void enter_then_exit(const strat_engine *e, void *state, strat_out *out, int64_t fill_e8,
                            int64_t exit_close)
{
    assert_int_equal(out->items[0].kind, STRAT_BUY_MARKET);
    assert_int_equal(out->items[0].qty_e8, 4 * E8);
    out->count = 0;
    e->on_accepted(state, ENTRY, 50, out);
    e->on_fill(state, 50, 4 * E8, fill_e8, true, out);
    assert_int_equal(out->count, 1);
    assert_int_equal(out->items[0].kind, STRAT_SELL_STOP);
    assert_int_equal(out->items[0].price_e8, fill_e8 - 25 * E8 / 10); /* 1 ATR below */
    out->count = 0;
    e->on_accepted(state, STOP, 51, out);
    assert_int_equal(bar(e, state, exit_close, out), 1);
    assert_int_equal(out->items[0].kind, STRAT_CANCEL);
    assert_int_equal(out->items[0].order_index, 51);
}

static void test_rsi_reversion(void **unused)
{
    (void)unused;
    strat_rsi_reversion_params p;
    strat_rsi_reversion_defaults(&p);
    p.rsi_period = 2;
    p.trade = trade();
    void *state = calloc(1, strat_rsi_reversion.state_size);
    assert_non_null(state);
    assert_int_equal(strat_rsi_reversion.init(state, &p, &ins), TK_OK);
    strat_out out;
    const int64_t closes[] = {10, 11, 12, 11};
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(bar(&strat_rsi_reversion, state, closes[i], &out), 0);
    assert_int_equal(bar(&strat_rsi_reversion, state, 9, &out), 1);       /* RSI 16.7 < 30 */
    enter_then_exit(&strat_rsi_reversion, state, &out, 95 * E8 / 10, 12); /* RSI 72.2 > 50 */
    free(state);
    const char *why = NULL;
    p.oversold = 60.0; /* above exit_level */
    assert_int_equal(strat_rsi_reversion_check(&p, &why), TK_EINVAL);
}

static void test_donchian(void **unused)
{
    (void)unused;
    strat_donchian_params p;
    strat_donchian_defaults(&p);
    p.entry_period = 3;
    p.exit_period = 2;
    p.trade = trade();
    void *state = calloc(1, strat_donchian_breakout.state_size);
    assert_non_null(state);
    assert_int_equal(strat_donchian_breakout.init(state, &p, &ins), TK_OK);
    strat_out out;
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(bar(&strat_donchian_breakout, state, 10, &out), 0);
    assert_int_equal(bar(&strat_donchian_breakout, state, 12, &out), 1); /* 12 > 11 */
    enter_then_exit(&strat_donchian_breakout, state, &out, 12 * E8, 8);  /* 8 < 9 */
    free(state);
}

/* The exit of donchian needs the close below the lows before it: 12 after 12 is not one. */
static void test_donchian_exit_rule(void **unused)
{
    (void)unused;
    strat_donchian_params p;
    strat_donchian_defaults(&p);
    p.entry_period = 3;
    p.exit_period = 2;
    p.trade = trade();
    void *state = calloc(1, strat_donchian_breakout.state_size);
    assert_non_null(state);
    assert_int_equal(strat_donchian_breakout.init(state, &p, &ins), TK_OK);
    strat_out out;
    for (unsigned i = 0; i < 3; i++)
        (void)bar(&strat_donchian_breakout, state, 10, &out);
    assert_int_equal(bar(&strat_donchian_breakout, state, 12, &out), 1);
    out.count = 0;
    strat_donchian_breakout.on_accepted(state, ENTRY, 50, &out);
    strat_donchian_breakout.on_fill(state, 50, 4 * E8, 12 * E8, true, &out);
    out.count = 0;
    strat_donchian_breakout.on_accepted(state, STOP, 51, &out);
    assert_int_equal(bar(&strat_donchian_breakout, state, 12, &out), 0); /* lows 9, 11 */
    assert_int_equal(bar(&strat_donchian_breakout, state, 8, &out), 1);  /* 8 < 11 */
    free(state);
}

int strat_test_signals(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsi_reversion),
        cmocka_unit_test(test_donchian),
        cmocka_unit_test(test_donchian_exit_rule),
    };
    return cmocka_run_group_tests_name("strategies/signals", tests, NULL, NULL);
}
