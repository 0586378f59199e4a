package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/api"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// TestRolesUnderNATSAuthorization runs every role as its own user of the
// shipped deploy/nats/auth.conf, and an upstream of m1 as its user: the
// permissions each role gets are enough for the whole pipeline.
func TestRolesUnderNATSAuthorization(t *testing.T) {
	t.Parallel()
	e, connect := newAuthEnv(t)

	e.js = connect("importd-ingest", "ingest-secret-change-me")
	// Its re-drive loop, which removes the bodies of deliveries done with,
	// passes every 250 ms.
	e.startIngestWith(ingest.Config{RedriveAfter: time.Second})
	e.js = connect("importd-resolve", "resolve-secret-change-me")
	e.startResolver(resolver.Config{})
	e.js = connect("importd-import", "import-secret-change-me")
	e.startImporter(importer.Config{})
	srv := api.NewServer(e.store, api.ServerConfig{JS: connect("importd-query", "query-secret-change-me"),
		Tokens: api.NewTokens(map[string]string{"token-of-merchant-m1": "m1"})}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	upstream := connect("upstream-m1", "m1-secret-change-me")
	_, err := bus.PublishDelivery(ctx, upstream, bus.Delivery{Merchant: "m1", Receipt: "auth-types-0001", Data: "ProductType"},
		strings.NewReader(productType("auth-type")))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.statusName("auth-types-0001") == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond)

	// Products through the object store (the upstream's body), then over HTTP (the query role's).
	var big bytes.Buffer
	n := 0
	for ; big.Len() <= bus.InlineLimit; n++ {
		fmt.Fprintln(&big, product(fmt.Sprintf("auth-p-%05d", n), "auth-type"))
	}
	pub, err := bus.PublishDelivery(ctx, upstream, bus.Delivery{Merchant: "m1", Receipt: "auth-products-0001"}, bytes.NewReader(big.Bytes()))
	require.NoError(t, err)
	require.NotEmpty(t, pub.Object)
	body := product("auth-http-1", "auth-type")
	code, _, out := submit(t, srv, "", "token-of-merchant-m1", map[string]string{bus.HeaderMsgID: "auth-http-0001"}, strings.NewReader(body), int64(len(body)))
	require.Equal(t, http.StatusAccepted, code, "%s", out)
	for _, r := range []string{"auth-products-0001", "auth-http-0001"} {
		require.Eventually(t, func() bool { return e.statusName(r) == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond, r)
	}
	require.Equal(t, int64(n), e.status("auth-products-0001").Products.Successful)

	// Done with, the delivery's message and object are removed by ingest.
	obs, err := e.js.ObjectStore(ctx, bus.BucketPayloads)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := obs.GetInfo(ctx, pub.Object)
		return bus.IsObjectNotFound(err)
	}, 30*time.Second, 50*time.Millisecond, "object %s", pub.Object)

	// Kept first in IMPORT_INPUTS, under ingest's permissions, and read
	// from there by the query service's user.
	for receipt, want := range map[string]string{"auth-types-0001": productType("auth-type"), "auth-products-0001": big.String(), "auth-http-0001": body} {
		require.Eventually(t, func() bool { return e.delivery(receipt).MessageRemoved }, 30*time.Second, 50*time.Millisecond, receipt)
		require.Equal(t, tracking.InputsKept, e.delivery(receipt).InputsState, receipt)
		req := httptest.NewRequest(http.MethodGet, "/v1/imports/"+receipt+"/inputs", nil)
		req.Header.Set("Authorization", "Bearer token-of-merchant-m1")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", receipt, rec.Body)
		require.Equal(t, want, rec.Body.String(), receipt)
	}
}

// newAuthEnv is an env without a NATS connection of its own, on a NATS
// server with the shipped deploy/nats/auth.conf, and connect, which
// connects as one of its users and fails the test on any permission
// violation of that connection.
func newAuthEnv(t *testing.T) (*env, func(user, password string) jetstream.JetStream) {
	t.Helper()
	ns := testenv.NATSWithConfig(t, "../../deploy/nats/nats.conf")
	connect := func(user, password string) jetstream.JetStream {
		url := strings.Replace(ns.ClientURL(), "nats://", "nats://"+user+":"+password+"@", 1)
		nc, err := bus.Connect(url, user, bus.Auth{}, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
		require.NoError(t, err)
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			t.Errorf("%s: %v", user, err) // a permission violation
		})
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return js
	}
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, store.EnsurePartitions(context.Background()))
	e := &env{t: t, pool: pool, store: store, log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	return e, connect
}
