/* `troika cluster up|down|status|start-node --dir D`: a local three-node cluster run as
 * background processes. `up` writes D/node1.yaml..node3.yaml when missing and daemonizes a
 * monitor (`troika cluster monitor --dir D`, run by `up` only) that starts `troika node` for each
 * node and, like systemd, restarts one that exits, with backoff. Files under D:
 *   cluster.pid   the monitor's pid, write-locked (fcntl) by the monitor for its whole life:
 *                 a lock held is a live monitor, so a stale file or a reused pid cannot fool us
 *   cluster.log   the monitor's log (JSON lines): every start, exit (status or signal), restart
 *   nodeN.yaml    node N's configuration (docs/operations.md), reused as it is when present
 *   nodeN/        node N's data_dir (store/, raft/) and node.log (its stdout and stderr)
 *   nodeN.pid     node N's current pid: written when it starts, removed when it exits
 *   nodeN.start   a request from `start-node` to the monitor (removed once served)
 * Only the monitor signals nodes, and only its own children (waitpid has not reaped them, so
 * their pids cannot have been reused); `down` signals the monitor. */
#define _GNU_SOURCE /* prctl(PR_SET_PDEATHSIG), realpath, dprintf, close_range */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

#define NODES             3u
#define PATH_BYTES        1024u
#define BASE_PORT_DEFAULT 7100u
#define BASE_PORT_MAX     (65535u - 300u - NODES) /* events ports go up to base + 303 */
#define ELECTION_MS_MIN   100u
#define ELECTION_MS_MAX   60000u
#define BACKOFF_MS_FIRST  100u   /* first delay before a restart */
#define BACKOFF_MS_MAX    5000u  /* the delay doubles up to this */
#define BACKOFF_RESET_MS  10000u /* a node up this long restarts after BACKOFF_MS_FIRST again */
#define STOP_GRACE_MS     10000u /* SIGTERM to SIGKILL when stopping nodes */
#define MONITOR_WAKE_MS   1000u  /* the monitor looks at requests at least this often */
#define UP_WAIT_MS        10000u /* `up` waits this long for the monitor to be ready */
#define UP_SETTLE_MS      1000u  /* and this long for the nodes to be running */
#define DOWN_WAIT_MS      15000u /* `down` waits this long for the monitor to be gone */
#define START_WAIT_MS     5000u  /* `start-node` waits this long for the node's pid file */
#define POLL_MS           20u
#define CMDLINE_BYTES     4096u
#define API_TIMEOUT_MS    2000u
#define TOKEN_BYTES       16u /* random bytes; 32 hex characters */
#define CONFIG_TEXT_BYTES 4096u
#define LOG_MODULE        "cluster"

/* Every path of a cluster directory, absolute. */
typedef struct cluster_paths {
    char dir[PATH_BYTES];
    char monitor_pid[PATH_BYTES];
    char monitor_log[PATH_BYTES];
    char node_dir[NODES][PATH_BYTES];
    char config[NODES][PATH_BYTES];
    char pid[NODES][PATH_BYTES];
    char log[NODES][PATH_BYTES];
    char request[NODES][PATH_BYTES];
} cluster_paths;

/* The options of every subcommand; which ones a subcommand takes is checked after parsing. */
typedef struct cluster_args {
    const char *dir;
    uint64_t base_port;
    uint64_t election_ms;
    uint64_t node;
    bool no_restart;
    bool json;
    bool debug_api;      /* new configs enable the debug API (node.debug_api) */
    const char *trading; /* a file holding the nodes' trading section (absolute), or NULL */
    unsigned given;      /* OPT_* bits */
} cluster_args;

enum {
    OPT_DIR = 1u << 0,
    OPT_BASE_PORT = 1u << 1,
    OPT_NO_RESTART = 1u << 2,
    OPT_ELECTION = 1u << 3,
    OPT_NODE = 1u << 4,
    OPT_JSON = 1u << 5,
    OPT_TRADING = 1u << 6,
    OPT_DEBUG_API = 1u << 7,
};

/* The help text of `troika cluster`. */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: troika cluster up --dir D [--base-port P] [--no-restart]\n"
            "                             [--election-timeout-ms N] [--trading FILE]\n"
            "                             [--debug-api]\n"
            "       troika cluster down --dir D\n"
            "       troika cluster status --dir D [--json]\n"
            "       troika cluster start-node --dir D --node N\n"
            "A local three-node cluster as background processes (docs/operations.md).\n"
            "  up          write D/node1.yaml..node3.yaml when missing (raft on 127.0.0.1:P+N,\n"
            "              api tcp://127.0.0.1:P+100+N, http P+200+N, events P+300+N; one random\n"
            "              token), then start a monitor in the background that runs the three\n"
            "              nodes (data and node.log in D/nodeN/, pid in D/nodeN.pid, its own log\n"
            "              in D/cluster.log) and restarts a node that exits, after 100 ms\n"
            "              doubling to 5 s; existing configs are reused as they are\n"
            "  down        stop the monitor and the nodes (SIGTERM, SIGKILL after 10 s)\n"
            "  status      ask each node: role, term, applied and ledger index, state hash;\n"
            "              exit 1 unless all three answer and agree where their indexes meet\n"
            "  start-node  have the monitor start node N now (after a kill, or --no-restart)\n"
            "  monitor     (what up runs in the background; not for use by hand)\n"
            "  --dir D                 the cluster's directory (created by up)\n"
            "  --base-port P           default %u\n"
            "  --no-restart            a node that exits stays down (for the chaos harness)\n"
            "  --election-timeout-ms N Raft's election timeout in new configs, %u..%u,\n"
            "                          default 500 (the heartbeat is a tenth of it)\n"
            "  --trading FILE          append FILE (a `trading:` section, docs/operations.md)\n"
            "                          to each new config: the nodes trade\n"
            "  --debug-api             new configs set node.debug_api: true (the API's op\n"
            "                          crash, for the chaos harness; docs/api.md)\n"
            "  --node N                1, 2 or 3\n"
            "  --json                  status as JSON\n",
            BASE_PORT_DEFAULT, ELECTION_MS_MIN, ELECTION_MS_MAX);
}

/* ---- Small helpers: paths, time, files, processes ------------------------------------------ */

/* Format into out (PATH_BYTES); false if it did not fit. */
static bool path_fmt(char out[PATH_BYTES], const char *fmt, ...) TK_PRINTF_LIKE(2, 3);

static bool path_fmt(char out[PATH_BYTES], const char *fmt, ...)
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATH_BYTES, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < PATH_BYTES;
}

/* Fill every path of the cluster at dir (absolute); false if one is too long. */
static bool paths_init(cluster_paths *p, const char *dir)
{
    TK_ASSERT(p != NULL);
    TK_ASSERT(dir != NULL && dir[0] == '/');
    bool ok = path_fmt(p->dir, "%s", dir) && path_fmt(p->monitor_pid, "%s/cluster.pid", dir) &&
              path_fmt(p->monitor_log, "%s/cluster.log", dir);
    for (uint32_t i = 0; i < NODES && ok; i++) {
        uint32_t n = i + 1u;
        ok = path_fmt(p->node_dir[i], "%s/node%u", dir, n) &&
             path_fmt(p->config[i], "%s/node%u.yaml", dir, n) &&
             path_fmt(p->pid[i], "%s/node%u.pid", dir, n) &&
             path_fmt(p->log[i], "%s/node%u/node.log", dir, n) &&
             path_fmt(p->request[i], "%s/node%u.start", dir, n);
    }
    return ok;
}

/* Whether every character of dir is one a YAML plain scalar and a shell take as it is. */
static bool dir_is_plain(const char *dir)
{
    TK_ASSERT(dir != NULL);
    size_t len = strlen(dir);
    TK_ASSERT(len < PATH_BYTES);
    for (size_t i = 0; i < len; i++) {
        char c = dir[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '/' || c == '.' || c == '_' || c == '-';
        if (!plain) return false;
    }
    return true;
}

/* mkdir -p path (mode 0750 for what it creates). Errors: the mapped errno of mkdir(2). */
static tk_err dir_make(const char *path)
{
    TK_ASSERT(path != NULL);
    char buf[PATH_BYTES];
    if (!path_fmt(buf, "%s", path)) return TK_EOVERFLOW;
    size_t len = strlen(buf);
    TK_ASSERT(len < PATH_BYTES);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST) return tk_err_from_errno(errno);
        buf[i] = saved;
    }
    return TK_OK;
}

/* Resolve the --dir argument to an absolute path in out (created first when create is set);
 * print why and return false on failure. */
static bool dir_resolve(const char *cmd, const char *arg, bool create, cluster_paths *out)
{
    TK_ASSERT(cmd != NULL && arg != NULL);
    TK_ASSERT(out != NULL);
    tk_err err = create ? dir_make(arg) : TK_OK;
    char *abs = err == TK_OK ? realpath(arg, NULL) : NULL;
    if (abs == NULL) {
        fprintf(stderr, "troika cluster %s: --dir %s: %s\n", cmd, arg,
                err != TK_OK ? tk_err_str(err) : strerror(errno));
        return false;
    }
    /* The nodes' data_dir (D/nodeN) must fit app_node_config.data_dir. */
    bool fits = strlen(abs) + sizeof("/node1") <= sizeof(((app_node_config *)0)->data_dir);
    bool ok = fits && dir_is_plain(abs) && paths_init(out, abs);
    if (!ok)
        fprintf(stderr,
                "troika cluster %s: --dir %s: the path must be at most %zu bytes of letters, "
                "digits and / . _ -\n",
                cmd, abs, sizeof(((app_node_config *)0)->data_dir) - sizeof("/node1"));
    free(abs);
    return ok;
}

/* Monotonic time now, in ns (the process clock, base/). */
static uint64_t now_ns(void)
{
    return tk_clock_mono_ns(tk_clock_system());
}

/* Sleep ms milliseconds, through signals. */
static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    TK_ASSERT(ts.tv_nsec < 1000000000L);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* the rest of the interval is in ts */
    }
}

/* Write size bytes of data to path through path.tmp and rename(2), so that a reader sees the
 * old file or the new one, never a part; durable (fsync) when sync is set.
 * Errors: the mapped errno, TK_EIO (a short write), TK_EOVERFLOW (path too long). */
static tk_err file_write_atomic(const char *path, const char *data, size_t size, mode_t mode,
                                bool sync)
{
    TK_ASSERT(path != NULL);
    TK_ASSERT(data != NULL || size == 0);
    char tmp[PATH_BYTES];
    if (!path_fmt(tmp, "%s.tmp", path)) return TK_EOVERFLOW;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return tk_err_from_errno(errno);
    tk_err err = TK_OK;
    ssize_t n = write(fd, data, size);
    if (n < 0) err = tk_err_from_errno(errno);
    if (err == TK_OK && (size_t)n != size) err = TK_EIO;
    if (err == TK_OK && sync && fsync(fd) != 0) err = tk_err_from_errno(errno);
    if (close(fd) != 0 && err == TK_OK) err = tk_err_from_errno(errno);
    if (err == TK_OK && rename(tmp, path) != 0) err = tk_err_from_errno(errno);
    if (err != TK_OK) unlink(tmp);
    return err;
}

/* The pid written in a pid file ("1234\n"); false if there is none or it does not parse. */
static bool pid_read(const char *path, pid_t *out)
{
    TK_ASSERT(path != NULL);
    TK_ASSERT(out != NULL);
    char text[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, text, sizeof(text) - 1u);
    close(fd);
    if (n <= 0) return false;
    text[n] = '\0';
    char *end = NULL;
    long pid = strtol(text, &end, 10);
    if (end == text || (*end != '\n' && *end != '\0') || pid <= 0 || pid > INT32_MAX) return false;
    *out = (pid_t)pid;
    return true;
}

/* Write pid to path (tmp + rename; not synced: a pid means nothing after a reboot). */
static tk_err pid_write(const char *path, pid_t pid)
{
    TK_ASSERT(path != NULL);
    TK_ASSERT(pid > 0);
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)pid);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(text));
    return file_write_atomic(path, text, (size_t)n, 0644, false);
}

/* Whether process pid runs with both a and b among its arguments (/proc/PID/cmdline): how a
 * pid from a pid file is told apart from an unrelated process that reused it. */
static bool proc_has_args(pid_t pid, const char *a, const char *b)
{
    TK_ASSERT(pid > 0);
    TK_ASSERT(a != NULL && b != NULL);
    char path[64], buf[CMDLINE_BYTES];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1u);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0'; /* the last argument ends with a NUL of its own, or is cut here */
    bool has_a = false, has_b = false;
    for (size_t at = 0; at < (size_t)n; at += strlen(buf + at) + 1u) {
        if (strcmp(buf + at, a) == 0) has_a = true;
        if (strcmp(buf + at, b) == 0) has_b = true;
    }
    return has_a && has_b;
}

/* Whether pid is a process that has not exited: an exited daemon stays a zombie until init
 * reaps it, which may take a while. */
static bool proc_is_running(pid_t pid)
{
    TK_ASSERT(pid > 0);
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1u);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold anything */
    TK_ASSERT(paren == NULL || paren < buf + n);
    return paren != NULL && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* The pid of node i (0-based) if its pid file names a live `troika node` of this cluster's
 * config; 0 otherwise. */
static pid_t node_live_pid(const cluster_paths *p, uint32_t i)
{
    TK_ASSERT(p != NULL);
    TK_ASSERT(i < NODES);
    pid_t pid = 0;
    if (!pid_read(p->pid[i], &pid)) return 0;
    return proc_has_args(pid, "node", p->config[i]) ? pid : 0;
}

/* The pid of the live monitor (the holder of the write lock on cluster.pid); 0 if none. */
static pid_t monitor_live_pid(const cluster_paths *p)
{
    TK_ASSERT(p != NULL);
    int fd = open(p->monitor_pid, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    pid_t pid = 0;
    if (fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK) pid = lock.l_pid;
    close(fd);
    TK_ASSERT(pid >= 0);
    return pid;
}

/* ---- Configuration files ------------------------------------------------------------------- */

/* A bounded text buffer that remembers whether anything did not fit. */
typedef struct text_buf {
    char *buf;
    size_t size, len;
    bool overflow;
} text_buf;

static void text_add(text_buf *t, const char *fmt, ...) TK_PRINTF_LIKE(2, 3);

static void text_add(text_buf *t, const char *fmt, ...)
{
    TK_ASSERT(t != NULL && t->buf != NULL);
    TK_ASSERT(t->len < t->size);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->size - t->len) {
        t->overflow = true;
        return;
    }
    t->len += (size_t)n;
}

/* Node n's configuration (docs/operations.md) into t: ports from base_port, one token. */
static void config_render(text_buf *t, const cluster_paths *p, uint32_t n, uint32_t base_port,
                          uint32_t election_ms, const char *token, bool debug_api,
                          const char *trading)
{
    TK_ASSERT(n >= 1 && n <= NODES);
    TK_ASSERT(base_port <= BASE_PORT_MAX);
    text_add(t,
             "# troika node configuration (docs/operations.md), written by troika cluster up\n"
             "node:\n  id: %u\n  name: node%u\n  data_dir: %s\n"
             "  token: %s   # required on every API request; the same on every node\n"
             "  debug_api: %s\n"
             "cluster:\n  id: local\n"
             "raft:\n  election_timeout_ms: %u\n  heartbeat_timeout_ms: %u\n"
             "  snapshot_threshold: 8192     # entries\n  snapshot_trailing: 2048\n"
             "  stall_timeout_ms: 10000\n"
             "storage:\n  checkpoint_every: 100000     # events\n"
             "  sync: false                  # Raft's own log is fsynced; the store replays "
             "from it\n"
             "peers:\n",
             n, n, p->node_dir[n - 1u], token, debug_api ? "true" : "false", election_ms,
             election_ms / 10u);
    for (uint32_t k = 1; k <= NODES; k++) {
        text_add(t,
                 "  - id: %u\n    raft: 127.0.0.1:%u\n    api: tcp://127.0.0.1:%u\n"
                 "    http: http://127.0.0.1:%u\n    events: tcp://127.0.0.1:%u\n",
                 k, base_port + k, base_port + 100u + k, base_port + 200u + k,
                 base_port + 300u + k);
    }
    if (trading != NULL) text_add(t, "%s", trading);
}

/* 32 hex characters from /dev/urandom (a secret: not tk_rng, which is seeded to replay).
 * Errors: the mapped errno of open(2) or read(2), TK_EIO (a short read). */
static tk_err token_make(char out[2u * TOKEN_BYTES + 1u])
{
    TK_ASSERT(out != NULL);
    uint8_t bytes[TOKEN_BYTES];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tk_err_from_errno(errno);
    ssize_t n = read(fd, bytes, sizeof(bytes));
    tk_err err = n < 0 ? tk_err_from_errno(errno) : TK_OK;
    if (err == TK_OK && (size_t)n != sizeof(bytes)) err = TK_EIO;
    close(fd);
    if (err == TK_OK) app_hex(bytes, sizeof(bytes), out);
    TK_ASSERT(err != TK_OK || strlen(out) == 2u * TOKEN_BYTES);
    return err;
}

/* Write the three configurations unless they exist: all three present are reused, none
 * present are written, anything else is refused. Prints why; returns the exit code. */
static int configs_ensure(const cluster_paths *p, uint32_t base_port, uint32_t election_ms,
                          bool debug_api, const char *trading_file)
{
    TK_ASSERT(p != NULL);
    TK_ASSERT(election_ms >= ELECTION_MS_MIN);
    uint32_t present = 0;
    for (uint32_t i = 0; i < NODES; i++)
        present += access(p->config[i], F_OK) == 0 ? 1u : 0u;
    if (present == NODES) return APP_EXIT_OK;
    if (present != 0) {
        fprintf(stderr,
                "troika cluster up: %s holds some of node1.yaml..node%u.yaml but not all: "
                "restore the missing ones or remove them all\n",
                p->dir, NODES);
        return APP_EXIT_FAIL;
    }
    char trading[CONFIG_TEXT_BYTES / 2u] = "";
    if (trading_file != NULL) {
        FILE *f = fopen(trading_file, "r");
        size_t n = f != NULL ? fread(trading, 1, sizeof(trading) - 1u, f) : 0;
        bool whole = f != NULL && feof(f) && !ferror(f);
        if (f != NULL) fclose(f);
        if (!whole) {
            fprintf(stderr, "troika cluster up: --trading %s: %s\n", trading_file,
                    f == NULL ? strerror(errno) : "unreadable, or over 2 KiB");
            return APP_EXIT_USAGE;
        }
        trading[n] = '\0';
    }
    char token[2u * TOKEN_BYTES + 1u];
    tk_err err = token_make(token);
    if (err != TK_OK) {
        fprintf(stderr, "troika cluster up: cannot read /dev/urandom: %s\n", tk_err_str(err));
        return APP_EXIT_FAIL;
    }
    for (uint32_t i = 0; i < NODES; i++) {
        char buf[CONFIG_TEXT_BYTES];
        text_buf t = {.buf = buf, .size = sizeof(buf), .len = 0, .overflow = false};
        config_render(&t, p, i + 1u, base_port, election_ms, token, debug_api,
                      trading_file != NULL ? trading : NULL);
        TK_ASSERT(!t.overflow); /* the directory's length is checked: the text fits */
        err = file_write_atomic(p->config[i], buf, t.len, 0600, true);
        if (err != TK_OK) {
            fprintf(stderr, "troika cluster up: cannot write %s: %s\n", p->config[i],
                    tk_err_str(err));
            return APP_EXIT_FAIL;
        }
    }
    return APP_EXIT_OK;
}

/* Load the three configurations into cfgs (each checked by app_node_config_load). Prints why;
 * returns the exit code. */
static int configs_load(const char *cmd, const cluster_paths *p, app_node_config cfgs[NODES])
{
    TK_ASSERT(cmd != NULL && p != NULL);
    TK_ASSERT(cfgs != NULL);
    for (uint32_t i = 0; i < NODES; i++) {
        char why[512];
        if (app_node_config_load(p->config[i], &cfgs[i], why, sizeof(why)) != TK_OK) {
            fprintf(stderr, "troika cluster %s: %s\n", cmd, why);
            return APP_EXIT_FAIL;
        }
    }
    return APP_EXIT_OK;
}

/* ---- The monitor: a state machine per node ------------------------------------------------- */

/* DOWN -> RUNNING (spawned) -> DOWN (exited, no restart or stopping)
 *                           -> BACKOFF (exited; spawned again at due_ns) -> RUNNING | DOWN.
 * DOWN|BACKOFF -> BACKOFF when fork fails (with restarts on).
 * RUNNING: pid is the monitor's unreaped child. BACKOFF: no process, due_ns set. */
typedef enum node_state {
    NODE_DOWN = 0,
    NODE_RUNNING,
    NODE_BACKOFF,
} node_state;

typedef struct node_proc {
    node_state state;
    pid_t pid;           /* RUNNING only */
    uint64_t started_ns; /* RUNNING: when it was spawned (monotonic) */
    uint64_t due_ns;     /* BACKOFF: when to spawn it again (monotonic) */
    uint32_t backoff_ms; /* the delay before the next restart */
    uint64_t restarts;   /* spawns after the first */
} node_proc;

typedef struct monitor {
    const cluster_paths *paths; /* borrowed: outlives the monitor */
    char exe[PATH_BYTES];       /* this binary, resolved at start (a rebuild replaces the file) */
    pid_t self;
    bool restart;  /* restart nodes that exit (false: --no-restart) */
    bool stopping; /* SIGTERM or SIGINT came: nodes are being stopped */
    bool killed;   /* the grace period passed and SIGKILL was sent */
    uint64_t stop_deadline_ns;
    node_proc nodes[NODES];
} monitor;

/* The edges of the diagram above. */
static bool node_edge_is_legal(node_state from, node_state to)
{
    switch (from) {
    case NODE_DOWN:
        return to == NODE_RUNNING || to == NODE_BACKOFF;
    case NODE_RUNNING:
        return to == NODE_DOWN || to == NODE_BACKOFF;
    case NODE_BACKOFF:
        return true;
    }
    return false;
}

/* The one place a node's state changes. */
static void node_set_state(node_proc *node, node_state next)
{
    TK_ASSERT(node_edge_is_legal(node->state, next));
    node->state = next;
    if (next != NODE_RUNNING) node->pid = 0;
    if (next == NODE_RUNNING) TK_ASSERT(node->pid > 0);
}

/* In the forked child: become node i's `troika node` process. The monitor is single-threaded,
 * so the child may call anything; it only redirects, closes and execs (paths are ready). */
static _Noreturn void node_exec(const monitor *m, uint32_t i)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the monitor blocks signals; exec keeps a mask */
    prctl(PR_SET_PDEATHSIG, SIGTERM);      /* a monitor that dies takes its nodes down */
    if (getppid() != m->self) _exit(1);    /* it died before prctl */
    int in = open("/dev/null", O_RDONLY);
    int out = open(m->paths->log[i], O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(out, STDERR_FILENO) < 0)
        _exit(126);
    close_range(3, ~0u, 0); /* nothing of the monitor's, or of whoever started it, leaks in */
    if (chdir(m->paths->node_dir[i]) != 0) _exit(126);
    char arg_node[] = "node", arg_config[] = "--config";
    char *argv[] = {(char *)m->exe, arg_node, arg_config, (char *)m->paths->config[i], NULL};
    execv(m->exe, argv);
    dprintf(STDERR_FILENO, "troika cluster: cannot run %s: %s\n", m->exe, strerror(errno));
    _exit(127);
}

/* After an exit or a failed spawn: BACKOFF with the next delay (restarts on), else DOWN. */
static void node_after_exit(monitor *m, uint32_t i, uint64_t uptime_ms)
{
    node_proc *node = &m->nodes[i];
    TK_ASSERT(node->state != NODE_DOWN || m->restart);
    if (!m->restart || m->stopping) {
        node_set_state(node, NODE_DOWN);
        return;
    }
    if (uptime_ms >= BACKOFF_RESET_MS) node->backoff_ms = BACKOFF_MS_FIRST;
    node->due_ns = now_ns() + (uint64_t)node->backoff_ms * 1000000u;
    TK_LOG(TK_LOG_INFO, LOG_MODULE, "restart scheduled", TK_LOG_U64("node", i + 1u),
           TK_LOG_U64("in_ms", node->backoff_ms));
    node->backoff_ms =
        node->backoff_ms * 2u > BACKOFF_MS_MAX ? BACKOFF_MS_MAX : node->backoff_ms * 2u;
    node_set_state(node, NODE_BACKOFF);
    TK_ASSERT(node->backoff_ms >= BACKOFF_MS_FIRST && node->backoff_ms <= BACKOFF_MS_MAX);
}

/* Start node i (DOWN or BACKOFF) as a child and write its pid file. */
static void node_spawn(monitor *m, uint32_t i)
{
    node_proc *node = &m->nodes[i];
    TK_ASSERT(node->state != NODE_RUNNING);
    TK_ASSERT(!m->stopping);
    bool first = node->started_ns == 0; /* never started before */
    tk_err err = dir_make(m->paths->node_dir[i]);
    pid_t pid = err == TK_OK ? fork() : -1;
    if (pid == 0) node_exec(m, i);
    if (pid < 0) {
        if (err == TK_OK) err = tk_err_from_errno(errno);
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "cannot start node", TK_LOG_U64("node", i + 1u),
               TK_LOG_STR("dir", m->paths->node_dir[i]), TK_LOG_ERR("err", err));
        if (m->restart) node_after_exit(m, i, 0); /* else it stays DOWN */
        return;
    }
    node->pid = pid;
    node->started_ns = now_ns();
    if (!first) node->restarts++;
    node_set_state(node, NODE_RUNNING);
    err = pid_write(m->paths->pid[i], pid);
    TK_LOG(TK_LOG_INFO, LOG_MODULE, first ? "node started" : "node restarted",
           TK_LOG_U64("node", i + 1u), TK_LOG_I64("pid", pid),
           TK_LOG_U64("restarts", node->restarts));
    if (err != TK_OK)
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "cannot write the pid file", TK_LOG_U64("node", i + 1u),
               TK_LOG_STR("pid_file", m->paths->pid[i]), TK_LOG_ERR("err", err));
}

/* A child exited with wait status: log how, remove its pid file, schedule what comes next. */
static void node_exited(monitor *m, uint32_t i, int status)
{
    node_proc *node = &m->nodes[i];
    TK_ASSERT(node->state == NODE_RUNNING);
    TK_ASSERT(node->started_ns > 0);
    uint64_t uptime_ms = (now_ns() - node->started_ns) / 1000000u;
    unlink(m->paths->pid[i]);
    if (WIFSIGNALED(status)) {
        TK_LOG(m->stopping ? TK_LOG_INFO : TK_LOG_WARN, LOG_MODULE, "node killed",
               TK_LOG_U64("node", i + 1u), TK_LOG_I64("pid", node->pid),
               TK_LOG_STR("signal", strsignal(WTERMSIG(status))),
               TK_LOG_U64("uptime_ms", uptime_ms), TK_LOG_STR("log", m->paths->log[i]));
    } else {
        TK_LOG(m->stopping ? TK_LOG_INFO : TK_LOG_WARN, LOG_MODULE, "node exited",
               TK_LOG_U64("node", i + 1u), TK_LOG_I64("pid", node->pid),
               TK_LOG_I64("status", WEXITSTATUS(status)), TK_LOG_U64("uptime_ms", uptime_ms),
               TK_LOG_STR("log", m->paths->log[i]));
    }
    node_after_exit(m, i, uptime_ms);
}

/* Reap every child that exited. */
static void monitor_reap(monitor *m)
{
    TK_ASSERT(m != NULL);
    for (uint32_t k = 0; k < 4u * NODES; k++) { /* more are reaped on the next wake-up */
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return; /* 0: none exited; -1: no children */
        for (uint32_t i = 0; i < NODES; i++) {
            if (m->nodes[i].state == NODE_RUNNING && m->nodes[i].pid == pid)
                node_exited(m, i, status);
        }
    }
}

/* SIGTERM or SIGINT: stop restarting and send SIGTERM to every node. */
static void monitor_stop(monitor *m, int sig)
{
    TK_ASSERT(m != NULL);
    if (m->stopping) return;
    m->stopping = true;
    m->stop_deadline_ns = now_ns() + (uint64_t)STOP_GRACE_MS * 1000000u;
    TK_LOG(TK_LOG_INFO, LOG_MODULE, "stopping", TK_LOG_STR("signal", strsignal(sig)));
    for (uint32_t i = 0; i < NODES; i++) {
        node_proc *node = &m->nodes[i];
        if (node->state == NODE_RUNNING) kill(node->pid, SIGTERM);
        if (node->state == NODE_BACKOFF) node_set_state(node, NODE_DOWN);
    }
    TK_ASSERT(m->stop_deadline_ns > 0);
}

/* While stopping: SIGKILL the nodes still running once the grace period is over. */
static void monitor_kill_late(monitor *m)
{
    TK_ASSERT(m->stopping);
    if (m->killed || now_ns() < m->stop_deadline_ns) return;
    m->killed = true;
    for (uint32_t i = 0; i < NODES; i++) {
        if (m->nodes[i].state != NODE_RUNNING) continue;
        TK_LOG(TK_LOG_WARN, LOG_MODULE, "node did not stop in time: SIGKILL",
               TK_LOG_U64("node", i + 1u), TK_LOG_I64("pid", m->nodes[i].pid));
        kill(m->nodes[i].pid, SIGKILL);
    }
    TK_ASSERT(m->killed);
}

/* Serve start-node requests (D/nodeN.start) and spawn the nodes whose backoff is over. */
static void monitor_spawn_due(monitor *m)
{
    TK_ASSERT(m != NULL);
    TK_ASSERT(!m->stopping);
    uint64_t now = now_ns();
    for (uint32_t i = 0; i < NODES; i++) {
        node_proc *node = &m->nodes[i];
        bool requested = unlink(m->paths->request[i]) == 0;
        if (requested)
            TK_LOG(TK_LOG_INFO, LOG_MODULE, "start requested", TK_LOG_U64("node", i + 1u),
                   TK_LOG_BOOL("running", node->state == NODE_RUNNING));
        if (node->state == NODE_RUNNING) continue;
        if (requested || (node->state == NODE_BACKOFF && now >= node->due_ns)) node_spawn(m, i);
    }
}

/* How long the monitor may sleep: until the next restart or the stop deadline, at most
 * MONITOR_WAKE_MS. */
static uint32_t monitor_wait_ms(const monitor *m)
{
    TK_ASSERT(m != NULL);
    uint64_t now = now_ns(), wait_ns = (uint64_t)MONITOR_WAKE_MS * 1000000u;
    for (uint32_t i = 0; i < NODES; i++) {
        const node_proc *node = &m->nodes[i];
        if (node->state != NODE_BACKOFF) continue;
        uint64_t left = node->due_ns > now ? node->due_ns - now : 0;
        if (left < wait_ns) wait_ns = left;
    }
    if (m->stopping && !m->killed) {
        uint64_t left = m->stop_deadline_ns > now ? m->stop_deadline_ns - now : 0;
        if (left < wait_ns) wait_ns = left;
    }
    uint32_t ms = (uint32_t)((wait_ns + 999999u) / 1000000u);
    TK_ASSERT(ms <= MONITOR_WAKE_MS);
    return ms;
}

/* Whether no node runs or waits for a restart. */
static bool monitor_all_down(const monitor *m)
{
    for (uint32_t i = 0; i < NODES; i++)
        if (m->nodes[i].state != NODE_DOWN) return false;
    return true;
}

/* Never runs: the monitor blocks these signals and takes them with sigtimedwait. It is set
 * because a signal left ignored (SIG_IGN, inherited) would be discarded, not queued. */
static void signal_queued(int sig)
{
    (void)sig;
}

/* Take the write lock on cluster.pid for the monitor's life; *out_fd holds it.
 * Errors: TK_EEXIST (another monitor holds it), the mapped errno of open(2) or fcntl(2). */
static tk_err monitor_lock(const cluster_paths *p, int *out_fd)
{
    TK_ASSERT(p != NULL && out_fd != NULL);
    int fd = open(p->monitor_pid, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return tk_err_from_errno(errno);
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &lock) != 0) {
        tk_err err = errno == EACCES || errno == EAGAIN ? TK_EEXIST : tk_err_from_errno(errno);
        close(fd);
        return err;
    }
    *out_fd = fd;
    TK_ASSERT(fd >= 0);
    return TK_OK;
}

/* Write our pid into the locked cluster.pid: the sign, for `up`, that the nodes are spawned.
 * In place, not by rename: the lock belongs to this file. */
static tk_err monitor_ready(int fd, pid_t self)
{
    TK_ASSERT(fd >= 0 && self > 0);
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)self);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(text));
    if (ftruncate(fd, 0) != 0) return tk_err_from_errno(errno);
    ssize_t w = pwrite(fd, text, (size_t)n, 0);
    if (w < 0) return tk_err_from_errno(errno);
    return w == n ? TK_OK : TK_EIO;
}

/* Block the signals the monitor waits for (into set) and make sure they queue. */
static void monitor_signals(sigset_t *set)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGCHLD, SIGUSR1};
    sigemptyset(set);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = signal_queued;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaddset(set, sigs[i]);
        TK_ASSERT(sigaction(sigs[i], &sa, NULL) == 0);
    }
    TK_ASSERT(sigprocmask(SIG_BLOCK, set, NULL) == 0);
}

/* The monitor's loop, after the nodes are spawned; returns once stopping and all are down. */
static void monitor_loop(monitor *m, const sigset_t *set)
{
    TK_ASSERT(m != NULL && set != NULL);
    for (;;) { /* the monitor's main loop: it ends when stopping with every node down */
        uint32_t ms = monitor_wait_ms(m);
        struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) monitor_stop(m, sig);
        monitor_reap(m);
        if (m->stopping) {
            if (monitor_all_down(m)) break;
            monitor_kill_late(m);
        } else {
            monitor_spawn_due(m);
        }
    }
    TK_ASSERT(monitor_all_down(m));
}

/* `troika cluster monitor`: run the nodes until SIGTERM or SIGINT. Its stdout and stderr are
 * cluster.log (set up by `up`). Returns the exit code. */
static int monitor_run(const cluster_paths *p, bool restart)
{
    TK_ASSERT(p != NULL);
    static monitor m; /* static: PATH_BYTES-sized fields, one monitor per process */
    m = (monitor){.paths = p, .self = getpid(), .restart = restart};
    for (uint32_t i = 0; i < NODES; i++)
        m.nodes[i].backoff_ms = BACKOFF_MS_FIRST;
    ssize_t n = readlink("/proc/self/exe", m.exe, sizeof(m.exe) - 1u);
    int fd = -1;
    tk_err err = n > 0 && (size_t)n < sizeof(m.exe) - 1u ? monitor_lock(p, &fd) : TK_ENOENT;
    if (err != TK_OK) {
        TK_LOG(TK_LOG_ERROR, LOG_MODULE,
               err == TK_EEXIST ? "another monitor runs" : "cannot start the monitor",
               TK_LOG_STR("pid_file", p->monitor_pid), TK_LOG_ERR("err", err));
        return APP_EXIT_FAIL;
    }
    m.exe[n] = '\0';
    sigset_t set;
    monitor_signals(&set);
    TK_LOG(TK_LOG_INFO, LOG_MODULE, "monitor started", TK_LOG_I64("pid", m.self),
           TK_LOG_STR("dir", p->dir), TK_LOG_STR("exe", m.exe), TK_LOG_BOOL("restart", restart));
    for (uint32_t i = 0; i < NODES; i++) {
        unlink(p->request[i]); /* a request left from an earlier run */
        node_spawn(&m, i);
    }
    err = monitor_ready(fd, m.self);
    if (err != TK_OK)
        TK_LOG(TK_LOG_ERROR, LOG_MODULE, "cannot write the pid file",
               TK_LOG_STR("pid_file", p->monitor_pid), TK_LOG_ERR("err", err));
    if (err != TK_OK) monitor_stop(&m, SIGTERM);
    monitor_loop(&m, &set);
    unlink(p->monitor_pid); /* still locked: no one can take it for stale meanwhile */
    close(fd);
    TK_LOG(TK_LOG_INFO, LOG_MODULE, "monitor stopped", TK_LOG_I64("pid", m.self));
    return err == TK_OK ? APP_EXIT_OK : APP_EXIT_FAIL;
}

/* ---- up ------------------------------------------------------------------------------------ */

/* In the first child of `up`: leave the session, fork the monitor, send its pid up the pipe,
 * exit. The monitor (the grandchild) runs `troika cluster monitor` with stdin /dev/null and
 * stdout, stderr appended to cluster.log. */
static _Noreturn void monitor_daemonize(const cluster_paths *p, const char *exe, bool restart,
                                        int pipe_fd)
{
    if (setsid() < 0) _exit(1);
    pid_t pid = fork();
    if (pid != 0) {
        bool sent = pid > 0 && write(pipe_fd, &pid, sizeof(pid)) == (ssize_t)sizeof(pid);
        _exit(sent ? 0 : 1);
    }
    int in = open("/dev/null", O_RDONLY);
    int out = open(p->monitor_log, O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(out, STDERR_FILENO) < 0 || chdir("/") != 0)
        _exit(126);
    close_range(3, ~0u, 0); /* a daemon keeps no descriptor of its caller (a test's pipes) */
    char a_cluster[] = "cluster", a_monitor[] = "monitor", a_dir[] = "--dir";
    char a_no_restart[] = "--no-restart";
    char *argv[] = {(char *)exe, a_cluster,      a_monitor,
                    a_dir,       (char *)p->dir, restart ? NULL : a_no_restart,
                    NULL};
    execv(exe, argv);
    dprintf(STDERR_FILENO, "troika cluster up: cannot run %s: %s\n", exe, strerror(errno));
    _exit(127);
}

/* Start the monitor in the background; *out_pid gets its pid. Prints why on failure. */
static bool monitor_start(const cluster_paths *p, bool restart, pid_t *out_pid)
{
    TK_ASSERT(p != NULL && out_pid != NULL);
    char exe[PATH_BYTES];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1u);
    int fds[2] = {-1, -1};
    if (n <= 0 || (size_t)n >= sizeof(exe) - 1u || pipe(fds) != 0) {
        fprintf(stderr, "troika cluster up: cannot find this binary or make a pipe: %s\n",
                strerror(errno));
        return false;
    }
    exe[n] = '\0';
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        monitor_daemonize(p, exe, restart, fds[1]);
    }
    close(fds[1]);
    pid_t monitor_pid = 0;
    ssize_t got = child > 0 ? read(fds[0], &monitor_pid, sizeof(monitor_pid)) : -1;
    close(fds[0]);
    int status = 0;
    if (child > 0) waitpid(child, &status, 0);
    if (got != (ssize_t)sizeof(monitor_pid) || monitor_pid <= 0) {
        fprintf(stderr, "troika cluster up: cannot start the monitor in the background\n");
        return false;
    }
    *out_pid = monitor_pid;
    return true;
}

/* Wait for the monitor to lock cluster.pid and write its pid there (its nodes are spawned). */
static bool monitor_wait_ready(const cluster_paths *p, pid_t pid)
{
    TK_ASSERT(p != NULL);
    TK_ASSERT(pid > 0);
    for (uint32_t waited = 0; waited < UP_WAIT_MS; waited += POLL_MS) {
        pid_t written = 0;
        if (monitor_live_pid(p) == pid && pid_read(p->monitor_pid, &written) && written == pid)
            return true;
        if (!proc_is_running(pid)) break;
        sleep_ms(POLL_MS);
    }
    fprintf(stderr, "troika cluster up: the monitor (pid %ld) did not start: see %s\n", (long)pid,
            p->monitor_log);
    return false;
}

/* What `up` started, and where everything is. */
static void up_print(const cluster_paths *p, const app_node_config cfgs[NODES], pid_t monitor_pid,
                     bool restart)
{
    TK_ASSERT(p != NULL && cfgs != NULL);
    TK_ASSERT(monitor_pid > 0);
    printf("cluster in %s: monitor pid %ld (log %s), restarts %s\n", p->dir, (long)monitor_pid,
           p->monitor_log, restart ? "on" : "off (--no-restart)");
    pid_t pids[NODES] = {0};
    /* A node just forked runs the monitor's image until exec: give each a moment. */
    for (uint32_t waited = 0; waited < UP_SETTLE_MS; waited += POLL_MS) {
        uint32_t live = 0;
        for (uint32_t i = 0; i < NODES; i++) {
            pids[i] = node_live_pid(p, i);
            live += pids[i] != 0 ? 1u : 0u;
        }
        if (live == NODES) break;
        sleep_ms(POLL_MS);
    }
    for (uint32_t i = 0; i < NODES; i++) {
        const app_node_peer *self = app_node_self(&cfgs[i]);
        pid_t pid = pids[i];
        char state[48];
        if (pid > 0) {
            snprintf(state, sizeof(state), "pid %ld", (long)pid);
        } else {
            snprintf(state, sizeof(state), "not running (see its node.log)");
        }
        printf("  node %llu: %s\n    config %s\n    data   %s (log %s)\n"
               "    raft %s  api %s  http %s  events %s\n",
               (unsigned long long)cfgs[i].id, state, p->config[i], cfgs[i].data_dir, p->log[i],
               self->raft, self->api, self->http, self->events);
    }
    printf("The API token is node.token in the configs. Next: troika cluster status --dir %s\n",
           p->dir);
}

/* Refuse to start over a live monitor or over nodes left running; clear stale pid files. */
static bool up_check_idle(const cluster_paths *p)
{
    TK_ASSERT(p != NULL);
    pid_t monitor_pid = monitor_live_pid(p);
    if (monitor_pid != 0) {
        fprintf(stderr, "troika cluster up: a cluster already runs in %s (monitor pid %ld)\n",
                p->dir, (long)monitor_pid);
        return false;
    }
    for (uint32_t i = 0; i < NODES; i++) {
        pid_t pid = node_live_pid(p, i);
        if (pid != 0) {
            fprintf(stderr,
                    "troika cluster up: node %u still runs (pid %ld) without a monitor: "
                    "troika cluster down --dir %s stops it\n",
                    i + 1u, (long)pid, p->dir);
            return false;
        }
        unlink(p->pid[i]);
    }
    return true;
}

/* Configs, node directories, then the monitor; the caller holds the directory's lock. */
static int up_locked(const cluster_args *a, const cluster_paths *p)
{
    TK_ASSERT(a != NULL && p != NULL);
    TK_ASSERT(a->base_port <= BASE_PORT_MAX);
    if (!up_check_idle(p)) return APP_EXIT_FAIL;
    int rc = configs_ensure(p, (uint32_t)a->base_port, (uint32_t)a->election_ms, a->debug_api,
                            a->trading);
    app_node_config cfgs[NODES];
    if (rc == APP_EXIT_OK) rc = configs_load("up", p, cfgs);
    for (uint32_t i = 0; i < NODES && rc == APP_EXIT_OK; i++) {
        tk_err err = dir_make(p->node_dir[i]);
        if (err != TK_OK) {
            fprintf(stderr, "troika cluster up: cannot create %s: %s\n", p->node_dir[i],
                    tk_err_str(err));
            rc = APP_EXIT_FAIL;
        }
    }
    if (rc != APP_EXIT_OK) return rc;
    pid_t monitor_pid = 0;
    if (!monitor_start(p, !a->no_restart, &monitor_pid)) return APP_EXIT_FAIL;
    if (!monitor_wait_ready(p, monitor_pid)) return APP_EXIT_FAIL;
    up_print(p, cfgs, monitor_pid, !a->no_restart);
    return APP_EXIT_OK;
}

/* `troika cluster up`. Two at once on one directory run one after the other (flock on the
 * directory), so that they cannot both write configs, with two tokens. Returns the exit code. */
static int cluster_up(const cluster_args *a)
{
    TK_ASSERT(a != NULL && a->dir != NULL);
    static cluster_paths p; /* static: large, one per process */
    if (!dir_resolve("up", a->dir, true, &p)) return APP_EXIT_FAIL;
    int fd = open(p.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "troika cluster up: cannot lock %s: %s\n", p.dir, strerror(errno));
        if (fd >= 0) close(fd);
        return APP_EXIT_FAIL;
    }
    int rc = up_locked(a, &p);
    close(fd); /* releases the lock */
    TK_ASSERT(rc == APP_EXIT_OK || rc == APP_EXIT_FAIL);
    return rc;
}

/* ---- down, start-node ---------------------------------------------------------------------- */

/* Without a monitor: stop node processes it left behind (SIGTERM, SIGKILL after the grace). */
static int down_orphans(const cluster_paths *p)
{
    TK_ASSERT(p != NULL);
    uint32_t left = 0;
    for (uint32_t i = 0; i < NODES; i++) {
        pid_t pid = node_live_pid(p, i);
        if (pid == 0) continue;
        printf("node %u runs without a monitor (pid %ld): stopping it\n", i + 1u, (long)pid);
        kill(pid, SIGTERM);
        for (uint32_t waited = 0; waited < STOP_GRACE_MS && node_live_pid(p, i) == pid;
             waited += POLL_MS)
            sleep_ms(POLL_MS);
        if (node_live_pid(p, i) == pid) kill(pid, SIGKILL);
        left++;
    }
    for (uint32_t i = 0; i < NODES; i++)
        if (node_live_pid(p, i) == 0) unlink(p->pid[i]);
    if (left == 0) printf("no cluster runs in %s\n", p->dir);
    TK_ASSERT(left <= NODES);
    return APP_EXIT_OK;
}

/* `troika cluster down`: SIGTERM to the monitor, then wait for it to be gone (it stops the
 * nodes first, then releases its lock, then exits). Nothing running is not an error. Returns the
 * exit code. */
static int cluster_down(const cluster_args *a)
{
    TK_ASSERT(a != NULL && a->dir != NULL);
    static cluster_paths p; /* static: large, one per process */
    if (access(a->dir, F_OK) != 0) {
        printf("no cluster runs in %s (no such directory)\n", a->dir);
        return APP_EXIT_OK;
    }
    if (!dir_resolve("down", a->dir, false, &p)) return APP_EXIT_FAIL;
    pid_t pid = monitor_live_pid(&p);
    if (pid == 0) return down_orphans(&p);
    if (kill(pid, SIGTERM) != 0) {
        fprintf(stderr, "troika cluster down: cannot signal the monitor (pid %ld): %s\n", (long)pid,
                strerror(errno));
        return APP_EXIT_FAIL;
    }
    printf("stopping the cluster in %s (monitor pid %ld)\n", p.dir, (long)pid);
    fflush(stdout);
    for (uint32_t waited = 0; waited < DOWN_WAIT_MS; waited += POLL_MS) {
        if (monitor_live_pid(&p) != pid && !proc_is_running(pid)) {
            printf("stopped\n");
            return APP_EXIT_OK;
        }
        sleep_ms(POLL_MS);
    }
    fprintf(stderr, "troika cluster down: the monitor (pid %ld) still runs after %u s: see %s\n",
            (long)pid, DOWN_WAIT_MS / 1000u, p.monitor_log);
    return APP_EXIT_FAIL;
}

/* Ask the monitor to start node i now: write D/nodeN.start, wake it with SIGUSR1 and wait for
 * the node's pid file to name a live node. */
static int cluster_start_node(const cluster_args *a)
{
    TK_ASSERT(a != NULL && a->dir != NULL);
    TK_ASSERT(a->node >= 1 && a->node <= NODES);
    static cluster_paths p; /* static: large, one per process */
    if (!dir_resolve("start-node", a->dir, false, &p)) return APP_EXIT_FAIL;
    uint32_t i = (uint32_t)a->node - 1u;
    pid_t monitor_pid = monitor_live_pid(&p), pid = node_live_pid(&p, i);
    if (monitor_pid == 0) {
        fprintf(stderr,
                "troika cluster start-node: no cluster runs in %s (cluster up starts one)\n",
                p.dir);
        return APP_EXIT_FAIL;
    }
    if (pid != 0) {
        printf("node %u already runs (pid %ld)\n", i + 1u, (long)pid);
        return APP_EXIT_OK;
    }
    tk_err err = file_write_atomic(p.request[i], "", 0, 0644, false);
    if (err == TK_OK && kill(monitor_pid, SIGUSR1) != 0) err = tk_err_from_errno(errno);
    if (err != TK_OK) {
        fprintf(stderr, "troika cluster start-node: cannot ask the monitor (%s): %s\n",
                p.request[i], tk_err_str(err));
        return APP_EXIT_FAIL;
    }
    for (uint32_t waited = 0; waited < START_WAIT_MS; waited += POLL_MS) {
        pid = node_live_pid(&p, i);
        if (pid != 0 && access(p.request[i], F_OK) != 0) {
            printf("node %u started (pid %ld)\n", i + 1u, (long)pid);
            return APP_EXIT_OK;
        }
        sleep_ms(POLL_MS);
    }
    fprintf(stderr, "troika cluster start-node: node %u did not start within %u s: see %s\n",
            i + 1u, START_WAIT_MS / 1000u, p.monitor_log);
    return APP_EXIT_FAIL;
}

/* ---- status -------------------------------------------------------------------------------- */

/* What one node answered to "status" (answered false: nothing else is meaningful). */
typedef struct node_answer {
    pid_t pid; /* 0: no live process */
    bool answered;
    char role[16];
    uint64_t term, applied_index, ledger_index;
    char state_hash[APP_HASH_HEX_BYTES];
    bool kill_switch, diverged;
    char why[160]; /* when not answered */
} node_answer;

/* obj[key] as a non-negative integer; 0 when absent or not one. */
static uint64_t json_u64(const json_t *obj, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(obj, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* obj[key] as a string; "" when absent or not one. */
static const char *json_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* Ask node cfg for its status over the client API into *out. */
static void node_ask(const app_node_config *cfg, node_answer *out)
{
    TK_ASSERT(cfg != NULL && out != NULL);
    char *reply = NULL;
    tk_err err = clu_api_call(app_node_self(cfg)->api, cfg->token, "{\"op\":\"status\"}",
                              API_TIMEOUT_MS, &reply, out->why, sizeof(out->why));
    json_t *r = err == TK_OK ? json_loads(reply, 0, NULL) : NULL;
    free(reply);
    if (err == TK_OK && !json_is_true(json_object_get(r, "ok")))
        snprintf(out->why, sizeof(out->why), "%s: %s",
                 r != NULL ? json_str(r, "error") : "not JSON", json_str(r, "detail"));
    else if (err == TK_OK)
        out->answered = true;
    if (out->answered) {
        snprintf(out->role, sizeof(out->role), "%s", json_str(r, "role"));
        snprintf(out->state_hash, sizeof(out->state_hash), "%s", json_str(r, "state_hash"));
        out->term = json_u64(r, "term");
        out->applied_index = json_u64(r, "applied_index");
        out->ledger_index = json_u64(r, "ledger_index");
        out->kill_switch = json_is_true(json_object_get(r, "kill_switch"));
        out->diverged = json_is_true(json_object_get(r, "diverged"));
    }
    json_decref(r);
    TK_ASSERT(out->answered || out->why[0] != '\0' || err != TK_OK);
}

/* Whether nodes that stand at the same ledger index have the same state hash (the applied Raft
 * index is no measure: a restarted node reports its snapshot's until it learns the commit
 * index, while its store is further on). */
static bool answers_agree(const node_answer ans[NODES])
{
    TK_ASSERT(ans != NULL);
    for (uint32_t i = 0; i < NODES; i++) {
        for (uint32_t j = i + 1u; j < NODES; j++) {
            if (!ans[i].answered || !ans[j].answered) continue;
            bool same_index = ans[i].ledger_index == ans[j].ledger_index;
            if (same_index && strcmp(ans[i].state_hash, ans[j].state_hash) != 0) return false;
        }
    }
    return true;
}

/* The answers as one JSON document: {"nodes": [...], "agree": bool}. */
static void status_print_json(const node_answer ans[NODES], bool agree)
{
    json_t *nodes = json_array();
    for (uint32_t i = 0; i < NODES; i++) {
        const node_answer *a = &ans[i];
        json_t *o = json_pack("{s:I, s:I, s:b, s:b}", "node", (json_int_t)(i + 1u), "pid",
                              (json_int_t)a->pid, "alive", a->pid != 0, "answered", a->answered);
        if (a->answered)
            json_object_update_new(o, json_pack("{s:s, s:I, s:I, s:I, s:s, s:b, s:b}", "role",
                                                a->role, "term", (json_int_t)a->term,
                                                "applied_index", (json_int_t)a->applied_index,
                                                "ledger_index", (json_int_t)a->ledger_index,
                                                "state_hash", a->state_hash, "kill_switch",
                                                a->kill_switch, "diverged", a->diverged));
        else
            json_object_set_new(o, "error", json_string(a->why));
        json_array_append_new(nodes, o);
    }
    json_t *doc = json_pack("{s:o, s:b}", "nodes", nodes, "agree", agree);
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    if (text != NULL) puts(text);
    free(text);
    json_decref(doc);
}

/* The answers as a table, one line per node. */
static void status_print_table(const node_answer ans[NODES], bool agree)
{
    printf("%-5s %-14s %-10s %6s %10s %10s  %-16s\n", "node", "pid", "role", "term", "applied",
           "ledger", "state hash");
    for (uint32_t i = 0; i < NODES; i++) {
        const node_answer *a = &ans[i];
        char pid[24] = "down";
        if (a->pid != 0) snprintf(pid, sizeof(pid), "%ld alive", (long)a->pid);
        if (!a->answered) {
            printf("%-5u %-14s %s (%s)\n", i + 1u, pid, a->pid != 0 ? "no answer" : "down", a->why);
            continue;
        }
        printf("%-5u %-14s %-10s %6llu %10llu %10llu  %.16s%s%s\n", i + 1u, pid, a->role,
               (unsigned long long)a->term, (unsigned long long)a->applied_index,
               (unsigned long long)a->ledger_index, a->state_hash,
               a->kill_switch ? "  KILL SWITCH ON" : "", a->diverged ? "  DIVERGED" : "");
    }
    if (!agree) printf("STATE HASHES DIFFER at the same index: see docs/operations.md\n");
}

/* `troika cluster status`: ask each node; 0 only if all three answer and agree. */
static int cluster_status(const cluster_args *a)
{
    TK_ASSERT(a != NULL && a->dir != NULL);
    static cluster_paths p; /* static: large, one per process */
    if (!dir_resolve("status", a->dir, false, &p)) return APP_EXIT_FAIL;
    static app_node_config cfgs[NODES];
    int rc = configs_load("status", &p, cfgs);
    if (rc != APP_EXIT_OK) return rc;
    node_answer ans[NODES];
    memset(ans, 0, sizeof(ans));
    bool all = true;
    for (uint32_t i = 0; i < NODES; i++) {
        ans[i].pid = node_live_pid(&p, i);
        node_ask(&cfgs[i], &ans[i]);
        if (!ans[i].answered) all = false;
    }
    bool agree = answers_agree(ans);
    if (a->json) {
        status_print_json(ans, agree);
    } else {
        status_print_table(ans, agree);
    }
    return all && agree ? APP_EXIT_OK : APP_EXIT_FAIL;
}

/* ---- Options ------------------------------------------------------------------------------- */

/* Parse one option value as an integer in lo..hi into *out; print why and return false if not. */
static bool parse_range(const char *name, const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    TK_ASSERT(name != NULL && text != NULL);
    TK_ASSERT(lo <= hi);
    if (app_parse_u64(text, out) && *out >= lo && *out <= hi) return true;
    fprintf(stderr, "troika cluster: --%s: not an integer from %llu to %llu: \"%s\"\n", name,
            (unsigned long long)lo, (unsigned long long)hi, text);
    return false;
}

/* Parse the options after the subcommand into *a. Returns APP_EXIT_OK, APP_EXIT_HELP or
 * APP_EXIT_USAGE (printed). */
static int args_parse(int argc, char **argv, cluster_args *a)
{
    static const struct option longs[] = {{"dir", required_argument, NULL, 'd'},
                                          {"base-port", required_argument, NULL, 'p'},
                                          {"no-restart", no_argument, NULL, 'R'},
                                          {"election-timeout-ms", required_argument, NULL, 'e'},
                                          {"node", required_argument, NULL, 'n'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"trading", required_argument, NULL, 't'},
                                          {"debug-api", no_argument, NULL, 'D'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    TK_ASSERT(a != NULL && argc >= 1);
    *a = (cluster_args){.base_port = BASE_PORT_DEFAULT, .election_ms = 500};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        if (c == 'h') {
            usage(stdout);
            return APP_EXIT_HELP;
        } else if (c == 'd') {
            a->dir = optarg;
            a->given |= OPT_DIR;
        } else if (c == 'p') {
            ok = parse_range("base-port", optarg, 1, BASE_PORT_MAX, &a->base_port);
            a->given |= OPT_BASE_PORT;
        } else if (c == 'e') {
            ok = parse_range("election-timeout-ms", optarg, ELECTION_MS_MIN, ELECTION_MS_MAX,
                             &a->election_ms);
            a->given |= OPT_ELECTION;
        } else if (c == 't') {
            a->trading = optarg;
            a->given |= OPT_TRADING;
        } else if (c == 'D') {
            a->debug_api = true;
            a->given |= OPT_DEBUG_API;
        } else if (c == 'n') {
            ok = parse_range("node", optarg, 1, NODES, &a->node);
            a->given |= OPT_NODE;
        } else if (c == 'R' || c == 'j') {
            a->no_restart |= c == 'R';
            a->json |= c == 'j';
            a->given |= c == 'R' ? OPT_NO_RESTART : OPT_JSON;
        } else {
            ok = false;
        }
        if (!ok) return APP_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "troika cluster %s: unexpected argument \"%s\"\n", argv[0], argv[optind]);
        return APP_EXIT_USAGE;
    }
    return APP_EXIT_OK;
}

/* Dispatch argv[1] (up, down, status, start-node, or monitor, which `up` runs) with its
 * options checked against what it takes. */
int app_cluster_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        unsigned allowed, required;
    } cmds[] = {
        {"up",
         OPT_DIR | OPT_BASE_PORT | OPT_NO_RESTART | OPT_ELECTION | OPT_TRADING | OPT_DEBUG_API,
         OPT_DIR},
        {"down", OPT_DIR, OPT_DIR},
        {"status", OPT_DIR | OPT_JSON, OPT_DIR},
        {"start-node", OPT_DIR | OPT_NODE, OPT_DIR | OPT_NODE},
        {"monitor", OPT_DIR | OPT_NO_RESTART, OPT_DIR}, /* internal: what `up` daemonizes */
    };
    TK_ASSERT(argc >= 1 && argv != NULL);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? APP_EXIT_USAGE : APP_EXIT_OK;
    }
    size_t k = 0;
    while (k < sizeof(cmds) / sizeof(cmds[0]) && strcmp(cmds[k].name, argv[1]) != 0)
        k++;
    if (k == sizeof(cmds) / sizeof(cmds[0])) {
        fprintf(stderr, "troika cluster: unknown subcommand \"%s\"\n", argv[1]);
        usage(stderr);
        return APP_EXIT_USAGE;
    }
    cluster_args a;
    int rc = args_parse(argc - 1, argv + 1, &a);
    if (rc == APP_EXIT_HELP) return APP_EXIT_OK;
    if (rc == APP_EXIT_OK &&
        ((a.given & ~cmds[k].allowed) != 0 || (a.given & cmds[k].required) != cmds[k].required)) {
        fprintf(stderr, "troika cluster %s: wrong options (troika cluster --help)\n", argv[1]);
        rc = APP_EXIT_USAGE;
    }
    if (rc != APP_EXIT_OK) return rc;
    if (k == 0) return cluster_up(&a);
    if (k == 1) return cluster_down(&a);
    if (k == 2) return cluster_status(&a);
    if (k == 3) return cluster_start_node(&a);
    static cluster_paths p; /* static: large, one per process */
    if (!dir_resolve("monitor", a.dir, false, &p)) return APP_EXIT_FAIL;
    return monitor_run(&p, !a.no_restart);
}
