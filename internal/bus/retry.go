package bus

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryDelay is the delay before redelivery number attempt of a message
// whose handling failed: exponential from initial, with jitter, at most max.
func RetryDelay(attempt int, initial, max time.Duration) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.MaxElapsedTime = 0
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
