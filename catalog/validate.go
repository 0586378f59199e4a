package catalog

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/currency"
)

// MaxRecordErrors caps the errors Validate reports for one record.
const MaxRecordErrors = 50

// Limits of the record contract. Lengths of strings count characters
// (runes); an attribute value counts the bytes of its JSON as written.
// Keys, skus, reference keys and slug values match ^[A-Za-z0-9_-]{2,256}$.
const (
	keyMinLen               = 2
	keyMaxLen               = 256
	maxNameLen              = 4096  // names, labels, localized names
	maxDescriptionLen       = 65536 // descriptions, plain or localized
	maxOrderHintLen         = 256   // Category.orderHint
	maxURLLen               = 2048  // image URLs
	maxAttributeValueLen    = 65536 // bytes of an attribute value's JSON
	maxLanguages            = 100   // languages of a localized string
	maxCategories           = 500   // Product.categories
	maxVariants             = 100   // Product.variants
	maxPrices               = 100   // prices of a variant
	maxAttributes           = 200   // attributes of a variant
	maxAttributeDefinitions = 500   // ProductType.attributes
	maxTaxRates             = 300   // TaxCategory.rates
	maxImages               = 50    // images of a variant
	maxFractionDigits       = 20    // Money.fractionDigits
	maxSafeInteger          = 1 << 53
	maxEnumValues           = 1000  // values of an enum or lenum attribute type
	maxShortTextLen         = 256   // short texts: external ids, enum keys, tags, address lines
	maxAssets               = 50    // assets of a category or variant
	maxAssetSources         = 20    // sources of an asset
	maxTags                 = 50    // tags of an asset
	maxTiers                = 100   // tiers of a price
	maxSubRates             = 50    // sub-rates of a tax rate
	maxSearchKeywords       = 100   // search keywords of one language
	maxMapEntries           = 500   // category order hints, custom fields
	maxCustomValueLen       = 65536 // bytes of a custom field value's JSON
)

// attributeTypes are the names of the types an AttributeDefinition may have.
var attributeTypes = []string{"boolean", "text", "ltext", "enum", "lenum", "number", "money", "date", "time", "datetime", "reference", "set"}

// shorthandTypes are the attribute types that may be given as a plain
// string ("text") rather than an object ({"name": "text"}): those that need
// no other field. A shorthand enum or lenum has no values: its keys are not
// checked.
var shorthandTypes = []string{"boolean", "text", "ltext", "enum", "lenum", "number", "money", "date", "time", "datetime"}

// importAttributeTypes are the values of the Import API's attribute type
// discriminator: each attribute type's name, and "<name>-set" for a set.
func importAttributeTypes() []string {
	var out []string
	for _, t := range attributeTypes {
		if t != "set" {
			out = append(out, t, t+"-set")
		}
	}
	return out
}

// referenceTypeIDs are the typeIds a reference attribute may point at
// (commercetools' AttributeReferenceTypeId).
var referenceTypeIDs = []string{
	"associate-role", "business-unit", "cart", "cart-discount", "category", "channel", "customer",
	"customer-group", "key-value-document", "order", "product", "product-type", "review",
	"shipping-method", "state", "variant", "zone",
}

// Validated is what Validate learns of a record besides its errors.
type Validated struct {
	// Identity is the key (the sku for ProductVariant and InventoryEntry)
	// when present and well formed, even if the record has other errors.
	Identity string
	// References are the record's well-formed references, typeId filled in,
	// in field order, without duplicates.
	References []Reference
	// Master is, for a Product, that it has a masterVariant (not null); for
	// a ProductVariant, that it is one (isMasterVariant: true).
	Master bool
}

// Validate checks one record of type t against the record contract
// (docs/records.md). It reports every problem it finds, up to MaxRecordErrors, as
// DATA_ERRORs in a deterministic order (field order of the schema, then
// array and member order of the record); each names the dotted path of its
// field ("masterVariant.prices.0.value.currencyCode"). Unknown fields pass
// (the store reports them as UNKNOWN_FIELD warnings when it writes the
// record); a field given twice is an error. Validate is safe for concurrent use.
func Validate(t ResourceType, data []byte) (Validated, []Error) {
	s := schemaOf(t)
	if s == nil {
		return Validated{}, []Error{DataErr(CodeMalformedRecord, "", fmt.Sprintf("unknown resource type %q", string(t)))}
	}
	v := validators.Get().(*validator)
	defer v.release()
	if msg := v.parse(data); msg != "" {
		return Validated{}, []Error{DataErr(CodeMalformedRecord, "", "not a readable JSON object: "+msg)}
	}
	if k := v.nodes[0].kind; k != jsonObject {
		return Validated{}, []Error{DataErr(CodeMalformedRecord, "", "expected a JSON object, got "+k.String())}
	}
	v.object(s, 0)
	out := Validated{Identity: v.identity, References: v.refs}
	switch t {
	case Product:
		m := v.topMember("masterVariant")
		out.Master = m >= 0 && v.nodes[m].kind != jsonNull
	case ProductVariant:
		m := v.topMember("isMasterVariant")
		out.Master = m >= 0 && v.nodes[m].kind == jsonBool && v.data[v.nodes[m].start] == 't'
	}
	return out, v.errs
}

// topMember is the value node of the record's member name, or -1.
func (v *validator) topMember(name string) int32 {
	j := int32(1)
	for range v.nodes[0].count {
		if string(v.nameOf(j)) == name {
			return j + 1
		}
		j++
		j += v.nodes[j].size
	}
	return -1
}

// valueKind is the kind of value a schema describes.
type valueKind uint8

const (
	valueString    valueKind = iota // a JSON string, checked by format
	valueLocalized                  // an object of language tag → string
	valueInt                        // an integer literal within ±2^53
	valueNumber                     // any JSON number
	valueBool                       // true or false
	valueObject                     // an object with the schema's fields
	valueArray                      // an array of elem
	valueMap                        // an object of any member names (checked by keyFormat) → elem
	valueAny                        // any JSON value (attribute values, custom fields)
)

// format is how a string (or the values of a localized string) is checked.
type format uint8

const (
	formatText     format = iota // any text up to maxLen
	formatKey                    // INVALID_KEY unless ^[A-Za-z0-9_-]{2,256}$
	formatSlug                   // INVALID_VALUE unless ^[A-Za-z0-9_-]{2,256}$
	formatCountry                // ISO 3166-1 alpha-2: ^[A-Z]{2}$
	formatCurrency               // ISO 4217
	formatOneOf                  // one of schema.oneOf
	formatDate                   // RFC 3339
	formatTypeID                 // a reference typeId: must equal schema.typeID
	formatLanguage               // a language tag
)

// schema describes one value of a record. The schemas below are the single
// definition of the record contract: Validate walks them, the store writes
// what they name (canonWriter), ColumnKind reads the kinds of CSV columns
// off them.
type schema struct {
	kind      valueKind
	format    format
	keyFormat format   // maps: how member names are checked (formatText: up to maxShortTextLen)
	oneOf     []string // formatOneOf: the values allowed
	// refusedValues are values of a formatOneOf string refused with
	// UNSUPPORTED_FIELD and the reason given, rather than as unknown.
	refusedValues map[string]string
	maxLen        int     // strings and localized values: runes; valueAny: bytes
	maxItems      int     // arrays, maps and localized strings
	nonNegative   bool    // integers: NEGATIVE_AMOUNT below zero
	hasRange      bool    // numbers: INVALID_VALUE outside min..max
	min, max      float64 // the range, with hasRange
	typeID        string  // formatTypeID: the expected typeId; reference objects: the typeId reported
	fields        []field // objects
	elem          *field  // arrays and maps
	// alt, for an object, is the schema of the shorthand string that may
	// stand for it (an attribute type "text" for {"name": "text"}).
	alt *schema
	// check runs after an object's fields with the value node of each field
	// (-1 when absent); clean tells whether the fields added no error.
	check func(v *validator, s *schema, slots []int32, clean bool)
}

// field is a member of an object schema.
type field struct {
	name     string
	schema   *schema
	required bool
	refKey   bool // the key of a reference: INVALID_REFERENCE rather than REQUIRED_FIELD
	identity bool // the record's identity
	skuRef   bool // a sku referencing a product-variant
	unique   bool // unique among the record's fields with this flag (variant skus)
	// unsupported, when set, refuses the field (UNSUPPORTED_FIELD) with
	// this reason: a field of the commercetools draft that importd cannot
	// honour, refused rather than dropped.
	unsupported string
}

func req(name string, s *schema) field { return field{name: name, schema: s, required: true} }
func opt(name string, s *schema) field { return field{name: name, schema: s} }

func unsupported(name, reason string) field {
	return field{name: name, schema: &schema{kind: valueAny}, unsupported: reason}
}

func object(fields ...field) *schema { return &schema{kind: valueObject, fields: fields} }

func array(maxItems int, elem *schema) *schema {
	return &schema{kind: valueArray, maxItems: maxItems, elem: &field{schema: elem}}
}

func mapOf(keyFormat format, maxItems int, elem *schema) *schema {
	return &schema{kind: valueMap, keyFormat: keyFormat, maxItems: maxItems, elem: &field{schema: elem}}
}

func text(maxLen int) *schema { return &schema{kind: valueString, maxLen: maxLen} }

func oneOf(values ...string) *schema {
	return &schema{kind: valueString, format: formatOneOf, oneOf: values}
}

func localized(f format, maxLen int) *schema {
	return &schema{kind: valueLocalized, format: f, maxLen: maxLen, maxItems: maxLanguages}
}

// index is the index of the field with the given name, or -1.
func (s *schema) index(name string) int {
	for i := range s.fields {
		if s.fields[i].name == name {
			return i
		}
	}
	return -1
}

var (
	keyString      = &schema{kind: valueString, format: formatKey}
	countryString  = &schema{kind: valueString, format: formatCountry}
	dateString     = &schema{kind: valueString, format: formatDate}
	nameString     = text(maxNameLen)
	shortText      = text(maxShortTextLen)
	localizedName  = localized(formatText, maxNameLen)
	localizedSlug  = localized(formatSlug, keyMaxLen)
	localizedDescr = localized(formatText, maxDescriptionLen)
	boolean        = &schema{kind: valueBool}
	quantity       = &schema{kind: valueInt, nonNegative: true}
	anyValue       = &schema{kind: valueAny, maxLen: maxCustomValueLen}

	money = withCheck(object(
		req("currencyCode", &schema{kind: valueString, format: formatCurrency}),
		opt("centAmount", quantity),
		opt("fractionDigits", &schema{kind: valueInt, hasRange: true, min: 0, max: maxFractionDigits}),
		opt("type", oneOf("centPrecision", "highPrecision")),
		opt("preciseAmount", quantity),
	), checkMoney)
	// custom is CustomFieldsDraft: the fields are stored as given; custom
	// types are not a resource type of importd, so neither the type nor the
	// fields' values are checked against one.
	custom = object(
		req("type", reference("type", false)),
		opt("fields", mapOf(formatText, maxMapEntries, anyValue)),
	)
	dimensions = object(
		req("w", quantity),
		req("h", quantity),
	)
	assets = array(maxAssets, object(
		opt("key", keyString),
		req("sources", array(maxAssetSources, object(
			req("uri", text(maxURLLen)),
			opt("key", keyString),
			opt("dimensions", dimensions),
			opt("contentType", shortText),
		))),
		req("name", localizedName),
		opt("description", localizedDescr),
		opt("tags", array(maxTags, shortText)),
		opt("custom", custom),
	))
	// attributes are a variant's or product's attributes; type is the
	// Import API's discriminator ("text", "lenum-set"), checked by the store
	// against the product type.
	attributes = array(maxAttributes, object(
		req("name", nameString),
		opt("value", &schema{kind: valueAny, maxLen: maxAttributeValueLen}),
		opt("type", oneOf(importAttributeTypes()...)),
	))
	// priceFields are the fields of a PriceDraft; a variant's prices and
	// Price records share them.
	priceFields = []field{
		req("value", money),
		opt("country", countryString),
		opt("customerGroup", reference(CustomerGroup.TypeID(), true)),
		opt("channel", reference(Channel.TypeID(), true)),
		opt("validFrom", dateString),
		opt("validUntil", dateString),
		opt("tiers", array(maxTiers, object(
			req("minimumQuantity", &schema{kind: valueInt, hasRange: true, min: 2, max: maxSafeInteger}),
			req("value", money),
		))),
		unsupported("discounted", "product discounts are not a resource type of importd; commercetools computes a price's discount itself"),
		unsupported("recurrencePolicy", "recurrence policies are not a resource type of importd"),
		opt("custom", custom),
	}
	prices = array(maxPrices, withCheck(object(append([]field{opt("key", keyString)}, priceFields...)...), checkValidity))
	images = array(maxImages, object(
		req("url", text(maxURLLen)),
		opt("dimensions", dimensions),
		opt("label", nameString),
	))
	attributeType = withCheck(object(
		req("name", withRefused(oneOf(attributeTypes...), refusedAttributeTypes)),
		opt("values", array(maxEnumValues, object(
			req("key", shortText),
			opt("label", &schema{kind: valueAny, maxLen: maxNameLen * 4}),
		))),
		opt("elementType", nil), // attributeType itself: set in init
		opt("referenceTypeId", oneOf(referenceTypeIDs...)),
	), checkAttributeType)
	address = object(
		opt("key", keyString),
		opt("externalId", shortText),
		opt("title", shortText),
		opt("salutation", shortText),
		opt("firstName", shortText),
		opt("lastName", shortText),
		opt("streetName", shortText),
		opt("streetNumber", shortText),
		opt("additionalStreetInfo", shortText),
		opt("postalCode", shortText),
		opt("city", shortText),
		opt("region", shortText),
		opt("state", shortText),
		req("country", countryString),
		opt("company", shortText),
		opt("department", shortText),
		opt("building", shortText),
		opt("apartment", shortText),
		opt("pOBox", shortText),
		opt("phone", shortText),
		opt("mobile", shortText),
		opt("email", shortText),
		opt("fax", shortText),
		opt("additionalAddressInfo", text(maxDescriptionLen)),
		opt("custom", custom),
	)

	productTypeSchema = withCheck(object(
		field{name: "key", schema: keyString, required: true, identity: true},
		req("name", nameString),
		opt("description", text(maxDescriptionLen)),
		opt("attributes", array(maxAttributeDefinitions, withCheck(object(
			req("name", nameString),
			req("type", attributeType),
			opt("isRequired", boolean),
			opt("label", localizedName),
			opt("attributeConstraint", oneOf("None", "Unique", "CombinationUnique", "SameForAll")),
			opt("inputTip", localizedDescr),
			opt("inputHint", oneOf("SingleLine", "MultiLine")),
			opt("isSearchable", boolean),
			opt("displayGroup", shortText),
			opt("level", oneOf("Variant", "Product")),
		), checkAttributeLevel))),
	), checkAttributeNames)
	categorySchema = object(
		field{name: "key", schema: keyString, required: true, identity: true},
		req("name", localizedName),
		req("slug", localizedSlug),
		opt("description", localizedDescr),
		opt("parent", reference(Category.TypeID(), true)),
		opt("orderHint", text(maxOrderHintLen)),
		opt("externalId", shortText),
		opt("metaTitle", localizedName),
		opt("metaDescription", localizedDescr),
		opt("metaKeywords", localizedDescr),
		opt("custom", custom),
		opt("assets", assets),
	)
	taxCategorySchema = object(
		field{name: "key", schema: keyString, required: true, identity: true},
		req("name", nameString),
		opt("description", text(maxDescriptionLen)),
		opt("rates", array(maxTaxRates, withCheck(object(
			req("name", nameString),
			opt("amount", &schema{kind: valueNumber, hasRange: true, min: 0, max: 1}),
			req("country", countryString),
			opt("includedInPrice", boolean),
			opt("state", shortText),
			opt("key", keyString),
			opt("subRates", array(maxSubRates, object(
				req("name", nameString),
				req("amount", &schema{kind: valueNumber, hasRange: true, min: 0, max: 1}),
			))),
		), checkTaxRate))),
	)
	customerGroupSchema = object(
		field{name: "key", schema: keyString, required: true, identity: true},
		req("groupName", nameString),
		opt("custom", custom),
	)
	channelSchema = object(
		field{name: "key", schema: keyString, required: true, identity: true},
		opt("roles", array(5, oneOf("InventorySupply", "ProductDistribution", "OrderExport", "OrderImport", "Primary"))),
		opt("name", localizedName),
		opt("description", localizedDescr),
		opt("address", address),
		opt("custom", custom),
		opt("geoLocation", withCheck(object(
			req("type", oneOf("Point")),
			req("coordinates", array(2, &schema{kind: valueNumber})),
		), checkGeoLocation)),
	)
	// variant is a ProductVariantDraft; publish and staged, of a
	// ProductVariant record, are kept on the variant, so a variant reads
	// back the same embedded or on its own.
	variant = withCheck(object(
		field{name: "sku", schema: keyString, required: true, unique: true},
		opt("key", keyString),
		opt("attributes", attributes),
		opt("prices", prices),
		opt("images", images),
		opt("assets", assets),
		opt("publish", boolean),
		opt("staged", boolean),
	), checkPriceScopes)
	productSchema = withCheck(object(
		field{name: "key", schema: keyString, required: true, identity: true},
		req("productType", reference(ProductType.TypeID(), true)),
		req("name", localizedName),
		req("slug", localizedSlug),
		opt("description", localizedDescr),
		opt("categories", array(maxCategories, reference(Category.TypeID(), true))),
		opt("categoryOrderHints", mapOf(formatText, maxCategories, text(maxOrderHintLen))),
		opt("metaTitle", localizedName),
		opt("metaDescription", localizedDescr),
		opt("metaKeywords", localizedDescr),
		opt("searchKeywords", mapOf(formatLanguage, maxLanguages, array(maxSearchKeywords, object(
			req("text", nameString),
			opt("suggestTokenizer", object(
				req("type", oneOf("whitespace", "custom")),
				opt("inputs", array(maxSearchKeywords, nameString)),
			)),
		)))),
		opt("attributes", attributes),
		opt("taxCategory", reference(TaxCategory.TypeID(), true)),
		unsupported("state", "states are not a resource type of importd"),
		opt("priceMode", oneOf("Embedded", "Standalone")),
		opt("publish", boolean),
		opt("masterVariant", variant),
		opt("variants", array(maxVariants, variant)),
	), checkVariantKeys)
	productVariantSchema = withCheck(object(
		field{name: "sku", schema: keyString, required: true, identity: true},
		opt("key", keyString),
		req("product", reference(Product.TypeID(), true)),
		opt("isMasterVariant", boolean),
		opt("attributes", attributes),
		opt("prices", prices),
		opt("images", images),
		opt("assets", assets),
		opt("publish", boolean),
		opt("staged", boolean),
	), checkPriceScopes)
	priceSchema = withCheck(object(append([]field{
		field{name: "key", schema: keyString, required: true, identity: true},
		field{name: "sku", schema: keyString, required: true, skuRef: true},
		opt("publish", boolean),
		opt("staged", boolean),
	}, priceFields...)...), checkValidity)
	inventoryEntrySchema = object(
		field{name: "sku", schema: keyString, required: true, identity: true, skuRef: true},
		opt("key", keyString),
		req("quantityOnStock", quantity),
		opt("supplyChannel", reference(Channel.TypeID(), true)),
		opt("restockableInDays", quantity),
		opt("expectedDelivery", dateString),
		opt("minCartQuantity", &schema{kind: valueInt, hasRange: true, min: 1, max: maxSafeInteger}),
		opt("maxCartQuantity", &schema{kind: valueInt, hasRange: true, min: 1, max: maxSafeInteger}),
		opt("reservationExpirationInMinutes", &schema{kind: valueInt, hasRange: true, min: 1, max: 44640}),
		opt("custom", custom),
	)
)

func init() {
	// A set's elementType is an attribute type itself.
	attributeType.fields[attributeType.index("elementType")].schema = attributeType
	attributeType.alt = withRefused(oneOf(shorthandTypes...), refusedAttributeTypes)
}

// refusedAttributeTypes are the commercetools attribute types importd
// refuses, with the reason.
var refusedAttributeTypes = map[string]string{
	"nested": "nested attribute types are not supported: their values would need product types resolved inside attribute values; define the attributes on the product type itself",
}

func withRefused(s *schema, refused map[string]string) *schema {
	s.refusedValues = refused
	return s
}

func withCheck(s *schema, check func(v *validator, s *schema, slots []int32, clean bool)) *schema {
	s.check = check
	return s
}

// schemaOf is the schema of records of type t, nil for an unknown type.
func schemaOf(t ResourceType) *schema {
	switch t {
	case ProductType:
		return productTypeSchema
	case Category:
		return categorySchema
	case TaxCategory:
		return taxCategorySchema
	case Product:
		return productSchema
	case ProductVariant:
		return productVariantSchema
	case Price:
		return priceSchema
	case InventoryEntry:
		return inventoryEntrySchema
	case CustomerGroup:
		return customerGroupSchema
	case Channel:
		return channelSchema
	}
	return nil
}

// checkValidity reports a Price whose validUntil is before its validFrom.
func checkValidity(v *validator, s *schema, slots []int32, _ bool) {
	from, fromOK := v.time(slots[s.index("validFrom")])
	until, untilOK := v.time(slots[s.index("validUntil")])
	if fromOK && untilOK && until.Before(from) {
		v.addAt("validUntil", CodeInvalidValue, "validUntil is before validFrom")
	}
}

// checkMoney asks for centAmount, or for preciseAmount and fractionDigits
// in a high-precision amount.
func checkMoney(v *validator, s *schema, slots []int32, _ bool) {
	need := func(name, why string) {
		if n := slots[s.index(name)]; n < 0 || v.nodes[n].kind == jsonNull {
			v.addAt(name, CodeRequiredField, "required field is missing"+why)
		}
	}
	if t := slots[s.index("type")]; t >= 0 && v.nodes[t].kind == jsonString && string(v.textOf(t)) == "highPrecision" {
		need("preciseAmount", " (a highPrecision amount)")
		need("fractionDigits", " (a highPrecision amount)")
		return
	}
	need("centAmount", "")
}

// checkAttributeType checks the fields an attribute type needs by its name:
// values for enum and lenum (labels a string or a localized string, keys
// once each), elementType for set, referenceTypeId for reference.
func checkAttributeType(v *validator, s *schema, slots []int32, clean bool) {
	if !clean {
		return
	}
	name := string(v.textOf(slots[s.index("name")]))
	present := func(f string) bool { n := slots[s.index(f)]; return n >= 0 && v.nodes[n].kind != jsonNull }
	report := func(f, code, msg string) {
		v.addAt(f, code, msg)
	}
	for _, f := range []struct{ field, owner string }{{"values", "enum"}, {"elementType", "set"}, {"referenceTypeId", "reference"}} {
		switch {
		case present(f.field) && name != f.owner && !(f.owner == "enum" && name == "lenum"):
			report(f.field, CodeInvalidValue, fmt.Sprintf("%s belongs to %s types, not to %s", f.field, f.owner, name))
		case !present(f.field) && (name == f.owner && f.owner != "enum"):
			report(f.field, CodeRequiredField, "required field is missing for a "+name+" type")
		}
	}
	switch name {
	case "set":
		if e := slots[s.index("elementType")]; e >= 0 && v.nodes[e].kind == jsonObject {
			if n := v.member(e, "name"); n >= 0 && v.nodes[n].kind == jsonString && string(v.textOf(n)) == "set" {
				report("elementType.name", CodeUnsupportedField, "a set of sets is not supported")
			}
		}
	case "enum", "lenum":
		vals := slots[s.index("values")]
		if vals < 0 || v.nodes[vals].kind != jsonArray {
			return
		}
		label := &field{name: "label", schema: nameString}
		if name == "lenum" {
			label.schema = localizedName
		}
		at := v.push("values")
		j := vals + 1
		for i := range int(v.nodes[vals].count) {
			if v.full() {
				break
			}
			iat := v.pushIndex(i)
			if l := v.member(j, "label"); l >= 0 {
				lat := v.push("label")
				if v.nodes[l].kind != jsonNull {
					v.value(label, l)
				}
				v.pop(lat)
			}
			v.pop(iat)
			j += v.nodes[j].size
		}
		v.pop(at)
		v.uniqueIn("values", vals, "key")
	}
}

// uniqueIn reports each element of array node arr (at field) whose string
// member name repeats that of an earlier element.
func (v *validator) uniqueIn(field string, arr int32, name string) {
	if arr < 0 || v.nodes[arr].kind != jsonArray || v.nodes[arr].count > maxEnumValues {
		return
	}
	var seen []int32
	var at []int
	j := arr + 1
	for i := range int(v.nodes[arr].count) {
		if m := v.member(j, name); m >= 0 && v.nodes[m].kind == jsonString {
			for k, o := range seen {
				if v.sameName(o, m) {
					v.addAt(field+"."+strconv.Itoa(i)+"."+name, CodeInvalidValue, fmt.Sprintf("the %s %s is already that of %s.%d", name, quote(v.textOf(m)), field, at[k]))
					break
				}
			}
			seen, at = append(seen, m), append(at, i)
		}
		j += v.nodes[j].size
	}
}

// checkAttributeNames refuses an attribute defined twice by a product type.
func checkAttributeNames(v *validator, s *schema, slots []int32, _ bool) {
	as := slots[s.index("attributes")]
	if as < 0 || v.nodes[as].kind != jsonArray || int(v.nodes[as].count) > maxAttributeDefinitions {
		return
	}
	var names []int32
	j := as + 1
	for i := range int(v.nodes[as].count) {
		n := v.member(j, "name")
		if n >= 0 && v.nodes[n].kind == jsonString {
			for _, o := range names {
				if v.sameName(o, n) {
					v.addAt("attributes."+strconv.Itoa(i)+".name", CodeInvalidValue, "attribute "+quote(v.textOf(n))+" is defined more than once")
					break
				}
			}
			names = append(names, n)
		}
		j += v.nodes[j].size
	}
}

// checkAttributeLevel refuses a constraint on a product-level attribute,
// as commercetools does: a product has one value of it.
func checkAttributeLevel(v *validator, s *schema, slots []int32, clean bool) {
	l, c := slots[s.index("level")], slots[s.index("attributeConstraint")]
	if !clean || l < 0 || c < 0 || v.nodes[l].kind != jsonString || v.nodes[c].kind != jsonString {
		return
	}
	if string(v.textOf(l)) == "Product" && string(v.textOf(c)) != "None" {
		v.addAt("attributeConstraint", CodeInvalidValue, "a product-level attribute has no constraint (None)")
	}
}

// checkVariantKeys refuses two variants of a product with one key.
func checkVariantKeys(v *validator, s *schema, slots []int32, clean bool) {
	vs := slots[s.index("variants")]
	if !clean || vs < 0 || v.nodes[vs].kind != jsonArray {
		return
	}
	if mk := v.member(slots[s.index("masterVariant")], "key"); mk >= 0 && v.nodes[mk].kind == jsonString {
		j := vs + 1
		for i := range int(v.nodes[vs].count) {
			if k := v.member(j, "key"); k >= 0 && v.nodes[k].kind == jsonString && v.sameName(mk, k) {
				v.addAt("variants."+strconv.Itoa(i)+".key", CodeInvalidValue, fmt.Sprintf("the key %s is already that of masterVariant", quote(v.textOf(k))))
			}
			j += v.nodes[j].size
		}
	}
	v.uniqueIn("variants", vs, "key")
}

// checkTaxRate asks for an amount unless the rate has sub-rates.
func checkTaxRate(v *validator, s *schema, slots []int32, _ bool) {
	if slots[s.index("amount")] < 0 && slots[s.index("subRates")] < 0 {
		v.addAt("amount", CodeRequiredField, "required field is missing (a rate without subRates)")
	}
}

// checkGeoLocation checks a GeoJSON point: [longitude, latitude].
func checkGeoLocation(v *validator, s *schema, slots []int32, clean bool) {
	c := slots[s.index("coordinates")]
	if !clean || c < 0 || v.nodes[c].kind != jsonArray {
		return
	}
	at := v.push("coordinates")
	defer v.pop(at)
	if v.nodes[c].count != 2 {
		v.add(CodeInvalidValue, "a point has two coordinates: [longitude, latitude]")
		return
	}
	lng, _ := strconv.ParseFloat(string(v.raw(c+1)), 64)
	lat, _ := strconv.ParseFloat(string(v.raw(c+2)), 64)
	if lng < -180 || lng > 180 || lat < -90 || lat > 90 {
		v.add(CodeInvalidValue, "a longitude is between -180 and 180, a latitude between -90 and 90")
	}
}

// checkPriceScopes refuses two prices of one variant with the same key or
// the same scope:
// currency, country, customer group, channel and validity. commercetools
// selects a price by its scope, so two with one scope cannot be told apart.
func checkPriceScopes(v *validator, s *schema, slots []int32, clean bool) {
	ps := slots[s.index("prices")]
	if !clean || ps < 0 || v.nodes[ps].kind != jsonArray || v.nodes[ps].count < 2 {
		return
	}
	v.uniqueIn("prices", ps, "key") // commercetools: a price key is unique per variant
	scopes := make([]string, 0, v.nodes[ps].count)
	j := ps + 1
	for i := range int(v.nodes[ps].count) {
		scope := priceScope(&v.parser, j)
		if o := slices.Index(scopes, scope); o >= 0 {
			v.addAt("prices."+strconv.Itoa(i), CodeDuplicatePrice, fmt.Sprintf("the price has the scope of prices.%d (%s): two prices of a variant need different currencies, countries, customer groups, channels or validity", o, describeScope(scope)))
		}
		scopes = append(scopes, scope)
		j += v.nodes[j].size
	}
}

// validator walks one parsed record along its schema. Validators are pooled:
// a record of 1 KB costs no allocation but the errors and references it
// returns.
type validator struct {
	parser
	errs     []Error
	refs     []Reference
	identity string
	path     fieldPath // of the value being checked
	slots    []int32   // stack of the value nodes of the fields of the objects being checked
	buf      []byte    // text of the string being checked
	nameBuf  []byte    // text of the member name being matched
	skus     []byte    // unique values seen, concatenated
	skuEnds  []int
	refSet   map[Reference]struct{} // refs, once there are many
}

var validators = sync.Pool{New: func() any { return new(validator) }}

func (v *validator) release() {
	if cap(v.nodes) > 1<<16 || cap(v.buf) > 1<<16 || len(v.refSet) > 1<<10 {
		return // leave big buffers to the garbage collector
	}
	clear(v.refSet)
	v.data, v.errs, v.refs, v.identity = nil, nil, nil, ""
	v.path, v.slots, v.skus, v.skuEnds = v.path[:0], v.slots[:0], v.skus[:0], v.skuEnds[:0]
	validators.Put(v)
}

func (v *validator) full() bool { return len(v.errs) >= MaxRecordErrors }

// addAt adds an error at the field name below the current path.
func (v *validator) addAt(name, code, description string) {
	at := v.push(name)
	v.add(code, description)
	v.pop(at)
}

func (v *validator) add(code, description string) {
	if len(v.errs) < MaxRecordErrors {
		v.errs = append(v.errs, DataErr(code, string(v.path), description))
	}
}

// fieldPath is the dotted path of the value being walked
// ("masterVariant.prices.0"), for errors and warnings. Each push returns
// the length to pop back to.
type fieldPath []byte

func (p *fieldPath) push(name string) int {
	at := len(*p)
	if at > 0 {
		*p = append(*p, '.')
	}
	*p = append(*p, name...)
	return at
}

// pushName appends a member name of the record, cut to 64 bytes.
func (p *fieldPath) pushName(name []byte) int {
	at := len(*p)
	if at > 0 {
		*p = append(*p, '.')
	}
	*p = append(*p, cut(name)...)
	return at
}

func (p *fieldPath) pushIndex(i int) int {
	at := len(*p)
	if at > 0 {
		*p = append(*p, '.')
	}
	*p = strconv.AppendInt(*p, int64(i), 10)
	return at
}

func (p *fieldPath) pop(at int) { *p = (*p)[:at] }

func (v *validator) push(name string) int     { return v.path.push(name) }
func (v *validator) pushName(name []byte) int { return v.path.pushName(name) }
func (v *validator) pushIndex(i int) int      { return v.path.pushIndex(i) }
func (v *validator) pop(at int)               { v.path.pop(at) }

// textOf is the text of string node n; it stays valid until the next call.
func (v *validator) textOf(n int32) []byte {
	nd := &v.nodes[n]
	if nd.flags&flagEscaped == 0 {
		return v.data[nd.start+1 : nd.end-1]
	}
	v.buf = v.appendText(v.buf[:0], n)
	return v.buf
}

// nameOf is the text of member name node n; it stays valid until the next call.
func (v *validator) nameOf(n int32) []byte {
	nd := &v.nodes[n]
	if nd.flags&flagEscaped == 0 {
		return v.data[nd.start+1 : nd.end-1]
	}
	v.nameBuf = v.appendText(v.nameBuf[:0], n)
	return v.nameBuf
}

// sameName reports whether the string nodes a and b have the same text.
func (v *validator) sameName(a, b int32) bool {
	na, nb := &v.nodes[a], &v.nodes[b]
	if (na.flags|nb.flags)&flagEscaped == 0 {
		return bytes.Equal(v.data[na.start:na.end], v.data[nb.start:nb.end])
	}
	v.buf = v.appendText(v.buf[:0], a)
	return bytes.Equal(v.buf, v.nameOf(b))
}

// missing reports a required field that is missing, null or empty.
func (v *validator) missing(f *field, how string) {
	if f.refKey {
		v.add(CodeInvalidReference, "a reference needs a key; key is "+how)
		return
	}
	v.add(CodeRequiredField, "required field is "+how)
}

func (v *validator) typeError(want string, n int32) {
	v.add(CodeInvalidType, "expected "+want+", got "+v.nodes[n].kind.String())
}

// value checks node n (-1 when absent) against field f.
func (v *validator) value(f *field, n int32) {
	if v.full() {
		return
	}
	switch {
	case n < 0:
		if f.required {
			v.missing(f, "missing")
		}
		return
	case v.nodes[n].kind == jsonNull:
		if f.required {
			v.missing(f, "null")
		}
		return
	}
	if f.unsupported != "" {
		v.add(CodeUnsupportedField, "the field is not supported: "+f.unsupported)
		return
	}
	s := f.schema
	if s.alt != nil && v.nodes[n].kind == jsonString {
		v.string(&field{name: f.name, schema: s.alt, required: f.required}, n)
		return
	}
	switch s.kind {
	case valueString:
		v.string(f, n)
	case valueLocalized:
		v.localized(f, n)
	case valueInt:
		v.integer(s, n)
	case valueNumber:
		v.number(s, n)
	case valueBool:
		if v.nodes[n].kind != jsonBool {
			v.typeError("boolean", n)
		}
	case valueObject:
		if v.nodes[n].kind != jsonObject {
			v.typeError("object", n)
			return
		}
		v.object(s, n)
	case valueArray:
		v.array(s, n)
	case valueMap:
		v.mapOf(s, n)
	case valueAny:
		v.any(s, n)
	}
}

// mapOf checks the members of object node n: their names by s.keyFormat,
// their values against s.elem.
func (v *validator) mapOf(s *schema, n int32) {
	if v.nodes[n].kind != jsonObject {
		v.typeError("object", n)
		return
	}
	count := int(v.nodes[n].count)
	if count > s.maxItems {
		v.add(CodeTooManyItems, fmt.Sprintf("%d members, limit %d", count, s.maxItems))
		return
	}
	j := n + 1
	for k := range count {
		if v.full() {
			return
		}
		name, val := j, j+1
		j = val + v.nodes[val].size
		b := v.nameOf(name)
		at := v.pushName(b)
		switch {
		case s.keyFormat == formatLanguage && !isLanguageTag(b):
			v.add(CodeInvalidValue, quote(b)+" is not a language tag")
		case len(b) == 0 || utf8.RuneCount(b) > maxShortTextLen:
			v.add(CodeInvalidValue, fmt.Sprintf("a member name needs 1 to %d characters", maxShortTextLen))
		case v.nodes[name].flags&flagNUL != 0:
			v.add(CodeInvalidValue, "contains a NUL character (\\u0000)")
		}
		if v.repeatsName(n, k, name) {
			v.add(CodeInvalidValue, "the member is given more than once")
		}
		if v.nodes[val].kind == jsonNull {
			v.typeError(s.elem.schema.expected(), val)
		} else {
			v.value(s.elem, val)
		}
		v.pop(at)
	}
}

// object checks the members of object node n against the fields of s.
func (v *validator) object(s *schema, n int32) {
	errs := len(v.errs)
	base := len(v.slots)
	for range s.fields {
		v.slots = append(v.slots, -1)
	}
	j := n + 1
	for range v.nodes[n].count {
		name, val := j, j+1
		j = val + v.nodes[val].size
		i := s.lookup(v.nameOf(name))
		if i < 0 {
			continue // unknown fields: the store warns of them
		}
		if v.slots[base+i] >= 0 {
			at := v.push(s.fields[i].name)
			v.add(CodeInvalidValue, "the field is given more than once")
			v.pop(at)
		}
		v.slots[base+i] = val
	}
	for i := range s.fields {
		f := &s.fields[i]
		at := v.push(f.name)
		v.value(f, v.slots[base+i])
		v.pop(at)
	}
	if s.check != nil && !v.full() {
		s.check(v, s, v.slots[base:base+len(s.fields)], len(v.errs) == errs)
	}
	v.slots = v.slots[:base]
}

// lookup is the index of the field with the given name, or -1.
func (s *schema) lookup(name []byte) int {
	for i := range s.fields {
		if string(name) == s.fields[i].name {
			return i
		}
	}
	return -1
}

func (v *validator) array(s *schema, n int32) {
	if v.nodes[n].kind != jsonArray {
		v.typeError("array", n)
		return
	}
	count := int(v.nodes[n].count)
	if count > s.maxItems {
		v.add(CodeTooManyItems, fmt.Sprintf("%d items, limit %d", count, s.maxItems))
	}
	j := n + 1
	for i := range count {
		if v.full() {
			return
		}
		at := v.pushIndex(i)
		if v.nodes[j].kind == jsonNull {
			v.typeError(s.elem.schema.expected(), j)
		} else {
			v.value(s.elem, j)
		}
		v.pop(at)
		j += v.nodes[j].size
	}
}

// expected names the JSON type a schema expects, for INVALID_TYPE.
func (s *schema) expected() string {
	switch s.kind {
	case valueString:
		return "string"
	case valueInt:
		return "integer"
	case valueNumber:
		return "number"
	case valueBool:
		return "boolean"
	case valueArray:
		return "array"
	case valueAny:
		return "a value"
	}
	return "object"
}

func (v *validator) string(f *field, n int32) {
	s := f.schema
	if v.nodes[n].kind != jsonString {
		v.typeError("string", n)
		return
	}
	b := v.textOf(n)
	if len(b) == 0 {
		if f.required {
			v.missing(f, "empty")
		}
		return
	}
	if v.nodes[n].flags&flagNUL != 0 {
		v.add(CodeInvalidValue, "contains a NUL character (\\u0000)")
		return
	}
	switch s.format {
	case formatText:
		if len(b) > s.maxLen {
			if l := utf8.RuneCount(b); l > s.maxLen {
				v.add(CodeValueTooLong, fmt.Sprintf("%d characters, limit %d", l, s.maxLen))
			}
		}
	case formatKey:
		if !isKey(b) {
			v.add(CodeInvalidKey, quote(b)+" does not match ^[A-Za-z0-9_-]{2,256}$")
			return
		}
		if f.identity || f.skuRef {
			key := string(b)
			if f.identity {
				v.identity = key
			}
			if f.skuRef {
				v.addRef(Reference{TypeID: ProductVariant.TypeID(), SKU: key})
			}
		}
		if f.unique {
			v.unique(b)
		}
	case formatCountry:
		if len(b) != 2 || !isUpper(b[0]) || !isUpper(b[1]) {
			v.add(CodeInvalidValue, quote(b)+" is not an ISO 3166-1 alpha-2 country code (^[A-Z]{2}$)")
		}
	case formatCurrency:
		if !isCurrency(b) {
			v.add(CodeInvalidCurrency, quote(b)+" is not an ISO 4217 currency code")
		}
	case formatOneOf:
		for _, t := range s.oneOf {
			if string(b) == t {
				return
			}
		}
		if reason, ok := s.refusedValues[string(b)]; ok {
			v.add(CodeUnsupportedField, reason)
			return
		}
		v.add(CodeInvalidValue, fmt.Sprintf("%s is not one of %s", quote(b), strings.Join(s.oneOf, ", ")))
	case formatLanguage:
		if !isLanguageTag(b) {
			v.add(CodeInvalidValue, quote(b)+" is not a language tag")
		}
	case formatDate:
		if _, err := time.Parse(time.RFC3339, string(b)); err != nil {
			v.add(CodeInvalidValue, quote(b)+" is not an RFC 3339 date-time")
		}
	case formatTypeID:
		if string(b) != s.typeID {
			v.add(CodeInvalidReference, fmt.Sprintf("typeId %s, expected %q", quote(b), s.typeID))
		}
	}
}

// time is the value of an RFC 3339 string node n, if it is one.
func (v *validator) time(n int32) (time.Time, bool) {
	if n < 0 || v.nodes[n].kind != jsonString {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(v.textOf(n)))
	return t, err == nil
}

// unique reports a value seen before among the fields flagged unique.
func (v *validator) unique(b []byte) {
	if len(v.skuEnds) > maxVariants {
		return // too many variants, reported as such
	}
	from := 0
	for _, end := range v.skuEnds {
		if bytes.Equal(v.skus[from:end], b) {
			v.add(CodeDuplicateIdentity, quote(b)+" is already the sku of another variant of this product")
			return
		}
		from = end
	}
	v.skus = append(v.skus, b...)
	v.skuEnds = append(v.skuEnds, len(v.skus))
}

func (v *validator) localized(f *field, n int32) {
	s := f.schema
	if v.nodes[n].kind != jsonObject {
		v.typeError("object", n)
		return
	}
	count := int(v.nodes[n].count)
	if count == 0 {
		if f.required {
			v.add(CodeRequiredField, "required field is empty")
		}
		return
	}
	if count > s.maxItems {
		v.add(CodeTooManyItems, fmt.Sprintf("%d languages, limit %d", count, s.maxItems))
	}
	j := n + 1
	for k := range count {
		if v.full() {
			return
		}
		name, val := j, j+1
		j = val + v.nodes[val].size
		tag := v.nameOf(name)
		at := v.pushName(tag)
		if !isLanguageTag(tag) {
			v.add(CodeInvalidValue, quote(tag)+" is not a language tag")
		}
		// More than maxItems are reported above; no quadratic time on them.
		if count <= s.maxItems && v.repeatsName(n, k, name) {
			v.add(CodeInvalidValue, "the language is given more than once")
		}
		v.localizedValue(s, val)
		v.pop(at)
	}
}

// repeatsName reports whether the member name node name, the k-th member
// of object n, has the name of an earlier member.
func (v *validator) repeatsName(n int32, k int, name int32) bool {
	for i, m := 0, n+1; i < k; i++ {
		if v.sameName(m, name) {
			return true
		}
		m += 1 + v.nodes[m+1].size
	}
	return false
}

func (v *validator) localizedValue(s *schema, n int32) {
	if v.nodes[n].kind != jsonString {
		v.typeError("string", n)
		return
	}
	b := v.textOf(n)
	switch {
	case v.nodes[n].flags&flagNUL != 0:
		v.add(CodeInvalidValue, "contains a NUL character (\\u0000)")
	case s.format == formatSlug:
		if !isKey(b) {
			v.add(CodeInvalidValue, "slug "+quote(b)+" does not match ^[A-Za-z0-9_-]{2,256}$")
		}
	case len(b) > s.maxLen:
		if l := utf8.RuneCount(b); l > s.maxLen {
			v.add(CodeValueTooLong, fmt.Sprintf("%d characters, limit %d", l, s.maxLen))
		}
	}
}

func (v *validator) integer(s *schema, n int32) {
	nd := v.nodes[n]
	if nd.kind != jsonNumber {
		v.typeError("integer", n)
		return
	}
	raw := v.raw(n)
	if nd.flags&flagInt == 0 {
		v.add(CodeInvalidType, "expected integer, got number "+number(raw))
		return
	}
	i, ok := safeInt(raw)
	if !ok {
		v.add(CodeInvalidValue, number(raw)+" is beyond ±2^53")
		return
	}
	if s.nonNegative && i < 0 {
		v.add(CodeNegativeAmount, fmt.Sprintf("%d is below zero", i))
		return
	}
	if s.hasRange && (float64(i) < s.min || float64(i) > s.max) {
		v.add(CodeInvalidValue, fmt.Sprintf("%d is not between %g and %g", i, s.min, s.max))
	}
}

func (v *validator) number(s *schema, n int32) {
	nd := v.nodes[n]
	if nd.kind != jsonNumber {
		v.typeError("number", n)
		return
	}
	raw := v.raw(n)
	if nd.flags&flagInt != 0 {
		if _, ok := safeInt(raw); !ok {
			v.add(CodeInvalidValue, number(raw)+" is beyond ±2^53")
			return
		}
	}
	x, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		v.add(CodeInvalidValue, number(raw)+" is out of range")
		return
	}
	if s.hasRange && (x < s.min || x > s.max) {
		v.add(CodeInvalidValue, fmt.Sprintf("%s is not between %g and %g", raw, s.min, s.max))
	}
}

// any checks a value of any type: its size, and the numbers and strings in it.
func (v *validator) any(s *schema, n int32) {
	nd := v.nodes[n]
	if size := int(nd.end - nd.start); size > s.maxLen {
		v.add(CodeValueTooLong, fmt.Sprintf("%d bytes of JSON, limit %d", size, s.maxLen))
		return
	}
	for i := n; i < n+nd.size; i++ {
		switch m := v.nodes[i]; m.kind {
		case jsonString:
			if m.flags&flagNUL != 0 {
				v.add(CodeInvalidValue, "contains a NUL character (\\u0000)")
				return
			}
		case jsonNumber:
			raw := v.raw(i)
			if m.flags&flagInt != 0 {
				if _, ok := safeInt(raw); !ok {
					v.add(CodeInvalidValue, "the number "+number(raw)+" is beyond ±2^53")
					return
				}
			} else if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
				v.add(CodeInvalidValue, "the number "+number(raw)+" is out of range")
				return
			}
		}
	}
}

// safeInt parses an integer literal within ±2^53.
func safeInt(raw []byte) (int64, bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 16 {
		return 0, false
	}
	var i int64
	for _, c := range digits {
		i = i*10 + int64(c-'0')
	}
	if i > maxSafeInteger {
		return 0, false
	}
	if len(digits) < len(raw) {
		i = -i
	}
	return i, true
}

// keyChars are the bytes of ^[A-Za-z0-9_-]+$.
var keyChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	return t
}()

// isKey reports whether b matches ^[A-Za-z0-9_-]{2,256}$.
func isKey(b []byte) bool {
	if len(b) < keyMinLen || len(b) > keyMaxLen {
		return false
	}
	for _, c := range b {
		if !keyChars[c] {
			return false
		}
	}
	return true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// isLanguageTag reports whether b matches ^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$.
func isLanguageTag(b []byte) bool {
	i := 0
	for i < len(b) && isLower(b[i]) {
		i++
	}
	if i < 2 || i > 3 {
		return false
	}
	for i < len(b) {
		if b[i] != '-' {
			return false
		}
		i++
		n := 0
		for i < len(b) && b[i] != '-' {
			if !keyChars[b[i]] || b[i] == '_' {
				return false
			}
			i++
			n++
		}
		if n < 1 || n > 8 {
			return false
		}
	}
	return true
}

// isCurrency reports whether b is an upper-case ISO 4217 code ("XXX", no
// currency, is not one).
func isCurrency(b []byte) bool {
	if len(b) != 3 || !isUpper(b[0]) || !isUpper(b[1]) || !isUpper(b[2]) {
		return false
	}
	u, err := currency.ParseISO(string(b))
	return err == nil && u != currency.XXX
}

// number is a number literal for an error description, cut to 64 bytes.
func number(raw []byte) string {
	if len(raw) > 64 {
		return string(raw[:64]) + "…"
	}
	return string(raw)
}

// quote quotes a value for an error description, cut to 64 bytes.
func quote(b []byte) string {
	if c := cut(b); len(c) < len(b) {
		return strconv.Quote(string(c)) + "…"
	}
	return strconv.Quote(string(b))
}

// cut cuts b to at most 64 bytes, at the start of a rune.
func cut(b []byte) []byte {
	if len(b) <= 64 {
		return b
	}
	i := 64
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return b[:i]
}
