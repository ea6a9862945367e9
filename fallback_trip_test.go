package floodgate_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errFlaky is the failure of a flaky primary.
var errFlaky = fmt.Errorf("%w: flaky primary failed on demand", floodgate.ErrUnavailable)

// flaky is a primary Store that fails on demand: while fail is set its
// calls return errFlaky, and a call whose ctx has ended returns
// ctx.Err(), as a network store does. It counts the calls it is asked.
type flaky struct {
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *flaky) answer(ctx context.Context, limits []limit.Limit) (limit.Decision, error) {
	f.calls.Add(1)
	d := limit.Decision{RetryAfter: limit.Never}
	if len(limits) > 0 {
		d.Limit = limits[0]
	}
	if err := ctx.Err(); err != nil {
		return d, err
	}
	if f.fail.Load() {
		return d, errFlaky
	}
	return limit.Decision{Allowed: true, Limit: d.Limit}, nil
}

func (f *flaky) AllowN(ctx context.Context, _ string, _ int64, limits ...limit.Limit) (limit.Decision, error) {
	return f.answer(ctx, limits)
}

func (f *flaky) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, f, charges...)
}

func (f *flaky) Peek(ctx context.Context, _ string, limits ...limit.Limit) (limit.Decision, error) {
	return f.answer(ctx, limits)
}

func (f *flaky) Refund(ctx context.Context, _ string, _ int64, limits ...limit.Limit) error {
	_, err := f.answer(ctx, limits)
	return err
}

func (f *flaky) Reset(ctx context.Context, _ string, limits ...limit.Limit) error {
	_, err := f.answer(ctx, limits)
	return err
}

func (f *flaky) Info() floodgate.Info {
	return floodgate.Info{Kind: "flaky", Strategy: limit.GCRA, Up: true}
}

func (f *flaky) Close() error { return nil }

// outcome is what the flaky primary does with one call of a trip table.
type outcome int

const (
	succeeds  outcome = iota // the primary answers
	fails                    // the primary fails with errFlaky
	cancelled                // the caller's ctx has ended (the primary would fail too)
)

func (o outcome) String() string { return [...]string{"succeeds", "fails", "cancelled"}[o] }

// tripStep is one AllowN of a trip table: at a clock offset, what the
// primary does if asked, whether the fallback asked it, and whether Info
// reports it up afterwards.
type tripStep struct {
	at    time.Duration
	call  outcome
	tried bool
	up    bool
}

// TestFallbackTrip checks NewFallback's trip rule on a manual clock with
// a primary that fails on demand: at least 3 failures within one
// backoff, and failures at least 80% of the calls of that window and the
// one before it, mark the primary down; then one call per backoff probes
// it, and a success marks it up; a window that ended more than two
// backoffs ago is forgotten; a caller's cancellation never counts. Each
// change of state is one log line (Warn down, Info up) and one
// ObserveHealth call.
func TestFallbackTrip(t *testing.T) {
	const B = time.Second // the backoff
	l := limit.PerMinute(5)
	for _, tc := range []struct {
		name   string
		steps  []tripStep
		health []bool // the Up of each ObserveHealth call, in order
	}{
		{"three-failures-trip-then-one-probe-per-backoff", []tripStep{
			{0, fails, true, true},
			{0, fails, true, true},
			{0, fails, true, false},
			// Down: the policy answers without asking, until the backoff
			// has passed; then one call probes.
			{0, succeeds, false, false},
			{B - 1, succeeds, false, false},
			{B, fails, true, false},
			{B, succeeds, false, false},
			{2*B - 1, succeeds, false, false},
			{2 * B, succeeds, true, true},
			{2 * B, succeeds, true, true},
		}, []bool{false, true}},
		{"two-failures-per-backoff-never-trip", []tripStep{
			// Every call fails, but no window holds three.
			{0, fails, true, true},
			{B / 2, fails, true, true},
			{B + B/10, fails, true, true},
			{B + 6*B/10, fails, true, true},
			{2*B + 2*B/10, fails, true, true},
			{2*B + 7*B/10, fails, true, true},
		}, nil},
		{"share-below-80-percent", []tripStep{
			{0, succeeds, true, true},
			{0, fails, true, true},
			{0, fails, true, true},
			{0, fails, true, true},  // 3 of 4: 75%
			{0, fails, true, false}, // 4 of 5: 80%
		}, []bool{false}},
		{"previous-window-weighs", []tripStep{
			{0, succeeds, true, true},
			// A new window; the one before had one success.
			{3 * B / 2, fails, true, true},
			{3 * B / 2, fails, true, true},
			{3 * B / 2, fails, true, true},  // 3 of 4
			{3 * B / 2, fails, true, false}, // 4 of 5
		}, []bool{false}},
		{"window-two-backoffs-old-still-weighs", []tripStep{
			{0, succeeds, true, true},
			{2 * B, fails, true, true},
			{2 * B, fails, true, true},
			{2 * B, fails, true, true}, // 3 of 4
		}, nil},
		{"window-over-two-backoffs-old-is-forgotten", []tripStep{
			{0, succeeds, true, true},
			{2*B + 1, fails, true, true},
			{2*B + 1, fails, true, true},
			{2*B + 1, fails, true, false}, // 3 of 3
		}, []bool{false}},
		{"cancellations-never-count", []tripStep{
			{0, cancelled, true, true},
			{0, cancelled, true, true},
			{0, cancelled, true, true},
			{0, cancelled, true, true},
			{0, fails, true, true},
			{0, fails, true, true},
			// Three of three: the cancelled calls count neither as
			// failures nor as calls.
			{0, fails, true, false},
		}, []bool{false}},
		{"cancelled-probe-keeps-it-down", []tripStep{
			{0, fails, true, true},
			{0, fails, true, true},
			{0, fails, true, false},
			{B, cancelled, true, false}, // the probe of this backoff
			{B, succeeds, false, false},
			{2 * B, succeeds, true, true},
		}, []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Hour
			clk := clock.NewManual(start)
			p := &flaky{}
			logs := &logLines{}
			obs := &observations{}
			var hooked atomic.Int64
			st := floodgate.NewFallback(p, floodgate.FallbackConfig{
				Policy: floodgate.FailClosed, Backoff: B, Logger: slog.New(logs), Observer: obs, Clock: clk,
				OnError: func(err error) {
					hooked.Add(1)
					assert.ErrorIs(t, err, floodgate.ErrStorage, "the error hook's error")
				},
			})
			t.Cleanup(func() { st.Close() })
			policy := int64(0)
			for i, sp := range tc.steps {
				clk.Set(start + sp.at)
				p.fail.Store(sp.call != succeeds)
				ctx := context.Background()
				if sp.call == cancelled {
					c, cancel := context.WithCancel(ctx)
					cancel()
					ctx = c
				}
				before := p.calls.Load()
				d, err := st.AllowN(ctx, "k", 1, l)
				what := fmt.Sprintf("step %d: AllowN at +%v, primary %v", i, sp.at, sp.call)
				assert.Equal(t, sp.tried, p.calls.Load() > before, "%s: asked the primary", what)
				assert.Equal(t, sp.up, st.Info().Up, "%s: Info().Up afterwards", what)
				switch {
				case !sp.tried:
					policy++
					assert.ErrorIs(t, err, floodgate.ErrStorage, "%s: answered by the policy", what)
					assert.ErrorIs(t, err, floodgate.ErrUnavailable, "%s", what)
					assert.NotErrorIs(t, err, errFlaky, "%s: the primary was not asked", what)
					assert.Equal(t, limit.Decision{Limit: l, RetryAfter: B}, d, "%s: fail closed", what)
				case sp.call == succeeds:
					assert.NoError(t, err, "%s", what)
					assert.True(t, d.Allowed, "%s: the primary's answer", what)
				case sp.call == fails:
					policy++
					assert.ErrorIs(t, err, floodgate.ErrStorage, "%s: answered by the policy", what)
					assert.ErrorIs(t, err, errFlaky, "%s: the primary's failure", what)
					assert.Equal(t, limit.Decision{Limit: l, RetryAfter: B}, d, "%s: fail closed", what)
				case sp.call == cancelled:
					assert.ErrorIs(t, err, context.Canceled, "%s", what)
					assert.NotErrorIs(t, err, floodgate.ErrStorage, "%s: a cancellation is never the policy's", what)
					assert.Equal(t, limit.Decision{Limit: l, RetryAfter: limit.Never}, d, "%s: the primary's Decision", what)
				}
			}
			assert.Equal(t, policy, hooked.Load(), "calls handed to the error hook")

			_, health := obs.snapshot()
			var levels []string
			for i, h := range health {
				require.Less(t, i, len(tc.health), "ObserveHealth calls: %+v, want Up %v", health, tc.health)
				assert.Equal(t, tc.health[i], h.Up, "ObserveHealth call %d: %+v", i, h)
				assert.Equal(t, "flaky", h.Store, "ObserveHealth call %d: Store", i)
				assert.Equal(t, floodgate.FailClosed, h.Policy, "ObserveHealth call %d: Policy", i)
				if h.Up {
					assert.NoError(t, h.Err, "ObserveHealth call %d: Up", i)
					levels = append(levels, "INFO")
				} else {
					assert.ErrorIs(t, h.Err, errFlaky, "ObserveHealth call %d: the failure that marked it down", i)
					levels = append(levels, "WARN")
				}
			}
			assert.Len(t, health, len(tc.health), "ObserveHealth calls: %+v", health)
			var got []string
			for _, line := range logs.all() {
				level, _, _ := strings.Cut(line, " ")
				got = append(got, level)
			}
			assert.Equal(t, levels, got, "log lines, one per change of state: %q", logs.all())
		})
	}
}
