package ulule_test

import (
	"context"
	"fmt"
	"time"

	limiter "github.com/ulule/limiter/v3"

	"github.com/floodgate-go/floodgate/adapters/ulule"
)

// Example keeps ulule's limiter and counts in Floodgate's in-memory
// engine; "redis://host:6379" would share the counts between instances.
func Example() {
	store, err := ulule.Open("memory://") // was: store := memory.NewStore()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	lim := limiter.New(store, limiter.Rate{Limit: 2, Period: time.Hour})
	for range 3 {
		c, err := lim.Get(context.Background(), "client-1")
		if err != nil {
			panic(err)
		}
		fmt.Printf("limit=%d remaining=%d reached=%t\n", c.Limit, c.Remaining, c.Reached)
	}
	// Output:
	// limit=2 remaining=1 reached=false
	// limit=2 remaining=0 reached=false
	// limit=2 remaining=0 reached=true
}
