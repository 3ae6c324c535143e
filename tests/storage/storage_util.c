/* Helpers shared by the storage test groups: temporary directories, deterministic events and
 * chained appends. */
#define _XOPEN_SOURCE 700 /* nftw */
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

#include "storage_tests.h"
#include "tk_test.h"

char *st_tmpdir(void)
{
    char *path = strdup("/tmp/troika-storage-XXXXXX");
    assert_non_null(path);
    if (mkdtemp(path) == NULL) fail_msg("mkdtemp failed");
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void st_tmpdir_remove(char *path)
{
    if (path == NULL) return;
    assert_true(strncmp(path, "/tmp/troika-storage-", strlen("/tmp/troika-storage-")) == 0);
    assert_int_equal(nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(path);
}

char *st_db_path(const char *dir)
{
    size_t size = strlen(dir) + sizeof("/db");
    char *path = malloc(size);
    assert_non_null(path);
    (void)snprintf(path, size, "%s/db", dir);
    return path;
}

es_store *st_open(const char *path, bool create, const char *cluster_id)
{
    es_opts opts = {
        .path = path, .create_if_missing = create, .sync = false, .cluster_id = cluster_id};
    es_store *store = NULL;
    es_error why = {{0}};
    tk_err err = es_open(&opts, &store, &why);
    if (err != TK_OK) fail_msg("es_open(%s): %s: %s", path, tk_err_name(err), why.text);
    assert_non_null(store);
    return store;
}

size_t st_event(uint64_t index, uint8_t *buf)
{
    size_t size = 1u + (size_t)((index * 7919u) % 200u);
    uint64_t x = index * 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    return size;
}

void st_append(es_store *store, es_meta *meta, uint64_t count, uint64_t raft_index)
{
    es_record *records = calloc(count == 0 ? 1 : count, sizeof(*records));
    uint8_t(*events)[LED_EVENT_BYTES_MAX] = calloc(count == 0 ? 1 : count, sizeof(*events));
    uint8_t(*hashes)[LED_HASH_BYTES] = calloc(count == 0 ? 1 : count, sizeof(*hashes));
    assert_non_null(records);
    assert_non_null(events);
    assert_non_null(hashes);
    uint8_t hash[LED_HASH_BYTES];
    memcpy(hash, meta->chain_hash, LED_HASH_BYTES);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t index = meta->last_index + 1u + i;
        size_t size = st_event(index, events[i]);
        led_chain_next(hash, index, events[i], size, hash);
        memcpy(hashes[i], hash, LED_HASH_BYTES);
        records[i] = (es_record){index, events[i], size, hashes[i]};
    }
    es_meta next = *meta;
    next.last_index += count;
    memcpy(next.chain_hash, hash, LED_HASH_BYTES);
    next.raft_index = raft_index;
    es_error why = {{0}};
    tk_err err = es_write(store, records, count, &next, NULL, &why);
    if (err != TK_OK) fail_msg("es_write: %s: %s", tk_err_name(err), why.text);
    *meta = next;
    free(hashes);
    free(events);
    free(records);
}

void st_expect_event(es_store *store, uint64_t index, const uint8_t hash[LED_HASH_BYTES])
{
    uint8_t want[LED_EVENT_BYTES_MAX];
    size_t want_size = st_event(index, want);
    uint8_t got[LED_EVENT_BYTES_MAX];
    size_t got_size = 0;
    uint8_t got_hash[LED_HASH_BYTES];
    es_error why = {{0}};
    tk_err err = es_event_read(store, index, got, sizeof(got), &got_size, got_hash, &why);
    if (err != TK_OK)
        fail_msg("es_event_read(%llu): %s: %s", (unsigned long long)index, tk_err_name(err),
                 why.text);
    assert_int_equal(got_size, want_size);
    assert_memory_equal(got, want, want_size);
    assert_memory_equal(got_hash, hash, LED_HASH_BYTES);
}

void st_expect_text(const char *text, const char *needle)
{
    if (getenv("ST_SHOW") != NULL) fprintf(stderr, "why: %s\n", text);
    if (strstr(text, needle) == NULL) fail_msg("text \"%s\" lacks \"%s\"", text, needle);
}

es_meta st_meta(es_store *store)
{
    es_meta meta;
    es_error why = {{0}};
    tk_err err = es_meta_read(store, &meta, &why);
    if (err != TK_OK) fail_msg("es_meta_read: %s: %s", tk_err_name(err), why.text);
    return meta;
}

void st_expect_meta_equal(const es_meta *got, const es_meta *want)
{
    assert_int_equal(got->last_index, want->last_index);
    assert_memory_equal(got->chain_hash, want->chain_hash, LED_HASH_BYTES);
    assert_int_equal(got->raft_index, want->raft_index);
    assert_int_equal(got->base_index, want->base_index);
    assert_memory_equal(got->base_chain_hash, want->base_chain_hash, LED_HASH_BYTES);
    assert_int_equal(got->checkpoint_index, want->checkpoint_index);
}
