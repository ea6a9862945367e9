package engineinternal

import (
	"time"

	"github.com/floodgate-go/floodgate/internal/kv"
	"github.com/floodgate-go/floodgate/limit"
)

var (
	// NewKV returns a kv.KV built from opts, an []engine.Option, and
	// starts its sweeper: WithClock, WithMaxKeys, WithShards and
	// WithSweepInterval apply, and SetIfAbsent of a new key at the cap
	// returns engine.ErrFull.
	NewKV func(opts any) *kv.KV

	// SweepAt evicts the (key, limit) pairs of e that are idle at time
	// now, as the background sweeper does at its clock reading, and
	// returns how many it evicted.
	SweepAt func(e any, now time.Duration) int

	// CountsAt returns the units counted for key under l in window
	// ⌊now/P⌋ of l's period P (cur) and in the window before it (prev):
	// the read half of a counter that decides elsewhere, such as
	// github.com/go-chi/httprate's LimitCounter. See engine's counts.go.
	CountsAt func(e any, now time.Duration, key string, l limit.Limit) (cur, prev int64)

	// AddAt counts n units of key under l in the window containing now,
	// whether or not they fit, and reports whether it counted them: the
	// write half of such a counter. See engine's counts.go.
	AddAt func(e any, now time.Duration, key string, n int64, l limit.Limit) bool

	// RefundAt is Engine.Refund at time now instead of the clock's
	// reading: the window strategies take n off the window containing
	// now.
	RefundAt func(e any, now time.Duration, key string, n int64, limits ...limit.Limit)
)
