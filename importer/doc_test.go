package importer

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

func TestCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/errors.md")
	require.NoError(t, err)
	for _, c := range []string{catalog.CodeUnknownReference, catalog.CodeDuplicateSKU, catalog.CodeRequiredAttribute,
		catalog.CodeUndefinedAttribute, catalog.CodeSuperseded, CodeTargetFailure, CodeTimeout} {
		require.Contains(t, string(doc), "| `"+c+"` |", c)
	}
}

func TestOwnRefs(t *testing.T) {
	t.Parallel()
	refs := ownRefs(catalog.Product, "shirt", []byte(`{"key":"shirt","masterVariant":{"sku":"s-1"},"variants":[{"sku":"s-2"}]}`))
	require.Equal(t, []catalog.Reference{{TypeID: "product", Key: "shirt"}, {TypeID: "product-variant", SKU: "s-1"}, {TypeID: "product-variant", SKU: "s-2"}}, refs)
	require.Equal(t, []catalog.Reference{{TypeID: "inventory-entry", SKU: "s-1"}}, ownRefs(catalog.InventoryEntry, "s-1", []byte(`{"sku":"s-1"}`)))
}
