package bus

import (
	"context"
	"io"

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
