package catalog

import (
	"encoding/json"
	"fmt"
	"math"
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

// The record structs are the records of the contract as Go values, with
// every field the schema (validate.go) knows. Pointers and omitempty mark
// what a record may leave out.

// ProductTypeRecord describes the attributes its products have
// (commercetools' ProductTypeDraft).
type ProductTypeRecord struct {
	Key         string                `json:"key"`
	Name        string                `json:"name"`
	Description string                `json:"description,omitempty"`
	Attributes  []AttributeDefinition `json:"attributes,omitempty"`
}

// AttributeDefinition is one attribute of a product type
// (AttributeDefinitionDraft; displayGroup is kept from older drafts).
type AttributeDefinition struct {
	Name                string          `json:"name"`
	Type                AttributeType   `json:"type"`
	IsRequired          bool            `json:"isRequired,omitempty"`
	Label               LocalizedString `json:"label,omitempty"`
	AttributeConstraint string          `json:"attributeConstraint,omitempty"` // None (when empty), Unique, CombinationUnique, SameForAll
	InputTip            LocalizedString `json:"inputTip,omitempty"`
	InputHint           string          `json:"inputHint,omitempty"` // SingleLine, MultiLine
	IsSearchable        *bool           `json:"isSearchable,omitempty"`
	DisplayGroup        string          `json:"displayGroup,omitempty"`
	Level               string          `json:"level,omitempty"` // Variant (when empty) or Product
}

// CategoryRecord is a node of the category tree (CategoryDraft).
type CategoryRecord struct {
	Key             string          `json:"key"`
	Name            LocalizedString `json:"name"`
	Slug            LocalizedString `json:"slug"`
	Description     LocalizedString `json:"description,omitempty"`
	Parent          *KeyReference   `json:"parent,omitempty"`
	OrderHint       string          `json:"orderHint,omitempty"`
	ExternalID      string          `json:"externalId,omitempty"`
	MetaTitle       LocalizedString `json:"metaTitle,omitempty"`
	MetaDescription LocalizedString `json:"metaDescription,omitempty"`
	MetaKeywords    LocalizedString `json:"metaKeywords,omitempty"`
	Custom          *CustomFields   `json:"custom,omitempty"`
	Assets          []Asset         `json:"assets,omitempty"`
}

// CustomFields are the custom fields of a resource (CustomFieldsDraft),
// stored as given: custom types are not a resource type of importd.
type CustomFields struct {
	Type   KeyReference               `json:"type"`
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
}

// Asset is a file of a category or variant (AssetDraft).
type Asset struct {
	Key         string          `json:"key,omitempty"`
	Sources     []AssetSource   `json:"sources"`
	Name        LocalizedString `json:"name"`
	Description LocalizedString `json:"description,omitempty"`
	Tags        []string        `json:"tags,omitempty"`
	Custom      *CustomFields   `json:"custom,omitempty"`
}

// AssetSource is one representation of an asset.
type AssetSource struct {
	URI         string      `json:"uri"`
	Key         string      `json:"key,omitempty"`
	Dimensions  *Dimensions `json:"dimensions,omitempty"`
	ContentType string      `json:"contentType,omitempty"`
}

// Dimensions are an image's width and height in pixels.
type Dimensions struct {
	W int64 `json:"w"`
	H int64 `json:"h"`
}

// TaxCategoryRecord groups the tax rates that apply to products
// (TaxCategoryDraft).
type TaxCategoryRecord struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Rates       []TaxRate `json:"rates,omitempty"`
}

// TaxRate is the rate of one country (TaxRateDraft): Amount is a fraction
// between 0 and 1, Country an ISO 3166-1 alpha-2 code.
type TaxRate struct {
	Name            string    `json:"name"`
	Amount          float64   `json:"amount"`
	Country         string    `json:"country"`
	IncludedInPrice bool      `json:"includedInPrice"`
	State           string    `json:"state,omitempty"`
	Key             string    `json:"key,omitempty"`
	SubRates        []SubRate `json:"subRates,omitempty"`
}

// SubRate is a part of a tax rate.
type SubRate struct {
	Name   string  `json:"name"`
	Amount float64 `json:"amount"`
}

// CustomerGroupRecord is a group of customers prices can be for
// (CustomerGroupDraft).
type CustomerGroupRecord struct {
	Key       string        `json:"key"`
	GroupName string        `json:"groupName"`
	Custom    *CustomFields `json:"custom,omitempty"`
}

// ChannelRecord is a store, warehouse or other channel prices and stock
// can be for (ChannelDraft).
type ChannelRecord struct {
	Key         string          `json:"key"`
	Roles       []string        `json:"roles,omitempty"` // InventorySupply, ProductDistribution, OrderExport, OrderImport, Primary
	Name        LocalizedString `json:"name,omitempty"`
	Description LocalizedString `json:"description,omitempty"`
	Address     *Address        `json:"address,omitempty"`
	Custom      *CustomFields   `json:"custom,omitempty"`
	GeoLocation *GeoJSONPoint   `json:"geoLocation,omitempty"`
}

// Address is a postal address (commercetools' BaseAddress).
type Address struct {
	Key                   string        `json:"key,omitempty"`
	ExternalID            string        `json:"externalId,omitempty"`
	Title                 string        `json:"title,omitempty"`
	Salutation            string        `json:"salutation,omitempty"`
	FirstName             string        `json:"firstName,omitempty"`
	LastName              string        `json:"lastName,omitempty"`
	StreetName            string        `json:"streetName,omitempty"`
	StreetNumber          string        `json:"streetNumber,omitempty"`
	AdditionalStreetInfo  string        `json:"additionalStreetInfo,omitempty"`
	PostalCode            string        `json:"postalCode,omitempty"`
	City                  string        `json:"city,omitempty"`
	Region                string        `json:"region,omitempty"`
	State                 string        `json:"state,omitempty"`
	Country               string        `json:"country"`
	Company               string        `json:"company,omitempty"`
	Department            string        `json:"department,omitempty"`
	Building              string        `json:"building,omitempty"`
	Apartment             string        `json:"apartment,omitempty"`
	POBox                 string        `json:"pOBox,omitempty"`
	Phone                 string        `json:"phone,omitempty"`
	Mobile                string        `json:"mobile,omitempty"`
	Email                 string        `json:"email,omitempty"`
	Fax                   string        `json:"fax,omitempty"`
	AdditionalAddressInfo string        `json:"additionalAddressInfo,omitempty"`
	Custom                *CustomFields `json:"custom,omitempty"`
}

// GeoJSONPoint is a location: Coordinates are [longitude, latitude].
type GeoJSONPoint struct {
	Type        string    `json:"type"` // Point
	Coordinates []float64 `json:"coordinates"`
}

// ProductRecord is a product with its embedded variants (ProductDraft). A
// product without MasterVariant waits for a ProductVariant record that
// provides it.
type ProductRecord struct {
	Key                string                     `json:"key"`
	ProductType        KeyReference               `json:"productType"`
	Name               LocalizedString            `json:"name"`
	Slug               LocalizedString            `json:"slug"`
	Description        LocalizedString            `json:"description,omitempty"`
	Categories         []KeyReference             `json:"categories,omitempty"`
	CategoryOrderHints map[string]string          `json:"categoryOrderHints,omitempty"`
	MetaTitle          LocalizedString            `json:"metaTitle,omitempty"`
	MetaDescription    LocalizedString            `json:"metaDescription,omitempty"`
	MetaKeywords       LocalizedString            `json:"metaKeywords,omitempty"`
	SearchKeywords     map[string][]SearchKeyword `json:"searchKeywords,omitempty"`
	Attributes         []Attribute                `json:"attributes,omitempty"` // product-level attributes
	TaxCategory        *KeyReference              `json:"taxCategory,omitempty"`
	PriceMode          string                     `json:"priceMode,omitempty"` // Embedded, Standalone
	Publish            bool                       `json:"publish,omitempty"`
	MasterVariant      *Variant                   `json:"masterVariant,omitempty"`
	Variants           []Variant                  `json:"variants,omitempty"`
}

// SearchKeyword is a keyword a product is found by.
type SearchKeyword struct {
	Text             string            `json:"text"`
	SuggestTokenizer *SuggestTokenizer `json:"suggestTokenizer,omitempty"`
}

// SuggestTokenizer says how a keyword is split for suggestions.
type SuggestTokenizer struct {
	Type   string   `json:"type"` // whitespace, custom
	Inputs []string `json:"inputs,omitempty"`
}

// Variant is a variant embedded in a ProductRecord (ProductVariantDraft).
type Variant struct {
	SKU        string          `json:"sku"`
	Key        string          `json:"key,omitempty"`
	Attributes []Attribute     `json:"attributes,omitempty"`
	Prices     []EmbeddedPrice `json:"prices,omitempty"`
	Images     []Image         `json:"images,omitempty"`
	Assets     []Asset         `json:"assets,omitempty"`
}

// Attribute is the value of one attribute of a variant, kept as raw JSON:
// its type is given by the product type.
type Attribute struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value,omitempty"`
}

// EmbeddedPrice is a price embedded in a variant (PriceDraft). Its scope
// (currency, country, customer group, channel, validity) is unique among
// the variant's prices.
type EmbeddedPrice struct {
	Key           string        `json:"key,omitempty"`
	Value         Money         `json:"value"`
	Country       string        `json:"country,omitempty"`
	CustomerGroup *KeyReference `json:"customerGroup,omitempty"`
	Channel       *KeyReference `json:"channel,omitempty"`
	ValidFrom     *time.Time    `json:"validFrom,omitempty"`
	ValidUntil    *time.Time    `json:"validUntil,omitempty"`
	Tiers         []PriceTier   `json:"tiers,omitempty"`
	Custom        *CustomFields `json:"custom,omitempty"`
}

// PriceTier is the price from a quantity on.
type PriceTier struct {
	MinimumQuantity int64 `json:"minimumQuantity"`
	Value           Money `json:"value"`
}

// Money is an amount in the smallest unit of an ISO 4217 currency.
// FractionDigits defaults to the currency's own when nil. A highPrecision
// amount has PreciseAmount in FractionDigits digits.
type Money struct {
	CurrencyCode   string `json:"currencyCode"`
	CentAmount     int64  `json:"centAmount"`
	FractionDigits *int   `json:"fractionDigits,omitempty"`
	Type           string `json:"type,omitempty"` // centPrecision (when empty), highPrecision
	PreciseAmount  *int64 `json:"preciseAmount,omitempty"`
}

// Image is an image of a variant.
type Image struct {
	URL        string      `json:"url"`
	Dimensions *Dimensions `json:"dimensions,omitempty"`
	Label      string      `json:"label,omitempty"`
}

// ProductVariantRecord is a variant imported on its own, attached to its
// product (the Import API's ProductVariantImport, with prices).
type ProductVariantRecord struct {
	SKU             string          `json:"sku"`
	Key             string          `json:"key,omitempty"`
	Product         KeyReference    `json:"product"`
	IsMasterVariant bool            `json:"isMasterVariant,omitempty"`
	Attributes      []Attribute     `json:"attributes,omitempty"`
	Prices          []EmbeddedPrice `json:"prices,omitempty"`
	Images          []Image         `json:"images,omitempty"`
	Assets          []Asset         `json:"assets,omitempty"`
	Publish         bool            `json:"publish,omitempty"`
	Staged          *bool           `json:"staged,omitempty"`
}

// PriceRecord is a price of the variant with the given SKU (the Import
// API's PriceImport, the variant named by sku). Its scope is unique among
// the Price records of the variant.
type PriceRecord struct {
	SKU     string `json:"sku"`
	Publish bool   `json:"publish,omitempty"`
	Staged  *bool  `json:"staged,omitempty"`
	EmbeddedPrice
}

// InventoryEntryRecord is the stock of the variant with the given SKU
// (InventoryEntryDraft).
type InventoryEntryRecord struct {
	SKU                            string        `json:"sku"`
	Key                            string        `json:"key,omitempty"`
	QuantityOnStock                int64         `json:"quantityOnStock"`
	SupplyChannel                  *KeyReference `json:"supplyChannel,omitempty"`
	RestockableInDays              *int          `json:"restockableInDays,omitempty"`
	ExpectedDelivery               *time.Time    `json:"expectedDelivery,omitempty"`
	MinCartQuantity                *int64        `json:"minCartQuantity,omitempty"`
	MaxCartQuantity                *int64        `json:"maxCartQuantity,omitempty"`
	ReservationExpirationInMinutes *int64        `json:"reservationExpirationInMinutes,omitempty"`
	Custom                         *CustomFields `json:"custom,omitempty"`
}

// Decode decodes a record that passed Validate into a pointer to the struct
// of its type (*ProductRecord for Product, …). It reads the record as the
// store keeps it, in canonical form: the fields of the contract (others
// ignored), names matched case-sensitively, strings read as Validate reads
// them, an omitted reference typeId filled in from the field. It fails on
// data Validate reports as malformed or of the wrong type.
func Decode(t ResourceType, data []byte) (any, error) {
	s := schemaOf(t)
	if s == nil {
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
	w := canonWriter{p: &v.parser}
	canon := w.objectBytes(0, s)
	var rec any
	switch t {
	case ProductType:
		rec = new(ProductTypeRecord)
	case Category:
		rec = new(CategoryRecord)
	case TaxCategory:
		rec = new(TaxCategoryRecord)
	case CustomerGroup:
		rec = new(CustomerGroupRecord)
	case Channel:
		rec = new(ChannelRecord)
	case Product:
		rec = new(ProductRecord)
	case ProductVariant:
		rec = new(ProductVariantRecord)
	case Price:
		rec = new(PriceRecord)
	case InventoryEntry:
		rec = new(InventoryEntryRecord)
	}
	if err := json.Unmarshal(canon, rec); err != nil {
		return nil, fmt.Errorf("catalog: decode %s: %w", t, err)
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

// member is the value node of the first member of object n with the given
// name, or -1 (also when n is not an object).
func (p *parser) member(n int32, name string) int32 {
	if n < 0 || p.nodes[n].kind != jsonObject {
		return -1
	}
	j := n + 1
	for range p.nodes[n].count {
		nd := &p.nodes[j]
		if nd.flags&flagEscaped == 0 {
			if string(p.data[nd.start+1:nd.end-1]) == name {
				return j + 1
			}
		} else if p.text(j) == name {
			return j + 1
		}
		j++
		j += p.nodes[j].size
	}
	return -1
}

// memberText is the text of the string member name of object n, or "".
func (p *parser) memberText(n int32, name string) string {
	m := p.member(n, name)
	if m < 0 || p.nodes[m].kind != jsonString {
		return ""
	}
	return p.text(m)
}
