package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
	"go.uber.org/zap"
)

// MaxAttempts is how often an operation is tried before it is rejected.
// It is the contract (docs/contract.md, "Operations"), not a setting.
const MaxAttempts = 5

// Error codes of rejected operations.
const (
	CodeTargetFailure = catalog.CodeTargetFailure // the target failed five times
	CodeTimeout       = "TIMEOUT"                 // the target did not answer in time, five times
)

// isolatedTotal counts the splits of failing batches (applyIsolating).
var isolatedTotal = promauto.NewCounter(prometheus.CounterOpts{
	Name: "importd_importer_batch_splits_total",
	Help: "Batches the target failed as a whole that were split in two to find the records that fail on their own.",
})

// applied is what handling one work message decided.
type applied struct {
	retry   bool // some operations failed transiently and stay processing
	attempt int  // the highest attempt number among them
}

// applyBatch writes the operations of one work message to the target and
// records the outcome of each (decide), in one transaction that holds the
// operations' row locks throughout: a duplicate of the message waits and
// then finds them done. A record that fails on its own fails alone
// (applyIsolating).
func (w *Worker) applyBatch(ctx context.Context, t catalog.ResourceType, wb *bus.WorkBatch) (applied, error) {
	var res applied
	wb.DeliveryAt = wb.DeliveryAt.UTC()
	seqs := make([]int, len(wb.Ops))
	for i, op := range wb.Ops {
		seqs[i] = op.Seq
	}
	err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
		res = applied{}
		// Each statement, the target's included, is bounded by the server.
		if err := store.SetStatementTimeout(ctx, tx, w.cfg.ApplyTimeout); err != nil {
			return err
		}
		states, err := tracking.OpsLock(ctx, tx, wb.ReceiptID, wb.DeliveryAt, seqs)
		if err != nil {
			return err
		}
		var recs []catalog.ApplyRecord
		var froms []tracking.OpState
		for _, op := range wb.Ops {
			st, ok := states[op.Seq]
			if !due(st, ok) {
				continue
			}
			recs = append(recs, catalog.ApplyRecord{OpID: op.ID, Type: t, Key: op.Key, Data: op.Record,
				Order: catalog.Order{At: wb.DeliveryAt, Seq: op.Seq, Receipt: wb.ReceiptID}})
			froms = append(froms, st)
		}
		if len(recs) == 0 {
			return nil
		}
		results, err := w.applyIsolating(ctx, tx, wb.MerchantID, recs)
		if err != nil {
			return err // errTxBroken: nothing can be recorded, the message is retried
		}
		ts := make([]tracking.Transition, 0, len(recs))
		var written []written
		outcomes := make(map[string]int, 2)
		for i, st := range froms {
			d := decide(st, recs[i], results[i])
			ts = append(ts, d.tr)
			outcomes[outcomeOf(d)]++
			if d.written {
				written = append(written, writtenOf(t, recs[i], results[i]))
			}
			if d.failed {
				attemptsFailedTotal.Inc()
				if d.rejected {
					rejectedTotal.Inc()
				} else {
					res.retry = true
					res.attempt = max(res.attempt, d.attempt)
				}
			}
		}
		if err := w.recordWritten(ctx, tx, wb.MerchantID, written, !w.inTx()); err != nil {
			return err
		}
		completed, err := tracking.TransitionsApply(ctx, tx, ts)
		// Both read what the transaction wrote, on other connections.
		tx.AfterCommit(func() {
			for o, n := range outcomes {
				operationsTotal.WithLabelValues(o).Add(float64(n))
			}
			w.announce(completed)
			w.kickOutbox()
		})
		return err
	})
	return res, err
}

// outcomeOf is the importd_importer_operations_total outcome of d: the
// state it ends the operation in, or "retry" when it waits for another
// attempt.
func outcomeOf(d decision) string {
	if d.failed && !d.rejected {
		return "retry"
	}
	return string(d.tr.To)
}

// maxApplyCalls bounds the calls of the target for one work message while a
// batch that failed as a whole is cut down to the records that fail on their
// own: enough to find two such records among 250 (eight halvings each).
const maxApplyCalls = 32

// applyIsolating applies recs and returns a result for each. When the target
// fails them as a whole, it applies each half under its own savepoint, and so
// on down to single records: only a record that fails on its own (or a group
// that is still failing when maxApplyCalls is spent) is Failed and spends an
// attempt; the others are applied now. A batch that succeeds costs one call,
// as before. A timed-out batch is not split: each half could take the time
// limit again while the transaction holds the operations' locks. The only
// error is errTxBroken.
func (w *Worker) applyIsolating(ctx context.Context, tx pgx.Tx, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	results := make([]catalog.ApplyResult, len(recs))
	budget := maxApplyCalls - 1 // calls left beyond the first; a split pays for both halves' first
	var run func(part []catalog.ApplyRecord, out []catalog.ApplyResult) error
	run = func(part []catalog.ApplyRecord, out []catalog.ApplyResult) error {
		got, err, timedOut := w.apply(ctx, tx, merchant, part)
		if err == nil && len(got) != len(part) {
			err = fmt.Errorf("importer: the target returned %d results for %d records", len(got), len(part))
		}
		if err == nil {
			copy(out, got)
			return nil
		}
		if errors.Is(err, errTxBroken) {
			return err
		}
		if len(part) > 1 && !timedOut && budget >= 2 {
			budget -= 2
			isolatedTotal.Inc()
			mid := len(part) / 2
			if err := run(part[:mid], out[:mid]); err != nil {
				return err
			}
			return run(part[mid:], out[mid:])
		}
		if !errors.Is(err, catalog.ErrTransient) && !timedOut {
			// Unexpected (a bug, a missing table): it still counts as an
			// attempt, so that a record that breaks the target cannot loop.
			w.logger.Error("target failed unexpectedly", zap.String("merchant", merchant), zap.String("op", part[0].OpID), zap.Int("records", len(part)), zap.Error(err))
		}
		f := catalog.ApplyResult{Outcome: catalog.Failed, Errors: []catalog.Error{{Type: catalog.SystemError, Code: CodeTargetFailure, Description: err.Error()}}}
		if timedOut {
			f.Errors[0] = catalog.Error{Type: catalog.TimeoutError, Code: CodeTimeout, Description: fmt.Sprintf("the target did not answer within %s", w.cfg.ApplyTimeout)}
		}
		for i := range out {
			out[i] = f
		}
		return nil
	}
	if err := run(recs, results); err != nil {
		return nil, err
	}
	return results, nil
}

// attemptDelay is the wait before attempt n+1 of an operation whose attempt n
// failed. The delays double from one attempt to the next and add up to
// RetryWindow across MaxAttempts attempts, each with up to a quarter more at
// random: the window is a floor, so that attempts outlast a database
// failover, and the jitter spreads the operations that failed together.
func (w *Worker) attemptDelay(n int) time.Duration {
	n = min(max(n, 1), MaxAttempts-1)
	base := w.cfg.RetryWindow / time.Duration(1<<(MaxAttempts-1)-1)
	d := base << (n - 1)
	return d + rand.N(d/4+1)
}

// errTxBroken means the importer's transaction cannot go on.
var errTxBroken = errors.New("importer: transaction broken")

// txTarget is a target that can write within the importer's transaction
// (catalog.Store): the catalog rows then commit with the operations' states,
// the registry and the resource events, exactly once.
type txTarget interface {
	ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error)
}

// apply calls the target, within tx under a savepoint when it can: a failed
// apply then rolls back alone and its attempt is still recorded. The time
// limit is the server's statement_timeout there, since canceling a query
// from the client closes the connection.
func (w *Worker) apply(ctx context.Context, tx pgx.Tx, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error, bool) {
	if tt, ok := w.cfg.Target.(txTarget); ok {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errTxBroken, err), false
		}
		results, err := tt.ApplyTx(ctx, sp, merchant, recs)
		if err != nil {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return nil, fmt.Errorf("%w: %w", errTxBroken, rerr), false
			}
			return nil, err, database.HasCode(err, pgerrcode.QueryCanceled)
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", errTxBroken, err), false
		}
		return results, nil, false
	}
	actx, cancel := context.WithTimeout(ctx, w.cfg.ApplyTimeout)
	defer cancel()
	results, err := w.cfg.Target.Apply(actx, merchant, recs)
	return results, err, errors.Is(actx.Err(), context.DeadlineExceeded)
}

// written is a record in the catalog after Apply, with the resources to
// announce.
type written struct {
	product catalog.Reference   // the product, for a Product record
	own     []catalog.Reference // every resource the record stands for
	created []catalog.Reference
	updated []catalog.Reference
}

func writtenOf(t catalog.ResourceType, rec catalog.ApplyRecord, r catalog.ApplyResult) written {
	own := r.Resources
	if own == nil {
		own = ownRefs(t, rec.Key, rec.Data)
	}
	x := written{own: own, created: r.Created, updated: r.Updated}
	if t == catalog.Product {
		x.product = catalog.Reference{TypeID: t.TypeID(), Key: rec.Key}
	}
	return x
}

// ownRefs are the resources a record stands for: itself, and for a product
// its variants' skus. For targets that do not say (ApplyResult.Resources):
// decoding the record again is the slow path.
func ownRefs(t catalog.ResourceType, key string, data []byte) []catalog.Reference {
	refs := []catalog.Reference{catalog.Reference{TypeID: t.TypeID(), Key: key}.Normalize()}
	if t == catalog.Product {
		var p catalog.ProductRecord
		if json.Unmarshal(data, &p) == nil {
			if p.MasterVariant != nil && p.MasterVariant.SKU != "" {
				refs = append(refs, catalog.Reference{TypeID: catalog.ProductVariant.TypeID(), SKU: p.MasterVariant.SKU})
			}
			for _, v := range p.Variants {
				if v.SKU != "" {
					refs = append(refs, catalog.Reference{TypeID: catalog.ProductVariant.TypeID(), SKU: v.SKU})
				}
			}
		}
	}
	return refs
}

// inTx reports whether the target writes within the importer's transaction
// (txTarget): the catalog, whose rows then say what exists (see
// catalog/registry.go), committed with the operations' states.
func (w *Worker) inTx() bool {
	_, ok := w.cfg.Target.(txTarget)
	return ok
}

// recordWritten queues the events of written resources: created or updated
// as the target says. For a target that writes elsewhere (register), it
// marks them in the registry too, and announces as created any the registry
// did not know (a write whose first recording was lost). A Product record is
// one Product event whose skus name the variants it created or changed; they
// have no events of their own.
func (w *Worker) recordWritten(ctx context.Context, tx pgx.Tx, merchant string, ws []written, register bool) error {
	if len(ws) == 0 {
		return nil
	}
	var evs events
	for _, x := range ws {
		for _, r := range x.created {
			evs.add(r, bus.ResourceCreated, x.product)
		}
		for _, r := range x.updated {
			evs.add(r, bus.ResourceUpdated, x.product)
		}
	}
	if register {
		if err := markWritten(ctx, tx, merchant, ws, &evs); err != nil {
			return err
		}
	}
	if len(evs.list) == 0 {
		return nil
	}
	n := len(evs.list)
	row := store.EventOutboxRow{MerchantID: merchant, ResourceTypes: make([]string, n), Events: make([]string, n),
		TypeIDs: make([]string, n), Keys: make([]string, n), SKUs: make([]string, n)}
	for i, e := range evs.list {
		rt, _ := catalog.ResourceTypeOf(e.ref.TypeID)
		row.ResourceTypes[i], row.Events[i], row.TypeIDs[i], row.Keys[i], row.SKUs[i] = string(rt), string(e.event), e.ref.TypeID, e.ref.Identity(), strings.Join(e.skus, " ")
	}
	// One row for the transaction's events.
	return store.EventOutboxInsert(ctx, tx, row)
}

// markWritten marks the written resources in the registry, for a target
// that writes elsewhere than the catalog, and queues a created event for
// any the registry did not know.
func markWritten(ctx context.Context, tx pgx.Tx, merchant string, ws []written, evs *events) error {
	var own []catalog.Reference
	owner := map[catalog.Reference]catalog.Reference{} // a variant of a Product record: its product
	for _, x := range ws {
		own = append(own, x.own...)
		own = append(own, x.created...)
		own = append(own, x.updated...)
		if x.product != (catalog.Reference{}) {
			for _, r := range x.own {
				if r = r.Normalize(); r.TypeID == catalog.ProductVariant.TypeID() {
					owner[r] = x.product
				}
			}
		}
	}
	fresh, err := catalog.RegistryMarkExisting(ctx, tx, merchant, own, "importer")
	if err != nil {
		return err
	}
	for _, r := range fresh {
		evs.add(r, bus.ResourceCreated, owner[r])
	}
	return nil
}

// resourceEvent is an event to publish on CATALOG_EVENTS.
type resourceEvent struct {
	ref   catalog.Reference
	event bus.ResourceChange
	skus  []string // a Product event: the variants created or changed with it
}

// events are a transaction's resource events, one per resource.
type events struct {
	list  []resourceEvent
	at    map[catalog.Reference]int // the event of a resource
	named map[catalog.Reference]bool
}

// add queues the event of r, written by a Product record when product is
// set: a variant of it is named in the product's event, which is created
// (updated when the product itself did not change) if need be. A resource
// both created and updated is announced as created.
func (e *events) add(r catalog.Reference, event bus.ResourceChange, product catalog.Reference) {
	if e.at == nil {
		e.at, e.named = map[catalog.Reference]int{}, map[catalog.Reference]bool{}
	}
	r = r.Normalize()
	if product != (catalog.Reference{}) && r.TypeID == catalog.ProductVariant.TypeID() {
		if !e.named[r] {
			e.named[r] = true
			i := e.of(product.Normalize(), bus.ResourceUpdated)
			e.list[i].skus = append(e.list[i].skus, r.SKU)
		}
		return
	}
	e.of(r, event)
}

// of returns the index of r's event, queuing one if there is none yet.
func (e *events) of(r catalog.Reference, event bus.ResourceChange) int {
	i, ok := e.at[r]
	if !ok {
		i = len(e.list)
		e.at[r] = i
		e.list = append(e.list, resourceEvent{ref: r, event: event})
	} else if event == bus.ResourceCreated {
		e.list[i].event = bus.ResourceCreated
	}
	return i
}

func describe(errs []catalog.Error) string {
	if len(errs) == 0 {
		return "no reason given"
	}
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

func errorsJSON(errs []catalog.Error) string {
	b, _ := json.Marshal(errs)
	return string(b)
}
