package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// FuzzServer sends random methods, paths, queries and headers to the query
// service on a real store: it never panics and never answers 5xx, but for
// the documented 500 of /status for a delivery in IngestionFailure.
func FuzzServer(f *testing.F) {
	ctx := context.Background()
	store, err := tracking.NewStore(testenv.DB(f), tracking.StoreConfig{})
	require.NoError(f, err)
	deliver := func(receipt, merchant string, keys []string, state string, ierrs ...tracking.IngestionError) {
		d, _, err := store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: receipt, MerchantID: merchant, AcceptedAt: time.Now(),
			Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "FUZZ:" + receipt})
		require.NoError(f, err)
		var b tracking.IngestBatch
		for i, k := range keys {
			ev := tracking.NewEvent(&d, k, tracking.CodeRecordReceived, "Record received")
			b.Ops = append(b.Ops, tracking.Operation{ID: tracking.OperationID(merchant, receipt, i), Seq: i, Line: i + 1, ResourceType: "Product",
				ResourceKey: k, State: tracking.StateProcessing, CreatedAt: time.Now(), Last: ev})
			b.Events = append(b.Events, ev)
			b.Counts.Total++
			b.Counts.Count(tracking.StateProcessing, tracking.StageQueued, 1)
		}
		b.To = len(keys)
		if len(keys) > 0 {
			require.NoError(f, store.IngestWrite(ctx, &d, b))
		}
		require.NoError(f, store.IngestFinish(ctx, &d, state, ierrs, 10))
	}
	deliver("fuzz-queued-1", "m1", []string{"p-1", "p-2"}, tracking.IngestDone)
	deliver("fuzz-failed-1", "m1", nil, tracking.IngestFailed, tracking.IngestionError{Code: "UNREADABLE_GZIP", Description: "not gzip"})
	deliver("fuzz-other-1", "m2", []string{"q-1"}, tracking.IngestDone)
	open := api.NewServer(store, api.ServerConfig{}, nil)
	authed := api.NewServer(store, api.ServerConfig{Tokens: api.NewTokens(map[string]string{"tok-m1": "m1", "tok-op": "*"})}, nil)

	for _, seed := range []struct{ method, path, query, header, value, auth string }{
		{"GET", "/import/fuzz-queued-1/status", "", "Accept", "application/json", ""},
		{"GET", "/import/fuzz-failed-1/status", "", "", "", "tok-m1"},
		{"GET", "/import/fuzz-queued-1/summary", "status=Failed", "", "", "tok-op"},
		{"GET", "/import/fuzz-queued-1/p-1", "", "", "", "tok-m1"},
		{"GET", "/import/fuzz-other-1/q-1", "", "", "", "tok-m1"},
		{"GET", "/import/%00/status", "status=%ff", "Authorization", "Bearer \x00", ""},
		{"GET", "/import/" + strings.Repeat("a", 5000) + "/summary", "status=" + strings.Repeat("x", 100), "", "", "tok-op"},
		{"GET", "/import/fuzz-queued-1/'; DROP TABLE operations;--", "", "", "", ""},
		{"POST", "/import/fuzz-queued-1/status", "", "Content-Type", "text/plain", ""},
		{"GET", "/import/r\xff\x00/p\xfe", "", "", "", ""},
		{"GET", "/healthz", "", "", "", ""},
		{"GET", "/readyz", "", "", "", ""},
		{"GET", "/metrics", "", "", "", ""},
		{"HEAD", "/import//status", "", "", "", ""},
		{"GET", "/import/../../etc/passwd", "a=b&a=c", "X-Forwarded-For", "::1", "tok-m1"},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.header, seed.value, seed.auth)
	}
	f.Fuzz(func(t *testing.T, method, path, query, header, value, auth string) {
		u := &url.URL{Path: path, RawQuery: query}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, method, u.String(), nil)
		if err != nil {
			return // not a request a server could receive
		}
		if header != "" {
			req.Header.Set(header, value)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		for _, srv := range []http.Handler{open, authed} {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Result().Body)
			if rec.Code >= 500 {
				documented := rec.Code == http.StatusInternalServerError && strings.HasSuffix(req.URL.Path, "/status") &&
					strings.Contains(string(body), `"IngestionFailure"`)
				if !documented {
					t.Fatalf("%s %s: %d %s", method, u.String(), rec.Code, body)
				}
			}
		}
	})
}
