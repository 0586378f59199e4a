package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// withSweep resolves with a fast sweep: it is what cancels the rest of a
// delivery the error threshold interrupted.
var withSweep = resolver.Config{SweepInterval: 100 * time.Millisecond}

func post(t *testing.T, srv http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, body
}

// count returns how many operations of a delivery are in state.
func (e *env) count(receipt, state string) int {
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM operations WHERE receipt_id = $1 AND state = $2`, receipt, state).Scan(&n))
	return n
}

func (e *env) parked(receipt string) int {
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM parked_refs WHERE receipt_id = $1`, receipt).Scan(&n))
	return n
}

func (e *env) delivery(receipt string) tracking.Delivery {
	d, err := e.store.DeliveryGet(context.Background(), receipt)
	require.NoError(e.t, err)
	return d
}

func TestErrorThresholdCancelsTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(withSweep)
	e.startImporter(importer.Config{})
	e.deliver("m1", "thr-types", catalog.ProductType,
		`{"key":"thr-type","name":"T","attributes":[{"name":"color","type":"text","isRequired":true}]}`)
	e.waitKnown("m1", "product-type", "thr-type")

	// 17 products park on a category that does not exist yet; 3 lack the
	// required attribute and are refused by the catalog: 3 of 20 = 15%.
	var recs []string
	for i := range 17 {
		recs = append(recs, fmt.Sprintf(`{"key":"thr-p%d","productType":{"key":"thr-type"},"name":{"en":"P"},"slug":{"en":"thr-p%d"},"categories":[{"key":"thr-later"}],"masterVariant":{"sku":"thr-s%d","attributes":[{"name":"color","value":"red"}]}}`, i, i, i))
	}
	for i := range 3 {
		recs = append(recs, fmt.Sprintf(`{"key":"thr-bad%d","productType":{"key":"thr-type"},"name":{"en":"P"},"slug":{"en":"thr-bad%d"},"masterVariant":{"sku":"thr-b%d"}}`, i, i, i))
	}
	e.deliver("m1", "thr-products", catalog.Product, recs...)
	require.Eventually(t, func() bool { return e.statusName("thr-products") == "CompletedWithErrors" }, time.Minute, 20*time.Millisecond)

	d := e.delivery("thr-products")
	require.NotNil(t, d.InterruptedAt, "interrupted by the threshold")
	require.Equal(t, 3, e.count("thr-products", "validationFailed"))
	require.Equal(t, 17, e.count("thr-products", "canceled"))
	require.Zero(t, e.parked("thr-products"), "canceled operations are unparked for good")
	o, _ := e.op("thr-products", "thr-p0")
	require.Equal(t, tracking.CodeCanceledError, o.Errors[0].Code)
	h := e.events("thr-products", "thr-p0")
	require.Equal(t, int(tracking.CodeCanceled), h[len(h)-1], "%v", h)
	require.Equal(t, tracking.ProductCounts{Failed: 20}, e.status("thr-products").Products)

	// The category arrives: canceled operations stay canceled.
	e.deliver("m1", "thr-cats", catalog.Category, category("thr-later", ""))
	e.waitState("thr-cats", "thr-later", "imported", time.Minute)
	time.Sleep(500 * time.Millisecond) // a release or a sweep would act now
	require.Equal(t, 17, e.count("thr-products", "canceled"))
	require.Equal(t, []int{int(tracking.CodeCanceled)}, tail(e.events("thr-products", "thr-p5"), 1))
}

func tail(s []int, n int) []int { return s[len(s)-n:] }

func TestCancelOnRequest(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js}, nil)
	e.deliver("m1", "cxl-types", catalog.ProductType, productType("cxl-type"))
	e.waitState("cxl-types", "cxl-type", "imported", time.Minute)
	var recs []string
	for i := range 30 {
		recs = append(recs, product(fmt.Sprintf("cxl-p%d", i), "cxl-type", "cxl-missing"))
	}
	e.deliver("m1", "cxl-products", catalog.Product, recs...)
	require.Eventually(t, func() bool { return e.count("cxl-products", "unresolved") == 30 }, time.Minute, 20*time.Millisecond)

	code, body := post(t, srv, "/v1/imports/cxl-products/cancel")
	require.Equal(t, http.StatusOK, code, "%s", body)
	var job map[string]any
	require.NoError(t, json.Unmarshal(body, &job))
	require.Equal(t, "interrupted", job["status"], "%s", body)
	require.Equal(t, 30, e.count("cxl-products", "canceled"))
	require.Zero(t, e.parked("cxl-products"))
	st := e.status("cxl-products")
	require.Equal(t, "CompletedWithErrors", st.Status)
	require.Equal(t, tracking.ProductCounts{Failed: 30}, st.Products)
	d := e.delivery("cxl-products")
	require.NotNil(t, d.InterruptedAt)
	require.NotNil(t, d.CompletedAt)

	// Again: idempotent.
	code, _ = post(t, srv, "/v1/imports/cxl-products/cancel")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 30, e.count("cxl-products", "canceled"))
	// A completed delivery cannot be canceled; an unknown one is a 404.
	code, body = post(t, srv, "/v1/imports/cxl-types/cancel")
	require.Equal(t, http.StatusConflict, code, "%s", body)
	code, _ = post(t, srv, "/v1/imports/no-such-receipt/cancel")
	require.Equal(t, http.StatusNotFound, code)
	// Retrying an interrupted delivery is refused.
	code, body = post(t, srv, "/v1/imports/cxl-products/retry")
	require.Equal(t, http.StatusConflict, code, "%s", body)
}

func TestRetryRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The target fails five times, then works: rejected, then imported on retry.
	faulty := &catalog.Faulty{Target: catalog.NewStore(e.pool), FailFirst: importer.MaxAttempts}
	e.startIngest()
	e.startResolver(noSweep)
	e.startImporter(importer.Config{Target: faulty})
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js}, nil)
	e.deliver("m1", "rty-types", catalog.ProductType, productType("rty-type"))
	e.waitState("rty-types", "rty-type", "rejected", time.Minute)
	require.Eventually(t, func() bool { return e.statusName("rty-types") == "CompletedWithErrors" }, 10*time.Second, 10*time.Millisecond)

	id := tracking.OperationID("m1", "rty-types", 0).String()
	code, body := post(t, srv, "/v1/operations/"+id+"/retry")
	require.Equal(t, http.StatusOK, code, "%s", body)
	e.waitState("rty-types", "rty-type", "imported", time.Minute)
	require.Eventually(t, func() bool { return e.statusName("rty-types") == "CompletedSuccessfully" }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, importer.MaxAttempts+1, faulty.Calls())
	h := e.events("rty-types", "rty-type")
	require.Equal(t, []int{int(tracking.CodeRejected), int(tracking.CodeRetryRequested), int(tracking.CodeImported)}, tail(h, 3))
	var retries int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT retry_count FROM operations WHERE receipt_id = 'rty-types'`).Scan(&retries))
	require.Zero(t, retries, "a fresh budget: the retry succeeded at its first attempt")

	// Now imported: retrying it again is a 409 naming the state; the delivery has nothing to retry.
	code, body = post(t, srv, "/v1/operations/"+id+"/retry")
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, string(body), "imported")
	code, _ = post(t, srv, "/v1/imports/rty-types/retry")
	require.Equal(t, http.StatusConflict, code)
	code, _ = post(t, srv, "/v1/operations/not-a-uuid/retry")
	require.Equal(t, http.StatusNotFound, code)
}

func TestRetryDeliveryGetsFreshBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	faulty := &catalog.Faulty{Target: catalog.NewStore(e.pool), FailAlways: true}
	e.startIngest()
	e.startResolver(noSweep)
	e.startImporter(importer.Config{Target: faulty})
	srv := api.NewServer(e.store, api.ServerConfig{JS: e.js}, nil)
	e.deliver("m1", "rtd-types", catalog.ProductType, productType("rtd-a"), productType("rtd-b"))
	e.waitState("rtd-types", "rtd-a", "rejected", time.Minute)
	e.waitState("rtd-types", "rtd-b", "rejected", time.Minute)

	code, body := post(t, srv, "/v1/imports/rtd-types/retry")
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.JSONEq(t, `{"retried":2}`, string(body))
	// Still failing: five more attempts each, then rejected again; never a sixth.
	require.Eventually(t, func() bool {
		return e.count("rtd-types", "rejected") == 2 && e.statusName("rtd-types") == "CompletedWithErrors"
	},
		time.Minute, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	attempts := 0
	for _, c := range e.events("rtd-types", "rtd-a") {
		if c == int(tracking.CodeImportAttemptFailed) {
			attempts++
		}
	}
	require.Equal(t, 2*importer.MaxAttempts, attempts, "five attempts, and five more after the retry")
}
