package tracking

import "time"

// State of an operation (commercetools' names).
type State string

// Operation states.
const (
	StateProcessing           State = "processing"
	StateUnresolved           State = "unresolved"
	StateWaitForMasterVariant State = "waitForMasterVariant"
	StateImported             State = "imported"
	StatePartiallyImported    State = "partiallyImported"
	StateValidationFailed     State = "validationFailed"
	StateRejected             State = "rejected"
	StateCanceled             State = "canceled"
)

// Final reports whether s is an end state.
func (s State) Final() bool {
	switch s {
	case StateImported, StatePartiallyImported, StateValidationFailed, StateRejected, StateCanceled:
		return true
	}
	return false
}

// Stage of an operation in the pipeline, finer than its state: whether the
// resolver has picked it up decides between the Queued and Processing record
// statuses.
type Stage int16

// Stages.
const (
	StageQueued   Stage = 0 // stored by ingest, not yet picked up by the resolver
	StagePickedUp Stage = 1 // picked up by the resolver, or parked
	StageResolved Stage = 2 // every reference exists; on its way to the importer
)

// RecordStatus is the per-record status of the summary (CDON).
type RecordStatus struct {
	Name string
	Code int
}

// Per-record statuses.
var (
	RecordQueued            = RecordStatus{"Queued", 0}
	RecordProcessing        = RecordStatus{"Processing", 1}
	RecordImported          = RecordStatus{"Imported", 2}
	RecordPartiallyImported = RecordStatus{"PartiallyImported", 3}
	RecordFailed            = RecordStatus{"Failed", 4}
)

// RecordStatusOf maps an operation's state and stage to its summary status.
func RecordStatusOf(s State, st Stage) RecordStatus {
	switch s {
	case StateProcessing:
		if st == StageQueued {
			return RecordQueued
		}
		return RecordProcessing
	case StateUnresolved, StateWaitForMasterVariant:
		return RecordProcessing
	case StateImported:
		return RecordImported
	case StatePartiallyImported:
		return RecordPartiallyImported
	default:
		return RecordFailed
	}
}

// DeliveryStatus is the status of a delivery with its code.
type DeliveryStatus struct {
	Name string
	Code int
}

// Delivery statuses.
var (
	StatusNoContent             = DeliveryStatus{"NoContent", 1}
	StatusReceiving             = DeliveryStatus{"Receiving", 2}
	StatusIngestionFailure      = DeliveryStatus{"IngestionFailure", 3}
	StatusQueued                = DeliveryStatus{"Queued", 4}
	StatusProcessing            = DeliveryStatus{"Processing", 5}
	StatusCompletedSuccessfully = DeliveryStatus{"CompletedSuccessfully", 6}
	StatusCompletedWithErrors   = DeliveryStatus{"CompletedWithErrors", 7}
)

// Ingest states of a delivery.
const (
	IngestReceiving = "receiving"
	IngestDone      = "done"
	IngestFailed    = "failed"
)

// Counts are the numbers of a delivery's operations per state.
type Counts struct {
	Total            int64
	Queued           int64 // processing, not yet picked up
	Processing       int64 // processing, picked up
	Unresolved       int64
	Waiting          int64 // waitForMasterVariant
	Imported         int64
	Partially        int64
	ValidationFailed int64
	Rejected         int64
	Canceled         int64
}

// Successful counts imported and partially imported operations.
func (c Counts) Successful() int64 { return c.Imported + c.Partially }

// Failed counts operations that failed, were rejected or canceled.
func (c Counts) Failed() int64 { return c.ValidationFailed + c.Rejected + c.Canceled }

// Pending counts operations not in an end state.
func (c Counts) Pending() int64 { return c.Queued + c.Processing + c.Unresolved + c.Waiting }

// Add adds d to c.
func (c *Counts) Add(d Counts) {
	c.Total += d.Total
	c.Queued += d.Queued
	c.Processing += d.Processing
	c.Unresolved += d.Unresolved
	c.Waiting += d.Waiting
	c.Imported += d.Imported
	c.Partially += d.Partially
	c.ValidationFailed += d.ValidationFailed
	c.Rejected += d.Rejected
	c.Canceled += d.Canceled
}

// Count adds one operation entering state s at stage st (or, with n = -1,
// leaving it).
func (c *Counts) Count(s State, st Stage, n int64) {
	switch s {
	case StateProcessing:
		if st == StageQueued {
			c.Queued += n
		} else {
			c.Processing += n
		}
	case StateUnresolved:
		c.Unresolved += n
	case StateWaitForMasterVariant:
		c.Waiting += n
	case StateImported:
		c.Imported += n
	case StatePartiallyImported:
		c.Partially += n
	case StateValidationFailed:
		c.ValidationFailed += n
	case StateRejected:
		c.Rejected += n
	case StateCanceled:
		c.Canceled += n
	}
}

// DeriveStatus computes a delivery's status from its ingest state and counts.
func DeriveStatus(ingestState string, c Counts) DeliveryStatus {
	switch ingestState {
	case IngestFailed:
		return StatusIngestionFailure
	case IngestReceiving:
		return StatusReceiving
	}
	switch {
	case c.Total == 0:
		return StatusNoContent
	case c.Pending() == 0 && c.Failed() == 0:
		return StatusCompletedSuccessfully
	case c.Pending() == 0:
		return StatusCompletedWithErrors
	case c.Queued == c.Pending() && c.Successful() == 0 && c.Rejected == 0 && c.Canceled == 0:
		return StatusQueued
	default:
		return StatusProcessing
	}
}

// Estimate returns when a delivery should complete at its own rate so far:
// the operations finished since it was accepted, extrapolated over those
// still pending. It returns nil when there is nothing to extrapolate from.
func Estimate(acceptedAt, now time.Time, c Counts) *time.Time {
	done := c.Successful() + c.Rejected + c.Canceled
	pending := c.Pending()
	elapsed := now.Sub(acceptedAt)
	if done == 0 || pending == 0 || elapsed <= 0 {
		return nil
	}
	per := elapsed / time.Duration(done)
	eta := now.Add(per * time.Duration(pending)).UTC()
	return &eta
}

// Operator is the merchant of a token that sees every merchant's deliveries:
// a query scoped to it matches every merchant.
const Operator = "*"
