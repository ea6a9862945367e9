#!/usr/bin/env bash
# httpcost.sh NAME: the middleware cost of every router path of
# bench/httpbench, ready to quote. Runs BenchmarkAllowed COUNT times
# (default 6) as separate passes of one compiled test binary, so that a
# burst of load lands on every column alike, and writes
# results/issue20-http-NAME.txt: the machine, the raw runs, benchstat's
# medians and, from cmd/httpratio, each path's middleware cost as a share
# of sethvargo's on the same router ("path: ratio", goal <= 0.6) with the
# middleware's B/op and allocs/op.
#
#   ./httpcost.sh final                      # or: make -C bench httpcost NAME=final
#   COUNT=10 BENCHTIME=2s ./httpcost.sh quiet
#   BASE=/path/to/other/checkout ./httpcost.sh ab   # interleaved A/B: base, new, base, ...
#   CALLGRIND=1 ./httpcost.sh final          # adds instructions per request
#   CPU=1 ./httpcost.sh final                # adds the serving thread's CPU time (cmd/httpcpu)
#
# BASE: a checkout (its repository root) whose bench/httpbench runs
# before each pass of this one; benchstat then compares base with new.
# BENCH: the -bench regexp (default BenchmarkAllowed$). CPU=1 also
# measures every column by the CPU time of the thread that serves it
# (cmd/httpcpu, CPU_N requests per column and pass, default 500000),
# which the load of other processes moves far less than the wall clock:
# the numbers to trust on a shared machine. With BASE, cmd/httpcpu is
# built into the base checkout through an overlay, so the base needs no
# copy of it.
set -euo pipefail
cd "$(dirname "$0")"
NAME=${1:?usage: httpcost.sh NAME}
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-'BenchmarkAllowed$'}
out=results/issue20-http-$NAME.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p results

go test -c -o "$tmp/new.test" ./httpbench
go build -o "$tmp/benchstat" golang.org/x/perf/cmd/benchstat
if [[ "${CPU:-0}" == 1 ]]; then
	go build -o "$tmp/new.cpu" ./cmd/httpcpu
fi
if [[ -n "${BASE:-}" ]]; then
	(cd "$BASE/bench" && go test -c -o "$tmp/base.test" ./httpbench)
	if [[ "${CPU:-0}" == 1 ]]; then
		printf '{"Replace": {"%s": "%s"}}\n' "$(cd "$BASE/bench" && pwd)/cmd/httpcpu/main.go" "$PWD/cmd/httpcpu/main.go" >"$tmp/overlay.json"
		(cd "$BASE/bench" && go build -overlay "$tmp/overlay.json" -o "$tmp/base.cpu" ./cmd/httpcpu)
	fi
fi
pass() { # binary, output file
	"$1" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.count 1 -test.benchtime "$BENCHTIME" >>"$2"
}
for i in $(seq "$COUNT"); do
	echo "httpcost.sh: pass $i of $COUNT" >&2
	if [[ -n "${BASE:-}" ]]; then
		pass "$tmp/base.test" "$tmp/base.txt"
	fi
	pass "$tmp/new.test" "$tmp/new.txt"
	if [[ "${CPU:-0}" == 1 ]]; then
		if [[ -n "${BASE:-}" ]]; then
			"$tmp/base.cpu" -n "${CPU_N:-500000}" -rounds 1 >>"$tmp/base.cpu.txt"
		fi
		"$tmp/new.cpu" -n "${CPU_N:-500000}" -rounds 1 >>"$tmp/new.cpu.txt"
	fi
done

cg=""
if [[ "${CALLGRIND:-0}" == 1 ]]; then
	cg=$(./httpcallgrind.sh)
fi

{
	echo "# bench/httpbench, one allowed request: bench/httpcost.sh $NAME"
	echo "#"
	echo "# Date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- .. 2>/dev/null || echo ' (with uncommitted changes)')"
	echo "# Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# Go: $(go version | cut -d' ' -f3-); COUNT=$COUNT passes, -benchtime $BENCHTIME${BASE:+; base: $BASE}"
	echo "# A middleware's cost on a router is its column minus the bare router's."
	echo
	echo "## Middleware cost as a share of sethvargo's (cmd/httpratio)"
	echo
	go run ./cmd/httpratio "$tmp/new.txt"
	if [[ "${CPU:-0}" == 1 ]]; then
		go run ./cmd/httpratio "$tmp/new.cpu.txt"
	fi
	if [[ -n "$cg" ]]; then
		echo "$cg" | go run ./cmd/httpratio
		echo "## Instructions per request (httpcallgrind.sh)"
		echo
		echo "$cg"
		echo
	fi
	echo "## benchstat"
	echo
	if [[ -n "${BASE:-}" ]]; then
		(cd "$tmp" && ./benchstat base.txt new.txt)
		if [[ "${CPU:-0}" == 1 ]]; then
			echo
			(cd "$tmp" && ./benchstat base.cpu.txt new.cpu.txt)
		fi
	else
		(cd "$tmp" && ./benchstat new.txt)
		if [[ "${CPU:-0}" == 1 ]]; then
			echo
			(cd "$tmp" && ./benchstat new.cpu.txt)
		fi
	fi
	echo
	if [[ -n "${BASE:-}" ]]; then
		echo "## base: share of sethvargo's"
		echo
		go run ./cmd/httpratio "$tmp/base.txt"
		if [[ "${CPU:-0}" == 1 ]]; then
			go run ./cmd/httpratio "$tmp/base.cpu.txt"
		fi
		echo "## raw: base"
		echo
		cat "$tmp/base.txt"
		if [[ "${CPU:-0}" == 1 ]]; then
			cat "$tmp/base.cpu.txt"
		fi
		echo
	fi
	echo "## raw"
	echo
	cat "$tmp/new.txt"
	if [[ "${CPU:-0}" == 1 ]]; then
		cat "$tmp/new.cpu.txt"
	fi
} >"$out"
sed -n '/^## Middleware cost/,/^## benchstat/p' "$out" | sed '$d'
echo "httpcost.sh: wrote bench/$out" >&2
