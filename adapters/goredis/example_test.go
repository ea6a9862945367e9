package goredis_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/adapters/goredis"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/go-redis/v9"
)

// Example counts in Redis through the service's own go-redis client, with
// a failure policy in front: here no Redis listens on port 1, so the
// in-memory backup decides and the error says why.
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:1",
		ContextTimeoutEnabled: true, // the store's 50 ms budget bounds each call
		MaxRetries:            -1,   // a retried EVALSHA could count twice
		DialerRetries:         1,
	})
	defer client.Close()

	store, err := goredis.New(client, "") // was: redisstore.Open("redis://127.0.0.1:1")
	if err != nil {
		panic(err)
	}
	limiter := floodgate.NewFallback(store, floodgate.FallbackConfig{Policy: floodgate.FailMemory, Backup: floodgate.NewMemory()})
	defer limiter.Close()

	d, err := limiter.AllowN(context.Background(), "client-1", 1, limit.PerMinute(5))
	fmt.Println(d.Allowed, d.Remaining, errors.Is(err, floodgate.ErrStorage), errors.Is(err, floodgate.ErrUnavailable))
	// Output:
	// true 4 true true
}
