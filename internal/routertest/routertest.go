package routertest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/login"
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

// Serve starts h on a loopback httptest.Server, closed by t.Cleanup, and
// returns its URL.
func Serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Memory returns an in-memory store, closed by t.Cleanup.
func Memory(t *testing.T) floodgate.Store {
	t.Helper()
	s := floodgate.NewMemory()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewMiddleware returns a Middleware on a fresh in-memory store.
func NewMiddleware(t *testing.T, opts ...httplimit.Option) *httplimit.Middleware {
	t.Helper()
	m, err := httplimit.New(Memory(t), opts...)
	require.NoError(t, err, "httplimit.New")
	return m
}

// RunApp checks a router's example app built by app on a fresh store:
// the right and wrong passwords answer 200 and 401, and the sixth login
// is a 429.
func RunApp(t *testing.T, app func(floodgate.Store) (http.Handler, error)) {
	t.Run("right and wrong password", func(t *testing.T) {
		h, err := app(Memory(t))
		require.NoError(t, err, "App")
		RequireLogin(t, Serve(t, h))
	})
	t.Run("sixth login is 429", func(t *testing.T) {
		h, err := app(Memory(t))
		require.NoError(t, err, "App")
		RequireLimited(t, Serve(t, h))
	})
}

// ServeVerified checks with m.Verify that h limits every route declared
// to m, then serves h as Serve does and returns its URL.
func ServeVerified(t *testing.T, m *httplimit.Middleware, h http.Handler) string {
	t.Helper()
	require.NoError(t, m.Verify(h), "Verify")
	return Serve(t, h)
}

// RequireSilent checks a mounting that starts fine and limits nothing:
// the sixth login on h is not a 429, and m.Verify(h) fails with a
// configuration error that names pattern and contains why.
func RequireSilent(t *testing.T, m *httplimit.Middleware, h http.Handler, pattern, why string) {
	t.Helper()
	rs, err := Attempts(Serve(t, h))
	require.NoError(t, err)
	assert.NotEqual(t, http.StatusTooManyRequests, rs[5].Status,
		"sixth login: got %v; if this mounting now enforces the limit, the test of its refusal can go", rs[5])
	err = m.Verify(h)
	require.ErrorIs(t, err, httplimit.ErrConfig, "Verify on a handler that leaves %s unlimited", pattern)
	assert.Contains(t, err.Error(), `route "`+pattern+`"`, "Verify's error should name the route")
	assert.Contains(t, err.Error(), why, "Verify's error should say why")
}

// FailedOnly is the limit of the login route that RequireFailedOnly
// expects: three failed logins a minute, CountWhen counting only 401s.
func FailedOnly() httplimit.Option {
	return httplimit.WithRoute("POST "+login.Path, "3/minute",
		httplimit.CountWhen(func(status int) bool { return status == http.StatusUnauthorized }))
}

// RequireFailedOnly checks that the service at base, limited by
// FailedOnly, counts failed logins only: five right passwords, then the
// fourth wrong one is a 429. It fails when CountWhen cannot see the
// status the router's handler writes.
func RequireFailedOnly(t *testing.T, base string) {
	t.Helper()
	var codes []int
	for _, pw := range []string{login.Password, login.Password, login.Password, login.Password, login.Password, "wrong", "wrong", "wrong", "wrong"} {
		r, err := Post(base, pw)
		require.NoError(t, err)
		codes = append(codes, r.Status)
	}
	assert.Equal(t, []int{200, 200, 200, 200, 200, 401, 401, 401, 429}, codes,
		"5 right passwords, then failed logins under CountWhen(401): the fourth failure is denied")
}
