package catalog

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	t.Parallel()

	tests := []struct {
		rt   ResourceType
		want any
	}{
		{ProductType, &ProductTypeRecord{
			Key:         "shoes",
			Name:        "Shoes",
			Description: "Footwear of every kind",
			Attributes: []AttributeDefinition{
				{Name: "size", Type: AttributeType{Name: "number"}, IsRequired: true, Label: LocalizedString{"en": "Size", "de": "Größe"}},
				{Name: "color", Type: AttributeType{Name: "enum"}, Label: LocalizedString{"en": "Colour", "en-US": "Color"}},
				{Name: "material", Type: AttributeType{Name: "ltext"}},
			},
		}},
		{Category, &CategoryRecord{
			Key:         "running-shoes",
			Name:        LocalizedString{"en": "Running shoes", "de": "Laufschuhe"},
			Slug:        LocalizedString{"en": "running-shoes", "de": "laufschuhe"},
			Description: LocalizedString{"en": "Shoes to run in"},
			Parent:      &KeyReference{TypeID: "category", Key: "shoes"},
			OrderHint:   "0.5",
		}},
		{TaxCategory, &TaxCategoryRecord{
			Key:         "standard",
			Name:        "Standard rate",
			Description: "The standard VAT rate",
			Rates: []TaxRate{
				{Name: "DE standard", Amount: 0.19, Country: "DE", IncludedInPrice: true},
				{Name: "CH standard", Amount: 0.081, Country: "CH"},
			},
		}},
		{Product, &ProductRecord{
			Key:         "shoe-123",
			ProductType: KeyReference{TypeID: "product-type", Key: "shoes"},
			Name:        LocalizedString{"en": "Running shoe", "de": "Laufschuh"},
			Slug:        LocalizedString{"en": "running-shoe", "de": "laufschuh"},
			Description: LocalizedString{
				"en": "A light running shoe with a breathable mesh upper and a cushioned sole.",
				"de": "Ein leichter Laufschuh mit atmungsaktivem Obermaterial.",
			},
			Categories:  []KeyReference{{TypeID: "category", Key: "shoes"}, {TypeID: "category", Key: "running"}},
			TaxCategory: &KeyReference{TypeID: "tax-category", Key: "standard"},
			Publish:     true,
			MasterVariant: &Variant{
				SKU: "shoe-123-40",
				Key: "shoe-123-40",
				Attributes: []Attribute{
					{Name: "size", Value: json.RawMessage(`40`)},
					{Name: "color", Value: json.RawMessage(`{"key":"red","label":{"en":"Red"}}`)},
				},
				Prices: []EmbeddedPrice{{Key: "p-1", Value: Money{CurrencyCode: "EUR", CentAmount: 8999, FractionDigits: ptr(2)}, Country: "DE"}},
				Images: []Image{{URL: "https://img.example.com/shoe-123-40.jpg", Label: "front"}},
			},
			Variants: []Variant{
				{
					SKU:        "shoe-123-41",
					Attributes: []Attribute{{Name: "size", Value: json.RawMessage(`41`)}},
					Prices:     []EmbeddedPrice{{Value: Money{CurrencyCode: "EUR", CentAmount: 8999}}},
				},
				{
					SKU:        "shoe-123-42",
					Attributes: []Attribute{{Name: "size", Value: json.RawMessage(`42`)}},
					Prices:     []EmbeddedPrice{{Value: Money{CurrencyCode: "USD", CentAmount: 9999}}},
				},
			},
		}},
		{ProductVariant, &ProductVariantRecord{
			SKU:     "shoe-123-43",
			Key:     "shoe-123-43",
			Product: KeyReference{TypeID: "product", Key: "shoe-123"},
			Attributes: []Attribute{
				{Name: "size", Value: json.RawMessage(`43`)},
				{Name: "tags", Value: json.RawMessage(`["light", "mesh"]`)},
			},
			Prices: []EmbeddedPrice{{Key: "p-43", Value: Money{CurrencyCode: "CHF", CentAmount: 12900}, Country: "CH"}},
			Images: []Image{{URL: "https://img.example.com/shoe-123-43.jpg"}},
		}},
		{Price, &PriceRecord{
			SKU: "shoe-123-40",
			EmbeddedPrice: EmbeddedPrice{
				Key:        "price-shoe-123-40-eur",
				Value:      Money{CurrencyCode: "EUR", CentAmount: 7999, FractionDigits: ptr(2)},
				Country:    "DE",
				ValidFrom:  ptr(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
				ValidUntil: ptr(time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("", 3600))),
			},
		}},
		{CustomerGroup, &CustomerGroupRecord{Key: "b2b", GroupName: "b2b"}},
		{Channel, &ChannelRecord{
			Key:         "warehouse-1",
			Roles:       []string{"InventorySupply", "ProductDistribution"},
			Name:        LocalizedString{"en": "Warehouse 1", "de": "Lager 1"},
			Description: LocalizedString{"en": "The first warehouse"},
			Address:     &Address{StreetName: "Townsend Street", StreetNumber: "650", PostalCode: "CA 94103", City: "San Francisco", Country: "US"},
			GeoLocation: &GeoJSONPoint{Type: "Point", Coordinates: []float64{-122.402917, 37.770929}},
		}},
		{InventoryEntry, &InventoryEntryRecord{
			SKU:               "shoe-123-40",
			QuantityOnStock:   42,
			SupplyChannel:     &KeyReference{TypeID: "channel", Key: "warehouse-1"},
			RestockableInDays: ptr(3),
			ExpectedDelivery:  ptr(time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)),
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.rt), func(t *testing.T) {
			t.Parallel()
			got, err := Decode(tt.rt, validRecord(t, tt.rt))
			require.NoError(t, err)
			requireSameRecord(t, tt.want, got)
		})
	}
}

// requireSameRecord compares records, times by instant and offset.
func requireSameRecord(t *testing.T, want, got any) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g))
	require.Equal(t, reflect.TypeOf(want), reflect.TypeOf(got))
}

// TestDecodeAgreesWithEncodingJSON decodes the valid records with
// encoding/json too: the JSON tags and Decode read the same fields.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()

	for _, rt := range ResourceTypes {
		t.Run(string(rt), func(t *testing.T) {
			t.Parallel()
			data := validRecord(t, rt)
			got, err := Decode(rt, data)
			require.NoError(t, err)
			want := reflect.New(reflect.TypeOf(got).Elem()).Interface()
			require.NoError(t, json.Unmarshal(data, want))
			// Raw attribute values are compared as JSON: Decode reads them compacted.
			wantJSON, err := json.Marshal(want)
			require.NoError(t, err)
			gotJSON, err := json.Marshal(got)
			require.NoError(t, err)
			require.JSONEq(t, string(wantJSON), string(gotJSON))
		})
	}
}

func TestDecodeFillsTypeIDs(t *testing.T) {
	t.Parallel()

	got, err := Decode(Product, []byte(`{"key":"ab","productType":{"key":"pt"},"categories":[{"key":"c1"},{"typeId":null,"key":"c2"}],"taxCategory":{"typeId":"","key":"tc"}}`))
	require.NoError(t, err)
	p := got.(*ProductRecord)
	require.Equal(t, KeyReference{TypeID: "product-type", Key: "pt"}, p.ProductType)
	require.Equal(t, []KeyReference{{TypeID: "category", Key: "c1"}, {TypeID: "category", Key: "c2"}}, p.Categories)
	require.Equal(t, &KeyReference{TypeID: "tax-category", Key: "tc"}, p.TaxCategory)

	got, err = Decode(InventoryEntry, []byte(`{"sku":"ab","quantityOnStock":1,"supplyChannel":{"key":"w1"}}`))
	require.NoError(t, err)
	require.Equal(t, &KeyReference{TypeID: "channel", Key: "w1"}, got.(*InventoryEntryRecord).SupplyChannel)
}

func TestDecodeStrings(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		json string
	}{
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC"`},
		{"a surrogate pair", `"\ud83d\ude00"`},
		{"a lone high surrogate", `"a\ud83db"`},
		{"a lone low surrogate", `"\ude00"`},
		{"a high surrogate before an escape", `"\ud83d\u0041"`},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`},
		{"invalid UTF-8", "\"a\xffb\xc3\""},
		{"a truncated rune", "\"\xe2\x82\""},
		{"UTF-8", `"Größe €"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want string
			require.NoError(t, json.Unmarshal([]byte(tt.json), &want))
			got, err := Decode(ProductType, []byte(`{"name":`+tt.json+`}`))
			require.NoError(t, err)
			require.Equal(t, want, got.(*ProductTypeRecord).Name)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		rt   ResourceType
		data string
	}{
		{"an unknown type", "Customer", `{"key":"ab"}`},
		{"not JSON", Product, `{"key":`},
		{"not an object", Product, `["key"]`},
		{"a number for a string", ProductType, `{"key":"ab","name":5}`},
		{"a string for a localized string", Category, `{"key":"ab","name":"x"}`},
		{"a fraction for an integer", Price, `{"value":{"centAmount":1.5}}`},
		{"an integer out of range", Price, `{"value":{"centAmount":99999999999999999999}}`},
		{"a string for a number", TaxCategory, `{"rates":[{"amount":"0.1"}]}`},
		{"a bad date", Price, `{"validFrom":"yesterday"}`},
		{"an object for an array", Product, `{"variants":{}}`},
		{"a string for a boolean", Product, `{"publish":"true"}`},
		{"a string for a reference", Product, `{"productType":"pt"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(tt.rt, []byte(tt.data))
			require.Error(t, err)
		})
	}
}

func BenchmarkDecodeProduct(b *testing.B) {
	data := validRecord(b, Product)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(Product, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalProduct(b *testing.B) {
	data := validRecord(b, Product)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var p ProductRecord
		if err := json.Unmarshal(data, &p); err != nil {
			b.Fatal(err)
		}
	}
}
