package tracking

// Code is the TrackingCode of an event: a stable number for the event type.
// Codes are part of the external contract: they are never renumbered or
// reused. docs/tracking-codes.md lists them; TestCodesDocumented keeps that
// table and this list in step.
type Code int

// Delivery events (ProductId is null).
const (
	CodeDeliveryAccepted            Code = 1000 // the delivery message was taken in and given its receipt
	CodeDeliveryReceiving           Code = 1001 // ingest started reading the body
	CodeDeliveryQueued              Code = 1002 // every record is stored and queued
	CodeDeliveryNoContent           Code = 1003 // the delivery held no record
	CodeDeliveryIngestionFailed     Code = 1004 // the delivery as a whole could not be read
	CodeDeliveryProcessing          Code = 1005 // the first operation was picked up
	CodeDeliveryCompleted           Code = 1006 // every operation imported or partially imported
	CodeDeliveryCompletedWithErrors Code = 1007 // every operation in an end state, some failed
	CodeDeliveryInterrupted         Code = 1008 // canceled on request or by the error threshold
	CodeDeliveryReopened            Code = 1009 // a completed delivery's rejected operations were retried: it completes again
	CodeDeliveryCallbackDelivered   Code = 1010 // its callback URL answered a call with a 2xx
	CodeDeliveryCallbackGivenUp     Code = 1011 // its callback URL was called for a day without a 2xx: no more calls
)

// Record events (ProductId is the record's key or sku).
const (
	CodeRecordReceived       Code = 2000 // the record was read and stored as an operation
	CodeValidationFailed     Code = 2001 // the record breaks the contract
	CodeResolutionStarted    Code = 2100 // the resolver picked the operation up
	CodeUnresolved           Code = 2101 // references are missing; the operation is parked
	CodeReferenceResolved    Code = 2102 // a missing reference was created
	CodeWaitForMasterVariant Code = 2103 // a product waits for its master variant
	CodeResolved             Code = 2104 // every reference exists; on to the importer
	CodeImportAttemptFailed  Code = 2200 // attempt n of 5 failed with a transient error
	CodeImported             Code = 2201 // created or updated in the catalog
	CodeImportedUnchanged    Code = 2202 // identical to the catalog; nothing written
	CodePartiallyImported    Code = 2203 // imported, part of its data discarded
	CodeRejected             Code = 2204 // five attempts failed
	CodeTargetRefused        Code = 2205 // the target refused the record after resolution
	CodeImportSuperseded     Code = 2206 // not applied: the catalog holds the resource from a later record
	CodeCanceled             Code = 2300 // canceled on request or by the error threshold
	CodeExpired              Code = 2301 // still unresolved when the retention ran out
	CodeRetryRequested       Code = 2302 // a rejected operation was sent back to processing
	CodeRedriven             Code = 2303 // no progress for a while: its work was published again
)

// Codes lists every code with its name, for documentation and tests.
var Codes = []struct {
	Code Code
	Name string
}{
	{CodeDeliveryAccepted, "DeliveryAccepted"},
	{CodeDeliveryReceiving, "DeliveryReceiving"},
	{CodeDeliveryQueued, "DeliveryQueued"},
	{CodeDeliveryNoContent, "DeliveryNoContent"},
	{CodeDeliveryIngestionFailed, "DeliveryIngestionFailed"},
	{CodeDeliveryProcessing, "DeliveryProcessing"},
	{CodeDeliveryCompleted, "DeliveryCompleted"},
	{CodeDeliveryCompletedWithErrors, "DeliveryCompletedWithErrors"},
	{CodeDeliveryInterrupted, "DeliveryInterrupted"},
	{CodeDeliveryReopened, "DeliveryReopened"},
	{CodeDeliveryCallbackDelivered, "DeliveryCallbackDelivered"},
	{CodeDeliveryCallbackGivenUp, "DeliveryCallbackGivenUp"},
	{CodeRecordReceived, "RecordReceived"},
	{CodeValidationFailed, "ValidationFailed"},
	{CodeResolutionStarted, "ResolutionStarted"},
	{CodeUnresolved, "Unresolved"},
	{CodeReferenceResolved, "ReferenceResolved"},
	{CodeWaitForMasterVariant, "WaitForMasterVariant"},
	{CodeResolved, "Resolved"},
	{CodeImportAttemptFailed, "ImportAttemptFailed"},
	{CodeImported, "Imported"},
	{CodeImportedUnchanged, "ImportedUnchanged"},
	{CodePartiallyImported, "PartiallyImported"},
	{CodeRejected, "Rejected"},
	{CodeTargetRefused, "TargetRefused"},
	{CodeImportSuperseded, "ImportSuperseded"},
	{CodeCanceled, "Canceled"},
	{CodeExpired, "Expired"},
	{CodeRetryRequested, "RetryRequested"},
	{CodeRedriven, "Redriven"},
}
