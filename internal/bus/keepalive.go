package bus

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeepAlive sends an in-progress ack for msg now and four times per AckWait
// of cfg until stop is called: for handlers that may run longer than AckWait (a
// target at its statement timeout, a wait for row locks), so that
// JetStream does not hand the message to another worker meanwhile. When
// stop returns no more in-progress ack is sent.
func KeepAlive(msg jetstream.Msg, cfg Config) (stop func()) {
	cfg.setDefaults()
	// At once too: the message may have waited in its fetched batch.
	_ = msg.InProgress()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(cfg.AckWait / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
