package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/database"
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

// countSlots is how many rows of delivery_counts a delivery spreads its
// counters over.
const countSlots = 8

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
	IngestedAt       *time.Time
	CompletedAt      *time.Time
	InterruptedAt    *time.Time
	ExpiresAt        time.Time
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

const deliveryColumns = `receipt_id, merchant_id, accepted_at, data, format, contract_version, foreign_key,
	skip_errors, coalesce(object_name, ''), coalesce(content_encoding, ''), source, ingest_state, ingestion_errors,
	records_read, published_through, bytes_read, ingested_at, completed_at, interrupted_at, expires_at`

// scanDelivery scans deliveryColumns, then into extra the columns that
// follow them.
func scanDelivery(row pgx.Row, extra ...any) (Delivery, error) {
	var d Delivery
	var ierrs []byte
	err := row.Scan(append([]any{&d.ReceiptID, &d.MerchantID, &d.AcceptedAt, &d.Data, &d.Format, &d.ContractVersion, &d.ForeignKey,
		&d.SkipErrors, &d.ObjectName, &d.ContentEncoding, &d.Source, &d.IngestState, &ierrs,
		&d.RecordsRead, &d.PublishedThrough, &d.BytesRead, &d.IngestedAt, &d.CompletedAt, &d.InterruptedAt, &d.ExpiresAt}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, err
	}
	if len(ierrs) > 0 {
		if err := json.Unmarshal(ierrs, &d.IngestionErrors); err != nil {
			return d, fmt.Errorf("tracking: ingestion_errors of %s: %w", d.ReceiptID, err)
		}
	}
	d.AcceptedAt = d.AcceptedAt.UTC()
	return d, nil
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
	q := "SELECT " + deliveryColumns
	if withCounts {
		q += `, c.* FROM deliveries d CROSS JOIN LATERAL (SELECT coalesce(sum(n.total),0), coalesce(sum(n.queued),0), coalesce(sum(n.processing),0),
			coalesce(sum(n.unresolved),0), coalesce(sum(n.waiting),0), coalesce(sum(n.imported),0), coalesce(sum(n.partially),0),
			coalesce(sum(n.validation_failed),0), coalesce(sum(n.rejected),0), coalesce(sum(n.canceled),0)
			FROM delivery_counts n WHERE n.receipt_id = d.receipt_id AND n.delivery_at = d.accepted_at) c`
	} else {
		q += " FROM deliveries d"
	}
	args := []any{database.Prepared, receipt, s.now()}
	if merchant != "" {
		q += " WHERE d.receipt_id = $1 AND d.merchant_id = $3 AND d.expires_at > $2 LIMIT 1"
		args = append(args, merchant)
	} else {
		q += fmt.Sprintf(" WHERE d.receipt_id = $1 AND d.expires_at > $2 ORDER BY d.merchant_id LIMIT %d", maxAmbiguous+1)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return Delivery{}, Counts{}, err
	}
	defer rows.Close()
	var ds []Delivery
	var cs []Counts
	for rows.Next() {
		var c Counts
		var extra []any
		if withCounts {
			extra = []any{&c.Total, &c.Queued, &c.Processing, &c.Unresolved, &c.Waiting, &c.Imported, &c.Partially,
				&c.ValidationFailed, &c.Rejected, &c.Canceled}
		}
		d, err := scanDelivery(rows, extra...)
		if err != nil {
			return Delivery{}, Counts{}, err
		}
		ds, cs = append(ds, d), append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return Delivery{}, Counts{}, err
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

// deliveryOf returns merchant's delivery with this receipt, expired or
// not, or ErrNotFound.
func deliveryOf(ctx context.Context, db database.DBTX, merchant, receipt string) (Delivery, error) {
	return scanDelivery(db.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE receipt_id = $1 AND merchant_id = $2 LIMIT 1",
		database.Prepared, receipt, merchant))
}

// deliveryAt returns the delivery (receipt, accepted_at), expired or not,
// or ErrNotFound: the identity every table of a delivery's rows uses.
func deliveryAt(ctx context.Context, db database.DBTX, receipt string, at time.Time) (Delivery, error) {
	return scanDelivery(db.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2",
		database.Prepared, receipt, at))
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise writers of the same receipt, whatever their merchant;
		// the primary key cannot, as it includes the partition key.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", d.ReceiptID); err != nil {
			return err
		}
		existing, err := deliveryOf(ctx, tx, d.MerchantID, d.ReceiptID)
		if err == nil {
			got = existing
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		// Past any other merchant's delivery of the receipt within the
		// millisecond: (receipt, accepted_at) stays unique.
		if err := tx.QueryRow(ctx, `SELECT greatest($2, max(accepted_at) + interval '1 microsecond') FROM deliveries
			WHERE receipt_id = $1 AND accepted_at BETWEEN $2 AND $2 + interval '1 millisecond'`,
			d.ReceiptID, d.AcceptedAt).Scan(&d.AcceptedAt); err != nil {
			return err
		}
		d.AcceptedAt = d.AcceptedAt.UTC()
		d.ExpiresAt = d.AcceptedAt.Add(s.retention)
		_, err = tx.Exec(ctx, `INSERT INTO deliveries (receipt_id, merchant_id, accepted_at, data, format, contract_version,
			foreign_key, skip_errors, object_name, content_encoding, source, ingest_state, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), nullif($10, ''), $11, $12, $13)`,
			d.ReceiptID, d.MerchantID, d.AcceptedAt, d.Data, d.Format, d.ContractVersion,
			d.ForeignKey, d.SkipErrors, d.ObjectName, d.ContentEncoding, d.Source, d.IngestState, d.ExpiresAt)
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
	From, To         int   // the batch holds records [From, To)
	PublishedThrough int   // records before this one have their work messages acknowledged
	BytesRead        int64 // body bytes read so far
	Ops              []Operation
	Events           []Event
	Counts           Counts
}

// IngestWrite writes a batch. It fails with ErrCheckpointMoved when the
// delivery's checkpoint is not b.From: another worker got there first.
func (s *Store) IngestWrite(ctx context.Context, d *Delivery, b IngestBatch) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A counter slot before the delivery row: the lock order of every
		// writer (see TransitionsApply).
		if err := countsAdd(ctx, tx, d, b.Counts); err != nil {
			return err
		}
		interrupted, err := checkpointLock(ctx, tx, d, b.From)
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
		_, err = tx.Exec(ctx, `UPDATE deliveries SET records_read = $3, published_through = greatest(published_through, $4), bytes_read = $5
			WHERE receipt_id = $1 AND accepted_at = $2`, d.ReceiptID, d.AcceptedAt, b.To, b.PublishedThrough, b.BytesRead)
		return err
	})
	if err != nil {
		return fmt.Errorf("tracking: write records %d..%d of %s: %w", b.From, b.To, d.ReceiptID, err)
	}
	d.RecordsRead = b.To
	d.PublishedThrough = max(d.PublishedThrough, b.PublishedThrough)
	d.BytesRead = b.BytesRead
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		interrupted, err := checkpointLock(ctx, tx, d, d.RecordsRead)
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
		_, err = tx.Exec(ctx, `UPDATE deliveries SET ingest_state = $3, ingestion_errors = $4, ingested_at = $5,
			completed_at = $6, published_through = records_read, bytes_read = $7
			WHERE receipt_id = $1 AND accepted_at = $2`,
			d.ReceiptID, d.AcceptedAt, state, ierrJSON, now, completedAt, bytesRead)
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

// checkpointLock locks the delivery row and checks that its checkpoint is
// where this worker left it.
func checkpointLock(ctx context.Context, tx pgx.Tx, d *Delivery, want int) (interrupted bool, err error) {
	var read int
	var state string
	var at *time.Time
	err = tx.QueryRow(ctx, `SELECT records_read, ingest_state, interrupted_at FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2 FOR UPDATE`,
		d.ReceiptID, d.AcceptedAt).Scan(&read, &state, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, err
	}
	if read != want || state != IngestReceiving {
		return false, ErrCheckpointMoved
	}
	return at != nil, nil
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

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// operationsInsert writes new operations; each expires a retention after it was created.
func operationsInsert(ctx context.Context, db database.DBTX, d *Delivery, ops []Operation, retention time.Duration) error {
	if len(ops) == 0 {
		return nil
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"operations"},
		[]string{"id", "delivery_at", "receipt_id", "merchant_id", "seq", "line", "resource_type", "resource_key",
			"state", "stage", "errors", "created_at", "last_modified_at", "expires_at",
			"last_tracking_id", "last_tracking_code", "last_message"},
		pgx.CopyFromSlice(len(ops), func(i int) ([]any, error) {
			op := &ops[i]
			// UUIDs as [16]byte: pgx encodes uuid.UUID through its
			// driver.Valuer, a string parsed again after a failed plan
			// whose error it formats first, for every id.
			return []any{[16]byte(op.ID), d.AcceptedAt, d.ReceiptID, d.MerchantID, int32(op.Seq), int32(op.Line), op.ResourceType, op.ResourceKey,
				string(op.State), int16(op.Stage), nullJSON(op.Errors), op.CreatedAt, op.CreatedAt, op.CreatedAt.Add(retention),
				[16]byte(op.Last.TrackingID), int32(op.Last.Code), op.Last.Message}, nil
		}))
	return err
}

func eventsInsert(ctx context.Context, db database.DBTX, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"tracking_events"},
		[]string{"delivery_at", "tracking_id", "ts", "code", "receipt_id", "merchant_id", "product_id", "channel_id", "message", "debug"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
			e := &evs[i]
			return []any{e.DeliveryAt, [16]byte(e.TrackingID), e.Timestamp, int32(e.Code), e.ReceiptID, e.MerchantID,
				nullString(e.ProductID), nullString(e.ChannelID), e.Message, nullString(e.Debug)}, nil
		}))
	return err
}

// countsAdd adds deltas to one of the delivery's counter slots.
func countsAdd(ctx context.Context, db database.DBTX, d *Delivery, c Counts) error {
	if c == (Counts{}) {
		return nil
	}
	_, err := db.Exec(ctx, `INSERT INTO delivery_counts AS c (receipt_id, delivery_at, slot, total, queued, processing, unresolved,
			waiting, imported, partially, validation_failed, rejected, canceled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (receipt_id, slot, delivery_at) DO UPDATE SET
			total = c.total + excluded.total, queued = c.queued + excluded.queued,
			processing = c.processing + excluded.processing, unresolved = c.unresolved + excluded.unresolved,
			waiting = c.waiting + excluded.waiting, imported = c.imported + excluded.imported,
			partially = c.partially + excluded.partially, validation_failed = c.validation_failed + excluded.validation_failed,
			rejected = c.rejected + excluded.rejected, canceled = c.canceled + excluded.canceled`,
		database.Prepared, d.ReceiptID, d.AcceptedAt, int16(rand.IntN(countSlots)), c.Total, c.Queued, c.Processing, c.Unresolved,
		c.Waiting, c.Imported, c.Partially, c.ValidationFailed, c.Rejected, c.Canceled)
	return err
}

func countsGet(ctx context.Context, db database.DBTX, receipt string, at time.Time) (Counts, error) {
	var c Counts
	err := db.QueryRow(ctx, `SELECT coalesce(sum(total),0), coalesce(sum(queued),0), coalesce(sum(processing),0),
			coalesce(sum(unresolved),0), coalesce(sum(waiting),0), coalesce(sum(imported),0), coalesce(sum(partially),0),
			coalesce(sum(validation_failed),0), coalesce(sum(rejected),0), coalesce(sum(canceled),0)
		FROM delivery_counts WHERE receipt_id = $1 AND delivery_at = $2`, database.Prepared, receipt, at).
		Scan(&c.Total, &c.Queued, &c.Processing, &c.Unresolved, &c.Waiting, &c.Imported, &c.Partially,
			&c.ValidationFailed, &c.Rejected, &c.Canceled)
	return c, err
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
	// earlier one. One lookup of (receipt, delivery, key) per key, with
	// nothing that orders by seq: "resource_key = any($3)", or ORDER BY seq,
	// tempt the planner (custom or generic plan alike) into walking the
	// primary key over every earlier record, which makes a large delivery
	// quadratic. The first line is the smallest.
	rows, err := s.pool.Query(ctx, `SELECT k.key, o.line FROM unnest($3::text[]) AS k(key)
		CROSS JOIN LATERAL (SELECT min(line) AS line FROM operations
			WHERE receipt_id = $1 AND delivery_at = $2 AND resource_key = k.key) o
		WHERE o.line IS NOT NULL`,
		database.Prepared, d.ReceiptID, d.AcceptedAt, keys)
	if err != nil {
		return nil, fmt.Errorf("tracking: keys seen in %s: %w", d.ReceiptID, err)
	}
	var key string
	var line int
	_, err = pgx.ForEachRow(rows, []any{&key, &line}, func() error {
		seen[key] = line
		return nil
	})
	return seen, err
}

// QueuedSeqs returns the records in [from, to) whose operations are still
// queued for the resolver.
func (s *Store) QueuedSeqs(ctx context.Context, d *Delivery, from, to int) (map[int]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq FROM operations WHERE receipt_id = $1 AND delivery_at = $2
		AND seq >= $3 AND seq < $4 AND state = 'processing' AND stage = 0`, d.ReceiptID, d.AcceptedAt, from, to)
	if err != nil {
		return nil, fmt.Errorf("tracking: queued records of %s: %w", d.ReceiptID, err)
	}
	out := make(map[int]bool)
	var seq int
	_, err = pgx.ForEachRow(rows, []any{&seq}, func() error {
		out[seq] = true
		return nil
	})
	return out, err
}
