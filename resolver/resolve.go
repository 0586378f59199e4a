package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
	"go.uber.org/zap"
)

// CodeCyclicReference is the error of a category that is its own ancestor.
const CodeCyclicReference = "CYCLIC_REFERENCE"

// item is one operation of a work batch being resolved.
type item struct {
	op      bus.WorkOp
	from    tracking.OpState
	refs    []catalog.Reference // normalized, without duplicates
	missing []catalog.Reference
	record  []byte // the record, with a paired master variant merged in
	merged  bool   // record is not the message's: a master variant was merged in
	// Products without a master variant; master variants of a product.
	needsMaster bool
	masterOf    string
	cycle       []string // a category cycle this operation closes
}

// resolveBatch resolves the operations of one work message in one
// transaction and returns those to send to the importer: resolved now, or
// resolved by an earlier attempt whose publication may have been lost.
func (w *Worker) resolveBatch(ctx context.Context, t catalog.ResourceType, wb *bus.WorkBatch) ([]bus.WorkOp, error) {
	wb.DeliveryAt = wb.DeliveryAt.UTC()
	seqs := make([]int, len(wb.Ops))
	for i, op := range wb.Ops {
		seqs[i] = op.Seq
	}
	var out []bus.WorkOp
	var parkedOn []catalog.Reference
	err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
		out, parkedOn = out[:0], nil
		states, err := tracking.OpsLock(ctx, tx, wb.ReceiptID, wb.DeliveryAt, seqs)
		if err != nil {
			return err
		}
		var items []*item
		for _, op := range wb.Ops {
			st, ok := states[op.Seq]
			switch s, op := triage(op, st, ok); s {
			case stepUnknown:
				w.logger.Warn("work for an unknown operation ignored", zapReceipt(wb.ReceiptID), zapSeq(op.Seq))
			case stepResolve:
				items = append(items, &item{op: op, from: st, record: op.Record})
			case stepResend:
				out = append(out, op)
			}
		}
		if len(items) == 0 {
			return nil
		}
		resolved, parked, err := w.resolveItems(ctx, tx, t, wb, items)
		if err != nil {
			return err
		}
		out, parkedOn = append(out, resolved...), parked
		return tracking.MarkProcessing(ctx, tx, (&tracking.OpRef{ReceiptID: wb.ReceiptID, MerchantID: wb.MerchantID, DeliveryAt: wb.DeliveryAt}).Delivery())
	})
	if err != nil {
		return nil, err
	}
	w.lookAgain(ctx, wb.MerchantID, parkedOn)
	return out, nil
}

// lookAgain looks once more, after the parking committed, at the keys
// operations were parked on, and releases those parked on keys that exist
// now: the importer's creation of one may have committed after the parking
// looked, and its event been handled before the parking committed (see
// catalog/registry.go). When looking fails, the sweep looks later.
func (w *Worker) lookAgain(ctx context.Context, merchant string, refs []catalog.Reference) {
	if len(refs) == 0 {
		return
	}
	look := make([]catalog.Reference, len(refs))
	for i, r := range refs {
		if r.TypeID == masterTypeID {
			// A product waiting for its master variant waits no longer once the product exists.
			r = catalog.Reference{TypeID: catalog.Product.TypeID(), Key: r.Key}
		}
		look[i] = r
	}
	existing, err := catalog.RegistryExisting(ctx, w.store.Pool(), merchant, normalized(look))
	if err == nil && len(existing) > 0 {
		found := make([]catalog.Reference, 0, len(existing))
		for r := range existing {
			found = append(found, r)
		}
		_, err = w.releaseRefs(ctx, merchant, nil, found, "resolver")
	}
	if err != nil {
		w.logger.Warn("looking again at the keys of parked operations failed; the sweep will", zap.String("merchant", merchant), zap.Error(err))
	}
}

// resolveItems resolves items and returns the operations to send to the
// importer and the references the others were parked on.
func (w *Worker) resolveItems(ctx context.Context, tx *store.Tx, t catalog.ResourceType, wb *bus.WorkBatch, items []*item) ([]bus.WorkOp, []catalog.Reference, error) {
	merchant := wb.MerchantID
	all, masterProducts := references(t, items)
	existing, err := existingRefs(ctx, tx, merchant, all)
	if err != nil {
		return nil, nil, err
	}
	if err := pairingLock(ctx, tx, merchant, uniq(masterProducts)); err != nil {
		return nil, nil, err
	}

	var (
		transitions []tracking.Transition
		parked      []parkedRef
		out         []bus.WorkOp
		d           = (&tracking.OpRef{ReceiptID: wb.ReceiptID, MerchantID: merchant, DeliveryAt: wb.DeliveryAt}).Delivery()
	)
	for _, it := range items {
		started := tracking.NewEvent(d, it.op.Key, tracking.CodeResolutionStarted, "Resolution started")
		if err := w.findMissing(ctx, tx, merchant, t, it, existing); err != nil {
			return nil, nil, err
		}
		res := decide(d, it, started)
		if res.release {
			released, err := w.releaseWaitingProduct(ctx, tx, merchant, it)
			if err != nil {
				return nil, nil, err
			}
			transitions = append(transitions, released...)
		}
		transitions = append(transitions, res.tr)
		if res.failCycle {
			more, err := w.failCycle(ctx, tx, merchant, it.cycle, it.op.Key)
			if err != nil {
				return nil, nil, err
			}
			transitions = append(transitions, more...)
		}
		if res.forward {
			out = append(out, res.op)
		}
		if res.park {
			for _, r := range it.missing {
				parked = append(parked, parkedRef{Ref: r, Op: it.from.OpRef, OpType: string(t), OpKey: it.op.Key})
			}
			resolvedTotal.WithLabelValues("parked").Inc()
		}
	}
	if err := parkedRefsInsert(ctx, tx, merchant, parked); err != nil {
		return nil, nil, err
	}
	completed, err := tracking.TransitionsApply(ctx, tx, transitions)
	if err != nil {
		return nil, nil, err
	}
	w.announceAfterCommit(tx, completed)
	parkedOn := make([]catalog.Reference, len(parked))
	for i, p := range parked {
		parkedOn[i] = p.Ref
	}
	return out, parkedOn, nil
}

// references notes each item's references and the pairing it takes part
// in, and returns the batch's references, once each (the records of a batch
// share their product types and categories), with the products its records
// pair with or wait for.
func references(t catalog.ResourceType, items []*item) (all []catalog.Reference, masterProducts []string) {
	for _, it := range items {
		v := facts(t, it)
		it.refs = normalized(v.References)
		all = append(all, it.refs...)
		switch t {
		case catalog.Product:
			if !v.Master {
				it.needsMaster = true
				masterProducts = append(masterProducts, it.op.Key)
				all = append(all, catalog.Reference{TypeID: catalog.Product.TypeID(), Key: it.op.Key})
			}
		case catalog.ProductVariant:
			if v.Master {
				for _, r := range it.refs {
					if r.TypeID == catalog.Product.TypeID() {
						it.masterOf = r.Key
						masterProducts = append(masterProducts, r.Key)
					}
				}
			}
		case catalog.Category:
			for _, r := range it.refs {
				if r.TypeID == catalog.Category.TypeID() && r.Key == it.op.Key {
					it.cycle = []string{it.op.Key, it.op.Key}
				}
			}
		}
	}
	return normalized(all), masterProducts
}

// facts are the item's references and master flag: those ingest sent with
// the operation (bus.RecordFacts), or, from a producer that sent none, what
// validating the record says.
func facts(t catalog.ResourceType, it *item) catalog.Validated {
	f := it.op.Facts
	if f == nil {
		v, _ := catalog.Validate(t, it.record)
		return v
	}
	v := catalog.Validated{Master: f.Master, References: make([]catalog.Reference, len(f.Refs))}
	for i, r := range f.Refs {
		v.References[i] = catalog.Reference{TypeID: r.TypeID, Key: r.Key, SKU: r.SKU}
	}
	return v
}

// existingRefs returns which of refs exist for merchant. What is missing is
// locked and looked up again: a creation that committed meanwhile is seen
// now, one still running waits for this commit.
func existingRefs(ctx context.Context, tx *store.Tx, merchant string, refs []catalog.Reference) (map[catalog.Reference]bool, error) {
	existing, err := catalog.RegistryExisting(ctx, tx, merchant, refs)
	if err != nil {
		return nil, err
	}
	var missing []catalog.Reference
	for _, r := range refs {
		if !existing[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return existing, nil
	}
	later, err := catalog.RegistryLockMissing(ctx, tx, merchant, missing)
	if err != nil {
		return nil, err
	}
	for r := range later {
		existing[r] = true
	}
	return existing, nil
}

// findMissing notes what item it still misses: its references that do not
// exist, the product a variant-less product waits for unless a parked
// master variant pairs with it now, and, for a category, the cycle its
// missing parent closes.
func (w *Worker) findMissing(ctx context.Context, tx pgx.Tx, merchant string, t catalog.ResourceType, it *item, existing map[catalog.Reference]bool) error {
	for _, r := range it.refs {
		if !existing[r] {
			it.missing = append(it.missing, r)
		}
	}
	if it.needsMaster && !existing[catalog.Reference{TypeID: catalog.Product.TypeID(), Key: it.op.Key}] {
		merged, err := w.pairWithParkedMaster(ctx, tx, merchant, it)
		if err != nil {
			return err
		}
		if !merged {
			it.missing = append(it.missing, catalog.Reference{TypeID: masterTypeID, Key: it.op.Key})
		}
	}
	if it.cycle != nil || t != catalog.Category {
		return nil
	}
	for _, r := range it.missing {
		if r.TypeID == catalog.Category.TypeID() {
			cyc, err := categoryCycle(ctx, tx, merchant, it.op.Key, r.Key)
			if err != nil {
				return err
			}
			it.cycle = cyc
		}
	}
	return nil
}

// pairWithParkedMaster looks for a master variant of the item's product
// parked while waiting for that product, and merges it into the product.
func (w *Worker) pairWithParkedMaster(ctx context.Context, tx pgx.Tx, merchant string, it *item) (bool, error) {
	owners, err := parkedOwners(ctx, tx, merchant, catalog.Reference{TypeID: catalog.Product.TypeID(), Key: it.op.Key}, string(catalog.ProductVariant))
	if err != nil || len(owners) == 0 {
		return false, err
	}
	for _, o := range owners {
		states, err := tracking.OpsLock(ctx, tx, o.ReceiptID, o.DeliveryAt, []int{o.Seq})
		if err != nil {
			return false, err
		}
		st, ok := states[o.Seq]
		if !ok || st.State != tracking.StateUnresolved || len(st.Record) == 0 {
			continue
		}
		var pv catalog.ProductVariantRecord
		if json.Unmarshal(st.Record, &pv) != nil || !pv.IsMasterVariant {
			continue
		}
		merged, err := withMaster(it.record, st.Record)
		if err != nil {
			return false, err
		}
		it.record, it.merged = merged, true
		return true, nil
	}
	return false, nil
}

// releaseWaitingProduct gives a master variant (item) to the products of
// its key waiting for one, and returns their transitions.
func (w *Worker) releaseWaitingProduct(ctx context.Context, tx pgx.Tx, merchant string, it *item) ([]tracking.Transition, error) {
	ref := catalog.Reference{TypeID: masterTypeID, Key: it.masterOf}
	taken, _, err := parkedRefsTake(ctx, tx, merchant, []catalog.Reference{ref}, 1000)
	if err != nil || len(taken) == 0 {
		return nil, err
	}
	return w.release(ctx, tx, taken, func(st tracking.OpState) ([]byte, error) {
		return withMaster(st.Record, it.record)
	}, fmt.Sprintf("Master variant %s (line of receipt %s) paired", it.op.Key, it.from.ReceiptID))
}

// failCycle fails the parked categories of a cycle.
func (w *Worker) failCycle(ctx context.Context, tx pgx.Tx, merchant string, cycle []string, self string) ([]tracking.Transition, error) {
	var ts []tracking.Transition
	cerr := cycleError(cycle)
	for _, key := range uniq(cycle) {
		if key == self {
			continue
		}
		owners, err := parkedOwners(ctx, tx, merchant, catalog.Reference{TypeID: catalog.Category.TypeID(), Key: parentOf(cycle, key)}, string(catalog.Category))
		if err != nil {
			return nil, err
		}
		for _, o := range owners {
			states, err := tracking.OpsLock(ctx, tx, o.ReceiptID, o.DeliveryAt, []int{o.Seq})
			if err != nil {
				return nil, err
			}
			st, ok := states[o.Seq]
			if !ok || st.ResourceKey != key || st.State.Final() {
				continue
			}
			if err := store.ParkedRefsDeleteOp(ctx, tx, opKey(o)); err != nil {
				return nil, err
			}
			ev := tracking.NewEvent(o.Delivery(), key, tracking.CodeValidationFailed, "Validation failed: "+cerr.Error())
			ts = append(ts, tracking.Transition{From: st, To: tracking.StateValidationFailed, Stage: tracking.StagePickedUp,
				Events: []tracking.Event{ev}, Errors: []catalog.Error{cerr}})
		}
	}
	return ts, nil
}

// parentOf returns the key following key in the cycle: its parent.
func parentOf(cycle []string, key string) string {
	for i := 0; i+1 < len(cycle); i++ {
		if cycle[i] == key {
			return cycle[i+1]
		}
	}
	return ""
}

func cycleError(cycle []string) catalog.Error {
	return catalog.DataErr(CodeCyclicReference, "parent",
		"category cycle "+strings.Join(cycle, " → ")+": a category cannot be its own ancestor")
}

// withMaster returns the product record with the variant record as its
// master variant.
func withMaster(product, variant []byte) ([]byte, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(product, &p); err != nil {
		return nil, fmt.Errorf("resolver: product record: %w", err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(variant, &v); err != nil {
		return nil, fmt.Errorf("resolver: variant record: %w", err)
	}
	delete(v, "product")
	delete(v, "isMasterVariant")
	mv, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	p["masterVariant"] = mv
	return json.Marshal(p)
}

func normalized(refs []catalog.Reference) []catalog.Reference {
	seen := make(map[catalog.Reference]bool, len(refs))
	out := make([]catalog.Reference, 0, len(refs))
	for _, r := range refs {
		r = r.Normalize()
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// displayRefs are references as docs/errors.md shows them: {typeId, key}, the
// sku as key for variants.
func displayRefs(refs []catalog.Reference) []catalog.Reference {
	out := make([]catalog.Reference, len(refs))
	for i, r := range refs {
		out[i] = catalog.Reference{TypeID: r.TypeID, Key: r.Identity()}
	}
	return out
}

func describeRefs(refs []catalog.Reference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.TypeID + " " + r.Identity()
	}
	return strings.Join(parts, ", ")
}

func refsJSON(refs []catalog.Reference) string {
	b, _ := json.Marshal(displayRefs(refs))
	return string(b)
}
