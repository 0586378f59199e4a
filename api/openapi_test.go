package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

func init() {
	// The validator decodes the bodies it knows; a delivery's body is text
	// of its format, or gzip, which the schema takes as a string.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
}

// loadOpenAPI fetches the document from the server, without a token, and
// checks it is a valid OpenAPI 3.1 document.
func loadOpenAPI(t *testing.T, srv http.Handler) *openapi3.T {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	require.NoError(t, err)
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.NoError(t, doc.Validate(context.Background()))
	return doc
}

// TestOpenAPIRoutes: the document describes every route the server
// registers, and nothing else.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	srv := api.NewServer(nil, api.ServerConfig{Tokens: api.NewTokens(map[string]string{tokenA: "ma"}),
		Ready: func(context.Context) error { return nil }}, nil)
	doc := loadOpenAPI(t, srv)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	srv.HandleUI("/ui/", http.NotFoundHandler())
	var routes []string
	for _, r := range srv.Routes() {
		// The web console's pages are HTML for people, not API routes:
		// the document leaves them out (docs/console.md).
		if !strings.HasPrefix(r, "/ui/") {
			routes = append(routes, r)
		}
	}
	require.NotEmpty(t, routes)
	require.ElementsMatch(t, routes, documented)
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		op := doc.Paths.Find(path).GetOperation(method)
		// Path parameters are the pattern's wildcards, and each says what
		// is in it.
		var want, got []string
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				want = append(want, strings.Trim(seg, "{}"))
			}
		}
		for _, p := range op.Parameters {
			if p.Value.In == openapi3.ParameterInPath {
				got = append(got, p.Value.Name)
			}
			require.NotEmpty(t, p.Value.Description, "%s: parameter %s", r, p.Value.Name)
		}
		require.ElementsMatch(t, want, got, r)
		require.NotEmpty(t, op.OperationID, r)
		require.NotEmpty(t, op.Summary, r)
		// Only the operational endpoints go without a token.
		public := slices.Contains([]string{"/healthz", "/readyz", "/metrics", "/openapi.json"}, path)
		require.Equal(t, public, op.Security != nil && len(*op.Security) == 0, r)
	}
}

// exchange is one request and the server's answer, to be validated.
type exchange struct {
	req  *http.Request
	code int
	hdr  http.Header
	body []byte
}

// TestOpenAPIResponses: the answers of every endpoint, successes and
// errors, match the document: status codes, headers, content types and
// bodies (additional properties are refused, so a member the document
// does not name fails too).
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	tokens := api.NewTokens(map[string]string{tokenA: "ma", tokenB: "mb", tokenOperator: tracking.Operator})
	srv := api.NewServer(f.store, api.ServerConfig{Tokens: tokens, JS: js}, nil)
	doc := loadOpenAPI(t, srv)
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)

	mixedDelivery(f)
	f.deliver("oa-failed-1", "ma", nil, tracking.IngestFailed, tracking.IngestionError{Code: "UNREADABLE_GZIP", Description: "not gzip"})
	f.deliver("oa-queued-1", "ma", []string{"p1", "bad-2"}, tracking.IngestDone)
	f.deliver("oa-receiving", "ma", nil, "")
	f.deliver("oa-empty-1", "ma", nil, tracking.IngestDone)
	f.deliver("oa-shared-1", "ma", []string{"p1"}, tracking.IngestDone)
	f.deliver("oa-shared-1", "mb", []string{"p1"}, tracking.IngestDone)
	f.deliver("oa-rejected-1", "ma", []string{"p1"}, tracking.IngestDone)
	f.move("oa-rejected-1", 0, tracking.StateRejected, tracking.StageResolved, tracking.CodeRejected,
		[]catalog.Error{{Type: catalog.SystemError, Code: "TARGET_FAILURE", Description: "boom"}}, nil, nil)
	// A retry sends the record again: keep one.
	f.exec(`UPDATE operations SET record = '{"key":"p"}' WHERE receipt_id IN ('job-mixed-1', 'oa-rejected-1') AND state = 'rejected'`)
	// A delivery with a callback, tried and failed once.
	f.deliver("oa-callback-1", "ma", nil, tracking.IngestDone)
	f.exec(`UPDATE deliveries SET callback_url = 'http://hooks.example.com/done?token=x' WHERE receipt_id = 'oa-callback-1'`)
	f.exec(`INSERT INTO callbacks (merchant_id, receipt_id, delivery_at, event, url, body, created_at, next_at, attempts, last_attempt_at, last_status, last_error)
		SELECT merchant_id, receipt_id, accepted_at, 'completed', callback_url, '{}', now(), now() + interval '1 minute', 1, now(), 503, 'hooks.example.com answered 503'
		FROM deliveries WHERE receipt_id = 'oa-callback-1'`)
	// A delivery with metadata, and one whose body is still in IMPORT_DELIVERIES.
	f.deliver("oa-meta-1", "ma", nil, tracking.IngestDone)
	f.exec(`UPDATE deliveries SET metadata = '{"batch": "b7", "erp": "sap"}' WHERE receipt_id = 'oa-meta-1'`)
	pub, err := bus.PublishDelivery(context.Background(), js, bus.Delivery{Merchant: "ma", Receipt: "oa-inputs-1", Gzip: true}, strings.NewReader("\x1f\x8b not really gzip"))
	require.NoError(t, err)
	f.deliver("oa-inputs-1", "ma", nil, tracking.IngestDone)
	f.exec(`UPDATE deliveries SET source = $1, content_encoding = 'gzip' WHERE receipt_id = 'oa-inputs-1'`, fmt.Sprintf("%s:%d", bus.StreamDeliveries, pub.Sequence))
	// A delivery being read, its body's size known, with an ETA.
	f.deliver("oa-reading-1", "ma", []string{"r0", "r1"}, "")
	f.move("oa-reading-1", 0, tracking.StateImported, tracking.StageResolved, tracking.CodeImported, nil, nil, nil)
	f.exec(`UPDATE deliveries SET body_size = 4000, body_read = 1000 WHERE receipt_id = 'oa-reading-1'`)
	rejected := tracking.OperationID("ma", "job-mixed-1", 2).String()
	imported := tracking.OperationID("ma", "job-mixed-1", 0).String()

	do := func(method, path, token string, hdr map[string]string, body string) exchange {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return exchange{req: httptest.NewRequest(method, path, nil), code: rec.Code, hdr: rec.Result().Header, body: rec.Body.Bytes()}
	}
	// Each: what to ask, and the status it must get, so that every
	// documented answer is seen once at least.
	cases := []struct {
		method, path, token string
		hdr                 map[string]string
		body                string
		code                int
	}{
		{"GET", "/import/job-mixed-1/status", tokenA, nil, "", 200},
		{"GET", "/import/oa-failed-1/status", tokenA, nil, "", 500},
		{"GET", "/import/job-mixed-1/status", "", nil, "", 401},
		{"GET", "/import/nope-0001/status", tokenA, nil, "", 404},
		{"GET", "/import/oa-shared-1/status", tokenOperator, nil, "", 409},
		{"GET", "/import/job-mixed-1/summary", tokenA, nil, "", 200},
		{"GET", "/import/job-mixed-1/summary?status=Failed", tokenA, nil, "", 200},
		{"GET", "/import/job-mixed-1/summary?status=nope", tokenA, nil, "", 400},
		{"GET", "/import/oa-receiving/summary", tokenA, nil, "", 404},
		{"GET", "/import/job-mixed-1/p0", tokenA, nil, "", 200},
		{"GET", "/import/job-mixed-1/p0?limit=1", tokenA, nil, "", 200},
		{"GET", "/import/job-mixed-1/p0?limit=0", tokenA, nil, "", 400},
		{"GET", "/import/job-mixed-1/nope", tokenA, nil, "", 404},
		{"GET", "/v1/imports", tokenA, nil, "", 200},
		{"GET", "/v1/imports?limit=2&status=completed&createdFrom=2020-01-01T00:00:00Z", tokenOperator, nil, "", 200},
		{"GET", "/v1/imports?merchantId=mb", tokenOperator, nil, "", 200},
		{"GET", "/v1/imports?createdTo=yesterday", tokenA, nil, "", 400},
		{"GET", "/v1/imports", "", nil, "", 401},
		{"GET", "/v1/imports/job-mixed-1", tokenA, nil, "", 200},
		{"GET", "/v1/imports/job-mixed-1?includeDetails=true&offset=1&limit=10", tokenA, nil, "", 200},
		{"GET", "/v1/imports/job-mixed-1?includeDetails=true&limit=1001", tokenA, nil, "", 400},
		{"GET", "/v1/imports/oa-callback-1", tokenA, nil, "", 200},
		{"GET", "/v1/imports/oa-reading-1", tokenA, nil, "", 200},
		{"GET", "/v1/imports/oa-failed-1", tokenA, nil, "", 200},
		{"GET", "/v1/imports/nope-0001", tokenA, nil, "", 404},
		{"GET", "/v1/imports/oa-shared-1", tokenOperator, nil, "", 409},
		{"GET", "/v1/imports/job-mixed-1/operations", tokenA, nil, "", 200},
		{"GET", "/v1/imports/job-mixed-1/operations?limit=2&state=validationFailed", tokenA, nil, "", 200},
		{"GET", "/v1/imports/job-mixed-1/operations?state=nope", tokenA, nil, "", 400},
		{"GET", "/v1/imports/job-mixed-1/errors.csv", tokenA, nil, "", 200},
		{"GET", "/v1/imports/nope-0001/errors.csv", tokenA, nil, "", 404},
		{"GET", "/v1/imports?metadata[batch]=b7&metadata[ERP]=sap", tokenA, nil, "", 200},
		{"GET", "/v1/imports?metadata[a.b]=x", tokenA, nil, "", 400},
		{"GET", "/v1/imports/oa-meta-1", tokenA, nil, "", 200},
		{"GET", "/import/oa-meta-1/status", tokenA, nil, "", 200},
		{"GET", "/v1/imports/oa-inputs-1/inputs", tokenA, nil, "", 200},
		{"GET", "/v1/imports/oa-empty-1/inputs", tokenA, nil, "", 410},
		{"GET", "/v1/imports/oa-inputs-1/inputs", tokenB, nil, "", 404},
		{"GET", "/v1/imports/oa-shared-1/inputs", tokenOperator, nil, "", 409},
		{"GET", "/v1/imports/job-mixed-1/warnings.csv", tokenA, nil, "", 200},
		{"GET", "/v1/imports/nope-0001/warnings.csv", tokenA, nil, "", 404},
		{"GET", "/v1/operations/" + imported, tokenA, nil, "", 200},
		{"GET", "/v1/operations/not-a-uuid", tokenA, nil, "", 404},
		{"GET", "/v1/summary", tokenOperator, nil, "", 200},
		{"GET", "/v1/summary?status=nope", tokenOperator, nil, "", 400},
		{"POST", "/v1/imports", tokenA, map[string]string{bus.HeaderMsgID: "oa-posted-1"}, `{"key":"k1"}`, 202},
		{"POST", "/v1/imports", tokenA, map[string]string{bus.HeaderMsgID: "oa-posted-1"}, `{"key":"k1"}`, 202},
		{"POST", "/v1/imports", tokenA, map[string]string{bus.HeaderFormat: "xml"}, "x", 400},
		{"POST", "/v1/imports?callbackUrl=https://hooks.example.com/done", tokenA, nil, "x", 400}, // callbacks are off
		{"POST", "/v1/imports?merchantId=mb", tokenA, nil, "x", 403},
		{"POST", "/v1/imports?metadata[batch]=b8", tokenA, map[string]string{bus.HeaderMsgID: "oa-posted-2", "Import-Metadata-Erp": "sap"}, `{"key":"k1"}`, 202},
		{"POST", "/v1/imports?metadata[batch]=b8", tokenA, map[string]string{"Import-Metadata-Batch": "b9"}, "x", 400},
		{"POST", "/v1/operations/" + imported + "/retry", tokenA, nil, "", 409},
		{"POST", "/v1/operations/" + rejected + "/retry", tokenA, nil, "", 200},
		{"POST", "/v1/imports/job-mixed-1/retry", tokenA, nil, "", 409},
		{"POST", "/v1/imports/oa-rejected-1/retry", tokenA, nil, "", 200},
		{"POST", "/v1/imports/job-mixed-1/cancel", tokenA, nil, "", 200},
		{"POST", "/v1/imports/oa-empty-1/cancel", tokenA, nil, "", 409},
		{"GET", "/healthz", "", nil, "", 200},
		{"GET", "/readyz", "", nil, "", 200},
		{"GET", "/metrics", "", nil, "", 200},
		{"GET", "/openapi.json", "", nil, "", 200},
	}
	seen := map[string]bool{}
	for _, tt := range cases {
		x := do(tt.method, tt.path, tt.token, tt.hdr, tt.body)
		name := tt.method + " " + tt.path
		require.Equal(t, tt.code, x.code, "%s: %s", name, x.body)
		route, pathParams, err := router.FindRoute(x.req)
		require.NoError(t, err, name)
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: x.req, PathParams: pathParams, Route: route},
			Status:                 x.code,
			Header:                 x.hdr,
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		in.SetBodyBytes(x.body)
		require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in), "%s: %d %s", name, x.code, x.body)
		if strings.HasPrefix(tt.path, "/v1/") && x.code >= 400 {
			require.Equal(t, "application/problem+json", x.hdr.Get("Content-Type"), name)
		}
		seen[route.Method+" "+route.Path] = true
	}
	for _, r := range srv.Routes() {
		require.True(t, seen[r], "no response of %s was checked", r)
	}

	// The mux's own answers for /v1 are problems too.
	problem := doc.Components.Schemas["Problem"].Value
	for _, tt := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v1/nothing", 404, ""},
		{"GET", "/v1", 404, ""},
		{"GET", "/v1/imports/job-mixed-1/cancel", 405, "POST"},
		{"DELETE", "/v1/imports", 405, "GET, HEAD, POST"},
	} {
		x := do(tt.method, tt.path, tokenA, nil, "")
		require.Equal(t, tt.code, x.code, "%s %s: %s", tt.method, tt.path, x.body)
		require.Equal(t, "application/problem+json", x.hdr.Get("Content-Type"))
		require.Equal(t, tt.allow, x.hdr.Get("Allow"))
		var v any
		require.NoError(t, json.Unmarshal(x.body, &v))
		require.NoError(t, problem.VisitJSON(v), "%s", x.body)
	}
}

// TestOpenAPIServedAsIs: GET /openapi.json needs no token, and is the same
// document every time.
func TestOpenAPIServedAsIs(t *testing.T) {
	t.Parallel()
	srv := api.NewServer(nil, api.ServerConfig{Tokens: api.NewTokens(map[string]string{tokenA: "ma"})}, nil)
	get := func() []byte {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		b, err := io.ReadAll(rec.Body)
		require.NoError(t, err)
		return b
	}
	first := get()
	require.True(t, json.Valid(first))
	require.True(t, bytes.Equal(first, get()))
}
