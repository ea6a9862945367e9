# Floodgate developer targets. CI runs .ci/run, which covers all of them.
.PHONY: demo test test-race fmt-check vet bench fuzz-smoke

demo:
	go run ./cmd/floodgate-demo

test:
	go test -count=1 -shuffle=on -vet=all ./...

test-race:
	go test -race -count=1 -shuffle=on ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

vet:
	go vet ./...
	cd bench && go vet ./...

bench:
	cd bench && ./run.sh

fuzz-smoke:
	bash scripts/fuzz-smoke.sh
