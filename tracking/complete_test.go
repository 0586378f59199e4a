package tracking_test

import (
	"context"
	"fmt"
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
	completions := func(receipt string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracking_events WHERE receipt_id = $1 AND code = $2`, receipt, int(tracking.CodeDeliveryCompleted)).Scan(&n))
		return n
	}
	// Each transaction adds to one of the delivery's counter slots, chosen
	// at random; when both pick the same one, the second waits for the
	// first to commit, sees its operation end, and completes the delivery
	// itself. The race needs two slots: try until the pick gives it.
	for attempt := 1; ; attempt++ {
		require.LessOrEqual(t, attempt, 20, "never two different counter slots in 20 attempts")
		d := deliverAt(t, store, fmt.Sprintf("concurrent-end-%d", attempt), time.Now(), "k0", "k1")
		ready := make(chan int, 2)
		commit := make(chan struct{})
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
					ready <- len(done)
					<-commit // both have ended their operation before either commits
					return nil
				})
			}()
		}
		raced := true
		var done []int
		for range 2 {
			select {
			case n := <-ready:
				done = append(done, n)
			case <-time.After(3 * time.Second):
				raced = false // one waits on the other's slot
			}
			if !raced {
				break
			}
		}
		close(commit)
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		got, err := store.DeliveryGet(ctx, d.ReceiptID)
		require.NoError(t, err)
		if !raced {
			require.NotNil(t, got.CompletedAt, "the transaction that waited saw the other's commit and completed the delivery")
			require.Equal(t, 1, completions(d.ReceiptID))
			continue
		}
		require.Equal(t, []int{0, 0}, done, "neither transaction can see the other's operation end")
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
		require.Equal(t, 1, completions(d.ReceiptID))
		return
	}
}

// The workers end every operation while ingest is still reading the
// delivery: ingest completes it, with the event its outcome deserves.
func TestIngestFinishCompletesWhatWorkersEnded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := receiving(t, store, tracking.Delivery{ReceiptID: "ended-early", AcceptedAt: time.Now()}, "k0")
	done, err := endOperation(ctx, pool, &d, 0, tracking.StateImported, tracking.CodeImported, nil)
	require.NoError(t, err)
	require.Empty(t, done, "still being read: not completed yet")
	require.NoError(t, store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 10))
	require.NotNil(t, d.CompletedAt)
	var code int
	require.NoError(t, pool.QueryRow(ctx, `SELECT code FROM tracking_events WHERE receipt_id = 'ended-early' AND code IN ($1, $2)`,
		int(tracking.CodeDeliveryCompleted), int(tracking.CodeDeliveryCompletedWithErrors)).Scan(&code))
	require.Equal(t, int(tracking.CodeDeliveryCompleted), code, "nothing failed")
}

// A worker ends the last stored operation while ingest writes the last
// batch and finishes: the worker read the counts before that batch was
// committed, and waits for the delivery row that ingest holds. When it gets
// the row, ingest is done, but the operations of the last batch are still
// queued: it must not complete the delivery on the counts it read before.
func TestCompletionWaitsForTheLastBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := receiving(t, store, tracking.Delivery{ReceiptID: "last-batch", AcceptedAt: time.Now()}, "k0")

	// Ingest holds the delivery row, as IngestWrite and IngestFinish do.
	ingest := holdDelivery(t, pool, d)

	done := make(chan []*tracking.Delivery, 1)
	errs := make(chan error, 1)
	go func() {
		completed, err := endOperation(ctx, pool, &d, 0, tracking.StateImported, tracking.CodeImported, nil)
		done <- completed
		errs <- err
	}()
	// The worker has read the counts (nothing pending but its own) and
	// waits for the delivery row.
	require.Eventually(t, func() bool { return lockWaits(t, pool, `%FROM deliveries%FOR UPDATE%`) == 1 }, 10*time.Second, 10*time.Millisecond)
	// Ingest writes the last record (one more queued operation) and
	// finishes, in the transaction that holds the row. Its counts go to a
	// slot no worker picks (workers pick 0..7): the worker holds the slot it
	// wrote, and this transaction takes the row before the slot, the other
	// way round from IngestWrite, so on the worker's slot the two would
	// deadlock (one run in eight did, with slot 0).
	_, err = ingest.Exec(ctx, `INSERT INTO delivery_counts (receipt_id, delivery_at, slot, total, queued) VALUES ($1, $2, -1, 1, 1)`,
		d.ReceiptID, d.AcceptedAt)
	require.NoError(t, err)
	_, err = ingest.Exec(ctx, `UPDATE deliveries SET records_read = 2, ingest_state = $2, ingested_at = now() WHERE receipt_id = $1`, d.ReceiptID, tracking.IngestDone)
	require.NoError(t, err)
	require.NoError(t, ingest.Commit(ctx))

	require.NoError(t, <-errs)
	require.Empty(t, <-done, "one operation is still queued")
	got, err := store.DeliveryGet(ctx, d.ReceiptID)
	require.NoError(t, err)
	require.Nil(t, got.CompletedAt, "one operation is still queued")
}

// A worker fails a delivery's last operation, over the error threshold,
// while ingest finishes (holding the delivery row): it read the delivery
// as still being received, and must not interrupt it once ingest is done
// and nothing is left to stop. The delivery completes with errors. Before
// the threshold check looked again with the row locked, the worker
// interrupted it after ingest had finished.
func TestThresholdWhileIngestFinishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := receiving(t, store, tracking.Delivery{ReceiptID: "threshold-finish", AcceptedAt: time.Now()}, "k0")

	// Ingest finishing holds the delivery row, as IngestFinish does.
	ingest := holdDelivery(t, pool, d)

	errs := make(chan error, 1)
	go func() {
		_, err := endOperation(ctx, pool, &d, 0, tracking.StateRejected, tracking.CodeRejected, nil)
		errs <- err
	}()
	// The worker has read the delivery as being received, found it over
	// the threshold and waits for the row.
	require.Eventually(t, func() bool { return lockWaits(t, pool, `%deliveries%`) == 1 }, 10*time.Second, 10*time.Millisecond)
	_, err = ingest.Exec(ctx, `UPDATE deliveries SET ingest_state = $2, ingested_at = now() WHERE receipt_id = $1`, d.ReceiptID, tracking.IngestDone)
	require.NoError(t, err)
	require.NoError(t, ingest.Commit(ctx))
	require.NoError(t, <-errs)

	got, err := store.DeliveryGet(ctx, d.ReceiptID)
	require.NoError(t, err)
	require.Nil(t, got.InterruptedAt, "nothing was left to stop")
	require.NotNil(t, got.CompletedAt)
	rows, err := pool.Query(ctx, `SELECT code FROM tracking_events WHERE receipt_id = $1 AND code IN ($2, $3, $4) ORDER BY ts`, d.ReceiptID,
		int(tracking.CodeDeliveryInterrupted), int(tracking.CodeDeliveryCompleted), int(tracking.CodeDeliveryCompletedWithErrors))
	require.NoError(t, err)
	codes, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{int(tracking.CodeDeliveryCompletedWithErrors)}, codes, "completed with errors, not interrupted")
}
