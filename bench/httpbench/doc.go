// Package httpbench measures the cost of rate-limiting middleware per
// allowed request: Floodgate's httplimit beside sethvargo/go-limiter's
// httplimit and ulule/limiter's stdlib middleware, each on its in-memory
// store, wrapping a handler that does nothing; and each router package
// (chilimit, ginlimit, echolimit) beside sethvargo's middleware on the
// same router and the router alone, so that a middleware's cost on a
// router is its column minus the router's. Its tests also run httplimit
// inside a real chi router.
//
//	go test -run '^$' -bench . -count 10 ./httpbench | tee new.txt
//	go tool benchstat new.txt
package httpbench
