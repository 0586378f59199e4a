package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// OperationView is a row of operations as the query service shows it.
// Errors, Warnings and Unresolved are JSON, nil for none.
type OperationView struct {
	ID             [16]byte
	ReceiptID      string
	MerchantID     string
	DeliveryAt     time.Time
	Seq            int
	Line           int
	ResourceType   string
	ResourceKey    string
	State          string
	Stage          int16
	Errors         []byte
	Warnings       []byte
	Unresolved     []byte
	RetryCount     int
	CreatedAt      time.Time
	LastModifiedAt time.Time
	ExpiresAt      time.Time
	LastID         [16]byte
	LastCode       int
	LastMessage    string
}

const operationColumns = `o.id, o.receipt_id, o.merchant_id, o.delivery_at, o.seq, o.line, o.resource_type, o.resource_key,
	o.state, o.stage, o.errors, o.warnings, o.unresolved, o.retry_count, o.created_at, o.last_modified_at, o.expires_at,
	o.last_tracking_id, o.last_tracking_code, o.last_message`

func (o *OperationView) fields() []any {
	return []any{&o.ID, &o.ReceiptID, &o.MerchantID, &o.DeliveryAt, &o.Seq, &o.Line, &o.ResourceType, &o.ResourceKey,
		&o.State, &o.Stage, &o.Errors, &o.Warnings, &o.Unresolved, &o.RetryCount, &o.CreatedAt, &o.LastModifiedAt, &o.ExpiresAt,
		&o.LastID, &o.LastCode, &o.LastMessage}
}

// OperationsGet returns the operation with this id, in the newest delivery
// that has it, neither it nor its delivery expired at now, or ErrNotFound.
func OperationsGet(ctx context.Context, db database.DBTX, id [16]byte, now time.Time) (OperationView, error) {
	var o OperationView
	err := db.QueryRow(ctx, `SELECT `+operationColumns+`
		FROM operations o JOIN deliveries d ON d.receipt_id = o.receipt_id AND d.accepted_at = o.delivery_at
		WHERE o.id = $1 AND o.expires_at > $2 AND d.expires_at > $2
		ORDER BY o.delivery_at DESC LIMIT 1`, id, now).Scan(o.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// OperationsFilter selects operations of one delivery not expired at Now;
// empty fields select any.
type OperationsFilter struct {
	Now          time.Time
	State        string
	ResourceType string
	ResourceKey  string
	AfterSeq     int // list only past this position; -1 for all
}

// OperationsList returns up to limit operations of the delivery (receipt,
// at) of f, in position order.
func OperationsList(ctx context.Context, db database.DBTX, receipt string, at time.Time, f OperationsFilter, limit int) ([]OperationView, error) {
	args := params{receipt, at, f.Now}
	arg := args.arg
	where := []string{"o.receipt_id = $1", "o.delivery_at = $2", "o.expires_at > $3"}
	if f.State != "" {
		where = append(where, "o.state = "+arg(f.State))
	}
	if f.ResourceType != "" {
		where = append(where, "o.resource_type = "+arg(f.ResourceType))
	}
	if f.ResourceKey != "" {
		where = append(where, "o.resource_key = "+arg(f.ResourceKey))
	}
	if f.AfterSeq >= 0 {
		where = append(where, "o.seq > "+arg(f.AfterSeq))
	}
	rows, err := db.Query(ctx, `SELECT `+operationColumns+` FROM operations o
		WHERE `+strings.Join(where, " AND ")+` ORDER BY o.seq LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, err
	}
	var out []OperationView
	var o OperationView
	_, err = pgx.ForEachRow(rows, o.fields(), func() error {
		out = append(out, o)
		o = OperationView{}
		return nil
	})
	return out, err
}

// ErrUnknownFilter means a summary filter names no record status.
var ErrUnknownFilter = errors.New("store: unknown summary filter")

// summaryFilters maps a record status (lower case) to the operations it
// selects.
var summaryFilters = map[string]string{
	"queued":            "state = 'processing' AND stage = 0",
	"processing":        "((state = 'processing' AND stage > 0) OR state IN ('unresolved', 'waitForMasterVariant'))",
	"imported":          "state = 'imported'",
	"partiallyimported": "state = 'partiallyImported'",
	"failed":            "failed", // state IN ('validationFailed', 'rejected', 'canceled'); its index (migration 00008)
}

// OperationsSummaryFilter reports whether status (lower case) is a filter
// of OperationsSummary.
func OperationsSummaryFilter(status string) bool {
	_, ok := summaryFilters[status]
	return ok
}

// OperationSummary is an operation's state and latest event.
type OperationSummary struct {
	ResourceKey string
	State       string
	Stage       int16
	LastID      [16]byte
	LastCode    int
	LastMessage string
}

// OperationsSummary calls fn for every operation of the delivery (receipt,
// at) in position order, or only those of one record status (lower case,
// ErrUnknownFilter for an unknown one), streaming from the database.
func OperationsSummary(ctx context.Context, db database.DBTX, receipt string, at time.Time, status string, fn func(OperationSummary) error) error {
	where := "true"
	if status != "" {
		f, ok := summaryFilters[status]
		if !ok {
			return ErrUnknownFilter
		}
		where = f
	}
	rows, err := db.Query(ctx, `SELECT resource_key, state, stage, last_tracking_id, last_tracking_code, last_message
		FROM operations WHERE receipt_id = $1 AND delivery_at = $2 AND `+where+` ORDER BY seq`, receipt, at)
	if err != nil {
		return err
	}
	var r OperationSummary
	_, err = pgx.ForEachRow(rows, []any{&r.ResourceKey, &r.State, &r.Stage, &r.LastID, &r.LastCode, &r.LastMessage}, func() error {
		return fn(r)
	})
	return err
}

// OperationErrorGroup is one error of a group of a delivery's errors with
// one code: the group's code, type (the most common) and size, and one of
// its first errors.
type OperationErrorGroup struct {
	Code, Type  string
	Count       int64
	OperationID [16]byte
	ResourceKey string
	Field       *string
	Description string
}

// Issues names one of an operation's two lists of problems, its errors or
// its warnings, for the queries that read either.
type Issues int

// The lists of problems.
const (
	IssueErrors Issues = iota
	IssueWarnings
)

// issueSQL is the column of each list, and the operations whose list counts
// in the groups (only a failed operation's errors are its delivery's
// errors) and in the rows, conditions an index of them serves.
var issueSQL = [...]struct{ column, groups, rows string }{
	IssueErrors:   {"errors", "o.failed", "true"},
	IssueWarnings: {"warnings", "true", "true"}, // "warnings IS NOT NULL" of both: operations_warned_idx
}

// OperationsErrorGroups groups the errors of the delivery's failed
// operations by code, up to maxCodes groups, biggest first, each with its
// first maxExamples errors in position order: one row per example.
func OperationsErrorGroups(ctx context.Context, db database.DBTX, receipt string, at time.Time, maxCodes, maxExamples int) ([]OperationErrorGroup, error) {
	return OperationsIssueGroups(ctx, db, IssueErrors, receipt, at, maxCodes, maxExamples)
}

// OperationsIssueGroups groups the errors or warnings (kind) of the
// delivery's operations by code as OperationsErrorGroups does.
func OperationsIssueGroups(ctx context.Context, db database.DBTX, kind Issues, receipt string, at time.Time, maxCodes, maxExamples int) ([]OperationErrorGroup, error) {
	q := issueSQL[kind]
	rows, err := db.Query(ctx, `WITH e AS MATERIALIZED (
			SELECT o.id, o.seq, o.resource_key, x.k, coalesce(x.e->>'code', '') AS code, coalesce(x.e->>'type', '') AS type,
				x.e->>'field' AS field, coalesce(x.e->>'description', '') AS description
			FROM operations o CROSS JOIN LATERAL jsonb_array_elements(o.`+q.column+`) WITH ORDINALITY AS x(e, k)
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.`+q.column+` IS NOT NULL AND jsonb_typeof(o.`+q.column+`) = 'array'
				AND `+q.groups+`
		), g AS (
			SELECT code, mode() WITHIN GROUP (ORDER BY type) AS type, count(*) AS n
			FROM e GROUP BY code ORDER BY count(*) DESC, code LIMIT $3
		), x AS (
			SELECT code, id, resource_key, field, description, row_number() OVER (PARTITION BY code ORDER BY seq, k) AS rn FROM e
		)
		SELECT g.code, g.type, g.n, x.id, x.resource_key, x.field, x.description
		FROM g JOIN x ON x.code = g.code AND x.rn <= $4
		ORDER BY g.n DESC, g.code, x.rn`, receipt, at, maxCodes, maxExamples)
	if err != nil {
		return nil, err
	}
	var out []OperationErrorGroup
	var g OperationErrorGroup
	_, err = pgx.ForEachRow(rows, []any{&g.Code, &g.Type, &g.Count, &g.OperationID, &g.ResourceKey, &g.Field, &g.Description}, func() error {
		out = append(out, g)
		g = OperationErrorGroup{}
		return nil
	})
	return out, err
}

// OperationError is one error of one operation.
type OperationError struct {
	OperationID  [16]byte
	Line         int
	ResourceKey  string
	ResourceType string
	State        string
	Type         string
	Code         string
	Field        string
	Description  string
}

// OperationsErrors calls fn for every error of every operation of the
// delivery (receipt, at) not expired at now, in position order, streaming
// from the database.
func OperationsErrors(ctx context.Context, db database.DBTX, receipt string, at, now time.Time, fn func(OperationError) error) error {
	return OperationsIssues(ctx, db, IssueErrors, receipt, at, now, fn)
}

// OperationsIssues calls fn for every error or warning (kind) of every
// operation of the delivery as OperationsErrors does, whatever the
// operation's state.
func OperationsIssues(ctx context.Context, db database.DBTX, kind Issues, receipt string, at, now time.Time, fn func(OperationError) error) error {
	q := issueSQL[kind]
	rows, err := db.Query(ctx, `SELECT o.id, o.line, o.resource_key, o.resource_type, o.state,
			coalesce(x.e->>'type', ''), coalesce(x.e->>'code', ''), coalesce(x.e->>'field', ''), coalesce(x.e->>'description', '')
		FROM operations o CROSS JOIN LATERAL jsonb_array_elements(o.`+q.column+`) WITH ORDINALITY AS x(e, k)
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.expires_at > $3
			AND o.`+q.column+` IS NOT NULL AND jsonb_typeof(o.`+q.column+`) = 'array' AND `+q.rows+`
		ORDER BY o.seq, x.k`, receipt, at, now)
	if err != nil {
		return err
	}
	var r OperationError
	_, err = pgx.ForEachRow(rows, []any{&r.OperationID, &r.Line, &r.ResourceKey, &r.ResourceType, &r.State,
		&r.Type, &r.Code, &r.Field, &r.Description}, func() error {
		return fn(r)
	})
	return err
}
