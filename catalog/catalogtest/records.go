package catalogtest

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

// record makes the ApplyRecord of v, which must be a valid record of rt.
func record(t *testing.T, rt catalog.ResourceType, v any) catalog.ApplyRecord {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	val, errs := catalog.Validate(rt, data)
	require.Empty(t, errs, "test record %s %s", rt, data)
	return catalog.ApplyRecord{OpID: "op-" + val.Identity, Type: rt, Key: val.Identity, Data: data}
}

// at places r at o.
func at(o catalog.Order, r catalog.ApplyRecord) catalog.ApplyRecord {
	r.Order = o
	return r
}

// delivery is the Order of the record seq of delivery n: deliveries are
// accepted a second apart.
func delivery(n, seq int) catalog.Order {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return catalog.Order{At: t0.Add(time.Duration(n) * time.Second), Seq: seq, Receipt: "delivery-" + strconv.Itoa(n)}
}

// productType has text attributes; a name with a trailing "!" is required.
func productType(key string, attrs ...string) map[string]any {
	defs := []map[string]any{}
	for _, a := range attrs {
		name, req := strings.CutSuffix(a, "!")
		defs = append(defs, map[string]any{"name": name, "type": "text", "isRequired": req})
	}
	return map[string]any{"key": key, "name": key, "attributes": defs}
}

func category(key, name string) map[string]any {
	return map[string]any{"key": key, "name": map[string]any{"en": name}, "slug": map[string]any{"en": key}}
}

func taxCategory(key, name string) map[string]any {
	return map[string]any{"key": key, "name": name}
}

// variant is an embedded variant with attributes "name=value".
func variant(sku string, attrs ...string) map[string]any {
	as := []map[string]any{}
	for _, a := range attrs {
		name, value, _ := strings.Cut(a, "=")
		as = append(as, map[string]any{"name": name, "value": value})
	}
	return map[string]any{"sku": sku, "attributes": as}
}

// product is a product of typeKey with a master variant (nil for none) and
// variants.
func product(key, typeKey string, master map[string]any, variants ...map[string]any) map[string]any {
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
	return p
}

// productVariant is a ProductVariant record of productKey.
func productVariant(sku, productKey string, master bool, attrs ...string) map[string]any {
	v := variant(sku, attrs...)
	v["product"] = map[string]any{"typeId": "product", "key": productKey}
	if master {
		v["isMasterVariant"] = true
	}
	return v
}

func price(key, sku string, cents int) map[string]any {
	return map[string]any{"key": key, "sku": sku, "value": map[string]any{"currencyCode": "EUR", "centAmount": cents}}
}

func inventory(sku string, quantity int) map[string]any {
	return map[string]any{"sku": sku, "quantityOnStock": quantity}
}

// ref is the reference of a resource: by sku for the types identified by
// one.
func ref(rt catalog.ResourceType, id string) catalog.Reference {
	if rt.IdentifiedBySKU() {
		return catalog.Reference{TypeID: rt.TypeID(), SKU: id}
	}
	return catalog.Reference{TypeID: rt.TypeID(), Key: id}
}

func outcomes(res []catalog.ApplyResult) []catalog.Outcome {
	out := make([]catalog.Outcome, len(res))
	for i, r := range res {
		out[i] = r.Outcome
	}
	return out
}

// codes lists "CODE field" of errs.
func codes(errs []catalog.Error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Code + " " + e.Field
	}
	return out
}
