package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

var httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "importd_http_request_duration_seconds",
	Help:    "Query service request latency by route and status code.",
	Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
}, []string{"route", "code"})

// ServerConfig configures the query service.
type ServerConfig struct {
	// Ready reports whether the service's dependencies answer; /readyz
	// returns 503 otherwise, and the error is logged, not sent. Defaults to
	// pinging PostgreSQL.
	Ready func(ctx context.Context) error
	// Gatherer serves /metrics. Defaults to the Prometheus default registry.
	Gatherer prometheus.Gatherer
	// Tokens are the API tokens. Nil means no authentication (dev mode only).
	Tokens *Tokens
	// JS publishes deliveries submitted over HTTP and delivery events.
	// Without it POST /v1/imports answers 503.
	JS jetstream.JetStream
	// CallbackHosts are the hosts a delivery's callback URL may name
	// (IMPORTD_CALLBACK_HOSTS); POST /v1/imports refuses others with 400.
	// The zero value allows none.
	CallbackHosts callback.Hosts
	// MaxSubmitBytes is the largest body POST /v1/imports takes. Defaults
	// to DefaultMaxSubmitBytes.
	MaxSubmitBytes int64
	// IOIdle is how long a client may leave a response unread or a request
	// body unsent before the connection is cut: a summary or an error
	// export streams from a database connection, which a client that stops
	// reading would hold for ever. Defaults to 30s.
	IOIdle time.Duration
	// MaxStreams bounds the streamed responses (summary, errors.csv) served
	// at once; more get 429 with Retry-After. Defaults to DefaultMaxStreams.
	MaxStreams int
	// MaxStreamsPerToken bounds those of one token (of every request in dev
	// mode without tokens). Defaults to DefaultMaxStreamsPerToken.
	MaxStreamsPerToken int
}

// Server is the query service: the CDON endpoints (/import/...) and the /v1
// API of docs/contract.md ("HTTP"), /healthz, /readyz, /metrics and
// /openapi.json, the OpenAPI document of them all (docs/api.md).
type Server struct {
	store   *tracking.Store
	views   *views
	logger  *zap.Logger
	cfg     ServerConfig
	mux     *http.ServeMux
	streams *streamLimiter
	bodies  *bus.Bodies // nil without JS
	// patterns are those of every route on mux (see route).
	patterns []string
}

// NewServer returns the query service's handler.
func NewServer(store *tracking.Store, cfg ServerConfig, logger *zap.Logger) *Server {
	if logger == nil {
		logger = zap.NewNop()
	}
	if cfg.Ready == nil {
		cfg.Ready = func(ctx context.Context) error { return store.Ping(ctx) }
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.MaxSubmitBytes == 0 {
		cfg.MaxSubmitBytes = DefaultMaxSubmitBytes
	}
	if cfg.IOIdle == 0 {
		cfg.IOIdle = 30 * time.Second
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxStreamsPerToken == 0 {
		cfg.MaxStreamsPerToken = DefaultMaxStreamsPerToken
	}
	s := &Server{store: store, views: &views{ts: store}, logger: logger.Named("query"), cfg: cfg, mux: http.NewServeMux(),
		streams: newStreamLimiter(cfg.MaxStreams, cfg.MaxStreamsPerToken)}
	if cfg.JS != nil {
		s.bodies = bus.NewBodies(cfg.JS)
	}
	s.handle("GET /import/{receiptId}/status", s.status)
	s.handle("GET /import/{receiptId}/summary", s.streamed(s.summary))
	s.handle("GET /import/{receiptId}/{productId}", s.history)
	s.routesV1()
	s.routesActions()
	s.route("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	s.route("GET /readyz", http.HandlerFunc(s.ready))
	s.route("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	s.route("GET /openapi.json", http.HandlerFunc(serveOpenAPI))
	return s
}

// route registers h on the mux and records its pattern: Routes lists them,
// and the tests hold the OpenAPI document to that list.
func (s *Server) route(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

// Routes returns the patterns of every route the service serves
// ("GET /v1/imports/{receiptId}"), in the order they were registered.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// ServeHTTP serves a request with the connection's deadlines kept IOIdle
// ahead of the last write to the client and the last read of the body (see
// idleWriter).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	iw := &idleWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: s.cfg.IOIdle}
	// None until the handler writes (it may work for a while first, a
	// cancel of a million operations), and none left by the connection's
	// previous request.
	_ = iw.rc.SetWriteDeadline(time.Time{})
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &idleBody{ReadCloser: r.Body, w: iw}
	}
	if isV1(r) {
		// The mux answers a path or method it has no route for itself,
		// in plain text; /v1 says so as a problem.
		if h, pattern := s.mux.Handler(r); pattern == "" {
			s.unrouted(iw, r, h)
			iw.moveWrite(time.Now())
			return
		}
	}
	s.mux.ServeHTTP(iw, r)
	iw.moveWrite(time.Now()) // the rest of the response is flushed after the handler returns
}

// Handle registers another handler on the service's mux, behind the same
// authentication as the service's own.
func (s *Server) Handle(pattern string, h http.Handler) { s.route(pattern, s.authenticate(h)) }

// idleWriter moves the connection's write deadline idle ahead as the
// response is written, at most once a second: a write that waits that long
// for a client that stopped reading fails, and the handler lets go of what
// it streams from (a summary or an error export holds a database
// connection, which such a client would otherwise hold for ever).
type idleWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	idle        time.Duration
	wrote, read time.Time // when each deadline was last moved
}

func (w *idleWriter) moveWrite(now time.Time) {
	w.wrote = now
	_ = w.rc.SetWriteDeadline(now.Add(w.idle))
}

func (w *idleWriter) Write(b []byte) (int, error) {
	if now := time.Now(); now.Sub(w.wrote) >= time.Second {
		w.moveWrite(now)
	}
	return w.ResponseWriter.Write(b)
}

func (w *idleWriter) Flush() {
	if now := time.Now(); now.Sub(w.wrote) >= time.Second {
		w.moveWrite(now)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idleBody moves the read deadline idle ahead as the body is read, and
// clears it at the body's end: net/http then reads the connection in the
// background (to see the client go), which must not time out.
type idleBody struct {
	io.ReadCloser
	w *idleWriter
}

func (b *idleBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(b.w.read) >= time.Second {
		b.w.read = now
		_ = b.w.rc.SetReadDeadline(now.Add(b.w.idle))
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		_ = b.w.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.route(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		s.authenticate(cleanInput(h)).ServeHTTP(rec, r)
		httpDuration.WithLabelValues(pattern, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
	}))
}

// delivery loads the delivery named in the path, answering itself when
// there is none or it is ambiguous (see lookup).
func (s *Server) delivery(w http.ResponseWriter, r *http.Request) (*tracking.Delivery, bool) {
	d, _, ok := s.lookup(w, r, func(ctx context.Context, merchant, receipt string) (tracking.Delivery, tracking.Counts, error) {
		d, err := s.store.DeliveryFind(ctx, merchant, receipt)
		return d, tracking.Counts{}, err
	})
	return d, ok
}

// deliveryCounts is delivery with the delivery's counts, read together.
func (s *Server) deliveryCounts(w http.ResponseWriter, r *http.Request) (*tracking.Delivery, tracking.Counts, bool) {
	return s.lookup(w, r, s.store.DeliveryCounts)
}

// lookup reads the delivery of the request's receipt with get, within the
// token's merchant, or for an operator within ?merchantId= when given. It
// answers 404 when there is none (an invalid receipt id, or another
// merchant's delivery, is exactly as unknown), and 409 naming the merchants
// when an operator's receipt names deliveries of several.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, get func(ctx context.Context, merchant, receipt string) (tracking.Delivery, tracking.Counts, error)) (*tracking.Delivery, tracking.Counts, bool) {
	receipt := r.PathValue("receiptId")
	d, c, err := s.findDelivery(r.Context(), scopeOf(r.Context()), r.URL.Query().Get("merchantId"), receipt, get)
	var amb *tracking.AmbiguousError
	if errors.As(err, &amb) {
		more := ""
		if amb.More {
			more = ", …"
		}
		writeProblem(w, r, Problem{Status: http.StatusConflict, Merchants: amb.Merchants,
			Detail: "receipt " + receipt + " names deliveries of several merchants (" + strings.Join(amb.Merchants, ", ") + more +
				"); choose one with ?merchantId="})
		return nil, tracking.Counts{}, false
	}
	if errors.Is(err, tracking.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, "no delivery with receipt "+receipt)
		return nil, tracking.Counts{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, tracking.Counts{}, false
	}
	return d, c, true
}

// findDelivery reads the delivery of receipt with get, within scope (a
// merchant, or Operator for all), for an operator within merchant when
// given. It fails with tracking.ErrNotFound when there is none (an invalid
// receipt id, or another merchant's delivery, is exactly as unknown), and
// with a *tracking.AmbiguousError when an operator's receipt names
// deliveries of several merchants.
func (s *Server) findDelivery(ctx context.Context, scope, merchant, receipt string, get func(ctx context.Context, merchant, receipt string) (tracking.Delivery, tracking.Counts, error)) (*tracking.Delivery, tracking.Counts, error) {
	if scope != tracking.Operator {
		if merchant != "" && merchant != scope {
			receipt = "" // another merchant's receipt: as unknown as any
		}
		merchant = scope
	}
	if !bus.ValidReceipt(receipt) || (merchant != "" && !bus.ValidMerchant(merchant)) {
		return nil, tracking.Counts{}, tracking.ErrNotFound
	}
	d, c, err := get(ctx, merchant, receipt)
	if err == nil && scope != tracking.Operator && scope != d.MerchantID {
		err = tracking.ErrNotFound // another merchant's delivery is exactly as unknown as a missing one
	}
	if err != nil {
		return nil, tracking.Counts{}, err
	}
	return &d, c, nil
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	s.logger.Error("request failed", zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, r, http.StatusInternalServerError, "internal error")
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	d, c, ok := s.deliveryCounts(w, r)
	if !ok {
		return
	}
	body := tracking.StatusOf(d, c, time.Now())
	code := http.StatusOK
	if body.StatusCode == tracking.StatusIngestionFailure.Code {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, body)
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	d, c, ok := s.deliveryCounts(w, r)
	if !ok {
		return
	}
	filter := r.URL.Query().Get("status")
	if !knownFilter(filter) {
		writeError(w, r, http.StatusBadRequest, ErrBadFilter.Error())
		return
	}
	if d.IngestState == tracking.IngestReceiving && c.Total == 0 {
		writeError(w, r, http.StatusNotFound, "no record of delivery "+d.ReceiptID+" received yet")
		return
	}
	st := tracking.StatusOf(d, c, time.Now())
	head := struct {
		IsComplete             bool                  `json:"IsComplete"`
		CompletedUtc           *time.Time            `json:"CompletedUtc"`
		EstimatedCompletionUtc *time.Time            `json:"EstimatedCompletionUtc"`
		Delivery               tracking.DeliveryInfo `json:"Delivery"`
	}{st.CompletedUtc != nil, st.CompletedUtc, st.EstimatedCompletionUtc, st.Delivery}
	// Stream: the head, then one product at a time; a delivery of any size
	// takes constant memory. An error after the first byte can only cut the
	// body short, which the client sees as invalid JSON.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	headJSON, _ := json.Marshal(head)
	bw.Write(headJSON[:len(headJSON)-1])
	bw.WriteString(`,"Products":[`)
	// The head goes out at once: the client sees the delivery's state
	// within milliseconds, whatever the filter has to read.
	if err := bw.Flush(); err != nil {
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	n := 0
	err := s.views.Summary(r.Context(), d, filter, func(row SummaryRow) error {
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		bw.Write(b)
		if n%1000 == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		return nil
	})
	if err != nil {
		if r.Context().Err() == nil {
			s.logger.Error("summary cut short", zap.String("receipt", d.ReceiptID), zap.Int("written", n), zap.Error(err))
		}
		bw.Flush()
		return
	}
	bw.WriteString("]}\n")
	bw.Flush()
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	d, ok := s.delivery(w, r)
	if !ok {
		return
	}
	product := r.PathValue("productId")
	q := r.URL.Query()
	limit := DefaultHistoryLimit
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageLimit {
			writeError(w, r, http.StatusBadRequest, msgBadLimit)
			return
		}
		limit = n
	}
	events, next, err := s.views.History(r.Context(), d, product, q.Get("cursor"), limit)
	if errors.Is(err, ErrBadCursor) {
		writeError(w, r, http.StatusBadRequest, msgBadCursor)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(events) == 0 {
		writeError(w, r, http.StatusNotFound, "no event for "+product+" in delivery "+d.ReceiptID)
		return
	}
	if next != "" {
		// The body keeps its CDON shape, an array; that more events follow
		// is said in the headers.
		u := url.URL{Path: r.URL.Path, RawQuery: url.Values{"cursor": {next}, "limit": {strconv.Itoa(limit)}}.Encode()}
		w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
		w.Header().Set("Importd-Next-Cursor", next)
	}
	writeJSON(w, http.StatusOK, events)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		// What is down stays in the log: /readyz answers anyone.
		s.logger.Warn("not ready", zap.Error(err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// cleanInput refuses paths and query values PostgreSQL cannot hold as
// text (a NUL byte, invalid UTF-8): no receipt, key or filter can contain
// them, so the path is not found and a query value is a bad request.
func cleanInput(next http.HandlerFunc) http.HandlerFunc {
	bad := func(v string) bool { return !utf8.ValidString(v) || strings.ContainsRune(v, 0) }
	return func(w http.ResponseWriter, r *http.Request) {
		if bad(r.URL.Path) {
			writeError(w, r, http.StatusNotFound, "not found")
			return
		}
		for k, vs := range r.URL.Query() {
			for _, v := range vs {
				if bad(k) || bad(v) {
					writeError(w, r, http.StatusBadRequest, "query parameter "+strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", ""), "")+" holds a NUL byte or invalid UTF-8")
					return
				}
			}
		}
		next(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, code, v)
}

// writeBody answers v as JSON with the Content-Type already set.
func writeBody(w http.ResponseWriter, code int, v any) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
