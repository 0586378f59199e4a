package importer

import (
	"fmt"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/tracking"
)

// due reports whether an operation locked for a work message is to be
// applied: only resolved operations with attempts left, so that there is
// never a sixth attempt, whatever JetStream redelivers. found is false
// when the operation has no row.
func due(st tracking.OpState, found bool) bool {
	return found && st.State == tracking.StateProcessing && st.Stage == tracking.StageResolved && st.RetryCount < MaxAttempts
}

// decision is what the target's result for one operation decides. It is
// made without the database so that every outcome can be tested alone;
// applyBatch writes it.
type decision struct {
	tr       tracking.Transition
	written  bool // the record is in the catalog: its resources are recorded and announced
	failed   bool // the attempt failed (counted whether or not it was the last)
	rejected bool // it was the last attempt: the operation is rejected
	attempt  int  // the attempt that failed, when failed
}

// decide turns the target's result r for the record rec of the operation st
// into the operation's transition. A record in the catalog is imported
// (partiallyImported with warnings), a superseded one imported, a refused one
// validationFailed; a failed one stays processing for another attempt, or is
// rejected after MaxAttempts, keeping its record so that a retry on request
// can send it again.
func decide(st tracking.OpState, rec catalog.ApplyRecord, r catalog.ApplyResult) decision {
	d := st.OpRef.Delivery()
	key := rec.Key
	switch r.Outcome {
	case catalog.Created, catalog.Updated, catalog.Unchanged:
		to, code, msg := tracking.StateImported, tracking.CodeImported, "Imported: "+r.Outcome.String()
		if r.Outcome == catalog.Unchanged {
			code, msg = tracking.CodeImportedUnchanged, "Imported: identical to the catalog, nothing written"
		}
		if len(r.Warnings) > 0 {
			to, code, msg = tracking.StatePartiallyImported, tracking.CodePartiallyImported, "Partially imported: "+describe(r.Warnings)
		}
		ev := tracking.NewEvent(d, key, code, msg)
		if len(r.Warnings) > 0 {
			ev.Debug = errorsJSON(r.Warnings)
		}
		return decision{written: true, tr: tracking.Transition{From: st, To: to, Stage: tracking.StageResolved,
			Events: []tracking.Event{ev}, Warnings: r.Warnings}}
	case catalog.Superseded:
		// Successful: what the catalog holds came later from upstream.
		ev := tracking.NewEvent(d, key, tracking.CodeImportSuperseded, "Not applied, superseded: "+describe(r.Warnings))
		ev.Debug = errorsJSON(r.Warnings)
		return decision{tr: tracking.Transition{From: st, To: tracking.StateImported, Stage: tracking.StageResolved,
			Events: []tracking.Event{ev}, Warnings: r.Warnings}}
	case catalog.Refused:
		ev := tracking.NewEvent(d, key, tracking.CodeTargetRefused, "Refused by the catalog: "+describe(r.Errors))
		ev.Debug = errorsJSON(r.Errors)
		return decision{tr: tracking.Transition{From: st, To: tracking.StateValidationFailed, Stage: tracking.StageResolved,
			Events: []tracking.Event{ev}, Errors: r.Errors}}
	}
	// Failed, or an outcome the target should not return: attempt n of
	// MaxAttempts, so that a record that breaks the target cannot loop.
	n := st.RetryCount + 1
	ev := tracking.NewEvent(d, key, tracking.CodeImportAttemptFailed, fmt.Sprintf("Import attempt %d of %d failed: %s", n, MaxAttempts, describe(r.Errors)))
	x := decision{failed: true, attempt: n, tr: tracking.Transition{From: st, To: tracking.StateProcessing, Stage: tracking.StageResolved,
		Events: []tracking.Event{ev}, Retries: 1, Record: st.Record}}
	if n >= MaxAttempts {
		rej := tracking.NewEvent(d, key, tracking.CodeRejected, fmt.Sprintf("Rejected after %d attempts: %s", MaxAttempts, describe(r.Errors)))
		x.rejected = true
		x.tr.To, x.tr.Events, x.tr.Errors = tracking.StateRejected, append(x.tr.Events, rej), r.Errors
		x.tr.Record = rec.Data
	}
	return x
}
