package fuzz_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/floodgate-go/floodgate/limit"
)

// FuzzEvict races a sweeper against goroutines that hit keys near
// expiry: each phase moves the clock by a decoded step (often a few
// windows, or just past the foreground-sweep barrier, or a multiple of
// 32 windows) and runs requests at the new time while another goroutine
// sweeps at times up to three periods earlier (a sweeper's own clock
// reading may lag the requests'). A count inside a live window is never
// lost and no evicted key comes back with stale state: after every phase
// each pair matches the model, and a final sweep far ahead leaves no
// pair.
//
// Input: byte 0 picks the sliding or fixed window and the number of
// goroutines, bytes 1-2 the two limits (for GCRA, with a burst each);
// then each phase is a clock step, sweep times and, per goroutine,
// requests (see decodePhases). A last byte of 0xf8 or 0xf9 selects GCRA
// or the moving window instead (see pickStrategy).
func FuzzEvict(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0x00, 0x62, 2, 0, 40, 3, 0, 0, 1, 0, 0, 0x00, 0x62, 3, 0, 32, 64, 2, 1, 0, 2, 0})
	f.Add([]byte{1, 2, 3, 0x01, 0x63, 1, 32, 4, 0, 0, 1, 0, 0, 0x01, 0x6e, 2, 0, 96, 4, 1, 0, 2, 0})
	f.Add([]byte{4, 0, 5, 0x00, 0x6d, 3, 0, 31, 33, 5, 0, 0, 1, 0, 0x00, 0x6d, 1, 0, 5, 2, 0})
	f.Add([]byte{0, 0 + 6*5, 1 + 6*3, 0x00, 0x62, 2, 0, 40, 3, 0, 0, 1, 0, 0, 0x00, 0x62, 3, 0, 32, 64, 2, 1, 0, 2, 0, trailerGCRA})
	f.Add([]byte{2, 2, 3, 0x01, 0x63, 1, 32, 4, 0, 0, 1, 0, 0, 0x01, 0x41, 2, 0, 96, 4, 1, 0, 2, 0, 0x00, 0x6d, 1, 0, 3, 2, 0, trailerMoving})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytesReader{data}
		h := in.byte()
		strategy := pickStrategy(h, data)
		workers := 2 + int(h>>1)%3
		limits := pickConcLimits(&in, strategy)
		c := newConcRun(t, strategy, limits)
		for _, ph := range decodePhases(&in, c, workers, true) {
			c.phase(ph)
		}
		c.finish()
	})
}

// TestStressEvict runs random phases with a racing sweeper under several
// GOMAXPROCS settings and goroutine counts; run it with -race.
func TestStressEvict(t *testing.T) {
	iters := 30
	if testing.Short() {
		iters = 5
	}
	for _, procs := range []int{1, 2, 4} {
		for _, workers := range []int{2, 8} {
			t.Run(fmt.Sprintf("procs=%d/goroutines=%d", procs, workers), func(t *testing.T) {
				old := runtime.GOMAXPROCS(procs)
				t.Cleanup(func() { runtime.GOMAXPROCS(old) })
				rng := rand.New(rand.NewPCG(uint64(procs), uint64(workers)+100))
				for i := range iters {
					data := make([]byte, 300)
					for j := range data {
						data[j] = byte(rng.UintN(256))
					}
					strategy := allStrategies[i%4]
					limits := []limit.Limit{smallLimits[i%len(smallLimits)], smallLimits[(i/3+2)%len(smallLimits)]}
					if strategy == limit.GCRA {
						limits[0], limits[1] = pickBurst(limits[0], i/4), pickBurst(limits[1], i/5)
					}
					c := newConcRun(t, strategy, limits)
					in := bytesReader{data}
					for _, ph := range decodePhases(&in, c, workers, true) {
						c.phase(ph)
					}
					c.finish()
				}
			})
		}
	}
}
