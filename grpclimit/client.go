package grpclimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// maxHops bounds the proxy hops read from one call.
const maxHops = 64

// maxKeyValue is the longest metadata or function key kept verbatim;
// longer ones are hashed.
const maxKeyValue = 64

// clientKey returns the client part of a call's storage key: "k:" and
// the key of WithKeyMetadata or WithKeyFunc, or "ip:" and the client
// address, IPv6 grouped.
func (c *setup) clientKey(ctx context.Context, method string) string {
	var v string
	switch {
	case c.mdKey != "":
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if vs := md.Get(c.mdKey); len(vs) > 0 {
				v = vs[0]
			}
		}
	case c.keyFunc != nil:
		if s, ok := c.keyFunc(ctx, method); ok {
			v = s
		}
	}
	if v != "" {
		return "k:" + safe(v)
	}
	a := c.clientIP(ctx)
	if a.Is6() && c.v6bits < 128 {
		p, _ := a.Prefix(c.v6bits)
		return "ip:" + p.String()
	}
	if !a.IsValid() {
		return "ip:?" // no address (a Unix socket): one shared budget, never none
	}
	return "ip:" + a.String()
}

// safe returns v, or its SHA-256 digest when v is long or holds bytes
// outside printable ASCII, so an enormous value cannot blow up storage
// keys.
func safe(v string) string {
	ok := len(v) <= maxKeyValue
	for j := 0; ok && j < len(v); j++ {
		ok = v[j] > ' ' && v[j] < 0x7f
	}
	if ok {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// clientIP returns the address a call is attributed to, before IPv6
// grouping: the peer's, or, when the peer is a trusted proxy, the first
// untrusted address of the proxy's metadata key, read right to left. It
// returns the zero Addr when the peer has no IP address.
func (c *setup) clientIP(ctx context.Context) netip.Addr {
	var a netip.Addr
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		a = addrOf(p.Addr)
	}
	if !a.IsValid() || len(c.trusted) == 0 || !contains(c.trusted, a) {
		return a
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if c, ok := c.fromProxy(md.Get(c.proxyKey)); ok {
		return c
	}
	return a
}

// fromProxy walks the values right to left, skipping trusted hops. It
// reports false for a missing, garbled or overlong list. When every hop
// is trusted, the leftmost is the client.
func (c *setup) fromProxy(values []string) (netip.Addr, bool) {
	var last netip.Addr
	hops := 0
	for j := len(values) - 1; j >= 0; j-- {
		v := values[j]
		for v != "" {
			item := v
			if k := strings.LastIndexByte(v, ','); k >= 0 {
				item, v = v[k+1:], v[:k]
			} else {
				v = ""
			}
			if hops++; hops > maxHops {
				return netip.Addr{}, false
			}
			a := parseHost(strings.TrimSpace(item))
			if !a.IsValid() {
				return netip.Addr{}, false
			}
			if !contains(c.trusted, a) {
				return a, true
			}
			last = a
		}
	}
	return last, last.IsValid()
}

// addrOf returns the IP address of a peer's net.Addr, if it has one.
func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	return parseHost(a.String())
}

// parseHost parses "addr", "addr:port", "[v6]" or "[v6]:port", dropping
// any zone and unmapping IPv4-in-IPv6.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
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
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, configError("trusted proxies: %q is not a CIDR prefix or address", s)
		}
		a = a.WithZone("").Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
