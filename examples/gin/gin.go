// Package ginexample serves the login service on gin
// (github.com/gin-gonic/gin) with package ginlimit: the Middleware added
// before any route, its routes named by c.FullPath(), and the start-up
// self-test once every route is registered.
package ginexample

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/ginlimit"
	"github.com/floodgate-go/floodgate/internal/login"
)

// App returns the login service on gin: POST /login, limited to 5/minute
// per client address. It returns ginlimit's error, which names the
// route, when a declared route is not limited.
func App(store floodgate.Store) (http.Handler, error) {
	m, err := ginlimit.New(store, httplimit.WithRoute(login.Pattern, login.Limit))
	if err != nil {
		return nil, err
	}
	engine := gin.New()
	if err := ginlimit.Use(engine, m); err != nil {
		return nil, err
	}
	engine.POST(login.Path, Login)
	if err := ginlimit.Check(engine, m); err != nil {
		return nil, err
	}
	return engine, nil
}

// Login is the login handler of package login, written for gin.
func Login(c *gin.Context) {
	if !login.Valid(c.PostForm("password")) {
		c.String(http.StatusUnauthorized, "wrong password\n")
		return
	}
	c.String(http.StatusOK, "welcome\n")
}
