/* The risk module's test groups. */
#ifndef TK_TESTS_RISK_RISK_TESTS_H
#define TK_TESTS_RISK_RISK_TESTS_H

/* Each runs its cmocka group and returns the number of failed tests. */
int risk_test_watch(void);   /* "risk/watch": the loss measures, the alert, the watch's rules */
int risk_test_monitor(void); /* "risk/monitor": the actor over the journal, ledger and webhook */

#endif /* TK_TESTS_RISK_RISK_TESTS_H */
