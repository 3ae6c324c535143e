/* The client commands: `troika status|orders|positions|balances [--json]`,
 * `troika kill-switch on|off --reason TEXT`, `troika order buy|sell QTY SYMBOL`,
 * `troika transfer [--to N]` and `troika crash ACTOR`, over the client API (clu_api_call). A
 * write or transfer that reaches a follower is sent again to the leader it names. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define DEFAULT_NODE  "tcp://127.0.0.1:7201"
#define REDIRECTS_MAX 3

typedef struct client {
    const char *cmd;
    char node[CLU_ADDRESS_BYTES];
    char token[128];
    bool json;
    bool follow; /* send a write again to the leader a follower names */
    uint32_t timeout_ms;
} client;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: troika status|orders|positions|balances [--node URL] [--token T]\n"
            "                                              [--config FILE] [--json]\n"
            "       troika kill-switch on|off --reason TEXT [--key KEY] [--no-follow]\n"
            "                                              [--node URL] ...\n"
            "       troika order buy|sell QTY SYMBOL [--kind market|limit|stop] [--price P]\n"
            "                                     [--key KEY] [--no-follow] [--node URL] ...\n"
            "       troika transfer [--to N] [--no-follow] [--node URL] ...\n"
            "                                     hand leadership to node N (default: any)\n"
            "       troika crash ACTOR [--node URL] ...\n"
            "                                     end a registered actor as if it failed\n"
            "                                     (a node with node.debug_api: true only)\n"
            "The node is --node, else the api of --config's node, else %s.\n"
            "The token is --token, else $TROIKA_TOKEN, else --config's.\n"
            "Writes go to the leader: a follower's answer names it and the write follows\n"
            "(--no-follow: print the follower's answer instead).\n",
            DEFAULT_NODE);
}

/* One request; the reply parsed. NULL (with a message) when there was no answer. */
static json_t *call(client *c, const char *url, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    char *reply = NULL, why[256] = "";
    tk_err err = text == NULL
                     ? TK_ENOMEM
                     : clu_api_call(url, c->token, text, c->timeout_ms, &reply, why, sizeof(why));
    free(text);
    if (err != TK_OK) {
        fprintf(stderr, "troika %s: no answer from %s: %s\n", c->cmd, url, why);
        return NULL;
    }
    json_t *obj = json_loads(reply, 0, NULL);
    free(reply);
    return obj;
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

static long long num(const json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

static void print_human(const char *op, const json_t *r)
{
    if (strcmp(op, "status") == 0) {
        printf("node %lld: %s, term %lld, commit %lld, applied %lld, ledger index %lld\n"
               "  leader %lld (%s), state hash %s, kill switch %s\n",
               num(r, "node_id"), str(r, "role"), num(r, "term"), num(r, "commit_index"),
               num(r, "applied_index"), num(r, "ledger_index"), num(r, "leader_id"),
               str(r, "leader_api"), str(r, "state_hash"),
               json_is_true(json_object_get(r, "kill_switch")) ? "ON" : "off");
        return;
    }
    const json_t *items = json_object_get(r, op);
    size_t i;
    const json_t *it;
    printf("node %lld at applied index %lld: %zu %s\n", num(r, "node_id"), num(r, "applied_index"),
           json_array_size(items), op);
    json_array_foreach(items, i, it)
    {
        if (strcmp(op, "orders") == 0)
            printf("  %-8lld %-10s %-4s %-16s qty %s price %s filled %s\n", num(it, "index"),
                   str(it, "symbol"), str(it, "side"), str(it, "state"), str(it, "qty"),
                   str(it, "price"), str(it, "filled"));
        else if (strcmp(op, "positions") == 0)
            printf("  %-10s qty %s avg entry %s realized %s mark %s\n", str(it, "symbol"),
                   str(it, "qty"), str(it, "avg_entry"), str(it, "realized_pnl"), str(it, "mark"));
        else
            printf("  %-6s total %s reserved %s fees %s\n", str(it, "asset"), str(it, "total"),
                   str(it, "reserved"), str(it, "fees"));
    }
}

/* Send req to c->node, following "not_leader" answers to the leader they name. */
static int run(client *c, const char *op, json_t *req)
{
    char url[CLU_ADDRESS_BYTES];
    snprintf(url, sizeof(url), "%s", c->node);
    json_t *r = NULL;
    for (int hop = 0; hop <= REDIRECTS_MAX; hop++) {
        json_decref(r);
        r = call(c, url, req);
        if (r == NULL) return APP_EXIT_FAIL;
        const char *leader = str(r, "leader_api");
        if (!c->follow || strcmp(str(r, "error"), "not_leader") != 0 || leader[0] == '\0' ||
            strcmp(leader, url) == 0)
            break;
        snprintf(url, sizeof(url), "%s", leader);
    }
    bool ok = json_is_true(json_object_get(r, "ok"));
    if (c->json) {
        char *text = json_dumps(r, JSON_SORT_KEYS | JSON_INDENT(2));
        if (text != NULL) puts(text);
        free(text);
    } else if (!ok) {
        fprintf(stderr, "troika %s: %s: %s%s%s\n", c->cmd, str(r, "error"), str(r, "detail"),
                str(r, "leader_api")[0] != '\0' ? "; leader: " : "", str(r, "leader_api"));
    } else if (strcmp(op, "order") == 0) {
        printf("order %s at ledger index %lld (%s%s%s)%s\n", str(req, "side"), num(r, "index"),
               str(r, "result"), str(r, "rule")[0] != '\0' ? ": " : "", str(r, "rule"),
               json_is_true(json_object_get(r, "duplicate")) ? ", already done" : "");
    } else if (strcmp(op, "kill_switch") == 0) {
        printf("kill switch %s at ledger index %lld (%s)%s\n",
               json_is_true(json_object_get(req, "on")) ? "ON" : "off", num(r, "index"),
               str(r, "result"),
               json_is_true(json_object_get(r, "duplicate")) ? ", already done" : "");
    } else if (strcmp(op, "transfer") == 0) {
        printf("node %lld leads now (%s)\n", num(r, "leader_id"), str(r, "leader_api"));
    } else if (strcmp(op, "crash") == 0) {
        printf("actor %s crashed on node %lld; its supervisor restarts it\n", str(r, "actor"),
               num(r, "node_id"));
    } else {
        print_human(op, r);
    }
    json_decref(r);
    return ok ? APP_EXIT_OK : APP_EXIT_FAIL;
}

/* A fresh idempotency key: 16 random bytes in hex. */
static bool random_key(char out[33])
{
    uint8_t bytes[16];
    FILE *f = fopen("/dev/urandom", "rb");
    bool ok = f != NULL && fread(bytes, 1, sizeof(bytes), f) == sizeof(bytes);
    if (f != NULL) fclose(f);
    if (ok) app_hex(bytes, sizeof(bytes), out);
    return ok;
}

int app_client_main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"node", required_argument, NULL, 'n'},   {"token", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"reason", required_argument, NULL, 'r'}, {"key", required_argument, NULL, 'k'},
        {"no-follow", no_argument, NULL, 'f'},    {"kind", required_argument, NULL, 'K'},
        {"price", required_argument, NULL, 'p'},  {"to", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    client c = {.cmd = argv[0], .timeout_ms = 5000, .follow = true};
    const char *node = NULL, *token = getenv("TROIKA_TOKEN"), *config = NULL;
    const char *reason = NULL, *key = NULL, *kind = "market", *price = NULL;
    bool kill = strcmp(argv[0], "kill-switch") == 0;
    bool order = strcmp(argv[0], "order") == 0;
    bool transfer = strcmp(argv[0], "transfer") == 0;
    bool crash = strcmp(argv[0], "crash") == 0;
    bool write = kill || order;
    uint64_t to = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return APP_EXIT_OK;
        } else if (opt == 'n') {
            node = optarg;
        } else if (opt == 't') {
            token = optarg;
        } else if (opt == 'c') {
            config = optarg;
        } else if (opt == 'j') {
            c.json = true;
        } else if (opt == 'r' && kill) {
            reason = optarg;
        } else if (opt == 'k' && write) {
            key = optarg;
        } else if (opt == 'f' && (write || transfer)) {
            c.follow = false;
        } else if (opt == 'T' && transfer) {
            if (!app_parse_u64(optarg, &to) || to > INT64_MAX) {
                fprintf(stderr, "troika transfer: --to: a node id is required\n");
                return APP_EXIT_USAGE;
            }
        } else if (opt == 'K' && order) {
            kind = optarg;
        } else if (opt == 'p' && order) {
            price = optarg;
        } else {
            usage(stderr);
            return APP_EXIT_USAGE;
        }
    }
    app_node_config cfg;
    if (config != NULL) {
        char why[512];
        if (app_node_config_load(config, &cfg, why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "troika %s: %s\n", c.cmd, why);
            return APP_EXIT_USAGE;
        }
        if (node == NULL) node = app_node_self(&cfg)->api;
        if (token == NULL) token = cfg.token;
    }
    snprintf(c.node, sizeof(c.node), "%s", node != NULL ? node : DEFAULT_NODE);
    if (token == NULL) {
        fprintf(stderr, "troika %s: a token is required (--token, $TROIKA_TOKEN or --config)\n",
                c.cmd);
        return APP_EXIT_USAGE;
    }
    snprintf(c.token, sizeof(c.token), "%s", token);
    const char *op = strcmp(c.cmd, "kill-switch") == 0 ? "kill_switch" : c.cmd;
    json_t *req = json_pack("{s:s}", "op", op);
    if (kill) {
        const char *state = optind < argc ? argv[optind++] : "";
        char fresh[33];
        if ((strcmp(state, "on") != 0 && strcmp(state, "off") != 0) || reason == NULL ||
            optind < argc) {
            fprintf(stderr, "troika kill-switch: on or off, and --reason TEXT, are required\n");
            json_decref(req);
            return APP_EXIT_USAGE;
        }
        if (key == NULL && !random_key(fresh)) {
            fprintf(stderr, "troika kill-switch: cannot read /dev/urandom for a key\n");
            json_decref(req);
            return APP_EXIT_FAIL;
        }
        json_object_set_new(req, "on", json_boolean(strcmp(state, "on") == 0));
        json_object_set_new(req, "reason", json_string(reason));
        json_object_set_new(req, "key", json_string(key != NULL ? key : fresh));
    } else if (order) {
        /* the node checks every field and names the one it refuses */
        const char *side = optind < argc ? argv[optind++] : "";
        const char *qty = optind < argc ? argv[optind++] : NULL;
        const char *symbol = optind < argc ? argv[optind++] : NULL;
        char fresh[33];
        if (qty == NULL || symbol == NULL || optind < argc) {
            fprintf(stderr, "troika order: buy|sell, QTY and SYMBOL are required\n");
            json_decref(req);
            return APP_EXIT_USAGE;
        }
        if (key == NULL && !random_key(fresh)) {
            fprintf(stderr, "troika order: cannot read /dev/urandom for a key\n");
            json_decref(req);
            return APP_EXIT_FAIL;
        }
        json_object_set_new(req, "side", json_string(side));
        json_object_set_new(req, "qty", json_string(qty));
        json_object_set_new(req, "symbol", json_string(symbol));
        json_object_set_new(req, "kind", json_string(kind));
        if (price != NULL) json_object_set_new(req, "price", json_string(price));
        json_object_set_new(req, "key", json_string(key != NULL ? key : fresh));
    } else if (transfer && optind == argc) {
        json_object_set_new(req, "to", json_integer((json_int_t)to));
    } else if (crash && optind + 1 == argc) {
        json_object_set_new(req, "actor", json_string(argv[optind++]));
    } else if (crash) {
        fprintf(stderr, "troika crash: one ACTOR is required (a wrong one lists them)\n");
        json_decref(req);
        return APP_EXIT_USAGE;
    } else if (optind < argc) {
        fprintf(stderr, "troika %s: unexpected argument \"%s\"\n", c.cmd, argv[optind]);
        json_decref(req);
        return APP_EXIT_USAGE;
    }
    int rc = run(&c, op, req);
    json_decref(req);
    return rc;
}
