/* The cluster module's test groups. */
#ifndef TK_TESTS_CLUSTER_CLUSTER_TESTS_H
#define TK_TESTS_CLUSTER_CLUSTER_TESTS_H

/* Each runs its cmocka group and returns the number of failed tests. */
int clu_test_journal(void);        /* "cluster/journal": the local journal */
int clu_test_journal_actor(void);  /* "cluster/journal_actor": the journal actor's protocol */
int clu_test_guard(void);          /* "cluster/guard": the protocol guard's rules */
int clu_test_guard_schedule(void); /* "cluster/guard_schedule": the late heartbeat reply */
int clu_test_raft_fsm(void);       /* "cluster/raft_fsm": Raft entries and the ledger FSM */
int clu_test_raft_node(void);      /* "cluster/raft_node": three Raft nodes on loopback */

#endif /* TK_TESTS_CLUSTER_CLUSTER_TESTS_H */
