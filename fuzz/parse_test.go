package fuzz_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

// FuzzParse checks limit.Parse and limit.ParseMany: no panics; every
// accepted string round-trips through String, and a list through its Strings joined by ";"; every
// rejected one gets an error that wraps ErrInvalid
// and says more than the sentinel; and the accepted set equals the one
// of the grammar documented in package limit (grammar_test.go).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"5/minute", "5 per minute", "1/2 seconds", "500/7days", " 5 PER Minutes ",
		"10/second;1000/day", "100/day, 500/7days", "1/second|2/minute",
		"1/sec", "1/week", "1/second 2/minute", "0/second", "-1/second", "1.5/second",
		"536870911/second", "536870912/second", "1/3600 days", "1/3601 days",
		"1/0 seconds", "1/second;", ";", "", " ", "5\t/\nminute", "5perminute",
		"0005/02seconds", "99999999999999999999/second", "1/99999999999999999999 years",
		"5/ſecond", "5/secondſ", "5/ss", "5/minutess", "5 / 2 minute s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParse(t, s)
		checkParseMany(t, s)
	})
}

// checkParse checks Parse(s), and that it agrees with the documented
// grammar.
func checkParse(t *testing.T, s string) {
	l, err := limit.Parse(s)
	if err != nil {
		checkParseError(t, "Parse", s, err)
	} else {
		checkRoundTrip(t, s, l)
	}
	if strings.ContainsAny(s, ";,|") {
		assert.ErrorIsf(t, err, limit.ErrInvalid, "Parse(%q) of several limits", s)
		return
	}
	v := judgeItem(s)
	if v.ok {
		if assert.NoErrorf(t, err, "Parse(%q): the documented grammar accepts it as %v", s, v.want) {
			assert.Equalf(t, v.want, l, "Parse(%q) returned %v, want %v", s, l, v.want)
		}
		return
	}
	if !assert.Errorf(t, err, "Parse(%q) = %v, want an error: the documented grammar rejects it", s, l) {
		return
	}
	if v.syntax {
		// Well-formed, but a number is out of range.
		want := limit.ErrInvalid
		if v.count {
			want = limit.ErrInvalid
		}
		assert.ErrorIsf(t, err, want, "Parse(%q) error %q", s, err)
	}
}

// checkParseMany checks ParseMany(s), and that it agrees with the
// documented grammar.
func checkParseMany(t *testing.T, s string) {
	ls, err := limit.ParseMany(s)
	if err != nil {
		checkParseError(t, "ParseMany", s, err)
	} else {
		require.NotEmptyf(t, ls, "ParseMany(%q) returned no limits and no error", s)
		for _, l := range ls {
			checkRoundTrip(t, s, l)
		}
		parts := make([]string, len(ls))
		for i, l := range ls {
			parts[i] = l.String()
		}
		back, err := limit.ParseMany(strings.Join(parts, ";"))
		if assert.NoErrorf(t, err, "ParseMany of the Strings of %v, from ParseMany(%q)", ls, s) {
			assert.Equalf(t, ls, back, "ParseMany of the Strings of ParseMany(%q)", s)
		}
	}
	want := judgeMany(s)
	if want == nil {
		assert.Errorf(t, err, "ParseMany(%q) = %v, want an error: the documented grammar rejects it", s, ls)
		return
	}
	if assert.NoErrorf(t, err, "ParseMany(%q): the documented grammar accepts it as %v", s, want) {
		assert.Truef(t, slices.Equal(want, ls), "ParseMany(%q) = %v, want %v", s, ls, want)
	}
}

// checkRoundTrip checks that an accepted limit prints in canonical form and
// parses back to itself.
func checkRoundTrip(t *testing.T, s string, l limit.Limit) {
	t.Helper()
	require.Truef(t, l.Valid(), "parsing %q returned the invalid %#v without an error", s, l)
	str := l.String()
	assert.Equalf(t, canonical(l), str, "String of %#v, parsed from %q", l, s)
	back, err := limit.Parse(str)
	if assert.NoErrorf(t, err, "Parse(%q), the String of %q", str, s) {
		assert.Equalf(t, l, back, "Parse(String()) of %q", s)
	}
}

// checkParseError checks that a rejection names its problem: it wraps
// ErrInvalid and says more than the sentinel does.
func checkParseError(t *testing.T, fn, s string, err error) {
	t.Helper()
	sentinel := limit.ErrInvalid
	if !assert.Truef(t, errors.Is(err, sentinel), "%s(%q) error %q does not wrap ErrInvalid", fn, s, err) {
		return
	}
	msg := err.Error()
	assert.Truef(t, strings.HasPrefix(msg, "limit: "), "%s(%q) error %q does not start with the package name", fn, s, msg)
	assert.Greaterf(t, len(msg), len(sentinel.Error())+2, "%s(%q) error %q does not name the problem", fn, s, msg)
}
