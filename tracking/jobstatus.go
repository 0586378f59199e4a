package tracking

import "errors"

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
	switch s {
	case JobPending, JobInProgress, JobInterrupted, JobCompleted:
		return true
	}
	return false
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
