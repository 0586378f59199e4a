package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// PartitionedTables are the tables partitioned by the time their delivery
// was accepted. They always get partitions of the same ranges, in one
// transaction, recorded in partition_ranges.
var PartitionedTables = []string{"deliveries", "delivery_counts", "operations", "tracking_events", "parked_refs"}

// partitionLock is the advisory lock key that serialises partition changes.
const partitionLock = 0x696d706f7274 // "import"

// PartitionsLock serialises the transactions that change partitions, or
// act on a whole partition's rows, until the transaction ends.
func PartitionsLock(ctx context.Context, db database.DBTX) error {
	_, err := db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock))
	return err
}

// PartitionsBounds returns the range the partitions cover, nil and nil when
// there is none.
func PartitionsBounds(ctx context.Context, db database.DBTX) (lower, upper *time.Time, err error) {
	err = db.QueryRow(ctx, "SELECT min(lower), max(upper) FROM partition_ranges").Scan(&lower, &upper)
	return lower, upper, err
}

// PartitionsCreate creates the partitions of every partitioned table for
// [lower, upper) and records the range.
func PartitionsCreate(ctx context.Context, db database.DBTX, lower, upper time.Time) error {
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
		if _, err := db.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create partition %s_p%s: %w", table, suffix, err)
		}
	}
	_, err := db.Exec(ctx, "INSERT INTO partition_ranges (lower, upper, suffix) VALUES ($1, $2, $3)", lower, upper, suffix)
	return err
}

// PartitionRange is a row of partition_ranges.
type PartitionRange struct {
	Lower, Upper time.Time
	Suffix       string
}

// PartitionsBefore returns the ranges that end by cutoff, oldest first.
func PartitionsBefore(ctx context.Context, db database.DBTX, cutoff time.Time) ([]PartitionRange, error) {
	rows, err := db.Query(ctx, `SELECT lower, upper, suffix FROM partition_ranges WHERE upper <= $1 ORDER BY lower`, cutoff)
	if err != nil {
		return nil, err
	}
	var out []PartitionRange
	var r PartitionRange
	_, err = pgx.ForEachRow(rows, []any{&r.Lower, &r.Upper, &r.Suffix}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// PartitionsDrop drops the partitions of every partitioned table for the
// range starting at lower, and the apply_outbox rows that point into it,
// in the caller's transaction, waiting at most lockTimeout for the tables'
// locks (a lock_not_available error then). It reports false when the
// range is gone already (dropped by another process).
func PartitionsDrop(ctx context.Context, db database.DBTX, lower time.Time, suffix string, lockTimeout time.Duration) (bool, error) {
	if _, err := db.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", lockTimeout.Milliseconds())); err != nil {
		return false, err
	}
	if err := PartitionsLock(ctx, db); err != nil {
		return false, err
	}
	var upper time.Time
	err := db.QueryRow(ctx, "DELETE FROM partition_ranges WHERE lower = $1 AND suffix = $2 RETURNING upper", lower, suffix).Scan(&upper)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, table := range PartitionedTables {
		// DDL takes no parameters; the suffix is ours (partition_ranges), never user input.
		name := pgx.Identifier{table + "_p" + suffix}.Sanitize()
		if _, err := db.Exec(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			return false, fmt.Errorf("drop %s: %w", name, err)
		}
	}
	if err := ApplyOutboxDeleteRange(ctx, db, lower, upper); err != nil {
		return false, err
	}
	return true, nil
}

// PartitionOfOperations returns the name of the partition that holds the
// delivery's operations, or ErrNotFound when it has none.
func PartitionOfOperations(ctx context.Context, db database.DBTX, receipt string, at time.Time) (string, error) {
	var name string
	err := db.QueryRow(ctx, `SELECT tableoid::regclass::text FROM operations WHERE receipt_id = $1 AND delivery_at = $2 LIMIT 1`,
		receipt, at).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return name, err
}

// PartitionStats returns the rows a table had at its last analysis (0 or
// less if never) and the live rows it has now, as the statistics say.
func PartitionStats(ctx context.Context, db database.DBTX, table string) (analysed float64, live int64, err error) {
	err = db.QueryRow(ctx, `SELECT c.reltuples, coalesce(st.n_live_tup, 0) FROM pg_class c
		LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid WHERE c.oid = $1::regclass`, table).Scan(&analysed, &live)
	return analysed, live, err
}

// PartitionAnalyzeOperations refreshes the planner's statistics of a
// partition of operations, on the columns workers and queries select by;
// the records, errors and messages, the bulk of a row and of the time an
// analysis takes, are left out. Warnings, null on most rows, are in: their
// null fraction is what makes the planner read a job's warnings through
// operations_warned_idx.
func PartitionAnalyzeOperations(ctx context.Context, db database.DBTX, partition string) error {
	_, err := db.Exec(ctx, "ANALYZE "+pgx.Identifier{partition}.Sanitize()+" (receipt_id, delivery_at, seq, resource_key, state, stage, failed, warnings)")
	return err
}

// ScanPartitions undoes ProbeByKey for the rest of the transaction: the
// planner may scan and hash tables again, as a statement over whole
// partitions (retention) wants.
func ScanPartitions(ctx context.Context, db database.DBTX) error {
	_, err := db.Exec(ctx, "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT; SET LOCAL enable_material TO DEFAULT")
	if err != nil {
		return fmt.Errorf("store: planner settings: %w", err)
	}
	return nil
}
