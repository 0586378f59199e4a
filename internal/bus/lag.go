package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"
)

var (
	consumerPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "importd_consumer_pending_messages",
		Help: "Messages of a durable consumer not yet delivered (its lag).",
	}, []string{"consumer"})
	consumerAckPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "importd_consumer_ack_pending_messages",
		Help: "Messages of a durable consumer delivered but not yet acknowledged.",
	}, []string{"consumer"})
)

// WatchLag publishes the consumer's lag as Prometheus gauges every interval
// until ctx is canceled.
func WatchLag(ctx context.Context, c jetstream.Consumer, name string, interval time.Duration, logger *zap.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := c.Info(ictx)
		cancel()
		if err == nil {
			consumerPending.WithLabelValues(name).Set(float64(info.NumPending))
			consumerAckPending.WithLabelValues(name).Set(float64(info.NumAckPending))
		} else if ctx.Err() == nil && logger != nil {
			logger.Debug("consumer info unavailable", zap.String("consumer", name), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
