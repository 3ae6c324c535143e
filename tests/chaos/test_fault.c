/* chaos/chaos_fault.c: libfiu and the full disk shown to bite on a troika store opened with
 * sync on (as nodes open theirs).
 *   - fiu: chaos_child's store runs under `fiu-run -x`; with chaos_fiu_set turning the fsync
 *     and fdatasync failure points on, an append fails with TK_EIO (RocksDB syncs its log with
 *     fdatasync); with them off again and the store reopened (RocksDB keeps a failed sync's
 *     error until then), appends succeed.
 *   - disk: a store on a 16 MiB tmpfs; once chaos_disk_fill filled it, an append fails
 *     (TK_ENOSPC, or RocksDB aborts the process: see test_disk_full_fails_write); once
 *     chaos_disk_unfill removed the ballast, the store opens again without the failed write
 *     and appends succeed.
 * Plus the error paths: a process not under fiu-run, fiu-ctrl missing, mounting without root or
 * on a missing directory, filling a missing directory. Each store runs in chaos_child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos_tests.h"
#include "tk_test.h"

#define READY_WAIT_MS  20000 /* RocksDB's open under ASan and fiu's preloads */
#define ANSWER_WAIT_MS 20000
#define DISK_MIB       16u
#define DISK_EVENTS                                                   \
    32u /* events of one disk-test append: 16 KiB, more than the page \
           RocksDB's write-ahead log already has room in */

/* What a test holds, released by teardown even after a failed check: a temporary directory
 * (unmounted first, in case a tmpfs is on it) and a child. */
typedef struct fault_fixture {
    char *dir;
    ct_child child;
    bool child_running;
} fault_fixture;

static int fault_setup(void **state)
{
    fault_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    *state = f;
    return 0;
}

static int fault_teardown(void **state)
{
    fault_fixture *f = *state;
    if (f->child_running) (void)ct_child_end(&f->child);
    if (f->dir != NULL) chaos_disk_umount(f->dir);
    ct_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* ---- libfiu ---------------------------------------------------------------------------------- */

/* Send command to the store child and fail unless its answer starts with want. */
static void expect_answer(ct_child *child, const char *command, const char *want)
{
    ct_child_send(child, command);
    char line[1024];
    ct_child_line(child, line, sizeof(line), ANSWER_WAIT_MS, want);
    if (strncmp(line, want, strlen(want)) != 0) {
        fail_msg("'%s' answered '%s', want '%s...'", command, line, want);
    }
}

/* Turn both sync failure points on or off in pid. */
static void fiu_syncs(pid_t pid, bool enable)
{
    char why[512] = "";
    tk_err err = chaos_fiu_set(pid, CHAOS_FIU_FSYNC, enable, why, sizeof(why));
    if (err == TK_OK) err = chaos_fiu_set(pid, CHAOS_FIU_FDATASYNC, enable, why, sizeof(why));
    if (err != TK_OK) fail_msg("chaos_fiu_set: %s: %s", tk_err_name(err), why);
}

/* Start chaos_child store on path under `fiu-run -x`. A sanitizer runtime must come before
 * libfiu's preloads (ct_sanitizer_runtime), and fiu-run sets LD_PRELOAD itself, so a shell
 * between them puts it first; every exec keeps the pid, which fiu-ctrl is given. */
static void fiu_child_start(const char *path, ct_child *child)
{
    char runtime[512], runtime_env[600];
    char *env[CT_ENV_MAX];
    if (!ct_sanitizer_runtime(runtime, sizeof(runtime))) {
        ct_env((const char *const[]){NULL}, env);
        ct_child_start(
            (const char *const[]){"fiu-run", "-x", CHAOS_CHILD_PATH, "store", path, NULL}, env,
            child);
        return;
    }
    snprintf(runtime_env, sizeof(runtime_env), "TK_CHAOS_RUNTIME=%s", runtime);
    ct_env((const char *const[]){runtime_env, NULL}, env);
    ct_child_start((const char *const[]){"fiu-run", "-x", "sh", "-c",
                                         "LD_PRELOAD=\"$TK_CHAOS_RUNTIME $LD_PRELOAD\" "
                                         "exec \"$0\" \"$@\"",
                                         CHAOS_CHILD_PATH, "store", path, NULL},
                   env, child);
}

static void test_fiu_fails_sync(void **state)
{
    fault_fixture *f = *state;
    f->dir = ct_tmpdir("fiu");
    char path[512];
    snprintf(path, sizeof(path), "%s/db", f->dir);
    ct_child *child = &f->child;
    fiu_child_start(path, child);
    f->child_running = true;
    char line[1024];
    ct_child_line(child, line, sizeof(line), READY_WAIT_MS, "ready (is fiu-utils installed?)");
    assert_string_equal(line, "ready 0");
    expect_answer(child, "append 1", "ok 1");
    fiu_syncs(child->pid, true);
    expect_answer(child, "append 1", "err TK_EIO");
    fiu_syncs(child->pid, false);
    expect_answer(child, "reopen", "ok ");
    expect_answer(child, "append 1", "ok ");
    expect_answer(child, "append 1", "ok ");
    f->child_running = false;
    assert_int_equal(ct_child_end(child), 0);
}

static void test_fiu_errors(void **state)
{
    fault_fixture *f = *state;
    char why[512] = "";
    /* This process did not start under fiu-run: fiu-ctrl has no pipe to talk to. */
    EXPECT_ERR(chaos_fiu_set(getpid(), CHAOS_FIU_FSYNC, true, why, sizeof(why)), TK_EIO);
    assert_non_null(strstr(why, "fiu-ctrl -c 'enable name=posix/io/sync/fsync,failinfo=5'"));
    /* Without fiu-ctrl on PATH. */
    f->dir = ct_tmpdir("nopath");
    const char *saved = getenv("PATH");
    char *path = saved == NULL ? NULL : strdup(saved);
    assert_int_equal(setenv("PATH", f->dir, 1), 0);
    tk_err err = chaos_fiu_set(getpid(), CHAOS_FIU_FSYNC, false, why, sizeof(why));
    if (path != NULL) assert_int_equal(setenv("PATH", path, 1), 0);
    free(path);
    EXPECT_ERR(err, TK_ENOENT);
}

/* ---- Disk ------------------------------------------------------------------------------------ */

static uint64_t free_bytes(const char *dir)
{
    struct statvfs fs;
    assert_int_equal(statvfs(dir, &fs), 0);
    return (uint64_t)fs.f_bavail * fs.f_frsize;
}

/* Start chaos_child store on path and check that it holds last_index events. */
static void store_child_start(const char *path, uint64_t last_index, fault_fixture *f)
{
    char *env[CT_ENV_MAX];
    ct_env((const char *const[]){NULL}, env);
    ct_child_start((const char *const[]){CHAOS_CHILD_PATH, "store", path, NULL}, env, &f->child);
    f->child_running = true;
    char line[1024], want[64];
    ct_child_line(&f->child, line, sizeof(line), READY_WAIT_MS, "ready");
    snprintf(want, sizeof(want), "ready %llu", (unsigned long long)last_index);
    assert_string_equal(line, want);
}

/* The store runs in a child: with the disk full, Debian's RocksDB 7.8 (built with assertions)
 * may abort the process rather than return the error. Its info LOG shares the full disk: when
 * the error handler's message does not fit, the next LOG write meets the earlier failure and
 * an assertion (writable_file_writer.h, sync_without_flush_called_) ends the process; when it
 * fits, es_write returns TK_ENOSPC, and the next LOG write (closing the store) aborts the same
 * way. Either way nothing of the failed write is stored, and a new process (the node's
 * restart) opens the store once there is room again. */
static void test_disk_full_fails_write(void **state)
{
    fault_fixture *f = *state;
    f->dir = ct_tmpdir("disk");
    const char *dir = f->dir;
    char why[512] = "";
    tk_err err = chaos_disk_mount(dir, DISK_MIB, why, sizeof(why));
    if (err != TK_OK) fail_msg("a tmpfs is needed for this test (root): %s", why);
    char path[512], append[32];
    snprintf(path, sizeof(path), "%s/db", dir);
    snprintf(append, sizeof(append), "append %u", DISK_EVENTS);
    store_child_start(path, 0, f);
    expect_answer(&f->child, append, "ok 32");

    EXPECT_ERR(chaos_disk_fill(dir, why, sizeof(why)), TK_OK);
    assert_int_equal(free_bytes(dir), 0);
    EXPECT_ERR(chaos_disk_fill(dir, why, sizeof(why)), TK_OK); /* again: still full */
    assert_int_equal(free_bytes(dir), 0);
    ct_child_send(&f->child, append);
    char line[1024];
    if (ct_child_line_or_end(&f->child, line, sizeof(line), ANSWER_WAIT_MS, "an answer")) {
        if (strncmp(line, "err TK_ENOSPC", strlen("err TK_ENOSPC")) != 0) {
            fail_msg("appending to a full disk: '%s', want 'err TK_ENOSPC ...'", line);
        }
        print_message("disk full: es_write returned TK_ENOSPC\n");
    } else {
        print_message("disk full: RocksDB ended the process in es_write\n");
    }
    chaos_disk_unfill(dir);
    assert_true(free_bytes(dir) > (uint64_t)(DISK_MIB / 2u) * 1024u * 1024u);
    chaos_disk_unfill(dir); /* idempotent */
    f->child_running = false;
    int code = ct_child_end(&f->child);
    if (code != 0 && code != 128 + SIGABRT) fail_msg("the store's process ended with %d", code);

    store_child_start(path, DISK_EVENTS, f); /* the failed write left nothing */
    expect_answer(&f->child, append, "ok 64");
    expect_answer(&f->child, append, "ok 96");
    f->child_running = false;
    assert_int_equal(ct_child_end(&f->child), 0);
}

static void test_disk_errors(void **state)
{
    fault_fixture *f = *state;
    char why[512] = "";
    EXPECT_ERR(chaos_disk_mount("/tmp/tk-chaos-no-such-dir", 1, why, sizeof(why)), TK_EIO);
    assert_non_null(strstr(why, "/tmp/tk-chaos-no-such-dir"));
    EXPECT_ERR(chaos_disk_fill("/tmp/tk-chaos-no-such-dir", why, sizeof(why)), TK_EIO);
    assert_non_null(strstr(why, "ballast"));
    chaos_disk_unfill("/tmp/tk-chaos-no-such-dir"); /* nothing there: nothing to do */
    chaos_disk_umount("/tmp/tk-chaos-no-such-dir"); /* nothing mounted: nothing to do */
    /* Without root (a child that gave it up): TK_EPERM. */
    f->dir = ct_tmpdir("perm");
    const char *dir = f->dir;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
        char child_why[256] = "";
        _exit(chaos_disk_mount(dir, 1, child_why, sizeof(child_why)) == TK_EPERM ? 0 : 11);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int chaos_test_fault(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fiu_fails_sync, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_fiu_errors, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_fails_write, fault_setup, fault_teardown),
        cmocka_unit_test_setup_teardown(test_disk_errors, fault_setup, fault_teardown),
    };
    return cmocka_run_group_tests_name("chaos/fault", tests, NULL, NULL);
}
