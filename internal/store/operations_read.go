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

// The reads of operations that the query service makes.

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
	args := []any{receipt, at, f.Now}
	where := []string{"o.receipt_id = $1", "o.delivery_at = $2", "o.expires_at > $3"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
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

// OperationsErrorGroups groups the errors of the delivery's failed
// operations by code, up to maxCodes groups, biggest first, each with its
// first maxExamples errors in position order: one row per example.
func OperationsErrorGroups(ctx context.Context, db database.DBTX, receipt string, at time.Time, maxCodes, maxExamples int) ([]OperationErrorGroup, error) {
	rows, err := db.Query(ctx, `WITH e AS MATERIALIZED (
			SELECT o.id, o.seq, o.resource_key, x.k, coalesce(x.e->>'code', '') AS code, coalesce(x.e->>'type', '') AS type,
				x.e->>'field' AS field, coalesce(x.e->>'description', '') AS description
			FROM operations o CROSS JOIN LATERAL jsonb_array_elements(o.errors) WITH ORDINALITY AS x(e, k)
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.errors IS NOT NULL AND jsonb_typeof(o.errors) = 'array'
				AND o.failed
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
	rows, err := db.Query(ctx, `SELECT o.id, o.line, o.resource_key, o.resource_type, o.state,
			coalesce(x.e->>'type', ''), coalesce(x.e->>'code', ''), coalesce(x.e->>'field', ''), coalesce(x.e->>'description', '')
		FROM operations o CROSS JOIN LATERAL jsonb_array_elements(o.errors) WITH ORDINALITY AS x(e, k)
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.expires_at > $3
			AND o.errors IS NOT NULL AND jsonb_typeof(o.errors) = 'array'
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
