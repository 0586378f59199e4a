package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// Config configures an ingest Worker.
type Config struct {
	// Concurrency is how many deliveries one worker reads at once. Defaults to 2.
	Concurrency int
	// BatchSize is how many records are written per transaction. Defaults to 1000.
	BatchSize int
	// WorkBatchSize is the most operations in one work message; its size is
	// bounded by what the NATS connection carries (bus.CutWork). Defaults
	// to 250 (bus.MaxWorkOps).
	WorkBatchSize int
	// MaxRecordBytes is the largest record. Defaults to 512 KiB.
	MaxRecordBytes int
	// MaxDeliveryBytes is the largest delivery body, uncompressed. Defaults to 8 GiB.
	MaxDeliveryBytes int64
	// MaxInFlight bounds what one delivery may have in flight: ingest reads
	// on only while fewer of its operations than this wait for the resolver
	// or the importer (parked ones do not count), so a huge delivery never
	// builds a queue that small ones wait behind. Defaults to 2000;
	// negative means unbounded (for tests that run ingest alone).
	MaxInFlight int
	// ObjectGrace is how long after its publication a delivery whose object
	// is not found is retried before it fails with MISSING_OBJECT: in a
	// cluster a replica may not have the object yet. Defaults to 30s;
	// negative means no grace.
	ObjectGrace time.Duration
	// RedriveAfter is how long an operation in flight (queued for the
	// resolver, or resolved and on its way to the importer) may make no
	// progress before its work is published again: work messages
	// JetStream had acknowledged can be lost (an OS crash on a single
	// node). Defaults to 10m.
	RedriveAfter time.Duration
	// KeepGiveUp is how long a settled delivery's body may fail to be kept
	// in IMPORT_INPUTS, over at least five passes, before it is removed
	// unkept: it holds a place of its merchant's waiting deliveries
	// meanwhile. Defaults to 15m.
	KeepGiveUp time.Duration
	// CallbackHosts are the hosts a delivery's Import-Callback-Url may
	// name (IMPORTD_CALLBACK_HOSTS); a delivery naming another fails
	// ingestion. The zero value allows none.
	CallbackHosts callback.Hosts
	// Bus configures the JetStream resources. See bus.Config.
	Bus bus.Config
	// Started, when set, is called once Run has its consumers and begins
	// consuming: the process's /readyz waits for it.
	Started func()

	// afterCommit, in tests, runs after each batch is committed and before
	// its work messages are published; an error simulates a crash there.
	afterCommit func(to int) error
}

// DefaultMaxInFlight is the default of Config.MaxInFlight: enough to keep
// every worker's batches full (a lower bound starves the resolver and the
// importer of a delivery read alone), little enough that a small delivery
// behind it waits seconds, not minutes. What one bound cannot do for
// several large deliveries read at once, inFlightLimit does.
const DefaultMaxInFlight = 2000

// inFlightLimit is what one delivery may have in flight now: MaxInFlight,
// but when this worker reads more than two deliveries at once they share
// twice MaxInFlight (four deliveries: half of it each), so that what
// queues ahead of another merchant's small delivery stays bounded.
func (w *Worker) inFlightLimit() int {
	limit := w.cfg.MaxInFlight
	if n := int(w.reading.Load()); n > 2 && limit > 0 {
		limit = max(1, 2*limit/n)
	}
	return limit
}

func (c *Config) setDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = 2
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.WorkBatchSize == 0 {
		c.WorkBatchSize = bus.MaxWorkOps
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = 512 << 10
	}
	if c.MaxDeliveryBytes == 0 {
		c.MaxDeliveryBytes = 8 << 30
	}
	if c.ObjectGrace == 0 {
		c.ObjectGrace = 30 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	c.Bus = c.Bus.WithDefaults()
	if c.RedriveAfter == 0 {
		c.RedriveAfter = 10 * time.Minute
	}
	if c.KeepGiveUp == 0 {
		c.KeepGiveUp = 15 * time.Minute
	}
}

func (c *Config) validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 64:
		return fmt.Errorf("ingest: Concurrency %d out of range 1..64", c.Concurrency)
	case c.BatchSize < 1 || c.BatchSize > 50000:
		return fmt.Errorf("ingest: BatchSize %d out of range 1..50000", c.BatchSize)
	case c.WorkBatchSize < 1:
		return fmt.Errorf("ingest: WorkBatchSize %d must be positive", c.WorkBatchSize)
	case c.MaxRecordBytes < 1024:
		return fmt.Errorf("ingest: MaxRecordBytes %d must be at least 1024", c.MaxRecordBytes)
	case c.MaxDeliveryBytes < 1:
		return fmt.Errorf("ingest: MaxDeliveryBytes %d must be positive", c.MaxDeliveryBytes)
	case c.Bus.AckWait < time.Second:
		return fmt.Errorf("ingest: Bus.AckWait %s must be at least 1s", c.Bus.AckWait)
	case c.RedriveAfter < time.Second:
		return fmt.Errorf("ingest: RedriveAfter %s must be at least 1s", c.RedriveAfter)
	}
	return nil
}

// Worker consumes import.deliveries.<merchantId>, turns every record into a
// tracked operation and queues the valid ones for the resolver.
//
// A delivery message is acknowledged only after everything it holds is
// committed and every work message is acknowledged by JetStream. Until then
// the worker keeps it alive with in-progress acks; if the worker dies, the
// redelivered message resumes from the delivery's checkpoint, so nothing is
// lost or doubled. Any number of workers may run at once.
type Worker struct {
	cfg    Config
	store  *tracking.Store
	js     jetstream.JetStream
	bodies *bus.Bodies
	logger *zap.Logger

	// slots holds one token per delivery being read, Concurrency at most. A
	// delivery waiting for room in flight (throttle) gives its token back, so
	// that the deliveries queued behind a huge one are read meanwhile; jobs
	// bounds how many are open at all, waiting or not.
	slots chan struct{}
	jobs  chan struct{}
	// reading counts the deliveries being read (inFlightLimit).
	reading atomic.Int32
	// keepFailures are the bodies the last pass of removeSettled failed to
	// keep, by bus.KeptName; only the settle loop uses it.
	keepFailures map[string]keepFailure
}

// maxJobsPerSlot bounds the deliveries one worker has open, reading or
// waiting for room, per unit of Concurrency.
const maxJobsPerSlot = 16

// New returns an ingest worker.
func New(cfg Config, store *tracking.Store, js jetstream.JetStream, logger *zap.Logger) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if store == nil || js == nil {
		return nil, errors.New("ingest: New needs a store and a JetStream context")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if limit := bus.MaxWorkBytes(js.Conn()); limit < cfg.MaxRecordBytes+4<<10 { // a record and the framing of its message
		logger.Warn("the NATS server's max payload is under the record size limit: records that do not fit in a work message will be rejected",
			zap.Int("max_work_bytes", limit), zap.Int("max_record_bytes", cfg.MaxRecordBytes))
	}
	return &Worker{cfg: cfg, store: store, js: js, bodies: bus.NewBodies(js), logger: logger.Named("ingest"),
		slots: make(chan struct{}, cfg.Concurrency), jobs: make(chan struct{}, cfg.Concurrency*maxJobsPerSlot)}, nil
}

// Run consumes deliveries until ctx is canceled, then finishes the batches
// in hand, hands unfinished deliveries back to JetStream and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if err := bus.Provision(ctx, w.js, w.cfg.Bus); err != nil {
		return err
	}
	cons, err := bus.IngestConsumer(ctx, w.js, w.cfg.Bus)
	if err != nil {
		return err
	}
	if err := w.store.EnsurePartitions(ctx); err != nil {
		return err
	}
	go w.maintainPartitions(ctx)
	go w.redriveLoop(ctx)
	go w.settleLoop(ctx)
	go bus.WatchLag(ctx, cons, bus.ConsumerIngest, 10*time.Second, w.logger)
	w.logger.Info("ingest worker started", zap.Int("concurrency", w.cfg.Concurrency))
	if w.cfg.Started != nil {
		w.cfg.Started()
	}

	bus.NewConsumer(cons, bus.ConsumerConfig{
		Name:        bus.ConsumerIngest,
		MaxWait:     2 * time.Second,
		Slots:       deliverySlots{w},
		ConfirmAcks: true,
		// A delivery being read is stored batch by batch and resumes from
		// its checkpoint: shutting down, the reader stores what it has read
		// and hands the rest back.
		Interruptible:  true,
		BackoffInitial: 500 * time.Millisecond,
		BackoffMax:     time.Minute,
	}, w.logger).Run(ctx, w.handle)
	return nil
}

// deliverySlots are the Worker's slots and jobs as bus.Slots: a delivery
// takes a job, then a slot; throttle gives the slot back while it waits.
type deliverySlots struct{ w *Worker }

func (s deliverySlots) Acquire(ctx context.Context) bool {
	select {
	case s.w.jobs <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	select {
	case s.w.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		<-s.w.jobs
		return false
	}
}

func (s deliverySlots) Release() {
	<-s.w.slots
	<-s.w.jobs
}

// maintainPartitions keeps partitions ahead of the clock.
func (w *Worker) maintainPartitions(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.store.EnsurePartitions(ctx); err != nil && ctx.Err() == nil {
				w.logger.Error("creating partitions failed", zap.Error(err))
			}
		}
	}
}

// outcome is what handling a delivery message decided; handle turns it into
// the bus.Outcome.
type outcome int

const (
	outcomeAck   outcome = iota // read: acknowledge, keep the message until the delivery settles (settle.go)
	outcomeDone                 // a copy of a delivery's message: acknowledge and remove it
	outcomeRetry                // transient failure: redeliver after a backoff
	outcomeLeave                // shutting down or another worker owns it: redeliver soon
)

func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) bus.Outcome {
	meta, err := msg.Metadata()
	if err != nil {
		w.logger.Error("delivery message without metadata", zap.Error(err))
		return bus.Reject("delivery message without metadata")
	}
	res, err := w.process(ctx, msg, meta)
	switch res {
	case outcomeDone:
		return bus.AckThen(func(ctx context.Context) {
			if err := w.bodies.Remove(ctx, fmt.Sprintf("%s:%d", meta.Stream, meta.Sequence.Stream), ""); err != nil {
				w.logger.Warn("removing a delivery's message failed; it stays until the stream's max age", zap.Error(err))
			}
		})
	case outcomeRetry:
		return bus.Backoff(err, zap.Uint64("stream_seq", meta.Sequence.Stream))
	case outcomeLeave:
		return bus.Retry(time.Second)
	}
	return bus.Ack
}
