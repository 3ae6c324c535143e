/* troika feeds (prefix feed_): market data coming into the engine. Built so far: the candle file
 * reader, which streams OHLCV bars out of CSV files and Binance kline JSON replies, checking
 * every row (docs/feeds.md describes the formats, the checks and the messages).
 *
 * Money is integers, as everywhere (DESIGN.md, principle 3): prices and volumes are int64_t in
 * 1e-8 units (LED_SCALE per whole unit), times are int64_t nanoseconds since the Unix epoch,
 * UTC. Each section below is one part of the module with its own functions. */
#ifndef TK_FEEDS_FEED_H
#define TK_FEEDS_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "act.h"
#include "led.h"
#include "net.h"
#include "tk.h"

/* =============================================================================================
 * Candle files (feed_file.c, feed_csv.c, feed_json.c, feed_text.c)
 *
 * A reader of one file of OHLCV bars, one bar per call, in file order:
 *   - CSV with a header line "TIME,open,high,low,close,volume" (names case-insensitive, the
 *     first one any name containing "time", "date" or "start", or "ts" or "t"); TIME is unix
 *     seconds, unix milliseconds or an ISO 8601 UTC date and time, decided from the first data
 *     row.
 *     Read line by line through a fixed buffer, so files of any size stream in constant memory.
 *   - A Binance kline reply: a JSON array of 12-element kline arrays with decimal strings. Read
 *     whole (at most FEED_JSON_BYTES_MAX bytes; a reply holds at most 1000 klines).
 * Every row is checked (strictly increasing time, high >= max(open, close), low <= min(open,
 * close), prices > 0, volume >= 0, exactly six non-empty fields, nothing after a number) and
 * the first bad row stops the file with an error naming file, line and field.
 * Context: a reader belongs to one thread at a time. It does blocking file I/O, so an actor
 * reads it from an I/O worker, not from a scheduler thread. feed_file_next never allocates.
 * ============================================================================================= */

/* A line longer than this (not counting its line ending) is an error, not a reason to grow. */
#ifndef FEED_LINE_BYTES_MAX
#define FEED_LINE_BYTES_MAX 4096u
#endif
/* The bar interval is the smallest step between consecutive bars among this many first bars,
 * which feed_file_open reads ahead. */
#ifndef FEED_INTERVAL_PROBE_BARS
#define FEED_INTERVAL_PROBE_BARS 256u
#endif
/* Largest JSON file: JSON is parsed whole (by jansson), unlike CSV. */
#ifndef FEED_JSON_BYTES_MAX
#define FEED_JSON_BYTES_MAX (64u * 1024u * 1024u)
#endif
/* Size of an error message, with its NUL; a longer message is cut. */
#ifndef FEED_ERROR_BYTES
#define FEED_ERROR_BYTES 512u
#endif

_Static_assert(FEED_LINE_BYTES_MAX >= 128u, "a CSV row of six long decimals must fit");
_Static_assert(FEED_INTERVAL_PROBE_BARS >= 2u, "one step needs two bars");

/* One bar. Prices and volume in 1e-8 units: a decimal with more than 8 places is rounded half
 * to even to the 8th (docs/feeds.md). */
typedef struct feed_bar {
    int64_t open_ts_ns; /* bar open time, ns since the Unix epoch, UTC */
    int64_t open_e8;
    int64_t high_e8;
    int64_t low_e8;
    int64_t close_e8;
    int64_t volume_e8; /* base or quote volume, as the file has it */
    uint64_t gap_bars; /* intervals with no bar between the previous bar and this one; 0 for the
                          first bar and whenever the step is exactly one interval */
    uint64_t line;     /* CSV: line number in the file (the header is line 1); JSON: position of
                          the kline in the array, from 1 */
} feed_bar;

/* Why a call failed, as one line of text for a person: "FILE:LINE: field 'high': below
 * max(open, close) (high 1.2, open 1.3, close 1.25)". JSON rows say "FILE: element N: ...".
 * Values are quoted as the file wrote them (bytes outside printable ASCII shown as '?'). */
typedef struct feed_error {
    char text[FEED_ERROR_BYTES];
} feed_error;

typedef struct feed_file feed_file;

/* Open the file at path (borrowed for the call), detect its format (a first byte '[' or '{'
 * after an optional UTF-8 BOM and whitespace is JSON, anything else CSV), check the CSV header, and
 * read ahead up to FEED_INTERVAL_PROBE_BARS bars to infer the interval. A bad row met while reading
 * ahead does not fail the open: feed_file_next returns the bars before it, then its error.
 * mem (borrowed, outlives the reader) provides the reader's one allocation (about 90 KiB);
 * jansson allocates a JSON document from the C heap. *out_file is written only on TK_OK.
 * Errors (why, may be NULL, says what): the mapped errno of open(2) (TK_ENOENT, TK_EPERM...),
 * TK_EIO (read failed), TK_EINVAL (empty file, bad CSV header, a line longer than
 * FEED_LINE_BYTES_MAX, JSON syntax or a JSON that is not an array, a JSON file larger than
 * FEED_JSON_BYTES_MAX), TK_ENOMEM. */
TK_MUST_USE tk_err feed_file_open(const char *path, const tk_mem *mem, feed_file **out_file,
                                  feed_error *why);

/* feed_file_open over an open stream, from its current position: a pipe, stdin, or an fmemopen
 * buffer. stream is borrowed: the caller closes it after feed_file_close. name (borrowed for the
 * call) is what messages call the file. Errors: as feed_file_open, without open(2)'s. */
TK_MUST_USE tk_err feed_file_open_stream(FILE *stream, const char *name, const tk_mem *mem,
                                         feed_file **out_file, feed_error *why);

/* The next bar, into *out_bar (written only on TK_OK). gap_bars is set from the step to the
 * previous bar: a step of k intervals gives k - 1.
 * Errors: TK_ENOENT (no more bars: the end of the file), TK_EINVAL (a bad row: why names file,
 * line and field, and the values), TK_EIO (read failed). An error is final: every later call
 * returns it again with the same text. */
TK_MUST_USE tk_err feed_file_next(feed_file *file, feed_bar *out_bar, feed_error *why);

/* The bar interval in seconds: the smallest step between consecutive bars among the first
 * FEED_INTERVAL_PROBE_BARS bars (docs/feeds.md says why the smallest). Every later step must
 * be a whole multiple of it. 0 when the file has fewer than two bars before its end or its
 * first bad row. */
int64_t feed_file_interval_s(const feed_file *file);

/* The detected format, a static string: "csv-unix-s", "csv-unix-ms", "csv-iso",
 * "binance-klines-json", or "csv" for a CSV whose first data row did not settle the time
 * format (no data row, or a bad first one). */
const char *feed_file_format(const feed_file *file);

/* Close the file (when feed_file_open opened it) and free the reader. NULL is a no-op. */
void feed_file_close(feed_file *file);

/* ==== end of candle files ==================================================================== */

/* ==== Binance spot REST klines (feed_binance.c) ============================================== */

#define FEED_BINANCE_KLINES_MAX 1000u /* klines one request may ask for (Binance's limit) */

/* The length of a Binance kline interval ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h",
 * "8h", "12h", "1d", "3d", "1w") in ms; 0 for anything else ("1M" included: months differ). */
int64_t feed_binance_interval_ms(const char *interval);

/* Fill req (initialised here: net_request_init) for Binance's GET /api/v3/klines on base_url
 * ("https://api.binance.com", or a mock's "http://127.0.0.1:PORT"): symbol (1..20 of A-Z and
 * 0-9), interval (feed_binance_interval_ms knows it), open times from start_ms to end_ms
 * (inclusive; 0 <= start_ms <= end_ms), at most limit (1..FEED_BINANCE_KLINES_MAX) klines. The
 * request is idempotent (retried on 5xx and transport errors), with a 10 s timeout.
 * Errors (why says which argument): TK_EINVAL. */
TK_MUST_USE tk_err feed_binance_klines_request(net_request *req, const char *base_url,
                                               const char *symbol, const char *interval,
                                               int64_t start_ms, int64_t end_ms, uint32_t limit,
                                               feed_error *why);

/* The bars of a klines response, checked row by row as feed_file_open reads a kline JSON file
 * (docs/feeds.md), into out (up to max; *out_count written). The response must be an HTTP 200.
 * Errors (why says what): TK_EAGAIN (HTTP 429 or 418: the venue asks to wait,
 * net_response_retry_after_s says how long), TK_EIO (a transport error or another status,
 * with Binance's code and msg when the body has them), TK_EINVAL (a bad row), TK_EFULL (more
 * than max rows), TK_ENOMEM. */
TK_MUST_USE tk_err feed_binance_klines_parse(const net_response *resp, feed_bar *out, size_t max,
                                             size_t *out_count, feed_error *why);

/* ==== The replay feed actor (feed_actor.c) =================================================== */

#define FEED_MSG_BASE 0x4600u /* 'F' << 8: the feed's message types */
#define FEED_MSG_DONE (FEED_MSG_BASE + 1u)

/* What the feed reports when it ends: FEED_MSG_DONE to report_to, ptr a feed_actor_result
 * (the receiver's; freed with the message). */
typedef struct feed_actor_result {
    tk_err err;    /* TK_OK: every file was read to its end */
    uint64_t bars; /* BarClosed proposed */
    uint64_t gaps; /* FeedHealth gap events proposed */
    int64_t interval_s;
    int64_t first_ts_ns, last_ts_ns; /* open times of the first and last bars */
    char text[FEED_ERROR_BYTES];     /* on an error: what, naming file, line and field */
} feed_actor_result;

typedef struct feed_actor_opts {
    const char *const *files; /* borrowed, outlive the actor: read one after the other, as one
                                 series whose times keep increasing */
    uint32_t file_count;
    char symbol[LED_SYMBOL_BYTES]; /* the instrument the bars are for */
    double speed;                  /* 0: full speed (the next bar once the journal is idle);
                                      N > 0: N times real time */
    act_ref report_to;             /* gets FEED_MSG_DONE */
    _Atomic uint64_t *progress;    /* NULL, or bars proposed so far (for a progress display) */
} feed_actor_opts;

/* Spawn the replay feed. It proposes, for each bar of the files, a BarClosed (time: the bar's
 * close) flagged LED_PROPOSE_NOTIFY_IDLE, and the next bar once LED_MSG_IDLE arrives (at full
 * speed) or after interval / speed of real time. A bar after a gap is preceded by a FeedHealth
 * (status gap) event. At the end of the files, or at the first bad row or unreadable file, it
 * sends FEED_MSG_DONE to report_to and stops. Errors: TK_EINVAL (no files, no symbol, a
 * negative speed), those of act_spawn. */
TK_MUST_USE tk_err feed_actor_spawn(act_system *sys, const feed_actor_opts *opts, act_ref *out_ref);

#endif /* TK_FEEDS_FEED_H */
