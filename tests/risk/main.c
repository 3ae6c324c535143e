/* The risk module's test executable: every group, non-zero exit if any test failed. */
#include "risk_tests.h"

int main(void)
{
    int failed = 0;
    failed += risk_test_watch();
    failed += risk_test_monitor();
    return failed == 0 ? 0 : 1;
}
