/* What the three cluster benchmark drivers share (bench/cluster/README.md): latency samples,
 * percentiles, the measurement window, the in-flight list, and the report format, so that
 * troika, etcd and the bare libraft loop are measured and printed the same way.
 *
 * A driver keeps N requests in flight for warmup_ms + duration_ms. A request counts when its
 * answer arrives inside the measurement window (after the warm-up, before the end); its latency
 * is send to answer. events/s is the count divided by the window. Each driver prints, per
 * concurrency, one line
 *   name=cluster system=S inflight=N events_per_s=V p50_ms=V p99_ms=V ok=N errors=N seconds=V
 * and one JSON object on a line of its own with the same fields, which bench/cluster/run reads.
 *
 * Context: samples belong to one thread at a time (each driver gives every request slot its
 * own); bc_now_ns is safe on any thread. */
#ifndef TK_BENCH_CLUSTER_BENCH_COMMON_H
#define TK_BENCH_CLUSTER_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_INFLIGHT_MAX   1024u /* the largest concurrency a driver accepts */
#define BC_INFLIGHT_LISTS 8u    /* concurrencies in one --inflight list */

/* Latencies in ns, grown by doubling (outside the answer path's fast case: amortised O(1)). */
typedef struct bc_samples {
    uint64_t *latency_ns; /* owned */
    size_t count;
    size_t capacity;
} bc_samples;

/* The settings every driver takes. */
typedef struct bc_opts {
    uint32_t inflight[BC_INFLIGHT_LISTS]; /* concurrencies, run in this order */
    uint32_t inflight_count;
    uint64_t duration_ms; /* the measurement window */
    uint64_t warmup_ms;   /* answers before it are not counted */
} bc_opts;

/* One concurrency's figures. */
typedef struct bc_result {
    const char *system; /* "troika", "etcd", "raft_bare"; static */
    uint32_t inflight;
    uint64_t ok;     /* answers inside the window */
    uint64_t errors; /* failed requests, whole run */
    double seconds;  /* the window */
    double events_per_s;
    double p50_ms;
    double p99_ms;
} bc_result;

/* Monotonic time in ns (tk_clock_system). */
uint64_t bc_now_ns(void);

/* Add one latency; exits the process with a message when memory runs out (a benchmark has no
 * better answer). */
void bc_samples_add(bc_samples *s, uint64_t latency_ns);

/* Release the samples' memory. */
void bc_samples_fini(bc_samples *s);

/* Append from's samples to into (exits without memory, as bc_samples_add). */
void bc_samples_merge(bc_samples *into, const bc_samples *from);

/* Figures of one run from all its samples (sorted in place): the caller fills system,
 * inflight, errors and seconds first. */
void bc_result_compute(bc_result *r, bc_samples *all);

/* Print r as the line and the JSON object described above. */
void bc_report(const bc_result *r);

/* Parse argv[*i] (and its value) if it is one of the shared options: --inflight LIST
 * ("1,16,256"), --duration-ms N, --warmup-ms N. Returns true when it was one; exits with a
 * message on a bad value. */
bool bc_parse_common(int argc, char **argv, int *i, bc_opts *opts);

/* The defaults: --inflight 1,16,256 --duration-ms 5000 --warmup-ms 1000. */
void bc_opts_default(bc_opts *opts);

/* Standard base64 of size bytes of in into out (out_size >= 4 * ceil(size / 3) + 1; else
 * TK_ASSERT); NUL-terminated. Returns the length written. */
size_t bc_base64(const uint8_t *in, size_t size, char *out, size_t out_size);

/* Remove dir and everything below it (the in-process drivers' data directories); what cannot
 * be removed is left, silently: a benchmark's temporary files are not worth failing over. */
void bc_remove_tree(const char *dir);

#endif /* TK_BENCH_CLUSTER_BENCH_COMMON_H */
