package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
)

// Announce publishes a delivery event (accepted, queued, completed, failed,
// …) on import.events.<merchant>.<receipt>.<event> with the delivery's
// /status body, and its foreign key and metadata in the headers it came
// with. The message id makes a repeat a no-op; a completion's names its
// time, so that a delivery reopened by a retry and completed again is
// announced again. A completion announced is recorded (AnnounceMissed).
func (s *Store) Announce(ctx context.Context, js jetstream.JetStream, d *Delivery, event bus.DeliveryEvent) error {
	body, err := s.Status(ctx, d)
	if err != nil {
		return err
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(bus.EventSubject(d.MerchantID, d.ReceiptID, event))
	msg.Data = data
	id := bus.DeliveryID(d.MerchantID, d.ReceiptID) + "." + string(event)
	var completedAt time.Time
	if event == bus.DeliveryCompleted && d.CompletedAt != nil {
		completedAt = d.CompletedAt.Truncate(time.Microsecond) // as stored
		id += "." + strconv.FormatInt(completedAt.UnixMicro(), 10)
	}
	msg.Header.Set(bus.HeaderMsgID, id)
	if d.ForeignKey != nil {
		msg.Header.Set(bus.HeaderForeignKey, *d.ForeignKey)
	}
	for k, v := range d.Metadata {
		msg.Header.Set(bus.HeaderMetadataPrefix+k, v)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("tracking: announce %s of %s: %w", event, d.ReceiptID, err)
	}
	if !completedAt.IsZero() {
		if err := store.DeliveriesCompletionAnnounced(ctx, s.pool, d.ReceiptID, d.AcceptedAt, completedAt); err != nil {
			return fmt.Errorf("tracking: record the announced completion of %s: %w", d.ReceiptID, err)
		}
	}
	return nil
}

// AnnounceMissed announces the completions of deliveries that completed
// more than grace ago and whose completed event was never published (a
// crash between the commit and the publication, a JetStream outage), up to
// 100 at a time, and returns how many it announced, with the errors of
// those it could not. The resolver's sweep calls it.
func (s *Store) AnnounceMissed(ctx context.Context, js jetstream.JetStream, grace time.Duration) (int, error) {
	keys, err := store.DeliveriesUnannounced(ctx, s.pool, grace, 100)
	if err != nil {
		return 0, fmt.Errorf("tracking: unannounced completions: %w", err)
	}
	n := 0
	var errs []error
	for _, k := range keys {
		if err := s.AnnounceCompleted(ctx, js, k.ReceiptID, k.AcceptedAt); err != nil {
			errs = append(errs, err) // the others are still announced
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// AnnounceCompleted loads the delivery (receipt, acceptedAt) and announces
// its completion, if it has completed.
func (s *Store) AnnounceCompleted(ctx context.Context, js jetstream.JetStream, receipt string, acceptedAt time.Time) error {
	d, err := s.DeliveryAt(ctx, receipt, acceptedAt)
	if err != nil || d.CompletedAt == nil {
		return err
	}
	return s.Announce(ctx, js, &d, bus.DeliveryCompleted)
}
