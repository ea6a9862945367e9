package model

import (
	"math/big"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// entry is one allowed request in a moving-window log: its time and cost.
type entry struct {
	at, n int64
}

// moving judges a request of cost n by key at time now under l with the
// moving window, written out from engine/doc.go: an allowed request at
// time t counts while now − t < P, and a request is allowed iff the
// units counted plus n fit in L. A reading older than the pair's newest
// entry is judged at that entry's time: that time decides which entries
// count, and an allowed request is logged at it. The Decision's waits
// (ResetAfter, RetryAfter) are measured from the reading itself, so that
// RetryAfter stays the least wait after which the cost is allowed (see
// fuzz/README.md, "Choices"). It returns the Decision and the function
// that counts the request; deny: see one.
//
// The log is a plain list, oldest first, and is never pruned: entries
// are appended at the judged time, which is never older than the newest
// entry, so the list stays in time order.
func (m *Limiter) moving(now time.Duration, key string, n int64, l limit.Limit, deny bool) (limit.Decision, func()) {
	pk := pairKey{key, l}
	log := m.logs[pk]
	reading := int64(max(now, 0))
	t := reading // the judged time
	if len(log) > 0 && t < log[len(log)-1].at {
		t = log[len(log)-1].at
	}
	P, L, N := big.NewInt(int64(l.Period())), big.NewInt(l.Count()), big.NewInt(n)
	T, R := big.NewInt(t), big.NewInt(reading)

	// The entries that count at t, oldest first.
	var live []entry
	counted := new(big.Int)
	for _, e := range log {
		if cmp(sub(T, big.NewInt(e.at)), P) < 0 {
			live = append(live, e)
			counted = add(counted, big.NewInt(e.n))
		}
	}
	fits := cmp(add(counted, N), L) <= 0
	allowed := fits && !deny
	after := counted
	if allowed {
		after = add(counted, N)
		live = append(live, entry{at: t, n: n})
	}

	d := limit.Decision{Allowed: allowed, Limit: l}
	// Remaining = L − (units counted, after the request).
	rem := sub(L, after)
	if rem.Sign() < 0 {
		panic("model: a moving window counts more than its limit")
	}
	d.Remaining = rem.Int64()
	// ResetAfter = (newest entry's time) + P − now, or 0 when empty.
	if len(live) > 0 {
		d.ResetAfter = duration(sub(add(big.NewInt(live[len(live)-1].at), P), R))
	}
	// RetryAfter: (time of the oldest entry whose expiry frees enough
	// units for n) + P − now; Never if n > L.
	switch {
	case fits: // allowed, or 0 within a denied call
	case cmp(N, L) > 0:
		d.RetryAfter = limit.Never
	default:
		need := sub(add(counted, N), L) // > 0, as the request is denied
		freed := new(big.Int)
		for _, e := range live {
			freed = add(freed, big.NewInt(e.n))
			if cmp(freed, need) >= 0 {
				d.RetryAfter = duration(sub(add(big.NewInt(e.at), P), R))
				break
			}
		}
	}
	return d, func() { m.logs[pk] = append(m.logs[pk], entry{at: t, n: n}) }
}
