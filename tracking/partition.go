package tracking

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PartitionedTables are the tables partitioned by the time their delivery was
// accepted. They always get partitions of the same ranges, in one transaction.
var PartitionedTables = []string{"deliveries", "delivery_counts", "operations", "tracking_events", "parked_refs"}

// partitionLock is the advisory lock key that serialises partition changes.
const partitionLock = 0x696d706f7274 // "import"

// PartitionWidth is the time range of one partition for a retention: an
// eighth of it, between one hour and one day, so retention drops a partition
// at most an eighth of the retention after its last row expired.
func PartitionWidth(retention time.Duration) time.Duration {
	w := (retention / 8).Truncate(time.Hour)
	switch {
	case w < time.Hour:
		return time.Hour
	case w > 24*time.Hour:
		return 24 * time.Hour
	}
	return w
}

// Partitions creates the time partitions of the tracking tables ahead of the
// rows that need them. It is safe for concurrent use, across processes too.
type Partitions struct {
	pool  *pgxpool.Pool
	width time.Duration

	mu           sync.Mutex
	lower, upper time.Time // range known to be covered
}

// NewPartitions returns a partition manager for partitions of the given width.
func NewPartitions(pool *pgxpool.Pool, width time.Duration) *Partitions {
	return &Partitions{pool: pool, width: width}
}

// Ensure makes sure partitions cover [from, to].
func (p *Partitions) Ensure(ctx context.Context, from, to time.Time) error {
	from, to = from.UTC(), to.UTC()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.lower.IsZero() && !from.Before(p.lower) && to.Before(p.upper) {
		return nil
	}
	lower, upper, err := p.ensure(ctx, from, to)
	if err != nil {
		return err
	}
	p.lower, p.upper = lower, upper
	return nil
}

// forget drops what the manager knows to be covered: partitions were dropped.
func (p *Partitions) forget() {
	p.mu.Lock()
	p.lower, p.upper = time.Time{}, time.Time{}
	p.mu.Unlock()
}

func (p *Partitions) ensure(ctx context.Context, from, to time.Time) (lower, upper time.Time, err error) {
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock)); err != nil {
			return err
		}
		var lo, hi *time.Time
		if err := tx.QueryRow(ctx, "SELECT min(lower), max(upper) FROM partition_ranges").Scan(&lo, &hi); err != nil {
			return err
		}
		if lo == nil {
			start := from.Truncate(p.width)
			if err := createPartition(ctx, tx, start, start.Add(p.width)); err != nil {
				return err
			}
			l, h := start, start.Add(p.width)
			lo, hi = &l, &h
		}
		lower, upper = lo.UTC(), hi.UTC()
		for from.Before(lower) {
			next := lower.Add(-time.Nanosecond).Truncate(p.width)
			if err := createPartition(ctx, tx, next, lower); err != nil {
				return err
			}
			lower = next
		}
		for !to.Before(upper) {
			next := upper.Truncate(p.width).Add(p.width)
			if err := createPartition(ctx, tx, upper, next); err != nil {
				return err
			}
			upper = next
		}
		return nil
	})
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("tracking: partitions: %w", err)
	}
	return lower, upper, nil
}

func createPartition(ctx context.Context, tx pgx.Tx, lower, upper time.Time) error {
	suffix := lower.UTC().Format("20060102t1504")
	// DDL takes no parameters; the bounds are formatted by us, never user input.
	lo, hi := lower.UTC().Format(time.RFC3339Nano), upper.UTC().Format(time.RFC3339Nano)
	for _, table := range PartitionedTables {
		sql := fmt.Sprintf("CREATE TABLE %s_p%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')", table, suffix, table, lo, hi)
		if table == "operations" {
			// Every operation is updated about three times (picked up,
			// resolved, imported): room on its page makes those updates HOT,
			// without a new entry in each index.
			sql += " WITH (fillfactor = 50)"
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create partition %s_p%s: %w", table, suffix, err)
		}
	}
	_, err := tx.Exec(ctx, "INSERT INTO partition_ranges (lower, upper, suffix) VALUES ($1, $2, $3)", lower, upper, suffix)
	return err
}

// AnalyzeOperations refreshes the planner's statistics of the partition
// that holds the delivery's operations. Ingest calls it as a large delivery
// grows: a partition analysed while nearly empty makes the planner expect a
// handful of rows for a delivery of a million, and choose plans that scan
// the delivery once per row of a batch.
func (s *Store) AnalyzeOperations(ctx context.Context, d *Delivery) error {
	var name string
	err := s.pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM operations WHERE receipt_id = $1 AND delivery_at = $2 LIMIT 1`,
		d.ReceiptID, d.AcceptedAt).Scan(&name)
	if err != nil {
		return fmt.Errorf("tracking: partition of %s: %w", d.ReceiptID, err)
	}
	// Several deliveries share a partition, each asking as it grows: the
	// partition is analysed only when it has at least doubled since its
	// last analysis, so concurrent deliveries do not analyse it once each.
	var analysed float64
	var live int64
	err = s.pool.QueryRow(ctx, `SELECT c.reltuples, coalesce(st.n_live_tup, 0) FROM pg_class c
		LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid WHERE c.oid = $1::regclass`, name).Scan(&analysed, &live)
	if err != nil {
		return fmt.Errorf("tracking: statistics of %s: %w", name, err)
	}
	if analysed > 0 && float64(live) < 2*analysed {
		return nil
	}
	// The columns workers and queries select by; the records, errors and
	// messages, the bulk of a row and of the time an analysis takes, are
	// left out.
	if _, err := s.pool.Exec(ctx, "ANALYZE "+pgx.Identifier{name}.Sanitize()+" (receipt_id, delivery_at, seq, resource_key, state, stage, failed)"); err != nil {
		return fmt.Errorf("tracking: analyze %s: %w", name, err)
	}
	return nil
}
