package bus

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestStartEmbeddedPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = StartEmbedded(EmbeddedConfig{Listen: l.Addr().String(), StoreDir: t.TempDir()})
	require.ErrorIs(t, err, ErrPortInUse)
	require.ErrorContains(t, err, l.Addr().String()+" is taken by another process")
	require.ErrorContains(t, err, "IMPORTD_NATS_LISTEN")
}

func TestStartEmbedded(t *testing.T) {
	t.Parallel()
	ns, err := StartEmbedded(EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	require.NoError(t, err)
	defer ns.Shutdown()
	require.True(t, ns.JetStreamEnabled())
}

func TestMerchantOf(t *testing.T) {
	t.Parallel()
	require.Equal(t, "acme", MerchantOf("import.deliveries.acme"))
	require.Equal(t, "m-1", MerchantOf("import.work.resolve.m-1"))
	require.Equal(t, "acme", MerchantOf("catalog.events.acme.Category.created"))
	require.Equal(t, "", MerchantOf("catalog.events.acme"))
}

func TestProvisionIdempotent(t *testing.T) {
	t.Parallel()
	js := embeddedJetStream(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		require.NoError(t, Provision(ctx, js, Config{}), "round %d", i)
		_, err := IngestConsumer(ctx, js, Config{})
		require.NoError(t, err)
	}
	// A changed setting updates the streams in place.
	require.NoError(t, Provision(ctx, js, Config{Retention: 72 * time.Hour}))
	s, err := js.Stream(ctx, StreamDeliveries)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 72*time.Hour, info.Config.MaxAge)
	require.Zero(t, info.Config.Duplicates, "no deduplication: PostgreSQL dedupes per merchant")
	for _, name := range []string{StreamWork, StreamCatalog, StreamEvents} {
		_, err := js.Stream(ctx, name)
		require.NoError(t, err, name)
	}
	_, err = js.ObjectStore(ctx, BucketPayloads)
	require.NoError(t, err)
}

func TestReceiptOf(t *testing.T) {
	t.Parallel()
	tests := []struct{ msgID, merchant, want string }{
		{"receipt-1", "m1", "receipt-1"},                   // the contract's form
		{DeliveryID("m1", "receipt-1"), "m1", "receipt-1"}, // importd's publishers
		{"m2.receipt-1", "m1", "m2.receipt-1"},             // another merchant's: not a valid receipt
		{".receipt-1", "", ".receipt-1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ReceiptOf(tt.msgID, tt.merchant), tt.msgID)
	}
}

// TestDeliveriesNotDeduplicated: IMPORT_DELIVERIES keeps every message,
// whatever its Nats-Msg-Id: two merchants publishing the same receipt at
// once both have their delivery stored (and a merchant's copy is ignored by
// ingest, not by JetStream); a stream created with a duplicate window
// loses it once provisioned again.
func TestDeliveriesNotDeduplicated(t *testing.T) {
	t.Parallel()
	js := embeddedJetStream(t)
	ctx := context.Background()
	// As earlier versions created it: a window of 100ms.
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamDeliveries, Subjects: []string{"import.deliveries.*"}, Duplicates: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, Provision(ctx, js, Config{}))
	for _, subject := range []string{DeliverySubject("ma"), DeliverySubject("mb"), DeliverySubject("ma")} {
		msg := nats.NewMsg(subject)
		msg.Header.Set(HeaderMsgID, "erp-batch-0001")
		ack, err := js.PublishMsg(ctx, msg)
		require.NoError(t, err)
		require.False(t, ack.Duplicate, subject)
	}
	s, err := js.Stream(ctx, StreamDeliveries)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, info.State.Msgs)
}

// embeddedJetStream starts an embedded server of the test's own and
// returns a JetStream context on it.
func embeddedJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := StartEmbedded(EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}
