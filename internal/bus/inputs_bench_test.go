package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// BenchmarkKeep measures what keeping a settled delivery's body costs: open
// it from its message or object, write it to IMPORT_INPUTS, remove the
// original. The server is embedded, so cpu-µs/MiB is the CPU of client and
// server together (docs/performance.md, "Keeping the raw inputs").
func BenchmarkKeep(b *testing.B) {
	for _, size := range []int{16 << 10, 256 << 10, 64 << 20} { // inline; a 64 MiB object
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			_, js := testenv.JetStream(b, testenv.NATS(b))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			require.NoError(b, bus.Provision(ctx, js, bus.Config{Limits: bus.Limits{InputsBytes: 16 << 30, PayloadsBytes: 16 << 30, WaitingDeliveries: 1 << 20}}))
			var line bytes.Buffer
			for i := 0; line.Len() < size; i++ {
				fmt.Fprintf(&line, `{"key":"product-%08d","name":{"en":"A product of the benchmark"},"productType":{"key":"t"},"slug":{"en":"product-%08d"}}`+"\n", i, i)
			}
			body := line.Bytes()[:size]
			bodies := make([]bus.Body, b.N)
			for i := range bodies {
				receipt := fmt.Sprintf("keep-bench-%08d", i)
				pub, err := bus.PublishDelivery(ctx, js, bus.Delivery{Merchant: "mk", Receipt: receipt}, bytes.NewReader(body))
				require.NoError(b, err)
				bodies[i] = bus.Body{Merchant: "mk", Receipt: receipt, Source: fmt.Sprintf("%s:%d", bus.StreamDeliveries, pub.Sequence), Object: pub.Object}
			}
			store := bus.NewBodies(js)
			b.SetBytes(int64(size))
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				r, n, err := store.Open(ctx, bodies[i])
				require.NoError(b, err)
				require.NoError(b, store.Keep(ctx, "mk", bodies[i].Receipt, r, n))
				r.Close()
				require.NoError(b, store.Remove(ctx, bodies[i].Source, bodies[i].Object))
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/(float64(b.N)*float64(size)/(1<<20)), "cpu-µs/MiB")
		})
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
