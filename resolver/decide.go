package resolver

import (
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// step is what resolveBatch does with one operation of a work message.
type step uint8

const (
	stepSkip    step = iota // ended, parked, or picked up by another message: nothing to do
	stepUnknown             // no such operation: logged and ignored
	stepResolve             // queued: its references are looked up now
	stepResend              // resolved before: sent to the importer again
)

// triage decides the step for the operation op of a work message, in the
// state st locked for it (found is false when it has no row). An operation
// to resend carries the record it keeps, when it keeps one: a product with
// its paired master variant, the one to import, since the publication of an
// earlier attempt may be lost.
func triage(op bus.WorkOp, st tracking.OpState, found bool) (step, bus.WorkOp) {
	switch {
	case !found:
		return stepUnknown, op
	case st.State != tracking.StateProcessing:
		return stepSkip, op
	case st.Stage == tracking.StageQueued:
		return stepResolve, op
	case st.Stage == tracking.StageResolved:
		if len(st.Record) > 0 {
			op.Record = st.Record
		}
		return stepResend, op
	}
	return stepSkip, op
}

// resolution is what the references looked up decide for one operation
// (item). It is made without the database so that every outcome can be
// tested alone; resolveItems does the writes it asks for.
type resolution struct {
	tr        tracking.Transition
	forward   bool       // resolved: op goes to the importer
	op        bus.WorkOp // when forward: the operation with the record to import
	park      bool       // unresolved: it waits for it.missing
	release   bool       // a master variant: the products waiting for it get it
	failCycle bool       // the parked categories of its cycle fail with it
}

// decide turns what resolving found for it (missing references, a category
// cycle, a paired master variant) into its transition; started is its
// "Resolution started" event, stamped before the references were looked up.
// A cycle fails validation; with no reference missing the operation is
// resolved and queued for import; otherwise it is parked, waiting for a
// master variant when that is all it misses.
func decide(d *tracking.Delivery, it *item, started tracking.Event) resolution {
	switch {
	case it.cycle != nil:
		cerr := cycleError(it.cycle)
		ev := tracking.NewEvent(d, it.op.Key, tracking.CodeValidationFailed, "Validation failed: "+cerr.Error())
		return resolution{failCycle: true, tr: tracking.Transition{From: it.from, To: tracking.StateValidationFailed, Stage: tracking.StagePickedUp,
			Events: []tracking.Event{started, ev}, Errors: []catalog.Error{cerr}}}
	case len(it.missing) == 0:
		ev := tracking.NewEvent(d, it.op.Key, tracking.CodeResolved, "All references exist; queued for import")
		x := resolution{forward: true, op: it.op, release: it.masterOf != "",
			tr: tracking.Transition{From: it.from, To: tracking.StateProcessing, Stage: tracking.StageResolved, Events: []tracking.Event{started, ev}}}
		if it.merged {
			// Kept: the message redelivered sends this record again,
			// not the message's (triage).
			x.tr.Record = it.record
		}
		x.op.Record = it.record
		return x
	}
	state, code, msg := tracking.StateUnresolved, tracking.CodeUnresolved, "Waiting for "+describeRefs(it.missing)
	if len(it.missing) == 1 && it.missing[0].TypeID == masterTypeID {
		state, code, msg = tracking.StateWaitForMasterVariant, tracking.CodeWaitForMasterVariant, "Waiting for a ProductVariant with isMasterVariant: true for product "+it.op.Key
	}
	ev := tracking.NewEvent(d, it.op.Key, code, msg)
	ev.Debug = refsJSON(it.missing)
	return resolution{park: true, release: it.masterOf != "", tr: tracking.Transition{From: it.from, To: state, Stage: tracking.StagePickedUp,
		Events: []tracking.Event{started, ev}, Unresolved: displayRefs(it.missing), Record: it.record}}
}
