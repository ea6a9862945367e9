// Package routertest drives the login service of package login over a
// real loopback connection, for the tests of every router package of
// httplimit (chilimit, ginlimit, echolimit) and of the router examples:
// serve a handler, post logins, require the sixth failed login within
// the limit to get a 429, and require a silent setup to fail
// httplimit's Verify with its route named.
package routertest
