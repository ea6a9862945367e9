package otel_test

import (
	"log/slog"
	"testing"

	"github.com/floodgate-go/floodgate/internal/redistest"
	_ "github.com/floodgate-go/floodgate/redisstore" // registers redis://
)

// redisServer is a real redis-server for the test (see redistest).
type redisServer struct{ *redistest.Server }

func startRedis(t *testing.T) redisServer { return redisServer{redistest.Start(t)} }

func (r redisServer) addr() string       { return r.Addr() }
func (r redisServer) kill()              { r.Kill() }
func (r redisServer) start(t *testing.T) { r.Restart(t) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
