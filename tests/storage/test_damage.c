/* Foreign, damaged and edited databases: es_open and the reads must return an error with a text
 * that says what and where, never crash. Foreign databases and edits are made with RocksDB's C
 * API directly; damage is garbage written over the database's files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_tests.h"
#include "tk_test.h"

/* ---- Helpers -------------------------------------------------------------------------------- */

/* es_open with the given creation flag; returns the error, closes the store on success. */
static tk_err try_open(const char *path, bool create, es_error *why)
{
    es_opts opts = {.path = path, .create_if_missing = create, .sync = false, .cluster_id = ""};
    es_store *store = NULL;
    tk_err err = es_open(&opts, &store, why);
    if (err == TK_OK) {
        assert_non_null(store);
        es_close(store);
    }
    return err;
}

/* A store with count events (and a checkpoint at the last one), closed again. */
static void make_store(const char *path, uint64_t count)
{
    es_store *store = st_open(path, true, "");
    es_meta meta;
    assert_int_equal(es_meta_read(store, &meta, NULL), TK_OK);
    st_append(store, &meta, count, count);
    uint8_t state[4000];
    memset(state, 0x3c, sizeof(state));
    meta.checkpoint_index = meta.last_index;
    es_checkpoint cp = {.index = meta.last_index, .state = state, .state_size = sizeof(state)};
    assert_int_equal(es_write(store, NULL, 0, &meta, &cp, NULL), TK_OK);
    es_close(store);
}

/* Open the store and read everything in it; the first error, or TK_OK. */
static tk_err open_and_read_all(const char *path, es_error *why)
{
    es_opts opts = {.path = path, .create_if_missing = false, .sync = false, .cluster_id = ""};
    es_store *store = NULL;
    tk_err err = es_open(&opts, &store, why);
    if (err != TK_OK) return err;
    es_meta meta;
    err = es_meta_read(store, &meta, why);
    es_cursor *cur = NULL;
    if (err == TK_OK) err = es_cursor_open(store, 0, &cur, why);
    es_record rec;
    while (err == TK_OK) {
        err = es_cursor_next(cur, &rec, why);
    }
    es_cursor_close(cur);
    if (err == TK_ENOENT) {
        uint64_t index = 0;
        es_blob state = {NULL, 0};
        err = es_checkpoint_read(store, &index, &state, why);
        es_blob_free(&state);
    }
    es_close(store);
    return err;
}

static bool name_matches(const char *name, const char *prefix, const char *suffix)
{
    size_t len = strlen(name);
    if (prefix != NULL && strncmp(name, prefix, strlen(prefix)) != 0) return false;
    if (suffix == NULL) return true;
    size_t suffix_len = strlen(suffix);
    return len >= suffix_len && strcmp(name + len - suffix_len, suffix) == 0;
}

/* Overwrite the middle of every file of dir whose name matches (prefix and/or suffix) with
 * garbage: up to 1024 bytes, or the middle half of a small file. Returns how many files. */
static unsigned garble(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned count = 0;
    uint64_t x = 0x243f6a8885a308d3u;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (!name_matches(e->d_name, prefix, suffix)) continue;
        char file[4096];
        (void)snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        int fd = open(file, O_RDWR);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        size_t size = (size_t)st.st_size;
        size_t len = size >= 4096u ? 1024u : size / 2u;
        uint8_t junk[1024];
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk[i] = (uint8_t)x;
        }
        assert_int_equal(pwrite(fd, junk, len, (off_t)(size / 2u - len / 2u)), (ssize_t)len);
        assert_int_equal(close(fd), 0);
        count++;
    }
    closedir(d);
    return count;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char file[4096];
    (void)snprintf(file, sizeof(file), "%s/%s", dir, name);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* ---- Directories that hold no store --------------------------------------------------------- */

static void test_no_store_here(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    es_error why = {{0}};
    EXPECT_ERR(try_open(dir, false, &why), TK_ENOENT); /* an empty directory */
    st_expect_text(why.text, "no database");
    write_file(dir, "notes.txt", "not a database\n");
    EXPECT_ERR(try_open(dir, false, &why), TK_ENOENT); /* unrelated files: still none */
    char *file = st_db_path(dir);
    write_file(dir, "db", "a regular file where the directory should be\n");
    tk_err err = try_open(file, true, &why);
    EXPECT_ERR(err, TK_EIO);
    st_expect_text(why.text, file);
    free(file);
    /* RocksDB's files without CURRENT: a damaged database, never silently replaced */
    write_file(dir, "000007.sst", "garbage");
    write_file(dir, "MANIFEST-000005", "garbage");
    EXPECT_ERR(try_open(dir, true, &why), TK_ECORRUPT);
    st_expect_text(why.text, "no CURRENT");
    st_tmpdir_remove(dir);
}

static void test_foreign_plain_rocksdb(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    raw_db raw;
    const char *const names[] = {"default"};
    raw_open(&raw, dir, names, 1);
    raw_put(&raw, 0, "k", 1, "v", 1);
    raw_close(&raw);
    es_error why = {{0}};
    EXPECT_ERR(try_open(dir, false, &why), TK_ECORRUPT);
    st_expect_text(why.text, "foreign database: no column family 'events'");
    EXPECT_ERR(try_open(dir, true, &why), TK_ECORRUPT); /* creation does not take it over */
    st_tmpdir_remove(dir);
}

static void test_foreign_extra_family(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    make_store(dir, 3);
    raw_db raw;
    const char *const names[] = {"default", "events", "state", "meta", "extra"};
    raw_open(&raw, dir, names, 5);
    raw_close(&raw);
    es_error why = {{0}};
    EXPECT_ERR(try_open(dir, false, &why), TK_ECORRUPT);
    st_expect_text(why.text, "column family 'extra'");
    st_tmpdir_remove(dir);
}

static void test_foreign_no_format(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    raw_db raw;
    raw_open_store(&raw, dir); /* our families, someone else's data */
    uint8_t key[8];
    st_be64(1, key);
    raw_put(&raw, RAW_EVENTS, key, sizeof(key), "not an event, no hash either", 28);
    raw_close(&raw);
    es_error why = {{0}};
    EXPECT_ERR(try_open(dir, true, &why), TK_ECORRUPT);
    st_expect_text(why.text, "foreign database: no meta key 'format'");
    st_tmpdir_remove(dir);
}

/* Our families and nothing in them: a creation cut short before the format marker. */
static void test_interrupted_creation(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    raw_db raw;
    raw_open_store(&raw, dir);
    raw_close(&raw);
    es_error why = {{0}};
    EXPECT_ERR(try_open(dir, false, &why), TK_ENOENT);
    st_expect_text(why.text, "interrupted");
    es_store *store = st_open(dir, true, "c9"); /* finishes the creation */
    es_close(store);
    store = st_open(dir, false, "c9");
    es_meta meta;
    EXPECT_ERR(es_meta_read(store, &meta, &why), TK_OK);
    assert_int_equal(meta.last_index, 0);
    es_close(store);
    st_tmpdir_remove(dir);
}

static void test_wrong_format(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    make_store(dir, 2);
    raw_db raw;
    raw_open_store(&raw, dir);
    raw_put(&raw, RAW_META, "format", 6, "other.v9\x01", 9);
    raw_close(&raw);
    es_error why = {{0}};
    EXPECT_ERR(try_open(dir, true, &why), TK_ECORRUPT);
    st_expect_text(why.text, "foreign database: meta key 'format' is 'other.v9?' (9 bytes)");
    st_tmpdir_remove(dir);
}

/* One edit of the meta family per case, each on a fresh store, each refused at open. */
static void test_meta_edited(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        const char *value;
        size_t size; /* SIZE_MAX: delete the key */
        const char *want;
    } cases[] = {
        {"last_index", "\0\0\0\5", 4, "meta key 'last_index' is 4 bytes, want 8"},
        {"chain_hash", "short", 5, "meta key 'chain_hash' is 5 bytes, want 32"},
        {"raft_index", NULL, SIZE_MAX, "meta key 'raft_index' is missing"},
        {"cluster_id", "a cluster id far longer than thirty-one bytes", 45, "'cluster_id' is 45"},
        {"cluster_id", "nul\0inside", 10, "holds a NUL"},
        {"checkpoint_index", "\0\0\0\0\0\0\0\x09", 8, "checkpoint_index is after last_index"},
        {"base_index", "\0\0\0\0\0\0\0\x02", 8, "the first stored event is 1, meta says 3"},
        {"last_index", "\0\0\0\0\0\0\0\x03", 8, "checkpoint_index is after last_index"},
        {"base_chain_hash", "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1", 32,
         "base_chain_hash is not zero at index 0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = st_tmpdir();
        make_store(dir, 4);
        raw_db raw;
        raw_open_store(&raw, dir);
        if (cases[i].size == SIZE_MAX) {
            raw_delete(&raw, RAW_META, cases[i].key, strlen(cases[i].key));
        } else {
            raw_put(&raw, RAW_META, cases[i].key, strlen(cases[i].key), cases[i].value,
                    cases[i].size);
        }
        raw_close(&raw);
        es_error why = {{0}};
        EXPECT_ERR(try_open(dir, false, &why), TK_ECORRUPT);
        st_expect_text(why.text, cases[i].want);
        st_tmpdir_remove(dir);
    }
}

/* The events family must end where meta says, with meta's hash. */
static void test_events_disagree_with_meta(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        char *dir = st_tmpdir();
        make_store(dir, 10);
        raw_db raw;
        raw_open_store(&raw, dir);
        uint8_t key[8];
        uint8_t value[40];
        memset(value, 0xee, sizeof(value));
        st_be64(variant == 2 ? 11 : 10, key);
        if (variant == 0) raw_delete(&raw, RAW_EVENTS, key, sizeof(key));
        if (variant > 0) raw_put(&raw, RAW_EVENTS, key, sizeof(key), value, sizeof(value));
        raw_close(&raw);
        static const char *const want[] = {
            "the last stored event is 9, meta says 10",
            "the chain hash stored with event 10 differs from meta's chain_hash",
            "the last stored event is 11, meta says 10",
        };
        es_error why = {{0}};
        EXPECT_ERR(try_open(dir, false, &why), TK_ECORRUPT);
        st_expect_text(why.text, want[variant]);
        st_tmpdir_remove(dir);
    }
}

/* Bad framing inside the family (the ends are fine): found by the cursor and by reads. */
static void test_cursor_bad_framing(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    make_store(dir, 10);
    raw_db raw;
    raw_open_store(&raw, dir);
    uint8_t key9[9] = {0, 0, 0, 0, 0, 0, 0, 5, 0}; /* sorts between 5 and 6 */
    raw_put(&raw, RAW_EVENTS, key9, sizeof(key9), "x", 1);
    uint8_t key[8];
    st_be64(7, key);
    raw_put(&raw, RAW_EVENTS, key, sizeof(key), "ten bytes!", 10);
    raw_close(&raw);
    es_store *store = st_open(dir, false, "");
    es_cursor *cur = NULL;
    es_error why = {{0}};
    EXPECT_ERR(es_cursor_open(store, 1, &cur, &why), TK_OK);
    es_record rec;
    for (uint64_t index = 1; index <= 5; index++) {
        EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_OK);
        assert_int_equal(rec.index, index);
    }
    EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_ECORRUPT);
    st_expect_text(why.text, "events key of 9 bytes (000000000000000500), want 8");
    memset(&why, 0, sizeof(why));
    EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_ECORRUPT); /* and it stays failed */
    st_expect_text(why.text, "events key of 9 bytes");
    es_cursor_close(cur);
    EXPECT_ERR(es_cursor_open(store, 6, &cur, &why), TK_OK);
    EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_OK);
    assert_int_equal(rec.index, 6);
    EXPECT_ERR(es_cursor_next(cur, &rec, &why), TK_ECORRUPT);
    st_expect_text(why.text, "event 7: value of 10 bytes, want at least 33");
    es_cursor_close(cur);
    uint8_t buf[LED_EVENT_BYTES_MAX];
    size_t size = 0;
    uint8_t hash[LED_HASH_BYTES];
    EXPECT_ERR(es_event_read(store, 7, buf, sizeof(buf), &size, hash, &why), TK_ECORRUPT);
    st_expect_text(why.text, "event 7: value of 10 bytes");
    es_close(store);
    st_tmpdir_remove(dir);
}

/* ---- Garbage over the files ----------------------------------------------------------------- */

static unsigned count_files(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned count = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (name_matches(e->d_name, prefix, suffix)) count++;
    }
    closedir(d);
    return count;
}

/* A store whose events are in table files: reopening replays the log into SSTs. */
static void make_flushed_store(const char *dir, uint64_t count)
{
    make_store(dir, count);
    es_close(st_open(dir, false, ""));
    assert_true(count_files(dir, NULL, ".sst") > 0);
}

static void test_garbled_sst(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    make_flushed_store(dir, 10000);
    es_error why = {{0}};
    EXPECT_ERR(open_and_read_all(dir, &why), TK_OK); /* healthy before */
    assert_true(garble(dir, NULL, ".sst") > 0);
    EXPECT_ERR(open_and_read_all(dir, &why), TK_ECORRUPT);
    st_expect_text(why.text, "Corruption");
    st_expect_text(why.text, dir);
    st_tmpdir_remove(dir);
}

static void test_garbled_manifest(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    make_flushed_store(dir, 100);
    assert_int_equal(garble(dir, "MANIFEST-", NULL), 1);
    es_error why = {{0}};
    EXPECT_ERR(open_and_read_all(dir, &why), TK_ECORRUPT);
    st_expect_text(why.text, "Corruption");
    st_tmpdir_remove(dir);
}

static void test_garbled_current(void **state)
{
    (void)state;
    static const char *const texts[] = {"garbage without a newline", "MANIFEST-999999\n", ""};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *dir = st_tmpdir();
        make_store(dir, 5);
        write_file(dir, "CURRENT", texts[i]);
        es_error why = {{0}};
        EXPECT_ERR(open_and_read_all(dir, &why), TK_ECORRUPT);
        st_expect_text(why.text, dir);
        st_tmpdir_remove(dir);
    }
}

static void remove_files(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (!name_matches(e->d_name, prefix, suffix)) continue;
        char file[4096];
        (void)snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(file), 0);
    }
    closedir(d);
}

static void test_missing_files(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        char *dir = st_tmpdir();
        make_flushed_store(dir, 1000);
        if (variant == 0) remove_files(dir, NULL, ".sst");
        if (variant == 1) remove_files(dir, "MANIFEST-", NULL);
        es_error why = {{0}};
        EXPECT_ERR(open_and_read_all(dir, &why), TK_ECORRUPT);
        st_expect_text(why.text, dir);
        st_tmpdir_remove(dir);
    }
}

static void test_garbled_everything(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    make_flushed_store(dir, 3000);
    es_store *store = st_open(dir, false, ""); /* more events, left in the write-ahead log */
    es_meta meta;
    assert_int_equal(es_meta_read(store, &meta, NULL), TK_OK);
    st_append(store, &meta, 500, 3500);
    es_close(store);
    assert_true(garble(dir, NULL, ".sst") > 0);
    assert_true(garble(dir, NULL, ".log") > 0);
    assert_int_equal(garble(dir, "MANIFEST-", NULL), 1);
    es_error why = {{0}};
    EXPECT_ERR(open_and_read_all(dir, &why), TK_ECORRUPT);
    st_expect_text(why.text, "Corruption");
    st_tmpdir_remove(dir);
}

int es_test_damage(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_store_here),
        cmocka_unit_test(test_foreign_plain_rocksdb),
        cmocka_unit_test(test_foreign_extra_family),
        cmocka_unit_test(test_foreign_no_format),
        cmocka_unit_test(test_interrupted_creation),
        cmocka_unit_test(test_wrong_format),
        cmocka_unit_test(test_meta_edited),
        cmocka_unit_test(test_events_disagree_with_meta),
        cmocka_unit_test(test_cursor_bad_framing),
        cmocka_unit_test(test_garbled_sst),
        cmocka_unit_test(test_garbled_manifest),
        cmocka_unit_test(test_garbled_current),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_garbled_everything),
    };
    return cmocka_run_group_tests_name("storage/damage", tests, NULL, NULL);
}
