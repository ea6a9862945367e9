package model

import (
	"math/big"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// gcra judges a request of cost n by key at time now under l with GCRA,
// written out from engine/doc.go: with tick(t) = ⌊t·L/P⌋, k = tick(now),
// base = max(tat, k) and at(j) = ⌈j·P/L⌉, the request is allowed iff
// base + n ≤ k + B, and then tat becomes base + n. It returns the
// Decision and the function that counts the request; deny: see one.
//
// A key with no tat (new, or reset) has tat 0, so base = k: a full
// bucket. Where the Decision of a denied request names tat', the model
// reads it as base: see fuzz/README.md, "Choices".
func (m *Limiter) gcra(now time.Duration, key string, n int64, l limit.Limit, deny bool) (limit.Decision, func()) {
	pk := pairKey{key, l}
	t := big.NewInt(int64(max(now, 0)))
	L, P := big.NewInt(l.Count()), big.NewInt(int64(l.Period()))
	B, N := big.NewInt(l.Burst()), big.NewInt(n)
	at := func(j *big.Int) *big.Int { return ceilDiv(mul(j, P), L) } // the nanosecond tick j begins

	k := floorDiv(mul(t, L), P)
	base := k
	if tat, ok := m.tats[pk]; ok && cmp(tat, k) > 0 {
		base = tat
	}
	fits := cmp(add(base, N), add(k, B)) <= 0
	allowed := fits && !deny
	after := base // tat'
	if allowed {
		after = add(base, N)
	}

	d := limit.Decision{Allowed: allowed, Limit: l}
	// Remaining = max(0, k + B − tat').
	if rem := sub(add(k, B), after); rem.Sign() > 0 {
		d.Remaining = rem.Int64()
	}
	// ResetAfter = at(tat') − now if tat' > k, else 0.
	if cmp(after, k) > 0 {
		d.ResetAfter = duration(sub(at(after), t))
	}
	// RetryAfter = at(base + n − B) − now when denied; Never if n > B.
	switch {
	case fits: // allowed, or 0 within a denied call
	case cmp(N, B) > 0:
		d.RetryAfter = limit.Never
	default:
		d.RetryAfter = duration(sub(at(sub(add(base, N), B)), t))
	}
	return d, func() { m.tats[pk] = after }
}
