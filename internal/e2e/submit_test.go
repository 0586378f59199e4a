package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

func submit(t *testing.T, srv http.Handler, query, token string, headers map[string]string, body io.Reader, length int64) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/imports"+query, body)
	req.ContentLength = length
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	out, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, rec.Result().Header, out
}

func TestSubmitOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngestWith(ingest.Config{MaxInFlight: -1}) // ingest alone: nothing takes operations out of flight
	const merchantToken, operatorToken = "token-of-merchant-m1", "token-of-the-operator"
	srv := api.NewServer(e.store, api.ServerConfig{
		JS:             e.js,
		Tokens:         api.NewTokens(map[string]string{merchantToken: "m1", operatorToken: tracking.Operator}),
		MaxSubmitBytes: 2 << 20,
	}, nil)

	// Inline: a small body, with the headers a NATS publisher would set.
	body := productType("http-type-1") + "\n" + productType("http-type-2")
	code, hdr, out := submit(t, srv, "", merchantToken, map[string]string{
		bus.HeaderMsgID: "http-small-1", bus.HeaderData: "producttype", bus.HeaderForeignKey: "erp-7",
	}, strings.NewReader(body), int64(len(body)))
	require.Equal(t, http.StatusAccepted, code, "%s", out)
	require.Equal(t, "/v1/imports/http-small-1", hdr.Get("Location"))
	var res struct {
		ReceiptID string `json:"receiptId"`
		Status    string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, "http-small-1", res.ReceiptID)
	require.Eventually(t, func() bool { return e.statusName("http-small-1") == "Queued" }, 30*time.Second, 10*time.Millisecond)
	d := e.delivery("http-small-1")
	require.Equal(t, "m1", d.MerchantID)
	require.Equal(t, "ProductType", d.Data)
	require.Equal(t, "erp-7", *d.ForeignKey)

	// Large: over the inline limit, through the object store; no receipt given: one is assigned.
	var big bytes.Buffer
	for i := 0; big.Len() <= bus.InlineLimit; i++ {
		fmt.Fprintln(&big, productType(fmt.Sprintf("http-big-%06d", i)))
	}
	n := strings.Count(big.String(), "\n")
	code, _, out = submit(t, srv, "?merchantId=m2", operatorToken, map[string]string{bus.HeaderData: "ProductType"}, bytes.NewReader(big.Bytes()), int64(big.Len()))
	require.Equal(t, http.StatusAccepted, code, "%s", out)
	require.NoError(t, json.Unmarshal(out, &res))
	require.True(t, bus.ValidReceipt(res.ReceiptID))
	require.Eventually(t, func() bool { return e.statusName(res.ReceiptID) == "Queued" }, time.Minute, 20*time.Millisecond)
	d = e.delivery(res.ReceiptID)
	require.Equal(t, "m2", d.MerchantID)
	require.NotEmpty(t, d.ObjectName, "through the object store")
	require.Equal(t, int64(n), e.status(res.ReceiptID).Products.Pending)

	// The same receipt again is a no-op, as on NATS.
	code, _, out = submit(t, srv, "", merchantToken, map[string]string{bus.HeaderMsgID: "http-small-1", bus.HeaderData: "ProductType"},
		strings.NewReader(body), int64(len(body)))
	require.Equal(t, http.StatusAccepted, code)
	require.Contains(t, string(out), `"duplicate":true`)

	// Refusals.
	over := bytes.Repeat([]byte("x"), 2<<20+1)
	tests := []struct {
		name    string
		query   string
		token   string
		headers map[string]string
		body    io.Reader
		length  int64
		code    int
		says    string
	}{
		{"no token", "", "", nil, strings.NewReader("{}"), 2, 401, "token"},
		{"declared over the limit", "", merchantToken, nil, bytes.NewReader(over), int64(len(over)), 413, "limit of 2097152 bytes"},
		{"streamed over the limit", "", merchantToken, nil, bytes.NewReader(over), -1, 413, "limit of 2097152 bytes"},
		{"unknown data", "", merchantToken, map[string]string{bus.HeaderData: "Shoe"}, strings.NewReader("{}"), 2, 400, "Import-Data"},
		{"unknown format", "", merchantToken, map[string]string{bus.HeaderFormat: "xml"}, strings.NewReader("{}"), 2, 400, "Import-Format"},
		{"bad receipt", "", merchantToken, map[string]string{bus.HeaderMsgID: "short"}, strings.NewReader("{}"), 2, 400, "Nats-Msg-Id"},
		{"bad skip", "", merchantToken, map[string]string{bus.HeaderSkipErrors: "maybe"}, strings.NewReader("{}"), 2, 400, "Import-Skip-Errors"},
		// Ingest's own limit, not a looser one: a 202 here would be an IngestionFailure later.
		{"foreign key over ingest's limit", "", merchantToken, map[string]string{bus.HeaderForeignKey: strings.Repeat("k", 300)}, strings.NewReader("{}"), 2, 400, "Import-Foreign-Key is 300 bytes long, over the limit of 256"},
		{"an object named", "", merchantToken, map[string]string{bus.HeaderObject: "m1.receipt-1.00"}, strings.NewReader("{}"), 2, 400, "Import-Object"},
		{"bad encoding", "", merchantToken, map[string]string{bus.HeaderEncoding: "br"}, strings.NewReader("{}"), 2, 400, "Content-Encoding"},
		{"operator without merchant", "", operatorToken, nil, strings.NewReader("{}"), 2, 400, "merchantId"},
		{"another merchant", "?merchantId=m2", merchantToken, nil, strings.NewReader("{}"), 2, 403, "merchant m1"},
	}
	for _, tt := range tests {
		code, _, out := submit(t, srv, tt.query, tt.token, tt.headers, tt.body, tt.length)
		require.Equal(t, tt.code, code, "%s: %s", tt.name, out)
		require.Contains(t, string(out), tt.says, tt.name)
	}

	// Without NATS the service says it cannot publish.
	noJS := api.NewServer(e.store, api.ServerConfig{}, nil)
	code, _, _ = submit(t, noJS, "?merchantId=m1", "", nil, strings.NewReader("{}"), 2)
	require.Equal(t, http.StatusServiceUnavailable, code)
}
