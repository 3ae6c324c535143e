/* `troika chaos run` (chaos.h, docs/chaos.md): three `troika node` processes trading on the
 * Binance mock, each in its own network namespace where the machine allows it; a workload of
 * clients writing through the client API with unique idempotency keys, retrying as a real
 * client does; a fault schedule derived from the seed; then healing, a quiet ledger, the nodes
 * stopped, and the checker (chaos_check.c) over their stores, the acknowledgements and the
 * venue. Everything goes to DIR: schedule.json before the first fault, result.json with a
 * one-line verdict at the end, each node's log, and (on a violation, or with --keep) the stores.
 *
 * The run is one process: the main thread keeps the nodes (it is their monitor: a node that
 * dies is restarted after a second unless a fault holds it down) and injects the faults in
 * order; one thread per client runs the workload. Node processes are started with fork and
 * execve from arguments prepared beforehand, so the child calls nothing unsafe after fork. */
#define _GNU_SOURCE /* setpgid, mkdtemp and friends under C11 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos_internal.h"
#include "clu.h"

#define ELECTION_MS      1000u   /* the nodes' election timeout (heartbeat a tenth) */
#define BARS_PER_S       10u     /* the replay feed's pace: 1-minute bars at 600 times real time */
#define WARMUP_MS        5000u   /* before the first fault: a leader, bootstrap, first orders */
#define RESTART_DELAY_MS 1000u   /* a node that died on its own is started again after this */
#define CALL_TIMEOUT_MS  2000u   /* a client's wait for one answer */
#define SETTLE_MAX_MS    180000u /* after healing: until the ledger is quiet on all nodes */
#define WRITES_GRACE_MS  60000u  /* after healing: clients finish the writes in progress */
#define ACKS_MAX         200000u
#define FAULTS_MAX       256u
#define CLIENTS_MAX      16u
#define ORDER_PREFIX     "tkc"
#define OUT_BYTES        512u  /* the output folder, the binary, the checkout, the data */
#define DIR_BYTES        560u  /* a node's data dir, under the output folder */
#define PATH_BYTES       1024u /* a file under either */
#define TMPFS_MIB        192u  /* a node's data dir in the disk-full scenarios */

extern char **environ;

/* ---- Faults -----------------------------------------------------------------------------------
 */

typedef enum fault_kind {
    F_KILL_LEADER,
    F_KILL_FOLLOWER,
    F_KILL_RANDOM,
    F_PAUSE,
    F_PARTITION_LEADER,
    F_PARTITION_FOLLOWER,
    F_PARTITION_ONEWAY,
    F_EIO_RAFT,
    F_FSYNC,
    F_DISK_FULL,
    F_ACTOR_CRASH,
    F_ROLLING_RESTART,
    F_TRANSFER,
    F_KINDS
} fault_kind;

static const char *const fault_names[F_KINDS] = {
    "kill-leader",        "kill-follower",    "kill-random", "pause", "partition-leader",
    "partition-follower", "partition-oneway", "eio-raft",    "fsync", "disk-full",
    "actor-crash",        "rolling-restart",  "transfer"};

/* Actors a trading node registers that a crash may hit (docs/chaos.md). */
static const char *const crash_actors[] = {"execution", "risk_monitor", "feed",
                                           "strategy.ema_cross", "journal"};

/* One fault of the schedule (what the seed decides) and what happened when it ran. */
typedef struct fault {
    fault_kind kind;
    uint64_t at_ms, hold_ms; /* planned: since the run began; how long it lasts */
    uint64_t pick;           /* chooses the target among the candidates at the time */
    /* what happened */
    bool ran;
    uint64_t started_ms;
    int target; /* 0-based node; -1: none */
    int other;  /* a second node (one-way cut's receiver, transfer's destination); -1 */
    bool target_was_leader;
    uint32_t exits; /* nodes that exited on their own while it lasted (a fault that bit) */
    char note[200];
} fault;

/* ---- The run ----------------------------------------------------------------------------------
 */

typedef struct node_proc {
    pid_t pid;           /* 0: not running */
    bool paused;         /* SIGSTOPped */
    bool held_down;      /* a fault keeps it down until it heals */
    uint64_t died_ms;    /* when it died on its own (for the restart delay) */
    uint32_t starts;     /* times started */
    uint32_t deaths;     /* exits the harness did not cause */
    char last_death[96]; /* how the last of those ended */
    char dir[DIR_BYTES]; /* data_dir */
    char config[PATH_BYTES], log[PATH_BYTES], eio_file[PATH_BYTES], store[PATH_BYTES];
    char api[64];
    bool tmpfs;
    bool fiu_on; /* its sync failure points are enabled */
} node_proc;

typedef struct client {
    struct run *r;
    uint32_t id;
    tk_rng rng;
    uint32_t next_node;
    char hint[64]; /* the leader's API, as the last answer named it */
    pthread_t thread;
} client;

typedef struct run {
    /* options */
    const char *scenario;
    int scenario_kind; /* a fault_kind, or -1: mixed, -2: none */
    uint64_t seed;
    uint32_t duration_s, clients;
    bool want_netns, keep;
    bool unguarded; /* --guard off: libraft 0.15 without the protocol guard */
    char out[OUT_BYTES], data[OUT_BYTES], troika[OUT_BYTES], source[OUT_BYTES];
    /* set-up */
    chaos_net net;
    bool net_up;
    char token[40];
    uint32_t base_port;
    node_proc nodes[CHAOS_NODES];
    pid_t mock_pid;
    char mock_url[128];
    char eio_lib[OUT_BYTES + 32u];
    bool use_eio, use_fiu, use_tmpfs;
    /* env and argv for the nodes, prepared before any fork */
    char *node_env[CHAOS_NODES][256];
    char *node_argv[CHAOS_NODES][12];
    char env_text[CHAOS_NODES][6][PATH_BYTES * 2u];
    /* schedule */
    fault faults[FAULTS_MAX];
    uint32_t fault_count;
    uint64_t start_ns;
    /* workload */
    client cl[CLIENTS_MAX];
    pthread_mutex_t lock;
    chaos_ack *acks;
    size_t ack_count;
    uint64_t retries, failed, abandoned, writes;
    char first_failure[300];
    volatile int stop_new; /* clients start no new write */
    volatile int give_up;  /* clients abandon the write in progress */
} run;

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t run_ms(const run *r)
{
    return (mono_ns() - r->start_ns) / 1000000u;
}

static void nap_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_interrupted) {
    }
}

/* ---- Paths and files --------------------------------------------------------------------------
 */

/* The checkout holding the binary (CHECKOUT/build/KIND/app/troika), or $TROIKA_SOURCE_DIR. */
static bool source_dir(const char *troika, char out[OUT_BYTES])
{
    const char *env = getenv("TROIKA_SOURCE_DIR");
    if (env != NULL) {
        if (strlen(env) >= OUT_BYTES) return false;
        snprintf(out, OUT_BYTES, "%s", env);
        return true;
    }
    snprintf(out, OUT_BYTES, "%s", troika);
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(out, '/');
        if (slash == NULL) return false;
        *slash = '\0';
    }
    return true;
}

static bool write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* The first `bars` candles of the shared data file (its header kept) into path: the feed ends
 * with the fault phase, so that the ledger goes quiet for the final comparison. */
static bool write_bars(const char *from, const char *path, uint64_t bars, char *why, size_t n)
{
    FILE *in = fopen(from, "r");
    if (in == NULL) {
        snprintf(why, n, "%s: %s (the shared market data; --data names its folder)", from,
                 strerror(errno));
        return false;
    }
    FILE *out = fopen(path, "w");
    if (out == NULL) {
        fclose(in);
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return false;
    }
    char line[512];
    uint64_t rows = 0;
    while (rows <= bars && fgets(line, sizeof(line), in) != NULL) {
        fputs(line, out);
        rows++;
    }
    fclose(in);
    bool ok = fclose(out) == 0 && rows > bars;
    if (!ok) snprintf(why, n, "%s: fewer than %" PRIu64 " candles", from, bars);
    return ok;
}

/* ---- The venue mock ---------------------------------------------------------------------------
 */

/* tools/binance_mock.py on host_ip, its URL into r->mock_url. */
static bool mock_start(run *r, char *why, size_t n)
{
    char script[PATH_BYTES], port_file[PATH_BYTES], log[PATH_BYTES];
    snprintf(script, sizeof(script), "%s/tools/binance_mock.py", r->source);
    snprintf(port_file, sizeof(port_file), "%s/mock.port", r->out);
    snprintf(log, sizeof(log), "%s/mock.log", r->out);
    if (access(script, R_OK) != 0) {
        snprintf(why, n, "%s: not found (set TROIKA_SOURCE_DIR to the checkout)", script);
        return false;
    }
    unlink(port_file);
    char *argv[] = {"python3",      script,      "--host",      r->net.host_ip,
                    "--port",       "0",         "--port-file", port_file,
                    "--quiet",      "--api-key", "chaos-key",   "--api-secret",
                    "chaos-secret", NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setpgid(0, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0) {
        snprintf(why, n, "fork: %s", strerror(errno));
        return false;
    }
    r->mock_pid = pid;
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(port_file, "r");
        unsigned port = 0;
        bool ok = f != NULL && fscanf(f, "%u", &port) == 1 && port > 0;
        if (f != NULL) fclose(f);
        if (ok) {
            snprintf(r->mock_url, sizeof(r->mock_url), "http://%s:%u", r->net.host_ip, port);
            return true;
        }
        nap_ms(100);
    }
    snprintf(why, n, "the Binance mock did not start (see %s)", log);
    return false;
}

/* ---- Node configuration and processes ---------------------------------------------------------
 */

static bool token_make(char out[40])
{
    FILE *f = fopen("/dev/urandom", "r");
    uint8_t b[16];
    bool ok = f != NULL && fread(b, 1, sizeof(b), f) == sizeof(b);
    if (f != NULL) fclose(f);
    for (unsigned i = 0; ok && i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return ok;
}

static bool node_config(run *r, uint32_t i, const char *bars, const char *strategy,
                        const char *keys)
{
    char text[8192];
    int len =
        snprintf(text, sizeof(text),
                 "# written by troika chaos run (docs/chaos.md)\n"
                 "node:\n  id: %u\n  name: node%u\n  data_dir: %s\n  token: %s\n  debug_api: true\n"
                 "cluster:\n  id: chaos\n  hash_every: 100\n  check_interval_ms: 1000\n"
                 "raft:\n  election_timeout_ms: %u\n  heartbeat_timeout_ms: %u\n"
                 "  snapshot_threshold: 1024\n  snapshot_trailing: 256\n  stall_timeout_ms: 10000\n"
                 "  guard: %s\n"
                 "storage:\n  checkpoint_every: 100000\n  sync: true\n"
                 "peers:\n",
                 i + 1u, i + 1u, r->nodes[i].dir, r->token, ELECTION_MS, ELECTION_MS / 10u,
                 r->unguarded ? "false" : "true");
    for (uint32_t k = 0; k < CHAOS_NODES; k++) {
        const char *ip = r->net.node_ip[k];
        uint32_t p = r->base_port + k + 1u;
        len += snprintf(text + len, sizeof(text) - (size_t)len,
                        "  - id: %u\n    raft: %s:%u\n    api: tcp://%s:%u\n"
                        "    http: http://%s:%u\n    events: tcp://%s:%u\n",
                        k + 1u, ip, p, ip, p + 100u, ip, p + 200u, ip, p + 300u);
    }
    len += snprintf(text + len, sizeof(text) - (size_t)len,
                    "trading:\n  data: %s\n  config: %s\n  speed: %u\n  venue: binance\n"
                    "  binance_url: %s\n  key_file: %s\n  prefix: %s\n",
                    bars, strategy, BARS_PER_S * 60u, r->mock_url, keys, ORDER_PREFIX);
    if (len <= 0 || (size_t)len >= sizeof(text)) return false;
    snprintf(r->nodes[i].api, sizeof(r->nodes[i].api), "tcp://%s:%u", r->net.node_ip[i],
             r->base_port + i + 101u);
    return write_text(r->nodes[i].config, text);
}

/* Node i's argv and environment, prepared once: [ip netns exec NS] troika node --config F;
 * LD_PRELOAD holds libfiu's preload libraries (as fiu-run sets them, so that fiu-ctrl reaches
 * the node; fiu-run itself would replace LD_PRELOAD) and the Raft write shim. */
static void node_prepare(run *r, uint32_t i)
{
    char **argv = r->node_argv[i];
    const char *prefix[4];
    unsigned a = chaos_net_exec_prefix(&r->net, i, prefix);
    for (unsigned k = 0; k < a; k++)
        argv[k] = (char *)prefix[k];
    argv[a++] = r->troika;
    argv[a++] = "node";
    argv[a++] = "--config";
    argv[a++] = r->nodes[i].config;
    argv[a] = NULL;
    char preload[PATH_BYTES * 2u - 32u] = "";
    if (r->use_fiu)
        snprintf(preload, sizeof(preload),
                 "/usr/lib/fiu/fiu_run_preload.so /usr/lib/fiu/fiu_posix_preload.so");
    if (r->use_eio) {
        size_t len = strlen(preload);
        snprintf(preload + len, sizeof(preload) - len, "%s%s", len > 0 ? " " : "", r->eio_lib);
    }
    size_t e = 0;
    for (char **env = environ; *env != NULL && e < 240; env++) {
        if (strncmp(*env, "LD_PRELOAD=", 11) == 0 || strncmp(*env, "FIU_", 4) == 0 ||
            strncmp(*env, CHAOS_EIO_ENV "=", strlen(CHAOS_EIO_ENV) + 1u) == 0 ||
            strncmp(*env, "ASAN_OPTIONS=", 13) == 0)
            continue;
        r->node_env[i][e++] = *env;
    }
    const char *asan = getenv("ASAN_OPTIONS");
    char(*t)[PATH_BYTES * 2u] = r->env_text[i];
    unsigned n = 0;
    if (preload[0] != '\0') snprintf(t[n++], sizeof(t[0]), "LD_PRELOAD=%s", preload);
    if (r->use_fiu) {
        const char *tmp = getenv("TMPDIR");
        snprintf(t[n++], sizeof(t[0]), "FIU_CTRL_FIFO=%s/fiu-ctrl", tmp != NULL ? tmp : "/tmp");
        snprintf(t[n++], sizeof(t[0]), "FIU_ENABLE=");
    }
    if (r->use_eio) snprintf(t[n++], sizeof(t[0]), "%s=%s", CHAOS_EIO_ENV, r->nodes[i].eio_file);
    /* an ASan-built node with a preload library ahead of ASan's runtime */
    snprintf(t[n++], sizeof(t[0]), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
             asan != NULL ? asan : "", asan != NULL && asan[0] != '\0' ? ":" : "");
    for (unsigned k = 0; k < n; k++)
        r->node_env[i][e++] = t[k];
    r->node_env[i][e] = NULL;
}

static void node_start(run *r, uint32_t i)
{
    node_proc *np = &r->nodes[i];
    char **argv = r->node_argv[i], **envp = r->node_env[i];
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(np->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setpgid(0, 0); /* a ^C to the harness reaches the nodes through it, not directly */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvpe(argv[0], argv, envp);
        static const char failed[] = "troika chaos run: cannot execute the node's command\n";
        ssize_t w = write(2, failed, sizeof(failed) - 1u);
        (void)w;
        _exit(127);
    }
    if (pid > 0) {
        np->pid = pid;
        np->paused = false;
        np->fiu_on = false; /* a new process starts with every failure point off */
        np->starts++;
    }
}

static void node_signal(run *r, uint32_t i, int sig)
{
    if (r->nodes[i].pid > 0) kill(r->nodes[i].pid, sig);
}

/* Reap the nodes that exited; note the ones the harness did not kill. */
static void nodes_reap(run *r)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (uint32_t i = 0; i < CHAOS_NODES; i++) {
            node_proc *np = &r->nodes[i];
            if (np->pid != pid) continue;
            np->pid = 0;
            np->paused = false;
            if (!np->held_down) {
                np->deaths++;
                np->died_ms = run_ms(r);
                if (WIFSIGNALED(status)) {
                    snprintf(np->last_death, sizeof(np->last_death), "signal %d at %" PRIu64 " ms",
                             WTERMSIG(status), np->died_ms);
                } else {
                    snprintf(np->last_death, sizeof(np->last_death), "exit %d at %" PRIu64 " ms",
                             WEXITSTATUS(status), np->died_ms);
                }
            }
        }
        if (pid == r->mock_pid) r->mock_pid = 0;
    }
}

/* The harness as the nodes' monitor: reap, and start again what died on its own. */
static void nodes_tend(run *r)
{
    nodes_reap(r);
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        node_proc *np = &r->nodes[i];
        if (np->pid == 0 && !np->held_down && run_ms(r) >= np->died_ms + RESTART_DELAY_MS)
            node_start(r, i);
    }
}

/* Sleep ms while tending the nodes. */
static void tend_for(run *r, uint64_t ms)
{
    for (uint64_t end = run_ms(r) + ms; run_ms(r) < end && !g_interrupted;) {
        nodes_tend(r);
        nap_ms(20);
    }
}

/* Kill node i and wait for it (SIGKILL: the process is gone before this returns). */
static void node_kill_wait(run *r, uint32_t i, int sig, uint32_t grace_ms)
{
    node_proc *np = &r->nodes[i];
    if (np->pid == 0) return;
    bool held = np->held_down;
    np->held_down = true;
    if (np->paused) kill(np->pid, SIGCONT);
    kill(np->pid, sig);
    for (uint64_t end = run_ms(r) + grace_ms; np->pid != 0 && run_ms(r) < end;) {
        nodes_reap(r);
        nap_ms(10);
    }
    if (np->pid != 0) {
        kill(np->pid, SIGKILL);
        while (np->pid != 0) {
            nodes_reap(r);
            nap_ms(10);
        }
    }
    np->held_down = held;
}

/* ---- Asking the nodes -------------------------------------------------------------------------
 */

static json_t *ask(const char *url, const char *token, const char *request, uint32_t timeout_ms)
{
    char *reply = NULL, why[256];
    if (clu_api_call(url, token, request, timeout_ms, &reply, why, sizeof(why)) != TK_OK)
        return NULL;
    json_t *j = json_loads(reply, 0, NULL);
    free(reply);
    return j;
}

static json_t *node_status(const run *r, uint32_t i, uint32_t timeout_ms)
{
    if (r->nodes[i].pid == 0 || r->nodes[i].paused) return NULL;
    return ask(r->nodes[i].api, r->token, "{\"op\": \"status\"}", timeout_ms);
}

/* The node that leads (its actors started) in the highest term; -1 if none answers so. */
static int leader_now(const run *r)
{
    int best = -1;
    json_int_t best_term = -1;
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        json_t *s = node_status(r, i, 500);
        json_int_t term = json_integer_value(json_object_get(s, "term"));
        if (json_is_true(json_object_get(s, "leading")) && term > best_term) {
            best = (int)i;
            best_term = term;
        }
        json_decref(s);
    }
    return best;
}

static int leader_wait(run *r, uint32_t max_ms)
{
    for (uint64_t end = run_ms(r) + max_ms; !g_interrupted;) {
        int l = leader_now(r);
        if (l >= 0 || run_ms(r) >= end) return l;
        tend_for(r, 100);
    }
    return -1;
}

/* ---- The workload -----------------------------------------------------------------------------
 */

static void ack_add(run *r, const char *key, const char *op, uint64_t index, bool duplicate,
                    uint64_t attempt_ms)
{
    pthread_mutex_lock(&r->lock);
    if (r->ack_count < ACKS_MAX) {
        chaos_ack *a = &r->acks[r->ack_count++];
        snprintf(a->key, sizeof(a->key), "%s", key);
        snprintf(a->op, sizeof(a->op), "%s", op);
        a->index = index;
        a->duplicate = duplicate;
        a->attempt_ms = attempt_ms;
        a->ack_ms = run_ms(r);
    }
    pthread_mutex_unlock(&r->lock);
}

static void count(run *r, uint64_t *counter)
{
    pthread_mutex_lock(&r->lock);
    (*counter)++;
    pthread_mutex_unlock(&r->lock);
}

/* Send one write until it is acknowledged, as a real client does: an answer "not_leader" sends
 * it to the leader the answer names (or the next node); no answer sends it to the next node; an
 * "unknown" outcome sends it again; each time with the same key. Returns the ledger index
 * acknowledged, 0 when refused or abandoned. */
static uint64_t write_until_acked(client *c, json_t *req, const char *op)
{
    run *r = c->r;
    const char *key = json_string_value(json_object_get(req, "key"));
    char *text = json_dumps(req, JSON_COMPACT);
    if (text == NULL) return 0;
    count(r, &r->writes);
    uint64_t index = 0;
    for (bool first = true; !r->give_up && !g_interrupted; first = false) {
        if (!first) count(r, &r->retries);
        const char *url = c->hint[0] != '\0' ? c->hint : r->nodes[c->next_node].api;
        uint64_t attempt = run_ms(r);
        json_t *reply = ask(url, r->token, text, CALL_TIMEOUT_MS);
        if (reply == NULL) {
            c->hint[0] = '\0';
            c->next_node = (c->next_node + 1u) % CHAOS_NODES;
            nap_ms(50);
            continue;
        }
        const char *error = json_string_value(json_object_get(reply, "error"));
        if (json_is_true(json_object_get(reply, "ok"))) {
            index = (uint64_t)json_integer_value(json_object_get(reply, "index"));
            ack_add(r, key, op, index, json_is_true(json_object_get(reply, "duplicate")), attempt);
            json_decref(reply);
            break;
        }
        if (error != NULL && strcmp(error, "not_leader") == 0) {
            const char *leader = json_string_value(json_object_get(reply, "leader_api"));
            if (leader != NULL && leader[0] != '\0' && strcmp(leader, url) != 0) {
                snprintf(c->hint, sizeof(c->hint), "%s", leader);
            } else {
                c->hint[0] = '\0';
                c->next_node = (c->next_node + 1u) % CHAOS_NODES;
                nap_ms(100);
            }
        } else if (error != NULL && strcmp(error, "unknown") == 0) {
            nap_ms(100); /* the outcome is unknown: the same key again */
        } else {
            pthread_mutex_lock(&r->lock);
            r->failed++;
            if (r->first_failure[0] == '\0')
                snprintf(r->first_failure, sizeof(r->first_failure), "%s %s: %s: %s", op, key,
                         error != NULL ? error : "?",
                         json_string_value(json_object_get(reply, "message")) != NULL
                             ? json_string_value(json_object_get(reply, "message"))
                             : "");
            pthread_mutex_unlock(&r->lock);
            json_decref(reply);
            break;
        }
        json_decref(reply);
    }
    if (index == 0 && (r->give_up || g_interrupted)) count(r, &r->abandoned);
    free(text);
    return index;
}

/* A client: market orders both ways, resting limit orders then their cancels, and admin writes
 * (a strategy switch, the kill switch on then off), each with a key no other write uses. */
static void *client_main(void *arg)
{
    client *c = arg;
    run *r = c->r;
    bool buy = c->id % 2u == 0;
    uint64_t rest_index = 0; /* a resting limit order to cancel next */
    char key[LED_KEY_BYTES];
    for (uint64_t n = 0; !r->stop_new && !g_interrupted; n++) {
        snprintf(key, sizeof(key), "chaos-%" PRIu64 "-c%u-%" PRIu64, r->seed, c->id, n);
        json_t *req = NULL;
        const char *op = "order";
        uint64_t dice = tk_rng_below(&c->rng, 100);
        if (rest_index != 0) {
            op = "cancel";
            req = json_pack("{s:s, s:I, s:s}", "op", op, "order_index", (json_int_t)rest_index,
                            "key", key);
            rest_index = 0;
        } else if (dice < 70) {
            req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "op", op, "symbol", "BTCUSDT", "side",
                            buy ? "buy" : "sell", "kind", "market", "qty", "0.001", "key", key);
            buy = !buy;
        } else if (dice < 85) {
            req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "op", op, "symbol", "BTCUSDT",
                            "side", "buy", "kind", "limit", "qty", "0.001", "price", "30000", "key",
                            key);
        } else if (dice < 93) {
            op = "strategy";
            req = json_pack("{s:s, s:s, s:b, s:s}", "op", op, "name", "ema_cross", "enabled", 1,
                            "key", key);
        } else {
            op = "kill_switch";
            bool on = dice < 96;
            req = json_pack("{s:s, s:b, s:s, s:s}", "op", op, "on", on, "reason",
                            on ? "chaos: a drill" : "chaos: drill over", "key", key);
        }
        if (req == NULL) break;
        uint64_t index = write_until_acked(c, req, op);
        if (index != 0 && dice >= 70 && dice < 85 && strcmp(op, "order") == 0) rest_index = index;
        json_decref(req);
        nap_ms(20u + (uint32_t)tk_rng_below(&c->rng, 60));
    }
    return NULL;
}

/* ---- The schedule -----------------------------------------------------------------------------
 */

static void schedule_make(run *r)
{
    tk_rng rng;
    tk_rng_init(&rng, r->seed * 0x9e3779b97f4a7c15ull + 1u);
    uint64_t end = (uint64_t)r->duration_s * 1000u;
    uint64_t t = WARMUP_MS + tk_rng_below(&rng, 1000);
    r->fault_count = 0;
    while (r->scenario_kind != -2 && r->fault_count < FAULTS_MAX) {
        fault f = {0};
        f.kind = r->scenario_kind >= 0 ? (fault_kind)r->scenario_kind
                                       : (fault_kind)tk_rng_below(&rng, F_KINDS);
        f.hold_ms = f.kind == F_PAUSE       ? 2u * ELECTION_MS + tk_rng_below(&rng, ELECTION_MS)
                    : f.kind == F_DISK_FULL ? 4000u + tk_rng_below(&rng, 4000)
                                            : 1500u + tk_rng_below(&rng, 2500);
        if (f.kind == F_ACTOR_CRASH || f.kind == F_TRANSFER) f.hold_ms = 0;
        if (f.kind == F_ROLLING_RESTART) f.hold_ms = 9000; /* three restarts, each caught up */
        f.at_ms = t;
        f.pick = tk_rng_next(&rng);
        f.target = f.other = -1;
        if (t + f.hold_ms + 2000u > end && r->fault_count > 0) break;
        r->faults[r->fault_count++] = f;
        t += f.hold_ms + 2000u + tk_rng_below(&rng, 2500);
    }
}

static uint64_t recovery_ms(const run *r, const fault *f);

static json_t *schedule_json(const run *r)
{
    json_t *list = json_array();
    for (uint32_t k = 0; k < r->fault_count; k++) {
        const fault *f = &r->faults[k];
        json_t *j = json_pack("{s:s, s:I, s:I}", "kind", fault_names[f->kind], "at_ms",
                              (json_int_t)f->at_ms, "hold_ms", (json_int_t)f->hold_ms);
        if (f->ran) {
            json_object_set_new(j, "started_ms", json_integer((json_int_t)f->started_ms));
            json_object_set_new(j, "target", json_integer(f->target + 1));
            if (f->other >= 0) json_object_set_new(j, "other", json_integer(f->other + 1));
            json_object_set_new(j, "target_was_leader", json_boolean(f->target_was_leader));
            json_object_set_new(j, "node_exits", json_integer(f->exits));
            uint64_t ms = recovery_ms(r, f);
            json_object_set_new(j, "recovery_ms",
                                ms == UINT64_MAX ? json_null() : json_integer((json_int_t)ms));
            if (f->note[0] != '\0') json_object_set_new(j, "note", json_string(f->note));
        }
        json_array_append_new(list, j);
    }
    return list;
}

/* ---- Injecting faults -------------------------------------------------------------------------
 */

/* The node a fault hits: the leader, a follower or any, chosen by pick among live nodes. */
static int choose(run *r, fault *f, int leader, bool want_leader, bool want_follower)
{
    uint32_t live[CHAOS_NODES], n = 0;
    for (uint32_t i = 0; i < CHAOS_NODES; i++)
        if (r->nodes[i].pid != 0 && (!want_follower || (int)i != leader)) live[n++] = i;
    if (want_leader && leader >= 0) return leader;
    if (n == 0) return -1;
    return (int)live[f->pick % n];
}

static void note(fault *f, const char *fmt, ...) TK_PRINTF_LIKE(2, 3);

static void note(fault *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->note, sizeof(f->note), fmt, ap);
    va_end(ap);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
}

/* Rolling restart: each node in turn stopped (SIGTERM) and started again, the next one once the
 * restarted node answers at the leader's ledger index. */
static void rolling_restart(run *r, fault *f)
{
    for (uint32_t i = 0; i < CHAOS_NODES && !g_interrupted; i++) {
        node_kill_wait(r, i, SIGTERM, 15000);
        node_start(r, i);
        for (uint64_t end = run_ms(r) + 20000u; run_ms(r) < end && !g_interrupted;) {
            int l = leader_now(r);
            json_t *ls = l >= 0 ? node_status(r, (uint32_t)l, 500) : NULL;
            json_t *me = node_status(r, i, 500);
            json_int_t want = json_integer_value(json_object_get(ls, "ledger_index"));
            json_int_t have = json_integer_value(json_object_get(me, "ledger_index"));
            json_decref(ls);
            json_decref(me);
            if (l >= 0 && have >= want && have > 0) break;
            tend_for(r, 200);
        }
    }
    note(f, "%s", "each node stopped and started in turn");
}

static void fault_inject(run *r, fault *f)
{
    int leader = leader_now(r);
    char why[512] = "";
    f->ran = true;
    f->started_ms = run_ms(r);
    switch (f->kind) {
    case F_KILL_LEADER:
    case F_KILL_FOLLOWER:
    case F_KILL_RANDOM:
        f->target = choose(r, f, leader, f->kind == F_KILL_LEADER, f->kind == F_KILL_FOLLOWER);
        if (f->target < 0) break;
        r->nodes[f->target].held_down = true;
        node_kill_wait(r, (uint32_t)f->target, SIGKILL, 0);
        break;
    case F_PAUSE:
        f->target = choose(r, f, leader, f->pick % 2u == 0, false);
        if (f->target < 0) break;
        node_signal(r, (uint32_t)f->target, SIGSTOP);
        r->nodes[f->target].paused = true;
        break;
    case F_PARTITION_LEADER:
    case F_PARTITION_FOLLOWER:
        f->target =
            choose(r, f, leader, f->kind == F_PARTITION_LEADER, f->kind == F_PARTITION_FOLLOWER);
        if (f->target < 0) break;
        if (chaos_net_isolate(&r->net, (uint32_t)f->target, why, sizeof(why)) != TK_OK)
            note(f, "not injected: %s", why);
        break;
    case F_PARTITION_ONEWAY:
        f->target = choose(r, f, leader, true, false);
        if (f->target < 0) break;
        f->other = (f->target + 1 + (int)((f->pick >> 8) % 2u)) % (int)CHAOS_NODES;
        if (chaos_net_drop(&r->net, (uint32_t)f->target, (uint32_t)f->other, why, sizeof(why)) !=
            TK_OK)
            note(f, "not injected: %s", why);
        break;
    case F_EIO_RAFT:
        f->target = choose(r, f, leader, f->pick % 2u == 0, false);
        if (f->target >= 0) touch(r->nodes[f->target].eio_file);
        break;
    case F_FSYNC:
        f->target = choose(r, f, leader, f->pick % 2u == 0, false);
        if (f->target < 0) break;
        r->nodes[f->target].fiu_on = true;
        if (chaos_fiu_set(r->nodes[f->target].pid, CHAOS_FIU_FSYNC, true, why, sizeof(why)) !=
                TK_OK ||
            chaos_fiu_set(r->nodes[f->target].pid, CHAOS_FIU_FDATASYNC, true, why, sizeof(why)) !=
                TK_OK)
            note(f, "not injected: %s", why);
        break;
    case F_DISK_FULL:
        f->target = choose(r, f, leader, f->pick % 2u == 0, false);
        if (f->target < 0) break;
        if (chaos_disk_fill(r->nodes[f->target].dir, why, sizeof(why)) != TK_OK)
            note(f, "not injected: %s", why);
        break;
    case F_ACTOR_CRASH: {
        f->target = choose(r, f, leader, f->pick % 2u == 0, false);
        if (f->target < 0) break;
        const char *actor =
            crash_actors[(f->pick >> 8) % (sizeof(crash_actors) / sizeof(crash_actors[0]))];
        char req[128];
        snprintf(req, sizeof(req), "{\"op\": \"crash\", \"actor\": \"%s\"}", actor);
        json_t *before = node_status(r, (uint32_t)f->target, 1000);
        json_t *reply = ask(r->nodes[f->target].api, r->token, req, 2000);
        nap_ms(300);
        json_t *after = node_status(r, (uint32_t)f->target, 1000);
        json_int_t b = json_integer_value(json_object_get(before, "restarts"));
        json_int_t a = json_integer_value(json_object_get(after, "restarts"));
        snprintf(f->note, sizeof(f->note), "actor %s: %s; supervisor restarts %lld -> %lld", actor,
                 json_is_true(json_object_get(reply, "ok"))
                     ? "crashed"
                     : (json_string_value(json_object_get(reply, "message")) != NULL
                            ? json_string_value(json_object_get(reply, "message"))
                            : "no answer"),
                 (long long)b, (long long)a);
        json_decref(before);
        json_decref(reply);
        json_decref(after);
        break;
    }
    case F_ROLLING_RESTART:
        rolling_restart(r, f); /* done when it returns: its hold is only the schedule's room */
        f->hold_ms = 0;
        break;
    case F_TRANSFER: {
        f->target = leader;
        if (leader < 0) {
            note(f, "%s", "not injected: no leader");
            break;
        }
        f->other = (leader + 1 + (int)(f->pick % 2u)) % (int)CHAOS_NODES;
        char req[96];
        snprintf(req, sizeof(req), "{\"op\": \"transfer\", \"to\": %d}", f->other + 1);
        json_t *reply = ask(r->nodes[leader].api, r->token, req, 5000);
        if (!json_is_true(json_object_get(reply, "ok")))
            note(f, "transfer refused: %s",
                 json_string_value(json_object_get(reply, "message")) != NULL
                     ? json_string_value(json_object_get(reply, "message"))
                     : "no answer");
        json_decref(reply);
        break;
    }
    case F_KINDS:
        break;
    }
    f->target_was_leader = f->target >= 0 && f->target == leader;
    if (f->target < 0 && f->note[0] == '\0') note(f, "%s", "not injected: no node to hit");
    /* recovery counts from when the fault is in force (the rules inserted, the signal sent),
     * except a rolling restart's, which counts from its first stop */
    if (f->kind != F_ROLLING_RESTART) f->started_ms = run_ms(r);
}

/* The node's sync failure points off again (a node started since has them off already). */
static void fiu_off(node_proc *np)
{
    char why[512];
    if (np->fiu_on && np->pid != 0) {
        (void)chaos_fiu_set(np->pid, CHAOS_FIU_FSYNC, false, why, sizeof(why));
        (void)chaos_fiu_set(np->pid, CHAOS_FIU_FDATASYNC, false, why, sizeof(why));
    }
    np->fiu_on = false;
}

/* Undo one fault (what its kind left behind); safe for a fault that never bit. */
static void fault_heal(run *r, fault *f)
{
    char why[512];
    if (f->target < 0) return;
    node_proc *np = &r->nodes[f->target];
    switch (f->kind) {
    case F_KILL_LEADER:
    case F_KILL_FOLLOWER:
    case F_KILL_RANDOM:
        np->held_down = false;
        if (np->pid == 0) node_start(r, (uint32_t)f->target);
        break;
    case F_PAUSE:
        if (np->paused) node_signal(r, (uint32_t)f->target, SIGCONT);
        np->paused = false;
        break;
    case F_PARTITION_LEADER:
    case F_PARTITION_FOLLOWER:
    case F_PARTITION_ONEWAY:
        if (chaos_net_can_partition(&r->net)) (void)chaos_net_heal(&r->net, why, sizeof(why));
        break;
    case F_EIO_RAFT:
        unlink(np->eio_file);
        break;
    case F_FSYNC:
        fiu_off(np);
        break;
    case F_DISK_FULL:
        chaos_disk_unfill(np->dir);
        break;
    case F_ACTOR_CRASH: /* over once the supervisor restarted the actor */
    case F_ROLLING_RESTART:
    case F_TRANSFER:
    case F_KINDS:
        break;
    }
}

/* Everything back: every node running and unpaused, no cut, no failing write or sync. */
static void heal_all(run *r)
{
    char why[512];
    if (chaos_net_can_partition(&r->net)) (void)chaos_net_heal(&r->net, why, sizeof(why));
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        node_proc *np = &r->nodes[i];
        unlink(np->eio_file);
        if (np->tmpfs) chaos_disk_unfill(np->dir);
        if (np->paused) node_signal(r, i, SIGCONT);
        np->paused = false;
        np->held_down = false;
        fiu_off(np);
        if (np->pid == 0) node_start(r, i);
    }
}

/* ---- After the faults -------------------------------------------------------------------------
 */

/* Whether the leader holds an order still on its way: accepted and not yet at the venue (a stop
 * excepted: it is held until a bar reaches it), or a market order whose fills are not all in.
 * While one does, the venue actor is still at work and the run is not over. */
static bool orders_in_flight(const run *r)
{
    int leader = leader_now(r);
    json_t *reply =
        leader >= 0 ? ask(r->nodes[leader].api, r->token, "{\"op\": \"orders\"}", 1000) : NULL;
    const json_t *items = json_object_get(reply, "orders");
    bool waiting = reply == NULL;
    for (size_t i = 0; i < json_array_size(items) && !waiting; i++) {
        const json_t *o = json_array_get(items, i);
        const char *state = json_string_value(json_object_get(o, "state"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        bool market = kind != NULL && strcmp(kind, "market") == 0;
        bool stop = kind != NULL && strcmp(kind, "stop") == 0;
        /* accepted and not a held stop: not at the venue yet; a market order acked but not
         * filled: its fills are still being asked for (a limit order may rest for good) */
        waiting =
            state != NULL &&
            ((strcmp(state, "accepted") == 0 && !stop) ||
             (market && (strcmp(state, "acked") == 0 || strcmp(state, "partially_filled") == 0)));
    }
    json_decref(reply);
    return waiting;
}

/* Until the three nodes answer at one ledger index and state hash that has not moved for 3 s
 * (the feed has ended, the venue's answers are in) and the leader has no order on its way to
 * the venue. Records a node's divergence flag. */
static bool settle(run *r, bool *diverged, uint64_t *index_out)
{
    char last_hash[80] = "";
    uint64_t last_index = 0, still_since = run_ms(r);
    for (uint64_t end = run_ms(r) + SETTLE_MAX_MS; run_ms(r) < end && !g_interrupted;
         tend_for(r, 500)) {
        uint64_t idx[CHAOS_NODES];
        char hash[CHAOS_NODES][80];
        bool all = true;
        for (uint32_t i = 0; i < CHAOS_NODES; i++) {
            json_t *s = node_status(r, i, 1000);
            idx[i] = (uint64_t)json_integer_value(json_object_get(s, "ledger_index"));
            const char *h = json_string_value(json_object_get(s, "state_hash"));
            snprintf(hash[i], sizeof(hash[i]), "%s", h != NULL ? h : "");
            if (json_is_true(json_object_get(s, "diverged"))) *diverged = true;
            all =
                all && s != NULL && (i == 0 || (idx[i] == idx[0] && strcmp(hash[i], hash[0]) == 0));
            json_decref(s);
        }
        if (!all || idx[0] != last_index || strcmp(hash[0], last_hash) != 0) {
            last_index = idx[0];
            snprintf(last_hash, sizeof(last_hash), "%s", hash[0]);
            still_since = run_ms(r);
            continue;
        }
        if (run_ms(r) - still_since >= 3000u && !orders_in_flight(r)) {
            *index_out = last_index;
            return true;
        }
    }
    *index_out = last_index;
    return false;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Per fault: from its start to the first acknowledgement of a write attempted after it (the
 * time until a client can write again); UINT64_MAX when none followed. */
static uint64_t recovery_ms(const run *r, const fault *f)
{
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < r->ack_count; i++) {
        const chaos_ack *a = &r->acks[i];
        if (a->attempt_ms >= f->started_ms && a->ack_ms - f->started_ms < best)
            best = a->ack_ms - f->started_ms;
    }
    return best;
}

static json_t *recovery_json(uint64_t *ms, size_t n)
{
    if (n == 0) return json_pack("{s:i}", "count", 0);
    qsort(ms, n, sizeof(uint64_t), u64_cmp);
    size_t p50 = (n - 1u) / 2u, p99 = (size_t)((double)(n - 1u) * 0.99 + 0.5);
    return json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)n, "p50_ms", (json_int_t)ms[p50],
                     "p99_ms", (json_int_t)ms[p99], "max_ms", (json_int_t)ms[n - 1u]);
}

static void remove_tree(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid > 0) waitpid(pid, &status, 0);
}

/* ---- Options ----------------------------------------------------------------------------------
 */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: troika chaos run --scenario NAME --seed N [--duration S] [--out DIR]\n"
            "                        [--clients K] [--data DIR] [--no-netns] [--keep]\n"
            "                        [--guard on|off]\n"
            "  --scenario   one nemesis: kill-leader kill-follower kill-random pause\n"
            "               partition-leader partition-follower partition-oneway eio-raft fsync\n"
            "               disk-full actor-crash rolling-restart transfer; or mixed (each fault\n"
            "               drawn from all of them), or none (the workload alone)\n"
            "  --seed       decides the schedule, its targets and the workload (replayable)\n"
            "  --duration   seconds of workload and faults before healing (30; 10..3600)\n"
            "  --out        where the result, schedule and logs go (chaos-out/NAME-SEED)\n"
            "  --clients    workload clients (3; 1..%u)\n"
            "  --data       the shared market data folder ($TROIKA_DATA, else the checkout's\n"
            "               ../shared/data)\n"
            "  --no-netns   nodes on loopback even where namespaces can be made (no partitions)\n"
            "  --keep       keep the stores and Raft logs even when every invariant held\n"
            "  --guard      off: the nodes run libraft 0.15 without the protocol guard, to show\n"
            "               the checker catching what its bugs do (on)\n"
            "Writes DIR/result.json; exit 0 when every invariant held, 1 on a violation,\n"
            "2 on bad usage, 3 when the run could not be set up (docs/chaos.md).\n",
            CLIENTS_MAX);
}

static bool parse_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int options(run *r, int argc, char **argv)
{
    static const struct option longs[] = {{"scenario", required_argument, NULL, 's'},
                                          {"seed", required_argument, NULL, 'S'},
                                          {"duration", required_argument, NULL, 'd'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"clients", required_argument, NULL, 'c'},
                                          {"data", required_argument, NULL, 'D'},
                                          {"no-netns", no_argument, NULL, 'n'},
                                          {"keep", no_argument, NULL, 'k'},
                                          {"guard", required_argument, NULL, 'g'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    uint64_t v;
    bool have_seed = false;
    const char *out = NULL, *data = NULL;
    r->duration_s = 30;
    r->clients = 3;
    r->want_netns = true;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            r->scenario = optarg;
            break;
        case 'S':
            if (!parse_u64(optarg, 0, UINT64_MAX, &r->seed)) {
                fprintf(stderr, "troika chaos run: --seed %s: a whole number is required\n",
                        optarg);
                return 2;
            }
            have_seed = true;
            break;
        case 'd':
            if (!parse_u64(optarg, 10, 3600, &v)) {
                fprintf(stderr, "troika chaos run: --duration %s: seconds from 10 to 3600\n",
                        optarg);
                return 2;
            }
            r->duration_s = (uint32_t)v;
            break;
        case 'o':
            out = optarg;
            break;
        case 'c':
            if (!parse_u64(optarg, 1, CLIENTS_MAX, &v)) {
                fprintf(stderr, "troika chaos run: --clients %s: from 1 to %u\n", optarg,
                        CLIENTS_MAX);
                return 2;
            }
            r->clients = (uint32_t)v;
            break;
        case 'D':
            data = optarg;
            break;
        case 'n':
            r->want_netns = false;
            break;
        case 'k':
            r->keep = true;
            break;
        case 'g':
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
                fprintf(stderr, "troika chaos run: --guard %s: on or off\n", optarg);
                return 2;
            }
            r->unguarded = strcmp(optarg, "off") == 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "troika chaos run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (r->scenario == NULL || !have_seed) {
        fprintf(stderr, "troika chaos run: --scenario and --seed are required\n");
        usage(stderr);
        return 2;
    }
    r->scenario_kind = strcmp(r->scenario, "mixed") == 0  ? -1
                       : strcmp(r->scenario, "none") == 0 ? -2
                                                          : -3;
    for (int k = 0; k < F_KINDS && r->scenario_kind == -3; k++)
        if (strcmp(r->scenario, fault_names[k]) == 0) r->scenario_kind = k;
    if (r->scenario_kind == -3) {
        fprintf(stderr, "troika chaos run: --scenario %s: unknown (see --help for the list)\n",
                r->scenario);
        return 2;
    }
    errno = 0;
    ssize_t n = readlink("/proc/self/exe", r->troika, sizeof(r->troika) - 1u);
    if (n <= 0) {
        fprintf(stderr, "troika chaos run: cannot find its own binary: %s\n", strerror(errno));
        return 3;
    }
    r->troika[n] = '\0';
    if (!source_dir(r->troika, r->source)) {
        fprintf(stderr, "troika chaos run: cannot find the checkout: set TROIKA_SOURCE_DIR\n");
        return 3;
    }
    char given[PATH_BYTES];
    if (out != NULL) {
        snprintf(given, sizeof(given), "%s", out);
    } else {
        snprintf(given, sizeof(given), "chaos-out/%s-%" PRIu64, r->scenario, r->seed);
    }
    if (mkdir(given, 0755) != 0 && errno == ENOENT && out == NULL) {
        mkdir("chaos-out", 0755);
        mkdir(given, 0755);
    }
    char resolved[PATH_MAX];
    if (realpath(given, resolved) == NULL || strlen(resolved) >= OUT_BYTES) {
        fprintf(stderr, "troika chaos run: --out %s: %s\n", given,
                errno != 0 ? strerror(errno) : "the path is too long");
        return 3;
    }
    snprintf(r->out, sizeof(r->out), "%.*s", (int)OUT_BYTES - 1, resolved);
    const char *env = getenv("TROIKA_DATA");
    if ((data != NULL && strlen(data) >= OUT_BYTES - 64u) ||
        (env != NULL && strlen(env) >= OUT_BYTES - 64u)) {
        fprintf(stderr, "troika chaos run: the data folder's path is too long\n");
        return 2;
    }
    if (data != NULL) {
        snprintf(r->data, sizeof(r->data), "%s", data);
    } else if (env != NULL) {
        snprintf(r->data, sizeof(r->data), "%s", env);
    } else {
        snprintf(r->data, sizeof(r->data), "%.*s/../shared/data", (int)OUT_BYTES - 20, r->source);
    }
    return -1;
}

/* ---- Set-up and tear-down ---------------------------------------------------------------------
 */

static bool needs(const run *r, fault_kind k)
{
    for (uint32_t i = 0; i < r->fault_count; i++)
        if (r->faults[i].kind == k) return true;
    return false;
}

static bool setup(run *r, char *why, size_t n)
{
    schedule_make(r);
    r->use_eio = needs(r, F_EIO_RAFT);
    r->use_fiu = needs(r, F_FSYNC);
    r->use_tmpfs = needs(r, F_DISK_FULL);
    if (r->use_eio) {
        /* the shim this build made (chaos/CMakeLists.txt), unless TK_CHAOS_EIO_LIB names one */
        const char *lib = getenv("TK_CHAOS_EIO_LIB");
        if (lib == NULL) lib = CHAOS_EIO_PATH;
        if (strlen(lib) >= sizeof(r->eio_lib)) {
            snprintf(why, n, "the Raft write shim's path is longer than %zu bytes",
                     sizeof(r->eio_lib) - 1u);
            return false;
        }
        snprintf(r->eio_lib, sizeof(r->eio_lib), "%s", lib);
        if (access(r->eio_lib, R_OK) != 0) {
            snprintf(why, n, "the Raft write shim %s is not built (or set TK_CHAOS_EIO_LIB)",
                     r->eio_lib);
            return false;
        }
    }
    if (r->use_fiu && access("/usr/lib/fiu/fiu_posix_preload.so", R_OK) != 0) {
        snprintf(why, n, "libfiu's preload libraries are missing: install fiu-utils");
        return false;
    }
    char fallback[256] = "";
    (void)chaos_net_up(&r->net, r->want_netns, fallback, sizeof(fallback));
    r->net_up = true;
    if (fallback[0] != '\0') printf("  network: loopback (%s)\n", fallback);
    r->base_port = r->net.netns ? 7100u : 20000u + (uint32_t)(getpid() % 1200) * 10u;
    if (!token_make(r->token)) {
        snprintf(why, n, "cannot read /dev/urandom");
        return false;
    }
    char bars[PATH_BYTES], from[OUT_BYTES + 64u], strategy[PATH_BYTES], keys[PATH_BYTES];
    snprintf(bars, sizeof(bars), "%s/bars.csv", r->out);
    snprintf(from, sizeof(from), "%s/ohlcv/ftx_BTC-PERP_1m_20211231-20220201.csv", r->data);
    if (!write_bars(from, bars, (uint64_t)r->duration_s * BARS_PER_S, why, n)) return false;
    snprintf(strategy, sizeof(strategy), "%s/strategy.yaml", r->out);
    snprintf(keys, sizeof(keys), "%s/binance.keys", r->out);
    if (!write_text(strategy,
                    "# ema_cross on the Binance mock's symbol (docs/backtest.md)\n"
                    "strategy: {name: ema_cross}\n"
                    "instrument: {symbol: BTCUSDT, base: BTC, quote: USDT, tick: \"0.01\", "
                    "lot: \"0.00001\"}\n"
                    "account: {initial_equity: \"100000\"}\n") ||
        !write_text(keys, "chaos-key\nchaos-secret\n") || chmod(keys, 0600) != 0) {
        snprintf(why, n, "cannot write under %s: %s", r->out, strerror(errno));
        return false;
    }
    if (!mock_start(r, why, n)) return false;
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        node_proc *np = &r->nodes[i];
        snprintf(np->dir, sizeof(np->dir), "%s/node%u", r->out, i + 1u);
        snprintf(np->config, sizeof(np->config), "%s/node%u.yaml", r->out, i + 1u);
        snprintf(np->log, sizeof(np->log), "%s/node%u.log", r->out, i + 1u);
        snprintf(np->eio_file, sizeof(np->eio_file), "%s/node%u.eio", r->out, i + 1u);
        char store[PATH_BYTES];
        snprintf(store, sizeof(store), "%s/node%u/store", r->out, i + 1u);
        memcpy(np->store, store, sizeof(store));
        unlink(np->eio_file);
        struct stat st;
        char raft[PATH_BYTES];
        snprintf(raft, sizeof(raft), "%s/node%u/raft", r->out, i + 1u);
        if (stat(np->store, &st) == 0 || stat(raft, &st) == 0) { /* an earlier run's: kept */
            snprintf(why, n, "%s holds an earlier run's node: use another --out, or remove it",
                     np->dir);
            return false;
        }
        if (mkdir(np->dir, 0700) != 0 && errno != EEXIST) {
            snprintf(why, n, "%s: %s", np->dir, strerror(errno));
            return false;
        }
        if (r->use_tmpfs) {
            if (chaos_disk_mount(np->dir, TMPFS_MIB, why, n) != TK_OK) return false;
            np->tmpfs = true;
        }
        if (!node_config(r, i, bars, strategy, keys)) {
            snprintf(why, n, "cannot write %s", np->config);
            return false;
        }
        node_prepare(r, i);
    }
    return true;
}

static void teardown(run *r)
{
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        r->nodes[i].held_down = true;
        node_kill_wait(r, i, SIGKILL, 0);
    }
    if (r->mock_pid > 0) {
        kill(r->mock_pid, SIGTERM);
        waitpid(r->mock_pid, NULL, 0);
        r->mock_pid = 0;
    }
    if (r->net_up) chaos_net_down(&r->net);
    r->net_up = false;
}

/* ---- The run ----------------------------------------------------------------------------------
 */

static json_t *faults_summary(const run *r, json_t **recovery)
{
    json_t *by_kind = json_object();
    uint64_t *leader_ms = calloc(r->fault_count + 1u, sizeof(uint64_t));
    size_t leader_n = 0;
    for (uint32_t k = 0; k < r->fault_count; k++) {
        const fault *f = &r->faults[k];
        if (!f->ran) continue;
        const char *name = fault_names[f->kind];
        json_int_t had = json_integer_value(json_object_get(by_kind, name));
        json_object_set_new(by_kind, name, json_integer(had + 1));
        uint64_t ms = recovery_ms(r, f);
        if (leader_ms != NULL && f->target_was_leader && ms != UINT64_MAX)
            leader_ms[leader_n++] = ms;
    }
    *recovery = recovery_json(leader_ms, leader_n);
    free(leader_ms);
    return by_kind;
}

static int run_all(run *r)
{
    char why[2048] = "";
    printf("troika chaos run: scenario %s, seed %" PRIu64 ", %u s, guard %s, out %s\n", r->scenario,
           r->seed, r->duration_s, r->unguarded ? "OFF" : "on", r->out);
    r->acks = calloc(ACKS_MAX, sizeof(chaos_ack));
    if (r->acks == NULL || !setup(r, why, sizeof(why))) {
        fprintf(stderr, "troika chaos run: cannot set up: %s\n",
                why[0] != '\0' ? why : "out of memory");
        teardown(r);
        return 3;
    }
    json_t *sched = schedule_json(r);
    char path[PATH_BYTES + 32u];
    snprintf(path, sizeof(path), "%s/schedule.json", r->out);
    json_dump_file(sched, path, JSON_INDENT(1));
    json_decref(sched);
    printf("  network: %s; %u faults scheduled (schedule.json)\n",
           r->net.netns ? "a namespace per node" : "loopback", r->fault_count);

    r->start_ns = mono_ns();
    for (uint32_t i = 0; i < CHAOS_NODES; i++)
        node_start(r, i);
    if (leader_wait(r, 30000) < 0) {
        fprintf(stderr, "troika chaos run: no leader within 30 s (see %s/node*.log)\n", r->out);
        teardown(r);
        return 3;
    }
    tend_for(r, 1000); /* the bootstrap events commit */
    for (uint32_t k = 0; k < r->clients; k++) {
        client *c = &r->cl[k];
        c->r = r;
        c->id = k;
        c->next_node = k % CHAOS_NODES;
        tk_rng_init(&c->rng, r->seed * 1000003u + k);
        pthread_create(&c->thread, NULL, client_main, c);
    }
    uint64_t fault_end = (uint64_t)r->duration_s * 1000u;
    for (uint32_t k = 0; k < r->fault_count && !g_interrupted; k++) {
        fault *f = &r->faults[k];
        if (run_ms(r) < f->at_ms) tend_for(r, f->at_ms - run_ms(r));
        if (run_ms(r) + f->hold_ms > fault_end) break; /* one ran late: no room left */
        uint32_t deaths = 0;
        for (uint32_t i = 0; i < CHAOS_NODES; i++)
            deaths += r->nodes[i].deaths;
        fault_inject(r, f);
        tend_for(r, f->hold_ms);
        fault_heal(r, f);
        for (uint32_t i = 0; i < CHAOS_NODES; i++)
            f->exits += r->nodes[i].deaths;
        f->exits -= deaths;
        printf("  %6" PRIu64 " ms  %-18s node %d%s%s%s\n", f->started_ms, fault_names[f->kind],
               f->target + 1, f->exits > 0 ? "  (a node exited on its own)" : "",
               f->note[0] != '\0' ? "  " : "", f->note);
        fflush(stdout);
    }
    if (run_ms(r) < fault_end) tend_for(r, fault_end - run_ms(r));

    /* Heal, let the clients finish, wait for a quiet ledger, stop the nodes. */
    r->stop_new = 1;
    heal_all(r);
    uint64_t healed_ms = run_ms(r);
    int leader = leader_wait(r, 30000);
    for (uint64_t end = run_ms(r) + WRITES_GRACE_MS; run_ms(r) < end && !g_interrupted;) {
        pthread_mutex_lock(&r->lock);
        uint64_t done = r->ack_count + r->failed + r->abandoned;
        uint64_t writes = r->writes;
        pthread_mutex_unlock(&r->lock);
        if (done >= writes) break;
        tend_for(r, 200);
    }
    r->give_up = 1;
    for (uint32_t k = 0; k < r->clients; k++)
        pthread_join(r->cl[k].thread, NULL);
    bool diverged = false;
    uint64_t quiet_index = 0;
    bool quiet = leader >= 0 && settle(r, &diverged, &quiet_index);
    uint64_t settled_ms = run_ms(r);
    int64_t restarts[CHAOS_NODES];
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        json_t *s = node_status(r, i, 1000);
        restarts[i] = json_integer_value(json_object_get(s, "restarts"));
        json_decref(s);
    }
    /* Freeze all three at once, then end them: stopped one by one, the two left would elect a
     * leader and apply its LeaderChanged (and what its actors propose) after the first had
     * stopped, and the stores would end at different indices. A SIGKILL is a crash the stores
     * recover from (storage.sync: every applied write is in RocksDB's log). */
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        r->nodes[i].held_down = true;
        if (r->nodes[i].pid != 0) kill(r->nodes[i].pid, SIGSTOP);
    }
    for (uint32_t i = 0; i < CHAOS_NODES; i++)
        node_kill_wait(r, i, SIGKILL, 0);

    /* The checker. */
    chaos_check_in in = {.troika = r->troika,
                         .acks = r->acks,
                         .ack_count = r->ack_count,
                         .venue_url = r->mock_url,
                         .order_prefix = ORDER_PREFIX,
                         .out_dir = r->out};
    for (uint32_t i = 0; i < CHAOS_NODES; i++)
        in.store_dir[i] = r->nodes[i].store;
    bool ok = false;
    json_t *check = chaos__check(&in, &ok);
    json_t *inv = json_object_get(check, "invariants");
    if (inv != NULL) {
        json_object_set_new(inv, "healed_and_quiet",
                            json_pack("{s:b, s:s}", "ok", quiet, "detail",
                                      quiet ? ""
                                            : "after healing, the nodes did not reach one quiet "
                                              "ledger index and state hash in time"));
        json_object_set_new(inv, "no_divergence_reported",
                            json_pack("{s:b, s:s}", "ok", !diverged, "detail",
                                      diverged ? "a node's divergence check fired (its status "
                                                 "said diverged)"
                                               : ""));
    }
    ok = ok && quiet && !diverged && check != NULL;
    teardown(r);

    /* The result. */
    json_t *recovery = NULL;
    json_t *by_kind = faults_summary(r, &recovery);
    json_t *nodes = json_object_get(check, "nodes");
    for (uint32_t i = 0; i < CHAOS_NODES && nodes != NULL; i++) {
        json_t *n = json_array_get(nodes, i);
        json_object_set_new(n, "starts", json_integer(r->nodes[i].starts));
        json_object_set_new(n, "unplanned_exits", json_integer(r->nodes[i].deaths));
        json_object_set_new(n, "last_unplanned_exit", json_string(r->nodes[i].last_death));
        json_object_set_new(n, "supervisor_restarts", json_integer(restarts[i]));
    }
    char violated[256] = "";
    const char *name;
    json_t *item;
    json_object_foreach(inv, name, item)
    {
        if (!json_is_true(json_object_get(item, "ok"))) {
            size_t len = strlen(violated);
            snprintf(violated + len, sizeof(violated) - len, "%s%s", len > 0 ? ", " : "", name);
        }
    }
    char line[600];
    snprintf(line, sizeof(line),
             "%s: scenario %s seed %" PRIu64 ": %u faults, %zu writes acknowledged, %s",
             ok ? "PASS" : "FAIL", r->scenario, r->seed, r->fault_count, r->ack_count,
             ok ? "every invariant held" : "VIOLATED: ");
    if (!ok) {
        size_t len = strlen(line);
        snprintf(line + len, sizeof(line) - len, "%s",
                 violated[0] != '\0' ? violated : "the check");
    }
    char replay[PATH_BYTES + 160u];
    snprintf(replay, sizeof(replay),
             "troika chaos run --scenario %s --seed %" PRIu64 " --duration %u --clients %u%s%s",
             r->scenario, r->seed, r->duration_s, r->clients, r->want_netns ? "" : " --no-netns",
             r->unguarded ? " --guard off" : "");
    json_t *sched_done = schedule_json(r);
    json_t *result = json_pack(
        "{s:s, s:s, s:s, s:I, s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:o*, s:o*, s:o*, s:{s:I, s:I, "
        "s:I, s:I, s:I, s:s}, s:I, s:I, s:I, s:s}",
        "verdict", ok ? "pass" : "fail", "summary", line, "scenario", r->scenario, "seed",
        (json_int_t)r->seed, "duration_s", (int)r->duration_s, "guard", r->unguarded ? "off" : "on",
        "network", r->net.netns ? "netns" : "loopback", "replay", replay, "faults", sched_done,
        "faults_by_kind", by_kind, "recovery_leader_faults", recovery, "invariants",
        json_incref(inv), "nodes", json_incref(nodes), "counts",
        json_incref(json_object_get(check, "counts")), "workload", "writes", (json_int_t)r->writes,
        "acknowledged", (json_int_t)r->ack_count, "retries", (json_int_t)r->retries, "refused",
        (json_int_t)r->failed, "abandoned", (json_int_t)r->abandoned, "first_refusal",
        r->first_failure, "healed_ms", (json_int_t)healed_ms, "settled_ms", (json_int_t)settled_ms,
        "final_ledger_index", (json_int_t)quiet_index, "network_note",
        r->net.netns ? "" : "partitions not possible");
    json_decref(check);
    snprintf(path, sizeof(path), "%s/result.json", r->out);
    if (result == NULL || json_dump_file(result, path, JSON_INDENT(2)) != 0)
        fprintf(stderr, "troika chaos run: cannot write %s\n", path);
    json_decref(result);
    /* The acknowledged writes, for a replay by hand. */
    snprintf(path, sizeof(path), "%s/acked.txt", r->out);
    FILE *f = fopen(path, "w");
    for (size_t i = 0; f != NULL && i < r->ack_count; i++)
        fprintf(f, "%s %s %" PRIu64 "%s\n", r->acks[i].key, r->acks[i].op, r->acks[i].index,
                r->acks[i].duplicate ? " duplicate" : "");
    if (f != NULL) fclose(f);
    for (uint32_t i = 0; i < CHAOS_NODES; i++) {
        if (r->nodes[i].tmpfs) {
            if (!ok) {
                /* the stores live on tmpfs: keep a copy for the replay */
                char copy[PATH_BYTES + 16u];
                snprintf(copy, sizeof(copy), "%s/node%u-copy", r->out, i + 1u);
                pid_t pid = fork();
                if (pid == 0) {
                    execlp("cp", "cp", "-a", "--", r->nodes[i].dir, copy, (char *)NULL);
                    _exit(127);
                }
                if (pid > 0) waitpid(pid, NULL, 0);
            }
            chaos_disk_umount(r->nodes[i].dir);
        }
        if (ok && !r->keep) remove_tree(r->nodes[i].dir);
    }
    printf("%s\n  replay: %s\n  result: %s/result.json\n", line, replay, r->out);
    return ok ? 0 : 1;
}

int chaos__run_main(int argc, char **argv)
{
    static run r; /* large: the acknowledgements' table is allocated, the rest is here */
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.lock, NULL);
    int rc = options(&r, argc, argv);
    if (rc >= 0) return rc;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = run_all(&r);
    free(r.acks);
    if (g_interrupted) {
        fprintf(stderr, "troika chaos run: interrupted\n");
        return 3;
    }
    return rc;
}
