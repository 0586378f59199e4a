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
}

// fakeAPI is a query service answering GET /import/{receipt}/status with
// a sequence of canned answers, the last one repeated forever.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	answers  []canned
	requests int
	paths    []string
	auth     []string
}

func newFakeAPI(t *testing.T, answers ...canned) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	i := min(f.requests, len(f.answers)-1)
	f.requests++
	f.paths = append(f.paths, r.Method+" "+r.URL.EscapedPath())
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	a := f.answers[i]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	_ = json.NewEncoder(w).Encode(a.body)
}

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
