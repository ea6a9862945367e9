// Command allowloop calls engine.Allow on one known key n times, for
// bench/callgrind.sh, which runs it under valgrind --tool=callgrind with
// two values of n and divides the difference in instructions by the
// difference in n, so that start-up cost cancels.
//
// With -floor it runs the floor instead: a seeded maphash of the key into
// an array of padded atomic counters plus an atomic add, as bench's
// floor-array column does.
//
// With -large the limit's count is 10^9 per second instead of 2^29−1,
// past the engine's one-word cell: the wide path.
//
// Usage: allowloop [-strategy sliding|fixed|gcra] [-large] [-deny] [-floor] n
package main

import (
	"flag"
	"fmt"
	"hash/maphash"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

func main() {
	strategy := flag.String("strategy", "sliding", "sliding, fixed or gcra")
	large := flag.Bool("large", false, "a count past the one-word cell (10^9/s): the wide path")
	deny := flag.Bool("deny", false, "measure the deny path: an exhausted key")
	floor := flag.Bool("floor", false, "measure the floor-array column instead of the engine")
	flag.Parse()
	n, err := strconv.Atoi(flag.Arg(0))
	if err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "usage: allowloop [-strategy sliding|fixed|gcra] [-large] [-deny] [-floor] n")
		os.Exit(2)
	}
	if *floor {
		runFloor(n)
		return
	}
	st := limit.SlidingWindow
	switch *strategy {
	case "fixed":
		st = limit.FixedWindow
	case "gcra":
		st = limit.GCRA
	}
	// A manual clock keeps the run deterministic (no refresher goroutine)
	// and lets an unreachable count stand: time never moves, so the
	// limit must hold all n calls.
	e := engine.New(engine.WithStrategy(st), engine.WithClock(clock.NewManual(0)), engine.WithSweepInterval(-1))
	defer e.Close()
	l := limit.PerSecond(1<<29 - 1)
	switch {
	case *deny && *large:
		// A large count, spent by the first call: a cost of the whole count.
		l = limit.PerDay(1_000_000_000)
	case *deny:
		l = limit.PerDay(1)
	case *large:
		l = limit.PerSecond(1_000_000_000)
	}
	const key = "10.0.0.1"
	if *deny {
		e.AllowN(key, l.Count(), l) // insert the key and spend it
	} else {
		e.Allow(key, l) // insert the key
	}
	want := !*deny
	wrong := 0
	for range n {
		if e.Allow(key, l) != want {
			wrong++
		}
	}
	fmt.Println("calls", n, "wrong", wrong)
}

type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

func runFloor(n int) {
	const slots = 1 << 16
	seed := maphash.MakeSeed()
	c := make([]paddedCounter, slots)
	const key = "10.0.0.1"
	wrong := 0
	for range n {
		if c[maphash.String(seed, key)&(slots-1)].n.Add(1) <= 0 {
			wrong++
		}
	}
	fmt.Println("calls", n, "wrong", wrong)
}
