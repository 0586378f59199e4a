package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the module's root, the parent of this directory.
const repoRoot = ".."

// goFiles parses every non-test Go file under dir (relative to the
// module's root) and calls f with each.
func goFiles(t *testing.T, dir string, f func(path string, file *ast.File)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "var") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		f(path, file)
		return nil
	})
	require.NoError(t, err)
}

// stringLit is the value of e when it is a string literal.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// envVars returns the environment variables importd reads: the string
// literals naming one in cmd/importd and internal/bus (NATS_CREDS and the
// other NATS settings), and Go's own.
func envVars(t *testing.T) map[string]bool {
	t.Helper()
	name := regexp.MustCompile(`^(IMPORTD_[A-Z0-9_]+|NATS_[A-Z0-9_]+|DATABASE_URL)$`)
	vars := map[string]bool{"GOGC": true, "GOMEMLIMIT": true}
	for _, dir := range []string{"cmd/importd", "internal/bus"} {
		goFiles(t, dir, func(_ string, file *ast.File) {
			ast.Inspect(file, func(n ast.Node) bool {
				if e, ok := n.(ast.Expr); ok {
					if s, ok := stringLit(e); ok && name.MatchString(s) {
						vars[s] = true
					}
				}
				return true
			})
		})
	}
	require.True(t, vars["IMPORTD_METRICS_ADDR"] && vars["NATS_CREDS"], "importd's settings not found: %v", vars)
	return vars
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
