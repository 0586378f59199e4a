package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

// TestReceiptOfTwoMerchants: two merchants' deliveries under one receipt are
// two deliveries; each merchant's token finds its own, an operator's token
// is told the receipt is ambiguous and chooses with ?merchantId=.
func TestReceiptOfTwoMerchants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := v1Server(f.store)
	const receipt = "shared-rcpt-1"
	f.deliver(receipt, "ma", []string{"a1", "bad-a2"}, tracking.IngestDone)
	f.deliver(receipt, "mb", []string{"b1"}, tracking.IngestDone)

	routes := []struct {
		path string
		own  map[string]string // what each merchant's answer holds
	}{
		{"/import/" + receipt + "/status", map[string]string{"ma": `"MerchantId":"ma"`, "mb": `"MerchantId":"mb"`}},
		{"/import/" + receipt + "/summary", map[string]string{"ma": `"bad-a2"`, "mb": `"b1"`}},
		{"/v1/imports/" + receipt, map[string]string{"ma": `"merchantId":"ma"`, "mb": `"merchantId":"mb"`}},
		{"/v1/imports/" + receipt + "/operations", map[string]string{"ma": `"resourceKey":"a1"`, "mb": `"resourceKey":"b1"`}},
		{"/v1/imports/" + receipt + "/errors.csv", map[string]string{"ma": "bad-a2", "mb": ""}},
	}
	tokens := map[string]string{"ma": tokenA, "mb": tokenB}
	for _, tt := range routes {
		for m, token := range tokens {
			code, body := get(t, srv, tt.path, token)
			require.Equal(t, http.StatusOK, code, "%s as %s: %s", tt.path, m, body)
			require.Contains(t, string(body), tt.own[m], "%s as %s", tt.path, m)
			other := map[string]string{"ma": "mb", "mb": "ma"}[m]
			if tt.own[other] != "" {
				require.NotContains(t, string(body), tt.own[other], "%s as %s", tt.path, m)
			}
			code, _ = get(t, srv, tt.path+sep(tt.path)+"merchantId="+other, token)
			require.Equal(t, http.StatusNotFound, code, "%s as %s asking for %s", tt.path, m, other)
		}
		code, body := get(t, srv, tt.path, tokenOperator)
		require.Equal(t, http.StatusConflict, code, "%s as the operator: %s", tt.path, body)
		var conflict struct {
			Error     string   `json:"error"`
			Merchants []string `json:"merchants"`
		}
		require.NoError(t, json.Unmarshal(body, &conflict))
		require.Equal(t, []string{"ma", "mb"}, conflict.Merchants)
		require.Contains(t, conflict.Error, "ma, mb")
		require.Contains(t, conflict.Error, "?merchantId=")
		for m := range tokens {
			code, body := get(t, srv, tt.path+sep(tt.path)+"merchantId="+m, tokenOperator)
			require.Equal(t, http.StatusOK, code, "%s as the operator for %s: %s", tt.path, m, body)
			require.Contains(t, string(body), tt.own[m])
		}
		code, _ = get(t, srv, tt.path+sep(tt.path)+"merchantId=mz", tokenOperator)
		require.Equal(t, http.StatusNotFound, code, tt.path)
	}

	// A record's history: the receipt of each merchant holds its own records.
	code, _ := get(t, srv, "/import/"+receipt+"/a1", tokenA)
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv, "/import/"+receipt+"/a1", tokenB)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = get(t, srv, "/import/"+receipt+"/b1", tokenB)
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv, "/import/"+receipt+"/b1", tokenOperator)
	require.Equal(t, http.StatusConflict, code)
	code, _ = get(t, srv, "/import/"+receipt+"/b1?merchantId=mb", tokenOperator)
	require.Equal(t, http.StatusOK, code)

	// Operation ids differ by merchant.
	opA, opB := tracking.OperationID("ma", receipt, 0).String(), tracking.OperationID("mb", receipt, 0).String()
	require.NotEqual(t, opA, opB)
	code, body := get(t, srv, "/v1/operations/"+opB, tokenB)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"resourceKey":"b1"`)
	code, _ = get(t, srv, "/v1/operations/"+opB, tokenA)
	require.Equal(t, http.StatusNotFound, code)

	// An action acts on one merchant's delivery only.
	code, body = send(t, srv, http.MethodPost, "/v1/imports/"+receipt+"/cancel", tokenOperator)
	require.Equal(t, http.StatusConflict, code, "%s", body)
	code, body = send(t, srv, http.MethodPost, "/v1/imports/"+receipt+"/cancel?merchantId=mb", tokenOperator)
	require.Equal(t, http.StatusOK, code, "%s", body)
	b, err := f.store.DeliveryFind(context.Background(), "mb", receipt)
	require.NoError(t, err)
	require.NotNil(t, b.InterruptedAt)
	a, err := f.store.DeliveryFind(context.Background(), "ma", receipt)
	require.NoError(t, err)
	require.Nil(t, a.InterruptedAt, "another merchant's delivery under the same receipt is untouched")
	_, err = f.store.DeliveryGet(context.Background(), receipt)
	require.ErrorIs(t, err, tracking.ErrAmbiguous)
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// TestDeliveryBeginPerMerchant: a receipt is deduplicated per merchant, and
// two merchants' deliveries accepted at the same instant still get
// identities of their own.
func TestDeliveryBeginPerMerchant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Microsecond)
	begin := func(merchant, source string) (tracking.Delivery, bool) {
		d, created, err := f.store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: "same-instant-1", MerchantID: merchant, AcceptedAt: at,
			Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: source})
		require.NoError(t, err)
		return d, created
	}
	a, created := begin("ma", "TEST:1")
	require.True(t, created)
	require.Equal(t, at, a.AcceptedAt)
	b, created := begin("mb", "TEST:2")
	require.True(t, created, "another merchant's receipt is another delivery")
	require.Equal(t, at.Add(time.Microsecond), b.AcceptedAt, "moved on: (receipt, accepted_at) identifies a delivery's rows")
	again, created := begin("ma", "TEST:3")
	require.False(t, created, "the merchant's own receipt again is the same delivery")
	require.Equal(t, a.AcceptedAt, again.AcceptedAt)
	require.Equal(t, "TEST:1", again.Source)

	got, err := f.store.DeliveryFind(ctx, "mb", "same-instant-1")
	require.NoError(t, err)
	require.Equal(t, "TEST:2", got.Source)
	_, err = f.store.DeliveryFind(ctx, "mc", "same-instant-1")
	require.ErrorIs(t, err, tracking.ErrNotFound)
	_, err = f.store.DeliveryFind(ctx, "", "same-instant-1")
	var amb *tracking.AmbiguousError
	require.ErrorAs(t, err, &amb)
	require.Equal(t, []string{"ma", "mb"}, amb.Merchants)
}
