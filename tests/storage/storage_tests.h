/* The storage module's test groups and the helpers they share. */
#ifndef TK_TESTS_STORAGE_STORAGE_TESTS_H
#define TK_TESTS_STORAGE_STORAGE_TESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "es.h"

/* Each runs the cmocka group "storage/<name>" and returns the number of failed tests. */
int es_test_store(void);
int es_test_damage(void);
int es_test_snapshot(void);
int es_test_replay(void);

/* Break es_write's preconditions on the store at path (variant 0 or 1): it must abort. Run by
 * main() in a process of its own for test_store.c. */
void es_test_bad_write(const char *path, int variant);

/* A fresh directory under /tmp (malloc'd path; the test fails if mkdtemp does). */
char *st_tmpdir(void);

/* Remove a directory tree and free its path. NULL is a no-op. */
void st_tmpdir_remove(char *path);

/* The store directory inside a tmpdir: "<dir>/db" (malloc'd). */
char *st_db_path(const char *dir);

/* Open a store at path, failing the test unless TK_OK. */
es_store *st_open(const char *path, bool create, const char *cluster_id);

/* Deterministic event bytes for index: 1 to 200 bytes, written to buf (LED_EVENT_BYTES_MAX). */
size_t st_event(uint64_t index, uint8_t *buf);

/* Append count events after meta->last_index in one es_write (test fails unless TK_OK), with
 * chain hashes computed by led_chain_next from meta->chain_hash; meta is updated. raft_index
 * is set to raft_index. */
void st_append(es_store *store, es_meta *meta, uint64_t count, uint64_t raft_index);

/* Check that event index holds st_event's bytes and the given hash. */
void st_expect_event(es_store *store, uint64_t index, const uint8_t hash[LED_HASH_BYTES]);

/* Fail the test unless text contains needle, printing both. With ST_SHOW set in the
 * environment, every text checked is printed, to review the error messages. */
void st_expect_text(const char *text, const char *needle);

/* The store's meta (es_meta_read), failing the test unless TK_OK. */
es_meta st_meta(es_store *store);

/* Fail the test unless every field of got equals want's. */
void st_expect_meta_equal(const es_meta *got, const es_meta *want);

/* ---- Raw RocksDB (storage_raw.c) ------------------------------------------------------------ */

#define RAW_FAMILIES_MAX 5

/* A database opened with RocksDB's C API directly, to make foreign stores or edit a store
 * behind storage's back. */
typedef struct raw_db {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_column_family_handle_t *families[RAW_FAMILIES_MAX];
    int count;
} raw_db;

enum { RAW_EVENTS = 1, RAW_STATE = 2, RAW_META = 3 }; /* family slots of raw_open_store */

/* Open (creating what is missing) a plain RocksDB with the named families; names[0] must be
 * "default". Fails the test on error. */
void raw_open(raw_db *raw, const char *path, const char *const *names, int count);

/* Open a closed store made by es_open as a plain RocksDB. */
void raw_open_store(raw_db *raw, const char *path);

void raw_put(raw_db *raw, int family, const void *key, size_t key_size, const void *value,
             size_t value_size);
void raw_delete(raw_db *raw, int family, const void *key, size_t key_size);
void raw_close(raw_db *raw);

/* value as 8 bytes big-endian: an events key. */
void st_be64(uint64_t value, uint8_t out[8]);

#endif /* TK_TESTS_STORAGE_STORAGE_TESTS_H */
