package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

const receipt = "0123456789abcdef0123456789abcdef"

func TestStatus(t *testing.T) {
	t.Parallel()
	failure := statusBody(tracking.StatusIngestionFailure, 0, 0, 0)
	failure.IngestionErrors = []tracking.IngestionError{{Code: "UNREADABLE_GZIP", Description: "not gzip"}}
	tests := []struct {
		desc     string
		answer   canned
		code     int
		contains []string
	}{
		{"completed", ok(statusBody(tracking.StatusCompletedSuccessfully, 10, 0, 0)), exitOK,
			[]string{"Status:", "CompletedSuccessfully (6)", "Merchant:", "m1", "Foreign key:", "upstream-7",
				"10 successful, 0 pending, 0 failed (10 in all)", "Completed:", "2025-03-01T12:05:00Z", "Accepted:", "2025-03-01T12:00:00Z"}},
		{"queued", ok(statusBody(tracking.StatusQueued, 0, 10, 0)), exitOK, []string{"Queued (4)"}},
		{"processing", ok(statusBody(tracking.StatusProcessing, 3, 5, 2)), exitOK, []string{"Processing (5)", "3 successful, 5 pending, 2 failed"}},
		{"receiving", ok(statusBody(tracking.StatusReceiving, 0, 0, 0)), exitOK, []string{"Receiving (2)"}},
		{"no content", ok(statusBody(tracking.StatusNoContent, 0, 0, 0)), exitOK, []string{"NoContent (1)"}},
		{"with errors", ok(statusBody(tracking.StatusCompletedWithErrors, 8, 0, 2)), exitFailed, []string{"CompletedWithErrors (7)"}},
		{"ingestion failure is HTTP 500", canned{code: http.StatusInternalServerError, body: failure}, exitFailed,
			[]string{"IngestionFailure (3)", "Ingestion errors:", "UNREADABLE_GZIP: not gzip"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tt.answer)
			r := runCLI(t, nil, map[string]string{"IMPORTD_API": api.URL, "IMPORTD_TOKEN": "tok-1"}, "status", receipt)
			require.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			for _, s := range tt.contains {
				require.Contains(t, r.stdout, s)
			}
			require.Equal(t, []string{"GET /import/" + receipt + "/status", "GET /v1/imports/" + receipt}, api.paths,
				"the job view is asked for too; without it (404) the status stands alone")
			require.Equal(t, []string{"Bearer tok-1", "Bearer tok-1"}, api.auth)
			require.NotContains(t, r.stdout, "Job status")
		})
	}
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	want := statusBody(tracking.StatusCompletedWithErrors, 8, 0, 2)
	api := newFakeAPI(t, ok(want))
	r := runCLI(t, nil, nil, "status", "--json", receipt, "--api", api.URL+"/")
	require.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
	var got tracking.StatusBody
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Equal(t, want, got)
	require.True(t, strings.HasSuffix(r.stdout, "}\n"))
	require.Empty(t, api.auth[0], "no token, no Authorization header")
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		answer canned
		code   int
		stderr string
	}{
		{"not found", notFound(), exitNotFound, "no delivery with receipt " + receipt},
		{"unauthorized", canned{code: http.StatusUnauthorized, body: map[string]string{"error": "a valid bearer token is required"}}, exitUnauthorized, "unauthorized"},
		{"server error", canned{code: http.StatusInternalServerError, body: map[string]string{"error": "internal error"}}, exitUsage, "HTTP 500: internal error"},
		{"server error as a problem", canned{code: http.StatusInternalServerError, contentType: "application/problem+json",
			text: `{"type": "about:blank", "title": "Internal Server Error", "status": 500, "detail": "the database did not answer", "error": "internal error"}`},
			exitUsage, "HTTP 500: the database did not answer"},
		{"server error, a problem without detail", canned{code: http.StatusServiceUnavailable, contentType: "application/problem+json",
			text: `{"type": "about:blank", "title": "Service Unavailable", "status": 503}`},
			exitUsage, "HTTP 503: Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tt.answer)
			r := runCLI(t, nil, nil, "--api", api.URL, "status", receipt)
			require.Equal(t, tt.code, r.code)
			require.Contains(t, r.stderr, tt.stderr)
			require.Empty(t, r.stdout)
		})
	}

	r := runCLI(t, nil, nil, "--api", unreachableAPI, "status", receipt)
	require.Equal(t, exitUnreachable, r.code)
	require.Contains(t, r.stderr, "query service at "+unreachableAPI+" unreachable")
}

func TestWatchUntilCompletedWithErrors(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t,
		notFound(), // not ingested yet: keep polling
		notFound(),
		ok(statusBody(tracking.StatusReceiving, 0, 0, 0)),
		ok(statusBody(tracking.StatusReceiving, 0, 4, 0)),
		ok(statusBody(tracking.StatusQueued, 0, 10, 0)),
		ok(statusBody(tracking.StatusProcessing, 3, 5, 2)),
		ok(statusBody(tracking.StatusCompletedWithErrors, 7, 0, 3)),
		ok(statusBody(tracking.StatusQueued, 0, 10, 0)), // never asked for
	)
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL)
	require.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
	require.Equal(t, 7, api.requestCount(), "stops at the first final status")
	require.Contains(t, r.stderr, "waiting for ingest")
	require.Contains(t, r.stderr, "Receiving: no record yet")
	require.Contains(t, r.stderr, "Queued")
	require.Contains(t, r.stderr, "CompletedWithErrors")
	require.Equal(t, 1, strings.Count(r.stderr, "10/10"), "the bar ends full, drawn once")
	require.True(t, strings.HasSuffix(r.stderr, "\n"), "and ends its line")
	require.Contains(t, r.stdout, "CompletedWithErrors (7)")
	require.Contains(t, r.stdout, "7 successful, 0 pending, 3 failed")
}

func TestWatchEnds(t *testing.T) {
	t.Parallel()
	failure := statusBody(tracking.StatusIngestionFailure, 0, 0, 0)
	failure.IngestionErrors = []tracking.IngestionError{{Code: "MISSING_OBJECT", Description: "object gone"}}
	tests := []struct {
		desc    string
		answers []canned
		code    int
		stdout  string
	}{
		{"completed successfully", []canned{ok(statusBody(tracking.StatusQueued, 0, 2, 0)), ok(statusBody(tracking.StatusCompletedSuccessfully, 2, 0, 0))}, exitOK, "CompletedSuccessfully (6)"},
		{"no content", []canned{notFound(), ok(statusBody(tracking.StatusNoContent, 0, 0, 0))}, exitOK, "NoContent (1)"},
		{"ingestion failure", []canned{ok(statusBody(tracking.StatusReceiving, 0, 3, 0)), {code: http.StatusInternalServerError, body: failure}}, exitFailed, "MISSING_OBJECT: object gone"},
		{"a 503 is retried", []canned{{code: http.StatusServiceUnavailable, body: map[string]string{"error": "restarting"}}, ok(statusBody(tracking.StatusCompletedSuccessfully, 1, 0, 0))}, exitOK, "CompletedSuccessfully"},
		{"all read records done while receiving", []canned{ok(statusBody(tracking.StatusReceiving, 5, 0, 0)), ok(statusBody(tracking.StatusCompletedSuccessfully, 9, 0, 0))}, exitOK, "9 successful"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tt.answers...)
			r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL)
			require.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stdout, tt.stdout)
		})
	}
}

// TestWatchUnknownReceipt: a receipt still unknown after the grace ends the
// watch as not found; one that becomes known within it is followed, and one
// that disappears after it was seen ends the watch at once.
func TestWatchUnknownReceipt(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, notFound())
	start := time.Now()
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--grace", "150ms")
	require.Equal(t, exitNotFound, r.code, "stderr: %s", r.stderr)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Contains(t, r.stderr, "waiting for ingest to read delivery "+receipt)
	require.Contains(t, r.stderr, "no delivery with receipt "+receipt+", still after 150ms")
	require.Empty(t, r.stdout)
	require.Greater(t, api.requestCount(), 1, "asked again during the grace")

	api = newFakeAPI(t, notFound(), notFound(), ok(statusBody(tracking.StatusCompletedSuccessfully, 2, 0, 0)))
	r = runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--grace", "10s")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "CompletedSuccessfully (6)")

	api = newFakeAPI(t, ok(statusBody(tracking.StatusProcessing, 1, 1, 0)), notFound())
	r = runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--grace", "10s")
	require.Equal(t, exitNotFound, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stderr, "the delivery was known")
	require.Contains(t, r.stdout, "Processing (5)", "the last status seen is reported")
	require.Equal(t, 2, api.requestCount())

	r = runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--grace", "-1s")
	require.Equal(t, exitUsage, r.code)
}

func TestWatchNoBarForADeliveryThatEndedAlready(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, ok(statusBody(tracking.StatusCompletedSuccessfully, 5, 0, 0)))
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL)
	requireNoErr(t, r)
	require.Empty(t, r.stderr, "no bar with a meaningless rate")
	require.Contains(t, r.stdout, "5 successful, 0 pending, 0 failed")
}

func TestWatchUnauthorized(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, canned{code: http.StatusUnauthorized, body: map[string]string{"error": "a valid bearer token is required"}})
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--token", "wrong")
	require.Equal(t, exitUnauthorized, r.code)
	require.Contains(t, r.stderr, "unauthorized")
	require.Equal(t, 1, api.requestCount(), "a 401 is not retried")
}

func TestWatchTimeout(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, ok(statusBody(tracking.StatusQueued, 0, 10, 0)))
	start := time.Now()
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--timeout", "200ms")
	require.Equal(t, exitTimeout, r.code, "stderr: %s", r.stderr)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Contains(t, r.stderr, "timed out")
	require.Contains(t, r.stdout, "Queued (4)", "the last status seen is reported")

	api = newFakeAPI(t, notFound())
	r = runCLI(t, nil, nil, "watch", receipt, "--api", api.URL, "--timeout", "100ms")
	require.Equal(t, exitTimeout, r.code)
	require.Empty(t, r.stdout, "no status seen")
}

func TestWatchInterrupted(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, ok(statusBody(tracking.StatusProcessing, 1, 9, 0)))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for api.requestCount() < 3 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // as Ctrl-C does, through signal.NotifyContext
	}()
	r := runCLIContext(ctx, t, nil, nil, "watch", receipt, "--api", api.URL)
	require.Equal(t, exitInterrupted, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stderr, "interrupted")
	require.Contains(t, r.stdout, "Processing (5)")
}

// unreachableAPI refuses connections: port 1 (tcpmux) has no listener. A
// closed test server's address would do only until a parallel test is handed
// the same port.
const unreachableAPI = "http://127.0.0.1:1"

func TestWatchGivesUpOnUnreachableAPI(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, nil, "watch", receipt, "--api", unreachableAPI)
	require.Equal(t, exitUnreachable, r.code)
	require.Contains(t, r.stderr, "retrying")
	require.Equal(t, 1, strings.Count(r.stderr, "retrying"), "said once per streak")
}

func TestProgressRate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	type poll struct {
		after time.Duration
		done  int64
	}
	tests := []struct {
		desc  string
		polls []poll
		total int64
		ended bool
		want  string
	}{
		{"one poll: no rate yet", []poll{{0, 100}}, 1000, false, "Processing"},
		{"records done before the watch do not count", []poll{{0, 100}, {2 * time.Second, 300}}, 1000, false, "Processing, 100 records/s, ETA 7s"},
		{"slow", []poll{{0, 0}, {2 * time.Second, 3}}, 13, false, "Processing, 1.5 records/s, ETA 7s"},
		{"no progress", []poll{{0, 5}, {time.Second, 5}}, 13, false, "Processing"},
		{"only the last 20s count", []poll{{0, 0}, {30 * time.Second, 10}, {31 * time.Second, 20}}, 1020, false, "Processing, 10 records/s, ETA 1m40s"},
		{"ended", []poll{{0, 0}, {time.Second, 10}}, 10, true, "Processing"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			var p progress
			var rate float64
			var last int64
			for _, pl := range tt.polls {
				rate = p.observe(t0.Add(pl.after), pl.done)
				last = pl.done
			}
			require.Equal(t, tt.want, describe("Processing", last, tt.total, rate, tt.ended))
		})
	}
}

func TestExpectedRecords(t *testing.T) {
	t.Parallel()
	require.EqualValues(t, 14000, expectedRecords(14000, nil), "body unknown: the records read")
	require.EqualValues(t, 50000, expectedRecords(14000, &bodyRead{read: 14000, total: 50000}), "scaled by the part read")
	require.EqualValues(t, 2, expectedRecords(1, &bodyRead{read: 3, total: 4}), "rounded up")
	require.EqualValues(t, 14000, expectedRecords(14000, &bodyRead{read: 50000, total: 50000}), "read to the end")
	require.EqualValues(t, 0, expectedRecords(0, &bodyRead{read: 100, total: 50000}), "no record yet")
	require.EqualValues(t, 11, expectedRecords(10, &bodyRead{read: 9999, total: 10000}), "more to come while reading")
}

// TestWatchFollowsBytes: while the delivery is read, the bar counts the
// records expected from the part of the body read, not only those read: a
// delivery a quarter read with every record read done is a quarter done.
func TestWatchFollowsBytes(t *testing.T) {
	t.Parallel()
	total, read := int64(50000), int64(14000)
	api := newRoutesAPI(t, "", map[string]canned{
		"GET /v1/imports/" + receipt: {code: http.StatusOK, body: Job{ReceiptID: receipt, DeliveryStatus: "Receiving", BytesRead: read, BytesTotal: &total}},
	},
		ok(statusBody(tracking.StatusReceiving, 12000, 2000, 0)),
		ok(statusBody(tracking.StatusCompletedSuccessfully, 50000, 0, 0)),
	)
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stderr, "12000/50000", "records expected from the bytes read")
	require.NotContains(t, r.stderr, "12000/14000")
	require.Contains(t, api.requestPaths(), "GET /v1/imports/"+receipt, "asked while receiving")

	var out bytes.Buffer
	p := &progress{w: &out}
	p.update(statusBody(tracking.StatusReceiving, 12000, 2000, 0), &bodyRead{read: read, total: total})
	require.EqualValues(t, 50000, p.bar.GetMax64())
	require.Contains(t, out.String(), "24%")
}
