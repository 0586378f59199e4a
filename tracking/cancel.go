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
	tag, err := db.Exec(ctx, `UPDATE deliveries SET interrupted_at = $3, interrupt_reason = $4
		WHERE receipt_id = $1 AND accepted_at = $2 AND interrupted_at IS NULL AND completed_at IS NULL`,
		d.ReceiptID, d.AcceptedAt, now, reason)
	if err != nil {
		return false, fmt.Errorf("tracking: interrupt %s: %w", d.ReceiptID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	interruptedTotal.WithLabelValues(reasonLabel(reason)).Inc()
	ev := NewEvent(d, "", CodeDeliveryInterrupted, "Delivery interrupted: "+reason+"; operations not yet done are canceled")
	return true, eventsInsert(ctx, db, []Event{ev})
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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
		// is locked last (completion), after the counter slots.
		cur, err := deliveryRow(ctx, tx, d, "")
		if err != nil {
			return err
		}
		if cur.InterruptedAt == nil {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT seq FROM operations
			WHERE receipt_id = $1 AND delivery_at = $2 AND seq > $3
			  AND state IN ('processing', 'unresolved', 'waitForMasterVariant')
			ORDER BY seq LIMIT $4`, d.ReceiptID, d.AcceptedAt, after, cancelChunk)
		if err != nil {
			return err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil || len(seqs) == 0 {
			return err
		}
		last = seqs[len(seqs)-1]
		states, err := OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, seqs)
		if err != nil {
			return err
		}
		reason := ReasonRequested
		if cur.interruptReason != "" {
			reason = cur.interruptReason
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
		if _, err := tx.Exec(ctx, `DELETE FROM parked_refs WHERE receipt_id = $1 AND delivery_at = $2 AND seq = any($3)`,
			d.ReceiptID, d.AcceptedAt, locked); err != nil {
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
	rows, err := s.pool.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE interrupted_at IS NOT NULL AND completed_at IS NULL ORDER BY interrupted_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("tracking: interrupted deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// lockedDelivery is the part of a delivery row cancel and retry decide on.
type lockedDelivery struct {
	IngestState     string
	CompletedAt     *time.Time
	InterruptedAt   *time.Time
	interruptReason string
}

func deliveryLock(ctx context.Context, tx pgx.Tx, d *Delivery) (lockedDelivery, error) {
	return deliveryRow(ctx, tx, d, "FOR UPDATE")
}

func deliveryRow(ctx context.Context, tx pgx.Tx, d *Delivery, lock string) (lockedDelivery, error) {
	var l lockedDelivery
	err := tx.QueryRow(ctx, `SELECT ingest_state, completed_at, interrupted_at, coalesce(interrupt_reason, '') FROM deliveries
		WHERE receipt_id = $1 AND accepted_at = $2 `+lock, d.ReceiptID, d.AcceptedAt).Scan(&l.IngestState, &l.CompletedAt, &l.InterruptedAt, &l.interruptReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, err)
	}
	return l, nil
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
