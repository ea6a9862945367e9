package uri

import "testing"

func TestWithDefault(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "memory://?strategy=fixed-window"},
		{"  ", "memory://?strategy=fixed-window"},
		{"memory://", "memory://?strategy=fixed-window"},
		{"memory://?strategy=gcra", "memory://?strategy=gcra"},
		{"redis://h:1/0?lease=10%&timeout=1s", "redis://h:1/0?lease=10%&timeout=1s&strategy=fixed-window"},
		{"redis://h?timeout=1s&strategy=moving-window", "redis://h?timeout=1s&strategy=moving-window"},
		{"redis://h?xstrategy=1", "redis://h?xstrategy=1&strategy=fixed-window"},
		{"redis://h?strategy", "redis://h?strategy"},
	} {
		if got := WithDefault(tc.in, "strategy", "fixed-window"); got != tc.want {
			t.Errorf("WithDefault(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
