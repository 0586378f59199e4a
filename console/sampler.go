package console

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/importd/importd/api"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// stages are the throughput series of the overview chart, one per stage
// of the pipeline: operations created by ingest, past the resolver
// (resolved, parked, or failed before it), finished by the importer, and
// failed anywhere.
var stages = []string{"ingested", "resolved", "imported", "failed"}

// consumers are the JetStream consumers whose lag the overview charts.
var consumers = []struct{ stream, name string }{
	{bus.StreamDeliveries, bus.ConsumerIngest},
	{bus.StreamWork, bus.ConsumerResolve},
	{bus.StreamWork, bus.ConsumerApply},
	{bus.StreamCatalog, bus.ConsumerResolveEvents},
}

// sample is one reading of the pipeline: operation totals per stage (of
// the deliveries not expired) and each consumer's lag, -1 when unknown.
type sample struct {
	at     time.Time
	totals [4]int64
	lag    [4]int64
}

// sampler keeps the last window of samples in a ring: its memory is
// bounded by window/every, whatever the load.
type sampler struct {
	reads  *api.Console
	js     jetstream.JetStream
	every  time.Duration
	logger *zap.Logger

	mu   sync.Mutex
	ring []sample
	next int
	full bool
}

func newSampler(reads *api.Console, js jetstream.JetStream, every, window time.Duration, logger *zap.Logger) *sampler {
	return &sampler{reads: reads, js: js, every: every, logger: logger, ring: make([]sample, int(window/every)+1)}
}

// run samples every s.every until ctx ends.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.take(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// take reads one sample; a failed reading is logged and skipped, leaving a
// gap in the chart rather than a false zero.
func (s *sampler) take(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.every)
	defer cancel()
	ov, err := s.reads.Overview(ctx, tracking.Operator)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("overview sample failed", zap.Error(err))
		}
		return
	}
	o := ov.Total.Operations
	smp := sample{at: s.reads.Now()}
	smp.totals[2] = o.Imported + o.PartiallyImported
	smp.totals[3] = o.ValidationFailed + o.Rejected + o.Canceled
	smp.totals[0] = o.Processing + o.Unresolved + o.WaitForMasterVariant + smp.totals[2] + smp.totals[3]
	smp.totals[1] = smp.totals[0] - o.Queued
	for i, c := range consumers {
		smp.lag[i] = -1
		if s.js == nil {
			continue
		}
		cons, err := s.js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			continue // not created yet: that role has not run
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		smp.lag[i] = int64(info.NumPending) + int64(info.NumAckPending)
	}
	s.add(smp)
}

func (s *sampler) add(smp sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.next] = smp
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
}

// samples returns the samples held, oldest first.
func (s *sampler) samples() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.full {
		return append([]sample(nil), s.ring[:s.next]...)
	}
	return append(append([]sample(nil), s.ring[s.next:]...), s.ring[:s.next]...)
}

// series are the chart's lines: one value per sample time, NaN-free; a
// point is omitted (nil) where there is nothing to plot.
type series struct {
	Name   string
	Points []*float64
}

// rates returns records per second per stage between consecutive samples.
// Totals shrink when deliveries expire; such a step counts as no progress.
func rates(smps []sample) (times []time.Time, out []series) {
	out = make([]series, len(stages))
	for i, name := range stages {
		out[i].Name = name
	}
	for k := 1; k < len(smps); k++ {
		dt := smps[k].at.Sub(smps[k-1].at).Seconds()
		if dt <= 0 {
			continue
		}
		times = append(times, smps[k].at)
		for i := range stages {
			v := float64(max(0, smps[k].totals[i]-smps[k-1].totals[i])) / dt
			out[i].Points = append(out[i].Points, &v)
		}
	}
	return times, out
}

// lags returns each consumer's lag per sample.
func lags(smps []sample) (times []time.Time, out []series) {
	out = make([]series, len(consumers))
	for i, c := range consumers {
		out[i].Name = c.name
	}
	for _, smp := range smps {
		times = append(times, smp.at)
		for i := range consumers {
			if smp.lag[i] < 0 {
				out[i].Points = append(out[i].Points, nil)
				continue
			}
			v := float64(smp.lag[i])
			out[i].Points = append(out[i].Points, &v)
		}
	}
	return times, out
}
