/* Reconciliation with a venue (exec.h): the events that bring a ledger order in line with what
 * the venue says of it, and the adoption of orders the ledger lacks. Pure: no I/O, no clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"

static bool prefix_ok(const char *p)
{
    size_t n = p != NULL ? strlen(p) : 0;
    if (n == 0 || n >= EXEC_PREFIX_BYTES) return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
              (p[i] >= '0' && p[i] <= '9')))
            return false;
    return true;
}

tk_err exec_client_order_id(const char *prefix, uint64_t order_index, char out[LED_ID_BYTES])
{
    TK_ASSERT(out != NULL);
    if (!prefix_ok(prefix)) return TK_EINVAL;
    snprintf(out, LED_ID_BYTES, "%s-%llu", prefix, (unsigned long long)order_index);
    return TK_OK;
}

bool exec_client_order_index(const char *prefix, const char *client_order_id, uint64_t *out_index)
{
    TK_ASSERT(prefix != NULL && client_order_id != NULL && out_index != NULL);
    size_t n = strlen(prefix);
    if (strncmp(client_order_id, prefix, n) != 0 || client_order_id[n] != '-') return false;
    const char *digits = client_order_id + n + 1;
    if (*digits == '\0' || strlen(digits) > 19) return false;
    uint64_t v = 0;
    for (const char *c = digits; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10u + (uint64_t)(*c - '0');
    }
    *out_index = v;
    return v > 0;
}

static led_event event(led_event_type type, int64_t ts_ns)
{
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.version = 1;
    ev.ts_ns = ts_ns;
    return ev;
}

tk_err exec_reconcile_order(const led_order *o, const exec_binance_order *venue, int64_t ts_ns,
                            led_event *out, size_t *count, char *why, size_t why_size)
{
    TK_ASSERT(o != NULL && out != NULL && count != NULL);
    *count = 0;
    if (venue == NULL) { /* never reached the venue: it is not sent late */
        led_event ev = event(LED_EV_ORDER_REJECTED_BY_VENUE, ts_ns);
        ev.u.order_rejected_by_venue.order_index = o->index;
        ev.u.order_rejected_by_venue.code = -2013;
        snprintf(ev.u.order_rejected_by_venue.message, LED_TEXT_BYTES,
                 "not at the venue on reconciliation: never sent before the leader changed");
        out[(*count)++] = ev;
        return TK_OK;
    }
    if (strcmp(venue->symbol, o->symbol) != 0 || venue->side != o->side ||
        venue->qty_e8 != o->qty_e8)
        return exec__fail(why, why_size, TK_EINVAL,
                          "order %llu: the venue's order %s is not it (symbol, side or quantity)",
                          (unsigned long long)o->index, venue->venue_order_id);
    if (o->venue_order_id[0] == '\0') {
        led_event ev = event(LED_EV_ORDER_ACKED, ts_ns);
        ev.u.order_acked.order_index = o->index;
        snprintf(ev.u.order_acked.venue_order_id, LED_ID_BYTES, "%s", venue->venue_order_id);
        out[(*count)++] = ev;
    }
    int64_t seen = 0; /* the venue's filled quantity up to the fill at hand */
    for (uint32_t i = 0; i < venue->fill_count; i++) {
        const exec_binance_fill *f = &venue->fills[i];
        int64_t before = seen;
        seen += f->qty_e8;
        if (seen <= o->filled_qty_e8) continue; /* the ledger has it */
        if (before < o->filled_qty_e8)
            return exec__fail(
                why, why_size, TK_EINVAL,
                "order %llu: the venue's fills do not line up with the ledger's filled "
                "quantity",
                (unsigned long long)o->index);
        led_event ev = event(LED_EV_ORDER_FILLED, ts_ns);
        struct led_ev_order_filled *e = &ev.u.order_filled;
        e->order_index = o->index;
        snprintf(e->fill_id, LED_ID_BYTES, "b%.*s", (int)LED_ID_BYTES - 2, f->trade_id);
        e->qty_e8 = f->qty_e8;
        e->price_e8 = f->price_e8;
        e->fee_e8 = f->commission_e8;
        snprintf(e->fee_asset, LED_ASSET_BYTES, "%s", f->commission_asset);
        e->maker = f->maker;
        out[(*count)++] = ev;
    }
    if (seen < o->filled_qty_e8)
        return exec__fail(why, why_size, TK_EINVAL,
                          "order %llu: the ledger has more filled than the venue",
                          (unsigned long long)o->index);
    if (venue->status == EXEC_BINANCE_CANCELED || venue->status == EXEC_BINANCE_EXPIRED) {
        led_event ev = event(LED_EV_ORDER_CANCELLED, ts_ns);
        ev.u.order_cancelled.order_index = o->index;
        snprintf(ev.u.order_cancelled.reason, LED_TEXT_BYTES, "%s at the venue",
                 venue->status == EXEC_BINANCE_CANCELED ? "cancelled" : "expired");
        out[(*count)++] = ev;
    } else if (venue->status == EXEC_BINANCE_REJECTED) {
        led_event ev = event(LED_EV_ORDER_REJECTED_BY_VENUE, ts_ns);
        ev.u.order_rejected_by_venue.order_index = o->index;
        snprintf(ev.u.order_rejected_by_venue.message, LED_TEXT_BYTES, "rejected at the venue");
        out[(*count)++] = ev;
    }
    return TK_OK;
}

tk_err exec_reconcile_adopt(const exec_binance_order *venue, int64_t ts_ns, led_event *out)
{
    TK_ASSERT(venue != NULL && out != NULL);
    if (venue->qty_e8 <= 0 || venue->executed_qty_e8 < 0 ||
        venue->executed_qty_e8 > venue->qty_e8 ||
        (venue->kind == LED_ORDER_LIMIT && venue->price_e8 <= 0))
        return TK_EINVAL;
    *out = event(LED_EV_EXTERNAL_ORDER_ADOPTED, ts_ns);
    struct led_ev_external_order_adopted *e = &out->u.external_order_adopted;
    snprintf(e->client_order_id, LED_ID_BYTES, "%s", venue->client_order_id);
    snprintf(e->symbol, LED_SYMBOL_BYTES, "%s", venue->symbol);
    e->side = venue->side;
    e->kind = venue->kind;
    e->qty_e8 = venue->qty_e8;
    e->price_e8 = venue->kind == LED_ORDER_MARKET ? 0 : venue->price_e8;
    e->filled_qty_e8 = venue->executed_qty_e8;
    return led_event_check(out, NULL) == TK_OK ? TK_OK : TK_EINVAL;
}
