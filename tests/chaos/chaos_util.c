/* Helpers shared by the chaos tests: temporary directories, child processes on pipes, and the
 * environment a child runs in. */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos_tests.h"

#define CHILD_END_WAIT_MS 10000 /* how long ct_child_end waits before it kills */

char *ct_tmpdir_at(const char *base, const char *name)
{
    char *dir = malloc(PATH_MAX);
    assert_non_null(dir);
    int n = snprintf(dir, PATH_MAX, "%s/tk-chaos-%s-XXXXXX", base, name);
    assert_true(n > 0 && n < PATH_MAX);
    if (mkdtemp(dir) == NULL) fail_msg("mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

char *ct_tmpdir(const char *name)
{
    return ct_tmpdir_at("/tmp", name);
}

void ct_tmpdir_remove(char *dir)
{
    if (dir == NULL) return;
    char out[512];
    tk_err err = chaos_command_run((const char *const[]){"rm", "-rf", dir, NULL}, out, sizeof(out));
    if (err != TK_OK) fail_msg("removing %s: %s", dir, out);
    free(dir);
}

/* Whether entry ("NAME=value") sets the same name as one of set's entries. */
static bool env_is_replaced(const char *entry, const char *const set[])
{
    size_t len = strcspn(entry, "=");
    for (size_t k = 0; set[k] != NULL; k++) {
        if (strncmp(entry, set[k], len) == 0 && set[k][len] == '=') return true;
    }
    return false;
}

void ct_env(const char *const set[], char *env[CT_ENV_MAX])
{
    size_t count = 0;
    for (size_t i = 0; environ[i] != NULL; i++) {
        if (env_is_replaced(environ[i], set)) continue;
        assert_true(count + 1u < CT_ENV_MAX);
        env[count++] = environ[i];
    }
    for (size_t k = 0; set[k] != NULL; k++) {
        assert_true(count + 1u < CT_ENV_MAX);
        env[count++] = (char *)set[k]; /* execve's type; the child gets a copy */
    }
    env[count] = NULL;
}

typedef struct runtime_find {
    char *path;
    size_t size;
    bool found;
} runtime_find;

static int runtime_visit(struct dl_phdr_info *info, size_t info_size, void *arg)
{
    (void)info_size;
    runtime_find *find = arg;
    const char *name = info->dlpi_name;
    if (name == NULL) return 0;
    if (strstr(name, "/libasan.so") == NULL && strstr(name, "/libtsan.so") == NULL) return 0;
    snprintf(find->path, find->size, "%s", name);
    find->found = true;
    return 1; /* stop */
}

bool ct_sanitizer_runtime(char *path, size_t size)
{
    runtime_find find = {path, size, false};
    dl_iterate_phdr(runtime_visit, &find);
    return find.found;
}

void ct_child_start(const char *const argv[], char *const env[], ct_child *child)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    (void)fcntl(in[1], F_SETFD, FD_CLOEXEC); /* the child keeps only its own ends, as 0 and 1 */
    (void)fcntl(out[0], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t actions;
    assert_int_equal(posix_spawn_file_actions_init(&actions), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&actions, in[0], 0), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&actions, out[1], 1), 0);
    assert_int_equal(posix_spawn_file_actions_addclose(&actions, in[0]), 0);
    assert_int_equal(posix_spawn_file_actions_addclose(&actions, out[1]), 0);
    int rc = posix_spawnp(&child->pid, argv[0], &actions, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    if (rc != 0) fail_msg("cannot start %s: %s", argv[0], strerror(rc));
    child->in = in[1];
    child->out = out[0];
    child->pending_size = 0;
}

void ct_child_send(ct_child *child, const char *command)
{
    assert_true(child->in >= 0);
    char line[256];
    int n = snprintf(line, sizeof(line), "%s\n", command);
    assert_true(n > 0 && (size_t)n < sizeof(line));
    assert_int_equal(write(child->in, line, (size_t)n), n);
}

/* Hand out the first line of child->pending into line, if it holds a whole one. */
static bool line_take(ct_child *child, char *line, size_t size)
{
    char *newline = memchr(child->pending, '\n', child->pending_size);
    if (newline == NULL) return false;
    size_t len = (size_t)(newline - child->pending);
    snprintf(line, size, "%.*s", (int)len, child->pending);
    child->pending_size -= len + 1u;
    memmove(child->pending, newline + 1, child->pending_size);
    return true;
}

bool ct_child_line_or_end(ct_child *child, char *line, size_t size, int timeout_ms,
                          const char *expect)
{
    for (int waited_ms = 0; waited_ms <= timeout_ms; waited_ms += 100) {
        if (line_take(child, line, size)) return true;
        struct pollfd pfd = {.fd = child->out, .events = POLLIN};
        int ready = poll(&pfd, 1, 100);
        if (ready <= 0) continue;
        size_t room = sizeof(child->pending) - child->pending_size;
        if (room == 0)
            fail_msg("child %d: a line longer than %zu bytes", (int)child->pid,
                     sizeof(child->pending));
        ssize_t n = read(child->out, child->pending + child->pending_size, room);
        if (n <= 0) return false;
        child->pending_size += (size_t)n;
    }
    fail_msg("child %d: no %s within %d ms", (int)child->pid, expect, timeout_ms);
    return false;
}

void ct_child_line(ct_child *child, char *line, size_t size, int timeout_ms, const char *expect)
{
    if (!ct_child_line_or_end(child, line, size, timeout_ms, expect)) {
        fail_msg("child %d ended its output while the test waited for %s", (int)child->pid, expect);
    }
}

int ct_child_end(ct_child *child)
{
    if (child->in >= 0) close(child->in);
    child->in = -1;
    int status = 0;
    pid_t done = 0;
    for (int waited_ms = 0; waited_ms < CHILD_END_WAIT_MS && done == 0; waited_ms += 10) {
        done = waitpid(child->pid, &status, WNOHANG);
        if (done == 0) nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (done == 0) { /* stuck: kill it, and say so in the result */
        kill(child->pid, SIGKILL);
        done = waitpid(child->pid, &status, 0);
    }
    close(child->out);
    assert_int_equal(done, child->pid);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
