package tracking

import (
	"context"
	"fmt"
	"time"
)

// DeliveryInfo is the Delivery object of the tracking endpoints.
type DeliveryInfo struct {
	AcceptedUtc     time.Time `json:"AcceptedUtc"`
	Data            string    `json:"Data"`
	ContractVersion string    `json:"ContractVersion"`
	MerchantID      string    `json:"MerchantId"`
	ForeignKey      *string   `json:"ForeignKey"`
	// Metadata is left out for a delivery without any: the body of such a
	// delivery is the same as before metadata existed.
	Metadata map[string]string `json:"Metadata,omitempty"`
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
		Metadata:        d.Metadata,
	}
}

// Status returns the delivery's status body.
func (s *Store) Status(ctx context.Context, d *Delivery) (StatusBody, error) {
	c, err := s.Counts(ctx, d)
	if err != nil {
		return StatusBody{}, fmt.Errorf("tracking: counts of %s: %w", d.ReceiptID, err)
	}
	return StatusOf(d, c, time.Now()), nil
}

// StatusOf is the /status body of delivery d with counts c at now: the
// query service answers it and the delivery events carry it.
func StatusOf(d *Delivery, c Counts, now time.Time) StatusBody {
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
		b.EstimatedCompletionUtc = Estimate(d.Progress(c), now)
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
