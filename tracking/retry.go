package tracking

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/store"
)

// StateError refuses an action on an operation or delivery in the wrong
// state; the query service answers it with 409.
type StateError struct {
	What string // "operation 0190…", "delivery r1"
	Msg  string
}

func (e *StateError) Error() string { return e.What + " " + e.Msg }

// retryChunk is how many operations one retry transaction sends back.
const retryChunk = 2000

// RetryOperation sends one rejected operation back to processing with a
// fresh budget of attempts. Any other state is a *StateError.
func (s *Store) RetryOperation(ctx context.Context, d *Delivery, seq int) error {
	n, err := s.retry(ctx, d, []int{seq})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("tracking: retry of %s/%d did nothing", d.ReceiptID, seq)
	}
	return nil
}

// Retry sends every rejected operation of a delivery back to processing,
// each with a fresh budget of attempts, and returns how many. A delivery
// without a rejected operation is a *StateError.
func (s *Store) Retry(ctx context.Context, d *Delivery) (int, error) {
	total := 0
	for {
		n, err := s.retry(ctx, d, nil)
		if err != nil {
			if total > 0 {
				var se *StateError
				if errors.As(err, &se) {
					return total, nil
				}
			}
			return total, err
		}
		total += n
		if n < retryChunk { // retried ones are no longer rejected: the next call takes the next ones
			return total, nil
		}
	}
}

// retry sends the given rejected operations (or, with seqs nil, up to
// retryChunk of the delivery's) back to the importer through the apply
// outbox, in one transaction.
func (s *Store) retry(ctx context.Context, d *Delivery, seqs []int) (int, error) {
	n := 0
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		n = 0
		// Read, not locked, to refuse early: the delivery row is locked
		// below, after the counter slots (see TransitionsApply).
		cur, err := deliveryRow(ctx, tx, d)
		if err != nil {
			return err
		}
		if cur.InterruptedAt != nil {
			return &StateError{What: "delivery " + d.ReceiptID, Msg: "is interrupted; its operations cannot be retried"}
		}
		single := seqs != nil
		if !single {
			if seqs, err = store.OperationsRejectedSeqs(ctx, tx, d.ReceiptID, d.AcceptedAt, retryChunk); err != nil {
				return err
			}
			if len(seqs) == 0 {
				return &StateError{What: "delivery " + d.ReceiptID, Msg: "has no rejected operation to retry"}
			}
		}
		states, err := OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, seqs)
		if err != nil {
			return err
		}
		ts, retried, err := retryTransitions(d, seqs, states, single)
		if err != nil {
			return err
		}
		if _, err := TransitionsApply(ctx, tx, ts); err != nil {
			return err
		}
		// Now the delivery row, locked after the counter slots
		// TransitionsApply took (the lock order of internal/store). A worker
		// completing the delivery meanwhile either committed first, and the
		// delivery is reopened here, or waits for this transaction and then
		// counts these operations as pending (completeIfDone reads the
		// counts again under the lock). Unlocked, a worker that cannot see
		// these operations yet would complete the delivery while they are
		// processing; and a cancel committed since the read above would
		// miss them.
		cur, err = deliveryLock(ctx, tx, d)
		if err != nil {
			return err
		}
		if cur.InterruptedAt != nil {
			return &StateError{What: "delivery " + d.ReceiptID, Msg: "is interrupted; its operations cannot be retried"}
		}
		if cur.CompletedAt != nil {
			// Processing again: the delivery completes anew when these end.
			if err := store.DeliveriesReopen(ctx, tx, d.ReceiptID, d.AcceptedAt); err != nil {
				return err
			}
			ev := NewEvent(d, "", CodeDeliveryReopened, fmt.Sprintf("Processing again: %d rejected operations retried", len(ts)))
			if err := eventsInsert(ctx, tx, []Event{ev}); err != nil {
				return err
			}
		}
		// The resolver's outbox publishes them to the importer, records included.
		if err := ApplyOutboxInsert(ctx, tx, opRefs(d, retried)); err != nil {
			return fmt.Errorf("tracking: queue retried operations of %s: %w", d.ReceiptID, err)
		}
		n = len(ts)
		return nil
	})
	if err != nil {
		var se *StateError
		if errors.As(err, &se) || errors.Is(err, ErrNotFound) {
			return 0, err
		}
		return 0, fmt.Errorf("tracking: retry operations of %s: %w", d.ReceiptID, err)
	}
	retriedTotal.Add(float64(n))
	return n, nil
}

// retryTransitions decides the retry of the operations at seqs of delivery
// d, in states: each rejected operation whose record is kept goes back to
// processing, resolved, with a fresh budget of attempts. Of one operation
// asked for (single), any other state is an error; of a delivery's, such
// operations are left alone, and an error says when none is left.
func retryTransitions(d *Delivery, seqs []int, states map[int]OpState, single bool) ([]Transition, []int, error) {
	var ts []Transition
	var retried []int
	for _, seq := range seqs {
		st, ok := states[seq]
		if !ok {
			return nil, nil, ErrNotFound
		}
		what := "operation " + OperationID(d.MerchantID, d.ReceiptID, seq).String()
		if st.State != StateRejected {
			if single {
				return nil, nil, &StateError{What: what, Msg: "is " + string(st.State) + "; only rejected operations can be retried"}
			}
			continue
		}
		if st.Record == nil {
			if single {
				return nil, nil, &StateError{What: what, Msg: "is rejected but its record is no longer kept; publish it again"}
			}
			continue
		}
		ev := NewEvent(st.Delivery(), st.ResourceKey, CodeRetryRequested,
			fmt.Sprintf("Retry requested: back to processing with a fresh budget of attempts (after %d)", st.RetryCount))
		ts = append(ts, Transition{From: st, To: StateProcessing, Stage: StageResolved, Events: []Event{ev},
			Errors: []catalog.Error{}, Record: st.Record, Retries: -st.RetryCount})
		retried = append(retried, seq)
	}
	if len(ts) == 0 {
		return nil, nil, &StateError{What: "delivery " + d.ReceiptID, Msg: "has no rejected operation that can be retried"}
	}
	return ts, retried, nil
}

var retriedTotal = promauto.NewCounter(prometheus.CounterOpts{
	Name: "importd_operations_retried_total",
	Help: "Rejected operations sent back to processing on request.",
})
