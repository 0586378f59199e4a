package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/importd/importd/internal/bus"
)

// latencySampler asks the query service, one request at a time per
// endpoint, for the main deliveries in turn while the load runs.
type latencySampler struct {
	b                      *bench
	statusD, ttfbD, totalD []time.Duration
	// The answers other than 200 by status code, "error" for requests
	// that got none.
	statusErr, summaryErr map[string]int
}

func countErr(m *map[string]int, resp *http.Response) {
	if *m == nil {
		*m = map[string]int{}
	}
	if resp == nil {
		(*m)["error"]++
		return
	}
	(*m)[strconv.Itoa(resp.StatusCode)]++
}

func (l *latencySampler) get(ctx context.Context, u string) (*http.Response, time.Duration, time.Time, error) {
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, first, err
	}
	req.Header.Set("Authorization", "Bearer "+l.b.token)
	start := time.Now()
	resp, err := l.b.client.Do(req)
	if err != nil {
		return nil, 0, first, err
	}
	return resp, first.Sub(start), start, nil
}

func (l *latencySampler) pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(l.b.o.Sample):
		return true
	}
}

// status samples GET /import/{receiptId}/status: the whole exchange.
func (l *latencySampler) status(ctx context.Context) {
	for i := 0; ; i++ {
		rec := l.b.receipts[i%len(l.b.receipts)]
		resp, _, start, err := l.get(ctx, l.b.endpoint(rec, "/status"))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			countErr(&l.statusErr, nil)
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				l.statusD = append(l.statusD, time.Since(start))
			} else {
				countErr(&l.statusErr, resp)
			}
		}
		if !l.pause(ctx) {
			return
		}
	}
}

// summary samples GET /import/{receiptId}/summary?status=Failed: the time to
// the first byte of the answer, and to its last.
func (l *latencySampler) summary(ctx context.Context) {
	for i := 0; ; i++ {
		rec := l.b.receipts[i%len(l.b.receipts)]
		resp, ttfb, start, err := l.get(ctx, l.b.endpoint(rec, "/summary?status=Failed"))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			countErr(&l.summaryErr, nil)
		} else {
			_, cerr := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && cerr == nil {
				l.ttfbD = append(l.ttfbD, ttfb)
				l.totalD = append(l.totalD, time.Since(start))
			} else if ctx.Err() == nil {
				if cerr != nil {
					resp = nil
				}
				countErr(&l.summaryErr, resp)
			}
		}
		if !l.pause(ctx) {
			return
		}
	}
}

// pgMemSampler samples the memory of the PostgreSQL processes serving the
// benchmark: the postmaster, the server's background processes, and the
// backends connected to the benchmark's databases (other databases on the
// same server are not counted).
type pgMemSampler struct {
	b     *bench
	every time.Duration

	peakSumRSS, peakPrivate int64
	pids                    map[int]bool
	cpuStart, cpuLast       map[int]float64 // CPU seconds of each postgres process, at the start and lately
	activity                map[string]int  // samples of active backends by wait event and query
	activitySamples         int
}

// backendPIDs returns the pids of the PostgreSQL processes pg_stat_activity
// lists where the condition holds.
func backendPIDs(ctx context.Context, pool *pgxpool.Pool, where string) ([]int, error) {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity `+where)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// postgresPIDs returns the pids of the PostgreSQL processes a measurement
// counts: the postmaster, the background processes and the backends of
// pool's database (other databases on the same server are not counted).
func postgresPIDs(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	pids, err := backendPIDs(ctx, pool, `WHERE datname = current_database() OR backend_type <> 'client backend'`)
	if err != nil {
		return nil, err
	}
	if len(pids) > 0 {
		if pp := ppid(pids[0]); pp > 1 {
			pids = append(pids, pp) // the postmaster
		}
	}
	return pids, nil
}

func (m *pgMemSampler) sample(ctx context.Context) {
	pids, err := postgresPIDs(ctx, m.b.pool)
	if err != nil {
		return
	}
	var sumRSS, anon, shmem, file int64
	for _, pid := range pids {
		m.cpuLast[pid] = cpuSeconds(pid)
		st := procStatus(pid)
		if len(st) == 0 {
			continue
		}
		m.pids[pid] = true
		sumRSS += st["VmRSS"]
		anon += st["RssAnon"]
		shmem = max(shmem, st["RssShmem"])
		file = max(file, st["RssFile"])
	}
	m.peakSumRSS = max(m.peakSumRSS, sumRSS)
	m.peakPrivate = max(m.peakPrivate, anon+shmem+file)
}

func (m *pgMemSampler) run(ctx context.Context) {
	m.pids, m.cpuLast, m.activity = map[int]bool{}, map[int]float64{}, map[string]int{}
	m.sample(ctx)
	m.cpuStart = maps.Clone(m.cpuLast)
	next := time.Now().Add(m.every)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		m.activityOnce(ctx)
		if time.Now().After(next) {
			m.sample(ctx)
			next = time.Now().Add(m.every)
		}
	}
}

// activityOnce counts what the benchmark database's active backends are
// doing: the wait event (CPU when none) and the start of the statement.
func (m *pgMemSampler) activityOnce(ctx context.Context) {
	rows, err := m.b.pool.Query(ctx, `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'),
			left(regexp_replace(query, '\s+', ' ', 'g'), 90)
		FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var wait, q string
		if rows.Scan(&wait, &q) == nil {
			m.activity[wait+" | "+q]++
		}
	}
	m.activitySamples++
}

// cpu is the CPU time the PostgreSQL processes used since the first sample.
func (m *pgMemSampler) cpu() float64 {
	var s float64
	for pid, c := range m.cpuLast {
		s += c - m.cpuStart[pid]
	}
	return s
}

func (m *pgMemSampler) report(r *Result) {
	var hwm int64
	for pid := range m.pids {
		hwm += procStatus(pid)["VmHWM"]
	}
	r.Memory.PostgresSumHWM = hwm
	r.CPU.PostgreSQL = round(m.cpu(), 2)
	type act struct {
		k string
		n int
	}
	var acts []act
	for k, n := range m.activity {
		acts = append(acts, act{k, n})
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i].n > acts[j].n || acts[i].n == acts[j].n && acts[i].k < acts[j].k })
	for i, a := range acts {
		if i == 15 {
			break
		}
		r.DBActivity.Top = append(r.DBActivity.Top, Activity{What: a.k, Samples: a.n, MeanBackends: round(float64(a.n)/float64(max(1, m.activitySamples)), 3)})
	}
	r.DBActivity.Samples = m.activitySamples
	r.Memory.PostgresPeakSumRSS = m.peakSumRSS
	r.Memory.PostgresPeakPrivate = m.peakPrivate
	r.Memory.PostgresProcesses = len(m.pids)
	r.Memory.PostgresSampleEveryS = m.every.Seconds()
	r.Memory.PostgresMeasuredHow = fmt.Sprintf("sampled every %s over the postmaster, the background processes and the backends of the benchmark's database "+
		"(pg_stat_activity pids): private = peak of sum(RssAnon) + max(RssShmem) + max(RssFile) (shared buffers and the binary counted once); "+
		"sum of RSS counts shared memory once per process", m.every)
}

// fairness publishes a small delivery of another merchant every interval
// during the load and measures each from publication to completion.
type fairness struct {
	b  *bench
	mu sync.Mutex
	// receipt → when its publication started
	started  map[string]time.Time
	receipts []string
	err      error
}

func (f *fairness) published() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.receipts)
}

func (f *fairness) run(ctx context.Context) {
	f.mu.Lock()
	f.started = map[string]time.Time{}
	f.mu.Unlock()
	t := time.NewTicker(f.b.o.FairInterval)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rec := fmt.Sprintf("small-%s-%d", f.b.runID, n)
		start := time.Now()
		// A publication started finishes even when the load ends meanwhile:
		// one cut short may still reach the stream, and then its records
		// would be imported without being expected.
		pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := bus.PublishDelivery(pubCtx, f.b.js, bus.Delivery{Merchant: merchantSmall, Receipt: rec, Data: "Product", SkipErrors: true},
			f.b.g.smallLoad(n, f.b.o.FairRecords))
		cancel()
		f.mu.Lock()
		if err != nil {
			f.err = err
		}
		if err == nil {
			f.started[rec] = start
			f.receipts = append(f.receipts, rec)
		}
		f.mu.Unlock()
	}
}

// finish waits for the small deliveries and reports their completion times.
func (f *fairness) finish(ctx context.Context, r *Result) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return fmt.Errorf("small delivery: %w", f.err)
	}
	r.Fairness.Records = f.b.o.FairRecords
	if len(f.receipts) == 0 {
		return nil
	}
	if err := f.b.waitComplete(ctx, f.receipts, false, 5*time.Minute); err != nil {
		return fmt.Errorf("small deliveries: %w", err)
	}
	// Where the time goes: publication to stored, to resolved, to complete.
	rows, err := f.b.pool.Query(ctx, `SELECT d.receipt_id, d.ingested_at, d.completed_at,
			(SELECT max(ts) FROM tracking_events e WHERE e.receipt_id = d.receipt_id AND e.delivery_at = d.accepted_at AND e.code = 2104)
		FROM deliveries d WHERE d.receipt_id = ANY($1)`, f.receipts)
	if err != nil {
		return err
	}
	defer rows.Close()
	var ingested, resolved []float64
	for rows.Next() {
		var rec string
		var in, done time.Time
		var res *time.Time
		if err := rows.Scan(&rec, &in, &done, &res); err != nil {
			return err
		}
		start := f.started[rec]
		r.Fairness.Samples = append(r.Fairness.Samples, round(done.Sub(start).Seconds(), 3))
		ingested = append(ingested, round(in.Sub(start).Seconds(), 3))
		if res != nil {
			resolved = append(resolved, round(res.Sub(start).Seconds(), 3))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.Fairness.IngestedP50, r.Fairness.IngestedP99 = quantile(ingested, 0.5), quantile(ingested, 0.99)
	r.Fairness.ResolvedP50, r.Fairness.ResolvedP99 = quantile(resolved, 0.5), quantile(resolved, 0.99)
	r.Fairness.Deliveries = len(r.Fairness.Samples)
	r.Fairness.P50 = quantile(r.Fairness.Samples, 0.5)
	r.Fairness.P99 = quantile(r.Fairness.Samples, 0.99)
	r.Fairness.Max = quantile(r.Fairness.Samples, 1)
	return nil
}

// redact hides the password of a connection URL.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndex(u, "@"); j > i {
			cred := u[i+3 : j]
			if k := strings.IndexByte(cred, ':'); k >= 0 {
				return u[:i+3] + cred[:k] + ":xxx" + u[j:]
			}
		}
	}
	return u
}

// serverHist is the query service's own histogram of one route's 200
// answers (importd_http_request_duration_seconds): cumulative counts by
// upper bound in seconds.
type serverHist struct {
	count  uint64
	bounds []float64
	cum    []uint64
}

// serverHistograms reads the query service's request-duration histograms
// of /status and /summary from its /metrics.
func (b *bench) serverHistograms(ctx context.Context) (status, summary serverHist, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.query.addr+"/metrics", nil)
	if err != nil {
		return status, summary, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return status, summary, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return status, summary, fmt.Errorf("query service /metrics: %w", err)
	}
	// The family is absent until the first request of a route.
	for _, m := range fams["importd_http_request_duration_seconds"].GetMetric() {
		var route, code string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "route":
				route = l.GetValue()
			case "code":
				code = l.GetValue()
			}
		}
		if code != strconv.Itoa(http.StatusOK) {
			continue
		}
		var h serverHist
		h.count = m.GetHistogram().GetSampleCount()
		for _, bk := range m.GetHistogram().GetBucket() {
			h.bounds = append(h.bounds, bk.GetUpperBound())
			h.cum = append(h.cum, bk.GetCumulativeCount())
		}
		switch route {
		case "GET /import/{receiptId}/status":
			status = h
		case "GET /import/{receiptId}/summary":
			summary = h
		}
	}
	return status, summary, nil
}

// since is h minus an earlier reading of the same histogram.
func (h serverHist) since(before serverHist) serverHist {
	d := serverHist{count: h.count - before.count, bounds: h.bounds, cum: make([]uint64, len(h.cum))}
	for i := range h.cum {
		d.cum[i] = h.cum[i]
		if i < len(before.cum) {
			d.cum[i] -= before.cum[i]
		}
	}
	return d
}

// ServerSide is what the query service measured itself, from the arrival
// of a request to the end of its answer: no client, no loopback.
type ServerSide struct {
	Requests uint64 `json:"requests"`
	// Within is the share of the requests answered within each bound
	// (milliseconds as keys).
	Within map[string]float64 `json:"withinMs"`
	// P99AtMostMs is the smallest bucket bound within which 99% were
	// answered; 0 when it is beyond the last bucket.
	P99AtMostMs float64 `json:"p99AtMostMs"`
}

func (h serverHist) report() ServerSide {
	s := ServerSide{Requests: h.count, Within: map[string]float64{}}
	if h.count == 0 {
		return s
	}
	for i, ub := range h.bounds {
		share := float64(h.cum[i]) / float64(h.count)
		if ub <= 0.1 {
			s.Within[fmt.Sprintf("%g", ub*1000)] = round(share, 4)
		}
		if s.P99AtMostMs == 0 && share >= 0.99 {
			s.P99AtMostMs = ub * 1000
		}
	}
	return s
}
