#!/usr/bin/env python3
"""Cross-check troika's ema_cross backtest against the independent reference (ema_cross.py).

Usage: cross_check.py TROIKA_BINARY DATA_FILE

Runs `troika backtest --store memory` and `ema_cross.py` on the same candles with the same
defaults, then requires the same closed trades (entry and exit times, quantity, entry and exit
prices, net PnL, fees: all exact, so within 1e-8) and the same final equity. Exit 0 when they
agree; 1 with the first difference otherwise. troika writes times as the fill's time (the
close of the bar whose open filled it); the reference as the open of that bar, so troika's time
minus one bar interval is compared.
"""
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def iso_to_s(text):
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    troika, data = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="troika-xcheck-") as tmp:
        out = os.path.join(tmp, "bt")
        subprocess.run([troika, "backtest", "--data", data, "--strategy", "ema_cross",
                        "--store", "memory", "--out", out], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
        with open(os.path.join(out, "trades.csv")) as f:
            c_trades = list(csv.DictReader(f))
        ref_json = os.path.join(tmp, "ref.json")
        subprocess.run([sys.executable, os.path.join(HERE, "ema_cross.py"), "--data", data,
                        "--json", ref_json], check=True, stdout=subprocess.DEVNULL)
        with open(ref_json) as f:
            ref = json.load(f)
    interval = report["run"]["interval_s"]
    failures = []
    if len(c_trades) != len(ref["trades"]):
        failures.append("trades: troika %d, reference %d" % (len(c_trades), len(ref["trades"])))
    for i, (c, r) in enumerate(zip(c_trades, ref["trades"])):
        got = (iso_to_s(c["entry_time"]) - interval, iso_to_s(c["exit_time"]) - interval,
               c["qty"], c["entry_price"], c["exit_price"], c["pnl"], c["fees"])
        want = (r["entry_ts"], r["exit_ts"], r["qty"], r["entry_price"], r["exit_price"],
                r["pnl"], r["fees"])
        if got != want:
            failures.append("trade %d: troika %s, reference %s" % (i + 1, got, want))
            break
    final = report["final_equity"]
    if final != ref["final_equity"]:
        failures.append("final equity: troika %s, reference %s" % (final, ref["final_equity"]))
    if failures:
        print("cross-check FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("cross-check: %d trades and final equity %s agree" % (len(c_trades), final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
