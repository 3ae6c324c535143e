/* chaos/chaos_net.c: the command runner, the loopback fallback, and the namespaces nemesis
 * shown to bite: a TCP listener in node 1's namespace takes connections from node 0's
 * namespace and from the host; chaos_net_isolate(1) stops node 0's (and node 2's, and node 1's
 * own to node 0) while the host's still get through; heal lets node 0 in again; a one-way
 * chaos_net_drop(0 -> 1) stops node 0 alone; chaos_net_down leaves no namespace, link or bridge
 * behind. Needs root, iproute2 and iptables: on a machine without them the test FAILS. */
#define _GNU_SOURCE /* setns, CLONE_NEWNET */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h> /* after the four above, which it needs */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos_tests.h"
#include "tk_test.h"

#define PORT              7311u /* the listener's, inside node 1's fresh namespace */
#define CONNECT_WAIT_MS   1000  /* a connection not made by then counts as dropped */
#define LISTENER_READY_MS 5000
#define ACCEPTS_MAX       1000u /* bounds the listener's loop */

/* How a connection attempt ended. */
typedef enum connect_result {
    CONNECTED = 0,
    TIMED_OUT = 1, /* no answer at all: the SYN was dropped */
    REFUSED = 2,   /* a reset: nothing listens, but packets get through */
    OTHER = 3,
    NO_NAMESPACE = 4,
} connect_result;

static const char *connect_result_name(int result)
{
    static const char *const names[] = {"connected", "timed out", "refused", "failed otherwise",
                                        "could not enter the namespace"};
    if (result < 0 || result > NO_NAMESPACE) return "?";
    return names[result];
}

/* Move this process into namespace ns (ip netns's bind mount). */
static bool namespace_enter(const char *ns)
{
    char path[128];
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = setns(fd, CLONE_NEWNET) == 0;
    close(fd);
    return ok;
}

/* Try a TCP connection to ip:port from this process's namespace. */
static connect_result connect_here(const char *ip, unsigned port)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) return OTHER;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return OTHER;
    connect_result result = OTHER;
    if (connect(fd, (const struct sockaddr *)&to, sizeof(to)) == 0) {
        result = CONNECTED;
    } else if (errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ready = poll(&pfd, 1, CONNECT_WAIT_MS);
        int error = 0;
        socklen_t len = sizeof(error);
        if (ready == 0) {
            result = TIMED_OUT;
        } else if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0) {
            result = error == 0 ? CONNECTED : error == ECONNREFUSED ? REFUSED : OTHER;
        }
    } else if (errno == ECONNREFUSED) {
        result = REFUSED;
    }
    close(fd);
    return result;
}

/* Try a TCP connection to ip:port from namespace ns (a forked child enters it), or from the
 * host when ns is NULL. */
static connect_result connect_from(const char *ns, const char *ip, unsigned port)
{
    if (ns == NULL) return connect_here(ip, port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!namespace_enter(ns)) _exit(NO_NAMESPACE);
        _exit((int)connect_here(ip, port));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return (connect_result)WEXITSTATUS(status);
}

/* Fail unless a connection from `from` (a namespace, or NULL: the host) to ip ends as want. */
static void expect_connect(const char *from, const char *ip, connect_result want, const char *when)
{
    connect_result got = connect_from(from, ip, PORT);
    if (got != want) {
        fail_msg("%s: connecting from %s to %s:%u %s, want %s", when,
                 from == NULL ? "the host" : from, ip, PORT, connect_result_name((int)got),
                 connect_result_name((int)want));
    }
}

/* The listener's process: in ns, accept and close connections on ip:PORT until the test
 * closes its end of control (or ACCEPTS_MAX connections came). Says it listens by writing a
 * byte to ready. */
static void listener_run(const char *ns, const char *ip, int ready, int control)
{
    if (!namespace_enter(ns)) _exit(1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)PORT)};
    if (fd < 0 || inet_pton(AF_INET, ip, &at.sin_addr) != 1) _exit(2);
    if (bind(fd, (const struct sockaddr *)&at, sizeof(at)) != 0) _exit(3);
    if (listen(fd, 16) != 0) _exit(4);
    if (write(ready, "r", 1) != 1) _exit(5);
    for (unsigned k = 0; k < ACCEPTS_MAX; k++) {
        struct pollfd pfds[2] = {{.fd = fd, .events = POLLIN}, {.fd = control, .events = POLLIN}};
        if (poll(pfds, 2, -1) < 0) continue;
        if (pfds[1].revents != 0) break; /* the test closed control: done */
        int conn = accept(fd, NULL, NULL);
        if (conn >= 0) close(conn);
    }
    _exit(0);
}

typedef struct listener {
    pid_t pid;
    int control; /* write end: closing it stops the listener */
} listener;

static listener listener_start(const char *ns, const char *ip)
{
    int ready[2], control[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(control), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(control[1]);
        listener_run(ns, ip, ready[1], control[0]);
    }
    close(ready[1]);
    close(control[0]);
    struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
    char byte = 0;
    bool up = poll(&pfd, 1, LISTENER_READY_MS) == 1 && read(ready[0], &byte, 1) == 1;
    close(ready[0]);
    if (!up) fail_msg("the listener in %s on %s:%u did not start", ns, ip, PORT);
    return (listener){pid, control[1]};
}

static void listener_stop(listener *l)
{
    close(l->control);
    int status = 0;
    assert_int_equal(waitpid(l->pid, &status, 0), l->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A network for one test: namespaces brought up by setup, always brought down by teardown,
 * even after a failed check, with the listener if one was started. */
typedef struct net_fixture {
    chaos_net net;
    char why[512]; /* why chaos_net_up fell back to loopback, if it did */
    listener l;    /* pid 0: none */
} net_fixture;

static int net_setup(void **state)
{
    net_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(chaos_net_up(&f->net, true, f->why, sizeof(f->why)), TK_OK);
    *state = f;
    return 0;
}

static int net_teardown(void **state)
{
    net_fixture *f = *state;
    if (f->l.pid > 0) {
        kill(f->l.pid, SIGKILL);
        close(f->l.control);
        (void)waitpid(f->l.pid, NULL, 0);
    }
    chaos_net_down(&f->net);
    free(f);
    return 0;
}

/* Fail the test, with the reason, unless setup made namespaces that can be partitioned. */
static chaos_net *net_of(void **state)
{
    net_fixture *f = *state;
    if (!f->net.netns) {
        fail_msg("network namespaces are needed for this test (root, iproute2, iptables: "
                 "deploy/install-deps.sh) and could not be made: %s",
                 f->why);
    }
    assert_string_equal(f->why, "");
    if (!chaos_net_can_partition(&f->net)) {
        fail_msg("namespaces are up but partitions cannot be made: is iptables installed?");
    }
    return &f->net;
}

/* Fail unless `ip netns list` names no namespace of tag, and tag's bridge is gone. */
static void expect_gone(const char *tag)
{
    char out[4096] = "";
    EXPECT_ERR(
        chaos_command_run((const char *const[]){"ip", "netns", "list", NULL}, out, sizeof(out)),
        TK_OK);
    if (strstr(out, tag) != NULL) fail_msg("namespaces of %s left behind: %s", tag, out);
    char bridge[32];
    snprintf(bridge, sizeof(bridge), "%s-br", tag);
    assert_int_equal(if_nametoindex(bridge), 0); /* no such interface */
}

/* ---- Tests ----------------------------------------------------------------------------------- */

static void test_command_run(void **state)
{
    (void)state;
    char out[256];
    EXPECT_ERR(
        chaos_command_run((const char *const[]){"echo", "one", "two", NULL}, out, sizeof(out)),
        TK_OK);
    assert_string_equal(out, "one two");
    EXPECT_ERR(chaos_command_run((const char *const[]){"sh", "-c", "echo oops >&2; exit 3", NULL},
                                 out, sizeof(out)),
               TK_EIO);
    assert_string_equal(out, "sh -c echo oops >&2; exit 3: exit 3: oops");
    EXPECT_ERR(
        chaos_command_run((const char *const[]){"tk-no-such-program", NULL}, out, sizeof(out)),
        TK_ENOENT);
    assert_non_null(strstr(out, "tk-no-such-program: cannot start"));
    char small[8];
    EXPECT_ERR(chaos_command_run((const char *const[]){"echo", "a long line of output", NULL},
                                 small, sizeof(small)),
               TK_OK);
    assert_string_equal(small, "a long "); /* cut to fit */
    EXPECT_ERR(chaos_command_run((const char *const[]){"true", NULL}, NULL, 0), TK_OK);
}

static void test_loopback(void **state)
{
    (void)state;
    chaos_net net;
    char why[256] = "x";
    EXPECT_ERR(chaos_net_up(&net, false, why, sizeof(why)), TK_OK);
    assert_false(net.netns);
    assert_string_equal(why, "");
    assert_string_equal(net.host_ip, "127.0.0.1");
    for (unsigned i = 0; i < CHAOS_NODES; i++) {
        assert_string_equal(net.node_ip[i], "127.0.0.1");
        assert_string_equal(net.ns[i], "");
    }
    assert_false(chaos_net_can_partition(&net));
    EXPECT_ERR(chaos_net_drop(&net, 0, 1, why, sizeof(why)), TK_EINVAL);
    assert_non_null(strstr(why, "loopback"));
    EXPECT_ERR(chaos_net_isolate(&net, 2, why, sizeof(why)), TK_EINVAL);
    EXPECT_ERR(chaos_net_heal(&net, why, sizeof(why)), TK_EINVAL);
    const char *argv[4] = {NULL};
    assert_int_equal(chaos_net_exec_prefix(&net, 1, argv), 0);
    assert_null(argv[0]);
    chaos_net_down(&net); /* nothing to remove */
}

/* Without root, namespaces fall back to loopback and say why (in a child that gave root up). */
static void test_not_root_falls_back(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
        chaos_net net;
        char why[256] = "";
        if (chaos_net_up(&net, true, why, sizeof(why)) != TK_OK) _exit(11);
        if (net.netns) _exit(12);
        if (strstr(why, "root") == NULL) _exit(13);
        _exit(strcmp(net.node_ip[0], "127.0.0.1") == 0 ? 0 : 14);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Without iproute2 (PATH holds nothing), namespaces fall back to loopback and say why. */
static void test_no_iproute_falls_back(void **state)
{
    (void)state;
    char *empty = ct_tmpdir("nopath");
    const char *saved = getenv("PATH");
    char *path = saved == NULL ? NULL : strdup(saved);
    assert_int_equal(setenv("PATH", empty, 1), 0);
    chaos_net net;
    char why[512] = "";
    tk_err err = chaos_net_up(&net, true, why, sizeof(why));
    if (path != NULL) assert_int_equal(setenv("PATH", path, 1), 0);
    free(path);
    ct_tmpdir_remove(empty);
    EXPECT_ERR(err, TK_OK);
    assert_false(net.netns);
    assert_string_equal(net.node_ip[2], "127.0.0.1");
    if (strstr(why, "ip link add") == NULL || strstr(why, "cannot start") == NULL) {
        fail_msg("why: '%s', want the failed ip command", why);
    }
    chaos_net_down(&net);
}

static void test_namespaces(void **state)
{
    chaos_net *net_p = net_of(state);
    chaos_net net = *net_p;
    assert_true(strlen(net.tag) + strlen("-br") <= 15u); /* IFNAMSIZ - 1 */
    for (unsigned i = 0; i < CHAOS_NODES; i++) {
        const char *argv[12] = {NULL};
        assert_int_equal(chaos_net_exec_prefix(&net, i, argv), 4);
        assert_string_equal(argv[3], net.ns[i]);
        const char *show[] = {"ip", "-o", "-4", "addr", "show", "dev", "eth0", NULL};
        memcpy(&argv[4], show, sizeof(show));
        char out[512];
        EXPECT_ERR(chaos_command_run(argv, out, sizeof(out)), TK_OK);
        char want[32];
        snprintf(want, sizeof(want), "inet %s/24", net.node_ip[i]);
        if (strstr(out, want) == NULL) fail_msg("%s's eth0: %s, want %s", net.ns[i], out, want);
    }
    chaos_net_down(net_p);
    expect_gone(net.tag);
    chaos_net_down(net_p); /* idempotent */
    expect_gone(net.tag);
}

static void test_partitions_bite(void **state)
{
    chaos_net *net_p = net_of(state);
    chaos_net net = *net_p;
    net_fixture *f = *state;
    char why[512] = "";
    const char *node1 = net.node_ip[1];
    f->l = listener_start(net.ns[1], node1);
    expect_connect(net.ns[0], node1, CONNECTED, "before any cut");
    expect_connect(NULL, node1, CONNECTED, "before any cut");
    expect_connect(net.ns[1], net.node_ip[0], REFUSED, "before any cut"); /* nothing listens */

    EXPECT_ERR(chaos_net_isolate(&net, 1, why, sizeof(why)), TK_OK);
    expect_connect(net.ns[0], node1, TIMED_OUT, "node 1 isolated");
    expect_connect(net.ns[2], node1, TIMED_OUT, "node 1 isolated");
    expect_connect(net.ns[1], net.node_ip[0], TIMED_OUT, "node 1 isolated"); /* both ways */
    expect_connect(NULL, node1, CONNECTED, "node 1 isolated");               /* not the host */

    EXPECT_ERR(chaos_net_heal(&net, why, sizeof(why)), TK_OK);
    expect_connect(net.ns[0], node1, CONNECTED, "healed");
    expect_connect(net.ns[1], net.node_ip[0], REFUSED, "healed");

    EXPECT_ERR(chaos_net_drop(&net, 0, 1, why, sizeof(why)), TK_OK);
    EXPECT_ERR(chaos_net_drop(&net, 0, 1, why, sizeof(why)), TK_OK); /* twice: one rule */
    expect_connect(net.ns[0], node1, TIMED_OUT, "dropping 0 -> 1");
    expect_connect(net.ns[2], node1, CONNECTED, "dropping 0 -> 1");
    expect_connect(NULL, node1, CONNECTED, "dropping 0 -> 1");

    EXPECT_ERR(chaos_net_heal(&net, why, sizeof(why)), TK_OK);
    expect_connect(net.ns[0], node1, CONNECTED, "healed after the drop");
    listener_stop(&f->l);
    f->l.pid = 0;

    chaos_net_down(net_p);
    expect_gone(net.tag);
}

int chaos_test_net(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_run),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_not_root_falls_back),
        cmocka_unit_test(test_no_iproute_falls_back),
        cmocka_unit_test_setup_teardown(test_namespaces, net_setup, net_teardown),
        cmocka_unit_test_setup_teardown(test_partitions_bite, net_setup, net_teardown),
    };
    return cmocka_run_group_tests_name("chaos/net", tests, NULL, NULL);
}
