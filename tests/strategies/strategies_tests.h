/* The strategies module's test groups. */
#ifndef TK_TESTS_STRATEGIES_STRATEGIES_TESTS_H
#define TK_TESTS_STRATEGIES_STRATEGIES_TESTS_H

/* Runs the cmocka group "strategies/ind" (strat_ind*.c) and returns the number of failed tests. */
int strat_test_ind(void);

#endif /* TK_TESTS_STRATEGIES_STRATEGIES_TESTS_H */
