package resolver

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// A product paired at resolution with a master variant parked before it
// goes to the importer with that master merged in; its work message
// delivered again (the resolver died before its publication was stored)
// must send the merged record again, not the message's, which has no
// master: imported without one, the product would be refused and its
// master variant would wait for it for ever.
func TestRedeliveredPairedProductKeepsItsMaster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, store.EnsurePartitions(ctx))
	w, err := New(Config{}, store, js, nil)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key, exists) VALUES ('m1', 'product-type', 'pt', true)`)
	require.NoError(t, err)

	// stored writes a delivery of one record and returns its work message.
	stored := func(receipt string, t2 catalog.ResourceType, key, record string) *bus.WorkBatch {
		d, _, err := store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: receipt, MerchantID: "m1", AcceptedAt: time.Now(), Data: string(t2),
			Format: "ndjson", ContractVersion: "1.0", Source: "TEST:" + receipt})
		require.NoError(t, err)
		ev := tracking.NewEvent(&d, key, tracking.CodeRecordReceived, "Record received")
		b := tracking.IngestBatch{To: 1, Events: []tracking.Event{ev}, Ops: []tracking.Operation{{ID: tracking.OperationID("m1", receipt, 0), ResourceType: string(t2),
			ResourceKey: key, State: tracking.StateProcessing, CreatedAt: d.AcceptedAt, Line: 1, Last: ev}}}
		b.Counts.Total = 1
		b.Counts.Count(tracking.StateProcessing, tracking.StageQueued, 1)
		require.NoError(t, store.IngestWrite(ctx, &d, b))
		return &bus.WorkBatch{ReceiptID: receipt, MerchantID: "m1", DeliveryAt: d.AcceptedAt, ResourceType: string(t2),
			Ops: []bus.WorkOp{{ID: tracking.OperationID("m1", receipt, 0).String(), Seq: 0, Key: key, Record: json.RawMessage(record)}}}
	}
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
