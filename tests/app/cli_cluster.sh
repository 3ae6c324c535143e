#!/usr/bin/env bash
# Three real `troika node` processes on loopback (issue 6's acceptance), started as a user starts
# them:
#   a leader is elected and commits its LeaderChanged;
#   10,000 events written through the client API (16 clients) are on all three nodes, with
#   equal state hashes;
#   a wrong token is refused; a write to a follower is answered "not_leader" naming the leader;
#   SIGKILL of the leader while clients write: a new leader accepts writes within 2 s (election
#   timeout 500 ms), and every acknowledged event is in both survivors' stores at its index;
#   a write made on the old leader and retried with its idempotency key on the new one is
#   answered as a duplicate with the first index, and no key is applied twice in any store;
#   the killed node restarts from its directories and catches up by snapshot install (the
#   snapshot threshold is small), and the three state hashes are equal;
#   every store passes `troika audit verify`.
# Usage: cli_cluster.sh TROIKA_BINARY API_LOAD_BINARY [FAILOVER_LIMIT_MS (default 2000)]
set -u -o pipefail
troika="$1"
load="$2"
limit_ms="${3:-2000}"
work="$(mktemp -d /tmp/troika-cluster-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
token="test-token-$RANDOM$RANDOM"

# A base port with 4 x 3 free ports above it, below the ephemeral range (32768 and up) so that
# no outgoing connection takes one of them later.
base=$(python3 "$(dirname "$0")/free_base_port.py")
[ -n "$base" ] || { echo "FAIL: no free ports" >&2; exit 1; }
api() { echo "tcp://127.0.0.1:$((base + 100 + $1))"; }

for n in 1 2 3; do
  {
    echo "node: {id: $n, name: node$n, data_dir: $work/node$n, token: $token}"
    echo "cluster: {id: test}"
    echo "raft: {election_timeout_ms: 500, heartbeat_timeout_ms: 50, snapshot_threshold: 64,"
    echo "       snapshot_trailing: 32, stall_timeout_ms: 0}"
    echo "storage: {checkpoint_every: 1000, sync: false}"
    echo "peers:"
    for p in 1 2 3; do
      echo "  - {id: $p, raft: 127.0.0.1:$((base + p)), api: $(api $p),"
      echo "     http: http://127.0.0.1:$((base + 200 + p)), events: tcp://127.0.0.1:$((base + 300 + p))}"
    done
  } >"$work/node$n.yaml"
done

declare -A node_pid
start() { # start node N in the background
  "$troika" node --config "$work/node$1.yaml" >>"$work/node$1.log" 2>&1 &
  node_pid[$1]=$!
  pids+=($!)
}
field() { # field NODE KEY: a key of the node's status ("" if it does not answer)
  "$troika" status --node "$(api "$1")" --token "$token" --json 2>/dev/null |
    python3 -c 'import json,sys
try: print(json.load(sys.stdin).get(sys.argv[1], ""))
except Exception: print("")' "$2"
}
leader() { # the id of the node that leads with its LeaderChanged committed, or ""
  for n in "$@"; do
    [ "$(field "$n" leading)" = "True" ] && { echo "$n"; return; }
  done
}
wait_leader() { # wait_leader SECONDS NODES...: echo the leader's id
  local deadline=$((SECONDS + $1)); shift
  while [ $SECONDS -le $deadline ]; do
    l="$(leader "$@")"; [ -n "$l" ] && { echo "$l"; return 0; }
    sleep 0.1
  done
  return 1
}
converged() { # converged MIN_INDEX NODES...: equal ledger index >= MIN and equal state hashes
  local min=$1; shift
  local want="" idx hash
  for n in "$@"; do
    idx="$(field "$n" ledger_index)"; hash="$(field "$n" state_hash)"
    [ -n "$idx" ] && [ "$idx" -ge "$min" ] || return 1
    [ -z "$want" ] && want="$idx/$hash"
    [ "$want" = "$idx/$hash" ] || return 1
  done
}
wait_converged() { # wait_converged SECONDS MIN NODES...
  local deadline=$((SECONDS + $1)); shift
  while [ $SECONDS -le $deadline ]; do converged "$@" && return 0; sleep 0.2; done
  return 1
}

for n in 1 2 3; do start $n; done
l1="$(wait_leader 10 1 2 3)" || fail "no leader within 10 s"
echo "leader: node $l1"

# 10,000 events through the API, 16 clients at once
out="$("$load" --node "$(api 1)" --token "$token" --count 10000 --inflight 16 --prefix a \
  --acked "$work/acked" --duration-ms 120000)" || fail "load: $out"
echo "load: $out"
wait_converged 30 10000 1 2 3 || fail "the three nodes did not converge after 10,000 events"

# a wrong token; a follower's answer names the leader
msg="$("$troika" status --node "$(api 1)" --token wrong 2>&1)" && fail "a wrong token was accepted"
grep -q unauthorized <<<"$msg" || fail "wrong token: $msg"
f=$(( l1 % 3 + 1 ))
reply="$("$troika" kill-switch off --reason probe --node "$(api $f)" --token "$token" --json \
  --no-follow)" && fail "a follower accepted a write: $reply"
grep -q '"error": "not_leader"' <<<"$reply" || fail "follower's answer: $reply"
grep -q "\"leader_api\": \"$(api "$l1")\"" <<<"$reply" || fail "the follower did not name the leader: $reply"
reply="$("$troika" kill-switch off --reason probe --node "$(api $f)" --token "$token" --json)" ||
  fail "kill-switch through a follower: $reply"
grep -q "\"node_id\": $l1" <<<"$reply" || fail "the write did not follow to the leader: $reply"

# a keyed write on the first leader, retried on the next one after the failover below
reply="$("$troika" kill-switch off --reason "before the failover" --key failover-retry-1 \
  --node "$(api "$l1")" --token "$token" --json)" || fail "keyed write: $reply"
first_index="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["index"])' <<<"$reply")"

# SIGKILL the leader while clients write
"$load" --node "$(api "$l1"),$(api 1),$(api 2),$(api 3)" --token "$token" --count 3000 --inflight 16 --prefix b \
  --acked "$work/acked" --duration-ms 60000 >"$work/load-b.json" &
loader=$!
sleep 1
kill -KILL "${node_pid[$l1]}"
t0=$(date +%s%N)
survivors=()
for n in 1 2 3; do [ "$n" != "$l1" ] && survivors+=("$n"); done
accepted=""
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ]; do
  for n in "${survivors[@]}"; do
    if "$troika" kill-switch off --reason failover --node "$(api "$n")" --token "$token" \
      >/dev/null 2>&1; then accepted=$(( ($(date +%s%N) - t0) / 1000000 )); break 2; fi
  done
done
[ -n "$accepted" ] || fail "no new leader accepted a write within 5 s"
echo "a new leader accepted a write ${accepted} ms after SIGKILL of node $l1"
[ -n "$accepted" ] && [ "$accepted" -le "$limit_ms" ] ||
  fail "failover took ${accepted:-?} ms (> $limit_ms)"
wait $loader || fail "load during failover: $(cat "$work/load-b.json")"
echo "load during failover: $(cat "$work/load-b.json")"
l2="$(wait_leader 5 "${survivors[@]}")" || fail "no leader among the survivors"

# the retry on the new leader, which never saw the key in memory: the ledger answers it
reply="$("$troika" kill-switch off --reason "before the failover" --key failover-retry-1 \
  --node "$(api "$l2")" --token "$token" --json)" || fail "keyed retry: $reply"
python3 -c 'import json, sys
r = json.loads(sys.argv[2])
sys.exit(0 if r.get("duplicate") is True and r["index"] == int(sys.argv[1]) else 1)' \
  "$first_index" "$reply" || fail "the retry on the new leader was not a duplicate: $reply"

# more writes while it is down, one at a time so that each is an entry of its own: the leader
# snapshots and compacts its log past what the killed node has
out="$("$load" --node "$(api "$l2")" --token "$token" --count 300 --inflight 1 --prefix c \
  --acked "$work/acked" --duration-ms 60000)" || fail "load while a node is down: $out"

# the killed node comes back from its directories and catches up by snapshot install
start "$l1"
min="$(field "$l2" ledger_index)"
wait_converged 60 "${min:-1}" 1 2 3 || fail "the restarted node did not catch up"
restores="$(python3 - "http://127.0.0.1:$((base + 200 + l1))/metrics" <<'PY'
import sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines():
    if line.startswith("troika_restores_total"):
        print(int(float(line.split()[-1])))
PY
)"
[ "${restores:-0}" -ge 1 ] || fail "node $l1 caught up without a snapshot install (restores: ${restores:-?})"

# stop everything; every acknowledged event is in each survivor's store, at its index
for n in 1 2 3; do kill -TERM "${node_pid[$n]}" 2>/dev/null; done
for n in 1 2 3; do wait "${node_pid[$n]}" 2>/dev/null; done
for n in "${survivors[@]}"; do
  "$troika" export --data-dir "$work/node$n/store" --format jsonl >"$work/export$n.jsonl" ||
    fail "export node $n"
  python3 - "$work/acked" "$work/export$n.jsonl" <<'PY' || fail "node $n lacks acknowledged events"
import json, sys
events = {}
for line in open(sys.argv[2]):
    e = json.loads(line)
    events[e["index"]] = e
missing = 0
acked = [l.split() for l in open(sys.argv[1])]
for index, name, enabled in acked:
    e = events.get(int(index))
    if (e is None or e["type"] != "StrategyEnabled" or e["fields"]["strategy"] != name
            or e["fields"]["enabled"] != (enabled == "1")):
        missing += 1
# every key decided once: any other event with it is a refused repeat naming the first
firsts = {}
for e in events.values():
    if e["key"] and not e["detail"].startswith("idempotency key"):
        firsts[e["key"]] = firsts.get(e["key"], 0) + 1
doubled = [k for k, n in firsts.items() if n > 1]
retried = sum(1 for e in events.values() if e["detail"].startswith("idempotency key"))
print(f"{len(acked)} acknowledged, {missing} missing; {len(firsts)} keys, {len(doubled)} "
      f"applied twice {doubled[:5]}, {retried} repeats refused", file=sys.stderr)
sys.exit(1 if missing or doubled or len(acked) < 13300 or "failover-retry-1" not in firsts
         else 0)
PY
done
for n in 1 2 3; do
  "$troika" audit verify --data-dir "$work/node$n/store" >"$work/audit$n" 2>&1 ||
    fail "audit node $n: $(cat "$work/audit$n")"
done

if [ "$failures" -ne 0 ]; then
  for n in 1 2 3; do echo "--- node$n.log (tail)"; tail -n 20 "$work/node$n.log"; done
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
