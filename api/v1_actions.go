package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/headers"
	"github.com/importd/importd/tracking"
)

// DefaultMaxSubmitBytes is the largest body POST /v1/imports takes, as sent
// (gzipped bodies count compressed).
const DefaultMaxSubmitBytes = 1 << 30

// routesActions registers the /v1 routes that change something.
func (s *Server) routesActions() {
	s.handle("POST /v1/imports", s.submit)
	s.handle("POST /v1/imports/{receiptId}/cancel", s.cancel)
	s.handle("POST /v1/imports/{receiptId}/retry", s.retryDelivery)
	s.handle("POST /v1/operations/{id}/retry", s.retryOperation)
}

// submit publishes the request's body as a delivery, with the headers a
// delivery message has on NATS, and answers 202 with its receipt.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if s.cfg.JS == nil {
		writeError(w, r, http.StatusServiceUnavailable, "this query service cannot publish deliveries (no NATS connection)")
		return
	}
	merchant := scopeOf(r.Context())
	if merchant == tracking.Operator {
		merchant = r.URL.Query().Get("merchantId")
		if merchant == "" {
			writeError(w, r, http.StatusBadRequest, "an operator must name the merchant: ?merchantId=M")
			return
		}
	} else if m := r.URL.Query().Get("merchantId"); m != "" && m != merchant {
		writeError(w, r, http.StatusForbidden, "this token may only submit deliveries of merchant "+merchant)
		return
	}
	if !bus.ValidMerchant(merchant) {
		writeError(w, r, http.StatusBadRequest, "merchantId must match ^[A-Za-z0-9_-]{1,64}$")
		return
	}
	h := r.Header.Clone()
	if cb := r.URL.Query().Get("callbackUrl"); cb != "" {
		if h.Get(bus.HeaderCallbackURL) != "" && h.Get(bus.HeaderCallbackURL) != cb {
			writeError(w, r, http.StatusBadRequest, "callbackUrl and Import-Callback-Url name different URLs")
			return
		}
		h.Set(bus.HeaderCallbackURL, cb)
	}
	// metadata[key]=value is Import-Metadata-<key>: a client that cannot
	// set headers (an HTML form, curl scripts) attaches metadata too.
	md, err := metadataParams(r.URL.Query())
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	for k, v := range md {
		name := headerNamed(h, bus.HeaderMetadataPrefix+k)
		if name == "" {
			h.Set(bus.HeaderMetadataPrefix+k, v)
		} else if vals := h[name]; len(vals) != 1 || vals[0] != v {
			writeError(w, r, http.StatusBadRequest, "metadata["+k+"] and "+name+" give different values")
			return
		}
	}
	d, err := submitDelivery(merchant, h, s.cfg.CallbackHosts)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	// The merchant's receipt known already: publishing it again would be a
	// no-op, so nothing is published.
	if prior, err := s.store.DeliveryFind(r.Context(), merchant, d.Receipt); err == nil {
		s.logger.Info("delivery submitted over HTTP again; ignored", zap.String("receipt", d.Receipt), zap.String("merchant", merchant))
		w.Header().Set("Location", "/v1/imports/"+prior.ReceiptID)
		writeJSON(w, http.StatusAccepted, map[string]any{"receiptId": prior.ReceiptID, "status": "accepted", "duplicate": true, "bytes": 0})
		return
	} else if !errors.Is(err, tracking.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	limit := s.cfg.MaxSubmitBytes
	if r.ContentLength > limit {
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is %d bytes, over the limit of %d bytes", r.ContentLength, limit))
		return
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	ctx, cancel := context.WithTimeout(r.Context(), time.Hour)
	defer cancel()
	pub, err := bus.PublishDelivery(ctx, s.cfg.JS, d, body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over the limit of %d bytes", limit))
			return
		}
		if bus.IsStreamFull(err) {
			s.logger.Warn("submit refused: a bound is reached", zap.String("receipt", d.Receipt), zap.String("merchant", merchant), zap.Error(err))
			w.Header().Set("Retry-After", "60")
			if strings.Contains(err.Error(), "per subject") {
				writeError(w, r, http.StatusTooManyRequests, "merchant "+merchant+" has as many deliveries waiting for ingest or in flight as it may (IMPORTD_MAX_WAITING_DELIVERIES); retry once some are done")
				return
			}
			writeError(w, r, http.StatusServiceUnavailable, "the pipeline holds as much as it may (a size limit of "+bus.StreamDeliveries+" or "+bus.BucketPayloads+" is reached); retry later")
			return
		}
		s.logger.Error("submit failed", zap.String("receipt", d.Receipt), zap.Error(err))
		writeError(w, r, http.StatusBadGateway, "the delivery could not be published: "+err.Error())
		return
	}
	s.logger.Info("delivery submitted over HTTP", zap.String("receipt", d.Receipt), zap.String("merchant", merchant),
		zap.Int64("bytes", pub.Size), zap.String("object", pub.Object), zap.Bool("duplicate", pub.Duplicate))
	w.Header().Set("Location", "/v1/imports/"+d.Receipt)
	writeJSON(w, http.StatusAccepted, map[string]any{
		"receiptId": d.Receipt, "status": "accepted", "duplicate": pub.Duplicate, "bytes": pub.Size,
	})
}

// submitDelivery checks the headers of a submission with the rules ingest
// applies (headers.Check): a mistake is refused before the body is even
// read, instead of a 202 and then an IngestionFailure.
func submitDelivery(merchant string, h http.Header, callbacks callback.Hosts) (bus.Delivery, error) {
	if h.Get(bus.HeaderObject) != "" {
		return bus.Delivery{}, errors.New("Import-Object is not taken over HTTP: the request's body is the delivery's")
	}
	dh, probs := headers.Check(merchant, nats.Header(h), 0, callbacks)
	if len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = p.Description
		}
		return bus.Delivery{}, errors.New(strings.Join(msgs, "; "))
	}
	d := bus.Delivery{
		Merchant:    merchant,
		Receipt:     dh.Receipt,
		SkipErrors:  dh.SkipErrors,
		Gzip:        dh.Gzip,
		Description: "POST /v1/imports",
		CallbackURL: dh.CallbackURL,
	}
	if h.Get(bus.HeaderData) != "" {
		d.Data = string(dh.Data)
	}
	if h.Get(bus.HeaderFormat) != "" {
		d.Format = dh.Format
	}
	if h.Get(bus.HeaderContractVersion) != "" {
		d.ContractVersion = dh.ContractVersion
	}
	if dh.ForeignKey != nil {
		d.ForeignKey = *dh.ForeignKey
	}
	d.Metadata = dh.Metadata
	if d.Receipt == "" {
		d.Receipt = bus.NewReceipt()
	}
	return d, nil
}

// headerNamed returns the name of h's header equal to name whatever the
// case, "" for none.
func headerNamed(h http.Header, name string) string {
	for k := range h {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

// cancel interrupts a delivery and cancels its pending operations.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	got, err := s.cancelDelivery(r.Context(), d)
	if errors.Is(err, tracking.ErrCompleted) {
		writeError(w, r, http.StatusConflict, "delivery "+d.ReceiptID+" is completed; there is nothing to cancel")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJob(w, r, got)
}

// cancelDelivery interrupts d, cancels its pending operations and announces
// it; tracking.ErrCompleted when d is completed.
func (s *Server) cancelDelivery(ctx context.Context, d *tracking.Delivery) (*tracking.Delivery, error) {
	got, err := s.store.Cancel(ctx, d)
	if err != nil {
		return nil, err
	}
	s.logger.Info("delivery canceled on request", zap.String("receipt", d.ReceiptID))
	if s.cfg.JS != nil {
		if err := s.store.Announce(ctx, s.cfg.JS, got, bus.DeliveryInterrupted); err != nil {
			s.logger.Warn("interrupted event not published", zap.String("receipt", d.ReceiptID), zap.Error(err))
		}
		if got.CompletedAt != nil {
			if err := s.store.Announce(ctx, s.cfg.JS, got, bus.DeliveryCompleted); err != nil {
				s.logger.Warn("completed event not published", zap.String("receipt", d.ReceiptID), zap.Error(err))
			}
		}
	}
	return got, nil
}

// retryDelivery sends a delivery's rejected operations back to processing.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	n, err := s.retryRejected(r.Context(), d)
	var se *tracking.StateError
	if errors.As(err, &se) {
		writeError(w, r, http.StatusConflict, se.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"retried": n})
}

// retryRejected sends d's rejected operations back to processing and
// returns how many; a *tracking.StateError when d may not be retried.
func (s *Server) retryRejected(ctx context.Context, d *tracking.Delivery) (int, error) {
	n, err := s.store.Retry(ctx, d)
	if err == nil {
		s.logger.Info("rejected operations retried on request", zap.String("receipt", d.ReceiptID), zap.Int("operations", n))
	}
	return n, err
}

// retryOperation sends one rejected operation back to processing.
func (s *Server) retryOperation(w http.ResponseWriter, r *http.Request) {
	o, ok := s.operation(w, r)
	if !ok {
		return
	}
	d, err := s.store.DeliveryAt(r.Context(), o.ReceiptID, o.DeliveryAt)
	if err == nil {
		err = s.store.RetryOperation(r.Context(), &d, o.Seq)
	}
	var se *tracking.StateError
	if errors.As(err, &se) {
		writeError(w, r, http.StatusConflict, se.Error())
		return
	}
	if errors.Is(err, tracking.ErrNotFound) {
		// Expired (or dropped) since it was looked up: as unknown as any.
		writeError(w, r, http.StatusNotFound, "no operation with id "+r.PathValue("id"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger.Info("rejected operation retried on request", zap.String("receipt", d.ReceiptID), zap.Stringer("operation", o.ID))
	got, err := s.views.OperationGet(r.Context(), o.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

// writeJob answers with the delivery's job object, in detail.
func (s *Server) writeJob(w http.ResponseWriter, r *http.Request, d *tracking.Delivery) {
	job, err := s.views.Job(r.Context(), d, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}
