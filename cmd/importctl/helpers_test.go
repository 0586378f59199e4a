package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

// result is what one in-process run of importctl produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs importctl with args in-process, with an empty environment
// (plus env) and stdin, polling every 10ms.
func runCLI(t *testing.T, stdin io.Reader, env map[string]string, args ...string) result {
	t.Helper()
	return runCLIContext(context.Background(), t, stdin, env, args...)
}

func runCLIContext(ctx context.Context, t *testing.T, stdin io.Reader, env map[string]string, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	c := &cli{
		stdin:        stdin,
		stdout:       &stdout,
		stderr:       &stderr,
		getenv:       func(k string) string { return env[k] },
		pollInterval: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	code := c.run(ctx, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// canned is one canned answer of the fake query service.
type canned struct {
	code int
	body any // marshaled to JSON
	// text, when not empty, is the body as is, of contentType (default
	// application/json): the shapes exactly as the spec writes them.
	text        string
	contentType string
	// block makes the answer wait until the client gives up.
	block bool
	// header is set on the answer.
	header map[string]string
}

// fakeAPI is a query service answering GET /import/{receipt}/status with
// a sequence of canned answers, the last one repeated forever, and other
// requests from routes ("METHOD /path?query", the query as url.Values
// encodes it) or with a 404.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	answers  []canned
	routes   map[string]canned
	token    string // when not empty, any other bearer token is a 401
	requests int    // of the status
	paths    []string
	auth     []string
}

func newFakeAPI(t *testing.T, answers ...canned) *fakeAPI {
	t.Helper()
	return newRoutesAPI(t, "", nil, answers...)
}

// newRoutesAPI returns a fake query service that wants the bearer token
// (unless it is empty) and answers from routes, then from answers.
func newRoutesAPI(t *testing.T, token string, routes map[string]canned, answers ...canned) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answers: answers, routes: routes, token: token}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	f.mu.Lock()
	f.paths = append(f.paths, key)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	a, routed := f.routes[key]
	switch {
	case f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token:
		a = canned{code: http.StatusUnauthorized, body: map[string]string{"error": "a valid bearer token is required"}}
	case routed:
	case r.Method == http.MethodGet && strings.HasPrefix(key, "GET /import/") && strings.HasSuffix(r.URL.EscapedPath(), "/status") && len(f.answers) > 0:
		a = f.answers[min(f.requests, len(f.answers)-1)]
		f.requests++
	default:
		a = canned{code: http.StatusNotFound, body: map[string]string{"error": "no route " + key}}
	}
	f.mu.Unlock()
	if a.block {
		<-r.Context().Done()
		return
	}
	if a.contentType == "" {
		a.contentType = "application/json"
	}
	w.Header().Set("Content-Type", a.contentType)
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.code)
	if a.text != "" {
		_, _ = io.WriteString(w, a.text)
		return
	}
	_ = json.NewEncoder(w).Encode(a.body)
}

// requestPaths returns the requests served so far, as "METHOD /path?query".
func (f *fakeAPI) requestPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

// requestCount returns how many status requests were answered.
func (f *fakeAPI) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// statusBody returns a status body in st with the given counts.
func statusBody(st tracking.DeliveryStatus, successful, pending, failed int64) tracking.StatusBody {
	fk := "upstream-7"
	b := tracking.StatusBody{
		Status:     st.Name,
		StatusCode: st.Code,
		Delivery: tracking.DeliveryInfo{
			AcceptedUtc:     time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
			Data:            "Product",
			ContractVersion: "1.0",
			MerchantID:      "m1",
			ForeignKey:      &fk,
		},
		Products: tracking.ProductCounts{Successful: successful, Pending: pending, Failed: failed},
	}
	if finished(st.Code) {
		done := time.Date(2025, 3, 1, 12, 5, 0, 0, time.UTC)
		b.CompletedUtc = &done
	}
	return b
}

func ok(b tracking.StatusBody) canned { return canned{code: http.StatusOK, body: b} }

func notFound() canned {
	return canned{code: http.StatusNotFound, body: map[string]string{"error": "no delivery"}}
}

func requireNoErr(t *testing.T, r result) {
	t.Helper()
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
}
