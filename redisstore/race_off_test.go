//go:build !race

package redisstore_test

// raceEnabled reports whether the race detector is on: sync.Pool then
// drops a quarter of what it is given, so allocation counts differ.
const raceEnabled = false
