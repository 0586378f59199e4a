package tracking

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/importd/importd/internal/store"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PartitionedTables are the tables partitioned by the time their delivery was
// accepted. They always get partitions of the same ranges, in one transaction.
var PartitionedTables = store.PartitionedTables

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
	err = store.InTx(ctx, p.pool, func(tx *store.Tx) error {
		if err := store.PartitionsLock(ctx, tx); err != nil {
			return err
		}
		lo, hi, err := store.PartitionsBounds(ctx, tx)
		if err != nil {
			return err
		}
		if lo == nil {
			start := from.Truncate(p.width)
			if err := store.PartitionsCreate(ctx, tx, start, start.Add(p.width)); err != nil {
				return err
			}
			l, h := start, start.Add(p.width)
			lo, hi = &l, &h
		}
		lower, upper = lo.UTC(), hi.UTC()
		for from.Before(lower) {
			next := lower.Add(-time.Nanosecond).Truncate(p.width)
			if err := store.PartitionsCreate(ctx, tx, next, lower); err != nil {
				return err
			}
			lower = next
		}
		for !to.Before(upper) {
			next := upper.Truncate(p.width).Add(p.width)
			if err := store.PartitionsCreate(ctx, tx, upper, next); err != nil {
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

// AnalyzeOperations refreshes the planner's statistics of the partition
// that holds the delivery's operations. Ingest calls it as a large delivery
// grows: a partition analysed while nearly empty makes the planner expect a
// handful of rows for a delivery of a million, and choose plans that scan
// the delivery once per row of a batch.
func (s *Store) AnalyzeOperations(ctx context.Context, d *Delivery) error {
	name, err := store.PartitionOfOperations(ctx, s.pool, d.ReceiptID, d.AcceptedAt)
	if err != nil {
		return fmt.Errorf("tracking: partition of %s: %w", d.ReceiptID, err)
	}
	// Several deliveries share a partition, each asking as it grows: the
	// partition is analysed only when it has at least doubled since its
	// last analysis, so concurrent deliveries do not analyse it once each.
	analysed, live, err := store.PartitionStats(ctx, s.pool, name)
	if err != nil {
		return fmt.Errorf("tracking: statistics of %s: %w", name, err)
	}
	if analysed > 0 && float64(live) < 2*analysed {
		return nil
	}
	if err := store.PartitionAnalyzeOperations(ctx, s.pool, name); err != nil {
		return fmt.Errorf("tracking: analyze %s: %w", name, err)
	}
	return nil
}
