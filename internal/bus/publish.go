package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// InlineLimit is the largest body published inside the delivery message;
// larger ones go through the object store IMPORT_PAYLOADS.
const InlineLimit = 512 << 10

// Delivery is a delivery to publish.
type Delivery struct {
	Merchant        string
	Receipt         string // required; Nats-Msg-Id is DeliveryID(Merchant, Receipt)
	Data            string
	Format          string
	ContractVersion string
	ForeignKey      string
	SkipErrors      bool
	Gzip            bool   // the body is gzipped
	Description     string // of the object, for people listing the bucket
	CallbackURL     string // called when the delivery ends (Import-Callback-Url)
}

// Header returns the message headers of the delivery.
func (d Delivery) Header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderMsgID, DeliveryID(d.Merchant, d.Receipt))
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set(HeaderData, d.Data)
	set(HeaderFormat, d.Format)
	set(HeaderContractVersion, d.ContractVersion)
	set(HeaderForeignKey, d.ForeignKey)
	set(HeaderCallbackURL, d.CallbackURL)
	if d.SkipErrors {
		h.Set(HeaderSkipErrors, "true")
	}
	if d.Gzip {
		h.Set(HeaderEncoding, "gzip")
	}
	return h
}

// Published says how a delivery was published.
type Published struct {
	Object    string // name in IMPORT_PAYLOADS; "" when inline
	Size      int64  // body bytes as published
	Sequence  uint64
	Duplicate bool // JetStream dropped it as a duplicate: never on IMPORT_DELIVERIES as provisioned, which has no window
}

// ObjectName returns a fresh name in IMPORT_PAYLOADS for a body of the
// delivery receipt of merchant: the merchant, the receipt and 32 random hex
// digits. Ingest reads only objects whose name starts with the delivery's
// merchant (see ObjectOfMerchant); the random part keeps names unguessable
// (object store subjects cannot be scoped to a merchant, so a name is all
// that keeps another upstream from replacing the object) and keeps a
// publication of the same receipt again from replacing a body ingest may be
// reading.
func ObjectName(merchant, receipt string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return merchant + "." + receipt + "." + hex.EncodeToString(b)
}

// ObjectOfMerchant reports whether an Import-Object name may be read as a
// body of merchant's delivery: it starts with the merchant and a dot.
// Otherwise an upstream publishing for one merchant could name another
// merchant's body and import it as its own.
func ObjectOfMerchant(name, merchant string) bool {
	rest, ok := strings.CutPrefix(name, merchant+".")
	return ok && merchant != "" && rest != ""
}

// PublishDelivery publishes body as the delivery d: inline when it is at
// most InlineLimit bytes, else streamed into IMPORT_PAYLOADS under a name
// of its own (ObjectName).
func PublishDelivery(ctx context.Context, js jetstream.JetStream, d Delivery, body io.Reader) (Published, error) {
	if !ValidMerchant(d.Merchant) || !ValidReceipt(d.Receipt) {
		return Published{}, fmt.Errorf("bus: invalid merchant %q or receipt %q", d.Merchant, d.Receipt)
	}
	head := make([]byte, InlineLimit+1)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Published{}, fmt.Errorf("bus: read body: %w", err)
	}
	msg := &nats.Msg{Subject: DeliverySubject(d.Merchant), Header: d.Header()}
	var res Published
	if n <= InlineLimit {
		msg.Data, res.Size = head[:n], int64(n)
	} else {
		obs, err := js.ObjectStore(ctx, BucketPayloads)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return Published{}, fmt.Errorf("bus: object store %s does not exist: has importd provisioned this NATS server? %w", BucketPayloads, err)
		}
		if err != nil {
			return Published{}, fmt.Errorf("bus: object store %s: %w", BucketPayloads, err)
		}
		name := ObjectName(d.Merchant, d.Receipt)
		info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Description: d.Description}, io.MultiReader(bytes.NewReader(head[:n]), body))
		if err != nil {
			return Published{}, fmt.Errorf("bus: store the body in %s: %w", BucketPayloads, err)
		}
		msg.Header.Set(HeaderObject, name)
		res.Object, res.Size = name, int64(info.Size)
	}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamDeliveries))
	if err != nil && res.Object != "" {
		// Refused: the body would wait in the bucket for nothing.
		if obs, oerr := js.ObjectStore(ctx, BucketPayloads); oerr == nil {
			_ = obs.Delete(ctx, res.Object)
		}
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			return Published{}, fmt.Errorf("bus: publish to %s: no stream answered: has importd provisioned this NATS server? %w", msg.Subject, err)
		}
		return Published{}, fmt.Errorf("bus: publish to %s: %w", msg.Subject, err)
	}
	res.Sequence, res.Duplicate = ack.Sequence, ack.Duplicate
	return res, nil
}

// NewReceipt returns a fresh receipt id: 32 random hex digits.
func NewReceipt() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// RemoveDelivery removes a delivery's message at source ("<stream>:<sequence>",
// tracking.Delivery.Source) and its body's object, if any, once nothing will
// read them again: what a merchant has in IMPORT_DELIVERIES is then what
// waits for ingest or is still in flight, the count Limits.WaitingDeliveries
// bounds, and the bucket holds only bodies still needed. The receipt stays
// stored, so a copy published again is still recognised. What is already
// gone is no error.
func RemoveDelivery(ctx context.Context, js jetstream.JetStream, source, object string) error {
	var errs []error
	stream, seqText, ok := strings.Cut(source, ":")
	if seq, err := strconv.ParseUint(seqText, 10, 64); ok && err == nil && stream == StreamDeliveries {
		s, err := js.Stream(ctx, stream)
		if err == nil {
			err = s.DeleteMsg(ctx, seq)
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			errs = append(errs, fmt.Errorf("bus: remove delivery message %s: %w", source, err))
		}
	}
	if object != "" {
		obs, err := js.ObjectStore(ctx, BucketPayloads)
		if err == nil {
			err = obs.Delete(ctx, object)
		}
		if err != nil && !IsObjectNotFound(err) {
			errs = append(errs, fmt.Errorf("bus: remove delivery object %s: %w", object, err))
		}
	}
	return errors.Join(errs...)
}
