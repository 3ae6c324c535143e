#!/usr/bin/env bash
# `troika backtest` end to end, as a user runs it (issue 5's acceptance):
#   the ema_cross backtest over the real coinbase 4h candles trades, writes report.json,
#   trades.csv and report.html, and its store passes `troika audit verify`;
#   the same inputs give a byte-identical report.json and the same state hash (rocksdb and
#   memory alike);
#   a malformed row stops the run with an error naming file, line and field, exit 1;
#   a bad config key is named with file, line and key, exit 2; --help.
# Usage: cli_backtest.sh TROIKA_BINARY DATA_DIR
set -u -o pipefail
troika="$1"
data="$2/ohlcv/coinbase_BTC-USD_4h_20160518-20251028.csv"
work="$(mktemp -d /tmp/troika-bt-XXXXXX)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
[ -f "$data" ] || { echo "FAIL: no data file $data (set TROIKA_DATA)" >&2; exit 1; }

out="$("$troika" backtest --data "$data" --strategy ema_cross --out "$work/a" 2>&1)"
rc=$?
[ $rc -eq 0 ] || fail "backtest exit $rc: $out"
for f in report.json trades.csv report.html; do [ -s "$work/a/$f" ] || fail "no $f"; done
trades=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trades"])' "$work/a/report.json")
[ "${trades:-0}" -gt 0 ] || fail "no trades: $trades"
[ "$(grep -c '<svg' "$work/a/report.html")" -ge 2 ] || fail "report.html lacks its charts"
python3 - "$work/a/report.json" <<'PY' || fail "report.json lacks a key"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("trades", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
          "max_drawdown_duration", "win_rate", "profit_factor", "exposure", "fees",
          "final_equity", "state_hash"):
    assert k in d, k
PY
audit="$("$troika" audit verify --data-dir "$work/a/store" 2>&1)" || fail "audit verify: $audit"
hash="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state_hash"])' "$work/a/report.json")"
grep -q "^state hash: $hash$" <<<"$audit" || fail "the audit's state hash is not the report's"

"$troika" backtest --data "$data" --strategy ema_cross --out "$work/b" >/dev/null 2>&1 ||
  fail "second run"
cmp -s "$work/a/report.json" "$work/b/report.json" || fail "report.json differs between runs"
"$troika" backtest --data "$data" --strategy ema_cross --store memory --out "$work/m" \
  >/dev/null 2>&1 || fail "memory run"
hm="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state_hash"])' "$work/m/report.json")"
[ "$hm" = "$hash" ] || fail "memory and rocksdb runs disagree: $hm vs $hash"
out="$("$troika" backtest --data "$data" --strategy ema_cross --out "$work/a" 2>&1)"
[ $? -eq 1 ] && grep -q "exists" <<<"$out" || fail "a second run into the same store: $out"

# a malformed row: high below the close, on line 4
bad="$work/bad.csv"
printf 'start_unix_s,open,high,low,close,volume\n1,10,11,9,10,1\n14401,10,11,9,10,1\n28801,10,9.5,9,10,1\n' >"$bad"
out="$("$troika" backtest --data "$bad" --strategy ema_cross --store memory --out "$work/x" 2>&1)"
rc=$?
[ $rc -eq 1 ] || fail "malformed row: exit $rc (want 1): $out"
grep -q "$bad:4: field 'high'" <<<"$out" || fail "the error does not name file, line and field: $out"

# a config with an unknown key
printf 'strategy:\n  name: ema_cross\n  fastest: 3\n' >"$work/bad.yaml"
out="$("$troika" backtest --data "$data" --strategy ema_cross --config "$work/bad.yaml" --store memory --out "$work/y" 2>&1)"
rc=$?
[ $rc -eq 2 ] || fail "bad config: exit $rc (want 2): $out"
grep -q "bad.yaml:3: key 'fastest' in 'strategy': unknown" <<<"$out" || fail "config error: $out"
printf 'strategy:\n  name: ema_cross\n  fast: 5\n  slow: 20\nvenue:\n  taker_bps: 7\n' >"$work/ok.yaml"
"$troika" backtest --data "$data" --strategy ema_cross --config "$work/ok.yaml" --store memory \
  --out "$work/z" >/dev/null 2>&1 || fail "a good config was refused"
for st in rsi_reversion donchian_breakout; do
  "$troika" backtest --data "$data" --strategy "$st" --store memory --out "$work/$st" \
    >/dev/null 2>&1 || fail "$st"
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trades"])' "$work/$st/report.json")
  [ "${n:-0}" -gt 0 ] || fail "$st made no trades"
done
out="$("$troika" backtest --data "$data" --strategy momentum --store memory --out "$work/q" 2>&1)"
[ $? -eq 2 ] && grep -q "unknown strategy 'momentum'" <<<"$out" || fail "unknown strategy: $out"
"$troika" backtest --help | grep -q "usage" || fail "backtest --help"

[ $failures -eq 0 ] && echo "cli_backtest: all checks passed"
exit $((failures > 0))
