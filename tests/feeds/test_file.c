/* feeds/feed_file.c and its helpers: every format on small files written here, every kind of
 * bad row with its exact message (file, line, field, values), gaps and the interval, line
 * endings and lengths, rounding and exponents, and the real data files of ../shared/data read
 * end to end against MANIFEST.md. */
#define _GNU_SOURCE /* fopencookie: a stream whose reads fail on demand */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "feed.h"
#include "feeds_tests.h"
#include "tk_test.h"

#define NS INT64_C(1000000000)
#define E8 INT64_C(100000000)

/* The group's scratch directory (mkdtemp), emptied and removed by the group teardown. */
static char dir[64];
static char path[256]; /* of the file written last */

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/troika_feeds_XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char file[512];
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        unlink(file);
    }
    closedir(d);
    return rmdir(dir);
}

/* Readers open in the running test, closed by test_teardown when a test fails half-way. */
#define OPEN_MAX 4
static feed_file *open_files[OPEN_MAX];

static feed_file *track(feed_file *f)
{
    for (size_t i = 0; i < OPEN_MAX; i++) {
        if (open_files[i] == NULL) {
            open_files[i] = f;
            return f;
        }
    }
    fail_msg("more than %d readers open", OPEN_MAX);
    return f;
}

/* feed_file_close for a tracked reader. */
static void close_file(feed_file *f)
{
    for (size_t i = 0; i < OPEN_MAX; i++) {
        if (open_files[i] == f) open_files[i] = NULL;
    }
    feed_file_close(f);
}

static int test_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < OPEN_MAX; i++) {
        feed_file_close(open_files[i]);
        open_files[i] = NULL;
    }
    return 0;
}

/* Write size bytes to <dir>/<name>; returns the path (valid until the next write). */
static const char *write_bytes(const char *name, const char *bytes, size_t size)
{
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (out == NULL) fail_msg("cannot create %s", path);
    if (size > 0 && fwrite(bytes, 1, size, out) != size) fail_msg("cannot write %s", path);
    if (fclose(out) != 0) fail_msg("cannot close %s", path);
    return path;
}

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static feed_file *open_ok(const char *file_path)
{
    feed_file *f = NULL;
    feed_error why = {{0}};
    tk_err err = feed_file_open(file_path, tk_mem_system(), &f, &why);
    if (err != TK_OK) fail_msg("open %s: %s: %s", file_path, tk_err_name(err), why.text);
    return track(f);
}

static feed_bar next_ok(feed_file *f)
{
    feed_bar bar;
    feed_error why = {{0}};
    tk_err err = feed_file_next(f, &bar, &why);
    if (err != TK_OK) fail_msg("next: %s: %s", tk_err_name(err), why.text);
    return bar;
}

/* The message must be "<path><suffix>" exactly. */
static void expect_text(const char *file_path, const char *text, const char *suffix)
{
    char want[FEED_ERROR_BYTES + 256];
    snprintf(want, sizeof(want), "%s%s", file_path, suffix);
    if (strcmp(text, want) != 0) fail_msg("message\n  got  '%s'\n  want '%s'", text, want);
}

/* After the bars of the file, TK_ENOENT, and again on the next call. */
static void expect_end(feed_file *f)
{
    for (int i = 0; i < 2; i++) {
        feed_bar bar;
        feed_error why = {{0}};
        EXPECT_ERR(feed_file_next(f, &bar, &why), TK_ENOENT);
        assert_non_null(strstr(why.text, ": end of file"));
    }
}

/* Open text as a file: the open fails with want and the message "<path><suffix>". */
static void expect_open_error(const char *text, tk_err want, const char *suffix)
{
    const char *file_path = write_text("bad_open", text);
    feed_file *f = NULL;
    feed_error why = {{0}};
    EXPECT_ERR(feed_file_open(file_path, tk_mem_system(), &f, &why), want);
    assert_null(f);
    expect_text(file_path, why.text, suffix);
}

/* Open text as a file: good_bars bars come, then TK_EINVAL with "<path><suffix>", twice (the
 * error is final). */
static void expect_row_error(const char *text, int good_bars, const char *suffix)
{
    const char *file_path = write_text("bad_row", text);
    feed_file *f = open_ok(file_path);
    for (int i = 0; i < good_bars; i++)
        (void)next_ok(f);
    for (int i = 0; i < 2; i++) {
        feed_bar bar;
        tk_test_mark(&bar, sizeof(bar));
        feed_error why = {{0}};
        EXPECT_ERR(feed_file_next(f, &bar, &why), TK_EINVAL);
        assert_true(tk_test_is_marked(&bar, sizeof(bar))); /* out untouched on error */
        expect_text(file_path, why.text, suffix);
    }
    close_file(f);
}

static void expect_bar(feed_bar bar, int64_t ts_s, int64_t o, int64_t h, int64_t l, int64_t c,
                       int64_t v, uint64_t gap, uint64_t line)
{
    const int64_t got[] = {bar.open_ts_ns, bar.open_e8,   bar.high_e8,           bar.low_e8,
                           bar.close_e8,   bar.volume_e8, (int64_t)bar.gap_bars, (int64_t)bar.line};
    const int64_t want[] = {ts_s * NS, o, h, l, c, v, (int64_t)gap, (int64_t)line};
    for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++) {
        if (got[i] != want[i]) {
            fail_msg("bar at line %" PRIu64 ", value %zu: got %" PRId64 ", want %" PRId64, bar.line,
                     i, got[i], want[i]);
        }
    }
}

/* ---- Formats -------------------------------------------------------------------------------- */

static void test_csv_unix_seconds(void **state)
{
    (void)state;
    feed_file *f =
        open_ok(write_text("s.csv", "start_unix_s,open,high,low,close,volume\n"
                                    "1463544000,456.16,456.81,455.3,456.02,561.88098307\n"
                                    "1463558400,456.14,456.33,454.79,456.1,446.0329534\n"));
    assert_string_equal(feed_file_format(f), "csv-unix-s");
    assert_int_equal(feed_file_interval_s(f), 14400);
    expect_bar(next_ok(f), 1463544000, 45616000000, 45681000000, 45530000000, 45602000000,
               56188098307, 0, 2);
    expect_bar(next_ok(f), 1463558400, 45614000000, 45633000000, 45479000000, 45610000000,
               44603295340, 0, 3);
    expect_end(f);
    close_file(f);
}

static void test_csv_unix_ms_crlf_bom(void **state)
{
    (void)state;
    feed_file *f =
        open_ok(write_text("ms.csv", "\xEF\xBB\xBFopen_time_ms,open,high,low,close,volume\r\n"
                                     "1570752000000,0.00141342,0.00141557,0.00141266,"
                                     "0.00141418,1482.0\r\n"
                                     "1570752060000,0.00141597,0.00141658,0.00141597,"
                                     "0.00141658,0\r\n"));
    assert_string_equal(feed_file_format(f), "csv-unix-ms");
    assert_int_equal(feed_file_interval_s(f), 60);
    expect_bar(next_ok(f), 1570752000, 141342, 141557, 141266, 141418, 1482 * E8, 0, 2);
    expect_bar(next_ok(f), 1570752060, 141597, 141658, 141597, 141658, 0, 0, 3);
    expect_end(f);
    close_file(f);
}

static void test_csv_iso(void **state)
{
    (void)state;
    /* space and fraction; 'T', fraction and Z; +00:00; no final newline */
    feed_file *f = open_ok(write_text("iso.csv", "timestamp,open,high,low,close,volume\n"
                                                 "2021-12-31 23:01:00.000000,46319.0,46385.0,"
                                                 "46319.0,46377.0,2300413.7295\n"
                                                 "2021-12-31T23:02:00.000Z,1,1,1,1,1\n"
                                                 "2021-12-31T23:03:00+00:00,1,1,1,1,1\n"
                                                 "2021-12-31 23:05:00,1,1,1,1,1"));
    assert_string_equal(feed_file_format(f), "csv-iso");
    assert_int_equal(feed_file_interval_s(f), 60);
    expect_bar(next_ok(f), 1640991660, 4631900000000, 4638500000000, 4631900000000, 4637700000000,
               230041372950000, 0, 2);
    expect_bar(next_ok(f), 1640991720, E8, E8, E8, E8, E8, 0, 3);
    expect_bar(next_ok(f), 1640991780, E8, E8, E8, E8, E8, 0, 4);
    expect_bar(next_ok(f), 1640991900, E8, E8, E8, E8, E8, 1, 5);
    expect_end(f);
    close_file(f);
}

static void test_csv_iso_dates_and_fractions(void **state)
{
    (void)state;
    /* daily bars across 29 February of a leap year; times with a fraction step whole seconds */
    feed_file *f = open_ok(write_text("daily.csv", "Date,Open,High,Low,Close,Volume\n"
                                                   "2024-02-28,1,1,1,1,1\n2024-02-29,1,1,1,1,1\n"
                                                   "2024-03-01,1,1,1,1,1\n2024-03-03,1,1,1,1,1\n"));
    assert_int_equal(feed_file_interval_s(f), 86400);
    expect_bar(next_ok(f), 1709078400, E8, E8, E8, E8, E8, 0, 2);
    expect_bar(next_ok(f), 1709164800, E8, E8, E8, E8, E8, 0, 3);
    expect_bar(next_ok(f), 1709251200, E8, E8, E8, E8, E8, 0, 4);
    expect_bar(next_ok(f), 1709424000, E8, E8, E8, E8, E8, 1, 5);
    close_file(f);
    f = open_ok(write_text("frac.csv", "time,open,high,low,close,volume\n"
                                       "2020-01-01T00:00:00.5Z,1,1,1,1,1\n"
                                       "2020-01-01T00:00:01.500000000Z,1,1,1,1,1\n"));
    assert_int_equal(feed_file_interval_s(f), 1);
    assert_true(next_ok(f).open_ts_ns == 1577836800 * NS + NS / 2);
    assert_true(next_ok(f).open_ts_ns == 1577836801 * NS + NS / 2);
    close_file(f);
}

static const char kline_json[] =
    "[\n"
    "  [1634943780000, \"60685.22000000\", \"60729.84000000\", \"60670.90000000\",\n"
    "   \"60719.27000000\", \"21.63272000\", 1634943839999, \"1313200.01340410\", 617,\n"
    "   \"12.28492000\", \"745719.41022840\", \"0\"],\n"
    "  [1634943840000, \"60719.28\", \"60780.41\", \"60707.00\", \"60771.81\", \"21.91797\",\n"
    "   1634943899999, \"1\", 769, \"1\", \"1\", \"0\"],\n"
    "  [1634943960000, \"60768.71\", \"60807.52\", \"60756.51\", \"60786.56\", \"0\",\n"
    "   1634944019999, \"1\", 673, \"1\", \"1\", \"0\"]\n"
    "]\n";

static void test_binance_klines_json(void **state)
{
    (void)state;
    feed_file *f = open_ok(write_text("klines.json", kline_json));
    assert_string_equal(feed_file_format(f), "binance-klines-json");
    assert_int_equal(feed_file_interval_s(f), 60);
    expect_bar(next_ok(f), 1634943780, 6068522000000, 6072984000000, 6067090000000, 6071927000000,
               2163272000, 0, 1);
    expect_bar(next_ok(f), 1634943840, 6071928000000, 6078041000000, 6070700000000, 6077181000000,
               2191797000, 0, 2);
    expect_bar(next_ok(f), 1634943960, 6076871000000, 6080752000000, 6075651000000, 6078656000000,
               0, 1, 3);
    expect_end(f);
    close_file(f);
}

static void test_header_variants(void **state)
{
    (void)state;
    const char *headers[] = {
        "time,open,high,low,close,volume",
        "TIMESTAMP,OPEN,HIGH,LOW,CLOSE,VOLUME",
        "ts,o,h,l,c,v",
        "open_time,open,high,low,close,vol",
        " \"datetime\" , open ,high,low,close,volume_usd",
        "start,open,high,low,close,Volume (BTC)",
        "t,Open,High,Low,Close,Volume",
        "candle_begin_time,open,high,low,close,volume",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "%s\n1600000000,1,2,0.5,1.5,10\n", headers[i]);
        feed_file *f = NULL;
        feed_error why = {{0}};
        tk_err err = feed_file_open(write_text("h.csv", text), tk_mem_system(), &f, &why);
        if (err != TK_OK) fail_msg("header '%s': %s", headers[i], why.text);
        track(f);
        expect_bar(next_ok(f), 1600000000, E8, 2 * E8, E8 / 2, 3 * E8 / 2, 10 * E8, 0, 2);
        close_file(f);
    }
}

static void test_header_only_and_empty_array(void **state)
{
    (void)state;
    feed_file *f = open_ok(write_text("header.csv", "time,open,high,low,close,volume\r\n"));
    assert_string_equal(feed_file_format(f), "csv");
    assert_int_equal(feed_file_interval_s(f), 0);
    expect_end(f);
    close_file(f);
    f = open_ok(write_text("empty.json", " [ ]\n"));
    assert_string_equal(feed_file_format(f), "binance-klines-json");
    assert_int_equal(feed_file_interval_s(f), 0);
    expect_end(f);
    close_file(f);
    /* one bar: no step, no interval */
    f = open_ok(write_text("one.csv", "time,open,high,low,close,volume\n1600000000,1,1,1,1,1"));
    assert_int_equal(feed_file_interval_s(f), 0);
    expect_bar(next_ok(f), 1600000000, E8, E8, E8, E8, E8, 0, 2);
    expect_end(f);
    close_file(f);
}

/* ---- Gaps and the interval ------------------------------------------------------------------ */

static void test_gaps(void **state)
{
    (void)state;
    feed_file *f = open_ok(write_text("gaps.csv", "time,open,high,low,close,volume\n"
                                                  "1600000000,1,1,1,1,1\n1600000060,1,1,1,1,1\n"
                                                  "1600000180,1,1,1,1,1\n1600000240,1,1,1,1,1\n"
                                                  "1600000480,1,1,1,1,1\n"));
    assert_int_equal(feed_file_interval_s(f), 60);
    const uint64_t gaps[] = {0, 0, 1, 0, 3};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(next_ok(f).gap_bars, gaps[i]);
    expect_end(f);
    close_file(f);
    /* the smallest step wins even when a gap comes first */
    f = open_ok(write_text("gap_first.csv", "time,open,high,low,close,volume\n"
                                            "1600000000,1,1,1,1,1\n1600000120,1,1,1,1,1\n"
                                            "1600000180,1,1,1,1,1\n"));
    assert_int_equal(feed_file_interval_s(f), 60);
    assert_int_equal(next_ok(f).gap_bars, 0);
    assert_int_equal(next_ok(f).gap_bars, 1);
    assert_int_equal(next_ok(f).gap_bars, 0);
    close_file(f);
}

/* A file of count one-minute bars from 1600000000 (ms, CRLF), then extra rows. */
static const char *write_minutes(const char *name, uint32_t count, const char *extra)
{
    size_t cap = (size_t)count * 64u + strlen(extra) + 64u;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "time,open,high,low,close,volume\r\n");
    for (uint32_t i = 0; i < count; i++) {
        len += (size_t)snprintf(text + len, cap - len, "%" PRId64 ",2,3,1,2,%u\r\n",
                                (INT64_C(1600000000) + 60 * (int64_t)i) * 1000, i);
    }
    len += (size_t)snprintf(text + len, cap - len, "%s", extra);
    const char *file_path = write_bytes(name, text, len);
    free(text);
    return file_path;
}

static void test_gaps_after_read_ahead(void **state)
{
    (void)state;
    const uint32_t n = FEED_INTERVAL_PROBE_BARS + 100u;
    char extra[256];
    int64_t last_ms = (INT64_C(1600000000) + 60 * (int64_t)(n - 1u)) * 1000;
    snprintf(extra, sizeof(extra), "%" PRId64 ",2,3,1,2,1\r\n%" PRId64 ",2,3,1,2,1\r\n",
             last_ms + 5 * 60000, last_ms + 6 * 60000);
    feed_file *f = open_ok(write_minutes("long.csv", n, extra));
    assert_int_equal(feed_file_interval_s(f), 60);
    for (uint32_t i = 0; i < n; i++) {
        feed_bar bar = next_ok(f);
        assert_int_equal(bar.gap_bars, 0);
        assert_int_equal(bar.line, i + 2u);
        assert_int_equal(bar.volume_e8, (int64_t)i * E8);
    }
    assert_int_equal(next_ok(f).gap_bars, 4);
    assert_int_equal(next_ok(f).gap_bars, 0);
    expect_end(f);
    close_file(f);
}

static void test_step_errors(void **state)
{
    (void)state;
    /* within the read-ahead: the bars before the bad one come first */
    expect_row_error("time,open,high,low,close,volume\n1600000000,1,1,1,1,1\n"
                     "1600000060,1,1,1,1,1\n1600000150,1,1,1,1,1\n1600000210,1,1,1,1,1\n",
                     2,
                     ":4: field 'time': 90 s after the previous bar (line 3), not a multiple of "
                     "the bar interval of 60 s");
    /* after the read-ahead: smaller than the interval, then not a multiple of it */
    const uint32_t n = FEED_INTERVAL_PROBE_BARS + 10u;
    int64_t last_ms = (INT64_C(1600000000) + 60 * (int64_t)(n - 1u)) * 1000;
    char extra[128];
    char suffix[256];
    const int64_t steps_s[] = {30, 150};
    for (size_t i = 0; i < 2; i++) {
        snprintf(extra, sizeof(extra), "%" PRId64 ",2,3,1,2,1\n", last_ms + steps_s[i] * 1000);
        feed_file *f = open_ok(write_minutes("step.csv", n, extra));
        for (uint32_t b = 0; b < n; b++)
            (void)next_ok(f);
        feed_bar bar;
        feed_error why = {{0}};
        EXPECT_ERR(feed_file_next(f, &bar, &why), TK_EINVAL);
        snprintf(suffix, sizeof(suffix),
                 ":%u: field 'time': %" PRId64 " s after the previous bar (line %u), %s the bar "
                 "interval of 60 s",
                 n + 2u, steps_s[i], n + 1u, i == 0 ? "less than" : "not a multiple of");
        expect_text(path, why.text, suffix);
        close_file(f);
    }
    /* a step of a fraction of a second */
    expect_row_error("time,open,high,low,close,volume\n2020-01-01 00:00:00,1,1,1,1,1\n"
                     "2020-01-01 00:00:00.25,1,1,1,1,1\n",
                     1,
                     ":3: field 'time': 250000000 ns after the previous bar (line 2), not a whole "
                     "number of seconds ('2020-01-01 00:00:00.25')");
}

/* ---- Numbers -------------------------------------------------------------------------------- */

/* The volume of a one-bar file whose volume field is text. */
static int64_t volume_of(const char *text)
{
    char file[256];
    snprintf(file, sizeof(file), "time,open,high,low,close,volume\n1600000000,1,1,1,1,%s\n", text);
    feed_file *f = open_ok(write_text("vol.csv", file));
    int64_t volume = next_ok(f).volume_e8;
    close_file(f);
    return volume;
}

static void test_rounding_and_exponents(void **state)
{
    (void)state;
    typedef struct num_case {
        const char *text;
        int64_t e8;
    } num_case;
    const num_case cases[] = {
        {"218102.59507500002", 21810259507500}, /* a float artefact of the ftx file */
        {"380591.00179999997", 38059100180000},
        {"0.000000015", 2}, /* tie: to the even neighbour, up */
        {"0.000000025", 2}, /* tie: to the even neighbour, down */
        {"0.0000000250001", 3},
        {"0.000000005", 0},
        {"0.0000000049999", 0},
        {"1.999999995", 2 * E8},
        {"1e-05", 1000},
        {"1.5E3", 150000000000},
        {"12345e-2", 12345000000},
        {"2.5e-9", 0},
        {"3.5e-8", 4},
        {"0.00E+99999", 0},
        {"5e-100000", 0},
        {"7.", 7 * E8},
        {".25", 25000000},
        {"0000012.50", 1250000000},
        {"92233720368.54775807", INT64_MAX},
        {"92233720368.547758074999", INT64_MAX},
        {"9.223372036854775807e10", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = volume_of(cases[i].text);
        if (got != cases[i].e8) {
            fail_msg("'%s': got %" PRId64 ", want %" PRId64, cases[i].text, got, cases[i].e8);
        }
    }
}

static void test_number_errors(void **state)
{
    (void)state;
    typedef struct bad_case {
        const char *field;
        const char *message;
    } bad_case;
    const bad_case cases[] = {
        {"10x", "not a decimal number ('10x')"},
        {" 10", "not a decimal number (' 10')"},
        {"+10", "not a decimal number ('+10')"},
        {"1e", "not a decimal number (bad exponent) ('1e')"},
        {"1e+", "not a decimal number (bad exponent) ('1e+')"},
        {"1e5.5", "not a decimal number (bad exponent) ('1e5.5')"},
        {"e5", "not a decimal number ('e5')"},
        {"nan", "not a decimal number ('nan')"},
        {"inf", "not a decimal number ('inf')"},
        {"0x10", "not a decimal number ('0x10')"},
        {"1,000", ""}, /* one field too many: checked below */
        {"1.2.3", "not a decimal number ('1.2.3')"},
        {"-", "not a decimal number ('-')"},
        {".", "not a decimal number ('.')"},
        {"1\x01", "not a decimal number ('1?')"},
        {"\"10\"", "not a decimal number ('\"10\"')"},
        {"92233720368.547758075", "too large ('92233720368.547758075')"},
        {"1e11", "too large ('1e11')"},
        {"1e99999", "too large ('1e99999')"},
        {"-0.5", "negative ('-0.5')"},
        {"123456789012345678901234567890123456789012345678901234567890",
         "too large ('12345678901234567890123456789012345678901234...')"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        char suffix[256];
        snprintf(text, sizeof(text),
                 "time,open,high,low,close,volume\n1600000000,1,1,1,1,1\n1600000060,1,1,1,1,%s\n",
                 cases[i].field);
        if (cases[i].message[0] == '\0') {
            snprintf(suffix, sizeof(suffix), ":3: trailing data after field 'volume' (',000')");
        } else {
            snprintf(suffix, sizeof(suffix), ":3: field 'volume': %s", cases[i].message);
        }
        expect_row_error(text, 1, suffix);
    }
}

/* ---- Bad rows ------------------------------------------------------------------------------- */

typedef struct row_case {
    const char *row; /* line 3, after a good bar at 1600000000 on line 2 */
    const char *suffix;
} row_case;

static void run_row_cases(const row_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char text[512];
        snprintf(text, sizeof(text), "time,open,high,low,close,volume\n1600000000,1,1,1,1,1\n%s\n",
                 cases[i].row);
        expect_row_error(text, 1, cases[i].suffix);
    }
}

static void test_row_errors(void **state)
{
    (void)state;
    const row_case cases[] = {
        {"1600000060,1,2,0.5,1.5", ":3: field 'volume': missing (the row has 5 fields, not 6)"},
        {"1600000060", ":3: field 'open': missing (the row has 1 fields, not 6)"},
        {"1600000060,1,2,0.5,1.5,10,7", ":3: trailing data after field 'volume' (',7')"},
        {"1600000060,1,2,0.5,1.5,10,", ":3: trailing data after field 'volume' (',')"},
        {"1600000060,,2,0.5,1.5,10", ":3: field 'open': empty"},
        {",1,2,0.5,1.5,10", ":3: field 'time': empty"},
        {"1600000060,1,2,0.5,1.5,", ":3: field 'volume': empty"},
        {"1600000060,1.3,1.2,1,1.25,10",
         ":3: field 'high': below max(open, close) (high 1.2, open 1.3, close 1.25)"},
        {"1600000060,1.2,1.25,1,1.3,10",
         ":3: field 'high': below max(open, close) (high 1.25, open 1.2, close 1.3)"},
        {"1600000060,1.3,1.5,1.26,1.25,10",
         ":3: field 'low': above min(open, close) (low 1.26, open 1.3, close 1.25)"},
        {"1600000060,1.2,1.5,1.21,1.3,10",
         ":3: field 'low': above min(open, close) (low 1.21, open 1.2, close 1.3)"},
        {"1600000060,0,1,0,0.5,1", ":3: field 'open': not above 0 ('0')"},
        {"1600000060,1,-1,1,1,1", ":3: field 'high': not above 0 ('-1')"},
        {"1600000060,1,1,-1,1,1", ":3: field 'low': not above 0 ('-1')"},
        {"1600000060,1,1,1,0.000000001,1", ":3: field 'close': not above 0 ('0.000000001')"},
        {"1600000060,1,1,1,1,-0.00000001", ":3: field 'volume': negative ('-0.00000001')"},
        {"1600000000,1,1,1,1,1",
         ":3: field 'time': not after the previous bar's ('1600000000', line 2 has "
         "'1600000000')"},
        {"1599999940,1,1,1,1,1",
         ":3: field 'time': not after the previous bar's ('1599999940', line 2 has "
         "'1600000000')"},
        {"1600000060000,1,1,1,1,1",
         ":3: field 'time': '1600000060000' is in milliseconds, but this file's times are in "
         "seconds (decided by its first row: below 1e11 is seconds)"},
        {"abc,1,1,1,1,1", ":3: field 'time': not a whole number, expected unix seconds ('abc')"},
        {"-60,1,1,1,1,1", ":3: field 'time': not a whole number, expected unix seconds ('-60')"},
        {"1600000060.0,1,1,1,1,1",
         ":3: field 'time': not a whole number, expected unix seconds ('1600000060.0')"},
        {"2020-09-13 12:27:40,1,1,1,1,1",
         ":3: field 'time': not a whole number, expected unix seconds ('2020-09-13 12:27:40')"},
        {"99999999999999999999,1,1,1,1,1",
         ":3: field 'time': too large, expected unix seconds ('99999999999999999999')"},
        {"\t1600000060,1,1,1,1,1",
         ":3: field 'time': not a whole number, expected unix seconds ('?1600000060')"},
    };
    run_row_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_time_errors(void **state)
{
    (void)state;
    typedef struct iso_case {
        const char *time;
        const char *message;
    } iso_case;
    const iso_case cases[] = {
        {"2020-13-01 00:00:00", "month out of range"},
        {"2020-00-01 00:00:00", "month out of range"},
        {"2021-02-29 00:00:00", "day out of range"},
        {"2020-04-31", "day out of range"},
        {"2020-01-01 24:00:00", "hour, minute or second out of range"},
        {"2020-01-01 00:60:00", "hour, minute or second out of range"},
        {"2020-01-01 00:00:60", "hour, minute or second out of range"},
        {"2020-01-01 01:00:00+01:00",
         "only UTC times are accepted (nothing, Z or +00:00 after the time)"},
        {"2020-01-01 01:00:00z",
         "only UTC times are accepted (nothing, Z or +00:00 after the time)"},
        {"2020-01-01 01:00:00.1234567890", "fraction of a second must have 1 to 9 digits"},
        {"2020-01-01 01:00:00.", "fraction of a second must have 1 to 9 digits"},
        {"2020-01-01X01:00:00", "not an ISO date and time (a ' ' or 'T' must follow the date)"},
        {"2020-01-01 01:00", "not an ISO time (HH:MM:SS after the date)"},
        {"2020-01-01 1:00:00", "not an ISO time (HH:MM:SS after the date)"},
        {"2020-1-01", "not an ISO date (YYYY-MM-DD[ HH:MM:SS[.fff]][Z])"},
        {"2020-01-01-", "not an ISO date and time (a ' ' or 'T' must follow the date)"},
        {"1969-12-31 23:59:59", "before 1970"},
        {"2262-04-11 23:47:17", "too late (after 2262-04-11)"},
        {"1577836860", "not an ISO date, as the file's first row"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        char suffix[256];
        snprintf(text, sizeof(text),
                 "time,open,high,low,close,volume\n2020-01-01 00:00:00,1,1,1,1,1\n%s,1,1,1,1,1\n",
                 cases[i].time);
        snprintf(suffix, sizeof(suffix), ":3: field 'time': %s ('%s')", cases[i].message,
                 cases[i].time);
        expect_row_error(text, 1, suffix);
    }
    /* the latest time there is, and a first row that is no time at all */
    feed_file *f = open_ok(write_text("late.csv", "time,open,high,low,close,volume\n"
                                                  "2262-04-11 23:47:16.854775807,1,1,1,1,1\n"));
    assert_true(next_ok(f).open_ts_ns == INT64_MAX);
    close_file(f);
    expect_row_error("time,open,high,low,close,volume\nhello,1,1,1,1,1\n", 0,
                     ":2: field 'time': neither a unix time (whole seconds or milliseconds) nor "
                     "an ISO date (YYYY-MM-DD[ HH:MM:SS[.fff]][Z]) ('hello')");
    f = open_ok(path);
    assert_string_equal(feed_file_format(f), "csv");
    close_file(f);
    /* a file in ms meets a time in seconds; unix times after 2262 */
    expect_row_error("time,open,high,low,close,volume\n1600000000000,1,1,1,1,1\n"
                     "1600000060,1,1,1,1,1\n",
                     1,
                     ":3: field 'time': '1600000060' is in seconds, but this file's times are in "
                     "milliseconds (decided by its first row: below 1e11 is seconds)");
    expect_row_error("time,open,high,low,close,volume\n9300000000000000,1,1,1,1,1\n", 0,
                     ":2: field 'time': too late (after 2262-04-11) ('9300000000000000')");
    expect_row_error("time,open,high,low,close,volume\n9300000000,1,1,1,1,1\n", 0,
                     ":2: field 'time': too late (after 2262-04-11) ('9300000000')");
}

/* ---- Lines ---------------------------------------------------------------------------------- */

/* A data row of exactly size bytes (volume 1 padded with zeros), and a line ending. */
static size_t row_of_size(char *buf, size_t size, const char *ending)
{
    const char *head = "1600000060,1,1,1,1,1.";
    size_t head_len = strlen(head);
    assert_true(size > head_len);
    memcpy(buf, head, head_len);
    memset(buf + head_len, '0', size - head_len);
    memcpy(buf + size, ending, strlen(ending));
    return size + strlen(ending);
}

static void test_line_length(void **state)
{
    (void)state;
    static char text[3 * FEED_LINE_BYTES_MAX];
    const char *header = "time,open,high,low,close,volume\n1600000000,1,1,1,1,1\n";
    const char *endings[] = {"\n", "\r\n", ""};
    for (size_t e = 0; e < 3; e++) {
        size_t len = strlen(header);
        memcpy(text, header, len);
        len += row_of_size(text + len, FEED_LINE_BYTES_MAX, endings[e]);
        feed_file *f = open_ok(write_bytes("long_ok.csv", text, len));
        (void)next_ok(f);
        assert_int_equal(next_ok(f).volume_e8, E8); /* 4096 bytes: the longest line */
        expect_end(f);
        close_file(f);
        len = strlen(header);
        memcpy(text, header, len);
        len += row_of_size(text + len, FEED_LINE_BYTES_MAX + 1u, endings[e]);
        text[len] = '\0';
        expect_row_error(text, 1, ":3: line longer than 4096 bytes");
    }
    /* a huge line with no newline at all, and an over-long header */
    memset(text, '7', sizeof(text) - 1u);
    memcpy(text, "time,open,high,low,close,volume\n", 32);
    text[sizeof(text) - 1u] = '\0';
    expect_row_error(text, 0, ":2: line longer than 4096 bytes");
    memset(text, 'x', sizeof(text) - 1u);
    expect_open_error(text, TK_EINVAL, ":1: header: line longer than 4096 bytes");
}

static void test_blank_lines(void **state)
{
    (void)state;
    expect_row_error("time,open,high,low,close,volume\n1600000000,1,1,1,1,1\n\n"
                     "1600000060,1,1,1,1,1\n",
                     1, ":3: empty line (blank lines may only end the file)");
    expect_row_error("time,open,high,low,close,volume\n\r\n1600000000,1,1,1,1,1\n", 0,
                     ":2: empty line (blank lines may only end the file)");
    feed_file *f = open_ok(write_text("tail.csv", "time,open,high,low,close,volume\n"
                                                  "1600000000,1,1,1,1,1\n\n\r\n\n"));
    (void)next_ok(f);
    expect_end(f);
    close_file(f);
    /* more blank lines at the end than allowed */
    char text[256];
    size_t len = (size_t)snprintf(text, sizeof(text),
                                  "time,open,high,low,close,volume\n1600000000,1,1,1,1,1\n");
    for (int i = 0; i < 70; i++)
        text[len++] = '\n';
    text[len] = '\0';
    expect_row_error(text, 1, ":3: empty line (blank lines may only end the file)");
}

/* ---- Open errors ---------------------------------------------------------------------------- */

static void test_header_errors(void **state)
{
    (void)state;
    expect_open_error("", TK_EINVAL, ": empty file (no header line)");
    expect_open_error("\n \r\n\t\n", TK_EINVAL, ": empty file (no header line)");
    expect_open_error("\xEF\xBB\xBF", TK_EINVAL, ": empty file (no header line)");
    expect_open_error("time,open,high,low,close\n", TK_EINVAL,
                      ":1: header: expected 6 comma-separated columns "
                      "(time,open,high,low,close,volume), found 5 ('time,open,high,low,close')");
    expect_open_error("time;open;high;low;close;volume\n", TK_EINVAL,
                      ":1: header: expected 6 comma-separated columns "
                      "(time,open,high,low,close,volume), found 1 "
                      "('time;open;high;low;close;volume')");
    expect_open_error("time,open,high,low,close,volume,trades\n", TK_EINVAL,
                      ":1: header: expected 6 comma-separated columns "
                      "(time,open,high,low,close,volume), found 7 "
                      "('time,open,high,low,close,volume,trades')");
    expect_open_error("time,open,hi,low,close,volume\n", TK_EINVAL,
                      ":1: header: column 3 is 'hi', expected high");
    expect_open_error("time,open,high,low,close,amount\n", TK_EINVAL,
                      ":1: header: column 6 is 'amount', expected volume");
    expect_open_error("time,high,open,low,close,volume\n", TK_EINVAL,
                      ":1: header: column 2 is 'high', expected open");
    expect_open_error("symbol,open,high,low,close,volume\n", TK_EINVAL,
                      ":1: header: column 1 is 'symbol', expected a time (a name with time, date "
                      "or start in it, or ts)");
    expect_open_error("1600000000,1,2,0.5,1.5,10\n", TK_EINVAL,
                      ":1: header: missing (the first line holds data, '1600000000'): the file "
                      "must start with a line such as time,open,high,low,close,volume");
    expect_open_error("2020-01-01 00:00:00,1,2,0.5,1.5,10\n", TK_EINVAL,
                      ":1: header: missing (the first line holds data, '2020-01-01 00:00:00'): "
                      "the file must start with a line such as time,open,high,low,close,volume");
}

static void test_json_errors(void **state)
{
    (void)state;
    const char *good = "[1634943780000,\"1\",\"1\",\"1\",\"1\",\"1\",1634943839999,\"1\",1,\"1\","
                       "\"1\",\"0\"]";
    const row_case cases[] = {
        {"5", ": element 2: not a kline array but a number"},
        {"{}", ": element 2: not a kline array but an object"},
        {"[1634943840000,\"1\",\"1\",\"1\",\"1\",\"1\",1634943899999,\"1\",1,\"1\",\"1\"]",
         ": element 2: the kline has 11 values, expected 12"},
        {"[\"1634943840000\",\"1\",\"1\",\"1\",\"1\",\"1\",1634943899999,\"1\",1,\"1\",\"1\","
         "\"0\"]",
         ": element 2: field 'time' (value 1): not a whole number of ms (a string)"},
        {"[-1,\"1\",\"1\",\"1\",\"1\",\"1\",1634943899999,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'time' (value 1): not a whole number of ms (negative)"},
        {"[1634943840000,1,\"1\",\"1\",\"1\",\"1\",1634943899999,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'open' (value 2): not a decimal string but a number"},
        {"[1634943840000,\"1\",\"1\",\"1\",\"1\",null,1634943899999,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'volume' (value 6): not a decimal string but null"},
        {"[1634943840000,\"1\",\"1\",\"1\",\"1\",\"1\",1634943840000,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'close_time' (value 7): not a whole number of ms after the open "
         "time (not after it)"},
        {"[1634943840000,\"1\",\"1\",\"1\",\"1\",\"1\",\"x\",\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'close_time' (value 7): not a whole number of ms after the open "
         "time (a string)"},
        {"[1634943840000,\"1\",\"0.5\",\"1\",\"1\",\"1\",1634943899999,\"1\",1,\"1\",\"1\","
         "\"0\"]",
         ": element 2: field 'high': below max(open, close) (high 0.5, open 1, close 1)"},
        {"[1634943840000,\"1\",\"1\",\"1\",\"1\",\"\",1634943899999,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'volume': empty"},
        {"[1634943840,\"1\",\"1\",\"1\",\"1\",\"1\",1634943899,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'time': '1634943840' is in seconds, but this file's times are in "
         "milliseconds (Binance kline times are in milliseconds)"},
        {"[1634943780000,\"1\",\"1\",\"1\",\"1\",\"1\",1634943839999,\"1\",1,\"1\",\"1\",\"0\"]",
         ": element 2: field 'time': not after the previous bar's ('1634943780000', element 1 "
         "has '1634943780000')"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "[%s,\n%s]", good, cases[i].row);
        expect_row_error(text, 1, cases[i].suffix);
    }
    expect_open_error("{\"code\":-1121,\"msg\":\"Invalid symbol.\"}", TK_EINVAL,
                      ": not a JSON array of klines but an object with msg 'Invalid symbol.' (a "
                      "venue error reply?)");
    expect_open_error("{\"code\":1}", TK_EINVAL, ": not a JSON array of klines but an object");
    /* syntax errors: jansson's text, at the JSON line */
    const char *bad[] = {"[[1,2", "[]\nx", "[\n\n[1,}]", "[\"\xff\"]"};
    const uint64_t lines[] = {1, 2, 3, 1};
    for (size_t i = 0; i < 4; i++) {
        const char *file_path = write_text("syntax.json", bad[i]);
        feed_file *f = NULL;
        feed_error why = {{0}};
        EXPECT_ERR(feed_file_open(file_path, tk_mem_system(), &f, &why), TK_EINVAL);
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s:%" PRIu64 ": JSON: ", file_path, lines[i]);
        if (strncmp(why.text, prefix, strlen(prefix)) != 0) {
            fail_msg("'%s' does not start with '%s'", why.text, prefix);
        }
    }
}

static void test_open_errors(void **state)
{
    tk_test_mem *mem = *state;
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/no_such_file.csv", dir);
    feed_file *f = NULL;
    feed_error why = {{0}};
    EXPECT_ERR(feed_file_open(missing, &mem->mem, &f, &why), TK_ENOENT);
    expect_text(missing, why.text, ": cannot open: not found");
    EXPECT_ERR(feed_file_open(dir, &mem->mem, &f, &why), TK_EIO);
    expect_text(dir, why.text, ": read failed");
    /* out of memory: nothing allocated is left behind (the teardown checks) */
    const char *file_path = write_text("oom.csv", "time,open,high,low,close,volume\n");
    tk_test_mem_fail(mem, 0, 1);
    EXPECT_ERR(feed_file_open(file_path, &mem->mem, &f, &why), TK_ENOMEM);
    expect_text(file_path, why.text, ": out of memory");
    assert_null(f);
    /* a reader from the injected allocator, and errors with why NULL */
    EXPECT_ERR(feed_file_open(file_path, &mem->mem, &f, NULL), TK_OK);
    assert_true(mem->live_bytes > 0);
    feed_bar bar;
    EXPECT_ERR(feed_file_next(f, &bar, NULL), TK_ENOENT);
    close_file(f);
    assert_int_equal(mem->live_bytes, 0);
    EXPECT_ERR(feed_file_open(missing, &mem->mem, &f, NULL), TK_ENOENT);
    feed_file_close(NULL);
}

static void test_stream(void **state)
{
    (void)state;
    static char text[] = "time,open,high,low,close,volume\n1600000000,1,2,0.5,1.5,10\n"
                         "1600000060,1,2,0.5,1.5,20\n1600000060,1,2,0.5,1.5,20\n";
    FILE *stream = fmemopen(text, strlen(text), "r");
    assert_non_null(stream);
    feed_file *f = NULL;
    feed_error why = {{0}};
    EXPECT_ERR(feed_file_open_stream(stream, "<memory>", tk_mem_system(), &f, &why), TK_OK);
    track(f);
    assert_int_equal(feed_file_interval_s(f), 60);
    assert_int_equal(next_ok(f).volume_e8, 10 * E8);
    assert_int_equal(next_ok(f).volume_e8, 20 * E8);
    feed_bar bar;
    EXPECT_ERR(feed_file_next(f, &bar, &why), TK_EINVAL);
    assert_string_equal(why.text, "<memory>:4: field 'time': not after the previous bar's "
                                  "('1600000060', line 3 has '1600000060')");
    close_file(f);
    assert_int_equal(fclose(stream), 0); /* still open: the caller's */
    /* a long name is cut at its start */
    char name[400];
    memset(name, 'n', sizeof(name) - 1u);
    name[sizeof(name) - 1u] = '\0';
    stream = fmemopen(text, strlen(text), "r");
    assert_non_null(stream);
    EXPECT_ERR(feed_file_open_stream(stream, name, tk_mem_system(), &f, &why), TK_OK);
    track(f);
    for (int i = 0; i < 2; i++)
        (void)next_ok(f);
    EXPECT_ERR(feed_file_next(f, &bar, &why), TK_EINVAL);
    assert_true(strncmp(why.text, "...nnn", 6) == 0);
    assert_non_null(strstr(why.text, "n:4: field 'time'"));
    close_file(f);
    fclose(stream);
}

/* A stream over text whose reads fail once fail_at bytes were served. */
typedef struct failing {
    const char *text;
    size_t size;
    size_t at;
    size_t fail_at;
} failing;

static ssize_t failing_read(void *cookie, char *buf, size_t size)
{
    failing *src = cookie;
    if (src->at >= src->fail_at) return -1;
    size_t count = src->fail_at - src->at;
    if (count > size) count = size;
    if (count > src->size - src->at) count = src->size - src->at;
    memcpy(buf, src->text + src->at, count);
    src->at += count;
    return (ssize_t)count;
}

static FILE *failing_open(failing *src)
{
    cookie_io_functions_t io = {.read = failing_read, .write = NULL, .seek = NULL, .close = NULL};
    FILE *stream = fopencookie(src, "r", io);
    assert_non_null(stream);
    return stream;
}

static void test_read_errors(void **state)
{
    (void)state;
    /* CSV: the first 64 KiB are read at open; the read after them fails */
    const size_t cap = 200000;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "time,open,high,low,close,volume\n");
    for (int64_t i = 0; len + 64 < cap; i++) {
        len +=
            (size_t)snprintf(text + len, cap - len, "%" PRId64 ",1,1,1,1,1\n", 1600000000 + 60 * i);
    }
    failing src = {.text = text, .size = len, .at = 0, .fail_at = 100000};
    FILE *stream = failing_open(&src);
    feed_file *f = NULL;
    feed_error why = {{0}};
    EXPECT_ERR(feed_file_open_stream(stream, "csv", tk_mem_system(), &f, &why), TK_OK);
    track(f);
    feed_bar bar;
    uint64_t bars = 0;
    tk_err err = TK_OK;
    while ((err = feed_file_next(f, &bar, &why)) == TK_OK)
        bars++;
    EXPECT_ERR(err, TK_EIO);
    char want[128];
    snprintf(want, sizeof(want), "csv: read failed after line %" PRIu64, bars + 1u);
    assert_string_equal(why.text, want);
    assert_true(bars > FEED_INTERVAL_PROBE_BARS);
    close_file(f);
    fclose(stream);
    /* a failing first read, and JSON failing half-way */
    src = (failing){.text = text, .size = len, .at = 0, .fail_at = 0};
    stream = failing_open(&src);
    EXPECT_ERR(feed_file_open_stream(stream, "first", tk_mem_system(), &f, &why), TK_EIO);
    assert_string_equal(why.text, "first: read failed");
    fclose(stream);
    len = (size_t)snprintf(text, cap, "[");
    for (int64_t i = 0; len + 200 < cap; i++) {
        len += (size_t)snprintf(text + len, cap - len,
                                "[%" PRId64 ",\"1\",\"1\",\"1\",\"1\",\"1\",%" PRId64
                                ",\"1\",1,\"1\",\"1\",\"0\"],",
                                (1600000000 + 60 * i) * 1000, (1600000000 + 60 * i) * 1000 + 59999);
    }
    src = (failing){.text = text, .size = len, .at = 0, .fail_at = 150000};
    stream = failing_open(&src);
    EXPECT_ERR(feed_file_open_stream(stream, "json", tk_mem_system(), &f, &why), TK_EIO);
    assert_string_equal(why.text, "json: read failed");
    fclose(stream);
    free(text);
}

/* ---- The real files of ../shared/data ------------------------------------------------------- */

typedef struct real_file {
    const char *name; /* under the data directory */
    const char *format;
    int64_t interval_s;
    uint64_t bars;
    uint64_t gaps;     /* bars with gap_bars > 0 */
    uint64_t gap_bars; /* their sum */
    uint64_t zero_volume;
    feed_bar first, last; /* gap_bars and line are checked for the last only */
} real_file;

static const char *data_dir(char *buf, size_t size)
{
    const char *env = getenv("TROIKA_DATA");
    if (env != NULL && env[0] != '\0') return env;
    snprintf(buf, size, "%s/../shared/data", TK_SOURCE_DIR);
    return buf;
}

static void bar_equal(const char *what, const feed_bar *got, const feed_bar *want)
{
    if (got->open_ts_ns != want->open_ts_ns || got->open_e8 != want->open_e8 ||
        got->high_e8 != want->high_e8 || got->low_e8 != want->low_e8 ||
        got->close_e8 != want->close_e8 || got->volume_e8 != want->volume_e8) {
        fail_msg("%s: bar at line %" PRIu64 " is %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                 " %" PRId64 " %" PRId64,
                 what, got->line, got->open_ts_ns, got->open_e8, got->high_e8, got->low_e8,
                 got->close_e8, got->volume_e8);
    }
}

static void read_real(const char *data, const real_file *want)
{
    char file[1024]; /* a data directory of up to 511 bytes, then the name */
    snprintf(file, sizeof(file), "%s/%s", data, want->name);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    feed_file *f = open_ok(file);
    assert_string_equal(feed_file_format(f), want->format);
    assert_int_equal(feed_file_interval_s(f), want->interval_s);
    uint64_t bars = 0, gaps = 0, gap_bars = 0, zero_volume = 0;
    feed_bar bar, last = {0};
    feed_error why = {{0}};
    tk_err err = TK_OK;
    for (; (err = feed_file_next(f, &bar, &why)) == TK_OK; bars++) {
        if (bars == 0) bar_equal(want->name, &bar, &want->first);
        gaps += bar.gap_bars > 0 ? 1u : 0u;
        gap_bars += bar.gap_bars;
        zero_volume += bar.volume_e8 == 0 ? 1u : 0u;
        last = bar;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (err != TK_ENOENT) fail_msg("%s: %s", tk_err_name(err), why.text);
    close_file(f);
    bar_equal(want->name, &last, &want->last);
    assert_int_equal(last.line, want->last.line);
    assert_int_equal(bars, want->bars);
    assert_int_equal(gaps, want->gaps);
    assert_int_equal(gap_bars, want->gap_bars);
    assert_int_equal(zero_volume, want->zero_volume);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("%s: %" PRIu64 " bars in %.1f ms\n", want->name, bars, ms);
}

/* The real files of ../shared/data, as MANIFEST.md describes them. */
static const real_file real_files[] = {
    {"ohlcv/coinbase_BTC-USD_4h_20160518-20251028.csv",
     "csv-unix-s",
     14400,
     20695,
     3,
     5,
     0,
     {1463544000 * NS, 45616000000, 45681000000, 45530000000, 45602000000, 56188098307, 0, 2},
     {1761609600 * NS, 11408706000000, 11455383000000, 11357073000000, 11391205000000, 67140683572,
      0, 20696}},
    {"ohlcv/ftx_BTC-PERP_1m_20211231-20220201.csv",
     "csv-iso",
     60,
     45031,
     0,
     0,
     0,
     {1640991660 * NS, 4631900000000, 4638500000000, 4631900000000, 4637700000000, 230041372950000,
      0, 2},
     {1643693460 * NS, 3852500000000, 3854600000000, 3852500000000, 3854400000000, 68590697350000,
      0, 45032}},
    {"ohlcv/binance_XRP-ETH_1m_20191011-20191013.csv",
     "csv-unix-ms",
     60,
     3560,
     0,
     0,
     1091,
     {1570752000 * NS, 141342, 141557, 141266, 141418, 148200000000, 0, 2},
     {1570965540 * NS, 152814, 152817, 152787, 152787, 78500000000, 0, 3561}},
    {"rest/binance_spot_real/http_spot_market_klines.json",
     "binance-klines-json",
     60,
     10,
     0,
     0,
     0,
     {1634943780 * NS, 6068522000000, 6072984000000, 6067090000000, 6071927000000, 2163272000, 0,
      1},
     {1634944320 * NS, 6073985000000, 6073985000000, 6073985000000, 6073985000000, 4734000, 0, 10}},
};

static void test_real_data(void **state)
{
    (void)state;
    char buf[512];
    const char *data = data_dir(buf, sizeof(buf));
    char manifest[1024];
    snprintf(manifest, sizeof(manifest), "%s/MANIFEST.md", data);
    if (access(manifest, R_OK) != 0) {
        fail_msg("the real data is missing: no %s. Set TROIKA_DATA to the data directory "
                 "(../shared/data beside the checkout, as CI has it)",
                 manifest);
    }
    for (size_t i = 0; i < sizeof(real_files) / sizeof(real_files[0]); i++)
        read_real(data, &real_files[i]);
    /* the coinbase gaps, where MANIFEST.md counts 3 */
    char file[1024];
    snprintf(file, sizeof(file), "%s/%s", data, real_files[0].name);
    feed_file *f = open_ok(file);
    const uint64_t gap_lines[] = {1722, 4885, 20683};
    const uint64_t gap_sizes[] = {1, 3, 1};
    size_t found = 0;
    feed_bar bar;
    while (feed_file_next(f, &bar, NULL) == TK_OK) {
        if (bar.gap_bars == 0) continue;
        assert_true(found < 3);
        assert_int_equal(bar.line, gap_lines[found]);
        assert_int_equal(bar.gap_bars, gap_sizes[found]);
        found++;
    }
    assert_int_equal(found, 3);
    close_file(f);
}

int feed_test_file(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_csv_unix_seconds, test_teardown),
        cmocka_unit_test_teardown(test_csv_unix_ms_crlf_bom, test_teardown),
        cmocka_unit_test_teardown(test_csv_iso, test_teardown),
        cmocka_unit_test_teardown(test_csv_iso_dates_and_fractions, test_teardown),
        cmocka_unit_test_teardown(test_binance_klines_json, test_teardown),
        cmocka_unit_test_teardown(test_header_variants, test_teardown),
        cmocka_unit_test_teardown(test_header_only_and_empty_array, test_teardown),
        cmocka_unit_test_teardown(test_gaps, test_teardown),
        cmocka_unit_test_teardown(test_gaps_after_read_ahead, test_teardown),
        cmocka_unit_test_teardown(test_step_errors, test_teardown),
        cmocka_unit_test_teardown(test_rounding_and_exponents, test_teardown),
        cmocka_unit_test_teardown(test_number_errors, test_teardown),
        cmocka_unit_test_teardown(test_row_errors, test_teardown),
        cmocka_unit_test_teardown(test_time_errors, test_teardown),
        cmocka_unit_test_teardown(test_line_length, test_teardown),
        cmocka_unit_test_teardown(test_blank_lines, test_teardown),
        cmocka_unit_test_teardown(test_header_errors, test_teardown),
        cmocka_unit_test_teardown(test_json_errors, test_teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, tk_test_mem_setup, tk_test_mem_teardown),
        cmocka_unit_test_teardown(test_stream, test_teardown),
        cmocka_unit_test_teardown(test_read_errors, test_teardown),
        cmocka_unit_test_teardown(test_real_data, test_teardown),
    };
    return cmocka_run_group_tests_name("feeds/file", tests, group_setup, group_teardown);
}
