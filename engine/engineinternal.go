package engine

import (
	"time"

	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/internal/kv"
	"github.com/floodgate-go/floodgate/limit"
)

// init hands the calls that only this module's adapters, benchmarks and
// tests use to internal/engineinternal.
func init() {
	engineinternal.NewKV = func(opts any) *kv.KV {
		c := config{every: 10 * time.Second}
		for _, o := range opts.([]Option) {
			o.apply(&c)
		}
		return kv.New(kv.Config{Clock: c.clk, MaxKeys: c.maxKeys, Shards: c.shards, Every: c.every, Full: ErrFull})
	}
	engineinternal.SweepAt = func(e any, now time.Duration) int {
		return e.(*Engine).sweepAt(now)
	}
	engineinternal.CountsAt = func(e any, now time.Duration, key string, l limit.Limit) (cur, prev int64) {
		return e.(*Engine).countsAt(now, key, l)
	}
	engineinternal.AddAt = func(e any, now time.Duration, key string, n int64, l limit.Limit) bool {
		return e.(*Engine).addAt(now, key, n, l)
	}
	engineinternal.RefundAt = func(e any, now time.Duration, key string, n int64, limits ...limit.Limit) {
		e.(*Engine).refundAt(now, key, n, limits...)
	}
}
