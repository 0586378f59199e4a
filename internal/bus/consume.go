package bus

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Handler handles one message and says what becomes of it. It never
// acknowledges the message itself: the Consumer does, from the Outcome.
type Handler func(ctx context.Context, msg jetstream.Msg) Outcome

// BatchHandler handles a fetched batch whole and returns one Outcome per
// message, in the order of msgs.
type BatchHandler func(ctx context.Context, msgs []jetstream.Msg) []Outcome

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// Name names the consumer in logs.
	Name string
	// Fetch is how many messages one fetch asks for. Defaults to 1.
	Fetch int
	// MaxWait bounds the wait of one fetch. Defaults to 1s.
	MaxWait time.Duration
	// Concurrency is how many messages of a batch Run handles at once.
	// Defaults to 1.
	Concurrency int
	// WholeBatch has Run hand out a batch's messages once the fetch is
	// complete, which a stream that cannot fill the batch makes wait for
	// MaxWait, rather than as they arrive.
	WholeBatch bool
	// Slots, when set, replaces Fetch and Concurrency for handlers that
	// take long (a delivery read for minutes): Run takes a slot before each
	// fetch of one message, the message's handler gives it back when it
	// returns, and Run fetches on meanwhile, so one long message never
	// holds up the others.
	Slots Slots
	// BackoffInitial and BackoffMax are the window of Backoff's delays:
	// the first delay, and the most any delay grows to before its jitter
	// (RetryDelay). Default to 1s and 30s.
	BackoffInitial, BackoffMax time.Duration
	// AckWait, when set, is the consumer's AckWait: Run then sends
	// in-progress acks while a handler runs (KeepAlive), so that a handler
	// waiting for row locks or a slow target does not see its message
	// handed to another worker.
	AckWait time.Duration
	// ConfirmAcks waits for the server to confirm each ack (DoubleAck): for
	// messages whose redelivery costs a lot.
	ConfirmAcks bool
	// Interruptible hands handlers the context of Run itself, canceled on
	// shutdown, for handlers that stop midway and resume on redelivery.
	// Otherwise handlers get a context that is not canceled: on shutdown
	// the messages in hand are finished, since unfinished they would wait
	// for their AckWait before anyone handles them again.
	Interruptible bool
}

// Slots bounds the messages a Consumer has in hand (ConsumerConfig.Slots).
type Slots interface {
	// Acquire takes a slot, waiting as long as ctx allows; false means ctx
	// ended first.
	Acquire(ctx context.Context) bool
	// Release gives back a slot Acquire took.
	Release()
}

func (c *ConsumerConfig) setDefaults() {
	if c.Fetch == 0 {
		c.Fetch = 1
	}
	if c.MaxWait == 0 {
		c.MaxWait = time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = time.Second
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
}

// Consumer is the one consumer runtime of the workers: it fetches messages,
// hands them to a handler, keeps them alive while they are handled, maps
// each handler's Outcome to JetStream (settle) and, on shutdown, stops
// fetching and finishes the messages in hand.
type Consumer struct {
	cons   jetstream.Consumer
	cfg    ConsumerConfig
	logger *zap.Logger
}

// NewConsumer returns a Consumer of cons.
func NewConsumer(cons jetstream.Consumer, cfg ConsumerConfig, logger *zap.Logger) *Consumer {
	cfg.setDefaults()
	if logger == nil {
		logger = zap.NewNop()
	}
	if cfg.Name != "" {
		logger = logger.With(zap.String("consumer", cfg.Name))
	}
	return &Consumer{cons: cons, cfg: cfg, logger: logger}
}

// Run hands every message to handle until ctx is canceled, then waits for
// the handlers in hand and returns. Each message goes to a handler as soon
// as the fetch delivers it (or, WholeBatch, once the fetch is complete),
// Concurrency at once, and the next fetch starts once the batch is handled;
// with Slots, fetches go on while messages are handled, one slot each.
func (c *Consumer) Run(ctx context.Context, handle Handler) {
	hctx := c.handlerContext(ctx)
	one := func(msg jetstream.Msg) {
		c.settle(ctx, msg, c.handleOne(hctx, msg, handle))
	}
	if c.cfg.Slots == nil {
		c.fetchBatches(ctx, func(batch jetstream.MessageBatch) {
			msgs := arriving(batch)
			if c.cfg.WholeBatch {
				msgs = slices.Values(slices.Collect(msgs))
			}
			EachConcurrently(msgs, c.cfg.Concurrency, one)
		})
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	retry := fetchBackoff()
	for c.cfg.Slots.Acquire(ctx) {
		batch, err := c.cons.Fetch(1, jetstream.FetchMaxWait(c.cfg.MaxWait))
		if err != nil {
			c.cfg.Slots.Release()
			if !c.fetchFailed(ctx, retry, err) {
				return
			}
			continue
		}
		retry.Reset()
		got := false
		for msg := range batch.Messages() {
			got = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.cfg.Slots.Release()
				one(msg)
			}()
		}
		if !got {
			c.cfg.Slots.Release()
		}
		c.fetchEnded(ctx, batch)
	}
}

// RunBatch is Run for a handler of whole batches: each non-empty batch,
// once the fetch is complete, goes to handle, and each message is settled
// with its Outcome.
func (c *Consumer) RunBatch(ctx context.Context, handle BatchHandler) {
	hctx := c.handlerContext(ctx)
	c.fetchBatches(ctx, func(batch jetstream.MessageBatch) {
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			return
		}
		outs := handle(hctx, msgs)
		for i, msg := range msgs {
			o := Backoff(errors.New("bus: the handler gave no outcome"))
			if i < len(outs) {
				o = outs[i]
			}
			c.settle(ctx, msg, o)
		}
	})
}

func (c *Consumer) handlerContext(ctx context.Context) context.Context {
	if c.cfg.Interruptible {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// handleOne runs handle, keeping msg alive meanwhile when AckWait is set.
func (c *Consumer) handleOne(ctx context.Context, msg jetstream.Msg, handle Handler) Outcome {
	if c.cfg.AckWait > 0 {
		stop := KeepAlive(msg, Config{AckWait: c.cfg.AckWait})
		defer stop()
	}
	return handle(ctx, msg)
}

// fetchBatches fetches batches until ctx is canceled and hands each to
// handle; a failed fetch is retried with exponential backoff.
func (c *Consumer) fetchBatches(ctx context.Context, handle func(jetstream.MessageBatch)) {
	retry := fetchBackoff()
	for ctx.Err() == nil {
		batch, err := c.cons.Fetch(c.cfg.Fetch, jetstream.FetchMaxWait(c.cfg.MaxWait))
		if err != nil {
			if !c.fetchFailed(ctx, retry, err) {
				return
			}
			continue
		}
		retry.Reset()
		handle(batch)
		c.fetchEnded(ctx, batch)
	}
}

func fetchBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.MaxElapsedTime = 0
	return b
}

// fetchFailed waits before the next fetch; false means ctx ended.
func (c *Consumer) fetchFailed(ctx context.Context, retry backoff.BackOff, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	d := retry.NextBackOff()
	c.logger.Warn("fetch failed", zap.Error(err), zap.Duration("retry_in", d))
	Sleep(ctx, d)
	return ctx.Err() == nil
}

func (c *Consumer) fetchEnded(ctx context.Context, batch jetstream.MessageBatch) {
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
		c.logger.Debug("fetch ended", zap.Error(err))
	}
}

// arriving yields the messages of batch as the fetch delivers them.
func arriving(batch jetstream.MessageBatch) iter.Seq[jetstream.Msg] {
	return func(yield func(jetstream.Msg) bool) {
		for m := range batch.Messages() {
			if !yield(m) {
				return
			}
		}
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
