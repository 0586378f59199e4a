// Package bus is the NATS JetStream plumbing shared by every role: the
// connection, the streams, consumers and object store of the contract,
// subject names, the internal work message, the consumer runtime every
// worker handles its messages on (Consumer: handlers return an Outcome,
// settle maps it to JetStream) and the publisher of the outboxes (Outbox).
package bus

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/publish"
)

// Stream, bucket and consumer names of the contract.
const (
	StreamDeliveries = publish.StreamDeliveries
	StreamWork       = "IMPORT_WORK"
	StreamCatalog    = "CATALOG_EVENTS"
	StreamEvents     = "IMPORT_EVENTS"
	BucketPayloads   = publish.BucketPayloads

	ConsumerIngest  = "ingest"
	ConsumerResolve = "resolve"
	ConsumerApply   = "apply"
)

// Headers of a delivery message.
const (
	HeaderMsgID           = publish.HeaderMsgID
	HeaderData            = publish.HeaderData
	HeaderFormat          = publish.HeaderFormat
	HeaderContractVersion = publish.HeaderContractVersion
	HeaderForeignKey      = publish.HeaderForeignKey
	HeaderSkipErrors      = publish.HeaderSkipErrors
	HeaderObject          = publish.HeaderObject
	HeaderEncoding        = publish.HeaderEncoding
	HeaderCallbackURL     = publish.HeaderCallbackURL
	HeaderMetadataPrefix  = publish.HeaderMetadataPrefix
)

// HeaderRegistered on a resource event says that its publisher recorded
// the resources where the resolver looks for them (the catalog, or for
// another target the registry) in the transaction that wrote them, as the
// importer does: the resolver then only looks for what is parked on them.
const HeaderRegistered = "Importd-Registered"

// HeaderRedrive on a work message says that it publishes again work that
// made no progress (presumably lost), and names the re-drive: the stage
// that answers it names its own messages after it, so that JetStream does
// not drop them as duplicates of the lost ones.
const HeaderRedrive = "Importd-Redrive"

// ValidMerchant reports whether id is a valid merchant id.
func ValidMerchant(id string) bool { return publish.ValidMerchant(id) }

// ValidReceipt reports whether id is a valid receipt id.
func ValidReceipt(id string) bool { return publish.ValidReceipt(id) }

// DeliveryID names the delivery (merchant, receipt) in message ids
// (publish.DeliveryID).
func DeliveryID(merchant, receipt string) string { return publish.DeliveryID(merchant, receipt) }

// ReceiptOf returns the receipt a delivery message's Nats-Msg-Id names on
// the subject of merchant: the id itself, or the receipt of
// DeliveryID(merchant, receipt), the form importd's own publishers use.
func ReceiptOf(msgID, merchant string) string {
	if r, ok := strings.CutPrefix(msgID, merchant+"."); ok && merchant != "" {
		return r
	}
	return msgID
}

// deliveriesNoDedupe is the source that turns JetStream's deduplication
// off on IMPORT_DELIVERIES. Its duplicate window would span the stream, not
// a merchant, and drop a second merchant's delivery published under the
// same receipt; ingest dedupes each merchant's receipts in PostgreSQL
// instead (tracking.Store.DeliveryBegin). nats-server replaces a zero
// window by its default (2m), and refuses one under 100ms, except on a
// stream with sources, where zero means no deduplication: the stream
// sources a subject of IMPORT_EVENTS nothing publishes (receipts have at
// least 8 characters). TestDeliveriesNotDeduplicated pins the behaviour.
var deliveriesNoDedupe = &jetstream.StreamSource{Name: StreamEvents, FilterSubject: "import.events._._.none"}

// DeliverySubject is where upstreams publish a merchant's deliveries.
func DeliverySubject(merchant string) string { return publish.DeliverySubject(merchant) }

// ResolveSubject carries operations to the resolver.
func ResolveSubject(merchant string) string { return "import.work.resolve." + merchant }

// ApplySubject carries resolved operations to the importer.
func ApplySubject(merchant string) string { return "import.work.apply." + merchant }

// DeliveryEvent names a delivery's status change, the last token of its
// subject (docs/contract.md, "Delivery events").
type DeliveryEvent string

// The delivery events.
const (
	DeliveryAccepted    DeliveryEvent = "accepted"
	DeliveryQueued      DeliveryEvent = "queued"
	DeliveryFailed      DeliveryEvent = "failed"
	DeliveryInterrupted DeliveryEvent = "interrupted"
	DeliveryCompleted   DeliveryEvent = "completed"
	DeliveryExpired     DeliveryEvent = "expired"
)

// EventSubject carries a delivery's status changes.
func EventSubject(merchant, receipt string, event DeliveryEvent) string {
	return "import.events." + merchant + "." + receipt + "." + string(event)
}

// ResourceChange names what happened to a catalog resource, the last token
// of its event's subject.
type ResourceChange string

// The resource changes.
const (
	ResourceCreated ResourceChange = "created"
	ResourceUpdated ResourceChange = "updated"
)

// CatalogSubject carries resource events.
func CatalogSubject(merchant, resourceType string, event ResourceChange) string {
	return "catalog.events." + merchant + "." + resourceType + "." + string(event)
}

// MerchantOf returns the merchant token of a subject such as
// import.deliveries.<merchant> or import.work.resolve.<merchant>.
func MerchantOf(subject string) string {
	i := strings.LastIndexByte(subject, '.')
	if strings.HasPrefix(subject, "catalog.events.") {
		parts := strings.Split(subject, ".")
		if len(parts) == 5 {
			return parts[2]
		}
		return ""
	}
	return subject[i+1:]
}

// Config of the JetStream resources.
type Config struct {
	// Retention is the max age of deliveries and delivery events and the TTL of
	// payload objects. Defaults to 48h.
	Retention time.Duration
	// Replicas of every stream. Defaults to 1.
	Replicas int
	// AckWait of the ingest consumer: how long a silent worker keeps a
	// delivery before JetStream redelivers it. Defaults to 30s.
	AckWait time.Duration
	// WorkMaxDeliveries is how often a work message may be delivered to the
	// resolver or the importer, and fail each time, before its operations
	// are rejected (REDELIVERY_LIMIT) and the message is terminated: a
	// message that can never be handled must not loop for ever. Operations
	// spend their five import attempts within it. Defaults to 20.
	WorkMaxDeliveries int
	// Limits bound what the streams and the payload bucket hold.
	Limits Limits
}

// Limits bound the streams and the payload bucket. A publish that would
// go over one is refused (discard new: IsStreamFull reports it); what was
// accepted is never dropped to make room. JetStream reserves each stream's
// bound on the server's disk at creation.
type Limits struct {
	// DeliveriesBytes bounds IMPORT_DELIVERIES. Defaults to 1 GiB.
	DeliveriesBytes int64
	// WorkBytes bounds IMPORT_WORK. Defaults to 2 GiB.
	WorkBytes int64
	// EventsBytes bounds IMPORT_EVENTS and CATALOG_EVENTS, each. Defaults
	// to 256 MiB.
	EventsBytes int64
	// PayloadsBytes bounds the object store IMPORT_PAYLOADS. Defaults to 4 GiB.
	PayloadsBytes int64
	// InputsBytes bounds the object store IMPORT_INPUTS, the bodies of
	// settled deliveries kept for the retention. Defaults to 4 GiB; -1
	// keeps none (no bucket).
	InputsBytes int64
	// InputsBytesPerMerchant bounds what one merchant has kept in
	// IMPORT_INPUTS, so that none takes the others' room: a body over it is
	// not kept. Defaults to 1 GiB.
	InputsBytesPerMerchant int64
	// WaitingDeliveries bounds the deliveries of one merchant waiting for
	// ingest or with operations in flight: a delivery's message stays while
	// a re-drive of lost work may read it again (RemoveDelivery). Defaults
	// to 100.
	WaitingDeliveries int64
}

// Defaults of Limits.
const (
	DefaultDeliveriesBytes   = 1 << 30
	DefaultWorkBytes         = 2 << 30
	DefaultEventsBytes       = 256 << 20
	DefaultPayloadsBytes     = 4 << 30
	DefaultWaitingDeliveries = 100

	DefaultInputsBytes            = 4 << 30
	DefaultInputsBytesPerMerchant = 1 << 30
)

func (c *Config) setDefaults() {
	if c.Retention == 0 {
		c.Retention = 48 * time.Hour
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.WorkMaxDeliveries == 0 {
		c.WorkMaxDeliveries = DefaultWorkMaxDeliveries
	}
	l := &c.Limits
	for _, f := range []struct {
		v   *int64
		def int64
	}{{&l.DeliveriesBytes, DefaultDeliveriesBytes}, {&l.WorkBytes, DefaultWorkBytes}, {&l.EventsBytes, DefaultEventsBytes},
		{&l.PayloadsBytes, DefaultPayloadsBytes}, {&l.WaitingDeliveries, DefaultWaitingDeliveries},
		{&l.InputsBytes, DefaultInputsBytes}, {&l.InputsBytesPerMerchant, DefaultInputsBytesPerMerchant}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
}

// DefaultWorkMaxDeliveries is the default of Config.WorkMaxDeliveries:
// with the workers' backoff (at most 30 s between deliveries) a failing
// message is tried for six to eight minutes, longer than a database
// failover; and while the database is down the rejection fails too, so the
// message comes back until it is up.
const DefaultWorkMaxDeliveries = 20

// WithDefaults returns c with the defaults of its unset fields.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

// Connect opens a NATS connection that reconnects forever, authenticated
// with auth.
func Connect(url, name string, auth Auth, logger *zap.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	authOpts, err := auth.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(authOpts,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("nats reconnected", zap.String("url", c.ConnectedUrlRedacted())) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { logger.Warn("nats error", zap.Error(err)) }),
	)...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", redact(url), err)
	}
	return nc, nil
}

// redact hides the passwords of NATS URLs (nats://user:password@host).
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}

// Streams returns the configuration of every stream of the contract.
func Streams(cfg Config) []jetstream.StreamConfig {
	cfg.setDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        StreamDeliveries,
			Description: "Deliveries of catalog records published by upstream systems.",
			Subjects:    []string{"import.deliveries.*"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      cfg.Retention,
			Sources:     []*jetstream.StreamSource{deliveriesNoDedupe},
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			MaxBytes:    cfg.Limits.DeliveriesBytes,
			// One subject a merchant: a merchant over its bound is refused,
			// the others go on.
			MaxMsgsPerSubject:    cfg.Limits.WaitingDeliveries,
			Discard:              jetstream.DiscardNew,
			DiscardNewPerSubject: true,
		},
		{
			Name:        StreamWork,
			Description: "Internal: operations on their way to the resolver and the importer.",
			Subjects:    []string{"import.work.resolve.*", "import.work.apply.*"},
			Retention:   jetstream.WorkQueuePolicy,
			Duplicates:  10 * time.Minute,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			MaxBytes:    cfg.Limits.WorkBytes,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        StreamCatalog,
			Description: "Resources created or updated, by the importer or by any other system.",
			Subjects:    []string{"catalog.events.*.*.*"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      7 * 24 * time.Hour,
			Duplicates:  10 * time.Minute,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			MaxBytes:    cfg.Limits.EventsBytes,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        StreamEvents,
			Description: "Delivery status changes: accepted, queued, completed, interrupted, failed.",
			Subjects:    []string{"import.events.*.*.*"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      cfg.Retention,
			Duplicates:  10 * time.Minute,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			MaxBytes:    cfg.Limits.EventsBytes,
			Discard:     jetstream.DiscardNew,
		},
	}
}

// Provision creates or updates every stream and the payload bucket. It is
// idempotent; every role calls it at start-up.
func Provision(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	cfg.setDefaults()
	for _, sc := range Streams(cfg) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			if strings.Contains(err.Error(), "insufficient") {
				return fmt.Errorf("bus: stream %s of at most %d bytes: %w (the server reserves each stream's bound on its disk: free space, or lower the bounds, docs/contract.md \"Environment\")", sc.Name, sc.MaxBytes, err)
			}
			return fmt.Errorf("bus: stream %s: %w", sc.Name, err)
		}
	}
	_, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketPayloads,
		Description: "Bodies of deliveries too large for one message.",
		TTL:         cfg.Retention,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxBytes:    cfg.Limits.PayloadsBytes, // discard new, as every object store
	})
	if err != nil {
		return fmt.Errorf("bus: object store %s: %w", BucketPayloads, err)
	}
	if cfg.Limits.InputsBytes < 0 {
		return nil
	}
	_, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketInputs,
		Description: "Bodies of settled deliveries, kept for the retention.",
		TTL:         cfg.Retention,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxBytes:    cfg.Limits.InputsBytes,
	})
	if err != nil {
		return fmt.Errorf("bus: object store %s: %w", BucketInputs, err)
	}
	return nil
}

// IngestConsumer creates or updates the durable consumer of the ingest role.
func IngestConsumer(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	cfg.setDefaults()
	c, err := js.CreateOrUpdateConsumer(ctx, StreamDeliveries, jetstream.ConsumerConfig{
		Durable:       ConsumerIngest,
		Description:   "importd ingest workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: 256,
		MaxDeliver:    -1,
		FilterSubject: "import.deliveries.*",
	})
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s: %w", ConsumerIngest, err)
	}
	return c, nil
}

// JetStream's error code for a message it could not store; with discard
// new, the code of a stream (or a merchant's subject) at its bound.
const jsStoreFailed = 10077

// IsStreamFull reports whether err is JetStream refusing a message because
// a stream, or the publisher's subject, is at its bound.
func IsStreamFull(err error) bool {
	var apiErr *jetstream.APIError
	// "maximum bytes exceeded", "maximum messages exceeded", "maximum
	// messages per subject exceeded"; not "message size exceeds maximum".
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsStoreFailed &&
		strings.HasPrefix(apiErr.Description, "maximum") && strings.HasSuffix(apiErr.Description, "exceeded")
}

// IsObjectNotFound reports whether err means the object does not exist.
func IsObjectNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrObjectNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

// ResolveConsumer creates or updates the durable consumer of the resolver's
// work: import.work.resolve.*.
func ResolveConsumer(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	return workConsumer(ctx, js, cfg, ConsumerResolve, "import.work.resolve.*")
}

// ApplyConsumer creates or updates the durable consumer of the importer's
// work: import.work.apply.*.
func ApplyConsumer(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	return workConsumer(ctx, js, cfg, ConsumerApply, "import.work.apply.*")
}

func workConsumer(ctx context.Context, js jetstream.JetStream, cfg Config, name, filter string) (jetstream.Consumer, error) {
	cfg.setDefaults()
	c, err := js.CreateOrUpdateConsumer(ctx, StreamWork, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "importd " + name + " workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: 1024,
		MaxDeliver:    -1,
		FilterSubject: filter,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s: %w", name, err)
	}
	return c, nil
}

// ConsumerResolveEvents is the resolver's durable consumer of CATALOG_EVENTS.
const ConsumerResolveEvents = "resolve-events"

// CatalogEventsConsumer creates or updates the resolver's durable consumer
// of every resource event, from the start of the stream.
func CatalogEventsConsumer(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	cfg.setDefaults()
	c, err := js.CreateOrUpdateConsumer(ctx, StreamCatalog, jetstream.ConsumerConfig{
		Durable:       ConsumerResolveEvents,
		Description:   "importd resolvers: release operations waiting for created resources",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: 4096,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: "catalog.events.>",
	})
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s: %w", ConsumerResolveEvents, err)
	}
	return c, nil
}

// ResourceEvent is the body of a message on CATALOG_EVENTS. The event of a
// Product names in SKUs the variants created or changed with it: the
// importer publishes no event of their own for the variants of a Product
// record (ProductVariant records have theirs).
type ResourceEvent struct {
	TypeID string   `json:"typeId"`
	Key    string   `json:"key,omitempty"`
	SKU    string   `json:"sku,omitempty"`
	SKUs   []string `json:"skus,omitempty"`
}

// MaxEventSKUs is how many skus a Product event may name.
const MaxEventSKUs = 1000
