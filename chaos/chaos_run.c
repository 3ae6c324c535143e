/* `troika chaos run` (chaos.h): being written. */
#include "chaos_internal.h"

int chaos__run_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 3;
}
