/* The system clock (clock_gettime) and the manual clock for tests and simulation.
 * This file and nothing else outside base/ reads the time (STYLE.md section 11). */
#include <time.h>

#include "tk.h"

static uint64_t system_mono_ns(const tk_clock *clock)
{
    (void)clock;
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux; a failure is a broken host. */
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    TK_ASSERT(rc == 0);
    TK_ASSERT(ts.tv_sec >= 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t system_wall_ns(const tk_clock *clock)
{
    (void)clock;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts); /* cannot fail on Linux, as above */
    TK_ASSERT(rc == 0);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

static const tk_clock clock_system = {.mono_ns = system_mono_ns, .wall_ns = system_wall_ns};

const tk_clock *tk_clock_system(void)
{
    return &clock_system;
}

uint64_t tk_clock_mono_ns(const tk_clock *clock)
{
    TK_ASSERT(clock != NULL);
    TK_ASSERT(clock->mono_ns != NULL);
    return clock->mono_ns(clock);
}

int64_t tk_clock_wall_ns(const tk_clock *clock)
{
    TK_ASSERT(clock != NULL);
    TK_ASSERT(clock->wall_ns != NULL);
    return clock->wall_ns(clock);
}

/* The manual clock's readers recover the tk_clock_manual from its first member. */
static const tk_clock_manual *manual_of(const tk_clock *clock)
{
    _Static_assert(offsetof(tk_clock_manual, clock) == 0, "clock is the first member");
    return (const tk_clock_manual *)(const void *)clock;
}

static uint64_t manual_mono_ns(const tk_clock *clock)
{
    /* relaxed: a reading is one value; it orders nothing else */
    return atomic_load_explicit(&manual_of(clock)->mono_ns, memory_order_acquire);
}

static int64_t manual_wall_ns(const tk_clock *clock)
{
    return atomic_load_explicit(&manual_of(clock)->wall_ns, memory_order_relaxed);
}

void tk_clock_manual_init(tk_clock_manual *manual, uint64_t mono_ns, int64_t wall_ns)
{
    TK_ASSERT(manual != NULL);
    manual->clock = (tk_clock){.mono_ns = manual_mono_ns, .wall_ns = manual_wall_ns};
    atomic_init(&manual->mono_ns, mono_ns);
    atomic_init(&manual->wall_ns, wall_ns);
}

void tk_clock_manual_advance(tk_clock_manual *manual, uint64_t delta_ns)
{
    TK_ASSERT(manual != NULL);
    TK_ASSERT(manual->clock.mono_ns == manual_mono_ns);
    /* The one writer is the test driving time. Wall time moves first and monotonic time is
     * published after it (release; readers acquire), so that a reader that sees the new
     * monotonic time and then reads the wall sees the new wall too: an actor that decides on
     * monotonic time and stamps its event with wall time does not stamp the old one (a risk
     * monitor test failed that way under ThreadSanitizer's slower schedules). */
    uint64_t mono = atomic_load_explicit(&manual->mono_ns, memory_order_relaxed);
    TK_ASSERT(mono + delta_ns >= mono); /* monotonic time does not wrap */
    int64_t wall = atomic_load_explicit(&manual->wall_ns, memory_order_relaxed);
    TK_ASSERT(delta_ns <= (uint64_t)(INT64_MAX - wall));
    atomic_store_explicit(&manual->wall_ns, wall + (int64_t)delta_ns, memory_order_relaxed);
    atomic_store_explicit(&manual->mono_ns, mono + delta_ns, memory_order_release);
}

void tk_clock_manual_set_wall(tk_clock_manual *manual, int64_t wall_ns)
{
    TK_ASSERT(manual != NULL);
    TK_ASSERT(manual->clock.wall_ns == manual_wall_ns);
    atomic_store_explicit(&manual->wall_ns, wall_ns, memory_order_relaxed);
}
