package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/internal/testenv"
)

func TestDeliveryLockOrder(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Hour)
	require.NoError(t, store.PartitionsCreate(ctx, pool, at, at.Add(time.Hour)))
	require.NoError(t, store.DeliveriesInsert(ctx, pool, store.DeliveryRow{ReceiptID: "r1", MerchantID: "m1", AcceptedAt: at,
		Data: "Product", Format: "json", ContractVersion: "1", Source: "s:1", IngestState: "receiving", ExpiresAt: at.Add(48 * time.Hour)}))
	one := store.DeliveryCounts{Total: 1, Queued: 1}

	// In order: a counter slot, then the row.
	err := store.InTx(ctx, pool, func(tx *store.Tx) error {
		st, err := store.LockDelivery(ctx, tx, "r1", at, one)
		require.Equal(t, "receiving", st.IngestState)
		return err
	})
	require.NoError(t, err)

	// A slot after the row is refused; a change of no count takes no slot.
	err = store.InTx(ctx, pool, func(tx *store.Tx) error {
		if _, err := store.DeliveriesLock(ctx, tx, "r1", at); err != nil {
			return err
		}
		require.NoError(t, store.DeliveryCountsAdd(ctx, tx, "r1", at, store.DeliveryCounts{}))
		return store.DeliveryCountsAdd(ctx, tx, "r1", at, one)
	})
	require.ErrorIs(t, err, store.ErrLockOrder)

	c, err := store.DeliveryCountsSum(ctx, pool, "r1", at)
	require.NoError(t, err)
	require.Equal(t, one, c, "the refused transaction rolled back")

	_, err = store.DeliveriesLock(ctx, pool, "r2", at)
	require.ErrorIs(t, err, store.ErrNotFound)
}
