/* troika base: every compile-time limit of the engine, in one place (STYLE.md section 8).
 * Each limit can be overridden at build time (-DNAME=value); the static asserts below check
 * the relations between them. Included by tk.h; modules read limits from here, never define
 * their own elsewhere. */
#ifndef TK_BASE_TK_LIMITS_H
#define TK_BASE_TK_LIMITS_H

/* Pools and rings: the largest capacity (objects or elements) one instance may have. Indices
 * are uint32_t; the cap keeps a slot index and a generation within one 64-bit act_ref. */
#ifndef TK_POOL_CAPACITY_MAX
#define TK_POOL_CAPACITY_MAX (1u << 24)
#endif
#ifndef TK_RING_CAPACITY_MAX
#define TK_RING_CAPACITY_MAX (1u << 24)
#endif

/* Logging: one JSON line is rendered into a buffer of this size; a longer line is still
 * written whole, through one heap allocation (logging is never on a hot path). */
#ifndef TK_LOG_LINE_BYTES_MAX
#define TK_LOG_LINE_BYTES_MAX 4096u
#endif
/* Modules that may carry their own log level ("info,cluster=debug"). */
#ifndef TK_LOG_MODULES_MAX
#define TK_LOG_MODULES_MAX 32u
#endif
/* Longest module name, without its terminating NUL. */
#ifndef TK_LOG_MODULE_NAME_BYTES_MAX
#define TK_LOG_MODULE_NAME_BYTES_MAX 23u
#endif
/* Fields one log line may carry. */
#ifndef TK_LOG_FIELDS_MAX
#define TK_LOG_FIELDS_MAX 16u
#endif

/* tk_panic prints at most this many stack frames. */
#ifndef TK_BACKTRACE_FRAMES_MAX
#define TK_BACKTRACE_FRAMES_MAX 64
#endif

/* Ledger state capacities (ledger/). The state is allocated once at these sizes, so apply never
 * allocates; an event that would need one more slot is refused with a reason (RiskLimitsSet
 * caps max_open_orders at LED_ORDERS_OPEN_MAX). They shape the state's encoding: replicas must
 * agree on them. */
#ifndef LED_INSTRUMENTS_MAX
#define LED_INSTRUMENTS_MAX 64u
#endif
#ifndef LED_ASSETS_MAX
#define LED_ASSETS_MAX 64u
#endif
#ifndef LED_STRATEGIES_MAX
#define LED_STRATEGIES_MAX 64u
#endif
/* Idempotency keys the ledger remembers (the most recent ones). */
#ifndef LED_KEYS_MAX
#define LED_KEYS_MAX 4096u
#endif
/* Orders not yet in a terminal state. */
#ifndef LED_ORDERS_OPEN_MAX
#define LED_ORDERS_OPEN_MAX 4096u
#endif

/* Indicators (strategies/): the longest period an indicator accepts; a period of 0 or above it
 * is refused with TK_EINVAL. Every window lives inline in the indicator's caller-owned struct,
 * so that an update never allocates, and this sizes those structs: 8 bytes per period for a
 * window of doubles (8 KiB at 1024), 32 bytes per period for the Donchian channel's two deques.
 * A power of two: the deques index their slots by mask. */
#ifndef STRAT_PERIOD_MAX
#define STRAT_PERIOD_MAX 1024u
#endif

_Static_assert((TK_POOL_CAPACITY_MAX & (TK_POOL_CAPACITY_MAX - 1u)) == 0, "power of two");
_Static_assert((TK_RING_CAPACITY_MAX & (TK_RING_CAPACITY_MAX - 1u)) == 0, "power of two");
_Static_assert(TK_RING_CAPACITY_MAX <= (1u << 31), "ring indices are uint32_t");
_Static_assert(TK_LOG_LINE_BYTES_MAX >= 256u, "a line must hold ts, level, module and msg");
_Static_assert(TK_LOG_MODULE_NAME_BYTES_MAX + 1u <= 64u, "module names are short identifiers");
_Static_assert(TK_LOG_MODULES_MAX >= 8u, "one override per module of DESIGN.md at least");

_Static_assert(LED_INSTRUMENTS_MAX >= 1u && LED_ASSETS_MAX >= 2u,
               "one instrument needs its base and quote assets");
_Static_assert(LED_ORDERS_OPEN_MAX >= 1u && LED_ORDERS_OPEN_MAX <= (1u << 20),
               "the open-order table is scanned by index");

_Static_assert((STRAT_PERIOD_MAX & (STRAT_PERIOD_MAX - 1u)) == 0, "power of two");
_Static_assert(STRAT_PERIOD_MAX >= 2u && STRAT_PERIOD_MAX <= (1u << 16),
               "an indicator struct stays below 2 MiB");

#endif /* TK_BASE_TK_LIMITS_H */
