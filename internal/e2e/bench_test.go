package e2e

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/resolver"
)

var resolveRecords = flag.Int("resolve.records", 100_000, "operations in BenchmarkResolveAllPresent")

// BenchmarkResolveAllPresent measures the resolver alone: a delivery of
// products whose references all exist is ingested first; then a resolver
// starts and the clock runs until every operation is resolved.
//
//	go test ./internal/e2e -run '^$' -bench ResolveAllPresent -benchtime 1x -resolve.records 100000
func BenchmarkResolveAllPresent(b *testing.B) {
	n := *resolveRecords
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		e.startIngest()
		ctx := context.Background()
		for _, k := range []string{"men", "tops", "sale"} {
			e.announceDirect("m1", catalog.Category.TypeID(), k)
		}
		e.announceDirect("m1", catalog.ProductType.TypeID(), "apparel")
		recs := make([]string, n)
		for j := range recs {
			recs[j] = product(fmt.Sprintf("bench-%d", j), "apparel", "men", "tops", "sale")
		}
		receipt := fmt.Sprintf("bench-resolve-%d", i)
		e.deliverObject("m1", receipt, catalog.Product, recs...)
		waitFor(b, 10*time.Minute, func() bool {
			d, err := e.store.DeliveryGet(ctx, receipt)
			return err == nil && d.IngestState == "done"
		})
		b.StartTimer()
		start := time.Now()
		e.startResolver(resolver.Config{})
		waitFor(b, 10*time.Minute, func() bool {
			var left int
			_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE receipt_id = $1 AND stage = 0`, receipt).Scan(&left)
			return left == 0
		})
		elapsed := time.Since(start)
		b.StopTimer()
		var resolved int
		_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE receipt_id = $1 AND state = 'processing' AND stage = 2`, receipt).Scan(&resolved)
		if resolved != n {
			b.Fatalf("%d operations resolved, want %d", resolved, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "operations/s")
		b.StartTimer()
	}
}

// announceDirect records an existing resource in the registry directly.
func (e *env) announceDirect(merchant, typeID, key string) {
	_, err := e.pool.Exec(context.Background(), `INSERT INTO known_keys (merchant_id, type_id, key, exists, created_at, source)
		VALUES ($1, $2, $3, true, now(), 'test') ON CONFLICT (merchant_id, type_id, key) DO UPDATE SET exists = true`, merchant, typeID, key)
	if err != nil {
		e.t.Fatal(err)
	}
}

func waitFor(tb testing.TB, within time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
