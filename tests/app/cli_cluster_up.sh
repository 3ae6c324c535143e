#!/usr/bin/env bash
# `troika cluster up|down|status|start-node` end to end, as an operator runs it:
#   up writes three configs (one shared random token, the ports of --base-port), starts a
#   monitor in the background and three `troika node` processes that stay up, each with its
#   pid file; status answers for all three with equal state hashes; a second up is refused;
#   a node killed with SIGKILL is restarted by the monitor (a new pid in its pid file);
#   down stops everything (exit 0), removes the pid files, and a second down is a no-op;
#   up again reuses the configs; with --no-restart a killed node stays down, status says so
#   (exit 1) and start-node brings it back; a partial set of configs is refused.
# Usage: cli_cluster_up.sh TROIKA_BINARY
set -u -o pipefail
troika="$1"
work="$(mktemp -d /tmp/troika-cu-XXXXXX)"
dir="$work/c"
trap '"$troika" cluster down --dir "$dir" >/dev/null 2>&1; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# A live process, not a zombie (an exited daemon waits for init to reap it).
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
pid_of() { cat "$dir/$1.pid" 2>/dev/null; }
# Wait up to $1 tenths of a second for the command after it to succeed.
wait_for() {
  local n="$1"; shift
  for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
new_pid() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && [ "$p" != "$2" ] && alive "$p"; }
gone() { ! alive "$1"; }
status_ok() { "$troika" cluster status --dir "$dir" >/dev/null 2>&1; }

"$troika" node --help >/dev/null 2>&1 || { echo "FAIL: troika node --help: no node to run" >&2; exit 1; }
"$troika" cluster --help | grep -q "usage: troika cluster up" || fail "cluster --help"
"$troika" cluster up >/dev/null 2>&1
[ $? -eq 2 ] || fail "up without --dir: want exit 2"
"$troika" cluster start-node --dir "$dir" --node 4 >/dev/null 2>&1
[ $? -eq 2 ] || fail "start-node --node 4: want exit 2"

# A base port with all twelve ports (raft, api, http, events of three nodes) free, below the
# ephemeral range (32768 and up) so that no outgoing connection takes one of them later.
base="$(python3 - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 32000)
    try:
        for off in range(1, 4):
            for kind in (0, 100, 200, 300):
                s = socket.socket(); s.bind(("127.0.0.1", base + kind + off)); s.close()
        print(base); break
    except OSError:
        pass
PY
)"
[ -n "$base" ] || { echo "FAIL: no free base port" >&2; exit 1; }

out="$("$troika" cluster up --dir "$dir" --base-port "$base" 2>&1)"
rc=$?
[ $rc -eq 0 ] || fail "up: exit $rc: $out"
grep -q "api tcp://127.0.0.1:$((base + 101))" <<<"$out" || fail "up does not print node 1's api: $out"
monitor="$(cat "$dir/cluster.pid" 2>/dev/null)"
alive "$monitor" || fail "no live monitor in cluster.pid ($monitor)"
declare -a pids
for n in 1 2 3; do
  [ -s "$dir/node$n.yaml" ] || fail "no node$n.yaml"
  grep -q "raft: 127.0.0.1:$((base + n))$" "$dir/node$n.yaml" || fail "node$n.yaml: raft port"
  pids[$n]="$(pid_of "node$n")"
  alive "${pids[$n]}" || fail "node $n: no live process in node$n.pid (${pids[$n]})"
  tr '\0' ' ' <"/proc/${pids[$n]}/cmdline" 2>/dev/null | grep -q "node --config $dir/node$n.yaml" ||
    fail "node $n: pid ${pids[$n]} is not troika node"
done
tokens="$(grep -h '^  token:' "$dir"/node*.yaml | awk '{print $2}' | sort -u)"
[ "$(wc -l <<<"$tokens")" -eq 1 ] && [ ${#tokens} -eq 32 ] || fail "not one 32-hex token: $tokens"
sleep 2
for n in 1 2 3; do
  alive "${pids[$n]}" && [ "$(pid_of "node$n")" = "${pids[$n]}" ] ||
    fail "node $n did not stay up for 2 s: see $(tail -5 "$dir/node$n/node.log")"
done
wait_for 150 status_ok || fail "status: $("$troika" cluster status --dir "$dir" 2>&1)"
out="$("$troika" cluster status --dir "$dir" --json 2>&1)"
python3 - "$out" <<'PY' || fail "status --json: $out"
import json, sys
d = json.loads(sys.argv[1])
assert d["agree"] is True and len(d["nodes"]) == 3
assert all(n["answered"] and n["alive"] for n in d["nodes"])
assert len({n["state_hash"] for n in d["nodes"]}) == 1
assert sorted(n["role"] for n in d["nodes"]) == ["follower", "follower", "leader"]
PY
out="$("$troika" cluster up --dir "$dir" --base-port "$base" 2>&1)"
[ $? -eq 1 ] && grep -q "already runs" <<<"$out" || fail "a second up: $out"

# SIGKILL a node: the monitor restarts it.
kill -KILL "${pids[2]}"
wait_for 50 new_pid node2 "${pids[2]}" || fail "node 2 was not restarted within 5 s"
grep -q '"node killed","node":2' "$dir/cluster.log" || fail "cluster.log lacks the kill"
grep -q '"node restarted","node":2' "$dir/cluster.log" || fail "cluster.log lacks the restart"
pids[2]="$(pid_of node2)"

out="$("$troika" cluster down --dir "$dir" 2>&1)"
rc=$?
[ $rc -eq 0 ] || fail "down: exit $rc: $out"
for p in "$monitor" "${pids[1]}" "${pids[2]}" "${pids[3]}"; do
  gone "$p" || fail "pid $p still runs after down"
done
ls "$dir"/*.pid >/dev/null 2>&1 && fail "pid files left after down: $(ls "$dir"/*.pid)"
out="$("$troika" cluster down --dir "$dir" 2>&1)"
[ $? -eq 0 ] && grep -q "no cluster runs" <<<"$out" || fail "a second down: $out"

# --no-restart on the same directory: the configs are reused, a killed node stays down.
out="$("$troika" cluster up --dir "$dir" --no-restart 2>&1)"
[ $? -eq 0 ] || fail "up --no-restart: $out"
again="$(grep -h '^  token:' "$dir"/node*.yaml | awk '{print $2}' | sort -u)"
[ "$again" = "$tokens" ] || fail "the configs were rewritten: token $again, was $tokens"
grep -q "raft: 127.0.0.1:$((base + 1))$" "$dir/node1.yaml" || fail "the ports changed"
victim="$(pid_of node3)"
alive "$victim" || fail "node 3 is not running under --no-restart"
kill -KILL "$victim"
wait_for 30 gone "$victim" || fail "node 3 survived SIGKILL"
sleep 1.5
[ -e "$dir/node3.pid" ] && fail "node3.pid still there: $(cat "$dir/node3.pid")"
pgrep -f "node --config $dir/node3.yaml" >/dev/null && fail "node 3 was restarted under --no-restart"
out="$("$troika" cluster status --dir "$dir" 2>&1)"
[ $? -eq 1 ] && grep -q "^3 .*down" <<<"$out" || fail "status with node 3 down: $out"
out="$("$troika" cluster start-node --dir "$dir" --node 3 2>&1)"
[ $? -eq 0 ] || fail "start-node: $out"
alive "$(pid_of node3)" || fail "start-node: no live node 3"
monitor="$(cat "$dir/cluster.pid" 2>/dev/null)"
last=("$(pid_of node1)" "$(pid_of node2)" "$(pid_of node3)")
"$troika" cluster down --dir "$dir" >/dev/null 2>&1 || fail "down after --no-restart"
for p in "$monitor" "${last[@]}"; do gone "$p" || fail "pid $p still runs after down"; done

# A partial set of configs is refused.
mkdir -p "$work/partial"
cp "$dir/node1.yaml" "$work/partial/"
out="$("$troika" cluster up --dir "$work/partial" 2>&1)"
[ $? -eq 1 ] && grep -q "but not all" <<<"$out" || fail "partial configs: $out"

[ $failures -eq 0 ] && echo "cli_cluster_up: all checks passed"
exit $((failures > 0))
