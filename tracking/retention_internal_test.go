package tracking

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
)

// The expired event is written, once, before the partition is dropped.
func TestExpiredEventBeforeDrop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	at := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	store, err := NewStore(pool, StoreConfig{Retention: time.Hour, Now: func() time.Time { return at }})
	require.NoError(t, err)
	d, _, err := store.DeliveryBegin(ctx, Delivery{ReceiptID: "exp-1", MerchantID: "m1", AcceptedAt: at, Data: "Product",
		Format: "ndjson", ContractVersion: "1.0", Source: "TEST:exp-1"})
	require.NoError(t, err)
	ev := NewEvent(&d, "k1", CodeRecordReceived, "Record received")
	require.NoError(t, store.IngestWrite(ctx, &d, IngestBatch{To: 2, Events: []Event{ev},
		Ops: []Operation{
			{ID: OperationID("m1", "exp-1", 0), Seq: 0, ResourceType: "Product", ResourceKey: "k1", State: StateUnresolved, CreatedAt: at, Last: ev},
			{ID: OperationID("m1", "exp-1", 1), Seq: 1, ResourceType: "Product", ResourceKey: "k2", State: StateImported, CreatedAt: at, Last: ev},
		}}))
	lower, upper := at.Truncate(time.Hour), at.Truncate(time.Hour).Add(time.Hour)
	got, err := store.expireUnresolved(ctx, lower, upper)
	require.NoError(t, err)
	require.Equal(t, map[deliveryKey]int{{receipt: "exp-1", merchant: "m1", at: d.AcceptedAt}: 1}, got)
	var n int
	var msg string
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), max(message) FROM tracking_events WHERE receipt_id = 'exp-1' AND product_id = 'k1' AND code = $1`,
		int(CodeExpired)).Scan(&n, &msg))
	require.Equal(t, 1, n)
	require.Contains(t, msg, "unresolved")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracking_events WHERE receipt_id = 'exp-1' AND product_id = 'k2' AND code = $1`,
		int(CodeExpired)).Scan(&n))
	require.Zero(t, n, "only waiting operations expire with an event")
	// Once: a pass that could not drop the partition does not write it again.
	got, err = store.expireUnresolved(ctx, lower, upper)
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracking_events WHERE receipt_id = 'exp-1' AND code = $1`, int(CodeExpired)).Scan(&n))
	require.Equal(t, 1, n)
}
