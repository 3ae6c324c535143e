#!/usr/bin/env bash
# Issue 8's acceptance on three real `troika node` processes trading on the Binance mock
# (tools/binance_mock.py), started as a user starts them:
#   an order accepted by the ledger reaches the venue, whose HTTP answer is lost (the mock
#   executes it, then closes the connection), and the leader's query for it hangs; the leader
#   is SIGKILLed once the order is at the venue; the new leader reconciles: exactly one order
#   with that client order id at the venue (one POST in all), the ledger has it acked and filled
#   with the venue's fill; an order the venue holds under troika's prefix that the ledger lacks
#   is adopted (ExternalOrderAdopted) and reported in the log; the three state hashes end
#   equal and every store passes `troika audit verify`.
# Usage: cli_venue_failover.sh TROIKA_BINARY SOURCE_DIR
set -u -o pipefail
troika="$1"
src="$2"
work="$(mktemp -d /tmp/troika-venue-XXXXXX)"
mock_pid=""
cleanup() {
  "$troika" cluster down --dir "$work/cluster" >/dev/null 2>&1
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

key="venue-test-key-$RANDOM"
secret="venue-test-secret-$RANDOM$RANDOM"
python3 "$src/tools/binance_mock.py" --port 0 --port-file "$work/mock.port" --quiet \
  --api-key "$key" --api-secret "$secret" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/mock.port" ] && break; sleep 0.1; done
[ -s "$work/mock.port" ] || { echo "FAIL: the mock did not start" >&2; cat "$work/mock.log"; exit 1; }
mock="http://127.0.0.1:$(cat "$work/mock.port")"
mockpost() { curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$mock$1"; }
mockget() { curl -sf "$mock$1"; }
mockpost /mock/mark '{"symbol": "BTCUSDT", "price": "30000"}' >/dev/null ||
  { echo "FAIL: /mock/mark" >&2; exit 1; }

# The keys, as a user keeps them: a file only its owner can read.
printf '%s\n%s\n' "$key" "$secret" >"$work/keys"
chmod 600 "$work/keys"
# A few bars of BTCUSDT for the feed (too few for the strategy to trade: the test's own order
# is the one that matters), a strategy config naming the instrument as Binance does.
cat >"$work/bars.csv" <<'CSV'
time,open,high,low,close,volume
1640995200,30000,30010,29990,30000,1
1640995260,30000,30010,29990,30000,1
1640995320,30000,30010,29990,30000,1
CSV
cat >"$work/strategy.yaml" <<'YAML'
instrument: {symbol: BTCUSDT, base: BTC, quote: USDT, tick: "0.01", lot: "0.00001"}
account: {initial_equity: "100000"}
YAML
cat >"$work/trading.yaml" <<YAML
trading:
  data: $work/bars.csv
  config: $work/strategy.yaml
  venue: binance
  binance_url: $mock
  key_file: $work/keys
  prefix: tk
YAML
base=$(python3 "$(dirname "$0")/free_base_port.py")
[ -n "$base" ] || { echo "FAIL: no free ports" >&2; exit 1; }
"$troika" cluster up --dir "$work/cluster" --base-port "$base" --trading "$work/trading.yaml" \
  >"$work/up.log" 2>&1 || { echo "FAIL: cluster up" >&2; cat "$work/up.log"; exit 1; }
cfg() { echo "$work/cluster/node$1.yaml"; }

# The node that leads with its actors started, and the ledger's instrument defined.
leader_of() {
  for n in 1 2 3; do
    [ "$n" = "${1:-0}" ] && continue
    if "$troika" status --config "$(cfg "$n")" --json 2>/dev/null |
      python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("leading") else 1)' 2>/dev/null; then
      echo "$n"
      return 0
    fi
  done
  return 1
}
leader=""
for _ in $(seq 100); do leader=$(leader_of) && break; sleep 0.1; done
[ -n "$leader" ] || { echo "FAIL: no leader" >&2; exit 1; }
for _ in $(seq 100); do
  "$troika" positions --config "$(cfg "$leader")" --json 2>/dev/null | grep -q BTCUSDT && break
  sleep 0.1
done

# An order at the venue under troika's prefix that no ledger ever held: to be adopted.
python3 - "$mock" "$key" "$secret" <<'PY' || fail "placing the external order at the mock"
import hashlib, hmac, sys, time, urllib.request
url, key, secret = sys.argv[1:4]
q = ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000"
     f"&newClientOrderId=tk-999999&recvWindow=5000&timestamp={int(time.time() * 1000)}")
sig = hmac.new(secret.encode(), q.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{url}/api/v3/order?{q}&signature={sig}", method="POST",
                             headers={"X-MBX-APIKEY": key})
urllib.request.urlopen(req, timeout=5).read()
PY

# The faults: the next new order's answer is lost after the venue executed it, and the
# leader's query that follows hangs; the leader dies with the outcome unknown to it.
mockpost /mock/fault '{"kind": "drop_after_accept", "count": 1, "path": "/api/v3/order", "method": "POST"}' >/dev/null ||
  fail "queueing drop_after_accept"
mockpost /mock/fault '{"kind": "timeout", "count": 1, "path": "/api/v3/order", "method": "GET", "hold_s": 30}' >/dev/null ||
  fail "queueing the hanging query"
out=$("$troika" order buy 0.01 BTCUSDT --config "$(cfg "$leader")" --key test-order-1 2>&1)
echo "$out"
index=$(echo "$out" | sed -n 's/.*ledger index \([0-9]*\) (applied.*/\1/p')
[ -n "$index" ] || fail "the order was not accepted: $out"
cid="tk-$index"
at_venue=""
for _ in $(seq 100); do
  at_venue=$(mockget /mock/orders | python3 -c "import json,sys; print(sum(1 for o in json.load(sys.stdin) if o['clientOrderId']=='$cid'))")
  [ "$at_venue" = "1" ] && break
  sleep 0.05
done
[ "$at_venue" = "1" ] || fail "order $cid never reached the venue"
kill -KILL "$(cat "$work/cluster/node$leader.pid")"
echo "SIGKILL to the leader, node $leader, with order $cid at the venue and its answer lost"

new=""
for _ in $(seq 200); do new=$(leader_of "$leader") && break; sleep 0.1; done
[ -n "$new" ] || fail "no new leader"
settled=""
for _ in $(seq 300); do
  if "$troika" orders --config "$(cfg "$new")" --json 2>/dev/null |
    python3 -c "import json,sys; o=[x for x in json.load(sys.stdin)['orders'] if x['index']==$index]; sys.exit(0 if not o else 1)" 2>/dev/null; then
    settled=1
    break
  fi
  sleep 0.1
done
[ -n "$settled" ] || fail "order $index is still open in the ledger after the failover"

# Let the killed node come back and catch up; then every store says the same.
for _ in $(seq 300); do
  hashes=$("$troika" cluster status --dir "$work/cluster" --json 2>/dev/null |
    python3 -c 'import json,sys; n=[x for x in json.load(sys.stdin)["nodes"] if x["answered"]]; print(len({x["state_hash"] for x in n}), len({x["ledger_index"] for x in n}), len(n))')
  [ "$hashes" = "1 1 3" ] && break
  sleep 0.1
done
[ "$hashes" = "1 1 3" ] || fail "the nodes do not agree: $hashes"
"$troika" cluster down --dir "$work/cluster" >/dev/null 2>&1

posts=$(mockget /mock/requests | python3 -c 'import json,sys; print(json.load(sys.stdin).get("POST /api/v3/order", 0))')
[ "$posts" = "2" ] || fail "expected 2 new-order requests at the venue (the external one and ours), got $posts"
count=$(mockget /mock/orders | python3 -c "import json,sys; print(sum(1 for o in json.load(sys.stdin) if o['clientOrderId']=='$cid'))")
[ "$count" = "1" ] || fail "expected exactly one order $cid at the venue, found $count"
for n in 1 2 3; do
  "$troika" audit verify --data-dir "$work/cluster/node$n/store" >"$work/audit$n" 2>&1 ||
    fail "audit of node $n: $(tail -1 "$work/audit$n")"
  "$troika" export --data-dir "$work/cluster/node$n/store" --format jsonl >"$work/events$n.jsonl" ||
    fail "export of node $n"
done
python3 - "$work/events1.jsonl" "$index" "$cid" <<'PY' || fail "the ledger is not in line with the venue"
import json, sys
path, index, cid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
events = [json.loads(l) for l in open(path)]
def about(e):
    return e["fields"].get("order") == index
acked = [e for e in events if e["type"] == "OrderAcked" and about(e) and e["result"] == "applied"]
fills = [e for e in events if e["type"] == "OrderFilled" and about(e) and e["result"] == "applied"]
adopted = [e for e in events if e["type"] == "ExternalOrderAdopted" and e["result"] == "applied"]
ok = True
if len(acked) != 1:
    print(f"order {index}: {len(acked)} OrderAcked applied, expected 1"); ok = False
if len(fills) != 1 or fills[0]["fields"]["qty"] != "0.01" or not fills[0]["fields"]["fill_id"].startswith("b"):
    print(f"order {index}: fills {[f['fields'] for f in fills]}, expected one of 0.01 from the venue"); ok = False
if [e["fields"]["client_order_id"] for e in adopted] != ["tk-999999"]:
    print(f"adopted: {[e['fields'] for e in adopted]}, expected tk-999999 once"); ok = False
applied = {}
for e in events:
    if e["key"] and e["result"] == "applied":
        applied[e["key"]] = applied.get(e["key"], 0) + 1
twice = [k for k, v in applied.items() if v > 1]
if twice:
    print(f"keys applied twice: {twice}"); ok = False
sys.exit(0 if ok else 1)
PY
grep -h '"adopted"' "$work"/cluster/node*/node.log | head -3
if [ "$failures" -ne 0 ]; then
  for n in 1 2 3; do echo "== node $n"; grep -v '"debug"' "$work/cluster/node$n/node.log" | tail -20; done
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok: one order at the venue, the ledger in line after the failover, the external order adopted"
