// Package echoexample serves the login service on Echo
// (github.com/labstack/echo/v4) with package echolimit: the Middleware in
// e.Use through echolimit.Adapt, its routes named by c.Path(), and the
// start-up self-test once every route is registered.
package echoexample

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/echolimit"
	"github.com/floodgate-go/floodgate/internal/login"
)

// App returns the login service on Echo: POST /login, limited to 5/minute
// per client address. It returns echolimit.Check's error, which names the
// route, when a declared route is not limited.
func App(store floodgate.Store) (http.Handler, error) {
	m, err := echolimit.New(store, httplimit.WithRoute(login.Pattern, login.Limit))
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.Use(echolimit.Adapt(m.Handler))
	e.POST(login.Path, Login)
	if err := echolimit.Check(e, m); err != nil {
		return nil, err
	}
	return e, nil
}

// Login is the login handler of package login, written for Echo.
func Login(c echo.Context) error {
	if !login.Valid(c.FormValue("password")) {
		return c.String(http.StatusUnauthorized, "wrong password\n")
	}
	return c.String(http.StatusOK, "welcome\n")
}
