/* `troika chaos`: dispatch to the real-process run or the deterministic simulation. */
#include <stdio.h>
#include <string.h>

#include "chaos_internal.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: troika chaos run --scenario NAME --seed N [--duration S] [--out DIR]\n"
                 "       troika chaos sim --seeds A..B [--jobs J] [--guard on|off|observe]\n"
                 "see docs/chaos.md; `troika chaos run --help` and `troika chaos sim --help`\n");
}

int chaos_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0) return chaos__run_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sim") == 0) return chaos__sim_main(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
