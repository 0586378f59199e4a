package catalogtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/store"
)

// requireResources checks the resources a result stands for, when the
// target reports them.
func requireResources(t *testing.T, want []catalog.Reference, r catalog.ApplyResult) {
	t.Helper()
	if r.Resources != nil {
		require.ElementsMatch(t, want, r.Resources, "what the record stands for, written or not")
	}
}

// A record creates its resource, again it is Unchanged, changed it updates
// it; each names what it created and updated.
func testCreatedUpdatedUnchanged(t *testing.T, m *mode) {
	mc := merchant(t, "m")
	self := ref(catalog.Category, "shoes")
	v1 := record(t, catalog.Category, category("shoes", "Shoes"))
	v2 := record(t, catalog.Category, category("shoes", "Footwear"))

	res := m.applyOK(t, mc, v1)
	require.Equal(t, catalog.Created, res[0].Outcome, "%+v", res[0])
	require.Equal(t, []catalog.Reference{self}, res[0].Created)
	require.Empty(t, res[0].Updated)
	requireResources(t, []catalog.Reference{self}, res[0])

	res = m.applyOK(t, mc, v1)
	require.Equal(t, catalog.Unchanged, res[0].Outcome, "%+v", res[0])
	requireResources(t, []catalog.Reference{self}, res[0])

	res = m.applyOK(t, mc, v2)
	require.Equal(t, catalog.Updated, res[0].Outcome, "%+v", res[0])
	require.Empty(t, res[0].Created)
	require.Equal(t, []catalog.Reference{self}, res[0].Updated)
	requireResources(t, []catalog.Reference{self}, res[0])

	res = m.applyOK(t, mc, v2, v1)
	require.Equal(t, []catalog.Outcome{catalog.Unchanged, catalog.Updated}, outcomes(res))
}

// catalogBatch is a record of every type, in dependency order.
func catalogBatch(t *testing.T) []catalog.ApplyRecord {
	return []catalog.ApplyRecord{
		record(t, catalog.ProductType, productType("shirt", "size!", "colour")),
		record(t, catalog.Category, category("shirts", "Shirts")),
		record(t, catalog.TaxCategory, taxCategory("standard", "Standard")),
		record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"), variant("ox-l", "size=L", "colour=blue"))),
		record(t, catalog.ProductVariant, productVariant("ox-xl", "oxford", false, "size=XL")),
		record(t, catalog.Price, price("ox-m-eur", "ox-m", 4999)),
		record(t, catalog.InventoryEntry, inventory("ox-m", 7)),
	}
}

// Applying the same records again reports them Unchanged and writes
// nothing, with and without an Order: a redelivered batch never doubles a
// write.
func testIdenticalReapply(t *testing.T, m *mode) {
	for _, ordered := range []bool{false, true} {
		name := "unordered"
		if ordered {
			name = "ordered"
		}
		t.Run(name, func(t *testing.T) {
			mc := merchant(t, "m")
			recs := catalogBatch(t)
			if ordered {
				for i := range recs {
					recs[i] = at(delivery(1, i), recs[i])
				}
			}
			res := m.applyOK(t, mc, recs...)
			for i, r := range res {
				require.Equal(t, catalog.Created, r.Outcome, "record %d: %+v", i, r)
			}
			before := m.state(t, mc)
			res = m.applyOK(t, mc, recs...)
			for i, r := range res {
				require.Equal(t, catalog.Unchanged, r.Outcome, "record %d: %+v", i, r)
				require.Empty(t, r.Created, "record %d", i)
				require.Empty(t, r.Updated, "record %d", i)
			}
			require.Equal(t, before, m.state(t, mc), "an identical re-apply writes nothing")
		})
	}
}

// A record sees the records before it in its batch, whatever their type,
// and not those after it.
func testBatchInOrder(t *testing.T, m *mode) {
	mc := merchant(t, "m")
	res := m.applyOK(t, mc,
		record(t, catalog.Product, product("tee", "basic", variant("tee-s", "size=S"))),
		record(t, catalog.ProductType, productType("basic", "size")),
		record(t, catalog.Product, product("tee", "basic", variant("tee-s", "size=S"))),
		record(t, catalog.ProductVariant, productVariant("tee-m", "tee", false, "size=M")),
		record(t, catalog.Price, price("tee-m-eur", "tee-m", 999)),
		record(t, catalog.Category, category("tops", "Tops")),
		record(t, catalog.Category, category("tops", "Tops and tees")),
		record(t, catalog.Category, category("tops", "Tops")),
		record(t, catalog.Category, category("tops", "Tops")),
	)
	require.Equal(t, []catalog.Outcome{
		catalog.Refused, catalog.Created, catalog.Created, catalog.Created, catalog.Created,
		catalog.Created, catalog.Updated, catalog.Updated, catalog.Unchanged,
	}, outcomes(res), "%+v", res)
	require.Equal(t, []string{catalog.CodeUnknownReference + " productType"}, codes(res[0].Errors))
}

// A record whose references the catalog cannot honour is Refused with a
// precise code and field, and writes nothing; the records around it are
// written.
func testRefusedReferences(t *testing.T, m *mode) {
	mc := merchant(t, "m")
	res := m.applyOK(t, mc,
		record(t, catalog.ProductType, productType("shirt", "size!")),
		record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"))),
	)
	require.Equal(t, []catalog.Outcome{catalog.Created, catalog.Created}, outcomes(res))

	bad := []struct {
		rec  catalog.ApplyRecord
		code string
	}{
		{record(t, catalog.Product, product("polo", "nope", variant("polo-m", "size=M"))), catalog.CodeUnknownReference + " productType"},
		{record(t, catalog.ProductVariant, productVariant("ghost-m", "ghost", false, "size=M")), catalog.CodeUnknownReference + " product"},
		{record(t, catalog.Price, price("ghost-eur", "ghost-m", 100)), catalog.CodeUnknownReference + " sku"},
		{record(t, catalog.Product, product("linen", "shirt", variant("ox-m", "size=M"))), catalog.CodeDuplicateSKU + " masterVariant.sku"},
		{record(t, catalog.Product, product("flannel", "shirt", variant("fl-m"))), catalog.CodeRequiredAttribute + " masterVariant.attributes"},
		{record(t, catalog.ProductVariant, productVariant("ox-m", "polo", false, "size=M")), catalog.CodeUnknownReference + " product"},
	}
	before := m.state(t, mc)
	recs := make([]catalog.ApplyRecord, len(bad))
	for i, b := range bad {
		recs[i] = b.rec
	}
	res = m.applyOK(t, mc, recs...)
	for i, b := range bad {
		require.Equal(t, catalog.Refused, res[i].Outcome, "record %d: %+v", i, res[i])
		require.Equal(t, []string{b.code}, codes(res[i].Errors), "record %d", i)
	}
	require.Equal(t, before, m.state(t, mc), "refused records write nothing")

	// Refused records claimed nothing: their keys and skus are free.
	res = m.applyOK(t, mc,
		record(t, catalog.Product, product("flannel", "shirt", variant("fl-m", "size=M"))),
		record(t, catalog.Product, product("linen", "shirt", variant("li-m", "size=M"))),
		record(t, catalog.Product, product("polo", "shirt", variant("polo-m", "size=M"))),
	)
	require.Equal(t, []catalog.Outcome{catalog.Created, catalog.Created, catalog.Created}, outcomes(res), "%+v", res)

	// A refused record among others in a batch leaves them be.
	res = m.applyOK(t, mc,
		record(t, catalog.Category, category("cat-a", "A")),
		record(t, catalog.Price, price("ghost-eur", "ghost-m", 100)),
		record(t, catalog.Category, category("cat-b", "B")),
	)
	require.Equal(t, []catalog.Outcome{catalog.Created, catalog.Refused, catalog.Created}, outcomes(res))
}

// Of two records of one resource, the one that comes later in Order is
// what the catalog keeps, whatever order they are applied in: the earlier
// one applied second is Superseded with a warning naming the later
// record's delivery, and writes nothing.
func testSuperseded(t *testing.T, m *mode) {
	if m.h.Unordered {
		t.Skip("the target does not keep Order")
	}
	mc := merchant(t, "m")
	cat := func(o catalog.Order, name string) catalog.ApplyRecord {
		return at(o, record(t, catalog.Category, category("shoes", name)))
	}
	res := m.applyOK(t, mc, cat(delivery(2, 0), "new"))
	require.Equal(t, catalog.Created, res[0].Outcome)
	before := m.state(t, mc)

	res = m.applyOK(t, mc, cat(delivery(1, 5), "old"))
	require.Equal(t, catalog.Superseded, res[0].Outcome, "%+v", res[0])
	require.Equal(t, []string{catalog.CodeSuperseded + " "}, codes(res[0].Warnings))
	require.Contains(t, res[0].Warnings[0].Description, delivery(2, 0).Receipt)
	requireResources(t, []catalog.Reference{ref(catalog.Category, "shoes")}, res[0])
	require.Equal(t, before, m.state(t, mc), "a superseded record writes nothing")

	// The later record again is not superseded by itself.
	res = m.applyOK(t, mc, cat(delivery(2, 0), "new"))
	require.Equal(t, catalog.Unchanged, res[0].Outcome, "%+v", res[0])
	require.Equal(t, before, m.state(t, mc))

	// Within one batch, later in the delivery wins too.
	res = m.applyOK(t, mc, cat(delivery(3, 1), "newer"), cat(delivery(3, 0), "older"))
	require.Equal(t, []catalog.Outcome{catalog.Updated, catalog.Superseded}, outcomes(res), "%+v", res)
	require.Equal(t, []string{catalog.CodeSuperseded + " "}, codes(res[1].Warnings))

	// An unordered record is applied whatever wrote the resource, and
	// anything comes after it.
	res = m.applyOK(t, mc, cat(catalog.Order{}, "unordered"))
	require.Equal(t, catalog.Updated, res[0].Outcome, "%+v", res[0])
	res = m.applyOK(t, mc, cat(delivery(1, 0), "old"))
	require.Equal(t, catalog.Updated, res[0].Outcome, "%+v", res[0])
}

// A Product creates itself and its variants, names them all as its
// resources, and making a variant the master updates the one it replaces.
func testReferences(t *testing.T, m *mode) {
	mc := merchant(t, "m")
	pv := func(sku string) catalog.Reference { return ref(catalog.ProductVariant, sku) }
	p := ref(catalog.Product, "oxford")
	m.applyOK(t, mc, record(t, catalog.ProductType, productType("shirt", "size")))

	oxford := record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"), variant("ox-l", "size=L"), variant("ox-xl", "size=XL")))
	all := []catalog.Reference{p, pv("ox-m"), pv("ox-l"), pv("ox-xl")}
	res := m.applyOK(t, mc, oxford)
	require.Equal(t, catalog.Created, res[0].Outcome, "%+v", res[0])
	require.ElementsMatch(t, all, res[0].Created)
	require.Empty(t, res[0].Updated)
	requireResources(t, all, res[0])

	res = m.applyOK(t, mc, record(t, catalog.ProductVariant, productVariant("ox-l", "oxford", true, "size=L")))
	require.Equal(t, catalog.Updated, res[0].Outcome, "%+v", res[0])
	require.Empty(t, res[0].Created)
	require.ElementsMatch(t, []catalog.Reference{pv("ox-l"), pv("ox-m")}, res[0].Updated, "the new master and the one it replaces")
	requireResources(t, []catalog.Reference{pv("ox-l")}, res[0])

	res = m.applyOK(t, mc, oxford)
	require.Equal(t, catalog.Updated, res[0].Outcome, "%+v", res[0])
	require.Empty(t, res[0].Created)
	require.ElementsMatch(t, []catalog.Reference{p, pv("ox-m"), pv("ox-l")}, res[0].Updated)
	requireResources(t, all, res[0])

	res = m.applyOK(t, mc, oxford)
	require.Equal(t, catalog.Unchanged, res[0].Outcome, "%+v", res[0])
	requireResources(t, all, res[0])

	// A product adding a variant creates it and updates itself.
	res = m.applyOK(t, mc, record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"), variant("ox-l", "size=L"), variant("ox-xl", "size=XL"), variant("ox-s", "size=S"))))
	require.Equal(t, catalog.Updated, res[0].Outcome, "%+v", res[0])
	require.Equal(t, []catalog.Reference{pv("ox-s")}, res[0].Created)
	require.Contains(t, res[0].Updated, p)
}

// A batch that fails transiently wrote nothing, not even its records
// before the failure: the batch is held on a resource another transaction
// writes until its time is up.
func testTransient(t *testing.T, m *mode) {
	tt, ok := m.h.Target.(TxTarget)
	if !ok || m.h.Pool == nil {
		t.Skip("the suite holds resources through ApplyTx in a transaction of the harness's Pool")
	}
	ctx := t.Context()
	mc := merchant(t, "m")
	before := m.state(t, mc)

	hold, err := m.h.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(context.WithoutCancel(ctx)) }()
	res := applyTxOK(t, tt, hold, mc, record(t, catalog.ProductType, productType("held", "size")))
	require.Equal(t, []catalog.Outcome{catalog.Created}, outcomes(res))

	// A record of a resource twice makes the batch write in two steps: the
	// first resources are written when the batch reaches the held one.
	batch := []catalog.ApplyRecord{
		record(t, catalog.ProductType, productType("fresh", "size")),
		record(t, catalog.Category, category("shoes", "Shoes")),
		record(t, catalog.ProductType, productType("fresh", "size", "colour")),
		record(t, catalog.ProductType, productType("held", "colour")),
	}
	const limit = 300 * time.Millisecond
	if m.tx == nil {
		actx, cancel := context.WithTimeout(ctx, limit)
		_, err = m.h.Target.Apply(actx, mc, batch)
		cancel()
		require.ErrorIs(t, err, catalog.ErrTransient)
	} else {
		// As the importer does: the server's statement_timeout, and the
		// savepoint rolled back alone.
		tx, err := m.h.Pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		require.NoError(t, store.SetStatementTimeout(ctx, tx, limit))
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		_, err = m.tx.ApplyTx(ctx, sp, mc, batch)
		require.ErrorIs(t, err, catalog.ErrTransient)
		require.NoError(t, sp.Rollback(ctx))
		require.NoError(t, tx.Commit(ctx), "the transaction outlives its savepoint")
	}
	require.NoError(t, hold.Rollback(ctx))
	require.Equal(t, before, m.state(t, mc), "a transient failure writes nothing")

	res = m.applyOK(t, mc, batch...)
	require.Equal(t, []catalog.Outcome{catalog.Created, catalog.Created, catalog.Updated, catalog.Created}, outcomes(res), "%+v", res)
}

// A batch whose context is done fails transiently and writes nothing, or
// is written whole.
func testDoneContext(t *testing.T, m *mode) {
	mc := merchant(t, "m")
	batch := []catalog.ApplyRecord{
		record(t, catalog.ProductType, productType("shirt", "size")),
		record(t, catalog.Category, category("shoes", "Shoes")),
	}
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	res, err := m.apply(ctx, mc, batch)
	want := []catalog.Outcome{catalog.Created, catalog.Created}
	if err != nil {
		require.ErrorIs(t, err, catalog.ErrTransient)
	} else {
		require.Equal(t, want, outcomes(res))
		want = []catalog.Outcome{catalog.Unchanged, catalog.Unchanged}
	}
	require.Equal(t, want, outcomes(m.applyOK(t, mc, batch...)))
}

// What one merchant's records write is invisible to another's: the same
// keys are created anew, references do not reach across, skus are the
// merchant's own.
func testMerchantsIsolated(t *testing.T, m *mode) {
	a, b := merchant(t, "a"), merchant(t, "b")
	res := m.applyOK(t, a,
		record(t, catalog.ProductType, productType("shirt", "size")),
		record(t, catalog.Category, category("shoes", "Shoes")),
		record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"))),
	)
	require.Equal(t, []catalog.Outcome{catalog.Created, catalog.Created, catalog.Created}, outcomes(res))
	stateA := m.state(t, a)

	res = m.applyOK(t, b,
		record(t, catalog.Category, category("shoes", "Shoes")),
		record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"))),
		record(t, catalog.ProductVariant, productVariant("ox-l", "oxford", false, "size=L")),
		record(t, catalog.Price, price("ox-m-eur", "ox-m", 100)),
		record(t, catalog.ProductType, productType("shirt", "size")),
		record(t, catalog.Product, product("polo", "shirt", variant("ox-m", "size=M"))),
	)
	require.Equal(t, []catalog.Outcome{
		catalog.Created, catalog.Refused, catalog.Refused, catalog.Refused, catalog.Created, catalog.Created,
	}, outcomes(res), "%+v", res)
	require.Equal(t, []string{catalog.CodeUnknownReference + " productType"}, codes(res[1].Errors))
	require.Equal(t, []string{catalog.CodeUnknownReference + " product"}, codes(res[2].Errors))
	require.Equal(t, []string{catalog.CodeUnknownReference + " sku"}, codes(res[3].Errors))
	require.Equal(t, stateA, m.state(t, a), "another merchant's writes")

	res = m.applyOK(t, a, record(t, catalog.Category, category("shoes", "Shoes")))
	require.Equal(t, catalog.Unchanged, res[0].Outcome)
}

// Concurrent calls with the same records create each resource once: the
// others report it Unchanged, after retrying what failed transiently.
func testConcurrent(t *testing.T, m *mode) {
	mc := merchant(t, "m")
	m.applyOK(t, mc, record(t, catalog.ProductType, productType("shirt", "size")))
	batch := []catalog.ApplyRecord{
		record(t, catalog.Category, category("shoes", "Shoes")),
		record(t, catalog.Product, product("oxford", "shirt", variant("ox-m", "size=M"), variant("ox-l", "size=L"))),
		record(t, catalog.Price, price("ox-m-eur", "ox-m", 100)),
	}
	const n = 4
	results := make([][]catalog.ApplyResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = m.applyRetry(t.Context(), mc, batch) })
	}
	wg.Wait()
	created := make([]int, len(batch))
	for i := range n {
		require.NoError(t, errs[i], "call %d", i)
		require.Len(t, results[i], len(batch), "call %d", i)
		for j, r := range results[i] {
			require.NoError(t, checkResult(r), "call %d, record %d", i, j)
			switch r.Outcome {
			case catalog.Created:
				created[j]++
			case catalog.Unchanged:
			default:
				t.Fatalf("call %d, record %d: %+v", i, j, r)
			}
		}
	}
	require.Equal(t, []int{1, 1, 1}, created, "each record created once")
}

// A transaction that rolls back takes the records ApplyTx wrote within it;
// one savepoint rolled back takes its own alone.
func testRolledBack(t *testing.T, m *mode) {
	ctx := t.Context()
	mc := merchant(t, "m")
	before := m.state(t, mc)
	batch := catalogBatch(t)

	tx, err := m.h.Pool.Begin(ctx)
	require.NoError(t, err)
	res := applyTxOK(t, m.tx, tx, mc, batch...)
	for i, r := range res {
		require.Equal(t, catalog.Created, r.Outcome, "record %d: %+v", i, r)
	}
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, before, m.state(t, mc), "a rolled-back transaction writes nothing")

	// Two savepoints of one transaction: the first released, the second
	// rolled back.
	tx, err = m.h.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	kept := record(t, catalog.Category, category("kept", "Kept"))
	dropped := record(t, catalog.Category, category("dropped", "Dropped"))
	for _, step := range []struct {
		rec    catalog.ApplyRecord
		commit bool
	}{{kept, true}, {dropped, false}} {
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		res := applyTxOK(t, m.tx, sp, mc, step.rec)
		require.Equal(t, []catalog.Outcome{catalog.Created}, outcomes(res))
		if step.commit {
			require.NoError(t, sp.Commit(ctx))
		} else {
			require.NoError(t, sp.Rollback(ctx))
		}
	}
	require.NoError(t, tx.Commit(ctx))
	res = m.applyOK(t, mc, kept, dropped)
	require.Equal(t, []catalog.Outcome{catalog.Unchanged, catalog.Created}, outcomes(res))
	res = m.applyOK(t, mc, batch...)
	for i, r := range res {
		require.Equal(t, catalog.Created, r.Outcome, "record %d: %+v", i, r)
	}
}

// applyTxOK applies recs within tx, each attempt under a savepoint of its
// own, retrying while the batch fails with ErrTransient.
func applyTxOK(t *testing.T, tt TxTarget, tx pgx.Tx, merchant string, recs ...catalog.ApplyRecord) []catalog.ApplyResult {
	t.Helper()
	ctx := t.Context()
	for attempt := 1; ; attempt++ {
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		res, err := tt.ApplyTx(ctx, sp, merchant, recs)
		if err != nil {
			require.NoError(t, sp.Rollback(ctx))
			if errors.Is(err, catalog.ErrTransient) && attempt < maxAttempts {
				continue
			}
		}
		require.NoError(t, err)
		require.NoError(t, sp.Commit(ctx))
		require.Len(t, res, len(recs))
		for i, r := range res {
			require.NoError(t, checkResult(r), "record %d (%s %s)", i, recs[i].Type, recs[i].Key)
		}
		return res
	}
}
