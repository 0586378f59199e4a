package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/publish"
)

// The publishing side of the contract is the public package publish, so
// that upstreams in Go use the very rules importd's own publishers do;
// these names keep bus's callers as they are.

// InlineLimit is the largest body published inside the delivery message;
// larger ones go through the object store IMPORT_PAYLOADS.
const InlineLimit = publish.InlineLimit

// Delivery is a delivery to publish (publish.Delivery).
type Delivery = publish.Delivery

// Published says how a delivery was published (publish.Published).
type Published = publish.Published

// ObjectName returns a fresh name in IMPORT_PAYLOADS for a body of the
// delivery receipt of merchant (publish.ObjectName).
func ObjectName(merchant, receipt string) string { return publish.ObjectName(merchant, receipt) }

// ObjectOfMerchant reports whether an Import-Object name may be read as a
// body of merchant's delivery (publish.ObjectOfMerchant).
func ObjectOfMerchant(name, merchant string) bool { return publish.ObjectOfMerchant(name, merchant) }

// PublishDelivery publishes body as the delivery d: inline when it is at
// most InlineLimit bytes, else streamed into IMPORT_PAYLOADS under a name
// of its own (publish.Publish).
func PublishDelivery(ctx context.Context, js jetstream.JetStream, d Delivery, body io.Reader) (Published, error) {
	return publish.Publish(ctx, js, d, body)
}

// NewReceipt returns a fresh receipt id: 32 random hex digits.
func NewReceipt() string { return publish.NewReceipt() }

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
