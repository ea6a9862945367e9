package redisstore

import (
	"fmt"
	"math"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// decode turns the script's reply into the Decision. An allowed look
// (Peek) describes the state after the request it did not count, like the
// Decision that AllowN would return.
func (s *Store) decode(vals []int64, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	at := func(i int) window {
		return window{prev: uint64(vals[i]), cur: uint64(vals[i+1]), r: uint64(vals[i+2]) * uint64(time.Microsecond)}
	}
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) == 0 {
		return limit.Decision{}, bad()
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 4 {
			return limit.Decision{}, bad()
		}
		return at(1).decide(s.sliding, false, uint64(n), limits[i-1]), nil
	}
	if len(vals) != 1+3*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		w := at(1 + 3*i)
		if !commit {
			w.cur += uint64(n)
		}
		if d := w.decide(s.sliding, true, uint64(n), l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}

// decodeGCRA turns the GCRA script's reply into the Decision: {0, now,
// then e, j, be, bj per limit} when all allow, {i, now, e, j, be, bj}
// when limit i denies. An allowed Peek answers as if counted, like
// AllowN.
func decodeGCRA(vals []int64, n uint64, limits []limit.Limit) (limit.Decision, error) {
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) < 2 || vals[1] < 0 {
		return limit.Decision{}, bad()
	}
	now := uint64(vals[1]) * uint64(time.Microsecond)
	at := func(i int, l limit.Limit) bucket {
		cnt := uint64(l.Count())
		return bucket{
			k:    uint64(vals[i])*cnt + uint64(vals[i+1]),
			base: uint64(vals[i+2])*cnt + uint64(vals[i+3]),
		}
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 6 {
			return limit.Decision{}, bad()
		}
		l := limits[i-1]
		return at(2, l).decide(false, n, now, l), nil
	}
	if len(vals) != 2+4*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		if d := at(2+4*i, l).decide(true, n, now, l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}

// decodeMoving turns the moving-window script's reply into the Decision:
// {0, now, then at, sum, last per limit} when all allow, {i, now, at,
// sum, last, free} when limit i denies.
func decodeMoving(vals []int64, n uint64, limits []limit.Limit) (limit.Decision, error) {
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) < 2 || vals[1] < 0 {
		return limit.Decision{}, bad()
	}
	us := func(v int64) uint64 { return uint64(v) * uint64(time.Microsecond) }
	now := us(vals[1])
	at := func(i int) movingLog {
		return movingLog{at: us(vals[i]), sum: uint64(vals[i+1]), last: us(max(0, vals[i+2])), hasLast: vals[i+2] >= 0}
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 6 {
			return limit.Decision{}, bad()
		}
		lg := at(2)
		lg.free, lg.hasFree = us(max(0, vals[5])), vals[5] >= 0
		return lg.decide(false, n, now, limits[i-1]), nil
	}
	if len(vals) != 2+3*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		if d := at(2+3*i).decide(true, n, now, l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}
