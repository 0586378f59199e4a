package catalog

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// attrParse parses value with the package parser.
func attrParse(t testing.TB, value string) *parser {
	t.Helper()
	p := &parser{}
	require.Empty(t, p.parse([]byte(value)), "parse %s", value)
	return p
}

// attrType decodes an attribute type definition.
func attrType(t testing.TB, def string) *AttributeType {
	t.Helper()
	var at AttributeType
	require.NoError(t, json.Unmarshal([]byte(def), &at), "decode %s", def)
	return &at
}

// attrColors is an enum of 12 colors, black and white first.
const attrColors = `{"name":"enum","values":[
	{"key":"black","label":"Black"},{"key":"white","label":"White"},{"key":"red","label":"Red"},
	{"key":"green","label":"Green"},{"key":"blue","label":"Blue"},{"key":"yellow","label":"Yellow"},
	{"key":"orange","label":"Orange"},{"key":"purple","label":"Purple"},{"key":"pink","label":"Pink"},
	{"key":"brown","label":"Brown"},{"key":"grey","label":"Grey"},{"key":"beige","label":"Beige"}]}`

const attrSizes = `{"name":"lenum","values":[
	{"key":"s","label":{"en":"Small","de":"Klein"}},{"key":"m","label":{"en":"Medium","de":"Mittel"}}]}`

func TestAttributeCheckValue(t *testing.T) {
	tests := []struct {
		typ, value    string
		path, problem string // problem is a part of the description, "" for a valid value
	}{
		{typ: `"boolean"`, value: `true`},
		{typ: `"boolean"`, value: `false`},
		{typ: `"boolean"`, value: `42`, problem: "expected boolean (true or false), got number 42"},
		{typ: `"boolean"`, value: `"maybe"`, problem: `expected boolean (true or false), got string "maybe"`},
		{typ: `"boolean"`, value: `"true"`, problem: `got string "true"`},

		{typ: `"text"`, value: `"Hello"`},
		{typ: `"text"`, value: `""`},
		{typ: `"text"`, value: `"caf\u00e9 \"quoted\""`},
		{typ: `"text"`, value: `12`, problem: "expected string, got number 12"},
		{typ: `"text"`, value: `{"en":"Hello"}`, problem: "expected string, got object"},
		{typ: `"text"`, value: `"a\u0000b"`, problem: "NUL"},

		{typ: `"ltext"`, value: `{"en":"Red","de-CH":"Rot"}`},
		{typ: `"ltext"`, value: `{}`},
		{typ: `"ltext"`, value: `"Red"`, problem: `expected localized string (an object of language tag → string), got string "Red"`},
		{typ: `"ltext"`, value: `{"english":"Red"}`, path: "english", problem: `"english" is not a language tag`},
		{typ: `"ltext"`, value: `{"en":"Red","de":5}`, path: "de", problem: "expected string, got number 5"},
		{typ: `"ltext"`, value: `{"en":"Red","\u0065n":"Rouge"}`, path: "en", problem: "the language is given more than once"},
		{typ: `"ltext"`, value: `{"en":"a\u0000"}`, path: "en", problem: "NUL"},

		{typ: attrColors, value: `"red"`},
		{typ: attrColors, value: `"r\u0065d"`},
		{typ: attrColors, value: `{"key":"red","label":"Red"}`},
		{typ: attrColors, value: `"fuchsia"`, problem: `"fuchsia" is not a key of enum attribute (one of "black", "white", "red", "green", "blue", … 12 keys)`},
		{typ: attrColors, value: `{"key":"fuchsia","label":"Fuchsia"}`, path: "key", problem: `"fuchsia" is not a key of enum attribute`},
		{typ: attrColors, value: `{"label":"Red"}`, path: "key", problem: "required field is missing"},
		{typ: attrColors, value: `{"key":"red","key":"blue"}`, path: "key", problem: "the field is given more than once"},
		{typ: attrColors, value: `{"key":3}`, path: "key", problem: "expected string, got number 3"},
		{typ: attrColors, value: `""`, problem: "the key is empty"},
		{typ: attrColors, value: `3`, problem: "expected enum key (a string, or an object with a key), got number 3"},
		{typ: attrColors, value: `["red"]`, problem: "got array"},
		{typ: attrColors, value: `"r\u0000d"`, problem: "NUL"},
		{typ: `{"name":"enum","values":[{"key":"a","label":"A"},{"key":"b","label":"B"}]}`, value: `"c"`,
			problem: `"c" is not a key of enum attribute (one of "a", "b")`},
		{typ: `{"name":"enum","values":[]}`, value: `"c"`, problem: `"c" is not a key of enum attribute (it has no keys)`},
		{typ: `"enum"`, value: `"anything"`},
		{typ: `"enum"`, value: `{"key":"anything","label":"Anything"}`},
		{typ: `"enum"`, value: `true`, problem: "expected enum key"},
		{typ: `{"name":"enum"}`, value: `"anything"`},
		{typ: attrSizes, value: `"m"`},
		{typ: attrSizes, value: `{"key":"s","label":{"en":"Small"}}`},
		{typ: attrSizes, value: `"xl"`, problem: `"xl" is not a key of lenum attribute (one of "s", "m")`},
		{typ: `"lenum"`, value: `"xl"`},

		{typ: `"number"`, value: `12`},
		{typ: `"number"`, value: `-12.5e3`},
		{typ: `"number"`, value: `9007199254740992`},
		{typ: `"number"`, value: `-9007199254740992`},
		{typ: `"number"`, value: `9007199254740993`, problem: "9007199254740993 is beyond ±2^53"},
		{typ: `"number"`, value: `1e400`, problem: "1e400 is out of range"},
		{typ: `"number"`, value: `"12"`, problem: `expected number, got string "12"`},
		{typ: `"number"`, value: `true`, problem: "expected number, got true"},

		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1999}`},
		{typ: `"money"`, value: `{"type":"centPrecision","currencyCode":"USD","centAmount":5,"fractionDigits":2}`},
		{typ: `"money"`, value: `{"type":"highPrecision","currencyCode":"EUR","preciseAmount":123456,"fractionDigits":5}`},
		{typ: `"money"`, value: `{"type":"highPrecision","currencyCode":"EUR","centAmount":123,"preciseAmount":123456,"fractionDigits":5}`},
		{typ: `"money"`, value: `{"centAmount":1999}`, path: "currencyCode", problem: "required field is missing"},
		{typ: `"money"`, value: `{"currencyCode":null,"centAmount":1999}`, path: "currencyCode", problem: "required field is missing"},
		{typ: `"money"`, value: `{"currencyCode":"EURO","centAmount":1999}`, path: "currencyCode", problem: `"EURO" is not an ISO 4217 currency code`},
		{typ: `"money"`, value: `{"currencyCode":"XXX","centAmount":1999}`, path: "currencyCode", problem: "is not an ISO 4217"},
		{typ: `"money"`, value: `{"currencyCode":"EUR"}`, path: "centAmount", problem: "required field is missing"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":19.99}`, path: "centAmount", problem: "expected integer, got number 19.99"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":"1999"}`, path: "centAmount", problem: `expected integer, got string "1999"`},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":90071992547409930}`, path: "centAmount", problem: "beyond ±2^53"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1,"centAmount":2}`, path: "centAmount", problem: "the field is given more than once"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1,"fractionDigits":21}`, path: "fractionDigits", problem: "21 is not between 0 and 20"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1,"fractionDigits":-1}`, path: "fractionDigits", problem: "-1 is not between 0 and 20"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1,"type":"fancy"}`, path: "type", problem: `"fancy" is not a money type`},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1,"type":"highPrecision"}`, path: "preciseAmount", problem: "required field is missing"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","type":"highPrecision","preciseAmount":12345}`, path: "fractionDigits", problem: "required field is missing"},
		{typ: `"money"`, value: `{"currencyCode":"USD","centAmount":-5}`, path: "centAmount", problem: "below zero"},
		{typ: `"money"`, value: `{"currencyCode":"EUR","centAmount":1,"type":"highPrecision","preciseAmount":1.5}`, path: "preciseAmount", problem: "expected integer"},
		{typ: `"money"`, value: `1999`, problem: "expected money (an object with currencyCode and centAmount), got number 1999"},

		{typ: `"date"`, value: `"2024-02-29"`},
		{typ: `"date"`, value: `"2023-02-29"`, problem: `"2023-02-29" is not a date (2006-01-02)`},
		{typ: `"date"`, value: `"2024-13-01"`, problem: "is not a date"},
		{typ: `"date"`, value: `"2024-1-01"`, problem: "is not a date"},
		{typ: `"date"`, value: `"2024-01-01T00:00:00Z"`, problem: "is not a date"},
		{typ: `"date"`, value: `"yesterday"`, problem: `"yesterday" is not a date`},
		{typ: `"date"`, value: `20240101`, problem: "expected string, got number 20240101"},

		{typ: `"time"`, value: `"15:04:05"`},
		{typ: `"time"`, value: `"15:04:05.000"`},
		{typ: `"time"`, value: `"23:59:59.123456789"`},
		{typ: `"time"`, value: `"24:00:00"`, problem: `"24:00:00" is not a time`},
		{typ: `"time"`, value: `"15:04"`, problem: "is not a time"},
		{typ: `"time"`, value: `"15:04:05."`, problem: "is not a time"},
		{typ: `"time"`, value: `"15:04:05Z"`, problem: "is not a time"},
		{typ: `"time"`, value: `"noon"`, problem: `"noon" is not a time`},

		{typ: `"datetime"`, value: `"2024-03-01T15:04:05Z"`},
		{typ: `"datetime"`, value: `"2024-03-01T15:04:05.000Z"`},
		{typ: `"datetime"`, value: `"2024-03-01T15:04:05.5+02:00"`},
		{typ: `"datetime"`, value: `"2024-03-01T15:04:05-11:30"`},
		{typ: `"datetime"`, value: `"yesterday"`, problem: `"yesterday" is not an RFC 3339 date-time`},
		{typ: `"datetime"`, value: `"2024-03-01"`, problem: "is not an RFC 3339 date-time"},
		{typ: `"datetime"`, value: `"2024-03-01T15:04:05"`, problem: "is not an RFC 3339 date-time"},
		{typ: `"datetime"`, value: `"2024-03-01 15:04:05Z"`, problem: "is not an RFC 3339 date-time"},
		{typ: `"datetime"`, value: `"2024-02-30T15:04:05Z"`, problem: "is not an RFC 3339 date-time"},

		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"typeId":"product","key":"shoe"}`},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"typeId":"product","id":"8b6d4e5a"}`},
		{typ: `"reference"`, value: `{"typeId":"category","key":"shoes"}`},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"typeId":"category","key":"shoes"}`, path: "typeId", problem: `typeId "category", expected "product"`},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"key":"shoe"}`, path: "typeId", problem: "required field is missing"},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"typeId":"product"}`, problem: "a reference needs a key or an id"},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"typeId":"product","key":""}`, path: "key", problem: "key is empty"},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `{"typeId":"product","id":7}`, path: "id", problem: "expected string, got number 7"},
		{typ: `{"name":"reference","referenceTypeId":"product"}`, value: `"shoe"`, problem: `expected reference (an object with a typeId and a key or an id), got string "shoe"`},

		{typ: `{"name":"set","elementType":{"name":"text"}}`, value: `["a","b"]`},
		{typ: `{"name":"set","elementType":{"name":"text"}}`, value: `[]`},
		{typ: `{"name":"set","elementType":"text"}`, value: `["a",2]`, path: "1", problem: "expected string, got number 2"},
		{typ: `{"name":"set","elementType":"text"}`, value: `["a",null]`, path: "1", problem: "a set element is null"},
		{typ: `{"name":"set","elementType":"text"}`, value: `"a"`, problem: `expected set (an array), got string "a"`},
		{typ: `{"name":"set","elementType":` + attrColors + `}`, value: `["red",{"key":"blue"}]`},
		{typ: `{"name":"set","elementType":` + attrColors + `}`, value: `["red","fuchsia"]`, path: "1", problem: `"fuchsia" is not a key of enum attribute`},
		{typ: `{"name":"set","elementType":` + attrColors + `}`, value: `["red",{"key":"fuchsia"}]`, path: "1.key", problem: `"fuchsia" is not a key`},
		{typ: `{"name":"set","elementType":"money"}`, value: `[{"currencyCode":"EUR","centAmount":1},{"currencyCode":"EUR","centAmount":1},{"currencyCode":"EUR","centAmount":"x"}]`,
			path: "2.centAmount", problem: `expected integer, got string "x"`},
		{typ: `{"name":"set","elementType":{"name":"set","elementType":"number"}}`, value: `[[1,2],[3,"4"]]`, path: "1.1", problem: `expected number, got string "4"`},
		{typ: `"set"`, value: `["a",1,{"b":true}]`},
		{typ: `"set"`, value: `["a","\u0000"]`, path: "1", problem: "NUL"},

		{typ: `"nested"`, value: `{}`, problem: `the attribute has the unknown type "nested"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.40s/%s", strings.Join(strings.Fields(tt.typ), ""), tt.value), func(t *testing.T) {
			at := attrType(t, tt.typ)
			p := attrParse(t, tt.value)
			path, problem := at.checkValue(p, 0)
			if tt.problem == "" {
				require.Empty(t, problem, "valid value refused")
				require.Empty(t, path)
				return
			}
			require.Contains(t, problem, tt.problem)
			require.Equal(t, tt.path, path)
		})
	}
}

func TestAttributeTypeDecodeShorthand(t *testing.T) {
	for _, name := range []string{"boolean", "text", "ltext", "enum", "lenum", "number", "money", "date", "time", "datetime", "reference", "set"} {
		at := attrType(t, `"`+name+`"`)
		require.Equal(t, AttributeType{Name: name}, *at)
		require.Nil(t, at.Values, "a shorthand has no values: its keys are not checked")
	}
	// null leaves the type as it is, as encoding/json does.
	at := AttributeType{Name: "text"}
	require.NoError(t, json.Unmarshal([]byte(`null`), &at))
	require.Equal(t, "text", at.Name)

	require.Error(t, json.Unmarshal([]byte(`42`), &at))
	require.Error(t, json.Unmarshal([]byte(`{"name":7}`), &at))
}

func TestAttributeTypeDecodeObject(t *testing.T) {
	at := attrType(t, `{"name":"set","elementType":{"name":"lenum","values":[
		{"key":"s","label":{"en":"Small","de":"Klein"}},
		{"key":"m","label":{"en":"Medium","de":"Mittel"}}]}}`)
	require.Equal(t, "set", at.Name)
	require.Nil(t, at.Values)
	require.NotNil(t, at.ElementType)
	el := at.ElementType
	require.Equal(t, "lenum", el.Name)
	require.Len(t, el.Values, 2)
	require.Equal(t, "s", el.Values[0].Key)
	require.JSONEq(t, `{"en":"Small","de":"Klein"}`, string(el.Values[0].Label))
	require.Equal(t, "m", el.Values[1].Key)
	require.Nil(t, el.keys, "two values are scanned, not indexed")

	ref := attrType(t, `{"name":"reference","referenceTypeId":"product"}`)
	require.Equal(t, AttributeType{Name: "reference", ReferenceTypeID: "product"}, *ref)

	en := attrType(t, `{"name":"enum","values":[{"key":"red","label":"Red"}]}`)
	require.Equal(t, []EnumValue{{Key: "red", Label: json.RawMessage(`"Red"`)}}, en.Values)

	// The shorthand element type of an object.
	sh := attrType(t, `{"name":"set","elementType":"enum"}`)
	require.Equal(t, &AttributeType{Name: "enum"}, sh.ElementType)

	// It encodes back to the commercetools object.
	out, err := json.Marshal(at)
	require.NoError(t, err)
	require.JSONEq(t, `{"name":"set","elementType":{"name":"lenum","values":[
		{"key":"s","label":{"en":"Small","de":"Klein"}},
		{"key":"m","label":{"en":"Medium","de":"Mittel"}}]}}`, string(out))
}

// attrDesigners is an enum of 217 designers, as Sunrise has.
func attrDesigners(t testing.TB) string {
	var sb strings.Builder
	sb.WriteString(`{"name":"enum","values":[`)
	for i := range 217 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"key":"designer-%03d","label":"Designer %d"}`, i, i)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

func TestAttributeEnumLookup217(t *testing.T) {
	at := attrType(t, attrDesigners(t))
	require.Len(t, at.Values, 217)
	require.Len(t, at.keys, 217, "many values are indexed at decode time")
	for _, key := range []string{"designer-000", "designer-108", "designer-216"} {
		_, problem := at.checkValue(attrParse(t, `"`+key+`"`), 0)
		require.Empty(t, problem, key)
		require.True(t, at.hasKey([]byte(key)))
	}
	_, problem := at.checkValue(attrParse(t, `"designer-217"`), 0)
	require.Equal(t, `"designer-217" is not a key of enum attribute (one of "designer-000", "designer-001", "designer-002", "designer-003", "designer-004", … 217 keys)`, problem)

	// A type built in Go, not decoded, has no index and scans its values.
	built := AttributeType{Name: "enum", Values: at.Values}
	require.True(t, built.hasKey([]byte("designer-216")))
	require.False(t, built.hasKey([]byte("designer-217")))

	// A set of them indexes its element type.
	set := attrType(t, `{"name":"set","elementType":`+attrDesigners(t)+`}`)
	require.Len(t, set.ElementType.keys, 217)
	path, problem := set.checkValue(attrParse(t, `["designer-001","designer-999"]`), 0)
	require.Equal(t, "1", path)
	require.Contains(t, problem, `"designer-999" is not a key of enum attribute`)
}

func TestAttributeComparable(t *testing.T) {
	same := []struct{ typ, a, b string }{
		{attrColors, `"red"`, `{"key":"red","label":"Red"}`},
		{attrColors, `"red"`, `{"label":"Rot","key":"r\u0065d"}`},
		{attrSizes, `"m"`, `{"key":"m","label":{"en":"Medium"}}`},
		{`{"name":"set","elementType":` + attrColors + `}`, `["red","blue"]`, `["blue", {"key":"red","label":"Red"}]`},
		{`{"name":"set","elementType":"text"}`, `["b","a","c"]`, `["c","b","a"]`},
		{`{"name":"set","elementType":"text"}`, `["a","a"]`, `["a"]`},
		{`{"name":"set","elementType":"money"}`, `[{"currencyCode":"EUR","centAmount":1},{"currencyCode":"USD","centAmount":2}]`,
			`[{"centAmount":2,"currencyCode":"USD"},{"centAmount":1, "currencyCode":"EUR"}]`},
		{`"text"`, `"café"`, `"caf\u00e9"`},
		{`"text"`, `"a/b"`, `"a\/b"`},
		{`"ltext"`, `{"en":"Red","de":"Rot"}`, `{ "de" : "Rot", "en" : "Red" }`},
		{`"money"`, `{"currencyCode":"EUR","centAmount":1999}`, `{"centAmount":1999,"currencyCode":"EUR"}`},
		{`"number"`, `1.5`, `1.50`},
		{`"number"`, `100`, `1e2`},
		{`"number"`, `0`, `-0`},
		{`"boolean"`, `true`, `true`},
		{`"time"`, `"15:04:05"`, `"15:04:05.000"`},
		{`"datetime"`, `"2024-03-01T15:04:05Z"`, `"2024-03-01T16:04:05.000+01:00"`},
		{`{"name":"reference","referenceTypeId":"product"}`, `{"typeId":"product","key":"shoe"}`, `{"key":"shoe","typeId":"product"}`},
	}
	for _, tt := range same {
		at := attrType(t, tt.typ)
		pa, pb := attrParse(t, tt.a), attrParse(t, tt.b)
		for _, p := range []*parser{pa, pb} {
			_, problem := at.checkValue(p, 0)
			require.Empty(t, problem, "the values compared must be valid: %s", p.data)
		}
		require.Equal(t, at.comparable(pa, 0), at.comparable(pb, 0), "%s vs %s", tt.a, tt.b)
	}
	require.Equal(t, "red", attrType(t, attrColors).comparable(attrParse(t, `{"key":"red","label":"Red"}`), 0))

	different := []struct{ typ, a, b string }{
		{attrColors, `"red"`, `"blue"`},
		{`{"name":"set","elementType":"text"}`, `["a,b"]`, `["a","b"]`},
		{`{"name":"set","elementType":"text"}`, `["a\",\"b"]`, `["a","b"]`},
		{`{"name":"set","elementType":"text"}`, `["a"]`, `["a","b"]`},
		{`{"name":"set","elementType":{"name":"set","elementType":"text"}}`, `[["a","b"]]`, `[["a"],["b"]]`},
		{`"text"`, `"red"`, `"Red"`},
		{`"number"`, `1`, `1.0000001`},
		{`"money"`, `{"currencyCode":"EUR","centAmount":1999}`, `{"currencyCode":"USD","centAmount":1999}`},
		{`"ltext"`, `{"en":"Red"}`, `{"en":"Red","de":"Rot"}`},
		{`"datetime"`, `"2024-03-01T15:04:05Z"`, `"2024-03-01T15:04:05+01:00"`},
		{`"boolean"`, `true`, `false`},
	}
	for _, tt := range different {
		at := attrType(t, tt.typ)
		require.NotEqual(t, at.comparable(attrParse(t, tt.a), 0), at.comparable(attrParse(t, tt.b), 0), "%s vs %s", tt.a, tt.b)
	}
}

// The hand-written date-time checks agree with the time package.
func TestAttributeTimeFormats(t *testing.T) {
	datetimes := []string{
		"2024-03-01T15:04:05Z", "2024-03-01T15:04:05.1Z", "2024-03-01T15:04:05.123456789Z",
		"2024-03-01T15:04:05+23:59", "2024-03-01T15:04:05-00:00", "2000-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2024-03-01t15:04:05Z", "2024-03-01T15:04:05z", "2024-03-01T15:04:60Z",
		"2024-03-01T15:60:05Z", "2024-03-01T24:00:00Z", "2024-03-01T15:04:05+0200", "2024-03-01T15:04:05.Z",
		"2024-03-01T15:04:05+02", "2024-00-01T15:04:05Z", "2024-04-31T15:04:05Z", "2024-03-01T15:04:05ZZ",
		"yesterday", "",
	}
	for _, s := range datetimes {
		_, err := time.Parse(time.RFC3339Nano, s)
		require.Equal(t, err == nil, isAttrDateTime([]byte(s)), "%q", s)
	}
	dates := []string{"2024-02-29", "2023-02-29", "2000-02-29", "2100-02-29", "2024-12-31", "2024-12-32",
		"2024-11-31", "0000-01-01", "2024-1-1", "2024-01-01Z", "24-01-01", "today"}
	for _, s := range dates {
		_, err := time.Parse(time.DateOnly, s)
		require.Equal(t, err == nil, isAttrDate([]byte(s)), "%q", s)
	}
	times := []string{"00:00:00", "23:59:59", "23:59:59.999", "15:04:05.123456789", "24:00:00",
		"12:60:00", "12:00:60", "12:00", "12:00:00.", "12:00:00Z", "noon"}
	for _, s := range times {
		_, err := time.Parse(time.TimeOnly, s)
		require.Equal(t, err == nil, isAttrTime([]byte(s)), "%q", s)
	}
	// The time package reads a one-digit hour; RFC 3339 and commercetools don't.
	require.False(t, isAttrDateTime([]byte("2024-03-01T5:04:05Z")))
	require.False(t, isAttrTime([]byte("1:00:00")))
}

func TestAttributeCheckValueAllocs(t *testing.T) {
	cases := []struct{ typ, value string }{
		{`"text"`, `"Hello, world"`},
		{`"text"`, `"caf\u00e9"`},
		{attrColors, `"beige"`},
		{attrColors, `{"key":"red","label":"Red"}`},
		{attrDesigners(t), `"designer-200"`},
		{attrDesigners(t), `"designer-2\u0030\u0030"`},
		{`"enum"`, `"anything"`},
		{`"number"`, `12`},
		{`"number"`, `-12.5e3`},
		{`"boolean"`, `true`},
		{`"ltext"`, `{"en":"Red","de":"Rot"}`},
		{`"date"`, `"2024-02-29"`},
		{`"datetime"`, `"2024-03-01T15:04:05.5+02:00"`},
		{`{"name":"reference","referenceTypeId":"product"}`, `{"typeId":"product","key":"shoe"}`},
		{`{"name":"set","elementType":` + attrColors + `}`, `["red",{"key":"blue"}]`},
		{`"money"`, `{"currencyCode":"EUR","centAmount":1999}`},
	}
	for _, c := range cases {
		at := attrType(t, c.typ)
		p := attrParse(t, c.value)
		allocs := testing.AllocsPerRun(100, func() {
			if _, problem := at.checkValue(p, 0); problem != "" {
				t.Fatalf("%s: %s", c.value, problem)
			}
		})
		require.Zero(t, allocs, "allocations checking %s", c.value)
	}
}

func BenchmarkAttributeCheckValue(b *testing.B) {
	at := attrType(b, attrDesigners(b))
	p := attrParse(b, `{"key":"designer-200","label":"Designer 200"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, problem := at.checkValue(p, 0); problem != "" {
			b.Fatal(problem)
		}
	}
}
