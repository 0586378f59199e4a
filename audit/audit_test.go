package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// fixture is a database that the real pipeline (ingest, resolver, importer
// into catalog.Store) has processed a few deliveries into: parked and
// released operations, validation failures, duplicates, a rejected
// operation retried once, a delivery without content, and one category
// left parked on a parent that never comes.
type fixture struct {
	pool  *pgxpool.Pool
	store *tracking.Store
}

const merchant = "m1"

var fixtureDeliveries = []struct {
	receipt string
	t       catalog.ResourceType
	records []string
}{
	// Products first: they park on their product type until it arrives.
	{"aud-products", catalog.Product, []string{
		product("p-1", "sku-1"), product("p-2", "sku-2"),
		`{"key":"p-bad","productType":{"key":"pt-1"},"slug":{"en":"bad"}}`, // name missing
		product("p-1", "sku-9"), // duplicate identity
	}},
	{"aud-cats", catalog.Category, []string{category("cat-child", "cat-root"), category("cat-root", ""), category("cat-orphan", "cat-missing")}},
	{"aud-types", catalog.ProductType, []string{`{"key":"pt-1","name":"T"}`}},
	{"aud-taxes", catalog.TaxCategory, []string{`{"key":"tax-1","name":"Standard"}`, `{"key":"rej-1","name":"Always fails"}`}},
	{"aud-empty", catalog.TaxCategory, nil},
	// Without Import-Skip-Errors: 2 of 5 invalid, so the delivery is
	// interrupted and the products parked on a type that never comes are canceled.
	{"aud-interrupted", catalog.Product, []string{
		`{"key":"i-bad-1","productType":{"key":"pt-never"},"slug":{"en":"i1"}}`,
		`{"key":"i-bad-2","productType":{"key":"pt-never"},"slug":{"en":"i2"}}`,
		`{"key":"i-3","productType":{"key":"pt-never"},"name":{"en":"x"},"slug":{"en":"i3"}}`,
		`{"key":"i-4","productType":{"key":"pt-never"},"name":{"en":"x"},"slug":{"en":"i4"}}`,
		`{"key":"i-5","productType":{"key":"pt-never"},"name":{"en":"x"},"slug":{"en":"i5"}}`,
	}},
}

func product(key, sku string) string {
	return fmt.Sprintf(`{"key":%q,"productType":{"key":"pt-1"},"name":{"en":%q},"slug":{"en":%q},"masterVariant":{"sku":%q}}`, key, key, key+"-"+sku, sku)
}

func category(key, parent string) string {
	if parent == "" {
		return fmt.Sprintf(`{"key":%q,"name":{"en":%q},"slug":{"en":%q}}`, key, key, key)
	}
	return fmt.Sprintf(`{"key":%q,"name":{"en":%q},"slug":{"en":%q},"parent":{"key":%q}}`, key, key, key, parent)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := testenv.DB(t)
	ns := testenv.NATS(t)
	_, js := testenv.JetStream(t, ns)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, store.EnsurePartitions(ctx))
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))

	iw, err := ingest.New(ingest.Config{}, store, js, log)
	require.NoError(t, err)
	rw, err := resolver.New(resolver.Config{SweepInterval: 200 * time.Millisecond}, store, js, log)
	require.NoError(t, err)
	target := &catalog.Faulty{Target: catalog.NewStore(pool), FailKey: func(key string) bool { return key == "rej-1" }}
	mw, err := importer.New(importer.Config{Target: target, RetryWindow: 150 * time.Millisecond, RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}, store, js, log)
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 3)
	for name, run := range map[string]func(context.Context) error{"ingest": iw.Run, "resolver": rw.Run, "importer": mw.Run} {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := run(wctx); err != nil && wctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	stop := func() {
		cancel()
		for range 3 {
			<-done
		}
	}
	t.Cleanup(func() {
		if wctx.Err() == nil {
			stop()
		}
	})

	for _, d := range fixtureDeliveries {
		msg := nats.NewMsg(bus.DeliverySubject(merchant))
		msg.Header.Set(bus.HeaderMsgID, d.receipt)
		msg.Header.Set(bus.HeaderData, string(d.t))
		if d.receipt != "aud-interrupted" {
			msg.Header.Set(bus.HeaderSkipErrors, "true") // the error threshold would cancel what the checks look at
		}
		msg.Data = []byte(strings.Join(d.records, "\n"))
		_, err := js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	for _, r := range []string{"aud-products", "aud-types", "aud-taxes", "aud-empty", "aud-interrupted"} {
		require.Eventually(t, func() bool {
			d, err := store.DeliveryGet(ctx, r)
			return err == nil && d.CompletedAt != nil
		}, 2*time.Minute, 20*time.Millisecond, "delivery %s not completed", r)
	}
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE receipt_id = 'aud-cats'
			AND ((resource_key IN ('cat-child', 'cat-root') AND state = 'imported') OR (resource_key = 'cat-orphan' AND state = 'unresolved'))`).Scan(&n))
		return n == 3
	}, 2*time.Minute, 20*time.Millisecond, "categories not resolved")
	stop()

	// An operator retries the rejected operation; it is rejected again.
	// This is written with the tracking API exactly as a retry would be:
	// rejected → processing (RetryRequested), then → rejected (Rejected).
	f := &fixture{pool: pool, store: store}
	f.transition(t, "aud-taxes", "rej-1", tracking.StateProcessing, tracking.CodeRetryRequested)
	f.transition(t, "aud-taxes", "rej-1", tracking.StateRejected, tracking.CodeImportAttemptFailed, tracking.CodeRejected)
	return f
}

// transition moves the operation of key in receipt to state `to` at
// StageResolved with events of the given codes, through the tracking API.
func (f *fixture) transition(t *testing.T, receipt, key string, to tracking.State, codes ...tracking.Code) {
	t.Helper()
	ctx := context.Background()
	d, err := f.store.DeliveryGet(ctx, receipt)
	require.NoError(t, err)
	var seq int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT seq FROM operations WHERE receipt_id = $1 AND resource_key = $2`, receipt, key).Scan(&seq))
	require.NoError(t, pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		states, err := tracking.OpsLock(ctx, tx, receipt, d.AcceptedAt, []int{seq})
		if err != nil {
			return err
		}
		var evs []tracking.Event
		for _, c := range codes {
			evs = append(evs, tracking.NewEvent(&d, key, c, fmt.Sprintf("test event %d", c)))
		}
		_, err = tracking.TransitionsApply(ctx, tx, []tracking.Transition{{From: states[seq], To: to, Stage: tracking.StageResolved, Events: evs,
			Errors: []catalog.Error{{Type: catalog.SystemError, Code: catalog.CodeTargetFailure, Description: "test"}}}})
		return err
	}))
}

// audit runs the checks of one delivery after corrupt has changed the
// database, in a transaction rolled back afterwards, and returns the
// violations by check.
func (f *fixture) audit(t *testing.T, cfg Config, receipt string, corrupt ...string) map[string][]Violation {
	t.Helper()
	ctx := context.Background()
	a, err := New(f.pool, cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, sql := range corrupt {
		_, err := tx.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	var ds []delivery
	require.NoError(t, store.AuditDeliveriesByReceipt(ctx, tx, receipt, collectDelivery(&ds)))
	require.Len(t, ds, 1)
	out := map[string][]Violation{}
	sum, err := a.auditTx(ctx, tx, ds[0], func(v Violation) {
		t.Log(v)
		out[v.Check] = append(out[v.Check], v)
	})
	require.NoError(t, err)
	require.EqualValues(t, 1, sum.Deliveries)
	return out
}

// only asserts that the violations are all of one check, n of them, and
// that each message contains want.
func only(t *testing.T, got map[string][]Violation, check string, n int, want ...string) []Violation {
	t.Helper()
	for c, vs := range got {
		require.Equal(t, check, c, "unexpected %s violations: %v", c, vs)
	}
	require.Len(t, got[check], n, "%v", got[check])
	for _, v := range got[check] {
		for _, w := range want {
			require.Contains(t, v.String(), w)
		}
	}
	return got[check]
}

const opWhere = `receipt_id = 'aud-products' AND resource_key = 'p-2'`

func TestAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	t.Run("clean pipeline", func(t *testing.T) {
		a, err := New(f.pool, Config{}, zaptest.NewLogger(t))
		require.NoError(t, err)
		var vs []Violation
		sum, err := a.All(ctx, func(v Violation) { vs = append(vs, v) })
		require.NoError(t, err)
		require.Empty(t, vs)
		require.EqualValues(t, len(fixtureDeliveries), sum.Deliveries)
		require.EqualValues(t, 4+3+1+2+5, sum.Operations)
		var canceled int
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE receipt_id = 'aud-interrupted' AND state = 'canceled'`).Scan(&canceled))
		require.Equal(t, 3, canceled, "the interrupted delivery's parked products were canceled")
		require.Positive(t, sum.Events)
		// The fixture has what the checks look for.
		var rejected, retries, unresolved int
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE code = 2204), count(*) FILTER (WHERE code = 2302) FROM tracking_events WHERE product_id = 'rej-1'`).Scan(&rejected, &retries))
		require.Equal(t, [2]int{2, 1}, [2]int{rejected, retries}, "rejected, retried, rejected again")
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE state = 'unresolved'`).Scan(&unresolved))
		require.Equal(t, 1, unresolved)

		sum, err = a.Delivery(ctx, "aud-products", nil)
		require.NoError(t, err)
		require.EqualValues(t, 1, sum.Deliveries)
		require.EqualValues(t, 4, sum.Operations)
		_, err = a.Delivery(ctx, "no-such-receipt", nil)
		require.ErrorIs(t, err, ErrNotFound)
	})

	t.Run("state", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-products", `UPDATE operations SET stage = 0 WHERE `+opWhere)
		only(t, got, CheckState, 1, "op 1", `"p-2"`, "stage 0 does not go with state imported")
		got = f.audit(t, Config{}, "aud-products", `UPDATE operations SET state = 'done' WHERE `+opWhere)
		require.Contains(t, got[CheckState][0].Message, `state "done" is not one of the 8`)
		require.NotEmpty(t, got[CheckCounts], "an unknown state is counted nowhere")
		got = f.audit(t, Config{}, "aud-products", `UPDATE operations SET errors = NULL WHERE receipt_id = 'aud-products' AND resource_key = 'p-bad'`)
		only(t, got, CheckState, 1, "validationFailed without errors")
	})

	t.Run("counts off by one", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-products", `UPDATE delivery_counts SET imported = imported + 1
			WHERE receipt_id = 'aud-products' AND slot = (SELECT min(slot) FROM delivery_counts WHERE receipt_id = 'aud-products')`)
		only(t, got, CheckCounts, 1, "receipt aud-products:", "delivery_counts.imported sums to 3, but 2 operations")
	})

	t.Run("missing RecordReceived event", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-products", `DELETE FROM tracking_events WHERE receipt_id = 'aud-products' AND product_id = 'p-2' AND code = 2000`)
		only(t, got, CheckEvents, 1, "op 1", "0 RecordReceived (2000) events, want 1")
	})

	t.Run("doubled terminal event", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-products", `INSERT INTO tracking_events (delivery_at, tracking_id, ts, code, receipt_id, merchant_id, product_id, message)
			SELECT delivery_at, gen_random_uuid(), ts - interval '1 millisecond', code, receipt_id, merchant_id, product_id, message
			FROM tracking_events WHERE receipt_id = 'aud-products' AND product_id = 'p-2' AND code IN (2201, 2202)`)
		only(t, got, CheckEvents, 1, "op 1", "2 imported terminal events (codes 2201/2202/2206), want 1 for the operation (imported)")
	})

	t.Run("terminal event of an operation not in an end state", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-cats", `INSERT INTO tracking_events (delivery_at, tracking_id, ts, code, receipt_id, merchant_id, product_id, message)
			SELECT delivery_at, gen_random_uuid(), ts - interval '1 second', 2201, receipt_id, merchant_id, product_id, 'imported?'
			FROM tracking_events WHERE receipt_id = 'aud-cats' AND product_id = 'cat-orphan' AND code = 2000`)
		only(t, got, CheckEvents, 1, `"cat-orphan"`, "1 imported terminal events", "want 0 for the operation (unresolved)")
	})

	t.Run("rejections without retries", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-taxes", `DELETE FROM tracking_events WHERE receipt_id = 'aud-taxes' AND code = 2302`)
		only(t, got, CheckEvents, 1, `"rej-1"`, "2 rejected terminal events (codes 2204), want 1 (1 rejected + 0 RetryRequested)")
	})

	t.Run("shared key of duplicates", func(t *testing.T) {
		// p-1 is two operations: imported, and failed as a duplicate.
		got := f.audit(t, Config{}, "aud-products", `DELETE FROM tracking_events WHERE receipt_id = 'aud-products' AND product_id = 'p-1' AND code = 2001`)
		require.Len(t, got, 2, "%v", got)
		require.Len(t, got[CheckEvents], 1)
		require.Contains(t, got[CheckEvents][0].Message, "0 validationFailed terminal events (codes 2001/2205), want 1 for the 2 operations of this key (0 imported, 3 validationFailed)")
		require.Len(t, got[CheckLastEvent], 1)
		require.Contains(t, got[CheckLastEvent][0].String(), `op 3 key "p-1": last-event: last_tracking_id`)
	})

	t.Run("last event", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-products", `UPDATE operations SET last_tracking_id = (SELECT tracking_id FROM tracking_events
			WHERE receipt_id = 'aud-products' AND product_id = 'p-2' AND code = 2000), last_tracking_code = 2000 WHERE `+opWhere)
		only(t, got, CheckLastEvent, 1, "op 1", "is not the latest event", "(code 2201) is")
		got = f.audit(t, Config{}, "aud-products", `UPDATE operations SET last_tracking_code = 2202 WHERE `+opWhere)
		only(t, got, CheckLastEvent, 1, "last_tracking_code is 2202, but event")
		got = f.audit(t, Config{}, "aud-products", `UPDATE operations SET last_tracking_id = gen_random_uuid() WHERE `+opWhere)
		only(t, got, CheckLastEvent, 1, "is not an event of this operation")
	})

	t.Run("completion", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-types", `DELETE FROM tracking_events WHERE receipt_id = 'aud-types' AND code = 1006`)
		only(t, got, CheckCompletion, 1, "completed with 0 completion events")
		got = f.audit(t, Config{}, "aud-types", `INSERT INTO tracking_events (delivery_at, tracking_id, ts, code, receipt_id, merchant_id, message)
			SELECT delivery_at, gen_random_uuid(), ts, code, receipt_id, merchant_id, message FROM tracking_events WHERE receipt_id = 'aud-types' AND code = 1006`)
		only(t, got, CheckCompletion, 1, "completed with 2 completion events")
		got = f.audit(t, Config{}, "aud-types", `UPDATE deliveries SET completed_at = NULL WHERE receipt_id = 'aud-types'`,
			`DELETE FROM tracking_events WHERE receipt_id = 'aud-types' AND code = 1006`)
		only(t, got, CheckCompletion, 1, "was never completed")
		got = f.audit(t, Config{}, "aud-taxes", `UPDATE tracking_events SET code = 1006 WHERE receipt_id = 'aud-taxes' AND code = 1007`)
		only(t, got, CheckCompletion, 1, "is Completed (1006), but 1 operations failed")
		got = f.audit(t, Config{}, "aud-empty", `DELETE FROM tracking_events WHERE receipt_id = 'aud-empty' AND code = 1003`)
		only(t, got, CheckCompletion, 1, "completed without records: 0 NoContent")
		// A completed delivery with an operation not in an end state: the
		// counts and the events disagree as well.
		got = f.audit(t, Config{}, "aud-cats", `UPDATE deliveries SET completed_at = now() WHERE receipt_id = 'aud-cats'`)
		only(t, got, CheckCompletion, 2, "receipt aud-cats:")
		require.Contains(t, got[CheckCompletion][0].Message, "completed, but 1 operations are not in an end state")
	})

	t.Run("imported operation missing from the catalog", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-taxes", `DELETE FROM catalog_tax_categories WHERE merchant_id = 'm1' AND key = 'tax-1'`)
		only(t, got, CheckCatalog, 1, `key "tax-1"`, `imported TaxCategory "tax-1" is not in the catalog (catalog_tax_categories)`)
		got = f.audit(t, Config{}, "aud-products", `DELETE FROM catalog_variants WHERE merchant_id = 'm1' AND product_key = 'p-2'`,
			`DELETE FROM catalog_products WHERE merchant_id = 'm1' AND key = 'p-2'`)
		only(t, got, CheckCatalog, 1, `"p-2"`, "(catalog_products)")
		got = f.audit(t, Config{SkipCatalog: true}, "aud-taxes", `DELETE FROM catalog_tax_categories WHERE merchant_id = 'm1' AND key = 'tax-1'`)
		require.Empty(t, got)
	})

	t.Run("catalog row referring to what is not in the catalog", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-products", `UPDATE catalog_products SET product_type_key = 'gone' WHERE merchant_id = 'm1' AND key = 'p-2'`)
		only(t, got, CheckCatalog, 1, `"p-2"`, `refers to product type "gone", which is not in the catalog (catalog_product_types)`)
	})

	t.Run("stuck parked operation", func(t *testing.T) {
		// The parent exists (its release was missed) for an hour.
		exists := `UPDATE known_keys SET exists = true, created_at = now() - interval '1 hour', source = 'event'
			WHERE merchant_id = 'm1' AND type_id = 'category' AND key = 'cat-missing'`
		old := `UPDATE parked_refs SET parked_at = now() - interval '2 hours' WHERE receipt_id = 'aud-cats'`
		got := f.audit(t, Config{}, "aud-cats", exists, old)
		only(t, got, CheckStuck, 1, `"cat-orphan"`, "unresolved, but all 1 references it is parked on exist", "over the grace of 30s")
		// Within the grace period: not yet.
		got = f.audit(t, Config{Grace: 2 * time.Hour}, "aud-cats", exists, old)
		require.Empty(t, got)
		got = f.audit(t, Config{}, "aud-cats", `UPDATE known_keys SET exists = true, created_at = now() WHERE merchant_id = 'm1' AND key = 'cat-missing'`, old)
		require.Empty(t, got)
	})

	t.Run("parked without parked_refs and the reverse", func(t *testing.T) {
		got := f.audit(t, Config{}, "aud-cats", `DELETE FROM parked_refs WHERE receipt_id = 'aud-cats'`)
		only(t, got, CheckParked, 1, `"cat-orphan"`, "unresolved, but parked on nothing")
		got = f.audit(t, Config{}, "aud-products", `INSERT INTO parked_refs (merchant_id, type_id, key, receipt_id, seq, delivery_at, op_type, op_key, parked_at)
			SELECT merchant_id, 'product-type', 'pt-x', receipt_id, seq, delivery_at, resource_type, resource_key, now() FROM operations WHERE `+opWhere)
		only(t, got, CheckParked, 1, "op 1", "parked_refs row (product-type pt-x) for an operation that is imported, not parked")
		got = f.audit(t, Config{}, "aud-cats", `UPDATE operations SET state = 'waitForMasterVariant' WHERE receipt_id = 'aud-cats' AND state = 'unresolved'`,
			`INSERT INTO delivery_counts (receipt_id, delivery_at, slot, unresolved, waiting)
				SELECT receipt_id, accepted_at, 100, -1, 1 FROM deliveries WHERE receipt_id = 'aud-cats'`)
		only(t, got, CheckParked, 1, `"cat-orphan"`, "waitForMasterVariant, but parked on 1 references of which 0")
	})
}
