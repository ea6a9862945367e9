#!/usr/bin/env bash
# scaling.sh: how the contended workloads scale with cores. Meant for a
# machine with at least 16 cores; it has NOT been run on the 2-core
# development machine (see RESULTS.md). Runs the parallel workloads with
# -cpu 1,2,4,8,16 (cores are varied with -cpu, never inside a benchmark),
# COUNT times, and writes results/scaling.txt with benchstat's medians,
# one column per impl and a row per workload and core count.
#
#   COUNT=10 CPUS=1,2,4,8,16 ./scaling.sh
set -euo pipefail
cd "$(dirname "$0")"
COUNT=${COUNT:-10}
CPUS=${CPUS:-1,2,4,8,16}
if (( $(nproc) < 16 )); then
	echo "scaling.sh: warning: only $(nproc) cores; -cpu values above that measure time-slicing, not scaling" >&2
fi
mkdir -p results
raw=results/scaling-raw.txt
go test -run '^$' -bench 'HotKeyParallel|ZipfParallel' -cpu "$CPUS" -count "$COUNT" -timeout 0 . | tee "$raw"
go tool benchstat -col /impl "$raw" | tee results/scaling.txt
