package main

import (
	"strings"
	"testing"
)

// TestWindowCounter reads window counters in both forms the window script
// reads: binary (what it writes) and the text "epoch prev cur" (what it
// wrote before); anything else, or a number of 2^53 or more, is not a
// counter.
func TestWindowCounter(t *testing.T) {
	bin := func(e, prev, cur uint64) string {
		b := make([]byte, 0, 21)
		for _, x := range []uint64{e, prev, cur} {
			for j := range 7 {
				b = append(b, byte(x>>(8*j)))
			}
		}
		return string(b)
	}
	for _, tc := range []struct {
		v    string
		want [3]int64
		ok   bool
	}{
		{bin(29_000_000, 3, 4), [3]int64{29_000_000, 3, 4}, true},
		{bin(1<<53-1, 0, 1<<53-1), [3]int64{1<<53 - 1, 0, 1<<53 - 1}, true},
		{"29000000 3 4", [3]int64{29_000_000, 3, 4}, true},
		{"123456789 12345 12345", [3]int64{123456789, 12345, 12345}, true}, // text of 21 bytes
		{bin(1<<53, 0, 0), [3]int64{}, false},
		{bin(0, 0, 1<<55), [3]int64{}, false},
		{bin(1, 2, 3)[:20], [3]int64{}, false},
		{strings.Repeat("x", 21), [3]int64{}, false},
		{"1 2", [3]int64{}, false},
		{"1 -2 3", [3]int64{}, false},
		{"1 2 99999999999999999999", [3]int64{}, false},
	} {
		got, ok := windowCounter(tc.v)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("windowCounter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}
