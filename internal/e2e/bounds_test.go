package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
)

// TestMerchantBound: a merchant with as many deliveries not completed as it
// may is refused, on NATS and over HTTP, while another merchant goes on;
// deliveries read but not completed keep their places (a re-drive reads
// their messages again); once they complete the merchant may publish again,
// a copy published again takes no place, and nothing accepted was dropped.
func TestMerchantBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	busCfg := bus.Config{Limits: bus.Limits{WaitingDeliveries: 2, PayloadsBytes: 4 << 20}}
	require.NoError(t, bus.Provision(ctx, e.js, busCfg))
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js,
		Tokens: api.NewTokens(map[string]string{"token-of-merchant-m1": "m1"})}, nil)

	publish := func(merchant, receipt string) error {
		_, err := bus.PublishDelivery(ctx, e.js, bus.Delivery{Merchant: merchant, Receipt: receipt, Data: "ProductType"},
			strings.NewReader(productType("pt-"+receipt)))
		return err
	}
	require.NoError(t, publish("m1", "bound-m1-0001"))
	require.NoError(t, publish("m1", "bound-m1-0002"))
	err := publish("m1", "bound-m1-0003")
	require.Error(t, err, "a third delivery waiting for ingest")
	require.True(t, bus.IsStreamFull(err), "%v", err)
	require.Contains(t, err.Error(), "maximum messages per subject exceeded")
	require.NoError(t, publish("m2", "bound-m2-0001"), "another merchant goes on")

	body := productType("pt-http")
	code, hdr, out := submit(t, srv, "", "token-of-merchant-m1", map[string]string{bus.HeaderData: "ProductType"}, strings.NewReader(body), int64(len(body)))
	require.Equal(t, http.StatusTooManyRequests, code, "%s", out)
	require.Contains(t, string(out), "merchant m1 has as many deliveries waiting for ingest or in flight as it may")
	require.NotEmpty(t, hdr.Get("Retry-After"))

	// A body too large for what the bucket may hold: refused, not stored.
	big := bytes.Repeat([]byte(productType("pt-big")+"\n"), (5<<20)/len(productType("pt-big")))
	_, err = bus.PublishDelivery(ctx, e.js, bus.Delivery{Merchant: "m2", Receipt: "bound-m2-big1"}, bytes.NewReader(big))
	require.Error(t, err)
	require.True(t, bus.IsStreamFull(err), "%v", err)

	// Ingest reads them; read, they still hold their places.
	// Its re-drive loop, which removes what is done, passes every 250 ms.
	e.startIngestWith(ingest.Config{Bus: busCfg, MaxInFlight: -1, RedriveAfter: time.Second})
	for _, r := range []string{"bound-m1-0001", "bound-m1-0002", "bound-m2-0001"} {
		require.Eventually(t, func() bool { return e.statusName(r) == "Queued" }, time.Minute, 10*time.Millisecond, r)
	}
	err = publish("m1", "bound-m1-0003")
	require.True(t, bus.IsStreamFull(err), "read but not completed: %v", err)

	// Completed, their messages go: m1 has room again. (Every role
	// provisions the streams with its own limits: all the same.)
	rc := noSweep
	rc.Bus = busCfg
	e.startResolver(rc)
	e.startImporter(importer.Config{Bus: busCfg})
	for _, r := range []string{"bound-m1-0001", "bound-m1-0002", "bound-m2-0001"} {
		require.Eventually(t, func() bool { return e.statusName(r) == "CompletedSuccessfully" }, time.Minute, 10*time.Millisecond, r)
	}
	require.Eventually(t, func() bool { return publish("m1", "bound-m1-0003") == nil }, time.Minute, 50*time.Millisecond)
	require.Eventually(t, func() bool { return e.statusName("bound-m1-0003") == "CompletedSuccessfully" }, time.Minute, 10*time.Millisecond)

	// Publishing a receipt ingest has read again stays a no-op.
	require.NoError(t, publish("m1", "bound-m1-0001"))
	time.Sleep(500 * time.Millisecond)
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&n))
	require.Equal(t, 4, n)
	// Nothing of m1's is left in the stream: the copy went at once.
	stream, err := e.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.DeliverySubject("m1")))
		return err == nil && info.State.Subjects[bus.DeliverySubject("m1")] == 0
	}, 30*time.Second, 50*time.Millisecond)
}

// TestWorkStreamFull: ingest publishing work into a full IMPORT_WORK waits
// and retries; every record reaches the resolver's subject once there is room.
func TestWorkStreamFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	busCfg := bus.Config{AckWait: 2 * time.Second, Limits: bus.Limits{WorkBytes: 64 << 10}}
	require.NoError(t, bus.Provision(ctx, e.js, busCfg))
	const n = 600
	var recs []string
	for i := range n {
		noise := make([]byte, 200) // work messages are compressed: names that do not compress
		_, _ = rand.Read(noise)
		recs = append(recs, fmt.Sprintf(`{"key":"full-%04d","name":%q}`, i, hex.EncodeToString(noise)))
	}
	msg := nats.NewMsg(bus.DeliverySubject("m1"))
	msg.Header.Set(bus.HeaderMsgID, "work-full-0001")
	msg.Header.Set(bus.HeaderData, "ProductType")
	msg.Data = []byte(strings.Join(recs, "\n"))
	_, err := e.js.PublishMsg(ctx, msg)
	require.NoError(t, err)
	e.startIngestWith(ingest.Config{Bus: busCfg, MaxInFlight: -1, BatchSize: 100})

	// The stream fills; ingest waits instead of losing work.
	work, err := e.js.Stream(ctx, bus.StreamWork)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := work.Info(ctx)
		require.NoError(t, err)
		return info.State.Bytes > 32<<10
	}, time.Minute, 100*time.Millisecond)
	time.Sleep(2 * time.Second)
	require.Equal(t, "Receiving", e.statusName("work-full-0001"), "not all of it fits")

	// A consumer takes the work out; every operation arrives, once each.
	cons, err := e.js.CreateOrUpdateConsumer(ctx, bus.StreamWork, jetstream.ConsumerConfig{
		Durable: bus.ConsumerResolve, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "import.work.resolve.*"})
	require.NoError(t, err)
	seen := map[string]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(seen) < n && time.Now().Before(deadline) {
		batch, err := cons.Fetch(50, jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			wb, err := bus.DecodeWork(m.Data())
			require.NoError(t, err)
			for _, op := range wb.Ops {
				seen[op.Key] = true
			}
			require.NoError(t, m.Ack())
		}
	}
	require.Len(t, seen, n)
	require.Eventually(t, func() bool { return e.statusName("work-full-0001") != "Receiving" }, time.Minute, 20*time.Millisecond)
}

// TestParkedDeliveryFreesItsPlace: a delivery whose records all wait for
// references no longer holds its merchant's place in IMPORT_DELIVERIES
// (parked records are stored, nothing reads its body again), and its
// records are still imported once the references exist.
func TestParkedDeliveryFreesItsPlace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	busCfg := bus.Config{Limits: bus.Limits{WaitingDeliveries: 1}}
	require.NoError(t, bus.Provision(ctx, e.js, busCfg))
	e.startIngestWith(ingest.Config{Bus: busCfg, RedriveAfter: time.Second})
	// Every role provisions the streams with its own limits: all the same.
	rc := noSweep
	rc.Bus = busCfg
	e.startResolver(rc)
	e.startImporter(importer.Config{Bus: busCfg})

	e.deliver("m1", "parked-place-1", catalog.Product, product("shirt-1", "apparel"))
	e.waitState("parked-place-1", "shirt-1", "unresolved", 30*time.Second)
	// Its place comes free within a pass of ingest's re-drive loop.
	require.Eventually(t, func() bool {
		_, err := bus.PublishDelivery(ctx, e.js, bus.Delivery{Merchant: "m1", Receipt: "parked-place-2", Data: "ProductType"},
			strings.NewReader(productType("apparel")))
		return err == nil
	}, 30*time.Second, 100*time.Millisecond)
	e.waitState("parked-place-1", "shirt-1", "imported", 30*time.Second)
	require.Eventually(t, func() bool { return e.statusName("parked-place-1") == "CompletedSuccessfully" }, 30*time.Second, 10*time.Millisecond)
}
