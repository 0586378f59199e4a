package faults

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/importd/importd/internal/bus"
)

var (
	flagRecords = flag.Int("faults.records", 10_000, "records of the main product delivery of each fault test")
	flagKills   = flag.Int("faults.kills", 2, "faults of each kind per test (kills per role, restarts of a server, …)")
	flagSeed    = flag.Int64("faults.seed", 0, "seed of the fault schedules; 0 picks one from the clock (logged, to replay a run)")
)

// importdBin is the importd binary built once for every test.
var importdBin string

// Environment of a NATS server child process (see natsChild).
const (
	envNATSChild   = "FAULTS_NATS_CHILD"   // set: this process is a NATS server
	envNATSListen  = "FAULTS_NATS_LISTEN"  // client host:port
	envNATSStore   = "FAULTS_NATS_STORE"   // JetStream store directory
	envNATSName    = "FAULTS_NATS_NAME"    // server name (cluster nodes)
	envNATSCluster = "FAULTS_NATS_CLUSTER" // cluster host:port; unset for a single server
	envNATSRoutes  = "FAULTS_NATS_ROUTES"  // comma-separated nats-route:// URLs of the cluster
)

func TestMain(m *testing.M) {
	if os.Getenv(envNATSChild) != "" {
		os.Exit(natsChild())
	}
	flag.Parse()
	dir, err := os.MkdirTemp("", "faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	importdBin = filepath.Join(dir, "importd")
	if out, err := exec.Command("go", "build", "-o", importdBin, "github.com/importd/importd/cmd/importd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: building importd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	printSummary()
	os.Exit(code)
}

// natsChild runs a NATS server with JetStream until SIGTERM (or SIGKILL):
// a single server through bus.StartEmbedded, or a cluster node when
// FAULTS_NATS_CLUSTER is set.
func natsChild() int {
	listen, store := os.Getenv(envNATSListen), os.Getenv(envNATSStore)
	var ns *server.Server
	var err error
	if cluster := os.Getenv(envNATSCluster); cluster == "" {
		ns, err = bus.StartEmbedded(bus.EmbeddedConfig{Listen: listen, StoreDir: store})
	} else {
		ns, err = startClusterNode(os.Getenv(envNATSName), listen, store, cluster, os.Getenv(envNATSRoutes))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults nats child:", err)
		return 1
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

// startClusterNode starts one node of a JetStream cluster on loopback: the
// server name, the cluster listener and the routes to every node (its own
// is ignored), as in nats-server's own cluster test helpers.
func startClusterNode(name, listen, store, cluster, routes string) (*server.Server, error) {
	host, port, err := splitHostPort(listen)
	if err != nil {
		return nil, err
	}
	chost, cport, err := splitHostPort(cluster)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
		Cluster:    server.ClusterOpts{Name: "faults", Host: chost, Port: cport},
		Routes:     server.RoutesFromStr(routes),
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	ns.ConfigureLogger()
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("node %s on %s did not start within 30s", name, listen)
	}
	return ns, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return host, port, nil
}

// freePort returns a TCP port free on loopback at the moment.
func freePort(t testing.TB) int {
	t.Helper()
	// Below the kernel's ephemeral range (32768–60999 on Linux): a port
	// the kernel handed out and took back (":0") is soon the local port of
	// some outgoing connection, and the child process that was to listen
	// on it found it taken (seen once: "bind: address already in use").
	for range 100 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000..31999")
	return 0
}

// result is what one fault test reports for the summary.
type result struct {
	test       string
	faults     string // what was injected, e.g. "6 kills"
	injected   int
	deliveries int64
	operations int64
	events     int64
	violations int64
	took       time.Duration
	failed     bool
}

var (
	resultsMu sync.Mutex
	results   []result
)

func record(r result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}

// printSummary prints one line per fault test and a total, on stdout and,
// when FAULTS_SUMMARY names a file, appended to it (CI prints that file:
// go test shows a passing package's output only with -v).
func printSummary() {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	var b strings.Builder
	var injected int
	var ops, violations int64
	var took time.Duration
	for _, r := range results {
		status := "ok"
		if r.failed {
			status = "FAIL"
		}
		fmt.Fprintf(&b, "faults: %-4s %-28s %-44s audited %d operations in %d deliveries (%d events), %d violations, %s\n",
			status, r.test, r.faults, r.operations, r.deliveries, r.events, r.violations, r.took.Round(time.Second))
		injected += r.injected
		ops += r.operations
		violations += r.violations
		took += r.took
	}
	fmt.Fprintf(&b, "faults: summary: %d tests, %d faults injected, %d operations audited, %d violations, %s (records per test: %d)\n",
		len(results), injected, ops, violations, took.Round(time.Second), *flagRecords)
	fmt.Print(b.String())
	if path := os.Getenv("FAULTS_SUMMARY"); path != "" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.WriteString(b.String())
			f.Close()
		}
	}
}

// readLine waits for a line on r, for at most d.
func readLine(sc *bufio.Scanner, d time.Duration) (string, bool) {
	got := make(chan string, 1)
	go func() {
		if sc.Scan() {
			got <- sc.Text()
		}
		close(got)
	}()
	select {
	case line, ok := <-got:
		return line, ok
	case <-time.After(d):
		return "", false
	}
}
