package tracking

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
)

// SYSTEM_ERROR codes of operations whose work no retry can carry or
// handle: they end rejected at once instead of looping. docs/errors.md
// documents each.
const (
	// CodeWorkMessageTooLarge: the record, alone in a work message, is over
	// what the NATS server accepts (its max payload).
	CodeWorkMessageTooLarge = "WORK_MESSAGE_TOO_LARGE"
	// CodeUnknownResourceType: the work message names a resource type this
	// version of importd does not handle.
	CodeUnknownResourceType = "UNKNOWN_RESOURCE_TYPE"
	// CodeRedeliveryLimit: the work message failed every one of its
	// deliveries, up to the bound (bus.Config.MaxDeliver).
	CodeRedeliveryLimit = "REDELIVERY_LIMIT"
)

var workRejectedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "importd_work_rejected_total",
	Help: "Operations rejected because their work message could never be sent or handled, by error code.",
}, []string{"code"})

// TooLargeDescription is the description of a CodeWorkMessageTooLarge
// error: the record could not be sent to stage ("resolver", "importer") in
// a message of at most maxBytes.
func TooLargeDescription(stage string, maxBytes int) string {
	return fmt.Sprintf("the record does not fit in a message to the %s: encoded alone it is over %d bytes, "+
		"the NATS server's max payload less room for headers", stage, maxBytes)
}

// RedeliveryDescription is the description of a CodeRedeliveryLimit
// error: stage ("resolver", "importer") failed to handle the work message
// at each of its n deliveries, the last time with err.
func RedeliveryDescription(stage string, n int, err error) string {
	last := err.Error()
	if len(last) > 500 {
		last = strings.ToValidUTF8(last[:500], "") + "…"
	}
	return fmt.Sprintf("the %s failed to handle the operation's work message %d times; last error: %s", stage, n, last)
}

// UnknownTypeDescription is the description of a CodeUnknownResourceType
// error: stage does not handle the resource type the message names.
func UnknownTypeDescription(stage, resourceType string) string {
	return fmt.Sprintf("the work message names resource type %q, which this %s does not handle", resourceType, stage)
}

// RejectWork ends the operations ops of wb's delivery that are still
// processing as rejected, with one SYSTEM_ERROR (code, description) and a
// Rejected event each: for work that no retry can carry or handle. An
// operation in any other state is left alone, so a rejection repeated (a
// crash before the message was settled) does nothing. Each record is kept,
// so that a retry on request can send it again once the cause is gone. It
// runs in its own transaction and returns the deliveries it completed.
func (s *Store) RejectWork(ctx context.Context, wb *bus.WorkBatch, ops []bus.WorkOp, code, description string) ([]*Delivery, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	var completed []*Delivery
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		var err error
		completed, err = RejectWorkTx(ctx, tx, wb, ops, code, description)
		return err
	})
	return completed, err
}

// RejectWorkTx is RejectWork in the caller's transaction.
func RejectWorkTx(ctx context.Context, tx pgx.Tx, wb *bus.WorkBatch, ops []bus.WorkOp, code, description string) ([]*Delivery, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	at := wb.DeliveryAt.UTC()
	seqs := make([]int, len(ops))
	for i, op := range ops {
		seqs[i] = op.Seq
	}
	states, err := OpsLock(ctx, tx, wb.ReceiptID, at, seqs)
	if err != nil {
		return nil, err
	}
	errs := []catalog.Error{{Type: catalog.SystemError, Code: code, Description: description}}
	var ts []Transition
	for _, op := range ops {
		st, ok := states[op.Seq]
		if !ok || st.State != StateProcessing {
			continue
		}
		record := []byte(op.Record)
		if len(st.Record) > 0 {
			record = st.Record // a product with its master variant merged in
		}
		ev := NewEvent(st.Delivery(), st.ResourceKey, CodeRejected, "Rejected: "+code+": "+description)
		ts = append(ts, Transition{From: st, To: StateRejected, Stage: st.Stage, Events: []Event{ev}, Errors: errs, Record: record})
	}
	completed, err := TransitionsApply(ctx, tx, ts)
	if err != nil {
		return nil, fmt.Errorf("tracking: reject operations of %s: %w", wb.ReceiptID, err)
	}
	workRejectedTotal.WithLabelValues(code).Add(float64(len(ts)))
	return completed, nil
}
