package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// Limits of the /v1 lists and of the job object's detail.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 1000
	maxErrorCodes    = 50
	maxErrorExamples = 5
	maxMissingRefs   = 100
)

// views answers the /v1 read model (job objects, operations, the overview,
// errors.csv) from the store's rows.
type views struct{ ts *tracking.Store }

// Page is one page of a /v1 list. NextCursor is nil on the last page.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// Job is the job object of GET /v1/imports/{receiptId}, and the items of
// GET /v1/imports (without Errors and MissingReferences).
type Job struct {
	ReceiptID          string  `json:"receiptId"`
	MerchantID         string  `json:"merchantId"`
	ResourceType       string  `json:"resourceType"`
	Format             string  `json:"format"`
	ContractVersion    string  `json:"contractVersion"`
	Reference          *string `json:"reference"`
	Status             string  `json:"status"`
	DeliveryStatus     string  `json:"deliveryStatus"`
	DeliveryStatusCode int     `json:"deliveryStatusCode"`
	SkipErrors         bool    `json:"skipErrors"`
	InputsSize         int64   `json:"inputsSize"`
	// Inputs says whether GET /v1/imports/{receiptId}/inputs answers the
	// body: held (in flight) or kept, or why it is not kept (InputsHeld…).
	Inputs          string     `json:"inputs"`
	ProcessedCount  int64      `json:"processedCount"`
	ErrorsCount     int64      `json:"errorsCount"`
	WarningsCount   int64      `json:"warningsCount"`
	ItemsReceived   int64      `json:"itemsReceived"`
	ItemsSucceeded  int64      `json:"itemsSucceeded"`
	ItemsFailed     int64      `json:"itemsFailed"`
	ItemsInReview   int64      `json:"itemsInReview"`
	ItemsProcessing int64      `json:"itemsProcessing"`
	CreatedAt       time.Time  `json:"createdAt"`
	StartedAt       *time.Time `json:"startedAt"`
	CompletedAt     *time.Time `json:"completedAt"`
	InterruptedAt   *time.Time `json:"interruptedAt"`
	ExpiresAt       time.Time  `json:"expiresAt"`
	// Metadata are the pairs the upstream attached (Import-Metadata-<Key>),
	// {} for none.
	Metadata map[string]string `json:"metadata"`
	// BytesRead and BytesTotal are the delivery's body read so far and in
	// all, in bytes as stored (compressed if it is); BytesTotal is null
	// until ingest opens the body.
	BytesRead  int64  `json:"bytesRead"`
	BytesTotal *int64 `json:"bytesTotal"`
	// EstimatedCompletionAt is /status's EstimatedCompletionUtc
	// (tracking.Estimate): set while the delivery is receiving, queued or
	// processing and there is a rate to extrapolate.
	EstimatedCompletionAt *time.Time `json:"estimatedCompletionAt"`
	// IngestionErrors is set (possibly empty) only for a delivery in
	// IngestionFailure; the key is absent otherwise.
	IngestionErrors *[]tracking.IngestionError `json:"ingestionErrors,omitempty"`
	// Errors and MissingReferences are set by Job with detail; the keys are
	// absent from list items.
	Errors            *[]ErrorGroup       `json:"errors,omitempty"`
	MissingReferences *[]MissingReference `json:"missingReferences,omitempty"`
	// Warnings groups the warnings of the delivery's operations like
	// Errors (Commerce Layer's warnings_log); set by Job with detail.
	Warnings *[]ErrorGroup `json:"warnings,omitempty"`
	// ItemDetails is set for GET /v1/imports/{receiptId}?includeDetails=true:
	// a page of the delivery's records with their ingestion status.
	ItemDetails *ItemDetails `json:"itemDetails,omitempty"`
	// Callback is set by Job with detail for a delivery with a callback
	// URL: its host and the state of the latest call.
	Callback *tracking.CallbackState `json:"callback,omitempty"`

	// Counts are the operation counts the object was built from, for
	// other views of it (the console's ETA); not part of the API.
	Counts tracking.Counts `json:"-"`
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
// its first operation was picked up (nil before), its ETA as of now. It has
// no detail.
func NewJob(d *tracking.Delivery, startedAt *time.Time, c tracking.Counts, now time.Time) Job {
	st := tracking.DeriveStatus(d.IngestState, c)
	j := Job{
		ReceiptID:          d.ReceiptID,
		MerchantID:         d.MerchantID,
		ResourceType:       d.Data,
		Format:             d.Format,
		ContractVersion:    d.ContractVersion,
		Reference:          d.ForeignKey,
		Status:             tracking.JobStatus(d, c),
		DeliveryStatus:     st.Name,
		DeliveryStatusCode: st.Code,
		SkipErrors:         d.SkipErrors,
		InputsSize:         int64(d.RecordsRead),
		Inputs:             inputsOfJob(d),
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
		Metadata:           d.Metadata,
		BytesRead:          d.BodyRead,
		BytesTotal:         d.BodySize,
		Counts:             c,
	}
	if j.Metadata == nil {
		j.Metadata = map[string]string{}
	}
	switch st {
	case tracking.StatusNoContent, tracking.StatusCompletedSuccessfully, tracking.StatusCompletedWithErrors:
		j.CompletedAt = utc(d.CompletedAt)
		if j.CompletedAt == nil {
			j.CompletedAt = utc(d.IngestedAt)
		}
	case tracking.StatusIngestionFailure:
		j.CompletedAt = utc(d.IngestedAt)
		ierrs := append([]tracking.IngestionError{}, d.IngestionErrors...)
		j.IngestionErrors = &ierrs
	case tracking.StatusProcessing, tracking.StatusQueued, tracking.StatusReceiving:
		j.EstimatedCompletionAt = tracking.Estimate(d.Progress(c), now)
	}
	return j
}

// Job returns the job object of a delivery; with detail, its errors grouped
// by code and its missing references.
func (s *views) Job(ctx context.Context, d *tracking.Delivery, detail bool) (Job, error) {
	c, err := s.ts.Counts(ctx, d)
	if err != nil {
		return Job{}, fmt.Errorf("tracking: counts of %s: %w", d.ReceiptID, err)
	}
	startedAt, err := store.DeliveriesProcessingAt(ctx, s.ts.Pool(), d.ReceiptID, d.AcceptedAt)
	if errors.Is(err, store.ErrNotFound) {
		return Job{}, tracking.ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("tracking: job %s: %w", d.ReceiptID, err)
	}
	j := NewJob(d, startedAt, c, s.ts.Now())
	if !detail {
		return j, nil
	}
	groups, err := s.issueGroups(ctx, d, store.IssueErrors)
	if err != nil {
		return Job{}, err
	}
	warnings, err := s.issueGroups(ctx, d, store.IssueWarnings)
	if err != nil {
		return Job{}, err
	}
	refs, err := s.missingReferences(ctx, d)
	if err != nil {
		return Job{}, err
	}
	cb, err := s.ts.CallbackOf(ctx, d)
	if err != nil {
		return Job{}, err
	}
	j.Errors, j.Warnings, j.MissingReferences, j.Callback = &groups, &warnings, &refs, cb
	return j, nil
}

// issueGroups groups the errors of the delivery's failed operations, or the
// warnings of all its operations (kind), by code, biggest group first, with
// the first few of each as examples.
func (s *views) issueGroups(ctx context.Context, d *tracking.Delivery, kind store.Issues) ([]ErrorGroup, error) {
	rows, err := store.OperationsIssueGroups(ctx, s.ts.Pool(), kind, d.ReceiptID, d.AcceptedAt, maxErrorCodes, maxErrorExamples)
	if err != nil {
		return nil, fmt.Errorf("tracking: %s of %s: %w", issueNames[kind], d.ReceiptID, err)
	}
	groups := []ErrorGroup{}
	for _, r := range rows {
		if len(groups) == 0 || groups[len(groups)-1].Code != r.Code {
			groups = append(groups, ErrorGroup{Code: r.Code, Type: r.Type, Count: r.Count, Examples: []ErrorExample{}})
		}
		g := &groups[len(groups)-1]
		ex := ErrorExample{OperationID: uuid.UUID(r.OperationID), ResourceKey: r.ResourceKey, Field: r.Field, Description: r.Description}
		if ex.Field != nil && *ex.Field == "" {
			ex.Field = nil
		}
		g.Examples = append(g.Examples, ex)
	}
	return groups, nil
}

// missingReferences returns the keys the delivery's parked operations wait
// for, the most waited for first.
func (s *views) missingReferences(ctx context.Context, d *tracking.Delivery) ([]MissingReference, error) {
	rows, err := store.ParkedRefsMissing(ctx, s.ts.Pool(), d.ReceiptID, d.AcceptedAt, maxMissingRefs)
	if err != nil {
		return nil, fmt.Errorf("tracking: missing references of %s: %w", d.ReceiptID, err)
	}
	out := make([]MissingReference, len(rows))
	for i, r := range rows {
		out[i] = MissingReference(r)
	}
	return out, nil
}

// JobFilter selects the deliveries of GET /v1/imports.
type JobFilter struct {
	Scope     string // the token's merchant, or Operator for all
	Merchant  string // a merchant within Scope, or empty for all of Scope's
	Status    string // a job status, or empty for any
	Reference string // a foreign key, or empty for any
	// CreatedFrom and CreatedTo bound createdAt (the time the delivery was
	// accepted), from inclusive, to exclusive; the zero time leaves that end
	// open.
	CreatedFrom time.Time
	CreatedTo   time.Time
	// Metadata selects the deliveries with every one of these pairs (keys
	// lower-cased); nil for any.
	Metadata map[string]string
}

// Jobs lists the deliveries not expired, newest first (acceptedAt desc,
// receipt), a page of at most limit after the position of an opaque cursor
// ("" for the first page). It fails with ErrBadCursor or ErrBadJobStatus.
func (s *views) Jobs(ctx context.Context, f JobFilter, after string, limit int) (Page[Job], error) {
	if limit < 1 || limit > MaxPageLimit {
		return Page[Job]{}, fmt.Errorf("tracking: limit %d out of range 1..%d", limit, MaxPageLimit)
	}
	sf := store.DeliveriesFilter{Now: s.ts.Now(), Merchant: f.Merchant, Reference: f.Reference, JobStatus: f.Status,
		AcceptedFrom: ceilMicro(f.CreatedFrom), AcceptedTo: ceilMicro(f.CreatedTo), Metadata: f.Metadata}
	if f.Status != "" && !tracking.ValidJobStatus(f.Status) {
		return Page[Job]{}, tracking.ErrBadJobStatus
	}
	if after != "" {
		c, err := decodeCursor(after, cursorImports)
		if err != nil {
			return Page[Job]{}, err
		}
		sf.After, sf.AfterAt, sf.AfterReceipt = true, c.acceptedAt(), c.Receipt
	}
	if f.Scope != tracking.Operator {
		if f.Merchant != "" && f.Merchant != f.Scope {
			// Another merchant's deliveries, as far as this token may know,
			// are none: the same answer as for a merchant without any.
			return Page[Job]{Items: []Job{}}, nil
		}
		sf.Merchant = f.Scope
	}
	rows, err := store.DeliveriesList(ctx, s.ts.Pool(), sf, limit+1)
	if errors.Is(err, store.ErrUnknownStatus) {
		return Page[Job]{}, tracking.ErrBadJobStatus
	}
	if err != nil {
		return Page[Job]{}, fmt.Errorf("tracking: list jobs: %w", err)
	}
	page := Page[Job]{Items: []Job{}}
	var last tracking.Delivery
	for _, r := range rows {
		d, err := tracking.DeliveryOf(r)
		if err != nil {
			return Page[Job]{}, fmt.Errorf("tracking: list jobs: %w", err)
		}
		if len(page.Items) == limit {
			next := importsCursor(&last).encode()
			page.NextCursor = &next
			break
		}
		page.Items = append(page.Items, NewJob(&d, r.ProcessingAt, tracking.Counts(r.Counts), sf.Now))
		last = d
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
	State                tracking.State   `json:"state"`
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
	DeliveryAt time.Time      `json:"-"`
	Seq        int            `json:"-"`
	Stage      tracking.Stage `json:"-"`
}

// Ref names the operation for OpsLock and TransitionsApply.
func (o *OperationView) Ref() tracking.OpRef {
	return tracking.OpRef{ReceiptID: o.ReceiptID, MerchantID: o.MerchantID, DeliveryAt: o.DeliveryAt, Seq: o.Seq}
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
func IngestionStatusOf(s tracking.State, errs []OperationError) string {
	switch s {
	case tracking.StateImported, tracking.StatePartiallyImported:
		return IngestionSuccess
	case tracking.StateValidationFailed, tracking.StateCanceled:
		return IngestionDataError
	case tracking.StateRejected:
		if n := len(errs); n > 0 && errs[n-1].Type == catalog.TimeoutError {
			return IngestionTimeoutError
		}
		return IngestionSystemError
	default:
		return IngestionInProgress
	}
}

// operationView converts a row of operations; store.ErrNotFound is ErrNotFound.
func operationView(r store.OperationView, err error) (OperationView, error) {
	if err != nil {
		return OperationView{}, notFound(err)
	}
	o := OperationView{ID: uuid.UUID(r.ID), ReceiptID: r.ReceiptID, MerchantID: r.MerchantID, DeliveryAt: r.DeliveryAt.UTC(), Seq: r.Seq,
		Line: r.Line, ResourceType: r.ResourceType, ResourceKey: r.ResourceKey, State: tracking.State(r.State), Stage: tracking.Stage(r.Stage),
		RetryCount: r.RetryCount, CreatedAt: r.CreatedAt.UTC(), LastModifiedAt: r.LastModifiedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		LastEvent: LastEvent{TrackingID: hexID(uuid.UUID(r.LastID)), TrackingCode: r.LastCode, Message: r.LastMessage}}
	if o.Errors, err = operationErrors(r.Errors); err != nil {
		return o, fmt.Errorf("tracking: errors of operation %s: %w", o.ID, err)
	}
	if o.Warnings, err = operationErrors(r.Warnings); err != nil {
		return o, fmt.Errorf("tracking: warnings of operation %s: %w", o.ID, err)
	}
	o.UnresolvedReferences = []ReferenceView{}
	if len(r.Unresolved) > 0 {
		var refs []catalog.Reference
		if err := json.Unmarshal(r.Unresolved, &refs); err != nil {
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
func (s *views) OperationGet(ctx context.Context, id uuid.UUID) (OperationView, error) {
	o, err := operationView(store.OperationsGet(ctx, s.ts.Pool(), [16]byte(id), s.ts.Now()))
	if err != nil && !errors.Is(err, tracking.ErrNotFound) {
		return o, fmt.Errorf("tracking: operation %s: %w", id, err)
	}
	return o, err
}

// OperationFilter selects operations of a delivery; empty fields select any.
type OperationFilter struct {
	State        tracking.State
	ResourceType string
	ResourceKey  string
}

// Operations lists the operations of a delivery in delivery order, a page of
// at most limit after the position of an opaque cursor ("" for the first
// page). It fails with ErrBadCursor or ErrBadState.
func (s *views) Operations(ctx context.Context, d *tracking.Delivery, f OperationFilter, after string, limit int) (Page[OperationView], error) {
	if limit < 1 || limit > MaxPageLimit {
		return Page[OperationView]{}, fmt.Errorf("tracking: limit %d out of range 1..%d", limit, MaxPageLimit)
	}
	sf := store.OperationsFilter{Now: s.ts.Now(), State: string(f.State), ResourceType: f.ResourceType, ResourceKey: f.ResourceKey, AfterSeq: -1}
	if f.State != "" && !tracking.ValidState(f.State) {
		return Page[OperationView]{}, tracking.ErrBadState
	}
	if after != "" {
		c, err := decodeCursor(after, cursorOperations)
		if err != nil || c.Receipt != d.ReceiptID {
			return Page[OperationView]{}, ErrBadCursor
		}
		sf.AfterSeq = c.Seq
	}
	rows, err := store.OperationsList(ctx, s.ts.Pool(), d.ReceiptID, d.AcceptedAt, sf, limit+1)
	if err != nil {
		return Page[OperationView]{}, fmt.Errorf("tracking: operations of %s: %w", d.ReceiptID, err)
	}
	page := Page[OperationView]{Items: []OperationView{}}
	for _, r := range rows {
		o, err := operationView(r, nil)
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
	return page, nil
}

// ItemDetails is a page of a delivery's records in delivery order, the
// shape of Walmart's feed item details (itemDetails.itemIngestionStatus).
type ItemDetails struct {
	Offset              int          `json:"offset"`
	Limit               int          `json:"limit"`
	ItemIngestionStatus []ItemStatus `json:"itemIngestionStatus"`
}

// ItemStatus is one record of ItemDetails: Walmart's sku (the record's
// key), ingestionStatus and ingestionErrors, with the operation it is.
type ItemStatus struct {
	SKU             string          `json:"sku"`
	OperationID     uuid.UUID       `json:"operationId"`
	Line            int             `json:"line"`
	ResourceType    string          `json:"resourceType"`
	State           tracking.State  `json:"state"`
	IngestionStatus string          `json:"ingestionStatus"`
	IngestionErrors IngestionErrors `json:"ingestionErrors"`
}

// IngestionErrors wraps an item's errors as Walmart does.
type IngestionErrors struct {
	IngestionError []OperationError `json:"ingestionError"`
}

// ItemDetails returns the records of the delivery from position offset
// (0-based, the record on line offset+1), at most limit of them: a range
// of seq, read from the operations' primary key whatever the delivery's
// size.
func (s *views) ItemDetails(ctx context.Context, d *tracking.Delivery, offset, limit int) (ItemDetails, error) {
	if limit < 1 || limit > MaxPageLimit || offset < 0 {
		return ItemDetails{}, fmt.Errorf("tracking: offset %d or limit %d out of range", offset, limit)
	}
	rows, err := store.OperationsList(ctx, s.ts.Pool(), d.ReceiptID, d.AcceptedAt,
		store.OperationsFilter{Now: s.ts.Now(), AfterSeq: offset - 1}, limit)
	if err != nil {
		return ItemDetails{}, fmt.Errorf("tracking: item details of %s: %w", d.ReceiptID, err)
	}
	out := ItemDetails{Offset: offset, Limit: limit, ItemIngestionStatus: make([]ItemStatus, 0, len(rows))}
	for _, r := range rows {
		o, err := operationView(r, nil)
		if err != nil {
			return ItemDetails{}, fmt.Errorf("tracking: item details of %s: %w", d.ReceiptID, err)
		}
		out.ItemIngestionStatus = append(out.ItemIngestionStatus, ItemStatus{SKU: o.ResourceKey, OperationID: o.ID, Line: o.Line,
			ResourceType: o.ResourceType, State: o.State, IngestionStatus: o.IngestionStatus, IngestionErrors: IngestionErrors{o.Errors}})
	}
	return out, nil
}

// StateCounts are operation counts per state, as in GET /v1/summary.
type StateCounts struct {
	Queued               int64 `json:"-"` // of Processing, those the resolver has not picked up
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
	c.Queued += o.Queued
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
func (s *views) Overview(ctx context.Context, merchant, status string) (Overview, error) {
	f := store.DeliveriesFilter{Now: s.ts.Now(), JobStatus: status}
	if merchant != tracking.Operator {
		f.Merchant = merchant
	}
	if status != "" && !tracking.ValidJobStatus(status) {
		return Overview{}, tracking.ErrBadJobStatus
	}
	rows, err := store.DeliveriesOverview(ctx, s.ts.Pool(), f)
	if errors.Is(err, store.ErrUnknownStatus) {
		return Overview{}, tracking.ErrBadJobStatus
	}
	if err != nil {
		return Overview{}, fmt.Errorf("tracking: summary: %w", err)
	}
	out := Overview{Merchants: []MerchantOverview{}}
	for _, r := range rows {
		m := MerchantOverview{MerchantID: r.MerchantID, Deliveries: r.Deliveries, Operations: StateCounts{
			Queued: r.Queued, Processing: r.Processing, Unresolved: r.Unresolved, WaitForMasterVariant: r.WaitForMasterVariant,
			Imported: r.Imported, PartiallyImported: r.PartiallyImported, ValidationFailed: r.ValidationFailed,
			Rejected: r.Rejected, Canceled: r.Canceled}}
		out.Merchants = append(out.Merchants, m)
		out.Total.Deliveries += m.Deliveries
		out.Total.Operations.add(m.Operations)
	}
	return out, nil
}

// issueNames names each list of problems in errors and file names.
var issueNames = [...]string{store.IssueErrors: "errors", store.IssueWarnings: "warnings"}

// ErrorRow is one error (or warning) of one operation, a row of errors.csv
// (or warnings.csv).
type ErrorRow struct {
	OperationID  uuid.UUID
	Line         int
	ResourceKey  string
	ResourceType string
	State        tracking.State
	Type         string
	Code         string
	Field        string
	Description  string
}

// ErrorRows calls fn for every error of every operation of the delivery
// that has errors, in delivery order, streaming from the database.
func (s *views) ErrorRows(ctx context.Context, d *tracking.Delivery, fn func(ErrorRow) error) error {
	return s.IssueRows(ctx, d, store.IssueErrors, fn)
}

// IssueRows calls fn for every error or warning (kind) of every operation
// of the delivery, as ErrorRows does.
func (s *views) IssueRows(ctx context.Context, d *tracking.Delivery, kind store.Issues, fn func(ErrorRow) error) error {
	err := store.OperationsIssues(ctx, s.ts.Pool(), kind, d.ReceiptID, d.AcceptedAt, s.ts.Now(), func(r store.OperationError) error {
		return fn(ErrorRow{OperationID: uuid.UUID(r.OperationID), Line: r.Line, ResourceKey: r.ResourceKey, ResourceType: r.ResourceType,
			State: tracking.State(r.State), Type: r.Type, Code: r.Code, Field: r.Field, Description: r.Description})
	})
	if err != nil {
		return fmt.Errorf("tracking: %s of %s: %w", issueNames[kind], d.ReceiptID, err)
	}
	return nil
}

// notFound is tracking.ErrNotFound for store.ErrNotFound, err otherwise.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return tracking.ErrNotFound
	}
	return err
}

// ceilMicro rounds t up to PostgreSQL's precision, the microsecond, so that
// a bound between two microseconds keeps the deliveries on its side of it.
func ceilMicro(t time.Time) time.Time {
	if u := t.Truncate(time.Microsecond); !u.Equal(t) {
		return u.Add(time.Microsecond)
	}
	return t
}

// utc is t in UTC, nil for nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
