package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/audit"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// TestRedrive stores deliveries while no resolver runs, then lets each
// stage in only after the work of the one before has stalled for longer
// than RedriveAfter: with IMPORT_WORK purged before each stage starts (the
// work messages lost, as by an OS crash on a single node), every operation
// must still be imported, re-driven to the resolver and then to the
// importer; with nothing lost (the work only slow), the stages get every
// message twice or more and must still import each record once.
func TestRedrive(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		lose bool
	}{
		{"lost", true},
		{"slow", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n = 600
			e := newEnv(t)
			e.startIngestWith(ingest.Config{RedriveAfter: time.Second, MaxInFlight: -1})
			types, cats := make([]string, n), make([]string, n)
			for i := range n {
				types[i] = productType(fmt.Sprintf("rd-pt-%d", i))
				cats[i] = category(fmt.Sprintf("rd-cat-%d", i), "")
			}
			// One body in the message, one in the object store: both are read again.
			receipts := []string{"redrive-" + tt.name + "-types", "redrive-" + tt.name + "-cats"}
			e.deliver("m1", receipts[0], catalog.ProductType, types...)
			e.deliverObject("m1", receipts[1], catalog.Category, cats...)
			for _, r := range receipts {
				waitFor(t, 30*time.Second, func() bool {
					d, err := e.store.DeliveryGet(context.Background(), r)
					return err == nil && d.IngestState == tracking.IngestDone
				})
			}
			lose := func() {
				if !tt.lose {
					return
				}
				s, err := e.js.Stream(context.Background(), bus.StreamWork)
				require.NoError(t, err)
				require.NoError(t, s.Purge(context.Background()))
			}
			lose()
			// Re-driven to the resolver before any resolver runs.
			for _, r := range receipts {
				waitFor(t, 30*time.Second, func() bool { return e.redriven(r, "resolver") == n })
			}
			lose()
			e.startResolver(resolver.Config{})
			for _, r := range receipts {
				waitFor(t, 30*time.Second, func() bool { return e.stage(r, tracking.StageResolved) == n })
			}
			lose()
			// Resolved, their importer messages lost or waiting: re-driven to the importer.
			for _, r := range receipts {
				waitFor(t, 30*time.Second, func() bool { return e.redriven(r, "importer") == n })
			}
			lose()
			e.startImporter(importer.Config{})
			for _, r := range receipts {
				waitFor(t, 60*time.Second, func() bool { return e.delivery(r).CompletedAt != nil })
				require.Equal(t, n, e.count(r, string(tracking.StateImported)), "%s: every operation imported", r)
				var imports int
				require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM tracking_events
					WHERE receipt_id = $1 AND code IN ($2, $3)`, r, int32(tracking.CodeImported), int32(tracking.CodeImportedUnchanged)).Scan(&imports))
				require.Equal(t, n, imports, "%s: one import event per operation, however often its work was published", r)
			}
			var ptypes, categories int
			require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT
				(SELECT count(*) FROM catalog_product_types WHERE merchant_id = 'm1'),
				(SELECT count(*) FROM catalog_categories WHERE merchant_id = 'm1')`).Scan(&ptypes, &categories))
			require.Equal(t, []int{n, n}, []int{ptypes, categories})
			require.GreaterOrEqual(t, redrivenMetric(t, "resolve"), float64(2*n))
			require.GreaterOrEqual(t, redrivenMetric(t, "apply"), float64(2*n))
			au, err := audit.New(e.pool, audit.Config{}, e.log)
			require.NoError(t, err)
			var violations []string
			sum, err := au.All(context.Background(), func(v audit.Violation) { violations = append(violations, v.String()) })
			require.NoError(t, err)
			require.Empty(t, violations)
			require.EqualValues(t, 2*n, sum.Operations)
		})
	}
}

// redriven counts the operations of a delivery with a Redriven event to
// the stage named ("resolver", "importer").
func (e *env) redriven(receipt, to string) int {
	var c int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT count(DISTINCT product_id) FROM tracking_events
		WHERE receipt_id = $1 AND code = $2 AND message LIKE '%to the ' || $3`, receipt, int32(tracking.CodeRedriven), to).Scan(&c))
	return c
}

// stage counts the operations of a delivery processing at stage st.
func (e *env) stage(receipt string, st tracking.Stage) int {
	var c int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM operations
		WHERE receipt_id = $1 AND state = 'processing' AND stage = $2`, receipt, int16(st)).Scan(&c))
	return c
}

// redrivenMetric reads importd_operations_redriven_total of a stage (the
// whole test binary's).
func redrivenMetric(t *testing.T, stage string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "importd_operations_redriven_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" && l.GetValue() == stage {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Work lost together with the delivery's body (its message gone from
// IMPORT_DELIVERIES) can never be re-driven: the operations end rejected
// with RECORD_LOST, once, and the delivery completes, rather than being
// claimed again every RedriveAfter for ever.
func TestRedriveBodyLost(t *testing.T) {
	t.Parallel()
	const n = 300
	ctx := context.Background()
	e := newEnv(t)
	e.startIngestWith(ingest.Config{RedriveAfter: time.Second, MaxInFlight: -1})
	types := make([]string, n)
	for i := range n {
		types[i] = productType(fmt.Sprintf("lost-pt-%d", i))
	}
	const receipt = "redrive-body-lost"
	e.deliver("m1", receipt, catalog.ProductType, types...)
	var d tracking.Delivery
	waitFor(t, 30*time.Second, func() bool {
		var err error
		d, err = e.store.DeliveryGet(ctx, receipt)
		return err == nil && d.IngestState == tracking.IngestDone
	})
	work, err := e.js.Stream(ctx, bus.StreamWork)
	require.NoError(t, err)
	require.NoError(t, work.Purge(ctx))
	deliveries, err := e.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)
	var seq uint64
	_, err = fmt.Sscanf(d.Source, bus.StreamDeliveries+":%d", &seq)
	require.NoError(t, err)
	require.NoError(t, deliveries.DeleteMsg(ctx, seq))
	e.startResolver(resolver.Config{})
	e.startImporter(importer.Config{})
	waitFor(t, 30*time.Second, func() bool { return e.delivery(receipt).CompletedAt != nil })
	require.Equal(t, n, e.count(receipt, string(tracking.StateRejected)))
	var lost, rejections int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM operations WHERE receipt_id = $1 AND errors->0->>'code' = $2),
		(SELECT count(*) FROM tracking_events WHERE receipt_id = $1 AND code = $3)`,
		receipt, ingest.CodeRecordLost, int32(tracking.CodeRejected)).Scan(&lost, &rejections))
	require.Equal(t, []int{n, n}, []int{lost, rejections})
}
