/* `troika export`: the event history for auditors, as CSV or JSON lines, each event with its
 * outcome as apply decided it on replay (so a rejection carries its rule and detail) and its
 * chain hash. Rows are written by jansson (JSON) and by escaping per RFC 4180 (CSV). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static void export_usage(FILE *out)
{
    fprintf(out, "usage: troika export --data-dir DIR --format csv|jsonl [--type T] [--from I] "
                 "[--to J]\n"
                 "Write the events of the store at DIR to stdout, replayed and checked as by\n"
                 "`audit verify`, each with its outcome (applied, rejected with the risk rule,\n"
                 "refused with the reason), chain hash and idempotency key (empty for none). CSV\n"
                 "has the columns index, time, type, result, rule, detail, chain_hash, key, then\n"
                 "the event's fields: with --type, one column per field of that type; without,\n"
                 "one column \"fields\" holding them as JSON. Money is written as exact decimals.\n"
                 "  --data-dir DIR   the store (RocksDB directory)\n"
                 "  --format F       csv or jsonl\n"
                 "  --type T         only events of type T (OrderFilled, RiskLimitsSet, ...)\n"
                 "  --from I         only events at index I or later\n"
                 "  --to J           only events at index J or earlier\n"
                 "  --help           this text\n");
}

typedef struct export_ctx {
    bool csv;
    led_event_type type; /* 0: every type */
    uint64_t from, to;
} export_ctx;

/* A CSV field per RFC 4180: quoted when it holds a comma, quote or line break. */
static void csv_field(const char *text, bool last)
{
    if (strpbrk(text, ",\"\r\n") == NULL) {
        fputs(text, stdout);
    } else {
        putchar('"');
        for (const char *p = text; *p != '\0'; p++) {
            if (*p == '"') putchar('"');
            putchar(*p);
        }
        putchar('"');
    }
    putchar(last ? '\n' : ',');
}

static json_t *fields_json(const led_event *ev)
{
    json_t *obj = json_object();
    uint32_t count = led_event_field_count(ev->type);
    for (uint32_t i = 0; i < count; i++) {
        led_field_text f;
        led_event_field_text(ev, i, &f);
        json_t *value = NULL;
        bool above_int64 =
            f.text[0] != '-' && strtoull(f.text, NULL, 10) > (unsigned long long)INT64_MAX;
        if (f.kind == LED_FIELD_INTEGER && !above_int64) {
            value = json_integer((json_int_t)strtoll(f.text, NULL, 10));
        } else if (f.kind == LED_FIELD_BOOL) {
            value = json_boolean(strcmp(f.text, "true") == 0);
        } else {
            value = json_string(f.text);
        }
        json_object_set_new(obj, f.key, value);
    }
    return obj;
}

static void export_row(void *arg, const es_replay_step *step)
{
    const export_ctx *ctx = arg;
    if (step->index < ctx->from || step->index > ctx->to) return;
    if (ctx->type != 0 && step->ev->type != ctx->type) return;
    char when[APP_TIME_BYTES], hex[2u * LED_HASH_BYTES + 1u], index[24];
    app_time_format(step->ev->ts_ns, when);
    app_hex(step->chain_hash, LED_HASH_BYTES, hex);
    snprintf(index, sizeof(index), "%llu", (unsigned long long)step->index);
    const led_outcome *out = step->outcome;
    const char *rule = out->result == LED_REJECTED ? led_rule_id(out->rule) : "";
    json_t *fields = fields_json(step->ev);
    if (!ctx->csv) {
        json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s}", "index",
                                (json_int_t)step->index, "ts_ns", (json_int_t)step->ev->ts_ns,
                                "time", when, "type", led_event_type_name(step->ev->type), "fields",
                                fields, "result", led_result_name(out->result), "rule", rule,
                                "detail", out->detail, "chain_hash", hex, "key", step->ev->key);
        char *text = row != NULL ? json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text != NULL) printf("%s\n", text);
        free(text);
        json_decref(row);
        return;
    }
    const char *head[] = {index,
                          when,
                          led_event_type_name(step->ev->type),
                          led_result_name(out->result),
                          rule,
                          out->detail,
                          hex,
                          step->ev->key};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        csv_field(head[i], false);
    if (ctx->type == 0) {
        char *text = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
        csv_field(text != NULL ? text : "", true);
        free(text);
    } else {
        uint32_t count = led_event_field_count(ctx->type);
        for (uint32_t i = 0; i < count; i++) {
            led_field_text f;
            led_event_field_text(step->ev, i, &f);
            csv_field(f.text, i + 1u == count);
        }
    }
    json_decref(fields);
}

static void csv_header(led_event_type type)
{
    printf("index,time,type,result,rule,detail,chain_hash,key");
    if (type == 0) {
        printf(",fields\n");
        return;
    }
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    uint32_t count = led_event_field_count(type);
    for (uint32_t i = 0; i < count; i++) {
        led_field_text f;
        led_event_field_text(&ev, i, &f);
        printf(",%s", f.key);
    }
    printf("\n");
}

static int export_run(es_store *store, export_ctx *ctx)
{
    led_state *state = NULL;
    if (ctx->csv) csv_header(ctx->type);
    es_replay_opts opts = {.from_checkpoint = false,
                           .until_index = ctx->to,
                           .until_ts_ns = INT64_MAX,
                           .visit = export_row,
                           .arg = ctx};
    es_replay_result res;
    es_error why = {{0}};
    tk_err err = app_replay(store, &opts, &state, &res, &why);
    led_state_close(state);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "troika export: writing to stdout failed\n");
        return APP_EXIT_FAIL;
    }
    if (err == TK_OK) return APP_EXIT_OK;
    fprintf(stderr, "troika export: %s (%s)\n", why.text, tk_err_name(err));
    return APP_EXIT_FAIL;
}

/* Parse the options into ctx and *out_dir; APP_EXIT_OK, or the exit code to return. */
static int export_options(int argc, char **argv, export_ctx *ctx, const char **out_dir)
{
    static const struct option longs[] = {{"data-dir", required_argument, NULL, 'd'},
                                          {"format", required_argument, NULL, 'f'},
                                          {"type", required_argument, NULL, 't'},
                                          {"from", required_argument, NULL, 'a'},
                                          {"to", required_argument, NULL, 'b'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *format = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        if (c == 'h') {
            export_usage(stdout);
            return APP_EXIT_HELP;
        } else if (c == 'd') {
            *out_dir = optarg;
        } else if (c == 'f') {
            format = optarg;
        } else if (c == 't') {
            for (unsigned t = 1; t <= LED_EV_TYPE_COUNT; t++) {
                if (strcmp(optarg, led_event_type_name((led_event_type)t)) == 0)
                    ctx->type = (led_event_type)t;
            }
            ok = ctx->type != 0;
        } else if (c == 'a' || c == 'b') {
            ok = app_parse_u64(optarg, c == 'a' ? &ctx->from : &ctx->to);
        } else {
            ok = false;
        }
        if (!ok) {
            if (c == 't' || c == 'a' || c == 'b')
                fprintf(stderr, "troika export: --%s: not a %s: \"%s\"\n",
                        c == 't'   ? "type"
                        : c == 'a' ? "from"
                                   : "to",
                        c == 't' ? "known event type" : "ledger index", optarg);
            export_usage(stderr);
            return APP_EXIT_USAGE;
        }
    }
    if (format == NULL || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0) ||
        optind < argc) {
        fprintf(stderr, "troika export: --format must be csv or jsonl\n");
        return APP_EXIT_USAGE;
    }
    ctx->csv = strcmp(format, "csv") == 0;
    return APP_EXIT_OK;
}

int app_export_main(int argc, char **argv)
{
    export_ctx ctx = {.csv = false, .type = 0, .from = 0, .to = UINT64_MAX};
    const char *dir = NULL;
    int rc = export_options(argc, argv, &ctx, &dir);
    if (rc == APP_EXIT_HELP) return APP_EXIT_OK;
    if (rc != APP_EXIT_OK) return rc;
    es_store *store = NULL;
    rc = app_store_open("export", dir, false, &store);
    if (rc != APP_EXIT_OK) return rc;
    rc = export_run(store, &ctx);
    es_close(store);
    return rc;
}
