package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// pipeline starts every role: ingest, resolver and importer.
func pipeline(t *testing.T, cfg importer.Config) *env {
	e := newEnv(t)
	e.startIngest()
	e.startResolver(resolver0)
	e.startImporter(cfg)
	return e
}

var resolver0 = noSweep

// mixed is a delivery of each of the nine resource types, in an order
// where every reference comes later.
var mixed = []struct {
	receipt string
	t       catalog.ResourceType
	records []string
}{
	{"mixed-inventory", catalog.InventoryEntry, []string{`{"sku":"mx-sku-1","quantityOnStock":7,"supplyChannel":{"key":"mx-store"}}`}},
	{"mixed-prices", catalog.Price, []string{`{"key":"mx-price-1","sku":"mx-sku-2","value":{"currencyCode":"EUR","centAmount":1299},"customerGroup":{"key":"mx-gold"},"channel":{"typeId":"channel","key":"mx-store"}}`}},
	{"mixed-variants", catalog.ProductVariant, []string{`{"sku":"mx-sku-2","product":{"key":"mx-shirt"},"attributes":[{"name":"size","value":"L"}]}`}},
	{"mixed-products", catalog.Product, []string{
		`{"key":"mx-shirt","productType":{"key":"mx-apparel"},"name":{"en":"Shirt"},"slug":{"en":"mx-shirt"},"categories":[{"key":"mx-men"}],"taxCategory":{"key":"mx-standard"},` +
			`"masterVariant":{"sku":"mx-sku-1","attributes":[{"name":"size","value":"M"}],"prices":[{"value":{"currencyCode":"EUR","centAmount":1999}}]}}`}},
	{"mixed-taxes", catalog.TaxCategory, []string{`{"key":"mx-standard","name":"Standard","rates":[{"name":"DE","amount":0.19,"country":"DE","includedInPrice":true}]}`}},
	{"mixed-categories", catalog.Category, []string{category("mx-shirts", "mx-men"), category("mx-men", "")}},
	{"mixed-types", catalog.ProductType, []string{`{"key":"mx-apparel","name":"Apparel","attributes":[{"name":"size","type":"text"}]}`}},
	{"mixed-customer-groups", catalog.CustomerGroup, []string{`{"key":"mx-gold","groupName":"Gold"}`}},
	{"mixed-channels", catalog.Channel, []string{`{"key":"mx-store","roles":["InventorySupply","ProductDistribution"],"name":{"en":"Store"},` +
		`"custom":{"type":{"key":"physicalStore"},"fields":{"openingTimes":{"en":"Mo-Fr"}}},"geoLocation":{"type":"Point","coordinates":[13.4,52.5]}}`}},
}

func TestMixedDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	for i, d := range mixed {
		e.deliver("m1", d.receipt, d.t, d.records...)
		if d.receipt == "mixed-prices" {
			// Parked before its customer group and channel are even
			// published: deliveries are read concurrently, so publishing
			// them later is not enough to make the price wait.
			require.Eventually(t, func() bool {
				return slices.Contains(e.events("mixed-prices", "mx-price-1"), int(tracking.CodeUnresolved))
			},
				time.Minute, 20*time.Millisecond, "the price never parked (delivery %d)", i)
		}
	}
	for _, d := range mixed {
		require.Eventually(t, func() bool { return e.statusName(d.receipt) == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond, d.receipt)
	}
	cat := catalog.NewStore(e.pool)
	for _, c := range []struct {
		t   catalog.ResourceType
		key string
	}{{catalog.ProductType, "mx-apparel"}, {catalog.Category, "mx-men"}, {catalog.Category, "mx-shirts"}, {catalog.TaxCategory, "mx-standard"},
		{catalog.Product, "mx-shirt"}, {catalog.ProductVariant, "mx-sku-2"}, {catalog.Price, "mx-price-1"}, {catalog.InventoryEntry, "mx-sku-1"},
		{catalog.CustomerGroup, "mx-gold"}, {catalog.Channel, "mx-store"}} {
		_, found, err := cat.Get(context.Background(), "m1", c.t, c.key)
		require.NoError(t, err)
		require.True(t, found, "%s %s in the catalog", c.t, c.key)
	}
	// The price waited for its customer group and channel, and keeps them.
	require.Contains(t, e.events("mixed-prices", "mx-price-1"), int(tracking.CodeUnresolved))
	price, _, err := cat.Get(context.Background(), "m1", catalog.Price, "mx-price-1")
	require.NoError(t, err)
	require.JSONEq(t, `{"key":"mx-price-1","sku":"mx-sku-2","value":{"currencyCode":"EUR","centAmount":1299},`+
		`"customerGroup":{"typeId":"customer-group","key":"mx-gold"},"channel":{"typeId":"channel","key":"mx-store"}}`, string(price))

	// The same content again, in new deliveries: every record imported as unchanged.
	for _, d := range mixed {
		e.deliver("m1", d.receipt+"-again", d.t, d.records...)
	}
	for _, d := range mixed {
		require.Eventually(t, func() bool { return e.statusName(d.receipt+"-again") == "CompletedSuccessfully" }, time.Minute, 20*time.Millisecond, d.receipt)
		for _, r := range d.records {
			key := identity(d.t, r)
			h := e.events(d.receipt+"-again", key)
			require.NotEmpty(t, h, "%s/%s", d.receipt, key)
			require.Equal(t, int(tracking.CodeImportedUnchanged), h[len(h)-1], "%s/%s: %v", d.receipt, key, h)
		}
	}
}

// identity returns the key, or the sku, of a test record.
func identity(t catalog.ResourceType, rec string) string {
	f := `"key":"`
	if t.IdentifiedBySKU() {
		f = `"sku":"`
	}
	i := strings.Index(rec, f)
	rest := rec[i+len(f):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestRetriesThenImported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	faulty := &catalog.Faulty{Target: catalog.NewStore(e.pool), FailFirst: 2}
	e.startIngest()
	e.startResolver(noSweep)
	e.startImporter(importer.Config{Target: faulty})
	e.deliver("m1", "retry-types", catalog.ProductType, productType("retry-type"))
	e.waitState("retry-types", "retry-type", "imported", time.Minute)
	h := e.events("retry-types", "retry-type")
	require.Equal(t, []int{int(tracking.CodeRecordReceived), int(tracking.CodeResolutionStarted), int(tracking.CodeResolved),
		int(tracking.CodeImportAttemptFailed), int(tracking.CodeImportAttemptFailed), int(tracking.CodeImported)}, h)
	require.Equal(t, 3, faulty.Calls(), "imported at attempt 3")
	var retries int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT retry_count FROM operations WHERE receipt_id = 'retry-types'`).Scan(&retries))
	require.Equal(t, 2, retries)
}

func TestRejectedAfterFiveAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	faulty := &catalog.Faulty{Target: catalog.NewStore(e.pool), FailAlways: true}
	e.startIngest()
	e.startResolver(noSweep)
	e.startImporter(importer.Config{Target: faulty})
	e.deliver("m1", "reject-types", catalog.ProductType, productType("doomed-type"))
	o := e.waitState("reject-types", "doomed-type", "rejected", time.Minute)
	require.Equal(t, catalog.SystemError, o.Errors[0].Type)
	time.Sleep(time.Second) // a sixth attempt, if there were one, would come now
	h := e.events("reject-types", "doomed-type")
	attempts := 0
	for _, c := range h {
		if c == int(tracking.CodeImportAttemptFailed) {
			attempts++
		}
	}
	require.Equal(t, 5, attempts, "five attempt events: %v", h)
	require.Equal(t, int(tracking.CodeRejected), h[len(h)-1])
	require.Equal(t, 5, faulty.Calls(), "never a sixth attempt")
	st := e.status("reject-types")
	require.Equal(t, "CompletedWithErrors", st.Status)
	require.Equal(t, tracking.ProductCounts{Failed: 1}, st.Products)
}

func TestTargetRefusalsAndWarnings(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	e.deliver("m1", "refuse-types", catalog.ProductType, `{"key":"rf-type","name":"T","attributes":[{"name":"color","type":"text","isRequired":true}]}`)
	e.waitState("refuse-types", "rf-type", "imported", time.Minute)
	p := func(key, sku, attrs string) string {
		return fmt.Sprintf(`{"key":%q,"productType":{"key":"rf-type"},"name":{"en":"x"},"slug":{"en":%q},"masterVariant":{"sku":%q,"attributes":[%s]}}`, key, key, sku, attrs)
	}
	e.deliver("m1", "refuse-products", catalog.Product,
		p("rf-first", "rf-sku", `{"name":"color","value":"red"}`),
		p("rf-second", "rf-sku", `{"name":"color","value":"blue"}`), // sku owned by rf-first
		p("rf-extra", "rf-sku-3", `{"name":"color","value":"red"},{"name":"fabric","value":"silk"}`),
		p("rf-missing", "rf-sku-4", ``))
	e.waitState("refuse-products", "rf-first", "imported", time.Minute)
	o := e.waitState("refuse-products", "rf-second", "validationFailed", time.Minute)
	require.Equal(t, catalog.CodeDuplicateSKU, o.Errors[0].Code)
	e.waitState("refuse-products", "rf-extra", "partiallyImported", time.Minute)
	o = e.waitState("refuse-products", "rf-missing", "validationFailed", time.Minute)
	require.Equal(t, catalog.CodeRequiredAttribute, o.Errors[0].Code)
	var warnings string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT warnings::text FROM operations WHERE receipt_id = 'refuse-products' AND resource_key = 'rf-extra'`).Scan(&warnings))
	require.Contains(t, warnings, catalog.CodeUndefinedAttribute)
	require.Contains(t, warnings, "fabric")
}

// TestKilledBeforeEventsPublished: an importer that commits and dies before
// publishing its resource events still releases the parked operations, once
// another importer publishes the outbox.
func TestKilledBeforeEventsPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.startResolver(noSweep)
	stop := e.stopper("importer A", func(ctx context.Context) error {
		w, err := importer.New(importer.Config{Target: catalog.NewStore(e.pool), NoOutbox: true}, e.store, e.js, e.log)
		if err != nil {
			return err
		}
		return w.Run(ctx)
	})
	e.deliver("m1", "killed-products", catalog.Product, product("kp-1", "kp-type"))
	e.waitState("killed-products", "kp-1", "unresolved", time.Minute)
	e.deliver("m1", "killed-types", catalog.ProductType, productType("kp-type"))
	e.waitState("killed-types", "kp-type", "imported", time.Minute)
	time.Sleep(500 * time.Millisecond)
	o, _ := e.op("killed-products", "kp-1")
	require.Equal(t, "unresolved", o.State, "the event is still in the outbox")
	stop()
	e.startImporter(importer.Config{})
	e.waitState("killed-products", "kp-1", "imported", time.Minute)
}

// TestStatusWalk watches a delivery's status while it is processed: it only
// moves forward, Queued → Processing → Completed…, and its counts always add
// up to the number of records.
func TestStatusWalk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The whole delivery queued before any worker runs: nothing bounds
	// what it has in flight.
	e.startIngestWith(ingest.Config{MaxInFlight: -1})
	const n = 2000
	recs := make([]string, n)
	for i := range recs {
		recs[i] = category(fmt.Sprintf("walk-%d", i), "")
	}
	recs[10] = `{"key":"walk-bad"}` // fails validation
	e.deliverObject("m1", "status-walk", catalog.Category, recs...)
	require.Eventually(t, func() bool { return e.statusName("status-walk") == "Queued" }, time.Minute, 5*time.Millisecond)

	var mu sync.Mutex
	// Queued was seen above, before any worker ran: the poller, scheduled
	// late on a loaded machine, may first see the delivery picked up.
	seen := []string{"Queued"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			st := e.status("status-walk")
			p := st.Products
			if p.Successful+p.Pending+p.Failed != n {
				t.Errorf("counts %+v do not add up to %d", p, n)
			}
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1] != st.Status {
				seen = append(seen, st.Status)
			}
			mu.Unlock()
			if st.Status == "CompletedWithErrors" {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	e.startResolver(noSweep)
	e.startImporter(importer.Config{})
	<-done
	require.Equal(t, []string{"Queued", "Processing", "CompletedWithErrors"}, seen)
	st := e.status("status-walk")
	require.Equal(t, tracking.ProductCounts{Successful: n - 1, Failed: 1}, st.Products)
	require.NotNil(t, st.CompletedUtc)
}

// TestResourceEventsOfProducts: the importer announces a Product record as
// one Product event naming the skus of the variants it created or changed,
// a ProductVariant record as an event of its own, each saying the registry
// has them; and the skus in a Product event release what was parked on them
// (no sweep runs here).
func TestResourceEventsOfProducts(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	sub, err := e.nc.SubscribeSync("catalog.events.m-ev.>")
	require.NoError(t, err)
	next := func() (string, bus.ResourceEvent) {
		t.Helper()
		msg, err := sub.NextMsg(30 * time.Second)
		require.NoError(t, err)
		var ev bus.ResourceEvent
		require.NoError(t, json.Unmarshal(msg.Data, &ev), string(msg.Data))
		require.Equal(t, "true", msg.Header.Get(bus.HeaderRegistered), "the resolver needs not look the resources up")
		sort.Strings(ev.SKUs)
		return strings.TrimPrefix(msg.Subject, "catalog.events.m-ev."), ev
	}
	shirt := func(size string) string {
		return `{"key":"ev-shirt","productType":{"key":"ev-type"},"name":{"en":"Shirt"},"slug":{"en":"ev-shirt"},` +
			`"masterVariant":{"sku":"ev-1"},"variants":[{"sku":"ev-2","attributes":[{"name":"size","value":"` + size + `"}]},{"sku":"ev-3"}]}`
	}
	e.deliver("m-ev", "ev-price", catalog.Price, `{"key":"ev-price-3","sku":"ev-3","value":{"currencyCode":"EUR","centAmount":990}}`)
	e.waitState("ev-price", "ev-price-3", "unresolved", time.Minute)
	e.deliver("m-ev", "ev-types", catalog.ProductType, `{"key":"ev-type","name":"T","attributes":[{"name":"size","type":"text"}]}`)
	subject, ev := next()
	require.Equal(t, "ProductType.created", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "product-type", Key: "ev-type"}, ev)

	e.deliver("m-ev", "ev-products", catalog.Product, shirt("M"))
	subject, ev = next()
	require.Equal(t, "Product.created", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "product", Key: "ev-shirt", SKUs: []string{"ev-1", "ev-2", "ev-3"}}, ev)
	e.waitState("ev-price", "ev-price-3", "imported", time.Minute)
	subject, ev = next()
	require.Equal(t, "Price.created", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "price", Key: "ev-price-3"}, ev)

	e.deliver("m-ev", "ev-variants", catalog.ProductVariant, `{"sku":"ev-4","product":{"key":"ev-shirt"}}`)
	subject, ev = next()
	require.Equal(t, "ProductVariant.created", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "product-variant", SKU: "ev-4"}, ev)

	// Only one variant changes: the product's event names it alone.
	e.deliver("m-ev", "ev-products-2", catalog.Product, shirt("L"))
	subject, ev = next()
	require.Equal(t, "Product.updated", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "product", Key: "ev-shirt", SKUs: []string{"ev-2"}}, ev)
	e.waitState("ev-products-2", "ev-shirt", "imported", time.Minute)

	// Customer groups and channels are announced like the rest.
	e.deliver("m-ev", "ev-groups", catalog.CustomerGroup, `{"key":"ev-gold","groupName":"Gold"}`)
	subject, ev = next()
	require.Equal(t, "CustomerGroup.created", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "customer-group", Key: "ev-gold"}, ev)
	e.deliver("m-ev", "ev-channels", catalog.Channel, `{"key":"ev-store","roles":["InventorySupply"]}`)
	subject, ev = next()
	require.Equal(t, "Channel.created", subject)
	require.Equal(t, bus.ResourceEvent{TypeID: "channel", Key: "ev-store"}, ev)
	_, err = sub.NextMsg(500 * time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout, "no other event")
}

// TestOneBadRecordFailsAlone: a trigger fails every write of one product
// with a serialization failure. Its batch-mates of the same work message are
// imported at their first attempt; it alone spends its five attempts, spread
// over the retry window, and is rejected.
func TestOneBadRecordFailsAlone(t *testing.T) {
	t.Parallel()
	const window = 3 * time.Second
	e := pipeline(t, importer.Config{RetryWindow: window})
	_, err := e.pool.Exec(context.Background(), `
		CREATE FUNCTION iso_fail() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'iso-bad cannot be written' USING ERRCODE = '40001'; END $$;
		CREATE TRIGGER iso_fail BEFORE INSERT OR UPDATE ON catalog_products
			FOR EACH ROW WHEN (NEW.key = 'iso-bad') EXECUTE FUNCTION iso_fail();`)
	require.NoError(t, err)
	e.deliver("m1", "iso-types", catalog.ProductType, productType("iso-type"))
	e.waitState("iso-types", "iso-type", "imported", time.Minute)

	var recs []string
	for i := range 20 {
		recs = append(recs, product(fmt.Sprintf("iso-ok-%d", i), "iso-type"))
	}
	recs[7] = product("iso-bad", "iso-type")
	e.deliver("m1", "iso-products", catalog.Product, recs...)
	for i := range 20 {
		if i == 7 {
			continue
		}
		key := fmt.Sprintf("iso-ok-%d", i)
		e.waitState("iso-products", key, "imported", time.Minute)
		require.NotContains(t, e.events("iso-products", key), int(tracking.CodeImportAttemptFailed), "%s imported at its first attempt", key)
	}
	o := e.waitState("iso-products", "iso-bad", "rejected", time.Minute)
	require.Equal(t, catalog.CodeTargetFailure, o.Errors[0].Code)
	require.Contains(t, o.Errors[0].Description, "40001")

	rows, err := e.pool.Query(context.Background(), `SELECT ts FROM tracking_events
		WHERE receipt_id = 'iso-products' AND product_id = 'iso-bad' AND code = $1 ORDER BY ts`, int(tracking.CodeImportAttemptFailed))
	require.NoError(t, err)
	attempts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	require.NoError(t, err)
	require.Len(t, attempts, importer.MaxAttempts)
	// The delays double and add up to the window at least.
	base := window / 15
	for i := 1; i < len(attempts); i++ {
		gap := attempts[i].Sub(attempts[i-1])
		require.GreaterOrEqual(t, gap, base<<(i-1), "delay before attempt %d", i+1)
	}
	require.GreaterOrEqual(t, attempts[len(attempts)-1].Sub(attempts[0]), window)
	require.Equal(t, tracking.ProductCounts{Successful: 19, Failed: 1}, e.status("iso-products").Products)
}

// TestDraftChecksEndToEnd: what the catalog finds of a commercetools draft
// reaches the operation: an attribute value of the wrong type fails it, an
// unknown field is a warning on an imported record.
func TestDraftChecksEndToEnd(t *testing.T) {
	t.Parallel()
	e := pipeline(t, importer.Config{})
	e.deliver("m1", "draft-types", catalog.ProductType, `{"key":"dr-type","name":"T","attributes":[`+
		`{"name":"color","type":{"name":"enum","values":[{"key":"red","label":"Red"},{"key":"blue","label":"Blue"}]}},`+
		`{"name":"made","type":{"name":"datetime"},"attributeConstraint":"SameForAll"}]}`)
	e.waitState("draft-types", "dr-type", "imported", time.Minute)
	p := func(key, extra string, attrs string) string {
		return fmt.Sprintf(`{"key":%q,"productType":{"key":"dr-type"},"name":{"en":"x"},"slug":{"en":%q},"masterVariant":{"sku":%q,"attributes":[%s]}%s}`,
			key, key, key+"-1", attrs, extra)
	}
	e.deliver("m1", "draft-products", catalog.Product,
		p("dr-good", "", `{"name":"color","value":"red"},{"name":"made","value":"2026-01-02T03:04:05Z"}`),
		p("dr-fuchsia", "", `{"name":"color","value":"fuchsia"}`),
		p("dr-yesterday", "", `{"name":"made","value":"yesterday"}`),
		p("dr-extra", `,"colour":"red"`, `{"name":"color","value":{"key":"blue","label":"Blue"}}`))
	e.waitState("draft-products", "dr-good", "imported", time.Minute)
	for key, field := range map[string]string{"dr-fuchsia": "masterVariant.attributes.0.value", "dr-yesterday": "masterVariant.attributes.0.value"} {
		o := e.waitState("draft-products", key, "validationFailed", time.Minute)
		require.Len(t, o.Errors, 1, key)
		require.Equal(t, catalog.CodeInvalidAttributeValue, o.Errors[0].Code, key)
		require.Equal(t, field, o.Errors[0].Field, key)
	}
	e.waitState("draft-products", "dr-extra", "partiallyImported", time.Minute)
	var warnings string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT warnings::text FROM operations WHERE receipt_id = 'draft-products' AND resource_key = 'dr-extra'`).Scan(&warnings))
	require.Contains(t, warnings, catalog.CodeUnknownField)
	require.Contains(t, warnings, `"colour"`)
	require.Equal(t, "CompletedWithErrors", e.statusName("draft-products"))
}
