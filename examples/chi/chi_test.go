package chiexample_test

import (
	"testing"

	chiexample "github.com/floodgate-go/floodgate/examples/chi"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// TestApp: the example service on a loopback server answers 200 and 401,
// and the sixth login is a 429. The ways of mounting the Middleware, and
// the self-test's refusals, are tested in httplimit/chilimit.
func TestApp(t *testing.T) { routertest.RunApp(t, chiexample.App) }
