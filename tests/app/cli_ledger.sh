#!/usr/bin/env bash
# End to end through the troika binary, as an auditor runs it (issue 4's acceptance):
#   gen-events --count 100000, then audit verify exits 0;
#   one stored event's value changed with RocksDB's ldb tool: audit verify exits 1 naming it;
#   garbage over the database's files: a clear error and a non-zero exit, never a crash;
#   replay --until (index, time, --json) and export (csv, jsonl) on the same store;
#   --help on every subcommand, and bad options refused with exit 2.
# Usage: cli_ledger.sh TROIKA_BINARY
set -u -o pipefail
troika="$1"
work="$(mktemp -d /tmp/troika-cli-XXXXXX)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# A crash shows as a signal exit (>= 128) or a sanitizer report: neither is ever acceptable.
no_crash() { # rc output
  if [ "$1" -ge 128 ] || grep -q -e "Sanitizer" -e "runtime error" <<<"$2"; then
    fail "crashed (exit $1): $2"
  fi
}

store="$work/store"
out="$("$troika" gen-events --data-dir "$store" --count 100000 --seed 4 2>&1)"
rc=$?
[ $rc -eq 0 ] || fail "gen-events exit $rc: $out"
grep -q "indices 1..100000" <<<"$out" || fail "gen-events output: $out"
gen_hash="$(sed -n 's/^state hash: //p' <<<"$out")"

out="$("$troika" audit verify --data-dir "$store" 2>&1)"
rc=$?
[ $rc -eq 0 ] || fail "audit verify on a clean store: exit $rc: $out"
grep -q "^events checked: 100000$" <<<"$out" || fail "events checked: $out"
grep -q "^final index: 100000$" <<<"$out" || fail "final index: $out"
grep -q "^state hash: $gen_hash$" <<<"$out" || fail "audit state hash differs from gen-events': $out"

# replay and export before the tampering
out="$("$troika" replay --data-dir "$store" --until 5000 2>&1)" || fail "replay --until 5000: $out"
grep -q "^index 5000 at " <<<"$out" || fail "replay index: $out"
json="$("$troika" replay --data-dir "$store" --until 2026-01-01T00:10:00Z --json 2>&1)" ||
  fail "replay --until TIME --json: $json"
python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["index"]==2400, d["index"]' \
  <<<"$json" || fail "replay --json is not JSON at index 2400 (10 min at 4 events/s)"
csv="$("$troika" export --data-dir "$store" --format csv --type OrderFilled --to 3000 2>&1)" ||
  fail "export csv: $csv"
head -1 <<<"$csv" | grep -q "^index,time,type,result,rule,detail,chain_hash,key,order,fill_id,qty" ||
  fail "export csv header: $(head -1 <<<"$csv")"
[ "$(tail -n +2 <<<"$csv" | grep -vc ',OrderFilled,')" -eq 0 ] || fail "export --type let others in"
jsonl="$("$troika" export --data-dir "$store" --format jsonl --from 10 --to 19 2>&1)" ||
  fail "export jsonl: $jsonl"
[ "$(wc -l <<<"$jsonl")" -eq 10 ] || fail "export --from 10 --to 19 gave $(wc -l <<<"$jsonl") lines"
python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <<<"$jsonl" || fail "jsonl: $jsonl"

# tamper: bump the last byte of event 54321's ts_ns (a valid event, a different value)
key=0x000000000000D431
value="$(ldb --db="$store" --column_family=events --key_hex --value_hex get "$key" 2>&1)" ||
  fail "ldb get: $value"
new="$(python3 - "$value" <<'PY'
import sys
raw = bytes.fromhex(sys.argv[1][2:])
event, chain = raw[:-32], raw[-32:]
at = event.index(b"\xa5ts_ns\xcf") + 7 + 7   # the last of the 8 bytes after the 0xcf marker
event = event[:at] + bytes([(event[at] + 1) % 256]) + event[at + 1:]
print("0x" + (event + chain).hex().upper())
PY
)"
ldb --db="$store" --column_family=events --key_hex --value_hex put "$key" "$new" >/dev/null ||
  fail "ldb put"
out="$("$troika" audit verify --data-dir "$store" 2>&1)"
rc=$?
no_crash $rc "$out"
[ $rc -eq 1 ] || fail "audit verify after tampering: exit $rc (want 1): $out"
grep -q "^first bad index: 54321$" <<<"$out" || fail "the bad index is not named: $out"
grep -q "index 54321: the chain hash differs" <<<"$out" || fail "what differs: $out"

# damage: garbage over the middle of the write-ahead log (where a store this size keeps its
# events), then over the MANIFEST too (table files are damaged by tests/storage)
shopt -s nullglob
damaged="$work/damaged"
"$troika" gen-events --data-dir "$damaged" --count 20000 --seed 9 >/dev/null || fail "gen 20000"
for pattern in "$damaged/*.log $damaged/*.sst" "$damaged/MANIFEST-*"; do
  files=()
  # shellcheck disable=SC2206 # the patterns are globs, and mktemp paths hold no spaces
  files=($pattern)
  [ ${#files[@]} -gt 0 ] || fail "no file to damage: $pattern"
  for f in "${files[@]}"; do
    size=$(stat -c %s "$f")
    head -c 4096 /dev/urandom | dd of="$f" bs=1 seek=$((size / 3)) conv=notrunc status=none
  done
  out="$("$troika" audit verify --data-dir "$damaged" 2>&1)"
  rc=$?
  no_crash $rc "$out"
  [ $rc -eq 1 ] || fail "audit verify, $pattern damaged: exit $rc (want 1): $out"
  grep -q "cannot open the store: $damaged: .*Corruption" <<<"$out" ||
    fail "no clear error with $pattern damaged: $out"
  echo "damaged ${pattern//$damaged\//}: $out"
done

# a directory that is not a store, and a missing one
mkdir -p "$work/empty"
out="$("$troika" audit verify --data-dir "$work/empty" 2>&1)"
rc=$?
no_crash $rc "$out"
[ $rc -eq 1 ] && grep -q "cannot open the store: $work/empty" <<<"$out" || fail "empty dir: $out"
echo "empty directory: $out"
out="$("$troika" audit verify --data-dir "$work/nowhere" 2>&1)"
rc=$?
[ $rc -eq 1 ] && grep -q "cannot open the store: $work/nowhere" <<<"$out" || fail "missing dir: $out"

# usage
for cmd in "gen-events" "audit verify" "replay" "export" "demo"; do
  # shellcheck disable=SC2086 # the command has two words
  "$troika" $cmd --help | grep -q "usage" || fail "$cmd --help"
done
"$troika" replay --data-dir "$store" --until yesterday >/dev/null 2>&1
[ $? -eq 2 ] || fail "replay --until yesterday must be a usage error"
"$troika" export --data-dir "$store" --format xml >/dev/null 2>&1
[ $? -eq 2 ] || fail "export --format xml must be a usage error"
"$troika" gen-events --data-dir "$store" --count -5 --seed 1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "gen-events --count -5 must be a usage error"

[ $failures -eq 0 ] && echo "cli_ledger: all checks passed"
exit $((failures > 0))
