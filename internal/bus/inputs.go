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

// OpenBody opens the body b names, from its object when it has one, else
// from its message, and returns it with its size in bytes, or ErrBodyGone.
func OpenBody(ctx context.Context, js jetstream.JetStream, b Body) (io.ReadCloser, int64, error) {
	if b.Object != "" {
		return openObject(ctx, js, BucketPayloads, b.Object)
	}
	stream, seqText, ok := strings.Cut(b.Source, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || stream != StreamDeliveries {
		return nil, 0, ErrBodyGone
	}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, ErrBodyGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus: stream %s: %w", stream, err)
	}
	msg, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, ErrBodyGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus: message %s: %w", b.Source, err)
	}
	// The sequence names this delivery's message; anything else there
	// would be another delivery's body.
	if msg.Subject != DeliverySubject(b.Merchant) {
		return nil, 0, ErrBodyGone
	}
	if r := ReceiptOf(msg.Header.Get(HeaderMsgID), b.Merchant); ValidReceipt(r) && r != b.Receipt {
		return nil, 0, ErrBodyGone
	}
	return io.NopCloser(bytes.NewReader(msg.Data)), int64(len(msg.Data)), nil
}

// KeptName is the name of a delivery's body in IMPORT_INPUTS: one per
// delivery, so keeping it again replaces it.
func KeptName(merchant, receipt string) string { return merchant + "/" + receipt }

// OpenKept opens the body of merchant's delivery receipt kept in
// IMPORT_INPUTS, or returns ErrBodyGone.
func OpenKept(ctx context.Context, js jetstream.JetStream, merchant, receipt string) (io.ReadCloser, int64, error) {
	return openObject(ctx, js, BucketInputs, KeptName(merchant, receipt))
}

// Keep stores body, of size bytes, as the body of merchant's delivery
// receipt in IMPORT_INPUTS. A full bucket is an error IsStreamFull
// reports; what was written of the body is removed then.
func Keep(ctx context.Context, js jetstream.JetStream, merchant, receipt string, body io.Reader, size int64) error {
	obs, err := js.ObjectStore(ctx, BucketInputs)
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
		if derr := discardKept(ctx, js, obs, name); derr != nil {
			err = errors.Join(err, derr)
		}
		return fmt.Errorf("bus: keep the body of %s: %w", receipt, err)
	}
	return nil
}

// discardKept removes whatever IMPORT_INPUTS holds under name by purging
// its subjects, which needs no room in a full bucket (a delete writes a
// meta).
func discardKept(ctx context.Context, js jetstream.JetStream, obs jetstream.ObjectStore, name string) error {
	st, err := js.Stream(ctx, "OBJ_"+BucketInputs)
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

func openObject(ctx context.Context, js jetstream.JetStream, bucket, name string) (io.ReadCloser, int64, error) {
	obj, err := OpenObject(ctx, js, bucket, name, ObjectChunkStall)
	if IsObjectNotFound(err) {
		return nil, 0, ErrBodyGone
	}
	if err != nil {
		return nil, 0, err
	}
	return obj, int64(obj.Info.Size), nil
}
