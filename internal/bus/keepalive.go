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

// Lease keeps a message's ack deadline moving for as long as its handler
// makes progress, for handlers whose progress is the sign they are alive
// (ingest reading a body): Renew sends an in-progress ack at most once per
// AckWait/4, and a handler that stops renewing (a read that hangs) lets the
// message go to another worker once AckWait has passed.
type Lease struct {
	msg   jetstream.Msg
	every time.Duration
	last  time.Time
}

// NewLease returns the lease of msg, taken now, under cfg's AckWait.
func NewLease(msg jetstream.Msg, cfg Config) *Lease {
	cfg.setDefaults()
	return &Lease{msg: msg, every: cfg.AckWait / 4, last: time.Now()}
}

// Renew sends an in-progress ack unless one was sent less than AckWait/4
// ago.
func (l *Lease) Renew() error {
	if time.Since(l.last) < l.every {
		return nil
	}
	l.last = time.Now()
	return l.msg.InProgress()
}
