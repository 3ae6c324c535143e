/* The backtest report's test executable: non-zero exit if any test failed. */
#include "report_tests.h"

int main(void)
{
    int failed = 0;
    failed += app_test_report();
    return failed == 0 ? 0 : 1;
}
