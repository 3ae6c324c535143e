/* test_base: every group of the base module's tests; exits non-zero when any test failed. */
#include "base_tests.h"

int main(void)
{
    int failed = 0;
    failed += tk_test_err();
    failed += tk_test_assert();
    failed += tk_test_memory();
    failed += tk_test_pool();
    failed += tk_test_ring();
    failed += tk_test_clock();
    failed += tk_test_rng();
    failed += tk_test_log();
    return failed == 0 ? 0 : 1;
}
