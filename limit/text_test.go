package limit_test

import (
	"encoding"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

var (
	_ encoding.TextMarshaler   = limit.Limit{}
	_ encoding.TextUnmarshaler = (*limit.Limit)(nil)
)

func TestTextRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    limit.Limit
		text string
	}{
		{"per second", limit.PerSecond(10), "10/second"},
		{"per minute", limit.PerMinute(5), "5/minute"},
		{"multiplier", limit.MustParse("1/2 seconds"), "1/2 seconds"},
		{"week", limit.MustParse("500/7 days"), "500/7 days"},
		{"month", limit.MustParse("7/month"), "7/month"},
		{"max count", limit.PerSecond(limit.MaxCount), "9007199254740991/second"},
		{"max period", limit.MustParse("1/10 years"), "1/10 years"},
		{"whole seconds from New", mustNew(t, 100, 90*time.Second), "100/90 seconds"},
		{"burst equal to count", mustBurst(t, limit.PerMinute(5), 5), "5/minute"},
		{"zero", limit.Limit{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := tc.l.MarshalText()
			require.NoError(t, err, "%#v.MarshalText()", tc.l)
			assert.Equal(t, tc.text, string(text), "%#v.MarshalText()", tc.l)
			if tc.l.Valid() {
				assert.Equal(t, tc.l.String(), string(text), "MarshalText is the canonical String")
			}
			got := limit.PerDay(1) // UnmarshalText must overwrite it
			require.NoError(t, got.UnmarshalText(text), "UnmarshalText(%q)", text)
			assert.Equal(t, tc.l, got, "UnmarshalText(%q)", text)
		})
	}
}

func TestUnmarshalTextAcceptsTheGrammar(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want limit.Limit
	}{
		{"5 per minute", limit.PerMinute(5)},
		{"  10 / Second ", limit.PerSecond(10)},
		{"1/60 seconds", limit.PerMinute(1)},
		{"3/days", limit.PerDay(3)},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var got limit.Limit
			require.NoError(t, got.UnmarshalText([]byte(tc.in)), "UnmarshalText(%q)", tc.in)
			assert.Equal(t, tc.want, got, "UnmarshalText(%q)", tc.in)
		})
	}
}

func TestUnmarshalTextRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"1/week", limit.ErrInvalid},
		{"1/second;2/minute", limit.ErrInvalid},
		{"invalid", limit.ErrInvalid},
		{"   ", limit.ErrInvalid},
		{"10/100ms", limit.ErrInvalid},
		{"0/second", limit.ErrInvalid},
		{"1/11 years", limit.ErrInvalid},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l := limit.PerHour(3)
			err := l.UnmarshalText([]byte(tc.in))
			require.Error(t, err, "UnmarshalText(%q) = nil, want an error", tc.in)
			assert.ErrorIs(t, err, tc.want, "UnmarshalText(%q)", tc.in)
			assert.Equal(t, limit.PerHour(3), l, "UnmarshalText(%q) must leave the limit unchanged on error", tc.in)
		})
	}
}

func TestMarshalTextRejectsWhatTheGrammarLacks(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    limit.Limit
		part string // the error must name this
	}{
		{"burst", mustBurst(t, limit.PerSecond(10), 20), "burst of 20"},
		{"smaller burst", mustBurst(t, limit.PerMinute(5), 1), "burst of 1"},
		{"100ms", mustNew(t, 10, 100*time.Millisecond), "10/100ms"},
		{"500ms", mustNew(t, 5, 500*time.Millisecond), "500ms"},
		{"1.5s", mustNew(t, 3, 1500*time.Millisecond), "1.5s"},
		{"100ms with burst", mustBurst(t, mustNew(t, 10, 100*time.Millisecond), 2), "100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := tc.l.MarshalText()
			require.Error(t, err, "%v.MarshalText() = %q, want an error", tc.l, text)
			assert.ErrorIs(t, err, limit.ErrInvalid, "%v.MarshalText()", tc.l)
			assert.Nil(t, text, "%v.MarshalText() text on error", tc.l)
			assert.Contains(t, err.Error(), tc.part, "%v.MarshalText() error should name the problem", tc.l)
			assert.True(t, strings.HasPrefix(err.Error(), "limit: "), "error %q should start with the package name", err)
		})
	}
}

// config is a configuration struct as an application would declare it.
type config struct {
	Rate   limit.Limit         `json:"rate"`
	Limits []limit.Limit       `json:"limits"`
	Unset  limit.Limit         `json:"unset"`
	Ptr    *limit.Limit        `json:"ptr,omitempty"`
	Routes map[limit.Limit]int `json:"routes,omitempty"`
}

func TestJSON(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		rate := limit.PerHour(100)
		in := config{
			Rate:   limit.PerMinute(5),
			Limits: []limit.Limit{limit.PerSecond(10), limit.PerDay(1000)},
			Ptr:    &rate,
			Routes: map[limit.Limit]int{limit.PerSecond(1): 2},
		}
		b, err := json.Marshal(in)
		require.NoError(t, err, "json.Marshal(%+v)", in)
		assert.JSONEq(t, `{"rate":"5/minute","limits":["10/second","1000/day"],"unset":"",
			"ptr":"100/hour","routes":{"1/second":2}}`, string(b), "json.Marshal(%+v)", in)
		var out config
		require.NoError(t, json.Unmarshal(b, &out), "json.Unmarshal(%s)", b)
		assert.Equal(t, in, out, "json.Unmarshal(json.Marshal(%+v))", in)
	})
	t.Run("grammar forms", func(t *testing.T) {
		var out config
		require.NoError(t, json.Unmarshal([]byte(`{"rate":"5 per minute","limits":["1/2 seconds"]}`), &out))
		assert.Equal(t, limit.PerMinute(5), out.Rate, "rate")
		assert.Equal(t, []limit.Limit{limit.MustParse("1/2 seconds")}, out.Limits, "limits")
		assert.False(t, out.Unset.Valid(), "an absent field stays the zero Limit")
	})
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"rate":"1/week"}`, limit.ErrInvalid},
		{`{"rate":"0/second"}`, limit.ErrInvalid},
		{`{"limits":["1/second","1/11 years"]}`, limit.ErrInvalid},
	} {
		t.Run("rejects "+tc.in, func(t *testing.T) {
			var out config
			err := json.Unmarshal([]byte(tc.in), &out)
			assert.ErrorIs(t, err, tc.want, "json.Unmarshal(%s)", tc.in)
		})
	}
	t.Run("rejects a number", func(t *testing.T) {
		var out config
		err := json.Unmarshal([]byte(`{"rate":5}`), &out)
		var typeErr *json.UnmarshalTypeError
		assert.ErrorAs(t, err, &typeErr, "json.Unmarshal of a number")
	})
	t.Run("burst does not marshal", func(t *testing.T) {
		in := config{Rate: mustBurst(t, limit.PerSecond(10), 20)}
		b, err := json.Marshal(in)
		assert.ErrorIs(t, err, limit.ErrInvalid, "json.Marshal(%+v) = %s", in, b)
	})
}

func TestFlagTextVar(t *testing.T) {
	for _, tc := range []struct {
		name string
		def  limit.Limit
		args []string
		want limit.Limit
	}{
		{"default", limit.PerMinute(5), nil, limit.PerMinute(5)},
		{"zero default", limit.Limit{}, nil, limit.Limit{}},
		{"set", limit.PerMinute(5), []string{"-rate", "10 per second"}, limit.PerSecond(10)},
		{"set over zero", limit.Limit{}, []string{"-rate=3/hour"}, limit.PerHour(3)},
		{"set empty", limit.PerMinute(5), []string{"-rate="}, limit.Limit{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var got limit.Limit
			require.NotPanics(t, func() { fs.TextVar(&got, "rate", tc.def, "rate limit") }, "TextVar with default %v", tc.def)
			require.NoError(t, fs.Parse(tc.args), "Parse(%q)", tc.args)
			assert.Equal(t, tc.want, got, "-rate after Parse(%q)", tc.args)
		})
	}
	t.Run("rejects", func(t *testing.T) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var got limit.Limit
		fs.TextVar(&got, "rate", limit.PerMinute(5), "rate limit")
		err := fs.Parse([]string{"-rate", "1/week"})
		require.Error(t, err, "Parse(-rate 1/week)")
		assert.Contains(t, err.Error(), `unknown unit "week"`, "Parse(-rate 1/week) error")
		assert.Equal(t, limit.PerMinute(5), got, "-rate after a rejected value")
	})
}

func mustNew(t testing.TB, count int64, period time.Duration) limit.Limit {
	t.Helper()
	l, err := limit.New(count, period)
	require.NoError(t, err, "New(%d, %v)", count, period)
	return l
}

func mustBurst(t testing.TB, l limit.Limit, b int64) limit.Limit {
	t.Helper()
	lb, err := l.WithBurst(b)
	require.NoError(t, err, "%v.WithBurst(%d)", l, b)
	return lb
}
