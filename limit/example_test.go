package limit_test

import (
	"fmt"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

func ExampleParse() {
	l, err := limit.Parse("5 per minute")
	if err != nil {
		panic(err)
	}
	fmt.Println(l, l.Count(), l.Period())
	_, err = limit.Parse("1/week")
	fmt.Println(err)
	// Output:
	// 5/minute 5 1m0s
	// limit: syntax error: "1/week": unknown unit "week" (want second, minute, hour, day, month or year)
}

func ExampleParseMany() {
	ls, err := limit.ParseMany("10/second; 1000/day")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ls), limit.FormatMany(ls))
	// Output: 2 10/second;1000/day
}

func ExampleNew() {
	l, err := limit.New(100, 90*time.Second)
	fmt.Println(l, err)
	// Periods down to limit.MinPeriod, one millisecond, come only from New:
	// the string grammar has no unit shorter than a second.
	l, err = limit.New(10, 100*time.Millisecond)
	fmt.Println(l, l.Period(), err)
	_, err = limit.New(10, 100*time.Microsecond)
	fmt.Println(err)
	// Output:
	// 100/90 seconds <nil>
	// 10/100ms 100ms <nil>
	// limit: period out of range: period "100µs" is not a whole number of milliseconds in 1ms..86400h0m0s
}

func ExampleParseStrategy() {
	for _, name := range []string{"gcra", "sliding-window-counter", "leaky-bucket"} {
		s, ok := limit.ParseStrategy(name)
		fmt.Println(name, "=>", s, ok)
	}
	// Output:
	// gcra => gcra true
	// sliding-window-counter => sliding-window true
	// leaky-bucket => sliding-window false
}

func ExampleMustParseMany() {
	ls := limit.MustParseMany("10/second;1000/day")
	fmt.Println(ls[0], ls[1].Count())
	// Output: 10/second 1000
}

func ExampleMustParse() {
	fmt.Println(limit.MustParse("5 per 10 minutes"))
	// Output: 5/10 minutes
}
