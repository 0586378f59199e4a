package tracking

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCodesDocumented keeps docs/tracking-codes.md and Codes in step: every
// code documented with its name, no code twice.
func TestCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/tracking-codes.md")
	require.NoError(t, err)
	seen := map[Code]bool{}
	for _, c := range Codes {
		require.False(t, seen[c.Code], "code %d listed twice", c.Code)
		seen[c.Code] = true
		require.Contains(t, string(doc), fmt.Sprintf("| %d | %s |", c.Code, c.Name))
	}
	require.Equal(t, len(Codes), strings.Count(string(doc), "\n| ")-2, "the table (less header and rule) has exactly one row per code")
}
