// Package importer writes resolved operations into the target catalog:
// batches in one transaction, the records of a failing batch isolated,
// transient failures retried with backoff over a window of minutes, at most
// five attempts in all, resource events announced through
// an outbox so that parked operations are released, and deliveries
// completed when their last operation ends.
package importer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

var (
	attemptsFailedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_importer_attempts_failed_total",
		Help: "Import attempts that failed with a transient error (each is retried, up to five attempts).",
	})
	// Counted once the outcome is committed: a batch tried again is not
	// counted twice.
	operationsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "importd_importer_operations_total",
		Help: "Operations the importer settled, by outcome: imported, partiallyImported, validationFailed, rejected, or retry (a failed attempt, tried again later).",
	}, []string{"outcome"})
	rejectedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_importer_rejected_total",
		Help: "Operations rejected after five failed attempts.",
	})
	batchSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "importd_importer_batch_seconds",
		Help:    "Time to apply one work message to the target and record the outcomes.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	eventsPublishedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_importer_resource_events_total",
		Help: "Resource events published on CATALOG_EVENTS.",
	})
)

// Config configures an importer Worker.
type Config struct {
	// Target is where records are written. Required (catalog.NewStore for
	// the PostgreSQL catalog).
	Target catalog.Target
	// Fetch is how many work messages are fetched at once. Defaults to 8.
	Fetch int
	// Concurrency is how many work messages are applied at once. Defaults to 2.
	Concurrency int
	// ApplyTimeout bounds one call of the target. Defaults to 30s.
	ApplyTimeout time.Duration
	// RetryWindow is how long, at least, the MaxAttempts attempts of an
	// operation that keeps failing are spread over: longer than a database
	// failover. The delays between attempts double, with jitter. Defaults
	// to 10m.
	RetryWindow time.Duration
	// RetryInitial is the delay before a work message whose outcome could
	// not be recorded at all (the transaction broke: no attempt counted) is
	// tried again; later ones grow exponentially, with jitter, to at most
	// RetryMax. Defaults to 1s and 30s.
	RetryInitial, RetryMax time.Duration
	// Bus configures the JetStream resources. See bus.Config.
	Bus bus.Config
	// Started, when set, is called once Run has its consumers and begins
	// consuming: the process's /readyz waits for it.
	Started func()
	// NoOutbox leaves the publication of resource events to other
	// importers. Tests use it to stand for an importer killed between its
	// commit and the publication.
	NoOutbox bool
}

func (c *Config) setDefaults() {
	if c.Fetch == 0 {
		c.Fetch = 8
	}
	if c.Concurrency == 0 {
		c.Concurrency = 2
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 30 * time.Second
	}
	if c.RetryWindow == 0 {
		c.RetryWindow = 10 * time.Minute
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	c.Bus = c.Bus.WithDefaults()
}

// Worker is an importer.
type Worker struct {
	cfg    Config
	store  *tracking.Store
	js     jetstream.JetStream
	logger *zap.Logger
	outbox *bus.Outbox
}

// New returns an importer.
func New(cfg Config, store *tracking.Store, js jetstream.JetStream, logger *zap.Logger) (*Worker, error) {
	cfg.setDefaults()
	switch {
	case cfg.Target == nil:
		return nil, errors.New("importer: Config.Target is required")
	case cfg.Fetch < 1 || cfg.Fetch > 256:
		return nil, fmt.Errorf("importer: Fetch %d out of range 1..256", cfg.Fetch)
	case cfg.Concurrency < 1 || cfg.Concurrency > 64:
		return nil, fmt.Errorf("importer: Concurrency %d out of range 1..64", cfg.Concurrency)
	case cfg.RetryWindow < 0:
		return nil, fmt.Errorf("importer: RetryWindow %s must be positive", cfg.RetryWindow)
	case cfg.RetryInitial <= 0 || cfg.RetryMax < cfg.RetryInitial:
		return nil, fmt.Errorf("importer: RetryInitial %s and RetryMax %s must be positive and ordered", cfg.RetryInitial, cfg.RetryMax)
	case cfg.Bus.WorkMaxDeliveries < 1:
		return nil, fmt.Errorf("importer: Bus.WorkMaxDeliveries %d must be positive", cfg.Bus.WorkMaxDeliveries)
	case store == nil || js == nil:
		return nil, errors.New("importer: New needs a store and a JetStream context")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	w := &Worker{cfg: cfg, store: store, js: js, logger: logger.Named("importer")}
	w.outbox = w.newOutbox()
	return w, nil
}

// Run imports until ctx is canceled, then finishes the batch in hand.
func (w *Worker) Run(ctx context.Context) error {
	if err := bus.Provision(ctx, w.js, w.cfg.Bus); err != nil {
		return err
	}
	cons, err := bus.ApplyConsumer(ctx, w.js, w.cfg.Bus)
	if err != nil {
		return err
	}
	go bus.WatchLag(ctx, cons, bus.ConsumerApply, 10*time.Second, w.logger)
	w.logger.Info("importer started")
	if w.cfg.Started != nil {
		w.cfg.Started()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if !w.cfg.NoOutbox {
			w.outbox.Run(ctx)
		}
	}()
	go func() {
		defer wg.Done()
		// The target may take as long as ApplyTimeout, the default AckWait:
		// redelivered meanwhile, the message would be tried again at once by
		// another importer, without the backoff between attempts. Kept alive.
		bus.NewConsumer(cons, bus.ConsumerConfig{Name: bus.ConsumerApply, Fetch: w.cfg.Fetch, Concurrency: w.cfg.Concurrency,
			AckWait: w.cfg.Bus.AckWait, BackoffInitial: w.cfg.RetryInitial, BackoffMax: w.cfg.RetryMax}, w.logger).Run(ctx, w.handle)
	}()
	wg.Wait()
	return nil
}

// handle applies one work message and says what becomes of it:
// acknowledged when every operation is settled, delivered again later when
// some wait for another attempt or the message could not be handled, and,
// when it can never be handled (an unknown resource type, or failures up to
// Bus.WorkMaxDeliveries), its operations rejected and the message
// terminated.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) bus.Outcome {
	start := time.Now()
	attempt := bus.Delivered(msg)
	wb, err := bus.DecodeWork(msg.Data())
	if err != nil || wb.ReceiptID == "" {
		if errors.Is(err, bus.ErrWorkVersion) && attempt < w.cfg.Bus.WorkMaxDeliveries {
			// A newer importer, running during an upgrade, may read it.
			return bus.Backoff(fmt.Errorf("work message of a newer version; left for a newer importer: %w", err),
				zap.String("subject", msg.Subject()))
		}
		w.logger.Error("unreadable work message dropped", zap.String("subject", msg.Subject()), zap.Error(err), zap.Int("attempt", attempt))
		return bus.Reject("unreadable work message")
	}
	t, ok := catalog.ParseResourceType(wb.ResourceType)
	if !ok {
		return w.reject(ctx, &wb, tracking.CodeUnknownResourceType,
			tracking.UnknownTypeDescription("importer", wb.ResourceType))
	}
	res, err := w.applyBatch(ctx, t, &wb)
	batchSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		if attempt >= w.cfg.Bus.WorkMaxDeliveries {
			return w.reject(ctx, &wb, tracking.CodeRedeliveryLimit,
				tracking.RedeliveryDescription("importer", attempt, err))
		}
		return bus.Backoff(fmt.Errorf("batch failed before its outcome was recorded: %w", err), zap.String("receipt", wb.ReceiptID))
	}
	if res.retry {
		// Spread over RetryWindow by the operations' attempts, not the
		// message's deliveries.
		return bus.Retry(w.attemptDelay(res.attempt))
	}
	return bus.Ack
}

// reject ends the operations of a work message that can never be handled
// rejected with a SYSTEM_ERROR (code, description); the message is then
// terminated. When rejecting fails the message comes back, to be rejected
// then.
func (w *Worker) reject(ctx context.Context, wb *bus.WorkBatch, code, description string) bus.Outcome {
	w.logger.Error("work message cannot be handled; its operations are rejected", zap.String("receipt", wb.ReceiptID),
		zap.String("code", code), zap.String("reason", description), zap.Int("operations", len(wb.Ops)))
	completed, err := w.store.RejectWork(ctx, wb, wb.Ops, code, description)
	if err != nil {
		return bus.Backoff(fmt.Errorf("rejecting the operations: %w", err), zap.String("receipt", wb.ReceiptID))
	}
	w.announce(completed)
	return bus.Reject(code)
}

// announce announces deliveries the importer completed, in a transaction
// that has committed.
func (w *Worker) announce(ds []*tracking.Delivery) {
	for _, d := range ds {
		go w.announceCompleted(d.ReceiptID, d.AcceptedAt)
	}
}

func (w *Worker) announceCompleted(receipt string, acceptedAt time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.store.AnnounceCompleted(ctx, w.js, receipt, acceptedAt); err != nil {
		w.logger.Warn("completed event not published", zap.String("receipt", receipt), zap.Error(err))
	}
}
