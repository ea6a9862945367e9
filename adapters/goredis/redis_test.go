package goredis_test

import (
	"testing"

	"github.com/floodgate-go/floodgate/internal/redistest"
)

// server is a redis-server on a free loopback port.
type server struct {
	addr string
	stop func() // kills it and waits for it; idempotent
}

// startRedis starts a real redis-server for t (see redistest).
func startRedis(t testing.TB) server {
	r := redistest.Start(t)
	return server{addr: r.Addr(), stop: r.Kill}
}
