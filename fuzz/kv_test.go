package fuzz_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/internal/kv"
)

// FuzzKV decodes its input into operations on the engine's KV (get, set if
// absent, compare-and-swap, sweeps, clock moves forward and back, the
// clock-reading calls) on a few keys under a key cap, and checks every
// answer, Len and every sweep's count against kvModel, a plain map.
//
// Input: byte 0 picks the cap (0: none, else 1–7 keys) and the start
// time; each operation after that is a byte that selects it and its key,
// followed by its operands (see kvRun.do).
func FuzzKV(f *testing.F) {
	for _, seed := range [][]byte{
		// set, get, cas right and wrong, expire, sweep.
		{0, 0x10, 1, 2, 0x00, 0x20, 1, 2, 0x20, 9, 9, 0x30, 3, 0x00, 0x40, 3},
		// a cap of 2: a third key is refused until a sweep.
		{2, 0x10, 1, 3, 0x11, 2, 3, 0x12, 3, 3, 0x30, 4, 0x40, 0, 0x12, 3, 3, 0x02},
		// clock steps back, negative times, no expiry, near the end of time.
		{0x13, 0x10, 5, 0, 0x31, 0x30, 7, 0x00, 0x10, 6, 5, 0x30, 8, 0x00, 0x51, 2, 0x61, 0x20, 6, 1, 4},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		newKVRun(t, data).run()
	})
}

// kvModel is the reference: a map of values and expiries, where an entry
// is absent from its expiry on (math.MaxInt64: never), stays in the map
// until a sweep removes it, and counts against the cap until then.
type kvModel struct {
	m   map[string]kvModelEntry
	cap int
}

type kvModelEntry struct{ v, exp int64 }

func (m *kvModel) get(now time.Duration, key string) (int64, bool) {
	e, ok := m.m[key]
	if !ok || (int64(now) >= e.exp && e.exp != math.MaxInt64) {
		return 0, false
	}
	return e.v, true
}

func modelExpiry(now, ttl time.Duration) int64 {
	if ttl <= 0 {
		return math.MaxInt64
	}
	if now > 0 && ttl > math.MaxInt64-now {
		return math.MaxInt64
	}
	return int64(now + ttl)
}

func (m *kvModel) set(now time.Duration, key string, v int64, ttl time.Duration) (bool, error) {
	if _, ok := m.get(now, key); ok {
		return false, nil
	}
	if _, known := m.m[key]; !known && m.cap > 0 && len(m.m) >= m.cap {
		return false, engine.ErrFull
	}
	m.m[key] = kvModelEntry{v, modelExpiry(now, ttl)}
	return true, nil
}

func (m *kvModel) cas(now time.Duration, key string, old, next int64, ttl time.Duration) bool {
	if v, ok := m.get(now, key); !ok || v != old {
		return false
	}
	m.m[key] = kvModelEntry{next, modelExpiry(now, ttl)}
	return true
}

func (m *kvModel) sweep(now time.Duration) int {
	n := 0
	for k := range m.m {
		if _, ok := m.get(now, k); !ok {
			delete(m.m, k)
			n++
		}
	}
	return n
}

type kvRun struct {
	t     *testing.T
	in    bytesReader
	clk   *clock.Manual
	kv    *kv.KV
	mod   kvModel
	now   time.Duration
	trace []string
}

var kvKeys = []string{"a", "b", "", "tat:203.0.113.7"}

// kvValues are the values an operand byte picks from, beside the small
// ones (byte mod 8).
var kvValues = []int64{math.MinInt64, -1, math.MaxInt64, 1 << 62, 1_700_000_000_123_456_789}

// kvTTLs are the times to live an operand byte picks from.
var kvTTLs = []time.Duration{0, -1, 1, time.Millisecond, time.Second, time.Minute, math.MaxInt64}

func newKVRun(t *testing.T, data []byte) *kvRun {
	r := &kvRun{t: t, in: bytesReader{b: data}}
	h := r.in.byte()
	r.mod = kvModel{m: map[string]kvModelEntry{}, cap: int(h % 8)}
	r.now = []time.Duration{0, 1_700_000_000 * time.Second, -time.Hour, math.MaxInt64 - time.Minute}[h>>4%4]
	r.clk = clock.NewManual(r.now)
	r.kv = engineinternal.NewKV([]engine.Option{engine.WithClock(r.clk), engine.WithMaxKeys(r.mod.cap), engine.WithSweepInterval(-1)})
	t.Cleanup(func() { r.kv.Close() })
	return r
}

func (r *kvRun) value() int64 {
	c := r.in.byte()
	if c < 0xf0 {
		return int64(c % 8)
	}
	return kvValues[int(c-0xf0)%len(kvValues)]
}

func (r *kvRun) ttl() time.Duration { return kvTTLs[int(r.in.byte())%len(kvTTLs)] }

func (r *kvRun) run() {
	for n := 0; r.in.more() && n < 2000; n++ {
		r.do()
	}
	for _, k := range kvKeys {
		r.checkGet(k)
	}
}

func (r *kvRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\ntrace:\n%s", fmt.Sprintf(format, args...), strings.Join(r.trace, "\n"))
}

func (r *kvRun) checkGet(key string) {
	r.t.Helper()
	v, ok := r.kv.GetAt(r.now, key)
	mv, mok := r.mod.get(r.now, key)
	if v != mv || ok != mok {
		r.fail("GetAt(%v, %q) = %d, %v; model %d, %v", r.now, key, v, ok, mv, mok)
	}
}

// do runs one operation: the high nibble of its byte picks it and the
// low two bits the key.
func (r *kvRun) do() {
	c := r.in.byte()
	key := kvKeys[c&3]
	clockCall := c&4 != 0 // use the clock-reading call, at the clock's time
	switch c >> 4 % 8 {
	case 0:
		r.trace = append(r.trace, fmt.Sprintf("get %q at %v", key, r.now))
		if clockCall {
			r.clk.Set(r.now)
			v, ok := r.kv.Get(key)
			mv, mok := r.mod.get(r.now, key)
			if v != mv || ok != mok {
				r.fail("Get(%q) = %d, %v; model %d, %v", key, v, ok, mv, mok)
			}
			return
		}
		r.checkGet(key)
	case 1:
		v, ttl := r.value(), r.ttl()
		r.trace = append(r.trace, fmt.Sprintf("set %q %d ttl %v at %v", key, v, ttl, r.now))
		var ok bool
		var err error
		if clockCall {
			r.clk.Set(r.now)
			ok, err = r.kv.SetIfAbsent(key, v, ttl)
		} else {
			ok, err = r.kv.SetIfAbsentAt(r.now, key, v, ttl)
		}
		mok, merr := r.mod.set(r.now, key, v, ttl)
		if ok != mok || !errors.Is(err, merr) {
			r.fail("SetIfAbsentAt(%v, %q, %d, %v) = %v, %v; model %v, %v", r.now, key, v, ttl, ok, err, mok, merr)
		}
	case 2:
		old, next, ttl := r.value(), r.value(), r.ttl()
		if mv, ok := r.mod.get(r.now, key); ok && old == 7 {
			old = mv // byte 7 means "the right old value"
		}
		r.trace = append(r.trace, fmt.Sprintf("cas %q %d→%d ttl %v at %v", key, old, next, ttl, r.now))
		var ok bool
		if clockCall {
			r.clk.Set(r.now)
			ok = r.kv.CompareAndSwap(key, old, next, ttl)
		} else {
			ok = r.kv.CompareAndSwapAt(r.now, key, old, next, ttl)
		}
		if mok := r.mod.cas(r.now, key, old, next, ttl); ok != mok {
			r.fail("CompareAndSwapAt(%v, %q, %d, %d, %v) = %v; model %v", r.now, key, old, next, ttl, ok, mok)
		}
	case 3: // the clock moves forward
		d := []time.Duration{1, time.Millisecond, time.Second - 1, time.Second, time.Minute, 1 << 40, 1 << 62}[int(r.in.byte())%7]
		r.now = addSat(r.now, d)
		r.trace = append(r.trace, fmt.Sprintf("now %v", r.now))
	case 4: // a sweep at, behind or ahead of now
		at := addSat(r.now, []time.Duration{0, -time.Second, time.Second, -1}[int(r.in.byte())%4])
		r.trace = append(r.trace, fmt.Sprintf("sweep at %v", at))
		n, mn := r.kv.SweepAt(at), r.mod.sweep(at)
		if n != mn {
			r.fail("SweepAt(%v) = %d; model %d", at, n, mn)
		}
		if l := r.kv.Len(); l != len(r.mod.m) {
			r.fail("Len() = %d after SweepAt(%v); model %d", l, at, len(r.mod.m))
		}
	case 5: // the clock moves back
		d := []time.Duration{1, time.Second, time.Hour, 1 << 62}[int(r.in.byte())%4]
		r.now = addSat(r.now, -d)
		r.trace = append(r.trace, fmt.Sprintf("now %v", r.now))
	default: // every key, and Len
		for _, k := range kvKeys {
			r.checkGet(k)
		}
		if l := r.kv.Len(); l != len(r.mod.m) {
			r.fail("Len() = %d; model %d", l, len(r.mod.m))
		}
	}
}
