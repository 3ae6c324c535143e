/* The cluster module's test executable: every group, non-zero exit if any test failed. */
#include "cluster_tests.h"

int main(void)
{
    int failed = 0;
    failed += clu_test_journal();
    failed += clu_test_journal_actor();
    failed += clu_test_guard();
    failed += clu_test_guard_schedule();
    failed += clu_test_raft_fsm();
    failed += clu_test_raft_node();
    return failed == 0 ? 0 : 1;
}
