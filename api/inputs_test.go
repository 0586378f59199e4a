package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// TestV1Inputs: GET /v1/imports/{receiptId}/inputs answers a delivery's
// body byte for byte, from its message or its object, gzip kept as
// received with its Content-Encoding, the type of its format and its
// length; from IMPORT_INPUTS once settled and kept; 410 saying why when it
// is not kept; 404 for another merchant's, as for
// an unknown one; 503 without NATS.
func TestV1Inputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	tokens := api.NewTokens(map[string]string{tokenA: "ma", tokenB: "mb", tokenOperator: tracking.Operator})
	srv := api.NewServer(f.store, api.ServerConfig{Tokens: tokens, JS: js}, nil)
	ctx := context.Background()

	// publish publishes body as merchant's delivery receipt and stores the
	// delivery as ingest would: its source, object and encoding.
	publish := func(receipt, merchant, format string, gz bool, body []byte) bus.Published {
		t.Helper()
		pub, err := bus.PublishDelivery(ctx, js, bus.Delivery{Merchant: merchant, Receipt: receipt, Format: format, Gzip: gz}, bytes.NewReader(body))
		require.NoError(t, err)
		f.deliver(receipt, merchant, nil, tracking.IngestDone)
		enc := ""
		if gz {
			enc = "gzip"
		}
		f.exec(`UPDATE deliveries SET source = $2, object_name = nullif($3, ''), content_encoding = nullif($4, ''), format = $5 WHERE receipt_id = $1`,
			receipt, fmt.Sprintf("%s:%d", bus.StreamDeliveries, pub.Sequence), pub.Object, enc, format)
		return pub
	}
	ndjson := []byte("{\"key\":\"p1\"}\n{\"key\":\"p2\"}\n")
	var gzBody bytes.Buffer
	zw := gzip.NewWriter(&gzBody)
	_, err := zw.Write([]byte("key;title\np1;Första\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	var big bytes.Buffer
	for i := 0; big.Len() <= bus.InlineLimit; i++ {
		fmt.Fprintf(&big, "{\"key\":\"p%06d\"}\n", i)
	}
	publish("in-inline-1", "ma", "ndjson", false, ndjson)
	publish("in-gzip-01", "ma", "csv", true, gzBody.Bytes())
	pub := publish("in-object-1", "ma", "json", false, big.Bytes())
	require.NotEmpty(t, pub.Object, "through the object store")
	publish("in-other-1", "mb", "ndjson", false, ndjson)

	fetch := func(path, token string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	for _, tt := range []struct {
		receipt, token, ctype, encoding, filename string
		body                                      []byte
	}{
		{"in-inline-1", tokenA, "application/x-ndjson", "", "in-inline-1.ndjson", ndjson},
		{"in-gzip-01", tokenA, "text/csv", "gzip", "in-gzip-01.csv.gz", gzBody.Bytes()},
		{"in-object-1", tokenA, "application/json", "", "in-object-1.json", big.Bytes()},
		{"in-other-1", tokenOperator, "application/x-ndjson", "", "in-other-1.ndjson", ndjson},
	} {
		rec := fetch("/v1/imports/"+tt.receipt+"/inputs", tt.token)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", tt.receipt, rec.Body)
		require.Equal(t, tt.ctype, rec.Header().Get("Content-Type"), tt.receipt)
		require.Equal(t, tt.encoding, rec.Header().Get("Content-Encoding"), tt.receipt)
		require.Equal(t, fmt.Sprint(len(tt.body)), rec.Header().Get("Content-Length"), tt.receipt)
		require.Equal(t, `attachment; filename="`+tt.filename+`"`, rec.Header().Get("Content-Disposition"), tt.receipt)
		require.True(t, bytes.Equal(tt.body, rec.Body.Bytes()), "%s: the bytes as received", tt.receipt)
	}

	// Another merchant's delivery is as unknown as one that does not exist.
	for _, path := range []string{"/v1/imports/in-other-1/inputs", "/v1/imports/nope-0001/inputs"} {
		rec := fetch(path, tokenA)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
		requireProblem(t, http.StatusNotFound, "no delivery with receipt "+strings.Split(path, "/")[3], rec.Body.Bytes())
	}

	// A source naming another delivery's message is not this delivery's body.
	f.exec(`UPDATE deliveries SET source = (SELECT source FROM deliveries WHERE receipt_id = 'in-other-1') WHERE receipt_id = 'in-inline-1'`)
	rec := fetch("/v1/imports/in-inline-1/inputs", tokenA)
	require.Equal(t, http.StatusGone, rec.Code)
	requireProblem(t, http.StatusGone, "the body of delivery in-inline-1 is not kept: its message or object is gone (past the retention, or removed by hand)", rec.Body.Bytes())

	// Settled (ingest's removeSettled): from IMPORT_INPUTS when kept, also
	// when the delivery read says its message is still there; else 410,
	// saying why.
	settle := func(receipt string, keep bool, state string, removedAfter bool) {
		t.Helper()
		d, err := f.store.DeliveryFind(ctx, "ma", receipt)
		require.NoError(t, err)
		if keep {
			body, size, err := bus.NewBodies(js).Open(ctx, bus.Body{Merchant: "ma", Receipt: receipt, Source: d.Source, Object: d.ObjectName})
			require.NoError(t, err)
			require.NoError(t, bus.NewBodies(js).Keep(ctx, "ma", receipt, body, size))
			body.Close()
		}
		require.NoError(t, bus.NewBodies(js).Remove(ctx, d.Source, d.ObjectName))
		require.NoError(t, f.store.InputsSet(ctx, &d, state))
		if !removedAfter {
			require.NoError(t, f.store.DeliveryMessageRemoved(ctx, &d))
		}
	}
	settle("in-object-1", true, tracking.InputsKept, false)
	// Kept and removed, but not yet recorded as removed: as when the
	// request read the delivery just before ingest removed the message.
	settle("in-gzip-01", true, tracking.InputsKept, true)
	for _, tt := range []struct {
		receipt, encoding string
		body              []byte
	}{{"in-object-1", "", big.Bytes()}, {"in-gzip-01", "gzip", gzBody.Bytes()}} {
		rec := fetch("/v1/imports/"+tt.receipt+"/inputs", tokenA)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", tt.receipt, rec.Body)
		require.Equal(t, tt.encoding, rec.Header().Get("Content-Encoding"), tt.receipt)
		require.Equal(t, fmt.Sprint(len(tt.body)), rec.Header().Get("Content-Length"), tt.receipt)
		require.True(t, bytes.Equal(tt.body, rec.Body.Bytes()), "%s: kept byte for byte", tt.receipt)
	}
	jobInputs := map[string]string{tracking.InputsOverQuota: api.InputsOverQuota, tracking.InputsFull: api.InputsFull,
		tracking.InputsOff: api.InputsOff, tracking.InputsFailed: api.InputsFailed, tracking.InputsGone: api.InputsGone}
	require.Contains(t, fetch("/v1/imports/in-object-1", tokenA).Body.String(), `"inputs":"kept"`)
	for state, why := range map[string]string{
		tracking.InputsOverQuota: "its merchant's share of the kept bodies was used when it settled (IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT)",
		tracking.InputsFull:      "the kept bodies filled their bucket when it settled (IMPORTD_INPUTS_MAX_BYTES)",
		tracking.InputsOff:       "this importd keeps no bodies of settled deliveries (IMPORTD_INPUTS_MAX_BYTES=0)",
		tracking.InputsFailed:    "writing it to the kept bodies failed when it settled (see ingest's log)",
		tracking.InputsGone:      "its message or object was gone before it settled (past the retention, or removed by hand)",
	} {
		receipt := "in-not-" + state
		publish(receipt, "ma", "ndjson", false, ndjson)
		// An object under its name, as an earlier delivery with this
		// receipt may have left, is not its body.
		settle(receipt, true, state, false)
		rec := fetch("/v1/imports/"+receipt+"/inputs", tokenA)
		require.Equal(t, http.StatusGone, rec.Code, receipt)
		job := fetch("/v1/imports/"+receipt, tokenA)
		require.Equal(t, http.StatusOK, job.Code)
		require.Contains(t, job.Body.String(), `"inputs":"`+jobInputs[state]+`"`, receipt)
		requireProblem(t, http.StatusGone, "the body of delivery "+receipt+" is not kept: "+why, rec.Body.Bytes())
	}

	noJS := api.NewServer(f.store, api.ServerConfig{Tokens: tokens}, nil)
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/imports/in-other-1/inputs", nil)
	req.Header.Set("Authorization", "Bearer "+tokenB)
	noJS.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
