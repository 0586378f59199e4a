package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// EventRow is a row of tracking_events. An empty ProductID (a delivery's
// event), ChannelID or Debug is stored as NULL.
type EventRow struct {
	DeliveryAt time.Time
	TrackingID [16]byte
	Timestamp  time.Time
	Code       int32
	ReceiptID  string
	MerchantID string
	ProductID  string
	ChannelID  string
	Message    string
	Debug      string
}

// EventsCopy inserts events.
func EventsCopy(ctx context.Context, db database.DBTX, evs []EventRow) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"tracking_events"},
		[]string{"delivery_at", "tracking_id", "ts", "code", "receipt_id", "merchant_id", "product_id", "channel_id", "message", "debug"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
			e := &evs[i]
			// UUIDs as [16]byte: pgx encodes uuid.UUID through its
			// driver.Valuer, a string parsed again after a failed plan whose
			// error it formats first, for every id.
			return []any{e.DeliveryAt, e.TrackingID, e.Timestamp, e.Code, e.ReceiptID, e.MerchantID,
				nullString(e.ProductID), nullString(e.ChannelID), e.Message, nullString(e.Debug)}, nil
		}))
	return err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// EventRead is an event as the history reads it: NULL columns are nil.
type EventRead struct {
	Timestamp  time.Time
	TrackingID [16]byte
	Code       int
	ReceiptID  string
	MerchantID string
	ProductID  *string
	ChannelID  *string
	Message    string
	Debug      *string
}

// EventsHistory returns up to limit events of one record (productID) of
// the delivery, or of the delivery itself with productID "", in (ts,
// tracking_id) order after (fromTS, fromID).
func EventsHistory(ctx context.Context, db database.DBTX, receipt string, at time.Time, productID string,
	fromTS time.Time, fromID [16]byte, limit int) ([]EventRead, error) {
	cond, args := "product_id = $5", []any{receipt, at, fromTS, fromID, productID, limit}
	if productID == "" {
		cond, args = "product_id IS NULL AND $5::text IS NULL", []any{receipt, at, fromTS, fromID, nil, limit}
	}
	rows, err := db.Query(ctx, `SELECT ts, tracking_id, code, receipt_id, merchant_id, product_id, channel_id, message, debug
		FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND `+cond+`
		AND (ts, tracking_id) > ($3, $4)
		ORDER BY ts, tracking_id LIMIT $6`, args...)
	if err != nil {
		return nil, err
	}
	var out []EventRead
	var e EventRead
	_, err = pgx.ForEachRow(rows, []any{&e.Timestamp, &e.TrackingID, &e.Code, &e.ReceiptID, &e.MerchantID, &e.ProductID, &e.ChannelID, &e.Message, &e.Debug}, func() error {
		out = append(out, e)
		e = EventRead{}
		return nil
	})
	return out, err
}
