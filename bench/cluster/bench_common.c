/* Shared parts of the cluster benchmark drivers (bench_common.h): samples, percentiles, the
 * report format and the common options. */
#define _XOPEN_SOURCE 700 /* nftw */

#include "bench_common.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk.h"

uint64_t bc_now_ns(void)
{
    return tk_clock_mono_ns(tk_clock_system());
}

void bc_samples_add(bc_samples *s, uint64_t latency_ns)
{
    TK_ASSERT(s->count <= s->capacity);
    if (s->count == s->capacity) {
        size_t capacity = s->capacity == 0 ? 4096u : s->capacity * 2u;
        uint64_t *grown = realloc(s->latency_ns, capacity * sizeof(*grown));
        if (grown == NULL) {
            fprintf(stderr, "bench: out of memory for %zu samples\n", capacity);
            exit(1);
        }
        s->latency_ns = grown;
        s->capacity = capacity;
    }
    s->latency_ns[s->count++] = latency_ns;
}

void bc_samples_fini(bc_samples *s)
{
    free(s->latency_ns);
    *s = (bc_samples){0};
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The sample at quantile q of sorted (nearest rank), in ms; 0 with no samples. */
static double quantile_ms(const uint64_t *sorted, size_t count, double q)
{
    TK_ASSERT(q > 0.0 && q <= 1.0);
    if (count == 0) return 0.0;
    size_t rank = (size_t)(q * (double)count + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > count) rank = count;
    return (double)sorted[rank - 1u] / 1e6;
}

void bc_samples_merge(bc_samples *into, const bc_samples *from)
{
    TK_ASSERT(into != from);
    for (size_t i = 0; i < from->count; i++)
        bc_samples_add(into, from->latency_ns[i]);
}

void bc_result_compute(bc_result *r, bc_samples *all)
{
    TK_ASSERT(r->seconds > 0.0);
    TK_ASSERT(all->count <= all->capacity);
    if (all->count > 0) qsort(all->latency_ns, all->count, sizeof(all->latency_ns[0]), cmp_u64);
    r->ok = all->count;
    r->events_per_s = (double)all->count / r->seconds;
    r->p50_ms = quantile_ms(all->latency_ns, all->count, 0.50);
    r->p99_ms = quantile_ms(all->latency_ns, all->count, 0.99);
}

void bc_report(const bc_result *r)
{
    TK_ASSERT(r->system != NULL);
    printf("name=cluster system=%s inflight=%u events_per_s=%.0f p50_ms=%.3f p99_ms=%.3f "
           "ok=%llu errors=%llu seconds=%.2f\n",
           r->system, r->inflight, r->events_per_s, r->p50_ms, r->p99_ms, (unsigned long long)r->ok,
           (unsigned long long)r->errors, r->seconds);
    printf("{\"bench\": \"cluster\", \"system\": \"%s\", \"inflight\": %u, \"events_per_s\": %.1f, "
           "\"p50_ms\": %.4f, \"p99_ms\": %.4f, \"ok\": %llu, \"errors\": %llu, "
           "\"seconds\": %.3f}\n",
           r->system, r->inflight, r->events_per_s, r->p50_ms, r->p99_ms, (unsigned long long)r->ok,
           (unsigned long long)r->errors, r->seconds);
    fflush(stdout);
}

static uint64_t parse_u64(const char *name, const char *text, uint64_t min, uint64_t max)
{
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench: %s takes an integer in %llu..%llu, not '%s'\n", name,
                (unsigned long long)min, (unsigned long long)max, text);
        exit(2);
    }
    return (uint64_t)v;
}

static void parse_inflight(const char *list, bc_opts *opts)
{
    char copy[128];
    if (strlen(list) >= sizeof(copy)) {
        fprintf(stderr, "bench: --inflight list too long\n");
        exit(2);
    }
    snprintf(copy, sizeof(copy), "%s", list);
    opts->inflight_count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (opts->inflight_count == BC_INFLIGHT_LISTS) {
            fprintf(stderr, "bench: at most %u concurrencies\n", BC_INFLIGHT_LISTS);
            exit(2);
        }
        opts->inflight[opts->inflight_count++] =
            (uint32_t)parse_u64("--inflight", tok, 1, BC_INFLIGHT_MAX);
    }
    if (opts->inflight_count == 0) {
        fprintf(stderr, "bench: --inflight needs at least one number\n");
        exit(2);
    }
}

bool bc_parse_common(int argc, char **argv, int *i, bc_opts *opts)
{
    TK_ASSERT(*i < argc);
    const char *arg = argv[*i];
    bool known = strcmp(arg, "--inflight") == 0 || strcmp(arg, "--duration-ms") == 0 ||
                 strcmp(arg, "--warmup-ms") == 0;
    if (!known) return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "bench: %s needs a value\n", arg);
        exit(2);
    }
    const char *value = argv[++*i];
    if (strcmp(arg, "--inflight") == 0)
        parse_inflight(value, opts);
    else if (strcmp(arg, "--duration-ms") == 0)
        opts->duration_ms = parse_u64(arg, value, 100, 600000);
    else
        opts->warmup_ms = parse_u64(arg, value, 0, 60000);
    return true;
}

void bc_opts_default(bc_opts *opts)
{
    *opts = (bc_opts){
        .inflight = {1, 16, 256}, .inflight_count = 3, .duration_ms = 5000, .warmup_ms = 1000};
}

size_t bc_base64(const uint8_t *in, size_t size, char *out, size_t out_size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = 4u * ((size + 2u) / 3u) + 1u;
    TK_ASSERT(out_size >= need);
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < size) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < size) v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63u];
        out[o++] = alphabet[(v >> 12) & 63u];
        out[o++] = i + 1 < size ? alphabet[(v >> 6) & 63u] : '=';
        out[o++] = i + 2 < size ? alphabet[v & 63u] : '=';
    }
    out[o] = '\0';
    TK_ASSERT(o + 1u == need);
    return o;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void bc_remove_tree(const char *dir)
{
    (void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
