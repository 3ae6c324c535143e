/* `troika gen-events`: a seeded, valid event stream (led_gen) written through the local
 * journal into a store, for drills, tests and benchmarks. */
#include <getopt.h>
#include <stdio.h>

#include "app.h"
#include "clu.h"

#define GEN_BATCH_EVENTS 1024u   /* events per write batch */
#define GEN_CHECKPOINT   100000u /* events between state checkpoints */

static void gen_usage(FILE *out)
{
    fprintf(out, "usage: troika gen-events --data-dir DIR --count N --seed S\n"
                 "Append N seeded, valid events (instruments, limits, bars, orders, fills,\n"
                 "rejections, drills) to the store at DIR through the local journal, creating it\n"
                 "when missing. The same seed on an empty store gives the same log.\n"
                 "  --data-dir DIR  the store (RocksDB directory)\n"
                 "  --count N       events to write\n"
                 "  --seed S        the generator's seed\n"
                 "  --help          this text\n");
}

/* Counts of committed outcomes, kept by a journal subscriber. */
typedef struct gen_tally {
    uint64_t results[LED_REJECTED + 1];
    uint64_t rules[LED_RULE_OVERFLOW + 1];
} gen_tally;

static void tally_commit(void *arg, uint64_t index, const led_event *ev, const led_outcome *outcome)
{
    (void)index;
    (void)ev;
    gen_tally *t = arg;
    t->results[outcome->result]++;
    if (outcome->result == LED_REJECTED) t->rules[outcome->rule]++;
}

static void tally_print(const gen_tally *t)
{
    printf("outcomes: applied %llu, rejected by the risk gate %llu, refused %llu\n",
           (unsigned long long)t->results[LED_APPLIED],
           (unsigned long long)t->results[LED_REJECTED],
           (unsigned long long)t->results[LED_REFUSED]);
    for (unsigned r = 1; r <= LED_RULE_OVERFLOW; r++) {
        if (t->rules[r] > 0)
            printf("  %-22s %llu\n", led_rule_id((led_rule)r), (unsigned long long)t->rules[r]);
    }
}

static tk_err gen_write(clu_journal *journal, uint64_t count, uint64_t seed, es_error *why)
{
    led_gen *gen = NULL;
    tk_err err = led_gen_open(seed, &gen);
    for (uint64_t i = 0; i < count && err == TK_OK; i++) {
        const led_state *state = clu_journal_state(journal);
        led_account acct;
        led_state_account(state, &acct);
        led_event ev;
        led_gen_next(gen, state, acct.last_index + 1u, &ev);
        err = clu_journal_propose(journal, &ev, NULL, why);
    }
    if (err == TK_OK) err = clu_journal_checkpoint(journal, why);
    led_gen_close(gen);
    return err;
}

int app_gen_events_run(const char *dir, uint64_t count, uint64_t seed)
{
    es_store *store = NULL;
    int rc = app_store_open("gen-events", dir, true, &store);
    if (rc != APP_EXIT_OK) return rc;
    clu_local_opts opts = {.store = store,
                           .batch_events_max = GEN_BATCH_EVENTS,
                           .checkpoint_every = GEN_CHECKPOINT,
                           .deliver_on_apply = false};
    clu_journal *journal = NULL;
    es_error why = {{0}};
    gen_tally tally = {{0}, {0}};
    tk_err err = clu_local_open(&opts, &journal, &why);
    if (err == TK_OK) err = clu_journal_subscribe(journal, tally_commit, &tally);
    uint64_t first = err == TK_OK ? clu_journal_committed_index(journal) + 1u : 0;
    if (err == TK_OK) err = gen_write(journal, count, seed, &why);
    if (err == TK_OK) {
        char hex[APP_HASH_HEX_BYTES];
        app_state_hash_hex(clu_journal_state(journal), hex);
        printf("events written: %llu (indices %llu..%llu)\nstate hash: %s\n",
               (unsigned long long)count, (unsigned long long)first,
               (unsigned long long)clu_journal_committed_index(journal), hex);
        tally_print(&tally);
    } else {
        fprintf(stderr, "troika gen-events: %s (%s)\n", why.text, tk_err_name(err));
        rc = APP_EXIT_FAIL;
    }
    clu_journal_close(journal);
    es_close(store);
    return rc;
}

int app_gen_events_main(int argc, char **argv)
{
    static const struct option longs[] = {{"data-dir", required_argument, NULL, 'd'},
                                          {"count", required_argument, NULL, 'n'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    uint64_t count = 0, seed = 0;
    bool have_count = false, have_seed = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'h') {
            gen_usage(stdout);
            return APP_EXIT_OK;
        }
        if (c == 'd') {
            dir = optarg;
        } else if (c == 'n' && app_parse_u64(optarg, &count)) {
            have_count = true;
        } else if (c == 's' && app_parse_u64(optarg, &seed)) {
            have_seed = true;
        } else {
            if (c == 'n' || c == 's')
                fprintf(stderr, "troika gen-events: --%s: not a non-negative integer: \"%s\"\n",
                        c == 'n' ? "count" : "seed", optarg);
            gen_usage(stderr);
            return APP_EXIT_USAGE;
        }
    }
    if (optind < argc || !have_count || !have_seed || dir == NULL) {
        fprintf(stderr, "troika gen-events: --data-dir, --count and --seed are required, and "
                        "nothing else\n");
        gen_usage(stderr);
        return APP_EXIT_USAGE;
    }
    return app_gen_events_run(dir, count, seed);
}
