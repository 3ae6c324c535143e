/* chaos_net.c (chaos.h): the network nemesis, and the command runner the nemeses share.
 *
 * With namespaces: a bridge <tag>-br in the caller's namespace holds host_ip (10.R.S.254/24, the
 * subnet chosen from the pid and checked free against the caller's addresses); node i gets the
 * namespace <tag>-node<i> and a veth pair, <tag>-h<i> on the bridge and eth0 inside with
 * node_ip (10.R.S.(i+1)/24), and lo up. A partition is an iptables DROP rule, matched on the
 * sending node's address alone, in a chain of our own (CHAIN) that INPUT jumps to inside the
 * receiving node's namespace: the host's address is never matched, so clients and the venue
 * always get through, and heal is one flush of that chain per namespace.
 *
 * Every command runs through chaos_command_run (posix_spawnp, no shell). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos.h"

extern char **environ; /* POSIX declares it nowhere without _GNU_SOURCE */

#define CHAIN "TKCHAOS" /* our iptables chain in every node's namespace */

/* Subnets 10.R.S.0/24 with R in SUBNET_R_FIRST.. and S in 0..255: SUBNET_COUNT of them. */
#define SUBNET_R_FIRST   64u
#define SUBNET_COUNT     16384u
#define SUBNET_TRIES     64u /* candidates looked at before taking one anyway */
#define HOST_OCTET       254u
#define COMMAND_ARGS     16u    /* longest argv a command here needs, NULL included */
#define OUTPUT_READS_MAX 65536u /* bounds the read loop: a command writing more is cut off */

/* ---- Running a command ----------------------------------------------------------------------- */

/* Append text to out (size bytes, NUL-terminated) at *used, cutting it to fit. */
static void text_add(char *out, size_t size, size_t *used, const char *text)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(*used < size);
    size_t room = size - 1u - *used;
    size_t len = strnlen(text, room);
    memcpy(out + *used, text, len);
    *used += len;
    out[*used] = '\0';
}

/* The command line argv joined by spaces, then suffix, into out (may be NULL). */
static void command_describe(const char *const argv[], const char *suffix, char *out, size_t size)
{
    if (out == NULL || size == 0) return;
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; argv[i] != NULL && i < COMMAND_ARGS; i++) {
        if (i > 0) text_add(out, size, &used, " ");
        text_add(out, size, &used, argv[i]);
    }
    text_add(out, size, &used, suffix);
}

/* Read fd to its end into out (size > 0 bytes, NUL-terminated, cut to fit; the rest is read
 * and dropped so that the writer never blocks). A trailing newline is removed. */
static void output_read(int fd, char *out, size_t size)
{
    TK_ASSERT(fd >= 0);
    TK_ASSERT(size > 0);
    size_t used = 0;
    char chunk[512];
    for (unsigned reads = 0; reads < OUTPUT_READS_MAX; reads++) {
        ssize_t n = read(fd, chunk, sizeof(chunk) - 1u);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        chunk[n] = '\0';
        if (used + 1u < size) text_add(out, size, &used, chunk);
    }
    while (used > 0 && (out[used - 1u] == '\n' || out[used - 1u] == ' ')) {
        out[--used] = '\0';
    }
}

/* Start argv with stdin on /dev/null and stdout and stderr on write_fd. Returns an errno. */
static int command_spawn(const char *const argv[], int write_fd, pid_t *out_pid)
{
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, write_fd, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, write_fd, 2);
    /* posix_spawnp takes char *const[] for historical reasons; it does not write to them. */
    if (rc == 0) rc = posix_spawnp(out_pid, argv[0], &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

/* How the command ended, as text for an error ("exit 1", "signal 9"). */
static void status_describe(int status, char *out, size_t size)
{
    if (WIFEXITED(status)) {
        snprintf(out, size, ": exit %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, size, ": killed by signal %d", WTERMSIG(status));
    } else {
        snprintf(out, size, ": ended oddly (status %d)", status);
    }
}

tk_err chaos_command_run(const char *const argv[], char *output, size_t output_size)
{
    TK_ASSERT(argv != NULL);
    TK_ASSERT(argv[0] != NULL);
    if (output != NULL && output_size > 0) output[0] = '\0';
    int fds[2];
    if (pipe(fds) != 0) return tk_err_from_errno(errno);
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC); /* so that no other child inherits them */
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = -1;
    int rc = command_spawn(argv, fds[1], &pid);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        char suffix[96];
        snprintf(suffix, sizeof(suffix), ": cannot start: %s", strerror(rc));
        command_describe(argv, suffix, output, output_size);
        if (rc == ENOENT) return TK_ENOENT;
        return rc == ENOMEM ? TK_ENOMEM : TK_EIO;
    }
    char text[1024] = "";
    output_read(fds[0], text, sizeof(text));
    close(fds[0]);
    int status = 0;
    pid_t done = waitpid(pid, &status, 0);
    while (done < 0 && errno == EINTR) { /* bounded: the child ends */
        done = waitpid(pid, &status, 0);
    }
    if (done != pid) { /* someone else reaped it (a waitpid(-1) on another thread) */
        char suffix[96];
        snprintf(suffix, sizeof(suffix), ": cannot wait for it: %s", strerror(errno));
        command_describe(argv, suffix, output, output_size);
        return TK_EIO;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (output != NULL && output_size > 0) snprintf(output, output_size, "%s", text);
        return TK_OK;
    }
    char how[64];
    status_describe(status, how, sizeof(how));
    command_describe(argv, how, output, output_size);
    if (output != NULL && output_size > 0 && text[0] != '\0') {
        size_t used = strlen(output);
        text_add(output, output_size, &used, ": ");
        text_add(output, output_size, &used, text);
    }
    return TK_EIO;
}

/* ---- Names and addresses --------------------------------------------------------------------- */

/* Whether any address of the caller's namespace lies in 10.r.s.0/24. */
static bool subnet_in_use(const struct ifaddrs *list, unsigned r, unsigned s)
{
    uint32_t want = (10u << 24) | (r << 16) | (s << 8);
    for (const struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET) continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ifa->ifa_addr;
        if ((ntohl(in->sin_addr.s_addr) & 0xFFFFFF00u) == want) return true;
    }
    return false;
}

/* A subnet index (R = SUBNET_R_FIRST + index / 256, S = index % 256) derived from the pid and
 * serial, moved on past subnets the caller's namespace already has an address in. */
static unsigned subnet_pick(unsigned pid, unsigned serial)
{
    unsigned first = (pid * 31u + serial) % SUBNET_COUNT; /* 31 is odd: pids spread out */
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) != 0) return first; /* cannot look: take the pid's own */
    unsigned pick = first;
    for (unsigned i = 0; i < SUBNET_TRIES; i++) {
        unsigned candidate = (first + i) % SUBNET_COUNT;
        if (!subnet_in_use(list, SUBNET_R_FIRST + candidate / 256u, candidate % 256u)) {
            pick = candidate;
            break;
        }
    }
    freeifaddrs(list);
    TK_ASSERT(pick < SUBNET_COUNT);
    return pick;
}

/* Write the names and addresses of a namespace network into net. */
static void net_name(chaos_net *net)
{
    static atomic_uint serial_next; /* nets made by this process: tags stay unique within it */
    /* relaxed: only the value matters, it orders nothing */
    unsigned serial = atomic_fetch_add_explicit(&serial_next, 1u, memory_order_relaxed);
    unsigned pid = (unsigned)getpid();
    int n = snprintf(net->tag, sizeof(net->tag), "tk%u%c", pid, 'a' + (int)(serial % 26u));
    TK_ASSERT(n > 0 && (size_t)n < sizeof(net->tag) - 3u); /* room for "-br", "-h0" */
    unsigned subnet = subnet_pick(pid, serial);
    unsigned char r = (unsigned char)(SUBNET_R_FIRST + subnet / 256u); /* < 128 */
    unsigned char s = (unsigned char)(subnet % 256u);
    snprintf(net->host_ip, sizeof(net->host_ip), "10.%hhu.%hhu.%hhu", r, s,
             (unsigned char)HOST_OCTET);
    for (unsigned i = 0; i < CHAOS_NODES; i++) {
        snprintf(net->ns[i], sizeof(net->ns[i]), "%s-node%u", net->tag, i);
        snprintf(net->node_ip[i], sizeof(net->node_ip[i]), "10.%hhu.%hhu.%hhu", r, s,
                 (unsigned char)(i + 1u));
    }
}

static void net_loopback(chaos_net *net)
{
    memset(net, 0, sizeof(*net));
    net->netns = false;
    snprintf(net->host_ip, sizeof(net->host_ip), "127.0.0.1");
    for (unsigned i = 0; i < CHAOS_NODES; i++) {
        snprintf(net->node_ip[i], sizeof(net->node_ip[i]), "127.0.0.1");
    }
}

/* Whether name is an executable file in one of PATH's directories. */
static bool program_found(const char *name)
{
    const char *path = getenv("PATH");
    if (path == NULL) path = "/usr/sbin:/usr/bin:/sbin:/bin";
    const char *start = path;
    for (unsigned dirs = 0; dirs < 64u; dirs++) {
        size_t len = strcspn(start, ":");
        char file[512];
        int n = snprintf(file, sizeof(file), "%.*s/%s", (int)len, start, name);
        if (n > 0 && (size_t)n < sizeof(file) && access(file, X_OK) == 0) return true;
        if (start[len] == '\0') break;
        start += len + 1u;
    }
    return false;
}

/* ---- Building and removing ------------------------------------------------------------------- */

/* Remove everything net's names stand for, ignoring what is not there (a partial up, a second
 * down). Deleting a host end of a veth pair deletes the pair. */
static void net_remove(const chaos_net *net)
{
    char link[32];
    for (unsigned i = 0; i < CHAOS_NODES; i++) {
        snprintf(link, sizeof(link), "%s-h%u", net->tag, i);
        (void)chaos_command_run((const char *const[]){"ip", "link", "del", link, NULL}, NULL, 0);
        (void)chaos_command_run((const char *const[]){"ip", "netns", "del", net->ns[i], NULL}, NULL,
                                0);
    }
    snprintf(link, sizeof(link), "%s-br", net->tag);
    (void)chaos_command_run((const char *const[]){"ip", "link", "del", link, NULL}, NULL, 0);
}

/* The bridge with host_ip, up. */
static tk_err bridge_add(const chaos_net *net, char *why, size_t why_size)
{
    char bridge[32], cidr[24];
    snprintf(bridge, sizeof(bridge), "%s-br", net->tag);
    snprintf(cidr, sizeof(cidr), "%s/24", net->host_ip);
    tk_err err = chaos_command_run(
        (const char *const[]){"ip", "link", "add", bridge, "type", "bridge", NULL}, why, why_size);
    if (err == TK_OK) {
        err = chaos_command_run(
            (const char *const[]){"ip", "addr", "add", cidr, "dev", bridge, NULL}, why, why_size);
    }
    if (err == TK_OK) {
        err = chaos_command_run((const char *const[]){"ip", "link", "set", bridge, "up", NULL}, why,
                                why_size);
    }
    return err;
}

/* Node i's namespace, its veth pair (host end on the bridge, eth0 inside with node_ip[i]), lo,
 * and, with iptables, our chain jumped to from INPUT. */
static tk_err node_add(const chaos_net *net, unsigned i, bool iptables, char *why, size_t why_size)
{
    TK_ASSERT(i < CHAOS_NODES);
    const char *ns = net->ns[i];
    char bridge[32], link[32], cidr[24];
    snprintf(bridge, sizeof(bridge), "%s-br", net->tag);
    snprintf(link, sizeof(link), "%s-h%u", net->tag, i);
    snprintf(cidr, sizeof(cidr), "%s/24", net->node_ip[i]);
    const char *const steps[][COMMAND_ARGS] = {
        {"ip", "netns", "add", ns, NULL},
        {"ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns, NULL},
        {"ip", "link", "set", link, "master", bridge, "up", NULL},
        {"ip", "-n", ns, "addr", "add", cidr, "dev", "eth0", NULL},
        {"ip", "-n", ns, "link", "set", "eth0", "up", NULL},
        {"ip", "-n", ns, "link", "set", "lo", "up", NULL},
        {"ip", "netns", "exec", ns, "iptables", "-w", "5", "-N", CHAIN, NULL},
        {"ip", "netns", "exec", ns, "iptables", "-w", "5", "-I", "INPUT", "-j", CHAIN, NULL},
    };
    size_t count = sizeof(steps) / sizeof(steps[0]);
    if (!iptables) count -= 2u; /* the last two make the chain */
    for (size_t k = 0; k < count; k++) {
        tk_err err = chaos_command_run(steps[k], why, why_size);
        if (err != TK_OK) return err;
    }
    return TK_OK;
}

tk_err chaos_net_up(chaos_net *net, bool want_netns, char *why, size_t why_size)
{
    TK_ASSERT(net != NULL);
    TK_ASSERT(why != NULL && why_size > 0);
    why[0] = '\0';
    net_loopback(net);
    if (!want_netns) return TK_OK;
    if (geteuid() != 0) {
        snprintf(why, why_size, "namespaces need root (CAP_NET_ADMIN): on loopback instead");
        return TK_OK;
    }
    chaos_net made;
    net_loopback(&made);
    net_name(&made);
    net_remove(&made); /* what a dead process of the same pid may have left */
    bool iptables = program_found("iptables");
    char failed[512] = "";
    tk_err err = bridge_add(&made, failed, sizeof(failed));
    for (unsigned i = 0; i < CHAOS_NODES && err == TK_OK; i++) {
        err = node_add(&made, i, iptables, failed, sizeof(failed));
    }
    if (err != TK_OK) {
        net_remove(&made);
        snprintf(why, why_size, "namespaces could not be made (%s): on loopback instead", failed);
        return TK_OK;
    }
    made.netns = true;
    *net = made;
    return TK_OK;
}

void chaos_net_down(chaos_net *net)
{
    TK_ASSERT(net != NULL);
    if (net->tag[0] == '\0') return; /* loopback: nothing was made */
    TK_ASSERT(net->ns[0][0] != '\0');
    net_remove(net);
}

bool chaos_net_can_partition(const chaos_net *net)
{
    TK_ASSERT(net != NULL);
    return net->netns && program_found("iptables");
}

unsigned chaos_net_exec_prefix(const chaos_net *net, unsigned node, const char *argv[4])
{
    TK_ASSERT(net != NULL);
    TK_ASSERT(node < CHAOS_NODES);
    if (!net->netns) return 0;
    argv[0] = "ip";
    argv[1] = "netns";
    argv[2] = "exec";
    argv[3] = net->ns[node];
    return 4;
}

/* ---- Partitions ------------------------------------------------------------------------------ */

static tk_err partition_check(const chaos_net *net, char *why, size_t why_size)
{
    TK_ASSERT(why != NULL && why_size > 0);
    why[0] = '\0';
    if (chaos_net_can_partition(net)) return TK_OK;
    snprintf(why, why_size, "%s",
             net->netns ? "no partitions: iptables is not installed"
                        : "no partitions on loopback (no namespaces)");
    return TK_EINVAL;
}

tk_err chaos_net_drop(chaos_net *net, unsigned from, unsigned to, char *why, size_t why_size)
{
    TK_ASSERT(net != NULL);
    TK_ASSERT(from < CHAOS_NODES);
    TK_ASSERT(to < CHAOS_NODES);
    TK_ASSERT(from != to);
    tk_err err = partition_check(net, why, why_size);
    if (err != TK_OK) return err;
    char source[24];
    snprintf(source, sizeof(source), "%s/32", net->node_ip[from]);
    const char *ns = net->ns[to];
    /* -C first: a cut made twice is one rule, so one flush always heals it. */
    if (chaos_command_run((const char *const[]){"ip", "netns", "exec", ns, "iptables", "-w", "5",
                                                "-C", CHAIN, "-s", source, "-j", "DROP", NULL},
                          NULL, 0) == TK_OK) {
        return TK_OK;
    }
    err = chaos_command_run((const char *const[]){"ip", "netns", "exec", ns, "iptables", "-w", "5",
                                                  "-A", CHAIN, "-s", source, "-j", "DROP", NULL},
                            why, why_size);
    return err == TK_OK ? TK_OK : TK_EIO;
}

tk_err chaos_net_isolate(chaos_net *net, unsigned node, char *why, size_t why_size)
{
    TK_ASSERT(net != NULL);
    TK_ASSERT(node < CHAOS_NODES);
    tk_err err = partition_check(net, why, why_size);
    for (unsigned other = 0; other < CHAOS_NODES && err == TK_OK; other++) {
        if (other == node) continue;
        err = chaos_net_drop(net, other, node, why, why_size);
        if (err == TK_OK) err = chaos_net_drop(net, node, other, why, why_size);
    }
    return err;
}

tk_err chaos_net_heal(chaos_net *net, char *why, size_t why_size)
{
    TK_ASSERT(net != NULL);
    tk_err err = partition_check(net, why, why_size);
    for (unsigned i = 0; i < CHAOS_NODES && err == TK_OK; i++) {
        err = chaos_command_run((const char *const[]){"ip", "netns", "exec", net->ns[i], "iptables",
                                                      "-w", "5", "-F", CHAIN, NULL},
                                why, why_size);
        if (err != TK_OK) err = TK_EIO;
    }
    return err;
}
