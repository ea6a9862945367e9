#!/usr/bin/env bash
# callgrind.sh: instructions per engine Allow call, independent of the
# machine's speed and noise. Builds bench/cmd/allowloop, runs it under
# valgrind --tool=callgrind with N1 and N2 calls, and prints
# (Ir(N2) - Ir(N1)) / (N2 - N1) so that start-up cost cancels.
# N1 and N2 stay below the loop's unreachable counts (2^29−1 and 10^9): it
# runs on a frozen manual clock, so the limit must hold every call.
set -euo pipefail
cd "$(dirname "$0")"
N1=${N1:-200000}
N2=${N2:-1000000}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/allowloop" ./cmd/allowloop

ir() { # args: allowloop args...; prints total instructions
	local out="$tmp/cg.out"
	GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file="$out" "$tmp/allowloop" "$@" >/dev/null 2>"$tmp/vg.err" ||
		{ cat "$tmp/vg.err" >&2; exit 1; }
	awk '/^summary:|^totals:/ {print $2; exit}' "$out"
}

printf '| case | Ir(N1=%d) | Ir(N2=%d) | instructions per call |\n|---|--:|--:|--:|\n' "$N1" "$N2"
for c in "floor-array:-floor" \
	"sliding allow:-strategy sliding" "fixed allow:-strategy fixed" "gcra allow:-strategy gcra" \
	"sliding deny:-strategy sliding -deny" "fixed deny:-strategy fixed -deny" \
	"sliding allow, large count:-strategy sliding -large" "fixed allow, large count:-strategy fixed -large" \
	"gcra allow, large count:-strategy gcra -large" "sliding deny, large count:-strategy sliding -large -deny"; do
	name=${c%%:*}
	read -r -a args <<<"${c#*:}"
	a=$(ir "${args[@]}" "$N1")
	b=$(ir "${args[@]}" "$N2")
	awk -v n="$name" -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" \
		'BEGIN { printf "| %s | %d | %d | %.1f |\n", n, a, b, (b - a) / (n2 - n1) }'
done
