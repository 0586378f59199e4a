package main

import (
	"encoding/json"
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
