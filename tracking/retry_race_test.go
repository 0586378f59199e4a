package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// retryRace is a delivery whose ingest is done, with operation 0 rejected
// and operation 1 still processing, and a retry of operation 0 held just
// before it commits: it waits for the apply outbox, which the test locks.
type retryRace struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *tracking.Store
	d     tracking.Delivery
	retry chan error
	hold  pgx.Tx
}

func newRetryRace(t *testing.T, receipt string) *retryRace {
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	// Errors skipped: one rejected operation of two would interrupt it.
	d := receiving(t, store, tracking.Delivery{ReceiptID: receipt, AcceptedAt: time.Now(), SkipErrors: true}, "x0", "y1")
	require.NoError(t, store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 10))
	r := &retryRace{t: t, pool: pool, store: store, d: d, retry: make(chan error, 1)}
	r.end(0, tracking.StateRejected, tracking.CodeRejected, []byte(`{"key":"x0"}`))

	r.hold, err = pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { r.hold.Rollback(ctx) })
	_, err = r.hold.Exec(ctx, `LOCK TABLE apply_outbox IN EXCLUSIVE MODE`)
	require.NoError(t, err)
	go func() { r.retry <- store.RetryOperation(ctx, &r.d, 0) }()
	r.waitLocked(nil, 1) // the retry, at its INSERT INTO apply_outbox
	return r
}

// end moves an operation to an end state in a transaction of its own.
func (r *retryRace) end(seq int, to tracking.State, code tracking.Code, record []byte) {
	_, err := endOperation(context.Background(), r.pool, &r.d, seq, to, code, record)
	require.NoError(r.t, err)
}

// waitLocked waits until done is closed (nil: never) or n statements wait
// for a lock, whichever comes first. The retry must not end meanwhile: it
// is held until release.
func (r *retryRace) waitLocked(done <-chan struct{}, n int) {
	require.Eventually(r.t, func() bool {
		select {
		case err := <-r.retry:
			r.t.Fatalf("the retry ended: %v", err)
		case <-done:
			return true
		default:
		}
		return lockWaits(r.t, r.pool, `%`) >= n
	}, 10*time.Second, 5*time.Millisecond)
}

// lockWaits counts the statements like query that wait for a lock.
func lockWaits(t *testing.T, pool *pgxpool.Pool, query string) int {
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, query).Scan(&n))
	return n
}

// release lets the retry commit.
func (r *retryRace) release() {
	require.NoError(r.t, r.hold.Commit(context.Background()))
	require.NoError(r.t, <-r.retry)
}

func (r *retryRace) operation(seq int) tracking.State {
	var state string
	require.NoError(r.t, r.pool.QueryRow(context.Background(), `SELECT state FROM operations WHERE receipt_id = $1 AND seq = $2`,
		r.d.ReceiptID, seq).Scan(&state))
	return tracking.State(state)
}

// A worker ends a delivery's last processing operation while a retry sends
// a rejected one back to processing: the worker cannot see the retry's
// operation until it commits, so it must not complete the delivery on
// counts that miss it; either it waits for the retry, or the retry sees the
// completion and reopens the delivery. Before the retry locked the
// delivery row, the worker completed it with operation 0 processing, and
// nothing ever completed it again.
func TestRetryWhileTheLastOperationEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRetryRace(t, "retry-vs-last")
	worker := make(chan struct{})
	go func() {
		defer close(worker)
		r.end(1, tracking.StateImported, tracking.CodeImported, nil)
	}()
	// The worker waits for the retry (for the delivery row, or for the
	// counter slot the retry wrote when it picks the same), or it is done.
	r.waitLocked(worker, 2)
	r.release()
	<-worker

	require.Equal(t, tracking.StateProcessing, r.operation(0), "retried")
	got, err := r.store.DeliveryGet(ctx, r.d.ReceiptID)
	require.NoError(t, err)
	require.Nil(t, got.CompletedAt, "operation 0 is processing again")

	// It completes once operation 0 ends.
	r.end(0, tracking.StateImported, tracking.CodeImported, nil)
	got, err = r.store.DeliveryGet(ctx, r.d.ReceiptID)
	require.NoError(t, err)
	require.NotNil(t, got.CompletedAt, "every operation has ended")
}

// A cancel interrupts the delivery while a retry sends a rejected operation
// back to processing: the cancel must cancel it too. Before the retry
// locked the delivery row, the cancel committed first, its chunks saw the
// operation still rejected, and the retry then put it back to processing
// in an interrupted delivery.
func TestRetryWhileCanceled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRetryRace(t, "retry-vs-cancel")
	cancel := make(chan struct{})
	cancelErr := make(chan error, 1)
	go func() {
		defer close(cancel)
		_, err := r.store.Cancel(ctx, &r.d)
		cancelErr <- err
	}()
	r.waitLocked(cancel, 2) // the cancel waits for the delivery row, or it is done
	r.release()
	<-cancel
	require.NoError(t, <-cancelErr)

	require.Equal(t, tracking.StateCanceled, r.operation(0), "retried, then canceled")
	require.Equal(t, tracking.StateCanceled, r.operation(1))
	got, err := r.store.DeliveryGet(ctx, r.d.ReceiptID)
	require.NoError(t, err)
	require.NotNil(t, got.InterruptedAt)
	require.NotNil(t, got.CompletedAt, "every operation has ended")
}
