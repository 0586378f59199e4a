package bus

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// FetchLoop fetches batches of up to n messages from cons, waiting at most
// maxWait for each, and hands every non-empty batch to handle, whole, until
// ctx is canceled. A failed fetch is retried with exponential backoff.
// handle gets a context that is not canceled: a worker shutting down
// finishes the batch in hand, whose messages would otherwise wait for their
// ack timeout.
func FetchLoop(ctx context.Context, cons jetstream.Consumer, n int, maxWait time.Duration, logger *zap.Logger, handle func(context.Context, []jetstream.Msg)) {
	fetchBatches(ctx, cons, n, maxWait, logger, func(ctx context.Context, batch jetstream.MessageBatch) {
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			handle(ctx, msgs)
		}
	})
}

// FetchEach is FetchLoop for handlers of one message: each message is
// handed to handle as soon as the fetch delivers it, at most limit at once,
// rather than when the batch is complete (a batch the stream cannot fill
// takes maxWait to complete); the next fetch starts once every message of
// the batch is handled.
func FetchEach(ctx context.Context, cons jetstream.Consumer, n, limit int, maxWait time.Duration, logger *zap.Logger, handle func(context.Context, jetstream.Msg)) {
	fetchBatches(ctx, cons, n, maxWait, logger, func(ctx context.Context, batch jetstream.MessageBatch) {
		arriving := func(yield func(jetstream.Msg) bool) {
			for m := range batch.Messages() {
				if !yield(m) {
					return
				}
			}
		}
		EachConcurrently(arriving, limit, func(m jetstream.Msg) { handle(ctx, m) })
	})
}

func fetchBatches(ctx context.Context, cons jetstream.Consumer, n int, maxWait time.Duration, logger *zap.Logger, handle func(context.Context, jetstream.MessageBatch)) {
	retry := backoff.NewExponentialBackOff()
	retry.MaxElapsedTime = 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(maxWait))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := retry.NextBackOff()
			logger.Warn("fetch failed", zap.Error(err), zap.Duration("retry_in", d))
			Sleep(ctx, d)
			continue
		}
		retry.Reset()
		handle(context.WithoutCancel(ctx), batch)
	}
}

// EachConcurrently calls fn for each message, as msgs yields it, at most
// limit at once, and returns when every call has returned.
func EachConcurrently(msgs iter.Seq[jetstream.Msg], limit int, fn func(jetstream.Msg)) {
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for msg := range msgs {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			fn(msg)
		}()
	}
	wg.Wait()
}
