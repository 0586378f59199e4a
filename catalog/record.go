package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// LocalizedString maps a language tag ("en", "de-CH") to a text.
type LocalizedString map[string]string

// KeyReference points at another resource by key. Decode fills TypeID with
// the typeId the field implies when the record omitted it.
type KeyReference struct {
	TypeID string `json:"typeId,omitempty"`
	Key    string `json:"key"`
}

// ProductTypeRecord describes the attributes its products have.
type ProductTypeRecord struct {
	Key         string                `json:"key"`
	Name        string                `json:"name"`
	Description string                `json:"description,omitempty"`
	Attributes  []AttributeDefinition `json:"attributes,omitempty"`
}

// AttributeDefinition is one attribute of a product type. Type is one of
// text, ltext, number, boolean, money, enum, date.
type AttributeDefinition struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	IsRequired bool            `json:"isRequired,omitempty"`
	Label      LocalizedString `json:"label,omitempty"`
}

// CategoryRecord is a node of the category tree.
type CategoryRecord struct {
	Key         string          `json:"key"`
	Name        LocalizedString `json:"name"`
	Slug        LocalizedString `json:"slug"`
	Description LocalizedString `json:"description,omitempty"`
	Parent      *KeyReference   `json:"parent,omitempty"`
	OrderHint   string          `json:"orderHint,omitempty"`
}

// TaxCategoryRecord groups the tax rates that apply to products.
type TaxCategoryRecord struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Rates       []TaxRate `json:"rates,omitempty"`
}

// TaxRate is the rate of one country: Amount is a fraction between 0 and 1,
// Country an ISO 3166-1 alpha-2 code.
type TaxRate struct {
	Name            string  `json:"name"`
	Amount          float64 `json:"amount"`
	Country         string  `json:"country"`
	IncludedInPrice bool    `json:"includedInPrice"`
}

// ProductRecord is a product with its embedded variants. A product without
// MasterVariant waits for a ProductVariant record that provides it.
type ProductRecord struct {
	Key           string          `json:"key"`
	ProductType   KeyReference    `json:"productType"`
	Name          LocalizedString `json:"name"`
	Slug          LocalizedString `json:"slug"`
	Description   LocalizedString `json:"description,omitempty"`
	Categories    []KeyReference  `json:"categories,omitempty"`
	TaxCategory   *KeyReference   `json:"taxCategory,omitempty"`
	Publish       bool            `json:"publish,omitempty"`
	MasterVariant *Variant        `json:"masterVariant,omitempty"`
	Variants      []Variant       `json:"variants,omitempty"`
}

// Variant is a variant embedded in a ProductRecord.
type Variant struct {
	SKU        string          `json:"sku"`
	Key        string          `json:"key,omitempty"`
	Attributes []Attribute     `json:"attributes,omitempty"`
	Prices     []EmbeddedPrice `json:"prices,omitempty"`
	Images     []Image         `json:"images,omitempty"`
}

// Attribute is the value of one attribute of a variant, kept as raw JSON:
// its type is given by the product type.
type Attribute struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value,omitempty"`
}

// EmbeddedPrice is a price embedded in a variant.
type EmbeddedPrice struct {
	Key     string `json:"key,omitempty"`
	Value   Money  `json:"value"`
	Country string `json:"country,omitempty"`
}

// Money is an amount in the smallest unit of an ISO 4217 currency.
// FractionDigits defaults to the currency's own when nil.
type Money struct {
	CurrencyCode   string `json:"currencyCode"`
	CentAmount     int64  `json:"centAmount"`
	FractionDigits *int   `json:"fractionDigits,omitempty"`
}

// Image is an image of a variant.
type Image struct {
	URL   string `json:"url"`
	Label string `json:"label,omitempty"`
}

// ProductVariantRecord is a variant imported on its own, attached to its product.
type ProductVariantRecord struct {
	SKU             string          `json:"sku"`
	Key             string          `json:"key,omitempty"`
	Product         KeyReference    `json:"product"`
	IsMasterVariant bool            `json:"isMasterVariant,omitempty"`
	Attributes      []Attribute     `json:"attributes,omitempty"`
	Prices          []EmbeddedPrice `json:"prices,omitempty"`
	Images          []Image         `json:"images,omitempty"`
}

// PriceRecord is a price of the variant with the given SKU.
type PriceRecord struct {
	Key        string     `json:"key"`
	SKU        string     `json:"sku"`
	Value      Money      `json:"value"`
	Country    string     `json:"country,omitempty"`
	ValidFrom  *time.Time `json:"validFrom,omitempty"`
	ValidUntil *time.Time `json:"validUntil,omitempty"`
}

// InventoryEntryRecord is the stock of the variant with the given SKU.
type InventoryEntryRecord struct {
	SKU               string        `json:"sku"`
	QuantityOnStock   int64         `json:"quantityOnStock"`
	SupplyChannel     *KeyReference `json:"supplyChannel,omitempty"`
	RestockableInDays *int          `json:"restockableInDays,omitempty"`
	ExpectedDelivery  *time.Time    `json:"expectedDelivery,omitempty"`
}

// Decode decodes a record that passed Validate into a pointer to the struct
// of its type (*ProductRecord for Product, …). It reads the record as
// Validate does, not as encoding/json would: names match case-sensitively,
// unknown fields are ignored, strings and numbers are read with the same
// rules, and an omitted reference typeId is filled in from the field. It
// fails on data Validate reports as malformed or of the wrong type.
func Decode(t ResourceType, data []byte) (any, error) {
	if schemaOf(t) == nil {
		return nil, fmt.Errorf("catalog: decode: unknown resource type %q", string(t))
	}
	v := validators.Get().(*validator) // for its parser
	defer v.release()
	if msg := v.parse(data); msg != "" {
		return nil, fmt.Errorf("catalog: decode %s: %s", t, msg)
	}
	if v.nodes[0].kind != jsonObject {
		return nil, fmt.Errorf("catalog: decode %s: expected an object, got %s", t, v.nodes[0].kind)
	}
	d := decoder{parser: &v.parser}
	var rec any
	switch t {
	case ProductType:
		rec = d.productType(0)
	case Category:
		rec = d.category(0)
	case TaxCategory:
		rec = d.taxCategory(0)
	case Product:
		rec = d.product(0)
	case ProductVariant:
		rec = d.productVariant(0)
	case Price:
		rec = d.price(0)
	case InventoryEntry:
		rec = d.inventoryEntry(0)
	}
	if d.err != nil {
		return nil, fmt.Errorf("catalog: decode %s: %w", t, d.err)
	}
	return rec, nil
}

// The records are parsed once into a flat tree of JSON values (parser) that
// both Validate and Decode walk. Strings and numbers stay as spans of the
// input, so a valid record costs no allocation but the tree itself, and the
// walk sees member order, duplicates and number literals as written.

// maxDepth bounds the nesting of a record, as encoding/json does.
const maxDepth = 10000

// jsonKind is the kind of a parsed JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota + 1
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	switch k {
	case jsonNull:
		return "null"
	case jsonBool:
		return "boolean"
	case jsonNumber:
		return "number"
	case jsonString:
		return "string"
	case jsonArray:
		return "array"
	case jsonObject:
		return "object"
	}
	return "nothing"
}

// Flags of a parsed value.
const (
	flagEscaped uint8 = 1 << iota // string: has escapes or invalid UTF-8, read it with unquote
	flagNUL                       // string: has a \u0000 escape
	flagInt                       // number: an integer literal (no fraction, no exponent)
)

// jsonNode is one value of the tree, in pre-order: an array's elements follow
// it; an object's members follow it as name, value, name, value, ….
type jsonNode struct {
	start, end int32 // span in the input; strings include their quotes
	size       int32 // nodes in the subtree, this one included
	count      int32 // elements of an array, members of an object
	kind       jsonKind
	flags      uint8
}

type parser struct {
	data  []byte
	pos   int
	depth int
	nodes []jsonNode
	err   string
}

// parse parses data as one JSON value with optional surrounding white space,
// and returns "" or what is wrong with it.
func (p *parser) parse(data []byte) string {
	p.data, p.pos, p.depth, p.nodes, p.err = data, 0, 0, p.nodes[:0], ""
	if len(data) > math.MaxInt32 {
		return "the record is larger than 2 GiB"
	}
	p.space()
	if p.value() {
		p.space()
		if p.pos < len(p.data) {
			p.fail("data after the JSON value")
		}
	}
	return p.err
}

func (p *parser) fail(msg string) bool {
	if p.err == "" {
		if p.pos >= len(p.data) {
			p.err = "unexpected end of JSON input"
		} else {
			p.err = fmt.Sprintf("%s at offset %d", msg, p.pos)
		}
	}
	return false
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() bool {
	if p.pos >= len(p.data) {
		return p.fail("")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.string()
	case c == 't':
		return p.literal("true", jsonBool)
	case c == 'f':
		return p.literal("false", jsonBool)
	case c == 'n':
		return p.literal("null", jsonNull)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		return p.fail(fmt.Sprintf("invalid character %q looking for a value", c))
	}
}

func (p *parser) literal(lit string, kind jsonKind) bool {
	start := p.pos
	for i := 0; i < len(lit); i++ {
		if p.pos >= len(p.data) {
			return p.fail("")
		}
		if p.data[p.pos] != lit[i] {
			return p.fail(fmt.Sprintf("invalid character %q in literal %s", p.data[p.pos], lit))
		}
		p.pos++
	}
	p.nodes = append(p.nodes, jsonNode{start: int32(start), end: int32(p.pos), size: 1, kind: kind})
	return true
}

func (p *parser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

func (p *parser) number() bool {
	start := p.pos
	flags := flagInt
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos >= len(p.data):
		return p.fail("")
	case p.data[p.pos] == '0':
		p.pos++
	case p.digits() == 0:
		return p.fail(fmt.Sprintf("invalid character %q in number", p.data[p.pos]))
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		flags = 0
		p.pos++
		if p.digits() == 0 {
			return p.fail("a number needs digits after the decimal point")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		flags = 0
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return p.fail("a number needs digits in its exponent")
		}
	}
	p.nodes = append(p.nodes, jsonNode{start: int32(start), end: int32(p.pos), size: 1, kind: jsonNumber, flags: flags})
	return true
}

func (p *parser) string() bool {
	start := p.pos
	p.pos++
	var flags uint8
	for {
		// The common case: printable ASCII.
		for p.pos < len(p.data) {
			c := p.data[p.pos]
			if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			p.pos++
		}
		if p.pos >= len(p.data) {
			return p.fail("")
		}
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			p.nodes = append(p.nodes, jsonNode{start: int32(start), end: int32(p.pos), size: 1, kind: jsonString, flags: flags})
			return true
		case c == '\\':
			flags |= flagEscaped
			p.pos++
			if p.pos >= len(p.data) {
				return p.fail("")
			}
			switch p.data[p.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos++
			case 'u':
				p.pos++
				r, ok := hex4(p.data[p.pos:])
				if !ok {
					return p.fail("invalid \\u escape in string")
				}
				if r == 0 {
					flags |= flagNUL
				}
				p.pos += 4
			default:
				return p.fail(fmt.Sprintf("invalid escape \\%c in string", p.data[p.pos]))
			}
		case c < 0x20:
			return p.fail(fmt.Sprintf("invalid control character %q in string", c))
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				flags |= flagEscaped // repaired to U+FFFD when read, as encoding/json does
			}
			p.pos += size
		}
	}
}

func (p *parser) open() (int, bool) {
	p.depth++
	if p.depth > maxDepth {
		return 0, p.fail(fmt.Sprintf("nested deeper than %d", maxDepth))
	}
	i := len(p.nodes)
	p.nodes = append(p.nodes, jsonNode{start: int32(p.pos)})
	p.pos++
	p.space()
	return i, true
}

func (p *parser) close(i int, kind jsonKind, count int32) bool {
	p.pos++
	p.depth--
	p.nodes[i] = jsonNode{start: p.nodes[i].start, end: int32(p.pos), size: int32(len(p.nodes) - i), count: count, kind: kind}
	return true
}

func (p *parser) array() bool {
	i, ok := p.open()
	if !ok {
		return false
	}
	var count int32
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		return p.close(i, jsonArray, 0)
	}
	for {
		if !p.value() {
			return false
		}
		count++
		p.space()
		if p.pos >= len(p.data) {
			return p.fail("")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.space()
		case ']':
			return p.close(i, jsonArray, count)
		default:
			return p.fail(fmt.Sprintf("invalid character %q after array element", p.data[p.pos]))
		}
	}
}

func (p *parser) object() bool {
	i, ok := p.open()
	if !ok {
		return false
	}
	var count int32
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		return p.close(i, jsonObject, 0)
	}
	for {
		if p.pos >= len(p.data) {
			return p.fail("")
		}
		if p.data[p.pos] != '"' {
			return p.fail(fmt.Sprintf("invalid character %q looking for an object member name", p.data[p.pos]))
		}
		if !p.string() {
			return false
		}
		p.space()
		if p.pos >= len(p.data) {
			return p.fail("")
		}
		if p.data[p.pos] != ':' {
			return p.fail(fmt.Sprintf("invalid character %q after object member name", p.data[p.pos]))
		}
		p.pos++
		p.space()
		if !p.value() {
			return false
		}
		count++
		p.space()
		if p.pos >= len(p.data) {
			return p.fail("")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.space()
		case '}':
			return p.close(i, jsonObject, count)
		default:
			return p.fail(fmt.Sprintf("invalid character %q after object member", p.data[p.pos]))
		}
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// raw is the text of node n as written in the input.
func (p *parser) raw(n int32) []byte {
	return p.data[p.nodes[n].start:p.nodes[n].end]
}

// appendText appends the text of the string node n to dst: its escapes
// resolved, invalid UTF-8 and lone surrogates replaced by U+FFFD, as
// encoding/json does.
func (p *parser) appendText(dst []byte, n int32) []byte {
	nd := &p.nodes[n]
	s := p.data[nd.start+1 : nd.end-1]
	if nd.flags&flagEscaped == 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, _ := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2, _ := hex4(s[i+2:])
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// text is the text of the string node n as a new string.
func (p *parser) text(n int32) string {
	nd := &p.nodes[n]
	if nd.flags&flagEscaped == 0 {
		return string(p.data[nd.start+1 : nd.end-1])
	}
	return string(p.appendText(nil, n))
}

// decoder fills the record structs from a parsed tree. Its first error
// sticks; later reads return zero values.
type decoder struct {
	*parser
	name []byte
	err  error
}

func (d *decoder) fail(n int32, want string) {
	if d.err == nil {
		d.err = fmt.Errorf("offset %d: expected %s, got %s", d.nodes[n].start, want, d.nodes[n].kind)
	}
}

// members calls fn with the name and value of each member of the object n.
// The name is valid only until fn reads another object.
func (d *decoder) members(n int32, fn func(name []byte, v int32)) {
	switch d.nodes[n].kind {
	case jsonNull:
		return
	case jsonObject:
	default:
		d.fail(n, "object")
		return
	}
	j := n + 1
	for range d.nodes[n].count {
		d.name = d.appendText(d.name[:0], j)
		v := j + 1
		fn(d.name, v)
		j = v + d.nodes[v].size
	}
}

// elements calls fn with each element of the array n.
func (d *decoder) elements(n int32, fn func(e int32)) {
	switch d.nodes[n].kind {
	case jsonNull:
		return
	case jsonArray:
	default:
		d.fail(n, "array")
		return
	}
	j := n + 1
	for range d.nodes[n].count {
		fn(j)
		j += d.nodes[j].size
	}
}

func (d *decoder) str(n int32) string {
	switch d.nodes[n].kind {
	case jsonNull:
		return ""
	case jsonString:
		return d.text(n)
	}
	d.fail(n, "string")
	return ""
}

func (d *decoder) bool(n int32) bool {
	switch d.nodes[n].kind {
	case jsonNull:
		return false
	case jsonBool:
		return d.data[d.nodes[n].start] == 't'
	}
	d.fail(n, "boolean")
	return false
}

func (d *decoder) int(n int32) int64 {
	switch nd := d.nodes[n]; {
	case nd.kind == jsonNull:
		return 0
	case nd.kind == jsonNumber && nd.flags&flagInt != 0:
		i, err := strconv.ParseInt(string(d.raw(n)), 10, 64)
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("offset %d: %w", nd.start, err)
		}
		return i
	}
	d.fail(n, "integer")
	return 0
}

func (d *decoder) intPtr(n int32) *int {
	if d.nodes[n].kind == jsonNull {
		return nil
	}
	i := int(d.int(n))
	return &i
}

func (d *decoder) float(n int32) float64 {
	switch nd := d.nodes[n]; nd.kind {
	case jsonNull:
		return 0
	case jsonNumber:
		f, err := strconv.ParseFloat(string(d.raw(n)), 64)
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("offset %d: %w", nd.start, err)
		}
		return f
	}
	d.fail(n, "number")
	return 0
}

func (d *decoder) time(n int32) *time.Time {
	s := d.str(n)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("offset %d: %w", d.nodes[n].start, err)
		}
		return nil
	}
	return &t
}

func (d *decoder) localized(n int32) LocalizedString {
	if d.nodes[n].kind != jsonObject {
		d.members(n, nil) // null, or the error
		return nil
	}
	ls := make(LocalizedString, d.nodes[n].count)
	d.members(n, func(tag []byte, v int32) {
		if d.nodes[v].kind != jsonString {
			d.fail(v, "string")
			return
		}
		ls[string(tag)] = d.text(v)
	})
	return ls
}

func (d *decoder) keyRef(n int32, typeID string) KeyReference {
	ref := KeyReference{TypeID: typeID}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "typeId":
			if id := d.str(v); id != "" {
				ref.TypeID = id
			}
		case "key":
			ref.Key = d.str(v)
		}
	})
	return ref
}

func (d *decoder) keyRefPtr(n int32, typeID string) *KeyReference {
	if d.nodes[n].kind == jsonNull {
		return nil
	}
	ref := d.keyRef(n, typeID)
	return &ref
}

func (d *decoder) productType(n int32) *ProductTypeRecord {
	pt := &ProductTypeRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "key":
			pt.Key = d.str(v)
		case "name":
			pt.Name = d.str(v)
		case "description":
			pt.Description = d.str(v)
		case "attributes":
			d.elements(v, func(e int32) { pt.Attributes = append(pt.Attributes, d.attributeDefinition(e)) })
		}
	})
	return pt
}

func (d *decoder) attributeDefinition(n int32) AttributeDefinition {
	var ad AttributeDefinition
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "name":
			ad.Name = d.str(v)
		case "type":
			ad.Type = d.str(v)
		case "isRequired":
			ad.IsRequired = d.bool(v)
		case "label":
			ad.Label = d.localized(v)
		}
	})
	return ad
}

func (d *decoder) category(n int32) *CategoryRecord {
	c := &CategoryRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "key":
			c.Key = d.str(v)
		case "name":
			c.Name = d.localized(v)
		case "slug":
			c.Slug = d.localized(v)
		case "description":
			c.Description = d.localized(v)
		case "parent":
			c.Parent = d.keyRefPtr(v, Category.TypeID())
		case "orderHint":
			c.OrderHint = d.str(v)
		}
	})
	return c
}

func (d *decoder) taxCategory(n int32) *TaxCategoryRecord {
	tc := &TaxCategoryRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "key":
			tc.Key = d.str(v)
		case "name":
			tc.Name = d.str(v)
		case "description":
			tc.Description = d.str(v)
		case "rates":
			d.elements(v, func(e int32) { tc.Rates = append(tc.Rates, d.taxRate(e)) })
		}
	})
	return tc
}

func (d *decoder) taxRate(n int32) TaxRate {
	var r TaxRate
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "name":
			r.Name = d.str(v)
		case "amount":
			r.Amount = d.float(v)
		case "country":
			r.Country = d.str(v)
		case "includedInPrice":
			r.IncludedInPrice = d.bool(v)
		}
	})
	return r
}

func (d *decoder) product(n int32) *ProductRecord {
	p := &ProductRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "key":
			p.Key = d.str(v)
		case "productType":
			p.ProductType = d.keyRef(v, ProductType.TypeID())
		case "name":
			p.Name = d.localized(v)
		case "slug":
			p.Slug = d.localized(v)
		case "description":
			p.Description = d.localized(v)
		case "categories":
			d.elements(v, func(e int32) { p.Categories = append(p.Categories, d.keyRef(e, Category.TypeID())) })
		case "taxCategory":
			p.TaxCategory = d.keyRefPtr(v, TaxCategory.TypeID())
		case "publish":
			p.Publish = d.bool(v)
		case "masterVariant":
			if d.nodes[v].kind != jsonNull {
				mv := d.variant(v)
				p.MasterVariant = &mv
			}
		case "variants":
			d.elements(v, func(e int32) { p.Variants = append(p.Variants, d.variant(e)) })
		}
	})
	return p
}

func (d *decoder) variant(n int32) Variant {
	var va Variant
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "sku":
			va.SKU = d.str(v)
		case "key":
			va.Key = d.str(v)
		default:
			d.variantPart(name, v, &va.Attributes, &va.Prices, &va.Images)
		}
	})
	return va
}

// variantPart decodes the attributes, prices and images of a Variant or a
// ProductVariant.
func (d *decoder) variantPart(name []byte, v int32, attrs *[]Attribute, prices *[]EmbeddedPrice, images *[]Image) {
	switch string(name) {
	case "attributes":
		d.elements(v, func(e int32) { *attrs = append(*attrs, d.attribute(e)) })
	case "prices":
		d.elements(v, func(e int32) { *prices = append(*prices, d.embeddedPrice(e)) })
	case "images":
		d.elements(v, func(e int32) { *images = append(*images, d.image(e)) })
	}
}

func (d *decoder) attribute(n int32) Attribute {
	var a Attribute
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "name":
			a.Name = d.str(v)
		case "value":
			if d.nodes[v].kind != jsonNull {
				a.Value = bytes.Clone(d.raw(v))
			}
		}
	})
	return a
}

func (d *decoder) embeddedPrice(n int32) EmbeddedPrice {
	var ep EmbeddedPrice
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "key":
			ep.Key = d.str(v)
		case "value":
			ep.Value = d.money(v)
		case "country":
			ep.Country = d.str(v)
		}
	})
	return ep
}

func (d *decoder) money(n int32) Money {
	var m Money
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "currencyCode":
			m.CurrencyCode = d.str(v)
		case "centAmount":
			m.CentAmount = d.int(v)
		case "fractionDigits":
			m.FractionDigits = d.intPtr(v)
		}
	})
	return m
}

func (d *decoder) image(n int32) Image {
	var im Image
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "url":
			im.URL = d.str(v)
		case "label":
			im.Label = d.str(v)
		}
	})
	return im
}

func (d *decoder) productVariant(n int32) *ProductVariantRecord {
	pv := &ProductVariantRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "sku":
			pv.SKU = d.str(v)
		case "key":
			pv.Key = d.str(v)
		case "product":
			pv.Product = d.keyRef(v, Product.TypeID())
		case "isMasterVariant":
			pv.IsMasterVariant = d.bool(v)
		default:
			d.variantPart(name, v, &pv.Attributes, &pv.Prices, &pv.Images)
		}
	})
	return pv
}

func (d *decoder) price(n int32) *PriceRecord {
	pr := &PriceRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "key":
			pr.Key = d.str(v)
		case "sku":
			pr.SKU = d.str(v)
		case "value":
			pr.Value = d.money(v)
		case "country":
			pr.Country = d.str(v)
		case "validFrom":
			pr.ValidFrom = d.time(v)
		case "validUntil":
			pr.ValidUntil = d.time(v)
		}
	})
	return pr
}

func (d *decoder) inventoryEntry(n int32) *InventoryEntryRecord {
	ie := &InventoryEntryRecord{}
	d.members(n, func(name []byte, v int32) {
		switch string(name) {
		case "sku":
			ie.SKU = d.str(v)
		case "quantityOnStock":
			ie.QuantityOnStock = d.int(v)
		case "supplyChannel":
			ie.SupplyChannel = d.keyRefPtr(v, channelTypeID)
		case "restockableInDays":
			ie.RestockableInDays = d.intPtr(v)
		case "expectedDelivery":
			ie.ExpectedDelivery = d.time(v)
		}
	})
	return ie
}
