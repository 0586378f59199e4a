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
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// applyConsumer returns the apply consumer of a fresh server with total
// messages "work-<i>" published.
func applyConsumer(t *testing.T, total int) jetstream.Consumer {
	t.Helper()
	ctx := context.Background()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	cfg := bus.Config{AckWait: 2 * time.Second}
	require.NoError(t, bus.Provision(ctx, js, cfg))
	cons, err := bus.ApplyConsumer(ctx, js, cfg)
	require.NoError(t, err)
	for i := range total {
		_, err := js.Publish(ctx, bus.ApplySubject("m1"), fmt.Appendf(nil, "work-%d", i))
		require.NoError(t, err)
	}
	return cons
}

// runUntil runs run in the background and waits for it to return.
func runUntil(t *testing.T, run func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer did not return after its context was canceled")
	}
}

// RunBatch hands over every message in batches of at most Fetch, finishes
// the batch in hand with a live context after ctx is canceled, and returns.
func TestConsumerRunBatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const total = 25
	cons := applyConsumer(t, total)
	c := bus.NewConsumer(cons, bus.ConsumerConfig{Fetch: 10, MaxWait: 100 * time.Millisecond}, zaptest.NewLogger(t))
	seen := map[string]bool{}
	runUntil(t, func() {
		c.RunBatch(ctx, func(hctx context.Context, msgs []jetstream.Msg) []bus.Outcome {
			require.LessOrEqual(t, len(msgs), 10)
			outs := make([]bus.Outcome, len(msgs))
			for i, m := range msgs {
				seen[string(m.Data())] = true
				outs[i] = bus.Ack
			}
			if len(seen) == total {
				cancel()
				require.NoError(t, hctx.Err(), "the batch in hand is finished with a live context")
			}
			return outs
		})
	})
	require.Len(t, seen, total)
}

// Run maps outcomes to JetStream: a retried message comes back after its
// delay, a rejected one never, an acknowledged one never; the messages in
// hand at shutdown are finished.
func TestConsumerRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const total = 12
	cons := applyConsumer(t, total)
	c := bus.NewConsumer(cons, bus.ConsumerConfig{Fetch: 4, Concurrency: 2, MaxWait: 100 * time.Millisecond,
		AckWait: 2 * time.Second}, zaptest.NewLogger(t))
	var mu sync.Mutex
	deliveries := map[string]int{}
	var running, peak atomic.Int32
	runUntil(t, func() {
		c.Run(ctx, func(hctx context.Context, m jetstream.Msg) bus.Outcome {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			mu.Lock()
			defer mu.Unlock()
			data := string(m.Data())
			deliveries[data]++
			var i int
			fmt.Sscanf(data, "work-%d", &i)
			switch {
			case i%3 == 1 && deliveries[data] == 1:
				return bus.Retry(50 * time.Millisecond)
			case i%3 == 2 && deliveries[data] < 3:
				return bus.Backoff(fmt.Errorf("failed %d", deliveries[data]))
			case i == 0:
				return bus.Reject("not wanted")
			}
			if len(deliveries) == total && !slices.ContainsFunc(keys(deliveries), func(k string) bool {
				var i int
				fmt.Sscanf(k, "work-%d", &i)
				return i%3 == 2 && deliveries[k] < 3 || i%3 == 1 && deliveries[k] < 2
			}) {
				cancel()
				require.NoError(t, hctx.Err(), "handled with a live context")
			}
			return bus.Ack
		})
	})
	require.Len(t, deliveries, total)
	for k, n := range deliveries {
		var i int
		fmt.Sscanf(k, "work-%d", &i)
		switch {
		case i%3 == 1:
			require.Equal(t, 2, n, k)
		case i%3 == 2:
			require.Equal(t, 3, n, k)
		default:
			require.Equal(t, 1, n, k)
		}
	}
	require.LessOrEqual(t, peak.Load(), int32(2), "at most Concurrency at once")
	info, err := cons.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, info.NumAckPending, "every message settled")
	require.Zero(t, info.NumPending+uint64(info.NumRedelivered), "nothing left to deliver")
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Run hands out messages as they arrive, or with WholeBatch once the fetch
// is complete: a batch the stream cannot fill waits for MaxWait.
func TestConsumerRunWholeBatch(t *testing.T) {
	t.Parallel()
	for _, whole := range []bool{false, true} {
		t.Run(fmt.Sprint("whole=", whole), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cons := applyConsumer(t, 3)
			const maxWait = 2 * time.Second
			c := bus.NewConsumer(cons, bus.ConsumerConfig{Fetch: 10, Concurrency: 3, MaxWait: maxWait, WholeBatch: whole},
				zaptest.NewLogger(t))
			start := time.Now()
			var first atomic.Int64
			var n atomic.Int32
			runUntil(t, func() {
				c.Run(ctx, func(context.Context, jetstream.Msg) bus.Outcome {
					first.CompareAndSwap(0, int64(time.Since(start)))
					if n.Add(1) == 3 {
						cancel()
					}
					return bus.Ack
				})
			})
			if whole {
				require.GreaterOrEqual(t, time.Duration(first.Load()), maxWait*3/4, "handed out once the fetch expired")
			} else {
				require.Less(t, time.Duration(first.Load()), maxWait/2, "handed out as it arrived")
			}
		})
	}
}

// slots is a bus.Slots of n.
type slots chan struct{}

func (s slots) Acquire(ctx context.Context) bool {
	select {
	case s <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s slots) Release() { <-s }

// With Slots, Run fetches on while long handlers hold their slots, never
// more at once than there are slots, and an interruptible handler sees the
// shutdown and is waited for.
func TestConsumerRunSlots(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons := applyConsumer(t, 6)
	c := bus.NewConsumer(cons, bus.ConsumerConfig{Slots: make(slots, 3), MaxWait: 100 * time.Millisecond,
		Interruptible: true}, zaptest.NewLogger(t))
	var started, finished, running, peak atomic.Int32
	runUntil(t, func() {
		c.Run(ctx, func(hctx context.Context, m jetstream.Msg) bus.Outcome {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if started.Add(1) == 3 {
				cancel()
			}
			<-hctx.Done() // long: until shutdown
			finished.Add(1)
			return bus.Retry(0)
		})
	})
	require.Equal(t, int32(3), started.Load(), "three slots: three messages in hand, no more fetched")
	require.Equal(t, int32(3), finished.Load(), "Run waits for the handlers in hand")
	require.Equal(t, int32(3), peak.Load())
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
