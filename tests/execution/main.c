/* The execution module's test executable: every group, non-zero exit if any test failed. */
#include "exec_tests.h"

int main(void)
{
    int failed = 0;
    failed += exec_test_paper();
    failed += exec_test_binance();
    failed += exec_test_reconcile();
    failed += exec_test_venue();
    return failed == 0 ? 0 : 1;
}
