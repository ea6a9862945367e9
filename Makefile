# Floodgate developer targets. CI runs .ci/run, which covers all of them.
.PHONY: demo test test-race fmt-check vet bench fuzz-smoke

demo:
	go run -C cmd/floodgate-demo .

test:
	go test -count=1 -shuffle=on -vet=all ./...

test-race:
	go test -race -count=1 -shuffle=on ./...
	for m in prometheus otel cmd/floodgate-demo grpclimit; do (cd $$m && go test -race -count=1 ./...) || exit 1; done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

vet:
	go vet ./...
	cd bench && go vet ./...
	for m in prometheus otel cmd/floodgate-demo grpclimit; do (cd $$m && go vet ./...) || exit 1; done

bench:
	cd bench && ./run.sh

fuzz-smoke:
	bash scripts/fuzz-smoke.sh
