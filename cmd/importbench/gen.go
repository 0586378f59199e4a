package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// kind is what a generated record is meant to become.
type kind uint8

const (
	kindValid   kind = iota // imported
	kindInvalid             // validationFailed at ingest
	kindLate                // parked on the late category, imported once it is published
)

// Catalog prerequisites every merchant of the benchmark gets before the load.
const (
	productTypes  = 3
	rootCats      = 4
	childCats     = 16
	taxCategories = 2
	lateCategory  = "late-cat"
)

var (
	sizes     = []string{"XS", "S", "M", "L", "XL", "XXL"}
	colors    = []string{"black", "white", "navy", "red", "green", "grey", "beige", "blue"}
	materials = []string{"cotton", "wool", "linen", "polyester", "silk", "denim"}
	currency  = []struct{ code, country string }{{"EUR", ""}, {"USD", "US"}, {"GBP", "GB"}, {"CHF", "CH"}}
	nouns     = [][3]string{{"Shirt", "Hemd", "Chemise"}, {"Jacket", "Jacke", "Veste"}, {"Trousers", "Hose", "Pantalon"},
		{"Dress", "Kleid", "Robe"}, {"Sweater", "Pullover", "Pull"}, {"Coat", "Mantel", "Manteau"}}
	words = []string{"soft", "durable", "breathable", "classic", "modern", "lightweight", "warm", "tailored",
		"relaxed", "organic", "recycled", "everyday", "premium", "washable", "seasonal", "versatile"}
)

// gen generates the records of the benchmark deterministically: record i
// depends only on the seed and i, whatever delivery carries it.
type gen struct {
	seed    uint64
	invalid float64
	late    float64
}

// rng returns the random source of record i of a key space.
func (g gen) rng(space uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed^space*0x9e3779b97f4a7c15, uint64(i)))
}

// kindOf says what record i of the main load is.
func (g gen) kindOf(i int) kind {
	f := g.rng(1, i).Float64()
	switch {
	case f < g.invalid:
		return kindInvalid
	case f < g.invalid+g.late:
		return kindLate
	}
	return kindValid
}

// variantsOf is the number of variants of record i (a valid or late one).
func (g gen) variantsOf(i int) int { return 1 + g.rng(2, i).IntN(4) }

// productKey is the key of record i of a key space: the main load uses
// space 0 ("bp-<i>"), small deliveries their own prefix.
func productKey(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// appendProduct appends record i (key prefix+i) as one ndjson line.
func (g gen) appendProduct(b []byte, prefix string, i int, k kind) []byte {
	r := g.rng(3, i)
	key := productKey(prefix, i)
	noun := nouns[r.IntN(len(nouns))]
	adj := words[r.IntN(len(words))]
	b = append(b, `{"key":"`...)
	b = append(b, key...)
	b = append(b, `","productType":{"key":"type-`...)
	b = strconv.AppendInt(b, int64(r.IntN(productTypes)), 10)
	b = append(b, `"},`...)
	if !(k == kindInvalid && i%2 == 0) { // half the invalid records miss their name
		b = fmt.Appendf(b, `"name":{"en":"%s %s %d","de":"%s %s %d","fr":"%s %s %d"},`,
			adj, noun[0], i, adj, noun[1], i, noun[2], adj, i)
	}
	b = fmt.Appendf(b, `"slug":{"en":"%s-en","de":"%s-de","fr":"%s-fr"},"description":{`, key, key, key)
	for li, lang := range []string{"en", "de", "fr"} {
		if li > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, lang...)
		b = append(b, `":"`...)
		n := 12 + r.IntN(28)
		for w := 0; w < n; w++ {
			if w > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[r.IntN(len(words))]...)
		}
		b = append(b, '"')
	}
	b = append(b, `},"categories":[`...)
	b = fmt.Appendf(b, `{"key":"cat-%d"}`, rootCats+r.IntN(childCats))
	if r.IntN(2) == 0 {
		b = fmt.Appendf(b, `,{"key":"cat-%d"}`, r.IntN(rootCats))
	}
	if k == kindLate {
		b = append(b, `,{"key":"`+lateCategory+`"}`...)
	}
	b = fmt.Appendf(b, `],"taxCategory":{"key":"tax-%d"}`, r.IntN(taxCategories))
	nv := g.variantsOf(i)
	for v := 0; v < nv; v++ {
		switch v {
		case 0:
			b = append(b, `,"masterVariant":`...)
		case 1:
			b = append(b, `,"variants":[`...)
		default:
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"sku":"%s-v%d","attributes":[{"name":"size","value":"%s"},{"name":"color","value":"%s"},{"name":"material","value":"%s"},{"name":"weight","value":%d}],"prices":[`,
			key, v, sizes[r.IntN(len(sizes))], colors[r.IntN(len(colors))], materials[r.IntN(len(materials))], 100+r.IntN(2000))
		np := 1 + r.IntN(3)
		for p := 0; p < np; p++ {
			if p > 0 {
				b = append(b, ',')
			}
			cur := currency[p]
			code := cur.code
			if k == kindInvalid && i%2 == 1 && v == 0 && p == 0 {
				code = "EURO" // the other half have a bad currency
			}
			b = fmt.Appendf(b, `{"value":{"currencyCode":"%s","centAmount":%d}`, code, 499+r.IntN(20000))
			if cur.country != "" {
				b = fmt.Appendf(b, `,"country":"%s"`, cur.country)
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	if nv > 1 {
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	return b
}

// products is an io.Reader over the ndjson body of records [from, to) of the
// main load: generated as they are read, never held whole.
type products struct {
	g        gen
	prefix   string
	next, to int
	buf      []byte
	off      int
	kinds    func(int) kind
}

func (p *products) Read(b []byte) (int, error) {
	if p.off == len(p.buf) {
		if p.next >= p.to {
			return 0, io.EOF
		}
		p.buf, p.off = p.buf[:0], 0
		for p.next < p.to && len(p.buf) < 64<<10 {
			p.buf = p.g.appendProduct(p.buf, p.prefix, p.next, p.kinds(p.next))
			p.next++
		}
	}
	n := copy(b, p.buf[p.off:])
	p.off += n
	return n, nil
}

// mainLoad returns the body of records [from, to) of the main load.
func (g gen) mainLoad(from, to int) io.Reader {
	return &products{g: g, prefix: "bp-", next: from, to: to, kinds: g.kindOf}
}

// smallLoad returns the body of small delivery number n: 10 valid products.
func (g gen) smallLoad(n, records int) io.Reader {
	return &products{g: g, prefix: fmt.Sprintf("s%d-", n), next: 0, to: records, kinds: func(int) kind { return kindValid }}
}

// prerequisites are the catalog deliveries every merchant gets first.
func prerequisites() []struct{ data, body string } {
	var types, cats, taxes []byte
	for t := 0; t < productTypes; t++ {
		types = fmt.Appendf(types, `{"key":"type-%d","name":"Type %d","attributes":[{"name":"size","type":"text","isRequired":true},`+
			`{"name":"color","type":"text"},{"name":"material","type":"text"},{"name":"weight","type":"number"}]}`+"\n", t, t)
	}
	for c := 0; c < rootCats+childCats; c++ {
		cats = fmt.Appendf(cats, `{"key":"cat-%d","name":{"en":"Category %d","de":"Kategorie %d"},"slug":{"en":"cat-%d"}`, c, c, c, c)
		if c >= rootCats {
			cats = fmt.Appendf(cats, `,"parent":{"key":"cat-%d"}`, c%rootCats)
		}
		cats = append(cats, "}\n"...)
	}
	for t := 0; t < taxCategories; t++ {
		taxes = fmt.Appendf(taxes, `{"key":"tax-%d","name":"Tax %d","rates":[{"name":"DE","amount":0.%d,"country":"DE","includedInPrice":true}]}`+"\n", t, t, 19-12*t)
	}
	return []struct{ data, body string }{{"ProductType", string(types)}, {"Category", string(cats)}, {"TaxCategory", string(taxes)}}
}

// lateCategoryBody is the delivery that releases the late records.
const lateCategoryBody = `{"key":"` + lateCategory + `","name":{"en":"Late"},"slug":{"en":"late"},"parent":{"key":"cat-0"}}` + "\n"
