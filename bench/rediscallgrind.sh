#!/usr/bin/env bash
# rediscallgrind.sh: Redis's instructions per decision, independent of the
# machine's speed and noise: redis-server under valgrind --tool=callgrind,
# fed a fixed workload with redis-cli --pipe (redisstore's
# TestCallgrindWorkload writes it: 300 calls of the batch script with 18
# sliding-window decisions each, arguments as Store.batch builds them, and
# the same decisions as 5 400 calls of the INCR+PEXPIRE reference script,
# and as 5 400 lone calls of the single script, as Store.alone makes them).
# STRATEGY=gcra (or fixed-window, moving-window) makes the batch's
# decisions (batch and lone) of that strategy instead.
# Callgrind's counters are zeroed after the warm-up and dumped after the
# workload, so start-up and warm-up cancel. User-space instructions only:
# system calls (one read and write per call) are not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
for c in valgrind callgrind_control redis-server redis-cli; do
	command -v "$c" >/dev/null || { echo "rediscallgrind.sh: $c not installed" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strategy=${STRATEGY:-sliding-window}
FLOODGATE_CALLGRIND_DIR=$tmp FLOODGATE_CALLGRIND_STRATEGY=$strategy go test -count=1 -run '^TestCallgrindWorkload$' ./redisstore >/dev/null
port=${PORT:-17999}

ir() { # args: warm-up file, workload file; prints the workload's instructions
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" \
		redis-server --port "$port" --save "" --appendonly no --logfile /dev/null >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
	redis-cli -p "$port" --pipe <"$tmp/load.resp" >/dev/null
	redis-cli -p "$port" --pipe <"$tmp/$1" >/dev/null
	callgrind_control -z "$pid" >/dev/null 2>&1
	redis-cli -p "$port" --pipe <"$tmp/$2" | grep -q 'errors: 0' || { echo "rediscallgrind.sh: $2 had errors" >&2; exit 1; }
	callgrind_control -d "$pid" >/dev/null 2>&1
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait "$pid" || true
	awk '/^summary:|^totals:/ {print $2; exit}' "$tmp/cg.$pid.1"
	rm -f "$tmp"/cg.*
}

printf '| script | instructions | decisions | instructions per decision |\n|---|--:|--:|--:|\n'
for c in "batch, 18 $strategy decisions per call:warm.resp:work.resp" "INCR+PEXPIRE reference, one per call:refwarm.resp:ref.resp" \
	"lone $strategy decisions, one per call:lonewarm.resp:lone.resp"; do
	IFS=: read -r name warm work <<<"$c"
	n=$(ir "$warm" "$work")
	awk -v name="$name" -v n="$n" 'BEGIN { printf "| %s | %d | 5400 | %.0f |\n", name, n, n / 5400 }'
done
