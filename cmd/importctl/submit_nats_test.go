package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// natsEnv is an embedded, provisioned NATS server and importctl's
// environment pointing at it.
type natsEnv struct {
	js  jetstream.JetStream
	env map[string]string
}

func newNATSEnv(t *testing.T) natsEnv {
	t.Helper()
	ns := testenv.NATS(t)
	_, js := testenv.JetStream(t, ns)
	return natsEnv{js: js, env: map[string]string{"NATS_URL": ns.ClientURL()}}
}

// lastDelivery returns the last message published for the merchant.
func (e natsEnv) lastDelivery(t *testing.T, merchant string) *jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)
	msg, err := s.GetLastMsgForSubject(ctx, bus.DeliverySubject(merchant))
	require.NoError(t, err)
	return msg
}

// object returns the content of an object of IMPORT_PAYLOADS.
func (e natsEnv) object(t *testing.T, name string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs, err := e.js.ObjectStore(ctx, bus.BucketPayloads)
	require.NoError(t, err)
	b, err := obs.GetBytes(ctx, name)
	require.NoError(t, err)
	return b
}

func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, content, 0o600))
	return path
}

// records returns an ndjson body of about size bytes.
func records(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `{"key":"product-%d","productType":{"key":"shoe"},"name":{"en":"Shoe %d"},"slug":{"en":"shoe-%d"}}`+"\n", i, i, i)
	}
	return b.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

func TestSubmitSmallFileInline(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	body := records(2000)
	path := writeFile(t, "products.csv", body)
	r := runCLI(t, nil, e.env, "submit", path, "--merchant", "m1", "--data", "Category",
		"--foreign-key", "batch-7", "--skip-errors")
	requireNoErr(t, r)
	receipt := strings.TrimSuffix(r.stdout, "\n")
	require.Regexp(t, `^[0-9a-f]{32}$`, receipt, "stdout is just the receipt id")
	require.Contains(t, r.stderr, "published delivery "+receipt)

	msg := e.lastDelivery(t, "m1")
	require.Equal(t, body, msg.Data)
	require.Equal(t, "m1."+receipt, msg.Header.Get(bus.HeaderMsgID), "the merchant named: JetStream never takes it for another merchant's")
	require.Equal(t, "Category", msg.Header.Get(bus.HeaderData))
	require.Equal(t, "csv", msg.Header.Get(bus.HeaderFormat), "guessed from the name")
	require.Equal(t, "batch-7", msg.Header.Get(bus.HeaderForeignKey))
	require.Equal(t, "true", msg.Header.Get(bus.HeaderSkipErrors))
	require.Empty(t, msg.Header.Get(bus.HeaderEncoding))
	require.Empty(t, msg.Header.Get(bus.HeaderObject))
}

func TestSubmitGivenReceiptTwiceIsOneDelivery(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	path := writeFile(t, "p.ndjson", records(100))
	for range 2 {
		r := runCLI(t, nil, e.env, "submit", path, "--merchant", "m1", "--receipt", "receipt-fixed-1")
		requireNoErr(t, r)
		require.Equal(t, "receipt-fixed-1\n", r.stdout)
	}
	// JetStream keeps both copies (it dedupes no delivery: its window would
	// span every merchant); both name the merchant's receipt, so ingest
	// reads one delivery and ignores the other (ingest's
	// TestIngestPublishedTwice, e2e TestSameReceiptTwoMerchants).
	ctx := context.Background()
	s, err := e.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)
	for seq := uint64(1); seq <= 2; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		require.Equal(t, bus.DeliveryID("m1", "receipt-fixed-1"), msg.Header.Get(bus.HeaderMsgID))
	}
	require.Empty(t, e.lastDelivery(t, "m1").Header.Get(bus.HeaderSkipErrors), "absent unless --skip-errors")
}

func TestSubmitLargeFileThroughObjectStore(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	body := records(3 << 20) // 3 MiB: several object chunks, over the 1 MiB message limit
	path := writeFile(t, "big.ndjson", body)
	r := runCLI(t, nil, e.env, "submit", path, "--merchant", "m2", "--receipt", "big-receipt-1")
	requireNoErr(t, r)
	require.Equal(t, "big-receipt-1\n", r.stdout)

	msg := e.lastDelivery(t, "m2")
	require.Empty(t, msg.Data)
	object := msg.Header.Get(bus.HeaderObject)
	require.Regexp(t, `^m2\.big-receipt-1\.[0-9a-f]{32}$`, object, "the object is named after the merchant and the receipt, with a suffix of its own")
	require.Equal(t, "ndjson", msg.Header.Get(bus.HeaderFormat))
	require.Empty(t, msg.Header.Get(bus.HeaderEncoding))
	require.Equal(t, body, e.object(t, object))
}

func TestSubmitInlineLimit(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	at := bytes.Repeat([]byte("x"), bus.InlineLimit)
	r := runCLI(t, nil, e.env, "submit", writeFile(t, "at.ndjson", at), "--merchant", "m1")
	requireNoErr(t, r)
	msg := e.lastDelivery(t, "m1")
	require.Equal(t, at, msg.Data, "512 KiB exactly travels inline")

	over := append(at, 'y')
	r = runCLI(t, nil, e.env, "submit", writeFile(t, "over.ndjson", over), "--merchant", "m1")
	requireNoErr(t, r)
	msg = e.lastDelivery(t, "m1")
	require.Empty(t, msg.Data)
	require.Equal(t, over, e.object(t, msg.Header.Get(bus.HeaderObject)), "one byte more goes to the object store")
}

func TestSubmitGzip(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	body := records(5000)
	r := runCLI(t, nil, e.env, "submit", writeFile(t, "p.json", body), "--merchant", "m1", "--gzip")
	requireNoErr(t, r)
	msg := e.lastDelivery(t, "m1")
	require.Equal(t, "gzip", msg.Header.Get(bus.HeaderEncoding))
	require.Equal(t, "json", msg.Header.Get(bus.HeaderFormat))
	require.Equal(t, body, gunzip(t, msg.Data))

	// A large body compressed on the fly goes through the object store when
	// even compressed it is over the limit.
	big := make([]byte, 0, 2<<20)
	for i := 0; len(big) < 2<<20; i++ {
		big = fmt.Appendf(big, "%d %x\n", i, (i*2654435761)^(i<<7)) // compresses poorly enough
	}
	r = runCLI(t, nil, e.env, "submit", writeFile(t, "big.ndjson", big), "--merchant", "m1", "--gzip", "--receipt", "big-gzip-1")
	requireNoErr(t, r)
	msg = e.lastDelivery(t, "m1")
	require.Equal(t, "gzip", msg.Header.Get(bus.HeaderEncoding))
	require.Regexp(t, `^m1\.big-gzip-1\.`, msg.Header.Get(bus.HeaderObject))
	require.Equal(t, big, gunzip(t, e.object(t, msg.Header.Get(bus.HeaderObject))))
}

func TestSubmitGzippedFile(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	body := records(3000)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write(body)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	// By extension, with --gzip: not compressed twice.
	r := runCLI(t, nil, e.env, "submit", writeFile(t, "p.csv.gz", zipped.Bytes()), "--merchant", "m1", "--gzip")
	requireNoErr(t, r)
	msg := e.lastDelivery(t, "m1")
	require.Equal(t, "gzip", msg.Header.Get(bus.HeaderEncoding))
	require.Equal(t, "csv", msg.Header.Get(bus.HeaderFormat))
	require.Equal(t, zipped.Bytes(), msg.Data)

	// By magic bytes, from stdin.
	r = runCLI(t, bytes.NewReader(zipped.Bytes()), e.env, "submit", "-", "--merchant", "m3", "--format", "json")
	requireNoErr(t, r)
	msg = e.lastDelivery(t, "m3")
	require.Equal(t, "gzip", msg.Header.Get(bus.HeaderEncoding))
	require.Equal(t, "json", msg.Header.Get(bus.HeaderFormat))
	require.Equal(t, body, gunzip(t, msg.Data))
}

func TestSubmitStdin(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	small := records(100)
	r := runCLI(t, bytes.NewReader(small), e.env, "submit", "-", "--merchant", "m1")
	requireNoErr(t, r)
	msg := e.lastDelivery(t, "m1")
	require.Equal(t, small, msg.Data)
	require.Equal(t, "ndjson", msg.Header.Get(bus.HeaderFormat))

	large := records(bus.InlineLimit + 10000)
	r = runCLI(t, bytes.NewReader(large), e.env, "submit", "-", "--merchant", "m1")
	requireNoErr(t, r)
	receipt := strings.TrimSpace(r.stdout)
	msg = e.lastDelivery(t, "m1")
	require.Empty(t, msg.Data)
	require.Regexp(t, "^m1\\."+receipt+`\.`, msg.Header.Get(bus.HeaderObject))
	require.Equal(t, large, e.object(t, msg.Header.Get(bus.HeaderObject)))
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	path := writeFile(t, "p.ndjson", records(100))

	r := runCLI(t, nil, e.env, "submit", filepath.Join(t.TempDir(), "missing.ndjson"), "--merchant", "m1")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "no such file")

	// An unknown resource type is refused before anything is published.
	r = runCLI(t, nil, e.env, "submit", path, "--merchant", "m-data", "--data", "Widget")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `unknown --data "Widget": want one of ProductType, Category`)
	require.Empty(t, r.stdout)
	s, err := e.js.Stream(context.Background(), bus.StreamDeliveries)
	require.NoError(t, err)
	_, err = s.GetLastMsgForSubject(context.Background(), bus.DeliverySubject("m-data"))
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound, "nothing published")

	r = runCLI(t, nil, e.env, "submit", path, "--merchant", "m1", "--receipt", "bad receipt")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "invalid receipt id")

	r = runCLI(t, nil, nil, "submit", path, "--merchant", "m1", "--nats", "nats://127.0.0.1:1")
	require.Equal(t, exitUnreachable, r.code)
	require.Contains(t, r.stderr, "NATS unreachable: bus: connect to nats://127.0.0.1:1")
	require.Empty(t, r.stdout)

	// A NATS server nobody provisioned.
	bare := testenv.NATS(t)
	r = runCLI(t, nil, nil, "submit", path, "--merchant", "m1", "--nats", bare.ClientURL())
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "has importd provisioned")
	require.Empty(t, r.stdout)
}

func TestSubmitWatch(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	api := newFakeAPI(t,
		notFound(),
		ok(statusBody(tracking.StatusReceiving, 0, 3, 0)),
		ok(statusBody(tracking.StatusQueued, 0, 10, 0)),
		ok(statusBody(tracking.StatusCompletedWithErrors, 9, 0, 1)),
	)
	e.env["IMPORTD_API"] = api.URL
	r := runCLI(t, nil, e.env, "submit", writeFile(t, "p.ndjson", records(100)), "--merchant", "m1", "--watch", "--receipt", "watched-receipt")
	require.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
	require.Equal(t, "watched-receipt\n", r.stdout, "stdout stays just the receipt id")
	require.Contains(t, r.stderr, "CompletedWithErrors (7)")
	require.Contains(t, r.stderr, "9 successful, 0 pending, 1 failed")
	require.Equal(t, "GET /import/watched-receipt/status?merchantId=m1", api.paths[0], "the receipt of its merchant, whatever the token")

	// An unusable --api is refused before anything is published.
	r = runCLI(t, nil, e.env, "submit", writeFile(t, "q.ndjson", records(100)), "--merchant", "m9", "--watch", "--api", "nope")
	require.Equal(t, exitUsage, r.code)
	ctx := context.Background()
	s, err := e.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)
	_, err = s.GetLastMsgForSubject(ctx, bus.DeliverySubject("m9"))
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)
}

// TestSubmitNATSRefusesCredentials: a NATS server that refuses the
// connection's credentials is exit code 5, not "unreachable".
func TestSubmitNATSRefusesCredentials(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "nats.conf", []byte("authorization {\n  user: importd\n  password: \"s3cret-pass\"\n}\n"))
	ns := testenv.NATSWithConfig(t, conf)
	path := writeFile(t, "p.ndjson", records(10))
	r := runCLI(t, nil, nil, "submit", path, "--merchant", "m1", "--nats", ns.ClientURL())
	require.Equal(t, exitUnauthorized, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stderr, "NATS unauthorized: bus: connect to")
	require.Contains(t, r.stderr, "Authorization Violation")
	require.Empty(t, r.stdout)
}
