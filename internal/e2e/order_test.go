package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/tracking"
)

// namedProduct is a product whose name is name.
func namedProduct(key, name, productType string, categories ...string) string {
	cats := make([]string, len(categories))
	for i, c := range categories {
		cats[i] = fmt.Sprintf(`{"key":%q}`, c)
	}
	return fmt.Sprintf(`{"key":%q,"productType":{"key":%q},"name":{"en":%q},"slug":{"en":%q},"categories":[%s],"masterVariant":{"sku":"sku-%s"}}`,
		key, productType, name, key, strings.Join(cats, ","), key)
}

// catalogName is the English name of a product in the catalog.
func (e *env) catalogName(merchant, key string) string {
	e.t.Helper()
	data, found, err := catalog.NewStore(e.pool).Get(context.Background(), merchant, catalog.Product, key)
	require.NoError(e.t, err)
	require.True(e.t, found, "product %s", key)
	var p struct {
		Name map[string]string `json:"name"`
	}
	require.NoError(e.t, json.Unmarshal(data, &p))
	return p.Name["en"]
}

// requireSuperseded checks that the operation of key in receipt ended
// imported, superseded by delivery newer, and that its last event says so.
func (e *env) requireSuperseded(receipt, key, newer string) {
	e.t.Helper()
	e.waitState(receipt, key, "imported", time.Minute)
	var warnings []catalog.Error
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT coalesce(warnings, '[]') FROM operations WHERE receipt_id = $1 AND resource_key = $2`,
		receipt, key).Scan(&warnings))
	require.Len(e.t, warnings, 1)
	require.Equal(e.t, catalog.CodeSuperseded, warnings[0].Code)
	require.Contains(e.t, warnings[0].Description, newer)
	h := e.events(receipt, key)
	require.Equal(e.t, int(tracking.CodeImportSuperseded), h[len(h)-1], "%v", h)
	require.NotContains(e.t, h, int(tracking.CodeImported), "never applied")
}

// TestParkedOlderRecordDoesNotOverwrite: a product parked on a missing
// category is released after a later delivery of the same product was
// imported; the catalog keeps the later one's data.
func TestParkedOlderRecordDoesNotOverwrite(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	e.deliver("m1", "ord-types", catalog.ProductType, productType("ord-type"))
	e.waitState("ord-types", "ord-type", "imported", time.Minute)

	e.deliver("m1", "ord-delivery-1", catalog.Product, namedProduct("px1", "old", "ord-type", "ord-late"))
	e.waitState("ord-delivery-1", "px1", "unresolved", time.Minute)
	e.deliver("m1", "ord-delivery-2", catalog.Product, namedProduct("px1", "new", "ord-type"))
	e.waitState("ord-delivery-2", "px1", "imported", time.Minute)
	require.Equal(t, "new", e.catalogName("m1", "px1"))

	e.deliver("m1", "ord-categories", catalog.Category, category("ord-late", ""))
	e.requireSuperseded("ord-delivery-1", "px1", "ord-delivery-2")
	require.Equal(t, "new", e.catalogName("m1", "px1"))
	require.Eventually(t, func() bool { return e.statusName("ord-delivery-1") == "CompletedSuccessfully" }, time.Minute, 10*time.Millisecond)
	require.Equal(t, tracking.ProductCounts{Successful: 1}, e.status("ord-delivery-1").Products)
}

// holdBack is the PostgreSQL catalog, but it fails every batch holding the
// first record of delivery hold (transiently) until one holding the first
// record of delivery until was applied.
type holdBack struct {
	*catalog.Store
	hold, until string
	done        atomic.Bool
}

func (h *holdBack) ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	of := func(receipt string) func(catalog.ApplyRecord) bool {
		id := tracking.OperationID(merchant, receipt, 0).String()
		return func(r catalog.ApplyRecord) bool { return r.OpID == id }
	}
	if !h.done.Load() && slices.ContainsFunc(recs, of(h.hold)) {
		return nil, fmt.Errorf("held back: %w", catalog.ErrTransient)
	}
	res, err := h.Store.ApplyTx(ctx, tx, merchant, recs)
	if err == nil && slices.ContainsFunc(recs, of(h.until)) {
		h.done.Store(true)
	}
	return res, err
}

// TestOlderDeliveryAppliedLast: two deliveries of the same product race
// through the importer and the later one is applied first (the earlier one
// is retried): the catalog keeps the later one, the earlier one is
// superseded.
func TestOlderDeliveryAppliedLast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target := &holdBack{Store: catalog.NewStore(e.pool), hold: "race-delivery-1", until: "race-delivery-2"}
	e.startIngest()
	e.startResolver(noSweep)
	e.startImporter(importer.Config{Target: target, RetryWindow: 10 * time.Second})
	e.deliver("m1", "race-types", catalog.ProductType, productType("race-type"))
	e.waitState("race-types", "race-type", "imported", time.Minute)

	e.deliver("m1", "race-delivery-1", catalog.Product, namedProduct("px2", "old", "race-type"))
	require.Eventually(t, func() bool {
		return slices.Contains(e.events("race-delivery-1", "px2"), int(tracking.CodeImportAttemptFailed))
	}, time.Minute, 10*time.Millisecond)
	e.deliver("m1", "race-delivery-2", catalog.Product, namedProduct("px2", "new", "race-type"))
	e.waitState("race-delivery-2", "px2", "imported", time.Minute)
	e.requireSuperseded("race-delivery-1", "px2", "race-delivery-2")
	require.Equal(t, "new", e.catalogName("m1", "px2"))
}
