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

// History returns the events of one record of the delivery, oldest first, or
// of the delivery itself when productID is empty.
func (s *Store) History(ctx context.Context, d *Delivery, productID string) ([]EventBody, error) {
	cond, args := "product_id = $3", []any{d.ReceiptID, d.AcceptedAt, productID}
	if productID == "" {
		cond, args = "product_id IS NULL", args[:2]
	}
	rows, err := s.pool.Query(ctx, `SELECT ts, tracking_id, code, receipt_id, merchant_id, product_id, channel_id, message, debug
		FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND `+cond+`
		ORDER BY ts, tracking_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("tracking: history of %s/%s: %w", d.ReceiptID, productID, err)
	}
	var out []EventBody
	var e EventBody
	var tid uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&e.Timestamp, &tid, &e.TrackingCode, &e.ReceiptID, &e.MerchantID, &e.ProductID, &e.ChannelID, &e.Message, &e.DebugInformation}, func() error {
		e.Timestamp = e.Timestamp.UTC()
		e.TrackingID = hexID(tid)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: history of %s/%s: %w", d.ReceiptID, productID, err)
	}
	return out, nil
}

// hexID renders a tracking id as 32 lowercase hex digits, as CDON does.
func hexID(id uuid.UUID) string {
	return strings.ReplaceAll(id.String(), "-", "")
}
