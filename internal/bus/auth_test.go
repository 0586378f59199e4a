package bus_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// violations records the permission violations the server reports to a client.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, err.Error())
}

func (v *violations) seen(s string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func connectAs(t *testing.T, ns *server.Server, user, password string) (*nats.Conn, jetstream.JetStream, *violations) {
	t.Helper()
	v := &violations{}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(user, password), nats.ErrorHandler(v.handler))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js, v
}

// TestUpstreamPermissions proves the shipped NATS authorization: an
// upstream of merchant m1 publishes m1's deliveries (inline and through the
// object store) and reads m1's events, and can neither publish a delivery
// of m2 nor read m2's events nor touch the streams.
func TestUpstreamPermissions(t *testing.T) {
	t.Parallel()
	ns := testenv.NATSWithConfig(t, "../../deploy/nats/nats.conf")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := nats.Connect(ns.ClientURL(), nats.UserInfo("upstream-m1", "wrong"))
	require.Error(t, err, "a wrong password is refused")

	// The query role provisions the streams, as any importd role does at start-up.
	_, query, _ := connectAs(t, ns, "importd-query", "query-secret-change-me")
	require.NoError(t, bus.Provision(ctx, query, bus.Config{}))
	deliveries, err := query.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)

	nc, js, v := connectAs(t, ns, "upstream-m1", "m1-secret-change-me")

	// Its own deliveries: inline, and a body through the object store.
	_, err = bus.PublishDelivery(ctx, js, bus.Delivery{Merchant: "m1", Receipt: "m1-small-0001"}, strings.NewReader(`{"key":"p1"}`))
	require.NoError(t, err)
	big := bytes.Repeat([]byte("x"), bus.InlineLimit+1)
	pub, err := bus.PublishDelivery(ctx, js, bus.Delivery{Merchant: "m1", Receipt: "m1-large-0001"}, bytes.NewReader(big))
	require.NoError(t, err)
	require.True(t, bus.ObjectOfMerchant(pub.Object, "m1"))

	// Another merchant's delivery subject: refused by the server.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = bus.PublishDelivery(pctx, js, bus.Delivery{Merchant: "m2", Receipt: "m2-forged-0001"}, strings.NewReader(`{"key":"p1"}`))
	pcancel()
	require.Error(t, err)
	require.Eventually(t, func() bool { return v.seen(`Permissions Violation for Publish to "import.deliveries.m2"`) }, 5*time.Second, 10*time.Millisecond)
	_, err = deliveries.GetLastMsgForSubject(ctx, bus.DeliverySubject("m2"))
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound, "nothing reached m2's subject")
	m1, err := deliveries.GetLastMsgForSubject(ctx, bus.DeliverySubject("m1"))
	require.NoError(t, err)
	require.Equal(t, bus.DeliveryID("m1", "m1-large-0001"), m1.Header.Get(bus.HeaderMsgID))

	// Its own events, live and replayed; not m2's.
	live, err := nc.SubscribeSync("import.events.m1.>")
	require.NoError(t, err)
	_, err = nc.SubscribeSync("import.events.m2.>")
	require.NoError(t, err) // refused asynchronously
	require.Eventually(t, func() bool { return v.seen(`Permissions Violation for Subscription to "import.events.m2.>"`) }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, nc.Flush())
	for _, m := range []string{"m1", "m2"} {
		_, err = query.Publish(ctx, bus.EventSubject(m, m+"-small-0001", "accepted"), []byte(`{}`))
		require.NoError(t, err)
	}
	msg, err := live.NextMsg(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "import.events.m1.m1-small-0001.accepted", msg.Subject)

	replay, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"import.events.m1.>"}})
	require.NoError(t, err)
	got, err := replay.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.Equal(t, "import.events.m1.m1-small-0001.accepted", got.Subject())
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = js.OrderedConsumer(cctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"import.events.m2.>"}})
	if err == nil {
		other, _ := js.OrderedConsumer(cctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"import.events.m2.>"}})
		_, err = other.Next(jetstream.FetchMaxWait(2 * time.Second))
	}
	ccancel()
	require.Error(t, err, "no consumer of m2's events")

	// No stream administration: no purge, no delete, no consumer of the deliveries.
	for name, call := range map[string]func(context.Context) error{
		"delete a stream": func(ctx context.Context) error { return js.DeleteStream(ctx, bus.StreamDeliveries) },
		"read a stream's info": func(ctx context.Context) error {
			_, err := js.Stream(ctx, bus.StreamDeliveries)
			return err
		},
		"consume deliveries": func(ctx context.Context) error {
			c, err := js.OrderedConsumer(ctx, bus.StreamDeliveries, jetstream.OrderedConsumerConfig{})
			if err == nil {
				_, err = c.Next(jetstream.FetchMaxWait(time.Second))
			}
			return err
		},
	} {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		err := call(cctx)
		ccancel()
		require.Error(t, err, name)
	}
	info, err := deliveries.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.State.Msgs, "m1's two deliveries, and nothing else")
}
