package echoexample_test

import (
	"testing"

	echoexample "github.com/floodgate-go/floodgate/examples/echo"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// TestApp: the example service on a loopback server answers 200 and 401,
// and the sixth login is a 429. The ways of mounting the Middleware, and
// the self-test's refusals, are tested in httplimit/echolimit.
func TestApp(t *testing.T) { routertest.RunApp(t, echoexample.App) }
