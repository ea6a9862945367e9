package ulule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

func mustLimit(t testing.TB, n int64, period time.Duration) limit.Limit {
	t.Helper()
	l, err := limit.New(n, period)
	require.NoError(t, err, "limit.New(%d, %v)", n, period)
	return l
}
