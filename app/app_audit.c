/* `troika audit verify`: recompute the chain hash and the state from a store's events and
 * check them against what the store holds (docs/audit.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static void audit_usage(FILE *out)
{
    fprintf(out,
            "usage: troika audit verify --data-dir DIR\n"
            "Replay every event of the store at DIR from its start (genesis, or the snapshot\n"
            "it was restored from): each index must follow the last, each event must decode,\n"
            "each recomputed chain hash h[i] = SHA-256(h[i-1] || i || event) must equal the\n"
            "stored one, the state at the checkpoint must equal the stored checkpoint, and the\n"
            "log must end where the store's metadata says. Prints the events checked, the\n"
            "final index and the state hash; exit 0 when all holds, 1 naming the first bad\n"
            "index and what differs, or when the store cannot be read; 2 on bad usage.\n"
            "  --data-dir DIR  the store (RocksDB directory)\n"
            "  --help          this text\n");
}

/* Replay with checks and print the verdict. */
static int audit_run(es_store *store)
{
    led_state *state = NULL;
    es_replay_opts opts = {.from_checkpoint = false,
                           .until_index = UINT64_MAX,
                           .until_ts_ns = INT64_MAX,
                           .visit = NULL,
                           .arg = NULL};
    es_replay_result res;
    es_error why = {{0}};
    tk_err err = app_replay(store, &opts, &state, &res, &why);
    int rc = APP_EXIT_OK;
    if (err == TK_OK) {
        char hex[APP_HASH_HEX_BYTES];
        app_state_hash_hex(state, hex);
        printf("events checked: %llu\nfinal index: %llu\nstate hash: %s\n",
               (unsigned long long)res.events, (unsigned long long)res.last_index, hex);
        app_hex(res.chain_hash, sizeof(res.chain_hash), hex);
        printf("chain hash: %s\ncheckpoint: %s\nverdict: ok\n", hex,
               res.checkpoint_checked ? "matches the replayed state" : "none to check");
    } else if (err == TK_ECORRUPT && res.bad_index > 0) {
        printf("events checked: %llu\nfirst bad index: %llu\nverdict: FAILED: %s\n",
               (unsigned long long)res.events, (unsigned long long)res.bad_index, why.text);
        rc = APP_EXIT_FAIL;
    } else {
        fprintf(stderr, "troika audit verify: %s (%s)\n", why.text, tk_err_name(err));
        rc = APP_EXIT_FAIL;
    }
    led_state_close(state);
    return rc;
}

int app_audit_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0);
        if (!help) fprintf(stderr, "troika audit: expected \"verify\"\n");
        audit_usage(help ? stdout : stderr);
        return help ? APP_EXIT_OK : APP_EXIT_USAGE;
    }
    static const struct option longs[] = {{"data-dir", required_argument, NULL, 'd'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", longs, NULL)) != -1) {
        if (c == 'h') {
            audit_usage(stdout);
            return APP_EXIT_OK;
        }
        if (c != 'd') {
            audit_usage(stderr);
            return APP_EXIT_USAGE;
        }
        dir = optarg;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "troika audit verify: unexpected argument \"%s\"\n", argv[1 + optind]);
        return APP_EXIT_USAGE;
    }
    return app_audit_verify(dir);
}

int app_audit_verify(const char *dir)
{
    es_store *store = NULL;
    int rc = app_store_open("audit verify", dir, false, &store);
    if (rc != APP_EXIT_OK) return rc;
    rc = audit_run(store);
    es_close(store);
    return rc;
}
