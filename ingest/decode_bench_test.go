package ingest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/importd/importd/catalog"
)

// appendProductJSON appends product record i as a JSON object of about 1 KB.
func appendProductJSON(dst []byte, i int) []byte {
	return fmt.Appendf(dst, `{"key":"product-%06[1]d","productType":{"typeId":"product-type","key":"running-shoes"},`+
		`"name":{"en":"Trail runner %[1]d","de":"Trailschuh %[1]d"},"slug":{"en":"trail-runner-%[1]d","de":"trailschuh-%[1]d"},`+
		`"description":{"en":"A light trail shoe with a breathable \"mesh\" upper, a cushioned midsole and a grippy rubber outsole.",`+
		`"de":"Ein leichter Trailschuh mit atmungsaktivem Obermaterial aus \"Mesh\", gedämpfter Zwischensohle und griffiger Gummisohle."},`+
		`"categories":[{"typeId":"category","key":"shoes"},{"typeId":"category","key":"running"}],`+
		`"taxCategory":{"typeId":"tax-category","key":"standard"},`+
		`"masterVariant":{"sku":"SKU-%06[1]d-42","prices":[`+
		`{"value":{"currencyCode":"EUR","centAmount":%[2]d},"country":"DE"},`+
		`{"value":{"currencyCode":"USD","centAmount":%[3]d},"country":"US"}],`+
		`"attributes":[{"name":"size","value":"42"},{"name":"color","value":"blue"},{"name":"material","value":"mesh"}]},`+
		`"variants":[{"sku":"SKU-%06[1]d-43","attributes":[{"name":"size","value":"43"}]},`+
		`{"sku":"SKU-%06[1]d-44","attributes":[{"name":"size","value":"44"}]}]}`,
		i, 8999+i%1000, 9999+i%1000)
}

// productCSVHeader is the header of the csv product rows.
const productCSVHeader = "key,productType.key,name.en,name.de,slug.en,slug.de,description.en,description.de," +
	"categories.0.key,categories.1.key,taxCategory.key,masterVariant.sku," +
	"masterVariant.prices.0.value.currencyCode,masterVariant.prices.0.value.centAmount,masterVariant.prices.0.country," +
	"masterVariant.prices.1.value.currencyCode,masterVariant.prices.1.value.centAmount,masterVariant.prices.1.country," +
	"masterVariant.attributes.0.name,masterVariant.attributes.0.value,masterVariant.attributes.1.name,masterVariant.attributes.1.value," +
	"variants.0.sku,variants.0.attributes.0.name,variants.0.attributes.0.value," +
	"variants.1.sku,variants.1.attributes.0.name,variants.1.attributes.0.value\n"

// appendProductCSV appends product record i as a csv row.
func appendProductCSV(dst []byte, i int) []byte {
	return fmt.Appendf(dst, `product-%06[1]d,running-shoes,Trail runner %[1]d,Trailschuh %[1]d,trail-runner-%[1]d,trailschuh-%[1]d,`+
		`"A light trail shoe with a breathable ""mesh"" upper, a cushioned midsole and a grippy rubber outsole.",`+
		`"Ein leichter Trailschuh mit atmungsaktivem Obermaterial aus ""Mesh"", gedämpfter Zwischensohle und griffiger Gummisohle.",`+
		`shoes,running,standard,SKU-%06[1]d-42,EUR,%[2]d,DE,USD,%[3]d,US,size,42,color,blue,`+
		`SKU-%06[1]d-43,size,43,SKU-%06[1]d-44,size,44`+"\n",
		i, 8999+i%1000, 9999+i%1000)
}

// productColumnKind types the price amounts of the csv product rows.
func productColumnKind(column string) catalog.Kind {
	if strings.HasSuffix(column, ".centAmount") {
		return catalog.KindInt
	}
	return catalog.KindString
}

// productBody builds a body of n product records in format f.
func productBody(f Format, n int) []byte {
	var b []byte
	switch f {
	case FormatJSON:
		b = append(b, "[\n"...)
	case FormatCSV:
		b = append(b, productCSVHeader...)
	}
	for i := range n {
		switch f {
		case FormatNDJSON:
			b = append(appendProductJSON(b, i), '\n')
		case FormatJSON:
			if i > 0 {
				b = append(b, ",\n"...)
			}
			b = appendProductJSON(b, i)
		case FormatCSV:
			b = appendProductCSV(b, i)
		}
	}
	if f == FormatJSON {
		b = append(b, "\n]\n"...)
	}
	return b
}

func BenchmarkDecodeNDJSON(b *testing.B) { benchmarkDecode(b, FormatNDJSON) }

func BenchmarkDecodeJSON(b *testing.B) { benchmarkDecode(b, FormatJSON) }

func BenchmarkDecodeCSV(b *testing.B) { benchmarkDecode(b, FormatCSV) }

// benchmarkDecode decodes a body of 10,000 product records per iteration.
func benchmarkDecode(b *testing.B, f Format) {
	const n = 10_000
	body := productBody(f, n)
	cfg := DecoderConfig{ColumnKind: productColumnKind}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	iterations := 0
	for b.Loop() {
		iterations++
		dec := NewDecoder(f, bytes.NewReader(body), cfg)
		for {
			rec, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil || rec.Err != nil {
				b.Fatalf("record %d: %v %v", rec.Index, err, rec.Err)
			}
		}
	}
	b.ReportMetric(float64(n*iterations)/b.Elapsed().Seconds(), "records/s")
}
