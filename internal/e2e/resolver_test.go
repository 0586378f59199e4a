package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// noSweep disables the sweep, to prove the event-driven path on its own.
var noSweep = resolver.Config{SweepInterval: time.Hour}

func TestProductBeforeItsReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()

	e.deliver("m1", "products-first", catalog.Product, product("shirt-1", "apparel", "men", "tops"))
	o := e.waitState("products-first", "shirt-1", "unresolved", 30*time.Second)
	require.ElementsMatch(t, []catalog.Reference{
		{TypeID: "product-type", Key: "apparel"}, {TypeID: "category", Key: "men"}, {TypeID: "category", Key: "tops"},
	}, o.Unresolved)
	require.Equal(t, "Processing", e.status("products-first").Status)

	// The references arrive later, in two deliveries; the second category's
	// parent comes after it in the same file.
	e.deliver("m1", "types-later", catalog.ProductType, productType("apparel"))
	e.deliver("m1", "categories-later", catalog.Category, category("tops", "men"), category("men", ""))
	e.waitState("products-first", "shirt-1", "imported", 30*time.Second)
	e.waitState("categories-later", "tops", "imported", 10*time.Second)
	// Received, parked, released by one event per arrival (one to three:
	// references announced together release together), imported.
	h := e.events("products-first", "shirt-1")
	require.Equal(t, []int{int(tracking.CodeRecordReceived), int(tracking.CodeResolutionStarted), int(tracking.CodeUnresolved)}, h[:3])
	require.Equal(t, int(tracking.CodeImported), h[len(h)-1])
	for _, c := range h[3 : len(h)-1] {
		require.Equal(t, int(tracking.CodeReferenceResolved), c, "%v", h)
	}
	require.True(t, len(h)-4 >= 1 && len(h)-4 <= 3, "%v", h)
	st := e.status("products-first")
	require.Equal(t, "CompletedSuccessfully", st.Status)
	require.NotNil(t, st.CompletedUtc)
}

func TestExternalEventReleases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()
	e.deliver("m1", "external-1", catalog.Price,
		`{"key":"price-1","sku":"ext-sku-1","value":{"currencyCode":"EUR","centAmount":100}}`,
		`{"key":"price-2","sku":"ext-sku-2","value":{"currencyCode":"EUR","centAmount":200}}`)
	e.waitState("external-1", "price-1", "unresolved", 30*time.Second)
	e.waitState("external-1", "price-2", "unresolved", 30*time.Second)

	e.announce("m1", catalog.ProductVariant, "ext-sku-1") // another system created the variant
	e.waitState("external-1", "price-1", "imported", 10*time.Second)
	o, _ := e.op("external-1", "price-2")
	require.Equal(t, "unresolved", o.State, "only what was announced is released")
	e.announce("m2", catalog.ProductVariant, "ext-sku-2") // another merchant's variant releases nothing
	time.Sleep(300 * time.Millisecond)
	o, _ = e.op("external-1", "price-2")
	require.Equal(t, "unresolved", o.State)

	// An announced resource exists from then on, for later operations too.
	e.deliver("m1", "external-2", catalog.Price, `{"key":"price-3","sku":"ext-sku-1","value":{"currencyCode":"EUR","centAmount":300}}`)
	e.waitState("external-2", "price-3", "imported", 30*time.Second)
	require.NotContains(t, e.events("external-2", "price-3"), int(tracking.CodeUnresolved))
}

// TestParkingRacesCreation publishes operations and the creation of what
// they reference at random moments, with the sweep off: the registry's row
// locks alone must keep any operation from staying parked on an existing key.
func TestParkingRacesCreation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startResolver(noSweep) // two resolvers, to race each other too
	e.startWriter()
	const rounds = 60
	var wg sync.WaitGroup
	for i := 0; i < rounds; i++ {
		wg.Add(2)
		key := fmt.Sprintf("race-cat-%d", i)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			e.deliver("m1", fmt.Sprintf("race-product-%d", i), catalog.Product, product(fmt.Sprintf("race-%d", i), "race-type", key))
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			e.announce("m1", catalog.Category, key)
		}()
	}
	e.announce("m1", catalog.ProductType, "race-type")
	wg.Wait()
	for i := 0; i < rounds; i++ {
		e.waitState(fmt.Sprintf("race-product-%d", i), fmt.Sprintf("race-%d", i), "imported", 30*time.Second)
	}
	var parked int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM parked_refs`).Scan(&parked))
	require.Zero(t, parked)
}

func TestSweepReleasesMissedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(resolver.Config{SweepInterval: 200 * time.Millisecond})
	e.startWriter()
	e.deliver("m1", "missed-1", catalog.Category, category("child", "parent-x"))
	e.waitState("missed-1", "child", "unresolved", 30*time.Second)
	// The key comes to exist without any event (as if the event were lost).
	_, err := e.pool.Exec(context.Background(), `UPDATE known_keys SET exists = true WHERE merchant_id = 'm1' AND type_id = 'category' AND key = 'parent-x'`)
	require.NoError(t, err)
	e.waitState("missed-1", "child", "imported", 5*time.Second)
}

func TestMasterVariantPairing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()
	e.deliver("m1", "mv-types", catalog.ProductType, productType("pt"))
	e.waitState("mv-types", "pt", "imported", 30*time.Second)

	noMaster := func(key string) string {
		return fmt.Sprintf(`{"key":%q,"productType":{"key":"pt"},"name":{"en":"x"},"slug":{"en":%q}}`, key, key)
	}
	master := func(sku, productKey string) string {
		return fmt.Sprintf(`{"sku":%q,"product":{"key":%q},"isMasterVariant":true}`, sku, productKey)
	}
	// Product first, master variant in a later delivery.
	e.deliver("m1", "mv-product-1", catalog.Product, noMaster("lamp"))
	e.waitState("mv-product-1", "lamp", "waitForMasterVariant", 30*time.Second)
	e.deliver("m1", "mv-variant-1", catalog.ProductVariant, master("lamp-sku", "lamp"))
	e.waitState("mv-product-1", "lamp", "imported", 30*time.Second)
	e.waitState("mv-variant-1", "lamp-sku", "imported", 30*time.Second)
	require.JSONEq(t, `{"sku":"lamp-sku"}`, e.sentMaster("mv-product-1", "lamp"), "the product went to the importer with its master variant")

	// Master variant first: it waits for its product, which then pairs with it.
	e.deliver("m1", "mv-variant-2", catalog.ProductVariant, master("desk-sku", "desk"))
	e.waitState("mv-variant-2", "desk-sku", "unresolved", 30*time.Second)
	e.deliver("m1", "mv-product-2", catalog.Product, noMaster("desk"))
	e.waitState("mv-product-2", "desk", "imported", 30*time.Second)
	e.waitState("mv-variant-2", "desk-sku", "imported", 30*time.Second)
	require.JSONEq(t, `{"sku":"desk-sku"}`, e.sentMaster("mv-product-2", "desk"))

	// A variant of a product that neither exists nor waits is unresolved on it.
	e.deliver("m1", "mv-orphan", catalog.ProductVariant, `{"sku":"orphan-sku","product":{"key":"nowhere"}}`)
	o := e.waitState("mv-orphan", "orphan-sku", "unresolved", 30*time.Second)
	require.Equal(t, []catalog.Reference{{TypeID: "product", Key: "nowhere"}}, o.Unresolved)
}

func TestCategoryCycleFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(resolver.Config{SweepInterval: 300 * time.Millisecond})
	e.startWriter()
	e.deliver("m1", "cycle-self", catalog.Category, category("narcissus", "narcissus"))
	o := e.waitState("cycle-self", "narcissus", "validationFailed", 30*time.Second)
	require.Equal(t, resolver.CodeCyclicReference, o.Errors[0].Code)

	// kd comes in a delivery of its own: in cycle-abc, three failures of
	// four interrupt the delivery (the 10% threshold) and cancel kd.
	e.deliver("m1", "cycle-abc", catalog.Category, category("ka", "kb"), category("kb", "kc"), category("kc", "ka"))
	e.deliver("m1", "cycle-tail", catalog.Category, category("kd", "ka"))
	for _, k := range []string{"ka", "kb", "kc"} {
		o := e.waitState("cycle-abc", k, "validationFailed", 30*time.Second)
		require.Equal(t, resolver.CodeCyclicReference, o.Errors[0].Code)
		require.Contains(t, o.Errors[0].Description, "→")
	}
	o = e.waitState("cycle-tail", "kd", "unresolved", 30*time.Second)
	require.Equal(t, []catalog.Reference{{TypeID: "category", Key: "ka"}}, o.Unresolved, "kd hangs off the cycle but is not in it: it waits for ka")
}

// TestReleaseTenThousand parks 10,000 operations on one missing key and
// releases them with a single event.
func TestReleaseTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("large release skipped in -short mode")
	}
	t.Parallel()
	const n = 10_000
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()
	e.announce("m1", catalog.ProductType, "bulk-type")
	e.waitKnown("m1", "product-type", "bulk-type")
	recs := make([]string, n)
	for i := range recs {
		recs[i] = product(fmt.Sprintf("bulk-%d", i), "bulk-type", "bulk-category")
	}
	e.deliverObject("m1", "bulk-parked", catalog.Product, recs...)
	require.Eventually(t, func() bool {
		var parked int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM operations WHERE receipt_id = 'bulk-parked' AND state = 'unresolved'`).Scan(&parked))
		return parked == n
	}, 2*time.Minute, 50*time.Millisecond)
	start := time.Now()
	e.announce("m1", catalog.Category, "bulk-category")
	require.Eventually(t, func() bool {
		var parked int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM operations WHERE receipt_id = 'bulk-parked' AND state = 'unresolved'`).Scan(&parked))
		return parked == 0
	}, 2*time.Minute, 5*time.Millisecond)
	released := time.Since(start)
	t.Logf("10,000 parked operations released by one event in %s (%.0f operations/s)", released.Round(time.Millisecond), n/released.Seconds())
	require.Eventually(t, func() bool {
		return e.statusName("bulk-parked") == "CompletedSuccessfully"
	}, 2*time.Minute, 20*time.Millisecond)
	t.Logf("... and imported by the test writer after %s", time.Since(start).Round(time.Millisecond))
	var events int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM tracking_events WHERE receipt_id = 'bulk-parked' AND code = $1`, int(tracking.CodeReferenceResolved)).Scan(&events))
	require.Equal(t, n, events, "one release event per operation")

}

// TestDuplicatesAreIdempotent repeats resource events and redelivers work
// messages: no operation changes state twice or gets an event twice.
func TestDuplicatesAreIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()
	e.announce("m1", catalog.ProductType, "dup-type")
	e.waitKnown("m1", "product-type", "dup-type")
	e.deliver("m1", "dup-products", catalog.Product, product("dup-1", "dup-type", "dup-cat"), product("dup-2", "dup-type", "dup-cat"))
	e.waitState("dup-products", "dup-1", "unresolved", 30*time.Second)
	e.waitState("dup-products", "dup-2", "unresolved", 30*time.Second)
	for i := 0; i < 3; i++ {
		e.announce("m1", catalog.Category, "dup-cat")
	}
	e.waitState("dup-products", "dup-1", "imported", 30*time.Second)
	e.waitState("dup-products", "dup-2", "imported", 30*time.Second)

	// Work for the same operations again, as after a redelivery.
	wb := bus.WorkBatch{ReceiptID: "dup-products", MerchantID: "m1", ResourceType: "Product"}
	d, err := e.store.DeliveryGet(context.Background(), "dup-products")
	require.NoError(t, err)
	wb.DeliveryAt = d.AcceptedAt
	wb.Ops = []bus.WorkOp{{ID: tracking.OperationID("m1", "dup-products", 0).String(), Seq: 0, Key: "dup-1", Record: json.RawMessage(product("dup-1", "dup-type", "dup-cat"))}}
	body := bus.EncodeWork(nil, &wb)
	for i := 0; i < 2; i++ {
		_, err := e.js.Publish(context.Background(), bus.ResolveSubject("m1"), body)
		require.NoError(t, err)
	}
	e.announce("m1", catalog.Category, "dup-cat")
	time.Sleep(time.Second)
	for _, key := range []string{"dup-1", "dup-2"} {
		require.Equal(t, []int{int(tracking.CodeRecordReceived), int(tracking.CodeResolutionStarted), int(tracking.CodeUnresolved),
			int(tracking.CodeReferenceResolved), int(tracking.CodeImported)}, e.events("dup-products", key), key)
	}
	st := e.status("dup-products")
	require.Equal(t, tracking.ProductCounts{Successful: 2}, st.Products)
}

// A product waiting for its master variant waits no longer once the product
// is created, with its master, by another delivery: it is imported as an
// update. Before, nothing released it: the creation's event released only
// what waited on the product, and the sweep looked only at real keys, so it
// waited for a ProductVariant record or its expiry.
func TestProductWaitingForMasterReleasedByItsCreation(t *testing.T) {
	t.Parallel()
	noMaster := func(key string) string {
		return fmt.Sprintf(`{"key":%q,"productType":{"key":"pt"},"name":{"en":"x"},"slug":{"en":%q}}`, key, key)
	}
	for _, tt := range []struct {
		name   string
		sweep  bool // the event is lost: the product comes to exist without one
		create func(e *env, key string)
	}{
		{"by the event", false, func(e *env, key string) {
			e.deliver("m1", "with-"+key, catalog.Product, product(key, "pt"))
			e.waitState("with-"+key, key, "imported", 30*time.Second)
		}},
		{"by the sweep", true, func(e *env, key string) {
			_, err := e.pool.Exec(context.Background(), `INSERT INTO known_keys (merchant_id, type_id, key, exists) VALUES ('m1', 'product', $1, true)
				ON CONFLICT (merchant_id, type_id, key) DO UPDATE SET exists = true`, key)
			require.NoError(t, err)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.startIngest()
			cfg := noSweep
			if tt.sweep {
				cfg = resolver.Config{SweepInterval: 200 * time.Millisecond}
			}
			e.startResolver(cfg)
			e.startWriter()
			e.deliver("m1", "mv-types", catalog.ProductType, productType("pt"))
			e.waitState("mv-types", "pt", "imported", 30*time.Second)

			e.deliver("m1", "without-chair", catalog.Product, noMaster("chair"))
			e.waitState("without-chair", "chair", "waitForMasterVariant", 30*time.Second)
			tt.create(e, "chair")
			e.waitState("without-chair", "chair", "imported", 30*time.Second)
			require.Equal(t, "CompletedSuccessfully", e.statusName("without-chair"))
		})
	}
}

// TestResolverAnnouncesCompletionAtOnce: a delivery whose last operation
// ends in the resolver (a category that is its own parent) is announced
// completed as soon as the resolver commits, not by the sweep: the
// announcement runs after the commit, so it finds the delivery completed.
func TestResolverAnnouncesCompletionAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()
	sub, err := e.nc.SubscribeSync("import.events.m1.self-parent.completed")
	require.NoError(t, err)
	e.deliver("m1", "self-parent", catalog.Category, category("ouroboros", "ouroboros"))
	msg, err := sub.NextMsg(30 * time.Second)
	require.NoError(t, err, "no completed event")
	arrived := time.Now()
	o := e.waitState("self-parent", "ouroboros", "validationFailed", time.Second)
	require.Equal(t, resolver.CodeCyclicReference, o.Errors[0].Code)
	var completedAt time.Time
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT completed_at FROM deliveries WHERE receipt_id = 'self-parent'`).Scan(&completedAt))
	require.Less(t, arrived.Sub(completedAt), time.Second, "completed at %s, announced at %s: %s", completedAt, arrived, msg.Data)
}
