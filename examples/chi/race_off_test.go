//go:build !race

package chiexample_test

const raceEnabled = false
