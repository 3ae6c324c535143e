/* The chaos module's test executable: every group, non-zero exit if any test failed. These
 * tests need root (namespaces, iptables, tmpfs mounts) and fiu-utils; they fail, never skip,
 * where the machine cannot run them. */
#include "chaos_tests.h"

int main(void)
{
    int failed = 0;
    failed += chaos_test_net();
    failed += chaos_test_eio();
    failed += chaos_test_fault();
    return failed == 0 ? 0 : 1;
}
