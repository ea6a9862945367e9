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
// outside printable ASCII, '|' or a brace are replaced by a SHA-256
// digest, so an enormous header cannot blow up storage keys nor move a
// key's hash tag. A Key must be safe for concurrent
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
	if m.proxyHdr == "" && !ip.done {
		// The common case, an IPv4 peer with no proxies trusted: its
		// text in RemoteAddr is already the key, when canonical.
		if host, ok := canonicalIPv4Port(r.RemoteAddr); ok {
			return append(append(dst, 'i'), host...)
		}
	}
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
// or holds bytes that could be confused with separators: '|', and the
// braces that delimit the client part of a storage key (its hash tag).
func appendValue(dst []byte, s string) []byte {
	if len(s) <= maxKeyPart && printable(s) {
		return append(append(dst, 'v'), s...)
	}
	sum := sha256.Sum256([]byte(s))
	return hex.AppendEncode(append(dst, '#'), sum[:16])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '|' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// canonicalIPv4Port returns the address of s, "a.b.c.d:port", when the
// address is an IPv4 address in the form netip.Addr.String writes (four
// decimal fields of 0..255 without leading zeros) and the port a number
// of 0..65535, as netip.ParseAddrPort requires: then it is the text
// appendIP would write after parsing s, at a fraction of the cost.
func canonicalIPv4Port(s string) (string, bool) {
	fields, v, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && v == 0 { // a leading zero
				return "", false
			}
			v, digits = v*10+int(c-'0'), digits+1
			if v > 255 {
				return "", false
			}
		case c == '.' && fields < 3, c == ':' && fields == 3:
			if digits == 0 {
				return "", false
			}
			fields, v, digits = fields+1, 0, 0
			if c == ':' {
				return s[:i], validPort(s[i+1:])
			}
		default:
			return "", false
		}
	}
	return "", false
}

// validPort reports whether p is a decimal number of 0..65535, as
// netip.ParseAddrPort reads ports (leading zeros allowed).
func validPort(p string) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	v := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		v = v*10 + int(p[i]-'0')
	}
	return v <= 65535
}
