package resolver

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

func TestTriage(t *testing.T) {
	t.Parallel()
	op := bus.WorkOp{ID: "op-1", Seq: 3, Key: "p-1", Record: json.RawMessage(`{"key":"p-1"}`)}
	kept := json.RawMessage(`{"key":"p-1","masterVariant":{"sku":"s-1"}}`)
	withRecord := op
	withRecord.Record = kept
	state := func(s tracking.State, g tracking.Stage, record []byte) tracking.OpState {
		return tracking.OpState{State: s, Stage: g, Record: record}
	}
	tests := []struct {
		name   string
		st     tracking.OpState
		found  bool
		want   step
		wantOp bus.WorkOp
	}{
		{name: "no row: unknown", want: stepUnknown, wantOp: op},
		{name: "queued: resolve", st: state(tracking.StateProcessing, tracking.StageQueued, nil), found: true, want: stepResolve, wantOp: op},
		{name: "resolved before: resend the message's record", st: state(tracking.StateProcessing, tracking.StageResolved, nil), found: true, want: stepResend, wantOp: op},
		{name: "resolved before with a paired master: resend the kept record", st: state(tracking.StateProcessing, tracking.StageResolved, kept), found: true, want: stepResend, wantOp: withRecord},
		{name: "picked up by another message: skip", st: state(tracking.StateProcessing, tracking.StagePickedUp, nil), found: true, want: stepSkip, wantOp: op},
		{name: "parked: skip", st: state(tracking.StateUnresolved, tracking.StagePickedUp, []byte(`{}`)), found: true, want: stepSkip, wantOp: op},
		{name: "waiting for a master variant: skip", st: state(tracking.StateWaitForMasterVariant, tracking.StagePickedUp, []byte(`{}`)), found: true, want: stepSkip, wantOp: op},
		{name: "imported: skip", st: state(tracking.StateImported, tracking.StageResolved, nil), found: true, want: stepSkip, wantOp: op},
		{name: "validation failed: skip", st: state(tracking.StateValidationFailed, tracking.StagePickedUp, nil), found: true, want: stepSkip, wantOp: op},
		{name: "rejected: skip", st: state(tracking.StateRejected, tracking.StageResolved, kept), found: true, want: stepSkip, wantOp: op},
		{name: "canceled: skip", st: state(tracking.StateCanceled, tracking.StageQueued, nil), found: true, want: stepSkip, wantOp: op},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, gotOp := triage(op, tt.st, tt.found)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantOp, gotOp)
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)
	d := &tracking.Delivery{ReceiptID: "r-1", MerchantID: "m-1", AcceptedAt: at}
	from := tracking.OpState{OpRef: tracking.OpRef{ReceiptID: "r-1", MerchantID: "m-1", DeliveryAt: at, Seq: 4},
		State: tracking.StateProcessing, Stage: tracking.StageQueued}
	started := tracking.Event{Code: tracking.CodeResolutionStarted, Message: "Resolution started"}
	ev := func(key string, code tracking.Code, msg, debug string) tracking.Event {
		return tracking.Event{Code: code, ReceiptID: "r-1", MerchantID: "m-1", ProductID: key, Message: msg, Debug: debug, DeliveryAt: at}
	}
	record := json.RawMessage(`{"key":"k"}`)
	merged := json.RawMessage(`{"key":"p-1","masterVariant":{"sku":"s-1"}}`)
	opOf := func(key string, rec json.RawMessage) bus.WorkOp {
		return bus.WorkOp{ID: "op-" + key, Seq: 4, Key: key, Record: rec}
	}
	category := catalog.Reference{TypeID: catalog.Category.TypeID(), Key: "shoes"}
	variant := catalog.Reference{TypeID: catalog.ProductVariant.TypeID(), SKU: "s-9"}
	master := catalog.Reference{TypeID: masterTypeID, Key: "p-1"}
	cycle := []string{"a", "b", "a"}
	tests := []struct {
		name string
		it   item
		want resolution
	}{
		{
			name: "every reference exists: resolved, forwarded",
			it:   item{op: opOf("k", record), from: from, record: record},
			want: resolution{forward: true, op: opOf("k", record), tr: tracking.Transition{From: from, To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events: []tracking.Event{started, ev("k", tracking.CodeResolved, "All references exist; queued for import", "")}}},
		},
		{
			name: "paired with a parked master: the merged record forwarded and kept",
			it:   item{op: opOf("p-1", record), from: from, record: merged, merged: true},
			want: resolution{forward: true, op: opOf("p-1", merged), tr: tracking.Transition{From: from, To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events: []tracking.Event{started, ev("p-1", tracking.CodeResolved, "All references exist; queued for import", "")}, Record: merged}},
		},
		{
			name: "a master variant resolved: waiting products released",
			it:   item{op: opOf("v-1", record), from: from, record: record, masterOf: "p-1"},
			want: resolution{forward: true, release: true, op: opOf("v-1", record), tr: tracking.Transition{From: from, To: tracking.StateProcessing, Stage: tracking.StageResolved,
				Events: []tracking.Event{started, ev("v-1", tracking.CodeResolved, "All references exist; queued for import", "")}}},
		},
		{
			name: "references missing: parked unresolved with them",
			it:   item{op: opOf("k", record), from: from, record: record, missing: []catalog.Reference{category, variant}},
			want: resolution{park: true, tr: tracking.Transition{From: from, To: tracking.StateUnresolved, Stage: tracking.StagePickedUp,
				Events: []tracking.Event{started, ev("k", tracking.CodeUnresolved, "Waiting for category shoes, product-variant s-9",
					`[{"typeId":"category","key":"shoes"},{"typeId":"product-variant","key":"s-9"}]`)},
				Unresolved: []catalog.Reference{category, {TypeID: catalog.ProductVariant.TypeID(), Key: "s-9"}}, Record: record}},
		},
		{
			name: "a master variant missing a reference: parked, waiting products still released",
			it:   item{op: opOf("v-1", record), from: from, record: record, masterOf: "p-1", missing: []catalog.Reference{category}},
			want: resolution{park: true, release: true, tr: tracking.Transition{From: from, To: tracking.StateUnresolved, Stage: tracking.StagePickedUp,
				Events:     []tracking.Event{started, ev("v-1", tracking.CodeUnresolved, "Waiting for category shoes", `[{"typeId":"category","key":"shoes"}]`)},
				Unresolved: []catalog.Reference{category}, Record: record}},
		},
		{
			name: "only the master variant missing: waitForMasterVariant",
			it:   item{op: opOf("p-1", record), from: from, record: record, needsMaster: true, missing: []catalog.Reference{master}},
			want: resolution{park: true, tr: tracking.Transition{From: from, To: tracking.StateWaitForMasterVariant, Stage: tracking.StagePickedUp,
				Events: []tracking.Event{started, ev("p-1", tracking.CodeWaitForMasterVariant, "Waiting for a ProductVariant with isMasterVariant: true for product p-1",
					`[{"typeId":"master-variant","key":"p-1"}]`)},
				Unresolved: []catalog.Reference{master}, Record: record}},
		},
		{
			name: "the master variant and more missing: unresolved",
			it:   item{op: opOf("p-1", record), from: from, record: record, needsMaster: true, missing: []catalog.Reference{category, master}},
			want: resolution{park: true, tr: tracking.Transition{From: from, To: tracking.StateUnresolved, Stage: tracking.StagePickedUp,
				Events: []tracking.Event{started, ev("p-1", tracking.CodeUnresolved, "Waiting for category shoes, master-variant p-1",
					`[{"typeId":"category","key":"shoes"},{"typeId":"master-variant","key":"p-1"}]`)},
				Unresolved: []catalog.Reference{category, master}, Record: record}},
		},
		{
			name: "a category cycle: validation failed, the cycle fails with it",
			it:   item{op: opOf("a", record), from: from, record: record, cycle: cycle, missing: []catalog.Reference{{TypeID: catalog.Category.TypeID(), Key: "b"}}},
			want: resolution{failCycle: true, tr: tracking.Transition{From: from, To: tracking.StateValidationFailed, Stage: tracking.StagePickedUp,
				Events: []tracking.Event{started, ev("a", tracking.CodeValidationFailed,
					"Validation failed: CYCLIC_REFERENCE parent: category cycle a → b → a: a category cannot be its own ancestor", "")},
				Errors: []catalog.Error{cycleError(cycle)}}},
		},
		{
			name: "its own parent: validation failed",
			it:   item{op: opOf("a", record), from: from, record: record, cycle: []string{"a", "a"}},
			want: resolution{failCycle: true, tr: tracking.Transition{From: from, To: tracking.StateValidationFailed, Stage: tracking.StagePickedUp,
				Events: []tracking.Event{started, ev("a", tracking.CodeValidationFailed,
					"Validation failed: CYCLIC_REFERENCE parent: category cycle a → a: a category cannot be its own ancestor", "")},
				Errors: []catalog.Error{cycleError([]string{"a", "a"})}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now().UTC()
			got := decide(d, &tt.it, started)
			// The event decided has a fresh id and is stamped now.
			require.Len(t, got.tr.Events, 2)
			e := &got.tr.Events[1]
			require.NotEqual(t, uuid.Nil, e.TrackingID)
			require.False(t, e.Timestamp.Before(before), "stamped now")
			e.TrackingID, e.Timestamp = uuid.Nil, time.Time{}
			require.Equal(t, tt.want, got)
		})
	}
}

// The references and master flag of an operation are those ingest sent
// with it; an operation without them (from an earlier ingest) is validated
// again, with the same result.
func TestReferencesFromFacts(t *testing.T) {
	t.Parallel()
	rec := json.RawMessage(`{"key":"p-1","productType":{"key":"apparel"},"name":{"en":"P"},"slug":{"en":"p-1"},` +
		`"categories":[{"key":"men"},{"key":"Tops"}],"masterVariant":{"sku":"p-1-m"}}`)
	v, errs := catalog.Validate(catalog.Product, rec)
	require.Empty(t, errs)
	var refs []bus.FactRef
	for _, r := range v.References {
		refs = append(refs, bus.FactRef{TypeID: r.TypeID, Key: r.Key, SKU: r.SKU})
	}
	validated := &item{op: bus.WorkOp{Key: "p-1", Record: rec}, record: rec}
	sent := &item{op: bus.WorkOp{Key: "p-1", Record: rec, Facts: &bus.RecordFacts{Master: true, Refs: refs}}, record: rec}
	all, masters := references(catalog.Product, []*item{validated})
	all2, masters2 := references(catalog.Product, []*item{sent})
	require.Equal(t, all, all2)
	require.Equal(t, masters, masters2)
	require.Equal(t, validated.refs, sent.refs)
	require.Len(t, all, 3) // the product type and two categories
	require.False(t, sent.needsMaster)

	// What was sent is what counts: no master variant said, one awaited.
	said := &item{op: bus.WorkOp{Key: "p-1", Record: rec, Facts: &bus.RecordFacts{Refs: refs[:1]}}, record: rec}
	all, masters = references(catalog.Product, []*item{said})
	require.Equal(t, []string{"p-1"}, masters)
	require.True(t, said.needsMaster)
	require.Equal(t, []catalog.Reference{v.References[0].Normalize(), {TypeID: catalog.Product.TypeID(), Key: "p-1"}}, all)
}
