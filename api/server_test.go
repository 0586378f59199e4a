package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// fixture stores deliveries through the store API, as ingest does.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *tracking.Store
}

func newFixture(t *testing.T) *fixture {
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	return &fixture{t: t, pool: pool, store: store}
}

// deliver stores a delivery with one operation per key; keys starting with
// "bad" fail validation. finish: "" leaves it receiving, else the ingest state.
func (f *fixture) deliver(receipt, merchant string, keys []string, finish string, ierrs ...tracking.IngestionError) {
	ctx := context.Background()
	fk := "erp-" + receipt
	d, created, err := f.store.DeliveryBegin(ctx, tracking.Delivery{
		ReceiptID: receipt, MerchantID: merchant, AcceptedAt: time.Now(), Data: "Product", Format: "ndjson",
		ContractVersion: "1.0", ForeignKey: &fk, Source: "TEST:" + receipt,
		SkipErrors: true, // these tests are about the views; the error threshold has its own
	})
	require.NoError(f.t, err)
	require.True(f.t, created)
	var b tracking.IngestBatch
	for i, k := range keys {
		op := tracking.Operation{ID: tracking.OperationID(merchant, receipt, i), Seq: i, Line: i + 1, ResourceType: "Product", ResourceKey: k,
			State: tracking.StateProcessing, CreatedAt: time.Now()}
		ev := tracking.NewEvent(&d, k, tracking.CodeRecordReceived, "Record received")
		b.Events = append(b.Events, ev)
		op.Last = ev
		if strings.HasPrefix(k, "bad") {
			op.State = tracking.StateValidationFailed
			op.Errors = []catalog.Error{catalog.DataErr(catalog.CodeRequiredField, "name", "name is required")}
			op.Last = tracking.NewEvent(&d, k, tracking.CodeValidationFailed, "Validation failed: name is required")
			b.Events = append(b.Events, op.Last)
		}
		b.Ops = append(b.Ops, op)
		b.Counts.Total++
		b.Counts.Count(op.State, tracking.StageQueued, 1)
	}
	b.To = len(keys)
	if len(keys) > 0 {
		require.NoError(f.t, f.store.IngestWrite(ctx, &d, b))
	}
	if finish != "" {
		require.NoError(f.t, f.store.IngestFinish(ctx, &d, finish, ierrs, 100))
	}
}

func get(t *testing.T, srv http.Handler, path, token string) (int, []byte) {
	t.Helper()
	return send(t, srv, http.MethodGet, path, token)
}

func send(t *testing.T, srv http.Handler, method, path, token string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, body
}

func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestStatusEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := api.NewServer(f.store, api.ServerConfig{}, nil)
	f.deliver("receipt-queued", "m1", []string{"p1", "p2", "bad3"}, tracking.IngestDone)
	f.deliver("receipt-receiving", "m1", []string{"p1"}, "")
	f.deliver("receipt-empty", "m1", nil, tracking.IngestDone)
	f.deliver("receipt-failed", "m1", nil, tracking.IngestFailed, tracking.IngestionError{Code: "UNREADABLE_GZIP", Description: "not gzip"})

	code, body := get(t, srv, "/import/receipt-queued/status", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"CompletedUtc", "Delivery", "EstimatedCompletionUtc", "Products", "Status", "StatusCode"}, keysOf(t, body))
	var st map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, []string{"AcceptedUtc", "ContractVersion", "Data", "ForeignKey", "MerchantId"}, keysOf(t, st["Delivery"]))
	require.JSONEq(t, `{"Successful":0,"Pending":2,"Failed":1}`, string(st["Products"]))
	require.JSONEq(t, `"Queued"`, string(st["Status"]))
	require.JSONEq(t, `4`, string(st["StatusCode"]))
	require.JSONEq(t, `null`, string(st["CompletedUtc"]))
	var del tracking.DeliveryInfo
	require.NoError(t, json.Unmarshal(st["Delivery"], &del))
	require.Equal(t, "Product", del.Data)
	require.Equal(t, "1.0", del.ContractVersion)
	require.Equal(t, "m1", del.MerchantID)
	require.Equal(t, "erp-receipt-queued", *del.ForeignKey)
	require.WithinDuration(t, time.Now(), del.AcceptedUtc, time.Minute)
	require.True(t, strings.HasSuffix(string(must(json.Marshal(del.AcceptedUtc))), `Z"`), "UTC")

	tests := []struct {
		receipt    string
		httpCode   int
		status     string
		statusCode int
	}{
		{"receipt-receiving", 200, "Receiving", 2},
		{"receipt-empty", 200, "NoContent", 1},
		{"receipt-failed", 500, "IngestionFailure", 3},
	}
	for _, tt := range tests {
		code, body := get(t, srv, "/import/"+tt.receipt+"/status", "")
		require.Equal(t, tt.httpCode, code, tt.receipt)
		var b tracking.StatusBody
		require.NoError(t, json.Unmarshal(body, &b))
		require.Equal(t, tt.status, b.Status)
		require.Equal(t, tt.statusCode, b.StatusCode)
	}
	_, body = get(t, srv, "/import/receipt-failed/status", "")
	require.Contains(t, string(body), `"IngestionErrors":[{"code":"UNREADABLE_GZIP","description":"not gzip"}]`)

	for _, path := range []string{"/import/receipt-unknown/status", "/import/x/status", "/import/receipt-unknown/summary", "/import/receipt-unknown/p1"} {
		code, _ := get(t, srv, path, "")
		require.Equal(t, http.StatusNotFound, code, path)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSummaryEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := api.NewServer(f.store, api.ServerConfig{}, nil)
	var keys []string
	for i := 0; i < 2500; i++ {
		k := "p" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + "-" + itoa(i)
		if i%500 == 7 {
			k = "bad-" + itoa(i)
		}
		keys = append(keys, k)
	}
	f.deliver("summary-all", "m1", keys, tracking.IngestDone)
	f.deliver("summary-none", "m1", nil, "")

	code, body := get(t, srv, "/import/summary-all/summary", "")
	require.Equal(t, http.StatusOK, code)
	var sum struct {
		IsComplete             bool
		CompletedUtc           *time.Time
		EstimatedCompletionUtc *time.Time
		Delivery               tracking.DeliveryInfo
		Products               []json.RawMessage
	}
	require.NoError(t, json.Unmarshal(body, &sum), "streamed body must be valid JSON")
	require.Equal(t, []string{"CompletedUtc", "Delivery", "EstimatedCompletionUtc", "IsComplete", "Products"}, keysOf(t, body))
	require.False(t, sum.IsComplete)
	require.Len(t, sum.Products, 2500)
	require.Equal(t, []string{"Description", "ProductId", "Status", "StatusCode", "TrackingCode", "TrackingId"}, keysOf(t, sum.Products[0]))
	var first api.SummaryRow
	require.NoError(t, json.Unmarshal(sum.Products[0], &first))
	require.Equal(t, keys[0], first.ProductID)
	require.Equal(t, "Queued", first.Status)
	require.Equal(t, 0, first.StatusCode)
	require.Regexp(t, `^[0-9a-f]{32}$`, first.TrackingID)
	require.Equal(t, int(tracking.CodeRecordReceived), first.TrackingCode)

	code, body = get(t, srv, "/import/summary-all/summary?status=Failed", "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &sum))
	require.Len(t, sum.Products, 5)
	for _, p := range sum.Products {
		var row api.SummaryRow
		require.NoError(t, json.Unmarshal(p, &row))
		require.Equal(t, "Failed", row.Status)
		require.Equal(t, 4, row.StatusCode)
		require.Equal(t, int(tracking.CodeValidationFailed), row.TrackingCode)
		require.Contains(t, row.Description, "name is required")
	}
	code, _ = get(t, srv, "/import/summary-all/summary?status=queued", "")
	require.Equal(t, http.StatusOK, code, "filters are case-insensitive")
	code, _ = get(t, srv, "/import/summary-all/summary?status=Nope", "")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = get(t, srv, "/import/summary-none/summary", "")
	require.Equal(t, http.StatusNotFound, code, "nothing received yet")
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestHistoryEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := api.NewServer(f.store, api.ServerConfig{}, nil)
	f.deliver("history-1", "m1", []string{"good", "bad-1"}, tracking.IngestDone)
	code, body := get(t, srv, "/import/history-1/bad-1", "")
	require.Equal(t, http.StatusOK, code)
	var events []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &events))
	require.Len(t, events, 2)
	require.Equal(t, []string{"ChannelId", "DebugInformation", "MerchantId", "Message", "ProductId", "ReceiptId", "Timestamp", "TrackingCode", "TrackingId"},
		keysOf(t, must(json.Marshal(events[0]))))
	var evs []api.EventBody
	require.NoError(t, json.Unmarshal(body, &evs))
	require.Equal(t, int(tracking.CodeRecordReceived), evs[0].TrackingCode, "oldest first")
	require.Equal(t, int(tracking.CodeValidationFailed), evs[1].TrackingCode)
	require.Equal(t, "bad-1", *evs[0].ProductID)
	require.Equal(t, "history-1", evs[0].ReceiptID)
	require.False(t, evs[1].Timestamp.Before(evs[0].Timestamp))

	code, _ = get(t, srv, "/import/history-1/unknown", "")
	require.Equal(t, http.StatusNotFound, code)
}

func TestAuthAndIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tokens := api.NewTokens(map[string]string{"token-of-merchant-a": "ma", "token-of-merchant-b": "mb", "operator-token-123": "*"})
	srv := api.NewServer(f.store, api.ServerConfig{Tokens: tokens}, nil)
	f.deliver("receipt-of-a", "ma", []string{"p1"}, tracking.IngestDone)

	for _, path := range []string{"/import/receipt-of-a/status", "/import/receipt-of-a/summary", "/import/receipt-of-a/p1"} {
		code, _ := get(t, srv, path, "")
		require.Equal(t, http.StatusUnauthorized, code, path)
		code, _ = get(t, srv, path, "wrong-token-xxxxxxxx")
		require.Equal(t, http.StatusUnauthorized, code, path)
		code, _ = get(t, srv, path, "token-of-merchant-a")
		require.Equal(t, http.StatusOK, code, path)
		code, _ = get(t, srv, path, "operator-token-123")
		require.Equal(t, http.StatusOK, code, path)
		codeB, bodyB := get(t, srv, path, "token-of-merchant-b")
		codeU, bodyU := get(t, srv, strings.Replace(path, "receipt-of-a", "receipt-of-z", 1), "token-of-merchant-b")
		require.Equal(t, http.StatusNotFound, codeB, path)
		require.Equal(t, codeU, codeB, "another merchant's receipt looks exactly like an unknown one")
		require.Equal(t, strings.Replace(string(bodyU), "receipt-of-z", "receipt-of-a", 1), string(bodyB))
	}
	code, _ := get(t, srv, "/healthz", "")
	require.Equal(t, http.StatusOK, code)
}

func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := api.NewServer(f.store, api.ServerConfig{}, nil)
	f.deliver("metrics-1", "m1", []string{"p1"}, tracking.IngestDone)
	get(t, srv, "/import/metrics-1/status", "")
	get(t, srv, "/import/metrics-unknown/status", "")
	code, body := get(t, srv, "/readyz", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	code, body = get(t, srv, "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	// The status code is the number, as dashboards and alerts match on it.
	require.Contains(t, string(body), `importd_http_request_duration_seconds_count{code="200",route="GET /import/{receiptId}/status"}`)
	require.Contains(t, string(body), `importd_http_request_duration_seconds_count{code="404",route="GET /import/{receiptId}/status"}`)

	down := api.NewServer(f.store, api.ServerConfig{Ready: func(context.Context) error {
		return errors.New("postgresql: dial tcp 10.1.2.3:5432: connection refused")
	}}, nil)
	code, body = get(t, down, "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"status":"not ready"}`, string(body), "what is down is logged, never told to whoever asks")
}

// TestHistoryCapped: a record's history comes in pages of at most ?limit=
// events (DefaultHistoryLimit without it), still a CDON array; a Link
// header leads to the rest.
func TestHistoryCapped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := api.NewServer(f.store, api.ServerConfig{}, nil)
	keys := make([]string, api.DefaultHistoryLimit+1)
	for i := range keys {
		keys[i] = "shared-key" // every record one key: an event each
	}
	f.deliver("history-0001", "m1", keys, tracking.IngestDone)

	fetch := func(path string) ([]api.EventBody, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
		var events []api.EventBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &events))
		next := ""
		if l := rec.Header().Get("Link"); l != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
		return events, next
	}
	all, next := fetch("/import/history-0001/shared-key")
	require.Len(t, all, api.DefaultHistoryLimit, "capped")
	require.NotEmpty(t, next, "and the rest is linked")
	rest, next := fetch(next)
	require.Len(t, rest, 1)
	require.Empty(t, next)
	all = append(all, rest...)

	var paged []api.EventBody
	for path := "/import/history-0001/shared-key?limit=300"; path != ""; {
		var page []api.EventBody
		page, path = fetch(path)
		require.LessOrEqual(t, len(page), 300)
		paged = append(paged, page...)
	}
	require.Equal(t, all, paged, "pages in order, none twice, none missed")
	seen := map[string]bool{}
	for i, e := range all {
		require.False(t, seen[e.TrackingID])
		seen[e.TrackingID] = true
		if i > 0 {
			require.False(t, e.Timestamp.Before(all[i-1].Timestamp), "oldest first")
		}
	}

	code, _ := get(t, srv, "/import/history-0001/shared-key?limit=1001", "")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = get(t, srv, "/import/history-0001/shared-key?cursor=nonsense", "")
	require.Equal(t, http.StatusBadRequest, code)
	f.deliver("history-0002", "m1", []string{"other"}, tracking.IngestDone)
	_, next = fetch("/import/history-0001/shared-key?limit=1")
	code, _ = get(t, srv, strings.Replace(next, "history-0001", "history-0002", 1), "")
	require.Equal(t, http.StatusBadRequest, code, "a cursor of another delivery")
}
