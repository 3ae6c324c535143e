#!/usr/bin/env python3
"""Independent reference for troika's ema_cross backtest (python3, standard library only).

What it checks: written only from docs/strategies.md ("Numbers", "Indicators", "How one bar
flows", "Paper venue fill model", "ema_cross", "Config") and docs/ledger.md ("Apply",
"Valuation"), never from the C sources, it replays a candle file through the same rules and
prints the trades, the fills and the final equity. The C backtest must produce the same trades
to 1e-8: money and quantities are Python ints in 1e-8 units with the rounding the spec names,
and the indicators are IEEE doubles computed in the spec's order, so they are bit-identical to C.

Run:
    python3 tests/reference/ema_cross.py --data FILE [--fast 12 --slow 26 --atr-period 14
        --stop-atr 2.0 --trail-atr 3.0 --risk-bps 100 --max-position-bps 5000
        --initial-equity 100000 --taker-bps 10 --maker-bps 5 --slippage-bps 5 --tick 0.01
        --lot 0.00000001] [--max-drawdown-bps 0] [--json OUT] [--repeat N]

FILE is a CSV with a header; columns time, open, high, low, close, volume; time in unix seconds,
unix milliseconds, or "YYYY-MM-DD HH:MM:SS.ffffff" (UTC). Prices are parsed exactly (no float).
--json OUT writes {"trades", "fills", "final_equity", "bars", "seconds"}; decimals are exact
strings like led_format ("0.5", "-0.00000001"). --repeat N (a throughput benchmark) runs the
bars N times back to back as one series (indicators and position carry over); pass k shifts
every time by k * (last - first + last interval), so times keep increasing.

Points where the spec leaves a choice are marked "SPEC:" below.
"""
import argparse
import calendar
import json
import math
import sys
import time
from datetime import datetime

SCALE = 10 ** 8


# ---- fixed point ----------------------------------------------------------------------------
def parse_e8(text):
    """A plain decimal -> int in 1e-8 units, exactly; digits past the 8th place must be 0."""
    s = text.strip()
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not (whole + frac).isdigit() or not whole and not frac:
        raise ValueError("not a plain decimal: %r" % text)
    if len(frac) > 8:
        if frac[8:].strip("0"):
            raise ValueError("more than 8 decimals: %r" % text)
        frac = frac[:8]
    v = int(whole or "0") * SCALE + int(frac.ljust(8, "0"))
    return -v if neg else v


def fmt_e8(v):
    """int in 1e-8 units -> shortest exact decimal text (as led_format)."""
    sign = "-" if v < 0 else ""
    whole, frac = divmod(abs(v), SCALE)
    frac = ("%08d" % frac).rstrip("0")
    return sign + str(whole) + ("." + frac if frac else "")


def div_floor(n, d):
    return n // d


def div_up(n, d):
    return -((-n) // d)


def div_half_even(n, d):
    q, r = divmod(n, d)  # d > 0, so 0 <= r < d
    if 2 * r > d or (2 * r == d and q % 2 == 1):
        q += 1
    return q


def notional(price, qty):
    return div_half_even(price * qty, SCALE)


# ---- indicators (doubles holding the unscaled 1e-8 integers) --------------------------------
class Ema:
    def __init__(self, n):
        self.n, self.alpha = n, 2.0 / (n + 1)
        self.count, self.sum, self.value = 0, 0.0, None

    def update(self, x):
        x = float(x)
        self.count += 1
        if self.count < self.n:
            self.sum += x
        elif self.count == self.n:  # seed: the mean of x_0..x_{n-1}, summed in order
            self.sum += x
            self.value = self.sum / self.n
        else:
            self.value = self.value + self.alpha * (x - self.value)


class Atr:
    def __init__(self, n):
        self.n, self.count, self.sum, self.value, self.prev_close = n, 0, 0.0, None, None

    def update(self, high, low, close):
        h, l = float(high), float(low)
        if self.prev_close is None:
            tr = h - l
        else:
            pc = self.prev_close
            tr = max(h - l, abs(h - pc), abs(l - pc))
        self.prev_close = float(close)
        self.count += 1
        if self.count < self.n:
            self.sum += tr
        elif self.count == self.n:
            self.sum += tr
            self.value = self.sum / self.n
        else:
            self.value = (self.value * (self.n - 1) + tr) / self.n


# ---- data -----------------------------------------------------------------------------------
def parse_time(text, column):
    text = text.strip()
    if "-" in text:  # SPEC: a text time is UTC; the fraction of a second is dropped
        return calendar.timegm(datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timetuple())
    v = int(text)
    # SPEC: milliseconds when the column name says so ("..._ms") or the value is past year 5138
    if column.endswith("ms") or v >= 10 ** 11:
        return v // 1000
    return v


def load_bars(path):
    bars = []
    with open(path) as f:
        column = f.readline().split(",")[0].strip().lower()
        for line in f:
            if not line.strip():
                continue
            t, o, h, l, c, _volume = line.split(",")[:6]
            # SPEC: volume is not parsed: ema_cross does not use it, and the coinbase file has
            # volumes with 9 decimals, which led_parse would refuse (the C feed must round or cut).
            bars.append((parse_time(t, column), parse_e8(o), parse_e8(h), parse_e8(l), parse_e8(c)))
    return bars


# ---- the backtest ---------------------------------------------------------------------------
def simulate(bars, a, repeat=1):
    fast, slow, atr = Ema(a.fast), Ema(a.slow), Atr(a.atr_period)
    tick, lot, slip = parse_e8(a.tick), parse_e8(a.lot), a.slippage_bps
    quote, base = parse_e8(a.initial_equity), 0
    peak, worst_dd_bps, rejected = quote, 0.0, 0
    state, qty, stop, trade = "FLAT", 0, 0, None
    fills, trades = [], []
    span = bars[-1][0] - bars[0][0] + (bars[-1][0] - bars[-2][0] if len(bars) > 1 else 1)

    def equity(mark):  # docs/ledger.md "Valuation": quote + base * mark, half-even
        return quote + notional(mark, base)

    def book(ts, side, q, price, kind):  # docs/ledger.md "Apply", OrderFilled
        nonlocal quote, base
        value = notional(price, q)
        fee = div_up(value * a.taker_bps, 10000)  # market and stop fills pay the taker fee
        if side == "buy":
            quote, base = quote - value - fee, base + q
        else:
            quote, base = quote + value - fee, base - q
        fills.append({"ts": ts, "side": side, "qty": fmt_e8(q), "price": fmt_e8(price),
                      "fee": fmt_e8(fee), "kind": kind})
        return value, fee

    def close_trade(ts, price, value, fee, reason):
        trades.append({"entry_ts": trade["ts"], "exit_ts": ts, "side": "long",
                       "qty": fmt_e8(trade["qty"]), "entry_price": fmt_e8(trade["price"]),
                       "exit_price": fmt_e8(price),
                       "pnl": fmt_e8(value - trade["value"] - trade["fee"] - fee),
                       "fees": fmt_e8(trade["fee"] + fee), "exit_reason": reason})

    t0 = time.perf_counter()
    for k in range(repeat):
        shift = k * span
        for ts, o, h, l, c in bars:
            ts += shift
            # 1. BarClosed t is committed first: the mark becomes close_t.
            peak = max(peak, equity(c))
            # 2. Execution matches the resting order against bar t (at most one is open).
            stop_pending = False
            if state == "ENTERING":  # market buy requested after bar t-1: bar t's open + slip
                price = div_half_even(o * (10000 + slip), 10000)
                value, fee = book(ts, "buy", qty, price, "market")
                # 3. The strategy sees its fill: LONG, and a stop from the ATR it has (t-1's).
                trade = {"ts": ts, "qty": qty, "price": price, "value": value, "fee": fee}
                stop = (price - math.floor(a.stop_atr * atr.value)) // tick * tick
                if stop <= 0:  # no stop when its price would not be positive (docs): 0 = none
                    stop = 0
                state, stop_pending = "LONG", stop > 0  # pending on this bar (accepted after it)
            elif state == "EXITING":  # market sell of the whole position at the open - slip
                price = div_half_even(o * (10000 - slip), 10000)
                value, fee = book(ts, "sell", qty, price, "market")
                close_trade(ts, price, value, fee, "cross")
                state = "FLAT"
            elif state == "LONG" and stop > 0 and l <= stop:  # at the stop, or the open if gapped
                price = div_half_even((o if o < stop else stop) * (10000 - slip), 10000)
                value, fee = book(ts, "sell", qty, price, "stop")
                close_trade(ts, price, value, fee, "stop")
                state = "FLAT"
            peak = max(peak, equity(c))
            # 3. ...then bar t: the indicators update and the state machine decides.
            prev = (fast.value, slow.value)
            fast.update(c)
            slow.update(c)
            atr.update(h, l, c)
            if None in prev or fast.value is None or slow.value is None or atr.value is None:
                continue
            up = prev[0] <= prev[1] and fast.value > slow.value
            down = prev[0] >= prev[1] and fast.value < slow.value
            if state == "FLAT" and up:
                d = math.floor(a.stop_atr * atr.value)
                # SPEC: "the ledger's equity after bar t" is read after bar t's fills, at close_t
                # (when FLAT that is the quote balance).
                e = equity(c)
                worst_dd_bps = max(worst_dd_bps, (peak - e) * 10000.0 / peak)
                if d <= 0:
                    continue
                q = div_floor(div_floor(e * a.risk_bps, 10000) * SCALE, d)
                cap = div_floor(e * a.max_position_bps, 10000)
                q = min(q, div_floor(cap * SCALE, c))
                q -= q % lot
                if q <= 0:  # SPEC: "skip when 0" read as <= 0 (negative equity)
                    continue
                # SPEC: the risk gate is assumed to accept every order (config limits wide
                # enough). Only the drawdown rule is modelled, and only when asked for.
                if a.max_drawdown_bps and (peak - e) * 10000 > a.max_drawdown_bps * peak:
                    rejected += 1  # entry rejected by the gate: stays FLAT
                    continue
                state, qty = "ENTERING", q
            elif state == "LONG" and not stop_pending:  # SPEC: a cross on the entry bar is lost
                if down:
                    # The stop's cancel is requested here and, once confirmed (within bar t),
                    # the market sell: it fills at bar t+1's open and the stop is gone by then.
                    state = "EXITING"
                elif stop > 0:  # only a resting stop trails
                    trail = (c - math.floor(a.trail_atr * atr.value)) // tick * tick
                    if trail > stop:
                        # SPEC: cancel, its confirmation and the new stop all settle within
                        # bar t, so the new stop rests from bar t+1 and is never "pending" then.
                        stop = trail
    seconds = time.perf_counter() - t0
    last_close = bars[-1][4]
    return {"trades": trades, "fills": fills, "final_equity": fmt_e8(equity(last_close)),
            "bars": len(bars) * repeat, "seconds": seconds,
            "_open": state, "_worst_dd_bps": worst_dd_bps, "_rejected": rejected}


def main():
    p = argparse.ArgumentParser(description="ema_cross reference backtest (see the docstring)")
    p.add_argument("--data", required=True)
    p.add_argument("--fast", type=int, default=12)
    p.add_argument("--slow", type=int, default=26)
    p.add_argument("--atr-period", type=int, default=14)
    p.add_argument("--stop-atr", type=float, default=2.0)
    p.add_argument("--trail-atr", type=float, default=3.0)
    p.add_argument("--risk-bps", type=int, default=100)
    p.add_argument("--max-position-bps", type=int, default=5000)
    p.add_argument("--initial-equity", default="100000")
    p.add_argument("--taker-bps", type=int, default=10)
    p.add_argument("--maker-bps", type=int, default=5)  # no limit orders in ema_cross: unused
    p.add_argument("--slippage-bps", type=int, default=5)
    p.add_argument("--tick", default="0.01")
    p.add_argument("--lot", default="0.00000001")
    p.add_argument("--max-drawdown-bps", type=int, default=0, help="gate rule; 0 = off")
    p.add_argument("--json")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()

    bars = load_bars(a.data)
    r = simulate(bars, a, a.repeat)
    extra = {k: r.pop(k) for k in [k for k in r if k.startswith("_")]}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
    stops = sum(t["exit_reason"] == "stop" for t in r["trades"])
    print("bars %d, trades %d (%d stopped, %d on a cross), final equity %s, at the end %s"
          % (r["bars"], len(r["trades"]), stops, len(r["trades"]) - stops, r["final_equity"],
             extra["_open"]))
    print("deepest drawdown below peak at an entry signal: %.1f bps; entries refused: %d"
          % (extra["_worst_dd_bps"], extra["_rejected"]))
    print("simulation %.3f s, %.0f bars/s" % (r["seconds"], r["bars"] / max(r["seconds"], 1e-9)))
    for t in r["trades"][:3]:
        print("  %s" % json.dumps(t))


if __name__ == "__main__":
    main()
