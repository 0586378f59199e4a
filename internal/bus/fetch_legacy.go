package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// FetchLoop hands every non-empty batch to handle, whole, until ctx is
// canceled. Deprecated: use Consumer.RunBatch.
func FetchLoop(ctx context.Context, cons jetstream.Consumer, n int, maxWait time.Duration, logger *zap.Logger, handle func(context.Context, []jetstream.Msg)) {
	c := NewConsumer(cons, ConsumerConfig{Fetch: n, MaxWait: maxWait}, logger)
	hctx := context.WithoutCancel(ctx)
	c.fetchBatches(ctx, func(batch jetstream.MessageBatch) {
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			handle(hctx, msgs)
		}
	})
}

// FetchEach hands each message to handle as it arrives, at most limit at
// once. Deprecated: use Consumer.Run.
func FetchEach(ctx context.Context, cons jetstream.Consumer, n, limit int, maxWait time.Duration, logger *zap.Logger, handle func(context.Context, jetstream.Msg)) {
	c := NewConsumer(cons, ConsumerConfig{Fetch: n, MaxWait: maxWait}, logger)
	hctx := context.WithoutCancel(ctx)
	c.fetchBatches(ctx, func(batch jetstream.MessageBatch) {
		EachConcurrently(arriving(batch), limit, func(m jetstream.Msg) { handle(hctx, m) })
	})
}
