package bus

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
)

// Delivered is how often JetStream has delivered msg, this delivery
// included; 1 when its metadata cannot be read.
func Delivered(msg jetstream.Msg) int {
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 0 {
		return int(meta.NumDelivered)
	}
	return 1
}

// RetryDelay is the delay before redelivery number attempt of a message
// whose handling failed, the one backoff policy of the workers: initial for
// the first attempt, half as much again for each next one up to max, each
// randomised (the backoff library's default jitter) so that messages failed
// together do not come back together.
func RetryDelay(attempt int, initial, max time.Duration) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.MaxElapsedTime = 0
	b.Reset() // the constructor started from its own initial interval
	d := b.NextBackOff()
	for i := 1; i < attempt && i < 20; i++ {
		d = b.NextBackOff()
	}
	return d
}

// Sleep waits for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
