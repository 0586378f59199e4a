package resolver

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/errors.md")
	require.NoError(t, err)
	require.Contains(t, string(doc), "| `"+CodeCyclicReference+"` |")
}

func TestParseEventRejectsGarbage(t *testing.T) {
	t.Parallel()
	require.True(t, validKey("men-tops_2"))
	for _, k := range []string{"", "x", "a b", "a/b", "é-key", string(make([]byte, 257))} {
		require.False(t, validKey(k), "%q", k)
	}
}
