package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"time"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/shard"
)

// The snapshot file, version 1. Integers are unsigned varints
// (encoding/binary's Uvarint) unless marked; times are engine times in
// nanoseconds (see snapshot.go for their translation).
//
//	magic     16 bytes  "\x89floodgate-snap\n"
//	version   4 bytes   little-endian uint32, 1
//	strategy            limit.Strategy of the writer
//	offset    varint    wall clock − engine clock at the write, in ns
//	limits              how many, then each: count, period in ns,
//	                    burst (0: none), kind (snapKind)
//	records             each: len(key)+1, key bytes, how many entries,
//	                    then each: limit index, and by the limit's kind:
//	    window          window number, prev, cur (as of that window)
//	    gcra            tat in ticks
//	    wide gcra       tat's window W, ticks F into it
//	    moving          how many entries, then each: time, cost
//	end                 0, then how many records
//	checksum  4 bytes   little-endian CRC-32C (Castagnoli) of all bytes
//	                    before it
//
// A reader refuses another magic, another version, a bad checksum and
// any field out of range, and restores nothing from such a file.
const (
	snapMagic   = "\x89floodgate-snap\n"
	snapVersion = 1
)

// snapKind is how a limit's state is kept, which decides the entries'
// form: a limit restores only into a limit of the same kind.
type snapKind uint8

const (
	kindWindow     snapKind = iota + 1 // sliding or fixed window, one-word cell
	kindWideWindow                     // sliding or fixed window, wide cell
	kindGCRA                           // GCRA, one-word cell
	kindWideGCRA                       // GCRA, wide cell
	kindMoving                         // moving-window log
)

func (st *limitState) kind() snapKind {
	switch {
	case st.logs != nil:
		return kindMoving
	case st.gcra && st.w != nil:
		return kindWideGCRA
	case st.gcra:
		return kindGCRA
	case st.w != nil:
		return kindWideWindow
	}
	return kindWindow
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// clockNoise is how far two readings of the offset between the engine
// clock and the wall clock differ without any clock having stepped: the
// default coarse clock lags by up to its 1 ms resolution. A restore
// ignores shifts below it, which would otherwise cost GCRA a tick.
const clockNoise = 2 * time.Millisecond

// errSnapshot is the error of every file that fails a check.
var errSnapshot = errors.New("engine: snapshot")

// crcWriter checksums what it writes.
type crcWriter struct {
	w   io.Writer
	crc hash.Hash32
}

func (c crcWriter) Write(p []byte) (int, error) {
	c.crc.Write(p)
	return c.w.Write(p)
}

// encode writes the engine's state to w, and drops from the registry
// the keys that hold no state in any table.
func (e *Engine) encode(w io.Writer) error {
	s := e.snap
	now := clampNow(e.clk.Now())
	offset := wallClock().UnixNano() - int64(now)
	tables := *e.tables.Load() // limits added during the write go in the next one
	cw := crcWriter{w: w, crc: crc32.New(crcTable)}
	bw := bufio.NewWriterSize(cw, 256<<10)
	b := make([]byte, 0, 256)
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapVersion)
	b = binary.AppendUvarint(b, uint64(e.strategy))
	b = binary.AppendVarint(b, offset)
	b = binary.AppendUvarint(b, uint64(len(tables)))
	for _, st := range tables {
		b = binary.AppendUvarint(b, st.cnt)
		b = binary.AppendUvarint(b, st.p)
		burst := uint64(st.l.Burst())
		if burst == st.cnt {
			burst = 0
		}
		b = binary.AppendUvarint(b, burst)
		b = binary.AppendUvarint(b, uint64(st.kind()))
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	// Copy the registry's pointers, one shard locked at a time; what
	// follows takes no registry lock.
	keys := s.batch[:0]
	s.keys.Sweep(func(k *string) bool { keys = append(keys, k); return false })
	defer func() { clear(keys); s.batch = keys[:0] }() // kept for the next write, without its keys
	var records uint64
	var scratch []entry
	for j, k := range keys {
		if j%4096 == 4095 {
			runtime.Gosched() // a long write leaves its processor to decisions now and then
		}
		h := shard.Hash(*k)
		b = b[:0]
		b = binary.AppendUvarint(b, uint64(len(*k))+1)
		b = append(b, *k...)
		at := len(b)
		b = append(b, 0) // entries: patched below (fewer than 128 limits take one byte)
		n := 0
		for i, st := range tables {
			var ok bool
			if b, scratch, ok = st.appendEntry(b, scratch, uint64(i), h); ok {
				n++
			}
		}
		if n == 0 {
			e.forget(h)
			continue
		}
		if n < 128 {
			b[at] = byte(n)
		} else {
			rest := append([]byte(nil), b[at+1:]...)
			b = append(binary.AppendUvarint(b[:at], uint64(n)), rest...)
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
		records++
	}
	b = binary.AppendUvarint(b[:0], 0)
	b = binary.AppendUvarint(b, records)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, cw.crc.Sum32()))
	return err
}

// forget drops h from the registry when no table holds a cell for it.
// A request that creates a cell and notes h while this runs is caught by
// the second look: either its note comes after the Delete and adds h
// back, or its cell exists before the second look, which adds h back.
func (e *Engine) forget(h uint64) {
	s := e.snap
	if e.hasCell(h) {
		return // cells with nothing counted: the sweeper evicts them first
	}
	k := s.keys.Load(h)
	if k == nil || !s.keys.Delete(h) {
		return
	}
	if e.hasCell(h) {
		s.add(h, *k)
	}
}

// hasCell reports whether any limit's table holds a cell for h.
func (e *Engine) hasCell(h uint64) bool {
	for _, st := range *e.tables.Load() {
		switch {
		case st.logs != nil:
			if st.logs.Load(h) != nil {
				return true
			}
		case st.w != nil:
			if st.w.Find(h) != nil {
				return true
			}
		default:
			if st.t.Find(h) != nil {
				return true
			}
		}
	}
	return false
}

// appendEntry appends the entry of h under limit number i, and reports
// whether there is one: a cell that counts something.
func (st *limitState) appendEntry(b []byte, scratch []entry, i, h uint64) ([]byte, []entry, bool) {
	put := func(vs ...uint64) []byte {
		b = binary.AppendUvarint(b, i)
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	switch st.kind() {
	case kindWindow:
		hw := st.hw.Load() // before the cell: a cell is never older than maxLag windows behind it
		v, ok := st.readCell(h)
		if !ok {
			return b, scratch, false
		}
		w := load(v, hw, 0)
		if w.Prev == 0 && w.Cur == 0 {
			return b, scratch, false
		}
		return put(w.epoch, w.Prev, w.Cur), scratch, true
	case kindWideWindow:
		hw := st.hw.Load()
		head, tail, ok := st.readWide(h)
		if !ok {
			return b, scratch, false
		}
		w := loadWide(head, tail, hw, 0)
		if w.Prev == 0 && w.Cur == 0 {
			return b, scratch, false
		}
		return put(w.epoch, w.Prev, w.Cur), scratch, true
	case kindGCRA:
		tat, ok := st.readCell(h)
		if !ok || tat == 0 {
			return b, scratch, false
		}
		return put(tat), scratch, true
	case kindWideGCRA:
		head, tail, ok := st.readWide(h)
		tat := unpackGCRA(head, tail)
		if !ok || tat == (decide.WideTick{}) {
			return b, scratch, false
		}
		return put(tat.W, tat.F), scratch, true
	}
	lg := st.logs.Load(h)
	if lg == nil {
		return b, scratch, false
	}
	lg.mu.Lock()
	if !lg.dead {
		scratch = append(scratch[:0], lg.e[lg.head:]...)
	} else {
		scratch = scratch[:0]
	}
	lg.mu.Unlock()
	if len(scratch) == 0 {
		return b, scratch, false
	}
	b = put(uint64(len(scratch)))
	for _, x := range scratch {
		b = binary.AppendUvarint(b, x.t)
		b = binary.AppendUvarint(b, x.n)
	}
	return b, scratch, true
}

// readCell loads h's one-word cell, finding it again while a rebuild has
// it retired; it reports false when h has none.
func (st *limitState) readCell(h uint64) (uint64, bool) {
	for spins := 0; spins < 1000; spins++ {
		c := st.t.Find(h)
		if c == nil {
			return 0, false
		}
		if v, ok := c.Load(); ok {
			return v, true
		}
		backoff(spins)
	}
	return 0, false
}

// readWide reads h's wide cell: a lock-free snapshot, or the words under
// the cell's lock while another caller holds it.
func (st *limitState) readWide(h uint64) (head, tail uint64, ok bool) {
	for spins := 0; spins < 1000; spins++ {
		c := st.w.Find(h)
		if c == nil {
			return 0, 0, false
		}
		if head, tail, ok = c.Read(); ok {
			return head, tail, true
		}
		if head, tail, ok = c.Lock(); ok {
			c.Unlock(head, tail)
			return head, tail, true
		}
		backoff(spins) // retired: found again once the rebuild is done
	}
	return 0, 0, false
}

// restored counts what a restore did.
type restored struct {
	strategy          limit.Strategy
	keys              int
	restored, skipped int
}

// decoder reads the snapshot's fields, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errSnapshot}, args...)...)
	}
}

func (d *decoder) uvarint() uint64 { return next(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return next(d, binary.Varint) }

// next reads one varint with read (binary.Uvarint or binary.Varint).
func next[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.fail("truncated or malformed")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next n bytes.
func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated or malformed")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// below reads a uvarint that must be at most max.
func (d *decoder) atMost(max uint64, what string) uint64 {
	v := d.uvarint()
	if v > max {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return v
}

// fileLimit is one limit of the file: the engine's state for it when its
// entries apply (same limit, same kind), else nil.
type fileLimit struct {
	l    limit.Limit
	kind snapKind
	st   *limitState
}

// decode checks data, a snapshot file, and with install restores its
// entries into the engine: those whose limit keeps the same kind of
// state, of keys and windows that still count at the engine's clock. A
// check that fails returns an error wrapping errSnapshot; decode without
// install changes nothing.
func (e *Engine) decode(data []byte, install bool) (restored, error) {
	var out restored
	if len(data) < len(snapMagic)+4+4 || string(data[:len(snapMagic)]) != snapMagic {
		return out, fmt.Errorf("%w: not a Floodgate snapshot (no %q header)", errSnapshot, snapMagic[1:len(snapMagic)-1])
	}
	if v := binary.LittleEndian.Uint32(data[len(snapMagic):]); v != snapVersion {
		return out, fmt.Errorf("%w: version %d; this build reads version %d", errSnapshot, v, snapVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return out, fmt.Errorf("%w: checksum mismatch (truncated or corrupt)", errSnapshot)
	}
	d := &decoder{b: body[len(snapMagic)+4:]}
	out.strategy = limit.Strategy(d.atMost(uint64(limit.MovingWindow), "strategy"))
	now := clampNow(e.clk.Now())
	// shift turns the writer's engine times into this engine's: both
	// are the wall clock minus their offsets.
	shift := d.varint() - (wallClock().UnixNano() - int64(now))
	if -int64(clockNoise) < shift && shift < int64(clockNoise) {
		shift = 0 // the clocks' own resolution: keep GCRA exact
	}
	nl := d.atMost(uint64(len(d.b)), "limit count")
	lims := make([]fileLimit, nl)
	for i := range lims {
		cnt := d.uvarint()
		p := d.uvarint()
		burst := d.uvarint()
		kind := snapKind(d.atMost(uint64(kindMoving), "kind"))
		if d.err != nil {
			return out, d.err
		}
		l, err := limit.New(int64(min(cnt, math.MaxInt64)), time.Duration(min(p, math.MaxInt64)))
		if err == nil && burst != 0 {
			l, err = l.WithBurst(int64(min(burst, math.MaxInt64)))
		}
		if err != nil || kind == 0 {
			return out, fmt.Errorf("%w: limit %d: invalid (%d per %d ns, burst %d, kind %d)", errSnapshot, i, cnt, p, burst, kind)
		}
		lims[i] = fileLimit{l: l, kind: kind}
		// The limits that apply get their state now, in the writer's
		// order, so that the one it met first stays first (the hot
		// path's fast case); the others get none.
		if install && e.kindOf(l) == kind {
			if st := e.restoreState(l, now); st.kind() == kind { // as kindOf said
				lims[i].st = st
			}
		}
	}
	var records uint64
	var scratch []entry
	for d.err == nil {
		kl := d.uvarint()
		if kl == 0 {
			break
		}
		key := d.bytes(kl - 1)
		n := d.atMost(uint64(len(d.b)), "entry count")
		h := uint64(0)
		if install {
			h = shard.Hash(string(key))
		}
		found := false
		for range n {
			i := d.atMost(uint64(len(lims)-1), "limit index")
			if d.err != nil || len(lims) == 0 {
				d.fail("entry of no limit")
				break
			}
			fl := &lims[i]
			var ok bool
			scratch, ok = e.decodeEntry(d, fl, h, now, shift, scratch)
			if ok {
				out.restored++
				found = true
			} else if install {
				out.skipped++
			}
		}
		if found {
			e.snap.add(h, string(key))
			out.keys++
		}
		records++
	}
	if got := d.uvarint(); d.err == nil && got != records {
		d.fail("%d records, trailer says %d", records, got)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the end", len(d.b))
	}
	return out, d.err
}

// kindOf returns the kind of state this engine keeps for l (see
// addState), without creating it.
func (e *Engine) kindOf(l limit.Limit) snapKind {
	wide := wideCell(e.gcra, uint64(l.Count()), uint64(l.Burst()), uint64(l.Period()))
	switch {
	case e.strategy == limit.MovingWindow:
		return kindMoving
	case e.gcra && wide:
		return kindWideGCRA
	case e.gcra:
		return kindGCRA
	case wide:
		return kindWideWindow
	}
	return kindWindow
}

// restoreState returns the engine's state of l, created for a restore
// with its windows set to now's.
func (e *Engine) restoreState(l limit.Limit, now uint64) *limitState {
	st := e.state(l)
	// A new limit's windows start at 0 and jump to the present on its
	// first request; restored cells are written in now's window, so the
	// limit starts there, swept.
	ep := now / st.p
	if st.hw.Load() < ep {
		st.hw.Store(ep)
	}
	if st.swept.Load() < ep {
		st.swept.Store(ep)
	}
	return st
}

// decodeEntry reads one entry of limit fl and, when fl.st is set,
// installs it for h; it reports whether it installed something. h == 0
// with fl.st set cannot happen: decode hashes when it installs.
func (e *Engine) decodeEntry(d *decoder, fl *fileLimit, h, now uint64, shift int64, scratch []entry) ([]entry, bool) {
	cnt, p := uint64(fl.l.Count()), uint64(fl.l.Period())
	st := fl.st
	switch fl.kind {
	case kindWindow, kindWideWindow:
		ep := d.uvarint()
		prev := d.atMost(cnt, "count")
		cur := d.atMost(cnt, "count")
		if d.err != nil || st == nil {
			return scratch, false
		}
		// The window's start moved by shift, rounded to the nearest
		// window; windows that have passed since are dropped.
		start := int64(min(ep, math.MaxInt64/p)*p) + shift
		ne := uint64(0)
		if start > 0 {
			ne = (uint64(start) + p/2) / p
		}
		now := now / p
		switch {
		case ne >= now: // a window ahead (a clock stepped back): it counts as now's
		case ne+1 == now && e.sliding:
			prev, cur = cur, 0
		default:
			return scratch, false
		}
		if !e.sliding {
			prev = 0
		}
		if prev == 0 && cur == 0 {
			return scratch, false
		}
		w := window{epoch: now, Window: decide.Window{Prev: prev, Cur: cur}}
		if fl.kind == kindWindow {
			return scratch, st.putCell(h, w.pack())
		}
		head, tail := w.packWide()
		return scratch, st.putWide(h, head, tail)
	case kindGCRA:
		tat := d.atMost(1<<62, "tat")
		if d.err != nil || st == nil {
			return scratch, false
		}
		if shift != 0 {
			tat = st.ticks.Tick(shifted(st.ticks.Start(tat), shift)) + 1 // rounded towards denying
		}
		if tat <= st.ticks.Tick(now) {
			return scratch, false // the bucket is full by now
		}
		return scratch, st.putCell(h, tat)
	case kindWideGCRA:
		w := d.uvarint()
		f := d.atMost(cnt-1, "ticks")
		if d.err != nil || st == nil {
			return scratch, false
		}
		tat := decide.WideTick{W: w, F: f}
		if shift != 0 {
			tat = st.wticks.Add(st.wticks.Tick(shifted(st.wticks.Start(tat), shift)), 1)
		}
		if !st.wticks.Tick(now).Less(tat) {
			return scratch, false
		}
		head, tail := packGCRA(tat)
		return scratch, st.putWide(h, head, tail)
	}
	// kindMoving: the log as the writer kept it, which may still hold
	// entries that stopped counting at its newest; those that count at
	// the newest entry's time hold at most the limit.
	n := d.atMost(uint64(len(d.b)), "entry count")
	scratch = scratch[:0]
	last := uint64(0)
	for range n {
		t := d.atMost(math.MaxInt64, "time")
		c := d.atMost(cnt, "cost")
		if d.err != nil {
			return scratch, false
		}
		if c == 0 || t < last {
			d.fail("moving-window log out of order")
			return scratch, false
		}
		last = t
		scratch = append(scratch, entry{t: t, n: c})
	}
	sum, keep := uint64(0), scratch[:0]
	for _, x := range scratch {
		if x.t+p > last {
			sum += x.n
		}
		// Entries that can never count again (see movingLog.drop) stay
		// behind.
		if x.t = shifted(x.t, shift); x.t+p > max(now, shifted(last, shift)) {
			keep = append(keep, x)
		}
	}
	if sum > cnt {
		d.fail("moving-window log over its limit")
		return scratch, false
	}
	scratch = keep
	if st == nil || len(scratch) == 0 {
		return scratch, false
	}
	lg, err := st.logs.LoadOrCreate(h, newMovingLog)
	if err != nil {
		return scratch, false
	}
	lg.mu.Lock()
	lg.e, lg.head, lg.sum = append(lg.e[:0], scratch...), 0, 0
	for _, x := range scratch {
		lg.sum += x.n
	}
	lg.mu.Unlock()
	return scratch, true
}

// shifted returns t + shift, within [0, 2^63).
func shifted(t uint64, shift int64) uint64 {
	t = min(t, math.MaxInt64)
	switch {
	case shift >= 0:
		return min(t+uint64(shift), math.MaxInt64)
	case uint64(-shift) > t:
		return 0
	}
	return t - uint64(-shift)
}

// putCell stores v in h's one-word cell, inserting it; it reports false
// when the table is full.
func (st *limitState) putCell(h, v uint64) bool {
	for {
		c, old, err := st.t.Get(h)
		if err != nil {
			return false
		}
		if c.CompareAndSwap(old, v) {
			return true
		}
	}
}

// putWide stores head and tail in h's wide cell, inserting it.
func (st *limitState) putWide(h, head, tail uint64) bool {
	for {
		c, err := st.w.Get(h)
		if err != nil {
			return false
		}
		if _, _, ok := c.Lock(); ok {
			c.Unlock(head, tail)
			return true
		}
	}
}
