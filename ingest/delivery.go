package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/headers"
	"github.com/importd/importd/tracking"
)

// header is what the delivery message's headers say, with the problems found.
type header struct {
	receipt  string
	assigned bool // the receipt was assigned by ingest, not chosen by the publisher
	delivery tracking.Delivery
	resource catalog.ResourceType
	format   Format
	gzip     bool
	errs     []tracking.IngestionError
}

// parseHeader reads the headers of a delivery message (docs/contract.md,
// "A delivery message") with the rules headers.Check shares with POST
// /v1/imports; callbacks are the hosts a callback URL may name.
func parseHeader(msg jetstream.Msg, meta *jetstream.MsgMetadata, callbacks callback.Hosts) header {
	h := msg.Headers()
	source := fmt.Sprintf("%s:%d", meta.Stream, meta.Sequence.Stream)
	merchant := bus.MerchantOf(msg.Subject())
	dh, probs := headers.Check(merchant, h, len(msg.Data()), callbacks)
	hd := header{receipt: dh.Receipt, resource: dh.Data, format: Format(dh.Format), gzip: dh.Gzip}
	if hd.receipt == "" {
		hd.receipt, hd.assigned = assignReceipt(source, meta.Timestamp), true
	}
	for _, p := range probs {
		if p.Code == CodeInvalidReceipt {
			p.Description += "; receipt " + hd.receipt + " was assigned instead"
		}
		hd.errs = append(hd.errs, tracking.IngestionError{Code: p.Code, Description: p.Description})
	}
	// A value that breaks the rules is kept as sent, clipped, for people
	// reading why the delivery failed.
	or := func(canonical, header string) string {
		if canonical == "" {
			return clip(h.Get(header))
		}
		return canonical
	}
	hd.delivery = tracking.Delivery{
		ReceiptID:       hd.receipt,
		MerchantID:      clip(merchant),
		AcceptedAt:      meta.Timestamp,
		Data:            or(string(dh.Data), bus.HeaderData),
		Format:          or(dh.Format, bus.HeaderFormat),
		ContractVersion: or(dh.ContractVersion, bus.HeaderContractVersion),
		ForeignKey:      dh.ForeignKey,
		SkipErrors:      dh.SkipErrors,
		ObjectName:      dh.Object,
		ContentEncoding: clip(h.Get(bus.HeaderEncoding)),
		Source:          source,
		CallbackURL:     dh.CallbackURL,
		Metadata:        dh.Metadata,
	}
	return hd
}

// assignReceipt derives a receipt for a message published without
// Nats-Msg-Id from the message itself, so that a redelivery gets the same one.
func assignReceipt(source string, ts time.Time) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s@%d", source, ts.UnixNano()))
	return hex.EncodeToString(sum[:16])
}

// clip shortens a header value to 64 bytes, storable.
func clip(s string) string { return headers.Clip(s) }

// job is one delivery being read.
type job struct {
	w     *Worker
	msg   jetstream.Msg
	d     tracking.Delivery
	hd    header
	log   *zap.Logger
	lease *bus.Lease

	pending   []jetstream.PubAckFuture // work messages of the last batch, not yet acknowledged
	pendingTo int                      // the record the pending futures reach up to
	analyzeAt int                      // records stored when statistics are next refreshed
	draining  bool                     // shutting down: store what is read, without waiting for room
	redrive   string                   // re-driving stalled work (redrive.go): names its messages apart
	analyzing atomic.Bool

	// The body as stored: its size (nil until opened) and a count of its
	// bytes read, for the delivery's ETA while it is read.
	bodySize *int64
	source   *countReader
}

// analyzeAsItGrows refreshes the statistics of the delivery's partition
// after its first batch and each time the delivery doubles, in the
// background. Until a partition is first analysed the planner believes a
// delivery has one operation, and the workers' batch updates then read the
// whole delivery with their positions as a filter, not as an index
// condition: rows read for every row updated, more as the delivery grows.
func (j *job) analyzeAsItGrows(stored int) {
	if j.analyzeAt == 0 {
		j.analyzeAt = j.w.cfg.BatchSize
	}
	if stored < j.analyzeAt || !j.analyzing.CompareAndSwap(false, true) {
		return
	}
	j.analyzeAt = stored * 2
	d := j.d
	go func() {
		defer j.analyzing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := j.w.store.AnalyzeOperations(ctx, &d); err != nil {
			j.log.Warn("refreshing statistics failed", zap.Error(err))
		}
	}()
}

func (w *Worker) process(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) (res outcome, err error) {
	hd := parseHeader(msg, meta, w.cfg.CallbackHosts)
	log := w.logger.With(zap.String("receipt", hd.receipt), zap.String("merchant", hd.delivery.MerchantID))
	d, created, err := w.store.DeliveryBegin(ctx, hd.delivery)
	if err != nil {
		return w.transient(ctx, err)
	}
	if d.Source != hd.delivery.Source {
		// The merchant's receipt published again: one delivery, never two.
		log.Info("delivery published again; ignored", zap.String("first", d.Source), zap.String("again", hd.delivery.Source))
		deliveriesTotal.WithLabelValues("duplicate").Inc()
		return outcomeDone, nil
	}
	j := &job{w: w, msg: msg, d: d, hd: hd, log: log, lease: bus.NewLease(msg, w.cfg.Bus)}
	if created {
		log.Info("delivery accepted", zap.Bool("receipt_assigned", hd.assigned), zap.String("data", d.Data), zap.String("format", d.Format))
	}
	if d.IngestState == tracking.IngestReceiving && d.RecordsRead == 0 {
		j.announce(ctx, bus.DeliveryAccepted)
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("ingest panicked; the delivery fails", zap.Any("panic", p), zap.Stack("stack"))
			res, err = j.fail(ctx, []tracking.IngestionError{{Code: CodeInternal, Description: fmt.Sprintf("internal error: %v", p)}})
		}
	}()
	switch {
	case d.IngestState != tracking.IngestReceiving:
		// Finished by an earlier attempt that died before acknowledging.
		j.announceEnd(ctx)
		return outcomeAck, nil
	case len(hd.errs) > 0:
		return j.fail(ctx, hd.errs)
	}
	return j.read(ctx)
}

// transient maps an error to the outcome: retry later when it is worth it.
func (w *Worker) transient(ctx context.Context, err error) (outcome, error) {
	if ctx.Err() != nil {
		return outcomeLeave, err
	}
	if errors.Is(err, tracking.ErrCheckpointMoved) {
		return outcomeLeave, err
	}
	switch {
	case bus.IsStreamFull(err):
		// Stored records are published again when the delivery resumes.
		w.logger.Warn("a stream is at its size limit; the delivery waits and resumes", zap.Error(err))
	case !database.IsTransient(err):
		w.logger.Error("ingest failed with an unexpected error; retrying", zap.Error(err))
	}
	return outcomeRetry, err
}

// open returns the delivery's body, or the ingestion error why it cannot be read.
func (j *job) open(ctx context.Context) (io.Reader, *limitReader, io.Closer, *tracking.IngestionError, error) {
	var src io.Reader = bytes.NewReader(j.msg.Data())
	var closer io.Closer = io.NopCloser(nil)
	size := int64(len(j.msg.Data()))
	if name := j.d.ObjectName; name != "" {
		// Just stored, an object can be briefly invisible from a replica that
		// has not caught up (a JetStream cluster): a missing object is only
		// final once the delivery message is a while old.
		missing := func(ierr *tracking.IngestionError) (io.Reader, *limitReader, io.Closer, *tracking.IngestionError, error) {
			if meta, err := j.msg.Metadata(); err == nil && time.Since(meta.Timestamp) < j.w.cfg.ObjectGrace {
				return nil, nil, nil, nil, fmt.Errorf("ingest: %s (retrying for %s after publication)", ierr.Description, j.w.cfg.ObjectGrace)
			}
			return nil, nil, nil, ierr, nil
		}
		// Every request and every chunk bounded: a stream leader lost in
		// the middle fails the read (the delivery is retried and resumes)
		// rather than hanging it.
		obj, err := bus.OpenObject(ctx, j.w.js, bus.BucketPayloads, name, bus.ObjectChunkStall)
		if err != nil {
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				return nil, nil, nil, &tracking.IngestionError{Code: CodeMissingObject, Description: "object store " + bus.BucketPayloads + " does not exist"}, nil
			}
			if bus.IsObjectNotFound(err) {
				return missing(&tracking.IngestionError{Code: CodeMissingObject, Description: fmt.Sprintf("object %q not found in %s", name, bus.BucketPayloads)})
			}
			if errors.Is(err, bus.ErrObjectLink) {
				// No retry makes it an object: the delivery fails now.
				return nil, nil, nil, &tracking.IngestionError{Code: CodeMissingObject,
					Description: fmt.Sprintf("object %q in %s is a link; a delivery's body is read from an object, never through a link", name, bus.BucketPayloads)}, nil
			}
			return nil, nil, nil, nil, err
		}
		if int64(obj.Info.Size) > j.w.cfg.MaxDeliveryBytes {
			obj.Close()
			return nil, nil, nil, &tracking.IngestionError{Code: CodeDeliveryTooLarge,
				Description: fmt.Sprintf("object %q is %d bytes, over the size limit of %d bytes", name, obj.Info.Size, j.w.cfg.MaxDeliveryBytes)}, nil
		}
		src, closer, size = obj, obj, int64(obj.Info.Size)
	}
	j.bodySize, j.source = &size, &countReader{r: src}
	r, lr, err := openBody(j.source, j.hd.gzip, j.w.cfg.MaxDeliveryBytes)
	if err != nil {
		closer.Close()
		var be *bodyError
		if errors.As(err, &be) && be.Code != CodeReadError {
			return nil, nil, nil, &tracking.IngestionError{Code: be.Code, Description: be.Err.Error()}, nil
		}
		return nil, nil, nil, nil, err
	}
	return r, lr, closer, nil, nil
}

// read streams the body into batches of operations.
func (j *job) read(ctx context.Context) (outcome, error) {
	body, counter, closer, ierr, err := j.open(ctx)
	if err != nil {
		return j.retryOrStop(ctx, err)
	}
	if ierr != nil {
		return j.fail(ctx, []tracking.IngestionError{*ierr})
	}
	defer closer.Close()

	cfg := j.w.cfg
	dec := j.decoder(body)
	resume := j.d.RecordsRead
	var republish []RawRecord // records stored by an earlier attempt whose work messages may be missing
	var queued map[int]bool
	if j.d.PublishedThrough < resume {
		if queued, err = j.w.store.QueuedSeqs(ctx, &j.d, j.d.PublishedThrough, resume); err != nil {
			return j.retryOrStop(ctx, err)
		}
		j.log.Info("resuming delivery", zap.Int("records_stored", resume), zap.Int("republish", len(queued)))
	} else if resume > 0 {
		j.log.Info("resuming delivery", zap.Int("records_stored", resume))
	}

	// Under an in-flight bound, batches of at most half of it: the next
	// batch is written while the previous one is still being worked on.
	batchSize := func() int {
		if l := j.w.inFlightLimit(); l > 0 && l/2 < cfg.BatchSize {
			return max(1, l/2)
		}
		return cfg.BatchSize
	}
	j.w.reading.Add(1)
	defer j.w.reading.Add(-1)
	batch := make([]RawRecord, 0, cfg.BatchSize)
	caughtUp := resume == 0
	for {
		if ctx.Err() != nil {
			// Shutting down: store what is read, hand the rest back.
			j.draining = true
			if _, err := j.flush(context.WithoutCancel(ctx), batch, counter.read); err != nil {
				return outcomeLeave, err
			}
			return outcomeLeave, ctx.Err()
		}
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ferr := j.flush(ctx, batch, counter.read); ferr != nil {
				return j.retryOrStop(ctx, ferr)
			}
			if errors.Is(err, bus.ErrObjectUnavailable) {
				// JetStream, not the delivery: read it again later.
				return j.retryOrStop(ctx, err)
			}
			if errors.Is(err, bus.ErrObjectIncomplete) {
				return j.fail(ctx, []tracking.IngestionError{{Code: CodeMissingObject, Description: err.Error()}})
			}
			return j.fail(ctx, []tracking.IngestionError{containerFailure(err, rec.Line)})
		}
		if rec.Index < resume {
			if rec.Index%10000 == 0 {
				j.keepAlive() // skipping a long stored prefix takes a while
			}
			if queued[rec.Index] {
				republish = append(republish, rec)
				if len(republish) >= cfg.BatchSize {
					if err := j.republish(ctx, republish); err != nil {
						return j.retryOrStop(ctx, err)
					}
					republish = republish[:0]
				}
			}
			continue
		}
		if !caughtUp {
			if len(republish) > 0 {
				if err := j.republish(ctx, republish); err != nil {
					return j.retryOrStop(ctx, err)
				}
				republish = nil
			}
			// Every record stored before has its work messages acknowledged
			// now (republished and awaited, or picked up by the resolver):
			// the next checkpoint says so, and a later attempt republishes
			// only what this one stores.
			j.pendingTo = resume
			caughtUp = true
		}
		batch = append(batch, rec)
		if len(batch) >= batchSize() {
			if batch, err = j.flush(ctx, batch, counter.read); err != nil {
				return j.retryOrStop(ctx, err)
			}
		}
	}
	if len(republish) > 0 {
		if err := j.republish(ctx, republish); err != nil {
			return j.retryOrStop(ctx, err)
		}
	}
	if _, err := j.flush(ctx, batch, counter.read); err != nil {
		return j.retryOrStop(ctx, err)
	}
	if err := j.awaitPublished(ctx); err != nil {
		return j.retryOrStop(ctx, err)
	}
	j.d.BodyRead = j.source.n // read to the end, whether or not a batch followed the last checkpoint
	if err := j.w.store.IngestFinish(ctx, &j.d, tracking.IngestDone, nil, counter.read); err != nil {
		return j.retryOrStop(ctx, err)
	}
	bytesTotal.Add(float64(counter.read))
	deliveriesTotal.WithLabelValues("ingested").Inc()
	j.log.Info("delivery ingested", zap.Int("records", j.d.RecordsRead), zap.Int64("bytes", counter.read))
	j.announceEnd(ctx)
	return outcomeAck, nil
}

// decoder returns the decoder of the delivery's records.
func (j *job) decoder(body io.Reader) Decoder {
	return NewDecoder(j.hd.format, body, DecoderConfig{
		MaxRecordBytes: j.w.cfg.MaxRecordBytes,
		ColumnKind:     func(column string) catalog.Kind { return catalog.ColumnKind(j.hd.resource, column) },
	})
}

// retryOrStop ends reading when the delivery was interrupted (canceled, or
// over the error threshold) and otherwise maps err to retry or leave.
func (j *job) retryOrStop(ctx context.Context, err error) (outcome, error) {
	if !errors.Is(err, tracking.ErrInterrupted) {
		return j.w.transient(ctx, err)
	}
	if err := j.awaitPublished(ctx); err != nil {
		return j.w.transient(ctx, err)
	}
	if err := j.w.store.IngestFinish(ctx, &j.d, tracking.IngestDone, nil, j.d.BytesRead); err != nil {
		return j.w.transient(ctx, err)
	}
	deliveriesTotal.WithLabelValues("interrupted").Inc()
	j.log.Info("delivery interrupted; reading stopped", zap.Int("records_stored", j.d.RecordsRead))
	j.announce(ctx, bus.DeliveryInterrupted)
	if j.d.CompletedAt != nil {
		j.announce(ctx, bus.DeliveryCompleted)
	}
	return outcomeAck, nil
}

// containerFailure maps a decoder error to the ingestion error of the delivery.
func containerFailure(err error, line int) tracking.IngestionError {
	var be *bodyError
	if errors.As(err, &be) {
		return tracking.IngestionError{Code: be.Code, Description: be.Err.Error()}
	}
	var ce *ContainerError
	if errors.As(err, &ce) {
		return tracking.IngestionError{Code: ce.Code, Description: fmt.Sprintf("line %d: %v", ce.Line, ce.Err)}
	}
	return tracking.IngestionError{Code: CodeReadError, Description: fmt.Sprintf("line %d: %v", line, err)}
}

// fail ends ingest of the delivery with the given reasons. Records stored
// before the failure go on through the pipeline.
func (j *job) fail(ctx context.Context, ierrs []tracking.IngestionError) (outcome, error) {
	if err := j.awaitPublished(ctx); err != nil {
		return j.w.transient(ctx, err)
	}
	if err := j.w.store.IngestFinish(ctx, &j.d, tracking.IngestFailed, ierrs, j.d.BytesRead); err != nil {
		return j.w.transient(ctx, err)
	}
	deliveriesTotal.WithLabelValues("failed").Inc()
	j.log.Warn("delivery could not be read", zap.Any("errors", ierrs), zap.Int("records_stored", j.d.RecordsRead))
	j.announceEnd(ctx)
	return outcomeAck, nil
}

// announce publishes a delivery event on IMPORT_EVENTS with the delivery's
// status. Events are notifications: a failure is logged, not fatal, and the
// message id makes a repeat a no-op.
func (j *job) announce(ctx context.Context, event bus.DeliveryEvent) {
	if err := j.w.store.Announce(ctx, j.w.js, &j.d, event); err != nil {
		j.log.Warn("delivery event not published", zap.String("event", string(event)), zap.Error(err))
	}
}

// announceEnd publishes the event that ends ingest: failed, queued or completed.
func (j *job) announceEnd(ctx context.Context) {
	switch {
	case j.d.IngestState == tracking.IngestFailed:
		j.announce(ctx, bus.DeliveryFailed)
	case j.d.CompletedAt != nil:
		j.announce(ctx, bus.DeliveryCompleted)
	default:
		j.announce(ctx, bus.DeliveryQueued)
	}
}

// throttle waits until the delivery has room for n more operations in
// flight (queued for or being worked on by the resolver and the importer):
// the bound that keeps one huge delivery from queueing ahead of every other.
func (j *job) throttle(ctx context.Context, n int) error {
	if j.w.cfg.MaxInFlight < 0 || j.draining {
		return nil
	}
	waited := false
	start := time.Now()
	for {
		limit := j.w.inFlightLimit()
		c, err := j.w.store.Counts(ctx, &j.d)
		if err != nil {
			return err
		}
		if inFlight := c.Queued + c.Processing; inFlight == 0 || inFlight+int64(n) <= int64(limit) {
			if waited {
				throttledSeconds.Add(time.Since(start).Seconds())
			}
			return nil
		}
		if !waited {
			waited = true
			<-j.w.slots // let another delivery be read meanwhile
			defer j.takeSlot()
		}
		j.keepAlive()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// takeSlot takes back the reading slot throttle gave up, telling JetStream
// meanwhile that the delivery is still being worked on: the deliveries
// read in its place may hold every slot for minutes, and silent for
// AckWait, this one would be redelivered to another worker while this one
// still holds it. Always, even shutting down: the slot is given back when
// the delivery's handler returns.
func (j *job) takeSlot() {
	tick := time.NewTicker(j.aliveTick())
	defer tick.Stop()
	for {
		select {
		case j.w.slots <- struct{}{}:
			return
		case <-tick.C:
			j.keepAlive()
		}
	}
}

// aliveTick is how often a wait calls keepAlive, which sends at most one
// in-progress ack per AckWait/4: acks then come at most 3/8 of AckWait
// apart.
func (j *job) aliveTick() time.Duration {
	return min(time.Second, j.w.cfg.Bus.AckWait/8)
}

// keepAlive tells JetStream the delivery is still being worked on.
func (j *job) keepAlive() {
	if err := j.lease.Renew(); err != nil {
		j.log.Warn("in-progress ack failed", zap.Error(err))
	}
}

// flush validates a batch of records and writes their operations and events
// in one transaction, then queues the valid ones for the resolver. It
// returns the batch emptied for reuse.
func (j *job) flush(ctx context.Context, batch []RawRecord, bytesRead int64) ([]RawRecord, error) {
	if len(batch) == 0 {
		return batch, nil
	}
	start := time.Now()
	from, to := batch[0].Index, batch[len(batch)-1].Index+1
	ops, events, counts, work := j.build(batch)
	events, err := j.markDuplicates(ctx, ops, events, &counts, work, from)
	if err != nil {
		return batch, err
	}
	// Work messages of the previous batch must be acknowledged before the
	// checkpoint says so.
	if err := j.awaitPublished(ctx); err != nil {
		return batch, err
	}
	if err := j.throttle(ctx, len(batch)); err != nil {
		return batch, err
	}
	err = j.w.store.IngestWrite(ctx, &j.d, tracking.IngestBatch{
		From: from, To: to, PublishedThrough: j.pendingTo, BytesRead: bytesRead,
		BodySize: j.bodySize, BodyRead: j.source.n,
		Ops: ops, Events: events, Counts: counts,
	})
	if err != nil {
		return batch, err
	}
	if hook := j.w.cfg.afterCommit; hook != nil {
		if err := hook(to); err != nil {
			return batch, err
		}
	}
	var valid []bus.WorkOp
	for i := range work {
		if work[i].ok {
			valid = append(valid, work[i].op)
		}
	}
	if err := j.publish(ctx, valid); err != nil {
		return batch, err
	}
	j.pendingTo = to
	j.analyzeAsItGrows(to)
	recordsTotal.WithLabelValues("queued").Add(float64(counts.Queued))
	recordsTotal.WithLabelValues("validationFailed").Add(float64(counts.ValidationFailed))
	batchSeconds.Observe(time.Since(start).Seconds())
	j.keepAlive()
	return batch[:0], nil
}

// workItem is a record's work operation, ok when it passed validation.
type workItem struct {
	op bus.WorkOp
	ok bool
}

// build validates records and makes their operations and events. Records
// are independent here but for duplicates inside the batch.
func (j *job) build(batch []RawRecord) ([]tracking.Operation, []tracking.Event, tracking.Counts, []workItem) {
	now := time.Now().UTC()
	ops := make([]tracking.Operation, len(batch))
	events := make([]tracking.Event, 0, len(batch)+len(batch)/8)
	work := make([]workItem, len(batch))
	seen := make(map[string]int, len(batch))
	var counts tracking.Counts
	for i, rec := range batch {
		var errs []catalog.Error
		var v catalog.Validated
		key := ""
		if rec.Err != nil {
			errs = []catalog.Error{*rec.Err}
		} else {
			var verrs []catalog.Error
			v, verrs = catalog.Validate(j.hd.resource, rec.Data)
			key, errs = v.Identity, verrs
			if key != "" && len(errs) == 0 {
				if first, dup := seen[key]; dup {
					errs = append(errs, duplicateError(j.hd.resource, key, first))
				} else {
					seen[key] = rec.Line
				}
			}
		}
		if key == "" {
			key = "line:" + strconv.Itoa(rec.Line)
		}
		op := tracking.Operation{
			ID:           tracking.OperationID(j.d.MerchantID, j.d.ReceiptID, rec.Index),
			Seq:          rec.Index,
			Line:         rec.Line,
			ResourceType: string(j.hd.resource),
			ResourceKey:  key,
			CreatedAt:    now,
		}
		received := tracking.NewEvent(&j.d, key, tracking.CodeRecordReceived, "Record received from line "+strconv.Itoa(rec.Line))
		received.Timestamp = now
		events = append(events, received)
		if len(errs) > 0 {
			op.State, op.Errors = tracking.StateValidationFailed, errs
			op.Last = validationEvent(&j.d, key, rec.Line, errs)
			events = append(events, op.Last)
		} else {
			op.State, op.Last = tracking.StateProcessing, received
			work[i] = workItem{op: bus.WorkOp{ID: op.ID.String(), Seq: rec.Index, Key: key, Record: rec.Data, Facts: factsOf(v)}, ok: true}
		}
		counts.Total++
		counts.Count(op.State, tracking.StageQueued, 1)
		ops[i] = op
	}
	return ops, events, counts, work
}

func duplicateError(t catalog.ResourceType, key string, firstLine int) catalog.Error {
	field := "key"
	if t.IdentifiedBySKU() {
		field = "sku"
	}
	return catalog.DataErr(catalog.CodeDuplicateIdentity, field,
		fmt.Sprintf("%s %q already appears on line %d of this delivery", field, key, firstLine))
}

func validationEvent(d *tracking.Delivery, key string, line int, errs []catalog.Error) tracking.Event {
	msg := "Validation failed: " + errs[0].Error()
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	ev := tracking.NewEvent(d, key, tracking.CodeValidationFailed, msg)
	debug, _ := json.Marshal(struct {
		Line   int             `json:"line"`
		Errors []catalog.Error `json:"errors"`
	}{line, errs})
	ev.Debug = string(debug)
	return ev
}

// markDuplicates fails the valid operations whose identity an earlier batch
// of the same delivery already holds: one query per batch.
func (j *job) markDuplicates(ctx context.Context, ops []tracking.Operation, events []tracking.Event, counts *tracking.Counts, work []workItem, from int) ([]tracking.Event, error) {
	if from == 0 {
		return events, nil
	}
	var keys []string
	for i := range ops {
		if ops[i].State == tracking.StateProcessing {
			keys = append(keys, ops[i].ResourceKey)
		}
	}
	seen, err := j.w.store.KeysSeen(ctx, &j.d, keys, from)
	if err != nil || len(seen) == 0 {
		return events, err
	}
	for i := range ops {
		op := &ops[i]
		line, dup := seen[op.ResourceKey]
		if op.State != tracking.StateProcessing || !dup {
			continue
		}
		op.State, op.Errors = tracking.StateValidationFailed, []catalog.Error{duplicateError(j.hd.resource, op.ResourceKey, line)}
		op.Last = validationEvent(&j.d, op.ResourceKey, op.Line, op.Errors)
		events = append(events, op.Last)
		counts.Queued--
		counts.ValidationFailed++
		work[i].ok = false
	}
	return events, nil
}

// publish sends operations to the resolver asynchronously, in messages cut
// by bus.CutWork: at most WorkBatchSize operations, within what the NATS
// connection carries. A record too large for any message is rejected
// rather than published for ever.
func (j *job) publish(ctx context.Context, ops []bus.WorkOp) error {
	wb := &bus.WorkBatch{ReceiptID: j.d.ReceiptID, MerchantID: j.d.MerchantID, DeliveryAt: j.d.AcceptedAt,
		ResourceType: string(j.hd.resource), Ops: ops}
	limit := bus.MaxWorkBytes(j.w.js.Conn())
	msgs, tooLarge := bus.CutWork(wb, j.w.cfg.WorkBatchSize, limit)
	if len(tooLarge) > 0 {
		j.log.Warn("records too large for a work message rejected", zap.Int("records", len(tooLarge)), zap.Int("limit", limit))
		if _, err := j.w.store.RejectWork(ctx, wb, tooLarge, tracking.CodeWorkMessageTooLarge, tracking.TooLargeDescription("resolver", limit)); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		msg := nats.NewMsg(bus.ResolveSubject(j.d.MerchantID))
		msg.Data = m.Data
		stage := "resolve"
		if j.redrive != "" {
			// A re-drive is a new message, not a duplicate of the lost one.
			stage = "resolve.redrive." + j.redrive
			msg.Header.Set(bus.HeaderRedrive, j.redrive)
		}
		msg.Header.Set(bus.HeaderMsgID, bus.WorkMsgID(bus.DeliveryID(j.d.MerchantID, j.d.ReceiptID), stage, m.Ops))
		// Wait for room rather than fail when JetStream is slower than us.
		f, err := j.w.js.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second))
		if err != nil {
			return fmt.Errorf("ingest: publish work: %w", err)
		}
		j.pending = append(j.pending, f)
	}
	return nil
}

// awaitPublished waits until JetStream has acknowledged every work message
// published so far.
func (j *job) awaitPublished(ctx context.Context) error {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	tick := time.NewTicker(j.aliveTick()) // the wait may be as long as AckWait
	defer tick.Stop()
	for _, f := range j.pending {
	wait:
		for {
			select {
			case <-f.Ok():
				break wait
			case err := <-f.Err():
				j.pending = nil
				return fmt.Errorf("ingest: work message not stored: %w", err)
			case <-timeout.C:
				j.pending = nil
				return errors.New("ingest: work messages not acknowledged within 30s")
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				j.keepAlive()
			}
		}
	}
	j.pending = j.pending[:0]
	return nil
}

// factsOf are the facts of a valid record for the resolver (bus.RecordFacts).
func factsOf(v catalog.Validated) *bus.RecordFacts {
	f := &bus.RecordFacts{Master: v.Master}
	if len(v.References) > 0 {
		f.Refs = make([]bus.FactRef, len(v.References))
		for i, r := range v.References {
			f.Refs[i] = bus.FactRef{TypeID: r.TypeID, Key: r.Key, SKU: r.SKU}
		}
	}
	return f
}

// republish sends again the work messages of records an earlier attempt
// stored but may not have published. JetStream's duplicate window drops
// those it has; the resolver ignores operations it has seen.
func (j *job) republish(ctx context.Context, recs []RawRecord) error {
	ops := make([]bus.WorkOp, 0, len(recs))
	for _, rec := range recs {
		v, _ := catalog.Validate(j.hd.resource, rec.Data)
		ops = append(ops, bus.WorkOp{ID: tracking.OperationID(j.d.MerchantID, j.d.ReceiptID, rec.Index).String(), Seq: rec.Index, Key: v.Identity, Record: rec.Data, Facts: factsOf(v)})
	}
	if err := j.publish(ctx, ops); err != nil {
		return err
	}
	j.keepAlive()
	return j.awaitPublished(ctx)
}
