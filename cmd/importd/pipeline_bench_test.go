package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

var pipelineRecords = flag.Int("pipeline.records", 1_000_000, "products in BenchmarkPipeline")

// products generates n products (a master variant and one more, two prices,
// two attributes, localized names) on the fly, filling each Read.
type benchProducts struct{ n, i int }

func (p *benchProducts) Read(b []byte) (int, error) {
	n := 0
	for n < len(b)-2048 && p.i < p.n {
		i := p.i
		n += copy(b[n:], fmt.Appendf(nil, `{"key":"p-%d","productType":{"key":"apparel"},"name":{"en":"Shirt %d","de":"Hemd %d","fr":"Chemise %d"},`+
			`"slug":{"en":"shirt-%d"},"description":{"en":"A plain cotton shirt, number %d, in every size."},"categories":[{"key":"men"},{"key":"tops"}],`+
			`"masterVariant":{"sku":"p-%d-m","attributes":[{"name":"size","value":"M"},{"name":"color","value":"blue"}],"prices":[{"value":{"currencyCode":"EUR","centAmount":%d}},{"value":{"currencyCode":"USD","centAmount":%d},"country":"US"}]},`+
			`"variants":[{"sku":"p-%d-l","attributes":[{"name":"size","value":"L"},{"name":"color","value":"blue"}],"prices":[{"value":{"currencyCode":"EUR","centAmount":%d}}]}]}`+"\n",
			i, i, i, i, i, i, i, 1000+i%9000, 1100+i%9000, i, 1200+i%9000))
		p.i++
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// cpuSeconds is the user and system CPU time of a process so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100 // clock ticks: USER_HZ is 100 on Linux
}

// postgresCPU is the CPU time of every process named postgres.
func postgresCPU() float64 {
	dirs, _ := os.ReadDir("/proc")
	total := 0.0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "postgres" {
			total += cpuSeconds(pid)
		}
	}
	return total
}

func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkPipeline runs ingest, resolve and import as separate importd
// processes (NATS embedded in the test process, the local PostgreSQL) and
// measures one delivery of -pipeline.records products from publication to
// every operation in an end state, and the peak resident memory of each role.
//
//	go test ./cmd/importd -run '^$' -bench Pipeline -benchtime 1x -pipeline.records 1000000 -timeout 60m
func BenchmarkPipeline(b *testing.B) {
	n := *pipelineRecords
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bin := buildImportd(b)
		dbURL := testenv.DBURL(b)
		ns := testenv.NATS(b)
		_, js := testenv.JetStream(b, ns)
		ctx := context.Background()
		pool, err := database.Open(ctx, dbURL, "importd test")
		if err != nil {
			b.Fatal(err)
		}
		store, _ := tracking.NewStore(pool, tracking.StoreConfig{})
		env := []string{"DATABASE_URL=" + dbURL, "NATS_URL=" + ns.ClientURL(), "IMPORTD_LOG_LEVEL=warn"}
		roles := map[string]*proc{}
		for _, role := range []string{"ingest", "resolve", "import"} {
			roles[role] = startImportd(b, bin, role, env)
		}
		publish := func(receipt, data, body string, object bool) {
			msg := nats.NewMsg(bus.DeliverySubject("m1"))
			msg.Header.Set(bus.HeaderMsgID, receipt)
			msg.Header.Set(bus.HeaderData, data)
			if object {
				msg.Header.Set(bus.HeaderObject, "m1."+receipt)
			} else {
				msg.Data = []byte(body)
			}
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		done := func(receipt string) (tracking.StatusBody, bool) {
			d, err := store.DeliveryGet(ctx, receipt)
			if err != nil {
				return tracking.StatusBody{}, false
			}
			st, err := store.Status(ctx, &d)
			return st, err == nil && d.CompletedAt != nil
		}
		wait := func(receipt string) tracking.StatusBody {
			deadline := time.Now().Add(50 * time.Minute)
			for {
				if st, ok := done(receipt); ok {
					return st
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s did not complete", receipt)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		publish("setup-types-1", "ProductType", `{"key":"apparel","name":"Apparel","attributes":[{"name":"size","type":"text"},{"name":"color","type":"text"}]}`, false)
		publish("setup-categories-1", "Category", `{"key":"men","name":{"en":"Men"},"slug":{"en":"men"}}`+"\n"+`{"key":"tops","name":{"en":"Tops"},"slug":{"en":"tops"},"parent":{"key":"men"}}`, false)
		wait("setup-types-1")
		wait("setup-categories-1")
		obs, err := js.ObjectStore(ctx, bus.BucketPayloads)
		if err != nil {
			b.Fatal(err)
		}
		receipt := "bench-pipeline-" + strconv.Itoa(i)
		if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: "m1." + receipt}, &benchProducts{n: n}); err != nil {
			b.Fatal(err)
		}
		cpu0 := map[string]float64{"postgres": postgresCPU(), "nats+test": cpuSeconds(os.Getpid())}
		for role, p := range roles {
			cpu0[role] = cpuSeconds(p.cmd.Process.Pid)
		}
		b.StartTimer()
		start := time.Now()
		publish(receipt, "Product", "", true)
		st := wait(receipt)
		elapsed := time.Since(start)
		b.StopTimer()
		if st.Products.Successful != int64(n) {
			b.Fatalf("%+v: want %d successful", st.Products, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
		for role, p := range roles {
			b.ReportMetric(float64(peakRSS(p.cmd.Process.Pid)>>20), role+"-peak-rss-MiB")
			b.ReportMetric(cpuSeconds(p.cmd.Process.Pid)-cpu0[role], role+"-cpu-s")
		}
		b.ReportMetric(postgresCPU()-cpu0["postgres"], "postgres-cpu-s")
		b.ReportMetric(cpuSeconds(os.Getpid())-cpu0["nats+test"], "nats+test-cpu-s")
		for _, p := range roles {
			_ = p.cmd.Process.Kill()
		}
		pool.Close()
		b.StartTimer()
	}
}
