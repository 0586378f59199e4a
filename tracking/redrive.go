package tracking

import (
	"context"
	"fmt"
	"time"

	"github.com/importd/importd/internal/store"
)

// Redrive is what one delivery has to publish again: operations in flight
// that made no progress for a while, claimed by RedriveClaim.
type Redrive struct {
	Delivery Delivery
	Seqs     []int         // the claimed positions whose records the body holds, in order
	Stages   map[Stage]int // how many claimed operations wait for each stage
	// Outboxed counts the claimed operations resolved with their record
	// stored (retried on request, released from parking, merged with their
	// master variant): queued in apply_outbox in the claim's transaction,
	// they need nothing of the body, which may be gone.
	Outboxed int
}

// RedriveCursor is where the next RedriveClaim goes on from: the deliveries
// are visited in the order they were accepted, a limited number per pass.
type RedriveCursor struct {
	at      time.Time
	receipt string
}

// redriveDeliveries bounds the deliveries one RedriveClaim looks into.
const redriveDeliveries = 100

// RedriveClaim claims up to limit operations in flight (processing, queued
// for the resolver or resolved) whose last change is older than after, in
// deliveries neither completed nor interrupted: each gets a Redriven event
// and a new last_modified_at, one transaction per delivery. The claimed
// operations are then not stale for another `after`, so neither the next
// pass nor another instance claims them again meanwhile (and rows another
// instance holds are skipped). The caller publishes their work again; if it
// fails, they are claimed again after `after`.
//
// The scan goes through the deliveries not completed (an index of few
// rows) and, in those with operations queued or processing, through the
// delivery's operations in position order by primary key. An index of
// operations by state or last_modified_at would cost every transition of
// every operation its HOT update (see migration 00008).
func (s *Store) RedriveClaim(ctx context.Context, after time.Duration, limit int, cur *RedriveCursor) ([]Redrive, error) {
	now := time.Now().UTC()
	cutoff := now.Add(-after)
	// A delivery accepted within `after` has no operation older than that.
	ds, err := deliveriesOf(store.DeliveriesInFlight(ctx, s.pool, cutoff, cur.at, cur.receipt, redriveDeliveries))
	if err != nil {
		return nil, fmt.Errorf("tracking: deliveries to re-drive: %w", err)
	}
	if len(ds) < redriveDeliveries {
		*cur = RedriveCursor{} // round: start again from the oldest
	} else {
		last := ds[len(ds)-1]
		*cur = RedriveCursor{at: last.AcceptedAt, receipt: last.ReceiptID}
	}
	var out []Redrive
	for i := range ds {
		if limit <= 0 {
			break
		}
		r, err := s.redriveClaimDelivery(ctx, &ds[i], cutoff, after, limit)
		if err != nil {
			return out, err
		}
		if len(r.Seqs) > 0 || r.Outboxed > 0 {
			out = append(out, r)
			limit -= len(r.Seqs) + r.Outboxed
		}
	}
	return out, nil
}

func (s *Store) redriveClaimDelivery(ctx context.Context, d *Delivery, cutoff time.Time, after time.Duration, limit int) (Redrive, error) {
	r := Redrive{Delivery: *d, Stages: map[Stage]int{}}
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		r.Seqs, r.Stages, r.Outboxed = nil, map[Stage]int{}, 0
		positions, err := store.OperationsLockStale(ctx, tx, d.ReceiptID, d.AcceptedAt,
			[2]int16{int16(StageQueued), int16(StageResolved)}, cutoff, limit)
		if err != nil || len(positions) == 0 {
			return err
		}
		states, err := OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, positions)
		if err != nil {
			return err
		}
		ts := make([]Transition, 0, len(states))
		var outboxed []int
		for _, seq := range positions {
			st, ok := states[seq]
			if !ok {
				continue
			}
			to := "resolver"
			if st.Stage == StageResolved {
				to = "importer"
			}
			if st.Stage == StageResolved && len(st.Record) > 0 {
				outboxed = append(outboxed, seq)
				to = "importer, from its stored record"
			} else {
				r.Seqs = append(r.Seqs, seq)
			}
			ev := NewEvent(d, st.ResourceKey, CodeRedriven, fmt.Sprintf("No progress for %s: its work is published again to the %s", after, to))
			// The same state and stage, the record kept: only the event and
			// last_modified_at change.
			ts = append(ts, Transition{From: st, To: st.State, Stage: st.Stage, Events: []Event{ev}, Record: st.Record})
			r.Stages[st.Stage]++
		}
		if _, err := TransitionsApply(ctx, tx, ts); err != nil {
			return err
		}
		r.Outboxed = len(outboxed)
		return ApplyOutboxInsert(ctx, tx, opRefs(d, outboxed))
	})
	if err != nil {
		return Redrive{}, fmt.Errorf("tracking: claim operations of %s to re-drive: %w", d.ReceiptID, err)
	}
	return r, nil
}
