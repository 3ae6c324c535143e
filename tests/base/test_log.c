/* base/tk_log.c: JSON lines read back and parsed with jansson (timestamps, every field kind,
 * hostile strings, reserved keys, dropped fields, long lines), level thresholds and specs,
 * the module table's limit, reopening, stderr, write errors, and threads. */
#ifndef _POSIX_C_SOURCE /* the build defines it too (cmake/troika.cmake) */
#define _POSIX_C_SOURCE 200809L
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base_tests.h"
#include "tk.h"

/* 2026-11-21T15:00:00.123456789Z in ns since the epoch; checked with Python:
 * calendar.timegm((2026, 11, 21, 15, 0, 0)) * 10**9 + 123456789. */
#define TS_WALL_NS INT64_C(1795273200123456789)
#define TS_TEXT    "2026-11-21T15:00:00.123456Z"

#define LOG_PATH_BYTES 256u
#define EXPECT_MAX     64u

static struct log_fixture {
    char dir[64];
    char path[LOG_PATH_BYTES]; /* this test's log file */
    unsigned file_seq;
    tk_clock_manual clock;
    uint64_t write_errors_expected;
    char expect[EXPECT_MAX][48]; /* messages expected in the file, in order */
    size_t expect_count;
} fx;

static tk_err log_open_path(const char *path, tk_log_level level)
{
    tk_log_opts opts = {.path = path, .clock = &fx.clock.clock, .level = level};
    return tk_log_open(&opts);
}

static void fixture_path(char *out, const char *name)
{
    int n = snprintf(out, LOG_PATH_BYTES, "%s/%03u-%s", fx.dir, fx.file_seq, name);
    assert_true(n > 0 && (size_t)n < LOG_PATH_BYTES);
}

static int log_group_setup(void **state)
{
    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/tk_test_log_XXXXXX");
    if (mkdtemp(fx.dir) == NULL) return -1;
    fx.write_errors_expected = 0; /* nothing has failed to write in a normal run */
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *handle = opendir(dir);
    if (handle == NULL) return;
    for (struct dirent *entry = readdir(handle); entry != NULL; entry = readdir(handle)) {
        if (entry->d_name[0] == '.') continue;
        char path[LOG_PATH_BYTES + 64];
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        unlink(path);
    }
    closedir(handle);
    rmdir(dir);
}

/* Leave the logger as a fresh process has it, for whatever runs after this group. */
static int log_group_teardown(void **state)
{
    (void)state;
    tk_log_close();
    tk_log_opts opts = {.path = NULL, .clock = tk_clock_system(), .level = TK_LOG_INFO};
    tk_err err = tk_log_open(&opts);
    remove_dir(fx.dir);
    return err == TK_OK ? 0 : -1;
}

static int log_setup(void **state)
{
    (void)state;
    fx.file_seq++;
    fx.expect_count = 0;
    fixture_path(fx.path, "test.log");
    tk_clock_manual_init(&fx.clock, 0, TS_WALL_NS);
    return log_open_path(fx.path, TK_LOG_INFO) == TK_OK ? 0 : -1;
}

static void lines_free_all(void);

static int log_teardown(void **state)
{
    (void)state;
    lines_free_all();
    tk_log_close();
    uint64_t errors = tk_log_write_errors();
    if (errors != fx.write_errors_expected) {
        print_error("tk_log_write_errors() = %" PRIu64 ", want %" PRIu64 "\n", errors,
                    fx.write_errors_expected);
        fx.write_errors_expected = errors; /* report once */
        return -1;
    }
    return 0;
}

/* ---- Reading a log file back ---------------------------------------------------------- */

typedef struct log_lines {
    char *text;    /* the file, each '\n' replaced by NUL */
    size_t count;  /* lines */
    json_t **json; /* count objects, one per line */
    char **raw;    /* count pointers into text */
} log_lines;

static char *file_read(const char *path, size_t *out_size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) fail_msg("cannot open %s", path);
    struct stat st;
    assert_int_equal(fstat(fileno(file), &st), 0);
    size_t size = (size_t)st.st_size;
    char *text = malloc(size + 1u);
    assert_non_null(text);
    size_t got = size > 0 ? fread(text, 1, size, file) : 0;
    fclose(file);
    assert_int_equal(got, size);
    text[size] = '\0';
    *out_size = size;
    return text;
}

#define LOADED_MAX 4u

/* Loaded files live here rather than on a test's stack, so that log_teardown can free what a
 * failed assertion left behind. */
static log_lines loaded[LOADED_MAX];

/* Load path: every line must be a whole JSON object (no duplicate keys), the file must end
 * with a newline and hold no NUL byte. Free with lines_free. */
static log_lines *lines_load(const char *path)
{
    log_lines *out = NULL;
    for (size_t i = 0; i < LOADED_MAX && out == NULL; i++) {
        if (loaded[i].text == NULL) out = &loaded[i];
    }
    assert_non_null(out);
    size_t size = 0;
    char *text = file_read(path, &size);
    *out = (log_lines){.text = text};
    if (size == 0) return out;
    if (memchr(text, '\0', size) != NULL) fail_msg("%s holds a NUL byte", path);
    if (text[size - 1u] != '\n') fail_msg("%s does not end with a newline", path);
    for (size_t i = 0; i < size; i++) {
        out->count += text[i] == '\n';
    }
    out->json = calloc(out->count, sizeof(out->json[0]));
    out->raw = calloc(out->count, sizeof(out->raw[0]));
    assert_non_null(out->json);
    assert_non_null(out->raw);
    char *line = text;
    for (size_t i = 0; i < out->count; i++) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        out->raw[i] = line;
        if (end == line) fail_msg("%s line %zu is empty", path, i + 1u);
        json_error_t error;
        out->json[i] = json_loads(line, JSON_REJECT_DUPLICATES, &error);
        if (out->json[i] == NULL) {
            fail_msg("%s line %zu is not JSON (%s at %d): %.300s", path, i + 1u, error.text,
                     error.position, line);
        }
        if (!json_is_object(out->json[i])) fail_msg("line %zu is not an object", i + 1u);
        line = end + 1;
    }
    return out;
}

static void lines_free(log_lines *lines)
{
    for (size_t i = 0; i < lines->count && lines->json != NULL; i++) {
        json_decref(lines->json[i]); /* NULL (not loaded yet) is a no-op */
    }
    free(lines->json);
    free(lines->raw);
    free(lines->text);
    *lines = (log_lines){0};
}

static void lines_free_all(void)
{
    for (size_t i = 0; i < LOADED_MAX; i++) {
        if (loaded[i].text != NULL) lines_free(&loaded[i]);
    }
}

/* ---- Checking one line ---------------------------------------------------------------- */

static json_t *get_key(json_t *obj, const char *key)
{
    json_t *value = json_object_get(obj, key);
    if (value == NULL) fail_msg("no key \"%s\"", key);
    return value;
}

static void expect_str(json_t *obj, const char *key, const char *want)
{
    json_t *value = get_key(obj, key);
    if (!json_is_string(value)) fail_msg("key \"%s\" is not a string", key);
    const char *got = json_string_value(value);
    if (json_string_length(value) != strlen(want) || strcmp(got, want) != 0) {
        fail_msg("key \"%s\": got \"%s\", want \"%s\"", key, got, want);
    }
}

static void expect_i64(json_t *obj, const char *key, int64_t want)
{
    json_t *value = get_key(obj, key);
    if (!json_is_integer(value)) fail_msg("key \"%s\" is not an integer", key);
    json_int_t got = json_integer_value(value);
    if (got != want)
        fail_msg("key \"%s\": got %lld, want %lld", key, (long long)got, (long long)want);
}

static void expect_f64(json_t *obj, const char *key, double want)
{
    json_t *value = get_key(obj, key);
    if (!json_is_number(value)) fail_msg("key \"%s\" is not a number", key);
    double got = json_number_value(value);
    if (got != want) fail_msg("key \"%s\": got %.17g, want %.17g", key, got, want);
}

static void expect_bool(json_t *obj, const char *key, bool want)
{
    json_t *value = get_key(obj, key);
    if (!json_is_boolean(value)) fail_msg("key \"%s\" is not a boolean", key);
    assert_int_equal(json_is_true(value), want);
}

/* The four fixed keys come first, in this order, with these values. */
static void expect_head(json_t *obj, const char *ts, const char *level, const char *module,
                        const char *msg)
{
    const char *const order[] = {"ts", "level", "module", "msg"};
    void *iter = json_object_iter(obj);
    for (size_t i = 0; i < 4; i++) {
        if (iter == NULL) fail_msg("line has fewer than 4 keys");
        const char *key = json_object_iter_key(iter);
        if (strcmp(key, order[i]) != 0)
            fail_msg("key %zu is \"%s\", want \"%s\"", i, key, order[i]);
        iter = json_object_iter_next(obj, iter);
    }
    expect_str(obj, "ts", ts);
    expect_str(obj, "level", level);
    expect_str(obj, "module", module);
    expect_str(obj, "msg", msg);
}

static void expect_key_count(json_t *obj, size_t want)
{
    size_t got = json_object_size(obj);
    if (got != want) fail_msg("line has %zu keys, want %zu", got, want);
}

/* ---- Lines and fields ------------------------------------------------------------------- */

/* Before any tk_log_open the logger writes to stderr at info with the system clock. The log
 * group's first test runs before any open in this process; the check runs in a child so that
 * the line lands in a pipe. */
static void child_log_untouched(void *arg)
{
    (void)arg;
    tk_log_emit(TK_LOG_DEBUG, "core", "hidden at info", NULL, 0);
    tk_log_emit(TK_LOG_INFO, "core", "first line", NULL, 0);
}

static tk_test_child child; /* large: one per process, not on the stack */

/* "YYYY-MM-DDTHH:MM" of t, UTC: the first 16 bytes of a line's ts at that instant. */
static void utc_minute(time_t t, char out[32])
{
    struct tm utc;
    assert_non_null(gmtime_r(&t, &utc));
    assert_int_equal(strftime(out, 32, "%Y-%m-%dT%H:%M", &utc), 16);
}

static void test_log_defaults_before_open(void **state)
{
    (void)state;
    assert_true(tk_log_enabled(TK_LOG_INFO, "core"));
    assert_false(tk_log_enabled(TK_LOG_DEBUG, "core"));
    char minute_before[32];
    char minute_after[32];
    utc_minute(time(NULL), minute_before);
    assert_true(tk_test_child_run(child_log_untouched, NULL, 0, &child));
    utc_minute(time(NULL), minute_after);
    assert_false(child.signaled);
    assert_int_equal(child.exit_code, 0);
    char *newline = strchr(child.output, '\n');
    if (newline == NULL || newline[1] != '\0') fail_msg("want one line, got: %s", child.output);
    *newline = '\0';
    json_error_t error;
    json_t *line = json_loads(child.output, JSON_REJECT_DUPLICATES, &error);
    if (line == NULL) fail_msg("not JSON (%s): %s", error.text, child.output);
    const char *ts = json_string_value(json_object_get(line, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen(TS_TEXT));
    /* Stamped by the system clock: now, to the minute. */
    if (strncmp(ts, minute_before, 16) != 0 && strncmp(ts, minute_after, 16) != 0) {
        fail_msg("ts %s, want %s or %s", ts, minute_before, minute_after);
    }
    expect_head(line, ts, "info", "core", "first line");
    json_decref(line);
}

static void test_log_ts_and_head(void **state)
{
    (void)state;
    tk_log_emit(TK_LOG_INFO, "core", "hello", NULL, 0);
    tk_clock_manual_set_wall(&fx.clock, 0);
    tk_log_emit(TK_LOG_WARN, "raft", "epoch", NULL, 0);
    tk_clock_manual_set_wall(&fx.clock, TS_WALL_NS - 123456789 + 999999999);
    tk_log_emit(TK_LOG_ERROR, "ledger", "truncated, not rounded", NULL, 0);
    tk_clock_manual_set_wall(&fx.clock, INT64_C(951782400) * 1000000000 + 5000); /* leap day */
    tk_log_emit(TK_LOG_INFO, "core", "leap", NULL, 0);
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, 4);
    expect_head(lines->json[0], TS_TEXT, "info", "core", "hello");
    expect_key_count(lines->json[0], 4);
    expect_head(lines->json[1], "1970-01-01T00:00:00.000000Z", "warn", "raft", "epoch");
    expect_head(lines->json[2], "2026-11-21T15:00:00.999999Z", "error", "ledger",
                "truncated, not rounded");
    expect_head(lines->json[3], "2000-02-29T00:00:00.000005Z", "info", "core", "leap");
    lines_free(lines);
}

static void test_log_field_kinds(void **state)
{
    (void)state;
    const tk_log_field ints[] = {
        TK_LOG_STR("s", "text"),
        TK_LOG_STR("null", NULL),
        TK_LOG_I64("i0", 0),
        TK_LOG_I64("ineg", -1),
        TK_LOG_I64("imin", INT64_MIN),
        TK_LOG_I64("imax", INT64_MAX),
        TK_LOG_U64("u0", 0),
        TK_LOG_U64("umid", (uint64_t)INT64_MAX),
        TK_LOG_U64("u63", UINT64_C(1) << 63),
        TK_LOG_U64("umax", UINT64_MAX),
        TK_LOG_BOOL("yes", true),
        TK_LOG_BOOL("no", false),
    };
    const tk_log_field reals[] = {
        TK_LOG_F64("half", 1.5),  TK_LOG_F64("neg", -0.25),    TK_LOG_F64("tenth", 0.1),
        TK_LOG_F64("big", 1e300), TK_LOG_F64("three", 3.0),    TK_LOG_F64("tiny", 5e-324),
        TK_LOG_F64("nan", NAN),   TK_LOG_F64("inf", INFINITY), TK_LOG_F64("ninf", -INFINITY),
    };
    tk_log_emit(TK_LOG_INFO, "core", "ints", ints, sizeof(ints) / sizeof(ints[0]));
    tk_log_emit(TK_LOG_INFO, "core", "reals", reals, sizeof(reals) / sizeof(reals[0]));
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, 2);
    json_t *a = lines->json[0];
    expect_head(a, TS_TEXT, "info", "core", "ints");
    expect_key_count(a, 4u + 12u);
    expect_str(a, "s", "text");
    assert_true(json_is_null(get_key(a, "null")));
    expect_i64(a, "i0", 0);
    expect_i64(a, "ineg", -1);
    expect_i64(a, "imin", INT64_MIN);
    expect_i64(a, "imax", INT64_MAX);
    expect_i64(a, "u0", 0);
    expect_i64(a, "umid", INT64_MAX);
    /* The header: unsigned values above INT64_MAX are exact decimal strings. */
    expect_str(a, "u63", "9223372036854775808");
    expect_str(a, "umax", "18446744073709551615");
    assert_int_equal(strtoull(json_string_value(get_key(a, "umax")), NULL, 10), UINT64_MAX);
    expect_bool(a, "yes", true);
    expect_bool(a, "no", false);
    json_t *b = lines->json[1];
    expect_head(b, TS_TEXT, "info", "core", "reals");
    expect_key_count(b, 4u + 9u);
    expect_f64(b, "half", 1.5);
    expect_f64(b, "neg", -0.25);
    expect_f64(b, "tenth", 0.1); /* round-trips exactly */
    expect_f64(b, "big", 1e300);
    expect_f64(b, "three", 3.0);
    expect_f64(b, "tiny", 5e-324);
    expect_str(b, "nan", "nan");
    expect_str(b, "inf", "inf");
    expect_str(b, "ninf", "-inf");
    lines_free(lines);
}

typedef struct hostile_case {
    const char *key;
    const char *value; /* as emitted */
    const char *want;  /* as read back */
} hostile_case;

/* Strings JSON must escape, valid UTF-8 kept as is, and invalid UTF-8: the header says every
 * byte outside ASCII of a string that is not valid UTF-8 becomes '?'. */
static const hostile_case hostile[] = {
    {"quote", "say \"hi\"", "say \"hi\""},
    {"backslash", "a\\b\\\\c", "a\\b\\\\c"},
    {"newline", "l1\nl2\r\n", "l1\nl2\r\n"},
    {"tab", "\tx\t", "\tx\t"},
    {"ctrl", "\x01\x02\x1f\x7f", "\x01\x02\x1f\x7f"},
    {"utf8", "\xe2\x82\xac \xc3\xbc \xe6\xbc\xa2 \xf0\x9f\x98\x80",
     "\xe2\x82\xac \xc3\xbc \xe6\xbc\xa2 \xf0\x9f\x98\x80"}, /* euro, u-umlaut, han, emoji */
    {"invalid", "\xff\xfe", "??"},
    {"mixed", "x\xffy", "x?y"},
    {"valid_then_bad", "\xe2\x82\xac\xff", "????"},
    {"overlong", "\xc0\xaf", "??"},
    {"surrogate", "\xed\xa0\x80", "???"},
    {"truncated", "ab\xe2\x82", "ab??"},
    {"we\"ird\\key\n", "v", "v"},
    {"empty", "", ""},
};

#define HOSTILE_COUNT (sizeof(hostile) / sizeof(hostile[0]))

static void test_log_hostile_strings(void **state)
{
    (void)state;
    tk_log_field fields[HOSTILE_COUNT];
    for (size_t i = 0; i < HOSTILE_COUNT; i++) {
        fields[i] = TK_LOG_STR(hostile[i].key, hostile[i].value);
    }
    const char *msg = "he said \"stop\"\nthen\tleft \\ \x01 \xe2\x82\xac";
    tk_log_emit(TK_LOG_INFO, "core", msg, fields, HOSTILE_COUNT);
    tk_log_emit(TK_LOG_WARN, "core", "bad\xff msg \xe2\x82\xac", NULL, 0);
    tk_log_emit(TK_LOG_WARN, "we\"ird\nmodule", "odd module", NULL, 0);
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, 3); /* no newline got through unescaped */
    expect_head(lines->json[0], TS_TEXT, "info", "core", msg);
    expect_key_count(lines->json[0], 4u + HOSTILE_COUNT);
    for (size_t i = 0; i < HOSTILE_COUNT; i++) {
        expect_str(lines->json[0], hostile[i].key, hostile[i].want);
    }
    expect_head(lines->json[1], TS_TEXT, "warn", "core", "bad? msg ???");
    expect_head(lines->json[2], TS_TEXT, "warn", "we\"ird\nmodule", "odd module");
    lines_free(lines);
}

/* Keys are strings of the line too: the header's rule for strings that are not valid UTF-8
 * (each byte outside ASCII becomes '?') applies to them, and the field is kept. */
static void test_log_invalid_utf8_key(void **state)
{
    (void)state;
    TK_LOG(TK_LOG_INFO, "core", "odd key", TK_LOG_I64("caf\xe9", 1), TK_LOG_I64("ok", 2));
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, 1);
    expect_head(lines->json[0], TS_TEXT, "info", "core", "odd key");
    expect_i64(lines->json[0], "ok", 2);
    expect_i64(lines->json[0], "caf?", 1);
    assert_null(json_object_get(lines->json[0], "fields_dropped"));
    lines_free(lines);
}

static void test_log_reserved_keys(void **state)
{
    (void)state;
    const tk_log_field fields[] = {
        TK_LOG_STR("msg", "fake msg"),
        TK_LOG_STR("ts", "fake ts"),
        TK_LOG_STR("level", "fake"),
        TK_LOG_I64("module", 7),
        TK_LOG_I64("k", 1),
        TK_LOG_I64("k", 2), /* the later one wins */
        TK_LOG_STR("_msg2", "plain"),
    };
    tk_log_emit(TK_LOG_ERROR, "raft", "real msg", fields, sizeof(fields) / sizeof(fields[0]));
    log_lines *lines = lines_load(fx.path); /* duplicate keys would fail to load */
    assert_int_equal(lines->count, 1);
    json_t *line = lines->json[0];
    expect_head(line, TS_TEXT, "error", "raft", "real msg");
    expect_str(line, "_msg", "fake msg");
    expect_str(line, "_ts", "fake ts");
    expect_str(line, "_level", "fake");
    expect_i64(line, "_module", 7);
    expect_i64(line, "k", 2);
    expect_str(line, "_msg2", "plain");
    expect_key_count(line, 4u + 6u);
    lines_free(lines);
}

#define MANY_FIELDS (TK_LOG_FIELDS_MAX + 24u)

static void emit_numbered_fields(size_t count)
{
    static char keys[MANY_FIELDS][24];
    tk_log_field fields[MANY_FIELDS];
    assert_true(count <= MANY_FIELDS);
    for (size_t i = 0; i < count; i++) {
        snprintf(keys[i], sizeof(keys[i]), "f%02zu", i);
        fields[i] = TK_LOG_I64(keys[i], (int64_t)i * 10);
    }
    char msg[32];
    snprintf(msg, sizeof(msg), "%zu fields", count);
    tk_log_emit(TK_LOG_INFO, "core", msg, fields, count);
}

static void expect_numbered_fields(json_t *line, size_t emitted)
{
    size_t kept = emitted < TK_LOG_FIELDS_MAX ? emitted : TK_LOG_FIELDS_MAX;
    for (size_t i = 0; i < emitted; i++) {
        char key[24];
        snprintf(key, sizeof(key), "f%02zu", i);
        if (i < kept) expect_i64(line, key, (int64_t)i * 10);
        if (i >= kept && json_object_get(line, key) != NULL) fail_msg("%s was not dropped", key);
    }
    if (emitted > TK_LOG_FIELDS_MAX) {
        expect_i64(line, "fields_dropped", (int64_t)(emitted - TK_LOG_FIELDS_MAX));
        expect_key_count(line, 4u + kept + 1u);
    } else {
        assert_null(json_object_get(line, "fields_dropped"));
        expect_key_count(line, 4u + kept);
    }
}

static void test_log_fields_dropped(void **state)
{
    (void)state;
    const size_t counts[] = {
        0, 1, TK_LOG_FIELDS_MAX - 1u, TK_LOG_FIELDS_MAX, TK_LOG_FIELDS_MAX + 1u, MANY_FIELDS};
    const size_t n = sizeof(counts) / sizeof(counts[0]);
    for (size_t i = 0; i < n; i++) {
        emit_numbered_fields(counts[i]);
    }
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, n);
    for (size_t i = 0; i < n; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "%zu fields", counts[i]);
        expect_head(lines->json[i], TS_TEXT, "info", "core", msg);
        expect_numbered_fields(lines->json[i], counts[i]);
    }
    lines_free(lines);
}

static void test_log_macro(void **state)
{
    (void)state;
    TK_LOG(TK_LOG_WARN, "exec", "order rejected", TK_LOG_I64("qty_lots", -5),
           TK_LOG_ERR("err", TK_EFULL), TK_LOG_BOOL("retry", false));
    TK_LOG(TK_LOG_ERROR, "exec", "one field", TK_LOG_U64("n", 3));
    tk_log_emit(TK_LOG_INFO, "exec", "no fields", NULL, 0);
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, 3);
    expect_head(lines->json[0], TS_TEXT, "warn", "exec", "order rejected");
    expect_key_count(lines->json[0], 7);
    expect_i64(lines->json[0], "qty_lots", -5);
    expect_str(lines->json[0], "err", "TK_EFULL");
    expect_bool(lines->json[0], "retry", false);
    expect_head(lines->json[1], TS_TEXT, "error", "exec", "one field");
    expect_key_count(lines->json[1], 5);
    expect_i64(lines->json[1], "n", 3);
    expect_head(lines->json[2], TS_TEXT, "info", "exec", "no fields");
    expect_key_count(lines->json[2], 4);
    lines_free(lines);
}

#define LONG_TEXT_BYTES 20000u

static char *make_text(size_t size, char first, size_t period)
{
    char *text = malloc(size + 1u);
    assert_non_null(text);
    for (size_t i = 0; i < size; i++) {
        text[i] = (char)(first + (char)(i % period));
    }
    text[size] = '\0';
    return text;
}

/* Lines longer than TK_LOG_LINE_BYTES_MAX, escaping that multiplies the size, and every
 * message length around the line buffer's size: each is still one whole line. */
static void test_log_long_lines(void **state)
{
    (void)state;
    char *letters = make_text(10000, 'a', 26);
    char *quotes = make_text(3000, '"', 1);                 /* each becomes \" */
    char *controls = make_text(LONG_TEXT_BYTES, '\x01', 1); /* each becomes \u0001 */
    tk_log_emit(TK_LOG_INFO, "core", letters, NULL, 0);
    tk_log_emit(TK_LOG_INFO, "core", quotes, NULL, 0);
    TK_LOG(TK_LOG_INFO, "core", "big field", TK_LOG_STR("blob", controls), TK_LOG_I64("after", 1));
    const size_t low = TK_LOG_LINE_BYTES_MAX - 200u;
    const size_t high = TK_LOG_LINE_BYTES_MAX + 8u;
    char *sweep = make_text(high, 'A', 26);
    for (size_t size = low; size <= high; size++) {
        char saved = sweep[size];
        sweep[size] = '\0';
        tk_log_emit(TK_LOG_INFO, "core", sweep, NULL, 0);
        sweep[size] = saved;
    }
    log_lines *lines = lines_load(fx.path);
    assert_int_equal(lines->count, 3u + (high - low + 1u));
    expect_head(lines->json[0], TS_TEXT, "info", "core", letters);
    expect_head(lines->json[1], TS_TEXT, "info", "core", quotes);
    assert_true(strlen(lines->raw[1]) > 6000u);
    expect_head(lines->json[2], TS_TEXT, "info", "core", "big field");
    expect_str(lines->json[2], "blob", controls);
    expect_i64(lines->json[2], "after", 1);
    for (size_t size = low; size <= high; size++) {
        json_t *line = lines->json[3u + (size - low)];
        const char *msg = json_string_value(get_key(line, "msg"));
        assert_non_null(msg);
        if (strlen(msg) != size || strncmp(msg, sweep, size) != 0) {
            fail_msg("message of %zu bytes came back as %zu bytes", size, strlen(msg));
        }
    }
    lines_free(lines);
    free(letters);
    free(quotes);
    free(controls);
    free(sweep);
}

/* ---- Levels ------------------------------------------------------------------------------ */

/* Every module name this group gives a level to, TK_LOG_MODULES_MAX of them, so that the
 * table-full test can fill the table with exactly these whatever ran before it. */
static const char *const named_modules[] = {"core", "raft",     "cluster", "ledger",
                                            "exec", "a.b-c_D9", "threads"};
#define NAMED_MODULES (sizeof(named_modules) / sizeof(named_modules[0]))
_Static_assert(NAMED_MODULES + 1u <= TK_LOG_MODULES_MAX, "room for the longest name");

/* A valid name of exactly size bytes (TK_LOG_MODULE_NAME_BYTES_MAX + 1 at most). */
static const char *name_of_size(size_t size)
{
    /* One buffer per size: names of different sizes may be in use at once. */
    static char names[TK_LOG_MODULE_NAME_BYTES_MAX + 2u][TK_LOG_MODULE_NAME_BYTES_MAX + 2u];
    assert_true(size < sizeof(names[0]));
    char *name = names[size];
    for (size_t i = 0; i < size; i++) {
        name[i] = (char)('a' + (char)(i % 26u));
    }
    name[size] = '\0';
    return name;
}

static const char *known_module(unsigned index)
{
    static char generated[TK_LOG_MODULES_MAX][16];
    assert_true(index < TK_LOG_MODULES_MAX);
    if (index < NAMED_MODULES) return named_modules[index];
    if (index == NAMED_MODULES) return name_of_size(TK_LOG_MODULE_NAME_BYTES_MAX);
    snprintf(generated[index], sizeof(generated[index]), "m%02u", index);
    return generated[index];
}

static const char *const matrix_modules[] = {"core", "raft", "cluster"};

static void expect_push(const char *msg)
{
    assert_true(fx.expect_count < EXPECT_MAX);
    snprintf(fx.expect[fx.expect_count], sizeof(fx.expect[0]), "%s", msg);
    fx.expect_count++;
}

/* tk_log_enabled must match the thresholds given for core, raft and cluster; then a line of
 * every level from each is emitted, and the enabled ones are expected in the file. */
static void matrix_check(tk_log_level core, tk_log_level raft, tk_log_level cluster)
{
    const tk_log_level thresholds[] = {core, raft, cluster};
    for (size_t m = 0; m < 3; m++) {
        const char *module = matrix_modules[m];
        assert_false(tk_log_enabled(TK_LOG_OFF, module));
        for (int level = TK_LOG_DEBUG; level <= TK_LOG_ERROR; level++) {
            bool want = level >= (int)thresholds[m];
            bool got = tk_log_enabled((tk_log_level)level, module);
            if (got != want) {
                fail_msg("tk_log_enabled(%s, %s) = %d, want %d",
                         tk_log_level_name((tk_log_level)level), module, got, want);
            }
            char msg[48];
            snprintf(msg, sizeof(msg), "%s/%s", module, tk_log_level_name((tk_log_level)level));
            tk_log_emit((tk_log_level)level, module, msg, NULL, 0);
            if (want) expect_push(msg);
        }
    }
}

/* The file holds exactly the expected lines, in order, with matching level and module. */
static void expect_file_matches(void)
{
    log_lines *lines = lines_load(fx.path);
    if (lines->count != fx.expect_count) {
        fail_msg("%zu lines in the file, want %zu", lines->count, fx.expect_count);
    }
    for (size_t i = 0; i < lines->count; i++) {
        char module[48];
        snprintf(module, sizeof(module), "%s", fx.expect[i]);
        char *slash = strchr(module, '/');
        assert_non_null(slash);
        *slash = '\0';
        expect_head(lines->json[i], TS_TEXT, slash + 1, module, fx.expect[i]);
    }
    lines_free(lines);
}

static void test_log_default_threshold(void **state)
{
    (void)state;
    matrix_check(TK_LOG_INFO, TK_LOG_INFO, TK_LOG_INFO); /* debug hidden at info */
    assert_int_equal(fx.expect_count, 9);
    expect_file_matches();
}

static void test_log_module_levels(void **state)
{
    (void)state;
    assert_int_equal(tk_log_set_level("raft", TK_LOG_DEBUG), TK_OK);
    matrix_check(TK_LOG_INFO, TK_LOG_DEBUG, TK_LOG_INFO);
    assert_int_equal(tk_log_set_level("cluster", TK_LOG_ERROR), TK_OK);
    matrix_check(TK_LOG_INFO, TK_LOG_DEBUG, TK_LOG_ERROR);
    assert_int_equal(tk_log_set_level(NULL, TK_LOG_WARN), TK_OK); /* the default only */
    matrix_check(TK_LOG_WARN, TK_LOG_DEBUG, TK_LOG_ERROR);
    assert_int_equal(tk_log_set_level("cluster", TK_LOG_OFF), TK_OK);
    assert_int_equal(tk_log_set_level(NULL, TK_LOG_OFF), TK_OK);
    matrix_check(TK_LOG_OFF, TK_LOG_DEBUG, TK_LOG_OFF);
    assert_int_equal(tk_log_set_level("raft", TK_LOG_INFO), TK_OK); /* set again: updated */
    matrix_check(TK_LOG_OFF, TK_LOG_INFO, TK_LOG_OFF);
    expect_file_matches();
}

/* Which of (module, level) are enabled, for modules core, raft, cluster, ledger and the
 * longest legal name: 20 bits that any change of configuration would flip. */
static uint32_t enabled_bits(void)
{
    const char *modules[] = {"core", "raft", "cluster", "ledger",
                             name_of_size(TK_LOG_MODULE_NAME_BYTES_MAX)};
    uint32_t bits = 0;
    for (size_t m = 0; m < 5; m++) {
        for (int level = TK_LOG_DEBUG; level <= TK_LOG_ERROR; level++) {
            bits = bits << 1 | (uint32_t)tk_log_enabled((tk_log_level)level, modules[m]);
        }
    }
    return bits;
}

static void test_log_set_level_errors(void **state)
{
    (void)state;
    assert_int_equal(tk_log_set_level("raft", TK_LOG_DEBUG), TK_OK);
    assert_int_equal(tk_log_set_level("cluster", TK_LOG_ERROR), TK_OK);
    const uint32_t before = enabled_bits();
    const char *const bad_names[] = {
        "",       name_of_size(TK_LOG_MODULE_NAME_BYTES_MAX + 1u),
        "a b",    "a=b",
        "a,b",    "a/b",
        "raft\n", "\xc3\xbc",
    };
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        tk_err err = tk_log_set_level(bad_names[i], TK_LOG_DEBUG);
        if (err != TK_EINVAL) fail_msg("name \"%s\": got %s", bad_names[i], tk_err_name(err));
        assert_int_equal(enabled_bits(), before);
    }
    const unsigned bad_levels[] = {(unsigned)TK_LOG_OFF + 1u, 100u, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad_levels) / sizeof(bad_levels[0]); i++) {
        assert_int_equal(tk_log_set_level("raft", (tk_log_level)bad_levels[i]), TK_EINVAL);
        assert_int_equal(tk_log_set_level(NULL, (tk_log_level)bad_levels[i]), TK_EINVAL);
        assert_int_equal(enabled_bits(), before);
    }
    const char *longest = name_of_size(TK_LOG_MODULE_NAME_BYTES_MAX);
    assert_int_equal(tk_log_set_level(longest, TK_LOG_DEBUG), TK_OK);
    assert_true(tk_log_enabled(TK_LOG_DEBUG, longest));
    assert_int_equal(tk_log_set_level("a.b-c_D9", TK_LOG_ERROR), TK_OK);
    assert_false(tk_log_enabled(TK_LOG_WARN, "a.b-c_D9"));
    assert_true(tk_log_enabled(TK_LOG_WARN, "core"));
}

static void set_levels_ok(const char *spec)
{
    char why[128] = "";
    tk_err err = tk_log_set_levels(spec, why, sizeof(why));
    if (err != TK_OK) fail_msg("spec \"%s\": %s (%s)", spec, tk_err_name(err), why);
}

static void test_log_set_levels_spec(void **state)
{
    (void)state;
    set_levels_ok("warn,raft=debug");
    matrix_check(TK_LOG_WARN, TK_LOG_DEBUG, TK_LOG_WARN);
    assert_int_equal(tk_log_set_level("cluster", TK_LOG_ERROR), TK_OK);
    /* A spec replaces the whole configuration: no bare level means info, and modules it
     * does not name (cluster) follow the default again. */
    set_levels_ok("raft=error");
    matrix_check(TK_LOG_INFO, TK_LOG_ERROR, TK_LOG_INFO);
    set_levels_ok("debug");
    matrix_check(TK_LOG_DEBUG, TK_LOG_DEBUG, TK_LOG_DEBUG);
    set_levels_ok("ERROR,raft=Debug,cluster=wArN"); /* level words ignore case */
    matrix_check(TK_LOG_ERROR, TK_LOG_DEBUG, TK_LOG_WARN);
    set_levels_ok("off,cluster=info,ledger=warn");
    assert_true(tk_log_enabled(TK_LOG_WARN, "ledger"));
    assert_false(tk_log_enabled(TK_LOG_INFO, "ledger"));
    matrix_check(TK_LOG_OFF, TK_LOG_OFF, TK_LOG_INFO);
    expect_file_matches();
}

typedef struct bad_spec {
    const char *spec;
    const char *part; /* what why must quote */
} bad_spec;

#define WHY_BYTES 256u

/* spec must fail with TK_EINVAL, name part in why, and change no level. */
static void expect_bad_spec(const char *spec, const char *part, const char *offset)
{
    const uint32_t before = enabled_bits();
    char why[WHY_BYTES];
    memset(why, 'Z', sizeof(why));
    tk_err err = tk_log_set_levels(spec, why, sizeof(why));
    if (err != TK_EINVAL) fail_msg("spec \"%s\": got %s, want TK_EINVAL", spec, tk_err_name(err));
    if (memchr(why, '\0', sizeof(why)) == NULL) fail_msg("why is not NUL-terminated");
    if (strstr(why, part) == NULL)
        fail_msg("spec \"%s\": why \"%s\" does not name \"%s\"", spec, why, part);
    if (strstr(why, offset) == NULL)
        fail_msg("spec \"%s\": why \"%s\" lacks offset %s", spec, why, offset);
    if (enabled_bits() != before) fail_msg("spec \"%s\" changed the levels", spec);
}

static void test_log_set_levels_rejects_bad_specs(void **state)
{
    (void)state;
    char too_long[64];
    snprintf(too_long, sizeof(too_long), "%s=debug",
             name_of_size(TK_LOG_MODULE_NAME_BYTES_MAX + 1u));
    const bad_spec cases[] = {
        {"loud", "loud"},
        {"raft=", "raft="},
        {"=debug", "=debug"},
        {"a=b=c", "a=b=c"},
        {"raft=verbose", "raft=verbose"},
        {too_long, too_long},
        {"ra ft=debug", "ra ft=debug"},
        {"raft=debugx", "raft=debugx"},
    };
    set_levels_ok("warn,raft=debug,cluster=error");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_bad_spec(cases[i].spec, cases[i].part, "0");
        /* After valid parts: nothing of them is applied, and the offset is the bad part's. */
        char spec[128];
        const char *prefix = "error,ledger=debug,";
        snprintf(spec, sizeof(spec), "%s%s", prefix, cases[i].spec);
        char offset[24];
        snprintf(offset, sizeof(offset), "%zu", strlen(prefix));
        expect_bad_spec(spec, cases[i].part, offset);
    }
    assert_true(tk_log_enabled(TK_LOG_DEBUG, "raft"));
    assert_false(tk_log_enabled(TK_LOG_WARN, "cluster"));
    assert_false(tk_log_enabled(TK_LOG_INFO, "ledger"));
    assert_true(tk_log_enabled(TK_LOG_WARN, "ledger"));
}

static void test_log_set_levels_why_buffer(void **state)
{
    (void)state;
    set_levels_ok("warn,raft=debug");
    const uint32_t before = enabled_bits();
    assert_int_equal(tk_log_set_levels("loud", NULL, 0), TK_EINVAL); /* why may be NULL */
    char why[16];
    memset(why, 'Z', sizeof(why));
    assert_int_equal(tk_log_set_levels("loud", why, 1), TK_EINVAL);
    assert_int_equal(why[0], '\0');
    assert_int_equal(why[1], 'Z'); /* nothing past why_size */
    memset(why, 'Z', sizeof(why));
    assert_int_equal(tk_log_set_levels("info,raft=verbose", why, 8), TK_EINVAL);
    assert_true(strlen(why) <= 7u);
    assert_int_equal(why[8], 'Z');
    assert_int_equal(enabled_bits(), before);
}

static void test_log_level_parse_and_name(void **state)
{
    (void)state;
    const struct {
        const char *text;
        tk_log_level want;
    } good[] = {
        {"DEBUG", TK_LOG_DEBUG}, {"debug", TK_LOG_DEBUG}, {"Info", TK_LOG_INFO},
        {"wArN", TK_LOG_WARN},   {"error", TK_LOG_ERROR}, {"off", TK_LOG_OFF},
        {"OFF", TK_LOG_OFF},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        tk_log_level level = (tk_log_level)99;
        assert_int_equal(tk_log_level_parse(good[i].text, &level), TK_OK);
        assert_int_equal(level, good[i].want);
    }
    const char *const bad[] = {"",     "inf",     "information", "debug ",  " debug", "of",
                               "offf", "warning", "err",         "debug\n", "0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tk_log_level level = TK_LOG_ERROR;
        if (tk_log_level_parse(bad[i], &level) != TK_EINVAL) fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(level, TK_LOG_ERROR); /* untouched */
    }
    const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int level = TK_LOG_DEBUG; level <= TK_LOG_OFF; level++) {
        assert_string_equal(tk_log_level_name((tk_log_level)level), names[level]);
        tk_log_level back = (tk_log_level)99;
        assert_int_equal(tk_log_level_parse(names[level], &back), TK_OK);
        assert_int_equal(back, level);
    }
    assert_string_equal(tk_log_level_name((tk_log_level)(TK_LOG_OFF + 1)), "?");
    assert_string_equal(tk_log_level_name((tk_log_level)100), "?");
    assert_string_equal(tk_log_level_name((tk_log_level)UINT32_MAX), "?");
}

/* ---- Targets ----------------------------------------------------------------------------- */

static void expect_msgs(const char *path, const char *const *msgs, size_t count)
{
    log_lines *lines = lines_load(path);
    if (lines->count != count) fail_msg("%s: %zu lines, want %zu", path, lines->count, count);
    for (size_t i = 0; i < count; i++) {
        expect_str(lines->json[i], "msg", msgs[i]);
    }
    lines_free(lines);
}

static void test_log_reopen_rotates_and_resets(void **state)
{
    (void)state;
    assert_int_equal(tk_log_set_level("raft", TK_LOG_DEBUG), TK_OK);
    tk_log_emit(TK_LOG_DEBUG, "raft", "A", NULL, 0);
    char rotated[LOG_PATH_BYTES];
    fixture_path(rotated, "test.log.1");
    assert_int_equal(rename(fx.path, rotated), 0);
    assert_int_equal(log_open_path(fx.path, TK_LOG_WARN), TK_OK); /* a new file */
    assert_false(tk_log_enabled(TK_LOG_DEBUG, "raft"));           /* every level reset to warn */
    assert_false(tk_log_enabled(TK_LOG_INFO, "raft"));
    assert_true(tk_log_enabled(TK_LOG_WARN, "raft"));
    tk_log_emit(TK_LOG_DEBUG, "raft", "hidden", NULL, 0);
    tk_log_emit(TK_LOG_INFO, "core", "hidden", NULL, 0);
    tk_log_emit(TK_LOG_WARN, "core", "B", NULL, 0);
    assert_int_equal(log_open_path(fx.path, TK_LOG_INFO), TK_OK); /* same path: appends */
    tk_log_emit(TK_LOG_INFO, "core", "C", NULL, 0);
    const char *const old_msgs[] = {"A"};
    const char *const new_msgs[] = {"B", "C"};
    expect_msgs(rotated, old_msgs, 1);
    expect_msgs(fx.path, new_msgs, 2);

    mode_t mask = umask(0);
    umask(mask);
    struct stat st;
    assert_int_equal(stat(fx.path, &st), 0);
    assert_int_equal(st.st_mode & 0777u, 0640u & ~(unsigned)mask); /* created with 0640 */
}

static void test_log_open_errors_keep_target(void **state)
{
    (void)state;
    assert_int_equal(tk_log_set_level("raft", TK_LOG_DEBUG), TK_OK);
    tk_log_emit(TK_LOG_INFO, "core", "before", NULL, 0);
    char missing[LOG_PATH_BYTES];
    fixture_path(missing, "no/such/dir/x.log");
    assert_int_equal(log_open_path(missing, TK_LOG_INFO), TK_ENOENT);
    tk_log_emit(TK_LOG_INFO, "core", "after enoent", NULL, 0);
    char other[LOG_PATH_BYTES];
    fixture_path(other, "other.log");
    assert_int_equal(log_open_path(other, (tk_log_level)(TK_LOG_OFF + 1)), TK_EINVAL);
    tk_log_emit(TK_LOG_INFO, "core", "after einval", NULL, 0);
    tk_err err = log_open_path(fx.dir, TK_LOG_INFO); /* a directory */
    assert_int_not_equal(err, TK_OK);
    tk_log_emit(TK_LOG_INFO, "core", "after directory", NULL, 0);
    assert_true(tk_log_enabled(TK_LOG_DEBUG, "raft")); /* failed opens reset nothing */
    const char *const msgs[] = {"before", "after enoent", "after einval", "after directory"};
    expect_msgs(fx.path, msgs, 4);
}

typedef struct stderr_capture {
    int saved_fd;
    char path[LOG_PATH_BYTES];
} stderr_capture;

static void capture_begin(stderr_capture *cap, const char *name)
{
    fixture_path(cap->path, name);
    int fd = open(cap->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    cap->saved_fd = dup(STDERR_FILENO);
    assert_true(cap->saved_fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

static void capture_end(stderr_capture *cap)
{
    fflush(stderr);
    dup2(cap->saved_fd, STDERR_FILENO);
    close(cap->saved_fd);
}

static void test_log_close_and_null_path_use_stderr(void **state)
{
    (void)state;
    tk_log_emit(TK_LOG_INFO, "core", "to file", NULL, 0);
    stderr_capture cap;
    capture_begin(&cap, "stderr1.txt");
    tk_log_close(); /* back to stderr */
    tk_log_emit(TK_LOG_INFO, "core", "to stderr", NULL, 0);
    tk_log_emit(TK_LOG_DEBUG, "core", "hidden", NULL, 0);
    tk_log_close(); /* twice: still stderr */
    capture_end(&cap);
    const char *const file_msgs[] = {"to file"};
    const char *const stderr_msgs[] = {"to stderr"};
    expect_msgs(fx.path, file_msgs, 1);
    expect_msgs(cap.path, stderr_msgs, 1);

    assert_int_equal(log_open_path(fx.path, TK_LOG_INFO), TK_OK);
    stderr_capture cap2;
    capture_begin(&cap2, "stderr2.txt");
    tk_err err = log_open_path(NULL, TK_LOG_DEBUG); /* path NULL: stderr */
    tk_log_emit(TK_LOG_DEBUG, "core", "null path", NULL, 0);
    capture_end(&cap2);
    assert_int_equal(err, TK_OK);
    const char *const stderr2_msgs[] = {"null path"};
    expect_msgs(cap2.path, stderr2_msgs, 1);
    expect_msgs(fx.path, file_msgs, 1);
}

#define THREADS          4u
#define LINES_PER_THREAD 2000u

static void *log_thread_main(void *arg)
{
    const int64_t *id = arg;
    char pad[301];
    memset(pad, 'a' + (int)*id, sizeof(pad) - 1u);
    pad[sizeof(pad) - 1u] = '\0';
    for (int64_t seq = 0; seq < (int64_t)LINES_PER_THREAD; seq++) {
        TK_LOG(TK_LOG_INFO, "threads", "line", TK_LOG_I64("thread", *id), TK_LOG_I64("seq", seq),
               TK_LOG_STR("pad", pad));
    }
    return NULL;
}

static void test_log_threads_do_not_interleave(void **state)
{
    (void)state;
    pthread_t threads[THREADS];
    int64_t ids[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        ids[t] = t;
        assert_int_equal(pthread_create(&threads[t], NULL, log_thread_main, &ids[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    }
    log_lines *lines = lines_load(fx.path); /* every line whole JSON */
    assert_int_equal(lines->count, THREADS * LINES_PER_THREAD);
    int64_t next_seq[THREADS] = {0};
    for (size_t i = 0; i < lines->count; i++) {
        json_t *line = lines->json[i];
        int64_t id = json_integer_value(get_key(line, "thread"));
        assert_in_range(id, 0, THREADS - 1u);
        expect_i64(line, "seq", next_seq[id]++); /* each thread's lines in its order */
        expect_key_count(line, 7);
        assert_int_equal(json_string_length(get_key(line, "pad")), 300);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(next_seq[t], LINES_PER_THREAD);
    }
    lines_free(lines);
}

/* ---- The module table, and write errors -------------------------------------------------- */

/* Reset (no module has its own level), then give every known module its own level. */
static void fill_with_known_modules(void)
{
    set_levels_ok("info");
    for (unsigned i = 0; i < TK_LOG_MODULES_MAX; i++) {
        tk_err err = tk_log_set_level(known_module(i), TK_LOG_ERROR);
        if (err != TK_OK) fail_msg("module %u (%s): %s", i, known_module(i), tk_err_name(err));
    }
}

static void test_log_module_table_full(void **state)
{
    (void)state;
    fill_with_known_modules();
    const uint32_t before = enabled_bits();
    assert_int_equal(tk_log_set_level("one_more", TK_LOG_DEBUG), TK_EFULL);
    assert_false(tk_log_enabled(TK_LOG_DEBUG, "one_more"));
    assert_true(tk_log_enabled(TK_LOG_INFO, "one_more")); /* still the default */
    assert_int_equal(enabled_bits(), before);             /* the refused call changed nothing */
    /* Modules that have their own level can still change it. */
    assert_int_equal(tk_log_set_level(known_module(TK_LOG_MODULES_MAX - 1u), TK_LOG_DEBUG), TK_OK);
    assert_true(tk_log_enabled(TK_LOG_DEBUG, known_module(TK_LOG_MODULES_MAX - 1u)));
    set_levels_ok("info,raft=debug,cluster=warn");
    assert_true(tk_log_enabled(TK_LOG_DEBUG, "raft"));

    /* A spec naming more modules than the table holds is refused as a whole. */
    char spec[TK_LOG_MODULES_MAX * 32u + 64u] = "warn";
    for (unsigned i = 0; i < TK_LOG_MODULES_MAX; i++) {
        size_t used = strlen(spec);
        snprintf(spec + used, sizeof(spec) - used, ",%s=debug", known_module(i));
    }
    strcat(spec, ",extra=debug");
    const uint32_t before_spec = enabled_bits();
    char why[WHY_BYTES] = "";
    assert_int_equal(tk_log_set_levels(spec, why, sizeof(why)), TK_EFULL);
    if (strstr(why, "extra") == NULL) fail_msg("why \"%s\" does not name extra", why);
    assert_int_equal(enabled_bits(), before_spec);
}

/* A spec replaces the whole configuration, so a spec naming TK_LOG_MODULES_MAX modules fits
 * whatever earlier specs or calls named: afterwards exactly its modules have their own level. */
static void test_log_spec_replaces_module_table(void **state)
{
    (void)state;
    fill_with_known_modules();
    char spec[TK_LOG_MODULES_MAX * 16u + 16u] = "info";
    for (unsigned i = 0; i < TK_LOG_MODULES_MAX; i++) {
        size_t used = strlen(spec);
        snprintf(spec + used, sizeof(spec) - used, ",spec%02u=debug", i);
    }
    char why[WHY_BYTES] = "";
    tk_err err = tk_log_set_levels(spec, why, sizeof(why));
    if (err != TK_OK)
        fail_msg("a spec of %u modules: %s (%s)", TK_LOG_MODULES_MAX, tk_err_name(err), why);
    assert_true(tk_log_enabled(TK_LOG_DEBUG, "spec00"));
    assert_false(tk_log_enabled(TK_LOG_DEBUG, "raft")); /* follows the default again */
    assert_true(tk_log_enabled(TK_LOG_INFO, "raft"));
}

/* After a spec that names no module, no module has its own level; the header's TK_EFULL is
 * for when TK_LOG_MODULES_MAX modules *have their own level*, so new names must fit again. */
static void test_log_module_slots_reusable_after_reset(void **state)
{
    (void)state;
    fill_with_known_modules();
    set_levels_ok("info"); /* every module now follows the default */
    for (unsigned i = 0; i < TK_LOG_MODULES_MAX; i++) {
        assert_true(tk_log_enabled(TK_LOG_INFO, known_module(i)));
        assert_false(tk_log_enabled(TK_LOG_DEBUG, known_module(i)));
    }
    for (unsigned i = 0; i < TK_LOG_MODULES_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "fresh%02u", i);
        tk_err err = tk_log_set_level(name, TK_LOG_DEBUG);
        if (err != TK_OK) fail_msg("fresh module %u after reset: %s", i, tk_err_name(err));
        assert_true(tk_log_enabled(TK_LOG_DEBUG, name));
    }
    assert_int_equal(tk_log_set_level("one_more", TK_LOG_DEBUG), TK_EFULL);
}

static void test_log_write_errors_counted(void **state)
{
    (void)state;
    assert_int_equal(tk_log_write_errors(), fx.write_errors_expected);
    if (access("/dev/full", W_OK) != 0) skip();
    assert_int_equal(log_open_path("/dev/full", TK_LOG_INFO), TK_OK);
    tk_log_emit(TK_LOG_INFO, "core", "lost 1", NULL, 0);
    tk_log_emit(TK_LOG_DEBUG, "core", "disabled: not counted", NULL, 0);
    TK_LOG(TK_LOG_ERROR, "core", "lost 2", TK_LOG_I64("n", 2));
    tk_log_emit(TK_LOG_WARN, "core", "lost 3", NULL, 0);
    assert_int_equal(tk_log_write_errors(), fx.write_errors_expected + 3u);
    fx.write_errors_expected += 3u;
    assert_int_equal(log_open_path(fx.path, TK_LOG_INFO), TK_OK);
    tk_log_emit(TK_LOG_INFO, "core", "written", NULL, 0);
    assert_int_equal(tk_log_write_errors(), fx.write_errors_expected);
    const char *const msgs[] = {"written"};
    expect_msgs(fx.path, msgs, 1);
}

/* Readers of module levels racing a writer that keeps reordering the module table: every
 * configuration the writer installs gives raft debug and ledger error, so a reader that ever
 * sees otherwise read a torn table. */
#define RACE_READS  200000u
#define RACE_WRITES 2000u

typedef struct race_reader {
    _Atomic bool *stop;
    uint64_t wrong;
    uint64_t reads;
} race_reader;

static void *race_reader_main(void *arg)
{
    race_reader *reader = arg;
    for (uint32_t i = 0; i < RACE_READS; i++) {
        if (!tk_log_enabled(TK_LOG_DEBUG, "raft")) reader->wrong++;
        if (tk_log_enabled(TK_LOG_WARN, "ledger")) reader->wrong++;
        reader->reads++;
        if (atomic_load_explicit(reader->stop, memory_order_relaxed)) break;
    }
    return NULL;
}

static void test_log_levels_change_under_readers(void **state)
{
    (void)state;
    static const char *const specs[] = {
        "info,raft=debug,ledger=error",
        "warn,ledger=error,a1=off,raft=debug",
        "off,b1=debug,b2=debug,raft=debug,b3=warn,ledger=error",
    };
    set_levels_ok(specs[0]);
    _Atomic bool stop = false;
    race_reader readers[2] = {{.stop = &stop}, {.stop = &stop}};
    pthread_t threads[2];
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, race_reader_main, &readers[i]), 0);
    }
    for (uint32_t i = 0; i < RACE_WRITES; i++) {
        set_levels_ok(specs[i % 3u]);
    }
    atomic_store_explicit(&stop, true, memory_order_relaxed);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_true(readers[i].reads > 0);
        assert_int_equal(readers[i].wrong, 0);
    }
}

#define LOG_TEST(fn) cmocka_unit_test_setup_teardown(fn, log_setup, log_teardown)

int tk_test_log(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_defaults_before_open), /* first: before any open */
        LOG_TEST(test_log_ts_and_head),
        LOG_TEST(test_log_field_kinds),
        LOG_TEST(test_log_hostile_strings),
        LOG_TEST(test_log_invalid_utf8_key),
        LOG_TEST(test_log_reserved_keys),
        LOG_TEST(test_log_fields_dropped),
        LOG_TEST(test_log_macro),
        LOG_TEST(test_log_long_lines),
        LOG_TEST(test_log_default_threshold),
        LOG_TEST(test_log_module_levels),
        LOG_TEST(test_log_set_level_errors),
        LOG_TEST(test_log_set_levels_spec),
        LOG_TEST(test_log_set_levels_rejects_bad_specs),
        LOG_TEST(test_log_set_levels_why_buffer),
        LOG_TEST(test_log_level_parse_and_name),
        LOG_TEST(test_log_reopen_rotates_and_resets),
        LOG_TEST(test_log_open_errors_keep_target),
        LOG_TEST(test_log_close_and_null_path_use_stderr),
        LOG_TEST(test_log_threads_do_not_interleave),
        LOG_TEST(test_log_module_table_full),
        LOG_TEST(test_log_spec_replaces_module_table),
        LOG_TEST(test_log_module_slots_reusable_after_reset),
        LOG_TEST(test_log_levels_change_under_readers),
        LOG_TEST(test_log_write_errors_counted),
    };
    return cmocka_run_group_tests_name("base/log", tests, log_group_setup, log_group_teardown);
}
