// Package logintest drives the login service of package login over a real
// HTTP connection, for the tests and examples of every router.
package logintest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/examples/internal/login"
)

// Response is what one login attempt got back.
type Response struct {
	Status     int
	RetryAfter string
	Remaining  string
	Body       string
}

func (r Response) String() string {
	s := fmt.Sprintf("%d remaining=%q", r.Status, r.Remaining)
	if r.RetryAfter != "" {
		s += fmt.Sprintf(" retry-after=%q", r.RetryAfter)
	}
	return s + " " + r.Body
}

// Post sends one login attempt with password to the service at base
// (an httptest.Server's URL).
func Post(base, password string) (Response, error) {
	resp, err := http.PostForm(base+login.Path, url.Values{"password": {password}})
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{
		Status:     resp.StatusCode,
		RetryAfter: resp.Header.Get("Retry-After"),
		Remaining:  resp.Header.Get("X-RateLimit-Remaining"),
		Body:       strings.TrimSpace(string(body)),
	}, nil
}

// Attempts makes five logins with a wrong password and a sixth with the
// right one, and returns the six responses.
func Attempts(base string) ([]Response, error) {
	var out []Response
	for i := range 6 {
		pw := "wrong-" + strconv.Itoa(i)
		if i == 5 {
			pw = login.Password
		}
		r, err := Post(base, pw)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RequireLimited checks that the service at base is limited: five failed
// logins answer 401, then the sixth, even with the right password, is a
// 429 with a Retry-After of at least one second.
func RequireLimited(t *testing.T, base string) {
	t.Helper()
	rs, err := Attempts(base)
	require.NoError(t, err, "POST %s%s", base, login.Path)
	for i, r := range rs[:5] {
		assert.Equal(t, http.StatusUnauthorized, r.Status, "failed login %d: got %v, want 401", i+1, r)
	}
	sixth := rs[5]
	require.Equal(t, http.StatusTooManyRequests, sixth.Status,
		"sixth login (after five failures within the %s limit): got %v, want 429 — the limit was not enforced", login.Limit, sixth)
	n, err := strconv.Atoi(sixth.RetryAfter)
	require.NoError(t, err, "sixth login: Retry-After %q is not a number of seconds", sixth.RetryAfter)
	assert.Positive(t, n, "sixth login: Retry-After %q, want at least 1 second", sixth.RetryAfter)
}

// RequireLogin checks that the right password logs in (200) and a wrong
// one does not (401), on a fresh budget.
func RequireLogin(t *testing.T, base string) {
	t.Helper()
	r, err := Post(base, login.Password)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, "login with the right password: got %v, want 200", r)
	r, err = Post(base, "guess")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "login with a wrong password: got %v, want 401", r)
}
