package redisstore

import (
	"fmt"
	"math"
	"time"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// decode turns the script's reply into the Decision. An allowed look
// (Peek) describes the state after the request it did not count, like the
// Decision that AllowN would return.
func (s *Store) decode(vals []int64, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	at := func(i int) decide.Window {
		return decide.Window{Prev: uint64(vals[i]), Cur: uint64(vals[i+1]), R: uint64(vals[i+2]) * uint64(time.Microsecond)}
	}
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) == 0 {
		return limit.Decision{}, bad()
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 4 {
			return limit.Decision{}, bad()
		}
		return at(1).Decide(s.sliding, false, uint64(n), limits[i-1]), nil
	}
	if len(vals) != 1+3*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		w := at(1 + 3*i)
		if !commit {
			w.Cur += uint64(n)
		}
		if d := w.Decide(s.sliding, true, uint64(n), l); d.Remaining < best.Remaining {
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
	judge := func(i int, allowed bool, l limit.Limit) limit.Decision {
		cnt := uint64(l.Count())
		b := decide.Bucket{
			K:    uint64(vals[i])*cnt + uint64(vals[i+1]),
			Base: uint64(vals[i+2])*cnt + uint64(vals[i+3]),
		}
		return b.Decide(allowed, n, now, uint64(l.Burst()), decide.TicksOf(l), l)
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 6 {
			return limit.Decision{}, bad()
		}
		return judge(2, false, limits[i-1]), nil
	}
	if len(vals) != 2+4*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		if d := judge(2+4*i, true, l); d.Remaining < best.Remaining {
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
	at := func(i int) decide.Log {
		return decide.Log{At: us(vals[i]), Sum: uint64(vals[i+1]), Last: us(max(0, vals[i+2]))}
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 6 {
			return limit.Decision{}, bad()
		}
		lg := at(2)
		lg.Free, lg.HasFree = us(max(0, vals[5])), vals[5] >= 0
		return lg.Decide(false, n, now, limits[i-1]), nil
	}
	if len(vals) != 2+3*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		if d := at(2+3*i).Decide(true, n, now, l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}
