package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEvaler records the calls of a store and answers with reply and err;
// during, when set, runs inside each call.
type fakeEvaler struct {
	mu     sync.Mutex
	calls  []string // "eval <script length> <keys>", "refund <keys>" or "del <keys>"
	ctxs   []context.Context
	reply  []int64
	err    error
	during func()
}

func (f *fakeEvaler) record(call string, ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.ctxs = append(f.ctxs, ctx)
	if f.during != nil {
		f.during()
	}
}

func (f *fakeEvaler) Eval(ctx context.Context, script string, keys, args []string) ([]int64, error) {
	call := fmt.Sprintf("eval %d %v", len(script), keys)
	if strings.Contains(script, "-- The refund script, for Store.Refund") {
		call = fmt.Sprintf("refund %v", keys) // lua/refund.lua's header
	}
	f.record(call, ctx)
	return f.reply, f.err
}

func (f *fakeEvaler) Del(ctx context.Context, keys ...string) error {
	f.record(fmt.Sprintf("del %v", keys), ctx)
	return f.err
}

type ctxKey struct{}

// TestEvaler: a store WithEvaler never dials (the URI's port is closed),
// runs everything through the Evaler with its own budget, and classifies
// the Evaler's errors.
func TestEvaler(t *testing.T) {
	l := limit.PerMinute(5)
	open := func(t *testing.T, f *fakeEvaler) *redisstore.Store {
		t.Helper()
		s, err := redisstore.Open("redis://127.0.0.1:1", redisstore.WithEvaler(f), redisstore.WithPrefix("p:"), redisstore.WithTimeout(time.Second))
		require.NoError(t, err, "Open with WithEvaler")
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	t.Run("calls", func(t *testing.T) {
		f := &fakeEvaler{err: errors.New("boom")}
		s := open(t, f)
		ctx := context.WithValue(context.Background(), ctxKey{}, "v")
		before := time.Now()
		_, _ = s.AllowN(ctx, "u", 1, l)
		_ = s.Refund(ctx, "u", 1, l)
		_ = s.Reset(ctx, "u", l)
		after := time.Now()
		require.Len(t, f.calls, 3, "Evaler calls for AllowN, Refund, Reset: %q", f.calls)
		assert.Regexp(t, `^eval \d+ \[p:\{u\}:s:5/60\]$`, f.calls[0], "AllowN's Evaler call")
		assert.Equal(t, "refund [p:{u}:s:5/60]", f.calls[1], "Refund's Evaler call")
		assert.Equal(t, "del [p:{u}:s:5/60]", f.calls[2], "Reset's Evaler call")
		for i, c := range f.ctxs {
			dl, ok := c.Deadline()
			assert.True(t, ok, "call %d's context has no deadline, want the store's budget", i)
			// The budget's deadline is its timeout after a call made
			// between before and after (a fresh store has no older one).
			assert.WithinRange(t, dl, before.Add(time.Second), after.Add(time.Second), "call %d's deadline, want the 1s budget", i)
			assert.Equal(t, "v", c.Value(ctxKey{}), "call %d's context lost the caller's value", i)
		}
	})
	for _, tc := range []struct {
		name string
		err  error
		want error
		not  error
	}{
		{"reply", fmt.Errorf("client: %w: WRONGTYPE", redisstore.ErrReply), redisstore.ErrReply, floodgate.ErrUnavailable},
		{"io", errors.New("client: connection refused"), floodgate.ErrUnavailable, redisstore.ErrReply},
		{"budget", context.DeadlineExceeded, floodgate.ErrUnavailable, redisstore.ErrReply},
	} {
		t.Run("error="+tc.name, func(t *testing.T) {
			s := open(t, &fakeEvaler{err: tc.err})
			d, err := s.AllowN(context.Background(), "u", 1, l)
			assert.ErrorIs(t, err, tc.want, "AllowN when the Evaler fails with %v: got %v", tc.err, err)
			assert.NotErrorIs(t, err, tc.not, "AllowN when the Evaler fails with %v: got %v", tc.err, err)
			assert.False(t, d.Allowed, "AllowN when the Evaler fails = %+v, want denied", d)
			assert.ErrorIs(t, s.Refund(context.Background(), "u", 1, l), tc.want, "Refund when the Evaler fails with %v", tc.err)
			assert.ErrorIs(t, s.Reset(context.Background(), "u", l), tc.want, "Reset when the Evaler fails with %v", tc.err)
		})
	}
	t.Run("malformed reply", func(t *testing.T) {
		s := open(t, &fakeEvaler{reply: []int64{1}})
		_, err := s.AllowN(context.Background(), "u", 1, l)
		assert.ErrorIs(t, err, redisstore.ErrReply, "AllowN when the Evaler replies [1]: got %v", err)
	})
	t.Run("caller cancels during the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := &fakeEvaler{err: errors.New("client: closed"), during: cancel}
		s := open(t, f)
		_, err := s.AllowN(ctx, "u", 1, l)
		assert.ErrorIs(t, err, context.Canceled, "AllowN whose caller cancels mid-call: got %v", err)
		require.Len(t, f.ctxs, 1, "Evaler calls")
		assert.NoError(t, f.ctxs[0].Err(), "the Evaler's context was cancelled with the caller's")
	})
	t.Run("closed", func(t *testing.T) {
		f := &fakeEvaler{}
		s := open(t, f)
		require.NoError(t, s.Close(), "Close")
		_, err := s.AllowN(context.Background(), "u", 1, l)
		assert.ErrorIs(t, err, floodgate.ErrClosed, "AllowN after Close")
		assert.Empty(t, f.calls, "Evaler calls after Close")
	})
	t.Run("with WithClient", func(t *testing.T) {
		_, err := redisstore.Open("redis://localhost", redisstore.WithEvaler(&fakeEvaler{}), redisstore.WithClient(struct{ rueidis.Client }{}))
		assert.ErrorIs(t, err, floodgate.ErrURI, "Open with both WithEvaler and WithClient")
	})
}
