package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// Coalescing. A decision goes to Redis at once when its lane (the Redis
// node, or on a cluster the hash slot, its keys live on) has fewer than
// laneDepth script calls in flight; otherwise it waits in the lane's
// queue, and the next call to finish on that lane sends up to maxBatch
// queued decisions together as one call of the batch script
// (lua/batch.lua), which decides each independently, in queue order. So
// under load one EVALSHA, one TIME and one reply serve many decisions,
// and a lone decision pays no added latency: it goes from the caller's
// goroutine, as one call of the single script (lua/single.lua, fewer
// arguments and steps than the batch script's for one decision), past
// an uncontended mutex taken twice; no goroutine is woken, no timer is
// started and nothing is allocated for it beyond what its call needs
// (bench/redisserial.sh measures it against the code before coalescing). Each caller gets the Decision
// it would have got alone: the script is atomic and decides the requests
// one after the other.
//
// The lane's slots pass from call to call: the caller whose call
// finishes hands its slot to the first decision of the next batch, which
// sends the batch itself (in its own goroutine, which was waiting
// anyway), so no goroutine is started and the finishing caller returns
// at once.
const (
	// laneDepth is how many script calls one lane keeps in flight. Two
	// let Redis run one batch while the client reads the last reply and
	// writes the next; 1, 2 and 4 measured alike (docs/scale.md).
	laneDepth = 2
	// maxBatch bounds the decisions of one call, so that one call holds
	// Redis's single thread for about a tenth of a millisecond, not
	// milliseconds; 16, 32 and 64 measured alike (docs/scale.md).
	maxBatch = 32
)

// pending is a decision waiting in a lane's queue. Pooled. It holds
// copies of the caller's limits and its Redis keys, so that the caller's
// arguments stay on its stack.
type pending struct {
	ctx    context.Context // the caller's
	now    string
	keys   []string // the Redis keys of limits, in kbuf while they fit
	n      int64
	commit bool
	limits []limit.Limit // a copy, in lbuf while they fit
	kbuf   [inlineLimits]string
	lbuf   [inlineLimits]limit.Limit

	d   limit.Decision
	err error

	lead []*pending    // the batch this decision sends, when woken to send it
	wake chan struct{} // a send wakes the caller: its result is in, or it leads
}

var pendingPool = sync.Pool{New: func() any { return &pending{wake: make(chan struct{}, 1)} }}

// lane orders the script calls to one Redis node (or one cluster slot).
type lane struct {
	mu    sync.Mutex
	busy  int // calls in flight, at most laneDepth
	queue []*pending
}

// lanes holds a store's lanes: one for a single Redis (or Sentinel's
// master), one per hash slot on a cluster, made on first use.
type lanes struct {
	one   lane
	once  sync.Once
	slots []atomic.Pointer[lane]
}

// lane returns the lane of the decisions on key.
func (s *Store) lane(c rueidis.Client, key string) *lane {
	if c.Mode() != rueidis.ClientModeCluster {
		return &s.lanes.one
	}
	s.lanes.once.Do(func() { s.lanes.slots = make([]atomic.Pointer[lane], 16384) })
	p := &s.lanes.slots[slot(key)]
	if l := p.Load(); l != nil {
		return l
	}
	p.CompareAndSwap(nil, new(lane))
	return p.Load()
}

// coalesce decides one request through its lane: at once when the lane
// has a free slot, else in a batch with the others queued behind it.
func (s *Store) coalesce(ctx context.Context, c rueidis.Client, now, key string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	var keyBuf [inlineLimits]string
	keys := keyBuf[:0]
	if len(limits) > inlineLimits {
		keys = make([]string, 0, len(limits))
	}
	for _, l := range limits {
		keys = append(keys, s.key(key, l))
	}
	ln := s.lane(c, key)
	ln.mu.Lock()
	if ln.busy < laneDepth {
		ln.busy++
		ln.mu.Unlock()
		d, err := s.alone(ctx, c, now, keys, n, commit, limits)
		s.handoff(ln)
		return d, err
	}
	p := pendingPool.Get().(*pending)
	p.ctx, p.now, p.n, p.commit = ctx, now, n, commit
	p.keys, p.limits = append(p.kbuf[:0], keys...), append(p.lbuf[:0], limits...)
	ln.queue = append(ln.queue, p)
	ln.mu.Unlock()
	select {
	case <-p.wake:
	case <-ctx.Done():
		// The caller left while queued: a decision not yet sent is
		// counted nowhere, as a call would not have been made.
		if ln.withdraw(p) {
			putPending(p)
			return limit.Decision{}, ctx.Err()
		}
		<-p.wake // already in a batch: its result stands
	case <-s.deadlines.get(time.Now()).Done():
		// The budget ran out in the queue (Redis is slow to answer the
		// calls ahead, or hung): a decision not yet sent leaves, counted
		// nowhere, as a call would have failed at its budget.
		if ln.withdraw(p) {
			putPending(p)
			return limit.Decision{}, failed(ctx, errQueued)
		}
		<-p.wake // already in a batch: its call has a budget of its own
	}
	if len(p.lead) > 0 {
		s.batch(c, p.lead)
		s.handoff(ln)
	}
	d, err := p.d, p.err
	putPending(p)
	return d, err
}

// errQueued is the error of a decision whose time budget ran out while it
// waited for the calls ahead of it.
var errQueued = fmt.Errorf("redisstore: the time budget ran out waiting for the calls in flight: %w", context.DeadlineExceeded)

// withdraw takes p out of ln's queue and reports whether it was there
// (not yet taken into a batch).
func (ln *lane) withdraw(p *pending) bool {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	i := slices.Index(ln.queue, p)
	if i < 0 {
		return false
	}
	ln.queue = slices.Delete(ln.queue, i, i+1)
	return true
}

// putPending returns p to its pool, holding no reference to anyone's data.
func putPending(p *pending) {
	clear(p.lead)
	*p = pending{lead: p.lead[:0], wake: p.wake}
	pendingPool.Put(p)
}

// handoff passes a finished call's slot of ln on: to the first of the
// next batch, which sends it, or back to the lane when none waits.
func (s *Store) handoff(ln *lane) {
	ln.mu.Lock()
	if len(ln.queue) == 0 {
		ln.busy--
		ln.mu.Unlock()
		return
	}
	k := min(len(ln.queue), maxBatch)
	next := ln.queue[0]
	next.lead = append(next.lead[:0], ln.queue[:k]...)
	rest := copy(ln.queue, ln.queue[k:])
	clear(ln.queue[rest:])
	ln.queue = ln.queue[:rest]
	ln.mu.Unlock()
	next.wake <- struct{}{}
}

// alone decides one request, whose Redis keys are keys, in a call of its
// own: the single script (lua/single.lua), whose arguments are fewer and
// whose run is shorter than the batch script's for one decision, so that
// a lone decision costs Redis what it did before coalescing
// (bench/redisserial.sh). KEYS and ARGV stay on the stack while the
// limits fit inlineLimits.
func (s *Store) alone(ctx context.Context, c rueidis.Client, now string, keys []string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	var argBuf [4 + inlineLimits]string
	args := argBuf[:0]
	if len(limits) > inlineLimits {
		args = make([]string, 0, 4+len(limits))
	}
	args = s.singleArgs(args, now, n, commit, limits)
	budget, cancel := s.budget(ctx)
	reply := s.single.Exec(budget, c, keys, args)
	cancel()
	s.observe(c, budget, reply.Error())
	arr, err := reply.ToArray()
	if err != nil {
		return limit.Decision{}, failed(ctx, err)
	}
	buf := replyPool.Get().(*replyInts)
	defer replyPool.Put(buf)
	// The single script answers a window decision of one limit in the
	// short section, as the batch script does an independent one.
	d, _, err := s.section(arr, buf[:0], n, commit, limits, true)
	if err != nil {
		return limit.Decision{}, failedIn(ctx, err)
	}
	return d, nil
}

// singleArgs appends the single script's ARGV (the layout at the top of
// lua/prelude.lua) for a decision of cost n under limits to args.
func (s *Store) singleArgs(args []string, now string, n int64, commit bool, limits []limit.Limit) []string {
	commitArg := "0"
	if commit {
		commitArg = "1"
	}
	args = append(args, strconv.FormatInt(n, 10), commitArg, s.tag, now)
	for _, l := range limits {
		args = append(args, s.limitArg(l))
	}
	return args
}

// batch decides the requests of b in one call and wakes each caller but
// b[0], the one running it, with its Decision. A batch of one is a lone
// call.
func (s *Store) batch(c rueidis.Client, b []*pending) {
	if len(b) == 1 {
		p := b[0]
		p.d, p.err = s.alone(p.ctx, c, p.now, p.keys, p.n, p.commit, p.limits)
		return
	}
	keys, args := s.batchArgs(b)
	budget, cancel := s.budget(b[0].ctx)
	reply := s.script.Exec(budget, c, keys, args)
	cancel()
	s.observe(c, budget, reply.Error())
	arr, err := reply.ToArray()
	buf := replyPool.Get().(*replyInts)
	for i, p := range b {
		if err != nil {
			p.d, p.err = limit.Decision{}, failed(p.ctx, err)
		} else {
			var used int
			p.d, used, p.err = s.section(arr, buf[:0], p.n, p.commit, p.limits, true)
			if p.err != nil {
				p.err = failedIn(p.ctx, p.err)
			}
			arr = arr[min(used, len(arr)):]
		}
		if i > 0 {
			p.wake <- struct{}{}
		}
	}
	replyPool.Put(buf)
}

// batchArgs returns the KEYS and ARGV of the batch script's call that
// decides the requests of b independently.
func (s *Store) batchArgs(b []*pending) (keys, args []string) {
	var ls []limit.Limit
	for _, p := range b {
		ls = addLimits(ls, p.limits)
	}
	keys = make([]string, 0, 2*len(b))
	args = s.header(make([]string, 0, 1+len(ls)+5*len(b)), "i", ls)
	for i := 0; i < len(b); {
		// A run of decisions alike but for their keys is one set of
		// arguments: under load most of a batch is one run.
		p, j := b[i], i+1
		for j < len(b) && b[j].n == p.n && b[j].commit == p.commit && b[j].now == p.now && slices.Equal(b[j].limits, p.limits) {
			j++
		}
		for _, q := range b[i:j] {
			keys = append(keys, q.keys...)
		}
		args = appendRun(args, ls, j-i, p.now, p.n, p.commit, p.limits)
		i = j
	}
	return keys, args
}

// observe tells the time budget how a call on c went: a reply (even an
// error reply) is Redis alive; an overrun of the budget with no reply
// starts a probe (budget.go).
func (s *Store) observe(c rueidis.Client, budget context.Context, err error) {
	if err == nil || isReply(err) {
		s.replied(budget)
	} else if budget.Err() != nil {
		s.overran(c)
	}
}

// addLimits appends to ls those of limits that it does not hold yet: the
// distinct limits of a call, whose arguments it sends once.
func addLimits(ls, limits []limit.Limit) []limit.Limit {
	for _, l := range limits {
		if !slices.Contains(ls, l) {
			ls = append(ls, l)
		}
	}
	return ls
}

// header appends the start of the batch script's ARGV (lua/batch.lua):
// the strategy's tag and the mode ("i" independent, "a" all or nothing)
// as one argument, then the call's distinct limits ls, one argument
// each, which the script tells from the runs after them by their length
// (21 bytes; see appendRun).
func (s *Store) header(args []string, mode string, ls []limit.Limit) []string {
	h := s.heads[0]
	if mode == "a" {
		h = s.heads[1]
	}
	args = append(args, h)
	for _, l := range ls {
		args = append(args, s.limitArg(l))
	}
	return args
}

// appendRun appends a run of c decisions alike but for their keys to the
// batch script's ARGV: c, their cost, whether to count and when, and the
// indexes of their limits in ls, the call's table. Their KEYS, one per
// limit, go in the same order, decision after decision. Each argument is
// shorter than a limit's 21 bytes (a cost has 16 digits at most, a
// caller's time "1@" and 16), which is how the script finds where the
// limits end.
func appendRun(args []string, ls []limit.Limit, c int, now string, n int64, commit bool, limits []limit.Limit) []string {
	when := "0"
	if commit {
		when = "1"
	}
	if now != "" {
		when += "@" + now // a time of the caller's (tests)
	}
	args = append(args, strconv.Itoa(c), strconv.FormatInt(n, 10), when, strconv.Itoa(len(limits)))
	for _, l := range limits {
		args = append(args, strconv.Itoa(slices.Index(ls, l)+1))
	}
	return args
}

// errSection is an error the batch script returned for one decision.
type errSection struct{ msg string }

func (e errSection) Error() string { return e.msg }

// failedIn classifies the error of one decision of a call that Redis
// answered: the caller's ctx.Err() when it ended, else an error wrapping
// ErrReply (a section's error, or a reply that does not decode).
func failedIn(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if _, ok := err.(errSection); ok {
		return fmt.Errorf("%w: %w", ErrReply, err)
	}
	return err
}

// section decodes the first decision's section of a batch reply arr,
// using buf for its integers, and returns its Decision and how many
// elements it took. indep says the call decided its requests
// independently ("i"), where a window decision of one limit has the
// short section of window.lua's one: {prev, cur, r}, or {−prev−1, cur,
// r} denied; section reads it as {flag, prev, cur, r}.
func (s *Store) section(arr []rueidis.RedisMessage, buf []int64, n int64, commit bool, limits []limit.Limit, indep bool) (limit.Decision, int, error) {
	bad := func() error { return fmt.Errorf("%w: unexpected script reply of %d elements", ErrReply, len(arr)) }
	if len(arr) == 0 {
		return limit.Decision{}, 0, bad()
	}
	flag, err := arr[0].AsInt64()
	if err != nil {
		return limit.Decision{}, 0, bad()
	}
	if indep && s.short(limits) && (len(arr) < 2 || arr[1].IsInt64()) {
		// The short section (an error section, {2, its message}, has a
		// string second).
		if len(arr) < 3 {
			return limit.Decision{}, len(arr), bad()
		}
		var v [2]int64
		for i := range v {
			if v[i], err = arr[i+1].AsInt64(); err != nil {
				return limit.Decision{}, 3, fmt.Errorf("%w: %w", ErrReply, err)
			}
		}
		d, err := s.decodeAs(widen(buf, flag, v[0], v[1]), n, commit, limits)
		return d, 3, err
	}
	nl := len(limits)
	size := 1 + 3*nl
	switch {
	case flag == 2:
		if len(arr) < 2 {
			return limit.Decision{}, 0, bad()
		}
		msg, err := arr[1].ToString()
		if err != nil {
			return limit.Decision{}, 2, bad()
		}
		return limit.Decision{}, 2, errSection{msg}
	case s.cfg.strategy == limit.GCRA:
		size = 2 + 4*nl
	case s.cfg.strategy == limit.MovingWindow:
		size = 2 + 3*nl + int(flag)*nl
	}
	if len(arr) < size {
		return limit.Decision{}, len(arr), bad()
	}
	for i := range size {
		v, err := arr[i].AsInt64()
		if err != nil {
			return limit.Decision{}, size, fmt.Errorf("%w: %w", ErrReply, err)
		}
		buf = append(buf, v)
	}
	d, err := s.decodeAs(buf, n, commit, limits)
	return d, size, err
}

// short reports whether an independent decision of limits is answered
// in the short section of window.lua's one (by the batch script in "i"
// mode, and by the single script).
func (s *Store) short(limits []limit.Limit) bool {
	return len(limits) == 1 && s.cfg.strategy != limit.GCRA && s.cfg.strategy != limit.MovingWindow
}

// widen appends the short section {prev, cur, r}, or {−prev−1, cur, r}
// denied (first is prev or −prev−1), to buf as the long one, {flag,
// prev, cur, r}.
func widen(buf []int64, first, cur, r int64) []int64 {
	if first < 0 {
		return append(buf, 1, -first-1, cur, r)
	}
	return append(buf, 0, first, cur, r)
}

// decodeAs decodes one decision's section with the store's strategy.
func (s *Store) decodeAs(vals []int64, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	switch s.cfg.strategy {
	case limit.GCRA:
		return decodeGCRA(vals, uint64(n), limits)
	case limit.MovingWindow:
		return decodeMoving(vals, uint64(n), limits)
	}
	return s.decode(vals, n, commit, limits)
}

// crc16 is Redis Cluster's key hash (CRC-16/XMODEM), whose low 14 bits
// are a key's slot.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
