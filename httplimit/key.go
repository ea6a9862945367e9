package httplimit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
)

// Key says how requests are told apart: each distinct key value has its
// own budget under each limit. Build one with [KeyIP], [KeyHeader],
// [KeyContext], [KeyFunc] or [KeyOf].
//
// A part with no value for a request (a missing header, no user in the
// context) is replaced by the client address, so leaving out a header
// never escapes the limit. Values longer than 64 bytes or holding bytes
// outside printable ASCII are replaced by a SHA-256 digest, so an enormous
// header cannot blow up storage keys.
//
// The zero Key means KeyIP. Keys are immutable values, safe to copy and to
// share between goroutines.
type Key struct{ parts []keyPart }

type keyKind uint8

const (
	partIP keyKind = iota
	partHeader
	partContext
	partFunc
)

type keyPart struct {
	kind   keyKind
	header string
	ctxKey any
	fn     func(*http.Request) (string, bool)
}

// maxKeyPart is the longest key value kept verbatim; longer ones are
// hashed.
const maxKeyPart = 64

// KeyIP keys requests by client address: the connection's, or the one a
// trusted proxy reported (see [WithTrustedProxies]), IPv6 grouped by
// [WithIPv6Prefix]. It is the default.
func KeyIP() Key { return Key{parts: []keyPart{{kind: partIP}}} }

// KeyHeader keys requests by the value of the named request header, such
// as "X-API-Key". Without the header, the client address stands in.
func KeyHeader(name string) Key {
	return Key{parts: []keyPart{{kind: partHeader, header: http.CanonicalHeaderKey(name)}}}
}

// KeyContext keys requests by r.Context().Value(ctxKey), typically the
// authenticated user that an earlier middleware stored. The value may be a
// string, an integer or a fmt.Stringer; a nil value, an empty string or
// another type means the client address stands in.
func KeyContext(ctxKey any) Key {
	return Key{parts: []keyPart{{kind: partContext, ctxKey: ctxKey}}}
}

// KeyFunc keys requests by fn's result; fn reports false, or returns "",
// when it has no key, and the client address stands in.
func KeyFunc(fn func(r *http.Request) (string, bool)) Key {
	return Key{parts: []keyPart{{kind: partFunc, fn: fn}}}
}

// KeyOf combines keys: a request's key is the list of its parts' values,
// so KeyOf(KeyContext(userKey), KeyIP()) gives each user on each address
// its own budget.
func KeyOf(keys ...Key) Key {
	var k Key
	for _, x := range keys {
		if len(x.parts) == 0 {
			x = KeyIP()
		}
		k.parts = append(k.parts, x.parts...)
	}
	return k
}

// appendKey appends the client part of a storage key: one tagged value per
// part, joined by '|'. Tags keep parts of different kinds apart ("i" for
// addresses, "v" for other values).
func (m *Middleware) appendKey(dst []byte, k *Key, r *http.Request, ip *clientAddr) []byte {
	if len(k.parts) == 0 {
		return m.appendIP(dst, r, ip)
	}
	for i := range k.parts {
		if i > 0 {
			dst = append(dst, '|')
		}
		p := &k.parts[i]
		switch p.kind {
		case partHeader:
			if vs := r.Header[p.header]; len(vs) > 0 && vs[0] != "" {
				dst = appendValue(dst, vs[0])
				continue
			}
		case partContext:
			v := r.Context().Value(p.ctxKey)
			if s, ok := contextValue(v); ok {
				dst = appendValue(dst, s)
				continue
			}
			if n, ok := contextInt(v); ok {
				dst = append(dst, 'n')
				dst = strconv.AppendInt(dst, n, 10)
				continue
			}
		case partFunc:
			if s, ok := p.fn(r); ok && s != "" {
				dst = appendValue(dst, s)
				continue
			}
		}
		dst = m.appendIP(dst, r, ip)
	}
	return dst
}

// appendIP appends "i" and the grouped client address, or "r" and the
// sanitised RemoteAddr when it holds no address (a Unix socket).
func (m *Middleware) appendIP(dst []byte, r *http.Request, ip *clientAddr) []byte {
	a := ip.get(m, r)
	if !a.IsValid() {
		return appendValue(append(dst, 'r'), r.RemoteAddr)
	}
	dst = append(dst, 'i')
	return m.group(a).AppendTo(dst)
}

// group masks an IPv6 address to the configured prefix.
func (m *Middleware) group(a netip.Addr) netip.Addr {
	if a.Is6() && m.v6bits < 128 {
		if p, err := a.Prefix(m.v6bits); err == nil {
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

func contextValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, v != ""
	case fmt.Stringer:
		if v == nil {
			return "", false
		}
		s := v.String()
		return s, s != ""
	}
	return "", false
}

func contextInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint64:
		if v <= 1<<63-1 {
			return int64(v), true
		}
	}
	return 0, false
}
