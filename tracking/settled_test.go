package tracking_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// TestDeliveriesSettled: a delivery read to its end whose operations are
// all ended or parked, or that completed, is settled, once; one with an
// operation in flight, or still being read, is not. One worker at a time
// claims a delivery, and one whose message is removed is not claimed.
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

	// One worker at a time settles a delivery.
	claimed, release, ok, err := store.DeliveryClaim(ctx, &parked)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, parked.ReceiptID, claimed.ReceiptID)
	other, err := tracking.NewStore(pool, tracking.StoreConfig{}) // another worker
	require.NoError(t, err)
	_, _, ok, err = other.DeliveryClaim(ctx, &parked)
	require.NoError(t, err)
	require.False(t, ok, "claimed by the first worker")
	release()
	_, release, ok, err = other.DeliveryClaim(ctx, &parked)
	require.NoError(t, err)
	require.True(t, ok, "released")
	release()

	require.NoError(t, store.DeliveryMessageRemoved(ctx, &parked))
	require.NoError(t, store.DeliveryMessageRemoved(ctx, &done))
	require.Empty(t, receipts(), "a message is removed once")
	_, _, ok, err = store.DeliveryClaim(ctx, &done)
	require.NoError(t, err)
	require.False(t, ok, "removed since it was listed: nothing to claim")
}

// TestInputsReserve: a merchant's kept bodies stay within its share, one
// merchant's use leaves the others' share whole, reserving a body again
// costs nothing more, a body not kept frees its bytes, and reservations
// made at once never go over the share together.
func TestInputsReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	begin := func(merchant, receipt string) *tracking.Delivery {
		t.Helper()
		d, _, err := store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: receipt, MerchantID: merchant, AcceptedAt: time.Now(),
			Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "TEST:" + receipt})
		require.NoError(t, err)
		return &d
	}
	reserve := func(d *tracking.Delivery, size int64) bool {
		t.Helper()
		fits, err := store.InputsReserve(ctx, d, size, 100)
		require.NoError(t, err)
		return fits
	}
	state := func(d *tracking.Delivery) string {
		t.Helper()
		got, err := store.DeliveryFind(ctx, d.MerchantID, d.ReceiptID)
		require.NoError(t, err)
		return got.InputsState
	}
	a1, a2, b1 := begin("ma", "inputs-a1"), begin("ma", "inputs-a2"), begin("mb", "inputs-b1")
	require.Equal(t, "", state(a1))
	require.True(t, reserve(a1, 60))
	require.Equal(t, tracking.InputsReserved, state(a1))
	require.False(t, reserve(a2, 60), "60 + 60 is over the share of 100")
	require.Equal(t, tracking.InputsOverQuota, state(a2))
	require.True(t, reserve(a1, 60), "reserved already")
	require.True(t, reserve(b1, 60), "another merchant's share is its own")
	require.NoError(t, store.InputsSet(ctx, a1, tracking.InputsKept))
	require.Equal(t, tracking.InputsKept, state(a1))
	require.False(t, reserve(a2, 60), "kept counts as reserved")
	require.NoError(t, store.InputsSet(ctx, a1, tracking.InputsFull))
	require.True(t, reserve(a2, 60), "a body not kept frees its share")

	var ds []*tracking.Delivery
	for i := range 10 {
		ds = append(ds, begin("mc", fmt.Sprintf("inputs-c%02d", i)))
	}
	fits := make(chan bool, len(ds))
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := store.InputsReserve(ctx, d, 30, 100)
			assert.NoError(t, err)
			fits <- ok
		}()
	}
	wg.Wait()
	close(fits)
	n := 0
	for ok := range fits {
		if ok {
			n++
		}
	}
	require.Equal(t, 3, n, "three bodies of 30 fit in 100, whatever the order")
}
