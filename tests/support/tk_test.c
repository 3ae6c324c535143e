/* Test support: the fault-injecting allocator, its fixtures, out-parameter marks and the
 * forked-child runner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tk_test.h"

static void *fault_alloc(void *ctx, size_t size_bytes)
{
    tk_test_mem *test_mem = ctx;
    TK_ASSERT(test_mem != NULL);
    TK_ASSERT(size_bytes > 0);
    uint64_t attempt = test_mem->attempts++;
    if (test_mem->cap_bytes > 0 && size_bytes > test_mem->cap_bytes) return NULL;
    if (test_mem->fail_count > 0 && attempt >= test_mem->fail_at) {
        if (attempt - test_mem->fail_at < test_mem->fail_count) return NULL;
    }
    void *ptr = malloc(size_bytes);
    if (ptr == NULL) return NULL;
    test_mem->allocs++;
    test_mem->live_bytes += size_bytes;
    return ptr;
}

static void fault_free(void *ctx, void *ptr, size_t size_bytes)
{
    tk_test_mem *test_mem = ctx;
    TK_ASSERT(test_mem != NULL);
    if (ptr == NULL) return;
    TK_ASSERT(test_mem->live_bytes >= size_bytes);
    test_mem->live_bytes -= size_bytes;
    test_mem->frees++;
    free(ptr);
}

void tk_test_mem_init(tk_test_mem *test_mem)
{
    TK_ASSERT(test_mem != NULL);
    *test_mem = (tk_test_mem){
        .mem = {.alloc = fault_alloc, .free = fault_free, .ctx = test_mem},
    };
}

void tk_test_mem_fail(tk_test_mem *test_mem, uint64_t fail_at, uint64_t fail_count)
{
    TK_ASSERT(test_mem != NULL);
    test_mem->fail_at = test_mem->attempts + fail_at;
    test_mem->fail_count = fail_count;
}

void tk_test_mem_cap(tk_test_mem *test_mem, size_t cap_bytes)
{
    TK_ASSERT(test_mem != NULL);
    test_mem->cap_bytes = cap_bytes;
}

static _Noreturn void child_main(int pipe_fds[2], void (*fn)(void *arg), void *arg,
                                 unsigned alarm_s)
{
    close(pipe_fds[0]);
    if (dup2(pipe_fds[1], STDERR_FILENO) < 0) _exit(120);
    close(pipe_fds[1]);
    struct rlimit no_core = {.rlim_cur = 0, .rlim_max = 0};
    (void)setrlimit(RLIMIT_CORE, &no_core); /* an expected abort leaves no core file */
    const int fatal[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGALRM};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        signal(fatal[i], SIG_DFL); /* cmocka catches them in the parent; here they must kill */
    }
    alarm(alarm_s);
    fn(arg);
    _exit(0);
}

/* Read the pipe to its end, keeping what fits; reading on keeps the child from blocking. */
static void child_read_output(int fd, tk_test_child *out)
{
    size_t kept = 0;
    for (;;) { /* bounded by the child's output: it ends when the child does */
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t room = sizeof(out->output) - 1u - kept;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(out->output + kept, chunk, take);
        kept += take;
    }
    out->output[kept] = '\0';
    out->output_size_bytes = kept;
}

bool tk_test_child_run(void (*fn)(void *arg), void *arg, unsigned alarm_s, tk_test_child *out)
{
    TK_ASSERT(fn != NULL);
    TK_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return false;
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return false;
    }
    if (pid == 0) child_main(pipe_fds, fn, arg, alarm_s);
    close(pipe_fds[1]);
    child_read_output(pipe_fds[0], out);
    close(pipe_fds[0]);
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited != pid) return false;
    out->signaled = WIFSIGNALED(status);
    out->signal = out->signaled ? WTERMSIG(status) : 0;
    out->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return true;
}

static tk_test_mem fixture_mem;

int tk_test_mem_setup(void **state)
{
    tk_test_mem_init(&fixture_mem);
    *state = &fixture_mem;
    return 0;
}

int tk_test_mem_teardown(void **state)
{
    const tk_test_mem *test_mem = *state;
    if (test_mem->live_bytes != 0) {
        print_error("leak: %zu bytes live after the test\n", test_mem->live_bytes);
        return -1;
    }
    return 0;
}

#define MARK_BYTE 0x5A

void tk_test_mark(void *p, size_t size)
{
    TK_ASSERT(p != NULL);
    memset(p, MARK_BYTE, size);
}

bool tk_test_is_marked(const void *p, size_t size)
{
    TK_ASSERT(p != NULL);
    const unsigned char *bytes = p;
    for (size_t i = 0; i < size; i++) {
        if (bytes[i] != MARK_BYTE) return false;
    }
    return true;
}

/* ---- The Binance mock -------------------------------------------------------------------- */

bool tk_test_mock_start(const char *source_dir, tk_test_mock *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->dir, sizeof(out->dir), "/tmp/troika-mock-XXXXXX");
    if (mkdtemp(out->dir) == NULL) return false;
    char script[512], port_file[96];
    snprintf(script, sizeof(script), "%s/tools/binance_mock.py", source_dir);
    snprintf(port_file, sizeof(port_file), "%s/port", out->dir);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        execlp("python3", "python3", script, "--port", "0", "--port-file", port_file, "--quiet",
               (char *)NULL);
        _exit(127);
    }
    out->pid = (int)pid;
    for (unsigned i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        if (f != NULL) {
            bool got = fscanf(f, "%u", &out->port) == 1;
            fclose(f);
            if (got) {
                snprintf(out->url, sizeof(out->url), "http://127.0.0.1:%u", out->port);
                return true;
            }
        }
        struct timespec pause = {0, 50000000L};
        nanosleep(&pause, NULL);
    }
    tk_test_mock_stop(out);
    return false;
}

void tk_test_mock_stop(tk_test_mock *mock)
{
    if (mock->pid > 0) {
        kill((pid_t)mock->pid, SIGTERM);
        waitpid((pid_t)mock->pid, NULL, 0);
        mock->pid = 0;
    }
    char path[96];
    snprintf(path, sizeof(path), "%s/port", mock->dir);
    unlink(path);
    rmdir(mock->dir);
}
