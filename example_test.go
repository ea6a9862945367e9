package floodgate_test

import (
	"context"
	"fmt"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

func ExampleOpen() {
	lim, err := floodgate.Open("memory://")
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	limits := []limit.Limit{limit.MustParse("2/minute")}
	for range 3 {
		d, err := lim.Allow(context.Background(), "login:203.0.113.7", 1, limits...)
		fmt.Println(d.Allowed, d.Remaining, err)
	}
	// Output:
	// true 1 <nil>
	// true 0 <nil>
	// false 0 <nil>
}

func ExampleOpen_badURI() {
	_, err := floodgate.Open("memcached://localhost")
	fmt.Println(err)
	// Output: floodgate: invalid storage uri: unknown scheme "memcached" (want memory:// or redis://)
}
