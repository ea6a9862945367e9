package fuzz_test

import (
	"fmt"
	"math"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// bytesReader hands out the fuzz input a byte at a time, then zeros.
type bytesReader struct{ b []byte }

func (r *bytesReader) more() bool { return len(r.b) > 0 }

func (r *bytesReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// limitChoices are the limits a fuzz input picks from: small counts so
// that windows fill, periods from one second to MaxPeriod, the largest
// count, and the zero Limit.
var limitChoices = []limit.Limit{
	limit.PerSecond(1),
	limit.PerSecond(3),
	limit.MustParse("2/2 seconds"),
	limit.MustParse("5/3 seconds"),
	limit.PerMinute(4),
	limit.MustParse("3/7 seconds"),
	limit.PerHour(2),
	limit.MustParse("2/10 years"),
	limit.PerSecond(limit.MaxCount),
	limit.PerDay(10),
	{},
}

var keyChoices = []string{"a", "b", "", "k4"}

// pickLimits decodes a list of up to four of the given limits: a bit mask
// and a rotation. The four may repeat a limit.
func pickLimits(c byte, from []limit.Limit) []limit.Limit {
	var out []limit.Limit
	rot := int(c>>4) % len(from)
	for i := range from {
		if c&(1<<i) != 0 {
			out = append(out, from[(rot+i)%len(from)])
		}
	}
	return out
}

// pickCost decodes a request cost: mostly 1, sometimes around the count
// (for GCRA: the burst) of limit l, sometimes invalid or extreme.
func pickCost(c byte, l limit.Limit) int64 {
	switch c >> 5 {
	case 3:
		return 1 + int64(c&7)
	case 4:
		return l.Burst() - 1 + int64(c%3) // Burst is Count except for GCRA limits with a burst
	case 5:
		return [...]int64{0, -1, math.MinInt64, math.MaxInt64, limit.MaxCount, limit.MaxCount + 1, 2, 3}[c&7]
	case 6:
		return int64(c & 31)
	}
	return 1
}

// Trailer bytes: an input whose last byte is one of these is run with
// GCRA or the moving window. The strategy is decoded from the end so
// that every input written before those strategies were fuzzed (none of
// which ends in 0xf8 or 0xf9) decodes exactly as it did: byte 0 still
// picks the sliding or fixed window for all others.
const (
	trailerGCRA   = 0xf8
	trailerMoving = 0xf9
)

// pickStrategy decodes the strategy from header byte h and the input's
// last byte.
func pickStrategy(h byte, data []byte) limit.Strategy {
	if len(data) > 1 {
		switch data[len(data)-1] {
		case trailerGCRA:
			return limit.GCRA
		case trailerMoving:
			return limit.MovingWindow
		}
	}
	if h&1 != 0 {
		return limit.FixedWindow
	}
	return limit.SlidingWindow
}

// pickBurst gives a valid limit l a GCRA burst decoded from q (the part
// of a limit byte that its choice of limit does not use): the default
// (Count), 1, 2, Count±1, 3·Count or MaxCount. Only GCRA runs use it, so
// that the other strategies see the limits they always saw.
func pickBurst(l limit.Limit, q int) limit.Limit {
	if !l.Valid() {
		return l
	}
	var b int64
	switch q % 8 {
	case 0, 1:
		return l
	case 2:
		b = 1
	case 3:
		b = 2
	case 4:
		b = l.Count() + 1
	case 5:
		b = 3 * l.Count()
	case 6:
		b = limit.MaxCount
	case 7:
		b = l.Count() - 1
	}
	b = min(max(b, 1), limit.MaxCount)
	lb, err := l.WithBurst(b)
	if err != nil {
		panic(fmt.Sprintf("WithBurst(%d) of %v: %v", b, l, err))
	}
	return lb
}

// addSat adds without wrapping.
func addSat(a, b time.Duration) time.Duration {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

var jumpWindows = [...]int64{2, 3, 4, 9, 10, 11, 12, 13, 14, 15, 16, 31, 32, 33, 64, 1 << 20}

// step decodes a clock move relative to period p: forward, or backward
// when back is set; small steps, steps to and around window boundaries,
// and jumps of many windows.
func step(now time.Duration, c byte, p time.Duration, back bool) time.Duration {
	x := int64(c & 31)
	var d time.Duration
	switch c >> 5 {
	case 0:
		d = time.Duration(x) // nanoseconds
	case 1:
		d = p / 32 * time.Duration(x)
	case 2:
		// To a boundary of p, and a nanosecond either side.
		start := now - now%p
		if now < 0 {
			start = 0
		}
		if back {
			return addSat(start, time.Duration(x%3)-1)
		}
		return addSat(addSat(start, p), time.Duration(x%3)-1)
	case 3:
		d = p * time.Duration(jumpWindows[x&15])
		if x&16 != 0 {
			d += p / 2
		}
	case 4:
		d = time.Duration(x) * time.Millisecond
	case 5:
		d = time.Duration(1) << (30 + x)
	case 6:
		d = p - 1
	case 7:
		if back {
			return -1 - time.Duration(x) // a negative reading
		}
		d = p*time.Duration(x) + p/2
	}
	if back {
		d = -d
	}
	return addSat(now, d)
}

// startTimes are where a sequence's clock starts.
var startTimes = [...]time.Duration{
	0,
	59*time.Second + 999*time.Millisecond,
	1 << 40,
	1 << 62,
	math.MaxInt64 - 10*24*time.Hour,
	math.MaxInt64 - 1,
	7*time.Second - 1,
	3600*time.Second + 1,
}
