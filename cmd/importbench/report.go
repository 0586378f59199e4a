package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is every figure of a run; it is what -json writes.
type Result struct {
	StartedAt    time.Time         `json:"startedAt"`
	Flags        map[string]string `json:"flags"`
	Machine      Machine           `json:"machine"`
	Versions     Versions          `json:"versions"`
	Load         Load              `json:"load"`
	EndToEnd     EndToEnd          `json:"endToEnd"`
	Stages       []Stage           `json:"stages"`
	Latency      Latency           `json:"latency"`
	Fairness     Fairness          `json:"fairness"`
	Memory       Memory            `json:"memory"`
	CPU          CPU               `json:"cpuSeconds"`
	CPUPerRecord CPUPerRecord      `json:"cpuMicrosPerRecord"`
	CPURatio     float64           `json:"cpuRatioToLimit"` // CPUPerRecord.Total / Limit.Copy.CPUPerRecord.Total
	WAL          WAL               `json:"wal"`
	DBActivity   DBActivity        `json:"dbActivity"`
	Work         Work              `json:"workMessages"`
	Limit        Limit             `json:"limit"`
	Correctness  Correctness       `json:"correctness"`
}

// Machine is where the run took place.
type Machine struct {
	Cores         int    `json:"cores"`
	MemTotalBytes int64  `json:"memTotalBytes"`
	CPUModel      string `json:"cpuModel"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
}

// Versions of what ran.
type Versions struct {
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql"`
	NATSServer string `json:"natsServer"`
	GitCommit  string `json:"gitCommit"`
}

// Load describes the generated deliveries.
type Load struct {
	Records        int     `json:"records"`
	Deliveries     int     `json:"deliveries"`
	Valid          int     `json:"valid"`
	Invalid        int     `json:"invalid"`
	Late           int     `json:"late"`
	Variants       int     `json:"variants"`
	BodyBytes      int64   `json:"bodyBytes"`
	AvgRecordBytes float64 `json:"avgRecordBytes"`
	PublishSeconds float64 `json:"publishSeconds"` // first publish until every main delivery was published
	LateReleaseSec float64 `json:"lateReleaseSeconds"`
}

// EndToEnd is the headline figure.
type EndToEnd struct {
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
}

// Stage is one stage of the pipeline, from its first to its last event;
// offsets are seconds since the first publish.
type Stage struct {
	Name       string  `json:"name"`
	StartSec   float64 `json:"startSec"`
	EndSec     float64 `json:"endSec"`
	Seconds    float64 `json:"seconds"`
	Count      int64   `json:"count"`
	PerSec     float64 `json:"perSec"`
	MeasuredBy string  `json:"measuredBy"`
}

// Percentiles of a sample of durations, in milliseconds.
type Percentiles struct {
	Samples int `json:"samples"`
	Errors  int `json:"errors"` // answers other than 200, and failed requests
	// ErrorsBy counts Errors by status code ("404"), "error" for a
	// request that got no answer or whose body broke off.
	ErrorsBy map[string]int `json:"errorsBy,omitempty"`
	P50      float64        `json:"p50Ms"`
	P99      float64        `json:"p99Ms"`
	Max      float64        `json:"maxMs"`
}

// Latency of the query service during the load.
type Latency struct {
	Status             Percentiles `json:"status"`
	SummaryFailedTTFB  Percentiles `json:"summaryFailedTTFB"`
	SummaryFailedTotal Percentiles `json:"summaryFailedTotal"`
	// The same requests as the query service timed them (its histogram
	// importd_http_request_duration_seconds); for /summary to the end of
	// the body.
	StatusServer        ServerSide `json:"statusServer"`
	SummaryFailedServer ServerSide `json:"summaryFailedServer"`
	// With -query-cpu-priority: the cgroup the query service, its
	// PostgreSQL backends and importbench ran in.
	CPUPriority *CPUPriority `json:"cpuPriority,omitempty"`
}

// CPUPriority is the cgroup of -query-cpu-priority.
type CPUPriority struct {
	Cgroup    string `json:"cgroup"`
	Shares    int    `json:"cpuShares"` // the default is 1024
	Processes int    `json:"processes"` // moved into it over the load
}

// Fairness is the completion time of the small deliveries published during
// the load, in seconds.
type Fairness struct {
	Deliveries int       `json:"deliveries"`
	Records    int       `json:"recordsEach"`
	P50        float64   `json:"p50Sec"`
	P99        float64   `json:"p99Sec"`
	Max        float64   `json:"maxSec"`
	Samples    []float64 `json:"samplesSec"`
	// Where the time goes: publication to every record stored
	// (deliveries.ingested_at) and to the last record resolved (2104).
	IngestedP50 float64 `json:"ingestedP50Sec"`
	IngestedP99 float64 `json:"ingestedP99Sec"`
	ResolvedP50 float64 `json:"resolvedP50Sec"`
	ResolvedP99 float64 `json:"resolvedP99Sec"`
}

// Memory is the peak resident memory of every process, in bytes.
type Memory struct {
	Roles                map[string]int64 `json:"roles"` // VmHWM of each importd process
	PostgresSumHWM       int64            `json:"postgresSumVmHWM"`
	PostgresPeakSumRSS   int64            `json:"postgresPeakSumVmRSS"`
	PostgresPeakPrivate  int64            `json:"postgresPeakPrivate"`
	PostgresProcesses    int              `json:"postgresProcesses"`
	PostgresMeasuredHow  string           `json:"postgresMeasuredHow"`
	NATS                 int64            `json:"nats"`
	NATSMeasuredHow      string           `json:"natsMeasuredHow"`
	BenchProcessVmHWM    int64            `json:"benchProcessVmHWM"`
	MaxRoleBytes         int64            `json:"maxRoleBytes"`
	MaxRoleName          string           `json:"maxRoleName"`
	RoleMeasuredHow      string           `json:"roleMeasuredHow"`
	PostgresSampleEveryS float64          `json:"postgresSampleEverySec"`
}

// CPU is the CPU time (user + system, seconds) each process used during the
// load, from the first publish to the end.
type CPU struct {
	LoadSeconds float64            `json:"loadWallSeconds"`
	Roles       map[string]float64 `json:"roles"`
	PostgreSQL  float64            `json:"postgresql"` // the processes of Memory.PostgresMeasuredHow
	Bench       float64            `json:"bench"`      // importbench: the generator and the samplers
	NATS        float64            `json:"nats"`       // the NATS server process; 0 with -nats
}

func (c CPU) total() float64 {
	t := c.PostgreSQL + c.Bench + c.NATS
	for _, s := range c.Roles {
		t += s
	}
	return t
}

// CPUPerRecord is the CPU time of each process during the load in µs per
// record of the load (CPU seconds × 10⁶ / Load.Records), and their total.
type CPUPerRecord struct {
	Total      float64            `json:"total"`
	Roles      map[string]float64 `json:"roles"`
	PostgreSQL float64            `json:"postgresql"`
	Bench      float64            `json:"bench"`
	NATS       float64            `json:"nats"`
}

// microsPerRecord is seconds in µs per record of n records.
func microsPerRecord(seconds float64, n int) float64 {
	if n <= 0 {
		return 0
	}
	return round(seconds*1e6/float64(n), 1)
}

func cpuPerRecord(c CPU, records int) CPUPerRecord {
	p := CPUPerRecord{
		Total:      microsPerRecord(c.total(), records),
		Roles:      map[string]float64{},
		PostgreSQL: microsPerRecord(c.PostgreSQL, records),
		Bench:      microsPerRecord(c.Bench, records),
		NATS:       microsPerRecord(c.NATS, records),
	}
	for name, s := range c.Roles {
		p.Roles[name] = microsPerRecord(s, records)
	}
	return p
}

// DBActivity is what the active backends of the benchmark's database were
// doing, sampled every 250 ms during the load: the most frequent wait event
// and statement pairs, and how many backends were in each on average.
type DBActivity struct {
	Samples int        `json:"samples"`
	Top     []Activity `json:"top"`
}

// Activity is one wait event and statement pair.
type Activity struct {
	What         string  `json:"what"`
	Samples      int     `json:"samples"`
	MeanBackends float64 `json:"meanBackends"`
}

// Work is the pipeline's traffic on IMPORT_WORK during the load.
type Work struct {
	Messages int64   `json:"messages"`
	Bytes    int64   `json:"bytes"`
	AvgBytes float64 `json:"avgBytes"`
}

// Limit is what the machine does without the pipeline.
type Limit struct {
	Copy      CopyLimit `json:"copy"`
	JetStream JSLimit   `json:"jetstream"`
}

// CopyLimit is COPY of the pipeline's final rows into fresh tables.
type CopyLimit struct {
	Rows          map[string]int64 `json:"rows"`
	Bytes         int64            `json:"bytes"`
	Seconds       float64          `json:"seconds"`
	RecordsPerSec float64          `json:"recordsPerSec"`
	Fraction      float64          `json:"pipelineFraction"`
	// The CPU the COPY took, measured as the load's: in seconds, and in µs
	// per record of the load.
	CPU          LimitCPU `json:"cpuSeconds"`
	CPUPerRecord LimitCPU `json:"cpuMicrosPerRecord"`
	WAL          WAL      `json:"wal"`
}

// WAL is how many bytes PostgreSQL wrote to its write-ahead log over a
// span (the load, or the COPY limit), from the log's position before and
// after, and per record of the load. Every row version and index entry
// written goes through the log, so the bytes follow the work the writes
// cost; unlike CPU seconds they hardly depend on the machine's speed, which
// makes them the steadier measure of a change to what the pipeline writes.
// The position is the whole server's: other databases' writes over the
// span count too.
type WAL struct {
	Bytes          int64   `json:"bytes"`
	BytesPerRecord float64 `json:"bytesPerRecord"`
}

// LimitCPU is the CPU time of the COPY limit: PostgreSQL's (the processes
// of Memory.PostgresMeasuredHow, with the limit database's backends) and
// its client's (importbench).
type LimitCPU struct {
	Total      float64 `json:"total"`
	PostgreSQL float64 `json:"postgresql"`
	Client     float64 `json:"client"`
}

// JSLimit is async publish plus pull consume of the pipeline's work traffic.
type JSLimit struct {
	Messages       int64   `json:"messages"`
	MessageBytes   int     `json:"messageBytes"`
	PublishSeconds float64 `json:"publishSeconds"`
	ConsumeSeconds float64 `json:"consumeSeconds"`
	Seconds        float64 `json:"seconds"`
	MessagesPerSec float64 `json:"messagesPerSec"`
	RecordsPerSec  float64 `json:"recordsPerSec"`
	Fraction       float64 `json:"pipelineFraction"`
}

// Correctness lists every check; Passed is false when any failed.
type Correctness struct {
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`
}

// Check is one correctness check.
type Check struct {
	Name string `json:"name"`
	Want int64  `json:"want"`
	Got  int64  `json:"got"`
	OK   bool   `json:"ok"`
}

func (c *Correctness) expect(name string, want, got int64) {
	c.Checks = append(c.Checks, Check{Name: name, Want: want, Got: got, OK: want == got})
}

func (c *Correctness) finish() {
	c.Passed = len(c.Checks) > 0
	for _, ch := range c.Checks {
		if !ch.OK {
			c.Passed = false
		}
	}
}

func percentiles(d []time.Duration, errs map[string]int) Percentiles {
	p := Percentiles{Samples: len(d), ErrorsBy: errs}
	for _, n := range errs {
		p.Errors += n
	}
	if len(d) == 0 {
		return p
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	p.P50, p.P99, p.Max = at(0.50), at(0.99), ms(s[len(s)-1])
	return p
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	s = slices.Clone(s)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				m.MemTotalBytes = kb << 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// gitCommit is the commit of the working tree, "-dirty" when it has changes.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
}

func goVersion() string {
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.Version()
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// printTable writes the human summary of r.
func printTable(w io.Writer, r *Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(a, b, c string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", a, b, c) }
	fmt.Fprintf(tw, "importbench  %s  %d cores, %s, %s\n", r.StartedAt.Format(time.RFC3339), r.Machine.Cores, mib(r.Machine.MemTotalBytes), r.Machine.CPUModel)
	fmt.Fprintf(tw, "versions     %s, PostgreSQL %s, nats-server %s, commit %.12s\n", r.Versions.Go, r.Versions.PostgreSQL, r.Versions.NATSServer, r.Versions.GitCommit)
	fmt.Fprintf(tw, "load         %d products in %d deliveries (%d valid, %d invalid, %d late), %d variants, %.0f bytes/record, %s\n",
		r.Load.Records, r.Load.Deliveries, r.Load.Valid, r.Load.Invalid, r.Load.Late, r.Load.Variants, r.Load.AvgRecordBytes, mib(r.Load.BodyBytes))
	fmt.Fprintln(tw)
	row("figure", "value", "target / note")
	row("------", "-----", "-------------")
	row("end to end", fmt.Sprintf("%.1f s, %.0f records/s", r.EndToEnd.Seconds, r.EndToEnd.RecordsPerSec), "1M in <= 120 s (>= 8,300 records/s)")
	row("  publish", fmt.Sprintf("%.1f s", r.Load.PublishSeconds), "first publish to last delivery published")
	for _, s := range r.Stages {
		row("  "+s.Name, fmt.Sprintf("%.1f–%.1f s, %d in %.1f s, %.0f/s", s.StartSec, s.EndSec, s.Count, s.Seconds, s.PerSec), s.MeasuredBy)
	}
	if r.Load.Late > 0 {
		row("  late released", fmt.Sprintf("at %.1f s", r.Load.LateReleaseSec), "late category published when only parked operations were pending")
	}
	row("COPY limit", fmt.Sprintf("%.1f s, %.0f records/s", r.Limit.Copy.Seconds, r.Limit.Copy.RecordsPerSec), copyRows(r.Limit.Copy.Rows))
	row("  pipeline / COPY", fmt.Sprintf("%.1f%%", 100*r.Limit.Copy.Fraction), ">= 40%")
	row("JetStream limit", fmt.Sprintf("%.1f s, %.0f msgs/s, %.0f records/s", r.Limit.JetStream.Seconds, r.Limit.JetStream.MessagesPerSec, r.Limit.JetStream.RecordsPerSec),
		fmt.Sprintf("%d msgs of %d B: async publish %.2f s + pull/ack %.2f s", r.Limit.JetStream.Messages, r.Limit.JetStream.MessageBytes, r.Limit.JetStream.PublishSeconds, r.Limit.JetStream.ConsumeSeconds))
	row("  pipeline / JetStream", fmt.Sprintf("%.1f%%", 100*r.Limit.JetStream.Fraction), "")
	lat := func(name string, p Percentiles, target string) {
		note := fmt.Sprintf("%s (%d samples", target, p.Samples)
		if p.Errors > 0 {
			codes := slices.Sorted(maps.Keys(p.ErrorsBy))
			for i, c := range codes {
				codes[i] = fmt.Sprintf("%d × %s", p.ErrorsBy[c], c)
			}
			note += ", not 200: " + strings.Join(codes, ", ")
		}
		row(name, fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", p.P50, p.P99, p.Max), note+")")
	}
	lat("/status", r.Latency.Status, "p99 <= 20 ms")
	lat("/summary?status=Failed TTFB", r.Latency.SummaryFailedTTFB, "p99 <= 50 ms")
	lat("/summary?status=Failed whole", r.Latency.SummaryFailedTotal, "body read to the end")
	server := func(name string, s ServerSide) {
		p99 := "p99 beyond 100 ms"
		if s.P99AtMostMs > 0 {
			p99 = fmt.Sprintf("p99 <= %g ms", s.P99AtMostMs)
		}
		row(name, fmt.Sprintf("%s, %.1f%% <= 20 ms, %.1f%% <= 50 ms", p99, 100*s.Within["20"], 100*s.Within["50"]),
			fmt.Sprintf("as the query service timed them (%d requests)", s.Requests))
	}
	server("  /status, server side", r.Latency.StatusServer)
	server("  /summary, server side", r.Latency.SummaryFailedServer)
	if c := r.Latency.CPUPriority; c != nil {
		row("  query CPU priority", fmt.Sprintf("cpu.shares %d (default 1024), %d processes", c.Shares, c.Processes),
			"the query service, its PostgreSQL backends and importbench in "+c.Cgroup)
	}
	row("fairness (10 records)", fmt.Sprintf("p50 %.2f s, p99 %.2f s, max %.2f s", r.Fairness.P50, r.Fairness.P99, r.Fairness.Max), fmt.Sprintf("p99 <= 5 s (%d deliveries of merchant small)", r.Fairness.Deliveries))
	row("  stored / resolved", fmt.Sprintf("p50 %.2f / %.2f s, p99 %.2f / %.2f s", r.Fairness.IngestedP50, r.Fairness.ResolvedP50, r.Fairness.IngestedP99, r.Fairness.ResolvedP99),
		"publication to every record stored, to the last one resolved")
	names := make([]string, 0, len(r.Memory.Roles))
	for n := range r.Memory.Roles {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		row("peak RSS "+n, mib(r.Memory.Roles[n]), "<= 300 MiB (VmHWM)")
	}
	row("peak RSS PostgreSQL", fmt.Sprintf("%s private, %s sum of RSS", mib(r.Memory.PostgresPeakPrivate), mib(r.Memory.PostgresPeakSumRSS)), "postmaster, background processes, the benchmark's backends")
	natsNote := "the NATS server process (VmHWM)"
	if r.Memory.NATS == 0 {
		natsNote = r.Memory.NATSMeasuredHow
	}
	row("peak RSS importbench", mib(r.Memory.BenchProcessVmHWM), "generator, publisher, samplers (VmHWM)")
	row("peak RSS NATS", mib(r.Memory.NATS), natsNote)
	cpu := func(s, us float64) string { return fmt.Sprintf("%.1f s, %.1f µs/record", s, us) }
	pr := r.CPUPerRecord
	row("CPU during the load", fmt.Sprintf("%.0f s wall x %d cores", r.CPU.LoadSeconds, r.Machine.Cores), "user+system seconds of each process, and µs per record:")
	row("  PostgreSQL", cpu(r.CPU.PostgreSQL, pr.PostgreSQL), "postmaster, background processes, the benchmark's backends")
	row("  NATS", cpu(r.CPU.NATS, pr.NATS), "the NATS server process")
	row("  importbench", cpu(r.CPU.Bench, pr.Bench), "generator, publisher, samplers")
	for _, n := range names {
		row("  "+n, cpu(r.CPU.Roles[n], pr.Roles[n]), "")
	}
	row("  total", cpu(r.CPU.total(), pr.Total), "every process above")
	lc, lp := r.Limit.Copy.CPU, r.Limit.Copy.CPUPerRecord
	row("CPU of the COPY limit", cpu(lc.Total, lp.Total), "user+system seconds over the COPY, and µs per record:")
	row("  PostgreSQL", cpu(lc.PostgreSQL, lp.PostgreSQL), "the same processes, the limit database's backends")
	row("  importbench", cpu(lc.Client, lp.Client), "the COPY client")
	row("  pipeline / COPY CPU", fmt.Sprintf("%.2f×", r.CPURatio), "total µs/record over the limit's; <= 1.8×")
	wal := func(w WAL) string {
		return fmt.Sprintf("%.0f MiB, %.0f B a record", float64(w.Bytes)/(1<<20), w.BytesPerRecord)
	}
	row("WAL during the load", wal(r.WAL), "written to PostgreSQL's log (the whole server)")
	row("WAL of the COPY limit", wal(r.Limit.Copy.WAL), "the same, over the COPY")
	row("work messages", fmt.Sprintf("%d, %.0f B average", r.Work.Messages, r.Work.AvgBytes), "IMPORT_WORK publishes seen during the load")
	failed := 0
	for _, c := range r.Correctness.Checks {
		if !c.OK {
			failed++
		}
	}
	verdict := "PASSED"
	if !r.Correctness.Passed {
		verdict = "FAILED"
	}
	row("correctness", fmt.Sprintf("%s (%d checks, %d failed)", verdict, len(r.Correctness.Checks), failed), "nothing lost, nothing doubled, every record in its state")
	tw.Flush()
	if len(r.DBActivity.Top) > 0 {
		fmt.Fprintf(w, "\nPostgreSQL backends of the benchmark, by wait event and statement (mean active backends, %d samples):\n", r.DBActivity.Samples)
		for i, a := range r.DBActivity.Top {
			if i == 8 {
				break
			}
			fmt.Fprintf(w, "  %5.2f  %s\n", a.MeanBackends, a.What)
		}
	}
	for _, c := range r.Correctness.Checks {
		if !c.OK {
			fmt.Fprintf(w, "  FAILED %s: want %d, got %d\n", c.Name, c.Want, c.Got)
		}
	}
}

func copyRows(rows map[string]int64) string {
	var parts []string
	for _, t := range []string{"operations", "tracking_events", "catalog_products", "catalog_variants", "catalog_prices"} {
		parts = append(parts, fmt.Sprintf("%s %d", t, rows[t]))
	}
	return strings.Join(parts, ", ")
}

func writeJSON(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
