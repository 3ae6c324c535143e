/* `troika replay --until`: the state (account, balances, positions, open orders, PnL) as of a
 * ledger index or an event time, rebuilt from the store's events with every check of the
 * audit on the way. Text for people, --json for programs (jansson). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static void replay_usage(FILE *out)
{
    fprintf(out,
            "usage: troika replay --data-dir DIR --until INDEX|TIME [--json]\n"
            "Rebuild the state from the events of the store at DIR up to and including ledger\n"
            "index INDEX, or every event with a time at or before TIME (ISO 8601 UTC:\n"
            "2026-01-01 or 2026-01-01T06:30:00Z), and print balances, positions with their\n"
            "PnL, open orders and the account. Events are checked as by `audit verify`.\n"
            "  --data-dir DIR  the store (RocksDB directory)\n"
            "  --until X       a ledger index or an ISO 8601 UTC time\n"
            "  --json          one JSON object instead of text\n"
            "  --help          this text\n");
}

/* A decimal as a JSON string (exact: never a binary float). */
static json_t *jdec(int64_t value_e8)
{
    char text[LED_DECIMAL_BYTES_MAX];
    (void)led_format(value_e8, text, sizeof(text));
    return json_string(text);
}

static int64_t unrealized(const led_instrument *ins)
{
    int64_t diff, pnl;
    if (ins->position_e8 == 0 || ins->mark_e8 == 0) return 0;
    if (led_sub(ins->mark_e8, ins->avg_entry_e8, &diff) != TK_OK ||
        led_notional(diff, ins->position_e8, LED_ROUND_HALF_EVEN, &pnl) != TK_OK)
        return 0; /* out of range: shown as 0 rather than a wrapped figure */
    return pnl;
}

static json_t *json_positions(const led_state *state, const led_account *a)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < a->instrument_count; i++) {
        led_instrument ins;
        led_state_instrument_at(state, i, &ins);
        json_array_append_new(
            arr, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "symbol", ins.symbol, "quantity",
                           jdec(ins.position_e8), "avg_entry", jdec(ins.avg_entry_e8), "mark",
                           jdec(ins.mark_e8), "realized_pnl", jdec(ins.realized_pnl_e8),
                           "unrealized_pnl", jdec(unrealized(&ins)), "breaker_tripped",
                           ins.breaker_tripped));
    }
    return arr;
}

static json_t *json_orders(const led_state *state)
{
    json_t *arr = json_array();
    led_order o;
    for (uint64_t after = 0; led_state_order_next(state, after, &o) == TK_OK; after = o.index) {
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:b}", "order",
                           (json_int_t)o.index, "symbol", o.symbol, "side",
                           o.side == LED_SIDE_BUY ? "buy" : "sell", "kind",
                           o.kind == LED_ORDER_MARKET  ? "market"
                           : o.kind == LED_ORDER_LIMIT ? "limit"
                                                       : "stop",
                           "state", led_order_state_name(o.state), "qty", jdec(o.qty_e8), "price",
                           jdec(o.price_e8), "filled_qty", jdec(o.filled_qty_e8), "strategy",
                           o.strategy, "external", o.external));
    }
    return arr;
}

static void print_json(const led_state *state, const led_account *a, const char *hash_hex)
{
    char when[APP_TIME_BYTES];
    app_time_format(a->last_ts_ns, when);
    json_t *balances = json_array();
    for (uint32_t i = 0; i < a->asset_count; i++) {
        led_balance b;
        led_state_balance_at(state, i, &b);
        json_array_append_new(balances, json_pack("{s:s, s:o, s:o, s:o}", "asset", b.asset, "total",
                                                  jdec(b.total_e8), "reserved", jdec(b.reserved_e8),
                                                  "fees", jdec(b.fees_e8)));
    }
    json_t *root = json_pack(
        "{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "index",
        (json_int_t)a->last_index, "time", when, "state_hash", hash_hex, "valuation_asset",
        a->valuation_asset, "equity", jdec(a->equity_e8), "peak_equity", jdec(a->peak_equity_e8),
        "start_of_day_equity", jdec(a->sod_equity_e8), "kill_switch", a->kill_switch, "balances",
        balances, "positions", json_positions(state, a), "open_orders", json_orders(state));
    TK_ASSERT(root != NULL); /* json_pack fails only on a bad format or out of memory */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL) printf("%s\n", text);
    free(text);
    json_decref(root);
}

static const char *dec(int64_t value_e8, char buf[LED_DECIMAL_BYTES_MAX])
{
    (void)led_format(value_e8, buf, LED_DECIMAL_BYTES_MAX);
    return buf;
}

static void print_text(const led_state *state, const led_account *a, const char *hash_hex)
{
    char when[APP_TIME_BYTES], d1[LED_DECIMAL_BYTES_MAX], d2[LED_DECIMAL_BYTES_MAX],
        d3[LED_DECIMAL_BYTES_MAX], d4[LED_DECIMAL_BYTES_MAX], d5[LED_DECIMAL_BYTES_MAX];
    app_time_format(a->last_ts_ns, when);
    printf("index %llu at %s\nstate hash %s\n", (unsigned long long)a->last_index, when, hash_hex);
    printf("equity %s %s (peak %s, start of day %s)%s\n", dec(a->equity_e8, d1), a->valuation_asset,
           dec(a->peak_equity_e8, d2), dec(a->sod_equity_e8, d3),
           a->kill_switch ? ", KILL SWITCH ON" : "");
    printf("\nbalances\n  %-8s %22s %22s %18s\n", "asset", "total", "reserved", "fees");
    for (uint32_t i = 0; i < a->asset_count; i++) {
        led_balance b;
        led_state_balance_at(state, i, &b);
        printf("  %-8s %22s %22s %18s\n", b.asset, dec(b.total_e8, d1), dec(b.reserved_e8, d2),
               dec(b.fees_e8, d3));
    }
    printf("\npositions\n  %-10s %16s %16s %16s %18s %18s\n", "symbol", "quantity", "avg entry",
           "mark", "realized pnl", "unrealized pnl");
    for (uint32_t i = 0; i < a->instrument_count; i++) {
        led_instrument ins;
        led_state_instrument_at(state, i, &ins);
        printf("  %-10s %16s %16s %16s %18s %18s\n", ins.symbol, dec(ins.position_e8, d1),
               dec(ins.avg_entry_e8, d2), dec(ins.mark_e8, d3), dec(ins.realized_pnl_e8, d4),
               dec(unrealized(&ins), d5));
    }
    printf("\nopen orders (%u)\n  %-10s %-10s %-5s %-7s %-17s %16s %16s %16s\n",
           a->open_order_count, "order", "symbol", "side", "kind", "state", "qty", "price",
           "filled");
    led_order o;
    for (uint64_t after = 0; led_state_order_next(state, after, &o) == TK_OK; after = o.index) {
        printf("  %-10llu %-10s %-5s %-7s %-17s %16s %16s %16s\n", (unsigned long long)o.index,
               o.symbol, o.side == LED_SIDE_BUY ? "buy" : "sell",
               o.kind == LED_ORDER_MARKET  ? "market"
               : o.kind == LED_ORDER_LIMIT ? "limit"
                                           : "stop",
               led_order_state_name(o.state), dec(o.qty_e8, d1), dec(o.price_e8, d2),
               dec(o.filled_qty_e8, d3));
    }
    printf("\norders accepted %llu, rejected %llu; events applied %llu, refused %llu\n",
           (unsigned long long)a->orders_accepted, (unsigned long long)a->orders_rejected,
           (unsigned long long)a->events_applied, (unsigned long long)a->events_refused);
}

static int replay_run(es_store *store, uint64_t until_index, int64_t until_ts_ns, bool json)
{
    led_state *state = NULL;
    es_replay_opts opts = {.from_checkpoint = false,
                           .until_index = until_index,
                           .until_ts_ns = until_ts_ns,
                           .visit = NULL,
                           .arg = NULL};
    es_replay_result res;
    es_error why = {{0}};
    tk_err err = app_replay(store, &opts, &state, &res, &why);
    int rc = APP_EXIT_OK;
    if (err == TK_OK) {
        char hex[APP_HASH_HEX_BYTES];
        app_state_hash_hex(state, hex);
        led_account acct;
        led_state_account(state, &acct);
        if (json) {
            print_json(state, &acct, hex);
        } else {
            print_text(state, &acct, hex);
        }
    } else {
        fprintf(stderr, "troika replay: %s (%s)\n", why.text, tk_err_name(err));
        rc = APP_EXIT_FAIL;
    }
    led_state_close(state);
    return rc;
}

int app_replay_main(int argc, char **argv)
{
    static const struct option longs[] = {{"data-dir", required_argument, NULL, 'd'},
                                          {"until", required_argument, NULL, 'u'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    const char *until = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'h') {
            replay_usage(stdout);
            return APP_EXIT_OK;
        }
        if (c == 'd') {
            dir = optarg;
        } else if (c == 'u') {
            until = optarg;
        } else if (c == 'j') {
            json = true;
        } else {
            replay_usage(stderr);
            return APP_EXIT_USAGE;
        }
    }
    uint64_t until_index = UINT64_MAX;
    int64_t until_ts_ns = INT64_MAX;
    if (until == NULL || optind < argc ||
        (!app_parse_u64(until, &until_index) && !app_parse_time(until, &until_ts_ns))) {
        fprintf(stderr,
                "troika replay: --until needs a ledger index or an ISO 8601 UTC time "
                "(2026-01-01T06:30:00Z)%s%s\n",
                until != NULL ? ", not " : "", until != NULL ? until : "");
        return APP_EXIT_USAGE;
    }
    es_store *store = NULL;
    int rc = app_store_open("replay", dir, false, &store);
    if (rc != APP_EXIT_OK) return rc;
    rc = replay_run(store, until_index, until_ts_ns, json);
    es_close(store);
    return rc;
}
