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
// length; 410 once the body is removed; 404 for another merchant's, as for
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

	// Removed once settled (ingest's removeSettled): 410, message or object.
	for _, receipt := range []string{"in-inline-1", "in-object-1"} {
		d, err := f.store.DeliveryFind(ctx, "ma", receipt)
		require.NoError(t, err)
		require.NoError(t, bus.RemoveDelivery(ctx, js, d.Source, d.ObjectName))
		rec := fetch("/v1/imports/"+receipt+"/inputs", tokenA)
		require.Equal(t, http.StatusGone, rec.Code, receipt)
		requireProblem(t, http.StatusGone, "the body of delivery "+receipt+
			" is no longer kept: importd removes a delivery's message and object once the delivery has settled (completed, or its operations all ended or parked)", rec.Body.Bytes())
	}
	// A source naming another delivery's message is not this delivery's body.
	f.exec(`UPDATE deliveries SET source = (SELECT source FROM deliveries WHERE receipt_id = 'in-other-1') WHERE receipt_id = 'in-gzip-01'`)
	require.Equal(t, http.StatusGone, fetch("/v1/imports/in-gzip-01/inputs", tokenA).Code)

	noJS := api.NewServer(f.store, api.ServerConfig{Tokens: tokens}, nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/imports/in-other-1/inputs", nil)
	req.Header.Set("Authorization", "Bearer "+tokenB)
	noJS.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
