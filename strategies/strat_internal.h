/* strategies/: private to strat_*.c. Checks shared by the indicator files. */
#ifndef TK_STRATEGIES_STRAT_INTERNAL_H
#define TK_STRATEGIES_STRAT_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "strat.h"

/* True when an indicator accepts period: 1 to STRAT_PERIOD_MAX. */
static inline bool strat__period_is_valid(uint32_t period)
{
    return period >= 1u && period <= STRAT_PERIOD_MAX;
}

/* Crash on a bar the ledger would have refused (strat.h, "Units"): a bug upstream. */
static inline void strat__assert_bar(double high, double low, double close)
{
    TK_ASSERT(isfinite(high));
    TK_ASSERT(isfinite(low));
    TK_ASSERT(isfinite(close));
    TK_ASSERT(low <= high);
    TK_ASSERT(low <= close);
    TK_ASSERT(close <= high);
}

#endif /* TK_STRATEGIES_STRAT_INTERNAL_H */
