package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
)

const outboxBatch = 1000

// publishOutbox publishes up to outboxBatch resource events and deletes
// them once JetStream has them. Several importers may run it at once (SKIP
// LOCKED); a crash before the delete publishes them again, which the
// stream's duplicate window and the resolver's idempotence absorb.
func (w *Worker) publishOutbox(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, w.store.Pool(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, merchant_id, resource_type, event, type_id, key FROM event_outbox
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, outboxBatch)
		if err != nil {
			return err
		}
		var ids []int64
		var futures []jetstream.PubAckFuture
		var id int64
		var merchant, rt, event, typeID, key string
		_, err = pgx.ForEachRow(rows, []any{&id, &merchant, &rt, &event, &typeID, &key}, func() error {
			ev := bus.ResourceEvent{TypeID: typeID, Key: key}
			if t, _ := catalog.ResourceTypeOf(typeID); t.IdentifiedBySKU() {
				ev = bus.ResourceEvent{TypeID: typeID, SKU: key}
			}
			data, _ := json.Marshal(ev)
			msg := nats.NewMsg(bus.CatalogSubject(merchant, rt, event))
			msg.Data = data
			msg.Header.Set(bus.HeaderMsgID, fmt.Sprintf("importd-event-%d", id))
			f, err := w.js.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second))
			if err != nil {
				return err
			}
			futures = append(futures, f)
			ids = append(ids, id)
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("importer: resource event not stored: %w", err)
			case <-time.After(30 * time.Second):
				return fmt.Errorf("importer: resource events not acknowledged within 30s")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n = len(ids)
		_, err = tx.Exec(ctx, `DELETE FROM event_outbox WHERE id = any($1)`, ids)
		return err
	})
	if err == nil {
		eventsPublishedTotal.Add(float64(n))
	}
	return n, err
}

func (w *Worker) kickOutbox() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Worker) outboxLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		for ctx.Err() == nil {
			n, err := w.publishOutbox(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.logger.Warn("publishing resource events failed", zap.Error(err))
				}
				break
			}
			if n < outboxBatch {
				break
			}
		}
	}
}
