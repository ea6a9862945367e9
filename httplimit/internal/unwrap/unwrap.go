// Package unwrap finds a writer of a given type in a chain of
// http.ResponseWriter wrappers, for the router packages' adapters, which
// carry a request's router context in the writer they pass middleware.
package unwrap

import (
	"fmt"
	"net/http"
)

// Find returns w, or the first writer it unwraps to (an Unwrap method,
// as http.ResponseController follows), that is a W.
func Find[W http.ResponseWriter](w http.ResponseWriter) (W, bool) {
	for {
		if v, ok := w.(W); ok {
			return v, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			var zero W
			return zero, false
		}
		w = u.Unwrap()
	}
}

// Must is Find for an adapter whose middleware must pass on the writer
// it was given: it panics, naming pkg and what it got, when w holds no W.
func Must[W http.ResponseWriter](w http.ResponseWriter, pkg string) W {
	v, ok := Find[W](w)
	if !ok {
		panic(fmt.Sprintf("%s: the middleware passed Adapt's next handler a %T, not the ResponseWriter it was given "+
			"nor one that unwraps to it (an Unwrap method, as http.ResponseController needs)", pkg, w))
	}
	return v
}
