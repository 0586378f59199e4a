package tracking

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryTransitions(t *testing.T) {
	t.Parallel()
	d := &Delivery{ReceiptID: "r1", MerchantID: "m1", AcceptedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	op := func(seq int, s State, record string, retries int) OpState {
		o := OpState{OpRef: OpRef{ReceiptID: d.ReceiptID, MerchantID: d.MerchantID, DeliveryAt: d.AcceptedAt, Seq: seq},
			ResourceKey: "k", State: s, Stage: StageResolved, RetryCount: retries}
		if record != "" {
			o.Record = []byte(record)
		}
		return o
	}
	states := map[int]OpState{
		0: op(0, StateRejected, `{"key":"a"}`, 5),
		1: op(1, StateImported, `{"key":"b"}`, 1),
		2: op(2, StateRejected, "", 5), // its record no longer kept
		3: op(3, StateRejected, `{"key":"d"}`, 2),
	}
	tests := []struct {
		name    string
		seqs    []int
		single  bool
		retried []int
		err     string
	}{
		{"a delivery's: only the rejected with a record", []int{0, 1, 2, 3}, false, []int{0, 3}, ""},
		{"one rejected", []int{3}, true, []int{3}, ""},
		{"one imported", []int{1}, true, nil, "only rejected operations can be retried"},
		{"one without its record", []int{2}, true, nil, "publish it again"},
		{"none left", []int{1, 2}, false, nil, "has no rejected operation that can be retried"},
		{"unknown", []int{9}, false, nil, ErrNotFound.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, retried, err := retryTransitions(d, tt.seqs, states, tt.single)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.retried, retried)
			require.Len(t, ts, len(tt.retried))
			for i, tr := range ts {
				from := states[tt.retried[i]]
				require.Equal(t, from, tr.From)
				require.Equal(t, StateProcessing, tr.To)
				require.Equal(t, StageResolved, tr.Stage, "straight to the importer")
				require.Equal(t, -from.RetryCount, tr.Retries, "a fresh budget of attempts")
				require.Equal(t, from.Record, tr.Record, "the kept record goes with it")
				require.NotNil(t, tr.Errors, "the errors are cleared")
				require.Empty(t, tr.Errors)
				require.Len(t, tr.Events, 1)
				require.Equal(t, CodeRetryRequested, tr.Events[0].Code)
			}
		})
	}
}
