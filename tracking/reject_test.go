package tracking

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRejectCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/errors.md")
	require.NoError(t, err)
	for _, c := range []string{CodeWorkMessageTooLarge, CodeUnknownResourceType, CodeRedeliveryLimit} {
		require.Contains(t, string(doc), "| `"+c+"` | SYSTEM_ERROR |", c)
	}
}
