package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// CallbackBody is the body POSTed to a delivery's callback URL: its /status
// body as it was when the delivery ended, with its receipt and the event
// that ended it (completed, failed, interrupted, expired).
type CallbackBody struct {
	StatusBody
	ReceiptID string `json:"ReceiptId"`
	Event     string `json:"Event"`
}

// callbackQueue queues the call of the delivery's callback URL for event,
// in the transaction that ends the delivery, when it has one. The body is
// made now, from what the transaction sees: an expired delivery is gone
// before its call is made.
func callbackQueue(ctx context.Context, db database.DBTX, d *Delivery, event bus.DeliveryEvent, now time.Time) error {
	cur, err := deliveryAt(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return fmt.Errorf("tracking: callback of %s: %w", d.ReceiptID, err)
	}
	if cur.CallbackURL == "" {
		return nil
	}
	c, err := countsGet(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return fmt.Errorf("tracking: callback of %s: %w", d.ReceiptID, err)
	}
	body, err := json.Marshal(CallbackBody{StatusBody: StatusOf(&cur, c, now), ReceiptID: cur.ReceiptID, Event: string(event)})
	if err != nil {
		return err
	}
	return store.CallbacksInsert(ctx, db, store.CallbackRow{MerchantID: cur.MerchantID, ReceiptID: cur.ReceiptID,
		DeliveryAt: cur.AcceptedAt, Event: string(event), URL: cur.CallbackURL, Body: body, CreatedAt: now, NextAt: now})
}

// Callback states, as the job object shows them.
const (
	CallbackWaiting   = "waiting"   // the delivery has not ended yet
	CallbackPending   = "pending"   // being tried
	CallbackDelivered = "delivered" // answered with a 2xx
	CallbackFailed    = "failed"    // given up
)

// CallbackState is what the job object shows of a delivery's callback: the
// latest call, or that none is due yet. The URL's host only: its path and
// query may hold the receiver's own tokens.
type CallbackState struct {
	Host           string     `json:"host"`
	State          string     `json:"state"`
	Event          string     `json:"event,omitempty"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"lastStatusCode"`
	LastError      *string    `json:"lastError"`
	LastAttemptAt  *time.Time `json:"lastAttemptAt"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt"`
}

// CallbackOf returns the state of the delivery's callback, or nil when it
// has none.
func (s *Store) CallbackOf(ctx context.Context, d *Delivery) (*CallbackState, error) {
	if d.CallbackURL == "" {
		return nil, nil
	}
	st := &CallbackState{State: CallbackWaiting}
	if u, err := url.Parse(d.CallbackURL); err == nil {
		st.Host = u.Host
	}
	c, err := store.CallbacksLatest(ctx, s.pool, d.ReceiptID, d.AcceptedAt)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tracking: callback of %s: %w", d.ReceiptID, err)
	}
	st.Event, st.Attempts, st.LastStatusCode, st.LastError = c.Event, c.Attempts, c.LastStatus, c.LastError
	st.LastAttemptAt = utc(c.LastAttemptAt)
	switch {
	case c.DeliveredAt != nil:
		st.State = CallbackDelivered
	case c.GivenUpAt != nil:
		st.State = CallbackFailed
	default:
		st.State = CallbackPending
		st.NextAttemptAt = utc(&c.NextAt)
	}
	return st, nil
}

// CallbacksDue claims up to limit calls due now for lease (see
// store.CallbacksClaim).
func (s *Store) CallbacksDue(ctx context.Context, lease time.Duration, limit int) ([]store.CallbackRow, error) {
	rows, err := store.CallbacksClaim(ctx, s.pool, s.now().UTC(), lease, limit)
	if err != nil {
		return nil, fmt.Errorf("tracking: due callbacks: %w", err)
	}
	return rows, nil
}

// CallbackRecord records an attempt of call c and, when it is the last
// (delivered or given up), the delivery's event that says so, if the
// delivery is still kept.
func (s *Store) CallbackRecord(ctx context.Context, c store.CallbackRow, a store.CallbackAttempt, message string) error {
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		if err := store.CallbacksRecord(ctx, tx, c.ID, a); err != nil {
			return err
		}
		if !a.Delivered && !a.GivenUp {
			return nil
		}
		d, err := deliveryAt(ctx, tx, c.ReceiptID, c.DeliveryAt)
		if errors.Is(err, ErrNotFound) || (err == nil && !d.ExpiresAt.After(a.At)) {
			return nil // its events are gone, or about to go with their partition
		}
		if err != nil {
			return err
		}
		code := CodeDeliveryCallbackDelivered
		if !a.Delivered {
			code = CodeDeliveryCallbackGivenUp
		}
		return eventsInsert(ctx, tx, []Event{NewEvent(&d, "", code, message)})
	})
	if err != nil {
		return fmt.Errorf("tracking: record the callback of %s: %w", c.ReceiptID, err)
	}
	return nil
}
