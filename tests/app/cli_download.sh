#!/usr/bin/env bash
# troika data download against the Binance mock (tools/binance_mock.py) serving real Binance
# 1-minute candles (the shared XRP/ETH file, as BTCUSDT):
#   the whole span downloads, row for row equal to the source, in pages of 1,000;
#   a download cut short resumes after its last row, with no row twice;
#   an HTTP 429 with Retry-After is waited out, and the download completes;
#   the venue's error (an unknown symbol) is reported with its code, exit 1;
#   bad options name the option, exit 2;
#   the file is a candle file the backtest reads.
# Usage: cli_download.sh TROIKA_BINARY DATA_DIR
set -u -o pipefail
troika="$1"
data="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source_csv="$data/ohlcv/binance_XRP-ETH_1m_20191011-20191013.csv"
work="$(mktemp -d /tmp/troika-download-XXXXXX)"
mock=""
cleanup() {
  [ -n "$mock" ] && kill "$mock" 2>/dev/null && wait "$mock" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

python3 "$root/tools/binance_mock.py" --port 0 --port-file "$work/port" --quiet \
  --klines-csv "$source_csv" &
mock=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "FAIL: the mock did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$work/port")"
dl() { "$troika" data download --venue binance --symbol BTCUSDT --interval 1m --base-url "$url" "$@"; }

# the whole span
out="$(dl --from 2019-10-11 --to 2019-10-14 --out "$work/all.csv")" || fail "download: $out"
grep -q "3560 rows written in 4 requests" <<<"$out" || fail "rows and pages: $out"
python3 - "$source_csv" "$work/all.csv" <<'PY' || fail "the download differs from the source"
import sys
from decimal import Decimal
def rows(path):
    lines = open(path).read().splitlines()
    assert lines[0] == "open_time_ms,open,high,low,close,volume", lines[0]
    return [[int(f[0])] + [Decimal(x) for x in f[1:]] for f in (l.split(",") for l in lines[1:])]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
sys.exit(0 if a == b and len(a) == 3560 else 1)
PY

# cut short, then resumed: the same file as in one go
dl --from 2019-10-11 --to 2019-10-11T12:00:00Z --out "$work/part.csv" >/dev/null ||
  fail "the first part"
out="$(dl --from 2019-10-11 --to 2019-10-14 --out "$work/part.csv" 2>&1)" || fail "resume: $out"
grep -q "continuing from" <<<"$out" || fail "resume did not say where it continued: $out"
cmp -s "$work/all.csv" "$work/part.csv" || fail "the resumed file differs from the whole one"

# a 429 with Retry-After is waited out
curl -s -X POST "$url/mock/fault" -d '{"kind": "429", "count": 1, "path": "/api/v3/klines",
  "retry_after": 1}' >/dev/null || fail "fault"
out="$(dl --from 2019-10-11 --to 2019-10-14 --out "$work/rate.csv" 2>&1)" || fail "429: $out"
grep -q "waiting 1 s as asked" <<<"$out" || fail "the 429 was not waited out: $out"
cmp -s "$work/all.csv" "$work/rate.csv" || fail "the file after a 429 differs"

# the venue's own error, with its code
out="$("$troika" data download --venue binance --symbol ETHBTC --interval 1m --from 2019-10-11 \
  --to 2019-10-12 --out "$work/bad.csv" --base-url "$url" 2>&1)"
rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "code -1121" <<<"$out"; then fail "an unknown symbol: $out"; fi

# options
usage_error() { # usage_error OPTION ARGS...: exit 2, naming OPTION
  local option="$1" out rc
  shift
  out="$("$troika" data download --venue binance --symbol BTCUSDT --base-url "$url" "$@" 2>&1)"
  rc=$?
  if [ "$rc" -ne 2 ] || ! grep -q -- "$option" <<<"$out"; then fail "$option: $rc: $out"; fi
}
usage_error --out --interval 1m --from 2019-10-11 --to 2019-10-14
usage_error --interval --interval 7m --from 2019-10-11 --to 2019-10-14 --out "$work/x.csv"
usage_error --to --interval 1m --from 2019-10-14 --to 2019-10-11 --out "$work/x.csv"

# a candle file the backtest reads
"$troika" backtest --data "$work/all.csv" --strategy ema_cross --store memory \
  --out "$work/report" >/dev/null 2>&1 || fail "the backtest does not read the download"

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)" >&2; exit 1; fi
echo "cli_download: ok"
