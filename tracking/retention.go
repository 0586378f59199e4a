package tracking

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
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

// Expire deletes the deliveries, operations, events, parked references
// and ended callbacks that are past the retention, by dropping whole time partitions: a
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
	ranges, err := store.PartitionsBefore(ctx, s.pool, cutoff)
	if err != nil {
		return res, fmt.Errorf("tracking: expired partitions: %w", err)
	}
	for _, r := range ranges {
		byDelivery, err := s.expireUnresolved(ctx, r.Lower, r.Upper)
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
					if err := s.Announce(ctx, js, &d, bus.DeliveryExpired); err != nil {
						logger.Warn("expired event not published", zap.String("receipt", k.receipt), zap.String("merchant", k.merchant), zap.Error(err))
					}
				}
			}
		}
		dropped, err := s.dropPartition(ctx, r.Lower, r.Suffix)
		if err != nil {
			return res, err
		}
		if dropped {
			res.Partitions++
			partitionsDroppedTotal.Inc()
			logger.Info("retention: dropped a time partition", zap.Time("from", r.Lower), zap.Time("to", r.Upper),
				zap.Int("unresolved_expired", sum(byDelivery)))
		}
	}
	expiredTotal.Add(float64(res.Unresolved))
	// Calls still being tried outlive their delivery by up to a day.
	if _, err := store.CallbacksDeleteEnded(ctx, s.pool, cutoff); err != nil {
		return res, fmt.Errorf("tracking: delete ended callbacks: %w", err)
	}
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
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		// One process at a time: two passes at once would both write the events.
		if err := store.PartitionsLock(ctx, tx); err != nil {
			return err
		}
		// Whole partitions, not a few rows by key.
		if err := store.ScanPartitions(ctx, tx); err != nil {
			return err
		}
		counts, err := store.OperationsExpireWaiting(ctx, tx, lower, upper, int(CodeExpired), s.now().UTC(), s.retention.String())
		if err != nil {
			return err
		}
		now := s.now().UTC()
		for _, c := range counts {
			out[deliveryKey{receipt: c.ReceiptID, merchant: c.MerchantID, at: c.DeliveryAt}] = c.N
			d := &Delivery{ReceiptID: c.ReceiptID, MerchantID: c.MerchantID, AcceptedAt: c.DeliveryAt}
			if err := callbackQueue(ctx, tx, d, bus.DeliveryExpired, now); err != nil {
				return err
			}
		}
		return nil
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
	err := store.InTx(ctx, s.pool, func(tx *store.Tx) error {
		var err error
		dropped, err = store.PartitionsDrop(ctx, tx, lower, suffix, 5*time.Second)
		return err
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
