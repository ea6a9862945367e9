#!/usr/bin/env bash
# httpcallgrind.sh: instructions per allowed request of each
# bench/httpbench column, independent of the machine's speed and noise.
# Builds bench/cmd/httploop, runs it under valgrind --tool=callgrind with
# N1 and N2 requests, and prints (Ir(N2) - Ir(N1)) / (N2 - N1) so that
# start-up cost cancels. COLUMNS overrides the columns measured.
set -euo pipefail
cd "$(dirname "$0")"
N1=${N1:-20000}
N2=${N2:-120000}
COLUMNS=${COLUMNS:-"floodgate sethvargo ulule mux floodgate-mux sethvargo-mux chi floodgate-chi sethvargo-chi gin floodgate-gin sethvargo-gin echo floodgate-echo sethvargo-echo"}
command -v valgrind >/dev/null || { echo "httpcallgrind.sh: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/httploop" ./cmd/httploop

# ir prints the total instructions of httploop "$@". valgrind 3.19 cannot
# decode RDTSCP, which the Go runtime runs in a contended lock
# (runtime.cputicks), hence cpu.rdtscp=off; a run that dies anyway is
# retried.
ir() {
	local out="$tmp/cg.out" try
	for try in 1 2 3 4 5; do
		if GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file="$out" \
			"$tmp/httploop" "$@" >/dev/null 2>"$tmp/vg.err"; then
			awk '/^summary:|^totals:/ {print $2; exit}' "$out"
			return
		fi
	done
	cat "$tmp/vg.err" >&2
	exit 1
}

printf '| column | instructions per request |\n|---|--:|\n'
for c in $COLUMNS; do
	a=$(ir "$c" "$N1")
	b=$(ir "$c" "$N2")
	awk -v n="$c" -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" \
		'BEGIN { printf "| %s | %.0f |\n", n, (b - a) / (n2 - n1) }'
done
