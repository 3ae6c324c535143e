#!/usr/bin/env python3
"""Independent reference for tk_rng (base/tk.h): SplitMix64 seeding and xoshiro256** 1.0.

Prints the known-answer constants used by tests/base/test_rng.c. Written from the published
algorithms (Steele, Lea, Flood 2014; Blackman, Vigna 2021), not from the C implementation.
Also prints tk_rng_below() results by D. Lemire's multiply-and-reject method (2019), which
is fully determined by the generator's output: accept the high word of x * bound unless the
low word is below 2^64 mod bound.

Usage: python3 tests/base/rng_reference.py
"""

MASK = (1 << 64) - 1


def splitmix64(x):
    """One SplitMix64 step: returns (new state, output)."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro256ss:
    def __init__(self, seed):
        x = seed & MASK
        self.s = []
        for _ in range(4):
            x, out = splitmix64(x)
            self.s.append(out)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, bound):
        assert bound >= 1
        threshold = (1 << 64) % bound  # 2^64 mod bound == (-bound) mod bound in uint64
        while True:
            m = self.next() * bound
            if (m & MASK) >= threshold:
                return m >> 64


def main():
    for seed in (0, 1, 0xDEADBEEF):
        rng = Xoshiro256ss(seed)
        print("seed 0x%x state: %s" % (seed, ", ".join("0x%016x" % v for v in rng.s)))
        for _ in range(8):
            print("    0x%016xu," % rng.next())
    for bound in (1000, (1 << 63) + 1):
        rng = Xoshiro256ss(1)
        print("seed 0x1 below(%d):" % bound)
        for _ in range(8):
            print("    %du," % rng.below(bound))


if __name__ == "__main__":
    main()
