package model

import (
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Limiter is the reference limiter for one strategy.
//
// The zero Limiter is not usable; call [New]. A Limiter is safe for
// concurrent use and must not be copied.
type Limiter struct {
	mu       sync.Mutex
	strategy limit.Strategy
	fixed    bool
	hw       map[limit.Limit]int64 // limits the model has been given, with hw
	pairs    map[pairKey]pair      // sliding and fixed window
	tats     map[pairKey]*big.Int  // GCRA: tat in ticks
	logs     map[pairKey][]entry   // moving window: allowed requests, oldest first
}

type pairKey struct {
	key string
	l   limit.Limit
}

// pair is what one (key, limit) pair has counted: cur in window, prev in
// window-1.
type pair struct {
	window    int64
	prev, cur int64
}

// New returns an empty reference limiter for strategy s: limit.FixedWindow,
// limit.GCRA or limit.MovingWindow; anything else means
// limit.SlidingWindow, as in engine.WithStrategy.
func New(s limit.Strategy) *Limiter {
	switch s {
	case limit.FixedWindow, limit.GCRA, limit.MovingWindow:
	default:
		s = limit.SlidingWindow
	}
	return &Limiter{
		strategy: s,
		fixed:    s == limit.FixedWindow,
		hw:       make(map[limit.Limit]int64),
		pairs:    make(map[pairKey]pair),
		tats:     make(map[pairKey]*big.Int),
		logs:     make(map[pairKey][]entry),
	}
}

// AllowN is engine.Engine.AllowN with the engine's clock reading now: it
// judges a request of cost n by key at time now under every limit, and counts n against all of them when
// all allow. When all allow, the Decision is the one with the fewest
// Remaining (the first on ties); when any denies, see denial.
func (m *Limiter) AllowN(now time.Duration, key string, n int64, limits ...limit.Limit) limit.Decision {
	return m.request(now, key, n, true, limits)
}

// Judge returns the Decision that AllowN would return, without counting
// anything. Like a request, it moves each judged limit's hw.
func (m *Limiter) Judge(now time.Duration, key string, n int64, limits ...limit.Limit) limit.Decision {
	return m.request(now, key, n, false, limits)
}

// Peek is engine.Engine.Peek with the clock reading now: Judge of a
// cost-1 request.
func (m *Limiter) Peek(now time.Duration, key string, limits ...limit.Limit) limit.Decision {
	return m.request(now, key, 1, false, limits)
}

// Reset is engine.Engine.Reset: it forgets what key counted under each of
// limits.
func (m *Limiter) Reset(key string, limits ...limit.Limit) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range limits {
		if l.Valid() {
			m.know(l)
			delete(m.pairs, pairKey{key, l})
			delete(m.tats, pairKey{key, l})
			delete(m.logs, pairKey{key, l})
		}
	}
}

// Sweep is the engine's sweeper at time now as far as answers go:
// eviction never changes an answer of the window strategies, but a sweep
// at now uses now's window, so it moves hw of every limit the model has
// been given. GCRA and the moving window keep no hw, so for them a sweep
// does nothing: the model never evicts, which the engine matches for
// readings at most one period older than the sweep (engine/doc.go,
// "Memory and eviction").
func (m *Limiter) Sweep(now time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := max(now, 0)
	for l, hw := range m.hw {
		m.hw[l] = max(hw, int64(t/l.Period()))
	}
}

// Counted reports what key has counted under l with the sliding or fixed
// window: the window it last counted in, and its counts in that window
// and the one before; ok is false when it has counted nothing since it
// was last reset.
func (m *Limiter) Counted(key string, l limit.Limit) (window, prev, cur int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pairs[pairKey{key, l}]
	return p.window, p.prev, p.cur, ok
}

func (m *Limiter) know(l limit.Limit) {
	if _, ok := m.hw[l]; !ok {
		m.hw[l] = 0
	}
}

// judged is one limit's view of a request.
type judged struct {
	l       limit.Limit
	window  int64
	r       int64 // nanoseconds into window
	prev    int64 // counted in window-1 (0 for the fixed window)
	cur     int64 // counted in window, before this request
	allowed bool
	fits    bool // cost n fits; allowed unless judged within a denied call
}

func (m *Limiter) request(now time.Duration, key string, n int64, commit bool, limits []limit.Limit) limit.Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(limits) == 0 {
		return limit.Decision{Allowed: true}
	}
	// A request that can never be allowed is rejected before any limit
	// is judged.
	if n < 1 {
		return limit.Decision{Limit: limits[0], RetryAfter: limit.Never}
	}
	for _, l := range limits {
		if !l.Valid() {
			return limit.Decision{Limit: l, RetryAfter: limit.Never}
		}
	}
	var commits []func()
	var best limit.Decision
	seen := make(map[limit.Limit]bool)
	denied := false
	for i, l := range limits {
		if seen[l] {
			continue
		}
		seen[l] = true
		d, commitOne := m.one(now, key, n, l, false)
		if !d.Allowed {
			denied = true
			continue // every limit is judged: the call's wait needs them all
		}
		commits = append(commits, commitOne)
		if i == 0 || d.Remaining < best.Remaining {
			best = d
		}
	}
	if denied {
		return m.denial(now, key, n, limits)
	}
	if commit {
		for _, c := range commits {
			c()
		}
	}
	return best
}

// denial returns the Decision of a denied request: each limit is read
// without the request, Remaining is the least of theirs, and RetryAfter
// is the least wait after which every limit admits the request, found by
// searching each limit's admission over time (see wait) rather than by
// formula. Limit and ResetAfter are those of the limit whose own wait is
// that least wait (the first on ties).
func (m *Limiter) denial(now time.Duration, key string, n int64, limits []limit.Limit) limit.Decision {
	var out limit.Decision
	seen := make(map[limit.Limit]bool)
	first := true
	for _, l := range limits {
		if seen[l] {
			continue
		}
		seen[l] = true
		d, _ := m.one(now, key, n, l, true)
		d.RetryAfter = m.wait(now, key, n, l, d.RetryAfter)
		switch {
		case first:
			out, first = d, false
		case d.RetryAfter > out.RetryAfter:
			d.Remaining = min(d.Remaining, out.Remaining)
			out = d
		default:
			out.Remaining = min(d.Remaining, out.Remaining)
		}
	}
	return out
}

// one judges cost n under one limit. With deny set it describes the limit
// without the request, as within a denied call, and a cost that fits has
// RetryAfter 0; a cost that does not fit has the closed-form RetryAfter
// of engine/doc.go.
func (m *Limiter) one(now time.Duration, key string, n int64, l limit.Limit, deny bool) (limit.Decision, func()) {
	switch m.strategy {
	case limit.GCRA:
		return m.gcra(now, key, n, l, deny)
	case limit.MovingWindow:
		return m.moving(now, key, n, l, deny)
	}
	j := m.judge(now, key, n, l)
	j.fits = j.allowed
	j.allowed = j.fits && !deny
	d := j.decision(m.fixed, n)
	// A reading judged at the start of a newer window (the clock stepped
	// back) is still promised waits from the reading itself.
	if gap := time.Duration(j.window*int64(l.Period()) + j.r - int64(max(now, 0))); gap > 0 {
		if d.RetryAfter > 0 {
			d.RetryAfter = addSat(d.RetryAfter, gap)
		}
		if d.ResetAfter > 0 {
			d.ResetAfter = addSat(d.ResetAfter, gap)
		}
	}
	return d, func() {
		m.pairs[pairKey{key, j.l}] = pair{window: j.window, prev: j.prev, cur: j.cur + n}
	}
}

// wait returns the least wait w ≥ 0 after which key's request of cost n
// is admitted by l, measured from the reading (a promise to the caller:
// denied at now+w−1ns, allowed at now+w), although the window strategies
// judge a reading older than hw at the start of window hw, or
// limit.Never when no wait that a Duration holds admits it. It searches
// by bisection over the pure admission test admits, which is monotone in
// time, and panics when the closed form closed (the RetryAfter of
// engine/doc.go, or 0) disagrees: the model checks its own formulas.
func (m *Limiter) wait(now time.Duration, key string, n int64, l limit.Limit, closed time.Duration) time.Duration {
	base := big.NewInt(int64(max(now, 0)))
	floor := base // the window strategies judge a reading older than hw at hw's start
	if m.strategy != limit.GCRA && m.strategy != limit.MovingWindow {
		P := big.NewInt(int64(l.Period()))
		if hwStart := mul(big.NewInt(m.hw[l]), P); cmp(hwStart, base) > 0 {
			floor = hwStart
		}
	}
	at := func(w *big.Int) bool {
		t := add(base, w)
		if cmp(t, floor) < 0 {
			t = floor
		}
		return m.admits(key, n, l, t)
	}
	hi := new(big.Int).Lsh(big.NewInt(1), 64)
	var got time.Duration
	if !at(hi) {
		got = limit.Never
	} else {
		lo := big.NewInt(-1) // at(lo) is false, or lo = -1
		for cmp(sub(hi, lo), big.NewInt(1)) > 0 {
			mid := new(big.Int).Rsh(add(lo, hi), 1)
			if at(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		got = duration(hi)
	}
	if got != closed {
		panic(fmt.Sprintf("model: %v under %v at %v: the searched wait %v disagrees with the closed form %v", key, l, now, got, closed))
	}
	return got
}

// admits reports whether l would admit key's request of cost n at time
// t ≥ the time the request is judged at, with nothing else counted
// meanwhile. It changes nothing.
func (m *Limiter) admits(key string, n int64, l limit.Limit, t *big.Int) bool {
	pk := pairKey{key, l}
	L, P, N := big.NewInt(l.Count()), big.NewInt(int64(l.Period())), big.NewInt(n)
	switch m.strategy {
	case limit.GCRA:
		k := floorDiv(mul(t, L), P)
		base := k
		if tat, ok := m.tats[pk]; ok && cmp(tat, k) > 0 {
			base = tat
		}
		return cmp(add(base, N), add(k, big.NewInt(l.Burst()))) <= 0
	case limit.MovingWindow:
		log := m.logs[pk]
		if len(log) > 0 && cmp(t, big.NewInt(log[len(log)-1].at)) < 0 {
			t = big.NewInt(log[len(log)-1].at)
		}
		counted := new(big.Int)
		for _, e := range log {
			if cmp(sub(t, big.NewInt(e.at)), P) < 0 {
				counted = add(counted, big.NewInt(e.n))
			}
		}
		return cmp(add(counted, N), L) <= 0
	}
	w, r := new(big.Int).DivMod(t, P, new(big.Int))
	prev, cur := new(big.Int), new(big.Int)
	if p, ok := m.pairs[pk]; ok {
		switch sub(w, big.NewInt(p.window)).Int64() {
		case 0:
			prev, cur = big.NewInt(p.prev), big.NewInt(p.cur)
		case 1:
			prev = big.NewInt(p.cur)
		}
	}
	if cmp(add(cur, N), L) > 0 {
		return false
	}
	if m.fixed {
		return true
	}
	// prev·(P−r) ≤ (L−cur−n)·P
	return cmp(mul(prev, sub(P, r)), mul(sub(sub(L, cur), N), P)) <= 0
}

// judge places a request at time now in its window, moving hw, reads the
// pair's counts there, and decides whether cost n fits.
func (m *Limiter) judge(now time.Duration, key string, n int64, l limit.Limit) judged {
	m.know(l)
	t := int64(max(now, 0))
	P := int64(l.Period())
	j := judged{l: l, window: t / P, r: t % P}
	if hw := m.hw[l]; j.window < hw {
		// Clock steps back: judge as at the start of window hw.
		j.window, j.r = hw, 0
	}
	m.hw[l] = j.window
	if p, ok := m.pairs[pairKey{key, l}]; ok {
		switch j.window - p.window {
		case 0:
			j.prev, j.cur = p.prev, p.cur
		case 1:
			j.prev = p.cur
		default:
			if j.window < p.window {
				panic("model: a pair counted in a window newer than its limit's hw")
			}
		}
	}
	if m.fixed {
		j.prev = 0
		// Fixed window: allowed iff cur + n ≤ L.
		j.allowed = cmp(add(big.NewInt(j.cur), big.NewInt(n)), big.NewInt(l.Count())) <= 0
		return j
	}
	// Sliding window: allowed iff prev·(P−r)/P + cur + n ≤ L, in rationals.
	used := new(big.Rat).SetFrac(mul(big.NewInt(j.prev), big.NewInt(P-j.r)), big.NewInt(P))
	used.Add(used, new(big.Rat).SetInt(add(big.NewInt(j.cur), big.NewInt(n))))
	j.allowed = used.Cmp(new(big.Rat).SetInt64(l.Count())) <= 0
	return j
}

// decision writes out the documented Decision of cost n at this view.
func (j judged) decision(fixed bool, n int64) limit.Decision {
	L, P := big.NewInt(j.l.Count()), big.NewInt(int64(j.l.Period()))
	r, prev := big.NewInt(j.r), big.NewInt(j.prev)
	cur := big.NewInt(j.cur)
	if j.allowed {
		cur = add(cur, big.NewInt(n))
	}
	d := limit.Decision{Allowed: j.allowed, Limit: j.l}

	// Remaining = max(0, L − cur − ⌈prev·(P−r)/P⌉).
	rem := sub(sub(L, cur), ceilDiv(mul(prev, sub(P, r)), P))
	if rem.Sign() > 0 {
		d.Remaining = rem.Int64()
	}

	// ResetAfter.
	switch {
	case cur.Sign() > 0 && !fixed:
		d.ResetAfter = duration(sub(mul(big.NewInt(2), P), r))
	case cur.Sign() > 0 && fixed, prev.Sign() > 0 && !fixed:
		d.ResetAfter = duration(sub(P, r))
	}

	// RetryAfter.
	N := big.NewInt(n)
	switch {
	case j.fits: // allowed, or 0 within a denied call
	case cmp(N, L) > 0:
		d.RetryAfter = limit.Never
	case fixed:
		d.RetryAfter = duration(sub(P, r))
	case cmp(add(cur, N), L) <= 0:
		// P − ⌊(L−cur−n)·P / prev⌋ − r
		d.RetryAfter = duration(sub(sub(P, floorDiv(mul(sub(sub(L, cur), N), P), prev)), r))
	default:
		// (P − r) + P − ⌊(L−n)·P / cur⌋
		d.RetryAfter = duration(sub(add(sub(P, r), P), floorDiv(mul(sub(L, N), P), cur)))
	}
	return d
}

func add(a, b *big.Int) *big.Int { return new(big.Int).Add(a, b) }
func sub(a, b *big.Int) *big.Int { return new(big.Int).Sub(a, b) }
func mul(a, b *big.Int) *big.Int { return new(big.Int).Mul(a, b) }
func cmp(a, b *big.Int) int      { return a.Cmp(b) }

// floorDiv returns ⌊a/b⌋ for b > 0.
func floorDiv(a, b *big.Int) *big.Int {
	if b.Sign() <= 0 {
		panic("model: division by a non-positive number")
	}
	return new(big.Int).Div(a, b) // Euclidean: the floor when b > 0
}

// ceilDiv returns ⌈a/b⌉ for b > 0.
func ceilDiv(a, b *big.Int) *big.Int {
	return new(big.Int).Neg(floorDiv(new(big.Int).Neg(a), b))
}

// duration converts a wait to a time.Duration; waits longer than a
// Duration holds are limit.Never, as engine/doc.go documents.
func duration(x *big.Int) time.Duration {
	if x.Sign() < 0 {
		panic("model: a negative duration: " + x.String())
	}
	if !x.IsInt64() {
		return limit.Never
	}
	return time.Duration(x.Int64())
}

// addSat is a + b, saturating at limit.Never.
func addSat(a, b time.Duration) time.Duration {
	if a > limit.Never-b {
		return limit.Never
	}
	return a + b
}
