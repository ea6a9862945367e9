package httplimit

import (
	"iter"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds the proxy hops read from one request.
const maxHops = 64

// clientAddr resolves the client address of one request at most once.
type clientAddr struct {
	a    netip.Addr
	done bool
}

func (c *clientAddr) get(m *setup, r *http.Request) netip.Addr {
	if !c.done {
		c.a, c.done = m.clientIP(r), true
	}
	return c.a
}

// ClientIP returns the address the Middleware attributes r to, before
// IPv6 grouping: the connection's peer or, with [WithTrustedProxies], the
// address the trusted proxies' header names. It returns the zero Addr
// when r.RemoteAddr holds no address, as on a Unix socket. Use it to log
// the client the limits count, or to build a [Key] that joins a value
// with the address.
func (m *Middleware) ClientIP(r *http.Request) netip.Addr { return m.cur.Load().clientIP(r) }

// clientIP is ClientIP under one configuration.
func (m *setup) clientIP(r *http.Request) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || m.proxyHdr == "" || len(m.trusted) > 0 && !contains(m.trusted, peer) {
		return peer
	}
	if m.single {
		if vs := r.Header[m.proxyHdr]; len(vs) == 1 {
			if a := parseHost(strings.TrimSpace(vs[0])); a.IsValid() {
				return a
			}
		}
		return peer
	}
	if m.hops > 0 {
		if a, ok := m.fromHops(r); ok {
			return a
		}
		return peer
	}
	if a, ok := m.fromHeader(r); ok {
		return a
	}
	return peer
}

// fromHops returns the m.hops-th entry of the proxy header from the
// right. It reports false when there are fewer entries or the entry is
// garbled.
func (m *setup) fromHops(r *http.Request) (netip.Addr, bool) {
	n := 0
	for item := range rightToLeft(r.Header[m.proxyHdr]) {
		if n++; n == m.hops {
			a := m.parseItem(item)
			return a, a.IsValid()
		}
	}
	return netip.Addr{}, false
}

// parseItem parses one entry of the proxy header.
func (m *setup) parseItem(item string) netip.Addr {
	if m.forwarded {
		return parseForwarded(item)
	}
	return parseHost(strings.TrimSpace(item))
}

// fromHeader walks the proxy header right to left, skipping trusted hops.
// It reports false for a missing, garbled or overlong header. When every
// hop is trusted, the leftmost is the client.
func (m *setup) fromHeader(r *http.Request) (netip.Addr, bool) {
	var last netip.Addr
	hops := 0
	for item := range rightToLeft(r.Header[m.proxyHdr]) {
		if hops++; hops > maxHops {
			return netip.Addr{}, false
		}
		a := m.parseItem(item)
		if !a.IsValid() {
			return netip.Addr{}, false
		}
		if !contains(m.trusted, a) {
			return a, true
		}
		last = a
	}
	return last, last.IsValid()
}

// rightToLeft yields the comma-separated items of a list header's lines,
// the last item of the last line first.
func rightToLeft(lines []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			v := lines[i]
			for v != "" {
				item := v
				if j := strings.LastIndexByte(v, ','); j >= 0 {
					item, v = v[j+1:], v[:j]
				} else {
					v = ""
				}
				if !yield(item) {
					return
				}
			}
		}
	}
}

// parseForwarded returns the for= address of one RFC 7239 element, such as
// `for=192.0.2.60;proto=http` or `for="[2001:db8::17]:4711"`.
func parseForwarded(elem string) netip.Addr {
	for elem != "" {
		pair := elem
		if j := strings.IndexByte(elem, ';'); j >= 0 {
			pair, elem = elem[:j], elem[j+1:]
		} else {
			elem = ""
		}
		pair = strings.TrimSpace(pair)
		if len(pair) < 4 || !strings.EqualFold(pair[:4], "for=") {
			continue
		}
		v := pair[4:]
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return parseHost(v)
	}
	return netip.Addr{}
}

// parseHost parses "addr", "addr:port", "[v6]" or "[v6]:port", dropping
// any zone and unmapping IPv4-in-IPv6.
func parseHost(s string) netip.Addr {
	var a netip.Addr
	switch {
	case strings.HasPrefix(s, "["):
		if s[len(s)-1] == ']' {
			return parseHost(s[1 : len(s)-1])
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	case strings.Count(s, ":") == 1: // IPv4 with a port
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	default:
		var err error
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}
		}
	}
	return a.WithZone("").Unmap()
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePrefixes parses CIDR prefixes or bare addresses.
func parsePrefixes(what string, ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, configError("%s: %q is not a CIDR prefix or address", what, s)
		}
		a = a.WithZone("").Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
