package floodgate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// ExampleWait throttles calls to a third-party API that allows 2 calls
// per 100ms: the third call waits for the next window. With a Redis
// store (floodgate.Open("redis://…")), every instance that calls the API
// shares the same 2 per 100ms.
func ExampleWait() {
	s := floodgate.NewMemory(engine.WithStrategy(limit.FixedWindow))
	defer s.Close()
	api, err := limit.New(2, 100*time.Millisecond)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for i := range 3 {
		d, err := floodgate.Wait(ctx, s, "api.example.com", 1, api)
		if err != nil {
			panic(err)
		}
		fmt.Printf("call %d: allowed=%t\n", i+1, d.Allowed) // call the API here
	}
	_, err = floodgate.Wait(ctx, s, "api.example.com", 3, api)
	fmt.Println(err)
	// Output:
	// call 1: allowed=true
	// call 2: allowed=true
	// call 3: allowed=true
	// floodgate: request can never be allowed: its cost exceeds the limit: cost 3 under 2/100ms
}
