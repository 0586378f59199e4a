// Package publish publishes deliveries to importd: the one place that
// holds the publishing side of docs/contract.md, for importd's own
// publishers (importctl, POST /v1/imports) and for any Go upstream.
//
// A delivery is one message on import.deliveries.<merchant> whose headers
// say what it holds (Delivery.Header). A body of at most InlineLimit bytes
// is the message's; a larger one is stored first in the object store
// IMPORT_PAYLOADS under a fresh name starting with the merchant
// (ObjectName), and the message names it in Import-Object with an empty
// body. docs/publishing.md is the guide.
//
// The streams and the bucket are importd's: it creates them at start-up.
// Publish never creates them, it fails with an error saying so.
package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The stream deliveries are published to and the object store of large
// bodies.
const (
	StreamDeliveries = "IMPORT_DELIVERIES"
	BucketPayloads   = "IMPORT_PAYLOADS"
)

// Headers of a delivery message.
const (
	HeaderMsgID           = "Nats-Msg-Id"
	HeaderData            = "Import-Data"
	HeaderFormat          = "Import-Format"
	HeaderContractVersion = "Import-Contract-Version"
	HeaderForeignKey      = "Import-Foreign-Key"
	HeaderSkipErrors      = "Import-Skip-Errors"
	HeaderObject          = "Import-Object"
	HeaderEncoding        = "Content-Encoding"
	HeaderCallbackURL     = "Import-Callback-Url"
	// HeaderMetadataPrefix starts the headers of a delivery's metadata:
	// Import-Metadata-<Key>: <value>, one a pair (docs/publishing.md).
	HeaderMetadataPrefix = "Import-Metadata-"
)

// InlineLimit is the largest body published inside the delivery message;
// larger ones go through the object store IMPORT_PAYLOADS.
const InlineLimit = 512 << 10

var (
	merchantPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	receiptPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
)

// ValidMerchant reports whether id is a valid merchant id.
func ValidMerchant(id string) bool { return merchantPattern.MatchString(id) }

// ValidReceipt reports whether id is a valid receipt id.
func ValidReceipt(id string) bool { return receiptPattern.MatchString(id) }

// DeliveryID names the delivery (merchant, receipt) in message ids: a
// receipt alone is not unique, two merchants may use the same one. Neither
// a merchant nor a receipt holds a dot, so the name is unambiguous.
func DeliveryID(merchant, receipt string) string { return merchant + "." + receipt }

// DeliverySubject is where upstreams publish a merchant's deliveries.
func DeliverySubject(merchant string) string { return "import.deliveries." + merchant }

// EventsSubject is the filter of every status change of the delivery
// (merchant, receipt): import.events.<merchant>.<receipt>.>, on the stream
// IMPORT_EVENTS.
func EventsSubject(merchant, receipt string) string {
	return "import.events." + merchant + "." + receipt + ".>"
}

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
	// Metadata are key-value pairs returned with the delivery's job and
	// events (Import-Metadata-<Key>); keys match ^[A-Za-z0-9_-]{1,64}$ and
	// are lower-cased by importd, at most 16 pairs, values at most 256
	// bytes of UTF-8, 4 KiB in all.
	Metadata map[string]string
}

// Header returns the message headers of the delivery; an empty field is
// left out, so that importd applies its default.
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
	for k, v := range d.Metadata {
		h.Set(HeaderMetadataPrefix+k, v)
	}
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
	return merchant + "." + receipt + "." + randomHex()
}

// ObjectOfMerchant reports whether an Import-Object name may be read as a
// body of merchant's delivery: it starts with the merchant and a dot.
// Otherwise an upstream publishing for one merchant could name another
// merchant's body and import it as its own.
func ObjectOfMerchant(name, merchant string) bool {
	rest, ok := strings.CutPrefix(name, merchant+".")
	return ok && merchant != "" && rest != ""
}

// NewReceipt returns a fresh receipt id: 32 random hex digits.
func NewReceipt() string { return randomHex() }

func randomHex() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// Publish publishes body as the delivery d: inline when it is at most
// InlineLimit bytes, else streamed into IMPORT_PAYLOADS under a name of its
// own (ObjectName) first. The body is read once, as it comes: a large one
// is never held in memory. A publication JetStream refuses (a bound
// reached: the merchant's waiting deliveries, a stream or the bucket full)
// removes the object it stored, when the publisher may.
//
// Publishing a receipt again is safe: ingest ignores a merchant's receipt
// it has seen, so a publisher unsure whether a delivery arrived publishes
// it again under the same receipt.
func Publish(ctx context.Context, js jetstream.JetStream, d Delivery, body io.Reader) (Published, error) {
	if !ValidMerchant(d.Merchant) || !ValidReceipt(d.Receipt) {
		return Published{}, fmt.Errorf("publish: invalid merchant %q or receipt %q", d.Merchant, d.Receipt)
	}
	head := make([]byte, InlineLimit+1)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Published{}, fmt.Errorf("publish: read body: %w", err)
	}
	msg := &nats.Msg{Subject: DeliverySubject(d.Merchant), Header: d.Header()}
	var res Published
	if n <= InlineLimit {
		msg.Data, res.Size = head[:n], int64(n)
	} else {
		obs, err := js.ObjectStore(ctx, BucketPayloads)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return Published{}, fmt.Errorf("publish: object store %s does not exist: has importd provisioned this NATS server? %w", BucketPayloads, err)
		}
		if err != nil {
			return Published{}, fmt.Errorf("publish: object store %s: %w", BucketPayloads, err)
		}
		name := ObjectName(d.Merchant, d.Receipt)
		info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Description: d.Description}, io.MultiReader(bytes.NewReader(head[:n]), body))
		if err != nil {
			return Published{}, fmt.Errorf("publish: store the body in %s: %w", BucketPayloads, err)
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
			return Published{}, fmt.Errorf("publish: publish to %s: no stream answered: has importd provisioned this NATS server? %w", msg.Subject, err)
		}
		return Published{}, fmt.Errorf("publish: publish to %s: %w", msg.Subject, err)
	}
	res.Sequence, res.Duplicate = ack.Sequence, ack.Duplicate
	return res, nil
}
