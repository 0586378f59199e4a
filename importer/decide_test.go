package importer

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/tracking"
)

func TestDue(t *testing.T) {
	t.Parallel()
	resolved := tracking.OpState{State: tracking.StateProcessing, Stage: tracking.StageResolved}
	with := func(f func(*tracking.OpState)) tracking.OpState {
		st := resolved
		f(&st)
		return st
	}
	tests := []struct {
		name  string
		st    tracking.OpState
		found bool
		want  bool
	}{
		{name: "resolved, first attempt", st: resolved, found: true, want: true},
		{name: "resolved, last attempt left", st: with(func(s *tracking.OpState) { s.RetryCount = MaxAttempts - 1 }), found: true, want: true},
		{name: "attempts spent: never a sixth", st: with(func(s *tracking.OpState) { s.RetryCount = MaxAttempts }), found: true},
		{name: "no row", st: resolved},
		{name: "not resolved yet", st: with(func(s *tracking.OpState) { s.Stage = tracking.StagePickedUp }), found: true},
		{name: "already imported", st: with(func(s *tracking.OpState) { s.State = tracking.StateImported }), found: true},
		{name: "rejected", st: with(func(s *tracking.OpState) { s.State = tracking.StateRejected }), found: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, due(tt.st, tt.found))
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)
	ref := tracking.OpRef{ReceiptID: "r-1", MerchantID: "m-1", DeliveryAt: at, Seq: 7}
	op := func(retries int) tracking.OpState {
		return tracking.OpState{OpRef: ref, ResourceType: "category", ResourceKey: "shoes",
			State: tracking.StateProcessing, Stage: tracking.StageResolved, RetryCount: retries, Record: []byte(`{"kept":1}`)}
	}
	rec := catalog.ApplyRecord{Type: catalog.Category, Key: "shoes", Data: []byte(`{"key":"shoes"}`)}
	ev := func(code tracking.Code, msg, debug string) tracking.Event {
		return tracking.Event{Code: code, ReceiptID: "r-1", MerchantID: "m-1", ProductID: "shoes", Message: msg, Debug: debug, DeliveryAt: at}
	}
	warn := []catalog.Error{catalog.DataErr(catalog.CodeUndefinedAttribute, "variants[0].attributes.x", "not defined")}
	const warnJSON = `[{"type":"DATA_ERROR","code":"UNDEFINED_ATTRIBUTE","field":"variants[0].attributes.x","description":"not defined"}]`
	superseded := []catalog.Error{catalog.DataErr(catalog.CodeSuperseded, "", "later")}
	refused := []catalog.Error{catalog.DataErr("MAX_LENGTH", "name", "too long")}
	failed := []catalog.Error{{Type: catalog.SystemError, Code: CodeTargetFailure, Description: "boom"}}
	tests := []struct {
		name string
		st   tracking.OpState
		r    catalog.ApplyResult
		want decision
	}{
		{
			name: "created",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Created},
			want: decision{written: true, tr: tracking.Transition{From: op(0), To: tracking.StateImported, Stage: tracking.StageResolved,
				Events: []tracking.Event{ev(tracking.CodeImported, "Imported: created", "")}}},
		},
		{
			name: "updated after a failed attempt",
			st:   op(2),
			r:    catalog.ApplyResult{Outcome: catalog.Updated},
			want: decision{written: true, tr: tracking.Transition{From: op(2), To: tracking.StateImported, Stage: tracking.StageResolved,
				Events: []tracking.Event{ev(tracking.CodeImported, "Imported: updated", "")}}},
		},
		{
			name: "unchanged",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Unchanged},
			want: decision{written: true, tr: tracking.Transition{From: op(0), To: tracking.StateImported, Stage: tracking.StageResolved,
				Events: []tracking.Event{ev(tracking.CodeImportedUnchanged, "Imported: identical to the catalog, nothing written", "")}}},
		},
		{
			name: "created with warnings: partiallyImported",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Created, Warnings: warn},
			want: decision{written: true, tr: tracking.Transition{From: op(0), To: tracking.StatePartiallyImported, Stage: tracking.StageResolved,
				Events:   []tracking.Event{ev(tracking.CodePartiallyImported, "Partially imported: UNDEFINED_ATTRIBUTE variants[0].attributes.x: not defined", warnJSON)},
				Warnings: warn}},
		},
		{
			name: "unchanged with warnings: partiallyImported",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Unchanged, Warnings: warn},
			want: decision{written: true, tr: tracking.Transition{From: op(0), To: tracking.StatePartiallyImported, Stage: tracking.StageResolved,
				Events:   []tracking.Event{ev(tracking.CodePartiallyImported, "Partially imported: UNDEFINED_ATTRIBUTE variants[0].attributes.x: not defined", warnJSON)},
				Warnings: warn}},
		},
		{
			name: "superseded: imported, nothing written",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Superseded, Warnings: superseded},
			want: decision{tr: tracking.Transition{From: op(0), To: tracking.StateImported, Stage: tracking.StageResolved,
				Events:   []tracking.Event{ev(tracking.CodeImportSuperseded, "Not applied, superseded: SUPERSEDED: later", `[{"type":"DATA_ERROR","code":"SUPERSEDED","description":"later"}]`)},
				Warnings: superseded}},
		},
		{
			name: "refused: validationFailed with the errors",
			st:   op(1),
			r:    catalog.ApplyResult{Outcome: catalog.Refused, Errors: refused},
			want: decision{tr: tracking.Transition{From: op(1), To: tracking.StateValidationFailed, Stage: tracking.StageResolved,
				Events: []tracking.Event{ev(tracking.CodeTargetRefused, "Refused by the catalog: MAX_LENGTH name: too long", `[{"type":"DATA_ERROR","code":"MAX_LENGTH","field":"name","description":"too long"}]`)},
				Errors: refused}},
		},
		{
			name: "refused without a reason",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Refused},
			want: decision{tr: tracking.Transition{From: op(0), To: tracking.StateValidationFailed, Stage: tracking.StageResolved,
				Events: []tracking.Event{ev(tracking.CodeTargetRefused, "Refused by the catalog: no reason given", "null")}}},
		},
		{
			name: "failed, first attempt: retried",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Failed, Errors: failed},
			want: decision{failed: true, attempt: 1, tr: tracking.Transition{From: op(0), To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events:  []tracking.Event{ev(tracking.CodeImportAttemptFailed, "Import attempt 1 of 5 failed: TARGET_FAILURE: boom", "")},
				Retries: 1, Record: op(0).Record}},
		},
		{
			name: "failed, attempt four: retried",
			st:   op(MaxAttempts - 2),
			r:    catalog.ApplyResult{Outcome: catalog.Failed, Errors: failed},
			want: decision{failed: true, attempt: 4, tr: tracking.Transition{From: op(MaxAttempts - 2), To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events:  []tracking.Event{ev(tracking.CodeImportAttemptFailed, "Import attempt 4 of 5 failed: TARGET_FAILURE: boom", "")},
				Retries: 1, Record: op(0).Record}},
		},
		{
			name: "failed, last attempt: rejected, the record kept",
			st:   op(MaxAttempts - 1),
			r:    catalog.ApplyResult{Outcome: catalog.Failed, Errors: failed},
			want: decision{failed: true, rejected: true, attempt: 5, tr: tracking.Transition{From: op(MaxAttempts - 1), To: tracking.StateRejected, Stage: tracking.StageResolved,
				Events: []tracking.Event{
					ev(tracking.CodeImportAttemptFailed, "Import attempt 5 of 5 failed: TARGET_FAILURE: boom", ""),
					ev(tracking.CodeRejected, "Rejected after 5 attempts: TARGET_FAILURE: boom", ""),
				},
				Errors: failed, Retries: 1, Record: rec.Data}},
		},
		{
			name: "failed without a reason",
			st:   op(0),
			r:    catalog.ApplyResult{Outcome: catalog.Failed},
			want: decision{failed: true, attempt: 1, tr: tracking.Transition{From: op(0), To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events:  []tracking.Event{ev(tracking.CodeImportAttemptFailed, "Import attempt 1 of 5 failed: no reason given", "")},
				Retries: 1, Record: op(0).Record}},
		},
		{
			name: "an outcome the target should not return counts as failed",
			st:   op(0),
			r:    catalog.ApplyResult{},
			want: decision{failed: true, attempt: 1, tr: tracking.Transition{From: op(0), To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events:  []tracking.Event{ev(tracking.CodeImportAttemptFailed, "Import attempt 1 of 5 failed: no reason given", "")},
				Retries: 1, Record: op(0).Record}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now().UTC()
			got := decide(tt.st, rec, tt.r)
			// Each event has a fresh id and is stamped now.
			for i, e := range got.tr.Events {
				require.NotEqual(t, uuid.Nil, e.TrackingID)
				require.False(t, e.Timestamp.Before(before), "stamped now")
				got.tr.Events[i].TrackingID, got.tr.Events[i].Timestamp = uuid.Nil, time.Time{}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// Every decision counts under the outcome a dashboard shows: the state it
// ends the operation in, or retry.
func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	st := func(retries int) tracking.OpState {
		return tracking.OpState{State: tracking.StateProcessing, Stage: tracking.StageResolved, RetryCount: retries}
	}
	rec := catalog.ApplyRecord{Type: catalog.Category, Key: "shoes"}
	warn := []catalog.Error{catalog.DataErr(catalog.CodeUndefinedAttribute, "x", "not defined")}
	failed := []catalog.Error{{Type: catalog.SystemError, Code: CodeTargetFailure, Description: "boom"}}
	tests := []struct {
		name string
		st   tracking.OpState
		r    catalog.ApplyResult
		want string
	}{
		{"created", st(0), catalog.ApplyResult{Outcome: catalog.Created}, "imported"},
		{"unchanged", st(0), catalog.ApplyResult{Outcome: catalog.Unchanged}, "imported"},
		{"superseded", st(0), catalog.ApplyResult{Outcome: catalog.Superseded}, "imported"},
		{"with warnings", st(0), catalog.ApplyResult{Outcome: catalog.Updated, Warnings: warn}, "partiallyImported"},
		{"refused", st(0), catalog.ApplyResult{Outcome: catalog.Refused, Errors: warn}, "validationFailed"},
		{"failed, attempts left", st(0), catalog.ApplyResult{Outcome: catalog.Failed, Errors: failed}, "retry"},
		{"failed, last attempt", st(MaxAttempts - 1), catalog.ApplyResult{Outcome: catalog.Failed, Errors: failed}, "rejected"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, outcomeOf(decide(tt.st, rec, tt.r)), tt.name)
	}
}
