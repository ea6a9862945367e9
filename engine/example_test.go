package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

func Example() {
	e := engine.New()
	defer e.Close()
	login := limit.PerMinute(5)
	for i := 1; i <= 6; i++ {
		fmt.Println(i, e.Allow("203.0.113.7", login))
	}
	// Output:
	// 1 true
	// 2 true
	// 3 true
	// 4 true
	// 5 true
	// 6 false
}

func ExampleEngine_AllowN() {
	c := clock.NewManual(0)
	e := engine.New(engine.WithClock(c))
	defer e.Close()
	limits, _ := limit.ParseMany("2/second;3/day")
	for range 3 {
		d := e.AllowN("user:42", 1, limits...)
		fmt.Printf("allowed=%v limit=%v remaining=%d retry=%v\n", d.Allowed, d.Limit, d.Remaining, d.RetryAfter)
	}
	// Output:
	// allowed=true limit=2/second remaining=1 retry=0s
	// allowed=true limit=2/second remaining=0 retry=0s
	// allowed=false limit=2/second remaining=0 retry=1.5s
}

// Tests move time with a clock.Manual: the engine reads no other time.
func ExampleWithClock() {
	c := clock.NewManual(10 * time.Second)
	e := engine.New(engine.WithClock(c), engine.WithStrategy(limit.FixedWindow))
	defer e.Close()
	l := limit.PerMinute(1)
	fmt.Println(e.AllowN("k", 1, l).Allowed)
	c.Set(59 * time.Second)
	fmt.Println(e.AllowN("k", 1, l).RetryAfter)
	c.Advance(time.Second)
	fmt.Println(e.AllowN("k", 1, l).Allowed)
	// Output:
	// true
	// 1s
	// true
}

func ExampleEngine_Peek() {
	e := engine.New()
	defer e.Close()
	l := limit.PerHour(10)
	e.AllowN("k", 4, l)
	d := e.Peek("k", l) // as if a fifth request were counted
	fmt.Println(d.Allowed, d.Remaining)
	// Output: true 5
}

func ExampleEngine_Reset() {
	e := engine.New()
	defer e.Close()
	l := limit.PerHour(1)
	fmt.Println(e.Allow("k", l), e.Allow("k", l))
	e.Reset("k", l)
	fmt.Println(e.Allow("k", l))
	// Output:
	// true false
	// true
}

func ExampleWithMaxKeys() {
	e := engine.New(engine.WithMaxKeys(1), engine.WithShards(1))
	defer e.Close()
	l := limit.PerHour(10)
	fmt.Println(e.Allow("first", l), e.Allow("second", l), e.Full())
	// Output: true false 1
}

func ExampleWithSnapshot() {
	dir, err := os.MkdirTemp("", "floodgate")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "limits.snap")
	l := limit.PerMinute(2)

	e := engine.New(engine.WithSnapshot(path, 10*time.Second, nil))
	fmt.Println(e.Allow("k", l), e.Allow("k", l))
	if err := e.Close(); err != nil { // writes the snapshot
		panic(err)
	}

	restarted := engine.New(engine.WithSnapshot(path, 10*time.Second, nil))
	defer restarted.Close()
	fmt.Println(restarted.Allow("k", l))
	// Output:
	// true true
	// false
}
