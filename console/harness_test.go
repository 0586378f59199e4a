package console_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/api"
	"github.com/importd/importd/callback"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/console"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

const (
	tokenOperator = "operator-token-0123456789"
	tokenM1       = "merchant-one-token-0123"
	tokenM2       = "merchant-two-token-0123"
)

// env is the whole pipeline (ingest, resolver, importer) on a fresh
// database and NATS server, with the query service and its console on an
// httptest server.
type env struct {
	// failing makes the importer's every write fail as transient, until
	// its operations are rejected.
	failing atomic.Bool
	t       testing.TB
	js      jetstream.JetStream
	store   *tracking.Store
	srv     *httptest.Server
}

func newEnv(t testing.TB, tokens *api.Tokens) *env {
	t.Helper()
	pool := testenv.DB(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, store.EnsurePartitions(context.Background()))
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	e := &env{t: t, js: js, store: store}
	hooks, err := callback.ParseHosts("hooks.example.com")
	require.NoError(t, err)
	in, err := ingest.New(ingest.Config{CallbackHosts: hooks}, store, js, log)
	require.NoError(t, err)
	e.run(in.Run)
	rs, err := resolver.New(resolver.Config{SweepInterval: time.Hour}, store, js, log)
	require.NoError(t, err)
	e.run(rs.Run)
	im, err := importer.New(importer.Config{Target: failingTarget{Store: catalog.NewStore(pool), on: &e.failing}, RetryInitial: 20 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, RetryWindow: 200 * time.Millisecond}, store, js, log)
	require.NoError(t, err)
	e.run(im.Run)

	srv := api.NewServer(store, api.ServerConfig{Tokens: tokens, JS: js, Ready: func(context.Context) error { return nil }}, log)
	ui, err := console.New(console.Config{SampleEvery: 200 * time.Millisecond, Window: time.Minute, Refresh: 500 * time.Millisecond, PageSize: 20}, srv.Console(), log)
	require.NoError(t, err)
	srv.HandleUI(console.Prefix, ui)
	e.run(ui.Run)
	e.srv = httptest.NewServer(srv)
	t.Cleanup(e.srv.Close)
	return e
}

// failingTarget is the catalog, failing every write while on is set.
type failingTarget struct {
	*catalog.Store
	on *atomic.Bool
}

var errFailing = fmt.Errorf("test: the catalog is failing: %w", catalog.ErrTransient)

func (f failingTarget) Apply(ctx context.Context, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	if f.on.Load() {
		return nil, errFailing
	}
	return f.Store.Apply(ctx, merchant, recs)
}

func (f failingTarget) ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	if f.on.Load() {
		return nil, errFailing
	}
	return f.Store.ApplyTx(ctx, tx, merchant, recs)
}

func (e *env) run(fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			e.t.Errorf("pipeline: %v", err)
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// deliver publishes records (one JSON object a line) as a delivery.
func (e *env) deliver(merchant, receipt string, t catalog.ResourceType, records ...string) {
	e.t.Helper()
	e.deliverWith(merchant, receipt, t, nil, records...)
}

// deliverWith is deliver with more headers.
func (e *env) deliverWith(merchant, receipt string, t catalog.ResourceType, hdr map[string]string, records ...string) {
	e.t.Helper()
	msg := nats.NewMsg(bus.DeliverySubject(merchant))
	for k, v := range hdr {
		msg.Header.Set(k, v)
	}
	msg.Header.Set(bus.HeaderMsgID, receipt)
	msg.Header.Set(bus.HeaderData, string(t))
	msg.Data = []byte(strings.Join(records, "\n"))
	_, err := e.js.PublishMsg(context.Background(), msg)
	require.NoError(e.t, err)
}

// counts returns a delivery's counts, zero before it is known.
func (e *env) counts(merchant, receipt string) tracking.Counts {
	_, c, _ := e.store.DeliveryCounts(context.Background(), merchant, receipt)
	return c
}

func (e *env) waitCounts(merchant, receipt string, cond func(tracking.Counts) bool) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return cond(e.counts(merchant, receipt)) }, time.Minute, 50*time.Millisecond,
		"delivery %s: %+v", receipt, e.counts(merchant, receipt))
}

func productType(key string) string { return fmt.Sprintf(`{"key":%q,"name":%q}`, key, key) }

func product(key, productType string, categories ...string) string {
	cats := make([]string, len(categories))
	for i, c := range categories {
		cats[i] = fmt.Sprintf(`{"key":%q}`, c)
	}
	return fmt.Sprintf(`{"key":%q,"productType":{"key":%q},"name":{"en":%q},"slug":{"en":%q},"categories":[%s],"masterVariant":{"sku":"sku-%s"}}`,
		key, productType, key, key, strings.Join(cats, ","), key)
}

// invalid is a product record that fails validation: it has no name.
func invalid(key string) string {
	return fmt.Sprintf(`{"key":%q,"productType":{"key":"shirt"},"slug":{"en":%q}}`, key, key)
}
