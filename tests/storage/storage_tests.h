/* The storage module's test groups and the helpers they share. */
#ifndef TK_TESTS_STORAGE_STORAGE_TESTS_H
#define TK_TESTS_STORAGE_STORAGE_TESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "es.h"

/* Each runs the cmocka group "storage/<name>" and returns the number of failed tests. */
int es_test_store(void);
int es_test_damage(void);
int es_test_snapshot(void);

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

#endif /* TK_TESTS_STORAGE_STORAGE_TESTS_H */
