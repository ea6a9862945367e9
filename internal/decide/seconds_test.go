package decide_test

import (
	"math"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/decide"
)

func TestCeilSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{-time.Second, 0},
		{0, 0},
		{1, 1},
		{time.Second, 1},
		{time.Second + 1, 2},
		{1500 * time.Millisecond, 2},
		{72 * time.Second, 72},
		{math.MaxInt64, math.MaxInt64 / int64(time.Second)},
	} {
		if got := decide.CeilSeconds(tc.d); got != tc.want {
			t.Errorf("CeilSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
