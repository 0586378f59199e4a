package ingest

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// heapPeak samples the heap until stop is called and returns the highest
// HeapAlloc seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// zeros reads n zero bytes without holding them.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// putObject streams r into the payload object store under name.
func (h *harness) putObject(t *testing.T, name string, r io.Reader) {
	t.Helper()
	obs, err := h.js.ObjectStore(context.Background(), bus.BucketPayloads)
	require.NoError(t, err)
	_, err = obs.Put(context.Background(), jetstream.ObjectMeta{Name: name}, r)
	require.NoError(t, err)
}

// gzipBomb streams gzip of n zero bytes: a gigabyte compresses to about a
// megabyte, and neither is ever held in memory.
func gzipBomb(n int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestCompression)
		_, err := io.Copy(zw, &zeros{n: n})
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func hostileProduct(key string) string {
	return fmt.Sprintf(`{"key":%q,"productType":{"key":"shirt"},"name":{"en":"N"},"slug":{"en":"s-%s"}}`, key, key)
}

// TestHostileInput sends deliveries built to hurt: each gets a clear error
// (the record's validationFailed with its line and code, or the delivery's
// IngestionFailure with a stated limit), the heap stays bounded, and the
// worker carries on with a normal delivery afterwards.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	const maxDelivery = 100 << 20
	h := newHarness(t, Config{MaxDeliveryBytes: maxDelivery})
	stopSampling := heapPeak()

	good := hostileProduct("good-1")
	deep := `{"key":"deep","productType":{"key":"shirt"},"name":{"en":"N"},"slug":{"en":"d"},"attributes":` +
		strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}"
	digits400 := "1" + strings.Repeat("0", 399)

	// The large bodies go through the object store (over the 1 MiB message limit).
	h.putObject(t, "m1.long-line", io.MultiReader(strings.NewReader(`{"key":"long","name":{"en":"`),
		strings.NewReader(strings.Repeat("x", 10<<20)), strings.NewReader("\"}}\n"+good+"\n")))
	h.putObject(t, "m1.gzip-bomb", gzipBomb(1<<30))

	type record struct {
		line  int
		state string
		code  string // errors[0].code of a failed record
		text  string // in errors[0].description
	}
	tests := []struct {
		name    string
		d       delivery
		status  string
		ierr    string // the IngestionError code
		ierrTxt string
		records []record
	}{
		{"invalid UTF-8", delivery{body: []byte(`{"key":"u-1","productType":{"key":"shirt"},"name":{"en":"caf` + "\xff\xfe" + `"},"slug":{"en":"u"}}` + "\n" + good)},
			"Queued", "", "", []record{{1, "validationFailed", catalog.CodeMalformedRecord, fmt.Sprintf("line 1: invalid UTF-8 at offset %d", len(`{"key":"u-1","productType":{"key":"shirt"},"name":{"en":"caf`))}, {2, "processing", "", ""}}},
		{"10 MB line", delivery{headers: map[string]string{bus.HeaderObject: "m1.long-line"}},
			"Queued", "", "", []record{{1, "validationFailed", catalog.CodeRecordTooLarge, "line 1: record is larger than the limit of 524288 bytes"}, {2, "processing", "", ""}}},
		{"100k levels deep ndjson", delivery{body: []byte(deep + "\n" + good)},
			"Queued", "", "", []record{{1, "validationFailed", catalog.CodeMalformedRecord, "line 1: "}, {2, "processing", "", ""}}},
		{"100k levels deep json", delivery{headers: map[string]string{"Import-Format": "json"}, body: []byte("[\n" + deep + ",\n" + good + "\n]")},
			"Queued", "", "", []record{{2, "validationFailed", catalog.CodeMalformedRecord, "line 2: "}, {3, "processing", "", ""}}},
		{"ragged csv", delivery{headers: map[string]string{"Import-Format": "csv"}, body: []byte("key,productType.key,name.en,slug.en\n" +
			"r-1,shirt,R1,r-1\n" + // complete
			"r-2,shirt\n" + // too few cells
			"r-3,shirt,R3,r-3,extra,more\n")}, // too many cells
			"Queued", "", "", []record{{2, "processing", "", ""}, {3, "validationFailed", "", "line 3"}, {4, "validationFailed", "", "line 4"}}},
		{"keys with SQL and path characters", delivery{body: []byte(strings.Join([]string{
			hostileProduct("'; DROP TABLE operations;--"), hostileProduct("../../etc/passwd"), hostileProduct("%00"), strings.Replace(hostileProduct("a-b"), "a-b", `a\u0000b`, 1), good}, "\n"))},
			"Queued", "", "", []record{
				{1, "validationFailed", catalog.CodeInvalidKey, "key"}, {2, "validationFailed", catalog.CodeInvalidKey, "key"},
				{3, "validationFailed", catalog.CodeInvalidKey, "key"}, {4, "validationFailed", catalog.CodeInvalidValue, "key contains a NUL character"}, {5, "processing", "", ""}}},
		{"invalid UTF-8 in csv", delivery{headers: map[string]string{"Import-Format": "csv"}, body: []byte("key,productType.key,name.en,slug.en\n" +
			"r-1,shirt,caf\xff,r-1\nr-2,shirt,R2,r-2\n")},
			"Queued", "", "", []record{{2, "validationFailed", catalog.CodeMalformedRecord, "UTF-8"}, {3, "processing", "", ""}}},
		{"invalid UTF-8 in json array", delivery{headers: map[string]string{"Import-Format": "json"}, body: []byte("[" + hostileProduct("j\xff") + ",\n" + good + "]")},
			"Queued", "", "", []record{{1, "validationFailed", catalog.CodeMalformedRecord, "UTF-8"}, {2, "processing", "", ""}}},
		{"invalid UTF-8 and NUL in headers", delivery{headers: map[string]string{"Import-Foreign-Key": "erp-\xff\x00", "Import-Data": "Pro\xffduct\x00"}, body: []byte(good)},
			"IngestionFailure", CodeUnknownDataType, "Import-Data", nil},
		{"NUL in the foreign key", delivery{headers: map[string]string{"Import-Foreign-Key": "erp\x00-1"}, body: []byte(good)},
			"IngestionFailure", CodeInvalidHeader, "Import-Foreign-Key", nil},
		{"format header clipped inside a character", delivery{headers: map[string]string{"Import-Format": "x" + strings.Repeat("é", 40)}, body: []byte(good)},
			"IngestionFailure", CodeUnknownFormat, "Import-Format", nil},
		{"gigantic numbers", delivery{headers: map[string]string{bus.HeaderData: "Price"}, body: []byte(strings.Join([]string{
			`{"key":"big-1","sku":"s-1","value":{"currencyCode":"EUR","centAmount":1e400}}`,
			`{"key":"big-2","sku":"s-1","value":{"currencyCode":"EUR","centAmount":` + digits400 + `}}`,
			`{"key":"big-3","sku":"s-1","value":{"currencyCode":"EUR","centAmount":-` + digits400 + `}}`,
			`{"key":"ok-1","sku":"s-1","value":{"currencyCode":"EUR","centAmount":100}}`}, "\n"))},
			"Queued", "", "", []record{{1, "validationFailed", "", "centAmount"}, {2, "validationFailed", "", "centAmount"}, {3, "validationFailed", "", "centAmount"}, {4, "processing", "", ""}}},
		{"gigantic inventory", delivery{headers: map[string]string{bus.HeaderData: "InventoryEntry"}, body: []byte(
			`{"sku":"inv-1","quantityOnStock":` + digits400 + "}\n" + `{"sku":"inv-2","quantityOnStock":1e400}` + "\n" + `{"sku":"inv-3","quantityOnStock":3}`)},
			"Queued", "", "", []record{{1, "validationFailed", "", "quantityOnStock"}, {2, "validationFailed", "", "quantityOnStock"}, {3, "processing", "", ""}}},
		{"gzip bomb", delivery{headers: map[string]string{bus.HeaderObject: "m1.gzip-bomb", "Content-Encoding": "gzip"}},
			"IngestionFailure", CodeDeliveryTooLarge, fmt.Sprintf("over the size limit of %d bytes (uncompressed)", maxDelivery), nil},
		{"not gzip", delivery{headers: map[string]string{"Content-Encoding": "gzip"}, body: []byte(good)},
			"IngestionFailure", CodeUnreadableGzip, "not a readable gzip stream", nil},
		{"empty body", delivery{}, "NoContent", "", "", nil},
		{"json array never closed", delivery{headers: map[string]string{"Import-Format": "json"}, body: []byte("[\n" + good + ",\n" + hostileProduct("good-2"))},
			"IngestionFailure", CodeMalformedContainer, "line ", []record{{2, "processing", "", ""}}},
	}
	for i := range tests {
		tests[i].d.receipt = fmt.Sprintf("hostile-%02d", i)
		h.publish(tests[i].d)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := h.waitDone(tt.d.receipt)
			require.Equal(t, tt.status, st.Status, "%+v", st)
			if tt.ierr != "" {
				require.NotEmpty(t, st.IngestionErrors)
				require.Equal(t, tt.ierr, st.IngestionErrors[0].Code, "%+v", st.IngestionErrors)
				require.Contains(t, st.IngestionErrors[0].Description, tt.ierrTxt)
				require.Equal(t, 1, h.eventCount(tt.d.receipt, tracking.CodeDeliveryIngestionFailed))
			}
			ops := h.ops(tt.d.receipt)
			require.Len(t, ops, len(tt.records), "%+v", ops)
			for i, want := range tt.records {
				op := ops[i]
				require.Equal(t, want.line, op.Line, "record %d: %+v", i, op)
				require.Equal(t, want.state, op.State, "record %d: %+v", i, op)
				if want.state != "validationFailed" {
					continue
				}
				require.NotEmpty(t, op.Errors)
				require.Equal(t, "DATA_ERROR", op.Errors[0]["type"])
				if want.code != "" {
					require.Equal(t, want.code, op.Errors[0]["code"], "record %d: %+v", i, op.Errors)
				}
				t.Logf("line %d: %v", op.Line, op.Errors)
				text := op.Errors[0]["field"] + " " + op.Errors[0]["description"]
				require.Contains(t, text, want.text, "record %d: %+v", i, op.Errors)
				require.True(t, strings.HasPrefix(op.Key, "line:") || bus.ValidReceipt(op.Key) || len(op.Key) <= 256, op.Key)
			}
			require.Equal(t, len(tt.records), h.eventCount(tt.d.receipt, tracking.CodeRecordReceived))
		})
	}

	// The tables are still there, and the worker carries on.
	var n int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM operations`).Scan(&n))
	require.Positive(t, n)
	h.publish(delivery{receipt: "hostile-after", body: products(50, 0)})
	st := h.waitDone("hostile-after")
	require.Equal(t, "Queued", st.Status)
	require.Equal(t, int64(50), st.Products.Pending)

	peak := stopSampling()
	t.Logf("heap peak %d MiB", peak>>20)
	require.Less(t, peak, uint64(300<<20), "heap peak %d MiB", peak>>20)
}
