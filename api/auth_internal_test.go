package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// TestAuthorizationFailsClosed: a handler reached without authentication
// sees nothing, where it used to see everything as an operator.
func TestAuthorizationFailsClosed(t *testing.T) {
	t.Parallel()
	require.NotEqual(t, tracking.Operator, scopeOf(context.Background()))
	require.False(t, bus.ValidMerchant(scopeOf(context.Background())), "no merchant's scope either")

	store, err := tracking.NewStore(testenv.DB(t), tracking.StoreConfig{})
	require.NoError(t, err)
	ctx := context.Background()
	_, _, err = store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: "closed-0001", MerchantID: "m1", AcceptedAt: time.Now(),
		Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "TEST:closed-0001"})
	require.NoError(t, err)
	s := NewServer(store, ServerConfig{}, nil)

	// The handlers themselves, mounted on a bare mux: no authentication.
	bare := http.NewServeMux()
	bare.HandleFunc("GET /import/{receiptId}/status", s.status)
	bare.HandleFunc("GET /v1/imports", s.v1Jobs)
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/import/closed-0001/status", nil))
	require.Equal(t, http.StatusNotFound, rec.Code, "%s", rec.Body)
	rec = httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/imports", nil))
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	require.NotContains(t, rec.Body.String(), "closed-0001")

	// Through the service (dev mode, no tokens) an operator sees it.
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/import/closed-0001/status", nil))
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)

	// Handle mounts behind the same authentication.
	withTokens := NewServer(store, ServerConfig{Tokens: NewTokens(map[string]string{"token-of-merchant-m1": "m1"})}, nil)
	withTokens.Handle("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(scopeOf(r.Context())))
	}))
	rec = httptest.NewRecorder()
	withTokens.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/extra", nil))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
}
