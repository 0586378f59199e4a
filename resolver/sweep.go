package resolver

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// sweep is the safety net under the event-driven release: it releases
// operations parked on keys that exist (an event missed, or handled before
// the parking committed), pairs master variants with waiting products that
// arrived at the same moment, and fails category cycles closed by two
// resolvers at once.
func (w *Worker) sweep(ctx context.Context) error {
	// Driven by the parked references (few) with one registry probe each
	// (LATERAL … LIMIT 1): a join lets the planner hash the whole registry,
	// every resource of every merchant, every two seconds, a cost that grows
	// with the catalog.
	// A product waiting for its master variant (master-variant:P) waits on
	// the product P existing too: releaseRefs of product P releases it.
	existing, err := store.ParkedRefsExisting(ctx, w.store.Pool(), masterTypeID, 1000)
	if err != nil {
		return err
	}
	byMerchant := map[string][]catalog.Reference{}
	for _, p := range existing {
		byMerchant[p.MerchantID] = append(byMerchant[p.MerchantID], refOf(p.TypeID, p.Key))
	}
	for m, refs := range byMerchant {
		n, err := w.releaseRefs(ctx, m, refs, nil, "sweep")
		if err != nil {
			return err
		}
		if n > 0 {
			sweptTotal.Add(float64(n))
			w.logger.Info("sweep released operations parked on existing keys", zap.String("merchant", m), zap.Int("references", n))
		}
	}
	if err := w.sweepMasters(ctx); err != nil {
		return err
	}
	if err := w.sweepCycles(ctx); err != nil {
		return err
	}
	if err := w.sweepInterrupted(ctx); err != nil {
		return err
	}
	completed, err := w.store.CompleteMissed(ctx)
	for _, d := range completed {
		w.logger.Info("sweep completed a delivery whose last operations ended in concurrent transactions", zapReceipt(d.ReceiptID))
	}
	w.announce(completed)
	if err != nil {
		return err
	}
	// Completions whose event was never published: the worker that
	// completed them announces them after its commit, and may have died
	// in between.
	n, err := w.store.AnnounceMissed(ctx, w.js, announceGrace)
	if n > 0 {
		w.logger.Info("sweep announced completions no worker had announced", zap.Int("deliveries", n))
	}
	return err
}

// announceGrace is how long after a completion the sweep leaves its
// announcement to the worker that completed it.
const announceGrace = 30 * time.Second

// sweepInterrupted cancels what is left of interrupted deliveries: those
// the error threshold interrupted inside a worker's transaction, and those
// whose cancel a crash cut short.
func (w *Worker) sweepInterrupted(ctx context.Context) error {
	ds, err := w.store.InterruptedPending(ctx, 20)
	if err != nil {
		return err
	}
	for i := range ds {
		d := &ds[i]
		n, err := w.store.CancelPending(ctx, d)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		w.logger.Info("canceled the pending operations of an interrupted delivery", zapReceipt(d.ReceiptID), zap.Int("canceled", n))
		if err := w.store.Announce(ctx, w.js, d, bus.DeliveryInterrupted); err != nil {
			w.logger.Warn("interrupted event not published", zapReceipt(d.ReceiptID), zap.Error(err))
		}
		go w.announceCompleted(d.ReceiptID, d.AcceptedAt)
	}
	return nil
}

// sweepMasters pairs products waiting for a master variant with a master
// variant parked on them.
func (w *Worker) sweepMasters(ctx context.Context) error {
	waiting, err := store.ParkedRefsMastersWaiting(ctx, w.store.Pool(), masterTypeID, 100)
	if err != nil {
		return err
	}
	for _, m := range waiting {
		p := struct{ merchant, product string }{m.MerchantID, m.Key}
		err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
			if err := pairingLock(ctx, tx, p.merchant, []string{p.product}); err != nil {
				return err
			}
			owners, err := parkedOwners(ctx, tx, p.merchant, catalog.Reference{TypeID: catalog.Product.TypeID(), Key: p.product}, string(catalog.ProductVariant))
			if err != nil {
				return err
			}
			for _, o := range owners {
				states, err := tracking.OpsLock(ctx, tx, o.ReceiptID, o.DeliveryAt, []int{o.Seq})
				if err != nil {
					return err
				}
				st, ok := states[o.Seq]
				var pv catalog.ProductVariantRecord
				if !ok || st.State != tracking.StateUnresolved || json.Unmarshal(st.Record, &pv) != nil || !pv.IsMasterVariant {
					continue
				}
				it := &item{from: st, record: st.Record, masterOf: p.product}
				it.op.Key = st.ResourceKey
				ts, err := w.releaseWaitingProduct(ctx, tx, p.merchant, it)
				if err != nil {
					return err
				}
				completed, err := tracking.TransitionsApply(ctx, tx, ts)
				w.announceAfterCommit(tx, completed)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sweepCycles fails category cycles among parked categories.
func (w *Worker) sweepCycles(ctx context.Context) error {
	edges, err := store.ParkedRefsCategoryEdges(ctx, w.store.Pool(), 500)
	if err != nil {
		return err
	}
	for _, p := range edges {
		e := struct{ merchant, child, parent string }{p.MerchantID, p.OpKey, p.Key}
		err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
			cycle, err := categoryCycle(ctx, tx, e.merchant, e.child, e.parent)
			if err != nil || cycle == nil {
				return err
			}
			ts, err := w.failCycle(ctx, tx, e.merchant, cycle, "")
			if err != nil || len(ts) == 0 {
				return err
			}
			w.logger.Info("sweep failed a category cycle", zap.String("merchant", e.merchant), zap.Strings("cycle", cycle))
			completed, err := tracking.TransitionsApply(ctx, tx, ts)
			w.announceAfterCommit(tx, completed)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
