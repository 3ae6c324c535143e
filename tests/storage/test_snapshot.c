/* storage/es_snapshot.c: export a store's checkpoint as a led_snapshot blob and restore it into
 * another store; blobs that are truncated, garbage or from another cluster are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <stdlib.h>
#include <string.h>

#include "storage_tests.h"
#include "tk_test.h"

static void state_bytes(uint8_t *buf, size_t size, uint8_t seed)
{
    for (size_t i = 0; i < size; i++) {
        buf[i] = (uint8_t)(seed + i * 13u);
    }
}

/* count events, then a checkpoint of state_size bytes at the last one; meta is updated. */
static void fill(es_store *store, es_meta *meta, uint64_t count, uint64_t raft_index,
                 size_t state_size)
{
    st_append(store, meta, count, raft_index);
    uint8_t *state = malloc(state_size);
    assert_non_null(state);
    state_bytes(state, state_size, (uint8_t)count);
    meta->checkpoint_index = meta->last_index;
    es_checkpoint cp = {.index = meta->last_index, .state = state, .state_size = state_size};
    es_error why = {{0}};
    tk_err err = es_write(store, NULL, 0, meta, &cp, &why);
    if (err != TK_OK) fail_msg("es_write: %s: %s", tk_err_name(err), why.text);
    free(state);
}

static es_blob export_of(es_store *store)
{
    es_blob blob = {NULL, 0};
    es_error why = {{0}};
    tk_err err = es_snapshot_export(store, &blob, &why);
    if (err != TK_OK) fail_msg("es_snapshot_export: %s: %s", tk_err_name(err), why.text);
    assert_non_null(blob.data);
    return blob;
}

static void test_export_restore(void **state)
{
    (void)state;
    char *dir_a = st_tmpdir();
    char *dir_b = st_tmpdir();
    es_store *a = st_open(dir_a, true, "alpha");
    es_meta meta_a = st_meta(a);
    fill(a, &meta_a, 50, 77, 1000);
    es_blob blob = export_of(a);
    es_store *b = st_open(dir_b, true, "alpha");
    es_meta meta_b = st_meta(b);
    st_append(b, &meta_b, 80, 5); /* B's own history, replaced by the snapshot */
    es_error why = {{0}};
    EXPECT_ERR(es_snapshot_restore(b, blob.data, blob.size, &why), TK_OK);
    es_blob_free(&blob);
    es_close(b);
    b = st_open(dir_b, false, "alpha");
    es_meta got = st_meta(b);
    assert_int_equal(got.last_index, 50);
    assert_int_equal(got.base_index, 50);
    assert_int_equal(got.checkpoint_index, 50);
    assert_int_equal(got.raft_index, 77);
    assert_memory_equal(got.chain_hash, meta_a.chain_hash, LED_HASH_BYTES);
    assert_memory_equal(got.base_chain_hash, meta_a.chain_hash, LED_HASH_BYTES);
    uint64_t index = 0;
    es_blob state_b = {NULL, 0};
    EXPECT_ERR(es_checkpoint_read(b, &index, &state_b, &why), TK_OK);
    es_blob state_a = {NULL, 0};
    EXPECT_ERR(es_checkpoint_read(a, &index, &state_a, &why), TK_OK);
    assert_int_equal(state_b.size, 1000);
    assert_int_equal(state_b.size, state_a.size);
    assert_memory_equal(state_b.data, state_a.data, state_a.size);
    es_blob_free(&state_a);
    es_blob_free(&state_b);
    /* none of B's old events is left; B continues from the snapshot */
    uint8_t buf[LED_EVENT_BYTES_MAX];
    size_t size = 0;
    uint8_t hash[LED_HASH_BYTES];
    EXPECT_ERR(es_event_read(b, 50, buf, sizeof(buf), &size, hash, &why), TK_ENOENT);
    EXPECT_ERR(es_event_read(b, 80, buf, sizeof(buf), &size, hash, &why), TK_ENOENT);
    es_cursor *cur = NULL;
    es_record rec;
    EXPECT_ERR(es_cursor_open(b, 0, &cur, &why), TK_OK);
    EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_ENOENT);
    es_cursor_close(cur);
    st_append(b, &got, 3, 78);
    st_append(a, &meta_a, 3, 78);
    assert_memory_equal(got.chain_hash, meta_a.chain_hash, LED_HASH_BYTES); /* same chain */
    es_close(b);
    b = st_open(dir_b, false, "alpha"); /* events from base_index + 1 pass the open checks */
    st_expect_event(b, 53, meta_a.chain_hash);
    es_close(b);
    es_close(a);
    st_tmpdir_remove(dir_b);
    st_tmpdir_remove(dir_a);
}

static void test_export_needs_a_current_checkpoint(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    es_store *store = st_open(dir, true, "");
    es_blob blob = {NULL, 0};
    es_error why = {{0}};
    EXPECT_ERR(es_snapshot_export(store, &blob, &why), TK_ENOENT); /* none yet */
    es_meta meta = st_meta(store);
    fill(store, &meta, 40, 0, 10);
    st_append(store, &meta, 10, 0);
    EXPECT_ERR(es_snapshot_export(store, &blob, &why), TK_EINVAL);
    st_expect_text(why.text, "checkpoint is behind the last event");
    st_expect_text(why.text, "checkpoint first");
    assert_null(blob.data);
    fill(store, &meta, 0, 0, 10); /* a checkpoint at 50 */
    blob = export_of(store);
    es_blob_free(&blob);
    es_close(store);
    st_tmpdir_remove(dir);
}

/* A checkpoint of the genesis state (index 0) travels too. */
static void test_snapshot_at_genesis(void **state)
{
    (void)state;
    char *dir_a = st_tmpdir();
    char *dir_b = st_tmpdir();
    es_store *a = st_open(dir_a, true, "");
    es_meta meta = st_meta(a);
    fill(a, &meta, 0, 0, 7);
    es_blob blob = export_of(a);
    es_store *b = st_open(dir_b, true, "");
    es_error why = {{0}};
    EXPECT_ERR(es_snapshot_restore(b, blob.data, blob.size, &why), TK_OK);
    es_meta got = st_meta(b);
    assert_int_equal(got.last_index, 0);
    assert_int_equal(got.checkpoint_index, 0);
    uint64_t index = 99;
    es_blob state_b = {NULL, 0};
    EXPECT_ERR(es_checkpoint_read(b, &index, &state_b, &why), TK_OK);
    assert_int_equal(index, 0);
    assert_int_equal(state_b.size, 7);
    es_blob_free(&state_b);
    es_blob_free(&blob);
    es_close(b);
    es_close(a);
    st_tmpdir_remove(dir_b);
    st_tmpdir_remove(dir_a);
}

static void expect_unchanged(es_store *store, const es_meta *want)
{
    es_meta got = st_meta(store);
    assert_int_equal(got.last_index, want->last_index);
    assert_int_equal(got.base_index, want->base_index);
    assert_int_equal(got.raft_index, want->raft_index);
    assert_memory_equal(got.chain_hash, want->chain_hash, LED_HASH_BYTES);
    st_expect_event(store, want->last_index, want->chain_hash);
}

static void test_restore_refuses_bad_blobs(void **state)
{
    (void)state;
    char *dir_a = st_tmpdir();
    char *dir_b = st_tmpdir();
    es_store *a = st_open(dir_a, true, "alpha");
    es_meta meta_a = st_meta(a);
    fill(a, &meta_a, 20, 20, 64);
    es_blob blob = export_of(a);
    es_store *b = st_open(dir_b, true, "alpha");
    es_meta meta_b = st_meta(b);
    st_append(b, &meta_b, 5, 5);
    es_error why = {{0}};
    for (size_t size = 0; size < blob.size; size++) { /* every truncation */
        memset(&why, 0, sizeof(why));
        EXPECT_ERR(es_snapshot_restore(b, blob.data, size, &why), TK_EINVAL);
        st_expect_text(why.text, "bad snapshot blob");
    }
    uint8_t garbage[300];
    state_bytes(garbage, sizeof(garbage), 0xc1);
    EXPECT_ERR(es_snapshot_restore(b, garbage, sizeof(garbage), &why), TK_EINVAL);
    st_expect_text(why.text, "not a map");
    uint8_t *longer = malloc(blob.size + 1u); /* a byte after the map */
    assert_non_null(longer);
    memcpy(longer, blob.data, blob.size);
    longer[blob.size] = 0xc0;
    EXPECT_ERR(es_snapshot_restore(b, longer, blob.size + 1u, &why), TK_EINVAL);
    free(longer);
    /* index 0 with a chain hash that is not zero */
    uint8_t state_bytes_1[1] = {1};
    led_snapshot snap = {.index = 0, .raft_index = 0, .state = state_bytes_1, .state_size = 1};
    memset(snap.chain_hash, 0x11, LED_HASH_BYTES);
    uint8_t encoded[LED_SNAPSHOT_OVERHEAD_BYTES + 1u];
    size_t encoded_size = 0;
    EXPECT_ERR(led_snapshot_encode(&snap, encoded, sizeof(encoded), &encoded_size), TK_OK);
    EXPECT_ERR(es_snapshot_restore(b, encoded, encoded_size, &why), TK_EINVAL);
    st_expect_text(why.text, "not zero at index 0");
    expect_unchanged(b, &meta_b); /* nothing was touched */
    es_blob_free(&blob);
    es_close(b);
    es_close(a);
    st_tmpdir_remove(dir_b);
    st_tmpdir_remove(dir_a);
}

static void test_restore_cluster(void **state)
{
    (void)state;
    char *dir_a = st_tmpdir();
    char *dir_b = st_tmpdir();
    char *dir_c = st_tmpdir();
    es_store *a = st_open(dir_a, true, "alpha");
    es_meta meta_a = st_meta(a);
    fill(a, &meta_a, 8, 9, 32);
    es_blob blob = export_of(a);
    es_store *b = st_open(dir_b, true, "beta");
    es_meta meta_b = st_meta(b);
    st_append(b, &meta_b, 2, 2);
    es_error why = {{0}};
    EXPECT_ERR(es_snapshot_restore(b, blob.data, blob.size, &why), TK_EINVAL);
    st_expect_text(why.text,
                   "the snapshot belongs to cluster 'alpha', the store to cluster 'beta'");
    expect_unchanged(b, &meta_b);
    /* a store without a cluster id takes the snapshot's, for good */
    es_store *c = st_open(dir_c, true, "");
    EXPECT_ERR(es_snapshot_restore(c, blob.data, blob.size, &why), TK_OK);
    assert_string_equal(es_cluster_id(c), "alpha");
    es_close(c);
    es_opts opts = {.path = dir_c, .create_if_missing = false, .sync = false, .cluster_id = "beta"};
    EXPECT_ERR(es_open(&opts, &c, &why), TK_EINVAL);
    c = st_open(dir_c, false, "alpha");
    assert_int_equal(st_meta(c).last_index, 8);
    es_close(c);
    es_blob_free(&blob);
    es_close(b);
    es_close(a);
    st_tmpdir_remove(dir_c);
    st_tmpdir_remove(dir_b);
    st_tmpdir_remove(dir_a);
}

int es_test_snapshot(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_restore),
        cmocka_unit_test(test_export_needs_a_current_checkpoint),
        cmocka_unit_test(test_snapshot_at_genesis),
        cmocka_unit_test(test_restore_refuses_bad_blobs),
        cmocka_unit_test(test_restore_cluster),
    };
    return cmocka_run_group_tests_name("storage/snapshot", tests, NULL, NULL);
}
