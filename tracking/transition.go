package tracking

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/database"
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

// execHashJoined runs one statement that joins a table's rows, read by
// key, with parameter arrays (unnest) of the same length, allowing a hash
// join and planning it for the actual arrays, then puts the planner
// settings back as they were. Under ProbeByKey alone the planner joins them
// in a nested loop that reads the whole unnest again for every row, and a
// cached generic plan, believing the arrays hold 10 elements, does so even
// with hash joins allowed: the cost grows with the square of the batch.
// The four statements go in one round trip.
func execHashJoined(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('importd.enable_hashjoin', current_setting('enable_hashjoin'), true),
		set_config('importd.plan_cache_mode', current_setting('plan_cache_mode'), true)`)
	b.Queue(`SELECT set_config('enable_hashjoin', 'on', true), set_config('plan_cache_mode', 'force_custom_plan', true)`)
	b.Queue(sql, args...)
	b.Queue(`SELECT set_config('enable_hashjoin', current_setting('importd.enable_hashjoin'), true),
		set_config('plan_cache_mode', current_setting('importd.plan_cache_mode'), true)`)
	return tx.SendBatch(ctx, b).Close()
}

// OpsLock locks the operations of one delivery with the given positions
// (FOR UPDATE, in position order) and returns their current state by
// position. Positions without an operation are absent.
func OpsLock(ctx context.Context, tx pgx.Tx, receipt string, deliveryAt time.Time, seqs []int) (map[int]OpState, error) {
	sorted := append([]int(nil), seqs...)
	sort.Ints(sorted)
	// One primary-key probe per position, whatever the statistics say, and
	// the rows locked in position order.
	rows, err := tx.Query(ctx, `SELECT o.seq, o.merchant_id, o.resource_type, o.resource_key, o.state, o.stage, o.retry_count, o.record
		FROM unnest($3::int[]) WITH ORDINALITY AS s(seq, n)
		CROSS JOIN LATERAL (SELECT * FROM operations WHERE receipt_id = $1 AND delivery_at = $2 AND seq = s.seq LIMIT 1 FOR UPDATE) o
		ORDER BY s.n`,
		database.Prepared, receipt, deliveryAt, sorted)
	if err != nil {
		return nil, fmt.Errorf("tracking: lock operations of %s: %w", receipt, err)
	}
	out := make(map[int]OpState, len(seqs))
	var s OpState
	var state string
	var stage int16
	_, err = pgx.ForEachRow(rows, []any{&s.Seq, &s.MerchantID, &s.ResourceType, &s.ResourceKey, &state, &stage, &s.RetryCount, &s.Record}, func() error {
		s.ReceiptID, s.DeliveryAt, s.State, s.Stage = receipt, deliveryAt, State(state), Stage(stage)
		out[s.Seq] = s
		s.Record = nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: lock operations of %s: %w", receipt, err)
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
	now := time.Now().UTC()
	type dkey struct {
		receipt string
		at      time.Time
	}
	groups := map[dkey][]int{}
	var order []dkey
	events := make([]Event, 0, len(ts)*2)
	for i, t := range ts {
		if len(t.Events) == 0 {
			return nil, fmt.Errorf("tracking: transition of %s/%d without an event", t.From.ReceiptID, t.From.Seq)
		}
		k := dkey{t.From.ReceiptID, t.From.DeliveryAt}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
		events = append(events, t.Events...)
	}
	deltas := map[dkey]*Counts{}
	merchants := map[dkey]string{}
	for _, k := range order {
		idx := groups[k]
		n := len(idx)
		var (
			seqs      = make([]int32, n)
			states    = make([]string, n)
			stages    = make([]int16, n)
			errs      = make([]*string, n)
			warns     = make([]*string, n)
			unres     = make([]*string, n)
			records   = make([][]byte, n)
			retries   = make([]int32, n)
			lastIDs   = make([]string, n)
			lastCodes = make([]int32, n)
			lastMsgs  = make([]string, n)
		)
		c := &Counts{}
		for j, i := range idx {
			t := ts[i]
			seqs[j], states[j], stages[j] = int32(t.From.Seq), string(t.To), int16(t.Stage)
			errs[j], warns[j], unres[j] = jsonText(t.Errors), jsonText(t.Warnings), jsonText(t.Unresolved)
			records[j], retries[j] = t.Record, int32(t.Retries)
			last := t.Events[len(t.Events)-1]
			lastIDs[j], lastCodes[j], lastMsgs[j] = last.TrackingID.String(), int32(last.Code), last.Message
			c.Count(t.From.State, t.From.Stage, -1)
			c.Count(t.To, t.Stage, 1)
			merchants[k] = t.From.MerchantID
		}
		deltas[k] = c
		// Receipt and delivery time as constants: the partition is pruned at
		// plan time. The positions as an index condition (seq = ANY): the
		// operations are read by key, never the whole delivery (see
		// ProbeByKey), and hashed against the new values (execHashJoined).
		err := execHashJoined(ctx, tx, `UPDATE operations o SET state = u.state, stage = u.stage,
				errors = coalesce(u.errors::jsonb, o.errors), warnings = coalesce(u.warnings::jsonb, o.warnings),
				unresolved = u.unresolved::jsonb, record = u.record, retry_count = o.retry_count + u.retries,
				last_modified_at = $14, last_tracking_id = u.last_id::uuid, last_tracking_code = u.last_code, last_message = u.last_msg
			FROM unnest($3::int[], $4::text[], $5::smallint[], $6::text[], $7::text[], $8::text[],
				$9::bytea[], $10::int[], $11::text[], $12::int[], $13::text[])
				AS u(seq, state, stage, errors, warnings, unresolved, record, retries, last_id, last_code, last_msg)
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.seq = ANY($3::int[]) AND o.seq = u.seq`,
			k.receipt, k.at, seqs, states, stages, errs, warns, unres, records, retries, lastIDs, lastCodes, lastMsgs, now)
		if err != nil {
			return nil, fmt.Errorf("tracking: update operations of %s: %w", k.receipt, err)
		}
	}
	if err := eventsInsert(ctx, tx, events); err != nil {
		return nil, fmt.Errorf("tracking: insert events: %w", err)
	}
	// Lock order, everywhere: a delivery's counter slot, then its row
	// (completion, threshold); deliveries in receipt order. Ingest takes
	// them in the same order (IngestWrite).
	sort.Slice(order, func(i, j int) bool {
		if order[i].receipt != order[j].receipt {
			return order[i].receipt < order[j].receipt
		}
		return order[i].at.Before(order[j].at)
	})
	var completed []*Delivery
	for _, k := range order {
		c := deltas[k]
		d := &Delivery{ReceiptID: k.receipt, MerchantID: merchants[k], AcceptedAt: k.at}
		if err := countsAdd(ctx, tx, d, *c); err != nil {
			return nil, fmt.Errorf("tracking: counts of %s: %w", k.receipt, err)
		}
		if c.Failed() > 0 {
			if err := interruptIfOverThreshold(ctx, tx, d, now); err != nil {
				return nil, err
			}
		}
		done, err := completeIfDone(ctx, tx, d, now)
		if err != nil {
			return nil, err
		}
		if done {
			completed = append(completed, d)
		}
	}
	return completed, nil
}

// interruptIfOverThreshold interrupts the delivery when its failed
// operations exceed the error threshold, unless it was published with
// Import-Skip-Errors. Its remaining operations are canceled afterwards, by
// CancelPending, outside the worker's transaction.
func interruptIfOverThreshold(ctx context.Context, db database.DBTX, d *Delivery, now time.Time) error {
	var skip bool
	var state string
	var interrupted, completed *time.Time
	err := db.QueryRow(ctx, `SELECT skip_errors, ingest_state, interrupted_at, completed_at FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2`,
		d.ReceiptID, d.AcceptedAt).Scan(&skip, &state, &interrupted, &completed)
	if err != nil {
		return fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, err)
	}
	if skip || interrupted != nil || completed != nil {
		return nil
	}
	c, err := countsGet(ctx, db, d.ReceiptID, d.AcceptedAt)
	if err != nil || !overThreshold(c) {
		return err
	}
	if state != IngestReceiving && c.Pending() == 0 {
		return nil // nothing is left to stop: the delivery completes as it is
	}
	// Look again with the row locked (after the counter slot, the order of
	// every writer): ingest may be finishing now, holding the row, and once
	// it is done and nothing is pending there is nothing to stop either.
	err = db.QueryRow(ctx, `SELECT ingest_state, interrupted_at, completed_at FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2 FOR UPDATE`,
		d.ReceiptID, d.AcceptedAt).Scan(&state, &interrupted, &completed)
	if err != nil {
		return fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, err)
	}
	if interrupted != nil || completed != nil {
		return nil
	}
	// The counts too: batches committed since the first read may have
	// brought the failed share back under the threshold.
	if c, err = countsGet(ctx, db, d.ReceiptID, d.AcceptedAt); err != nil || !overThreshold(c) {
		return err
	}
	if state != IngestReceiving && c.Pending() == 0 {
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
	var state string
	var completedAt *time.Time
	err = db.QueryRow(ctx, `SELECT ingest_state, completed_at FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2 FOR UPDATE`,
		d.ReceiptID, d.AcceptedAt).Scan(&state, &completedAt)
	if err != nil {
		return false, fmt.Errorf("tracking: delivery %s: %w", d.ReceiptID, err)
	}
	if state != IngestDone || completedAt != nil {
		return false, nil
	}
	// Read the counts again, now that the row is locked: ingest may have
	// written its last batch and finished between the first read and the
	// lock, and those operations are pending (found by the duplicates fault
	// test: a delivery completed with its last batch still queued).
	if c, err = countsGet(ctx, db, d.ReceiptID, d.AcceptedAt); err != nil || c.Pending() > 0 {
		return false, err
	}
	tag, err := db.Exec(ctx, `UPDATE deliveries SET completed_at = $3 WHERE receipt_id = $1 AND accepted_at = $2 AND completed_at IS NULL`,
		d.ReceiptID, d.AcceptedAt, now)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	ev := NewEvent(d, "", CodeDeliveryCompleted, fmt.Sprintf("All %d operations imported", c.Total))
	if c.Failed() > 0 {
		ev = NewEvent(d, "", CodeDeliveryCompletedWithErrors, fmt.Sprintf("%d of %d operations failed", c.Failed(), c.Total))
	}
	return true, eventsInsert(ctx, db, []Event{ev})
}

// CompleteMissed completes deliveries whose operations have all ended but
// that no transaction completed: two workers ending a delivery's last
// operations at once each see the other's as pending (neither commit is
// visible to the other), and neither completes it. The resolver's sweep
// calls it every few seconds; it returns the deliveries it completed.
func (s *Store) CompleteMissed(ctx context.Context) ([]*Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.receipt_id, d.merchant_id, d.accepted_at FROM deliveries d
		WHERE d.ingest_state = 'done' AND d.completed_at IS NULL
		  AND (SELECT sum(c.queued + c.processing + c.unresolved + c.waiting) FROM delivery_counts c
		       WHERE c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at) = 0
		LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("tracking: deliveries to complete: %w", err)
	}
	var todo []*Delivery
	var d Delivery
	if _, err := pgx.ForEachRow(rows, []any{&d.ReceiptID, &d.MerchantID, &d.AcceptedAt}, func() error {
		dd := d
		todo = append(todo, &dd)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("tracking: deliveries to complete: %w", err)
	}
	var completed []*Delivery
	for _, d := range todo {
		var done bool
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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
	tag, err := tx.Exec(ctx, `UPDATE deliveries SET processing_at = now() WHERE receipt_id = $1 AND accepted_at = $2 AND processing_at IS NULL`,
		d.ReceiptID, d.AcceptedAt)
	if err != nil || tag.RowsAffected() == 0 {
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
