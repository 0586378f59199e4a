package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestColumnKind(t *testing.T) {
	t.Parallel()

	tests := []struct {
		rt     ResourceType
		column string
		want   Kind
	}{
		{ProductType, "key", KindString},
		{ProductType, "name", KindString},
		{ProductType, "attributes.0.name", KindString},
		{ProductType, "attributes.12.isRequired", KindBool},
		{ProductType, "attributes.0.label.en", KindString},
		{ProductType, "attributes.isRequired", KindString},
		{Category, "name.en", KindString},
		{Category, "parent.key", KindString},
		{Category, "parent.typeId", KindString},
		{Category, "orderHint", KindString},
		{TaxCategory, "rates.0.amount", KindNumber},
		{TaxCategory, "rates.3.includedInPrice", KindBool},
		{TaxCategory, "rates.0.country", KindString},
		{Product, "key", KindString},
		{Product, "productType.key", KindString},
		{Product, "categories.0.key", KindString},
		{Product, "publish", KindBool},
		{Product, "masterVariant.prices.0.value.centAmount", KindInt},
		{Product, "masterVariant.prices.0.value.fractionDigits", KindInt},
		{Product, "masterVariant.prices.0.value.currencyCode", KindString},
		{Product, "variants.3.prices.1.value.centAmount", KindInt},
		{Product, "variants.3.sku", KindString},
		{Product, "variants.3.attributes.0.value", KindString},
		{Product, "variants.3.attributes.0.value.amount", KindString},
		{Product, "variants.x.prices.1.value.centAmount", KindString},
		{Product, "variants.-1.prices.1.value.centAmount", KindString},
		{Product, "masterVariant.prices.0.value.centAmount.more", KindString},
		{Product, "masterVariant..prices", KindString},
		{Product, "publish.0", KindString},
		{ProductVariant, "isMasterVariant", KindBool},
		{ProductVariant, "prices.0.value.centAmount", KindInt},
		{ProductVariant, "product.key", KindString},
		{Price, "value.centAmount", KindInt},
		{Price, "value.fractionDigits", KindInt},
		{Price, "validFrom", KindString},
		{InventoryEntry, "quantityOnStock", KindInt},
		{InventoryEntry, "restockableInDays", KindInt},
		{InventoryEntry, "supplyChannel.key", KindString},
		{InventoryEntry, "expectedDelivery", KindString},
		{InventoryEntry, "unknown", KindString},
		{InventoryEntry, "", KindString},
		{"Customer", "quantityOnStock", KindString},
		{Product, "quantityOnStock", KindString},
	}
	for _, tt := range tests {
		t.Run(string(tt.rt)+"/"+tt.column, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, ColumnKind(tt.rt, tt.column))
		})
	}
}

// TestColumnKindAgreesWithValidate checks every typed column against
// Validate: a value of the column's kind passes, a string does not.
func TestColumnKindAgreesWithValidate(t *testing.T) {
	t.Parallel()

	values := map[Kind]any{KindInt: 1, KindNumber: 0.5, KindBool: true}
	tests := []struct {
		rt     ResourceType
		column string
	}{
		{ProductType, "attributes.0.isRequired"},
		{TaxCategory, "rates.0.amount"},
		{TaxCategory, "rates.0.includedInPrice"},
		{Product, "publish"},
		{Product, "masterVariant.prices.0.value.centAmount"},
		{Product, "masterVariant.prices.0.value.fractionDigits"},
		{Product, "variants.1.prices.0.value.centAmount"},
		{ProductVariant, "isMasterVariant"},
		{ProductVariant, "prices.0.value.centAmount"},
		{Price, "value.centAmount"},
		{Price, "value.fractionDigits"},
		{InventoryEntry, "quantityOnStock"},
		{InventoryEntry, "restockableInDays"},
	}
	for _, tt := range tests {
		t.Run(string(tt.rt)+"/"+tt.column, func(t *testing.T) {
			t.Parallel()
			kind := ColumnKind(tt.rt, tt.column)
			require.NotEqual(t, KindString, kind)
			_, errs := Validate(tt.rt, record(t, tt.rt, tt.column, values[kind]))
			require.Empty(t, errs)
			_, errs = Validate(tt.rt, record(t, tt.rt, tt.column, "1"))
			require.Equal(t, []string{"INVALID_TYPE " + tt.column}, summary(errs))
		})
	}
}

func BenchmarkColumnKind(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if ColumnKind(Product, "variants.3.prices.1.value.centAmount") != KindInt {
			b.Fatal("not an int")
		}
	}
}
