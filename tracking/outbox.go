package tracking

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/store"
)

// ApplyOutboxInsert queues operations resolved with their record stored
// (released from parking, retried on request, re-driven) in apply_outbox,
// in the caller's transaction: the resolver's outbox publishes them to the
// importer, records included, under message ids of new outbox rows.
func ApplyOutboxInsert(ctx context.Context, tx pgx.Tx, ops []OpRef) error {
	rows := make([]store.ApplyOutboxRow, len(ops))
	for i, op := range ops {
		rows[i] = store.ApplyOutboxRow{MerchantID: op.MerchantID, ReceiptID: op.ReceiptID, DeliveryAt: op.DeliveryAt, Seq: op.Seq}
	}
	return store.ApplyOutboxInsert(ctx, tx, rows)
}

// opRefs names the operations of d at seqs.
func opRefs(d *Delivery, seqs []int) []OpRef {
	ops := make([]OpRef, len(seqs))
	for i, seq := range seqs {
		ops[i] = OpRef{ReceiptID: d.ReceiptID, MerchantID: d.MerchantID, DeliveryAt: d.AcceptedAt, Seq: seq}
	}
	return ops
}
