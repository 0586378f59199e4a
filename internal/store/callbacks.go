package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// CallbackRow is a row of callbacks: one call of a delivery's callback URL
// to make, or made.
type CallbackRow struct {
	ID            int64
	MerchantID    string
	ReceiptID     string
	DeliveryAt    time.Time
	Event         string
	URL           string
	Body          []byte
	CreatedAt     time.Time
	NextAt        time.Time
	Attempts      int
	LastAttemptAt *time.Time
	LastStatus    *int
	LastError     *string
	DeliveredAt   *time.Time
	GivenUpAt     *time.Time
}

const callbackColumns = `id, merchant_id, receipt_id, delivery_at, event, url, body, created_at, next_at, attempts,
	last_attempt_at, last_status, last_error, delivered_at, given_up_at`

func scanCallback(row pgx.Row) (CallbackRow, error) {
	var c CallbackRow
	err := row.Scan(&c.ID, &c.MerchantID, &c.ReceiptID, &c.DeliveryAt, &c.Event, &c.URL, &c.Body, &c.CreatedAt, &c.NextAt,
		&c.Attempts, &c.LastAttemptAt, &c.LastStatus, &c.LastError, &c.DeliveredAt, &c.GivenUpAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// CallbacksInsert queues a call, due at c.NextAt.
func CallbacksInsert(ctx context.Context, db database.DBTX, c CallbackRow) error {
	_, err := db.Exec(ctx, `INSERT INTO callbacks (merchant_id, receipt_id, delivery_at, event, url, body, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.MerchantID, c.ReceiptID, c.DeliveryAt, c.Event, c.URL, c.Body, c.CreatedAt, c.NextAt)
	return err
}

// CallbacksClaim takes up to limit calls due at now, soonest first, and
// moves each one's next_at to now+lease, so that no other sender takes it
// while it is being made; a sender that dies with it leaves it to be taken
// again after the lease. The calls of one delivery are made in the order
// they were queued (interrupted, then completed): a call waits for the
// earlier ones to end.
func CallbacksClaim(ctx context.Context, db database.DBTX, now time.Time, lease time.Duration, limit int) ([]CallbackRow, error) {
	rows, err := db.Query(ctx, `UPDATE callbacks c SET next_at = $2
			FROM (SELECT id FROM callbacks d WHERE next_at <= $1 AND delivered_at IS NULL AND given_up_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM callbacks e WHERE e.receipt_id = d.receipt_id AND e.delivery_at = d.delivery_at
					AND e.id < d.id AND e.delivered_at IS NULL AND e.given_up_at IS NULL)
				ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
			WHERE c.id = due.id
			RETURNING c.id, c.merchant_id, c.receipt_id, c.delivery_at, c.event, c.url, c.body, c.created_at, c.next_at,
				c.attempts, c.last_attempt_at, c.last_status, c.last_error, c.delivered_at, c.given_up_at`,
		now, now.Add(lease), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CallbackRow
	for rows.Next() {
		c, err := scanCallback(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CallbackAttempt is the outcome of one call.
type CallbackAttempt struct {
	At        time.Time
	Status    int    // the response's status code; 0 when there was none
	Error     string // why it failed; "" when it was delivered
	Delivered bool
	GivenUp   bool      // the last attempt: no other is made
	NextAt    time.Time // when to try again, unless delivered or given up
}

// CallbacksRecord records an attempt of call id.
func CallbacksRecord(ctx context.Context, db database.DBTX, id int64, a CallbackAttempt) error {
	var status *int
	if a.Status != 0 {
		status = &a.Status
	}
	var delivered, givenUp *time.Time
	if a.Delivered {
		delivered = &a.At
	}
	if a.GivenUp {
		givenUp = &a.At
	}
	_, err := db.Exec(ctx, `UPDATE callbacks SET attempts = attempts + 1, last_attempt_at = $2, last_status = $3,
			last_error = nullif($4, ''), delivered_at = $5, given_up_at = $6, next_at = $7
			WHERE id = $1`,
		id, a.At, status, a.Error, delivered, givenUp, a.NextAt)
	return err
}

// CallbacksLatest returns the latest call of the delivery (receipt, at), or
// ErrNotFound.
func CallbacksLatest(ctx context.Context, db database.DBTX, receipt string, at time.Time) (CallbackRow, error) {
	return scanCallback(db.QueryRow(ctx, `SELECT `+callbackColumns+` FROM callbacks
			WHERE receipt_id = $1 AND delivery_at = $2 ORDER BY id DESC LIMIT 1`, receipt, at))
}

// CallbacksDeleteEnded deletes the calls of deliveries accepted before
// cutoff that are delivered or given up; calls still being tried stay.
func CallbacksDeleteEnded(ctx context.Context, db database.DBTX, cutoff time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM callbacks WHERE delivery_at < $1 AND (delivered_at IS NOT NULL OR given_up_at IS NOT NULL)`, cutoff)
	return tag.RowsAffected(), err
}
