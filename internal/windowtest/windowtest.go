// Package windowtest runs a test scenario within one fixed window of a
// wall clock, for the adapter tests that compare Floodgate with a peer
// whose fixed windows are aligned to the Unix epoch and cannot take a
// manual clock. Tests only.
package windowtest

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// attempt is one run of a scenario in [InOne]: a require.TestingT that
// keeps its failures, so that a run that straddled a window's turn can
// be dropped.
type attempt struct {
	errs   []string
	failed bool
}

func (a *attempt) Errorf(format string, args ...any) {
	a.errs = append(a.errs, fmt.Sprintf(format, args...))
}

func (a *attempt) FailNow() {
	a.failed = true
	runtime.Goexit() // ends the run's goroutine only
}

// InOne runs scenario on fresh keys ("k0", "k1", …) until one run lies
// within one window of each of periods, and reports that run's failures
// on t; it returns the run's key. Both backends judge fixed windows
// aligned to the Unix epoch on this machine's clock (Redis's TIME, the
// engine's wall clock), so readings of that clock before and after a run
// in one window of a period mean every decision of the run was in that
// window. A run that straddled a turn is played again at once, early in
// the new window; after 20 such runs the test fails.
func InOne(t *testing.T, periods []time.Duration, scenario func(t require.TestingT, key string)) string {
	t.Helper()
	for i := 0; ; i++ {
		key := "k" + strconv.Itoa(i)
		a := &attempt{}
		t0 := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			scenario(a, key)
		}()
		<-done
		t1 := time.Now()
		straddled := false
		for _, p := range periods {
			straddled = straddled || t0.UnixNano()/int64(p) != t1.UnixNano()/int64(p)
		}
		if !straddled {
			for _, e := range a.errs {
				t.Error(e)
			}
			if a.failed {
				t.FailNow()
			}
			return key
		}
		require.Less(t, i, 20, "20 runs each straddled the turn of a window (%v)", periods)
		t.Logf("run %d straddled the turn of a window (%v); again, at the start of the new one", i, periods)
	}
}
