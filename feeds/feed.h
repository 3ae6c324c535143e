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
    act_ref report_to;             /* gets FEED_MSG_DONE (ACT_REF_NONE: nobody; it is logged) */
    _Atomic uint64_t *progress;    /* NULL, or bars proposed so far (for a progress display) */
    /* Bars that close at or before this time (ns since the epoch) are skipped: a new leader
     * resumes after the last bar the ledger holds (led_instrument.mark_ts_ns). 0: none. */
    int64_t resume_after_ns;
    act_ref link_to; /* its supervisor (ACT_REF_NONE: none) */
} feed_actor_opts;

/* Spawn the replay feed. It proposes, for each bar of the files, a BarClosed (time: the bar's
 * close) flagged LED_PROPOSE_NOTIFY_IDLE, and the next bar once LED_MSG_IDLE arrives (at full
 * speed) or after interval / speed of real time. A bar after a gap is preceded by a FeedHealth
 * (status gap) event. At the end of the files, or at the first bad row or unreadable file, it
 * sends FEED_MSG_DONE to report_to and stops. Errors: TK_EINVAL (no files, no symbol, a
 * negative speed), those of act_spawn. */
TK_MUST_USE tk_err feed_actor_spawn(act_system *sys, const feed_actor_opts *opts, act_ref *out_ref);

/* ==== The live Binance spot REST feed (feed_live.c) ============================================
 *
 * The market-data feed of a live or paper node: an actor on the Raft leader only (DESIGN.md,
 * principle 5) that polls Binance's GET /api/v3/klines (Binance spot REST API, "Market data
 * endpoints: Kline/Candlestick data": klines are identified by their open time; startTime and
 * endTime bound the open times; at most 1000 a request; the last kline of an answer may be the
 * one still forming) and proposes to the journal one BarClosed per closed bar, in order, each
 * once, and FeedHealth events when the venue's data has a hole or stops coming.
 * docs/feeds.md, "The live Binance feed", describes its behaviour in full.
 * ============================================================================================= */

#define FEED_BINANCE_NAME "binance" /* the feed field of its FeedHealth events */

/* How long to wait before the next request to Binance after the answer resp, from the answer's
 * own rate-limit signals (Binance spot REST API, "General info: LIMITS"):
 *   - HTTP 429 (request rate exceeded) and 418 (IP banned after repeated 429s): the Retry-After
 *     header's seconds (1 s when absent or not a number of seconds);
 *   - otherwise, when X-MBX-USED-WEIGHT-1M (the request weight this IP used in the current UTC
 *     minute) is at or above weight_limit_1m: until the next minute starts, by now_ms (wall
 *     clock, ms since the Unix epoch), plus 100 ms;
 *   - otherwise 0.
 * Both the feed and `troika data download` pace themselves with it. weight_limit_1m 0 never
 * waits for the weight. Pure: reads resp (borrowed) only. */
typedef struct feed_binance_pace {
    int64_t wait_ms;        /* 0: the next request may go at once */
    int64_t retry_after_s;  /* the Retry-After header in seconds; -1 when absent */
    int64_t used_weight_1m; /* X-MBX-USED-WEIGHT-1M; -1 when absent or not a number */
} feed_binance_pace;

void feed_binance_pace_of(const net_response *resp, int64_t now_ms, uint32_t weight_limit_1m,
                          feed_binance_pace *out);

/* Counters the feed updates as it goes (relaxed atomics: each one is exact, together they are
 * a snapshot only approximately), for /metrics and tests. Zero them before the spawn. */
typedef struct feed_binance_stats {
    _Atomic uint64_t requests;    /* klines requests sent */
    _Atomic uint64_t bars;        /* BarClosed proposed */
    _Atomic uint64_t gaps;        /* FeedHealth gap proposed */
    _Atomic uint64_t stale;       /* FeedHealth stale proposed */
    _Atomic uint64_t waits;       /* waits the venue asked for (429, 418, request weight) */
    _Atomic uint64_t refused;     /* proposals the journal refused (full, restarting): retried */
    _Atomic uint64_t failures;    /* answers that brought no bars: no answer, an HTTP error
                                     status, a body that is not a kline array, a bad row */
    _Atomic int64_t next_open_ms; /* open time of the next bar wanted; 0 until known */
} feed_binance_stats;

typedef struct feed_binance_opts {
    net_http *http;                /* borrowed: outlives the actor */
    char base_url[256];            /* "https://api.binance.com", or a mock's
                                      "http://127.0.0.1:PORT" */
    char symbol[LED_SYMBOL_BYTES]; /* the Binance symbol, also the ledger instrument's */
    char interval[8];              /* "1m" ... "1w": feed_binance_interval_ms knows it */
    /* Open time (ms since the Unix epoch) of the first bar wanted: the spawner passes the open
     * time after the last BarClosed of symbol the ledger holds, so that a new leader resumes
     * where the old one stopped, without a hole or a repeat. 0: start from the latest closed
     * bar. */
    int64_t start_ms;
    uint32_t poll_ms;          /* how often to ask for new bars once caught up (>= 1) */
    uint32_t stale_after_ms;   /* a bar still missing this long after its close: FeedHealth
                                  stale, once; the next bar then brings FeedHealth ok, once */
    uint32_t weight_limit_1m;  /* pause until the next minute when X-MBX-USED-WEIGHT-1M reaches
                                  this (Binance allows 6000 a minute on spot today; 1..) */
    const tk_clock *clock;     /* borrowed, outlives the actor: its wall time decides which bars
                                  are closed and which are late (tests pass a manual clock so
                                  that recorded data is "live"); NULL: tk_clock_system(). Waits
                                  (Retry-After) run on the actor system's own clock */
    bool stale_at_start;       /* the ledger's last FeedHealth of symbol said stale (a leader
                                  died in a stale episode): the first bar brings FeedHealth ok */
    feed_binance_stats *stats; /* borrowed, outlives the actor; NULL for none */
    uint32_t mailbox_capacity; /* 4 .. ACT_MAILBOX_DEPTH_MAX */
    act_ref link_to;           /* its supervisor (ACT_REF_NONE: none) */
} feed_binance_opts;

/* Spawn the live feed (opts is copied). It asks for klines from start_ms (or for the latest
 * closed one) with endTime = now, 1000 a request, and proposes to the actor registered as
 * LED_JOURNAL_NAME (LED_MSG_PROPOSE, LED_PROPOSE_PLAIN), for each bar whose close (open +
 * interval) is at or before now, in order and exactly once:
 *   - FeedHealth {feed "binance", status gap, detail "N bars missing before <open time>"} when
 *     the venue's answer skips N open times, then the bar;
 *   - BarClosed {ts_ns: the close; open_ts_ns, interval_s, prices and base volume as Binance
 *     sent them, in 1e-8 units};
 * never the kline still forming. Behind (a start in the past, after a wait or an outage) it
 * asks again at once while answers come back full, paging to the present. Caught up, it asks
 * every poll_ms once the next bar can have closed. A journal that refuses a proposal (mailbox
 * full, restarting) is retried after a short pause, from the same bar. 429 and 418: no request
 * until Retry-After has passed; request weight: see feed_binance_pace_of. Transport errors and
 * 5xx (after net's own retries), other statuses, and answers that do not parse are logged with
 * what was wrong and asked again at the next poll; an answer that never comes is given up after
 * the request's timeouts and retries. Staleness as stale_after_ms says. Unknown messages are
 * logged and dropped: nothing the venue or a sender does ends the actor.
 * Context: any thread; the actor stops with its supervisor (or act_system_close).
 * Errors: TK_EINVAL (no http, a base_url or symbol the request refuses, an unknown interval, a
 * negative start_ms, poll_ms, weight_limit_1m or mailbox_capacity out of range), those of
 * act_spawn and act_send_interval (the poll timer). *out_ref is written only on TK_OK. */
TK_MUST_USE tk_err feed_binance_spawn(act_system *sys, const feed_binance_opts *opts,
                                      act_ref *out_ref);

#endif /* TK_FEEDS_FEED_H */
