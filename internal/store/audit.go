package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// The audit's reads (package audit). Each check of a delivery takes its
// receipt and time as its first two parameters ($1, $2) on every
// partitioned table it reads, so that only the delivery's partition is
// scanned, and returns only the rows that break a rule. The functions
// return the database's errors as they are: the audit names the check.

// auditEndStates are the end states, as SQL text literals.
const auditEndStates = `('imported', 'partiallyImported', 'validationFailed', 'rejected', 'canceled')`

// AuditDelivery is what the audit needs of a delivery.
type AuditDelivery struct {
	ReceiptID   string
	AcceptedAt  time.Time // UTC
	MerchantID  string
	IngestState string
	Completed   bool
}

// AuditDeliveriesByReceipt calls each with the deliveries with the receipt.
func AuditDeliveriesByReceipt(ctx context.Context, db database.DBTX, receipt string, each func(AuditDelivery) error) error {
	rows, err := db.Query(ctx, `SELECT receipt_id, accepted_at, merchant_id, ingest_state, completed_at IS NOT NULL
		FROM deliveries WHERE receipt_id = $1`, receipt)
	return auditDeliveries(rows, err, each)
}

// AuditDeliveriesRetained calls each with every delivery still within its
// retention, oldest first.
func AuditDeliveriesRetained(ctx context.Context, db database.DBTX, each func(AuditDelivery) error) error {
	rows, err := db.Query(ctx, `SELECT receipt_id, accepted_at, merchant_id, ingest_state, completed_at IS NOT NULL
		FROM deliveries WHERE expires_at > now() ORDER BY accepted_at, receipt_id`)
	return auditDeliveries(rows, err, each)
}

func auditDeliveries(rows pgx.Rows, err error, each func(AuditDelivery) error) error {
	if err != nil {
		return err
	}
	var d AuditDelivery
	_, err = pgx.ForEachRow(rows, []any{&d.ReceiptID, &d.AcceptedAt, &d.MerchantID, &d.IngestState, &d.Completed}, func() error {
		d.AcceptedAt = d.AcceptedAt.UTC()
		return each(d)
	})
	return err
}

// AuditBadState is an operation whose state and stage do not go together,
// or that failed without saying why.
type AuditBadState struct {
	Seq       int
	Key       string
	State     string
	Stage     int16
	HasErrors bool
}

// AuditStates calls each, in position order, with the operations of the
// delivery whose (state, stage) is not one of the pairs (states[i],
// stages[i]), or that are validationFailed or rejected without errors.
func AuditStates(ctx context.Context, db database.DBTX, receipt string, at time.Time, states []string, stages []int16, each func(AuditBadState) error) error {
	rows, err := db.Query(ctx, `SELECT seq, resource_key, state, stage,
			CASE WHEN jsonb_typeof(errors) = 'array' THEN jsonb_array_length(errors) > 0 ELSE false END
		FROM operations o WHERE receipt_id = $1 AND delivery_at = $2
			AND (NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::int2[]) AS a(state, stage) WHERE a.state = o.state AND a.stage = o.stage)
				OR (state IN ('validationFailed', 'rejected')
					AND NOT CASE WHEN jsonb_typeof(errors) = 'array' THEN jsonb_array_length(errors) > 0 ELSE false END))
		ORDER BY seq`, receipt, at, states, stages)
	if err != nil {
		return err
	}
	var r AuditBadState
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.State, &r.Stage, &r.HasErrors}, func() error { return each(r) })
	return err
}

// AuditStateCounts counts operations by state (Queued: processing at
// stage 0; Processing: at a later stage).
type AuditStateCounts struct {
	Total, Queued, Processing, Unresolved, Waiting, Imported, Partially, ValidationFailed, Rejected, Canceled int64
}

// AuditCounts returns the delivery's counters summed over its slots
// (delivery_counts) and its operations counted row by row.
func AuditCounts(ctx context.Context, db database.DBTX, receipt string, at time.Time) (counters, operations AuditStateCounts, err error) {
	c, o := &counters, &operations
	err = db.QueryRow(ctx, `SELECT c.*, o.* FROM
		(SELECT coalesce(sum(total), 0), coalesce(sum(queued), 0), coalesce(sum(processing), 0), coalesce(sum(unresolved), 0),
			coalesce(sum(waiting), 0), coalesce(sum(imported), 0), coalesce(sum(partially), 0),
			coalesce(sum(validation_failed), 0), coalesce(sum(rejected), 0), coalesce(sum(canceled), 0)
		 FROM delivery_counts WHERE receipt_id = $1 AND delivery_at = $2) c,
		(SELECT count(*),
			count(*) FILTER (WHERE state = 'processing' AND stage = 0),
			count(*) FILTER (WHERE state = 'processing' AND stage <> 0),
			count(*) FILTER (WHERE state = 'unresolved'),
			count(*) FILTER (WHERE state = 'waitForMasterVariant'),
			count(*) FILTER (WHERE state = 'imported'),
			count(*) FILTER (WHERE state = 'partiallyImported'),
			count(*) FILTER (WHERE state = 'validationFailed'),
			count(*) FILTER (WHERE state = 'rejected'),
			count(*) FILTER (WHERE state = 'canceled')
		 FROM operations WHERE receipt_id = $1 AND delivery_at = $2) o`, receipt, at).
		Scan(&c.Total, &c.Queued, &c.Processing, &c.Unresolved, &c.Waiting, &c.Imported, &c.Partially, &c.ValidationFailed, &c.Rejected, &c.Canceled,
			&o.Total, &o.Queued, &o.Processing, &o.Unresolved, &o.Waiting, &o.Imported, &o.Partially, &o.ValidationFailed, &o.Rejected, &o.Canceled)
	return counters, operations, err
}

// AuditTerminal is a group of terminal event codes and the end state they
// put an operation into. PlusRetries: the group's events count once more
// per RetryRequested event.
type AuditTerminal struct {
	State       string
	Codes       []int32
	PlusRetries bool
}

// AuditEventCount is a key of the delivery whose events do not match its
// operations: how many operations have it (Ops; 0: none) with the first
// five positions and states, its RecordReceived and RetryRequested events,
// and per terminal group i, Counts[2i] operations in its state and
// Counts[2i+1] events of its codes.
type AuditEventCount struct {
	Key      string
	Ops      int64
	Seqs     []int32
	States   []string
	Received int64
	Retries  int64
	Counts   []int64
}

// AuditEvents calls each, in key order, with the keys of the delivery for
// which the events of the codes received (RecordReceived) and terminal do
// not match the operations: one received event per operation, and per
// group as many events as operations in its state (plus the events of the
// code retry for a group with PlusRetries).
func AuditEvents(ctx context.Context, db database.DBTX, receipt string, at time.Time, received, retry int32, terminal []AuditTerminal, each func(AuditEventCount) error) error {
	args := []any{receipt, at, received, retry}
	var evCols, opCols, mismatch []string
	for i, t := range terminal {
		args = append(args, t.Codes)
		evCols = append(evCols, fmt.Sprintf("count(*) FILTER (WHERE code = ANY($%d::int[])) AS t%d", len(args), i))
		opCols = append(opCols, fmt.Sprintf("count(*) FILTER (WHERE state = '%s') AS s%d", t.State, i))
		want := fmt.Sprintf("op.s%d", i)
		if t.PlusRetries {
			want += " + coalesce(ev.retries, 0)"
		}
		mismatch = append(mismatch, fmt.Sprintf("coalesce(ev.t%d, 0) <> %s", i, want))
	}
	var sel []string
	for i := range terminal {
		sel = append(sel, fmt.Sprintf("coalesce(op.s%d, 0)", i), fmt.Sprintf("coalesce(ev.t%d, 0)", i))
	}
	q := `WITH ev AS (
			SELECT product_id AS key, count(*) FILTER (WHERE code = $3) AS received, count(*) FILTER (WHERE code = $4) AS retries,
				` + strings.Join(evCols, ", ") + `
			FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND product_id IS NOT NULL
			GROUP BY product_id),
		op AS (
			SELECT resource_key AS key, count(*) AS n, (array_agg(seq ORDER BY seq))[1:5] AS seqs, (array_agg(state ORDER BY seq))[1:5] AS states,
				` + strings.Join(opCols, ", ") + `
			FROM operations WHERE receipt_id = $1 AND delivery_at = $2
			GROUP BY resource_key)
		SELECT coalesce(op.key, ev.key), coalesce(op.n, 0), coalesce(op.seqs, '{}'), coalesce(op.states, '{}'),
			coalesce(ev.received, 0), coalesce(ev.retries, 0), ` + strings.Join(sel, ", ") + `
		FROM op FULL JOIN ev ON ev.key = op.key
		WHERE op.key IS NULL OR coalesce(ev.received, 0) <> op.n OR ` + strings.Join(mismatch, " OR ") + `
		ORDER BY 1`
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r := AuditEventCount{Counts: make([]int64, 2*len(terminal))}
		dest := []any{&r.Key, &r.Ops, &r.Seqs, &r.States, &r.Received, &r.Retries}
		for i := range r.Counts {
			dest = append(dest, &r.Counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := each(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditLastEvent is an operation whose last_tracking_id/code are not its
// latest event: OwnCode is the code of the event last_tracking_id names
// (nil: not an event of the operation), Latest… the latest event of its key
// (nil: none).
type AuditLastEvent struct {
	Seq        int
	Key        string
	LastID     string
	LastCode   int32
	OwnCode    *int32
	LatestID   *string
	LatestCode *int32
}

// AuditLastEvents calls each, in position order, with the operations of
// the delivery whose last_tracking_id is not one of their events, with the
// code last_tracking_code, and, for the only operation of its key in the
// delivery, the latest of them (by time, then tracking id).
func AuditLastEvents(ctx context.Context, db database.DBTX, receipt string, at time.Time, each func(AuditLastEvent) error) error {
	rows, err := db.Query(ctx, `WITH e AS MATERIALIZED (
			SELECT product_id, tracking_id, code, ts FROM tracking_events
			WHERE receipt_id = $1 AND delivery_at = $2 AND product_id IS NOT NULL),
		latest AS (SELECT DISTINCT ON (product_id) product_id, tracking_id, code FROM e ORDER BY product_id, ts DESC, tracking_id DESC),
		o AS (SELECT seq, resource_key, last_tracking_id, last_tracking_code, count(*) OVER (PARTITION BY resource_key) AS n
			FROM operations WHERE receipt_id = $1 AND delivery_at = $2)
		SELECT o.seq, o.resource_key, o.last_tracking_id::text, o.last_tracking_code, own.code, l.tracking_id::text, l.code
		FROM o
		LEFT JOIN e own ON own.tracking_id = o.last_tracking_id AND own.product_id = o.resource_key
		LEFT JOIN latest l ON l.product_id = o.resource_key
		WHERE own.tracking_id IS NULL OR own.code <> o.last_tracking_code OR (o.n = 1 AND l.tracking_id <> o.last_tracking_id)
		ORDER BY o.seq`, receipt, at)
	if err != nil {
		return err
	}
	var r AuditLastEvent
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.LastID, &r.LastCode, &r.OwnCode, &r.LatestID, &r.LatestCode}, func() error { return each(r) })
	return err
}

// AuditCompletionCounts is what the completion of a delivery is checked
// on: its operations (Pending: not in an end state; Failed:
// validationFailed, rejected or canceled), its events, those of each kind
// around completion and the code of its latest completion event (nil:
// none).
type AuditCompletionCounts struct {
	Operations, Pending, Failed              int64
	Events, Completions, Reopened, NoContent int64
	Last                                     *int32
}

// AuditCompletion counts the delivery's operations and events, the codes
// completed and completedWithErrors being its completion events.
func AuditCompletion(ctx context.Context, db database.DBTX, receipt string, at time.Time, completed, completedWithErrors, noContent, reopened int32) (AuditCompletionCounts, error) {
	var c AuditCompletionCounts
	err := db.QueryRow(ctx, `SELECT o.*, e.*, (SELECT code FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND code IN ($3, $4)
			ORDER BY ts DESC, tracking_id DESC LIMIT 1) FROM
		(SELECT count(*), count(*) FILTER (WHERE state NOT IN `+auditEndStates+`),
			count(*) FILTER (WHERE state IN ('validationFailed', 'rejected', 'canceled'))
		 FROM operations WHERE receipt_id = $1 AND delivery_at = $2) o,
		(SELECT count(*), count(*) FILTER (WHERE code IN ($3, $4)), count(*) FILTER (WHERE code = $6), count(*) FILTER (WHERE code = $5)
		 FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2) e`,
		receipt, at, completed, completedWithErrors, noContent, reopened).
		Scan(&c.Operations, &c.Pending, &c.Failed, &c.Events, &c.Completions, &c.Reopened, &c.NoContent, &c.Last)
	return c, err
}

// AuditCatalogTable is the catalog table of a resource type and its
// identity column.
type AuditCatalogTable struct {
	Type   string
	Table  string
	Column string
}

// AuditOperation is an operation the audit reports.
type AuditOperation struct {
	Seq   int
	Key   string
	Type  string
	State string
}

// AuditCatalogMissing calls each, in position order, with the imported or
// partially imported operations of the delivery whose resource is not in
// the catalog table of its type (a type tables do not list has none).
func AuditCatalogMissing(ctx context.Context, db database.DBTX, receipt string, at time.Time, tables []AuditCatalogTable, each func(AuditOperation) error) error {
	parts := make([]string, 0, len(tables)+1)
	types := make([]string, len(tables))
	for i, t := range tables {
		types[i] = t.Type
		parts = append(parts, fmt.Sprintf(`SELECT o.seq, o.resource_key, o.resource_type, o.state FROM operations o
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = '%s'
				AND NOT EXISTS (SELECT 1 FROM %s c WHERE c.merchant_id = o.merchant_id AND c.%s = o.resource_key)`, t.Type, t.Table, t.Column))
	}
	parts = append(parts, `SELECT o.seq, o.resource_key, o.resource_type, o.state FROM operations o
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported')
			AND o.resource_type <> ALL($3::text[])`)
	rows, err := db.Query(ctx, strings.Join(parts, "\nUNION ALL\n")+"\nORDER BY 1", receipt, at, types)
	if err != nil {
		return err
	}
	var r AuditOperation
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.Type, &r.State}, func() error { return each(r) })
	return err
}

// AuditDangling is an operation whose catalog row refers to what is not in
// the catalog: What ("product type", "product", "variant"), its key or sku
// (Ref) and the table it is missing from.
type AuditDangling struct {
	AuditOperation
	What  string
	Ref   string
	Table string
}

// AuditCatalogDangling calls each, in position order, with the imported or
// partially imported operations of the delivery whose catalog row refers to
// what the catalog does not hold: a product's type, a variant's product, a
// price's variant.
func AuditCatalogDangling(ctx context.Context, db database.DBTX, receipt string, at time.Time, each func(AuditDangling) error) error {
	rows, err := db.Query(ctx, `SELECT o.seq, o.resource_key, o.resource_type, o.state, 'product type', c.product_type_key, 'catalog_product_types'
			FROM operations o JOIN catalog_products c ON c.merchant_id = o.merchant_id AND c.key = o.resource_key
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = 'Product'
				AND NOT EXISTS (SELECT 1 FROM catalog_product_types t WHERE t.merchant_id = c.merchant_id AND t.key = c.product_type_key)
		UNION ALL
		SELECT o.seq, o.resource_key, o.resource_type, o.state, 'product', c.product_key, 'catalog_products'
			FROM operations o JOIN catalog_variants c ON c.merchant_id = o.merchant_id AND c.sku = o.resource_key
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = 'ProductVariant'
				AND NOT EXISTS (SELECT 1 FROM catalog_products p WHERE p.merchant_id = c.merchant_id AND p.key = c.product_key)
		UNION ALL
		SELECT o.seq, o.resource_key, o.resource_type, o.state, 'variant', c.sku, 'catalog_variants'
			FROM operations o JOIN catalog_prices c ON c.merchant_id = o.merchant_id AND c.key = o.resource_key
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = 'Price'
				AND NOT EXISTS (SELECT 1 FROM catalog_variants v WHERE v.merchant_id = c.merchant_id AND v.sku = c.sku)
		ORDER BY 1`, receipt, at)
	if err != nil {
		return err
	}
	var r AuditDangling
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.Type, &r.State, &r.What, &r.Ref, &r.Table}, func() error { return each(r) })
	return err
}

// AuditStuckOp is an unresolved operation whose references all exist: how
// many, and since when the last of them is parked or exists (Since, and
// how long ago in seconds).
type AuditStuckOp struct {
	Seq   int
	Key   string
	Refs  int64
	Since time.Time
	Secs  float64
}

// AuditStuck calls each, in position order, with the unresolved operations
// of the delivery every reference of which exists (resource_keys: in the
// registry or in the catalog), since longer than grace.
func AuditStuck(ctx context.Context, db database.DBTX, receipt string, at time.Time, grace time.Duration, each func(AuditStuckOp) error) error {
	rows, err := db.Query(ctx, `SELECT o.seq, o.resource_key, count(*), max(greatest(p.parked_at, k.created_at)),
			extract(epoch FROM now() - max(greatest(p.parked_at, k.created_at)))::float8
		FROM operations o
		JOIN parked_refs p ON p.receipt_id = $1 AND p.delivery_at = $2 AND p.seq = o.seq
		LEFT JOIN LATERAL (SELECT true AS found, r.created_at FROM resource_keys r
			WHERE r.merchant_id = p.merchant_id AND r.type_id = p.type_id AND r.key = p.key LIMIT 1) k ON true
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state = 'unresolved'
		GROUP BY o.seq, o.resource_key
		HAVING bool_and(coalesce(k.found, false)) AND max(greatest(p.parked_at, k.created_at)) < now() - make_interval(secs => $3)
		ORDER BY o.seq`, receipt, at, grace.Seconds())
	if err != nil {
		return err
	}
	var r AuditStuckOp
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.Refs, &r.Since, &r.Secs}, func() error { return each(r) })
	return err
}

// AuditParkedOp is a parked operation whose parked_refs rows do not match
// its state: how many it has, and how many of type masterTypeID.
type AuditParkedOp struct {
	Seq    int
	Key    string
	State  string
	Refs   int64
	Master int64
}

// AuditParkedOps calls each, in position order, with the operations of the
// delivery that are unresolved or waitForMasterVariant and parked on
// nothing, or waitForMasterVariant but not parked on the master variant
// (type masterTypeID) alone, or unresolved but parked on it alone.
func AuditParkedOps(ctx context.Context, db database.DBTX, receipt string, at time.Time, masterTypeID string, each func(AuditParkedOp) error) error {
	rows, err := db.Query(ctx, `SELECT o.seq, o.resource_key, o.state, count(p.seq), count(p.seq) FILTER (WHERE p.type_id = $3)
		FROM operations o
		LEFT JOIN parked_refs p ON p.receipt_id = $1 AND p.delivery_at = $2 AND p.seq = o.seq
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('unresolved', 'waitForMasterVariant')
		GROUP BY o.seq, o.resource_key, o.state
		HAVING count(p.seq) = 0
			OR (o.state = 'waitForMasterVariant' AND NOT (count(p.seq) = 1 AND count(p.seq) FILTER (WHERE p.type_id = $3) = 1))
			OR (o.state = 'unresolved' AND count(p.seq) = 1 AND count(p.seq) FILTER (WHERE p.type_id = $3) = 1)
		ORDER BY o.seq`, receipt, at, masterTypeID)
	if err != nil {
		return err
	}
	var r AuditParkedOp
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.State, &r.Refs, &r.Master}, func() error { return each(r) })
	return err
}

// AuditParkedRef is a parked_refs row of an operation that is not parked:
// OpState nil when the operation does not exist (Key is then the row's
// op_key).
type AuditParkedRef struct {
	Seq     int
	Key     string
	TypeID  string
	RefKey  string
	OpState *string
}

// AuditParkedRefs calls each, by position, type and key, with the
// parked_refs rows of the delivery whose operation does not exist or is not
// parked.
func AuditParkedRefs(ctx context.Context, db database.DBTX, receipt string, at time.Time, each func(AuditParkedRef) error) error {
	rows, err := db.Query(ctx, `SELECT p.seq, coalesce(o.resource_key, p.op_key), p.type_id, p.key, o.state
		FROM parked_refs p
		LEFT JOIN operations o ON o.receipt_id = $1 AND o.delivery_at = $2 AND o.seq = p.seq
		WHERE p.receipt_id = $1 AND p.delivery_at = $2
			AND (o.seq IS NULL OR o.state NOT IN ('unresolved', 'waitForMasterVariant'))
		ORDER BY p.seq, p.type_id, p.key`, receipt, at)
	if err != nil {
		return err
	}
	var r AuditParkedRef
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Key, &r.TypeID, &r.RefKey, &r.OpState}, func() error { return each(r) })
	return err
}
