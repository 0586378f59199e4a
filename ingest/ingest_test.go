package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// harness runs one ingest worker against its own database and NATS server.
type harness struct {
	t      testing.TB
	pool   *pgxpool.Pool
	store  *tracking.Store
	nc     *nats.Conn
	js     jetstream.JetStream
	cfg    Config
	stop   func()
	mu     sync.Mutex
	counts int
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	pool := testenv.DB(t)
	ns := testenv.NATS(t)
	nc, js := testenv.JetStream(t, ns)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = -1 // ingest alone: nothing downstream takes operations out of flight
	}
	h := &harness{t: t, pool: pool, store: store, nc: nc, js: js, cfg: cfg}
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// start runs a worker until stop is called.
func (h *harness) start() {
	w, err := New(h.cfg, h.store, h.js, zaptest.NewLogger(h.t).WithOptions())
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			h.t.Errorf("worker: %v", err)
		}
	}()
	h.stop = func() {
		cancel()
		<-done
	}
}

type delivery struct {
	merchant string
	receipt  string
	headers  map[string]string
	body     []byte
}

func (h *harness) publish(d delivery) {
	h.t.Helper()
	if d.merchant == "" {
		d.merchant = "m1"
	}
	msg := nats.NewMsg(bus.DeliverySubject(d.merchant))
	msg.Data = d.body
	if d.receipt != "" {
		msg.Header.Set(bus.HeaderMsgID, d.receipt)
	}
	for k, v := range d.headers {
		msg.Header.Set(k, v)
	}
	_, err := h.js.PublishMsg(context.Background(), msg)
	require.NoError(h.t, err)
}

// waitDone waits until ingest has finished with the delivery and returns its status.
func (h *harness) waitDone(receipt string) tracking.StatusBody {
	h.t.Helper()
	var body tracking.StatusBody
	require.Eventually(h.t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), receipt)
		if err != nil || d.IngestState == tracking.IngestReceiving {
			return false
		}
		body, err = h.store.Status(context.Background(), &d)
		require.NoError(h.t, err)
		return true
	}, 10*time.Minute, 20*time.Millisecond, "delivery %s not ingested", receipt)
	return body
}

type opRow struct {
	Seq    int
	Line   int
	Key    string
	State  string
	Errors []map[string]string
}

func (h *harness) ops(receipt string) []opRow {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(),
		`SELECT seq, line, resource_key, state, coalesce(errors, '[]') FROM operations WHERE receipt_id = $1 ORDER BY seq`, receipt)
	require.NoError(h.t, err)
	defer rows.Close()
	var out []opRow
	for rows.Next() {
		var r opRow
		var errs []byte
		require.NoError(h.t, rows.Scan(&r.Seq, &r.Line, &r.Key, &r.State, &errs))
		require.NoError(h.t, json.Unmarshal(errs, &r.Errors))
		out = append(out, r)
	}
	require.NoError(h.t, rows.Err())
	return out
}

func (h *harness) eventCount(receipt string, code tracking.Code) int {
	var n int
	require.NoError(h.t, h.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM tracking_events WHERE receipt_id = $1 AND code = $2`, receipt, int(code)).Scan(&n))
	return n
}

// workOps drains the resolve subject and returns operation seqs per receipt
// with how often each was queued.
func (h *harness) workOps(t testing.TB) map[string]map[int]int {
	t.Helper()
	cons, err := h.js.CreateOrUpdateConsumer(context.Background(), bus.StreamWork, jetstream.ConsumerConfig{
		Durable: "test-resolve", FilterSubject: "import.work.resolve.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	out := map[string]map[int]int{}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(300*time.Millisecond))
		require.NoError(t, err)
		n := 0
		for msg := range batch.Messages() {
			n++
			wb, err := bus.DecodeWork(msg.Data())
			require.NoError(t, err)
			if out[wb.ReceiptID] == nil {
				out[wb.ReceiptID] = map[int]int{}
			}
			for _, op := range wb.Ops {
				require.True(t, json.Valid(op.Record))
				out[wb.ReceiptID][op.Seq]++
			}
			require.NoError(t, msg.Ack())
		}
		if n == 0 {
			return out
		}
	}
}

func products(n int, start int) []byte {
	var b bytes.Buffer
	for i := start; i < start+n; i++ {
		fmt.Fprintf(&b, `{"key":"p-%d","productType":{"key":"shirt"},"name":{"en":"Shirt %d"},"slug":{"en":"shirt-%d"},"masterVariant":{"sku":"sku-%d","prices":[{"value":{"currencyCode":"EUR","centAmount":%d}}]}}`+"\n", i, i, i, i, 100+i)
	}
	return b.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return out.Bytes()
}

func TestIngestFormats(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	csvBody := "key,productType.key,name.en,name.de,slug.en,categories.0.key,categories.1.key,masterVariant.sku,masterVariant.prices.0.value.currencyCode,masterVariant.prices.0.value.centAmount\n" +
		"c-1,shirt,Shirt,Hemd,shirt-1,men,tops,c-sku-1,EUR,1999\n" +
		"c-2,shirt,\"Shirt, blue\",,shirt-2,men,,c-sku-2,USD,2999\n"
	jsonBody := `[{"key":"j-1","name":{"en":"Shoes"},"slug":{"en":"shoes"}},
	 {"key":"j-2","name":{"en":"Boots"},"slug":{"en":"boots"},"parent":{"key":"j-1"}}]`
	tests := []struct {
		name    string
		receipt string
		headers map[string]string
		body    []byte
		keys    []string
	}{
		{"ndjson", "fmt-ndjson-1", nil, products(3, 0), []string{"p-0", "p-1", "p-2"}},
		{"ndjson gzip", "fmt-ndjson-gz", map[string]string{"Content-Encoding": "gzip"}, gz(t, products(2, 10)), []string{"p-10", "p-11"}},
		{"json", "fmt-json-1", map[string]string{"Import-Data": "category", "Import-Format": "JSON"}, []byte(jsonBody), []string{"j-1", "j-2"}},
		{"csv", "fmt-csv-1", map[string]string{"Import-Format": "csv"}, []byte(csvBody), []string{"c-1", "c-2"}},
		{"csv gzip", "fmt-csv-gz", map[string]string{"Import-Format": "csv", "Content-Encoding": "gzip"}, gz(t, []byte(csvBody)), []string{"c-1", "c-2"}},
	}
	for _, tt := range tests {
		h.publish(delivery{receipt: tt.receipt, headers: tt.headers, body: tt.body})
	}
	for _, tt := range tests {
		h.waitDone(tt.receipt) // every work message is stored before the delivery is done
	}
	work := h.workOps(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := h.waitDone(tt.receipt)
			require.Equal(t, "Queued", st.Status, "%+v", st)
			require.Equal(t, 4, st.StatusCode)
			require.Equal(t, int64(len(tt.keys)), st.Products.Pending)
			ops := h.ops(tt.receipt)
			require.Len(t, ops, len(tt.keys))
			for i, op := range ops {
				require.Equal(t, tt.keys[i], op.Key)
				require.Equal(t, "processing", op.State, "%+v", op.Errors)
			}
			require.Len(t, work[tt.receipt], len(tt.keys), "every valid record is queued once")
			require.Equal(t, len(tt.keys), h.eventCount(tt.receipt, tracking.CodeRecordReceived))
			require.Equal(t, 1, h.eventCount(tt.receipt, tracking.CodeDeliveryQueued))
		})
	}
}

func TestIngestValidationAndDuplicates(t *testing.T) {
	t.Parallel()
	// A batch of 2 records makes duplicates span batches as well as sit in one.
	h := newHarness(t, Config{BatchSize: 2})
	body := strings.Join([]string{
		`{"key":"a1","productType":{"key":"tt"},"name":{"en":"A"},"slug":{"en":"a1"}}`,
		`{"key":"a1","productType":{"key":"tt"},"name":{"en":"A again"},"slug":{"en":"a1b"}}`, // same batch
		`{"key":"a2","productType":{"key":"tt"},"name":{"en":"B"},"slug":{"en":"a2"}}`,
		`{"key": "a3", "name": `, // malformed
		``,                       // blank: not a record
		`{"key":"a1","productType":{"key":"tt"},"name":{"en":"A thrice"},"slug":{"en":"a1c"}}`, // later batch
		`{"key":"a4","productType":{"key":"tt"},"slug":{"en":"a4"}}`,                           // name missing
		`{"key":"bad key!","productType":{"key":"tt"},"name":{"en":"C"},"slug":{"en":"c"}}`,
		`{"key":"a5","productType":{"key":"tt"},"name":{"en":"E"},"slug":{"en":"a5"},"masterVariant":{"sku":"s5","prices":[{"value":{"currencyCode":"XXY","centAmount":-5}}]}}`,
	}, "\n")
	// Skip errors: this test is about every record's validation, not the error threshold.
	h.publish(delivery{receipt: "validation-1", body: []byte(body), headers: map[string]string{bus.HeaderSkipErrors: "true"}})
	st := h.waitDone("validation-1")
	require.Equal(t, "Queued", st.Status)
	require.Equal(t, tracking.ProductCounts{Pending: 2, Failed: 6}, st.Products)

	ops := h.ops("validation-1")
	require.Len(t, ops, 8, "every record, valid or not, is one operation")
	want := []struct {
		key, state, code, field string
		line                    int
	}{
		{"a1", "processing", "", "", 1},
		{"a1", "validationFailed", "DUPLICATE_IDENTITY", "key", 2},
		{"a2", "processing", "", "", 3},
		{"line:4", "validationFailed", "MALFORMED_RECORD", "", 4},
		{"a1", "validationFailed", "DUPLICATE_IDENTITY", "key", 6},
		{"a4", "validationFailed", "REQUIRED_FIELD", "name", 7},
		{"line:8", "validationFailed", "INVALID_KEY", "key", 8},
		{"a5", "validationFailed", "", "", 9},
	}
	for i, w := range want {
		op := ops[i]
		require.Equal(t, w.key, op.Key, "record %d", i)
		require.Equal(t, w.state, op.State, "record %d", i)
		require.Equal(t, w.line, op.Line, "record %d", i)
		if w.code != "" {
			require.Equal(t, w.code, op.Errors[0]["code"], "record %d: %v", i, op.Errors)
			require.Equal(t, w.field, op.Errors[0]["field"], "record %d", i)
			require.Equal(t, "DATA_ERROR", op.Errors[0]["type"])
		}
	}
	require.Contains(t, ops[3].Errors[0]["description"], "line 4")
	codes := map[string]bool{}
	for _, e := range ops[7].Errors {
		codes[e["code"]] = true
	}
	require.True(t, codes["INVALID_CURRENCY"] && codes["NEGATIVE_AMOUNT"], "%v", ops[7].Errors)
	require.Equal(t, 6, h.eventCount("validation-1", tracking.CodeValidationFailed))
	work := h.workOps(t)
	require.Equal(t, map[int]int{0: 1, 2: 1}, work["validation-1"])
}

func TestIngestStatuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxDeliveryBytes: 64 << 10, ObjectGrace: -1})
	corrupt := gz(t, products(50, 0))
	corrupt[len(corrupt)/2] ^= 0xff
	big := products(1000, 0) // over the 64 KiB limit
	tests := []struct {
		name    string
		d       delivery
		status  string
		code    string
		records int
	}{
		{"empty", delivery{receipt: "status-empty", body: nil}, "NoContent", "", 0},
		{"blank lines only", delivery{receipt: "status-blank", body: []byte("\n\n  \n")}, "NoContent", "", 0},
		{"csv header only", delivery{receipt: "status-hdr", headers: map[string]string{"Import-Format": "csv"}, body: []byte("key,name.en\n")}, "NoContent", "", 0},
		{"empty json array", delivery{receipt: "status-arr", headers: map[string]string{"Import-Format": "json"}, body: []byte(" [ ] ")}, "NoContent", "", 0},
		{"all invalid", delivery{receipt: "status-invalid", body: []byte("{}\nnot json\n")}, "CompletedWithErrors", "", 2},
		{"unknown format", delivery{receipt: "status-fmt", headers: map[string]string{"Import-Format": "xml"}, body: []byte("<a/>")}, "IngestionFailure", CodeUnknownFormat, 0},
		{"unknown data", delivery{receipt: "status-data", headers: map[string]string{"Import-Data": "Order"}, body: products(1, 0)}, "IngestionFailure", CodeUnknownDataType, 0},
		{"not gzip", delivery{receipt: "status-notgz", headers: map[string]string{"Content-Encoding": "gzip"}, body: products(1, 0)}, "IngestionFailure", CodeUnreadableGzip, 0},
		{"corrupt gzip", delivery{receipt: "status-corrupt", headers: map[string]string{"Content-Encoding": "gzip"}, body: corrupt}, "IngestionFailure", CodeUnreadableGzip, -1},
		{"missing object", delivery{receipt: "status-noobj", headers: map[string]string{"Import-Object": "m1.nope"}}, "IngestionFailure", CodeMissingObject, 0},
		{"too large", delivery{receipt: "status-large", body: big}, "IngestionFailure", CodeDeliveryTooLarge, -1},
		{"json not an array", delivery{receipt: "status-notarr", headers: map[string]string{"Import-Format": "json"}, body: []byte(`{"key":"x"}`)}, "IngestionFailure", CodeMalformedContainer, 0},
		{"bad version", delivery{receipt: "status-version", headers: map[string]string{"Import-Contract-Version": "2.0"}, body: products(1, 0)}, "IngestionFailure", CodeUnsupportedContract, 0},
	}
	for _, tt := range tests {
		h.publish(tt.d)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := h.waitDone(tt.d.receipt)
			require.Equal(t, tt.status, st.Status, "%+v", st)
			if tt.code != "" {
				require.NotEmpty(t, st.IngestionErrors)
				require.Equal(t, tt.code, st.IngestionErrors[0].Code, "%+v", st.IngestionErrors)
				require.NotNil(t, st.CompletedUtc)
				require.Equal(t, 1, h.eventCount(tt.d.receipt, tracking.CodeDeliveryIngestionFailed))
			}
			if tt.records >= 0 {
				require.Len(t, h.ops(tt.d.receipt), tt.records)
			}
			if tt.status == "NoContent" {
				require.Equal(t, 1, h.eventCount(tt.d.receipt, tracking.CodeDeliveryNoContent))
			}
		})
	}
	t.Run("records before a failure go on", func(t *testing.T) {
		st := h.waitDone("status-large")
		require.Positive(t, st.Products.Pending, "records read before the limit stay queued: %+v", st)
	})
}

func TestIngestReceivingIsVisible(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	h := newHarness(t, Config{BatchSize: 100, afterCommit: func(to int) error {
		if to == 100 {
			<-release // hold the delivery after its first batch
		}
		return nil
	}})
	h.publish(delivery{receipt: "receiving-1", body: products(250, 0)})
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "receiving-1")
		if err != nil {
			return false
		}
		st, err := h.store.Status(context.Background(), &d)
		require.NoError(t, err)
		if st.Status == "Receiving" && st.Products.Pending == 100 {
			once.Do(func() { close(release) })
			return true
		}
		return false
	}, 30*time.Second, 10*time.Millisecond)
	st := h.waitDone("receiving-1")
	require.Equal(t, "Queued", st.Status)
	require.Equal(t, int64(250), st.Products.Pending)
}

// TestIngestReceivingETA: the body's size and how much of it is read are
// stored with each batch, so the ETA of a delivery being read covers the
// whole body, not only the records read so far.
func TestIngestReceivingETA(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	h := newHarness(t, Config{BatchSize: 1000, afterCommit: func(to int) error {
		if to == 1000 {
			<-release // hold the delivery after its first batch
		}
		return nil
	}})
	os, err := h.js.ObjectStore(context.Background(), bus.BucketPayloads)
	require.NoError(t, err)
	body := products(20000, 0) // several times what the decoder reads ahead
	_, err = os.PutBytes(context.Background(), "m1.eta", body)
	require.NoError(t, err)
	h.publish(delivery{receipt: "receiving-eta", headers: map[string]string{"Import-Object": "m1.eta"}})
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(context.Background(), "receiving-eta")
		if err != nil {
			return false
		}
		st, err := h.store.Status(context.Background(), &d)
		require.NoError(t, err)
		if st.Status != "Receiving" || st.Products.Pending != 1000 {
			return false
		}
		defer once.Do(func() { close(release) })
		// Read again: the delivery held after its first batch, the row is
		// now that batch's, whatever the first read caught.
		d, err = h.store.DeliveryGet(context.Background(), "receiving-eta")
		require.NoError(t, err)
		st, err = h.store.Status(context.Background(), &d)
		require.NoError(t, err)
		require.NotNil(t, d.BodySize, "%+v", d)
		require.EqualValues(t, len(body), *d.BodySize)
		require.Positive(t, d.BodyRead)
		require.Less(t, d.BodyRead, *d.BodySize/2, "a small part of the body read")
		require.NotNil(t, st.EstimatedCompletionUtc, "%+v", st)
		require.True(t, st.EstimatedCompletionUtc.After(time.Now()), "the rest of the body is still to read")
		return true
	}, 30*time.Second, 10*time.Millisecond)
	st := h.waitDone("receiving-eta")
	require.Equal(t, "Queued", st.Status)
	require.Equal(t, int64(20000), st.Products.Pending)
	d, err := h.store.DeliveryGet(context.Background(), "receiving-eta")
	require.NoError(t, err)
	require.EqualValues(t, len(body), d.BodyRead, "read to the end")
}

func TestIngestPublishedTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	// IMPORT_DELIVERIES keeps both copies (JetStream does not dedupe it):
	// ingest must still see one delivery, at once or later.
	h.publish(delivery{receipt: "twice-one", body: products(5, 0)})
	h.publish(delivery{receipt: "twice-one", body: products(5, 0)})
	h.publish(delivery{receipt: "twice-two", body: products(5, 100)})
	time.Sleep(300 * time.Millisecond)
	h.publish(delivery{receipt: "twice-two", body: products(5, 100)})

	for _, r := range []string{"twice-one", "twice-two"} {
		st := h.waitDone(r)
		require.Equal(t, int64(5), st.Products.Pending)
	}
	// Give the second message of twice-2 time to be handled, then check nothing doubled.
	require.Eventually(t, func() bool {
		c, err := h.js.Consumer(context.Background(), bus.StreamDeliveries, bus.ConsumerIngest)
		require.NoError(t, err)
		ci, err := c.Info(context.Background())
		require.NoError(t, err)
		return ci.NumPending == 0 && ci.NumAckPending == 0
	}, 30*time.Second, 20*time.Millisecond)
	var deliveries int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM deliveries`).Scan(&deliveries))
	require.Equal(t, 2, deliveries)
	for _, r := range []string{"twice-one", "twice-two"} {
		require.Len(t, h.ops(r), 5)
		require.Equal(t, 5, h.eventCount(r, tracking.CodeRecordReceived))
		require.Equal(t, 1, h.eventCount(r, tracking.CodeDeliveryAccepted))
	}
}

func TestIngestAssignsReceipt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	sub, err := h.nc.SubscribeSync("import.events.m7.*.accepted")
	require.NoError(t, err)
	h.publish(delivery{merchant: "m7", headers: map[string]string{"Import-Foreign-Key": "erp-42"}, body: products(2, 0)})
	msg, err := sub.NextMsg(30 * time.Second)
	require.NoError(t, err)
	receipt := strings.Split(msg.Subject, ".")[3]
	require.True(t, bus.ValidReceipt(receipt), receipt)
	var st tracking.StatusBody
	require.NoError(t, json.Unmarshal(msg.Data, &st))
	require.Equal(t, "erp-42", *st.Delivery.ForeignKey)
	require.Equal(t, "m7", st.Delivery.MerchantID)
	require.Equal(t, "Queued", h.waitDone(receipt).Status)
}

func TestIngestObjectStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	os, err := h.js.ObjectStore(context.Background(), bus.BucketPayloads)
	require.NoError(t, err)
	_, err = os.PutBytes(context.Background(), "m1.big-delivery", gz(t, products(3000, 0)))
	require.NoError(t, err)
	h.publish(delivery{receipt: "object-1", headers: map[string]string{"Import-Object": "m1.big-delivery", "Content-Encoding": "gzip"}})
	st := h.waitDone("object-1")
	require.Equal(t, "Queued", st.Status)
	require.Equal(t, int64(3000), st.Products.Pending)
	// The progress of a gzip object is measured in its compressed bytes,
	// the unit of its size.
	info, err := os.GetInfo(context.Background(), "m1.big-delivery")
	require.NoError(t, err)
	d, err := h.store.DeliveryGet(context.Background(), "object-1")
	require.NoError(t, err)
	require.NotNil(t, d.BodySize)
	require.EqualValues(t, info.Size, *d.BodySize)
	require.Equal(t, *d.BodySize, d.BodyRead)
	require.Greater(t, d.BytesRead, d.BodyRead, "decoded bytes are counted apart")

	// A publisher of merchant m2 naming m1's object does not import m1's
	// body as its own.
	h.publish(delivery{merchant: "m2", receipt: "object-stolen", headers: map[string]string{"Import-Object": "m1.big-delivery", "Content-Encoding": "gzip"}})
	st = h.waitDone("object-stolen")
	require.Equal(t, "IngestionFailure", st.Status)
	require.Equal(t, CodeInvalidHeader, st.IngestionErrors[0].Code)
	require.Contains(t, st.IngestionErrors[0].Description, `its name must start with "m2."`)
	require.Empty(t, h.ops("object-stolen"))
}

// TestIngestCrashResumes kills the work of a delivery between the commit of
// a batch and the publication of its work messages, several times: every
// record must end up stored once and queued at least once, never doubled.
func TestIngestCrashResumes(t *testing.T) {
	t.Parallel()
	var crashes atomic.Int32
	h := newHarness(t, Config{BatchSize: 100, afterCommit: func(to int) error {
		if to%300 == 0 && crashes.Add(1) <= 3 {
			return errors.New("simulated crash after commit")
		}
		return nil
	}})
	h.publish(delivery{receipt: "crash-one", body: products(1000, 0)})
	st := h.waitDone("crash-one")
	require.Equal(t, int64(1000), st.Products.Pending)
	require.GreaterOrEqual(t, crashes.Load(), int32(3))
	ops := h.ops("crash-one")
	require.Len(t, ops, 1000)
	for i, op := range ops {
		require.Equal(t, i, op.Seq)
	}
	require.Equal(t, 1000, h.eventCount("crash-one", tracking.CodeRecordReceived))
	work := h.workOps(t)["crash-one"]
	require.Len(t, work, 1000, "every record queued for the resolver")
}

// TestIngestShutdownResumes stops the worker in the middle of a delivery and
// starts another: the delivery completes with every record once.
func TestIngestShutdownResumes(t *testing.T) {
	t.Parallel()
	var batches atomic.Int32
	h := newHarness(t, Config{BatchSize: 200, afterCommit: func(int) error {
		batches.Add(1)
		time.Sleep(5 * time.Millisecond)
		return nil
	}})
	h.publish(delivery{receipt: "shutdown-1", body: products(5000, 0)})
	require.Eventually(t, func() bool { return batches.Load() >= 3 }, 30*time.Second, time.Millisecond)
	h.stop()
	d, err := h.store.DeliveryGet(context.Background(), "shutdown-1")
	require.NoError(t, err)
	require.Equal(t, tracking.IngestReceiving, d.IngestState, "stopped in the middle")
	h.start()
	st := h.waitDone("shutdown-1")
	require.Equal(t, int64(5000), st.Products.Pending)
	require.Len(t, h.ops("shutdown-1"), 5000)
	require.Equal(t, 5000, h.eventCount("shutdown-1", tracking.CodeRecordReceived))
	require.Len(t, h.workOps(t)["shutdown-1"], 5000)
}

// TestIngestCrashesTwiceResumes crashes a delivery twice in a row between
// the commit of a batch and the publication of its work messages, with
// invalid records in the first of the two batches: the third attempt
// republishes the records of both, cut into work messages differently from
// the first publication, and none may be lost. Before work messages were
// named by every operation they carry, a message named by its first
// operation alone was dropped as the duplicate of a shorter one stored
// earlier, and the five operations it added stayed queued for ever.
func TestIngestCrashesTwiceResumes(t *testing.T) {
	t.Parallel()
	var crashed sync.Map
	h := newHarness(t, Config{BatchSize: 100, WorkBatchSize: 30, afterCommit: func(to int) error {
		if to == 200 || to == 300 {
			if _, again := crashed.LoadOrStore(to, true); !again {
				return errors.New("simulated crash after commit")
			}
		}
		return nil
	}})
	var body bytes.Buffer
	invalid := map[int]bool{150: true, 151: true, 152: true, 153: true, 154: true}
	for i, line := range bytes.SplitAfter(products(300, 0), []byte("\n"))[:300] {
		if invalid[i] {
			fmt.Fprintf(&body, `{"key":"p-%d"}`+"\n", i) // no name: validationFailed
			continue
		}
		body.Write(line)
	}
	h.publish(delivery{receipt: "crash-twice", body: body.Bytes()})
	st := h.waitDone("crash-twice")
	require.Equal(t, int64(295), st.Products.Pending)
	_, again := crashed.Load(300)
	require.True(t, again, "the second attempt crashed too")
	work := h.workOps(t)["crash-twice"]
	for i := range 300 {
		if !invalid[i] {
			require.Positive(t, work[i], "operation %d queued for the resolver", i)
		}
	}
	require.Len(t, work, 295)
}
