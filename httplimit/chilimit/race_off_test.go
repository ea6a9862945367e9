//go:build !race

package chilimit_test

const raceEnabled = false
