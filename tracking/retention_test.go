package tracking_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// deliverAt stores a finished delivery of keys accepted at the clock's time.
func deliverAt(t *testing.T, store *tracking.Store, receipt string, at time.Time, keys ...string) tracking.Delivery {
	t.Helper()
	d := receiving(t, store, tracking.Delivery{ReceiptID: receipt, AcceptedAt: at}, keys...)
	ctx := context.Background()
	require.NoError(t, store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 10))
	return d
}

// receiving begins delivery d (its receipt, time and skip-errors taken; a
// Product delivery of merchant m1) and stores one batch of keys, queued,
// as ingest would; ingest has not finished.
func receiving(t *testing.T, store *tracking.Store, d tracking.Delivery, keys ...string) tracking.Delivery {
	t.Helper()
	ctx := context.Background()
	d.MerchantID, d.Data, d.Format, d.ContractVersion, d.Source = "m1", "Product", "ndjson", "1.0", "TEST:"+d.ReceiptID
	d, _, err := store.DeliveryBegin(ctx, d)
	require.NoError(t, err)
	var b tracking.IngestBatch
	for i, k := range keys {
		ev := tracking.NewEvent(&d, k, tracking.CodeRecordReceived, "Record received")
		b.Ops = append(b.Ops, tracking.Operation{ID: tracking.OperationID(d.MerchantID, d.ReceiptID, i), Seq: i, Line: i + 1, ResourceType: "Product",
			ResourceKey: k, State: tracking.StateProcessing, CreatedAt: d.AcceptedAt, Last: ev})
		b.Events = append(b.Events, ev)
		b.Counts.Total++
		b.Counts.Count(tracking.StateProcessing, tracking.StageQueued, 1)
	}
	b.To = len(keys)
	require.NoError(t, store.IngestWrite(ctx, &d, b))
	return d
}

// endOperation moves operation seq of d to an end state in a transaction of
// its own, as a worker does, and returns the deliveries that completed.
func endOperation(ctx context.Context, pool *pgxpool.Pool, d *tracking.Delivery, seq int, to tracking.State, code tracking.Code, record []byte) ([]*tracking.Delivery, error) {
	var completed []*tracking.Delivery
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		states, err := tracking.OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, []int{seq})
		if err != nil {
			return err
		}
		st := states[seq]
		ev := tracking.NewEvent(st.Delivery(), st.ResourceKey, code, string(to))
		completed, err = tracking.TransitionsApply(ctx, tx, []tracking.Transition{{From: st, To: to, Stage: tracking.StageResolved,
			Events: []tracking.Event{ev}, Record: record}})
		return err
	})
	return completed, err
}

// holdDelivery begins a transaction that locks d's row, as ingest's
// IngestWrite and IngestFinish do; the test commits it or it rolls back.
func holdDelivery(t *testing.T, pool *pgxpool.Pool, d tracking.Delivery) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { tx.Rollback(ctx) }) //nolint:errcheck
	_, err = tx.Exec(ctx, `SELECT 1 FROM deliveries WHERE receipt_id = $1 FOR UPDATE`, d.ReceiptID)
	require.NoError(t, err)
	return tx
}

func TestRetentionDropsPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	clk := &clock{t: time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)}
	store, err := tracking.NewStore(pool, tracking.StoreConfig{Retention: time.Hour, Now: clk.Now})
	require.NoError(t, err)
	srv := api.NewServer(store, api.ServerConfig{}, nil)

	old := deliverAt(t, store, "retain-old", clk.Now(), "k1", "k2", "k3")
	// k2 is parked on a category that never comes.
	_, err = pool.Exec(ctx, `UPDATE operations SET state = 'unresolved', stage = 1, unresolved = '[{"typeId":"category","key":"never"}]' WHERE receipt_id = 'retain-old' AND seq = 1`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO parked_refs (merchant_id, type_id, key, receipt_id, seq, delivery_at, op_type, op_key, parked_at)
		VALUES ('m1', 'category', 'never', 'retain-old', 1, $1, 'Product', 'k2', $1)`, old.AcceptedAt)
	require.NoError(t, err)
	deliverAt(t, store, "retain-new", clk.Now().Add(2*time.Hour), "n1")
	_, err = pool.Exec(ctx, `UPDATE deliveries SET callback_url = 'http://127.0.0.1:9/done' WHERE receipt_id = 'retain-old'`)
	require.NoError(t, err)

	rows := func(table, receipt string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE receipt_id = $1", receipt).Scan(&n))
		return n
	}
	code := statusOf(srv, "/import/retain-old/status")
	require.Equal(t, http.StatusOK, code)

	// Past its retention: every endpoint answers 404 at once, though its
	// partition (10:00–11:00) is not due for dropping until 12:00.
	clk.Set(old.AcceptedAt.Add(time.Hour + time.Minute))
	for _, path := range []string{"/import/retain-old/status", "/import/retain-old/summary", "/import/retain-old/k1"} {
		code := statusOf(srv, path)
		require.Equal(t, http.StatusNotFound, code, path)
	}
	res, err := store.Expire(ctx, js, nil)
	require.NoError(t, err)
	require.Zero(t, res.Partitions)
	require.Equal(t, 3, rows("operations", "retain-old"), "not dropped yet")

	// Every delivery of the partition is past retention: the partition goes, whole.
	clk.Set(time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC))
	res, err = store.Expire(ctx, js, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.Partitions, 1)
	require.Equal(t, 1, res.Unresolved)
	require.Equal(t, map[string]int{"m1.retain-old": 1}, res.Deliveries)
	for _, table := range tracking.PartitionedTables {
		require.Zero(t, rows(table, "retain-old"), table)
		var exists bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table+"_p20260101t1000").Scan(&exists))
		require.False(t, exists, "%s_p20260101t1000 dropped", table)
	}
	require.Equal(t, 1, rows("operations", "retain-new"), "a newer partition stays")
	code = statusOf(srv, "/import/retain-new/status")
	require.Equal(t, http.StatusOK, code)

	// Its delivery was told on IMPORT_EVENTS that an operation expired unresolved.
	stream, err := js.Stream(ctx, bus.StreamEvents)
	require.NoError(t, err)
	msg, err := stream.GetLastMsgForSubject(ctx, bus.EventSubject("m1", "retain-old", "expired"))
	require.NoError(t, err)
	require.Contains(t, string(msg.Data), `"Status"`)

	// Its callback is queued with the body it had, and outlives the
	// partition until it ends.
	var event, body string
	require.NoError(t, pool.QueryRow(ctx, `SELECT event, convert_from(body, 'UTF8') FROM callbacks WHERE receipt_id = 'retain-old'`).Scan(&event, &body))
	require.Equal(t, "expired", event)
	require.Contains(t, body, `"ReceiptId":"retain-old"`)

	// A second pass has nothing to do.
	res, err = store.Expire(ctx, js, nil)
	require.NoError(t, err)
	require.Zero(t, res.Partitions)
	require.Equal(t, 1, rows("callbacks", "retain-old"), "still to be called")

	// Once ended, the call goes with the next pass.
	_, err = pool.Exec(ctx, `UPDATE callbacks SET given_up_at = now() WHERE receipt_id = 'retain-old'`)
	require.NoError(t, err)
	_, err = store.Expire(ctx, js, nil)
	require.NoError(t, err)
	require.Zero(t, rows("callbacks", "retain-old"))
	var _ jetstream.JetStream = js
}

// statusOf is the status code srv answers a GET of path with.
func statusOf(srv http.Handler, path string) int {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}
