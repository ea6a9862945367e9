package redisstore

import (
	"context"
	"strconv"

	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// refundLua runs lua/refund.lua, which mirrors the engine's refund.
var refundLua = rueidis.NewLuaScript(refundScript)

// Refund gives back n units of key's most recent usage under each of
// limits, as engine.Engine.Refund does in memory (see lua/refund.lua): for
// the all-or-nothing decisions across keys of AllowAll (which undoes the
// charges counted before a denial, floodgate.AllowEach), and for
// middleware that counts a request only when its response says so. It
// fails like AllowN.
func (s *Store) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	return s.refund(ctx, testNow(ctx), key, n, limits)
}

func (s *Store) refund(ctx context.Context, now, key string, n int64, limits []limit.Limit) error {
	if n < 1 {
		return nil
	}
	j := 0
	for j < len(limits) && limits[j].Valid() {
		j++
	}
	ls := dedup(limits[:j])
	if len(ls) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, len(ls))
	args := make([]string, 4, 4+len(ls))
	args[0], args[1], args[2], args[3] = strconv.FormatInt(n, 10), "1", s.tag, now
	for i, l := range ls {
		keys[i] = s.key(key, l)
		args = append(args, s.limitArg(l))
	}
	if s.cfg.evaler != nil {
		_, err := s.evalVia(ctx, refundScript, keys, args)
		return err
	}
	budget, cancel := s.budget(ctx)
	defer cancel()
	if err := refundLua.Exec(budget, c, keys, args).Error(); err != nil {
		return failed(ctx, err)
	}
	return nil
}
