#!/usr/bin/env bash
# Bounded fuzzing of every target, as .ci/run does: about 20 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
for target in FuzzParse FuzzOps FuzzConcurrent FuzzEvict; do
  echo "--- $target ($FUZZTIME)"
  go test ./fuzz -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 3s
done
