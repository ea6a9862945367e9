package sethvargo_test

import (
	"context"
	"fmt"
	"time"

	"github.com/floodgate-go/floodgate/adapters/sethvargo"
)

// Example is go-limiter's store API counting in Floodgate's in-memory
// engine; "redis://host:6379" would share the counts between instances.
func Example() {
	// was: store, err := memorystore.New(&memorystore.Config{Tokens: 2, Interval: time.Hour})
	store, err := sethvargo.Open("memory://", &sethvargo.Config{Tokens: 2, Interval: time.Hour})
	if err != nil {
		panic(err)
	}
	defer store.Close(context.Background())
	for range 3 {
		tokens, remaining, _, ok, err := store.Take(context.Background(), "client-1")
		if err != nil {
			panic(err)
		}
		fmt.Printf("tokens=%d remaining=%d ok=%t\n", tokens, remaining, ok)
	}
	// Output:
	// tokens=2 remaining=1 ok=true
	// tokens=2 remaining=0 ok=true
	// tokens=2 remaining=0 ok=false
}
