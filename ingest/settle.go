package ingest

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// Settling a delivery: once nothing reads its body again, ingest keeps the
// body in IMPORT_INPUTS for the retention and removes its message and
// object. It runs beside the re-drive loop, not in it, so that copying large
// bodies never holds back the re-drive of lost work.
const (
	// settleBatch bounds the deliveries one pass settles.
	settleBatch = 100
	// settleTimeout bounds settling one delivery, so that nothing it waits
	// for holds the loop for ever: a body is copied at hundreds of MB/s, and
	// a delivery is at most 8 GiB.
	settleTimeout = 5 * time.Minute
	// keepAttempts is how many passes at least try to keep a body before
	// it is removed unkept (Config.KeepGiveUp).
	keepAttempts = 5
)

// settleLoop settles deliveries every RedriveAfter/4, at most every minute.
func (w *Worker) settleLoop(ctx context.Context) {
	t := time.NewTicker(min(w.cfg.RedriveAfter/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.removeSettled(ctx); err != nil && ctx.Err() == nil {
			w.logger.Warn("settling deliveries failed", zap.Error(err))
		}
	}
}

// keepFailure is a body that failed to be kept in passes in a row.
type keepFailure struct {
	first  time.Time
	passes int
}

// removeSettled settles the deliveries completed, or whose operations are
// all ended or parked (tracking.DeliveriesSettled), up to settleBatch a
// pass: it keeps each body in IMPORT_INPUTS (keepInputs) and removes its
// message and object. What a merchant has in IMPORT_DELIVERIES is then what
// waits for ingest or is in flight (Limits.WaitingDeliveries), and
// IMPORT_PAYLOADS holds only bodies a re-drive may read. Ingest, which
// reads the bodies, is the one role that removes them; each delivery is
// settled under a claim (tracking.Store.DeliveryClaim), so that two
// workers never keep and remove one body at once, and a worker that dies
// leaves no claim behind.
func (w *Worker) removeSettled(ctx context.Context) error {
	ds, err := w.store.DeliveriesSettled(ctx, settleBatch)
	if err != nil {
		return err
	}
	failing := map[string]keepFailure{}
	defer func() { w.keepFailures = failing }()
	var errs []error
	for i := range ds {
		if err := w.settleClaimed(ctx, &ds[i], failing); err != nil {
			errs = append(errs, err) // tried again on the next pass
		}
	}
	return errors.Join(errs...)
}

// settleClaimed settles d if it can claim it, within settleTimeout.
func (w *Worker) settleClaimed(ctx context.Context, d *tracking.Delivery, failing map[string]keepFailure) error {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	claimed, release, ok, err := w.store.DeliveryClaim(ctx, d)
	if err != nil || !ok {
		return err
	}
	defer release()
	return w.settle(ctx, &claimed, failing)
}

// settle keeps the body of d and removes its message and object. A body
// that failed to be kept for KeepGiveUp, over keepAttempts passes, is
// removed unkept (InputsFailed); until then it stays, recorded in failing.
func (w *Worker) settle(ctx context.Context, d *tracking.Delivery, failing map[string]keepFailure) error {
	if err := w.keepInputs(ctx, d); err != nil {
		key := bus.KeptName(d.MerchantID, d.ReceiptID)
		f, ok := w.keepFailures[key]
		if !ok {
			f.first = time.Now()
		}
		f.passes++
		failing[key] = f
		if f.passes < keepAttempts || time.Since(f.first) < w.cfg.KeepGiveUp {
			return err
		}
		w.logger.Error("the body of a settled delivery cannot be kept in IMPORT_INPUTS: removed all the same",
			zap.String("receipt", d.ReceiptID), zap.String("merchant", d.MerchantID), zap.Int("passes", f.passes),
			zap.Duration("failing_for", time.Since(f.first)), zap.Error(err))
		if err := w.inputsNotKept(ctx, d, tracking.InputsFailed); err != nil {
			return err
		}
	}
	if err := w.bodies.Remove(ctx, d.Source, d.ObjectName); err != nil {
		return err
	}
	return w.store.DeliveryMessageRemoved(ctx, d)
}

// keepInputs copies the body of the settled delivery d into IMPORT_INPUTS,
// within its merchant's share (Limits.InputsBytesPerMerchant), and records
// whether it did. A body that cannot be kept (share used, bucket full, none
// kept, or gone already) is recorded as such and removed all the same:
// keeping bodies for reading back never holds back the deliveries waiting.
// Another error (NATS or PostgreSQL unavailable, a permission missing) is
// returned and leaves d as it was.
func (w *Worker) keepInputs(ctx context.Context, d *tracking.Delivery) error {
	if d.InputsState == tracking.InputsKept {
		return nil // kept by an earlier pass that failed to remove the message
	}
	limits := w.cfg.Bus.Limits
	if limits.InputsBytes < 0 {
		return w.inputsNotKept(ctx, d, tracking.InputsOff)
	}
	body, size, err := w.bodies.Open(ctx, bus.Body{Merchant: d.MerchantID, Receipt: d.ReceiptID, Source: d.Source, Object: d.ObjectName})
	if errors.Is(err, bus.ErrBodyGone) {
		return w.inputsNotKept(ctx, d, tracking.InputsGone)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	fits, err := w.store.InputsReserve(ctx, d, size, limits.InputsBytesPerMerchant)
	if err != nil {
		return err
	}
	if !fits {
		inputsTotal.WithLabelValues(tracking.InputsOverQuota).Inc()
		w.logger.Warn("the body of a settled delivery is not kept: its merchant's share of IMPORT_INPUTS is used (IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT)",
			zap.String("receipt", d.ReceiptID), zap.String("merchant", d.MerchantID), zap.Int64("bytes", size))
		return nil
	}
	err = w.bodies.Keep(ctx, d.MerchantID, d.ReceiptID, body, size)
	if bus.IsStreamFull(err) {
		w.logger.Warn("the body of a settled delivery is not kept: IMPORT_INPUTS is full (IMPORTD_INPUTS_MAX_BYTES)",
			zap.String("receipt", d.ReceiptID), zap.String("merchant", d.MerchantID), zap.Int64("bytes", size))
		return w.inputsNotKept(ctx, d, tracking.InputsFull)
	}
	if err != nil {
		return err
	}
	if err := w.store.InputsSet(ctx, d, tracking.InputsKept); err != nil {
		return err
	}
	inputsTotal.WithLabelValues(tracking.InputsKept).Inc()
	inputsBytes.Add(float64(size))
	return nil
}

// inputsNotKept records that d's body is not kept, and why.
func (w *Worker) inputsNotKept(ctx context.Context, d *tracking.Delivery, why string) error {
	if err := w.store.InputsSet(ctx, d, why); err != nil {
		return err
	}
	inputsTotal.WithLabelValues(why).Inc()
	return nil
}
