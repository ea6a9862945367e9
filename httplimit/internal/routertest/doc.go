// Package routertest is the login service that every router package of
// httplimit (chilimit, ginlimit, echolimit) serves in its tests, and the
// helpers that drive it over a real loopback connection: POST /login with
// a form field "password", answered 200 for [Password] and 401 for
// anything else, limited to [Limit] per client address.
package routertest
