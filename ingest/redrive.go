package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

var redrivenTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "importd_operations_redriven_total",
	Help: "Operations in flight whose work was published again after RedriveAfter without progress, by the stage they wait for (resolve, apply).",
}, []string{"stage"})

// redriveBatch bounds the operations one re-drive pass claims.
const redriveBatch = 10000

// ErrBodyLost reports a delivery whose body cannot be read again: its
// message is gone from the stream (lost with the work, or past the
// stream's max age) or its object from the bucket.
var ErrBodyLost = errors.New("ingest: the delivery's body is lost")

// CodeRecordLost is the error of an operation rejected because its work
// was lost and its record with it (ErrBodyLost).
const CodeRecordLost = "RECORD_LOST"

// redriveLoop publishes again, every RedriveAfter/4 (at most every minute),
// the work of operations that made no progress for RedriveAfter.
//
// The re-drive lives in ingest because only the delivery's body holds the
// records of most operations in flight (the database keeps a record only
// while it is parked, or once merged with its master variant): ingest reads
// the body again and publishes the records to the resolver, which resolves
// those still queued and sends those it resolved before on to the importer
// (with the record it keeps, if any), as it does for a redelivered message.
// Both stages ignore operations that have moved on, so re-driving work that
// was only slow costs a duplicate message, never a second import.
func (w *Worker) redriveLoop(ctx context.Context) {
	every := min(w.cfg.RedriveAfter/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	var cur tracking.RedriveCursor
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.redrivePass(ctx, &cur); err != nil && ctx.Err() == nil {
			w.logger.Warn("re-driving stalled operations failed", zap.Error(err))
		}
	}
}

// redrivePass claims the stalled operations of up to redriveBatch and
// publishes their work again, delivery by delivery.
func (w *Worker) redrivePass(ctx context.Context, cur *tracking.RedriveCursor) error {
	claims, err := w.store.RedriveClaim(ctx, w.cfg.RedriveAfter, redriveBatch, cur)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for i := range claims {
		c := &claims[i]
		log := w.logger.With(zap.String("receipt", c.Delivery.ReceiptID), zap.String("merchant", c.Delivery.MerchantID))
		var n int
		var err error
		if len(c.Seqs) > 0 { // the others were queued from their stored records
			n, err = w.redrive(ctx, c)
		}
		n += c.Outboxed
		if errors.Is(err, ErrBodyLost) {
			// Never to be found again: ended, not claimed again for ever.
			ops := make([]bus.WorkOp, len(c.Seqs))
			for i, seq := range c.Seqs {
				ops[i].Seq = seq
			}
			wb := &bus.WorkBatch{ReceiptID: c.Delivery.ReceiptID, MerchantID: c.Delivery.MerchantID, DeliveryAt: c.Delivery.AcceptedAt}
			description := fmt.Sprintf("the work of this record was lost and its delivery's body is gone too (%v); publish the record again", err)
			if _, rerr := w.store.RejectWork(ctx, wb, ops, CodeRecordLost, description); rerr != nil {
				errs = append(errs, rerr)
				continue
			}
			log.Error("operations made no progress and their records are lost: rejected", zap.Int("operations", len(c.Seqs)), zap.Error(err))
			continue
		}
		if err != nil {
			// Claimed all the same: tried again after RedriveAfter.
			errs = append(errs, fmt.Errorf("re-drive of %s: %w", c.Delivery.ReceiptID, err))
			continue
		}
		redrivenTotal.WithLabelValues("resolve").Add(float64(c.Stages[tracking.StageQueued]))
		redrivenTotal.WithLabelValues("apply").Add(float64(c.Stages[tracking.StageResolved]))
		log.Warn("operations made no progress; their work is published again",
			zap.Duration("after", w.cfg.RedriveAfter), zap.Int("queued", c.Stages[tracking.StageQueued]),
			zap.Int("resolved", c.Stages[tracking.StageResolved]), zap.Int("published", n))
	}
	return errors.Join(errs...)
}

// redrive reads the claimed records from the delivery's body again and
// publishes them to the resolver under new message ids. It returns how many
// it published.
func (w *Worker) redrive(ctx context.Context, c *tracking.Redrive) (int, error) {
	msg, err := w.storedDelivery(ctx, c.Delivery.Source)
	if err != nil {
		return 0, err
	}
	meta, _ := msg.Metadata()
	// Any host: the delivery was accepted with its callback URL, whatever
	// the list says now, and re-driving does not call it.
	hd := parseHeader(msg, meta, anyHost)
	if hd.receipt != c.Delivery.ReceiptID || len(hd.errs) > 0 {
		return 0, fmt.Errorf("%w: %s is not the message of delivery %s", ErrBodyLost, c.Delivery.Source, c.Delivery.ReceiptID)
	}
	j := &job{w: w, msg: msg, d: c.Delivery, hd: hd, lease: bus.NewLease(msg, w.cfg.Bus),
		log:     w.logger.With(zap.String("receipt", c.Delivery.ReceiptID)),
		redrive: strconv.FormatInt(time.Now().UnixNano(), 36)}
	body, _, closer, ierr, err := j.open(ctx)
	if err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, fmt.Errorf("%w: %s", ErrBodyLost, ierr.Description)
	}
	defer closer.Close()
	want := make(map[int]bool, len(c.Seqs))
	for _, s := range c.Seqs {
		want[s] = true
	}
	last := c.Seqs[len(c.Seqs)-1]
	dec := j.decoder(body)
	var recs []RawRecord
	n := 0
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("ingest: reading the body again: %w", err)
		}
		if rec.Index > last {
			break
		}
		if !want[rec.Index] || rec.Err != nil {
			continue
		}
		recs = append(recs, rec)
		if len(recs) >= w.cfg.BatchSize {
			if err := j.republish(ctx, recs); err != nil {
				return n, err
			}
			n += len(recs)
			recs = recs[:0]
		}
	}
	if len(recs) > 0 {
		if err := j.republish(ctx, recs); err != nil {
			return n, err
		}
		n += len(recs)
	}
	if n < len(c.Seqs) {
		return n, fmt.Errorf("ingest: %d of %d records to re-drive not found in the body", len(c.Seqs)-n, len(c.Seqs))
	}
	return n, nil
}

// storedDelivery fetches a delivery message again from its stream by the
// source ingest recorded ("<stream>:<sequence>").
func (w *Worker) storedDelivery(ctx context.Context, source string) (*storedMsg, error) {
	stream, seqText, ok := strings.Cut(source, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: source %q", ErrBodyLost, source)
	}
	s, err := w.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("ingest: stream %s: %w", stream, err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrBodyLost, source)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: message %s: %w", source, err)
	}
	return &storedMsg{raw: raw, stream: stream}, nil
}

// storedMsg is a delivery message read back from its stream, as the job
// that reads a delivery sees it: acknowledgements mean nothing to it, the
// message was acknowledged long ago.
type storedMsg struct {
	raw    *jetstream.RawStreamMsg
	stream string
}

func (m *storedMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.raw.Sequence}, NumDelivered: 1,
		Timestamp: m.raw.Time, Stream: m.stream}, nil
}
func (m *storedMsg) Data() []byte                     { return m.raw.Data }
func (m *storedMsg) Headers() nats.Header             { return m.raw.Header }
func (m *storedMsg) Subject() string                  { return m.raw.Subject }
func (m *storedMsg) Reply() string                    { return "" }
func (m *storedMsg) Ack() error                       { return nil }
func (m *storedMsg) DoubleAck(context.Context) error  { return nil }
func (m *storedMsg) Nak() error                       { return nil }
func (m *storedMsg) NakWithDelay(time.Duration) error { return nil }
func (m *storedMsg) InProgress() error                { return nil }
func (m *storedMsg) Term() error                      { return nil }
func (m *storedMsg) TermWithReason(string) error      { return nil }

// anyHost allows every callback host.
var anyHost, _ = callback.ParseHosts("*")
