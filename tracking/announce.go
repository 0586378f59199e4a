package tracking

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/internal/bus"
)

// Announce publishes a delivery event (accepted, queued, completed, failed,
// …) on import.events.<merchant>.<receipt>.<event> with the delivery's
// /status body. The message id makes a repeat a no-op.
func (s *Store) Announce(ctx context.Context, js jetstream.JetStream, d *Delivery, event string) error {
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
	msg.Header.Set(bus.HeaderMsgID, d.ReceiptID+"."+event)
	if d.ForeignKey != nil {
		msg.Header.Set(bus.HeaderForeignKey, *d.ForeignKey)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("tracking: announce %s of %s: %w", event, d.ReceiptID, err)
	}
	return nil
}

// AnnounceCompleted loads a delivery and announces its completion, if it
// has completed.
func (s *Store) AnnounceCompleted(ctx context.Context, js jetstream.JetStream, receipt string) error {
	d, err := s.DeliveryGet(ctx, receipt)
	if err != nil || d.CompletedAt == nil {
		return err
	}
	return s.Announce(ctx, js, &d, "completed")
}
