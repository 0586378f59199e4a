package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// testResolver is a resolver on a database and NATS server of its own,
// and stored, which writes a delivery of one record and returns its work
// message.
func testResolver(t *testing.T) (*Worker, *pgxpool.Pool, func(receipt string, rt catalog.ResourceType, key, record string) *bus.WorkBatch) {
	t.Helper()
	ctx := context.Background()
	pool := testenv.DB(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, store.EnsurePartitions(ctx))
	w, err := New(Config{}, store, js, nil)
	require.NoError(t, err)
	stored := func(receipt string, rt catalog.ResourceType, key, record string) *bus.WorkBatch {
		d, _, err := store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: receipt, MerchantID: "m1", AcceptedAt: time.Now(), Data: string(rt),
			Format: "ndjson", ContractVersion: "1.0", Source: "TEST:" + receipt})
		require.NoError(t, err)
		ev := tracking.NewEvent(&d, key, tracking.CodeRecordReceived, "Record received")
		b := tracking.IngestBatch{To: 1, Events: []tracking.Event{ev}, Ops: []tracking.Operation{{ID: tracking.OperationID("m1", receipt, 0), ResourceType: string(rt),
			ResourceKey: key, State: tracking.StateProcessing, CreatedAt: d.AcceptedAt, Line: 1, Last: ev}}}
		b.Counts.Total = 1
		b.Counts.Count(tracking.StateProcessing, tracking.StageQueued, 1)
		require.NoError(t, store.IngestWrite(ctx, &d, b))
		return &bus.WorkBatch{ReceiptID: receipt, MerchantID: "m1", DeliveryAt: d.AcceptedAt, ResourceType: string(rt),
			Ops: []bus.WorkOp{{ID: tracking.OperationID("m1", receipt, 0).String(), Seq: 0, Key: key, Record: json.RawMessage(record)}}}
	}
	return w, pool, stored
}

// A product paired at resolution with a master variant parked before it
// goes to the importer with that master merged in; its work message
// delivered again (the resolver died before its publication was stored)
// must send the merged record again, not the message's, which has no
// master: imported without one, the product would be refused and its
// master variant would wait for it for ever.
func TestRedeliveredPairedProductKeepsItsMaster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, pool, stored := testResolver(t)
	_, err := pool.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key, exists) VALUES ('m1', 'product-type', 'pt', true)`)
	require.NoError(t, err)

	variant := stored("paired-variant", catalog.ProductVariant, "lamp-sku", `{"sku":"lamp-sku","product":{"key":"lamp"},"isMasterVariant":true}`)
	out, err := w.resolveBatch(ctx, catalog.ProductVariant, variant)
	require.NoError(t, err)
	require.Empty(t, out, "the master variant waits for its product")

	product := stored("paired-product", catalog.Product, "lamp", `{"key":"lamp","productType":{"key":"pt"},"name":{"en":"Lamp"},"slug":{"en":"lamp"}}`)
	master := func(out []bus.WorkOp) string {
		require.Len(t, out, 1)
		var p struct{ MasterVariant json.RawMessage }
		require.NoError(t, json.Unmarshal(out[0].Record, &p))
		return string(p.MasterVariant)
	}
	out, err = w.resolveBatch(ctx, catalog.Product, product)
	require.NoError(t, err)
	require.JSONEq(t, `{"sku":"lamp-sku"}`, master(out), "paired")
	out, err = w.resolveBatch(ctx, catalog.Product, product) // the same message, delivered again
	require.NoError(t, err)
	require.JSONEq(t, `{"sku":"lamp-sku"}`, master(out), "paired again")
}

// The importer records what it writes in the catalog only: the resolver
// finds a reference there, and an operation parked on a key the importer
// creates before its event shows the parking (a creation that committed
// after the parking looked) is released by the resolver's second look.
func TestCatalogResourcesExistAndLookAgainReleases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, pool, stored := testResolver(t)
	_, err := pool.Exec(ctx, `INSERT INTO catalog_product_types (merchant_id, key, data) VALUES ('m1', 'pt', '{"key":"pt","name":"PT"}')`)
	require.NoError(t, err)

	state := func(receipt string) string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM operations WHERE receipt_id = $1`, receipt).Scan(&s))
		return s
	}

	// The product type is in the catalog alone: the product is resolved.
	product := stored("look-product", catalog.Product, "desk", `{"key":"desk","productType":{"key":"pt"},"name":{"en":"Desk"},"slug":{"en":"desk"},"masterVariant":{"sku":"desk-1"}}`)
	out, err := w.resolveBatch(ctx, catalog.Product, product)
	require.NoError(t, err)
	require.Len(t, out, 1)

	// A variant of a product nobody has waits for it.
	variant := stored("look-variant", catalog.ProductVariant, "lamp-2", `{"sku":"lamp-2","product":{"key":"lamp"}}`)
	out, err = w.resolveBatch(ctx, catalog.ProductVariant, variant)
	require.NoError(t, err)
	require.Empty(t, out)
	require.Equal(t, string(tracking.StateUnresolved), state("look-variant"))

	// Looking again before the product exists changes nothing; once the
	// catalog holds it, with no event and no registry row, it releases.
	w.lookAgain(ctx, "m1", []catalog.Reference{{TypeID: catalog.Product.TypeID(), Key: "lamp"}})
	require.Equal(t, string(tracking.StateUnresolved), state("look-variant"))
	_, err = pool.Exec(ctx, `INSERT INTO catalog_products (merchant_id, key, product_type_key, data) VALUES ('m1', 'lamp', 'pt', '{"key":"lamp"}')`)
	require.NoError(t, err)
	w.lookAgain(ctx, "m1", []catalog.Reference{{TypeID: catalog.Product.TypeID(), Key: "lamp"}})
	require.Equal(t, string(tracking.StateProcessing), state("look-variant"))
	var known int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM known_keys WHERE merchant_id = 'm1' AND exists`).Scan(&known))
	require.Zero(t, known, "the registry holds what other systems announced, not the catalog's resources")
}

// BenchmarkResolveBatch resolves work messages of 230 products whose
// references exist (a product type and two categories in the catalog), one
// transaction each as the resolver runs it: what the resolver's statements
// cost, apart from NATS and the other roles.
//
//	go test ./resolver -run '^$' -bench ResolveBatch -benchtime 100x
func BenchmarkResolveBatch(b *testing.B) {
	const batch = 230
	ctx := context.Background()
	pool := testenv.DB(b)
	_, js := testenv.JetStream(b, testenv.NATS(b))
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(b, err)
	require.NoError(b, store.EnsurePartitions(ctx))
	w, err := New(Config{}, store, js, nil)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `INSERT INTO catalog_product_types (merchant_id, key, data) VALUES ('m1', 'pt', '{"key":"pt","name":"PT"}');
		INSERT INTO catalog_categories (merchant_id, key, data) VALUES ('m1', 'men', '{"key":"men"}'), ('m1', 'tops', '{"key":"tops"}')`)
	require.NoError(b, err)
	n := 0
	for b.Loop() {
		b.StopTimer()
		receipt := fmt.Sprintf("bench-%d", n)
		n++
		d, _, err := store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: receipt, MerchantID: "m1", AcceptedAt: time.Now(), Data: string(catalog.Product),
			Format: "ndjson", ContractVersion: "1.0", Source: "TEST:" + receipt})
		require.NoError(b, err)
		ib := tracking.IngestBatch{To: batch}
		wb := &bus.WorkBatch{ReceiptID: receipt, MerchantID: "m1", DeliveryAt: d.AcceptedAt, ResourceType: string(catalog.Product)}
		for i := range batch {
			key := fmt.Sprintf("p-%d-%d", n, i)
			ev := tracking.NewEvent(&d, key, tracking.CodeRecordReceived, "Record received")
			ib.Events = append(ib.Events, ev)
			ib.Ops = append(ib.Ops, tracking.Operation{ID: tracking.OperationID("m1", receipt, i), Seq: i, ResourceType: string(catalog.Product),
				ResourceKey: key, State: tracking.StateProcessing, CreatedAt: d.AcceptedAt, Line: i + 1, Last: ev})
			rec := fmt.Sprintf(`{"key":%q,"productType":{"key":"pt"},"name":{"en":"P"},"slug":{"en":%q},"categories":[{"key":"men"},{"key":"tops"}],"masterVariant":{"sku":"%s-m"}}`, key, key, key)
			op := bus.WorkOp{ID: tracking.OperationID("m1", receipt, i).String(), Seq: i, Key: key, Record: json.RawMessage(rec)}
			v, errs := catalog.Validate(catalog.Product, op.Record)
			require.Empty(b, errs)
			op.Facts = &bus.RecordFacts{Master: v.Master}
			for _, r := range v.References {
				op.Facts.Refs = append(op.Facts.Refs, bus.FactRef{TypeID: r.TypeID, Key: r.Key, SKU: r.SKU})
			}
			wb.Ops = append(wb.Ops, op)
		}
		ib.Counts.Total = batch
		ib.Counts.Count(tracking.StateProcessing, tracking.StageQueued, batch)
		require.NoError(b, store.IngestWrite(ctx, &d, ib))
		b.StartTimer()
		out, err := w.resolveBatch(ctx, catalog.Product, wb)
		require.NoError(b, err)
		require.Len(b, out, batch)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
