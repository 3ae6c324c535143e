/* The storage module's test executable: every group, non-zero exit if any test failed. */
#include "storage_tests.h"

int main(void)
{
    int failed = 0;
    failed += es_test_store();
    failed += es_test_damage();
    failed += es_test_snapshot();
    failed += es_test_replay();
    return failed == 0 ? 0 : 1;
}
