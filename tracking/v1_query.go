package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
)

// Job statuses of the /v1 job object (Commerce Layer's names).
const (
	JobPending     = "pending"
	JobInProgress  = "in_progress"
	JobInterrupted = "interrupted"
	JobCompleted   = "completed"
)

// Errors of the /v1 queries.
var (
	ErrBadJobStatus = errors.New("tracking: unknown status (want pending, in_progress, interrupted or completed)")
	ErrBadState     = errors.New("tracking: unknown state (want processing, unresolved, waitForMasterVariant, imported, partiallyImported, validationFailed, rejected or canceled)")
)

// Limits of the /v1 lists and of the job object's detail.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 1000
	maxErrorCodes    = 50
	maxErrorExamples = 5
	maxMissingRefs   = 100
)

// JobStatus is the job status of a delivery: interrupted when it was
// interrupted, whatever else; otherwise from its delivery status.
func JobStatus(d *Delivery, c Counts) string {
	if d.InterruptedAt != nil {
		return JobInterrupted
	}
	switch DeriveStatus(d.IngestState, c) {
	case StatusQueued:
		return JobPending
	case StatusReceiving, StatusProcessing:
		return JobInProgress
	default:
		return JobCompleted
	}
}

// ValidJobStatus reports whether s names a job status.
func ValidJobStatus(s string) bool {
	_, ok := jobStatusFilters[s]
	return ok
}

// ValidState reports whether s names an operation state.
func ValidState(s State) bool {
	switch s {
	case StateProcessing, StateUnresolved, StateWaitForMasterVariant, StateImported, StatePartiallyImported,
		StateValidationFailed, StateRejected, StateCanceled:
		return true
	}
	return false
}

// countsLateral sums a delivery's counter slots next to it, as columns
// c.n_*; the same numbers as Store.Counts.
const countsLateral = `CROSS JOIN LATERAL (SELECT
		coalesce(sum(dc.total), 0)::bigint AS n_total, coalesce(sum(dc.queued), 0)::bigint AS n_queued,
		coalesce(sum(dc.processing), 0)::bigint AS n_processing, coalesce(sum(dc.unresolved), 0)::bigint AS n_unresolved,
		coalesce(sum(dc.waiting), 0)::bigint AS n_waiting, coalesce(sum(dc.imported), 0)::bigint AS n_imported,
		coalesce(sum(dc.partially), 0)::bigint AS n_partially, coalesce(sum(dc.validation_failed), 0)::bigint AS n_validation_failed,
		coalesce(sum(dc.rejected), 0)::bigint AS n_rejected, coalesce(sum(dc.canceled), 0)::bigint AS n_canceled
	FROM delivery_counts dc WHERE dc.receipt_id = d.receipt_id AND dc.delivery_at = d.accepted_at) c`

// jobStatusFilters are JobStatus in SQL, over deliveries d and countsLateral c.
var jobStatusFilters = func() map[string]string {
	const pending = "(c.n_queued + c.n_processing + c.n_unresolved + c.n_waiting)"
	const queued = "(c.n_queued = " + pending + " AND c.n_imported + c.n_partially = 0 AND c.n_rejected = 0 AND c.n_canceled = 0)"
	return map[string]string{
		JobInterrupted: "d.interrupted_at IS NOT NULL",
		JobCompleted:   "d.interrupted_at IS NULL AND (d.ingest_state = 'failed' OR (d.ingest_state = 'done' AND " + pending + " = 0))",
		JobPending:     "d.interrupted_at IS NULL AND d.ingest_state = 'done' AND " + pending + " > 0 AND " + queued,
		JobInProgress: "d.interrupted_at IS NULL AND (d.ingest_state = 'receiving' OR (d.ingest_state = 'done' AND " +
			pending + " > 0 AND NOT " + queued + "))",
	}
}()

// Page is one page of a /v1 list. NextCursor is nil on the last page.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// Job is the job object of GET /v1/imports/{receiptId}, and the items of
// GET /v1/imports (without Errors and MissingReferences).
type Job struct {
	ReceiptID          string     `json:"receiptId"`
	MerchantID         string     `json:"merchantId"`
	ResourceType       string     `json:"resourceType"`
	Format             string     `json:"format"`
	ContractVersion    string     `json:"contractVersion"`
	Reference          *string    `json:"reference"`
	Status             string     `json:"status"`
	DeliveryStatus     string     `json:"deliveryStatus"`
	DeliveryStatusCode int        `json:"deliveryStatusCode"`
	SkipErrors         bool       `json:"skipErrors"`
	InputsSize         int64      `json:"inputsSize"`
	ProcessedCount     int64      `json:"processedCount"`
	ErrorsCount        int64      `json:"errorsCount"`
	WarningsCount      int64      `json:"warningsCount"`
	ItemsReceived      int64      `json:"itemsReceived"`
	ItemsSucceeded     int64      `json:"itemsSucceeded"`
	ItemsFailed        int64      `json:"itemsFailed"`
	ItemsInReview      int64      `json:"itemsInReview"`
	ItemsProcessing    int64      `json:"itemsProcessing"`
	CreatedAt          time.Time  `json:"createdAt"`
	StartedAt          *time.Time `json:"startedAt"`
	CompletedAt        *time.Time `json:"completedAt"`
	InterruptedAt      *time.Time `json:"interruptedAt"`
	ExpiresAt          time.Time  `json:"expiresAt"`
	// IngestionErrors is set (possibly empty) only for a delivery in
	// IngestionFailure; the key is absent otherwise.
	IngestionErrors *[]IngestionError `json:"ingestionErrors,omitempty"`
	// Errors and MissingReferences are set by Job with detail; the keys are
	// absent from list items.
	Errors            *[]ErrorGroup       `json:"errors,omitempty"`
	MissingReferences *[]MissingReference `json:"missingReferences,omitempty"`
}

// ErrorGroup is the errors of a delivery's failed operations with one code.
type ErrorGroup struct {
	Code     string         `json:"code"`
	Type     string         `json:"type"`
	Count    int64          `json:"count"`
	Examples []ErrorExample `json:"examples"`
}

// ErrorExample is one error of an ErrorGroup.
type ErrorExample struct {
	OperationID uuid.UUID `json:"operationId"`
	ResourceKey string    `json:"resourceKey"`
	Field       *string   `json:"field"`
	Description string    `json:"description"`
}

// MissingReference is a key that operations of a delivery are parked on.
type MissingReference struct {
	TypeID     string `json:"typeId"`
	Key        string `json:"key"`
	Operations int64  `json:"operations"`
}

// NewJob builds the job object of a delivery from its counts and the time
// its first operation was picked up (nil before). It has no detail.
func NewJob(d *Delivery, startedAt *time.Time, c Counts) Job {
	st := DeriveStatus(d.IngestState, c)
	j := Job{
		ReceiptID:          d.ReceiptID,
		MerchantID:         d.MerchantID,
		ResourceType:       d.Data,
		Format:             d.Format,
		ContractVersion:    d.ContractVersion,
		Reference:          d.ForeignKey,
		Status:             JobStatus(d, c),
		DeliveryStatus:     st.Name,
		DeliveryStatusCode: st.Code,
		SkipErrors:         d.SkipErrors,
		InputsSize:         int64(d.RecordsRead),
		ProcessedCount:     c.Successful() + c.Failed(),
		ErrorsCount:        c.Failed(),
		WarningsCount:      c.Partially,
		ItemsReceived:      c.Total,
		ItemsSucceeded:     c.Successful(),
		ItemsFailed:        c.Failed(),
		ItemsInReview:      c.Unresolved + c.Waiting,
		ItemsProcessing:    c.Queued + c.Processing,
		CreatedAt:          d.AcceptedAt.UTC(),
		StartedAt:          utc(startedAt),
		InterruptedAt:      utc(d.InterruptedAt),
		ExpiresAt:          d.ExpiresAt.UTC(),
	}
	switch st {
	case StatusNoContent, StatusCompletedSuccessfully, StatusCompletedWithErrors:
		j.CompletedAt = utc(d.CompletedAt)
		if j.CompletedAt == nil {
			j.CompletedAt = utc(d.IngestedAt)
		}
	case StatusIngestionFailure:
		j.CompletedAt = utc(d.IngestedAt)
		ierrs := append([]IngestionError{}, d.IngestionErrors...)
		j.IngestionErrors = &ierrs
	}
	return j
}

// Job returns the job object of a delivery; with detail, its errors grouped
// by code and its missing references.
func (s *Store) Job(ctx context.Context, d *Delivery, detail bool) (Job, error) {
	c, err := s.Counts(ctx, d)
	if err != nil {
		return Job{}, fmt.Errorf("tracking: counts of %s: %w", d.ReceiptID, err)
	}
	var startedAt *time.Time
	err = s.pool.QueryRow(ctx, `SELECT processing_at FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2`,
		d.ReceiptID, d.AcceptedAt).Scan(&startedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("tracking: job %s: %w", d.ReceiptID, err)
	}
	j := NewJob(d, startedAt, c)
	if !detail {
		return j, nil
	}
	groups, err := s.errorGroups(ctx, d)
	if err != nil {
		return Job{}, err
	}
	refs, err := s.missingReferences(ctx, d)
	if err != nil {
		return Job{}, err
	}
	j.Errors, j.MissingReferences = &groups, &refs
	return j, nil
}

// errorGroups groups the errors of the delivery's failed operations by code,
// biggest group first, with the first few errors of each as examples.
func (s *Store) errorGroups(ctx context.Context, d *Delivery) ([]ErrorGroup, error) {
	rows, err := s.pool.Query(ctx, `WITH e AS MATERIALIZED (
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
		ORDER BY g.n DESC, g.code, x.rn`, d.ReceiptID, d.AcceptedAt, maxErrorCodes, maxErrorExamples)
	if err != nil {
		return nil, fmt.Errorf("tracking: errors of %s: %w", d.ReceiptID, err)
	}
	groups := []ErrorGroup{}
	var (
		code, typ string
		n         int64
		ex        ErrorExample
	)
	_, err = pgx.ForEachRow(rows, []any{&code, &typ, &n, &ex.OperationID, &ex.ResourceKey, &ex.Field, &ex.Description}, func() error {
		if len(groups) == 0 || groups[len(groups)-1].Code != code {
			groups = append(groups, ErrorGroup{Code: code, Type: typ, Count: n, Examples: []ErrorExample{}})
		}
		g := &groups[len(groups)-1]
		if ex.Field != nil && *ex.Field == "" {
			ex.Field = nil
		}
		g.Examples = append(g.Examples, ex)
		ex = ErrorExample{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: errors of %s: %w", d.ReceiptID, err)
	}
	return groups, nil
}

// missingReferences returns the keys the delivery's parked operations wait
// for, the most waited for first.
func (s *Store) missingReferences(ctx context.Context, d *Delivery) ([]MissingReference, error) {
	rows, err := s.pool.Query(ctx, `SELECT type_id, key, count(*) FROM parked_refs
		WHERE receipt_id = $1 AND delivery_at = $2
		GROUP BY type_id, key ORDER BY count(*) DESC, type_id, key LIMIT $3`, d.ReceiptID, d.AcceptedAt, maxMissingRefs)
	if err != nil {
		return nil, fmt.Errorf("tracking: missing references of %s: %w", d.ReceiptID, err)
	}
	out := []MissingReference{}
	var m MissingReference
	_, err = pgx.ForEachRow(rows, []any{&m.TypeID, &m.Key, &m.Operations}, func() error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: missing references of %s: %w", d.ReceiptID, err)
	}
	return out, nil
}

// JobFilter selects the deliveries of GET /v1/imports.
type JobFilter struct {
	Merchant  string // a merchant, or Operator for all
	Status    string // a job status, or empty for any
	Reference string // a foreign key, or empty for any
}

// extraRow scans a delivery's columns followed by more.
type extraRow struct {
	pgx.Row
	extra []any
}

func (r extraRow) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.extra...)...) }

// Jobs lists the deliveries not expired, newest first (acceptedAt desc,
// receipt), a page of at most limit after the position of an opaque cursor
// ("" for the first page). It fails with ErrBadCursor or ErrBadJobStatus.
func (s *Store) Jobs(ctx context.Context, f JobFilter, after string, limit int) (Page[Job], error) {
	if limit < 1 || limit > MaxPageLimit {
		return Page[Job]{}, fmt.Errorf("tracking: limit %d out of range 1..%d", limit, MaxPageLimit)
	}
	args := []any{s.now()}
	where := []string{"d.expires_at > $1"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Merchant != Operator {
		where = append(where, "d.merchant_id = "+arg(f.Merchant))
	}
	if f.Reference != "" {
		where = append(where, "d.foreign_key = "+arg(f.Reference))
	}
	if f.Status != "" {
		cond, ok := jobStatusFilters[f.Status]
		if !ok {
			return Page[Job]{}, ErrBadJobStatus
		}
		where = append(where, "("+cond+")")
	}
	if after != "" {
		c, err := decodeCursor(after, cursorImports)
		if err != nil {
			return Page[Job]{}, err
		}
		// The order mixes directions, so no row comparison; the first
		// condition is the one an index (and partition pruning) can use.
		at, receipt := arg(c.acceptedAt()), arg(c.Receipt)
		where = append(where, "d.accepted_at <= "+at,
			"(d.accepted_at < "+at+" OR (d.accepted_at = "+at+" AND d.receipt_id > "+receipt+"))")
	}
	q := `SELECT ` + deliveryColumns + `, d.processing_at, c.n_total, c.n_queued, c.n_processing, c.n_unresolved, c.n_waiting,
			c.n_imported, c.n_partially, c.n_validation_failed, c.n_rejected, c.n_canceled
		FROM deliveries d ` + countsLateral + `
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY d.accepted_at DESC, d.receipt_id LIMIT ` + arg(limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return Page[Job]{}, fmt.Errorf("tracking: list jobs: %w", err)
	}
	defer rows.Close()
	page := Page[Job]{Items: []Job{}}
	var last Delivery
	for rows.Next() {
		var startedAt *time.Time
		var c Counts
		d, err := scanDelivery(extraRow{rows, []any{&startedAt, &c.Total, &c.Queued, &c.Processing, &c.Unresolved, &c.Waiting,
			&c.Imported, &c.Partially, &c.ValidationFailed, &c.Rejected, &c.Canceled}})
		if err != nil {
			return Page[Job]{}, fmt.Errorf("tracking: list jobs: %w", err)
		}
		if len(page.Items) == limit {
			next := importsCursor(&last).encode()
			page.NextCursor = &next
			break
		}
		page.Items = append(page.Items, NewJob(&d, startedAt, c))
		last = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Page[Job]{}, fmt.Errorf("tracking: list jobs: %w", err)
	}
	return page, nil
}

// OperationView is the operation object of GET /v1/operations/{id} and the
// items of GET /v1/imports/{receiptId}/operations.
type OperationView struct {
	ID                   uuid.UUID        `json:"id"`
	ReceiptID            string           `json:"receiptId"`
	MerchantID           string           `json:"merchantId"`
	Line                 int              `json:"line"`
	ResourceType         string           `json:"resourceType"`
	ResourceKey          string           `json:"resourceKey"`
	State                State            `json:"state"`
	IngestionStatus      string           `json:"ingestionStatus"`
	Errors               []OperationError `json:"errors"`
	Warnings             []OperationError `json:"warnings"`
	UnresolvedReferences []ReferenceView  `json:"unresolvedReferences"`
	RetryCount           int              `json:"retryCount"`
	CreatedAt            time.Time        `json:"createdAt"`
	LastModifiedAt       time.Time        `json:"lastModifiedAt"`
	ExpiresAt            time.Time        `json:"expiresAt"`
	LastEvent            LastEvent        `json:"lastEvent"`

	// Where the operation is stored, for actions on it (OpsLock).
	DeliveryAt time.Time `json:"-"`
	Seq        int       `json:"-"`
	Stage      Stage     `json:"-"`
}

// Ref names the operation for OpsLock and TransitionsApply.
func (o *OperationView) Ref() OpRef {
	return OpRef{ReceiptID: o.ReceiptID, MerchantID: o.MerchantID, DeliveryAt: o.DeliveryAt, Seq: o.Seq}
}

// OperationError is an error or warning of an operation; Field is null
// when it concerns the record as a whole.
type OperationError struct {
	Type        string  `json:"type"`
	Code        string  `json:"code"`
	Field       *string `json:"field"`
	Description string  `json:"description"`
}

// ReferenceView is a missing reference of an operation: the key, or the
// sku of a variant or inventory entry.
type ReferenceView struct {
	TypeID string `json:"typeId"`
	Key    string `json:"key"`
}

// LastEvent is an operation's latest tracking event.
type LastEvent struct {
	TrackingID   string `json:"trackingId"`
	TrackingCode int    `json:"trackingCode"`
	Message      string `json:"message"`
}

// Ingestion statuses (Walmart's names).
const (
	IngestionInProgress   = "INPROGRESS"
	IngestionSuccess      = "SUCCESS"
	IngestionDataError    = catalog.DataError
	IngestionSystemError  = catalog.SystemError
	IngestionTimeoutError = catalog.TimeoutError
)

// IngestionStatusOf maps an operation's state (and, for a rejected one, the
// type of its last error) to its ingestion status.
func IngestionStatusOf(s State, errs []OperationError) string {
	switch s {
	case StateImported, StatePartiallyImported:
		return IngestionSuccess
	case StateValidationFailed, StateCanceled:
		return IngestionDataError
	case StateRejected:
		if n := len(errs); n > 0 && errs[n-1].Type == catalog.TimeoutError {
			return IngestionTimeoutError
		}
		return IngestionSystemError
	default:
		return IngestionInProgress
	}
}

const operationColumns = `o.id, o.receipt_id, o.merchant_id, o.delivery_at, o.seq, o.line, o.resource_type, o.resource_key,
	o.state, o.stage, o.errors, o.warnings, o.unresolved, o.retry_count, o.created_at, o.last_modified_at, o.expires_at,
	o.last_tracking_id, o.last_tracking_code, o.last_message`

func scanOperation(row pgx.Row) (OperationView, error) {
	var (
		o                  OperationView
		state              string
		stage              int16
		errs, warns, unres []byte
		tid                uuid.UUID
	)
	err := row.Scan(&o.ID, &o.ReceiptID, &o.MerchantID, &o.DeliveryAt, &o.Seq, &o.Line, &o.ResourceType, &o.ResourceKey,
		&state, &stage, &errs, &warns, &unres, &o.RetryCount, &o.CreatedAt, &o.LastModifiedAt, &o.ExpiresAt,
		&tid, &o.LastEvent.TrackingCode, &o.LastEvent.Message)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	if err != nil {
		return o, err
	}
	o.State, o.Stage = State(state), Stage(stage)
	o.DeliveryAt, o.CreatedAt, o.LastModifiedAt, o.ExpiresAt = o.DeliveryAt.UTC(), o.CreatedAt.UTC(), o.LastModifiedAt.UTC(), o.ExpiresAt.UTC()
	o.LastEvent.TrackingID = hexID(tid)
	if o.Errors, err = operationErrors(errs); err != nil {
		return o, fmt.Errorf("tracking: errors of operation %s: %w", o.ID, err)
	}
	if o.Warnings, err = operationErrors(warns); err != nil {
		return o, fmt.Errorf("tracking: warnings of operation %s: %w", o.ID, err)
	}
	o.UnresolvedReferences = []ReferenceView{}
	if len(unres) > 0 {
		var refs []catalog.Reference
		if err := json.Unmarshal(unres, &refs); err != nil {
			return o, fmt.Errorf("tracking: unresolved references of operation %s: %w", o.ID, err)
		}
		for _, r := range refs {
			o.UnresolvedReferences = append(o.UnresolvedReferences, ReferenceView{TypeID: r.TypeID, Key: r.Identity()})
		}
	}
	o.IngestionStatus = IngestionStatusOf(o.State, o.Errors)
	return o, nil
}

func operationErrors(raw []byte) ([]OperationError, error) {
	out := []OperationError{}
	if len(raw) == 0 {
		return out, nil
	}
	var errs []catalog.Error
	if err := json.Unmarshal(raw, &errs); err != nil {
		return out, err
	}
	for _, e := range errs {
		oe := OperationError{Type: e.Type, Code: e.Code, Description: e.Description}
		if e.Field != "" {
			oe.Field = &e.Field
		}
		out = append(out, oe)
	}
	return out, nil
}

// OperationGet returns the operation with this id, of any merchant (the
// caller scopes it), or ErrNotFound; an operation of an expired delivery is
// not found.
func (s *Store) OperationGet(ctx context.Context, id uuid.UUID) (OperationView, error) {
	o, err := scanOperation(s.pool.QueryRow(ctx, `SELECT `+operationColumns+`
		FROM operations o JOIN deliveries d ON d.receipt_id = o.receipt_id AND d.accepted_at = o.delivery_at
		WHERE o.id = $1 AND o.expires_at > $2 AND d.expires_at > $2
		ORDER BY o.delivery_at DESC LIMIT 1`, id, s.now()))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return o, fmt.Errorf("tracking: operation %s: %w", id, err)
	}
	return o, err
}

// OperationFilter selects operations of a delivery; empty fields select any.
type OperationFilter struct {
	State        State
	ResourceType string
	ResourceKey  string
}

// Operations lists the operations of a delivery in delivery order, a page of
// at most limit after the position of an opaque cursor ("" for the first
// page). It fails with ErrBadCursor or ErrBadState.
func (s *Store) Operations(ctx context.Context, d *Delivery, f OperationFilter, after string, limit int) (Page[OperationView], error) {
	if limit < 1 || limit > MaxPageLimit {
		return Page[OperationView]{}, fmt.Errorf("tracking: limit %d out of range 1..%d", limit, MaxPageLimit)
	}
	args := []any{d.ReceiptID, d.AcceptedAt, s.now()}
	where := []string{"o.receipt_id = $1", "o.delivery_at = $2", "o.expires_at > $3"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.State != "" {
		if !ValidState(f.State) {
			return Page[OperationView]{}, ErrBadState
		}
		where = append(where, "o.state = "+arg(string(f.State)))
	}
	if f.ResourceType != "" {
		where = append(where, "o.resource_type = "+arg(f.ResourceType))
	}
	if f.ResourceKey != "" {
		where = append(where, "o.resource_key = "+arg(f.ResourceKey))
	}
	if after != "" {
		c, err := decodeCursor(after, cursorOperations)
		if err != nil || c.Receipt != d.ReceiptID {
			return Page[OperationView]{}, ErrBadCursor
		}
		where = append(where, "o.seq > "+arg(c.Seq))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+operationColumns+` FROM operations o
		WHERE `+strings.Join(where, " AND ")+` ORDER BY o.seq LIMIT `+arg(limit+1), args...)
	if err != nil {
		return Page[OperationView]{}, fmt.Errorf("tracking: operations of %s: %w", d.ReceiptID, err)
	}
	defer rows.Close()
	page := Page[OperationView]{Items: []OperationView{}}
	for rows.Next() {
		o, err := scanOperation(rows)
		if err != nil {
			return Page[OperationView]{}, fmt.Errorf("tracking: operations of %s: %w", d.ReceiptID, err)
		}
		if len(page.Items) == limit {
			next := cursor{Kind: cursorOperations, Receipt: d.ReceiptID, Seq: page.Items[limit-1].Seq}.encode()
			page.NextCursor = &next
			break
		}
		page.Items = append(page.Items, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Page[OperationView]{}, fmt.Errorf("tracking: operations of %s: %w", d.ReceiptID, err)
	}
	return page, nil
}

// StateCounts are operation counts per state, as in GET /v1/summary.
type StateCounts struct {
	Processing           int64 `json:"processing"`
	Unresolved           int64 `json:"unresolved"`
	WaitForMasterVariant int64 `json:"waitForMasterVariant"`
	Imported             int64 `json:"imported"`
	PartiallyImported    int64 `json:"partiallyImported"`
	ValidationFailed     int64 `json:"validationFailed"`
	Rejected             int64 `json:"rejected"`
	Canceled             int64 `json:"canceled"`
}

func (c *StateCounts) add(o StateCounts) {
	c.Processing += o.Processing
	c.Unresolved += o.Unresolved
	c.WaitForMasterVariant += o.WaitForMasterVariant
	c.Imported += o.Imported
	c.PartiallyImported += o.PartiallyImported
	c.ValidationFailed += o.ValidationFailed
	c.Rejected += o.Rejected
	c.Canceled += o.Canceled
}

// MerchantOverview is one merchant of GET /v1/summary.
type MerchantOverview struct {
	MerchantID string      `json:"merchantId"`
	Deliveries int64       `json:"deliveries"`
	Operations StateCounts `json:"operations"`
}

// OverviewTotal is the total of GET /v1/summary.
type OverviewTotal struct {
	Deliveries int64       `json:"deliveries"`
	Operations StateCounts `json:"operations"`
}

// Overview is the body of GET /v1/summary.
type Overview struct {
	Merchants []MerchantOverview `json:"merchants"`
	Total     OverviewTotal      `json:"total"`
}

// Overview counts the deliveries not expired and their operations per
// state, per merchant: of one merchant, or of all with Operator; optionally
// only deliveries of one job status (ErrBadJobStatus for an unknown one).
func (s *Store) Overview(ctx context.Context, merchant, status string) (Overview, error) {
	args := []any{s.now()}
	where := "d.expires_at > $1"
	if merchant != Operator {
		args = append(args, merchant)
		where += " AND d.merchant_id = $2"
	}
	if status != "" {
		cond, ok := jobStatusFilters[status]
		if !ok {
			return Overview{}, ErrBadJobStatus
		}
		where += " AND (" + cond + ")"
	}
	rows, err := s.pool.Query(ctx, `SELECT d.merchant_id, count(*), sum(c.n_queued + c.n_processing)::bigint,
			sum(c.n_unresolved)::bigint, sum(c.n_waiting)::bigint, sum(c.n_imported)::bigint, sum(c.n_partially)::bigint,
			sum(c.n_validation_failed)::bigint, sum(c.n_rejected)::bigint, sum(c.n_canceled)::bigint
		FROM deliveries d `+countsLateral+`
		WHERE `+where+`
		GROUP BY d.merchant_id ORDER BY d.merchant_id`, args...)
	if err != nil {
		return Overview{}, fmt.Errorf("tracking: summary: %w", err)
	}
	out := Overview{Merchants: []MerchantOverview{}}
	var m MerchantOverview
	_, err = pgx.ForEachRow(rows, []any{&m.MerchantID, &m.Deliveries, &m.Operations.Processing, &m.Operations.Unresolved,
		&m.Operations.WaitForMasterVariant, &m.Operations.Imported, &m.Operations.PartiallyImported,
		&m.Operations.ValidationFailed, &m.Operations.Rejected, &m.Operations.Canceled}, func() error {
		out.Merchants = append(out.Merchants, m)
		out.Total.Deliveries += m.Deliveries
		out.Total.Operations.add(m.Operations)
		return nil
	})
	if err != nil {
		return Overview{}, fmt.Errorf("tracking: summary: %w", err)
	}
	return out, nil
}

// ErrorRow is one error of one operation, a row of errors.csv.
type ErrorRow struct {
	OperationID  uuid.UUID
	Line         int
	ResourceKey  string
	ResourceType string
	State        State
	Type         string
	Code         string
	Field        string
	Description  string
}

// ErrorRows calls fn for every error of every operation of the delivery
// that has errors, in delivery order, streaming from the database.
func (s *Store) ErrorRows(ctx context.Context, d *Delivery, fn func(ErrorRow) error) error {
	rows, err := s.pool.Query(ctx, `SELECT o.id, o.line, o.resource_key, o.resource_type, o.state,
			coalesce(x.e->>'type', ''), coalesce(x.e->>'code', ''), coalesce(x.e->>'field', ''), coalesce(x.e->>'description', '')
		FROM operations o CROSS JOIN LATERAL jsonb_array_elements(o.errors) WITH ORDINALITY AS x(e, k)
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.expires_at > $3
			AND o.errors IS NOT NULL AND jsonb_typeof(o.errors) = 'array'
		ORDER BY o.seq, x.k`, d.ReceiptID, d.AcceptedAt, s.now())
	if err != nil {
		return fmt.Errorf("tracking: errors of %s: %w", d.ReceiptID, err)
	}
	var (
		row   ErrorRow
		state string
	)
	_, err = pgx.ForEachRow(rows, []any{&row.OperationID, &row.Line, &row.ResourceKey, &row.ResourceType, &state,
		&row.Type, &row.Code, &row.Field, &row.Description}, func() error {
		row.State = State(state)
		return fn(row)
	})
	if err != nil {
		return fmt.Errorf("tracking: errors of %s: %w", d.ReceiptID, err)
	}
	return nil
}
