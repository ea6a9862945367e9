// Package login is the service that every router example and every router
// package test of httplimit serves: POST /login
// with a form field "password", answered 200 for [Password] and 401 for
// anything else, limited to [Limit] per client address.
package login

import (
	"crypto/subtle"
	"net/http"
)

const (
	// Pattern is the route, in ServeMux syntax; httplimit.WithRoute
	// declares it under this name for every router.
	Pattern = "POST /login"
	// Path is the route's path, for routers that take the method apart.
	Path = "/login"
	// Limit is the route's limit per client address.
	Limit = "5/minute"
	// Password is the one accepted password.
	Password = "correct horse battery staple"
)

// Valid reports whether password is the accepted one.
func Valid(password string) bool {
	return subtle.ConstantTimeCompare([]byte(password), []byte(Password)) == 1
}

// Handler is the login handler for net/http routers.
func Handler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !Valid(r.PostFormValue("password")) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("wrong password\n"))
		return
	}
	_, _ = w.Write([]byte("welcome\n"))
}
