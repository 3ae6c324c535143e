/* test_supervisor: every group of the supervisor's tests; exits non-zero when any failed.
 * The supervisor logs every restart and exit; those lines are off here (test_log_lines turns
 * them on for itself) so that a failure's report is readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdio.h>

#include "sup_tests.h"

int main(void)
{
    char why[128];
    if (tk_log_set_levels("info,sup=off,actors=warn", why, sizeof(why)) != TK_OK) {
        fprintf(stderr, "log levels: %s\n", why);
        return 1;
    }
    int failed = 0;
    failed += sup_test_strategies();
    failed += sup_test_restarts();
    failed += sup_test_shutdown();
    failed += sup_test_api();
    return failed == 0 ? 0 : 1;
}
