#!/usr/bin/env bash
# The debug API and leadership transfer on three real trading `troika node` processes
# (`troika cluster up --trading --debug-api`), driven by `troika crash` and `troika transfer`:
#   every node registers its journal actor and its strategy, the leader also its execution
#   actor, risk monitor and feed; a wrong name is refused with that list;
#   `crash execution` on the leader: the `active` supervisor restarts it (registered again), the
#   status's "restarts" and /metrics' troika_actor_restarts_total go up by one;
#   `crash strategy.ema_cross` on a follower and `crash journal` on the leader: the same, and the
#   leader's actors are started again by the restarted journal actor;
#   `transfer --to N`: node N leads with the leader's actors, the old leader keeps only its
#   journal actor and strategy, and a write to it is refused naming the new leader;
#   node.debug_api is a strict boolean, off by default: a node without it refuses `crash`.
# Usage: cli_debug_api.sh TROIKA_BINARY
set -u -o pipefail
troika="$1"
work="$(mktemp -d /tmp/troika-debug-api-XXXXXX)"
solo_pid=""
cleanup() {
  "$troika" cluster down --dir "$work/cluster" >/dev/null 2>&1
  [ -n "$solo_pid" ] && kill -KILL "$solo_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Ten bars a minute apart, replayed in real time: the feed stays up for minutes.
{
  echo "time,open,high,low,close,volume"
  for i in $(seq 0 9); do echo "$((1640995200 + 60 * i)),30000,30010,29990,30000,1"; done
} >"$work/bars.csv"
cat >"$work/trading.yaml" <<YAML
trading:
  data: $work/bars.csv
  speed: 1
YAML
base=$(python3 "$(dirname "$0")/free_base_port.py")
[ -n "$base" ] || { echo "FAIL: no free ports" >&2; exit 1; }
"$troika" cluster up --dir "$work/cluster" --base-port "$base" --trading "$work/trading.yaml" \
  --debug-api --no-restart >"$work/up.log" 2>&1 ||
  { echo "FAIL: cluster up" >&2; cat "$work/up.log"; exit 1; }
cfg() { echo "$work/cluster/node$1.yaml"; }

# field N KEY: a key of node N's status ("" if it does not answer)
field() {
  "$troika" status --config "$(cfg "$1")" --json 2>/dev/null |
    python3 -c "import json,sys; v=json.load(sys.stdin).get('$2'); print('' if v is None else str(v).lower())" 2>/dev/null
}
# actors N: the names registered on node N, sorted, space-separated (from the refusal of a
# name no node registers)
actors() {
  "$troika" crash no-such-actor --config "$(cfg "$1")" --json 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin).get("actors", [])))' 2>/dev/null
}
# wait_for DESCRIPTION COMMAND...: up to 10 s for COMMAND to succeed
wait_for() {
  local what="$1"
  shift
  for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
  fail "$what"
  return 1
}
leading() { [ "$(field "$1" leading)" = "true" ]; }
has_actors() { [ "$(actors "$1")" = "$2" ]; }
restarts_are() { [ "$(field "$1" restarts)" = "$2" ]; }
metric() { # metric N NAME: the sample's value on node N's /metrics
  curl -sf "http://127.0.0.1:$((base + 200 + $1))/metrics" | awk -v m="$2" '$1 ~ "^"m"[{]" {print $2}'
}

leader=""
for _ in $(seq 100); do
  for n in 1 2 3; do leading "$n" && leader=$n && break; done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "FAIL: no leader" >&2; exit 1; }
follower=$((leader % 3 + 1))
other=$((follower % 3 + 1))
leader_set="execution feed journal risk_monitor strategy.ema_cross"
follower_set="journal strategy.ema_cross"
wait_for "node $leader registers the leader's actors (has: $(actors "$leader"))" \
  has_actors "$leader" "$leader_set"
wait_for "node $follower registers its journal and strategy (has: $(actors "$follower"))" \
  has_actors "$follower" "$follower_set"
"$troika" crash no-such-actor --config "$(cfg "$leader")" 2>"$work/err.txt" &&
  fail "crash of an unknown actor succeeded"
grep -q "'no-such-actor' is not a registered actor.*registered: execution, feed, journal" \
  "$work/err.txt" || fail "the refusal does not list the names: $(cat "$work/err.txt")"

# crash the execution actor on the leader: `active` restarts it
r0=$(field "$leader" restarts)
[ -n "$r0" ] || fail "the status has no restarts"
out=$("$troika" crash execution --config "$(cfg "$leader")" 2>&1) || fail "crash execution: $out"
echo "$out"
wait_for "node $leader restarts: $r0 + 1 (has $(field "$leader" restarts))" \
  restarts_are "$leader" $((r0 + 1))
wait_for "execution registered again on node $leader" has_actors "$leader" "$leader_set"
[ "$(metric "$leader" troika_actor_restarts_total)" = $((r0 + 1)) ] ||
  fail "/metrics: troika_actor_restarts_total $(metric "$leader" troika_actor_restarts_total)"
grep -q '"msg":"restarting child","supervisor":"active","child":"execution"' \
  "$work/cluster/node$leader/node.log" || fail "no restart of execution by active in the log"

# crash a follower's strategy, then the leader's journal actor
f0=$(field "$follower" restarts)
"$troika" crash strategy.ema_cross --config "$(cfg "$follower")" >/dev/null ||
  fail "crash strategy.ema_cross"
wait_for "node $follower restarts: $f0 + 1" restarts_are "$follower" $((f0 + 1))
wait_for "the strategy registered again on node $follower" has_actors "$follower" "$follower_set"
"$troika" crash journal --config "$(cfg "$leader")" >/dev/null || fail "crash journal"
wait_for "node $leader restarts: $r0 + 2" restarts_are "$leader" $((r0 + 2))
wait_for "node $leader's actors started again by its new journal actor (has: $(actors "$leader"))" \
  has_actors "$leader" "$leader_set"
leading "$leader" || fail "node $leader no longer leads after its journal actor's crash"

# hand leadership to another node
out=$("$troika" transfer --to "$other" --config "$(cfg "$leader")" 2>&1) ||
  fail "transfer --to $other: $out"
echo "$out"
echo "$out" | grep -q "node $other leads now (tcp://127.0.0.1:$((base + 100 + other)))" ||
  fail "transfer answered: $out"
wait_for "node $other leads after the transfer" leading "$other"
wait_for "node $other runs the leader's actors (has: $(actors "$other"))" \
  has_actors "$other" "$leader_set"
wait_for "node $leader keeps only its journal and strategy (has: $(actors "$leader"))" \
  has_actors "$leader" "$follower_set"
"$troika" kill-switch off --reason test --no-follow --config "$(cfg "$leader")" \
  2>"$work/err.txt" && fail "a write to the old leader succeeded"
grep -q "not_leader.*leader: tcp://127.0.0.1:$((base + 100 + other))" "$work/err.txt" ||
  fail "the old leader's refusal: $(cat "$work/err.txt")"
"$troika" transfer --no-follow --config "$(cfg "$leader")" 2>"$work/err.txt" &&
  fail "a transfer from a follower succeeded"
grep -q "not_leader" "$work/err.txt" || fail "a follower's transfer: $(cat "$work/err.txt")"

# node.debug_api: a strict boolean, off by default
sed -e 's/debug_api: true/debug_api: maybe/' "$(cfg 1)" >"$work/bad.yaml"
"$troika" node --config "$work/bad.yaml" >"$work/bad.log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "debug_api" "$work/bad.log" ||
  fail "a bad node.debug_api: exit $rc, $(cat "$work/bad.log")"
solo_base=$(python3 "$(dirname "$0")/free_base_port.py")
{
  echo "node: {id: 1, name: solo, data_dir: $work/solo, token: solo-token}"
  echo "cluster: {id: solo}"
  echo "peers:"
  echo "  - {id: 1, raft: 127.0.0.1:$((solo_base + 1)), api: tcp://127.0.0.1:$((solo_base + 101)),"
  echo "     http: http://127.0.0.1:$((solo_base + 201)), events: tcp://127.0.0.1:$((solo_base + 301))}"
  cat "$work/trading.yaml"
} >"$work/solo.yaml"
"$troika" node --config "$work/solo.yaml" >"$work/solo.log" 2>&1 &
solo_pid=$!
solo_up() { [ "$("$troika" status --config "$work/solo.yaml" --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("leading"))' 2>/dev/null)" = "True" ]; }
wait_for "the node without debug_api serves" solo_up
"$troika" crash journal --config "$work/solo.yaml" 2>"$work/err.txt" &&
  fail "crash succeeded without node.debug_api"
grep -q "forbidden: the debug API is off" "$work/err.txt" ||
  fail "without node.debug_api: $(cat "$work/err.txt")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s); node logs:" >&2
  tail -n 20 "$work"/cluster/node*/node.log >&2
  exit 1
fi
echo "PASS"
