package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// maxPlainKey is the longest user key used verbatim inside a Redis key;
// longer ones, and any with a brace or a leading '#', are hashed.
const maxPlainKey = 128

// key returns the Redis key of (key, l):
// prefix{tag}:strategy:count/seconds (count/NNNms for a period that is
// not whole seconds), with /burst appended when the
// limit's burst differs from its count (limits that differ only in burst
// are different limits, as in the engine). The hash tag is the user key,
// so every limit of one key lives in one cluster slot; keys that are
// long, start with '#' or hold a brace but no hash tag of their own are
// replaced by '#' and 40 hex digits of their SHA-256.
//
// A user key that holds a hash tag of its own, as Redis Cluster reads
// one (the text between its first '{' and the first '}' after it, when
// not empty), is placed by that tag instead, so that keys which share it
// share a slot (httplimit puts the client first in braces: a request's
// scopes of one client are one call on a cluster):
// prefix{tag}:=key:strategy:count/seconds…, the user key verbatim after
// '=' (which no strategy starts with) or, when long or '#'-led, '#' and
// its digest. A tag longer than maxPlainKey is replaced by its digest.
func (s *Store) key(key string, l limit.Limit) string {
	var b strings.Builder
	tag, own := placement(key)
	var k string // the user key after '=', for an own tag
	if own {
		k = plainKey(key)
	}
	b.Grow(len(s.cfg.prefix) + len(tag) + len(k) + 34)
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.WriteString(tag)
	b.WriteString("}:")
	if own {
		b.WriteByte('=')
		b.WriteString(k)
		b.WriteByte(':')
	}
	b.WriteString(s.tag)
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], l.Count(), 10))
	b.WriteByte('/')
	if p := l.Period(); p%time.Second == 0 {
		b.Write(strconv.AppendInt(num[:0], int64(p/time.Second), 10))
	} else {
		// Sub-second and fractional periods (limit.New(10, 500*time.Millisecond))
		// are whole milliseconds: "500ms" never collides with a count of
		// seconds.
		b.Write(strconv.AppendInt(num[:0], int64(p/time.Millisecond), 10))
		b.WriteString("ms")
	}
	if l.Burst() != l.Count() {
		b.WriteByte('/')
		b.Write(strconv.AppendInt(num[:0], l.Burst(), 10))
	}
	return b.String()
}

// placement returns the hash tag that places key's Redis keys, and
// whether it is key's own: the text of key's first "{…}" when it is not
// empty (Redis Cluster's rule), as is or digested when longer than
// maxPlainKey; else key itself, or, for a key that is long, holds a
// brace or starts with '#', '#' and 40 hex digits of its SHA-256.
func placement(key string) (tag string, own bool) {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		if strings.IndexByte(key, '}') >= 0 {
			return digest(key), false
		}
		return plainKey(key), false
	}
	if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
		return plainKey(key[i+1 : i+1+j]), true
	}
	return digest(key), false
}

// slot returns the cluster hash slot of key's Redis keys.
func slot(key string) uint16 {
	tag, _ := placement(key)
	return crc16(tag) & 16383
}

// plainKey returns s, or, when s is longer than maxPlainKey or starts
// with '#', '#' and 40 hex digits of its SHA-256: a verbatim part never
// looks like a digest.
func plainKey(s string) string {
	if len(s) > maxPlainKey || strings.HasPrefix(s, "#") {
		return digest(s)
	}
	return s
}

// digest returns '#' and 40 hex digits of the SHA-256 of s.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "#" + hex.EncodeToString(sum[:20])
}

// limitArg returns l as one script argument (packLimit), cached in a
// copy-on-write map: applications use a handful of limits.
func (s *Store) limitArg(l limit.Limit) string {
	m := s.args.Load()
	if a, ok := (*m)[l]; ok {
		return a
	}
	a := packLimit(uint64(l.Count()), uint64(l.Period()/time.Microsecond), uint64(l.Burst()))
	if len(*m) < 64 {
		next := make(map[limit.Limit]string, len(*m)+1)
		for k, v := range *m {
			next[k] = v
		}
		next[l] = a
		s.args.CompareAndSwap(m, &next)
	}
	return a
}

// packLimit returns a limit's count, period in microseconds and burst as
// the scripts read a limit from one argument: 21 bytes, each number an
// unsigned little-endian integer of 7 bytes (struct.unpack '<I7I7I7').
// One argument and one unpack per limit, not three of each with three
// tonumbers: Redis parses, copies and collects each argument of a call
// (docs/scale.md). Every count, burst (below 2^53) and period (below
// 2^49 µs) fits, exactly.
func packLimit(count, period, burst uint64) string {
	var b [21]byte
	for i, v := range [3]uint64{count, period, burst} {
		for j := range 7 {
			b[7*i+j] = byte(v >> (8 * j))
		}
	}
	return string(b[:])
}
