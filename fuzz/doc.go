// Package fuzz holds Floodgate's black-box fuzz targets and stress tests.
// It has no non-test code: every file but this one is a _test.go file.
//
// The targets check the public API against internal/model, a slow,
// obviously correct reference limiter written from the semantics
// documented in package engine:
//
//   - FuzzParse: the limit parser never panics, round-trips every accepted
//     string through Limit.String, wraps a sentinel error for every
//     rejected one, and agrees with an independent regexp acceptor built
//     from the grammar in package limit's documentation.
//   - FuzzOps: a decoded sequence of allow, peek, reset, clock and sweep
//     operations on a few keys and limits, under any of the four
//     strategies (GCRA limits with decoded bursts); engine and model must
//     return the same Decision at every step. Under GCRA and the moving
//     window no reading is more than a period older than a sweep before
//     it: the bound within which package engine promises that eviction
//     changes no answer.
//   - FuzzConcurrent: goroutines run decoded requests on one engine with a
//     frozen clock; no window ever admits more than its limit, denied
//     requests consume nothing, and the final state equals the model's.
//   - FuzzEvict: a sweeper races goroutines that hit keys near expiry; no
//     live count is lost and no evicted key comes back with stale state.
//   - FuzzKV: a decoded sequence of get, set-if-absent, compare-and-swap,
//     sweep and clock operations on the engine's key-value face
//     (internal/kv, built by internal/engineinternal) under a key cap;
//     every answer, sweep count and Len equals that of a plain map.
//
// Run the committed corpus as ordinary tests with
//
//	go test -race ./fuzz
//
// and one target for a while with
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzOps$' -fuzztime 10m -parallel 1
//
// README.md in this directory records how long each target has run, what
// it found and which change fixed it. Every crasher is committed under
// testdata/fuzz as a regression case.
package fuzz
