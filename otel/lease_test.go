package otel_test

import (
	"net"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeadRedisLeaseMetrics: with lease mode on a Redis that is down, the
// metrics name the store behind the lease (store "redis", strategy gcra)
// and report it down, through the lease and the fallback.
func TestDeadRedisLeaseMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	s := newServer(t, "redis://"+dead+"/0?strategy=gcra&lease=10&timeout=50ms&backoff=1m", floodgate.WithLogger(discardLogger()))
	got := s.do(t, 6, "POST", "/login")
	assert.Equal(t, map[int]int{204: 3, 429: 3}, got, "POST /login with Redis dead: the memory policy enforces 3/minute")
	rm := s.collect(t)
	assert.Equal(t, 0.0, value(rm, "floodgate.store.up", "store", "redis"), "store.up with Redis dead")
	assert.Equal(t, 6.0, value(rm, "floodgate.decisions", "store", "redis", "strategy", "gcra"), "decisions labelled with Redis and GCRA")
	assert.Equal(t, 6.0, value(rm, "floodgate.fallback.decisions", "store", "redis"), "one fallback decision per request")
	assert.Equal(t, 1.0, value(rm, "floodgate.store.state_changes", "store", "redis", "state", "down"))
}
