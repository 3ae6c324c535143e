/* The paper venue's fill model: pure and deterministic (docs/strategies.md, "Paper venue fill
 * model"). */
#include <string.h>

#include "exec.h"

tk_err exec_paper_opts_check(const exec_paper_opts *opts, const char **why)
{
    TK_ASSERT(opts != NULL && why != NULL);
    const struct {
        int64_t value;
        const char *name;
    } terms[] = {{opts->taker_bps, "taker_bps"},
                 {opts->maker_bps, "maker_bps"},
                 {opts->slippage_bps, "slippage_bps"},
                 {opts->participation_bps, "participation_bps"}};
    for (unsigned i = 0; i < sizeof(terms) / sizeof(terms[0]); i++) {
        if (terms[i].value < 0 || terms[i].value > 10000) {
            *why = terms[i].name;
            return TK_EINVAL;
        }
    }
    return TK_OK;
}

void exec_book_init(exec_book *book)
{
    TK_ASSERT(book != NULL);
    memset(book, 0, sizeof(*book));
}

tk_err exec_book_add(exec_book *book, const exec_order *order)
{
    TK_ASSERT(book != NULL && order != NULL);
    TK_ASSERT(book->count <= EXEC_BOOK_MAX);
    if (order->remaining_e8 <= 0) return TK_EINVAL;
    if (order->kind != LED_ORDER_MARKET && order->price_e8 <= 0) return TK_EINVAL;
    if (book->count == EXEC_BOOK_MAX) return TK_EFULL;
    book->orders[book->count++] = *order;
    return TK_OK;
}

bool exec_book_remove(exec_book *book, uint64_t order_index)
{
    TK_ASSERT(book != NULL);
    for (uint32_t i = 0; i < book->count; i++) {
        if (book->orders[i].order_index != order_index) continue;
        memmove(&book->orders[i], &book->orders[i + 1u],
                (book->count - i - 1u) * sizeof(book->orders[0]));
        book->count--;
        return true;
    }
    return false;
}

/* price moved by bps against the taker (a buy pays more, a sell gets less), half-even. */
static tk_err slipped(int64_t price_e8, led_side side, int64_t bps, int64_t *out)
{
    int64_t factor = side == LED_SIDE_BUY ? 10000 + bps : 10000 - bps;
    return led_mul_div(price_e8, factor, 10000, LED_ROUND_HALF_EVEN, out);
}

/* The price o fills at on bar b, or 0 when it does not fill there. */
static tk_err fill_price(const exec_paper_opts *opts, const exec_order *o, const exec_bar *b,
                         int64_t *out)
{
    bool buy = o->side == LED_SIDE_BUY;
    *out = 0;
    switch (o->kind) {
    case LED_ORDER_MARKET:
        return slipped(b->open_e8, o->side, opts->slippage_bps, out);
    case LED_ORDER_STOP: {
        bool triggered = buy ? b->high_e8 >= o->price_e8 : b->low_e8 <= o->price_e8;
        if (!triggered) return TK_OK;
        bool gapped = buy ? b->open_e8 >= o->price_e8 : b->open_e8 <= o->price_e8;
        return slipped(gapped ? b->open_e8 : o->price_e8, o->side, opts->slippage_bps, out);
    }
    case LED_ORDER_LIMIT: {
        bool opened_through = buy ? b->open_e8 <= o->price_e8 : b->open_e8 >= o->price_e8;
        bool traded_through = buy ? b->low_e8 < o->price_e8 : b->high_e8 > o->price_e8;
        if (opened_through) *out = b->open_e8;
        if (!opened_through && traded_through) *out = o->price_e8;
        return TK_OK;
    }
    }
    TK_ASSERT(false); /* kind outside the enum */
    return TK_EINVAL;
}

/* Fill what o can take on this bar into f; false when it does not fill (or would overflow). */
static bool fill_one(const exec_paper_opts *opts, exec_order *o, const exec_bar *b,
                     int64_t *budget_e8, exec_fill *f)
{
    int64_t price = 0;
    if (fill_price(opts, o, b, &price) != TK_OK || price <= 0) return false;
    int64_t qty = o->remaining_e8;
    if (*budget_e8 >= 0 && qty > *budget_e8) qty = *budget_e8; /* the participation cap */
    if (qty <= 0) return false;
    bool maker = o->kind == LED_ORDER_LIMIT;
    int64_t notional = 0;
    int64_t fee = 0;
    if (led_notional(price, qty, LED_ROUND_HALF_EVEN, &notional) != TK_OK ||
        led_mul_div(notional, maker ? opts->maker_bps : opts->taker_bps, 10000, LED_ROUND_UP,
                    &fee) != TK_OK)
        return false;
    if (*budget_e8 >= 0) *budget_e8 -= qty;
    o->remaining_e8 -= qty;
    *f = (exec_fill){.order_index = o->order_index,
                     .qty_e8 = qty,
                     .price_e8 = price,
                     .fee_e8 = fee,
                     .maker = maker,
                     .done = o->remaining_e8 == 0};
    return true;
}

uint32_t exec_paper_match(const exec_paper_opts *opts, exec_book *book, const exec_bar *bar,
                          exec_fill *fills, uint32_t fills_max)
{
    TK_ASSERT(opts != NULL && book != NULL && bar != NULL);
    TK_ASSERT(fills != NULL || fills_max == 0);
    int64_t budget = -1; /* no cap */
    if (opts->participation_bps > 0 && led_mul_div(bar->volume_e8, opts->participation_bps, 10000,
                                                   LED_ROUND_DOWN, &budget) != TK_OK)
        budget = 0;
    uint32_t count = 0;
    for (int pass = 0; pass < 2; pass++) { /* market orders first, then stops and limits */
        for (uint32_t i = 0; i < book->count && count < fills_max; i++) {
            exec_order *o = &book->orders[i];
            if ((o->kind == LED_ORDER_MARKET) != (pass == 0)) continue;
            if (strcmp(o->symbol, bar->symbol) != 0) continue;
            if (fill_one(opts, o, bar, &budget, &fills[count])) count++;
        }
    }
    uint32_t kept = 0; /* filled orders leave the book, the others keep their order */
    for (uint32_t i = 0; i < book->count; i++) {
        if (book->orders[i].remaining_e8 > 0) book->orders[kept++] = book->orders[i];
    }
    book->count = kept;
    TK_ASSERT(count <= fills_max);
    return count;
}
