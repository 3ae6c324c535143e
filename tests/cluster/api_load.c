/* api_load: writes through a cluster's client API, as a client would, for the cluster tests.
 *
 *   api_load --node URL[,URL...] --token T --count N [--inflight K] [--prefix P]
 *            [--acked FILE] [--duration-ms MS]
 *
 * K threads each send their share of N writes one after another: StrategyEnabled for strategy
 * "<P>-<thread>", enabled on even writes, each with its own idempotency key "<P>-<thread>-<i>".
 * A write answered "not_leader" goes to the leader the answer names; one with no answer goes to
 * the next node of the list; one with an unknown outcome is sent again with the same key; until
 * it is acknowledged or duration-ms passes. Every acknowledged write is appended to FILE as
 * "<ledger index> <strategy> <0|1>" so that the test can check, in each node's store, that
 * every acknowledged event is there. Prints one JSON line: acknowledged, retries, failed,
 * seconds, events_per_s. Exit 0 when every write was acknowledged. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clu.h"

#define THREADS_MAX 256

#define NODES_MAX 8

typedef struct load {
    char node[CLU_ADDRESS_BYTES];             /* where writes go now; guarded by lock */
    char nodes[NODES_MAX][CLU_ADDRESS_BYTES]; /* every node given */
    uint32_t node_count, next_node;
    const char *token, *prefix;
    uint64_t count;
    uint32_t inflight;
    uint64_t deadline_ns;
    FILE *acked;
    pthread_mutex_t lock;
    uint64_t acknowledged, retries, failed;
} load;

typedef struct worker {
    load *l;
    uint32_t id;
    uint64_t writes;
} worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One attempt at url; the reply, or NULL without one. */
static json_t *attempt(load *l, const char *url, const char *request)
{
    char *reply = NULL, why[256];
    if (clu_api_call(url, l->token, request, 2000, &reply, why, sizeof(why)) != TK_OK) return NULL;
    json_t *r = json_loads(reply, 0, NULL);
    free(reply);
    return r;
}

/* Send one write until it is acknowledged or the deadline passes. */
static bool write_one(load *l, uint32_t thread, uint64_t i)
{
    char request[256];
    snprintf(
        request, sizeof(request),
        "{\"op\": \"strategy\", \"name\": \"%s-%u\", \"enabled\": %s, \"key\": \"%s-%u-%llu\"}",
        l->prefix, thread, i % 2 == 0 ? "true" : "false", l->prefix, thread, (unsigned long long)i);
    while (now_ns() < l->deadline_ns) {
        char url[CLU_ADDRESS_BYTES];
        pthread_mutex_lock(&l->lock);
        snprintf(url, sizeof(url), "%s", l->node);
        pthread_mutex_unlock(&l->lock);
        json_t *r = attempt(l, url, request);
        const char *error = json_string_value(json_object_get(r, "error"));
        const char *leader = json_string_value(json_object_get(r, "leader_api"));
        if (json_is_true(json_object_get(r, "ok"))) {
            pthread_mutex_lock(&l->lock);
            l->acknowledged++;
            if (l->acked != NULL)
                fprintf(l->acked, "%lld %s-%u %d\n",
                        (long long)json_integer_value(json_object_get(r, "index")), l->prefix,
                        thread, i % 2 == 0);
            pthread_mutex_unlock(&l->lock);
            json_decref(r);
            return true;
        }
        pthread_mutex_lock(&l->lock);
        l->retries++;
        if (error != NULL && strcmp(error, "not_leader") == 0 && leader != NULL &&
            leader[0] != '\0') {
            snprintf(l->node, sizeof(l->node), "%s", leader);
        } else if (r == NULL && strcmp(l->node, url) == 0) { /* no answer: try the next node */
            l->next_node = (l->next_node + 1) % l->node_count;
            memcpy(l->node, l->nodes[l->next_node], sizeof(l->node)); /* same-sized arrays */
        }
        pthread_mutex_unlock(&l->lock);
        json_decref(r);
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 20000000}; /* no leader yet, or an */
        nanosleep(&pause, NULL); /* unknown outcome: ask again shortly */
    }
    return false;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    for (uint64_t i = 0; i < w->writes; i++) {
        if (!write_one(w->l, w->id, i)) {
            pthread_mutex_lock(&w->l->lock);
            w->l->failed += w->writes - i;
            pthread_mutex_unlock(&w->l->lock);
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    load l = {.prefix = "load", .inflight = 16};
    const char *node = NULL, *acked = NULL;
    uint64_t duration_ms = 60000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--node") == 0)
            node = argv[i + 1];
        else if (strcmp(argv[i], "--token") == 0)
            l.token = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0)
            l.count = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--inflight") == 0)
            l.inflight = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--prefix") == 0)
            l.prefix = argv[i + 1];
        else if (strcmp(argv[i], "--acked") == 0)
            acked = argv[i + 1];
        else if (strcmp(argv[i], "--duration-ms") == 0)
            duration_ms = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "api_load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (node == NULL || l.token == NULL || l.count == 0 || l.inflight < 1 ||
        l.inflight > THREADS_MAX) {
        fprintf(stderr,
                "usage: api_load --node URL --token T --count N [--inflight 1..%d] "
                "[--prefix P] [--acked FILE] [--duration-ms MS]\n",
                THREADS_MAX);
        return 2;
    }
    char list[NODES_MAX * CLU_ADDRESS_BYTES];
    snprintf(list, sizeof(list), "%s", node);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save);
         tok != NULL && l.node_count < NODES_MAX; tok = strtok_r(NULL, ",", &save))
        snprintf(l.nodes[l.node_count++], CLU_ADDRESS_BYTES, "%s", tok);
    snprintf(l.node, sizeof(l.node), "%s", l.nodes[0]);
    if (acked != NULL && (l.acked = fopen(acked, "a")) == NULL) {
        perror(acked);
        return 1;
    }
    pthread_mutex_init(&l.lock, NULL);
    /* libnng 1.5 initialises itself on first use without a lock: make that first use here,
     * before the threads, asking the first node its status (the answer is not needed). */
    json_decref(attempt(&l, l.nodes[0], "{\"op\": \"status\"}"));
    uint64_t start = now_ns();
    l.deadline_ns = start + duration_ms * 1000000u;
    static worker workers[THREADS_MAX];
    static pthread_t threads[THREADS_MAX];
    for (uint32_t t = 0; t < l.inflight; t++) {
        workers[t] =
            (worker){.l = &l, .id = t, .writes = l.count / l.inflight + (t < l.count % l.inflight)};
        if (pthread_create(&threads[t], NULL, run_worker, &workers[t]) != 0) return 1;
    }
    for (uint32_t t = 0; t < l.inflight; t++)
        pthread_join(threads[t], NULL);
    double seconds = (double)(now_ns() - start) / 1e9;
    if (l.acked != NULL) fclose(l.acked);
    printf("{\"acknowledged\": %llu, \"retries\": %llu, \"failed\": %llu, \"seconds\": %.3f, "
           "\"events_per_s\": %.0f}\n",
           (unsigned long long)l.acknowledged, (unsigned long long)l.retries,
           (unsigned long long)l.failed, seconds, (double)l.acknowledged / seconds);
    pthread_mutex_destroy(&l.lock);
    return l.failed == 0 ? 0 : 1;
}
