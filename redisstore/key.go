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
// long, hold a brace or start with '#' are replaced by '#' and 40 hex
// digits of their SHA-256.
func (s *Store) key(key string, l limit.Limit) string {
	var b strings.Builder
	tag := hashTag(key)
	b.Grow(len(s.cfg.prefix) + len(tag) + 32)
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.WriteString(tag)
	b.WriteString("}:")
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

// hashTag returns the hash tag of key's Redis keys: key itself, or, for
// a key that is long, holds a brace or starts with '#', '#' and 40 hex
// digits of its SHA-256.
func hashTag(key string) string {
	if len(key) > maxPlainKey || strings.ContainsAny(key, "{}") || strings.HasPrefix(key, "#") {
		sum := sha256.Sum256([]byte(key))
		return "#" + hex.EncodeToString(sum[:20])
	}
	return key
}

// limitArgs returns l's count, period in microseconds and burst as
// script arguments, cached in a copy-on-write map: applications use a
// handful of limits.
func (s *Store) limitArgs(l limit.Limit) [3]string {
	m := s.args.Load()
	if a, ok := (*m)[l]; ok {
		return a
	}
	a := [3]string{strconv.FormatInt(l.Count(), 10), strconv.FormatInt(int64(l.Period()/time.Microsecond), 10),
		strconv.FormatInt(l.Burst(), 10)}
	if len(*m) < 64 {
		next := make(map[limit.Limit][3]string, len(*m)+1)
		for k, v := range *m {
			next[k] = v
		}
		next[l] = a
		s.args.CompareAndSwap(m, &next)
	}
	return a
}
