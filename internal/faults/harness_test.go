package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/audit"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
)

// harness is one fault test's world: a database, a NATS server (or
// cluster), importd role processes, and the faults injected so far.
type harness struct {
	t        *testing.T
	start    time.Time
	rng      *rand.Rand
	dbURL    string
	natsURL  string
	replicas int
	env      []string // of every role process
	pool     *pgxpool.Pool
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *zap.Logger

	mu      sync.Mutex
	roles   []*proc
	servers []*proc // NATS and PostgreSQL, for their logs
	faults  []string
	nfaults atomic.Int64
	audited bool

	checkInputs bool
}

type harnessConfig struct {
	DBURL    string
	NATSURL  string
	Replicas int      // of the streams; defaults to 1
	Env      []string // extra environment of the role processes
	// CheckInputs has verify check that every delivery's body is kept in
	// IMPORT_INPUTS, and its message removed: for a test whose
	// IMPORTD_REDRIVE_AFTER is short, as settling runs every quarter of it.
	CheckInputs bool
}

func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("faults: seed %d (replay with -faults.seed %d), %d records", seed, seed, *flagRecords)
	h := &harness{
		t: t, start: time.Now(), rng: rand.New(rand.NewPCG(uint64(seed), 7)),
		dbURL: cfg.DBURL, natsURL: cfg.NATSURL, replicas: cfg.Replicas, checkInputs: cfg.CheckInputs,
		log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	}
	h.env = append([]string{
		"DATABASE_URL=" + cfg.DBURL,
		"NATS_URL=" + cfg.NATSURL,
		"IMPORTD_LOG_LEVEL=info",
		"IMPORTD_ACK_WAIT=2s",
		"IMPORTD_RETRY_WINDOW=5s",
		// Many processes on one machine: each its own free port.
		"IMPORTD_METRICS_ADDR=127.0.0.1:0",
		fmt.Sprintf("IMPORTD_STREAM_REPLICAS=%d", cfg.Replicas),
	}, cfg.Env...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := database.Open(ctx, cfg.DBURL, "importd faults")
	require.NoError(t, err)
	h.pool = pool
	require.NoError(t, database.Migrate(ctx, pool))
	nc, err := bus.Connect(cfg.NATSURL, "faults-test", bus.Auth{}, h.log)
	require.NoError(t, err)
	h.nc = nc
	h.js, err = jetstream.New(nc)
	require.NoError(t, err)
	// A cluster needs a moment to elect its leaders.
	// Each attempt bounded: a request sent before the meta leader exists
	// can hang until its context ends.
	require.NoError(t, retry(ctx, func() error {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return bus.Provision(actx, h.js, bus.Config{Replicas: cfg.Replicas})
	}), "provisioning the streams")
	t.Cleanup(func() {
		if !h.audited {
			record(result{test: t.Name(), faults: fmt.Sprintf("%d injected; stopped before the audit", h.nfaults.Load()),
				injected: int(h.nfaults.Load()), took: time.Since(h.start), failed: true})
		}
		h.stopRoles()
		if t.Failed() {
			h.dumpLogs()
		}
		nc.Close()
		pool.Close()
	})
	return h
}

// retry calls fn until it succeeds or ctx ends.
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// role starts an importd process running role, supervised: restarted when
// it exits on its own.
func (h *harness) role(role string, env ...string) *proc {
	h.t.Helper()
	h.mu.Lock()
	n := 1
	for _, p := range h.roles {
		if strings.HasPrefix(p.name, role+"-") {
			n++
		}
	}
	name := fmt.Sprintf("%s-%d", role, n)
	p := newProc(h.t, name, []string{importdBin, role}, append(append([]string(nil), h.env...), env...), filepath.Join(h.t.TempDir(), name+".log"))
	p.supervise = true
	h.roles = append(h.roles, p)
	h.mu.Unlock()
	require.NoError(h.t, p.start())
	return p
}

// roles starts one process of each of ingest, resolve and import.
func (h *harness) pipeline() map[string]*proc {
	return map[string]*proc{"ingest": h.role("ingest"), "resolve": h.role("resolve"), "import": h.role("import")}
}

func (h *harness) stopRoles() {
	h.mu.Lock()
	roles := append([]*proc(nil), h.roles...)
	h.mu.Unlock()
	for _, p := range roles {
		p.close()
	}
}

// fault records one injected fault.
func (h *harness) fault(format string, args ...any) { h.faultN(1, format, args...) }

// faultN records n injected faults of one kind.
func (h *harness) faultN(n int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.nfaults.Add(int64(n))
	h.mu.Lock()
	h.faults = append(h.faults, msg)
	h.mu.Unlock()
	h.t.Logf("faults: +%s %s", time.Since(h.start).Round(time.Millisecond), msg)
}

// killRestart kills p with SIGKILL and starts it again after a pause.
func (h *harness) killRestart(p *proc, pause time.Duration) {
	p.kill()
	h.fault("kill -9 %s (pid gone), restart in %s", p.name, pause.Round(time.Millisecond))
	time.Sleep(pause)
	if err := p.start(); err != nil {
		h.t.Errorf("restarting %s: %v", p.name, err)
	}
}

func (h *harness) dumpLogs() {
	h.mu.Lock()
	all := append(append([]*proc(nil), h.roles...), h.servers...)
	h.mu.Unlock()
	for _, p := range all {
		h.t.Logf("--- last lines of %s (%s):\n%s", p.name, p.logPath, p.tail(40))
	}
	h.dumpConsumers()
}

// dumpConsumers logs the state of every stream and consumer of the
// contract, to tell a stuck consumer from a stuck worker.
func (h *harness) dumpConsumers() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{bus.StreamDeliveries, bus.StreamWork, bus.StreamCatalog} {
		s, err := h.js.Stream(ctx, name)
		if err != nil {
			h.t.Logf("--- stream %s: %v", name, err)
			continue
		}
		si, err := s.Info(ctx)
		if err != nil {
			h.t.Logf("--- stream %s: %v", name, err)
			continue
		}
		h.t.Logf("--- stream %s: %d messages, seq %d..%d, cluster %+v", name, si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, si.Cluster)
		for ci := range s.ListConsumers(ctx).Info() {
			h.t.Logf("--- consumer %s/%s: delivered %d/%d, ack floor %d/%d, ack pending %d, redelivered %d, pending %d, waiting %d, cluster %+v",
				name, ci.Name, ci.Delivered.Consumer, ci.Delivered.Stream, ci.AckFloor.Consumer, ci.AckFloor.Stream,
				ci.NumAckPending, ci.NumRedelivered, ci.NumPending, ci.NumWaiting, ci.Cluster)
		}
	}
}

// crashes fails the test when a role process exited without being killed.
func (h *harness) requireNoCrashes() {
	h.t.Helper()
	h.mu.Lock()
	roles := append([]*proc(nil), h.roles...)
	h.mu.Unlock()
	for _, p := range roles {
		if c := p.crashed(); len(c) > 0 {
			h.t.Errorf("%s exited on its own %d times (%s): a worker must survive the fault and carry on", p.name, len(c), strings.Join(c, "; "))
		}
	}
}

// progress is how far the main delivery has come.
type progress struct {
	read      int  // records stored by ingest
	total     int  // operations
	queued    int  // waiting for the resolver
	imported  int  // imported or partially imported
	failed    int  // validationFailed, rejected, canceled
	parked    int  // unresolved or waiting for a master variant
	completed bool // every operation ended
}

func (h *harness) progress(ctx context.Context, receipt string) (progress, error) {
	var p progress
	err := h.pool.QueryRow(ctx, `SELECT d.records_read, d.completed_at IS NOT NULL,
			coalesce(sum(c.total), 0), coalesce(sum(c.queued), 0), coalesce(sum(c.imported + c.partially), 0),
			coalesce(sum(c.validation_failed + c.rejected + c.canceled), 0), coalesce(sum(c.unresolved + c.waiting), 0)
		FROM deliveries d LEFT JOIN delivery_counts c ON c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at
		WHERE d.receipt_id = $1 GROUP BY d.records_read, d.completed_at`, receipt).
		Scan(&p.read, &p.completed, &p.total, &p.queued, &p.imported, &p.failed, &p.parked)
	return p, err
}

// waitCompleted waits until every delivery of receipts is completed.
func (h *harness) waitCompleted(ctx context.Context, receipts ...string) error {
	for {
		var done int
		err := h.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE receipt_id = any($1) AND completed_at IS NOT NULL`, receipts).Scan(&done)
		if err == nil && done == len(receipts) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deliveries %v not completed: %w (%d done; last error %v)", receipts, ctx.Err(), done, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deadline is how long a run of n records may take, faults included.
func deadline(n int) time.Duration {
	return 4*time.Minute + time.Duration(n)*4*time.Millisecond
}

// audit runs the audit over every delivery, in this process (every
// violation reported) and as `importd audit --all` (exit status 0), and
// records the test's result for the summary.
func (h *harness) audit(what string) audit.Summary {
	h.t.Helper()
	h.audited = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	au, err := audit.New(h.pool, audit.Config{}, h.log)
	require.NoError(h.t, err)
	var violations []string
	sum, err := au.All(ctx, func(v audit.Violation) {
		if len(violations) < 50 {
			violations = append(violations, v.String())
		}
	})
	require.NoError(h.t, err)
	if sum.Violations > 0 {
		h.t.Errorf("audit: %d violations, the first %d:\n  %s", sum.Violations, len(violations), strings.Join(violations, "\n  "))
	}
	cmd := exec.CommandContext(ctx, importdBin, "audit", "--all")
	cmd.Env = append(cmd.Environ(), "DATABASE_URL="+h.dbURL, "IMPORTD_LOG_LEVEL=warn")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		h.t.Errorf("importd audit --all exited with %d:\n%s", exit.ExitCode(), lastLines(string(out), 30))
	case err != nil:
		h.t.Errorf("importd audit --all: %v", err)
	}
	injected := int(h.nfaults.Load())
	h.t.Logf("faults: %s: %d faults injected (%s); audited %d operations in %d deliveries, %d events: %d violations; `importd audit --all`: %s",
		h.t.Name(), injected, what, sum.Operations, sum.Deliveries, sum.Events, sum.Violations, lastLines(string(out), 1))
	r := result{test: h.t.Name(), faults: what, injected: injected, deliveries: sum.Deliveries, operations: sum.Operations,
		events: sum.Events, violations: sum.Violations, took: time.Since(h.start)}
	h.t.Cleanup(func() {
		r.failed = h.t.Failed()
		record(r)
	})
	return sum
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// driveSpread drives the workload and calls inject n times, spread over the
// import: the i-th call comes at a seeded random point of the i-th n-th of
// it, each at most once.
func (h *harness) driveSpread(w *workload, n int, inject func(ctx context.Context, i int, p progress)) {
	points := make([]float64, n)
	for i := range points {
		points[i] = (float64(i) + 0.2 + 0.6*h.rng.Float64()) / float64(n) * 0.9
	}
	next := 0
	valid, _ := w.expected()
	h.drive(w, func(ctx context.Context, p progress) {
		if next >= len(points) || float64(p.imported)/float64(valid) < points[next] {
			return
		}
		next++
		inject(ctx, next-1, p)
	})
}
