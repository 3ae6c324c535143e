#!/usr/bin/env python3
"""Known answers for test_ind.c: the indicators of docs/strategies.md ("Indicators"), written
plainly and independently of strategies/ (lists, whole windows, no running sums), over the first
BAR_COUNT bars of a real price series. Standard library only.

Regenerate (from the repository root, with ../shared beside it):

    python3 tests/strategies/ind_reference.py > tests/strategies/ind_vectors.h

or pass the CSV's path as the only argument. The output is committed: the test does not read
../shared at run time.

EMA, RSI, MACD and ATR follow the document's order of floating-point operations exactly (seeds
summed left to right with a plain loop: sum() uses compensated summation since Python 3.12), so
the C code must match them bit for bit. SMA, the Bollinger bands and the VWAP are computed here
from whole windows with math.fsum (correctly rounded sums) and compared within 1e-9 relative.
Doubles are written as C99 hexadecimal literals, which round-trip exactly.
"""
import csv
import math
import os
import sys
from decimal import Decimal

BAR_COUNT = 150
SCALE = Decimal(100000000)  # 1e-8 units, as in the ledger

SMA_PERIOD = 20
EMA_FAST = 12
EMA_SLOW = 26
RSI_PERIOD = 14
RSI_SHORT = 7  # a second period whose seed divisions round differently from x * (1 / n)
MACD_SIGNAL = 9
ATR_PERIOD = 14
ATR_SHORT = 9  # likewise
BB_PERIOD = 20
BB_BAND_SD = 2.0
DC_PERIOD = 20
VWAP_PERIOD = 20

DEFAULT_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                           "data", "ohlcv", "coinbase_BTC-USD_4h_20160518-20251028.csv")


def to_e8(text):
    """A decimal text as an integer count of 1e-8, refusing any value that is not exact."""
    scaled = Decimal(text) * SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than 8 decimal places")
    return int(scaled)


def read_bars(path):
    bars = []
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            if len(bars) == BAR_COUNT:
                break
            try:
                bars.append({"ts": int(row["start_unix_s"]), "high": to_e8(row["high"]),
                             "low": to_e8(row["low"]), "close": to_e8(row["close"]),
                             "volume": to_e8(row["volume"])})
            except (KeyError, ValueError) as e:
                sys.exit(f"{path}:{line_no}: {e}")
    if len(bars) < BAR_COUNT:
        sys.exit(f"{path}: {len(bars)} bars, want {BAR_COUNT}")
    return bars


def sum_in_order(values):
    total = 0.0
    for v in values:
        total = total + v
    return total


def sma(xs, n):
    return [math.fsum(xs[t - n + 1:t + 1]) / n if t >= n - 1 else None for t in range(len(xs))]


def ema(xs, n):
    alpha = 2 / (n + 1)
    out = [None] * len(xs)
    for t in range(n - 1, len(xs)):
        if t == n - 1:
            out[t] = sum_in_order(xs[:n]) / n
        else:
            out[t] = out[t - 1] + alpha * (xs[t] - out[t - 1])
    return out


def wilder(avg, value, n):
    return (avg * (n - 1) + value) / n


def rsi(xs, n):
    gains = [None] + [max(xs[t] - xs[t - 1], 0.0) for t in range(1, len(xs))]
    losses = [None] + [max(xs[t - 1] - xs[t], 0.0) for t in range(1, len(xs))]
    out = [None] * len(xs)
    avg_gain = avg_loss = None
    for t in range(n, len(xs)):
        if t == n:
            avg_gain = sum_in_order(gains[1:n + 1]) / n
            avg_loss = sum_in_order(losses[1:n + 1]) / n
        else:
            avg_gain = wilder(avg_gain, gains[t], n)
            avg_loss = wilder(avg_loss, losses[t], n)
        out[t] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def macd(xs, fast, slow, signal):
    ef, es = ema(xs, fast), ema(xs, slow)
    line = [a - b if b is not None else None for a, b in zip(ef, es)]
    first = slow - 1
    sig = [None] * first + ema(line[first:], signal)
    hist = [a - b if b is not None else None for a, b in zip(line, sig)]
    return line, sig, hist


def atr(bars, n):
    trs = []
    for t, b in enumerate(bars):
        h, l = float(b["high"]), float(b["low"])
        if t == 0:
            trs.append(h - l)
        else:
            c = float(bars[t - 1]["close"])
            trs.append(max(h - l, abs(h - c), abs(l - c)))
    out = [None] * len(bars)
    for t in range(n - 1, len(bars)):
        out[t] = sum_in_order(trs[:n]) / n if t == n - 1 else wilder(out[t - 1], trs[t], n)
    return out


def bollinger(xs, n, k):
    middle, upper, lower, sd = ([None] * len(xs) for _ in range(4))
    for t in range(n - 1, len(xs)):
        window = xs[t - n + 1:t + 1]
        mean = math.fsum(window) / n
        sd[t] = math.sqrt(math.fsum((x - mean) ** 2 for x in window) / n)
        middle[t], upper[t], lower[t] = mean, mean + k * sd[t], mean - k * sd[t]
    return middle, upper, lower, sd


def donchian(bars, n):
    highs = [float(b["high"]) for b in bars]
    lows = [float(b["low"]) for b in bars]
    upper = [max(highs[t - n + 1:t + 1]) if t >= n - 1 else None for t in range(len(bars))]
    lower = [min(lows[t - n + 1:t + 1]) if t >= n - 1 else None for t in range(len(bars))]
    return upper, lower


def vwap(bars, n):
    pvs = [(float(b["high"]) + float(b["low"]) + float(b["close"])) / 3 * float(b["volume"])
           for b in bars]
    vols = [float(b["volume"]) for b in bars]
    out = [None] * len(bars)
    for t in range(n - 1, len(bars)):
        volume = math.fsum(vols[t - n + 1:t + 1])
        if volume > 0:
            out[t] = math.fsum(pvs[t - n + 1:t + 1]) / volume
    return out


def c_series(name, values):
    rows = [f"{{{1 if v is not None else 0}, {float.hex(v if v is not None else 0.0)}}}"
            for v in values]
    body = ",\n".join("    " + ", ".join(rows[i:i + 3]) for i in range(0, len(rows), 3))
    return f"static const iv_value {name}[IV_BAR_COUNT] = {{\n{body},\n}};\n"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CSV
    bars = read_bars(path)
    closes = [float(b["close"]) for b in bars]
    line, sig, hist = macd(closes, EMA_FAST, EMA_SLOW, MACD_SIGNAL)
    bb = bollinger(closes, BB_PERIOD, BB_BAND_SD)
    dc = donchian(bars, DC_PERIOD)
    series = [
        ("iv_sma", sma(closes, SMA_PERIOD)),
        ("iv_ema_fast", ema(closes, EMA_FAST)),
        ("iv_ema_slow", ema(closes, EMA_SLOW)),
        ("iv_rsi", rsi(closes, RSI_PERIOD)),
        ("iv_rsi_short", rsi(closes, RSI_SHORT)),
        ("iv_macd_line", line),
        ("iv_macd_signal", sig),
        ("iv_macd_histogram", hist),
        ("iv_atr", atr(bars, ATR_PERIOD)),
        ("iv_atr_short", atr(bars, ATR_SHORT)),
        ("iv_bb_middle", bb[0]),
        ("iv_bb_upper", bb[1]),
        ("iv_bb_lower", bb[2]),
        ("iv_bb_stddev", bb[3]),
        ("iv_dc_upper", dc[0]),
        ("iv_dc_lower", dc[1]),
        ("iv_vwap", vwap(bars, VWAP_PERIOD)),
    ]
    out = sys.stdout
    out.write(f"""/* Generated by tests/strategies/ind_reference.py; do not edit (see that script to
 * regenerate). Known answers for test_ind.c.
 *
 * Input: the first {BAR_COUNT} bars (start_unix_s {bars[0]['ts']} to {bars[-1]['ts']}) of
 * coinbase_BTC-USD_4h_20160518-20251028.csv from the team's shared data (../shared/data/ohlcv/,
 * taken from the ta4j project, MIT licence): Coinbase BTC-USD 4-hour candles, with high, low,
 * close and volume as integers in 1e-8 units. Only this short derived test vector is kept here.
 * Expected values: {{ready, value}} per bar; value is 0 while not ready. */
#ifndef TK_TESTS_STRATEGIES_IND_VECTORS_H
#define TK_TESTS_STRATEGIES_IND_VECTORS_H

#include <stdint.h>

/* Generated layout, kept as written so that regenerating changes nothing: */
/* clang-format off */

#define IV_BAR_COUNT     {BAR_COUNT}
#define IV_SMA_PERIOD    {SMA_PERIOD}u
#define IV_EMA_FAST      {EMA_FAST}u
#define IV_EMA_SLOW      {EMA_SLOW}u
#define IV_RSI_PERIOD    {RSI_PERIOD}u
#define IV_RSI_SHORT     {RSI_SHORT}u
#define IV_MACD_SIGNAL   {MACD_SIGNAL}u
#define IV_ATR_PERIOD    {ATR_PERIOD}u
#define IV_ATR_SHORT     {ATR_SHORT}u
#define IV_BB_PERIOD     {BB_PERIOD}u
#define IV_BB_BAND_SD    {BB_BAND_SD!r}
#define IV_DC_PERIOD     {DC_PERIOD}u
#define IV_VWAP_PERIOD   {VWAP_PERIOD}u

typedef struct iv_bar {{
    int64_t high_e8, low_e8, close_e8, volume_e8;
}} iv_bar;

typedef struct iv_value {{
    int ready;
    double value;
}} iv_value;

static const iv_bar iv_bars[IV_BAR_COUNT] = {{
""")
    for b in bars:
        out.write(f"    {{{b['high']}, {b['low']}, {b['close']}, {b['volume']}}},\n")
    out.write("};\n")
    for name, values in series:
        out.write("\n" + c_series(name, values))
    out.write("\n/* clang-format on */\n\n#endif /* TK_TESTS_STRATEGIES_IND_VECTORS_H */\n")


if __name__ == "__main__":
    main()
