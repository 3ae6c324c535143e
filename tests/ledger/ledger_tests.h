/* The ledger module's test groups, one per source file of ledger/. */
#ifndef TK_TESTS_LEDGER_LEDGER_TESTS_H
#define TK_TESTS_LEDGER_LEDGER_TESTS_H

/* Each runs the cmocka group "ledger/<file>" and returns the number of failed tests. */
int led_test_money(void);
int led_test_event(void);
int led_test_order(void);
int led_test_hash(void);

#endif /* TK_TESTS_LEDGER_LEDGER_TESTS_H */
