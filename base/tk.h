/* troika base library (prefix tk_): errors, assertions, limits, allocation, a fixed-capacity
 * object pool, a power-of-two ring, an injectable clock, a seeded PRNG and structured JSON-line
 * logging. Every other module builds on it. It depends on libc and, for the log's JSON
 * encoding only, on jansson (docs/ARCHITECTURE.md says why).
 *
 * Thread safety: the error, assertion, clock and logging functions may be called from any
 * thread. A pool, a ring and a PRNG belong to one thread at a time (their owner); sharing one
 * across threads needs the owner's own synchronisation. */
#ifndef TK_BASE_TK_H
#define TK_BASE_TK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tk_limits.h"

#define TK_MUST_USE               __attribute__((warn_unused_result))
#define TK_PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- Errors (STYLE.md section 5) ------------------------------------------------------------ */

/* The one error list of the engine. 0 is success; codes are small and positive. Each entry is
 * (code, text); tk_err_name() gives the code's name and tk_err_str() its text. */
#define TK_ERR_LIST(X)                               \
    X(TK_OK, "ok")                                   \
    X(TK_ENOMEM, "out of memory")                    \
    X(TK_EINVAL, "invalid argument")                 \
    X(TK_EFULL, "queue or pool full")                \
    X(TK_EEMPTY, "queue empty")                      \
    X(TK_EIO, "i/o error")                           \
    X(TK_ENOSPC, "no space left on device")          \
    X(TK_ECORRUPT, "corrupt data")                   \
    X(TK_ESTALE, "stale actor ref")                  \
    X(TK_ENOENT, "not found")                        \
    X(TK_EEXIST, "already exists")                   \
    X(TK_EPERM, "permission denied")                 \
    X(TK_EAGAIN, "resource temporarily unavailable") \
    X(TK_ETIMEDOUT, "timed out")                     \
    X(TK_EOVERFLOW, "value out of range")            \
    X(TK_ECANCELED, "operation canceled")

typedef enum tk_err {
#define TK_ERR_ENUM(code, text) code,
    TK_ERR_LIST(TK_ERR_ENUM)
#undef TK_ERR_ENUM
        TK_ERR_COUNT_ /* not an error: the number of codes above */
} tk_err;

/* Human-readable text of an error ("queue or pool full"). Never NULL: a value outside the
 * list gives "unknown error". The string is static; do not free it. */
const char *tk_err_str(tk_err err);

/* The code's own name ("TK_EFULL"), for logs and test failure messages. Never NULL: a value
 * outside the list gives "TK_E?". The string is static. */
const char *tk_err_name(tk_err err);

/* Map an errno value (>= 0; a negative one is a programmer error) to a tk_err at the failing
 * syscall, so errno never travels further (STYLE.md section 5). 0 maps to TK_OK; an errno
 * with no closer code maps to TK_EIO. */
tk_err tk_err_from_errno(int errnum);

/* ---- Assertions (STYLE.md section 6) -------------------------------------------------------- */

/* Report a broken invariant and end the process: prints "panic: FILE:LINE: assertion failed:
 * EXPR" and a backtrace of up to TK_BACKTRACE_FRAMES_MAX frames to stderr (through
 * backtrace_symbols_fd, so it allocates nothing), then calls abort(). Log lines already
 * emitted are safe: each was handed to the kernel by its own write(2).
 * Context: any thread. Never returns. */
_Noreturn void tk_panic(const char *file, int line, const char *expr);

/* TK_ASSERT stays on in release builds: a programmer error crashes, the process is
 * restarted and replay rebuilds its state. TK_DASSERT is for expensive checks, debug only;
 * in release its condition is type-checked and never evaluated. */
#define TK_ASSERT(cond) ((cond) ? (void)0 : tk_panic(__FILE__, __LINE__, #cond))
#ifdef TK_DEBUG
#define TK_DASSERT(cond) TK_ASSERT(cond)
#else
#define TK_DASSERT(cond) ((void)sizeof(cond))
#endif

/* True when x is a power of two (0 is not). */
static inline bool tk_is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1u)) == 0;
}

/* ---- Allocation (STYLE.md section 7) -------------------------------------------------------- */

/* An injectable allocator, so tests can fail allocation N and count live bytes. alloc returns
 * NULL on failure; free receives the size given to alloc. Memory is aligned for any object
 * (max_align_t). ctx is borrowed and passed back to both functions. */
typedef struct tk_mem {
    void *(*alloc)(void *ctx, size_t size_bytes);
    void (*free)(void *ctx, void *ptr, size_t size_bytes);
    void *ctx;
} tk_mem;

/* The process's allocator (malloc and free). The returned table is static and immutable. */
const tk_mem *tk_mem_system(void);

/* Allocate size_bytes (> 0) from mem. Returns NULL when mem fails: the caller maps that to
 * TK_ENOMEM. Debug builds fill the new block with 0xAA. Context: any thread that may use mem;
 * never on a hot path (STYLE.md section 7). */
TK_MUST_USE void *tk_alloc(const tk_mem *mem, size_t size_bytes);

/* Return a block from tk_alloc to mem; size_bytes must equal the size it was allocated with.
 * NULL is a no-op. Debug builds fill the block with 0xDD first. */
void tk_free(const tk_mem *mem, void *ptr, size_t size_bytes);

/* Room for one more item in a growing array outside the hot path (a report's or a checker's
 * tables): when count == *cap, *items (malloc'd, or NULL with *cap 0) is realloc'd to twice
 * *cap items of item_size bytes (1024 at first) and *cap updated. Returns false, leaving
 * *items and *cap as they were, when that fails (out of memory, or the size overflows). */
TK_MUST_USE bool tk_array_reserve(void **items, size_t *cap, size_t count, size_t item_size);

/* ---- Fixed-capacity object pool ------------------------------------------------------------- */

/* capacity objects of obj_size_bytes each, allocated once at init; get and put are O(1) and
 * never allocate. Objects are aligned for any type. The fields are private: use the functions.
 * Ownership: the pool owns its memory; an object taken with tk_pool_get is the caller's until
 * it is put back. Context: the owning thread only. */
typedef struct tk_pool {
    const tk_mem *mem;     /* borrowed: outlives the pool */
    unsigned char *slots;  /* owned: capacity * slot_size_bytes */
    uint32_t *free_stack;  /* owned: indices of free slots, free_count of them valid */
    unsigned char *in_use; /* owned: one flag per slot, catches a double put */
    size_t obj_size_bytes;
    size_t slot_size_bytes; /* obj_size_bytes rounded up to the alignment of max_align_t */
    uint32_t capacity;
    uint32_t free_count;
} tk_pool;

/* Allocate room for capacity objects of obj_size_bytes from mem. capacity is 1 to
 * TK_POOL_CAPACITY_MAX; obj_size_bytes is at least 1. pool is caller-owned memory, written
 * only on TK_OK. Errors: TK_EINVAL (capacity or size out of range; nothing allocated),
 * TK_ENOMEM (mem failed; nothing is left allocated). Context: start-up, not a hot path. */
TK_MUST_USE tk_err tk_pool_init(tk_pool *pool, size_t obj_size_bytes, uint32_t capacity,
                                const tk_mem *mem);

/* Release the pool's memory. Objects still out become invalid. NULL is a no-op. */
void tk_pool_fini(tk_pool *pool);

/* Take a free object, O(1). Returns NULL when every object is out: an operating error the
 * caller turns into TK_EFULL (reject, shed, back off), never a reason to grow. The object's
 * bytes are unspecified (0xAA in debug builds). */
TK_MUST_USE void *tk_pool_get(tk_pool *pool);

/* Give back an object taken from this pool, O(1). Putting back NULL, a pointer from elsewhere
 * or an object already put back is a programmer error (TK_ASSERT). */
void tk_pool_put(tk_pool *pool, void *obj);

/* Number of objects currently taken (0 to capacity). */
uint32_t tk_pool_used(const tk_pool *pool);

/* Number of objects the pool holds in all. */
uint32_t tk_pool_capacity(const tk_pool *pool);

/* ---- Power-of-two ring ---------------------------------------------------------------------- */

/* A bounded FIFO of capacity fixed-size elements, capacity a power of two, copied in and out by
 * value. head and tail run freely and wrap modulo 2^32; count = tail - head. The fields are
 * private. Context: the owning thread only (the actor runtime has its own MPSC mailbox). */
typedef struct tk_ring {
    const tk_mem *mem;  /* borrowed: outlives the ring */
    unsigned char *buf; /* owned: capacity * elem_size_bytes */
    size_t elem_size_bytes;
    uint32_t capacity;
    uint32_t mask;
    uint32_t head; /* next element to pop */
    uint32_t tail; /* next free position */
} tk_ring;

/* Allocate a ring of capacity elements of elem_size_bytes from mem. capacity must be a power
 * of two from 1 to TK_RING_CAPACITY_MAX; elem_size_bytes at least 1. ring is written only on
 * TK_OK. Errors: TK_EINVAL (capacity not a power of two, out of range, or size 0),
 * TK_ENOMEM (mem failed). Context: start-up, not a hot path. */
TK_MUST_USE tk_err tk_ring_init(tk_ring *ring, size_t elem_size_bytes, uint32_t capacity,
                                const tk_mem *mem);

/* Release the ring's memory; elements still queued are dropped. NULL is a no-op. */
void tk_ring_fini(tk_ring *ring);

/* Copy one element (elem_size_bytes from elem, borrowed) to the tail, O(1).
 * Errors: TK_EFULL (count == capacity; nothing changed: the caller applies its policy). */
TK_MUST_USE tk_err tk_ring_push(tk_ring *ring, const void *elem);

/* Copy the head element into out_elem (elem_size_bytes, written only on TK_OK) and remove it.
 * Errors: TK_EEMPTY (nothing queued; out_elem untouched). */
TK_MUST_USE tk_err tk_ring_pop(tk_ring *ring, void *out_elem);

/* The head element in place, or NULL when the ring is empty. The pointer is borrowed and valid
 * until the next push, pop or fini. */
const void *tk_ring_peek(const tk_ring *ring);

/* Elements queued now (0 to capacity). */
uint32_t tk_ring_count(const tk_ring *ring);

/* Elements the ring can hold. */
uint32_t tk_ring_capacity(const tk_ring *ring);

/* ---- Clock (STYLE.md section 11) ------------------------------------------------------------ */

/* Time enters the engine only through a tk_clock, so simulations and tests drive it by hand.
 * mono_ns: monotonic nanoseconds from an arbitrary origin, never decreasing.
 * wall_ns: nanoseconds since the Unix epoch (UTC), may jump. Both may be called from any
 * thread. A clock is borrowed by whoever reads it and must outlive them. */
typedef struct tk_clock tk_clock;
struct tk_clock {
    uint64_t (*mono_ns)(const tk_clock *clock);
    int64_t (*wall_ns)(const tk_clock *clock);
};

/* The process clock: CLOCK_MONOTONIC and CLOCK_REALTIME. Static and immutable. */
const tk_clock *tk_clock_system(void);

/* Read a clock's monotonic time, in nanoseconds. */
uint64_t tk_clock_mono_ns(const tk_clock *clock);

/* Read a clock's wall time, in nanoseconds since the Unix epoch. */
int64_t tk_clock_wall_ns(const tk_clock *clock);

/* A clock that moves only when told, for tests and simulation. Caller-owned; the fields are
 * private (atomics, so readers on other threads see whole values). Use .clock as a tk_clock. */
typedef struct tk_clock_manual {
    tk_clock clock; /* first member: &manual->clock is the tk_clock to hand out */
    _Atomic uint64_t mono_ns;
    _Atomic int64_t wall_ns;
} tk_clock_manual;

/* Start a manual clock at mono_ns and wall_ns (ns since the Unix epoch). */
void tk_clock_manual_init(tk_clock_manual *manual, uint64_t mono_ns, int64_t wall_ns);

/* Move both times forward by delta_ns. Monotonic time must not wrap (TK_ASSERT). */
void tk_clock_manual_advance(tk_clock_manual *manual, uint64_t delta_ns);

/* Set the wall time alone, forward or back, as NTP may (mono_ns is unchanged). */
void tk_clock_manual_set_wall(tk_clock_manual *manual, int64_t wall_ns);

/* ---- Seeded PRNG ---------------------------------------------------------------------------- */

/* xoshiro256** 1.0 by D. Blackman and S. Vigna, "Scrambled Linear Pseudorandom Number
 * Generators", ACM Transactions on Mathematical Software 47(4), 2021: 256 bits of state,
 * period 2^256 - 1, not cryptographic. The state is seeded by SplitMix64 (G. Steele, D. Lea,
 * C. Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014), as the authors
 * recommend, so every 64-bit seed (0 included) gives a valid, non-zero state. The same seed
 * gives the same sequence on every platform: simulations print their seed to be replayable.
 * Caller-owned; the fields are private. Context: one thread at a time. */
typedef struct tk_rng {
    uint64_t s[4];
} tk_rng;

/* Seed the generator. */
void tk_rng_init(tk_rng *rng, uint64_t seed);

/* The next 64 uniformly distributed bits. */
uint64_t tk_rng_next(tk_rng *rng);

/* A uniform integer in [0, bound), without modulo bias, by D. Lemire's multiply-and-reject
 * method ("Fast Random Integer Generation in an Interval", ACM TOMACS 29(1), 2019).
 * bound must be at least 1 (TK_ASSERT). */
uint64_t tk_rng_below(tk_rng *rng, uint64_t bound);

/* A uniform double in [0, 1) with 53 random bits (the top bits of tk_rng_next, times 2^-53). */
double tk_rng_unit(tk_rng *rng);

/* ---- Structured logging --------------------------------------------------------------------- */

/* Each log line is one JSON object on one line: {"ts":"2026-11-21T15:00:00.123456Z",
 * "level":"info","module":"raft","msg":"became leader", then one key per field}. The logger
 * is process-wide: lines from any thread are written whole, each with a single write(2).
 * A field whose key is ts, level, module or msg is written as "_" + key, so no field can hide
 * the fixed ones; a later field with the same key as an earlier one replaces it. Unsigned
 * values above INT64_MAX are written as exact decimal strings. Strings and keys that are not
 * valid UTF-8 are written with each byte outside ASCII replaced by '?'; non-finite doubles are
 * written as the strings "nan", "inf" and "-inf". */
typedef enum tk_log_level {
    TK_LOG_DEBUG,
    TK_LOG_INFO,
    TK_LOG_WARN,
    TK_LOG_ERROR,
    TK_LOG_OFF, /* as a threshold only: nothing is written */
} tk_log_level;

typedef enum tk_log_kind {
    TK_LOG_KIND_STR,
    TK_LOG_KIND_I64,
    TK_LOG_KIND_U64,
    TK_LOG_KIND_F64,
    TK_LOG_KIND_BOOL,
} tk_log_kind;

/* One key/value field of a log line. key and str are borrowed for the call only. */
typedef struct tk_log_field {
    const char *key;
    tk_log_kind kind;
    union {
        const char *str; /* NULL is written as JSON null */
        int64_t i64;
        uint64_t u64;
        double f64;
        bool b;
    } v;
} tk_log_field;

#define TK_LOG_STR(k, x)  ((tk_log_field){.key = (k), .kind = TK_LOG_KIND_STR, .v.str = (x)})
#define TK_LOG_I64(k, x)  ((tk_log_field){.key = (k), .kind = TK_LOG_KIND_I64, .v.i64 = (x)})
#define TK_LOG_U64(k, x)  ((tk_log_field){.key = (k), .kind = TK_LOG_KIND_U64, .v.u64 = (x)})
#define TK_LOG_F64(k, x)  ((tk_log_field){.key = (k), .kind = TK_LOG_KIND_F64, .v.f64 = (x)})
#define TK_LOG_BOOL(k, x) ((tk_log_field){.key = (k), .kind = TK_LOG_KIND_BOOL, .v.b = (x)})
#define TK_LOG_ERR(k, e)  TK_LOG_STR((k), tk_err_name(e))

/* Where the logger writes and what it starts with. path NULL means stderr; otherwise the
 * file is opened for append (created with mode 0640). clock (borrowed, outlives the logger)
 * stamps each line with its wall time. level is the default threshold. */
typedef struct tk_log_opts {
    const char *path;
    const tk_clock *clock;
    tk_log_level level;
} tk_log_opts;

/* Point the process's logger at opts->path (or stderr) and reset every level to opts->level.
 * May be called again to reopen (log rotation); lines in flight finish on the old target.
 * Until the first call the logger writes to stderr at level info with the system clock.
 * Errors: TK_EINVAL (level out of range), or the mapped errno of open(2) (TK_ENOENT,
 * TK_EPERM, ...); on error the previous target stays in use. */
TK_MUST_USE tk_err tk_log_open(const tk_log_opts *opts);

/* Close a log file opened by tk_log_open and go back to stderr. Cannot fail. */
void tk_log_close(void);

/* Set the threshold of one module (module non-NULL: 1 to TK_LOG_MODULE_NAME_BYTES_MAX of
 * letters, digits, '_', '.' and '-') or the default for modules without their own (module
 * NULL). Takes effect at once for every thread. Errors: TK_EINVAL (bad name or level),
 * TK_EFULL (TK_LOG_MODULES_MAX other modules already have their own level; tk_log_set_levels
 * and tk_log_open clear the overrides they do not name). On error nothing changes. */
TK_MUST_USE tk_err tk_log_set_level(const char *module, tk_log_level level);

/* Apply a level spec such as "info,cluster=debug,ledger=warn": an optional default level and
 * comma-separated module=level pairs (module names of letters, digits, '_', '.' and '-').
 * The spec replaces the whole configuration: the default becomes its bare level (info if it
 * has none) and modules it does not name follow the default. The whole spec is checked first
 * and applied only if every part is valid, so a bad spec loses nothing already set. On TK_EINVAL or
 * TK_EFULL a message naming the offending part and its byte offset is written to why (why_size
 * bytes, NUL-terminated, may be NULL). */
TK_MUST_USE tk_err tk_log_set_levels(const char *spec, char *why, size_t why_size);

/* Parse "debug", "info", "warn", "error" or "off" (ASCII case-insensitive).
 * Errors: TK_EINVAL (anything else; out_level untouched). */
TK_MUST_USE tk_err tk_log_level_parse(const char *text, tk_log_level *out_level);

/* The lower-case name of a level ("info"); "?" for a value outside the enum. */
const char *tk_log_level_name(tk_log_level level);

/* True when a line of this level from this module (NULL: a module with no level of its own)
 * would be written. Takes no lock unless it collides with a level change many times over. */
bool tk_log_enabled(tk_log_level level, const char *module);

/* Write one line if enabled: level (DEBUG to ERROR), module and msg (non-NULL, borrowed)
 * and field_count fields (at most TK_LOG_FIELDS_MAX; extra fields are dropped and counted in
 * a "fields_dropped" key). A write error is counted (tk_log_write_errors) and otherwise
 * ignored: logging never fails its caller. Context: any thread; not async-signal-safe. */
void tk_log_emit(tk_log_level level, const char *module, const char *msg,
                 const tk_log_field *fields, size_t field_count);

/* Lines that could not be written since start (write(2) failed or was short). */
uint64_t tk_log_write_errors(void);

/* TK_LOG(level, module, msg, fields...): log with one or more fields, built in place.
 * Use tk_log_emit(level, module, msg, NULL, 0) for a line without fields. */
#define TK_LOG(level, module, msg, ...)                                        \
    tk_log_emit((level), (module), (msg), (const tk_log_field[]){__VA_ARGS__}, \
                sizeof((const tk_log_field[]){__VA_ARGS__}) / sizeof(tk_log_field))

#endif /* TK_BASE_TK_H */
