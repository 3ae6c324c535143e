/* The strategies module's test groups. */
#ifndef TK_TESTS_STRATEGIES_STRATEGIES_TESTS_H
#define TK_TESTS_STRATEGIES_STRATEGIES_TESTS_H

/* Runs the cmocka group "strategies/ind" (strat_ind*.c) and returns the number of failed tests. */
int strat_test_ind(void);

/* Runs the cmocka group "strategies/ema_cross" (strat_ema_cross.c). */
int strat_test_ema_cross(void);

/* Runs the cmocka group "strategies/signals" (rsi_reversion, donchian_breakout). */
int strat_test_signals(void);

#endif /* TK_TESTS_STRATEGIES_STRATEGIES_TESTS_H */
