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

// Progress is how far a delivery has come, what Estimate extrapolates.
type Progress struct {
	AcceptedAt time.Time
	Receiving  bool  // ingest is still reading the body
	BodyRead   int64 // bytes of the body as stored (compressed if it is) read so far
	BodySize   int64 // the body's bytes as stored; 0 when unknown
	Counts     Counts
}

// Progress returns the delivery's progress with counts c.
func (d *Delivery) Progress(c Counts) Progress {
	p := Progress{AcceptedAt: d.AcceptedAt, Receiving: d.IngestState == IngestReceiving, BodyRead: d.BodyRead, Counts: c}
	if d.BodySize != nil {
		p.BodySize = *d.BodySize
	}
	return p
}

// Estimate returns when a delivery should complete at its own rate so far,
// or nil when there is nothing to extrapolate from (docs/contract.md,
// "Deliveries").
//
// Once read, the operations finished since it was accepted are
// extrapolated over those still pending. While it is read, the operations
// read so far are only the part of the body read: the body's size is
// known, so the fraction read f (bytes read of bytes in all) scales them to
// the delivery's, and it completes when the later of two ends: reading the
// rest of the body at the rate read so far, and finishing the operations
// expected in all at the rate finished so far. Records that failed
// validation are finished at once and count in neither rate.
func Estimate(p Progress, now time.Time) *time.Time {
	c := p.Counts
	done := c.Successful() + c.Rejected + c.Canceled
	elapsed := now.Sub(p.AcceptedAt)
	if elapsed <= 0 {
		return nil
	}
	var left time.Duration
	switch {
	case !p.Receiving:
		if done == 0 || c.Pending() == 0 {
			return nil
		}
		left = elapsed / time.Duration(done) * time.Duration(c.Pending())
	case p.BodySize <= 0 || p.BodyRead <= 0:
		return nil
	default:
		f := min(1, float64(p.BodyRead)/float64(p.BodySize))
		reading := time.Duration(float64(elapsed) * (1 - f) / f)
		if done == 0 {
			if reading <= 0 {
				return nil
			}
			left = reading
			break
		}
		expected := float64(c.Total-c.ValidationFailed) / f
		working := time.Duration(float64(elapsed) / float64(done) * max(0, expected-float64(done)))
		left = max(reading, working)
	}
	eta := now.Add(left).UTC()
	return &eta
}

// Operator is the merchant of a token that sees every merchant's deliveries:
// a query scoped to it matches every merchant.
const Operator = "*"
