package resolver

import (
	"context"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// releaseLimit is how many parked references one transaction releases.
const releaseLimit = 1000

// release updates parked operations whose references in taken were just
// removed: those with nothing left to wait for go to the importer through
// the outbox, the others keep waiting for the rest. transform, when set,
// rewrites a released record (master-variant pairing).
func (w *Worker) release(ctx context.Context, tx pgx.Tx, taken map[tracking.OpRef][]catalog.Reference,
	transform func(tracking.OpState) ([]byte, error), why string) ([]tracking.Transition, error) {
	ops := make([]tracking.OpRef, 0, len(taken))
	for op := range taken {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].ReceiptID != ops[j].ReceiptID {
			return ops[i].ReceiptID < ops[j].ReceiptID
		}
		return ops[i].Seq < ops[j].Seq
	})
	// Lock the operations, delivery by delivery.
	states := map[tracking.OpRef]tracking.OpState{}
	for i := 0; i < len(ops); {
		j := i
		var seqs []int
		for j < len(ops) && ops[j].ReceiptID == ops[i].ReceiptID && ops[j].DeliveryAt.Equal(ops[i].DeliveryAt) {
			seqs = append(seqs, ops[j].Seq)
			j++
		}
		locked, err := tracking.OpsLock(ctx, tx, ops[i].ReceiptID, ops[i].DeliveryAt, seqs)
		if err != nil {
			return nil, err
		}
		for _, op := range ops[i:j] {
			if st, ok := locked[op.Seq]; ok {
				states[op] = st
			}
		}
		i = j
	}
	remaining, err := parkedRefsOf(ctx, tx, ops)
	if err != nil {
		return nil, err
	}
	var ts []tracking.Transition
	var released []tracking.OpRef
	for _, op := range ops {
		st, ok := states[op]
		if !ok || (st.State != tracking.StateUnresolved && st.State != tracking.StateWaitForMasterVariant) {
			continue // canceled, or released by somebody else meanwhile
		}
		record := st.Record
		if transform != nil {
			r, err := transform(st)
			if err != nil {
				return nil, err
			}
			record = r
		}
		msg := why
		if msg == "" {
			msg = "Reference resolved: " + describeRefs(taken[op])
		}
		rest := remaining[op]
		if len(rest) == 0 {
			ev := tracking.NewEvent(op.Delivery(), st.ResourceKey, tracking.CodeReferenceResolved, msg+"; every reference exists, queued for import")
			ts = append(ts, tracking.Transition{From: st, To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events: []tracking.Event{ev}, Record: record})
			released = append(released, op)
			continue
		}
		to := tracking.StateUnresolved
		if len(rest) == 1 && rest[0].TypeID == masterTypeID {
			to = tracking.StateWaitForMasterVariant
		}
		ev := tracking.NewEvent(op.Delivery(), st.ResourceKey, tracking.CodeReferenceResolved, msg+"; still waiting for "+describeRefs(rest))
		ts = append(ts, tracking.Transition{From: st, To: to, Stage: tracking.StagePickedUp,
			Events: []tracking.Event{ev}, Unresolved: displayRefs(rest), Record: record})
	}
	if err := tracking.ApplyOutboxInsert(ctx, tx, released); err != nil {
		return nil, err
	}
	releasedTotal.Add(float64(len(released)))
	return ts, nil
}

// releaseRefs records that refs exist for the merchant and releases every
// operation parked on them, and on registered (which the registry has
// already: the importer marked them when it wrote them), releaseLimit
// references per transaction.
func (w *Worker) releaseRefs(ctx context.Context, merchant string, refs, registered []catalog.Reference, source string) (int, error) {
	refs = normalized(refs)
	all := slices.Concat(refs, normalized(registered))
	// A product that waits for a master variant waits no longer once the
	// product exists (created, with its master, by another delivery or
	// announced by another system): it is imported as an update of it.
	// Its parking locked the product's registry row, so whoever marked the
	// product waited for it and the parked row is visible below.
	waits := slices.Clip(all)
	for _, r := range all {
		if r.TypeID == catalog.Product.TypeID() {
			waits = append(waits, catalog.Reference{TypeID: masterTypeID, Key: r.Key})
		}
	}
	total := 0
	for {
		n := 0
		err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
			// Mark only what the registry does not know to exist: marking
			// again locks each row (an upsert locks the row it conflicts with
			// even when it changes nothing), a WAL record for every product
			// and variant, and the importer's events (registered) are not
			// even looked up. Skipping a key that exists is safe: whoever
			// marked it waited for the parkers holding its row, so what they
			// parked is visible to parkedRefsTake below.
			existing, err := catalog.RegistryExisting(ctx, tx, merchant, refs)
			if err != nil {
				return err
			}
			unknown := make([]catalog.Reference, 0, len(refs)-len(existing))
			for _, r := range refs {
				if !existing[r] {
					unknown = append(unknown, r)
				}
			}
			if _, err := catalog.RegistryMarkExisting(ctx, tx, merchant, unknown, source); err != nil {
				return err
			}
			// Most events are of products and variants nothing waits for:
			// one probe per type instead of one per key. The probe comes
			// after marking, which waited for any parker of these keys.
			waited, err := parkedOfTypes(ctx, tx, merchant, waits)
			if err != nil || len(waited) == 0 {
				return err
			}
			taken, cnt, err := parkedRefsTake(ctx, tx, merchant, waited, releaseLimit)
			if err != nil || cnt == 0 {
				return err
			}
			n = cnt
			ts, err := w.release(ctx, tx, taken, nil, "")
			if err != nil {
				return err
			}
			completed, err := tracking.TransitionsApply(ctx, tx, ts)
			w.announceAfterCommit(tx, completed)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < releaseLimit {
			if total > 0 {
				w.logger.Debug("released parked operations", zap.String("merchant", merchant), zap.Int("references", total), zap.String("source", source))
				w.kickOutbox()
			}
			return total, nil
		}
	}
}

func zapReceipt(r string) zap.Field { return zap.String("receipt", r) }
func zapSeq(s int) zap.Field        { return zap.Int("seq", s) }
