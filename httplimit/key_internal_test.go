package httplimit

import (
	"net/http"
	"strconv"
	"testing"
)

// FuzzCanonicalIPv4Port: the fast path of appendIP writes exactly what
// the parse it skips would write, and takes the usual peer addresses.
func FuzzCanonicalIPv4Port(f *testing.F) {
	for _, s := range []string{
		"198.51.100.1:40000", "0.0.0.0:0", "255.255.255.255:65535", "1.2.3.4:0080", "10.0.0.1:65536",
		"01.2.3.4:80", "1.2.3:80", "1.2.3.4.5:80", "256.1.1.1:80", "1.2.3.4:", "1.2.3.4", "[::1]:80",
		"::ffff:1.2.3.4", "1..3.4:80", "1.2.3.4:8x", "1.2.3.4:123456", "",
	} {
		f.Add(s)
	}
	m := &setup{}
	f.Fuzz(func(t *testing.T, s string) {
		host, ok := canonicalIPv4Port(s)
		r := &http.Request{RemoteAddr: s}
		slow := string(m.appendIP(nil, r, &clientAddr{done: true, a: parseHost(s).WithZone("").Unmap()}))
		if !ok {
			return
		}
		if want := "i" + host; slow != want {
			t.Fatalf("canonicalIPv4Port(%q) = %q; the parse writes %q", s, want, slow)
		}
	})
}

func TestCanonicalIPv4PortTakesPeers(t *testing.T) {
	for _, s := range []string{"198.51.100.1:40000", "0.0.0.0:0", "255.255.255.255:65535", "127.0.0.1:8080"} {
		if _, ok := canonicalIPv4Port(s); !ok {
			t.Errorf("canonicalIPv4Port(%q) refused a peer address", s)
		}
	}
}

// TestAppendDec: the header digits are strconv's, at the edges of each
// table step and of int64.
func TestAppendDec(t *testing.T) {
	for _, v := range []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 4095, 4096, 7199, 99999, 536870910,
		1<<31 - 1, 1 << 32, 1<<63 - 1, -1, -100, -1 << 63} {
		if got, want := string(appendDec([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Errorf("appendDec(%d) = %q, want %q", v, got, want)
		}
	}
}
