package engine

import (
	"sync"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// movingLog is one key's exact log for the moving window: the requests
// allowed in the last period, oldest first, with their costs. It does not
// fit a 64-bit cell, so it lives in a shard.Objects table (capped by
// WithMaxKeys like every table) and is guarded by
// its own mutex: decisions on one key are serialized, decisions on
// different keys are not.
//
// Memory: a fixed header per key plus 16 bytes per entry; requests at the
// same nanosecond share an entry, and the entries of one key never hold
// more than Count units, so a key costs at most the header plus 16·Count
// bytes (measured sizes: docs/performance.md). CPU: amortized O(1) per request
// to expire old entries, and O(entries) to compute the RetryAfter of a
// denial.
type movingLog struct {
	mu   sync.Mutex
	e    []entry // e[head:] are kept, in time order
	head int
	sum  uint64 // units in e[head:]
	dead bool   // evicted or reset: callers must look the key up again
}

type entry struct{ t, n uint64 }

func newMovingLog() *movingLog { return new(movingLog) }

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

func (e *Engine) movingTake(st *limitState, h, now, n uint64, m mode) (limit.Decision, mark) {
	for {
		lg := st.logs.Load(h)
		if lg == nil {
			if m != commit {
				lg := decide.Log{At: now}
				return lg.Decide(m == peek && lg.Fits(n, st.cnt), n, now, st.l), mark{a: now}
			}
			var err error
			if lg, err = st.logs.LoadOrCreate(h, newMovingLog); err != nil {
				e.full.Add(1)
				return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, mark{a: now}
			}
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
		d := decide.Log{At: at, Sum: sum}
		fits := m != look && d.Fits(n, st.cnt)
		if fits && m == commit {
			if k := len(lg.e) - 1; k >= lg.head && lg.e[k].t == at {
				lg.e[k].n += n
			} else {
				lg.e = append(lg.e, entry{at, n})
			}
			lg.sum += n
		}
		d.Last = lg.last()
		if !fits && n <= st.cnt && !d.Fits(n, st.cnt) {
			d.Free, d.HasFree = lg.free(first, sum+n-st.cnt)
		}
		lg.mu.Unlock()
		return d.Decide(fits, n, now, st.l), mark{a: at}
	}
}

// free returns the time of the entry, from e[first:] on, whose expiry
// frees need units, and whether there is one.
func (lg *movingLog) free(first int, need uint64) (uint64, bool) {
	freed := uint64(0)
	for _, x := range lg.e[first:] {
		if freed += x.n; freed >= need {
			return x.t, true
		}
	}
	return 0, false
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
