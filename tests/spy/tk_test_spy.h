/* Test-only: the commit spy. An actor in LED_GROUP_STRATEGIES that sends a heap copy of every
 * LED_MSG_COMMITTED it receives to a test's port, then acknowledges the commit to the journal.
 * The copy goes out before the acknowledgement, and the journal answers LED_MSG_IDLE only once
 * every acknowledgement is in, so a port that also receives the IDLE sees every copy an event
 * caused ahead of it. Used by the execution and risk tests, which drive a real journal. */
#ifndef TK_TESTS_SPY_TK_TEST_SPY_H
#define TK_TESTS_SPY_TK_TEST_SPY_H

#include "act.h"
#include "led.h"
#include "tk.h"

/* The copy's message type: ptr is a malloc'd led_commit (freed with the message). */
#define TK_TEST_MSG_SEEN (ACT_MSG_USER + 0x7e00u)

/* Spawn a spy that sends its copies to `to` (a port's ref). Errors: those of act_spawn and
 * act_group_join. */
TK_MUST_USE tk_err tk_test_spy_spawn(act_system *sys, act_ref to, act_ref *out_ref);

#endif /* TK_TESTS_SPY_TK_TEST_SPY_H */
