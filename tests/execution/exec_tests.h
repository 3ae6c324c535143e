/* The execution module's test groups. */
#ifndef TK_TESTS_EXECUTION_EXEC_TESTS_H
#define TK_TESTS_EXECUTION_EXEC_TESTS_H

/* Each runs its cmocka group and returns the number of failed tests. */
int exec_test_paper(void);     /* "execution/paper": the paper venue's fill model */
int exec_test_binance(void);   /* "execution/binance": Binance requests against the mock */
int exec_test_reconcile(void); /* "execution/reconcile": the events that reconcile an order */
int exec_test_venue(void);     /* "execution/venue": the Binance venue actor against the mock */

#endif /* TK_TESTS_EXECUTION_EXEC_TESTS_H */
