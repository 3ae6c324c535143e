/* feeds/feed_csv.c: CSV candle files: a line reader through one fixed buffer (streaming, no
 * allocation), the header check and the split of a row into its six fields. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "feed_internal.h"

const char *const feed__field_names[FEED__FIELDS] = {"time", "open",  "high",
                                                     "low",  "close", "volume"};

void feed__lines_init(feed__lines *lines, FILE *stream)
{
    TK_ASSERT(lines != NULL);
    TK_ASSERT(stream != NULL);
    lines->stream = stream;
    lines->start = 0;
    lines->end = 0;
    lines->eof = false;
    lines->line = 0;
    lines->total_bytes = 0;
}

/* Move the unread bytes to the front and read as many more as fit. Sets eof at the end. */
static tk_err lines_fill(feed__lines *lines)
{
    TK_ASSERT(lines->start <= lines->end);
    TK_ASSERT(lines->end <= sizeof(lines->buf));
    if (lines->eof) return TK_OK;
    size_t unread = lines->end - lines->start;
    if (lines->start > 0) memmove(lines->buf, lines->buf + lines->start, unread);
    lines->start = 0;
    lines->end = unread;
    size_t room = sizeof(lines->buf) - unread;
    if (room == 0) return TK_OK;
    size_t got = fread(lines->buf + unread, 1, room, lines->stream);
    lines->end += got;
    lines->total_bytes += got;
    if (got < room) {
        if (ferror(lines->stream)) return TK_EIO;
        lines->eof = true; /* fread returns short only at the end or on an error */
    }
    return TK_OK;
}

tk_err feed__lines_start(feed__lines *lines, int *out_first)
{
    TK_ASSERT(out_first != NULL);
    TK_ASSERT(lines->line == 0 && lines->end == 0);
    tk_err err = lines_fill(lines);
    if (err != TK_OK) return err;
    if (lines->end >= 3 && memcmp(lines->buf, "\xEF\xBB\xBF", 3) == 0) lines->start = 3;
    int first = -1;
    for (size_t i = lines->start; i < lines->end; i++) {
        char c = lines->buf[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            first = (unsigned char)c;
            break;
        }
    }
    *out_first = first;
    return TK_OK;
}

/* Hand out buf[start, start + size) as the next line and step past its line ending. */
static tk_err line_take(feed__lines *lines, size_t size, size_t ending, const char **out_line,
                        size_t *out_size)
{
    TK_ASSERT(lines->start + size + ending <= lines->end);
    TK_ASSERT(ending <= 1);
    const char *line = lines->buf + lines->start;
    lines->start += size + ending;
    lines->line++;
    if (size > 0 && line[size - 1] == '\r') size--;
    if (size > FEED_LINE_BYTES_MAX) return TK_EINVAL;
    *out_line = line;
    *out_size = size;
    return TK_OK;
}

tk_err feed__lines_next(feed__lines *lines, const char **out_line, size_t *out_size)
{
    TK_ASSERT(out_line != NULL);
    TK_ASSERT(out_size != NULL);
    /* Each pass either finds a line, ends, or reads: fread fills the buffer unless at the end,
     * so two passes suffice; the bound leaves room for short reads. */
    for (uint32_t pass = 0; pass < FEED__READ_BYTES; pass++) {
        TK_ASSERT(lines->start <= lines->end);
        size_t unread = lines->end - lines->start;
        const char *newline = memchr(lines->buf + lines->start, '\n', unread);
        if (newline != NULL) {
            size_t size = (size_t)(newline - (lines->buf + lines->start));
            return line_take(lines, size, 1, out_line, out_size);
        }
        if (unread > FEED_LINE_BYTES_MAX + 1u) { /* + 1: room for a '\r' */
            lines->line++;
            return TK_EINVAL;
        }
        if (lines->eof) {
            if (unread == 0) return TK_ENOENT;
            return line_take(lines, unread, 0, out_line, out_size); /* no final newline */
        }
        tk_err err = lines_fill(lines);
        if (err != TK_OK) return err;
    }
    TK_ASSERT(false && "the reader makes progress on every pass");
    return TK_EIO;
}

size_t feed__lines_read(feed__lines *lines, char *dst, size_t size, tk_err *err)
{
    TK_ASSERT(dst != NULL);
    TK_ASSERT(err != NULL);
    TK_ASSERT(lines->start <= lines->end);
    size_t unread = lines->end - lines->start;
    if (unread > 0) {
        size_t count = unread < size ? unread : size;
        memcpy(dst, lines->buf + lines->start, count);
        lines->start += count;
        return count;
    }
    if (lines->eof) return 0;
    size_t got = fread(dst, 1, size, lines->stream);
    lines->total_bytes += got;
    if (got < size) {
        if (ferror(lines->stream)) *err = TK_EIO;
        lines->eof = true;
    }
    return got;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Whether name (size bytes) equals word, ignoring case; with prefix, whether it starts so. */
static bool name_is(const char *name, size_t size, const char *word, bool prefix)
{
    TK_ASSERT(word != NULL);
    size_t len = strlen(word);
    if (size < len || (!prefix && size != len)) return false;
    for (size_t i = 0; i < len; i++) {
        if (lower(name[i]) != word[i]) return false;
    }
    return true;
}

/* Whether name contains word, ignoring case. */
static bool name_has(const char *name, size_t size, const char *word)
{
    TK_ASSERT(word != NULL);
    size_t len = strlen(word);
    for (size_t at = 0; at + len <= size; at++) {
        if (name_is(name + at, size - at, word, true)) return true;
    }
    return false;
}

/* Whether a header name fits column index: the first any time-like name, then the price and
 * volume names with their short forms. */
static bool header_name_fits(size_t index, const char *name, size_t size)
{
    TK_ASSERT(index < FEED__FIELDS);
    if (index == 0) {
        return name_has(name, size, "time") || name_has(name, size, "date") ||
               name_has(name, size, "start") || name_is(name, size, "ts", false) ||
               name_is(name, size, "t", false);
    }
    if (index == 5) {
        return name_is(name, size, "volume", true) || name_is(name, size, "vol", false) ||
               name_is(name, size, "v", false);
    }
    const char *word = feed__field_names[index];
    TK_ASSERT(index >= 1 && index <= 4);
    return name_is(name, size, word, false) || (size == 1 && lower(name[0]) == word[0]);
}

/* A header name without surrounding spaces and one pair of double quotes. */
static void header_trim(const char **name, size_t *size)
{
    TK_ASSERT(name != NULL && *name != NULL);
    while (*size > 0 && (*name)[0] == ' ')
        (*name)++, (*size)--;
    while (*size > 0 && (*name)[*size - 1] == ' ')
        (*size)--;
    if (*size >= 2 && (*name)[0] == '"' && (*name)[*size - 1] == '"') (*name)++, *size -= 2;
    TK_ASSERT(*size <= FEED_LINE_BYTES_MAX);
}

static size_t count_fields(const char *line, size_t size)
{
    TK_ASSERT(line != NULL);
    size_t count = 1;
    for (size_t i = 0; i < size; i++)
        count += line[i] == ',' ? 1u : 0u;
    TK_ASSERT(count >= 1);
    return count;
}

tk_err feed__csv_header(const char *line, size_t size, char *detail, size_t detail_size)
{
    TK_ASSERT(line != NULL);
    TK_ASSERT(detail != NULL && detail_size > 0);
    feed__row row;
    char show[FEED__SHOW_BYTES];
    size_t count = count_fields(line, size);
    const char *comma = memchr(line, ',', size);
    size_t first_size = comma != NULL ? (size_t)(comma - line) : size;
    int64_t number = 0;
    const char *reason = NULL;
    if (feed__looks_iso(line, first_size) ||
        feed__decimal_parse(line, first_size, &number, &reason) == TK_OK) {
        snprintf(detail, detail_size,
                 "header: missing (the first line holds data, '%s'): the file must start with a "
                 "line such as time,open,high,low,close,volume",
                 feed__show(line, first_size, show));
        return TK_EINVAL;
    }
    if (count != FEED__FIELDS) {
        snprintf(detail, detail_size,
                 "header: expected 6 comma-separated columns (time,open,high,low,close,volume), "
                 "found %zu ('%s')",
                 count, feed__show(line, size, show));
        return TK_EINVAL;
    }
    tk_err err = feed__csv_split(line, size, &row, detail, detail_size);
    TK_ASSERT(err == TK_OK); /* six fields, counted above */
    for (size_t i = 0; i < FEED__FIELDS; i++) {
        const char *name = row.text[i];
        size_t name_size = row.size[i];
        header_trim(&name, &name_size);
        if (header_name_fits(i, name, name_size)) continue;
        snprintf(detail, detail_size, "header: column %zu is '%s', expected %s", i + 1,
                 feed__show(name, name_size, show),
                 i == 0 ? "a time (a name with time, date or start in it, or ts)"
                        : feed__field_names[i]);
        return TK_EINVAL;
    }
    return TK_OK;
}

tk_err feed__csv_split(const char *line, size_t size, feed__row *row, char *detail,
                       size_t detail_size)
{
    TK_ASSERT(line != NULL);
    TK_ASSERT(row != NULL && detail != NULL);
    size_t at = 0;
    for (size_t i = 0; i < FEED__FIELDS; i++) {
        if (at > size) {
            snprintf(detail, detail_size, "field '%s': missing (the row has %zu fields, not 6)",
                     feed__field_names[i], i);
            return TK_EINVAL;
        }
        size_t end = at; /* fields are a few bytes: a plain scan beats a memchr call each */
        while (end < size && line[end] != ',')
            end++;
        row->text[i] = line + at;
        row->size[i] = end - at;
        at = end + 1; /* past the comma; size + 1 when this field ended the line */
        TK_ASSERT(row->text[i] + row->size[i] <= line + size);
    }
    if (at <= size) {
        char show[FEED__SHOW_BYTES];
        snprintf(detail, detail_size, "trailing data after field 'volume' (',%s')",
                 feed__show(line + at, size - at, show));
        return TK_EINVAL;
    }
    return TK_OK;
}
