package catalog

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorePriceRecordScopes(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt")),
		applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("sku-1"), variantJSON("sku-2"))))
	price := func(key, sku, extra string) ApplyRecord {
		return applyRec(t, Price, []byte(`{"key":"`+key+`","sku":"`+sku+`","value":{"currencyCode":"EUR","centAmount":100},"country":"DE"`+extra+`}`))
	}
	res := applyOK(t, s,
		price("pr-1", "sku-1", ""),
		price("pr-2", "sku-1", ""),                                         // pr-1's scope, earlier in the batch
		price("pr-3", "sku-1", `,"channel":{"key":"store"}`),               // another scope
		price("pr-4", "sku-2", ""),                                         // another variant
		price("pr-5", "sku-1", `,"validFrom":"2026-01-01T00:00:00+01:00"`), // another scope
	)
	require.Equal(t, []Outcome{Created, Refused, Created, Created, Created}, outcomes(res))
	require.Equal(t, []string{"DUPLICATE_PRICE "}, codesOf(res[1].Errors))
	require.Contains(t, res[1].Errors[0].Description, `"pr-1"`)

	res = applyOK(t, s,
		price("pr-6", "sku-1", `,"validFrom":"2025-12-31T23:00:00Z"`), // pr-5's instant, stored before
		price("pr-1", "sku-1", `,"customerGroup":{"key":"gold"}`),     // pr-1 changes its own scope
		price("pr-7", "sku-1", ""),                                    // the scope pr-1 left
	)
	require.Equal(t, []Outcome{Refused, Updated, Created}, outcomes(res))
	require.Equal(t, []string{"DUPLICATE_PRICE "}, codesOf(res[0].Errors))
	require.Contains(t, res[0].Errors[0].Description, `"pr-5"`)
}

func TestStoreImportAPIAttributeType(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, []byte(`{"key":"pt","name":"pt","attributes":[`+
		`{"name":"size","type":"text"},{"name":"tags","type":{"name":"set","elementType":{"name":"lenum","values":[{"key":"new","label":{"en":"New"}}]}}}]}`)))
	pv := func(sku, attrs string) ApplyRecord {
		return applyRec(t, ProductVariant, []byte(`{"sku":"`+sku+`","product":{"key":"pp"},"attributes":[`+attrs+`]}`))
	}
	res := applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("sku-0"))),
		pv("sku-1", `{"type":"text","name":"size","value":"M"},{"type":"lenum-set","name":"tags","value":["new"]}`),
		pv("sku-2", `{"type":"number","name":"size","value":"M"}`),
		pv("sku-3", `{"type":"lenum","name":"tags","value":"new"}`),
	)
	require.Equal(t, []Outcome{Created, Created, Refused, Refused}, outcomes(res))
	require.Empty(t, res[1].Warnings)
	require.Equal(t, []string{"INVALID_ATTRIBUTE_VALUE attributes.0.type"}, codesOf(res[2].Errors))
	require.Equal(t, []string{"INVALID_ATTRIBUTE_VALUE attributes.0.type"}, codesOf(res[3].Errors))
	require.Contains(t, res[3].Errors[0].Description, `"lenum-set"`)
}

func TestStoreProductLevelAttributes(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, []byte(`{"key":"pt","name":"pt","attributes":[`+
		`{"name":"brand","type":"text","level":"Product","isRequired":true},{"name":"size","type":"text"}]}`)))
	product := func(key, own, variant string) ApplyRecord {
		return applyRec(t, Product, []byte(`{"key":"`+key+`","productType":{"key":"pt"},"name":{"en":"x"},"slug":{"en":"`+key+`"},`+
			`"attributes":[`+own+`],"masterVariant":{"sku":"`+key+`-1","attributes":[`+variant+`]}}`))
	}
	res := applyOK(t, s,
		product("p-ok", `{"name":"brand","value":"acme"}`, `{"name":"size","value":"M"}`),
		product("p-swapped", `{"name":"brand","value":"acme"},{"name":"size","value":"M"}`, `{"name":"brand","value":"acme"}`),
		product("p-missing", ``, `{"name":"size","value":"M"}`),
	)
	require.Equal(t, []Outcome{Created, Created, Refused}, outcomes(res))
	require.Equal(t, []string{"UNDEFINED_ATTRIBUTE attributes.1", "UNDEFINED_ATTRIBUTE masterVariant.attributes.0"}, codesOf(res[1].Warnings))
	require.Contains(t, res[1].Warnings[0].Description, "variant attribute")
	require.Equal(t, []string{"REQUIRED_ATTRIBUTE attributes"}, codesOf(res[2].Errors))
	got := getJSON(t, s, Product, "p-swapped")
	require.Equal(t, []any{map[string]any{"name": "brand", "value": "acme"}}, got["attributes"])
	require.Equal(t, []any{}, got["masterVariant"].(map[string]any)["attributes"], "the variant's brand was dropped")
}

func TestStoreConstraintsAcrossRecords(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, []byte(`{"key":"pt","name":"pt","attributes":[`+
		`{"name":"color","type":"text","attributeConstraint":"SameForAll"},{"name":"ean","type":"text","attributeConstraint":"Unique"}]}`)))
	res := applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("sku-1", "color=red", "ean=1"))))
	require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
	pv := func(sku string, attrs ...string) ApplyRecord {
		return applyRec(t, ProductVariant, productVariantJSON(t, sku, "pp", false, attrs...))
	}
	res = applyOK(t, s,
		pv("sku-2", "color=blue", "ean=2"), // the stored master is red
		pv("sku-3", "color=red", "ean=1"),  // the stored master has ean 1
		pv("sku-4", "color=red", "ean=4"),
		pv("sku-5", "color=red", "ean=4"), // sku-4, earlier in the batch, has ean 4
	)
	require.Equal(t, []Outcome{Refused, Refused, Created, Refused}, outcomes(res))
	require.Equal(t, []string{"ATTRIBUTE_CONSTRAINT attributes.0"}, codesOf(res[0].Errors))
	require.Contains(t, res[0].Errors[0].Description, "SameForAll")
	require.Equal(t, []string{"ATTRIBUTE_CONSTRAINT attributes.1"}, codesOf(res[1].Errors))
	require.Contains(t, res[1].Errors[0].Description, `"sku-1"`)
	require.Contains(t, res[3].Errors[0].Description, `"sku-4"`)

	// A Product record that changes every variant's color at once is fine.
	res = applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("sku-1", "color=green", "ean=1"), variantJSON("sku-4", "color=green", "ean=4"))))
	require.Equal(t, Updated, res[0].Outcome, "%+v", res[0])
}

func TestStoreInventoryOneChannelPerSKU(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	stock := func(sku, channel string, qty int) ApplyRecord {
		ch := ""
		if channel != "" {
			ch = `,"supplyChannel":{"key":"` + channel + `"}`
		}
		return applyRec(t, InventoryEntry, []byte(`{"sku":"`+sku+`","quantityOnStock":`+fmt.Sprint(qty)+ch+`}`))
	}
	res := applyOK(t, s, stock("sku-1", "store-a", 5), stock("sku-2", "", 1))
	require.Equal(t, []Outcome{Created, Created}, outcomes(res))
	res = applyOK(t, s, stock("sku-1", "store-a", 7), stock("sku-1", "store-b", 3), stock("sku-2", "store-a", 2))
	require.Equal(t, []Outcome{Updated, Refused, Refused}, outcomes(res))
	require.Equal(t, []string{"UNSUPPORTED_FIELD supplyChannel"}, codesOf(res[1].Errors))
	require.Contains(t, res[1].Errors[0].Description, `supply channel "store-a"`)
	require.Contains(t, res[2].Errors[0].Description, "no supply channel")
	require.Equal(t, 7.0, getJSON(t, s, InventoryEntry, "sku-1")["quantityOnStock"])
}
