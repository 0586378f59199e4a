package tracking

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// OpRef names one operation: its delivery and its position in it.
type OpRef struct {
	ReceiptID  string
	MerchantID string
	DeliveryAt time.Time
	Seq        int
}

// Delivery returns enough of the operation's delivery to make its events.
func (r OpRef) Delivery() *Delivery {
	return &Delivery{ReceiptID: r.ReceiptID, MerchantID: r.MerchantID, AcceptedAt: r.DeliveryAt}
}

// OpState is an operation as a worker sees it before changing it.
type OpState struct {
	OpRef
	ResourceType string
	ResourceKey  string
	State        State
	Stage        Stage
	RetryCount   int
	Record       []byte // kept while the operation is parked
}

// OpsLock locks the operations of one delivery with the given positions
// (FOR UPDATE, in position order) and returns their current state by
// position. Positions without an operation are absent.
func OpsLock(ctx context.Context, tx pgx.Tx, receipt string, deliveryAt time.Time, seqs []int) (map[int]OpState, error) {
	sorted := append([]int(nil), seqs...)
	sort.Ints(sorted)
	rows, err := store.OperationsLockMany(ctx, tx, receipt, deliveryAt, sorted)
	if err != nil {
		return nil, fmt.Errorf("tracking: lock operations of %s: %w", receipt, err)
	}
	out := make(map[int]OpState, len(rows))
	for _, r := range rows {
		out[r.Seq] = OpState{OpRef: OpRef{ReceiptID: receipt, MerchantID: r.MerchantID, DeliveryAt: deliveryAt, Seq: r.Seq},
			ResourceType: r.ResourceType, ResourceKey: r.ResourceKey, State: State(r.State), Stage: Stage(r.Stage),
			RetryCount: r.RetryCount, Record: r.Record}
	}
	return out, nil
}

// Transition moves one operation from its current state (From, as locked by
// OpsLock) to a new one, with the events that record it; the last event
// becomes the operation's latest.
type Transition struct {
	From       OpState
	To         State
	Stage      Stage
	Events     []Event
	Errors     []catalog.Error     // replaces the operation's errors when set
	Warnings   []catalog.Error     // replaces its warnings when set
	Unresolved []catalog.Reference // its missing references; nil clears them
	Record     []byte              // kept while parked; nil clears it
	Retries    int                 // added to retry_count
}

// TransitionsApply writes transitions of operations (of any deliveries) in
// the caller's transaction: the operations' new state, their events, and
// the deliveries' counts. It returns the deliveries the transitions
// completed (every operation in an end state), whose completion it has
// recorded with the delivery's completed event.
func TransitionsApply(ctx context.Context, tx pgx.Tx, ts []Transition) ([]*Delivery, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	writes, events, err := planTransitions(ts)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	for _, w := range writes {
		if err := store.OperationsUpdate(ctx, tx, w.d.ReceiptID, w.d.AcceptedAt, w.ops, now); err != nil {
			return nil, fmt.Errorf("tracking: update operations of %s: %w", w.d.ReceiptID, err)
		}
	}
	if err := eventsInsert(ctx, tx, events); err != nil {
		return nil, fmt.Errorf("tracking: insert events: %w", err)
	}
	// Each delivery's counter slot, then, when it may complete or be
	// interrupted, its row: the lock order of internal/store; deliveries in
	// receipt order.
	slices.SortFunc(writes, func(a, b deliveryWrite) int {
		if c := strings.Compare(a.d.ReceiptID, b.d.ReceiptID); c != 0 {
			return c
		}
		return a.d.AcceptedAt.Compare(b.d.AcceptedAt)
	})
	var completed []*Delivery
	for _, w := range writes {
		if err := countsAdd(ctx, tx, w.d, w.delta); err != nil {
			return nil, fmt.Errorf("tracking: counts of %s: %w", w.d.ReceiptID, err)
		}
		if w.delta.Failed() > 0 {
			if err := interruptIfOverThreshold(ctx, tx, w.d, now); err != nil {
				return nil, err
			}
		}
		done, err := completeIfDone(ctx, tx, w.d, now)
		if err != nil {
			return nil, err
		}
		if done {
			completed = append(completed, w.d)
		}
	}
	return completed, nil
}

// deliveryWrite is what transitions change of one delivery: its operations'
// rows and its counts.
type deliveryWrite struct {
	d     *Delivery
	ops   store.OperationUpdates
	delta Counts
}

// planTransitions groups transitions by delivery, in the order the
// deliveries first appear, into the rows to update and the change of each
// delivery's counts, and lists their events in order. A transition without
// an event is refused: every state change is recorded.
func planTransitions(ts []Transition) ([]deliveryWrite, []Event, error) {
	type dkey struct {
		receipt string
		at      time.Time
	}
	groups := map[dkey][]int{}
	var order []dkey
	events := make([]Event, 0, len(ts)*2)
	for i, t := range ts {
		if len(t.Events) == 0 {
			return nil, nil, fmt.Errorf("tracking: transition of %s/%d without an event", t.From.ReceiptID, t.From.Seq)
		}
		k := dkey{t.From.ReceiptID, t.From.DeliveryAt}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
		events = append(events, t.Events...)
	}
	writes := make([]deliveryWrite, len(order))
	for wi, k := range order {
		idx := groups[k]
		n := len(idx)
		w := &writes[wi]
		w.d = &Delivery{ReceiptID: k.receipt, MerchantID: ts[idx[0]].From.MerchantID, AcceptedAt: k.at}
		w.ops = store.OperationUpdates{
			Seqs:         make([]int32, n),
			States:       make([]string, n),
			Stages:       make([]int16, n),
			Errors:       make([]*string, n),
			Warnings:     make([]*string, n),
			Unresolved:   make([]*string, n),
			Records:      make([][]byte, n),
			Retries:      make([]int32, n),
			LastIDs:      make([]string, n),
			LastCodes:    make([]int32, n),
			LastMessages: make([]string, n),
		}
		u := &w.ops
		for j, i := range idx {
			t := ts[i]
			u.Seqs[j], u.States[j], u.Stages[j] = int32(t.From.Seq), string(t.To), int16(t.Stage)
			u.Errors[j], u.Warnings[j], u.Unresolved[j] = jsonText(t.Errors), jsonText(t.Warnings), jsonText(t.Unresolved)
			u.Records[j], u.Retries[j] = t.Record, int32(t.Retries)
			last := t.Events[len(t.Events)-1]
			u.LastIDs[j], u.LastCodes[j], u.LastMessages[j] = last.TrackingID.String(), int32(last.Code), last.Message
			w.delta.Count(t.From.State, t.From.Stage, -1)
			w.delta.Count(t.To, t.Stage, 1)
		}
	}
	return writes, events, nil
}

// interruptIfOverThreshold interrupts the delivery when its failed
// operations exceed the error threshold, unless it was published with
// Import-Skip-Errors. Its remaining operations are canceled afterwards, by
// CancelPending, outside the worker's transaction.
func interruptIfOverThreshold(ctx context.Context, db database.DBTX, d *Delivery, now time.Time) error {
	cur, err := store.DeliveriesState(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, notFound(err))
	}
	if cur.SkipErrors || cur.InterruptedAt != nil || cur.CompletedAt != nil {
		return nil
	}
	c, err := countsGet(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil || !overThreshold(c) {
		return err
	}
	if cur.IngestState != IngestReceiving && c.Pending() == 0 {
		return nil // nothing is left to stop: the delivery completes as it is
	}
	// Look again with the row locked (after the counter slot): ingest may
	// be finishing now, holding the row, and once it is done and nothing is
	// pending there is nothing to stop either.
	cur, err = store.DeliveriesLock(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, notFound(err))
	}
	if cur.InterruptedAt != nil || cur.CompletedAt != nil {
		return nil
	}
	// The counts too: batches committed since the first read may have
	// brought the failed share back under the threshold.
	if c, err = countsGet(ctx, db, d.ReceiptID, d.AcceptedAt); err != nil || !overThreshold(c) {
		return err
	}
	if cur.IngestState != IngestReceiving && c.Pending() == 0 {
		return nil
	}
	_, err = interrupt(ctx, db, d, ReasonThreshold, now)
	return err
}

// completeIfDone records the completion of a delivery whose operations are
// all in an end state, once.
func completeIfDone(ctx context.Context, db database.DBTX, d *Delivery, now time.Time) (bool, error) {
	c, err := countsGet(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil || c.Pending() > 0 {
		return false, err
	}
	// Every operation this transaction can see has ended. The delivery row
	// is read locked: ingest finishing at this moment (IngestFinish holds
	// it) cannot see this transaction's operations end, so it is this
	// transaction that must see ingest done, after ingest commits.
	// Otherwise the one that commits second completes it.
	cur, err := store.DeliveriesLock(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return false, fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, notFound(err))
	}
	if cur.IngestState != IngestDone || cur.CompletedAt != nil {
		return false, nil
	}
	// Read the counts again, now that the row is locked: ingest may have
	// written its last batch and finished between the first read and the
	// lock, and those operations are pending (found by the duplicates fault
	// test: a delivery completed with its last batch still queued).
	if c, err = countsGet(ctx, db, d.ReceiptID, d.AcceptedAt); err != nil || c.Pending() > 0 {
		return false, err
	}
	if done, err := store.DeliveriesComplete(ctx, db, d.ReceiptID, d.AcceptedAt, now); err != nil || !done {
		return false, err
	}
	ev := NewEvent(d, "", CodeDeliveryCompleted, fmt.Sprintf("All %d operations imported", c.Total))
	if c.Failed() > 0 {
		ev = NewEvent(d, "", CodeDeliveryCompletedWithErrors, fmt.Sprintf("%d of %d operations failed", c.Failed(), c.Total))
	}
	if err := eventsInsert(ctx, db, []Event{ev}); err != nil {
		return false, err
	}
	return true, callbackQueue(ctx, db, d, bus.DeliveryCompleted, now)
}

// CompleteMissed completes deliveries whose operations have all ended but
// that no transaction completed: two workers ending a delivery's last
// operations at once each see the other's as pending (neither commit is
// visible to the other), and neither completes it. The resolver's sweep
// calls it every few seconds; it returns the deliveries it completed.
func (s *Store) CompleteMissed(ctx context.Context) ([]*Delivery, error) {
	rows, err := store.DeliveriesToComplete(ctx, s.pool, 100)
	if err != nil {
		return nil, fmt.Errorf("tracking: deliveries to complete: %w", err)
	}
	todo := make([]*Delivery, len(rows))
	for i, r := range rows {
		todo[i] = &Delivery{ReceiptID: r.ReceiptID, MerchantID: r.MerchantID, AcceptedAt: r.AcceptedAt}
	}
	var completed []*Delivery
	for _, d := range todo {
		var done bool
		err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
			var err error
			done, err = completeIfDone(ctx, tx, d, time.Now().UTC())
			return err
		})
		if err != nil {
			return completed, err
		}
		if done {
			completed = append(completed, d)
		}
	}
	return completed, nil
}

// MarkProcessing records, once, that the delivery's first operation was
// picked up.
func MarkProcessing(ctx context.Context, tx pgx.Tx, d *Delivery) error {
	if first, err := store.DeliveriesMarkProcessing(ctx, tx, d.ReceiptID, d.AcceptedAt); err != nil || !first {
		return err
	}
	return eventsInsert(ctx, tx, []Event{NewEvent(d, "", CodeDeliveryProcessing, "Processing started")})
}

func jsonText[T any](v []T) *string {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}
