/* chaos/chaos_eio.c: the Raft write shim shown to bite. chaos_child drives raft_uv directly
 * (init, load, one append) with libtk_chaos_eio.so preloaded: with the control file created
 * after the load, the append's callback gets RAFT_IOERR; without it, the entry is written.
 * The control file must not exist during init: raft_uv's probe of the directory makes an
 * io_submit of its own, and fails the setup. Each case runs on a directory of the build tree
 * (a disk, where /tmp may be a tmpfs: on a file system with RWF_NOWAIT, such as ext4, raft_uv
 * first submits on the loop thread) and on a tmpfs (no RWF_NOWAIT: raft_uv submits from
 * libuv's thread pool), so that both of raft_uv's write paths are shown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <fcntl.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chaos_tests.h"
#include "tk_test.h"

#define READY_WAIT_MS  20000 /* raft_uv's setup preallocates segments: seconds under ASan */
#define APPEND_WAIT_MS 20000
#define TMPFS_MIB      64u /* raft_uv keeps up to three 8 MiB segments prepared */

/* Run chaos_child raft on dir with the shim preloaded and control named by CHAOS_EIO_ENV; with
 * fail, control exists from just before the append until the child answered. Returns the
 * append's status. */
static int raft_append_status(const char *dir, const char *control, bool fail)
{
    char preload[512], eio[512], asan[512];
    snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", CHAOS_EIO_PATH);
    snprintf(eio, sizeof(eio), "%s=%s", CHAOS_EIO_ENV, control);
    /* The child is built with ASan like this test, and the shim (built without) comes first in
     * its library list: ASan refuses that unless told not to check (chaos_eio.c). */
    const char *options = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
             options == NULL ? "" : options, options == NULL || options[0] == '\0' ? "" : ":");
    const char *const set[] = {preload, eio, asan, NULL};
    char *env[CT_ENV_MAX];
    ct_env(set, env);
    ct_child child;
    ct_child_start((const char *const[]){CHAOS_CHILD_PATH, "raft", dir, NULL}, env, &child);
    char line[512];
    ct_child_line(&child, line, sizeof(line), READY_WAIT_MS, "ready");
    assert_string_equal(line, "ready");
    if (fail) {
        int fd = open(control, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
    ct_child_send(&child, "append");
    ct_child_line(&child, line, sizeof(line), APPEND_WAIT_MS, "the append's status");
    if (fail) assert_int_equal(unlink(control), 0);
    int status = -1;
    if (sscanf(line, "status %d", &status) != 1) fail_msg("chaos_child: '%s'", line);
    assert_int_equal(ct_child_end(&child), 0);
    return status;
}

/* The shim fails an append on dir while the control file exists, and only then. */
static void expect_shim_bites(const char *dir)
{
    char control[512];
    snprintf(control, sizeof(control), "%s/eio", dir); /* beside raft's directories */
    char raft_dir[512];
    snprintf(raft_dir, sizeof(raft_dir), "%s/fail", dir);
    assert_int_equal(mkdir(raft_dir, 0700), 0);
    int status = raft_append_status(raft_dir, control, true);
    if (status != RAFT_IOERR) {
        fail_msg("on %s with %s present: append status %d (%s), want RAFT_IOERR", dir, control,
                 status, raft_strerror(status));
    }
    snprintf(raft_dir, sizeof(raft_dir), "%s/pass", dir);
    assert_int_equal(mkdir(raft_dir, 0700), 0);
    status = raft_append_status(raft_dir, control, false);
    if (status != 0) {
        fail_msg("on %s without %s: append status %d (%s), want 0", dir, control, status,
                 raft_strerror(status));
    }
}

/* The test's directory, in the build tree (CT_BUILD_DIR), made by setup, unmounted (a tmpfs may
 * be on it) and removed by teardown even after a failed check. */
static int dir_setup(void **state)
{
    *state = ct_tmpdir_at(CT_BUILD_DIR, "eio");
    return 0;
}

static int dir_teardown(void **state)
{
    chaos_disk_umount(*state);
    ct_tmpdir_remove(*state);
    return 0;
}

static void test_shim_fails_raft_append(void **state)
{
    expect_shim_bites(*state);
}

static void test_shim_fails_raft_append_on_tmpfs(void **state)
{
    char why[256] = "";
    tk_err err = chaos_disk_mount(*state, TMPFS_MIB, why, sizeof(why));
    if (err != TK_OK) fail_msg("a tmpfs is needed for this test (root): %s", why);
    expect_shim_bites(*state);
}

int chaos_test_eio(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shim_fails_raft_append, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_shim_fails_raft_append_on_tmpfs, dir_setup,
                                        dir_teardown),
    };
    return cmocka_run_group_tests_name("chaos/eio", tests, NULL, NULL);
}
