package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

var profileRecords = flag.Int("sqlprofile.records", 20_000, "products in BenchmarkSQLProfile")

// sqlStats adds up the time and count of every statement, by its text.
type sqlStats struct {
	mu sync.Mutex
	by map[string]*sqlStat
}

type sqlStat struct {
	n     int
	total time.Duration
	rows  int64
}

type startKey struct{}

func (s *sqlStats) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, startKey{}, [2]any{time.Now(), d.SQL})
}

func (s *sqlStats) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	v, _ := ctx.Value(startKey{}).([2]any)
	if v[0] == nil {
		return
	}
	s.add(v[1].(string), time.Since(v[0].(time.Time)), d.CommandTag.RowsAffected())
}

func (s *sqlStats) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, startKey{}, [2]any{time.Now(), "COPY " + d.TableName.Sanitize()})
}

func (s *sqlStats) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	v, _ := ctx.Value(startKey{}).([2]any)
	if v[0] == nil {
		return
	}
	s.add(v[1].(string), time.Since(v[0].(time.Time)), d.CommandTag.RowsAffected())
}

func (s *sqlStats) add(sql string, d time.Duration, rows int64) {
	key := strings.Join(strings.Fields(sql), " ")
	if len(key) > 110 {
		key = key[:110]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.by[key]
	if st == nil {
		st = &sqlStat{}
		s.by[key] = st
	}
	st.n++
	st.total += d
	st.rows += rows
}

// BenchmarkSQLProfile runs ingest, the resolver and the importer in this
// process on one pool that times every statement, and prints where the
// database time goes, per statement, for a delivery of products whose
// references exist.
//
//	go test ./internal/e2e -run '^$' -bench SQLProfile -benchtime 1x -sqlprofile.records 20000
func BenchmarkSQLProfile(b *testing.B) {
	n := *profileRecords
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx := context.Background()
		cfg, err := pgxpool.ParseConfig(testenv.DBURL(b))
		require.NoError(b, err)
		cfg.MaxConns = 16
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		stats := &sqlStats{by: map[string]*sqlStat{}}
		cfg.ConnConfig.Tracer = stats
		if os.Getenv("SQLPROFILE_AUTO_EXPLAIN") != "" {
			// Plans of slow statements go to the server's log.
			cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
				_, err := c.Exec(ctx, "LOAD 'auto_explain'; SET auto_explain.log_min_duration = '"+os.Getenv("SQLPROFILE_AUTO_EXPLAIN")+"'; SET auto_explain.log_analyze = on; SET auto_explain.log_nested_statements = on")
				return err
			}
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(b, err)
		b.Cleanup(pool.Close)
		ns := testenv.NATS(b)
		nc, js := testenv.JetStream(b, ns)
		store, err := tracking.NewStore(pool, tracking.StoreConfig{})
		require.NoError(b, err)
		require.NoError(b, store.EnsurePartitions(ctx))
		e := &env{t: b, pool: pool, store: store, nc: nc, js: js, log: zaptest.NewLogger(b, zaptest.Level(zap.WarnLevel))}
		e.startIngest()
		e.startResolver(resolver.Config{})
		e.startImporter(importer.Config{})
		e.deliver("m1", "prof-types", catalog.ProductType, `{"key":"apparel","name":"Apparel","attributes":[{"name":"size","type":"text"}]}`)
		e.deliver("m1", "prof-cats", catalog.Category, category("men", ""), category("tops", "men"))
		for _, r := range []string{"prof-types", "prof-cats"} {
			waitFor(b, time.Minute, func() bool { return e.statusName(r) == "CompletedSuccessfully" })
		}
		recs := make([]string, n)
		for j := range recs {
			recs[j] = fmt.Sprintf(`{"key":"p-%d","productType":{"key":"apparel"},"name":{"en":"Shirt %d","de":"Hemd %d"},"slug":{"en":"shirt-%d"},"categories":[{"key":"men"},{"key":"tops"}],`+
				`"masterVariant":{"sku":"p-%d-m","attributes":[{"name":"size","value":"M"}],"prices":[{"value":{"currencyCode":"EUR","centAmount":1999}}]},`+
				`"variants":[{"sku":"p-%d-l","attributes":[{"name":"size","value":"L"}],"prices":[{"value":{"currencyCode":"EUR","centAmount":2199}}]}]}`, j, j, j, j, j, j)
		}
		stats.mu.Lock()
		stats.by = map[string]*sqlStat{}
		stats.mu.Unlock()
		b.StartTimer()
		start := time.Now()
		e.deliverObject("m1", "prof-products", catalog.Product, recs...)
		waitFor(b, 30*time.Minute, func() bool { return e.statusName("prof-products") == "CompletedSuccessfully" })
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")

		stats.mu.Lock()
		type row struct {
			sql string
			st  *sqlStat
		}
		var rows []row
		var total time.Duration
		for k, v := range stats.by {
			rows = append(rows, row{k, v})
			total += v.total
		}
		stats.mu.Unlock()
		sort.Slice(rows, func(i, j int) bool { return rows[i].st.total > rows[j].st.total })
		tw := tabwriter.NewWriter(os.Stderr, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%d records in %s; statement time %s in all (over every connection)\n", n, elapsed.Round(time.Millisecond), total.Round(time.Millisecond))
		fmt.Fprintln(tw, "share\ttotal\tcalls\tper call\trows\tstatement")
		for _, r := range rows[:min(len(rows), 30)] {
			fmt.Fprintf(tw, "%.1f%%\t%s\t%d\t%s\t%d\t%s\n", 100*float64(r.st.total)/float64(total), r.st.total.Round(time.Millisecond), r.st.n,
				(r.st.total / time.Duration(r.st.n)).Round(time.Microsecond), r.st.rows, r.sql)
		}
		tw.Flush()
		b.StartTimer()
	}
}
