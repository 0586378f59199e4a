package bus_test

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
)

var errTransient = errors.New("database unavailable")

// A worker's handler decides what becomes of each message; the Consumer
// acknowledges, redelivers or terminates it, keeps it alive meanwhile and
// finishes the messages in hand when ctx is canceled.
func ExampleConsumer() {
	var cons jetstream.Consumer // bus.ApplyConsumer(ctx, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := bus.NewConsumer(cons, bus.ConsumerConfig{Name: bus.ConsumerApply, Fetch: 8, Concurrency: 2,
		AckWait: 30 * time.Second, BackoffInitial: time.Second, BackoffMax: 30 * time.Second}, zap.NewNop())
	c.Run(ctx, func(ctx context.Context, msg jetstream.Msg) bus.Outcome {
		work, err := bus.DecodeWork(msg.Data())
		switch {
		case err != nil:
			return bus.Reject("unreadable work message") // never delivered again
		case len(work.Ops) == 0:
			return bus.Ack
		case bus.Delivered(msg) < 5:
			return bus.Backoff(errTransient, zap.String("receipt", work.ReceiptID)) // again, later
		}
		return bus.Retry(time.Minute)
	})
}
