package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/testenv"
)

// buildImportd builds the binary under test.
func buildImportd(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "importd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// proc is one importd process.
type proc struct {
	cmd  *exec.Cmd
	done chan error
	logs *strings.Builder
}

func startImportd(t testing.TB, bin, role string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(bin, role)
	// Tests run side by side: a free metrics port each, unless env says.
	cmd.Env = append(append(os.Environ(), "IMPORTD_METRICS_ADDR=127.0.0.1:0"), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, done: make(chan error, 1), logs: &strings.Builder{}}
	copied := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.WriteString(sc.Text() + "\n")
		}
		close(copied)
	}()
	go func() {
		<-copied
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// records generates n product records on the fly, filling each Read.
type records struct{ n, i int }

func (r *records) Read(b []byte) (int, error) {
	n := 0
	for n < len(b)-512 && r.i < r.n {
		n += copy(b[n:], fmt.Appendf(nil, `{"key":"k-%d","productType":{"key":"pt"},"name":{"en":"P %d"},"slug":{"en":"p-%d"}}`+"\n", r.i, r.i, r.i))
		r.i++
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func recordsRead(t *testing.T, pool *pgxpool.Pool, receipt string) (int, string) {
	var n int
	var state string
	err := pool.QueryRow(context.Background(), `SELECT records_read, ingest_state FROM deliveries WHERE receipt_id = $1`, receipt).Scan(&n, &state)
	if err != nil {
		return 0, ""
	}
	return n, state
}

// TestIngestProcessKilled runs importd ingest as a process, stops it with
// SIGTERM and kills it with SIGKILL in the middle of a delivery, and checks
// that after a restart every record is stored once and queued once.
func TestIngestProcessKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	t.Parallel()
	const n = 100_000
	bin := buildImportd(t)
	dbURL := testenv.DBURL(t)
	ns := testenv.NATS(t)
	_, js := testenv.JetStream(t, ns)
	pool, err := database.Open(context.Background(), dbURL, "importd test")
	require.NoError(t, err)
	defer pool.Close()
	// Ingest alone: nothing downstream takes operations out of flight.
	env := []string{"DATABASE_URL=" + dbURL, "NATS_URL=" + ns.ClientURL(), "IMPORTD_ACK_WAIT=2s", "IMPORTD_LOG_LEVEL=info", "IMPORTD_MAX_IN_FLIGHT=0"}

	obs, err := js.ObjectStore(context.Background(), bus.BucketPayloads)
	require.NoError(t, err)
	_, err = obs.Put(context.Background(), jetstream.ObjectMeta{Name: "m1.killed-body"}, &records{n: n})
	require.NoError(t, err)
	msg := nats.NewMsg(bus.DeliverySubject("m1"))
	msg.Header.Set(bus.HeaderMsgID, "killed-delivery")
	msg.Header.Set(bus.HeaderObject, "m1.killed-body")
	_, err = js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)

	// Let the worker get some way, then stop it: gracefully once, brutally twice.
	progress := 0
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGKILL} {
		p := startImportd(t, bin, "ingest", env)
		require.Eventually(t, func() bool {
			read, _ := recordsRead(t, pool, "killed-delivery")
			return read >= progress+5000
		}, 2*time.Minute, 5*time.Millisecond, "round %d: no progress\n%s", i, p.logs)
		require.NoError(t, p.cmd.Process.Signal(sig))
		select {
		case err := <-p.done:
			if sig == syscall.SIGTERM {
				require.NoError(t, err, "SIGTERM is a clean exit\n%s", p.logs)
				require.Contains(t, p.logs.String(), "importd stopped cleanly")
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: importd did not exit after %s", i, sig)
		}
		var state string
		progress, state = recordsRead(t, pool, "killed-delivery")
		require.Equal(t, "receiving", state, "round %d stopped it in the middle (%d records stored)", i, progress)
		t.Logf("round %d: %s after %d records", i, sig, progress)
	}

	p := startImportd(t, bin, "ingest", env)
	require.Eventually(t, func() bool {
		_, state := recordsRead(t, pool, "killed-delivery")
		return state == "done"
	}, 3*time.Minute, 20*time.Millisecond, "%s", p.logs)

	var ops, distinct, received, queued int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE state = 'processing')
		FROM operations WHERE receipt_id = 'killed-delivery'`).Scan(&ops, &distinct, &queued))
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM tracking_events
		WHERE receipt_id = 'killed-delivery' AND code = 2000`).Scan(&received))
	require.Equal(t, n, ops, "every record stored")
	require.Equal(t, n, distinct, "none twice")
	require.Equal(t, n, received, "one received event per record")
	require.Equal(t, n, queued)

	// Every operation reached the resolver's subject, at least once.
	cons, err := js.CreateOrUpdateConsumer(context.Background(), bus.StreamWork, jetstream.ConsumerConfig{
		Durable: "audit", FilterSubject: "import.work.resolve.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	seen := make(map[int]bool, n)
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(500*time.Millisecond))
		require.NoError(t, err)
		got := 0
		for m := range batch.Messages() {
			got++
			wb, err := bus.DecodeWork(m.Data())
			require.NoError(t, err)
			for _, op := range wb.Ops {
				seen[op.Seq] = true
			}
			require.NoError(t, m.Ack())
		}
		if got == 0 {
			break
		}
	}
	require.Len(t, seen, n, "every record queued for the resolver")
}
