package ingest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
)

var benchRecords = flag.Int("ingest.records", 1_000_000, "records in the delivery of BenchmarkIngestDelivery")

// productStream generates n small product records, one a line, on the fly:
// the delivery never exists in memory as a whole.
type productStream struct {
	n, i int
	buf  []byte
}

func (p *productStream) Read(b []byte) (int, error) {
	// Fill b: the object store makes one chunk per Read.
	n := 0
	for n < len(b) {
		if len(p.buf) == 0 {
			if p.i >= p.n {
				break
			}
			p.buf = fmt.Appendf(p.buf[:0], `{"key":"prod-%d","productType":{"key":"shirt"},"name":{"en":"Shirt %d","de":"Hemd %d"},"slug":{"en":"shirt-%d"},"categories":[{"key":"men"}],"masterVariant":{"sku":"sku-%d","prices":[{"value":{"currencyCode":"EUR","centAmount":%d}}]}}`+"\n",
				p.i, p.i, p.i, p.i, p.i, 100+p.i%5000)
			p.i++
		}
		c := copy(b[n:], p.buf)
		p.buf = p.buf[c:]
		n += c
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// peakMemory samples the process's heap until stop is called and returns
// the peak heap in use and the peak resident set (VmHWM).
func peakMemory() (stop func() (heap uint64, rss uint64)) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return peak.Load(), vmHWM()
	}
}

// vmHWM is the process's peak resident set in bytes, 0 where unknown.
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// putStream stores n generated records as an object, streaming.
func putStream(t testing.TB, js jetstream.JetStream, name string, n int) {
	t.Helper()
	os, err := js.ObjectStore(context.Background(), bus.BucketPayloads)
	require.NoError(t, err)
	_, err = os.Put(context.Background(), jetstream.ObjectMeta{Name: name}, &productStream{n: n})
	require.NoError(t, err)
}

// TestIngestLargeDelivery ingests 200,000 records and checks that memory
// stays flat: it must not grow with the delivery.
func TestIngestLargeDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("large delivery skipped in -short mode")
	}
	t.Parallel()
	const n = 200_000
	h := newHarness(t, Config{})
	putStream(t, h.js, "m1.large-200k", n)
	runtime.GC()
	stop := peakMemory()
	start := time.Now()
	h.publish(delivery{receipt: "large-200k", headers: map[string]string{bus.HeaderObject: "m1.large-200k"}})
	st := h.waitDone("large-200k")
	elapsed := time.Since(start)
	heap, rss := stop()
	require.Equal(t, "Queued", st.Status)
	require.Equal(t, int64(n), st.Products.Pending)
	t.Logf("200,000 records ingested in %s (%.0f records/s); peak heap %d MiB, peak RSS %d MiB (worker and embedded NATS together)",
		elapsed.Round(time.Millisecond), n/elapsed.Seconds(), heap>>20, rss>>20)
	require.Less(t, heap, uint64(256<<20), "memory must not grow with the delivery")
	var ops, events int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT seq) FROM operations WHERE receipt_id = 'large-200k'`).Scan(&ops, &events))
	require.Equal(t, n, ops)
	require.Equal(t, n, events, "every record once")
	work := h.workOps(t)["large-200k"]
	require.Len(t, work, n, "every record queued for the resolver")
}

// BenchmarkIngestDelivery measures ingest end to end: one delivery of
// -ingest.records small product records (default 1,000,000) from the object
// store to committed operations, events and queued work messages.
//
//	go test ./ingest -run '^$' -bench IngestDelivery -benchtime 1x -ingest.records 1000000
func BenchmarkIngestDelivery(b *testing.B) {
	n := *benchRecords
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, Config{})
		name := fmt.Sprintf("m1.bench-%d", i)
		putStream(b, h.js, name, n)
		runtime.GC()
		stop := peakMemory()
		b.StartTimer()
		start := time.Now()
		h.publish(delivery{receipt: "bench-delivery-" + strconv.Itoa(i), headers: map[string]string{bus.HeaderObject: name}})
		st := h.waitDone("bench-delivery-" + strconv.Itoa(i))
		elapsed := time.Since(start)
		b.StopTimer()
		heap, rss := stop()
		if st.Products.Pending != int64(n) {
			b.Fatalf("%d records queued, want %d", st.Products.Pending, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(heap>>20), "peak-heap-MiB")
		b.ReportMetric(float64(rss>>20), "peak-rss-MiB")
		h.stop()
		b.StartTimer()
	}
}
