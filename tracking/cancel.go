package tracking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// ErrInterrupted means the delivery was interrupted (canceled on request or
// by the error threshold): ingest stops reading it.
var ErrInterrupted = errors.New("tracking: delivery interrupted")

// ErrCompleted means the delivery has completed: there is nothing to cancel.
var ErrCompleted = errors.New("tracking: delivery completed")

// CodeCanceledError is the error code a canceled operation carries (docs/errors.md).
const CodeCanceledError = "CANCELED"

// ErrorThreshold is the share of failed records above which a delivery
// published without Import-Skip-Errors is interrupted.
const ErrorThreshold = 0.10

// Reasons a delivery is interrupted.
const (
	ReasonRequested = "canceled on request"
	ReasonThreshold = "more than 10% of its records failed"
)

// cancelChunk is how many operations one cancel transaction changes.
const cancelChunk = 2000

// overThreshold reports whether failed records exceed the error threshold.
func overThreshold(c Counts) bool {
	return c.Total > 0 && float64(c.Failed()) > ErrorThreshold*float64(c.Total)
}

// interrupt marks the delivery interrupted, once, with its event. It reports
// whether this call did it; a completed delivery is not interrupted.
func interrupt(ctx context.Context, db database.DBTX, d *Delivery, reason string, now time.Time) (bool, error) {
	done, err := store.DeliveriesInterrupt(ctx, db, d.ReceiptID, d.AcceptedAt, now, reason)
	if err != nil {
		return false, fmt.Errorf("tracking: interrupt %s: %w", d.ReceiptID, err)
	}
	if !done {
		return false, nil
	}
	interruptedTotal.WithLabelValues(reasonLabel(reason)).Inc()
	ev := NewEvent(d, "", CodeDeliveryInterrupted, "Delivery interrupted: "+reason+"; operations not yet done are canceled")
	if err := eventsInsert(ctx, db, []Event{ev}); err != nil {
		return false, err
	}
	return true, callbackQueue(ctx, db, d, bus.DeliveryInterrupted, now)
}

func reasonLabel(reason string) string {
	if reason == ReasonThreshold {
		return "threshold"
	}
	return "request"
}

// Cancel interrupts the delivery on request and cancels every operation not
// yet in an end state; parked operations are unparked for good. It is
// idempotent: canceling an interrupted delivery again finishes what an
// earlier call left. It fails with ErrCompleted when the delivery completed
// before it was interrupted.
func (s *Store) Cancel(ctx context.Context, d *Delivery) (*Delivery, error) {
	var done bool
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		// The row alone: interrupting changes no count.
		cur, err := deliveryLock(ctx, tx, d)
		if err != nil {
			return err
		}
		if cur.InterruptedAt == nil && cur.CompletedAt != nil {
			return ErrCompleted
		}
		done = cur.CompletedAt != nil
		_, err = interrupt(ctx, tx, d, ReasonRequested, s.now().UTC())
		return err
	})
	if err != nil {
		return nil, err
	}
	if !done {
		if _, err := s.CancelPending(ctx, d); err != nil {
			return nil, err
		}
	}
	got, err := s.DeliveryAt(ctx, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return nil, err
	}
	return &got, nil
}

// CancelPending cancels the operations of an interrupted delivery that are
// not in an end state, a chunk per transaction, and returns how many it
// canceled. The delivery completes with its last one (once ingest is done).
func (s *Store) CancelPending(ctx context.Context, d *Delivery) (int, error) {
	total, after := 0, -1
	for {
		n, last, err := s.cancelChunk(ctx, d, after)
		total += n
		if err != nil || last < 0 {
			return total, err
		}
		after = last
	}
}

// cancelChunk cancels up to cancelChunk pending operations after position
// after. It returns the last position it looked at, -1 when none was left.
func (s *Store) cancelChunk(ctx context.Context, d *Delivery, after int) (n, last int, err error) {
	last = -1
	err = store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		n, last = 0, -1
		// Read, not locked: interrupted is never undone, and the delivery row
		// is locked last (completion), after the counter slots
		// (TransitionsApply).
		cur, err := deliveryRow(ctx, tx, d)
		if err != nil {
			return err
		}
		if cur.InterruptedAt == nil {
			return nil
		}
		seqs, err := store.OperationsPendingSeqs(ctx, tx, d.ReceiptID, d.AcceptedAt, after, cancelChunk)
		if err != nil || len(seqs) == 0 {
			return err
		}
		last = seqs[len(seqs)-1]
		states, err := OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, seqs)
		if err != nil {
			return err
		}
		reason := ReasonRequested
		if cur.InterruptReason != "" {
			reason = cur.InterruptReason
		}
		var ts []Transition
		var locked []int
		for _, seq := range seqs {
			st, ok := states[seq]
			if !ok || st.State.Final() {
				continue
			}
			ev := NewEvent(st.Delivery(), st.ResourceKey, CodeCanceled, "Canceled: the delivery was interrupted ("+reason+")")
			ev.Debug = "previous state " + string(st.State)
			ts = append(ts, Transition{From: st, To: StateCanceled, Stage: st.Stage, Events: []Event{ev},
				Errors: []catalog.Error{{Type: catalog.DataError, Code: CodeCanceledError, Description: "the delivery was interrupted: " + reason}}})
			locked = append(locked, seq)
		}
		if len(ts) == 0 {
			return nil
		}
		// Unparked for good: no created resource will release them.
		if err := store.ParkedRefsDeleteOps(ctx, tx, d.ReceiptID, d.AcceptedAt, locked); err != nil {
			return fmt.Errorf("tracking: unpark canceled operations of %s: %w", d.ReceiptID, err)
		}
		if _, err := TransitionsApply(ctx, tx, ts); err != nil {
			return err
		}
		n = len(ts)
		return nil
	})
	if err != nil {
		return 0, -1, fmt.Errorf("tracking: cancel operations of %s: %w", d.ReceiptID, err)
	}
	canceledTotal.Add(float64(n))
	return n, last, nil
}

// InterruptedPending returns deliveries interrupted but not completed:
// their remaining operations are still to be canceled (after a crash, or
// when the error threshold interrupted them inside a worker's transaction).
func (s *Store) InterruptedPending(ctx context.Context, limit int) ([]Delivery, error) {
	ds, err := deliveriesOf(store.DeliveriesInterrupted(ctx, s.pool, limit))
	if err != nil {
		return nil, fmt.Errorf("tracking: interrupted deliveries: %w", err)
	}
	return ds, nil
}

// deliveryLock locks the delivery's row (the second of its locks, see
// internal/store) and returns its state.
func deliveryLock(ctx context.Context, tx pgx.Tx, d *Delivery) (store.DeliveryState, error) {
	cur, err := store.DeliveriesLock(ctx, tx, d.ReceiptID, d.AcceptedAt)
	return cur, deliveryErr(d, err)
}

// deliveryRow reads the delivery's state, its row not locked.
func deliveryRow(ctx context.Context, tx pgx.Tx, d *Delivery) (store.DeliveryState, error) {
	cur, err := store.DeliveriesState(ctx, tx, d.ReceiptID, d.AcceptedAt)
	return cur, deliveryErr(d, err)
}

func deliveryErr(d *Delivery, err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return notFound(err)
	}
	return fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, err)
}

var (
	interruptedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "importd_deliveries_interrupted_total",
		Help: "Deliveries interrupted, by reason (request, threshold).",
	}, []string{"reason"})
	canceledTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_operations_canceled_total",
		Help: "Operations canceled because their delivery was interrupted.",
	})
)
