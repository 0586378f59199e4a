package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/internal/bus"
)

// A kick makes the outbox run passes until one claims less than a batch;
// a failed pass is tried again at the next tick; Run returns on cancel.
func TestOutbox(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rows atomic.Int64 // rows waiting
	var passes, failures atomic.Int32
	failOnce := atomic.Bool{}
	pass := func(ctx context.Context, limit int) (int, error) {
		require.Equal(t, 10, limit)
		passes.Add(1)
		if failOnce.CompareAndSwap(true, false) {
			failures.Add(1)
			return 0, errors.New("NATS unreachable")
		}
		n := min(rows.Load(), int64(limit))
		rows.Add(-n)
		return int(n), nil
	}
	o := bus.NewOutbox(bus.OutboxConfig{Name: "test", Batch: 10, Interval: time.Hour}, pass, zaptest.NewLogger(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()

	rows.Store(35)
	o.Kick()
	require.Eventually(t, func() bool { return rows.Load() == 0 && passes.Load() == 4 }, 5*time.Second, time.Millisecond,
		"passes of 10, 10, 10 and 5 rows")

	o.Kick()
	require.Eventually(t, func() bool { return passes.Load() == 5 }, 5*time.Second, time.Millisecond, "an empty pass")

	failOnce.Store(true)
	rows.Store(3)
	o.Kick()
	require.Eventually(t, func() bool { return failures.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, int64(3), rows.Load(), "a failed pass waits for the next wake-up")
	o.Kick()
	require.Eventually(t, func() bool { return rows.Load() == 0 }, 5*time.Second, time.Millisecond)

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
}

// Without kicks the ticker finds rows.
func TestOutboxTicks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var passes atomic.Int32
	o := bus.NewOutbox(bus.OutboxConfig{Interval: 10 * time.Millisecond}, func(context.Context, int) (int, error) {
		passes.Add(1)
		return 0, nil
	}, nil)
	go o.Run(ctx)
	require.Eventually(t, func() bool { return passes.Load() >= 3 }, 5*time.Second, time.Millisecond)
}
