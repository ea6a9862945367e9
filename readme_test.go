package floodgate_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeUsageIsTheExample keeps README's usage block identical to the
// body of Example, which the test suite compiles and runs, so the README
// cannot show code that does not build or does something else.
func TestReadmeUsageIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	_, usage, ok := strings.Cut(string(readme), "## Usage\n\n```go\n")
	require.True(t, ok, "README has no ## Usage section with a go block")
	usage, _, ok = strings.Cut(usage, "```")
	require.True(t, ok)
	_, body, ok := strings.Cut(string(src), "// README: begin\n")
	require.True(t, ok, "example_test.go has no README: begin marker")
	body, _, ok = strings.Cut(body, "\t// README: end")
	require.True(t, ok)
	var want strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	assert.Equal(t, want.String(), usage, "README's usage block differs from Example's body between the README markers")
}
