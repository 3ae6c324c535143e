/* feeds module, private: what the candle file reader's source files share. Not for other
 * modules (STYLE.md section 1). */
#ifndef TK_FEEDS_FEED_INTERNAL_H
#define TK_FEEDS_FEED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "feed.h"

#define FEED__FIELDS         6u            /* time, open, high, low, close, volume */
#define FEED__READ_BYTES     (64u * 1024u) /* the CSV read buffer */
#define FEED__NAME_BYTES     192u          /* file name kept for messages, with its NUL */
#define FEED__SHOW_BYTES     48u           /* a value quoted in a message, with its NUL */
#define FEED__TIME_BYTES     24u           /* a JSON open time written as decimal text */
#define FEED__BLANK_TAIL_MAX 64u           /* blank lines allowed at the end of a CSV */

_Static_assert(FEED__READ_BYTES >= 2u * (FEED_LINE_BYTES_MAX + 2u), "a whole line fits twice");

/* The names of the six fields, in file order, for messages ("time", "open", ...). */
extern const char *const feed__field_names[FEED__FIELDS];

/* ---- Decimal and time text (feed_text.c) ------------------------------------------------------
 */

/* A decimal into 1e-8 units: an optional '-', digits with at most one '.', at least one digit,
 * then optionally an exponent ('e' or 'E', an optional sign, digits). Digits past the 8th
 * decimal place are rounded half to even. On error *reason is a static text.
 * Errors: TK_EINVAL (malformed), TK_EOVERFLOW (outside int64_t after scaling). */
TK_MUST_USE tk_err feed__decimal_parse(const char *text, size_t size, int64_t *out_e8,
                                       const char **reason);

/* A whole number of 1 to 19 digits, nothing else. Errors: TK_EINVAL, TK_EOVERFLOW. */
TK_MUST_USE tk_err feed__count_parse(const char *text, size_t size, int64_t *out,
                                     const char **reason);

/* An ISO 8601 UTC time "YYYY-MM-DD", optionally followed by ' ' or 'T', "HH:MM:SS", an optional
 * fraction of 1 to 9 digits and an optional "Z" or "+00:00", into ns since the epoch (1970 to
 * 2262). Errors: TK_EINVAL (*reason says which part), TK_EOVERFLOW (after 2262). */
TK_MUST_USE tk_err feed__iso_parse(const char *text, size_t size, int64_t *out_ns,
                                   const char **reason);

/* True when the text looks like an ISO date ("DDDD-" at its start) rather than a number. */
bool feed__looks_iso(const char *text, size_t size);

/* ---- CSV lines and fields (feed_csv.c) ------------------------------------------------------ */

/* A line reader over a FILE through one fixed buffer: no allocation, whatever the file size. */
typedef struct feed__lines {
    FILE *stream; /* borrowed */
    size_t start; /* unread bytes are buf[start, end) */
    size_t end;
    bool eof;           /* the stream has no more bytes */
    uint64_t line;      /* number of the last line returned (1 = the first) */
    size_t total_bytes; /* bytes taken from the stream so far */
    char buf[FEED__READ_BYTES];
} feed__lines;

void feed__lines_init(feed__lines *lines, FILE *stream);

/* Fill the buffer once and skip a UTF-8 byte order mark. Returns the first byte that is not
 * ASCII whitespace within the buffer, or -1 when the buffered part holds none (then eof tells
 * whether the stream is empty). Errors: TK_EIO. */
TK_MUST_USE tk_err feed__lines_start(feed__lines *lines, int *out_first);

/* The next line, without its "\n" or "\r\n", in place in the buffer (valid until the next
 * call). Errors: TK_ENOENT (end of the stream), TK_EINVAL (longer than FEED_LINE_BYTES_MAX:
 * lines->line is its number), TK_EIO. */
TK_MUST_USE tk_err feed__lines_next(feed__lines *lines, const char **out_line, size_t *out_size);

/* Up to size bytes of the raw stream, the buffered ones first (for the JSON parser).
 * Returns the count, 0 at the end. Errors: TK_EIO, in *err (else left as is). */
size_t feed__lines_read(feed__lines *lines, char *dst, size_t size, tk_err *err);

/* One row split into its fields, which are borrowed from the line buffer or the JSON tree. */
typedef struct feed__row {
    const char *text[FEED__FIELDS];
    size_t size[FEED__FIELDS];
    uint64_t line;
    char time_buf[FEED__TIME_BYTES]; /* JSON: the integer open time written out; text[0] */
} feed__row;

/* Check a CSV header line. On error, detail gets the reason (no file or line). */
TK_MUST_USE tk_err feed__csv_header(const char *line, size_t size, char *detail,
                                    size_t detail_size);

/* Split a CSV line at its commas into row. On error (not exactly six fields), detail gets the
 * reason naming the missing field or the extra data. */
TK_MUST_USE tk_err feed__csv_split(const char *line, size_t size, feed__row *row, char *detail,
                                   size_t detail_size);

/* ---- Binance kline JSON (feed_json.c, the module's only jansson user) ----------------------- */

struct json_t; /* jansson's value type, opaque outside feed_json.c */

/* Parse the whole stream behind lines as one JSON array. On error, detail gets the reason and
 * *out_line the JSON line it is at (0: none). Errors: TK_EINVAL (syntax, not an array, larger
 * than FEED_JSON_BYTES_MAX), TK_ENOMEM, TK_EIO. */
TK_MUST_USE tk_err feed__json_load(feed__lines *lines, struct json_t **out_doc, char *detail,
                                   size_t detail_size, uint64_t *out_line);

/* Number of klines in the document. */
size_t feed__json_count(const struct json_t *doc);

/* Kline number index (from 0) into row (fields borrowed from doc). On error detail gets the
 * reason, naming the field. Errors: TK_EINVAL. */
TK_MUST_USE tk_err feed__json_row(const struct json_t *doc, size_t index, feed__row *row,
                                  char *detail, size_t detail_size);

/* Release a document. NULL is a no-op. */
void feed__json_free(struct json_t *doc);

/* ---- Messages (feed_file.c) ------------------------------------------------------------------ */

/* text quoted for a message: at most FEED__SHOW_BYTES - 4 bytes then "...", every byte outside
 * printable ASCII as '?'. Returns out. */
const char *feed__show(const char *text, size_t size, char out[FEED__SHOW_BYTES]);

#endif /* TK_FEEDS_FEED_INTERNAL_H */
