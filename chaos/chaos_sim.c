/* `troika chaos sim` (chaos.h): being moved here from tests/cluster/raft_chaos.c. */
#include "chaos_internal.h"

int chaos__sim_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 3;
}
