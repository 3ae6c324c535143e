/* The chaos module's test groups and the helpers they share: temporary directories, the child
 * process each disk nemesis hurts (chaos_child.c) and the environment it runs in. */
#ifndef TK_TESTS_CHAOS_CHAOS_TESTS_H
#define TK_TESTS_CHAOS_CHAOS_TESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "chaos.h"

/* Each runs the cmocka group "chaos/<name>" and returns the number of failed tests. */
int chaos_test_net(void);
int chaos_test_eio(void);
int chaos_test_fault(void);

/* A fresh directory <base>/tk-chaos-<name>-XXXXXX (malloc'd; the test fails if mkdtemp does). */
char *ct_tmpdir_at(const char *base, const char *name);

/* ct_tmpdir_at("/tmp", name). */
char *ct_tmpdir(const char *name);

/* Remove a directory tree (rm -rf) and free its path. NULL is a no-op. */
void ct_tmpdir_remove(char *dir);

#define CT_ENV_MAX 256u /* environment entries a child gets, NULL included */

/* This process's environment with each "NAME=value" of set (NULL-terminated) replacing or
 * adding NAME, into env (CT_ENV_MAX entries, NULL-terminated). The strings are borrowed from
 * environ and set. */
void ct_env(const char *const set[], char *env[CT_ENV_MAX]);

/* The sanitizer runtime (libasan, libtsan) loaded in this process, into path; false when the
 * build has none. A child that libfiu's preloads go into must preload it first: libfiu's
 * malloc wrapper is not ready when the runtime starts, and the runtime's dlsym allocates. */
bool ct_sanitizer_runtime(char *path, size_t size);

/* A running chaos_child (or fiu-run in front of it): its pid, stdin and stdout. */
typedef struct ct_child {
    pid_t pid;
    int in;            /* write end of its stdin; -1 once closed */
    int out;           /* read end of its stdout */
    char pending[512]; /* read from out, not yet handed out as a line */
    size_t pending_size;
} ct_child;

/* Start argv (argv[0] looked up in PATH) with env, stdin and stdout on pipes, stderr
 * inherited. Fails the test if it cannot. */
void ct_child_start(const char *const argv[], char *const env[], ct_child *child);

/* Send one command line (without its newline). */
void ct_child_send(ct_child *child, const char *command);

/* Read the child's next line (without its newline) into line, waiting up to timeout_ms.
 * Returns false at the end of its output (it closed stdout, or ended). Fails the test on
 * timeout, naming what was expected. */
bool ct_child_line_or_end(ct_child *child, char *line, size_t size, int timeout_ms,
                          const char *expect);

/* As ct_child_line_or_end, failing the test at the end of the child's output too. */
void ct_child_line(ct_child *child, char *line, size_t size, int timeout_ms, const char *expect);

/* Close its stdin and wait for it (killing it after 10 s). Returns its exit code, or 128 plus
 * the signal that ended it. */
int ct_child_end(ct_child *child);

#endif /* TK_TESTS_CHAOS_CHAOS_TESTS_H */
