package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	recordsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "importd_ingest_records_total",
		Help: "Records read by ingest, by result (queued or validationFailed).",
	}, []string{"result"})
	deliveriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "importd_ingest_deliveries_total",
		Help: "Delivery messages handled by ingest, by outcome.",
	}, []string{"outcome"})
	throttledSeconds = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_ingest_throttled_seconds_total",
		Help: "Time ingest waited because a delivery had MaxInFlight operations in flight.",
	})
	batchSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "importd_ingest_batch_seconds",
		Help:    "Time to validate, store and publish one batch of records.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	inputsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "importd_inputs_total",
		Help: "Bodies of settled deliveries ingest kept in IMPORT_INPUTS (kept) or not (over_quota, full, off, failed, gone).",
	}, []string{"outcome"})
	inputsBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_inputs_bytes_total",
		Help: "Bytes of the bodies ingest kept in IMPORT_INPUTS.",
	})
	bytesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "importd_ingest_bytes_total",
		Help: "Uncompressed delivery bytes read by ingest.",
	})
)
