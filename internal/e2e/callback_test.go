package e2e

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

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/callback"
	"github.com/importd/importd/callback/sender"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// callbacks is a receiver of callbacks that checks each signature.
type callbacks struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]tracking.CallbackBody // by receipt
}

func newCallbacks(t *testing.T, secret []byte) *callbacks {
	c := &callbacks{bodies: map[string][]tracking.CallbackBody{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := callback.Verify(secret, r.Header.Get(callback.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("callback with a bad signature: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b tracking.CallbackBody
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("callback body: %v", err)
		}
		c.mu.Lock()
		c.bodies[b.ReceiptID] = append(c.bodies[b.ReceiptID], b)
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *callbacks) of(receipt string) []tracking.CallbackBody {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tracking.CallbackBody(nil), c.bodies[receipt]...)
}

func TestCallbackEndToEnd(t *testing.T) {
	t.Parallel()
	secret := []byte("e2e-secret-of-enough-bytes")
	hosts, err := callback.ParseHosts("127.0.0.1")
	require.NoError(t, err)
	e := newEnv(t)
	e.startIngestWith(ingest.Config{CallbackHosts: hosts})
	e.startResolver(noSweep)
	e.startWriter()
	s, err := sender.New(sender.Config{Secret: secret, Hosts: hosts, Poll: 50 * time.Millisecond}, e.store, e.log)
	require.NoError(t, err)
	e.run("sender", func(ctx context.Context) error { s.Run(ctx); return nil })
	recv := newCallbacks(t, secret)
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js, CallbackHosts: hosts}, nil)

	// Published on NATS with the header.
	msg := nats.NewMsg(bus.DeliverySubject("m1"))
	msg.Header.Set(bus.HeaderMsgID, "cb-nats-0001")
	msg.Header.Set(bus.HeaderData, string(catalog.ProductType))
	msg.Header.Set(bus.HeaderCallbackURL, recv.URL+"/hooks/importd?token=secret-of-the-receiver")
	msg.Data = []byte(productType("cb-type-1") + "\n" + productType("cb-type-2"))
	_, err = e.js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(recv.of("cb-nats-0001")) > 0 }, 30*time.Second, 20*time.Millisecond)
	got := recv.of("cb-nats-0001")
	require.Len(t, got, 1)
	require.Equal(t, "completed", got[0].Event)
	require.Equal(t, "CompletedSuccessfully", got[0].Status)
	require.EqualValues(t, 2, got[0].Products.Successful)

	// The job object shows it, without the URL's path and query.
	require.Eventually(t, func() bool {
		code, body := getJSON(t, srv, "/v1/imports/cb-nats-0001")
		return code == http.StatusOK && strings.Contains(body, `"state":"delivered"`)
	}, 10*time.Second, 20*time.Millisecond)
	_, body := getJSON(t, srv, "/v1/imports/cb-nats-0001")
	var job api.Job
	require.NoError(t, json.Unmarshal([]byte(body), &job))
	require.NotNil(t, job.Callback)
	require.Equal(t, strings.TrimPrefix(recv.URL, "http://"), job.Callback.Host)
	require.Equal(t, 1, job.Callback.Attempts)
	require.Equal(t, http.StatusOK, *job.Callback.LastStatusCode)
	require.NotContains(t, body, "secret-of-the-receiver")

	// Submitted over HTTP with callbackUrl.
	records := productType("cb-type-3")
	code, _, out := submit(t, srv, "?merchantId=m1&callbackUrl="+recv.URL+"/http", "", map[string]string{
		bus.HeaderMsgID: "cb-http-0001", bus.HeaderData: "ProductType"}, strings.NewReader(records), int64(len(records)))
	require.Equal(t, http.StatusAccepted, code, "%s", out)
	require.Eventually(t, func() bool { return len(recv.of("cb-http-0001")) > 0 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "completed", recv.of("cb-http-0001")[0].Event)

	// A host not in the list: refused over HTTP, a failed ingestion on NATS.
	code, _, out = submit(t, srv, "?merchantId=m1&callbackUrl=https://hooks.example.com/x", "", map[string]string{
		bus.HeaderData: "ProductType"}, strings.NewReader(records), int64(len(records)))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(out), "IMPORTD_CALLBACK_HOSTS")
	msg = nats.NewMsg(bus.DeliverySubject("m1"))
	msg.Header.Set(bus.HeaderMsgID, "cb-nats-0002")
	msg.Header.Set(bus.HeaderData, string(catalog.ProductType))
	msg.Header.Set(bus.HeaderCallbackURL, "https://hooks.example.com/x")
	msg.Data = []byte(records)
	_, err = e.js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.statusName("cb-nats-0002") == "IngestionFailure" }, 30*time.Second, 20*time.Millisecond)
	st := e.status("cb-nats-0002")
	require.Len(t, st.IngestionErrors, 1)
	require.Equal(t, "INVALID_HEADER", st.IngestionErrors[0].Code)
	require.Contains(t, st.IngestionErrors[0].Description, "IMPORTD_CALLBACK_HOSTS")
	require.Empty(t, e.delivery("cb-nats-0002").CallbackURL, "a refused URL is never called")

	// A failed ingestion with an allowed URL is called back as failed.
	msg = nats.NewMsg(bus.DeliverySubject("m1"))
	msg.Header.Set(bus.HeaderMsgID, "cb-nats-0003")
	msg.Header.Set(bus.HeaderData, string(catalog.ProductType))
	msg.Header.Set(bus.HeaderFormat, "xml")
	msg.Header.Set(bus.HeaderCallbackURL, recv.URL+"/failed")
	_, err = e.js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(recv.of("cb-nats-0003")) > 0 }, 30*time.Second, 20*time.Millisecond)
	failed := recv.of("cb-nats-0003")[0]
	require.Equal(t, "failed", failed.Event)
	require.Equal(t, "IngestionFailure", failed.Status)
	require.Equal(t, "UNKNOWN_FORMAT", failed.IngestionErrors[0].Code)
}

func getJSON(t *testing.T, srv http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}
