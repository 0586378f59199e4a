package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// OutboxPass publishes one pass of an outbox table: in one transaction it
// claims up to limit rows (FOR UPDATE SKIP LOCKED, so that any number of
// publishers run at once), publishes what they hold, waits until JetStream
// has every message and deletes the rows. It returns how many rows it
// claimed. A crash before the commit publishes the rows again: their
// messages carry ids derived from the rows, so the stream's duplicate
// window drops the copies.
type OutboxPass func(ctx context.Context, limit int) (int, error)

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	// Name names the outbox in logs.
	Name string
	// Batch is the most rows one pass claims. Defaults to 100.
	Batch int
	// Interval is how often the outbox looks for rows without being
	// kicked: rows of a publisher that crashed, or whose pass failed.
	// Defaults to 250ms.
	Interval time.Duration
}

// Outbox publishes the rows a worker writes in its transactions: woken by
// Kick after a commit, or by its ticker, it runs passes until a pass
// claims fewer than Batch rows. A failed pass is logged and tried again at
// the next tick.
type Outbox struct {
	cfg    OutboxConfig
	pass   OutboxPass
	logger *zap.Logger
	kick   chan struct{}
}

// NewOutbox returns an Outbox that publishes with pass.
func NewOutbox(cfg OutboxConfig, pass OutboxPass, logger *zap.Logger) *Outbox {
	if cfg.Batch == 0 {
		cfg.Batch = 100
	}
	if cfg.Interval == 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if cfg.Name != "" {
		logger = logger.With(zap.String("outbox", cfg.Name))
	}
	return &Outbox{cfg: cfg, pass: pass, logger: logger, kick: make(chan struct{}, 1)}
}

// Kick wakes the outbox: rows were committed. It never blocks; kicks while
// a pass runs make one more round.
func (o *Outbox) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is canceled.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.kick:
		}
		o.drain(ctx)
	}
}

// drain runs passes until one claims fewer than Batch rows or fails.
func (o *Outbox) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := o.pass(ctx, o.cfg.Batch)
		if err != nil {
			if ctx.Err() == nil {
				o.logger.Warn("publishing the outbox failed", zap.Error(err))
			}
			return
		}
		if n < o.cfg.Batch {
			return
		}
	}
}

// ErrNotAcked reports messages JetStream did not acknowledge in time.
var ErrNotAcked = errors.New("bus: published messages not acknowledged in time")

// AwaitAcks waits until JetStream has stored every message of futures, at
// most timeout in all. It returns ctx's error when ctx ends first.
func AwaitAcks(ctx context.Context, futures []jetstream.PubAckFuture, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("bus: not stored: %w", err)
		case <-t.C:
			return fmt.Errorf("%w (%s)", ErrNotAcked, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
