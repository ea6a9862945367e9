package engine

import (
	"time"

	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/shard"
)

// Refund gives back n units of key's most recent usage under each of
// limits, as if a request of cost n counted moments ago had not been:
// the call behind "count only failed logins" and behind giving a unit
// back on a 5xx. A limit named twice is refunded once.
//
// What comes back, per strategy: the window strategies take n off the
// current window's count (units counted in an earlier window stay
// counted); GCRA moves the bucket's theoretical arrival time back by n
// units, never past full; the moving window removes n units from its
// newest entries. Usage never drops below zero, so refunding more than
// was counted, or a key that was reset or evicted, gives back only what
// is there. Refund is safe to call concurrently with every other call.
func (e *Engine) Refund(key string, n int64, limits ...limit.Limit) {
	e.refundAt(e.clk.Now(), key, n, limits...)
}

// refundAt is Refund at engine time now instead of the clock's reading.
func (e *Engine) refundAt(now time.Duration, key string, n int64, limits ...limit.Limit) {
	if n < 1 {
		return
	}
	h, t := shard.Hash(key), clampNow(now)
	for i, l := range limits {
		if repeated(limits, i) || !l.Valid() {
			continue
		}
		st := e.state(l)
		switch {
		case st.logs != nil:
			st.movingRefundNewest(h, uint64(n))
		case st.w != nil:
			st.wideRefundNewest(h, uint64(n), t)
		case e.gcra:
			st.gcraRefundNewest(h, uint64(n))
		default:
			ep, _ := st.clamp(t)
			e.refund(h, l, uint64(n), mark{a: ep}, t)
		}
	}
}

// movingRefundNewest removes n units from the newest entries of key's
// log.
func (st *limitState) movingRefundNewest(h, n uint64) {
	lg := st.logs.Load(h)
	if lg == nil {
		return
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for k := len(lg.e) - 1; k >= lg.head && n > 0; k-- {
		x := &lg.e[k]
		m := min(x.n, n)
		x.n -= m
		lg.sum -= m
		n -= m
		if x.n == 0 { // an empty entry must not count as the newest
			lg.e = append(lg.e[:k], lg.e[k+1:]...)
		}
	}
}

// gcraRefundNewest moves key's tat back by n ticks (n units), never below
// zero: with no record of the tat the request found, a tat at or below
// now means a full bucket whatever its exact value.
func (st *limitState) gcraRefundNewest(h, n uint64) {
	if st.t.Find(h) == nil {
		return // evicted or reset: nothing to give back
	}
	for {
		c, tat, err := st.t.Get(h)
		if err != nil || c.CompareAndSwap(tat, tat-min(tat, n)) {
			return
		}
	}
}
