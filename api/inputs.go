package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// errInputsGone means a delivery's body is no longer in JetStream: its
// message and object are removed once the delivery settles (ingest's
// removeSettled), or the stream's limits dropped them.
var errInputsGone = errors.New("api: inputs gone")

// inputsTypes are the media types of the delivery formats.
var inputsTypes = map[string]string{
	"ndjson": "application/x-ndjson",
	"json":   "application/json",
	"csv":    "text/csv",
}

// v1Inputs serves GET /v1/imports/{receiptId}/inputs: the delivery's body
// as it was received, bytes unchanged (a gzipped body stays gzipped, with
// Content-Encoding: gzip), from the object store when the delivery named an
// object, else from its message in IMPORT_DELIVERIES. Once those are gone
// it answers 410.
func (s *Server) v1Inputs(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	if s.cfg.JS == nil {
		writeError(w, r, http.StatusServiceUnavailable, "this query service cannot read delivery bodies (no NATS connection)")
		return
	}
	body, size, err := s.inputsOf(r.Context(), d)
	if errors.Is(err, errInputsGone) {
		writeError(w, r, http.StatusGone, "the body of delivery "+d.ReceiptID+
			" is no longer kept: importd removes a delivery's message and object once the delivery has settled (completed, or its operations all ended or parked)")
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
// errInputsGone.
func (s *Server) inputsOf(ctx context.Context, d *tracking.Delivery) (io.ReadCloser, int64, error) {
	if d.ObjectName != "" {
		obs, err := s.cfg.JS.ObjectStore(ctx, bus.BucketPayloads)
		if err != nil {
			if bus.IsObjectNotFound(err) {
				return nil, 0, errInputsGone
			}
			return nil, 0, fmt.Errorf("api: object store %s: %w", bus.BucketPayloads, err)
		}
		obj, err := obs.Get(ctx, d.ObjectName)
		if bus.IsObjectNotFound(err) {
			return nil, 0, errInputsGone
		}
		if err != nil {
			return nil, 0, fmt.Errorf("api: object %s: %w", d.ObjectName, err)
		}
		info, err := obj.Info()
		if err != nil {
			obj.Close()
			return nil, 0, fmt.Errorf("api: object %s: %w", d.ObjectName, err)
		}
		return obj, int64(info.Size), nil
	}
	stream, seqText, ok := strings.Cut(d.Source, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || stream != bus.StreamDeliveries {
		return nil, 0, errInputsGone
	}
	st, err := s.cfg.JS.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, errInputsGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("api: stream %s: %w", stream, err)
	}
	msg, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, errInputsGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("api: message %s: %w", d.Source, err)
	}
	// The sequence names this delivery's message; anything else there
	// would be another delivery's body.
	if msg.Subject != bus.DeliverySubject(d.MerchantID) {
		return nil, 0, errInputsGone
	}
	if r := bus.ReceiptOf(msg.Header.Get(bus.HeaderMsgID), d.MerchantID); bus.ValidReceipt(r) && r != d.ReceiptID {
		return nil, 0, errInputsGone
	}
	return io.NopCloser(bytes.NewReader(msg.Data)), int64(len(msg.Data)), nil
}
