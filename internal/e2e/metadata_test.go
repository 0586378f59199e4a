package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/headers"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// TestDeliveryMetadataAndInputs: metadata attached on NATS (publish's
// Delivery.Metadata) and over HTTP (headers and metadata[key]=value) is
// stored, returned on the job, in the /status body and the events, and
// filters the job list; metadata breaking the rules fails the delivery
// with INVALID_HEADER on NATS and is a 400 over HTTP. The raw inputs of the
// deliveries come back byte for byte, gzip as received.
func TestDeliveryMetadataAndInputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngestWith(ingest.Config{MaxInFlight: -1}) // ingest alone: the deliveries stay in flight, their bodies kept
	const token = "token-of-merchant-m1"
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js, Tokens: api.NewTokens(map[string]string{token: "m1"})}, nil)
	call := func(method, path string, hdr map[string]string, body []byte) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}

	// On NATS, with the Go publisher.
	events, err := e.nc.SubscribeSync("import.events.m1.meta-nats-1.>")
	require.NoError(t, err)
	body := []byte(productType("meta-type-1") + "\n" + productType("meta-type-2"))
	_, err = bus.PublishDelivery(context.Background(), e.js, bus.Delivery{Merchant: "m1", Receipt: "meta-nats-1", Data: "ProductType",
		Metadata: map[string]string{"Order-Id": "A-1", "batch": "7"}}, bytes.NewReader(body))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.statusName("meta-nats-1") == "Queued" }, 30*time.Second, 10*time.Millisecond)
	want := map[string]string{"order-id": "A-1", "batch": "7"}
	require.Equal(t, want, e.status("meta-nats-1").Delivery.Metadata)
	msg, err := events.NextMsg(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "import.events.m1.meta-nats-1.accepted", msg.Subject)
	var st tracking.StatusBody
	require.NoError(t, json.Unmarshal(msg.Data, &st))
	require.Equal(t, want, st.Delivery.Metadata)
	require.Equal(t, "A-1", msg.Header.Get(bus.HeaderMetadataPrefix+"order-id"))
	require.Equal(t, "7", msg.Header.Get(bus.HeaderMetadataPrefix+"batch"))

	rec := call(http.MethodGet, "/v1/imports/meta-nats-1/inputs", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.Equal(t, body, rec.Body.Bytes())
	require.Equal(t, "application/x-ndjson", rec.Header().Get("Content-Type"))

	// On NATS, breaking the rules: an ingestion failure saying why.
	bad := nats.NewMsg(bus.DeliverySubject("m1"))
	bad.Header.Set(bus.HeaderMsgID, "meta-bad-1")
	bad.Header.Set(bus.HeaderMetadataPrefix+"a.b", "x")
	bad.Data = body
	_, err = e.js.PublishMsg(context.Background(), bad)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.statusName("meta-bad-1") == "IngestionFailure" }, 30*time.Second, 10*time.Millisecond)
	ierrs := e.status("meta-bad-1").IngestionErrors
	require.Len(t, ierrs, 1)
	require.Equal(t, headers.CodeInvalidHeader, ierrs[0].Code)
	require.Equal(t, `metadata key "a.b" (header Import-Metadata-a.b) does not match ^[A-Za-z0-9_-]{1,64}$`, ierrs[0].Description)

	// Over HTTP: a header and a parameter, gzipped.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(body)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	rec = call(http.MethodPost, "/v1/imports?metadata[batch]=8", map[string]string{bus.HeaderMsgID: "meta-http-1", bus.HeaderData: "ProductType",
		"Import-Metadata-Erp": "sap", bus.HeaderEncoding: "gzip"}, gz.Bytes())
	require.Equal(t, http.StatusAccepted, rec.Code, "%s", rec.Body)
	require.Eventually(t, func() bool { return e.statusName("meta-http-1") == "Queued" }, 30*time.Second, 10*time.Millisecond)
	rec = call(http.MethodGet, "/v1/imports/meta-http-1", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var job api.Job
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &job))
	require.Equal(t, map[string]string{"batch": "8", "erp": "sap"}, job.Metadata)

	rec = call(http.MethodGet, "/v1/imports/meta-http-1/inputs", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	require.Equal(t, gz.Bytes(), rec.Body.Bytes(), "gzip as received")
	zr, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, body, plain)

	// The list, filtered.
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"metadata[batch]=7", []string{"meta-nats-1"}},
		{"metadata[erp]=sap&metadata[batch]=8", []string{"meta-http-1"}},
		{"metadata[erp]=sap&metadata[batch]=7", []string{}},
	} {
		rec := call(http.MethodGet, "/v1/imports?"+tt.query, nil, nil)
		require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
		var page api.Page[api.Job]
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		got := []string{}
		for _, j := range page.Items {
			got = append(got, j.ReceiptID)
		}
		require.Equal(t, tt.want, got, tt.query)
	}

	// Over HTTP, breaking the rules: 400 before anything is published.
	for _, tt := range []struct {
		query string
		hdr   map[string]string
		says  string
	}{
		{"", map[string]string{"Import-Metadata-K": strings.Repeat("v", 257)}, `metadata "k" is 257 bytes long, over the limit of 256`},
		{"?metadata[a.b]=x", nil, `metadata key "a.b" does not match`},
		{"?metadata[batch]=1", map[string]string{"Import-Metadata-Batch": "2"}, "metadata[batch] and Import-Metadata-Batch give different values"},
	} {
		rec := call(http.MethodPost, "/v1/imports"+tt.query, tt.hdr, body)
		require.Equal(t, http.StatusBadRequest, rec.Code, "%s", rec.Body)
		var p api.Problem
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		require.Contains(t, p.Detail, tt.says)
	}
}

// TestInputsUnderNATSAuthorization: the query service's user of the
// shipped deploy/nats/auth.conf may read a delivery's body back, from its
// message and from its object.
func TestInputsUnderNATSAuthorization(t *testing.T) {
	t.Parallel()
	e, connect := newAuthEnv(t)
	e.js = connect("importd-ingest", "ingest-secret-change-me")
	// The streams and the bucket before the upstream publishes: ingest
	// provisions them too, but as it starts, in the background.
	require.NoError(t, bus.Provision(context.Background(), e.js, bus.Config{}))
	e.startIngestWith(ingest.Config{MaxInFlight: -1}) // ingest alone: the deliveries stay in flight, their bodies kept
	const token = "token-of-merchant-m1"
	srv := api.NewServer(e.store, api.ServerConfig{JS: connect("importd-query", "query-secret-change-me"),
		Tokens: api.NewTokens(map[string]string{token: "m1"})}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	upstream := connect("upstream-m1", "m1-secret-change-me")
	small := []byte(productType("auth-in-type"))
	var big bytes.Buffer
	for i := 0; big.Len() <= bus.InlineLimit; i++ {
		fmt.Fprintln(&big, productType(fmt.Sprintf("auth-in-%06d", i)))
	}
	for receipt, body := range map[string][]byte{"auth-inputs-small": small, "auth-inputs-big": big.Bytes()} {
		_, err := bus.PublishDelivery(ctx, upstream, bus.Delivery{Merchant: "m1", Receipt: receipt, Data: "ProductType"}, bytes.NewReader(body))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return e.statusName(receipt) == "Queued" }, time.Minute, 20*time.Millisecond, receipt)
		req := httptest.NewRequest(http.MethodGet, "/v1/imports/"+receipt+"/inputs", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", receipt, rec.Body)
		require.True(t, bytes.Equal(body, rec.Body.Bytes()), receipt)
	}
}

// TestInputsKeptForTheRetention: once a delivery settles, ingest keeps its
// body in IMPORT_INPUTS and removes its message and object; the inputs are
// then read from there, for the delivery's whole retention. A merchant
// keeps at most its share: its body over the share is not kept (410,
// saying why), while another merchant's is, and the body over the share
// is removed all the same, so it holds no place of its merchant's waiting
// deliveries. The body of a delivery that failed ingestion is kept too.
func TestInputsKeptForTheRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	small := []byte(productType("kept-type-1") + "\n" + productType("kept-type-2") + "\n")
	var big bytes.Buffer
	for i := 0; big.Len() <= bus.InlineLimit; i++ {
		fmt.Fprintln(&big, productType(fmt.Sprintf("kept-big-%06d", i)))
	}
	// Room for a small body, not for the big one besides.
	share := int64(big.Len()) + int64(len(small)) - 1
	e.startIngestWith(ingest.Config{RedriveAfter: time.Second, // removeSettled every 250 ms
		Bus: bus.Config{Limits: bus.Limits{InputsBytesPerMerchant: share}}})
	e.startResolver(resolver.Config{})
	e.startImporter(importer.Config{})
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js, Tokens: api.NewTokens(map[string]string{"token-of-ma": "ma", "token-of-mb": "mb"})}, nil)
	inputs := func(token, receipt string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/imports/"+receipt+"/inputs", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	settle := func(merchant, receipt string, body []byte) tracking.Delivery {
		t.Helper()
		pub, err := bus.PublishDelivery(ctx, e.js, bus.Delivery{Merchant: merchant, Receipt: receipt, Data: "ProductType"}, bytes.NewReader(body))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return e.statusOf(merchant, receipt) == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond, receipt)
		var d tracking.Delivery
		require.Eventually(t, func() bool {
			d, err = e.store.DeliveryFind(ctx, merchant, receipt)
			require.NoError(t, err)
			return d.MessageRemoved
		}, 30*time.Second, 20*time.Millisecond, receipt)
		_, _, err = bus.NewBodies(e.js).Open(ctx, bus.Body{Merchant: merchant, Receipt: receipt, Source: d.Source, Object: pub.Object})
		require.ErrorIs(t, err, bus.ErrBodyGone, "%s: removed from IMPORT_DELIVERIES and IMPORT_PAYLOADS", receipt)
		return d
	}

	require.Equal(t, tracking.InputsKept, settle("ma", "kept-small-1", small).InputsState)
	rec := inputs("token-of-ma", "kept-small-1")
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.Equal(t, small, rec.Body.Bytes())

	require.Equal(t, tracking.InputsOverQuota, settle("ma", "kept-big-1", big.Bytes()).InputsState)
	rec = inputs("token-of-ma", "kept-big-1")
	require.Equal(t, http.StatusGone, rec.Code)
	require.Contains(t, rec.Body.String(), "IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT")

	require.Equal(t, tracking.InputsKept, settle("mb", "kept-big-2", big.Bytes()).InputsState, "another merchant's share is whole")
	rec = inputs("token-of-mb", "kept-big-2")
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.Equal(t, big.Bytes(), rec.Body.Bytes())
	require.Equal(t, http.StatusNotFound, inputs("token-of-ma", "kept-big-2").Code, "under the same authorization")

	// A delivery that failed ingestion with no record read: its body is
	// what its upstream most wants back, and is kept too.
	bad := nats.NewMsg(bus.DeliverySubject("mb"))
	bad.Header.Set(bus.HeaderMsgID, "kept-not-gzip")
	bad.Header.Set(bus.HeaderEncoding, "gzip")
	bad.Data = []byte("this is not gzip\n")
	_, err := e.js.PublishMsg(ctx, bad)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.statusOf("mb", "kept-not-gzip") == "IngestionFailure" }, time.Minute, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		d, err := e.store.DeliveryFind(ctx, "mb", "kept-not-gzip")
		require.NoError(t, err)
		return d.MessageRemoved
	}, 30*time.Second, 20*time.Millisecond)
	rec = inputs("token-of-mb", "kept-not-gzip")
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.Equal(t, "this is not gzip\n", rec.Body.String())
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"), "as received")
}

// TestInputsGivenUp: a body that cannot be written to IMPORT_INPUTS (here
// the bucket is gone) stays where it is for a while, and is then removed
// unkept (failed), so that it holds no place of its merchant's waiting
// deliveries for ever; /inputs then says so.
func TestInputsGivenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngestWith(ingest.Config{RedriveAfter: time.Second, KeepGiveUp: 2 * time.Second})
	e.startResolver(resolver.Config{})
	e.startImporter(importer.Config{})
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js, Tokens: api.NewTokens(map[string]string{"token-of-ma": "ma"})}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	settled := func(receipt string) tracking.Delivery {
		t.Helper()
		var d tracking.Delivery
		require.Eventually(t, func() bool {
			var err error
			d, err = e.store.DeliveryFind(ctx, "ma", receipt)
			return err == nil && d.MessageRemoved
		}, time.Minute, 20*time.Millisecond, receipt)
		return d
	}
	publish := func(receipt string) {
		t.Helper()
		_, err := bus.PublishDelivery(ctx, e.js, bus.Delivery{Merchant: "ma", Receipt: receipt, Data: "ProductType"},
			strings.NewReader(productType(receipt)))
		require.NoError(t, err)
	}
	publish("given-up-first")
	require.Equal(t, tracking.InputsKept, settled("given-up-first").InputsState, "kept while the bucket is there")

	require.NoError(t, e.js.DeleteObjectStore(ctx, bus.BucketInputs))
	publish("given-up-0001")
	require.Eventually(t, func() bool { return e.statusOf("ma", "given-up-0001") == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond)
	start := time.Now()
	d := settled("given-up-0001")
	require.Equal(t, tracking.InputsFailed, d.InputsState)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "kept trying first")
	req := httptest.NewRequest(http.MethodGet, "/v1/imports/given-up-0001/inputs", nil)
	req.Header.Set("Authorization", "Bearer token-of-ma")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusGone, rec.Code)
	require.Contains(t, rec.Body.String(), "writing it to the kept bodies failed")
}
