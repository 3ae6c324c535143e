#!/usr/bin/env python3
"""A campaign of `troika chaos run` scenarios (docs/chaos.md, "Campaigns").

Runs --runs randomized real-process scenarios one after another: run k uses seed FIRST+k and
the scenario the seed picks from every nemesis and "mixed", so the whole campaign replays from
its first seed. Each run's folder is OUT/run-SEED; its result.json is read back, and the
campaign's table (faults injected by kind, violations by invariant, leader recovery p50/p99/max
over every fault that hit the leader) is printed as Markdown and saved as OUT/campaign.md,
with the raw figures in OUT/campaign.json.

    tools/chaos_campaign.py --troika build/release/app/troika --runs 100 --duration 25 \
        --out build/chaos-campaign [--first 1] [--extra ARG ...]

Exit 0 when every run passed, 1 when any violated an invariant or could not run.
"""
import argparse
import json
import os
import subprocess
import sys
import time

SCENARIOS = [
    "kill-leader", "kill-follower", "kill-random", "pause", "partition-leader",
    "partition-follower", "partition-oneway", "eio-raft", "fsync", "disk-full", "actor-crash",
    "rolling-restart", "transfer", "mixed",
]


def percentile(sorted_values, q):
    """The nearest-rank percentile of an ascending list (q in 0..1)."""
    if not sorted_values:
        return None
    rank = round(q * (len(sorted_values) - 1))
    return sorted_values[int(rank)]


def recovery_of(result):
    """Recovery times (ms) of the faults that hit the leader, from one result."""
    started = [f for f in result.get("faults", []) if f.get("target_was_leader")]
    return [f["recovery_ms"] for f in started if f.get("recovery_ms") is not None]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--troika", required=True, help="the troika binary")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--first", type=int, default=1, help="the first seed")
    ap.add_argument("--duration", type=int, default=25, help="seconds of faults per run")
    ap.add_argument("--out", required=True)
    ap.add_argument("--extra", action="append", default=[],
                    help="an argument passed on to every run (repeatable)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    faults, violations, recovery, runs = {}, {}, [], []
    started = time.time()
    for k in range(args.runs):
        seed = args.first + k
        scenario = SCENARIOS[seed % len(SCENARIOS)]
        out = os.path.join(args.out, f"run-{seed}")
        cmd = [args.troika, "chaos", "run", "--scenario", scenario, "--seed", str(seed),
               "--duration", str(args.duration), "--out", out] + args.extra
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "harness.txt"), "w") as log:
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            with open(os.path.join(out, "result.json")) as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = None
        if result is None:
            violations["did_not_run"] = violations.get("did_not_run", 0) + 1
            runs.append({"seed": seed, "scenario": scenario, "exit": rc, "verdict": "error"})
            print(f"run {k + 1}/{args.runs}: seed {seed} {scenario}: did not run (exit {rc}, "
                  f"see {out}/harness.txt)", flush=True)
            continue
        for name, n in result.get("faults_by_kind", {}).items():
            faults[name] = faults.get(name, 0) + n
        for name, inv in result.get("invariants", {}).items():
            violations.setdefault(name, 0)
            if not inv.get("ok"):
                violations[name] += 1
        recovery += recovery_of(result)
        runs.append({"seed": seed, "scenario": scenario, "exit": rc,
                     "verdict": result.get("verdict"), "summary": result.get("summary")})
        print(f"run {k + 1}/{args.runs}: {result.get('summary')}", flush=True)
    recovery.sort()
    elapsed = time.time() - started
    passed = sum(1 for r in runs if r["verdict"] == "pass")
    lines = [
        f"{args.runs} runs of {args.duration} s (seeds {args.first}..{args.first + args.runs - 1}"
        f"{', ' + ' '.join(args.extra) if args.extra else ''}), {elapsed / 60:.0f} min: "
        f"{passed} passed, {args.runs - passed} failed",
        "",
        "| fault | injected |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {faults[name]} |" for name in sorted(faults)]
    lines += [f"| **all** | **{sum(faults.values())}** |", "", "| invariant | runs violated |",
              "|---|---:|"]
    lines += [f"| {name} | {violations[name]} |" for name in sorted(violations)]
    if recovery:
        lines += ["", f"Leader recovery over {len(recovery)} faults that hit the leader: "
                      f"p50 {percentile(recovery, 0.5)} ms, p99 {percentile(recovery, 0.99)} ms, "
                      f"max {recovery[-1]} ms."]
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.out, "campaign.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "campaign.json"), "w") as f:
        json.dump({"runs": runs, "faults": faults, "violations": violations,
                   "recovery_ms": recovery, "elapsed_s": elapsed}, f, indent=1)
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
