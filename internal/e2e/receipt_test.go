package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// statusOf is the status of merchant's delivery with this receipt, "" while
// it is unknown.
func (e *env) statusOf(merchant, receipt string) string {
	d, err := e.store.DeliveryFind(context.Background(), merchant, receipt)
	if err != nil {
		return ""
	}
	st, err := e.store.Status(context.Background(), &d)
	if err != nil {
		return ""
	}
	return st.Status
}

// ingestDrained waits until ingest has handled every delivery message.
func (e *env) ingestDrained() {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		c, err := e.js.Consumer(context.Background(), bus.StreamDeliveries, bus.ConsumerIngest)
		if err != nil {
			return false
		}
		ci, err := c.Info(context.Background())
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	}, 30*time.Second, 20*time.Millisecond)
}

// eventsOn counts the messages IMPORT_EVENTS holds on a subject.
func (e *env) eventsOn(subject string) uint64 {
	s, err := e.js.Stream(context.Background(), bus.StreamEvents)
	require.NoError(e.t, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	require.NoError(e.t, err)
	return info.State.Subjects[subject]
}

// TestSameReceiptTwoMerchants: two merchants publish under one receipt, raw
// on NATS as the contract says (Nats-Msg-Id is the receipt). Both
// deliveries complete, each with its own records, operations and events;
// each merchant's token finds its own, an operator's is asked to choose. A
// merchant publishing its receipt again is a no-op.
func TestSameReceiptTwoMerchants(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	ctx := context.Background()
	const receipt = "erp-batch-0001"
	e.deliver("ma", receipt, catalog.ProductType, productType("rc-type-a1"), productType("rc-type-a2"))
	// At once: JetStream does not dedupe IMPORT_DELIVERIES, whose window
	// would span every merchant.
	e.deliver("mb", receipt, catalog.ProductType, productType("rc-type-b1"))
	for _, m := range []string{"ma", "mb"} {
		require.Eventually(t, func() bool { return e.statusOf(m, receipt) == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond, m)
	}
	cat := catalog.NewStore(e.pool)
	for _, c := range []struct {
		merchant, key string
		found         bool
	}{{"ma", "rc-type-a1", true}, {"ma", "rc-type-a2", true}, {"ma", "rc-type-b1", false}, {"mb", "rc-type-b1", true}, {"mb", "rc-type-a1", false}} {
		_, found, err := cat.Get(ctx, c.merchant, catalog.ProductType, c.key)
		require.NoError(t, err)
		require.Equal(t, c.found, found, "%s of %s", c.key, c.merchant)
	}
	var ops, ids int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM operations WHERE receipt_id = $1`, receipt).Scan(&ops, &ids))
	require.Equal(t, 3, ops)
	require.Equal(t, 3, ids, "operation ids differ by merchant")
	for _, m := range []string{"ma", "mb"} {
		for _, ev := range []bus.DeliveryEvent{bus.DeliveryAccepted, bus.DeliveryCompleted} {
			subject := bus.EventSubject(m, receipt, ev)
			require.Eventually(t, func() bool { return e.eventsOn(subject) == 1 }, 10*time.Second, 20*time.Millisecond, subject)
		}
	}

	// Over HTTP each merchant's token finds its own delivery.
	const tokenA, tokenB, tokenOp = "token-of-merchant-a", "token-of-merchant-b", "token-of-the-operator"
	srv := api.NewServer(e.store, api.ServerConfig{
		Tokens: api.NewTokens(map[string]string{tokenA: "ma", tokenB: "mb", tokenOp: tracking.Operator}),
	}, nil)
	status := func(path, token string) (int, tracking.StatusBody, string) {
		req, err := http.NewRequest(http.MethodGet, path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var st tracking.StatusBody
		_ = json.Unmarshal(rec.Body.Bytes(), &st)
		return rec.Code, st, rec.Body.String()
	}
	for m, token := range map[string]string{"ma": tokenA, "mb": tokenB} {
		code, st, body := status("/import/"+receipt+"/status", token)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, m, st.Delivery.MerchantID)
		require.Equal(t, "CompletedSuccessfully", st.Status)
	}
	code, _, body := status("/import/"+receipt+"/status", tokenOp)
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "ma, mb")
	code, st, body := status("/import/"+receipt+"/status?merchantId=mb", tokenOp)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "mb", st.Delivery.MerchantID)
	require.EqualValues(t, 1, st.Products.Successful)

	// The same merchant's receipt again, with other records: a no-op.
	e.deliver("ma", receipt, catalog.ProductType, productType("rc-type-a3"))
	e.ingestDrained()
	var deliveries int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE receipt_id = $1`, receipt).Scan(&deliveries))
	require.Equal(t, 2, deliveries)
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE receipt_id = $1`, receipt).Scan(&ops))
	require.Equal(t, 3, ops)
	_, found, err := cat.Get(ctx, "ma", catalog.ProductType, "rc-type-a3")
	require.NoError(t, err)
	require.False(t, found)

	// importd's own publishers name the merchant in Nats-Msg-Id: two
	// merchants' receipts published at once are both kept.
	for _, m := range []string{"mc", "md"} {
		pub, err := bus.PublishDelivery(ctx, e.js, bus.Delivery{Merchant: m, Receipt: "erp-batch-0002", Data: "ProductType"},
			strings.NewReader(productType("rc-type-"+m)))
		require.NoError(t, err)
		require.False(t, pub.Duplicate, m)
	}
	for _, m := range []string{"mc", "md"} {
		require.Eventually(t, func() bool { return e.statusOf(m, "erp-batch-0002") == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond, m)
	}
}

// TestSubmitDuplicatePerMerchant: POST /v1/imports says "duplicate" when
// the merchant's own receipt is known, never because another merchant used
// it.
func TestSubmitDuplicatePerMerchant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngestWith(ingest.Config{MaxInFlight: -1})
	const tokenA, tokenB = "token-of-merchant-a", "token-of-merchant-b"
	srv := api.NewServer(e.store, api.ServerConfig{
		JS:     e.js,
		Tokens: api.NewTokens(map[string]string{tokenA: "ma", tokenB: "mb"}),
	}, nil)
	post := func(token string, msgID ...string) bool {
		id := "http-shared-1"
		if len(msgID) > 0 {
			id = msgID[0]
		}
		body := productType("dup-type")
		code, _, out := submit(t, srv, "", token, map[string]string{bus.HeaderMsgID: id, bus.HeaderData: "ProductType"},
			strings.NewReader(body), int64(len(body)))
		require.Equal(t, http.StatusAccepted, code, "%s", out)
		var res struct {
			Duplicate bool `json:"duplicate"`
		}
		require.NoError(t, json.Unmarshal(out, &res))
		return res.Duplicate
	}
	require.False(t, post(tokenA))
	require.Eventually(t, func() bool { return e.statusOf("ma", "http-shared-1") == "Queued" }, 30*time.Second, 10*time.Millisecond)
	require.False(t, post(tokenB), "another merchant's receipt is not this merchant's duplicate")
	require.Eventually(t, func() bool { return e.statusOf("mb", "http-shared-1") == "Queued" }, 30*time.Second, 10*time.Millisecond)
	require.True(t, post(tokenA))
	require.True(t, post(tokenB))
	require.True(t, post(tokenA, bus.DeliveryID("ma", "http-shared-1")), "the form importd's publishers use names the same receipt")
}
