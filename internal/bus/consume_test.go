package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// FetchLoop hands over every message in batches of at most n, finishes
// the batch in hand with a live context after ctx is canceled, and returns.
func TestFetchLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	cfg := bus.Config{}
	require.NoError(t, bus.Provision(ctx, js, cfg))
	cons, err := bus.ApplyConsumer(ctx, js, cfg)
	require.NoError(t, err)
	const total = 25
	for i := range total {
		_, err := js.Publish(ctx, bus.ApplySubject("m1"), fmt.Appendf(nil, "work-%d", i))
		require.NoError(t, err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.FetchLoop(ctx, cons, 10, 100*time.Millisecond, zap.NewNop(), func(hctx context.Context, msgs []jetstream.Msg) {
			require.LessOrEqual(t, len(msgs), 10)
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				seen[string(m.Data())] = true
				require.NoError(t, m.Ack())
			}
			if len(seen) == total {
				cancel()
				require.NoError(t, hctx.Err(), "the batch in hand is finished with a live context")
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("FetchLoop did not return after its context was canceled")
	}
	require.Len(t, seen, total)
}

func TestEachConcurrently(t *testing.T) {
	t.Parallel()
	msgs := make([]jetstream.Msg, 20)
	var running, peak, calls atomic.Int32
	bus.EachConcurrently(slices.Values(msgs), 3, func(jetstream.Msg) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		calls.Add(1)
	})
	require.Equal(t, int32(20), calls.Load(), "every message handled before it returns")
	require.Equal(t, int32(3), peak.Load(), "at most the limit at once, and the limit reached")
}
