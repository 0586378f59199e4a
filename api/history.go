package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

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

// ErrBadFilter means a ?status= value names no record status.
var ErrBadFilter = fmt.Errorf("tracking: unknown status filter (want Queued, Processing, Imported, PartiallyImported or Failed)")

// knownFilter reports whether status is empty or a record status /summary
// filters by, in any case.
func knownFilter(status string) bool {
	return status == "" || store.OperationsSummaryFilter(strings.ToLower(status))
}

// Summary calls fn for every record of the delivery in delivery order,
// optionally only those with the given record status, streaming from the
// database so that a delivery of any size takes constant memory.
func (s *views) Summary(ctx context.Context, d *tracking.Delivery, status string, fn func(SummaryRow) error) error {
	if !knownFilter(status) {
		return ErrBadFilter
	}
	err := store.OperationsSummary(ctx, s.ts.Pool(), d.ReceiptID, d.AcceptedAt, strings.ToLower(status), func(r store.OperationSummary) error {
		rs := tracking.RecordStatusOf(tracking.State(r.State), tracking.Stage(r.Stage))
		return fn(SummaryRow{ProductID: r.ResourceKey, Status: rs.Name, StatusCode: rs.Code, TrackingID: hexID(uuid.UUID(r.LastID)),
			TrackingCode: r.LastCode, Description: r.LastMessage})
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
func (s *views) History(ctx context.Context, d *tracking.Delivery, productID, after string, limit int) (events []EventBody, next string, err error) {
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
	rows, err := store.EventsHistory(ctx, s.ts.Pool(), d.ReceiptID, d.AcceptedAt, productID, fromTS, [16]byte(fromID), limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("tracking: history of %s/%s: %w", d.ReceiptID, productID, err)
	}
	var last cursor
	for _, r := range rows {
		if len(events) == limit {
			next = last.encode()
			break
		}
		tid := uuid.UUID(r.TrackingID)
		last = cursor{Kind: cursorHistory, Receipt: d.ReceiptID, Accepted: r.Timestamp.UnixMicro(), ID: tid.String()}
		events = append(events, EventBody{Timestamp: r.Timestamp.UTC(), TrackingID: hexID(tid), TrackingCode: r.Code,
			ReceiptID: r.ReceiptID, MerchantID: r.MerchantID, ProductID: r.ProductID, ChannelID: r.ChannelID,
			Message: r.Message, DebugInformation: r.Debug})
	}
	return events, next, nil
}

// hexID renders a tracking id as 32 lowercase hex digits, as CDON does.
func hexID(id uuid.UUID) string {
	return strings.ReplaceAll(id.String(), "-", "")
}
