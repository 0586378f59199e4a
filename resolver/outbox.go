package resolver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// outboxBatch is how many apply_outbox rows (one per operation) one pass
// publishes.
const outboxBatch = 500

// newOutbox returns the publisher of the apply outbox.
func (w *Worker) newOutbox() *bus.Outbox {
	return bus.NewOutbox(bus.OutboxConfig{Name: "apply_outbox", Batch: outboxBatch}, w.publishOutbox, w.logger)
}

// kickOutbox wakes the outbox: released operations were committed.
func (w *Worker) kickOutbox() { w.outbox.Kick() }

// publishOutbox is the bus.OutboxPass of the apply outbox: it publishes up
// to limit released operations to the importer, in work messages cut to
// what NATS carries, and deletes their rows once JetStream has them.
// Several resolvers may run it at once (SKIP LOCKED). It returns how many
// rows it handled.
func (w *Worker) publishOutbox(ctx context.Context, limit int) (int, error) {
	n := 0
	err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
		locked, err := store.ApplyOutboxLock(ctx, tx, limit)
		if err != nil || len(locked) == 0 {
			return err
		}
		type delivery struct {
			receipt string
			at      time.Time
		}
		type group struct {
			merchant string
			seqs     []int
			rowOf    map[int]int64 // outbox row of each position
		}
		groups := map[delivery]*group{}
		ids := make([]int64, len(locked))
		for i, r := range locked {
			ids[i] = r.ID
			k := delivery{r.ReceiptID, r.DeliveryAt}
			if groups[k] == nil {
				groups[k] = &group{merchant: r.MerchantID, rowOf: map[int]int64{}}
			}
			groups[k].seqs = append(groups[k].seqs, r.Seq)
			groups[k].rowOf[r.Seq] = r.ID
		}
		n = len(ids)
		var completed []*tracking.Delivery
		var futures []jetstream.PubAckFuture
		limit := bus.MaxWorkBytes(w.js.Conn())
		for k, g := range groups {
			receipt := k.receipt
			byType, err := w.loadReleased(ctx, tx, g.merchant, receipt, k.at, g.seqs)
			if err != nil {
				return err
			}
			for rt, ops := range byType {
				wb := &bus.WorkBatch{ReceiptID: receipt, MerchantID: g.merchant, DeliveryAt: k.at, ResourceType: rt, Ops: ops}
				fs, tooLarge, err := w.publishApply(wb, limit, func(ops []bus.WorkOp) string { return outboxMsgID(receipt, ops, g.rowOf) })
				if err != nil {
					return err
				}
				futures = append(futures, fs...)
				// Rejected, and their rows deleted with the others: published
				// again they would be refused again.
				done, err := tracking.RejectWorkTx(ctx, tx, wb, tooLarge, tracking.CodeWorkMessageTooLarge, tracking.TooLargeDescription("importer", limit))
				if err != nil {
					return err
				}
				completed = append(completed, done...)
			}
		}
		if err := awaitAll(ctx, futures); err != nil {
			return err
		}
		w.announceAfterCommit(tx, completed)
		return store.ApplyOutboxDelete(ctx, tx, ids)
	})
	return n, err
}

// outboxMsgID names a work message by the outbox rows it carries: published
// again after a crash it is the same message (JetStream drops the
// duplicate), while the same operation queued again later (a retry on
// request) travels in a new one. Positions alone would not do: a retried
// operation's message would be dropped as a duplicate of its first release.
func outboxMsgID(receipt string, ops []bus.WorkOp, rowOf map[int]int64) string {
	h := fnv.New64a()
	for _, op := range ops {
		binary.Write(h, binary.LittleEndian, rowOf[op.Seq])
	}
	return fmt.Sprintf("%s.%d.apply.outbox.%d.%016x", receipt, ops[0].Seq, rowOf[ops[0].Seq], h.Sum64())
}

// loadReleased reads the records of released operations, by resource type.
func (w *Worker) loadReleased(ctx context.Context, tx pgx.Tx, merchant, receipt string, at time.Time, seqs []int) (map[string][]bus.WorkOp, error) {
	recs, err := store.OperationsRecordsAt(ctx, tx, receipt, at, seqs, int16(tracking.StageResolved))
	if err != nil {
		return nil, err
	}
	out := map[string][]bus.WorkOp{}
	for _, r := range recs {
		out[r.ResourceType] = append(out[r.ResourceType], bus.WorkOp{ID: tracking.OperationID(merchant, receipt, r.Seq).String(),
			Seq: r.Seq, Key: r.ResourceKey, Record: json.RawMessage(r.Record)})
	}
	return out, nil
}

// publishApply publishes a work batch to the importer asynchronously, cut
// into messages that NATS carries (bus.CutWork, under limit) and named by
// msgID. It returns the operations too large for any message: the caller
// rejects them.
func (w *Worker) publishApply(wb *bus.WorkBatch, limit int, msgID func([]bus.WorkOp) string) ([]jetstream.PubAckFuture, []bus.WorkOp, error) {
	msgs, tooLarge := bus.CutWork(wb, bus.MaxWorkOps, limit)
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		msg := nats.NewMsg(bus.ApplySubject(wb.MerchantID))
		msg.Data = m.Data
		msg.Header.Set(bus.HeaderMsgID, msgID(m.Ops))
		f, err := w.js.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrPublish, err)
		}
		futures = append(futures, f)
	}
	return futures, tooLarge, nil
}

// ErrPublish reports work JetStream did not take (a full IMPORT_WORK, NATS
// unreachable): the work is fine and waits for room, so it never counts
// towards the bound of a message's deliveries.
var ErrPublish = errors.New("resolver: publish to importer")

// awaitAll waits until JetStream has acknowledged every future.
func awaitAll(ctx context.Context, futures []jetstream.PubAckFuture) error {
	err := bus.AwaitAcks(ctx, futures, 30*time.Second)
	if err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPublish, err)
}
