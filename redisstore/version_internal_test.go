package redisstore

import "testing"

// TestTooOld reads the version of INFO server replies: servers before
// 6.0 lack SET KEEPTTL, which the window scripts use.
func TestTooOld(t *testing.T) {
	for _, tc := range []struct {
		info string
		v    string
		old  bool
	}{
		{"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "7.0.15", false},
		{"# Server\r\nredis_version:6.0.0\r\n", "6.0.0", false},
		{"# Server\r\nredis_version:5.0.14\r\n", "5.0.14", true},
		{"# Server\r\nredis_version:4.0.9\r\nos:Linux\r\n", "4.0.9", true},
		{"# Server\r\nredis_mode:standalone\r\n", "", false},
		{"redis_version:x.y\r\n", "x.y", false},
	} {
		v, old := tooOld(tc.info)
		if v != tc.v || old != tc.old {
			t.Errorf("tooOld(%q) = %q, %v; want %q, %v", tc.info, v, old, tc.v, tc.old)
		}
	}
}
