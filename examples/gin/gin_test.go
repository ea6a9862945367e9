package ginexample_test

import (
	"testing"

	"github.com/gin-gonic/gin"

	ginexample "github.com/floodgate-go/floodgate/examples/gin"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

func init() { gin.SetMode(gin.TestMode) } // no route listing on stdout, which examples compare

// TestApp: the example service on a loopback server answers 200 and 401,
// and the sixth login is a 429. The ways of mounting the Middleware, and
// the self-test's refusals, are tested in httplimit/ginlimit.
func TestApp(t *testing.T) { routertest.RunApp(t, ginexample.App) }
