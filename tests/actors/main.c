/* test_actors: every group of the actor runtime's tests; exits non-zero when any test failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdlib.h>

#include "actors_tests.h"

int main(void)
{
    /* The tests end tens of thousands of actors with errors on purpose; each is a warning. */
    if (tk_log_set_level("actors", getenv("TK_ACT_LOG") ? TK_LOG_DEBUG : TK_LOG_ERROR) != TK_OK)
        return 1;
    const char *filter = getenv("TK_ACT_FILTER"); /* e.g. "test_broadcast*" to run a few */
    if (filter != NULL) cmocka_set_test_filter(filter);
    int failed = 0;
    failed += act_test_spawn();
    failed += act_test_refs();
    failed += act_test_mailbox();
    failed += act_test_links();
    failed += act_test_monitors();
    failed += act_test_registry();
    failed += act_test_groups();
    failed += act_test_timers();
    failed += act_test_request();
    failed += act_test_ports();
    failed += act_test_watchdog();
    failed += act_test_close();
    failed += act_test_churn();
    return failed == 0 ? 0 : 1;
}
