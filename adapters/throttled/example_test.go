package throttled_test

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"
	gthrottled "github.com/throttled/throttled/v2"

	fgthrottled "github.com/floodgate-go/floodgate/adapters/throttled"
	"github.com/floodgate-go/floodgate/engine"
)

// Example is throttled's GCRA limiter keeping its state in Floodgate's
// engine.
func Example() {
	// was: store, err := memstore.NewCtx(65536)
	store := fgthrottled.New(engine.WithMaxKeys(65536))
	defer store.Close()
	rl, err := gthrottled.NewGCRARateLimiterCtx(store, gthrottled.RateQuota{MaxRate: gthrottled.PerMin(2), MaxBurst: 1})
	if err != nil {
		panic(err)
	}
	for range 3 {
		limited, res, err := rl.RateLimitCtx(context.Background(), "client-1", 1)
		if err != nil {
			panic(err)
		}
		fmt.Printf("limited=%t remaining=%d\n", limited, res.Remaining)
	}
	// Output:
	// limited=false remaining=1
	// limited=false remaining=0
	// limited=true remaining=0
}

// ExampleNewRedis keeps throttled's state in Redis, shared by every
// instance. It needs a server, so it is compiled, not run.
func ExampleNewRedis() {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	store := fgthrottled.NewRedis(client, "throttled:")
	rl, err := gthrottled.NewGCRARateLimiterCtx(store, gthrottled.RateQuota{MaxRate: gthrottled.PerMin(2), MaxBurst: 1})
	if err != nil {
		panic(err)
	}
	limited, res, err := rl.RateLimitCtx(context.Background(), "client-1", 1)
	fmt.Println(limited, res.Remaining, err)
}
