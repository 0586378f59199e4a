package tracking_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// Two workers end a delivery's last two operations in concurrent
// transactions: neither sees the other's commit, so neither completes the
// delivery. The sweep's CompleteMissed does, once.
func TestCompletionMissedByConcurrentWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := deliverAt(t, store, "concurrent-end", time.Now(), "k0", "k1")

	var ready, commit sync.WaitGroup
	ready.Add(2)
	commit.Add(1)
	errs := make(chan error, 2)
	for seq := range 2 {
		go func() {
			errs <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				states, err := tracking.OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, []int{seq})
				if err != nil {
					return err
				}
				st := states[seq]
				ev := tracking.NewEvent(st.Delivery(), st.ResourceKey, tracking.CodeImported, "Imported")
				done, err := tracking.TransitionsApply(ctx, tx, []tracking.Transition{{From: st, To: tracking.StateImported, Stage: tracking.StageResolved, Events: []tracking.Event{ev}}})
				if err != nil {
					return err
				}
				if len(done) > 0 {
					t.Errorf("op %d: completed in a transaction that cannot see the other one's operation end", seq)
				}
				ready.Done()
				commit.Wait() // both have ended their operation before either commits
				return nil
			})
		}()
	}
	ready.Wait()
	commit.Done()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	got, err := store.DeliveryGet(ctx, d.ReceiptID)
	require.NoError(t, err)
	require.Nil(t, got.CompletedAt, "the race: every operation ended, nobody completed the delivery")

	completed, err := store.CompleteMissed(ctx)
	require.NoError(t, err)
	require.Len(t, completed, 1)
	require.Equal(t, d.ReceiptID, completed[0].ReceiptID)
	got, err = store.DeliveryGet(ctx, d.ReceiptID)
	require.NoError(t, err)
	require.NotNil(t, got.CompletedAt)
	completed, err = store.CompleteMissed(ctx)
	require.NoError(t, err)
	require.Empty(t, completed, "once")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracking_events WHERE receipt_id = $1 AND code = $2`, d.ReceiptID, int(tracking.CodeDeliveryCompleted)).Scan(&n))
	require.Equal(t, 1, n)
}
