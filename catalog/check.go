package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// What the store checks of attributes and prices against the catalog:
// attribute values against the types their product type defines, the
// attribute constraints across a product's variants, and the scopes of a
// variant's Price records.

// Attribute levels: where an attribute lives (AttributeDefinition.Level).
const (
	levelVariant = iota
	levelProduct
)

func levelOf(d *AttributeDefinition) int {
	if d.Level == "Product" {
		return levelProduct
	}
	return levelVariant
}

var levelNames = [...]string{"variant", "product"}

// productTypeDef is what a product type says of its products' attributes.
type productTypeDef struct {
	key         string
	attrs       map[string]*AttributeDefinition // by name
	required    [2][]string                     // by level, in definition order
	constrained []*AttributeDefinition          // variant attributes with a constraint other than None
}

// productTypeDefOf reads a product type in canonical form.
func productTypeDefOf(canon []byte) (*productTypeDef, error) {
	var r ProductTypeRecord
	if err := json.Unmarshal(canon, &r); err != nil {
		return nil, fmt.Errorf("catalog: read product type: %w", err)
	}
	return newProductTypeDef(&r), nil
}

func newProductTypeDef(r *ProductTypeRecord) *productTypeDef {
	d := &productTypeDef{key: r.Key, attrs: make(map[string]*AttributeDefinition, len(r.Attributes))}
	for i := range r.Attributes {
		a := &r.Attributes[i]
		if _, dup := d.attrs[a.Name]; dup {
			continue // Validate refuses a name given twice; a type stored before that keeps the first
		}
		d.attrs[a.Name] = a
		if a.IsRequired {
			d.required[levelOf(a)] = append(d.required[levelOf(a)], a.Name)
		}
		if c := a.AttributeConstraint; c != "" && c != "None" && levelOf(a) == levelVariant {
			d.constrained = append(d.constrained, a)
		}
	}
	return d
}

// checkAttributes checks the attributes of a variant (or, at levelProduct,
// of a product) against its product type: it warns of (and drops) the
// attributes the type does not define at that level, refuses a value that
// does not match its type and a missing required attribute. It returns
// which attributes to keep.
func (sg *segment) checkAttributes(it *applyItem, def *productTypeDef, cv *canonVariant, level int) []bool {
	keep := make([]bool, len(cv.attrs))
	for i, a := range cv.attrs {
		field := joinField(cv.field, "attributes."+strconv.Itoa(i))
		d := def.attrs[a.name]
		if d == nil || levelOf(d) != level {
			msg := fmt.Sprintf("attribute %q is not defined by product type %q; it was dropped", a.name, def.key)
			if d != nil {
				msg = fmt.Sprintf("attribute %q is a %s attribute of product type %q, not a %s one; it was dropped",
					a.name, levelNames[levelOf(d)], def.key, levelNames[level])
			}
			it.warns = append(it.warns, DataErr(CodeUndefinedAttribute, field, msg))
			continue
		}
		keep[i] = true
		if want := importTypeName(&d.Type); a.typ != "" && a.typ != want {
			it.refuse(DataErr(CodeInvalidAttributeValue, joinField(field, "type"),
				fmt.Sprintf("attribute %q is %s in product type %q (type %q), not %q", a.name, typeName(&d.Type), def.key, want, a.typ)))
			continue
		}
		if a.value == nil {
			continue
		}
		if msg := sg.p.parse(a.value); msg != "" {
			it.refuse(DataErr(CodeMalformedRecord, joinField(field, "value"), msg))
			continue
		}
		if path, problem := d.Type.checkValue(sg.p, 0); problem != "" {
			it.refuse(DataErr(CodeInvalidAttributeValue, joinField(joinField(field, "value"), path),
				fmt.Sprintf("attribute %q (%s): %s", a.name, typeName(&d.Type), problem)))
		}
	}
	for _, name := range def.required[level] {
		if !slices.ContainsFunc(cv.attrs, func(a canonAttribute) bool { return a.name == name && a.hasValue }) {
			it.refuse(DataErr(CodeRequiredAttribute, joinField(cv.field, "attributes"),
				fmt.Sprintf("attribute %q is required by product type %q", name, def.key)))
		}
	}
	return keep
}

// importTypeName is the Import API's discriminator for values of type t:
// "lenum", "lenum-set".
func importTypeName(t *AttributeType) string {
	if t.Name == "set" && t.ElementType != nil {
		return t.ElementType.Name + "-set"
	}
	return t.Name
}

// typeName names an attribute type for a person: "set of lenum".
func typeName(t *AttributeType) string {
	if t.Name == "set" && t.ElementType != nil {
		return "set of " + typeName(t.ElementType)
	}
	return t.Name
}

// siblingVariant is a variant of a product as the constraint check sees
// it: its attributes, as a canonical JSON array.
type siblingVariant struct {
	field string        // path in the record being checked
	cv    *canonVariant // the record's variant; nil for a stored one
	attrs []byte
}

// attrsJSON is the JSON array of the attributes of cv to keep.
func (cv *canonVariant) attrsJSON(keep []bool) []byte {
	b := []byte{'['}
	for i, a := range cv.attrs {
		if keep[i] {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = append(b, a.json...)
		}
	}
	return append(b, ']')
}

// constrainedProducts are the products of the segment whose attribute
// constraints are checked: those of a product type with a constraint.
func (sg *segment) constrainedProducts() []string {
	anyNew := slices.ContainsFunc(sg.items, func(it *applyItem) bool {
		return it.t == ProductType && it.def != nil && len(it.def.constrained) > 0
	})
	var out []string
	for _, it := range sg.items {
		var product, typeKey string
		switch it.t {
		case Product:
			product, typeKey = it.key, it.typeKey
		case ProductVariant:
			product, typeKey = it.productKey, sg.products[it.productKey]
		default:
			continue
		}
		if def := sg.defs[typeKey]; anyNew || def != nil && len(def.constrained) > 0 {
			out = append(out, product)
		}
	}
	return out
}

// checkConstraints checks the constrained attributes of a product's
// variants as the record leaves them: its own variants (rows) over those
// the catalog and the segment hold. SameForAll: one value (or none) for
// every variant; Unique: no value twice; CombinationUnique: no combination
// of the CombinationUnique values twice. commercetools checks all three
// across the variants of one product, and so does the store.
func (sg *segment) checkConstraints(it *applyItem, def *productTypeDef, product string, rows map[string]siblingVariant) {
	if len(def.constrained) == 0 {
		return
	}
	variants := map[string]siblingVariant{}
	for sku, v := range sg.siblings[product] {
		variants[sku] = v
	}
	for sku, v := range rows {
		variants[sku] = v
	}
	skus := make([]string, 0, len(variants))
	for sku := range variants {
		skus = append(skus, sku)
	}
	// The record's variants first, in record order; then the others by sku.
	slices.SortFunc(skus, func(a, b string) int {
		va, vb := variants[a], variants[b]
		switch {
		case (va.cv == nil) != (vb.cv == nil):
			if va.cv == nil {
				return 1
			}
			return -1
		case va.cv != nil:
			return va.cv.order - vb.cv.order
		}
		return strings.Compare(a, b)
	})
	values := func(d *AttributeDefinition) []string {
		out := make([]string, len(skus))
		for i, sku := range skus {
			out[i] = sg.comparableOf(d, variants[sku].attrs)
		}
		return out
	}
	// report refuses the record at the attribute name of the variant sku.
	report := func(sku, name, msg string) {
		v := variants[sku]
		field := joinField(v.field, "attributes")
		if v.cv != nil {
			if i := slices.IndexFunc(v.cv.attrs, func(a canonAttribute) bool { return a.name == name }); i >= 0 {
				field = joinField(field, strconv.Itoa(i))
			}
		}
		it.refuse(DataErr(CodeAttributeConstraint, field, msg))
	}
	show := func(v string) string {
		if v == "" {
			return "no value"
		}
		return quote([]byte(v))
	}
	var combination []*AttributeDefinition
	for _, d := range def.constrained {
		switch d.AttributeConstraint {
		case "SameForAll":
			vs := values(d)
			for i := 1; i < len(vs); i++ {
				if vs[i] != vs[0] {
					report(skus[0], d.Name, fmt.Sprintf("attribute %q is SameForAll in product type %q, but variant %q has %s and variant %q has %s",
						d.Name, def.key, skus[0], show(vs[0]), skus[i], show(vs[i])))
					break
				}
			}
		case "Unique":
			vs := values(d)
			for i := range vs {
				if j := slices.Index(vs[:i], vs[i]); vs[i] != "" && j >= 0 {
					report(skus[j], d.Name, fmt.Sprintf("attribute %q is Unique in product type %q, but variants %q and %q both have %s",
						d.Name, def.key, skus[j], skus[i], show(vs[i])))
					break
				}
			}
		case "CombinationUnique":
			combination = append(combination, d)
		}
	}
	if len(combination) > 0 {
		combos := make([]string, len(skus))
		valued := make([]bool, len(skus)) // a variant with none of the values has no combination
		for _, d := range combination {
			for i, v := range values(d) {
				combos[i] += strconv.Quote(v) + ","
				valued[i] = valued[i] || v != ""
			}
		}
		names := make([]string, len(combination))
		for i, d := range combination {
			names[i] = strconv.Quote(d.Name)
		}
		for i := range combos {
			if j := slices.Index(combos[:i], combos[i]); valued[i] && j >= 0 {
				report(skus[j], combination[0].Name, fmt.Sprintf("attributes %s are CombinationUnique in product type %q, but variants %q and %q have the same values",
					strings.Join(names, ", "), def.key, skus[j], skus[i]))
				break
			}
		}
	}
}

// comparableOf is the comparable form of attribute d's value in a JSON
// array of attributes, "" when it has none.
func (sg *segment) comparableOf(d *AttributeDefinition, attrs []byte) string {
	if len(attrs) == 0 || sg.p.parse(attrs) != "" || sg.p.nodes[0].kind != jsonArray {
		return ""
	}
	j := int32(1)
	for range sg.p.nodes[0].count {
		if sg.p.memberText(j, "name") == d.Name {
			if v := sg.p.member(j, "value"); v >= 0 && sg.p.nodes[v].kind != jsonNull {
				return d.Type.comparable(sg.p, v)
			}
			return ""
		}
		j += sg.p.nodes[j].size
	}
	return ""
}

// variantsAttributesLoad returns the attributes of the variants of the
// given products: product → sku → attributes.
func variantsAttributesLoad(ctx context.Context, db database.DBTX, merchant string, products []string) (map[string]map[string]siblingVariant, error) {
	out := map[string]map[string]siblingVariant{}
	if len(products) == 0 {
		return out, nil
	}
	err := store.VariantsAttributes(ctx, db, merchant, products, func(product, sku string, attrs []byte) error {
		if out[product] == nil {
			out[product] = map[string]siblingVariant{}
		}
		out[product][sku] = siblingVariant{attrs: slices.Clone(attrs)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read variants' attributes: %w", err)
	}
	return out, nil
}

// pricesScopesLoad returns the scopes of the Price records of the given
// skus: sku → price key → scope (priceScope).
func (sg *segment) pricesScopesLoad(ctx context.Context, db database.DBTX, skus []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	if len(skus) == 0 {
		return out, nil
	}
	err := store.PricesOfSKUs(ctx, db, sg.merchant, skus, func(sku, key string, data []byte) error {
		if sg.p.parse(data) != "" {
			return nil
		}
		if out[sku] == nil {
			out[sku] = map[string]string{}
		}
		out[sku][key] = priceScope(sg.p, 0)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read prices: %w", err)
	}
	return out, nil
}

// checkPriceScope refuses a Price record with the scope of another Price
// record of its variant, and notes its own.
func (sg *segment) checkPriceScope(it *applyItem) {
	scopes := sg.priceScopes[it.sku]
	// In key order, so that the error names the same price every time.
	for _, key := range slices.Sorted(maps.Keys(scopes)) {
		if key != it.key && scopes[key] == it.scope {
			it.refuse(DataErr(CodeDuplicatePrice, "", fmt.Sprintf(
				"price %q of sku %q has the same scope (%s): two prices of a variant need different currencies, countries, customer groups, channels or validity",
				key, it.sku, describeScope(it.scope))))
			return
		}
	}
	if scopes == nil {
		scopes = map[string]string{}
		sg.priceScopes[it.sku] = scopes
	}
	scopes[it.key] = it.scope
}

// inventoryChannelsLoad returns the supply channel of the inventory entries
// of the given skus: sku → channel key ("" for none).
func inventoryChannelsLoad(ctx context.Context, db database.DBTX, merchant string, skus []string) (map[string]string, error) {
	out := map[string]string{}
	if len(skus) == 0 {
		return out, nil
	}
	err := store.InventoryChannels(ctx, db, merchant, skus, func(sku, channel string) error {
		out[sku] = channel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return out, nil
}

// checkStockChannel refuses an inventory entry for another supply channel
// than the entry the catalog holds for its sku. commercetools keeps one
// entry per sku and channel; importd identifies an entry by its sku alone,
// so the new entry would silently replace the other channel's stock.
func (sg *segment) checkStockChannel(it *applyItem) {
	stored, ok := sg.stockChannels[it.key]
	if ok && stored != it.channel {
		name := func(c string) string {
			if c == "" {
				return "no supply channel"
			}
			return fmt.Sprintf("supply channel %q", c)
		}
		it.refuse(DataErr(CodeUnsupportedField, "supplyChannel", fmt.Sprintf(
			"sku %q has an inventory entry for %s; importd keeps one inventory entry per sku, so one for %s would replace it",
			it.key, name(stored), name(it.channel))))
		return
	}
	sg.stockChannels[it.key] = it.channel
}
