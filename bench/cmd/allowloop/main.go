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
// With -keys K it calls Allow on K known keys instead of one, in a fixed
// random order, as bench's ManyKeys workload does: run it under
// valgrind --tool=callgrind --cache-sim=yes to count the simulated cache
// misses per call (a deterministic proxy for the memory stalls that
// dominate that workload).
//
// Usage: allowloop [-strategy sliding|fixed|gcra] [-large] [-deny] [-floor] [-keys K] n
package main

import (
	"flag"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
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
	keys := flag.Int("keys", 0, "call Allow on this many known keys, in a fixed random order, instead of one")
	deny := flag.Bool("deny", false, "measure the deny path: an exhausted key")
	floor := flag.Bool("floor", false, "measure the floor-array column instead of the engine")
	flag.Parse()
	n, err := strconv.Atoi(flag.Arg(0))
	if err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "usage: allowloop [-strategy sliding|fixed|gcra] [-large] [-deny] [-floor] n")
		os.Exit(2)
	}
	if *floor {
		runFloor(n, *keys)
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
	if *keys > 0 {
		order := keyOrder(*keys)
		for _, k := range order {
			e.Allow(k, l)
		}
		wrong := 0
		for i := range n {
			if !e.Allow(order[i%len(order)], l) {
				wrong++
			}
		}
		fmt.Println("calls", n, "keys", *keys, "wrong", wrong)
		return
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

func runFloor(n, keys int) {
	const slots = 1 << 16
	seed := maphash.MakeSeed()
	c := make([]paddedCounter, slots)
	order := []string{"10.0.0.1"}
	if keys > 0 {
		order = keyOrder(keys)
	}
	wrong := 0
	for i := range n {
		if c[maphash.String(seed, order[i%len(order)])&(slots-1)].n.Add(1) <= 0 {
			wrong++
		}
	}
	fmt.Println("calls", n, "wrong", wrong)
}

// keyOrder returns k distinct IPv4-style keys, as bench's keyName makes
// them, in a fixed random order.
func keyOrder(k int) []string {
	ks := make([]string, k)
	for i := range ks {
		ks[i] = "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
	return ks
}
