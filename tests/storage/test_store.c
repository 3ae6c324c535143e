/* storage/es_store.c and es_read.c on healthy stores: create, open, reopen, write and read
 * back events, meta and checkpoints, cursors, cluster ids, the lock, and the preconditions of
 * es_write (programmer errors that must end the process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage_tests.h"
#include "tk_test.h"

static void test_create_open_reopen(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_opts opts = {.path = path, .create_if_missing = false, .sync = true, .cluster_id = "c1"};
    es_store *store = NULL;
    tk_test_mark(&store, sizeof(store));
    es_error why = {{0}};
    EXPECT_ERR(es_open(&opts, &store, &why), TK_ENOENT);
    assert_true(tk_test_is_marked(&store, sizeof(store))); /* untouched on error */
    st_expect_text(why.text, path);
    opts.create_if_missing = true;
    EXPECT_ERR(es_open(&opts, &store, &why), TK_OK);
    es_meta zero;
    memset(&zero, 0, sizeof(zero));
    es_meta meta = st_meta(store);
    st_expect_meta_equal(&meta, &zero);
    assert_string_equal(es_cluster_id(store), "c1");
    es_close(store);
    store = st_open(path, false, "c1"); /* reopen, no create */
    assert_string_equal(es_cluster_id(store), "c1");
    meta = st_meta(store);
    st_expect_meta_equal(&meta, &zero);
    es_close(store);
    store = st_open(path, true, NULL); /* no cluster id asked: any store will do */
    assert_string_equal(es_cluster_id(store), "c1");
    es_close(store);
    es_close(NULL);
    free(path);
    st_tmpdir_remove(dir);
}

static void test_write_read_across_reopen(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    es_meta meta;
    memset(&meta, 0, sizeof(meta));
    st_append(store, &meta, 10, 3);
    st_append(store, &meta, 1, 4);
    st_append(store, &meta, 5, 9);
    es_meta got = st_meta(store);
    st_expect_meta_equal(&got, &meta);
    es_close(store);
    store = st_open(path, false, "");
    got = st_meta(store);
    st_expect_meta_equal(&got, &meta);
    assert_int_equal(got.last_index, 16);
    assert_int_equal(got.raft_index, 9);
    uint8_t hash[LED_HASH_BYTES] = {0};
    for (uint64_t index = 1; index <= 16; index++) {
        uint8_t event[LED_EVENT_BYTES_MAX];
        size_t size = st_event(index, event);
        led_chain_next(hash, index, event, size, hash);
        st_expect_event(store, index, hash);
    }
    assert_memory_equal(hash, meta.chain_hash, LED_HASH_BYTES);
    uint8_t buf[LED_EVENT_BYTES_MAX];
    size_t size = 0;
    uint8_t event_hash[LED_HASH_BYTES];
    tk_test_mark(&size, sizeof(size));
    es_error why = {{0}};
    EXPECT_ERR(es_event_read(store, 0, buf, sizeof(buf), &size, event_hash, &why), TK_ENOENT);
    EXPECT_ERR(es_event_read(store, 17, buf, sizeof(buf), &size, event_hash, &why), TK_ENOENT);
    st_expect_text(why.text, "no event 17");
    uint8_t first[LED_EVENT_BYTES_MAX];
    size_t first_size = st_event(1, first);
    EXPECT_ERR(es_event_read(store, 1, buf, first_size - 1u, &size, event_hash, &why), TK_EFULL);
    assert_true(tk_test_is_marked(&size, sizeof(size)));
    EXPECT_ERR(es_event_read(store, 1, buf, first_size, &size, event_hash, NULL), TK_OK);
    assert_int_equal(size, first_size);
    es_close(store);
    free(path);
    st_tmpdir_remove(dir);
}

/* Read a cursor to its end, checking every record against st_event; returns the count. */
static uint64_t drain(es_store *store, uint64_t from, uint64_t want_first)
{
    es_cursor *cur = NULL;
    es_error why = {{0}};
    EXPECT_ERR(es_cursor_open(store, from, &cur, &why), TK_OK);
    uint64_t count = 0;
    es_record rec;
    tk_err err;
    while ((err = es_cursor_next(cur, &rec, &why)) == TK_OK) {
        assert_int_equal(rec.index, want_first + count);
        uint8_t want[LED_EVENT_BYTES_MAX];
        size_t want_size = st_event(rec.index, want);
        assert_int_equal(rec.event_size, want_size);
        assert_memory_equal(rec.event, want, want_size);
        count++;
    }
    EXPECT_ERR(err, TK_ENOENT);
    EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_ENOENT); /* and it stays at the end */
    es_cursor_close(cur);
    return count;
}

static void test_cursor_from_middle_and_end(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    assert_int_equal(drain(store, 0, 1), 0); /* empty store */
    es_meta meta;
    memset(&meta, 0, sizeof(meta));
    st_append(store, &meta, 100, 0);
    assert_int_equal(drain(store, 0, 1), 100);
    assert_int_equal(drain(store, 1, 1), 100);
    assert_int_equal(drain(store, 50, 50), 51);
    assert_int_equal(drain(store, 100, 100), 1);
    assert_int_equal(drain(store, 101, 101), 0);
    assert_int_equal(drain(store, UINT64_MAX, 0), 0);
    /* a cursor sees the store as it was when opened */
    es_cursor *cur = NULL;
    EXPECT_ERR(es_cursor_open(store, 100, &cur, NULL), TK_OK);
    st_append(store, &meta, 1, 0);
    es_record rec;
    EXPECT_ERR(es_cursor_next(cur, &rec, NULL), TK_OK);
    assert_int_equal(rec.index, 100);
    EXPECT_ERR(es_cursor_next(cur, &rec, NULL), TK_ENOENT);
    es_cursor_close(cur);
    es_cursor_close(NULL);
    assert_int_equal(drain(store, 100, 100), 2);
    es_close(store);
    free(path);
    st_tmpdir_remove(dir);
}

static void test_checkpoint(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    uint64_t index = 99;
    es_blob blob = {NULL, 0};
    es_error why = {{0}};
    EXPECT_ERR(es_checkpoint_read(store, &index, &blob, &why), TK_ENOENT);
    assert_int_equal(index, 99); /* untouched */
    assert_null(blob.data);
    /* a checkpoint of the genesis state, then 20 events, then a checkpoint with 5 more */
    es_meta meta = st_meta(store);
    const uint8_t genesis[] = {0x80};
    es_checkpoint cp0 = {.index = 0, .state = genesis, .state_size = sizeof(genesis)};
    EXPECT_ERR(es_write(store, NULL, 0, &meta, &cp0, &why), TK_OK);
    EXPECT_ERR(es_checkpoint_read(store, &index, &blob, &why), TK_OK);
    assert_int_equal(index, 0);
    assert_int_equal(blob.size, 1);
    assert_int_equal(blob.data[0], 0x80);
    es_blob_free(&blob);
    assert_null(blob.data);
    assert_int_equal(blob.size, 0);
    es_blob_free(&blob); /* twice is harmless */
    es_blob_free(NULL);
    st_append(store, &meta, 20, 0);
    uint8_t bytes[3000];
    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (uint8_t)(i * 31u);
    }
    /* events 21..25 and a checkpoint at 25 in one batch */
    es_record records[5];
    uint8_t events[5][LED_EVENT_BYTES_MAX];
    uint8_t hashes[5][LED_HASH_BYTES];
    uint8_t hash[LED_HASH_BYTES];
    memcpy(hash, meta.chain_hash, LED_HASH_BYTES);
    for (unsigned i = 0; i < 5; i++) {
        uint64_t at = 21u + i;
        size_t size = st_event(at, events[i]);
        led_chain_next(hash, at, events[i], size, hashes[i]);
        memcpy(hash, hashes[i], LED_HASH_BYTES);
        records[i] = (es_record){at, events[i], size, hashes[i]};
    }
    meta.last_index = 25;
    memcpy(meta.chain_hash, hash, LED_HASH_BYTES);
    meta.checkpoint_index = 25;
    es_checkpoint cp = {.index = 25, .state = bytes, .state_size = sizeof(bytes)};
    EXPECT_ERR(es_write(store, records, 5, &meta, &cp, &why), TK_OK);
    es_close(store);
    store = st_open(path, false, "");
    es_meta got = st_meta(store);
    st_expect_meta_equal(&got, &meta);
    EXPECT_ERR(es_checkpoint_read(store, &index, &blob, &why), TK_OK);
    assert_int_equal(index, 25);
    assert_int_equal(blob.size, sizeof(bytes));
    assert_memory_equal(blob.data, bytes, sizeof(bytes));
    es_blob_free(&blob);
    st_expect_event(store, 25, hash);
    es_close(store);
    free(path);
    st_tmpdir_remove(dir);
}

static void test_write_count_zero(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    es_meta meta = st_meta(store);
    st_append(store, &meta, 3, 1);
    meta.raft_index = 42; /* a Raft entry that carried no event (a no-op, a config change) */
    es_error why = {{0}};
    EXPECT_ERR(es_write(store, NULL, 0, &meta, NULL, &why), TK_OK);
    st_append(store, &meta, 0, 43); /* count 0 through the helper too */
    es_close(store);
    store = st_open(path, false, NULL);
    es_meta got = st_meta(store);
    st_expect_meta_equal(&got, &meta);
    assert_int_equal(got.raft_index, 43);
    assert_int_equal(got.last_index, 3);
    es_close(store);
    free(path);
    st_tmpdir_remove(dir);
}

static void test_large_batch(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    es_meta meta = st_meta(store);
    st_append(store, &meta, 10000, 10000);
    es_close(store);
    store = st_open(path, false, "");
    es_meta got = st_meta(store);
    st_expect_meta_equal(&got, &meta);
    assert_int_equal(drain(store, 0, 1), 10000);
    assert_int_equal(drain(store, 9990, 9990), 11);
    es_close(store);
    free(path);
    st_tmpdir_remove(dir);
}

static void test_cluster_id(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "alpha");
    es_close(store);
    es_opts opts = {.path = path, .create_if_missing = true, .sync = false, .cluster_id = "beta"};
    es_error why = {{0}};
    EXPECT_ERR(es_open(&opts, &store, &why), TK_EINVAL);
    st_expect_text(why.text, "store belongs to cluster 'alpha', not 'beta'");
    opts.cluster_id = "";
    EXPECT_ERR(es_open(&opts, &store, &why), TK_OK);
    assert_string_equal(es_cluster_id(store), "alpha");
    es_close(store);
    char long_id[ES_CLUSTER_ID_LEN_MAX + 2u];
    memset(long_id, 'x', sizeof(long_id) - 1u);
    long_id[sizeof(long_id) - 1u] = '\0';
    opts.cluster_id = long_id;
    EXPECT_ERR(es_open(&opts, &store, &why), TK_EINVAL);
    st_expect_text(why.text, "longer than");
    long_id[ES_CLUSTER_ID_LEN_MAX] = '\0'; /* the longest allowed */
    char *other_dir = st_tmpdir();
    char *other = st_db_path(other_dir);
    store = st_open(other, true, long_id);
    assert_string_equal(es_cluster_id(store), long_id);
    es_close(store);
    free(other);
    st_tmpdir_remove(other_dir);
    free(path);
    st_tmpdir_remove(dir);
}

static void test_lock_held(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    es_opts opts = {.path = path, .create_if_missing = false, .sync = false, .cluster_id = ""};
    es_store *second = NULL;
    es_error why = {{0}};
    EXPECT_ERR(es_open(&opts, &second, &why), TK_EIO);
    assert_null(second);
    st_expect_text(why.text, "locked");
    st_expect_text(why.text, path);
    es_close(store);
    second = st_open(path, false, ""); /* free again */
    es_close(second);
    free(path);
    st_tmpdir_remove(dir);
}

/* ---- Programmer errors end the process (checked in a forked child) ------------------------ */

/* In a process of its own (the test binary run again with --bad-write PATH VARIANT, see
 * main.c): write against es_write's preconditions, which must abort. A fresh process rather
 * than a forked child, since a fork of a process with RocksDB's threads cannot start threads
 * under ThreadSanitizer. */
void es_test_bad_write(const char *path, int variant)
{
    es_store *store = st_open(path, false, "");
    es_meta meta;
    if (es_meta_read(store, &meta, NULL) != TK_OK) exit(3);
    uint8_t event[1] = {7};
    uint8_t hash[LED_HASH_BYTES] = {1};
    es_record rec = {.index = meta.last_index + 2u,
                     .event = event,
                     .event_size = 1,
                     .chain_hash = hash}; /* a gap */
    meta.last_index = rec.index;
    memcpy(meta.chain_hash, hash, LED_HASH_BYTES);
    es_checkpoint cp = {.index = meta.last_index + 1u, .state = event, .state_size = 1};
    if (variant == 0 && es_write(store, &rec, 1, &meta, NULL, NULL) == TK_OK) exit(4);
    rec.index = meta.last_index - 1u; /* contiguous now; the checkpoint is past the end */
    meta.last_index = rec.index;
    if (variant == 1 && es_write(store, &rec, 1, &meta, &cp, NULL) == TK_OK) exit(4);
    exit(0); /* not reached when the assertion fires */
}

static void exec_bad_write(void *arg)
{
    char *const *argv = arg;
    execv("/proc/self/exe", argv);
    _exit(125); /* exec failed */
}

static void test_write_preconditions(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char *path = st_db_path(dir);
    es_store *store = st_open(path, true, "");
    es_meta meta = st_meta(store);
    st_append(store, &meta, 4, 0);
    es_close(store);
    for (int variant = 0; variant < 2; variant++) {
        char *argv[] = {"test_storage", "--bad-write", path, variant == 0 ? "0" : "1", NULL};
        tk_test_child *child = malloc(sizeof(*child));
        assert_non_null(child);
        assert_true(tk_test_child_run(exec_bad_write, argv, 30, child));
        if (!child->signaled)
            fail_msg("exit %d, not a signal: %s", child->exit_code, child->output);
        assert_int_equal(child->signal, SIGABRT);
        st_expect_text(child->output, "assertion failed");
        free(child);
    }
    store = st_open(path, false, ""); /* nothing was written */
    es_meta got = st_meta(store);
    st_expect_meta_equal(&got, &meta);
    es_close(store);
    free(path);
    st_tmpdir_remove(dir);
}

int es_test_store(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_open_reopen),
        cmocka_unit_test(test_write_read_across_reopen),
        cmocka_unit_test(test_cursor_from_middle_and_end),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_write_count_zero),
        cmocka_unit_test(test_large_batch),
        cmocka_unit_test(test_cluster_id),
        cmocka_unit_test(test_lock_held),
        cmocka_unit_test(test_write_preconditions),
    };
    return cmocka_run_group_tests_name("storage/store", tests, NULL, NULL);
}
