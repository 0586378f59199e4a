package tracking

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ApplyOutboxInsert queues operations resolved with their record stored
// (released from parking, retried on request, re-driven) in apply_outbox,
// in the caller's transaction: the resolver's outbox publishes them to the
// importer, records included, under message ids of new outbox rows.
func ApplyOutboxInsert(ctx context.Context, tx pgx.Tx, ops []OpRef) error {
	if len(ops) == 0 {
		return nil
	}
	merchants, receipts, seqs, at := make([]string, len(ops)), make([]string, len(ops)), make([]int32, len(ops)), make([]time.Time, len(ops))
	for i, op := range ops {
		merchants[i], receipts[i], seqs[i], at[i] = op.MerchantID, op.ReceiptID, int32(op.Seq), op.DeliveryAt
	}
	if _, err := tx.Exec(ctx, `INSERT INTO apply_outbox (merchant_id, receipt_id, seq, delivery_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])`, merchants, receipts, seqs, at); err != nil {
		return fmt.Errorf("tracking: apply outbox: %w", err)
	}
	return nil
}

// opRefs names the operations of d at seqs.
func opRefs(d *Delivery, seqs []int) []OpRef {
	ops := make([]OpRef, len(seqs))
	for i, seq := range seqs {
		ops[i] = OpRef{ReceiptID: d.ReceiptID, MerchantID: d.MerchantID, DeliveryAt: d.AcceptedAt, Seq: seq}
	}
	return ops
}
