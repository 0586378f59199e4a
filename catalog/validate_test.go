package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deleted, as an edit value, removes the field.
type deleted struct{}

var del deleted

// rawJSON, as an edit value, is put into the record as written.
type rawJSON string

// validRecord is the valid record of type rt in testdata/valid.
func validRecord(t testing.TB, rt ResourceType) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "valid", string(rt)+".json"))
	require.NoError(t, err)
	return data
}

// record is the valid record of type rt with edits applied: pairs of a dotted
// path and a value (del removes the field, rawJSON is inserted as written; an
// index one past the end of an array appends).
func record(t testing.TB, rt ResourceType, edits ...any) []byte {
	t.Helper()
	data := validRecord(t, rt)
	if len(edits) == 0 {
		return data
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	require.NoError(t, dec.Decode(&root))
	require.Zero(t, len(edits)%2, "edits are path, value pairs")
	for i := 0; i < len(edits); i += 2 {
		root = set(t, root, strings.Split(edits[i].(string), "."), edits[i+1])
	}
	out, err := json.Marshal(root)
	require.NoError(t, err)
	return out
}

func set(t testing.TB, node any, path []string, value any) any {
	t.Helper()
	if len(path) == 0 {
		if r, ok := value.(rawJSON); ok {
			return json.RawMessage(r)
		}
		return value
	}
	switch n := node.(type) {
	case map[string]any:
		if len(path) == 1 && value == del {
			delete(n, path[0])
			return n
		}
		n[path[0]] = set(t, n[path[0]], path[1:], value)
		return n
	case []any:
		i, err := strconv.Atoi(path[0])
		require.NoError(t, err)
		if len(path) == 1 && value == del {
			return append(n[:i], n[i+1:]...)
		}
		if i == len(n) {
			n = append(n, nil)
		}
		n[i] = set(t, n[i], path[1:], value)
		return n
	case nil:
		return set(t, map[string]any{}, path, value)
	}
	t.Fatalf("cannot set %v in a %T", path, node)
	return nil
}

// items is a list of n values made by item.
func items(n int, item func(i int) any) []any {
	list := make([]any, n)
	for i := range list {
		list[i] = item(i)
	}
	return list
}

// languages is a localized string of n languages.
func languages(n int) map[string]any {
	ls := make(map[string]any, n)
	for i := range n {
		ls["en-"+strconv.Itoa(i)] = "text"
	}
	return ls
}

// summary lists errors as "CODE field".
func summary(errs []Error) []string {
	var s []string
	for _, e := range errs {
		s = append(s, strings.TrimSpace(e.Code+" "+e.Field))
	}
	return s
}

func requireWellFormed(t testing.TB, errs []Error) {
	t.Helper()
	for _, e := range errs {
		require.Equal(t, DataError, e.Type, e)
		require.NotEmpty(t, e.Code, e)
		require.NotEmpty(t, e.Description, e)
		if e.Code != CodeMalformedRecord {
			require.NotEmpty(t, e.Field, e)
		}
	}
}

func TestValidateValid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		rt       ResourceType
		data     []byte
		identity string
	}{
		{"ProductType", ProductType, record(t, ProductType), "shoes"},
		{"Category", Category, record(t, Category), "running-shoes"},
		{"TaxCategory", TaxCategory, record(t, TaxCategory), "standard"},
		{"Product", Product, record(t, Product), "shoe-123"},
		{"ProductVariant", ProductVariant, record(t, ProductVariant), "shoe-123-43"},
		{"Price", Price, record(t, Price), "price-shoe-123-40-eur"},
		{"InventoryEntry", InventoryEntry, record(t, InventoryEntry), "shoe-123-40"},

		{"only the required fields of ProductType", ProductType, []byte(`{"key":"ab","name":"x"}`), "ab"},
		{"only the required fields of Category", Category, []byte(`{"key":"ab","name":{"en":"x"},"slug":{"en":"ab"}}`), "ab"},
		{"only the required fields of TaxCategory", TaxCategory, []byte(`{"key":"ab","name":"x"}`), "ab"},
		{"only the required fields of Product", Product, []byte(`{"key":"ab","productType":{"key":"pt"},"name":{"en":"x"},"slug":{"en":"ab"}}`), "ab"},
		{"only the required fields of ProductVariant", ProductVariant, []byte(`{"sku":"ab","product":{"key":"p1"}}`), "ab"},
		{"only the required fields of Price", Price, []byte(`{"key":"ab","sku":"s1","value":{"currencyCode":"JPY","centAmount":0}}`), "ab"},
		{"only the required fields of InventoryEntry", InventoryEntry, []byte(`{"sku":"ab","quantityOnStock":0}`), "ab"},

		{"null optional fields", Product, record(t, Product, "description", nil, "categories", nil, "taxCategory", nil, "publish", nil, "masterVariant", nil, "variants", nil), "shoe-123"},
		{"null optional fields of a variant", Product, record(t, Product, "masterVariant.key", nil, "masterVariant.attributes", nil, "masterVariant.prices", nil, "masterVariant.images", nil), "shoe-123"},
		{"empty optional strings", Price, record(t, Price, "country", "", "validFrom", "", "validUntil", ""), "price-shoe-123-40-eur"},
		{"a product without master variant", Product, record(t, Product, "masterVariant", del), "shoe-123"},
		{"unknown fields are ignored", Category, record(t, Category, "extra", map[string]any{"any": []any{1, "x", nil}}, "KEY", 5, "parent.extra", true), "running-shoes"},
		{"typeIds may be omitted", Product, record(t, Product, "productType.typeId", del, "categories.0.typeId", nil, "taxCategory.typeId", ""), "shoe-123"},
		{"the longest key", ProductType, record(t, ProductType, "key", strings.Repeat("k", 256)), strings.Repeat("k", 256)},
		{"a key with escapes", ProductType, []byte(`{"key":"\u0061b_-9Z","name":"x"}`), "ab_-9Z"},
		{"a name of 4096 two-byte characters", ProductType, record(t, ProductType, "name", strings.Repeat("é", maxNameLen)), "shoes"},
		{"100 languages", Category, record(t, Category, "name", languages(maxLanguages)), "running-shoes"},
		{"500 attribute definitions", ProductType, record(t, ProductType, "attributes", items(maxAttributeDefinitions, func(i int) any { return map[string]any{"name": fmt.Sprint("a", i), "type": "text"} })), "shoes"},
		{"100 variants", Product, record(t, Product, "variants", items(maxVariants, func(i int) any { return map[string]any{"sku": fmt.Sprint("v-", i)} })), "shoe-123"},
		{"the largest safe integer", InventoryEntry, record(t, InventoryEntry, "quantityOnStock", rawJSON("9007199254740992")), "shoe-123-40"},
		{"tax amounts 0 and 1", TaxCategory, record(t, TaxCategory, "rates.0.amount", 0, "rates.1.amount", 1), "standard"},
		{"fraction digits 0", Price, record(t, Price, "value.fractionDigits", 0), "price-shoe-123-40-eur"},
		{"fraction digits 20", Price, record(t, Price, "value.fractionDigits", maxFractionDigits), "price-shoe-123-40-eur"},
		{"a validity of one instant", Price, record(t, Price, "validUntil", "2026-01-01T01:00:00+01:00"), "price-shoe-123-40-eur"},
		{"language tags", Category, record(t, Category, "name", map[string]any{"en": "a", "de-CH": "b", "zh-Hant-TW": "c", "gsw": "d", "de-DE-1996": "e", "en-a-bbb": ""}), "running-shoes"},
		{"any attribute value", ProductVariant, record(t, ProductVariant, "attributes.0.value", rawJSON(`{"a":[1.5e300,-0,true,null,"\ud83d\ude00"]}`)), "shoe-123-43"},
		{"white space around the record", InventoryEntry, []byte(" \r\n\t{\"sku\":\"ab\",\"quantityOnStock\":1}\n"), "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errs := Validate(tt.rt, tt.data)
			require.Empty(t, errs)
			require.Equal(t, tt.identity, got.Identity)
			_, err := Decode(tt.rt, tt.data)
			require.NoError(t, err)
		})
	}
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()

	long := func(n int) string { return strings.Repeat("x", n) }
	attribute := func(int) any { return map[string]any{"name": "a", "value": 1} }
	price := func(int) any { return map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 1}} }
	image := func(int) any { return map[string]any{"url": "https://x"} }

	tests := []struct {
		name string
		rt   ResourceType
		data []byte
		want []string
	}{
		// Every type.
		{"not an object", Product, []byte(`[{"key":"ab"}]`), []string{"MALFORMED_RECORD"}},
		{"not JSON", Category, []byte(`{"key":"ab",`), []string{"MALFORMED_RECORD"}},
		{"trailing data", Category, []byte(`{"key":"ab"} {}`), []string{"MALFORMED_RECORD"}},
		{"empty", Price, nil, []string{"MALFORMED_RECORD"}},
		{"null", Price, []byte(`null`), []string{"MALFORMED_RECORD"}},
		{"a trailing comma", TaxCategory, []byte(`{"key":"ab","name":"x",}`), []string{"MALFORMED_RECORD"}},
		{"a byte order mark", TaxCategory, []byte("\ufeff{\"key\":\"ab\",\"name\":\"x\"}"), []string{"MALFORMED_RECORD"}},
		{"an unknown resource type", "Customer", []byte(`{"key":"ab"}`), []string{"MALFORMED_RECORD"}},
		{"a field given twice", Category, []byte(`{"key":"ab","key":"cd","name":{"en":"x"},"slug":{"en":"ab"}}`), []string{"INVALID_VALUE key"}},

		// ProductType.
		{"ProductType without key", ProductType, record(t, ProductType, "key", del), []string{"REQUIRED_FIELD key"}},
		{"ProductType with a null key", ProductType, record(t, ProductType, "key", nil), []string{"REQUIRED_FIELD key"}},
		{"ProductType with an empty name", ProductType, record(t, ProductType, "name", ""), []string{"REQUIRED_FIELD name"}},
		{"ProductType with a numeric name", ProductType, record(t, ProductType, "name", 5), []string{"INVALID_TYPE name"}},
		{"ProductType with a short key", ProductType, record(t, ProductType, "key", "a"), []string{"INVALID_KEY key"}},
		{"ProductType with a key of 257", ProductType, record(t, ProductType, "key", strings.Repeat("k", 257)), []string{"INVALID_KEY key"}},
		{"ProductType with a key of a bad character", ProductType, record(t, ProductType, "key", "shoes!"), []string{"INVALID_KEY key"}},
		{"attribute definition without name", ProductType, record(t, ProductType, "attributes.0.name", del), []string{"REQUIRED_FIELD attributes.0.name"}},
		{"attribute definition without type", ProductType, record(t, ProductType, "attributes.1.type", del), []string{"REQUIRED_FIELD attributes.1.type"}},
		{"attribute definition of an unknown type", ProductType, record(t, ProductType, "attributes.1.type", "color"), []string{"INVALID_VALUE attributes.1.type"}},
		{"attribute definition with isRequired a string", ProductType, record(t, ProductType, "attributes.0.isRequired", "yes"), []string{"INVALID_TYPE attributes.0.isRequired"}},
		{"attribute definitions not an array", ProductType, record(t, ProductType, "attributes", "size"), []string{"INVALID_TYPE attributes"}},
		{"a null attribute definition", ProductType, record(t, ProductType, "attributes.0", nil), []string{"INVALID_TYPE attributes.0"}},
		{"a label of a bad language tag", ProductType, record(t, ProductType, "attributes.0.label.EN", "Size"), []string{"INVALID_VALUE attributes.0.label.EN"}},
		{"ProductType name too long", ProductType, record(t, ProductType, "name", strings.Repeat("é", maxNameLen+1)), []string{"VALUE_TOO_LONG name"}},
		{"ProductType description too long", ProductType, record(t, ProductType, "description", long(maxDescriptionLen+1)), []string{"VALUE_TOO_LONG description"}},
		{"too many attribute definitions", ProductType, record(t, ProductType, "attributes", items(maxAttributeDefinitions+1, func(int) any { return map[string]any{"name": "a", "type": "text"} })), []string{"TOO_MANY_ITEMS attributes"}},
		{"a label of too many languages", ProductType, record(t, ProductType, "attributes.0.label", languages(maxLanguages+1)), []string{"TOO_MANY_ITEMS attributes.0.label"}},

		// Category.
		{"Category without slug", Category, record(t, Category, "slug", del), []string{"REQUIRED_FIELD slug"}},
		{"Category with an empty name", Category, record(t, Category, "name", map[string]any{}), []string{"REQUIRED_FIELD name"}},
		{"Category with a plain name", Category, record(t, Category, "name", "Shoes"), []string{"INVALID_TYPE name"}},
		{"Category with a numeric name", Category, record(t, Category, "name.en", 5), []string{"INVALID_TYPE name.en"}},
		{"Category with a null name", Category, record(t, Category, "name.en", nil), []string{"INVALID_TYPE name.en"}},
		{"Category with a bad slug", Category, record(t, Category, "slug.en", "running shoes"), []string{"INVALID_VALUE slug.en"}},
		{"Category with a bad language tag", Category, record(t, Category, "name.english", "Shoes"), []string{"INVALID_VALUE name.english"}},
		{"Category with a language given twice", Category, []byte(`{"key":"ab","name":{"en":"x","de":"y","en":"z"},"slug":{"en":"ab"}}`), []string{"INVALID_VALUE name.en"}},
		{"Category with a NUL character", Category, []byte(`{"key":"ab","name":{"en":"a\u0000b"},"slug":{"en":"ab"}}`), []string{"INVALID_VALUE name.en"}},
		{"Category with parent a string", Category, record(t, Category, "parent", "shoes"), []string{"INVALID_TYPE parent"}},
		{"Category with a bad parent key", Category, record(t, Category, "parent.key", "s"), []string{"INVALID_KEY parent.key"}},
		{"Category with a parent of another type", Category, record(t, Category, "parent.typeId", "product"), []string{"INVALID_REFERENCE parent.typeId"}},
		{"Category with a parent without key", Category, record(t, Category, "parent", map[string]any{"typeId": "category"}), []string{"INVALID_REFERENCE parent.key"}},
		{"Category with a parent of null key", Category, record(t, Category, "parent.key", nil), []string{"INVALID_REFERENCE parent.key"}},
		{"Category with orderHint too long", Category, record(t, Category, "orderHint", long(maxOrderHintLen+1)), []string{"VALUE_TOO_LONG orderHint"}},
		{"Category with description too long", Category, record(t, Category, "description.en", long(maxDescriptionLen+1)), []string{"VALUE_TOO_LONG description.en"}},
		{"Category with name too long", Category, record(t, Category, "name.de", long(maxNameLen+1)), []string{"VALUE_TOO_LONG name.de"}},
		{"Category with too many languages", Category, record(t, Category, "name", languages(maxLanguages+1)), []string{"TOO_MANY_ITEMS name"}},
		{"Category with several errors", Category, record(t, Category, "key", del, "name", del, "slug.en", "a b", "orderHint", 1), []string{"REQUIRED_FIELD key", "REQUIRED_FIELD name", "INVALID_VALUE slug.en", "INVALID_TYPE orderHint"}},

		// TaxCategory.
		{"TaxCategory without name", TaxCategory, record(t, TaxCategory, "name", del), []string{"REQUIRED_FIELD name"}},
		{"tax rate without amount", TaxCategory, record(t, TaxCategory, "rates.0.amount", del), []string{"REQUIRED_FIELD rates.0.amount"}},
		{"tax rate with an empty country", TaxCategory, record(t, TaxCategory, "rates.1.country", ""), []string{"REQUIRED_FIELD rates.1.country"}},
		{"tax rate with a null name", TaxCategory, record(t, TaxCategory, "rates.0.name", nil), []string{"REQUIRED_FIELD rates.0.name"}},
		{"tax rate with a string amount", TaxCategory, record(t, TaxCategory, "rates.0.amount", "0.19"), []string{"INVALID_TYPE rates.0.amount"}},
		{"tax rate over 1", TaxCategory, record(t, TaxCategory, "rates.0.amount", 1.5), []string{"INVALID_VALUE rates.0.amount"}},
		{"tax rate below 0", TaxCategory, record(t, TaxCategory, "rates.1.amount", -0.1), []string{"INVALID_VALUE rates.1.amount"}},
		{"tax rate out of float range", TaxCategory, record(t, TaxCategory, "rates.0.amount", rawJSON("1e400")), []string{"INVALID_VALUE rates.0.amount"}},
		{"tax rate gigantic", TaxCategory, record(t, TaxCategory, "rates.0.amount", rawJSON("90071992547409930")), []string{"INVALID_VALUE rates.0.amount"}},
		{"tax rate of a lower-case country", TaxCategory, record(t, TaxCategory, "rates.0.country", "de"), []string{"INVALID_VALUE rates.0.country"}},
		{"tax rate of an alpha-3 country", TaxCategory, record(t, TaxCategory, "rates.0.country", "DEU"), []string{"INVALID_VALUE rates.0.country"}},
		{"tax rate with includedInPrice a string", TaxCategory, record(t, TaxCategory, "rates.0.includedInPrice", "true"), []string{"INVALID_TYPE rates.0.includedInPrice"}},
		{"TaxCategory with a bad key", TaxCategory, record(t, TaxCategory, "key", "standard rate"), []string{"INVALID_KEY key"}},
		{"TaxCategory with name too long", TaxCategory, record(t, TaxCategory, "name", long(maxNameLen+1)), []string{"VALUE_TOO_LONG name"}},
		{"too many tax rates", TaxCategory, record(t, TaxCategory, "rates", items(maxTaxRates+1, func(int) any { return map[string]any{"name": "x", "amount": 0.1, "country": "DE"} })), []string{"TOO_MANY_ITEMS rates"}},

		// Product.
		{"Product without productType", Product, record(t, Product, "productType", del), []string{"REQUIRED_FIELD productType"}},
		{"Product without name and slug", Product, record(t, Product, "name", nil, "slug", del), []string{"REQUIRED_FIELD name", "REQUIRED_FIELD slug"}},
		{"productType of another type", Product, record(t, Product, "productType.typeId", "category"), []string{"INVALID_REFERENCE productType.typeId"}},
		{"productType with a numeric typeId", Product, record(t, Product, "productType.typeId", 1), []string{"INVALID_TYPE productType.typeId"}},
		{"productType without key", Product, record(t, Product, "productType.key", del), []string{"INVALID_REFERENCE productType.key"}},
		{"productType with an empty key", Product, record(t, Product, "productType.key", ""), []string{"INVALID_REFERENCE productType.key"}},
		{"categories not an array", Product, record(t, Product, "categories", "shoes"), []string{"INVALID_TYPE categories"}},
		{"a category of another type", Product, record(t, Product, "categories.1.typeId", "product-type"), []string{"INVALID_REFERENCE categories.1.typeId"}},
		{"a category with a bad key", Product, record(t, Product, "categories.2", map[string]any{"key": "a b"}), []string{"INVALID_KEY categories.2.key"}},
		{"a category with a numeric key", Product, record(t, Product, "categories.0.key", 7), []string{"INVALID_TYPE categories.0.key"}},
		{"too many categories", Product, record(t, Product, "categories", items(maxCategories+1, func(int) any { return map[string]any{"key": "c1"} })), []string{"TOO_MANY_ITEMS categories"}},
		{"taxCategory without key", Product, record(t, Product, "taxCategory", map[string]any{}), []string{"INVALID_REFERENCE taxCategory.key"}},
		{"publish a string", Product, record(t, Product, "publish", "true"), []string{"INVALID_TYPE publish"}},
		{"masterVariant an array", Product, record(t, Product, "masterVariant", []any{}), []string{"INVALID_TYPE masterVariant"}},
		{"master variant without sku", Product, record(t, Product, "masterVariant.sku", del), []string{"REQUIRED_FIELD masterVariant.sku"}},
		{"variant with an empty sku", Product, record(t, Product, "variants.0.sku", ""), []string{"REQUIRED_FIELD variants.0.sku"}},
		{"master variant with a bad sku", Product, record(t, Product, "masterVariant.sku", "a"), []string{"INVALID_KEY masterVariant.sku"}},
		{"variant with a bad key", Product, record(t, Product, "variants.1.key", "a.b"), []string{"INVALID_KEY variants.1.key"}},
		{"a sku given twice", Product, record(t, Product, "variants.1.sku", "shoe-123-40"), []string{"DUPLICATE_IDENTITY variants.1.sku"}},
		{"a sku given twice among variants", Product, record(t, Product, "masterVariant", del, "variants.1.sku", "shoe-123-41"), []string{"DUPLICATE_IDENTITY variants.1.sku"}},
		{"an unknown currency", Product, record(t, Product, "masterVariant.prices.0.value.currencyCode", "ABC"), []string{"INVALID_CURRENCY masterVariant.prices.0.value.currencyCode"}},
		{"a long currency", Product, record(t, Product, "masterVariant.prices.0.value.currencyCode", "EURO"), []string{"INVALID_CURRENCY masterVariant.prices.0.value.currencyCode"}},
		{"a lower-case currency", Product, record(t, Product, "variants.0.prices.0.value.currencyCode", "eur"), []string{"INVALID_CURRENCY variants.0.prices.0.value.currencyCode"}},
		{"no currency", Product, record(t, Product, "variants.1.prices.0.value.currencyCode", "XXX"), []string{"INVALID_CURRENCY variants.1.prices.0.value.currencyCode"}},
		{"a numeric currency", Product, record(t, Product, "masterVariant.prices.0.value.currencyCode", 978), []string{"INVALID_TYPE masterVariant.prices.0.value.currencyCode"}},
		{"a negative centAmount", Product, record(t, Product, "masterVariant.prices.0.value.centAmount", -1), []string{"NEGATIVE_AMOUNT masterVariant.prices.0.value.centAmount"}},
		{"a string centAmount", Product, record(t, Product, "masterVariant.prices.0.value.centAmount", "8999"), []string{"INVALID_TYPE masterVariant.prices.0.value.centAmount"}},
		{"a fractional centAmount", Product, record(t, Product, "masterVariant.prices.0.value.centAmount", 89.99), []string{"INVALID_TYPE masterVariant.prices.0.value.centAmount"}},
		{"a centAmount with an exponent", Product, record(t, Product, "masterVariant.prices.0.value.centAmount", rawJSON("1e3")), []string{"INVALID_TYPE masterVariant.prices.0.value.centAmount"}},
		{"a gigantic centAmount", Product, record(t, Product, "masterVariant.prices.0.value.centAmount", rawJSON("9007199254740993")), []string{"INVALID_VALUE masterVariant.prices.0.value.centAmount"}},
		{"a gigantic negative centAmount", Product, record(t, Product, "masterVariant.prices.0.value.centAmount", rawJSON("-123456789012345678901234567890")), []string{"INVALID_VALUE masterVariant.prices.0.value.centAmount"}},
		{"fractionDigits over 20", Product, record(t, Product, "masterVariant.prices.0.value.fractionDigits", 21), []string{"INVALID_VALUE masterVariant.prices.0.value.fractionDigits"}},
		{"negative fractionDigits", Product, record(t, Product, "masterVariant.prices.0.value.fractionDigits", -1), []string{"INVALID_VALUE masterVariant.prices.0.value.fractionDigits"}},
		{"an embedded price without value", Product, record(t, Product, "masterVariant.prices.0.value", del), []string{"REQUIRED_FIELD masterVariant.prices.0.value"}},
		{"an embedded price with an empty value", Product, record(t, Product, "variants.0.prices.0.value", map[string]any{}), []string{"REQUIRED_FIELD variants.0.prices.0.value.currencyCode", "REQUIRED_FIELD variants.0.prices.0.value.centAmount"}},
		{"an embedded price of a bad country", Product, record(t, Product, "masterVariant.prices.0.country", "Germany"), []string{"INVALID_VALUE masterVariant.prices.0.country"}},
		{"an embedded price with a bad key", Product, record(t, Product, "masterVariant.prices.0.key", "p 1"), []string{"INVALID_KEY masterVariant.prices.0.key"}},
		{"an attribute without name", Product, record(t, Product, "masterVariant.attributes.0.name", del), []string{"REQUIRED_FIELD masterVariant.attributes.0.name"}},
		{"an attribute with a gigantic number", Product, record(t, Product, "masterVariant.attributes.1.value", rawJSON(`{"n":[12345678901234567890]}`)), []string{"INVALID_VALUE masterVariant.attributes.1.value"}},
		{"an attribute with a number out of range", Product, record(t, Product, "variants.0.attributes.0.value", rawJSON(`-1e999`)), []string{"INVALID_VALUE variants.0.attributes.0.value"}},
		{"an attribute value too long", Product, record(t, Product, "masterVariant.attributes.0.value", long(maxAttributeValueLen)), []string{"VALUE_TOO_LONG masterVariant.attributes.0.value"}},
		{"an image without url", Product, record(t, Product, "masterVariant.images.0.url", del), []string{"REQUIRED_FIELD masterVariant.images.0.url"}},
		{"an image url too long", Product, record(t, Product, "masterVariant.images.0.url", long(maxURLLen+1)), []string{"VALUE_TOO_LONG masterVariant.images.0.url"}},
		{"too many images", Product, record(t, Product, "masterVariant.images", items(maxImages+1, image)), []string{"TOO_MANY_ITEMS masterVariant.images"}},
		{"too many prices", Product, record(t, Product, "variants.1.prices", items(maxPrices+1, price)), []string{"TOO_MANY_ITEMS variants.1.prices"}},
		{"too many attributes", Product, record(t, Product, "masterVariant.attributes", items(maxAttributes+1, attribute)), []string{"TOO_MANY_ITEMS masterVariant.attributes"}},
		{"too many variants", Product, record(t, Product, "variants", items(maxVariants+1, func(i int) any { return map[string]any{"sku": fmt.Sprint("v-", i)} })), []string{"TOO_MANY_ITEMS variants"}},
		{"Product name too long", Product, record(t, Product, "name.en", long(maxNameLen+1)), []string{"VALUE_TOO_LONG name.en"}},
		{"Product with an empty slug", Product, record(t, Product, "slug.de", ""), []string{"INVALID_VALUE slug.de"}},
		{"Product description of too many languages", Product, record(t, Product, "description", languages(maxLanguages+1)), []string{"TOO_MANY_ITEMS description"}},
		{"Product with an invalid key", Product, record(t, Product, "key", "shoe 123"), []string{"INVALID_KEY key"}},

		// ProductVariant.
		{"ProductVariant without product", ProductVariant, record(t, ProductVariant, "product", del), []string{"REQUIRED_FIELD product"}},
		{"ProductVariant without sku", ProductVariant, record(t, ProductVariant, "sku", del), []string{"REQUIRED_FIELD sku"}},
		{"ProductVariant with a bad sku", ProductVariant, record(t, ProductVariant, "sku", "shoe 43"), []string{"INVALID_KEY sku"}},
		{"ProductVariant with a bad key", ProductVariant, record(t, ProductVariant, "key", "k"), []string{"INVALID_KEY key"}},
		{"ProductVariant of a category", ProductVariant, record(t, ProductVariant, "product.typeId", "category"), []string{"INVALID_REFERENCE product.typeId"}},
		{"ProductVariant with isMasterVariant a string", ProductVariant, record(t, ProductVariant, "isMasterVariant", "no"), []string{"INVALID_TYPE isMasterVariant"}},
		{"ProductVariant with a negative price", ProductVariant, record(t, ProductVariant, "prices.0.value.centAmount", -5), []string{"NEGATIVE_AMOUNT prices.0.value.centAmount"}},
		{"ProductVariant with a bad currency", ProductVariant, record(t, ProductVariant, "prices.0.value.currencyCode", "CHFF"), []string{"INVALID_CURRENCY prices.0.value.currencyCode"}},
		{"ProductVariant with a bad country", ProductVariant, record(t, ProductVariant, "prices.0.country", "ch"), []string{"INVALID_VALUE prices.0.country"}},
		{"ProductVariant with a label too long", ProductVariant, record(t, ProductVariant, "images.0.label", long(maxNameLen+1)), []string{"VALUE_TOO_LONG images.0.label"}},
		{"ProductVariant with a NUL in an attribute", ProductVariant, record(t, ProductVariant, "attributes.1.value", rawJSON(`["a\u0000"]`)), []string{"INVALID_VALUE attributes.1.value"}},
		{"ProductVariant with too many images", ProductVariant, record(t, ProductVariant, "images", items(maxImages+1, image)), []string{"TOO_MANY_ITEMS images"}},
		{"ProductVariant with attributes an object", ProductVariant, record(t, ProductVariant, "attributes", map[string]any{"size": 43}), []string{"INVALID_TYPE attributes"}},

		// Price.
		{"Price without key, sku and value", Price, record(t, Price, "key", del, "sku", del, "value", del), []string{"REQUIRED_FIELD key", "REQUIRED_FIELD sku", "REQUIRED_FIELD value"}},
		{"Price without currency and amount", Price, record(t, Price, "value.currencyCode", del, "value.centAmount", nil), []string{"REQUIRED_FIELD value.currencyCode", "REQUIRED_FIELD value.centAmount"}},
		{"Price with a numeric sku", Price, record(t, Price, "sku", 5), []string{"INVALID_TYPE sku"}},
		{"Price with a bad sku", Price, record(t, Price, "sku", "a"), []string{"INVALID_KEY sku"}},
		{"Price with a date without time", Price, record(t, Price, "validFrom", "2026-01-01"), []string{"INVALID_VALUE validFrom"}},
		{"Price valid until before from", Price, record(t, Price, "validUntil", "2025-12-31T00:00:00Z"), []string{"INVALID_VALUE validUntil"}},
		{"Price of a bad country", Price, record(t, Price, "country", "de"), []string{"INVALID_VALUE country"}},
		{"Price of a padded currency", Price, record(t, Price, "value.currencyCode", "EUR "), []string{"INVALID_CURRENCY value.currencyCode"}},
		{"Price with a negative amount", Price, record(t, Price, "value.centAmount", -1), []string{"NEGATIVE_AMOUNT value.centAmount"}},
		{"Price with fractional fractionDigits", Price, record(t, Price, "value.fractionDigits", 1.5), []string{"INVALID_TYPE value.fractionDigits"}},
		{"Price with value a number", Price, record(t, Price, "value", 7999), []string{"INVALID_TYPE value"}},

		// InventoryEntry.
		{"InventoryEntry without quantity", InventoryEntry, record(t, InventoryEntry, "quantityOnStock", del), []string{"REQUIRED_FIELD quantityOnStock"}},
		{"InventoryEntry with an empty sku", InventoryEntry, record(t, InventoryEntry, "sku", ""), []string{"REQUIRED_FIELD sku"}},
		{"InventoryEntry with a string quantity", InventoryEntry, record(t, InventoryEntry, "quantityOnStock", "42"), []string{"INVALID_TYPE quantityOnStock"}},
		{"InventoryEntry with a fractional quantity", InventoryEntry, record(t, InventoryEntry, "quantityOnStock", 4.2), []string{"INVALID_TYPE quantityOnStock"}},
		{"InventoryEntry with a negative quantity", InventoryEntry, record(t, InventoryEntry, "quantityOnStock", -1), []string{"NEGATIVE_AMOUNT quantityOnStock"}},
		{"InventoryEntry with negative restock days", InventoryEntry, record(t, InventoryEntry, "restockableInDays", -3), []string{"NEGATIVE_AMOUNT restockableInDays"}},
		{"InventoryEntry with a gigantic quantity", InventoryEntry, record(t, InventoryEntry, "quantityOnStock", rawJSON("-9007199254740993")), []string{"INVALID_VALUE quantityOnStock"}},
		{"InventoryEntry with a bad date", InventoryEntry, record(t, InventoryEntry, "expectedDelivery", "tomorrow"), []string{"INVALID_VALUE expectedDelivery"}},
		{"InventoryEntry with a date a number", InventoryEntry, record(t, InventoryEntry, "expectedDelivery", 1767225600), []string{"INVALID_TYPE expectedDelivery"}},
		{"InventoryEntry of a category channel", InventoryEntry, record(t, InventoryEntry, "supplyChannel.typeId", "category"), []string{"INVALID_REFERENCE supplyChannel.typeId"}},
		{"InventoryEntry of a bad channel key", InventoryEntry, record(t, InventoryEntry, "supplyChannel.key", "x"), []string{"INVALID_KEY supplyChannel.key"}},
		{"InventoryEntry with a bad sku", InventoryEntry, record(t, InventoryEntry, "sku", "a/b"), []string{"INVALID_KEY sku"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errs := Validate(tt.rt, tt.data)
			require.Equal(t, tt.want, summary(errs))
			requireWellFormed(t, errs)
		})
	}
}

func TestValidateDescriptions(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		rt   ResourceType
		data []byte
		want Error
	}{
		{"wrong type", ProductType, record(t, ProductType, "name", 5), DataErr(CodeInvalidType, "name", "expected string, got number")},
		{"fraction", Price, record(t, Price, "value.centAmount", 1.5), DataErr(CodeInvalidType, "value.centAmount", "expected integer, got number 1.5")},
		{"missing", Price, record(t, Price, "key", del), DataErr(CodeRequiredField, "key", "required field is missing")},
		{"null", Price, record(t, Price, "key", nil), DataErr(CodeRequiredField, "key", "required field is null")},
		{"key", Price, record(t, Price, "key", "a b"), DataErr(CodeInvalidKey, "key", `"a b" does not match ^[A-Za-z0-9_-]{2,256}$`)},
		{"reference", Product, record(t, Product, "productType.typeId", "category"), DataErr(CodeInvalidReference, "productType.typeId", `typeId "category", expected "product-type"`)},
		{"too long", Category, record(t, Category, "orderHint", strings.Repeat("é", 300)), DataErr(CodeValueTooLong, "orderHint", "300 characters, limit 256")},
		{"too many", TaxCategory, record(t, TaxCategory, "rates", items(301, func(int) any { return map[string]any{"name": "x", "amount": 0, "country": "DE"} })), DataErr(CodeTooManyItems, "rates", "301 items, limit 300")},
		{"malformed", Price, []byte(`{"key": tru}`), DataErr(CodeMalformedRecord, "", `not a readable JSON object: invalid character '}' in literal true at offset 11`)},
		{"not an object", Price, []byte(`[]`), DataErr(CodeMalformedRecord, "", "expected a JSON object, got array")},
		{"long member names are cut", Category, []byte(`{"key":"ab","name":{"` + strings.Repeat("é", 100) + `":"x"},"slug":{"en":"ab"}}`),
			DataErr(CodeInvalidValue, "name."+strings.Repeat("é", 32), strconv.Quote(strings.Repeat("é", 32))+"… is not a language tag")},
		{"long values are cut", Price, record(t, Price, "key", strings.Repeat("!", 100)), DataErr(CodeInvalidKey, "key", strconv.Quote(strings.Repeat("!", 64))+"… does not match ^[A-Za-z0-9_-]{2,256}$")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errs := Validate(tt.rt, tt.data)
			require.Equal(t, []Error{tt.want}, errs)
		})
	}
}

func TestValidateCapsErrors(t *testing.T) {
	t.Parallel()

	data := record(t, Product, "categories", items(maxCategories, func(int) any { return map[string]any{"key": "!"} }))
	got, errs := Validate(Product, data)
	require.Len(t, errs, MaxRecordErrors)
	for i, e := range errs {
		require.Equal(t, fmt.Sprintf("INVALID_KEY categories.%d.key", i), summary([]Error{e})[0])
	}
	require.Equal(t, "shoe-123", got.Identity)

	_, again := Validate(Product, data)
	require.Equal(t, errs, again, "the order is deterministic")
}

func TestValidateDeepNesting(t *testing.T) {
	t.Parallel()

	deep := func(n int) []byte {
		return []byte(`{"sku":"ab","product":{"key":"p1"},"attributes":[{"name":"a","value":` +
			strings.Repeat("[", n) + strings.Repeat("]", n) + `}]}`)
	}
	_, errs := Validate(ProductVariant, deep(100))
	require.Empty(t, errs)
	_, errs = Validate(ProductVariant, deep(maxDepth))
	require.Equal(t, []string{"MALFORMED_RECORD"}, summary(errs))
}

func TestValidateConcurrently(t *testing.T) {
	t.Parallel()

	valid := record(t, Product)
	invalid := record(t, Product, "key", "a", "masterVariant.prices.0.value.centAmount", -1)
	wantValid, _ := Validate(Product, valid)
	_, wantErrs := Validate(Product, invalid)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				got, errs := Validate(Product, valid)
				if len(errs) != 0 || got.Identity != wantValid.Identity || len(got.References) != len(wantValid.References) {
					t.Errorf("valid record: %v %v", got, errs)
					return
				}
				if _, errs := Validate(Product, invalid); len(errs) != len(wantErrs) {
					t.Errorf("invalid record: %v", errs)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func BenchmarkValidateProduct(b *testing.B) {
	data := validRecord(b, Product)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, errs := Validate(Product, data); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkValidateInvalidProduct(b *testing.B) {
	data := record(b, Product, "key", "a", "masterVariant.prices.0.value.currencyCode", "EURO", "variants.1.sku", "shoe-123-40")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, errs := Validate(Product, data); len(errs) != 3 {
			b.Fatal(errs)
		}
	}
}

func ExampleValidate() {
	record := []byte(`{
		"key": "shoe-123",
		"productType": {"key": "shoes"},
		"name": {"en": "Running shoe"},
		"slug": {"en": "running shoe"},
		"masterVariant": {"sku": "shoe-123-40", "prices": [{"value": {"currencyCode": "EURO", "centAmount": -1}}]}
	}`)
	v, errs := Validate(Product, record)
	fmt.Println(v.Identity, v.References)
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// shoe-123 [{product-type shoes }]
	// INVALID_VALUE slug.en: slug "running shoe" does not match ^[A-Za-z0-9_-]{2,256}$
	// INVALID_CURRENCY masterVariant.prices.0.value.currencyCode: "EURO" is not an ISO 4217 currency code
	// NEGATIVE_AMOUNT masterVariant.prices.0.value.centAmount: -1 is below zero
}

func TestValidateMaster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rt     ResourceType
		data   []byte
		master bool
	}{
		{"a product with a master variant", Product, record(t, Product), true},
		{"a product without", Product, record(t, Product, "masterVariant", del), false},
		{"a product whose master variant is null", Product, record(t, Product, "masterVariant", nil), false},
		{"a product with a member of that name below the top", Product, record(t, Product, "masterVariant", del, "variants.0.masterVariant", map[string]any{}), false},
		{"a master variant", ProductVariant, record(t, ProductVariant, "isMasterVariant", true), true},
		{"a variant that is not the master", ProductVariant, record(t, ProductVariant, "isMasterVariant", false), false},
		{"a variant that does not say", ProductVariant, record(t, ProductVariant, "isMasterVariant", del), false},
		{"a variant named by an escape", ProductVariant, []byte(`{"sku":"ab","product":{"key":"p1"},"\u0069sMasterVariant":true}`), true},
		{"other types never", Category, record(t, Category, "isMasterVariant", true, "masterVariant", map[string]any{}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errs := Validate(tt.rt, tt.data)
			require.Empty(t, errs)
			require.Equal(t, tt.master, got.Master)
		})
	}
}
