package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// TestProvisionBoundsExistingStreams: streams created without bounds (by
// an earlier version) get them when a role starts, and a publish over a
// bound is refused with an error IsStreamFull recognises.
func TestProvisionBoundsExistingStreams(t *testing.T) {
	t.Parallel()
	ns := testenv.NATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, sc := range bus.Streams(bus.Config{}) {
		sc.MaxBytes, sc.MaxMsgsPerSubject, sc.Discard, sc.DiscardNewPerSubject = -1, -1, jetstream.DiscardOld, false
		_, err := js.CreateStream(ctx, sc)
		require.NoError(t, err)
	}
	_, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bus.BucketPayloads, Storage: jetstream.FileStorage})
	require.NoError(t, err)

	cfg := bus.Config{Limits: bus.Limits{EventsBytes: 4 << 10, WaitingDeliveries: 1}}
	require.NoError(t, bus.Provision(ctx, js, cfg))
	want := map[string]int64{bus.StreamDeliveries: bus.DefaultDeliveriesBytes, bus.StreamWork: bus.DefaultWorkBytes,
		bus.StreamCatalog: 4 << 10, bus.StreamEvents: 4 << 10, "OBJ_" + bus.BucketPayloads: bus.DefaultPayloadsBytes}
	for name, bytes := range want {
		s, err := js.Stream(ctx, name)
		require.NoError(t, err)
		require.Equal(t, bytes, s.CachedInfo().Config.MaxBytes, name)
		require.Equal(t, jetstream.DiscardNew, s.CachedInfo().Config.Discard, name)
	}

	// Events over the bound are refused; those stored stay.
	payload := make([]byte, 1<<10)
	var stored int
	for i := 0; ; i++ {
		_, err := js.Publish(ctx, bus.EventSubject("m1", "receipt-0001", "accepted"), payload)
		if err != nil {
			require.True(t, bus.IsStreamFull(err), "%v", err)
			require.ErrorContains(t, err, "maximum bytes exceeded")
			break
		}
		stored++
		require.Less(t, i, 10)
	}
	s, err := js.Stream(ctx, bus.StreamEvents)
	require.NoError(t, err)
	require.Equal(t, uint64(stored), s.CachedInfo().State.Msgs, "nothing accepted was dropped")
	require.Positive(t, stored)

	// One waiting delivery per merchant: the second of m1 is refused, m2 goes on.
	_, err = js.Publish(ctx, bus.DeliverySubject("m1"), []byte("{}"))
	require.NoError(t, err)
	_, err = js.Publish(ctx, bus.DeliverySubject("m1"), []byte("{}"))
	require.True(t, bus.IsStreamFull(err), "%v", err)
	require.ErrorContains(t, err, "maximum messages per subject exceeded")
	_, err = js.Publish(ctx, bus.DeliverySubject("m2"), []byte("{}"))
	require.NoError(t, err)
}
