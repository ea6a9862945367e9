package clock_test

import (
	"fmt"
	"time"

	"github.com/floodgate-go/floodgate/clock"
)

func ExampleManual() {
	c := clock.NewManual(0)
	c.Advance(90 * time.Second)
	fmt.Println(c.Now())
	c.Set(time.Second) // tests may move it back
	fmt.Println(c.Now())
	// Output:
	// 1m30s
	// 1s
}

func ExampleSystem() {
	c := clock.System()
	a := c.Now()
	fmt.Println(c.Now() >= a)
	// Output: true
}
