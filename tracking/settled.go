package tracking

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DeliveriesSettled returns up to limit deliveries read to their end whose
// message is still in JetStream and that either completed, or have their
// operations all ended or parked (none queued for the resolver or on its way
// to the importer): nothing reads their body again, as parked records, and
// the records released from parking or retried on request, are stored.
// Their messages and objects may go (DeliveryMessageRemoved), so that a
// merchant's deliveries waiting for references do not hold its places in
// IMPORT_DELIVERIES.
func (s *Store) DeliveriesSettled(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries d
		WHERE d.message_removed_at IS NULL AND d.ingest_state <> $1
			AND (d.completed_at IS NOT NULL OR (d.interrupted_at IS NULL
				AND (SELECT coalesce(sum(c.queued + c.processing), 0) FROM delivery_counts c
					WHERE c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at) = 0))
		ORDER BY d.accepted_at, d.receipt_id LIMIT $2`, IngestReceiving, limit)
	if err != nil {
		return nil, fmt.Errorf("tracking: settled deliveries: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, fmt.Errorf("tracking: settled deliveries: %w", err)
	}
	return ds, nil
}

// DeliveryMessageRemoved records that the message and object of d are gone.
func (s *Store) DeliveryMessageRemoved(ctx context.Context, d *Delivery) error {
	if _, err := s.pool.Exec(ctx, `UPDATE deliveries SET message_removed_at = now()
		WHERE receipt_id = $1 AND accepted_at = $2`, d.ReceiptID, d.AcceptedAt); err != nil {
		return fmt.Errorf("tracking: record the removed message of %s: %w", d.ReceiptID, err)
	}
	return nil
}
