/* The backtest report's test groups. */
#ifndef TK_TESTS_REPORT_REPORT_TESTS_H
#define TK_TESTS_REPORT_REPORT_TESTS_H

/* Runs the cmocka group "app/report" and returns the number of failed tests. */
int app_test_report(void);

#endif /* TK_TESTS_REPORT_REPORT_TESTS_H */
