package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// OperationRecord is an operation's resource and the record it keeps.
type OperationRecord struct {
	Seq          int
	ResourceType string
	ResourceKey  string
	Record       []byte
}

// OperationsRecordsAt returns, in position order, the operations of the
// delivery at seqs that are processing at the given stage and keep their
// record.
func OperationsRecordsAt(ctx context.Context, db database.DBTX, receipt string, at time.Time, seqs []int, stage int16) ([]OperationRecord, error) {
	rows, err := db.Query(ctx, `SELECT seq, resource_type, resource_key, record FROM operations
		WHERE receipt_id = $1 AND delivery_at = $2 AND seq = any($3) AND state = 'processing' AND stage = $4 AND record IS NOT NULL
		ORDER BY seq`, receipt, at, seqs, stage)
	if err != nil {
		return nil, fmt.Errorf("store: operations' records: %w", err)
	}
	var out []OperationRecord
	var r OperationRecord
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.ResourceType, &r.ResourceKey, &r.Record}, func() error {
		r.Record = append([]byte(nil), r.Record...)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: operations' records: %w", err)
	}
	return out, nil
}

// OperationRow is a new row of operations, as ingest writes it. Errors is
// JSON, nil for none.
type OperationRow struct {
	ID           [16]byte
	Seq          int
	Line         int
	ResourceType string
	ResourceKey  string
	State        string
	Stage        int16
	Errors       *string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	LastID       [16]byte // the latest event's tracking id
	LastCode     int32    // and code
	LastMessage  string   // and message
}

// OperationsCopy inserts the operations of the delivery (receipt, at) of
// merchant.
func OperationsCopy(ctx context.Context, db database.DBTX, receipt, merchant string, at time.Time, ops []OperationRow) error {
	if len(ops) == 0 {
		return nil
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"operations"},
		[]string{"id", "delivery_at", "receipt_id", "merchant_id", "seq", "line", "resource_type", "resource_key",
			"state", "stage", "errors", "created_at", "last_modified_at", "expires_at",
			"last_tracking_id", "last_tracking_code", "last_message"},
		pgx.CopyFromSlice(len(ops), func(i int) ([]any, error) {
			op := &ops[i]
			var errs any
			if op.Errors != nil {
				errs = *op.Errors
			}
			// UUIDs as [16]byte: pgx encodes uuid.UUID through its
			// driver.Valuer, a string parsed again after a failed plan
			// whose error it formats first, for every id.
			return []any{op.ID, at, receipt, merchant, int32(op.Seq), int32(op.Line), op.ResourceType, op.ResourceKey,
				op.State, op.Stage, errs, op.CreatedAt, op.CreatedAt, op.ExpiresAt,
				op.LastID, op.LastCode, op.LastMessage}, nil
		}))
	return err
}

// OperationLocked is an operation as OperationsLockMany returns it.
type OperationLocked struct {
	Seq          int
	MerchantID   string
	ResourceType string
	ResourceKey  string
	State        string
	Stage        int16
	RetryCount   int
	Record       []byte
}

// OperationsLockMany locks the operations of one delivery at the given
// positions, sorted, (FOR UPDATE, in that order) and returns them in that
// order. Positions without an operation are absent.
func OperationsLockMany(ctx context.Context, db database.DBTX, receipt string, at time.Time, sorted []int) ([]OperationLocked, error) {
	// One primary-key probe per position, whatever the statistics say, and
	// the rows locked in position order.
	rows, err := db.Query(ctx, `SELECT o.seq, o.merchant_id, o.resource_type, o.resource_key, o.state, o.stage, o.retry_count, o.record
		FROM unnest($3::int[]) WITH ORDINALITY AS s(seq, n)
		CROSS JOIN LATERAL (SELECT * FROM operations WHERE receipt_id = $1 AND delivery_at = $2 AND seq = s.seq LIMIT 1 FOR UPDATE) o
		ORDER BY s.n`,
		database.Prepared, receipt, at, sorted)
	if err != nil {
		return nil, err
	}
	out := make([]OperationLocked, 0, len(sorted))
	var o OperationLocked
	_, err = pgx.ForEachRow(rows, []any{&o.Seq, &o.MerchantID, &o.ResourceType, &o.ResourceKey, &o.State, &o.Stage, &o.RetryCount, &o.Record}, func() error {
		out = append(out, o)
		o.Record = nil
		return nil
	})
	return out, err
}

// OperationUpdates are new values for operations of one delivery, as
// parallel arrays, one element per operation. Errors, Warnings and
// Unresolved are JSON; nil Errors or Warnings keep the operation's, nil
// Unresolved or Record clear them. Retries are added to retry_count.
type OperationUpdates struct {
	Seqs         []int32
	States       []string
	Stages       []int16
	Errors       []*string
	Warnings     []*string
	Unresolved   []*string
	Records      [][]byte
	Retries      []int32
	LastIDs      []string
	LastCodes    []int32
	LastMessages []string
}

// OperationsUpdate writes u to the operations of the delivery (receipt,
// at), modified at now.
func OperationsUpdate(ctx context.Context, db database.DBTX, receipt string, at time.Time, u OperationUpdates, now time.Time) error {
	// Receipt and delivery time as constants: the partition is pruned at
	// plan time. The positions as an index condition (seq = ANY): the
	// operations are read by key, never the whole delivery (see
	// ProbeByKey), and hashed against the new values (execHashJoined).
	return execHashJoined(ctx, db, `UPDATE operations o SET state = u.state, stage = u.stage,
				errors = coalesce(u.errors::jsonb, o.errors), warnings = coalesce(u.warnings::jsonb, o.warnings),
				unresolved = u.unresolved::jsonb, record = u.record, retry_count = o.retry_count + u.retries,
				last_modified_at = $14, last_tracking_id = u.last_id::uuid, last_tracking_code = u.last_code, last_message = u.last_msg
			FROM unnest($3::int[], $4::text[], $5::smallint[], $6::text[], $7::text[], $8::text[],
				$9::bytea[], $10::int[], $11::text[], $12::int[], $13::text[])
				AS u(seq, state, stage, errors, warnings, unresolved, record, retries, last_id, last_code, last_msg)
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.seq = ANY($3::int[]) AND o.seq = u.seq`,
		receipt, at, u.Seqs, u.States, u.Stages, u.Errors, u.Warnings, u.Unresolved, u.Records, u.Retries,
		u.LastIDs, u.LastCodes, u.LastMessages, now)
}

// execHashJoined runs one statement that joins a table's rows, read by
// key, with parameter arrays (unnest) of the same length, allowing a hash
// join and planning it for the actual arrays, then puts the planner
// settings back as they were. Under ProbeByKey alone the planner joins them
// in a nested loop that reads the whole unnest again for every row, and a
// cached generic plan, believing the arrays hold 10 elements, does so even
// with hash joins allowed: the cost grows with the square of the batch.
// The four statements go in one round trip.
func execHashJoined(ctx context.Context, db database.DBTX, sql string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('importd.enable_hashjoin', current_setting('enable_hashjoin'), true),
		set_config('importd.plan_cache_mode', current_setting('plan_cache_mode'), true)`)
	b.Queue(`SELECT set_config('enable_hashjoin', 'on', true), set_config('plan_cache_mode', 'force_custom_plan', true)`)
	b.Queue(sql, args...)
	b.Queue(`SELECT set_config('enable_hashjoin', current_setting('importd.enable_hashjoin'), true),
		set_config('plan_cache_mode', current_setting('importd.plan_cache_mode'), true)`)
	return db.SendBatch(ctx, b).Close()
}

// OperationsFirstLines returns, among keys, those that operations of the
// delivery have, with the line of the first.
func OperationsFirstLines(ctx context.Context, db database.DBTX, receipt string, at time.Time, keys []string) (map[string]int, error) {
	// One lookup of (receipt, delivery, key) per key, with nothing that
	// orders by seq: "resource_key = any($3)", or ORDER BY seq, tempt the
	// planner (custom or generic plan alike) into walking the primary key
	// over every earlier record, which makes a large delivery quadratic.
	// The first line is the smallest.
	rows, err := db.Query(ctx, `SELECT k.key, o.line FROM unnest($3::text[]) AS k(key)
		CROSS JOIN LATERAL (SELECT min(line) AS line FROM operations
			WHERE receipt_id = $1 AND delivery_at = $2 AND resource_key = k.key) o
		WHERE o.line IS NOT NULL`,
		database.Prepared, receipt, at, keys)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]int)
	var key string
	var line int
	_, err = pgx.ForEachRow(rows, []any{&key, &line}, func() error {
		seen[key] = line
		return nil
	})
	return seen, err
}

// OperationsQueuedSeqs returns the positions in [from, to) of the
// delivery's operations processing at stage 0 (queued for the resolver).
func OperationsQueuedSeqs(ctx context.Context, db database.DBTX, receipt string, at time.Time, from, to int) ([]int, error) {
	rows, err := db.Query(ctx, `SELECT seq FROM operations WHERE receipt_id = $1 AND delivery_at = $2
		AND seq >= $3 AND seq < $4 AND state = 'processing' AND stage = 0`, receipt, at, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// OperationsRejectedSeqs returns the positions of up to limit rejected
// operations of the delivery, in order.
func OperationsRejectedSeqs(ctx context.Context, db database.DBTX, receipt string, at time.Time, limit int) ([]int, error) {
	rows, err := db.Query(ctx, `SELECT seq FROM operations WHERE receipt_id = $1 AND delivery_at = $2 AND state = 'rejected'
				ORDER BY seq LIMIT $3`, receipt, at, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// OperationsPendingSeqs returns the positions after `after` of up to limit
// operations of the delivery not in an end state, in order.
func OperationsPendingSeqs(ctx context.Context, db database.DBTX, receipt string, at time.Time, after, limit int) ([]int, error) {
	rows, err := db.Query(ctx, `SELECT seq FROM operations
			WHERE receipt_id = $1 AND delivery_at = $2 AND seq > $3
			  AND state IN ('processing', 'unresolved', 'waitForMasterVariant')
			ORDER BY seq LIMIT $4`, receipt, at, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// OperationsLockStale locks up to limit operations of the delivery
// processing at one of stages and last modified before cutoff, in
// position order, skipping those another transaction holds, and returns
// their positions.
func OperationsLockStale(ctx context.Context, db database.DBTX, receipt string, at time.Time, stages [2]int16, cutoff time.Time, limit int) ([]int, error) {
	rows, err := db.Query(ctx, `SELECT seq FROM operations
			WHERE receipt_id = $1 AND delivery_at = $2 AND state = 'processing' AND stage IN ($3, $4) AND last_modified_at < $5
			ORDER BY seq LIMIT $6 FOR UPDATE SKIP LOCKED`,
		receipt, at, stages[0], stages[1], cutoff, limit)
	if err != nil {
		return nil, err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := make([]int, len(seqs))
	for i, s := range seqs {
		out[i] = int(s)
	}
	return out, nil
}

// ExpiredCount is how many operations of one delivery OperationsExpireWaiting
// expired.
type ExpiredCount struct {
	ReceiptID  string
	DeliveryAt time.Time
	MerchantID string
	N          int
}

// OperationsExpireWaiting gives each operation of deliveries accepted in
// [lower, upper) still waiting (unresolved or for its master variant) an
// expired event, with code and stamped now, once (its latest event code
// becomes code), and returns how many per delivery. retention names the
// retention in the event's message.
func OperationsExpireWaiting(ctx context.Context, db database.DBTX, lower, upper time.Time, code int, now time.Time, retention string) ([]ExpiredCount, error) {
	rows, err := db.Query(ctx, `WITH waiting AS (
				SELECT o.delivery_at, o.receipt_id, o.merchant_id, o.resource_key, o.state, coalesce(o.unresolved::text, '') AS refs
				FROM operations o
				WHERE o.delivery_at >= $1 AND o.delivery_at < $2 AND o.state IN ('unresolved', 'waitForMasterVariant')
				  AND o.last_tracking_code <> $3
			), ev AS (
				INSERT INTO tracking_events (delivery_at, tracking_id, ts, code, receipt_id, merchant_id, product_id, message, debug)
				SELECT delivery_at, gen_random_uuid(), $4, $3, receipt_id, merchant_id, resource_key,
					'Expired: still ' || state || ' when the retention of ' || $5 || ' ran out', nullif('missing ' || refs, 'missing ')
				FROM waiting
				RETURNING receipt_id, delivery_at, merchant_id
			), last AS (
				UPDATE operations o SET last_tracking_code = $3, last_message = 'Expired'
				WHERE o.delivery_at >= $1 AND o.delivery_at < $2 AND o.state IN ('unresolved', 'waitForMasterVariant')
				  AND o.last_tracking_code <> $3
			)
			SELECT receipt_id, delivery_at, merchant_id, count(*) FROM ev GROUP BY receipt_id, delivery_at, merchant_id`,
		lower, upper, code, now, retention)
	if err != nil {
		return nil, err
	}
	var out []ExpiredCount
	var c ExpiredCount
	_, err = pgx.ForEachRow(rows, []any{&c.ReceiptID, &c.DeliveryAt, &c.MerchantID, &c.N}, func() error {
		c.DeliveryAt = c.DeliveryAt.UTC()
		out = append(out, c)
		return nil
	})
	return out, err
}
