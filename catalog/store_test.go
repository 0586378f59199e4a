package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/internal/testenv"
)

const storeMerchant = "merchant-1"

// newTestStore returns a store on a fresh database of the test's own.
func newTestStore(t testing.TB) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.DB(t)
	return NewStore(pool), pool
}

// applyRec makes the ApplyRecord of a record, which must be valid.
func applyRec(t testing.TB, rt ResourceType, data []byte) ApplyRecord {
	t.Helper()
	v, errs := Validate(rt, data)
	require.Empty(t, errs, "test record %s %s", rt, data)
	return ApplyRecord{OpID: "op-" + v.Identity, Type: rt, Key: v.Identity, Data: data}
}

// applyOK applies recs and requires the batch to succeed.
func applyOK(t testing.TB, s Target, recs ...ApplyRecord) []ApplyResult {
	t.Helper()
	res, err := s.Apply(context.Background(), storeMerchant, recs)
	require.NoError(t, err)
	require.Len(t, res, len(recs))
	return res
}

// outcomes lists the outcomes of results.
func outcomes(res []ApplyResult) []Outcome {
	out := make([]Outcome, len(res))
	for i, r := range res {
		out[i] = r.Outcome
	}
	return out
}

// codesOf lists "CODE field" of errs.
func codesOf(errs []Error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Code + " " + e.Field
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// productTypeJSON is a product type with the given attributes; a name with
// a trailing "!" is required.
func productTypeJSON(t testing.TB, key string, attrs ...string) []byte {
	t.Helper()
	defs := []map[string]any{}
	for _, a := range attrs {
		name, req := strings.CutSuffix(a, "!")
		defs = append(defs, map[string]any{"name": name, "type": "text", "isRequired": req})
	}
	return mustJSON(t, map[string]any{"key": key, "name": key, "attributes": defs})
}

// variantJSON is an embedded variant with the given attributes ("name=value").
func variantJSON(sku string, attrs ...string) map[string]any {
	as := []map[string]any{}
	for _, a := range attrs {
		name, value, _ := strings.Cut(a, "=")
		as = append(as, map[string]any{"name": name, "value": value})
	}
	return map[string]any{"sku": sku, "attributes": as}
}

// productJSON is a product of the given type with a master variant (nil for
// none) and variants.
func productJSON(t testing.TB, key, typeKey string, master map[string]any, variants ...map[string]any) []byte {
	t.Helper()
	p := map[string]any{
		"key":         key,
		"productType": map[string]any{"key": typeKey},
		"name":        map[string]any{"en": "Product " + key},
		"slug":        map[string]any{"en": key},
	}
	if master != nil {
		p["masterVariant"] = master
	}
	if len(variants) > 0 {
		p["variants"] = variants
	}
	return mustJSON(t, p)
}

// productVariantJSON is a ProductVariant record.
func productVariantJSON(t testing.TB, sku, product string, master bool, attrs ...string) []byte {
	t.Helper()
	v := variantJSON(sku, attrs...)
	v["product"] = map[string]any{"typeId": "product", "key": product}
	if master {
		v["isMasterVariant"] = true
	}
	return mustJSON(t, v)
}

func categoryJSON(t testing.TB, key, name string) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{"key": key, "name": map[string]any{"en": name}, "slug": map[string]any{"en": key}})
}

func priceJSON(t testing.TB, key, sku string, cents int) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{"key": key, "sku": sku, "value": map[string]any{"currencyCode": "EUR", "centAmount": cents}})
}

// getJSON reads a resource, which must exist.
func getJSON(t testing.TB, s *Store, rt ResourceType, key string) map[string]any {
	t.Helper()
	data, found, err := s.Get(context.Background(), storeMerchant, rt, key)
	require.NoError(t, err)
	require.True(t, found, "%s %s not found", rt, key)
	var v map[string]any
	require.NoError(t, json.Unmarshal(data, &v))
	return v
}

// masterOf is the sku of the master variant of a product, "" when none,
// checking there is at most one.
func masterOf(t testing.TB, pool *pgxpool.Pool, product string) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT sku FROM catalog_variants
		WHERE merchant_id = $1 AND product_key = $2 AND is_master`, storeMerchant, product)
	require.NoError(t, err)
	skus, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.LessOrEqual(t, len(skus), 1, "masters of %s: %v", product, skus)
	if len(skus) == 0 {
		return ""
	}
	return skus[0]
}

func versionOf(t testing.TB, pool *pgxpool.Pool, rt ResourceType, key string) int64 {
	t.Helper()
	id := "key"
	if rt.IdentifiedBySKU() {
		id = "sku"
	}
	var v int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT version FROM `+storeTables[rt]+` WHERE merchant_id = $1 AND `+id+` = $2`, storeMerchant, key).Scan(&v))
	return v
}

func TestStoreCreateUnchangedUpdate(t *testing.T) {
	t.Parallel()

	pv := ProductVariant.TypeID()
	tests := []struct {
		rt      ResourceType
		seed    []ResourceType // testdata records applied first
		update  []any          // edits that make the second version
		created []Reference    // what the first version creates besides itself
		drop    []any          // edits from the record to what Get returns
		warns   []string
	}{
		{rt: ProductType, update: []any{"name", "Footwear", "attributes.2", del}},
		{rt: Category, update: []any{"name.en", "Runners", "parent", del}},
		{rt: TaxCategory, update: []any{"rates.0.amount", 0.2}},
		{
			rt: Product, seed: []ResourceType{ProductType},
			update:  []any{"masterVariant.prices.0.value.centAmount", 7999, "variants.1.attributes.0.value", 43},
			created: []Reference{{TypeID: pv, SKU: "shoe-123-40"}, {TypeID: pv, SKU: "shoe-123-41"}, {TypeID: pv, SKU: "shoe-123-42"}},
		},
		{
			rt: ProductVariant, seed: []ResourceType{ProductType, Product},
			update: []any{"images.0.url", "https://img.example.com/43.jpg"},
			drop:   []any{"isMasterVariant", del, "attributes.1", del},
			warns:  []string{"UNDEFINED_ATTRIBUTE attributes.1"},
		},
		{rt: Price, seed: []ResourceType{ProductType, Product}, update: []any{"value.centAmount", 100, "country", del}},
		{rt: InventoryEntry, update: []any{"quantityOnStock", 7}},
	}
	for _, tt := range tests {
		t.Run(string(tt.rt), func(t *testing.T) {
			t.Parallel()
			s, pool := newTestStore(t)
			for _, rt := range tt.seed {
				res := applyOK(t, s, applyRec(t, rt, validRecord(t, rt)))
				require.Equal(t, Created, res[0].Outcome, "seed %s: %+v", rt, res[0])
			}
			v1 := applyRec(t, tt.rt, validRecord(t, tt.rt))
			self := rowReference(rowID{tt.rt, v1.Key})

			res := applyOK(t, s, v1)
			require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
			require.Equal(t, append([]Reference{self}, tt.created...), res[0].Created)
			require.Equal(t, res[0].Created, res[0].Resources, "what the record stands for")
			require.Empty(t, res[0].Updated)
			require.Empty(t, res[0].Errors)
			require.Equal(t, tt.warns, nilIfEmpty(codesOf(res[0].Warnings)))
			require.EqualValues(t, 1, versionOf(t, pool, tt.rt, v1.Key))

			// The same record again, and the same record written differently.
			res = applyOK(t, s, v1)
			require.Equal(t, Unchanged, res[0].Outcome, "%+v", res[0])
			require.Empty(t, res[0].Created)
			require.Empty(t, res[0].Updated)
			require.Equal(t, append([]Reference{self}, tt.created...), res[0].Resources, "written or not")
			res = applyOK(t, s, applyRec(t, tt.rt, reformat(t, v1.Data)))
			require.Equal(t, Unchanged, res[0].Outcome, "reformatted: %+v", res[0])
			require.EqualValues(t, 1, versionOf(t, pool, tt.rt, v1.Key), "an unchanged record is not written")

			v2 := applyRec(t, tt.rt, record(t, tt.rt, tt.update...))
			res = applyOK(t, s, v2)
			require.Equal(t, Updated, res[0].Outcome, "%+v", res[0])
			require.Empty(t, res[0].Created)
			require.Equal(t, self, res[0].Updated[0])
			require.EqualValues(t, 2, versionOf(t, pool, tt.rt, v1.Key))
			if tt.rt == ProductVariant {
				// Created, then updated: a product's version follows its variants.
				require.EqualValues(t, 3, versionOf(t, pool, Product, "shoe-123"))
			}

			got, found, err := s.Get(context.Background(), storeMerchant, tt.rt, v1.Key)
			require.NoError(t, err)
			require.True(t, found)
			require.JSONEq(t, string(record(t, tt.rt, append(append([]any{}, tt.update...), tt.drop...)...)), string(got))

			n, err := s.Count(context.Background(), storeMerchant, tt.rt)
			require.NoError(t, err)
			if tt.rt == ProductVariant {
				require.Equal(t, 4, n) // and the product's three
			} else {
				require.Equal(t, 1, n)
			}
			n, err = s.Count(context.Background(), "another-merchant", tt.rt)
			require.NoError(t, err)
			require.Zero(t, n)
			_, found, err = s.Get(context.Background(), "another-merchant", tt.rt, v1.Key)
			require.NoError(t, err)
			require.False(t, found)
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// reformat writes a record differently but with the same meaning: members
// in another order, spaced, unknown members and nulls added, typeIds of
// references dropped.
func reformat(t testing.TB, data []byte) []byte {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(data, &v))
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if _, ok := x["key"]; ok && x["typeId"] != nil && len(x) == 2 {
				delete(x, "typeId")
			}
			for _, m := range x {
				walk(m)
			}
		case []any:
			for _, m := range x {
				walk(m)
			}
		}
	}
	walk(v)
	v["unknownField"] = map[string]any{"xx": 1}
	if _, ok := v["description"]; !ok {
		v["description"] = nil
	}
	out, err := json.MarshalIndent(v, "", "   ")
	require.NoError(t, err)
	return out
}

func TestStoreCanonicalForm(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)

	// Escapes, a lone surrogate, invalid UTF-8, a number jsonb's numeric
	// cannot hold as written: the record is stored, as Decode reads it.
	weird := []byte(`{"key":"odd","name":{"en":"caf\u00e9 \ud800 \"q\" ` + "\xff" + `"},"slug":{"en":"odd"},` +
		`"description":{"en":"tab\tnl"}}`)
	res := applyOK(t, s, applyRec(t, Category, weird))
	require.Equal(t, Created, res[0].Outcome)
	got := getJSON(t, s, Category, "odd")
	require.Equal(t, "café \uFFFD \"q\" \uFFFD", got["name"].(map[string]any)["en"])
	require.Equal(t, "tab\tnl", got["description"].(map[string]any)["en"])

	// Attribute values are kept whole, with tiny and huge numbers.
	applyOK(t, s, applyRec(t, ProductType, []byte(`{"key":"pt","name":"pt","attributes":[{"name":"size","type":{"name":"set","elementType":{"name":"number"}}},{"name":"s","type":"ltext"}]}`)))
	p := productJSON(t, "pp", "pt", map[string]any{"sku": "p-1", "attributes": []any{
		map[string]any{"name": "size", "value": []any{json.Number("1e-400"), json.Number("1.5e300")}},
		map[string]any{"name": "s", "value": map[string]any{"en": "\u2028"}},
	}})
	res = applyOK(t, s, applyRec(t, Product, p))
	require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
	got = getJSON(t, s, Product, "pp")
	attrs := got["masterVariant"].(map[string]any)["attributes"].([]any)
	require.Equal(t, []any{0.0, 1.5e300}, attrs[0].(map[string]any)["value"])
	require.Equal(t, map[string]any{"en": "\u2028"}, attrs[1].(map[string]any)["value"])
	res = applyOK(t, s, applyRec(t, Product, p))
	require.Equal(t, Unchanged, res[0].Outcome)
}

func TestStoreRefusesMalformed(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	res := applyOK(t, s,
		ApplyRecord{Type: Category, Key: "aa", Data: []byte(`{"key":"aa",`)},
		ApplyRecord{Type: Category, Key: "bb", Data: []byte(`[1]`)},
		ApplyRecord{Type: "Warehouse", Key: "cc", Data: []byte(`{"key":"cc"}`)},
		ApplyRecord{Type: Category, Key: "other", Data: categoryJSON(t, "dd", "D")},
		ApplyRecord{Type: Category, Data: categoryJSON(t, "ee", "E")}, // no Key: the record's
	)
	require.Equal(t, []Outcome{Refused, Refused, Refused, Refused, Created}, outcomes(res))
	require.Equal(t, []string{"MALFORMED_RECORD "}, codesOf(res[0].Errors))
	require.Equal(t, []string{"MALFORMED_RECORD "}, codesOf(res[1].Errors))
	require.Equal(t, []string{"MALFORMED_RECORD "}, codesOf(res[2].Errors))
	require.Equal(t, []string{"INVALID_KEY key"}, codesOf(res[3].Errors))
	require.Equal(t, []Reference{{TypeID: "category", Key: "ee"}}, res[4].Created)
}

func TestStoreAttributes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		rec     func(t testing.TB) ApplyRecord
		outcome Outcome
		errs    []string
		warns   []string
		stored  string // the product (or variant) as Get returns it, when written
	}{
		{
			name: "undefined attributes dropped",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, Product, productJSON(t, "pp", "pt",
					variantJSON("p-1", "weight=1", "size=40", "color=red"),
					variantJSON("p-2", "size=41", "fit=wide")))
			},
			outcome: Created,
			warns:   []string{"UNDEFINED_ATTRIBUTE masterVariant.attributes.0", "UNDEFINED_ATTRIBUTE masterVariant.attributes.2", "UNDEFINED_ATTRIBUTE variants.0.attributes.1"},
			stored: `{"key":"pp","productType":{"typeId":"product-type","key":"pt"},"name":{"en":"Product pp"},"slug":{"en":"pp"},
				"masterVariant":{"sku":"p-1","attributes":[{"name":"size","value":"40"}]},
				"variants":[{"sku":"p-2","attributes":[{"name":"size","value":"41"}]}]}`,
		},
		{
			name: "required attribute missing",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, Product, productJSON(t, "pp", "pt",
					variantJSON("p-1", "size=40"), variantJSON("p-2", "weight=1"), variantJSON("p-3")))
			},
			outcome: Refused,
			errs:    []string{"REQUIRED_ATTRIBUTE variants.0.attributes", "REQUIRED_ATTRIBUTE variants.1.attributes"},
		},
		{
			name: "required attribute without a value",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, Product, []byte(`{"key":"pp","productType":{"key":"pt"},"name":{"en":"P"},"slug":{"en":"pp"},
					"masterVariant":{"sku":"p-1","attributes":[{"name":"size","value":null}]}}`))
			},
			outcome: Refused,
			errs:    []string{"REQUIRED_ATTRIBUTE masterVariant.attributes"},
		},
		{
			name: "product without variants",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, Product, productJSON(t, "pp", "pt", nil))
			},
			outcome: Created,
			stored:  `{"key":"pp","productType":{"typeId":"product-type","key":"pt"},"name":{"en":"Product pp"},"slug":{"en":"pp"}}`,
		},
		{
			name: "unknown product type",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, Product, productJSON(t, "pp", "nope", variantJSON("p-1", "size=40")))
			},
			outcome: Refused,
			errs:    []string{"UNKNOWN_REFERENCE productType"},
		},
		{
			name: "variant record with undefined attribute",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, ProductVariant, productVariantJSON(t, "v-1", "base", false, "size=40", "gloss=high"))
			},
			outcome: Created,
			warns:   []string{"UNDEFINED_ATTRIBUTE attributes.1"},
			stored:  `{"sku":"v-1","product":{"typeId":"product","key":"base"},"attributes":[{"name":"size","value":"40"}]}`,
		},
		{
			name: "variant record without required attribute",
			rec: func(t testing.TB) ApplyRecord {
				return applyRec(t, ProductVariant, productVariantJSON(t, "v-1", "base", false, "gloss=high"))
			},
			outcome: Refused,
			errs:    []string{"REQUIRED_ATTRIBUTE attributes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t)
			applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt", "size!", "material")),
				applyRec(t, Product, productJSON(t, "base", "pt", nil)))
			rec := tt.rec(t)
			res := applyOK(t, s, rec)
			require.Equal(t, tt.outcome, res[0].Outcome, "%+v", res[0])
			require.Equal(t, tt.errs, nilIfEmpty(codesOf(res[0].Errors)))
			require.Equal(t, tt.warns, nilIfEmpty(codesOf(res[0].Warnings)))
			for _, e := range append(res[0].Errors, res[0].Warnings...) {
				require.Equal(t, DataError, e.Type)
				require.NotEmpty(t, e.Description)
			}
			data, found, err := s.Get(context.Background(), storeMerchant, rec.Type, rec.Key)
			require.NoError(t, err)
			if tt.outcome == Refused {
				require.False(t, found, "a refused record is not written")
				n, err := s.Count(context.Background(), storeMerchant, ProductVariant)
				require.NoError(t, err)
				require.Zero(t, n, "nor are its variants")
				return
			}
			require.True(t, found)
			require.JSONEq(t, tt.stored, string(data))
			// Again: unchanged, with the same warnings.
			res = applyOK(t, s, rec)
			require.Equal(t, Unchanged, res[0].Outcome)
			require.Equal(t, tt.warns, nilIfEmpty(codesOf(res[0].Warnings)))
		})
	}
}

func TestStoreRequiredAttributeDescription(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt", "size!")))
	res := applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("p-1", "colour=red"))))
	require.Equal(t, Refused, res[0].Outcome)
	require.Equal(t, []Error{DataErr(CodeRequiredAttribute, "masterVariant.attributes", `attribute "size" is required by product type "pt"`)}, res[0].Errors)
	require.Empty(t, res[0].Warnings, "a refused record has no warnings")
}

func TestStoreDuplicateSKU(t *testing.T) {
	t.Parallel()

	pt := func(t testing.TB) ApplyRecord { return applyRec(t, ProductType, productTypeJSON(t, "pt", "size!")) }
	prod := func(t testing.TB, key string, skus ...string) ApplyRecord {
		vs := []map[string]any{}
		for _, sku := range skus {
			vs = append(vs, variantJSON(sku, "size=1"))
		}
		return applyRec(t, Product, productJSON(t, key, "pt", nil, vs...))
	}
	tests := []struct {
		name     string
		earlier  func(t testing.TB) []ApplyRecord // applied in a batch of its own first
		batch    func(t testing.TB) []ApplyRecord
		outcomes []Outcome
		errs     map[int][]string
		owners   map[string]string // sku → product
	}{
		{
			name:     "owned by a product imported before",
			earlier:  func(t testing.TB) []ApplyRecord { return []ApplyRecord{pt(t), prod(t, "aa", "xx")} },
			batch:    func(t testing.TB) []ApplyRecord { return []ApplyRecord{prod(t, "bb", "yy", "xx")} },
			outcomes: []Outcome{Refused},
			errs:     map[int][]string{0: {"DUPLICATE_SKU variants.1.sku"}},
			owners:   map[string]string{"xx": "aa"},
		},
		{
			name: "claimed earlier in the batch",
			batch: func(t testing.TB) []ApplyRecord {
				return []ApplyRecord{pt(t), prod(t, "aa", "xx"), prod(t, "bb", "xx"), prod(t, "cc", "yy")}
			},
			outcomes: []Outcome{Created, Created, Refused, Created},
			errs:     map[int][]string{2: {"DUPLICATE_SKU variants.0.sku"}},
			owners:   map[string]string{"xx": "aa", "yy": "cc"},
		},
		{
			name: "a refused product claims nothing",
			batch: func(t testing.TB) []ApplyRecord {
				bad := applyRec(t, Product, productJSON(t, "aa", "pt", nil, variantJSON("xx")))
				return []ApplyRecord{pt(t), bad, prod(t, "bb", "xx")}
			},
			outcomes: []Outcome{Created, Refused, Created},
			errs:     map[int][]string{1: {"REQUIRED_ATTRIBUTE variants.0.attributes"}},
			owners:   map[string]string{"xx": "bb"},
		},
		{
			name: "a variant record of another product",
			earlier: func(t testing.TB) []ApplyRecord {
				return []ApplyRecord{pt(t), prod(t, "aa", "xx"), prod(t, "bb", "yy")}
			},
			batch: func(t testing.TB) []ApplyRecord {
				return []ApplyRecord{applyRec(t, ProductVariant, productVariantJSON(t, "xx", "bb", false, "size=2"))}
			},
			outcomes: []Outcome{Refused},
			errs:     map[int][]string{0: {"DUPLICATE_SKU sku"}},
			owners:   map[string]string{"xx": "aa", "yy": "bb"},
		},
		{
			name:    "the same product again keeps its skus",
			earlier: func(t testing.TB) []ApplyRecord { return []ApplyRecord{pt(t), prod(t, "aa", "xx", "yy")} },
			batch: func(t testing.TB) []ApplyRecord {
				return []ApplyRecord{prod(t, "aa", "yy", "xx"), applyRec(t, ProductVariant, productVariantJSON(t, "xx", "aa", false, "size=3"))}
			},
			outcomes: []Outcome{Updated, Updated},
			owners:   map[string]string{"xx": "aa", "yy": "aa"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pool := newTestStore(t)
			if tt.earlier != nil {
				for _, r := range applyOK(t, s, tt.earlier(t)...) {
					require.Equal(t, Created, r.Outcome, "%+v", r)
				}
			}
			res := applyOK(t, s, tt.batch(t)...)
			require.Equal(t, tt.outcomes, outcomes(res), "%+v", res)
			for i, r := range res {
				require.Equal(t, tt.errs[i], nilIfEmpty(codesOf(r.Errors)), "record %d", i)
			}
			for sku, owner := range tt.owners {
				var got string
				require.NoError(t, pool.QueryRow(context.Background(),
					`SELECT product_key FROM catalog_variants WHERE merchant_id = $1 AND sku = $2`, storeMerchant, sku).Scan(&got))
				require.Equal(t, owner, got, "owner of %s", sku)
			}
		})
	}
}

func TestStoreDuplicateSKUDescription(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt")),
		applyRec(t, Product, productJSON(t, "aa", "pt", variantJSON("xx"))))
	res := applyOK(t, s, applyRec(t, Product, productJSON(t, "bb", "pt", variantJSON("xx"))))
	require.Equal(t, []Error{DataErr(CodeDuplicateSKU, "masterVariant.sku", `sku "xx" belongs to product "aa"`)}, res[0].Errors)
}

func TestStoreReferences(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt")))

	res := applyOK(t, s,
		applyRec(t, ProductVariant, productVariantJSON(t, "v-1", "nope", true)),
		applyRec(t, Price, priceJSON(t, "price-1", "nope-1", 100)),
		applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("p-1"))),
		// Records after it in the batch see the product.
		applyRec(t, ProductVariant, productVariantJSON(t, "p-2", "pp", false)),
		applyRec(t, Price, priceJSON(t, "price-2", "p-1", 100)),
		applyRec(t, Price, priceJSON(t, "price-3", "p-2", 100)),
		applyRec(t, InventoryEntry, []byte(`{"sku":"anything","quantityOnStock":3}`)),
	)
	require.Equal(t, []Outcome{Refused, Refused, Created, Created, Created, Created, Created}, outcomes(res))
	require.Equal(t, []Error{DataErr(CodeUnknownReference, "product",
		`product "nope" is not in the catalog; the resolver should have waited for it`)}, res[0].Errors)
	require.Equal(t, []Error{DataErr(CodeUnknownReference, "sku",
		`no variant has the sku "nope-1"; the resolver should have waited for it`)}, res[1].Errors)
	require.Equal(t, []Reference{{TypeID: "product", Key: "pp"}, {TypeID: "product-variant", SKU: "p-1"}}, res[2].Created)
	require.Equal(t, []Reference{{TypeID: "product-variant", SKU: "p-2"}}, res[3].Created)
	require.Equal(t, []Reference{{TypeID: "price", Key: "price-2"}}, res[4].Created)
	require.Equal(t, []Reference{{TypeID: "inventory-entry", SKU: "anything"}}, res[6].Created)
}

func TestStoreMasterVariant(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	pv := func(sku string) Reference { return Reference{TypeID: ProductVariant.TypeID(), SKU: sku} }
	applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt", "size")))

	// A product without a master, then its master variant.
	res := applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", nil, variantJSON("aa"), variantJSON("bb"))))
	require.Equal(t, Created, res[0].Outcome)
	require.Equal(t, "", masterOf(t, pool, "pp"))
	res = applyOK(t, s, applyRec(t, ProductVariant, productVariantJSON(t, "mm", "pp", true)))
	require.Equal(t, Created, res[0].Outcome)
	require.Equal(t, "mm", masterOf(t, pool, "pp"))

	// Another master demotes it.
	res = applyOK(t, s, applyRec(t, ProductVariant, productVariantJSON(t, "aa", "pp", true)))
	require.Equal(t, Updated, res[0].Outcome)
	require.Equal(t, []Reference{pv("aa"), pv("mm")}, res[0].Updated)
	require.Equal(t, "aa", masterOf(t, pool, "pp"))

	// A variant record without isMasterVariant keeps the variant's role.
	res = applyOK(t, s, applyRec(t, ProductVariant, productVariantJSON(t, "aa", "pp", false, "size=9")))
	require.Equal(t, Updated, res[0].Outcome)
	require.Equal(t, "aa", masterOf(t, pool, "pp"))
	res = applyOK(t, s, applyRec(t, ProductVariant, productVariantJSON(t, "aa", "pp", true, "size=9")))
	require.Equal(t, Unchanged, res[0].Outcome, "already the master")

	// A product record without a master variant keeps the roles too.
	res = applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", nil, variantJSON("aa", "size=9"), variantJSON("bb"))))
	require.Equal(t, Unchanged, res[0].Outcome, "%+v", res[0])
	require.Equal(t, "aa", masterOf(t, pool, "pp"))

	// A product record with a master variant: b becomes the master, a does
	// not stay one; m, which the record does not name, stays a variant.
	res = applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("bb"), variantJSON("aa", "size=9"))))
	require.Equal(t, Updated, res[0].Outcome)
	require.Equal(t, []Reference{{TypeID: "product", Key: "pp"}, pv("bb"), pv("aa")}, res[0].Updated)
	require.Equal(t, "bb", masterOf(t, pool, "pp"))
	got := getJSON(t, s, Product, "pp")
	require.Equal(t, "bb", got["masterVariant"].(map[string]any)["sku"])
	var others []string
	for _, v := range got["variants"].([]any) {
		others = append(others, v.(map[string]any)["sku"].(string))
	}
	require.Equal(t, []string{"aa", "mm"}, others, "in order: the record's, then the one added by a variant record")
	require.Equal(t, true, getJSON(t, s, ProductVariant, "bb")["isMasterVariant"])
	require.NotContains(t, getJSON(t, s, ProductVariant, "aa"), "isMasterVariant")

	// Two masters of one product in one batch: the later wins.
	res = applyOK(t, s,
		applyRec(t, ProductVariant, productVariantJSON(t, "mm", "pp", true)),
		applyRec(t, ProductVariant, productVariantJSON(t, "cc", "pp", true)),
		applyRec(t, ProductVariant, productVariantJSON(t, "aa", "pp", false, "size=9")),
	)
	require.Equal(t, []Outcome{Updated, Created, Unchanged}, outcomes(res))
	require.Equal(t, []Reference{pv("mm"), pv("bb")}, res[0].Updated)
	require.Equal(t, []Reference{pv("mm")}, res[1].Updated)
	require.Equal(t, "cc", masterOf(t, pool, "pp"))

	// The master demoted and changed by one record is updated once.
	res = applyOK(t, s, applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("mm"), variantJSON("cc", "size=5"))))
	require.Equal(t, Updated, res[0].Outcome)
	require.Equal(t, []Reference{{TypeID: "product", Key: "pp"}, pv("mm"), pv("cc")}, res[0].Updated)
	require.Equal(t, "mm", masterOf(t, pool, "pp"))
}

func TestStoreBatchInOrder(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	v1, v2 := categoryJSON(t, "cc", "One"), categoryJSON(t, "cc", "Two")
	res := applyOK(t, s,
		applyRec(t, Category, v1), applyRec(t, Category, v1),
		applyRec(t, Category, v2), applyRec(t, Category, reformat(t, v2)),
		applyRec(t, Category, categoryJSON(t, "dd", "D")),
		applyRec(t, Category, v1),
	)
	require.Equal(t, []Outcome{Created, Unchanged, Updated, Unchanged, Created, Updated}, outcomes(res))
	require.Equal(t, "One", getJSON(t, s, Category, "cc")["name"].(map[string]any)["en"])
	require.EqualValues(t, 3, versionOf(t, pool, Category, "cc"))

	// Every type in one batch, in dependency order, and a product type
	// changed in the middle of it.
	res = applyOK(t, s,
		applyRec(t, ProductType, productTypeJSON(t, "pt", "size")),
		applyRec(t, TaxCategory, validRecord(t, TaxCategory)),
		applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("p-1", "size=1", "colour=red"))),
		applyRec(t, ProductType, productTypeJSON(t, "pt", "size", "colour")),
		applyRec(t, ProductVariant, productVariantJSON(t, "p-2", "pp", false, "colour=blue")),
		applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("p-1", "size=1", "colour=red"))),
		applyRec(t, Price, priceJSON(t, "pr", "p-2", 5)),
		applyRec(t, InventoryEntry, []byte(`{"sku":"p-2","quantityOnStock":3}`)),
	)
	require.Equal(t, []Outcome{Created, Created, Created, Updated, Created, Updated, Created, Created}, outcomes(res))
	require.Equal(t, []string{"UNDEFINED_ATTRIBUTE masterVariant.attributes.1"}, codesOf(res[2].Warnings))
	require.Empty(t, res[4].Warnings)
	require.Empty(t, res[5].Warnings)
	require.Equal(t, []Reference{{TypeID: "product", Key: "pp"}, {TypeID: "product-variant", SKU: "p-1"}}, res[5].Updated)
}

func TestStoreConcurrentClaims(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt")))

	// Product i claims skus i and i+1: neighbours compete for a sku.
	const n = 12
	var wg sync.WaitGroup
	results := make([]ApplyResult, n)
	retries := make([]int, n)
	for i := range n {
		wg.Go(func() {
			rec := applyRec(t, Product, productJSON(t, fmt.Sprintf("p%d", i), "pt",
				variantJSON(fmt.Sprintf("s%d", i)), variantJSON(fmt.Sprintf("s%d", (i+1)%n))))
			for {
				res, err := s.Apply(context.Background(), storeMerchant, []ApplyRecord{rec})
				if errors.Is(err, ErrTransient) && retries[i] < 100 {
					retries[i]++
					continue
				}
				if err != nil {
					t.Errorf("product %d: %v", i, err)
					return
				}
				results[i] = res[0]
				return
			}
		})
	}
	wg.Wait()
	owners := map[string]string{}
	rows, err := pool.Query(context.Background(), `SELECT sku, product_key FROM catalog_variants WHERE merchant_id = $1`, storeMerchant)
	require.NoError(t, err)
	var sku, product string
	_, err = pgx.ForEachRow(rows, []any{&sku, &product}, func() error { owners[sku] = product; return nil })
	require.NoError(t, err)
	created := 0
	for i, r := range results {
		key := fmt.Sprintf("p%d", i)
		mine := []string{fmt.Sprintf("s%d", i), fmt.Sprintf("s%d", (i+1)%n)}
		switch r.Outcome {
		case Created:
			created++
			for _, sku := range mine {
				require.Equal(t, key, owners[sku])
			}
		case Refused:
			require.Equal(t, CodeDuplicateSKU, r.Errors[0].Code)
			require.NotEqual(t, key, owners[mine[0]])
			require.NotEqual(t, key, owners[mine[1]])
		default:
			t.Fatalf("product %d: %+v", i, r)
		}
	}
	require.GreaterOrEqual(t, created, 1)
	count, err := s.Count(context.Background(), storeMerchant, Product)
	require.NoError(t, err)
	require.Equal(t, created, count)
	t.Logf("%d of %d products created; retries %v", created, n, retries)
}

func TestStoreTransientErrors(t *testing.T) {
	t.Parallel()

	t.Run("closed pool", func(t *testing.T) {
		t.Parallel()
		s, pool := newTestStore(t)
		pool.Close()
		_, err := s.Apply(context.Background(), storeMerchant, []ApplyRecord{applyRec(t, Category, categoryJSON(t, "cc", "C"))})
		require.ErrorIs(t, err, ErrTransient)
	})

	t.Run("canceled context", func(t *testing.T) {
		t.Parallel()
		s, _ := newTestStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Apply(ctx, storeMerchant, []ApplyRecord{applyRec(t, Category, categoryJSON(t, "cc", "C"))})
		require.ErrorIs(t, err, ErrTransient)
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("timeout on a locked row", func(t *testing.T) {
		t.Parallel()
		s, pool := newTestStore(t)
		rec := applyRec(t, Category, categoryJSON(t, "cc", "C"))
		applyOK(t, s, rec)
		lock, err := pool.Begin(context.Background())
		require.NoError(t, err)
		defer func() { _ = lock.Rollback(context.Background()) }()
		_, err = lock.Exec(context.Background(), `UPDATE catalog_categories SET version = version WHERE key = 'cc'`)
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = s.Apply(ctx, storeMerchant, []ApplyRecord{applyRec(t, Category, categoryJSON(t, "cc", "Changed"))})
		require.ErrorIs(t, err, ErrTransient)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, lock.Rollback(context.Background()))
		res := applyOK(t, s, applyRec(t, Category, categoryJSON(t, "cc", "Changed")))
		require.Equal(t, Updated, res[0].Outcome, "the failed batch wrote nothing")
	})

	t.Run("deadlock", func(t *testing.T) {
		t.Parallel()
		s, pool := newTestStore(t)
		ctx := context.Background()
		applyOK(t, s, applyRec(t, ProductType, productTypeJSON(t, "pt")),
			applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("xx"))))

		// Another transaction holds the product; Apply locks the variant
		// x, then waits for the product; the other then wants x.
		other, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = other.Rollback(ctx) }()
		_, err = other.Exec(ctx, `UPDATE catalog_products SET version = version WHERE key = 'pp'`)
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			_, err := s.Apply(ctx, storeMerchant, []ApplyRecord{applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("xx"), variantJSON("yy")))})
			done <- err
		}()
		require.Eventually(t, func() bool {
			var waiting int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting))
			return waiting == 1
		}, 10*time.Second, 10*time.Millisecond)
		otherErr := make(chan error, 1)
		go func() {
			_, err := other.Exec(ctx, `UPDATE catalog_variants SET version = version WHERE sku = 'xx'`)
			otherErr <- err
		}()
		err = <-done
		oErr := <-otherErr
		// PostgreSQL checks for a deadlock once, deadlock_timeout (1 s) after
		// a backend starts waiting: when the other transaction starts waiting
		// later than that (a loaded machine), it is the one aborted.
		var pgErr *pgconn.PgError
		if err == nil {
			require.ErrorAs(t, oErr, &pgErr, "one of the two is aborted")
			require.Equal(t, "40P01", pgErr.Code)
			t.Log("the other transaction was the deadlock's victim; Apply went through")
			return
		}
		require.ErrorIs(t, err, ErrTransient)
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "40P01", pgErr.Code)
		require.NoError(t, oErr)
	})

	t.Run("error mapping", func(t *testing.T) {
		t.Parallel()
		for code, transient := range map[string]bool{
			"40001": true, "40P01": true, "23505": true, "57014": true, "08006": true,
			"22P02": false, "23503": false, "42P01": false,
		} {
			err := applyError(fmt.Errorf("write: %w", &pgconn.PgError{Code: code}))
			require.Equal(t, transient, errors.Is(err, ErrTransient), code)
		}
		require.ErrorIs(t, applyError(context.Canceled), ErrTransient)
		require.ErrorIs(t, applyError(fmt.Errorf("x: %w", context.DeadlineExceeded)), ErrTransient)
		require.NotErrorIs(t, applyError(errors.New("a bug")), ErrTransient)
	})
}

func TestStoreApplyTx(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	res, err := s.ApplyTx(ctx, tx, storeMerchant, []ApplyRecord{applyRec(t, Category, categoryJSON(t, "cc", "C"))})
	require.NoError(t, err)
	require.Equal(t, Created, res[0].Outcome)
	require.NoError(t, tx.Rollback(ctx))
	n, err := s.Count(ctx, storeMerchant, Category)
	require.NoError(t, err)
	require.Zero(t, n, "rolled back with the caller's transaction")
}

func TestStoreMerchantsApart(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()
	for _, m := range []string{"m1", "m2"} {
		res, err := s.Apply(ctx, m, []ApplyRecord{
			applyRec(t, ProductType, productTypeJSON(t, "pt")),
			applyRec(t, Product, productJSON(t, "pp", "pt", variantJSON("xx"))),
		})
		require.NoError(t, err)
		require.Equal(t, []Outcome{Created, Created}, outcomes(res), "the same sku in another merchant's catalog")
	}
	_, err := s.Apply(ctx, "", []ApplyRecord{applyRec(t, Category, categoryJSON(t, "cc", "C"))})
	require.Error(t, err)
}

// benchProducts makes n products of about 1 KB with two variants each.
func benchProducts(b testing.TB, batch, n int) []ApplyRecord {
	recs := make([]ApplyRecord, n)
	for i := range n {
		key := fmt.Sprintf("b%d-p%d", batch, i)
		v := func(sku string, size int) map[string]any {
			return map[string]any{
				"sku": sku, "key": sku,
				"attributes": []any{
					map[string]any{"name": "size", "value": size},
					map[string]any{"name": "color", "value": map[string]any{"key": "red", "label": map[string]any{"en": "Red"}}},
				},
				"prices": []any{map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 8999}, "country": "DE"}},
				"images": []any{map[string]any{"url": "https://img.example.com/" + sku + ".jpg", "label": "front"}},
			}
		}
		p := map[string]any{
			"key":         key,
			"productType": map[string]any{"typeId": "product-type", "key": "shoes"},
			"name":        map[string]any{"en": "Running shoe " + key, "de": "Laufschuh " + key},
			"slug":        map[string]any{"en": "running-shoe-" + key, "de": "laufschuh-" + key},
			"description": map[string]any{
				"en": "A light running shoe with a breathable mesh upper and a cushioned sole.",
				"de": "Ein leichter Laufschuh mit atmungsaktivem Obermaterial und gedämpfter Sohle.",
			},
			"categories":    []any{map[string]any{"key": "shoes"}, map[string]any{"key": "running"}},
			"taxCategory":   map[string]any{"key": "standard"},
			"publish":       true,
			"masterVariant": v(key+"-40", 40),
			"variants":      []any{v(key+"-41", 41)},
		}
		recs[i] = applyRec(b, Product, mustJSON(b, p))
	}
	return recs
}

func BenchmarkStoreApplyProducts(b *testing.B) {
	const batch = 1000
	s, _ := newTestStore(b)
	applyOK(b, s, applyRec(b, ProductType, validRecord(b, ProductType)))
	size := 0
	for _, r := range benchProducts(b, -1, 10) {
		size += len(r.Data)
	}
	b.Logf("products of %d bytes on average", size/10)

	next := 0 // batches of new products, over every run of the sub-benchmark
	b.Run("create", func(b *testing.B) {
		n := 0
		for b.Loop() {
			b.StopTimer()
			recs := benchProducts(b, next, batch)
			next++
			b.StartTimer()
			res := applyOK(b, s, recs...)
			if res[0].Outcome != Created {
				b.Fatalf("%+v", res[0])
			}
			n++
		}
		b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("unchanged", func(b *testing.B) {
		recs := benchProducts(b, -2, batch)
		applyOK(b, s, recs...)
		n := 0
		for b.Loop() {
			res := applyOK(b, s, recs...)
			if res[0].Outcome != Unchanged {
				b.Fatalf("%+v", res[0])
			}
			n++
		}
		b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "records/s")
	})
	// Identical records of ever later deliveries: only the rows' order is
	// written.
	b.Run("unchanged-later", func(b *testing.B) {
		recs := benchProducts(b, -3, batch)
		applyOK(b, s, recs...)
		n := 0
		for b.Loop() {
			for i := range recs {
				recs[i].Order = Order{At: time.Unix(int64(n+1), 0), Seq: i, Receipt: "bench"}
			}
			res := applyOK(b, s, recs...)
			if res[0].Outcome != Unchanged {
				b.Fatalf("%+v", res[0])
			}
			n++
		}
		b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkStoreApplyTxProducts applies batches of new products the way
// the importer does: ApplyTx in a transaction of store.InTx, whose planner
// settings (no hash or merge joins) the statements must do well under, in
// batches of the size of a work message of products.
//
//	go test ./catalog -run '^$' -bench StoreApplyTxProducts -benchtime 100x
func BenchmarkStoreApplyTxProducts(b *testing.B) {
	const batch = 230
	s, pool := newTestStore(b)
	applyOK(b, s, applyRec(b, ProductType, validRecord(b, ProductType)))
	ctx := context.Background()
	next := 0
	for b.Loop() {
		b.StopTimer()
		recs := benchProducts(b, next, batch)
		next++
		b.StartTimer()
		err := store.InTx(ctx, pool, func(tx *store.Tx) error {
			res, err := s.ApplyTx(ctx, tx, storeMerchant, recs)
			if err == nil && res[0].Outcome != Created {
				b.Fatalf("%+v", res[0])
			}
			return err
		})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// TestStoreBatchEqualsOneByOne applies random batches of records that
// depend on each other (same identities, skus claimed twice, masters
// replaced, product types changed) once as one batch and once record by
// record: results and the catalog must be the same.
func TestStoreBatchEqualsOneByOne(t *testing.T) {
	t.Parallel()
	const rounds = 4
	batched, _ := newTestStore(t)
	single, _ := newTestStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, rng.IntN(n)) }
	attrs := func() []string {
		var as []string
		for _, a := range []string{"size=1", "size=2", "colour=red", "fit=wide"} {
			if rng.IntN(3) == 0 {
				as = append(as, a)
			}
		}
		return as
	}
	gen := func() ApplyRecord {
		switch n := rng.IntN(20); {
		case n < 2:
			return applyRec(t, ProductType, productTypeJSON(t, pick("pt", 2), []string{"size!", "size", "colour"}[rng.IntN(3)], "fit"))
		case n < 8:
			var master map[string]any
			if rng.IntN(2) == 0 {
				master = variantJSON(pick("sk", 8), attrs()...)
			}
			var vs []map[string]any
			for range rng.IntN(3) {
				vs = append(vs, variantJSON(pick("sk", 8), attrs()...))
			}
			data := productJSON(t, pick("pr", 4), pick("pt", 3), master, vs...)
			if _, errs := Validate(Product, data); len(errs) > 0 {
				return applyRec(t, Product, productJSON(t, pick("pr", 4), pick("pt", 3), nil)) // a sku twice
			}
			return applyRec(t, Product, data)
		case n < 14:
			return applyRec(t, ProductVariant, productVariantJSON(t, pick("sk", 8), pick("pr", 5), rng.IntN(3) == 0, attrs()...))
		case n < 16:
			return applyRec(t, Price, priceJSON(t, pick("pc", 3), pick("sk", 9), rng.IntN(3)))
		case n < 18:
			return applyRec(t, Category, categoryJSON(t, pick("ct", 2), pick("name", 2)))
		default:
			return applyRec(t, InventoryEntry, mustJSON(t, map[string]any{"sku": pick("sk", 9), "quantityOnStock": rng.IntN(3)}))
		}
	}
	for round := range rounds {
		recs := make([]ApplyRecord, 60)
		for i := range recs {
			recs[i] = gen()
		}
		got := applyOK(t, batched, recs...)
		for i, rec := range recs {
			want := applyOK(t, single, rec)[0]
			require.Equal(t, want, got[i], "round %d, record %d: %s %s", round, i, rec.Type, rec.Data)
		}
	}
	for _, rt := range ResourceTypes {
		var keys []string
		switch rt {
		case ProductType:
			keys = []string{"pt0", "pt1", "pt2"}
		case Category:
			keys = []string{"ct0", "ct1"}
		case Product:
			keys = []string{"pr0", "pr1", "pr2", "pr3", "pr4"}
		case Price:
			keys = []string{"pc0", "pc1", "pc2"}
		default:
			for i := range 9 {
				keys = append(keys, fmt.Sprintf("sk%d", i))
			}
		}
		for _, key := range keys {
			a, foundA, err := batched.Get(context.Background(), storeMerchant, rt, key)
			require.NoError(t, err)
			b, foundB, err := single.Get(context.Background(), storeMerchant, rt, key)
			require.NoError(t, err)
			require.Equal(t, foundB, foundA, "%s %s", rt, key)
			if foundA {
				require.JSONEq(t, string(b), string(a), "%s %s", rt, key)
			}
		}
	}
}

// TestStoreWriteOrder: of two records of one resource, the one whose
// delivery was accepted later (or that comes later in the same delivery) is
// what the catalog keeps, whatever order they are applied in; the earlier
// one applied second is Superseded with a warning naming the later one.
func TestStoreWriteOrder(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	d1 := Order{At: t0, Seq: 7, Receipt: "delivery-1"}
	d2 := Order{At: t0.Add(time.Second), Seq: 0, Receipt: "delivery-2"}
	d3 := Order{At: t0.Add(2 * time.Second), Seq: 0, Receipt: "delivery-3"}
	at := func(o Order, r ApplyRecord) ApplyRecord { r.Order = o; return r }
	applyOK(t, s, at(d1, applyRec(t, ProductType, productTypeJSON(t, "wo-type", "size"))))
	applyOK(t, s, at(d1, applyRec(t, Product, productJSON(t, "wo-base", "wo-type", variantJSON("wo-sku")))))

	named := func(rt ResourceType, key, name string) []byte {
		switch rt {
		case ProductType:
			return mustJSON(t, map[string]any{"key": key, "name": name, "attributes": []map[string]any{{"name": "size", "type": "text"}}})
		case Category:
			return categoryJSON(t, key, name)
		case TaxCategory:
			return mustJSON(t, map[string]any{"key": key, "name": name})
		case Product:
			return mustJSON(t, map[string]any{"key": key, "productType": map[string]any{"key": "wo-type"}, "name": map[string]any{"en": name}, "slug": map[string]any{"en": key}})
		case ProductVariant:
			return productVariantJSON(t, key, "wo-base", false, "size="+name)
		case Price:
			return priceJSON(t, key, "wo-sku", len(name))
		default:
			return mustJSON(t, map[string]any{"sku": key, "quantityOnStock": len(name)})
		}
	}
	for _, rt := range []ResourceType{ProductType, Category, TaxCategory, Product, ProductVariant, Price, InventoryEntry} {
		key := "wo-" + strings.ToLower(string(rt))
		rec := func(o Order, name string) ApplyRecord { return at(o, applyRec(t, rt, named(rt, key, name))) }
		got := func() string {
			data, _, err := s.Get(context.Background(), storeMerchant, rt, key)
			require.NoError(t, err)
			return string(data)
		}

		// The later record first, then the earlier one: the later stays.
		require.Equal(t, []Outcome{Created}, outcomes(applyOK(t, s, rec(d2, "new"))), rt)
		want := got()
		res := applyOK(t, s, rec(d1, "old-data"))
		require.Equal(t, []Outcome{Superseded}, outcomes(res), rt)
		require.Equal(t, []string{CodeSuperseded + " "}, codesOf(res[0].Warnings), rt)
		require.Contains(t, res[0].Warnings[0].Description, "delivery-2", rt)
		require.Equal(t, want, got(), rt)
		require.EqualValues(t, 1, versionOf(t, pool, rt, key), rt)

		// The same record again (a redelivery) is not superseded by itself.
		require.Equal(t, []Outcome{Unchanged}, outcomes(applyOK(t, s, rec(d2, "new"))), rt)
		// A later record identical to the row takes over its order without a
		// new version: the record between them is then superseded by it.
		require.Equal(t, []Outcome{Unchanged}, outcomes(applyOK(t, s, rec(d3, "new"))), rt)
		require.EqualValues(t, 1, versionOf(t, pool, rt, key), rt)
		res = applyOK(t, s, rec(Order{At: d2.At, Seq: 5, Receipt: "delivery-2"}, "between"))
		require.Equal(t, []Outcome{Superseded}, outcomes(res), rt)
		require.Contains(t, res[0].Warnings[0].Description, "delivery-3", rt)
		require.Equal(t, want, got(), rt)
		// A record after it, or without an order, is applied.
		require.Equal(t, []Outcome{Updated}, outcomes(applyOK(t, s, rec(Order{At: d3.At, Seq: 1, Receipt: "delivery-3"}, "newest"))), rt)
		require.Equal(t, []Outcome{Updated}, outcomes(applyOK(t, s, rec(Order{}, "unordered"))), rt)
		require.Equal(t, []Outcome{Updated}, outcomes(applyOK(t, s, rec(d1, "old-data"))), rt, "anything comes after an unordered write")
	}

	// A Product record's variant that a later ProductVariant record wrote is
	// left as it is; the rest of the product is written.
	applyOK(t, s, at(d1, applyRec(t, Product, productJSON(t, "wo-shirt", "wo-type", variantJSON("wo-s1", "size=S"), variantJSON("wo-s2", "size=M")))))
	applyOK(t, s, at(d3, applyRec(t, ProductVariant, productVariantJSON(t, "wo-s2", "wo-shirt", false, "size=XL"))))
	res := applyOK(t, s, at(d2, applyRec(t, Product, productJSON(t, "wo-shirt", "wo-type", variantJSON("wo-s1", "size=L"), variantJSON("wo-s2", "size=L")))))
	require.Equal(t, []Outcome{Updated}, outcomes(res))
	require.Equal(t, []string{CodeSuperseded + " variants.0"}, codesOf(res[0].Warnings))
	require.Equal(t, "wo-s1", masterOf(t, pool, "wo-shirt"))
	require.Contains(t, fmt.Sprint(getJSON(t, s, ProductVariant, "wo-s1")), "L")
	require.Contains(t, fmt.Sprint(getJSON(t, s, ProductVariant, "wo-s2")), "XL")

	// A superseded Product record still adds the variant no later record
	// wrote, as it would have in order, without making it the master.
	pants := func(name string, master map[string]any, variants ...map[string]any) []byte {
		p := map[string]any{"key": "wo-pants", "productType": map[string]any{"key": "wo-type"}, "name": map[string]any{"en": name},
			"slug": map[string]any{"en": "wo-pants"}, "masterVariant": master}
		if len(variants) > 0 {
			p["variants"] = variants
		}
		return mustJSON(t, p)
	}
	applyOK(t, s, at(d2, applyRec(t, Product, pants("new", variantJSON("wo-p1", "size=M")))))
	res = applyOK(t, s, at(d1, applyRec(t, Product, pants("old", variantJSON("wo-p2", "size=S"), variantJSON("wo-p1", "size=S")))))
	require.Equal(t, []Outcome{Updated}, outcomes(res))
	require.Equal(t, []string{CodeSuperseded + " "}, codesOf(res[0].Warnings))
	require.Equal(t, []Reference{{TypeID: "product-variant", SKU: "wo-p2"}}, res[0].Created)
	require.Equal(t, "wo-p1", masterOf(t, pool, "wo-pants"))
	require.Equal(t, "new", getJSON(t, s, Product, "wo-pants")["name"].(map[string]any)["en"])
	require.Contains(t, fmt.Sprint(getJSON(t, s, ProductVariant, "wo-p1")), "M")
	res = applyOK(t, s, at(d1, applyRec(t, Product, pants("old", variantJSON("wo-p2", "size=S"), variantJSON("wo-p1", "size=S")))))
	require.Equal(t, []Outcome{Superseded}, outcomes(res), "nothing left to write")
}
