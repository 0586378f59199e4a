package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/importd/importd/internal/database"
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// DeliveryRow is a row of deliveries, as the pipeline reads it.
type DeliveryRow struct {
	ReceiptID        string
	MerchantID       string
	AcceptedAt       time.Time
	Data             string
	Format           string
	ContractVersion  string
	ForeignKey       *string
	SkipErrors       bool
	ObjectName       string // "" for none
	ContentEncoding  string // "" for none
	Source           string
	IngestState      string
	IngestionErrors  []byte // JSON, nil for none
	RecordsRead      int
	PublishedThrough int
	BytesRead        int64
	BodySize         *int64 // the body's bytes as stored; nil until ingest opens it
	BodyRead         int64  // of BodySize, read so far
	IngestedAt       *time.Time
	CompletedAt      *time.Time
	InterruptedAt    *time.Time
	ExpiresAt        time.Time
	CallbackURL      string            // "" for none
	Metadata         map[string]string // Import-Metadata-<Key> pairs, nil for none
	MessageRemoved   bool              // its message and object are removed (DeliveriesMessageRemoved)
	InputsState      string            // whether its body is kept in IMPORT_INPUTS; "" undecided

	// Set only by the functions that say so.
	ProcessingAt *time.Time
	Counts       DeliveryCounts
}

const deliveryColumns = `receipt_id, merchant_id, accepted_at, data, format, contract_version, foreign_key,
	skip_errors, coalesce(object_name, ''), coalesce(content_encoding, ''), source, ingest_state, ingestion_errors,
	records_read, published_through, bytes_read, ingested_at, completed_at, interrupted_at, expires_at,
	coalesce(callback_url, ''), metadata, body_size, body_read, message_removed_at IS NOT NULL, coalesce(inputs_state, '')`

// scanDelivery scans deliveryColumns, then into extra the columns that
// follow them; no row is ErrNotFound.
func scanDelivery(row pgx.Row, extra ...any) (DeliveryRow, error) {
	var d DeliveryRow
	var metadata []byte
	err := row.Scan(append([]any{&d.ReceiptID, &d.MerchantID, &d.AcceptedAt, &d.Data, &d.Format, &d.ContractVersion, &d.ForeignKey,
		&d.SkipErrors, &d.ObjectName, &d.ContentEncoding, &d.Source, &d.IngestState, &d.IngestionErrors,
		&d.RecordsRead, &d.PublishedThrough, &d.BytesRead, &d.IngestedAt, &d.CompletedAt, &d.InterruptedAt, &d.ExpiresAt,
		&d.CallbackURL, &metadata, &d.BodySize, &d.BodyRead, &d.MessageRemoved, &d.InputsState}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err == nil && metadata != nil {
		if err := json.Unmarshal(metadata, &d.Metadata); err != nil {
			return d, fmt.Errorf("store: metadata of %s: %w", d.ReceiptID, err)
		}
	}
	return d, err
}

func collectDeliveries(rows pgx.Rows, extra func(d *DeliveryRow) []any) ([]DeliveryRow, error) {
	defer rows.Close()
	var out []DeliveryRow
	for rows.Next() {
		var d DeliveryRow
		var more []any
		if extra != nil {
			more = extra(&d)
		}
		got, err := scanDelivery(rows, more...)
		if err != nil {
			return nil, err
		}
		got.ProcessingAt, got.Counts = d.ProcessingAt, d.Counts
		out = append(out, got)
	}
	return out, rows.Err()
}

// DeliveriesFind returns up to limit deliveries with this receipt not
// expired at now, of merchant or, with merchant "", of any merchant in
// merchant order; with withCounts, each with its Counts.
func DeliveriesFind(ctx context.Context, db database.DBTX, merchant, receipt string, now time.Time, limit int, withCounts bool) ([]DeliveryRow, error) {
	q := "SELECT " + deliveryColumns
	if withCounts {
		q += `, c.* FROM deliveries d CROSS JOIN LATERAL (SELECT coalesce(sum(n.total),0), coalesce(sum(n.queued),0), coalesce(sum(n.processing),0),
			coalesce(sum(n.unresolved),0), coalesce(sum(n.waiting),0), coalesce(sum(n.imported),0), coalesce(sum(n.partially),0),
			coalesce(sum(n.validation_failed),0), coalesce(sum(n.rejected),0), coalesce(sum(n.canceled),0)
			FROM delivery_counts n WHERE n.receipt_id = d.receipt_id AND n.delivery_at = d.accepted_at) c`
	} else {
		q += " FROM deliveries d"
	}
	args := []any{database.Prepared, receipt, now}
	if merchant != "" {
		q += fmt.Sprintf(" WHERE d.receipt_id = $1 AND d.merchant_id = $3 AND d.expires_at > $2 LIMIT %d", limit)
		args = append(args, merchant)
	} else {
		q += fmt.Sprintf(" WHERE d.receipt_id = $1 AND d.expires_at > $2 ORDER BY d.merchant_id LIMIT %d", limit)
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var extra func(d *DeliveryRow) []any
	if withCounts {
		extra = func(d *DeliveryRow) []any { return d.Counts.fields() }
	}
	return collectDeliveries(rows, extra)
}

// DeliveriesGetByMerchant returns merchant's delivery with this receipt,
// expired or not, or ErrNotFound.
func DeliveriesGetByMerchant(ctx context.Context, db database.DBTX, merchant, receipt string) (DeliveryRow, error) {
	return scanDelivery(db.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE receipt_id = $1 AND merchant_id = $2 LIMIT 1",
		database.Prepared, receipt, merchant))
}

// DeliveriesGet returns the delivery (receipt, accepted_at), expired or
// not, or ErrNotFound.
func DeliveriesGet(ctx context.Context, db database.DBTX, receipt string, at time.Time) (DeliveryRow, error) {
	return scanDelivery(db.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2",
		database.Prepared, receipt, at))
}

// DeliveriesLockReceipt serialises the transactions that write deliveries
// of one receipt, whatever their merchant, until the transaction ends; the
// primary key cannot, as it includes the partition key.
func DeliveriesLockReceipt(ctx context.Context, db database.DBTX, receipt string) error {
	_, err := db.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", receipt)
	return err
}

// DeliveriesFreeAcceptedAt returns at, or, when deliveries of the receipt
// were accepted within the millisecond from at, a microsecond past the
// last of them: (receipt, accepted_at) stays unique.
func DeliveriesFreeAcceptedAt(ctx context.Context, db database.DBTX, receipt string, at time.Time) (time.Time, error) {
	err := db.QueryRow(ctx, `SELECT greatest($2, max(accepted_at) + interval '1 microsecond') FROM deliveries
			WHERE receipt_id = $1 AND accepted_at BETWEEN $2 AND $2 + interval '1 millisecond'`,
		receipt, at).Scan(&at)
	return at, err
}

// DeliveriesInsert inserts a new delivery: its identity, what its message
// says, IngestState and ExpiresAt; the other fields start empty.
func DeliveriesInsert(ctx context.Context, db database.DBTX, d DeliveryRow) error {
	var metadata []byte // NULL for none
	if len(d.Metadata) > 0 {
		var err error
		if metadata, err = json.Marshal(d.Metadata); err != nil {
			return fmt.Errorf("store: metadata of %s: %w", d.ReceiptID, err)
		}
	}
	_, err := db.Exec(ctx, `INSERT INTO deliveries (receipt_id, merchant_id, accepted_at, data, format, contract_version,
			foreign_key, skip_errors, object_name, content_encoding, source, ingest_state, expires_at, callback_url, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), nullif($10, ''), $11, $12, $13, nullif($14, ''), $15::jsonb)`,
		d.ReceiptID, d.MerchantID, d.AcceptedAt, d.Data, d.Format, d.ContractVersion,
		d.ForeignKey, d.SkipErrors, d.ObjectName, d.ContentEncoding, d.Source, d.IngestState, d.ExpiresAt, d.CallbackURL, metadata)
	return err
}

// DeliveriesCheckpoint records how far ingest has read the delivery: its
// records, and its body's bytes decoded (bytesRead) and as stored (bodyRead
// of bodySize, nil when unknown).
func DeliveriesCheckpoint(ctx context.Context, db database.DBTX, receipt string, at time.Time, recordsRead, publishedThrough int,
	bytesRead int64, bodySize *int64, bodyRead int64) error {
	_, err := db.Exec(ctx, `UPDATE deliveries SET records_read = $3, published_through = greatest(published_through, $4), bytes_read = $5,
			body_size = coalesce($6, body_size), body_read = $7
			WHERE receipt_id = $1 AND accepted_at = $2`, receipt, at, recordsRead, publishedThrough, bytesRead, bodySize, bodyRead)
	return err
}

// DeliveriesFinishIngest records the end of ingest: its state, the reasons
// of a failure (JSON, nil for none), the completion if it is one, and the
// body's bytes read (decoded, and as stored: bodyRead, kept if lower).
func DeliveriesFinishIngest(ctx context.Context, db database.DBTX, receipt string, at time.Time, state string, ingestionErrors []byte,
	ingestedAt time.Time, completedAt *time.Time, bytesRead, bodyRead int64) error {
	_, err := db.Exec(ctx, `UPDATE deliveries SET ingest_state = $3, ingestion_errors = $4, ingested_at = $5,
			completed_at = $6, published_through = records_read, bytes_read = $7, body_read = greatest(body_read, $8)
			WHERE receipt_id = $1 AND accepted_at = $2`,
		receipt, at, state, ingestionErrors, ingestedAt, completedAt, bytesRead, bodyRead)
	return err
}

// DeliveryState is the part of a delivery row that writers decide on.
type DeliveryState struct {
	RecordsRead     int
	IngestState     string
	SkipErrors      bool
	CompletedAt     *time.Time
	InterruptedAt   *time.Time
	InterruptReason string
}

const deliveryStateQuery = `SELECT records_read, ingest_state, skip_errors, completed_at, interrupted_at, coalesce(interrupt_reason, '')
	FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2`

func scanDeliveryState(row pgx.Row) (DeliveryState, error) {
	var s DeliveryState
	err := row.Scan(&s.RecordsRead, &s.IngestState, &s.SkipErrors, &s.CompletedAt, &s.InterruptedAt, &s.InterruptReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// DeliveriesState reads the delivery's state without locking its row, or
// returns ErrNotFound.
func DeliveriesState(ctx context.Context, db database.DBTX, receipt string, at time.Time) (DeliveryState, error) {
	return scanDeliveryState(db.QueryRow(ctx, deliveryStateQuery, receipt, at))
}

// DeliveriesLock locks the delivery's row (FOR UPDATE) until the
// transaction ends and returns its state, or ErrNotFound. The row is the
// second of a delivery's two locks (see the package doc): a transaction
// that adds to the delivery's counts does so first (DeliveryCountsAdd).
func DeliveriesLock(ctx context.Context, db database.DBTX, receipt string, at time.Time) (DeliveryState, error) {
	s, err := scanDeliveryState(db.QueryRow(ctx, deliveryStateQuery+" FOR UPDATE", receipt, at))
	if err == nil {
		if tx, ok := db.(*Tx); ok {
			tx.lockedRow(receipt, at)
		}
	}
	return s, err
}

// LockDelivery takes both of a delivery's locks in their order: it adds c
// to a counter slot (DeliveryCountsAdd), then locks the row
// (DeliveriesLock) and returns its state.
func LockDelivery(ctx context.Context, db database.DBTX, receipt string, at time.Time, c DeliveryCounts) (DeliveryState, error) {
	if err := DeliveryCountsAdd(ctx, db, receipt, at, c); err != nil {
		return DeliveryState{}, err
	}
	return DeliveriesLock(ctx, db, receipt, at)
}

// DeliveriesComplete records the delivery's completion at now, once; it
// reports whether this call did.
func DeliveriesComplete(ctx context.Context, db database.DBTX, receipt string, at, now time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE deliveries SET completed_at = $3 WHERE receipt_id = $1 AND accepted_at = $2 AND completed_at IS NULL`,
		receipt, at, now)
	return err == nil && tag.RowsAffected() > 0, err
}

// DeliveriesReopen clears the delivery's completion: it processes again.
func DeliveriesReopen(ctx context.Context, db database.DBTX, receipt string, at time.Time) error {
	_, err := db.Exec(ctx, `UPDATE deliveries SET completed_at = NULL WHERE receipt_id = $1 AND accepted_at = $2`, receipt, at)
	return err
}

// DeliveriesMarkProcessing records, once, that the delivery's first
// operation was picked up; it reports whether this call did.
func DeliveriesMarkProcessing(ctx context.Context, db database.DBTX, receipt string, at time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE deliveries SET processing_at = now() WHERE receipt_id = $1 AND accepted_at = $2 AND processing_at IS NULL`,
		receipt, at)
	return err == nil && tag.RowsAffected() > 0, err
}

// DeliveriesInterrupt marks the delivery interrupted at now for reason,
// once, unless it has completed; it reports whether this call did.
func DeliveriesInterrupt(ctx context.Context, db database.DBTX, receipt string, at, now time.Time, reason string) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE deliveries SET interrupted_at = $3, interrupt_reason = $4
		WHERE receipt_id = $1 AND accepted_at = $2 AND interrupted_at IS NULL AND completed_at IS NULL`,
		receipt, at, now, reason)
	return err == nil && tag.RowsAffected() > 0, err
}

// DeliveriesToComplete returns up to limit deliveries ingested to their
// end, not completed, with no operation pending. Only ReceiptID,
// MerchantID and AcceptedAt are set.
func DeliveriesToComplete(ctx context.Context, db database.DBTX, limit int) ([]DeliveryRow, error) {
	rows, err := db.Query(ctx, `SELECT d.receipt_id, d.merchant_id, d.accepted_at FROM deliveries d
		WHERE d.ingest_state = 'done' AND d.completed_at IS NULL
		  AND (SELECT sum(c.queued + c.processing + c.unresolved + c.waiting) FROM delivery_counts c
		       WHERE c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at) = 0
		LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	var out []DeliveryRow
	var d DeliveryRow
	_, err = pgx.ForEachRow(rows, []any{&d.ReceiptID, &d.MerchantID, &d.AcceptedAt}, func() error {
		out = append(out, d)
		return nil
	})
	return out, err
}

// DeliveriesInterrupted returns up to limit deliveries interrupted but not
// completed, the longest interrupted first.
func DeliveriesInterrupted(ctx context.Context, db database.DBTX, limit int) ([]DeliveryRow, error) {
	rows, err := db.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE interrupted_at IS NOT NULL AND completed_at IS NULL ORDER BY interrupted_at LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return collectDeliveries(rows, nil)
}

// DeliveriesSettled returns up to limit deliveries, oldest first, not in
// ingest state receiving, whose message is not removed yet, and that
// either completed or, not interrupted, have no operation queued or
// processing.
func DeliveriesSettled(ctx context.Context, db database.DBTX, receiving string, limit int) ([]DeliveryRow, error) {
	rows, err := db.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries d
		WHERE d.message_removed_at IS NULL AND d.ingest_state <> $1
			AND (d.completed_at IS NOT NULL OR (d.interrupted_at IS NULL
				AND (SELECT coalesce(sum(c.queued + c.processing), 0) FROM delivery_counts c
					WHERE c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at) = 0))
		ORDER BY d.accepted_at, d.receipt_id LIMIT $2`, receiving, limit)
	if err != nil {
		return nil, err
	}
	return collectDeliveries(rows, nil)
}

// DeliveryClaim holds a delivery for one worker: a session advisory lock
// on a connection of its own, so that it ends with the worker's process
// as well as with Release.
type DeliveryClaim struct {
	conn *pgxpool.Conn
	key  string
}

// DeliveriesClaim claims the delivery (merchant, receipt) if no other
// session holds it, and reports whether it did.
func DeliveriesClaim(ctx context.Context, pool *pgxpool.Pool, merchant, receipt string) (*DeliveryClaim, bool, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	key := "importd.settle." + merchant + "/" + receipt
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return &DeliveryClaim{conn: conn, key: key}, true, nil
}

// Release ends the claim. A connection that cannot unlock is closed,
// which unlocks it too.
func (c *DeliveryClaim) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, c.key); err != nil {
		c.conn.Conn().Close(ctx)
	}
	c.conn.Release()
}

// DeliveriesMessageRemoved records that the delivery's message and object
// are gone.
func DeliveriesMessageRemoved(ctx context.Context, db database.DBTX, receipt string, at time.Time) error {
	_, err := db.Exec(ctx, `UPDATE deliveries SET message_removed_at = now()
		WHERE receipt_id = $1 AND accepted_at = $2`, receipt, at)
	return err
}

// States of a delivery's body in IMPORT_INPUTS (deliveries.inputs_state).
const (
	InputsReserved  = "reserved"   // counted against the merchant's share, being written
	InputsKept      = "kept"       // kept for the retention
	InputsOverQuota = "over_quota" // not kept: the merchant's share is used
	InputsFull      = "full"       // not kept: the bucket is full
	InputsOff       = "off"        // not kept: importd keeps no bodies
	InputsGone      = "gone"       // not kept: the body was gone already
	InputsFailed    = "failed"     // not kept: writing it failed, again and again
)

// DeliveriesInputsReserve counts size bytes of the delivery's body against
// merchant's share of IMPORT_INPUTS, quota bytes, and reports whether they
// fit. A delivery reserved or kept already fits again (keeping it once more
// replaces the object); one that does not fit is marked InputsOverQuota.
// Reservations of one merchant are serialized, so that two ingest workers
// cannot both take its last room.
func DeliveriesInputsReserve(ctx context.Context, pool *pgxpool.Pool, merchant, receipt string, at time.Time, size, quota int64) (bool, error) {
	var fits bool
	err := InTx(ctx, pool, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('importd.inputs.' || $1, 0))`, merchant); err != nil {
			return err
		}
		var used int64
		var state *string
		err := tx.QueryRow(ctx, `SELECT (SELECT inputs_state FROM deliveries WHERE receipt_id = $2 AND accepted_at = $3),
				(SELECT coalesce(sum(inputs_size), 0) FROM deliveries
					WHERE merchant_id = $1 AND inputs_state IN ('reserved', 'kept'))`,
			merchant, receipt, at).Scan(&state, &used)
		if err != nil {
			return err
		}
		if state != nil && (*state == InputsReserved || *state == InputsKept) {
			fits = true
			return nil
		}
		fits = used+size <= quota
		next := InputsReserved
		if !fits {
			next = InputsOverQuota
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries SET inputs_state = $3, inputs_size = $4
			WHERE receipt_id = $1 AND accepted_at = $2`, receipt, at, next, size)
		return err
	})
	return fits, err
}

// DeliveriesInputsSet records the state of the delivery's body in
// IMPORT_INPUTS; a state other than reserved or kept frees its share.
func DeliveriesInputsSet(ctx context.Context, db database.DBTX, receipt string, at time.Time, state string) error {
	_, err := db.Exec(ctx, `UPDATE deliveries SET inputs_state = $3,
			inputs_size = CASE WHEN $3 IN ('reserved', 'kept') THEN inputs_size END
		WHERE receipt_id = $1 AND accepted_at = $2`, receipt, at, state)
	return err
}

// DeliveriesInFlight returns up to limit deliveries accepted before
// cutoff, neither completed nor interrupted, with operations queued or
// processing, in the order they were accepted from after (afterAt,
// afterReceipt).
func DeliveriesInFlight(ctx context.Context, db database.DBTX, cutoff, afterAt time.Time, afterReceipt string, limit int) ([]DeliveryRow, error) {
	rows, err := db.Query(ctx, "SELECT "+deliveryColumns+` FROM deliveries d
		WHERE d.completed_at IS NULL AND d.interrupted_at IS NULL AND d.accepted_at < $1
			AND (d.accepted_at, d.receipt_id) > ($2, $3)
			AND (SELECT coalesce(sum(c.queued + c.processing), 0) FROM delivery_counts c
				WHERE c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at) > 0
		ORDER BY d.accepted_at, d.receipt_id LIMIT $4`, cutoff, afterAt, afterReceipt, limit)
	if err != nil {
		return nil, err
	}
	return collectDeliveries(rows, nil)
}

// DeliveriesCompletionAnnounced records that the completion at completedAt
// was announced, unless the delivery has completed again since.
func DeliveriesCompletionAnnounced(ctx context.Context, db database.DBTX, receipt string, at, completedAt time.Time) error {
	_, err := db.Exec(ctx, `UPDATE deliveries SET completion_announced_at = $3
			WHERE receipt_id = $1 AND accepted_at = $2 AND completed_at = $3`, receipt, at, completedAt)
	return err
}

// DeliveriesUnannounced returns up to limit deliveries not expired that
// completed more than grace ago without their completion announced, the
// oldest completion first. Only ReceiptID and AcceptedAt are set.
func DeliveriesUnannounced(ctx context.Context, db database.DBTX, grace time.Duration, limit int) ([]DeliveryRow, error) {
	// 'infinity': completed before the column existed (migration 00010).
	rows, err := db.Query(ctx, `SELECT receipt_id, accepted_at FROM deliveries
		WHERE completed_at IS NOT NULL AND completion_announced_at IS DISTINCT FROM completed_at
			AND completion_announced_at IS DISTINCT FROM 'infinity'
			AND completed_at < now() - $1::bigint * interval '1 microsecond' AND expires_at > now()
		ORDER BY completed_at LIMIT $2`, grace.Microseconds(), limit)
	if err != nil {
		return nil, err
	}
	var out []DeliveryRow
	var d DeliveryRow
	_, err = pgx.ForEachRow(rows, []any{&d.ReceiptID, &d.AcceptedAt}, func() error {
		out = append(out, d)
		return nil
	})
	return out, err
}

// DeliveriesProcessingAt returns when the delivery's first operation was
// picked up (nil if none was yet), or ErrNotFound.
func DeliveriesProcessingAt(ctx context.Context, db database.DBTX, receipt string, at time.Time) (*time.Time, error) {
	var t *time.Time
	err := db.QueryRow(ctx, `SELECT processing_at FROM deliveries WHERE receipt_id = $1 AND accepted_at = $2`, receipt, at).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

// ErrUnknownStatus means a job status filter names no job status.
var ErrUnknownStatus = errors.New("store: unknown job status")

// jobStatusFilters are the job statuses of deliveries d, with their counts
// c (countsLateral), in SQL: interrupted when interrupted, whatever else;
// otherwise completed, pending (queued) or in progress by the ingest state
// and the counts.
var jobStatusFilters = func() map[string]string {
	const pending = "(c.n_queued + c.n_processing + c.n_unresolved + c.n_waiting)"
	const queued = "(c.n_queued = " + pending + " AND c.n_imported + c.n_partially = 0 AND c.n_rejected = 0 AND c.n_canceled = 0)"
	return map[string]string{
		"interrupted": "d.interrupted_at IS NOT NULL",
		"completed":   "d.interrupted_at IS NULL AND (d.ingest_state = 'failed' OR (d.ingest_state = 'done' AND " + pending + " = 0))",
		"pending":     "d.interrupted_at IS NULL AND d.ingest_state = 'done' AND " + pending + " > 0 AND " + queued,
		"in_progress": "d.interrupted_at IS NULL AND (d.ingest_state = 'receiving' OR (d.ingest_state = 'done' AND " +
			pending + " > 0 AND NOT " + queued + "))",
	}
}()

// DeliveriesFilter selects deliveries not expired at Now.
type DeliveriesFilter struct {
	Now       time.Time
	Merchant  string // "" for any
	Reference string // a foreign key, "" for any
	JobStatus string // pending, in_progress, interrupted or completed; "" for any
	// Metadata selects the deliveries with every one of these pairs among
	// their metadata; nil for any. Only DeliveriesList reads it.
	Metadata map[string]string
	// AcceptedFrom and AcceptedTo bound accepted_at, from inclusive, to
	// exclusive; the zero time leaves that end open. Only DeliveriesList
	// reads them.
	AcceptedFrom time.Time
	AcceptedTo   time.Time
	After        bool // list only after (AfterAt, AfterReceipt) in the list's order
	AfterAt      time.Time
	AfterReceipt string
}

// DeliveriesList returns up to limit deliveries of f, newest first
// (accepted_at desc, receipt), each with its ProcessingAt and Counts. An
// unknown f.JobStatus is ErrUnknownStatus.
func DeliveriesList(ctx context.Context, db database.DBTX, f DeliveriesFilter, limit int) ([]DeliveryRow, error) {
	args := params{f.Now}
	arg := args.arg
	where := []string{"d.expires_at > $1"}
	if f.Merchant != "" {
		where = append(where, "d.merchant_id = "+arg(f.Merchant))
	}
	if f.Reference != "" {
		where = append(where, "d.foreign_key = "+arg(f.Reference))
	}
	if f.JobStatus != "" {
		cond, ok := jobStatusFilters[f.JobStatus]
		if !ok {
			return nil, ErrUnknownStatus
		}
		where = append(where, "("+cond+")")
	}
	if len(f.Metadata) > 0 {
		pairs, err := json.Marshal(f.Metadata)
		if err != nil {
			return nil, fmt.Errorf("store: metadata filter: %w", err)
		}
		// Containment, which deliveries_metadata_idx answers.
		where = append(where, "d.metadata @> "+arg(string(pairs))+"::jsonb")
	}
	if !f.AcceptedFrom.IsZero() {
		where = append(where, "d.accepted_at >= "+arg(f.AcceptedFrom))
	}
	if !f.AcceptedTo.IsZero() {
		where = append(where, "d.accepted_at < "+arg(f.AcceptedTo))
	}
	if f.After {
		// The order mixes directions, so no row comparison; the first
		// condition is the one an index (and partition pruning) can use.
		at, receipt := arg(f.AfterAt), arg(f.AfterReceipt)
		where = append(where, "d.accepted_at <= "+at,
			"(d.accepted_at < "+at+" OR (d.accepted_at = "+at+" AND d.receipt_id > "+receipt+"))")
	}
	q := `SELECT ` + deliveryColumns + `, d.processing_at, c.n_total, c.n_queued, c.n_processing, c.n_unresolved, c.n_waiting,
			c.n_imported, c.n_partially, c.n_validation_failed, c.n_rejected, c.n_canceled
		FROM deliveries d ` + countsLateral + `
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY d.accepted_at DESC, d.receipt_id LIMIT ` + arg(limit)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collectDeliveries(rows, func(d *DeliveryRow) []any { return append([]any{&d.ProcessingAt}, d.Counts.fields()...) })
}

// MerchantCounts are a merchant's deliveries and their operations per
// state; Processing includes the queued ones.
type MerchantCounts struct {
	MerchantID           string
	Deliveries           int64
	Queued               int64 // of Processing, those not yet picked up by the resolver
	Processing           int64
	Unresolved           int64
	WaitForMasterVariant int64
	Imported             int64
	PartiallyImported    int64
	ValidationFailed     int64
	Rejected             int64
	Canceled             int64
}

// DeliveriesOverview counts the deliveries of f (Now, Merchant and
// JobStatus; the rest is ignored) and their operations per merchant, in
// merchant order. An unknown f.JobStatus is ErrUnknownStatus.
func DeliveriesOverview(ctx context.Context, db database.DBTX, f DeliveriesFilter) ([]MerchantCounts, error) {
	args := []any{f.Now}
	where := "d.expires_at > $1"
	if f.Merchant != "" {
		args = append(args, f.Merchant)
		where += " AND d.merchant_id = $2"
	}
	if f.JobStatus != "" {
		cond, ok := jobStatusFilters[f.JobStatus]
		if !ok {
			return nil, ErrUnknownStatus
		}
		where += " AND (" + cond + ")"
	}
	rows, err := db.Query(ctx, `SELECT d.merchant_id, count(*), sum(c.n_queued)::bigint, sum(c.n_queued + c.n_processing)::bigint,
			sum(c.n_unresolved)::bigint, sum(c.n_waiting)::bigint, sum(c.n_imported)::bigint, sum(c.n_partially)::bigint,
			sum(c.n_validation_failed)::bigint, sum(c.n_rejected)::bigint, sum(c.n_canceled)::bigint
		FROM deliveries d `+countsLateral+`
		WHERE `+where+`
		GROUP BY d.merchant_id ORDER BY d.merchant_id`, args...)
	if err != nil {
		return nil, err
	}
	var out []MerchantCounts
	var m MerchantCounts
	_, err = pgx.ForEachRow(rows, []any{&m.MerchantID, &m.Deliveries, &m.Queued, &m.Processing, &m.Unresolved,
		&m.WaitForMasterVariant, &m.Imported, &m.PartiallyImported, &m.ValidationFailed, &m.Rejected, &m.Canceled}, func() error {
		out = append(out, m)
		return nil
	})
	return out, err
}
