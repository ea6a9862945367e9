package httplimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// Canonical header names, assigned directly to skip canonicalisation.
const (
	hLimit      = "X-Ratelimit-Limit"
	hRemaining  = "X-Ratelimit-Remaining"
	hReset      = "X-Ratelimit-Reset"
	hRetryAfter = "Retry-After"
	hPolicy     = "Ratelimit-Policy"
	hRateLimit  = "Ratelimit"
)

// headerSet selects the header families of WithHeaders.
type headerSet uint8

const (
	xRateLimit headerSet = 1 << iota // X-RateLimit-Limit, -Remaining, -Reset
	ietf                             // RateLimit-Policy, RateLimit
	retryDate                        // Retry-After as an HTTP date
	resetUnix                        // X-RateLimit-Reset as a Unix time
)

// The WithHeaders names of the SlowAPI-compatible formats, compared with
// spaces removed and case ignored.
const (
	nameRetryDate = "Retry-After:http-date"
	nameResetUnix = "X-RateLimit-Reset:unix"
)

// parseHeaders reads the families of WithHeaders.
func parseHeaders(families []string) (headerSet, error) {
	var hs headerSet
	for _, f := range families {
		switch {
		case strings.EqualFold(f, "X-RateLimit"):
			hs |= xRateLimit
		case strings.EqualFold(f, "RateLimit"):
			hs |= ietf
		case strings.EqualFold(strings.ReplaceAll(f, " ", ""), nameRetryDate):
			hs |= retryDate
		case strings.EqualFold(strings.ReplaceAll(f, " ", ""), nameResetUnix):
			hs |= resetUnix | xRateLimit
		default:
			return 0, configError("headers: %q is not X-RateLimit, RateLimit, %q or %q", f, nameRetryDate, nameResetUnix)
		}
	}
	return hs, nil
}

// The blocks that hold one response's rate-limit header values and the
// digits they are cut from: one allocation per response, sized to what
// the response needs, since the bytes a request allocates set how often
// the collector runs. headers3 fits the default X-RateLimit family when
// every number comes from the small table, headers3d16 and headers3d32
// when some do not, and headerBlock any set of families (six values:
// X-RateLimit-Limit, -Remaining, -Reset, Retry-After, RateLimit-Policy,
// RateLimit).
type (
	headers3    [3]string // 48 bytes
	headers3d16 struct {  // 64 bytes
		vals [3]string
		buf  [16]byte
	}
	headers3d32 struct { // 80 bytes
		vals [3]string
		buf  [32]byte
	}
	headerBlock struct { // 160 bytes
		vals [6]string
		buf  [64]byte
	}
)

// writeHeaders sets the rate-limit headers for st's decision. Numbers
// below smallNums come from a static table; the others, and the RateLimit
// value, are written to a buffer on the stack and copied into the block
// that holds the values, so a response costs one allocation here (two
// when the digits outgrow the largest block, with a long policy name).
//
// When an outer Middleware layer already set headers for a limit closer
// to exhaustion, an allowed decision leaves them alone.
func (m *setup) writeHeaders(h http.Header, st *state, denied bool) {
	hs := m.headers
	n := 0
	if hs&xRateLimit != 0 {
		n += 3
	}
	if hs&ietf != 0 {
		n += 2
	}
	// A cost above the limit can never be allowed: no Retry-After, since
	// no wait helps (the body says why).
	retries := denied && st.d.RetryAfter != limit.Never
	if retries {
		n++
	}
	if n == 0 {
		return
	}
	d, p := &st.d, st.pol
	if st.unknown {
		m.writeKnownHeaders(h, st, retries)
		return
	}
	rem := max(d.Remaining, 0)
	if !denied {
		if prev, ok := existingRemaining(h); ok && prev <= rem {
			return
		}
	}
	reset := decide.CeilSeconds(d.ResetAfter)
	if hs == xRateLimit && !retries {
		writeX(h, p, rem, reset)
		return
	}
	retry := int64(0)
	if retries {
		retry = retryAfter(d)
	}

	// First the values as strings, or spans of the digits in b.
	var (
		strs  [6]string
		spans [6]struct{ lo, hi int } // hi > 0: the value is b[lo:hi]
		digs  [64]byte
	)
	b := digs[:0]
	i := 0
	num := func(v int64) {
		if v < smallNums {
			strs[i] = small(v)
		} else {
			lo := len(b)
			b = appendDec(b, v)
			spans[i].lo, spans[i].hi = lo, len(b)
		}
		i++
	}
	if hs&xRateLimit != 0 {
		strs[i] = p.count
		i++
		num(rem)
		num(reset)
	}
	if retries {
		num(retry)
	}
	if hs&ietf != 0 {
		strs[i] = p.ietfPolicy
		i++
		lo := len(b)
		b = append(b, p.ietfPrefix...)
		b = appendDec(b, rem)
		b = append(b, ";t="...)
		b = appendDec(b, reset)
		spans[i].lo, spans[i].hi = lo, len(b)
		i++
	}

	// Then the block, which the header slices point into. One write per
	// value: a copy of strs would be a bulk write barrier over the block
	// while the collector marks, which it often does.
	vals, digits := newBlock(n, b)
	for j := range vals {
		if sp := spans[j]; sp.hi > 0 {
			vals[j] = digits[sp.lo:sp.hi]
		} else {
			vals[j] = strs[j]
		}
	}

	// Each header gets a one-element slice of vals with capacity one, so
	// a later Add copies instead of writing into its neighbour.
	i = 0
	set := func(name string) {
		h[name] = vals[i : i+1 : i+1]
		i++
	}
	if hs&xRateLimit != 0 {
		set(hLimit)
		set(hRemaining)
		set(hReset)
	}
	if retries {
		set(hRetryAfter)
	}
	if hs&ietf != 0 {
		set(hPolicy)
		set(hRateLimit)
	}
	if hs&(retryDate|resetUnix) != 0 {
		writeTimes(h, hs, d, retries)
	}
}

// writeX sets X-RateLimit-Limit, -Remaining and -Reset, the default
// headers of an allowed request: writeHeaders' general path with its
// choices made, since every request runs it.
func writeX(h http.Header, p *policy, rem, reset int64) {
	var digs [40]byte
	b := digs[:0]
	remS, resetS := "", ""
	if rem < smallNums {
		remS = small(rem)
	} else {
		b = appendDec(b, rem)
	}
	mid := len(b)
	if reset < smallNums {
		resetS = small(reset)
	} else {
		b = appendDec(b, reset)
	}
	vals, digits := newBlock(3, b)
	if remS == "" {
		remS = digits[:mid]
	}
	if resetS == "" {
		resetS = digits[mid:]
	}
	vals[0], vals[1], vals[2] = p.count, remS, resetS
	// Each header gets a one-element slice of vals with capacity one, so
	// a later Add copies instead of writing into its neighbour.
	h[hLimit], h[hRemaining], h[hReset] = vals[0:1:1], vals[1:2:2], vals[2:3:3]
}

// newBlock returns the values of n headers and a copy of digits, in one
// allocation sized to them (two when digits outgrow the largest block).
// The block's bytes are never written again, so the values may share
// them.
func newBlock(n int, digits []byte) ([]string, string) {
	var vals []string
	var dst []byte
	switch {
	case n <= 3 && len(digits) == 0:
		blk := new(headers3)
		vals = blk[:n]
	case n <= 3 && len(digits) <= len(headers3d16{}.buf):
		blk := new(headers3d16)
		vals, dst = blk.vals[:n], blk.buf[:len(digits)]
	case n <= 3 && len(digits) <= len(headers3d32{}.buf):
		blk := new(headers3d32)
		vals, dst = blk.vals[:n], blk.buf[:len(digits)]
	default:
		blk := new(headerBlock)
		vals = blk.vals[:n]
		if len(digits) <= len(blk.buf) {
			dst = blk.buf[:len(digits)]
		} else {
			dst = make([]byte, len(digits)) // a long policy name
		}
	}
	if len(digits) == 0 {
		return vals, ""
	}
	copy(dst, digits)
	return vals, unsafe.String(unsafe.SliceData(dst), len(dst))
}

// writeTimes rewrites Retry-After as an HTTP date and X-RateLimit-Reset as
// a Unix time, when WithHeaders asked for them, from the wall clock: the
// moment each names is rounded up to a whole second, so a client that
// waits until then is not early.
func writeTimes(h http.Header, hs headerSet, d *limit.Decision, retries bool) {
	now := time.Now()
	if retries && hs&retryDate != 0 {
		at := wallSeconds(now, max(d.RetryAfter, time.Second))
		h[hRetryAfter] = []string{time.Unix(at, 0).UTC().Format(http.TimeFormat)}
	}
	if hs&resetUnix != 0 && len(h[hReset]) > 0 {
		h[hReset] = []string{strconv.FormatInt(wallSeconds(now, d.ResetAfter), 10)}
	}
}

// wallSeconds is now+d as a Unix time, rounded up to a whole second.
func wallSeconds(now time.Time, d time.Duration) int64 {
	t := now.Add(max(d, 0))
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// writeKnownHeaders sets the headers of a decision made by the store's
// failure policy: the limit and, on a denial, Retry-After, which are
// known, but no remaining count or reset time, which are not. An
// allowed decision leaves an outer layer's headers alone; a denied one
// removes the counts an outer layer wrote.
func (m *setup) writeKnownHeaders(h http.Header, st *state, retries bool) {
	if !st.d.Allowed {
		delete(h, hRemaining)
		delete(h, hReset)
		delete(h, hRateLimit)
	} else if _, ok := existingRemaining(h); ok {
		return
	}
	if m.headers&xRateLimit != 0 {
		h[hLimit] = []string{st.pol.count}
	}
	if m.headers&ietf != 0 {
		h[hPolicy] = []string{st.pol.ietfPolicy}
	}
	if retries {
		h[hRetryAfter] = []string{strconv.FormatInt(retryAfter(&st.d), 10)}
		if m.headers&retryDate != 0 {
			writeTimes(h, retryDate, &st.d, true)
		}
	}
}

// retryAfter is the Retry-After of a denial in whole seconds, at least
// one.
func retryAfter(d *limit.Decision) int64 {
	return max(decide.CeilSeconds(d.RetryAfter), 1)
}

// existingRemaining reads the remaining count an outer layer wrote.
func existingRemaining(h http.Header) (int64, bool) {
	if len(h) == 0 { // the usual case: nothing written yet
		return 0, false
	}
	if vs := h[hRemaining]; len(vs) > 0 {
		n, err := strconv.ParseInt(vs[0], 10, 64)
		return n, err == nil
	}
	if vs := h[hRateLimit]; len(vs) > 0 {
		v := vs[0]
		if j := strings.LastIndex(v, ";r="); j >= 0 {
			v = v[j+3:]
			if k := strings.IndexByte(v, ';'); k >= 0 {
				v = v[:k]
			}
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// smallNums bounds the numbers whose decimal strings are precomputed.
const smallNums = 4096

// smallDigits holds the decimal forms of 0..smallNums-1 back to back;
// smallEnds[v] is where the form of v ends.
var smallDigits, smallEnds = func() (string, [smallNums]uint16) {
	var b []byte
	var ends [smallNums]uint16
	for v := range int64(smallNums) {
		b = strconv.AppendInt(b, v, 10)
		ends[v] = uint16(len(b))
	}
	return string(b), ends
}()

// digitPairs holds the decimal forms of 00..99.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// appendDec appends the decimal form of v: strconv.AppendInt's digits,
// two at a time from a table, in half its time for the large counts a
// header often carries.
func appendDec(b []byte, v int64) []byte {
	if v < 0 {
		return strconv.AppendInt(b, v, 10)
	}
	u := uint64(v)
	var t [20]byte
	i := len(t)
	for u >= 100 {
		q := u / 100
		d := (u - q*100) * 2
		i -= 2
		t[i], t[i+1] = digitPairs[d], digitPairs[d+1]
		u = q
	}
	if u >= 10 {
		i -= 2
		t[i], t[i+1] = digitPairs[u*2], digitPairs[u*2+1]
	} else {
		i--
		t[i] = byte('0' + u)
	}
	return append(b, t[i:]...)
}

// small returns the decimal form of v, 0 ≤ v < smallNums, without
// allocating.
func small(v int64) string {
	lo := uint16(0)
	if v > 0 {
		lo = smallEnds[v-1]
	}
	return smallDigits[lo:smallEnds[v]]
}
