package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// A message kept alive past its AckWait is not delivered again; once it no
// longer is, it is.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	cfg := bus.Config{AckWait: 2 * time.Second} // in-progress acks every 500 ms
	require.NoError(t, bus.Provision(ctx, js, cfg))
	cons, err := bus.ApplyConsumer(ctx, js, cfg)
	require.NoError(t, err)
	_, err = js.Publish(ctx, bus.ApplySubject("m1"), []byte("work"))
	require.NoError(t, err)
	fetch := func(wait time.Duration) jetstream.Msg {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		require.NoError(t, err)
		for msg := range batch.Messages() {
			return msg
		}
		require.True(t, batch.Error() == nil || errors.Is(batch.Error(), jetstream.ErrNoMessages), "%v", batch.Error())
		return nil
	}
	msg := fetch(5 * time.Second)
	require.NotNil(t, msg)
	stop := bus.KeepAlive(msg, cfg)
	require.Nil(t, fetch(5*time.Second), "kept alive for two and a half AckWaits: not delivered again")
	stop()
	again := fetch(5 * time.Second)
	require.NotNil(t, again, "silent for AckWait: delivered again")
	require.NoError(t, again.Ack())
}
