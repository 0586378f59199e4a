package bus

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketInputs is the object store that keeps the bodies of settled
// deliveries for the retention (GET /v1/imports/{receiptId}/inputs): once a
// delivery settles, ingest copies its body here and removes its message and
// object, so that IMPORT_DELIVERIES and IMPORT_PAYLOADS hold only what is
// waiting or in flight.
const BucketInputs = "IMPORT_INPUTS"

// ErrBodyGone reports a delivery body that is no longer where its delivery
// says: removed, past the stream's or the bucket's age, or replaced by
// another delivery's.
var ErrBodyGone = errors.New("bus: the delivery's body is gone")

// Body locates the body of a delivery as it was received.
type Body struct {
	Merchant, Receipt string
	Source            string // "<stream>:<sequence>" of its message
	Object            string // its object in IMPORT_PAYLOADS, "" for an inline body
}

// Bodies reads, keeps and removes the bodies of deliveries. It opens the
// stream and buckets involved once, as each opening is a request to the
// server; it is safe for concurrent use.
type Bodies struct {
	js jetstream.JetStream

	mu      sync.Mutex
	streams map[string]jetstream.Stream
	stores  map[string]jetstream.ObjectStore
}

// NewBodies returns Bodies on js.
func NewBodies(js jetstream.JetStream) *Bodies {
	return &Bodies{js: js, streams: map[string]jetstream.Stream{}, stores: map[string]jetstream.ObjectStore{}}
}

func (b *Bodies) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	return opened(&b.mu, b.streams, name, func() (jetstream.Stream, error) { return b.js.Stream(ctx, name) })
}

func (b *Bodies) store(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
	return opened(&b.mu, b.stores, bucket, func() (jetstream.ObjectStore, error) { return b.js.ObjectStore(ctx, bucket) })
}

// opened returns the handle named name from handles, opening it with open
// the first time; a failed opening is tried again the next time.
func opened[T any](mu *sync.Mutex, handles map[string]T, name string, open func() (T, error)) (T, error) {
	mu.Lock()
	h, ok := handles[name]
	mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := open()
	if err != nil {
		return h, err
	}
	mu.Lock()
	handles[name] = h
	mu.Unlock()
	return h, nil
}

// Open opens the body d names, from its object when it has one, else from
// its message, and returns it with its size in bytes, or ErrBodyGone.
func (b *Bodies) Open(ctx context.Context, d Body) (io.ReadCloser, int64, error) {
	if d.Object != "" {
		return b.openObject(ctx, BucketPayloads, d.Object)
	}
	stream, seqText, ok := strings.Cut(d.Source, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || stream != StreamDeliveries {
		return nil, 0, ErrBodyGone
	}
	st, err := b.stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, ErrBodyGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus: stream %s: %w", stream, err)
	}
	msg, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, ErrBodyGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus: message %s: %w", d.Source, err)
	}
	// The sequence names this delivery's message; anything else there
	// would be another delivery's body.
	if msg.Subject != DeliverySubject(d.Merchant) {
		return nil, 0, ErrBodyGone
	}
	if r := ReceiptOf(msg.Header.Get(HeaderMsgID), d.Merchant); ValidReceipt(r) && r != d.Receipt {
		return nil, 0, ErrBodyGone
	}
	return io.NopCloser(bytes.NewReader(msg.Data)), int64(len(msg.Data)), nil
}

// KeptName is the name of a delivery's body in IMPORT_INPUTS: one per
// delivery, so keeping it again replaces it.
func KeptName(merchant, receipt string) string { return merchant + "/" + receipt }

// OpenKept opens the body of merchant's delivery receipt kept in
// IMPORT_INPUTS, or returns ErrBodyGone.
func (b *Bodies) OpenKept(ctx context.Context, merchant, receipt string) (io.ReadCloser, int64, error) {
	return b.openObject(ctx, BucketInputs, KeptName(merchant, receipt))
}

// Keep stores body, of size bytes, as the body of merchant's delivery
// receipt in IMPORT_INPUTS. A full bucket is an error IsStreamFull
// reports; what was written of the body is removed then.
func (b *Bodies) Keep(ctx context.Context, merchant, receipt string, body io.Reader, size int64) error {
	obs, err := b.store(ctx, BucketInputs)
	if err != nil {
		return fmt.Errorf("bus: object store %s: %w", BucketInputs, err)
	}
	name := KeptName(merchant, receipt)
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name}, body)
	if err == nil && int64(info.Size) != size {
		err = fmt.Errorf("%d bytes kept of %d", info.Size, size)
	}
	if err != nil {
		// Put purges the chunks it wrote but may leave its meta, which
		// would name a body that cannot be read.
		if derr := b.discardKept(ctx, obs, name); derr != nil {
			err = errors.Join(err, derr)
		}
		return fmt.Errorf("bus: keep the body of %s: %w", receipt, err)
	}
	return nil
}

// discardKept removes whatever IMPORT_INPUTS holds under name by purging
// its subjects, which needs no room in a full bucket (a delete writes a
// meta).
func (b *Bodies) discardKept(ctx context.Context, obs jetstream.ObjectStore, name string) error {
	st, err := b.stream(ctx, "OBJ_"+BucketInputs)
	if err != nil {
		return err
	}
	if info, err := obs.GetInfo(ctx, name, jetstream.GetObjectInfoShowDeleted()); err == nil {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject("$O."+BucketInputs+".C."+info.NUID)); err != nil {
			return err
		}
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject("$O."+BucketInputs+".M."+base64.URLEncoding.EncodeToString([]byte(name))))
}

// Remove removes a delivery's message at source ("<stream>:<sequence>",
// tracking.Delivery.Source) and its body's object, if any, once nothing will
// read them again: what a merchant has in IMPORT_DELIVERIES is then what
// waits for ingest or is still in flight, the count Limits.WaitingDeliveries
// bounds, and the bucket holds only bodies still needed. The receipt stays
// stored, so a copy published again is still recognised. What is already
// gone is no error.
func (b *Bodies) Remove(ctx context.Context, source, object string) error {
	var errs []error
	stream, seqText, ok := strings.Cut(source, ":")
	if seq, err := strconv.ParseUint(seqText, 10, 64); ok && err == nil && stream == StreamDeliveries {
		s, err := b.stream(ctx, stream)
		if err == nil {
			err = s.DeleteMsg(ctx, seq)
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			errs = append(errs, fmt.Errorf("bus: remove delivery message %s: %w", source, err))
		}
	}
	if object != "" {
		obs, err := b.store(ctx, BucketPayloads)
		if err == nil {
			err = obs.Delete(ctx, object)
		}
		if err != nil && !IsObjectNotFound(err) {
			errs = append(errs, fmt.Errorf("bus: remove delivery object %s: %w", object, err))
		}
	}
	return errors.Join(errs...)
}

func (b *Bodies) openObject(ctx context.Context, bucket, name string) (io.ReadCloser, int64, error) {
	store, err := b.store(ctx, bucket)
	if err == nil {
		var obj *ObjectReader
		obj, err = openObjectIn(ctx, b.js, store, bucket, name, ObjectChunkStall)
		if err == nil {
			return obj, int64(obj.Info.Size), nil
		}
	}
	if IsObjectNotFound(err) {
		return nil, 0, ErrBodyGone
	}
	return nil, 0, err
}
