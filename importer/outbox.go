package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
)

// outboxRows is how many outbox rows (one per importer transaction, each a
// batch's events) one pass publishes.
const outboxRows = 8

// newOutbox returns the publisher of the event outbox.
func (w *Worker) newOutbox() *bus.Outbox {
	return bus.NewOutbox(bus.OutboxConfig{Name: "event_outbox", Batch: outboxRows}, w.publishOutbox, w.logger)
}

// kickOutbox wakes the outbox: a transaction with resource events committed.
func (w *Worker) kickOutbox() { w.outbox.Kick() }

// publishOutbox is the bus.OutboxPass of the event outbox: it publishes the
// resource events of up to limit rows and deletes the rows once JetStream
// has every event. Several importers may run it at once (SKIP LOCKED); a
// crash before the delete publishes them again, which the stream's
// duplicate window (the message ids are the row and the position in it)
// and the resolver's idempotence absorb.
func (w *Worker) publishOutbox(ctx context.Context, limit int) (int, error) {
	var rows, events int
	err := store.InTx(ctx, w.store.Pool(), func(tx *store.Tx) error {
		var ids []int64
		var futures []jetstream.PubAckFuture
		locked, err := store.EventOutboxLock(ctx, tx, limit)
		if err != nil {
			return err
		}
		for _, r := range locked {
			id, merchant, rts, evs, typeIDs, keys, skus := r.ID, r.MerchantID, r.ResourceTypes, r.Events, r.TypeIDs, r.Keys, r.SKUs
			if len(evs) != len(rts) || len(typeIDs) != len(rts) || len(keys) != len(rts) || (len(skus) != 0 && len(skus) != len(rts)) {
				return fmt.Errorf("importer: event outbox row %d: arrays of different lengths", id)
			}
			for i := range rts {
				ev := bus.ResourceEvent{TypeID: typeIDs[i], Key: keys[i]}
				if t, _ := catalog.ResourceTypeOf(typeIDs[i]); t.IdentifiedBySKU() {
					ev = bus.ResourceEvent{TypeID: typeIDs[i], SKU: keys[i]}
				}
				if len(skus) != 0 && skus[i] != "" {
					ev.SKUs = strings.Fields(skus[i])
				}
				data, _ := json.Marshal(ev)
				msg := nats.NewMsg(bus.CatalogSubject(merchant, rts[i], bus.ResourceChange(evs[i])))
				msg.Data = data
				msg.Header.Set(bus.HeaderMsgID, fmt.Sprintf("importd-event-%d-%d", id, i))
				msg.Header.Set(bus.HeaderRegistered, "true") // recordWritten marked them
				f, err := w.js.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second))
				if err != nil {
					return err
				}
				futures = append(futures, f)
			}
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := bus.AwaitAcks(ctx, futures, 30*time.Second); err != nil {
			return fmt.Errorf("importer: resource events: %w", err)
		}
		rows, events = len(ids), len(futures)
		return store.EventOutboxDelete(ctx, tx, ids)
	})
	if err != nil {
		return 0, err
	}
	eventsPublishedTotal.Add(float64(events))
	return rows, nil
}
