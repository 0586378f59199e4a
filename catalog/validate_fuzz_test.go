package catalog

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{2,256}$`)
	knownCodes = map[string]bool{
		CodeMalformedRecord: true, CodeRecordTooLarge: true, CodeRequiredField: true, CodeInvalidType: true,
		CodeInvalidKey: true, CodeInvalidValue: true, CodeInvalidCurrency: true, CodeNegativeAmount: true,
		CodeValueTooLong: true, CodeTooManyItems: true, CodeInvalidReference: true, CodeDuplicateIdentity: true,
	}
)

// fuzzType maps a fuzzed byte to a resource type, or to an unknown one.
func fuzzType(b byte) ResourceType {
	if i := int(b) % (len(ResourceTypes) + 1); i < len(ResourceTypes) {
		return ResourceTypes[i]
	}
	return "Bogus"
}

// identityOf is the key or sku of a decoded record.
func identityOf(rec any) string {
	switch r := rec.(type) {
	case *ProductTypeRecord:
		return r.Key
	case *CategoryRecord:
		return r.Key
	case *TaxCategoryRecord:
		return r.Key
	case *ProductRecord:
		return r.Key
	case *ProductVariantRecord:
		return r.SKU
	case *PriceRecord:
		return r.Key
	case *InventoryEntryRecord:
		return r.SKU
	case *CustomerGroupRecord:
		return r.Key
	case *ChannelRecord:
		return r.Key
	}
	return ""
}

func FuzzValidate(f *testing.F) {
	invalid := map[ResourceType][]string{
		ProductType:    {`{"key":"a","name":5,"attributes":[{"type":"color","label":{"EN":1}},null]}`},
		Category:       {`{"key":"ab","key":"cd","name":{"en":"x","en":"y"},"slug":{"en":"a b"},"parent":{"typeId":"product"}}`},
		TaxCategory:    {`{"key":"ab","name":"x","rates":[{"name":"r","amount":1e400,"country":"de"},{"amount":"0.1"}]}`},
		Product:        {`{"key":"ab","productType":{"typeId":"category","key":"x"},"name":{},"slug":{"en":""},"categories":[{"key":"!"},{}],"masterVariant":{"sku":"s1","prices":[{"value":{"currencyCode":"XXX","centAmount":-1,"fractionDigits":21}}]},"variants":[{"sku":"s1","attributes":[{"value":12345678901234567890}]}]}`},
		ProductVariant: {`{"sku":"a","product":{"key":""},"isMasterVariant":"yes","images":[{"url":5}]}`},
		Price:          {`{"key":"ab","sku":"s1","value":{"currencyCode":"eur","centAmount":1.5},"validFrom":"2026-02-01T00:00:00Z","validUntil":"2026-01-01T00:00:00Z"}`},
		CustomerGroup:  {`{"key":"a","groupName":7,"custom":{"type":{}}}`},
		Channel:        {`{"key":"ab","roles":["Warehouse"],"geoLocation":{"type":"Point","coordinates":[200]},"address":{"city":"x"}}`},
		InventoryEntry: {`{"sku":"ab","quantityOnStock":-1,"restockableInDays":"3","expectedDelivery":"soon","supplyChannel":{"typeId":"category","key":"c"}}`},
	}
	for i, rt := range ResourceTypes {
		f.Add(byte(i), validRecord(f, rt))
		for _, data := range invalid[rt] {
			f.Add(byte(i), []byte(data))
		}
	}
	f.Add(byte(len(ResourceTypes)), []byte(`{"key":"ab"}`))
	for _, data := range []string{``, `null`, `[]`, `{`, `{"key":"ab"}{}`, `{"key":"\ud800\u0000"}`, "{\"key\":\"a\xffb\"}"} {
		f.Add(byte(0), []byte(data))
	}

	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		rt := fuzzType(typ)
		got, errs := Validate(rt, data)

		require.LessOrEqual(t, len(errs), MaxRecordErrors)
		for _, e := range errs {
			require.Equal(t, DataError, e.Type, e)
			require.True(t, knownCodes[e.Code], e)
			require.NotEmpty(t, e.Description, e)
		}
		if got.Identity != "" {
			require.Regexp(t, keyPattern, got.Identity)
		}
		for _, ref := range got.References {
			_, ok := ResourceTypeOf(ref.TypeID)
			require.True(t, ok, ref)
			require.Regexp(t, keyPattern, ref.Identity())
		}
		again, againErrs := Validate(rt, data)
		require.Equal(t, got, again)
		require.Equal(t, errs, againErrs)

		if len(errs) > 0 {
			return
		}
		require.NotEmpty(t, got.Identity)
		rec, err := Decode(rt, data)
		require.NoError(t, err)
		require.Equal(t, got.Identity, identityOf(rec))
		require.Equal(t, referencesOf(rec), got.References)
		_, err = json.Marshal(rec)
		require.NoError(t, err)
	})
}

// FuzzParse checks the record parser against encoding/json: it accepts the
// same documents and reads the same values from them.
func FuzzParse(f *testing.F) {
	for _, rt := range ResourceTypes {
		f.Add(validRecord(f, rt))
	}
	for _, data := range []string{
		``, ` `, `null`, `true`, `fals`, `-0`, `-`, `01`, `1.`, `1.5e+3`, `1E-0`, `.5`, `"\u00e9\ud83d\ude00\ud800x"`,
		`"\x"`, "\"\x01\"", "\"\xff\"", `[1,]`, `[1 2]`, `{"a":1,"a":[{}]}`, `{"a" 1}`, `{1:2}`, `[[[]]] `, `{"a":1}x`,
	} {
		f.Add([]byte(data))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var p parser
		msg := p.parse(data)
		require.Equal(t, json.Valid(data), msg == "", msg)
		if msg != "" {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		require.NoError(t, dec.Decode(&want))
		require.Equal(t, want, treeValue(&p, 0))
		require.Len(t, p.nodes, int(p.nodes[0].size))
	})
}

// treeValue is the value of node n as encoding/json decodes it with UseNumber.
func treeValue(p *parser, n int32) any {
	nd := p.nodes[n]
	switch nd.kind {
	case jsonNull:
		return nil
	case jsonBool:
		return p.data[nd.start] == 't'
	case jsonNumber:
		return json.Number(p.raw(n))
	case jsonString:
		return p.text(n)
	case jsonArray:
		list := []any{}
		for i, j := int32(0), n+1; i < nd.count; i++ {
			list = append(list, treeValue(p, j))
			j += p.nodes[j].size
		}
		return list
	case jsonObject:
		m := map[string]any{}
		for i, j := int32(0), n+1; i < nd.count; i++ {
			m[p.text(j)] = treeValue(p, j+1)
			j += 1 + p.nodes[j+1].size
		}
		return m
	}
	panic("unknown kind " + nd.kind.String())
}

func TestParseNesting(t *testing.T) {
	t.Parallel()

	var p parser
	ok := []byte(strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth))
	require.Empty(t, p.parse(ok))
	require.True(t, json.Valid(ok))
	tooDeep := []byte(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1))
	require.Contains(t, p.parse(tooDeep), "nested deeper than")
	require.False(t, json.Valid(tooDeep))
}
