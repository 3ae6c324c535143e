/* feeds/feed_file.c: the candle file reader: format detection, the read-ahead that infers the
 * bar interval, the checks of every row, gaps, and the messages that name file, line and
 * field. feed_csv.c and feed_json.c turn lines and klines into rows of texts; feed_text.c turns
 * texts into numbers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "feed_internal.h"

#define NS_PER_S  ((int64_t)1000000000)
#define NS_PER_MS ((int64_t)1000000)
/* A unix time below this is in seconds, from it on in milliseconds: 1e11 s is the year 5138,
 * 1e11 ms is 1973-03-03, so no real candle time is ambiguous. */
#define UNIX_MS_FROM ((int64_t)100000000000)

typedef enum time_kind { TIME_UNKNOWN, TIME_UNIX_S, TIME_UNIX_MS, TIME_ISO } time_kind;

/* Fields are grouped by use; the large buffers come last. */
struct feed_file {
    const tk_mem *mem; /* borrowed: outlives the reader */
    FILE *stream;      /* owned when owns_stream (feed_file_open), else borrowed */
    bool owns_stream;
    bool is_json;
    time_kind time;
    struct json_t *doc; /* owned: the JSON document (JSON only) */
    size_t json_next;   /* index of the next kline to read */
    size_t json_count;
    /* Order checks, over the bars read so far (ahead or handed out). */
    bool have_prev;
    int64_t prev_ts_ns;
    uint64_t prev_line;
    char prev_time[FEED__SHOW_BYTES]; /* the previous bar's time as the file wrote it (cut) */
    size_t prev_time_size;
    int64_t interval_ns; /* 0 until two bars were read */
    uint64_t blank_line; /* the first blank line met (CSV), 0 if none */
    /* The bars read ahead by feed_file_open, handed out first. */
    uint32_t ahead_count;
    uint32_t ahead_next;
    feed_bar ahead[FEED_INTERVAL_PROBE_BARS];
    /* TK_OK while bars may follow; then, for good, TK_ENOENT, TK_EINVAL or TK_EIO. */
    tk_err end_err;
    char end_text[FEED_ERROR_BYTES];
    char name[FEED__NAME_BYTES];
    feed__lines lines; /* CSV: the line reader; JSON: the first bytes, before jansson's reads */
};

const char *feed__show(const char *text, size_t size, char out[FEED__SHOW_BYTES])
{
    TK_ASSERT(out != NULL);
    TK_ASSERT(text != NULL || size == 0);
    const size_t keep = FEED__SHOW_BYTES - 4u; /* room for "..." and the NUL */
    size_t len = size <= keep + 3u ? size : keep;
    for (size_t i = 0; i < len; i++)
        out[i] = (text[i] >= ' ' && text[i] <= '~') ? text[i] : '?';
    if (len < size) {
        memcpy(out + len, "...", 3);
        len += 3;
    }
    TK_ASSERT(len < FEED__SHOW_BYTES);
    out[len] = '\0';
    return out;
}

/* Record the reader's end: err and a message "NAME:LINE: ..." (CSV), "NAME: element N: ..."
 * (JSON) or "NAME: ..." (line 0). Replaces an earlier end. Returns err. */
TK_PRINTF_LIKE(4, 5)
static tk_err fail(feed_file *f, tk_err err, uint64_t line, const char *fmt, ...)
{
    TK_ASSERT(err != TK_OK);
    TK_ASSERT(fmt != NULL);
    size_t size = sizeof(f->end_text);
    int len = 0;
    if (line == 0) {
        len = snprintf(f->end_text, size, "%s: ", f->name);
    } else if (f->is_json) {
        len = snprintf(f->end_text, size, "%s: element %" PRIu64 ": ", f->name, line);
    } else {
        len = snprintf(f->end_text, size, "%s:%" PRIu64 ": ", f->name, line);
    }
    if (len > 0 && (size_t)len < size) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(f->end_text + len, size - (size_t)len, fmt, args);
        va_end(args);
    }
    f->end_err = err;
    return err;
}

static const char *unit_word(const feed_file *f)
{
    TK_ASSERT(f != NULL);
    return f->is_json ? "element" : "line";
}

/* The next row of the file, or TK_ENOENT at its end; any other error is recorded by fail(). */
static tk_err csv_row(feed_file *f, feed__row *row)
{
    TK_ASSERT(!f->is_json);
    TK_ASSERT(f->end_err == TK_OK);
    /* Blank lines are allowed only at the end, and only so many of them: once one is met,
     * each pass reads another blank line or ends. */
    for (uint32_t pass = 0; pass <= FEED__BLANK_TAIL_MAX; pass++) {
        const char *line = NULL;
        size_t size = 0;
        tk_err err = feed__lines_next(&f->lines, &line, &size);
        if (err == TK_ENOENT) return fail(f, TK_ENOENT, 0, "end of file");
        if (err == TK_EINVAL) {
            return fail(f, err, f->lines.line, "line longer than %u bytes",
                        (unsigned)FEED_LINE_BYTES_MAX);
        }
        if (err != TK_OK) return fail(f, err, 0, "read failed after line %" PRIu64, f->lines.line);
        if (size == 0) {
            if (f->blank_line == 0) f->blank_line = f->lines.line;
            continue;
        }
        if (f->blank_line != 0) break;
        char detail[FEED_ERROR_BYTES];
        row->line = f->lines.line;
        err = feed__csv_split(line, size, row, detail, sizeof(detail));
        if (err != TK_OK) return fail(f, err, row->line, "%s", detail);
        return TK_OK;
    }
    TK_ASSERT(f->blank_line != 0);
    return fail(f, TK_EINVAL, f->blank_line, "empty line (blank lines may only end the file)");
}

static tk_err json_row(feed_file *f, feed__row *row)
{
    TK_ASSERT(f->is_json);
    TK_ASSERT(f->json_next <= f->json_count);
    if (f->json_next == f->json_count) return fail(f, TK_ENOENT, 0, "end of file");
    char detail[FEED_ERROR_BYTES];
    size_t index = f->json_next++;
    tk_err err = feed__json_row(f->doc, index, row, detail, sizeof(detail));
    if (err != TK_OK) return fail(f, err, (uint64_t)index + 1u, "%s", detail);
    return TK_OK;
}

/* The first data row decides how the file writes times; later rows must write them the same
 * way. Returns false (the kind stays unknown) when the text is none of the kinds. */
static bool time_kind_decide(feed_file *f, const char *text, size_t size)
{
    TK_ASSERT(f->time == TIME_UNKNOWN);
    TK_ASSERT(!f->is_json);
    int64_t value = 0;
    const char *reason = NULL;
    if (feed__looks_iso(text, size)) {
        f->time = TIME_ISO;
    } else if (feed__count_parse(text, size, &value, &reason) == TK_OK) {
        f->time = value < UNIX_MS_FROM ? TIME_UNIX_S : TIME_UNIX_MS;
    }
    return f->time != TIME_UNKNOWN;
}

/* Field index of row as a message quotes it (into out). */
static const char *shown(const feed__row *row, size_t index, char out[FEED__SHOW_BYTES])
{
    TK_ASSERT(index < FEED__FIELDS);
    TK_ASSERT(out != NULL);
    return feed__show(row->text[index], row->size[index], out);
}

/* A unix time in this file's unit (seconds or ms, checked by magnitude) into ns. */
static tk_err unix_time(feed_file *f, const feed__row *row, int64_t *out_ns)
{
    TK_ASSERT(f->time == TIME_UNIX_S || f->time == TIME_UNIX_MS);
    TK_ASSERT(out_ns != NULL);
    char show[FEED__SHOW_BYTES];
    int64_t value = 0;
    const char *reason = NULL;
    tk_err err = feed__count_parse(row->text[0], row->size[0], &value, &reason);
    if (err != TK_OK) {
        return fail(f, TK_EINVAL, row->line, "field 'time': %s, expected unix %s ('%s')", reason,
                    f->time == TIME_UNIX_S ? "seconds" : "milliseconds", shown(row, 0, show));
    }
    bool in_ms = value >= UNIX_MS_FROM;
    if (in_ms != (f->time == TIME_UNIX_MS)) {
        return fail(f, TK_EINVAL, row->line,
                    "field 'time': '%s' is in %s, but this file's times are in %s (%s)",
                    shown(row, 0, show), in_ms ? "milliseconds" : "seconds",
                    in_ms ? "seconds" : "milliseconds",
                    f->is_json ? "Binance kline times are in milliseconds"
                               : "decided by its first row: below 1e11 is seconds");
    }
    int64_t scale = in_ms ? NS_PER_MS : NS_PER_S;
    if (value > INT64_MAX / scale) {
        return fail(f, TK_EINVAL, row->line, "field 'time': too late (after 2262-04-11) ('%s')",
                    shown(row, 0, show));
    }
    *out_ns = value * scale;
    return TK_OK;
}

static tk_err time_parse(feed_file *f, const feed__row *row, int64_t *out_ns)
{
    TK_ASSERT(row->size[0] > 0);
    TK_ASSERT(out_ns != NULL);
    char show[FEED__SHOW_BYTES];
    if (f->time == TIME_UNKNOWN && !time_kind_decide(f, row->text[0], row->size[0])) {
        return fail(f, TK_EINVAL, row->line,
                    "field 'time': neither a unix time (whole seconds or milliseconds) nor an "
                    "ISO date (YYYY-MM-DD[ HH:MM:SS[.fff]][Z]) ('%s')",
                    feed__show(row->text[0], row->size[0], show));
    }
    if (f->time != TIME_ISO) return unix_time(f, row, out_ns);
    const char *reason = NULL;
    if (!feed__looks_iso(row->text[0], row->size[0]) ||
        feed__iso_parse(row->text[0], row->size[0], out_ns, &reason) != TK_OK) {
        return fail(f, TK_EINVAL, row->line, "field 'time': %s ('%s')",
                    reason != NULL ? reason : "not an ISO date, as the file's first row",
                    feed__show(row->text[0], row->size[0], show));
    }
    return TK_OK;
}

/* Open, high, low, close and volume into out[0..4], each a decimal (prices above 0, volume at
 * least 0), then high and low against open and close. Values are quoted only on an error. */
static tk_err values_parse(feed_file *f, const feed__row *row, int64_t out[FEED__FIELDS - 1])
{
    TK_ASSERT(row != NULL);
    TK_ASSERT(out != NULL);
    char show[3][FEED__SHOW_BYTES];
    for (size_t i = 1; i < FEED__FIELDS; i++) {
        const char *name = feed__field_names[i];
        const char *reason = NULL;
        if (feed__decimal_parse(row->text[i], row->size[i], &out[i - 1], &reason) != TK_OK) {
            return fail(f, TK_EINVAL, row->line, "field '%s': %s ('%s')", name, reason,
                        shown(row, i, show[0]));
        }
        if (i < 5 && out[i - 1] <= 0) {
            return fail(f, TK_EINVAL, row->line, "field '%s': not above 0 ('%s')", name,
                        shown(row, i, show[0]));
        }
        if (i == 5 && out[i - 1] < 0) {
            return fail(f, TK_EINVAL, row->line, "field '%s': negative ('%s')", name,
                        shown(row, i, show[0]));
        }
    }
    int64_t open_e8 = out[0], high_e8 = out[1], low_e8 = out[2], close_e8 = out[3];
    if (high_e8 < open_e8 || high_e8 < close_e8) {
        return fail(f, TK_EINVAL, row->line,
                    "field 'high': below max(open, close) (high %s, open %s, close %s)",
                    shown(row, 2, show[0]), shown(row, 1, show[1]), shown(row, 4, show[2]));
    }
    if (low_e8 > open_e8 || low_e8 > close_e8) {
        return fail(f, TK_EINVAL, row->line,
                    "field 'low': above min(open, close) (low %s, open %s, close %s)",
                    shown(row, 3, show[0]), shown(row, 1, show[1]), shown(row, 4, show[2]));
    }
    return TK_OK;
}

/* ts_ns must be after the previous bar's, by whole seconds. Sets *out_step_ns (0: first bar)
 * and makes this bar the previous one. */
static tk_err order_check(feed_file *f, const feed__row *row, int64_t ts_ns, int64_t *out_step_ns)
{
    TK_ASSERT(ts_ns >= 0);
    TK_ASSERT(out_step_ns != NULL);
    char show[2][FEED__SHOW_BYTES];
    int64_t step_ns = 0;
    if (f->have_prev) {
        if (ts_ns <= f->prev_ts_ns) {
            return fail(f, TK_EINVAL, row->line,
                        "field 'time': not after the previous bar's ('%s', %s %" PRIu64
                        " has '%s')",
                        shown(row, 0, show[0]), unit_word(f), f->prev_line,
                        feed__show(f->prev_time, f->prev_time_size, show[1]));
        }
        step_ns = ts_ns - f->prev_ts_ns;
        if (step_ns % NS_PER_S != 0) {
            return fail(f, TK_EINVAL, row->line,
                        "field 'time': %" PRId64 " ns after the previous bar (%s %" PRIu64
                        "), not a whole number of seconds ('%s')",
                        step_ns, unit_word(f), f->prev_line, shown(row, 0, show[0]));
        }
    }
    f->have_prev = true;
    f->prev_ts_ns = ts_ns;
    f->prev_line = row->line;
    /* Keep the text raw (quoted only on an error); one byte more than a quote shows, so that a
     * longer text is still cut with "..." */
    f->prev_time_size = row->size[0] < sizeof(f->prev_time) ? row->size[0] : sizeof(f->prev_time);
    memcpy(f->prev_time, row->text[0], f->prev_time_size);
    *out_step_ns = step_ns;
    return TK_OK;
}

/* Read, parse and check the next bar; *out_step_ns is its distance to the previous one. */
static tk_err bar_read(feed_file *f, feed_bar *out, int64_t *out_step_ns)
{
    TK_ASSERT(f->end_err == TK_OK);
    TK_ASSERT(out != NULL);
    feed__row row;
    tk_err err = f->is_json ? json_row(f, &row) : csv_row(f, &row);
    if (err != TK_OK) return err;
    for (size_t i = 0; i < FEED__FIELDS; i++) {
        if (row.size[i] == 0) {
            return fail(f, TK_EINVAL, row.line, "field '%s': empty", feed__field_names[i]);
        }
    }
    int64_t ts_ns = 0;
    int64_t values[FEED__FIELDS - 1];
    err = time_parse(f, &row, &ts_ns);
    if (err == TK_OK) err = values_parse(f, &row, values);
    if (err == TK_OK) err = order_check(f, &row, ts_ns, out_step_ns);
    if (err != TK_OK) return err;
    *out = (feed_bar){.open_ts_ns = ts_ns,
                      .open_e8 = values[0],
                      .high_e8 = values[1],
                      .low_e8 = values[2],
                      .close_e8 = values[3],
                      .volume_e8 = values[4],
                      .gap_bars = 0,
                      .line = row.line};
    TK_ASSERT(out->low_e8 <= out->high_e8);
    return TK_OK;
}

/* Set bar->gap_bars from its step to the previous bar (line prev_line), which must be a whole
 * multiple of the interval. */
static tk_err gap_set(feed_file *f, feed_bar *bar, int64_t step_ns, uint64_t prev_line)
{
    TK_ASSERT(f->interval_ns > 0);
    TK_ASSERT(step_ns > 0 && step_ns % NS_PER_S == 0);
    int64_t interval_s = f->interval_ns / NS_PER_S;
    if (step_ns < f->interval_ns || step_ns % f->interval_ns != 0) {
        return fail(f, TK_EINVAL, bar->line,
                    "field 'time': %" PRId64 " s after the previous bar (%s %" PRIu64
                    "), %s the bar interval of %" PRId64 " s",
                    step_ns / NS_PER_S, unit_word(f), prev_line,
                    step_ns < f->interval_ns ? "less than" : "not a multiple of", interval_s);
    }
    bar->gap_bars = (uint64_t)(step_ns / f->interval_ns) - 1u;
    return TK_OK;
}

/* Read up to FEED_INTERVAL_PROBE_BARS bars ahead, take the smallest step as the interval and
 * set their gaps. A bad row ends the read-ahead; the bars before it stay to be handed out. */
static void probe(feed_file *f)
{
    TK_ASSERT(f->ahead_count == 0);
    TK_ASSERT(f->interval_ns == 0);
    for (uint32_t i = 0; i < FEED_INTERVAL_PROBE_BARS; i++) {
        int64_t step_ns = 0;
        if (bar_read(f, &f->ahead[i], &step_ns) != TK_OK) break;
        f->ahead_count++;
    }
    for (uint32_t i = 1; i < f->ahead_count; i++) {
        int64_t step_ns = f->ahead[i].open_ts_ns - f->ahead[i - 1].open_ts_ns;
        if (f->interval_ns == 0 || step_ns < f->interval_ns) f->interval_ns = step_ns;
    }
    for (uint32_t i = 1; i < f->ahead_count; i++) {
        int64_t step_ns = f->ahead[i].open_ts_ns - f->ahead[i - 1].open_ts_ns;
        if (gap_set(f, &f->ahead[i], step_ns, f->ahead[i - 1].line) != TK_OK) {
            f->ahead_count = i; /* the error replaced the read-ahead's own end */
            break;
        }
    }
    if (f->ahead_count == FEED_INTERVAL_PROBE_BARS) TK_ASSERT(f->end_err == TK_OK);
    TK_ASSERT(f->ahead_count < 2 || f->interval_ns > 0);
}

/* Detect the format from the first bytes; check the CSV header or parse the JSON. */
static tk_err start(feed_file *f)
{
    TK_ASSERT(f->end_err == TK_OK);
    TK_ASSERT(!f->is_json);
    int first = -1;
    tk_err err = feed__lines_start(&f->lines, &first);
    if (err != TK_OK) return fail(f, err, 0, "read failed");
    if (first < 0 && f->lines.eof) return fail(f, TK_EINVAL, 0, "empty file (no header line)");
    char detail[FEED_ERROR_BYTES];
    if (first == '[' || first == '{') { /* '{': a venue's error reply, said as such */
        uint64_t line = 0;
        err = feed__json_load(&f->lines, &f->doc, detail, sizeof(detail), &line);
        if (err != TK_OK) return fail(f, err, line, "%s", detail);
        f->is_json = true;
        f->time = TIME_UNIX_MS;
        f->json_count = feed__json_count(f->doc);
        return TK_OK;
    }
    const char *line = NULL;
    size_t size = 0;
    err = feed__lines_next(&f->lines, &line, &size);
    if (err == TK_EINVAL) {
        return fail(f, err, 1, "header: line longer than %u bytes", (unsigned)FEED_LINE_BYTES_MAX);
    }
    if (err != TK_OK) return fail(f, TK_EIO, 0, "read failed");
    err = feed__csv_header(line, size, detail, sizeof(detail));
    if (err != TK_OK) return fail(f, err, 1, "%s", detail);
    return TK_OK;
}

static void name_set(feed_file *f, const char *name)
{
    TK_ASSERT(name != NULL);
    size_t len = strlen(name);
    if (len < sizeof(f->name)) {
        memcpy(f->name, name, len + 1u);
        return;
    }
    size_t keep = sizeof(f->name) - 4u; /* "...", the tail of the name, the NUL */
    memcpy(f->name, "...", 3);
    memcpy(f->name + 3, name + len - keep, keep + 1u);
    TK_ASSERT(strlen(f->name) == sizeof(f->name) - 1u);
}

static void why_set(feed_error *why, const char *text)
{
    TK_ASSERT(text != NULL);
    if (why == NULL) return;
    snprintf(why->text, sizeof(why->text), "%s", text);
}

tk_err feed_file_open_stream(FILE *stream, const char *name, const tk_mem *mem,
                             feed_file **out_file, feed_error *why)
{
    TK_ASSERT(stream != NULL && name != NULL);
    TK_ASSERT(mem != NULL && out_file != NULL);
    feed_file *f = tk_alloc(mem, sizeof(*f));
    if (f == NULL) {
        char show[FEED__SHOW_BYTES];
        if (why != NULL) {
            snprintf(why->text, sizeof(why->text), "%s: out of memory",
                     feed__show(name, strlen(name), show));
        }
        return TK_ENOMEM;
    }
    memset(f, 0, offsetof(feed_file, lines)); /* the line buffer needs no clearing */
    f->mem = mem;
    f->stream = stream;
    f->end_err = TK_OK;
    name_set(f, name);
    feed__lines_init(&f->lines, stream);
    tk_err err = start(f);
    if (err != TK_OK) {
        why_set(why, f->end_text);
        feed__json_free(f->doc);
        tk_free(mem, f, sizeof(*f));
        return err;
    }
    probe(f);
    *out_file = f;
    return TK_OK;
}

tk_err feed_file_open(const char *path, const tk_mem *mem, feed_file **out_file, feed_error *why)
{
    TK_ASSERT(path != NULL);
    TK_ASSERT(out_file != NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    FILE *stream = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (stream == NULL) {
        tk_err err = tk_err_from_errno(errno);
        if (fd >= 0) close(fd);
        if (why != NULL)
            snprintf(why->text, sizeof(why->text), "%s: cannot open: %s", path, tk_err_str(err));
        return err;
    }
    tk_err err = feed_file_open_stream(stream, path, mem, out_file, why);
    if (err != TK_OK) {
        fclose(stream);
        return err;
    }
    (*out_file)->owns_stream = true;
    return TK_OK;
}

tk_err feed_file_next(feed_file *file, feed_bar *out_bar, feed_error *why)
{
    TK_ASSERT(file != NULL);
    TK_ASSERT(out_bar != NULL);
    if (file->ahead_next < file->ahead_count) {
        *out_bar = file->ahead[file->ahead_next++];
        return TK_OK;
    }
    if (file->end_err == TK_OK) {
        TK_ASSERT(file->interval_ns > 0); /* a full read-ahead holds two bars or more */
        feed_bar bar;
        int64_t step_ns = 0;
        uint64_t prev_line = file->prev_line;
        tk_err err = bar_read(file, &bar, &step_ns);
        if (err == TK_OK) err = gap_set(file, &bar, step_ns, prev_line);
        if (err == TK_OK) {
            *out_bar = bar;
            return TK_OK;
        }
    }
    TK_ASSERT(file->end_err != TK_OK);
    why_set(why, file->end_text);
    return file->end_err;
}

int64_t feed_file_interval_s(const feed_file *file)
{
    TK_ASSERT(file != NULL);
    TK_ASSERT(file->interval_ns % NS_PER_S == 0);
    return file->interval_ns / NS_PER_S;
}

const char *feed_file_format(const feed_file *file)
{
    TK_ASSERT(file != NULL);
    if (file->is_json) return "binance-klines-json";
    switch (file->time) {
    case TIME_UNKNOWN:
        return "csv";
    case TIME_UNIX_S:
        return "csv-unix-s";
    case TIME_UNIX_MS:
        return "csv-unix-ms";
    case TIME_ISO:
        return "csv-iso";
    }
    TK_ASSERT(false && "time_kind has no other value");
    return "csv";
}

void feed_file_close(feed_file *file)
{
    if (file == NULL) return;
    TK_ASSERT(file->ahead_next <= file->ahead_count);
    feed__json_free(file->doc);
    if (file->owns_stream) fclose(file->stream);
    tk_free(file->mem, file, sizeof(*file));
}
