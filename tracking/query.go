package tracking

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DeliveryInfo is the Delivery object of the tracking endpoints.
type DeliveryInfo struct {
	AcceptedUtc     time.Time `json:"AcceptedUtc"`
	Data            string    `json:"Data"`
	ContractVersion string    `json:"ContractVersion"`
	MerchantID      string    `json:"MerchantId"`
	ForeignKey      *string   `json:"ForeignKey"`
}

// ProductCounts is the Products object of GET /import/{receiptId}/status.
type ProductCounts struct {
	Successful int64 `json:"Successful"`
	Pending    int64 `json:"Pending"`
	Failed     int64 `json:"Failed"`
}

// StatusBody is the body of GET /import/{receiptId}/status and of delivery
// events on IMPORT_EVENTS. IngestionErrors is present only for a delivery in
// IngestionFailure and says why.
type StatusBody struct {
	Status                 string           `json:"Status"`
	StatusCode             int              `json:"StatusCode"`
	CompletedUtc           *time.Time       `json:"CompletedUtc"`
	EstimatedCompletionUtc *time.Time       `json:"EstimatedCompletionUtc"`
	Delivery               DeliveryInfo     `json:"Delivery"`
	Products               ProductCounts    `json:"Products"`
	IngestionErrors        []IngestionError `json:"IngestionErrors,omitempty"`
}

// Info returns the delivery's Delivery object.
func (d *Delivery) Info() DeliveryInfo {
	return DeliveryInfo{
		AcceptedUtc:     d.AcceptedAt.UTC(),
		Data:            d.Data,
		ContractVersion: d.ContractVersion,
		MerchantID:      d.MerchantID,
		ForeignKey:      d.ForeignKey,
	}
}

// Status returns the delivery's status body.
func (s *Store) Status(ctx context.Context, d *Delivery) (StatusBody, error) {
	c, err := s.Counts(ctx, d)
	if err != nil {
		return StatusBody{}, fmt.Errorf("tracking: counts of %s: %w", d.ReceiptID, err)
	}
	return statusBody(d, c, time.Now()), nil
}

func statusBody(d *Delivery, c Counts, now time.Time) StatusBody {
	st := DeriveStatus(d.IngestState, c)
	b := StatusBody{
		Status:     st.Name,
		StatusCode: st.Code,
		Delivery:   d.Info(),
		Products:   ProductCounts{Successful: c.Successful(), Pending: c.Pending(), Failed: c.Failed()},
	}
	switch st {
	case StatusCompletedSuccessfully, StatusCompletedWithErrors, StatusNoContent:
		b.CompletedUtc = utc(d.CompletedAt)
		if b.CompletedUtc == nil {
			b.CompletedUtc = utc(d.IngestedAt)
		}
	case StatusIngestionFailure:
		b.CompletedUtc = utc(d.IngestedAt)
		b.IngestionErrors = d.IngestionErrors
	case StatusProcessing, StatusQueued, StatusReceiving:
		b.EstimatedCompletionUtc = Estimate(d.AcceptedAt, now, c)
	}
	return b
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SummaryRow is one product of GET /import/{receiptId}/summary: the record's
// status and its latest event.
type SummaryRow struct {
	ProductID    string `json:"ProductId"`
	Status       string `json:"Status"`
	StatusCode   int    `json:"StatusCode"`
	TrackingID   string `json:"TrackingId"`
	TrackingCode int    `json:"TrackingCode"`
	Description  string `json:"Description"`
}

// summaryFilters maps a ?status= value to the operations it selects.
var summaryFilters = map[string]string{
	"queued":            "state = 'processing' AND stage = 0",
	"processing":        "((state = 'processing' AND stage > 0) OR state IN ('unresolved', 'waitForMasterVariant'))",
	"imported":          "state = 'imported'",
	"partiallyimported": "state = 'partiallyImported'",
	"failed":            "failed", // state IN ('validationFailed', 'rejected', 'canceled'); its index (migration 00008)
}

// ErrBadFilter means a ?status= value names no record status.
var ErrBadFilter = fmt.Errorf("tracking: unknown status filter (want Queued, Processing, Imported, PartiallyImported or Failed)")

// Summary calls fn for every record of the delivery in delivery order,
// optionally only those with the given record status, streaming from the
// database so that a delivery of any size takes constant memory.
func (s *Store) Summary(ctx context.Context, d *Delivery, status string, fn func(SummaryRow) error) error {
	where := "true"
	if status != "" {
		f, ok := summaryFilters[strings.ToLower(status)]
		if !ok {
			return ErrBadFilter
		}
		where = f
	}
	rows, err := s.pool.Query(ctx, `SELECT resource_key, state, stage, last_tracking_id, last_tracking_code, last_message
		FROM operations WHERE receipt_id = $1 AND delivery_at = $2 AND `+where+` ORDER BY seq`, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return fmt.Errorf("tracking: summary of %s: %w", d.ReceiptID, err)
	}
	var (
		row   SummaryRow
		state string
		stage int16
		tid   uuid.UUID
	)
	_, err = pgx.ForEachRow(rows, []any{&row.ProductID, &state, &stage, &tid, &row.TrackingCode, &row.Description}, func() error {
		rs := RecordStatusOf(State(state), Stage(stage))
		row.Status, row.StatusCode = rs.Name, rs.Code
		row.TrackingID = hexID(tid)
		return fn(row)
	})
	if err != nil {
		return fmt.Errorf("tracking: summary of %s: %w", d.ReceiptID, err)
	}
	return nil
}

// EventBody is one event of GET /import/{receiptId}/{productId}.
type EventBody struct {
	Timestamp        time.Time `json:"Timestamp"`
	TrackingID       string    `json:"TrackingId"`
	TrackingCode     int       `json:"TrackingCode"`
	ReceiptID        string    `json:"ReceiptId"`
	MerchantID       string    `json:"MerchantId"`
	ProductID        *string   `json:"ProductId"`
	ChannelID        *string   `json:"ChannelId"`
	Message          string    `json:"Message"`
	DebugInformation *string   `json:"DebugInformation"`
}

// DefaultHistoryLimit is how many events GET /import/{receiptId}/{productId}
// returns unless ?limit= says otherwise (at most MaxPageLimit): records of
// one key can be many, and a history is read into memory.
const DefaultHistoryLimit = 1000

// History returns at most limit events of one record of the delivery, or of
// the delivery itself when productID is empty, oldest first, from after on
// (a cursor History returned; "" for the first). next is the cursor of the
// events that follow, "" when there are none.
func (s *Store) History(ctx context.Context, d *Delivery, productID, after string, limit int) (events []EventBody, next string, err error) {
	if limit < 1 || limit > MaxPageLimit {
		return nil, "", fmt.Errorf("tracking: history limit %d not in 1..%d", limit, MaxPageLimit)
	}
	from := cursor{Kind: cursorHistory, Receipt: d.ReceiptID, ID: "00000000000000000000000000000000"}
	if after != "" {
		if from, err = decodeCursor(after, cursorHistory); err != nil || from.Receipt != d.ReceiptID {
			return nil, "", ErrBadCursor
		}
	}
	fromID, err := uuid.Parse(from.ID)
	if err != nil {
		return nil, "", ErrBadCursor
	}
	fromTS := time.UnixMicro(from.Accepted).UTC()
	if after == "" {
		fromTS = time.Unix(0, 0)
	}
	cond, args := "product_id = $5", []any{d.ReceiptID, d.AcceptedAt, fromTS, fromID, productID, limit + 1}
	if productID == "" {
		cond, args = "product_id IS NULL AND $5::text IS NULL", []any{d.ReceiptID, d.AcceptedAt, fromTS, fromID, nil, limit + 1}
	}
	rows, err := s.pool.Query(ctx, `SELECT ts, tracking_id, code, receipt_id, merchant_id, product_id, channel_id, message, debug
		FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND `+cond+`
		AND (ts, tracking_id) > ($3, $4)
		ORDER BY ts, tracking_id LIMIT $6`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("tracking: history of %s/%s: %w", d.ReceiptID, productID, err)
	}
	var e EventBody
	var tid uuid.UUID
	var last cursor
	_, err = pgx.ForEachRow(rows, []any{&e.Timestamp, &tid, &e.TrackingCode, &e.ReceiptID, &e.MerchantID, &e.ProductID, &e.ChannelID, &e.Message, &e.DebugInformation}, func() error {
		if len(events) == limit {
			next = last.encode()
			return nil
		}
		last = cursor{Kind: cursorHistory, Receipt: d.ReceiptID, Accepted: e.Timestamp.UnixMicro(), ID: tid.String()}
		e.Timestamp = e.Timestamp.UTC()
		e.TrackingID = hexID(tid)
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("tracking: history of %s/%s: %w", d.ReceiptID, productID, err)
	}
	return events, next, nil
}

// hexID renders a tracking id as 32 lowercase hex digits, as CDON does.
func hexID(id uuid.UUID) string {
	return strings.ReplaceAll(id.String(), "-", "")
}
