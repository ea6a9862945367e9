package redisstore

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// decode turns the script's reply into the Decision. An allowed look
// (Peek) describes the state after the request it did not count, like the
// Decision that AllowN would return.
func (s *Store) decode(vals []int64, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	// r < 0 says the reading was judged −r µs ahead, at the start of a
	// newer stored window: the waits count from the reading itself.
	at := func(i int) (decide.Window, time.Duration) {
		r, ahead := vals[i+2], int64(0)
		if r < 0 {
			r, ahead = 0, -vals[i+2]
		}
		return decide.Window{Prev: uint64(vals[i]), Cur: uint64(vals[i+1]), R: uint64(r) * uint64(time.Microsecond)},
			time.Duration(ahead) * time.Microsecond
	}
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) != 1+3*len(limits) || vals[0] < 0 || vals[0] > 1 {
		return limit.Decision{}, bad()
	}
	for i, v := range vals[1:] {
		if v < 0 && i%3 != 2 {
			return limit.Decision{}, bad()
		}
	}
	if vals[0] == 1 {
		var d limit.Decision
		for i, l := range limits {
			w, ahead := at(1 + 3*i)
			di := decide.Later(w.Decide(s.sliding, false, uint64(n), l), ahead)
			if i == 0 {
				d = di
			} else {
				d = decide.Merge(d, di)
			}
		}
		return d, nil
	}
	best := limit.Decision{Allowed: true, Remaining: math.MaxInt64}
	for i, l := range limits {
		w, ahead := at(1 + 3*i)
		if !commit {
			w.Cur += uint64(n)
		}
		best = decide.Merge(best, decide.Later(w.Decide(s.sliding, true, uint64(n), l), ahead))
	}
	return best, nil
}

// decodeGCRA turns the GCRA script's reply into the Decision: {0, now,
// then e, j, be, bj per limit} when all allow, {1, now, then the same}
// when any limit denies. An allowed Peek answers as if counted, like
// AllowN.
func decodeGCRA(vals []int64, n uint64, limits []limit.Limit) (limit.Decision, error) {
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) < 2 || vals[1] < 0 {
		return limit.Decision{}, bad()
	}
	now := uint64(vals[1]) * uint64(time.Microsecond)
	// Ticks count from the start of window e, the reading's: an absolute
	// tick e·L + j passes 2^64 for large counts, while every formula of
	// decide.Bucket depends on differences of ticks and on Start, which
	// moves by exactly e·P when a tick moves by e·L. So K = j, Base =
	// (be − e)·L + bj and now − e·P give the Decision of the absolute
	// ticks.
	judge := func(i int, allowed bool, l limit.Limit) limit.Decision {
		cnt, p := uint64(l.Count()), uint64(l.Period())
		e, j, be, bj := uint64(vals[i]), uint64(vals[i+1]), uint64(vals[i+2]), uint64(vals[i+3])
		b := decide.Bucket{K: j, Base: 1 << 62} // a bucket beyond any wait: RetryAfter saturates
		if hi, lo := bits.Mul64(be-e, cnt); hi == 0 && lo < 1<<62 {
			b.Base = lo + bj
		}
		return b.Decide(allowed, n, now-e*p, uint64(l.Burst()), decide.TicksOf(l), l)
	}
	if len(vals) != 2+4*len(limits) || vals[0] < 0 || vals[0] > 1 {
		return limit.Decision{}, bad()
	}
	for _, v := range vals[2:] {
		if v < 0 {
			return limit.Decision{}, bad()
		}
	}
	for i, l := range limits {
		// The script's invariants: e = ⌊now/P⌋, base ≥ k, j and bj below L.
		e, j, be, bj := vals[2+4*i], vals[3+4*i], vals[4+4*i], vals[5+4*i]
		p, cnt := int64(l.Period()/time.Microsecond), l.Count()
		if e != vals[1]/p || be < e || be == e && bj < j || j >= cnt || bj >= cnt {
			return limit.Decision{}, bad()
		}
	}
	return merge(vals[0] == 1, limits, func(i int, allowed bool, l limit.Limit) limit.Decision {
		return judge(2+4*i, allowed, l)
	}), nil
}

// decodeMoving turns the moving-window script's reply into the Decision:
// {0, now, then at, sum, last per limit} when all allow, {1, now, then
// at, sum, last, free per limit} when any limit denies.
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
	if vals[0] == 1 {
		if len(vals) != 2+4*len(limits) {
			return limit.Decision{}, bad()
		}
		return merge(true, limits, func(i int, _ bool, l limit.Limit) limit.Decision {
			lg := at(2 + 4*i)
			lg.Free, lg.HasFree = us(max(0, vals[5+4*i])), vals[5+4*i] >= 0
			return lg.Decide(false, n, now, l)
		}), nil
	}
	if vals[0] != 0 || len(vals) != 2+3*len(limits) {
		return limit.Decision{}, bad()
	}
	return merge(false, limits, func(i int, allowed bool, l limit.Limit) limit.Decision {
		return at(2+3*i).Decide(allowed, n, now, l)
	}), nil
}

// merge folds the Decisions that one returns for each of limits with
// decide.Merge: as denied (every limit read without the request) when
// denied is set, else as allowed.
func merge(denied bool, limits []limit.Limit, one func(i int, allowed bool, l limit.Limit) limit.Decision) limit.Decision {
	d := limit.Decision{Allowed: true, Remaining: math.MaxInt64}
	for i, l := range limits {
		di := one(i, !denied, l)
		if i == 0 && denied {
			d = di
		} else {
			d = decide.Merge(d, di)
		}
	}
	return d
}
