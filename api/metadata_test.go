package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/tracking"
)

// deliverWith stores a delivery with metadata md, ingested with no record.
func (f *fixture) deliverWith(receipt, merchant string, at time.Time, md map[string]string) {
	ctx := context.Background()
	d, created, err := f.store.DeliveryBegin(ctx, tracking.Delivery{
		ReceiptID: receipt, MerchantID: merchant, AcceptedAt: at, Data: "Product", Format: "ndjson",
		ContractVersion: "1.0", Source: "TEST:" + receipt, Metadata: md,
	})
	require.NoError(f.t, err)
	require.True(f.t, created)
	require.NoError(f.t, f.store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 0))
}

// TestV1ImportsMetadata: the job object carries a delivery's metadata ({}
// for none), the /status body too (left out for none), and
// metadata[key]=value filters, several pairs AND-ed, a page at a time as
// without them; malformed filters are 400 problems.
func TestV1ImportsMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 7 {
		md := map[string]string{"batch": fmt.Sprintf("b%d", i%2), "erp": "sap"}
		if i == 3 {
			md["order-id"] = "A 1/é"
		}
		// Three accepted at the same instant: the cursor's tie-break.
		f.deliverWith(fmt.Sprintf("meta-a-%02d", i), "ma", base.Add(time.Duration(min(i, 4))*time.Minute), md)
	}
	f.deliverWith("meta-a-none", "ma", base.Add(-time.Minute), nil)
	f.deliverWith("meta-b-00", "mb", base.Add(90*time.Second), map[string]string{"batch": "b0", "erp": "sap"})

	code, body := get(t, srv, "/v1/imports/meta-a-03", tokenA)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, map[string]string{"batch": "b1", "erp": "sap", "order-id": "A 1/é"}, decode[api.Job](t, body).Metadata)
	code, body = get(t, srv, "/v1/imports/meta-a-none", tokenA)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"metadata":{}`)

	code, body = get(t, srv, "/import/meta-a-03/status", tokenA)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, map[string]string{"batch": "b1", "erp": "sap", "order-id": "A 1/é"}, decode[tracking.StatusBody](t, body).Delivery.Metadata)
	_, body = get(t, srv, "/import/meta-a-none/status", tokenA)
	require.NotContains(t, string(body), "Metadata")

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
		{"one pair", "&metadata[batch]=b0", tokenA, []string{"meta-a-04", "meta-a-06", "meta-a-02", "meta-a-00"}},
		{"two pairs", "&metadata[batch]=b1&metadata[erp]=sap", tokenA, []string{"meta-a-05", "meta-a-03", "meta-a-01"}},
		{"key in any case", "&metadata[BATCH]=b1&metadata[Order-Id]=" + url.QueryEscape("A 1/é"), tokenA, []string{"meta-a-03"}},
		{"a value is exact", "&metadata[batch]=B1", tokenA, []string{}},
		{"pairs no delivery has together", "&metadata[batch]=b0&metadata[order-id]=" + url.QueryEscape("A 1/é"), tokenA, []string{}},
		{"a merchant sees its own", "&metadata[batch]=b0", tokenB, []string{"meta-b-00"}},
		{"an operator sees all", "&metadata[batch]=b0", tokenOperator, []string{"meta-a-04", "meta-a-06", "meta-a-02", "meta-b-00", "meta-a-00"}},
		{"with the other filters", "&metadata[erp]=sap&status=completed&createdTo=" + url.QueryEscape(base.Add(time.Minute).Format(time.RFC3339)),
			tokenA, []string{"meta-a-00"}},
	} {
		for _, limit := range []int{1, 2, 50} {
			require.Equal(t, tt.want, walk(tt.query, tt.token, limit), "%s, limit %d", tt.name, limit)
		}
	}

	for _, tt := range []struct{ query, detail string }{
		{"metadata=x", `"metadata": a metadata filter is written metadata[key]=value`},
		{"metadata[batch=x", `"metadata[batch": a metadata filter is written metadata[key]=value`},
		{"metadata[a.b]=x", `metadata key "a.b" does not match ^[A-Za-z0-9_-]{1,64}$`},
		{"metadata[]=x", `metadata key "" does not match ^[A-Za-z0-9_-]{1,64}$`},
		{"metadata[batch]=x&metadata[batch]=y", `metadata key "batch" is given more than once`},
		{"metadata[batch]=x&metadata[BATCH]=y", `metadata key "batch" is given more than once`},
		{"metadata[batch]=" + strings.Repeat("v", 257), `metadata "batch" is not UTF-8 text of at most 256 bytes`},
	} {
		code, body := get(t, srv, "/v1/imports?"+tt.query, tokenA)
		require.Equal(t, http.StatusBadRequest, code, tt.query)
		requireProblem(t, http.StatusBadRequest, tt.detail, body)
	}
}
