package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The commercetools Sunrise drafts (testdata/sunrise, see its README): the
// product type, tax categories, customer groups and channels exactly as
// commercetools users publish them, and products and categories written
// for these tests in the same draft form. importd must take them as they
// are and read them back as they were given.

// sunriseFile is one file of drafts and the resource type of its drafts,
// in the order the pipeline applies them: a record's references first.
type sunriseFile struct {
	name string
	rt   ResourceType
}

var sunriseFiles = []sunriseFile{
	{"product-type.json", ProductType},
	{"tax-category.json", TaxCategory},
	{"customer-groups.json", CustomerGroup},
	{"channels.json", Channel},
	{"categories.json", Category},
	{"products.json", Product},
}

// sunriseDrafts reads the drafts of a file of testdata/sunrise, each as
// written in the file.
func sunriseDrafts(t testing.TB, name string) []json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "sunrise", name))
	require.NoError(t, err)
	var drafts []json.RawMessage
	require.NoError(t, json.Unmarshal(data, &drafts), name)
	require.NotEmpty(t, drafts, name)
	return drafts
}

// sunriseRecord validates a draft as ingest does and makes its ApplyRecord;
// the draft must pass Validate with no error.
func sunriseRecord(t testing.TB, rt ResourceType, draft []byte) ApplyRecord {
	t.Helper()
	v, errs := Validate(rt, draft)
	require.Empty(t, errs, "Validate %s %.200s", rt, draft)
	require.NotEmpty(t, v.Identity)
	return ApplyRecord{OpID: "op-" + v.Identity, Type: rt, Key: v.Identity, Data: draft}
}

// sunriseStore is a store holding every Sunrise draft but the products:
// what a product draft references.
func sunriseStore(t testing.TB) *Store {
	t.Helper()
	s, _ := newTestStore(t)
	for _, f := range sunriseFiles {
		if f.rt == Product {
			continue
		}
		var recs []ApplyRecord
		for _, d := range sunriseDrafts(t, f.name) {
			recs = append(recs, sunriseRecord(t, f.rt, d))
		}
		res := applyOK(t, s, recs...)
		for i, r := range res {
			require.Equal(t, Created, r.Outcome, "%s %s: %+v", f.rt, recs[i].Key, r)
		}
	}
	return s
}

// decodeJSON decodes JSON keeping numbers as written.
func decodeJSON(t testing.TB, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v), "%.200s", data)
	return v
}

// sunriseRefTypes are the typeIds the reference fields of the drafts imply.
var sunriseRefTypes = map[string]string{
	"productType":   ProductType.TypeID(),
	"taxCategory":   TaxCategory.TypeID(),
	"categories":    Category.TypeID(),
	"parent":        Category.TypeID(),
	"customerGroup": CustomerGroup.TypeID(),
	"channel":       Channel.TypeID(),
	"type":          "type", // custom.type
}

// withTypeIDs is a draft as the store gives it back: the one canonical
// difference allowed is that a reference ({"key": …}) has its typeId
// filled in. It counts the typeIds it fills in.
func withTypeIDs(v any, filled *int) any {
	isRef := func(x any) (map[string]any, bool) {
		m, ok := x.(map[string]any)
		if !ok || m["key"] == nil {
			return nil, false
		}
		for k := range m {
			if k != "key" && k != "typeId" {
				return nil, false
			}
		}
		return m, true
	}
	fill := func(x any, typeID string) {
		if m, ok := isRef(x); ok && m["typeId"] == nil {
			m["typeId"] = typeID
			*filled++
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if typeID, ok := sunriseRefTypes[k]; ok {
				if arr, ok := m.([]any); ok {
					for _, e := range arr {
						fill(e, typeID)
					}
				} else {
					fill(m, typeID)
				}
			}
			withTypeIDs(m, filled)
		}
	case []any:
		for _, m := range x {
			withTypeIDs(m, filled)
		}
	}
	return v
}

// jsonDiff lists the differences between want and got, field by field,
// and counts the leaves (strings, numbers, booleans) it compared.
func jsonDiff(path string, want, got any, leaves *int) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var out []string
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			wv, inW := w[k]
			gv, inG := g[k]
			p := joinField(path, k)
			switch {
			case !inG:
				out = append(out, p+": missing from what is stored")
			case !inW:
				out = append(out, fmt.Sprintf("%s: stored but not in the draft: %v", p, gv))
			default:
				out = append(out, jsonDiff(p, wv, gv, leaves)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, got %v", path, len(w), got)}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(joinField(path, fmt.Sprint(i)), w[i], g[i], leaves)...)
		}
		return out
	}
	*leaves++
	if fmt.Sprintf("%T %v", want, want) != fmt.Sprintf("%T %v", got, got) {
		return []string{fmt.Sprintf("%s: want %T %v, got %T %v", path, want, want, got, got)}
	}
	return nil
}

// sunriseCounts counts what the comparison covered, so that it cannot pass
// on empty files.
type sunriseCounts struct {
	Drafts                  map[ResourceType]int
	AttributeDefinitions    int
	EnumValues              int // enum and lenum values, each with a label
	LocalizedEnumLabels     int // languages of lenum labels
	TaxRates                int
	ChannelsWithCustom      int
	Variants                int
	AttributeValues         int
	Prices                  int
	PricesWithCustomerGroup int
	PricesWithChannel       int
	PricesWithValidity      int // validFrom or validUntil
	PricesWithTiers         int
	Tiers                   int
	ImagesWithDimensions    int
	TypeIDsFilledIn         int
	Leaves                  int
}

func (c *sunriseCounts) count(rt ResourceType, stored map[string]any) {
	objs := func(v any) []map[string]any {
		var out []map[string]any
		arr, _ := v.([]any)
		for _, e := range arr {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	switch rt {
	case ProductType:
		for _, a := range objs(stored["attributes"]) {
			c.AttributeDefinitions++
			typ := a["type"].(map[string]any)
			if e, ok := typ["elementType"].(map[string]any); ok {
				typ = e
			}
			for _, v := range objs(typ["values"]) {
				if v["key"] != nil && v["label"] != nil {
					c.EnumValues++
				}
				if l, ok := v["label"].(map[string]any); ok {
					c.LocalizedEnumLabels += len(l)
				}
			}
		}
	case TaxCategory:
		c.TaxRates += len(objs(stored["rates"]))
	case Channel:
		if cu, ok := stored["custom"].(map[string]any); ok && len(cu["fields"].(map[string]any)) > 0 {
			c.ChannelsWithCustom++
		}
	case Product:
		variants := objs(stored["variants"])
		if m, ok := stored["masterVariant"].(map[string]any); ok {
			variants = append([]map[string]any{m}, variants...)
		}
		for _, v := range variants {
			c.Variants++
			c.AttributeValues += len(objs(v["attributes"]))
			for _, p := range objs(v["prices"]) {
				c.Prices++
				if p["customerGroup"] != nil {
					c.PricesWithCustomerGroup++
				}
				if p["channel"] != nil {
					c.PricesWithChannel++
				}
				if p["validFrom"] != nil || p["validUntil"] != nil {
					c.PricesWithValidity++
				}
				if ts := objs(p["tiers"]); len(ts) > 0 {
					c.PricesWithTiers++
					c.Tiers += len(ts)
				}
			}
			for _, i := range objs(v["images"]) {
				if d, ok := i["dimensions"].(map[string]any); ok && d["w"] != nil && d["h"] != nil {
					c.ImagesWithDimensions++
				}
			}
		}
	}
}

func TestSunriseDraftsImportUnchanged(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := context.Background()

	counts := sunriseCounts{Drafts: map[ResourceType]int{}}
	typesGiven := map[string]bool{} // attribute types of the product type that a product gives a value of
	for _, f := range sunriseFiles {
		drafts := sunriseDrafts(t, f.name)
		recs := make([]ApplyRecord, len(drafts))
		for i, d := range drafts {
			recs[i] = sunriseRecord(t, f.rt, d)
		}
		res := applyOK(t, s, recs...)
		for i, r := range res {
			require.Equal(t, Created, r.Outcome, "%s %s: %+v", f.rt, recs[i].Key, r)
			require.Empty(t, r.Errors, "%s %s", f.rt, recs[i].Key)
			require.Empty(t, r.Warnings, "%s %s: nothing of a Sunrise draft is dropped", f.rt, recs[i].Key)
			require.Equal(t, rowReference(rowID{f.rt, recs[i].Key}), r.Created[0])
		}
		for _, rec := range recs {
			data, found, err := s.Get(ctx, storeMerchant, f.rt, rec.Key)
			require.NoError(t, err)
			require.True(t, found, "%s %s", f.rt, rec.Key)
			want := withTypeIDs(decodeJSON(t, rec.Data), &counts.TypeIDsFilledIn)
			got := decodeJSON(t, data)
			diff := jsonDiff("", want, got, &counts.Leaves)
			require.Empty(t, diff, "%s %s: stored differs from the draft:\n%s\nstored: %s", f.rt, rec.Key, strings.Join(diff, "\n"), data)
			counts.Drafts[f.rt]++
			counts.count(f.rt, got.(map[string]any))
		}
		if f.rt == Product {
			// Which attribute types the products gave values of.
			pt := getJSON(t, s, ProductType, "main")
			types := map[string]string{}
			for _, a := range pt["attributes"].([]any) {
				a := a.(map[string]any)
				types[a["name"].(string)] = attrTypeLabel(a["type"].(map[string]any))
			}
			for _, rec := range recs {
				var p struct {
					MasterVariant struct{ Attributes []struct{ Name string } }
					Variants      []struct{ Attributes []struct{ Name string } }
				}
				require.NoError(t, json.Unmarshal(rec.Data, &p))
				for _, v := range append(p.Variants, p.MasterVariant) {
					for _, a := range v.Attributes {
						require.Contains(t, types, a.Name)
						typesGiven[a.Name] = true
					}
				}
			}
			var all, given []string
			for name, typ := range types {
				all = append(all, typ)
				if typesGiven[name] {
					given = append(given, typ)
				}
			}
			slices.Sort(all)
			slices.Sort(given)
			all, given = slices.Compact(all), slices.Compact(given)
			require.Equal(t, all, given, "every attribute type of the product type is given a value")
			require.Len(t, typesGiven, len(types), "every attribute of the product type is given a value")
			require.Equal(t, []string{"boolean", "datetime", "enum", "lenum", "ltext", "set of ltext", "set of text", "text"}, all)
		}
	}
	// Again, as published and written differently (members reordered, typeIds
	// dropped, nulls and an unknown field added): nothing changes.
	for _, f := range sunriseFiles {
		for _, d := range sunriseDrafts(t, f.name) {
			rec := sunriseRecord(t, f.rt, d)
			res := applyOK(t, s, rec)
			require.Equal(t, Unchanged, res[0].Outcome, "%s %s again: %+v", f.rt, rec.Key, res[0])
			require.Empty(t, res[0].Warnings)
			res = applyOK(t, s, sunriseRecord(t, f.rt, reformat(t, d)))
			require.Equal(t, Unchanged, res[0].Outcome, "%s %s reformatted: %+v", f.rt, rec.Key, res[0])
			require.Equal(t, []string{"UNKNOWN_FIELD unknownField"}, codesOf(res[0].Warnings))
		}
	}
	for _, f := range sunriseFiles {
		n, err := s.Count(ctx, storeMerchant, f.rt)
		require.NoError(t, err)
		require.Equal(t, counts.Drafts[f.rt], n, "%s stored", f.rt)
	}
	t.Logf("compared: %+v", counts)

	// The comparison sees a change of one leaf, a field dropped or added.
	var n int
	a := decodeJSON(t, []byte(`{"k":{"a":[1,"x",true]},"b":"y"}`))
	require.Empty(t, jsonDiff("", a, decodeJSON(t, []byte(`{"b":"y","k":{"a":[1,"x",true]}}`)), &n))
	require.Equal(t, 4, n)
	require.Equal(t, []string{"k.a.2: want bool true, got bool false"}, jsonDiff("", a, decodeJSON(t, []byte(`{"k":{"a":[1,"x",false]},"b":"y"}`)), &n))
	require.Equal(t, []string{"k.a.0: want json.Number 1, got json.Number 1.0"}, jsonDiff("", a, decodeJSON(t, []byte(`{"k":{"a":[1.0,"x",true]},"b":"y"}`)), &n))
	require.Equal(t, []string{"b: missing from what is stored", "c: stored but not in the draft: 1"}, jsonDiff("", a, decodeJSON(t, []byte(`{"k":{"a":[1,"x",true]},"c":1}`)), &n))

	require.Equal(t, map[ResourceType]int{ProductType: 1, TaxCategory: 2, CustomerGroup: 5, Channel: 18, Category: 4, Product: 5}, counts.Drafts)
	require.Equal(t, 21, counts.AttributeDefinitions)
	require.Equal(t, 217+2+48+18+3+2, counts.EnumValues, "designer, madeInItaly, commonSize, color, style, gender")
	require.Equal(t, 18*3, counts.LocalizedEnumLabels, "color's labels in en, de, it")
	require.Equal(t, 8, counts.TaxRates)
	require.Equal(t, 18, counts.ChannelsWithCustom)
	require.Equal(t, 11, counts.Variants)
	require.Equal(t, 164, counts.AttributeValues)
	require.Equal(t, 41, counts.Prices)
	require.Equal(t, 12, counts.PricesWithCustomerGroup)
	require.Equal(t, 10, counts.PricesWithChannel)
	require.Equal(t, 6, counts.PricesWithValidity)
	require.Equal(t, 3, counts.PricesWithTiers)
	require.Equal(t, 5, counts.Tiers)
	require.Equal(t, 9, counts.ImagesWithDimensions)
	require.Equal(t, 18+1+5, counts.TypeIDsFilledIn, "channels' custom.type, a category's parent, products' productType/categories/taxCategory given without one")
	require.Equal(t, 1937, counts.Leaves, "every string, number and boolean of the six files, and the typeIds filled in")
}

// attrTypeLabel names an attribute type of a stored product type: "set of text".
func attrTypeLabel(t map[string]any) string {
	if e, ok := t["elementType"].(map[string]any); ok {
		return t["name"].(string) + " of " + attrTypeLabel(e)
	}
	return t["name"].(string)
}

// sunriseProduct is the first product draft of products.json (the Michael
// Kors bag, two variants) with edit applied.
func sunriseProduct(t testing.TB, edit func(p map[string]any)) []byte {
	t.Helper()
	p := decodeJSON(t, sunriseDrafts(t, "products.json")[0]).(map[string]any)
	require.Equal(t, "michael-kors-bag-30T3GTVT7L", p["key"])
	edit(p)
	return mustJSON(t, p)
}

// path walks a decoded draft: "masterVariant.attributes".
func path(t testing.TB, v any, p string) any {
	t.Helper()
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			_, err := fmt.Sscan(k, &i)
			require.NoError(t, err)
			v = x[i]
		}
		require.NotNil(t, v, p)
	}
	return v
}

// attrIndex is the index of the attribute name among the attributes of
// the variant at path vp ("masterVariant", "variants.0").
func attrIndex(t testing.TB, p map[string]any, vp, name string) int {
	t.Helper()
	for i, a := range path(t, p, vp+".attributes").([]any) {
		if a.(map[string]any)["name"] == name {
			return i
		}
	}
	t.Fatalf("%s has no attribute %s", vp, name)
	return -1
}

// setAttr sets (or adds) the attribute name of the variant at vp and
// returns its index.
func setAttr(t testing.TB, p map[string]any, vp, name string, value any) int {
	t.Helper()
	attrs := path(t, p, vp+".attributes").([]any)
	for i, a := range attrs {
		if a := a.(map[string]any); a["name"] == name {
			a["value"] = value
			return i
		}
	}
	v := path(t, p, vp).(map[string]any)
	v["attributes"] = append(attrs, map[string]any{"name": name, "value": value})
	return len(attrs)
}

func TestSunriseAttributeValuesChecked(t *testing.T) {
	t.Parallel()
	s := sunriseStore(t)

	type edit struct {
		variant, name string
		value         any
	}
	tests := []struct {
		name   string
		edits  []edit
		code   string
		fields []string // the fields of the errors; "%d" in the i-th: the index of the i-th edited attribute
		attr   string   // named in the description
		descr  string   // also in the description
	}{
		{name: "lenum key not of the type", edits: []edit{{"masterVariant", "color", "fuchsia"}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "color", descr: `"fuchsia" is not a key of lenum attribute`},
		{name: "lenum key not of the type, as an object", edits: []edit{{"variants.0", "color", map[string]any{"key": "fuchsia", "label": map[string]any{"en": "fuchsia"}}}},
			code: CodeInvalidAttributeValue, fields: []string{"variants.0.attributes.%d.value.key"}, attr: "color", descr: `"fuchsia"`},
		{name: "enum key not of the type", edits: []edit{{"masterVariant", "style", "casual"}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "style", descr: `"casual" is not a key of enum attribute`},
		{name: "enum key not of 217 designers", edits: []edit{{"masterVariant", "designer", "michael-kors"}, {"variants.0", "designer", "michael-kors"}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value", "variants.0.attributes.%d.value"}, attr: "designer", descr: `"michael-kors"`},
		{name: "datetime not a date", edits: []edit{{"masterVariant", "creationDate", "yesterday"}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "creationDate", descr: `"yesterday" is not an RFC 3339 date-time`},
		{name: "datetime without a zone", edits: []edit{{"variants.0", "creationDate", "2015-03-02T10:30:00"}},
			code: CodeInvalidAttributeValue, fields: []string{"variants.0.attributes.%d.value"}, attr: "creationDate", descr: "datetime"},
		{name: "boolean a number", edits: []edit{{"masterVariant", "isOnStock", 42}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "isOnStock", descr: "boolean"},
		{name: "boolean a string", edits: []edit{{"variants.0", "isLook", "maybe"}},
			code: CodeInvalidAttributeValue, fields: []string{"variants.0.attributes.%d.value"}, attr: "isLook", descr: "boolean"},
		{name: "text a number", edits: []edit{{"masterVariant", "articleNumberMax", 82612}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "articleNumberMax", descr: "text"},
		{name: "ltext a plain string", edits: []edit{{"masterVariant", "colorFreeDefinition", "black"}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "colorFreeDefinition", descr: "ltext"},
		{name: "set of ltext with a plain string", edits: []edit{{"masterVariant", "details", []any{map[string]any{"en": "Zip top"}, "Saffiano leather"}}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value.1"}, attr: "details", descr: "set of ltext"},
		{name: "set of text not an array", edits: []edit{{"masterVariant", "completeTheLook", "A0E20000000205K"}},
			code: CodeInvalidAttributeValue, fields: []string{"masterVariant.attributes.%d.value"}, attr: "completeTheLook", descr: "set of text"},
		{name: "Unique value on two variants", edits: []edit{{"variants.0", "matrixId", "M0E20000000DSB9"}},
			code: CodeAttributeConstraint, fields: []string{"masterVariant.attributes.3"}, attr: "matrixId", descr: "Unique"},
		{name: "Unique value on two variants, sapExternalId", edits: []edit{{"masterVariant", "sapExternalId", "90006713"}},
			code: CodeAttributeConstraint, fields: []string{"masterVariant.attributes.20"}, attr: "sapExternalId", descr: "Unique"},
		{name: "SameForAll values differ", edits: []edit{{"variants.0", "designer", "dkny"}},
			code: CodeAttributeConstraint, fields: []string{"masterVariant.attributes.5"}, attr: "designer", descr: "SameForAll"},
		{name: "SameForAll set values differ", edits: []edit{{"variants.0", "lookProducts", []any{"M0E20000000DSB9"}}},
			code: CodeAttributeConstraint, fields: []string{"masterVariant.attributes.10"}, attr: "lookProducts", descr: "SameForAll"},
		{name: "SameForAll enum given on one variant only", edits: []edit{{"masterVariant", "madeInItaly", nil}},
			code: CodeAttributeConstraint, fields: []string{"masterVariant.attributes"}, attr: "madeInItaly", descr: "no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ats []int // the index of each edited attribute
			data := sunriseProduct(t, func(p map[string]any) {
				for _, e := range tt.edits {
					var at int
					if e.value == nil { // drop the attribute
						at = attrIndex(t, p, e.variant, e.name)
						v := path(t, p, e.variant).(map[string]any)
						v["attributes"] = slices.Delete(v["attributes"].([]any), at, at+1)
					} else {
						at = setAttr(t, p, e.variant, e.name, e.value)
					}
					ats = append(ats, at)
				}
			})
			rec := sunriseRecord(t, Product, data) // Validate does not know the product type: the store checks
			res := applyOK(t, s, rec)
			require.Equal(t, Refused, res[0].Outcome, "%+v", res[0])
			var want []string
			for i, f := range tt.fields {
				if strings.Contains(f, "%d") {
					f = fmt.Sprintf(f, ats[i])
				}
				want = append(want, tt.code+" "+f)
			}
			require.Equal(t, want, codesOf(res[0].Errors))
			for _, e := range res[0].Errors {
				require.Equal(t, DataError, e.Type)
				require.Contains(t, e.Description, fmt.Sprintf("%q", tt.attr), "the description names the attribute")
				require.Contains(t, e.Description, tt.descr)
			}
			require.Empty(t, res[0].Warnings)
			_, found, err := s.Get(context.Background(), storeMerchant, Product, rec.Key)
			require.NoError(t, err)
			require.False(t, found, "a refused product is not written")
		})
	}

	// Values that are the same as the constraints see them: an enum key given
	// as a string and as {key, label}, a set in another order. And a Unique
	// value that is only on one variant.
	ok := sunriseProduct(t, func(p map[string]any) {
		setAttr(t, p, "variants.0", "designer", map[string]any{"key": "michaelkors", "label": "Michael Kors"})
		setAttr(t, p, "variants.0", "lookProducts", []any{"M0E20000000EAT8", "M0E20000000DSB9", "M0E20000000EAT8"})
		i := attrIndex(t, p, "variants.0", "sapExternalId")
		v := path(t, p, "variants.0").(map[string]any)
		v["attributes"] = slices.Delete(v["attributes"].([]any), i, i+1)
	})
	res := applyOK(t, s, sunriseRecord(t, Product, ok))
	require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
	require.Empty(t, res[0].Warnings)
	stored := getJSON(t, s, Product, "michael-kors-bag-30T3GTVT7L")
	require.Equal(t, map[string]any{"key": "michaelkors", "label": "Michael Kors"},
		path(t, stored, fmt.Sprintf("variants.0.attributes.%d.value", attrIndex(t, stored, "variants.0", "designer"))), "the value as given")

	// The draft as published passes, on the same store.
	res = applyOK(t, s, sunriseRecord(t, Product, sunriseProduct(t, func(map[string]any) {})))
	require.Equal(t, Updated, res[0].Outcome, "%+v", res[0])
}

func TestSunrisePriceIdentity(t *testing.T) {
	t.Parallel()
	s := sunriseStore(t)

	// The five EUR/DE prices of the bag's master variant: one scope each,
	// told apart by customer group and channel alone.
	five := func(t testing.TB) []any {
		p := decodeJSON(t, sunriseDrafts(t, "products.json")[0]).(map[string]any)
		prices := path(t, p, "masterVariant.prices").([]any)[:5]
		for _, pr := range prices {
			pr := pr.(map[string]any)
			require.Equal(t, "EUR", path(t, pr, "value.currencyCode"))
			require.Equal(t, "DE", pr["country"])
			require.Nil(t, pr["validFrom"])
			require.Nil(t, pr["validUntil"])
		}
		return prices
	}
	product := func(prices []any) []byte {
		return mustJSON(t, map[string]any{
			"key": "sunrise-prices", "productType": map[string]any{"typeId": "product-type", "key": "main"},
			"name": map[string]any{"en": "Prices"}, "slug": map[string]any{"en": "sunrise-prices"},
			"masterVariant": map[string]any{"sku": "sunrise-prices-1", "prices": prices,
				"attributes": []any{map[string]any{"name": "baseId", "value": "1"}}},
		})
	}

	res := applyOK(t, s, sunriseRecord(t, Product, product(five(t))))
	require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
	require.Empty(t, res[0].Warnings)
	stored := getJSON(t, s, Product, "sunrise-prices")
	prices := path(t, stored, "masterVariant.prices").([]any)
	require.Len(t, prices, 5)
	type scope struct{ customerGroup, channel string }
	var got []scope
	refKey := func(pr map[string]any, field, typeID string) string {
		r, ok := pr[field].(map[string]any)
		if !ok {
			return ""
		}
		require.Equal(t, typeID, r["typeId"], "%s has its typeId", field)
		return r["key"].(string)
	}
	for _, pr := range prices {
		pr := pr.(map[string]any)
		require.Equal(t, "DE", pr["country"])
		got = append(got, scope{refKey(pr, "customerGroup", "customer-group"), refKey(pr, "channel", "channel")})
	}
	require.Equal(t, []scope{{"", ""}, {"b2b", ""}, {"gold", ""}, {"", "sunrise-store-berlin"}, {"platinum", "sunrise-store-munich"}}, got,
		"five prices, in order, with their customer group and channel")
	require.Equal(t, []any{29900.0, 28900.0, 29400.0, 29700.0, 29200.0}, []any{
		path(t, prices[0], "value.centAmount"), path(t, prices[1], "value.centAmount"), path(t, prices[2], "value.centAmount"),
		path(t, prices[3], "value.centAmount"), path(t, prices[4], "value.centAmount")})
	require.Equal(t, "dsb9-eur-de-b2b", prices[1].(map[string]any)["key"])

	// A sixth price with the scope of one of the five: DUPLICATE_PRICE,
	// whether the reference has its typeId or not, the amount aside.
	for _, tc := range []struct {
		name  string
		extra map[string]any
		dupOf int
	}{
		{"no group, no channel", map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE"}, 0},
		{"group gold", map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE",
			"customerGroup": map[string]any{"key": "gold"}}, 2},
		{"channel berlin", map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE",
			"channel": map[string]any{"typeId": "channel", "key": "sunrise-store-berlin"}}, 3},
		{"group and channel", map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE",
			"channel": map[string]any{"key": "sunrise-store-munich"}, "customerGroup": map[string]any{"typeId": "customer-group", "key": "platinum"}}, 4},
	} {
		_, errs := Validate(Product, product(append(five(t), tc.extra)))
		require.Equal(t, []string{"DUPLICATE_PRICE masterVariant.prices.5"}, codesOf(errs), tc.name)
		require.Contains(t, errs[0].Description, fmt.Sprintf("prices.%d", tc.dupOf), tc.name)
	}
	// A validity is an instant, however it is written.
	p := decodeJSON(t, sunriseDrafts(t, "products.json")[0]).(map[string]any)
	mv := path(t, p, "masterVariant").(map[string]any)
	require.Equal(t, "2026-11-27T00:00:00.000Z", path(t, mv, "prices.7.validFrom"))
	mv["prices"] = append(mv["prices"].([]any), map[string]any{"value": map[string]any{"currencyCode": "EUR", "centAmount": 1}, "country": "DE",
		"validFrom": "2026-11-27T01:00:00+01:00", "validUntil": "2026-12-01T00:00:00Z"})
	_, errs := Validate(Product, mustJSON(t, p))
	require.Equal(t, []string{"DUPLICATE_PRICE masterVariant.prices.8"}, codesOf(errs))
	require.Contains(t, errs[0].Description, "prices.7")

	// Scopes that differ in one dimension only are not duplicates.
	for _, extra := range []map[string]any{
		{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE", "customerGroup": map[string]any{"key": "gold"}, "channel": map[string]any{"key": "sunrise-store-berlin"}},
		{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE", "validFrom": "2026-11-27T00:00:00Z"},
		{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "AT"},
		{"value": map[string]any{"currencyCode": "EUR", "centAmount": 100}, "country": "DE", "customerGroup": map[string]any{"key": "silver"}},
	} {
		_, errs := Validate(Product, product(append(five(t), extra)))
		require.Empty(t, errs, "%v", extra)
	}
}

func TestSunriseUnknownField(t *testing.T) {
	t.Parallel()
	s := sunriseStore(t)

	draft := sunriseDrafts(t, "products.json")[3] // the Barbour jacket
	var p map[string]any
	require.NoError(t, json.Unmarshal(draft, &p))
	require.Equal(t, "barbour-jacket-MQU0281", p["key"])
	p["foo"] = map[string]any{"bar": 1}
	rec := sunriseRecord(t, Product, mustJSON(t, p)) // Validate ignores unknown fields

	res := applyOK(t, s, rec)
	require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
	require.Empty(t, res[0].Errors)
	require.Len(t, res[0].Warnings, 1)
	w := res[0].Warnings[0]
	require.Equal(t, DataError, w.Type)
	require.Equal(t, CodeUnknownField, w.Code)
	require.Equal(t, "foo", w.Field)
	require.NotEmpty(t, w.Description)

	data, found, err := s.Get(context.Background(), storeMerchant, Product, "barbour-jacket-MQU0281")
	require.NoError(t, err)
	require.True(t, found)
	got := decodeJSON(t, data).(map[string]any)
	require.NotContains(t, got, "foo")
	filled := 0
	want := withTypeIDs(decodeJSON(t, draft), &filled)
	leaves := 0
	require.Empty(t, jsonDiff("", want, got, &leaves), "the rest of the draft is stored as given")
	require.Greater(t, leaves, 50)

	// Unknown fields deeper in the draft: in a reference, a variant, a
	// price, its money, a customer group reference, a tier, an image, an
	// attribute. Nothing else of the draft changed: Unchanged.
	p = decodeJSON(t, draft).(map[string]any)
	var warns []string
	for _, at := range []string{"productType", "masterVariant", "masterVariant.prices.0", "masterVariant.prices.1.value",
		"masterVariant.prices.2.customerGroup", "masterVariant.prices.2.tiers.1", "masterVariant.images.0", "masterVariant.attributes.4"} {
		path(t, p, at).(map[string]any)["foo"] = "x"
		warns = append(warns, "UNKNOWN_FIELD "+at+".foo")
	}
	res = applyOK(t, s, sunriseRecord(t, Product, mustJSON(t, p)))
	require.Equal(t, Unchanged, res[0].Outcome, "%+v", res[0])
	require.ElementsMatch(t, warns, codesOf(res[0].Warnings))
	require.NotContains(t, string(getJSONBytes(t, s, Product, "barbour-jacket-MQU0281")), "foo")
}

func getJSONBytes(t testing.TB, s *Store, rt ResourceType, key string) []byte {
	t.Helper()
	data, found, err := s.Get(context.Background(), storeMerchant, rt, key)
	require.NoError(t, err)
	require.True(t, found)
	return data
}

// TestSunriseCommercetoolsRules holds drafts commercetools refuses or
// reports, and the catalog with it.
func TestSunriseCommercetoolsRules(t *testing.T) {
	t.Parallel()
	s := sunriseStore(t)
	res := applyOK(t, s, sunriseRecord(t, Product, sunriseDrafts(t, "products.json")[0]))
	require.Equal(t, Created, res[0].Outcome)

	t.Run("unknown field in a ProductVariant's product reference", func(t *testing.T) {
		pv := []byte(`{"sku":"M0E20000000DSBB","product":{"typeId":"product","key":"michael-kors-bag-30T3GTVT7L","foo":1},
			"attributes":[{"name":"baseId","value":"82612"},{"name":"designer","value":"michaelkors"},{"name":"madeInItaly","value":"no"},
			{"name":"gender","value":"women"},{"name":"season","value":"s15"},{"name":"seasonNew","value":"SS15"},
			{"name":"lookProducts","value":["M0E20000000DSB9","M0E20000000EAT8"]}]}`)
		res := applyOK(t, s, sunriseRecord(t, ProductVariant, pv))
		require.Equal(t, Created, res[0].Outcome, "%+v", res[0])
		require.Equal(t, []string{"UNKNOWN_FIELD product.foo"}, codesOf(res[0].Warnings))
	})
	t.Run("two prices of a variant with one key", func(t *testing.T) {
		// commercetools: a price key is unique per variant (DuplicatePriceKey).
		data := sunriseProduct(t, func(p map[string]any) {
			p["key"] = "gap-price-key"
			p["slug"] = map[string]any{"en": "gap-price-key"}
			path(t, p, "masterVariant").(map[string]any)["sku"] = "gap-price-key-1"
			path(t, p, "variants.0").(map[string]any)["sku"] = "gap-price-key-2"
			path(t, p, "masterVariant.prices.1").(map[string]any)["key"] = "dsb9-eur-de"
		})
		_, errs := Validate(Product, data)
		require.Equal(t, []string{"INVALID_VALUE masterVariant.prices.1.key"}, codesOf(errs))
	})
	t.Run("two variants of a product with one key", func(t *testing.T) {
		data := sunriseProduct(t, func(p map[string]any) {
			p["key"] = "gap-variant-key"
			p["slug"] = map[string]any{"en": "gap-variant-key"}
			path(t, p, "masterVariant").(map[string]any)["sku"] = "gap-variant-key-1"
			path(t, p, "variants.0").(map[string]any)["sku"] = "gap-variant-key-2"
			path(t, p, "variants.0").(map[string]any)["key"] = "M0E20000000DSB9"
		})
		_, errs := Validate(Product, data)
		require.Equal(t, []string{"INVALID_VALUE variants.0.key"}, codesOf(errs))
	})
}
