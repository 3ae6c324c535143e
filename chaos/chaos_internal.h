/* chaos's private declarations: the subcommands chaos_main dispatches to. */
#ifndef TK_CHAOS_CHAOS_INTERNAL_H
#define TK_CHAOS_CHAOS_INTERNAL_H

#include "chaos.h"

/* `troika chaos run ...` (chaos_run.c); argv[0] is "run". Exit codes as chaos_main. */
int chaos__run_main(int argc, char **argv);

/* `troika chaos sim ...` (chaos_sim.c); argv[0] is "sim". Exit codes as chaos_main. */
int chaos__sim_main(int argc, char **argv);

#endif /* TK_CHAOS_CHAOS_INTERNAL_H */
