#!/usr/bin/env bash
# redisserial.sh: a lone decision on Redis, the code before coalescing
# against the working tree's, in one run. One goroutine deciding one key
# after another (bench/redisbench's BenchmarkRedisSerial; bench/cmd/
# redisloop under callgrind).
#
# It extracts OLD (default 00ce5be, the commit before coalescing) into a
# temporary tree with this tree's bench/ module copied over it (the same
# benchmark and loop, built against the old library), and measures:
#
#  1. the client's instructions per decision: redisloop under valgrind
#     --tool=callgrind (GOMAXPROCS=1, the whole Go process, every
#     goroutine; asynchronous preemption off: callgrind fails on its
#     signals), N1 and N2 decisions (the median of 3 runs each),
#     (Ir(N2) − Ir(N1)) / (N2 − N1), so start-up and connecting cancel;
#     with its heap allocations per
#     decision (runtime.MemStats);
#  2. Redis's instructions per decision: redis-server under callgrind, the
#     same two runs of redisloop, counters zeroed before and dumped after
#     each (user space only; a lone call pays one read and one write
#     system call, old and new alike);
#  3. the p50 latency in one process (BenchmarkRedisSerialAB, written
#     below): OLD's redisstore, renamed, beside this tree's, on one
#     redis-server, blocks of 200 serial decisions alternating between
#     them; AB_RUNS runs (default 20) of 20 000 decisions, each reporting
#     both p50s and their ratio; the median ratio with a distribution-free
#     95% confidence interval (see ci);
#  4. the p50 latency process against process: ROUNDS rounds (default 24), each running
#     BenchmarkRedisSerial once with the old build and once with the new,
#     the order alternating between rounds (old-new, new-old) so that a
#     drift in the machine's load weighs on both; benchstat's medians and
#     the paired ratio new/old of each round's p50, with its median and a
#     distribution-free 95% confidence interval (order statistics of the
#     ratios, the sign test's interval).
#
# Usage: bench/redisserial.sh [OLD]; env ROUNDS, AB_RUNS, N1, N2,
# SKIP_CALLGRIND=1 (0 rounds or runs skip their part).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
old=${1:-00ce5be}
rounds=${ROUNDS:-24}
abruns=${AB_RUNS:-20}
n1=${N1:-1000}
n2=${N2:-6000}
port=${PORT:-17998}
for c in valgrind callgrind_control redis-server redis-cli go; do
	command -v "$c" >/dev/null || { echo "redisserial.sh: $c not installed" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

# The two builds: old library + this bench/, this tree.
mkdir "$tmp/old"
git archive "$old" | tar -x -C "$tmp/old"
rm -rf "$tmp/old/bench"
cp -r bench "$tmp/old/bench"
for t in old new; do
	dir=$root/bench
	[ "$t" = old ] && dir=$tmp/old/bench
	(cd "$dir" && go test -c -o "$tmp/$t.test" ./redisbench && go build -o "$tmp/$t.loop" ./cmd/redisloop)
done
echo "# redisserial.sh: old = $old ($(git log -1 --format=%s "$old" | cut -c1-60)), new = $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' + working tree changes')"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ci WHAT: the median of the sorted numbers on stdin and a
# distribution-free 95% confidence interval for it: the k-th smallest
# and k-th largest of n bound the median with at least 95% confidence
# for the largest k with P(Binomial(n, 1/2) < k) <= 0.025 (the sign
# test's interval).
ci() {
	awk -v what="$1" '{r[NR] = $1} END {
	n = NR
	med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
	k = 0; c = 0; p = 0.5 ^ n
	for (i = 0; i <= n; i++) { c += p; if (c > 0.025) break; k = i + 1; p = p * (n - i) / (i + 1) }
	if (k < 1) k = 1
	printf "%s, median of %d: %.3f, 95%% CI [%.3f, %.3f] (order statistics %d and %d)\n", what, n, med, r[k], r[n + 1 - k], k, n + 1 - k
}'
}

# ir FILE: the total instructions of a callgrind output file.
ir() { awk '/^summary:|^totals:/ {print $2; exit}' "$1"; }

# clientir LOOP N: the instructions of LOOP making N decisions under
# callgrind. valgrind 3.19 cannot decode RDTSCP, which the Go runtime
# runs in a contended lock (runtime.cputicks), hence cpu.rdtscp=off; a
# run that dies anyway is retried.
clientir() {
	local try
	for try in 1 2 3 4 5; do
		if GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file="$tmp/c.out" \
			"$1" "127.0.0.1:$port" "$2" >/dev/null 2>"$tmp/vg.err"; then
			ir "$tmp/c.out"
			return
		fi
	done
	cat "$tmp/vg.err" >&2
	exit 1
}

if [ "${SKIP_CALLGRIND:-}" != 1 ]; then
	echo
	echo "## Instructions per serial decision (callgrind; N1=$n1, N2=$n2 decisions over 2000 warmed keys)"
	echo
	echo "| build | client instructions | client allocs, bytes | Redis instructions |"
	echo "|---|--:|--:|--:|"
	redis-server --port "$port" --save "" --appendonly no --logfile /dev/null --daemonize yes >/dev/null
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	declare -A client allocs
	for t in old new; do
		# Each build on its own data: the code before stored window
		# counters as text, and reads the binary ones of today as foreign.
		redis-cli -p "$port" flushall >/dev/null
		"$tmp/$t.loop" "127.0.0.1:$port" 0 >/dev/null # keys and script in place
		# the median of 3 runs each: the Go runtime's background work
		# (GC, timers) moves a run by a few percent
		for n in "$n1" "$n2"; do
			client[$t.$n]=$(for _ in 1 2 3; do clientir "$tmp/$t.loop" "$n"; done | sort -n | sed -n 2p)
		done
		# allocations outside valgrind, over more decisions
		allocs[$t]=$("$tmp/$t.loop" "127.0.0.1:$port" 20000 | awk '{print $2 ", " $4}')
	done
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	sleep 0.5
	valgrind --tool=callgrind --callgrind-out-file="$tmp/s.%p" \
		redis-server --port "$port" --save "" --appendonly no --logfile /dev/null >/dev/null 2>&1 &
	spid=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
	declare -A server
	for t in old new; do
		redis-cli -p "$port" flushall >/dev/null
		"$tmp/$t.loop" "127.0.0.1:$port" 0 >/dev/null
		for n in "$n1" "$n2"; do
			callgrind_control -z "$spid" >/dev/null 2>&1
			"$tmp/$t.loop" "127.0.0.1:$port" "$n" >/dev/null
			callgrind_control -d "$spid" >/dev/null 2>&1
			f=$(ls -t "$tmp"/s.* | head -1) # the dump just written
			server[$t.$n]=$(ir "$f")
			rm -f "$f"
		done
	done
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait "$spid" || true
	for t in old new; do
		awk -v t="$t" -v c1="${client[$t.$n1]}" -v c2="${client[$t.$n2]}" -v s1="${server[$t.$n1]}" -v s2="${server[$t.$n2]}" \
			-v a="${allocs[$t]}" -v n1="$n1" -v n2="$n2" \
			'BEGIN { printf "| %s | %.0f | %s | %.0f |\n", t, (c2 - c1) / (n2 - n1), a, (s2 - s1) / (n2 - n1) }'
	done
fi

if [ "$abruns" -gt 0 ]; then
# 3. In one process: the old store (OLD's redisstore, renamed
# oldredisstore, its scheme registration removed) and the new one side by
# side on one redis-server, blocks of 200 serial decisions alternating
# between them, so that both see the same moments of the machine.
ab=$tmp/ab
mkdir "$ab" "$ab/oldredisstore"
git ls-files -co --exclude-standard | tar -T - -c | tar -x -C "$ab"
git archive "$old" redisstore | tar -x -C "$ab/oldredisstore" --strip-components=1
rm -f "$ab"/oldredisstore/*_test.go
sed -i 's/^package redisstore$/package oldredisstore/' "$ab"/oldredisstore/*.go
perl -0pi -e 's/\nfunc init\(\) \{\n.*?\n\}\n//s; s/\nvar _ floodgate\.Store = \(\*Store\)\(nil\)\n//' "$ab/oldredisstore/open.go"
echo 'var _ *slog.Logger' >>"$ab/oldredisstore/open.go"
cat >"$ab/bench/redisbench/serialab_test.go" <<'GO'
package redisbench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/oldredisstore"
	"github.com/floodgate-go/floodgate/redisstore"
)

// BenchmarkRedisSerialAB is BenchmarkRedisSerial for the old and the new
// store in one process, on one redis-server: blocks of 200 decisions, the
// two stores in turn (the order swapped every other pair).
func BenchmarkRedisSerialAB(b *testing.B) {
	r := storetest.StartRedis(b)
	type allowN func(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error)
	ns, err := redisstore.Open("redis://" + r.Addr() + "?prefix=bench:abn:&timeout=1s")
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	olds, err := oldredisstore.Open("redis://" + r.Addr() + "?prefix=bench:abo:&timeout=1s")
	if err != nil {
		b.Fatal(err)
	}
	defer olds.Close()
	stores := [2]allowN{olds.AllowN, ns.AllowN}
	l := limit.PerHour(limit.MaxCount)
	ctx := context.Background()
	for _, s := range stores {
		for _, k := range keys {
			if d, err := s(ctx, k, 1, l); err != nil || !d.Allowed {
				b.Fatalf("warm-up: AllowN = %+v, %v; want allowed", d, err)
			}
		}
	}
	const block = 200
	var lats [2][]time.Duration
	i := 0
	b.ResetTimer()
	for b.Loop() {
		w := i / block % 2
		if i/(2*block)%2 == 1 {
			w = 1 - w
		}
		t0 := time.Now()
		d, err := stores[w](ctx, keys[i%numKeys], 1, l)
		lats[w] = append(lats[w], time.Since(t0))
		if err != nil || !d.Allowed {
			b.Fatalf("AllowN = %+v, %v; want allowed", d, err)
		}
		i++
	}
	var p50 [2]float64
	for w := range lats {
		if len(lats[w]) == 0 {
			return
		}
		slices.Sort(lats[w])
		p50[w] = float64(lats[w][len(lats[w])/2])
	}
	b.ReportMetric(p50[0], "p50-old-ns")
	b.ReportMetric(p50[1], "p50-new-ns")
	b.ReportMetric(p50[1]/p50[0], "p50-new/old")
}
GO
(cd "$ab/bench" && go test -c -o "$tmp/ab.test" ./redisbench)
echo
echo "## p50 of a serial decision in one process: BenchmarkRedisSerialAB, $abruns runs of 20 000 decisions, old and new in blocks of 200"
echo
(cd bench/redisbench && "$tmp/ab.test" -test.run '^$' -test.bench 'BenchmarkRedisSerialAB$' -test.benchtime 20000x -test.count "$abruns") |
	tee "$tmp/ab.txt" | grep '^Benchmark'
echo
awk '/^Benchmark/ {for (i = 1; i < NF; i++) if ($(i+1) == "p50-new/old") print $i}' "$tmp/ab.txt" | sort -g | ci "p50 new/old within each run"
(cd bench && go tool benchstat "ab=$tmp/ab.txt")
fi

# 4. Process against process.
[ "$rounds" -gt 0 ] || exit 0
echo
echo "## p50 of a serial decision: BenchmarkRedisSerial, $rounds rounds, old and new alternating"
echo
: >"$tmp/old.txt"
: >"$tmp/new.txt"
for r in $(seq "$rounds"); do
	order="old new"
	[ $((r % 2)) = 0 ] && order="new old"
	for t in $order; do
		(cd bench/redisbench && "$tmp/$t.test" -test.run '^$' -test.bench 'BenchmarkRedisSerial$' -test.count 1 -test.benchmem) |
			tee -a "$tmp/raw.$t" | grep -E '^(goos|goarch|pkg|cpu|Benchmark)' >>"$tmp/$t.txt"
		grep '^Benchmark' "$tmp/raw.$t" | tail -1 | awk -v r="$r" -v t="$t" '{for (i = 1; i < NF; i++) if ($(i+1) == "p50-ns") print r, t, $i}' >>"$tmp/p50.txt"
	done
done
(cd bench && go tool benchstat "old=$tmp/old.txt" "new=$tmp/new.txt")
echo
echo "Per round, new p50 / old p50 (paired):"
awk '{p[$1, $2] = $3; if ($1 > n) n = $1} END {for (r = 1; r <= n; r++) printf "%d %.0f %.0f %.4f\n", r, p[r, "old"], p[r, "new"], p[r, "new"] / p[r, "old"]}' "$tmp/p50.txt" |
	tee "$tmp/ratios.txt" | awk '{printf "  round %2d: old %6.1f µs, new %6.1f µs, ratio %.3f\n", $1, $2 / 1000, $3 / 1000, $4}'
echo
cut -d' ' -f4 "$tmp/ratios.txt" | sort -g | ci "paired ratio new/old of the p50s of each round"
