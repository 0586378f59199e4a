// Package node_test runs the Node.js publisher of examples/node against an
// embedded NATS server and an ingest worker, as an upstream would use it.
package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/publish"
	"github.com/importd/importd/tracking"
)

// published is the JSON line publish.js prints.
type published struct {
	Receipt   string `json:"receipt"`
	Subject   string `json:"subject"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
	Object    string `json:"object"`
	Size      int64  `json:"size"`
	Event     string `json:"event"`
}

// TestNodePublisher publishes a small (inline) and a large (object store)
// delivery with publish.js, as the upstream user of merchant m1 of the
// shipped NATS authorization, while an ingest worker runs: the example
// waits for the delivery's queued event, and the test checks the message,
// the object and what ingest made of them.
func TestNodePublisher(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "nats", "package.json")); err != nil {
		// A fresh clone has no node_modules, and go test downloads
		// nothing: .ci/run installs them and sets IMPORTD_REQUIRE_NODE, so
		// that CI fails rather than skips.
		msg := fmt.Sprintf("node is on PATH but examples/node/node_modules/nats is missing: run `npm ci` in examples/node (.ci/run does): %v", err)
		if os.Getenv("IMPORTD_REQUIRE_NODE") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	ns := testenv.NATSWithConfig(t, "../../deploy/nats/nats.conf")
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("importd-ingest", "ingest-secret-change-me"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(t, bus.Provision(ctx, js, bus.Config{}))

	store, err := tracking.NewStore(testenv.DB(t), tracking.StoreConfig{})
	require.NoError(t, err)
	// Ingest alone: nothing downstream takes operations out of flight.
	w, err := ingest.New(ingest.Config{MaxInFlight: -1}, store, js, zaptest.NewLogger(t))
	require.NoError(t, err)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})

	deliveries, err := js.Stream(ctx, publish.StreamDeliveries)
	require.NoError(t, err)
	obs, err := js.ObjectStore(ctx, publish.BucketPayloads)
	require.NoError(t, err)

	for _, tt := range []struct {
		name    string
		records int
		object  bool
	}{
		{"inline", 10, false},
		{"object store", 0, true}, // records enough to go over the inline limit
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body bytes.Buffer
			for i := 0; i < tt.records || (tt.object && body.Len() <= publish.InlineLimit); i++ {
				fmt.Fprintf(&body, `{"key":"type-%d","name":"Type %d"}`+"\n", i, i)
			}
			records := bytes.Count(body.Bytes(), []byte("\n"))
			file := filepath.Join(t.TempDir(), "types.ndjson")
			require.NoError(t, os.WriteFile(file, body.Bytes(), 0o600))
			receipt := "node-" + strings.ReplaceAll(tt.name, " ", "-")

			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, node, "publish.js", "--merchant", "m1", "--receipt", receipt,
				"--data", "ProductType", "--format", "ndjson", "--foreign-key", "erp "+tt.name, "--wait", "queued", file)
			cmd.Env = append(os.Environ(), "NATS_URL="+ns.ClientURL(), "NATS_USER=upstream-m1", "NATS_PASSWORD=m1-secret-change-me")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "publish.js: %s", stderr.String())
			var pub published
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &pub), "publish.js printed %q", stdout.String())
			require.Equal(t, receipt, pub.Receipt)
			require.Equal(t, "import.deliveries.m1", pub.Subject)
			require.Equal(t, int64(body.Len()), pub.Size)
			require.Equal(t, "queued", pub.Event, "publish.js waited for the queued event")
			require.Contains(t, stderr.String(), "accepted: ", "the accepted event came first")

			// The message as ingest reads it.
			msg, err := deliveries.GetMsg(ctx, pub.Sequence)
			require.NoError(t, err)
			require.Equal(t, publish.DeliverySubject("m1"), msg.Subject)
			require.Equal(t, publish.DeliveryID("m1", receipt), msg.Header.Get(publish.HeaderMsgID))
			require.Equal(t, "ProductType", msg.Header.Get(publish.HeaderData))
			require.Equal(t, "ndjson", msg.Header.Get(publish.HeaderFormat))
			require.Equal(t, "erp "+tt.name, msg.Header.Get(publish.HeaderForeignKey))
			require.Empty(t, msg.Header.Get(publish.HeaderEncoding))
			if !tt.object {
				require.Empty(t, pub.Object)
				require.Empty(t, msg.Header.Get(publish.HeaderObject))
				require.Equal(t, body.Bytes(), msg.Data)
			} else {
				require.True(t, publish.ObjectOfMerchant(pub.Object, "m1"), "object %q is named after its merchant", pub.Object)
				require.True(t, strings.HasPrefix(pub.Object, "m1."+receipt+"."), pub.Object)
				require.Equal(t, pub.Object, msg.Header.Get(publish.HeaderObject))
				require.Empty(t, msg.Data, "the body is the object's")
				r, err := obs.Get(ctx, pub.Object)
				require.NoError(t, err)
				got, err := io.ReadAll(r)
				require.NoError(t, err)
				require.Equal(t, body.Bytes(), got)
			}

			// What ingest made of it: every record an operation waiting for the resolver.
			d, err := store.DeliveryFind(ctx, "m1", receipt)
			require.NoError(t, err)
			require.Equal(t, tracking.IngestDone, d.IngestState)
			require.Empty(t, d.IngestionErrors)
			require.Equal(t, "ProductType", d.Data)
			require.Equal(t, "ndjson", d.Format)
			require.Equal(t, "1.0", d.ContractVersion)
			require.NotNil(t, d.ForeignKey)
			require.Equal(t, "erp "+tt.name, *d.ForeignKey)
			require.Equal(t, pub.Object, d.ObjectName)
			require.Equal(t, records, d.RecordsRead)
			status, err := store.Status(ctx, &d)
			require.NoError(t, err)
			require.Equal(t, "Queued", status.Status)
			require.Equal(t, tracking.ProductCounts{Pending: int64(records)}, status.Products)
		})
	}
}
