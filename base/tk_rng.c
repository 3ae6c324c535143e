/* xoshiro256** seeded by SplitMix64, and Lemire's unbiased bounded draw. The algorithms and
 * their constants are those published by their authors (references in tk.h). */
#include "tk.h"

static uint64_t rotl(uint64_t x, unsigned k)
{
    return (x << k) | (x >> (64u - k));
}

/* SplitMix64: one step of the seeding generator (Steele, Lea and Flood, OOPSLA 2014). */
static uint64_t splitmix64_next(uint64_t *x)
{
    *x += 0x9e3779b97f4a7c15u;
    uint64_t z = *x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void tk_rng_init(tk_rng *rng, uint64_t seed)
{
    TK_ASSERT(rng != NULL);
    uint64_t x = seed;
    for (unsigned i = 0; i < 4; i++) {
        rng->s[i] = splitmix64_next(&x);
    }
    /* xoshiro's only invalid state is all zeros; SplitMix64 is a bijection of its counter,
     * and four successive outputs are never all zero. */
    TK_ASSERT((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) != 0);
}

uint64_t tk_rng_next(tk_rng *rng)
{
    TK_ASSERT(rng != NULL);
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5u, 7) * 9u;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tk_rng_below(tk_rng *rng, uint64_t bound)
{
    TK_ASSERT(rng != NULL);
    TK_ASSERT(bound >= 1);
    /* Lemire 2019: the high word of a 64x64-bit product is uniform in [0, bound) once the
     * low words that fall below 2^64 mod bound are rejected. */
    __extension__ typedef unsigned __int128 u128;
    u128 product = (u128)tk_rng_next(rng) * bound;
    uint64_t low = (uint64_t)product;
    if (low < bound) {
        uint64_t threshold = (0u - bound) % bound; /* 2^64 mod bound */
        /* Each retry succeeds with probability above 1/2, so the loop ends quickly; the
         * bound below is far past any realistic run and keeps the loop finite (STYLE 8). */
        for (unsigned tries = 0; low < threshold; tries++) {
            TK_ASSERT(tries < 4096u);
            product = (u128)tk_rng_next(rng) * bound;
            low = (uint64_t)product;
        }
    }
    uint64_t result = (uint64_t)(product >> 64);
    TK_ASSERT(result < bound);
    return result;
}

double tk_rng_unit(tk_rng *rng)
{
    TK_ASSERT(rng != NULL);
    double unit = (double)(tk_rng_next(rng) >> 11) * 0x1.0p-53;
    TK_ASSERT(unit >= 0.0);
    TK_ASSERT(unit < 1.0);
    return unit;
}
