// Command redisloop makes n serial decisions, one goroutine deciding one
// key after another as bench/redisbench's BenchmarkRedisSerial does, on
// a redis-server at addr: for bench/redisserial.sh, which runs it under
// valgrind --tool=callgrind (the client's instructions per decision) or
// against a redis-server under callgrind (Redis's), with two values of n,
// and divides the difference by the difference in n, so that start-up
// and connection cost cancel.
//
// The keys are user:0 to user:K−1 (-keys, default 2 000), in turn, under
// one sliding-window limit out of reach (2^53−1 per hour, as
// bench/redisbench). It prints the heap allocations per decision
// (runtime.MemStats.Mallocs, after a warm-up of one decision per key).
//
// Usage: redisloop [-keys K] addr n
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
)

func main() {
	nkeys := flag.Int("keys", 2000, "how many keys to decide in turn")
	warm := flag.Bool("warm", true, "decide each key once before counting allocations")
	flag.Parse()
	n, err := strconv.Atoi(flag.Arg(1))
	if flag.NArg() != 2 || err != nil || n < 0 || *nkeys < 1 {
		fmt.Fprintln(os.Stderr, "usage: redisloop [-keys K] [-warm=false] addr n")
		os.Exit(2)
	}
	s, err := redisstore.Open("redis://" + flag.Arg(0) + "?prefix=loop:&timeout=10s")
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisloop:", err)
		os.Exit(1)
	}
	defer s.Close()
	keys := make([]string, *nkeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	l := limit.PerHour(limit.MaxCount)
	ctx := context.Background()
	decide := func(key string) {
		if d, err := s.AllowN(ctx, key, 1, l); err != nil || !d.Allowed {
			fmt.Fprintf(os.Stderr, "redisloop: AllowN = %+v, %v; want allowed\n", d, err)
			os.Exit(1)
		}
	}
	if *warm {
		for _, k := range keys {
			decide(k)
		}
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range n {
		decide(keys[i%len(keys)])
	}
	runtime.ReadMemStats(&m1)
	if n > 0 {
		fmt.Printf("allocs/op %.2f B/op %.0f\n", float64(m1.Mallocs-m0.Mallocs)/float64(n), float64(m1.TotalAlloc-m0.TotalAlloc)/float64(n))
	}
}
