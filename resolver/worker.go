// Package resolver checks the references of operations against the catalog,
// parks those whose references are missing, and releases them when the
// missing resources are created, by this pipeline or by anyone else. It
// pairs products without a master variant with their master variant and
// fails category cycles that could never resolve.
//
// Any number of resolvers may run at once. Parking and creation of a key
// are serialised on the key's registry row (see catalog's registry), and a
// periodic sweep releases anything parked on a key that exists, so no
// operation waits for something that exists.
package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

var (
	resolvedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "importd_resolver_operations_total",
		Help: "Operations handled by the resolver, by outcome (resolved, parked).",
	}, []string{"outcome"})
	releasedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_resolver_released_total",
		Help: "Parked operations released to the importer.",
	})
	sweptTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_resolver_swept_references_total",
		Help: "Parked references released by the sweep rather than by an event.",
	})
	// Sampled every ParkedInterval by every resolver: each reports the same
	// total, so a dashboard takes the max over instances, not the sum.
	parkedGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "importd_operations_parked",
		Help: "Operations parked now, by state (unresolved, waitForMasterVariant), over every delivery; sampled by the resolver.",
	}, []string{"state"})
	batchSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "importd_resolver_batch_seconds",
		Help:    "Time to handle one batch, by kind (work, events).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"kind"})
)

// Config configures a resolver Worker.
type Config struct {
	// Fetch is how many work messages are fetched at once. Defaults to 8.
	Fetch int
	// Concurrency is how many work messages are resolved at once, each in
	// its own transaction. Defaults to 4.
	Concurrency int
	// EventFetch is how many resource events are fetched at once. Defaults to 500.
	EventFetch int
	// SweepInterval is how often the sweep runs. Defaults to 2s.
	SweepInterval time.Duration
	// ParkedInterval is how often the resolver samples the operations
	// parked now (importd_operations_parked). Defaults to 30s.
	ParkedInterval time.Duration
	// Bus configures the JetStream resources. See bus.Config.
	Bus bus.Config
	// Started, when set, is called once Run has its consumers and begins
	// consuming: the process's /readyz waits for it.
	Started func()
}

func (c *Config) setDefaults() {
	if c.Fetch == 0 {
		c.Fetch = 8
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.EventFetch == 0 {
		c.EventFetch = 500
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 2 * time.Second
	}
	if c.ParkedInterval == 0 {
		c.ParkedInterval = 30 * time.Second
	}
	c.Bus = c.Bus.WithDefaults()
}

// Worker is a resolver.
type Worker struct {
	cfg    Config
	store  *tracking.Store
	js     jetstream.JetStream
	logger *zap.Logger
	outbox *bus.Outbox
}

// New returns a resolver.
func New(cfg Config, store *tracking.Store, js jetstream.JetStream, logger *zap.Logger) (*Worker, error) {
	cfg.setDefaults()
	switch {
	case cfg.Fetch < 1 || cfg.Fetch > 256:
		return nil, fmt.Errorf("resolver: Fetch %d out of range 1..256", cfg.Fetch)
	case cfg.Concurrency < 1 || cfg.Concurrency > 64:
		return nil, fmt.Errorf("resolver: Concurrency %d out of range 1..64", cfg.Concurrency)
	case cfg.EventFetch < 1 || cfg.EventFetch > 10000:
		return nil, fmt.Errorf("resolver: EventFetch %d out of range 1..10000", cfg.EventFetch)
	case cfg.SweepInterval < 10*time.Millisecond:
		return nil, fmt.Errorf("resolver: SweepInterval %s is under 10ms", cfg.SweepInterval)
	case cfg.ParkedInterval < 10*time.Millisecond:
		return nil, fmt.Errorf("resolver: ParkedInterval %s is under 10ms", cfg.ParkedInterval)
	case cfg.Bus.WorkMaxDeliveries < 1:
		return nil, fmt.Errorf("resolver: Bus.WorkMaxDeliveries %d must be positive", cfg.Bus.WorkMaxDeliveries)
	case store == nil || js == nil:
		return nil, errors.New("resolver: New needs a store and a JetStream context")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	w := &Worker{cfg: cfg, store: store, js: js, logger: logger.Named("resolver")}
	w.outbox = w.newOutbox()
	return w, nil
}

// Run resolves until ctx is canceled, then finishes the batch in hand and
// returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if err := bus.Provision(ctx, w.js, w.cfg.Bus); err != nil {
		return err
	}
	work, err := bus.ResolveConsumer(ctx, w.js, w.cfg.Bus)
	if err != nil {
		return err
	}
	events, err := bus.CatalogEventsConsumer(ctx, w.js, w.cfg.Bus)
	if err != nil {
		return err
	}
	if err := w.store.EnsurePartitions(ctx); err != nil {
		return err
	}
	go bus.WatchLag(ctx, work, bus.ConsumerResolve, 10*time.Second, w.logger)
	go bus.WatchLag(ctx, events, bus.ConsumerResolveEvents, 10*time.Second, w.logger)
	w.logger.Info("resolver started")
	if w.cfg.Started != nil {
		w.cfg.Started()
	}
	// Work waits for row locks: kept alive. A failed batch is tried again
	// within 200ms..30s, soon, for resolving is cheap and what it waits
	// for (a lock, room in IMPORT_WORK) frees quickly.
	workCons := bus.NewConsumer(work, bus.ConsumerConfig{Name: bus.ConsumerResolve, Fetch: w.cfg.Fetch,
		Concurrency: w.cfg.Concurrency, WholeBatch: true, AckWait: w.cfg.Bus.AckWait,
		BackoffInitial: 200 * time.Millisecond, BackoffMax: 30 * time.Second}, w.logger)
	eventsCons := bus.NewConsumer(events, bus.ConsumerConfig{Name: bus.ConsumerResolveEvents, Fetch: w.cfg.EventFetch,
		BackoffInitial: 200 * time.Millisecond, BackoffMax: 30 * time.Second}, w.logger)
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){
		func(ctx context.Context) { workCons.Run(ctx, w.handleWork) },
		func(ctx context.Context) { eventsCons.RunBatch(ctx, w.handleEvents) },
		w.sweepLoop,
		w.parkedLoop,
		w.outbox.Run,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// handleWork resolves one work message, in its own transaction, and says
// what becomes of it: acknowledged once what it resolved is published,
// delivered again later, or, when it can never be handled (an unknown
// resource type, or failures up to Bus.WorkMaxDeliveries), its operations
// rejected and the message terminated.
func (w *Worker) handleWork(ctx context.Context, msg jetstream.Msg) bus.Outcome {
	start := time.Now()
	defer func() { batchSeconds.WithLabelValues("work").Observe(time.Since(start).Seconds()) }()
	attempt := bus.Delivered(msg)
	wb, err := bus.DecodeWork(msg.Data())
	if err != nil || wb.ReceiptID == "" {
		if errors.Is(err, bus.ErrWorkVersion) && attempt < w.cfg.Bus.WorkMaxDeliveries {
			// A newer resolver, running during an upgrade, may read it.
			return bus.Backoff(err, zap.String("subject", msg.Subject()))
		}
		w.logger.Error("unreadable work message dropped", zap.String("subject", msg.Subject()), zap.Error(err), zap.Int("attempt", attempt))
		return bus.Reject("unreadable work message")
	}
	t, ok := catalog.ParseResourceType(wb.ResourceType)
	if !ok {
		return w.reject(ctx, &wb, tracking.CodeUnknownResourceType,
			tracking.UnknownTypeDescription("resolver", wb.ResourceType))
	}
	if err := w.resolveAndPublish(ctx, t, &wb, msg.Headers().Get(bus.HeaderRedrive)); err != nil {
		if attempt >= w.cfg.Bus.WorkMaxDeliveries && !errors.Is(err, ErrPublish) {
			return w.reject(ctx, &wb, tracking.CodeRedeliveryLimit,
				tracking.RedeliveryDescription("resolver", attempt, err))
		}
		// Redelivered, operations already resolved are published again.
		return bus.Backoff(err, zapReceipt(wb.ReceiptID))
	}
	return bus.Ack
}

// reject ends the operations of a work message that can never be handled
// rejected with a SYSTEM_ERROR (code, description); the message is then
// terminated. When rejecting fails the message comes back, to be rejected
// then.
func (w *Worker) reject(ctx context.Context, wb *bus.WorkBatch, code, description string) bus.Outcome {
	w.logger.Error("work message cannot be handled; its operations are rejected", zapReceipt(wb.ReceiptID),
		zap.String("code", code), zap.String("reason", description), zap.Int("operations", len(wb.Ops)))
	completed, err := w.store.RejectWork(ctx, wb, wb.Ops, code, description)
	if err != nil {
		return bus.Backoff(fmt.Errorf("rejecting the operations: %w", err), zapReceipt(wb.ReceiptID))
	}
	w.announce(completed)
	return bus.Reject(code)
}

// resolveAndPublish resolves a work message's operations and publishes
// those resolved to the importer; t is its resource type, parsed from
// wb.ResourceType. redrive is the name of the re-drive the
// message belongs to, if any (bus.HeaderRedrive).
func (w *Worker) resolveAndPublish(ctx context.Context, t catalog.ResourceType, wb *bus.WorkBatch, redrive string) error {
	out, err := w.resolveBatch(ctx, t, wb)
	if err != nil {
		return err
	}
	resolvedTotal.WithLabelValues("resolved").Add(float64(len(out)))
	if len(out) == 0 {
		return nil
	}
	stage := "apply"
	if redrive != "" {
		// The importer's message may be the one lost: a new one, not its duplicate.
		stage = "apply.redrive." + redrive
	}
	for i := range out {
		out[i].Facts = nil // the importer reads the record itself
	}
	next := &bus.WorkBatch{ReceiptID: wb.ReceiptID, MerchantID: wb.MerchantID, DeliveryAt: wb.DeliveryAt, ResourceType: wb.ResourceType, Ops: out}
	limit := bus.MaxWorkBytes(w.js.Conn())
	fs, tooLarge, err := w.publishApply(next, limit, func(ops []bus.WorkOp) string {
		return bus.WorkMsgID(bus.DeliveryID(wb.MerchantID, wb.ReceiptID), stage, ops)
	})
	if err != nil {
		return err
	}
	// A product grown by its master variant may no longer fit: rejected,
	// or the message would be redelivered for ever.
	completed, err := w.store.RejectWork(ctx, next, tooLarge, tracking.CodeWorkMessageTooLarge, tracking.TooLargeDescription("importer", limit))
	if err != nil {
		return err
	}
	w.announce(completed)
	return awaitAll(ctx, fs)
}

// handleEvents releases the operations parked on the resources the events
// announce: every event acknowledged, or every one delivered again.
func (w *Worker) handleEvents(ctx context.Context, msgs []jetstream.Msg) []bus.Outcome {
	start := time.Now()
	defer func() { batchSeconds.WithLabelValues("events").Observe(time.Since(start).Seconds()) }()
	type announced struct{ refs, registered []catalog.Reference }
	byMerchant := map[string]*announced{}
	for _, msg := range msgs {
		refs, merchant, err := parseEvent(msg.Subject(), msg.Data())
		if err != nil {
			w.logger.Warn("resource event ignored", zap.String("subject", msg.Subject()), zap.Error(err))
			continue
		}
		a := byMerchant[merchant]
		if a == nil {
			a = &announced{}
			byMerchant[merchant] = a
		}
		if msg.Headers().Get(bus.HeaderRegistered) == "true" {
			a.registered = append(a.registered, refs...)
		} else {
			a.refs = append(a.refs, refs...)
		}
	}
	for merchant, a := range byMerchant {
		if _, err := w.releaseRefs(ctx, merchant, a.refs, a.registered, "event"); err != nil {
			return each(msgs, bus.Backoff(err, zap.String("merchant", merchant)))
		}
	}
	return each(msgs, bus.Ack)
}

// each is o for every message.
func each(msgs []jetstream.Msg, o bus.Outcome) []bus.Outcome {
	outs := make([]bus.Outcome, len(msgs))
	for i := range outs {
		outs[i] = o
	}
	return outs
}

// parseEvent reads a resource event: the subject names the merchant and
// the resource type, the body the key or sku, and for a product the skus of
// the variants created or changed with it.
func parseEvent(subject string, data []byte) ([]catalog.Reference, string, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || (parts[4] != string(bus.ResourceCreated) && parts[4] != string(bus.ResourceUpdated)) {
		return nil, "", fmt.Errorf("subject is not catalog.events.<merchant>.<ResourceType>.<created|updated>")
	}
	merchant := parts[2]
	if !bus.ValidMerchant(merchant) {
		return nil, "", fmt.Errorf("invalid merchant id %q", merchant)
	}
	t, ok := catalog.ParseResourceType(parts[3])
	if !ok {
		return nil, "", fmt.Errorf("unknown resource type %q", parts[3])
	}
	var ev bus.ResourceEvent
	if len(data) > 64<<10 {
		return nil, "", fmt.Errorf("event body over 64 KiB")
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, "", fmt.Errorf("body: %w", err)
	}
	if ev.TypeID != "" && ev.TypeID != t.TypeID() {
		return nil, "", fmt.Errorf("typeId %q does not match the subject's %s", ev.TypeID, t)
	}
	ref := catalog.Reference{TypeID: t.TypeID(), Key: ev.Key, SKU: ev.SKU}
	if t.IdentifiedBySKU() && ev.SKU == "" {
		ref = catalog.Reference{TypeID: t.TypeID(), SKU: ev.Key}
	}
	ref = ref.Normalize()
	if !validKey(ref.Identity()) {
		return nil, "", fmt.Errorf("key %q is not a valid key", ref.Identity())
	}
	if len(ev.SKUs) > 0 && t != catalog.Product {
		return nil, "", fmt.Errorf("skus in the event of a %s: only a Product event names its variants", t)
	}
	if len(ev.SKUs) > bus.MaxEventSKUs {
		return nil, "", fmt.Errorf("%d skus, more than %d", len(ev.SKUs), bus.MaxEventSKUs)
	}
	refs := make([]catalog.Reference, 0, 1+len(ev.SKUs))
	refs = append(refs, ref)
	for _, sku := range ev.SKUs {
		if !validKey(sku) {
			return nil, "", fmt.Errorf("sku %q is not a valid sku", sku)
		}
		refs = append(refs, catalog.Reference{TypeID: catalog.ProductVariant.TypeID(), SKU: sku})
	}
	return refs, merchant, nil
}

func validKey(k string) bool {
	if len(k) < 2 || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (w *Worker) sweepLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.sweep(ctx); err != nil && ctx.Err() == nil {
			w.logger.Warn("sweep failed", zap.Error(err))
		}
	}
}

// parkedLoop samples the operations parked now into parkedGauge, at once
// and then every ParkedInterval, until ctx is canceled: a scrape reads the
// gauge, never the database.
func (w *Worker) parkedLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.ParkedInterval)
	defer t.Stop()
	for {
		unresolved, waiting, err := store.DeliveryCountsParked(ctx, w.store.Pool())
		if err == nil {
			parkedGauge.WithLabelValues(string(tracking.StateUnresolved)).Set(float64(unresolved))
			parkedGauge.WithLabelValues(string(tracking.StateWaitForMasterVariant)).Set(float64(waiting))
		} else if ctx.Err() == nil {
			w.logger.Warn("counting parked operations failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// announce announces deliveries the resolver completed (every operation
// in an end state, the last ones failed here) in a transaction that has
// committed.
func (w *Worker) announce(ds []*tracking.Delivery) {
	for _, d := range ds {
		go w.announceCompleted(d.ReceiptID, d.AcceptedAt)
	}
}

// announceAfterCommit announces deliveries tx completed once it has
// committed: the announcement reads the delivery on another connection.
func (w *Worker) announceAfterCommit(tx *store.Tx, ds []*tracking.Delivery) {
	if len(ds) > 0 {
		tx.AfterCommit(func() { w.announce(ds) })
	}
}

func (w *Worker) announceCompleted(receipt string, acceptedAt time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.store.AnnounceCompleted(ctx, w.js, receipt, acceptedAt); err != nil {
		w.logger.Warn("completed event not published", zap.String("receipt", receipt), zap.Error(err))
	}
}
