package api

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/headers"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// routesV1 registers the read side of the /v1 API (docs/contract.md, "The
// /v1 API"). Every route goes through handle, hence authentication and
// metrics.
func (s *Server) routesV1() {
	s.handle("GET /v1/imports", s.v1Jobs)
	s.handle("GET /v1/imports/{receiptId}", s.v1Job)
	s.handle("GET /v1/imports/{receiptId}/operations", s.v1Operations)
	s.handle("GET /v1/imports/{receiptId}/errors.csv", s.streamed(s.v1ErrorsCSV))
	s.handle("GET /v1/imports/{receiptId}/inputs", s.streamed(s.v1Inputs))
	s.handle("GET /v1/imports/{receiptId}/warnings.csv", s.streamed(s.v1WarningsCSV))
	s.handle("GET /v1/operations/{id}", s.v1Operation)
	s.handle("GET /v1/summary", s.v1Summary)
}

const (
	msgBadLimit    = "limit must be 1..1000"
	msgBadCursor   = "invalid cursor"
	msgBadMerchant = "merchantId must match ^[A-Za-z0-9_-]{1,64}$"
	msgBadStatus   = "unknown status (want pending, in_progress, interrupted or completed)"
	msgBadDetails  = "includeDetails must be true or false"
	msgBadOffset   = "offset must be an integer of at least 0"
	msgBadState    = "unknown state (want processing, unresolved, waitForMasterVariant, imported, partiallyImported, validationFailed, rejected or canceled)"
)

// pageParams reads ?limit= and ?cursor=, answering 400 itself for a bad limit.
func pageParams(w http.ResponseWriter, r *http.Request) (limit int, after string, ok bool) {
	q := r.URL.Query()
	limit = DefaultPageLimit
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageLimit {
			writeError(w, r, http.StatusBadRequest, msgBadLimit)
			return 0, "", false
		}
		limit = n
	}
	return limit, q.Get("cursor"), true
}

// listError answers a list's error: 400 for the caller's mistakes.
func (s *Server) listError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrBadCursor):
		writeError(w, r, http.StatusBadRequest, msgBadCursor)
	case errors.Is(err, tracking.ErrBadJobStatus):
		writeError(w, r, http.StatusBadRequest, msgBadStatus)
	case errors.Is(err, tracking.ErrBadState):
		writeError(w, r, http.StatusBadRequest, msgBadState)
	default:
		s.fail(w, r, err)
	}
}

// v1Jobs serves GET /v1/imports.
func (s *Server) v1Jobs(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := JobFilter{Scope: scopeOf(r.Context()), Merchant: q.Get("merchantId"), Status: q.Get("status"), Reference: q.Get("reference")}
	if f.Status != "" && !tracking.ValidJobStatus(f.Status) {
		writeError(w, r, http.StatusBadRequest, msgBadStatus)
		return
	}
	if f.Merchant != "" && !bus.ValidMerchant(f.Merchant) {
		writeError(w, r, http.StatusBadRequest, msgBadMerchant)
		return
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"createdFrom", &f.CreatedFrom}, {"createdTo", &f.CreatedTo}} {
		if v := q.Get(p.name); v != "" || q.Has(p.name) {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, r, http.StatusBadRequest, p.name+" must be an RFC 3339 time with a zone, such as 2026-12-05T16:00:00Z or 2026-12-05T17:00:00+01:00; got "+strconv.Quote(v))
				return
			}
			*p.to = t
		}
	}
	md, err := metadataParams(q)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	f.Metadata = md
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		writeError(w, r, http.StatusBadRequest, "createdFrom must be before createdTo (createdFrom is inclusive, createdTo exclusive)")
		return
	}
	page, err := s.views.Jobs(r.Context(), f, after, limit)
	if err != nil {
		s.listError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// metadataParams reads the metadata[key]=value parameters of q, keys
// lower-cased as they are stored; nil for none. A malformed name, a key
// given twice, or a pair that no delivery could have (the rules of
// headers.Check) is an error saying so.
func metadataParams(q url.Values) (map[string]string, error) {
	var md map[string]string
	for name, vals := range q {
		if !strings.HasPrefix(name, "metadata") {
			continue
		}
		raw, ok := strings.CutPrefix(name, "metadata[")
		if raw, ok = strings.CutSuffix(raw, "]"); !ok {
			return nil, fmt.Errorf("%s: a metadata filter is written metadata[key]=value", strconv.Quote(name))
		}
		key := strings.ToLower(raw)
		switch {
		case !headers.ValidMetadataKey(raw):
			return nil, fmt.Errorf("metadata key %s does not match ^[A-Za-z0-9_-]{1,64}$", strconv.Quote(headers.Clip(raw)))
		case len(vals) != 1 || hasKey(md, key):
			return nil, fmt.Errorf("metadata key %s is given more than once", strconv.Quote(key))
		case len(vals[0]) > headers.MaxMetadataValue || !utf8.ValidString(vals[0]):
			return nil, fmt.Errorf("metadata %s is not UTF-8 text of at most %d bytes", strconv.Quote(key), headers.MaxMetadataValue)
		}
		if md == nil {
			md = map[string]string{}
		}
		md[key] = vals[0]
	}
	if len(md) > headers.MaxMetadataPairs {
		return nil, fmt.Errorf("%d metadata pairs, over the limit of %d", len(md), headers.MaxMetadataPairs)
	}
	return md, nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// detailParams reads ?includeDetails=, ?offset= and ?limit= of GET
// /v1/imports/{receiptId}, answering 400 itself for a bad value; offset
// and limit count only with includeDetails=true.
func detailParams(w http.ResponseWriter, r *http.Request) (include bool, offset, limit int, ok bool) {
	q := r.URL.Query()
	if v := q.Get("includeDetails"); v != "" || q.Has("includeDetails") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, msgBadDetails)
			return false, 0, 0, false
		}
		include = b
	}
	if !include {
		return false, 0, 0, true
	}
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, msgBadOffset)
			return false, 0, 0, false
		}
		offset = n
	}
	limit, _, ok = pageParams(w, r)
	return include, offset, limit, ok
}

// v1Job serves GET /v1/imports/{receiptId}.
func (s *Server) v1Job(w http.ResponseWriter, r *http.Request) {
	include, offset, limit, ok := detailParams(w, r)
	if !ok {
		return
	}
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	j, err := s.views.Job(r.Context(), d, true)
	if errors.Is(err, tracking.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, "no delivery with receipt "+d.ReceiptID)
		return
	}
	if err == nil && include {
		var items ItemDetails
		items, err = s.views.ItemDetails(r.Context(), d, offset, limit)
		j.ItemDetails = &items
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// v1Operations serves GET /v1/imports/{receiptId}/operations.
func (s *Server) v1Operations(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := OperationFilter{State: tracking.State(q.Get("state")), ResourceType: q.Get("resourceType"), ResourceKey: q.Get("resourceKey")}
	if f.State != "" && !tracking.ValidState(f.State) {
		writeError(w, r, http.StatusBadRequest, msgBadState)
		return
	}
	page, err := s.views.Operations(r.Context(), d, f, after, limit)
	if err != nil {
		s.listError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// operation loads the operation named in the path, answering 404 itself
// when there is none: a malformed id, or another merchant's operation, is
// just as unknown.
func (s *Server) operation(w http.ResponseWriter, r *http.Request) (*OperationView, bool) {
	raw := r.PathValue("id")
	o, err := s.findOperation(r.Context(), scopeOf(r.Context()), raw)
	if errors.Is(err, tracking.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, "no operation with id "+raw)
		return nil, false
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return o, true
}

// findOperation reads the operation with id raw within scope (a merchant,
// or Operator for all); tracking.ErrNotFound when there is none: a
// malformed id, or another merchant's operation, is just as unknown.
func (s *Server) findOperation(ctx context.Context, scope, raw string) (*OperationView, error) {
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, tracking.ErrNotFound
	}
	o, err := s.views.OperationGet(ctx, id)
	if err == nil && scope != tracking.Operator && scope != o.MerchantID {
		err = tracking.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// v1Operation serves GET /v1/operations/{id}.
func (s *Server) v1Operation(w http.ResponseWriter, r *http.Request) {
	o, ok := s.operation(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// v1Summary serves GET /v1/summary.
func (s *Server) v1Summary(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && !tracking.ValidJobStatus(status) {
		writeError(w, r, http.StatusBadRequest, msgBadStatus)
		return
	}
	merchant := scopeOf(r.Context())
	if m := q.Get("merchantId"); merchant == tracking.Operator && m != "" {
		merchant = m // a merchant token is restricted to itself whatever it asks
	}
	sum, err := s.views.Overview(r.Context(), merchant, status)
	if err != nil {
		s.listError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// errorsCSVHeader is the header row of errors.csv and warnings.csv.
var errorsCSVHeader = []string{"operationId", "line", "resourceKey", "resourceType", "state", "type", "code", "field", "description"}

// v1ErrorsCSV serves GET /v1/imports/{receiptId}/errors.csv, streamed: a
// delivery of any size takes constant memory. An error after the first byte
// can only cut the body short.
func (s *Server) v1ErrorsCSV(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	s.writeErrorsCSV(w, r, d)
}

// v1WarningsCSV serves GET /v1/imports/{receiptId}/warnings.csv, streamed
// like errors.csv.
func (s *Server) v1WarningsCSV(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	s.writeIssuesCSV(w, r, d, store.IssueWarnings)
}

// writeErrorsCSV answers errors.csv of d.
func (s *Server) writeErrorsCSV(w http.ResponseWriter, r *http.Request, d *tracking.Delivery) {
	s.writeIssuesCSV(w, r, d, store.IssueErrors)
}

// writeIssuesCSV answers errors.csv or warnings.csv (kind) of d.
func (s *Server) writeIssuesCSV(w http.ResponseWriter, r *http.Request, d *tracking.Delivery, kind store.Issues) {
	name := issueNames[kind]
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+d.ReceiptID+`-`+name+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	cw.Write(errorsCSVHeader)
	n := 0
	rec := make([]string, len(errorsCSVHeader))
	err := s.views.IssueRows(r.Context(), d, kind, func(e ErrorRow) error {
		rec[0], rec[1], rec[2], rec[3], rec[4] = e.OperationID.String(), strconv.Itoa(e.Line), e.ResourceKey, e.ResourceType, string(e.State)
		rec[5], rec[6], rec[7], rec[8] = e.Type, e.Code, e.Field, e.Description
		if err := cw.Write(rec); err != nil {
			return err
		}
		n++
		if n%1000 == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		return nil
	})
	cw.Flush()
	if err != nil && r.Context().Err() == nil {
		s.logger.Error(name+".csv cut short", zap.String("receipt", d.ReceiptID), zap.Int("written", n), zap.Error(err))
	}
}
