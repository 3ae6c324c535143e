/* Raw RocksDB access for the tests: a store opened behind storage's back, to damage or edit
 * it (tests/storage/storage_raw.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include "storage_tests.h"

/* Open (creating what is missing) a plain RocksDB with the named families; names[0] must be
 * "default". */
void raw_open(raw_db *raw, const char *path, const char *const *names, int count)
{
    assert_true(count <= RAW_FAMILIES_MAX);
    raw->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(raw->options, 1);
    rocksdb_options_set_create_missing_column_families(raw->options, 1);
    const rocksdb_options_t *family_options[RAW_FAMILIES_MAX];
    for (int i = 0; i < count; i++) {
        family_options[i] = raw->options;
    }
    char *msg = NULL;
    raw->db = rocksdb_open_column_families(raw->options, path, count, names, family_options,
                                           raw->families, &msg);
    if (msg != NULL) fail_msg("raw open %s: %s", path, msg);
    raw->count = count;
}

static const char *const store_families[] = {"default", "events", "state", "meta"};

/* Open a store made by es_open as a plain RocksDB, to edit it behind storage's back. */
void raw_open_store(raw_db *raw, const char *path)
{
    raw_open(raw, path, store_families, 4);
}

void raw_put(raw_db *raw, int family, const void *key, size_t key_size, const void *value,
             size_t value_size)
{
    rocksdb_writeoptions_t *write = rocksdb_writeoptions_create();
    char *msg = NULL;
    rocksdb_put_cf(raw->db, write, raw->families[family], key, key_size, value, value_size, &msg);
    rocksdb_writeoptions_destroy(write);
    if (msg != NULL) fail_msg("raw put: %s", msg);
}

void raw_delete(raw_db *raw, int family, const void *key, size_t key_size)
{
    rocksdb_writeoptions_t *write = rocksdb_writeoptions_create();
    char *msg = NULL;
    rocksdb_delete_cf(raw->db, write, raw->families[family], key, key_size, &msg);
    rocksdb_writeoptions_destroy(write);
    if (msg != NULL) fail_msg("raw delete: %s", msg);
}

void raw_close(raw_db *raw)
{
    for (int i = 0; i < raw->count; i++) {
        rocksdb_column_family_handle_destroy(raw->families[i]);
    }
    rocksdb_close(raw->db);
    rocksdb_options_destroy(raw->options);
}

void st_be64(uint64_t value, uint8_t out[8])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (56 - 8 * i));
    }
}
