/* The strategies module's test executable: every group, non-zero exit if any test failed. */
#include "strategies_tests.h"

int main(void)
{
    int failed = 0;
    failed += strat_test_ind();
    failed += strat_test_ema_cross();
    failed += strat_test_signals();
    return failed == 0 ? 0 : 1;
}
