package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// TestDeliveriesSettled: a delivery read to its end whose operations are
// all ended or parked, or that completed, is settled, once; one with an
// operation in flight, or still being read, is not.
func TestDeliveriesSettled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	parked := deliverAt(t, store, "settled-parked", time.Now().Add(-time.Minute), "k0", "k1")
	_, err = endOperation(ctx, pool, &parked, 0, tracking.StateImported, tracking.CodeImported, nil)
	require.NoError(t, err)
	_, err = endOperation(ctx, pool, &parked, 1, tracking.StateUnresolved, tracking.CodeUnresolved, []byte(`{"key":"k1"}`))
	require.NoError(t, err)
	inFlight := deliverAt(t, store, "settled-in-flight", time.Now().Add(-time.Minute), "f0", "f1")
	_, err = endOperation(ctx, pool, &inFlight, 0, tracking.StateUnresolved, tracking.CodeUnresolved, []byte(`{"key":"f0"}`))
	require.NoError(t, err)
	reading := receiving(t, store, tracking.Delivery{ReceiptID: "settled-reading", AcceptedAt: time.Now().Add(-time.Minute)}, "r0")
	_, err = endOperation(ctx, pool, &reading, 0, tracking.StateUnresolved, tracking.CodeUnresolved, []byte(`{"key":"r0"}`))
	require.NoError(t, err)

	done := deliverAt(t, store, "settled-done", time.Now().Add(-30*time.Second), "d0")
	completed, err := endOperation(ctx, pool, &done, 0, tracking.StateImported, tracking.CodeImported, nil)
	require.NoError(t, err)
	require.Len(t, completed, 1)

	receipts := func() []string {
		ds, err := store.DeliveriesSettled(ctx, 100)
		require.NoError(t, err)
		var out []string
		for _, d := range ds {
			out = append(out, d.ReceiptID)
		}
		return out
	}
	require.Equal(t, []string{"settled-parked", "settled-done"}, receipts(), "f1 is in flight; settled-reading is still being read")
	require.NoError(t, store.DeliveryMessageRemoved(ctx, &parked))
	require.NoError(t, store.DeliveryMessageRemoved(ctx, &done))
	require.Empty(t, receipts(), "a message is removed once")
}
