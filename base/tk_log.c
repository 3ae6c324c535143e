/* Structured logging: one JSON object per line, encoded by jansson, written with one write(2)
 * under a mutex so that lines from different threads never interleave. Level checks take no
 * lock: the default threshold is an atomic, and the table of module overrides is read under a
 * sequence lock (H.-J. Boehm, "Can Seqlocks Get Along With Programming Language Memory
 * Models?", MSPC 2012), its names held as atomic 64-bit words so that a reader racing a writer
 * sees torn values, never undefined behaviour, and retries. Writers are rare (a level change)
 * and hold the mutex. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tk.h"

/* A module name packed, NUL-padded, into 64-bit words and compared word by word. */
#define NAME_WORDS     ((TK_LOG_MODULE_NAME_BYTES_MAX + 1u + 7u) / 8u)
#define SEQ_READ_TRIES 64u /* optimistic reads before a reader falls back to the mutex */

typedef struct module_level {
    _Atomic uint64_t name[NAME_WORDS];
    _Atomic int level; /* a tk_log_level */
} module_level;

static struct {
    pthread_mutex_t lock; /* serialises writes, target changes and module table changes */
    int fd;               /* under lock: STDERR_FILENO or an owned file */
    _Atomic(const tk_clock *) clock;
    _Atomic int default_level;
    _Atomic uint32_t seq;          /* odd while a writer changes the module table */
    _Atomic uint32_t module_count; /* entries in use, each a module with its own level */
    _Atomic uint64_t write_errors;
    module_level modules[TK_LOG_MODULES_MAX];
} logger = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .fd = STDERR_FILENO,
    .clock = NULL, /* the system clock until tk_log_open */
    .default_level = TK_LOG_INFO,
};

static const char *const level_names[] = {
    [TK_LOG_DEBUG] = "debug", [TK_LOG_INFO] = "info", [TK_LOG_WARN] = "warn",
    [TK_LOG_ERROR] = "error", [TK_LOG_OFF] = "off",
};

static bool level_is_valid(tk_log_level level)
{
    return (unsigned)level <= (unsigned)TK_LOG_OFF;
}

const char *tk_log_level_name(tk_log_level level)
{
    if (!level_is_valid(level)) return "?";
    return level_names[level];
}

tk_err tk_log_level_parse(const char *text, tk_log_level *out_level)
{
    TK_ASSERT(text != NULL);
    TK_ASSERT(out_level != NULL);
    for (int level = TK_LOG_DEBUG; level <= TK_LOG_OFF; level++) {
        if (strcasecmp(text, level_names[level]) == 0) {
            *out_level = (tk_log_level)level;
            return TK_OK;
        }
    }
    return TK_EINVAL;
}

/* Pack module into NUL-padded words; false when it is too long to have an entry. */
static bool name_pack(const char *module, uint64_t out_words[NAME_WORDS])
{
    size_t size = strnlen(module, TK_LOG_MODULE_NAME_BYTES_MAX + 1u);
    if (size > TK_LOG_MODULE_NAME_BYTES_MAX) return false;
    char bytes[NAME_WORDS * 8u] = {0};
    memcpy(bytes, module, size);
    memcpy(out_words, bytes, sizeof(bytes));
    return true;
}

/* Index of the entry named words among the first count, or count when there is none.
 * relaxed loads: a torn read is caught by the sequence check, or excluded by the lock. */
static uint32_t module_index(const uint64_t words[NAME_WORDS], uint32_t count)
{
    TK_ASSERT(count <= TK_LOG_MODULES_MAX);
    for (uint32_t i = 0; i < count; i++) {
        bool same = true;
        for (uint32_t w = 0; w < NAME_WORDS && same; w++) {
            uint64_t word = atomic_load_explicit(&logger.modules[i].name[w], memory_order_relaxed);
            same = word == words[w];
        }
        if (same) return i;
    }
    return count;
}

/* The module's own threshold, or -1 when it follows the default: one scan of the table. */
static int module_level_scan(const uint64_t words[NAME_WORDS])
{
    uint32_t count = atomic_load_explicit(&logger.module_count, memory_order_relaxed);
    TK_ASSERT(count <= TK_LOG_MODULES_MAX); /* writers never store more */
    uint32_t index = module_index(words, count);
    if (index == count) return -1;
    return atomic_load_explicit(&logger.modules[index].level, memory_order_relaxed);
}

/* Read the module's threshold under the sequence lock; after SEQ_READ_TRIES collisions with a
 * writer, under the mutex (writers hold it, so this always ends). */
static int module_level_read(const uint64_t words[NAME_WORDS])
{
    for (uint32_t tries = 0; tries < SEQ_READ_TRIES; tries++) {
        /* acquire: the scan's loads may not move above the first sequence load */
        uint32_t before = atomic_load_explicit(&logger.seq, memory_order_acquire);
        if ((before & 1u) != 0) continue; /* a writer is in the table */
        int level = module_level_scan(words);
        /* acquire fence: the scan's loads complete before the second sequence load */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&logger.seq, memory_order_relaxed) == before) return level;
    }
    pthread_mutex_lock(&logger.lock);
    int level = module_level_scan(words);
    pthread_mutex_unlock(&logger.lock);
    return level;
}

bool tk_log_enabled(tk_log_level level, const char *module)
{
    if (!level_is_valid(level) || level == TK_LOG_OFF) return false;
    /* relaxed: a threshold is one value; a change may take effect a line late */
    int threshold = atomic_load_explicit(&logger.default_level, memory_order_relaxed);
    uint64_t words[NAME_WORDS];
    if (module != NULL && name_pack(module, words)) {
        int own = module_level_read(words);
        if (own >= 0) threshold = own;
    }
    return (int)level >= threshold;
}

/* Module names: 1 to TK_LOG_MODULE_NAME_BYTES_MAX of [A-Za-z0-9_.-]. */
static bool module_name_is_valid(const char *name, size_t size_bytes)
{
    if (size_bytes == 0 || size_bytes > TK_LOG_MODULE_NAME_BYTES_MAX) return false;
    for (size_t i = 0; i < size_bytes; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

/* Enter a writer's section of the module table. Caller holds the lock. */
static void table_write_begin(void)
{
    uint32_t seq = atomic_load_explicit(&logger.seq, memory_order_relaxed);
    TK_ASSERT((seq & 1u) == 0);
    atomic_store_explicit(&logger.seq, seq + 1u, memory_order_relaxed);
    /* release fence: a reader that sees any table store below also sees the odd sequence */
    atomic_thread_fence(memory_order_release);
}

/* Leave a writer's section. Caller holds the lock. */
static void table_write_end(void)
{
    uint32_t seq = atomic_load_explicit(&logger.seq, memory_order_relaxed);
    TK_ASSERT((seq & 1u) == 1);
    /* release: the table stores are visible before readers see the even sequence */
    atomic_store_explicit(&logger.seq, seq + 1u, memory_order_release);
}

/* Write entry index. Caller holds the lock, inside a writer's section. */
static void entry_store(uint32_t index, const uint64_t words[NAME_WORDS], int level)
{
    TK_ASSERT(index < TK_LOG_MODULES_MAX);
    for (uint32_t w = 0; w < NAME_WORDS; w++) {
        atomic_store_explicit(&logger.modules[index].name[w], words[w], memory_order_relaxed);
    }
    atomic_store_explicit(&logger.modules[index].level, level, memory_order_relaxed);
}

/* Replace the whole table with count entries (names packed by name_pack). Caller holds the
 * lock. */
static void table_replace_locked(const uint64_t (*words)[NAME_WORDS], const tk_log_level *levels,
                                 uint32_t count)
{
    TK_ASSERT(count <= TK_LOG_MODULES_MAX);
    if (count > 0) TK_ASSERT(words != NULL && levels != NULL);
    table_write_begin();
    for (uint32_t i = 0; i < count; i++) {
        entry_store(i, words[i], (int)levels[i]);
    }
    atomic_store_explicit(&logger.module_count, count, memory_order_relaxed);
    table_write_end();
}

tk_err tk_log_set_level(const char *module, tk_log_level level)
{
    if (!level_is_valid(level)) return TK_EINVAL;
    if (module == NULL) {
        atomic_store_explicit(&logger.default_level, (int)level, memory_order_relaxed);
        return TK_OK;
    }
    uint64_t words[NAME_WORDS];
    if (!module_name_is_valid(module, strlen(module))) return TK_EINVAL;
    bool packed = name_pack(module, words);
    TK_ASSERT(packed); /* a valid name fits */
    pthread_mutex_lock(&logger.lock);
    uint32_t count = atomic_load_explicit(&logger.module_count, memory_order_relaxed);
    uint32_t index = module_index(words, count);
    if (index == TK_LOG_MODULES_MAX) {
        pthread_mutex_unlock(&logger.lock);
        return TK_EFULL;
    }
    table_write_begin();
    entry_store(index, words, (int)level);
    if (index == count) {
        atomic_store_explicit(&logger.module_count, count + 1u, memory_order_relaxed);
    }
    table_write_end();
    pthread_mutex_unlock(&logger.lock);
    return TK_OK;
}

/* A parsed level spec: the default and up to TK_LOG_MODULES_MAX module overrides. */
typedef struct level_spec {
    tk_log_level default_level;
    bool has_default;
    uint32_t count;
    uint64_t names[TK_LOG_MODULES_MAX][NAME_WORDS]; /* packed by name_pack */
    tk_log_level levels[TK_LOG_MODULES_MAX];
} level_spec;

static void why_set(char *why, size_t why_size, const char *spec, size_t offset, size_t size,
                    const char *problem)
{
    if (why == NULL || why_size == 0) return;
    snprintf(why, why_size, "log level spec: %s at byte %zu: \"%.*s\"", problem, offset,
             (int)(size > 64 ? 64 : size), spec + offset);
}

/* Parse one level word of size bytes (not NUL-terminated). */
static tk_err level_parse_n(const char *text, size_t size_bytes, tk_log_level *out_level)
{
    char word[8];
    if (size_bytes == 0 || size_bytes >= sizeof(word)) return TK_EINVAL;
    memcpy(word, text, size_bytes);
    word[size_bytes] = '\0';
    return tk_log_level_parse(word, out_level);
}

/* Parse one comma-free part "level" or "module=level" at spec + offset into parsed. */
static tk_err spec_part_parse(const char *spec, size_t offset, size_t size, level_spec *parsed,
                              char *why, size_t why_size)
{
    const char *part = spec + offset;
    const char *eq = memchr(part, '=', size);
    tk_log_level level;
    if (eq == NULL) {
        if (level_parse_n(part, size, &level) != TK_OK) goto bad_level;
        if (parsed->has_default) goto twice;
        parsed->default_level = level;
        parsed->has_default = true;
        return TK_OK;
    }
    size_t name_size = (size_t)(eq - part);
    if (!module_name_is_valid(part, name_size)) {
        why_set(why, why_size, spec, offset, size, "bad module name");
        return TK_EINVAL;
    }
    if (level_parse_n(eq + 1, size - name_size - 1u, &level) != TK_OK) goto bad_level;
    char name[TK_LOG_MODULE_NAME_BYTES_MAX + 1u] = {0};
    memcpy(name, part, name_size);
    uint64_t words[NAME_WORDS];
    bool packed = name_pack(name, words);
    TK_ASSERT(packed); /* a valid name fits */
    for (uint32_t i = 0; i < parsed->count; i++) {
        if (memcmp(parsed->names[i], words, sizeof(words)) == 0) goto twice;
    }
    if (parsed->count == TK_LOG_MODULES_MAX) {
        why_set(why, why_size, spec, offset, size, "more modules than TK_LOG_MODULES_MAX");
        return TK_EFULL;
    }
    memcpy(parsed->names[parsed->count], words, sizeof(words));
    parsed->levels[parsed->count] = level;
    parsed->count++;
    return TK_OK;
bad_level:
    why_set(why, why_size, spec, offset, size,
            "unknown level (want debug, info, warn, error or off)");
    return TK_EINVAL;
twice:
    why_set(why, why_size, spec, offset, size, "set twice");
    return TK_EINVAL;
}

static tk_err spec_parse(const char *spec, level_spec *parsed, char *why, size_t why_size)
{
    size_t length = strlen(spec);
    if (length == 0) {
        why_set(why, why_size, spec, 0, 0, "empty spec");
        return TK_EINVAL;
    }
    size_t start = 0;
    /* One part per comma; the bound is the spec's length (STYLE.md section 8). */
    for (size_t guard = 0; guard <= length; guard++) {
        const char *comma = memchr(spec + start, ',', length - start);
        size_t end = comma != NULL ? (size_t)(comma - spec) : length;
        if (end == start) {
            why_set(why, why_size, spec, start, 0, "empty part");
            return TK_EINVAL;
        }
        tk_err err = spec_part_parse(spec, start, end - start, parsed, why, why_size);
        if (err != TK_OK) return err;
        if (comma == NULL) return TK_OK;
        start = end + 1u;
    }
    TK_ASSERT(false); /* every iteration consumes at least one byte */
    return TK_EINVAL;
}

tk_err tk_log_set_levels(const char *spec, char *why, size_t why_size)
{
    TK_ASSERT(spec != NULL);
    level_spec parsed = {.default_level = TK_LOG_INFO};
    tk_err err = spec_parse(spec, &parsed, why, why_size);
    if (err != TK_OK) return err;

    pthread_mutex_lock(&logger.lock);
    table_replace_locked((const uint64_t(*)[NAME_WORDS])parsed.names, parsed.levels, parsed.count);
    atomic_store_explicit(&logger.default_level, (int)parsed.default_level, memory_order_relaxed);
    pthread_mutex_unlock(&logger.lock);
    return TK_OK;
}

tk_err tk_log_open(const tk_log_opts *opts)
{
    TK_ASSERT(opts != NULL);
    TK_ASSERT(opts->clock != NULL);
    if (!level_is_valid(opts->level)) return TK_EINVAL;
    int fd = STDERR_FILENO;
    if (opts->path != NULL) {
        fd = open(opts->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) return tk_err_from_errno(errno);
    }
    pthread_mutex_lock(&logger.lock);
    int old_fd = logger.fd;
    logger.fd = fd;
    atomic_store_explicit(&logger.clock, opts->clock, memory_order_release);
    atomic_store_explicit(&logger.default_level, (int)opts->level, memory_order_relaxed);
    table_replace_locked(NULL, NULL, 0);
    pthread_mutex_unlock(&logger.lock);
    if (old_fd != STDERR_FILENO) close(old_fd);
    return TK_OK;
}

void tk_log_close(void)
{
    pthread_mutex_lock(&logger.lock);
    int old_fd = logger.fd;
    logger.fd = STDERR_FILENO;
    pthread_mutex_unlock(&logger.lock);
    if (old_fd != STDERR_FILENO) close(old_fd);
}

uint64_t tk_log_write_errors(void)
{
    return atomic_load_explicit(&logger.write_errors, memory_order_relaxed);
}

/* RFC 3339 UTC with microseconds: "2026-11-21T15:00:00.123456Z". */
static void format_ts(int64_t wall_ns, char *out, size_t out_size)
{
    int64_t seconds = wall_ns / 1000000000;
    int64_t nanos = wall_ns % 1000000000;
    if (nanos < 0) { /* floor division for instants before 1970 */
        seconds -= 1;
        nanos += 1000000000;
    }
    time_t t = (time_t)seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, out_size, "@%" PRId64 "ns", wall_ns);
        return;
    }
    char date[32];
    size_t n = strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    TK_ASSERT(n > 0);
    snprintf(out, out_size, "%s.%06dZ", date, (int)(nanos / 1000));
}

/* A JSON string of text: exact when text is valid UTF-8, otherwise with every byte outside
 * ASCII replaced by '?'. NULL text gives JSON null. Returns NULL only when out of memory. */
static json_t *json_text(const char *text)
{
    if (text == NULL) return json_null();
    json_t *value = json_string(text);
    if (value != NULL) return value;
    size_t size = strlen(text);
    char *ascii = malloc(size + 1u);
    if (ascii == NULL) return NULL;
    for (size_t i = 0; i <= size; i++) {
        ascii[i] = (unsigned char)text[i] < 0x80u ? text[i] : '?';
    }
    value = json_stringn(ascii, size);
    free(ascii);
    return value;
}

static json_t *field_value(const tk_log_field *field)
{
    switch (field->kind) {
    case TK_LOG_KIND_STR:
        return json_text(field->v.str);
    case TK_LOG_KIND_I64:
        return json_integer((json_int_t)field->v.i64);
    case TK_LOG_KIND_U64: {
        if (field->v.u64 <= (uint64_t)INT64_MAX) return json_integer((json_int_t)field->v.u64);
        char digits[24];
        snprintf(digits, sizeof(digits), "%" PRIu64, field->v.u64);
        return json_string(digits);
    }
    case TK_LOG_KIND_F64:
        if (isnan(field->v.f64)) return json_string("nan");
        if (isinf(field->v.f64)) return json_string(field->v.f64 > 0 ? "inf" : "-inf");
        return json_real(field->v.f64);
    case TK_LOG_KIND_BOOL:
        return json_boolean(field->v.b);
    }
    TK_ASSERT(false); /* kind outside the enum: a corrupt field */
    return NULL;
}

static bool key_is_reserved(const char *key)
{
    return strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 || strcmp(key, "module") == 0 ||
           strcmp(key, "msg") == 0;
}

/* Add one field to line; false when it could not be (out of memory). The key is made valid
 * UTF-8 as values are, then renamed if it would hide a fixed key. */
static bool line_add_field(json_t *line, const tk_log_field *field)
{
    TK_ASSERT(field->key != NULL);
    json_t *key = json_text(field->key);
    if (key == NULL) return false;
    const char *safe_key = json_string_value(key);
    char renamed[8]; /* "_" + the longest reserved key */
    if (key_is_reserved(safe_key)) {
        snprintf(renamed, sizeof(renamed), "_%s", safe_key);
        safe_key = renamed;
    }
    json_t *value = field_value(field);
    /* json_object_set_new takes value even when it fails (NULL value included). */
    bool added = json_object_set_new(line, safe_key, value) == 0;
    json_decref(key);
    return added;
}

/* Add the fields to line; returns how many could not be added (over the limit, or out of
 * memory). */
static size_t line_add_fields(json_t *line, const tk_log_field *fields, size_t field_count)
{
    size_t dropped = field_count > TK_LOG_FIELDS_MAX ? field_count - TK_LOG_FIELDS_MAX : 0;
    size_t kept = field_count - dropped;
    for (size_t i = 0; i < kept; i++) {
        if (!line_add_field(line, &fields[i])) dropped++;
    }
    return dropped;
}

/* Build the line's JSON object; NULL when out of memory. */
static json_t *line_build(tk_log_level level, const char *module, const char *msg,
                          const tk_log_field *fields, size_t field_count)
{
    const tk_clock *clock = atomic_load_explicit(&logger.clock, memory_order_acquire);
    char ts[48];
    format_ts(tk_clock_wall_ns(clock != NULL ? clock : tk_clock_system()), ts, sizeof(ts));
    json_t *line = json_object();
    if (line == NULL) return NULL;
    int rc = json_object_set_new(line, "ts", json_string(ts));
    rc |= json_object_set_new(line, "level", json_string(level_names[level]));
    rc |= json_object_set_new(line, "module", json_text(module));
    rc |= json_object_set_new(line, "msg", json_text(msg));
    if (rc != 0) {
        json_decref(line);
        return NULL;
    }
    size_t dropped = line_add_fields(line, fields, field_count);
    if (dropped > 0) {
        /* Best effort: the line is still written if this last key cannot be added. */
        (void)json_object_set_new(line, "fields_dropped", json_integer((json_int_t)dropped));
    }
    return line;
}

/* Write all of buf to the current target, under the lock. */
static void line_write(const char *buf, size_t size_bytes)
{
    pthread_mutex_lock(&logger.lock);
    bool failed = false;
    /* A regular file or pipe takes the line in one call; the loop covers signals and the
     * rare short write, bounded by the line's size. */
    for (size_t guard = 0; size_bytes > 0 && guard <= size_bytes; guard++) {
        ssize_t n = write(logger.fd, buf, size_bytes);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            failed = true;
            break;
        }
        buf += n;
        size_bytes -= (size_t)n;
    }
    pthread_mutex_unlock(&logger.lock);
    if (failed || size_bytes > 0) {
        atomic_fetch_add_explicit(&logger.write_errors, 1, memory_order_relaxed);
    }
}

void tk_log_emit(tk_log_level level, const char *module, const char *msg,
                 const tk_log_field *fields, size_t field_count)
{
    TK_ASSERT(level_is_valid(level) && level != TK_LOG_OFF);
    TK_ASSERT(module != NULL);
    TK_ASSERT(msg != NULL);
    if (field_count > 0) TK_ASSERT(fields != NULL);
    if (!tk_log_enabled(level, module)) return;

    json_t *line = line_build(level, module, msg, fields, field_count);
    if (line == NULL) {
        atomic_fetch_add_explicit(&logger.write_errors, 1, memory_order_relaxed);
        return;
    }
    char stack_buf[TK_LOG_LINE_BYTES_MAX];
    char *buf = stack_buf;
    /* json_dumpb returns the full size even when it does not fit; then render again on the
     * heap (logging is never on a hot path). One byte stays free for the newline. */
    size_t size = json_dumpb(line, stack_buf, sizeof(stack_buf) - 1u, JSON_COMPACT);
    if (size >= sizeof(stack_buf) - 1u) {
        buf = malloc(size + 1u);
        if (buf != NULL) size = json_dumpb(line, buf, size, JSON_COMPACT);
    }
    json_decref(line);
    if (buf == NULL || size == 0) {
        atomic_fetch_add_explicit(&logger.write_errors, 1, memory_order_relaxed);
        return;
    }
    buf[size] = '\n';
    line_write(buf, size + 1u);
    if (buf != stack_buf) free(buf);
}
