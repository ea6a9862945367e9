#!/usr/bin/env bash
# Bounded fuzzing of every target, as .ci/run does.
#
# The budgets are execution counts (-fuzztime Nx), about 20 s each on the
# 2-core development machine (FuzzSnapshotFile's are fewer: each writes
# and fsyncs snapshot files, 10 to 100 a second), not durations: with a duration, Go 1.26's
# fuzz coordinator can report a spurious "context deadline exceeded" at
# the deadline when a worker is mid-call (go.dev/issue/75804, fixed in Go
# 1.27). A count has no deadline to race. SCALE multiplies the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1}
for spec in FuzzParse:200000 FuzzOps:30000 FuzzConcurrent:20000 FuzzEvict:20000 FuzzKV:100000 FuzzSnapshotFile:3000; do
  target=${spec%%:*}
  n=$((${spec#*:} * SCALE))
  echo "--- $target (${n} executions)"
  go test ./fuzz -run '^$' -fuzz "^${target}\$" -fuzztime "${n}x" -fuzzminimizetime 3s -timeout 15m
done
