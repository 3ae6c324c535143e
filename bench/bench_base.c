/* Benchmarks of base/ against the libc peers a module would otherwise use:
 *   pool get+put     vs glibc malloc+free of the same size
 *   rng next         vs glibc random_r
 *   ring push+pop    vs the same FIFO behind a pthread mutex (what a naive queue pays)
 * Each figure is the median of BENCH_RUNS runs (the machine is noisy); ratios are peer time
 * over ours, so above 1 means base is faster. Usage: bench_base [ops_per_run] */
/* random_r and initstate_r are glibc extensions (the peer measured below). */
#define _DEFAULT_SOURCE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "tk.h"

#define BENCH_RUNS     5
#define OBJ_SIZE_BYTES 64 /* about one order record */
#define POOL_BATCH     64 /* objects held at once, so get and put do not simply alternate */

static volatile uint64_t sink; /* keeps results alive past the optimiser */

typedef uint64_t (*bench_fn)(uint64_t ops);

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Median over BENCH_RUNS of fn's nanoseconds per operation, times 1000 (picoseconds). */
static uint64_t median_ps_per_op(bench_fn fn, uint64_t ops)
{
    uint64_t ps[BENCH_RUNS];
    for (int run = 0; run < BENCH_RUNS; run++) {
        uint64_t start = tk_clock_mono_ns(tk_clock_system());
        sink += fn(ops);
        uint64_t elapsed = tk_clock_mono_ns(tk_clock_system()) - start;
        ps[run] = elapsed * 1000u / ops;
    }
    qsort(ps, BENCH_RUNS, sizeof(ps[0]), cmp_u64);
    return ps[BENCH_RUNS / 2];
}

static uint64_t run_pool(uint64_t ops)
{
    tk_pool pool;
    tk_err err = tk_pool_init(&pool, OBJ_SIZE_BYTES, POOL_BATCH, tk_mem_system());
    TK_ASSERT(err == TK_OK);
    void *held[POOL_BATCH];
    uint64_t sum = 0;
    for (uint64_t done = 0; done < ops; done += POOL_BATCH) {
        for (int i = 0; i < POOL_BATCH; i++) {
            held[i] = tk_pool_get(&pool);
            *(unsigned char *)held[i] = (unsigned char)i;
        }
        for (int i = POOL_BATCH - 1; i >= 0; i--) {
            sum += *(unsigned char *)held[i];
            tk_pool_put(&pool, held[i]);
        }
    }
    tk_pool_fini(&pool);
    return sum;
}

static uint64_t run_malloc(uint64_t ops)
{
    void *held[POOL_BATCH];
    uint64_t sum = 0;
    for (uint64_t done = 0; done < ops; done += POOL_BATCH) {
        for (int i = 0; i < POOL_BATCH; i++) {
            held[i] = malloc(OBJ_SIZE_BYTES);
            TK_ASSERT(held[i] != NULL);
            *(unsigned char *)held[i] = (unsigned char)i;
        }
        for (int i = POOL_BATCH - 1; i >= 0; i--) {
            sum += *(unsigned char *)held[i];
            free(held[i]);
        }
    }
    return sum;
}

static uint64_t run_rng(uint64_t ops)
{
    tk_rng rng;
    tk_rng_init(&rng, 42);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < ops; i++) {
        sum += tk_rng_next(&rng);
    }
    return sum;
}

static uint64_t run_random_r(uint64_t ops)
{
    struct random_data data = {0};
    char state[256];
    int rc = initstate_r(42, state, sizeof(state), &data);
    TK_ASSERT(rc == 0);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < ops; i++) {
        int32_t value;
        rc = random_r(&data, &value);
        TK_ASSERT(rc == 0);
        sum += (uint64_t)value;
    }
    return sum;
}

static uint64_t ring_round_trips(tk_ring *ring, pthread_mutex_t *lock, uint64_t ops)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t value = i;
        if (lock != NULL) pthread_mutex_lock(lock);
        tk_err err = tk_ring_push(ring, &value);
        if (lock != NULL) pthread_mutex_unlock(lock);
        TK_ASSERT(err == TK_OK);
        if (lock != NULL) pthread_mutex_lock(lock);
        err = tk_ring_pop(ring, &value);
        if (lock != NULL) pthread_mutex_unlock(lock);
        TK_ASSERT(err == TK_OK);
        sum += value;
    }
    return sum;
}

static uint64_t run_ring_with(uint64_t ops, bool locked)
{
    tk_ring ring;
    tk_err err = tk_ring_init(&ring, sizeof(uint64_t), 1024, tk_mem_system());
    TK_ASSERT(err == TK_OK);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    uint64_t sum = ring_round_trips(&ring, locked ? &lock : NULL, ops);
    tk_ring_fini(&ring);
    return sum;
}

static uint64_t run_ring(uint64_t ops)
{
    return run_ring_with(ops, false);
}

static uint64_t run_ring_locked(uint64_t ops)
{
    return run_ring_with(ops, true);
}

static void report(const char *what, const char *peer, bench_fn ours, bench_fn theirs, uint64_t ops)
{
    uint64_t ours_ps = median_ps_per_op(ours, ops);
    uint64_t theirs_ps = median_ps_per_op(theirs, ops);
    double ratio = ours_ps > 0 ? (double)theirs_ps / (double)ours_ps : 0.0;
    printf("%-16s %9.2f ns/op   %-22s %9.2f ns/op   ratio %.2fx\n", what, (double)ours_ps / 1000.0,
           peer, (double)theirs_ps / 1000.0, ratio);
}

int main(int argc, char **argv)
{
    uint64_t ops = 10000000u;
    if (argc > 1) {
        char *end = NULL;
        unsigned long long parsed = strtoull(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || parsed < POOL_BATCH) {
            fprintf(stderr, "bench_base: ops_per_run must be an integer >= %d, got \"%s\"\n",
                    POOL_BATCH, argv[1]);
            return 2;
        }
        ops = parsed;
    }
    printf("bench_base: %llu ops per run, median of %d runs\n", (unsigned long long)ops,
           BENCH_RUNS);
    report("pool get+put", "glibc malloc+free", run_pool, run_malloc, ops);
    report("rng next", "glibc random_r", run_rng, run_random_r, ops);
    report("ring push+pop", "ring under a mutex", run_ring, run_ring_locked, ops);
    return 0;
}
