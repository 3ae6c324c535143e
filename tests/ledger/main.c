/* The ledger module's test executable: every group, non-zero exit if any test failed. */
#include "ledger_tests.h"

int main(void)
{
    int failed = 0;
    failed += led_test_money();
    failed += led_test_event();
    failed += led_test_order();
    failed += led_test_hash();
    failed += led_test_property();
    failed += led_test_gate();
    failed += led_test_apply();
    failed += led_test_state();
    return failed == 0 ? 0 : 1;
}
