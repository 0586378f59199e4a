package ingest

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

// TestErrorCodesDocumented keeps docs/errors.md in step with the codes.
func TestErrorCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/errors.md")
	require.NoError(t, err)
	codes := []string{
		catalog.CodeMalformedRecord, catalog.CodeRecordTooLarge, catalog.CodeRequiredField, catalog.CodeInvalidType,
		catalog.CodeInvalidKey, catalog.CodeInvalidValue, catalog.CodeInvalidCurrency, catalog.CodeNegativeAmount,
		catalog.CodeValueTooLong, catalog.CodeTooManyItems, catalog.CodeInvalidReference, catalog.CodeDuplicateIdentity,
		CodeUnknownFormat, CodeUnknownDataType, CodeUnsupportedContract, CodeUnknownEncoding, CodeInvalidHeader,
		CodeInvalidReceipt, CodeInvalidMerchant, CodeMissingObject, CodeUnreadableGzip, CodeDeliveryTooLarge,
		CodeMalformedContainer, CodeReadError, CodeInternal,
	}
	for _, c := range codes {
		require.Contains(t, string(doc), "| `"+c+"` |", "docs/errors.md must document %s", c)
	}
}
