//go:build linux

// Command httpcpu measures bench/httpbench's columns by the CPU time of
// the thread that serves the requests, rather than by the wall clock:
// on a shared machine a benchmark's wall time also counts the time its
// thread waits for a core, which other processes decide, while its
// thread's CPU time does not. The collector's background work runs on
// other threads and is not counted, as a benchmark on two cores does
// not count it either; its assists and write barriers are.
//
// It serves n allowed requests through each column in turn, rounds
// times over, and prints one line per column and round in the format of
// `go test -bench`, so that benchstat and cmd/httpratio read it:
//
//	BenchmarkAllowedCPU/lib=floodgate-2  1000000  402.1 ns/op  455.0 wall-ns/op
//
// Usage: httpcpu [-n 1000000] [-rounds 6] [column ...] (default: every
// column).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/floodgate-go/floodgate/bench/httpbench"
)

func main() {
	n := flag.Int("n", 1000000, "requests per column and round")
	rounds := flag.Int("rounds", 6, "rounds over the columns")
	flag.Parse()
	if err := run(*n, *rounds, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "httpcpu:", err)
		os.Exit(1)
	}
}

type column struct {
	name  string
	h     http.Handler
	close func()
}

func run(n, rounds int, names []string) error {
	if n < 1 || rounds < 1 {
		return fmt.Errorf("-n and -rounds must be at least 1")
	}
	var cols []column
	defer func() {
		for _, c := range cols {
			c.close()
		}
	}()
	for _, c := range httpbench.Columns() {
		if len(names) > 0 && !slices.Contains(names, c.Name) {
			continue
		}
		h, closeStore, err := c.New()
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		cols = append(cols, column{c.Name, h, closeStore})
	}
	if len(cols) == 0 {
		return fmt.Errorf("no column among %v", names)
	}
	runtime.LockOSThread() // the thread whose CPU time is read
	defer runtime.UnlockOSThread()
	procs := runtime.GOMAXPROCS(0)
	for range rounds {
		for _, c := range cols {
			cpu, wall, err := measure(c.h, n)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			fmt.Printf("BenchmarkAllowedCPU/lib=%s-%d\t%d\t%.1f ns/op\t%.1f wall-ns/op\n",
				c.name, procs, n, float64(cpu)/float64(n), float64(wall)/float64(n))
		}
	}
	return nil
}

// measure serves n requests through h after a warm-up, and returns the
// thread's CPU time and the wall time they took.
func measure(h http.Handler, n int) (cpu, wall time.Duration, err error) {
	rs := httpbench.Requests()
	w := &httpbench.Discard{H: http.Header{}}
	for i := range 10000 {
		if err := httpbench.Serve(h, w, rs[i%httpbench.Clients]); err != nil {
			return 0, 0, err
		}
	}
	runtime.GC()
	c0, t0 := threadCPU(), time.Now()
	for i := range n {
		if err := httpbench.Serve(h, w, rs[i%httpbench.Clients]); err != nil {
			return 0, 0, fmt.Errorf("request %d: %w", i, err)
		}
	}
	return threadCPU() - c0, time.Since(t0), nil
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}
