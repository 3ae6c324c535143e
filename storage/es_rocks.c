/* The RocksDB backend of the storage module (es__kv_ops over the RocksDB 7 C API). This is the
 * only file of troika that includes <rocksdb/c.h>.
 *
 * One database per store, with RocksDB's mandatory "default" family (unused) and the families
 * of es__family. Reads verify block checksums; the database is opened with paranoid checks and
 * a write-ahead log recovery that tolerates only a torn last record (the one write a crash can
 * cut short): corruption anywhere else stops the open with an error instead of silently
 * dropping the records after it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>

#include "es_internal.h"

#define ROCKS_FAMILIES             (ES__FAMILY_COUNT + 1u) /* "default" first, then ours */
#define ROCKS_SCAN_READAHEAD_BYTES (2u * 1024u * 1024u)
#define ROCKS_INFO_LOG_FILES_MAX   4u
#define ROCKS_INFO_LOG_BYTES_MAX   (8u * 1024u * 1024u)

struct es__kv {
    rocksdb_t *db;                                            /* owned */
    rocksdb_options_t *options;                               /* owned */
    rocksdb_column_family_handle_t *families[ROCKS_FAMILIES]; /* owned; [0] is "default" */
    rocksdb_readoptions_t *read_point;                        /* owned: checksums, cache fill */
    rocksdb_readoptions_t *read_scan;                         /* owned: checksums, readahead */
    rocksdb_writeoptions_t *write;                            /* owned: sync as asked */
    char *path;                                               /* owned: for messages */
};

struct es__kv_batch {
    es__kv *kv;               /* borrowed: outlives the batch */
    rocksdb_writebatch_t *wb; /* owned */
};

struct es__kv_iter {
    es__kv *kv;             /* borrowed: outlives the iterator */
    rocksdb_iterator_t *it; /* owned */
    es__family family;
    bool last;    /* going backwards from the last key */
    bool started; /* the first es__kv_ops.iter_next has returned */
};

static const char *family_rocks_name(unsigned slot)
{
    TK_ASSERT(slot < ROCKS_FAMILIES);
    if (slot == 0) return "default";
    return es__family_name((es__family)(slot - 1u));
}

static rocksdb_column_family_handle_t *family_handle(const es__kv *kv, es__family family)
{
    TK_ASSERT((unsigned)family < ES__FAMILY_COUNT);
    rocksdb_column_family_handle_t *handle = kv->families[(unsigned)family + 1u];
    TK_ASSERT(handle != NULL);
    return handle;
}

/* Map RocksDB's status text (owned by RocksDB's malloc; freed here) to a tk_err and a message
 * "PATH: OP[ in family F]: RocksDB: TEXT[hint]". While opening an existing database, a file it
 * names that is not there (a MANIFEST named by CURRENT, a table named by the MANIFEST) is
 * damage, not an I/O error: opening ops pass opening = true. */
static tk_err rocks_fail(es_error *why, char *msg, const char *path, const char *op,
                         const char *family, bool opening)
{
    TK_ASSERT(msg != NULL);
    TK_ASSERT(op != NULL);
    tk_err err = TK_EIO;
    const char *hint = "";
    if (strncmp(msg, "Corruption", strlen("Corruption")) == 0) err = TK_ECORRUPT;
    if (opening && strstr(msg, "No such file or directory") != NULL) {
        err = TK_ECORRUPT;
        hint = " (a file the database refers to is missing)";
    }
    if (strstr(msg, "No space left") != NULL) err = TK_ENOSPC;
    if (strstr(msg, "/LOCK") != NULL || strstr(msg, "lock hold") != NULL) {
        hint = " (the store is locked: another process or handle has it open)";
    }
    (void)es__fail(why, err, "%s: %s%s%s: RocksDB: %s%s", path, op,
                   family == NULL ? "" : " in family ", family == NULL ? "" : family, msg, hint);
    rocksdb_free(msg);
    return err;
}

/* A name RocksDB gives its data files: a MANIFEST, a table (.sst) or a write-ahead log (.log;
 * the info log is "LOG", which does not match). */
static bool is_rocks_data_file(const char *name)
{
    TK_ASSERT(name != NULL);
    size_t len = strlen(name);
    if (strncmp(name, "MANIFEST-", strlen("MANIFEST-")) == 0) return true;
    if (len > 4u && strcmp(name + len - 4u, ".sst") == 0) return true;
    return len > 4u && strcmp(name + len - 4u, ".log") == 0;
}

/* A directory without CURRENT holds no database, unless RocksDB's data files are there: then
 * it is a database that lost its CURRENT, and creating a new one over it would hide that. */
static tk_err probe_without_current(const char *path, es_error *why)
{
    TK_ASSERT(path != NULL);
    DIR *dir = opendir(path);
    if (dir == NULL) return TK_OK; /* no directory (or unreadable: RocksDB will say) */
    tk_err err = TK_OK;
    for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
        if (is_rocks_data_file(entry->d_name)) {
            err = es__fail(why, TK_ECORRUPT,
                           "%s: holds RocksDB files (%s) but no CURRENT file: a damaged "
                           "database, not opened and not overwritten",
                           path, entry->d_name);
            break;
        }
    }
    (void)closedir(dir);
    TK_ASSERT(err == TK_OK || err == TK_ECORRUPT);
    return err;
}

/* Whether a database exists at path: RocksDB's CURRENT file names its live MANIFEST. */
static tk_err probe_database(const char *path, bool *out_exists, es_error *why)
{
    TK_ASSERT(path != NULL);
    TK_ASSERT(out_exists != NULL);
    size_t size = strlen(path) + sizeof("/CURRENT");
    char *current = malloc(size);
    if (current == NULL) return es__fail(why, TK_ENOMEM, "%s: out of memory", path);
    (void)snprintf(current, size, "%s/CURRENT", path);
    struct stat st;
    int rc = stat(current, &st);
    int errnum = errno;
    free(current);
    if (rc == 0) {
        *out_exists = true;
        return TK_OK;
    }
    if (errnum != ENOENT && errnum != ENOTDIR) {
        return es__fail(why, TK_EIO, "%s: cannot stat CURRENT: %s", path, strerror(errnum));
    }
    *out_exists = false;
    return probe_without_current(path, why);
}

static rocksdb_options_t *options_make(bool create)
{
    rocksdb_options_t *options = rocksdb_options_create();
    TK_ASSERT(options != NULL); /* RocksDB aborts on allocation failure rather than return */
    TK_ASSERT(ROCKS_INFO_LOG_FILES_MAX >= 1u);
    unsigned char create_flag = create ? 1u : 0u;
    rocksdb_options_set_create_if_missing(options, create_flag);
    rocksdb_options_set_create_missing_column_families(options, create_flag);
    /* not error_if_exists: RocksDB persists it in the OPTIONS file, where it would stop tools
     * such as ldb from opening the store; probe_database has already looked for CURRENT */
    rocksdb_options_set_paranoid_checks(options, 1u);
    rocksdb_options_set_wal_recovery_mode(options,
                                          rocksdb_tolerate_corrupted_tail_records_recovery);
    rocksdb_options_set_keep_log_file_num(options, ROCKS_INFO_LOG_FILES_MAX);
    rocksdb_options_set_max_log_file_size(options, ROCKS_INFO_LOG_BYTES_MAX);
    return options;
}

/* An existing database must have exactly our families: anything else is not a troika store. */
static tk_err families_check(const es__kv *kv, es_error *why)
{
    TK_ASSERT(kv->options != NULL);
    TK_ASSERT(kv->path != NULL);
    char *msg = NULL;
    size_t count = 0;
    char **names = rocksdb_list_column_families(kv->options, kv->path, &count, &msg);
    if (msg != NULL) {
        rocksdb_list_column_families_destroy(names, count); /* allocated even on error */
        return rocks_fail(why, msg, kv->path, "listing column families", NULL, true);
    }
    bool seen[ROCKS_FAMILIES] = {false};
    tk_err err = TK_OK;
    for (size_t i = 0; i < count && err == TK_OK; i++) {
        unsigned slot = 0;
        while (slot < ROCKS_FAMILIES && strcmp(names[i], family_rocks_name(slot)) != 0) {
            slot++;
        }
        if (slot == ROCKS_FAMILIES) {
            err = es__fail(why, TK_ECORRUPT,
                           "%s: foreign database: column family '%s' is not one of a troika "
                           "store (events, state, meta)",
                           kv->path, names[i]);
        } else {
            seen[slot] = true;
        }
    }
    for (unsigned slot = 0; slot < ROCKS_FAMILIES && err == TK_OK; slot++) {
        if (!seen[slot]) {
            err = es__fail(why, TK_ECORRUPT,
                           "%s: foreign database: no column family '%s' (not a troika store)",
                           kv->path, family_rocks_name(slot));
        }
    }
    rocksdb_list_column_families_destroy(names, count);
    return err;
}

static tk_err db_open(es__kv *kv, bool sync, es_error *why)
{
    TK_ASSERT(kv->db == NULL);
    TK_ASSERT(kv->options != NULL);
    const char *names[ROCKS_FAMILIES];
    const rocksdb_options_t *family_options[ROCKS_FAMILIES];
    for (unsigned slot = 0; slot < ROCKS_FAMILIES; slot++) {
        names[slot] = family_rocks_name(slot);
        family_options[slot] = kv->options;
    }
    char *msg = NULL;
    kv->db = rocksdb_open_column_families(kv->options, kv->path, (int)ROCKS_FAMILIES, names,
                                          family_options, kv->families, &msg);
    if (msg != NULL) {
        kv->db = NULL;
        for (unsigned slot = 0; slot < ROCKS_FAMILIES; slot++) {
            kv->families[slot] = NULL; /* not set by a failed open */
        }
        return rocks_fail(why, msg, kv->path, "open", NULL, true);
    }
    TK_ASSERT(kv->db != NULL);
    kv->read_point = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(kv->read_point, 1u);
    kv->read_scan = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(kv->read_scan, 1u);
    rocksdb_readoptions_set_fill_cache(kv->read_scan, 0u);
    rocksdb_readoptions_set_readahead_size(kv->read_scan, ROCKS_SCAN_READAHEAD_BYTES);
    kv->write = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(kv->write, sync ? 1u : 0u);
    return TK_OK;
}

static void rocks_close(es__kv *kv)
{
    if (kv == NULL) return;
    if (kv->db != NULL) TK_ASSERT(kv->families[0] != NULL); /* an open database has handles */
    if (kv->db == NULL) TK_ASSERT(kv->families[0] == NULL);
    for (unsigned slot = 0; slot < ROCKS_FAMILIES; slot++) {
        /* handles go before the database they belong to */
        if (kv->families[slot] != NULL) rocksdb_column_family_handle_destroy(kv->families[slot]);
    }
    if (kv->db != NULL) rocksdb_close(kv->db);
    if (kv->write != NULL) rocksdb_writeoptions_destroy(kv->write);
    if (kv->read_scan != NULL) rocksdb_readoptions_destroy(kv->read_scan);
    if (kv->read_point != NULL) rocksdb_readoptions_destroy(kv->read_point);
    if (kv->options != NULL) rocksdb_options_destroy(kv->options);
    free(kv->path);
    free(kv);
}

static tk_err rocks_open(const es__kv_opts *opts, es__kv **out_kv, es_error *why)
{
    TK_ASSERT(opts != NULL);
    TK_ASSERT(opts->path != NULL);
    TK_ASSERT(out_kv != NULL);
    bool exists = false;
    tk_err err = probe_database(opts->path, &exists, why);
    if (err != TK_OK) return err;
    if (!exists && !opts->create_if_missing) {
        return es__fail(why, TK_ENOENT, "%s: no database here (no CURRENT file)", opts->path);
    }
    es__kv *kv = calloc(1, sizeof(*kv));
    if (kv == NULL) return es__fail(why, TK_ENOMEM, "%s: out of memory", opts->path);
    kv->path = strdup(opts->path);
    if (kv->path == NULL) {
        err = es__fail(why, TK_ENOMEM, "%s: out of memory", opts->path);
        goto fail;
    }
    kv->options = options_make(!exists);
    if (exists) {
        err = families_check(kv, why);
        if (err != TK_OK) goto fail;
    }
    err = db_open(kv, opts->sync, why);
    if (err != TK_OK) goto fail;
    *out_kv = kv;
    return TK_OK;
fail:
    rocks_close(kv);
    return err;
}

static tk_err rocks_get(es__kv *kv, es__family family, es__slice key, es_blob *out_value,
                        es_error *why)
{
    TK_ASSERT(kv != NULL);
    TK_ASSERT(out_value != NULL);
    char *msg = NULL;
    rocksdb_pinnableslice_t *pinned = rocksdb_get_pinned_cf(
        kv->db, kv->read_point, family_handle(kv, family), (const char *)key.data, key.size, &msg);
    if (msg != NULL) {
        rocksdb_pinnableslice_destroy(pinned); /* NULL-safe */
        return rocks_fail(why, msg, kv->path, "get", es__family_name(family), false);
    }
    if (pinned == NULL) return TK_ENOENT;
    size_t size = 0;
    const char *value = rocksdb_pinnableslice_value(pinned, &size);
    uint8_t *copy = NULL;
    if (size > 0) {
        copy = malloc(size);
        if (copy == NULL) {
            rocksdb_pinnableslice_destroy(pinned);
            return es__fail(why, TK_ENOMEM, "%s: get in family %s: out of memory (%zu bytes)",
                            kv->path, es__family_name(family), size);
        }
        memcpy(copy, value, size);
    }
    rocksdb_pinnableslice_destroy(pinned);
    out_value->data = copy;
    out_value->size = size;
    return TK_OK;
}

static tk_err rocks_batch_open(es__kv *kv, es__kv_batch **out_batch, es_error *why)
{
    TK_ASSERT(kv != NULL);
    TK_ASSERT(out_batch != NULL);
    es__kv_batch *batch = malloc(sizeof(*batch));
    if (batch == NULL) return es__fail(why, TK_ENOMEM, "%s: batch: out of memory", kv->path);
    batch->kv = kv;
    batch->wb = rocksdb_writebatch_create();
    TK_ASSERT(batch->wb != NULL); /* RocksDB aborts on allocation failure rather than return */
    *out_batch = batch;
    return TK_OK;
}

static void rocks_batch_put(es__kv_batch *batch, es__family family, es__slice key,
                            const es__slice *parts, size_t part_count)
{
    TK_ASSERT(batch != NULL);
    TK_ASSERT(part_count >= 1u && part_count <= 2u);
    const char *keys[1] = {(const char *)key.data};
    size_t key_sizes[1] = {key.size};
    const char *values[2] = {NULL, NULL};
    size_t value_sizes[2] = {0, 0};
    for (size_t i = 0; i < part_count; i++) {
        values[i] = (const char *)parts[i].data;
        value_sizes[i] = parts[i].size;
    }
    rocksdb_writebatch_putv_cf(batch->wb, family_handle(batch->kv, family), 1, keys, key_sizes,
                               (int)part_count, values, value_sizes);
}

static void rocks_batch_delete_range(es__kv_batch *batch, es__family family, es__slice begin,
                                     es__slice end)
{
    TK_ASSERT(batch != NULL);
    TK_ASSERT(end.size > 0);
    rocksdb_writebatch_delete_range_cf(batch->wb, family_handle(batch->kv, family),
                                       (const char *)begin.data, begin.size, (const char *)end.data,
                                       end.size);
}

static tk_err rocks_batch_commit(es__kv *kv, es__kv_batch *batch, es_error *why)
{
    TK_ASSERT(kv != NULL);
    TK_ASSERT(batch != NULL && batch->kv == kv);
    char *msg = NULL;
    rocksdb_write(kv->db, kv->write, batch->wb, &msg);
    if (msg != NULL) return rocks_fail(why, msg, kv->path, "write batch", NULL, false);
    return TK_OK;
}

static void rocks_batch_close(es__kv_batch *batch)
{
    if (batch == NULL) return;
    TK_ASSERT(batch->wb != NULL);
    rocksdb_writebatch_destroy(batch->wb);
    free(batch);
}

static tk_err rocks_iter_open(es__kv *kv, es__family family, const es__kv_iter_opts *opts,
                              es__kv_iter **out_iter, es_error *why)
{
    TK_ASSERT(kv != NULL);
    TK_ASSERT(opts != NULL);
    TK_ASSERT(out_iter != NULL);
    es__kv_iter *iter = malloc(sizeof(*iter));
    if (iter == NULL) return es__fail(why, TK_ENOMEM, "%s: iterator: out of memory", kv->path);
    iter->kv = kv;
    iter->family = family;
    iter->last = opts->last;
    iter->started = false;
    const rocksdb_readoptions_t *read = opts->scan ? kv->read_scan : kv->read_point;
    iter->it = rocksdb_create_iterator_cf(kv->db, read, family_handle(kv, family));
    TK_ASSERT(iter->it != NULL);
    if (opts->last) {
        rocksdb_iter_seek_to_last(iter->it);
    } else {
        rocksdb_iter_seek(iter->it, (const char *)opts->from.data, opts->from.size);
    }
    *out_iter = iter; /* a failed seek shows as an error from the first iter_next */
    return TK_OK;
}

static tk_err rocks_iter_next(es__kv_iter *iter, es__slice *out_key, es__slice *out_value,
                              es_error *why)
{
    TK_ASSERT(iter != NULL);
    TK_ASSERT(out_key != NULL && out_value != NULL);
    if (iter->started) {
        TK_ASSERT(rocksdb_iter_valid(iter->it)); /* not used after the end or an error */
        if (iter->last) {
            rocksdb_iter_prev(iter->it);
        } else {
            rocksdb_iter_next(iter->it);
        }
    }
    iter->started = true;
    if (!rocksdb_iter_valid(iter->it)) {
        char *msg = NULL;
        rocksdb_iter_get_error(iter->it, &msg);
        if (msg != NULL) {
            return rocks_fail(why, msg, iter->kv->path, "iterate", es__family_name(iter->family),
                              false);
        }
        return TK_ENOENT;
    }
    size_t key_size = 0;
    size_t value_size = 0;
    const char *key = rocksdb_iter_key(iter->it, &key_size);
    const char *value = rocksdb_iter_value(iter->it, &value_size);
    *out_key = (es__slice){.data = (const uint8_t *)key, .size = key_size};
    *out_value = (es__slice){.data = (const uint8_t *)value, .size = value_size};
    return TK_OK;
}

static void rocks_iter_close(es__kv_iter *iter)
{
    if (iter == NULL) return;
    TK_ASSERT(iter->it != NULL);
    rocksdb_iter_destroy(iter->it);
    free(iter);
}

static const es__kv_ops rocks_ops = {
    .open = rocks_open,
    .close = rocks_close,
    .get = rocks_get,
    .batch_open = rocks_batch_open,
    .batch_put = rocks_batch_put,
    .batch_delete_range = rocks_batch_delete_range,
    .batch_commit = rocks_batch_commit,
    .batch_close = rocks_batch_close,
    .iter_open = rocks_iter_open,
    .iter_next = rocks_iter_next,
    .iter_close = rocks_iter_close,
};

const es__kv_ops *es__rocks_ops(void)
{
    TK_ASSERT(rocks_ops.open != NULL);
    TK_ASSERT(rocks_ops.iter_close != NULL);
    return &rocks_ops;
}
