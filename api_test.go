package floodgate_test

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateAPI = flag.Bool("update-api", false, "rewrite api.txt from the source")

// API budget: the public names a newcomer has to learn. Counted as
// exported top-level functions, types, constants and variables, and
// exported methods of exported types; interface methods and struct
// fields are not counted. internal/, test files, testdata and the nested
// modules are not part of the surface.
const (
	maxNames     = 150
	maxRootNames = 40
)

// TestAPISurface keeps the module's public surface countable: at most
// maxNames names in all and maxRootNames in the root package, and exactly
// the names listed in api.txt, so that growing the API is a deliberate
// change reviewed in that file (go test -run TestAPISurface -update-api
// rewrites it).
func TestAPISurface(t *testing.T) {
	names := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == "." {
				return nil
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own
			}
			if n := d.Name(); n == "internal" || n == "testdata" || strings.HasPrefix(n, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		names[pkg] = append(names[pkg], exported(f)...)
		return nil
	})
	require.NoError(t, err)

	var lines []string
	total := 0
	for _, pkg := range slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	}) {
		ns := names[pkg]
		if len(ns) == 0 {
			continue // a package of tests, such as fuzz
		}
		slices.Sort(ns)
		total += len(ns)
		lines = append(lines, fmt.Sprintf("%s (%d): %s", pkg, len(ns), strings.Join(ns, " ")))
	}
	got := strings.Join(lines, "\n") + fmt.Sprintf("\ntotal %d\n", total)
	if *updateAPI {
		require.NoError(t, os.WriteFile("api.txt", []byte(got), 0o644))
	}
	want, err := os.ReadFile("api.txt")
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "the public API changed: review it, then go test -run TestAPISurface -update-api")
	assert.LessOrEqual(t, len(names["."]), maxRootNames, "names in the root package")
	assert.LessOrEqual(t, total, maxNames, "names in the module's public API")
}

// exported returns f's exported names: top-level declarations, and
// methods as Type.Method when Type is exported.
func exported(f *ast.File) []string {
	var ns []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				ns = append(ns, d.Name.Name)
				continue
			}
			t := d.Recv.List[0].Type
			if s, ok := t.(*ast.StarExpr); ok {
				t = s.X
			}
			if ix, ok := t.(*ast.IndexExpr); ok {
				t = ix.X
			}
			if id, ok := t.(*ast.Ident); ok && id.IsExported() {
				ns = append(ns, id.Name+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						ns = append(ns, s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							ns = append(ns, n.Name)
						}
					}
				}
			}
		}
	}
	return ns
}
