/* The feeds module's test executable: every group, non-zero exit if any test failed. */
#include "feeds_tests.h"

int main(void)
{
    int failed = 0;
    failed += feed_test_file();
    failed += feed_test_live();
    return failed == 0 ? 0 : 1;
}
