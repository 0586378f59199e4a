package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// RedriveClaim claims the operations in flight that made no progress for
// `after` (queued or resolved; not parked, not ended, not fresh), records a
// Redriven event on each without changing its state or the counts, and
// claims nothing twice: neither in the next pass nor what another
// transaction holds.
func TestRedriveClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	old := deliverAt(t, store, "redrive-old", time.Now().Add(-time.Hour), "k0", "k1", "k2", "k3", "k4")
	deliverAt(t, store, "redrive-fresh", time.Now(), "f0", "f1")
	_, err = endOperation(ctx, pool, &old, 0, tracking.StateImported, tracking.CodeImported, nil)
	require.NoError(t, err)
	_, err = endOperation(ctx, pool, &old, 1, tracking.StateUnresolved, tracking.CodeUnresolved, []byte(`{}`))
	require.NoError(t, err)
	_, err = endOperation(ctx, pool, &old, 2, tracking.StateProcessing, tracking.CodeResolved, nil) // resolved
	require.NoError(t, err)
	stale := func(seqs ...int) {
		_, err := pool.Exec(ctx, `UPDATE operations SET last_modified_at = now() - interval '1 hour' WHERE receipt_id = $1 AND seq = any($2)`, old.ReceiptID, seqs)
		require.NoError(t, err)
	}
	stale(0, 1, 2)
	countsBefore, err := store.Counts(ctx, &old)
	require.NoError(t, err)

	var cur tracking.RedriveCursor
	got, err := store.RedriveClaim(ctx, 10*time.Minute, 100, &cur)
	require.NoError(t, err)
	require.Len(t, got, 1, "only the old delivery has stalled operations")
	require.Equal(t, old.ReceiptID, got[0].Delivery.ReceiptID)
	require.Equal(t, []int{2, 3, 4}, got[0].Seqs)
	require.Equal(t, map[tracking.Stage]int{tracking.StageQueued: 2, tracking.StageResolved: 1}, got[0].Stages)
	rows, err := pool.Query(ctx, `SELECT seq, state, stage, last_tracking_code, last_modified_at > now() - interval '1 minute' FROM operations
		WHERE receipt_id = $1 ORDER BY seq`, old.ReceiptID)
	require.NoError(t, err)
	type opRow struct {
		seq, code int
		state     string
		stage     int16
		bumped    bool
	}
	var ops []opRow
	for rows.Next() {
		var o opRow
		require.NoError(t, rows.Scan(&o.seq, &o.state, &o.stage, &o.code, &o.bumped))
		ops = append(ops, o)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []opRow{
		{0, int(tracking.CodeImported), "imported", 2, false},
		{1, int(tracking.CodeUnresolved), "unresolved", 2, false},
		{2, int(tracking.CodeRedriven), "processing", 2, true},
		{3, int(tracking.CodeRedriven), "processing", 0, true},
		{4, int(tracking.CodeRedriven), "processing", 0, true},
	}, ops)
	countsAfter, err := store.Counts(ctx, &old)
	require.NoError(t, err)
	require.Equal(t, countsBefore, countsAfter)

	got, err = store.RedriveClaim(ctx, 10*time.Minute, 100, &cur)
	require.NoError(t, err)
	require.Empty(t, got, "claimed operations are not stale again until `after` has passed")

	// Another instance holds operation 3: it is skipped, not waited for.
	stale(2, 3, 4)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `SELECT 1 FROM operations WHERE receipt_id = $1 AND seq = 3 FOR UPDATE`, old.ReceiptID)
	require.NoError(t, err)
	got, err = store.RedriveClaim(ctx, 10*time.Minute, 1, &cur)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, []int{2}, got[0].Seqs, "at most limit operations a pass")
	got, err = store.RedriveClaim(ctx, 10*time.Minute, 100, &cur)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, []int{4}, got[0].Seqs, "the operation another transaction holds is skipped")
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracking_events WHERE receipt_id = $1 AND code = $2`,
		old.ReceiptID, int(tracking.CodeRedriven)).Scan(&events))
	require.Equal(t, 5, events)
}

// TestRedriveClaimStoredRecord: a resolved operation whose record is stored
// (retried on request, released, merged) is re-driven through apply_outbox,
// not from the delivery's body, which may be gone once it completed.
func TestRedriveClaimStoredRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := deliverAt(t, store, "redrive-kept", time.Now().Add(-time.Hour), "k0", "k1")
	_, err = endOperation(ctx, pool, &d, 0, tracking.StateProcessing, tracking.CodeResolved, []byte(`{"key":"k0"}`))
	require.NoError(t, err)
	_, err = endOperation(ctx, pool, &d, 1, tracking.StateProcessing, tracking.CodeResolved, nil)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE operations SET last_modified_at = now() - interval '1 hour' WHERE receipt_id = $1`, d.ReceiptID)
	require.NoError(t, err)

	var cur tracking.RedriveCursor
	got, err := store.RedriveClaim(ctx, 10*time.Minute, 100, &cur)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, []int{1}, got[0].Seqs, "only the record the body holds is read from it")
	require.Equal(t, 1, got[0].Outboxed)
	require.Equal(t, map[tracking.Stage]int{tracking.StageResolved: 2}, got[0].Stages)
	var seqs []int32
	rows, err := pool.Query(ctx, `SELECT seq FROM apply_outbox WHERE merchant_id = $1 AND receipt_id = $2 ORDER BY seq`, d.MerchantID, d.ReceiptID)
	require.NoError(t, err)
	seqs, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Equal(t, []int32{0}, seqs, "queued for the importer with its stored record")
}
