/* cluster/clu_local.c: the local journal. Proposals are applied at once and committed in
 * batches; subscribers see committed events only, in index order, with their outcomes; a
 * reopened journal recovers the same state from its store (from the checkpoint when there is
 * one); invalid events are refused before they get an index. */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clu.h"
#include "cluster_tests.h"
#include "tk_test.h"

typedef struct fixture {
    char dir[64];
    es_store *store;
    clu_journal *journal;
    led_gen *gen;
    uint64_t seen;      /* events delivered to the subscriber */
    uint64_t last_seen; /* the last index delivered */
    uint64_t rejected;  /* delivered with LED_REJECTED */
} fixture;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void store_open(fixture *f)
{
    es_opts opts = {.path = f->dir, .create_if_missing = true, .sync = false, .cluster_id = "t"};
    es_error why = {{0}};
    tk_err err = es_open(&opts, &f->store, &why);
    if (err != TK_OK) fail_msg("es_open: %s", why.text);
}

static void journal_open(fixture *f, uint32_t batch, uint64_t checkpoint_every)
{
    clu_local_opts opts = {.store = f->store,
                           .batch_events_max = batch,
                           .checkpoint_every = checkpoint_every,
                           .deliver_on_apply = false};
    es_error why = {{0}};
    tk_err err = clu_local_open(&opts, &f->journal, &why);
    if (err != TK_OK) fail_msg("clu_local_open: %s", why.text);
}

static int setup(void **vstate)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/troika-journal-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    store_open(f);
    assert_int_equal(led_gen_open(5, &f->gen), TK_OK);
    *vstate = f;
    return 0;
}

static int teardown(void **vstate)
{
    fixture *f = *vstate;
    clu_journal_close(f->journal);
    es_close(f->store);
    led_gen_close(f->gen);
    assert_int_equal(nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(f);
    return 0;
}

/* Counts deliveries in order, committed or not (deliver_on_apply). */
static void on_commit_any(void *arg, uint64_t index, const led_event *ev,
                          const led_outcome *outcome)
{
    fixture *f = arg;
    (void)ev;
    (void)outcome;
    assert_int_equal(index, f->last_seen + 1u);
    f->last_seen = index;
    f->seen++;
}

static void on_commit(void *arg, uint64_t index, const led_event *ev, const led_outcome *outcome)
{
    fixture *f = arg;
    assert_non_null(ev);
    assert_int_equal(index, f->last_seen + 1u);                    /* in order, no gap, no repeat */
    assert_true(index <= clu_journal_committed_index(f->journal)); /* durable first */
    f->last_seen = index;
    f->seen++;
    if (outcome->result == LED_REJECTED) f->rejected++;
}

/* Propose count generated events; returns the last index. */
static uint64_t propose_n(fixture *f, uint64_t count)
{
    uint64_t index = 0;
    for (uint64_t i = 0; i < count; i++) {
        led_account acct;
        led_state_account(clu_journal_state(f->journal), &acct);
        led_event ev;
        led_gen_next(f->gen, clu_journal_state(f->journal), acct.last_index + 1u, &ev);
        es_error why = {{0}};
        tk_err err = clu_journal_propose(f->journal, &ev, &index, &why);
        if (err != TK_OK) fail_msg("propose: %s", why.text);
        assert_int_equal(index, acct.last_index + 1u);
    }
    return index;
}

static void state_hash(fixture *f, uint8_t out[LED_HASH_BYTES])
{
    led_state_hash(clu_journal_state(f->journal), out);
}

/* Batches of 100: nothing is delivered before its batch commits; a flush commits the rest. */
static void test_commit_in_batches(void **vstate)
{
    fixture *f = *vstate;
    journal_open(f, 100, 0);
    assert_int_equal(clu_journal_subscribe(f->journal, on_commit, f), TK_OK);
    assert_int_equal(propose_n(f, 99), 99);
    assert_int_equal(f->seen, 0);
    assert_int_equal(clu_journal_committed_index(f->journal), 0);
    assert_int_equal(propose_n(f, 1), 100); /* the batch fills: committed and delivered */
    assert_int_equal(f->seen, 100);
    assert_int_equal(clu_journal_committed_index(f->journal), 100);
    assert_int_equal(propose_n(f, 50), 150);
    assert_int_equal(f->seen, 100);
    es_error why = {{0}};
    assert_int_equal(clu_journal_flush(f->journal, &why), TK_OK);
    assert_int_equal(f->seen, 150);
    assert_int_equal(clu_journal_flush(f->journal, &why), TK_OK); /* nothing pending */
    assert_int_equal(f->seen, 150);
    assert_true(f->rejected > 0); /* outcomes travel with the events */
}

/* Close and reopen: the state is rebuilt from the store, the same hash; events proposed but
 * not flushed were never committed and are gone. */
static void test_recover(void **vstate)
{
    fixture *f = *vstate;
    journal_open(f, 64, 500);
    propose_n(f, 1200);
    es_error why = {{0}};
    assert_int_equal(clu_journal_flush(f->journal, &why), TK_OK);
    uint8_t before[LED_HASH_BYTES];
    state_hash(f, before);
    es_meta meta;
    assert_int_equal(es_meta_read(f->store, &meta, &why), TK_OK);
    assert_int_equal(meta.last_index, 1200);
    assert_true(meta.checkpoint_index >= 1000); /* checkpoint_every 500: due at least twice */
    propose_n(f, 10);                           /* pending only */
    clu_journal_close(f->journal);
    f->journal = NULL;
    journal_open(f, 64, 500);
    assert_int_equal(clu_journal_committed_index(f->journal), 1200);
    uint8_t after[LED_HASH_BYTES];
    state_hash(f, after);
    assert_memory_equal(before, after, LED_HASH_BYTES);
    assert_int_equal(propose_n(f, 1), 1201); /* the log goes on from the recovered index */
}

/* clu_journal_checkpoint writes a checkpoint at the last index, which es_snapshot_export
 * needs. */
static void test_checkpoint(void **vstate)
{
    fixture *f = *vstate;
    journal_open(f, 32, 0);
    propose_n(f, 70);
    es_error why = {{0}};
    es_blob blob = {NULL, 0};
    assert_int_equal(clu_journal_flush(f->journal, &why), TK_OK);
    assert_int_equal(es_snapshot_export(f->store, &blob, &why), TK_EINVAL); /* behind */
    assert_int_equal(clu_journal_checkpoint(f->journal, &why), TK_OK);
    es_meta meta;
    assert_int_equal(es_meta_read(f->store, &meta, &why), TK_OK);
    assert_int_equal(meta.checkpoint_index, 70);
    assert_int_equal(es_snapshot_export(f->store, &blob, &why), TK_OK);
    es_blob_free(&blob);
}

/* An invalid event is refused with the field named and gets no index. */
static void test_invalid_event(void **vstate)
{
    fixture *f = *vstate;
    journal_open(f, 8, 0);
    led_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = LED_EV_KILL_SWITCH_SET;
    ev.version = 1;
    ev.ts_ns = -1;
    es_error why = {{0}};
    uint64_t index = 77;
    assert_int_equal(clu_journal_propose(f->journal, &ev, &index, &why), TK_EINVAL);
    assert_int_equal(index, 77);
    assert_non_null(strstr(why.text, "ts_ns"));
    assert_int_equal(propose_n(f, 1), 1);
}

/* A backtest's journal: subscribers see each event as it is applied; the store has it once its
 * batch is written (full, or flushed). */
static void test_deliver_on_apply(void **vstate)
{
    fixture *f = *vstate;
    clu_local_opts opts = {
        .store = f->store, .batch_events_max = 50, .checkpoint_every = 0, .deliver_on_apply = true};
    es_error why = {{0}};
    assert_int_equal(clu_local_open(&opts, &f->journal, &why), TK_OK);
    assert_true(clu_journal_delivers_on_apply(f->journal));
    assert_int_equal(clu_journal_subscribe(f->journal, on_commit_any, f), TK_OK);
    propose_n(f, 49);
    assert_int_equal(f->seen, 49); /* seen at once */
    assert_int_equal(clu_journal_committed_index(f->journal), 0);
    propose_n(f, 1); /* the batch fills: written */
    assert_int_equal(clu_journal_committed_index(f->journal), 50);
    propose_n(f, 7);
    assert_int_equal(f->seen, 57);
    assert_int_equal(clu_journal_flush(f->journal, &why), TK_OK);
    assert_int_equal(clu_journal_committed_index(f->journal), 57);
    assert_int_equal(f->seen, 57); /* not delivered twice */
}

static void test_bad_options(void **vstate)
{
    fixture *f = *vstate;
    clu_local_opts opts = {
        .store = f->store, .batch_events_max = 0, .checkpoint_every = 0, .deliver_on_apply = false};
    es_error why = {{0}};
    assert_int_equal(clu_local_open(&opts, &f->journal, &why), TK_EINVAL);
    assert_non_null(strstr(why.text, "batch_events_max"));
    opts.batch_events_max = CLU_BATCH_EVENTS_MAX + 1u;
    assert_int_equal(clu_local_open(&opts, &f->journal, &why), TK_EINVAL);
    assert_null(f->journal);
}

static void test_subscribers_full(void **vstate)
{
    fixture *f = *vstate;
    journal_open(f, 8, 0);
    for (unsigned i = 0; i < CLU_SUBSCRIBERS_MAX; i++)
        assert_int_equal(clu_journal_subscribe(f->journal, on_commit, f), TK_OK);
    assert_int_equal(clu_journal_subscribe(f->journal, on_commit, f), TK_EFULL);
}

int clu_test_journal(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_on_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribers_full, setup, teardown),
    };
    return cmocka_run_group_tests_name("cluster/journal", tests, NULL, NULL);
}
