package ulule_test

import (
	"testing"

	"github.com/floodgate-go/floodgate/internal/redistest"
)

// startRedis starts a real redis-server for t and returns its address.
func startRedis(t testing.TB) string { return redistest.Start(t).Addr() }
