package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

// The shapes of the /v1 API that importctl reads. They are
// declared here rather than imported from the server's packages, so that the
// client depends on the wire format only.

// Job statuses of the job view.
const (
	jobPending     = "pending"
	jobInProgress  = "in_progress"
	jobInterrupted = "interrupted"
	jobCompleted   = "completed"
)

// jobStatuses are the job statuses, in the order a delivery goes through them.
var jobStatuses = []string{jobPending, jobInProgress, jobInterrupted, jobCompleted}

// Job is the job object of GET /v1/imports/{receiptId} (and, without Errors
// and MissingReferences, an item of GET /v1/imports).
type Job struct {
	ReceiptID          string           `json:"receiptId"`
	MerchantID         string           `json:"merchantId"`
	ResourceType       string           `json:"resourceType"`
	Format             string           `json:"format"`
	ContractVersion    string           `json:"contractVersion"`
	Reference          *string          `json:"reference"`
	Status             string           `json:"status"`
	DeliveryStatus     string           `json:"deliveryStatus"`
	DeliveryStatusCode int              `json:"deliveryStatusCode"`
	SkipErrors         bool             `json:"skipErrors"`
	InputsSize         int64            `json:"inputsSize"`
	ProcessedCount     int64            `json:"processedCount"`
	ErrorsCount        int64            `json:"errorsCount"`
	WarningsCount      int64            `json:"warningsCount"`
	ItemsReceived      int64            `json:"itemsReceived"`
	ItemsSucceeded     int64            `json:"itemsSucceeded"`
	ItemsFailed        int64            `json:"itemsFailed"`
	ItemsInReview      int64            `json:"itemsInReview"`
	ItemsProcessing    int64            `json:"itemsProcessing"`
	CreatedAt          time.Time        `json:"createdAt"`
	StartedAt          *time.Time       `json:"startedAt"`
	CompletedAt        *time.Time       `json:"completedAt"`
	InterruptedAt      *time.Time       `json:"interruptedAt"`
	ExpiresAt          *time.Time       `json:"expiresAt"`
	IngestionErrors    []IngestionError `json:"ingestionErrors,omitempty"`
	Errors             []ErrorGroup     `json:"errors,omitempty"`
	MissingReferences  []MissingRef     `json:"missingReferences,omitempty"`

	// The body read so far and in all, in bytes as stored; BytesTotal is
	// nil until ingest opens the body, or from a service without it.
	BytesRead             int64      `json:"bytesRead"`
	BytesTotal            *int64     `json:"bytesTotal"`
	EstimatedCompletionAt *time.Time `json:"estimatedCompletionAt"`
}

// IngestionError is why a delivery as a whole could not be read.
type IngestionError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// ErrorGroup is the errors of one code over a delivery's failed operations.
type ErrorGroup struct {
	Code     string         `json:"code"`
	Type     string         `json:"type"`
	Count    int64          `json:"count"`
	Examples []ErrorExample `json:"examples"`
}

// ErrorExample is one operation with an error of the group's code.
type ErrorExample struct {
	OperationID string `json:"operationId"`
	ResourceKey string `json:"resourceKey"`
	Field       string `json:"field"`
	Description string `json:"description"`
}

// MissingRef is a resource the delivery's parked operations wait for.
type MissingRef struct {
	TypeID     string `json:"typeId"`
	Key        string `json:"key"`
	Operations int64  `json:"operations"`
}

// Page is one page of a /v1 list.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// Operation is the operation object of GET /v1/operations/{id}, and what
// POST /v1/operations/{id}/retry answers.
type Operation struct {
	ID                   string          `json:"id"`
	ReceiptID            string          `json:"receiptId"`
	MerchantID           string          `json:"merchantId"`
	Line                 int64           `json:"line"`
	ResourceType         string          `json:"resourceType"`
	ResourceKey          string          `json:"resourceKey"`
	State                string          `json:"state"`
	IngestionStatus      string          `json:"ingestionStatus"`
	Errors               []OpError       `json:"errors"`
	Warnings             []OpError       `json:"warnings"`
	UnresolvedReferences []KeyRef        `json:"unresolvedReferences"`
	RetryCount           int             `json:"retryCount"`
	CreatedAt            time.Time       `json:"createdAt"`
	LastModifiedAt       time.Time       `json:"lastModifiedAt"`
	ExpiresAt            *time.Time      `json:"expiresAt"`
	LastEvent            json.RawMessage `json:"lastEvent"`
}

// OpError is an error or warning of an operation.
type OpError struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	Field       string `json:"field"`
	Description string `json:"description"`
}

// KeyRef is a key reference.
type KeyRef struct {
	TypeID string `json:"typeId"`
	Key    string `json:"key"`
}

// RetryResult is the answer of POST /v1/imports/{receiptId}/retry.
type RetryResult struct {
	Retried int64 `json:"retried"`
}

// opStates are the operation states, in the order of docs/contract.md
// ("Operations"): the columns of the summary.
var opStates = []string{
	"processing", "unresolved", "waitForMasterVariant",
	"imported", "partiallyImported", "validationFailed", "rejected", "canceled",
}

// Summary is the answer of GET /v1/summary.
type Summary struct {
	Merchants []SummaryRow `json:"merchants"`
	Total     SummaryRow   `json:"total"`
}

// SummaryRow is the counts of one merchant (MerchantID empty for the total).
type SummaryRow struct {
	MerchantID string           `json:"merchantId,omitempty"`
	Deliveries int64            `json:"deliveries"`
	Operations map[string]int64 `json:"operations"`
}

// pageQuery sets the paging of a /v1 list on q: --limit (1 to maxPage; with
// --all and no --limit, maxPage) and --cursor.
func pageQuery(what string, q url.Values, limit int, cursor string, all bool) error {
	switch {
	case limit < 0 || limit > maxPage:
		return usagef("%s: --limit must be 1 to %d, got %d", what, maxPage, limit)
	case limit > 0:
		q.Set("limit", strconv.Itoa(limit))
	case all:
		q.Set("limit", strconv.Itoa(maxPage))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return nil
}

// listing is what listPages read of a /v1 list.
type listing[T any] struct {
	items []T
	raw   []json.RawMessage // the items as sent, with --json --all
	body  []byte            // the one page as sent, with --json alone
	next  *string           // the cursor of the page after the last read
}

// listPages reads a /v1 list for query q with fetch: one page, or with all
// every page, following nextCursor; with raw it keeps the JSON as sent.
// what names the command in errors.
func listPages[T any](ctx context.Context, what string, q url.Values, all, raw bool,
	fetch func(context.Context, url.Values) ([]byte, Page[T], error)) (listing[T], error) {
	var l listing[T]
	for {
		body, page, err := fetch(ctx, q)
		if err != nil {
			return l, err
		}
		if raw && !all {
			l.body = body
			return l, nil
		}
		if raw {
			var p Page[json.RawMessage]
			if err := json.Unmarshal(body, &p); err != nil {
				return l, fmt.Errorf("%s: decode the answer: %w", what, err)
			}
			l.raw = append(l.raw, p.Items...)
		}
		l.items = append(l.items, page.Items...)
		l.next = page.NextCursor
		if !all || l.next == nil || *l.next == "" {
			return l, nil
		}
		if *l.next == q.Get("cursor") {
			return l, fmt.Errorf("%s: the service answered the same nextCursor %q twice", what, *l.next)
		}
		q.Set("cursor", *l.next)
	}
}

// writeJSON writes the listing as --json prints it: the page as sent, or
// every page's items as one page.
func (l listing[T]) writeJSON(w io.Writer) (int, error) {
	if l.body != nil {
		return writeRaw(w, l.body)
	}
	items := l.raw
	if items == nil {
		items = []json.RawMessage{}
	}
	body, err := json.Marshal(Page[json.RawMessage]{Items: items})
	if err != nil {
		return exitUsage, err
	}
	return writeRaw(w, body)
}

// more reports whether pages follow the last one read.
func (l listing[T]) more() bool { return l.next != nil && *l.next != "" }
