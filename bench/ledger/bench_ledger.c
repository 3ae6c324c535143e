/* Ledger benchmarks over a seeded stream of 1M events (led_gen), against the targets of
 * issue 4 (no outside peer runs the same ledger, so the ratios are to those targets):
 *   apply+persist   the local journal: encode, chain hash, apply, and one RocksDB write batch
 *                   per 1024 events; with the WAL fsynced per batch (as a node runs) and not
 *                   target >= 300,000 events/s
 *   audit verify    es_replay from genesis: read, decode, re-hash and apply every event, and
 *                   compare the checkpoint; target >= 1,000,000 events/s
 *   apply only      led_apply alone, for reference
 * Each figure is the median of --runs runs (default 3). Stores go under $TMPDIR (default
 * /tmp) and are removed. Usage: bench_ledger [--events N] [--runs K] */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clu.h"
#include "tk.h"

#define RUNS_MAX 15

typedef struct bench {
    uint64_t events;
    unsigned runs;
    led_event *stream; /* the generated events, index i + 1 at [i] */
    char dir[256];
} bench;

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    (void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t now_ns(void)
{
    return tk_clock_mono_ns(tk_clock_system());
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, unsigned count)
{
    qsort(values, count, sizeof(values[0]), cmp_double);
    return count % 2u ? values[count / 2u] : (values[count / 2u - 1u] + values[count / 2u]) / 2.0;
}

static void die(const char *what, tk_err err, const char *text)
{
    fprintf(stderr, "bench_ledger: %s: %s (%s)\n", what, text, tk_err_name(err));
    exit(1);
}

/* The stream, generated once (untimed) by applying as it goes. */
static void generate(bench *b)
{
    led_state *state = NULL;
    led_gen *gen = NULL;
    b->stream = malloc(b->events * sizeof(led_event));
    if (b->stream == NULL || led_state_open(&state) != TK_OK || led_gen_open(42, &gen) != TK_OK)
        die("generate", TK_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < b->events; i++) {
        led_outcome out;
        led_gen_next(gen, state, i + 1u, &b->stream[i]);
        led_apply(state, i + 1u, &b->stream[i], &out);
    }
    led_gen_close(gen);
    led_state_close(state);
}

static es_store *store_open(bench *b, bool create, bool sync)
{
    es_opts opts = {.path = b->dir, .create_if_missing = create, .sync = sync, .cluster_id = NULL};
    es_store *store = NULL;
    es_error why = {{0}};
    tk_err err = es_open(&opts, &store, &why);
    if (err != TK_OK) die("es_open", err, why.text);
    return store;
}

/* One apply+persist run into a fresh store; events per second. The store is kept for verify. */
static double run_persist(bench *b, bool sync)
{
    remove_tree(b->dir);
    es_store *store = store_open(b, true, sync);
    clu_local_opts opts = {.store = store,
                           .batch_events_max = 1024,
                           .checkpoint_every = 100000,
                           .deliver_on_apply = false};
    clu_journal *journal = NULL;
    es_error why = {{0}};
    tk_err err = clu_local_open(&opts, &journal, &why);
    if (err != TK_OK) die("clu_local_open", err, why.text);
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < b->events && err == TK_OK; i++)
        err = clu_journal_propose(journal, &b->stream[i], NULL, &why);
    if (err == TK_OK) err = clu_journal_checkpoint(journal, &why);
    uint64_t elapsed = now_ns() - start;
    if (err != TK_OK) die("propose", err, why.text);
    clu_journal_close(journal);
    es_close(store);
    return (double)b->events * 1e9 / (double)elapsed;
}

/* One audit verify over the store the last persist run left; events per second. */
static double run_verify(bench *b)
{
    es_store *store = store_open(b, false, false);
    led_state *state = NULL;
    if (led_state_open(&state) != TK_OK) die("verify", TK_ENOMEM, "out of memory");
    es_replay_opts opts = {.from_checkpoint = false,
                           .until_index = UINT64_MAX,
                           .until_ts_ns = INT64_MAX,
                           .visit = NULL,
                           .arg = NULL};
    es_replay_result res;
    es_error why = {{0}};
    uint64_t start = now_ns();
    tk_err err = es_replay(store, state, &opts, &res, &why);
    uint64_t elapsed = now_ns() - start;
    if (err != TK_OK || res.events != b->events || !res.checkpoint_checked)
        die("verify", err, why.text);
    led_state_close(state);
    es_close(store);
    return (double)b->events * 1e9 / (double)elapsed;
}

static double run_apply(bench *b)
{
    led_state *state = NULL;
    if (led_state_open(&state) != TK_OK) die("apply", TK_ENOMEM, "out of memory");
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < b->events; i++) {
        led_outcome out;
        led_apply(state, i + 1u, &b->stream[i], &out);
    }
    uint64_t elapsed = now_ns() - start;
    led_state_close(state);
    return (double)b->events * 1e9 / (double)elapsed;
}

static void report(const char *name, double *values, unsigned runs, double target)
{
    double m = median(values, runs);
    printf("name=%s unit=events/s troika=%.0f target=%.0f ratio=%.2f\n", name, m, target,
           m / target);
}

static void parse(int argc, char **argv, bench *b)
{
    for (int i = 1; i < argc; i++) {
        bool has = i + 1 < argc;
        if (strcmp(argv[i], "--events") == 0 && has) {
            b->events = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && has) {
            b->runs = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_ledger [--events N] [--runs K (1..%d)]\n", RUNS_MAX);
            exit(2);
        }
    }
    if (b->events < 100 || b->runs == 0 || b->runs > RUNS_MAX) {
        fprintf(stderr, "bench_ledger: --events at least 100, --runs 1..%d\n", RUNS_MAX);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    bench b = {.events = 1000000, .runs = 3, .stream = NULL, .dir = {0}};
    parse(argc, argv, &b);
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    snprintf(b.dir, sizeof(b.dir), "%s/troika-bench-ledger-XXXXXX", tmp);
    if (mkdtemp(b.dir) == NULL) die("mkdtemp", TK_EIO, b.dir);
    generate(&b);
    double apply[RUNS_MAX], nosync[RUNS_MAX], sync[RUNS_MAX], verify[RUNS_MAX];
    for (unsigned r = 0; r < b.runs; r++) {
        apply[r] = run_apply(&b);
        nosync[r] = run_persist(&b, false);
        sync[r] = run_persist(&b, true);
        verify[r] = run_verify(&b);
    }
    printf("note=%llu events, median of %u runs, batches of 1024 events, store in %s\n",
           (unsigned long long)b.events, b.runs, tmp);
    report("apply_persist_fsync", sync, b.runs, 300000);
    report("apply_persist_nosync", nosync, b.runs, 300000);
    report("audit_verify", verify, b.runs, 1000000);
    report("apply_only", apply, b.runs, 300000);
    remove_tree(b.dir);
    free(b.stream);
    return 0;
}
