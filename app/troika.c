/* The troika binary: command-line entry point. Subcommands land here as their modules do;
 * docs/ARCHITECTURE.md lists what each issue adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "tk.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: troika <command> [options]\n"
                 "commands:\n"
                 "  demo [--seed N] [--log SPEC]  run the most complete end-to-end path built\n"
                 "  version                       print the version\n"
                 "SPEC is a log level spec such as \"info\" or \"warn,demo=debug\".\n");
}

/* What the demo will run once each piece lands, and the issue that brings it. */
static const char *const demo_missing[] = {
    "ledger, RocksDB storage, pre-trade risk gate and audit replay (issue 4)",
    "backtest over ../shared/data with feeds, strategies and the paper venue (issue 5)",
    "three-node Raft cluster with client API and failover (issues 6 and 7)",
    "live Binance feed and venue with reconciliation (issue 8)",
    "chaos harness (issue 9)",
};

static int demo_run(uint64_t seed)
{
    int rc = app_demo_run(seed);
    printf("Still missing from the end-to-end path:\n");
    for (size_t i = 0; i < sizeof(demo_missing) / sizeof(demo_missing[0]); i++) {
        printf("  - %s\n", demo_missing[i]);
    }
    return rc;
}

/* Parse "--seed N" and "--log SPEC" after "demo", then run it; 2 on bad usage. */
static int demo_main(int argc, char **argv)
{
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--seed") == 0 && has_value) {
            char *end = NULL;
            seed = strtoull(argv[++i], &end, 0);
            if (end == argv[i] || *end != '\0') {
                fprintf(stderr, "troika demo: --seed: not an integer: \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--log") == 0 && has_value) {
            char why[160];
            if (tk_log_set_levels(argv[++i], why, sizeof(why)) != TK_OK) {
                fprintf(stderr, "troika demo: --log: %s\n", why);
                return 2;
            }
        } else {
            fprintf(stderr, "troika demo: unknown or incomplete option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return demo_run(seed);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "demo") == 0) return demo_main(argc, argv);
    if (strcmp(argv[1], "version") == 0) {
        printf("troika %s\n", TK_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "troika: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
