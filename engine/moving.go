package engine

import (
	"sync"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// movingLog is one key's exact log for the moving window: the requests
// allowed in the last period, oldest first, with their costs. It does not
// fit a 64-bit cell, so it lives in a shard.Objects map and is guarded by
// its own mutex: decisions on one key are serialized, decisions on
// different keys are not.
//
// Memory: about 100 bytes per key plus 16 bytes per entry; requests at
// the same nanosecond share an entry, and the entries of one key never
// hold more than Count units, so a key costs at most 100 + 16·Count
// bytes (1.6 MB for a limit of 100,000 whose every request is a separate
// entry). CPU: amortized O(1) per request to expire old entries, and O(entries)
// to compute the RetryAfter of a denial.
type movingLog struct {
	mu   sync.Mutex
	e    []entry // e[head:] are kept, in time order
	head int
	sum  uint64 // units in e[head:]
	dead bool   // evicted or reset: callers must look the key up again
}

type entry struct{ t, n uint64 }

// drop frees the entries that can never count again. A reading is judged
// no earlier than the newest entry, and an entry at time t counts while
// the judged time is before t + P, so entries with t + P ≤ newest go; the
// others are kept even when they no longer count at the latest reading,
// because an older reading (judged at the newest entry's time) may still
// see them.
func (lg *movingLog) drop(p uint64) {
	newest := lg.last()
	for lg.head < len(lg.e) && lg.e[lg.head].t+p <= newest {
		lg.sum -= lg.e[lg.head].n
		lg.head++
	}
	if lg.head == len(lg.e) {
		lg.e, lg.head = lg.e[:0], 0
		if cap(lg.e) > 64 {
			lg.e = nil // let a burst's memory go
		}
	} else if lg.head > len(lg.e)/2 {
		lg.e = append(lg.e[:0], lg.e[lg.head:]...)
		lg.head = 0
	}
}

// counting returns the units that count at time at (t + P > at) and the
// index of the first entry that counts.
func (lg *movingLog) counting(at, p uint64) (sum uint64, first int) {
	sum, first = lg.sum, lg.head
	for first < len(lg.e) && lg.e[first].t+p <= at {
		sum -= lg.e[first].n
		first++
	}
	return sum, first
}

// last returns the time of the newest entry, or 0.
func (lg *movingLog) last() uint64 {
	if lg.head == len(lg.e) {
		return 0
	}
	return lg.e[len(lg.e)-1].t
}

func (e *Engine) movingTake(st *limitState, h, now, n uint64, commit bool) (limit.Decision, uint64) {
	for {
		lg := st.logs.Load(h)
		if lg == nil {
			if !commit {
				fits := n <= st.cnt
				return movingDecide(st, nil, fits, now, n, 0, 0, 0), now
			}
			lg = st.logs.LoadOrCreate(h, func() *movingLog { return new(movingLog) })
		}
		lg.mu.Lock()
		if lg.dead {
			lg.mu.Unlock()
			continue
		}
		// A clock reading older than the newest entry is judged at that
		// entry's time, so a clock moved back grants no fresh burst.
		at := max(now, lg.last())
		lg.drop(st.p)
		sum, first := lg.counting(at, st.p)
		fits := n <= st.cnt && sum+n <= st.cnt
		if fits && commit {
			if k := len(lg.e) - 1; k >= lg.head && lg.e[k].t == at {
				lg.e[k].n += n
			} else {
				lg.e = append(lg.e, entry{at, n})
			}
			lg.sum += n
		}
		last := lg.last()
		if fits {
			sum, last = sum+n, at // counted, or for a peek as if counted
		}
		d := movingDecide(st, lg, fits, at, n, sum, last, first)
		lg.mu.Unlock()
		// The decision was made at time at; the waits count from now, which
		// is earlier when the clock stepped back.
		if back := at - now; back != 0 {
			if d.RetryAfter != 0 && d.RetryAfter != limit.Never {
				d.RetryAfter = until(uint64(d.RetryAfter)+back, 0)
			}
			if d.ResetAfter != 0 {
				d.ResetAfter = until(uint64(d.ResetAfter)+back, 0)
			}
		}
		return d, at
	}
}

// movingDecide fills a Decision at time at, given the units counting and
// the newest entry's time once the request is (or, for a peek, would be)
// counted, and the first counting entry; lg (nil for an unknown key) is
// locked.
func movingDecide(st *limitState, lg *movingLog, allowed bool, at, n, sum, last uint64, first int) limit.Decision {
	if lg == nil && allowed {
		sum, last = n, at
	}
	d := limit.Decision{Allowed: allowed, Limit: st.l, Remaining: int64(st.cnt - min(sum, st.cnt))}
	if sum > 0 {
		d.ResetAfter = time.Duration(last + st.p - at)
	}
	if allowed {
		return d
	}
	if lg == nil || n > st.cnt {
		d.RetryAfter = limit.Never
		return d
	}
	if n > st.cnt {
		d.RetryAfter = limit.Never
		return d
	}
	// Wait until enough of the oldest entries expire.
	need, freed := sum+n-st.cnt, uint64(0)
	for _, x := range lg.e[first:] {
		if freed += x.n; freed >= need {
			d.RetryAfter = time.Duration(x.t + st.p - at)
			break
		}
	}
	return d
}

// movingRefund takes back n units counted at time at.
func (e *Engine) movingRefund(st *limitState, h, at, n uint64) {
	lg := st.logs.Load(h)
	if lg == nil {
		return
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for k := len(lg.e) - 1; k >= lg.head; k-- {
		if x := &lg.e[k]; x.t == at {
			m := min(x.n, n)
			x.n -= m
			lg.sum -= m
			if x.n == 0 { // an empty entry must not count as the newest
				lg.e = append(lg.e[:k], lg.e[k+1:]...)
			}
			return
		}
	}
}

// movingIdle reports whether a log can be evicted at now: nothing in it
// has counted for a whole period, so a request with a somewhat older
// clock reading finds it empty too. It marks the log dead if so.
func (st *limitState) movingIdle(lg *movingLog, now uint64) bool {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if lg.last()+2*st.p <= now { // also an empty log: last is 0
		lg.dead = true
	}
	return lg.dead
}

// movingReset forgets the log of h.
func (st *limitState) movingReset(h uint64) {
	if lg := st.logs.Load(h); lg != nil {
		lg.mu.Lock()
		lg.dead = true
		lg.mu.Unlock()
		st.logs.Delete(h)
	}
}
