package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/tracking"
)

const (
	tokenA        = "token-of-merchant-a"
	tokenB        = "token-of-merchant-b"
	tokenOperator = "operator-token-123"
)

func v1Server(store *tracking.Store) http.Handler {
	tokens := api.NewTokens(map[string]string{tokenA: "ma", tokenB: "mb", tokenOperator: "*"})
	return api.NewServer(store, api.ServerConfig{Tokens: tokens}, nil)
}

// deliverAt stores a delivery accepted at a given time, ingested with no
// record (NoContent).
func (f *fixture) deliverAt(receipt, merchant string, at time.Time, fk string) {
	ctx := context.Background()
	d, created, err := f.store.DeliveryBegin(ctx, tracking.Delivery{
		ReceiptID: receipt, MerchantID: merchant, AcceptedAt: at, Data: "Product", Format: "ndjson",
		ContractVersion: "1.0", ForeignKey: &fk, Source: "TEST:" + receipt,
	})
	require.NoError(f.t, err)
	require.True(f.t, created)
	require.NoError(f.t, f.store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 0))
}

// move changes the state of one operation through TransitionsApply, as the
// workers do.
func (f *fixture) move(receipt string, seq int, to tracking.State, stage tracking.Stage, code tracking.Code,
	errs, warns []catalog.Error, unres []catalog.Reference) {
	f.t.Helper()
	ctx := context.Background()
	d, err := f.store.DeliveryGet(ctx, receipt)
	require.NoError(f.t, err)
	err = pgx.BeginFunc(ctx, f.store.Pool(), func(tx pgx.Tx) error {
		ops, err := tracking.OpsLock(ctx, tx, d.ReceiptID, d.AcceptedAt, []int{seq})
		if err != nil {
			return err
		}
		from, ok := ops[seq]
		require.True(f.t, ok, "operation %s/%d", receipt, seq)
		if err := tracking.MarkProcessing(ctx, tx, &d); err != nil {
			return err
		}
		ev := tracking.NewEvent(&d, from.ResourceKey, code, "now "+string(to))
		_, err = tracking.TransitionsApply(ctx, tx, []tracking.Transition{{From: from, To: to, Stage: stage,
			Events: []tracking.Event{ev}, Errors: errs, Warnings: warns, Unresolved: unres}})
		return err
	})
	require.NoError(f.t, err)
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	_, err := f.store.Pool().Exec(context.Background(), sql, args...)
	require.NoError(f.t, err)
}

func (f *fixture) park(receipt string, seq int, typeID, key string) {
	f.t.Helper()
	f.exec(`INSERT INTO parked_refs (merchant_id, type_id, key, receipt_id, seq, delivery_at, op_type, op_key, parked_at)
		SELECT merchant_id, $3, $4, receipt_id, seq, delivery_at, resource_type, resource_key, now()
		FROM operations WHERE receipt_id = $1 AND seq = $2`, receipt, seq, typeID, key)
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	return v
}

var (
	jobKeys = []string{"bytesRead", "bytesTotal", "completedAt", "contractVersion", "createdAt", "deliveryStatus", "deliveryStatusCode",
		"errorsCount", "estimatedCompletionAt", "expiresAt", "format", "inputs", "inputsSize", "interruptedAt", "itemsFailed", "itemsInReview", "itemsProcessing", "itemsReceived",
		"itemsSucceeded", "merchantId", "metadata", "processedCount", "receiptId", "reference", "resourceType", "skipErrors", "startedAt",
		"status", "warningsCount"}
	jobDetailKeys = sorted(append([]string{"errors", "missingReferences", "warnings"}, jobKeys...))
	operationKeys = []string{"createdAt", "errors", "expiresAt", "id", "ingestionStatus", "lastEvent", "lastModifiedAt", "line",
		"merchantId", "receiptId", "resourceKey", "resourceType", "retryCount", "state", "unresolvedReferences", "warnings"}
	stateCountKeys = []string{"canceled", "imported", "partiallyImported", "processing", "rejected", "unresolved",
		"validationFailed", "waitForMasterVariant"}
)

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// problemKeys are the members of a /v1 error, an RFC 9457 problem.
var problemKeys = []string{"detail", "error", "status", "title", "type"}

// errorKeys are the members of an error body on path: a problem on /v1,
// CDON's {"error": …} elsewhere.
func errorKeys(path string) []string {
	if strings.HasPrefix(path, "/v1/") {
		return problemKeys
	}
	return []string{"error"}
}

// requireProblem checks a /v1 error body: a problem with the status's
// title, and the detail repeated in error.
func requireProblem(t *testing.T, code int, detail string, body []byte) {
	t.Helper()
	want, err := json.Marshal(map[string]any{"type": "about:blank", "title": http.StatusText(code), "status": code,
		"detail": detail, "error": detail})
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(body))
}

// mixedDelivery stores "job-mixed-1" for merchant ma: one operation in each
// state, seven failing validation, two parked.
func mixedDelivery(f *fixture) {
	keys := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "bad-8", "bad-9", "bad-10", "bad-11", "bad-12", "bad-13", "bad-14"}
	f.deliver("job-mixed-1", "ma", keys, tracking.IngestDone)
	f.move("job-mixed-1", 0, tracking.StateImported, tracking.StageResolved, tracking.CodeImported, nil, nil, nil)
	f.move("job-mixed-1", 1, tracking.StatePartiallyImported, tracking.StageResolved, tracking.CodePartiallyImported, nil,
		[]catalog.Error{{Type: catalog.DataError, Code: "DISCARDED", Field: "attributes.0", Description: "unknown attribute"}}, nil)
	f.move("job-mixed-1", 2, tracking.StateRejected, tracking.StageResolved, tracking.CodeRejected,
		[]catalog.Error{{Type: catalog.SystemError, Code: "TARGET_FAILURE", Description: "boom"},
			{Type: catalog.TimeoutError, Code: "TIMEOUT", Description: "too slow"}}, nil, nil)
	f.move("job-mixed-1", 3, tracking.StateUnresolved, tracking.StagePickedUp, tracking.CodeUnresolved, nil, nil,
		[]catalog.Reference{{TypeID: "category", Key: "shoes"}, {TypeID: "product-variant", SKU: "sku-1"}})
	f.park("job-mixed-1", 3, "category", "shoes")
	f.park("job-mixed-1", 3, "product-variant", "sku-1")
	f.move("job-mixed-1", 4, tracking.StateUnresolved, tracking.StagePickedUp, tracking.CodeUnresolved, nil, nil,
		[]catalog.Reference{{TypeID: "category", Key: "shoes"}})
	f.park("job-mixed-1", 4, "category", "shoes")
	f.move("job-mixed-1", 5, tracking.StateWaitForMasterVariant, tracking.StagePickedUp, tracking.CodeWaitForMasterVariant, nil, nil, nil)
	f.move("job-mixed-1", 6, tracking.StateCanceled, tracking.StagePickedUp, tracking.CodeCanceled,
		[]catalog.Error{{Type: catalog.DataError, Code: "CANCELED", Description: "canceled on request"}}, nil, nil)
	f.move("job-mixed-1", 7, tracking.StateProcessing, tracking.StagePickedUp, tracking.CodeResolutionStarted, nil, nil, nil)
}

func TestV1JobObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	mixedDelivery(f)

	code, body := get(t, srv, "/v1/imports/job-mixed-1", tokenA)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, jobDetailKeys, keysOf(t, body))
	j := decode[api.Job](t, body)
	require.Equal(t, "job-mixed-1", j.ReceiptID)
	require.Equal(t, "ma", j.MerchantID)
	require.Equal(t, "Product", j.ResourceType)
	require.Equal(t, "ndjson", j.Format)
	require.Equal(t, "1.0", j.ContractVersion)
	require.Equal(t, "erp-job-mixed-1", *j.Reference)
	require.Equal(t, tracking.JobInProgress, j.Status)
	require.Equal(t, "Processing", j.DeliveryStatus)
	require.Equal(t, 5, j.DeliveryStatusCode)
	require.EqualValues(t, 15, j.InputsSize)
	require.Equal(t, api.InputsHeld, j.Inputs, "in flight: its message holds the body")
	require.EqualValues(t, 15, j.ItemsReceived)
	require.EqualValues(t, 2, j.ItemsSucceeded)  // imported, partiallyImported
	require.EqualValues(t, 9, j.ItemsFailed)     // 7 validationFailed, rejected, canceled
	require.EqualValues(t, 9, j.ErrorsCount)     // the same
	require.EqualValues(t, 1, j.WarningsCount)   // partiallyImported
	require.EqualValues(t, 11, j.ProcessedCount) // end states
	require.EqualValues(t, 3, j.ItemsInReview)   // 2 unresolved, 1 waitForMasterVariant
	require.EqualValues(t, 1, j.ItemsProcessing) // p7
	require.NotNil(t, j.StartedAt, "processing_at")
	require.Nil(t, j.CompletedAt)
	require.Nil(t, j.InterruptedAt)
	require.Equal(t, time.UTC, j.CreatedAt.Location())
	require.Equal(t, j.CreatedAt.Add(48*time.Hour), j.ExpiresAt)
	require.Contains(t, string(body), `"completedAt":null`)
	require.Regexp(t, `"createdAt":"[^"]+Z"`, string(body))

	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	var groups []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw["errors"], &groups))
	require.Equal(t, []string{"code", "count", "examples", "type"}, keysOf(t, must(json.Marshal(groups[0]))))
	require.NotNil(t, j.Errors)
	gs := *j.Errors
	require.Len(t, gs, 4)
	require.Equal(t, "REQUIRED_FIELD", gs[0].Code, "biggest first")
	require.Equal(t, catalog.DataError, gs[0].Type)
	require.EqualValues(t, 7, gs[0].Count)
	require.Len(t, gs[0].Examples, 5, "at most 5 examples")
	var ex []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(groups[0]["examples"], &ex))
	require.Equal(t, []string{"description", "field", "operationId", "resourceKey"}, keysOf(t, must(json.Marshal(ex[0]))))
	require.Equal(t, "bad-8", gs[0].Examples[0].ResourceKey, "in delivery order")
	require.Equal(t, tracking.OperationID("ma", "job-mixed-1", 8), gs[0].Examples[0].OperationID)
	require.Equal(t, "name", *gs[0].Examples[0].Field)
	require.Equal(t, "name is required", gs[0].Examples[0].Description)
	var rest []string
	for _, g := range gs[1:] {
		require.EqualValues(t, 1, g.Count)
		require.Len(t, g.Examples, 1)
		rest = append(rest, g.Code+"/"+g.Type)
	}
	require.Equal(t, []string{"CANCELED/DATA_ERROR", "TARGET_FAILURE/SYSTEM_ERROR", "TIMEOUT/TIMEOUT_ERROR"}, rest, "ties by code")
	for _, g := range gs {
		if g.Code == "TARGET_FAILURE" {
			require.Nil(t, g.Examples[0].Field)
			require.Contains(t, string(raw["errors"]), `"field":null`)
		}
	}
	require.NotContains(t, string(raw["errors"]), "DISCARDED", "warnings are no errors")
	require.NotNil(t, j.Warnings)
	require.Equal(t, []api.ErrorGroup{{Code: "DISCARDED", Type: catalog.DataError, Count: 1, Examples: []api.ErrorExample{{
		OperationID: tracking.OperationID("ma", "job-mixed-1", 1), ResourceKey: "p1", Field: ptr("attributes.0"), Description: "unknown attribute"}}}},
		*j.Warnings)

	require.NotNil(t, j.MissingReferences)
	require.Equal(t, []api.MissingReference{{TypeID: "category", Key: "shoes", Operations: 2}, {TypeID: "product-variant", Key: "sku-1", Operations: 1}},
		*j.MissingReferences)

	// The store's Job, for the action handlers, answers the same object.
	d, err := f.store.DeliveryGet(context.Background(), "job-mixed-1")
	require.NoError(t, err)
	sj, err := api.JobOf(context.Background(), f.store, &d, true)
	require.NoError(t, err)
	require.NotNil(t, j.EstimatedCompletionAt, "processing, with operations done")
	require.NotNil(t, sj.EstimatedCompletionAt)
	sj.EstimatedCompletionAt = j.EstimatedCompletionAt // extrapolated at another instant
	require.JSONEq(t, string(body), string(must(json.Marshal(sj))))
	plain, err := api.JobOf(context.Background(), f.store, &d, false)
	require.NoError(t, err)
	require.Equal(t, jobKeys, keysOf(t, must(json.Marshal(plain))))
}

// TestV1ReceivingETA: a delivery half read has an ETA in the future, from
// the bytes of its body read, in /status and in the job object alike, and
// the ETA follows as more is read and done.
func TestV1ReceivingETA(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	ctx := context.Background()
	accepted := time.Now().Add(-10 * time.Second).Truncate(time.Microsecond)
	d, _, err := f.store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: "eta-recv-1", MerchantID: "ma", AcceptedAt: accepted,
		Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "TEST:eta", SkipErrors: true})
	require.NoError(t, err)
	size := int64(40000)
	write := func(from, to int, read int64) {
		b := tracking.IngestBatch{From: from, To: to, BodySize: &size, BodyRead: read}
		for i := from; i < to; i++ {
			k := fmt.Sprintf("e-%d", i)
			op := tracking.Operation{ID: tracking.OperationID("ma", "eta-recv-1", i), Seq: i, Line: i + 1, ResourceType: "Product",
				ResourceKey: k, State: tracking.StateProcessing, CreatedAt: time.Now()}
			op.Last = tracking.NewEvent(&d, k, tracking.CodeRecordReceived, "Record received")
			b.Ops, b.Events = append(b.Ops, op), append(b.Events, op.Last)
			b.Counts.Total++
			b.Counts.Count(op.State, tracking.StageQueued, 1)
		}
		require.NoError(t, f.store.IngestWrite(ctx, &d, b))
	}
	done := func(from, to int) {
		for i := from; i < to; i++ {
			f.move("eta-recv-1", i, tracking.StateImported, tracking.StageResolved, tracking.CodeImported, nil, nil, nil)
		}
	}
	// status answers /status and the job object, and checks that both
	// estimate what is left as part of the time elapsed since the delivery
	// was accepted: the server's now is between before and after.
	status := func(part float64) (tracking.StatusBody, api.Job) {
		t.Helper()
		before := time.Now()
		code, body := get(t, srv, "/import/eta-recv-1/status", tokenA)
		require.Equal(t, http.StatusOK, code, "%s", body)
		st := decode[tracking.StatusBody](t, body)
		_, body = get(t, srv, "/v1/imports/eta-recv-1", tokenA)
		j := decode[api.Job](t, body)
		after := time.Now()
		earliest := before.Add(time.Duration(part * float64(before.Sub(accepted))))
		latest := after.Add(time.Duration(part * float64(after.Sub(accepted))))
		for _, eta := range []*time.Time{st.EstimatedCompletionUtc, j.EstimatedCompletionAt} {
			require.NotNil(t, eta)
			require.False(t, eta.Before(earliest.Add(-time.Millisecond)), "%s before %s", eta, earliest)
			require.False(t, eta.After(latest.Add(time.Millisecond)), "%s after %s", eta, latest)
		}
		return st, j
	}

	// Half the body read, nothing done yet: as long again to read the rest.
	write(0, 100, 20000)
	st, j := status(1)
	require.Equal(t, "Receiving", st.Status)
	require.EqualValues(t, 20000, j.BytesRead)
	require.EqualValues(t, 40000, *j.BytesTotal)
	require.True(t, st.EstimatedCompletionUtc.After(time.Now().Add(5*time.Second)), "the rest of the body, not the records read so far")

	// Every record read is done: without the bytes the delivery would look
	// complete; with them, the other half is still to come.
	done(0, 100)
	st, _ = status(1)
	require.Zero(t, st.Products.Pending)
	half := *st.EstimatedCompletionUtc

	// Three quarters read and done at once: a third of the time so far is
	// left, sooner than before.
	write(100, 150, 30000)
	done(100, 150)
	st, _ = status(1.0 / 3)
	require.True(t, st.EstimatedCompletionUtc.Before(half), "reading faster brings the ETA nearer")
	require.True(t, st.EstimatedCompletionUtc.After(time.Now()))

	// Read to the end: the operations decide (150 done, 50 to go).
	write(150, 200, 40000)
	require.NoError(t, f.store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 100))
	st, _ = status(1.0 / 3)
	require.Equal(t, "Processing", st.Status)
}

func TestV1JobStatuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	f.deliver("st-receiving", "ma", []string{"p1"}, "")
	f.deliver("st-queued", "ma", []string{"p1", "bad-2"}, tracking.IngestDone)
	f.deliver("st-processing", "ma", []string{"p1", "p2"}, tracking.IngestDone)
	f.move("st-processing", 0, tracking.StateProcessing, tracking.StagePickedUp, tracking.CodeResolutionStarted, nil, nil, nil)
	f.deliver("st-empty", "ma", nil, tracking.IngestDone)
	f.deliver("st-failed", "ma", nil, tracking.IngestFailed, tracking.IngestionError{Code: "UNREADABLE_GZIP", Description: "not gzip"})
	f.deliver("st-allbad", "ma", []string{"bad-1"}, tracking.IngestDone)
	f.deliver("st-done-1", "ma", []string{"p1"}, tracking.IngestDone)
	f.move("st-done-1", 0, tracking.StateImported, tracking.StageResolved, tracking.CodeImported, nil, nil, nil)
	f.deliver("st-interrupted", "ma", []string{"p1", "p2"}, tracking.IngestDone)
	f.exec(`UPDATE deliveries SET interrupted_at = now() WHERE receipt_id = 'st-interrupted'`)

	want := map[string]struct {
		status, delivery string
		completed        bool
	}{
		"st-receiving":   {tracking.JobInProgress, "Receiving", false},
		"st-queued":      {tracking.JobPending, "Queued", false},
		"st-processing":  {tracking.JobInProgress, "Processing", false},
		"st-empty":       {tracking.JobCompleted, "NoContent", true},
		"st-failed":      {tracking.JobCompleted, "IngestionFailure", true},
		"st-allbad":      {tracking.JobCompleted, "CompletedWithErrors", true},
		"st-done-1":      {tracking.JobCompleted, "CompletedSuccessfully", true},
		"st-interrupted": {tracking.JobInterrupted, "Queued", false},
	}
	for receipt, tt := range want {
		code, body := get(t, srv, "/v1/imports/"+receipt, tokenA)
		require.Equal(t, http.StatusOK, code, receipt)
		j := decode[api.Job](t, body)
		require.Equal(t, tt.status, j.Status, receipt)
		require.Equal(t, tt.delivery, j.DeliveryStatus, receipt)
		require.Equal(t, tt.completed, j.CompletedAt != nil, receipt)
		if receipt == "st-failed" {
			require.Equal(t, sorted(append([]string{"ingestionErrors"}, jobDetailKeys...)), keysOf(t, body))
			require.Equal(t, []tracking.IngestionError{{Code: "UNREADABLE_GZIP", Description: "not gzip"}}, *j.IngestionErrors)
		} else {
			require.Equal(t, jobDetailKeys, keysOf(t, body), receipt)
		}
		if receipt == "st-interrupted" {
			require.NotNil(t, j.InterruptedAt)
		}
	}

	// The list's status filter (SQL) agrees with the job object's status (Go).
	for _, status := range []string{tracking.JobPending, tracking.JobInProgress, tracking.JobInterrupted, tracking.JobCompleted} {
		code, body := get(t, srv, "/v1/imports?status="+status, tokenA)
		require.Equal(t, http.StatusOK, code, "%s", body)
		page := decode[api.Page[api.Job]](t, body)
		var got, exp []string
		for _, j := range page.Items {
			require.Equal(t, status, j.Status)
			got = append(got, j.ReceiptID)
		}
		for receipt, tt := range want {
			if tt.status == status {
				exp = append(exp, receipt)
			}
		}
		require.ElementsMatch(t, exp, got, status)
	}
	for _, bad := range []string{"Pending", "queued", "x"} {
		code, body := get(t, srv, "/v1/imports?status="+bad, tokenA)
		require.Equal(t, http.StatusBadRequest, code, bad)
		require.Equal(t, problemKeys, keysOf(t, body))
	}
}

func TestV1ImportsPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	// Eight deliveries of ma, three of them accepted at the same instant;
	// two of mb in between.
	ats := []time.Duration{0, time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute}
	for i, d := range ats {
		f.deliverAt(fmt.Sprintf("list-a-%02d", i), "ma", base.Add(d), fmt.Sprintf("ref-%d", i%2))
	}
	f.deliverAt("list-b-00", "mb", base.Add(90*time.Second), "ref-0")
	f.deliverAt("list-b-01", "mb", base.Add(150*time.Second), "ref-1")

	walk := func(query, token string, limit int) []string {
		t.Helper()
		var receipts []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20)
			path := fmt.Sprintf("/v1/imports?limit=%d%s", limit, query)
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			code, body := get(t, srv, path, token)
			require.Equal(t, http.StatusOK, code, "%s", body)
			require.Equal(t, []string{"items", "nextCursor"}, keysOf(t, body))
			page := decode[api.Page[api.Job]](t, body)
			require.LessOrEqual(t, len(page.Items), limit)
			for _, j := range page.Items {
				receipts = append(receipts, j.ReceiptID)
			}
			if page.NextCursor == nil {
				require.Contains(t, string(body), `"nextCursor":null`)
				return receipts
			}
			require.Len(t, page.Items, limit, "only the last page is short")
			cursor = *page.NextCursor
		}
	}
	newestFirst := []string{"list-a-07", "list-a-06", "list-a-05", "list-a-02", "list-a-03", "list-a-04", "list-a-01", "list-a-00"}
	for _, limit := range []int{1, 2, 3, 7, 8, 50} {
		require.Equal(t, newestFirst, walk("", tokenA, limit), "limit %d", limit)
	}
	all := walk("", tokenOperator, 3)
	require.Len(t, all, 10)
	require.Equal(t, []string{"list-a-07", "list-a-06", "list-a-05", "list-b-01", "list-a-02", "list-a-03", "list-a-04", "list-b-00", "list-a-01", "list-a-00"}, all)
	require.Equal(t, []string{"list-b-01", "list-b-00"}, walk("", tokenB, 1))
	require.Equal(t, []string{"list-a-07", "list-a-05", "list-a-03", "list-a-01"}, walk("&reference=ref-1", tokenA, 3))
	require.Equal(t, []string{"list-a-06", "list-a-02", "list-a-04", "list-a-00"}, walk("&reference=ref-0", tokenA, 2))
	require.Equal(t, []string{"list-a-06", "list-a-02", "list-a-04", "list-b-00", "list-a-00"}, walk("&reference=ref-0", tokenOperator, 2))
	require.Empty(t, walk("&reference=nope", tokenA, 2))

	// Items have the job keys without the detail.
	code, body := get(t, srv, "/v1/imports", tokenA)
	require.Equal(t, http.StatusOK, code)
	var page struct{ Items []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Items, 8, "default limit 50")
	require.Equal(t, jobKeys, keysOf(t, page.Items[0]))

	// Bad limits and cursors.
	for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "limit=1.5"} {
		code, body := get(t, srv, "/v1/imports?"+q, tokenA)
		require.Equal(t, http.StatusBadRequest, code, q)
		requireProblem(t, http.StatusBadRequest, "limit must be 1..1000", body)
	}
	_, body = get(t, srv, "/v1/imports?limit=2", tokenA)
	good := *decode[api.Page[api.Job]](t, body).NextCursor
	raw, err := base64.RawURLEncoding.DecodeString(good)
	require.NoError(t, err)
	tampered := bytes.Replace(raw, []byte("list-a-06"), []byte("list-a-05"), 1)
	require.NotEqual(t, raw, tampered)
	for _, c := range []string{"x", "!!!", "bm90IGEgY3Vyc29y", base64.RawURLEncoding.EncodeToString(tampered), good[:len(good)-2], good + "A"} {
		code, body := get(t, srv, "/v1/imports?cursor="+url.QueryEscape(c), tokenA)
		require.Equal(t, http.StatusBadRequest, code, c)
		require.Equal(t, problemKeys, keysOf(t, body))
	}
}

// TestV1ImportsFilters: merchantId, createdFrom and createdTo select
// deliveries, a page at a time as without them; a merchant's token never
// sees another merchant's; bad values are 400 problems naming them.
func TestV1ImportsFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	ats := []time.Duration{0, time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute}
	for i, d := range ats {
		f.deliverAt(fmt.Sprintf("filt-a-%02d", i), "ma", base.Add(d), "ref")
	}
	f.deliverAt("filt-b-00", "mb", base.Add(90*time.Second), "ref")
	f.deliverAt("filt-b-01", "mb", base.Add(150*time.Second), "ref")
	at := func(d time.Duration) string { return url.QueryEscape(base.Add(d).Format(time.RFC3339Nano)) }

	walk := func(query, token string, limit int) []string {
		t.Helper()
		receipts := []string{}
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20)
			path := fmt.Sprintf("/v1/imports?limit=%d%s", limit, query)
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			code, body := get(t, srv, path, token)
			require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
			page := decode[api.Page[api.Job]](t, body)
			for _, j := range page.Items {
				receipts = append(receipts, j.ReceiptID)
			}
			if page.NextCursor == nil {
				return receipts
			}
			require.Len(t, page.Items, limit, "only the last page is short")
			cursor = *page.NextCursor
		}
	}
	for _, tt := range []struct {
		name, query, token string
		want               []string
	}{
		{"from, inclusive", "&createdFrom=" + at(2*time.Minute), tokenA, []string{"filt-a-05", "filt-a-02", "filt-a-03", "filt-a-04"}},
		{"to, exclusive", "&createdTo=" + at(2*time.Minute), tokenA, []string{"filt-a-01", "filt-a-00"}},
		{"both", "&createdFrom=" + at(time.Minute) + "&createdTo=" + at(3*time.Minute), tokenA,
			[]string{"filt-a-02", "filt-a-03", "filt-a-04", "filt-a-01"}},
		{"both, all merchants", "&createdFrom=" + at(time.Minute) + "&createdTo=" + at(3*time.Minute), tokenOperator,
			[]string{"filt-b-01", "filt-a-02", "filt-a-03", "filt-a-04", "filt-b-00", "filt-a-01"}},
		{"another zone", "&createdFrom=" + url.QueryEscape(base.Add(3*time.Minute).In(time.FixedZone("", 5*3600+1800)).Format(time.RFC3339)),
			tokenA, []string{"filt-a-05"}},
		{"a bound between microseconds, from", "&createdFrom=" + at(time.Minute+500*time.Nanosecond) + "&createdTo=" + at(2*time.Minute),
			tokenA, []string{}},
		{"a bound between microseconds, to", "&createdTo=" + at(time.Minute+500*time.Nanosecond), tokenA,
			[]string{"filt-a-01", "filt-a-00"}},
		{"an operator's merchant", "&merchantId=mb", tokenOperator, []string{"filt-b-01", "filt-b-00"}},
		{"an operator's merchant and times", "&merchantId=ma&createdFrom=" + at(90*time.Second) + "&createdTo=" + at(3*time.Minute),
			tokenOperator, []string{"filt-a-02", "filt-a-03", "filt-a-04"}},
		{"a merchant naming itself", "&merchantId=ma&createdTo=" + at(time.Minute), tokenA, []string{"filt-a-00"}},
		{"a merchant naming another", "&merchantId=mb", tokenA, []string{}},
		{"a merchant naming another, with times", "&merchantId=ma&createdFrom=" + at(0), tokenB, []string{}},
		{"an unknown merchant", "&merchantId=mz", tokenOperator, []string{}},
		{"with the other filters", "&merchantId=ma&reference=ref&status=completed&createdFrom=" + at(3*time.Minute), tokenOperator,
			[]string{"filt-a-05"}},
		{"nothing in range", "&createdFrom=" + at(time.Hour), tokenOperator, []string{}},
	} {
		for _, limit := range []int{1, 2, 50} {
			require.Equal(t, tt.want, walk(tt.query, tt.token, limit), "%s, limit %d", tt.name, limit)
		}
	}

	for _, tt := range []struct{ query, detail string }{
		{"createdFrom=yesterday", `createdFrom must be an RFC 3339 time with a zone, such as 2026-12-05T16:00:00Z or 2026-12-05T17:00:00+01:00; got "yesterday"`},
		{"createdFrom=2026-12-05", `createdFrom must be an RFC 3339 time with a zone, such as 2026-12-05T16:00:00Z or 2026-12-05T17:00:00+01:00; got "2026-12-05"`},
		{"createdTo=2026-12-05T16:00:00", `createdTo must be an RFC 3339 time with a zone, such as 2026-12-05T16:00:00Z or 2026-12-05T17:00:00+01:00; got "2026-12-05T16:00:00"`},
		{"createdTo=", `createdTo must be an RFC 3339 time with a zone, such as 2026-12-05T16:00:00Z or 2026-12-05T17:00:00+01:00; got ""`},
		{"createdFrom=" + at(time.Minute) + "&createdTo=" + at(time.Minute), "createdFrom must be before createdTo (createdFrom is inclusive, createdTo exclusive)"},
		{"createdFrom=" + at(2*time.Minute) + "&createdTo=" + at(time.Minute), "createdFrom must be before createdTo (createdFrom is inclusive, createdTo exclusive)"},
		{"merchantId=m.a", "merchantId must match ^[A-Za-z0-9_-]{1,64}$"},
		{"merchantId=" + strings.Repeat("m", 65), "merchantId must match ^[A-Za-z0-9_-]{1,64}$"},
	} {
		for _, token := range []string{tokenA, tokenOperator} {
			code, body := get(t, srv, "/v1/imports?"+tt.query, token)
			require.Equal(t, http.StatusBadRequest, code, tt.query)
			requireProblem(t, http.StatusBadRequest, tt.detail, body)
		}
	}
}

func TestV1Operations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	var keys []string
	for i := range 25 {
		k := fmt.Sprintf("p%02d", i)
		if i%6 == 5 {
			k = fmt.Sprintf("bad-%02d", i)
		}
		keys = append(keys, k)
	}
	f.deliver("ops-one-1", "ma", keys, tracking.IngestDone)
	f.deliver("ops-two-2", "ma", []string{"q1", "q2", "q3"}, tracking.IngestDone)
	f.exec(`UPDATE operations SET resource_type = 'Category' WHERE receipt_id = 'ops-one-1' AND seq % 5 = 0`)
	mixedDelivery(f)

	walk := func(receipt, query string, limit int) []api.OperationView {
		t.Helper()
		var out []api.OperationView
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 30)
			path := fmt.Sprintf("/v1/imports/%s/operations?limit=%d%s", receipt, limit, query)
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			code, body := get(t, srv, path, tokenA)
			require.Equal(t, http.StatusOK, code, "%s", body)
			require.Equal(t, []string{"items", "nextCursor"}, keysOf(t, body))
			page := decode[api.Page[api.OperationView]](t, body)
			out = append(out, page.Items...)
			if page.NextCursor == nil {
				return out
			}
			require.Len(t, page.Items, limit)
			cursor = *page.NextCursor
		}
	}
	seqs := func(ops []api.OperationView) []int {
		var s []int
		for _, o := range ops {
			s = append(s, o.Line-1)
		}
		return s
	}
	all := walk("ops-one-1", "", 10)
	require.Len(t, all, 25)
	for i, o := range all {
		require.Equal(t, i+1, o.Line, "each once, in delivery order")
		require.Equal(t, keys[i], o.ResourceKey)
		require.Equal(t, tracking.OperationID("ma", "ops-one-1", i), o.ID)
	}
	require.Len(t, walk("ops-one-1", "", 25), 25)
	require.Equal(t, []int{5, 11, 17, 23}, seqs(walk("ops-one-1", "&state=validationFailed", 3)))
	require.Equal(t, []int{0, 5, 10, 15, 20}, seqs(walk("ops-one-1", "&resourceType=Category", 2)))
	require.Equal(t, []int{5}, seqs(walk("ops-one-1", "&resourceType=Category&state=validationFailed", 2)))
	require.Equal(t, []int{7}, seqs(walk("ops-one-1", "&resourceKey=p07", 2)))
	require.Empty(t, walk("ops-one-1", "&resourceKey=nope", 2))

	// The operation object.
	code, body := get(t, srv, "/v1/imports/ops-one-1/operations?limit=6", tokenA)
	require.Equal(t, http.StatusOK, code)
	var page struct{ Items []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &page))
	require.Equal(t, operationKeys, keysOf(t, page.Items[5]))
	var lastEvent map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(page.Items[5], &lastEvent))
	require.Equal(t, []string{"message", "trackingCode", "trackingId"}, keysOf(t, lastEvent["lastEvent"]))
	require.Contains(t, string(page.Items[5]), `"errors":[{"type":"DATA_ERROR","code":"REQUIRED_FIELD","field":"name","description":"name is required"}]`)
	require.Contains(t, string(page.Items[0]), `"errors":[],"warnings":[],"unresolvedReferences":[]`)

	id := tracking.OperationID("ma", "ops-one-1", 5)
	code, body = get(t, srv, "/v1/operations/"+id.String(), tokenA)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, operationKeys, keysOf(t, body))
	o := decode[api.OperationView](t, body)
	require.Equal(t, id, o.ID)
	require.Equal(t, "ops-one-1", o.ReceiptID)
	require.Equal(t, "ma", o.MerchantID)
	require.Equal(t, 6, o.Line)
	require.Equal(t, "Category", o.ResourceType)
	require.Equal(t, "bad-05", o.ResourceKey)
	require.Equal(t, tracking.StateValidationFailed, o.State)
	require.Equal(t, "DATA_ERROR", o.IngestionStatus)
	require.Equal(t, int(tracking.CodeValidationFailed), o.LastEvent.TrackingCode)
	require.Regexp(t, `^[0-9a-f]{32}$`, o.LastEvent.TrackingID)
	require.Equal(t, time.UTC, o.CreatedAt.Location())
	require.Regexp(t, `"expiresAt":"[^"]+Z"`, string(body))

	ingestion := map[int]string{0: "SUCCESS", 1: "SUCCESS", 2: "TIMEOUT_ERROR", 3: "INPROGRESS", 5: "INPROGRESS", 6: "DATA_ERROR", 7: "INPROGRESS", 8: "DATA_ERROR", 14: "DATA_ERROR"}
	for seq, want := range ingestion {
		_, body := get(t, srv, "/v1/operations/"+tracking.OperationID("ma", "job-mixed-1", seq).String(), tokenA)
		require.Equal(t, want, decode[api.OperationView](t, body).IngestionStatus, "seq %d", seq)
	}
	_, body = get(t, srv, "/v1/operations/"+tracking.OperationID("ma", "job-mixed-1", 3).String(), tokenA)
	o = decode[api.OperationView](t, body)
	require.Equal(t, []api.ReferenceView{{TypeID: "category", Key: "shoes"}, {TypeID: "product-variant", Key: "sku-1"}}, o.UnresolvedReferences)
	_, body = get(t, srv, "/v1/operations/"+tracking.OperationID("ma", "job-mixed-1", 1).String(), tokenA)
	require.Contains(t, string(body), `"warnings":[{"type":"DATA_ERROR","code":"DISCARDED","field":"attributes.0","description":"unknown attribute"}]`)
	_, body = get(t, srv, "/v1/operations/"+tracking.OperationID("ma", "job-mixed-1", 2).String(), tokenA)
	require.Contains(t, string(body), `{"type":"SYSTEM_ERROR","code":"TARGET_FAILURE","field":null,"description":"boom"}`)

	// The store's OperationGet, for the action handlers, answers the same object.
	so, err := api.OperationOf(context.Background(), f.store, tracking.OperationID("ma", "job-mixed-1", 2))
	require.NoError(t, err)
	require.JSONEq(t, string(body), string(must(json.Marshal(so))))
	require.Equal(t, 2, so.Ref().Seq)

	// Errors.
	unknownOp, _ := get(t, srv, "/v1/operations/"+tracking.OperationID("ma", "ops-none-1", 0).String(), tokenA)
	require.Equal(t, http.StatusNotFound, unknownOp)
	for _, bad := range []string{"not-a-uuid", "123", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"} {
		code, body := get(t, srv, "/v1/operations/"+bad, tokenA)
		require.Equal(t, http.StatusNotFound, code, bad)
		require.Equal(t, problemKeys, keysOf(t, body))
	}
	for _, q := range []string{"state=Imported", "state=failed", "state=x"} {
		code, body := get(t, srv, "/v1/imports/ops-one-1/operations?"+q, tokenA)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Equal(t, problemKeys, keysOf(t, body))
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x"} {
		code, body := get(t, srv, "/v1/imports/ops-one-1/operations?"+q, tokenA)
		require.Equal(t, http.StatusBadRequest, code, q)
		requireProblem(t, http.StatusBadRequest, "limit must be 1..1000", body)
	}
	_, body = get(t, srv, "/v1/imports/ops-two-2/operations?limit=1", tokenA)
	otherCursor := *decode[api.Page[api.OperationView]](t, body).NextCursor
	_, body = get(t, srv, "/v1/imports?limit=1", tokenA)
	importsCursor := *decode[api.Page[api.Job]](t, body).NextCursor
	for _, c := range []string{otherCursor, importsCursor, "garbage", otherCursor[1:]} {
		code, _ := get(t, srv, "/v1/imports/ops-one-1/operations?cursor="+url.QueryEscape(c), tokenA)
		require.Equal(t, http.StatusBadRequest, code, "a cursor of another list: %s", c)
	}
	code, _ = get(t, srv, "/v1/imports?cursor="+url.QueryEscape(otherCursor), tokenA)
	require.Equal(t, http.StatusBadRequest, code)
	for _, receipt := range []string{"ops-none-1", "x", "bad%20receipt"} {
		code, body := get(t, srv, "/v1/imports/"+receipt+"/operations", tokenA)
		require.Equal(t, http.StatusNotFound, code, receipt)
		require.Equal(t, problemKeys, keysOf(t, body))
		code, _ = get(t, srv, "/v1/imports/"+receipt, tokenA)
		require.Equal(t, http.StatusNotFound, code, receipt)
	}
}

func TestV1Summary(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	mixedDelivery(f)                                                            // ma, in progress
	f.deliver("sum-a-2", "ma", []string{"p1", "bad-2"}, tracking.IngestDone)    // ma, pending
	f.deliver("sum-b-1", "mb", []string{"p1", "p2", "p3"}, tracking.IngestDone) // mb, pending
	f.deliver("sum-b-2", "mb", nil, tracking.IngestDone)                        // mb, completed

	code, body := get(t, srv, "/v1/summary", tokenOperator)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, []string{"merchants", "total"}, keysOf(t, body))
	var raw struct {
		Merchants []json.RawMessage
		Total     map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Equal(t, []string{"deliveries", "merchantId", "operations"}, keysOf(t, raw.Merchants[0]))
	require.Equal(t, []string{"deliveries", "operations"}, keysOf(t, must(json.Marshal(raw.Total))))
	require.Equal(t, stateCountKeys, keysOf(t, raw.Total["operations"]))
	ov := decode[api.Overview](t, body)
	a := api.MerchantOverview{MerchantID: "ma", Deliveries: 2, Operations: api.StateCounts{
		Processing: 2, Unresolved: 2, WaitForMasterVariant: 1, Imported: 1, PartiallyImported: 1, ValidationFailed: 8, Rejected: 1, Canceled: 1}}
	b := api.MerchantOverview{MerchantID: "mb", Deliveries: 2, Operations: api.StateCounts{Processing: 3}}
	require.Equal(t, []api.MerchantOverview{a, b}, ov.Merchants)
	require.Equal(t, api.OverviewTotal{Deliveries: 4, Operations: api.StateCounts{
		Processing: 5, Unresolved: 2, WaitForMasterVariant: 1, Imported: 1, PartiallyImported: 1, ValidationFailed: 8, Rejected: 1, Canceled: 1}}, ov.Total)

	_, body = get(t, srv, "/v1/summary?merchantId=mb", tokenOperator)
	require.Equal(t, []api.MerchantOverview{b}, decode[api.Overview](t, body).Merchants)
	_, body = get(t, srv, "/v1/summary?status=pending", tokenOperator)
	ov = decode[api.Overview](t, body)
	require.Equal(t, []api.MerchantOverview{
		{MerchantID: "ma", Deliveries: 1, Operations: api.StateCounts{Processing: 1, ValidationFailed: 1}}, b1(b)}, ov.Merchants)
	_, body = get(t, srv, "/v1/summary?status=interrupted", tokenOperator)
	require.JSONEq(t, `{"merchants":[],"total":{"deliveries":0,"operations":{"processing":0,"unresolved":0,"waitForMasterVariant":0,
		"imported":0,"partiallyImported":0,"validationFailed":0,"rejected":0,"canceled":0}}}`, string(body))

	// A merchant token sees itself only, whatever it asks for.
	for _, q := range []string{"", "?merchantId=ma", "?merchantId=mb"} {
		code, body := get(t, srv, "/v1/summary"+q, tokenB)
		require.Equal(t, http.StatusOK, code)
		ov := decode[api.Overview](t, body)
		require.Equal(t, []api.MerchantOverview{b}, ov.Merchants, q)
		require.EqualValues(t, 2, ov.Total.Deliveries)
	}
	code, body = get(t, srv, "/v1/summary?status=done", tokenOperator)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, problemKeys, keysOf(t, body))
}

// b1 is merchant b with only its pending delivery.
func b1(b api.MerchantOverview) api.MerchantOverview {
	b.Deliveries = 1
	return b
}

func TestV1ErrorsCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	mixedDelivery(f)
	var keys []string
	for i := range 2100 {
		keys = append(keys, fmt.Sprintf("bad-%04d", i))
	}
	f.deliver("csv-big-1", "ma", keys, tracking.IngestDone)
	f.deliver("csv-none-1", "ma", []string{"p1"}, tracking.IngestDone)
	// A description a CSV writer must quote.
	f.move("job-mixed-1", 6, tracking.StateCanceled, tracking.StagePickedUp, tracking.CodeCanceled,
		[]catalog.Error{{Type: catalog.DataError, Code: "CANCELED", Description: "canceled, \"on request\"\nby ops"}}, nil, nil)

	req := httptest.NewRequest(http.MethodGet, "/v1/imports/job-mixed-1/errors.csv", nil)
	req.Header.Set("Authorization", "Bearer "+tokenA)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv"))
	rows, err := csv.NewReader(rec.Body).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"operationId", "line", "resourceKey", "resourceType", "state", "type", "code", "field", "description"}, rows[0])
	id := func(seq int) string { return tracking.OperationID("ma", "job-mixed-1", seq).String() }
	want := [][]string{
		{id(2), "3", "p2", "Product", "rejected", "SYSTEM_ERROR", "TARGET_FAILURE", "", "boom"},
		{id(2), "3", "p2", "Product", "rejected", "TIMEOUT_ERROR", "TIMEOUT", "", "too slow"},
		{id(6), "7", "p6", "Product", "canceled", "DATA_ERROR", "CANCELED", "", "canceled, \"on request\"\nby ops"},
	}
	for seq := 8; seq <= 14; seq++ {
		want = append(want, []string{id(seq), fmt.Sprint(seq + 1), fmt.Sprintf("bad-%d", seq), "Product", "validationFailed",
			"DATA_ERROR", "REQUIRED_FIELD", "name", "name is required"})
	}
	require.Equal(t, want, rows[1:])

	code, body := get(t, srv, "/v1/imports/csv-big-1/errors.csv", tokenOperator)
	require.Equal(t, http.StatusOK, code)
	rows, err = csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2101)
	for i, r := range rows[1:] {
		require.Equal(t, keys[i], r[2], "in delivery order")
	}

	code, body = get(t, srv, "/v1/imports/csv-none-1/errors.csv", tokenA)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "operationId,line,resourceKey,resourceType,state,type,code,field,description\n", string(body))
	code, body = get(t, srv, "/v1/imports/csv-none-2/errors.csv", tokenA)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, problemKeys, keysOf(t, body))
}

func TestV1ItemDetails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	mixedDelivery(f)

	_, body := get(t, srv, "/v1/imports/job-mixed-1?includeDetails=false&limit=0", tokenA)
	require.Equal(t, jobDetailKeys, keysOf(t, body), "no details unless asked, offset and limit then unread")

	code, body := get(t, srv, "/v1/imports/job-mixed-1?includeDetails=true", tokenA)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, sorted(append([]string{"itemDetails"}, jobDetailKeys...)), keysOf(t, body))
	j := decode[api.Job](t, body)
	require.Equal(t, 0, j.ItemDetails.Offset)
	require.Equal(t, 50, j.ItemDetails.Limit, "50 by default")
	items := j.ItemDetails.ItemIngestionStatus
	require.Len(t, items, 15)
	var raw struct {
		ItemDetails struct {
			ItemIngestionStatus []json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Equal(t, []string{"ingestionErrors", "ingestionStatus", "line", "operationId", "resourceType", "sku", "state"},
		keysOf(t, raw.ItemDetails.ItemIngestionStatus[0]))
	require.Contains(t, string(raw.ItemDetails.ItemIngestionStatus[0]), `"ingestionErrors":{"ingestionError":[]}`)
	var statuses []string
	for i, it := range items {
		require.Equal(t, i+1, it.Line, "in delivery order")
		require.Equal(t, tracking.OperationID("ma", "job-mixed-1", i), it.OperationID)
		statuses = append(statuses, it.SKU+":"+it.IngestionStatus)
	}
	require.Equal(t, []string{"p0:SUCCESS", "p1:SUCCESS", "p2:TIMEOUT_ERROR", "p3:INPROGRESS", "p4:INPROGRESS", "p5:INPROGRESS",
		"p6:DATA_ERROR", "p7:INPROGRESS", "bad-8:DATA_ERROR"}, statuses[:9])
	require.Equal(t, []api.OperationError{{Type: catalog.DataError, Code: "REQUIRED_FIELD", Field: ptr("name"), Description: "name is required"}},
		items[8].IngestionErrors.IngestionError)
	require.Len(t, items[2].IngestionErrors.IngestionError, 2)

	_, body = get(t, srv, "/v1/imports/job-mixed-1?includeDetails=true&offset=2&limit=3", tokenA)
	j = decode[api.Job](t, body)
	require.Equal(t, 2, j.ItemDetails.Offset)
	require.Equal(t, 3, j.ItemDetails.Limit)
	require.Equal(t, []string{"p2", "p3", "p4"}, skus(j.ItemDetails.ItemIngestionStatus))
	_, body = get(t, srv, "/v1/imports/job-mixed-1?includeDetails=true&offset=15", tokenA)
	require.Contains(t, string(body), `"itemDetails":{"offset":15,"limit":50,"itemIngestionStatus":[]}`)

	var keys []string
	for i := range 2100 {
		keys = append(keys, fmt.Sprintf("k-%04d", i))
	}
	f.deliver("items-big-1", "ma", keys, tracking.IngestDone)
	_, body = get(t, srv, "/v1/imports/items-big-1?includeDetails=true&offset=1000&limit=1000", tokenA)
	j = decode[api.Job](t, body)
	require.Equal(t, keys[1000:2000], skus(j.ItemDetails.ItemIngestionStatus))
	_, body = get(t, srv, "/v1/imports/items-big-1?includeDetails=1&offset=2090", tokenA)
	require.Equal(t, keys[2090:], skus(decode[api.Job](t, body).ItemDetails.ItemIngestionStatus))

	for q, detail := range map[string]string{
		"includeDetails=yes":               "includeDetails must be true or false",
		"includeDetails=true&limit=0":      "limit must be 1..1000",
		"includeDetails=true&limit=1001":   "limit must be 1..1000",
		"includeDetails=true&limit=":       "limit must be 1..1000",
		"includeDetails=true&offset=-1":    "offset must be an integer of at least 0",
		"includeDetails=true&offset=first": "offset must be an integer of at least 0",
	} {
		code, body := get(t, srv, "/v1/imports/job-mixed-1?"+q, tokenA)
		require.Equal(t, http.StatusBadRequest, code, q)
		requireProblem(t, http.StatusBadRequest, detail, body)
	}
	code, _ = get(t, srv, "/v1/imports/job-mixed-1?includeDetails=true", tokenB)
	require.Equal(t, http.StatusNotFound, code, "another merchant's")
}

func skus(items []api.ItemStatus) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.SKU)
	}
	return out
}

func TestV1WarningsCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	mixedDelivery(f)
	// Warnings count whatever the operation's state; a second code groups apart.
	warn := []catalog.Error{{Type: catalog.DataError, Code: "DISCARDED", Field: "attributes.1", Description: "unknown, \"x\""},
		{Type: catalog.DataError, Code: "TRUNCATED", Description: "name cut"}}
	f.move("job-mixed-1", 0, tracking.StateImported, tracking.StageResolved, tracking.CodeImported, nil, warn, nil)

	code, body := get(t, srv, "/v1/imports/job-mixed-1/warnings.csv", tokenA)
	require.Equal(t, http.StatusOK, code)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	id := func(seq int) string { return tracking.OperationID("ma", "job-mixed-1", seq).String() }
	require.Equal(t, [][]string{
		{"operationId", "line", "resourceKey", "resourceType", "state", "type", "code", "field", "description"},
		{id(0), "1", "p0", "Product", "imported", "DATA_ERROR", "DISCARDED", "attributes.1", "unknown, \"x\""},
		{id(0), "1", "p0", "Product", "imported", "DATA_ERROR", "TRUNCATED", "", "name cut"},
		{id(1), "2", "p1", "Product", "partiallyImported", "DATA_ERROR", "DISCARDED", "attributes.0", "unknown attribute"},
	}, rows)

	_, body = get(t, srv, "/v1/imports/job-mixed-1", tokenA)
	j := decode[api.Job](t, body)
	require.Len(t, *j.Warnings, 2)
	require.Equal(t, "DISCARDED", (*j.Warnings)[0].Code, "biggest first")
	require.EqualValues(t, 2, (*j.Warnings)[0].Count)
	require.Equal(t, []string{"p0", "p1"}, []string{(*j.Warnings)[0].Examples[0].ResourceKey, (*j.Warnings)[0].Examples[1].ResourceKey})
	require.Equal(t, "TRUNCATED", (*j.Warnings)[1].Code)
	require.Nil(t, (*j.Warnings)[1].Examples[0].Field)

	f.deliver("csv-none-1", "ma", []string{"p1"}, tracking.IngestDone)
	code, body = get(t, srv, "/v1/imports/csv-none-1/warnings.csv", tokenA)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "operationId,line,resourceKey,resourceType,state,type,code,field,description\n", string(body))
	_, body = get(t, srv, "/v1/imports/csv-none-1", tokenA)
	require.Contains(t, string(body), `"warnings":[]`)
	code, body = get(t, srv, "/v1/imports/job-mixed-1/warnings.csv", tokenB)
	require.Equal(t, http.StatusNotFound, code, "another merchant's")
	require.Equal(t, problemKeys, keysOf(t, body))
}

// TestV1Isolation: a merchant's token reaches nothing of another merchant's
// through any route, and without a valid token nothing at all.
func TestV1Isolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	f.deliver("iso-of-a-1", "ma", []string{"p1", "bad-2"}, tracking.IngestDone)
	f.park("iso-of-a-1", 0, "category", "secret-a")
	f.deliver("iso-of-b-1", "mb", []string{"q1"}, tracking.IngestDone)
	opA := tracking.OperationID("ma", "iso-of-a-1", 1).String()
	opUnknown := tracking.OperationID("ma", "iso-of-z-1", 1).String()

	routes := []struct {
		path, unknown string // a's resource, and an unknown one of the same kind
	}{
		{"/import/iso-of-a-1/status", "/import/iso-of-z-1/status"},
		{"/import/iso-of-a-1/summary", "/import/iso-of-z-1/summary"},
		{"/import/iso-of-a-1/p1", "/import/iso-of-z-1/p1"},
		{"/v1/imports/iso-of-a-1", "/v1/imports/iso-of-z-1"},
		{"/v1/imports/iso-of-a-1/operations", "/v1/imports/iso-of-z-1/operations"},
		{"/v1/imports/iso-of-a-1/operations?state=validationFailed", "/v1/imports/iso-of-z-1/operations?state=validationFailed"},
		{"/v1/imports/iso-of-a-1/errors.csv", "/v1/imports/iso-of-z-1/errors.csv"},
		{"/v1/imports/iso-of-a-1/warnings.csv", "/v1/imports/iso-of-z-1/warnings.csv"},
		{"/v1/operations/" + opA, "/v1/operations/" + opUnknown},
		{"/v1/imports", ""},
		{"/v1/imports?reference=erp-iso-of-a-1", ""},
		{"/v1/summary", ""},
		{"/v1/summary?merchantId=ma", ""},
	}
	for _, tt := range routes {
		for _, token := range []string{"", "wrong-token-xxxxxxxx", "Bearer", tokenA + "x"} {
			code, body := get(t, srv, tt.path, token)
			require.Equal(t, http.StatusUnauthorized, code, "%s with %q", tt.path, token)
			require.Equal(t, errorKeys(tt.path), keysOf(t, body), tt.path)
		}
		code, bodyA := get(t, srv, tt.path, tokenA)
		require.Equal(t, http.StatusOK, code, "%s: %s", tt.path, bodyA)
		code, _ = get(t, srv, tt.path, tokenOperator)
		require.Equal(t, http.StatusOK, code, tt.path)

		codeB, bodyB := get(t, srv, tt.path, tokenB)
		if tt.unknown != "" {
			codeU, bodyU := get(t, srv, tt.unknown, tokenB)
			require.Equal(t, http.StatusNotFound, codeB, tt.path)
			require.Equal(t, codeU, codeB, tt.path)
			unknown := strings.NewReplacer("iso-of-z-1", "iso-of-a-1", opUnknown, opA).Replace(string(bodyU))
			require.Equal(t, unknown, string(bodyB), "another merchant's resource looks exactly like an unknown one: %s", tt.path)
		} else {
			require.Equal(t, http.StatusOK, codeB, tt.path)
			require.NotContains(t, string(bodyB), "iso-of-a", tt.path)
			require.NotContains(t, string(bodyB), "secret-a", tt.path)
			require.NotContains(t, string(bodyB), `"ma"`, tt.path)
		}
	}

	// The actions: another merchant's receipt or operation is exactly as
	// unknown as a missing one, and nothing of it changes.
	rejected := tracking.OperationID("ma", "iso-of-a-1", 0).String()
	f.exec(`UPDATE operations SET state = 'rejected', record = '{}' WHERE receipt_id = 'iso-of-a-1' AND seq = 0`)
	actions := []struct{ path, unknown string }{
		{"/v1/imports/iso-of-a-1/cancel", "/v1/imports/iso-of-z-1/cancel"},
		{"/v1/imports/iso-of-a-1/retry", "/v1/imports/iso-of-z-1/retry"},
		{"/v1/operations/" + rejected + "/retry", "/v1/operations/" + opUnknown + "/retry"},
	}
	for _, tt := range actions {
		for _, token := range []string{"", "wrong-token-xxxxxxxx"} {
			code, _ := send(t, srv, http.MethodPost, tt.path, token)
			require.Equal(t, http.StatusUnauthorized, code, "%s with %q", tt.path, token)
		}
		codeB, bodyB := send(t, srv, http.MethodPost, tt.path, tokenB)
		codeU, bodyU := send(t, srv, http.MethodPost, tt.unknown, tokenB)
		require.Equal(t, http.StatusNotFound, codeB, tt.path)
		require.Equal(t, codeU, codeB, tt.path)
		unknown := strings.NewReplacer("iso-of-z-1", "iso-of-a-1", opUnknown, rejected).Replace(string(bodyU))
		require.Equal(t, unknown, string(bodyB), tt.path)
	}
	d, err := f.store.DeliveryGet(context.Background(), "iso-of-a-1")
	require.NoError(t, err)
	require.Nil(t, d.InterruptedAt, "not canceled by another merchant")
	code, body := get(t, srv, "/v1/operations/"+rejected, tokenA)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, tracking.StateRejected, decode[api.OperationView](t, body).State, "not retried by another merchant")
	// Its own merchant may.
	code, body = send(t, srv, http.MethodPost, "/v1/operations/"+rejected+"/retry", tokenA)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, tracking.StateProcessing, decode[api.OperationView](t, body).State)

	_, body = get(t, srv, "/v1/imports", tokenB)
	page := decode[api.Page[api.Job]](t, body)
	require.Len(t, page.Items, 1)
	require.Equal(t, "iso-of-b-1", page.Items[0].ReceiptID)
	_, body = get(t, srv, "/v1/summary", tokenB)
	ov := decode[api.Overview](t, body)
	require.EqualValues(t, 1, ov.Total.Deliveries)
	require.EqualValues(t, 1, ov.Total.Operations.Processing)
}

// TestV1Expired: a delivery past its expiry is not found anywhere, by the
// store's clock.
func TestV1Expired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.deliver("exp-old-1", "ma", []string{"p1", "bad-2"}, tracking.IngestDone)
	later, err := tracking.NewStore(f.store.Pool(), tracking.StoreConfig{Now: func() time.Time { return time.Now().Add(49 * time.Hour) }})
	require.NoError(t, err)
	srv := v1Server(later)
	now := v1Server(f.store)
	op := "/v1/operations/" + tracking.OperationID("ma", "exp-old-1", 1).String()
	for _, path := range []string{"/v1/imports/exp-old-1", "/v1/imports/exp-old-1/operations", "/v1/imports/exp-old-1/errors.csv", op,
		"/import/exp-old-1/status"} {
		code, _ := get(t, now, path, tokenA)
		require.Equal(t, http.StatusOK, code, path)
		code, body := get(t, srv, path, tokenA)
		require.Equal(t, http.StatusNotFound, code, path)
		require.Equal(t, errorKeys(path), keysOf(t, body), path)
	}
	code, body := get(t, srv, "/v1/imports", tokenOperator)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"items":[],"nextCursor":null}`, string(body))
	_, body = get(t, srv, "/v1/summary", tokenOperator)
	require.EqualValues(t, 0, decode[api.Overview](t, body).Total.Deliveries)
	require.Empty(t, decode[api.Overview](t, body).Merchants)
	_, body = get(t, now, "/v1/summary", tokenOperator)
	require.EqualValues(t, 1, decode[api.Overview](t, body).Total.Deliveries)
}

func ptr[T any](v T) *T { return &v }
