package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// Store is the PostgreSQL catalog (the catalog_* tables of migration 00003),
// the Target the importer writes into by default. It is safe for
// concurrent use.
//
// Apply runs one transaction per batch and writes set-based: a few array-
// parameter statements per batch (internal/store's upserts, which write a
// row only when its data or its order changes), never one per record.
// Records are stored in canonical form (the contract's fields only, nulls
// dropped, reference typeIds filled in), so an identical re-import compares
// equal as jsonb, is reported Unchanged and writes nothing.
//
// What the store checks, beyond what Validate did: a Product's product type
// must be in the catalog; its variants' attributes must be defined by the type
// (others are dropped with an UNDEFINED_ATTRIBUTE warning) and the required
// ones present; a sku belongs to one product for good; a ProductVariant's
// product and a Price's sku must be in the catalog. Categories, tax
// categories and inventory are written as they come: the resolver orders
// references, the catalog needs none of them to store the record.
//
// A Product record adds and updates the variants it embeds and never removes
// one (deletion is not part of the contract). With a masterVariant it makes
// that variant the master and its other variants not; without one, and for a
// ProductVariant record without isMasterVariant, the variants keep their role.
// Making a variant the master demotes the previous master. Changing a
// product type does not touch the products already written with it.
//
// Every row has a version, 1 when created and counting the writes that
// changed it; a product's version also counts the changes of its variants.
//
// Every row also keeps the Order of the record that wrote it last
// (migration 00014), and a record that comes before it is not applied: it is
// Superseded, with a SUPERSEDED warning naming the later record's delivery.
// A Product record is ordered row by row (dropSuperseded): a variant the
// catalog holds from a later record is left as it is, with a SUPERSEDED
// warning for that variant, and a superseded product still adds the variants
// no later record wrote. Since the order must follow the data, a record
// identical to its row but after the one that wrote it rewrites the row's
// order (not its version): the only write an identical re-import makes.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns the catalog on pool, whose database has the schema.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Apply implements Target. Store never reports Failed: a failure is one of
// the whole batch.
func (s *Store) Apply(ctx context.Context, merchant string, recs []ApplyRecord) ([]ApplyResult, error) {
	if merchant == "" {
		return nil, errors.New("catalog: apply: no merchant")
	}
	if len(recs) == 0 {
		return []ApplyResult{}, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		// Not reaching the database says nothing about the records.
		return nil, fmt.Errorf("catalog: apply: begin: %w: %w", ErrTransient, err)
	}
	defer func() {
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rbCtx) // a no-op after Commit
	}()
	res, err := applyRecords(ctx, tx, merchant, recs)
	if err != nil {
		return nil, applyError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, applyError(fmt.Errorf("commit: %w", err))
	}
	return res, nil
}

// ApplyTx is Apply within the caller's transaction, so that the catalog
// writes commit or roll back with the caller's own (tracking state, the
// registry of known keys). Errors are reported as by Apply; after one the
// transaction is unusable and the caller must roll it back.
func (s *Store) ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []ApplyRecord) ([]ApplyResult, error) {
	if merchant == "" {
		return nil, errors.New("catalog: apply: no merchant")
	}
	if len(recs) == 0 {
		return []ApplyResult{}, nil
	}
	res, err := applyRecords(ctx, tx, merchant, recs)
	if err != nil {
		return nil, applyError(err)
	}
	return res, nil
}

// applyError wraps err in ErrTransient when retrying may help: what
// database.IsTransient says, a canceled context, and a unique violation,
// which can only mean that a concurrent batch wrote the same resources after
// this one read them (decisions are taken on locked rows).
func applyError(err error) error {
	if errors.Is(err, ErrTransient) {
		return fmt.Errorf("catalog: apply: %w", err)
	}
	if database.IsTransient(err) || errors.Is(err, context.Canceled) || database.HasCode(err, pgerrcode.UniqueViolation) {
		return fmt.Errorf("catalog: apply: %w: %w", ErrTransient, err)
	}
	return fmt.Errorf("catalog: apply: %w", err)
}

// Get returns a resource as stored, in canonical form: a Product with its
// variants (masterVariant, and the others as variants: in the order of the
// last Product record that listed them, then the others by sku), a
// ProductVariant with its product and isMasterVariant when it is the master.
// key is the sku for ProductVariant and InventoryEntry.
func (s *Store) Get(ctx context.Context, merchant string, t ResourceType, key string) (data []byte, found bool, err error) {
	get, ok := storeGet[t]
	if !ok {
		return nil, false, fmt.Errorf("catalog: get: unknown resource type %q", string(t))
	}
	data, found, err = get(ctx, s.pool, merchant, key)
	if err != nil {
		return nil, false, fmt.Errorf("catalog: get %s %s: %w", t, key, err)
	}
	return data, found, nil
}

// Count returns how many resources of type t the merchant has (for
// ProductVariant, every variant, embedded or not).
func (s *Store) Count(ctx context.Context, merchant string, t ResourceType) (int, error) {
	table, ok := storeTables[t]
	if !ok {
		return 0, fmt.Errorf("catalog: count: unknown resource type %q", string(t))
	}
	n, err := store.CatalogCount(ctx, s.pool, table, merchant)
	if err != nil {
		return 0, fmt.Errorf("catalog: count %s: %w", t, err)
	}
	return n, nil
}

// storeTables names the table of each resource type.
var storeTables = map[ResourceType]string{
	ProductType:    store.TableProductTypes,
	Category:       store.TableCategories,
	TaxCategory:    store.TableTaxCategories,
	CustomerGroup:  store.TableCustomerGroups,
	Channel:        store.TableChannels,
	Product:        store.TableProducts,
	ProductVariant: store.TableVariants,
	Price:          store.TablePrices,
	InventoryEntry: store.TableInventory,
}

// TableOf is the catalog table of resource type t and its identity column
// (key, or sku for the types identified by sku).
func TableOf(t ResourceType) (table, column string) {
	column = "key"
	if t.IdentifiedBySKU() {
		column = "sku"
	}
	return storeTables[t], column
}

// Applying a batch.
//
// Each record is first decoded and put in canonical form, without the
// database. The batch is then cut into segments, runs of consecutive records
// of which no two write the same row (a record that would write a row an
// earlier record of the segment writes starts a new segment); a batch of
// distinct identities is one segment. Each segment is applied with a handful
// of statements: it reads what its records need (product types, products,
// the owners of its skus, locked), decides every record in batch order on
// that state and on what the records before it in the segment decided, and
// writes the outcome set-based. Later segments read what earlier ones wrote,
// so records are applied as if one by one, in order.

// applyItem is one record of the batch on its way into the catalog.
type applyItem struct {
	idx  int // in recs and results
	t    ResourceType
	key  string // identity
	data []byte // canonical record; a Product's without its variants

	parent     string          // Category: parent key
	def        *productTypeDef // ProductType: its attribute definitions
	typeKey    string          // Product: its product type
	hasMaster  bool            // Product: variants[0] is its masterVariant
	productKey string          // ProductVariant: its product
	isMaster   bool            // ProductVariant: isMasterVariant
	sku        string          // Price: the variant's sku
	quantity   int64           // InventoryEntry: quantityOnStock
	channel    string          // InventoryEntry: its supply channel's key, "" for none
	variants   []*canonVariant // Product: its variants, master first; ProductVariant: itself
	own        *canonVariant   // Product: the product without its variants, its own attributes apart
	scope      string          // Price: its scope (priceScope)

	refused bool
	errs    []Error
	warns   []Error

	order      Order // where the record comes among the writes of its resource
	superseded bool  // a record after it wrote its resource: nothing of it is written
}

// canonVariant is a variant in canonical form, its attributes apart so that
// the undefined ones can be dropped.
type canonVariant struct {
	order    int    // its place in the record: 0 for the master or a ProductVariant record, i+1 for variants.i
	field    string // path in the record: "masterVariant", "variants.3", "" for a ProductVariant record
	sku      string
	base     []byte // the canonical object without attributes
	hasAttrs bool
	attrs    []canonAttribute
}

type canonAttribute struct {
	name     string
	typ      string // the Import API's type discriminator, "" when not given
	hasValue bool   // a value that is not null
	value    []byte // the value as written in the record (nil when absent or null)
	json     []byte
}

func (it *applyItem) refuse(e Error) {
	it.refused = true
	it.errs = append(it.errs, e)
}

// supersede notes that the record that wrote a row of it comes after it
// (newer): the whole record when field is "", else the variant at field,
// which is then not written while the rest of the record is.
func (it *applyItem) supersede(newer Order, field string) {
	by := fmt.Sprintf("delivery %s (accepted %s, position %d)", newer.Receipt, newer.At.Format(time.RFC3339Nano), newer.Seq)
	if newer.Receipt == it.order.Receipt {
		by = fmt.Sprintf("a later record of this delivery (position %d)", newer.Seq)
	}
	if field == "" {
		it.superseded = true
		it.warns = []Error{DataErr(CodeSuperseded, "", fmt.Sprintf("the catalog holds %s %q as written by %s, which comes after this record: this record's data for it was not applied", it.t, it.key, by))}
		return
	}
	it.warns = append(it.warns, DataErr(CodeSuperseded, field, fmt.Sprintf("the variant was not written: the catalog holds it as written by %s, which comes after this record", by)))
}

func applyRecords(ctx context.Context, tx pgx.Tx, merchant string, recs []ApplyRecord) ([]ApplyResult, error) {
	results := make([]ApplyResult, len(recs))
	items := prepareItems(recs)
	var seg []*applyItem
	written := make(map[rowID]bool)
	flush := func() error {
		if len(seg) == 0 {
			return nil
		}
		err := applySegment(ctx, tx, merchant, seg, results)
		seg = seg[:0]
		clear(written)
		return err
	}
	for _, it := range items {
		if it.refused {
			results[it.idx] = ApplyResult{Outcome: Refused, Errors: it.errs}
			continue
		}
		rows := it.rows()
		for _, r := range rows {
			if written[r] {
				if err := flush(); err != nil {
					return nil, err
				}
				break
			}
		}
		for _, r := range rows {
			written[r] = true
		}
		seg = append(seg, it)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return results, nil
}

// noPosition is the position of a variant that no Product record placed.
const noPosition = -1

// rowID names a row a record writes: the table (a ResourceType; masterSlot
// for "which variant of the product is the master") and the identity.
type rowID struct {
	t  ResourceType
	id string
}

const masterSlot ResourceType = "master"

func (it *applyItem) rows() []rowID {
	rows := []rowID{{it.t, it.key}}
	switch it.t {
	case Product:
		for _, v := range it.variants {
			rows = append(rows, rowID{ProductVariant, v.sku})
		}
		if it.hasMaster {
			rows = append(rows, rowID{masterSlot, it.key})
		}
	case ProductVariant:
		if it.isMaster {
			rows = append(rows, rowID{masterSlot, it.productKey})
		}
	}
	return rows
}

// prepareItems decodes the records and puts them in canonical form.
func prepareItems(recs []ApplyRecord) []*applyItem {
	v := validators.Get().(*validator) // for its parser
	defer v.release()
	w := canonWriter{p: &v.parser}
	items := make([]*applyItem, len(recs))
	for i, rec := range recs {
		it := &applyItem{idx: i, t: rec.Type, key: rec.Key, order: rec.Order}
		if !it.order.IsZero() {
			it.order.At = it.order.At.UTC().Truncate(time.Microsecond) // as stored
		}
		items[i] = it
		s := schemaOf(rec.Type)
		if s == nil {
			it.refuse(DataErr(CodeMalformedRecord, "", fmt.Sprintf("unknown resource type %q", string(rec.Type))))
			continue
		}
		if msg := v.parse(rec.Data); msg != "" {
			it.refuse(DataErr(CodeMalformedRecord, "", "not a readable JSON object: "+msg))
			continue
		}
		if k := v.nodes[0].kind; k != jsonObject {
			it.refuse(DataErr(CodeMalformedRecord, "", "expected a JSON object, got "+k.String()))
			continue
		}
		w.at("")
		w.warns = w.warns[:0]
		w.prepare(it, s, rec)
		if !it.refused && len(w.warns) > 0 {
			it.warns = append(it.warns, w.warns...)
		}
	}
	return items
}

func (w *canonWriter) prepare(it *applyItem, s *schema, rec ApplyRecord) {
	idField := "key"
	if rec.Type.IdentifiedBySKU() {
		idField = "sku"
	}
	id := w.memberText(0, idField)
	switch {
	case id == "":
		it.refuse(DataErr(CodeRequiredField, idField, "the record has no "+idField))
		return
	case it.key == "":
		it.key = id
	case it.key != id:
		it.refuse(DataErr(CodeInvalidKey, idField, fmt.Sprintf("the operation is for %q but the record's %s is %q", it.key, idField, id)))
		return
	}
	required := func(v, field string) bool {
		if v == "" {
			it.refuse(DataErr(CodeRequiredField, field, "required field is missing"))
		}
		return v != ""
	}
	switch rec.Type {
	case Product:
		it.own = w.variant(0, s, "", "masterVariant", "variants")
		it.typeKey = w.memberText(w.member(0, "productType"), "key")
		if !required(it.typeKey, "productType.key") {
			return
		}
		if mv := w.member(0, "masterVariant"); mv >= 0 && w.p.nodes[mv].kind == jsonObject {
			it.hasMaster = true
			it.variants = append(it.variants, w.variant(mv, variant, "masterVariant"))
		}
		if vs := w.member(0, "variants"); vs >= 0 && w.p.nodes[vs].kind == jsonArray {
			j := vs + 1
			for i := range w.p.nodes[vs].count {
				if w.p.nodes[j].kind == jsonObject {
					cv := w.variant(j, variant, "variants."+strconv.Itoa(int(i)))
					cv.order = int(i) + 1
					it.variants = append(it.variants, cv)
				}
				j += w.p.nodes[j].size
			}
		}
		for _, cv := range it.variants {
			if !required(cv.sku, joinField(cv.field, "sku")) {
				return
			}
		}
	case ProductVariant:
		it.productKey = w.memberText(w.member(0, "product"), "key")
		if !required(it.productKey, "product.key") {
			return
		}
		if m := w.member(0, "isMasterVariant"); m >= 0 && w.p.nodes[m].kind == jsonBool {
			it.isMaster = w.p.data[w.p.nodes[m].start] == 't'
		}
		it.variants = []*canonVariant{w.variant(0, s, "", "product", "isMasterVariant")}
		w.lint(w.member(0, "product"), "product", s.fields[s.index("product")].schema)
	case ProductType:
		it.data = w.objectBytes(0, s)
		def, err := productTypeDefOf(it.data)
		if err != nil {
			it.refuse(DataErr(CodeMalformedRecord, "", err.Error()))
			return
		}
		it.def = def
	case Category:
		it.data = w.objectBytes(0, s)
		it.parent = w.memberText(w.member(0, "parent"), "key")
	case Price:
		it.data = w.objectBytes(0, s)
		it.sku = w.memberText(0, "sku")
		it.scope = priceScope(w.p, 0)
		required(it.sku, "sku")
	case InventoryEntry:
		it.data = w.objectBytes(0, s)
		it.channel = w.memberText(w.member(0, "supplyChannel"), "key")
		if q := w.member(0, "quantityOnStock"); q >= 0 && w.p.nodes[q].kind == jsonNumber {
			n, err := strconv.ParseInt(string(w.p.raw(q)), 10, 64)
			if err != nil {
				it.refuse(DataErr(CodeInvalidType, "quantityOnStock", "expected an integer"))
				return
			}
			it.quantity = n
		} else {
			it.refuse(DataErr(CodeRequiredField, "quantityOnStock", "required field is missing"))
		}
	default: // TaxCategory
		it.data = w.objectBytes(0, s)
	}
}

func joinField(prefix, field string) string {
	if prefix == "" {
		return field
	}
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// segment is the state one segment is decided on: what the database holds,
// read at its start, and what the records of the segment decided so far.
type segment struct {
	merchant string
	items    []*applyItem

	defs      map[string]*productTypeDef // product types by key
	products  map[string]string          // product key → product type key
	variants  map[string]loadedVariant   // sku → the variant, locked (the skus the segment writes)
	skus      map[string]bool            // skus the segment's prices need, that exist
	claimed   map[string]string          // sku → product, claimed by a record of the segment
	masterSet map[string]*applyItem      // product key → the record making one of its variants the master

	siblings      map[string]map[string]siblingVariant // product → sku → attributes, for the products with constraints
	priceScopes   map[string]map[string]string         // sku → price key → scope, of the Price records of the segment's skus
	stockChannels map[string]string                    // sku → the supply channel of its inventory entry, of the segment's entries

	p    *parser // reads attribute values and stored rows
	rows []variantRow
}

type loadedVariant struct {
	product  string
	isMaster bool
	position int32 // noPosition for none
	version  int64
	order    Order // of the record that wrote it last
}

// variantRow is a row of catalog_variants a record writes.
type variantRow struct {
	item     *applyItem
	cv       *canonVariant
	product  string
	master   int8  // 1: the master; 0: not; -1: keeps its role
	position int32 // noPosition for none
	data     []byte
	isNew    bool // the sku was nobody's when the segment read it
}

func applySegment(ctx context.Context, tx pgx.Tx, merchant string, items []*applyItem, results []ApplyResult) error {
	v := validators.Get().(*validator) // for its parser
	defer v.release()
	sg := &segment{
		merchant: merchant, items: items,
		claimed: map[string]string{}, masterSet: map[string]*applyItem{},
		p: &v.parser,
	}
	if err := sg.load(ctx, tx); err != nil {
		return err
	}
	for _, it := range items {
		sg.decide(it)
	}
	return sg.write(ctx, tx, results)
}

// load reads what the segment's records need from the database.
func (sg *segment) load(ctx context.Context, tx pgx.Tx) error {
	var typeKeys, productKeys, writeSKUs, priceSKUs, stockSKUs []string
	for _, it := range sg.items {
		switch it.t {
		case Product:
			typeKeys = append(typeKeys, it.typeKey)
			for _, cv := range it.variants {
				writeSKUs = append(writeSKUs, cv.sku)
			}
		case ProductVariant:
			productKeys = append(productKeys, it.productKey)
			writeSKUs = append(writeSKUs, it.key)
		case Price:
			priceSKUs = append(priceSKUs, it.sku)
		case InventoryEntry:
			stockSKUs = append(stockSKUs, it.key)
		}
	}
	var err error
	if len(typeKeys)+len(productKeys) > 0 {
		if sg.defs, err = productTypesLoad(ctx, tx, sg.merchant, typeKeys, productKeys); err != nil {
			return err
		}
	} else {
		sg.defs = map[string]*productTypeDef{}
	}
	if sg.products, err = productsLoad(ctx, tx, sg.merchant, productKeys); err != nil {
		return err
	}
	if sg.variants, err = variantsLock(ctx, tx, sg.merchant, writeSKUs); err != nil {
		return err
	}
	if sg.skus, err = variantsExisting(ctx, tx, sg.merchant, priceSKUs); err != nil {
		return err
	}
	if sg.siblings, err = variantsAttributesLoad(ctx, tx, sg.merchant, sg.constrainedProducts()); err != nil {
		return err
	}
	if sg.priceScopes, err = sg.pricesScopesLoad(ctx, tx, priceSKUs); err != nil {
		return err
	}
	if sg.stockChannels, err = inventoryChannelsLoad(ctx, tx, sg.merchant, stockSKUs); err != nil {
		return err
	}
	return nil
}

// owner is the product a sku belongs to.
func (sg *segment) owner(sku string) (string, bool) {
	if p, ok := sg.claimed[sku]; ok {
		return p, true
	}
	v, ok := sg.variants[sku]
	return v.product, ok
}

// decide checks a record against the state of the catalog as the records
// before it in the batch left it, and notes what it writes.
func (sg *segment) decide(it *applyItem) {
	switch it.t {
	case ProductType:
		sg.defs[it.key] = it.def
	case Product:
		sg.decideProduct(it)
	case ProductVariant:
		sg.decideVariant(it)
	case Price:
		if _, claimed := sg.claimed[it.sku]; !claimed && !sg.skus[it.sku] {
			it.refuse(DataErr(CodeUnknownReference, "sku", fmt.Sprintf(
				"no variant has the sku %q; the resolver should have waited for it", it.sku)))
			return
		}
		sg.checkPriceScope(it)
	case InventoryEntry:
		sg.checkStockChannel(it)
	}
}

func (sg *segment) decideProduct(it *applyItem) {
	def := sg.defs[it.typeKey]
	if def == nil {
		it.refuse(DataErr(CodeUnknownReference, "productType", fmt.Sprintf(
			"product type %q is not in the catalog; the resolver should have waited for it", it.typeKey)))
		return
	}
	for i, cv := range it.variants {
		field := joinField(cv.field, "sku")
		if slices.ContainsFunc(it.variants[:i], func(o *canonVariant) bool { return o.sku == cv.sku }) {
			it.refuse(DataErr(CodeDuplicateSKU, field, fmt.Sprintf("sku %q is given to more than one variant of the product", cv.sku)))
		} else if owner, ok := sg.owner(cv.sku); ok && owner != it.key {
			it.refuse(DataErr(CodeDuplicateSKU, field, fmt.Sprintf("sku %q belongs to product %q", cv.sku, owner)))
		}
	}
	ownKeep := sg.checkAttributes(it, def, it.own, levelProduct)
	keeps := make([][]bool, len(it.variants))
	rows := make(map[string]siblingVariant, len(it.variants))
	for i, cv := range it.variants {
		keeps[i] = sg.checkAttributes(it, def, cv, levelVariant)
		rows[cv.sku] = siblingVariant{field: cv.field, cv: cv, attrs: cv.attrsJSON(keeps[i])}
	}
	if !it.refused {
		sg.checkConstraints(it, def, it.key, rows)
	}
	if it.refused {
		it.warns = nil
		return
	}
	it.data = it.own.json(ownKeep)
	sg.noteSiblings(it.key, rows)
	sg.products[it.key] = it.typeKey
	if it.hasMaster {
		sg.masterSet[it.key] = it
	}
	for i, cv := range it.variants {
		row := variantRow{item: it, cv: cv, product: it.key, data: cv.json(keeps[i])}
		switch {
		case it.hasMaster && i == 0:
			row.master, row.position = 1, 0
		case it.hasMaster:
			row.master, row.position = 0, int32(i)
		default:
			row.master, row.position = -1, int32(i+1)
		}
		sg.addRow(row)
	}
}

func (sg *segment) decideVariant(it *applyItem) {
	typeKey, ok := sg.products[it.productKey]
	if !ok {
		it.refuse(DataErr(CodeUnknownReference, "product", fmt.Sprintf(
			"product %q is not in the catalog; the resolver should have waited for it", it.productKey)))
		return
	}
	cv := it.variants[0]
	if owner, ok := sg.owner(it.key); ok && owner != it.productKey {
		it.refuse(DataErr(CodeDuplicateSKU, "sku", fmt.Sprintf("sku %q belongs to product %q", it.key, owner)))
		return
	}
	def := sg.defs[typeKey]
	if def == nil {
		it.refuse(DataErr(CodeUnknownReference, "product", fmt.Sprintf(
			"product type %q of product %q is not in the catalog", typeKey, it.productKey)))
		return
	}
	keep := sg.checkAttributes(it, def, cv, levelVariant)
	rows := map[string]siblingVariant{cv.sku: {field: cv.field, cv: cv, attrs: cv.attrsJSON(keep)}}
	if !it.refused {
		sg.checkConstraints(it, def, it.productKey, rows)
	}
	if it.refused {
		it.warns = nil
		return
	}
	sg.noteSiblings(it.productKey, rows)
	row := variantRow{item: it, cv: cv, product: it.productKey, data: cv.json(keep), master: -1, position: noPosition}
	if it.isMaster {
		row.master = 1
		sg.masterSet[it.productKey] = it
	}
	sg.addRow(row)
}

// noteSiblings notes the variants a record writes for the constraint
// checks of the records after it.
func (sg *segment) noteSiblings(product string, rows map[string]siblingVariant) {
	m := sg.siblings[product]
	if m == nil {
		return // the product's type has no constraint
	}
	for sku, v := range rows {
		m[sku] = siblingVariant{attrs: v.attrs}
	}
}

func (sg *segment) addRow(row variantRow) {
	loaded, ok := sg.variants[row.cv.sku]
	row.isNew = !ok
	if ok && row.item.t == ProductVariant {
		row.position = loaded.position // a ProductVariant record keeps the variant's place, if it has one
	}
	sg.claimed[row.cv.sku] = row.product
	sg.rows = append(sg.rows, row)
}

// json is the variant with the attributes to keep.
func (cv *canonVariant) json(keep []bool) []byte {
	if !cv.hasAttrs {
		return cv.base
	}
	b := make([]byte, 0, len(cv.base)+64*len(cv.attrs))
	b = append(b, cv.base[:len(cv.base)-1]...)
	if len(cv.base) > 2 {
		b = append(b, ',')
	}
	b = append(b, `"attributes":[`...)
	first := true
	for i, a := range cv.attrs {
		if !keep[i] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, a.json...)
	}
	return append(b, "]}"...)
}

// write writes what the segment's records decided and sets their results.
func (sg *segment) write(ctx context.Context, tx pgx.Tx, results []ApplyResult) error {
	byType := map[ResourceType][]*applyItem{}
	for _, it := range sg.items {
		if it.refused {
			results[it.idx] = ApplyResult{Outcome: Refused, Errors: it.errs}
			continue
		}
		if it.t != ProductVariant {
			byType[it.t] = append(byType[it.t], it)
		}
	}
	// Rows in identity order: concurrent batches lock shared rows in the
	// same order.
	for _, its := range byType {
		slices.SortFunc(its, func(a, b *applyItem) int { return strings.Compare(a.key, b.key) })
	}
	changed := map[rowID]bool{} // row → inserted
	for _, t := range []ResourceType{ProductType, Category, TaxCategory, CustomerGroup, Channel, Product} {
		if err := rowsUpsert(ctx, tx, sg.merchant, t, byType[t], changed); err != nil {
			return err
		}
	}
	sg.dropSuperseded()
	demoted, err := sg.demote(ctx, tx, changed)
	if err != nil {
		return err
	}
	if err := sg.writeVariants(ctx, tx, changed); err != nil {
		return err
	}
	for _, t := range []ResourceType{Price, InventoryEntry} {
		if err := rowsUpsert(ctx, tx, sg.merchant, t, byType[t], changed); err != nil {
			return err
		}
	}

	for _, r := range sg.rows {
		inserted, ok := changed[rowID{ProductVariant, r.cv.sku}]
		if r.isNew && !(ok && inserted) {
			return fmt.Errorf("%w: sku %q was written by a concurrent batch", ErrTransient, r.cv.sku)
		}
	}
	rowsOf := map[*applyItem][]variantRow{}
	for _, r := range sg.rows {
		rowsOf[r.item] = append(rowsOf[r.item], r)
	}
	var touchedProducts []string
	for _, it := range sg.items {
		if it.refused {
			continue
		}
		self := it.ref()
		res := ApplyResult{Warnings: it.warns, Resources: make([]Reference, 1, 1+len(rowsOf[it]))}
		res.Resources[0] = rowReference(self)
		for _, r := range rowsOf[it] {
			if r.cv.sku != it.key || it.t != ProductVariant {
				res.Resources = append(res.Resources, Reference{TypeID: ProductVariant.TypeID(), SKU: r.cv.sku})
			}
		}
		inserted, touched := changed[self]
		for _, r := range rowsOf[it] {
			if r.cv.sku == it.key && it.t == ProductVariant {
				continue
			}
			if ins, ok := changed[rowID{ProductVariant, r.cv.sku}]; ok {
				touched = true
				ref := Reference{TypeID: ProductVariant.TypeID(), SKU: r.cv.sku}
				if ins {
					res.Created = append(res.Created, ref)
				} else {
					res.Updated = append(res.Updated, ref)
				}
			}
		}
		for _, sku := range demoted[it] {
			touched = true
			if ref := (Reference{TypeID: ProductVariant.TypeID(), SKU: sku}); !slices.Contains(res.Updated, ref) {
				res.Updated = append(res.Updated, ref)
			}
		}
		switch {
		case it.superseded && !touched:
			results[it.idx] = ApplyResult{Outcome: Superseded, Warnings: it.warns}
			continue
		case inserted:
			res.Outcome = Created
			res.Created = append([]Reference{rowReference(self)}, res.Created...)
		case touched:
			res.Outcome = Updated
			res.Updated = append([]Reference{rowReference(self)}, res.Updated...)
		default:
			res.Outcome = Unchanged
		}
		results[it.idx] = res
		// A product's version follows its variants.
		product := it.productKey
		if it.t == Product {
			product = it.key
		}
		if _, written := changed[rowID{Product, product}]; touched && product != "" && !written {
			touchedProducts = append(touchedProducts, product)
		}
	}
	return productsTouch(ctx, tx, sg.merchant, touchedProducts)
}

func (it *applyItem) ref() rowID { return rowID{it.t, it.key} }

// dropSuperseded takes out of the segment the variant rows the catalog
// holds as written by a record after the one writing them now (locked by
// variantsLock, so the order read is the order written), so that each row
// ends as the last record to write it left it, whatever order the records
// come in. A ProductVariant record whose row is one is superseded; a Product
// record gets a SUPERSEDED warning for the variant. A superseded Product
// record still writes its variants that no later record wrote (a product
// never loses a variant, so the later record left them as they were), but
// does not change which one is the master: that was the later record's to
// say.
func (sg *segment) dropSuperseded() {
	rows := sg.rows[:0]
	for _, r := range sg.rows {
		if newer := sg.variants[r.cv.sku].order; !r.isNew && r.item.order.Before(newer) {
			switch {
			case r.item.t == ProductVariant:
				r.item.supersede(newer, "")
			case !r.item.superseded:
				r.item.supersede(newer, r.cv.field)
			}
			if r.master == 1 && sg.masterSet[r.product] == r.item {
				delete(sg.masterSet, r.product)
			}
			continue
		}
		if r.item.superseded {
			r.master = -1
		}
		rows = append(rows, r)
	}
	clear(sg.rows[len(rows):])
	sg.rows = rows
	for p, it := range sg.masterSet {
		if it.superseded {
			delete(sg.masterSet, p)
		}
	}
}

// rowReference is the reference of the resource of row r.
func rowReference(r rowID) Reference {
	if r.t.IdentifiedBySKU() {
		return Reference{TypeID: r.t.TypeID(), SKU: r.id}
	}
	return Reference{TypeID: r.t.TypeID(), Key: r.id}
}

// demote takes the master role from the variants that lose it to a variant
// the segment makes the master, and returns them by the record responsible.
func (sg *segment) demote(ctx context.Context, tx pgx.Tx, changed map[rowID]bool) (map[*applyItem][]string, error) {
	if len(sg.masterSet) == 0 {
		return nil, nil
	}
	products := make([]string, 0, len(sg.masterSet))
	for p := range sg.masterSet {
		// A product this segment created has no variant of an earlier
		// master: nothing to demote (a variant is only ever written with
		// or after its product).
		if inserted, written := changed[rowID{Product, p}]; !(written && inserted) {
			products = append(products, p)
		}
	}
	if len(products) == 0 {
		return nil, nil
	}
	slices.Sort(products)
	skus := make([]string, len(products))
	for i, p := range products {
		it := sg.masterSet[p]
		skus[i] = it.variants[0].sku // a Product's master comes first; a ProductVariant is its only variant
	}
	got, err := variantsDemote(ctx, tx, sg.merchant, products, skus)
	if err != nil {
		return nil, err
	}
	out := map[*applyItem][]string{}
	for product, demotedSKUs := range got {
		out[sg.masterSet[product]] = demotedSKUs
	}
	return out, nil
}

// writeVariants writes the segment's variant rows.
func (sg *segment) writeVariants(ctx context.Context, tx pgx.Tx, changed map[rowID]bool) error {
	if len(sg.rows) == 0 {
		return nil
	}
	rows := slices.Clone(sg.rows)
	slices.SortFunc(rows, func(a, b variantRow) int { return strings.Compare(a.cv.sku, b.cv.sku) })
	n := len(rows)
	cols := store.VariantRows{SKUs: make([]string, n), Products: make([]string, n), Data: make([]string, n),
		Masters: make([]bool, n), Positions: make([]int32, n)}
	orders := make([]Order, n)
	for i, r := range rows {
		cols.SKUs[i], cols.Products[i], cols.Data[i], cols.Positions[i], orders[i] = r.cv.sku, r.product, string(r.data), r.position, r.item.order
		switch r.master {
		case 1:
			cols.Masters[i] = true
		case -1:
			// Keeps its role, unless the segment gives the product another master.
			_, replaced := sg.masterSet[r.product]
			cols.Masters[i] = !replaced && sg.variants[r.cv.sku].isMaster
		}
	}
	return variantsUpsert(ctx, tx, sg.merchant, cols, orders, sg.variants, changed)
}

// The canonical form of a record.

// canonWriter writes records in canonical form: only the fields of the
// contract's schema (unknown members and null members dropped; values of
// free-form attribute values and localized strings kept whole), a
// reference's typeId filled in when omitted, strings with escapes or invalid
// UTF-8 rewritten (as Decode reads them: U+FFFD for what is not a character),
// and numbers with an exponent or very long rewritten as the float64 they
// are. The result is valid input for jsonb, and two records Decode reads
// alike compare equal as jsonb.
type canonWriter struct {
	p     *parser
	buf   []byte
	tmp   []byte
	path  fieldPath // of the value being written
	warns []Error   // UNKNOWN_FIELD warnings of the record being written
}

// member is the value node of the first member of object n with the given
// name, or -1.
func (w *canonWriter) member(n int32, name string) int32 { return w.p.member(n, name) }

// memberText is the text of the string member name of object n, or "".
func (w *canonWriter) memberText(n int32, name string) string { return w.p.memberText(n, name) }

// at sets the path the next values are written at ("masterVariant").
func (w *canonWriter) at(path string) { w.path = append(w.path[:0], path...) }

// objectBytes returns object n in canonical form, without the fields omit.
func (w *canonWriter) objectBytes(n int32, s *schema, omit ...string) []byte {
	w.buf = w.buf[:0]
	w.object(n, s, omit)
	return slices.Clone(w.buf)
}

// variant puts the variant object n in canonical form.
func (w *canonWriter) variant(n int32, s *schema, field string, omit ...string) *canonVariant {
	cv := &canonVariant{field: field, sku: w.memberText(n, "sku")}
	w.at(field)
	cv.base = w.objectBytes(n, s, append(omit, "attributes")...)
	a := w.member(n, "attributes")
	if a < 0 || w.p.nodes[a].kind != jsonArray {
		return cv
	}
	cv.hasAttrs = true
	elem := attributes.elem.schema
	j := a + 1
	for i := range int(w.p.nodes[a].count) {
		if w.p.nodes[j].kind == jsonObject {
			v := w.member(j, "value")
			w.at(joinField(field, "attributes."+strconv.Itoa(i)))
			cv.attrs = append(cv.attrs, canonAttribute{
				name:     w.memberText(j, "name"),
				typ:      w.memberText(j, "type"),
				hasValue: v >= 0 && w.p.nodes[v].kind != jsonNull,
				value:    w.valueOf(v),
				json:     w.objectBytes(j, elem),
			})
		}
		j += w.p.nodes[j].size
	}
	return cv
}

// lint reports the unknown fields of node n (-1: none), at path, without
// writing it: a field the record's canonical form keeps elsewhere.
func (w *canonWriter) lint(n int32, path string, s *schema) {
	if n < 0 || w.p.nodes[n].kind == jsonNull {
		return
	}
	w.at(path)
	keep := len(w.buf)
	w.value(n, s)
	w.buf = w.buf[:keep]
}

// valueOf is the value node n as written in the record, nil for none.
func (w *canonWriter) valueOf(n int32) []byte {
	if n < 0 || w.p.nodes[n].kind == jsonNull {
		return nil
	}
	return w.p.raw(n)
}

// value appends node n, described by s (nil: free-form).
func (w *canonWriter) value(n int32, s *schema) {
	nd := &w.p.nodes[n]
	switch nd.kind {
	case jsonObject:
		switch {
		case s != nil && s.kind == valueObject:
			w.object(n, s, nil)
		case s != nil && s.kind == valueMap:
			w.mapObject(n, s.elem.schema)
		default:
			w.mapObject(n, nil)
		}
	case jsonArray:
		var elem *schema
		if s != nil && s.kind == valueArray {
			elem = s.elem.schema
		}
		w.buf = append(w.buf, '[')
		j := n + 1
		for i := range int(nd.count) {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			at := w.path.pushIndex(i)
			w.value(j, elem)
			w.path.pop(at)
			j += w.p.nodes[j].size
		}
		w.buf = append(w.buf, ']')
	case jsonString:
		w.str(n)
	case jsonNumber:
		w.num(n)
	default:
		w.buf = append(w.buf, w.p.raw(n)...)
	}
}

// object appends object n with the fields of s but those in omit. A member
// s does not name is not written: it is reported as an UNKNOWN_FIELD
// warning, so that nothing is dropped in silence.
func (w *canonWriter) object(n int32, s *schema, omit []string) {
	w.buf = append(w.buf, '{')
	first, hasTypeID := true, false
	j := n + 1
	for range w.p.nodes[n].count {
		name, val := j, j+1
		j = val + w.p.nodes[val].size
		if w.p.nodes[val].kind == jsonNull {
			continue
		}
		var i int
		var nameText []byte
		if nd := &w.p.nodes[name]; nd.flags&flagEscaped == 0 {
			nameText = w.p.data[nd.start+1 : nd.end-1]
		} else {
			w.tmp = w.p.appendText(w.tmp[:0], name)
			nameText = w.tmp
		}
		i = s.lookup(nameText)
		if i < 0 {
			at := w.path.pushName(nameText)
			w.warns = append(w.warns, DataErr(CodeUnknownField, string(w.path),
				"the field is not part of the record contract (nor of the commercetools draft): it was not stored"))
			w.path.pop(at)
			continue
		}
		if slices.Contains(omit, s.fields[i].name) {
			continue
		}
		f := &s.fields[i]
		if (f.name == "typeId" || f.schema.format == formatDate) && w.p.nodes[val].kind == jsonString && w.p.nodes[val].end-w.p.nodes[val].start == 2 {
			continue // "": as if omitted (a typeId is filled in below)
		}
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		hasTypeID = hasTypeID || f.name == "typeId"
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, f.name...)
		w.buf = append(w.buf, '"', ':')
		at := w.path.push(f.name)
		w.value(val, f.schema)
		w.path.pop(at)
	}
	if s.typeID != "" && !hasTypeID && s.index("typeId") >= 0 {
		if !first {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, `"typeId":"`...)
		w.buf = append(w.buf, s.typeID...)
		w.buf = append(w.buf, '"')
	}
	w.buf = append(w.buf, '}')
}

// mapObject appends object n with all its members, every member's value
// described by elem (nil: free-form).
func (w *canonWriter) mapObject(n int32, elem *schema) {
	w.buf = append(w.buf, '{')
	j := n + 1
	for i := range w.p.nodes[n].count {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.str(j)
		w.buf = append(w.buf, ':')
		var at int
		if nd := &w.p.nodes[j]; nd.flags&flagEscaped == 0 {
			at = w.path.pushName(w.p.data[nd.start+1 : nd.end-1])
		} else {
			at = w.path.pushName(w.p.appendText(w.tmp[:0], j))
		}
		w.value(j+1, elem)
		w.path.pop(at)
		j += 1 + w.p.nodes[j+1].size
	}
	w.buf = append(w.buf, '}')
}

// str appends the string node n.
func (w *canonWriter) str(n int32) {
	if w.p.nodes[n].flags&flagEscaped == 0 {
		w.buf = append(w.buf, w.p.raw(n)...) // printable, valid UTF-8, no escapes
		return
	}
	w.tmp = w.p.appendText(w.tmp[:0], n)
	w.buf = appendJSONString(w.buf, w.tmp)
}

// appendJSONString appends s, valid UTF-8, as a JSON string. NUL, which
// jsonb cannot hold (and Validate refuses), becomes U+FFFD.
func appendJSONString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == 0:
			b = utf8.AppendRune(b, utf8.RuneError)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// num appends the number node n.
func (w *canonWriter) num(n int32) {
	raw := w.p.raw(n)
	if w.p.nodes[n].flags&flagInt == 0 && (len(raw) > 32 || bytes.ContainsAny(raw, "eE")) {
		// 1e-400 or 0.000…1 would be beyond what jsonb's numeric holds.
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			w.buf = strconv.AppendFloat(w.buf, f, 'g', -1, 64)
			return
		}
	}
	w.buf = append(w.buf, raw...)
}

// Reading and writing the rows (internal/store). Every write takes arrays:
// one statement writes a whole segment of a table.

// productTypesLoad returns the product types with the given keys and those of
// the products with the given keys.
func productTypesLoad(ctx context.Context, db database.DBTX, merchant string, keys, productKeys []string) (map[string]*productTypeDef, error) {
	defs := map[string]*productTypeDef{}
	err := store.ProductTypesLoad(ctx, db, merchant, keys, productKeys, func(key string, data []byte) error {
		def, err := productTypeDefOf(data)
		if err != nil {
			return fmt.Errorf("product type %q: %w", key, err)
		}
		defs[key] = def
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load product types: %w", err)
	}
	return defs, nil
}

// productsLoad returns the product types of the products with the given
// keys.
func productsLoad(ctx context.Context, db database.DBTX, merchant string, keys []string) (map[string]string, error) {
	types := map[string]string{}
	if len(keys) == 0 {
		return types, nil
	}
	err := store.ProductsTypes(ctx, db, merchant, keys, func(key, typeKey string) error {
		types[key] = typeKey
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load products: %w", err)
	}
	return types, nil
}

// variantsLock reads and locks the variants with the given skus, in sku
// order.
func variantsLock(ctx context.Context, db database.DBTX, merchant string, skus []string) (map[string]loadedVariant, error) {
	out := map[string]loadedVariant{}
	if len(skus) == 0 {
		return out, nil
	}
	err := store.VariantsLock(ctx, db, merchant, skus, func(r store.VariantLocked) error {
		v := loadedVariant{product: r.Product, isMaster: r.IsMaster, position: r.Position, version: r.Version}
		if r.WrittenAt.Valid {
			v.order = Order{At: r.WrittenAt.Time.UTC(), Seq: int(r.WrittenSeq), Receipt: r.WrittenReceipt}
		}
		out[r.SKU] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock variants: %w", err)
	}
	return out, nil
}

// variantsExisting returns which of skus are variants.
func variantsExisting(ctx context.Context, db database.DBTX, merchant string, skus []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(skus) == 0 {
		return out, nil
	}
	err := store.VariantsExisting(ctx, db, merchant, skus, func(sku string) error {
		out[sku] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read variants: %w", err)
	}
	return out, nil
}

// orderColumns makes the columns of n rows that hold the order of the
// record writing each (store.CatalogRows, store.VariantRows).
func orderColumns(n int) (ats []pgtype.Timestamptz, seqs []int32, receipts []string) {
	return make([]pgtype.Timestamptz, n), make([]int32, n), make([]string, n)
}

// rowsUpsert writes the records of type t and notes in changed the rows it
// created (true) or changed (false). A row is written when its data changes
// or when only the order of the record that wrote it does (then keeping its
// version). A record that comes before the one that last wrote its row is
// not written: it is marked superseded.
func rowsUpsert(ctx context.Context, db database.DBTX, merchant string, t ResourceType, items []*applyItem, changed map[rowID]bool) error {
	if len(items) == 0 {
		return nil
	}
	n := len(items)
	cols := store.CatalogRows{Keys: make([]string, n), Data: make([]string, n)}
	cols.WrittenAt, cols.WrittenSeq, cols.WrittenReceipt = orderColumns(n)
	var extra []string
	var quantities []int64
	switch t {
	case Category, Product, Price:
		extra = make([]string, n)
	case InventoryEntry:
		quantities = make([]int64, n)
	}
	byKey := make(map[string]*applyItem, n)
	for i, it := range items {
		cols.Keys[i], cols.Data[i] = it.key, string(it.data)
		byKey[it.key] = it
		if !it.order.IsZero() {
			cols.WrittenAt[i] = pgtype.Timestamptz{Time: it.order.At, Valid: true}
			cols.WrittenSeq[i], cols.WrittenReceipt[i] = int32(it.order.Seq), it.order.Receipt
		}
		switch t {
		case Category:
			extra[i] = it.parent
		case Product:
			extra[i] = it.typeKey
		case Price:
			extra[i] = it.sku
		case InventoryEntry:
			quantities[i] = it.quantity
		}
	}
	each := func(r store.CatalogUpserted) error {
		it := byKey[r.Key]
		if r.Version.Valid {
			if r.Inserted || !r.WasVersion.Valid || r.WasVersion.Int64 != r.Version.Int64 { // else only the order changed
				changed[rowID{t, r.Key}] = r.Inserted
			}
			return nil
		}
		// Not written: identical and written by this very record before, or
		// a record after this one wrote it. Anything else means a concurrent
		// batch wrote the row after the statement began.
		var stored Order
		if r.WasAt.Valid {
			stored = Order{At: r.WasAt.Time.UTC(), Seq: int(r.WasSeq), Receipt: r.WasReceipt}
		}
		switch {
		case !r.WasVersion.Valid:
		case it.order.Before(stored):
			it.supersede(stored, "")
			return nil
		case stored.At.Equal(it.order.At) && stored.Seq == it.order.Seq && stored.Receipt == it.order.Receipt:
			return nil
		}
		return fmt.Errorf("%w: %s %q was written by a concurrent batch", ErrTransient, t, r.Key)
	}
	var err error
	switch t {
	case ProductType:
		err = store.ProductTypesUpsert(ctx, db, merchant, cols, each)
	case Category:
		err = store.CategoriesUpsert(ctx, db, merchant, cols, extra, each)
	case TaxCategory:
		err = store.TaxCategoriesUpsert(ctx, db, merchant, cols, each)
	case CustomerGroup:
		err = store.CustomerGroupsUpsert(ctx, db, merchant, cols, each)
	case Channel:
		err = store.ChannelsUpsert(ctx, db, merchant, cols, each)
	case Product:
		err = store.ProductsUpsert(ctx, db, merchant, cols, extra, each)
	case Price:
		err = store.PricesUpsert(ctx, db, merchant, cols, extra, each)
	case InventoryEntry:
		err = store.InventoryUpsert(ctx, db, merchant, cols, quantities, each)
	default:
		err = fmt.Errorf("unknown resource type %q", string(t))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", t, err)
	}
	return nil
}

// productsTouch counts a change of the products with the given keys (a
// change of their variants).
func productsTouch(ctx context.Context, db database.DBTX, merchant string, keys []string) error {
	if err := store.ProductsTouch(ctx, db, merchant, keys); err != nil {
		return fmt.Errorf("touch products: %w", err)
	}
	return nil
}

// variantsDemote takes the master role from the variants of products but
// skus[i] of products[i], and returns them by product.
func variantsDemote(ctx context.Context, db database.DBTX, merchant string, products, skus []string) (map[string][]string, error) {
	out := map[string][]string{}
	err := store.VariantsDemote(ctx, db, merchant, products, skus, func(product, sku string) error {
		out[product] = append(out[product], sku)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("demote master variants: %w", err)
	}
	return out, nil
}

// variantsUpsert writes variant rows. A variant is only ever written for
// the product it belongs to: a row of another product is left alone and not
// returned (the caller sees that it expected to create it). Like rowsUpsert
// it writes a row whose order alone changes, without a new version; the
// rows are locked (variantsLock), and loaded holds the versions they had.
func variantsUpsert(ctx context.Context, db database.DBTX, merchant string, rows store.VariantRows, orders []Order,
	loaded map[string]loadedVariant, changed map[rowID]bool) error {
	rows.WrittenAt, rows.WrittenSeq, rows.WrittenReceipt = orderColumns(len(orders))
	for i, o := range orders {
		if !o.IsZero() {
			rows.WrittenAt[i] = pgtype.Timestamptz{Time: o.At, Valid: true}
			rows.WrittenSeq[i], rows.WrittenReceipt[i] = int32(o.Seq), o.Receipt
		}
	}
	err := store.VariantsUpsert(ctx, db, merchant, rows, func(sku string, version int64, inserted bool) error {
		if was, ok := loaded[sku]; inserted || !ok || was.version != version { // else only the order changed
			changed[rowID{ProductVariant, sku}] = inserted
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write variants: %w", err)
	}
	return nil
}

// storeGet reads one resource: key is the sku for the types identified by
// sku.
var storeGet = map[ResourceType]func(ctx context.Context, db database.DBTX, merchant, key string) ([]byte, bool, error){
	ProductType:    store.ProductTypesGet,
	Category:       store.CategoriesGet,
	TaxCategory:    store.TaxCategoriesGet,
	Product:        store.ProductsGet,
	ProductVariant: store.VariantsGet,
	Price:          store.PricesGet,
	InventoryEntry: store.InventoryGet,
	CustomerGroup:  store.CustomerGroupsGet,
	Channel:        store.ChannelsGet,
}
