/* strategies/strat_ema_cross.c: the engine's intents on a short hand-checked series (fast 2,
 * slow 3, ATR 2, stop and trail 1 ATR, 1% risk, tick 0.01, lot 1e-8, equity 1000):
 *
 *   bar  close (high, low)  EMA2     EMA3    ATR2  event
 *   0    10 (11, 9)         -        -       -
 *   1    10 (11, 9)         10       -       2     ATR seeded: mean(2, 2)
 *   2    10 (11, 9)         10       10      2     both EMAs ready
 *   3     9 (10, 8)         9.333    9.5     2     cross down (FLAT: nothing)
 *   4    12 (13, 11)        11.111   10.75   3     cross up: buy 1% / 3 = 3.33333333
 *        fill at 12.5 -> stop at 12.5 - 3 = 9.5
 *   5    14 (15, 13)        13.037   12.375  3     trail: 14 - 3 = 11 > 9.5: cancel, restop
 *   6    10 (11, 9)         11.012   11.188  2.5   cross down: cancel the stop, then sell */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdlib.h>
#include <string.h>

#include "strat.h"
#include "strategies_tests.h"

#define E8 100000000LL

enum { ENTRY = 1, STOP = 2, EXIT = 3 }; /* the engine's tags, as docs/strategies.md numbers them */

typedef struct engine {
    void *state;
    strat_out out;
} engine;

static void engine_open(engine *e)
{
    strat_ema_cross_params p;
    strat_ema_cross_defaults(&p);
    p.fast = 2;
    p.slow = 3;
    p.trade.atr_period = 2;
    p.trade.stop_atr = 1.0;
    p.trade.trail_atr = 1.0;
    p.trade.max_position_bps = 10000;
    strat_instrument ins = {.tick_e8 = E8 / 100, .lot_e8 = 1};
    e->state = calloc(1, strat_ema_cross.state_size);
    assert_non_null(e->state);
    assert_int_equal(strat_ema_cross.init(e->state, &p, &ins), TK_OK);
}

static const strat_out *bar(engine *e, int64_t close, int64_t high, int64_t low)
{
    strat_bar b = {
        .close_e8 = close * E8, .high_e8 = high * E8, .low_e8 = low * E8, .open_e8 = close * E8};
    e->out.count = 0;
    strat_ema_cross.on_bar(e->state, &b, 1000 * E8, &e->out);
    return &e->out;
}

static void expect(const strat_out *out, strat_intent_kind kind, uint32_t tag, int64_t qty,
                   int64_t price, uint64_t order)
{
    assert_int_equal(out->count, 1);
    assert_int_equal(out->items[0].kind, kind);
    if (kind != STRAT_CANCEL) {
        assert_int_equal(out->items[0].tag, tag);
        assert_int_equal(out->items[0].qty_e8, qty);
        assert_int_equal(out->items[0].price_e8, price);
    } else {
        assert_int_equal(out->items[0].order_index, order);
    }
}

/* Bars 0 to 4: nothing until the cross up at bar 4, which buys 3.33333333. */
static void enter(engine *e)
{
    assert_int_equal(bar(e, 10, 11, 9)->count, 0);
    assert_int_equal(bar(e, 10, 11, 9)->count, 0);
    assert_int_equal(bar(e, 10, 11, 9)->count, 0);
    assert_int_equal(bar(e, 9, 10, 8)->count, 0); /* a cross down while flat */
    /* risk 1% of 1000 = 10 at a stop distance of 3: 3.33333333 (floored to 1e-8) */
    expect(bar(e, 12, 13, 11), STRAT_BUY_MARKET, ENTRY, 333333333, 0, 0);
}

static void test_round_trip(void **unused)
{
    (void)unused;
    engine e;
    engine_open(&e);
    enter(&e);
    e.out.count = 0;
    strat_ema_cross.on_accepted(e.state, ENTRY, 50, &e.out);
    assert_int_equal(e.out.count, 0);
    strat_ema_cross.on_fill(e.state, 50, 333333333, 125 * E8 / 10, true, &e.out);
    expect(&e.out, STRAT_SELL_STOP, STOP, 333333333, 95 * E8 / 10, 0); /* 12.5 - 3 */
    e.out.count = 0;
    strat_ema_cross.on_accepted(e.state, STOP, 51, &e.out);
    expect(bar(&e, 14, 15, 13), STRAT_CANCEL, 0, 0, 0, 51); /* trail to 14 - 3 = 11 */
    e.out.count = 0;
    strat_ema_cross.on_cancelled(e.state, 51, &e.out);
    expect(&e.out, STRAT_SELL_STOP, STOP, 333333333, 11 * E8, 0);
    e.out.count = 0;
    strat_ema_cross.on_accepted(e.state, STOP, 53, &e.out);
    expect(bar(&e, 10, 11, 9), STRAT_CANCEL, 0, 0, 0, 53); /* cross down: free the quantity */
    e.out.count = 0;
    strat_ema_cross.on_cancelled(e.state, 53, &e.out);
    expect(&e.out, STRAT_SELL_MARKET, EXIT, 333333333, 0, 0); /* then sell it */
    e.out.count = 0;
    strat_ema_cross.on_accepted(e.state, EXIT, 55, &e.out);
    strat_ema_cross.on_fill(e.state, 55, 333333333, 10 * E8, true, &e.out);
    assert_int_equal(e.out.count, 0);
    assert_int_equal(bar(&e, 13, 14, 12)->count, 1); /* flat again: a cross up enters again */
    free(e.state);
}

/* The stop's fill ends the trade; a rejected entry leaves the strategy flat. */
static void test_stopped_and_rejected(void **unused)
{
    (void)unused;
    engine e;
    engine_open(&e);
    enter(&e);
    e.out.count = 0;
    strat_ema_cross.on_accepted(e.state, ENTRY, 50, &e.out);
    strat_ema_cross.on_fill(e.state, 50, 333333333, 12 * E8, true, &e.out);
    expect(&e.out, STRAT_SELL_STOP, STOP, 333333333, 9 * E8, 0);
    e.out.count = 0;
    strat_ema_cross.on_accepted(e.state, STOP, 51, &e.out);
    strat_ema_cross.on_fill(e.state, 51, 333333333, 9 * E8, true, &e.out); /* stopped out */
    assert_int_equal(bar(&e, 8, 9, 7)->count, 0);
    assert_int_equal(bar(&e, 15, 16, 14)->count, 1); /* flat: a new cross up enters */
    e.out.count = 0;
    strat_ema_cross.on_rejected(e.state, ENTRY, &e.out);
    assert_int_equal(bar(&e, 16, 17, 15)->count, 0); /* flat, no cross: nothing */
    free(e.state);
}

/* Parameters are checked, each rule by name. */
static void test_params(void **unused)
{
    (void)unused;
    strat_ema_cross_params p;
    strat_ema_cross_defaults(&p);
    const char *why = NULL;
    assert_int_equal(strat_ema_cross_check(&p, &why), TK_OK);
    p.slow = p.fast;
    assert_int_equal(strat_ema_cross_check(&p, &why), TK_EINVAL);
    assert_non_null(strstr(why, "slow"));
    strat_ema_cross_defaults(&p);
    p.trade.risk_bps = 0;
    assert_int_equal(strat_ema_cross_check(&p, &why), TK_EINVAL);
    assert_non_null(strstr(why, "risk_bps"));
}

int strat_test_ema_cross(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stopped_and_rejected),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests_name("strategies/ema_cross", tests, NULL, NULL);
}
