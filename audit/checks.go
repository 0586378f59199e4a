package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// The checks. Each reads, in one set-based query of internal/store, only
// the rows of the delivery that break a rule.

// stages lists, per state, the stages the workers write with it:
// ingest writes processing and validationFailed at StageQueued; the
// resolver writes processing at StageResolved, unresolved and
// waitForMasterVariant at StagePickedUp, validationFailed (category
// cycles) at StagePickedUp; the importer writes processing (a failed
// attempt), imported, partiallyImported, validationFailed (TargetRefused)
// and rejected at StageResolved. Cancellation may catch an operation at any
// stage.
var stages = map[tracking.State][]tracking.Stage{
	tracking.StateProcessing:           {tracking.StageQueued, tracking.StageResolved},
	tracking.StateUnresolved:           {tracking.StagePickedUp},
	tracking.StateWaitForMasterVariant: {tracking.StagePickedUp},
	tracking.StateImported:             {tracking.StageResolved},
	tracking.StatePartiallyImported:    {tracking.StageResolved},
	tracking.StateValidationFailed:     {tracking.StageQueued, tracking.StagePickedUp, tracking.StageResolved},
	tracking.StateRejected:             {tracking.StageResolved},
	tracking.StateCanceled:             {tracking.StageQueued, tracking.StagePickedUp, tracking.StageResolved},
}

// stateStages are the pairs (state, stage) of stages as two columns, for
// store.AuditStates.
func stateStages() (states []string, st []int16) {
	for _, s := range []tracking.State{tracking.StateProcessing, tracking.StateUnresolved, tracking.StateWaitForMasterVariant,
		tracking.StateImported, tracking.StatePartiallyImported, tracking.StateValidationFailed, tracking.StateRejected, tracking.StateCanceled} {
		for _, x := range stages[s] {
			states, st = append(states, string(s)), append(st, int16(x))
		}
	}
	return states, st
}

// checkState: every operation in one of the eight states, at a stage that
// goes with it; failed and rejected operations say why (errors).
func checkState(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	states, st := stateStages()
	return store.AuditStates(ctx, db, d.receipt, d.at, states, st, func(r store.AuditBadState) error {
		v := Violation{Check: CheckState, Seq: r.Seq, Key: r.Key}
		allowed, known := stages[tracking.State(r.State)]
		switch {
		case !known:
			v.Message = fmt.Sprintf("state %q is not one of the 8 operation states", r.State)
		case !slices.Contains(allowed, tracking.Stage(r.Stage)):
			v.Message = fmt.Sprintf("stage %d does not go with state %s (want one of %v)", r.Stage, r.State, allowed)
		default:
			v.Message = fmt.Sprintf("state %s without errors saying why", r.State)
		}
		report(v)
		return nil
	})
}

// checkCounts: the delivery's counters, summed over its slots, equal its
// operations counted row by row, state by state.
func checkCounts(ctx context.Context, db database.DBTX, d delivery, sum *Summary, report func(Violation)) error {
	c, o, err := store.AuditCounts(ctx, db, d.receipt, d.at)
	if err != nil {
		return err
	}
	sum.Operations = o.Total
	fields := []struct {
		name      string
		got, want int64
	}{
		{"total", c.Total, o.Total}, {"queued", c.Queued, o.Queued}, {"processing", c.Processing, o.Processing},
		{"unresolved", c.Unresolved, o.Unresolved}, {"waiting", c.Waiting, o.Waiting}, {"imported", c.Imported, o.Imported},
		{"partially", c.Partially, o.Partially}, {"validation_failed", c.ValidationFailed, o.ValidationFailed},
		{"rejected", c.Rejected, o.Rejected}, {"canceled", c.Canceled, o.Canceled},
	}
	for _, f := range fields {
		if f.got != f.want {
			report(Violation{Check: CheckCounts, Seq: -1,
				Message: fmt.Sprintf("delivery_counts.%s sums to %d, but %d operations are counted so", f.name, f.got, f.want)})
		}
	}
	return nil
}

// terminal groups the codes of the events that put an operation into an
// end state, as the workers write them: the importer writes Imported,
// ImportedUnchanged or ImportSuperseded (imported), PartiallyImported, TargetRefused
// (validationFailed) and Rejected after the fifth failed attempt; ingest
// writes ValidationFailed for a record that breaks the contract or repeats
// an identity, the resolver for a category cycle; cancellation writes
// Canceled.
var terminal = []struct {
	state tracking.State
	codes []int32
}{
	{tracking.StateImported, []int32{int32(tracking.CodeImported), int32(tracking.CodeImportedUnchanged), int32(tracking.CodeImportSuperseded)}},
	{tracking.StatePartiallyImported, []int32{int32(tracking.CodePartiallyImported)}},
	{tracking.StateValidationFailed, []int32{int32(tracking.CodeValidationFailed), int32(tracking.CodeTargetRefused)}},
	{tracking.StateRejected, []int32{int32(tracking.CodeRejected)}},
	{tracking.StateCanceled, []int32{int32(tracking.CodeCanceled)}},
}

// checkEvents: every operation has one RecordReceived event and, in an end
// state, exactly one terminal event of that state; not in an end state, no
// terminal event. A rejected operation sent back by RetryRequested has had
// one Rejected event per round: Rejected events = rejected + RetryRequested.
//
// Events carry the record's identity (product_id), not the operation's
// position, so the rule is checked per identity within the delivery: for a
// key that one operation has (every key but those of duplicate records) it
// is exactly the per-operation rule; for a key several records share (the
// first valid, the others failed as duplicates) the per-operation counts
// are summed.
func checkEvents(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	groups := make([]store.AuditTerminal, len(terminal))
	for i, t := range terminal {
		groups[i] = store.AuditTerminal{State: string(t.state), Codes: t.codes, PlusRetries: t.state == tracking.StateRejected}
	}
	return store.AuditEvents(ctx, db, d.receipt, d.at, int32(tracking.CodeRecordReceived), int32(tracking.CodeRetryRequested), groups, func(r store.AuditEventCount) error {
		key, n, seqs, states, received, retries, pairs := r.Key, r.Ops, r.Seqs, r.States, r.Received, r.Retries, r.Counts
		v := Violation{Check: CheckEvents, Seq: -1, Key: key}
		if len(seqs) > 0 {
			v.Seq = int(seqs[0])
		}
		if n == 0 {
			v.Message = fmt.Sprintf("%d RecordReceived events for a key no operation of the delivery has", received)
			report(v)
			return nil
		}
		who := describeOps(n, seqs, states)
		if received != n {
			v.Message = fmt.Sprintf("%d RecordReceived (%d) events, want %d for %s", received, tracking.CodeRecordReceived, n, who)
			report(v)
		}
		for i, t := range terminal {
			inState, got := pairs[2*i], pairs[2*i+1]
			want := inState
			note := ""
			if t.state == tracking.StateRejected {
				want += retries
				note = fmt.Sprintf(" (%d rejected + %d RetryRequested)", inState, retries)
			}
			if got == want {
				continue
			}
			v.Message = fmt.Sprintf("%d %s terminal events (codes %s), want %d%s for %s", got, t.state, codesText(t.codes), want, note, who)
			report(v)
		}
		return nil
	})
}

func describeOps(n int64, seqs []int32, states []string) string {
	if n == 1 && len(seqs) == 1 {
		return fmt.Sprintf("the operation (%s)", states[0])
	}
	parts := make([]string, len(seqs))
	for i := range seqs {
		parts[i] = fmt.Sprintf("%d %s", seqs[i], states[i])
	}
	more := ""
	if n > int64(len(seqs)) {
		more = fmt.Sprintf(", … %d in all", n)
	}
	return fmt.Sprintf("the %d operations of this key (%s%s)", n, strings.Join(parts, ", "), more)
}

func codesText(codes []int32) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprint(c)
	}
	return strings.Join(parts, "/")
}

// checkLastEvent: an operation's last_tracking_id is one of its events,
// with the code last_tracking_code, and, when the operation is the only one
// of its key in the delivery, the latest of them (by time, then tracking
// id: UUIDv7s made by one process are increasing).
func checkLastEvent(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	return store.AuditLastEvents(ctx, db, d.receipt, d.at, func(r store.AuditLastEvent) error {
		v := Violation{Check: CheckLastEvent, Seq: r.Seq, Key: r.Key}
		switch {
		case r.OwnCode == nil:
			v.Message = fmt.Sprintf("last_tracking_id %s (code %d) is not an event of this operation", r.LastID, r.LastCode)
		case *r.OwnCode != r.LastCode:
			v.Message = fmt.Sprintf("last_tracking_code is %d, but event %s has code %d", r.LastCode, r.LastID, *r.OwnCode)
		default:
			v.Message = fmt.Sprintf("last_tracking_id %s (code %d) is not the latest event, %s (code %d) is", r.LastID, r.LastCode, deref(r.LatestID), deref(r.LatestCode))
		}
		report(v)
		return nil
	})
}

func deref[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}

// checkCompletion: a completed delivery has every operation in an end state
// and exactly one completion event, Completed (1006) when none failed,
// CompletedWithErrors (1007) otherwise, or NoContent (1003) when it held no
// record; a delivery read to the end whose operations have all ended is
// completed; a delivery not completed has no completion event.
func checkCompletion(ctx context.Context, db database.DBTX, d delivery, sum *Summary, report func(Violation)) error {
	c, err := store.AuditCompletion(ctx, db, d.receipt, d.at, int32(tracking.CodeDeliveryCompleted), int32(tracking.CodeDeliveryCompletedWithErrors),
		int32(tracking.CodeDeliveryNoContent), int32(tracking.CodeDeliveryReopened))
	if err != nil {
		return err
	}
	total, pending, failed, events, completions, reopened, noContent := c.Operations, c.Pending, c.Failed, c.Events, c.Completions, c.Reopened, c.NoContent
	last := c.Last // the latest completion event's code
	sum.Events = events
	bad := func(format string, args ...any) {
		report(Violation{Check: CheckCompletion, Seq: -1, Message: fmt.Sprintf(format, args...)})
	}
	// A retry reopens a completed delivery (DeliveryReopened, 1009), which
	// then completes again: one completion event per round.
	switch {
	case d.completed:
		if pending > 0 {
			bad("completed, but %d operations are not in an end state", pending)
		}
		switch {
		case total == 0:
			if noContent != 1 || completions != 0 {
				bad("completed without records: %d NoContent (1003) and %d completion (1006/1007) events, want 1 and 0", noContent, completions)
			}
		case completions != 1+reopened:
			bad("completed with %d completion events (1006/1007) and %d reopenings (1009), want exactly one more completion than reopenings", completions, reopened)
		case *last == int32(tracking.CodeDeliveryCompleted) && failed > 0:
			bad("latest completion event is Completed (1006), but %d operations failed", failed)
		case *last == int32(tracking.CodeDeliveryCompletedWithErrors) && failed == 0:
			bad("latest completion event is CompletedWithErrors (1007), but no operation failed")
		}
	default:
		if completions != reopened {
			bad("not completed (completed_at is null), but has %d completion events (1006/1007) for %d reopenings (1009)", completions, reopened)
		}
		if d.ingestState == tracking.IngestDone && pending == 0 {
			bad("read to the end and every one of its %d operations is in an end state, but the delivery was never completed (completed_at null, no completion event)", total)
		}
	}
	return nil
}

// checkCatalog: the resource of every imported or partially imported
// operation is in the catalog table of its type (the primary keys make it
// there at most once), and so is what its catalog row refers to: a
// product's type, a variant's product, a price's variant. The catalog has
// no foreign keys (migration 00008): the store checks these before writing.
func checkCatalog(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	tables := make([]store.AuditCatalogTable, len(catalog.ResourceTypes))
	for i, t := range catalog.ResourceTypes {
		table, column := catalog.TableOf(t)
		tables[i] = store.AuditCatalogTable{Type: string(t), Table: table, Column: column}
	}
	err := store.AuditCatalogMissing(ctx, db, d.receipt, d.at, tables, func(r store.AuditOperation) error {
		table := "no catalog table"
		if t, ok := catalog.ParseResourceType(r.Type); ok {
			table, _ = catalog.TableOf(t)
		}
		report(Violation{Check: CheckCatalog, Seq: r.Seq, Key: r.Key,
			Message: fmt.Sprintf("%s %s %q is not in the catalog (%s)", r.State, r.Type, r.Key, table)})
		return nil
	})
	if err != nil {
		return err
	}
	return store.AuditCatalogDangling(ctx, db, d.receipt, d.at, func(r store.AuditDangling) error {
		report(Violation{Check: CheckCatalog, Seq: r.Seq, Key: r.Key,
			Message: fmt.Sprintf("%s %s %q refers to %s %q, which is not in the catalog (%s)", r.State, r.Type, r.Key, r.What, r.Ref, r.Table)})
		return nil
	})
}

// checkStuck: no operation stays unresolved, longer than the grace period,
// while every reference it is parked on exists (known_keys.exists): the
// release or the resolver's sweep should have let it go.
func (a *Auditor) checkStuck(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	return store.AuditStuck(ctx, db, d.receipt, d.at, a.cfg.Grace, func(r store.AuditStuckOp) error {
		report(Violation{Check: CheckStuck, Seq: r.Seq, Key: r.Key,
			Message: fmt.Sprintf("unresolved, but all %d references it is parked on exist, since %s (%s, over the grace of %s)",
				r.Refs, r.Since.UTC().Format(time.RFC3339), (time.Duration(r.Secs) * time.Second).Round(time.Second), a.cfg.Grace)})
		return nil
	})
}

// masterTypeID is the resolver's pseudo reference of a product waiting for
// its master variant.
const masterTypeID = "master-variant"

// checkParked: an operation is parked (unresolved or waitForMasterVariant)
// exactly when it has parked_refs rows, and waits for a master variant
// exactly when the master variant is all it misses.
func checkParked(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	err := store.AuditParkedOps(ctx, db, d.receipt, d.at, masterTypeID, func(r store.AuditParkedOp) error {
		v := Violation{Check: CheckParked, Seq: r.Seq, Key: r.Key}
		switch {
		case r.Refs == 0:
			v.Message = fmt.Sprintf("%s, but parked on nothing (no parked_refs row): nothing will release it", r.State)
		case r.State == string(tracking.StateWaitForMasterVariant):
			v.Message = fmt.Sprintf("waitForMasterVariant, but parked on %d references of which %d a r.Master variant, want the r.Master variant alone", r.Refs, r.Master)
		default:
			v.Message = "unresolved, but waits for its r.Master variant alone: want waitForMasterVariant"
		}
		report(v)
		return nil
	})
	if err != nil {
		return err
	}
	return store.AuditParkedRefs(ctx, db, d.receipt, d.at, func(r store.AuditParkedRef) error {
		v := Violation{Check: CheckParked, Seq: r.Seq, Key: r.Key}
		if r.OpState == nil {
			v.Message = fmt.Sprintf("parked_refs row (%s %s) for an operation that does not exist", r.TypeID, r.RefKey)
		} else {
			v.Message = fmt.Sprintf("parked_refs row (%s %s) for an operation that is %s, not parked", r.TypeID, r.RefKey, *r.OpState)
		}
		report(v)
		return nil
	})
}
