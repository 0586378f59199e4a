package sender

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

var secret = []byte("test-secret-of-enough-bytes")

// receiver is a callback URL: it answers with the codes given, in turn (the
// last one for ever), and keeps what it received.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	codes []int
	calls []call
}

type call struct {
	body      []byte
	signature string
	header    http.Header
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, call{body: body, signature: req.Header.Get(callback.HeaderSignature), header: req.Header.Clone()})
		code := r.codes[min(len(r.calls), len(r.codes))-1]
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

type fixture struct {
	t     *testing.T
	store *tracking.Store
}

func newFixture(t *testing.T) *fixture {
	st, err := tracking.NewStore(testenv.DB(t), tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, st.EnsurePartitions(context.Background()))
	return &fixture{t: t, store: st}
}

func (f *fixture) sender(cfg Config) *Sender {
	if !cfg.Hosts.Enabled() {
		cfg.Hosts, _ = callback.ParseHosts("127.0.0.1")
	}
	cfg.Secret = secret
	s, err := New(cfg, f.store, zaptest.NewLogger(f.t))
	require.NoError(f.t, err)
	return s
}

// end stores a delivery with callback URL url and ends it: with no record
// (it completes), or failed when ierrs are given.
func (f *fixture) end(receipt, url string, ierrs ...tracking.IngestionError) tracking.Delivery {
	ctx := context.Background()
	d, _, err := f.store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: receipt, MerchantID: "m1", AcceptedAt: time.Now(),
		Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "TEST:" + receipt, CallbackURL: url})
	require.NoError(f.t, err)
	state := tracking.IngestDone
	if len(ierrs) > 0 {
		state = tracking.IngestFailed
	}
	require.NoError(f.t, f.store.IngestFinish(ctx, &d, state, ierrs, 0))
	return d
}

func (f *fixture) state(d tracking.Delivery) *tracking.CallbackState {
	st, err := f.store.CallbackOf(context.Background(), &d)
	require.NoError(f.t, err)
	return st
}

func (f *fixture) codes(d tracking.Delivery) []tracking.Code {
	rows, err := f.store.Pool().Query(context.Background(), `SELECT code FROM tracking_events WHERE receipt_id = $1 ORDER BY ts, tracking_id`, d.ReceiptID)
	require.NoError(f.t, err)
	defer rows.Close()
	var out []tracking.Code
	for rows.Next() {
		var c tracking.Code
		require.NoError(f.t, rows.Scan(&c))
		out = append(out, c)
	}
	return out
}

// passUntil runs passes of s until cond holds.
func passUntil(t *testing.T, s *Sender, cond func() bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, _ = s.Pass(context.Background())
		return cond()
	}, 20*time.Second, 20*time.Millisecond)
}

func TestSenderDeliversSigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, http.StatusNoContent)
	d := f.end("cb-done-0001", r.URL+"/hooks/importd?token=abc")
	require.Equal(t, tracking.CallbackPending, f.state(d).State)
	s := f.sender(Config{})
	passUntil(t, s, func() bool { return f.state(d).State == tracking.CallbackDelivered })

	calls := r.received()
	require.Len(t, calls, 1)
	require.NoError(t, callback.Verify(secret, calls[0].signature, calls[0].body, time.Now(), time.Minute))
	require.Equal(t, "application/json", calls[0].header.Get("Content-Type"))
	require.NotEmpty(t, calls[0].header.Get("Idempotency-Key"))
	var body tracking.CallbackBody
	require.NoError(t, json.Unmarshal(calls[0].body, &body))
	require.Equal(t, "cb-done-0001", body.ReceiptID)
	require.Equal(t, "completed", body.Event)
	require.Equal(t, "NoContent", body.Status)
	require.Equal(t, "m1", body.Delivery.MerchantID)

	st := f.state(d)
	require.Equal(t, strings.TrimPrefix(r.URL, "http://"), st.Host, "the host only: the path and query may hold the receiver's tokens")
	require.Equal(t, 1, st.Attempts)
	require.Equal(t, http.StatusNoContent, *st.LastStatusCode)
	require.Equal(t, "completed", st.Event)
	require.Contains(t, f.codes(d), tracking.CodeDeliveryCallbackDelivered)

	// Delivered is the end: no more calls.
	n, err := s.Pass(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, r.received(), 1)
}

func TestSenderRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK)
	d := f.end("cb-retry-0001", r.URL, tracking.IngestionError{Code: "UNKNOWN_FORMAT", Description: "Import-Format \"xml\""})
	s := f.sender(Config{RetryInitial: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	passUntil(t, s, func() bool { return f.state(d).State == tracking.CallbackDelivered })
	calls := r.received()
	require.Len(t, calls, 3)
	// The same call each time: same body, same idempotency key.
	require.Equal(t, calls[0].body, calls[2].body)
	require.Equal(t, calls[0].header.Get("Idempotency-Key"), calls[2].header.Get("Idempotency-Key"))
	var body tracking.CallbackBody
	require.NoError(t, json.Unmarshal(calls[2].body, &body))
	require.Equal(t, "failed", body.Event)
	require.Equal(t, "IngestionFailure", body.Status)
	require.Len(t, body.IngestionErrors, 1)
	st := f.state(d)
	require.Equal(t, 3, st.Attempts)
	require.Equal(t, http.StatusOK, *st.LastStatusCode)
}

func TestSenderGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, http.StatusServiceUnavailable)
	d := f.end("cb-gone-0001", r.URL)
	s := f.sender(Config{RetryInitial: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, MaxAge: 300 * time.Millisecond})
	passUntil(t, s, func() bool { return f.state(d).State == tracking.CallbackFailed })
	st := f.state(d)
	require.GreaterOrEqual(t, st.Attempts, 2)
	require.Equal(t, http.StatusServiceUnavailable, *st.LastStatusCode)
	require.Contains(t, *st.LastError, "503")
	require.Nil(t, st.NextAttemptAt)
	require.Contains(t, f.codes(d), tracking.CodeDeliveryCallbackGivenUp)
	require.NotContains(t, f.codes(d), tracking.CodeDeliveryCallbackDelivered)
	n := len(r.received())
	_, err := s.Pass(context.Background())
	require.NoError(t, err)
	require.Len(t, r.received(), n, "given up: never called again")
}

// A host taken off the list after the delivery was accepted is not called.
func TestSenderRechecksHosts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, http.StatusOK)
	d := f.end("cb-host-0001", r.URL)
	other, err := callback.ParseHosts("hooks.example.com")
	require.NoError(t, err)
	s := f.sender(Config{Hosts: other})
	passUntil(t, s, func() bool { return f.state(d).State == tracking.CallbackFailed })
	require.Empty(t, r.received())
	require.Contains(t, *f.state(d).LastError, "not in IMPORTD_CALLBACK_HOSTS")
}

// A sender that dies with a call claimed leaves it to another after the
// lease: the call is queued in PostgreSQL, not in the sender.
func TestSenderLeaseOutlivesACrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, http.StatusOK)
	d := f.end("cb-lease-0001", r.URL)
	claimed, err := store.CallbacksClaim(context.Background(), f.store.Pool(), time.Now(), 500*time.Millisecond, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1) // and the claimer dies
	s := f.sender(Config{})
	n, err := s.Pass(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "leased to the dead sender")
	passUntil(t, s, func() bool { return f.state(d).State == tracking.CallbackDelivered })
	require.Len(t, r.received(), 1)
}

// Canceling a delivery calls back as interrupted, then as completed once
// nothing is pending, in that order.
func TestQueuedWhenInterrupted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, http.StatusOK)
	ctx := context.Background()
	d, _, err := f.store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: "cb-cancel-0001", MerchantID: "m1", AcceptedAt: time.Now(),
		Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "TEST:cb-cancel-0001", CallbackURL: r.URL})
	require.NoError(t, err)
	ev := tracking.NewEvent(&d, "k1", tracking.CodeRecordReceived, "Record received")
	b := tracking.IngestBatch{To: 1, Events: []tracking.Event{ev}, Ops: []tracking.Operation{{ID: tracking.OperationID("m1", d.ReceiptID, 0),
		Line: 1, ResourceType: "Product", ResourceKey: "k1", State: tracking.StateProcessing, CreatedAt: time.Now(), Last: ev}}}
	b.Counts.Total = 1
	b.Counts.Count(tracking.StateProcessing, tracking.StageQueued, 1)
	require.NoError(t, f.store.IngestWrite(ctx, &d, b))
	require.NoError(t, f.store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 10))
	_, err = f.store.Cancel(ctx, &d)
	require.NoError(t, err)
	s := f.sender(Config{})
	passUntil(t, s, func() bool { return len(r.received()) >= 2 })
	var events []string
	for _, c := range r.received() {
		var b tracking.CallbackBody
		require.NoError(t, json.Unmarshal(c.body, &b))
		events = append(events, b.Event)
	}
	require.Equal(t, []string{"interrupted", "completed"}, events, "in the order they happened")
}

// A delivery without a callback URL queues nothing.
func TestNoCallbackURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	d := f.end("cb-none-0001", "")
	require.Nil(t, f.state(d))
	var n int
	require.NoError(t, f.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM callbacks`).Scan(&n))
	require.Zero(t, n)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := New(Config{}, f.store, nil)
	require.ErrorContains(t, err, "Secret")
	_, err = New(Config{Secret: secret, Concurrency: 100}, f.store, nil)
	require.ErrorContains(t, err, "Concurrency")
}
