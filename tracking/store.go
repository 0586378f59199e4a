package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("tracking: not found")
	// ErrCheckpointMoved means another worker has advanced the delivery
	// since this one read it: this worker must stop working on it.
	ErrCheckpointMoved = errors.New("tracking: delivery checkpoint moved by another worker")
	// ErrAmbiguous means a receipt looked up without its merchant names
	// deliveries of several merchants; the error is an *AmbiguousError.
	ErrAmbiguous = errors.New("tracking: receipt of several merchants")
)

// AmbiguousError names the merchants whose deliveries share a receipt.
type AmbiguousError struct {
	Receipt   string
	Merchants []string // sorted, at most maxAmbiguous
	More      bool     // more merchants than Merchants
}

func (e *AmbiguousError) Error() string {
	more := ""
	if e.More {
		more = ", …"
	}
	return fmt.Sprintf("tracking: receipt %s names deliveries of merchants %s%s", e.Receipt, strings.Join(e.Merchants, ", "), more)
}

func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// maxAmbiguous bounds the merchants an AmbiguousError names.
const maxAmbiguous = 20

// StoreConfig configures a Store.
type StoreConfig struct {
	// Retention of deliveries, operations and events. Defaults to 48h.
	Retention time.Duration
	// Now is the store's clock, for what depends on the time of day:
	// expiry and retention. Defaults to time.Now; tests inject their own.
	Now func() time.Time
}

// Store reads and writes deliveries, operations and tracking events.
// It is safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	retention  time.Duration
	partitions *Partitions
	now        func() time.Time
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool, cfg StoreConfig) (*Store, error) {
	if pool == nil {
		return nil, errors.New("tracking: NewStore needs a pool")
	}
	if cfg.Retention == 0 {
		cfg.Retention = 48 * time.Hour
	}
	if cfg.Retention < time.Hour || cfg.Retention > 30*24*time.Hour {
		return nil, fmt.Errorf("tracking: Retention %s out of range 1h..720h", cfg.Retention)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{pool: pool, retention: cfg.Retention, partitions: NewPartitions(pool, PartitionWidth(cfg.Retention)), now: cfg.Now}, nil
}

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Retention is how long rows are kept.
func (s *Store) Retention() time.Duration { return s.retention }

// Now is the time by the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// EnsurePartitions creates partitions for rows accepted from one partition
// width ago to two widths ahead. Writers call it at start-up and periodically.
func (s *Store) EnsurePartitions(ctx context.Context) error {
	now := s.now()
	w := s.partitions.width
	return s.partitions.Ensure(ctx, now.Add(-w), now.Add(2*w))
}

// Delivery is a delivery as stored.
type Delivery struct {
	ReceiptID        string
	MerchantID       string
	AcceptedAt       time.Time
	Data             string
	Format           string
	ContractVersion  string
	ForeignKey       *string
	SkipErrors       bool
	ObjectName       string
	ContentEncoding  string
	Source           string // the message that carries it, "<stream>:<sequence>"
	IngestState      string
	IngestionErrors  []IngestionError
	RecordsRead      int
	PublishedThrough int
	BytesRead        int64
	BodySize         *int64 // the body's bytes as stored (compressed if it is); nil until ingest opens it
	BodyRead         int64  // of BodySize, read so far
	IngestedAt       *time.Time
	CompletedAt      *time.Time
	InterruptedAt    *time.Time
	ExpiresAt        time.Time
	CallbackURL      string // called when the delivery ends (Import-Callback-Url); "" for none
	// Metadata are the pairs the upstream attached (Import-Metadata-<Key>),
	// keys lower-cased; nil for none.
	Metadata map[string]string
	// MessageRemoved says its message and object are removed
	// (DeliveryMessageRemoved); its body is then in IMPORT_INPUTS when
	// InputsState is InputsKept.
	MessageRemoved bool
	InputsState    string
}

// IngestionError says why a delivery as a whole could not be read.
type IngestionError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// Event is one tracking event.
type Event struct {
	TrackingID uuid.UUID
	Timestamp  time.Time
	Code       Code
	ReceiptID  string
	MerchantID string
	ProductID  string // empty for delivery events
	ChannelID  string
	Message    string
	Debug      string
	DeliveryAt time.Time
}

// NewEvent returns an event with a fresh tracking id, stamped now.
func NewEvent(d *Delivery, productID string, code Code, message string) Event {
	return Event{
		TrackingID: uuid.Must(uuid.NewV7()),
		Timestamp:  time.Now().UTC(),
		Code:       code,
		ReceiptID:  d.ReceiptID,
		MerchantID: d.MerchantID,
		ProductID:  productID,
		Message:    message,
		DeliveryAt: d.AcceptedAt,
	}
}

// Operation is one record's import operation as written by ingest.
type Operation struct {
	ID           uuid.UUID
	Seq          int
	Line         int
	ResourceType string
	ResourceKey  string
	State        State
	Stage        Stage
	Errors       []catalog.Error
	CreatedAt    time.Time
	Last         Event // the operation's latest event
}

// OperationID is the id of the operation for record seq of the delivery
// (merchant, receipt). It is derived from the three, so a record read again
// gets the same id, and two merchants' deliveries with one receipt get
// different ones.
func OperationID(merchant, receipt string, seq int) uuid.UUID {
	return uuid.NewSHA1(operationNamespace, fmt.Appendf(nil, "%s/%s/%d", merchant, receipt, seq))
}

var operationNamespace = uuid.MustParse("8f0c5d4e-3b5a-4f4e-9a53-1d7c8e2b6a90")

// DeliveryOf converts a row of deliveries to a Delivery.
func DeliveryOf(r store.DeliveryRow) (Delivery, error) { return deliveryOf(r, nil) }

// deliveryOf converts a row of deliveries; store.ErrNotFound is ErrNotFound.
func deliveryOf(r store.DeliveryRow, err error) (Delivery, error) {
	if err != nil {
		return Delivery{}, notFound(err)
	}
	d := Delivery{
		ReceiptID: r.ReceiptID, MerchantID: r.MerchantID, AcceptedAt: r.AcceptedAt.UTC(), Data: r.Data, Format: r.Format,
		ContractVersion: r.ContractVersion, ForeignKey: r.ForeignKey, SkipErrors: r.SkipErrors, ObjectName: r.ObjectName,
		ContentEncoding: r.ContentEncoding, Source: r.Source, IngestState: r.IngestState, RecordsRead: r.RecordsRead,
		PublishedThrough: r.PublishedThrough, BytesRead: r.BytesRead, BodySize: r.BodySize, BodyRead: r.BodyRead, IngestedAt: r.IngestedAt, CompletedAt: r.CompletedAt,
		InterruptedAt: r.InterruptedAt, ExpiresAt: r.ExpiresAt, CallbackURL: r.CallbackURL, Metadata: r.Metadata,
		MessageRemoved: r.MessageRemoved, InputsState: r.InputsState,
	}
	if len(r.IngestionErrors) > 0 {
		if err := json.Unmarshal(r.IngestionErrors, &d.IngestionErrors); err != nil {
			return d, fmt.Errorf("tracking: ingestion_errors of %s: %w", d.ReceiptID, err)
		}
	}
	return d, nil
}

// deliveriesOf converts rows of deliveries.
func deliveriesOf(rows []store.DeliveryRow, err error) ([]Delivery, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(rows))
	for _, r := range rows {
		d, err := deliveryOf(r, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// notFound maps the store's ErrNotFound to the package's.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// DeliveryGet returns the delivery with this receipt whatever its
// merchant: DeliveryFind(ctx, "", receipt).
func (s *Store) DeliveryGet(ctx context.Context, receipt string) (Delivery, error) {
	return s.DeliveryFind(ctx, "", receipt)
}

// DeliveryFind returns merchant's delivery with this receipt, or ErrNotFound.
// With merchant "" (an operator's lookup) it returns the one delivery with
// this receipt, or an *AmbiguousError when several merchants used it. A
// delivery past its retention is not found, whether or not its partition
// has been dropped yet.
func (s *Store) DeliveryFind(ctx context.Context, merchant, receipt string) (Delivery, error) {
	d, _, err := s.deliveryFind(ctx, merchant, receipt, false)
	return d, err
}

// DeliveryCounts is DeliveryFind and Counts in one statement, what the
// status and summary endpoints read first: one round trip instead of two,
// which on a busy machine is one wait for the CPU less.
func (s *Store) DeliveryCounts(ctx context.Context, merchant, receipt string) (Delivery, Counts, error) {
	return s.deliveryFind(ctx, merchant, receipt, true)
}

func (s *Store) deliveryFind(ctx context.Context, merchant, receipt string, withCounts bool) (Delivery, Counts, error) {
	limit := 1
	if merchant == "" {
		limit = maxAmbiguous + 1
	}
	rows, err := store.DeliveriesFind(ctx, s.pool, merchant, receipt, s.now(), limit, withCounts)
	if err != nil {
		return Delivery{}, Counts{}, err
	}
	ds, err := deliveriesOf(rows, nil)
	if err != nil {
		return Delivery{}, Counts{}, err
	}
	cs := make([]Counts, len(rows))
	for i, r := range rows {
		cs[i] = Counts(r.Counts)
	}
	switch len(ds) {
	case 0:
		return Delivery{}, Counts{}, ErrNotFound
	case 1:
		return ds[0], cs[0], nil
	}
	amb := &AmbiguousError{Receipt: receipt, More: len(ds) > maxAmbiguous}
	for _, d := range ds[:min(len(ds), maxAmbiguous)] {
		amb.Merchants = append(amb.Merchants, d.MerchantID)
	}
	return Delivery{}, Counts{}, amb
}

// deliveryAt returns the delivery (receipt, accepted_at), expired or not,
// or ErrNotFound: the identity every table of a delivery's rows uses.
func deliveryAt(ctx context.Context, db database.DBTX, receipt string, at time.Time) (Delivery, error) {
	return deliveryOf(store.DeliveriesGet(ctx, db, receipt, at))
}

// DeliveryAt returns the delivery (receipt, accepted_at), or ErrNotFound
// when there is none or it is past its retention.
func (s *Store) DeliveryAt(ctx context.Context, receipt string, at time.Time) (Delivery, error) {
	d, err := deliveryAt(ctx, s.pool, receipt, at)
	if err == nil && !d.ExpiresAt.After(s.now()) {
		return Delivery{}, ErrNotFound
	}
	return d, err
}

// DeliveryBegin stores a new delivery in state receiving, with its accepted
// and receiving events, and returns it with created true. When the
// merchant's delivery with the same receipt exists already it returns that
// one, unchanged, with created false: a republished delivery is one
// delivery. Another merchant's delivery with the same receipt is another
// delivery; its accepted_at is moved on by a microsecond if need be, as
// (receipt, accepted_at) identifies a delivery's rows in every table.
func (s *Store) DeliveryBegin(ctx context.Context, d Delivery) (Delivery, bool, error) {
	d.AcceptedAt = d.AcceptedAt.UTC().Truncate(time.Microsecond)
	d.ExpiresAt = d.AcceptedAt.Add(s.retention)
	d.IngestState = IngestReceiving
	// Ahead: room for the microseconds moved on below.
	if err := s.partitions.Ensure(ctx, d.AcceptedAt, d.AcceptedAt.Add(2*time.Millisecond)); err != nil {
		return d, false, err
	}
	var got Delivery
	created := false
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		// Serialise writers of the same receipt, whatever their merchant.
		if err := store.DeliveriesLockReceipt(ctx, tx, d.ReceiptID); err != nil {
			return err
		}
		existing, err := deliveryOf(store.DeliveriesGetByMerchant(ctx, tx, d.MerchantID, d.ReceiptID))
		if err == nil {
			got = existing
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		// Past any other merchant's delivery of the receipt within the
		// millisecond: (receipt, accepted_at) stays unique.
		if d.AcceptedAt, err = store.DeliveriesFreeAcceptedAt(ctx, tx, d.ReceiptID, d.AcceptedAt); err != nil {
			return err
		}
		d.AcceptedAt = d.AcceptedAt.UTC()
		d.ExpiresAt = d.AcceptedAt.Add(s.retention)
		err = store.DeliveriesInsert(ctx, tx, store.DeliveryRow{ReceiptID: d.ReceiptID, MerchantID: d.MerchantID,
			AcceptedAt: d.AcceptedAt, Data: d.Data, Format: d.Format, ContractVersion: d.ContractVersion,
			ForeignKey: d.ForeignKey, SkipErrors: d.SkipErrors, ObjectName: d.ObjectName, ContentEncoding: d.ContentEncoding,
			Source: d.Source, IngestState: d.IngestState, ExpiresAt: d.ExpiresAt, CallbackURL: d.CallbackURL, Metadata: d.Metadata})
		if err != nil {
			return err
		}
		accepted := NewEvent(&d, "", CodeDeliveryAccepted, "Delivery accepted with receipt "+d.ReceiptID)
		accepted.Debug = "source " + d.Source
		receiving := NewEvent(&d, "", CodeDeliveryReceiving, "Receiving the delivery")
		if err := eventsInsert(ctx, tx, []Event{accepted, receiving}); err != nil {
			return err
		}
		got, created = d, true
		return nil
	})
	if err != nil {
		return Delivery{}, false, fmt.Errorf("tracking: begin delivery %s: %w", d.ReceiptID, err)
	}
	return got, created, nil
}

// IngestBatch is a batch of records of one delivery read by ingest: their
// operations and events, written in one transaction with the delivery's
// checkpoint.
type IngestBatch struct {
	From, To         int    // the batch holds records [From, To)
	PublishedThrough int    // records before this one have their work messages acknowledged
	BytesRead        int64  // body bytes read so far, decoded
	BodySize         *int64 // the body's bytes as stored, nil when unknown
	BodyRead         int64  // of BodySize, read so far
	Ops              []Operation
	Events           []Event
	Counts           Counts
}

// IngestWrite writes a batch. It fails with ErrCheckpointMoved when the
// delivery's checkpoint is not b.From: another worker got there first.
func (s *Store) IngestWrite(ctx context.Context, d *Delivery, b IngestBatch) error {
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		// Both of the delivery's locks, in their order (see internal/store).
		cur, err := store.LockDelivery(ctx, tx, d.ReceiptID, d.AcceptedAt, store.DeliveryCounts(b.Counts))
		if err != nil {
			return notFound(err)
		}
		interrupted, err := checkpoint(cur, b.From)
		if err != nil {
			return err
		}
		if interrupted {
			return ErrInterrupted
		}
		if err := operationsInsert(ctx, tx, d, b.Ops, s.retention); err != nil {
			return err
		}
		if err := eventsInsert(ctx, tx, b.Events); err != nil {
			return err
		}
		if b.Counts.Failed() > 0 {
			if err := interruptIfOverThreshold(ctx, tx, d, time.Now().UTC()); err != nil {
				return err
			}
		}
		return store.DeliveriesCheckpoint(ctx, tx, d.ReceiptID, d.AcceptedAt, b.To, b.PublishedThrough, b.BytesRead, b.BodySize, b.BodyRead)
	})
	if err != nil {
		return fmt.Errorf("tracking: write records %d..%d of %s: %w", b.From, b.To, d.ReceiptID, err)
	}
	d.RecordsRead = b.To
	d.PublishedThrough = max(d.PublishedThrough, b.PublishedThrough)
	d.BytesRead = b.BytesRead
	if b.BodySize != nil {
		d.BodySize = b.BodySize
	}
	d.BodyRead = b.BodyRead
	return nil
}

// IngestFinish records the end of ingest: state IngestDone or IngestFailed,
// with the reasons of a failure, and the delivery's event. It returns the
// delivery as stored.
func (s *Store) IngestFinish(ctx context.Context, d *Delivery, state string, ierrs []IngestionError, bytesRead int64) error {
	var ierrJSON []byte
	if len(ierrs) > 0 {
		ierrJSON, _ = json.Marshal(ierrs)
	}
	now := time.Now().UTC()
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		cur, err := store.DeliveriesLock(ctx, tx, d.ReceiptID, d.AcceptedAt)
		if err != nil {
			return notFound(err)
		}
		interrupted, err := checkpoint(cur, d.RecordsRead)
		if err != nil {
			return err
		}
		c, err := countsGet(ctx, tx, d.ReceiptID, d.AcceptedAt)
		if err != nil {
			return err
		}
		var ev Event
		var completedAt *time.Time
		switch {
		case state == IngestFailed:
			ev = NewEvent(d, "", CodeDeliveryIngestionFailed, "The delivery could not be read: "+describe(ierrs))
			ev.Debug = fmt.Sprintf("%d records stored before the failure", d.RecordsRead)
		case interrupted && c.Pending() == 0:
			ev = NewEvent(d, "", CodeDeliveryCompletedWithErrors, fmt.Sprintf("Interrupted: %d of %d operations failed or were canceled", c.Failed(), c.Total))
			completedAt = &now
		case interrupted:
			ev = NewEvent(d, "", CodeDeliveryQueued, fmt.Sprintf("Reading stopped after %d records: the delivery is interrupted", c.Total))
		case c.Total == 0:
			ev = NewEvent(d, "", CodeDeliveryNoContent, "The delivery held no record")
			completedAt = &now
		case c.Pending() == 0 && c.Failed() == c.Total:
			ev = NewEvent(d, "", CodeDeliveryCompletedWithErrors, fmt.Sprintf("All %d records failed validation", c.Total))
			completedAt = &now
		case c.Pending() == 0:
			// The workers ended every operation before ingest finished: they
			// could not complete the delivery while it was being read.
			ev = NewEvent(d, "", CodeDeliveryCompleted, fmt.Sprintf("All %d operations imported", c.Total))
			if c.Failed() > 0 {
				ev = NewEvent(d, "", CodeDeliveryCompletedWithErrors, fmt.Sprintf("%d of %d operations failed", c.Failed(), c.Total))
			}
			completedAt = &now
		default:
			ev = NewEvent(d, "", CodeDeliveryQueued, fmt.Sprintf("All %d records stored, %d queued", c.Total, c.Pending()))
		}
		if err := eventsInsert(ctx, tx, []Event{ev}); err != nil {
			return err
		}
		err = store.DeliveriesFinishIngest(ctx, tx, d.ReceiptID, d.AcceptedAt, state, ierrJSON, now, completedAt, bytesRead, d.BodyRead)
		if err != nil {
			return err
		}
		switch {
		case state == IngestFailed:
			err = callbackQueue(ctx, tx, d, bus.DeliveryFailed, now)
		case completedAt != nil:
			err = callbackQueue(ctx, tx, d, bus.DeliveryCompleted, now)
		}
		if err != nil {
			return err
		}
		d.IngestState, d.IngestionErrors, d.IngestedAt, d.CompletedAt = state, ierrs, &now, completedAt
		d.PublishedThrough, d.BytesRead = d.RecordsRead, bytesRead
		return nil
	})
	if err != nil {
		return fmt.Errorf("tracking: finish ingest of %s: %w", d.ReceiptID, err)
	}
	return nil
}

func describe(ierrs []IngestionError) string {
	if len(ierrs) == 0 {
		return "unknown reason"
	}
	return ierrs[0].Code + ": " + ierrs[0].Description
}

// checkpoint checks that the delivery's checkpoint, read with its row
// locked, is where this worker left it.
func checkpoint(cur store.DeliveryState, want int) (interrupted bool, err error) {
	if cur.RecordsRead != want || cur.IngestState != IngestReceiving {
		return false, ErrCheckpointMoved
	}
	return cur.InterruptedAt != nil, nil
}

func nullJSON(v any) any {
	switch x := v.(type) {
	case []catalog.Error:
		if len(x) == 0 {
			return nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return string(b)
}

// operationsInsert writes new operations; each expires a retention after it was created.
func operationsInsert(ctx context.Context, db database.DBTX, d *Delivery, ops []Operation, retention time.Duration) error {
	if len(ops) == 0 {
		return nil
	}
	rows := make([]store.OperationRow, len(ops))
	for i := range ops {
		op := &ops[i]
		var errs *string
		if e, ok := nullJSON(op.Errors).(string); ok {
			errs = &e
		}
		rows[i] = store.OperationRow{ID: op.ID, Seq: op.Seq, Line: op.Line, ResourceType: op.ResourceType, ResourceKey: op.ResourceKey,
			State: string(op.State), Stage: int16(op.Stage), Errors: errs, CreatedAt: op.CreatedAt, ExpiresAt: op.CreatedAt.Add(retention),
			LastID: op.Last.TrackingID, LastCode: int32(op.Last.Code), LastMessage: op.Last.Message}
	}
	return store.OperationsCopy(ctx, db, d.ReceiptID, d.MerchantID, d.AcceptedAt, rows)
}

func eventsInsert(ctx context.Context, db database.DBTX, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([]store.EventRow, len(evs))
	for i := range evs {
		e := &evs[i]
		rows[i] = store.EventRow{DeliveryAt: e.DeliveryAt, TrackingID: e.TrackingID, Timestamp: e.Timestamp, Code: int32(e.Code),
			ReceiptID: e.ReceiptID, MerchantID: e.MerchantID, ProductID: e.ProductID, ChannelID: e.ChannelID, Message: e.Message, Debug: e.Debug}
	}
	return store.EventsCopy(ctx, db, rows)
}

// countsAdd adds deltas to one of the delivery's counter slots.
func countsAdd(ctx context.Context, db database.DBTX, d *Delivery, c Counts) error {
	return store.DeliveryCountsAdd(ctx, db, d.ReceiptID, d.AcceptedAt, store.DeliveryCounts(c))
}

func countsGet(ctx context.Context, db database.DBTX, receipt string, at time.Time) (Counts, error) {
	c, err := store.DeliveryCountsSum(ctx, db, receipt, at)
	return Counts(c), err
}

// Counts returns the operation counts of a delivery.
func (s *Store) Counts(ctx context.Context, d *Delivery) (Counts, error) {
	return countsGet(ctx, s.pool, d.ReceiptID, d.AcceptedAt)
}

// KeysSeen returns, among keys, those that records before record `before`
// of the delivery already have, with the line of the first.
func (s *Store) KeysSeen(ctx context.Context, d *Delivery, keys []string, before int) (map[string]int, error) {
	seen := make(map[string]int)
	if len(keys) == 0 || before == 0 {
		return seen, nil
	}
	// Records from `before` on are not stored yet, so every row found is an
	// earlier one.
	seen, err := store.OperationsFirstLines(ctx, s.pool, d.ReceiptID, d.AcceptedAt, keys)
	if err != nil {
		return nil, fmt.Errorf("tracking: keys seen in %s: %w", d.ReceiptID, err)
	}
	return seen, nil
}

// QueuedSeqs returns the records in [from, to) whose operations are still
// queued for the resolver.
func (s *Store) QueuedSeqs(ctx context.Context, d *Delivery, from, to int) (map[int]bool, error) {
	seqs, err := store.OperationsQueuedSeqs(ctx, s.pool, d.ReceiptID, d.AcceptedAt, from, to)
	if err != nil {
		return nil, fmt.Errorf("tracking: queued records of %s: %w", d.ReceiptID, err)
	}
	out := make(map[int]bool, len(seqs))
	for _, seq := range seqs {
		out[seq] = true
	}
	return out, nil
}
