// Package httpbench measures the cost of rate-limiting middleware per
// allowed request: Floodgate's httplimit beside sethvargo/go-limiter's
// httplimit and ulule/limiter's stdlib middleware, each on its in-memory
// store, wrapping a handler that does nothing. Its tests also run
// httplimit inside a real chi router.
//
//	go test -run '^$' -bench . -count 10 ./httpbench | tee new.txt
//	go tool benchstat new.txt
package httpbench
