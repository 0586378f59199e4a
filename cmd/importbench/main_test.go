package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/database"
)

// TestMain lets the test binary be the benchmark's NATS server process too,
// as the importbench binary is (startNATSChild runs this executable again).
func TestMain(m *testing.M) {
	if store := os.Getenv(natsChildEnv); store != "" {
		os.Exit(natsChildMain(store))
	}
	os.Exit(m.Run())
}

func testDB() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return database.DefaultURL
}

// TestBenchmark runs the whole benchmark on 2,000 records and checks that
// the JSON holds every figure and that the correctness check passed.
func TestBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole benchmark is skipped in -short mode")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := benchMain([]string{"-db", testDB(), "-records", "2000", "-json", path, "-fair-interval", "300ms", "-sample-interval", "20ms"}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Equal(t, 0, code)
	require.Contains(t, stdout.String(), "correctness                   PASSED")

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var r Result
	require.NoError(t, json.Unmarshal(b, &r))

	require.True(t, r.Correctness.Passed)
	require.Greater(t, len(r.Correctness.Checks), 20)
	for _, c := range r.Correctness.Checks {
		require.True(t, c.OK, "%+v", c)
	}

	require.Equal(t, "2000", r.Flags["records"])
	require.Positive(t, r.Machine.Cores)
	require.Positive(t, r.Machine.MemTotalBytes)
	require.NotEmpty(t, r.Machine.CPUModel)
	require.NotEmpty(t, r.Versions.Go)
	require.NotEmpty(t, r.Versions.PostgreSQL)
	require.NotEmpty(t, r.Versions.NATSServer)
	require.NotEmpty(t, r.Versions.GitCommit)

	require.Equal(t, 2000, r.Load.Records)
	require.Equal(t, 2000, r.Load.Valid+r.Load.Invalid+r.Load.Late)
	require.Positive(t, r.Load.Invalid)
	require.Positive(t, r.Load.Late)
	require.Greater(t, r.Load.Variants, r.Load.Valid)
	require.GreaterOrEqual(t, r.Load.AvgRecordBytes, 1000.0)
	require.LessOrEqual(t, r.Load.AvgRecordBytes, 2048.0)
	require.Positive(t, r.Load.PublishSeconds)
	require.Positive(t, r.Load.LateReleaseSec)

	require.Positive(t, r.EndToEnd.Seconds)
	require.Positive(t, r.EndToEnd.RecordsPerSec)
	require.Len(t, r.Stages, 3)
	for _, s := range r.Stages {
		require.Positive(t, s.Count, s.Name)
		require.Positive(t, s.PerSec, s.Name)
		require.LessOrEqual(t, s.EndSec, r.EndToEnd.Seconds+0.001, s.Name)
	}

	for name, p := range map[string]Percentiles{"status": r.Latency.Status, "summary ttfb": r.Latency.SummaryFailedTTFB, "summary": r.Latency.SummaryFailedTotal} {
		require.Positive(t, p.Samples, name)
		require.Positive(t, p.P50, name)
		require.GreaterOrEqual(t, p.P99, p.P50, name)
		require.GreaterOrEqual(t, p.Max, p.P99, name)
	}
	for name, c := range map[string]struct {
		client Percentiles
		server ServerSide
	}{"status": {r.Latency.Status, r.Latency.StatusServer}, "summary": {r.Latency.SummaryFailedTTFB, r.Latency.SummaryFailedServer}} {
		// The query service timed the same requests the sampler did.
		require.InDelta(t, c.client.Samples, c.server.Requests, 2, name)
		require.GreaterOrEqual(t, c.server.Within["50"], c.server.Within["20"], name)
		require.Positive(t, c.server.Within["50"], name)
		require.LessOrEqual(t, c.server.Within["50"], 1.0, name)
		n := 0
		for _, k := range c.client.ErrorsBy {
			n += k
		}
		require.Equal(t, c.client.Errors, n, name)
	}
	require.Positive(t, r.Fairness.Deliveries)
	require.Len(t, r.Fairness.Samples, r.Fairness.Deliveries)
	require.Positive(t, r.Fairness.P50)
	require.GreaterOrEqual(t, r.Fairness.Max, r.Fairness.P99)

	require.Len(t, r.Memory.Roles, 4)
	for name, m := range r.Memory.Roles {
		require.Positive(t, m, name)
	}
	require.Positive(t, r.Memory.PostgresPeakPrivate)
	require.Positive(t, r.Memory.PostgresPeakSumRSS)
	require.Positive(t, r.Memory.PostgresSumHWM)
	require.Positive(t, r.Memory.NATS)
	require.NotEmpty(t, r.Memory.PostgresMeasuredHow)
	require.NotEmpty(t, r.Memory.NATSMeasuredHow)

	require.Positive(t, r.CPU.LoadSeconds)
	require.Positive(t, r.CPU.PostgreSQL)
	require.Positive(t, r.CPU.Bench)
	require.Positive(t, r.CPU.NATS, "the NATS server runs in a process of its own")
	require.Len(t, r.CPU.Roles, 4)
	require.Positive(t, r.DBActivity.Samples)

	require.Positive(t, r.Work.Messages)
	require.Positive(t, r.Work.AvgBytes)

	c := r.Limit.Copy
	require.Equal(t, int64(2000), c.Rows["operations"])
	require.Greater(t, c.Rows["tracking_events"], int64(4*2000-200))
	require.Equal(t, int64(r.Load.Valid+r.Load.Late), c.Rows["catalog_products"])
	require.Equal(t, int64(r.Load.Variants), c.Rows["catalog_variants"])
	require.Positive(t, c.Seconds)
	require.Positive(t, c.RecordsPerSec)
	require.Positive(t, c.Fraction)
	js := r.Limit.JetStream
	require.Equal(t, r.Work.Messages, js.Messages)
	require.Positive(t, js.MessageBytes)
	require.Positive(t, js.Seconds)
	require.Positive(t, js.RecordsPerSec)
	require.Positive(t, js.Fraction)

	// CPU per record, of the load and of the COPY limit, measured alike:
	// the parts add up to the total, the ratio is the one over the other.
	pr := r.CPUPerRecord
	require.Positive(t, pr.PostgreSQL)
	require.Positive(t, pr.Bench)
	require.Positive(t, pr.NATS)
	require.Len(t, pr.Roles, 4)
	sum := pr.PostgreSQL + pr.Bench + pr.NATS
	for name, us := range pr.Roles {
		require.InDelta(t, r.CPU.Roles[name]*1e6/2000, us, 0.05, name)
		sum += us
	}
	require.InDelta(t, sum, pr.Total, 0.05*float64(len(pr.Roles)+4))
	require.InDelta(t, r.CPU.PostgreSQL*1e6/2000, pr.PostgreSQL, 0.05)
	require.InDelta(t, r.CPU.total()*1e6/2000, pr.Total, 0.05)
	lc, lp := c.CPU, c.CPUPerRecord
	require.Positive(t, lc.PostgreSQL)
	require.Positive(t, lc.Client)
	require.InDelta(t, lc.PostgreSQL+lc.Client, lc.Total, 0.0011)
	// The seconds are rounded, the µs a record are not: allow the rounding.
	require.InDelta(t, lc.PostgreSQL*1e6/2000, lp.PostgreSQL, 0.3)
	require.InDelta(t, lc.Client*1e6/2000, lp.Client, 0.3)
	require.InDelta(t, lp.PostgreSQL+lp.Client, lp.Total, 0.1)
	require.Positive(t, r.CPURatio)
	require.InEpsilon(t, pr.Total/lp.Total, r.CPURatio, 0.02)
	require.Contains(t, stdout.String(), "CPU of the COPY limit")
	require.Contains(t, stdout.String(), "µs/record")

	// WAL of the load and of the limit: every record wrote rows, and the
	// pipeline writes at least what COPY of its final rows writes.
	for _, w := range []WAL{r.WAL, c.WAL} {
		require.Positive(t, w.Bytes)
		require.InDelta(t, float64(w.Bytes)/2000, w.BytesPerRecord, 0.5)
	}
	require.Greater(t, r.WAL.Bytes, c.WAL.Bytes)
	require.Contains(t, stdout.String(), "WAL of the COPY limit")
}

// TestCPUPerRecord checks the µs per record of the load and the table that
// prints them beside the COPY limit's.
func TestCPUPerRecord(t *testing.T) {
	t.Parallel()
	c := CPU{PostgreSQL: 244, NATS: 50, Bench: 20, Roles: map[string]float64{"import-0": 60, "resolve-0": 41, "ingest-0": 36, "query": 15}}
	p := cpuPerRecord(c, 1_000_000)
	require.Equal(t, CPUPerRecord{
		Total: 466, PostgreSQL: 244, NATS: 50, Bench: 20,
		Roles: map[string]float64{"import-0": 60, "resolve-0": 41, "ingest-0": 36, "query": 15},
	}, p)
	require.Equal(t, 0.0, microsPerRecord(1, 0))
	require.Equal(t, 333.3, microsPerRecord(1, 3000))

	r := &Result{CPU: c, CPUPerRecord: p, CPURatio: 3.377}
	r.Memory.Roles = map[string]int64{"import-0": 1, "resolve-0": 1, "ingest-0": 1, "query": 1}
	r.Limit.Copy.CPU = LimitCPU{Total: 138, PostgreSQL: 130, Client: 8}
	r.Limit.Copy.CPUPerRecord = LimitCPU{Total: 138, PostgreSQL: 130, Client: 8}
	r.WAL = WAL{Bytes: 8192_000_000, BytesPerRecord: 8192}
	r.Limit.Copy.WAL = WAL{Bytes: 4710_000_000, BytesPerRecord: 4710}
	var out bytes.Buffer
	printTable(&out, r)
	var lines []string // each with its columns one space apart
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{
		"PostgreSQL 244.0 s, 244.0 µs/record postmaster, background processes, the benchmark's backends",
		"import-0 60.0 s, 60.0 µs/record",
		"total 466.0 s, 466.0 µs/record every process above",
		"CPU of the COPY limit 138.0 s, 138.0 µs/record user+system seconds over the COPY, and µs per record:",
		"PostgreSQL 130.0 s, 130.0 µs/record the same processes, the limit database's backends",
		"importbench 8.0 s, 8.0 µs/record the COPY client",
		"pipeline / COPY CPU 3.38× total µs/record over the limit's; <= 1.8×",
		"WAL during the load 7812 MiB, 8192 B a record written to PostgreSQL's log (the whole server)",
		"WAL of the COPY limit 4492 MiB, 4710 B a record the same, over the COPY",
	} {
		require.Contains(t, lines, want)
	}
}

// TestBenchmarkFailsOnLostOrDoubledRecords removes one operation and
// doubles another before the check: the benchmark must say so and fail.
func TestBenchmarkFailsOnLostOrDoubledRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole benchmark is skipped in -short mode")
	}
	t.Parallel()
	o, flags, err := parseFlags([]string{"-db", testDB(), "-records", "300", "-deliveries", "2", "-quiet"})
	require.NoError(t, err)
	o.tamper = func(ctx context.Context, pool *pgxpool.Pool) error {
		if _, err := pool.Exec(ctx, `DELETE FROM operations WHERE resource_key = 'bp-7'`); err != nil {
			return err
		}
		_, err := pool.Exec(ctx, `INSERT INTO operations (id, delivery_at, receipt_id, merchant_id, seq, line, resource_type, resource_key, state, stage,
			retry_count, created_at, last_modified_at, expires_at, last_tracking_id, last_tracking_code, last_message)
			SELECT gen_random_uuid(), delivery_at, receipt_id, merchant_id, seq + 100000, line, resource_type, resource_key, state, stage,
			retry_count, created_at, last_modified_at, expires_at, last_tracking_id, last_tracking_code, last_message
			FROM operations WHERE resource_key = 'bp-8'`)
		return err
	}
	r, err := run(context.Background(), o, flags)
	require.NoError(t, err)
	require.False(t, r.Correctness.Passed)
	failed := map[string]Check{}
	for _, c := range r.Correctness.Checks {
		if !c.OK {
			failed[c.Name] = c
		}
	}
	require.Contains(t, failed, "records without an operation")
	require.Contains(t, failed, "records with more than one operation")
	require.Equal(t, int64(1), failed["records without an operation"].Got)
	require.Equal(t, int64(1), failed["records with more than one operation"].Got)
}

// With -query-cpu-priority the query service, its PostgreSQL backends and
// importbench run in a cgroup of their own during the load, and are moved
// back afterwards. It needs root and the cgroup v1 cpu controller.
func TestBenchmarkCPUPriority(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole benchmark is skipped in -short mode")
	}
	for _, bad := range []string{"-1", "257"} {
		_, _, err := parseFlags([]string{"-query-cpu-priority", bad})
		require.Error(t, err, bad)
	}
	probe := filepath.Join(cgroupCPURoot, "importbench-probe-"+randomHex(4))
	if err := os.Mkdir(probe, 0o755); err != nil {
		t.Skipf("no writable cgroup v1 cpu controller: %v", err)
	}
	require.NoError(t, os.Remove(probe))
	before, err := cpuCgroupOf(os.Getpid())
	require.NoError(t, err)

	o, flags, err := parseFlags([]string{"-db", testDB(), "-records", "1000", "-quiet", "-query-cpu-priority", "4"})
	require.NoError(t, err)
	r, err := run(context.Background(), o, flags)
	require.NoError(t, err)
	require.True(t, r.Correctness.Passed)
	c := r.Latency.CPUPriority
	require.NotNil(t, c)
	require.Equal(t, 4096, c.Shares)
	// importbench, the query service and at least one of its backends.
	require.GreaterOrEqual(t, c.Processes, 3)
	_, err = os.Stat(c.Cgroup)
	require.ErrorIs(t, err, os.ErrNotExist, "the cgroup is removed")
	after, err := cpuCgroupOf(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, before, after, "importbench is back in its cgroup")
}
