package bus

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// FetchLoop fetches batches of up to n messages from cons, waiting at most
// maxWait for each, and hands every non-empty batch to handle until ctx is
// canceled. A failed fetch is retried with exponential backoff. handle gets
// a context that is not canceled: a worker shutting down finishes the batch
// in hand, whose messages would otherwise wait for their ack timeout.
func FetchLoop(ctx context.Context, cons jetstream.Consumer, n int, maxWait time.Duration, logger *zap.Logger, handle func(context.Context, []jetstream.Msg)) {
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
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			handle(context.WithoutCancel(ctx), msgs)
		}
	}
}

// EachConcurrently calls fn for each message, at most limit at once, and
// returns when every call has returned.
func EachConcurrently(msgs []jetstream.Msg, limit int, fn func(jetstream.Msg)) {
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, msg := range msgs {
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
