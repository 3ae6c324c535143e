/* The troika binary: command-line entry point. Subcommands land here as their modules do;
 * docs/ARCHITECTURE.md lists what each issue adds. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "chaos.h"
#include "tk.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: troika <command> [options]     (troika <command> --help for more)\n"
                 "commands:\n"
                 "  demo [--venue paper|binance-mock] [--log SPEC] [--out DIR]\n"
                 "                                the end-to-end path built so far: a backtest on\n"
                 "                                real candles ($TROIKA_DATA, default\n"
                 "                                ../shared/data), its report and audit\n"
                 "  gen-events                    write a seeded event stream into a store\n"
                 "  audit verify                  recompute a store's chain hash and state\n"
                 "  replay --until INDEX|TIME     the state as of an index or a time\n"
                 "  export                        the event history as CSV or JSON lines\n"
                 "  backtest                      a strategy over candle files, with a report\n"
                 "  cluster up|down|status        a local three-node cluster, in the background\n"
                 "  node --config FILE            run one cluster node in the foreground\n"
                 "  status|orders|positions|balances\n"
                 "                                ask a node (--node URL, --json)\n"
                 "  kill-switch on|off --reason TEXT\n"
                 "                                set the kill switch through the leader\n"
                 "  order buy|sell QTY SYMBOL     a manual order through the leader\n"
                 "  transfer [--to N]             hand the leader's role to node N\n"
                 "  crash ACTOR                   end an actor as if it failed (debug API)\n"
                 "  data download                 a venue's candles into a CSV file (resumable)\n"
                 "  chaos run|sim                 the chaos harness: faults on a real cluster, or\n"
                 "                                seeds on libraft's fixture (docs/chaos.md)\n"
                 "  version                       print the version\n"
                 "SPEC is a log level spec such as \"info\" or \"warn,demo=debug\".\n");
}

/* Parse the demo's options, then run it; 2 on bad usage. */
static int demo_main(int argc, char **argv)
{
    static const struct option longs[] = {{"venue", required_argument, NULL, 'v'},
                                          {"log", required_argument, NULL, 'l'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *venue = "paper";
    const char *out_dir = "demo-out";
    const char *data_dir = getenv("TROIKA_DATA") != NULL ? getenv("TROIKA_DATA") : "../shared/data";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char why[160];
        if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == 'v' && strcmp(optarg, "paper") != 0 &&
                   strcmp(optarg, "binance-mock") != 0) {
            fprintf(stderr, "troika demo: --venue: paper or binance-mock, not \"%s\"\n", optarg);
            return 2;
        } else if (c == 'v') {
            venue = optarg;
        } else if (c == 'l' && tk_log_set_levels(optarg, why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "troika demo: --log: %s\n", why);
            return 2;
        } else if (c == 'o') {
            out_dir = optarg;
        } else if (c != 'l') {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "troika demo: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return app_demo_run(venue, data_dir, out_dir);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "demo") == 0) return demo_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "gen-events") == 0) return app_gen_events_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "audit") == 0) return app_audit_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "replay") == 0) return app_replay_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0) return app_export_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "backtest") == 0) return app_backtest_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "cluster") == 0) return app_cluster_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "node") == 0) return app_node_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "data") == 0) return app_data_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "chaos") == 0) return chaos_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "orders") == 0 ||
        strcmp(argv[1], "positions") == 0 || strcmp(argv[1], "balances") == 0 ||
        strcmp(argv[1], "kill-switch") == 0 || strcmp(argv[1], "order") == 0 ||
        strcmp(argv[1], "transfer") == 0 || strcmp(argv[1], "crash") == 0)
        return app_client_main(argc - 1, argv + 1);
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
