package tracking

import (
	"context"
	"errors"
	"fmt"

	"github.com/importd/importd/internal/store"
)

// DeliveriesSettled returns up to limit deliveries read to their end whose
// message is still in JetStream and that either completed, or have their
// operations all ended or parked (none queued for the resolver or on its
// way to the importer): nothing reads their body again, as parked records,
// and the records released from parking or retried on request, are
// stored. Their bodies may be kept and their messages and objects go
// (DeliveryMessageRemoved), so that a merchant's deliveries waiting for
// references do not hold its places in IMPORT_DELIVERIES. A worker settles
// one under DeliveryClaim.
func (s *Store) DeliveriesSettled(ctx context.Context, limit int) ([]Delivery, error) {
	ds, err := deliveriesOf(store.DeliveriesSettled(ctx, s.pool, IngestReceiving, limit))
	if err != nil {
		return nil, fmt.Errorf("tracking: settled deliveries: %w", err)
	}
	return ds, nil
}

// DeliveryClaim claims d for this worker alone, until release is called or
// the process ends, and returns d as it is once claimed; ok is false when
// another worker holds it, or it is no longer settled-and-held (its message
// removed meanwhile).
func (s *Store) DeliveryClaim(ctx context.Context, d *Delivery) (claimed Delivery, release func(), ok bool, err error) {
	c, ok, err := store.DeliveriesClaim(ctx, s.pool, d.MerchantID, d.ReceiptID)
	if err != nil || !ok {
		return Delivery{}, nil, false, err
	}
	claimed, err = s.DeliveryFind(ctx, d.MerchantID, d.ReceiptID)
	if err != nil || claimed.MessageRemoved {
		c.Release()
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return Delivery{}, nil, false, err
	}
	return claimed, c.Release, true, nil
}

// DeliveryMessageRemoved records that the message and object of d are gone.
func (s *Store) DeliveryMessageRemoved(ctx context.Context, d *Delivery) error {
	if err := store.DeliveriesMessageRemoved(ctx, s.pool, d.ReceiptID, d.AcceptedAt); err != nil {
		return fmt.Errorf("tracking: record the removed message of %s: %w", d.ReceiptID, err)
	}
	return nil
}

// States of a delivery's body in IMPORT_INPUTS (Delivery.InputsState); ""
// while its message and object hold it.
const (
	InputsReserved  = store.InputsReserved
	InputsKept      = store.InputsKept
	InputsOverQuota = store.InputsOverQuota
	InputsFull      = store.InputsFull
	InputsOff       = store.InputsOff
	InputsGone      = store.InputsGone
	InputsFailed    = store.InputsFailed
)

// InputsReserve counts size bytes of d's body against its merchant's share
// of IMPORT_INPUTS, quota bytes, and reports whether they fit; one that
// does not is recorded as InputsOverQuota.
func (s *Store) InputsReserve(ctx context.Context, d *Delivery, size, quota int64) (bool, error) {
	fits, err := store.DeliveriesInputsReserve(ctx, s.pool, d.MerchantID, d.ReceiptID, d.AcceptedAt, size, quota)
	if err != nil {
		return false, fmt.Errorf("tracking: reserve the kept body of %s: %w", d.ReceiptID, err)
	}
	return fits, nil
}

// InputsSet records the state of d's body in IMPORT_INPUTS.
func (s *Store) InputsSet(ctx context.Context, d *Delivery, state string) error {
	if err := store.DeliveriesInputsSet(ctx, s.pool, d.ReceiptID, d.AcceptedAt, state); err != nil {
		return fmt.Errorf("tracking: record the kept body of %s: %w", d.ReceiptID, err)
	}
	return nil
}
