package redisstore

import (
	"context"
	"math"

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
// slots of a cluster, charges that name one Redis key twice (the same
// key under the same limit), and a store with an Evaler are decided
// charge by charge with refunds (floodgate.AllowEach): one round trip
// per charge and one per refund, with the refund window that
// floodgate.AllowEach describes. It fails like AllowN: when the one call
// fails, the Decision denies, the index is the first charge that needed
// Redis, and nothing was counted.
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
	first := -1 // the first charge that needs Redis
	for i := range stop {
		if len(limits[i]) > 0 {
			first = i
			break
		}
	}
	if first < 0 {
		return combine(make([]limit.Decision, stop), stop < len(charges), stopD)
	}
	if err := ctx.Err(); err != nil {
		return limit.Decision{Limit: limits[first][0], RetryAfter: limit.Never}, first, err
	}
	c, err := s.conn(ctx)
	if err != nil {
		return limit.Decision{Limit: limits[first][0], RetryAfter: limit.Never}, first, err
	}
	var ls []limit.Limit
	for i := range stop {
		ls = addLimits(ls, limits[i])
	}
	keys := make([]string, 0, 2*stop)
	args := s.header(make([]string, 0, 3+3*len(ls)+5*stop), "a", ls)
	commit := stop == len(charges)
	for i := range stop {
		for _, l := range limits[i] {
			keys = append(keys, s.key(charges[i].Key, l))
		}
		if len(limits[i]) > 0 {
			args = appendRun(args, ls, 1, now, charges[i].N, commit, limits[i])
		}
	}
	if s.cfg.evaler != nil || repeats(keys) || !oneSlot(c, charges[:stop], limits) {
		return floodgate.AllowEach(ctx, s, charges...)
	}
	budget, cancel := s.budget(ctx)
	reply := s.script.Exec(budget, c, keys, args)
	cancel()
	s.observe(c, budget, reply.Error())
	fail := func(err error) (limit.Decision, int, error) {
		return limit.Decision{Limit: limits[first][0], RetryAfter: limit.Never}, first, err
	}
	arr, err := reply.ToArray()
	if err != nil {
		return fail(failed(ctx, err))
	}
	ds := make([]limit.Decision, stop)
	buf := make([]int64, 0, 16)
	for i := range stop {
		if len(limits[i]) == 0 {
			continue // allowed, Remaining 0
		}
		// When a charge denies, the others that fit were looked at, not
		// counted; only the first denial's Decision is used then.
		var used int
		ds[i], used, err = s.section(arr, buf[:0], charges[i].N, commit, limits[i], false)
		if err != nil {
			return fail(failedIn(ctx, err))
		}
		arr = arr[used:]
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

// oneSlot reports whether one script call on c may take the keys of
// every charge that has limits: always on a single Redis, when they
// share a hash slot on a cluster.
func oneSlot(c rueidis.Client, charges []floodgate.Charge, limits [][]limit.Limit) bool {
	if c.Mode() != rueidis.ClientModeCluster {
		return true
	}
	slot := -1
	for i, ch := range charges {
		if len(limits[i]) == 0 {
			continue
		}
		sl := int(crc16(hashTag(ch.Key)) & 16383)
		if slot >= 0 && sl != slot {
			return false
		}
		slot = sl
	}
	return true
}
