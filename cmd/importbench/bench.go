package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/importd/importd/internal/bus"
)

const (
	merchantMain  = "bench"
	merchantSmall = "small"
)

// bench is one run.
type bench struct {
	o      options
	g      gen
	runID  string
	dbURL  string
	pool   *pgxpool.Pool
	nc     *nats.Conn
	js     jetstream.JetStream
	procs  []*proc
	nats   *natsChild // the NATS server process; nil with -nats
	query  *proc
	token  string
	client *http.Client
	logf   func(format string, args ...any)

	receipts []string // the main load's deliveries
	sizes    []int    // records of each
	t0       time.Time

	workMsgs, workBytes atomic.Int64
}

// run performs the whole benchmark. It returns the result even when the
// correctness check fails (Correctness.Passed is false then); an error
// means the run could not be measured.
func run(ctx context.Context, o options, flags map[string]string) (*Result, error) {
	if o.stderr == nil {
		o.stderr = os.Stderr
	}
	b := &bench{o: o, g: gen{seed: o.Seed, invalid: o.Invalid, late: o.Late}, runID: randomHex(4)}
	b.logf = func(format string, args ...any) {
		if !o.Quiet {
			fmt.Fprintf(o.stderr, "importbench: "+format+"\n", args...)
		}
	}
	r := &Result{StartedAt: time.Now().UTC(), Flags: flags, Machine: machine()}
	tmp, err := os.MkdirTemp("", "importbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// PostgreSQL.
	dbURL, pool, drop, err := freshDB(ctx, o.DB, "")
	if err != nil {
		return nil, err
	}
	b.dbURL, b.pool = dbURL, pool
	if o.Keep {
		defer pool.Close()
		defer b.logf("kept database %s", redact(dbURL))
	} else {
		defer drop()
	}

	// NATS.
	natsURL := o.NATS
	if natsURL == "" {
		var prof string
		if o.PProf != "" {
			if err := os.MkdirAll(o.PProf, 0o755); err != nil {
				return nil, err
			}
			prof = filepath.Join(o.PProf, "nats.pprof")
		}
		ns, err := startNATSChild(filepath.Join(tmp, "nats"), prof)
		if err != nil {
			return nil, err
		}
		defer ns.stop()
		b.nats, natsURL = ns, ns.url
		r.Memory.NATSMeasuredHow = "embedded in a process of its own (importbench started again): its VmHWM at the end of the load, before the limit runs"
	} else {
		r.Memory.NATSMeasuredHow = "external server: not measured"
	}
	if b.nc, err = nats.Connect(natsURL, nats.Name("importbench")); err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer b.nc.Close()
	if b.js, err = jetstream.New(b.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return nil, err
	}
	if err := bus.Provision(ctx, b.js, bus.Config{}); err != nil {
		return nil, err
	}

	// The importd processes.
	bin := o.Importd
	if bin == "" {
		b.logf("building importd")
		if bin, err = buildImportd(ctx, tmp); err != nil {
			return nil, err
		}
	}
	b.token = "importbench-" + randomHex(16)
	tokens := filepath.Join(tmp, "tokens")
	if err := os.WriteFile(tokens, []byte(b.token+" *\n"), 0o600); err != nil {
		return nil, err
	}
	env := []string{"DATABASE_URL=" + dbURL, "NATS_URL=" + natsURL, "IMPORTD_TOKENS_FILE=" + tokens, "IMPORTD_LOG_LEVEL=warn"}
	defer b.stopAll()
	if b.query, err = startImportd(bin, "query", 0, env, tmp, o.PProf != ""); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, b.query)
	for _, role := range []string{"ingest", "resolve", "import"} {
		for i := 0; i < o.Instances; i++ {
			p, err := startImportd(bin, role, i, env, tmp, o.PProf != "")
			if err != nil {
				return nil, err
			}
			b.procs = append(b.procs, p)
		}
	}
	b.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	if err := b.waitReady(ctx); err != nil {
		return nil, err
	}

	// Catalog prerequisites of both merchants.
	b.logf("publishing the catalog prerequisites")
	for _, m := range []string{merchantMain, merchantSmall} {
		var rs []string
		for i, p := range prerequisites() {
			rec := fmt.Sprintf("pre-%s-%s-%d", m, b.runID, i)
			if _, err := bus.PublishDelivery(ctx, b.js, bus.Delivery{Merchant: m, Receipt: rec, Data: p.data, SkipErrors: true}, strings.NewReader(p.body)); err != nil {
				return nil, err
			}
			rs = append(rs, rec)
			// Categories reference nothing but each other; types and taxes nothing.
		}
		if err := b.waitComplete(ctx, rs, true, 5*time.Minute); err != nil {
			return nil, fmt.Errorf("catalog prerequisites: %w", err)
		}
	}

	// The work traffic, seen by a plain subscriber.
	sub, err := b.nc.Subscribe("import.work.>", func(m *nats.Msg) {
		b.workMsgs.Add(1)
		b.workBytes.Add(int64(len(m.Data)))
	})
	if err != nil {
		return nil, err
	}
	if err := b.nc.Flush(); err != nil {
		return nil, err
	}

	// The load.
	if err := b.load(ctx, r); err != nil {
		return r, err
	}
	_ = sub.Unsubscribe()
	r.Work = Work{Messages: b.workMsgs.Load(), Bytes: b.workBytes.Load()}
	if r.Work.Messages > 0 {
		r.Work.AvgBytes = round(float64(r.Work.Bytes)/float64(r.Work.Messages), 1)
	}

	r.Memory.BenchProcessVmHWM = procStatus(os.Getpid())["VmHWM"]
	if b.nats != nil {
		r.Memory.NATS = procStatus(b.nats.pid())["VmHWM"]
	}

	// Memory of the roles, then stop them: the limit runs on a quiet machine.
	r.Memory.Roles = map[string]int64{}
	r.Memory.RoleMeasuredHow = "VmHWM of /proc/<pid>/status of each importd process, read at the end of the load"
	for _, p := range b.procs {
		p.peak = procStatus(p.cmd.Process.Pid)["VmHWM"]
		r.Memory.Roles[p.name] = p.peak
		if p.peak > r.Memory.MaxRoleBytes {
			r.Memory.MaxRoleBytes, r.Memory.MaxRoleName = p.peak, p.name
		}
	}
	b.stopAll()

	// Stages and correctness, from the database.
	if o.tamper != nil {
		if err := o.tamper(ctx, pool); err != nil {
			return r, err
		}
	}
	if err := b.stages(ctx, r); err != nil {
		return r, err
	}
	if err := b.check(ctx, r); err != nil {
		return r, err
	}

	// The limit.
	b.logf("measuring the COPY limit")
	if err := b.copyLimit(ctx, r); err != nil {
		return r, fmt.Errorf("COPY limit: %w", err)
	}
	b.logf("measuring the JetStream limit")
	if err := b.jetStreamLimit(ctx, r); err != nil {
		return r, fmt.Errorf("JetStream limit: %w", err)
	}

	r.Versions = Versions{Go: goVersion(), NATSServer: b.nc.ConnectedServerVersion(), GitCommit: gitCommit()}
	_ = pool.QueryRow(ctx, "SHOW server_version").Scan(&r.Versions.PostgreSQL)
	return r, nil
}

func (b *bench) stopAll() {
	var wg sync.WaitGroup
	for _, p := range b.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// alive reports an error when an importd process has stopped.
func (b *bench) alive() error {
	for _, p := range b.procs {
		if err := p.exited(); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := b.alive(); err != nil {
			return err
		}
		resp, err := b.client.Get("http://" + b.query.addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the query service on %s is not ready after 60s: %v", b.query.addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// progress is the state of a set of deliveries.
type progress struct {
	deliveries, ingested, completed int
	total, successful, failed       int64
	unresolved, otherPending        int64
	lastCompleted                   time.Time
}

func (b *bench) progress(ctx context.Context, receipts []string) (progress, error) {
	var p progress
	var last *time.Time
	err := b.pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE d.ingest_state <> 'receiving'), count(d.completed_at), max(d.completed_at),
			coalesce(sum(c.total), 0), coalesce(sum(c.successful), 0), coalesce(sum(c.failed), 0),
			coalesce(sum(c.unresolved), 0), coalesce(sum(c.other), 0)
		FROM deliveries d
		LEFT JOIN LATERAL (
			SELECT sum(total) AS total, sum(imported + partially) AS successful,
				sum(validation_failed + rejected + canceled) AS failed, sum(unresolved) AS unresolved,
				sum(queued + processing + waiting) AS other
			FROM delivery_counts c WHERE c.receipt_id = d.receipt_id AND c.delivery_at = d.accepted_at
		) c ON true
		WHERE d.receipt_id = ANY($1)`, receipts).
		Scan(&p.deliveries, &p.ingested, &p.completed, &last, &p.total, &p.successful, &p.failed, &p.unresolved, &p.otherPending)
	if last != nil {
		p.lastCompleted = *last
	}
	return p, err
}

// waitComplete waits until every delivery of receipts is complete (and,
// with ok, CompletedSuccessfully).
func (b *bench) waitComplete(ctx context.Context, receipts []string, ok bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := b.alive(); err != nil {
			return err
		}
		p, err := b.progress(ctx, receipts)
		if err != nil {
			return err
		}
		if p.completed == len(receipts) {
			if ok && p.failed > 0 {
				return fmt.Errorf("%d records of %v failed", p.failed, receipts)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d deliveries complete after %s (%+v)", errTimeout, p.completed, len(receipts), timeout, p)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// load publishes the main deliveries, samples the query service, publishes
// small deliveries and the late category, and waits for the end.
func (b *bench) load(ctx context.Context, r *Result) error {
	o := b.o
	for d := 0; d < o.Deliveries; d++ {
		from, to := d*o.Records/o.Deliveries, (d+1)*o.Records/o.Deliveries
		b.receipts = append(b.receipts, fmt.Sprintf("bench-%s-d%d", b.runID, d))
		b.sizes = append(b.sizes, to-from)
	}
	r.Load.Records, r.Load.Deliveries = o.Records, o.Deliveries

	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	var samplers sync.WaitGroup
	lat := &latencySampler{b: b}
	mem := &pgMemSampler{b: b, every: time.Second}
	fair := &fairness{b: b}
	var prio *cpuPriority
	if o.CPUPriority > 0 {
		var err error
		if prio, err = startCPUPriority(b, o.CPUPriority); err != nil {
			return err
		}
		defer prio.stop()
		samplers.Add(1)
		go func() { defer samplers.Done(); prio.run(sctx) }()
	}
	samplers.Add(4)
	go func() { defer samplers.Done(); lat.status(sctx) }()
	go func() { defer samplers.Done(); lat.summary(sctx) }()
	go func() { defer samplers.Done(); mem.run(sctx) }()
	go func() { defer samplers.Done(); fair.run(sctx) }()

	b.logf("publishing %d products as %d deliveries", o.Records, o.Deliveries)
	cpu0 := map[*proc]float64{}
	for _, p := range b.procs {
		cpu0[p] = cpuSeconds(p.cmd.Process.Pid)
	}
	bench0 := cpuSeconds(os.Getpid())
	var nats0 float64
	if b.nats != nil {
		nats0 = cpuSeconds(b.nats.pid())
	}
	status0, summary0, err := b.serverHistograms(ctx)
	if err != nil {
		return err
	}
	wal0, err := walNow(ctx, b.pool)
	if err != nil {
		return err
	}
	stopProfiles, err := b.startProfiles(sctx)
	if err != nil {
		return err
	}
	defer stopProfiles()
	b.t0 = time.Now()
	var bodyBytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for d, rec := range b.receipts {
		g.Go(func() error {
			from := d * o.Records / o.Deliveries
			pub, err := bus.PublishDelivery(gctx, b.js, bus.Delivery{
				Merchant: merchantMain, Receipt: rec, Data: "Product", SkipErrors: true,
				Description: "importbench main load",
			}, b.g.mainLoad(from, from+b.sizes[d]))
			bodyBytes.Add(pub.Size)
			return err
		})
	}
	pubErr := make(chan error, 1)
	go func() {
		err := g.Wait()
		if err == nil {
			r.Load.PublishSeconds = round(time.Since(b.t0).Seconds(), 3)
		}
		pubErr <- err
	}()

	var lateCount int64
	for i := 0; i < o.Records; i++ {
		if b.g.kindOf(i) == kindLate {
			lateCount++
		}
	}
	published, released := false, false
	lastLog := time.Now()
	for {
		if err := b.alive(); err != nil {
			return err
		}
		if !published {
			select {
			case err := <-pubErr:
				if err != nil {
					return fmt.Errorf("publish: %w", err)
				}
				published = true
				b.logf("published in %.1f s", r.Load.PublishSeconds)
			default:
			}
		}
		p, err := b.progress(ctx, b.receipts)
		if err != nil {
			return err
		}
		// Release the late records once nothing but them is pending.
		if published && !released && p.ingested == len(b.receipts) && p.total == int64(o.Records) &&
			p.otherPending == 0 && p.unresolved == lateCount {
			rec := fmt.Sprintf("late-%s", b.runID)
			if _, err := bus.PublishDelivery(ctx, b.js, bus.Delivery{Merchant: merchantMain, Receipt: rec, Data: "Category", SkipErrors: true},
				strings.NewReader(lateCategoryBody)); err != nil {
				return err
			}
			released = true
			r.Load.LateReleaseSec = round(time.Since(b.t0).Seconds(), 3)
			b.logf("%.1f s: %d late records parked; late category published", r.Load.LateReleaseSec, lateCount)
		}
		if p.completed == len(b.receipts) {
			if !released {
				return fmt.Errorf("the main load completed before the late category was published (%+v)", p)
			}
			e2e := p.lastCompleted.Sub(b.t0).Seconds()
			r.EndToEnd = EndToEnd{Seconds: round(e2e, 3), RecordsPerSec: round(float64(o.Records)/e2e, 1)}
			b.logf("%.1f s: the main load is complete: %.0f records/s", e2e, r.EndToEnd.RecordsPerSec)
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			b.logf("%.0f s: %d stored, %d successful, %d failed, %d parked, %d in progress; %d small deliveries",
				time.Since(b.t0).Seconds(), p.total, p.successful, p.failed, p.unresolved, p.otherPending, fair.published())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%+v)", ctx.Err(), p)
		case <-time.After(100 * time.Millisecond):
		}
	}
	stopSampling()
	samplers.Wait()
	stopProfiles()
	if prio != nil {
		prio.stop()
	}
	r.CPU.LoadSeconds = round(time.Since(b.t0).Seconds(), 3)
	r.CPU.Roles = map[string]float64{}
	for _, p := range b.procs {
		r.CPU.Roles[p.name] = round(cpuSeconds(p.cmd.Process.Pid)-cpu0[p], 2)
	}
	r.CPU.Bench = round(cpuSeconds(os.Getpid())-bench0, 2)
	if b.nats != nil {
		r.CPU.NATS = round(cpuSeconds(b.nats.pid())-nats0, 2)
	}
	if r.WAL, err = walSince(ctx, b.pool, wal0, o.Records); err != nil {
		return err
	}

	r.Load.BodyBytes = bodyBytes.Load()
	r.Load.AvgRecordBytes = round(float64(r.Load.BodyBytes)/float64(o.Records), 1)
	r.Latency = Latency{
		Status:             percentiles(lat.statusD, lat.statusErr),
		SummaryFailedTTFB:  percentiles(lat.ttfbD, lat.summaryErr),
		SummaryFailedTotal: percentiles(lat.totalD, lat.summaryErr),
	}
	status1, summary1, err := b.serverHistograms(ctx)
	if err != nil {
		return err
	}
	r.Latency.StatusServer = status1.since(status0).report()
	r.Latency.SummaryFailedServer = summary1.since(summary0).report()
	if prio != nil {
		r.Latency.CPUPriority = &CPUPriority{Cgroup: prio.dir, Shares: prio.shares, Processes: prio.moved}
	}
	mem.report(r) // r.CPU.PostgreSQL
	r.CPUPerRecord = cpuPerRecord(r.CPU, o.Records)

	// The small deliveries published during the load must complete too.
	if err := fair.finish(ctx, r); err != nil {
		return err
	}
	return nil
}

// summaryURL is the failed-records summary of a delivery.
func (b *bench) endpoint(receipt, tail string) string {
	return "http://" + b.query.addr + "/import/" + url.PathEscape(receipt) + tail
}

var errNotOK = errors.New("not 200")
