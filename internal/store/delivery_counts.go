package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/importd/importd/internal/database"
)

// DeliveryCounts are a delivery's operation counts, per state: the sum of
// its counter slots, or a change to add to one.
type DeliveryCounts struct {
	Total            int64
	Queued           int64
	Processing       int64
	Unresolved       int64
	Waiting          int64
	Imported         int64
	Partially        int64
	ValidationFailed int64
	Rejected         int64
	Canceled         int64
}

// countSlots is how many rows of delivery_counts a delivery spreads its
// counters over, so that concurrent writers of one delivery rarely wait for
// each other.
const countSlots = 8

// DeliveryCountsAdd adds c to one of the delivery's counter slots, chosen
// at random, which stays locked until the transaction ends. A zero c writes
// and locks nothing. The slot is the first of a delivery's two locks (see
// the package doc): in a transaction of InTx that has locked the delivery's
// row already, it fails with ErrLockOrder instead of risking a deadlock.
func DeliveryCountsAdd(ctx context.Context, db database.DBTX, receipt string, at time.Time, c DeliveryCounts) error {
	if c == (DeliveryCounts{}) {
		return nil
	}
	if tx, ok := db.(*Tx); ok && tx.rowLocked(receipt, at) {
		return fmt.Errorf("%w: counter slot of %s after its row", ErrLockOrder, receipt)
	}
	_, err := db.Exec(ctx, `INSERT INTO delivery_counts AS c (receipt_id, delivery_at, slot, total, queued, processing, unresolved,
			waiting, imported, partially, validation_failed, rejected, canceled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (receipt_id, slot, delivery_at) DO UPDATE SET
			total = c.total + excluded.total, queued = c.queued + excluded.queued,
			processing = c.processing + excluded.processing, unresolved = c.unresolved + excluded.unresolved,
			waiting = c.waiting + excluded.waiting, imported = c.imported + excluded.imported,
			partially = c.partially + excluded.partially, validation_failed = c.validation_failed + excluded.validation_failed,
			rejected = c.rejected + excluded.rejected, canceled = c.canceled + excluded.canceled`,
		database.Prepared, receipt, at, int16(rand.IntN(countSlots)), c.Total, c.Queued, c.Processing, c.Unresolved,
		c.Waiting, c.Imported, c.Partially, c.ValidationFailed, c.Rejected, c.Canceled)
	return err
}

// DeliveryCountsSum returns the sum of the delivery's counter slots.
func DeliveryCountsSum(ctx context.Context, db database.DBTX, receipt string, at time.Time) (DeliveryCounts, error) {
	var c DeliveryCounts
	err := db.QueryRow(ctx, `SELECT coalesce(sum(total),0), coalesce(sum(queued),0), coalesce(sum(processing),0),
			coalesce(sum(unresolved),0), coalesce(sum(waiting),0), coalesce(sum(imported),0), coalesce(sum(partially),0),
			coalesce(sum(validation_failed),0), coalesce(sum(rejected),0), coalesce(sum(canceled),0)
		FROM delivery_counts WHERE receipt_id = $1 AND delivery_at = $2`, database.Prepared, receipt, at).
		Scan(c.fields()...)
	return c, err
}

// DeliveryCountsParked returns how many operations are parked now, over
// every delivery kept: unresolved ones, and those waiting for their master
// variant. It reads the counter slots, a few rows a delivery, not the
// operations.
func DeliveryCountsParked(ctx context.Context, db database.DBTX) (unresolved, waiting int64, err error) {
	err = db.QueryRow(ctx, `SELECT coalesce(sum(unresolved),0)::bigint, coalesce(sum(waiting),0)::bigint FROM delivery_counts`).
		Scan(&unresolved, &waiting)
	return unresolved, waiting, err
}

func (c *DeliveryCounts) fields() []any {
	return []any{&c.Total, &c.Queued, &c.Processing, &c.Unresolved, &c.Waiting, &c.Imported, &c.Partially,
		&c.ValidationFailed, &c.Rejected, &c.Canceled}
}

// countsLateral sums a delivery d's counter slots next to it, as columns
// c.n_*; the same numbers as DeliveryCountsSum.
const countsLateral = `CROSS JOIN LATERAL (SELECT
		coalesce(sum(dc.total), 0)::bigint AS n_total, coalesce(sum(dc.queued), 0)::bigint AS n_queued,
		coalesce(sum(dc.processing), 0)::bigint AS n_processing, coalesce(sum(dc.unresolved), 0)::bigint AS n_unresolved,
		coalesce(sum(dc.waiting), 0)::bigint AS n_waiting, coalesce(sum(dc.imported), 0)::bigint AS n_imported,
		coalesce(sum(dc.partially), 0)::bigint AS n_partially, coalesce(sum(dc.validation_failed), 0)::bigint AS n_validation_failed,
		coalesce(sum(dc.rejected), 0)::bigint AS n_rejected, coalesce(sum(dc.canceled), 0)::bigint AS n_canceled
	FROM delivery_counts dc WHERE dc.receipt_id = d.receipt_id AND dc.delivery_at = d.accepted_at) c`
