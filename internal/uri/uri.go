// Package uri edits storage URIs for the adapters, which give
// floodgate.Open the semantics of the limiter they serve.
package uri

import (
	"cmp"
	"strings"
)

// WithDefault returns u with the parameter name=value added when u has no
// parameter name; the empty URI is memory://. The query is edited as
// text, so a value that net/url would refuse (lease=10%) passes through
// unchanged to floodgate.Open, which reads it.
func WithDefault(u, name, value string) string {
	u = cmp.Or(strings.TrimSpace(u), "memory://")
	base, query, _ := strings.Cut(u, "?")
	for _, p := range strings.Split(query, "&") {
		if p == name || strings.HasPrefix(p, name+"=") {
			return u
		}
	}
	if query != "" {
		query += "&"
	}
	return base + "?" + query + name + "=" + value
}
