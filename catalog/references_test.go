package catalog

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateReferences(t *testing.T) {
	t.Parallel()

	productRefs := []Reference{
		{TypeID: "product-type", Key: "shoes"},
		{TypeID: "category", Key: "shoes"},
		{TypeID: "category", Key: "running"},
		{TypeID: "tax-category", Key: "standard"},
	}
	tests := []struct {
		name string
		rt   ResourceType
		data []byte
		want []Reference
	}{
		{"ProductType", ProductType, record(t, ProductType), nil},
		{"Category", Category, record(t, Category), []Reference{{TypeID: "category", Key: "shoes"}}},
		{"Category without parent", Category, record(t, Category, "parent", del), nil},
		{"TaxCategory", TaxCategory, record(t, TaxCategory), nil},
		{"Product", Product, record(t, Product), productRefs},
		{"Product with typeIds omitted", Product, record(t, Product, "productType.typeId", del, "categories.0.typeId", del, "categories.1.typeId", nil, "taxCategory.typeId", ""), productRefs},
		{"Product with a category twice", Product, record(t, Product, "categories.2", map[string]any{"key": "shoes"}), productRefs},
		{"Product without optional references", Product, record(t, Product, "categories", del, "taxCategory", nil), productRefs[:1]},
		{"Product with a bad category", Product, record(t, Product, "categories.0.key", "!"), []Reference{productRefs[0], productRefs[2], productRefs[3]}},
		{"Product with a category of another type", Product, record(t, Product, "categories.1.typeId", "product"), []Reference{productRefs[0], productRefs[1], productRefs[3]}},
		{"Product with a category key like the product type key", Product, record(t, Product, "categories", []any{map[string]any{"key": "shoes"}}, "taxCategory", del), productRefs[:2]},
		{"ProductVariant", ProductVariant, record(t, ProductVariant), []Reference{{TypeID: "product", Key: "shoe-123"}}},
		{"Price", Price, record(t, Price), []Reference{{TypeID: "product-variant", SKU: "shoe-123-40"}}},
		{"Price with a bad sku", Price, record(t, Price, "sku", "a"), nil},
		{"InventoryEntry", InventoryEntry, record(t, InventoryEntry), []Reference{{TypeID: "product-variant", SKU: "shoe-123-40"}, {TypeID: "channel", Key: "warehouse-1"}}},
		{"Price with a customer group and a channel", Price, record(t, Price, "customerGroup", map[string]any{"key": "b2b"}, "channel", map[string]any{"typeId": "channel", "key": "store-1"}),
			[]Reference{{TypeID: "product-variant", SKU: "shoe-123-40"}, {TypeID: "customer-group", Key: "b2b"}, {TypeID: "channel", Key: "store-1"}}},
		{"CustomerGroup", CustomerGroup, record(t, CustomerGroup), nil},
		{"Channel", Channel, record(t, Channel), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _ := Validate(tt.rt, tt.data)
			require.Equal(t, tt.want, got.References)
			for _, ref := range got.References {
				rt, ok := ResourceTypeOf(ref.TypeID)
				require.True(t, ok, ref)
				require.Equal(t, rt.IdentifiedBySKU(), ref.SKU != "", ref)
				require.True(t, isKey([]byte(ref.Identity())), ref)
			}
		})
	}
}

// referencesOf lists the references of a decoded record as Validate reports
// them: in field order, without duplicates.
func referencesOf(rec any) []Reference {
	var refs []Reference
	add := func(r Reference) {
		for _, have := range refs {
			if have == r {
				return
			}
		}
		refs = append(refs, r)
	}
	key := func(r KeyReference) Reference { return Reference{TypeID: r.TypeID, Key: r.Key} }
	switch r := rec.(type) {
	case *CategoryRecord:
		if r.Parent != nil {
			add(key(*r.Parent))
		}
	case *ProductRecord:
		add(key(r.ProductType))
		for _, c := range r.Categories {
			add(key(c))
		}
		if r.TaxCategory != nil {
			add(key(*r.TaxCategory))
		}
	case *ProductVariantRecord:
		add(key(r.Product))
	case *PriceRecord:
		add(Reference{TypeID: ProductVariant.TypeID(), SKU: r.SKU})
		if r.CustomerGroup != nil {
			add(key(*r.CustomerGroup))
		}
		if r.Channel != nil {
			add(key(*r.Channel))
		}
	case *InventoryEntryRecord:
		add(Reference{TypeID: ProductVariant.TypeID(), SKU: r.SKU})
		if r.SupplyChannel != nil {
			add(key(*r.SupplyChannel))
		}
	}
	return refs
}

func TestReferencesOfDecodedRecords(t *testing.T) {
	t.Parallel()

	for _, rt := range ResourceTypes {
		t.Run(string(rt), func(t *testing.T) {
			t.Parallel()
			data := record(t, rt)
			got, errs := Validate(rt, data)
			require.Empty(t, errs)
			rec, err := Decode(rt, data)
			require.NoError(t, err)
			require.Equal(t, referencesOf(rec), got.References)
		})
	}
}

func TestValidateManyReferences(t *testing.T) {
	t.Parallel()

	categories := items(maxCategories, func(i int) any { return map[string]any{"key": fmt.Sprint("c-", i%300)} })
	got, errs := Validate(Product, record(t, Product, "categories", categories, "taxCategory.key", "c-7"))
	require.Empty(t, errs)
	require.Len(t, got.References, 1+300+1)
	require.Equal(t, Reference{TypeID: "product-type", Key: "shoes"}, got.References[0])
	for i := range 300 {
		require.Equal(t, Reference{TypeID: "category", Key: fmt.Sprint("c-", i)}, got.References[1+i])
	}
	require.Equal(t, Reference{TypeID: "tax-category", Key: "c-7"}, got.References[301])
}
