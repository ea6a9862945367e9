#!/usr/bin/env bash
# test.sh: the whole test suite, README's second command. Runs go vet and
# go test -race in every module of the repository (each go.mod: the
# library, the adapters, the metrics exporters, grpclimit, the router
# examples, the demo, bench), so that a module added later is tested
# without anyone remembering to list it. The Redis tests start their own
# redis-server processes on loopback and need redis-server on PATH
# (.ci/run installs it); without it they report a skip naming the
# missing binary.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t modules < <(git ls-files '*go.mod' '**/go.mod' | xargs -n1 dirname | sort -u)
for m in "${modules[@]}"; do
	printf '\n=== %s\n' "$m"
	(cd "$m" && go vet ./... && go test -race -count=1 -shuffle=on ./...)
done
