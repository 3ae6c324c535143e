/* The storage module's test executable: every group, non-zero exit if any test failed. */
#include <stdlib.h>
#include <string.h>

#include "storage_tests.h"

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--bad-write") == 0) { /* test_store.c's child process */
        es_test_bad_write(argv[2], atoi(argv[3]));
        return 0;
    }
    int failed = 0;
    failed += es_test_store();
    failed += es_test_damage();
    failed += es_test_snapshot();
    failed += es_test_replay();
    return failed == 0 ? 0 : 1;
}
