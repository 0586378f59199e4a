package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// ApplyOutboxRow is a row of apply_outbox: an operation resolved with its
// record stored, to publish to the importer.
type ApplyOutboxRow struct {
	ID         int64
	MerchantID string
	ReceiptID  string
	DeliveryAt time.Time
	Seq        int
}

// ApplyOutboxInsert queues operations (ID unset) in the caller's
// transaction: released from parking, retried on request, re-driven.
func ApplyOutboxInsert(ctx context.Context, db database.DBTX, rows []ApplyOutboxRow) error {
	if len(rows) == 0 {
		return nil
	}
	merchants, receipts, seqs, at := make([]string, len(rows)), make([]string, len(rows)), make([]int32, len(rows)), make([]time.Time, len(rows))
	for i, r := range rows {
		merchants[i], receipts[i], seqs[i], at[i] = r.MerchantID, r.ReceiptID, int32(r.Seq), r.DeliveryAt
	}
	if _, err := db.Exec(ctx, `INSERT INTO apply_outbox (merchant_id, receipt_id, seq, delivery_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])`, merchants, receipts, seqs, at); err != nil {
		return fmt.Errorf("store: apply outbox: %w", err)
	}
	return nil
}

// ApplyOutboxLock locks up to limit rows, oldest first, skipping those
// another transaction holds: several publishers share the outbox.
func ApplyOutboxLock(ctx context.Context, db database.DBTX, limit int) ([]ApplyOutboxRow, error) {
	rows, err := db.Query(ctx, `SELECT id, merchant_id, receipt_id, seq, delivery_at FROM apply_outbox
		ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: apply outbox: %w", err)
	}
	var out []ApplyOutboxRow
	var r ApplyOutboxRow
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.MerchantID, &r.ReceiptID, &r.Seq, &r.DeliveryAt}, func() error {
		r.DeliveryAt = r.DeliveryAt.UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: apply outbox: %w", err)
	}
	return out, nil
}

// ApplyOutboxDelete deletes the rows with the given ids.
func ApplyOutboxDelete(ctx context.Context, db database.DBTX, ids []int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM apply_outbox WHERE id = any($1)`, ids); err != nil {
		return fmt.Errorf("store: apply outbox: %w", err)
	}
	return nil
}

// ApplyOutboxDeleteRange deletes the rows of deliveries accepted in
// [lower, upper): their partitions are being dropped.
func ApplyOutboxDeleteRange(ctx context.Context, db database.DBTX, lower, upper time.Time) error {
	_, err := db.Exec(ctx, "DELETE FROM apply_outbox WHERE delivery_at >= $1 AND delivery_at < $2", lower, upper)
	return err
}
