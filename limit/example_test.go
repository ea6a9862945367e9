package limit_test

import (
	"encoding/json"
	"errors"
	"flag"
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
	// limit: invalid: "1/week": unknown unit "week" (want second, minute, hour, day, month or year)
}

func ExampleParseMany() {
	ls, err := limit.ParseMany("10/second; 1000/day")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ls), ls[0], ls[1])
	// Output: 2 10/second 1000/day
}

func ExampleNew() {
	l, err := limit.New(100, 90*time.Second)
	fmt.Println(l, err)
	// Periods down to one millisecond come only from New:
	// the string grammar has no unit shorter than a second.
	l, err = limit.New(10, 100*time.Millisecond)
	fmt.Println(l, l.Period(), err)
	_, err = limit.New(10, 100*time.Microsecond)
	fmt.Println(err)
	// Output:
	// 100/90 seconds <nil>
	// 10/100ms 100ms <nil>
	// limit: invalid: period "100µs" is not a whole number of milliseconds in 1ms..86400h0m0s
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

func ExampleMustParse() {
	fmt.Println(limit.MustParse("5 per 10 minutes"))
	// Output: 5/10 minutes
}

func ExampleLimit_MarshalText() {
	type config struct {
		Rate  limit.Limit   `json:"rate"`
		Daily []limit.Limit `json:"daily"`
		Unset limit.Limit   `json:"unset"`
	}
	var c config
	err := json.Unmarshal([]byte(`{"rate": "5 per minute", "daily": ["1000/day"]}`), &c)
	fmt.Println(c.Rate, c.Daily, c.Unset.Valid(), err)
	b, err := json.Marshal(c)
	fmt.Println(string(b), err)

	// The grammar has no burst: such a limit does not marshal.
	burst, _ := limit.PerSecond(10).WithBurst(20)
	_, err = burst.MarshalText()
	fmt.Println(errors.Is(err, limit.ErrInvalid), err)
	// Output:
	// 5/minute [1000/day] false <nil>
	// {"rate":"5/minute","daily":["1000/day"],"unset":""} <nil>
	// true limit: invalid: 10/second has a burst of 20, which the grammar cannot express
}

func ExampleLimit_UnmarshalText() {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var rate limit.Limit
	fs.TextVar(&rate, "rate", limit.PerMinute(60), "requests allowed per client")
	if err := fs.Parse([]string{"-rate", "10 per second"}); err != nil {
		panic(err)
	}
	fmt.Println(rate, rate.Count(), rate.Period())
	// Output: 10/second 10 1s
}
