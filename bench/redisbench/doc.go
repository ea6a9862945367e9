// Package redisbench compares Floodgate's Redis store with the Redis rate
// limiters Go users pick today, github.com/go-redis/redis_rate/v10 and
// github.com/ulule/limiter/v3's Redis store, in one run against one local
// redis-server that the benchmark starts itself, with a bare PING on each
// client as the floor. It also holds the client comparison (rueidis
// against go-redis) behind redisstore's choice of client.
//
// Run (redis-server must be on PATH):
//
//	cd bench && go test -run '^$' -bench . -count 10 ./redisbench | tee redis.txt
//	benchstat redis.txt
//
// Every benchmark runs 64 goroutines over 10 000 keys, whatever -cpu says,
// and reports decisions/s and the p99 latency of one decision in ns.
package redisbench
