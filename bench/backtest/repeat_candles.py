#!/usr/bin/env python3
"""Write a candle CSV that repeats FILE until it holds at least BARS bars, shifting each copy's
times by the span of the file plus one bar, so that times keep increasing (bench/backtest/run).

Usage: repeat_candles.py FILE BARS OUT

FILE is a candle CSV with a header (time, open, high, low, close, volume; time as unix seconds,
unix milliseconds or "YYYY-MM-DD HH:MM:SS[.ffffff]"). OUT gets the same prices and volumes,
with times written as unix seconds. Prints the number of bars written.
"""
import datetime
import sys


def seconds(text):
    if "-" in text:
        return int(datetime.datetime.strptime(text.split(".")[0], "%Y-%m-%d %H:%M:%S")
                   .replace(tzinfo=datetime.timezone.utc).timestamp())
    value = int(text)
    return value // 1000 if value >= 10**11 else value


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, want, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(src) as f:
        next(f)
        rows = [line.rstrip("\r\n").split(",", 1) for line in f if line.strip()]
    times = [seconds(r[0]) for r in rows]
    step = times[1] - times[0]
    span = times[-1] - times[0] + step
    copies = -(-want // len(rows))
    with open(out, "w") as f:
        f.write("start_unix_s,open,high,low,close,volume\n")
        for k in range(copies):
            shift = k * span
            f.writelines("%d,%s\n" % (t + shift, r[1]) for t, r in zip(times, rows))
    print(copies * len(rows))


if __name__ == "__main__":
    main()
