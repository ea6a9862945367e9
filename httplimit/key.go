package httplimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
)

// Key says how requests are told apart: each distinct value it returns
// has its own budget under each limit. It returns the request's key, such
// as an API key header or the authenticated user an earlier middleware
// stored in the context, and false (or "") when the request has none:
// then the client address stands in, so leaving out a header never
// escapes the limit. The nil Key is the client address (see
// [WithTrustedProxies]; an IPv6 address counts by its /64), the default.
//
// A Key is an Option, setting the Middleware's key, and a RouteOption,
// overriding it for one route's own and shared limits; [AlsoBy] takes one
// for a route's second key. Application-wide limits always use the
// Middleware's key. Any func with Key's signature converts:
//
//	apiKey := func(r *http.Request) (string, bool) {
//		k := r.Header.Get("X-API-Key")
//		return k, k != ""
//	}
//	m, err := httplimit.New(store, httplimit.Key(apiKey))
//
// To key by a value and the address together, join them in the function
// with [Middleware.ClientIP]. Values longer than 64 bytes or holding bytes
// outside printable ASCII are replaced by a SHA-256 digest, so an enormous
// header cannot blow up storage keys. A Key must be safe for concurrent
// use; a Key value may be copied.
type Key func(r *http.Request) (string, bool)

func (k Key) apply(c *config) { c.key = k }

func (k Key) applyRoute(s *routeSpec) { s.key, s.keySet = k, true }

// maxKeyPart is the longest key value kept verbatim; longer ones are
// hashed.
const maxKeyPart = 64

// appendKey appends the client part of a storage key: "v" and the key's
// value, or "i" and the client address (see appendIP).
func (m *setup) appendKey(dst []byte, k Key, r *http.Request, ip *clientAddr) []byte {
	if k != nil {
		if s, ok := k(r); ok && s != "" {
			return appendValue(dst, s)
		}
	}
	return m.appendIP(dst, r, ip)
}

// appendIP appends "i" and the grouped client address, or "r" and the
// sanitised RemoteAddr when it holds no address (a Unix socket).
func (m *setup) appendIP(dst []byte, r *http.Request, ip *clientAddr) []byte {
	a := ip.get(m, r)
	if !a.IsValid() {
		return appendValue(append(dst, 'r'), r.RemoteAddr)
	}
	dst = append(dst, 'i')
	return group(a).AppendTo(dst)
}

// v6bits is how many leading bits of an IPv6 client address form its
// key: one budget per /64, the block a single host or customer usually
// holds, so that one machine cannot multiply its budget by rotating
// addresses. A Key built on Middleware.ClientIP keys otherwise.
const v6bits = 64

// group masks an IPv6 address to its /64.
func group(a netip.Addr) netip.Addr {
	if a.Is6() {
		if p, err := a.Prefix(v6bits); err == nil {
			return p.Addr()
		}
	}
	return a
}

// appendValue appends "v" and s, or "#" and a digest of s when s is long
// or holds bytes that could be confused with separators.
func appendValue(dst []byte, s string) []byte {
	if len(s) <= maxKeyPart && printable(s) {
		return append(append(dst, 'v'), s...)
	}
	sum := sha256.Sum256([]byte(s))
	return hex.AppendEncode(append(dst, '#'), sum[:16])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '|' {
			return false
		}
	}
	return true
}
