package limit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

func TestParseAccepts(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in     string
		count  int64
		period time.Duration
		canon  string
	}{
		{"5/minute", 5, time.Minute, "5/minute"},
		{"5 per minute", 5, time.Minute, "5/minute"},
		{"5 PER MINUTE", 5, time.Minute, "5/minute"},
		{"100/hour", 100, time.Hour, "100/hour"},
		{"1/2 seconds", 1, 2 * time.Second, "1/2 seconds"},
		{"5/10minutes", 5, 10 * time.Minute, "5/10 minutes"},
		{"  3/hour  ", 3, time.Hour, "3/hour"},
		{"2/days", 2, day, "2/day"},
		{"7/month", 7, 30 * day, "7/month"},
		{"7/years", 7, 360 * day, "7/year"},
		{"1/60 seconds", 1, time.Minute, "1/minute"},
		{"9007199254740991/second", limit.MaxCount, time.Second, "9007199254740991/second"},
		{"1000000000/month", 1_000_000_000, 30 * day, "1000000000/month"},
		{"536870912/second", 1 << 29, time.Second, "536870912/second"},
		{"1/10 years", 1, limit.MaxPeriod, "1/10 years"},
		{"10 / Second", 10, time.Second, "10/second"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, err := limit.Parse(tc.in)
			require.NoError(t, err, "Parse(%q)", tc.in)
			assert.Equal(t, tc.count, l.Count(), "Parse(%q).Count()", tc.in)
			assert.Equal(t, tc.period, l.Period(), "Parse(%q).Period()", tc.in)
			assert.Equal(t, tc.canon, l.String(), "Parse(%q).String()", tc.in)
			back, err := limit.Parse(l.String())
			require.NoError(t, err, "Parse(%q) of the canonical form", l.String())
			assert.Equal(t, l, back, "round trip of %q", tc.in)
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
		part string // the error must quote this part of the input
	}{
		{"1/sec", limit.ErrInvalid, "sec"},
		{"1/week", limit.ErrInvalid, "week"},
		{"1.5/second", limit.ErrInvalid, "1.5/second"},
		{"-1/second", limit.ErrInvalid, "-1/second"},
		{"0/second", limit.ErrInvalid, "0"},
		{"1/0 seconds", limit.ErrInvalid, "0"},
		{"1/second 2/minute", limit.ErrInvalid, "second 2/minute"},
		{"meow", limit.ErrInvalid, "meow"},
		{"", limit.ErrInvalid, "empty"},
		{"   ", limit.ErrInvalid, "empty"},
		{"9007199254740992/second", limit.ErrInvalid, "9007199254740992"},
		{"99999999999999999999999/second", limit.ErrInvalid, "99999999999999999999999"},
		{"1/11 years", limit.ErrInvalid, "1/11 years"},
		{"1/99999999999999999999 days", limit.ErrInvalid, "99999999999999999999"},
		{"5 minute", limit.ErrInvalid, "5 minute"},
		{"5/", limit.ErrInvalid, `""`},
		{"/minute", limit.ErrInvalid, "/minute"},
		{"1/second;2/minute", limit.ErrInvalid, "several"},
		{"5/s", limit.ErrInvalid, `"s"`},
		{"5/ſecond", limit.ErrInvalid, "ſecond"},
		{"5 Ker minute", limit.ErrInvalid, "minute"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, err := limit.Parse(tc.in)
			require.Error(t, err, "Parse(%q) = %v, want an error", tc.in, l)
			assert.ErrorIs(t, err, tc.want, "Parse(%q)", tc.in)
			assert.Contains(t, err.Error(), tc.part, "Parse(%q) error should name the offending part", tc.in)
			assert.True(t, strings.HasPrefix(err.Error(), "limit: "), "error %q should start with the package name", err)
		})
	}
}

func TestParseMany(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // canonical, or "" when an error is wanted
	}{
		{"10/second;1000/day", "10/second;1000/day"},
		{"100/day, 500/7days", "100/day;500/7 days"},
		{"1/second|2/minute", "1/second;2/minute"},
		{"5/minute", "5/minute"},
		{"1/second;", ""},
		{"1/second;;2/minute", ""},
		{";", ""},
		{"", ""},
		{"1/second 2/minute", ""},
		{"1/second;meow", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			ls, err := limit.ParseMany(tc.in)
			if tc.want == "" {
				require.Error(t, err, "ParseMany(%q) = %v, want an error", tc.in, ls)
				assert.ErrorIs(t, err, limit.ErrInvalid)
				return
			}
			require.NoError(t, err, "ParseMany(%q)", tc.in)
			parts := make([]string, len(ls))
			for i, l := range ls {
				parts[i] = l.String()
			}
			assert.Equal(t, tc.want, strings.Join(parts, ";"))
		})
	}
}

func TestConstructors(t *testing.T) {
	assert.Equal(t, limit.MustParse("3/second"), limit.PerSecond(3))
	assert.Equal(t, limit.MustParse("3/minute"), limit.PerMinute(3))
	assert.Equal(t, limit.MustParse("3/hour"), limit.PerHour(3))
	assert.Equal(t, limit.MustParse("3/day"), limit.PerDay(3))
	assert.Equal(t, "3 per 1 day", limit.PerDay(3).Human())
	assert.Equal(t, "500 per 7 days", limit.MustParse("500/7 days").Human())
	assert.Panics(t, func() { limit.PerSecond(0) }, "PerSecond(0)")
	assert.Panics(t, func() { limit.MustParse("meow") }, "MustParse(meow)")

	for _, tc := range []struct {
		count  int64
		period time.Duration
		want   error
	}{
		{0, time.Second, limit.ErrInvalid},
		{-3, time.Second, limit.ErrInvalid},
		{limit.MaxCount + 1, time.Second, limit.ErrInvalid},
		{1, 0, limit.ErrInvalid},
		{1, -time.Second, limit.ErrInvalid},
		{1, time.Millisecond - 1, limit.ErrInvalid},
		{1, 500 * time.Microsecond, limit.ErrInvalid},
		{1, 100*time.Millisecond + time.Microsecond, limit.ErrInvalid},
		{1, 1500*time.Millisecond + 1, limit.ErrInvalid},
		{1, limit.MaxPeriod + time.Second, limit.ErrInvalid},
	} {
		_, err := limit.New(tc.count, tc.period)
		assert.True(t, errors.Is(err, tc.want), "New(%d, %v) = %v, want %v", tc.count, tc.period, err, tc.want)
	}
}

func TestSubSecondPeriods(t *testing.T) {
	for _, tc := range []struct {
		count  int64
		period time.Duration
		str    string
		human  string
	}{
		{10, 100 * time.Millisecond, "10/100ms", "10 per 100ms"},
		{5, 500 * time.Millisecond, "5/500ms", "5 per 500ms"},
		{1, time.Millisecond, "1/1ms", "1 per 1ms"},
		{limit.MaxCount, time.Millisecond, "9007199254740991/1ms", "9007199254740991 per 1ms"},
		{3, 1500 * time.Millisecond, "3/1.5s", "3 per 1.5s"},
		{2, time.Minute + time.Millisecond, "2/1m0.001s", "2 per 1m0.001s"},
		{1, limit.MaxPeriod - time.Millisecond, "1/86399h59m59.999s", "1 per 86399h59m59.999s"},
	} {
		t.Run(tc.str, func(t *testing.T) {
			l, err := limit.New(tc.count, tc.period)
			require.NoError(t, err, "New(%d, %v)", tc.count, tc.period)
			assert.True(t, l.Valid(), "New(%d, %v).Valid()", tc.count, tc.period)
			assert.Equal(t, tc.count, l.Count(), "New(%d, %v).Count()", tc.count, tc.period)
			assert.Equal(t, tc.period, l.Period(), "New(%d, %v).Period()", tc.count, tc.period)
			assert.Equal(t, tc.str, l.String(), "New(%d, %v).String()", tc.count, tc.period)
			assert.Equal(t, tc.human, l.Human(), "New(%d, %v).Human()", tc.count, tc.period)
			_, err = limit.Parse(l.String())
			assert.ErrorIs(t, err, limit.ErrInvalid, "Parse(%q): the grammar has no sub-second units", l.String())
		})
	}
	// Whole seconds built from milliseconds are the same limit as parsed.
	l, err := limit.New(7, 60000*time.Millisecond)
	require.NoError(t, err, "New(7, 60000ms)")
	assert.Equal(t, limit.PerMinute(7), l, "New(7, 60000ms)")
}

func TestZeroLimit(t *testing.T) {
	var l limit.Limit
	assert.False(t, l.Valid())
	assert.Equal(t, "invalid", l.String())
	assert.Equal(t, "invalid", l.Human())
	assert.True(t, limit.PerSecond(1).Valid())
}

func TestStrategyNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		want limit.Strategy
		ok   bool
	}{
		// Ours, as printed by String.
		{"sliding-window", limit.SlidingWindow, true},
		{"fixed-window", limit.FixedWindow, true},
		{"gcra", limit.GCRA, true},
		{"moving-window", limit.MovingWindow, true},
		// The Python limits library's.
		{"sliding-window-counter", limit.SlidingWindow, true},
		// Unknown.
		{"leaky", 0, false},
		{"", 0, false},
		{"unknown", 0, false},
		{"Sliding-Window", 0, false},
		{"sliding_window", 0, false},
		{" gcra", 0, false},
		{"fixed-window-elastic-expiry", 0, false},
		{"sliding-window-counter ", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := limit.ParseStrategy(tc.name)
			assert.Equal(t, tc.ok, ok, "ParseStrategy(%q) ok", tc.name)
			assert.Equal(t, tc.want, got, "ParseStrategy(%q) = %v, want %v", tc.name, got, tc.want)
		})
	}
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("roundtrip="+s.String(), func(t *testing.T) {
			got, ok := limit.ParseStrategy(s.String())
			assert.True(t, ok, "ParseStrategy(%q) ok", s)
			assert.Equal(t, s, got, "ParseStrategy(%q)", s)
		})
	}
	assert.Equal(t, "unknown", limit.Strategy(200).String(), "Strategy(200).String()")
}

func TestWithBurst(t *testing.T) {
	big := limit.PerDay(limit.MaxCount)
	for _, tc := range []struct {
		name  string
		l     limit.Limit
		b     int64
		want  int64 // Burst() of the result; 0 when an error is wanted
		equal bool  // the result equals l (a burst of Count is the default)
	}{
		{"small burst", limit.PerSecond(10), 20, 20, false},
		{"burst of the count", limit.PerSecond(10), 10, 10, true},
		{"max burst on a small count", limit.PerSecond(1), limit.MaxCount, limit.MaxCount, false},
		{"large count, small burst", big, 1, 1, false},
		{"large count, its own burst", big, limit.MaxCount, limit.MaxCount, true},
		{"above MaxCount", limit.PerSecond(10), limit.MaxCount + 1, 0, false},
		{"zero", limit.PerSecond(10), 0, 0, false},
		{"negative", limit.PerSecond(10), -1, 0, false},
		{"zero Limit", limit.Limit{}, 5, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.WithBurst(tc.b)
			if tc.want == 0 {
				assert.ErrorIs(t, err, limit.ErrInvalid, "%v.WithBurst(%d)", tc.l, tc.b)
				return
			}
			require.NoError(t, err, "%v.WithBurst(%d)", tc.l, tc.b)
			assert.Equal(t, tc.want, got.Burst(), "%v.WithBurst(%d).Burst()", tc.l, tc.b)
			assert.Equal(t, tc.l.Count(), got.Count(), "%v.WithBurst(%d).Count()", tc.l, tc.b)
			assert.Equal(t, tc.equal, got == tc.l, "%v.WithBurst(%d) == %v", tc.l, tc.b, tc.l)
		})
	}
}
