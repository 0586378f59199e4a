// Command importbench measures the import pipeline end to end against the
// machine's own limit, in one run (issue 6).
//
// It prepares a fresh database and a fresh embedded NATS server, runs every
// role as its own importd process, publishes generated deliveries of products
// (several at once, like several upstreams), and measures the throughput end
// to end and per stage, the query service's latency and the completion time
// of small deliveries of another merchant during the load, and the peak
// memory of every process. It checks that every record ended in the state it
// should, once, and exits non-zero otherwise. Then, in the same run, it
// measures the limit: COPY of the same final rows into fresh tables, and
// JetStream's own publish and consume rate for the pipeline's work traffic.
//
//	go run ./cmd/importbench -records 1000000 -json bench.json
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/importd/importd/internal/database"
)

// options are the flags.
type options struct {
	DB           string
	NATS         string
	Importd      string
	Records      int
	Seed         uint64
	Invalid      float64
	Late         float64
	Deliveries   int
	Instances    int
	JSON         string
	Keep         bool
	FairInterval time.Duration
	FairRecords  int
	Sample       time.Duration
	Timeout      time.Duration
	Quiet        bool
	PProf        string
	CPUPriority  int

	stderr io.Writer
	// tamper, in tests, changes the pipeline's rows before the check, to
	// prove that the check sees a lost or doubled record.
	tamper func(ctx context.Context, pool *pgxpool.Pool) error
}

func parseFlags(args []string) (options, map[string]string, error) {
	var o options
	fs := flag.NewFlagSet("importbench", flag.ContinueOnError)
	def := os.Getenv("DATABASE_URL")
	if def == "" {
		def = database.DefaultURL
	}
	fs.StringVar(&o.DB, "db", def, "PostgreSQL server to create the benchmark's databases on (defaults to $DATABASE_URL)")
	fs.StringVar(&o.NATS, "nats", "", "NATS server to use; empty starts an embedded one in this process")
	fs.StringVar(&o.Importd, "importd", "", "importd binary; empty builds ./cmd/importd into a temporary directory")
	fs.IntVar(&o.Records, "records", 1_000_000, "products in the main load")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the generated records")
	fs.Float64Var(&o.Invalid, "invalid", 0.01, "share of invalid records (missing name, bad currency)")
	fs.Float64Var(&o.Late, "late", 0.01, "share of records referencing a category published after the main load")
	fs.IntVar(&o.Deliveries, "deliveries", 4, "main-load deliveries published at once")
	fs.IntVar(&o.Instances, "instances", 1, "importd processes per role (ingest, resolve, import)")
	fs.StringVar(&o.JSON, "json", "", "write every figure to this file as JSON")
	fs.BoolVar(&o.Keep, "keep", false, "keep the databases (and print their names)")
	fs.DurationVar(&o.FairInterval, "fair-interval", 2*time.Second, "how often a small delivery of another merchant is published during the load")
	fs.IntVar(&o.FairRecords, "fair-records", 10, "records of each small delivery")
	fs.DurationVar(&o.Sample, "sample-interval", 50*time.Millisecond, "pause between two query-service samples")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Minute, "give up after this long")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress lines")
	fs.StringVar(&o.PProf, "pprof", "", "write CPU profiles of every role, of the NATS process and of importbench itself during the main load into this directory")
	fs.IntVar(&o.CPUPriority, "query-cpu-priority", 0, "N > 0: during the load, keep the query service, its PostgreSQL backends and importbench (the samplers) in a CPU cgroup of N times the default shares (Linux, cgroup v1, root): the latency when a deployment reserves CPU for the query service")
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	if fs.NArg() > 0 {
		return o, nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case o.Records < 1:
		return o, nil, fmt.Errorf("-records must be at least 1")
	case o.Deliveries < 1 || o.Deliveries > o.Records:
		return o, nil, fmt.Errorf("-deliveries must be between 1 and -records")
	case o.Invalid < 0 || o.Late < 0 || o.Invalid+o.Late > 1:
		return o, nil, fmt.Errorf("-invalid and -late must be shares between 0 and 1")
	case o.Instances < 1:
		return o, nil, fmt.Errorf("-instances must be at least 1")
	case o.CPUPriority < 0 || o.CPUPriority > 256:
		return o, nil, fmt.Errorf("-query-cpu-priority must be between 0 (off) and 256")
	case o.FairRecords < 1 || o.FairInterval <= 0:
		return o, nil, fmt.Errorf("-fair-records and -fair-interval must be positive")
	}
	flags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "db" {
			flags[f.Name] = redact(f.Value.String())
			return
		}
		flags[f.Name] = f.Value.String()
	})
	return o, flags, nil
}

func main() {
	if store := os.Getenv(natsChildEnv); store != "" {
		os.Exit(natsChildMain(store))
	}
	os.Exit(benchMain(os.Args[1:], os.Stdout, os.Stderr))
}

// benchMain runs the command with args and returns its exit code: 0 when
// the run was measured and every record ended as it should, 1 otherwise
// (2 for bad flags).
func benchMain(args []string, stdout, stderr io.Writer) int {
	o, flags, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(stderr, "importbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	o.stderr = stderr
	r, err := run(ctx, o, flags)
	if r != nil {
		if o.JSON != "" {
			if werr := writeJSON(o.JSON, r); werr != nil {
				fmt.Fprintln(stderr, "importbench:", werr)
				return 1
			}
		}
		if err == nil {
			printTable(stdout, r)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "importbench:", err)
		return 1
	}
	if !r.Correctness.Passed {
		fmt.Fprintln(stderr, "importbench: correctness check FAILED: records lost, doubled or in the wrong state")
		return 1
	}
	return 0
}
