package tracking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
)

// Expired says what one retention pass removed.
type Expired struct {
	Partitions int            // time partitions dropped, of each partitioned table
	Unresolved int            // operations still parked at expiry, each given an expired event first
	Deliveries map[string]int // bus.DeliveryID(merchant, receipt) → its operations expired while unresolved
}

var (
	partitionsDroppedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_partitions_dropped_total",
		Help: "Time partitions dropped by retention (one per range, all partitioned tables).",
	})
	expiredTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_operations_expired_total",
		Help: "Operations still unresolved when their retention ran out.",
	})
)

// Expire deletes the deliveries, operations, events and parked references
// that are past the retention, by dropping whole time partitions: a
// partition goes when every delivery in it is older than the retention
// (so at most one partition width after the last one expired). Operations
// still unresolved get an expired event first, and, when js is not nil,
// their delivery an "expired" event on IMPORT_EVENTS. Until its partition
// goes, an expired delivery is already invisible (DeliveryGet).
func (s *Store) Expire(ctx context.Context, js jetstream.JetStream, logger *zap.Logger) (Expired, error) {
	res := Expired{Deliveries: map[string]int{}}
	if logger == nil {
		logger = zap.NewNop()
	}
	cutoff := s.now().Add(-s.retention).UTC()
	rows, err := s.pool.Query(ctx, `SELECT lower, upper, suffix FROM partition_ranges WHERE upper <= $1 ORDER BY lower`, cutoff)
	if err != nil {
		return res, fmt.Errorf("tracking: expired partitions: %w", err)
	}
	type prange struct {
		lower, upper time.Time
		suffix       string
	}
	var ranges []prange
	var r prange
	if _, err := pgx.ForEachRow(rows, []any{&r.lower, &r.upper, &r.suffix}, func() error {
		ranges = append(ranges, r)
		return nil
	}); err != nil {
		return res, fmt.Errorf("tracking: expired partitions: %w", err)
	}
	for _, r := range ranges {
		byDelivery, err := s.expireUnresolved(ctx, r.lower, r.upper)
		if err != nil {
			return res, err
		}
		for k, n := range byDelivery {
			res.Deliveries[bus.DeliveryID(k.merchant, k.receipt)] += n
			res.Unresolved += n
		}
		if js != nil {
			for k := range byDelivery {
				if d, err := deliveryAt(ctx, s.pool, k.receipt, k.at); err == nil {
					if err := s.Announce(ctx, js, &d, "expired"); err != nil {
						logger.Warn("expired event not published", zap.String("receipt", k.receipt), zap.String("merchant", k.merchant), zap.Error(err))
					}
				}
			}
		}
		dropped, err := s.dropPartition(ctx, r.lower, r.suffix)
		if err != nil {
			return res, err
		}
		if dropped {
			res.Partitions++
			partitionsDroppedTotal.Inc()
			logger.Info("retention: dropped a time partition", zap.Time("from", r.lower), zap.Time("to", r.upper),
				zap.Int("unresolved_expired", sum(byDelivery)))
		}
	}
	expiredTotal.Add(float64(res.Unresolved))
	return res, nil
}

func sum[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// deliveryKey identifies a delivery: (receipt, at) in every table, with
// its merchant to name it.
type deliveryKey struct {
	receipt, merchant string
	at                time.Time
}

// expireUnresolved writes an expired event for each operation of the range
// still waiting (unresolved or for its master variant), once, and returns
// how many per delivery.
func (s *Store) expireUnresolved(ctx context.Context, lower, upper time.Time) (map[deliveryKey]int, error) {
	out := map[deliveryKey]int{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One process at a time: two passes at once would both write the events.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH waiting AS (
				SELECT o.delivery_at, o.receipt_id, o.merchant_id, o.resource_key, o.state, coalesce(o.unresolved::text, '') AS refs
				FROM operations o
				WHERE o.delivery_at >= $1 AND o.delivery_at < $2 AND o.state IN ('unresolved', 'waitForMasterVariant')
				  AND o.last_tracking_code <> $3
			), ev AS (
				INSERT INTO tracking_events (delivery_at, tracking_id, ts, code, receipt_id, merchant_id, product_id, message, debug)
				SELECT delivery_at, gen_random_uuid(), $4, $3, receipt_id, merchant_id, resource_key,
					'Expired: still ' || state || ' when the retention of ' || $5 || ' ran out', nullif('missing ' || refs, 'missing ')
				FROM waiting
				RETURNING receipt_id, delivery_at, merchant_id
			), last AS (
				UPDATE operations o SET last_tracking_code = $3, last_message = 'Expired'
				WHERE o.delivery_at >= $1 AND o.delivery_at < $2 AND o.state IN ('unresolved', 'waitForMasterVariant')
				  AND o.last_tracking_code <> $3
			)
			SELECT receipt_id, delivery_at, merchant_id, count(*) FROM ev GROUP BY receipt_id, delivery_at, merchant_id`,
			lower, upper, int(CodeExpired), s.now().UTC(), s.retention.String())
		if err != nil {
			return err
		}
		var k deliveryKey
		var n int
		_, err = pgx.ForEachRow(rows, []any{&k.receipt, &k.at, &k.merchant, &n}, func() error {
			k.at = k.at.UTC()
			out[k] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: expire unresolved operations: %w", err)
	}
	return out, nil
}

// dropPartition drops the partitions of every partitioned table for one
// range, and the outbox rows that point into it. It waits at most a few
// seconds for the tables' locks and reports false when it could not get
// them (the next pass tries again).
func (s *Store) dropPartition(ctx context.Context, lower time.Time, suffix string) (bool, error) {
	dropped := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock)); err != nil {
			return err
		}
		var upper time.Time
		err := tx.QueryRow(ctx, "DELETE FROM partition_ranges WHERE lower = $1 AND suffix = $2 RETURNING upper", lower, suffix).Scan(&upper)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // dropped by another process
		}
		if err != nil {
			return err
		}
		for _, table := range PartitionedTables {
			// DDL takes no parameters; the suffix is ours (partition_ranges), never user input.
			name := pgx.Identifier{table + "_p" + suffix}.Sanitize()
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM apply_outbox WHERE delivery_at >= $1 AND delivery_at < $2", lower, upper); err != nil {
			return err
		}
		dropped = true
		return nil
	})
	if err != nil {
		if isLockTimeout(err) {
			return false, nil
		}
		return false, fmt.Errorf("tracking: drop partition %s: %w", suffix, err)
	}
	s.partitions.forget()
	return dropped, nil
}

func isLockTimeout(err error) bool { return database.HasCode(err, pgerrcode.LockNotAvailable) }
