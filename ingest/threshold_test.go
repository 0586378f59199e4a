package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// thresholdBody is n product records; those at positions where bad(i)
// lack their name.
func thresholdBody(n int, bad func(i int) bool) []byte {
	lines := make([]string, n)
	for i := range lines {
		if bad(i) {
			lines[i] = fmt.Sprintf(`{"key":"p%d","productType":{"key":"tt"},"slug":{"en":"p%d"}}`, i, i)
			continue
		}
		lines[i] = fmt.Sprintf(`{"key":"p%d","productType":{"key":"tt"},"name":{"en":"P"},"slug":{"en":"p%d"}}`, i, i)
	}
	return []byte(strings.Join(lines, "\n"))
}

func TestErrorThresholdStopsReading(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{BatchSize: 100})
	// 20 of the first 100 records are invalid: 20% > 10%, so the delivery is
	// interrupted with the first batch and the other 900 records are never read.
	body := thresholdBody(1000, func(i int) bool { return i < 100 && i%5 == 0 })
	h.publish(delivery{receipt: "threshold-1", body: body})
	h.waitDone("threshold-1")
	d, err := h.store.DeliveryGet(context.Background(), "threshold-1")
	require.NoError(t, err)
	require.NotNil(t, d.InterruptedAt, "interrupted by the threshold")
	require.Equal(t, 100, d.RecordsRead, "reading stopped after the batch that crossed the threshold")
	require.Equal(t, tracking.IngestDone, d.IngestState)
	require.Len(t, h.ops("threshold-1"), 100)
	require.Equal(t, 1, h.eventCount("threshold-1", tracking.CodeDeliveryInterrupted))

	// The same with Import-Skip-Errors: every record is read, nothing interrupted.
	h.publish(delivery{receipt: "threshold-2", body: body, headers: map[string]string{bus.HeaderSkipErrors: "true"}})
	st := h.waitDone("threshold-2")
	d, err = h.store.DeliveryGet(context.Background(), "threshold-2")
	require.NoError(t, err)
	require.Nil(t, d.InterruptedAt)
	require.Equal(t, 1000, d.RecordsRead)
	require.Equal(t, tracking.ProductCounts{Pending: 980, Failed: 20}, st.Products)

	// 10% exactly is not over the threshold: 10 of 100 invalid.
	h.publish(delivery{receipt: "threshold-3", body: thresholdBody(100, func(i int) bool { return i%10 == 0 })})
	h.waitDone("threshold-3")
	d, err = h.store.DeliveryGet(context.Background(), "threshold-3")
	require.NoError(t, err)
	require.Nil(t, d.InterruptedAt, "10%% is not more than 10%%")
	require.Equal(t, 0, h.eventCount("threshold-3", tracking.CodeDeliveryInterrupted))
}

// A delivery waiting for room in flight gives its place to the next one: a
// small delivery is read while a huge one waits for the pipeline.
func TestThrottledDeliveryLetsOthersIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Concurrency: 1, BatchSize: 50, MaxInFlight: 100})
	h.publish(delivery{receipt: "throttle-big", body: thresholdBody(1000, func(int) bool { return false })})
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "throttle-big")
		return err == nil && d.RecordsRead >= 100
	}, 30*time.Second, 10*time.Millisecond)
	h.publish(delivery{receipt: "throttle-small", body: thresholdBody(5, func(int) bool { return false })})
	st := h.waitDone("throttle-small")
	require.Equal(t, "Queued", st.Status)
	d, err := h.store.DeliveryGet(context.Background(), "throttle-big")
	require.NoError(t, err)
	require.Equal(t, tracking.IngestReceiving, d.IngestState, "nothing took the big delivery's operations out of flight")
	require.LessOrEqual(t, d.RecordsRead, 100, "at most MaxInFlight in flight")

	// The pipeline takes them: the big one reads on.
	_, err = h.pool.Exec(context.Background(), `UPDATE operations SET state = 'imported' WHERE receipt_id = 'throttle-big'`)
	require.NoError(t, err)
	_, err = h.pool.Exec(context.Background(), `UPDATE delivery_counts SET imported = imported + queued, queued = 0 WHERE receipt_id = 'throttle-big'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "throttle-big")
		return err == nil && d.RecordsRead > 100
	}, 30*time.Second, 10*time.Millisecond)
}

// A throttled delivery that has room again waits for a reading slot while
// another delivery holds it, longer than AckWait: it must stay alive, or
// JetStream hands it to another worker while this one still reads it.
// Before, it waited for the slot without an in-progress ack and was
// delivered again.
func TestThrottledDeliveryStaysAlive(t *testing.T) {
	t.Parallel()
	var slow atomic.Bool
	cfg := Config{Concurrency: 1, BatchSize: 50, MaxInFlight: 100, afterCommit: func(int) error {
		if slow.Load() {
			time.Sleep(800 * time.Millisecond) // the other delivery keeps the slot a while
		}
		return nil
	}}
	cfg.Bus.AckWait = 4 * time.Second // in-progress acks at most 1.5 s apart
	h := newHarness(t, cfg)
	h.publish(delivery{receipt: "alive-big", body: thresholdBody(300, func(int) bool { return false })})
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "alive-big")
		return err == nil && d.RecordsRead >= 100
	}, 30*time.Second, 10*time.Millisecond)

	// Read in its place, 6.4 s: 400 invalid records (nothing in flight, so
	// never throttled), 8 batches of 800 ms, errors skipped.
	slow.Store(true)
	h.publish(delivery{receipt: "alive-slow", headers: map[string]string{"Import-Skip-Errors": "true"}, body: thresholdBody(400, func(int) bool { return true })})
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "alive-slow")
		return err == nil && d.RecordsRead > 0
	}, 30*time.Second, 10*time.Millisecond)
	// The pipeline takes the big one's operations: it has room again, and
	// waits for the slot.
	_, err := h.pool.Exec(context.Background(), `UPDATE delivery_counts SET imported = imported + queued, queued = 0 WHERE receipt_id = 'alive-big'`)
	require.NoError(t, err)

	h.waitDone("alive-slow")
	slow.Store(false)
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "alive-big")
		return err == nil && d.RecordsRead > 100
	}, 30*time.Second, 10*time.Millisecond)
	c, err := h.js.Consumer(context.Background(), bus.StreamDeliveries, bus.ConsumerIngest)
	require.NoError(t, err)
	ci, err := c.Info(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 2, ci.Delivered.Consumer, "each delivery handed to a worker once")
}
