package tracking

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

func TestPlanTransitions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	a := OpRef{ReceiptID: "rb", MerchantID: "m1", DeliveryAt: at}
	b := OpRef{ReceiptID: "ra", MerchantID: "m2", DeliveryAt: at}
	op := func(r OpRef, seq int, s State, st Stage) OpState {
		r.Seq = seq
		return OpState{OpRef: r, State: s, Stage: st}
	}
	ev := func(r OpRef, code Code, msg string) Event {
		return NewEvent(r.Delivery(), "k", code, msg)
	}
	imported := ev(a, CodeImported, "Imported")
	resolved := ev(b, CodeResolved, "Resolved")
	started := ev(a, CodeResolutionStarted, "Resolution started")
	rejected := ev(a, CodeRejected, "Rejected")
	ts := []Transition{
		{From: op(a, 0, StateProcessing, StageResolved), To: StateImported, Stage: StageResolved, Events: []Event{imported}},
		{From: op(b, 3, StateProcessing, StageQueued), To: StateProcessing, Stage: StageResolved, Events: []Event{resolved}},
		{From: op(a, 2, StateUnresolved, StagePickedUp), To: StateRejected, Stage: StagePickedUp, Retries: 1,
			Errors: []catalog.Error{{Type: "t", Code: "X", Description: "m"}}, Events: []Event{started, rejected}},
	}
	writes, events, err := planTransitions(ts)
	require.NoError(t, err)
	require.Equal(t, []Event{imported, resolved, started, rejected}, events, "every event, in order")
	require.Len(t, writes, 2, "one write per delivery")

	wa, wb := writes[0], writes[1]
	require.Equal(t, &Delivery{ReceiptID: "rb", MerchantID: "m1", AcceptedAt: at}, wa.d, "deliveries in the order they first appear")
	require.Equal(t, &Delivery{ReceiptID: "ra", MerchantID: "m2", AcceptedAt: at}, wb.d)
	require.Equal(t, []int32{0, 2}, wa.ops.Seqs)
	require.Equal(t, []string{"imported", "rejected"}, wa.ops.States)
	require.Equal(t, []int16{2, 1}, wa.ops.Stages)
	require.Equal(t, []int32{0, 1}, wa.ops.Retries)
	require.Nil(t, wa.ops.Errors[0])
	require.JSONEq(t, `[{"type":"t","code":"X","description":"m"}]`, *wa.ops.Errors[1])
	require.Equal(t, []string{imported.TrackingID.String(), rejected.TrackingID.String()}, wa.ops.LastIDs, "the last event of each")
	require.Equal(t, []int32{int32(CodeImported), int32(CodeRejected)}, wa.ops.LastCodes)
	require.Equal(t, Counts{Processing: -1, Unresolved: -1, Imported: 1, Rejected: 1}, wa.delta)
	require.Equal(t, Counts{Queued: -1, Processing: 1}, wb.delta, "picked up: queued to processing")
	require.Equal(t, []int32{3}, wb.ops.Seqs)

	_, _, err = planTransitions([]Transition{{From: op(a, 1, StateProcessing, StageResolved), To: StateImported}})
	require.ErrorContains(t, err, "without an event", "a state change is always recorded")
}
