/* The feeds module's test groups, one per part of feeds/. */
#ifndef TK_TESTS_FEEDS_FEEDS_TESTS_H
#define TK_TESTS_FEEDS_FEEDS_TESTS_H

/* Each runs the cmocka group "feeds/<part>" and returns the number of failed tests. */
int feed_test_file(void);
int feed_test_live(void);

#endif /* TK_TESTS_FEEDS_FEEDS_TESTS_H */
