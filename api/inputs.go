package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// inputsTypes are the media types of the delivery formats.
var inputsTypes = map[string]string{
	"ndjson": "application/x-ndjson",
	"json":   "application/json",
	"csv":    "text/csv",
}

// v1Inputs serves GET /v1/imports/{receiptId}/inputs: the delivery's body
// as it was received, bytes unchanged (a gzipped body stays gzipped, with
// Content-Encoding: gzip), from the object store when the delivery named an
// object, else from its message in IMPORT_DELIVERIES; once the delivery has
// settled, from IMPORT_INPUTS, where ingest keeps it for the retention. A
// body not kept answers 410, saying why.
func (s *Server) v1Inputs(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	s.writeInputs(w, r, d)
}

// writeInputs answers the body of d (v1Inputs).
func (s *Server) writeInputs(w http.ResponseWriter, r *http.Request, d *tracking.Delivery) {
	if s.bodies == nil {
		writeError(w, r, http.StatusServiceUnavailable, "this query service cannot read delivery bodies (no NATS connection)")
		return
	}
	body, size, err := s.inputsOf(r.Context(), d)
	if errors.Is(err, bus.ErrBodyGone) {
		writeError(w, r, http.StatusGone, "the body of delivery "+d.ReceiptID+" is not kept: "+inputsGoneWhy(d))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer body.Close()
	h := w.Header()
	ext := d.Format
	if t, ok := inputsTypes[d.Format]; ok {
		h.Set("Content-Type", t)
	} else {
		// A delivery that failed for its format: the bytes all the same.
		h.Set("Content-Type", "application/octet-stream")
		ext = "bin"
	}
	if strings.EqualFold(d.ContentEncoding, "gzip") {
		// As received: the client decompresses, or keeps the bytes.
		h.Set("Content-Encoding", "gzip")
		ext += ".gz"
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", `attachment; filename="`+d.ReceiptID+"."+ext+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	n, err := io.Copy(w, body)
	if err != nil && r.Context().Err() == nil {
		s.logger.Error("inputs cut short", zap.String("receipt", d.ReceiptID), zap.Int64("written", n), zap.Error(err))
	}
}

// inputsOf opens the body of d and returns it with its size in bytes, or
// bus.ErrBodyGone. A body removed since d was read is looked for where d,
// read again, says it is now; d is updated, for inputsGoneWhy.
func (s *Server) inputsOf(ctx context.Context, d *tracking.Delivery) (io.ReadCloser, int64, error) {
	if !d.MessageRemoved {
		body, size, err := s.bodies.Open(ctx, bus.Body{Merchant: d.MerchantID, Receipt: d.ReceiptID, Source: d.Source, Object: d.ObjectName})
		if !errors.Is(err, bus.ErrBodyGone) {
			return body, size, err
		}
		again, err := s.store.DeliveryFind(ctx, d.MerchantID, d.ReceiptID)
		if err != nil {
			return nil, 0, err
		}
		*d = again
	}
	// Only a body recorded as kept is this delivery's: an object under its
	// name may be that of an earlier delivery with the same receipt, past
	// its retention.
	if d.InputsState != tracking.InputsKept {
		return nil, 0, bus.ErrBodyGone
	}
	return s.bodies.OpenKept(ctx, d.MerchantID, d.ReceiptID)
}

// inputsGoneWhy says why the body of d is not kept.
func inputsGoneWhy(d *tracking.Delivery) string {
	switch d.InputsState {
	case tracking.InputsOverQuota:
		return "its merchant's share of the kept bodies was used when it settled (IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT)"
	case tracking.InputsFull:
		return "the kept bodies filled their bucket when it settled (IMPORTD_INPUTS_MAX_BYTES)"
	case tracking.InputsOff:
		return "this importd keeps no bodies of settled deliveries (IMPORTD_INPUTS_MAX_BYTES=0)"
	case tracking.InputsFailed:
		return "writing it to the kept bodies failed when it settled (see ingest's log)"
	case tracking.InputsGone:
		return "its message or object was gone before it settled (past the retention, or removed by hand)"
	}
	return "its message or object is gone (past the retention, or removed by hand)"
}

// The job's inputs: where its body is, or why it is not kept.
const (
	InputsHeld      = "held"      // in its message or object, the delivery in flight
	InputsKept      = "kept"      // in IMPORT_INPUTS
	InputsOverQuota = "overQuota" // not kept: the merchant's share was used
	InputsFull      = "full"      // not kept: IMPORT_INPUTS was full
	InputsOff       = "off"       // not kept: keeping is off
	InputsFailed    = "failed"    // not kept: writing it failed
	InputsGone      = "gone"      // not kept: gone before it settled
)

// inputsOfJob is the job's inputs for d.
func inputsOfJob(d *tracking.Delivery) string {
	if !d.MessageRemoved {
		return InputsHeld
	}
	switch d.InputsState {
	case tracking.InputsKept:
		return InputsKept
	case tracking.InputsOverQuota:
		return InputsOverQuota
	case tracking.InputsFull:
		return InputsFull
	case tracking.InputsOff:
		return InputsOff
	case tracking.InputsFailed:
		return InputsFailed
	}
	return InputsGone
}
