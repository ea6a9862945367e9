package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"sync"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// AllowAll decides charges together, all or nothing, with the results of
// floodgate.Store.AllowAll: allowed, and every charge counted, only if
// every charge fits; it returns the Decision that decided (the first
// denial in charge order, or, when all allowed, the one with the fewest
// units left) and its charge's index; with no charges it allows and
// returns -1.
//
// On a single Redis (or Sentinel's master) every charge goes in one
// script call (lua/batch.lua, all or nothing): each charge is checked
// without counting, and all are counted only if none denies, so a denial
// takes nothing, needs no refund, and no concurrent request ever sees
// units that a denied request took. On a cluster that holds when every
// charge's key lives in one hash slot. Charges whose keys lie in several
// slots of a cluster are grouped by slot: each slot's charges are one
// such call, and the calls go at once, to their masters concurrently
// (one round trip of latency); when every call allows, all are counted,
// and when any denies, the charges of the calls that allowed are
// refunded, all at once (one more round trip), with the refund window
// that floodgate.AllowEach describes. Charges that name one Redis key
// twice (the same key under the same limit), and a store with an Evaler,
// are decided charge by charge with refunds (floodgate.AllowEach): one
// round trip per charge and one per refund. It fails like AllowN: when
// the one call fails, the Decision denies, the index is the first charge
// that needed Redis, and nothing was counted; when one of a cluster's
// calls fails, the Decision denies at the first charge of that call,
// with its error, and the other calls' counted charges are refunded.
func (s *Store) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return s.allowAllAt(ctx, testNow(ctx), charges)
}

func (s *Store) allowAllAt(ctx context.Context, now string, charges []floodgate.Charge) (limit.Decision, int, error) {
	if len(charges) == 0 {
		return limit.Decision{Allowed: true}, -1, nil
	}
	// Charges that the store answers without Redis (AllowN's rules): no
	// limits allows with Remaining 0; a cost below 1 or a zero Limit
	// denies. stop is the first such denial: the charges after it are
	// not judged, and those before it only looked at.
	stop, stopD := len(charges), limit.Decision{}
	limits := make([][]limit.Limit, len(charges))
	for i, c := range charges {
		if len(c.Limits) == 0 {
			continue
		}
		if c.N < 1 {
			stop, stopD = i, limit.Decision{Limit: c.Limits[0], RetryAfter: limit.Never}
			break
		}
		for _, l := range c.Limits {
			if !l.Valid() && stop == len(charges) {
				stop, stopD = i, limit.Decision{Limit: l, RetryAfter: limit.Never}
			}
		}
		if stop < len(charges) {
			break
		}
		limits[i] = dedup(c.Limits)
	}
	idx := make([]int, 0, stop) // the charges that need Redis
	for i := range stop {
		if len(limits[i]) > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return combine(make([]limit.Decision, stop), stop < len(charges), stopD)
	}
	first := idx[0]
	if err := ctx.Err(); err != nil {
		return limit.Decision{Limit: limits[first][0], RetryAfter: limit.Never}, first, err
	}
	c, err := s.conn(ctx)
	if err != nil {
		return limit.Decision{Limit: limits[first][0], RetryAfter: limit.Never}, first, err
	}
	commit := stop == len(charges)
	call := s.allCall(now, charges, limits, idx, commit)
	if s.cfg.evaler != nil || repeats(call.keys) {
		return floodgate.AllowEach(ctx, s, charges...)
	}
	if groups := slotGroups(c, charges, idx); len(groups) > 1 {
		return s.allowAllSlots(ctx, c, now, charges, limits, stop, stopD, groups)
	}
	budget, cancel := s.budget(ctx)
	reply := s.script.Exec(budget, c, call.keys, call.args)
	cancel()
	s.observe(c, budget, reply.Error())
	ds := make([]limit.Decision, stop)
	if err := s.decodeAll(ctx, reply, ds, charges, limits, idx, commit); err != nil {
		return limit.Decision{Limit: limits[first][0], RetryAfter: limit.Never}, first, err
	}
	return combine(ds, stop < len(charges), stopD)
}

// combine returns AllowAll's answer from the Decisions ds of the first
// charges, in order (a zero Decision is a charge without limits: allowed,
// Remaining 0), and, when stopped, the denial stopD of the charge after
// them.
func combine(ds []limit.Decision, stopped bool, stopD limit.Decision) (limit.Decision, int, error) {
	best, at := limit.Decision{Allowed: true, Remaining: math.MaxInt64}, -1
	for i, d := range ds {
		if d == (limit.Decision{}) {
			d.Allowed = true
		}
		if !d.Allowed {
			return d, i, nil
		}
		if at < 0 || d.Remaining < best.Remaining {
			best, at = d, i
		}
	}
	if stopped {
		return stopD, len(ds), nil
	}
	return best, at, nil
}

// repeats reports whether keys names one Redis key twice.
func repeats(keys []string) bool {
	for i := 1; i < len(keys); i++ {
		for j := range i {
			if keys[i] == keys[j] {
				return true
			}
		}
	}
	return false
}

// scriptCall is the KEYS and ARGV of one script call.
type scriptCall struct{ keys, args []string }

// allCall returns the call of the batch script that decides the charges
// idx (each with limits) all or nothing, counting them if commit.
func (s *Store) allCall(now string, charges []floodgate.Charge, limits [][]limit.Limit, idx []int, commit bool) scriptCall {
	var ls []limit.Limit
	for _, i := range idx {
		ls = addLimits(ls, limits[i])
	}
	keys := make([]string, 0, 2*len(idx))
	args := s.header(make([]string, 0, 1+len(ls)+5*len(idx)), "a", ls)
	for _, i := range idx {
		for _, l := range limits[i] {
			keys = append(keys, s.key(charges[i].Key, l))
		}
		args = appendRun(args, ls, 1, now, charges[i].N, commit, limits[i])
	}
	return scriptCall{keys, args}
}

// decodeAll decodes the reply of an all-or-nothing call of the charges
// idx into their Decisions in ds, or returns the call's error as
// AllowAll returns it. When a charge denies, the others that fit were
// looked at, not counted; only the first denial's Decision is used then.
func (s *Store) decodeAll(ctx context.Context, reply rueidis.RedisResult, ds []limit.Decision, charges []floodgate.Charge, limits [][]limit.Limit, idx []int, commit bool) error {
	arr, err := reply.ToArray()
	if err != nil {
		return failed(ctx, err)
	}
	buf := make([]int64, 0, 16)
	for _, i := range idx {
		var used int
		ds[i], used, err = s.section(arr, buf[:0], charges[i].N, commit, limits[i], false)
		if err != nil {
			return failedIn(ctx, err)
		}
		arr = arr[used:]
	}
	return nil
}

// slotGroups returns the charges idx grouped by the hash slot of their
// keys, each group in charge order and the groups in the order of their
// first charge, on a cluster; nil on a single Redis (one group).
func slotGroups(c rueidis.Client, charges []floodgate.Charge, idx []int) [][]int {
	if c.Mode() != rueidis.ClientModeCluster {
		return nil
	}
	var slots []uint16
	var groups [][]int
	for _, i := range idx {
		sl := slot(charges[i].Key)
		g := slices.Index(slots, sl)
		if g < 0 {
			slots, groups = append(slots, sl), append(groups, nil)
			g = len(groups) - 1
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// allowAllSlots is AllowAll on a cluster for charges whose keys lie in
// several hash slots; groups holds the charges of each slot. Each slot's
// charges go as one all-or-nothing call of the batch script, all the
// calls at once (rueidis sends each to its slot's master, concurrently):
// one round trip of latency. When every call allows, every charge is
// counted. When any denies or fails, the charges of the calls that
// allowed (and counted) are refunded, as floodgate.AllowEach refunds the
// charges counted before a denial, with its refund window: between the
// calls and the refunds (one call per charge, all at once: one more
// round trip), a concurrent request may see those units taken. A call
// that fails is refunded nothing (it may or may not have counted, as
// AllowEach's failed AllowN); AllowAll then denies at the first charge
// of the first failed call, with its error.
func (s *Store) allowAllSlots(ctx context.Context, c rueidis.Client, now string, charges []floodgate.Charge, limits [][]limit.Limit, stop int, stopD limit.Decision, groups [][]int) (limit.Decision, int, error) {
	commit := stop == len(charges)
	calls := make([]scriptCall, len(groups))
	for g, idx := range groups {
		calls[g] = s.allCall(now, charges, limits, idx, commit)
	}
	budget, cancel := s.budget(ctx)
	replies := s.execMulti(budget, c, s.script, calls)
	cancel()
	ds := make([]limit.Decision, stop)
	failAt, failErr := -1, error(nil)
	counted := make([]bool, len(groups))
	for g, idx := range groups {
		s.observe(c, budget, replies[g].Error())
		if err := s.decodeAll(ctx, replies[g], ds, charges, limits, idx, commit); err != nil {
			if failAt < 0 || idx[0] < failAt {
				failAt, failErr = idx[0], err
			}
			continue
		}
		counted[g] = commit && !slices.ContainsFunc(idx, func(i int) bool { return !ds[i].Allowed })
	}
	d, at, err := combine(ds, stop < len(charges), stopD)
	if failAt >= 0 {
		d, at, err = limit.Decision{Limit: limits[failAt][0], RetryAfter: limit.Never}, failAt, failErr
	}
	if d.Allowed {
		return d, at, err
	}
	var refunds []scriptCall
	for g, idx := range groups {
		if !counted[g] {
			continue
		}
		for _, i := range idx {
			keys := make([]string, len(limits[i]))
			for j, l := range limits[i] {
				keys[j] = s.key(charges[i].Key, l)
			}
			refunds = append(refunds, scriptCall{keys, s.singleArgs(nil, now, charges[i].N, true, limits[i])})
		}
	}
	if len(refunds) == 0 {
		return d, at, err
	}
	// Refunds run even when ctx has ended, as AllowEach's do, so that a
	// hung-up caller leaves nothing counted that it was denied.
	rctx := context.WithoutCancel(ctx)
	budget, cancel = s.budget(rctx)
	replies = s.execMulti(budget, c, refundLua, refunds)
	cancel()
	for _, r := range replies {
		s.observe(c, budget, r.Error())
		if e := r.Error(); e != nil {
			// The charge stays counted: say so.
			err = errors.Join(err, failed(rctx, e))
		}
	}
	return d, at, err
}

// scriptSHA returns the SHA-1 of the scripts that execMulti sends, made
// on first use: a program that never calls AllowAll on a cluster with
// charges in several slots never hashes them.
var scriptSHA = sync.OnceValue(func() map[*rueidis.Lua]string {
	return map[*rueidis.Lua]string{
		windowLua: sha1Hex(windowBatch), gcraLua: sha1Hex(gcraBatch), movingLua: sha1Hex(movingBatch),
		refundLua: sha1Hex(refundScript),
	}
})

func sha1Hex(src string) string {
	sum := sha1.Sum([]byte(src))
	return hex.EncodeToString(sum[:])
}

// execMulti makes the calls of script at once, by EVALSHA: on a cluster
// rueidis sends each to its slot's master, the masters concurrently, and
// a master's calls in one write. A call answered NOSCRIPT (the script's
// first on that master) goes again by script.Exec, which sends the
// script.
func (s *Store) execMulti(ctx context.Context, c rueidis.Client, script *rueidis.Lua, calls []scriptCall) []rueidis.RedisResult {
	sha := scriptSHA()[script]
	cmds := make(rueidis.Commands, len(calls))
	for i, k := range calls {
		cmds[i] = c.B().Evalsha().Sha1(sha).Numkeys(int64(len(k.keys))).Key(k.keys...).Arg(k.args...).Build()
	}
	replies := c.DoMulti(ctx, cmds...)
	for i, r := range replies {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() {
			replies[i] = script.Exec(ctx, c, calls[i].keys, calls[i].args)
		}
	}
	return replies
}
