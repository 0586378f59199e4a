package resolver

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/tracking"
)

// The parked gauge counts the operations parked now, per state, from the
// deliveries' counters, and follows a release.
func TestParkedGauge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, pool, stored := testResolver(t)
	w.cfg.ParkedInterval = 20 * time.Millisecond
	_, err := pool.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key, exists) VALUES ('m1', 'product-type', 'pt', true)`)
	require.NoError(t, err)

	variant := stored("parked-variant", catalog.ProductVariant, "chair-1", `{"sku":"chair-1","product":{"key":"chair"}}`)
	out, err := w.resolveBatch(ctx, catalog.ProductVariant, variant)
	require.NoError(t, err)
	require.Empty(t, out)
	product := stored("parked-product", catalog.Product, "sofa", `{"key":"sofa","productType":{"key":"pt"},"name":{"en":"Sofa"},"slug":{"en":"sofa"}}`)
	out, err = w.resolveBatch(ctx, catalog.Product, product)
	require.NoError(t, err)
	require.Empty(t, out, "the product waits for its master variant")

	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.parkedLoop(lctx); close(done) }()
	defer func() { stop(); <-done }()
	parked := func(state tracking.State) float64 {
		return testutil.ToFloat64(parkedGauge.WithLabelValues(string(state)))
	}
	require.Eventually(t, func() bool {
		return parked(tracking.StateUnresolved) == 1 && parked(tracking.StateWaitForMasterVariant) == 1
	}, 10*time.Second, 10*time.Millisecond)

	_, err = pool.Exec(ctx, `INSERT INTO catalog_products (merchant_id, key, product_type_key, data) VALUES ('m1', 'chair', 'pt', '{"key":"chair"}')`)
	require.NoError(t, err)
	w.lookAgain(ctx, "m1", []catalog.Reference{{TypeID: catalog.Product.TypeID(), Key: "chair"}})
	require.Eventually(t, func() bool {
		return parked(tracking.StateUnresolved) == 0 && parked(tracking.StateWaitForMasterVariant) == 1
	}, 10*time.Second, 10*time.Millisecond, "released, no longer parked")
}
