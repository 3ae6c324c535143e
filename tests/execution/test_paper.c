/* execution/exec_paper.c: every case of the paper venue's fill model (docs/strategies.md,
 * "Paper venue fill model"), with prices worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <string.h>

#include "exec.h"
#include "exec_tests.h"

#define E8 100000000LL

static const exec_paper_opts venue = {
    .taker_bps = 10, .maker_bps = 5, .slippage_bps = 5, .participation_bps = 0};

/* A bar of BTC: open 100, high 110, low 90, close 105, volume 10. */
static exec_bar bar(int64_t open, int64_t high, int64_t low, int64_t close)
{
    exec_bar b = {.open_e8 = open * E8,
                  .high_e8 = high * E8,
                  .low_e8 = low * E8,
                  .close_e8 = close * E8,
                  .volume_e8 = 10 * E8};
    strcpy(b.symbol, "BTC");
    return b;
}

static void add(exec_book *book, uint64_t index, led_side side, led_order_kind kind, int64_t qty_e8,
                int64_t price_e8)
{
    exec_order o = {.order_index = index,
                    .side = side,
                    .kind = kind,
                    .remaining_e8 = qty_e8,
                    .price_e8 = price_e8};
    strcpy(o.symbol, "BTC");
    assert_int_equal(exec_book_add(book, &o), TK_OK);
}

static uint32_t match(exec_book *book, const exec_paper_opts *opts, exec_bar b, exec_fill *fills)
{
    return exec_paper_match(opts, book, &b, fills, 8);
}

/* Market orders fill in full at the open, moved 5 bps against the taker; taker fee 10 bps of
 * the notional, rounded up. */
static void test_market(void **unused)
{
    (void)unused;
    exec_book book;
    exec_book_init(&book);
    add(&book, 7, LED_SIDE_BUY, LED_ORDER_MARKET, 2 * E8, 0);
    add(&book, 8, LED_SIDE_SELL, LED_ORDER_MARKET, E8 / 3, 0); /* 0.33333333 */
    exec_fill f[8];
    assert_int_equal(match(&book, &venue, bar(100, 110, 90, 105), f), 2);
    assert_int_equal(f[0].order_index, 7);
    assert_int_equal(f[0].price_e8, 10005000000); /* 100 * 1.0005 */
    assert_int_equal(f[0].qty_e8, 2 * E8);
    assert_int_equal(f[0].fee_e8, 20010000); /* 200.1 * 0.001 = 0.2001 */
    assert_false(f[0].maker);
    assert_true(f[0].done);
    assert_int_equal(f[1].price_e8, 9995000000); /* 100 * 0.9995 */
    /* notional 99.95 * 0.33333333 = 33.3166663335 -> 33.31666633 (half-even); fee
     * 0.033316666... rounded up: 0.03331667 */
    assert_int_equal(f[1].fee_e8, 3331667);
    assert_int_equal(book.count, 0);
}

/* A limit fills at its price when the bar trades through it, at the open when the bar opens
 * through it, and not at all when the bar only touches it. Maker fee. */
static void test_limit(void **unused)
{
    (void)unused;
    exec_book book;
    exec_book_init(&book);
    add(&book, 1, LED_SIDE_BUY, LED_ORDER_LIMIT, E8, 95 * E8);   /* low 90 < 95: fills at 95 */
    add(&book, 2, LED_SIDE_BUY, LED_ORDER_LIMIT, E8, 90 * E8);   /* low == 90: only touched */
    add(&book, 3, LED_SIDE_SELL, LED_ORDER_LIMIT, E8, 95 * E8);  /* opens at 100 >= 95: at open */
    add(&book, 4, LED_SIDE_SELL, LED_ORDER_LIMIT, E8, 111 * E8); /* high 110: not reached */
    exec_fill f[8];
    assert_int_equal(match(&book, &venue, bar(100, 110, 90, 105), f), 2);
    assert_int_equal(f[0].order_index, 1);
    assert_int_equal(f[0].price_e8, 95 * E8);
    assert_true(f[0].maker);
    assert_int_equal(f[0].fee_e8, 4750000); /* 95 * 0.0005 = 0.0475 */
    assert_int_equal(f[1].order_index, 3);
    assert_int_equal(f[1].price_e8, 100 * E8);
    assert_int_equal(book.count, 2); /* 2 and 4 rest, in their order */
    assert_int_equal(book.orders[0].order_index, 2);
    assert_int_equal(book.orders[1].order_index, 4);
}

/* A sell stop triggers when the low reaches it and fills at the stop less slippage, or at the
 * open when the bar opened below it; a buy stop mirrors it. */
static void test_stop(void **unused)
{
    (void)unused;
    exec_book book;
    exec_book_init(&book);
    add(&book, 1, LED_SIDE_SELL, LED_ORDER_STOP, E8, 92 * E8); /* low 90 <= 92 */
    add(&book, 2, LED_SIDE_SELL, LED_ORDER_STOP, E8, 89 * E8); /* not reached */
    add(&book, 3, LED_SIDE_BUY, LED_ORDER_STOP, E8, 110 * E8); /* high 110 >= 110 */
    exec_fill f[8];
    assert_int_equal(match(&book, &venue, bar(100, 110, 90, 105), f), 2);
    assert_int_equal(f[0].price_e8, 9195400000); /* 92 * 0.9995 = 91.954 */
    assert_int_equal(f[1].order_index, 3);
    assert_int_equal(f[1].price_e8, 11005500000); /* 110 * 1.0005 = 110.055 */
    assert_false(f[1].maker);
    /* a gap: the bar opens at 85, below the stop at 89: filled at the open */
    assert_int_equal(match(&book, &venue, bar(85, 86, 80, 84), f), 1);
    assert_int_equal(f[0].order_index, 2);
    assert_int_equal(f[0].price_e8, 8495750000); /* 85 * 0.9995 */
    assert_int_equal(book.count, 0);
}

/* Market orders fill before stops and limits, whatever their order in the book. */
static void test_market_first(void **unused)
{
    (void)unused;
    exec_book book;
    exec_book_init(&book);
    add(&book, 1, LED_SIDE_SELL, LED_ORDER_STOP, E8, 95 * E8);
    add(&book, 2, LED_SIDE_BUY, LED_ORDER_MARKET, E8, 0);
    exec_fill f[8];
    assert_int_equal(match(&book, &venue, bar(100, 110, 90, 105), f), 2);
    assert_int_equal(f[0].order_index, 2);
    assert_int_equal(f[1].order_index, 1);
}

/* With a participation cap of 10% of a 10-unit bar, 1 unit fills per bar: a 2.5-unit order
 * fills 1, 1, then 0.5, across three bars, partial until the last. */
static void test_partial(void **unused)
{
    (void)unused;
    exec_paper_opts capped = venue;
    capped.participation_bps = 1000;
    exec_book book;
    exec_book_init(&book);
    add(&book, 1, LED_SIDE_BUY, LED_ORDER_MARKET, 25 * E8 / 10, 0);
    add(&book, 2, LED_SIDE_BUY, LED_ORDER_MARKET, E8, 0); /* waits: the cap is used up */
    exec_fill f[8];
    assert_int_equal(match(&book, &capped, bar(100, 110, 90, 105), f), 1);
    assert_int_equal(f[0].qty_e8, E8);
    assert_false(f[0].done);
    assert_int_equal(book.orders[0].remaining_e8, 15 * E8 / 10);
    assert_int_equal(match(&book, &capped, bar(100, 110, 90, 105), f), 1);
    assert_int_equal(match(&book, &capped, bar(100, 110, 90, 105), f), 2);
    assert_int_equal(f[0].qty_e8, E8 / 2);
    assert_true(f[0].done);
    assert_int_equal(f[1].order_index, 2);
    assert_int_equal(f[1].qty_e8, E8 / 2); /* the rest of the cap */
    assert_false(f[1].done);
}

/* Orders on another symbol are not touched; a full book refuses; remove finds by index. */
static void test_book(void **unused)
{
    (void)unused;
    exec_book book;
    exec_book_init(&book);
    exec_order eth = {
        .order_index = 9, .side = LED_SIDE_BUY, .kind = LED_ORDER_MARKET, .remaining_e8 = E8};
    strcpy(eth.symbol, "ETH");
    assert_int_equal(exec_book_add(&book, &eth), TK_OK);
    exec_fill f[8];
    assert_int_equal(match(&book, &venue, bar(100, 110, 90, 105), f), 0);
    assert_true(exec_book_remove(&book, 9));
    assert_false(exec_book_remove(&book, 9));
    for (uint64_t i = 0; i < EXEC_BOOK_MAX; i++)
        add(&book, i + 1u, LED_SIDE_BUY, LED_ORDER_LIMIT, E8, E8);
    assert_int_equal(exec_book_add(&book, &eth), TK_EFULL);
    eth.remaining_e8 = 0;
    exec_book_init(&book);
    assert_int_equal(exec_book_add(&book, &eth), TK_EINVAL);
    const char *why = NULL;
    exec_paper_opts bad = venue;
    bad.slippage_bps = 10001;
    assert_int_equal(exec_paper_opts_check(&bad, &why), TK_EINVAL);
    assert_string_equal(why, "slippage_bps");
}

int exec_test_paper(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_market),  cmocka_unit_test(test_limit),
        cmocka_unit_test(test_stop),    cmocka_unit_test(test_market_first),
        cmocka_unit_test(test_partial), cmocka_unit_test(test_book),
    };
    return cmocka_run_group_tests_name("execution/paper", tests, NULL, NULL);
}
