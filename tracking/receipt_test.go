package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

// TestDeliveryBeginPerMerchant: a receipt is deduplicated per merchant, and
// two merchants' deliveries accepted at the same instant still get
// identities of their own.
func TestDeliveryBeginPerMerchant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Microsecond)
	begin := func(merchant, source string) (tracking.Delivery, bool) {
		d, created, err := f.store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: "same-instant-1", MerchantID: merchant, AcceptedAt: at,
			Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: source})
		require.NoError(t, err)
		return d, created
	}
	a, created := begin("ma", "TEST:1")
	require.True(t, created)
	require.Equal(t, at, a.AcceptedAt)
	b, created := begin("mb", "TEST:2")
	require.True(t, created, "another merchant's receipt is another delivery")
	require.Equal(t, at.Add(time.Microsecond), b.AcceptedAt, "moved on: (receipt, accepted_at) identifies a delivery's rows")
	again, created := begin("ma", "TEST:3")
	require.False(t, created, "the merchant's own receipt again is the same delivery")
	require.Equal(t, a.AcceptedAt, again.AcceptedAt)
	require.Equal(t, "TEST:1", again.Source)

	got, err := f.store.DeliveryFind(ctx, "mb", "same-instant-1")
	require.NoError(t, err)
	require.Equal(t, "TEST:2", got.Source)
	_, err = f.store.DeliveryFind(ctx, "mc", "same-instant-1")
	require.ErrorIs(t, err, tracking.ErrNotFound)
	_, err = f.store.DeliveryFind(ctx, "", "same-instant-1")
	var amb *tracking.AmbiguousError
	require.ErrorAs(t, err, &amb)
	require.Equal(t, []string{"ma", "mb"}, amb.Merchants)
}
