// Command allowloop calls engine.Allow on one known key n times, for
// bench/callgrind.sh, which runs it under valgrind --tool=callgrind with
// two values of n and divides the difference in instructions by the
// difference in n, so that start-up cost cancels.
//
// With -floor it runs the floor instead: a seeded maphash of the key into
// an array of padded atomic counters plus an atomic add, as bench's
// floor-array column does.
//
// Usage: allowloop [-strategy sliding|fixed] [-deny] [-floor] n
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
	strategy := flag.String("strategy", "sliding", "sliding or fixed")
	deny := flag.Bool("deny", false, "measure the deny path: an exhausted key")
	floor := flag.Bool("floor", false, "measure the floor-array column instead of the engine")
	flag.Parse()
	n, err := strconv.Atoi(flag.Arg(0))
	if err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "usage: allowloop [-strategy sliding|fixed] [-deny] n")
		os.Exit(2)
	}
	if *floor {
		runFloor(n)
		return
	}
	st := limit.SlidingWindow
	if *strategy == "fixed" {
		st = limit.FixedWindow
	}
	// A manual clock keeps the run deterministic (no refresher goroutine)
	// and lets an unreachable count stand: time never moves, so the
	// limit must hold all n calls.
	e := engine.New(engine.WithStrategy(st), engine.WithClock(clock.NewManual(0)), engine.WithSweepInterval(-1))
	defer e.Close()
	l := limit.PerSecond(limit.MaxCount)
	if *deny {
		l = limit.PerDay(1)
	}
	const key = "10.0.0.1"
	e.Allow(key, l) // insert the key (and, for -deny, spend it)
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
